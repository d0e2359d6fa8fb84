// SPDX-License-Identifier: MIT
/* allocscoped's history without BPF: the delta of two drains, a seconds= window that sums
 * several snapshots exactly, stack references given back, and expiry by age, by the entry bound
 * across processes and by --max-exited. */
#include <stdlib.h>

#include "service/history.h"
#include "util/common.h"
#include "test.h"

static struct stack *new_stack(__u64 ip)
{
	return stack__new(&ip, 1);
}

/* One entry of process tgid with the key stack_id, allocs/bytes and frees/bytes. */
static bool add(struct entry_set *s, __u32 tgid, __s32 stack_id, __u64 ac, __u64 ab, __u64 fc,
		__u64 fb, struct stack *st)
{
	struct alloc_entry e = {
	    .key = {.tgid = tgid, .stack_id = stack_id},
	    .stats = {.alloc_cnt = ac, .alloc_bytes = ab, .free_cnt = fc, .free_bytes = fb},
	    .stack = st,
	};

	return ASSERT_OK(entry_set__add(s, &e), "entry_set__add");
}

static const struct alloc_entry *find(const struct entry_set *s, __s32 stack_id)
{
	for (size_t i = 0; i < s->cnt; i++)
		if (s->e[i].key.stack_id == stack_id)
			return &s->e[i];
	return NULL;
}

static bool expect(const struct entry_set *s, __s32 stack_id, __u64 ac, __u64 ab, __u64 fc,
		   __u64 fb)
{
	const struct alloc_entry *e = find(s, stack_id);
	bool ok;

	if (!e)
		return test__fail(__FILE__, __LINE__, "stack id %d missing", stack_id);
	ok = ASSERT_EQ(e->stats.alloc_cnt, ac, "alloc_cnt");
	ok &= ASSERT_EQ(e->stats.alloc_bytes, ab, "alloc_bytes");
	ok &= ASSERT_EQ(e->stats.free_cnt, fc, "free_cnt");
	ok &= ASSERT_EQ(e->stats.free_bytes, fb, "free_bytes");
	return ok;
}

TEST(history_diff_keeps_changed_keys_only)
{
	struct entry_set prev = {}, now = {}, out = {};
	struct packed_set delta = {};

	/* 2 grew, 3 did not change, 5 is new, 4 is gone (forgotten): only 2 and 5 remain. */
	if (!add(&prev, 7, 2, 10, 1000, 4, 400, NULL) || !add(&prev, 7, 3, 5, 50, 0, 0, NULL) ||
	    !add(&prev, 7, 4, 9, 90, 9, 90, NULL) || !add(&now, 7, 2, 12, 1300, 7, 650, NULL) ||
	    !add(&now, 7, 3, 5, 50, 0, 0, NULL) || !add(&now, 7, 5, 1, 8, 0, 0, NULL))
		goto cleanup;
	history__sort(&prev);
	history__sort(&now);
	if (!ASSERT_OK(history__diff(&now, &prev, &delta), "diff"))
		goto cleanup;
	ASSERT_EQ(delta.cnt, 2, "changed keys");
	if (!ASSERT_OK(packed_set__unpack(&delta, &out), "unpack"))
		goto cleanup;
	expect(&out, 2, 2, 300, 3, 250);
	expect(&out, 5, 1, 8, 0, 0);
	ASSERT_TRUE(!find(&out, 3) && !find(&out, 4), "unchanged and gone keys left out");
cleanup:
	packed_set__clear(&delta);
	entry_set__clear(&out);
	entry_set__clear(&prev);
	entry_set__clear(&now);
}

TEST(history_record_skips_quiet_intervals)
{
	struct history *h = history__new();
	struct entry_set a = {}, b = {};
	const struct snapshot *s;

	if (!ASSERT_OK_PTR(h, "new"))
		return;
	if (!add(&a, 7, 1, 3, 30, 0, 0, NULL) || !add(&b, 7, 1, 4, 70, 1, 10, NULL))
		goto cleanup;
	ASSERT_OK(history__record(h, 0, 10, &a, &(struct entry_set){}), "first drain");
	ASSERT_OK(history__record(h, 10, 20, &a, &a), "quiet drain");
	ASSERT_OK(history__record(h, 20, 30, &b, &a), "third drain");
	if (!ASSERT_EQ(history__count(h), 2, "snapshots (the quiet one not kept)"))
		goto cleanup;
	s = history__at(h, 1);
	ASSERT_TRUE(s && s->start_ns == 20 && s->end_ns == 30, "second snapshot's interval");
	ASSERT_EQ(history__entries(h), 2, "entries held");
	ASSERT_EQ(history__newest_end(h), 30, "newest end");
	ASSERT_TRUE(history__at(h, 2) == NULL, "no third snapshot");
cleanup:
	entry_set__clear(&a);
	entry_set__clear(&b);
	history__free(h);
}

