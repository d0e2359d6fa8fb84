/* SPDX-License-Identifier: MIT */
/* Address to function, file, line and inlined frames for ELF files, through elfutils (libdwfl):
 * .symtab/.dynsym, DWARF where present (also from separate debug files found by build ID), C++
 * names demangled. One parsed module per file, cached for the symbolizer's lifetime. */
#ifndef ALLOCSCOPE_SYMBOLIZE_H
#define ALLOCSCOPE_SYMBOLIZE_H

#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

#include <libelf.h>

#include "symbols/procmaps.h"

/* One source-level frame. Strings are owned by the symbolizer and live until
 * symbolizer__free(). */
struct sym_frame {
	const char *function;	 /* demangled; NULL when not even a symbol covers the address */
	const char *system_name; /* the raw (mangled) symbol name, or NULL */
	const char *file;	 /* source file from DWARF, or NULL */
	__u32 line;		 /* 0 when unknown */
	__u32 pad;
};

struct symbolizer_opts {
	int demangle;		/* demangle C++ names */
	const char *debug_root; /* where separate debug files live, NULL for the system default */
};

struct symbolizer;

struct symbolizer *symbolizer__new(const struct symbolizer_opts *opts);
void symbolizer__free(struct symbolizer *s);

/*
 * Symbolize addr, a virtual address inside mapping m of a process. file_path is where the
 * mapping's file can be opened now (for a process in a container: /proc/PID/root/<m->path>).
 * The address is looked up as given: callers pass a return address minus one for non-leaf
 * frames so that the call's line is found.
 *
 * Writes up to max_frames frames, innermost first (frames[0] is where addr is; the following
 * ones are the functions it was inlined into, outermost last). Returns the number of frames
 * written, 0 when nothing is known of the address, or -errno when the file cannot be read or is
 * not a valid ELF file (the error is remembered per file, so a bad file costs one attempt).
 */
int symbolizer__resolve(struct symbolizer *s, const char *file_path, const struct proc_mapping *m,
			__u64 addr, struct sym_frame *frames, int max_frames);

/* The GNU build ID of an ELF file as lowercase hex in buf, or "" when it has none. 0 or -errno. */
int symbolizer__build_id(struct symbolizer *s, const char *file_path, char *buf, size_t len);
/* Forget the paths below /proc/PID/ (the parsed files stay, shared by identity): a process
 * whose history is gone no longer needs them, and a daemon watching short-lived processes
 * would otherwise keep a few entries for each one forever. */
void symbolizer__forget_pid(struct symbolizer *s, int pid);
/* The device and inode of the file parsed for file_path: a caller that opened the file itself
 * checks that both are the same file. 0 or -errno. */
int symbolizer__identity(struct symbolizer *s, const char *file_path, dev_t *dev, ino_t *ino);
/* Paths cached (for tests and metrics). */
size_t symbolizer__file_count(const struct symbolizer *s);
/* A new reference to the file's parsed ELF (libelf counts them; release with elf_end()), shared
 * with the symbolizer and every other holder: the CFI unwinder's modules of all processes that
 * map the same file. NULL when the file cannot be loaded. */
Elf *symbolizer__elf(struct symbolizer *s, const char *file_path);

/* Address of a function symbol in the file's own virtual address space (st_value), and its file
 * offset, for attaching probes. Looks in .symtab then .dynsym. 0, -ENOENT or -errno. */
int symbolizer__func_offset(struct symbolizer *s, const char *file_path, const char *name,
			    __u64 *vaddr, __u64 *file_offset, __u64 *size);

/* Whether the file has any DWARF line information (for Mapping.has_line_numbers). */
int symbolizer__has_lines(struct symbolizer *s, const char *file_path);

#endif
