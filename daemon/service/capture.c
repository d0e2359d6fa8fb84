// SPDX-License-Identifier: MIT
/*
 * Triggers into snapshots. An OOM victim's heap must be read before its kernel state is let go:
 * its event makes the loop drain at once, and the exit path (capture__target_ending, called by
 * scoped__target_ended before collect__forget_pid) takes the snapshot of a victim that exited
 * first, from the entries that drain read. Automatic triggers honour a per-target cooldown.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probe/oom_watch.h"
#include "probe/samplers.h"
#include "probe/sampling.h"
#include "profile/heap_profile.h"
#include "profile/pprof.h"
#include "profile/pprof_decode.h"
#include "profile/site.h"
#include "profile/timeline.h"
#include "service/capture.h"
#include "service/push_queue.h"
#include "service/push_series.h"
#include "service/metrics.h"
#include "service/push.h"
#include "service/state.h"
#include "util/common.h"
#include "util/log.h"

#define MAX_PENDING 64
#define TOP_GROWING 3 /* growing sites per target in /metrics */
/* heap_profile\'s sample types: alloc_objects, alloc_space, inuse_objects, inuse_space. */
#define INUSE_SPACE_IDX 3
#define MAX_CG_PSI	8
#define MAX_PUSH_QUEUE	16	/* snapshots waiting for --push */
#define PSI_WINDOW_US	2000000 /* unprivileged PSI triggers need a multiple of 2 s */

/* What capture keeps per watched process; matched to a dtarget by pid and attach time. */
struct ctarget {
	int pid;
	__u64 attach_ns;
	__u64 last_auto_ns; /* monotonic: the last automatic snapshot, for the cooldown */
	__u64 inuse_bytes;  /* as of the last drain */
	double grew;	    /* in-use growth over the window, as of the last drain */
	__u64 sites_ns;	    /* monotonic: when top[] was worked out */
	struct growing_site {
		char function[128];
		__s64 bytes; /* in-use growth over the window, unsampled */
	} top[TOP_GROWING];
	int memcg_version; /* 0: unknown */
	char memcg_path[256];
	char v2_path[256];
	int has_cg;
	struct memcg_figures last_cg;
	struct growth_window g;
	int seen;
};

struct pending_oom {
	int pid;
	char detail[160];
};

struct cg_psi {
	char v2_path[256];
	int fd;
	int used;
};

struct capture {
	struct capture_opts o;
	struct snapshot_store *store;
	struct oom_watch *oom;
	int psi_fd;
	struct cg_psi cg[MAX_CG_PSI];
	struct ctarget *ct;
	size_t ct_cnt;
	size_t ct_cap;
	struct pending_oom pending[MAX_PENDING];
	size_t pending_cnt;
	int consuming; /* inside oom_watch__poll */
	/* Snapshots to push (--push), by ID: sent by the loop outside the lock. */
	char push_queue[MAX_PUSH_QUEUE][SNAPSHOT_ID_MAX];
	size_t push_cnt;
	__u64 push_dropped;
	__u64 last_id_ms;
};

void capture_opts__defaults(struct capture_opts *o)
{
	*o = (struct capture_opts){
	    .triggers = 1u << TRIGGER_OOM | 1u << TRIGGER_PRESSURE | 1u << TRIGGER_LIMIT |
			1u << TRIGGER_GROWTH,
	    .max_in_memory = 32,
	    .max_age_s = 7 * 24 * 3600,
	    .max_disk_bytes = 256ULL << 20,
	    .cooldown_s = 300,
	    .psi_stall_ms = 200,
	    .limit_ratio = 0.9,
	    .growth_fraction = 1.0,
	    .growth_window_s = 600,
	    .growth_min_bytes = 16ULL << 20,
	    .timeline_s = 600,
	    .sys_root = "/sys/fs/cgroup",
	    .psi_path = "/proc/pressure/memory",
	};
}

static bool enabled(const struct capture *c, enum trigger_kind k)
{
	return c->o.triggers & (1u << k);
}

struct snapshot_store *capture__store(struct capture *c)
{
	return c->store;
}

