// SPDX-License-Identifier: MIT
/* Loads bpf/alloc.bpf.c and attaches it: uprobes on the malloc family, placed by probe_place.c,
 * filtered to one process each (uprobe_multi links where the kernel has them, else perf-event
 * uprobes); tracepoints for anonymous mmap/munmap, attached only while a target needs them. */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "alloc.skel.h"
#include "probe/alloc_funcs.h"
#include "probe/alloc_probes.h"
#include "probe/bpfmap.h"
#include "probe/links.h"
#include "probe/plan_cache.h"
#include "symbols/rootfs.h"
#include "symbols/target.h"
#include "symbols/usdt.h"
#include "util/common.h"
#include "symbols/goruntime.h"
#include "util/log.h"
#include "probe/probe_place.h"
#include "probe/sampling.h"

struct alloc_probes {
	struct alloc_bpf *skel;
	struct ring_buffer *gc_rb;
	struct ring_buffer *life_rb; /* exec/fork events: the exec thread's alone */
	int (*gc_cb)(void *ctx, const struct gc_event *e);
	int (*life_cb)(void *ctx, const struct life_event *e);
	void *gc_ctx;
	void *life_ctx;
	int (*unwind_cb)(void *ctx, const void *data, size_t len);
	void *unwind_ctx;
	/* links and the targets map's values are also changed by the overhead budget's thread
	 * (alloc_probes__set_alloc_side, alloc_probes__set_duty) */
	pthread_mutex_t mu;
	struct link_list links;
	struct link_reaper *reaper; /* closes detached links in the background */
	struct plan_cache *plans;   /* per file: where the malloc family's probes go */
	/* The mmap/munmap tracepoints: attached while mmap_targets > 0 (see mmap_tracing_sync) */
	struct bpf_link *mmap_links[6];
	enum mmap_tracing mmap_mode;
	size_t mmap_targets; /* processes in the targets map with TARGET_F_MMAP */
	__u64 mmap_attaches; /* times the tracepoints were attached, for metrics */
	__u64 sample_rate;
	int multi;   /* uprobe_multi links (kernel 6.6+): see uprobe_multi__supported */
	int session; /* the malloc family on uprobe sessions (kernel 6.13+): alloc_session */
	__u32 usdt_specs_used; /* entries of the usdt_specs map given out */
};

static int verbose_libbpf;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !verbose_libbpf)
		return 0;
	/* A failed attach is reported by its caller, with the reason, or not at all when the
	 * process exited meanwhile (as short-lived ones do). */
	if (!verbose_libbpf && strstr(fmt, "failed to create %s '%s:0x%zx' perf event"))
		return 0;
	if (!verbose_libbpf && level == LIBBPF_INFO)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int on_gc_event(void *ctx, void *data, size_t len)
{
	struct alloc_probes *ap = ctx;

	if (len < sizeof(struct gc_event) || !ap->gc_cb)
		return 0;
	return ap->gc_cb(ap->gc_ctx, data);
}

int alloc_probes__gc_fd(const struct alloc_probes *ap)
{
	return ring_buffer__epoll_fd(ap->gc_rb);
}

static int on_life_event(void *ctx, void *data, size_t len)
{
	struct alloc_probes *ap = ctx;

	if (len < sizeof(struct life_event) || !ap->life_cb)
		return 0;
	return ap->life_cb(ap->life_ctx, data);
}

static int on_unwind_event(void *ctx, void *data, size_t len)
{
	struct alloc_probes *ap = ctx;

	if (!ap->unwind_cb)
		return 0;
	return ap->unwind_cb(ap->unwind_ctx, data, len);
}

void alloc_probes__set_unwind_cb(struct alloc_probes *ap,
				 int (*cb)(void *ctx, const void *data, size_t len), void *ctx)
{
	ap->unwind_cb = cb;
	ap->unwind_ctx = ctx;
}

int alloc_probes__poll_events(struct alloc_probes *ap,
			      int (*gc_cb)(void *ctx, const struct gc_event *e),
			      int (*life_cb)(void *ctx, const struct life_event *e), void *ctx)
{
	int n;

	ap->gc_cb = gc_cb;
	ap->gc_ctx = ctx;
	n = ring_buffer__consume(ap->gc_rb);
	ap->gc_cb = NULL;
	/* Lifecycle events come from their own ring, on the exec thread's time. */
	if (n >= 0 && life_cb)
		n = alloc_probes__poll_life(ap, life_cb, ctx);
	return n < 0 ? n : 0;
}

int alloc_probes__life_fd(const struct alloc_probes *ap)
{
	return ap->life_rb ? ring_buffer__epoll_fd(ap->life_rb) : -ENOENT;
}

int alloc_probes__poll_life(struct alloc_probes *ap,
			    int (*cb)(void *ctx, const struct life_event *e), void *ctx)
{
	int n;

	if (!ap->life_rb)
		return 0;
	ap->life_cb = cb;
	ap->life_ctx = ctx;
	n = ring_buffer__consume(ap->life_rb);
	ap->life_cb = NULL;
	return n < 0 ? n : 0;
}

void alloc_probes__plan_stats(struct alloc_probes *ap, __u64 *hits, __u64 *misses, __u64 *evictions)
{
	plan_cache__stats(ap->plans, hits, misses, evictions);
}

