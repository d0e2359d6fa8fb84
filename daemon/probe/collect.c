// SPDX-License-Identifier: MIT
/* Drains bpf/alloc.bpf.c's stats and stack maps into user-space entries. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "probe/bpfmap.h"
#include "probe/collect.h"
#include "util/common.h"
#include "util/log.h"
#include "util/varint.h"

struct stack_cache {
	struct stack **by_id; /* indexed by stack id; ids are below alloc_probes__stack_id_space */
	size_t cap;
	size_t cnt;
};

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
	s = stack__new(v.ips, nr); /* the cache's reference */
	if (!s)
		return NULL;
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

bool entry_set__has_pending(const struct entry_set *s)
{
	for (size_t i = 0; i < s->cnt; i++)
		if (s->e[i].key.duty == DUTY_PENDING)
			return true;
	return false;
}

void entry_set__resolve_pending(struct entry_set *s, __u16 key)
{
	size_t j = 0;

	for (size_t i = 0; i < s->cnt; i++) {
		struct alloc_entry *e = &s->e[i];

		if (e->key.duty == DUTY_PENDING) {
			if (!key) {
				stack__put(e->stack);
				continue;
			}
			e->key.duty = key;
		}
		s->e[j++] = *e;
	}
	s->cnt = j;
}

/* ---- packed sets ---- */

/* Signed differences as unsigned varints: small either way (protobuf's sint64). */
static __u64 zigzag(__s64 v)
{
	return ((__u64)v << 1) ^ (__u64)(v >> 63);
}

static __s64 unzigzag(__u64 v)
{
	return (__s64)(v >> 1) ^ -(__s64)(v & 1);
}

/*
 * One entry: a mask of the fields that are not zero among those mostly zero in a drain, then
 * the fields always written, then those the mask names, each a varint. The key's pid, stack id
 * and caller hint and the stack's address are differences from the entry before (entries come
 * sorted by key); the address in units of malloc's alignment, for struct stack comes from malloc.
 */
enum {
	PACKED_F_TGID = 1 << 0,	     /* the pid differs from the entry before */
	PACKED_F_PAD = 1 << 1,	     /* key.pad */
	PACKED_F_HINT = 1 << 2,	     /* key.caller_hint */
	PACKED_F_SIZE = 1 << 3,	     /* key.size */
	PACKED_F_FREES = 1 << 4,     /* free_cnt, free_bytes */
	PACKED_F_UNTRACKED = 1 << 5, /* untracked_cnt, untracked_bytes */
};

#define PACKED_ALIGN   _Alignof(max_align_t)
#define PACKED_FIELDS  14 /* the mask and every field */
#define PACKED_MAX_LEN (PACKED_FIELDS * UVARINT_MAX_LEN)

static __u64 stack_step(const struct stack *s, const struct stack *prev)
{
	return zigzag(((__s64)(uintptr_t)s - (__s64)(uintptr_t)prev) / (__s64)PACKED_ALIGN);
}

int packed_set__append(struct packed_set *p, const struct alloc_entry *e)
{
	const struct alloc_key *k = &e->key, *pk = &p->last;
	__u64 f[PACKED_FIELDS];
	unsigned mask = 0;
	int n = 1;

	if (p->len + PACKED_MAX_LEN > p->cap) {
		size_t cap = max_t(size_t, p->cap * 2, 256);
		__u8 *b = realloc(p->buf, cap);

		if (!b)
			return -ENOMEM;
		p->buf = b;
		p->cap = cap;
	}
	f[n++] = zigzag((__s64)k->stack_id - (__s64)pk->stack_id);
	f[n++] = k->kind | (__u32)k->duty << 16;
	f[n++] = e->stats.alloc_cnt;
	f[n++] = e->stats.alloc_bytes;
	f[n++] = stack_step(e->stack, p->last_stack);
	if (k->tgid != pk->tgid) {
		mask |= PACKED_F_TGID;
		f[n++] = zigzag((__s64)k->tgid - (__s64)pk->tgid);
	}
	if (k->pad) {
		mask |= PACKED_F_PAD;
		f[n++] = k->pad;
	}
	if (k->caller_hint) {
		/* Relative to the entry before's (0 when it had none): mostly one program's text.
		 */
		mask |= PACKED_F_HINT;
		f[n++] = zigzag((__s64)(k->caller_hint - pk->caller_hint));
	}
	if (k->size) {
		mask |= PACKED_F_SIZE;
		f[n++] = k->size;
	}
	if (e->stats.free_cnt || e->stats.free_bytes) {
		mask |= PACKED_F_FREES;
		f[n++] = e->stats.free_cnt;
		f[n++] = e->stats.free_bytes;
	}
	if (e->stats.untracked_cnt || e->stats.untracked_bytes) {
		mask |= PACKED_F_UNTRACKED;
		f[n++] = e->stats.untracked_cnt;
		f[n++] = e->stats.untracked_bytes;
	}
	f[0] = mask;
	for (int i = 0; i < n; i++)
		p->len += uvarint_put(p->buf + p->len, f[i]);
	p->last = e->key;
	p->last_stack = e->stack;
	stack__get(e->stack);
	p->cnt++;
	return 0;
}

