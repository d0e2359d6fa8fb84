// SPDX-License-Identifier: MIT
/* Uprobe sessions (kernel 6.13+) at a sampling rate: an unsampled call of the malloc family
 * takes no return trap, counted by the kernel's own run count of the session program, while
 * what is recorded stays what entry+return probes record. Needs root. */
#include <malloc.h>
#include <sys/mman.h>

#include "probe/links.h"
#include "tests/bpf/bpf_test.h"

WRAPPER(s_malloc) void *s_wrap_malloc(size_t n)
{
	void *p = malloc(n);

	asm volatile("" : "+r"(p));
	return p;
}

WRAPPER(s_realloc) void *s_wrap_realloc(void *old, size_t n)
{
	void *p = realloc(old, n);

	asm volatile("" : "+r"(p));
	return p;
}

/* How the malloc family is to be probed: on sessions (skipped without), entry+return probes, or
 * whatever the host has. */
enum scheme { SCHEME_SESSION, SCHEME_ENTRY_RETURN, SCHEME_HOST };

/* Load at rate (bytes) with that scheme and probe this process's allocator. */
static bool open_at_rate(struct fixture *f, __u64 rate, enum scheme scheme, __u32 target_flags)
{
	struct alloc_probes_opts ao = {.sample_rate = rate,
				       .no_session = scheme == SCHEME_ENTRY_RETURN};

	*f = (struct fixture){};
	if (scheme == SCHEME_SESSION && !uprobe_session__supported()) {
		test__skip("this kernel has no uprobe sessions (6.13+), or "
			   "ALLOCSCOPE_UPROBE_SESSION=0");
		return false;
	}
	return fixture_open_opts(f, &ao, target_flags);
}

