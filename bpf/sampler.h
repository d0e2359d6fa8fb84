/* SPDX-License-Identifier: MIT */
/* Constants and plain structs of the allocator-sampler probes (bpf/sampler.bpf.h), shared with
 * user space: where a USDT probe's arguments are, as its SystemTap note describes them. */
#ifndef ALLOCSCOPE_SAMPLER_H
#define ALLOCSCOPE_SAMPLER_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* The OpenTelemetry memory-profiling contract (opentelemetry-ebpf-profiler design 00003):
 * otel_memory:alloc(ptr, size, weight) on a sampled allocation, where weight is the bytes it
 * stands for (samples taken times the sampling interval), and otel_memory:free(ptr) on the free
 * of a sampled block. */
#define USDT_OTEL_PROVIDER "otel_memory"
#define USDT_MAX_ARGS	   3

enum usdt_arg_type {
	USDT_ARG_NONE,
	USDT_ARG_CONST, /* $val */
	USDT_ARG_REG,	/* %reg */
	USDT_ARG_MEM,	/* val(%reg) */
};

/* One argument: reg_off is the register's offset in struct pt_regs; size is its width in bytes,
 * negative when signed (the note's "-4@"). */
struct usdt_arg {
	__u8 type; /* enum usdt_arg_type */
	__s8 size;
	__u16 reg_off;
	__u32 pad;
	__s64 val;
};

struct usdt_spec {
	struct usdt_arg args[USDT_MAX_ARGS];
};

/* Entries of the usdt_specs map; a probe's cookie holds its spec's index and what it is. */
#define USDT_SPECS_MAX 256

#define SAMPLER_COOKIE_SPEC_SHIFT  0
#define SAMPLER_COOKIE_SPEC_MASK   0xffffULL
#define SAMPLER_COOKIE_PROBE_SHIFT 16
#define SAMPLER_COOKIE_PROBE_MASK  0xffULL

enum sampler_probe {
	SAMPLER_PROBE_USDT_ALLOC = 1,
	SAMPLER_PROBE_USDT_FREE,
};

#endif
