/* SPDX-License-Identifier: MIT */
/* --push on every interval: for each target, the interval's allocations and the in-use at its
 * end as one profile, named as its series (push_series.h), built under the state's lock and
 * handed to the push thread's queue (push_queue.h), which sends it without the lock. */
#ifndef ALLOCSCOPE_PUSH_BATCH_H
#define ALLOCSCOPE_PUSH_BATCH_H

struct scoped;
struct dtarget;

/* With d's lock held: queue the profile of each target's intervals not queued yet. An interval
 * is queued once, sent or not: Pyroscope would count it twice. */
void push_batch__queue(struct scoped *d);
/* With d's lock held: the service_name and the pod, namespace and container names of t, alive
 * (at attach, and again when the config file is reloaded). */
void push_batch__identify(struct scoped *d, struct dtarget *t);

#endif
