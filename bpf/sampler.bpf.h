/* SPDX-License-Identifier: GPL-2.0 */
/* BPF-only: probes on samplers that live in the watched process itself, so that only the
 * allocations it samples trap (as runtime.mProf_Malloc does for Go): the OpenTelemetry memory
 * USDTs otel_memory:alloc and otel_memory:free. Expects record.bpf.h's maps and helpers. */
#ifndef ALLOCSCOPE_SAMPLER_BPF_H
#define ALLOCSCOPE_SAMPLER_BPF_H

#include "sampler.h"
#include "record.bpf.h"

/* Argument locations of each attached USDT probe, set by user space (probe/samplers.c). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, USDT_SPECS_MAX);
	__type(key, __u32);
	__type(value, struct usdt_spec);
} usdt_specs SEC(".maps");

/* Read a register or memory argument as the note describes it; 0 when unreadable. */
static __always_inline __u64 usdt_arg(struct pt_regs *ctx, const struct usdt_arg *a)
{
	__u64 v = 0;

	switch (a->type) {
	case USDT_ARG_CONST:
		return a->val;
	case USDT_ARG_REG:
		/* ctx is the kernel's pt_regs: read at the register's offset, as libbpf's usdt
		 * does, since the verifier refuses a variable offset into the context. */
		if (bpf_probe_read_kernel(&v, sizeof(v), (void *)ctx + (a->reg_off & 0xff)))
			return 0;
		break;
	case USDT_ARG_MEM:
		if (bpf_probe_read_kernel(&v, sizeof(v), (void *)ctx + (a->reg_off & 0xff)) ||
		    bpf_probe_read_user(&v, sizeof(v), (void *)(v + a->val)))
			return 0;
		break;
	default:
		return 0;
	}
	switch (a->size) {
	case 1:
	case -1:
		return a->size < 0 ? (__u64)(__s64)(__s8)v : (__u8)v;
	case 2:
	case -2:
		return a->size < 0 ? (__u64)(__s64)(__s16)v : (__u16)v;
	case 4:
	case -4:
		return a->size < 0 ? (__u64)(__s64)(__s32)v : (__u32)v;
	default:
		return v;
	}
}

static __always_inline const struct usdt_spec *usdt_spec_of(__u64 cookie)
{
	__u32 idx = COOKIE_FIELD(cookie, SAMPLER_COOKIE_SPEC);

	return bpf_map_lookup_elem(&usdt_specs, &idx);
}

/*
 * otel_memory:alloc(ptr, size, weight): a sample of the process's own sampler. weight is the
 * bytes the sample stands for, an unbiased estimate by the contract: it is what the stats add up
 * as bytes (and what the live block retires at its free), while the key keeps the object's
 * size, so that user space estimates objects as weight / size.
 */
SEC("uprobe")
int BPF_KPROBE(usdt_alloc)
{
	const struct usdt_spec *spec = usdt_spec_of(bpf_get_attach_cookie(ctx));
	__u64 ptr, size, weight;

	if (!spec)
		return 0;
	ptr = usdt_arg(ctx, &spec->args[0]);
	size = usdt_arg(ctx, &spec->args[1]);
	weight = usdt_arg(ctx, &spec->args[2]);
	if (!ptr || !size)
		return 0;
	if (weight < size)
		weight = size; /* no weight (an older emitter): the block itself */
	record_alloc_keyed(ctx, ctx, bpf_get_current_pid_tgid() >> 32, ptr, weight, ALLOC_KIND_USDT,
			   0, size);
	return 0;
}

/* otel_memory:free(ptr): the free of a block the process's sampler sampled. */
SEC("uprobe")
int BPF_KPROBE(usdt_free)
{
	const struct usdt_spec *spec = usdt_spec_of(bpf_get_attach_cookie(ctx));

	if (!spec)
		return 0;
	record_free(bpf_get_current_pid_tgid() >> 32, usdt_arg(ctx, &spec->args[0]), 0);
	return 0;
}

#endif
