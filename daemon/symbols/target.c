// SPDX-License-Identifier: MIT
/* A watched process: identity, and maps snapshots kept for symbolizing after it exits. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/common.h"
#include "util/log.h"
#include "symbols/rootfs.h"
#include "symbols/target.h"

static char *read_small_file(const char *path, size_t *len_out)
{
	size_t cap = 16384, len = 0;
	char *buf = NULL, *nbuf;
	int fd = -1;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	buf = malloc(cap + 1);
	if (!buf)
		goto fail;
	while ((n = read(fd, buf + len, cap - len)) > 0) {
		len += n;
		if (len == cap) {
			cap *= 2;
			nbuf = realloc(buf, cap + 1);
			if (!nbuf)
				goto fail;
			buf = nbuf;
		}
	}
	if (n < 0)
		goto fail;
	buf[len] = '\0';
	close(fd);
	*len_out = len;
	return buf;
fail:
	n = errno;
	free(buf);
	if (fd >= 0)
		close(fd);
	errno = n;
	return NULL;
}

/* Whether pid's root and mount namespace are ours (compared by device and inode). */
static int shares_our_root(int pid)
{
	struct stat mine, theirs, mine_ns, theirs_ns;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/root", pid);
	if (stat("/", &mine) || stat(path, &theirs))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", pid);
	if (stat("/proc/self/ns/mnt", &mine_ns) || stat(path, &theirs_ns))
		return 0;
	return mine.st_dev == theirs.st_dev && mine.st_ino == theirs.st_ino &&
	       mine_ns.st_dev == theirs_ns.st_dev && mine_ns.st_ino == theirs_ns.st_ino;
}

int target__init(struct target *t, int pid)
{
	char path[64], exe[PATH_MAX];
	ssize_t n;
	FILE *f;

	memset(t, 0, sizeof(*t));
	t->pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n < 0) {
		if (errno == ENOENT)
			return -ESRCH;
		return -errno;
	}
	exe[n] = '\0';
	t->exe = strdup(exe);
	if (!t->exe)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(t->comm, sizeof(t->comm), f))
			t->comm[strcspn(t->comm, "\n")] = '\0';
		fclose(f);
	}
	t->our_root = shares_our_root(pid);
	t->alive = 1;
	return 0;
}

static void hold_deleted(struct target *t, const struct proc_maps *pm)
{
	for (size_t i = 0; i < pm->cnt; i++) {
		const struct proc_mapping *m = &pm->maps[i];
		struct held_file *n;
		char path[128];
		size_t j;
		int fd;

		if (!(m->perms & PMAP_PERM_EXEC) || !proc_mapping__is_deleted(m))
			continue;
		for (j = 0; j < t->held_cnt && strcmp(t->held[j].path, m->path); j++)
			;
		if (j < t->held_cnt)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", t->pid,
			 (unsigned long long)m->start, (unsigned long long)m->end);
		fd = rootfs__open(path, m);
		if (fd < 0)
			continue;
		n = realloc(t->held, (t->held_cnt + 1) * sizeof(*n));
		if (!n || !(n[t->held_cnt].path = strdup(m->path))) {
			if (n)
				t->held = n;
			close(fd);
			continue;
		}
		n[t->held_cnt].fd = fd;
		t->held = n;
		t->held_cnt++;
	}
}

int target__refresh_maps(struct target *t)
{
	struct proc_maps pm = {};
	char path[64], *text;
	size_t len;
	FILE *f;
	int err;

	if (!t->alive)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/maps", t->pid);
	text = read_small_file(path, &len);
	/* A zombie's maps read empty: it is as gone as a missing directory. */
	if (!text || !len) {
		err = text ? -ESRCH : -errno;
		free(text);
		if (err == -ENOENT || err == -ESRCH || err == -EINVAL) {
			t->alive = 0;
			return -ESRCH;
		}
		return err;
	}
	if (t->last_maps_text && strcmp(t->last_maps_text, text) == 0) {
		free(text);
		return 0;
	}
	f = fmemopen(text, len, "r");
	if (!f) {
		err = -errno;
		free(text);
		return err;
	}
	err = proc_maps__parse(f, &pm, NULL);
	fclose(f);
	if (err) {
		free(text);
		return err;
	}
	hold_deleted(t, &pm);
	err = proc_maps__overlay(&t->past, &t->maps, &pm, (__u32)t->maps_gen, TARGET_MAX_PAST);
	if (err) {
		proc_maps__clear(&pm);
		free(text);
		return err;
	}
	proc_maps__clear(&t->maps);
	t->maps = pm;
	t->maps_gen++;
	free(t->last_maps_text);
	t->last_maps_text = text;
	return 0;
}

const struct proc_mapping *target__find_mapping(const struct target *t, __u64 addr)
{
	return proc_maps__find(&t->maps, addr) ?: proc_maps__find(&t->past, addr);
}

void target__file_path(const struct target *t, const char *path, char *buf, size_t len)
{
	for (size_t i = 0; i < t->held_cnt; i++) {
		if (!strcmp(t->held[i].path, path)) {
			snprintf(buf, len, "/proc/self/fd/%d", t->held[i].fd);
			return;
		}
	}
	/* Never the path in our own root, not even once the process is gone: its files were
	 * the ones in its root, and rootfs__open() resolves them there or refuses them. */
	snprintf(buf, len, "/proc/%d/root%s", t->our_root ? getpid() : t->pid, path);
}

void target__release(struct target *t)
{
	proc_maps__clear(&t->maps);
	proc_maps__clear(&t->past);
	free(t->last_maps_text);
	free(t->exe);
	for (size_t i = 0; i < t->held_cnt; i++) {
		free(t->held[i].path);
		close(t->held[i].fd);
	}
	free(t->held);
	memset(t, 0, sizeof(*t));
}

/* Whether pid exists and is not a zombie (an exited process its parent has not reaped). */
int target__running(int pid)
{
	char path[64], buf[512], *paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* "pid (comm) S ...": comm may hold spaces and parentheses; the state follows the last. */
	paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' && paren[2] && paren[2] != 'Z' && paren[2] != 'X';
}
