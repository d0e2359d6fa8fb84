// SPDX-License-Identifier: MIT
/*
 * A process whose allocations are known exactly, each pattern from its own function, so the
 * end-to-end tests can assert counts and bytes per function (tests/e2e/expected.py holds the
 * same numbers). Built with frame pointers and without inlining.
 *
 * Usage: alloc_pattern [--wait] [--repeat N]
 *   --wait      print "ready" and wait for a line on stdin before allocating (for --pid tests),
 *               and again before exiting
 *   --repeat N  run the whole pattern N times (for sampled-rate tests); with --wait, each
 *               round waits for its own line
 *   --delay-ms N  sleep N ms before the first allocation of the pattern (for churn tests: a
 *               process that lives long enough after exec for a daemon to attach)
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define SMALL_CNT     1000
#define SMALL_SIZE    64
#define LARGE_CNT     10
#define LARGE_SIZE    (1 << 20)
#define CALLOC_CNT    200
#define REALLOC_CNT   10
#define MEMALIGN_CNT  50
#define MMAP_CNT      3
#define MMAP_SIZE     (4 << 20)
#define THREAD_CNT    2
#define THREAD_ALLOCS 500

static void *keep[4096];
static int keep_cnt;

/* Stop the compiler from eliding an allocation whose result is otherwise unused. */
static void hold(void *p)
{
	if (!p)
		abort();
	keep[keep_cnt++ % 4096] = p;
	__asm__ volatile("" : : "r"(p) : "memory");
}

/* 1000 x 64 bytes, all live at exit. */
__attribute__((noinline)) void alloc_small(void)
{
	for (int i = 0; i < SMALL_CNT; i++)
		hold(malloc(SMALL_SIZE));
}

/* 10 x 1 MiB (glibc mmaps each inside malloc: must count once), half freed. */
__attribute__((noinline)) void alloc_large(void)
{
	void *p[LARGE_CNT];

	for (int i = 0; i < LARGE_CNT; i++) {
		p[i] = malloc(LARGE_SIZE);
		if (!p[i])
			abort();
		memset(p[i], 1, 4096);
	}
	for (int i = 0; i < LARGE_CNT; i += 2)
		free(p[i]);
	for (int i = 1; i < LARGE_CNT; i += 2)
		hold(p[i]);
}

/* 200 x calloc(10, 32), all freed. */
__attribute__((noinline)) void alloc_calloc(void)
{
	void *p[CALLOC_CNT];

	for (int i = 0; i < CALLOC_CNT; i++)
		p[i] = calloc(10, 32);
	for (int i = 0; i < CALLOC_CNT; i++)
		free(p[i]);
}

/* 10 x (malloc 100, realloc to 200, realloc to 400): the mallocs and the first reallocs are
 * freed by the realloc after them; the last blocks stay live. */
__attribute__((noinline)) void alloc_realloc(void)
{
	for (int i = 0; i < REALLOC_CNT; i++) {
		char *p = malloc(100);

		p = realloc(p, 200);
		p = realloc(p, 400);
		hold(p);
	}
}

/* posix_memalign 50 x 256 (live), aligned_alloc 20 x 512 (freed), valloc 5 x 1000 (live). */
__attribute__((noinline)) void alloc_aligned(void)
{
	void *p[20];

	for (int i = 0; i < MEMALIGN_CNT; i++) {
		void *q = NULL;

		if (posix_memalign(&q, 64, 256))
			abort();
		hold(q);
	}
	for (int i = 0; i < 20; i++)
		p[i] = aligned_alloc(64, 512);
	for (int i = 0; i < 20; i++)
		free(p[i]);
	for (int i = 0; i < 5; i++)
		hold(valloc(1000));
}

/* A failed allocation counts nothing. */
__attribute__((noinline)) void alloc_fail(void)
{
	volatile size_t huge = (size_t)1 << 62;
	void *p = malloc(huge);

	if (p)
		abort();
}

/* 3 anonymous mappings of 4 MiB, one unmapped. */
__attribute__((noinline)) void map_anon(void)
{
	void *p[MMAP_CNT];

	for (int i = 0; i < MMAP_CNT; i++) {
		p[i] = mmap(NULL, MMAP_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
		if (p[i] == MAP_FAILED)
			abort();
	}
	munmap(p[0], MMAP_SIZE);
}

/* Each thread: 500 x 128 bytes, all freed. */
__attribute__((noinline)) void *thread_work(void *arg)
{
	void *p[THREAD_ALLOCS];

	for (int i = 0; i < THREAD_ALLOCS; i++)
		p[i] = malloc(128);
	for (int i = 0; i < THREAD_ALLOCS; i++)
		free(p[i]);
	return arg;
}

__attribute__((noinline)) void run_threads(void)
{
	pthread_t t[THREAD_CNT];

	for (int i = 0; i < THREAD_CNT; i++)
		if (pthread_create(&t[i], NULL, thread_work, NULL))
			abort();
	for (int i = 0; i < THREAD_CNT; i++)
		pthread_join(t[i], NULL);
}

/* The child frees blocks it inherited and allocates its own; none of it is the parent's. */
__attribute__((noinline)) void child_work(void)
{
	for (int i = 0; i < keep_cnt && i < 100; i++)
		free(keep[i]);
	for (int i = 0; i < 100; i++)
		hold(malloc(32));
}

__attribute__((noinline)) void do_fork(void)
{
	pid_t pid = fork();

	if (pid < 0)
		abort();
	if (pid == 0) {
		child_work();
		_exit(0);
	}
	waitpid(pid, NULL, 0);
}

static void wait_line(void)
{
	char buf[16];

	printf("ready\n");
	fflush(stdout);
	if (!fgets(buf, sizeof(buf), stdin))
		exit(3);
}

int main(int argc, char **argv)
{
	int wait = 0, repeat = 1, delay_ms = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--wait"))
			wait = 1;
		else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--delay-ms") && i + 1 < argc)
			delay_ms = atoi(argv[++i]);
	}
	/* stdio's buffers are allocated before the pattern starts. */
	setvbuf(stdout, NULL, _IONBF, 0);
	if (wait)
		wait_line();
	if (delay_ms > 0)
		usleep((useconds_t)delay_ms * 1000);
	for (int r = 0; r < repeat; r++) {
		/* With --wait and --repeat, every round waits for its own line. */
		if (wait && r > 0)
			wait_line();
		keep_cnt = 0;
		alloc_small();
		alloc_large();
		alloc_calloc();
		alloc_realloc();
		alloc_aligned();
		alloc_fail();
		map_anon();
		run_threads();
		do_fork();
	}
	if (wait)
		wait_line();
	return 7;
}
