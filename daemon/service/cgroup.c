// SPDX-License-Identifier: MIT
/* /proc/PID/cgroup: the path, and the container ID and pod UID that container runtimes and the
 * kubelet put into it. The layouts, from the runtimes' own code and documentation:
 *   docker, cgroupfs driver:      /docker/<id>
 *   docker, systemd driver:       /system.slice/docker-<id>.scope
 *   podman, cgroupfs (v1 here):   /libpod_parent/libpod-<id>; conmon in libpod-conmon-<id>
 *   podman, systemd:              /machine.slice/libpod-<id>.scope
 *   containerd (CRI), cgroupfs:   /kubepods/burstable/pod<uid>/<id>
 *   containerd (CRI), systemd:    /kubepods.slice/kubepods-burstable.slice/
 *                                 kubepods-burstable-pod<uid with
 * '_'>.slice/cri-containerd-<id>.scope CRI-O, systemd and cgroupfs:  .../crio-<id>.scope,
 * .../crio-<id>; conmon in crio-conmon-<id> (kubelet pkg/kubelet/cm/cgroup_manager_linux.go, runc
 * libcontainer/cgroups/systemd, podman docs "--cgroup-manager", cri-o internal/config/cgmgr). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "service/cgroup.h"
#include "util/log.h"

/* At most this many directories are read looking for the namespace's root. */
#define NS_ROOT_MAX_DIRS 100000

/* The 64-hex-digit ID in one path component, skipping the conmon monitors that podman and
 * CRI-O put beside a container (libpod-conmon-<id>, crio-conmon-<id>): they are not it. */
static bool component_container_id(const char *c, size_t n, char *out, size_t len)
{
	if (len <= 64 || memmem(c, n, "conmon", 6))
		return false;
	for (size_t i = 0; i + 64 <= n; i++) {
		size_t k = 0;

		if (i && isxdigit((unsigned char)c[i - 1]))
			continue;
		while (i + k < n && isxdigit((unsigned char)c[i + k]))
			k++;
		if (k == 64) {
			memcpy(out, c + i, 64);
			out[64] = '\0';
			return true;
		}
		i += k;
	}
	return false;
}

/* A UID as the kubelet writes it: 8-4-4-4-12 hex digits, '-' or (systemd slices) '_'. */
static bool component_pod_uid(const char *c, size_t n, char *out, size_t len)
{
	for (const char *p = c; (p = memmem(p, n - (p - c), "pod", 3)); p++) {
		const char *u = p + 3;
		size_t i;

		if (n - (u - c) < 36 || len <= 36)
			continue;
		for (i = 0; i < 36; i++) {
			bool dash = i == 8 || i == 13 || i == 18 || i == 23;

			if (dash ? (u[i] != '-' && u[i] != '_') : !isxdigit((unsigned char)u[i]))
				break;
		}
		if (i < 36 || (n - (u - c) > 36 && isxdigit((unsigned char)u[36])))
			continue;
		for (i = 0; i < 36; i++)
			out[i] = u[i] == '_' ? '-' : u[i];
		out[36] = '\0';
		return true;
	}
	return false;
}

/* The innermost container ID and pod UID along a path. */
static void find_ids(const char *path, struct cgroup_info *out)
{
	const char *c = path;

	while (*c) {
		size_t n;

		while (*c == '/')
			c++;
		n = strcspn(c, "/");
		if (!n)
			break;
		component_container_id(c, n, out->container_id, sizeof(out->container_id));
		component_pod_uid(c, n, out->pod_uid, sizeof(out->pod_uid));
		c += n;
	}
}

/* ns_root joined with rel, "." and ".." resolved; ".." above the top is dropped. */
static void absolute_path(const char *ns_root, const char *rel, char *out, size_t len)
{
	char buf[2 * CGROUP_PATH_MAX + 2];
	size_t o = 0;
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s/%s", ns_root ?: "", rel);
	out[0] = '\0';
	for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		size_t n = strlen(c);

		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			while (o && out[o - 1] != '/')
				o--;
			if (o)
				o--;
			out[o] = '\0';
			continue;
		}
		if (o + 1 + n + 1 > len)
			break; /* too long: keep what fits, whole components only */
		out[o++] = '/';
		memcpy(out + o, c, n);
		o += n;
		out[o] = '\0';
	}
	if (!o)
		snprintf(out, len, "/");
}

