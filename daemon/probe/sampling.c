// SPDX-License-Identifier: MIT
/* Poisson-by-bytes sampling: interval table for the BPF countdown and Go's unsampling formula. */
#include <math.h>

#include "bpf/alloc.h"
#include "probe/sampling.h"

/* Mean of Exp(1) restricted to [a, b): (E[X; a<=X<b]) / P(a<=X<b). b = INFINITY allowed. */
static double exp_bucket_mean(double a, double b)
{
	double ea = exp(-a), eb = isinf(b) ? 0.0 : exp(-b);
	double mass = ea - eb;
	double part = (a + 1.0) * ea - (isinf(b) ? 0.0 : (b + 1.0) * eb);

	return mass > 0 ? part / mass : a;
}

void sampling__fill_table(__u64 rate, __u64 *table, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		double lo, hi, v;

		if (rate <= 1) {
			table[i] = 1;
			continue;
		}
		/* Quantiles of Exp(1) at i/n and (i+1)/n. */
		lo = -log1p(-(double)i / n);
		hi = i + 1 == n ? INFINITY : -log1p(-(double)(i + 1) / n);
		v = exp_bucket_mean(lo, hi) * (double)rate;
		table[i] = v < 1.0 ? 1 : (__u64)(v + 0.5);
	}
}

void sampling__scale(__u64 count, __u64 bytes, __u64 rate, __s64 *out_count, __s64 *out_bytes)
{
	double avg, scale;

	if (!count || !bytes || rate <= 1) {
		*out_count = count;
		*out_bytes = bytes;
		return;
	}
	avg = (double)bytes / count;
	scale = 1.0 / (1.0 - exp(-avg / (double)rate));
	*out_count = (__s64)((double)count * scale);
	*out_bytes = (__s64)((double)bytes * scale);
}

void sampling__scale_duty(__u16 duty, __s64 *count, __s64 *bytes)
{
	double scale;

	if (!duty || duty >= DUTY_ONE)
		return;
	scale = (double)DUTY_ONE / duty;
	*count = llround(*count * scale);
	*bytes = llround(*bytes * scale);
}

void sampling__weighted(__u64 count, __u64 weight_bytes, __u64 obj_size, __s64 *out_count,
			__s64 *out_bytes)
{
	*out_bytes = weight_bytes;
	*out_count = obj_size ? (__s64)(((double)weight_bytes + obj_size / 2) / obj_size) : count;
}
