/* SPDX-License-Identifier: MIT */
/* The BPF side of native allocation profiling: loads bpf/alloc.bpf.c configured from options,
 * attaches the malloc family of a process's allocator objects and the mmap tracepoints, and
 * gives the collector access to the maps. */
#ifndef ALLOCSCOPE_ALLOC_PROBES_H
#define ALLOCSCOPE_ALLOC_PROBES_H

#include <linux/types.h>

#include "alloc.h"
#include "procmaps.h"
#include "symbolize.h"

struct alloc_probes_opts {
	__u64 sample_rate;   /* mean bytes between samples; <= 1 records every allocation */
	__u32 stack_entries; /* 0: built-in defaults */
	__u32 stats_entries;
	__u32 live_entries;
	int verbose; /* show libbpf's own messages */
};

struct alloc_probes;

/* Open, configure and load the BPF object, and attach the mmap/munmap tracepoints. NULL and
 * errno on failure (logged). */
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
 * Probe every object mapped by pid (per maps; files opened below /proc/PID/root) that defines
 * malloc: its libc, the executable when statically linked, a preloaded allocator. Also records
 * pid as a target of the mmap tracepoints. Returns the number of objects probed, -ENOENT when
 * none defines an allocator, or -errno.
 */
int alloc_probes__attach_pid(struct alloc_probes *ap, struct symbolizer *sym, int pid,
			     const struct proc_maps *maps);
/* Record pid as a target of the mmap tracepoints (attach_pid does this). */
int alloc_probes__add_target(struct alloc_probes *ap, int pid);
/* Whether an object with this device and inode is probed for pid. */
int alloc_probes__has_object(struct alloc_probes *ap, int pid, __u64 dev, __u64 ino);
void alloc_probes__detach_pid(struct alloc_probes *ap, int pid);

int alloc_probes__stats_fd(const struct alloc_probes *ap);
int alloc_probes__stacks_fd(const struct alloc_probes *ap);
int alloc_probes__live_fd(const struct alloc_probes *ap);
__u64 alloc_probes__sample_rate(const struct alloc_probes *ap);
/* The BPF side's counters (enum alloc_counter). */
void alloc_probes__counters(const struct alloc_probes *ap, __u64 out[ALLOC_CNT_MAX]);
/* Name of an allocator kind ("malloc", "mmap"). */
const char *alloc_kind__name(__u32 kind);

#endif
