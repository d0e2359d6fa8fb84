/* SPDX-License-Identifier: MIT */
/* The links that hold allocscope's uprobes in place: uprobe_multi links (kernel 6.6+, one per
 * program and object, made with the kernel's ABI where libbpf and the headers predate it) or
 * libbpf's perf-event uprobes, and a pool of threads that closes them, since each close waits
 * for the kernel. */
#ifndef ALLOCSCOPE_LINKS_H
#define ALLOCSCOPE_LINKS_H

#include <pthread.h>
#include <stddef.h>
#include <linux/types.h>

struct bpf_link;
struct link_reaper;

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
	int fd; /* uprobe_multi link, or -1 (also while a duty cycle has it detached) */
	__u32 probes;
	__u64 dev;
	__u64 ino;
	struct bpf_link *link;
	/* The allocation side's uprobe_multi links: what attaches them again after the overhead
	 * budget detached them (owned by the list of links, not by copies handed to the reaper). */
	struct link_spec *spec;
};

void probe_link__close(const struct probe_link *l);

/* A uprobe_multi link of prog_fd at cnt file offsets of path (at: entries, returns, or a session
 * with a program loaded for ATTACH_UPROBE_SESSION), breakpoints in pid's address space only: its
 * fd, or -errno. */
int uprobe_multi__link(int prog_fd, const char *path, const unsigned long *offsets,
		       const __u64 *cookies, __u32 cnt, enum probe_at at, int pid);
/* One USDT probe as a uprobe_multi link: with ref_ctr_offset (!= 0), the file offset of its
 * semaphore, which the kernel counts up while the link holds the probe. Its fd, or -errno. */
int uprobe_multi__link_usdt(int prog_fd, const char *path, unsigned long offset, __u64 cookie,
			    unsigned long ref_ctr_offset, int pid);
/* Whether this kernel has uprobe_multi links (and ALLOCSCOPE_UPROBE_MULTI is not 0). */
int uprobe_multi__supported(void);
/* Whether this kernel has uprobe sessions (uprobe_multi links of ATTACH_UPROBE_SESSION), and
 * ALLOCSCOPE_UPROBE_SESSION is not 0. */
int uprobe_session__supported(void);

/*
 * A uprobe_multi link that can be made again: the program, the file (kept open, so that the
 * same file is probed again even if its path now names another), offsets and cookies. NULL and
 * errno on failure.
 */
struct link_spec *link_spec__new(int prog_fd, int file_fd, const unsigned long *offsets,
				 const __u64 *cookies, __u32 cnt, enum probe_at at);
/* Attach it again for pid: the new link's fd, or -errno. */
int link_spec__attach(const struct link_spec *s, int pid);
/* Whether it holds return probes. */
int link_spec__retprobe(const struct link_spec *s);
void link_spec__free(struct link_spec *s);

/*
 * The links of every watched process, shared by the thread that attaches and detaches processes
 * and the overhead budget's thread, which detaches and attaches the allocation side of some
 * (link_list__set_side); a mutex guards it.
 */
struct link_list {
	pthread_mutex_t mu;
	struct probe_link *links;
	size_t cnt, cap;
};

void link_list__init(struct link_list *l);
/* Queue every link to r (closed there) and free the rest. */
void link_list__fini(struct link_list *l, struct link_reaper *r);
/* Takes pl->spec on success; 0 or -ENOMEM. */
int link_list__add(struct link_list *l, const struct probe_link *pl);
int link_list__has_object(struct link_list *l, int pid, __u64 dev, __u64 ino);
/* Whether pid has links in l. */
int link_list__has_pid(struct link_list *l, int pid);
/* Remove pid's links into *out (malloc'ed; their specs freed): how many, to be closed by the
 * caller. */
size_t link_list__take_pid(struct link_list *l, int pid, struct probe_link **out);
/* Probes attached now. */
size_t link_list__probe_count(struct link_list *l);
/* Detach (on = 0) or attach again pid's links with a spec: the number changed or -errno. */
int link_list__set_side(struct link_list *l, int pid, int on);
/* The processes with links that have a spec, up to max. */
size_t link_list__cyclable_pids(struct link_list *l, int *pids, size_t max);

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
