// SPDX-License-Identifier: MIT
/* USDT notes read with libelf: the .note.stapsdt section's notes, their addresses turned into
 * file offsets through the program headers, and their argument strings into BPF specs. */
#include <asm/ptrace.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbols/usdt.h"
#include "util/common.h"
#include "util/log.h"

#define NT_STAPSDT 3

int usdt__parse_note(const void *desc, size_t len, __u64 base_addr, struct usdt_note *out)
{
	const char *s = (const char *)desc + 24, *end = (const char *)desc + len;
	const char *strs[3];
	__u64 addrs[3];

	memset(out, 0, sizeof(*out));
	if (len < 24 + 3)
		return -EINVAL;
	memcpy(addrs, desc, sizeof(addrs));
	for (int i = 0; i < 3; i++) {
		const char *nul = memchr(s, '\0', end - s);

		if (!nul)
			return -EINVAL;
		strs[i] = s;
		s = nul + 1;
	}
	if (strlen(strs[0]) >= sizeof(out->provider) || strlen(strs[1]) >= sizeof(out->name) ||
	    strlen(strs[2]) >= sizeof(out->args))
		return -EINVAL;
	strcpy(out->provider, strs[0]);
	strcpy(out->name, strs[1]);
	strcpy(out->args, strs[2]);
	out->vaddr = addrs[0];
	out->sema_vaddr = addrs[2];
	/* A prelinked object moved: the note's base is where .stapsdt.base was at link time. */
	if (base_addr && addrs[1]) {
		out->vaddr += base_addr - addrs[1];
		if (out->sema_vaddr)
			out->sema_vaddr += base_addr - addrs[1];
	}
	return 0;
}

/* struct pt_regs offset of an x86-64 register by its AT&T name (any width), or -1. */
static int reg_offset(const char *name, size_t len)
{
	static const struct {
		const char *names[4];
		int off;
	} regs[] = {
	    {{"rax", "eax", "ax", "al"}, offsetof(struct pt_regs, rax)},
	    {{"rbx", "ebx", "bx", "bl"}, offsetof(struct pt_regs, rbx)},
	    {{"rcx", "ecx", "cx", "cl"}, offsetof(struct pt_regs, rcx)},
	    {{"rdx", "edx", "dx", "dl"}, offsetof(struct pt_regs, rdx)},
	    {{"rsi", "esi", "si", "sil"}, offsetof(struct pt_regs, rsi)},
	    {{"rdi", "edi", "di", "dil"}, offsetof(struct pt_regs, rdi)},
	    {{"rbp", "ebp", "bp", "bpl"}, offsetof(struct pt_regs, rbp)},
	    {{"rsp", "esp", "sp", "spl"}, offsetof(struct pt_regs, rsp)},
	    {{"r8", "r8d", "r8w", "r8b"}, offsetof(struct pt_regs, r8)},
	    {{"r9", "r9d", "r9w", "r9b"}, offsetof(struct pt_regs, r9)},
	    {{"r10", "r10d", "r10w", "r10b"}, offsetof(struct pt_regs, r10)},
	    {{"r11", "r11d", "r11w", "r11b"}, offsetof(struct pt_regs, r11)},
	    {{"r12", "r12d", "r12w", "r12b"}, offsetof(struct pt_regs, r12)},
	    {{"r13", "r13d", "r13w", "r13b"}, offsetof(struct pt_regs, r13)},
	    {{"r14", "r14d", "r14w", "r14b"}, offsetof(struct pt_regs, r14)},
	    {{"r15", "r15d", "r15w", "r15b"}, offsetof(struct pt_regs, r15)},
	    {{"rip", "eip", "ip", NULL}, offsetof(struct pt_regs, rip)},
	};

	for (size_t i = 0; i < ARRAY_SIZE(regs); i++)
		for (int j = 0; j < 4 && regs[i].names[j]; j++)
			if (strlen(regs[i].names[j]) == len && !memcmp(regs[i].names[j], name, len))
				return regs[i].off;
	return -1;
}

