// SPDX-License-Identifier: MIT
/*
 * A process whose memory map never settles, for tests/bench/maps_churn.sh: each round starts and
 * joins a thread (a stack mapped and unmapped, an arena touched), maps and unmaps 1 MiB of
 * anonymous memory and a file, and loads and unloads a shared library (dlopen/dlclose), then
 * allocates and frees a little. The daemon re-reads /proc/PID/maps at every drain that sees a
 * change: what it keeps of them must not grow with the rounds.
 *
 * Usage: maps_churn SECONDS [ROUNDS_PER_SECOND]
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void *thread_work(void *arg)
{
	void *p = malloc(256);

	free(p);
	return arg;
}

__attribute__((noinline)) void churn_round(const char *file)
{
	pthread_t t;
	struct stat st;
	void *m, *lib;
	int fd;

	if (pthread_create(&t, NULL, thread_work, NULL) || pthread_join(t, NULL))
		abort();
	m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		abort();
	munmap(m, 1 << 20);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && !fstat(fd, &st) && st.st_size) {
		m = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m != MAP_FAILED)
			munmap(m, st.st_size);
	}
	if (fd >= 0)
		close(fd);
	lib = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
	if (lib)
		dlclose(lib);
	free(malloc(4096));
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 10, rate = argc > 2 ? atof(argv[2]) : 50;
	struct timespec start, now, pause = {0, (long)(1e9 / (rate > 0 ? rate : 50))};
	unsigned long rounds = 0;

	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		churn_round(argv[0]);
		rounds++;
		nanosleep(&pause, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - start.tv_sec + (now.tv_nsec - start.tv_nsec) / 1e9 < secs);
	printf("%lu rounds\n", rounds);
	return 0;
}
