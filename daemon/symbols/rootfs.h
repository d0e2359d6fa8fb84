/* SPDX-License-Identifier: MIT */
/* Opening the files of a watched process without trusting it: paths below /proc/PID/root are
 * resolved inside that root (links never lead out of it), never block, must be regular files of
 * bounded size and, for a mapped file, the very file the process mapped. Counts every refusal. */
#ifndef ALLOCSCOPE_ROOTFS_H
#define ALLOCSCOPE_ROOTFS_H

#include <limits.h>
#include <stddef.h>
#include <linux/types.h>

#include "symbols/procmaps.h"

/* Larger files are refused: nothing the daemon parses is this big, and a sparse file would
 * otherwise let a tenant make it map and walk gigabytes of zeroes. */
#define ROOTFS_MAX_FILE_BYTES (4ULL << 30)
/* As the kernel's own limit on symlinks followed in one lookup. */
#define ROOTFS_MAX_LINKS 40
/* Directories deep below the root one walk may hold open (the fallback walk's fd stack). */
#define ROOTFS_MAX_DEPTH 128

/* Why a file was refused; the names are the /metrics label values. */
enum rootfs_refusal {
	ROOTFS_REFUSED_MISSING,	    /* nothing at that path inside the process's root */
	ROOTFS_REFUSED_EXITED,	    /* the process is gone, and its root with it */
	ROOTFS_REFUSED_NOT_REGULAR, /* a FIFO, device, socket or directory */
	ROOTFS_REFUSED_LINK,	    /* a symlink where a mapped file was, or a link loop */
	ROOTFS_REFUSED_MISMATCH,    /* not the file the process mapped (device and inode) */
	ROOTFS_REFUSED_TOO_LARGE,   /* over ROOTFS_MAX_FILE_BYTES */
	ROOTFS_REFUSED_ERROR,	    /* any other failure */
	ROOTFS_REFUSED__CNT,
};

/*
 * Opens path read-only, O_NONBLOCK and O_NOCTTY, for reading on a target's behalf:
 * - "/proc/PID/root/REST": REST resolved inside that root with openat2(RESOLVE_IN_ROOT |
 *   RESOLVE_NO_MAGICLINKS), or by a walk of our own on kernels without openat2; with m, no
 *   symlink at all (a path from /proc/PID/maps is already canonical);
 * - "/proc/PID/exe", "/proc/PID/map_files/...": the kernel's own link to the file itself;
 *   "/proc/self/...": our own (held descriptors);
 * - any other /proc/PID/... path is refused (-EINVAL): cwd/ or fd/ would resolve the tenant's
 *   links against our root;
 * - any path outside /proc is the caller's own (a file named on the command line).
 * The file must be regular and at most ROOTFS_MAX_FILE_BYTES; with m (may be NULL), its device
 * and inode must be the mapping's. The fd, or -errno with the refusal counted: -ESRCH (exited),
 * -ELOOP (a link), -ESTALE (another file than the mapped one), -EINVAL or -EISDIR (not a
 * regular file), -EFBIG. -ENOENT without m is not counted: a guessed path may not exist.
 */
int rootfs__open(const char *path, const struct proc_mapping *m);
/* The same for path inside the directory rootfd, as if it were "/" (tests use a tree of their
 * own). */
int rootfs__open_in(int rootfd, const char *path, const struct proc_mapping *m);
/* The refusals counted so far (process-wide, atomic). */
__u64 rootfs__refused(enum rootfs_refusal why);
const char *rootfs__refusal_name(enum rootfs_refusal why);
/* Whether this kernel has openat2 (probed on first use); tests may force the fallback walk. */
int rootfs__have_openat2(void);
void rootfs__force_walk(int on);

/* "/proc/PID/root/REST": the pid and REST (from its leading '/'); 0, or -EINVAL for any other
 * path. */
int rootfs__split_proc_root(const char *path, int *pid, const char **rest);

/*
 * The lexical half of a walk inside a root, apart so that it can be fuzzed: the components
 * still to resolve, and the symlinks spliced in so far.
 */
struct rootfs_walk {
	char rest[PATH_MAX]; /* what is left, without leading '/' */
	int links;
};

/* -ENAMETOOLONG when path does not fit. */
int rootfs_walk__init(struct rootfs_walk *w, const char *path);
/* The next component into comp (never empty, no '/', never "."; ".." is the caller's to clamp at
 * the root): 1, or 0 when the walk is done. *last says whether nothing follows it. */
int rootfs_walk__next(struct rootfs_walk *w, char *comp, size_t len, int *last);
/* The symlink just met holds target: its text replaces it. 0 (*absolute: restart at the root),
 * -ELOOP after ROOTFS_MAX_LINKS, -ENAMETOOLONG, -ENOENT for an empty target. */
int rootfs_walk__link(struct rootfs_walk *w, const char *target, int *absolute);

#endif
