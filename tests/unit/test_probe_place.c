// SPDX-License-Identifier: MIT
/* Probe placement on byte sequences taken from glibc 2.36's allocator prologues. */
#include "probe/probe_place.h"
#include "test.h"

static const __u8 glibc_free[] = {
    0x48, 0x85, 0xff,			/* test %rdi,%rdi */
    0x0f, 0x84, 0xbf, 0x00, 0x00, 0x00, /* je ... */
    0x55,				/* push %rbp */
};
static const __u8 glibc_malloc[] = {
    0x41, 0x54, /* push %r12 */
    0x55,	/* push %rbp */
};
static const __u8 glibc_posix_memalign[] = {
    0x80, 0x3d, 0x01, 0x02, 0x14, 0x00, 0x00, /* cmpb $0x0,0x140201(%rip) */
    0x41, 0x54,				      /* push %r12 */
    0x49, 0x89, 0xd4,			      /* mov %rdx,%r12 */
};
static const __u8 glibc_reallocarray[] = {
    0x48, 0x89, 0xf0, /* mov %rsi,%rax */
    0x48, 0xf7, 0xe2, /* mul %rdx: writes rdx, an argument */
    0x48, 0x89, 0xc6, /* mov %rax,%rsi */
    0x70, 0x05,	      /* jo */
};
static const __u8 sub_then_jmp[] = {
    0x48, 0x83, 0xec, 0x18, /* sub $0x18,%rsp: the return address moves */
    0xeb, 0x00,		    /* jmp */
};

TEST(probe_place_glibc_prologues)
{
	struct probe_site site;

	if (!ASSERT_OK(probe_place__choose(glibc_free, sizeof(glibc_free), 0x98ef0, PROBE_KEEP_ARG1,
					   &site),
		       "free"))
		return;
	ASSERT_EQ(site.offset, 3, "free: on the je after test");
	ASSERT_EQ(site.emulated, 1, "free: emulated");

	probe_place__choose(glibc_malloc, sizeof(glibc_malloc), 0, PROBE_KEEP_ARG1 | PROBE_KEEP_SP,
			    &site);
	ASSERT_EQ(site.offset, 0, "malloc: its first push");
	ASSERT_EQ(site.emulated, 1, "malloc: emulated");

	probe_place__choose(glibc_posix_memalign, sizeof(glibc_posix_memalign), 0,
			    PROBE_KEEP_ARG1 | PROBE_KEEP_ARG3 | PROBE_KEEP_SP, &site);
	ASSERT_EQ(site.offset, 7, "posix_memalign: the push after cmpb");

	probe_place__choose(glibc_reallocarray, sizeof(glibc_reallocarray), 0,
			    PROBE_KEEP_ARG1 | PROBE_KEEP_ARG2 | PROBE_KEEP_ARG3 | PROBE_KEEP_SP,
			    &site);
	ASSERT_EQ(site.offset, 0, "reallocarray: its arguments change first: entry");
	ASSERT_EQ(site.emulated, 0, "reallocarray: single-stepped");

	probe_place__choose(sub_then_jmp, sizeof(sub_then_jmp), 0, PROBE_KEEP_SP, &site);
	ASSERT_EQ(site.offset, 0, "a return probe never goes past a stack adjustment");
	probe_place__choose(sub_then_jmp, sizeof(sub_then_jmp), 0, PROBE_KEEP_ARG1, &site);
	ASSERT_EQ(site.offset, 4, "an entry probe that needs no return address may");
}

TEST(probe_place_emulated_set)
{
	static const struct {
		__u8 bytes[4];
		size_t len;
		int emulated;
	} cases[] = {
	    {{0x55}, 1, 1},		      /* push %rbp */
	    {{0x41, 0x57}, 2, 1},	      /* push %r15 */
	    {{0x48, 0x50}, 2, 0},	      /* REX.W push: not emulated */
	    {{0x90}, 1, 1},		      /* nop */
	    {{0xe8, 0, 0, 0}, 4, 1},	      /* call rel32 */
	    {{0x74, 0x07}, 2, 1},	      /* je rel8 */
	    {{0x0f, 0x84, 0, 0}, 4, 1},	      /* je rel32 */
	    {{0x48, 0x85, 0xff}, 3, 0},	      /* test */
	    {{0xf3, 0x0f, 0x1e, 0xfa}, 4, 0}, /* endbr64 */
	    {{0xc3}, 1, 0},		      /* ret */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ASSERT_EQ(probe_place__is_emulated(cases[i].bytes, cases[i].len), cases[i].emulated,
			  "emulated or not");
}

TEST(probe_place_garbage)
{
	static const __u8 bad[] = {0x06, 0x07}; /* push %es, pop %es: invalid in 64-bit mode */
	struct probe_site site;

	ASSERT_EQ(probe_place__choose(bad, sizeof(bad), 0, PROBE_KEEP_ARG1, &site), -EINVAL,
		  "undecodable bytes");
	ASSERT_EQ(probe_place__choose(bad, 0, 0, PROBE_KEEP_ARG1, &site), -EINVAL, "no bytes");
}
