/* SPDX-License-Identifier: MIT */
/* A process's cgroup, and the container ID and Kubernetes pod UID its path shows, in every
 * layout in use (cgroup v1 and v2, systemd and cgroupfs drivers, docker, containerd, CRI-O,
 * podman), with paths made absolute when the daemon runs in a cgroup namespace of its own. */
#ifndef ALLOCSCOPE_CGROUP_H
#define ALLOCSCOPE_CGROUP_H

#include <stdbool.h>
#include <stddef.h>

#define CGROUP_PATH_MAX 256

struct cgroup_info {
	char path[CGROUP_PATH_MAX]; /* absolute: the unified (v2) path, or the first v1 path */
	char container_id[80];	    /* 64 hex digits of the container's runtime ID; or "" */
	char pod_uid[48];	    /* from "pod<uid>" path components, with dashes; or "" */
};

/* Parse the text of /proc/PID/cgroup. ns_root is where the reader's cgroup namespace sits in
 * the host's hierarchy (cgroup__ns_root; NULL or "" for the host's own namespace): the paths a
 * namespaced reader sees ("/../libpod-<id>") are joined to it and made absolute; with no
 * ns_root, the ".." that climb above the namespace are dropped. 0, or -EINVAL when no line
 * parses. */
int cgroup__parse(const char *text, const char *ns_root, struct cgroup_info *out);
/* Read and parse /proc/PID/cgroup below proc_root (NULL: "/proc"). 0 or -errno. */
int cgroup__read(const char *proc_root, const char *ns_root, int pid, struct cgroup_info *out);

/* Whether path is prefix or below it, by whole components: "/kubepods/pod1" holds
 * "/kubepods/pod1/x" but not "/kubepods/pod12". A trailing '/' on prefix is ignored; "/" holds
 * everything. */
bool cgroup__path_under(const char *path, const char *prefix);

/* Where this process's cgroup namespace root sits in the host's hierarchy, into root (len
 * bytes): "" in the host's namespace. Inside a namespace of its own (a container's default on
 * cgroup v2, podman --cgroupns=private), /proc/1/cgroup (the host's init, with --pid=host)
 * says how many levels the root lies below the host's, and the directory at that depth of the
 * host's hierarchy, mounted below sys_cgroup (NULL: "/sys/fs/cgroup", as the DaemonSet mounts
 * it), whose cgroup.procs lists self_pid, names it. 0; -ENOENT when the root cannot be found
 * (root is then "" and paths stay relative, see cgroup__parse). */
int cgroup__ns_root(const char *proc_root, const char *sys_cgroup, int self_pid, char *root,
		    size_t len);

#endif
