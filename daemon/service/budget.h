/* SPDX-License-Identifier: MIT */
/* The daemon's memory budget: what its configured bounds (BPF maps, history, exited processes)
 * add up to, its cgroup's memory limit, and the retention bounds lowered to fit under it. */
#ifndef ALLOCSCOPE_BUDGET_H
#define ALLOCSCOPE_BUDGET_H

#include <linux/types.h>

#include "service/scoped.h"

/* Per entry, as measured on Linux 6.18 (the memlock of the map fds; README "Memory budget"). */
#define BUDGET_LIVE_BYTES	 128
#define BUDGET_STACK_MAP_BYTES	 1096
#define BUDGET_STATS_BYTES	 144
#define BUDGET_BPF_FIXED_BYTES	 (2ull << 20)  /* rings, targets, totals, go_layouts */
#define BUDGET_BASE_BYTES	 (40ull << 20) /* the process, libbpf, symbolizer caches */
#define BUDGET_ENTRY_BYTES	 (2 * 88)      /* cumulative and a drain's next entry */
#define BUDGET_HISTORY_BYTES	 16 /* a packed history entry (tests/unit/test_collect.c) */
#define BUDGET_EXITED_BYTES	 (30ull << 10) /* an exited process beyond its history */
#define BUDGET_UNWIND_RING_BYTES (8ull << 20)
#define BUDGET_UNWIND_FREES_BYTES                                                                  \
	(16384ull * 96) /* unwind_frees, full: a ring overflow's frees                             \
			 */

struct budget {
	__u64 bpf_bytes;   /* the BPF maps */
	__u64 fixed_bytes; /* bpf_bytes, the base and the entries: what retention cannot change */
	__u64 retained_bytes; /* history and exited processes */
	__u64 total_bytes;
};

/* What o's bounds add up to (0 map sizes: the built-in defaults). */
void budget__estimate(const struct scoped_opts *o, struct budget *b);
/*
 * Lower o's --max-history-entries and --max-exited, in proportion, so that the estimate fits in
 * 90% of limit_bytes (0: no limit). 1 when it lowered them, 0 when they fit, -E2BIG when even
 * the fixed part does not fit (then both are left at a floor of 10,000 entries and 10 exited).
 */
int budget__fit(struct scoped_opts *o, __u64 limit_bytes, struct budget *b);
/* The memory limit of this process's cgroup (cgroup v2 memory.max, or the v1 memory controller's
 * memory.limit_in_bytes) below proc_root and cgroup_root (NULL: /proc, /sys/fs/cgroup); 0 when
 * unlimited or unknown. */
__u64 budget__cgroup_limit(const char *proc_root, const char *cgroup_root);

#endif
