// SPDX-License-Identifier: MIT
/* Parsing of PSI and memory cgroup files, the near-limit and growth tests, PSI trigger fds. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service/trigger.h"
#include "util/common.h"

static const char *const trigger_names[TRIGGER_MAX] = {
    [TRIGGER_OOM] = "oom",	 [TRIGGER_PRESSURE] = "pressure", [TRIGGER_LIMIT] = "limit",
    [TRIGGER_GROWTH] = "growth", [TRIGGER_REQUEST] = "request",
};

const char *trigger__name(enum trigger_kind k)
{
	return k < TRIGGER_MAX ? trigger_names[k] : "unknown";
}

int trigger__parse_mask(const char *s, unsigned int *mask)
{
	const char *p = s;

	*mask = 0;
	if (!strcmp(s, "none"))
		return 0;
	while (*p) {
		size_t len = strcspn(p, ",");
		int k;

		for (k = 0; k < TRIGGER_MAX; k++)
			if (strlen(trigger_names[k]) == len && !strncmp(p, trigger_names[k], len))
				break;
		if (k == TRIGGER_MAX)
			return -EINVAL;
		*mask |= 1u << k;
		p += len;
		if (*p == ',' && *++p == '\0')
			return -EINVAL;
	}
	return *mask ? 0 : -EINVAL;
}

int psi__parse(const char *text, struct psi_figures *out)
{
	const char *line = text;
	bool some = false;

	memset(out, 0, sizeof(*out));
	while (line && *line) {
		double a10, a60, a300;
		unsigned long long total;
		char kind[8];

		if (sscanf(line, "%7s avg10=%lf avg60=%lf avg300=%lf total=%llu", kind, &a10, &a60,
			   &a300, &total) == 5) {
			if (!strcmp(kind, "some")) {
				out->some_avg10 = a10;
				out->some_total_us = total;
				some = true;
			} else if (!strcmp(kind, "full")) {
				out->full_avg10 = a10;
				out->full_total_us = total;
			}
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return some ? 0 : -EINVAL;
}

int psi_trigger__open(const char *path, __u64 stall_us, __u64 window_us)
{
	char buf[64];
	int fd, n, err;

	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "some %llu %llu", (unsigned long long)stall_us,
		     (unsigned long long)window_us);
	/* The kernel wants the terminating NUL written too. */
	if (write(fd, buf, n + 1) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int memcg__path_parse(const char *text, int v2_only, int *version, char *path, size_t path_len)
{
	const char *line = text, *v2 = NULL;

	while (line && *line) {
		const char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		const char *end = strchrnul(line, '\n');

		if (c2 && c2 < end) {
			const char *ctl = c1 + 1;
			size_t ctl_len = c2 - ctl;

			if (ctl_len == 0 && !strncmp(line, "0:", 2)) {
				v2 = c2 + 1;
			} else if (!v2_only) {
				/* "memory" among the comma-separated controllers. */
				for (const char *p = ctl; p < c2;) {
					size_t len = strcspn(p, ",:");

					if (len == 6 && !strncmp(p, "memory", 6)) {
						*version = 1;
						snprintf(path, path_len, "%.*s",
							 (int)(end - c2 - 1), c2 + 1);
						return 0;
					}
					p += len + 1;
				}
			}
		}
		line = *end ? end + 1 : NULL;
	}
	if (!v2)
		return -ENOENT;
	*version = 2;
	snprintf(path, path_len, "%.*s", (int)(strchrnul(v2, '\n') - v2), v2);
	return 0;
}

static int read_text(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err)
		return err;
	buf[n] = '\0';
	return 0;
}

/* The value of "key N" in a flat keyed file (memory.stat, memory.events). */
static __u64 keyed(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
		if (!strncmp(l, key, klen) && l[klen] == ' ')
			return strtoull(l + klen + 1, NULL, 10);
	return 0;
}

/* A number, or "max" (v2's no limit) as 0. */
static int read_u64(const char *dir, const char *file, __u64 *out)
{
	char path[PATH_MAX + 32], buf[64];
	int err;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	err = read_text(path, buf, sizeof(buf));
	if (err)
		return err;
	*out = strncmp(buf, "max", 3) ? strtoull(buf, NULL, 10) : 0;
	return 0;
}

static void v2_dir(const char *sys_root, const char *path, char *buf, size_t len)
{
	char probe[PATH_MAX + 32];
	struct stat st;

	snprintf(probe, sizeof(probe), "%s/cgroup.controllers", sys_root);
	if (stat(probe, &st) == 0)
		snprintf(buf, len, "%s%s", sys_root, path);
	else
		snprintf(buf, len, "%s/unified%s", sys_root, path);
}

