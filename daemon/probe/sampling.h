/* SPDX-License-Identifier: MIT */
/* Poisson sampling by bytes: the interval table the BPF countdown draws from, and the Go
 * runtime's formula that turns sampled counts back into estimates of the real ones. */
#ifndef ALLOCSCOPE_SAMPLING_H
#define ALLOCSCOPE_SAMPLING_H

#include <stddef.h>
#include <linux/types.h>

/* The default mean sampling interval in bytes; README.md says why. */
#define SAMPLE_RATE_DEFAULT (512 * 1024)

/*
 * Fill table[n] with intervals drawn by index from a uniform random number: entry i is the mean
 * of an exponential distribution of mean rate over the i-th of n equally likely buckets, so a
 * uniformly chosen entry keeps the mean exactly and approximates the distribution. rate <= 1
 * fills ones (every allocation sampled).
 */
void sampling__fill_table(__u64 rate, __u64 *table, size_t n);

/*
 * Unsample (count, bytes) of allocations sampled with mean interval rate, as runtime/pprof's
 * scaleHeapSample does: each allocation of the bucket's average size s was sampled with
 * probability 1 - exp(-s/rate). rate <= 1 means every allocation was recorded.
 */
void sampling__scale(__u64 count, __u64 bytes, __u64 rate, __s64 *out_count, __s64 *out_bytes);

/*
 * Scale (count, bytes), unsampled already, by the duty cycle of the allocation probes their
 * samples were taken under (alloc_key.duty, DUTY_ONE units; 0 is 1): DUTY_ONE / duty. Samples
 * taken while the probes were attached a fraction d of the time stand for 1/d as many calls.
 */
void sampling__scale_duty(__u16 duty, __s64 *count, __s64 *bytes);

/*
 * Estimates from weighted samples (a process's own sampler, bpf/sampler.bpf.h): weight_bytes is
 * the sum of the bytes each sample stands for, already unbiased; objects of obj_size bytes are
 * weight_bytes / obj_size of them (obj_size 0: count as it is).
 */
void sampling__weighted(__u64 count, __u64 weight_bytes, __u64 obj_size, __s64 *out_count,
			__s64 *out_bytes);

#endif
