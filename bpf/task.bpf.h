/* SPDX-License-Identifier: GPL-2.0 */
/* BPF-only: the per-thread state of the allocator probes (task storage) and the nesting of
 * allocator calls (glibc's realloc calls malloc): only the outermost call is recorded. */
#ifndef ALLOCSCOPE_TASK_BPF_H
#define ALLOCSCOPE_TASK_BPF_H

#include "maps.bpf.h"

struct task_state {
	__u64 remaining; /* bytes until the next sample; 0 = not drawn yet */
	__u64 entry_sp;	 /* stack pointer at the outermost allocator entry */
	__u64 size;	 /* requested size of the call in progress */
	__u64 aux;	 /* realloc: old pointer; posix_memalign: memptr */
	__u64 mmap_len;	 /* length of an anonymous mmap in progress, 0 if none */
	__u32 depth;	 /* allocator calls in progress (glibc's realloc calls malloc...) */
	__u32 kind;
	__u32 sampled;
	__u32 mmap_sampled;
};

/* Task storage rather than a tid-keyed hash: it is freed with the thread. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_state);
} task_states SEC(".maps");

static __always_inline struct task_state *task_state(int create)
{
	struct task_state *st;

	st = bpf_task_storage_get(&task_states, bpf_get_current_task_btf(), 0,
				  create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	if (!st && create)
		count(ALLOC_CNT_TASK_FULL);
	return st;
}

/*
 * At an allocator's entry with stack pointer sp: 1 when the call is nested in one in progress
 * (counted in depth, and not recorded itself). A call that is not deeper on the stack than the
 * outer one means the outer call left without its return probe firing: reset and start over.
 */
static __always_inline int nest_enter(struct task_state *st, __u64 sp)
{
	if (!st->depth)
		return 0;
	if (sp < st->entry_sp) {
		st->depth++;
		return 1;
	}
	count(ALLOC_CNT_NEST_RESET);
	return 0;
}

/* The outermost call starts: its return probe ends it (nest_exit). */
static __always_inline void nest_begin(struct task_state *st, __u64 sp)
{
	st->depth = 1;
	st->entry_sp = sp;
}

/* At an allocator's return: 1 when it ends the outermost call, the one to record. */
static __always_inline int nest_exit(struct task_state *st)
{
	if (!st->depth)
		return 0;
	if (st->depth > 1) {
		st->depth--;
		return 0;
	}
	st->depth = 0;
	return 1;
}

#endif
