// SPDX-License-Identifier: MIT
/* The timeline's JSON, written from records and parsed back into them (json-c). */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "util/common.h"
#include "profile/timeline_json.h"

static void set_err(char *err, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (!err || !n)
		return;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
}

/* A non-negative integer field. 0 and *present = 0 when absent and not required. */
static int get_u64(struct json_object *o, const char *key, int required, __u64 *out, int *present,
		   const char *where, char *err, size_t n)
{
	struct json_object *v;

	*out = 0;
	if (present)
		*present = 0;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
		if (!required)
			return 0;
		set_err(err, n, "%s: no \"%s\"", where, key);
		return -EBADMSG;
	}
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
		set_err(err, n, "%s: \"%s\" is not a non-negative integer", where, key);
		return -EBADMSG;
	}
	*out = json_object_get_uint64(v);
	if (present)
		*present = 1;
	return 0;
}

static int get_str(struct json_object *o, const char *key, char **out, const char *where, char *err,
		   size_t n)
{
	struct json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string)) {
		set_err(err, n, "%s: \"%s\" is not a string", where, key);
		return -EBADMSG;
	}
	*out = strdup(json_object_get_string(v));
	return *out ? 0 : -ENOMEM;
}

static int parse_record(struct json_object *o, size_t i, struct timeline_record *r, char *err,
			size_t n)
{
	struct json_object *type;
	char where[48];
	const char *t;
	int err2, has_anon;

	snprintf(where, sizeof(where), "records[%zu]", i);
	if (!json_object_is_type(o, json_type_object)) {
		set_err(err, n, "%s is not an object", where);
		return -EBADMSG;
	}
	if (!json_object_object_get_ex(o, "type", &type) ||
	    !json_object_is_type(type, json_type_string)) {
		set_err(err, n, "%s: no \"type\"", where);
		return -EBADMSG;
	}
	t = json_object_get_string(type);
	if (strcmp(t, "gc") && strcmp(t, "interval")) {
		set_err(err, n, "%s: type \"%.32s\" is neither \"gc\" nor \"interval\"", where, t);
		return -EBADMSG;
	}
	*r = (struct timeline_record){.is_gc = !strcmp(t, "gc")};
	err2 = get_u64(o, "time_unix_ns", 1, &r->time_ns, NULL, where, err, n) ?:
	       get_u64(o, "alloc_bytes", 1, &r->alloc_bytes, NULL, where, err, n) ?:
	       get_u64(o, "freed_bytes", 1, &r->freed_bytes, NULL, where, err, n) ?:
	       get_u64(o, "inuse_bytes", 1, &r->inuse_bytes, NULL, where, err, n) ?:
	       get_u64(o, "alloc_objects", 0, &r->alloc_objects, NULL, where, err, n) ?:
	       get_u64(o, "freed_objects", 0, &r->freed_objects, NULL, where, err, n) ?:
	       get_u64(o, "inuse_objects", 0, &r->inuse_objects, NULL, where, err, n) ?:
	       get_u64(o, "cycle", 0, &r->cycle, &r->has_cycle, where, err, n) ?:
	       get_u64(o, "gc_duration_ns", 0, &r->gc_duration_ns, &r->has_gc_duration, where,
		       err, n) ?:
	       get_u64(o, "rss_bytes", 0, &r->rss_bytes, &r->has_rss, where, err, n) ?:
	       get_u64(o, "anon_bytes", 0, &r->anon_bytes, &has_anon, where, err, n);
	return err2;
}

