// SPDX-License-Identifier: MIT
/* libcfinew.so: C++ new in a library built without frame pointers; operator new comes from
 * Debian's libstdc++, which has none either. */
#include <cstddef>

#define NOINLINE __attribute__((noinline, noclone))

extern "C" {

volatile unsigned char cfi_new_sink;

NOINLINE void *cfi_new_block(std::size_t n)
{
	volatile char pad[96];
	char *p = new char[n];

	pad[0] = 3;
	p[0] = pad[0];
	cfi_new_sink += p[0];
	return p;
}

NOINLINE void cfi_delete_block(void *p)
{
	delete[] static_cast<char *>(p);
}
}
