// SPDX-License-Identifier: MIT
/* The BPF layer's mapping tracking, as tests/bpf/test_alloc_bpf.c tests the malloc family: this
 * process's own anonymous mmap, munmap and mremap, through the per-syscall tracepoints and,
 * where a test says so, through the every-syscall BTF ones (the fallback without tracefs). */
#include <errno.h>
#include <sys/mman.h>

#include "tests/bpf/bpf_test.h"

#define MIB (1UL << 20)

WRAPPER(mmap) void *wrap_mmap(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	asm volatile("" : "+r"(p));
	return p;
}

WRAPPER(mremap) void *wrap_mremap(void *old, size_t old_len, size_t new_len, int flags, void *to)
{
	void *p = mremap(old, old_len, new_len, flags, to);

	asm volatile("" : "+r"(p));
	return p;
}

/* The stats of every key of kind in this process, summed (the fixture is this test's own). */
static void stats_of_kind(const struct fixture *f, __u32 kind, struct alloc_stats *out)
{
	struct alloc_key k, *prev = NULL;
	struct alloc_stats v;

	*out = (struct alloc_stats){};
	while (!bpf_map_get_next_key(f->stats_fd, prev, &k)) {
		prev = &k;
		if (k.tgid != (__u32)getpid() || k.kind != kind ||
		    bpf_map_lookup_elem(f->stats_fd, &k, &v))
			continue;
		out->alloc_cnt += v.alloc_cnt;
		out->alloc_bytes += v.alloc_bytes;
		out->free_cnt += v.free_cnt;
		out->free_bytes += v.free_bytes;
	}
}

/* Both ways of seeing mappings run each test: TESTS_BOTH(name) defines name and
 * name_every_syscall from static void name##_in(int every_syscall). */