void packed_set__shrink(struct packed_set *p)
{
	__u8 *n;

	if (!p->len || p->len == p->cap)
		return;
	n = realloc(p->buf, p->len);
	if (n) {
		p->buf = n;
		p->cap = p->len;
	}
}

int packed_set__pack(struct packed_set *p, const struct entry_set *s)
{
	*p = (struct packed_set){};
	for (size_t i = 0; i < s->cnt; i++) {
		if (packed_set__append(p, &s->e[i])) {
			packed_set__clear(p);
			return -ENOMEM;
		}
	}
	packed_set__shrink(p);
	return 0;
}

/* A count and its bytes when present (else left as they are); false past the end. */
static bool read_pair(const struct packed_set *p, __u64 *pos, bool present, __u64 *cnt,
		      __u64 *bytes)
{
	return !present ||
	       (uvarint(p->buf, p->len, pos, cnt) && uvarint(p->buf, p->len, pos, bytes));
}

/* The entry at *pos, relative to prev (NULL for the first); false past the end. */
static bool unpack_one(const struct packed_set *p, __u64 *pos, const struct alloc_entry *prev,
		       struct alloc_entry *e)
{
	static const struct alloc_entry none;
	__u64 mask, v[5], x;

	if (!prev)
		prev = &none;
	if (!uvarint(p->buf, p->len, pos, &mask))
		return false;
	for (int i = 0; i < 5; i++)
		if (!uvarint(p->buf, p->len, pos, &v[i]))
			return false;
	memset(e, 0, sizeof(*e));
	e->key.stack_id = (__s32)(unzigzag(v[0]) + (__s64)prev->key.stack_id);
	e->key.kind = (__u16)v[1];
	e->key.duty = (__u16)(v[1] >> 16);
	e->stats.alloc_cnt = v[2];
	e->stats.alloc_bytes = v[3];
	e->stack = (struct stack *)(uintptr_t)((__s64)(uintptr_t)prev->stack +
					       unzigzag(v[4]) * (__s64)PACKED_ALIGN);
	e->key.tgid = prev->key.tgid;
	if (mask & PACKED_F_TGID) {
		if (!uvarint(p->buf, p->len, pos, &x))
			return false;
		e->key.tgid = (__u32)(unzigzag(x) + (__s64)prev->key.tgid);
	}
	if (mask & PACKED_F_PAD) {
		if (!uvarint(p->buf, p->len, pos, &x))
			return false;
		e->key.pad = (__u32)x;
	}
	if (mask & PACKED_F_HINT) {
		if (!uvarint(p->buf, p->len, pos, &x))
			return false;
		e->key.caller_hint = prev->key.caller_hint + (__u64)unzigzag(x);
	}
	if ((mask & PACKED_F_SIZE) && !uvarint(p->buf, p->len, pos, &e->key.size))
		return false;
	return read_pair(p, pos, mask & PACKED_F_FREES, &e->stats.free_cnt, &e->stats.free_bytes) &&
	       read_pair(p, pos, mask & PACKED_F_UNTRACKED, &e->stats.untracked_cnt,
			 &e->stats.untracked_bytes);
}

int packed_set__unpack(const struct packed_set *p, struct entry_set *out)
{
	struct alloc_entry e, prev;
	__u64 pos = 0;
	int err;

	for (size_t i = 0; i < p->cnt; i++) {
		if (!unpack_one(p, &pos, i ? &prev : NULL, &e))
			return -EBADMSG; /* cannot happen: we wrote it */
		err = entry_set__add(out, &e);
		if (err)
			return err;
		prev = e;
	}
	return 0;
}

void packed_iter__init(struct packed_iter *it, const struct packed_set *p)
{
	memset(it, 0, sizeof(*it));
	it->p = p;
}

bool packed_iter__next(struct packed_iter *it)
{
	struct alloc_entry prev = it->cur;

	if (it->i >= it->p->cnt || !unpack_one(it->p, &it->pos, it->i ? &prev : NULL, &it->cur))
		return false;
	it->i++;
	return true;
}

void packed_set__clear(struct packed_set *p)
{
	struct alloc_entry e, prev;
	__u64 pos = 0;

	for (size_t i = 0; i < p->cnt; i++) {
		if (!unpack_one(p, &pos, i ? &prev : NULL, &e))
			break;
		stack__put(e.stack);
		prev = e;
	}
	free(p->buf);
	*p = (struct packed_set){};
}

