/* SPDX-License-Identifier: MIT */
/* What a push says and under which series: the service name (config rule, Kubernetes pod
 * owner, container, executable), the series labels, and each interval's entries with the
 * interval's allocations and the in-use at its end. Pure: no I/O but reading /proc/PID. */
#ifndef ALLOCSCOPE_PUSH_SERIES_H
#define ALLOCSCOPE_PUSH_SERIES_H

#include <stddef.h>

#include "probe/collect.h"

/* Where a process's identity comes from: its cgroup, its environment, the config file. */
struct push_identity {
	const char *rule;	  /* the config file's service_name for it; NULL or "": none */
	const char *exe;	  /* executable path */
	const char *pod_uid;	  /* from the cgroup path; "" outside Kubernetes */
	const char *pod_name;	  /* POD_NAME, else HOSTNAME when pod_uid is known; or "" */
	const char *namespace;	  /* POD_NAMESPACE; or "" */
	const char *container;	  /* CONTAINER_NAME; or "" */
	const char *container_id; /* from the cgroup path; or "" */
};

enum push_service_source {
	PUSH_SERVICE_RULE,
	PUSH_SERVICE_POD_OWNER,
	PUSH_SERVICE_CONTAINER,
	PUSH_SERVICE_EXECUTABLE,
};

/* The service_name into buf, in the order: config rule, "namespace/owner" of the Kubernetes pod
 * (owner: the pod name without the ReplicaSet hash and pod suffix), the container's name, the
 * executable's base name. Names from the environment count only inside a pod or container (the
 * cgroup path shows one): a host's processes inherit whatever their shell exported. Returns
 * where it came from. */
enum push_service_source push_series__service(const struct push_identity *id, char *buf,
					      size_t len);

/* The workload that owns a pod, from the pod's name: "web-7d9f8c6b5-x2k4q" (Deployment) ->
 * "web", "agent-x2k4q" (DaemonSet, Job) -> "agent", "report-29012345-x2k4q" (CronJob) ->
 * "report", "db-0" (StatefulSet) -> "db"; a name that looks like none of them stays as it is. */
void push_series__pod_owner(const char *pod, char *buf, size_t len);

/* The environment variables a Kubernetes pod (or a container runtime) names a process with,
 * read from /proc/PID/environ below proc_root (NULL: "/proc"), each "" when absent. */
struct push_env {
	char pod_name[128];
	char namespace[128];
	char container[128];
	char hostname[128];
};
int push_series__read_env(const char *proc_root, int pid, struct push_env *out);
/* The same from an environ block (NUL-separated NAME=value strings) of len bytes. */
void push_series__parse_env(const char *buf, size_t len, struct push_env *out);

/* The name a container engine gave container_id (64 hex digits), into buf: podman's
 * storage/overlay-containers/containers.json ("names"), else docker's
 * containers/<id>/config.v2.json ("Name"), below root (NULL: "/"). 0, or -ENOENT when neither
 * knows it. Files of the host's engines, not of the container. */
int push_series__container_name(const char *root, const char *container_id, char *buf, size_t len);

struct push_label {
	const char *name;
	const char *value; /* NULL or "": left out */
};

/* "service{name=value,...}", as Pyroscope's /ingest reads its name parameter, malloc'ed;
 * characters of its syntax in values become '_'. NULL and errno on failure. */
char *push_series__name(const char *service, const struct push_label *labels, size_t cnt);

/*
 * An interval's entries for a push, appended to out: the allocations of delta (the interval's)
 * and the in-use of cur (cumulative at its end, so absolute), by key; both sorted by key. An
 * entry's in-use is alloc - free - untracked: it is set through free_cnt/free_bytes (modulo
 * 2^64), so that heap_profile reads the absolute value. Keys with neither an allocation in the
 * interval nor anything in use are left out. 0 or -ENOMEM.
 */
int push_series__interval(const struct entry_set *delta, const struct entry_set *cur,
			  struct entry_set *out);

#endif
