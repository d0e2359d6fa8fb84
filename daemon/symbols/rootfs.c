// SPDX-License-Identifier: MIT
/* Opening the files of a watched process without trusting it (see rootfs.h): openat2 with
 * RESOLVE_IN_ROOT where the kernel has it, else a walk of our own over O_PATH descriptors. */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "util/common.h"
#include "util/log.h"
#include "symbols/rootfs.h"

#ifndef __NR_openat2
#define __NR_openat2 437
#endif

/* Never blocks on a FIFO or a device, never becomes our controlling terminal. */
#define OPEN_FLAGS (O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)

static __u64 refused[ROOTFS_REFUSED__CNT];
static int openat2_state; /* 0 unknown, 1 there, -1 missing or forced off */

static const char *const refusal_names[ROOTFS_REFUSED__CNT] = {
    [ROOTFS_REFUSED_MISSING] = "missing",
    [ROOTFS_REFUSED_EXITED] = "exited",
    [ROOTFS_REFUSED_NOT_REGULAR] = "not_regular",
    [ROOTFS_REFUSED_LINK] = "link",
    [ROOTFS_REFUSED_MISMATCH] = "mismatch",
    [ROOTFS_REFUSED_TOO_LARGE] = "too_large",
    [ROOTFS_REFUSED_ERROR] = "error",
};

const char *rootfs__refusal_name(enum rootfs_refusal why)
{
	return why < ROOTFS_REFUSED__CNT ? refusal_names[why] : "?";
}

__u64 rootfs__refused(enum rootfs_refusal why)
{
	return why < ROOTFS_REFUSED__CNT ? __atomic_load_n(&refused[why], __ATOMIC_RELAXED) : 0;
}

void rootfs__force_walk(int on)
{
	__atomic_store_n(&openat2_state, on ? -1 : 0, __ATOMIC_RELAXED);
}

int rootfs__have_openat2(void)
{
	struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT};
	int st = __atomic_load_n(&openat2_state, __ATOMIC_RELAXED), fd;

	if (st)
		return st > 0;
	fd = syscall(__NR_openat2, AT_FDCWD, "/", &how, sizeof(how));
	st = fd >= 0 || errno != ENOSYS ? 1 : -1;
	if (fd >= 0)
		close(fd);
	__atomic_store_n(&openat2_state, st, __ATOMIC_RELAXED);
	return st > 0;
}

int rootfs__split_proc_root(const char *path, int *pid, const char **rest)
{
	const char *p;
	long v = 0;

	if (strncmp(path, "/proc/", 6))
		return -EINVAL;
	for (p = path + 6; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > INT32_MAX)
			return -EINVAL;
	}
	if (p == path + 6 || v == 0 || strncmp(p, "/root", 5) || (p[5] && p[5] != '/'))
		return -EINVAL;
	*pid = (int)v;
	*rest = p + 5;
	return 0;
}

/* The kernel's own links to one file (and our own /proc/self): nothing in them is resolved
 * against a tenant's tree. */
static int is_kernel_link(const char *path)
{
	const char *p;

	if (!strncmp(path, "/proc/self/", 11))
		return 1;
	if (strncmp(path, "/proc/", 6))
		return 0;
	for (p = path + 6; *p >= '0' && *p <= '9'; p++)
		;
	if (p == path + 6)
		return 0;
	return !strcmp(p, "/exe") || !strncmp(p, "/map_files/", 11);
}

/* ---- the lexical walk ---- */

int rootfs_walk__init(struct rootfs_walk *w, const char *path)
{
	while (*path == '/')
		path++;
	if (strlen(path) >= sizeof(w->rest))
		return -ENAMETOOLONG;
	strcpy(w->rest, path);
	w->links = 0;
	return 0;
}

int rootfs_walk__next(struct rootfs_walk *w, char *comp, size_t len, int *last)
{
	for (;;) {
		char *p = w->rest, *end;
		size_t n;

		while (*p == '/')
			p++;
		if (!*p) {
			w->rest[0] = '\0';
			return 0;
		}
		end = strchrnul(p, '/');
		n = end - p;
		if (n >= len)
			return -ENAMETOOLONG;
		memcpy(comp, p, n);
		comp[n] = '\0';
		while (*end == '/')
			end++;
		memmove(w->rest, end, strlen(end) + 1);
		if (n == 1 && comp[0] == '.') {
			if (!w->rest[0]) {
				/* "dir/." names dir itself: the caller opens it (and refuses it).
				 */
				*last = 1;
				return 1;
			}
			continue;
		}
		*last = !w->rest[0];
		return 1;
	}
}

