/* SPDX-License-Identifier: MIT */
/* One watched process, as record and the daemon see it: which probes it gets (the Go runtime's
 * sampler for Go programs, the malloc family for the rest, both for cgo), its Go runtime's
 * MemProfileRate, and its heap-delta timeline. */
#ifndef ALLOCSCOPE_WATCH_H
#define ALLOCSCOPE_WATCH_H

#include <limits.h>
#include <linux/types.h>

#include "probe/alloc_probes.h"
#include "symbols/goruntime.h"
#include "symbols/symbolize.h"
#include "symbols/target.h"
#include "profile/timeline.h"
#include "util/args.h"

enum watch_mode {
	WATCH_MODE_AUTO,
	WATCH_MODE_GO,
	WATCH_MODE_MALLOC,
	WATCH_MODE_BOTH,
};

struct watch_opts {
	enum watch_mode mode;
	int go_every_call; /* probe runtime.mallocgc on every call instead of the runtime's sampler
			    */
	__s64 go_set_rate; /* > 0: write runtime.MemProfileRate (asked for by name) */
	/* Before exec: the LD_PRELOAD the command will be started with (NULL: none). Its objects
	 * are probed with the executable, before the loader maps them. */
	const char *preload;
};

struct watch {
	struct target target;
	char exe_path[PATH_MAX]; /* where the executable was opened at attach */
	int is_go;
	struct go_runtime gr;
	int native;		 /* malloc family probed */
	int go;			 /* Go runtime probed */
	int source;		 /* enum alloc_source (probe/samplers.h): where allocations come
				    from */
	__u64 rate_addr;	 /* process address of runtime.MemProfileRate, 0 if unknown */
	__s64 go_rate;		 /* last value read, -1 before any read */
	int rate_reported;	 /* the "samples nothing" message was given */
	__u32 rate_written;	 /* times --go-set-rate wrote runtime.MemProfileRate */
	size_t reconciled_snaps; /* maps snapshots already checked for new allocators */
	struct timeline tl;
};

/* Parse "auto", "go", "malloc" or "both"; -EINVAL otherwise. Inline, so that the config parser
 * (and its fuzzer) need none of the probe code to read a mode. */
static inline int watch_mode__parse(const char *s, enum watch_mode *out)
{
	static const char *const names[] = {
	    [WATCH_MODE_AUTO] = "auto",
	    [WATCH_MODE_GO] = "go",
	    [WATCH_MODE_MALLOC] = "malloc",
	    [WATCH_MODE_BOTH] = "both",
	};
	int i = args__parse_name(s, names, sizeof(names) / sizeof(names[0]));

	if (i < 0)
		return i;
	*out = i;
	return 0;
}

/*
 * Attach to process pid, whose executable can be opened at exe. With pre_exec, the process is a
 * fork of ours that will exec exe: its current maps name our libc, which is the one the command
 * will map (and exe is probed itself if it carries an allocator). Returns 0 or -errno; -ENOENT
 * when there was nothing to probe.
 */
int watch__attach(struct watch *w, struct alloc_probes *ap, struct symbolizer *sym,
		  const struct watch_opts *o, int pid, const char *exe, int pre_exec);
/* The same with a target already read (target__init, maps), taken over by w (*t is left empty,
 * released or not): the exec thread reads it while the process surely lives. */
int watch__attach_target(struct watch *w, struct alloc_probes *ap, struct symbolizer *sym,
			 const struct watch_opts *o, struct target *t, const char *exe,
			 int pre_exec);

/*
 * Right after pid's exec, off the lock that guards ap and sym (the exec thread): probe the
 * allocators of its executable and of what ld.so mapped so far, else the libc it will map at
 * the usual paths; the links go into pl (alloc_probes__prelink). Objects probed, or -errno
 * (-ENOENT: nothing to probe; -ESRCH: it exited).
 */
int watch__prelink_exec(struct alloc_probes *ap, struct symbolizer *sym, pthread_mutex_t *sym_lock,
			int pid, struct alloc_prelink *pl);

/* The Go program is initialised (main.main ran, or an already running process): read
 * MemProfileRate, write it when asked to, and say plainly when the program samples nothing. */
void watch__runtime_ready(struct watch *w, const struct watch_opts *o);

/* A GC event of this process; appends a timeline point. */
void watch__gc_event(struct watch *w, const struct gc_event *e, __u64 mono_to_real_ns);
/* A timeline point now (interval). */
void watch__interval(struct watch *w, struct alloc_probes *ap);

/*
 * Probe allocators the process mapped since the last call (dlopen, or the libraries the dynamic
 * loader maps after an exec). Cheap when its maps did not change. Returns objects newly probed.
 */
int watch__reconcile(struct watch *w, struct alloc_probes *ap, struct symbolizer *sym);

/* The MemProfileRate to unsample Go samples with: the last value read, or 512 KiB. */
__u64 watch__go_rate(const struct watch *w);
/* The rate w's totals (proc_totals, its timeline) are unsampled at: the Go runtime's, or
 * native_rate; 1 for a process's own sampler, whose totals count weights. */
__u64 watch__totals_rate(const struct watch *w, __u64 native_rate, int go_every_call);
void watch__release(struct watch *w);

enum unwind_mode;
/* Unwind the process's native samples from CFI when mode says so for it (unwind_mode__cfi);
 * for a Go program, with the Go offsets that join C stacks to their goroutine. 1 when enabled,
 * 0 when not, -errno. */
int watch__enable_cfi(struct watch *w, struct alloc_probes *ap, enum unwind_mode mode);

#endif