int alloc_probes__poll_gc(struct alloc_probes *ap, int (*cb)(void *ctx, const struct gc_event *e),
			  void *ctx)
{
	return alloc_probes__poll_events(ap, cb, NULL, ctx);
}

/* Stack ids range over a power of two at least twice the stack map's size, so that the probes
 * from a stack's hash (bpf/stackid.bpf.h, stack_id) find a free id within a few steps. */
static __u32 stack_id_space(__u32 entries)
{
	__u32 space = 1024;

	while (space < 2 * (__u64)entries && space < (1u << 30))
		space <<= 1;
	return space;
}

/* libbpf finds a syscall tracepoint's id below debugfs's tracing folder when that exists, else
 * below tracefs's own mount point. */
static const char *const tracefs_ids[] = {
    "/sys/kernel/debug/tracing/events/syscalls/sys_enter_mmap/id",
    "/sys/kernel/tracing/events/syscalls/sys_enter_mmap/id",
};

/* Whether libbpf can find the syscall tracepoints' ids: tracefs is mounted where it looks, or
 * can be (it is not mounted at boot on every host; mounting it changes nothing else). */
static int tracefs_ready(void)
{
	const char *id =
	    access("/sys/kernel/debug/tracing", F_OK) ? tracefs_ids[1] : tracefs_ids[0];

	if (!access(id, R_OK))
		return 1;
	if (id == tracefs_ids[0] || mount("tracefs", "/sys/kernel/tracing", "tracefs",
					  MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
		return 0;
	log_debug("mounted tracefs on /sys/kernel/tracing for the syscall tracepoints");
	return !access(id, R_OK);
}

static void mmap_tracing_detach(struct alloc_probes *ap)
{
	/* The entry first: an exit without its entry records nothing, the reverse would leave a
	 * length behind for an unrelated mmap. */
	for (size_t i = 0; i < ARRAY_SIZE(ap->mmap_links); i++) {
		bpf_link__destroy(ap->mmap_links[i]);
		ap->mmap_links[i] = NULL;
	}
}

static int mmap_tracing_attach(struct alloc_probes *ap)
{
	struct alloc_bpf *skel = ap->skel;
	/* Entries, then their exits in the same order. */
	struct bpf_program *syscall_progs[] = {
	    skel->progs.sys_enter_munmap, skel->progs.sys_enter_mremap, skel->progs.sys_enter_mmap,
	    skel->progs.sys_exit_munmap,  skel->progs.sys_exit_mremap,	skel->progs.sys_exit_mmap};
	struct bpf_program *btf_progs[] = {skel->progs.sys_enter, skel->progs.sys_exit};
	struct bpf_program **progs = syscall_progs;
	size_t cnt = ARRAY_SIZE(syscall_progs);
	int err = 0;

	if (ap->mmap_mode != MMAP_TRACING_EVERY_SYSCALL && !tracefs_ready()) {
		log_info("no tracefs: mmap tracking runs on every syscall while a native target "
			 "is watched");
		ap->mmap_mode = MMAP_TRACING_EVERY_SYSCALL;
	}
	if (ap->mmap_mode == MMAP_TRACING_EVERY_SYSCALL) {
		progs = btf_progs;
		cnt = ARRAY_SIZE(btf_progs);
	}
	/* Exits before entries (the reverse of mmap_tracing_detach). */
	for (size_t i = cnt; i > 0; i--) {
		ap->mmap_links[i - 1] = bpf_program__attach(progs[i - 1]);
		if (!ap->mmap_links[i - 1]) {
			err = -errno;
			break;
		}
	}
	if (err) {
		mmap_tracing_detach(ap);
		if (ap->mmap_mode == MMAP_TRACING_EVERY_SYSCALL) {
			log_error("cannot attach the mmap tracepoints: %s", strerror(-err));
			return err;
		}
		log_warn("cannot attach the syscall tracepoints (%s): mmap tracking runs on every "
			 "syscall while a native target is watched",
			 strerror(-err));
		ap->mmap_mode = MMAP_TRACING_EVERY_SYSCALL;
		return mmap_tracing_attach(ap);
	}
	if (ap->mmap_mode == MMAP_TRACING_OFF)
		ap->mmap_mode = MMAP_TRACING_SYSCALLS;
	ap->mmap_attaches++;
	log_debug("mmap tracepoints attached (%s)",
		  ap->mmap_mode == MMAP_TRACING_SYSCALLS ? "per syscall" : "every syscall");
	return 0;
}

/* Attach the mmap tracepoints when a target needs them, detach them when none does. */
static int mmap_tracing_sync(struct alloc_probes *ap)
{
	int attached = ap->mmap_links[0] != NULL;

	if (ap->mmap_targets && !attached)
		return mmap_tracing_attach(ap);
	if (!ap->mmap_targets && attached) {
		mmap_tracing_detach(ap);
		log_debug("mmap tracepoints detached: no target needs them");
	}
	return 0;
}

enum mmap_tracing alloc_probes__mmap_tracing(const struct alloc_probes *ap, __u64 *attaches,
					     size_t *targets)
{
	if (attaches)
		*attaches = ap->mmap_attaches;
	if (targets)
		*targets = ap->mmap_targets;
	if (!ap->mmap_links[0])
		return MMAP_TRACING_OFF;
	return ap->mmap_mode;
}

/*
 * Open and load the BPF object configured from opts: with session, the malloc family's entry and
 * return run as one uprobe session program (alloc_session), else as alloc_enter and alloc_exit;
 * the other pair is not loaded (alloc_session's kfunc is refused outside a session). NULL and
 * errno on failure, logged by the caller.
 */
static struct alloc_bpf *load_skel(const struct alloc_probes_opts *opts, int multi, int session)
{
	struct alloc_bpf *skel;
	struct bpf_program *prog;
	int err;

	skel = alloc_bpf__open();
	if (!skel)
		return NULL;
	skel->rodata->sample_rate = opts->sample_rate;
	skel->rodata->watch_procs = opts->watch_procs;
	skel->rodata->stack_copy_bytes = opts->stack_copy_bytes;
	if (opts->stack_copy_bytes)
		bpf_map__set_max_entries(skel->maps.unwind_events,
					 opts->unwind_ring_bytes ?: 8 * 1024 * 1024);
	sampling__fill_table(opts->sample_rate, (__u64 *)skel->rodata->sample_table,
			     SAMPLE_TABLE_SIZE);
	if (opts->stack_entries)
		bpf_map__set_max_entries(skel->maps.stacks, opts->stack_entries);
	skel->rodata->stack_id_mask = stack_id_space(bpf_map__max_entries(skel->maps.stacks)) - 1;
	if (opts->stats_entries)
		bpf_map__set_max_entries(skel->maps.stats, opts->stats_entries);
	if (opts->live_entries)
		bpf_map__set_max_entries(skel->maps.live, opts->live_entries);

	if (multi) {
		bpf_object__for_each_program(prog, skel->obj)
		{
			const char *sec = bpf_program__section_name(prog);

			if (!strncmp(sec, "uprobe", 6) || !strncmp(sec, "uretprobe", 9))
				bpf_program__set_expected_attach_type(prog, ATTACH_UPROBE_MULTI);
		}
	}
	if (session)
		bpf_program__set_expected_attach_type(skel->progs.alloc_session,
						      ATTACH_UPROBE_SESSION);
	bpf_program__set_autoload(skel->progs.alloc_session, session);
	bpf_program__set_autoload(skel->progs.alloc_enter, !session);
	bpf_program__set_autoload(skel->progs.alloc_exit, !session);

	err = alloc_bpf__load(skel);
	if (err) {
		alloc_bpf__destroy(skel);
		errno = -err;
		return NULL;
	}
	return skel;
}

struct alloc_probes *alloc_probes__new(const struct alloc_probes_opts *opts)
{
	struct alloc_probes *ap;
	struct alloc_bpf *skel = NULL;
	int err;

	verbose_libbpf = opts->verbose;
	libbpf_set_print(libbpf_print);

	ap = calloc(1, sizeof(*ap));
	if (!ap)
		return NULL;
	pthread_mutex_init(&ap->mu, NULL);
	link_list__init(&ap->links);
	ap->sample_rate = opts->sample_rate;
	if (opts->mmap_every_syscall)
		ap->mmap_mode = MMAP_TRACING_EVERY_SYSCALL;
	ap->multi = uprobe_multi__supported();
	ap->session = ap->multi && !opts->no_session && uprobe_session__supported();
	skel = load_skel(opts, ap->multi, ap->session);
	if (!skel && ap->session) {
		/* The kernel links sessions but refused the program (its kfunc, say). */
		log_warn("cannot load the uprobe session program (%s): using entry+return probes",
			 strerror(errno));
		ap->session = 0;
		skel = load_skel(opts, ap->multi, 0);
	}
	if (!skel) {
		err = -errno;
		log_error("cannot load the BPF programs: %s (run as root; the kernel needs BTF, "
			  "uprobes and BPF task storage)",
			  strerror(-err));
		goto cleanup;
	}
	log_debug("uprobes: %s; the malloc family on %s",
		  ap->multi ? "uprobe_multi links" : "perf events", alloc_probes__scheme(ap));

	/* The mmap tracepoints wait for the first target that needs them (mmap_tracing_sync). */
	if (opts->watch_procs) {
		skel->links.proc_exec = bpf_program__attach(skel->progs.proc_exec);
		skel->links.proc_fork = bpf_program__attach(skel->progs.proc_fork);
		if (!skel->links.proc_exec || !skel->links.proc_fork) {
			err = -errno;
			log_error("cannot attach the exec and fork tracepoints: %s",
				  strerror(-err));
			goto cleanup;
		}
	}
	/* One consume reads the rings in the order added. The exec/fork ring is read apart, by
	 * a thread of its own; it reads this one first when an exec ends a watched program, so
	 * that its samples are unwound with that program's modules. */
	ap->gc_rb = ring_buffer__new(bpf_map__fd(skel->maps.gc_events), on_gc_event, ap, NULL);
	if (ap->gc_rb && opts->stack_copy_bytes &&
	    ring_buffer__add(ap->gc_rb, bpf_map__fd(skel->maps.unwind_events), on_unwind_event,
			     ap)) {
		ring_buffer__free(ap->gc_rb);
		ap->gc_rb = NULL;
	}
	if (ap->gc_rb && opts->watch_procs) {
		ap->life_rb =
		    ring_buffer__new(bpf_map__fd(skel->maps.life_events), on_life_event, ap, NULL);
		if (!ap->life_rb) {
			ring_buffer__free(ap->gc_rb);
			ap->gc_rb = NULL;
		}
	}
	if (!ap->gc_rb) {
		err = -errno;
		log_error("cannot set up the GC event ring buffer: %s", strerror(-err));
		goto cleanup;
	}
	ap->plans = plan_cache__new(PLAN_CACHE_FILES);
	if (!ap->plans) {
		err = -ENOMEM;
		goto cleanup;
	}
	ap->skel = skel;
	ap->reaper = link_reaper__new(); /* without it, links are closed in the caller */
	return ap;
cleanup:
	alloc_bpf__destroy(skel);
	pthread_mutex_destroy(&ap->mu);
	free(ap);
	errno = -err;
	return NULL;
}

void alloc_probes__free(struct alloc_probes *ap)
{
	if (!ap)
		return;
	mmap_tracing_detach(ap);
	link_list__fini(&ap->links, ap->reaper);
	/* Every link is closed before the programs they run go. */
	link_reaper__free(ap->reaper);
	pthread_mutex_destroy(&ap->mu);
	ring_buffer__free(ap->gc_rb);
	ring_buffer__free(ap->life_rb);
	plan_cache__free(ap->plans);
	alloc_bpf__destroy(ap->skel);
	free(ap);
}

/* Into ap's links, or pl's when given (the exec thread's, adopted later under the lock). Takes
 * spec (may be NULL) on success. */
static int add_link(struct alloc_probes *ap, struct alloc_prelink *pl, int pid,
		    const struct stat *st, struct bpf_link *l, int fd, __u32 probes,
		    struct link_spec *spec)
{
	struct probe_link link = {.pid = pid,
				  .fd = fd,
				  .probes = probes,
				  .dev = st->st_dev,
				  .ino = st->st_ino,
				  .link = l,
				  .spec = spec};

	if (!pl)
		return link_list__add(&ap->links, &link);
	if (pl->cnt == pl->cap) {
		size_t ncap = pl->cap ? pl->cap * 2 : 32;
		struct probe_link *nl = realloc(pl->links, ncap * sizeof(*nl));

		if (!nl)
			return -ENOMEM;
		pl->links = nl;
		pl->cap = ncap;
	}
	pl->links[pl->cnt++] = link;
	return 0;
}

/* From the descriptor checked by rootfs__open(), never from a path opened again. */
static int read_code(int fd, __u64 off, __u8 *buf, size_t len, size_t *got)
{
	ssize_t n;

	n = pread(fd, buf, len, off);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	*got = n;
	return 0;
}

/* A failed attach: -ESRCH and no news when the process exited meanwhile (its watcher learns
 * of it), else warned. */
static int attach_failed(int pid, const char *path, const char *what, enum probe_at at, int err)
{
	if (err == -ESRCH || !target__running(pid))
		return -ESRCH;
	log_warn("cannot attach %s%s in %s for pid %d: %s", what,
		 at == PROBE_AT_RETURN	  ? " (return)"
		 : at == PROBE_AT_SESSION ? " (session)"
					  : "",
		 path, pid, strerror(-err));
	return err;
}

/*
 * Attach prog at every site of l in path for pid (what: the sites together, for a warning), into
 * pl when given (see add_link). spec_fd >= 0: the allocation side, which the overhead budget may
 * detach and attach again (uprobe_multi links only), from the file open at spec_fd.
 */
static int attach_sites(struct alloc_probes *ap, struct alloc_prelink *pl, int pid,
			const char *path, const struct stat *st, struct bpf_program *prog,
			const struct site_list *l, enum probe_at at, const char *what, int spec_fd)
{
	struct link_spec *spec = NULL;
	int fd, err;

	if (!l->cnt)
		return 0;
	if (ap->multi) {
		if (spec_fd >= 0) {
			spec = link_spec__new(bpf_program__fd(prog), spec_fd, l->offsets,
					      l->cookies, l->cnt, at);
			if (!spec)
				return -errno;
		}
		fd = uprobe_multi__link(bpf_program__fd(prog), path, l->offsets, l->cookies, l->cnt,
					at, pid);
		if (fd < 0) {
			link_spec__free(spec);
			return attach_failed(pid, path, what, at, fd);
		}
		err = add_link(ap, pl, pid, st, NULL, fd, l->cnt, spec);
		if (err) {
			link_spec__free(spec);
			close(fd);
		}
		return err;
	}
	for (__u32 i = 0; i < l->cnt; i++) {
		/* Never PROBE_AT_SESSION: sessions need uprobe_multi links. */
		LIBBPF_OPTS(bpf_uprobe_opts, uo, .bpf_cookie = l->cookies[i],
			    .retprobe = at == PROBE_AT_RETURN);
		struct bpf_link *link;

		link = bpf_program__attach_uprobe_opts(prog, pid, path, l->offsets[i], &uo);
		if (!link)
			return attach_failed(pid, path, l->names[i], at, -errno);
		err = add_link(ap, pl, pid, st, link, -1, 1, NULL);
		if (err) {
			bpf_link__destroy(link);
			return err;
		}
	}
	return 0;
}

static int prelink_has_object(const struct alloc_prelink *pl, __u64 dev, __u64 ino)
{
	for (size_t i = 0; i < pl->cnt; i++)
		if (pl->links[i].dev == dev && pl->links[i].ino == ino)
			return 1;
	return 0;
}

/*
 * The file is opened once (rootfs__open: inside the process's root, never blocking, the mapped
 * file itself when m is given), and everything after reads that very file: the plan is the one
 * of its identity (device, inode, size, mtime from fstat of this descriptor: computed from the
 * code read through it and the symbolizer's object of the same device and inode), the uprobes
 * go in through /proc/self/fd/N. A breakpoint placed from the bytes of one file into another
 * could land inside an instruction of every process that maps it.
 * With pl (the exec thread, without the global lock): ap is only read (its programs and plan
 * cache), the links go into pl, and a plan not cached is computed under sym_lock.
 */
static int attach_object(struct alloc_probes *ap, struct symbolizer *sym, int pid, const char *path,
			 const struct proc_mapping *m, struct alloc_prelink *pl,
			 pthread_mutex_t *sym_lock)
{
	struct file_plan plan = {.probed = 0}; /* nothing probed on the paths that leave early */
	struct plan_key key;
	char fd_path[64];
	struct stat st;
	int fd, err;

	fd = rootfs__open(path, m);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st)) {
		err = -errno;
		goto cleanup;
	}
	if (pl ? prelink_has_object(pl, st.st_dev, st.st_ino)
	       : alloc_probes__has_object(ap, pid, st.st_dev, st.st_ino)) {
		err = 0;
		goto cleanup;
	}
	plan_key__from_stat(&st, &key);
	if (!plan_cache__get(ap->plans, &key, &plan)) {
		err = file_plan__compute(sym, sym_lock, pid, fd, path, &st, &plan);
		if (err)
			goto cleanup;
		plan_cache__put(ap->plans, &key, &plan);
	}
	snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", fd);
	/* A session attaches both ends at once (every allocation entry point has a return). Else
	 * the return probes first: an entry probe alone, while the process runs, would leave
	 * every call in between unreturned (counted as allocator_never_returned). The allocation
	 * side keeps a spec (fd), so that the duty cycle can close and make its links again; free
	 * always stays. */
	if (ap->session)
		err = attach_sites(ap, pl, pid, fd_path, &st, ap->skel->progs.alloc_session,
				   &plan.enter, PROBE_AT_SESSION, "the malloc family", fd);
	else
		err = attach_sites(ap, pl, pid, fd_path, &st, ap->skel->progs.alloc_exit, &plan.ret,
				   PROBE_AT_RETURN, "the malloc family", fd)
			  ?: attach_sites(ap, pl, pid, fd_path, &st, ap->skel->progs.alloc_enter,
					  &plan.enter, PROBE_AT_ENTRY, "the malloc family", fd);
	err = err
		  ?: attach_sites(ap, pl, pid, fd_path, &st, ap->skel->progs.free_enter,
				  &plan.frees, PROBE_AT_ENTRY, "free", -1);
cleanup:
	close(fd);
	return err ?: plan.probed;
}

