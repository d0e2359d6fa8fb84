// SPDX-License-Identifier: GPL-2.0
/*
 * The OOM killer's choice of a victim: oom/mark_victim fires in __oom_kill_process() after the
 * victim is marked and before SIGKILL is sent, so the daemon hears of it while the victim's
 * sampled live heap is still in the kernel maps. Every victim is sent (OOM kills are rare); the
 * daemon keeps to its targets.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "oom.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} oom_events SEC(".maps");

SEC("tp_btf/mark_victim")
int BPF_PROG(mark_victim, struct task_struct *task)
{
	struct mm_struct *mm = task->mm;
	struct oom_event *e;

	e = bpf_ringbuf_reserve(&oom_events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->tgid = task->tgid;
	e->pid = task->pid;
	e->time_ns = bpf_ktime_get_ns();
	/* A BTF pointer: read directly. rss_stat is an array of percpu counters since 6.2; their
	 * approximate count is enough for the record. */
	if (mm) {
		e->total_vm_pages = mm->total_vm;
		e->rss_pages = mm->rss_stat[MM_FILEPAGES].count + mm->rss_stat[MM_ANONPAGES].count +
			       mm->rss_stat[MM_SHMEMPAGES].count;
	} else {
		e->total_vm_pages = e->rss_pages = 0;
	}
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), task->comm);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
