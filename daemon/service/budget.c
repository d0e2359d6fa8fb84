// SPDX-License-Identifier: MIT
/* The memory budget: estimates from per-entry costs, and the daemon's own cgroup limit. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/budget.h"

/* The BPF maps' built-in sizes (bpf/alloc.bpf.c), used when an option is 0. */
#define DEFAULT_STACKS 16384
#define DEFAULT_STATS  65536
#define DEFAULT_LIVE   262144

#define FLOOR_HISTORY 10000
#define FLOOR_EXITED  10

void budget__estimate(const struct scoped_opts *o, struct budget *b)
{
	__u64 stats = o->max_stats ?: DEFAULT_STATS;

	b->bpf_bytes =
	    (__u64)(o->max_live ?: DEFAULT_LIVE) * BUDGET_LIVE_BYTES +
	    (__u64)(o->max_stacks ?: DEFAULT_STACKS) * BUDGET_STACK_MAP_BYTES +
	    stats * BUDGET_STATS_BYTES + BUDGET_BPF_FIXED_BYTES +
	    (o->unwind != UNWIND_MODE_FP ? BUDGET_UNWIND_RING_BYTES + BUDGET_UNWIND_FREES_BYTES
					 : 0);
	b->fixed_bytes = b->bpf_bytes + BUDGET_BASE_BYTES + stats * BUDGET_ENTRY_BYTES;
	b->retained_bytes = (__u64)o->max_history_entries * BUDGET_HISTORY_BYTES +
			    (__u64)o->max_exited * BUDGET_EXITED_BYTES;
	b->total_bytes = b->fixed_bytes + b->retained_bytes;
}

int budget__fit(struct scoped_opts *o, __u64 limit_bytes, struct budget *b)
{
	__u64 room = limit_bytes / 10 * 9;
	double f;

	budget__estimate(o, b);
	if (!limit_bytes || b->total_bytes <= room)
		return 0;
	if (b->fixed_bytes >= room) {
		o->max_history_entries = FLOOR_HISTORY;
		o->max_exited = FLOOR_EXITED;
		budget__estimate(o, b);
		return -E2BIG;
	}
	f = (double)(room - b->fixed_bytes) / (double)b->retained_bytes;
	o->max_history_entries = (size_t)(o->max_history_entries * f);
	o->max_exited = (size_t)(o->max_exited * f);
	if (o->max_history_entries < FLOOR_HISTORY)
		o->max_history_entries = FLOOR_HISTORY;
	if (o->max_exited < FLOOR_EXITED)
		o->max_exited = FLOOR_EXITED;
	budget__estimate(o, b);
	return 1;
}

/* The first line of path as a byte count; 0 for "max", unreadable or absurd (v1's unlimited is
 * a page-rounded LLONG_MAX). */
static __u64 read_limit(const char *path)
{
	unsigned long long v;
	char buf[64] = "";
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	if (sscanf(buf, "%llu", &v) != 1 || v >= (1ull << 62))
		return 0;
	return v;
}

__u64 budget__cgroup_limit(const char *proc_root, const char *cgroup_root)
{
	char path[PATH_MAX], line[PATH_MAX], *cg;
	__u64 limit = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/self/cgroup", proc_root ?: "/proc");
	f = fopen(path, "re");
	if (!f)
		return 0;
	cgroup_root = cgroup_root ?: "/sys/fs/cgroup";
	/* "0::/path" (v2) or "N:...memory...:/path" (v1); the v1 memory controller wins where
	 * both exist, as it is the one that charges (hybrid hosts). */
	while (!limit && fgets(line, sizeof(line), f)) {
		char *ctrl = strchr(line, ':');

		if (!ctrl || !(cg = strchr(ctrl + 1, ':')))
			continue;
		*cg++ = '\0';
		cg[strcspn(cg, "\n")] = '\0';
		ctrl++;
		if (!strcmp(ctrl, "memory") || strstr(ctrl, "memory,") || strstr(ctrl, ",memory")) {
			snprintf(path, sizeof(path), "%s/memory%s/memory.limit_in_bytes",
				 cgroup_root, cg);
			limit = read_limit(path);
		} else if (!*ctrl) {
			snprintf(path, sizeof(path), "%s%s/memory.max", cgroup_root, cg);
			limit = read_limit(path);
			if (!limit) {
				snprintf(path, sizeof(path), "%s/unified%s/memory.max", cgroup_root,
					 cg);
				limit = read_limit(path);
			}
		}
	}
	fclose(f);
	return limit;
}