static __u64 run_cnt(int prog_fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (prog_fd < 0 || bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return 0;
	return info.run_cnt;
}

#define SESSION_CALLS 20000
#define SESSION_SIZE  1024
#define SESSION_RATE  (64 * 1024)

/*
 * 20,000 mallocs of 1 KiB at rate 64 KiB: each is sampled with probability 1 - exp(-1/64), about
 * 310 of them. The kernel counts the session program's runs (kernel.bpf_stats_enabled, on while
 * the fd of BPF_ENABLE_STATS is open): one per entry and one per return taken. Every return taken
 * must be a sampled call, and every sampled call recorded, so runs = calls + samples, where
 * entry+return probes run their return program once per call.
 */
static void count_traps(int no_session)
{
	__u64 c0[ALLOC_CNT_MAX], c1[ALLOC_CNT_MAX], runs0, runs1, ret_runs0, ret_runs1;
	__u64 sampled, returns;
	struct fixture f;
	int stats_fd = -1, prog_fd, ret_fd, i;

	if (!open_at_rate(&f, SESSION_RATE, no_session ? SCHEME_ENTRY_RETURN : SCHEME_SESSION, 0))
		return;
	ASSERT_STREQ(alloc_probes__scheme(f.ap),
		     no_session ? "entry+return probes" : "uprobe sessions", "scheme");
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (!ASSERT_TRUE(stats_fd >= 0, "BPF_ENABLE_STATS"))
		goto cleanup;
	prog_fd = alloc_probes__prog_fd(f.ap, no_session ? "alloc_enter" : "alloc_session");
	ret_fd = no_session ? alloc_probes__prog_fd(f.ap, "alloc_exit") : -1;
	ASSERT_TRUE(prog_fd >= 0, "entry program loaded");
	ASSERT_EQ(alloc_probes__prog_fd(f.ap, no_session ? "alloc_session" : "alloc_exit") < 0, 1,
		  "the other scheme's programs are not loaded");
	alloc_probes__counters(f.ap, c0);
	runs0 = run_cnt(prog_fd);
	ret_runs0 = run_cnt(ret_fd);
	for (i = 0; i < SESSION_CALLS; i++) {
		void *p = s_wrap_malloc(SESSION_SIZE + (KEEP_LOOP(i) & 0));

		free(p);
	}
	runs1 = run_cnt(prog_fd);
	ret_runs1 = run_cnt(ret_fd);
	alloc_probes__counters(f.ap, c1);
	sampled = c1[ALLOC_CNT_SAMPLED] - c0[ALLOC_CNT_SAMPLED];
	returns = c1[ALLOC_CNT_SESSION_RETURNS] - c0[ALLOC_CNT_SESSION_RETURNS];
	/* 310 expected, sigma ~17.5: 3 sigma either side (and never 0). */
	ASSERT_TRUE(sampled >= 257 && sampled <= 363, "samples within 3 sigma of 310");
	if (no_session) {
		ASSERT_EQ(returns, 0, "no session returns");
		ASSERT_EQ(runs1 - runs0, SESSION_CALLS, "one entry run per call");
		ASSERT_EQ(ret_runs1 - ret_runs0, SESSION_CALLS, "one return trap per call");
	} else {
		ASSERT_EQ(returns, sampled, "a return trap for each sampled call, no other");
		ASSERT_EQ(runs1 - runs0, SESSION_CALLS + sampled,
			  "the kernel ran the session program once per call and once per sample");
	}
	ASSERT_EQ(c1[ALLOC_CNT_NEST_RESET] - c0[ALLOC_CNT_NEST_RESET], 0, "no lost return");
	assert_nothing_lost(&f);
cleanup:
	if (stats_fd >= 0)
		close(stats_fd);
	fixture_close(&f);
}

TEST(bpf_session_unsampled_calls_take_no_return_trap)
{
	count_traps(0);
}

/* The same count on entry+return probes: the test tells the two schemes apart. */
TEST(bpf_entry_return_probes_trap_every_return)
{
	count_traps(1);
}

/*
 * realloc(NULL, n) jumps to malloc in glibc 2.36 (one frame, one return address): under a session
 * an unsampled realloc took no return probe, so malloc's entry must be told from a new call by
 * its return address alone, or its bytes would be counted down twice and sampled as a malloc.
 * Either scheme, whichever the host has.
 */
TEST(bpf_session_tail_call_counted_once)
{
	struct range rr = RANGE(s_realloc);
	__u64 c0[ALLOC_CNT_MAX], c1[ALLOC_CNT_MAX], sampled;
	struct alloc_stats st;
	struct alloc_key key;
	struct fixture f;
	int i;

	if (!open_at_rate(&f, SESSION_RATE, SCHEME_HOST, 0))
		return;
	alloc_probes__counters(f.ap, c0);
	for (i = 0; i < SESSION_CALLS; i++)
		free(s_wrap_realloc(NULL, SESSION_SIZE + (KEEP_LOOP(i) & 0)));
	alloc_probes__counters(f.ap, c1);
	sampled = c1[ALLOC_CNT_SAMPLED] - c0[ALLOC_CNT_SAMPLED];
	ASSERT_TRUE(sampled >= 257 && sampled <= 363, "samples within 3 sigma of 310");
	ASSERT_EQ(stats_of(&f, ALLOC_KIND_MALLOC, rr, &key, &st), 0, "never a malloc");
	if (ASSERT_EQ(stats_of(&f, ALLOC_KIND_REALLOC, rr, &key, &st), 1, "one realloc key"))
		ASSERT_EQ(st.alloc_cnt, sampled, "every sample a realloc");
	ASSERT_EQ(c1[ALLOC_CNT_NEST_RESET] - c0[ALLOC_CNT_NEST_RESET], 0, "no lost return");
	fixture_close(&f);
}

/* Stats entries of kind for this process, whatever their stack. */
static int keys_of_kind(const struct fixture *f, __u32 kind)
{
	struct alloc_key k, *prev = NULL;
	int n = 0;

	while (!bpf_map_get_next_key(f->stats_fd, prev, &k)) {
		prev = &k;
		n += k.tgid == (__u32)getpid() && k.kind == kind;
	}
	return n;
}

/*
 * malloc's own mmap of a large block is counted as the malloc, also when the malloc was not
 * sampled and so took no return probe to say when it ended: 200 mallocs of 1 MiB, each mmapped,
 * at rate 2 MiB (each sampled with p = 0.39). Counted as mmaps too, ~47 of them would be.
 * Either scheme, whichever the host has.
 */
TEST(bpf_session_mmap_inside_unsampled_malloc_not_counted)
{
	void *blocks[200] = {};
	struct fixture f;
	int i;

#ifdef BPF_TEST_UNDER_ASAN
	test__skip("ASan's allocator maps its own memory");
	return;
#endif
	/* A fixed threshold: glibc raises its dynamic one past a freed mmapped block's size. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	if (!open_at_rate(&f, 2 * 1024 * 1024, SCHEME_HOST, TARGET_F_MMAP))
		return;
	for (i = 0; i < 200; i++)
		blocks[KEEP_LOOP(i)] = s_wrap_malloc(1024 * 1024);
	ASSERT_TRUE(keys_of_kind(&f, ALLOC_KIND_MALLOC) > 0, "some mallocs sampled");
	ASSERT_EQ(keys_of_kind(&f, ALLOC_KIND_MMAP), 0, "no malloc counted again as an mmap");
	for (i = 0; i < 200; i++)
		free(blocks[i]);
	fixture_close(&f);
}
