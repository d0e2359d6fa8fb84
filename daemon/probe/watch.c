// SPDX-License-Identifier: MIT
/* Attaching to one process: mode choice, Go runtime hooks and MemProfileRate, timeline points. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/common.h"
#include "util/log.h"
#include "symbols/rootfs.h"
#include "probe/unwind.h"
#include "probe/watch.h"
#include "probe/samplers.h"

/* Whether an executable loads shared libraries (has PT_INTERP): a cgo Go program maps libc. */
static int elf_is_dynamic(const char *path)
{
	int fd, dyn = 0;
	size_t n;
	Elf *elf;

	fd = rootfs__open(path, NULL);
	if (fd < 0)
		return 0;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf && !elf_getphdrnum(elf, &n)) {
		for (size_t i = 0; i < n && !dyn; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(elf, i, &ph) && ph.p_type == PT_INTERP)
				dyn = 1;
		}
	}
	if (elf)
		elf_end(elf);
	close(fd);
	return dyn;
}

/*
 * At exec the dynamic loader has not mapped the libraries yet: probe the libc at the usual
 * paths of the process's own root (Debian, Fedora, Alpine), so that its first allocations are
 * seen; probes are filtered to this pid, so a libc it never maps costs nothing.
 * watch__reconcile() picks up whatever it does map.
 */
static const char *const expected_libc_paths[] = {
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/lib64/libc.so.6",
    "/usr/lib64/libc.so.6",
    "/lib/ld-musl-x86_64.so.1",
};

static int attach_expected_libc(struct watch *w, struct alloc_probes *ap, struct symbolizer *sym)
{
	const char *const *paths = expected_libc_paths;
	char path[PATH_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(expected_libc_paths); i++) {
		/* Opened inside the process's root by rootfs__open(): a FIFO or a link out of it
		 * there is refused and counted, a missing one skipped. */
		snprintf(path, sizeof(path), "/proc/%d/root%s", w->target.pid, paths[i]);
		if (alloc_probes__attach_object(ap, sym, w->target.pid, path) > 0)
			return 0;
	}
	return -ENOENT;
}

int watch__prelink_exec(struct alloc_probes *ap, struct symbolizer *sym, pthread_mutex_t *sym_lock,
			int pid, struct alloc_prelink *pl)
{
	struct proc_maps maps = {};
	char path[PATH_MAX];
	int n, objects = 0;

	/* At exec: the executable and the loader, whatever ld.so mapped already. */
	n = proc_maps__read(NULL, pid, &maps);
	if (n)
		return n;
	for (size_t i = 0; i < maps.cnt; i++) {
		const struct proc_mapping *m = &maps.maps[i];

		if (!(m->perms & PMAP_PERM_EXEC) || !proc_mapping__is_file(m) ||
		    proc_mapping__is_deleted(m))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/root%s", pid, m->path);
		n = alloc_probes__prelink(ap, sym, sym_lock, pid, path, m, pl);
		if (n == -ESRCH) {
			proc_maps__clear(&maps);
			return n;
		}
		objects += n > 0;
	}
	proc_maps__clear(&maps);
	if (objects)
		return objects;
	for (size_t i = 0; i < ARRAY_SIZE(expected_libc_paths); i++) {
		snprintf(path, sizeof(path), "/proc/%d/root%s", pid, expected_libc_paths[i]);
		n = alloc_probes__prelink(ap, sym, sym_lock, pid, path, NULL, pl);
		if (n > 0 || n == -ESRCH)
			return n;
	}
	return -ENOENT;
}

int watch__reconcile(struct watch *w, struct alloc_probes *ap, struct symbolizer *sym)
{
	int n;

	if (!w->native || !w->target.maps_gen || w->reconciled_snaps == w->target.maps_gen)
		return 0;
	w->reconciled_snaps = w->target.maps_gen;
	n = alloc_probes__attach_pid(ap, sym, w->target.pid, &w->target.maps);
	if (n > 0)
		log_info("pid %d: probing %d more allocator objects", w->target.pid, n);
	return n > 0 ? n : 0;
}

/* Before exec: probe the objects of the command's LD_PRELOAD (a preloaded allocator). */
static void attach_preloaded(struct alloc_probes *ap, struct symbolizer *sym, int pid,
			     const char *list)
{
	char path[PATH_MAX];
	int n;

	while ((list = samplers__preload_next(list, path, sizeof(path)))) {
		n = alloc_probes__attach_object(ap, sym, pid, path);
		if (n < 0 && n != -ENOENT)
			log_warn("cannot probe %s (LD_PRELOAD): %s", path, strerror(-n));
	}
}

