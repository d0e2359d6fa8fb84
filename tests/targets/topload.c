// SPDX-License-Identifier: MIT
/*
 * A steady allocation load for `allocscope top`'s tests: two functions allocate on every tick,
 * alloc_big_blocks 4x the bytes of alloc_small_objects and alloc_small_objects 4x the objects
 * of alloc_big_blocks, so the order of the two flips between sorting by bytes/s and by
 * objects/s. Each keeps its last blocks live (big: 4 MiB, small: 1 MiB) and frees the rest.
 *
 * Usage: topload [SECONDS]   (default 30; prints "ready" once allocating)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICK_NS	       5000000L /* 200 ticks a second */
#define BIG_PER_TICK   16
#define BIG_SIZE       (64 << 10)
#define BIG_KEEP       64
#define SMALL_PER_TICK (4 * BIG_PER_TICK)
#define SMALL_SIZE     (BIG_SIZE / 16)
#define SMALL_KEEP     256

static void *big[BIG_KEEP];
static void *small[SMALL_KEEP];
static unsigned long big_next, small_next;

/* Replace the oldest kept block with p, freeing it. */
static void keep(void **ring, unsigned long *next, int cap, void *p)
{
	if (!p)
		abort();
	memset(p, 0, 64);
	free(ring[*next % cap]);
	ring[*next % cap] = p;
	(*next)++;
}

__attribute__((noinline)) void alloc_big_blocks(void)
{
	for (int i = 0; i < BIG_PER_TICK; i++)
		keep(big, &big_next, BIG_KEEP, malloc(BIG_SIZE));
}

__attribute__((noinline)) void alloc_small_objects(void)
{
	for (int i = 0; i < SMALL_PER_TICK; i++)
		keep(small, &small_next, SMALL_KEEP, malloc(SMALL_SIZE));
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 30;
	struct timespec start, now, tick = {.tv_nsec = TICK_NS};

	clock_gettime(CLOCK_MONOTONIC, &start);
	printf("ready\n");
	fflush(stdout);
	do {
		alloc_big_blocks();
		alloc_small_objects();
		nanosleep(&tick, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
	return 0;
}
