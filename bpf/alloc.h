/* SPDX-License-Identifier: MIT */
/* Constants and plain structs shared by bpf/alloc.bpf.c and user space. Fixed-width fields and
 * explicit padding only: both sides must agree on every byte. */
#ifndef ALLOCSCOPE_ALLOC_H
#define ALLOCSCOPE_ALLOC_H

/* The BPF side gets the fixed-width types from vmlinux.h. */
#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Ids tried from a stack's hash before it counts as lost (bpf/stackid.bpf.h); user space's
 * garbage collection follows the same probe sequence. */
#define STACK_ID_PROBES 16

/* The kernel's default perf_event_max_stack; deeper stacks are cut at the root end. */
#define ALLOC_MAX_STACK_DEPTH 127

/*
 * Values of the stacks map, keyed by a stack id. The id is the stack's hash folded into the id
 * space (stack_id_mask), probed linearly on collision; hash tells two stacks apart (64 bits), so
 * no stack is lost to another that landed in its slot, as bpf_get_stackid's map loses them.
 * ips end at the first 0.
 */
struct stack_val {
	__u64 hash;
	__u64 ips[ALLOC_MAX_STACK_DEPTH];
};

/* Entries of the table the per-thread byte countdown draws its intervals from (power of 2). */
#define SAMPLE_TABLE_SIZE 4096

/* What a sample was allocated with; also the BPF cookie of each allocator probe (below). */
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
	ALLOC_KIND_GO,		/* sampled by the Go runtime (runtime.mProf_Malloc) */
	ALLOC_KIND_GO_MALLOCGC, /* sampled by us on every runtime.mallocgc call */
	/* Other allocators' own entry points (jemalloc, tcmalloc, mimalloc, C++ operator new in an
	 * allocator that replaces it), by argument layout and name. */
	ALLOC_KIND_MALLOCX,	/* jemalloc mallocx(size, flags) */
	ALLOC_KIND_RALLOCX,	/* jemalloc rallocx(ptr, size, flags): realloc's layout */
	ALLOC_KIND_XALLOCX,	/* jemalloc xallocx(ptr, size, extra, flags): in place, returns
				   the block's new real size */
	ALLOC_KIND_NEW,		/* operator new and new[], every variant: size first */
	ALLOC_KIND_REALLOCF,	/* reallocf(ptr, size): frees ptr also when it fails */
	ALLOC_KIND_MI_MALLOC,	/* mimalloc mi_malloc, mi_zalloc, mi_*_aligned...: size first */
	ALLOC_KIND_MI_CALLOC,	/* mi_calloc(count, size), mi_mallocn */
	ALLOC_KIND_MI_REALLOC,	/* mi_realloc(p, size), mi_realloc_aligned */
	ALLOC_KIND_MI_REALLOCN, /* mi_reallocn(p, count, size) */
	ALLOC_KIND_MREMAP,	/* mremap: an anonymous mapping grown, shrunk or moved */
	ALLOC_KIND_USDT,	/* sampled by the process itself, reported by otel_memory:alloc
				   (bpf/sampler.bpf.h): weighted, its stats count weights */
	ALLOC_KIND_MAX,
};

/* A realloc of some kind: it frees its old block, so its probes are the free side's too (never
 * duty-cycled: a block sampled earlier must retire when it moves). */
static inline int alloc_kind_reallocs(__u32 kind)
{
	return kind == ALLOC_KIND_REALLOC || kind == ALLOC_KIND_REALLOCARRAY ||
	       kind == ALLOC_KIND_RALLOCX || kind == ALLOC_KIND_XALLOCX ||
	       kind == ALLOC_KIND_REALLOCF || kind == ALLOC_KIND_MI_REALLOC ||
	       kind == ALLOC_KIND_MI_REALLOCN;
}

/*
 * BPF cookies (bpf_get_attach_cookie) pack what a probe is as fields of a __u64, each named by a
 * _SHIFT and a _MASK (the mask applies after the shift); COOKIE_FIELD() reads one and COOKIE_PUT()
 * places one, on both sides.
 *
 * The malloc family's probes: the enum alloc_kind, in bits 0-31.
 *
 * Go probes: what the probe is and how to read its arguments, which move between Go versions
 * (daemon/symbols/goruntime.c holds the per-version table).
 *   bits 0-7   enum go_probe
 *   bits 8-15  argument layout: GO_ARGS_*
 *   bits 16-23 freeSpecial: offset of special.kind
 *   bits 24-31 freeSpecial: the value of _KindSpecialProfile
 *   bit 32     the probe sits on the prologue's jbe to morestack: a hit that will take it is
 *              dropped, because the function then starts over and is hit again
 */
