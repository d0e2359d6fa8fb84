/* SPDX-License-Identifier: MIT */
/* What symbolize.c and dwarf_lines.c share and nothing else sees: the symbolizer's caches and a
 * parsed file, the interned strings, and the DWARF resolution of one address. */
#ifndef ALLOCSCOPE_SYMBOLIZE_PRIV_H
#define ALLOCSCOPE_SYMBOLIZE_PRIV_H

#include <stdbool.h>
#include <sys/types.h>

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>

#include "symbols/symbolize.h"
#include "util/htab.h"

/*
 * A parsed ELF file, shared by every path that names the same file (dev, inode, size, mtime):
 * /proc/PID/root/usr/lib/libc.so.6 of many processes is parsed once.
 */
struct sym_obj {
	char *key;
	dev_t dev; /* of the file parsed, to match a mapping against */
	ino_t ino;
	Dwfl *dwfl;
	Dwfl_Module *mod;
	GElf_Addr bias;	  /* libdwfl address minus file vaddr; 0 unless libdwfl moved the module */
	GElf_Phdr *loads; /* PT_LOAD headers, for file offset <-> vaddr */
	size_t load_cnt;
	int has_lines;	  /* -1 until asked */
	struct gobin *go; /* a Go executable: symbolized from .gopclntab, as Go itself does */
	/* Address ranges of every compile unit, sorted, built on the first address libdwfl finds
	 * no CU for: without .debug_aranges (clang does not emit them) libdw 0.188 finds none. */
	struct cu_range *cu_ranges;
	size_t cu_cnt;
	int cu_indexed;
};

struct cu_range {
	Dwarf_Addr lo, hi; /* DWARF addresses, [lo, hi) */
	Dwarf_Off die;	   /* the CU DIE's offset in .debug_info */
};

/* What a path resolved to: a shared object, or the error that loading it gave. */
struct sym_file {
	char *path;
	struct sym_obj *obj; /* NULL when err is set */
	int err;
	/* The last mapping this path was refused for (not its file): asked again, the same
	 * answer without opening the file again. */
	__u64 refused_ino;
	__u32 refused_major, refused_minor;
	int refused_err;
};

struct symbolizer {
	Dwfl_Callbacks cbs; /* libdwfl keeps a pointer to it: lives as long as the symbolizer */
	char *debuginfo_path;
	bool demangle;
	/* Pointers, keyed by a string that each entry carries. */
	struct htab files; /* struct sym_file by path */
	struct htab objs;  /* struct sym_obj by identity key */
	struct htab strs;  /* interned strings */
};

/* A copy of str owned by the symbolizer, or NULL (errno = ENOMEM). */
const char *symbolizer__intern(struct symbolizer *s, const char *str);
/* Fill fr from names, file and line (interned; display_raw demangled as configured). 0 or
 * -ENOMEM. */
int symbolize__set_frame(struct symbolizer *s, struct sym_frame *fr, const char *raw_name,
			 const char *display_raw, const char *comp_dir, const char *file, int line);
/* The frames of pc in o from its DWARF: the inlined calls innermost first, then the function,
 * each with its file and line; ELF symbols where there is no DWARF. The count or -errno. */
int symbolize__resolve_pc(struct symbolizer *s, struct sym_obj *o, Dwarf_Addr pc,
			  struct sym_frame *frames, int max_frames);

#endif
