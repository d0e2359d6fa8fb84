/* SPDX-License-Identifier: MIT */
/* A standalone profiling session of the CLI (record, top, and timeline through record): the BPF
 * probes loaded here, one process attached (running, or a command held before exec), its GC
 * events and CFI samples drained, and heap profiles built from what the kernel holds. */
#ifndef ALLOCSCOPE_CLI_SESSION_H
#define ALLOCSCOPE_CLI_SESSION_H

#include <linux/types.h>

#include "probe/alloc_probes.h"
#include "probe/collect.h"
#include "probe/overhead.h"
#include "probe/unwind.h"
#include "probe/watch.h"
#include "profile/heap_profile.h"
#include "symbols/symbolize.h"

/* The CFI ring of a standalone session (the daemon's is BUDGET_UNWIND_RING_BYTES). */
#define SESSION_UNWIND_RING_BYTES (32u << 20)

struct session_opts {
	__u64 rate; /* mean bytes between samples */
	int verbose;
	__u32 max_stacks; /* 0: built-in defaults */
	__u32 max_live;
	__u32 max_stats;
	enum unwind_mode unwind;
	__u32 stack_copy_bytes; /* with a CFI unwind mode; 0: UNWIND_STACK_COPY_DEFAULT */
	struct watch_opts watch;
	int timeline;		     /* GC events become timeline points (w.tl) */
	double max_overhead_pct;     /* --max-overhead; 0: none */
	const char *const *wrappers; /* --wrapper expressions */
	size_t wrapper_cnt;
	int no_session; /* --no-uprobe-session: entry+return probes where sessions exist */
};

/* Fields are read by the commands; session__* functions change them. */
struct session {
	struct session_opts o;
	struct alloc_probes *ap;
	struct overhead *ov; /* the overhead budget's controller */
	struct symbolizer *sym;
	struct unwinder *uw;	   /* CFI samples, unwound as their events arrive; NULL with fp */
	struct wrappers *wrappers; /* compiled o.wrappers */
	struct watch w;		   /* the process, once attached */
	struct stack_cache *cache;
	struct entry_set entries; /* what session__build reads from the kernel */
	int attached;
	int pidfd; /* the attached process's, -1 if none */
	__u64 start_mono_ns;
	__u64 start_real_ns;
};

/* Load the probes (and the symbolizer, and the unwinder with a CFI mode). Errors are logged.
 * 0 or -errno; session__close() in every case. */
int session__open(struct session *s, const struct session_opts *o);
/* Attach to a running process: a missing process, nothing to probe or a failed attach are
 * logged, as -ESRCH, -ENOENT or -errno. Its runtime is read at once and a pidfd opened. */
int session__attach_pid(struct session *s, int pid);
/* Attach to a fork of ours that will exec exe (see watch__attach); errors logged. */
int session__attach_child(struct session *s, int pid, const char *exe);
/* Handle the GC events queued (main.main: the Go runtime is ready; the others: timeline points
 * with o.timeline). */
void session__poll_gc(struct session *s);
/* The fd that polls readable when GC events are queued. */
int session__gc_fd(const struct session *s);
/* A heap profile of everything sampled since the session started. 0 or -errno, not logged. */
int session__build(struct session *s, struct pprof_builder **pb, struct heap_profile_summary *sum);
void session__close(struct session *s);

#endif