/* ---- reading the kernel maps ---- */

struct read_ctx {
	struct stack_cache *cache;
	int stacks_fd;
	struct entry_set *(*set_for)(void *ctx, __u32 tgid);
	void *ctx;
};

static int read_one(const void *key, const void *value, void *ctx)
{
	struct read_ctx *rc = ctx;
	struct alloc_entry e;
	struct entry_set *set;

	memcpy(&e.key, key, sizeof(e.key));
	set = rc->set_for(rc->ctx, e.key.tgid);
	if (!set)
		return 0;
	memcpy(&e.stats, value, sizeof(e.stats));
	e.stack = cache_lookup(rc->cache, rc->stacks_fd, e.key.stack_id);
	return entry_set__add(set, &e);
}

int collect__read(struct alloc_probes *ap, struct stack_cache *cache,
		  struct entry_set *(*set_for)(void *ctx, __u32 tgid), void *ctx)
{
	struct read_ctx rc = {cache, alloc_probes__stacks_fd(ap), set_for, ctx};
	long n;

	n = bpfmap__walk(alloc_probes__stats_fd(ap), sizeof(struct alloc_key),
			 sizeof(struct alloc_stats), read_one, &rc);
	return n < 0 ? (int)n : 0;
}

struct doomed {
	__u8 *keys;
	size_t key_size;
	size_t cnt;
	size_t cap;
	__u32 tgid;
	__u32 (*tgid_of)(const void *key);
};

static int doom_key(const void *key, const void *value, void *ctx)
{
	struct doomed *d = ctx;
	__u8 *n;

	if (d->tgid_of(key) != d->tgid)
		return 0;
	if (d->cnt == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 256;

		n = realloc(d->keys, cap * d->key_size);
		if (!n)
			return -ENOMEM;
		d->keys = n;
		d->cap = cap;
	}
	memcpy(d->keys + d->cnt++ * d->key_size, key, d->key_size);
	return 0;
}

/* Delete every key of map fd whose tgid (read by tgid_of) is tgid. Keys are collected first:
 * deleting while walking would restart the walk. */
static void delete_keys(int fd, size_t key_size, size_t value_size, __u32 tgid,
			__u32 (*tgid_of)(const void *key))
{
	struct doomed d = {.key_size = key_size, .tgid = tgid, .tgid_of = tgid_of};

	/* Out of memory part way: delete the keys found so far. */
	bpfmap__walk(fd, key_size, value_size, doom_key, &d);
	for (size_t i = 0; i < d.cnt; i++)
		bpf_map_delete_elem(fd, d.keys + i * key_size);
	free(d.keys);
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
	delete_keys(alloc_probes__stats_fd(ap), sizeof(struct alloc_key),
		    sizeof(struct alloc_stats), tgid, stats_tgid);
	delete_keys(alloc_probes__live_fd(ap), sizeof(struct live_key), sizeof(struct live_val),
		    tgid, live_tgid);
	alloc_probes__forget_totals(ap, tgid);
}

struct gc_ctx {
	__u8 *used; /* by stack id: named by a stats entry, or kept */
	__u32 max;
	__u32 *ids; /* every id in the stacks map, and its stack's hash */
	__u64 *hashes;
	__u32 cnt;
	__u32 cap;
};

static int mark_used(const void *key, const void *value, void *ctx)
{
	const struct alloc_key *k = key;
	struct gc_ctx *g = ctx;

	if (k->stack_id >= 0 && (__u32)k->stack_id < g->max)
		g->used[k->stack_id] = 1;
	return 0;
}

static int list_stack(const void *key, const void *value, void *ctx)
{
	const struct stack_val *v = value;
	struct gc_ctx *g = ctx;
	__u32 id = *(const __u32 *)key;

	if (id >= g->max)
		return 0;
	if (g->cnt == g->cap) {
		__u32 cap = g->cap ? g->cap * 2 : 256;
		__u32 *ni = realloc(g->ids, cap * sizeof(*ni));
		__u64 *nh;

		if (!ni)
			return -ENOMEM;
		g->ids = ni;
		nh = realloc(g->hashes, cap * sizeof(*nh));
		if (!nh)
			return -ENOMEM;
		g->hashes = nh;
		g->cap = cap;
	}
	g->ids[g->cnt] = id;
	g->hashes[g->cnt++] = v->hash;
	return 0;
}

/*
 * Keep every id that a kept stack's probe sequence (bpf/stackid.bpf.h) passes before reaching
 * its own: deleting one would let that stack's next sample stop at the hole and store it again
 * under a second id. Kept stacks pin others in turn, hence the loop to a fixed point.
 */
