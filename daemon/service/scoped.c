// SPDX-License-Identifier: MIT
/*
 * allocscoped's core. The main thread owns the loop: it waits for signals and BPF events, and
 * on every interval drains the kernel maps into each target's cumulative entries and a delta
 * snapshot; libmicrohttpd's thread answers requests from the same state under one lock.
 * Memory is bounded by configuration: snapshots older than the retention, or beyond
 * max_history_entries, are dropped oldest first and counted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <json-c/json.h>

#include "service/cgroup.h"
#include "probe/collect.h"
#include "util/common.h"
#include "profile/heap_profile.h"
#include "service/httpd.h"
#include "util/log.h"
#include "profile/pprof.h"
#include "service/push.h"
#include "probe/sampling.h"
#include "service/scoped.h"

struct snapshot {
	__u64 start_ns; /* wall clock: the drain before */
	__u64 end_ns;
	struct packed_set delta; /* the entries that changed, by how much */
};

struct dtarget {
	struct watch w;
	int pidfd;
	int alive;
	__u64 attach_ns; /* wall clock */
	__u64 exit_ns;
	__u64 last_drain_ns;
	struct cgroup_info cg;
	char exe[256];
	char comm[32];
	struct entry_set cur;  /* cumulative, as of the last drain */
	__u64 pushed_until_ns; /* --push: snapshots up to here were sent */
	struct snapshot *hist; /* oldest first */
	size_t hist_cnt;
	size_t hist_cap;
};

struct go_cache_entry {
	dev_t dev;
	ino_t ino;
	int is_go;
};

struct scoped {
	pthread_mutex_t lock;
	struct scoped_opts *o;
	struct alloc_probes *ap;
	struct symbolizer *sym;
	struct stack_cache *cache;
	struct unwinder *uw; /* CFI samples; NULL with --unwind fp */
	struct httpd *http;
	struct pusher *pusher;
	struct dtarget **t;
	size_t cnt;
	size_t cap;
	struct go_cache_entry *go_cache;
	size_t go_cache_cnt;
	char host[256];
	int self_pid;
	int forgotten; /* processes forgotten since the last stack GC */
	/* for /metrics */
	__u64 drains;
	__u64 last_drain_mono_ns;
	__u64 drain_ns_last;
	__u64 drain_ns_total;
	__u64 snapshots_dropped;
	__u64 targets_released;
	__u64 exited_dropped; /* exited processes released early: over --max-exited */
	__u64 attach_failures;
	__u64 stacks_collected;
	__u64 pushes;
	__u64 push_failures;
};

/* ---- process identity ---- */

static int read_comm(int pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, len, f))
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
	return 0;
}

static int read_exe(int pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* Whether the process runs a Go executable; one parse per (device, inode). */
static int is_go_process(struct scoped *d, int pid)
{
	struct go_runtime gr;
	char path[64];
	struct stat st;
	struct go_cache_entry *n;
	int is_go;

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	if (stat(path, &st))
		return 0;
	for (size_t i = 0; i < d->go_cache_cnt; i++)
		if (d->go_cache[i].dev == st.st_dev && d->go_cache[i].ino == st.st_ino)
			return d->go_cache[i].is_go;
	is_go = goruntime__inspect(path, &gr) == 0;
	n = realloc(d->go_cache, (d->go_cache_cnt + 1) * sizeof(*n));
	if (n) {
		d->go_cache = n;
		d->go_cache[d->go_cache_cnt++] =
		    (struct go_cache_entry){st.st_dev, st.st_ino, is_go};
	}
	return is_go;
}

static int selected(struct scoped *d, int pid)
{
	char exe[PATH_MAX] = "", comm[32] = "";
	struct cgroup_info cg;
	int have_exe = 0, have_comm = 0, have_cg = 0;

	if (pid == d->self_pid)
		return 0;
	for (size_t i = 0; i < d->o->sel_cnt; i++) {
		const struct selector *s = &d->o->sels[i];

		switch (s->kind) {
		case SELECT_PID:
			if (s->pid == pid)
				return 1;
			break;
		case SELECT_EXE:
			if (!have_exe && !(have_exe = !read_exe(pid, exe, sizeof(exe))))
				have_exe = -1;
			if (have_exe > 0 && !fnmatch(s->value, exe, 0))
				return 1;
			break;
		case SELECT_COMM:
			if (!have_comm && !(have_comm = !read_comm(pid, comm, sizeof(comm))))
				have_comm = -1;
			if (have_comm > 0 && !strcmp(s->value, comm))
				return 1;
			break;
		case SELECT_CGROUP:
			if (!have_cg && !(have_cg = !cgroup__read(NULL, pid, &cg)))
				have_cg = -1;
			if (have_cg > 0 && !strncmp(cg.path, s->value, strlen(s->value)))
				return 1;
			break;
		case SELECT_ALL_GO:
			if (is_go_process(d, pid))
				return 1;
			break;
		}
	}
	return 0;
}

/* ---- targets ---- */

static struct dtarget *find_alive(struct scoped *d, int pid)
{
	for (size_t i = 0; i < d->cnt; i++)
		if (d->t[i]->alive && d->t[i]->w.target.pid == pid)
			return d->t[i];
	return NULL;
}

static void snapshot_free(struct snapshot *s)
{
	packed_set__clear(&s->delta);
}

static void dtarget_free(struct dtarget *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->hist_cnt; i++)
		snapshot_free(&t->hist[i]);
	free(t->hist);
	entry_set__clear(&t->cur);
	watch__release(&t->w);
	if (t->pidfd >= 0)
		close(t->pidfd);
	free(t);
}

