// SPDX-License-Identifier: MIT
/* A native target for the overhead budget: for SECONDS it mallocs SIZE-byte blocks as fast as it
 * can (or PER_SEC a second), keeping the last LIVE of them and freeing the oldest, so that the
 * live set is always LIVE blocks; then frees every block and prints exactly how many it made:
 * "allocs N bytes B live LIVE cpu_s S" (its CPU time, for throughput per CPU second). WORK:
 * iterations of a spin between blocks, the program's own work. GROW 1: each block is realloc'ed
 * to twice its size (in budget_grow) right before it is freed, so that reallocs free sampled
 * blocks too.
 * Usage: budget_load SECONDS SIZE LIVE [PER_SEC [WORK [GROW]]] */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Not inlined: the site every sample's stack names. */
__attribute__((noinline)) static void *budget_alloc(size_t size)
{
	void *p = malloc(size);

	__asm__ volatile("" : : "r"(p) : "memory");
	return p;
}

/* Not inlined either: the site of the grown blocks. */
__attribute__((noinline)) static void *budget_grow(void *p, size_t size)
{
	void *q = realloc(p, size);

	__asm__ volatile("" : : "r"(q) : "memory");
	return q ? q : p;
}

int main(int argc, char **argv)
{
	double secs, end, per_sec = 0, t0;
	size_t size, live, head = 0;
	unsigned long long n = 0;
	volatile unsigned long spin = 0;
	unsigned long work = 0;
	int grow = 0;
	void **ring;
	struct rusage ru;

	if (argc < 4) {
		fprintf(stderr, "usage: budget_load SECONDS SIZE LIVE [PER_SEC]\n");
		return 2;
	}
	secs = atof(argv[1]);
	size = strtoul(argv[2], NULL, 0);
	live = strtoul(argv[3], NULL, 0);
	if (argc > 4)
		per_sec = atof(argv[4]);
	if (argc > 5)
		work = strtoul(argv[5], NULL, 0);
	if (argc > 6)
		grow = atoi(argv[6]);
	ring = calloc(live ? live : 1, sizeof(*ring));
	if (!ring || !live)
		return 1;
	t0 = now_s();
	end = t0 + secs;
	for (;;) {
		/* Check the clock every 256 blocks: cheap next to malloc, exact in count. */
		if (!(n & 255)) {
			double t = now_s();

			if (t >= end)
				break;
			if (per_sec > 0 && n > (t - t0) * per_sec) {
				struct timespec ts = {0, 2 * 1000 * 1000};

				nanosleep(&ts, NULL);
				continue;
			}
		}
		/* Grown when it is the oldest, a while after its malloc: often in another of the
		 * budget's windows. */
		if (grow && ring[head])
			ring[head] = budget_grow(ring[head], 2 * size);
		free(ring[head]);
		ring[head] = budget_alloc(size);
		head = (head + 1) % live;
		n++;
		for (unsigned long i = 0; i < work; i++)
			spin++;
	}
	for (size_t i = 0; i < live; i++)
		free(grow && ring[i] ? budget_grow(ring[i], 2 * size) : ring[i]);
	getrusage(RUSAGE_SELF, &ru);
	printf("allocs %llu bytes %llu live %zu cpu_s %.3f\n", n, n * (unsigned long long)size,
	       live,
	       ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
		   (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	fflush(stdout);
	return 0;
}