struct capture *capture__new(struct scoped *d)
{
	struct capture_opts *o = &d->o->snap;
	struct snapshot_store_opts so = {
	    .dir = o->dir,
	    .max_in_memory = o->max_in_memory,
	    .max_age_ns = (__u64)(o->max_age_s * NSEC_PER_SEC),
	    .max_disk_bytes = o->max_disk_bytes,
	};
	struct capture *c = calloc(1, sizeof(*c));
	int err;

	if (!c)
		return NULL;
	c->o = *o;
	c->psi_fd = -1;
	for (size_t i = 0; i < MAX_CG_PSI; i++)
		c->cg[i].fd = -1;
	c->store = snapshot_store__new(&so);
	if (!c->store) {
		free(c);
		return NULL;
	}
	if (enabled(c, TRIGGER_OOM)) {
		c->oom = oom_watch__new(d->o->verbose);
		if (!c->oom)
			log_warn("no OOM snapshots: %s", errno == EOPNOTSUPP
							     ? "this kernel has no oom/mark_victim "
							       "BTF tracepoint"
							     : strerror(errno));
	}
	if (enabled(c, TRIGGER_PRESSURE)) {
		err = psi_trigger__open(c->o.psi_path, (__u64)(c->o.psi_stall_ms * 1000),
					PSI_WINDOW_US);
		if (err < 0)
			log_warn(
			    "no system-wide pressure snapshots: cannot set a PSI trigger on %s: "
			    "%s",
			    c->o.psi_path, strerror(-err));
		else
			c->psi_fd = err;
	}
	return c;
}

void capture__free(struct capture *c)
{
	if (!c)
		return;
	oom_watch__free(c->oom);
	if (c->psi_fd >= 0)
		close(c->psi_fd);
	for (size_t i = 0; i < MAX_CG_PSI; i++)
		if (c->cg[i].fd >= 0)
			close(c->cg[i].fd);
	snapshot_store__free(c->store);
	free(c->ct);
	free(c);
}

size_t capture__fds(struct capture *c, struct pollfd *pfd, size_t max)
{
	size_t n = 0;

	if (c->oom && n < max)
		pfd[n++] = (struct pollfd){.fd = oom_watch__fd(c->oom), .events = POLLIN};
	if (c->psi_fd >= 0 && n < max)
		pfd[n++] = (struct pollfd){.fd = c->psi_fd, .events = POLLPRI};
	for (size_t i = 0; i < MAX_CG_PSI && n < max; i++)
		if (c->cg[i].fd >= 0)
			pfd[n++] = (struct pollfd){.fd = c->cg[i].fd, .events = POLLPRI};
	return n;
}

/* The unsampled in-use estimate of a target's entries, as its heap profile would show it. */
static void inuse_estimate(const struct scoped *d, const struct dtarget *t, __u64 *bytes,
			   __u64 *objects)
{
	struct heap_estimate est;

	scoped__target_estimate(d, t, &est);
	*bytes = est.inuse_bytes;
	*objects = est.inuse_cnt;
}

/* What capture keeps of t, or NULL while it has nothing. */
static struct ctarget *ctarget_find(const struct capture *c, const struct dtarget *t)
{
	for (size_t i = 0; i < c->ct_cnt; i++)
		if (c->ct[i].pid == t->w.target.pid && c->ct[i].attach_ns == t->attach_ns)
			return &c->ct[i];
	return NULL;
}

static struct ctarget *ctarget_of(struct capture *c, const struct dtarget *t)
{
	struct ctarget *n = ctarget_find(c, t);

	if (n)
		return n;
	if (c->ct_cnt == c->ct_cap) {
		size_t cap = c->ct_cap ? c->ct_cap * 2 : 16;

		n = realloc(c->ct, cap * sizeof(*n));
		if (!n)
			return NULL;
		c->ct = n;
		c->ct_cap = cap;
	}
	n = &c->ct[c->ct_cnt++];
	*n = (struct ctarget){.pid = t->w.target.pid, .attach_ns = t->attach_ns};
	return n;
}

/* Its memory cgroup's paths, read while the process lives: at attach and at every drain (it may
 * be moved), so that a victim already gone when its snapshot is written still has them. */
