// SPDX-License-Identifier: MIT
/* allocscoped's selectors (--pid, --exe, --comm, --cgroup, --all-go) and its JSON config file. */
#include <errno.h>
#include <math.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "util/common.h"
#include "util/log.h"
#include "service/scoped.h"

int scoped_opts__add_selector(struct scoped_opts *o, enum selector_kind kind, const char *value,
			      int from_config)
{
	struct selector *n, s = {.kind = kind, .from_config = from_config};
	char *end;

	if (kind == SELECT_PID) {
		long v;

		errno = 0;
		v = strtol(value, &end, 10);
		if (errno || *end || v <= 0 || v > INT_MAX)
			return -EINVAL;
		s.pid = v;
	} else if (value) {
		if (strlen(value) >= sizeof(s.value) || !*value)
			return -EINVAL;
		snprintf(s.value, sizeof(s.value), "%s", value);
	}
	n = realloc(o->sels, (o->sel_cnt + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	o->sels = n;
	o->sels[o->sel_cnt++] = s;
	return 0;
}

static int config_selectors(struct scoped_opts *o, struct json_object *root, const char *key,
			    enum selector_kind kind, const char *path)
{
	struct json_object *v;
	char buf[32];

	if (!json_object_object_get_ex(root, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_array)) {
		log_error("%s: \"%s\" must be an array", path, key);
		return -EINVAL;
	}
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		const char *s;

		if (kind == SELECT_PID && json_object_is_type(e, json_type_int)) {
			snprintf(buf, sizeof(buf), "%d", json_object_get_int(e));
			s = buf;
		} else if (json_object_is_type(e, json_type_string)) {
			s = json_object_get_string(e);
		} else {
			log_error("%s: \"%s\"[%zu] has the wrong type", path, key, i);
			return -EINVAL;
		}
		if (scoped_opts__add_selector(o, kind, s, 1)) {
			log_error("%s: \"%s\"[%zu]: '%s' is not valid", path, key, i, s);
			return -EINVAL;
		}
	}
	return 0;
}

/* A finite JSON number: json-c would also turn strings ("10", "NaN") and NaN/Infinity into
 * doubles, and NaN passes every range check. */
static int config_number(struct json_object *v, double *out)
{
	double d;

	if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
		return -EINVAL;
	d = json_object_get_double(v);
	if (!isfinite(d))
		return -EINVAL;
	*out = d;
	return 0;
}

int scoped_opts__load_config(struct scoped_opts *o, const char *path, int reload)
{
	static const char *const known[] = {"pid",    "exe",	  "comm",	"cgroup",
					    "all_go", "interval", "retention",	"rate",
					    "mode",   "listen",	  "go_set_rate"};
	struct json_object *root, *v;
	size_t j = 0;
	int err = 0;

	root = json_object_from_file(path);
	if (!root || !json_object_is_type(root, json_type_object)) {
		log_error("%s: not a JSON object (%s)", path, json_util_get_last_err() ?: "?");
		json_object_put(root);
		return -EINVAL;
	}
	json_object_object_foreach(root, key, val)
	{
		size_t i;

		(void)val;
		for (i = 0; i < ARRAY_SIZE(known) && strcmp(key, known[i]); i++)
			;
		if (i == ARRAY_SIZE(known)) {
			log_error("%s: unknown key \"%s\"", path, key);
			err = -EINVAL;
			goto cleanup;
		}
	}
	/* A reload replaces what the previous config said; the command line stays. */
	for (size_t i = 0; i < o->sel_cnt; i++)
		if (!o->sels[i].from_config)
			o->sels[j++] = o->sels[i];
	o->sel_cnt = j;
	err = config_selectors(o, root, "pid", SELECT_PID, path) ?:
	      config_selectors(o, root, "exe", SELECT_EXE, path) ?:
	      config_selectors(o, root, "comm", SELECT_COMM, path) ?:
	      config_selectors(o, root, "cgroup", SELECT_CGROUP, path);
	if (err)
		goto cleanup;
	if (json_object_object_get_ex(root, "all_go", &v) && json_object_get_boolean(v))
		scoped_opts__add_selector(o, SELECT_ALL_GO, NULL, 1);
	if (!reload) {
		/* Settings that shape the BPF maps or the listener apply at start only. */
		if (json_object_object_get_ex(root, "interval", &v) &&
		    config_number(v, &o->interval_s)) {
			log_error("%s: \"interval\" must be a number of seconds", path);
			err = -EINVAL;
		}
		if (json_object_object_get_ex(root, "retention", &v) &&
		    config_number(v, &o->retention_min)) {
			log_error("%s: \"retention\" must be a number of minutes", path);
			err = -EINVAL;
		}
		if (json_object_object_get_ex(root, "rate", &v)) {
			if (!json_object_is_type(v, json_type_int) ||
			    json_object_get_int64(v) <= 0) {
				log_error("%s: \"rate\" must be a whole number of bytes", path);
				err = -EINVAL;
			} else {
				o->rate = json_object_get_int64(v);
			}
		}
		if (json_object_object_get_ex(root, "go_set_rate", &v)) {
			if (!json_object_is_type(v, json_type_int) ||
			    json_object_get_int64(v) < 0) {
				log_error("%s: \"go_set_rate\" must be a whole number of bytes",
					  path);
				err = -EINVAL;
			} else {
				o->watch.go_set_rate = json_object_get_int64(v);
			}
		}
		if (json_object_object_get_ex(root, "listen", &v) && !o->listen) {
			if (!json_object_is_type(v, json_type_string)) {
				log_error("%s: \"listen\" must be a string (ADDR:PORT)", path);
				err = -EINVAL;
			} else if (!(o->listen = o->listen_owned =
					 strdup(json_object_get_string(v)))) {
				err = -ENOMEM;
			}
		}
		if (json_object_object_get_ex(root, "mode", &v) &&
		    (!json_object_is_type(v, json_type_string) ||
		     watch_mode__parse(json_object_get_string(v), &o->watch.mode))) {
			log_error("%s: \"mode\" must be auto, go, malloc or both", path);
			err = -EINVAL;
		}
		if (o->interval_s < 0.1 || o->retention_min <= 0 || o->rate == 0) {
			log_error("%s: interval, retention and rate must be positive", path);
			err = -EINVAL;
		}
	}
cleanup:
	json_object_put(root);
	return err;
}

void scoped_opts__free_config(struct scoped_opts *o)
{
	free(o->sels);
	o->sels = NULL;
	o->sel_cnt = 0;
	free(o->listen_owned);
	o->listen_owned = NULL;
}
