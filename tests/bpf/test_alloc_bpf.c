// SPDX-License-Identifier: MIT
/* The BPF layer alone, as the kernel's BPF selftests test theirs: each test loads bpf/alloc.bpf.c
 * through alloc_probes at rate 1, attaches it to this very process's allocator, calls allocation
 * wrappers of its own with known sizes, and asserts what the stats, stacks and live maps hold.
 * No daemon, no symbolizing, no pprof. Needs root. */
#include <sys/mman.h>

#include "tests/bpf/bpf_test.h"

WRAPPER(malloc) void *wrap_malloc(size_t n)
{
	void *p = malloc(n);

	asm volatile("" : "+r"(p));
	return p;
}

WRAPPER(calloc) void *wrap_calloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	asm volatile("" : "+r"(p));
	return p;
}

WRAPPER(realloc) void *wrap_realloc(void *old, size_t n)
{
	void *p = realloc(old, n);

	asm volatile("" : "+r"(p));
	return p;
}

WRAPPER(posix_memalign) int wrap_posix_memalign(void **out, size_t align, size_t n)
{
	int err = posix_memalign(out, align, n);

	asm volatile("" : "+r"(err));
	return err;
}

WRAPPER(free) void wrap_free(void *p)
{
	free(p);
	asm volatile("" ::: "memory");
}

TEST(bpf_counts_and_bytes_per_stack_and_allocator)
{
	struct range rm = RANGE(malloc), rc = RANGE(calloc), rp = RANGE(posix_memalign);
	void *m[5] = {}, *c[3] = {}, *pm[2] = {};
	struct proc_totals tot;
	struct alloc_stats st;
	struct alloc_key key;
	struct stack_val sv;
	struct fixture f;
	int i, nr;

	if (!fixture_open(&f, 0))
		return;
	/* One call site per wrapper, so one stack: KEEP_LOOP stops the loops being unrolled. */
	for (i = 0; i < 5; i++)
		m[KEEP_LOOP(i)] = wrap_malloc(100);
	for (i = 0; i < 3; i++)
		c[KEEP_LOOP(i)] = wrap_calloc(7, 9);
	for (i = 0; i < 2; i++)
		if (!ASSERT_OK(wrap_posix_memalign(&pm[KEEP_LOOP(i)], 64, 200), "posix_memalign"))
			goto cleanup;

	if (ASSERT_EQ(stats_of(&f, ALLOC_KIND_MALLOC, rm, &key, &st), 1, "one malloc key")) {
		ASSERT_EQ(st.alloc_cnt, 5, "malloc count");
		ASSERT_EQ(st.alloc_bytes, 500, "malloc bytes");
		ASSERT_EQ(st.free_cnt, 0, "nothing freed yet");
		ASSERT_EQ(st.untracked_cnt, 0, "every block tracked");
		ASSERT_EQ(key.caller_hint, 0, "return probes need no caller hint");
		/* The leaf is the return address into the wrapper; the walk then goes on by frame
		 * pointers into this test. */
		nr = stack_of(&f, key.stack_id, &sv);
		ASSERT_TRUE(nr >= 3, "stack goes past the wrapper");
		ASSERT_TRUE(nr >= 2 && !in_range(rm, sv.ips[1]), "the wrapper appears once");
	}
	if (ASSERT_EQ(stats_of(&f, ALLOC_KIND_CALLOC, rc, &key, &st), 1, "one calloc key")) {
		ASSERT_EQ(st.alloc_cnt, 3, "calloc count");
		ASSERT_EQ(st.alloc_bytes, 3 * 7 * 9, "calloc bytes: n * size");
	}
	if (ASSERT_EQ(stats_of(&f, ALLOC_KIND_POSIX_MEMALIGN, rp, &key, &st), 1,
		      "one posix_memalign key")) {
		ASSERT_EQ(st.alloc_cnt, 2, "posix_memalign count");
		ASSERT_EQ(st.alloc_bytes, 400, "posix_memalign bytes");
	}
	/* The block posix_memalign stored through its pointer argument is the one tracked. */
	for (i = 0; i < 2; i++) {
		struct live_val lv;

		if (ASSERT_TRUE(live_of(&f, pm[i], &lv), "posix_memalign block live")) {
			ASSERT_EQ(lv.size, 200, "its size");
			ASSERT_EQ(lv.key.kind, ALLOC_KIND_POSIX_MEMALIGN, "its allocator");
		}
	}
	ASSERT_EQ(stats_of(&f, ALLOC_KIND_MALLOC, rc, &key, &st), 0,
		  "calloc's own work is not also a malloc");
	/* The process's totals count these among whatever else it allocated meanwhile. */
	alloc_probes__totals(f.ap, getpid(), &tot);
	ASSERT_TRUE(tot.alloc_cnt >= 10 && tot.alloc_bytes >= 500 + 189 + 400, "process totals");
	assert_nothing_lost(&f);
cleanup:
	for (i = 0; i < 5; i++)
		free(m[i]);
	for (i = 0; i < 3; i++)
		free(c[i]);
	for (i = 0; i < 2; i++)
		free(pm[i]);
	fixture_close(&f);
}