/* One line "ID:controllers:path": the path, and whether it is the unified hierarchy's. */
static bool parse_line(const char *line, size_t n, const char **path, size_t *plen, bool *unified)
{
	const char *c1 = memchr(line, ':', n), *c2;

	if (!c1 || !(c2 = memchr(c1 + 1, ':', n - (c1 + 1 - line))))
		return false;
	*path = c2 + 1;
	*plen = n - (c2 + 1 - line);
	*unified = c1 == line + 1 && line[0] == '0' && c2 == c1 + 1;
	return *plen > 0 && **path == '/';
}

int cgroup__parse(const char *text, const char *ns_root, struct cgroup_info *out)
{
	char raw[CGROUP_PATH_MAX] = "";
	const char *line = text;
	bool found = false;

	memset(out, 0, sizeof(*out));
	while (line && *line) {
		const char *end = strchr(line, '\n'), *p;
		size_t n = end ? (size_t)(end - line) : strlen(line), plen;
		bool unified;

		if (parse_line(line, n, &p, &plen, &unified) && plen < sizeof(raw)) {
			char abs[CGROUP_PATH_MAX];
			struct cgroup_info ids = {};

			memcpy(raw, p, plen);
			raw[plen] = '\0';
			absolute_path(ns_root, raw, abs, sizeof(abs));
			/* The unified hierarchy ("0::/path") names the cgroup; on a hybrid host
			 * whose runtime uses v1 controllers the IDs may show only in the v1 lines.
			 */
			if (!found || unified)
				snprintf(out->path, sizeof(out->path), "%s", abs);
			find_ids(abs, &ids);
			if (ids.container_id[0] && (!out->container_id[0] || unified))
				memcpy(out->container_id, ids.container_id,
				       sizeof(ids.container_id));
			if (ids.pod_uid[0] && (!out->pod_uid[0] || unified))
				memcpy(out->pod_uid, ids.pod_uid, sizeof(ids.pod_uid));
			found = true;
		}
		line = end ? end + 1 : NULL;
	}
	return found ? 0 : -EINVAL;
}

static int read_text(const char *path, char *text, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	n = fread(text, 1, len - 1, f);
	fclose(f);
	text[n] = '\0';
	return 0;
}

int cgroup__read(const char *proc_root, const char *ns_root, int pid, struct cgroup_info *out)
{
	char path[128], text[4096];
	int err;

	snprintf(path, sizeof(path), "%s/%d/cgroup", proc_root ?: "/proc", pid);
	err = read_text(path, text, sizeof(text));
	if (err)
		return err;
	return cgroup__parse(text, ns_root, out);
}

bool cgroup__path_under(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	while (n && prefix[n - 1] == '/')
		n--;
	if (!n)
		return true;
	return !strncmp(path, prefix, n) && (path[n] == '\0' || path[n] == '/');
}

/* The first hierarchy line of /proc/PID/cgroup that names a path, as cgroup__parse picks it
 * (the unified one first), raw: hier is "" for the unified hierarchy, else its controllers. */
static int raw_path(const char *proc_root, const char *pid, char *hier, size_t hlen, char *out,
		    size_t len)
{
	char path[128], text[4096];
	const char *line = text;
	bool found = false;
	int err;

	snprintf(path, sizeof(path), "%s/%s/cgroup", proc_root ?: "/proc", pid);
	err = read_text(path, text, sizeof(text));
	if (err)
		return err;
	while (line && *line) {
		const char *end = strchr(line, '\n'), *p;
		size_t n = end ? (size_t)(end - line) : strlen(line), plen;
		bool unified;

		if (parse_line(line, n, &p, &plen, &unified) && plen < len && (!found || unified)) {
			const char *c1 = strchr(line, ':');

			memcpy(out, p, plen);
			out[plen] = '\0';
			snprintf(hier, hlen, "%.*s", unified ? 0 : (int)(p - 1 - (c1 + 1)), c1 + 1);
			found = true;
			if (unified)
				break;
		}
		line = end ? end + 1 : NULL;
	}
	return found ? 0 : -EINVAL;
}

