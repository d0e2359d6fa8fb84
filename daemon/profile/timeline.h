/* SPDX-License-Identifier: MIT */
/* The heap-delta timeline of one process: a point per Go GC cycle and per fixed interval, each
 * with what was allocated and freed since the point before and the in-use estimate, unsampled;
 * written as JSON by profile/timeline_json.c. */
#ifndef ALLOCSCOPE_TIMELINE_H
#define ALLOCSCOPE_TIMELINE_H

#include <stddef.h>
#include <linux/types.h>

#include "bpf/alloc.h"
#include "profile/timeline_json.h"

enum timeline_kind {
	TIMELINE_GC,	   /* end of a GC cycle's mark phase */
	TIMELINE_INTERVAL, /* a fixed interval elapsed */
};

struct timeline_point {
	__u32 kind;	   /* enum timeline_kind */
	__u32 cycle;	   /* GC cycles seen so far (this one included) */
	__u64 time_ns;	   /* wall clock */
	__u64 gc_start_ns; /* TIMELINE_GC: when the cycle started (wall clock), 0 if not seen */
	struct proc_totals totals; /* raw sampled totals at this point */
	__u64 rss_bytes;	   /* TIMELINE_INTERVAL: the process's VmRSS, 0 if unknown */
	__u64 anon_bytes;	   /* ... and RssAnon, to compare with the heap */
};

struct timeline {
	int pid;
	char exe[256];
	char go_version[32];
	__u64 rate; /* sampling rate the totals were taken at */
	struct timeline_point *points;
	size_t cnt;
	size_t cap;
	__u32 cycles;
	__u64 pending_gc_start_ns;
};

int timeline__add(struct timeline *tl, const struct timeline_point *p);
/* The points as JSON records (profile/timeline_json.h), in time order (the points are sorted in
 * place): deltas since the point before and the in-use levels, unsampled at tl->rate. 0 or
 * -ENOMEM; release doc with timeline_doc__release(). */
int timeline__to_doc(const struct timeline *tl, struct timeline_doc *doc);
/* The JSON text, malloc'ed. NULL and errno on failure. */
char *timeline__to_json(const struct timeline *tl);
/* Write atomically (temporary file, then rename). 0 or -errno. */
int timeline__write(const struct timeline *tl, const char *path);
void timeline__free(struct timeline *tl);

#endif
