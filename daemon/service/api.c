// SPDX-License-Identifier: MIT
/* httpd_ops for allocscoped. They run on libmicrohttpd's thread while the main loop drains: the
 * state's lock is held from the first read to the last, and only what they build (profiles,
 * text, copies of target names) leaves it; a seconds= window is summed with it let go (see
 * op_profile). */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "probe/overhead.h"
#include "probe/samplers.h"
#include "profile/heap_profile.h"
#include "profile/pprof.h"
#include "service/api.h"
#include "service/capture.h"
#include "service/metrics.h"
#include "service/peer.h"
#include "service/push_queue.h"
#include "service/state.h"
#include "symbols/rootfs.h"
#include "util/common.h"

/* /healthz fails after this many drain intervals without a drain of the main loop. */
#define HEALTH_MISSED_INTERVALS 3

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
		return cgroup__path_under(t->cg.path, q->value);
	case HTTPD_SEL_CONTAINER:
		return t->cg.container_id[0] &&
		       !strncasecmp(t->cg.container_id, q->value, strlen(q->value));
	}
	return 0;
}

/* A target a profile request selected, and, for seconds=, the snapshots of its window. */
struct picked {
	struct dtarget *t;
	int pid;
	__u64 attach_ns; /* with pid, tells t from a target allocated at the same address later */
	struct history_view *view;
	struct entry_set window;
	__u64 window_start;
};

/* The targets q selects that its viewer may read, into p (room for d->cnt): their count, or
 * -EACCES / -ENOENT when none (another user's pid is refused as such; other selectors only ever
 * see the viewer's own targets). For seconds=, each one's window is taken as a view. */
static int pick_targets(struct scoped *d, const struct httpd_query *q, __u64 since,
			struct picked *p)
{
	int denied = 0;
	size_t n = 0;

	for (size_t i = 0; i < d->cnt; i++) {
		struct dtarget *t = d->t[i];

		if (!target_matches(t, q))
			continue;
		if (!scoped__target_visible(t, q->viewer)) {
			denied = 1;
			continue;
		}
		p[n] = (struct picked){.t = t, .pid = t->w.target.pid, .attach_ns = t->attach_ns};
		if (q->seconds > 0) {
			p[n].view = history__view(t->hist, since);
			if (!p[n].view)
				return -ENOMEM;
		}
		n++;
	}
	if (!n)
		return denied && q->sel == HTTPD_SEL_PID ? -EACCES : -ENOENT;
	return n;
}

/* Whether p's target is still held by the daemon (the lock was let go since it was picked). */
static int still_held(const struct scoped *d, const struct picked *p)
{
	for (size_t i = 0; i < d->cnt; i++)
		if (d->t[i] == p->t)
			return p->t->w.target.pid == p->pid && p->t->attach_ns == p->attach_ns;
	return 0;
}

/* The profile's source for target t: its window or its totals, and its labels (room for 5). */
static void fill_source(struct scoped *d, struct picked *p, int delta, struct profile_source *src,
			struct pprof_label *l, struct heap_profile_opts *ho, __u64 *start)
{
	struct dtarget *t = p->t;
	size_t lc = 0;

	if (delta) {
		src->entries = p->window.e;
		src->cnt = p->window.cnt;
		if (p->window_start && (!*start || p->window_start < *start))
			*start = p->window_start;
	} else {
		src->entries = t->cur.e;
		src->cnt = t->cur.cnt;
		if (!*start || t->attach_ns < *start)
			*start = t->attach_ns;
	}
	l[lc++] = (struct pprof_label){.key = "host", .str = d->host};
	l[lc++] = (struct pprof_label){.key = "executable", .str = t->exe};
	if (t->cg.container_id[0])
		l[lc++] = (struct pprof_label){.key = "container_id", .str = t->cg.container_id};
	if (t->cg.pod_uid[0])
		l[lc++] = (struct pprof_label){.key = "pod_uid", .str = t->cg.pod_uid};
	src->target = &t->w.target;
	src->labels = l;
	src->label_cnt = lc;
	/* The Go rate of the first Go target serves as the profile's period. */
	if (t->w.go && !ho->go_rate) {
		ho->go_rate = watch__go_rate(&t->w);
		ho->has_go = !d->o->watch.go_every_call;
		ho->has_go_every_call = d->o->watch.go_every_call;
	}
	if (t->w.rate_written && !ho->go_rate_written)
		ho->go_rate_written = watch__go_rate(&t->w);
	ho->has_native |= t->w.native;
	ho->has_usdt |= t->w.source == ALLOC_SOURCE_USDT;
	ho->native_scheme = alloc_probes__scheme(d->ap);
}