static void pin_chains(struct gc_ctx *g)
{
	__u32 mask = g->max - 1;
	int changed = 1;

	while (changed) {
		changed = 0;
		for (__u32 i = 0; i < g->cnt; i++) {
			__u64 h = g->hashes[i];
			__u32 step = (__u32)(h >> 32) | 1;

			if (!g->used[g->ids[i]])
				continue;
			for (__u32 p = 0; p < STACK_ID_PROBES; p++) {
				__u32 id = ((__u32)h + p * step) & mask;

				if (id == g->ids[i])
					break;
				if (!g->used[id]) {
					g->used[id] = 1;
					changed = 1;
				}
			}
		}
	}
}

struct restore_ctx {
	const __s32 *slot; /* by stack id: index into saved, or -1 */
	const struct stack_val *saved;
	__u8 *restored;
	__u32 max;
	int stacks_fd;
};

static int restore_named(const void *key, const void *value, void *ctx)
{
	const struct alloc_key *k = key;
	struct restore_ctx *r = ctx;
	__u32 id = k->stack_id;
	__s32 s;

	if (k->stack_id < 0 || id >= r->max || (s = r->slot[id]) < 0 || r->restored[s])
		return 0;
	/* Fails when the BPF side stored it again first (stack_id_keep), or another stack took
	 * the id meanwhile (that one is then counted by the BPF side as a lost stack). */
	bpf_map_update_elem(r->stacks_fd, &id, &r->saved[s], BPF_NOEXIST);
	r->restored[s] = 1;
	return 0;
}

/*
 * The BPF side keeps taking ids while this runs: a stack unreferenced when the stats were read
 * can be taken by a sample before it is deleted here. So deleted stacks are kept in memory, the
 * stats are read again after the deletions, and any stack they name is stored again; the BPF
 * side, after updating a stats entry, stores its stack again if it is gone (stack_id_keep).
 * Whichever of the two runs second sees the other's work.
 */
int collect__gc_stacks(struct alloc_probes *ap, struct stack_cache *cache)
{
	int stats_fd = alloc_probes__stats_fd(ap), stacks_fd = alloc_probes__stacks_fd(ap);
	struct gc_ctx g = {.max = alloc_probes__stack_id_space(ap)};
	struct restore_ctx r = {.max = g.max, .stacks_fd = stacks_fd};
	struct stack_val *saved = NULL;
	__s32 *slot = NULL;
	__u8 *restored = NULL;
	__u32 nsaved = 0;
	int deleted = 0;
	long err;

	g.used = calloc(g.max ? g.max : 1, 1);
	slot = malloc((g.max ? g.max : 1) * sizeof(*slot));
	if (!g.used || !slot) {
		err = -ENOMEM;
		goto cleanup;
	}
	memset(slot, 0xff, g.max * sizeof(*slot));
	err = bpfmap__walk(stats_fd, sizeof(struct alloc_key), sizeof(struct alloc_stats),
			   mark_used, &g);
	if (err < 0)
		goto cleanup; /* a stack not marked would be deleted while in use */
	/* Collect the ids first: deleting while walking would restart the walk. */
	err = bpfmap__walk(stacks_fd, sizeof(__u32), sizeof(struct stack_val), list_stack, &g);
	if (err < 0)
		goto cleanup;
	pin_chains(&g);
	for (__u32 i = 0; i < g.cnt; i++)
		nsaved += !g.used[g.ids[i]];
	saved = malloc((nsaved ?: 1) * sizeof(*saved));
	restored = calloc(nsaved ?: 1, 1);
	if (!saved || !restored) {
		err = -ENOMEM;
		goto cleanup;
	}
	nsaved = 0;
	for (__u32 i = 0; i < g.cnt; i++) {
		__u32 id = g.ids[i];

		if (g.used[id] || bpf_map_lookup_elem(stacks_fd, &id, &saved[nsaved]) ||
		    bpf_map_delete_elem(stacks_fd, &id))
			continue;
		slot[id] = nsaved++;
	}
	r.slot = slot;
	r.saved = saved;
	r.restored = restored;
	/* Out of memory part way cannot happen here: the walk allocates nothing. */
	bpfmap__walk(stats_fd, sizeof(struct alloc_key), sizeof(struct alloc_stats), restore_named,
		     &r);
	for (__u32 i = 0; i < g.cnt; i++) {
		__u32 id = g.ids[i];

		if (slot[id] < 0 || restored[slot[id]])
			continue;
		deleted++;
		if (id < cache->cap && cache->by_id[id]) {
			stack__put(cache->by_id[id]);
			cache->by_id[id] = NULL;
			cache->cnt--;
		}
	}
	err = deleted;
cleanup:
	free(restored);
	free(saved);
	free(slot);
	free(g.ids);
	free(g.hashes);
	free(g.used);
	return (int)err;
}
