/* SPDX-License-Identifier: MIT */
/* --push's own thread: a bounded queue of profiles, sent oldest first, retried with exponential
 * backoff while the receiver fails, the oldest dropped (and counted) when the queue is full, and
 * a flush bounded in time at exit. Whoever adds never waits on the network. */
#ifndef ALLOCSCOPE_PUSH_QUEUE_H
#define ALLOCSCOPE_PUSH_QUEUE_H

#include <stddef.h>
#include <linux/types.h>

#include "service/push.h"

/* allocscoped's backoff: 0.5 s, 1 s, 2 s ... 30 s between tries of one profile. */
#define PUSH_BACKOFF_MIN_MS 500
#define PUSH_BACKOFF_MAX_MS 30000

struct push_queue_opts {
	size_t max_queued;   /* profiles waiting, the one being sent not counted */
	long backoff_min_ms; /* the first retry's wait, doubled each time */
	long backoff_max_ms; /* and never more */
	/* Send one request; called on the queue's thread only. */
	enum push_result (*send)(void *ctx, const struct push_request *r, const int *abort_flag);
	void *ctx;
};

struct push_queue_stats {
	__u64 sent;
	__u64 retried;		/* sends that failed and were tried again */
	__u64 dropped_full;	/* the oldest, over max_queued */
	__u64 dropped_refused;	/* the receiver refused them */
	__u64 dropped_shutdown; /* not sent before the flush at exit ended */
	__u64 queued;		/* waiting now, the one being sent included */
};

struct push_queue;

/* Starts the thread. NULL and errno on failure. */
struct push_queue *push_queue__new(const struct push_queue_opts *opts);
/* Queue r (the queue owns it from now on, even on failure). Never blocks on the network. */
void push_queue__add(struct push_queue *q, struct push_request *r);
void push_queue__stats(struct push_queue *q, struct push_queue_stats *out);
/* Send what is queued until timeout_ms has passed (no backoff wait goes past it), then abort
 * the request in flight, drop what is left (counted), stop the thread and free q. */
void push_queue__flush_free(struct push_queue *q, long timeout_ms);

#endif