int timeline_doc__parse(struct timeline_doc *doc, const char *text, size_t len, char *err,
			size_t err_len)
{
	struct json_tokener *tok = NULL;
	struct json_object *root = NULL, *recs, *pid;
	enum json_tokener_error jerr;
	size_t cnt;
	int err2 = 0;

	*doc = (struct timeline_doc){};
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, text, (int)min_t(size_t, len, INT32_MAX));
	jerr = json_tokener_get_error(tok);
	if (!root || jerr != json_tokener_success) {
		set_err(err, err_len, "not JSON: %s",
			jerr == json_tokener_continue ? "truncated"
						      : json_tokener_error_desc(jerr));
		err2 = -EBADMSG;
		goto cleanup;
	}
	if (!json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "records", &recs) ||
	    !json_object_is_type(recs, json_type_array)) {
		set_err(err, err_len, "not a timeline: no \"records\" array");
		err2 = -EBADMSG;
		goto cleanup;
	}
	if (!json_object_object_get_ex(root, "pid", &pid) ||
	    !json_object_is_type(pid, json_type_int) || json_object_get_int64(pid) < 0 ||
	    json_object_get_int64(pid) > INT32_MAX) {
		set_err(err, err_len, "not a timeline: no \"pid\"");
		err2 = -EBADMSG;
		goto cleanup;
	}
	doc->pid = json_object_get_int(pid);
	err2 = get_str(root, "executable", &doc->exe, "timeline", err, err_len) ?:
	       get_str(root, "go_version", &doc->go_version, "timeline", err, err_len) ?:
	       get_u64(root, "sampling_rate", 0, &doc->sampling_rate, NULL, "timeline", err,
		       err_len) ?:
	       get_u64(root, "gc_cycles", 0, &doc->gc_cycles, NULL, "timeline", err, err_len);
	if (err2)
		goto cleanup;
	if (!doc->exe) {
		doc->exe = strdup("");
		if (!doc->exe) {
			err2 = -ENOMEM;
			goto cleanup;
		}
	}
	cnt = json_object_array_length(recs);
	doc->recs = calloc(cnt ? cnt : 1, sizeof(*doc->recs));
	if (!doc->recs) {
		err2 = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = 0; i < cnt; i++) {
		err2 = parse_record(json_object_array_get_idx(recs, i), i, &doc->recs[i], err,
				    err_len);
		if (err2)
			goto cleanup;
		doc->cnt++;
	}
cleanup:
	if (err2)
		timeline_doc__release(doc);
	json_object_put(root);
	json_tokener_free(tok);
	return err2;
}

void timeline_doc__release(struct timeline_doc *doc)
{
	free(doc->exe);
	free(doc->go_version);
	free(doc->recs);
	*doc = (struct timeline_doc){};
}

size_t timeline_doc__keep_since(struct timeline_doc *doc, __u64 cutoff_ns)
{
	size_t j = 0;

	for (size_t i = 0; i < doc->cnt; i++)
		if (doc->recs[i].time_ns >= cutoff_ns)
			doc->recs[j++] = doc->recs[i];
	doc->cnt = j;
	return j;
}

static void add_u64(struct json_object *o, const char *key, __u64 v)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

char *timeline_doc__to_json(const struct timeline_doc *doc)
{
	struct json_object *root = json_object_new_object(), *recs = json_object_new_array();
	char *text = NULL;

	if (!root || !recs) {
		json_object_put(root);
		json_object_put(recs);
		errno = ENOMEM;
		return NULL;
	}
	json_object_object_add(root, "pid", json_object_new_int(doc->pid));
	json_object_object_add(root, "executable", json_object_new_string(doc->exe ?: ""));
	if (doc->go_version)
		json_object_object_add(root, "go_version", json_object_new_string(doc->go_version));
	add_u64(root, "sampling_rate", doc->sampling_rate);
	add_u64(root, "gc_cycles", doc->gc_cycles);
	for (size_t i = 0; i < doc->cnt; i++) {
		const struct timeline_record *r = &doc->recs[i];
		struct json_object *o = json_object_new_object();

		if (!o || json_object_array_add(recs, o)) {
			json_object_put(o);
			json_object_put(recs);
			json_object_put(root);
			errno = ENOMEM;
			return NULL;
		}
		json_object_object_add(o, "type",
				       json_object_new_string(r->is_gc ? "gc" : "interval"));
		if (r->has_cycle)
			add_u64(o, "cycle", r->cycle);
		add_u64(o, "time_unix_ns", r->time_ns);
		if (r->has_gc_duration)
			add_u64(o, "gc_duration_ns", r->gc_duration_ns);
		add_u64(o, "alloc_bytes", r->alloc_bytes);
		add_u64(o, "alloc_objects", r->alloc_objects);
		add_u64(o, "freed_bytes", r->freed_bytes);
		add_u64(o, "freed_objects", r->freed_objects);
		add_u64(o, "inuse_bytes", r->inuse_bytes);
		add_u64(o, "inuse_objects", r->inuse_objects);
		if (r->has_rss) {
			add_u64(o, "rss_bytes", r->rss_bytes);
			add_u64(o, "anon_bytes", r->anon_bytes);
		}
	}
	json_object_object_add(root, "records", recs);
	text = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	if (!text)
		errno = ENOMEM;
	return text;
}
