// SPDX-License-Identifier: MIT
/*
 * allocscoped's loop. The main thread owns it: it waits for signals and BPF events, drains on
 * every interval (drain.c) and then pushes (push_batch.c); libmicrohttpd's thread answers
 * requests (api.c) from the same state under one lock. SIGHUP reloads the config file.
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

#include "service/api.h"
#include "service/capture.h"
#include "service/httpd.h"
#include "service/push.h"
#include "service/push_batch.h"
#include "service/scoped.h"
#include "service/select.h"
#include "service/state.h"
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
			if (d->t[i]->alive && !scoped__selected(d, d->t[i]->w.target.pid))
				scoped__target_ended(d, d->t[i]);
		scoped__scan(d);
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
	/* Before selection: --cgroup and cgroup= compare absolute paths. */
	cgroup__ns_root(NULL, NULL, getpid(), d.cgroup_ns_root, sizeof(d.cgroup_ns_root));
	pso.cgroup_ns_root = d.cgroup_ns_root;
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
		alloc_probes__set_unwind_cb(d.ap, scoped__on_unwind, &d);
	/* Before the first scan: it learns each target's cgroup at attach. */
	d.capture = capture__new(&d);
	if (!d.capture) {
		log_error("out of memory");
		goto cleanup;
	}
	pthread_mutex_lock(&d.lock);
	scoped__scan(&d);
	pthread_mutex_unlock(&d.lock);
	d.http = httpd__start(&hopts, &scoped_api_ops, &d);
	if (!d.http)
		goto cleanup;
	fprintf(stderr, "allocscoped: serving on http://%s/debug/pprof/ (port %d), %zu targets\n",
		o->listen ?: HTTPD_DEFAULT_LISTEN, httpd__port(d.http), d.cnt);

	next_drain = now_mono_ns() + (__u64)(o->interval_s * NSEC_PER_SEC);
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
				status = 0;
				break;
			}
		}
		pthread_mutex_lock(&d.lock);
		scoped__poll_events(&d);
		capture__on_wake(&d, pfd + 2, npfd - 2);
		if (now_mono_ns() >= next_drain) {
			struct push_batch *b = NULL;

			scoped__drain(&d);
			capture__after_drain(&d);
			next_drain += (__u64)(o->interval_s * NSEC_PER_SEC);
			if (next_drain < now_mono_ns())
				next_drain = now_mono_ns() + (__u64)(o->interval_s * NSEC_PER_SEC);
			if (d.pusher)
				b = push_batch__prepare(&d);
			pthread_mutex_unlock(&d.lock);
			push_batch__send(b, &d);
			capture__push_pending(&d);
			continue;
		}
		pthread_mutex_unlock(&d.lock);
	}
cleanup:
	httpd__stop(d.http);
	capture__free(d.capture);
	pusher__free(d.pusher);
	for (size_t i = 0; i < d.cnt; i++)
		dtarget__free(d.t[i]);
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
