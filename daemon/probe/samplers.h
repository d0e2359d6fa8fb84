/* SPDX-License-Identifier: MIT */
/* Where a process's allocations are seen from: a sampler inside the process (the OpenTelemetry
 * memory USDTs), the Go runtime's sampler, or probes on every allocator call. Finds what a
 * process offers, cheapest first, and attaches it. */
#ifndef ALLOCSCOPE_SAMPLERS_H
#define ALLOCSCOPE_SAMPLERS_H

#include "probe/alloc_probes.h"
#include "symbols/procmaps.h"

enum alloc_source {
	ALLOC_SOURCE_NONE,
	ALLOC_SOURCE_USDT,	 /* otel_memory:alloc/free: only sampled allocations trap */
	ALLOC_SOURCE_GO,	 /* the Go runtime's sampler (runtime.mProf_Malloc) */
	ALLOC_SOURCE_EVERY_CALL, /* the malloc family, every call traps, sampled in BPF */
};

/* "otel_memory USDT", "Go runtime sampler", "every malloc call" ... */
const char *alloc_source__name(enum alloc_source s);

/*
 * Attach otel_memory:alloc and otel_memory:free in every object of pid that carries them: exe
 * (opened from here) and the file mappings of maps. The number of alloc probes attached (0: the
 * process has none), or -errno.
 */
int samplers__attach_usdt(struct alloc_probes *ap, int pid, const char *exe,
			  const struct proc_maps *maps);

/* The next path of an LD_PRELOAD list (separated by ':' or spaces) into path; names without a
 * slash, which ld.so looks up in the library path, are skipped. NULL at the list's end. */
const char *samplers__preload_next(const char *list, char *path, size_t size);

/*
 * Before exec: the same for the objects the command will be started with in LD_PRELOAD (list:
 * paths separated by ':' or spaces, as ld.so reads it), which the loader maps before main and
 * maps alone show too late. The number of alloc probes attached, or -errno.
 */
int samplers__attach_usdt_preload(struct alloc_probes *ap, int pid, const char *list);

/* Whether the executable at exe carries otel_memory probes (the exec thread leaves such a
 * process to the path that attaches them rather than every-call probes). */
int samplers__exe_has_usdt(const char *exe);

#endif
