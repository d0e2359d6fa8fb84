// SPDX-License-Identifier: MIT
/* The standalone session that record and top share: probes, symbolizer and unwinder set up in
 * one order, one process attached, its events drained, its profile built. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/common.h"
#include "util/log.h"
#include "probe/samplers.h"
#include "session.h"
#include "profile/wrappers.h"

static int on_unwind_event(void *ctx, const void *data, size_t len)
{
	struct session *s = ctx;

	return unwinder__handle(s->uw, &s->w.target, data, len);
}

static struct entry_set *set_for_target(void *ctx, __u32 tgid)
{
	struct session *s = ctx;

	return (int)tgid == s->w.target.pid ? &s->entries : NULL;
}

static int on_gc_event(void *ctx, const struct gc_event *e)
{
	struct session *s = ctx;

	if ((int)e->tgid != s->w.target.pid)
		return 0;
	if (e->probe == GO_PROBE_MAIN)
		watch__runtime_ready(&s->w, &s->o.watch);
	else if (s->o.timeline)
		watch__gc_event(&s->w, e, s->start_real_ns - s->start_mono_ns);
	return 0;
}

int session__open(struct session *s, const struct session_opts *o)
{
	struct alloc_probes_opts ao = {
	    .sample_rate = o->rate,
	    .verbose = o->verbose,
	    .stack_entries = o->max_stacks,
	    .live_entries = o->max_live,
	    .stats_entries = o->max_stats,
	    .no_session = o->no_session,
	};
	struct symbolizer_opts so = {.demangle = 1};
	int err;

	*s = (struct session){.o = *o, .pidfd = -1};
	if (!s->o.stack_copy_bytes)
		s->o.stack_copy_bytes = UNWIND_STACK_COPY_DEFAULT;
	if (geteuid() != 0)
		log_warn("not running as root: loading BPF programs needs CAP_BPF, CAP_PERFMON, "
			 "CAP_SYS_ADMIN and CAP_SYS_PTRACE");
	s->sym = symbolizer__new(&so);
	if (!s->sym) {
		err = -errno;
		log_error("cannot create the symbolizer: %s", strerror(-err));
		return err;
	}
	s->cache = stack_cache__new();
	if (!s->cache)
		return -ENOMEM;
	s->wrappers = wrappers__new(o->wrappers, o->wrapper_cnt);
	if (!s->wrappers)
		return -errno; /* logged */
	if (o->unwind != UNWIND_MODE_FP) {
		ao.stack_copy_bytes = s->o.stack_copy_bytes;
		/* One process, unwound by the thread that also waits for it: room for the bursts a
		 * busy host leaves it behind by (--rate 1 on perl fell back to frame pointers for
		 * up to 4% of its samples with 8 MiB). */
		ao.unwind_ring_bytes = SESSION_UNWIND_RING_BYTES;
		s->uw = unwinder__new(s->sym);
		if (!s->uw) {
			err = -errno;
			log_error("cannot create the unwinder: %s", strerror(-err));
			return err;
		}
	}
	s->ap = alloc_probes__new(&ao);
	if (!s->ap)
		return -errno; /* logged */
	log_debug("malloc family: %s", alloc_probes__scheme(s->ap));
	if (s->uw)
		alloc_probes__set_unwind_cb(s->ap, on_unwind_event, s);
	s->ov = overhead__new(s->ap, &(struct overhead_opts){.max_pct = o->max_overhead_pct});
	if (!s->ov)
		return -errno; /* logged */
	s->start_mono_ns = now_mono_ns();
	s->start_real_ns = now_real_ns();
	return 0;
}

static void report_attach_error(int pid, const char *exe, int err)
{
	if (err == -ESRCH)
		log_error("pid %d exited while allocscope attached", pid);
	else if (err == -ENOENT)
		log_error("pid %d (%s) maps no object that defines malloc and runs no Go runtime: "
			  "nothing to probe",
			  pid, exe);
	else if (err != -ENOEXEC)
		log_error("cannot attach to pid %d: %s", pid, strerror(-err));
}

/* Probes in; then, with a CFI mode, CFI for this process or frame pointers: auto leaves Go
 * programs (cgo included) to frame pointers, which Go keeps, and unwinds the rest from CFI. */