static void learn_cgroup(struct capture *c, struct ctarget *ct)
{
	char path[64], text[4096], memcg[sizeof(ct->memcg_path)], v2[sizeof(ct->v2_path)];
	ssize_t n;
	int fd, v, version;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", ct->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return;
	text[n] = '\0';
	if (memcg__path_parse(text, 0, &version, memcg, sizeof(memcg)))
		return;
	/* An exited process (a zombie until reaped: a killed victim) shows the root cgroup: keep
	 * what was learnt while it lived. Processes are not moved back to the root otherwise. */
	if (!strcmp(memcg, "/") && ct->memcg_version && strcmp(ct->memcg_path, "/"))
		return;
	ct->memcg_version = version;
	snprintf(ct->memcg_path, sizeof(ct->memcg_path), "%s", memcg);
	if (memcg__path_parse(text, 1, &v, v2, sizeof(v2)))
		v2[0] = '\0';
	snprintf(ct->v2_path, sizeof(ct->v2_path), "%s", v2);
}

void capture__target_started(struct scoped *d, struct dtarget *t)
{
	struct ctarget *ct;

	if (!d->capture)
		return;
	ct = ctarget_of(d->capture, t);
	if (ct) {
		ct->seen = 1;
		learn_cgroup(d->capture, ct);
	}
}

/* The timeline's points of the last timeline_s seconds, as JSON. */
static char *recent_timeline(const struct capture *c, struct dtarget *t, __u64 rate, __u64 now)
{
	struct timeline tl = t->w.tl;
	__u64 since = now - (__u64)(c->o.timeline_s * NSEC_PER_SEC);
	size_t first = 0;
	char *json;

	while (first < tl.cnt && tl.points[first].time_ns < since)
		first++;
	tl.points = calloc(tl.cnt - first + 1, sizeof(*tl.points));
	if (!tl.points)
		return NULL;
	memcpy(tl.points, t->w.tl.points + first, (tl.cnt - first) * sizeof(*tl.points));
	tl.cnt = tl.cap = t->w.tl.cnt - first;
	tl.rate = rate;
	json = timeline__to_json(&tl);
	free(tl.points);
	return json;
}

static int build_profile(struct scoped *d, struct dtarget *t, const char *trigger, void **buf,
			 size_t *len)
{
	struct pprof_label labels[4];
	struct profile_source src = {
	    .target = &t->w.target, .entries = t->cur.e, .cnt = t->cur.cnt, .labels = labels};
	struct heap_profile_opts ho = {
	    .native_rate = d->o->rate,
	    .wrappers = d->wrappers,
	    .default_sample_type = "inuse_space",
	    .has_native = t->w.native,
	    .has_usdt = t->w.source == ALLOC_SOURCE_USDT,
	    .native_scheme = alloc_probes__scheme(d->ap),
	};
	__u64 counters[ALLOC_CNT_MAX];
	struct heap_profile_summary sum;
	struct pprof_builder *pb = NULL;
	int err;

	labels[src.label_cnt++] = (struct pprof_label){.key = "host", .str = d->host};
	labels[src.label_cnt++] = (struct pprof_label){.key = "executable", .str = t->exe};
	labels[src.label_cnt++] = (struct pprof_label){.key = "trigger", .str = trigger};
	if (t->cg.container_id[0])
		labels[src.label_cnt++] =
		    (struct pprof_label){.key = "container_id", .str = t->cg.container_id};
	if (t->w.go) {
		ho.go_rate = watch__go_rate(&t->w);
		ho.has_go = !d->o->watch.go_every_call;
		ho.has_go_every_call = d->o->watch.go_every_call;
	}
	ho.period = ho.has_go ? ho.go_rate : ho.native_rate;
	ho.time_ns = t->attach_ns;
	ho.duration_ns = now_real_ns() - t->attach_ns;
	alloc_probes__counters(d->ap, counters);
	ho.counters = counters;
	err = heap_profile__build(&src, 1, d->sym, &ho, &pb, &sum);
	if (!err)
		err = pprof__encode(pb, buf, len);
	pprof__free(pb);
	return err;
}