static int attach_native(struct watch *w, struct alloc_probes *ap, struct symbolizer *sym,
			 const char *exe, int pre_exec, const char *preload)
{
	const struct proc_maps *maps = &w->target.maps;
	int err, n;

	err = alloc_probes__attach_pid(ap, sym, w->target.pid, maps);
	/* Probed already by the exec thread (watch__prelink_exec), links adopted; or gone
	 * since, after its probes went live: what they saw is read at the next drain. */
	if ((err == -ENOENT || err == -ESRCH) && alloc_probes__has_pid(ap, w->target.pid))
		err = 0;
	if (err == -ENOENT && !pre_exec && elf_is_dynamic(exe))
		err = attach_expected_libc(w, ap, sym);
	w->reconciled_snaps = w->target.maps_gen;
	if (pre_exec) {
		/* A statically linked command brings its own malloc. */
		n = alloc_probes__attach_object(ap, sym, w->target.pid, exe);
		if (n < 0 && n != -ENOENT)
			log_warn("cannot probe %s itself: %s", exe, strerror(-n));
		attach_preloaded(ap, sym, w->target.pid, preload);
	}
	return err < 0 ? err : 0;
}

static int attach_done(struct watch *w, struct alloc_probes *ap, const char *exe, int pre_exec,
		       enum alloc_source source);

int watch__attach(struct watch *w, struct alloc_probes *ap, struct symbolizer *sym,
		  const struct watch_opts *o, int pid, const char *exe, int pre_exec)
{
	struct target t;
	int err;

	err = target__init(&t, pid);
	if (!err)
		err = target__refresh_maps(&t);
	if (err) {
		target__release(&t);
		return err;
	}
	return watch__attach_target(w, ap, sym, o, &t, exe, pre_exec);
}

int watch__attach_target(struct watch *w, struct alloc_probes *ap, struct symbolizer *sym,
			 const struct watch_opts *o, struct target *t, const char *exe,
			 int pre_exec)
{
	enum watch_mode mode = o->mode;
	unsigned int what;
	int err, dynamic, pid = t->pid;
	__u64 t0 = now_mono_ns(), t_maps, t_go, t_native = 0;
	struct target taken = *t;

	memset(t, 0, sizeof(*t)); /* t may be &w->target */
	memset(w, 0, sizeof(*w));
	w->go_rate = -1;
	snprintf(w->exe_path, sizeof(w->exe_path), "%s", exe);
	w->target = taken;
	t_maps = now_mono_ns();
	w->is_go = goruntime__inspect(exe, &w->gr) == 0;
	dynamic = pre_exec ? elf_is_dynamic(exe) : 1;
	t_go = now_mono_ns();
	/* The cheapest source first: a sampler inside the process traps only for its samples
	 * (unless the exec thread probed it already: it leaves those with a sampler alone). */
	if (mode == WATCH_MODE_AUTO && !w->is_go && !alloc_probes__has_pid(ap, pid)) {
		err = samplers__attach_usdt(ap, pid, exe, &w->target.maps);
		if (err >= 0 && pre_exec && o->preload) {
			int n = samplers__attach_usdt_preload(ap, pid, o->preload);

			err = n < 0 ? n : err + n;
		}
		if (err < 0)
			return err;
		if (err > 0)
			return attach_done(w, ap, exe, pre_exec, ALLOC_SOURCE_USDT);
	}
	if (mode == WATCH_MODE_AUTO)
		mode = !w->is_go ? WATCH_MODE_MALLOC : dynamic ? WATCH_MODE_BOTH : WATCH_MODE_GO;
	if (mode != WATCH_MODE_MALLOC && !w->is_go) {
		log_error("%s is not a Go program (no Go build information): use --mode malloc",
			  exe);
		return -ENOEXEC;
	}
	if (mode == WATCH_MODE_MALLOC || mode == WATCH_MODE_BOTH) {
		err = attach_native(w, ap, sym, exe, pre_exec, o->preload);
		t_native = now_mono_ns();
		/* A Go program without cgo has no libc: "both" then means Go alone. */
		if (err && mode == WATCH_MODE_MALLOC)
			return err;
		w->native = !err;
	}
	if ((mode == WATCH_MODE_GO || mode == WATCH_MODE_BOTH) && !w->gr.known &&
	    !o->go_every_call) {
		/* The sampler's hooks change between versions (mProf_Malloc's arguments, the
		 * special record's layout): guessing them could give a wrong profile. mallocgc's
		 * signature is frozen since Go 1.23 (go.dev/issue/67401). */
		log_error("pid %d runs %s, a Go version allocscope does not know (it knows 1.%d to "
			  "1.%d): its runtime's heap sampler is not probed. --go-every-call works "
			  "(allocations only, no in-use); --mode malloc for cgo code",
			  pid, w->gr.version, GO_OLDEST_KNOWN_MINOR, GO_NEWEST_KNOWN_MINOR);
		if (!w->native)
			return -EOPNOTSUPP;
	} else if (mode == WATCH_MODE_GO || mode == WATCH_MODE_BOTH) {
		what = GO_ATTACH_GC | (o->go_every_call ? GO_ATTACH_EVERY_CALL : GO_ATTACH_SAMPLER);
		err = alloc_probes__attach_go(ap, pid, exe, &w->gr, what);
		if (err < 0)
			return err;
		w->go = 1;
		log_info("pid %d: %s, probing its runtime%s", pid, w->gr.version,
			 o->go_every_call ? " on every mallocgc call" : "'s heap sampler");
	}
	if (!w->native && !w->go)
		return -ENOENT;
	log_debug(
	    "pid %d: attach steps: maps %.2f ms, Go inspection %.2f ms, native probes %.2f ms", pid,
	    (t_maps - t0) / 1e6, (t_go - t_maps) / 1e6, t_native ? (t_native - t_go) / 1e6 : 0.0);
	return attach_done(w, ap, exe, pre_exec,
			   w->native ? ALLOC_SOURCE_EVERY_CALL : ALLOC_SOURCE_GO);
}

