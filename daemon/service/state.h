/* SPDX-License-Identifier: MIT */
/* allocscoped's state, shared inside service/ only: the loop (scoped.c) owns it; the targets'
 * lifecycle (targets.c), the drain (drain.c), the HTTP handlers (api.c) and push (push_batch.c)
 * are handed it. One instance, made by scoped__run(), passed explicitly, used under lock. */
#ifndef ALLOCSCOPE_STATE_H
#define ALLOCSCOPE_STATE_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>
#include <linux/types.h>

#include "probe/collect.h"
#include "probe/watch.h"
#include "service/cgroup.h"
#include "service/history.h"
#include "service/metrics.h"
#include "service/scoped.h"
#include "util/htab.h"

/* A watched process, alive or exited (kept with its history until its retention ends). */
struct dtarget {
	struct watch w;
	int pidfd;
	int alive;
	int oom_snapshot; /* its OOM kill was snapshotted: the kernel may report it twice */
	__u64 attach_ns;  /* wall clock */
	__u64 exit_ns;
	__u64 last_drain_ns;
	struct cgroup_info cg;
	char exe[256];
	char comm[32];
	uid_t owner; /* who besides root may read it (peer__pid_owner at attach); 0: root only */
	struct entry_set cur;  /* cumulative, as of the last drain */
	__u64 pushed_until_ns; /* --push: the intervals up to here were queued */
	char service[128];     /* --push: the service_name (push_series.h) */
	char pod[128];	       /* from the environment, "" when unknown */
	char namespace[128];
	char container[128];
	struct history *hist;
};

/* For /metrics. */
struct scoped_stats {
	__u64 drains;
	__u64 last_drain_mono_ns;
	__u64 drain_ns_last;
	__u64 drain_ns_total;
	__u64 snapshots_dropped;
	__u64 targets_released;
	__u64 exited_dropped; /* exited processes released early: over --max-exited */
	__u64 attach_failures;
	__u64 stacks_collected;
	/* Written by the main loop after each of its drains, and the interval then: atomic, read
	 * by /healthz without the lock. */
	__u64 loop_drain_mono_ns;
	__u64 interval_ns;
	struct exec_attach_hist exec_attach; /* atomic too: see metrics.h */
};

struct scoped {
	pthread_mutex_t lock;
	struct scoped_opts *o;
	struct alloc_probes *ap;
	struct overhead *ov; /* the overhead budget (--max-overhead) */
	struct symbolizer *sym;
	struct stack_cache *cache;
	struct unwinder *uw;	   /* CFI samples; NULL with --unwind fp */
	struct wrappers *wrappers; /* --wrapper: frames that count as the allocator's */
	struct httpd *http;
	struct pusher *pusher;
	struct push_queue *push_q; /* with --push: the thread that sends */
	struct proc_select *select;
	/* The exec thread (exec_thread.c): its own selector state (select's caches are not
	 * shared), the selectors read under sel_lock (a reload writes them), and the pid each
	 * side is attaching, under claim_lock, so that no process is probed twice. */
	struct proc_select *exec_select;
	pthread_rwlock_t sel_lock;
	pthread_mutex_t claim_lock;
	int exec_claim;
	int main_claim;
	pthread_t exec_tid;
	int exec_stop_fd;
	int exec_running;
	struct capture *capture; /* heap snapshots (capture.c) */
	struct dtarget **t;
	size_t cnt;
	size_t cap;
	/* The alive targets by pid (htab__hash_u64 of the pid is the key; the value a struct
	 * dtarget *): looked up on every GC, lifecycle and CFI event. */
	struct htab alive;
	char host[256];
	char cgroup_ns_root[CGROUP_PATH_MAX]; /* cgroup__ns_root(): "" in the host's namespace */
	int forgotten;			      /* processes forgotten since the last stack GC */
	struct scoped_stats stats;
};

/* All with the lock held. */

/* targets.c: the targets' lifecycle. */
/* Whether viewer (0: root or a token: everything) may read t: a local user only the processes
 * it could ptrace, judged at attach and again while the process lives. */
int scoped__target_visible(const struct dtarget *t, uid_t viewer);
/* The rate t's totals are scaled by: the Go runtime's own, or --rate; 1 for a process's own
 * sampler (its weights are unsampled already). */
__u64 scoped__target_rate(const struct scoped *d, const struct dtarget *t);
/* The unsampled totals of t's entries as of the last drain, as its heap profile shows them. */
void scoped__target_estimate(const struct scoped *d, const struct dtarget *t,
			     struct heap_estimate *out);
struct dtarget *scoped__find_alive(struct scoped *d, int pid);
/* Whether a selector of the options selects pid now. */
bool scoped__selected(struct scoped *d, int pid);
/* Watch every process of /proc that a selector matches. */
void scoped__scan(struct scoped *d);
/* The process is gone or exec'ed: keep its history, drop its kernel state. */
void scoped__target_ended(struct scoped *d, struct dtarget *t);
/* Handle the BPF side's GC events (and exec/fork events when no exec thread reads them). */
void scoped__poll_events(struct scoped *d);
/* One exec/fork event, handled under the lock. */
void scoped__on_life(struct scoped *d, const struct life_event *e);
/* Watch pid, matched at exec, whose probes the exec thread put in place (pl's links: adopted,
 * or left in pl for the caller to release); pre (taken over): what the exec thread read of it
 * once they were live, so that a process gone by now keeps what they saw. */
int scoped__watch_prelinked(struct scoped *d, int pid, struct alloc_prelink *pl,
			    struct dtarget *pre);
/* A new target of pid, not yet watched: its names, owner and cgroup and, with_maps, its
 * executable and maps (target__init). Needs no lock. NULL when out of memory or gone. */
struct dtarget *dtarget__prepare(struct scoped *d, int pid, int with_maps);
/* alloc_probes' unwind callback; ctx is the struct scoped. */
int scoped__on_unwind(void *ctx, const void *data, size_t len);
void dtarget__free(struct dtarget *t); /* accepts NULL */

/* drain.c: the kernel maps into every live target's entries and history, then expiry. */
void scoped__drain(struct scoped *d);

#endif
