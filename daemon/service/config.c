// SPDX-License-Identifier: MIT
/* allocscoped's selectors (--pid, --exe, --comm, --cgroup, --all-go) and its JSON config file. */
#include <errno.h>
#include <math.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "probe/overhead.h"
#include "util/common.h"
#include "util/log.h"
#include "service/scoped.h"
#include "profile/wrappers.h"

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

/* A string setting the command line did not give already. */
static int config_string(struct json_object *root, const char *key, const char *path,
			 const char **val, char **owned)
{
	struct json_object *v;

	if (!json_object_object_get_ex(root, key, &v) || *val)
		return 0;
	if (!json_object_is_type(v, json_type_string) || !*json_object_get_string(v)) {
		log_error("%s: \"%s\" must be a non-empty string", path, key);
		return -EINVAL;
	}
	*val = *owned = strdup(json_object_get_string(v));
	return *owned ? 0 : -ENOMEM;
}

/* "service_names": [{"exe": GLOB | "comm": NAME | "cgroup": PREFIX | "pid": N,
 * "service_name": NAME}, ...]: replaces the rules of the previous load. */
static int config_service_names(struct scoped_opts *o, struct json_object *root, const char *path)
{
	static const struct {
		const char *key;
		enum selector_kind kind;
	} kinds[] = {{"pid", SELECT_PID},
		     {"exe", SELECT_EXE},
		     {"comm", SELECT_COMM},
		     {"cgroup", SELECT_CGROUP}};
	struct service_rule *rules = NULL;
	struct json_object *arr, *e, *v;
	size_t cnt = 0, n;
	int err = 0;

	if (!json_object_object_get_ex(root, "service_names", &arr))
		goto done;
	if (!json_object_is_type(arr, json_type_array)) {
		log_error("%s: \"service_names\" must be an array", path);
		return -EINVAL;
	}
	n = json_object_array_length(arr);
	rules = calloc(n ? n : 1, sizeof(*rules));
	if (!rules)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct service_rule *r = &rules[cnt];
		struct scoped_opts one = {};
		const char *name;
		size_t k, found = 0;

		e = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(e, json_type_object) ||
		    !json_object_object_get_ex(e, "service_name", &v) ||
		    !json_object_is_type(v, json_type_string) ||
		    !*(name = json_object_get_string(v)) || strlen(name) >= sizeof(r->service)) {
			log_error("%s: \"service_names\"[%zu] needs a \"service_name\" string of "
				  "1 to %zu characters",
				  path, i, sizeof(r->service) - 1);
			err = -EINVAL;
			goto cleanup;
		}
		snprintf(r->service, sizeof(r->service), "%s", name);
		for (k = 0; k < ARRAY_SIZE(kinds); k++) {
			char buf[32];
			const char *s;

			if (!json_object_object_get_ex(e, kinds[k].key, &v))
				continue;
			found++;
			if (kinds[k].kind == SELECT_PID && json_object_is_type(v, json_type_int)) {
				snprintf(buf, sizeof(buf), "%d", json_object_get_int(v));
				s = buf;
			} else {
				s = json_object_is_type(v, json_type_string)
					? json_object_get_string(v)
					: "";
			}
			/* One selector, parsed as the selectors are. */
			if (scoped_opts__add_selector(&one, kinds[k].kind, s, 1)) {
				free(one.sels);
				found = 2;
				break;
			}
			r->sel = one.sels[0];
			free(one.sels);
		}
		if (found != 1) {
			log_error(
			    "%s: \"service_names\"[%zu] needs exactly one valid pid, exe, comm "
			    "or cgroup",
			    path, i);
			err = -EINVAL;
			goto cleanup;
		}
		cnt++;
	}
done:
	free(o->svc_rules);
	o->svc_rules = rules;
	o->svc_rule_cnt = cnt;
	return 0;
cleanup:
	free(rules);
	return err;
}

