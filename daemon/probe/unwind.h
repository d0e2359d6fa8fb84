/* SPDX-License-Identifier: MIT */
/* CFI unwinding of sampled allocations in user space: the registers and stack copy of each
 * unwind_event (bpf/alloc.h) are walked with elfutils' libdwfl from .eh_frame/.debug_frame, and
 * samples and their frees are aggregated per (process, allocator, unwound stack). */
#ifndef ALLOCSCOPE_UNWIND_H
#define ALLOCSCOPE_UNWIND_H

#include <stddef.h>
#include <linux/types.h>

#include "probe/collect.h"
#include "symbols/target.h"

/* Per-process unwind choice of record and the daemon. */
enum unwind_mode {
	UNWIND_MODE_FP,	  /* the kernel's frame-pointer walk for everything (default) */
	UNWIND_MODE_CFI,  /* CFI for the malloc family and mmap of every process */
	UNWIND_MODE_AUTO, /* CFI for native code (with cgo, joined to the goroutine's frame-pointer
			     walk), frame pointers for Go's own allocations */
};

/* Whether a process's native samples are unwound from CFI: is_go, a Go program; native, its
 * malloc family is probed (cgo). */
int unwind_mode__cfi(enum unwind_mode m, int is_go, int native);

/* Parse "fp", "cfi" or "auto"; -EINVAL otherwise. */
int unwind_mode__parse(const char *s, enum unwind_mode *out);

struct unwind_stats {
	__u64 events;	     /* allocation events unwound */
	__u64 frees;	     /* free events matched to a sample */
	__u64 frees_unknown; /* free events of no known sample */
	__u64 truncated;     /* stacks that stop before the thread's first frame */
	__u64 go_joined;     /* C stacks joined to the goroutine that called them (cgo) */
	__u64 empty;	     /* events without a single frame (stack copy unreadable) */
	__u64 unwind_ns;     /* user-space time spent unwinding, total */
	__u64 bpf_ns;	     /* BPF time spent on register and stack copies, total */
	__u64 stack_bytes;   /* bytes of stack copied, total */
};

struct unwinder;

struct symbolizer;

/* sym (may be NULL): whose parsed ELF files the modules of all processes share. */
struct unwinder *unwinder__new(struct symbolizer *sym);
void unwinder__free(struct unwinder *u);

/*
 * Handle one event of the unwind ring. t is the process the event belongs to (its maps
 * snapshots name the modules; it may be refreshed when an address is in none), or NULL to read
 * /proc/PID/maps. 0 or -errno (only for allocation failures).
 */
int unwinder__handle(struct unwinder *u, struct target *t, const void *data, size_t len);

/* Append every aggregated entry of the processes set_for wants, as collect__read does. */
int unwinder__read(struct unwinder *u, struct entry_set *(*set_for)(void *ctx, __u32 tgid),
		   void *ctx);

/* Drop a process's entries, its live samples and its parsed modules. */
void unwinder__forget_pid(struct unwinder *u, __u32 tgid);

void unwinder__stats(const struct unwinder *u, struct unwind_stats *out);

#endif