/* Build t's snapshot from its entries as of the last drain and keep it. */
static int take(struct scoped *d, struct dtarget *t, enum trigger_kind kind, const char *detail,
		char **json)
{
	struct capture *c = d->capture;
	struct ctarget *ct = ctarget_of(c, t);
	__u64 now = now_real_ns(), ms = now / NSEC_PER_MSEC;
	struct snap_meta m = {.pid = t->w.target.pid, .trigger = kind, .time_ns = now};
	char *timeline = NULL;
	void *buf = NULL;
	size_t len = 0;
	int err;

	/* Unique and increasing, whatever the clock does. */
	if (ms <= c->last_id_ms)
		ms = c->last_id_ms + 1;
	c->last_id_ms = ms;
	snprintf(m.id, sizeof(m.id), "%llu-%d-%s", (unsigned long long)ms, m.pid,
		 trigger__name(kind));
	snprintf(m.exe, sizeof(m.exe), "%s", t->exe);
	snprintf(m.comm, sizeof(m.comm), "%s", t->comm);
	snprintf(m.detail, sizeof(m.detail), "%s", detail);
	if (ct) {
		if (t->alive && t->w.target.alive)
			learn_cgroup(c, ct);
		if (ct->memcg_version &&
		    !memcg__read(c->o.sys_root, ct->memcg_version, ct->memcg_path, &m.cg)) {
			m.has_cg = 1;
			snprintf(m.cgroup, sizeof(m.cgroup), "%s", ct->memcg_path);
		}
	}
	for (size_t i = t->w.tl.cnt; i-- > 0;) {
		if (t->w.tl.points[i].kind == TIMELINE_INTERVAL && t->w.tl.points[i].rss_bytes) {
			m.rss_bytes = t->w.tl.points[i].rss_bytes;
			m.anon_bytes = t->w.tl.points[i].anon_bytes;
			break;
		}
	}
	inuse_estimate(d, t, &m.inuse_bytes, &m.inuse_objects);
	err = build_profile(d, t, trigger__name(kind), &buf, &len);
	if (err) {
		snapshot_store__stats(c->store)->failed++;
		log_warn("snapshot of pid %d (%s): cannot build its profile: %s", m.pid,
			 trigger__name(kind), strerror(-err));
		return err;
	}
	timeline = recent_timeline(c, t, scoped__target_rate(d, t), now);
	m.profile_bytes = len;
	err = snapshot_store__add(c->store, &m, buf, len, timeline, now);
	if (err)
		return err;
	if (json) {
		*json = snapshot_store__get_json(c->store, m.id);
		if (!*json)
			return -errno;
	}
	if (d->push_q) {
		if (c->push_cnt < MAX_PUSH_QUEUE)
			snprintf(c->push_queue[c->push_cnt++], SNAPSHOT_ID_MAX, "%s", m.id);
		else
			c->push_dropped++;
	}
	log_info("snapshot %s of pid %d (%s): %s; in use ~%llu bytes", m.id, m.pid, t->exe,
		 trigger__name(kind), (unsigned long long)m.inuse_bytes);
	return 0;
}

/* An automatic trigger for t: taken unless its cooldown runs. */
static void take_auto(struct scoped *d, struct dtarget *t, enum trigger_kind kind,
		      const char *detail)
{
	struct capture *c = d->capture;
	struct ctarget *ct = ctarget_of(c, t);
	__u64 now = now_mono_ns();

	if (ct && ct->last_auto_ns && now - ct->last_auto_ns < c->o.cooldown_s * NSEC_PER_SEC) {
		snapshot_store__stats(c->store)->suppressed++;
		log_debug("pid %d: %s snapshot suppressed by the cooldown", t->w.target.pid,
			  trigger__name(kind));
		return;
	}
	if (ct)
		ct->last_auto_ns = now;
	take(d, t, kind, detail, NULL);
}

static void on_oom(void *ctx, const struct oom_event *e)
{
	struct scoped *d = ctx;
	struct capture *c = d->capture;
	struct pending_oom *p;
	struct dtarget *t = scoped__find_alive(d, e->tgid);
	unsigned long long page_kb = sysconf(_SC_PAGESIZE) / 1024;

	log_info("OOM killer chose pid %u (%.16s)%s", e->tgid, e->comm,
		 t ? ": a target, snapshotting its heap" : "");
	/* One kill, one snapshot: a victim the OOM killer reports again (a memcg OOM invoked
	 * once more while it exits) is pending or done already. */
	if (!t || t->oom_snapshot || c->pending_cnt == MAX_PENDING)
		return;
	t->oom_snapshot = 1;
	p = &c->pending[c->pending_cnt++];
	p->pid = e->tgid;
	snprintf(p->detail, sizeof(p->detail),
		 "the OOM killer chose pid %u (%.16s): total_vm %llu kB, rss %llu kB", e->tgid,
		 e->comm, (unsigned long long)e->total_vm_pages * page_kb,
		 (unsigned long long)e->rss_pages * page_kb);
}

