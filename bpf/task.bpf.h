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
	__u64 entry_ret; /* the return address at entry_sp when the outermost call began */
	__u32 depth;	 /* allocator calls in progress (glibc's realloc calls malloc...) */
	__u32 kind;
	__u32 sampled;
	__u32 mmap_sampled;
	/* realloc's old block, taken out of the live map at its entry (see alloc_enter). */
	struct live_val old;
	__u32 has_old;
	__u32 sys_nr;	   /* munmap or mremap in progress (its __NR_), 0 if none */
	__u64 sys_args[5]; /* its arguments, for its exit */
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
 * At an allocator's entry with stack pointer sp, while a call is in progress (depth != 0): 1 when
 * this call is nested in it (counted in depth, and not recorded itself), 0 when the outer call
 * left without its return probe firing (counted; the caller starts over).
 *
 * Nested calls sit deeper on the stack, except tail calls: glibc 2.36's realloc(NULL, n) jumps
 * to malloc with realloc's frame, so malloc's entry has the same sp. They are told from a new
 * call out of the same frame by the word at sp: the outer call's return probe has replaced its
 * return address there (with the kernel's trampoline), while a new call wrote its own; both
 * return probes then fire at the one return. Reading it costs a probe_read, on this path only.
 */
static __always_inline int nest_enter(struct task_state *st, __u64 sp)
{
	__u64 ret = 0;

	if (sp < st->entry_sp ||
	    (sp == st->entry_sp && !bpf_probe_read_user(&ret, sizeof(ret), (void *)sp) &&
	     ret != st->entry_ret)) {
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
	if (bpf_probe_read_user(&st->entry_ret, sizeof(st->entry_ret), (void *)sp))
		st->entry_ret = 0;
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
