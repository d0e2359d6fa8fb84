// SPDX-License-Identifier: MIT
/* /proc/PID/cgroup: the path, and the container ID and pod UID that container runtimes and the
 * kubelet put into it (docker-<id>.scope, cri-containerd-<id>.scope, crio-<id>.scope,
 * /docker/<id>, kubepods-...-pod<uid>.slice, /kubepods/.../pod<uid>/). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "service/cgroup.h"

/* The first run of exactly 64 hex digits in the path. */
static void find_container_id(const char *path, char *out, size_t len)
{
	out[0] = '\0';
	for (const char *p = path; *p; p++) {
		size_t n = 0;

		if (p != path && isxdigit((unsigned char)p[-1]))
			continue;
		while (isxdigit((unsigned char)p[n]))
			n++;
		if (n == 64 && len > 64) {
			memcpy(out, p, 64);
			out[64] = '\0';
			return;
		}
	}
}

/* "pod" followed by a UID (dashes, or underscores in systemd slice names). */
static void find_pod_uid(const char *path, char *out, size_t len)
{
	const char *p = path;

	out[0] = '\0';
	while ((p = strstr(p, "pod"))) {
		size_t n = 0;

		p += 3;
		while (n + 1 < len &&
		       (isxdigit((unsigned char)p[n]) || p[n] == '-' || p[n] == '_')) {
			out[n] = p[n] == '_' ? '-' : p[n];
			n++;
		}
		out[n] = '\0';
		if (n == 36)
			return;
		out[0] = '\0';
	}
}

int cgroup__parse(const char *text, struct cgroup_info *out)
{
	const char *line = text;
	int found = 0;

	memset(out, 0, sizeof(*out));
	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		const char *c1 = memchr(line, ':', n), *c2;

		if (c1 && (c2 = memchr(c1 + 1, ':', n - (c1 + 1 - line)))) {
			size_t plen = n - (c2 + 1 - line);
			/* The unified hierarchy ("0::/path") wins over v1 controllers. */
			int unified = c1 == line + 1 && line[0] == '0' && c2 == c1 + 1;

			if ((!found || unified) && plen < sizeof(out->path)) {
				memcpy(out->path, c2 + 1, plen);
				out->path[plen] = '\0';
				found = 1;
				if (unified)
					break;
			}
		}
		line = end ? end + 1 : NULL;
	}
	if (!found)
		return -EINVAL;
	find_container_id(out->path, out->container_id, sizeof(out->container_id));
	find_pod_uid(out->path, out->pod_uid, sizeof(out->pod_uid));
	return 0;
}

int cgroup__read(const char *proc_root, int pid, struct cgroup_info *out)
{
	char path[128], text[4096];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%d/cgroup", proc_root ?: "/proc", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return cgroup__parse(text, out);
}
