// SPDX-License-Identifier: MIT
/* A push per target and interval. Series are services, not processes: the name is the
 * service_name and the labels are host, namespace, pod and container, never the pid unless
 * --push-pid-label asks (Pyroscope's distributor splits series by string sample labels too, so
 * the pid stays a number label in the profile, which its Normalize drops). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe/samplers.h"
#include "profile/heap_profile.h"
#include "profile/pprof.h"
#include "service/push.h"
#include "service/push_batch.h"
#include "service/push_queue.h"
#include "service/push_series.h"
#include "service/state.h"
#include "util/common.h"
#include "util/log.h"

void push_batch__identify(struct scoped *d, struct dtarget *t)
{
	struct push_env env = {};
	struct push_identity id = {
	    .exe = t->exe,
	    .pod_uid = t->cg.pod_uid,
	    .container_id = t->cg.container_id,
	};
	const char *pod;

	for (size_t i = 0; i < d->o->svc_rule_cnt && !id.rule; i++)
		if (proc_select__match(d->select, &d->o->svc_rules[i].sel, 1, t->w.target.pid))
			id.rule = d->o->svc_rules[i].service;
	push_series__read_env(NULL, t->w.target.pid, &env);
	/* A pod's hostname is the pod's name, and container runtimes export it as HOSTNAME. A
	 * host's processes inherit whatever their shell exported: the environment names only what
	 * the cgroup shows to be a pod or a container. */
	pod = env.pod_name[0] ? env.pod_name : env.hostname;
	snprintf(t->pod, sizeof(t->pod), "%s", t->cg.pod_uid[0] ? pod : "");
	snprintf(t->namespace, sizeof(t->namespace), "%s", t->cg.pod_uid[0] ? env.namespace : "");
	snprintf(t->container, sizeof(t->container), "%s",
		 t->cg.pod_uid[0] || t->cg.container_id[0] ? env.container : "");
	/* Outside Kubernetes, the engine that runs it knows the container's name. */
	if (!t->container[0] && !t->cg.pod_uid[0] && t->cg.container_id[0])
		push_series__container_name(NULL, t->cg.container_id, t->container,
					    sizeof(t->container));
	id.pod_name = t->pod;
	id.namespace = t->namespace;
	id.container = t->container;
	push_series__service(&id, t->service, sizeof(t->service));
}

/* The profile of t's intervals since the last push, or NULL when there is nothing to say. */
static struct push_request *prepare_one(struct scoped *d, struct dtarget *t)
{
	struct heap_profile_opts ho = {
	    .native_rate = d->o->rate,
	    .wrappers = d->wrappers,
	    .default_sample_type = "alloc_space",
	    /* Entries with in-use but no allocation are kept; in-use is absolute, never < 0. */
	    .delta = 1,
	    .keep_allocator_frames = 1,
	    .has_native = t->w.native,
	    .has_usdt = t->w.source == ALLOC_SOURCE_USDT,
	    .native_scheme = alloc_probes__scheme(d->ap),
	};
	struct profile_source src = {.target = &t->w.target};
	struct heap_profile_summary sum;
	struct pprof_builder *pb = NULL;
	struct entry_set win = {}, vals = {};
	struct push_request *r = NULL;
	__u64 start = 0, end = t->last_drain_ns;
	char pid[16];
	struct push_label l[5] = {
	    {"host", d->host},
	    {"namespace", t->namespace},
	    {"pod", t->pod},
	    {"container", t->container},
	    {"pid", d->o->push_pid_label ? pid : NULL},
	};
	int ok = 0;

	if (history__window(t->hist, t->pushed_until_ns, &win, &start) ||
	    push_series__interval(&win, &t->cur, &vals) || !vals.cnt)
		goto cleanup;
	if (t->w.go) {
		ho.go_rate = watch__go_rate(&t->w);
		ho.has_go = !d->o->watch.go_every_call;
		ho.has_go_every_call = d->o->watch.go_every_call;
	}
	ho.period = ho.has_go ? ho.go_rate : ho.native_rate;
	/* The interval: from the last push (or the first snapshot), to the last drain. */
	if (t->pushed_until_ns)
		start = t->pushed_until_ns;
	else if (!start)
		start = t->attach_ns;
	ho.time_ns = start;
	ho.duration_ns = end > start ? end - start : 0;
	src.entries = vals.e;
	src.cnt = vals.cnt;
	snprintf(pid, sizeof(pid), "%d", t->w.target.pid);
	r = calloc(1, sizeof(*r));
	if (!r || heap_profile__build(&src, 1, d->sym, &ho, &pb, &sum) || !sum.samples ||
	    pprof__encode(pb, &r->body, &r->len))
		goto cleanup;
	r->name = push_series__name(t->service, l, ARRAY_SIZE(l));
	r->from_s = start / NSEC_PER_SEC;
	r->until_s = (end + NSEC_PER_SEC - 1) / NSEC_PER_SEC;
	if (r->until_s <= r->from_s)
		r->until_s = r->from_s + 1;
	ok = r->name != NULL;
cleanup:
	pprof__free(pb);
	entry_set__clear(&win);
	entry_set__clear(&vals);
	if (!ok) {
		push_request__free(r);
		r = NULL;
	}
	return r;
}

void push_batch__queue(struct scoped *d)
{
	for (size_t i = 0; i < d->cnt; i++) {
		struct dtarget *t = d->t[i];
		struct push_request *r;

		/* Every drain of a live target pushes its in-use, even without allocations: a gauge
		 * with gaps would read as nothing in use. An exited one, its last interval once. */
		if (t->last_drain_ns <= t->pushed_until_ns)
			continue;
		r = prepare_one(d, t);
		t->pushed_until_ns = t->last_drain_ns;
		if (r)
			push_queue__add(d->push_q, r);
	}
}