/* Cumulative drains at 110, 120, 130 and 140 ns after a start at 100: each snapshot holds the
 * delta, and a window sums exactly the snapshots that end after its start. */
TEST(history_window_sums_snapshots_exactly)
{
	struct stack *sa = new_stack(0x401000), *sb = new_stack(0x402000);
	struct entry_set drains[4] = {}, prev = {}, win = {};
	struct history *h = history__new();
	__u64 start;

	if (!ASSERT_OK_PTR(h, "new") || !ASSERT_OK_PTR(sa, "stack") || !ASSERT_OK_PTR(sb, "stack"))
		goto cleanup;
	/* Stack 1 (sa): 10, 25, 45, 45 allocs of 16 bytes; stack 2 (sb) from the second drain. */
	if (!add(&drains[0], 9, 1, 10, 160, 0, 0, sa) ||
	    !add(&drains[1], 9, 1, 25, 400, 5, 80, sa) ||
	    !add(&drains[1], 9, 2, 3, 3000, 0, 0, sb) ||
	    !add(&drains[2], 9, 1, 45, 720, 5, 80, sa) ||
	    !add(&drains[2], 9, 2, 7, 7000, 2, 2000, sb) ||
	    !add(&drains[3], 9, 1, 45, 720, 5, 80, sa) ||
	    !add(&drains[3], 9, 2, 8, 8000, 2, 2000, sb))
		goto cleanup;
	for (int i = 0; i < 4; i++) {
		history__sort(&drains[i]);
		if (!ASSERT_OK(history__record(h, 100 + i * 10, 110 + i * 10, &drains[i],
					       i ? &drains[i - 1] : &prev),
			       "record"))
			goto cleanup;
	}
	if (!ASSERT_EQ(history__count(h), 4, "snapshots"))
		goto cleanup;

	/* Since 115: the snapshots ending at 120, 130 and 140 (not the one ending at 110). */
	if (!ASSERT_OK(history__window(h, 115, &win, &start), "window since 115"))
		goto cleanup;
	ASSERT_EQ(start, 110, "window start: the earliest snapshot's start");
	ASSERT_EQ(win.cnt, 2, "one entry per key");
	expect(&win, 1, 35, 560, 5, 80);
	expect(&win, 2, 8, 8000, 2, 2000);
	ASSERT_TRUE(win.cnt == 2 && win.e[0].key.stack_id == 1, "sorted by key");
	/* sa: 1 own + drains[0..3] + 3 snapshots + the merged window entry. */
	ASSERT_EQ(sa->refs, 1 + 4 + 3 + 1, "merged entries' stack references given back");
	entry_set__clear(&win);
	ASSERT_EQ(sa->refs, 1 + 4 + 3, "window's reference given back");

	/* Since 0: everything, as the last cumulative drain. */
	if (!ASSERT_OK(history__window(h, 0, &win, &start), "window since 0"))
		goto cleanup;
	ASSERT_EQ(start, 100, "from the first drain's start");
	expect(&win, 1, 45, 720, 5, 80);
	expect(&win, 2, 8, 8000, 2, 2000);
	entry_set__clear(&win);

	/* Since 130: the last snapshot only, where stack 1 did not change. */
	if (!ASSERT_OK(history__window(h, 130, &win, &start), "window since 130"))
		goto cleanup;
	ASSERT_EQ(start, 130, "last interval");
	ASSERT_EQ(win.cnt, 1, "one key changed");
	expect(&win, 2, 1, 1000, 0, 0);
	entry_set__clear(&win);

	/* Since 140: nothing ends later. */
	if (!ASSERT_OK(history__window(h, 140, &win, &start), "window since 140"))
		goto cleanup;
	ASSERT_EQ(win.cnt, 0, "empty window");
	ASSERT_EQ(start, 0, "no start");
cleanup:
	entry_set__clear(&win);
	for (int i = 0; i < 4; i++)
		entry_set__clear(&drains[i]);
	history__free(h);
	if (sa)
		ASSERT_EQ(sa->refs, 1, "every reference given back");
	stack__put(sa);
	stack__put(sb);
}

/* A view taken under the owner's lock is summed after the history dropped its snapshots (expiry
 * or the process released, as a drain may do meanwhile): the snapshots live as long as the view,
 * and go with it. */
