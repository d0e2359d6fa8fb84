/* SPDX-License-Identifier: MIT */
/* Unsigned LEB128 varints (protobuf's and Go's encoding/binary's): read from outside data
 * (Go's pclntab and buildinfo) and written by the daemon's packed history. */
#ifndef ALLOCSCOPE_VARINT_H
#define ALLOCSCOPE_VARINT_H

#include <stdbool.h>
#include <linux/types.h>

/* The longest varint of a __u64. */
#define UVARINT_MAX_LEN 10

/* Read the varint at p[*pos] (p is n bytes long) into *v and move *pos past it; false when it
 * runs past the end or past 64 bits. */
static inline bool uvarint(const __u8 *p, __u64 n, __u64 *pos, __u64 *v)
{
	__u64 x = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		__u8 c;

		if (*pos >= n)
			return false;
		c = p[(*pos)++];
		x |= (__u64)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = x;
			return true;
		}
	}
	return false;
}

/* Write v at p (room for UVARINT_MAX_LEN bytes); the bytes written. */
static inline unsigned int uvarint_put(__u8 *p, __u64 v)
{
	unsigned int n = 0;

	while (v >= 0x80) {
		p[n++] = (__u8)v | 0x80;
		v >>= 7;
	}
	p[n++] = (__u8)v;
	return n;
}

#endif
