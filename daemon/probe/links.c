// SPDX-License-Identifier: MIT
/* uprobe links: made as uprobe_multi links through the raw BPF_LINK_CREATE where the kernel has
 * them, and closed off the caller's thread (see links.h). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "probe/links.h"
#include "util/common.h"

/*
 * uprobe_multi links (kernel 6.6+): one link attaches a program at many offsets of one file,
 * and closing it waits for one RCU grace period, where a perf-event uprobe waits for one per
 * probe, serialized in the kernel (~85 ms each here: 17 probes per process, seconds per exit).
 * Debian 12's headers (6.1) and libbpf 1.1 predate them: the attach type and link_create's
 * fields below are the kernel's ABI (include/uapi/linux/bpf.h).
 */
#define UPROBE_MULTI_RETURN 1

struct uprobe_multi_attr {
	__u32 prog_fd;
	__u32 target_fd;
	__u32 attach_type;
	__u32 flags;
	__u64 path;
	__u64 offsets; /* unsigned long[cnt]: file offsets */
	__u64 ref_ctr_offsets;
	__u64 cookies; /* __u64[cnt] */
	__u32 cnt;
	__u32 multi_flags;
	__u32 pid; /* only this process's mm gets the breakpoints */
	__u32 pad;
};

/* A uprobe_multi link fd, or -errno. */
int uprobe_multi__link(int prog_fd, const char *path, const unsigned long *offsets,
		       const __u64 *cookies, __u32 cnt, enum probe_at at, int pid)
{
	struct uprobe_multi_attr a = {
	    .prog_fd = prog_fd,
	    .attach_type = at == PROBE_AT_SESSION ? ATTACH_UPROBE_SESSION : ATTACH_UPROBE_MULTI,
	    .path = (__u64)(uintptr_t)path,
	    .offsets = (__u64)(uintptr_t)offsets,
	    .cookies = (__u64)(uintptr_t)cookies,
	    .cnt = cnt,
	    .multi_flags = at == PROBE_AT_RETURN ? UPROBE_MULTI_RETURN : 0,
	    .pid = pid,
	};
	long fd = syscall(__NR_bpf, BPF_LINK_CREATE, &a, sizeof(a));

	return fd < 0 ? -errno : (int)fd;
}

/*
 * Whether this kernel links a trivial program of attach type at: linked to a directory, it fails
 * with EBADF where the kernel has that kind of link, and with EINVAL where it does not know the
 * attach type (libbpf 1.3 probes uprobe_multi the same way).
 */
static int link_kind_supported(enum probe_at at, const char *name)
{
	const struct bpf_insn insns[] = {
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
	    {.code = BPF_JMP | BPF_EXIT},
	};
	LIBBPF_OPTS(bpf_prog_load_opts, o,
		    .expected_attach_type =
			at == PROBE_AT_SESSION ? ATTACH_UPROBE_SESSION : ATTACH_UPROBE_MULTI);
	unsigned long off = 0;
	int prog_fd, fd;

	prog_fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, name, "GPL", insns, ARRAY_SIZE(insns), &o);
	if (prog_fd < 0)
		return 0;
	fd = uprobe_multi__link(prog_fd, "/", &off, NULL, 1, at, 0);
	close(prog_fd);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return fd == -EBADF;
}

/* ALLOCSCOPE_UPROBE_MULTI=0 in the environment keeps perf-event uprobes (to compare them). */
int uprobe_multi__supported(void)
{
	const char *env = getenv("ALLOCSCOPE_UPROBE_MULTI");

	if (env && !strcmp(env, "0"))
		return 0;
	return link_kind_supported(PROBE_AT_ENTRY, "probe_umulti");
}

/* ALLOCSCOPE_UPROBE_SESSION=0 keeps entry+return probes (as --no-uprobe-session does; tests run
 * whole suites so). */
