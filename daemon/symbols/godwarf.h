/* SPDX-License-Identifier: MIT */
/* The runtime's own word on the structure offsets that allocscope's BPF side reads in a Go
 * process, from the executable's DWARF (which stripped builds lack): goruntime.c checks its
 * version table against them, and goes by them where the two differ. */
#ifndef ALLOCSCOPE_GODWARF_H
#define ALLOCSCOPE_GODWARF_H

#include <libelf.h>

struct go_dwarf {
	/* Byte offsets; -1 where the DWARF has no such member. */
	int m_curg;	  /* runtime.m.curg */
	int g_stack;	  /* runtime.g.stack (its lo and hi words) */
	int g_m;	  /* runtime.g.m */
	int g_sched;	  /* runtime.g.sched */
	int gobuf_sp;	  /* runtime.gobuf.sp */
	int gobuf_bp;	  /* runtime.gobuf.bp */
	int special_kind; /* runtime.special.kind */
};

/* Read them from elf's DWARF: 0 (members not found are -1), -ENOENT when the executable has no
 * DWARF or no runtime types in it. */
int godwarf__read(Elf *elf, struct go_dwarf *out);
/* The same for the file open as fd (elf), remembered by the file's identity (device, inode,
 * size, modification time): a Go program's DWARF is compressed, and reading it costs tens of
 * milliseconds of CPU that every process of the same executable would pay again. */
int godwarf__read_file(int fd, Elf *elf, struct go_dwarf *out);

#endif
