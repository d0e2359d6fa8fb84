// SPDX-License-Identifier: MIT
/* /proc/PID/maps: one struct proc_mapping per line, kept sorted by start address so that a
 * lookup is a binary search. The /proc root is a parameter so tests read fixture trees. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "util/common.h"
#include "util/log.h"
#include "symbols/procmaps.h"

#define DELETED_SUFFIX " (deleted)"

/*
 * Digits in base 16 or 10 at *pp, then the character stop ('\0' accepts any). strtoull() is not
 * used because it also takes leading spaces, signs and "0x", which a maps line never has, and it
 * saturates instead of failing on overflow.
 */
static bool parse_u64(const char **pp, int base, char stop, __u64 *out)
{
	const char *p = *pp;
	__u64 v = 0;
	int d, digits = 0;

	for (; (d = hex_digit_val(*p)) >= 0 && d < base; p++, digits++) {
		if (v > (~0ULL - d) / base)
			return false;
		v = v * base + d;
	}
	if (!digits || (stop && *p != stop))
		return false;
	*out = v;
	*pp = stop ? p + 1 : p;
	return true;
}

static bool parse_perms(const char **pp, __u32 *perms)
{
	const char *p = *pp;
	__u32 v = 0;

	if (p[0] == 'r')
		v |= PMAP_PERM_READ;
	else if (p[0] != '-')
		return false;
	if (p[1] == 'w')
		v |= PMAP_PERM_WRITE;
	else if (p[1] != '-')
		return false;
	if (p[2] == 'x')
		v |= PMAP_PERM_EXEC;
	else if (p[2] != '-')
		return false;
	if (p[3] == 's')
		v |= PMAP_PERM_SHARED;
	else if (p[3] != 'p')
		return false;
	if (p[4] != ' ')
		return false;
	*perms = v;
	*pp = p + 5;
	return true;
}

/* "start-end perms offset major:minor inode [path]"; the path runs to the end of the line and
 * may contain spaces. m->path is not set here. Returns the path's start or NULL. */
static const char *parse_line(const char *p, struct proc_mapping *m)
{
	__u64 major, minor;

	if (!parse_u64(&p, 16, '-', &m->start) || !parse_u64(&p, 16, ' ', &m->end) ||
	    !parse_perms(&p, &m->perms) || !parse_u64(&p, 16, ' ', &m->offset) ||
	    !parse_u64(&p, 16, ':', &major) || !parse_u64(&p, 16, ' ', &minor) ||
	    !parse_u64(&p, 10, '\0', &m->inode))
		return NULL;
	if (m->start >= m->end || major > UINT32_MAX || minor > UINT32_MAX)
		return NULL;
	m->dev_major = major;
	m->dev_minor = minor;
	if (*p == '\0')
		return p;
	if (*p != ' ')
		return NULL;
	/* The kernel pads the inode column with spaces before the path. */
	while (*p == ' ')
		p++;
	return p;
}

static int cmp_start(const void *a, const void *b)
{
	const struct proc_mapping *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

int proc_maps__parse(FILE *f, struct proc_maps *out, size_t *bad_lines)
{
	struct proc_mapping *maps = NULL, *tmp;
	size_t cnt = 0, cap = 0, bad = 0, line_cap = 0, i, j;
	char *line = NULL;
	const char *path;
	ssize_t len;
	int err = 0;

	out->maps = NULL;
	out->cnt = 0;
	if (bad_lines)
		*bad_lines = 0;

	errno = 0;
	while ((len = getline(&line, &line_cap, f)) >= 0) {
		struct proc_mapping m = {};

		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		/* An empty line carries no mapping; it is not a parse failure. */
		if (len == 0)
			continue;
		if ((size_t)len != strlen(line) || !(path = parse_line(line, &m))) {
			bad++;
			continue;
		}
		if (cnt == cap) {
			cap = cap ? cap * 2 : 64;
			tmp = realloc(maps, cap * sizeof(*maps));
			if (!tmp) {
				err = -ENOMEM;
				goto cleanup;
			}
			maps = tmp;
		}
		m.path = strdup(path);
		if (!m.path) {
			err = -ENOMEM;
			goto cleanup;
		}
		maps[cnt++] = m;
		errno = 0;
	}
	if (ferror(f)) {
		err = errno ? -errno : -EIO;
		goto cleanup;
	}

	/* /proc already lists mappings in order; a fixture or a racy reader may not. */
	if (cnt)
		qsort(maps, cnt, sizeof(*maps), cmp_start);
	/* Lookups rely on non-overlapping ranges: keep the first of an overlapping pair. */
	for (i = 0, j = 0; i < cnt; i++) {
		if (j && maps[i].start < maps[j - 1].end) {
			free(maps[i].path);
			bad++;
			continue;
		}
		maps[j++] = maps[i];
	}
	cnt = j;

	out->maps = maps;
	out->cnt = cnt;
	maps = NULL;
	cnt = 0;
	if (bad_lines)
		*bad_lines = bad;
cleanup:
	for (i = 0; i < cnt; i++)
		free(maps[i].path);
	free(maps);
	free(line);
	return err;
}

int proc_maps__read(const char *proc_root, int pid, struct proc_maps *out)
{
	char path[PATH_MAX];
	size_t bad = 0;
	FILE *f = NULL;
	int n, err;

	out->maps = NULL;
	out->cnt = 0;
	n = snprintf(path, sizeof(path), "%s/%d/maps", proc_root ? proc_root : "/proc", pid);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		err = -ENAMETOOLONG;
		log_warn("cannot read maps of pid %d: path too long", pid);
		goto cleanup;
	}
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		/* A process that exited between its sample and this read is routine. */
		if (err == -ENOENT || err == -ESRCH)
			log_debug("cannot open %s: %s", path, strerror(-err));
		else
			log_warn("cannot open %s: %s", path, strerror(-err));
		goto cleanup;
	}
	err = proc_maps__parse(f, out, &bad);
	if (err) {
		log_warn("cannot read %s: %s", path, strerror(-err));
		goto cleanup;
	}
	if (bad)
		log_warn("%s: %zu lines not understood", path, bad);
