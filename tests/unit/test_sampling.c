// SPDX-License-Identifier: MIT
/* Sampling: the interval table keeps the exponential's mean and shape; unsampling follows Go's
 * scaleHeapSample. */
#include <math.h>
#include <stdlib.h>

#include "probe/sampling.h"
#include "profile/heap_profile.h"
#include "bpf/alloc.h"
#include "test.h"

TEST(sampling_table_mean_and_shape)
{
	static __u64 table[SAMPLE_TABLE_SIZE];
	const __u64 rate = 512 * 1024;
	double sum = 0, below_mean = 0;

	sampling__fill_table(rate, table, SAMPLE_TABLE_SIZE);
	for (size_t i = 0; i < SAMPLE_TABLE_SIZE; i++) {
		sum += table[i];
		if (table[i] < rate)
			below_mean++;
		if (i && !ASSERT_TRUE(table[i] >= table[i - 1], "intervals ascend"))
			return;
	}
	/* The mean is kept exactly (up to rounding to whole bytes). */
	ASSERT_TRUE(fabs(sum / SAMPLE_TABLE_SIZE - rate) < 1.0, "mean interval is the rate");
	/* Exp: P(X < mean) = 1 - 1/e = 0.632. */
	ASSERT_TRUE(fabs(below_mean / SAMPLE_TABLE_SIZE - (1 - exp(-1))) < 0.001,
		    "share of intervals below the mean");
	/* The median of Exp(rate) is rate * ln 2. */
	ASSERT_TRUE(fabs((double)table[SAMPLE_TABLE_SIZE / 2] / (rate * log(2)) - 1) < 0.001,
		    "median interval");
	/* The last bucket holds the tail: its mean is past the 1-1/4096 quantile. */
	ASSERT_TRUE(table[SAMPLE_TABLE_SIZE - 1] > rate * log(SAMPLE_TABLE_SIZE), "tail");
}

TEST(sampling_table_every_allocation)
{
	__u64 table[16];

	sampling__fill_table(1, table, 16);
	for (int i = 0; i < 16; i++)
		if (!ASSERT_EQ(table[i], 1, "rate 1: every interval is one byte"))
			return;
}

TEST(sampling_scale_as_go)
{
	__s64 cnt, bytes;

	/* One sampled 1 MiB allocation at 512 KiB: p = 1 - e^-2, scale = 1.1565. */
	sampling__scale(1, 1 << 20, 512 * 1024, &cnt, &bytes);
	ASSERT_EQ(cnt, 1, "count of one large block (1 * 1.1565 truncated)");
	ASSERT_EQ(bytes, (__s64)((1 << 20) / (1 - exp(-2.0))), "bytes of one large block");
	/* 100 sampled 64-byte blocks: scale = 1/(1 - exp(-64/524288)) = 8192.5. */
	sampling__scale(100, 6400, 512 * 1024, &cnt, &bytes);
	ASSERT_EQ(cnt, (__s64)(100 / (1 - exp(-64.0 / 524288))), "count of small blocks");
	ASSERT_EQ(bytes, (__s64)(6400 / (1 - exp(-64.0 / 524288))), "bytes of small blocks");
	/* rate 1: every allocation was recorded; nothing to scale. */
	sampling__scale(3, 300, 1, &cnt, &bytes);
	ASSERT_EQ(cnt, 3, "rate 1 count");
	ASSERT_EQ(bytes, 300, "rate 1 bytes");
	sampling__scale(0, 0, 512 * 1024, &cnt, &bytes);
	ASSERT_EQ(cnt, 0, "empty count");
	ASSERT_EQ(bytes, 0, "empty bytes");
}

/* The countdown of bpf/sampling.bpf.h, replayed in user space with the table: over many
 * allocations the unsampled estimate converges on the truth. */
TEST(sampling_countdown_estimate)
{
	static __u64 table[SAMPLE_TABLE_SIZE];
	const __u64 rate = 64 * 1024, size = 4096, n = 2000000;
	__u64 remaining = 0, sampled = 0;
	__s64 cnt, bytes;
	unsigned int seed = 1;

	sampling__fill_table(rate, table, SAMPLE_TABLE_SIZE);
	for (__u64 i = 0; i < n; i++) {
		if (!remaining)
			remaining = table[rand_r(&seed) & (SAMPLE_TABLE_SIZE - 1)];
		if (size < remaining) {
			remaining -= size;
			continue;
		}
		remaining = table[rand_r(&seed) & (SAMPLE_TABLE_SIZE - 1)];
		sampled++;
	}
	sampling__scale(sampled, sampled * size, rate, &cnt, &bytes);
	/* ~119k samples: relative standard deviation ~0.3%; allow 2%. */
	ASSERT_TRUE(fabs((double)bytes / (n * size) - 1) < 0.02, "estimated bytes within 2%");
	ASSERT_TRUE(fabs((double)cnt / n - 1) < 0.02, "estimated count within 2%");
}

