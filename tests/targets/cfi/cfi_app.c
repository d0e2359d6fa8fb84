// SPDX-License-Identifier: MIT
/*
 * Allocations whose stacks only CFI can unwind (built -O2 -fomit-frame-pointer, as are its
 * libraries): main -> app_level1 -> app_level2 -> app_level3 -> cfi_lib_outer ->
 * cfi_lib_middle -> cfi_lib_inner -> malloc, LIB_BLOCKS blocks of LIB_SIZE bytes, half freed;
 * and main -> app_cxx -> cfi_new_block -> operator new[] -> malloc, NEW_BLOCKS of NEW_SIZE,
 * all freed. Exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline, noclone))

#define LIB_BLOCKS 64
#define LIB_SIZE   1000
#define NEW_BLOCKS 32
#define NEW_SIZE   3000

void *cfi_lib_outer(size_t n);
void *cfi_new_block(size_t n);
void cfi_delete_block(void *p);

void *volatile keep[LIB_BLOCKS];
volatile unsigned char app_sink;

NOINLINE void *app_level3(size_t n)
{
	volatile char pad[48];
	void *p = cfi_lib_outer(n);

	pad[0] = 4;
	app_sink += pad[0];
	return p;
}

NOINLINE void *app_level2(size_t n)
{
	volatile char pad[80];
	void *p = app_level3(n);

	pad[0] = 5;
	app_sink += pad[0];
	return p;
}

NOINLINE void *app_level1(size_t n)
{
	volatile char pad[112];
	void *p = app_level2(n);

	pad[0] = 6;
	app_sink += pad[0];
	return p;
}

NOINLINE void app_cxx(void)
{
	for (int i = 0; i < NEW_BLOCKS; i++) {
		void *p = cfi_new_block(NEW_SIZE);

		app_sink += *(volatile unsigned char *)p;
		cfi_delete_block(p);
	}
}

/* --wait: say "ready" and wait for a line before allocating, and again before exiting, so a
 * daemon can attach first (tests/e2e/test_cfi.py). */
static void wait_line(int wait)
{
	char buf[16];

	if (!wait)
		return;
	printf("ready\n");
	fflush(stdout);
	if (!fgets(buf, sizeof(buf), stdin))
		exit(3);
}

int main(int argc, char **argv)
{
	int wait = argc > 1 && !strcmp(argv[1], "--wait");

	wait_line(wait);
	for (int i = 0; i < LIB_BLOCKS; i++)
		keep[i] = app_level1(LIB_SIZE);
	for (int i = 0; i < LIB_BLOCKS; i += 2)
		free(keep[i]);
	app_cxx();
	wait_line(wait);
	return 0;
}
