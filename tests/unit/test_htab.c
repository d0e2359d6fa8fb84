// SPDX-License-Identifier: MIT
/* The hash table: insert, find, replace, growth across many entries, keys that share a hash,
 * removal inside and across the wrap of a run, filtering with remapped values. */
#include <stdlib.h>

#include "util/htab.h"
#include "test.h"

/* Keys live in the caller's array; the table holds their indices. */
struct keys {
	__u64 *k;
};

static bool key_eq(const void *ctx, uintptr_t val, const void *key)
{
	return ((const struct keys *)ctx)->k[val] == *(const __u64 *)key;
}

/* A poor hash on purpose: many keys share one, and runs form. */
static __u64 bad_hash(__u64 k)
{
	return k % 7;
}

static __u64 good_hash(__u64 k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return k;
}

TEST(htab_insert_find_replace)
{
	__u64 k[4] = {10, 20, 30, 20};
	struct keys ks = {k};
	struct htab h = {};
	uintptr_t v = 99;
	__u64 missing = 40;

	ASSERT_TRUE(!htab__find(&h, good_hash(10), key_eq, &ks, &k[0], &v), "empty table");
	for (int i = 0; i < 3; i++)
		if (!ASSERT_OK(htab__set(&h, good_hash(k[i]), key_eq, &ks, &k[i], i), "set"))
			goto cleanup;
	ASSERT_EQ(htab__count(&h), 3, "three entries");
	for (int i = 0; i < 3; i++) {
		ASSERT_TRUE(htab__find(&h, good_hash(k[i]), key_eq, &ks, &k[i], &v), "found");
		ASSERT_EQ(v, i, "its value");
	}
	ASSERT_TRUE(!htab__find(&h, good_hash(missing), key_eq, &ks, &missing, &v), "missing");
	/* Setting a present key replaces its value and adds nothing: 20 moved to index 3. */
	ASSERT_OK(htab__set(&h, good_hash(k[1]), key_eq, &ks, &k[1], 3), "replace");
	ASSERT_EQ(htab__count(&h), 3, "still three");
	ASSERT_TRUE(htab__find(&h, good_hash(k[1]), key_eq, &ks, &k[1], &v), "found again");
	ASSERT_EQ(v, 3, "replaced value");
cleanup:
	htab__free(&h);
}

TEST(htab_grows_across_many_entries)
{
	const size_t n = 100000;
	__u64 *k = malloc(n * sizeof(*k));
	struct keys ks = {k};
	struct htab h = {};
	uintptr_t v;

	if (!ASSERT_OK_PTR(k, "keys"))
		return;
	for (size_t i = 0; i < n; i++) {
		k[i] = i * 0x9e3779b97f4a7c15ULL;
		if (!ASSERT_OK(htab__set(&h, good_hash(k[i]), key_eq, &ks, &k[i], i), "set"))
			goto cleanup;
	}
	ASSERT_EQ(htab__count(&h), n, "every entry");
	for (size_t i = 0; i < n; i++) {
		if (!ASSERT_TRUE(htab__find(&h, good_hash(k[i]), key_eq, &ks, &k[i], &v),
				 "found") ||
		    !ASSERT_EQ(v, i, "value survives growth"))
			goto cleanup;
	}
	/* Reserved room: that many sets need no allocation, so none can fail halfway. */
	ASSERT_OK(htab__reserve(&h, n), "reserve");
cleanup:
	htab__free(&h);
	free(k);
}

TEST(htab_keys_sharing_a_hash)
{
	__u64 k[200];
	struct keys ks = {k};
	struct htab h = {};
	uintptr_t v;

	for (size_t i = 0; i < 200; i++) {
		k[i] = 1000 + i;
		if (!ASSERT_OK(htab__set(&h, bad_hash(k[i]), key_eq, &ks, &k[i], i), "set"))
			goto cleanup;
	}
	ASSERT_EQ(htab__count(&h), 200, "no key lost to another with its hash");
	for (size_t i = 0; i < 200; i++)
		if (!ASSERT_TRUE(htab__find(&h, bad_hash(k[i]), key_eq, &ks, &k[i], &v), "found") ||
		    !ASSERT_EQ(v, i, "its own value"))
			goto cleanup;
cleanup:
	htab__free(&h);
}

TEST(htab_remove_keeps_runs_whole)
{
	__u64 k[40];
	struct keys ks = {k};
	struct htab h = {};
	uintptr_t v;

	/* Hashes at the table's last slots: the run wraps around to slot 0. */
	for (size_t i = 0; i < 30; i++) {
		k[i] = i;
		if (!ASSERT_OK(htab__set(&h, 60 + i % 3, key_eq, &ks, &k[i], i), "set"))
			goto cleanup;
	}
	/* Every other key goes; the rest must still be found past the holes. */
	for (size_t i = 0; i < 30; i += 2) {
		ASSERT_TRUE(htab__remove(&h, 60 + i % 3, key_eq, &ks, &k[i], &v), "removed");
		ASSERT_EQ(v, i, "removed value");
	}
	ASSERT_TRUE(!htab__remove(&h, 60, key_eq, &ks, &k[0], &v), "gone");
	ASSERT_EQ(htab__count(&h), 15, "half left");
	for (size_t i = 0; i < 30; i++) {
		bool found = htab__find(&h, 60 + i % 3, key_eq, &ks, &k[i], &v);

		if (!ASSERT_EQ(found, i % 2, "found iff kept") ||
		    (found && !ASSERT_EQ(v, i, "value")))
			goto cleanup;
	}
cleanup:
	htab__free(&h);
}

/* Drop odd values, renumber the rest as if their array were compacted. */
static bool keep_even(void *ctx, uintptr_t *val)
{
	int *calls = ctx;

	(*calls)++;
	if (*val % 2)
		return false;
	*val /= 2;
	return true;
}

TEST(htab_filter_and_iterate)
{
	struct htab h = {};
	size_t it = 0, seen = 0;
	uintptr_t v, sum = 0;
	int calls = 0;

	/* No eq: the hash is the key. Clustered hashes, some wrapping, to exercise the shifts. */
	for (__u64 i = 0; i < 500; i++) {
		__u64 hash = (i % 5) * 1000003 + (i / 5) * 64 + 60;

		if (!ASSERT_OK(htab__set(&h, hash, NULL, NULL, NULL, i), "set"))
			goto cleanup;
	}
	htab__filter(&h, keep_even, &calls);
	ASSERT_EQ(calls, 500, "each entry passed once");
	ASSERT_EQ(htab__count(&h), 250, "odd ones dropped");
	for (__u64 i = 0; i < 500; i++) {
		__u64 hash = (i % 5) * 1000003 + (i / 5) * 64 + 60;
		bool found = htab__find(&h, hash, NULL, NULL, NULL, &v);

		if (!ASSERT_EQ(found, i % 2 == 0, "found iff kept") ||
		    (found && !ASSERT_EQ(v, i / 2, "remapped value")))
			goto cleanup;
	}
	while (htab__next(&h, &it, &v)) {
		seen++;
		sum += v;
	}
	ASSERT_EQ(seen, 250, "iteration sees every entry");
	ASSERT_EQ(sum, 249 * 250 / 2, "each once");
cleanup:
	htab__free(&h);
}
