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

static __always_inline void record_alloc_cfi(struct pt_regs *regs, __u32 tgid, __u64 addr,
					     __u64 size, __u32 kind, struct unwind_event *e)
{
	struct proc_totals *tot;
	struct live_key lk = {};
	struct live_val lv = {};

	count(ALLOC_CNT_SAMPLED);
	tot = proc_totals(tgid);
	if (tot) {
		__sync_fetch_and_add(&tot->alloc_cnt, 1);
		__sync_fetch_and_add(&tot->alloc_bytes, size);
	}
	lk.addr = addr;
	lk.tgid = tgid;
	lv.size = size;
	lv.key.tgid = tgid;
	lv.key.kind = kind;
	lv.key.stack_id = -1;
	lv.token = e->token;
	/* In the live map before the event is submitted: a free of the block, which cannot come
	 * before this allocator returns, is reserved in the ring after it. */
	if (!addr || bpf_map_update_elem(&live, &lk, &lv, BPF_ANY)) {
		if (addr)
			count(ALLOC_CNT_LIVE_FULL);
		e->flags |= UNWIND_F_UNTRACKED;
	}
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void record_alloc(void *ctx, struct pt_regs *regs, __u32 tgid, __u64 addr,
					 __u64 size, __u32 kind, __u64 caller_hint)
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
			record_alloc_cfi(regs, tgid, addr, size, kind, e);
			return;
		}
	}
	key.tgid = tgid;
	key.kind = kind;
	key.caller_hint = caller_hint;
	key.size = kind == ALLOC_KIND_GO ? size : 0;
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
	tot = proc_totals(tgid);
	if (tot) {
		__sync_fetch_and_add(&tot->alloc_cnt, 1);
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
	if (bpf_map_update_elem(&live, &lk, &lv, BPF_ANY)) {
		count(ALLOC_CNT_LIVE_FULL);
		__sync_fetch_and_add(&v->untracked_cnt, 1);
		__sync_fetch_and_add(&v->untracked_bytes, size);
	}
}

/* Retire a live block. len == 0 means the whole block (free); munmap passes its length. */
static __always_inline void record_free(__u32 tgid, __u64 addr, __u64 len)
{
	struct live_key lk = {};
	struct live_val *lvp, lv;
	struct proc_totals *tot;
	struct alloc_stats *v;

	if (!addr)
		return;
	lk.addr = addr;
	lk.tgid = tgid;
	lvp = bpf_map_lookup_elem(&live, &lk);
	if (!lvp)
		return;
	if (len && len < lvp->size) {
		count(ALLOC_CNT_MUNMAP_PARTIAL);
		return;
	}
	lv = *lvp;
	/* Whoever deletes the entry accounts for it: a racing free of the same address (a double
	 * free in the target) must not count twice. */
	if (bpf_map_delete_elem(&live, &lk))
		return;
	tot = bpf_map_lookup_elem(&totals, &tgid);
	if (tot) {
		__sync_fetch_and_add(&tot->free_cnt, 1);
		__sync_fetch_and_add(&tot->free_bytes, lv.size);
	}
	if (lv.token) {
		struct unwind_free_event *fe;

		fe = bpf_ringbuf_reserve(&unwind_events, sizeof(*fe), 0);
		if (!fe) {
			count(ALLOC_CNT_UNWIND_FREE_LOST);
			return;
		}
		fe->type = UNWIND_EV_FREE;
		fe->tgid = tgid;
		fe->token = lv.token;
		fe->size = lv.size;
		bpf_ringbuf_submit(fe, 0);
		return;
	}
	v = bpf_map_lookup_elem(&stats, &lv.key);
	if (!v)
		return;
	__sync_fetch_and_add(&v->free_cnt, 1);
	__sync_fetch_and_add(&v->free_bytes, lv.size);
}

#endif
