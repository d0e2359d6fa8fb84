/* SPDX-License-Identifier: MIT */
/* The Prometheus text of /metrics: each live target's estimated totals, the BPF side's drop
 * counters and map fill, and the daemon's own counters. Writes the values it is given: the
 * caller gathers them under its lock; nothing here reads BPF maps or the clock. */
#ifndef ALLOCSCOPE_METRICS_H
#define ALLOCSCOPE_METRICS_H

#include <stdio.h>
#include <linux/types.h>

#include "bpf/alloc.h"
#include "probe/alloc_probes.h"
#include "probe/unwind.h"
#include "profile/heap_profile.h"

struct metrics_target {
	int pid;
	const char *exe;
	const char *comm;
	const char *container_id; /* "": no label */
	const char *pod_uid;	  /* "" or NULL: no label */
	int go;			  /* a Go program: its GC cycles are shown */
	__u32 gc_cycles;
	__u64 rate; /* the sampling rate its totals are scaled by */
	struct proc_totals tot;
	/* Its entries unsampled per (stack, size) (heap_profile__estimate): preferred to tot
	 * scaled by its mean sampled size, which is biased when the process mixes sizes. */
	int has_est;
	struct heap_estimate est;
};

struct metrics_map {
	const char *name; /* "stats", "live", "stacks" */
	long entries;	  /* < 0: unknown, not shown */
	__u32 capacity;
};

struct metrics_input {
	const struct metrics_target *targets; /* the live ones */
	size_t target_cnt;
	__u64 counters[ALLOC_CNT_MAX]; /* the BPF side's (enum alloc_counter) */
	const struct metrics_map *maps;
	size_t map_cnt;
	size_t probes_attached;
	__u64 drains;
	__u64 drain_ns_total;
	__u64 drain_ns_last;
	__u64 snapshots_dropped;
	__u64 exited_dropped;
	__u64 attach_failures;
	__u64 pushes;
	__u64 push_failures;
	long rss_bytes;
	const struct unwind_stats *unwind; /* NULL: no CFI unwinder, no unwind metrics */
};

/* Write the exposition to f. 0, or -EIO when f reports an error. */
int metrics__write(FILE *f, const struct metrics_input *in);
/* A label value escaped as the exposition format wants it (\\, \", \n), for other writers. */
void metrics__label_value(FILE *f, const char *s);

#endif
