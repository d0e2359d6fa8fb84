// SPDX-License-Identifier: MIT
/* Snapshots hold packed deltas (struct packed_set), so that an hour of history costs about a
 * quarter of what the same entries unpacked would; windows unpack and sum them on request. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "service/history.h"
#include "util/common.h"

struct history {
	struct snapshot *s; /* oldest first */
	size_t cnt;
	size_t cap;
};

struct history *history__new(void)
{
	return calloc(1, sizeof(struct history));
}

void history__free(struct history *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->cnt; i++)
		packed_set__clear(&h->s[i].delta);
	free(h->s);
	free(h);
}

static int key_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct alloc_entry *)a)->key, &((const struct alloc_entry *)b)->key,
		      sizeof(struct alloc_key));
}

void history__sort(struct entry_set *s)
{
	if (s->cnt) /* qsort(NULL, 0) is undefined */
		qsort(s->e, s->cnt, sizeof(*s->e), key_cmp);
}

static void stats_sub(struct alloc_stats *r, const struct alloc_stats *a,
		      const struct alloc_stats *b)
{
	r->alloc_cnt = a->alloc_cnt - b->alloc_cnt;
	r->alloc_bytes = a->alloc_bytes - b->alloc_bytes;
	r->free_cnt = a->free_cnt - b->free_cnt;
	r->free_bytes = a->free_bytes - b->free_bytes;
	r->untracked_cnt = a->untracked_cnt - b->untracked_cnt;
	r->untracked_bytes = a->untracked_bytes - b->untracked_bytes;
}

static void stats_add(struct alloc_stats *a, const struct alloc_stats *b)
{
	a->alloc_cnt += b->alloc_cnt;
	a->alloc_bytes += b->alloc_bytes;
	a->free_cnt += b->free_cnt;
	a->free_bytes += b->free_bytes;
	a->untracked_cnt += b->untracked_cnt;
	a->untracked_bytes += b->untracked_bytes;
}

static int stats_zero(const struct alloc_stats *s)
{
	static const struct alloc_stats zero;

	return !memcmp(s, &zero, sizeof(zero));
}

int history__diff(const struct entry_set *now, const struct entry_set *prev,
		  struct packed_set *delta)
{
	size_t i = 0, j = 0;
	int err;

	while (i < now->cnt) {
		struct alloc_entry e = now->e[i];
		int c = j < prev->cnt ? key_cmp(&now->e[i], &prev->e[j]) : -1;

		if (c > 0) {
			j++;
			continue;
		}
		if (c == 0) {
			stats_sub(&e.stats, &now->e[i].stats, &prev->e[j].stats);
			j++;
		}
		i++;
		if (stats_zero(&e.stats))
			continue;
		err = packed_set__append(delta, &e);
		if (err)
			return err;
	}
	packed_set__shrink(delta);
	return 0;
}

static int history_add(struct history *h, const struct snapshot *s)
{
	if (h->cnt == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		struct snapshot *n = realloc(h->s, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		h->s = n;
		h->cap = cap;
	}
	h->s[h->cnt++] = *s;
	return 0;
}

int history__record(struct history *h, __u64 start_ns, __u64 end_ns, const struct entry_set *now,
		    const struct entry_set *prev)
{
	struct snapshot s = {.start_ns = start_ns, .end_ns = end_ns};
	int err;

	err = history__diff(now, prev, &s.delta);
	if (!err && s.delta.cnt)
		err = history_add(h, &s);
	if (err || !s.delta.cnt)
		packed_set__clear(&s.delta);
	return err;
}

size_t history__count(const struct history *h)
{
	return h->cnt;
}

size_t history__entries(const struct history *h)
{
	size_t total = 0;

	for (size_t k = 0; k < h->cnt; k++)
		total += h->s[k].delta.cnt;
	return total;
}

const struct snapshot *history__at(const struct history *h, size_t i)
{
	return i < h->cnt ? &h->s[i] : NULL;
}

__u64 history__newest_end(const struct history *h)
{
	return h->cnt ? h->s[h->cnt - 1].end_ns : 0;
}

int history__window(const struct history *h, __u64 since_ns, struct entry_set *out, __u64 *start_ns)
{
	size_t j = 0;
	int err;

	*start_ns = 0;
	for (size_t k = 0; k < h->cnt; k++) {
		const struct snapshot *s = &h->s[k];

		if (s->end_ns <= since_ns)
			continue;
		if (!*start_ns || s->start_ns < *start_ns)
			*start_ns = s->start_ns;
		err = packed_set__unpack(&s->delta, out);
		if (err)
			return err;
	}
	history__sort(out);
	for (size_t i = 0; i < out->cnt; i++) {
		if (j && !key_cmp(&out->e[j - 1], &out->e[i])) {
			stats_add(&out->e[j - 1].stats, &out->e[i].stats);
			stack__put(out->e[i].stack);
			continue;
		}
		out->e[j++] = out->e[i];
	}
	out->cnt = j;
	return 0;
}

static void drop_oldest(struct history *h)
{
	packed_set__clear(&h->s[0].delta);
	memmove(h->s, h->s + 1, (h->cnt - 1) * sizeof(*h->s));
	h->cnt--;
}

static int u64_cmp(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/* The exit time of the n-th longest gone exited process (n >= 1); 0 when it cannot be told. */
static __u64 exited_cutoff(const struct history_item *items, size_t cnt, size_t n)
{
	__u64 *when = malloc(cnt * sizeof(*when)), cut;
	size_t k = 0;

	if (!when)
		return 0;
	for (size_t i = 0; i < cnt; i++)
		if (!items[i].alive)
			when[k++] = items[i].exit_ns;
	qsort(when, k, sizeof(*when), u64_cmp);
	cut = when[min_t(size_t, n, k) - 1];
	free(when);
	return cut;
}

void history__expire(struct history_item *items, size_t n, __u64 now_ns,
		     const struct history_retention *r, struct history_expiry *out)
{
	size_t total = 0, exited = 0, dropping = 0;
	__u64 cutoff = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		struct history *h = items[i].h;

		items[i].release = items[i].over = 0;
		exited += !items[i].alive;
		while (h->cnt && h->s[0].end_ns + r->keep_ns < now_ns)
			drop_oldest(h);
		total += history__entries(h);
	}
	/* Over the bound: the oldest snapshot of all goes first, and is counted. */
	while (r->max_entries && total > r->max_entries) {
		struct history *oldest = NULL;

		for (size_t i = 0; i < n; i++) {
			struct history *h = items[i].h;

			if (h->cnt && (!oldest || h->s[0].end_ns < oldest->s[0].end_ns))
				oldest = h;
		}
		if (!oldest)
			break;
		total -= oldest->s[0].delta.cnt;
		drop_oldest(oldest);
		out->snapshots_dropped++;
	}
	/* Exited processes go once their history has expired, or the longest gone first when more
	 * than max_exited are kept (each holds ~30 KiB besides its history). */
	if (exited > r->max_exited) {
		dropping = exited - r->max_exited;
		cutoff = exited_cutoff(items, n, dropping);
	}
	for (size_t i = 0; i < n; i++) {
		struct history_item *it = &items[i];

		if (!it->alive && it->exit_ns <= cutoff && dropping) {
			dropping--;
			it->over = 1;
			out->exited_dropped++;
		}
		it->release = it->over || (!it->alive && it->exit_ns + r->keep_ns < now_ns);
	}
}