int alloc_probes__attach_object(struct alloc_probes *ap, struct symbolizer *sym, int pid,
				const char *path)
{
	return attach_object(ap, sym, pid, path, NULL, NULL, NULL);
}

int alloc_probes__prelink(struct alloc_probes *ap, struct symbolizer *sym,
			  pthread_mutex_t *sym_lock, int pid, const char *path,
			  const struct proc_mapping *m, struct alloc_prelink *pl)
{
	pl->pid = pid;
	return attach_object(ap, sym, pid, path, m, pl, sym_lock);
}

int alloc_probes__has_pid(const struct alloc_probes *ap, int pid)
{
	return link_list__has_pid((struct link_list *)&ap->links, pid);
}

int alloc_probes__adopt(struct alloc_probes *ap, struct alloc_prelink *pl)
{
	for (size_t i = 0; i < pl->cnt; i++) {
		const struct probe_link *l = &pl->links[i];

		if (add_link(ap, NULL, l->pid, &(struct stat){.st_dev = l->dev, .st_ino = l->ino},
			     l->link, l->fd, l->probes, l->spec)) {
			/* The rest stay in pl, closed by alloc_probes__prelink_release(). */
			memmove(pl->links, pl->links + i, (pl->cnt - i) * sizeof(*l));
			pl->cnt -= i;
			return -ENOMEM;
		}
	}
	pl->cnt = 0;
	return 0;
}

