// SPDX-License-Identifier: MIT
/*
 * The drain: on every interval, the kernel maps into each live target's cumulative entries and
 * a snapshot of what changed since the drain before; then expiry of history and of exited
 * targets, and the stacks no one refers to any more. Memory is bounded by configuration:
 * snapshots older than the retention, or beyond max_history_entries, are dropped oldest first.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "probe/collect.h"
#include "probe/overhead.h"
#include "service/history.h"
#include "service/state.h"
#include "util/common.h"
#include "util/log.h"

/* How long the mmap tracepoints outlive the last target that needed them: their attach is cheap,
 * their detach waits for RCU (0.3 s), and short-lived native processes come in bursts. */
#define MMAP_DETACH_GRACE_NS (10 * NSEC_PER_SEC)

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
			dtarget__free(t);
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

	scoped__poll_events(d);
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
		/* Its first cycled period's samples, once that period has measured what they
		 * weigh: cumulative entries cannot change key from one drain to the next. */
		if (entry_set__has_pending(&dc.next[i]))
			entry_set__resolve_pending(
			    &dc.next[i],
			    overhead__pending_key(d->ov, t->w.target.pid,
						  t->w.target.alive ? OVERHEAD_PENDING_HOLD
								    : OVERHEAD_PENDING_FINAL));
		history__sort(&dc.next[i]);
		/* Out of memory: the interval is lost to the history, not to the totals. */
		history__record(t->hist, t->last_drain_ns, now, &dc.next[i], &t->cur);
		entry_set__clear(&t->cur);
		t->cur = dc.next[i];
		dc.next[i] = (struct entry_set){};
		t->last_drain_ns = now;
		watch__interval(&t->w, d->ap);
		if (!t->w.target.alive)
			scoped__target_ended(d, t);
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
	alloc_probes__mmap_tick(d->ap, MMAP_DETACH_GRACE_NS);
	d->stats.drains++;
	d->stats.last_drain_mono_ns = now_mono_ns();
	d->stats.drain_ns_last = d->stats.last_drain_mono_ns - t0;
	d->stats.drain_ns_total += d->stats.drain_ns_last;
}
