// SPDX-License-Identifier: MIT
/* uprobe links: made as uprobe_multi links through the raw BPF_LINK_CREATE where the kernel has
 * them, and closed off the caller's thread (see links.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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
#include "util/thread.h"

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

int uprobe_multi__link_usdt(int prog_fd, const char *path, unsigned long offset, __u64 cookie,
			    unsigned long ref_ctr_offset, int pid)
{
	struct uprobe_multi_attr a = {
	    .prog_fd = prog_fd,
	    .attach_type = ATTACH_UPROBE_MULTI,
	    .path = (__u64)(uintptr_t)path,
	    .offsets = (__u64)(uintptr_t)&offset,
	    .ref_ctr_offsets = ref_ctr_offset ? (__u64)(uintptr_t)&ref_ctr_offset : 0,
	    .cookies = (__u64)(uintptr_t)&cookie,
	    .cnt = 1,
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

struct link_spec {
	int prog_fd;
	int file_fd;
	enum probe_at at;
	__u32 cnt;
	unsigned long *offsets;
	__u64 *cookies;
};

struct link_spec *link_spec__new(int prog_fd, int file_fd, const unsigned long *offsets,
				 const __u64 *cookies, __u32 cnt, enum probe_at at)
{
	struct link_spec *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->prog_fd = prog_fd; /* the program outlives every link (alloc_probes__free) */
	s->at = at;
	s->cnt = cnt;
	s->file_fd = fcntl(file_fd, F_DUPFD_CLOEXEC, 0);
	s->offsets = calloc(cnt, sizeof(*s->offsets));
	s->cookies = calloc(cnt, sizeof(*s->cookies));
	if (s->file_fd < 0 || !s->offsets || !s->cookies) {
		int err = s->file_fd < 0 ? errno : ENOMEM;

		link_spec__free(s);
		errno = err;
		return NULL;
	}
	memcpy(s->offsets, offsets, cnt * sizeof(*offsets));
	memcpy(s->cookies, cookies, cnt * sizeof(*cookies));
	return s;
}

int link_spec__attach(const struct link_spec *s, int pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", s->file_fd);
	return uprobe_multi__link(s->prog_fd, path, s->offsets, s->cookies, s->cnt, s->at, pid);
}

int link_spec__retprobe(const struct link_spec *s)
{
	return s->at == PROBE_AT_RETURN;
}

void link_spec__free(struct link_spec *s)
{
	if (!s)
		return;
	if (s->file_fd >= 0)
		close(s->file_fd);
	free(s->offsets);
	free(s->cookies);
	free(s);
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

void link_list__init(struct link_list *l)
{
	*l = (struct link_list){};
	pthread_mutex_init(&l->mu, NULL);
}

void link_list__fini(struct link_list *l, struct link_reaper *r)
{
	link_reaper__add(r, l->links, l->cnt);
	for (size_t i = 0; i < l->cnt; i++)
		link_spec__free(l->links[i].spec);
	free(l->links);
	pthread_mutex_destroy(&l->mu);
}

int link_list__add(struct link_list *l, const struct probe_link *pl)
{
	struct probe_link *nl;
	int err = 0;

	pthread_mutex_lock(&l->mu);
	if (l->cnt == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;

		nl = realloc(l->links, cap * sizeof(*nl));
		if (!nl) {
			err = -ENOMEM;
			goto cleanup;
		}
		l->links = nl;
		l->cap = cap;
	}
	l->links[l->cnt++] = *pl;
cleanup:
	pthread_mutex_unlock(&l->mu);
	return err;
}

int link_list__has_object(struct link_list *l, int pid, __u64 dev, __u64 ino)
{
	int found = 0;

	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < l->cnt && !found; i++)
		found = l->links[i].pid == pid && l->links[i].dev == dev && l->links[i].ino == ino;
	pthread_mutex_unlock(&l->mu);
	return found;
}

int link_list__has_pid(struct link_list *l, int pid)
{
	int found = 0;

	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < l->cnt && !found; i++)
		found = l->links[i].pid == pid;
	pthread_mutex_unlock(&l->mu);
	return found;
}

size_t link_list__take_pid(struct link_list *l, int pid, struct probe_link **out)
{
	struct probe_link *gone;
	size_t j = 0, n = 0;

	pthread_mutex_lock(&l->mu);
	gone = calloc(l->cnt ?: 1, sizeof(*gone));
	for (size_t i = 0; i < l->cnt; i++) {
		if (l->links[i].pid != pid) {
			l->links[j++] = l->links[i];
			continue;
		}
		link_spec__free(l->links[i].spec);
		l->links[i].spec = NULL;
		if (gone)
			gone[n++] = l->links[i];
		else
			probe_link__close(&l->links[i]);
	}
	l->cnt = j;
	pthread_mutex_unlock(&l->mu);
	*out = gone;
	return n;
}

size_t link_list__probe_count(struct link_list *l)
{
	size_t n = 0;

	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < l->cnt; i++)
		if (l->links[i].fd >= 0 || l->links[i].link)
			n += l->links[i].probes;
	pthread_mutex_unlock(&l->mu);
	return n;
}

/*
 * Detaching: the entries first, then the returns, so that a call whose entry ran still meets
 * its return; attaching: the returns first (as attach_object in alloc_probes.c). The closes
 * happen outside the lock, in that order: each waits for an RCU grace period.
 */
int link_list__set_side(struct link_list *l, int pid, int on)
{
	int closing[2][64], nclose[2] = {}, changed = 0, err = 0;

	pthread_mutex_lock(&l->mu);
	for (int pass = 0; pass < 2 && !err; pass++) {
		int want_ret = on ? pass == 0 : pass == 1;

		for (size_t i = 0; i < l->cnt; i++) {
			struct probe_link *pl = &l->links[i];

			if (pl->pid != pid || !pl->spec ||
			    link_spec__retprobe(pl->spec) != want_ret)
				continue;
			if (on && pl->fd < 0) {
				pl->fd = link_spec__attach(pl->spec, pid);
				if (pl->fd < 0) {
					err = pl->fd;
					break;
				}
				changed++;
			} else if (!on && pl->fd >= 0 && nclose[pass] < 64) {
				closing[pass][nclose[pass]++] = pl->fd;
				pl->fd = -1;
				changed++;
			}
		}
	}
	pthread_mutex_unlock(&l->mu);
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < nclose[pass]; i++)
			close(closing[pass][i]);
	return err ?: changed;
}

size_t link_list__cyclable_pids(struct link_list *l, int *pids, size_t max)
{
	size_t n = 0, j;

	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < l->cnt && n < max; i++) {
		if (!l->links[i].spec)
			continue;
		for (j = 0; j < n && pids[j] != l->links[i].pid; j++)
			;
		if (j == n)
			pids[n++] = l->links[i].pid;
	}
	pthread_mutex_unlock(&l->mu);
	return n;
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
		       !thread_start(&r->th[r->nth], reaper_run, r))
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