TEST(history_view_outlives_its_history)
{
	struct stack *sa = new_stack(0x401000);
	struct entry_set drains[2] = {}, prev = {}, win = {};
	struct history *h = history__new();
	struct history_view *v = NULL;
	__u64 start;

	if (!ASSERT_OK_PTR(h, "new") || !ASSERT_OK_PTR(sa, "stack"))
		goto cleanup;
	if (!add(&drains[0], 9, 1, 10, 160, 0, 0, sa) || !add(&drains[1], 9, 1, 25, 400, 5, 80, sa))
		goto cleanup;
	for (int i = 0; i < 2; i++) {
		history__sort(&drains[i]);
		if (!ASSERT_OK(history__record(h, 100 + i * 10, 110 + i * 10, &drains[i],
					       i ? &drains[i - 1] : &prev),
			       "record"))
			goto cleanup;
	}
	for (int i = 0; i < 2; i++)
		entry_set__clear(&drains[i]);
	v = history__view(h, 0);
	if (!ASSERT_OK_PTR(v, "view"))
		goto cleanup;
	history__free(h);
	h = NULL;
	ASSERT_EQ(sa->refs, 1 + 2, "the view keeps both snapshots, and their stacks");
	if (!ASSERT_OK(history_view__sum(v, &win, &start), "sum"))
		goto cleanup;
	ASSERT_EQ(start, 100, "from the first snapshot's start");
	expect(&win, 1, 25, 400, 5, 80);
	history_view__free(v);
	v = NULL;
	ASSERT_EQ(sa->refs, 1 + 1, "the snapshots went with the view; the sum holds its own");
cleanup:
	history_view__free(v);
	entry_set__clear(&win);
	for (int i = 0; i < 2; i++)
		entry_set__clear(&drains[i]);
	history__free(h);
	if (sa)
		ASSERT_EQ(sa->refs, 1, "every reference given back");
	stack__put(sa);
}

/* A history of n snapshots ending at ends[i], snapshot i holding per[i] entries. */
static struct history *make_history(const __u64 *ends, const size_t *per, size_t n)
{
	struct history *h = history__new();
	struct entry_set prev = {}, cur = {};

	if (!h)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		/* Cumulative: every key grows by one allocation each time it is drained. */
		for (size_t k = 0; k < cur.cnt; k++)
			if (k < per[i])
				cur.e[k].stats.alloc_cnt++;
		for (size_t k = cur.cnt; k < per[i]; k++)
			add(&cur, 1, k, 1, 0, 0, 0, NULL);
		if (history__record(h, i ? ends[i - 1] : 0, ends[i], &cur, &prev)) {
			history__free(h);
			h = NULL;
			break;
		}
		entry_set__clear(&prev);
		for (size_t k = 0; k < cur.cnt; k++)
			entry_set__add(&prev, &cur.e[k]);
	}
	entry_set__clear(&prev);
	entry_set__clear(&cur);
	return h;
}

TEST(history_expire_by_age)
{
	const __u64 ends[] = {50, 150, 250};
	const size_t per[] = {1, 2, 3};
	struct history_item it = {.h = make_history(ends, per, 3), .alive = 1};
	struct history_retention r = {.keep_ns = 100, .max_exited = 10};
	struct history_expiry ex;

	if (!ASSERT_OK_PTR(it.h, "history"))
		return;
	ASSERT_EQ(history__entries(it.h), 6, "entries before");
	/* At 250, 50 + 100 < 250 is gone; 150 + 100 is not before 250. */
	history__expire(&it, 1, 250, &r, &ex);
	ASSERT_EQ(history__count(it.h), 2, "the first snapshot expired");
	ASSERT_EQ(history__at(it.h, 0)->end_ns, 150, "oldest left");
	ASSERT_EQ(ex.snapshots_dropped, 0, "age is not counted as dropped");
	ASSERT_TRUE(!it.release, "alive: never released");
	history__expire(&it, 1, 351, &r, &ex);
	ASSERT_EQ(history__count(it.h), 0, "all expired");
	ASSERT_TRUE(!it.release, "alive with no history: kept");
	history__free(it.h);
}

TEST(history_expire_by_entry_bound)
{
	const __u64 ea[] = {10, 40}, eb[] = {20, 30, 50};
	const size_t pa[] = {3, 3}, pb[] = {2, 2, 2};
	struct history_item items[2] = {
	    {.h = make_history(ea, pa, 2), .alive = 1},
	    {.h = make_history(eb, pb, 3), .alive = 1},
	};
	struct history_retention r = {.keep_ns = 1000, .max_entries = 5, .max_exited = 10};
	struct history_expiry ex;

	if (!ASSERT_OK_PTR(items[0].h, "a") || !ASSERT_OK_PTR(items[1].h, "b"))
		goto cleanup;
	/* a: 3 at 10, 3 at 40; b: 2 at 20, 2 at 30, 2 at 50: 12 entries. The oldest of all go
	 * first: a's at 10 (9 left), b's at 20 (7), b's at 30 (5, at the bound: kept). */
	ASSERT_EQ(history__entries(items[0].h) + history__entries(items[1].h), 12, "before");
	history__expire(items, 2, 60, &r, &ex);
	ASSERT_EQ(ex.snapshots_dropped, 3, "dropped over the bound");
	ASSERT_EQ(history__count(items[0].h), 1, "a keeps one");
	ASSERT_EQ(history__at(items[0].h, 0)->end_ns, 40, "a's newest");
	ASSERT_EQ(history__count(items[1].h), 1, "b keeps one");
	ASSERT_EQ(history__at(items[1].h, 0)->end_ns, 50, "b's newest");
	ASSERT_EQ(history__entries(items[0].h) + history__entries(items[1].h), 5, "after");
	r.max_entries = 0;
	history__expire(items, 2, 60, &r, &ex);
	ASSERT_EQ(ex.snapshots_dropped, 0, "0: no bound");
cleanup:
	history__free(items[0].h);
	history__free(items[1].h);
}

