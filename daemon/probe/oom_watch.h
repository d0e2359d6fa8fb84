/* SPDX-License-Identifier: MIT */
/* The OOM killer's victims as they are chosen (bpf/oom.bpf.c on the oom/mark_victim BTF
 * tracepoint), through a ring buffer the daemon's loop polls. Absent on kernels without it. */
#ifndef ALLOCSCOPE_OOM_WATCH_H
#define ALLOCSCOPE_OOM_WATCH_H

#include "bpf/oom.h"

struct oom_watch;

/* Load and attach. NULL and errno: EOPNOTSUPP when the running kernel's BTF has no
 * mark_victim tracepoint (logged once by the caller), others when loading failed (logged). */
struct oom_watch *oom_watch__new(int verbose);
/* The ring buffer's epoll fd, readable when a victim was chosen. */
int oom_watch__fd(const struct oom_watch *ow);
/* Hand every pending event to cb. 0 or -errno. */
int oom_watch__poll(struct oom_watch *ow, void (*cb)(void *ctx, const struct oom_event *e),
		    void *ctx);
void oom_watch__free(struct oom_watch *ow); /* accepts NULL */

#endif
