/* SPDX-License-Identifier: MIT */
/* Which processes allocscoped watches: the selectors (--pid, --exe, --comm, --cgroup, --all-go)
 * matched against a process's entries below a /proc root that tests point at a fixture tree. */
#ifndef ALLOCSCOPE_SELECT_H
#define ALLOCSCOPE_SELECT_H

#include <stdbool.h>
#include <stddef.h>

enum selector_kind {
	SELECT_PID,
	SELECT_EXE,    /* executable path, fnmatch glob */
	SELECT_COMM,   /* exact /proc/PID/comm */
	SELECT_CGROUP, /* cgroup path prefix, whole components */
	SELECT_ALL_GO, /* every Go program */
};

struct selector {
	enum selector_kind kind;
	int pid;
	char value[256];
	int from_config; /* replaced when the config file is reloaded */
};

/* /proc/PID/comm without its newline, and the target of /proc/PID/exe, below proc_root (NULL:
 * "/proc"). 0 or -errno. */
int proc__read_comm(const char *proc_root, int pid, char *buf, size_t len);
int proc__read_exe(const char *proc_root, int pid, char *buf, size_t len);

struct proc_select_opts {
	const char *proc_root; /* NULL: "/proc" */
	int self_pid;	       /* never selected: the daemon does not watch itself */
	/* cgroup__ns_root(): where cgroup paths seen from here are rooted; NULL: the host's */
	const char *cgroup_ns_root;
};

/* The selection state: the options, and which executables are Go programs (one parse per device
 * and inode, for --all-go). */
struct proc_select;

struct proc_select *proc_select__new(const struct proc_select_opts *opts);
void proc_select__free(struct proc_select *ps);

/* Whether one of sels matches pid. Reads only what the selectors need, in their order, and an
 * unreadable entry matches nothing. */
bool proc_select__match(struct proc_select *ps, const struct selector *sels, size_t cnt, int pid);

/* Call fn for every process below the root that one of sels matches. 0, or -errno with the
 * root unreadable (logged). */
int proc_select__scan(struct proc_select *ps, const struct selector *sels, size_t cnt,
		      void (*fn)(void *ctx, int pid), void *ctx);

/* Executables whose Go-ness is remembered now (at most 4096, the oldest forgotten first). */
size_t proc_select__go_cache_size(const struct proc_select *ps);
/* Whether pid runs a Go executable (remembered per executable, as --all-go does). */
bool proc_select__is_go(struct proc_select *ps, int pid);

#endif
