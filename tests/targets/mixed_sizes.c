// SPDX-License-Identifier: MIT
/* Stacks that mix sizes, for unsampling that must be right per size: one stack makes
 * 1,000,000 blocks of 16 B and 10 of 10 MiB (issue 14's held-out shape), another a geometric
 * spread from 8 B to 1 MiB (200000 >> k blocks of 8 << k bytes, k = 0..17). Everything is
 * freed. tests/e2e/test_accuracy.py holds the truth. */
#include <stdio.h>
#include <stdlib.h>

#define SMALL_N	   1000000
#define HUGE_N	   10
#define HUGE_SIZE  (10 << 20)
#define GEO_STEPS  18
#define GEO_BASE_N 200000

/* Each allocation and its free through one call site each: one stack per function. The
 * compiler may drop a malloc whose block is only freed: the empty asm keeps the block used. */
static void *use(void *p)
{
	asm volatile("" : "+r"(p)::"memory");
	return p;
}

void mixed_small_huge(void)
{
	for (int i = 0; i < SMALL_N + HUGE_N; i++) {
		size_t size = i % (SMALL_N / HUGE_N + 1) == SMALL_N / HUGE_N ? HUGE_SIZE : 16;

		free(use(malloc(size)));
	}
}

void mixed_geometric(void)
{
	for (int k = 0; k < GEO_STEPS; k++) {
		for (int i = 0; i < GEO_BASE_N >> k; i++) {
			free(use(malloc((size_t)8 << k)));
		}
	}
}

int main(void)
{
	mixed_small_huge();
	mixed_geometric();
	printf("done\n");
	return 0;
}