int rootfs_walk__link(struct rootfs_walk *w, const char *target, int *absolute)
{
	size_t tl = strlen(target), rl = strlen(w->rest);

	if (++w->links > ROOTFS_MAX_LINKS)
		return -ELOOP;
	if (!tl)
		return -ENOENT;
	if (tl + 1 + rl >= sizeof(w->rest))
		return -ENAMETOOLONG;
	*absolute = target[0] == '/';
	if (rl) {
		memmove(w->rest + tl + 1, w->rest, rl + 1);
		w->rest[tl] = '/';
		memcpy(w->rest, target, tl);
	} else {
		memcpy(w->rest, target, tl + 1);
	}
	return 0;
}

/*
 * openat2(RESOLVE_IN_ROOT) done by hand for kernels before 5.6: every component is opened
 * O_PATH | O_NOFOLLOW from the descriptor of its parent, symlinks are read and spliced into
 * the path, ".." pops a stack of our own that never goes above the root, and the last
 * component is opened O_NOFOLLOW. Nothing is resolved by the kernel across more than one
 * component, so a tree that changes meanwhile can only make the walk fail.
 */
static int walk_open(int rootfd, const char *path, int no_symlinks)
{
	int stack[ROOTFS_MAX_DEPTH], depth = 0, fd = -1, last = 0, absolute, err, r;
	struct rootfs_walk *w = NULL;
	char comp[NAME_MAX + 1];
	char *link = NULL;
	struct stat st;
	ssize_t n;

	stack[0] = rootfd;
	w = malloc(sizeof(*w));
	link = malloc(PATH_MAX);
	if (!w || !link) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = rootfs_walk__init(w, path);
	if (err)
		goto cleanup;
	while ((r = rootfs_walk__next(w, comp, sizeof(comp), &last)) > 0) {
		if (!strcmp(comp, "..")) {
			if (depth)
				close(stack[depth--]);
			if (last)
				break;
			continue;
		}
		if (!strcmp(comp, "."))
			break; /* only ever last */
		fd = openat(stack[depth], comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st)) {
			err = -errno;
			goto cleanup;
		}
		if (S_ISLNK(st.st_mode)) {
			if (no_symlinks) {
				err = -ELOOP;
				goto cleanup;
			}
			n = readlinkat(fd, "", link, PATH_MAX - 1);
			if (n < 0) {
				err = -errno;
				goto cleanup;
			}
			link[n] = '\0';
			close(fd);
			fd = -1;
			err = rootfs_walk__link(w, link, &absolute);
			if (err)
				goto cleanup;
			while (absolute && depth)
				close(stack[depth--]);
			continue;
		}
		if (last) {
			close(fd);
			/* Replaced by a symlink since the O_PATH open: ELOOP, refused. */
			fd = openat(stack[depth], comp, OPEN_FLAGS | O_NOFOLLOW);
			err = fd < 0 ? -errno : 0;
			goto cleanup;
		}
		if (!S_ISDIR(st.st_mode)) {
			err = -ENOTDIR;
			goto cleanup;
		}
		if (depth + 1 >= ROOTFS_MAX_DEPTH) {
			err = -ENAMETOOLONG;
			goto cleanup;
		}
		stack[++depth] = fd;
		fd = -1;
	}
	if (r < 0) {
		err = r;
		goto cleanup;
	}
	/* The path named a directory (the root, "..", "."): opened to be refused as one. */
	fd = openat(stack[depth], ".", OPEN_FLAGS);
	err = fd < 0 ? -errno : 0;
cleanup:
	while (depth)
		close(stack[depth--]);
	if (err && fd >= 0)
		close(fd);
	free(link);
	free(w);
	return err ?: fd;
}

