/* SPDX-License-Identifier: GPL-2.0 */
/* BPF-only: a target's anonymous mappings as allocations: mmap, munmap (of one mapping, of a
 * range that holds several, or one that fails) and mremap (grow, shrink, move). Expects the
 * including file to define what record.bpf.h and sampling.bpf.h expect. */
#ifndef ALLOCSCOPE_MMAP_BPF_H
#define ALLOCSCOPE_MMAP_BPF_H

#include "record.bpf.h"
#include "sampling.bpf.h"
#include "task.bpf.h"

#define MAP_ANONYMOUS 0x20
#define MAP_FIXED     0x10
#define PROT_NONE     0x0
#define MREMAP_FIXED  2
#define MAX_ERRNO     4095
#define __NR_mmap     9 /* x86-64 */
#define __NR_munmap   11
#define __NR_mremap   25

/*
 * The live map is keyed by address: a munmap finds the mapping that starts where it starts, and
 * no other. To end every tracked mapping inside [addr, addr + len), each one is also listed in
 * this index under the 2 MiB bucket of its start address: a munmap visits the buckets its range
 * covers (a 1 GiB munmap reads 512 entries). A mapping whose bucket is full is found only at its
 * own address (counted); an entry whose block has gone (freed at its address, evicted) is cleared
 * when a scan meets it. LRU: the buckets of processes gone are evicted by new ones.
 */
#define MMAP_BUCKET_SHIFT 21
#define MMAP_BUCKET_SLOTS 8
#define MMAP_SCAN_MAX	  (1 << 14) /* buckets per munmap: 32 GiB; beyond, counted */

struct mmap_bucket_key {
	__u64 bucket;
	__u32 tgid;
	__u32 pad;
};

struct mmap_bucket {
	__u64 addr[MMAP_BUCKET_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct mmap_bucket_key);
	__type(value, struct mmap_bucket);
} mmap_index SEC(".maps");

static __always_inline void mmap_index_add(__u32 tgid, __u64 addr)
{
	struct mmap_bucket_key key = {.bucket = addr >> MMAP_BUCKET_SHIFT, .tgid = tgid};
	struct mmap_bucket zero = {}, *b;

	b = map_lookup_or_init(&mmap_index, &key, &zero);
	if (!b) {
		count(ALLOC_CNT_MMAP_INDEX_FULL);
		return;
	}
	for (int i = 0; i < MMAP_BUCKET_SLOTS; i++)
		if (b->addr[i] == addr)
			return;
	for (int i = 0; i < MMAP_BUCKET_SLOTS; i++)
		if (__sync_val_compare_and_swap(&b->addr[i], 0, addr) == 0)
			return;
	count(ALLOC_CNT_MMAP_INDEX_FULL);
}

struct range_free_ctx {
	__u64 start, end, first;
	__u32 tgid;
};

/*
 * One bucket of a munmap's range: retire the tracked mappings wholly inside it. The block taken
 * goes through the thread's own task state (no allocator call is in progress on a syscall's
 * path): recording a sample in the same program leaves this callback little of the 512-byte
 * stack.
 */
static long range_free_bucket(__u64 i, void *data)
{
	struct range_free_ctx *c = data;
	struct mmap_bucket_key key = {.bucket = c->first + i, .tgid = c->tgid};
	struct mmap_bucket *b;
	struct live_key lk = {.tgid = c->tgid};
	struct task_state *st;

	b = bpf_map_lookup_elem(&mmap_index, &key);
	if (!b)
		return 0;
	for (int s = 0; s < MMAP_BUCKET_SLOTS; s++) {
		__u64 addr = b->addr[s];

		if (!addr || addr < c->start || addr >= c->end)
			continue;
		lk.addr = addr;
		if (!bpf_map_lookup_elem(&live, &lk)) {
			__sync_val_compare_and_swap(&b->addr[s], addr, 0);
			continue;
		}
		st = task_state(0);
		if (!st)
			return 1;
		/* A mapping that runs past the range loses only part: left in use (counted). */
		if (live_take(c->tgid, addr, c->end - addr, &st->old)) {
			account_free(c->tgid, &st->old);
			__sync_val_compare_and_swap(&b->addr[s], addr, 0);
		}
	}
	return 0;
}

/* The range [addr, addr + len) of tgid was unmapped: retire each tracked mapping inside it. */
static __always_inline void range_free(__u32 tgid, __u64 addr, __u64 len)
{
	struct range_free_ctx c = {.start = addr, .end = addr + len, .tgid = tgid};
	__u64 buckets;

	if (!len || c.end < addr)
		return;
	/* The common case first: one mapping, unmapped whole. */
	record_free(tgid, addr, len);
	c.first = addr >> MMAP_BUCKET_SHIFT;
	buckets = ((c.end - 1) >> MMAP_BUCKET_SHIFT) - c.first + 1;
	if (buckets > MMAP_SCAN_MAX) {
		count(ALLOC_CNT_MUNMAP_SCAN_CUT);
		buckets = MMAP_SCAN_MAX;
	}
	bpf_loop(buckets, range_free_bucket, &c, 0);
}

/* A new mapping of the current process, sampled: recorded, and listed for the munmaps of a
 * range. */
