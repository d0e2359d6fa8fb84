/* SPDX-License-Identifier: MIT */
/* Constants and plain structs shared by bpf/alloc.bpf.c and user space. Fixed-width fields and
 * explicit padding only: both sides must agree on every byte. */
#ifndef ALLOCSCOPE_ALLOC_H
#define ALLOCSCOPE_ALLOC_H

/* The kernel's default perf_event_max_stack; deeper stacks are cut at the root end. */
#define ALLOC_MAX_STACK_DEPTH 127

/* Entries of the table the per-thread byte countdown draws its intervals from (power of 2). */
#define SAMPLE_TABLE_SIZE 4096

/* What a sample was allocated with; also the BPF cookie of each allocator probe. */
enum alloc_kind {
	ALLOC_KIND_MALLOC,
	ALLOC_KIND_CALLOC,
	ALLOC_KIND_REALLOC,
	ALLOC_KIND_REALLOCARRAY,
	ALLOC_KIND_POSIX_MEMALIGN,
	ALLOC_KIND_ALIGNED_ALLOC,
	ALLOC_KIND_MEMALIGN,
	ALLOC_KIND_VALLOC,
	ALLOC_KIND_PVALLOC,
	ALLOC_KIND_FREE,
	ALLOC_KIND_MMAP,
	ALLOC_KIND_MAX,
};

/* Things the BPF side could not do; each is surfaced in profiles and metrics. */
enum alloc_counter {
	ALLOC_CNT_SAMPLED,    /* sampled allocations recorded */
	ALLOC_CNT_STACK_LOST, /* bpf_get_stackid failed: counted under a "lost stack" key */
	ALLOC_CNT_STATS_FULL, /* the stats map was full: the sample was dropped entirely */
	ALLOC_CNT_LIVE_FULL,  /* the live map was full: counted, but its free cannot be matched */
	ALLOC_CNT_TASK_FULL,  /* no per-thread state could be had: the call was not seen */
	ALLOC_CNT_NEST_RESET, /* an allocator call never returned (longjmp, lost uretprobe) */
	ALLOC_CNT_MUNMAP_PARTIAL, /* munmap of part of a tracked mapping: left counted as in use */
	ALLOC_CNT_MAX,
};

/* Aggregation key: one per (process, stack, allocator). */
struct alloc_key {
	__u32 tgid;
	__s32 stack_id; /* < 0: the stack was lost, this is -errno of bpf_get_stackid */
	__u32 kind;	/* enum alloc_kind */
	__u32 pad;
	/* Syscalls only: the word at the user stack pointer, the return address into the caller
	 * of a frameless libc wrapper (mmap), which a frame-pointer walk skips. 0 for uprobes. */
	__u64 caller_hint;
};

/* Cumulative raw (sampled) values; user space computes deltas and in-use. */
struct alloc_stats {
	__u64 alloc_cnt;
	__u64 alloc_bytes;
	__u64 free_cnt;
	__u64 free_bytes;
	__u64 untracked_cnt; /* allocations whose address did not fit in the live map */
	__u64 untracked_bytes;
};

/* A sampled allocation that is still live. */
struct live_key {
	__u64 addr;
	__u32 tgid;
	__u32 pad;
};

struct live_val {
	__u64 size;
	struct alloc_key key;
};

#endif