static int watch_pid(struct scoped *d, int pid, const char *why)
{
	struct dtarget *t, **n;
	char exe[64];
	int err;

	if (find_alive(d, pid))
		return 0;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->pidfd = -1;
	/* Named before attaching: a short-lived fork child may be gone by the time it is done. */
	read_exe(pid, t->exe, sizeof(t->exe));
	read_comm(pid, t->comm, sizeof(t->comm));
	cgroup__read(NULL, pid, &t->cg);
	snprintf(exe, sizeof(exe), "/proc/%d/exe", pid);
	err = watch__attach(&t->w, d->ap, d->sym, &d->o->watch, pid, exe, 0);
	if (err) {
		/* Undo what did attach before the failure, and what it recorded meanwhile. */
		alloc_probes__detach_pid(d->ap, pid, target__running(pid));
		collect__forget_pid(d->ap, pid);
		log_debug("pid %d (%s): not watched: %s", pid, why, strerror(-err));
		/* Short-lived processes often exit while being attached: not a failure. */
		if (err != -ESRCH && kill(pid, 0) == 0) {
			d->attach_failures++;
			log_warn("cannot watch pid %d (%s): %s", pid, why,
				 err == -ENOENT ? "nothing to probe" : strerror(-err));
		}
		dtarget_free(t);
		return err;
	}
	watch__runtime_ready(&t->w, &d->o->watch);
	/* As record --unwind. */
	if (d->uw)
		watch__enable_cfi(&t->w, d->ap, d->o->unwind);
	/* Matched at exec, its maps were read before ld.so mapped the libraries; by now (the
	 * probes took a while to go in) it has mostly done so. Read them again: a process that
	 * exits before the next drain leaves its CFI samples these modules to be unwound with. */
	if (target__refresh_maps(&t->w.target) == 0)
		watch__reconcile(&t->w, d->ap, d->sym);
	t->alive = 1;
	t->attach_ns = t->last_drain_ns = now_real_ns();
	t->pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (d->cnt == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;

		n = realloc(d->t, cap * sizeof(*n));
		if (!n) {
			alloc_probes__detach_pid(d->ap, pid, 1);
			dtarget_free(t);
			return -ENOMEM;
		}
		d->t = n;
		d->cap = cap;
	}
	d->t[d->cnt++] = t;
	log_info("watching pid %d (%s%s%s), %s", pid, t->exe, t->w.go ? ", Go " : "",
		 t->w.go ? t->w.gr.version : "", why);
	return 0;
}

/* The process is gone (or exec'ed something else): keep its history, drop its kernel state. */
static void target_ended(struct scoped *d, struct dtarget *t)
{
	if (!t->alive)
		return;
	t->alive = 0;
	t->exit_ns = now_real_ns();
	/* Exited: nothing fires any more, the links can close later. Exec'ed: wait, so that no
	 * record of the new program lands after the forget below. */
	alloc_probes__detach_pid(d->ap, t->w.target.pid, target__running(t->w.target.pid));
	collect__forget_pid(d->ap, t->w.target.pid);
	if (d->uw)
		unwinder__forget_pid(d->uw, t->w.target.pid);
	t->w.target.alive = 0;
	d->forgotten++;
	log_info("pid %d (%s) ended; its history is kept for %.0f minutes", t->w.target.pid, t->exe,
		 d->o->retention_min);
}

static void scan_proc(struct scoped *d)
{
	struct dirent *de;
	DIR *dir = opendir("/proc");

	if (!dir) {
		log_error("cannot read /proc: %s", strerror(errno));
		return;
	}
	while ((de = readdir(dir))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		if (selected(d, pid))
			watch_pid(d, pid, "matched at start");
	}
	closedir(dir);
}

/* ---- events ---- */

static int on_gc(void *ctx, const struct gc_event *e)
{
	struct scoped *d = ctx;
	struct dtarget *t = find_alive(d, e->tgid);

	if (!t)
		return 0;
	if (e->probe == GO_PROBE_MAIN)
		watch__runtime_ready(&t->w, &d->o->watch);
	else
		watch__gc_event(&t->w, e, now_real_ns() - now_mono_ns());
	return 0;
}

static int on_life(void *ctx, const struct life_event *e)
{
	struct scoped *d = ctx;
	struct dtarget *t;

	if (e->type == LIFE_EVENT_EXEC) {
		/* Same pid, new program: what was probed is the old one's. */
		t = find_alive(d, e->tgid);
		if (t)
			target_ended(d, t);
		if (selected(d, e->tgid))
			watch_pid(d, e->tgid, "matched at exec");
	} else if (e->type == LIFE_EVENT_FORK) {
		if (find_alive(d, e->parent_tgid))
			watch_pid(d, e->tgid, "forked by a watched process");
	}
	return 0;
}

static int on_unwind(void *ctx, const void *data, size_t len)
{
	struct scoped *d = ctx;
	struct dtarget *t;
	__u32 tgid;

	if (len < 8)
		return 0;
	memcpy(&tgid, (const char *)data + 4, sizeof(tgid));
	t = find_alive(d, tgid);
	return unwinder__handle(d->uw, t ? &t->w.target : NULL, data, len);
}

/* ---- draining ---- */

static int key_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct alloc_entry *)a)->key, &((const struct alloc_entry *)b)->key,
		      sizeof(struct alloc_key));
}

static void stats_sub(struct alloc_stats *r, const struct alloc_stats *a,
		      const struct alloc_stats *b)
{
	r->alloc_cnt = a->alloc_cnt - b->alloc_cnt;
	r->alloc_bytes = a->alloc_bytes - b->alloc_bytes;
	r->free_cnt = a->free_cnt - b->free_cnt;
	r->free_bytes = a->free_bytes - b->free_bytes;
	r->untracked_cnt = a->untracked_cnt - b->untracked_cnt;
	r->untracked_bytes = a->untracked_bytes - b->untracked_bytes;
}

static int stats_zero(const struct alloc_stats *s)
{
	static const struct alloc_stats zero;

	return !memcmp(s, &zero, sizeof(zero));
}

/* now - prev, both sorted by key, packed into delta (only keys that changed). */
static int diff_sets(const struct entry_set *now, const struct entry_set *prev,
		     struct packed_set *delta)
{
	size_t i = 0, j = 0;
	int err;

