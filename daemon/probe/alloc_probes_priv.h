/* SPDX-License-Identifier: MIT */
/* What alloc_probes.c shares with alloc_targets.c and runtime_probes.c alone: the state of the
 * loaded object and the attach helpers. Not for other modules (they use alloc_probes.h). */
#ifndef ALLOCSCOPE_ALLOC_PROBES_PRIV_H
#define ALLOCSCOPE_ALLOC_PROBES_PRIV_H

#include <pthread.h>
#include <sys/stat.h>

#include "alloc.skel.h"
#include "probe/alloc_probes.h"
#include "probe/links.h"
#include "probe/plan_cache.h"

/* The mmap tracepoints' links: three entries and their exits, or sys_enter/sys_exit's. */
#define MMAP_LINKS 6

struct alloc_probes {
	struct alloc_bpf *skel;
	struct ring_buffer *gc_rb;
	struct ring_buffer *life_rb; /* exec/fork events: the exec thread's alone */
	int (*gc_cb)(void *ctx, const struct gc_event *e);
	int (*life_cb)(void *ctx, const struct life_event *e);
	void *gc_ctx;
	void *life_ctx;
	int (*unwind_cb)(void *ctx, const void *data, size_t len);
	void *unwind_ctx;
	/* links and the targets map's values are also changed by the overhead budget's thread
	 * (alloc_probes__set_alloc_side, alloc_probes__set_duty) */
	pthread_mutex_t mu;
	struct link_list links;
	struct link_reaper *reaper; /* closes detached links in the background */
	struct plan_cache *plans;   /* per file: where the malloc family's probes go */
	/* The mmap/munmap tracepoints: attached while mmap_targets > 0 (see mmap_tracing_sync) */
	struct bpf_link *mmap_links[MMAP_LINKS];
	enum mmap_tracing mmap_mode;
	size_t mmap_targets;	 /* processes in the targets map with TARGET_F_MMAP */
	__u64 mmap_attaches;	 /* times the tracepoints were attached, for metrics */
	__u64 mmap_idle_since;	 /* CLOCK_MONOTONIC ns since no target needs them, or 0 */
	pthread_t mmap_detacher; /* closing the last set of them, while mmap_detaching */
	int mmap_detaching;
	__u64 sample_rate;
	int multi;   /* uprobe_multi links (kernel 6.6+): see uprobe_multi__supported */
	int session; /* the malloc family on uprobe sessions (kernel 6.13+): alloc_session */
	__u32 usdt_specs_used; /* entries of the usdt_specs map given out */
};

/* Into ap's links, or pl's when given (the exec thread's, adopted later under the lock). Takes
 * spec (may be NULL) on success. */
int ap_add_link(struct alloc_probes *ap, struct alloc_prelink *pl, int pid, const struct stat *st,
		struct bpf_link *l, int fd, __u32 probes, struct link_spec *spec);
/* Up to len bytes of the file at off; *got: how many. */
int ap_read_code(int fd, __u64 off, __u8 *buf, size_t len, size_t *got);
/* A failed attach: logged unless the process exited meanwhile; returns err. */
int ap_attach_failed(int pid, const char *path, const char *what, enum probe_at at, int err);
/* Attach prog at every site of l (see alloc_probes.c). */
int ap_attach_sites(struct alloc_probes *ap, struct alloc_prelink *pl, int pid, const char *path,
		    const struct stat *st, struct bpf_program *prog, const struct site_list *l,
		    enum probe_at at, const char *what, int spec_fd);

/* alloc_targets.c: the mmap tracepoints detached (at free); pid out of the targets map, the
 * tracepoints with the last target that needed them. */
void ap_mmap_detach(struct alloc_probes *ap);
void ap_remove_target(struct alloc_probes *ap, int pid);

#endif
