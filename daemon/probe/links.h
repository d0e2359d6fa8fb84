/* SPDX-License-Identifier: MIT */
/* The links that hold allocscope's uprobes in place: uprobe_multi links (kernel 6.6+, one per
 * program and object, made with the kernel's ABI where libbpf and the headers predate it) or
 * libbpf's perf-event uprobes, and a pool of threads that closes them, since each close waits
 * for the kernel. */
#ifndef ALLOCSCOPE_LINKS_H
#define ALLOCSCOPE_LINKS_H

#include <stddef.h>
#include <linux/types.h>

struct bpf_link;

/* BPF_TRACE_UPROBE_MULTI, the attach type of uprobe_multi programs and links: Debian 12's
 * headers (6.1) predate it; the value is the kernel's ABI (include/uapi/linux/bpf.h). */
#define ATTACH_UPROBE_MULTI 48
/* BPF_TRACE_UPROBE_SESSION (kernel 6.13+): one program at a call's entry and return, whose entry
 * run returning non-zero skips the return probe. Also the kernel's ABI, newer than the headers. */
#define ATTACH_UPROBE_SESSION 57

/* What a uprobe_multi link attaches at each site. */
enum probe_at {
	PROBE_AT_ENTRY,
	PROBE_AT_RETURN,
	PROBE_AT_SESSION, /* both ends, one program (ATTACH_UPROBE_SESSION) */
};

/* The probes of one attachment: a libbpf link (a perf-event uprobe, one probe), or the fd of a
 * uprobe_multi link (every probe of one program in one object). */
struct probe_link {
	int pid;
	int fd; /* uprobe_multi link, or -1 */
	__u32 probes;
	__u64 dev;
	__u64 ino;
	struct bpf_link *link;
};

void probe_link__close(const struct probe_link *l);

/* A uprobe_multi link of prog_fd at cnt file offsets of path (at: entries, returns, or a session
 * with a program loaded for ATTACH_UPROBE_SESSION), breakpoints in pid's address space only: its
 * fd, or -errno. */
int uprobe_multi__link(int prog_fd, const char *path, const unsigned long *offsets,
		       const __u64 *cookies, __u32 cnt, enum probe_at at, int pid);
/* Whether this kernel has uprobe_multi links (and ALLOCSCOPE_UPROBE_MULTI is not 0). */
int uprobe_multi__supported(void);
/* Whether this kernel has uprobe sessions (uprobe_multi links of ATTACH_UPROBE_SESSION), and
 * ALLOCSCOPE_UPROBE_SESSION is not 0. */
int uprobe_session__supported(void);

/* Closes links on up to 16 threads (DESTROY_THREADS); NULL when it cannot be had, and then every
 * function below closes in the caller. */
struct link_reaper *link_reaper__new(void);
/* Queue links to be closed; closes them here if they cannot be queued. */
void link_reaper__add(struct link_reaper *r, const struct probe_link *links, size_t n);
/* Wait until every queued link is closed. */
void link_reaper__wait(struct link_reaper *r);
/* Wait until every queued link is closed, and stop the threads. Accepts NULL. */
void link_reaper__free(struct link_reaper *r);

#endif
