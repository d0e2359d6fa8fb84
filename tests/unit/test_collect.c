// SPDX-License-Identifier: MIT
/* The daemon's packed history: entries come back exactly as they went in, stacks keep their
 * reference counts, and the packing is several times smaller than the entries. */
#include <stdio.h>
#include <stdlib.h>

#include "probe/collect.h"
#include "service/budget.h"
#include "util/common.h"
#include "test.h"

static struct stack *new_stack(__u32 nr)
{
	__u64 ips[ALLOC_MAX_STACK_DEPTH];

	for (__u32 i = 0; i < nr; i++)
		ips[i] = 0x401000 + i * 16;
	return stack__new(ips, nr);
}

static __u64 rnd64(void)
{
	return ((__u64)random() << 33) ^ ((__u64)random() << 11) ^ (__u64)random();
}

TEST(packed_set_round_trip)
{
	struct stack *stacks[3] = {new_stack(3), new_stack(40), new_stack(127)};
	struct entry_set in = {}, out = {};
	struct packed_set p = {};
	const size_t n = 5000;

	srandom(4242);
	for (size_t i = 0; i < ARRAY_SIZE(stacks); i++)
		if (!ASSERT_OK_PTR(stacks[i], "stack"))
			goto cleanup;
	for (size_t i = 0; i < n; i++) {
		struct alloc_entry e = {};

		/* Mostly what a drain holds (one process, rising ids, small deltas), and every
		 * so often the extremes: lost stacks, a new pid, values that need 64 bits. */
		e.key.tgid = i < n / 2 ? 4242 : 7;
		e.key.stack_id = i % 97 == 0 ? -17 : (__s32)(i * 3);
		e.key.kind = i % 5;
		e.key.duty = i % 17 ? 0 : (__u16)(i * 7);
		e.key.pad = i % 19 ? 0 : (__u32)i;
		e.key.caller_hint = i % 3 ? 0 : 0x7ffd00000000ULL + i;
		e.key.size = i % 7 ? 0 : i * 8;
		e.stats.alloc_cnt = i % 11 ? i % 13 : rnd64();
		e.stats.alloc_bytes = i % 11 ? (i % 13) * 64 : ~0ULL;
		e.stats.free_cnt = i % 2;
		e.stats.free_bytes = i % 11 ? (i % 2) * 64 : (__u64)-1 - i;
		e.stats.untracked_cnt = i % 101 == 0;
		e.stats.untracked_bytes = i % 101 == 0 ? 4096 : 0;
		e.stack = i % 31 == 0 ? NULL : stacks[i % 3];
		if (!ASSERT_OK(entry_set__add(&in, &e), "entry_set__add"))
			goto cleanup;
	}
	if (!ASSERT_OK(packed_set__pack(&p, &in), "pack"))
		goto cleanup;
	ASSERT_EQ(p.cnt, n, "entries packed");
	/* 88-byte entries: at least 3x smaller here (mostly small numbers). */
	ASSERT_TRUE(p.len * 3 < n * sizeof(struct alloc_entry), "packed size");
	entry_set__clear(&in);
	/* The entry set's references are gone; the packed set holds its own. */
	ASSERT_TRUE(stacks[0]->refs > 1 && stacks[1]->refs > 1, "packed set holds references");

	if (!ASSERT_OK(packed_set__unpack(&p, &out), "unpack") ||
	    !ASSERT_EQ(out.cnt, n, "entries unpacked"))
		goto cleanup;
	srandom(4242);
	for (size_t i = 0; i < n; i++) {
		const struct alloc_entry *e = &out.e[i];
		__u64 r = i % 11 ? 0 : rnd64();
		bool ok;

		ok = e->key.tgid == (i < n / 2 ? 4242u : 7u) &&
		     e->key.stack_id == (i % 97 == 0 ? -17 : (__s32)(i * 3)) &&
		     e->key.kind == i % 5 && e->key.duty == (i % 17 ? 0 : (__u16)(i * 7)) &&
		     e->key.pad == (i % 19 ? 0 : (__u32)i) &&
		     e->key.caller_hint == (i % 3 ? 0 : 0x7ffd00000000ULL + i) &&
		     e->key.size == (i % 7 ? 0 : i * 8) &&
		     e->stats.alloc_cnt == (i % 11 ? i % 13 : r) &&
		     e->stats.alloc_bytes == (i % 11 ? (i % 13) * 64 : ~0ULL) &&
		     e->stats.free_cnt == i % 2 &&
		     e->stats.free_bytes == (i % 11 ? (i % 2) * 64 : (__u64)-1 - i) &&
		     e->stats.untracked_cnt == (i % 101 == 0) &&
		     e->stats.untracked_bytes == (i % 101 == 0 ? 4096u : 0u) &&
		     e->stack == (i % 31 == 0 ? NULL : stacks[i % 3]);
		if (!ASSERT_TRUE(ok, "entry unpacked as packed"))
			break;
	}
	entry_set__clear(&out);
	packed_set__clear(&p);
	for (size_t i = 0; i < ARRAY_SIZE(stacks); i++)
		ASSERT_EQ(stacks[i]->refs, 1, "references all returned");

	/* Empty. */
	ASSERT_OK(packed_set__pack(&p, &in), "pack empty");
	ASSERT_EQ(p.cnt, 0, "nothing packed");
	ASSERT_OK(packed_set__unpack(&p, &out), "unpack empty");
	ASSERT_EQ(out.cnt, 0, "nothing unpacked");
	packed_set__clear(&p);
cleanup:
	entry_set__clear(&in);
	entry_set__clear(&out);
	for (size_t i = 0; i < ARRAY_SIZE(stacks); i++)
		stack__put(stacks[i]);
}