/*
 * A seconds= window sums every snapshot of the window (an hour at --interval 1 is 3,600 per
 * target): that is done with the lock let go, on views of the snapshots, so that drains go on
 * meanwhile. The targets are picked, and the profile built from them, under the lock; a target
 * released in between (its retention ended) is left out.
 */
static int op_profile(void *ctx, enum httpd_profile kind, const struct httpd_query *q, void **buf,
		      size_t *len)
{
	struct scoped *d = ctx;
	struct profile_source *srcs = NULL;
	struct picked *picked = NULL;
	struct pprof_label *labels = NULL;
	char(*budget)[OVERHEAD_COMMENT_LEN] = NULL; /* the overhead budget's line per target */
	const char **comments = NULL;
	struct heap_profile_summary sum;
	struct pprof_builder *pb = NULL;
	struct heap_profile_opts ho = {
	    .native_rate = d->o->rate,
	    .wrappers = d->wrappers,
	    .default_sample_type = kind == HTTPD_PROFILE_ALLOCS ? "alloc_space" : "inuse_space",
	    .delta = q->seconds > 0,
	};
	__u64 counters[ALLOC_CNT_MAX], now, since, start = 0;
	size_t picked_cnt = 0, n = 0;
	int err = 0, locked = 1;

	pthread_mutex_lock(&d->lock);
	/* Fresh within a second, so a request right after an allocation sees it. */
	if (now_mono_ns() - d->stats.last_drain_mono_ns > NSEC_PER_SEC)
		scoped__drain(d);
	now = now_real_ns();
	if (q->seconds > d->o->retention_min * 60) {
		err = -ERANGE;
		goto cleanup;
	}
	since = q->seconds > 0 ? now - (__u64)q->seconds * NSEC_PER_SEC : 0;
	picked = calloc(d->cnt ? d->cnt : 1, sizeof(*picked));
	if (!picked) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = pick_targets(d, q, since, picked);
	picked_cnt = err > 0 ? (size_t)err : d->cnt;
	if (err < 0)
		goto cleanup;
	err = 0;
	if (q->seconds > 0) {
		pthread_mutex_unlock(&d->lock);
		locked = 0;
		for (size_t i = 0; i < picked_cnt && !err; i++)
			err = history_view__sum(picked[i].view, &picked[i].window,
						&picked[i].window_start);
		pthread_mutex_lock(&d->lock);
		locked = 1;
		if (err)
			goto cleanup;
	}
	srcs = calloc(picked_cnt, sizeof(*srcs));
	labels = calloc(picked_cnt * 5, sizeof(*labels));
	budget = calloc(picked_cnt, sizeof(*budget));
	comments = calloc(picked_cnt, sizeof(*comments));
	if (!srcs || !labels || !budget || !comments) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = 0; i < picked_cnt; i++)
		if (still_held(d, &picked[i])) {
			fill_source(d, &picked[i], q->seconds > 0, &srcs[n], &labels[n * 5], &ho,
				    &start);
			overhead__comment(d->ov, srcs[n].target->pid, budget[n], sizeof(budget[n]));
			comments[n] = budget[n];
			n++;
		}
	ho.comments = comments;
	ho.comment_cnt = n;
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
	if (locked)
		pthread_mutex_unlock(&d->lock);
	pprof__free(pb);
	if (picked)
		for (size_t i = 0; i < picked_cnt; i++) {
			history_view__free(picked[i].view);
			entry_set__clear(&picked[i].window);
		}
	free(picked);
	free(srcs);
	free(labels);
	free(budget);
	free(comments);
	return err;
}