	while (i < now->cnt) {
		struct alloc_entry e = now->e[i];
		int c = j < prev->cnt ? key_cmp(&now->e[i], &prev->e[j]) : -1;

		if (c > 0) {
			j++;
			continue;
		}
		if (c == 0) {
			stats_sub(&e.stats, &now->e[i].stats, &prev->e[j].stats);
			j++;
		}
		i++;
		if (stats_zero(&e.stats))
			continue;
		err = packed_set__append(delta, &e);
		if (err)
			return err;
	}
	packed_set__shrink(delta);
	return 0;
}

static int add_snapshot(struct dtarget *t, struct snapshot *s)
{
	if (t->hist_cnt == t->hist_cap) {
		size_t cap = t->hist_cap ? t->hist_cap * 2 : 16;
		struct snapshot *n = realloc(t->hist, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		t->hist = n;
		t->hist_cap = cap;
	}
	t->hist[t->hist_cnt++] = *s;
	return 0;
}

static void drop_oldest_snapshot(struct dtarget *t)
{
	snapshot_free(&t->hist[0]);
	memmove(t->hist, t->hist + 1, (t->hist_cnt - 1) * sizeof(*t->hist));
	t->hist_cnt--;
}

static int u64_cmp(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/* The exit time of the n-th longest gone exited target (n >= 1); 0 when it cannot be told. */
static __u64 exited_cutoff(const struct scoped *d, size_t n)
{
	__u64 *when = malloc(d->cnt * sizeof(*when)), cut;
	size_t k = 0;

	if (!when)
		return 0;
	for (size_t i = 0; i < d->cnt; i++)
		if (!d->t[i]->alive)
			when[k++] = d->t[i]->exit_ns;
	qsort(when, k, sizeof(*when), u64_cmp);
	cut = when[min_t(size_t, n, k) - 1];
	free(when);
	return cut;
}

static void expire(struct scoped *d)
{
	__u64 now = now_real_ns(), keep_ns = (__u64)(d->o->retention_min * 60 * NSEC_PER_SEC);
	size_t total = 0, j = 0, exited = 0, dropping = 0;
	__u64 cutoff = 0;

	for (size_t i = 0; i < d->cnt; i++) {
		struct dtarget *t = d->t[i];

		exited += !t->alive;
		while (t->hist_cnt && t->hist[0].end_ns + keep_ns < now)
			drop_oldest_snapshot(t);
		for (size_t k = 0; k < t->hist_cnt; k++)
			total += t->hist[k].delta.cnt;
	}
	/* Over the bound: the oldest snapshot of all goes first, and is counted. */
	while (d->o->max_history_entries && total > d->o->max_history_entries) {
		struct dtarget *oldest = NULL;

		for (size_t i = 0; i < d->cnt; i++)
			if (d->t[i]->hist_cnt &&
			    (!oldest || d->t[i]->hist[0].end_ns < oldest->hist[0].end_ns))
				oldest = d->t[i];
		if (!oldest)
			break;
		total -= oldest->hist[0].delta.cnt;
		drop_oldest_snapshot(oldest);
		d->snapshots_dropped++;
	}
	/* Dead targets go once their history has expired, or the longest gone first when more
	 * than --max-exited are kept (each holds ~30 KiB besides its history). */
	if (exited > d->o->max_exited) {
		dropping = exited - d->o->max_exited;
		cutoff = exited_cutoff(d, dropping);
	}
	for (size_t i = 0; i < d->cnt; i++) {
		struct dtarget *t = d->t[i];
		int over = !t->alive && t->exit_ns <= cutoff && dropping;

		if (over) {
			dropping--;
			d->exited_dropped++;
		}
		if (over || (!t->alive && t->exit_ns + keep_ns < now)) {
			/* Its paths: a live process that reuses the pid just looks them up again.
			 */
			symbolizer__forget_pid(d->sym, t->w.target.pid);
			dtarget_free(t);
			d->targets_released++;
			continue;
		}
		d->t[j++] = t;
	}
	d->cnt = j;
}

struct pid_slot {
	__u32 pid;
	__u32 idx; /* into scoped.t and drain_ctx.next */
};

struct drain_ctx {
	struct scoped *d;
	struct entry_set *next;	 /* per target index */
	struct pid_slot *by_pid; /* the live targets, by pid */
	size_t nr_pids;
};

static int pid_slot_cmp(const void *a, const void *b)
{
	const struct pid_slot *x = a, *y = b;

	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* Per kernel map entry: a binary search, not a walk of every target. */
static struct entry_set *drain_set_for(void *ctx, __u32 tgid)
{
	struct drain_ctx *dc = ctx;
	struct pid_slot key = {.pid = tgid}, *hit;

	hit = bsearch(&key, dc->by_pid, dc->nr_pids, sizeof(key), pid_slot_cmp);
	return hit ? &dc->next[hit->idx] : NULL;
}

/* Called with the lock held. */
static void drain(struct scoped *d)
{
	__u64 t0 = now_mono_ns(), now = now_real_ns();
	struct drain_ctx dc = {.d = d};
	int err;

	alloc_probes__poll_events(d->ap, on_gc, on_life, d);
	for (size_t i = 0; i < d->cnt; i++) {
		struct dtarget *t = d->t[i];
		struct pollfd p = {.fd = t->pidfd, .events = POLLIN};

		if (!t->alive)
			continue;
		if (t->pidfd >= 0 ? poll(&p, 1, 0) > 0 : kill(t->w.target.pid, 0) != 0)
			t->w.target.alive = 0; /* read what it left, then forget it below */
		else if (target__refresh_maps(&t->w.target) == 0)
			watch__reconcile(&t->w, d->ap, d->sym);
	}
	dc.next = calloc(d->cnt ? d->cnt : 1, sizeof(*dc.next));
	dc.by_pid = calloc(d->cnt ? d->cnt : 1, sizeof(*dc.by_pid));
	if (!dc.next || !dc.by_pid) {
		free(dc.next);
		free(dc.by_pid);
		return;
	}
	for (size_t i = 0; i < d->cnt; i++)
		if (d->t[i]->alive)
			dc.by_pid[dc.nr_pids++] = (struct pid_slot){d->t[i]->w.target.pid, i};
	if (dc.nr_pids)
		qsort(dc.by_pid, dc.nr_pids, sizeof(*dc.by_pid), pid_slot_cmp);
	err = collect__read(d->ap, d->cache, drain_set_for, &dc);
	if (!err && d->uw)
		err = unwinder__read(d->uw, drain_set_for, &dc);
	if (err)
		log_warn("drain: %s", strerror(-err));
	for (size_t i = 0; i < d->cnt; i++) {
		struct dtarget *t = d->t[i];
		struct snapshot s = {.start_ns = t->last_drain_ns, .end_ns = now};

		if (!t->alive)
			continue;
		if (dc.next[i].cnt) /* qsort(NULL, 0) is undefined */
			qsort(dc.next[i].e, dc.next[i].cnt, sizeof(*dc.next[i].e), key_cmp);
		if (diff_sets(&dc.next[i], &t->cur, &s.delta) != 0 || !s.delta.cnt ||
		    add_snapshot(t, &s) != 0)
			packed_set__clear(&s.delta);
		entry_set__clear(&t->cur);
		t->cur = dc.next[i];
		dc.next[i] = (struct entry_set){};
		t->last_drain_ns = now;
		watch__interval(&t->w, d->ap);
		if (!t->w.target.alive)
			target_ended(d, t);
	}
	free(dc.next);
	free(dc.by_pid);
	expire(d);
	if (d->forgotten) {
		err = collect__gc_stacks(d->ap, d->cache);
		if (err > 0)
			d->stacks_collected += err;
		d->forgotten = 0;
	}
	d->drains++;
	d->last_drain_mono_ns = now_mono_ns();
	d->drain_ns_last = d->last_drain_mono_ns - t0;
	d->drain_ns_total += d->drain_ns_last;
}

/* ---- HTTP ops ---- */

static int target_matches(const struct dtarget *t, const struct httpd_query *q)
{
	switch (q->sel) {
	case HTTPD_SEL_ALL:
		return 1;
	case HTTPD_SEL_PID:
		return t->w.target.pid == q->pid;
	case HTTPD_SEL_EXE:
		return !fnmatch(q->value, t->exe, 0);
	case HTTPD_SEL_COMM:
		return !strcmp(q->value, t->comm);
	case HTTPD_SEL_CGROUP:
		return !strncmp(t->cg.path, q->value, strlen(q->value));
	}
	return 0;
}

/* Sum the deltas of a target's snapshots that end after since_ns. */
static int window_entries(const struct dtarget *t, __u64 since_ns, struct entry_set *out,
			  __u64 *start_ns)
{
	size_t j = 0;
	int err;

	*start_ns = 0;
	for (size_t k = 0; k < t->hist_cnt; k++) {
		const struct snapshot *s = &t->hist[k];

		if (s->end_ns <= since_ns)
			continue;
		if (!*start_ns || s->start_ns < *start_ns)
			*start_ns = s->start_ns;
		err = packed_set__unpack(&s->delta, out);
		if (err)
			return err;
	}
	if (out->cnt)
		qsort(out->e, out->cnt, sizeof(*out->e), key_cmp);
	for (size_t i = 0; i < out->cnt; i++) {
		if (j && !key_cmp(&out->e[j - 1], &out->e[i])) {
			struct alloc_stats *a = &out->e[j - 1].stats;
			const struct alloc_stats *b = &out->e[i].stats;

			a->alloc_cnt += b->alloc_cnt;
			a->alloc_bytes += b->alloc_bytes;
			a->free_cnt += b->free_cnt;
			a->free_bytes += b->free_bytes;
			a->untracked_cnt += b->untracked_cnt;
			a->untracked_bytes += b->untracked_bytes;
			stack__put(out->e[i].stack);
			continue;
		}
		out->e[j++] = out->e[i];
	}
	out->cnt = j;
	return 0;
}

static int op_profile(void *ctx, enum httpd_profile kind, const struct httpd_query *q, void **buf,
		      size_t *len)
{
	struct scoped *d = ctx;
	struct profile_source *srcs = NULL;
	struct entry_set *windows = NULL;
	struct pprof_label *labels = NULL;
	struct heap_profile_summary sum;
	struct pprof_builder *pb = NULL;
	struct heap_profile_opts ho = {
	    .native_rate = d->o->rate,
	    .default_sample_type = kind == HTTPD_PROFILE_ALLOCS ? "alloc_space" : "inuse_space",
	    .delta = q->seconds > 0,
	};
	__u64 counters[ALLOC_CNT_MAX], now, since, start = 0;
	size_t n = 0;
	int err = 0;

	pthread_mutex_lock(&d->lock);
	/* Fresh within a second, so a request right after an allocation sees it. */
	if (now_mono_ns() - d->last_drain_mono_ns > NSEC_PER_SEC)
		drain(d);
	now = now_real_ns();
	if (q->seconds > d->o->retention_min * 60) {
		err = -ERANGE;
		goto cleanup;
	}
	since = q->seconds > 0 ? now - (__u64)q->seconds * NSEC_PER_SEC : 0;
	srcs = calloc(d->cnt ? d->cnt : 1, sizeof(*srcs));
	windows = calloc(d->cnt ? d->cnt : 1, sizeof(*windows));
	labels = calloc((d->cnt ? d->cnt : 1) * 5, sizeof(*labels));
	if (!srcs || !windows || !labels) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = 0; i < d->cnt; i++) {
		struct dtarget *t = d->t[i];
		struct pprof_label *l = &labels[n * 5];
		size_t lc = 0;
		__u64 ws = 0;

		if (!target_matches(t, q))
			continue;
		if (q->seconds > 0) {
			err = window_entries(t, since, &windows[n], &ws);
			if (err)
				goto cleanup;
			srcs[n].entries = windows[n].e;
			srcs[n].cnt = windows[n].cnt;
			if (ws && (!start || ws < start))
				start = ws;
		} else {
			srcs[n].entries = t->cur.e;
			srcs[n].cnt = t->cur.cnt;
			if (!start || t->attach_ns < start)
				start = t->attach_ns;
		}
		l[lc++] = (struct pprof_label){.key = "host", .str = d->host};
		l[lc++] = (struct pprof_label){.key = "executable", .str = t->exe};
		if (t->cg.container_id[0])
			l[lc++] =
			    (struct pprof_label){.key = "container_id", .str = t->cg.container_id};
		if (t->cg.pod_uid[0])
			l[lc++] = (struct pprof_label){.key = "pod_uid", .str = t->cg.pod_uid};
		srcs[n].target = &t->w.target;
		srcs[n].labels = l;
		srcs[n].label_cnt = lc;
		/* The Go rate of the first Go target serves as the profile's period. */
		if (t->w.go && !ho.go_rate) {
			ho.go_rate = watch__go_rate(&t->w);
			ho.has_go = !d->o->watch.go_every_call;
			ho.has_go_every_call = d->o->watch.go_every_call;
		}
		ho.has_native |= t->w.native;
		n++;
	}
	if (!n) {
		err = -ENOENT;
		goto cleanup;
	}
	ho.period = ho.has_go ? ho.go_rate : ho.native_rate;
	ho.time_ns = start ?: now;
	ho.duration_ns = now - ho.time_ns;
	alloc_probes__counters(d->ap, counters);
	ho.counters = counters;
	err = heap_profile__build(srcs, n, d->sym, &ho, &pb, &sum);
	if (!err)
		err = pprof__encode(pb, buf, len);
cleanup:
	pthread_mutex_unlock(&d->lock);
	pprof__free(pb);
	if (windows)
		for (size_t i = 0; i < n; i++)
			entry_set__clear(&windows[i]);
	free(windows);
	free(srcs);
	free(labels);
	return err;
}

static int op_timeline(void *ctx, const struct httpd_query *q, char **json)
{
	struct scoped *d = ctx;
	struct dtarget *best = NULL;
	int err = 0;

	pthread_mutex_lock(&d->lock);
	/* The newest matching target: the live one if the pid was reused. */
	for (size_t i = 0; i < d->cnt; i++)
		if (target_matches(d->t[i], q))
			best = d->t[i];
	if (!best) {
		err = -ENOENT;
	} else {
		best->w.tl.rate = best->w.go && !d->o->watch.go_every_call
				      ? watch__go_rate(&best->w)
				      : d->o->rate;
		*json = timeline__to_json(&best->w.tl);
		if (!*json)
			err = -errno;
	}
	pthread_mutex_unlock(&d->lock);
	return err;
}

static void metric_label_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*s, f);
	}
}