TEST(bpf_free_retires_the_live_block)
{
	struct range rm = RANGE(malloc);
	struct alloc_key key, before;
	struct alloc_stats st;
	struct live_val lv;
	struct fixture f;
	void *p;

	if (!fixture_open(&f, 0))
		return;
	p = wrap_malloc(333);
	if (!ASSERT_OK_PTR(p, "malloc") ||
	    !ASSERT_EQ(stats_of(&f, ALLOC_KIND_MALLOC, rm, &before, &st), 1, "one malloc key"))
		goto cleanup;
	if (ASSERT_TRUE(live_of(&f, p, &lv), "block live")) {
		ASSERT_EQ(lv.size, 333, "live size");
		ASSERT_TRUE(!memcmp(&lv.key, &before, sizeof(before)), "live entry names its key");
		ASSERT_EQ(lv.token, 0, "a frame-pointer sample has no token");
	}
	wrap_free(p);
	ASSERT_TRUE(!live_of(&f, p, &lv), "live entry gone after free");
	if (ASSERT_EQ(stats_of(&f, ALLOC_KIND_MALLOC, rm, &key, &st), 1, "same key")) {
		ASSERT_EQ(st.alloc_cnt, 1, "allocated once");
		ASSERT_EQ(st.free_cnt, 1, "freed once");
		ASSERT_EQ(st.free_bytes, 333, "freed bytes");
	}
	wrap_free(NULL);
	stats_of(&f, ALLOC_KIND_MALLOC, rm, &key, &st);
	ASSERT_EQ(st.free_cnt, 1, "free(NULL) counts nothing");
	assert_nothing_lost(&f);
cleanup:
	fixture_close(&f);
}

TEST(bpf_realloc_retires_the_old_block)
{
	struct range rm = RANGE(malloc), rr = RANGE(realloc);
	struct alloc_stats st;
	struct alloc_key key;
	struct live_val lv;
	struct fixture f;
	void *p, *q = NULL, *blocker = NULL;

	if (!fixture_open(&f, 0))
		return;
	p = wrap_malloc(50);
	/* A neighbour in use makes the realloc move the block rather than grow it in place. */
	blocker = malloc(50);
	q = wrap_realloc(p, 5000);
	if (!ASSERT_OK_PTR(q, "realloc"))
		goto cleanup;
	if (q != p)
		ASSERT_TRUE(!live_of(&f, p, &lv), "old block retired");
	if (ASSERT_EQ(stats_of(&f, ALLOC_KIND_MALLOC, rm, &key, &st), 1, "one malloc key")) {
		ASSERT_EQ(st.alloc_cnt, 1, "malloc count");
		ASSERT_EQ(st.free_cnt, 1, "the realloc freed the malloc'ed block");
		ASSERT_EQ(st.free_bytes, 50, "its bytes");
	}
	if (ASSERT_EQ(stats_of(&f, ALLOC_KIND_REALLOC, rr, &key, &st), 1, "one realloc key")) {
		ASSERT_EQ(st.alloc_cnt, 1, "realloc count");
		ASSERT_EQ(st.alloc_bytes, 5000, "realloc bytes: the new size");
	}
	if (ASSERT_TRUE(live_of(&f, q, &lv), "new block live")) {
		ASSERT_EQ(lv.size, 5000, "new block's size");
		ASSERT_EQ(lv.key.kind, ALLOC_KIND_REALLOC, "new block's allocator");
	}
	wrap_free(q);
	ASSERT_TRUE(!live_of(&f, q, &lv), "new block retired by free");
	stats_of(&f, ALLOC_KIND_REALLOC, rr, &key, &st);
	ASSERT_EQ(st.free_cnt, 1, "realloc'ed block freed");
	ASSERT_EQ(st.free_bytes, 5000, "its bytes");
	q = NULL;
	assert_nothing_lost(&f);
cleanup:
	free(q);
	free(blocker);
	fixture_close(&f);
}