static void consume_oom(struct scoped *d)
{
	struct capture *c = d->capture;

	if (!c->oom || c->consuming)
		return;
	c->consuming = 1;
	oom_watch__poll(c->oom, on_oom, d);
	c->consuming = 0;
}

/* Take the snapshot of a pending victim; -ENOENT when pid is not pending. */
static int take_pending(struct scoped *d, struct dtarget *t)
{
	struct capture *c = d->capture;

	for (size_t i = 0; i < c->pending_cnt; i++) {
		struct pending_oom p = c->pending[i];

		if (p.pid != t->w.target.pid)
			continue;
		c->pending[i] = c->pending[--c->pending_cnt];
		take(d, t, TRIGGER_OOM, p.detail, NULL);
		return 0;
	}
	return -ENOENT;
}

void capture__target_ending(struct scoped *d, struct dtarget *t)
{
	if (!d->capture)
		return;
	consume_oom(d);
	take_pending(d, t);
}

/* The alive target with the most in use: the one system-wide pressure is blamed on. */
static struct dtarget *largest_target(struct scoped *d)
{
	struct dtarget *best = NULL;
	__u64 most = 0;

	for (size_t i = 0; i < d->cnt; i++) {
		struct ctarget *ct;

		if (!d->t[i]->alive)
			continue;
		ct = ctarget_of(d->capture, d->t[i]);
		if (ct && (!best || ct->inuse_bytes > most)) {
			best = d->t[i];
			most = ct->inuse_bytes;
		}
	}
	return best;
}

static void on_pressure(struct scoped *d, const char *v2_path)
{
	struct capture *c = d->capture;
	char detail[384], text[512], path[PATH_MAX];
	struct psi_figures psi = {};
	struct dtarget *t;
	int fd = -1;
	ssize_t n;

	if (!v2_path)
		fd = open(c->o.psi_path, O_RDONLY | O_CLOEXEC);
	else if (!memcg__pressure_path(c->o.sys_root, v2_path, path, sizeof(path)))
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, text, sizeof(text) - 1);
		if (n > 0) {
			text[n] = '\0';
			psi__parse(text, &psi);
		}
		close(fd);
	}
	if (!v2_path) {
		snprintf(detail, sizeof(detail),
			 "memory pressure: tasks stalled %.0f ms in 2 s system-wide (some avg10 "
			 "%.2f%%)",
			 c->o.psi_stall_ms, psi.some_avg10);
		t = largest_target(d);
		if (t)
			take_auto(d, t, TRIGGER_PRESSURE, detail);
		return;
	}
	snprintf(detail, sizeof(detail),
		 "memory pressure in cgroup %s: tasks stalled %.0f ms in 2 s (some avg10 %.2f%%)",
		 v2_path, c->o.psi_stall_ms, psi.some_avg10);
	for (size_t i = 0; i < d->cnt; i++) {
		struct ctarget *ct;

		if (!d->t[i]->alive)
			continue;
		ct = ctarget_of(c, d->t[i]);
		if (ct && !strcmp(ct->v2_path, v2_path))
			take_auto(d, d->t[i], TRIGGER_PRESSURE, detail);
	}
}

void capture__on_wake(struct scoped *d, const struct pollfd *pfd, size_t n)
{
	struct capture *c = d->capture;

	if (!c)
		return;
	consume_oom(d);
	if (c->pending_cnt) {
		/* Read the victims' maps now; one that already exited has its snapshot taken
		 * in capture__target_ending, on the way out of this drain. */
		scoped__drain(d);
		while (c->pending_cnt) {
			struct dtarget *t = scoped__find_alive(d, c->pending[0].pid);

			if (!t || take_pending(d, t))
				c->pending[0] = c->pending[--c->pending_cnt];
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!(pfd[i].revents & (POLLPRI | POLLERR)))
			continue;
		if (pfd[i].fd == c->psi_fd) {
			if (pfd[i].revents & POLLERR) {
				/* Not to be polled again: it would wake the loop for ever. */
				log_warn(
				    "the PSI trigger on %s failed: no more system-wide pressure "
				    "snapshots",
				    c->o.psi_path);
				close(c->psi_fd);
				c->psi_fd = -1;
			} else {
				on_pressure(d, NULL);
			}
			continue;
		}
		for (size_t k = 0; k < MAX_CG_PSI; k++) {
			struct cg_psi *g = &c->cg[k];

			if (g->fd != pfd[i].fd)
				continue;
			if (pfd[i].revents & POLLERR) {
				/* The cgroup went away. */
				close(g->fd);
				g->fd = -1;
			} else {
				on_pressure(d, g->v2_path);
			}
		}
	}
}

