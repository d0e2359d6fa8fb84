/* SPDX-License-Identifier: MIT */
/* allocscoped's state, shared inside service/ only: the loop (scoped.c) owns it, the HTTP
 * handlers (api.c) and push (push_batch.c) are handed it. One instance, made by scoped__run()
 * and passed explicitly; every field is read and written under lock. */
#ifndef ALLOCSCOPE_STATE_H
#define ALLOCSCOPE_STATE_H

#include <pthread.h>
#include <linux/types.h>

#include "probe/collect.h"
#include "probe/watch.h"
#include "service/cgroup.h"
#include "service/history.h"
#include "service/scoped.h"

/* A watched process, alive or exited (kept with its history until its retention ends). */
struct dtarget {
	struct watch w;
	int pidfd;
	int alive;
	__u64 attach_ns; /* wall clock */
	__u64 exit_ns;
	__u64 last_drain_ns;
	struct cgroup_info cg;
	char exe[256];
	char comm[32];
	struct entry_set cur;  /* cumulative, as of the last drain */
	__u64 pushed_until_ns; /* --push: snapshots up to here were sent */
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
	__u64 pushes;	     /* atomic: counted without the lock */
	__u64 push_failures; /* atomic */
};

struct scoped {
	pthread_mutex_t lock;
	struct scoped_opts *o;
	struct alloc_probes *ap;
	struct symbolizer *sym;
	struct stack_cache *cache;
	struct unwinder *uw; /* CFI samples; NULL with --unwind fp */
	struct httpd *http;
	struct pusher *pusher;
	struct proc_select *select;
	struct dtarget **t;
	size_t cnt;
	size_t cap;
	char host[256];
	int forgotten; /* processes forgotten since the last stack GC */
	struct scoped_stats stats;
};

/* Drain the kernel maps into every target's entries and history, then expire; with the lock
 * held (scoped.c). */
void scoped__drain(struct scoped *d);

#endif
