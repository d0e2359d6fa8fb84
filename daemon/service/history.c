// SPDX-License-Identifier: MIT
/* Snapshots hold packed deltas (struct packed_set), so that an hour of history costs about a
 * seventh of what the same entries unpacked would; windows merge them, sorted as they are, on
 * request, unpacking one entry per snapshot at a time. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "service/history.h"
#include "util/common.h"

/* A snapshot's delta, shared with the views that read it off the owner's lock (history__view):
 * freed with the last reference. */
struct shared_delta {
	struct packed_set set; /* first: a snapshot's delta pointer is its shared_delta */
	unsigned int refs;
};

static struct packed_set *delta_new(void)
{
	struct shared_delta *sd = calloc(1, sizeof(*sd));

	if (!sd)
		return NULL;
	sd->refs = 1;
	return &sd->set;
}

static void delta_get(struct packed_set *p)
{
	__atomic_fetch_add(&((struct shared_delta *)p)->refs, 1, __ATOMIC_RELAXED);
}

static void delta_put(struct packed_set *p)
{
	struct shared_delta *sd;

	if (!p)
		return;
	sd = (struct shared_delta *)p;
	if (__atomic_sub_fetch(&sd->refs, 1, __ATOMIC_ACQ_REL))
		return;
	packed_set__clear(&sd->set);
	free(sd);
}

struct history {
	struct snapshot *s; /* s[head..head + cnt): oldest first */
	size_t head;	    /* dropped from the front without moving the rest */
	size_t cnt;
	size_t cap;
	size_t entries; /* the sum of their delta.cnt */
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
		delta_put(h->s[h->head + i].delta);
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
	if (h->head && h->head + h->cnt == h->cap && h->head >= h->cap / 2) {
		/* Half the array is dropped snapshots: move the rest down, once per cap / 2 adds.
		 */
		memmove(h->s, h->s + h->head, h->cnt * sizeof(*h->s));
		h->head = 0;
	}
	if (h->head + h->cnt == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		struct snapshot *n = realloc(h->s, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		h->s = n;
		h->cap = cap;
	}
	h->s[h->head + h->cnt++] = *s;
	h->entries += s->delta->cnt;
	return 0;
}

int history__record(struct history *h, __u64 start_ns, __u64 end_ns, const struct entry_set *now,
		    const struct entry_set *prev)
{
	struct snapshot s = {.start_ns = start_ns, .end_ns = end_ns, .delta = delta_new()};
	int err;

	if (!s.delta)
		return -ENOMEM;
	err = history__diff(now, prev, s.delta);
	if (!err && s.delta->cnt)
		err = history_add(h, &s);
	if (err || !s.delta->cnt)
		delta_put(s.delta);
	return err;
}

size_t history__count(const struct history *h)
{
	return h->cnt;
}

size_t history__entries(const struct history *h)
{
	return h->entries;
}

const struct snapshot *history__at(const struct history *h, size_t i)
{
	return i < h->cnt ? &h->s[h->head + i] : NULL;
}

__u64 history__newest_end(const struct history *h)
{
	return h->cnt ? h->s[h->head + h->cnt - 1].end_ns : 0;
}

/* The end of the oldest snapshot; call with cnt > 0. */
static __u64 oldest_end(const struct history *h)
{
	return h->s[h->head].end_ns;
}

/* A min-heap of n iterators by their current key (sift down from i). */
static void iter_sift(struct packed_iter **heap, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		struct packed_iter *t;

		if (l < n && key_cmp(&heap[l]->cur, &heap[m]->cur) < 0)
			m = l;
		if (l + 1 < n && key_cmp(&heap[l + 1]->cur, &heap[m]->cur) < 0)
			m = l + 1;
		if (m == i)
			return;
		t = heap[i];
		heap[i] = heap[m];
		heap[m] = t;
		i = m;
	}
}

struct history_view {
	__u64 start_ns; /* the earliest start among the snapshots */
	size_t cnt;
	struct packed_set *d[];
};

struct history_view *history__view(const struct history *h, __u64 since_ns)
{
	struct history_view *v;
	size_t first = 0;

