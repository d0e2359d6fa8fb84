// SPDX-License-Identifier: MIT
/* The BPF layer alone, as the kernel's BPF selftests test theirs: each test loads bpf/alloc.bpf.c
 * through alloc_probes at rate 1, attaches it to this very process's allocator, calls allocation
 * wrappers of its own with known sizes, and asserts what the stats, stacks and live maps hold.
 * No daemon, no symbolizing, no pprof. Needs root. */
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bpf/alloc.h"
#include "probe/alloc_probes.h"
#include "probe/collect.h"
#include "symbols/symbolize.h"
#include "tests/unit/test.h"

/*
 * Each wrapper lives in a section of its own, so that its code is [__start_S, __stop_S): a
 * return address into it marks a stack as the wrapper's. noipa keeps calls to it real calls,
 * and the empty asm after the allocator's call keeps that call from becoming a jump, which
 * would leave the wrapper's frame off the stack.
 */
#ifdef __clang__
#define NOIPA noinline /* the wrappers are external: clang neither clones nor folds them */
#else
#define NOIPA noipa
#endif
#define WRAPPER(name) __attribute__((NOIPA, section("bpft_" #name)))
#define RANGE(name)                                                                                \
	({                                                                                         \
		extern const char __start_bpft_##name[], __stop_bpft_##name[];                     \
		(struct range){(__u64)__start_bpft_##name, (__u64)__stop_bpft_##name};             \
	})

/* The loop counter as the compiler cannot know it: a loop around one call stays one call site
 * (clang unrolls short loops into a call site, and so a stack, per iteration). */
#define KEEP_LOOP(i)                                                                               \
	({                                                                                         \
		asm volatile("" : "+r"(i));                                                        \
		i;                                                                                 \
	})

struct range {
	__u64 lo, hi;
};

static __u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

static bool in_range(struct range r, __u64 ip)
{
	return ip >= r.lo && ip < r.hi;
}

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

WRAPPER(mmap) void *wrap_mmap(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	asm volatile("" : "+r"(p));
	return p;
}

struct fixture {
	struct symbolizer *sym;
	struct alloc_probes *ap;
	int stats_fd, stacks_fd, live_fd;
};

static void fixture_close(struct fixture *f)
{
	if (f->ap)
		alloc_probes__detach_pid(f->ap, getpid(), 1);
	alloc_probes__free(f->ap);
	symbolizer__free(f->sym);
	*f = (struct fixture){};
}

/* Load at rate 1 and probe the malloc family of the object this process's malloc is in: libc,
 * or the executable itself when ASan intercepts malloc. false, with the test skipped or failed,
 * when that cannot be done. */
static bool fixture_open(struct fixture *f, __u32 target_flags)
{
	struct alloc_probes_opts ao = {.sample_rate = 1};
	struct symbolizer_opts so = {};
	Dl_info alloc;
	int n;

	*f = (struct fixture){};
	if (geteuid() != 0) {
		test__skip("needs root to load BPF programs");
		return false;
	}
	if (!ASSERT_TRUE(dladdr((void *)malloc, &alloc) && alloc.dli_fname,
			 "the allocator's object"))
		return false;
	f->sym = symbolizer__new(&so);
	if (!ASSERT_OK_PTR(f->sym, "symbolizer"))
		return false;
	f->ap = alloc_probes__new(&ao);
	if (!ASSERT_OK_PTR(f->ap, "load alloc.bpf.c"))
		goto fail;
	n = alloc_probes__attach_object(f->ap, f->sym, getpid(), alloc.dli_fname);
	if (!ASSERT_TRUE(n >= 6, "its malloc family probed"))
		goto fail;
	if (target_flags &&
	    !ASSERT_OK(alloc_probes__add_target(f->ap, getpid(), target_flags), "target flags"))
		goto fail;
	f->stats_fd = alloc_probes__stats_fd(f->ap);
	f->stacks_fd = alloc_probes__stacks_fd(f->ap);
	f->live_fd = alloc_probes__live_fd(f->ap);
	return true;
fail:
	fixture_close(f);
	return false;
}

/* The frames of stack id, innermost first; the count, 0 when the id is not in the map. */
static int stack_of(const struct fixture *f, __s32 id, struct stack_val *sv)
{
	__u32 key = id;
	int nr = 0;

	if (id < 0 || bpf_map_lookup_elem(f->stacks_fd, &key, sv))
		return 0;
	while (nr < ALLOC_MAX_STACK_DEPTH && sv->ips[nr])
		nr++;
	return nr;
}

/* Whether the key is this process's, of kind, and its stack's leaf (or, with caller_hint, the
 * word the walk skipped) a return address into r. */
static bool key_in(const struct fixture *f, const struct alloc_key *k, __u32 kind, struct range r)
{
	struct stack_val sv;

	if (k->tgid != (__u32)getpid() || k->kind != kind)
		return false;
	if (k->caller_hint)
		return in_range(r, k->caller_hint);
	return stack_of(f, k->stack_id, &sv) > 0 && in_range(r, sv.ips[0]);
}

/* The stats of the one key of kind whose stack comes from wrapper r; the number of such keys. */
static int stats_of(const struct fixture *f, __u32 kind, struct range r, struct alloc_key *key,
		    struct alloc_stats *out)
{
	struct alloc_key k, *prev = NULL;
	struct alloc_stats v;
	int n = 0;

	while (!bpf_map_get_next_key(f->stats_fd, prev, &k)) {
		prev = &k;
		if (!key_in(f, &k, kind, r) || bpf_map_lookup_elem(f->stats_fd, &k, &v))
			continue;
		*key = k;
		*out = v;
		n++;
	}
	return n;
}

/* The live entry of block p of this process: whether there is one. */
static bool live_of(const struct fixture *f, const void *p, struct live_val *out)
{
	struct live_key k = {.addr = (__u64)p, .tgid = getpid()};

	return !bpf_map_lookup_elem(f->live_fd, &k, out);
}

/* The kernel side could do all it was asked: no stack, stats or live entry lost. */
static void assert_nothing_lost(const struct fixture *f)
{
	__u64 c[ALLOC_CNT_MAX];

	alloc_probes__counters(f->ap, c);
	ASSERT_EQ(c[ALLOC_CNT_STACK_LOST], 0, "stacks lost");
	ASSERT_EQ(c[ALLOC_CNT_STACK_UNREADABLE], 0, "stacks unreadable");
	ASSERT_EQ(c[ALLOC_CNT_STATS_FULL], 0, "stats full");
	ASSERT_EQ(c[ALLOC_CNT_LIVE_FULL], 0, "live full");
	ASSERT_EQ(c[ALLOC_CNT_TASK_FULL], 0, "no task storage");
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

/* A new mapping over a tracked one (MAP_FIXED) is a block at the address of one whose free was
 * never seen: the old one is retired as freed and counted, not overwritten and left in use. */
TEST(bpf_live_overwrite_counted)
{
	struct range rmm = RANGE(mmap);
	const size_t len = 1 << 20;
	__u64 c0[ALLOC_CNT_MAX], c1[ALLOC_CNT_MAX];
	struct proc_totals tot0, tot1;
	struct alloc_stats st;
	struct alloc_key key;
	struct live_val lv;
	struct fixture f;
	void *p, *q;

	if (!fixture_open(&f, TARGET_F_MMAP))
		return;
	p = wrap_mmap(len);
	if (!ASSERT_TRUE(p != MAP_FAILED, "mmap"))
		goto cleanup;
	alloc_probes__counters(f.ap, c0);
	alloc_probes__totals(f.ap, getpid(), &tot0);
	q = mmap(p, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	alloc_probes__counters(f.ap, c1);
	alloc_probes__totals(f.ap, getpid(), &tot1);
	if (!ASSERT_TRUE(q == p, "MAP_FIXED over it"))
		goto cleanup;
	ASSERT_EQ(c1[ALLOC_CNT_LIVE_OVERWRITE] - c0[ALLOC_CNT_LIVE_OVERWRITE], 1,
		  "overwrite counted");
	ASSERT_EQ(tot1.live_overwrite_cnt - tot0.live_overwrite_cnt, 1, "... for this process");
	if (ASSERT_EQ(stats_of(&f, ALLOC_KIND_MMAP, rmm, &key, &st), 1, "the first mmap's key")) {
		ASSERT_EQ(st.free_cnt, 1, "the first mapping retired as freed");
		ASSERT_EQ(st.free_bytes, len, "its bytes");
	}
	ASSERT_TRUE(live_of(&f, p, &lv) && lv.size == len, "the new mapping live");
	munmap(p, len);
	ASSERT_TRUE(!live_of(&f, p, &lv), "retired by munmap");
	assert_nothing_lost(&f);
cleanup:
	fixture_close(&f);
}

/* Anonymous mmap through the syscall tracepoints: glibc's mmap keeps no frame, so the walk
 * skips its caller, which the key's caller hint names. */
TEST(bpf_anonymous_mmap_and_munmap)
{
	struct range rmm = RANGE(mmap);
	const size_t len = 1 << 20;
	struct alloc_stats st;
	struct alloc_key key;
	struct live_val lv;
	struct fixture f;
	void *p;

	if (!fixture_open(&f, TARGET_F_MMAP))
		return;
	p = wrap_mmap(len);
	if (!ASSERT_TRUE(p != MAP_FAILED, "mmap"))
		goto cleanup;
	if (ASSERT_EQ(stats_of(&f, ALLOC_KIND_MMAP, rmm, &key, &st), 1, "one mmap key")) {
		ASSERT_EQ(st.alloc_cnt, 1, "mmap count");
		ASSERT_EQ(st.alloc_bytes, len, "mmap bytes");
	}
	ASSERT_TRUE(live_of(&f, p, &lv) && lv.size == len, "mapping live");
	munmap(p, len);
	ASSERT_TRUE(!live_of(&f, p, &lv), "mapping retired by munmap");
	stats_of(&f, ALLOC_KIND_MMAP, rmm, &key, &st);
	ASSERT_EQ(st.free_cnt, 1, "munmap count");
	ASSERT_EQ(st.free_bytes, len, "munmap bytes");
	assert_nothing_lost(&f);
cleanup:
	fixture_close(&f);
}

/* A PROT_NONE reservation is address space, not memory: not a sample, counted apart; made over
 * a tracked mapping with MAP_FIXED (how allocators give memory back) it retires that one. */
TEST(bpf_prot_none_reservation_not_counted)
{
	struct range rmm = RANGE(mmap);
	const size_t len = 1 << 20;
	__u64 c0[ALLOC_CNT_MAX], c1[ALLOC_CNT_MAX];
	struct alloc_stats st;
	struct alloc_key key;
	struct live_val lv;
	struct fixture f;
	void *r, *p = MAP_FAILED;

	if (!fixture_open(&f, TARGET_F_MMAP))
		return;
	alloc_probes__counters(f.ap, c0);
	r = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	alloc_probes__counters(f.ap, c1);
	if (!ASSERT_TRUE(r != MAP_FAILED, "reserve"))
		goto cleanup;
	ASSERT_EQ(c1[ALLOC_CNT_SAMPLED] - c0[ALLOC_CNT_SAMPLED], 0, "no sample");
	ASSERT_EQ(c1[ALLOC_CNT_MMAP_PROT_NONE] - c0[ALLOC_CNT_MMAP_PROT_NONE], 1, "counted apart");
	ASSERT_TRUE(!live_of(&f, r, &lv), "not live");
	munmap(r, len);
	p = wrap_mmap(len);
	if (!ASSERT_TRUE(p != MAP_FAILED, "mmap"))
		goto cleanup;
	r = mmap(p, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ASSERT_TRUE(r == p, "PROT_NONE over it");
	ASSERT_TRUE(!live_of(&f, p, &lv), "the mapping retired");
	if (ASSERT_EQ(stats_of(&f, ALLOC_KIND_MMAP, rmm, &key, &st), 1, "one mmap key"))
		ASSERT_EQ(st.free_bytes, len, "its bytes freed");
	assert_nothing_lost(&f);
cleanup:
	if (p != MAP_FAILED)
		munmap(p, len);
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
	fixture_close(&f);
}

/* ---- stack garbage collection racing samples ---- */

#define GC_THREADS 3
#define GC_DEPTHS  12
#define GC_KEEP	   8

/* depth + 1 frames of it over malloc: a stack per depth. The empty asm after each call keeps
 * it a call (not a jump), so that every level keeps its frame. */
WRAPPER(gc_recurse) void *gc_recurse(int depth, size_t size)
{
	void *p = depth ? gc_recurse(depth - 1, size) : malloc(size);

	asm volatile("" : "+r"(p));
	return p;
}

static size_t gc_size(int depth)
{
	return 1000 + 8 * depth;
}

struct gc_worker {
	pthread_t thread;
	volatile int *stop;
	void *held[GC_KEEP];
};

static void *gc_work(void *arg)
{
	struct gc_worker *w = arg;
	unsigned int n = 0;

	while (!*w->stop) {
		int depth = n % GC_DEPTHS, slot = n % GC_KEEP;

		free(w->held[slot]);
		w->held[slot] = gc_recurse(depth, gc_size(depth));
		n++;
	}
	return NULL;
}

/* Delete every key of this process in map fd (what collect__forget_pid does to a dead one). */
static void forget_keys(int fd, size_t key_size, size_t tgid_off)
{
	__u8 key[64], next[64], *prev = NULL;
	__u8 doomed[4096][64];
	int n = 0;

	while (n < 4096 && !bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, key_size);
		prev = key;
		if (*(__u32 *)(key + tgid_off) == (__u32)getpid())
			memcpy(doomed[n++], key, key_size);
	}
	for (int i = 0; i < n; i++)
		bpf_map_delete_elem(fd, doomed[i]);
}

/* gc_recurse frames on stack id's stack; -1 when the id holds no stack. */
static int gc_depth_of(const struct fixture *f, __s32 id)
{
	struct range r = RANGE(gc_recurse);
	struct stack_val sv;
	int nr = stack_of(f, id, &sv), d = 0;

	if (!nr)
		return -1;
	for (int i = 0; i < nr; i++)
		d += in_range(r, sv.ips[i]);
	return d;
}

/*
 * Threads keep taking the same few stacks while the main thread forgets the process's stats and
 * live blocks and garbage-collects the stacks, over and over, as the daemon does for processes
 * that exit: a stack unreferenced when the collection reads the stats is taken again meanwhile.
 * Afterwards every stats entry's stack must be there, every live block's stack must be the one
 * it was allocated from (its size tells the depth), and no stack may sit under two ids.
 */
TEST(bpf_stack_gc_races_samples)
{
	struct gc_worker w[GC_THREADS] = {};
	struct stack_cache *cache = NULL;
	volatile int stop = 0;
	struct alloc_key k, *prevk = NULL;
	__u32 id, *previd = NULL;
	__u64 c[ALLOC_CNT_MAX], hashes[1024];
	int rounds = 0, deleted = 0, started = 0, nh = 0;
	struct fixture f;
	__u64 t_end;

	if (!fixture_open(&f, 0))
		return;
	cache = stack_cache__new();
	if (!ASSERT_OK_PTR(cache, "stack cache"))
		goto cleanup;
	for (int i = 0; i < GC_THREADS; i++) {
		w[i].stop = &stop;
		if (!ASSERT_OK(pthread_create(&w[i].thread, NULL, gc_work, &w[i]), "thread"))
			goto join;
		started++;
	}
	t_end = now_ms() + 2000;
	while (now_ms() < t_end) {
		int n;

		forget_keys(f.stats_fd, sizeof(struct alloc_key), offsetof(struct alloc_key, tgid));
		forget_keys(f.live_fd, sizeof(struct live_key), offsetof(struct live_key, tgid));
		n = collect__gc_stacks(f.ap, cache);
		if (!ASSERT_TRUE(n >= 0, "gc"))
			break;
		deleted += n;
		rounds++;
	}
join:
	stop = 1;
	for (int i = 0; i < started; i++)
		pthread_join(w[i].thread, NULL);
	ASSERT_TRUE(rounds > 10 && deleted > 0, "collections ran and deleted stacks");
	fprintf(stderr, "    %d collections, %d stacks deleted\n", rounds, deleted);
	while (!bpf_map_get_next_key(f.stats_fd, prevk, &k)) {
		prevk = &k;
		if (k.tgid == (__u32)getpid() && k.stack_id >= 0)
			ASSERT_TRUE(gc_depth_of(&f, k.stack_id) >= 0, "a stats entry's stack is there");
	}
	for (int i = 0; i < started; i++) {
		for (int j = 0; j < GC_KEEP; j++) {
			struct live_val lv;

			if (!w[i].held[j] || !live_of(&f, w[i].held[j], &lv))
				continue; /* allocated before the last forget */
			ASSERT_EQ(gc_depth_of(&f, lv.key.stack_id), (int)(lv.size - 1000) / 8 + 1,
				  "a live block's stack is its own");
		}
	}
	while (!bpf_map_get_next_key(f.stacks_fd, previd, &id)) {
		struct stack_val sv;

		previd = &id;
		if (bpf_map_lookup_elem(f.stacks_fd, &id, &sv) || nh == 1024)
			continue;
		for (int i = 0; i < nh; i++)
			ASSERT_TRUE(hashes[i] != sv.hash, "one id per stack");
		hashes[nh++] = sv.hash;
	}
	alloc_probes__counters(f.ap, c);
	ASSERT_EQ(c[ALLOC_CNT_STACK_LOST], 0, "stacks lost");
	fprintf(stderr, "    %llu stacks repaired by the BPF side\n",
		(unsigned long long)c[ALLOC_CNT_STACK_REPAIRED]);
	for (int i = 0; i < started; i++)
		for (int j = 0; j < GC_KEEP; j++)
			free(w[i].held[j]);
cleanup:
	stack_cache__free(cache);
	fixture_close(&f);
}

/* ---- realloc racing a malloc of the same size class in another thread ---- */

struct child {
	pid_t pid;
	FILE *in, *out;
};

/* Start tests/targets/NAME next to this binary with env, stdin and stdout piped. */
static bool child_start(struct child *c, const char *name, const char *env)
{
	char self[PATH_MAX], path[PATH_MAX + 32];
	int to[2], from[2];
	ssize_t n;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return false;
	self[n] = 0;
	snprintf(path, sizeof(path), "%s/targets/%s", dirname(self), name);
	if (access(path, X_OK)) {
		test__skip("build the test targets first (make test-targets)");
		return false;
	}
	if (pipe(to) || pipe(from))
		return false;
	c->pid = fork();
	if (c->pid == 0) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		putenv((char *)env);
		execl(path, name, (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	c->in = fdopen(to[1], "w");
	c->out = fdopen(from[0], "r");
	return c->pid > 0 && c->in && c->out;
}

/* Read the child's lines until one starts with want. */
static bool child_wait(struct child *c, const char *want)
{
	char line[128];

	while (fgets(line, sizeof(line), c->out))
		if (!strncmp(line, want, strlen(want)))
			return true;
	return false;
}

static void child_go(struct child *c)
{
	fputs("go\n", c->in);
	fflush(c->in);
}

/*
 * A realloc that moves a block frees the old one inside glibc, before its return probe fires; a
 * malloc in another thread can be given that address meanwhile. The old block is retired at the
 * realloc's entry, so the other thread's block must stay tracked: at rate 1 every block the
 * threads hold at the end must be live with its size.
 */
TEST(bpf_realloc_never_retires_another_threads_block)
{
	struct alloc_probes_opts ao = {.sample_rate = 1};
	struct symbolizer_opts so = {};
	struct symbolizer *sym = NULL;
	struct alloc_probes *ap = NULL;
	struct child c = {.pid = -1};
	__u64 cnt[ALLOC_CNT_MAX];
	int held = 0, missing = 0, wrong = 0, status;
	char line[128];
	Dl_info alloc;

	if (geteuid() != 0) {
		test__skip("needs root to load BPF programs");
		return;
	}
	if (!ASSERT_TRUE(dladdr((void *)malloc, &alloc) && alloc.dli_fname, "libc's path"))
		return;
	if (!child_start(&c, "realloc_race",
			 "GLIBC_TUNABLES=glibc.malloc.tcache_count=0:glibc.malloc.arena_max=1"))
		goto cleanup;
	if (!ASSERT_TRUE(child_wait(&c, "ready"), "child ready"))
		goto cleanup;
	sym = symbolizer__new(&so);
	ap = alloc_probes__new(&ao);
	if (!ASSERT_OK_PTR(sym, "symbolizer") || !ASSERT_OK_PTR(ap, "load"))
		goto cleanup;
	if (!ASSERT_TRUE(alloc_probes__attach_object(ap, sym, c.pid, alloc.dli_fname) >= 6,
			 "child's libc probed"))
		goto cleanup;
	child_go(&c);
	while (fgets(line, sizeof(line), c.out) && strncmp(line, "done", 4)) {
		struct live_key k = {.tgid = c.pid};
		struct live_val lv;
		unsigned long long addr;
		char who;

		if (sscanf(line, "%c %llx", &who, &addr) != 2 || !addr)
			continue;
		held++;
		k.addr = addr;
		if (bpf_map_lookup_elem(alloc_probes__live_fd(ap), &k, &lv))
			missing++;
		else if (lv.size != (who == 'A' ? 1000u : 48u))
			wrong++;
	}
	ASSERT_EQ(held, 128, "blocks held at the end");
	ASSERT_EQ(missing, 0, "held blocks missing from the live map");
	ASSERT_EQ(wrong, 0, "held blocks with another's size");
	alloc_probes__counters(ap, cnt);
	ASSERT_EQ(cnt[ALLOC_CNT_LIVE_OVERWRITE], 0, "no block found over another");
	ASSERT_EQ(cnt[ALLOC_CNT_LIVE_FULL], 0, "live map not full");
cleanup:
	if (c.in)
		child_go(&c);
	if (c.pid > 0) {
		if (c.in)
			fclose(c.in);
		waitpid(c.pid, &status, 0);
	}
	if (c.out)
		fclose(c.out);
	if (ap)
		alloc_probes__detach_pid(ap, c.pid, 1);
	alloc_probes__free(ap);
	symbolizer__free(sym);
}
