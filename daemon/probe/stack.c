// SPDX-License-Identifier: MIT
/* Reference-counted stacks over one table of interned frames. The table only grows: an index
 * handed out stays valid for the life of the process, so stacks need not refer to it. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "probe/stack.h"
#include "util/htab.h"

/* Frames live in fixed chunks that never move, so a frame is read without the lock: its index
 * came with a stack made after the frame was stored, and handed over under the caller's own
 * synchronisation. */
#define CHUNK_SHIFT 12
#define CHUNK_SIZE  (1u << CHUNK_SHIFT)
#define MAX_CHUNKS  (1u << 16) /* 2^28 distinct frames */

static struct {
	pthread_mutex_t lock;
	struct htab by_ip; /* htab__hash_u64(ip) (a bijection, so the key itself) -> index */
	__u64 *chunks[MAX_CHUNKS];
	__u32 cnt;
} frames = {.lock = PTHREAD_MUTEX_INITIALIZER};

static inline __u64 frame_at(__u32 idx)
{
	return frames.chunks[idx >> CHUNK_SHIFT][idx & (CHUNK_SIZE - 1)];
}

/* The index of ip, stored when new; -ENOMEM (or -E2BIG past MAX_CHUNKS) on failure. Under the
 * lock. */
static long intern(__u64 ip)
{
	__u64 h = htab__hash_u64(ip);
	__u32 idx = frames.cnt;
	uintptr_t val;

	if (htab__find(&frames.by_ip, h, NULL, NULL, NULL, &val))
		return (long)val;
	if (!(idx & (CHUNK_SIZE - 1))) {
		if ((idx >> CHUNK_SHIFT) >= MAX_CHUNKS)
			return -E2BIG;
		if (!frames.chunks[idx >> CHUNK_SHIFT]) {
			frames.chunks[idx >> CHUNK_SHIFT] = malloc(CHUNK_SIZE * sizeof(__u64));
			if (!frames.chunks[idx >> CHUNK_SHIFT])
				return -ENOMEM;
		}
	}
	if (htab__set(&frames.by_ip, h, NULL, NULL, NULL, idx))
		return -ENOMEM;
	frames.chunks[idx >> CHUNK_SHIFT][idx & (CHUNK_SIZE - 1)] = ip;
	frames.cnt++;
	return idx;
}

struct stack *stack__new(const __u64 *ips, __u32 nr)
{
	struct stack *s = malloc(sizeof(*s) + (size_t)nr * sizeof(s->frames[0]));
	long idx = 0;

	if (!s)
		return NULL;
	s->refs = 1;
	s->nr = nr;
	pthread_mutex_lock(&frames.lock);
	for (__u32 i = 0; i < nr && idx >= 0; i++) {
		idx = intern(ips[i]);
		s->frames[i] = (__u32)idx;
	}
	pthread_mutex_unlock(&frames.lock);
	if (idx < 0) {
		free(s);
		errno = (int)-idx;
		return NULL;
	}
	return s;
}

/* Atomic: a seconds= window is summed off the daemon's lock (api.c), taking references to
 * stacks that drains hold too. */
struct stack *stack__get(struct stack *s)
{
	if (s)
		__atomic_fetch_add(&s->refs, 1, __ATOMIC_RELAXED);
	return s;
}

void stack__put(struct stack *s)
{
	if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(s);
}

__u64 stack__ip(const struct stack *s, __u32 i)
{
	return frame_at(s->frames[i]);
}

void stack__ips(const struct stack *s, __u64 *out)
{
	for (__u32 i = 0; i < s->nr; i++)
		out[i] = frame_at(s->frames[i]);
}

bool stack__equal(const struct stack *s, const __u64 *ips, __u32 nr)
{
	if (s->nr != nr)
		return false;
	for (__u32 i = 0; i < nr; i++)
		if (frame_at(s->frames[i]) != ips[i])
			return false;
	return true;
}

size_t stack__frame_count(void)
{
	size_t n;

	pthread_mutex_lock(&frames.lock);
	n = frames.cnt;
	pthread_mutex_unlock(&frames.lock);
	return n;
}
