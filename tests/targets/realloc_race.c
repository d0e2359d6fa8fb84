// SPDX-License-Identifier: MIT
/* Two threads on one arena without thread caches (run with GLIBC_TUNABLES
 * glibc.malloc.tcache_count=0:glibc.malloc.arena_max=1): one moves 48-byte blocks to 1000 bytes
 * with realloc, the other takes 48-byte blocks, so the second is soon given an address the
 * first's realloc just freed, while that realloc has not returned. Waits for a line on stdin
 * before and after; then prints the blocks each holds, "A addr" (1000 B) or "B addr" (48 B). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define ITERS 50000
#define KEEP  64

static void *held_a[KEEP], *held_b[KEEP];

static void *mover(void *arg)
{
	for (int i = 0; i < ITERS; i++) {
		void *p = malloc(48);

		free(held_a[i % KEEP]);
		held_a[i % KEEP] = realloc(p, 1000);
	}
	return NULL;
}

static void *taker(void *arg)
{
	for (int i = 0; i < ITERS; i++) {
		free(held_b[i % KEEP]);
		held_b[i % KEEP] = malloc(48);
	}
	return NULL;
}

int main(void)
{
	pthread_t a, b;
	char line[16];

	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	pthread_create(&a, NULL, mover, NULL);
	pthread_create(&b, NULL, taker, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	for (int i = 0; i < KEEP; i++)
		printf("A %p\nB %p\n", held_a[i], held_b[i]);
	printf("done\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	return 0;
}