static int attach(struct session *s, int pid, const char *exe, int pre_exec)
{
	int err;

	err = watch__attach(&s->w, s->ap, s->sym, &s->o.watch, pid, exe, pre_exec);
	if (err) {
		report_attach_error(pid, pre_exec ? exe : s->w.target.exe ?: exe, err);
		return err;
	}
	s->attached = 1;
	if (!s->uw)
		return 0;
	err = watch__enable_cfi(&s->w, s->ap, s->o.unwind);
	if (err > 0)
		log_info("pid %d: unwinding sampled stacks from CFI (%u bytes of stack per sample)",
			 pid, s->o.stack_copy_bytes);
	return err < 0 ? err : 0;
}

int session__attach_pid(struct session *s, int pid)
{
	char exe[64];
	int err;

	/* /proc/PID/exe opens the executable even in another mount namespace, or deleted. */
	snprintf(exe, sizeof(exe), "/proc/%d/exe", pid);
	if (access(exe, F_OK)) {
		err = errno == ENOENT ? -ESRCH : -errno;
		log_error("cannot watch pid %d: %s", pid,
			  err == -ESRCH ? "no such process" : strerror(-err));
		return err;
	}
	err = attach(s, pid, exe, 0);
	if (err)
		return err;
	watch__runtime_ready(&s->w, &s->o.watch);
	s->pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (s->pidfd < 0)
		log_warn("pidfd_open(%d): %s; its exit is noticed within a second", pid,
			 strerror(errno));
	return 0;
}

int session__attach_child(struct session *s, int pid, const char *exe)
{
	return attach(s, pid, exe, 1);
}

void session__poll_gc(struct session *s)
{
	alloc_probes__poll_gc(s->ap, on_gc_event, s);
}

int session__gc_fd(const struct session *s)
{
	return alloc_probes__gc_fd(s->ap);
}

int session__build(struct session *s, struct pprof_builder **pb, struct heap_profile_summary *sum)
{
	struct watch *w = &s->w;
	int every_call = s->o.watch.go_every_call;
	__u64 counters[ALLOC_CNT_MAX];
	char budget[512];
	const char *comments[1] = {budget};
	struct heap_profile_opts ho = {
	    .comments = comments,
	    .time_ns = s->start_real_ns,
	    .duration_ns = now_real_ns() - s->start_real_ns,
	    .native_rate = s->o.rate,
	    .go_rate = watch__go_rate(w),
	    .counters = counters,
	    .has_native = w->native,
	    .has_usdt = w->source == ALLOC_SOURCE_USDT,
	    .native_scheme = alloc_probes__scheme(s->ap),
	    .has_go = w->go && !every_call,
	    .has_go_every_call = w->go && every_call,
	    .go_rate_written = w->rate_written ? watch__go_rate(w) : 0,
	    .wrappers = s->wrappers,
	};
	int err;

	/* The runtime's own samples dominate a Go program's profile: its rate is the period. */
	ho.period = w->go && !every_call ? ho.go_rate : ho.native_rate;
	overhead__comment(s->ov, w->target.pid, budget, sizeof(budget));
	ho.comment_cnt = budget[0] != 0;
	alloc_probes__counters(s->ap, counters);
	err = collect__read(s->ap, s->cache, set_for_target, s);
	if (!err && s->uw)
		err = unwinder__read(s->uw, set_for_target, s);
	if (!err) {
		struct profile_source src;

		/* Built from scratch each time: the share seen so far will do for an open first
		 * cycled period. */
		if (entry_set__has_pending(&s->entries))
			entry_set__resolve_pending(
			    &s->entries,
			    overhead__pending_key(s->ov, w->target.pid, OVERHEAD_PENDING_NOW));
		src = (struct profile_source){
		    .target = &w->target, .entries = s->entries.e, .cnt = s->entries.cnt};

		err = heap_profile__build(&src, 1, s->sym, &ho, pb, sum);
	}
	entry_set__clear(&s->entries);
	return err;
}

void session__close(struct session *s)
{
	overhead__free(s->ov); /* its thread uses ap */
	s->ov = NULL;
	alloc_probes__free(s->ap);
	unwinder__free(s->uw);
	wrappers__free(s->wrappers);
	symbolizer__free(s->sym);
	watch__release(&s->w);
	entry_set__clear(&s->entries);
	stack_cache__free(s->cache);
	if (s->pidfd >= 0)
		close(s->pidfd);
	s->ap = NULL;
	s->uw = NULL;
	s->wrappers = NULL;
	s->sym = NULL;
	s->cache = NULL;
	s->pidfd = -1;
}
