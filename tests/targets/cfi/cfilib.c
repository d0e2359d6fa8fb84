// SPDX-License-Identifier: MIT
/* libcfilib.so: three call levels down to malloc, built without frame pointers, so only CFI
 * unwinds through it. Each level keeps a frame (a buffer on the stack) and uses its callee's
 * result after the call, so none is a tail call. */
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline, noclone))

volatile unsigned char cfi_lib_sink;

NOINLINE void *cfi_lib_inner(size_t n)
{
	volatile char pad[64];
	char *p = malloc(n);

	pad[0] = (char)n;
	if (p)
		p[0] = pad[0];
	return p;
}

NOINLINE void *cfi_lib_middle(size_t n)
{
	volatile char pad[128];
	void *p = cfi_lib_inner(n);

	pad[0] = 1;
	cfi_lib_sink += pad[0];
	return p;
}

NOINLINE void *cfi_lib_outer(size_t n)
{
	volatile char pad[256];
	void *p = cfi_lib_middle(n);

	pad[0] = 2;
	cfi_lib_sink += pad[0];
	return p;
}
