// SPDX-License-Identifier: MIT
/* Chooses uprobe offsets on instructions the x86 kernel emulates (arch/x86/kernel/uprobes.c:
 * branch_setup_xol_ops and push_setup_xol_ops), using capstone to decode and to tell which
 * registers each skipped instruction writes. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <capstone/capstone.h>

#include "util/common.h"
#include "probe/probe_place.h"

/* How far into a function we look; prologues that matter are a few instructions long. */
#define MAX_SCAN_INSNS 6

int probe_place__is_emulated(const __u8 *b, size_t len)
{
	size_t i = 0;

	if (!len)
		return 0;
	/* A REX prefix is allowed on push (push %r12 is 41 54); other prefixes are not emulated. */
	if (b[0] >= 0x40 && b[0] <= 0x4f) {
		if (len < 2 || !(b[1] >= 0x50 && b[1] <= 0x57) || (b[0] & 0x08))
			return 0;
		return 1;
	}
	switch (b[i]) {
	case 0x50 ... 0x57: /* push reg */
	case 0x70 ... 0x7f: /* jcc rel8 */
	case 0x90:	    /* nop */
	case 0xe8:	    /* call rel32 */
	case 0xe9:	    /* jmp rel32 */
	case 0xeb:	    /* jmp rel8 */
		return 1;
	case 0x0f:
		return len > 1 && b[1] >= 0x80 && b[1] <= 0x8f; /* jcc rel32 */
	default:
		return 0;
	}
}

/* Map a capstone register (any width) to a PROBE_KEEP_* bit, or 0. */
static __u32 reg_bit(unsigned int reg)
{
	switch (reg) {
	case X86_REG_RDI:
	case X86_REG_EDI:
	case X86_REG_DI:
	case X86_REG_DIL:
		return PROBE_KEEP_ARG1;
	case X86_REG_RSI:
	case X86_REG_ESI:
	case X86_REG_SI:
	case X86_REG_SIL:
		return PROBE_KEEP_ARG2;
	case X86_REG_RDX:
	case X86_REG_EDX:
	case X86_REG_DX:
	case X86_REG_DL:
	case X86_REG_DH:
		return PROBE_KEEP_ARG3;
	case X86_REG_RCX:
	case X86_REG_ECX:
	case X86_REG_CX:
	case X86_REG_CL:
	case X86_REG_CH:
		return PROBE_KEEP_ARG4;
	case X86_REG_RAX:
	case X86_REG_EAX:
	case X86_REG_AX:
	case X86_REG_AL:
	case X86_REG_AH:
		return PROBE_KEEP_RAX;
	case X86_REG_RBX:
	case X86_REG_EBX:
	case X86_REG_BX:
	case X86_REG_BL:
	case X86_REG_BH:
		return PROBE_KEEP_RBX;
	case X86_REG_RSP:
	case X86_REG_ESP:
	case X86_REG_SP:
	case X86_REG_SPL:
		return PROBE_KEEP_SP;
	default:
		return 0;
	}
}

static int is_control_flow(const cs_insn *insn)
{
	const cs_detail *d = insn->detail;

	for (int i = 0; i < d->groups_count; i++) {
		switch (d->groups[i]) {
		case CS_GRP_JUMP:
		case CS_GRP_CALL:
		case CS_GRP_RET:
		case CS_GRP_INT:
		case CS_GRP_IRET:
			return 1;
		}
	}
	return 0;
}

int probe_place__choose(const __u8 *code, size_t len, __u64 vaddr, __u32 keep,
			struct probe_site *out)
{
	cs_insn *insns = NULL;
	csh handle = 0;
	size_t cnt;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle) != CS_ERR_OK)
		return -ENOMEM;
	cs_option(handle, CS_OPT_DETAIL, CS_OPT_ON);
	cnt = cs_disasm(handle, code, len, vaddr, MAX_SCAN_INSNS, &insns);
	if (!cnt) {
		err = -EINVAL;
		goto cleanup;
	}
	for (size_t i = 0; i < cnt; i++) {
		cs_regs rd, wr;
		__u8 nrd = 0, nwr = 0;
		__u32 written = 0;

		if (probe_place__is_emulated(insns[i].bytes, insns[i].size)) {
			out->offset = insns[i].address - vaddr;
			out->emulated = 1;
			out->is_jbe = insns[i].id == X86_INS_JBE;
			snprintf(out->insn, sizeof(out->insn), "%s %s", insns[i].mnemonic,
				 insns[i].op_str);
			goto cleanup;
		}
		/* Execution must reach the next instruction with what the probe reads intact. */
		if (is_control_flow(&insns[i]))
			break;
		if (cs_regs_access(handle, &insns[i], rd, &nrd, wr, &nwr) != CS_ERR_OK)
			break;
		for (int r = 0; r < nwr; r++)
			written |= reg_bit(wr[r]);
		if (written & keep)
			break;
	}
	/* No safe emulated instruction: probe the entry and pay for the single-step. */
	out->offset = 0;
	out->emulated = 0;
	snprintf(out->insn, sizeof(out->insn), "%s %s", insns[0].mnemonic, insns[0].op_str);
cleanup:
	if (insns)
		cs_free(insns, cnt);
	cs_close(&handle);
	return err;
}
