/* SPDX-License-Identifier: MIT */
/* The one hash table: open addressing with linear probing over (hash, value) slots, where a
 * value is an index into the caller's array or a pointer, and keys stay with the caller,
 * compared through a callback. At most half full; grows by doubling; removes without
 * tombstones. */
#ifndef ALLOCSCOPE_HTAB_H
#define ALLOCSCOPE_HTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>

/* Whether the entry with value val has key. NULL where the hash itself is the key (a 64-bit
 * hash that is a bijection of a 64-bit key). */
typedef bool (*htab_eq_fn)(const void *ctx, uintptr_t val, const void *key);

/* splitmix64's finalizer: a bijection of x in which every input bit reaches the low bits the
 * table indexes by, so a key that fits in 64 bits can be its own hash (eq NULL). */
static inline __u64 htab__hash_u64(__u64 x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* FNV-1a over a NUL-terminated string, then mixed as above. */
static inline __u64 htab__hash_str(const char *s)
{
	__u64 h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return htab__hash_u64(h);
}

/* Zero-initialised, a table is empty and owns nothing; the fields are the module's own. */
struct htab {
	struct htab_slot *slots;
	size_t cap; /* a power of two, or 0 */
	size_t cnt;
};

/* Room for n more entries, so that as many htab__set calls cannot fail. 0 or -ENOMEM. */
int htab__reserve(struct htab *h, size_t n);
/* Whether key (with this hash) is in h; its value in *val (may be NULL). */
bool htab__find(const struct htab *h, __u64 hash, htab_eq_fn eq, const void *ctx, const void *key,
		uintptr_t *val);
/* Set key's value, adding the key when new. 0 or -ENOMEM (never after htab__reserve). */
int htab__set(struct htab *h, __u64 hash, htab_eq_fn eq, const void *ctx, const void *key,
	      uintptr_t val);
/* Remove key; whether it was there, and its value in *val (may be NULL). */
bool htab__remove(struct htab *h, __u64 hash, htab_eq_fn eq, const void *ctx, const void *key,
		  uintptr_t *val);
/* Keep the entries for which keep() returns true, which may also change their value (as when
 * the caller's array is compacted); each entry is passed once. In place: cannot fail. */
void htab__filter(struct htab *h, bool (*keep)(void *ctx, uintptr_t *val), void *ctx);
/* Iterate: `for (size_t it = 0; htab__next(h, &it, &val);)`, in no particular order. */
bool htab__next(const struct htab *h, size_t *it, uintptr_t *val);
size_t htab__count(const struct htab *h);
/* Free the slots (not what values point to); h is then empty. */
void htab__free(struct htab *h);

#endif
