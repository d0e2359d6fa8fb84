// SPDX-License-Identifier: MIT
/*
 * allocscoped's loop. The main thread owns it: it waits for signals and BPF events, drains on
 * every interval (drain.c) and queues that interval's pushes (push_batch.c) for the push thread
 * (push_queue.c), which alone waits on the network; libmicrohttpd's thread answers requests
 * (api.c) from the same state under one lock. SIGHUP reloads the config file.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "probe/overhead.h"
#include "service/api.h"
#include "service/budget.h"
#include "service/capture.h"
#include "service/exec_thread.h"
#include "service/httpd.h"
#include "service/push.h"
#include "service/push_batch.h"
#include "service/push_queue.h"
#include "service/scoped.h"
#include "service/select.h"
#include "service/state.h"
#include "profile/wrappers.h"
#include "util/common.h"
#include "util/log.h"

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

static enum push_result push_send(void *ctx, const struct push_request *r, const int *abort_flag)
{
	return pusher__send(ctx, r, abort_flag);
}

static int start_push(struct scoped *d)
{
	const struct scoped_opts *o = d->o;
	struct pusher_opts po = {
	    .url = o->push_url,
	    .tenant = o->push_tenant,
	    .auth_file = o->push_auth_file,
	    .timeout_ms = o->push_timeout_s * 1000,
	};
	struct push_queue_opts qo = {
	    .max_queued = o->push_queue_max,
	    .backoff_min_ms = PUSH_BACKOFF_MIN_MS,
	    .backoff_max_ms = PUSH_BACKOFF_MAX_MS,
	    .send = push_send,
	};

	d->pusher = pusher__new(&po);
	if (!d->pusher)
		return -errno;
	qo.ctx = d->pusher;
	d->push_q = push_queue__new(&qo);
	if (!d->push_q) {
		log_error("cannot start the push thread: %s", strerror(errno));
		return -errno;
	}
	log_info("pushing to %s", pusher__url(d->pusher));
	return 0;
}

/* SIGTERM with --push: the interval so far is drained and queued, and the queue flushed, for
 * at most --push-timeout. */
static void final_push(struct scoped *d)
{
	pthread_mutex_lock(&d->lock);
	scoped__drain(d);
	push_batch__queue(d);
	pthread_mutex_unlock(&d->lock);
	push_queue__flush_free(d->push_q, d->o->push_timeout_s * 1000);
	d->push_q = NULL;
}

static void reload(struct scoped *d)
{
	int err;

	if (!d->o->config_path) {
		log_info("SIGHUP: no --config file to reload");
		return;
	}
	pthread_mutex_lock(&d->lock);
	/* The exec thread matches without the lock: the selectors change under sel_lock. */
	pthread_rwlock_wrlock(&d->sel_lock);
	err = scoped_opts__load_config(d->o, d->o->config_path, 1);
	pthread_rwlock_unlock(&d->sel_lock);
	if (err == 0) {
		/* Targets that no selector matches any more are let go. */
		for (size_t i = 0; i < d->cnt; i++)
			if (d->t[i]->alive && !scoped__selected(d, d->t[i]->w.target.pid))
				scoped__target_ended(d, d->t[i]);
		/* Service names may have changed with the rules. */
		for (size_t i = 0; i < d->cnt && d->o->push_url; i++)
			if (d->t[i]->alive)
				push_batch__identify(d, d->t[i]);
		scoped__scan(d);
		log_info("reloaded %s: %zu selectors", d->o->config_path, d->o->sel_cnt);
	}
	pthread_mutex_unlock(&d->lock);
}

/* Lower the retention bounds rather than be OOM-killed later when the configured ones cannot fit
 * under the memory limit of the daemon's own cgroup (BPF maps are charged to it too). */
