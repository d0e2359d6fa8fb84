/* SPDX-License-Identifier: MIT */
/* Shared between bpf/oom.bpf.c and daemon/probe/oom_watch.c: the event the OOM killer's choice of
 * a victim sends, so that the daemon reads the victim's heap before it is gone. */
#ifndef ALLOCSCOPE_OOM_H
#define ALLOCSCOPE_OOM_H

/* The BPF side gets the fixed-width types from vmlinux.h. */
#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

struct oom_event {
	__u32 tgid;
	__u32 pid;
	__u64 time_ns; /* CLOCK_MONOTONIC, when the victim was marked */
	__u64 total_vm_pages;
	__u64 rss_pages; /* file + anon + shmem, as the kernel's OOM report adds them */
	char comm[16];
};

#endif