#define COOKIE_FIELD(cookie, f) (((cookie) >> f##_SHIFT) & f##_MASK)
#define COOKIE_PUT(f, v)	(((__u64)(v)&f##_MASK) << f##_SHIFT)

#define ALLOC_COOKIE_KIND_SHIFT 0
#define ALLOC_COOKIE_KIND_MASK	0xffffffffULL

#define GO_COOKIE_PROBE_SHIFT	     0
#define GO_COOKIE_PROBE_MASK	     0xffULL
#define GO_COOKIE_ARGS_SHIFT	     8
#define GO_COOKIE_ARGS_MASK	     0xffULL
#define GO_COOKIE_KIND_OFF_SHIFT     16
#define GO_COOKIE_KIND_OFF_MASK	     0xffULL
#define GO_COOKIE_PROFILE_KIND_SHIFT 24
#define GO_COOKIE_PROFILE_KIND_MASK  0xffULL
#define GO_COOKIE_AT_JBE_SHIFT	     32
#define GO_COOKIE_AT_JBE_MASK	     0x1ULL
#define GO_COOKIE_AT_JBE	     COOKIE_PUT(GO_COOKIE_AT_JBE, 1)

enum go_probe {
	GO_PROBE_MPROF_MALLOC = 1,
	GO_PROBE_FREE_SPECIAL,
	GO_PROBE_MALLOCGC,
	GO_PROBE_GC_START,
	GO_PROBE_GC_MARK_TERM,
	GO_PROBE_MAIN, /* main.main: every package is initialised, so is MemProfileRate */
};

#define GO_ARGS_P_RAX_SIZE_RBX 0 /* mProf_Malloc(p, size), Go <= 1.22 */
#define GO_ARGS_P_RBX_SIZE_RCX 1 /* mProf_Malloc(mp, p, size), Go >= 1.23 */

/* Process lifecycle events for the daemon: execs anywhere (to match new processes against its
 * selectors) and forks of watched processes. */
enum life_event_type {
	LIFE_EVENT_EXEC = 1,
	LIFE_EVENT_FORK,
};

struct life_event {
	__u32 type;
	__u32 tgid;
	__u32 parent_tgid; /* LIFE_EVENT_FORK */
	__u32 pad;
	__u64 time_ns; /* bpf_ktime_get_ns() at the tracepoint: CLOCK_MONOTONIC */
};

/* Raw (sampled) totals of one process, for per-GC-cycle and per-interval deltas. */
struct proc_totals {
	__u64 alloc_cnt;
	__u64 alloc_bytes;
	__u64 free_cnt;
	__u64 free_bytes;
	/* Per process, what the global counters ALLOC_CNT_LIVE_OVERWRITE, ALLOC_CNT_NEST_RESET and
	 * ALLOC_CNT_FREE_UNSEEN count for all. */
	__u64 live_overwrite_cnt;
	__u64 nest_reset_cnt;
	__u64 free_unseen_cnt; /* ALLOC_CNT_FREE_UNSEEN */
	/* Runs of the malloc family's probes in this process, sampled or not: what the overhead
	 * budget (daemon/probe/overhead.c) prices. The allocation side (entries and returns) is
	 * apart from free, which stays attached while the allocation side is duty-cycled. */
	__u64 alloc_hits;
	__u64 free_hits;
	/* Of free_hits, those while the allocation side was not gated off (TARGET_F_ALLOC_OFF):
	 * the share of calls that a duty-cycled process's samples stand for. */
	__u64 free_hits_on;
};

/* A GC event of a Go process, sent through a ring buffer. */
struct gc_event {
	__u32 tgid;
	__u32 probe;   /* GO_PROBE_GC_START, GO_PROBE_GC_MARK_TERM or GO_PROBE_MAIN */
	__u64 time_ns; /* CLOCK_MONOTONIC */
	struct proc_totals totals;
};

