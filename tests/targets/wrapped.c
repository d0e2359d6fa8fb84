// SPDX-License-Identifier: MIT
/*
 * Allocations through wrappers of the allocator, counts known exactly
 * (tests/e2e/test_wrappers.py):
 *   main -> use_xmalloc -> xmalloc -> malloc             XMALLOC_BLOCKS of XMALLOC_SIZE (built-in
 *                                                        wrapper name), half freed
 *   main -> use_own_wrapper -> my_alloc_block -> my_alloc_zeroed -> calloc
 *                                                        OWN_BLOCKS of OWN_SIZE (a wrapper only
 *                                                        --wrapper names), all kept
 *   main -> use_direct -> malloc                         DIRECT_BLOCKS of DIRECT_SIZE, all freed
 * --wait: say "ready" and wait for a line before allocating, and again before exiting.
 * --loop: allocate the whole pattern again every 20 ms until stdin closes (for top).
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))

#define XMALLOC_BLOCKS 300
#define XMALLOC_SIZE   100
#define OWN_BLOCKS     200
#define OWN_SIZE       256
#define DIRECT_BLOCKS  100
#define DIRECT_SIZE    5000

static void *volatile xkeep[XMALLOC_BLOCKS];
static void *volatile okeep[OWN_BLOCKS];

/* As gnulib's: the block or exit. */
NOINLINE void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		abort();
	return p;
}

NOINLINE void *my_alloc_zeroed(size_t n)
{
	void *p = calloc(1, n);

	if (!p)
		abort();
	return p;
}

NOINLINE void *my_alloc_block(size_t n)
{
	return my_alloc_zeroed(n);
}

NOINLINE void use_xmalloc(void)
{
	for (int i = 0; i < XMALLOC_BLOCKS; i++)
		xkeep[i] = xmalloc(XMALLOC_SIZE);
	for (int i = 0; i < XMALLOC_BLOCKS; i += 2)
		free(xkeep[i]);
}

NOINLINE void use_own_wrapper(void)
{
	for (int i = 0; i < OWN_BLOCKS; i++)
		okeep[i] = my_alloc_block(OWN_SIZE);
}

NOINLINE void use_direct(void)
{
	for (int i = 0; i < DIRECT_BLOCKS; i++) {
		void *volatile p = malloc(DIRECT_SIZE);

		free(p);
	}
}

static void wait_line(int wait)
{
	char buf[16];

	if (!wait)
		return;
	printf("ready\n");
	fflush(stdout);
	if (!fgets(buf, sizeof(buf), stdin))
		exit(3);
}

int main(int argc, char **argv)
{
	int wait = argc > 1 && !strcmp(argv[1], "--wait");
	int loop = argc > 1 && !strcmp(argv[1], "--loop");

	wait_line(wait);
	if (loop) {
		struct pollfd pfd = {.fd = 0, .events = POLLIN};

		printf("ready\n");
		fflush(stdout);
		/* Until stdin has something (a line, or its end). */
		while (poll(&pfd, 1, 20) == 0) {
			use_xmalloc();
			for (int i = 1; i < XMALLOC_BLOCKS; i += 2)
				free(xkeep[i]);
			use_own_wrapper();
			for (int i = 0; i < OWN_BLOCKS; i++)
				free(okeep[i]);
			use_direct();
		}
		return 0;
	}
	use_xmalloc();
	use_own_wrapper();
	use_direct();
	wait_line(wait);
	return 0;
}
