// SPDX-License-Identifier: MIT
/* The per-file probe plans: a small array searched linearly (a few hundred files at most, each
 * lookup far cheaper than the ELF and decoding work it saves), one mutex, LRU by a use stamp. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "probe/plan_cache.h"

struct plan_entry {
	struct plan_key key;
	struct file_plan plan;
	__u64 used; /* the stamp of its last use; 0: a free slot */
};

struct plan_cache {
	pthread_mutex_t lock;
	struct plan_entry *v;
	size_t max;
	size_t cnt;
	__u64 clock;
	__u64 hits, misses, evictions;
};

void plan_key__from_stat(const struct stat *st, struct plan_key *k)
{
	memset(k, 0, sizeof(*k));
	k->dev = st->st_dev;
	k->ino = st->st_ino;
	k->size = st->st_size;
	k->mtime_sec = st->st_mtim.tv_sec;
	k->mtime_nsec = st->st_mtim.tv_nsec;
}

static int key_eq(const struct plan_key *a, const struct plan_key *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec;
}

struct plan_cache *plan_cache__new(size_t max_entries)
{
	struct plan_cache *c;

	if (!max_entries) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->v = calloc(max_entries, sizeof(*c->v));
	if (!c->v) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->max = max_entries;
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void plan_cache__free(struct plan_cache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c->v);
	free(c);
}

/* The entry of k, or NULL; with the lock held. */
static struct plan_entry *find(struct plan_cache *c, const struct plan_key *k)
{
	for (size_t i = 0; i < c->cnt; i++)
		if (key_eq(&c->v[i].key, k))
			return &c->v[i];
	return NULL;
}

int plan_cache__get(struct plan_cache *c, const struct plan_key *k, struct file_plan *out)
{
	struct plan_entry *e;

	pthread_mutex_lock(&c->lock);
	e = find(c, k);
	if (e) {
		e->used = ++c->clock;
		*out = e->plan;
		c->hits++;
	} else {
		c->misses++;
	}
	pthread_mutex_unlock(&c->lock);
	return e != NULL;
}

void plan_cache__put(struct plan_cache *c, const struct plan_key *k, const struct file_plan *p)
{
	struct plan_entry *e;

	pthread_mutex_lock(&c->lock);
	e = find(c, k);
	if (!e && c->cnt < c->max) {
		e = &c->v[c->cnt++];
	} else if (!e) {
		e = &c->v[0];
		for (size_t i = 1; i < c->cnt; i++)
			if (c->v[i].used < e->used)
				e = &c->v[i];
		c->evictions++;
	}
	e->key = *k;
	e->plan = *p;
	e->used = ++c->clock;
	pthread_mutex_unlock(&c->lock);
}

size_t plan_cache__count(struct plan_cache *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->cnt;
	pthread_mutex_unlock(&c->lock);
	return n;
}

void plan_cache__stats(struct plan_cache *c, __u64 *hits, __u64 *misses, __u64 *evictions)
{
	pthread_mutex_lock(&c->lock);
	*hits = c->hits;
	*misses = c->misses;
	*evictions = c->evictions;
	pthread_mutex_unlock(&c->lock);
}