/*
 * glibc's realloc(NULL, n) calls malloc, which the probes see as a second allocator call inside
 * the first: one block must make one sample, under realloc. glibc 2.36 makes that call a jump,
 * so malloc's entry does not sit deeper on the stack; the word at its stack pointer (realloc's
 * return address, replaced by the return probe's trampoline) tells it from a call whose outer
 * one never returned.
 */
TEST(bpf_nested_allocator_call_recorded_once)
{
	struct range rr = RANGE(realloc);
	__u64 c0[ALLOC_CNT_MAX], c1[ALLOC_CNT_MAX];
	struct alloc_stats st, st2;
	struct alloc_key key;
	struct live_val lv;
	struct fixture f;
	void *p;

	if (!fixture_open(&f, 0))
		return;
	alloc_probes__counters(f.ap, c0);
	p = wrap_realloc(NULL, 77);
	alloc_probes__counters(f.ap, c1);
	if (!ASSERT_OK_PTR(p, "realloc"))
		goto cleanup;
	ASSERT_EQ(c1[ALLOC_CNT_SAMPLED] - c0[ALLOC_CNT_SAMPLED], 1, "one sample for two probes");
	ASSERT_EQ(c1[ALLOC_CNT_NEST_RESET] - c0[ALLOC_CNT_NEST_RESET], 0,
		  "a tail call is no lost return");
	ASSERT_EQ(stats_of(&f, ALLOC_KIND_MALLOC, rr, &key, &st2), 0, "not also a malloc");
	if (ASSERT_EQ(stats_of(&f, ALLOC_KIND_REALLOC, rr, &key, &st), 1, "one realloc key")) {
		ASSERT_EQ(st.alloc_cnt, 1, "allocated once");
		ASSERT_EQ(st.alloc_bytes, 77, "its bytes");
	}
	if (ASSERT_TRUE(live_of(&f, p, &lv), "block live"))
		ASSERT_EQ(lv.size, 77, "live size");
	wrap_free(p);
	ASSERT_TRUE(!live_of(&f, p, &lv), "freed");
	p = NULL;
	assert_nothing_lost(&f);
cleanup:
	free(p);
	fixture_close(&f);
}

/* realloc takes the old block out of the live map at its entry: when it fails, the block is
 * still the caller's and must be put back, not counted as freed. */
TEST(bpf_failed_realloc_keeps_the_old_block)
{
	struct range rm = RANGE(malloc);
	struct alloc_stats st;
	struct alloc_key key;
	struct live_val lv;
	struct fixture f;
	void *p, *q;

#ifdef BPF_TEST_UNDER_ASAN
	test__skip("ASan's allocator reports a request it cannot serve");
	return;
#endif
	if (!fixture_open(&f, 0))
		return;
	p = wrap_malloc(64);
	if (!ASSERT_OK_PTR(p, "malloc"))
		goto cleanup;
	q = wrap_realloc(p, (size_t)1 << 62);
	ASSERT_TRUE(q == NULL, "realloc of 4 EiB fails");
	if (ASSERT_TRUE(live_of(&f, p, &lv), "old block still live"))
		ASSERT_EQ(lv.size, 64, "its size");
	if (ASSERT_EQ(stats_of(&f, ALLOC_KIND_MALLOC, rm, &key, &st), 1, "one malloc key"))
		ASSERT_EQ(st.free_cnt, 0, "not counted as freed");
	wrap_free(p);
	stats_of(&f, ALLOC_KIND_MALLOC, rm, &key, &st);
	ASSERT_EQ(st.free_cnt, 1, "freed once, by free");
	ASSERT_TRUE(!live_of(&f, p, &lv), "retired by free");
	assert_nothing_lost(&f);
cleanup:
	fixture_close(&f);
}

/* At rate 1 every block is known: a free of an address never allocated under the probes is
 * counted, for the process too; a free of a known block is not. */