static long self_rss_bytes(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * sysconf(_SC_PAGESIZE);
}

static int op_metrics(void *ctx, char **text)
{
	static const char *const counter_names[ALLOC_CNT_MAX] = {
	    [ALLOC_CNT_SAMPLED] = NULL,
	    [ALLOC_CNT_STACK_LOST] = "stack_lost",
	    [ALLOC_CNT_STATS_FULL] = "stats_map_full",
	    [ALLOC_CNT_LIVE_FULL] = "live_map_full",
	    [ALLOC_CNT_TASK_FULL] = "no_task_state",
	    [ALLOC_CNT_NEST_RESET] = "allocator_never_returned",
	    [ALLOC_CNT_MUNMAP_PARTIAL] = "partial_munmap",
	    [ALLOC_CNT_MORESTACK] = NULL,
	    [ALLOC_CNT_GC_EVENTS_LOST] = "gc_events_lost",
	    [ALLOC_CNT_LIFE_EVENTS_LOST] = "lifecycle_events_lost",
	    [ALLOC_CNT_STACK_UNREADABLE] = "stack_unreadable",
	};
	static const char *const maps[] = {"stats", "live", "stacks"};
	struct scoped *d = ctx;
	__u64 counters[ALLOC_CNT_MAX];
	size_t size = 0, alive = 0;
	char *buf = NULL;
	FILE *f;

	f = open_memstream(&buf, &size);
	if (!f)
		return -errno;
	pthread_mutex_lock(&d->lock);
	fputs("# HELP allocscope_alloc_bytes_total Bytes allocated by the target (estimate).\n"
	      "# TYPE allocscope_alloc_bytes_total counter\n"
	      "# HELP allocscope_alloc_objects_total Objects allocated by the target (estimate).\n"
	      "# TYPE allocscope_alloc_objects_total counter\n"
	      "# HELP allocscope_freed_bytes_total Bytes of sampled allocations freed (estimate).\n"
	      "# TYPE allocscope_freed_bytes_total counter\n"
	      "# HELP allocscope_freed_objects_total Sampled objects freed (estimate).\n"
	      "# TYPE allocscope_freed_objects_total counter\n"
	      "# HELP allocscope_inuse_bytes Bytes still in use (estimate).\n"
	      "# TYPE allocscope_inuse_bytes gauge\n"
	      "# HELP allocscope_inuse_objects Objects still in use (estimate).\n"
	      "# TYPE allocscope_inuse_objects gauge\n"
	      "# HELP allocscope_gc_cycles_total Go GC cycles seen.\n"
	      "# TYPE allocscope_gc_cycles_total counter\n",
	      f);
	for (size_t i = 0; i < d->cnt; i++) {
		struct dtarget *t = d->t[i];
		struct proc_totals tot;
		__u64 rate =
		    t->w.go && !d->o->watch.go_every_call ? watch__go_rate(&t->w) : d->o->rate;
		__s64 ac, ab, fc, fb, ic, ib;
		char lbl[1024];
		FILE *lf;

		if (!t->alive)
			continue;
		alive++;
		alloc_probes__totals(d->ap, t->w.target.pid, &tot);
		sampling__scale(tot.alloc_cnt, tot.alloc_bytes, rate, &ac, &ab);
		sampling__scale(tot.free_cnt, tot.free_bytes, rate, &fc, &fb);
		sampling__scale(tot.alloc_cnt - min_t(__u64, tot.free_cnt, tot.alloc_cnt),
				tot.alloc_bytes - min_t(__u64, tot.free_bytes, tot.alloc_bytes),
				rate, &ic, &ib);
		lf = fmemopen(lbl, sizeof(lbl), "w");
		if (!lf)
			continue;
		fprintf(lf, "pid=\"%d\",executable=\"", t->w.target.pid);
		metric_label_escape(lf, t->exe);
		fputs("\",comm=\"", lf);
		metric_label_escape(lf, t->comm);
		fputs("\"", lf);
		if (t->cg.container_id[0])
			fprintf(lf, ",container_id=\"%s\"", t->cg.container_id);
		fputc('\0', lf);
		fclose(lf);
		lbl[sizeof(lbl) - 1] = '\0';
		fprintf(f, "allocscope_alloc_bytes_total{%s} %lld\n", lbl, (long long)ab);
		fprintf(f, "allocscope_alloc_objects_total{%s} %lld\n", lbl, (long long)ac);
		fprintf(f, "allocscope_freed_bytes_total{%s} %lld\n", lbl, (long long)fb);
		fprintf(f, "allocscope_freed_objects_total{%s} %lld\n", lbl, (long long)fc);
		fprintf(f, "allocscope_inuse_bytes{%s} %lld\n", lbl, (long long)ib);
		fprintf(f, "allocscope_inuse_objects{%s} %lld\n", lbl, (long long)ic);
		if (t->w.go)
			fprintf(f, "allocscope_gc_cycles_total{%s} %u\n", lbl, t->w.tl.cycles);
	}
	alloc_probes__counters(d->ap, counters);
	fputs("# HELP allocscope_events_dropped_total Events the BPF side could not record.\n"
	      "# TYPE allocscope_events_dropped_total counter\n",
	      f);
	for (int i = 0; i < ALLOC_CNT_MAX; i++)
		if (counter_names[i])
			fprintf(f, "allocscope_events_dropped_total{reason=\"%s\"} %llu\n",
				counter_names[i], (unsigned long long)counters[i]);
	fprintf(f,
		"# HELP allocscope_samples_total Sampled allocations recorded.\n"
		"# TYPE allocscope_samples_total counter\n"
		"allocscope_samples_total %llu\n",
		(unsigned long long)counters[ALLOC_CNT_SAMPLED]);
	fputs("# HELP allocscope_bpf_map_entries Entries in a BPF map.\n"
	      "# TYPE allocscope_bpf_map_entries gauge\n"
	      "# HELP allocscope_bpf_map_capacity Capacity of a BPF map.\n"
	      "# TYPE allocscope_bpf_map_capacity gauge\n",
	      f);
	for (size_t i = 0; i < ARRAY_SIZE(maps); i++) {
		__u32 cap = 0;
		long n = alloc_probes__map_fill(d->ap, maps[i], &cap);

		if (n < 0)
			continue;
		fprintf(f, "allocscope_bpf_map_entries{map=\"%s\"} %ld\n", maps[i], n);
		fprintf(f, "allocscope_bpf_map_capacity{map=\"%s\"} %u\n", maps[i], cap);
	}
	fprintf(
	    f,
	    "# HELP allocscope_targets Processes watched now.\n"
	    "# TYPE allocscope_targets gauge\n"
	    "allocscope_targets %zu\n"
	    "# HELP allocscope_probes_attached uprobes attached now.\n"
	    "# TYPE allocscope_probes_attached gauge\n"
	    "allocscope_probes_attached %zu\n"
	    "# HELP allocscope_drains_total Drains of the kernel maps.\n"
	    "# TYPE allocscope_drains_total counter\n"
	    "allocscope_drains_total %llu\n"
	    "# HELP allocscope_drain_seconds_total Time spent draining.\n"
	    "# TYPE allocscope_drain_seconds_total counter\n"
	    "allocscope_drain_seconds_total %.6f\n"
	    "# HELP allocscope_last_drain_seconds Duration of the last drain.\n"
	    "# TYPE allocscope_last_drain_seconds gauge\n"
	    "allocscope_last_drain_seconds %.6f\n"
	    "# HELP allocscope_history_snapshots_dropped_total Snapshots dropped to stay within "
	    "--max-history-entries.\n"
	    "# TYPE allocscope_history_snapshots_dropped_total counter\n"
	    "allocscope_history_snapshots_dropped_total %llu\n"
	    "# HELP allocscope_exited_targets_dropped_total Exited processes released before "
	    "their retention ended, to stay within --max-exited.\n"
	    "# TYPE allocscope_exited_targets_dropped_total counter\n"
	    "allocscope_exited_targets_dropped_total %llu\n"
	    "# HELP allocscope_attach_failures_total Processes that could not be watched.\n"
	    "# TYPE allocscope_attach_failures_total counter\n"
	    "allocscope_attach_failures_total %llu\n"
	    "# HELP allocscope_pushes_total Profiles pushed to --push.\n"
	    "# TYPE allocscope_pushes_total counter\n"
	    "allocscope_pushes_total %llu\n"
	    "# HELP allocscope_push_failures_total Profiles --push could not deliver.\n"
	    "# TYPE allocscope_push_failures_total counter\n"
	    "allocscope_push_failures_total %llu\n"
	    "# HELP allocscope_daemon_rss_bytes The daemon's resident memory.\n"
	    "# TYPE allocscope_daemon_rss_bytes gauge\n"
	    "allocscope_daemon_rss_bytes %ld\n",
	    alive, alloc_probes__link_count(d->ap), (unsigned long long)d->drains,
	    d->drain_ns_total / 1e9, d->drain_ns_last / 1e9,
	    (unsigned long long)d->snapshots_dropped, (unsigned long long)d->exited_dropped,
	    (unsigned long long)d->attach_failures,
	    (unsigned long long)__atomic_load_n(&d->pushes, __ATOMIC_RELAXED),
	    (unsigned long long)__atomic_load_n(&d->push_failures, __ATOMIC_RELAXED),
	    self_rss_bytes());
	if (d->uw) {
		struct unwind_stats us;

		unwinder__stats(d->uw, &us);
		fprintf(
		    f,
		    "# HELP allocscope_unwind_events_total Sampled allocations unwound from CFI.\n"
		    "# TYPE allocscope_unwind_events_total counter\n"
		    "allocscope_unwind_events_total %llu\n"
		    "# HELP allocscope_unwind_truncated_total CFI stacks that stop before the "
		    "thread's first frame (kept, marked [truncated]).\n"
		    "# TYPE allocscope_unwind_truncated_total counter\n"
		    "allocscope_unwind_truncated_total %llu\n"
		    "# HELP allocscope_unwind_seconds_total Time spent unwinding CFI samples.\n"
		    "# TYPE allocscope_unwind_seconds_total counter\n"
		    "allocscope_unwind_seconds_total %.6f\n",
		    (unsigned long long)us.events, (unsigned long long)us.truncated,
		    us.unwind_ns / 1e9);
	}
	pthread_mutex_unlock(&d->lock);
	if (fclose(f))
		return -errno;
	*text = buf;
	return 0;
}