void alloc_probes__prelink_release(struct alloc_probes *ap, struct alloc_prelink *pl)
{
	/* The reaper closes copies of the links; their specs are this list's to free. */
	for (size_t i = 0; i < pl->cnt; i++)
		link_spec__free(pl->links[i].spec);
	link_reaper__add(ap->reaper, pl->links, pl->cnt);
	free(pl->links);
	memset(pl, 0, sizeof(*pl));
}

/* The cookie of a Go probe: what it is, in its field (bpf/alloc.h). */
#define GO_PROBE_COOKIE(probe) COOKIE_PUT(GO_COOKIE_PROBE, probe)

/* path names the file in messages; fd is the file itself (see attach_object()). */
static int attach_go_func(struct alloc_probes *ap, int pid, const char *path, int fd,
			  const struct stat *st, const char *name, const struct go_func *f,
			  struct bpf_program *prog, __u64 cookie, __u32 keep)
{
	struct site_list one = {};
	struct probe_site site = {};
	char fd_path[64];
	__u8 code[64];
	size_t got = 0;
	int err;

	snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", fd);
	if (!f->vaddr) {
		log_warn("%s has no %s: not probed", path, name);
		return -ENOENT;
	}
	err = read_code(fd, f->file_offset, code, min_t(__u64, f->size ?: 64, sizeof(code)), &got);
	if (!err)
		err = probe_place__choose(code, got, f->vaddr, keep, &site);
	if (err)
		log_warn("cannot decode %s in %s: %s; probing its entry", name, path,
			 strerror(-err));
	else
		log_debug("%s in %s: probe at +%llu (%s)", name, path,
			  (unsigned long long)site.offset, site.insn);
	if (site.is_jbe)
		cookie |= GO_COOKIE_AT_JBE;
	site_list__add(&one, f->file_offset + site.offset, cookie, name);
	return attach_sites(ap, NULL, pid, fd_path, st, prog, &one, PROBE_AT_ENTRY, name, -1);
}

