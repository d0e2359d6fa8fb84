// SPDX-License-Identifier: MIT
/* Heap-delta timelines: points in time order, deltas and unsampling at write time, JSON through
 * json-c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "util/common.h"
#include "util/log.h"
#include "probe/sampling.h"
#include "profile/timeline.h"

int timeline__add(struct timeline *tl, const struct timeline_point *p)
{
	struct timeline_point *np;

	if (tl->cnt == tl->cap) {
		size_t cap = tl->cap ? tl->cap * 2 : 64;

		np = realloc(tl->points, cap * sizeof(*np));
		if (!np)
			return -ENOMEM;
		tl->points = np;
		tl->cap = cap;
	}
	tl->points[tl->cnt++] = *p;
	return 0;
}

static void add_u64(struct json_object *o, const char *key, __u64 v)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

static int point_cmp(const void *a, const void *b)
{
	const struct timeline_point *x = a, *y = b;

	return x->time_ns < y->time_ns ? -1 : x->time_ns > y->time_ns;
}

char *timeline__to_json(const struct timeline *tl)
{
	struct json_object *root = json_object_new_object(), *recs = json_object_new_array();
	struct proc_totals prev = {};
	char *text = NULL;

	if (!root || !recs) {
		json_object_put(root);
		json_object_put(recs);
		errno = ENOMEM;
		return NULL;
	}
	json_object_object_add(root, "pid", json_object_new_int(tl->pid));
	json_object_object_add(root, "executable", json_object_new_string(tl->exe));
	if (tl->go_version[0])
		json_object_object_add(root, "go_version", json_object_new_string(tl->go_version));
	add_u64(root, "sampling_rate", tl->rate);
	add_u64(root, "gc_cycles", tl->cycles);
	/* GC events reach us through a ring buffer, after drain points that came later in time:
	 * deltas are only meaningful in time order. */
	if (tl->cnt)
		qsort(tl->points, tl->cnt, sizeof(*tl->points), point_cmp);
	for (size_t i = 0; i < tl->cnt; i++) {
		const struct timeline_point *p = &tl->points[i];
		const struct proc_totals *t = &p->totals;
		struct json_object *r = json_object_new_object();
		__s64 ac, ab, fc, fb, ic, ib;
		__u64 live_cnt, live_bytes;

		if (!r)
			continue;
		/* Deltas of raw counts since the previous point, unsampled; counters only grow. */
		sampling__scale(t->alloc_cnt - prev.alloc_cnt, t->alloc_bytes - prev.alloc_bytes,
				tl->rate, &ac, &ab);
		sampling__scale(t->free_cnt - prev.free_cnt, t->free_bytes - prev.free_bytes,
				tl->rate, &fc, &fb);
		live_cnt = t->alloc_cnt >= t->free_cnt ? t->alloc_cnt - t->free_cnt : 0;
		live_bytes = t->alloc_bytes >= t->free_bytes ? t->alloc_bytes - t->free_bytes : 0;
		sampling__scale(live_cnt, live_bytes, tl->rate, &ic, &ib);
		json_object_object_add(
		    r, "type", json_object_new_string(p->kind == TIMELINE_GC ? "gc" : "interval"));
		if (p->kind == TIMELINE_GC)
			add_u64(r, "cycle", p->cycle);
		add_u64(r, "time_unix_ns", p->time_ns);
		if (p->kind == TIMELINE_GC && p->gc_start_ns && p->gc_start_ns <= p->time_ns)
			add_u64(r, "gc_duration_ns", p->time_ns - p->gc_start_ns);
		add_u64(r, "alloc_bytes", ab);
		add_u64(r, "alloc_objects", ac);
		add_u64(r, "freed_bytes", fb);
		add_u64(r, "freed_objects", fc);
		add_u64(r, "inuse_bytes", ib);
		add_u64(r, "inuse_objects", ic);
		if (p->rss_bytes) {
			add_u64(r, "rss_bytes", p->rss_bytes);
			add_u64(r, "anon_bytes", p->anon_bytes);
		}
		json_object_array_add(recs, r);
		prev = *t;
	}
	json_object_object_add(root, "records", recs);
	text = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	if (!text)
		errno = ENOMEM;
	return text;
}

int timeline__write(const struct timeline *tl, const char *path)
{
	char *text = timeline__to_json(tl), *tmp = NULL;
	size_t len;
	int fd = -1, err = 0;

	if (!text)
		return -errno;
	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
		err = -ENOMEM;
		goto cleanup;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fchmod(fd, 0644) ||
	    fsync(fd)) {
		err = errno ? -errno : -EIO;
		goto cleanup;
	}
	if (close(fd)) {
		fd = -1;
		err = -errno;
		goto cleanup;
	}
	fd = -1;
	if (rename(tmp, path))
		err = -errno;
cleanup:
	if (fd >= 0)
		close(fd);
	if (err && tmp)
		unlink(tmp);
	free(tmp);
	free(text);
	return err;
}

void timeline__free(struct timeline *tl)
{
	free(tl->points);
	tl->points = NULL;
	tl->cnt = tl->cap = 0;
}
