/* SPDX-License-Identifier: MIT */
/* Reader for Go executables without symbols or DWARF: Go version and main module from
 * .go.buildinfo, functions, file:line and inlined frames from the pclntab. Works on binaries built
 * with -ldflags='-s -w', PIE or not; all addresses are ELF virtual addresses (the caller applies
 * the load bias).
 *
 * pclntab formats: Go 1.2-1.15 (magic 0xfffffffb), 1.16-1.17 (0xfffffffa), 1.18-1.19
 * (0xfffffff0) and 1.20+ (0xfffffff1, including 1.26 where pcHeader.textStart is 0). Only Go
 * 1.19 (0xfffffff0, amd64, internal linking) was tested; the other layouts follow the Go sources
 * (runtime/symtab.go, runtime/runtime2.go, debug/gosym, debug/buildinfo) but were never run.
 * Inlined frames need the inline tree: for 1.18+ its FUNCDATA offsets are relative to
 * moduledata.gofunc, which is found by scanning the file for runtime.firstmoduledata. With
 * magic 0xfffffffb the layouts changed between minor versions, so inlined frames are expanded
 * only for 1.13-1.15 (known from .go.buildinfo); older binaries get physical frames. Functions
 * split over several text sections (over ~128 MiB of code on arm64/ppc64) are not handled. */
#ifndef ALLOCSCOPE_GOBIN_H
#define ALLOCSCOPE_GOBIN_H

#include <linux/types.h>

/* One parsed Go executable. */
struct gobin;

/* One source-level frame. Strings point into the mapped file and live until gobin__close(). */
struct gobin_frame {
	const char *function; /* "main.main", "runtime.mallocgc" */
	const char *file;     /* absolute path as recorded by the compiler, NULL when unknown */
	__u32 line;	      /* 0 when unknown */
	__u32 pad;
};

/* NULL + errno: ENOEXEC when the file is not a Go executable (not ELF, or neither a pclntab nor
 * build information), EBADMSG when it looks like one but is malformed or truncated, or the
 * errno of open/mmap. */
struct gobin *gobin__open(const char *path);
/* Accepts NULL. */
void gobin__close(struct gobin *g);

/* "go1.19.8" from .go.buildinfo, else from runtime.buildVersion in the data (release builds that
 * drop the build information); NULL when neither is found. */
const char *gobin__version(const struct gobin *g);
/* Major and minor of gobin__version() ("go1.19.8" -> 1, 19): 0, -ENOENT or -EINVAL. */
int gobin__version_num(const struct gobin *g, int *major, int *minor);
/* The main module's path ("mod" line of the module information), or NULL. */
const char *gobin__module_path(const struct gobin *g);

/* Entry (ELF vaddr) and size in bytes (up to the next function, so it includes padding) of the
 * function with exactly this name, e.g. "runtime.mallocgc". Linear in the number of functions.
 * 0, -ENOENT, or -EBADMSG when the table is corrupt. */
int gobin__func_by_name(struct gobin *g, const char *name, __u64 *entry, __u64 *size);

/* Frames for pc (ELF vaddr; pass return address - 1 for non-leaf frames so that the call's line
 * is found), innermost first: inlined functions from the inline tree, the physical function
 * last. Writes at most max frames (the outermost are dropped when there are more). Returns the
 * number of frames, 0 when pc is in no function, -EINVAL or -EBADMSG. */
int gobin__resolve(struct gobin *g, __u64 pc, struct gobin_frame *frames, int max);

/* Calls cb for every function in table order (by address) until it returns non-zero. Returns 0,
 * cb's non-zero value, or -EBADMSG when an entry cannot be read. */
int gobin__for_each_func(struct gobin *g, int (*cb)(const char *name, __u64 entry, void *ctx),
			 void *ctx);

#endif
