// SPDX-License-Identifier: MIT
/* A malloc-heavy loop for overhead measurements: N allocations of SIZE bytes on each of T threads.
 * With BATCH 1 (the default) each malloc is freed at once; with BATCH K each thread keeps K blocks
 * live and then frees them in bulk, so the profiler tracks K live blocks per thread.
 * Prints the wall time per allocation of one thread (wall time / N) in nanoseconds.
 * WARMUP (default 1) malloc+free pairs run before the clock starts.
 * Usage: malloc_loop N SIZE [THREADS [BATCH [WARMUP]]] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAX_THREADS 64
#define MAX_BATCH 65536

static long iters;
static size_t size;
static long batch = 1;

static void *loop(void *arg)
{
	void **held = NULL;

	if (batch == 1) {
		for (long i = 0; i < iters; i++) {
			void *p = malloc(size);

			__asm__ volatile("" : : "r"(p) : "memory");
			free(p);
		}
		return arg;
	}
	/* One extra allocation per thread for the array, negligible against N. */
	held = calloc(batch, sizeof(*held));
	if (!held)
		abort();
	for (long i = 0; i < iters;) {
		long k = 0;

		for (; k < batch && i < iters; k++, i++) {
			held[k] = malloc(size);
			__asm__ volatile("" : : "r"(held[k]) : "memory");
		}
		while (k > 0)
			free(held[--k]);
	}
	free(held);
	return arg;
}

int main(int argc, char **argv)
{
	struct timespec a, b;
	pthread_t t[MAX_THREADS];
	long warmup;
	int threads;

	if (argc < 3)
		return 2;
	iters = atol(argv[1]);
	size = atol(argv[2]);
	threads = argc > 3 ? atoi(argv[3]) : 1;
	batch = argc > 4 ? atol(argv[4]) : 1;
	warmup = argc > 5 ? atol(argv[5]) : 1;
	if (threads < 1 || threads > MAX_THREADS || batch < 1 || batch > MAX_BATCH || warmup < 0)
		return 2;
	/* Start-up costs stay out of the timed loop: a preloaded profiler (heaptrack) initialises
	 * itself on the first malloc, and its writer stalls once until its reader is ready. */
	for (long i = 0; i < warmup; i++) {
		void *p = malloc(size);

		__asm__ volatile("" : : "r"(p) : "memory");
		free(p);
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, loop, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / iters);
	return 0;
}