	/* Snapshots end in order: the window is a suffix. */
	while (first < h->cnt && history__at(h, first)->end_ns <= since_ns)
		first++;
	v = calloc(1, sizeof(*v) + (h->cnt - first) * sizeof(v->d[0]));
	if (!v)
		return NULL;
	for (size_t k = first; k < h->cnt; k++) {
		const struct snapshot *s = history__at(h, k);

		if (!v->start_ns || s->start_ns < v->start_ns)
			v->start_ns = s->start_ns;
		delta_get(s->delta);
		v->d[v->cnt++] = s->delta;
	}
	return v;
}

void history_view__free(struct history_view *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->cnt; i++)
		delta_put(v->d[i]);
	free(v);
}

int history_view__sum(const struct history_view *v, struct entry_set *out, __u64 *start_ns)
{
	struct packed_iter *its = NULL, **heap = NULL;
	size_t n = 0, k;
	int err = 0;

	*start_ns = v->start_ns;
	if (!v->cnt)
		return 0;
	its = calloc(v->cnt, sizeof(*its));
	heap = calloc(v->cnt, sizeof(*heap));
	if (!its || !heap) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (k = 0; k < v->cnt; k++) {
		packed_iter__init(&its[n], v->d[k]);
		if (packed_iter__next(&its[n]))
			heap[n] = &its[n], n++;
	}
	for (k = n / 2; k > 0; k--)
		iter_sift(heap, n, k - 1);
	/* Each delta is sorted by key: merging them gives the sum sorted, one entry per key,
	 * holding no more than the result. */
	while (n) {
		struct alloc_entry e = heap[0]->cur;

		if (packed_iter__next(heap[0]))
			iter_sift(heap, n, 0);
		else if (--n)
			heap[0] = heap[n], iter_sift(heap, n, 0);
		if (out->cnt && !key_cmp(&out->e[out->cnt - 1], &e)) {
			stats_add(&out->e[out->cnt - 1].stats, &e.stats);
			continue;
		}
		err = entry_set__add(out, &e);
		if (err)
			goto cleanup;
	}
cleanup:
	free(its);
	free(heap);
	return err;
}

int history__window(const struct history *h, __u64 since_ns, struct entry_set *out, __u64 *start_ns)
{
	struct history_view *v = history__view(h, since_ns);
	int err;

	*start_ns = 0;
	if (!v)
		return -ENOMEM;
	err = history_view__sum(v, out, start_ns);
	history_view__free(v);
	return err;
}

static void drop_oldest(struct history *h)
{
	h->entries -= h->s[h->head].delta->cnt;
	delta_put(h->s[h->head].delta);
	h->head++;
	if (!--h->cnt)
		h->head = 0;
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

/* A min-heap of histories by the end of their oldest snapshot (sift down from i). */
static void hist_sift(struct history **heap, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		struct history *t;

		if (l < n && oldest_end(heap[l]) < oldest_end(heap[m]))
			m = l;
		if (l + 1 < n && oldest_end(heap[l + 1]) < oldest_end(heap[m]))
			m = l + 1;
		if (m == i)
			return;
		t = heap[i];
		heap[i] = heap[m];
		heap[m] = t;
		i = m;
	}
}

/* Drop the oldest snapshots of all until at most max entries are left: a heap of the histories
 * by their oldest snapshot, so each drop costs log(processes). Returns how many were dropped. */
static size_t drop_over(struct history_item *items, size_t n, size_t total, size_t max)
{
	struct history **heap = calloc(n ?: 1, sizeof(*heap));
	size_t cnt = 0, dropped = 0;

	if (!heap)
		return 0; /* out of memory: the bound waits for the next expiry */
	for (size_t i = 0; i < n; i++)
		if (items[i].h->cnt)
			heap[cnt++] = items[i].h;
	for (size_t k = cnt / 2; k > 0; k--)
		hist_sift(heap, cnt, k - 1);
	while (cnt && total > max) {
		struct history *oldest = heap[0];

		total -= oldest->s[oldest->head].delta->cnt;
		drop_oldest(oldest);
		dropped++;
		if (!oldest->cnt)
			heap[0] = heap[--cnt];
		hist_sift(heap, cnt, 0);
	}
	free(heap);
	return dropped;
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
		while (h->cnt && oldest_end(h) + r->keep_ns < now_ns)
			drop_oldest(h);
		total += history__entries(h);
	}
	/* Over the bound: the oldest snapshot of all goes first, and is counted. */
	if (r->max_entries && total > r->max_entries)
		out->snapshots_dropped = drop_over(items, n, total, r->max_entries);
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