cleanup:
	if (f)
		fclose(f);
	return err;
}

const struct proc_mapping *proc_maps__find(const struct proc_maps *pm, __u64 addr)
{
	size_t lo = 0, hi = pm->cnt, mid;

	/* Find the last mapping with start <= addr. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (pm->maps[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || addr >= pm->maps[lo - 1].end)
		return NULL;
	return &pm->maps[lo - 1];
}

int proc_mapping__is_file(const struct proc_mapping *m)
{
	return m->path && m->path[0] == '/';
}

int proc_mapping__is_deleted(const struct proc_mapping *m)
{
	size_t len, slen = strlen(DELETED_SUFFIX);

	if (!proc_mapping__is_file(m))
		return 0;
	len = strlen(m->path);
	return len > slen && strcmp(m->path + len - slen, DELETED_SUFFIX) == 0;
}

void proc_maps__clear(struct proc_maps *pm)
{
	size_t i;

	if (!pm)
		return;
	for (i = 0; i < pm->cnt; i++)
		free(pm->maps[i].path);
	free(pm->maps);
	pm->maps = NULL;
	pm->cnt = 0;
}

static int same_mapping(const struct proc_mapping *a, const struct proc_mapping *b)
{
	return a->start == b->start && a->end == b->end && a->offset == b->offset &&
	       a->inode == b->inode && a->dev_major == b->dev_major &&
	       a->dev_minor == b->dev_minor && a->perms == b->perms &&
	       !strcmp(a->path ?: "", b->path ?: "");
}

/* Whether pm holds m identically. */
static int holds(const struct proc_maps *pm, const struct proc_mapping *m)
{
	const struct proc_mapping *f = proc_maps__find(pm, m->start);

	return f && same_mapping(f, m);
}

/* Whether any mapping of pm (sorted, disjoint) overlaps [start, end). */
static int overlaps(const struct proc_maps *pm, __u64 start, __u64 end)
{
	size_t lo = 0, hi = pm->cnt, mid;

	/* The first mapping that ends after start. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (pm->maps[mid].end <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < pm->cnt && pm->maps[lo].start < end;
}

int proc_maps__overlay(struct proc_maps *past, const struct proc_maps *old,
		       const struct proc_maps *now, __u32 gen, size_t max)
{
	struct proc_maps fresh = {}, out = {};
	size_t i = 0, j = 0, k, n;
	__u32 min_gen;

	fresh.maps = calloc(old->cnt ?: 1, sizeof(*fresh.maps));
	out.maps = calloc(old->cnt + past->cnt ?: 1, sizeof(*out.maps));
	if (!fresh.maps || !out.maps)
		goto nomem;
	for (k = 0; k < old->cnt; k++) {
		const struct proc_mapping *m = &old->maps[k];

		if (!(m->perms & PMAP_PERM_EXEC) || holds(now, m))
			continue;
		fresh.maps[fresh.cnt] = *m;
		fresh.maps[fresh.cnt].gen = gen;
		fresh.maps[fresh.cnt].path = strdup(m->path ?: "");
		if (!fresh.maps[fresh.cnt++].path)
			goto nomem;
	}
	/* Merge by start: the past ones that survive, and the fresh ones. */
	while (i < past->cnt || j < fresh.cnt) {
		struct proc_mapping *p = i < past->cnt ? &past->maps[i] : NULL;

		if (p && (j == fresh.cnt || p->start < fresh.maps[j].start)) {
			i++;
			if (overlaps(&fresh, p->start, p->end) || holds(now, p))
				continue;
			out.maps[out.cnt] = *p;
			out.maps[out.cnt++].path = NULL; /* moved below, once nothing can fail */
			continue;
		}
		out.maps[out.cnt++] = fresh.maps[j++];
	}
	/* Over the bound: the oldest generations go first. */
	while (max && out.cnt > max) {
		min_gen = out.maps[0].gen;
		for (k = 1; k < out.cnt; k++)
			if (out.maps[k].gen < min_gen)
				min_gen = out.maps[k].gen;
		for (k = n = 0; k < out.cnt; k++) {
			if (out.maps[k].gen == min_gen && out.cnt - (k - n) > max) {
				free(out.maps[k].path);
				continue;
			}
			out.maps[n++] = out.maps[k];
		}
		out.cnt = n;
	}
	/* Move the surviving past paths over; free the rest with the old array. */
	for (k = 0, i = 0; k < out.cnt; k++) {
		if (out.maps[k].path)
			continue;
		while (past->maps[i].start != out.maps[k].start || !past->maps[i].path)
			i++;
		out.maps[k].path = past->maps[i].path;
		past->maps[i].path = NULL;
	}
	proc_maps__clear(past);
	free(fresh.maps);
	*past = out;
	return 0;
nomem:
	for (k = 0; k < fresh.cnt; k++)
		free(fresh.maps[k].path);
	free(fresh.maps);
	free(out.maps);
	return -ENOMEM;
}
