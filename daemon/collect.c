// SPDX-License-Identifier: MIT
/* Drains bpf/alloc.bpf.c's stats and stack maps into user-space entries. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "collect.h"
#include "common.h"
#include "log.h"

struct stack_cache {
	struct stack **by_id; /* indexed by stack id; ids are below alloc_probes__stack_id_space */
	size_t cap;
	size_t cnt;
};

struct stack *stack__get(struct stack *s)
{
	if (s)
		s->refs++;
	return s;
}

void stack__put(struct stack *s)
{
	if (s && --s->refs == 0)
		free(s);
}

struct stack_cache *stack_cache__new(void)
{
	return calloc(1, sizeof(struct stack_cache));
}

void stack_cache__free(struct stack_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->cap; i++)
		stack__put(c->by_id[i]);
	free(c->by_id);
	free(c);
}

size_t stack_cache__size(const struct stack_cache *c)
{
	return c->cnt;
}

static struct stack *cache_lookup(struct stack_cache *c, int stacks_fd, __s32 id)
{
	struct stack_val v = {};
	struct stack *s;
	__u32 nr = 0;

	if (id < 0)
		return NULL;
	if ((size_t)id < c->cap && c->by_id[id])
		return c->by_id[id];
	if (bpf_map_lookup_elem(stacks_fd, &id, &v))
		return NULL;
	while (nr < ALLOC_MAX_STACK_DEPTH && v.ips[nr])
		nr++;
	if ((size_t)id >= c->cap) {
		size_t cap = max_t(size_t, (size_t)id + 1, c->cap * 2);
		struct stack **n = realloc(c->by_id, cap * sizeof(*n));

		if (!n)
			return NULL;
		memset(n + c->cap, 0, (cap - c->cap) * sizeof(*n));
		c->by_id = n;
		c->cap = cap;
	}
	s = malloc(sizeof(*s) + nr * sizeof(__u64));
	if (!s)
		return NULL;
	s->refs = 1; /* the cache's */
	s->nr = nr;
	memcpy(s->ips, v.ips, nr * sizeof(__u64));
	c->by_id[id] = s;
	c->cnt++;
	return s;
}

int entry_set__add(struct entry_set *s, const struct alloc_entry *e)
{
	if (s->cnt == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct alloc_entry *n = realloc(s->e, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->e = n;
		s->cap = cap;
	}
	s->e[s->cnt] = *e;
	stack__get(e->stack);
	s->cnt++;
	return 0;
}

void entry_set__clear(struct entry_set *s)
{
	for (size_t i = 0; i < s->cnt; i++)
		stack__put(s->e[i].stack);
	free(s->e);
	memset(s, 0, sizeof(*s));
}

int collect__read(struct alloc_probes *ap, struct stack_cache *cache,
		  struct entry_set *(*set_for)(void *ctx, __u32 tgid), void *ctx)
{
	int stats_fd = alloc_probes__stats_fd(ap), stacks_fd = alloc_probes__stacks_fd(ap);
	struct alloc_key key, next, *prev = NULL;
	struct alloc_entry e;
	int err;

	while (bpf_map_get_next_key(stats_fd, prev, &next) == 0) {
		struct entry_set *set;

		key = next;
		prev = &key;
		set = set_for(ctx, key.tgid);
		if (!set)
			continue;
		if (bpf_map_lookup_elem(stats_fd, &key, &e.stats))
			continue; /* deleted meanwhile */
		e.key = key;
		e.stack = cache_lookup(cache, stacks_fd, key.stack_id);
		err = entry_set__add(set, &e);
		if (err)
			return err;
	}
	return 0;
}

/* Delete every key of map fd whose tgid (read by tgid_of) is tgid. Keys are collected first:
 * deleting while walking with get_next_key restarts the walk. */
static void delete_keys(int fd, size_t key_size, __u32 tgid, __u32 (*tgid_of)(const void *key))
{
	__u8 *keys = NULL, *n, key[64], next[64];
	size_t cnt = 0, cap = 0;
	void *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, key_size);
		prev = key;
		if (tgid_of(key) != tgid)
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 256;
			n = realloc(keys, cap * key_size);
			if (!n)
				break;
			keys = n;
		}
		memcpy(keys + cnt++ * key_size, key, key_size);
	}
	for (size_t i = 0; i < cnt; i++)
		bpf_map_delete_elem(fd, keys + i * key_size);
	free(keys);
}

static __u32 stats_tgid(const void *k)
{
	return ((const struct alloc_key *)k)->tgid;
}

static __u32 live_tgid(const void *k)
{
	return ((const struct live_key *)k)->tgid;
}

void collect__forget_pid(struct alloc_probes *ap, __u32 tgid)
{
	delete_keys(alloc_probes__stats_fd(ap), sizeof(struct alloc_key), tgid, stats_tgid);
	delete_keys(alloc_probes__live_fd(ap), sizeof(struct live_key), tgid, live_tgid);
	alloc_probes__forget_totals(ap, tgid);
}

int collect__gc_stacks(struct alloc_probes *ap, struct stack_cache *cache)
{
	int stats_fd = alloc_probes__stats_fd(ap), stacks_fd = alloc_probes__stacks_fd(ap);
	struct alloc_key key, next, *prev = NULL;
	__u8 *used = NULL;
	__u32 id, nid, *pid = NULL, max = alloc_probes__stack_id_space(ap);
	int deleted = 0;

	used = calloc(max ? max : 1, 1);
	if (!used)
		return -ENOMEM;
	while (bpf_map_get_next_key(stats_fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (key.stack_id >= 0 && (__u32)key.stack_id < max)
			used[key.stack_id] = 1;
	}
	/* Collect the ids first: deleting while walking restarts the walk. */
	{
		__u32 *dead = NULL, cnt = 0, cap = 0, *n;

		while (bpf_map_get_next_key(stacks_fd, pid, &nid) == 0) {
			id = nid;
			pid = &id;
			if (id < max && used[id])
				continue;
			if (cnt == cap) {
				cap = cap ? cap * 2 : 256;
				n = realloc(dead, cap * sizeof(*n));
				if (!n)
					break;
				dead = n;
			}
			dead[cnt++] = id;
		}
		for (__u32 i = 0; i < cnt; i++) {
			if (bpf_map_delete_elem(stacks_fd, &dead[i]))
				continue;
			deleted++;
			if (dead[i] < cache->cap && cache->by_id[dead[i]]) {
				stack__put(cache->by_id[dead[i]]);
				cache->by_id[dead[i]] = NULL;
				cache->cnt--;
			}
		}
		free(dead);
	}
	free(used);
	return deleted;
}