static int op_targets(void *ctx, struct httpd_target **out, size_t *cnt)
{
	struct scoped *d = ctx;
	struct httpd_target *ts;

	pthread_mutex_lock(&d->lock);
	ts = calloc(d->cnt ? d->cnt : 1, sizeof(*ts));
	if (!ts) {
		pthread_mutex_unlock(&d->lock);
		return -ENOMEM;
	}
	for (size_t i = 0; i < d->cnt; i++) {
		struct dtarget *t = d->t[i];

		ts[i].pid = t->w.target.pid;
		ts[i].alive = t->alive;
		snprintf(ts[i].exe, sizeof(ts[i].exe), "%s", t->exe);
		snprintf(ts[i].comm, sizeof(ts[i].comm), "%s", t->comm);
		snprintf(ts[i].cgroup, sizeof(ts[i].cgroup), "%s", t->cg.path);
		snprintf(ts[i].kind, sizeof(ts[i].kind), "%s",
			 t->w.go && t->w.native ? "go+native"
			 : t->w.go		? "go"
						: "native");
	}
	*cnt = d->cnt;
	pthread_mutex_unlock(&d->lock);
	*out = ts;
	return 0;
}

/* ---- push ---- */

struct push_item {
	char app[256];
	char pid[16];
	char host[256];
	char container_id[80];
	char pod_uid[48];
	__u64 from_s;
	__u64 until_s;
	void *body;
	size_t len;
};

