/* SPDX-License-Identifier: GPL-2.0 */
/* BPF-only: recording a sampled allocation (aggregated by stack and allocator, or sent to user
 * space to be unwound from CFI) and retiring a live block at its free. Expects the including
 * file to define the `stats`, `live` and `totals` maps. */
#ifndef ALLOCSCOPE_RECORD_BPF_H
#define ALLOCSCOPE_RECORD_BPF_H

#include "maps.bpf.h"
#include "stackid.bpf.h"
#include "cfi.bpf.h"

/* The raw totals of process tgid, created at its first sample. */
static __always_inline struct proc_totals *proc_totals(__u32 tgid)
{
	struct proc_totals zero = {};

	return map_lookup_or_init(&totals, &tgid, &zero);
}

/* Whether tgid's allocation side is gated off (TARGET_F_ALLOC_OFF); never without a budget. */
static __always_inline int alloc_side_off(__u32 tgid)
{
	__u32 *flags;

	if (!alloc_gated)
		return 0;
	flags = bpf_map_lookup_elem(&targets, &tgid);
	return flags && (*flags & TARGET_F_ALLOC_OFF);
}

/* One run of a malloc-family probe in process tgid, sampled or not (the overhead budget). */
static __always_inline void count_probe_hit(__u32 tgid, int is_free)
{
	struct proc_totals *tot = proc_totals(tgid);

	if (!tot)
		return;
	if (!is_free) {
		__sync_fetch_and_add(&tot->alloc_hits, 1);
		return;
	}
	__sync_fetch_and_add(&tot->free_hits, 1);
	if (!alloc_side_off(tgid))
		__sync_fetch_and_add(&tot->free_hits_on, 1);
}

/* The duty cycle of tgid's allocation probes for a sample of kind (alloc_key.duty): 0 for the
 * Go runtime's probes and the mmap tracepoints, which are never duty-cycled. */
static __always_inline __u16 target_duty(__u32 tgid, __u32 kind)
{
	__u32 *flags;

	/* Only the malloc family's probes are cycled: mappings, Go's and a process's own sampler
	 * are seen whole. */
	if (kind == ALLOC_KIND_MMAP || kind == ALLOC_KIND_MREMAP || kind == ALLOC_KIND_GO ||
	    kind == ALLOC_KIND_GO_MALLOCGC || kind == ALLOC_KIND_USDT)
		return 0;
	flags = bpf_map_lookup_elem(&targets, &tgid);
	return flags ? *flags >> TARGET_DUTY_SHIFT : 0;
}

/*
 * What a sample adds to its process's object total: one, or for a process's own sampler (whose
 * bytes are weights, unsampled already) the objects its weight stands for, so that the totals
 * (a timeline, /metrics before the first drain) need no scaling. Its stats keep one per sample.
 */
static __always_inline __u64 weighted_objects(__u32 kind, __u64 weight, __u64 obj_size)
{
	if (kind != ALLOC_KIND_USDT || !obj_size || weight <= obj_size)
		return 1;
	return (weight + obj_size / 2) / obj_size;
}

/* Account for a live block that was just deleted from the live map (by its deleter alone). */
static __always_inline void account_free(__u32 tgid, const struct live_val *lv)
{
	struct proc_totals *tot;
	struct alloc_stats *v;

	tot = bpf_map_lookup_elem(&totals, &tgid);
	if (tot) {
		__sync_fetch_and_add(&tot->free_cnt,
				     weighted_objects(lv->key.kind, lv->size, lv->key.size));
		__sync_fetch_and_add(&tot->free_bytes, lv->size);
	}
	if (lv->token) {
		struct unwind_free_event *fe;

		fe = bpf_ringbuf_reserve(&unwind_events, sizeof(*fe), 0);
		if (!fe) {
			struct unwind_free_deferred fd = {.tgid = tgid, .size = lv->size};

			if (bpf_map_update_elem(&unwind_frees, &lv->token, &fd, BPF_NOEXIST))
				count(ALLOC_CNT_UNWIND_FREE_LOST);
			else
				count(ALLOC_CNT_UNWIND_FREE_DEFERRED);
			return;
		}
		fe->type = UNWIND_EV_FREE;
		fe->tgid = tgid;
		fe->token = lv->token;
		fe->size = lv->size;
		bpf_ringbuf_submit(fe, 0);
		return;
	}
	v = bpf_map_lookup_elem(&stats, &lv->key);
	if (!v)
		return;
	__sync_fetch_and_add(&v->free_cnt, 1);
	__sync_fetch_and_add(&v->free_bytes, lv->size);
}

/*
 * Take the live block at addr out of the live map into *out: 1 when this caller deleted it (and
 * so owns its accounting), 0 when there was none or a racing free of the same address (a double
 * free in the target) deleted it first. len != 0 (munmap): a shorter length leaves it in place.
 */
static __always_inline int live_take(__u32 tgid, __u64 addr, __u64 len, struct live_val *out)
{
	struct live_key lk = {};
	struct live_val *lvp;

	if (!addr)
		return 0;
	lk.addr = addr;
	lk.tgid = tgid;
	lvp = bpf_map_lookup_elem(&live, &lk);
	if (!lvp)
		return 0;
	if (len && len < lvp->size) {
		count(ALLOC_CNT_MUNMAP_PARTIAL);
		return 0;
	}
	*out = *lvp;
	return !bpf_map_delete_elem(&live, &lk);
}

