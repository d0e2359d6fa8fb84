// SPDX-License-Identifier: MIT
/* A syscall-heavy process for tests/bench/syscall_tax.sh: N getppid() calls, the cheapest real
 * syscall, made through syscall(2) so that no libc cache answers. Prints the wall time per call
 * in nanoseconds. Usage: syscall_loop N */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	long n;

	if (argc != 2 || (n = atol(argv[1])) <= 0) {
		fprintf(stderr, "usage: syscall_loop N\n");
		return 2;
	}
	for (long i = 0; i < n / 10; i++) /* warm up */
		syscall(SYS_getppid);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	printf("%.1f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n);
	return 0;
}
