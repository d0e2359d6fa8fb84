// SPDX-License-Identifier: MIT
/* Series identity and interval values for --push, kept apart from the sending so that both can
 * be tested on fixtures: Pyroscope makes a series of every distinct label set it is sent. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "service/push_series.h"
#include "util/common.h"

static int set(const char *v)
{
	return v && *v;
}

static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

/* Kubernetes' generated suffixes use consonants and digits only (no vowels, no 0/1/3). */
static int generated(const char *s, size_t n, size_t min, size_t max)
{
	if (n < min || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!strchr("bcdfghjklmnpqrstvwxz2456789", s[i]))
			return 0;
	return 1;
}

static int digits(const char *s, size_t n)
{
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

void push_series__pod_owner(const char *pod, char *buf, size_t len)
{
	size_t n = strlen(pod);
	const char *last = memrchr(pod, '-', n), *prev;

	snprintf(buf, len, "%s", pod);
	if (!last || last == pod)
		return;
	/* StatefulSet: "<name>-<ordinal>". */
	if (digits(last + 1, pod + n - last - 1)) {
		snprintf(buf, len, "%.*s", (int)(last - pod), pod);
		return;
	}
	/* DaemonSet, Job, ReplicaSet pods: "<owner>-<5 generated characters>". */
	if (!generated(last + 1, pod + n - last - 1, 5, 5))
		return;
	prev = memrchr(pod, '-', last - pod);
	/* Deployment: "<deployment>-<pod-template-hash>-<5>", the hash 6 to 10 characters;
	 * CronJob: "<cronjob>-<scheduled minute since the epoch>-<5>". */
	if (prev && prev != pod &&
	    (generated(prev + 1, last - prev - 1, 6, 10) ||
	     (last - prev - 1 >= 8 && digits(prev + 1, last - prev - 1))))
		last = prev;
	snprintf(buf, len, "%.*s", (int)(last - pod), pod);
}

enum push_service_source push_series__service(const struct push_identity *id, char *buf, size_t len)
{
	char owner[128];

	if (set(id->rule)) {
		snprintf(buf, len, "%s", id->rule);
		return PUSH_SERVICE_RULE;
	}
	if (set(id->pod_uid) && set(id->pod_name)) {
		push_series__pod_owner(id->pod_name, owner, sizeof(owner));
		if (set(id->namespace))
			snprintf(buf, len, "%s/%s", id->namespace, owner);
		else
			snprintf(buf, len, "%s", owner);
		return PUSH_SERVICE_POD_OWNER;
	}
	if (set(id->container) && set(id->container_id)) {
		snprintf(buf, len, "%s", id->container);
		return PUSH_SERVICE_CONTAINER;
	}
	snprintf(buf, len, "%s", set(id->exe) ? base_name(id->exe) : "unknown");
	return PUSH_SERVICE_EXECUTABLE;
}

void push_series__parse_env(const char *buf, size_t len, struct push_env *out)
{
	static const struct {
		const char *name;
		size_t off;
	} vars[] = {
	    {"POD_NAME=", offsetof(struct push_env, pod_name)},
	    {"POD_NAMESPACE=", offsetof(struct push_env, namespace)},
	    {"CONTAINER_NAME=", offsetof(struct push_env, container)},
	    {"HOSTNAME=", offsetof(struct push_env, hostname)},
	};
	const char *p = buf, *end = buf + len;

	*out = (struct push_env){};
	while (p < end) {
		const char *z = memchr(p, '\0', end - p);
		size_t n = z ? (size_t)(z - p) : (size_t)(end - p);

		for (size_t i = 0; i < ARRAY_SIZE(vars); i++) {
			size_t k = strlen(vars[i].name);

			if (n > k && !memcmp(p, vars[i].name, k))
				snprintf((char *)out + vars[i].off, sizeof(out->pod_name), "%.*s",
					 (int)(n - k), p + k);
		}
		p += n + 1;
	}
}

int push_series__read_env(const char *proc_root, int pid, struct push_env *out)
{
	/* The environment a process started with is a few KiB; what does not fit is not read. */
	char path[64], *buf = NULL;
	ssize_t n, got = 0;
	size_t cap = 64 * 1024;
	int fd, err = 0;

	*out = (struct push_env){};
	snprintf(path, sizeof(path), "%s/%d/environ", proc_root ?: "/proc", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	buf = malloc(cap);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	while ((size_t)got < cap && (n = read(fd, buf + got, cap - got)) > 0)
		got += n;
	push_series__parse_env(buf, got, out);
cleanup:
	free(buf);
	close(fd);
	return err;
}

#define PODMAN_CONTAINERS "/var/lib/containers/storage/overlay-containers/containers.json"
#define DOCKER_CONTAINERS "/var/lib/docker/containers"

static int podman_name(const char *root, const char *id, char *buf, size_t len)
{
	struct json_object *all, *c, *v;
	char path[512];
	int err = -ENOENT;

	snprintf(path, sizeof(path), "%s%s", root, PODMAN_CONTAINERS);
	if (access(path, R_OK))
		return -ENOENT;
	all = json_object_from_file(path);
	if (!all || !json_object_is_type(all, json_type_array))
		goto cleanup;
	for (size_t i = 0; i < json_object_array_length(all); i++) {
		c = json_object_array_get_idx(all, i);
		if (!json_object_object_get_ex(c, "id", &v) ||
		    strcmp(json_object_get_string(v) ?: "", id))
			continue;
		if (json_object_object_get_ex(c, "names", &v) &&
		    json_object_is_type(v, json_type_array) && json_object_array_length(v) &&
		    *(json_object_get_string(json_object_array_get_idx(v, 0)) ?: "")) {
			snprintf(buf, len, "%s",
				 json_object_get_string(json_object_array_get_idx(v, 0)));
			err = 0;
		}
		break;
	}
cleanup:
	json_object_put(all);
	return err;
}

static int docker_name(const char *root, const char *id, char *buf, size_t len)
{
	struct json_object *cfg, *v;
	const char *name;
	char path[512];
	int err = -ENOENT;

	snprintf(path, sizeof(path), "%s%s/%s/config.v2.json", root, DOCKER_CONTAINERS, id);
	if (access(path, R_OK))
		return -ENOENT;
	cfg = json_object_from_file(path);
	if (cfg && json_object_object_get_ex(cfg, "Name", &v) &&
	    json_object_is_type(v, json_type_string)) {
		name = json_object_get_string(v);
		name += *name == '/';
		if (*name) {
			snprintf(buf, len, "%s", name);
			err = 0;
		}
	}
	json_object_put(cfg);
	return err;
}

int push_series__container_name(const char *root, const char *container_id, char *buf, size_t len)
{
	size_t n = strlen(container_id);

	/* Only an ID as the cgroup parser gives it goes into a path. */
	if (n != 64 || strspn(container_id, "0123456789abcdef") != n)
		return -EINVAL;
	root = root ?: "";
	return podman_name(root, container_id, buf, len) == 0
		   ? 0
		   : docker_name(root, container_id, buf, len);
}

char *push_series__name(const char *service, const struct push_label *labels, size_t cnt)
{
	char *name = NULL;
	size_t name_len = 0;
	int first = 1;
	FILE *f;

	f = open_memstream(&name, &name_len);
	if (!f)
		return NULL;
	for (const char *v = service; *v; v++)
		fputc(strchr("{}=,\"\\", *v) ? '_' : *v, f);
	fputc('{', f);
	for (size_t i = 0; i < cnt; i++) {
		if (!set(labels[i].value))
			continue;
		fprintf(f, "%s%s=", first ? "" : ",", labels[i].name);
		for (const char *v = labels[i].value; *v; v++)
			fputc(strchr("{}=,\"\\", *v) ? '_' : *v, f);
		first = 0;
	}
	fputc('}', f);
	if (fclose(f)) {
		free(name);
		return NULL;
	}
	return name;
}

static int key_cmp(const struct alloc_entry *a, const struct alloc_entry *b)
{
	return memcmp(&a->key, &b->key, sizeof(a->key));
}

/* One entry of the interval: what a allocated (NULL: nothing), what c holds (NULL: nothing). */
static int add_interval(struct entry_set *out, const struct alloc_entry *a,
			const struct alloc_entry *c)
{
	struct alloc_entry e = *(a ?: c);
	__u64 live_cnt = 0, live_bytes = 0;

	if (c) {
		live_cnt = c->stats.alloc_cnt - c->stats.free_cnt - c->stats.untracked_cnt;
		live_bytes = c->stats.alloc_bytes - c->stats.free_bytes - c->stats.untracked_bytes;
		/* Read while the BPF side counts: a free may be seen before its allocation. */
		if ((__s64)live_cnt < 0 || (__s64)live_bytes < 0)
			live_cnt = live_bytes = 0;
	}
	e.stats.alloc_cnt = a ? a->stats.alloc_cnt : 0;
	e.stats.alloc_bytes = a ? a->stats.alloc_bytes : 0;
	if (!e.stats.alloc_cnt && !live_cnt)
		return 0;
	e.stats.free_cnt = e.stats.alloc_cnt - live_cnt;
	e.stats.free_bytes = e.stats.alloc_bytes - live_bytes;
	e.stats.untracked_cnt = e.stats.untracked_bytes = 0;
	/* The stack of whichever is newer: the same key has the same stack. */
	if (c)
		e.stack = c->stack;
	return entry_set__add(out, &e);
}

int push_series__interval(const struct entry_set *delta, const struct entry_set *cur,
			  struct entry_set *out)
{
	size_t i = 0, j = 0;
	int err = 0;

	while (!err && (i < delta->cnt || j < cur->cnt)) {
		const struct alloc_entry *a = i < delta->cnt ? &delta->e[i] : NULL;
		const struct alloc_entry *c = j < cur->cnt ? &cur->e[j] : NULL;
		int cmp = !a ? 1 : !c ? -1 : key_cmp(a, c);

		/* A key only in delta was released from cur: nothing of it is in use now. */
		err = add_interval(out, cmp <= 0 ? a : NULL, cmp >= 0 ? c : NULL);
		i += cmp <= 0;
		j += cmp >= 0;
	}
	return err;
}