TEST(bpf_free_of_unseen_address_counted)
{
	__u64 c0[ALLOC_CNT_MAX], c1[ALLOC_CNT_MAX];
	struct proc_totals tot0, tot1;
	struct fixture f;
	void *before, *p;

	before = malloc(40); /* before the probes */
	if (!fixture_open(&f, 0)) {
		free(before);
		return;
	}
	p = wrap_malloc(40);
	alloc_probes__counters(f.ap, c0);
	alloc_probes__totals(f.ap, getpid(), &tot0);
	wrap_free(p);
	alloc_probes__counters(f.ap, c1);
	ASSERT_EQ(c1[ALLOC_CNT_FREE_UNSEEN] - c0[ALLOC_CNT_FREE_UNSEEN], 0, "a known block");
	wrap_free(before);
	alloc_probes__counters(f.ap, c1);
	alloc_probes__totals(f.ap, getpid(), &tot1);
	ASSERT_EQ(c1[ALLOC_CNT_FREE_UNSEEN] - c0[ALLOC_CNT_FREE_UNSEEN], 1, "an unseen one");
	ASSERT_EQ(tot1.free_unseen_cnt - tot0.free_unseen_cnt, 1, "... for this process");
	/* glibc's realloc(p, 0) frees p through free, after realloc's entry took it. */
	p = wrap_malloc(40);
	alloc_probes__counters(f.ap, c0);
	if (wrap_realloc(p, 0) == NULL) {
		alloc_probes__counters(f.ap, c1);
		ASSERT_EQ(c1[ALLOC_CNT_FREE_UNSEEN] - c0[ALLOC_CNT_FREE_UNSEEN], 0,
			  "realloc(p, 0)'s own free is no unseen free");
	}
	fixture_close(&f);
}

/* What the unwind callback was handed of the blocks of DEFER_SIZE bytes. */
#define DEFER_SIZE   777
#define DEFER_BLOCKS 200

struct defer_seen {
	__u64 alloc_tokens[DEFER_BLOCKS * 2], free_tokens[DEFER_BLOCKS * 2];
	int allocs, frees;
};

static int defer_cb(void *ctx, const void *data, size_t len)
{
	const struct unwind_free_event *fe = data;
	const struct unwind_event *ev = data;
	struct defer_seen *s = ctx;

	if (fe->type == UNWIND_EV_FREE && len >= sizeof(*fe) && fe->size == DEFER_SIZE &&
	    s->frees < DEFER_BLOCKS * 2)
		s->free_tokens[s->frees++] = fe->token;
	else if (ev->type == UNWIND_EV_ALLOC && len >= sizeof(*ev) && ev->size == DEFER_SIZE &&
		 s->allocs < DEFER_BLOCKS * 2)
		s->alloc_tokens[s->allocs++] = ev->token;
	return 0;
}

static bool has_token(const __u64 *v, int n, __u64 token)
{
	for (int i = 0; i < n; i++)
		if (v[i] == token)
			return true;
	return false;
}

/*
 * A free of a CFI sample that finds the unwind ring full is not lost: it waits in the
 * unwind_frees map and reaches the callback after the ring, so every block whose allocation
 * was handed over is retired. Nothing reads the ring in between: the smallest events (8 bytes
 * of stack) fill its 64 KiB to within less than a free event, the frees find it full.
 */
