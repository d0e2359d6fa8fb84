// SPDX-License-Identifier: MIT
/*
 * Leaks from one known function until the kernel OOM-kills it, for the snapshot tests: run in a
 * memory cgroup with a limit. Prints "ready" and waits for a line on stdin (so that the daemon
 * has attached), then leak_site allocates and touches 1 MiB blocks forever; other_site holds a
 * few small blocks so that the leak is not the only stack.
 *
 * Usage: oom_leak [--hold | --slow]
 *   --hold: stop after 32 MiB and wait, for the limit and request tests
 *   --slow: the same, one block every 100 ms, for the growth test
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK_BYTES (1 << 20)
#define HOLD_BLOCKS 32

static void *keep[65536];
static int keep_cnt;

/* Stop the compiler from eliding the block, its memset or the store of it. */
static void hold(void *p)
{
	keep[keep_cnt++ % 65536] = p;
	__asm__ volatile("" : : "r"(p) : "memory");
}

__attribute__((noinline)) void leak_site(void)
{
	void *p = malloc(BLOCK_BYTES);

	if (!p)
		abort();
	/* Touched: charged to the cgroup, as a real leak's pages are. */
	memset(p, 0x5a, BLOCK_BYTES);
	hold(p);
}

__attribute__((noinline)) void other_site(void)
{
	for (int i = 0; i < 16; i++) {
		void *p = malloc(4096);

		if (!p)
			abort();
		memset(p, 1, 4096);
		hold(p);
	}
}

int main(int argc, char **argv)
{
	int slow = argc == 2 && !strcmp(argv[1], "--slow");
	int hold = slow || (argc == 2 && !strcmp(argv[1], "--hold"));
	char line[16];

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	other_site();
	for (int i = 0; !hold || i < HOLD_BLOCKS; i++) {
		leak_site();
		/* Slow enough that a drain or two sees it grow. */
		if (slow)
			usleep(100000);
		else if (i % 8 == 7)
			usleep(20000);
	}
	printf("held\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	return 0;
}
