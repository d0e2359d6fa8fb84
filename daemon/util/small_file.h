/* SPDX-License-Identifier: MIT */
/* Reading a whole small file that may hold a secret (a bearer token, TLS key, push credentials):
 * a regular file of bounded size, opened so that a FIFO cannot block, wiped when not handed out. */
#ifndef ALLOCSCOPE_SMALL_FILE_H
#define ALLOCSCOPE_SMALL_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* The file's bytes, NUL-terminated, into *out (malloc'ed; the caller wipes and frees them) and
 * its length; its mode into *mode unless NULL. 0, or -errno (-EINVAL: not a regular file of at
 * most max_bytes), the reason logged with what names the file ("httpd", "--push-auth-file"). */
int small_file__read(const char *what, const char *path, size_t max_bytes, char **out,
		     size_t *out_len, mode_t *mode);

#endif
