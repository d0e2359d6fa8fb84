// SPDX-License-Identifier: MIT
/* A push per target and interval, labelled as Pyroscope groups series: the executable's base
 * name is the application, host, pid, container and pod are labels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/heap_profile.h"
#include "profile/pprof.h"
#include "service/push.h"
#include "service/push_batch.h"
#include "service/state.h"
#include "util/common.h"

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

struct push_batch {
	struct push_item *items;
	size_t cnt;
};

/* The profile of t's snapshots since it was last pushed, into it; 0 when there is none. */
static int prepare_one(struct scoped *d, struct dtarget *t, struct push_item *it)
{
	struct heap_profile_opts ho = {
	    .native_rate = d->o->rate,
	    .default_sample_type = "alloc_space",
	    .delta = 1,
	    .has_native = t->w.native,
	};
	struct profile_source src = {.target = &t->w.target};
	struct heap_profile_summary sum;
	struct pprof_builder *pb = NULL;
	struct entry_set win = {};
	__u64 start = 0, end = history__newest_end(t->hist);
	const char *base;
	int ok = 0;

	if (history__window(t->hist, t->pushed_until_ns, &win, &start) == 0 && win.cnt) {
		if (t->w.go) {
			ho.go_rate = watch__go_rate(&t->w);
			ho.has_go = !d->o->watch.go_every_call;
			ho.has_go_every_call = d->o->watch.go_every_call;
		}
		ho.period = ho.has_go ? ho.go_rate : ho.native_rate;
		ho.time_ns = start;
		ho.duration_ns = end - start;
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
			ok = 1;
		}
		pprof__free(pb);
	}
	entry_set__clear(&win);
	return ok;
}

struct push_batch *push_batch__prepare(struct scoped *d)
{
	struct push_batch *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->items = calloc(d->cnt ? d->cnt : 1, sizeof(*b->items));
	if (!b->items) {
		free(b);
		return NULL;
	}
	for (size_t i = 0; i < d->cnt; i++) {
		struct dtarget *t = d->t[i];
		__u64 end = history__newest_end(t->hist);

		if (!history__count(t->hist) || end <= t->pushed_until_ns)
			continue;
		b->cnt += prepare_one(d, t, &b->items[b->cnt]);
		/* Sent or not, an interval is never sent twice: Pyroscope would count it twice. */
		t->pushed_until_ns = end;
	}
	return b;
}

void push_batch__send(struct push_batch *b, struct scoped *d)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->cnt; i++) {
		struct push_item *it = &b->items[i];
		struct push_label l[4];
		size_t lc = 0;
		int err;

		l[lc++] = (struct push_label){"host", it->host};
		l[lc++] = (struct push_label){"pid", it->pid};
		if (it->container_id[0])
			l[lc++] = (struct push_label){"container_id", it->container_id};
		if (it->pod_uid[0])
			l[lc++] = (struct push_label){"pod_uid", it->pod_uid};
		err = pusher__push(d->pusher, it->app, l, lc, it->from_s, it->until_s, it->body,
				   it->len);
		__atomic_add_fetch(err ? &d->stats.push_failures : &d->stats.pushes, 1,
				   __ATOMIC_RELAXED);
		free(it->body);
	}
	free(b->items);
	free(b);
}