int scoped_opts__add_wrapper(struct scoped_opts *o, const char *regex, int owned)
{
	const char **n;

	if (wrappers__check("--wrapper", regex))
		return -EINVAL;
	n = reallocarray(o->wrappers, o->wrapper_cnt + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	o->wrappers = n;
	o->wrappers[o->wrapper_cnt++] = regex;
	/* The command line's come first: the config file is read after it. */
	if (!owned)
		o->wrapper_cli_cnt = o->wrapper_cnt;
	return 0;
}

/* "wrappers": ["regex", ...], added to the command line's --wrapper (at start only). */
static int config_wrappers(struct scoped_opts *o, struct json_object *root, const char *path)
{
	struct json_object *arr, *e;
	char *copy;
	int err;

	if (!json_object_object_get_ex(root, "wrappers", &arr))
		return 0;
	if (!json_object_is_type(arr, json_type_array)) {
		log_error("%s: \"wrappers\" must be a list of regular expressions", path);
		return -EINVAL;
	}
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		e = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(e, json_type_string)) {
			log_error("%s: \"wrappers\" must be a list of regular expressions", path);
			return -EINVAL;
		}
		copy = strdup(json_object_get_string(e));
		if (!copy)
			return -ENOMEM;
		err = scoped_opts__add_wrapper(o, copy, 1);
		if (err) {
			free(copy);
			return err;
		}
	}
	return 0;
}

int scoped_opts__load_config(struct scoped_opts *o, const char *path, int reload)
{
	static const char *const known[] = {
	    "pid",
	    "exe",
	    "comm",
	    "cgroup",
	    "all_go",
	    "interval",
	    "retention",
	    "rate",
	    "mode",
	    "listen",
	    "push_tenant",
	    "push_auth_file",
	    "push_pid_label",
	    "service_names",
	    "go_set_rate",
	    "max_overhead",
	    "unwind",
	    "wrappers",
	};
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
	err = config_service_names(o, root, path);
	if (err)
		goto cleanup;
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
		if (json_object_object_get_ex(root, "max_overhead", &v) &&
		    (json_object_is_type(v, json_type_string)
			 ? overhead__parse_pct(json_object_get_string(v), &o->max_overhead_pct)
			 : config_number(v, &o->max_overhead_pct) || o->max_overhead_pct < 0 ||
			       o->max_overhead_pct >= 100)) {
			log_error("%s: \"max_overhead\" must be a percentage below 100, or \"off\"",
				  path);
			err = -EINVAL;
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
		err = err ?: config_string(root, "push_tenant", path, &o->push_tenant,
					   &o->push_tenant_owned) ?:
			      config_string(root, "push_auth_file", path, &o->push_auth_file,
					    &o->push_auth_file_owned);
		if (o->push_tenant && strpbrk(o->push_tenant, "\r\n")) {
			log_error("%s: \"push_tenant\" may not hold a line break", path);
			err = -EINVAL;
		}
		if (json_object_object_get_ex(root, "push_pid_label", &v) &&
		    json_object_get_boolean(v))
			o->push_pid_label = 1;
		if (json_object_object_get_ex(root, "mode", &v) &&
		    (!json_object_is_type(v, json_type_string) ||
		     watch_mode__parse(json_object_get_string(v), &o->watch.mode))) {
			log_error("%s: \"mode\" must be auto, go, malloc or both", path);
			err = -EINVAL;
		}
		if (json_object_object_get_ex(root, "unwind", &v) && !o->unwind_set &&
		    (!json_object_is_type(v, json_type_string) ||
		     unwind_mode__parse(json_object_get_string(v), &o->unwind))) {
			log_error("%s: \"unwind\" must be fp, cfi or auto", path);
			err = -EINVAL;
		}
		err = err ?: config_wrappers(o, root, path);
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
	free(o->push_tenant_owned);
	o->push_tenant_owned = NULL;
	free(o->push_auth_file_owned);
	o->push_auth_file_owned = NULL;
	free(o->svc_rules);
	o->svc_rules = NULL;
	for (size_t i = o->wrapper_cli_cnt; i < o->wrapper_cnt; i++)
		free((char *)o->wrappers[i]);
	free(o->wrappers);
	o->wrappers = NULL;
	o->wrapper_cnt = o->wrapper_cli_cnt = 0;
	o->svc_rule_cnt = 0;
}
