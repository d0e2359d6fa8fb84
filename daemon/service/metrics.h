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
#include "probe/overhead.h"
#include "profile/heap_profile.h"
#include "symbols/rootfs.h"

struct metrics_target {
	int pid;
	const char *exe;
	const char *comm;
	const char *container_id; /* "": no label */
	const char *pod_uid;	  /* "" or NULL: no label */
	int go;			  /* a Go program: its GC cycles are shown */
	__u32 gc_cycles;
	__u32 go_rate_written; /* times --go-set-rate wrote its runtime.MemProfileRate */
	__u64 rate;	       /* the sampling rate its totals are scaled by */
	struct proc_totals tot;
	/* Its entries unsampled per (stack, size) (heap_profile__estimate): preferred to tot
	 * scaled by its mean sampled size, which is biased when the process mixes sizes. */
	int has_est;
	struct heap_estimate est;
	/* The overhead budget's figures (native processes, once a period is measured). */
	int has_overhead;
	struct overhead_stat overhead;
};

struct metrics_map {
	const char *name; /* "stats", "live", "stacks" */
	long entries;	  /* < 0: unknown, not shown */
	__u32 capacity;
};

/* The daemon's own bounds and how full they are. */
struct metrics_bounds {
	size_t history_entries; /* across every target's history */
	size_t history_entries_max;
	size_t exited; /* exited processes kept for queries */
	size_t exited_max;
	size_t frames_interned; /* distinct stack frames (never released) */
	size_t stacks_cached;	/* stacks copied out of the kernel's stack map */
};

enum metrics_push_drop {
	METRICS_PUSH_DROP_FULL,	    /* over --push-queue, the oldest */
	METRICS_PUSH_DROP_REFUSED,  /* the receiver refused it (4xx) */
	METRICS_PUSH_DROP_SHUTDOWN, /* not sent before the flush at exit ended */
};

/* Seconds from a process's exec (the BPF tracepoint's clock) to its malloc probes being live:
 * a Prometheus histogram, observed by the exec thread, read without a lock (every field is
 * atomic; a scrape may see one observation half counted, never a torn value). */
#define EXEC_ATTACH_BUCKETS 12
struct exec_attach_hist {
	__u64
	    le[EXEC_ATTACH_BUCKETS]; /* observations <= exec_attach_bucket_ms[i] (not cumulated) */
	__u64 count;
	__u64 sum_ns;
};
void exec_attach_hist__observe(struct exec_attach_hist *h, __u64 ns);
/* The q-quantile (0..1) in seconds by linear interpolation within its bucket; 0 when empty. */
double exec_attach_hist__quantile(const struct exec_attach_hist *h, double q);

struct metrics_input {
	const struct metrics_target *targets; /* the live ones */
	size_t target_cnt;
	__u64 counters[ALLOC_CNT_MAX]; /* the BPF side's (enum alloc_counter) */
	const struct metrics_map *maps;
	size_t map_cnt;
	size_t probes_attached;
	enum mmap_tracing mmap_tracing; /* how the mmap tracepoints are attached now */
	__u64 mmap_tracing_attaches;
	size_t mmap_tracing_targets; /* processes that need them now */
	struct metrics_bounds bounds;
	__u64 drains;
	__u64 drain_ns_total;
	__u64 drain_ns_last;
	__u64 snapshots_dropped;
	__u64 exited_dropped;
	__u64 attach_failures;
	__u64 pushes;	       /* sent */
	__u64 push_failures;   /* dropped, for whichever reason */
	__u64 push_retries;    /* sends tried again */
	__u64 push_dropped[3]; /* by enum metrics_push_drop */
	__u64 push_queued;     /* waiting now */
	long rss_bytes;
	__u64 files_refused[ROOTFS_REFUSED__CNT]; /* by enum rootfs_refusal */
	const struct unwind_stats *unwind;	  /* NULL: no CFI unwinder, no unwind metrics */
	const struct exec_attach_hist *exec_attach;
};

/* Write the exposition to f. 0, or -EIO when f reports an error. */
int metrics__write(FILE *f, const struct metrics_input *in);
/* A label value escaped as the exposition format wants it (\\, \", \n), for other writers. */
void metrics__label_value(FILE *f, const char *s);

#endif