int alloc_probes__attach_go(struct alloc_probes *ap, int pid, const char *path,
			    const struct go_runtime *gr, unsigned int what)
{
	const __u32 keep = PROBE_KEEP_RAX | PROBE_KEEP_RBX | PROBE_KEEP_ARG4 | PROBE_KEEP_SP;
	struct alloc_bpf *skel = ap->skel;
	__u64 special = COOKIE_PUT(GO_COOKIE_KIND_OFF, gr->special_kind_off) |
			COOKIE_PUT(GO_COOKIE_PROFILE_KIND, gr->special_kind_profile);
	struct stat st;
	int probed = 0, fd, err;

	fd = rootfs__open(path, NULL);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st)) {
		err = -errno;
		goto cleanup;
	}
	if (what & GO_ATTACH_SAMPLER) {
		err = attach_go_func(ap, pid, path, fd, &st, "runtime.mProf_Malloc",
				     &gr->mprof_malloc, skel->progs.go_mprof_malloc,
				     GO_PROBE_COOKIE(GO_PROBE_MPROF_MALLOC) |
					 COOKIE_PUT(GO_COOKIE_ARGS, gr->mprof_args),
				     keep);
		if (err)
			goto cleanup;
		err = attach_go_func(ap, pid, path, fd, &st, "runtime.freeSpecial",
				     &gr->free_special, skel->progs.go_free_special,
				     GO_PROBE_COOKIE(GO_PROBE_FREE_SPECIAL) | special, keep);
		if (err)
			goto cleanup;
		probed += 2;
	}
	if (what & GO_ATTACH_EVERY_CALL) {
		err = attach_go_func(ap, pid, path, fd, &st, "runtime.mallocgc", &gr->mallocgc,
				     skel->progs.go_mallocgc, GO_PROBE_COOKIE(GO_PROBE_MALLOCGC),
				     keep);
		if (err)
			goto cleanup;
		probed++;
	}
	if (what & GO_ATTACH_GC) {
		/* Without them there is no timeline, but the profile is whole: not fatal. */
		if (!attach_go_func(ap, pid, path, fd, &st, "runtime.gcStart", &gr->gc_start,
				    skel->progs.go_gc, GO_PROBE_COOKIE(GO_PROBE_GC_START), keep))
			probed++;
		if (!attach_go_func(ap, pid, path, fd, &st, "runtime.gcMarkTermination",
				    &gr->gc_mark_term, skel->progs.go_gc,
				    GO_PROBE_COOKIE(GO_PROBE_GC_MARK_TERM), keep))
			probed++;
		if (!attach_go_func(ap, pid, path, fd, &st, "main.main", &gr->main_fn,
				    skel->progs.go_gc, GO_PROBE_COOKIE(GO_PROBE_MAIN), keep))
			probed++;
	}
	err = 0;
