// SPDX-License-Identifier: MIT
/* Loads bpf/oom.bpf.c when the running kernel has the oom/mark_victim tracepoint (its BTF names
 * btf_trace_mark_victim) and hands its events to the daemon's loop. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "oom.skel.h"
#include "probe/oom_watch.h"
#include "util/log.h"

struct oom_watch {
	struct oom_bpf *skel;
	struct ring_buffer *rb;
	void (*cb)(void *ctx, const struct oom_event *e);
	void *ctx;
};

static int on_event(void *ctx, void *data, size_t len)
{
	struct oom_watch *ow = ctx;

	if (len >= sizeof(struct oom_event) && ow->cb)
		ow->cb(ow->ctx, data);
	return 0;
}

/* Checked before loading, so that a kernel without it is a clean "not available" and not a
 * verifier error in the log. */
static int have_mark_victim(void)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	int id;

	if (!vmlinux)
		return -errno;
	id = btf__find_by_name_kind(vmlinux, "btf_trace_mark_victim", BTF_KIND_TYPEDEF);
	btf__free(vmlinux);
	return id > 0 ? 0 : -EOPNOTSUPP;
}

struct oom_watch *oom_watch__new(int verbose)
{
	struct oom_watch *ow = NULL;
	int err;

	err = have_mark_victim();
	if (err)
		goto cleanup;
	ow = calloc(1, sizeof(*ow));
	if (!ow) {
		err = -ENOMEM;
		goto cleanup;
	}
	ow->skel = oom_bpf__open_and_load();
	if (!ow->skel) {
		err = -errno;
		log_warn("cannot load the OOM victim tracepoint program: %s", strerror(-err));
		goto cleanup;
	}
	err = oom_bpf__attach(ow->skel);
	if (err) {
		log_warn("cannot attach oom/mark_victim: %s", strerror(-err));
		goto cleanup;
	}
	ow->rb = ring_buffer__new(bpf_map__fd(ow->skel->maps.oom_events), on_event, ow, NULL);
	if (!ow->rb) {
		err = -errno;
		log_warn("cannot set up the OOM event ring buffer: %s", strerror(-err));
		goto cleanup;
	}
	if (verbose)
		log_info("oom/mark_victim attached: OOM kills of targets are snapshotted");
	return ow;
cleanup:
	oom_watch__free(ow);
	errno = -err;
	return NULL;
}

int oom_watch__fd(const struct oom_watch *ow)
{
	return ring_buffer__epoll_fd(ow->rb);
}

int oom_watch__poll(struct oom_watch *ow, void (*cb)(void *ctx, const struct oom_event *e),
		    void *ctx)
{
	int n;

	ow->cb = cb;
	ow->ctx = ctx;
	n = ring_buffer__consume(ow->rb);
	ow->cb = NULL;
	return n < 0 ? n : 0;
}

void oom_watch__free(struct oom_watch *ow)
{
	if (!ow)
		return;
	ring_buffer__free(ow->rb);
	oom_bpf__destroy(ow->skel);
	free(ow);
}
