/* SPDX-License-Identifier: MIT */
/* The BPF side of native allocation profiling: loads bpf/alloc.bpf.c configured from options,
 * attaches the malloc family of a process's allocator objects and the mmap tracepoints, and
 * gives the collector access to the maps. */
#ifndef ALLOCSCOPE_ALLOC_PROBES_H
#define ALLOCSCOPE_ALLOC_PROBES_H

#include <pthread.h>
#include <linux/types.h>

#include "bpf/alloc.h"
#include "bpf/sampler.h"
#include "probe/links.h"
#include "symbols/procmaps.h"
#include "symbols/symbolize.h"

struct alloc_probes_opts {
	__u64 sample_rate;   /* mean bytes between samples; <= 1 records every allocation */
	__u32 stack_entries; /* 0: built-in defaults */
	__u32 stats_entries;
	__u32 live_entries;
	int verbose;		 /* show libbpf's own messages */
	int watch_procs;	 /* report execs and forks of watched processes (the daemon) */
	__u32 stack_copy_bytes;	 /* CFI unwinding: user stack copied per sample; 0 turns it off */
	__u32 unwind_ring_bytes; /* room for unwind events (power of 2); 0: 8 MiB */
	int no_session;		 /* entry+return probes even where the kernel has uprobe sessions */
	int mmap_every_syscall;	 /* see mmap/munmap/mremap on every syscall's BTF tracepoints,
				    as where there is no tracefs (the tests of that path) */
};

struct alloc_probes;

/* Files whose probe placement is remembered (probe/plan_cache.h). */
#define PLAN_CACHE_FILES 256

/* Links made for one process off the global lock (the exec thread), until adopted. */
struct alloc_prelink {
	int pid;
	struct probe_link *links;
	size_t cnt;
	size_t cap;
};

/* Open, configure and load the BPF object. NULL and errno on failure (logged). The mmap/munmap
 * tracepoints are attached later, while some target has TARGET_F_MMAP. */
struct alloc_probes *alloc_probes__new(const struct alloc_probes_opts *opts);
void alloc_probes__free(struct alloc_probes *ap);

/*
 * Probe the malloc family in one ELF object for process pid. path is where the object can be
 * opened from here. Returns the number of functions probed (0 when the object defines no
 * allocator) or -errno.
 */
int alloc_probes__attach_object(struct alloc_probes *ap, struct symbolizer *sym, int pid,
				const char *path);
/*
 * As alloc_probes__attach_object(), callable without the lock that guards ap and sym: the links
 * go into pl, ap is only read, and sym is used (on a file whose plan is not cached yet) with
 * sym_lock held. The probes are live when it returns; alloc_probes__adopt() then hands the
 * links to ap under the lock, alloc_probes__prelink_release() closes what was not adopted.
 */
int alloc_probes__prelink(struct alloc_probes *ap, struct symbolizer *sym,
			  pthread_mutex_t *sym_lock, int pid, const char *path,
			  const struct proc_mapping *m, struct alloc_prelink *pl);
/* Put pid in the targets map with flags other than TARGET_F_MMAP (the exec thread, before its
 * probes go live: any thread), or take it out again; -EEXIST when it is there already. */
int alloc_probes__preset_target(struct alloc_probes *ap, int pid, __u32 flags);
void alloc_probes__unpreset_target(struct alloc_probes *ap, int pid);
/* Whether pid is in the targets map (any thread: a map lookup). */
int alloc_probes__is_target(const struct alloc_probes *ap, int pid);
/* Whether pid has links (with the lock). */
int alloc_probes__has_pid(const struct alloc_probes *ap, int pid);
int alloc_probes__adopt(struct alloc_probes *ap, struct alloc_prelink *pl);
void alloc_probes__prelink_release(struct alloc_probes *ap, struct alloc_prelink *pl);
/* The exec/fork ring (struct life_event), consumed on a thread of its own: its epoll fd, and
 * a read of what is there into cb. */
int alloc_probes__life_fd(const struct alloc_probes *ap);
int alloc_probes__poll_life(struct alloc_probes *ap,
			    int (*cb)(void *ctx, const struct life_event *e), void *ctx);
