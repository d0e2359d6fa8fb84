/* SPDX-License-Identifier: GPL-2.0 */
/* BPF-only: content-addressed stack ids. The user stack is hashed and stored in the stacks map
 * under an id picked by double hashing over the id space. Expects the including file to define
 * the `stacks` map (struct stack_val by __u32 id) and the knob `stack_id_mask`. */
#ifndef ALLOCSCOPE_STACKID_BPF_H
#define ALLOCSCOPE_STACKID_BPF_H

#include "maps.bpf.h"

#define EFAULT 14
#define ENOMEM 12
#define EEXIST 17

/* The stack being recorded, per thread: a per-CPU buffer could be overwritten by another task
 * that runs a probe on the same CPU, as uprobe programs are not run with preemption off. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct stack_val);
} stack_bufs SEC(".maps");

/*
 * Ids tried from a stack's hash before it counts as lost; the id space is at most half full.
 * Double hashing (a step per stack, odd so that it visits the whole power-of-two space): linear
 * probing's runs of taken ids lost ~1% of 100k stacks at 38% fill, each stack hashing into a long
 * run every time; with independent probes the chance is the fill to the 16th power.
 */

/*
 * The id of the current user stack in the stacks map, inserting it if new; < 0 if it cannot be
 * stored. Two different stacks never share an id: the stored 64-bit hash must match.
 */
static __always_inline long stack_id(void *ctx)
{
	__u64 h = 0xcbf29ce484222325ULL;
	struct stack_val *b, *v;
	long n, nr;
	__u32 id, step;

	b = bpf_task_storage_get(&stack_bufs, bpf_get_current_task_btf(), 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!b) {
		count(ALLOC_CNT_STACK_UNREADABLE);
		return -ENOMEM;
	}
	/* Zero-fills the buffer past the stack's end. */
	n = bpf_get_stack(ctx, b->ips, sizeof(b->ips), BPF_F_USER_STACK);
	if (n <= 0) {
		count(ALLOC_CNT_STACK_UNREADABLE);
		return n ? n : -EFAULT;
	}
	nr = n / sizeof(__u64);
	/* Bounded by the constant, not by nr: the verifier then sees the loop end and every
	 * b->ips[i] inside the buffer. */
	for (int i = 0; i < ALLOC_MAX_STACK_DEPTH; i++) {
		if (i >= nr)
			break;
		h = (h ^ b->ips[i]) * 0x100000001b3ULL;
	}
	/* Finalizer of splitmix64: every input bit reaches the low bits the id is taken from. */
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
	h ^= h >> 31;
	b->hash = h;
	step = (__u32)(h >> 32) | 1;
	for (__u32 i = 0; i < STACK_ID_PROBES; i++) {
		id = ((__u32)h + i * step) & stack_id_mask;
		v = bpf_map_lookup_elem(&stacks, &id);
		if (!v) {
			n = bpf_map_update_elem(&stacks, &id, b, BPF_NOEXIST);
			if (!n)
				return id;
			/* Another CPU filled the id first (compared below), or the map is full. */
			v = bpf_map_lookup_elem(&stacks, &id);
			if (!v) {
				count(ALLOC_CNT_STACK_LOST);
				return n;
			}
		}
		if (v->hash == h)
			return id;
	}
	count(ALLOC_CNT_STACK_LOST);
	return -EEXIST;
}

/*
 * After a sample's stats entry names stack id (taken by stack_id above): user space's garbage
 * collection (collect__gc_stacks) deletes ids no stats entry names, and may have deleted this
 * one between stack_id and the stats update. Store it again from this thread's buffer, which
 * still holds it. User space, after deleting, rereads the stats and restores the ids they name:
 * whichever of the two comes second sees the other's work, so no id stays deleted under a
 * sample.
 */
static __always_inline void stack_id_keep(long id)
{
	struct stack_val *b;
	__u32 key = id;

	if (id < 0 || bpf_map_lookup_elem(&stacks, &key))
		return;
	b = bpf_task_storage_get(&stack_bufs, bpf_get_current_task_btf(), 0, 0);
	if (b && !bpf_map_update_elem(&stacks, &key, b, BPF_NOEXIST))
		count(ALLOC_CNT_STACK_REPAIRED);
}

#endif
