/* SPDX-License-Identifier: MIT */
/* allocscoped's side of heap snapshots: the triggers (OOM victim events, PSI trigger fds, cgroup
 * limits, growth over a window, requests) evaluated against the watched targets, the per-target
 * cooldown, and the building of a target's snapshot into the store (service/snapshot.h). */
#ifndef ALLOCSCOPE_CAPTURE_H
#define ALLOCSCOPE_CAPTURE_H

#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>

#include "service/snapshot.h"
#include "service/trigger.h"

struct capture_opts {
	unsigned int triggers;	/* 1 << enum trigger_kind; TRIGGER_REQUEST is always on */
	const char *dir;	/* --snapshot-dir */
	size_t max_in_memory;	/* --max-snapshots */
	double max_age_s;	/* --snapshot-max-age */
	__u64 max_disk_bytes;	/* --snapshot-max-bytes */
	double cooldown_s;	/* --snapshot-cooldown: per target, automatic triggers */
	double psi_stall_ms;	/* --snapshot-psi: stall per 2 s window */
	double limit_ratio;	/* --snapshot-limit-ratio */
	double growth_fraction; /* --snapshot-growth */
	double growth_window_s; /* --snapshot-growth-window */
	__u64 growth_min_bytes;
	double timeline_s;    /* the timeline before a snapshot that it keeps */
	const char *sys_root; /* "/sys/fs/cgroup"; tests point it elsewhere */
	const char *psi_path; /* "/proc/pressure/memory" */
};

/* The defaults allocscoped starts from. */
void capture_opts__defaults(struct capture_opts *o);

struct scoped;
struct dtarget;
struct capture;

/* With the state's lock held unless said otherwise. */

/* Set up the store, the OOM tracepoint and the PSI trigger (what the kernel lacks is logged and
 * left out). NULL and errno on ENOMEM. */
struct capture *capture__new(struct scoped *d);
void capture__free(struct capture *c); /* accepts NULL */
/* The OOM ring buffer, the system's PSI trigger and the cgroups' ones. */
#define CAPTURE_MAX_FDS 10

/* The fds the loop polls for it (no lock needed); returns how many were written. */
size_t capture__fds(struct capture *c, struct pollfd *pfd, size_t max);
/* After poll: OOM victims and PSI events, with the revents of the fds capture__fds gave. */
void capture__on_wake(struct scoped *d, const struct pollfd *pfd, size_t n);
/* After each drain: growth and cgroup limits. */
void capture__after_drain(struct scoped *d);
/* A target was attached: learn its cgroup while it lives. */
void capture__target_started(struct scoped *d, struct dtarget *t);
/* A target ends (called before its kernel state is forgotten): an OOM victim's snapshot is
 * taken now if it was not yet. */
void capture__target_ending(struct scoped *d, struct dtarget *t);
/* Snapshot pid now (POST /snapshot). 0 with the new snapshot's JSON, -ENOENT, or -errno. */
int capture__request(struct scoped *d, int pid, char **json);
struct snapshot_store *capture__store(struct capture *c);
/* With --push: send the snapshots taken since the last call, each as an application of its
 * own ("<executable>.heap_snapshot"). Takes the lock itself: call it without. */
void capture__push_pending(struct scoped *d);
/* The snapshot counters and each target's growth ratio, as Prometheus text: the targets
 * viewer may read only (scoped__target_visible). */
void capture__write_metrics(struct scoped *d, FILE *f, uid_t viewer);

#endif
