// SPDX-License-Identifier: MIT
/* Stacks over interned frames: round trip, sharing, equality. */
#include <stdlib.h>
#include <string.h>

#include "probe/stack.h"
#include "test.h"

TEST(stack_frames_round_trip_and_shared)
{
	/* 10,000 stacks of 40 frames that differ only in their leaf: the other 39 are stored
	 * once, so the table grows by 39 + 10,000 frames, not 400,000. */
	enum { STACKS = 10000, DEPTH = 40 };
	struct stack **s = calloc(STACKS, sizeof(*s));
	__u64 ips[DEPTH], out[DEPTH];
	size_t before = stack__frame_count();
	bool ok = true;

	if (!ASSERT_OK_PTR(s, "alloc"))
		return;
	for (int i = 0; i < STACKS && ok; i++) {
		ips[0] = 0x7f0000000000ULL + (__u64)i * 8; /* the leaf: one per stack */
		for (int d = 1; d < DEPTH; d++)
			ips[d] = 0x555555554000ULL + (__u64)d * 0x40;
		s[i] = stack__new(ips, DEPTH);
		ok = ASSERT_OK_PTR(s[i], "stack__new");
	}
	if (!ok)
		goto cleanup;
	ASSERT_EQ(stack__frame_count() - before, STACKS + DEPTH - 1, "frames stored once");
	stack__ips(s[1234], out);
	ASSERT_EQ(out[0], 0x7f0000000000ULL + 1234 * 8, "leaf back");
	ASSERT_EQ(out[DEPTH - 1], 0x555555554000ULL + (DEPTH - 1) * 0x40, "root back");
	ASSERT_EQ(stack__ip(s[9999], 0), 0x7f0000000000ULL + 9999 * 8, "stack__ip");
	ASSERT_TRUE(stack__equal(s[1234], out, DEPTH), "equal to its own frames");
	ASSERT_TRUE(!stack__equal(s[1235], out, DEPTH), "another leaf differs");
	ASSERT_TRUE(!stack__equal(s[1234], out, DEPTH - 1), "a prefix differs");
	/* A reference kept past the last put of the others. */
	stack__get(s[7]);
	stack__put(s[7]);
	ASSERT_EQ(stack__ip(s[7], 0), 0x7f0000000000ULL + 7 * 8, "alive while referenced");
cleanup:
	for (int i = 0; i < STACKS; i++)
		stack__put(s[i]);
	free(s);
}

TEST(stack_empty_and_truncated)
{
	__u64 ips[2] = {0x401000, STACK_IP_TRUNCATED};
	struct stack *e = stack__new(NULL, 0), *t = stack__new(ips, 2);

	if (ASSERT_OK_PTR(e, "empty") && ASSERT_OK_PTR(t, "truncated")) {
		ASSERT_EQ(e->nr, 0, "no frames");
		ASSERT_TRUE(stack__equal(e, NULL, 0), "empty equals empty");
		ASSERT_EQ(stack__ip(t, 1), STACK_IP_TRUNCATED, "the truncation mark is a frame");
	}
	stack__put(e);
	stack__put(t);
}
