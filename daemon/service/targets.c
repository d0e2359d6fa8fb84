// SPDX-License-Identifier: MIT
/*
 * The targets' lifecycle: a process is watched when a selector matches it at start, at exec or
 * on a SIGHUP reload, or when a watched process forks it; it ends when it exits or execs, and
 * keeps its history (until expiry in drain.c) while its kernel state is let go at once.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe/collect.h"
#include "profile/heap_profile.h"
#include "service/peer.h"
#include "service/capture.h"
#include "service/select.h"
#include "service/push_batch.h"
#include "service/state.h"
#include "util/common.h"
#include "util/log.h"

struct dtarget *scoped__find_alive(struct scoped *d, int pid)
{
	uintptr_t t;

	if (!htab__find(&d->alive, htab__hash_u64((__u32)pid), NULL, NULL, NULL, &t))
		return NULL;
	return (struct dtarget *)t;
}

bool scoped__selected(struct scoped *d, int pid)
{
	return proc_select__match(d->select, d->o->sels, d->o->sel_cnt, pid);
}

void dtarget__free(struct dtarget *t)
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

struct dtarget *dtarget__prepare(struct scoped *d, int pid, int with_maps)
{
	struct dtarget *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->pidfd = -1;
	t->hist = history__new();
	if (!t->hist) {
		free(t);
		return NULL;
	}
	/* Named before attaching: a short-lived fork child may be gone by the time it is done. */
	proc__read_exe(NULL, pid, t->exe, sizeof(t->exe));
	proc__read_comm(NULL, pid, t->comm, sizeof(t->comm));
	cgroup__read(NULL, d->cgroup_ns_root, pid, &t->cg);
	/* Judged once more at each request while it lives (api.c); gone already: root only. */
	if (peer__pid_owner(NULL, pid, &t->owner))
		t->owner = 0;
	if (with_maps && (target__init(&t->w.target, pid) || target__refresh_maps(&t->w.target))) {
		dtarget__free(t);
		return NULL;
	}
	return t;
}

/* exec_ns: the exec event's time (CLOCK_MONOTONIC), 0 when not matched at exec; pl: links the
 * exec thread made already (adopted first), or NULL; pre: what the exec thread read of the
 * process (dtarget__prepare with its maps), taken over, or NULL. */
static int watch_pid_claimed(struct scoped *d, int pid, const char *why, __u64 exec_ns,
			     struct alloc_prelink *pl, struct dtarget *pre)
{
	struct dtarget *t, **n;
	__u64 t0 = now_mono_ns(), t_named, t_live, t_cfi;
	char exe[64];
	int err;

	if (scoped__find_alive(d, pid)) {
		dtarget__free(pre);
		return 0;
	}
	t = pre ?: dtarget__prepare(d, pid, 0);
	if (!t)
		return -ENOMEM;
	snprintf(exe, sizeof(exe), "/proc/%d/exe", pid);
	t_named = now_mono_ns();
	if (pl) {
		err = alloc_probes__adopt(d->ap, pl);
		if (err) {
			alloc_probes__detach_pid(d->ap, pid, 0);
			dtarget__free(t);
			return err;
		}
	}
	/* Read while it surely lived: it may be gone by now, with samples of its own. */
	if (pre)
		err =
		    watch__attach_target(&t->w, d->ap, d->sym, &d->o->watch, &t->w.target, exe, 0);
	else
		err = watch__attach(&t->w, d->ap, d->sym, &d->o->watch, pid, exe, 0);
	t_live = now_mono_ns();
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
		dtarget__free(t);
		return err;
	}
	watch__runtime_ready(&t->w, &d->o->watch);
	/* As record --unwind. */
	if (exec_ns && t_live > exec_ns)
		exec_attach_hist__observe(&d->stats.exec_attach, t_live - exec_ns);
	if (d->uw)
		watch__enable_cfi(&t->w, d->ap, d->o->unwind);
	t_cfi = now_mono_ns();
	/* Matched at exec, its maps were read before ld.so mapped the libraries; by now (the
	 * probes took a while to go in) it has mostly done so. Read them again: a process that
	 * exits before the next drain leaves its CFI samples these modules to be unwound with. */
	if (target__refresh_maps(&t->w.target) == 0)
		watch__reconcile(&t->w, d->ap, d->sym);
	log_debug(
	    "pid %d: live %.2f ms after exec; steps: naming %.2f ms, attach %.2f ms, CFI %.2f "
	    "ms, maps again + reconcile %.2f ms",
	    pid, exec_ns ? (t_live - exec_ns) / 1e6 : 0.0, (t_named - t0) / 1e6,
	    (t_live - t_named) / 1e6, (t_cfi - t_live) / 1e6, (now_mono_ns() - t_cfi) / 1e6);
	t->alive = 1;
	t->attach_ns = t->last_drain_ns = now_real_ns();
	if (d->o->push_url)
		push_batch__identify(d, t);
	t->pidfd = syscall(SYS_pidfd_open, pid, 0);
	n = d->t;
	if (d->cnt == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		n = realloc(d->t, d->cap * sizeof(*n));
		if (n)
			d->t = n;
		else
			d->cap = d->cnt;
	}
	if (!n || htab__reserve(&d->alive, 1)) {
		alloc_probes__detach_pid(d->ap, pid, 1);
		dtarget__free(t);
		return -ENOMEM;
	}
	d->t[d->cnt++] = t;
	/* Cannot fail: reserved above. */
	htab__set(&d->alive, htab__hash_u64((__u32)pid), NULL, NULL, NULL, (uintptr_t)t);
	capture__target_started(d, t);
	log_info("watching pid %d (%s%s%s), %s", pid, t->exe, t->w.go ? ", Go " : "",
		 t->w.go ? t->w.gr.version : "", why);
	return 0;
}