cleanup:
	close(fd);
	return err ?: probed;
}

int alloc_probes__attach_usdt(struct alloc_probes *ap, int pid, const char *path, int fd,
			      const struct usdt_note *n, enum sampler_probe probe)
{
	struct bpf_program *prog = probe == SAMPLER_PROBE_USDT_ALLOC ? ap->skel->progs.usdt_alloc
								     : ap->skel->progs.usdt_free;
	struct usdt_spec spec;
	struct bpf_link *link;
	char fd_path[64], what[160];
	struct stat st;
	__u64 cookie;
	__u32 idx;
	int err, lfd;

	if (fstat(fd, &st))
		return -errno;
	err = usdt__parse_args(n->args, &spec);
	if (err) {
		log_warn("%s:%s in %s: cannot read its arguments '%s'", n->provider, n->name, path,
			 n->args);
		return err;
	}
	/* Specs are never reused: a process that comes back for more past the map's size gets
	 * none, rather than another probe's. */
	if (ap->usdt_specs_used >= USDT_SPECS_MAX)
		return -ENOSPC;
	idx = ap->usdt_specs_used++;
	err = bpf_map__update_elem(ap->skel->maps.usdt_specs, &idx, sizeof(idx), &spec,
				   sizeof(spec), BPF_ANY);
	if (err)
		return err;
	/* A semaphore (the process skips the probe while it is 0) is counted up by the kernel
	 * while the uprobe is attached: ref_ctr_offset. */
	cookie = COOKIE_PUT(SAMPLER_COOKIE_SPEC, idx) | COOKIE_PUT(SAMPLER_COOKIE_PROBE, probe);
	snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", fd);
	snprintf(what, sizeof(what), "%s:%s", n->provider, n->name);
	if (ap->multi) {
		lfd = uprobe_multi__link_usdt(bpf_program__fd(prog), fd_path, n->file_offset,
					      cookie, n->sema_offset, pid);
		if (lfd < 0)
			return attach_failed(pid, path, what, 0, lfd);
		err = add_link(ap, NULL, pid, &st, NULL, lfd, 1, NULL);
		if (err)
			close(lfd);
		return err;
	}
	{
		LIBBPF_OPTS(bpf_uprobe_opts, uo, .bpf_cookie = cookie,
			    .ref_ctr_offset = n->sema_offset);

		link = bpf_program__attach_uprobe_opts(prog, pid, fd_path, n->file_offset, &uo);
	}
	if (!link)
		return attach_failed(pid, path, what, 0, -errno);
	err = add_link(ap, NULL, pid, &st, link, -1, 1, NULL);
	if (err)
		bpf_link__destroy(link);
	return err;
}