static int op_timeline(void *ctx, const struct httpd_query *q, char **json)
{
	struct scoped *d = ctx;
	struct dtarget *best = NULL;
	int err = 0, denied = 0;

	pthread_mutex_lock(&d->lock);
	/* The newest matching target: the live one if the pid was reused. */
	for (size_t i = 0; i < d->cnt; i++) {
		if (!target_matches(d->t[i], q))
			continue;
		if (scoped__target_visible(d->t[i], q->viewer))
			best = d->t[i];
		else
			denied = 1;
	}
	if (!best) {
		err = denied && q->sel == HTTPD_SEL_PID ? -EACCES : -ENOENT;
	} else {
		best->w.tl.rate = scoped__target_rate(d, best);
		*json = timeline__to_json(&best->w.tl);
		if (!*json)
			err = -errno;
	}
	pthread_mutex_unlock(&d->lock);
	return err;
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

/* Gather under the lock what metrics__write shows, and write it there too: the names it points
 * at belong to targets the next drain may release. */
static int op_metrics(void *ctx, uid_t viewer, char **text)
{
	static const char *const map_names[] = {"stats", "live", "stacks"};
	struct scoped *d = ctx;
	struct metrics_map maps[ARRAY_SIZE(map_names)];
	struct metrics_target *mt = NULL;
	struct metrics_input in = {.maps = maps, .map_cnt = ARRAY_SIZE(maps)};
	struct unwind_stats us;
	size_t size = 0;
	char *buf = NULL;
	FILE *f;
	int err;

	f = open_memstream(&buf, &size);
	if (!f)
		return -errno;
	pthread_mutex_lock(&d->lock);
	mt = calloc(d->cnt ? d->cnt : 1, sizeof(*mt));
	if (!mt) {
		pthread_mutex_unlock(&d->lock);
		fclose(f);
		free(buf);
		return -ENOMEM;
	}
	for (size_t i = 0; i < d->cnt; i++) {
		struct dtarget *t = d->t[i];
		struct metrics_target *m = &mt[in.target_cnt];

		in.bounds.history_entries += history__entries(t->hist);
		if (!t->alive || !scoped__target_visible(t, viewer)) {
			if (!t->alive)
				in.bounds.exited++;
			continue;
		}
		m->pid = t->w.target.pid;
		m->exe = t->exe;
		m->comm = t->comm;
		m->container_id = t->cg.container_id;
		m->pod_uid = t->cg.pod_uid;
		m->go = t->w.go;
		m->gc_cycles = t->w.tl.cycles;
		m->go_rate_written = t->w.rate_written;
		m->rate = scoped__target_rate(d, t);
		m->has_overhead = !overhead__get(d->ov, m->pid, &m->overhead);
		alloc_probes__totals(d->ap, m->pid, &m->tot);
		/* As of the last drain; CFI samples are in the entries only. */
		if (t->cur.cnt) {
			scoped__target_estimate(d, t, &m->est);
			m->has_est = 1;
		}
		in.target_cnt++;
	}
	in.targets = mt;
	alloc_probes__counters(d->ap, in.counters);
	for (size_t i = 0; i < ARRAY_SIZE(maps); i++) {
		maps[i] = (struct metrics_map){.name = map_names[i]};
		maps[i].entries = alloc_probes__map_fill(d->ap, map_names[i], &maps[i].capacity);
	}
	in.probes_attached = alloc_probes__link_count(d->ap);
	in.bounds.history_entries_max = d->o->max_history_entries;
	in.bounds.exited_max = d->o->max_exited;
	in.bounds.frames_interned = stack__frame_count();
	in.bounds.stacks_cached = stack_cache__size(d->cache);
	in.mmap_tracing =
	    alloc_probes__mmap_tracing(d->ap, &in.mmap_tracing_attaches, &in.mmap_tracing_targets);
	in.drains = d->stats.drains;
	in.drain_ns_total = d->stats.drain_ns_total;
	in.drain_ns_last = d->stats.drain_ns_last;
	in.snapshots_dropped = d->stats.snapshots_dropped;
	in.exited_dropped = d->stats.exited_dropped;
	in.attach_failures = d->stats.attach_failures;
	in.exec_attach = &d->stats.exec_attach;
	if (d->push_q) {
		struct push_queue_stats ps;

		push_queue__stats(d->push_q, &ps);
		in.pushes = ps.sent;
		in.push_retries = ps.retried;
		in.push_dropped[METRICS_PUSH_DROP_FULL] = ps.dropped_full;
		in.push_dropped[METRICS_PUSH_DROP_REFUSED] = ps.dropped_refused;
		in.push_dropped[METRICS_PUSH_DROP_SHUTDOWN] = ps.dropped_shutdown;
		in.push_failures = ps.dropped_full + ps.dropped_refused + ps.dropped_shutdown;
		in.push_queued = ps.queued;
	}
	in.rss_bytes = self_rss_bytes();
	for (int i = 0; i < ROOTFS_REFUSED__CNT; i++)
		in.files_refused[i] = rootfs__refused(i);
	if (d->uw) {
		unwinder__stats(d->uw, &us);
		in.unwind = &us;
	}
	metrics__write(f, &in);
	capture__write_metrics(d, f, viewer);
	pthread_mutex_unlock(&d->lock);
	free(mt);
	err = fclose(f) ? -errno : 0;
	if (err) {
		free(buf);
		return err;
	}
	*text = buf;
	return 0;
}

static int op_targets(void *ctx, uid_t viewer, struct httpd_target **out, size_t *cnt)
{
	struct scoped *d = ctx;
	struct httpd_target *ts;
	size_t n = 0;

	pthread_mutex_lock(&d->lock);
	ts = calloc(d->cnt ? d->cnt : 1, sizeof(*ts));
	if (!ts) {
		pthread_mutex_unlock(&d->lock);
		return -ENOMEM;
	}
	for (size_t i = 0; i < d->cnt; i++) {
		struct dtarget *t = d->t[i];
		struct httpd_target *o = &ts[n];

		if (!scoped__target_visible(t, viewer))
			continue;
		o->pid = t->w.target.pid;
		o->alive = t->alive;
		snprintf(o->exe, sizeof(o->exe), "%s", t->exe);
		snprintf(o->comm, sizeof(o->comm), "%s", t->comm);
		snprintf(o->cgroup, sizeof(o->cgroup), "%s", t->cg.path);
		snprintf(o->kind, sizeof(o->kind), "%s",
			 t->w.go && t->w.native ? "go+native"
			 : t->w.go		? "go"
						: "native");
		n++;
	}
	*cnt = n;
	pthread_mutex_unlock(&d->lock);
	*out = ts;
	return 0;
}

/* Unhealthy when the main loop has not drained for HEALTH_MISSED_INTERVALS intervals (and a
 * second): read without the lock, which a stuck loop may hold. */
static int op_health(void *ctx, char *why, size_t len)
{
	struct scoped *d = ctx;
	__u64 last = __atomic_load_n(&d->stats.loop_drain_mono_ns, __ATOMIC_RELAXED);
	__u64 interval = __atomic_load_n(&d->stats.interval_ns, __ATOMIC_RELAXED);
	__u64 now = now_mono_ns();

	if (!last || !interval || now < last ||
	    now - last <= HEALTH_MISSED_INTERVALS * interval + NSEC_PER_SEC)
		return 0;
	snprintf(why, len, "the drain loop has made no progress for %.1f s (interval %.1f s)",
		 (now - last) / 1e9, interval / 1e9);
	return -1;
}

static int op_snapshot_take(void *ctx, int pid, char **json)
{
	struct scoped *d = ctx;
	int err;

	pthread_mutex_lock(&d->lock);
	err = capture__request(d, pid, json);
	pthread_mutex_unlock(&d->lock);
	return err;
}

static int op_snapshot_list(void *ctx, char **json)
{
	struct scoped *d = ctx;
	int err = 0;

	pthread_mutex_lock(&d->lock);
	*json = snapshot_store__list_json(capture__store(d->capture));
	if (!*json)
		err = -errno;
	pthread_mutex_unlock(&d->lock);
	return err;
}

static int op_snapshot_get(void *ctx, const char *id, char **json)
{
	struct scoped *d = ctx;
	int err = 0;

	pthread_mutex_lock(&d->lock);
	*json = snapshot_store__get_json(capture__store(d->capture), id);
	if (!*json)
		err = -errno;
	pthread_mutex_unlock(&d->lock);
	return err;
}

static int op_snapshot_pprof(void *ctx, const char *id, void **buf, size_t *len)
{
	struct scoped *d = ctx;
	int err;

	pthread_mutex_lock(&d->lock);
	err = snapshot_store__pprof(capture__store(d->capture), id, buf, len);
	pthread_mutex_unlock(&d->lock);
	return err;
}

const struct httpd_ops scoped_api_ops = {
    .profile = op_profile,
    .timeline = op_timeline,
    .metrics = op_metrics,
    .targets = op_targets,
    .health = op_health,
    .snapshot_take = op_snapshot_take,
    .snapshot_list = op_snapshot_list,
    .snapshot_get = op_snapshot_get,
    .snapshot_pprof = op_snapshot_pprof,
};
