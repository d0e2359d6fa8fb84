// SPDX-License-Identifier: MIT
/* Loads bpf/alloc.bpf.c and attaches it: uprobes on the malloc family, placed by probe_place.c,
 * filtered to one process each (uprobe_multi links where the kernel has them, else perf-event
 * uprobes). The targets map and the mmap tracepoints that follow it are in alloc_targets.c, the
 * probes on a process's own samplers (Go's runtime, otel_memory USDTs) in runtime_probes.c. */
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
#include "probe/alloc_probes_priv.h"
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

/*
 * Hand the frees that found the unwind ring full (bpf/record.bpf.h, account_free) to the unwind
 * callback, after the ring: the allocation each retires was submitted before the free could
 * happen, so it has been read by now. Read and deleted in batches.
 */
static void deferred_frees(struct alloc_probes *ap)
{
	enum { BATCH = 256 };
	int fd = bpf_map__fd(ap->skel->maps.unwind_frees);
	struct unwind_free_deferred vals[BATCH];
	__u64 keys[BATCH], batch = 0;
	void *in = NULL;
	int err;

	do {
		__u32 n = BATCH;

		err = bpf_map_lookup_and_delete_batch(fd, in, &batch, keys, vals, &n, NULL);
		if (err && errno != ENOENT) {
			log_debug("unwind_frees: %s", strerror(errno));
			return;
		}
		for (__u32 i = 0; i < n; i++) {
			struct unwind_free_event fe = {
			    .type = UNWIND_EV_FREE,
			    .tgid = vals[i].tgid,
			    .token = keys[i],
			    .size = vals[i].size,
			};

			ap->unwind_cb(ap->unwind_ctx, &fe, sizeof(fe));
		}
		in = &batch;
	} while (!err);
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
	if (ap->unwind_cb && ap->skel->rodata->stack_copy_bytes)
		deferred_frees(ap);
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
	else
		bpf_map__set_max_entries(skel->maps.unwind_frees, 1);
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
	ap_mmap_detach(ap);
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
int ap_add_link(struct alloc_probes *ap, struct alloc_prelink *pl, int pid, const struct stat *st,
		struct bpf_link *l, int fd, __u32 probes, struct link_spec *spec)
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
int ap_read_code(int fd, __u64 off, __u8 *buf, size_t len, size_t *got)
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
int ap_attach_failed(int pid, const char *path, const char *what, enum probe_at at, int err)
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
int ap_attach_sites(struct alloc_probes *ap, struct alloc_prelink *pl, int pid, const char *path,
		    const struct stat *st, struct bpf_program *prog, const struct site_list *l,
		    enum probe_at at, const char *what, int spec_fd)
{
	struct link_spec *spec = NULL;
	int fd, err;

	if (!l->cnt)
		return 0;
	/* Under a budget, the reallocs go in a link of their own that is never cycled: a realloc
	 * frees a block that may have been sampled while the allocation side was on. */
	if (ap->multi && spec_fd >= 0 && ap->skel->bss->alloc_gated) {
		struct site_list keep = {}, cyc = {};

		for (__u32 i = 0; i < l->cnt; i++) {
			struct site_list *to =
			    alloc_kind_reallocs(COOKIE_FIELD(l->cookies[i], ALLOC_COOKIE_KIND))
				? &keep
				: &cyc;

			to->offsets[to->cnt] = l->offsets[i];
			to->cookies[to->cnt] = l->cookies[i];
			to->names[to->cnt++] = l->names[i];
		}
		if (keep.cnt && cyc.cnt)
			return ap_attach_sites(ap, pl, pid, path, st, prog, &keep, at, what, -1)
				   ?: ap_attach_sites(ap, pl, pid, path, st, prog, &cyc, at, what,
						      spec_fd);
		if (keep.cnt)
			spec_fd = -1;
	}
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
			return ap_attach_failed(pid, path, what, at, fd);
		}
		err = ap_add_link(ap, pl, pid, st, NULL, fd, l->cnt, spec);
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
			return ap_attach_failed(pid, path, l->names[i], at, -errno);
		err = ap_add_link(ap, pl, pid, st, link, -1, 1, NULL);
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
		err = ap_attach_sites(ap, pl, pid, fd_path, &st, ap->skel->progs.alloc_session,
				      &plan.enter, PROBE_AT_SESSION, "the malloc family", fd);
	else
		err = ap_attach_sites(ap, pl, pid, fd_path, &st, ap->skel->progs.alloc_exit,
				      &plan.ret, PROBE_AT_RETURN, "the malloc family", fd)
			  ?: ap_attach_sites(ap, pl, pid, fd_path, &st, ap->skel->progs.alloc_enter,
					     &plan.enter, PROBE_AT_ENTRY, "the malloc family", fd);
	err = err
		  ?: ap_attach_sites(ap, pl, pid, fd_path, &st, ap->skel->progs.free_enter,
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

		if (ap_add_link(ap, NULL, l->pid,
				&(struct stat){.st_dev = l->dev, .st_ino = l->ino}, l->link, l->fd,
				l->probes, l->spec)) {
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
	ap_remove_target(ap, pid);
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
	ap_remove_target(ap, pid);
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