/* What every source shares once probed: the process as a target, its timeline. */
static int attach_done(struct watch *w, struct alloc_probes *ap, const char *exe, int pre_exec,
		       enum alloc_source source)
{
	int pid = w->target.pid, err;

	w->source = source;
	if (source == ALLOC_SOURCE_USDT)
		log_info("pid %d: allocations from its own sampler (otel_memory USDT probes): "
			 "only sampled allocations trap",
			 pid);
	else
		log_debug("pid %d: allocations from %s", pid, alloc_source__name(source));
	/* The Go heap is mmap'ed by the runtime, through libc with cgo: only a program without a
	 * Go runtime has its anonymous mmaps counted as allocations, and only when its
	 * allocations are ours to sample (a process's own sampler reports what it samples). */
	err = alloc_probes__add_target(ap, pid,
				       w->go || source == ALLOC_SOURCE_USDT ? 0 : TARGET_F_MMAP);
	if (err)
		return err;
	w->tl.pid = pid;
	/* Before exec the process is still a copy of us: name the command. */
	snprintf(w->tl.exe, sizeof(w->tl.exe), "%s",
		 pre_exec || !w->target.exe ? exe : w->target.exe);
	if (w->is_go)
		snprintf(w->tl.go_version, sizeof(w->tl.go_version), "%s", w->gr.version);
	return 0;
}

void watch__runtime_ready(struct watch *w, const struct watch_opts *o)
{
	const struct proc_maps *maps;
	__s64 rate;
	int err;

	if (!w->go)
		return;
	if (!w->gr.memprofilerate_vaddr) {
		log_debug("pid %d: no runtime.MemProfileRate to read", w->target.pid);
		return;
	}
	if (target__refresh_maps(&w->target) == -ESRCH || !w->target.maps_gen)
		return;
	maps = &w->target.maps;
	/* The path as the process's maps show it: the executable's own mapping. */
	for (size_t i = 0; i < maps->cnt && !w->rate_addr; i++) {
		if (!proc_mapping__is_file(&maps->maps[i]))
			continue;
		w->rate_addr = goruntime__var_addr(&w->gr, maps, maps->maps[i].path,
						   w->gr.memprofilerate_vaddr);
		break; /* the lowest file mapping is the executable */
	}
	if (!w->rate_addr) {
		log_warn("pid %d: cannot place runtime.MemProfileRate in its memory",
			 w->target.pid);
		return;
	}
	err = goruntime__read_rate(w->target.pid, w->rate_addr, &rate);
	if (err) {
		log_warn("pid %d: cannot read runtime.MemProfileRate: %s", w->target.pid,
			 strerror(-err));
		return;
	}
	/* Only over the 0 the runtime sets when it cannot be profiled: a rate the program chose
	 * itself stays. Called again later, this also undoes a late reset to 0. */
	if (o->go_set_rate > 0 && rate == 0 && !o->go_every_call) {
		err = goruntime__write_rate(w->target.pid, w->rate_addr, o->go_set_rate);
		if (err) {
			log_error("pid %d: cannot write runtime.MemProfileRate: %s", w->target.pid,
				  strerror(-err));
		} else {
			fprintf(stderr,
				"allocscope: wrote runtime.MemProfileRate = %lld into pid %d (was "
				"%lld), "
				"as --go-set-rate asked\n",
				(long long)o->go_set_rate, w->target.pid, (long long)rate);
			rate = o->go_set_rate;
			w->rate_written++;
		}
	}
	log_debug("pid %d: runtime.MemProfileRate = %lld at 0x%llx", w->target.pid, (long long)rate,
		  (unsigned long long)w->rate_addr);
	w->go_rate = rate;
	if (rate == 0 && !o->go_every_call && !w->rate_reported) {
		w->rate_reported = 1;
		fprintf(
		    stderr,
		    "allocscope: pid %d (%s) samples no allocations: its runtime.MemProfileRate "
		    "is 0 because the program does not link runtime.MemProfile (it uses neither "
		    "runtime/pprof nor net/http/pprof). To profile it anyway, either let "
		    "allocscope set the rate in the process (--go-set-rate 512k, which writes to "
		    "its memory) or probe every runtime.mallocgc call (--go-every-call, one "
		    "uprobe per allocation).\n",
		    w->target.pid, w->target.exe ?: w->exe_path);
	}
}