TEST(bpf_cfi_free_with_the_ring_full_is_deferred_not_lost)
{
	struct alloc_probes_opts ao = {
	    .sample_rate = 1, .stack_copy_bytes = 8, .unwind_ring_bytes = 65536};
	struct defer_seen seen = {};
	void *blocks[DEFER_BLOCKS];
	struct fixture f;
	__u64 c[ALLOC_CNT_MAX];

	if (!fixture_open_opts(&f, &ao, TARGET_F_CFI))
		return;
	/* Nothing reads the ring before the poll below. */
	alloc_probes__set_unwind_cb(f.ap, defer_cb, &seen);
	for (int i = 0; i < DEFER_BLOCKS; i++)
		blocks[i] = wrap_malloc(DEFER_SIZE);
	for (int i = 0; i < DEFER_BLOCKS; i++)
		wrap_free(blocks[i]);
	alloc_probes__counters(f.ap, c);
	ASSERT_TRUE(c[ALLOC_CNT_UNWIND_LOST] > 0,
		    "the ring was full: later samples kept FP stacks");
	ASSERT_TRUE(c[ALLOC_CNT_UNWIND_FREE_DEFERRED] > 0, "frees deferred to the map");
	ASSERT_EQ(c[ALLOC_CNT_UNWIND_FREE_LOST], 0, "no free lost");
	ASSERT_OK(alloc_probes__poll_events(f.ap, NULL, NULL, NULL), "poll");
	ASSERT_TRUE(seen.allocs > 0, "some of the blocks reached the ring");
	ASSERT_EQ(seen.frees, seen.allocs, "each handed-over block retired once");
	for (int i = 0; i < seen.frees; i++)
		ASSERT_TRUE(has_token(seen.alloc_tokens, seen.allocs, seen.free_tokens[i]),
			    "a free's token is an allocation's");
	/* Read once: the map is empty after the poll. */
	seen.frees = 0;
	ASSERT_OK(alloc_probes__poll_events(f.ap, NULL, NULL, NULL), "poll again");
	ASSERT_EQ(seen.frees, 0, "each deferred free handed over once");
	fixture_close(&f);
}

/* The unwind event of the block of HOLE_SIZE bytes. */
#define HOLE_SIZE 555

struct hole_seen {
	__u64 sp;
	__u32 len, flags;
	int n;
};

static int hole_cb(void *ctx, const void *data, size_t len)
{
	const struct unwind_event *ev = data;
	struct hole_seen *s = ctx;

	if (ev->type == UNWIND_EV_ALLOC && len >= sizeof(*ev) && ev->size == HOLE_SIZE) {
		s->sp = ev->regs[7];
		s->len = ev->stack_len;
		s->flags = ev->flags;
		s->n++;
	}
	return 0;
}

/* Allocate HOLE_SIZE bytes with a page of this frame's buffer not there, more than a page
 * above the allocator's stack pointer, and every page below it touched: *hole is that page. */
static __attribute__((NOIPA)) void *malloc_below_a_hole(__u64 *hole)
{
	volatile char buf[6 * 4096];
	__u64 lo = ((__u64)&buf[2 * 4096] + 4095) & ~4095ULL;

	for (__u64 a = (__u64)buf; a < lo; a += 256)
		buf[a - (__u64)buf] = 1;
	if (madvise((void *)lo, 4096, MADV_DONTNEED))
		return NULL;
	*hole = lo;
	return wrap_malloc(HOLE_SIZE);
}

/*
 * A page of the stack that cannot be read (here never faulted back in after MADV_DONTNEED; in
 * production one being migrated or compacted) costs only the stack above it: the copy keeps
 * every page below, not just the stack pointer's own, and is not marked as reaching the end.
 */
TEST(bpf_cfi_stack_copy_stops_at_an_unreadable_page)
{
	struct alloc_probes_opts ao = {.sample_rate = 1, .stack_copy_bytes = 65536};
	struct hole_seen seen = {};
	__u64 c0[ALLOC_CNT_MAX], c1[ALLOC_CNT_MAX], hole = 0;
	struct fixture f;
	void *p;

	if (!fixture_open_opts(&f, &ao, TARGET_F_CFI))
		return;
	alloc_probes__set_unwind_cb(f.ap, hole_cb, &seen);
	alloc_probes__counters(f.ap, c0);
	p = malloc_below_a_hole(&hole);
	alloc_probes__counters(f.ap, c1);
	ASSERT_OK(alloc_probes__poll_events(f.ap, NULL, NULL, NULL), "poll");
	if (ASSERT_OK_PTR(p, "madvise and the allocation") && ASSERT_EQ(seen.n, 1, "one event")) {
		ASSERT_EQ(c1[ALLOC_CNT_UNWIND_SHORT_COPY] - c0[ALLOC_CNT_UNWIND_SHORT_COPY], 1,
			  "the short copy counted");
		ASSERT_EQ(seen.sp + seen.len, hole, "the copy ends where the hole begins");
		ASSERT_TRUE(seen.len > 4096 - (seen.sp & 4095), "more than sp's own page kept");
		ASSERT_EQ(seen.flags & UNWIND_F_STACK_END, 0, "not marked as the stack's end");
	}
	free(p);
	fixture_close(&f);
}
