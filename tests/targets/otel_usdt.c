// SPDX-License-Identifier: MIT
/*
 * A process with its own allocation sampler that reports through the OpenTelemetry memory USDTs
 * (otel_memory:alloc(ptr, size, weight), otel_memory:free(ptr); opentelemetry-ebpf-profiler
 * design 00003), as Datadog's heap sampler library does. Modes:
 *   exact [N]      every allocation is a sample of weight = its size (an interval of 1 byte):
 *                  otel_small makes 3000 blocks of 64 B and frees them, otel_kept 500 of 4096 B
 *                  and keeps them; exact counts. N repeats the whole pattern (default 1).
 *   sampled N R    byte-Poisson sampling at mean interval R: otel_small makes N blocks of 64 B,
 *                  otel_kept N / 8 of 4096 B, all freed at the end; each sample weighs
 *                  (points in its bytes) * R. Prints ns per malloc+free pair.
 * It waits on stdin for a line before exiting when the last argument is "wait".
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/sdt.h>

static double interval = 1; /* mean bytes between samples; 1: every allocation */
static double remaining;
static unsigned long long rng = 88172645463325252ULL;

static double draw(void)
{
	double u;

	if (interval <= 1)
		return 1;
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	u = (rng >> 11) * (1.0 / 9007199254740992.0);
	return -log1p(-u) * interval;
}

/* Sampled blocks carry a tag word before them, so that free knows which to report. */
#define TAG 0x6f74656c6d656d31ULL

static void *sampled_malloc(size_t size)
{
	uint64_t *p = malloc(size + 16);
	unsigned long long n = 0;

	if (!p)
		return NULL;
	remaining -= size;
	while (remaining <= 0) {
		n++;
		remaining += draw();
	}
	p[0] = n ? TAG : 0;
	if (n) {
		unsigned long long weight = interval <= 1 ? size : n * (unsigned long long)interval;

		DTRACE_PROBE3(otel_memory, alloc, p + 2, size, weight);
	}
	return p + 2;
}

static void sampled_free(void *ptr)
{
	uint64_t *p = (uint64_t *)ptr - 2;

	if (p[0] == TAG)
		DTRACE_PROBE1(otel_memory, free, ptr);
	free(p);
}

static void *use(void *p)
{
	asm volatile("" : "+r"(p)::"memory");
	return p;
}

void otel_small(long n)
{
	for (long i = 0; i < n; i++)
		sampled_free(use(sampled_malloc(64)));
}

void **otel_kept(long n)
{
	void **v = calloc(n, sizeof(*v));

	for (long i = 0; v && i < n; i++)
		v[i] = use(sampled_malloc(4096));
	return v;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int wait = argc > 1 && !strcmp(argv[argc - 1], "wait");
	char line[16];

	if (wait)
		argc--;
	if (argc > 1 && !strcmp(argv[1], "sampled")) {
		long n = argc > 2 ? atol(argv[2]) : 1000000;
		double t0, t1;
		void **kept;

		interval = argc > 3 ? atof(argv[3]) : 512 * 1024;
		remaining = draw();
		t0 = now_ns();
		otel_small(n);
		t1 = now_ns();
		kept = otel_kept(n / 8);
		for (long i = 0; kept && i < n / 8; i++)
			sampled_free(kept[i]);
		free(kept);
		printf("%.1f ns per malloc+free\n", (t1 - t0) / n);
	} else {
		long reps = argc > 2 ? atol(argv[2]) : 1;

		remaining = 1;
		for (long r = 0; r < reps; r++) {
			otel_small(3000);
			otel_kept(500);
		}
		printf("done\n");
	}
	fflush(stdout);
	if (wait && !fgets(line, sizeof(line), stdin))
		return 1;
	return 0;
}
