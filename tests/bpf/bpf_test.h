/* SPDX-License-Identifier: MIT */
/* What the BPF-layer tests share: the fixture that loads bpf/alloc.bpf.c at rate 1 into this
 * process and probes its allocator, wrappers placed in sections of their own so that a stack can
 * be told by its return addresses, and readers of the stats, stacks and live maps. */
#ifndef ALLOCSCOPE_TESTS_BPF_TEST_H
#define ALLOCSCOPE_TESTS_BPF_TEST_H

/* Under ASan (make test-asan) its interceptors in this executable are the allocator, not libc's:
 * they cannot fail a request without a report, and a child process's libc is not what the
 * fixture probes. The tests that need either skip there. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BPF_TEST_UNDER_ASAN 1
#endif
#endif

#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bpf/alloc.h"
#include "probe/alloc_probes.h"
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

static __attribute__((unused)) __u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

static __attribute__((unused)) bool in_range(struct range r, __u64 ip)
{
	return ip >= r.lo && ip < r.hi;
}

struct fixture {
	struct symbolizer *sym;
	struct alloc_probes *ap;
	int stats_fd, stacks_fd, live_fd;
};

static __attribute__((unused)) void fixture_close(struct fixture *f)
{
	if (f->ap)
		alloc_probes__detach_pid(f->ap, getpid(), 1);
	alloc_probes__free(f->ap);
	symbolizer__free(f->sym);
	*f = (struct fixture){};
}

/* Load with ao and probe the malloc family of the object this process's malloc is in: libc, or
 * the executable itself when ASan intercepts malloc; then give this process target_flags. false,
 * with the test skipped or failed, when that cannot be done. */
static __attribute__((unused)) bool fixture_open_opts(struct fixture *f,
						      const struct alloc_probes_opts *ao,
						      __u32 target_flags)
{
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
	f->ap = alloc_probes__new(ao);
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

/* At rate 1. mmap_every_syscall: follow mappings through the BTF sys_enter/sys_exit
 * tracepoints, the fallback where there is no tracefs, rather than the per-syscall ones. */
static __attribute__((unused)) bool fixture_open_mode(struct fixture *f, __u32 target_flags,
						      int mmap_every_syscall)
{
	struct alloc_probes_opts ao = {.sample_rate = 1, .mmap_every_syscall = mmap_every_syscall};

	return fixture_open_opts(f, &ao, target_flags);
}

static __attribute__((unused)) bool fixture_open(struct fixture *f, __u32 target_flags)
{
	return fixture_open_mode(f, target_flags, 0);
}

/* The frames of stack id, innermost first; the count, 0 when the id is not in the map. */
static __attribute__((unused)) int stack_of(const struct fixture *f, __s32 id, struct stack_val *sv)
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
static __attribute__((unused)) bool key_in(const struct fixture *f, const struct alloc_key *k, __u32 kind, struct range r)
{
	struct stack_val sv;

	if (k->tgid != (__u32)getpid() || k->kind != kind)
		return false;
	if (k->caller_hint)
		return in_range(r, k->caller_hint);
	return stack_of(f, k->stack_id, &sv) > 0 && in_range(r, sv.ips[0]);
}

/* The stats of the one key of kind whose stack comes from wrapper r; the number of such keys. */
static __attribute__((unused)) int stats_of(const struct fixture *f, __u32 kind, struct range r, struct alloc_key *key,
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
static __attribute__((unused)) bool live_of(const struct fixture *f, const void *p, struct live_val *out)
{
	struct live_key k = {.addr = (__u64)p, .tgid = getpid()};

	return !bpf_map_lookup_elem(f->live_fd, &k, out);
}

/* The kernel side could do all it was asked: no stack, stats or live entry lost. */
static __attribute__((unused)) void assert_nothing_lost(const struct fixture *f)
{
	__u64 c[ALLOC_CNT_MAX];

	alloc_probes__counters(f->ap, c);
	ASSERT_EQ(c[ALLOC_CNT_STACK_LOST], 0, "stacks lost");
	ASSERT_EQ(c[ALLOC_CNT_STACK_UNREADABLE], 0, "stacks unreadable");
	ASSERT_EQ(c[ALLOC_CNT_STATS_FULL], 0, "stats full");
	ASSERT_EQ(c[ALLOC_CNT_LIVE_FULL], 0, "live full");
	ASSERT_EQ(c[ALLOC_CNT_TASK_FULL], 0, "no task storage");
}

#endif
