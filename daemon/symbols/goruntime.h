/* SPDX-License-Identifier: MIT */
/* What allocscope needs to know of a Go executable's runtime, per Go version: where its heap
 * sampler, allocator and GC hooks are, how their arguments are passed, and where
 * runtime.MemProfileRate lives, also in stripped binaries (found from the code that clears or
 * reads it). */
#ifndef ALLOCSCOPE_GORUNTIME_H
#define ALLOCSCOPE_GORUNTIME_H

#include <linux/types.h>

#include "symbols/procmaps.h"

struct go_func {
	__u64 vaddr; /* ELF virtual address; 0 when the binary has no such function */
	__u64 size;
	__u64 file_offset;
};

/* The Go versions whose runtime hooks allocscope knows (the table in goruntime.c): tested with
 * programs built here (1.19, 1.21-1.23) or with release binaries (1.25-1.27). */
#define GO_OLDEST_KNOWN_MINOR 18
#define GO_NEWEST_KNOWN_MINOR 27

struct go_runtime {
	char version[32]; /* "go1.19.8" */
	int minor;	  /* 19 */
	int known;	  /* 1 when minor is in GO_{OLDEST,NEWEST}_KNOWN_MINOR */
	struct go_func mprof_malloc;
	struct go_func free_special;
	struct go_func mallocgc; /* the every-call hook; see mallocgc_workers for Go 1.24+ */
	struct go_func gc_start;
	struct go_func gc_mark_term;
	struct go_func main_fn;		 /* main.main */
	__u32 mprof_args;		 /* GO_ARGS_* */
	__u32 special_kind_off;		 /* offsetof(special, kind) */
	__u32 special_kind_profile;	 /* _KindSpecialProfile */
	__u64 memprofilerate_vaddr;	 /* 0 when it could not be found */
	__u64 load_base;		 /* p_vaddr of the segment at file offset 0 */
	int memprofilerate_from_symbol;	 /* 1: .symtab, 0: found in schedinit/mallocgc code */
	__u64 memprofilerate_code_vaddr; /* what the code says, also with .symtab; 0: nothing */
	/* g and m offsets that the cgo stack walk reads (goruntime__layout). */
	__u32 m_curg;
	__u32 g_sched_sp;
	__u32 g_sched_bp;
	/* 1: the offsets above and special_kind_off were checked against the executable's
	 * DWARF (and taken from it where the table differed); 0: no DWARF, the table's. */
	int layout_from_dwarf;
	int layout_differs; /* the DWARF said otherwise than the table (logged) */
	int g_fixed_ok;	    /* g.stack and g.m are where bpf/alloc.h has them (0: unknown/no) */
};

/* -ENOEXEC when path is not a Go executable; other -errno when it cannot be read. */
int goruntime__inspect(const char *path, struct go_runtime *out);

/* The process address of the executable's variable at vaddr, in a process that maps the
 * executable (exe_path as its maps show it), or 0 when it is not mapped. */
__u64 goruntime__var_addr(const struct go_runtime *gr, const struct proc_maps *maps,
			  const char *exe_path, __u64 vaddr);

/* Read or write runtime.MemProfileRate of process pid through /proc/PID/mem. 0 or -errno. */
int goruntime__read_rate(int pid, __u64 addr, __s64 *rate);
int goruntime__write_rate(int pid, __u64 addr, __s64 rate);

struct go_layout;
/* The offsets of m.curg and g.sched's sp and bp for this executable (bpf/alloc.h). */
void goruntime__layout(const struct go_runtime *gr, struct go_layout *out);

/* The cause label of an allocation entering the allocator through runtime function name (a
 * "runtime." frame just above user code), or NULL when the name says nothing. */
const char *goruntime__cause(const char *func);

#endif