/* pid's flags in the targets map (0 when absent). */
static __u32 target_flags(const struct alloc_probes *ap, int pid)
{
	__u32 key = pid, val = 0;

	if (bpf_map__lookup_elem(ap->skel->maps.targets, &key, sizeof(key), &val, sizeof(val), 0))
		return 0;
	return val;
}

int alloc_probes__is_target(const struct alloc_probes *ap, int pid)
{
	__u32 key = pid, val;

	return !bpf_map__lookup_elem(ap->skel->maps.targets, &key, sizeof(key), &val, sizeof(val),
				     0);
}

int alloc_probes__preset_target(struct alloc_probes *ap, int pid, __u32 flags)
{
	__u32 key = pid, val = flags & ~TARGET_F_MMAP;

	if (bpf_map__update_elem(ap->skel->maps.targets, &key, sizeof(key), &val, sizeof(val),
				 BPF_NOEXIST))
		return -errno;
	return 0;
}

void alloc_probes__unpreset_target(struct alloc_probes *ap, int pid)
{
	__u32 key = pid;

	bpf_map__delete_elem(ap->skel->maps.targets, &key, sizeof(key), 0);
}

/* With ap->mu held. */
static int add_target(struct alloc_probes *ap, int pid, __u32 flags)
{
	__u32 key = pid, old = target_flags(ap, pid);
	/* The duty cycle (bits 16-31) is the overhead budget's (alloc_probes__set_duty); CFI set
	 * by the exec thread before the probes went live stays. */
	__u32 val = (flags & TARGET_FLAGS_MASK) | (old & ~TARGET_FLAGS_MASK) | (old & TARGET_F_CFI);

	if (bpf_map__update_elem(ap->skel->maps.targets, &key, sizeof(key), &val, sizeof(val),
				 BPF_ANY))
		return -errno;
	if (!(old & TARGET_F_MMAP) && (flags & TARGET_F_MMAP))
		ap->mmap_targets++;
	else if ((old & TARGET_F_MMAP) && !(flags & TARGET_F_MMAP))
		ap->mmap_targets--;
	return mmap_tracing_sync(ap);
}

int alloc_probes__add_target(struct alloc_probes *ap, int pid, __u32 flags)
{
	int err;

	pthread_mutex_lock(&ap->mu);
	err = add_target(ap, pid, flags);
	pthread_mutex_unlock(&ap->mu);
	return err;
}

int alloc_probes__set_duty(struct alloc_probes *ap, int pid, __u16 duty)
{
	__u32 key = pid, val;
	int err = 0;

	pthread_mutex_lock(&ap->mu);
	val = (target_flags(ap, pid) & TARGET_FLAGS_MASK) | (__u32)duty << TARGET_DUTY_SHIFT;
	/* Only while pid is a target: a process that just left must not come back as one. */
	if (bpf_map__update_elem(ap->skel->maps.targets, &key, sizeof(key), &val, sizeof(val),
				 BPF_EXIST))
		err = -errno;
	pthread_mutex_unlock(&ap->mu);
	return err;
}

/* pid leaves the targets map; the tracepoints go with the last target that needed them. */
static void remove_target(struct alloc_probes *ap, int pid)
{
	__u32 key = pid, old;

	pthread_mutex_lock(&ap->mu);
	old = target_flags(ap, pid);
	if (!bpf_map__delete_elem(ap->skel->maps.targets, &key, sizeof(key), 0)) {
		if (old & TARGET_F_MMAP)
			ap->mmap_targets--;
		mmap_tracing_sync(ap);
	}
	pthread_mutex_unlock(&ap->mu);
}

int alloc_probes__set_go_layout(struct alloc_probes *ap, int pid, const struct go_layout *l)
{
	__u32 key = pid;

	if (bpf_map__update_elem(ap->skel->maps.go_layouts, &key, sizeof(key), l, sizeof(*l),
				 BPF_ANY))
		return -errno;
	return alloc_probes__set_target_flags(ap, pid, TARGET_F_GO_CGO);
}

