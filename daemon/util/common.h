/* SPDX-License-Identifier: MIT */
/* Small helpers shared by every user-space module of allocscope: one definition each. */
#ifndef ALLOCSCOPE_COMMON_H
#define ALLOCSCOPE_COMMON_H

#include <stddef.h>
#include <linux/types.h>

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

#define min_t(type, a, b) ((type)(a) < (type)(b) ? (type)(a) : (type)(b))
#define max_t(type, a, b) ((type)(a) > (type)(b) ? (type)(a) : (type)(b))

#define NSEC_PER_SEC  1000000000ULL
#define NSEC_PER_MSEC 1000000ULL

/* The value of one hex digit, or -1: for /proc text and URL escapes alike. */
static inline int hex_digit_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Monotonic and wall-clock time in nanoseconds. */
__u64 now_mono_ns(void);
__u64 now_real_ns(void);

#endif
