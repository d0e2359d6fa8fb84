// SPDX-License-Identifier: MIT
/*
 * The exec thread. A matched exec goes: claim the pid (so that a rescan under the lock does not
 * attach it twice), match it with the thread's own selector state, make its links from the
 * per-file plans (watch__prelink_exec; the symbolizer, under the lock, only for a file seen for
 * the first time), and only then take the lock for the rest of watch_pid. Anything else (a
 * fork, an exec of a watched process, a Go program) is handled under the lock as before.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "probe/unwind.h"
#include "probe/samplers.h"
#include "service/exec_thread.h"
#include "service/select.h"
#include "service/state.h"
#include "util/common.h"
#include "util/log.h"
#include "util/thread.h"

/* The pid for the exec thread, unless a watch under the lock is on it: 1 when claimed. */
static int claim(struct scoped *d, int pid)
{
	int ok;

	pthread_mutex_lock(&d->claim_lock);
	ok = d->main_claim != pid;
	if (ok)
		d->exec_claim = pid;
	pthread_mutex_unlock(&d->claim_lock);
	return ok;
}

static void unclaim(struct scoped *d)
{
	pthread_mutex_lock(&d->claim_lock);
	d->exec_claim = 0;
	pthread_mutex_unlock(&d->claim_lock);
}

/* 0 when handled here (watched, not selected, or gone), -EAGAIN for the path under the lock. */
static int exec_fast(struct scoped *d, const struct life_event *e)
{
	struct alloc_prelink pl = {};
	struct dtarget *pre;
	int pid = e->tgid, sel, go = 0, preset, n;
	__u64 t0 = now_mono_ns(), t_match, live_ns;

	if (d->o->watch.mode == WATCH_MODE_GO || !claim(d, pid))
		return -EAGAIN;
	/* Watched before this exec (or a reused pid not let go yet): ended under the lock. */
	if (alloc_probes__is_target(d->ap, pid)) {
		unclaim(d);
		return -EAGAIN;
	}
	pthread_rwlock_rdlock(&d->sel_lock);
	sel = proc_select__match(d->exec_select, d->o->sels, d->o->sel_cnt, pid);
	if (sel)
		go = proc_select__is_go(d->exec_select, pid);
	pthread_rwlock_unlock(&d->sel_lock);
	t_match = now_mono_ns();
	/* A process's own sampler is cheaper than every-call probes: the path under the lock
	 * attaches it (--mode auto). */
	if (sel && !go && d->o->watch.mode == WATCH_MODE_AUTO) {
		char exe[64];

		snprintf(exe, sizeof(exe), "/proc/%d/exe", pid);
		go = samplers__exe_has_usdt(exe);
	}
	if (!sel || go) {
		unclaim(d);
		return sel ? -EAGAIN : 0;
	}
	/* CFI stacks from its first sample on, as when it was all done under the lock. */
	preset = d->uw && unwind_mode__cfi(d->o->unwind, 0, 1) &&
		 !alloc_probes__preset_target(d->ap, pid, TARGET_F_CFI);
	n = watch__prelink_exec(d->ap, d->sym, &d->lock, pid, &pl);
	live_ns = now_mono_ns();
	if (n <= 0 && preset)
		alloc_probes__unpreset_target(d->ap, pid);
	if (n <= 0) {
		pthread_mutex_lock(&d->lock);
		alloc_probes__prelink_release(d->ap, &pl);
		pthread_mutex_unlock(&d->lock);
		unclaim(d);
		if (n != -ESRCH)
			return -EAGAIN; /* said why under the lock */
		log_debug(
		    "pid %d (matched at exec): exited before its probes were live (event read "
		    "after %.2f ms, matched in %.2f ms, gone %.2f ms later)",
		    pid, (t0 - e->time_ns) / 1e6, (t_match - t0) / 1e6, (live_ns - t_match) / 1e6);
		return 0;
	}
	exec_attach_hist__observe(&d->stats.exec_attach, live_ns - e->time_ns);
	/* Its names and maps before the lock, which a drain may hold for a while: a process that
	 * exits meanwhile keeps what its probes saw, unwound and named with these. */
	pre = dtarget__prepare(d, pid, 1);
	log_debug("pid %d: probes live %.2f ms after exec (event read after %.2f ms, matched in "
		  "%.2f ms, %zu links in %.2f ms)%s",
		  pid, (live_ns - e->time_ns) / 1e6, (t0 - e->time_ns) / 1e6, (t_match - t0) / 1e6,
		  pl.cnt, (live_ns - t_match) / 1e6, pre ? "" : "; gone before its maps were read");
	pthread_mutex_lock(&d->lock);
	scoped__watch_prelinked(d, pid, &pl, pre);
	alloc_probes__prelink_release(d->ap, &pl);
	unclaim(d);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static int on_life(void *ctx, const struct life_event *e)
{
	struct scoped *d = ctx;

	if (e->type == LIFE_EVENT_EXEC && !exec_fast(d, e))
		return 0;
	pthread_mutex_lock(&d->lock);
	scoped__on_life(d, e);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static void *exec_thread(void *arg)
{
	struct scoped *d = arg;
	struct pollfd p[2] = {
	    {.fd = alloc_probes__life_fd(d->ap), .events = POLLIN},
	    {.fd = d->exec_stop_fd, .events = POLLIN},
	};

	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		alloc_probes__poll_life(d->ap, on_life, d);
	}
	return NULL;
}

int exec_thread__start(struct scoped *d)
{
	int err;

	d->exec_stop_fd = eventfd(0, EFD_CLOEXEC);
	if (d->exec_stop_fd < 0)
		return -errno;
	err = thread_start(&d->exec_tid, exec_thread, d);
	if (err) {
		close(d->exec_stop_fd);
		d->exec_stop_fd = -1;
		return -err;
	}
	d->exec_running = 1;
	return 0;
}

void exec_thread__stop(struct scoped *d)
{
	__u64 one = 1;

	if (!d->exec_running)
		return;
	if (write(d->exec_stop_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("cannot stop the exec thread: %s", strerror(errno));
	else
		pthread_join(d->exec_tid, NULL);
	close(d->exec_stop_fd);
	d->exec_running = 0;
}
