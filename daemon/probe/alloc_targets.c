// SPDX-License-Identifier: MIT
/* The targets map (which processes the programs serve, with what flags and duty cycle) and the
 * mmap/munmap/mremap tracepoints that follow it: attached while some target needs them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "probe/alloc_probes_priv.h"
#include "util/common.h"
#include "util/log.h"
#include "util/thread.h"

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

/* The entries first: an exit without its entry records nothing, the reverse would leave a
 * length behind for an unrelated mmap. */
static void destroy_in_order(struct bpf_link **links, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bpf_link__destroy(links[i]);
		links[i] = NULL;
	}
}

static void *detach_thread(void *arg)
{
	struct bpf_link **links = arg;

	destroy_in_order(links, MMAP_LINKS);
	free(links);
	return NULL;
}

/* Until the last set of tracepoints handed to the detach thread is closed: before a new set is
 * attached (the two would count each mmap twice), and at exit. */
static void mmap_detach_wait(struct alloc_probes *ap)
{
	if (!ap->mmap_detaching)
		return;
	pthread_join(ap->mmap_detacher, NULL);
	ap->mmap_detaching = 0;
}

void ap_mmap_detach(struct alloc_probes *ap)
{
	mmap_detach_wait(ap);
	destroy_in_order(ap->mmap_links, MMAP_LINKS);
}

/* Detach them on a thread of its own: closing a tracepoint link waits for RCU grace periods,
 * 0.3 s for the six on these machines, which the daemon's lock (and the exec thread behind it)
 * must not wait for. In the caller when no thread can be had. */
static void mmap_detach_async(struct alloc_probes *ap)
{
	struct bpf_link **links = malloc(sizeof(ap->mmap_links));

	mmap_detach_wait(ap);
	if (!links) {
		ap_mmap_detach(ap);
		return;
	}
	memcpy(links, ap->mmap_links, sizeof(ap->mmap_links));
	if (thread_start(&ap->mmap_detacher, detach_thread, links)) {
		free(links);
		ap_mmap_detach(ap);
		return;
	}
	ap->mmap_detaching = 1;
	memset(ap->mmap_links, 0, sizeof(ap->mmap_links));
}

static int mmap_tracing_attach(struct alloc_probes *ap)
{
	struct alloc_bpf *skel = ap->skel;
	/* Entries, then their exits in the same order. */
	struct bpf_program *syscall_progs[] = {
	    skel->progs.sys_enter_munmap, skel->progs.sys_enter_mremap, skel->progs.sys_enter_mmap,
	    skel->progs.sys_exit_munmap,  skel->progs.sys_exit_mremap,	skel->progs.sys_exit_mmap};
	struct bpf_program *btf_progs[] = {skel->progs.sys_enter, skel->progs.sys_exit,
					   skel->progs.sys_exit_unmap};
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
		ap_mmap_detach(ap);
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

/* Attach the mmap tracepoints when a target needs them; when none does any more, start the
 * grace period after which alloc_probes__mmap_tick detaches them. */
static int mmap_tracing_sync(struct alloc_probes *ap)
{
	int attached = ap->mmap_links[0] != NULL;

	if (ap->mmap_targets) {
		ap->mmap_idle_since = 0;
		if (!attached) {
			mmap_detach_wait(ap);
			return mmap_tracing_attach(ap);
		}
	} else if (attached && !ap->mmap_idle_since) {
		ap->mmap_idle_since = now_mono_ns();
	}
	return 0;
}

void alloc_probes__mmap_tick(struct alloc_probes *ap, __u64 grace_ns)
{
	pthread_mutex_lock(&ap->mu);
	if (!ap->mmap_targets && ap->mmap_links[0] && ap->mmap_idle_since &&
	    now_mono_ns() - ap->mmap_idle_since >= grace_ns) {
		mmap_detach_async(ap);
		ap->mmap_idle_since = 0;
		log_debug("mmap tracepoints detached: no target has needed them for %.0f s",
			  grace_ns / 1e9);
	}
	pthread_mutex_unlock(&ap->mu);
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
	__u32 val = (flags & TARGET_FLAGS_MASK) | (old & ~TARGET_FLAGS_MASK) |
		    (old & (TARGET_F_CFI | TARGET_F_ALLOC_OFF));

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

/* Replace the bits of mask in pid's value with bits, only while pid is a target: a process
 * that just left must not come back as one. 0 or -errno. */
static int update_target_bits(struct alloc_probes *ap, int pid, __u32 mask, __u32 bits)
{
	__u32 key = pid, val;
	int err = 0;

	pthread_mutex_lock(&ap->mu);
	val = (target_flags(ap, pid) & ~mask) | bits;
	if (bpf_map__update_elem(ap->skel->maps.targets, &key, sizeof(key), &val, sizeof(val),
				 BPF_EXIST))
		err = -errno;
	pthread_mutex_unlock(&ap->mu);
	return err;
}

int alloc_probes__set_duty(struct alloc_probes *ap, int pid, __u16 duty)
{
	return update_target_bits(ap, pid, ~TARGET_FLAGS_MASK, (__u32)duty << TARGET_DUTY_SHIFT);
}

/* pid leaves the targets map; the tracepoints go with the last target that needed them. */
void ap_remove_target(struct alloc_probes *ap, int pid)
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

void alloc_probes__set_alloc_gated(struct alloc_probes *ap, int on)
{
	__atomic_store_n(&ap->skel->bss->alloc_gated, on, __ATOMIC_RELEASE);
}

int alloc_probes__gate_alloc_side(struct alloc_probes *ap, int pid, int off)
{
	return update_target_bits(ap, pid, TARGET_F_ALLOC_OFF, off ? TARGET_F_ALLOC_OFF : 0);
}

int alloc_probes__set_target_flags(struct alloc_probes *ap, int pid, __u32 flags)
{
	int err;

	pthread_mutex_lock(&ap->mu);
	err = add_target(ap, pid, target_flags(ap, pid) | flags);
	pthread_mutex_unlock(&ap->mu);
	return err;
}