/* The countdown of bpf/sampling.bpf.h over n allocations of sizes[i % nsizes]: samples and
 * sampled bytes per size. */
static void replay_countdown(__u64 rate, const __u64 *sizes, size_t nsizes, __u64 n, __u64 *sampled)
{
	static __u64 table[SAMPLE_TABLE_SIZE];
	__u64 remaining = 0;
	unsigned int seed = 7;

	sampling__fill_table(rate, table, SAMPLE_TABLE_SIZE);
	for (__u64 i = 0; i < n; i++) {
		__u64 size = sizes[i % nsizes];

		if (!remaining)
			remaining = table[rand_r(&seed) & (SAMPLE_TABLE_SIZE - 1)];
		if (size < remaining) {
			remaining -= size;
			continue;
		}
		remaining = table[rand_r(&seed) & (SAMPLE_TABLE_SIZE - 1)];
		sampled[i % nsizes]++;
	}
}

/*
 * Issue 14's held-out shape: one stack making 1,000,000 blocks of 16 B and 10 of 10 MiB at rate
 * 64 KiB. Unsampled with the stack's mean size (one bucket per stack) it comes to a few hundred
 * objects; per (stack, size) bucket, as the stats keys now are, objects come within 5% and bytes
 * within 3 sigma of the Horvitz-Thompson estimator's spread.
 */
TEST(sampling_mixed_sizes_per_size_bucket)
{
	const __u64 rate = 64 * 1024, big = 10 << 20;
	/* One 10 MiB block after every 100,000 small ones. */
	static __u64 sizes[100001];
	__u64 sampled[100001] = {}, small_samples = 0, small_bytes = 0;
	double truth_cnt = 1000010, truth_bytes = 16e6 + 10.0 * big, var = 0, p;
	__s64 c1, b1, c2, b2, cm, bm;

	for (size_t i = 0; i < 100000; i++)
		sizes[i] = 16;
	sizes[100000] = big;
	replay_countdown(rate, sizes, 100001, 100001 * 10, sampled);
	for (size_t i = 0; i < 100000; i++)
		small_samples += sampled[i];
	small_bytes = small_samples * 16;
	ASSERT_EQ(sampled[100000], 10, "every 10 MiB block sampled");
	sampling__scale(small_samples, small_bytes, rate, &c1, &b1);
	sampling__scale(sampled[100000], sampled[100000] * big, rate, &c2, &b2);
	ASSERT_TRUE(fabs((c1 + c2) / truth_cnt - 1) < 0.05, "objects within 5% per size");
	p = 1 - exp(-16.0 / rate);
	var = 1e6 * 16.0 * 16.0 * (1 - p) / p;
	ASSERT_TRUE(fabs((double)(b1 + b2) - truth_bytes) < 3 * sqrt(var), "bytes within 3 sigma");
	/* What one bucket per stack gave: the mean size makes every sample look ~1 object. */
	sampling__scale(small_samples + sampled[100000], small_bytes + sampled[100000] * big, rate,
			&cm, &bm);
	ASSERT_TRUE(cm < truth_cnt / 100, "the stack's mean size undercounts objects 100-fold");
}

/* heap_profile__estimate sums entries unsampled one by one: a process whose one stack mixes
 * 16 B and 10 MiB samples gets each size's own probability, so /metrics agrees with the
 * profile; its Go runtime samples use the Go rate. */
TEST(sampling_estimate_per_entry)
{
	const __u64 rate = 64 * 1024, big = 10 << 20;
	struct alloc_entry e[3] = {
	    {.key = {.kind = ALLOC_KIND_MALLOC, .size = 16},
	     .stats = {.alloc_cnt = 244,
		       .alloc_bytes = 244 * 16,
		       .free_cnt = 244,
		       .free_bytes = 244 * 16}},
	    {.key = {.kind = ALLOC_KIND_MALLOC, .size = big},
	     .stats =
		 {.alloc_cnt = 10, .alloc_bytes = 10 * big, .free_cnt = 4, .free_bytes = 4 * big}},
	    {.key = {.kind = ALLOC_KIND_GO, .size = 1 << 20},
	     .stats = {.alloc_cnt = 2, .alloc_bytes = 2 << 20}},
	};
	struct heap_estimate est;
	__s64 c, b, gc, gb;

	heap_profile__estimate(e, 3, rate, 512 * 1024, &est);
	sampling__scale(244, 244 * 16, rate, &c, &b);
	sampling__scale(2, 2 << 20, 512 * 1024, &gc, &gb);
	ASSERT_EQ(est.alloc_cnt, c + 10 + gc, "objects: per entry");
	ASSERT_TRUE(est.alloc_cnt > 990000, "about a million objects, not a few hundred");
	ASSERT_EQ(est.free_cnt, c + 4, "freed objects");
	ASSERT_EQ(est.inuse_cnt, 6 + gc, "in use: the 10 MiB blocks left and the Go ones");
	ASSERT_EQ(est.inuse_bytes, 6 * (__s64)big + gb, "in-use bytes");
}