TEST(history_expire_exited_processes)
{
	struct history_item items[5] = {};
	struct history_retention r = {.keep_ns = 1000, .max_exited = 2};
	struct history_expiry ex;
	const int alive[5] = {1, 0, 0, 0, 0};
	const __u64 exit_ns[5] = {0, 400, 100, 300, 200};

	for (int i = 0; i < 5; i++) {
		items[i] = (struct history_item){
		    .h = history__new(), .alive = alive[i], .exit_ns = exit_ns[i]};
		if (!ASSERT_OK_PTR(items[i].h, "history"))
			goto cleanup;
	}
	/* Four exited, two kept: the longest gone (exit at 100 and 200) go, counted. */
	history__expire(items, 5, 500, &r, &ex);
	ASSERT_EQ(ex.exited_dropped, 2, "over --max-exited");
	ASSERT_TRUE(!items[0].release, "alive kept");
	ASSERT_TRUE(!items[1].release && !items[3].release, "the two most recent kept");
	ASSERT_TRUE(items[2].release && items[2].over, "exited at 100 released");
	ASSERT_TRUE(items[4].release && items[4].over, "exited at 200 released");

	/* Within the bound, retention alone: exit + keep before now. */
	r.max_exited = 10;
	history__expire(items, 5, 1350, &r, &ex);
	ASSERT_EQ(ex.exited_dropped, 0, "none over the bound");
	ASSERT_TRUE(items[2].release && !items[2].over, "100 + 1000 < 1350: retention ended");
	ASSERT_TRUE(items[4].release && items[3].release, "200 and 300 too");
	ASSERT_TRUE(!items[1].release && !items[0].release, "400 + 1000 not yet; alive kept");
cleanup:
	for (int i = 0; i < 5; i++)
		history__free(items[i].h);
}

TEST(history_expire_many_processes_oldest_first)
{
	/* 100 processes, 40 snapshots of one entry each; process p's snapshot i ends at
	 * i * 1000 + p: the bound of 1000 entries keeps exactly those ending after 29,999
	 * (snapshots 30..39 of every process), whatever the order the heap visits them in. */
	enum { PROCS = 100, SNAPS = 40 };
	struct history_item items[PROCS] = {};
	struct history_retention r = {.keep_ns = 1000000, .max_entries = 1000, .max_exited = 10};
	struct history_expiry ex;
	__u64 ends[SNAPS];
	size_t per[SNAPS];
	bool ok = true;

	for (int p = 0; p < PROCS && ok; p++) {
		for (int i = 0; i < SNAPS; i++) {
			ends[i] = (__u64)i * 1000 + p + 1;
			per[i] = 1;
		}
		items[p].h = make_history(ends, per, SNAPS);
		items[p].alive = 1;
		ok = ASSERT_OK_PTR(items[p].h, "history");
	}
	if (!ok)
		goto cleanup;
	history__expire(items, PROCS, 40000, &r, &ex);
	ASSERT_EQ(ex.snapshots_dropped, PROCS * 30, "dropped over the bound");
	for (int p = 0; p < PROCS; p++) {
		if (!ASSERT_EQ(history__count(items[p].h), 10, "each keeps its newest 10") ||
		    !ASSERT_EQ(history__at(items[p].h, 0)->end_ns, 30000 + p + 1, "oldest kept") ||
		    !ASSERT_EQ(history__entries(items[p].h), 10, "entries counted"))
			break;
	}
	/* Dropped from the front, the history still takes new snapshots in order. */
	{
		struct entry_set cur = {}, prev = {};

		add(&cur, 1, 0, 5, 0, 0, 0, NULL);
		ASSERT_OK(history__record(items[0].h, 49000, 50000, &cur, &prev), "record");
		entry_set__clear(&cur);
	}
	ASSERT_EQ(history__count(items[0].h), 11, "one more");
	ASSERT_EQ(history__newest_end(items[0].h), 50000, "newest last");
	ASSERT_EQ(history__at(items[0].h, 0)->end_ns, 30001, "oldest first");
cleanup:
	for (int p = 0; p < PROCS; p++)
		history__free(items[p].h);
}
