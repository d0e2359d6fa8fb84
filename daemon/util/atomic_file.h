/* SPDX-License-Identifier: MIT */
/* Files replaced atomically: written to a temporary file beside them, synced, renamed over the
 * old one, so that a reader sees the old content or the new, never a part. */
#ifndef ALLOCSCOPE_ATOMIC_FILE_H
#define ALLOCSCOPE_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

/* Writes the content into f; 0 or -errno. */
typedef int (*atomic_file_fill_fn)(void *ctx, FILE *f);

/* Replace path with what fill writes: a temporary "path.tmp.XXXXXX" in the same directory (so
 * on the same file system), mode 0644, fsync'ed, renamed over path, the directory fsync'ed.
 * 0 or -errno (-ENOENT: no such directory, -EISDIR: path is a directory); the temporary file
 * is removed on failure. Not logged: the caller names what it was writing. */
int atomic_file__write_with(const char *path, atomic_file_fill_fn fill, void *ctx);
/* The same with len bytes from buf. */
int atomic_file__write(const char *path, const void *buf, size_t len);

#endif
