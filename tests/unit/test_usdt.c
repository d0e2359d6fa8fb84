// SPDX-License-Identifier: MIT
/* USDT notes: descriptor and argument parsing, and reading the notes of a real object (this
 * test binary carries probes of its own, placed by sys/sdt.h). Weighted-sample estimates. */
#include <asm/ptrace.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/sdt.h>

#include "probe/sampling.h"
#include "symbols/usdt.h"
#include "test.h"

TEST(usdt_parse_args_registers_consts_memory)
{
	struct usdt_spec s;

	if (!ASSERT_OK(usdt__parse_args("8@%rdx -4@%r15d 8@$-16", &s), "parse"))
		return;
	ASSERT_EQ(s.args[0].type, USDT_ARG_REG, "arg 1 in a register");
	ASSERT_EQ(s.args[0].reg_off, offsetof(struct pt_regs, rdx), "arg 1 is rdx");
	ASSERT_EQ(s.args[0].size, 8, "arg 1 size");
	ASSERT_EQ(s.args[1].reg_off, offsetof(struct pt_regs, r15), "arg 2 is r15 (as r15d)");
	ASSERT_EQ(s.args[1].size, -4, "arg 2 is signed, 4 bytes");
	ASSERT_EQ(s.args[2].type, USDT_ARG_CONST, "arg 3 a constant");
	ASSERT_EQ(s.args[2].val, -16, "arg 3 value");

	if (!ASSERT_OK(usdt__parse_args(" 8@-24(%rbp)  8@(%rax) 1@%al 8@%rdi", &s), "memory"))
		return;
	ASSERT_EQ(s.args[0].type, USDT_ARG_MEM, "arg 1 in memory");
	ASSERT_EQ(s.args[0].reg_off, offsetof(struct pt_regs, rbp), "arg 1 base rbp");
	ASSERT_EQ(s.args[0].val, -24, "arg 1 displacement");
	ASSERT_EQ(s.args[1].val, 0, "arg 2 no displacement");
	ASSERT_EQ(s.args[1].reg_off, offsetof(struct pt_regs, rax), "arg 2 base rax");
	ASSERT_EQ(s.args[2].size, 1, "arg 3 one byte");

	ASSERT_TRUE(usdt__parse_args("8@%xmm0", &s) < 0, "no vector registers");
	ASSERT_TRUE(usdt__parse_args("8@sym(%rip)", &s) < 0, "no RIP-relative symbols");
	ASSERT_TRUE(usdt__parse_args("3@%rax", &s) < 0, "no 3-byte arguments");
	ASSERT_TRUE(usdt__parse_args("8@8(%rax,%rbx,2)", &s) < 0, "no index registers");
	ASSERT_OK(usdt__parse_args("", &s), "no arguments");
	ASSERT_EQ(s.args[0].type, USDT_ARG_NONE, "none");
}

TEST(usdt_parse_note_prelink_base)
{
	unsigned char desc[24 + 64] = {};
	__u64 addrs[3] = {0x1354, 0x2070, 0x4010};
	static const char strs[] = "otel_memory\0alloc\0008@%rdi 8@%rsi 8@%rdx";
	struct usdt_note n;

	memcpy(desc, addrs, sizeof(addrs));
	memcpy(desc + 24, strs, sizeof(strs));
	if (!ASSERT_OK(usdt__parse_note(desc, 24 + sizeof(strs), 0x2070, &n), "parse"))
		return;
	ASSERT_STREQ(n.provider, "otel_memory", "provider");
	ASSERT_STREQ(n.name, "alloc", "name");
	ASSERT_STREQ(n.args, "8@%rdi 8@%rsi 8@%rdx", "args");
	ASSERT_EQ(n.vaddr, 0x1354, "pc unmoved");
	ASSERT_EQ(n.sema_vaddr, 0x4010, "semaphore");
	/* Prelinked 0x1000 higher: .stapsdt.base moved with everything. */
	usdt__parse_note(desc, 24 + sizeof(strs), 0x3070, &n);
	ASSERT_EQ(n.vaddr, 0x2354, "pc moved with the base");
	ASSERT_EQ(n.sema_vaddr, 0x5010, "semaphore moved with the base");
	ASSERT_TRUE(usdt__parse_note(desc, 24 + 5, 0, &n) < 0, "cut strings");
}

/* A probe of this binary's own, never fired: its note is what usdt__read_file must find. */
void __attribute__((noinline)) usdt_test_site(long a, long b)
{
	DTRACE_PROBE2(allocscope_test, site, a, b);
}

TEST(usdt_read_own_notes)
{
	struct usdt_note *notes = NULL;
	unsigned char byte = 0;
	int cnt, fd;

	cnt = usdt__read_file("/proc/self/exe", "allocscope_test", &notes);
	if (!ASSERT_EQ(cnt, 1, "one allocscope_test probe in this binary"))
		goto cleanup;
	ASSERT_STREQ(notes[0].name, "site", "its name");
	ASSERT_EQ(notes[0].sema_offset, 0, "no semaphore");
	/* The file offset holds the probe's nop. */
	fd = open("/proc/self/exe", O_RDONLY);
	if (ASSERT_TRUE(fd >= 0, "open self")) {
		ASSERT_EQ(pread(fd, &byte, 1, notes[0].file_offset), 1, "read the site");
		ASSERT_EQ(byte, 0x90, "a nop at the note's file offset");
		close(fd);
	}
	free(notes);
	notes = NULL;
	ASSERT_EQ(usdt__read_file("/proc/self/exe", "otel_memory", &notes), 0, "other providers");
cleanup:
	free(notes);
	usdt_test_site(1, 2);
}

TEST(sampling_weighted_estimates)
{
	__s64 cnt, bytes;

	/* 3 samples of 64-byte blocks weighing 512 KiB each: 1.5 MiB, 24576 blocks. */
	sampling__weighted(3, 3 * 524288, 64, &cnt, &bytes);
	ASSERT_EQ(bytes, 3 * 524288, "bytes are the weights");
	ASSERT_EQ(cnt, 24576, "objects are weight / size");
	/* Every allocation a sample (weight = size): exact. */
	sampling__weighted(500, 500 * 4096, 4096, &cnt, &bytes);
	ASSERT_EQ(cnt, 500, "exact count");
	sampling__weighted(7, 700, 0, &cnt, &bytes);
	ASSERT_EQ(cnt, 7, "no size: the count as it is");
}
