/* SPDX-License-Identifier: MIT */
/* When a heap snapshot is due, as pure logic over what the kernel exposes: PSI text, a memory
 * cgroup's figures (v1 and v2, below a configurable root) and a target's in-use over a window.
 * Also the PSI trigger file descriptors that wake the daemon's loop. No clock, no globals. */
#ifndef ALLOCSCOPE_TRIGGER_H
#define ALLOCSCOPE_TRIGGER_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

enum trigger_kind {
	TRIGGER_OOM,	  /* the OOM killer chose the target */
	TRIGGER_PRESSURE, /* PSI memory pressure over its threshold */
	TRIGGER_LIMIT,	  /* the target's memory cgroup near or at its limit */
	TRIGGER_GROWTH,	  /* in-use grew by more than a fraction over a window */
	TRIGGER_REQUEST,  /* POST /snapshot, allocscope snapshot */
	TRIGGER_MAX,
};

/* "oom", "pressure", "limit", "growth", "request". */
const char *trigger__name(enum trigger_kind k);
/* A comma-separated list of trigger names (or "none") into a mask of 1 << kind. 0 or -EINVAL. */
int trigger__parse_mask(const char *s, unsigned int *mask);

/* /proc/pressure/memory or a cgroup's memory.pressure. */
struct psi_figures {
	double some_avg10; /* percent of the last 10 s some task stalled on memory */
	double full_avg10;
	__u64 some_total_us;
	__u64 full_total_us;
};

/* 0, or -EINVAL when no "some" line parses. */
int psi__parse(const char *text, struct psi_figures *out);

/*
 * A PSI trigger: the kernel wakes poll() (POLLPRI) when tasks stalled on memory for more than
 * stall_us within any window_us. Unprivileged triggers (no CAP_SYS_RESOURCE, as here) need a
 * window that is a multiple of 2 s. Returns the fd or -errno.
 */
int psi_trigger__open(const char *path, __u64 stall_us, __u64 window_us);

/* A memory cgroup's figures. limit_bytes 0: no limit. */
struct memcg_figures {
	int version; /* 1 or 2 */
	__u64 usage_bytes;
	__u64 limit_bytes;
	__u64 rss_bytes;   /* v1 total_rss; v2 anon + file_mapped */
	__u64 anon_bytes;  /* v1 total_active_anon + total_inactive_anon; v2 anon */
	__u64 events_high; /* v2 memory.events: times over memory.high */
	__u64 events_max;  /* ... times at memory.max */
	__u64 events_oom_kill;
};

/* From the text of /proc/PID/cgroup: the memory controller's v1 path ("N:...memory...:/p"), or
 * else the v2 path ("0::/p"), with its version; only the v2 path if v2_only. 0 or -ENOENT. */
int memcg__path_parse(const char *text, int v2_only, int *version, char *path, size_t path_len);
/* Read the figures of the cgroup at path below sys_root ("/sys/fs/cgroup"; v1 under
 * sys_root/memory, v2 under sys_root when it is a cgroup2 mount, else sys_root/unified).
 * 0 or -errno (of the usage file: the cgroup is gone). */
int memcg__read(const char *sys_root, int version, const char *path, struct memcg_figures *out);
/* The file with the cgroup's PSI (v2 hierarchy only, as PSI is), into buf. 0 or -ENOENT. */
int memcg__pressure_path(const char *sys_root, const char *v2_path, char *buf, size_t len);

/* Whether now shows the cgroup nearing its limit: usage at ratio of the limit or more, or (v2)
 * memory.events high/max counts that rose since before (NULL: the first look). */
bool memcg__near_limit(const struct memcg_figures *now, const struct memcg_figures *before,
		       double ratio);

/* A target's in-use bytes at each drain, over a bit more than a window. */
#define GROWTH_MAX_POINTS 256
struct growth_window {
	__u64 time_ns[GROWTH_MAX_POINTS];
	__u64 inuse_bytes[GROWTH_MAX_POINTS];
	size_t first; /* ring index of the oldest */
	size_t cnt;
};

void growth__record(struct growth_window *g, __u64 now_ns, __u64 inuse_bytes, __u64 window_ns);
/*
 * Whether in-use grew by more than fraction (0.5: +50%) from the newest point at least window_ns
 * old to the newest point, by min_bytes at least. *grew: that fraction (0 when no point is old
 * enough, or nothing was in use then). A process younger than the window never fires.
 */
bool growth__check(const struct growth_window *g, __u64 window_ns, double fraction, __u64 min_bytes,
		   double *grew);

#endif
