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
	ASSERT_EQ(st->ips[0], e->regs[16], "leaf is the captured pc");
	for (__u32 i = 1; i < st->nr; i++)
		found |= st->ips[i] == ret;
	ASSERT_TRUE(found, "the test function's return address is the next frame's pc");
	ASSERT_TRUE(st->nr >= 4, "walk goes past the test runner");
	ASSERT_TRUE(st->ips[st->nr - 1] != STACK_IP_TRUNCATED, "walk reaches the first frame");

	unwinder__forget_pid(u, getpid());
	entry_set__clear(&set);
	ASSERT_OK(unwinder__read(u, set_for, NULL), "read after forget");
	ASSERT_EQ(set.cnt, 0, "entries of a forgotten process");
cleanup:
	entry_set__clear(&set);
	unwinder__free(u);
	free(e);
}
