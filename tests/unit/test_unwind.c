// SPDX-License-Identifier: MIT
/* CFI unwinding: an event built from this process's own registers and stack, as the BPF side
 * builds one, unwinds through the test's callers; samples aggregate per stack and their frees
 * are matched by token. */
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bpf/alloc.h"
#include "probe/collect.h"
#include "test.h"
#include "probe/unwind.h"

#define COPY_BYTES 16384

/* x86-64 only: registers in DWARF order (offsets are regno * 8), rip at a point inside this
 * function where its CFA rule holds, and the stack from rsp up read with process_vm_readv,
 * which stops at the end of the mapping rather than faulting. */
static __attribute__((noinline)) int capture(struct unwind_event *e, __u64 *ret)
{
	struct iovec local, remote;
	ssize_t n;

	asm volatile("lea 0(%%rip), %%rax\n\t"
		     "mov %%rax, 128(%0)\n\t"
		     "mov %%rsp, 56(%0)\n\t"
		     "mov %%rbp, 48(%0)\n\t"
		     "mov %%rbx, 24(%0)\n\t"
		     "mov %%r12, 96(%0)\n\t"
		     "mov %%r13, 104(%0)\n\t"
		     "mov %%r14, 112(%0)\n\t"
		     "mov %%r15, 120(%0)\n\t"
		     :
		     : "r"(e->regs)
		     : "rax", "memory");
	local = (struct iovec){.iov_base = e->stack, .iov_len = COPY_BYTES};
	remote = (struct iovec){.iov_base = (void *)e->regs[7], .iov_len = COPY_BYTES};
	n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	if (n <= 0)
		return -1;
	e->stack_len = n;
	if (n < COPY_BYTES)
		e->flags |= UNWIND_F_STACK_END;
	*ret = (__u64)__builtin_return_address(0);
	return 0;
}

static struct entry_set set;

static struct entry_set *set_for(void *ctx, __u32 tgid)
{
	return tgid == (__u32)getpid() ? &set : NULL;
}

TEST(unwind_own_stack_and_match_frees)
{
	struct unwind_event *e = calloc(1, sizeof(*e) + COPY_BYTES);
	struct unwind_free_event fe = {.type = UNWIND_EV_FREE, .tgid = getpid(), .size = 100};
	struct unwinder *u = unwinder__new(NULL);
	struct stack *st;
	__u64 ret = 0;
	int found = 0;

	if (!ASSERT_OK_PTR(e, "event") || !ASSERT_OK_PTR(u, "unwinder"))
		goto cleanup;
	e->type = UNWIND_EV_ALLOC;
	e->tgid = getpid();
	e->tid = gettid();
	e->kind = ALLOC_KIND_MALLOC;
	e->size = 100;
	e->token = 1 << 12;
	if (!ASSERT_OK(capture(e, &ret), "capture registers and stack"))
		goto cleanup;
	if (!ASSERT_OK(unwinder__handle(u, NULL, e, sizeof(*e) + e->stack_len), "first sample"))
		goto cleanup;
	e->token = 2 << 12;
	if (!ASSERT_OK(unwinder__handle(u, NULL, e, sizeof(*e) + e->stack_len), "second sample"))
		goto cleanup;
	fe.token = 1 << 12;
	unwinder__handle(u, NULL, &fe, sizeof(fe));
	fe.token = 3 << 12; /* no such sample */
	unwinder__handle(u, NULL, &fe, sizeof(fe));

	if (!ASSERT_OK(unwinder__read(u, set_for, NULL), "read") ||
	    !ASSERT_EQ(set.cnt, 1, "one entry for one stack"))
		goto cleanup;
	st = set.e[0].stack;
	ASSERT_EQ(set.e[0].stats.alloc_cnt, 2, "samples");
	ASSERT_EQ(set.e[0].stats.alloc_bytes, 200, "sampled bytes");
	ASSERT_EQ(set.e[0].stats.free_cnt, 1, "frees matched by token");
	ASSERT_EQ(set.e[0].stats.free_bytes, 100, "freed bytes");
	ASSERT_EQ(stack__ip(st, 0), e->regs[16], "leaf is the captured pc");
	for (__u32 i = 1; i < st->nr; i++)
		found |= stack__ip(st, i) == ret;
	ASSERT_TRUE(found, "the test function's return address is the next frame's pc");
	ASSERT_TRUE(st->nr >= 4, "walk goes past the test runner");
	ASSERT_TRUE(stack__ip(st, st->nr - 1) != STACK_IP_TRUNCATED,
		    "walk reaches the first frame");

	unwinder__forget_pid(u, getpid());
	entry_set__clear(&set);
	ASSERT_OK(unwinder__read(u, set_for, NULL), "read after forget");
	ASSERT_EQ(set.cnt, 0, "entries of a forgotten process");
cleanup:
	entry_set__clear(&set);
	unwinder__free(u);
	free(e);
}