/* The process is gone (or exec'ed something else): keep its history, drop its kernel state. */
void scoped__target_ended(struct scoped *d, struct dtarget *t)
{
	if (!t->alive)
		return;
	/* An OOM victim's snapshot, before its kernel state goes. */
	capture__target_ending(d, t);
	t->alive = 0;
	htab__remove(&d->alive, htab__hash_u64((__u32)t->w.target.pid), NULL, NULL, NULL, NULL);
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

static int watch_pid(struct scoped *d, int pid, const char *why, __u64 exec_ns)
{
	int err;

	pthread_mutex_lock(&d->claim_lock);
	if (d->exec_claim == pid) {
		/* The exec thread is attaching it. */
		pthread_mutex_unlock(&d->claim_lock);
		return 0;
	}
	d->main_claim = pid;
	pthread_mutex_unlock(&d->claim_lock);
	err = watch_pid_claimed(d, pid, why, exec_ns, NULL, NULL);
	pthread_mutex_lock(&d->claim_lock);
	d->main_claim = 0;
	pthread_mutex_unlock(&d->claim_lock);
	return err;
}

int scoped__watch_prelinked(struct scoped *d, int pid, struct alloc_prelink *pl,
			    struct dtarget *pre)
{
	return watch_pid_claimed(d, pid, "matched at exec", 0, pl, pre);
}

static void watch_matched(void *ctx, int pid)
{
	watch_pid(ctx, pid, "matched at start", 0);
}

void scoped__scan(struct scoped *d)
{
	proc_select__scan(d->select, d->o->sels, d->o->sel_cnt, watch_matched, d);
}

static int on_gc(void *ctx, const struct gc_event *e)
{
	struct scoped *d = ctx;
	struct dtarget *t = scoped__find_alive(d, e->tgid);

	if (!t)
		return 0;
	if (e->probe == GO_PROBE_MAIN)
		watch__runtime_ready(&t->w, &d->o->watch);
	else
		watch__gc_event(&t->w, e, now_real_ns() - now_mono_ns());
	return 0;
}

void scoped__on_life(struct scoped *d, const struct life_event *e)
{
	struct dtarget *t;

	if (e->type == LIFE_EVENT_EXEC) {
		/* Same pid, new program: what was probed is the old one's. Its samples are read
		 * first, to be unwound with that program's modules (the exec thread reads this
		 * event apart from the other rings). */
		t = scoped__find_alive(d, e->tgid);
		if (t) {
			alloc_probes__poll_events(d->ap, on_gc, NULL, d);
			scoped__target_ended(d, t);
		}
		if (scoped__selected(d, e->tgid))
			watch_pid(d, e->tgid, "matched at exec", e->time_ns);
	} else if (e->type == LIFE_EVENT_FORK) {
		if (scoped__find_alive(d, e->parent_tgid))
			watch_pid(d, e->tgid, "forked by a watched process", 0);
	}
}

static int on_life(void *ctx, const struct life_event *e)
{
	scoped__on_life(ctx, e);
	return 0;
}

int scoped__on_unwind(void *ctx, const void *data, size_t len)
{
	struct scoped *d = ctx;
	struct dtarget *t;
	__u32 tgid;

	if (len < 8)
		return 0;
	memcpy(&tgid, (const char *)data + 4, sizeof(tgid));
	t = scoped__find_alive(d, tgid);
	return unwinder__handle(d->uw, t ? &t->w.target : NULL, data, len);
}

void scoped__poll_events(struct scoped *d)
{
	alloc_probes__poll_events(d->ap, on_gc, d->exec_running ? NULL : on_life, d);
}

__u64 scoped__target_rate(const struct scoped *d, const struct dtarget *t)
{
	return watch__totals_rate(&t->w, d->o->rate, d->o->watch.go_every_call);
}

void scoped__target_estimate(const struct scoped *d, const struct dtarget *t,
			     struct heap_estimate *out)
{
	heap_profile__estimate(t->cur.e, t->cur.cnt, d->o->rate,
			       t->w.go && !d->o->watch.go_every_call ? watch__go_rate(&t->w) : 0,
			       out);
}

int scoped__target_visible(const struct dtarget *t, uid_t viewer)
{
	uid_t now;

	if (!viewer)
		return 1;
	if (t->owner != viewer)
		return 0;
	return !t->alive || (!peer__pid_owner(NULL, t->w.target.pid, &now) && now == viewer);
}
