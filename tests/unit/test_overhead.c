// SPDX-License-Identifier: MIT
/* The overhead budget's pure logic: overhead from probe hits and CPU time, the duty cycle that
 * meets a budget, the weights in the sample keys, and the scaling of a duty-cycled entry. */
#include <math.h>

#include "bpf/alloc.h"
#include "probe/overhead.h"
#include "probe/sampling.h"
#include "profile/heap_profile.h"
#include "test.h"

static bool near(double got, double want, double tol)
{
	return fabs(got - want) <= tol;
}

TEST(overhead_rates_from_hits_and_cpu)
{
	double ra, rf;

	/* 2000 allocation-side hits in half a period, 1000 frees, 1 s on CPU, 1 us a hit: 3 ms
	 * of probes, 997 ms of the program's own work. */
	ASSERT_OK(overhead__rates(2000, 1000, 1e9, 0.5, 1000, &ra, &rf), "rates");
	ASSERT_TRUE(near(ra, 4e6 / 997e6, 1e-12), "allocation side at full attach");
	ASSERT_TRUE(near(rf, 1e6 / 997e6, 1e-12), "free side");
	/* More probe time than CPU time (a stale trap cost): the work is floored at 1/20. */
	ASSERT_OK(overhead__rates(1e6, 0, 1e9, 1, 1000, &ra, &rf), "rates");
	ASSERT_TRUE(near(ra, 1e9 / 5e7, 1e-9), "floored work");
	ASSERT_TRUE(overhead__rates(1, 1, 0, 1, 1000, &ra, &rf) == -EINVAL, "no CPU time");
}

TEST(overhead_duty_meets_the_budget)
{
	double d;

	ASSERT_TRUE(near(overhead__fraction(1, 0, 1), 0.5, 1e-12), "probes as long as the work");
	ASSERT_TRUE(near(overhead__fraction(1, 0, 0.5), 1.0 / 3, 1e-12), "half the time");
	d = overhead__duty(0.03, 0.5, 0.01, 1.0 / 64);
	ASSERT_TRUE(near(d, (0.03 / 0.97 - 0.01) / 0.5, 1e-12), "duty");
	ASSERT_TRUE(near(overhead__fraction(0.5, 0.01, d), 0.03, 1e-12), "the budget, exactly");
	ASSERT_TRUE(overhead__duty(0.03, 0.02, 0.005, OVERHEAD_DUTY_MIN) == 1, "under budget");
	/* The free probe alone is over budget: the shortest duty cycle. */
	ASSERT_TRUE(overhead__duty(0.03, 0.5, 0.1, OVERHEAD_DUTY_MIN) == OVERHEAD_DUTY_MIN,
		    "unreachable");
	ASSERT_TRUE(overhead__duty(0, 5, 5, OVERHEAD_DUTY_MIN) == 1, "no budget");
}

TEST(overhead_quantize_keeps_a_steady_duty)
{
	ASSERT_EQ(overhead__quantize(1.2, DUTY_ONE), DUTY_ONE, "over 1");
	ASSERT_EQ(overhead__quantize(0.5, DUTY_ONE), DUTY_ONE / 2, "first");
	ASSERT_EQ(overhead__quantize(0.55, DUTY_ONE / 2), DUTY_ONE / 2, "within 20%: kept");
	ASSERT_EQ(overhead__quantize(0.7, DUTY_ONE / 2), (__u32)lround(0.7 * DUTY_ONE), "moved");
	ASSERT_EQ(overhead__quantize(1e-9, DUTY_ONE), 1, "at least one unit");
}

TEST(overhead_key_share_grid)
{
	ASSERT_EQ(overhead__key_share(1), DUTY_ONE, "all calls seen");
	ASSERT_EQ(overhead__key_share(0.25), DUTY_ONE / 4, "on the grid");
	for (double s = 0.01; s < 1; s *= 1.07) {
		double k = (double)overhead__key_share(s) / DUTY_ONE;

		if (!ASSERT_TRUE(fabs(k / s - 1) <= exp2(1.0 / 64) - 1 + 1e-4,
				 "within half a step"))
			return;
	}
}

TEST(overhead_parse_pct)
{
	double v = -1;

	ASSERT_OK(overhead__parse_pct("3", &v), "3");
	ASSERT_TRUE(v == 3, "3");
	ASSERT_OK(overhead__parse_pct("2.5%", &v), "2.5%");
	ASSERT_TRUE(v == 2.5, "2.5");
	ASSERT_OK(overhead__parse_pct("off", &v), "off");
	ASSERT_TRUE(v == 0, "off");
	ASSERT_OK(overhead__parse_pct("0", &v), "0");
	ASSERT_TRUE(v == 0, "0");
	ASSERT_TRUE(overhead__parse_pct("100", &v) == -EINVAL, "100");
	ASSERT_TRUE(overhead__parse_pct("-1", &v) == -EINVAL, "-1");
	ASSERT_TRUE(overhead__parse_pct("x", &v) == -EINVAL, "x");
	ASSERT_TRUE(overhead__parse_pct("", &v) == -EINVAL, "empty");
}

TEST(overhead_samples_scaled_by_duty)
{
	struct alloc_entry e[2] = {
	    {.key = {.kind = ALLOC_KIND_MALLOC, .duty = DUTY_ONE / 4},
	     .stats = {.alloc_cnt = 10, .alloc_bytes = 640, .free_cnt = 4, .free_bytes = 256}},
	    {.key = {.kind = ALLOC_KIND_MALLOC}, .stats = {.alloc_cnt = 3, .alloc_bytes = 192}},
	};
	struct heap_estimate est;
	__s64 c = 7, b = 100;

	sampling__scale_duty(DUTY_ONE / 4, &c, &b);
	ASSERT_TRUE(c == 28 && b == 400, "a quarter of the calls: times 4");
	c = 7;
	sampling__scale_duty(0, &c, &b);
	ASSERT_TRUE(c == 7, "0: not cycled");
	/* At rate 1 the duty is the only scaling; in-use scales as its allocations did. */
	heap_profile__estimate(e, 2, 1, 1, &est);
	ASSERT_TRUE(est.alloc_cnt == 43 && est.alloc_bytes == 2752, "alloc: 10 * 4 + 3");
	ASSERT_TRUE(est.free_cnt == 16 && est.free_bytes == 1024, "free: 4 * 4");
	ASSERT_TRUE(est.inuse_cnt == 27 && est.inuse_bytes == 1728, "in use: 6 * 4 + 3");
}