static __always_inline void record_mapping(void *ctx, struct pt_regs *regs, __u64 addr, __u64 len,
					   __u32 kind)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 hint = 0;

	/* libc's mmap pushes nothing: the word at the stack pointer is its caller's return
	 * address. Its mremap (variadic) keeps a frame of its own size: no hint. */
	if (kind == ALLOC_KIND_MMAP &&
	    bpf_probe_read_user(&hint, sizeof(hint), (void *)BPF_CORE_READ(regs, sp)))
		hint = 0;
	record_alloc(ctx, regs, tgid, addr, len, kind, hint);
	mmap_index_add(tgid, addr);
}

/* An anonymous mmap of a target is about to be made (addr, len, prot, flags, fd: its
 * arguments; sp: the user stack pointer): remember its length and whether it is sampled for the
 * syscall's exit. */
static __always_inline void mmap_enter(__u64 addr, __u64 len, __u64 prot, __u64 flags, long fd,
				       __u64 sp)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_state *st;

	if (!(flags & MAP_ANONYMOUS) && fd != -1)
		return;
	st = task_state(1);
	if (!st)
		return;
	/* malloc's own mmaps for large blocks are already counted as the malloc. */
	if (in_alloc_call(st, sp)) {
		st->mmap_len = 0;
		return;
	}
	/* MAP_FIXED replaces whatever was mapped there: tracked mappings end (a reservation
	 * made over them is how allocators give memory back). */
	if (flags & MAP_FIXED)
		range_free(tgid, addr, len);
	/* A reservation of address space is no memory: counted apart. */
	if (prot == PROT_NONE) {
		st->mmap_len = 0;
		count(ALLOC_CNT_MMAP_PROT_NONE);
		return;
	}
	st->mmap_len = len;
	st->mmap_sampled = take_sample(st, len);
}

/* The mmap remembered by mmap_enter returned addr: record it when sampled. */
static __always_inline void mmap_exit(void *ctx, struct pt_regs *regs, __u32 tgid, __u64 addr)
{
	struct task_state *st;
	__u64 len;

	st = task_state(0);
	if (!st || !st->mmap_len)
		return;
	len = st->mmap_len;
	st->mmap_len = 0;
	if (addr >= (__u64)-MAX_ERRNO || !st->mmap_sampled)
		return;
	record_mapping(ctx, regs, addr, len, ALLOC_KIND_MMAP);
}

/* A munmap or mremap is in progress: its arguments, kept for its exit (sys_nr 0: none); sp: the
 * user stack pointer. */
static __always_inline void syscall_remember(__u32 nr, __u64 a0, __u64 a1, __u64 a2, __u64 a3,
					     __u64 a4, __u64 sp)
{
	struct task_state *st = task_state(1);

	if (!st)
		return;
	/* glibc's free and realloc unmap and remap their own large blocks: theirs to count. */
	if (in_alloc_call(st, sp)) {
		st->sys_nr = 0;
		return;
	}
	st->sys_nr = nr;
	st->sys_args[0] = a0;
	st->sys_args[1] = a1;
	st->sys_args[2] = a2;
	st->sys_args[3] = a3;
	st->sys_args[4] = a4;
	/* MREMAP_FIXED first unmaps whatever is at the destination: ended here, at the entry, as
	 * MAP_FIXED's are (mremap's exit records a sample, which leaves no stack for range_free's
	 * loop in the same program). */
	if (nr == __NR_mremap && (a3 & MREMAP_FIXED))
		range_free(bpf_get_current_pid_tgid() >> 32, a4, a2);
}

/* The state of the munmap or mremap nr remembered at its entry, taken; NULL if there is none
 * or it failed (ret: its result; a failed munmap is counted). */
static __always_inline struct task_state *syscall_taken(__u32 nr, long ret)
{
	struct task_state *st = task_state(0);

	if (!st || st->sys_nr != nr)
		return NULL;
	st->sys_nr = 0;
	if (ret < 0 && ret >= -MAX_ERRNO) {
		if (nr == __NR_munmap)
			count(ALLOC_CNT_MUNMAP_FAILED);
		return NULL;
	}
	return st;
}

/* The munmap remembered at its entry returned ret: a failed one ends nothing. Its own program
 * (range_free's loop needs the stack that recording a sample takes). */
static __always_inline void munmap_done(__u32 tgid, long ret)
{
	struct task_state *st = syscall_taken(__NR_munmap, ret);

	if (st)
		range_free(tgid, st->sys_args[0], st->sys_args[1]);
}

/*
 * The mremap(old, old_len, new_len, flags, new_addr) remembered at its entry returned the
 * mapping's new address: like realloc, the old block ends and the new one is an allocation of
 * its own, sampled by its size. old_len 0 duplicates a shared mapping and ends nothing. A failed
 * mremap moves nothing.
 */
static __always_inline void mremap_done(void *ctx, struct pt_regs *regs, __u32 tgid, long ret)
{
	struct task_state *st = syscall_taken(__NR_mremap, ret);
	__u64 old_len, new_len;

	if (!st)
		return;
	old_len = st->sys_args[1];
	new_len = st->sys_args[2];
	if (old_len && live_take(tgid, st->sys_args[0], old_len, &st->old))
		account_free(tgid, &st->old);
	if (new_len && take_sample(st, new_len))
		record_mapping(ctx, regs, (__u64)ret, new_len, ALLOC_KIND_MREMAP);
}

#endif
