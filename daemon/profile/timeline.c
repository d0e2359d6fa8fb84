// SPDX-License-Identifier: MIT
/* Heap-delta timelines: points in time order, deltas and unsampling at write time, into the
 * records that profile/timeline_json.c writes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/atomic_file.h"
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

static int point_cmp(const void *a, const void *b)
{
	const struct timeline_point *x = a, *y = b;

	return x->time_ns < y->time_ns ? -1 : x->time_ns > y->time_ns;
}

int timeline__to_doc(const struct timeline *tl, struct timeline_doc *doc)
{
	struct proc_totals prev = {};

	*doc = (struct timeline_doc){
	    .pid = tl->pid, .sampling_rate = tl->rate, .gc_cycles = tl->cycles};
	doc->exe = strdup(tl->exe);
	doc->go_version = tl->go_version[0] ? strdup(tl->go_version) : NULL;
	doc->recs = calloc(tl->cnt ? tl->cnt : 1, sizeof(*doc->recs));
	if (!doc->exe || (tl->go_version[0] && !doc->go_version) || !doc->recs) {
		timeline_doc__release(doc);
		return -ENOMEM;
	}
	/* GC events reach us through a ring buffer, after drain points that came later in time:
	 * deltas are only meaningful in time order. */
	if (tl->cnt)
		qsort(tl->points, tl->cnt, sizeof(*tl->points), point_cmp);
	for (size_t i = 0; i < tl->cnt; i++) {
		const struct timeline_point *p = &tl->points[i];
		const struct proc_totals *t = &p->totals;
		struct timeline_record *r = &doc->recs[i];
		__s64 ac, ab, fc, fb, ic, ib;
		__u64 live_cnt, live_bytes;

		/* Deltas of raw counts since the previous point, unsampled; counters only grow. */
		sampling__scale(t->alloc_cnt - prev.alloc_cnt, t->alloc_bytes - prev.alloc_bytes,
				tl->rate, &ac, &ab);
		sampling__scale(t->free_cnt - prev.free_cnt, t->free_bytes - prev.free_bytes,
				tl->rate, &fc, &fb);
		live_cnt = t->alloc_cnt >= t->free_cnt ? t->alloc_cnt - t->free_cnt : 0;
		live_bytes = t->alloc_bytes >= t->free_bytes ? t->alloc_bytes - t->free_bytes : 0;
		sampling__scale(live_cnt, live_bytes, tl->rate, &ic, &ib);
		*r = (struct timeline_record){
		    .is_gc = p->kind == TIMELINE_GC,
		    .has_cycle = p->kind == TIMELINE_GC,
		    .has_gc_duration =
			p->kind == TIMELINE_GC && p->gc_start_ns && p->gc_start_ns <= p->time_ns,
		    .has_rss = p->rss_bytes != 0,
		    .time_ns = p->time_ns,
		    .alloc_bytes = ab,
		    .alloc_objects = ac,
		    .freed_bytes = fb,
		    .freed_objects = fc,
		    .inuse_bytes = ib,
		    .inuse_objects = ic,
		};
		if (r->has_cycle)
			r->cycle = p->cycle;
		if (r->has_gc_duration)
			r->gc_duration_ns = p->time_ns - p->gc_start_ns;
		if (r->has_rss) {
			r->rss_bytes = p->rss_bytes;
			r->anon_bytes = p->anon_bytes;
		}
		prev = *t;
	}
	doc->cnt = tl->cnt;
	return 0;
}

char *timeline__to_json(const struct timeline *tl)
{
	struct timeline_doc doc;
	char *text;
	int err;

	err = timeline__to_doc(tl, &doc);
	if (err) {
		errno = -err;
		return NULL;
	}
	text = timeline_doc__to_json(&doc);
	err = errno;
	timeline_doc__release(&doc);
	errno = err;
	return text;
}

static int fill_line(void *ctx, FILE *f)
{
	errno = 0;
	if (fputs(ctx, f) == EOF || fputc('\n', f) == EOF)
		return errno ? -errno : -EIO;
	return 0;
}

int timeline__write(const struct timeline *tl, const char *path)
{
	char *text = timeline__to_json(tl);
	int err;

	if (!text)
		return -errno;
	err = atomic_file__write_with(path, fill_line, text);
	free(text);
	return err;
}

void timeline__free(struct timeline *tl)
{
	free(tl->points);
	tl->points = NULL;
	tl->cnt = tl->cap = 0;
}
