// SPDX-License-Identifier: MIT
/* bpfmap__walk against real kernel maps: every entry exactly once, across many batches, through
 * buckets that hold more entries than a batch, and through the fallback for maps without batch
 * operations. Needs CAP_BPF (the suite runs as root); skipped otherwise. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "probe/bpfmap.h"
#include "test.h"

struct seen {
	__u8 *hits; /* by key */
	__u32 n;
	long bad; /* a key out of range, or a value that is not the key's */
	long stop_after;
	long calls;
};

static int count_hit(const void *key, const void *value, void *ctx)
{
	struct seen *s = ctx;
	__u32 k = *(const __u32 *)key;

	if (s->stop_after && s->calls == s->stop_after)
		return -ECANCELED;
	s->calls++;
	if (k >= s->n || *(const __u64 *)value != (__u64)k * 3 + 1) {
		s->bad++;
		return 0;
	}
	s->hits[k]++;
	return 0;
}

static int make_map(enum bpf_map_type type, __u32 key_size, __u32 max)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts);
	int fd;

	if (type == BPF_MAP_TYPE_LPM_TRIE)
		opts.map_flags = BPF_F_NO_PREALLOC;
	fd = bpf_map_create(type, "test_walk", key_size, sizeof(__u64), max, &opts);
	if (fd < 0 && (errno == EPERM || errno == EACCES))
		test__skip("no permission to create BPF maps (run as root)");
	return fd;
}

static void check_walk(int fd, __u32 n, __u32 key_size)
{
	struct seen s = {.n = n};
	long cnt;
	__u32 once = 0;

	s.hits = calloc(n, 1);
	if (!ASSERT_OK_PTR(s.hits, "calloc"))
		return;
	cnt = bpfmap__walk(fd, key_size, sizeof(__u64), count_hit, &s);
	ASSERT_EQ(cnt, n, "entries visited");
	ASSERT_EQ(s.bad, 0, "wrong keys or values");
	for (__u32 k = 0; k < n; k++)
		once += s.hits[k] == 1;
	ASSERT_EQ(once, n, "keys seen exactly once");
	ASSERT_EQ(bpfmap__walk(fd, key_size, sizeof(__u64), NULL, NULL), n, "count only");

	/* The callback's error stops the walk and is returned. */
	s = (struct seen){.n = n, .hits = s.hits, .stop_after = n / 2};
	ASSERT_EQ(bpfmap__walk(fd, key_size, sizeof(__u64), count_hit, &s), -ECANCELED,
		  "callback error");
	ASSERT_EQ(s.calls, n / 2, "callbacks before the error");
	free(s.hits);
}

TEST(bpfmap_walk_hash_many_batches)
{
	/* 8-byte keys and values: ~32k entries per batch, so 100k entries take several. */
	const __u32 n = 100000;
	int fd = make_map(BPF_MAP_TYPE_HASH, sizeof(__u32), 131072);

	if (fd < 0) {
		ASSERT_TRUE(errno == EPERM || errno == EACCES, "bpf_map_create");
		return;
	}
	for (__u32 k = 0; k < n; k++) {
		__u64 v = (__u64)k * 3 + 1;

		if (!ASSERT_OK(bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST), "update"))
			goto cleanup;
	}
	check_walk(fd, n, sizeof(__u32));
cleanup:
	close(fd);
}

TEST(bpfmap_walk_empty_and_tiny)
{
	int fd = make_map(BPF_MAP_TYPE_HASH, sizeof(__u32), 4);

	if (fd < 0) {
		ASSERT_TRUE(errno == EPERM || errno == EACCES, "bpf_map_create");
		return;
	}
	ASSERT_EQ(bpfmap__walk(fd, sizeof(__u32), sizeof(__u64), NULL, NULL), 0, "empty map");
	for (__u32 k = 0; k < 3; k++) {
		__u64 v = (__u64)k * 3 + 1;

		ASSERT_OK(bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST), "update");
	}
	check_walk(fd, 3, sizeof(__u32));
	close(fd);
}

/* An LPM trie has get_next_key but no batch operations: the one-by-one walk. */
TEST(bpfmap_walk_without_batch_ops)
{
	struct lpm_key {
		__u32 prefixlen;
		__u32 data;
	};
	const __u32 n = 500;
	int fd = make_map(BPF_MAP_TYPE_LPM_TRIE, sizeof(struct lpm_key), 1024);

	if (fd < 0) {
		ASSERT_TRUE(errno == EPERM || errno == EACCES, "bpf_map_create");
		return;
	}
	for (__u32 k = 0; k < n; k++) {
		/* prefixlen first in the key: count_hit reads it as the key number. */
		struct lpm_key key = {.prefixlen = 32, .data = k};
		__u64 v = 32 * 3 + 1;

		if (!ASSERT_OK(bpf_map_update_elem(fd, &key, &v, BPF_NOEXIST), "update"))
			goto cleanup;
	}
	ASSERT_EQ(bpfmap__walk(fd, sizeof(struct lpm_key), sizeof(__u64), NULL, NULL), n,
		  "entries counted one by one");
cleanup:
	close(fd);
}
