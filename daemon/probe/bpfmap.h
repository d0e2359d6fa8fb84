/* SPDX-License-Identifier: MIT */
/* Reading whole BPF hash maps from user space a batch of entries per syscall, with the
 * one-entry-at-a-time walk as the fallback where the kernel has no batch operations. */
#ifndef ALLOCSCOPE_BPFMAP_H
#define ALLOCSCOPE_BPFMAP_H

#include <linux/types.h>

/* Called for every entry; a negative return stops the walk and is returned by it. */
typedef int (*bpfmap_fn)(const void *key, const void *value, void *ctx);

/*
 * Call fn for every entry of the hash map fd (keys key_size bytes, values value_size bytes;
 * fn NULL: count only). Entries added or deleted meanwhile may or may not be seen; none is seen
 * twice. The number of entries visited, or -errno.
 */
long bpfmap__walk(int fd, __u32 key_size, __u32 value_size, bpfmap_fn fn, void *ctx);

#endif
