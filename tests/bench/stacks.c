// SPDX-License-Identifier: MIT
/* A target with an exact number of unique allocation call stacks, for the daemon's benchmark
 * (tests/bench/daemon.sh). Stack i of [0, TOTAL) descends K = ceil(log2 TOTAL) levels, entering
 * zero() or one() at level l by bit l of i, and mallocs+frees SIZE bytes at the leaf: distinct i,
 * distinct return addresses. This process owns stacks [FIRST, FIRST + COUNT) and, every PERIOD_MS,
 * allocates once on each of them, for SECONDS, then exits by itself; so every drain sees fresh
 * updates of every stack. With GO_FILE it first waits (at most 120 s) until that file exists,
 * so the daemon can attach before the first allocation.
 * Prints the passes it made. Build: -O1 -fno-omit-frame-pointer -fno-inline
 * -fno-optimize-sibling-calls (no tail calls: every level must keep its frame).
 * Usage: stacks TOTAL FIRST COUNT SECONDS PERIOD_MS [GO_FILE [SIZE]] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static unsigned depth;
static size_t size = 64;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static __attribute__((noinline)) void leaf(void)
{
	void *p = malloc(size);

	/* The compiler may not drop the pair: the pointer escapes into an empty asm. */
	__asm__ volatile("" : : "r"(p) : "memory");
	free(p);
}

static __attribute__((noinline)) void zero(unsigned level, unsigned i);
static __attribute__((noinline)) void one(unsigned level, unsigned i);

static __attribute__((noinline)) void descend(unsigned level, unsigned i)
{
	if (level == depth)
		leaf();
	else if (i >> level & 1)
		one(level + 1, i);
	else
		zero(level + 1, i);
	/* Keeps the calls above from being turned into jumps whatever the flags. */
	__asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void zero(unsigned level, unsigned i)
{
	descend(level, i);
	__asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void one(unsigned level, unsigned i)
{
	descend(level, i);
	__asm__ volatile("" ::: "memory");
}

static int parse(const char *s, long min, long *out)
{
	char *end;

	*out = strtol(s, &end, 10);
	return *s && !*end && *out >= min;
}

int main(int argc, char **argv)
{
	long total, first, count, seconds, period_ms, sz = 64, passes = 0;
	double start, deadline, next;

	if (argc < 6 || !parse(argv[1], 1, &total) || !parse(argv[2], 0, &first) ||
	    !parse(argv[3], 1, &count) || !parse(argv[4], 1, &seconds) ||
	    !parse(argv[5], 1, &period_ms) || (argc > 7 && !parse(argv[7], 1, &sz)) ||
	    first + count > total || total > (1L << 30)) {
		fprintf(stderr,
			"usage: stacks TOTAL FIRST COUNT SECONDS PERIOD_MS [GO_FILE [SIZE]]\n"
			"  FIRST + COUNT <= TOTAL <= 2^30\n");
		return 2;
	}
	size = sz;
	while ((1L << depth) < total)
		depth++;
	if (argc > 6) {
		deadline = now_s() + 120;
		while (access(argv[6], F_OK) && now_s() < deadline)
			usleep(20000);
	}
	start = now_s();
	deadline = start + seconds;
	for (next = start; now_s() < deadline; passes++) {
		for (long i = first; i < first + count; i++)
			descend(0, i);
		next += period_ms / 1e3;
		while (now_s() < next && now_s() < deadline)
			usleep(10000);
	}
	printf("%ld\n", passes);
	return 0;
}