/* Hits, misses and evictions of the per-file probe plans. */
void alloc_probes__plan_stats(struct alloc_probes *ap, __u64 *hits, __u64 *misses,
			      __u64 *evictions);
/*
 * Probe every object mapped by pid (per maps; files opened below /proc/PID/root) that defines
 * malloc: its libc, the executable when statically linked, a preloaded allocator. Returns the
 * number of objects probed, -ENOENT when none defines an allocator, or -errno. The caller says
 * whether pid's anonymous mmaps are recorded (alloc_probes__add_target).
 */
int alloc_probes__attach_pid(struct alloc_probes *ap, struct symbolizer *sym, int pid,
			     const struct proc_maps *maps);
#define GO_ATTACH_SAMPLER    0x1 /* runtime.mProf_Malloc and runtime.freeSpecial */
#define GO_ATTACH_EVERY_CALL 0x2 /* runtime.mallocgc, sampled in BPF */
#define GO_ATTACH_GC	     0x4 /* runtime.gcStart, runtime.gcMarkTermination, runtime.main */

struct go_runtime;

/*
 * Probe the Go runtime of the executable at path (opened from here) for process pid: what is a
 * mask of GO_ATTACH_*. Entry probes only: a uretprobe would crash Go (goroutine stacks move).
 * Returns the number of functions probed or -errno.
 */
int alloc_probes__attach_go(struct alloc_probes *ap, int pid, const char *path,
			    const struct go_runtime *gr, unsigned int what);
struct usdt_note;
/*
 * Attach the otel_memory:alloc or otel_memory:free program (probe) at USDT note n of the object
 * open at fd (path names it in messages) for process pid, with its semaphore counted while
 * attached. 0 or -errno.
 */
int alloc_probes__attach_usdt(struct alloc_probes *ap, int pid, const char *path, int fd,
			      const struct usdt_note *n, enum sampler_probe probe);
/* Poll GC events (struct gc_event) into cb, and with watch_procs lifecycle events (struct
 * life_event) into life_cb (may be NULL); the fd to wait on is alloc_probes__gc_fd(). */
int alloc_probes__gc_fd(const struct alloc_probes *ap);
int alloc_probes__poll_gc(struct alloc_probes *ap, int (*cb)(void *ctx, const struct gc_event *e),
			  void *ctx);
int alloc_probes__poll_events(struct alloc_probes *ap,
			      int (*gc_cb)(void *ctx, const struct gc_event *e),
			      int (*life_cb)(void *ctx, const struct life_event *e), void *ctx);

/* What the syscall tracepoints record for pid: TARGET_F_* flags (0: nothing). The tracepoints
 * are attached while some process has TARGET_F_MMAP, and detached by alloc_probes__mmap_tick
 * once none has for a while, or at alloc_probes__free; -errno when they cannot be attached. */
int alloc_probes__add_target(struct alloc_probes *ap, int pid, __u32 flags);
/* How the mmap/munmap tracepoints are attached now. */
enum mmap_tracing {
	MMAP_TRACING_OFF,	    /* not attached: no target needs them */
	MMAP_TRACING_SYSCALLS,	    /* syscalls/sys_{enter,exit}_mmap, sys_enter_munmap */
	MMAP_TRACING_EVERY_SYSCALL, /* BTF sys_enter/sys_exit (no tracefs) */
};
/* attaches (may be NULL): how many times they were attached so far; targets (may be NULL): the
 * processes that need them now. */
enum mmap_tracing alloc_probes__mmap_tracing(const struct alloc_probes *ap, __u64 *attaches,
					     size_t *targets);
/* Detach the mmap tracepoints (on a thread of their own) when no target has needed them for
 * grace_ns: a burst of short-lived processes attaches them once, not once each. */
void alloc_probes__mmap_tick(struct alloc_probes *ap, __u64 grace_ns);
/* The overhead budget may gate processes' allocation sides (the probes then read
 * TARGET_F_ALLOC_OFF on every call). */
void alloc_probes__set_alloc_gated(struct alloc_probes *ap, int on);
/* Gate pid's allocation side off (before its links go) or on (after they are back): its probes
 * record nothing while off, and free_hits_on counts only frees while on. 0 or -errno. */
