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
	/* The outermost call in progress took no return probe (an unsampled call under a uprobe
	 * session): nothing ends it, and nest_in_unreturned() tells whether it still runs. */
	__u32 no_return;
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
 * this call is nested in it (not recorded itself), 0 when the outer call left without its return
 * probe firing (counted; the caller starts over). The caller counts a nested call in depth when
 * its return probe will fire.
 *
 * Nested calls sit deeper on the stack, except tail calls: glibc 2.36's realloc(NULL, n) jumps
 * to malloc with realloc's frame, so malloc's entry has the same sp. They are told from a new
 * call out of the same frame by the word at sp: the outer call's return probe has replaced its
 * return address there (with the kernel's trampoline), while a new call wrote its own; both
 * return probes then fire at the one return. Reading it costs a probe_read, on this path only.
 */
static __always_inline int nest_is_inner(struct task_state *st, __u64 sp)
{
	__u64 ret = 0;

	if (sp < st->entry_sp ||
	    (sp == st->entry_sp && !bpf_probe_read_user(&ret, sizeof(ret), (void *)sp) &&
	     ret != st->entry_ret))
		return 1;
	count(ALLOC_CNT_NEST_RESET);
	return 0;
}

/*
 * The same question when the outer call took no return probe (st->no_return), whose end no probe
 * sees: it still runs while its return address is at entry_sp and the stack is deeper. Then a
 * call at the same sp is a new call from the same frame (a loop), unless another entry point
 * finds the outer call's own return address there: a tail call (realloc(NULL, n) jumping to
 * malloc; a direct call site calls one function). The read is skipped in the common case, a
 * loop calling the same function from one frame.
 */
/*
 * The return trampoline of this process's uretprobes: another consumer of the same probe (a
 * uretprobe of another tool, or a link of another process's, whose handler the kernel runs here
 * too) may replace a call's return address with it even when our session skipped the return.
 */
static __always_inline __u64 uretprobe_trampoline(void)
{
	struct task_struct *t = bpf_get_current_task_btf();

	return BPF_CORE_READ(t, mm, uprobes_state.xol_area, vaddr);
}

/* Whether ret, read at entry_sp, still is the outermost call's return address. */
static __always_inline int is_entry_ret(struct task_state *st, __u64 ret)
{
	return ret == st->entry_ret || (ret && ret == uretprobe_trampoline());
}

static __always_inline int nest_in_unreturned(struct task_state *st, __u64 sp, __u32 kind)
{
	__u64 ret = 0;

	if (sp > st->entry_sp || (sp == st->entry_sp && kind == st->kind))
		return 0;
	if (bpf_probe_read_user(&ret, sizeof(ret), (void *)st->entry_sp))
		return 0;
	return is_entry_ret(st, ret);
}

/* Whether an allocator call is in progress on this thread at user stack pointer sp (an mmap or
 * a free made by the allocator itself is its own business). */
static __always_inline int in_alloc_call(struct task_state *st, __u64 sp)
{
	__u64 ret = 0;

	if (!st->depth)
		return 0;
	if (!st->no_return)
		return 1;
	return sp < st->entry_sp && !bpf_probe_read_user(&ret, sizeof(ret), (void *)st->entry_sp) &&
	       is_entry_ret(st, ret);
}

/* The outermost call starts: its return probe ends it (nest_exit). */
static __always_inline void nest_begin(struct task_state *st, __u64 sp)
{
	st->depth = 1;
	st->no_return = 0;
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
