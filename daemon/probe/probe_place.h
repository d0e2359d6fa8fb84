/* SPDX-License-Identifier: MIT */
/* Where in a function to put a uprobe. The kernel emulates a few x86 instructions (push reg, jmp,
 * jcc, call, nop) at a breakpoint and must single-step all others out of line, ten times slower
 * here (../shared/FACTS.md). We decode the function's first instructions with capstone and pick
 * the first emulated one that the arguments and the return address survive to. */
#ifndef ALLOCSCOPE_PROBE_PLACE_H
#define ALLOCSCOPE_PROBE_PLACE_H

#include <stddef.h>
#include <linux/types.h>

/* Registers whose entry values the BPF program reads at the probe. */
#define PROBE_KEEP_ARG1 0x01 /* rdi */
#define PROBE_KEEP_ARG2 0x02 /* rsi */
#define PROBE_KEEP_ARG3 0x04 /* rdx */
#define PROBE_KEEP_ARG4 0x08 /* rcx */
#define PROBE_KEEP_SP	0x10 /* rsp, so [rsp] is still the return address (for uretprobes) */
#define PROBE_KEEP_RAX	0x20 /* Go passes arguments in rax, rbx, rcx, rdi, rsi, r8... */
#define PROBE_KEEP_RBX	0x40

struct probe_site {
	__u64 offset; /* from the function's start */
	int emulated; /* 0: no safe emulated instruction, offset is 0 and the kernel single-steps */
	int is_jbe;   /* the probed instruction is a jbe (Go's branch to morestack) */
	char insn[192]; /* the probed instruction, for logs (capstone: 32 + 160) */
};

/* code holds the function's first bytes, as they are in the file. 0 or -errno (-EINVAL when the
 * first instruction cannot be decoded). */
int probe_place__choose(const __u8 *code, size_t len, __u64 vaddr, __u32 keep,
			struct probe_site *out);

/* Whether the kernel emulates the instruction in bytes (len bytes available). */
int probe_place__is_emulated(const __u8 *bytes, size_t len);

#endif
