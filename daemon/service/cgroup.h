/* SPDX-License-Identifier: MIT */
/* A process's cgroup, and the container ID and Kubernetes pod UID its path shows. */
#ifndef ALLOCSCOPE_CGROUP_H
#define ALLOCSCOPE_CGROUP_H

#include <stddef.h>

struct cgroup_info {
	char path[256];	       /* the unified (v2) path, or the first v1 path */
	char container_id[80]; /* 64 hex digits from docker, containerd, cri-o paths; or "" */
	char pod_uid[48];      /* from "pod<uid>" path components; or "" */
};

/* Parse the text of /proc/PID/cgroup. 0, or -EINVAL when no line parses. */
int cgroup__parse(const char *text, struct cgroup_info *out);
/* Read and parse /proc/PID/cgroup below proc_root (NULL: "/proc"). 0 or -errno. */
int cgroup__read(const char *proc_root, int pid, struct cgroup_info *out);

#endif