int uprobe_session__supported(void)
{
	const char *env = getenv("ALLOCSCOPE_UPROBE_SESSION");

	if (env && !strcmp(env, "0"))
		return 0;
	return link_kind_supported(PROBE_AT_SESSION, "probe_usession");
}

void probe_link__close(const struct probe_link *l)
{
	if (l->link)
		bpf_link__destroy(l->link);
	else if (l->fd >= 0)
		close(l->fd);
}

#define DESTROY_THREADS 16

/*
 * Closing a uprobe's perf event waits for an RCU grace period in the kernel (~85 ms here), one
 * after the other: 17 probes of one process take 1.5 s. The links to close go to a queue that up
 * to DESTROY_THREADS threads empty, so the waits overlap and the caller (the daemon's loop, which
 * detaches every watched process that exits) never waits for them. Falls back to closing in the
 * caller when no thread can be had.
 */
struct link_reaper {
	pthread_mutex_t mu;
	pthread_cond_t work; /* links queued, or stop */
	pthread_cond_t idle; /* the queue is empty and nothing is being closed */
	struct probe_link *q;
	size_t cnt, cap;
	size_t busy;	/* links being closed now */
	size_t waiting; /* threads waiting for work */
	int nth;
	int stop;
	pthread_t th[DESTROY_THREADS];
};

static void *reaper_run(void *arg)
{
	struct link_reaper *r = arg;
	struct probe_link l;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->cnt && !r->stop) {
			r->waiting++;
			pthread_cond_wait(&r->work, &r->mu);
			r->waiting--;
		}
		if (!r->cnt)
			break;
		l = r->q[--r->cnt];
		r->busy++;
		pthread_mutex_unlock(&r->mu);
		probe_link__close(&l);
		pthread_mutex_lock(&r->mu);
		r->busy--;
		if (!r->cnt && !r->busy)
			pthread_cond_broadcast(&r->idle);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

struct link_reaper *link_reaper__new(void)
{
	struct link_reaper *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->work, NULL);
	pthread_cond_init(&r->idle, NULL);
	return r;
}

/* Queue links to be closed; closes them here if they cannot be queued. */
void link_reaper__add(struct link_reaper *r, const struct probe_link *links, size_t n)
{
	size_t i = 0;

	if (r) {
		pthread_mutex_lock(&r->mu);
		if (r->cnt + n > r->cap) {
			size_t cap = max_t(size_t, r->cnt + n, r->cap * 2);
			struct probe_link *q = realloc(r->q, cap * sizeof(*q));

			if (q) {
				r->q = q;
				r->cap = cap;
			}
		}
		for (; i < n && r->cnt < r->cap; i++)
			r->q[r->cnt++] = links[i];
		/* One more thread while there is more work than threads waiting for it. */
		while (r->nth < DESTROY_THREADS && r->cnt > r->waiting &&
		       !pthread_create(&r->th[r->nth], NULL, reaper_run, r))
			r->nth++;
		if (!r->nth) {
			/* No thread: take the links back and close them below. */
			i -= min_t(size_t, i, r->cnt);
			r->cnt = 0;
		}
		pthread_cond_broadcast(&r->work);
		pthread_mutex_unlock(&r->mu);
	}
	for (; i < n; i++)
		probe_link__close(&links[i]);
}

/* Wait until every queued link is closed. */
void link_reaper__wait(struct link_reaper *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	while (r->cnt || r->busy)
		pthread_cond_wait(&r->idle, &r->mu);
	pthread_mutex_unlock(&r->mu);
}

/* Wait until every queued link is closed, and stop the threads. */
void link_reaper__free(struct link_reaper *r)
{
	if (!r)
		return;
	link_reaper__wait(r);
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_broadcast(&r->work);
	pthread_mutex_unlock(&r->mu);
	for (int t = 0; t < r->nth; t++)
		pthread_join(r->th[t], NULL);
	pthread_cond_destroy(&r->idle);
	pthread_cond_destroy(&r->work);
	pthread_mutex_destroy(&r->mu);
	free(r->q);
	free(r);
}
