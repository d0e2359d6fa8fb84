// SPDX-License-Identifier: MIT
/* A ring of pending profiles under one mutex, and the thread that empties it. The thread holds
 * the lock only to take a profile or count: sending and backoff waits happen without it. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "service/push_queue.h"
#include "util/common.h"
#include "util/thread.h"

struct push_queue {
	struct push_queue_opts o;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* to the thread: work, stop, abort */
	pthread_cond_t done; /* from the thread: it has ended */
	struct push_request **ring;
	size_t head;
	size_t cnt;
	int in_flight;
	int stopping; /* flush: no more adds, end once empty */
	int abort;    /* the flush's time is up: atomic, read by the HTTP client's callback */
	int ended;
	struct push_queue_stats st;
};

static struct timespec mono_at(__u64 ns)
{
	return (struct timespec){.tv_sec = ns / NSEC_PER_SEC, .tv_nsec = ns % NSEC_PER_SEC};
}

static int aborted(struct push_queue *q)
{
	return __atomic_load_n(&q->abort, __ATOMIC_RELAXED);
}

/* Send r until it is sent, refused or the flush ends; count how it went. */
static void deliver(struct push_queue *q, struct push_request *r)
{
	long backoff_ms = q->o.backoff_min_ms;
	enum push_result res;

	for (;;) {
		res = aborted(q) ? PUSH_ABORTED : q->o.send(q->o.ctx, r, &q->abort);
		pthread_mutex_lock(&q->lock);
		if (res == PUSH_RETRY && aborted(q))
			res = PUSH_ABORTED;
		switch (res) {
		case PUSH_SENT:
			q->st.sent++;
			break;
		case PUSH_REFUSED:
			q->st.dropped_refused++;
			break;
		case PUSH_ABORTED:
			q->st.dropped_shutdown++;
			break;
		case PUSH_RETRY: {
			struct timespec until = mono_at(now_mono_ns() + backoff_ms * NSEC_PER_MSEC);

			q->st.retried++;
			/* The flush's abort wakes this wait: no backoff outlasts it. */
			while (!aborted(q) &&
			       pthread_cond_timedwait(&q->wake, &q->lock, &until) != ETIMEDOUT)
				;
			backoff_ms = backoff_ms * 2 > q->o.backoff_max_ms ? q->o.backoff_max_ms
									  : backoff_ms * 2;
			break;
		}
		}
		pthread_mutex_unlock(&q->lock);
		if (res != PUSH_RETRY)
			return;
	}
}

static void *run(void *arg)
{
	struct push_queue *q = arg;
	struct push_request *r;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->cnt && !q->stopping)
			pthread_cond_wait(&q->wake, &q->lock);
		if (!q->cnt)
			break;
		r = q->ring[q->head];
		q->head = (q->head + 1) % q->o.max_queued;
		q->cnt--;
		q->in_flight = 1;
		pthread_mutex_unlock(&q->lock);
		deliver(q, r);
		push_request__free(r);
		pthread_mutex_lock(&q->lock);
		q->in_flight = 0;
	}
	q->ended = 1;
	pthread_cond_broadcast(&q->done);
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

struct push_queue *push_queue__new(const struct push_queue_opts *opts)
{
	struct push_queue *q = calloc(1, sizeof(*q));
	pthread_condattr_t ca;
	int err;

	if (!q)
		return NULL;
	q->o = *opts;
	if (!q->o.max_queued)
		q->o.max_queued = 1;
	q->ring = calloc(q->o.max_queued, sizeof(*q->ring));
	if (!q->ring) {
		free(q);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->wake, &ca);
	pthread_cond_init(&q->done, &ca);
	pthread_condattr_destroy(&ca);
	err = thread_start(&q->thread, run, q);
	if (err) {
		pthread_cond_destroy(&q->wake);
		pthread_cond_destroy(&q->done);
		pthread_mutex_destroy(&q->lock);
		free(q->ring);
		free(q);
		errno = err;
		return NULL;
	}
	return q;
}

void push_queue__add(struct push_queue *q, struct push_request *r)
{
	struct push_request *old = NULL;

	pthread_mutex_lock(&q->lock);
	if (q->stopping) {
		q->st.dropped_shutdown++;
		old = r;
		goto unlock;
	}
	if (q->cnt == q->o.max_queued) {
		/* Full: the oldest goes, so that what is kept is the most recent history. */
		old = q->ring[q->head];
		q->head = (q->head + 1) % q->o.max_queued;
		q->cnt--;
		q->st.dropped_full++;
	}
	q->ring[(q->head + q->cnt) % q->o.max_queued] = r;
	q->cnt++;
	pthread_cond_signal(&q->wake);
unlock:
	pthread_mutex_unlock(&q->lock);
	push_request__free(old);
}

void push_queue__stats(struct push_queue *q, struct push_queue_stats *out)
{
	pthread_mutex_lock(&q->lock);
	*out = q->st;
	out->queued = q->cnt + q->in_flight;
	pthread_mutex_unlock(&q->lock);
}

void push_queue__flush_free(struct push_queue *q, long timeout_ms)
{
	struct timespec until = mono_at(now_mono_ns() + timeout_ms * NSEC_PER_MSEC);

	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = 1;
	pthread_cond_broadcast(&q->wake);
	while (!q->ended && pthread_cond_timedwait(&q->done, &q->lock, &until) != ETIMEDOUT)
		;
	if (!q->ended) {
		/* Time is up: the request in flight ends at the HTTP client's next progress check
		 * (within a second), the rest is dropped unsent. */
		__atomic_store_n(&q->abort, 1, __ATOMIC_RELAXED);
		pthread_cond_broadcast(&q->wake);
	}
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	pthread_cond_destroy(&q->wake);
	pthread_cond_destroy(&q->done);
	pthread_mutex_destroy(&q->lock);
	free(q->ring);
	free(q);
}