/* Build, under the lock, each target's profile of the snapshots not pushed yet. */
static size_t prepare_pushes(struct scoped *d, struct push_item **out)
{
	struct push_item *items = calloc(d->cnt ? d->cnt : 1, sizeof(*items));
	size_t n = 0;

	*out = items;
	if (!items)
		return 0;
	for (size_t i = 0; i < d->cnt; i++) {
		struct dtarget *t = d->t[i];
		struct heap_profile_opts ho = {
		    .native_rate = d->o->rate,
		    .default_sample_type = "alloc_space",
		    .delta = 1,
		    .has_native = t->w.native,
		};
		struct profile_source src = {.target = &t->w.target};
		struct heap_profile_summary sum;
		struct pprof_builder *pb = NULL;
		struct push_item *it = &items[n];
		struct entry_set win = {};
		const char *base;
		__u64 start = 0;

		if (!t->hist_cnt || t->hist[t->hist_cnt - 1].end_ns <= t->pushed_until_ns)
			continue;
		if (window_entries(t, t->pushed_until_ns, &win, &start) == 0 && win.cnt) {
			if (t->w.go) {
				ho.go_rate = watch__go_rate(&t->w);
				ho.has_go = !d->o->watch.go_every_call;
				ho.has_go_every_call = d->o->watch.go_every_call;
			}
			ho.period = ho.has_go ? ho.go_rate : ho.native_rate;
			ho.time_ns = start;
			ho.duration_ns = t->hist[t->hist_cnt - 1].end_ns - start;
			src.entries = win.e;
			src.cnt = win.cnt;
			if (heap_profile__build(&src, 1, d->sym, &ho, &pb, &sum) == 0 &&
			    pprof__encode(pb, &it->body, &it->len) == 0) {
				base = strrchr(t->exe, '/');
				snprintf(it->app, sizeof(it->app), "%s", base ? base + 1 : t->exe);
				snprintf(it->pid, sizeof(it->pid), "%d", t->w.target.pid);
				snprintf(it->host, sizeof(it->host), "%s", d->host);
				snprintf(it->container_id, sizeof(it->container_id), "%s",
					 t->cg.container_id);
				snprintf(it->pod_uid, sizeof(it->pod_uid), "%s", t->cg.pod_uid);
				it->from_s = start / NSEC_PER_SEC;
				it->until_s = (ho.time_ns + ho.duration_ns) / NSEC_PER_SEC + 1;
				n++;
			}
			pprof__free(pb);
		}
		entry_set__clear(&win);
		/* Sent or not, an interval is never sent twice: Pyroscope would count it twice. */
		t->pushed_until_ns = t->hist[t->hist_cnt - 1].end_ns;
	}
	return n;
}

