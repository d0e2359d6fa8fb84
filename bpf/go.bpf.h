/* SPDX-License-Identifier: GPL-2.0 */
/* BPF-only: what the Go runtime's entry probes share: dropping a hit that will grow the stack
 * and start the function over, and the caller's return address before the prologue. */
#ifndef ALLOCSCOPE_GO_BPF_H
#define ALLOCSCOPE_GO_BPF_H

#include "maps.bpf.h"

/* x86 flags: jbe is taken when CF or ZF is set. */
#define X86_FLAG_CF 0x0001
#define X86_FLAG_ZF 0x0040

/*
 * Go entry probes sit on the jbe of the stack-bound check. When it is taken, the function calls
 * morestack and starts over from its first byte, so the probe fires again: drop this hit.
 */
static __always_inline int go_will_grow_stack(struct pt_regs *ctx, __u64 cookie)
{
	if (!COOKIE_FIELD(cookie, GO_COOKIE_AT_JBE))
		return 0;
	if (!(ctx->flags & (X86_FLAG_CF | X86_FLAG_ZF)))
		return 0;
	count(ALLOC_CNT_MORESTACK);
	return 1;
}

/*
 * The return address into the probed function's caller, at [rsp] before the prologue pushes
 * anything: the frame-pointer walk from an entry skips that caller.
 */
static __always_inline __u64 go_caller(struct pt_regs *ctx)
{
	__u64 ret = 0;

	if (bpf_probe_read_user(&ret, sizeof(ret), (void *)PT_REGS_SP(ctx)))
		return 0;
	return ret;
}

#endif