/* A PSI trigger on the v2 cgroup of every target (but the root's, which is the system's), while
 * some target is in it; at most MAX_CG_PSI. */
static void update_cg_psi(struct scoped *d)
{
	struct capture *c = d->capture;
	char path[PATH_MAX];

	for (size_t k = 0; k < MAX_CG_PSI; k++)
		c->cg[k].used = 0;
	for (size_t i = 0; i < c->ct_cnt; i++) {
		struct ctarget *ct = &c->ct[i];
		size_t k, free_slot = MAX_CG_PSI;
		int fd;

		if (!ct->seen || !ct->v2_path[0] || !strcmp(ct->v2_path, "/"))
			continue;
		for (k = 0; k < MAX_CG_PSI; k++) {
			if (c->cg[k].fd >= 0 && !strcmp(c->cg[k].v2_path, ct->v2_path))
				break;
			if (c->cg[k].fd < 0 && free_slot == MAX_CG_PSI)
				free_slot = k;
		}
		if (k < MAX_CG_PSI) {
			c->cg[k].used = 1;
			continue;
		}
		if (free_slot == MAX_CG_PSI ||
		    memcg__pressure_path(c->o.sys_root, ct->v2_path, path, sizeof(path)))
			continue;
		fd = psi_trigger__open(path, (__u64)(c->o.psi_stall_ms * 1000), PSI_WINDOW_US);
		if (fd < 0) {
			log_debug("no PSI trigger on %s: %s", path, strerror(-fd));
			continue;
		}
		c->cg[free_slot] = (struct cg_psi){.fd = fd, .used = 1};
		snprintf(c->cg[free_slot].v2_path, sizeof(c->cg[free_slot].v2_path), "%s",
			 ct->v2_path);
	}
	for (size_t k = 0; k < MAX_CG_PSI; k++) {
		if (c->cg[k].fd >= 0 && !c->cg[k].used) {
			close(c->cg[k].fd);
			c->cg[k].fd = -1;
		}
	}
}

/* The functions whose in-use grew most over the growth window (bounded by the history kept):
 * the window's delta profile, by function, largest in-use growth first. */
static void find_growing_sites(struct scoped *d, struct dtarget *t, struct ctarget *ct)
{
	struct capture *c = d->capture;
	__u64 now = now_real_ns(), window = (__u64)(c->o.growth_window_s * NSEC_PER_SEC);
	struct pprof_label label = {.key = "executable", .str = t->exe};
	struct heap_profile_opts ho = {
	    .native_rate = d->o->rate, .delta = 1, .wrappers = d->wrappers};
	struct site_set_opts so = {.by = SITE_BY_FUNCTION, .wrappers = d->wrappers};
	struct profile_source src = {.target = &t->w.target, .labels = &label, .label_cnt = 1};
	struct heap_profile_summary sum;
	struct pprof_builder *pb = NULL;
	struct pprof_profile *p = NULL;
	struct site_set *sites = NULL;
	struct entry_set win = {};
	void *buf = NULL;
	size_t len = 0, n = 0;
	__u64 ws = 0;

	memset(ct->top, 0, sizeof(ct->top));
	if (history__window(t->hist, now > window ? now - window : 0, &win, &ws) || !win.cnt)
		goto cleanup;
	src.entries = win.e;
	src.cnt = win.cnt;
	if (t->w.go) {
		ho.go_rate = watch__go_rate(&t->w);
		ho.has_go = !d->o->watch.go_every_call;
	}
	ho.period = ho.has_go ? ho.go_rate : ho.native_rate;
	if (heap_profile__build(&src, 1, d->sym, &ho, &pb, &sum) || pprof__encode(pb, &buf, &len))
		goto cleanup;
	p = pprof__decode(buf, len);
	sites = p ? site_set__new(p, &so) : NULL;
	if (!sites || site_set__value_cnt(sites) <= INUSE_SPACE_IDX)
		goto cleanup;
	site_set__sort(sites, INUSE_SPACE_IDX);
	for (size_t i = 0; i < site_set__cnt(sites) && n < TOP_GROWING; i++) {
		const struct site *st = site_set__get(sites, i);

		if (st->values[INUSE_SPACE_IDX] <= 0)
			break;
		snprintf(ct->top[n].function, sizeof(ct->top[n].function), "%s", st->function);
		ct->top[n++].bytes = st->values[INUSE_SPACE_IDX];
	}
cleanup:
	site_set__free(sites);
	pprof__profile_free(p);
	free(buf);
	pprof__free(pb);
	entry_set__clear(&win);
}