#define TGID_A 0x7ffffff0u /* above pid_max: no /proc entry, each sample is its one pc */
#define TGID_B 0x7ffffff1u

static struct entry_set set_b;

static struct entry_set *set_for_b(void *ctx, __u32 tgid)
{
	(*(int *)ctx) += tgid == TGID_A;
	return tgid == TGID_B ? &set_b : NULL;
}

static int fake_sample(struct unwinder *u, struct unwind_event *e, __u32 tgid, __u64 pc,
		       __u64 token)
{
	*e = (struct unwind_event){.type = UNWIND_EV_ALLOC,
				   .tgid = tgid,
				   .kind = ALLOC_KIND_MALLOC,
				   .size = 10,
				   .token = token};
	e->regs[16] = pc;
	return unwinder__handle(u, NULL, e, sizeof(*e));
}

static void fake_free(struct unwinder *u, __u32 tgid, __u64 token)
{
	struct unwind_free_event fe = {
	    .type = UNWIND_EV_FREE, .tgid = tgid, .token = token, .size = 10};

	unwinder__handle(u, NULL, &fe, sizeof(fe));
}

/* Forgetting one process compacts the entries: the other's stacks and live tokens must still
 * lead to its own entries. */
TEST(unwind_forget_keeps_other_processes)
{
	struct unwind_event *e = calloc(1, sizeof(*e));
	struct unwinder *u = unwinder__new(NULL);
	struct unwind_stats st;
	int seen_a = 0;

	if (!ASSERT_OK_PTR(e, "event") || !ASSERT_OK_PTR(u, "unwinder"))
		goto cleanup;
	/* Interleaved, so that B's entries sit after A's and move when A's go. */
	for (__u64 i = 0; i < 50; i++) {
		if (!ASSERT_OK(fake_sample(u, e, TGID_A, 0x1000 + i, (2 * i + 1) << 12), "A") ||
		    !ASSERT_OK(fake_sample(u, e, TGID_B, 0x2000 + i % 5, (2 * i + 2) << 12), "B"))
			goto cleanup;
	}
	unwinder__forget_pid(u, TGID_A);
	for (__u64 i = 0; i < 50; i++) {
		fake_free(u, TGID_B, (2 * i + 2) << 12);
		fake_free(u, TGID_A, (2 * i + 1) << 12);
	}
	/* One more sample of a stack B had: the same entry, found through the remapped index. */
	if (!ASSERT_OK(fake_sample(u, e, TGID_B, 0x2000, 999 << 12), "B again"))
		goto cleanup;
	unwinder__stats(u, &st);
	ASSERT_EQ(st.frees, 50, "B's frees matched");
	ASSERT_EQ(st.frees_unknown, 50, "A's frees unknown once forgotten");
	if (!ASSERT_OK(unwinder__read(u, set_for_b, &seen_a), "read"))
		goto cleanup;
	ASSERT_EQ(seen_a, 0, "no entry of A left");
	if (!ASSERT_EQ(set_b.cnt, 5, "B's five stacks"))
		goto cleanup;
	for (size_t i = 0; i < set_b.cnt; i++) {
		const struct alloc_entry *be = &set_b.e[i];
		__u64 extra = stack__ip(be->stack, 0) == 0x2000;

		ASSERT_EQ(be->stats.alloc_cnt, 10 + extra, "samples of one stack");
		ASSERT_EQ(be->stats.free_cnt, 10, "its frees");
	}
cleanup:
	entry_set__clear(&set_b);
	unwinder__free(u);
	free(e);
}
