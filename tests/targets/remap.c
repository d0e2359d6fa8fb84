// SPDX-License-Identifier: MIT
/*
 * Anonymous mappings grown, moved, shrunk and unmapped in ways a single mmap/munmap pair does
 * not show (tests/e2e/test_mappings.py keeps the expected values in step):
 *   remap_grow    mmap 1 MiB, mremap it to 4 MiB (may move)   in use: 4 MiB (mremap)
 *   remap_move    mmap 2 MiB twice, mremap the first onto the second (MREMAP_FIXED)
 *                                                               in use: 2 MiB (mremap)
 *   remap_shrink  mmap 4 MiB, mremap it to 1 MiB in place     in use: 1 MiB (mremap)
 *   unmap_span    3 x 2 MiB mapped side by side (MAP_FIXED in a PROT_NONE reservation), then
 *                 one munmap of all 6 MiB                       in use: 0
 *   unmap_fail    mmap 1 MiB, munmap of an unaligned address (EINVAL)   in use: 1 MiB (mmap)
 *
 * Usage: remap [--wait]   (--wait: "ready" on stdout, then run at a "go" line on stdin)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MIB (1UL << 20)

static void *map(void *at, size_t len, int prot, int flags)
{
	void *p = mmap(at, len, prot, flags | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

static void *remap(void *old, size_t old_len, size_t new_len, int flags, void *to)
{
	void *p = mremap(old, old_len, new_len, flags, to);

	if (p == MAP_FAILED) {
		perror("mremap");
		exit(1);
	}
	return p;
}

__attribute__((noinline)) void *remap_grow(void)
{
	void *p = map(NULL, MIB, PROT_READ | PROT_WRITE, 0);

	return remap(p, MIB, 4 * MIB, MREMAP_MAYMOVE, NULL);
}

__attribute__((noinline)) void *remap_move(void)
{
	void *p = map(NULL, 2 * MIB, PROT_READ | PROT_WRITE, 0);
	void *to = map(NULL, 2 * MIB, PROT_READ | PROT_WRITE, 0);

	return remap(p, 2 * MIB, 2 * MIB, MREMAP_MAYMOVE | MREMAP_FIXED, to);
}

__attribute__((noinline)) void *remap_shrink(void)
{
	void *p = map(NULL, 4 * MIB, PROT_READ | PROT_WRITE, 0);

	return remap(p, 4 * MIB, MIB, 0, NULL);
}

__attribute__((noinline)) void unmap_span(void)
{
	char *base = map(NULL, 6 * MIB, PROT_NONE, MAP_NORESERVE);

	for (int i = 0; i < 3; i++)
		map(base + i * 2 * MIB, 2 * MIB, PROT_READ | PROT_WRITE, MAP_FIXED);
	if (munmap(base, 6 * MIB)) {
		perror("munmap");
		exit(1);
	}
}

__attribute__((noinline)) void *unmap_fail(void)
{
	char *p = map(NULL, MIB, PROT_READ | PROT_WRITE, 0);

	if (munmap(p + 1, 4096) == 0 || errno != EINVAL) {
		fprintf(stderr, "munmap of an unaligned address did not fail with EINVAL\n");
		exit(1);
	}
	return p;
}

int main(int argc, char **argv)
{
	char line[64];

	if (argc > 1 && !strcmp(argv[1], "--wait")) {
		printf("ready\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	remap_grow();
	remap_move();
	remap_shrink();
	unmap_span();
	unmap_fail();
	printf("done\n");
	fflush(stdout);
	return 0;
}
