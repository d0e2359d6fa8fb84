// SPDX-License-Identifier: MIT
/* Open addressing with linear probing. A slot keeps the caller's hash, so growing and removing
 * never look at keys, and the value + 1, so that 0 marks an empty slot. */
#include <errno.h>
#include <stdlib.h>

#include "util/htab.h"

#define HTAB_MIN_CAP 64

struct htab_slot {
	__u64 hash;
	uintptr_t val1; /* value + 1; 0: empty */
};

static size_t home(const struct htab *h, __u64 hash)
{
	return hash & (h->cap - 1);
}

static size_t next(const struct htab *h, size_t i)
{
	return (i + 1) & (h->cap - 1);
}

/* The slot that holds key, or the empty slot where it would go. h must not be empty. */
static struct htab_slot *probe(const struct htab *h, __u64 hash, htab_eq_fn eq, const void *ctx,
			       const void *key)
{
	for (size_t i = home(h, hash);; i = next(h, i)) {
		struct htab_slot *s = &h->slots[i];

		if (!s->val1 || (s->hash == hash && (!eq || eq(ctx, s->val1 - 1, key))))
			return s;
	}
}

int htab__reserve(struct htab *h, size_t n)
{
	struct htab_slot *slots;
	size_t cap = h->cap ?: HTAB_MIN_CAP;
	struct htab old = *h;

	/* At most half full, so that probe sequences stay short. */
	while ((h->cnt + n) * 2 > cap)
		cap *= 2;
	if (cap == h->cap)
		return 0;
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	h->slots = slots;
	h->cap = cap;
	for (size_t i = 0; i < old.cap; i++) {
		struct htab_slot *s = &old.slots[i];
		size_t j;

		if (!s->val1)
			continue;
		for (j = home(h, s->hash); slots[j].val1; j = next(h, j))
			;
		slots[j] = *s;
	}
	free(old.slots);
	return 0;
}

bool htab__find(const struct htab *h, __u64 hash, htab_eq_fn eq, const void *ctx, const void *key,
		uintptr_t *val)
{
	struct htab_slot *s;

	if (!h->cnt)
		return false;
	s = probe(h, hash, eq, ctx, key);
	if (!s->val1)
		return false;
	if (val)
		*val = s->val1 - 1;
	return true;
}

int htab__set(struct htab *h, __u64 hash, htab_eq_fn eq, const void *ctx, const void *key,
	      uintptr_t val)
{
	struct htab_slot *s;
	int err;

	err = htab__reserve(h, 1);
	if (err)
		return err;
	s = probe(h, hash, eq, ctx, key);
	if (!s->val1)
		h->cnt++;
	s->hash = hash;
	s->val1 = val + 1;
	return 0;
}

/* Empty slot i, then move back the entries after it that i would cut off from their home
 * slot: the probe sequences stay whole without tombstones. */
static void remove_at(struct htab *h, size_t i)
{
	h->slots[i].val1 = 0;
	h->cnt--;
	for (size_t j = next(h, i); h->slots[j].val1; j = next(h, j)) {
		size_t k = home(h, h->slots[j].hash);

		/* j stays unless its home k lies cyclically in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		h->slots[i] = h->slots[j];
		h->slots[j].val1 = 0;
		i = j;
	}
}

bool htab__remove(struct htab *h, __u64 hash, htab_eq_fn eq, const void *ctx, const void *key,
		  uintptr_t *val)
{
	struct htab_slot *s;

	if (!h->cnt)
		return false;
	s = probe(h, hash, eq, ctx, key);
	if (!s->val1)
		return false;
	if (val)
		*val = s->val1 - 1;
	remove_at(h, s - h->slots);
	return true;
}

void htab__filter(struct htab *h, bool (*keep)(void *ctx, uintptr_t *val), void *ctx)
{
	size_t start, i, left;

	if (!h->cnt)
		return;
	/*
	 * Start after an empty slot (there is one: the table is at most half full). A removal
	 * moves entries back only within their run of full slots, from after the hole into it, so
	 * walking each run from its start sees every entry once: the one moved into the hole is
	 * looked at again there, and none moves to a slot already passed.
	 */
	for (start = 0; h->slots[start].val1; start++)
		;
	i = next(h, start);
	for (left = h->cap - 1; left; left--) {
		struct htab_slot *s = &h->slots[i];
		uintptr_t val;

		while (s->val1) {
			val = s->val1 - 1;
			if (keep(ctx, &val)) {
				s->val1 = val + 1;
				break;
			}
			remove_at(h, i);
		}
		i = next(h, i);
	}
}

bool htab__next(const struct htab *h, size_t *it, uintptr_t *val)
{
	for (; *it < h->cap; (*it)++) {
		if (h->slots[*it].val1) {
			*val = h->slots[(*it)++].val1 - 1;
			return true;
		}
	}
	return false;
}

size_t htab__count(const struct htab *h)
{
	return h->cnt;
}

void htab__free(struct htab *h)
{
	free(h->slots);
	*h = (struct htab){};
}