/*
 * What a drain of the 100k-stack benchmark packs: one process, stack ids rising, every stack
 * allocated and freed, its struct stack anywhere in the heap (the stack cache allocates them in
 * the kernel map's hash order, not by id). The history's memory bound is counted at
 * BUDGET_HISTORY_BYTES per entry; this keeps the packing at or under it.
 */
TEST(packed_set_drain_entry_size)
{
	enum { N = 20000 };
	struct stack **stacks = calloc(N, sizeof(*stacks));
	struct entry_set in = {};
	struct packed_set p = {};
	__u32 *order = calloc(N, sizeof(*order));

	if (!ASSERT_OK_PTR(stacks, "stacks") || !ASSERT_OK_PTR(order, "order"))
		goto cleanup;
	srandom(7);
	for (__u32 i = 0; i < N; i++)
		order[i] = i;
	for (__u32 i = N - 1; i > 0; i--) {
		__u32 j = random() % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	/* ~39 frames each, as the benchmark's, allocated in shuffled id order. */
	for (__u32 i = 0; i < N; i++) {
		__u64 ips[39];

		for (int f = 0; f < 39; f++)
			ips[f] = 0x401000 + (order[i] >> (f % 16) & 1) * 64 + f * 4096;
		stacks[order[i]] = stack__new(ips, 39);
		if (!ASSERT_OK_PTR(stacks[order[i]], "stack"))
			goto cleanup;
	}
	for (__u32 i = 0; i < N; i++) {
		struct alloc_entry e = {.key = {.tgid = 31337, .stack_id = (__s32)(i * 2 + 1)},
					.stats = {2, 2 * 48, 2, 2 * 48},
					.stack = stacks[i]};

		if (!ASSERT_OK(entry_set__add(&in, &e), "entry_set__add"))
			goto cleanup;
	}
	if (!ASSERT_OK(packed_set__pack(&p, &in), "pack"))
		goto cleanup;
	printf("    native: %.1f bytes per entry\n", (double)p.len / N);
	ASSERT_TRUE(p.len <= (size_t)N * 12, "a native drain's entry in 12 bytes");
	packed_set__clear(&p);
	/* Go's: a key per stack and size, and the caller hint of its entry probes (text
	 * addresses); allocated only, no frees in the interval. */
	for (__u32 i = 0; i < N; i++) {
		struct alloc_entry *e = &in.e[i];

		e->key.kind = ALLOC_KIND_GO;
		e->key.size = 16 << (i % 9);
		e->key.caller_hint = 0x4a0000 + (order[i] % 3000) * 40;
		e->stats = (struct alloc_stats){1, e->key.size};
	}
	if (!ASSERT_OK(packed_set__pack(&p, &in), "pack Go's"))
		goto cleanup;
	printf("    Go: %.1f bytes per entry\n", (double)p.len / N);
	ASSERT_TRUE(p.len <= (size_t)N * BUDGET_HISTORY_BYTES,
		    "a Go drain's entry within the budget's bytes per entry");
	packed_set__clear(&p);
cleanup:
	entry_set__clear(&in);
	for (__u32 i = 0; stacks && i < N; i++)
		stack__put(stacks[i]);
	free(stacks);
	free(order);
}

/* A process's first cycled period (DUTY_PENDING): left out while open, with the stack
 * references they held; then keyed by the share that period saw, the rest untouched. */
TEST(entry_set_resolve_pending)
{
	struct stack *st = new_stack(4);
	struct entry_set s = {};
	const __u16 duties[] = {0, DUTY_PENDING, 4096, DUTY_PENDING};

	if (!ASSERT_OK_PTR(st, "stack"))
		return;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < ARRAY_SIZE(duties); i++) {
			struct alloc_entry e = {
			    .key = {.tgid = 9, .stack_id = (__s32)i, .duty = duties[i]},
			    .stats = {.alloc_cnt = i + 1},
			    .stack = st};

			if (!ASSERT_OK(entry_set__add(&s, &e), "entry_set__add"))
				goto cleanup;
		}
		ASSERT_EQ(st->refs, 1 + ARRAY_SIZE(duties), "a reference per entry");
		ASSERT_TRUE(entry_set__has_pending(&s), "pending entries seen");
		/* Open: the drain holds them back. Resolved: the share's key. */
		entry_set__resolve_pending(&s, pass ? 1234 : 0);
		if (!pass) {
			ASSERT_EQ(s.cnt, 2, "pending entries left out");
			ASSERT_EQ(st->refs, 3, "their references released");
			ASSERT_EQ(s.e[0].key.duty, 0, "an uncycled entry kept");
			ASSERT_EQ(s.e[1].key.duty, 4096, "a cycled entry kept");
			ASSERT_EQ(s.e[1].stats.alloc_cnt, 3, "in order");
			ASSERT_TRUE(!entry_set__has_pending(&s), "none pending after");
		} else {
			ASSERT_EQ(s.cnt, 4, "every entry kept");
			ASSERT_EQ(s.e[1].key.duty, 1234, "pending takes the share's key");
			ASSERT_EQ(s.e[3].key.duty, 1234, "pending takes the share's key");
			ASSERT_EQ(s.e[2].key.duty, 4096, "a cycled entry untouched");
		}
		entry_set__clear(&s);
	}
cleanup:
	entry_set__clear(&s);
	stack__put(st);
}
