// SPDX-License-Identifier: MIT
/* Sampling: the interval table keeps the exponential's mean and shape; unsampling follows Go's
 * scaleHeapSample. */
#include <math.h>
#include <stdlib.h>

#include "probe/sampling.h"
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
