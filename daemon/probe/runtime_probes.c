// SPDX-License-Identifier: MIT
/* Probes on a process's own samplers rather than on every allocator call: the Go runtime's
 * (runtime.mProf_Malloc, freeSpecial, and the GC hooks) and the otel_memory USDT probes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "probe/alloc_probes_priv.h"
#include "probe/probe_place.h"
#include "symbols/goruntime.h"
#include "symbols/rootfs.h"
#include "symbols/usdt.h"
#include "util/common.h"
#include "util/log.h"

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
	err =
	    ap_read_code(fd, f->file_offset, code, min_t(__u64, f->size ?: 64, sizeof(code)), &got);
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
	return ap_attach_sites(ap, NULL, pid, fd_path, st, prog, &one, PROBE_AT_ENTRY, name, -1);
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
			return ap_attach_failed(pid, path, what, 0, lfd);
		err = ap_add_link(ap, NULL, pid, &st, NULL, lfd, 1, NULL);
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
		return ap_attach_failed(pid, path, what, 0, -errno);
	err = ap_add_link(ap, NULL, pid, &st, link, -1, 1, NULL);
	if (err)
		bpf_link__destroy(link);
	return err;
}
