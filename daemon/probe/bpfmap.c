// SPDX-License-Identifier: MIT
/* Whole-map reads for the drain, the stack collector and /metrics (see bpfmap.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "probe/bpfmap.h"
#include "util/common.h"

/* Bytes of keys and values fetched per syscall: big enough that a 100k-entry map takes a few
 * dozen syscalls instead of 200,000, small enough to stay out of the daemon's RSS figures. */
#define BATCH_BYTES (512 * 1024)
/* A hash map's batch is whole buckets: a bucket longer than the batch fails with ENOSPC and
 * the batch doubles, up to this many entries. */
#define BATCH_MAX_ENTRIES (1u << 20)
/* The kernel's own ENOTSUPP, which user space's errno.h does not name. */
#define ENOTSUPP_KERNEL 524

/* One entry per get_next_key + lookup: kernels without batch operations on hash maps. */
static long walk_one_by_one(int fd, __u32 key_size, __u32 value_size, bpfmap_fn fn, void *ctx)
{
	__u8 *key = NULL, *next = NULL, *val = NULL;
	void *prev = NULL;
	long cnt = 0;
	int err;

	key = malloc(key_size);
	next = malloc(key_size);
	val = malloc(value_size ? value_size : 1);
	if (!key || !next || !val) {
		cnt = -ENOMEM;
		goto cleanup;
	}
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, key_size);
		prev = key;
		if (fn) {
			if (bpf_map_lookup_elem(fd, key, val))
				continue; /* deleted meanwhile */
			err = fn(key, val, ctx);
			if (err < 0) {
				cnt = err;
				goto cleanup;
			}
		}
		cnt++;
	}
cleanup:
	free(key);
	free(next);
	free(val);
	return cnt;
}

long bpfmap__walk(int fd, __u32 key_size, __u32 value_size, bpfmap_fn fn, void *ctx)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 n = max_t(__u32, 64, BATCH_BYTES / (key_size + value_size));
	__u8 *keys = NULL, *vals = NULL;
	/* The position between batches: a bucket index for hash maps (a __u32). */
	__u64 in_tok = 0, out_tok = 0;
	bool first = true;
	long cnt = 0;
	int err = 0;

	if (!key_size)
		return -EINVAL;
	for (;;) {
		__u32 got;

		if (!keys) {
			keys = malloc((size_t)n * key_size);
			vals = malloc((size_t)n * (value_size ? value_size : 1));
			if (!keys || !vals) {
				cnt = -ENOMEM;
				goto cleanup;
			}
		}
		got = n;
		err = bpf_map_lookup_batch(fd, first ? NULL : &in_tok, &out_tok, keys, vals, &got,
					   &opts);
		if (err)
			err = -errno;
		if (err == -ENOSPC && got == 0 && n < BATCH_MAX_ENTRIES) {
			/* One bucket holds more than n entries: the same batch again, larger. */
			free(keys);
			free(vals);
			keys = vals = NULL;
			n *= 2;
			continue;
		}
		if (first && got == 0 &&
		    (err == -EINVAL || err == -EOPNOTSUPP || err == -ENOTSUPP_KERNEL ||
		     err == -ENOSYS)) {
			free(keys);
			free(vals);
			return walk_one_by_one(fd, key_size, value_size, fn, ctx);
		}
		if (err && err != -ENOENT) {
			cnt = err;
			goto cleanup;
		}
		for (__u32 i = 0; fn && i < got; i++) {
			int r = fn(keys + (size_t)i * key_size, vals + (size_t)i * value_size, ctx);

			if (r < 0) {
				cnt = r;
				goto cleanup;
			}
		}
		cnt += got;
		if (err == -ENOENT) /* that was the last batch */
			break;
		in_tok = out_tok;
		first = false;
	}
cleanup:
	free(keys);
	free(vals);
	return cnt;
}