int alloc_probes__gate_alloc_side(struct alloc_probes *ap, int pid, int off);
/* Add flags to pid's TARGET_F_* flags (TARGET_F_CFI: unwind its samples from CFI). */
int alloc_probes__set_target_flags(struct alloc_probes *ap, int pid, __u32 flags);
/* A cgo program in CFI mode: its native samples also carry the calling goroutine's frames,
 * read with these Go struct offsets (sets TARGET_F_GO_CGO). */
int alloc_probes__set_go_layout(struct alloc_probes *ap, int pid, const struct go_layout *l);
/* Where unwind events (struct unwind_event, struct unwind_free_event) go when the rings are
 * polled (alloc_probes__poll_events); only with stack_copy_bytes set. */
void alloc_probes__set_unwind_cb(struct alloc_probes *ap,
				 int (*cb)(void *ctx, const void *data, size_t len), void *ctx);
/* Whether an object with this device and inode is probed for pid. */
int alloc_probes__has_object(struct alloc_probes *ap, int pid, __u64 dev, __u64 ino);
/* Remove pid's probes. Their links close in background threads (the kernel takes ~85 ms each);
 * with wait, this returns once they are closed: for a process still running (it exec'ed another
 * program), whose probes would otherwise go on recording a moment longer. */
void alloc_probes__detach_pid(struct alloc_probes *ap, int pid, int wait);

/*
 * The overhead budget (probe/overhead.c). Detach (on = 0) or attach again pid's allocation-side
 * links (the malloc family's entries and returns; its free probes stay attached, so that blocks
 * sampled earlier retire exactly): the number of links changed or -errno. Only uprobe_multi
 * links can be (alloc_probes__multi).
 */
int alloc_probes__set_alloc_side(struct alloc_probes *ap, int pid, int on);
/* The processes with allocation-side links that can be duty-cycled, up to max. */
size_t alloc_probes__cyclable_pids(struct alloc_probes *ap, int *pids, size_t max);
/* Set the duty cycle that pid's samples are recorded under (alloc_key.duty; 0: none). */
int alloc_probes__set_duty(struct alloc_probes *ap, int pid, __u16 duty);
/* The program that prices a trap (bpf/alloc.bpf.c calibrate). */
struct bpf_program *alloc_probes__calibrate_prog(const struct alloc_probes *ap);
int alloc_probes__multi(const struct alloc_probes *ap);

int alloc_probes__stats_fd(const struct alloc_probes *ap);
int alloc_probes__stacks_fd(const struct alloc_probes *ap);
int alloc_probes__live_fd(const struct alloc_probes *ap);
__u64 alloc_probes__sample_rate(const struct alloc_probes *ap);
/* How the malloc family's calls are probed: "uprobe sessions" (kernel 6.13+; an unsampled call
 * takes no return trap) or "entry+return probes". */
const char *alloc_probes__scheme(const struct alloc_probes *ap);
/* The fd of a loaded program by name ("alloc_session"), for tests reading its run count; -errno
 * when it is not loaded. */
int alloc_probes__prog_fd(const struct alloc_probes *ap, const char *name);
/* Raw sampled totals of process pid; zeros when it has none yet. */
void alloc_probes__totals(const struct alloc_probes *ap, int pid, struct proc_totals *out);
void alloc_probes__forget_totals(struct alloc_probes *ap, int pid);
/* Stack ids are below this (a power of two, twice the stack map's max_entries or more). */
__u32 alloc_probes__stack_id_space(const struct alloc_probes *ap);
/* Entries in use now, by map name ("stats", "live", "stacks"), for metrics; -errno if unknown. */
long alloc_probes__map_fill(const struct alloc_probes *ap, const char *map, __u32 *capacity);
/* uprobe links attached now. */
size_t alloc_probes__link_count(const struct alloc_probes *ap);
/* The BPF side's counters (enum alloc_counter). */
void alloc_probes__counters(const struct alloc_probes *ap, __u64 out[ALLOC_CNT_MAX]);
/* Name of an allocator kind ("malloc", "mmap"). */
const char *alloc_kind__name(__u32 kind);

#endif
