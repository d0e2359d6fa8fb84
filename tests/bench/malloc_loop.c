// SPDX-License-Identifier: MIT
/* A malloc-heavy loop for overhead measurements: N malloc+free pairs of SIZE bytes on T threads.
 * Prints the wall time per pair in nanoseconds.
 * Usage: malloc_loop N SIZE [THREADS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long iters;
static size_t size;

static void *loop(void *arg)
{
	for (long i = 0; i < iters; i++) {
		void *p = malloc(size);

		__asm__ volatile("" : : "r"(p) : "memory");
		free(p);
	}
	return arg;
}

int main(int argc, char **argv)
{
	struct timespec a, b;
	pthread_t t[64];
	int threads;

	if (argc < 3)
		return 2;
	iters = atol(argv[1]);
	size = atol(argv[2]);
	threads = argc > 3 ? atoi(argv[3]) : 1;
	if (threads < 1 || threads > 64)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, loop, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / iters);
	return 0;
}