static int path_depth(const char *p)
{
	int d = 0;

	for (char prev = '/'; *p; prev = *p++)
		if (*p != '/' && prev == '/')
			d++;
	return d;
}

static bool procs_has(const char *dir, int pid)
{
	char path[PATH_MAX], line[32];
	bool has = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!has && fgets(line, sizeof(line), f))
		has = atoi(line) == pid;
	fclose(f);
	return has;
}

/* Depth-first over the directories of dir, down to depth levels; the first at that depth whose
 * cgroup.procs lists pid goes into found. */
static bool find_pid_dir(char *dir, size_t len, int depth, int pid, int *budget)
{
	size_t dl = strlen(dir);
	struct dirent *de;
	bool ok = false;
	DIR *d;

	if (!depth)
		return procs_has(dir, pid);
	d = opendir(dir);
	if (!d)
		return false;
	while (!ok && (de = readdir(d)) && --*budget > 0) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (dl + 1 + strlen(de->d_name) + 1 > len)
			continue;
		snprintf(dir + dl, len - dl, "/%s", de->d_name);
		ok = find_pid_dir(dir, len, depth - 1, pid, budget);
		if (!ok)
			dir[dl] = '\0';
	}
	closedir(d);
	return ok;
}

int cgroup__ns_root(const char *proc_root, const char *sys_cgroup, int self_pid, char *root,
		    size_t len)
{
	char init[CGROUP_PATH_MAX], self[CGROUP_PATH_MAX], hier[128], shier[128];
	char dir[PATH_MAX], pidstr[16];
	const char *base = sys_cgroup ?: "/sys/fs/cgroup", *c;
	int up = 0, budget = NS_ROOT_MAX_DIRS;
	size_t bl, own;

	root[0] = '\0';
	/* The host's init sits at or just below the host's root, so the ".." its path starts with,
	 * seen from here, are the depth of this namespace's root. */
	if (raw_path(proc_root, "1", hier, sizeof(hier), init, sizeof(init)))
		return -ENOENT;
	for (c = init; !strncmp(c, "/..", 3) && (c[3] == '/' || !c[3]); c += 3)
		up++;
	if (!up)
		return 0; /* the host's namespace, or not the host's PID namespace: nothing to add
			   */
	snprintf(pidstr, sizeof(pidstr), "%d", self_pid);
	if (raw_path(proc_root, pidstr, shier, sizeof(shier), self, sizeof(self)) ||
	    strcmp(hier, shier) || strstr(self, "/.."))
		return -ENOENT;
	/* The hierarchy as mounted from the host: cgroup v2 at the top, or beside v1 controllers
	 * at "unified"; a v1 controller under its first name ("name=systemd": "systemd"). */
	if (!hier[0]) {
		snprintf(dir, sizeof(dir), "%s/cgroup.controllers", base);
		if (access(dir, F_OK))
			snprintf(dir, sizeof(dir), "%s/unified", base);
		else
			snprintf(dir, sizeof(dir), "%s", base);
	} else {
		const char *h = strncmp(hier, "name=", 5) ? hier : hier + 5;

		snprintf(dir, sizeof(dir), "%s/%.*s", base, (int)strcspn(h, ","), h);
	}
	bl = strlen(dir);
	if (!find_pid_dir(dir, sizeof(dir), up + path_depth(self), self_pid, &budget)) {
		log_info("cgroup: this daemon's cgroup namespace root was not found below %s; "
			 "cgroup paths stay relative to it (mount the host's /sys/fs/cgroup)",
			 base);
		return -ENOENT;
	}
	/* dir is the namespace's root followed by this process's own path within it. */
	own = strlen(self) > 1 ? strlen(self) : 0;
	if (strlen(dir) < bl + own || strcmp(dir + strlen(dir) - own, own ? self : ""))
		return -ENOENT;
	dir[strlen(dir) - own] = '\0';
	snprintf(root, len, "%s", dir[bl] ? dir + bl : "");
	log_info("cgroup: this daemon's cgroup namespace is rooted at %s", root[0] ? root : "/");
	return 0;
}