void capture__after_drain(struct scoped *d)
{
	struct capture *c = d->capture;
	__u64 now = now_mono_ns(), window = (__u64)(c ? c->o.growth_window_s * NSEC_PER_SEC : 0);
	size_t j = 0;

	if (!c)
		return;
	for (size_t i = 0; i < c->ct_cnt; i++)
		c->ct[i].seen = 0;
	for (size_t i = 0; i < d->cnt; i++) {
		struct dtarget *t = d->t[i];
		struct memcg_figures now_cg;
		struct ctarget *ct;
		__u64 objects;
		char detail[384];
		double grew;
		bool fired;

		if (!t->alive)
			continue;
		ct = ctarget_of(c, t);
		if (!ct)
			continue;
		ct->seen = 1;
		learn_cgroup(c, ct);
		inuse_estimate(d, t, &ct->inuse_bytes, &objects);
		growth__record(&ct->g, now, ct->inuse_bytes, window);
		fired = growth__check(&ct->g, window, c->o.growth_fraction, c->o.growth_min_bytes,
				      &grew);
		ct->grew = grew;
		/* A profile build per growing target: every tenth of the window, at most every
		 * drain. One that does not grow has no growing functions. */
		if (grew <= 0) {
			memset(ct->top, 0, sizeof(ct->top));
		} else if (!ct->sites_ns || now - ct->sites_ns >= window / 10) {
			find_growing_sites(d, t, ct);
			ct->sites_ns = now;
		}
		if (enabled(c, TRIGGER_GROWTH) && fired) {
			snprintf(detail, sizeof(detail),
				 "in use grew by %.0f%% in %.0f s, to ~%llu bytes", grew * 100,
				 c->o.growth_window_s, (unsigned long long)ct->inuse_bytes);
			take_auto(d, t, TRIGGER_GROWTH, detail);
		}
		if (enabled(c, TRIGGER_LIMIT) && ct->memcg_version &&
		    !memcg__read(c->o.sys_root, ct->memcg_version, ct->memcg_path, &now_cg)) {
			if (memcg__near_limit(&now_cg, ct->has_cg ? &ct->last_cg : NULL,
					      c->o.limit_ratio)) {
				snprintf(detail, sizeof(detail),
					 "cgroup %s near its limit: %llu of %llu bytes in use",
					 ct->memcg_path, (unsigned long long)now_cg.usage_bytes,
					 (unsigned long long)now_cg.limit_bytes);
				take_auto(d, t, TRIGGER_LIMIT, detail);
			}
			ct->last_cg = now_cg;
			ct->has_cg = 1;
		}
	}
	/* Forget the processes that are no longer watched. */
	for (size_t i = 0; i < c->ct_cnt; i++)
		if (c->ct[i].seen)
			c->ct[j++] = c->ct[i];
	c->ct_cnt = j;
	if (enabled(c, TRIGGER_PRESSURE))
		update_cg_psi(d);
	snapshot_store__expire(c->store, now_real_ns());
}

int capture__request(struct scoped *d, int pid, char **json)
{
	struct dtarget *t = NULL;

	if (!d->capture)
		return -EOPNOTSUPP;
	/* The heap at this moment: a drain now, not the last one. */
	scoped__drain(d);
	for (size_t i = 0; i < d->cnt; i++)
		if (d->t[i]->w.target.pid == pid)
			t = d->t[i]; /* the newest: the live one if the pid was reused */
	if (!t)
		return -ENOENT;
	return take(d, t, TRIGGER_REQUEST, "requested", json);
}