/* Without the lock: the network may be slow. */
static void send_pushes(struct scoped *d, struct push_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct push_label l[4];
		size_t lc = 0;
		int err;

		l[lc++] = (struct push_label){"host", items[i].host};
		l[lc++] = (struct push_label){"pid", items[i].pid};
		if (items[i].container_id[0])
			l[lc++] = (struct push_label){"container_id", items[i].container_id};
		if (items[i].pod_uid[0])
			l[lc++] = (struct push_label){"pod_uid", items[i].pod_uid};
		err = pusher__push(d->pusher, items[i].app, l, lc, items[i].from_s,
				   items[i].until_s, items[i].body, items[i].len);
		__atomic_add_fetch(err ? &d->push_failures : &d->pushes, 1, __ATOMIC_RELAXED);
		free(items[i].body);
	}
	free(items);
}

/* ---- the loop ---- */

static int setup_signals(sigset_t *set)
{
	int fd;

	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, set, NULL))
		return -errno;
	fd = signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

static void reload(struct scoped *d)
{
	if (!d->o->config_path) {
		log_info("SIGHUP: no --config file to reload");
		return;
	}
	pthread_mutex_lock(&d->lock);
	if (scoped_opts__load_config(d->o, d->o->config_path, 1) == 0) {
		/* Targets that no selector matches any more are let go. */
		for (size_t i = 0; i < d->cnt; i++)
			if (d->t[i]->alive && !selected(d, d->t[i]->w.target.pid))
				target_ended(d, d->t[i]);
		scan_proc(d);
		log_info("reloaded %s: %zu selectors", d->o->config_path, d->o->sel_cnt);
	}
	pthread_mutex_unlock(&d->lock);
}

