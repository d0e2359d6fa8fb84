/* SPDX-License-Identifier: MIT */
/* Turns what the BPF maps hold for a set of processes into a pprof heap profile in Go's shape:
 * alloc_objects, alloc_space, inuse_objects, inuse_space, unsampled, symbolized, with mappings
 * that let pprof re-symbolize later. */
#ifndef ALLOCSCOPE_HEAP_PROFILE_H
#define ALLOCSCOPE_HEAP_PROFILE_H

#include <linux/types.h>

#include "probe/alloc_probes.h"
#include "probe/collect.h"
#include "profile/pprof.h"
#include "symbols/symbolize.h"
#include "symbols/target.h"

struct wrappers;

struct heap_profile_opts {
	__s64 time_ns; /* wall-clock start of what the profile covers */
	__s64 duration_ns;
	const char *default_sample_type; /* NULL: "inuse_space" */
	__u64 native_rate;     /* the BPF sampling rate (malloc family, mmap, every-call Go mode) */
	__u64 go_rate;	       /* the Go program's MemProfileRate, for samples of its runtime */
	__u64 go_rate_written; /* != 0: --go-set-rate wrote this MemProfileRate over a 0 */
	__u64 period;	       /* the profile's period: the rate that dominates it */
	int delta;	       /* entries are differences: in-use may be negative */
	const __u64 *counters; /* ALLOC_CNT_MAX counters for the comments, or NULL */
	int has_native;	       /* what was probed, for the profile's comments */
	const char *native_scheme; /* how the malloc family is probed (alloc_probes__scheme) */
	int has_go;
	int has_go_every_call;
	const char *const *comments; /* more comment lines (the overhead budget's) */
	size_t comment_cnt;
	/* Allocator wrappers whose frames go with the allocator's (--wrapper); NULL: the built-in
	 * list only. */
	const struct wrappers *wrappers;
	int has_usdt; /* samples of a process's own sampler (otel_memory USDTs) */
	/* Keep a C sample's allocator frames as its leaf, with no `allocator` label (pushes:
	 * Pyroscope makes a series of every distinct string label set). */
	int keep_allocator_frames;
};

/* What went into a profile, for progress lines and tests. */
struct heap_profile_summary {
	__u64 samples;		/* pprof samples written */
	__u64 raw_allocs;	/* sampled allocations seen */
	__u64 lost_stacks;	/* of which without a stack */
	__u64 unknown_frames;	/* frames outside every known mapping */
	__u64 truncated_stacks; /* sampled allocations whose CFI unwind stopped early */
	__u64 counters[ALLOC_CNT_MAX];
};

#define HEAP_PROFILE_MAX_LABELS 6

/* One process's entries, and the labels every one of its samples carries (host, executable,
 * container...), besides pid, cause and bytes. */
struct profile_source {
	struct target *target; /* its maps snapshots symbolize the stacks */
	const struct alloc_entry *entries;
	size_t cnt;
	const struct pprof_label *labels;
	size_t label_cnt;
};

/* 0 or -errno; on success *out is a builder the caller writes and frees. */
int heap_profile__build(const struct profile_source *srcs, size_t src_cnt, struct symbolizer *sym,
			const struct heap_profile_opts *opts, struct pprof_builder **out,
			struct heap_profile_summary *sum);

/* Unsampled totals of a set of entries. */
struct heap_estimate {
	__s64 alloc_cnt, alloc_bytes;
	__s64 free_cnt, free_bytes;
	__s64 inuse_cnt, inuse_bytes;
};

/*
 * Sum entries[0..cnt) unsampled one by one, as the profile does: exact per (stack, size) bucket,
 * where scaling a process's totals by its mean sampled size is not. Samples of the Go runtime
 * (ALLOC_KIND_GO) are at go_rate (0: native_rate), the rest at native_rate.
 */
void heap_profile__estimate(const struct alloc_entry *entries, size_t cnt, __u64 native_rate,
			    __u64 go_rate, struct heap_estimate *out);

#endif