/* Things the BPF side could not do; each is surfaced in profiles and metrics. */
enum alloc_counter {
	ALLOC_CNT_SAMPLED,    /* sampled allocations recorded */
	ALLOC_CNT_STACK_LOST, /* no stack (map full, or the 16 ids its hash picks taken): under a
			       "lost stack" key */
	ALLOC_CNT_STATS_FULL, /* the stats map was full: the sample was dropped entirely */
	ALLOC_CNT_LIVE_FULL,  /* the live map was full: counted, but its free cannot be matched */
	ALLOC_CNT_TASK_FULL,  /* no per-thread state could be had: the call was not seen */
	ALLOC_CNT_NEST_RESET, /* an allocator call never returned (longjmp, lost uretprobe) */
	ALLOC_CNT_MUNMAP_PARTIAL, /* munmap of part of a tracked mapping: left counted as in use */
	ALLOC_CNT_MORESTACK,	  /* Go entry hits dropped because the stack grows first */
	ALLOC_CNT_GC_EVENTS_LOST, /* GC events the ring buffer had no room for */
	ALLOC_CNT_LIFE_EVENTS_LOST,  /* exec/fork events the ring buffer had no room for */
	ALLOC_CNT_PROC_EVENTS_LOST,  /* exec/fork events the ring buffer had no room for */
	ALLOC_CNT_UNWIND_LOST,	     /* CFI samples the ring buffer had no room for: kept with the
					frame-pointer stack instead */
	ALLOC_CNT_UNWIND_FREE_LOST,  /* frees of CFI samples that neither the ring buffer nor the
					unwind_frees map had room for: the block stays counted
					as in use */
	ALLOC_CNT_UNWIND_NO_VMA,     /* CFI samples whose stack mapping could not be looked up */
	ALLOC_CNT_UNWIND_SHORT_COPY, /* CFI samples whose stack copy stops at an unreadable page */
	ALLOC_CNT_STACK_UNREADABLE, /* no stack: the kernel could not take it (its per-CPU callchain
				       buffer held by a preempted probe on the same CPU, or no
				       per-thread buffer); counted under a "lost stack" key */
	ALLOC_CNT_LIVE_OVERWRITE,   /* a new block at the address of a tracked one whose free was
				       not seen (a missed free, MAP_FIXED over a mapping): the old
				       one is retired as freed */
	ALLOC_CNT_STACK_REPAIRED,   /* a stack id that user space's garbage collection deleted while
				       a sample was taking it: stored again */
	ALLOC_CNT_FREE_UNSEEN,	    /* at rate 1: frees of an address no probe saw allocated (made
				       before the probes were attached, or by an allocator entry
				       point not probed) */
	ALLOC_CNT_MMAP_PROT_NONE,   /* anonymous PROT_NONE mappings: address space, no memory; not
				       counted as allocated */
	ALLOC_CNT_MMAP_INDEX_FULL,  /* tracked mappings that a munmap of a range will not find
				       (their 2 MiB bucket was full): only a munmap at their start */
	ALLOC_CNT_MUNMAP_SCAN_CUT,  /* munmaps of more than 32 GiB: mappings past that were not
				       looked for */
	ALLOC_CNT_MUNMAP_FAILED,    /* munmaps that failed: nothing ended */
	ALLOC_CNT_SESSION_RETURNS,  /* return runs of the uprobe session program: the sampled
				       calls (and reallocs of a sampled block) that took a return
				       trap; 0 without uprobe sessions */
	ALLOC_CNT_UNWIND_FREE_DEFERRED, /* frees of CFI samples the ring buffer had no room for,
					   kept in the unwind_frees map and read at the next drain
					 */
	ALLOC_CNT_MAX,
};

/* Values of the targets map: what the syscall tracepoints record for a process. */
#define TARGET_F_MMAP 0x1 /* anonymous mmap/munmap (not for Go: its heap is mmap'ed) */
#define TARGET_F_CFI  0x2 /* sampled native allocations are unwound from CFI in user space */
/* A Go program (cgo) in CFI mode: a native allocation made in C called from Go also carries the
 * calling goroutine's frames, walked by frame pointers from its saved state (go_layouts). */
#define TARGET_F_GO_CGO 0x4
/* Duty-cycled (the overhead budget): the allocation side is about to be detached, or not yet
 * fully attached again, and its probes ignore calls; what is recorded and the free probe's count
 * of the on-window (proc_totals.free_hits_on) then cover exactly the same span of time. Read
 * only while alloc_gated is set (bpf/alloc.bpf.c). */
#define TARGET_F_ALLOC_OFF 0x8
/* Bits 16-31 of a target's value: the duty cycle of its allocation probes in DUTY_ONE units, 0
 * when they are attached all the time (see alloc_key.duty). */