static int open_at_root(int rootfd, const char *rest, int no_symlinks)
{
	struct open_how how = {
	    .flags = OPEN_FLAGS,
	    .resolve =
		RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | (no_symlinks ? RESOLVE_NO_SYMLINKS : 0),
	};
	int fd = -1, tries;

	if (!rootfs__have_openat2())
		return walk_open(rootfd, rest, no_symlinks);
	/* EAGAIN: a rename raced with a ".." of the lookup; the kernel asks us to retry. */
	for (tries = 0; tries < 3; tries++) {
		fd = syscall(__NR_openat2, rootfd, rest, &how, sizeof(how));
		if (fd >= 0 || errno != EAGAIN)
			break;
	}
	return fd < 0 ? -errno : fd;
}

static int open_in_root(int pid, const char *rest, int no_symlinks)
{
	char root[64];
	int rootfd, fd;

	snprintf(root, sizeof(root), "/proc/%d/root", pid);
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return errno == ENOENT || errno == ESRCH ? -ESRCH : -errno;
	fd = open_at_root(rootfd, rest, no_symlinks);
	close(rootfd);
	return fd;
}

static int refuse(const char *path, enum rootfs_refusal why, int err)
{
	__atomic_fetch_add(&refused[why], 1, __ATOMIC_RELAXED);
	/* A tenant's doing warns; a file that is not there, or a process we may not read, not. */
	if (why == ROOTFS_REFUSED_MISSING || why == ROOTFS_REFUSED_EXITED ||
	    why == ROOTFS_REFUSED_ERROR)
		log_debug("%s: not opened (%s): %s", path, refusal_names[why], strerror(-err));
	else
		log_warn("%s: refused (%s): %s", path, refusal_names[why], strerror(-err));
	return err;
}

/* The checks on what was opened (fd, or -errno when the open failed); consumes fd. */
static int check_opened(const char *path, int fd, const struct proc_mapping *m)
{
	struct stat st;

	if (fd < 0) {
		switch (fd) {
		case -ENOENT:
		case -ENOTDIR:
			/* A guessed path (no mapping) that is not there is no refusal. */
			return m ? refuse(path, ROOTFS_REFUSED_MISSING, fd) : fd;
		case -ESRCH:
			return refuse(path, ROOTFS_REFUSED_EXITED, fd);
		case -ELOOP:
		case -EXDEV:
			return refuse(path, ROOTFS_REFUSED_LINK, -ELOOP);
		default:
			return refuse(path, ROOTFS_REFUSED_ERROR, fd);
		}
	}
	if (fstat(fd, &st)) {
		int err = -errno;

		close(fd);
		return refuse(path, ROOTFS_REFUSED_ERROR, err);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return refuse(path, ROOTFS_REFUSED_NOT_REGULAR,
			      S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL);
	}
	if ((__u64)st.st_size > ROOTFS_MAX_FILE_BYTES) {
		close(fd);
		return refuse(path, ROOTFS_REFUSED_TOO_LARGE, -EFBIG);
	}
	if (m && m->inode &&
	    (st.st_ino != m->inode || major(st.st_dev) != m->dev_major ||
	     minor(st.st_dev) != m->dev_minor)) {
		close(fd);
		return refuse(path, ROOTFS_REFUSED_MISMATCH, -ESTALE);
	}
	return fd;
}

int rootfs__open_in(int rootfd, const char *path, const struct proc_mapping *m)
{
	return check_opened(path, open_at_root(rootfd, path, m != NULL), m);
}

int rootfs__open(const char *path, const struct proc_mapping *m)
{
	const char *rest;
	int pid, fd;

	if (!path)
		return -EINVAL;
	if (!rootfs__split_proc_root(path, &pid, &rest)) {
		fd = open_in_root(pid, rest, m != NULL);
	} else if (is_kernel_link(path) || strncmp(path, "/proc/", 6)) {
		fd = open(path, OPEN_FLAGS);
		if (fd < 0)
			fd = errno == ENOENT && is_kernel_link(path) ? -ESRCH : -errno;
	} else {
		/* /proc/PID/cwd/... and the like would resolve the tenant's links against ours. */
		fd = -EINVAL;
	}
	return check_opened(path, fd, m);
}