static void fit_memory_limit(struct scoped_opts *o)
{
	__u64 limit = budget__cgroup_limit(NULL, NULL);
	size_t hist = o->max_history_entries, exited = o->max_exited;
	struct budget b;
	int r;

	r = budget__fit(o, limit, &b);
	if (!r) {
		log_debug("memory budget: ~%llu MiB (BPF maps %llu MiB) of a %llu MiB limit",
			  (unsigned long long)(b.total_bytes >> 20),
			  (unsigned long long)(b.bpf_bytes >> 20),
			  (unsigned long long)(limit >> 20));
		return;
	}
	log_warn(
	    "memory limit %llu MiB (this cgroup) is below what the bounds need: "
	    "--max-history-entries %zu -> %zu, --max-exited %zu -> %zu (~%llu MiB, BPF maps "
	    "%llu MiB)%s",
	    (unsigned long long)(limit >> 20), hist, o->max_history_entries, exited, o->max_exited,
	    (unsigned long long)(b.total_bytes >> 20), (unsigned long long)(b.bpf_bytes >> 20),
	    r < 0 ? "; the BPF maps alone do not fit: lower --max-live/--max-stacks/--max-stats"
		  : "");
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
	    .no_session = o->no_session,
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
	struct scoped d = {.o = o, .exec_stop_fd = -1};
	__u64 next_drain;
	sigset_t set;
	int sigfd = -1, status = 1;

	pthread_mutex_init(&d.lock, NULL);
	pthread_mutex_init(&d.claim_lock, NULL);
	pthread_rwlock_init(&d.sel_lock, NULL);
	fit_memory_limit(o);
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
	d.wrappers = wrappers__new(o->wrappers, o->wrapper_cnt);
	if (!d.wrappers)
		goto cleanup; /* logged */
	/* Before selection: --cgroup and cgroup= compare absolute paths. */
	cgroup__ns_root(NULL, NULL, getpid(), d.cgroup_ns_root, sizeof(d.cgroup_ns_root));
	pso.cgroup_ns_root = d.cgroup_ns_root;
	d.select = proc_select__new(&pso);
	d.exec_select = proc_select__new(&pso);
	if (!d.sym || !d.cache || !d.select || !d.exec_select) {
		log_error("out of memory");
		goto cleanup;
	}
	if (o->push_url && start_push(&d))
		goto cleanup;
	if (o->unwind != UNWIND_MODE_FP) {
		ao.stack_copy_bytes = o->stack_copy_bytes ?: UNWIND_STACK_COPY_DEFAULT;
		d.uw = unwinder__new(d.sym);
		if (!d.uw)
			goto cleanup;
	}
	d.ap = alloc_probes__new(&ao);
	if (!d.ap)
		goto cleanup;
	log_debug("malloc family: %s", alloc_probes__scheme(d.ap));
	if (d.uw)
		alloc_probes__set_unwind_cb(d.ap, scoped__on_unwind, &d);
	d.ov = overhead__new(d.ap, &(struct overhead_opts){.max_pct = o->max_overhead_pct});
	if (!d.ov)
		goto cleanup;
	/* Before the first scan: it learns each target's cgroup at attach. */
	d.capture = capture__new(&d);
	if (!d.capture) {
		log_error("out of memory");
		goto cleanup;
	}
	pthread_mutex_lock(&d.lock);
	scoped__scan(&d);
	pthread_mutex_unlock(&d.lock);
	/* Without it, the main loop reads the exec ring as it reads the others. */
	if (exec_thread__start(&d))
		log_warn("no exec thread: matched execs wait for the main loop");
	d.http = httpd__start(&hopts, &scoped_api_ops, &d);
	if (!d.http)
		goto cleanup;
	fprintf(stderr, "allocscoped: serving on http://%s/debug/pprof/ (port %d), %zu targets\n",
		o->listen ?: HTTPD_DEFAULT_LISTEN, httpd__port(d.http), d.cnt);

	next_drain = now_mono_ns() + (__u64)(o->interval_s * NSEC_PER_SEC);
	__atomic_store_n(&d.stats.interval_ns, (__u64)(o->interval_s * NSEC_PER_SEC),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&d.stats.loop_drain_mono_ns, now_mono_ns(), __ATOMIC_RELAXED);
	for (;;) {
		struct pollfd pfd[2 + CAPTURE_MAX_FDS] = {
		    {.fd = sigfd, .events = POLLIN},
		    {.fd = alloc_probes__gc_fd(d.ap), .events = POLLIN},
		};
		size_t npfd = 2 + capture__fds(d.capture, pfd + 2, CAPTURE_MAX_FDS);
		__u64 now = now_mono_ns();
		int timeout = now >= next_drain ? 0 : (next_drain - now) / NSEC_PER_MSEC + 1;
		struct signalfd_siginfo si;

		if (poll(pfd, npfd, timeout) < 0 && errno != EINTR)
			break;
		if (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGHUP) {
				reload(&d);
			} else {
				log_info("signal %d: detaching and exiting", si.ssi_signo);
				if (d.push_q)
					final_push(&d);
				status = 0;
				break;
			}
		}
		pthread_mutex_lock(&d.lock);
		scoped__poll_events(&d);
		capture__on_wake(&d, pfd + 2, npfd - 2);
		if (now_mono_ns() >= next_drain) {
			scoped__drain(&d);
			__atomic_store_n(&d.stats.loop_drain_mono_ns, now_mono_ns(),
					 __ATOMIC_RELAXED);
			capture__after_drain(&d);
			next_drain += (__u64)(o->interval_s * NSEC_PER_SEC);
			if (next_drain < now_mono_ns())
				next_drain = now_mono_ns() + (__u64)(o->interval_s * NSEC_PER_SEC);
			/* Queued, never sent here: the network never delays a drain. */
			if (d.push_q)
				push_batch__queue(&d);
			pthread_mutex_unlock(&d.lock);
			capture__push_pending(&d);
			continue;
		}
		pthread_mutex_unlock(&d.lock);
	}
cleanup:
	exec_thread__stop(&d);
	httpd__stop(d.http);
	/* An error path: nothing more is sent. */
	push_queue__flush_free(d.push_q, 0);
	capture__free(d.capture);
	pusher__free(d.pusher);
	for (size_t i = 0; i < d.cnt; i++)
		dtarget__free(d.t[i]);
	free(d.t);
	htab__free(&d.alive);
	proc_select__free(d.select);
	proc_select__free(d.exec_select);
	/* Links go with the BPF object: nothing stays attached after exit. */
	overhead__free(d.ov); /* its thread uses ap */
	alloc_probes__free(d.ap);
	unwinder__free(d.uw);
	wrappers__free(d.wrappers);
	stack_cache__free(d.cache);
	symbolizer__free(d.sym);
	if (sigfd >= 0)
		close(sigfd);
	pthread_mutex_destroy(&d.claim_lock);
	pthread_rwlock_destroy(&d.sel_lock);
	pthread_mutex_destroy(&d.lock);
	return status;
}