/* Retire a live block. len == 0 means the whole block (free); munmap passes its length. */
static __always_inline void record_free(__u32 tgid, __u64 addr, __u64 len)
{
	struct live_val lv;

	if (live_take(tgid, addr, len, &lv))
		account_free(tgid, &lv);
}

/*
 * Insert a new live block. An entry already at its address is a block whose free was never seen
 * (a missed free, a MAP_FIXED mapping over a tracked one): it is retired as freed and counted,
 * rather than overwritten and left in use for ever. Non-zero when the map is full.
 */
static __always_inline long live_insert(__u32 tgid, struct live_key *lk, struct live_val *lv)
{
	struct proc_totals *tot;
	struct live_val old;
	long err;

	err = bpf_map_update_elem(&live, lk, lv, BPF_NOEXIST);
	if (err != -EEXIST)
		return err;
	count(ALLOC_CNT_LIVE_OVERWRITE);
	tot = bpf_map_lookup_elem(&totals, &tgid);
	if (tot)
		__sync_fetch_and_add(&tot->live_overwrite_cnt, 1);
	if (live_take(tgid, lk->addr, 0, &old))
		account_free(tgid, &old);
	return bpf_map_update_elem(&live, lk, lv, BPF_NOEXIST);
}

static __always_inline void record_alloc_cfi(struct pt_regs *regs, __u32 tgid, __u64 addr,
					     __u64 size, __u32 kind, __u64 key_size,
					     struct unwind_event *e)
{
	struct proc_totals *tot;
	struct live_key lk = {};
	struct live_val lv = {};

	count(ALLOC_CNT_SAMPLED);
	e->key_size = key_size;
	tot = proc_totals(tgid);
	if (tot) {
		__sync_fetch_and_add(&tot->alloc_cnt, weighted_objects(kind, size, key_size));
		__sync_fetch_and_add(&tot->alloc_bytes, size);
	}
	lk.addr = addr;
	lk.tgid = tgid;
	lv.size = size;
	lv.key.tgid = tgid;
	lv.key.kind = kind;
	lv.key.size = key_size;
	lv.key.stack_id = -1;
	lv.token = e->token;
	/* In the live map before the event is submitted: a free of the block, which cannot come
	 * before this allocator returns, is reserved in the ring after it. */
	if (!addr || live_insert(tgid, &lk, &lv)) {
		if (addr)
			count(ALLOC_CNT_LIVE_FULL);
		e->flags |= UNWIND_F_UNTRACKED;
	}
	bpf_ringbuf_submit(e, 0);
}

/*
 * Record a sampled allocation of size bytes (what the stats add up) under a key whose object
 * size is key_size: a sampler's weighted samples (bpf/sampler.bpf.h) count the bytes they stand
 * for and keep the object's own size in the key.
 */
static __always_inline void record_alloc_keyed(void *ctx, struct pt_regs *regs, __u32 tgid,
					       __u64 addr, __u64 size, __u32 kind,
					       __u64 caller_hint, __u64 key_size)
{
	struct alloc_stats zero = {}, *v;
	struct proc_totals *tot;
	struct alloc_key key = {};
	struct live_key lk = {};
	struct live_val lv = {};
	__u32 cfi = wants_cfi(tgid, kind);
	long id;

	if (cfi) {
		struct unwind_event *e = unwind_event_fill(regs, tgid, size, kind, cfi);

		if (e) {
			record_alloc_cfi(regs, tgid, addr, size, kind, key_size, e);
			return;
		}
	}
	key.tgid = tgid;
	key.kind = kind;
	key.caller_hint = caller_hint;
	key.duty = target_duty(tgid, kind);
	key.size = key_size;
	id = stack_id(ctx); /* < 0: counted, and kept under a lost-stack key */
	key.stack_id = id;

	v = map_lookup_or_init(&stats, &key, &zero);
	if (!v) {
		count(ALLOC_CNT_STATS_FULL);
		return;
	}
	count(ALLOC_CNT_SAMPLED);
	__sync_fetch_and_add(&v->alloc_cnt, 1);
	__sync_fetch_and_add(&v->alloc_bytes, size);
	stack_id_keep(id);
	tot = proc_totals(tgid);
	if (tot) {
		__sync_fetch_and_add(&tot->alloc_cnt, weighted_objects(kind, size, key_size));
		__sync_fetch_and_add(&tot->alloc_bytes, size);
	}
	/* No address (every-call Go mode sees no return value): never live, never freed. */
	if (!addr) {
		__sync_fetch_and_add(&v->untracked_cnt, 1);
		__sync_fetch_and_add(&v->untracked_bytes, size);
		return;
	}

	lk.addr = addr;
	lk.tgid = tgid;
	lv.size = size;
	lv.key = key;
	if (live_insert(tgid, &lk, &lv)) {
		count(ALLOC_CNT_LIVE_FULL);
		__sync_fetch_and_add(&v->untracked_cnt, 1);
		__sync_fetch_and_add(&v->untracked_bytes, size);
	}
}

static __always_inline void record_alloc(void *ctx, struct pt_regs *regs, __u32 tgid, __u64 addr,
					 __u64 size, __u32 kind, __u64 caller_hint)
{
	/* Go's samples are at the runtime's rate; ours at sample_rate. */
	record_alloc_keyed(ctx, regs, tgid, addr, size, kind, caller_hint,
			   kind == ALLOC_KIND_GO || sample_rate > 1 ? size : 0);
}

#endif
