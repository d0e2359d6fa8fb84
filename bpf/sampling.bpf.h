/* SPDX-License-Identifier: GPL-2.0 */
/* BPF-only: the per-thread byte countdown that decides which allocations are sampled. Expects
 * the including file to define the knobs `sample_rate` and `sample_table` (set before load;
 * daemon/probe/sampling.c fills the table). */
#ifndef ALLOCSCOPE_SAMPLING_BPF_H
#define ALLOCSCOPE_SAMPLING_BPF_H

#include "task.bpf.h"

/* SAMPLE_TABLE_SIZE is a power of two: the mask alone proves the index in bounds to the
 * verifier. */
static __always_inline __u64 draw_interval(void)
{
	return sample_table[bpf_get_prandom_u32() & (SAMPLE_TABLE_SIZE - 1)];
}

/*
 * Poisson sampling by bytes, as the Go runtime and jemalloc do: the thread's countdown is
 * decremented by each allocation's size, and the allocation that takes it past zero is sampled,
 * so an allocation of s bytes is sampled with probability 1 - exp(-s / rate).
 */
static __always_inline __u32 take_sample(struct task_state *st, __u64 size)
{
	if (sample_rate <= 1)
		return 1;
	if (!st->remaining)
		st->remaining = draw_interval() ?: 1;
	if (size < st->remaining) {
		st->remaining -= size;
		return 0;
	}
	st->remaining = draw_interval() ?: 1;
	return 1;
}

#endif