#define TARGET_DUTY_SHIFT 16
#define TARGET_DUTY_MASK  0xffffU
#define TARGET_FLAGS_MASK 0xffffU
/* A duty cycle of 1: the allocation probes attached all the time. */
#define DUTY_ONE 32768
/* In place of a duty cycle: the samples of a process's first cycled period, which has no share
 * of calls seen measured before it. They wait under this key until that same period has
 * measured its own, and user space gives them that (probe/overhead.c). */
#define DUTY_PENDING 0xffffU

/* Where the Go runtime keeps what the goroutine walk reads, per process (its Go version):
 * offsets of m.curg, and of g.sched.sp and g.sched.bp. g.stack (0) and g.m (0x30) have not
 * moved since Go 1.5. */
struct go_layout {
	__u16 m_curg;
	__u16 g_sched_sp;
	__u16 g_sched_bp;
	__u16 pad;
};
#define GO_G_STACK_LO	     0x0
#define GO_G_STACK_HI	     0x8
#define GO_G_M		     0x30
#define UNWIND_GO_MAX_FRAMES 64

/* Aggregation key: one per (process, stack, allocator). */
struct alloc_key {
	__u32 tgid;
	__s32 stack_id; /* < 0: the stack was lost (-errno); else a key of the stacks map */
	__u16 kind;	/* enum alloc_kind */
	/* The duty cycle (DUTY_ONE units) of the process's allocation probes when these samples
	 * were taken; 0: attached all the time. Unsampled values are scaled by DUTY_ONE / duty, so
	 * that a duty-cycled process's profile stays an unbiased estimate. */
	__u16 duty;
	__u32 pad;
	/* The word at the user stack pointer where the walk skips the caller: at syscalls (the
	 * return address into the caller of a frameless libc wrapper such as mmap) and at Go entry
	 * probes (before the prologue pushes a frame). 0 for the malloc family's return probes. */
	__u64 caller_hint;
	/* The object's size, when samples are unsampled (Go's runtime samples, and ours at a rate
	 * above 1): runtime/pprof keeps a bucket per stack and size and unsamples each with its own
	 * size, the only way that is exact for a stack that mixes sizes; so do we. 0 otherwise. */
	__u64 size;
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
	__u64 token; /* CFI samples: the token of its unwind_event; 0 for frame-pointer samples */
};

/*
 * CFI unwinding: a sampled allocation of a TARGET_F_CFI process is not aggregated in the kernel
 * (its frame-pointer stack id says nothing there); it goes to user space as an unwind_event with
 * the user registers and a copy of the user stack from sp up, and its free comes as an
 * unwind_free_event with the same token.
 */
#define UNWIND_STACK_COPY_DEFAULT 16384
#define UNWIND_STACK_COPY_MAX	  65536
#define UNWIND_NR_REGS		  17 /* x86-64 DWARF registers 0-16: rax..r15, rip */

#define UNWIND_F_UNTRACKED 0x1 /* not in the live map: its free will not be seen */
#define UNWIND_F_STACK_END 0x2 /* the copy reaches the end of the stack's mapping */
#define UNWIND_F_GO_WHOLE  0x4 /* go_ips end at the goroutine's first frame */

enum unwind_event_type {
	UNWIND_EV_ALLOC = 1,
	UNWIND_EV_FREE,
};

struct unwind_free_event {
	__u32 type; /* UNWIND_EV_FREE */
	__u32 tgid;
	__u64 token;
	__u64 size;
};

/* The unwind_frees map: a free the ring had no room for, by the block's token. */
struct unwind_free_deferred {
	__u32 tgid;
	__u32 pad;
	__u64 size;
};

struct unwind_event {
	__u32 type; /* UNWIND_EV_ALLOC */
	__u32 tgid;
	__u64 token;
	__u64 size;	/* bytes: the block's, or what a weighted sample stands for */
	__u64 key_size; /* alloc_key.size: the object's size when keyed by it (sampled), else 0 */
	__u32 tid;
	__u32 kind;	 /* enum alloc_kind */
	__u32 flags;	 /* UNWIND_F_* */
	__u32 stack_len; /* bytes of stack[] copied from regs[7] (rsp) up */
	__u64 bpf_ns;	 /* time the BPF side spent on the copy */
	/* TARGET_F_GO_CGO, a thread running C on the Go system stack: the goroutine that called
	 * into C, as return addresses from the one into runtime.cgocall outwards; 0 otherwise. */
	__u32 go_nr;
	__u32 duty; /* alloc_key.duty */
	__u64 go_ips[UNWIND_GO_MAX_FRAMES];
	__u64 regs[UNWIND_NR_REGS];
	__u8 stack[]; /* up to the configured copy size */
};

#endif