int alloc_probes__set_target_flags(struct alloc_probes *ap, int pid, __u32 flags)
{
	int err;

	pthread_mutex_lock(&ap->mu);
	err = add_target(ap, pid, target_flags(ap, pid) | flags);
	pthread_mutex_unlock(&ap->mu);
	return err;
}

int alloc_probes__has_object(struct alloc_probes *ap, int pid, __u64 dev, __u64 ino)
{
	return link_list__has_object(&ap->links, pid, dev, ino);
}

int alloc_probes__set_alloc_side(struct alloc_probes *ap, int pid, int on)
{
	return link_list__set_side(&ap->links, pid, on);
}

size_t alloc_probes__cyclable_pids(struct alloc_probes *ap, int *pids, size_t max)
{
	return link_list__cyclable_pids(&ap->links, pids, max);
}

int alloc_probes__prog_fd(const struct alloc_probes *ap, const char *name)
{
	struct bpf_program *p = bpf_object__find_program_by_name(ap->skel->obj, name);

	return p ? bpf_program__fd(p) : -ENOENT;
}

struct bpf_program *alloc_probes__calibrate_prog(const struct alloc_probes *ap)
{
	return ap->skel->progs.calibrate;
}

int alloc_probes__multi(const struct alloc_probes *ap)
{
	return ap->multi;
}

int alloc_probes__attach_pid(struct alloc_probes *ap, struct symbolizer *sym, int pid,
			     const struct proc_maps *maps)
{
	int objects = 0, err;

	for (size_t i = 0; i < maps->cnt; i++) {
		const struct proc_mapping *m = &maps->maps[i];
		char path[4096];

		if (!(m->perms & PMAP_PERM_EXEC) || !proc_mapping__is_file(m))
			continue;
		/* A file deleted or replaced on disk is still reachable through map_files. */
		if (proc_mapping__is_deleted(m))
			snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", pid,
				 (unsigned long long)m->start, (unsigned long long)m->end);
		else
			snprintf(path, sizeof(path), "/proc/%d/root%s", pid, m->path);
		err = attach_object(ap, sym, pid, path, m, NULL, NULL);
		/* Refused (rootfs counted why) or gone: its frames stay addresses. */
		if (err == -ENOENT || err == -ELOOP || err == -ESTALE || err == -EINVAL ||
		    err == -EISDIR || err == -EFBIG)
			continue;
		if (err < 0)
			return err;
		if (err > 0)
			objects++;
	}
	return objects ? objects : -ENOENT;
}

void alloc_probes__detach_pid(struct alloc_probes *ap, int pid, int wait)
{
	struct probe_link *gone = NULL;
	size_t n = link_list__take_pid(&ap->links, pid, &gone);

	link_reaper__add(ap->reaper, gone, n);
	free(gone);
	if (wait)
		link_reaper__wait(ap->reaper);
	remove_target(ap, pid);
}

int alloc_probes__stats_fd(const struct alloc_probes *ap)
{
	return bpf_map__fd(ap->skel->maps.stats);
}

int alloc_probes__stacks_fd(const struct alloc_probes *ap)
{
	return bpf_map__fd(ap->skel->maps.stacks);
}

int alloc_probes__live_fd(const struct alloc_probes *ap)
{
	return bpf_map__fd(ap->skel->maps.live);
}

const char *alloc_probes__scheme(const struct alloc_probes *ap)
{
	return ap->session ? "uprobe sessions" : "entry+return probes";
}

__u64 alloc_probes__sample_rate(const struct alloc_probes *ap)
{
	return ap->sample_rate;
}

void alloc_probes__counters(const struct alloc_probes *ap, __u64 out[ALLOC_CNT_MAX])
{
	for (int i = 0; i < ALLOC_CNT_MAX; i++)
		out[i] = __atomic_load_n(&ap->skel->bss->counters[i], __ATOMIC_RELAXED);
}

void alloc_probes__totals(const struct alloc_probes *ap, int pid, struct proc_totals *out)
{
	__u32 key = pid;

	if (bpf_map__lookup_elem(ap->skel->maps.totals, &key, sizeof(key), out, sizeof(*out), 0))
		memset(out, 0, sizeof(*out));
}

void alloc_probes__forget_totals(struct alloc_probes *ap, int pid)
{
	__u32 key = pid;

	bpf_map__delete_elem(ap->skel->maps.totals, &key, sizeof(key), 0);
	remove_target(ap, pid);
	bpf_map__delete_elem(ap->skel->maps.go_layouts, &key, sizeof(key), 0);
}

__u32 alloc_probes__stack_id_space(const struct alloc_probes *ap)
{
	return ap->skel->rodata->stack_id_mask + 1;
}

size_t alloc_probes__link_count(const struct alloc_probes *ap)
{
	return link_list__probe_count((struct link_list *)&ap->links);
}

long alloc_probes__map_fill(const struct alloc_probes *ap, const char *name, __u32 *capacity)
{
	struct bpf_map *map = bpf_object__find_map_by_name(ap->skel->obj, name);

	if (!map)
		return -ENOENT;
	*capacity = bpf_map__max_entries(map);
	return bpfmap__walk(bpf_map__fd(map), bpf_map__key_size(map), bpf_map__value_size(map),
			    NULL, NULL);
}
