// SPDX-License-Identifier: MIT
/*
 * allocscoped's core. The main thread owns the loop: it waits for signals and BPF events, and
 * on every interval drains the kernel maps into each target's cumulative entries and a delta
 * snapshot of its history (history.c); libmicrohttpd's thread answers requests (api.c) from the
 * same state under one lock. Memory is bounded by configuration: snapshots older than the
 * retention, or beyond max_history_entries, are dropped oldest first and counted.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe/collect.h"
#include "service/api.h"
#include "service/httpd.h"
#include "service/push.h"
#include "service/push_batch.h"
#include "service/scoped.h"
#include "service/select.h"
#include "service/state.h"
#include "util/common.h"
#include "util/log.h"

/* ---- targets ---- */

static struct dtarget *find_alive(struct scoped *d, int pid)
{
	for (size_t i = 0; i < d->cnt; i++)
		if (d->t[i]->alive && d->t[i]->w.target.pid == pid)
			return d->t[i];
	return NULL;
}

static int selected(struct scoped *d, int pid)
{
	return proc_select__match(d->select, d->o->sels, d->o->sel_cnt, pid);
}

static void dtarget_free(struct dtarget *t)
{
	if (!t)
		return;
	history__free(t->hist);
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
	t->hist = history__new();
	if (!t->hist) {
		free(t);
		return -ENOMEM;
	}
	/* Named before attaching: a short-lived fork child may be gone by the time it is done. */
	proc__read_exe(NULL, pid, t->exe, sizeof(t->exe));
	proc__read_comm(NULL, pid, t->comm, sizeof(t->comm));
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
			d->stats.attach_failures++;
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

static void watch_matched(void *ctx, int pid)
{
	watch_pid(ctx, pid, "matched at start");
}

static void scan_proc(struct scoped *d)
{
	proc_select__scan(d->select, d->o->sels, d->o->sel_cnt, watch_matched, d);
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

static void expire(struct scoped *d)
{
	struct history_retention r = {
	    .keep_ns = (__u64)(d->o->retention_min * 60 * NSEC_PER_SEC),
	    .max_entries = d->o->max_history_entries,
	    .max_exited = d->o->max_exited,
	};
	struct history_item *items;
	struct history_expiry ex;
	size_t j = 0;

	items = calloc(d->cnt ? d->cnt : 1, sizeof(*items));
	if (!items)
		return;
	for (size_t i = 0; i < d->cnt; i++)
		items[i] = (struct history_item){
		    .h = d->t[i]->hist, .alive = d->t[i]->alive, .exit_ns = d->t[i]->exit_ns};
	history__expire(items, d->cnt, now_real_ns(), &r, &ex);
	d->stats.snapshots_dropped += ex.snapshots_dropped;
	d->stats.exited_dropped += ex.exited_dropped;
	for (size_t i = 0; i < d->cnt; i++) {
		struct dtarget *t = d->t[i];

		if (items[i].release) {
			/* Its paths: a live process that reuses the pid just looks them up again.
			 */
			symbolizer__forget_pid(d->sym, t->w.target.pid);
			dtarget_free(t);
			d->stats.targets_released++;
			continue;
		}
		d->t[j++] = t;
	}
	d->cnt = j;
	free(items);
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

void scoped__drain(struct scoped *d)
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

		if (!t->alive)
			continue;
		history__sort(&dc.next[i]);
		/* Out of memory: the interval is lost to the history, not to the totals. */
		history__record(t->hist, t->last_drain_ns, now, &dc.next[i], &t->cur);
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
			d->stats.stacks_collected += err;
		d->forgotten = 0;
	}
	d->stats.drains++;
	d->stats.last_drain_mono_ns = now_mono_ns();
	d->stats.drain_ns_last = d->stats.last_drain_mono_ns - t0;
	d->stats.drain_ns_total += d->stats.drain_ns_last;
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
	struct httpd_opts hopts = {
	    .listen = o->listen,
	    .auth_token_file = o->auth_token_file,
	    .insecure = o->insecure,
	    .tls_cert = o->tls_cert,
	    .tls_key = o->tls_key,
	};
	struct proc_select_opts pso = {.self_pid = getpid()};
	struct symbolizer_opts so = {.demangle = 1};
	struct scoped d = {.o = o};
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
	d.select = proc_select__new(&pso);
	if (!d.sym || !d.cache || !d.select) {
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
	d.http = httpd__start(&hopts, &scoped_api_ops, &d);
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
			struct push_batch *b = NULL;

			scoped__drain(&d);
			next_drain += (__u64)(o->interval_s * NSEC_PER_SEC);
			if (next_drain < now_mono_ns())
				next_drain = now_mono_ns() + (__u64)(o->interval_s * NSEC_PER_SEC);
			if (d.pusher)
				b = push_batch__prepare(&d);
			pthread_mutex_unlock(&d.lock);
			push_batch__send(b, &d);
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
	proc_select__free(d.select);
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