int scoped__run(struct scoped_opts *o)
{
	struct alloc_probes_opts ao = {
	    .sample_rate = o->rate,
	    .verbose = o->verbose,
	    .watch_procs = 1,
	    .stack_entries = o->max_stacks,
	    .live_entries = o->max_live,
	    .stats_entries = o->max_stats,
	};
	struct httpd_ops ops = {
	    .profile = op_profile,
	    .timeline = op_timeline,
	    .metrics = op_metrics,
	    .targets = op_targets,
	};
	struct httpd_opts hopts = {
	    .listen = o->listen,
	    .auth_token_file = o->auth_token_file,
	    .insecure = o->insecure,
	    .tls_cert = o->tls_cert,
	    .tls_key = o->tls_key,
	};
	struct symbolizer_opts so = {.demangle = 1};
	struct scoped d = {.o = o, .self_pid = getpid()};
	__u64 next_drain;
	sigset_t set;
	int sigfd = -1, status = 1;

	pthread_mutex_init(&d.lock, NULL);
	if (gethostname(d.host, sizeof(d.host)))
		snprintf(d.host, sizeof(d.host), "unknown");
	/* Never fetch debug info over the network from a production host. */
	unsetenv("DEBUGINFOD_URLS");
	sigfd = setup_signals(&set);
	if (sigfd < 0) {
		log_error("cannot set up signals: %s", strerror(-sigfd));
		return 1;
	}
	d.sym = symbolizer__new(&so);
	d.cache = stack_cache__new();
	if (!d.sym || !d.cache) {
		log_error("out of memory");
		goto cleanup;
	}
	if (o->push_url) {
		d.pusher = pusher__new(o->push_url);
		if (!d.pusher)
			goto cleanup;
	}
	if (o->unwind != UNWIND_MODE_FP) {
		ao.stack_copy_bytes = o->stack_copy_bytes ?: UNWIND_STACK_COPY_DEFAULT;
		d.uw = unwinder__new(d.sym);
		if (!d.uw)
			goto cleanup;
	}
	d.ap = alloc_probes__new(&ao);
	if (!d.ap)
		goto cleanup;
	if (d.uw)
		alloc_probes__set_unwind_cb(d.ap, on_unwind, &d);
	pthread_mutex_lock(&d.lock);
	scan_proc(&d);
	pthread_mutex_unlock(&d.lock);
	d.http = httpd__start(&hopts, &ops, &d);
	if (!d.http)
		goto cleanup;
	fprintf(stderr, "allocscoped: serving on http://%s/debug/pprof/ (port %d), %zu targets\n",
		o->listen ?: HTTPD_DEFAULT_LISTEN, httpd__port(d.http), d.cnt);

	next_drain = now_mono_ns() + (__u64)(o->interval_s * NSEC_PER_SEC);
	for (;;) {
		struct pollfd pfd[2] = {
		    {.fd = sigfd, .events = POLLIN},
		    {.fd = alloc_probes__gc_fd(d.ap), .events = POLLIN},
		};
		__u64 now = now_mono_ns();
		int timeout = now >= next_drain ? 0 : (next_drain - now) / NSEC_PER_MSEC + 1;
		struct signalfd_siginfo si;

		if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
			break;
		if (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGHUP) {
				reload(&d);
			} else {
				log_info("signal %d: detaching and exiting", si.ssi_signo);
				status = 0;
				break;
			}
		}
		pthread_mutex_lock(&d.lock);
		alloc_probes__poll_events(d.ap, on_gc, on_life, &d);
		if (now_mono_ns() >= next_drain) {
			struct push_item *items = NULL;
			size_t n = 0;

			drain(&d);
			next_drain += (__u64)(o->interval_s * NSEC_PER_SEC);
			if (next_drain < now_mono_ns())
				next_drain = now_mono_ns() + (__u64)(o->interval_s * NSEC_PER_SEC);
			if (d.pusher)
				n = prepare_pushes(&d, &items);
			pthread_mutex_unlock(&d.lock);
			if (items)
				send_pushes(&d, items, n);
			continue;
		}
		pthread_mutex_unlock(&d.lock);
	}
cleanup:
	httpd__stop(d.http);
	pusher__free(d.pusher);
	for (size_t i = 0; i < d.cnt; i++)
		dtarget_free(d.t[i]);
	free(d.t);
	free(d.go_cache);
	/* Links go with the BPF object: nothing stays attached after exit. */
	alloc_probes__free(d.ap);
	unwinder__free(d.uw);
	stack_cache__free(d.cache);
	symbolizer__free(d.sym);
	if (sigfd >= 0)
		close(sigfd);
	pthread_mutex_destroy(&d.lock);
	return status;
}
