// SPDX-License-Identifier: MIT
/*
 * A process in which exactly one function's allocation scales with a flag, for `allocscope
 * diff`: two runs with --factor 1 and --factor 2 differ by +100% in grow_site and by nothing
 * elsewhere. Built with frame pointers and without inlining (tests/build.mk).
 *
 * Usage: grow [--factor N]
 *   grow_site    N x 100 x malloc(1000)
 *   steady_site  50 x malloc(4096)
 *   steady_calloc 20 x calloc(16, 64)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROW_CNT    100
#define GROW_SIZE   1000
#define STEADY_CNT  50
#define STEADY_SIZE 4096
#define CALLOC_CNT  20

static void *keep[8192];
static int keep_cnt;

/* Stop the compiler from eliding an allocation whose result is otherwise unused. */
static void hold(void *p)
{
	if (!p)
		abort();
	keep[keep_cnt++ % 8192] = p;
	__asm__ volatile("" : : "r"(p) : "memory");
}

__attribute__((noinline)) void grow_site(int factor)
{
	for (int i = 0; i < factor * GROW_CNT; i++)
		hold(malloc(GROW_SIZE));
}

__attribute__((noinline)) void steady_site(void)
{
	for (int i = 0; i < STEADY_CNT; i++)
		hold(malloc(STEADY_SIZE));
}

__attribute__((noinline)) void steady_calloc(void)
{
	for (int i = 0; i < CALLOC_CNT; i++)
		hold(calloc(16, 64));
}

int main(int argc, char **argv)
{
	int factor = 1;

	if (argc == 3 && !strcmp(argv[1], "--factor"))
		factor = atoi(argv[2]);
	if (factor < 1 || factor > 50) {
		fprintf(stderr, "usage: grow [--factor N], N from 1 to 50\n");
		return 2;
	}
	steady_site();
	grow_site(factor);
	steady_calloc();
	return 0;
}
