/* SPDX-License-Identifier: MIT */
/* --push on every interval: the profile of each target's snapshots not pushed yet, built under
 * the state's lock, then sent through push.c without it (the network may be slow). */
#ifndef ALLOCSCOPE_PUSH_BATCH_H
#define ALLOCSCOPE_PUSH_BATCH_H

struct scoped;
struct push_batch;

/* With d's lock held. Marks what it takes as pushed, sent or not: an interval is never sent
 * twice. NULL when out of memory. */
struct push_batch *push_batch__prepare(struct scoped *d);
/* Without the lock: send each profile to d's pusher, count it, free the batch (NULL: nothing). */
void push_batch__send(struct push_batch *b, struct scoped *d);

#endif
