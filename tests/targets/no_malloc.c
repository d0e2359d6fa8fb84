// SPDX-License-Identifier: MIT
/* A static process with no allocator at all: it only sleeps. Built with -nostdlib -static. */
#include <sys/syscall.h>

static long sys_pause(void)
{
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(SYS_pause) : "rcx", "r11", "memory");
	return ret;
}

void _start(void)
{
	for (;;)
		sys_pause();
}