/* One "SIZE@OPERAND" (s up to end) into a. */
static int parse_arg(const char *s, const char *end, struct usdt_arg *a)
{
	const char *at = memchr(s, '@', end - s), *p;
	char *e;
	long size;
	int off;

	if (!at)
		return -EINVAL;
	size = strtol(s, &e, 10);
	if (e != at || (labs(size) != 1 && labs(size) != 2 && labs(size) != 4 && labs(size) != 8))
		return -EINVAL;
	a->size = size;
	p = at + 1;
	if (*p == '$') {
		a->type = USDT_ARG_CONST;
		a->val = strtoll(p + 1, &e, 0);
		return e == end ? 0 : -EINVAL;
	}
	if (*p == '%') {
		off = reg_offset(p + 1, end - p - 1);
		if (off < 0)
			return -EINVAL;
		a->type = USDT_ARG_REG;
		a->reg_off = off;
		return 0;
	}
	/* [disp](%reg); an index register or a symbol (RIP-relative globals) is not read. */
	a->val = 0;
	if (*p != '(') {
		a->val = strtoll(p, &e, 0);
		if (e == p || *e != '(')
			return -EINVAL;
		p = e;
	}
	if (p[1] != '%' || end[-1] != ')')
		return -EINVAL;
	off = reg_offset(p + 2, end - 1 - (p + 2));
	if (off < 0 || off == (int)offsetof(struct pt_regs, rip))
		return -EINVAL;
	a->type = USDT_ARG_MEM;
	a->reg_off = off;
	return 0;
}

int usdt__parse_args(const char *args, struct usdt_spec *spec)
{
	const char *s = args;
	int n = 0, err;

	memset(spec, 0, sizeof(*spec));
	while (*s) {
		const char *end;

		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			break;
		end = s;
		while (*end && !isspace((unsigned char)*end))
			end++;
		if (n < USDT_MAX_ARGS) {
			err = parse_arg(s, end, &spec->args[n]);
			if (err)
				return err;
		}
		n++;
		s = end;
	}
	return 0;
}

/* The file offset of vaddr per the loadable segments; 0 when none holds it. */
static __u64 vaddr_to_offset(Elf *elf, __u64 vaddr)
{
	size_t n = 0;
	GElf_Phdr ph;

	if (elf_getphdrnum(elf, &n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_memsz)
			return vaddr - ph.p_vaddr + ph.p_offset;
	}
	return 0;
}

static int read_notes(Elf *elf, const char *provider, struct usdt_note **out)
{
	Elf_Scn *scn = NULL, *notes = NULL;
	struct usdt_note *v = NULL, *nv;
	size_t shstrndx, cnt = 0, off = 0, name_off, desc_off;
	__u64 base_addr = 0;
	Elf_Data *data;
	GElf_Shdr sh;
	GElf_Nhdr nh;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return -EINVAL;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!name)
			continue;
		if (!strcmp(name, ".note.stapsdt") && sh.sh_type == SHT_NOTE)
			notes = scn;
		else if (!strcmp(name, ".stapsdt.base"))
			base_addr = sh.sh_addr;
	}
	if (!notes)
		return 0;
	data = elf_getdata(notes, NULL);
	if (!data)
		return -EINVAL;
	while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		struct usdt_note n;

		if (nh.n_type != NT_STAPSDT || nh.n_namesz != 8 ||
		    memcmp((char *)data->d_buf + name_off, "stapsdt", 8))
			continue;
		if (usdt__parse_note((char *)data->d_buf + desc_off, nh.n_descsz, base_addr, &n))
			continue;
		if (provider && strcmp(n.provider, provider))
			continue;
		n.file_offset = vaddr_to_offset(elf, n.vaddr);
		if (!n.file_offset)
			continue;
		if (n.sema_vaddr)
			n.sema_offset = vaddr_to_offset(elf, n.sema_vaddr);
		nv = realloc(v, (cnt + 1) * sizeof(*v));
		if (!nv) {
			free(v);
			return -ENOMEM;
		}
		v = nv;
		v[cnt++] = n;
	}
	*out = v;
	return cnt;
}

int usdt__read_file(const char *path, const char *provider, struct usdt_note **out)
{
	Elf *elf = NULL;
	int fd, err;

	*out = NULL;
	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		err = -ENOEXEC;
		goto cleanup;
	}
	err = read_notes(elf, provider, out);
cleanup:
	if (elf)
		elf_end(elf);
	close(fd);
	return err;
}