void capture__write_metrics(struct scoped *d, FILE *f, uid_t viewer)
{
	struct capture *c = d->capture;

	if (!c)
		return;
	snapshot_store__write_metrics(c->store, f);
	fprintf(
	    f,
	    "# HELP allocscope_snapshot_pushes_dropped_total Snapshots not pushed (--push): more "
	    "than %d waited for the next interval.\n"
	    "# TYPE allocscope_snapshot_pushes_dropped_total counter\n"
	    "allocscope_snapshot_pushes_dropped_total %llu\n",
	    MAX_PUSH_QUEUE, (unsigned long long)c->push_dropped);
	fprintf(f, "# HELP allocscope_target_inuse_growth_ratio Growth of a target's in-use bytes "
		   "over --snapshot-growth-window (1 = +100%%; 0 when not growing or watched for "
		   "less than the window).\n"
		   "# TYPE allocscope_target_inuse_growth_ratio gauge\n");
	for (size_t i = 0; i < d->cnt; i++) {
		struct dtarget *t = d->t[i];
		struct ctarget *ct = ctarget_find(c, t);

		if (!ct || !t->alive || !scoped__target_visible(t, viewer))
			continue;
		fprintf(f, "allocscope_target_inuse_growth_ratio{pid=\"%d\",executable=\"",
			t->w.target.pid);
		metrics__label_value(f, t->exe);
		fprintf(f, "\"} %.6f\n", ct->grew);
	}
	fprintf(f,
		"# HELP allocscope_site_inuse_growth_bytes In-use bytes a function's allocations "
		"added over --snapshot-growth-window (at most 3 functions per target, the "
		"largest growth first).\n"
		"# TYPE allocscope_site_inuse_growth_bytes gauge\n");
	for (size_t i = 0; i < d->cnt; i++) {
		struct dtarget *t = d->t[i];
		struct ctarget *ct = ctarget_find(c, t);

		if (!ct || !t->alive || !scoped__target_visible(t, viewer))
			continue;
		for (size_t j = 0; j < TOP_GROWING && ct->top[j].function[0]; j++) {
			fprintf(f, "allocscope_site_inuse_growth_bytes{pid=\"%d\",executable=\"",
				t->w.target.pid);
			metrics__label_value(f, t->exe);
			fputs("\",function=\"", f);
			metrics__label_value(f, ct->top[j].function);
			fprintf(f, "\"} %lld\n", (long long)ct->top[j].bytes);
		}
	}
}

void capture__push_pending(struct scoped *d)
{
	struct capture *c = d->capture;

	if (!c || !d->push_q)
		return;
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < c->push_cnt; i++) {
		struct snapshot_store *s = c->store;

		for (size_t k = snapshot_store__count(s); k-- > 0;) {
			const struct snap_meta *m = snapshot_store__at(s, k);
			const char *base = strrchr(m->exe, '/');
			struct push_request *r;
			char app[300], pid[16];
			struct push_label l[] = {
			    {"host", d->host},
			    {"pid", pid},
			    {"trigger", trigger__name(m->trigger)},
			    {"snapshot", m->id},
			};

			if (strcmp(m->id, c->push_queue[i]))
				continue;
			r = calloc(1, sizeof(*r));
			if (!r || snapshot_store__pprof(s, m->id, &r->body, &r->len)) {
				push_request__free(r);
				break;
			}
			/* An application of its own: a snapshot is a whole heap, not an interval's
			 * delta, and must not be summed into the interval series. */
			snprintf(app, sizeof(app), "%s.heap_snapshot",
				 base	     ? base + 1
				 : m->exe[0] ? m->exe
					     : "unknown");
			snprintf(pid, sizeof(pid), "%d", m->pid);
			r->name = push_series__name(app, l, ARRAY_SIZE(l));
			r->from_s = m->time_ns / NSEC_PER_SEC;
			r->until_s = r->from_s + 1;
			/* Queued: sent by the push thread, never on this one. */
			if (r->name)
				push_queue__add(d->push_q, r);
			else
				push_request__free(r);
			break;
		}
	}
	c->push_cnt = 0;
	pthread_mutex_unlock(&d->lock);
}