#define TESTS_BOTH(name)                                                                           \
	static void name##_in(int every_syscall);                                                  \
	TEST(name)                                                                                 \
	{                                                                                          \
		name##_in(0);                                                                      \
	}                                                                                          \
	TEST(name##_every_syscall)                                                                 \
	{                                                                                          \
		name##_in(1);                                                                      \
	}                                                                                          \
	static void name##_in(int every_syscall)

/* Anonymous mmap through the syscall tracepoints: glibc's mmap keeps no frame, so the walk
 * skips its caller, which the key's caller hint names. */
TESTS_BOTH(bpf_anonymous_mmap_and_munmap)
{
	struct range rmm = RANGE(mmap);
	const size_t len = MIB;
	struct alloc_stats st;
	struct alloc_key key;
	struct live_val lv;
	struct fixture f;
	void *p;

	if (!fixture_open_mode(&f, TARGET_F_MMAP, every_syscall))
		return;
	ASSERT_EQ(alloc_probes__mmap_tracing(f.ap, NULL, NULL),
		  every_syscall ? MMAP_TRACING_EVERY_SYSCALL : MMAP_TRACING_SYSCALLS,
		  "tracepoints in use");
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

/* One munmap over three tracked mappings side by side (and a gap) ends all three; a munmap
 * that fails (EINVAL: an unaligned address) ends nothing and is counted. */
TESTS_BOTH(bpf_munmap_of_a_range)
{
	__u64 c0[ALLOC_CNT_MAX], c1[ALLOC_CNT_MAX];
	struct proc_totals tot0, tot1;
	struct live_val lv;
	struct fixture f;
	char *base = MAP_FAILED, *p[3];

	if (!fixture_open_mode(&f, TARGET_F_MMAP, every_syscall))
		return;
	/* 8 MiB of address space (not counted), then 2 MiB mappings at 0, 2 and 6 MiB of it. */
	base = mmap(NULL, 8 * MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!ASSERT_TRUE(base != MAP_FAILED, "reserve"))
		goto cleanup;
	for (int i = 0; i < 3; i++) {
		char *at = base + (i == 2 ? 6 : 2 * i) * MIB;

		p[KEEP_LOOP(i)] = mmap(at, 2 * MIB, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (!ASSERT_TRUE(p[i] == at, "mapped in place"))
			goto cleanup;
	}
	alloc_probes__counters(f.ap, c0);
	ASSERT_TRUE(munmap(base + 1, 4096) && errno == EINVAL, "an unaligned munmap fails");
	alloc_probes__counters(f.ap, c1);
	ASSERT_EQ(c1[ALLOC_CNT_MUNMAP_FAILED] - c0[ALLOC_CNT_MUNMAP_FAILED], 1, "failure counted");
	ASSERT_TRUE(live_of(&f, p[0], &lv), "the failed munmap ended nothing");
	alloc_probes__totals(f.ap, getpid(), &tot0);
	ASSERT_EQ(munmap(base, 8 * MIB), 0, "one munmap of all 8 MiB");
	base = MAP_FAILED;
	alloc_probes__totals(f.ap, getpid(), &tot1);
	for (int i = 0; i < 3; i++)
		ASSERT_TRUE(!live_of(&f, p[i], &lv), "each mapping retired");
	ASSERT_EQ(tot1.free_cnt - tot0.free_cnt, 3, "three ended");
	ASSERT_EQ(tot1.free_bytes - tot0.free_bytes, 6 * MIB, "6 MiB");
	alloc_probes__counters(f.ap, c1);
	ASSERT_EQ(c1[ALLOC_CNT_MUNMAP_PARTIAL] - c0[ALLOC_CNT_MUNMAP_PARTIAL], 0, "none partial");
	assert_nothing_lost(&f);
cleanup:
	if (base != MAP_FAILED)
		munmap(base, 8 * MIB);
	fixture_close(&f);
}

/* mremap is a realloc of a mapping: the old block ends and the new one is an allocation of its
 * own, of its new size, at its new address: grown in place or moved, shrunk, moved onto another
 * tracked mapping (which that ends too). */
TESTS_BOTH(bpf_mremap_grows_shrinks_and_moves)
{
	struct alloc_stats st;
	struct live_val lv;
	struct fixture f;
	char *p, *q = MAP_FAILED, *to = MAP_FAILED;
	size_t q_len = 0;

	if (!fixture_open_mode(&f, TARGET_F_MMAP, every_syscall))
		return;
	p = wrap_mmap(MIB);
	if (!ASSERT_TRUE(p != MAP_FAILED, "mmap"))
		goto cleanup;
	q = wrap_mremap(p, MIB, 4 * MIB, MREMAP_MAYMOVE, NULL);
	if (!ASSERT_TRUE(q != MAP_FAILED, "grow"))
		goto cleanup;
	q_len = 4 * MIB;
	ASSERT_TRUE(q == p || !live_of(&f, p, &lv), "nothing live at the old address");
	ASSERT_TRUE(live_of(&f, q, &lv) && lv.size == 4 * MIB, "the grown mapping live, 4 MiB");
	stats_of_kind(&f, ALLOC_KIND_MREMAP, &st);
	ASSERT_EQ(st.alloc_cnt, 1, "mremap count");
	ASSERT_EQ(st.alloc_bytes, 4 * MIB, "mremap bytes");
	stats_of_kind(&f, ALLOC_KIND_MMAP, &st);
	ASSERT_EQ(st.free_bytes, MIB, "the 1 MiB mapping ended");

	p = wrap_mremap(q, 4 * MIB, MIB, 0, NULL);
	if (!ASSERT_TRUE(p == q, "shrunk in place"))
		goto cleanup;
	q_len = MIB;
	ASSERT_TRUE(live_of(&f, q, &lv) && lv.size == MIB, "the shrunk mapping live, 1 MiB");

	to = wrap_mmap(2 * MIB);
	if (!ASSERT_TRUE(to != MAP_FAILED, "destination"))
		goto cleanup;
	p = wrap_mremap(q, MIB, 2 * MIB, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	if (!ASSERT_TRUE(p == to, "moved onto the destination"))
		goto cleanup;
	q = to;
	q_len = 2 * MIB;
	to = MAP_FAILED;
	stats_of_kind(&f, ALLOC_KIND_MMAP, &st);
	ASSERT_EQ(st.free_bytes, 3 * MIB, "the destination's mapping ended too");
	stats_of_kind(&f, ALLOC_KIND_MREMAP, &st);
	ASSERT_EQ(st.alloc_cnt, 3, "three mremaps");
	ASSERT_EQ(st.alloc_bytes, 7 * MIB, "4 + 1 + 2 MiB");
	ASSERT_EQ(st.free_bytes, 5 * MIB, "all but the last ended");
	ASSERT_TRUE(live_of(&f, q, &lv) && lv.size == 2 * MIB, "the moved mapping live, 2 MiB");
	munmap(q, q_len);
	q = MAP_FAILED;
	stats_of_kind(&f, ALLOC_KIND_MREMAP, &st);
	ASSERT_EQ(st.free_bytes, 7 * MIB, "all ended");
	assert_nothing_lost(&f);
cleanup:
	if (q != MAP_FAILED)
		munmap(q, q_len);
	if (to != MAP_FAILED)
		munmap(to, 2 * MIB);
	fixture_close(&f);
}

/* A PROT_NONE reservation is address space, not memory: not a sample, counted apart; made over
 * a tracked mapping with MAP_FIXED (how allocators give memory back) it retires that one. */
TEST(bpf_prot_none_reservation_not_counted)
{
	struct range rmm = RANGE(mmap);
	const size_t len = MIB;
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

/* A new block at the address of a tracked one whose end was not seen (here: unmapped while the
 * process was not followed) retires the old one as freed and is counted, rather than
 * overwriting it and leaving it in use for ever. */
TEST(bpf_live_overwrite_counted)
{
	struct range rmm = RANGE(mmap);
	const size_t len = MIB;
	__u64 c0[ALLOC_CNT_MAX], c1[ALLOC_CNT_MAX];
	struct proc_totals tot0, tot1;
	struct alloc_stats st;
	struct alloc_key key;
	struct live_val lv;
	struct fixture f;
	void *p, *q = MAP_FAILED;

	if (!fixture_open(&f, TARGET_F_MMAP))
		return;
	p = wrap_mmap(len);
	if (!ASSERT_TRUE(p != MAP_FAILED, "mmap"))
		goto cleanup;
	ASSERT_OK(alloc_probes__add_target(f.ap, getpid(), 0), "stop following mappings");
	munmap(p, len);
	ASSERT_OK(alloc_probes__add_target(f.ap, getpid(), TARGET_F_MMAP), "follow again");
	alloc_probes__counters(f.ap, c0);
	alloc_probes__totals(f.ap, getpid(), &tot0);
	q = mmap(p, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		 -1, 0);
	alloc_probes__counters(f.ap, c1);
	alloc_probes__totals(f.ap, getpid(), &tot1);
	if (!ASSERT_TRUE(q == p, "a new mapping at the same address"))
		goto cleanup;
	ASSERT_EQ(c1[ALLOC_CNT_LIVE_OVERWRITE] - c0[ALLOC_CNT_LIVE_OVERWRITE], 1,
		  "overwrite counted");
	ASSERT_EQ(tot1.live_overwrite_cnt - tot0.live_overwrite_cnt, 1, "... for this process");
	if (ASSERT_EQ(stats_of(&f, ALLOC_KIND_MMAP, rmm, &key, &st), 1, "the first mmap's key")) {
		ASSERT_EQ(st.free_cnt, 1, "the first mapping retired as freed");
		ASSERT_EQ(st.free_bytes, len, "its bytes");
	}
	ASSERT_TRUE(live_of(&f, p, &lv) && lv.size == len, "the new mapping live");
	munmap(q, len);
	q = MAP_FAILED;
	ASSERT_TRUE(!live_of(&f, p, &lv), "retired by munmap");
	assert_nothing_lost(&f);
cleanup:
	if (q != MAP_FAILED)
		munmap(q, len);
	fixture_close(&f);
}