int memcg__read(const char *sys_root, int version, const char *path, struct memcg_figures *out)
{
	char dir[PATH_MAX], file[PATH_MAX + 32], text[8192];
	int err;

	memset(out, 0, sizeof(*out));
	out->version = version;
	if (version == 1) {
		snprintf(dir, sizeof(dir), "%s/memory%s", sys_root, path);
		err = read_u64(dir, "memory.usage_in_bytes", &out->usage_bytes);
		if (err)
			return err;
		read_u64(dir, "memory.limit_in_bytes", &out->limit_bytes);
		/* No limit reads as the largest page-aligned long. */
		if (out->limit_bytes >= (1ULL << 62))
			out->limit_bytes = 0;
		snprintf(file, sizeof(file), "%s/memory.stat", dir);
		if (!read_text(file, text, sizeof(text))) {
			out->rss_bytes = keyed(text, "total_rss");
			out->anon_bytes =
			    keyed(text, "total_active_anon") + keyed(text, "total_inactive_anon");
		}
		return 0;
	}
	v2_dir(sys_root, path, dir, sizeof(dir));
	err = read_u64(dir, "memory.current", &out->usage_bytes);
	if (err)
		return err;
	read_u64(dir, "memory.max", &out->limit_bytes);
	snprintf(file, sizeof(file), "%s/memory.stat", dir);
	if (!read_text(file, text, sizeof(text))) {
		out->anon_bytes = keyed(text, "anon");
		out->rss_bytes = out->anon_bytes + keyed(text, "file_mapped");
	}
	snprintf(file, sizeof(file), "%s/memory.events", dir);
	if (!read_text(file, text, sizeof(text))) {
		out->events_high = keyed(text, "high");
		out->events_max = keyed(text, "max");
		out->events_oom_kill = keyed(text, "oom_kill");
	}
	return 0;
}

int memcg__pressure_path(const char *sys_root, const char *v2_path, char *buf, size_t len)
{
	char dir[PATH_MAX];
	struct stat st;

	v2_dir(sys_root, v2_path, dir, sizeof(dir));
	snprintf(buf, len, "%s/memory.pressure", dir);
	return stat(buf, &st) ? -ENOENT : 0;
}

bool memcg__near_limit(const struct memcg_figures *now, const struct memcg_figures *before,
		       double ratio)
{
	if (before &&
	    (now->events_high > before->events_high || now->events_max > before->events_max))
		return true;
	return now->limit_bytes && (double)now->usage_bytes >= ratio * (double)now->limit_bytes;
}

void growth__record(struct growth_window *g, __u64 now_ns, __u64 inuse_bytes, __u64 window_ns)
{
	size_t i;

	/* Keep one point at least a window old (the baseline) and none older than it. */
	while (g->cnt >= 2) {
		size_t second = (g->first + 1) % GROWTH_MAX_POINTS;

		if (now_ns - g->time_ns[second] < window_ns)
			break;
		g->first = second;
		g->cnt--;
	}
	if (g->cnt == GROWTH_MAX_POINTS) {
		g->first = (g->first + 1) % GROWTH_MAX_POINTS;
		g->cnt--;
	}
	i = (g->first + g->cnt) % GROWTH_MAX_POINTS;
	g->time_ns[i] = now_ns;
	g->inuse_bytes[i] = inuse_bytes;
	g->cnt++;
}

bool growth__check(const struct growth_window *g, __u64 window_ns, double fraction, __u64 min_bytes,
		   double *grew)
{
	size_t last, base = GROWTH_MAX_POINTS;
	__u64 now_ns, from, to;

	*grew = 0;
	if (g->cnt < 2)
		return false;
	last = (g->first + g->cnt - 1) % GROWTH_MAX_POINTS;
	now_ns = g->time_ns[last];
	for (size_t k = 0; k < g->cnt - 1; k++) {
		size_t i = (g->first + k) % GROWTH_MAX_POINTS;

		if (now_ns - g->time_ns[i] >= window_ns)
			base = i;
	}
	if (base == GROWTH_MAX_POINTS)
		return false;
	from = g->inuse_bytes[base];
	to = g->inuse_bytes[last];
	/* Nothing in use at the start: no fraction to compare with (a process attached while idle
	 * starts from 0 as seen from here). */
	if (to <= from || !from)
		return false;
	*grew = (double)(to - from) / (double)from;
	return to - from >= min_bytes && *grew > fraction;
}