void watch__gc_event(struct watch *w, const struct gc_event *e, __u64 mono_to_real_ns)
{
	struct timeline_point p = {};

	if (e->probe == GO_PROBE_GC_START) {
		w->tl.pending_gc_start_ns = e->time_ns + mono_to_real_ns;
		return;
	}
	if (e->probe != GO_PROBE_GC_MARK_TERM)
		return;
	p.kind = TIMELINE_GC;
	p.cycle = ++w->tl.cycles;
	p.time_ns = e->time_ns + mono_to_real_ns;
	p.gc_start_ns = w->tl.pending_gc_start_ns;
	p.totals = e->totals;
	w->tl.pending_gc_start_ns = 0;
	timeline__add(&w->tl, &p);
}

/* VmRSS and RssAnon of a process from /proc/PID/status, in bytes. */
static void read_rss(int pid, __u64 *rss, __u64 *anon)
{
	char path[64], line[256];
	unsigned long long kb;
	FILE *f;

	*rss = *anon = 0;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
			*rss = kb * 1024;
		else if (sscanf(line, "RssAnon: %llu kB", &kb) == 1)
			*anon = kb * 1024;
	}
	fclose(f);
}

void watch__interval(struct watch *w, struct alloc_probes *ap)
{
	struct timeline_point p = {.kind = TIMELINE_INTERVAL};

	read_rss(w->target.pid, &p.rss_bytes, &p.anon_bytes);

	p.cycle = w->tl.cycles;
	p.time_ns = now_real_ns();
	alloc_probes__totals(ap, w->target.pid, &p.totals);
	timeline__add(&w->tl, &p);
}

__u64 watch__go_rate(const struct watch *w)
{
	return w->go_rate > 0 ? (__u64)w->go_rate : 512 * 1024;
}

__u64 watch__totals_rate(const struct watch *w, __u64 native_rate, int go_every_call)
{
	/* A process's own sampler reports unsampled weights: its totals need no scaling. */
	if (w->source == ALLOC_SOURCE_USDT)
		return 1;
	return w->go && !go_every_call ? watch__go_rate(w) : native_rate;
}

void watch__release(struct watch *w)
{
	target__release(&w->target);
	timeline__free(&w->tl);
}

/* The newest Go whose goroutine layout (goruntime__layout) the cgo join was checked on. */
#define GO_CGO_JOIN_NEWEST_MINOR 19

int watch__enable_cfi(struct watch *w, struct alloc_probes *ap, enum unwind_mode mode)
{
	struct go_layout gl;
	int err;

	if (!unwind_mode__cfi(mode, w->is_go, w->native))
		return 0;
	/* auto is the default: it joins C to the goroutine only where that walk is known to work
	 * (the runtime layouts checked: Go 1.19); newer Go keeps frame pointers, as with fp. */
	if (mode == UNWIND_MODE_AUTO && w->is_go && w->gr.minor > GO_CGO_JOIN_NEWEST_MINOR)
		return 0;
	err = alloc_probes__set_target_flags(ap, w->target.pid, TARGET_F_CFI);
	if (err || !w->is_go)
		return err ?: 1;
	/* A Go program's native samples are joined to the goroutine that called C, where its
	 * runtime's g is laid out as the BPF walk reads it. */
	if (!w->gr.g_fixed_ok)
		return 1;
	goruntime__layout(&w->gr, &gl);
	err = alloc_probes__set_go_layout(ap, w->target.pid, &gl);
	return err ?: 1;
}
