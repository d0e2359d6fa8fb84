/* SPDX-License-Identifier: MIT */
/* Where the CLI's inputs come from: a file, or a running allocscoped over HTTP. */
#ifndef ALLOCSCOPE_CLI_FETCH_H
#define ALLOCSCOPE_CLI_FETCH_H

#include <stddef.h>
#include <linux/types.h>

#include "profile/pprof.h"
#include "profile/pprof_decode.h"

/* The daemon's address when --daemon is not given. */
#define CLI_DEFAULT_DAEMON "http://127.0.0.1:6464"

/* The bytes of a file or of an HTTP(S) GET (status 200 only; the body of an error answer is
 * logged, as the daemon's one-line reason). malloc'ed into *buf, NUL-terminated beyond *len.
 * 0 or -errno: -ENOENT missing file, -ECONNREFUSED/-EHOSTUNREACH unreachable daemon, -EIO a
 * non-200 answer. A bound of 1 GiB applies. */
int cli_fetch(const char *src, void **buf, size_t *len);

/* A pprof profile from a file or URL; NULL and errno (EBADMSG: not a pprof profile). The
 * error is logged once, naming src. */
struct pprof_profile *cli_load_profile(const char *src);

#endif
