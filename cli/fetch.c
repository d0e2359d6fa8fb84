// SPDX-License-Identifier: MIT
/* Reading the CLI's inputs from files or from allocscoped (util/http_client). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fetch.h"
#include "util/http_client.h"
#include "util/log.h"
#include "profile/pprof_decode.h"

#define FETCH_MAX_BYTES (1ULL << 30)
#define FETCH_TIMEOUT_S 120 /* seconds= profiles take their time */

static int fetch_url(const char *url, void **buf, size_t *len)
{
	struct http_response rsp;
	int err;

	err = http_send(
	    &(struct http_request){
		.url = url,
		.timeout_ms = FETCH_TIMEOUT_S * 1000L,
		.connect_timeout_ms = 5000,
		.max_body_bytes = FETCH_MAX_BYTES,
	    },
	    &rsp);
	if (err) {
		log_error("cannot fetch %s: %s", url,
			  err == -EFBIG ? "more than 1 GiB" : rsp.error);
		if (err != -ECONNREFUSED && err != -EHOSTUNREACH && err != -EFBIG)
			err = -EIO;
		goto cleanup;
	}
	if (rsp.status != 200) {
		/* The daemon answers errors with one line; other servers may send pages. */
		log_error("%s: HTTP %ld: %.*s", url, rsp.status,
			  rsp.body ? (int)strcspn(rsp.body, "\r\n") : 0, rsp.body ?: "");
		err = rsp.status == 404 ? -ENOENT : -EIO;
		goto cleanup;
	}
	if (!rsp.body) {
		rsp.body = calloc(1, 1);
		if (!rsp.body) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	*buf = rsp.body;
	*len = rsp.len;
	rsp.body = NULL;
cleanup:
	free(rsp.body);
	return err;
}

static int fetch_file(const char *path, void **buf, size_t *len)
{
	struct stat st;
	char *p = NULL;
	size_t off = 0;
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		log_error("cannot read %s: %s", path, strerror(-err));
		return err;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (__u64)st.st_size > FETCH_MAX_BYTES) {
		err = errno && !S_ISREG(st.st_mode) ? -errno : -EINVAL;
		log_error("cannot read %s: not a regular file of at most 1 GiB", path);
		goto cleanup;
	}
	p = malloc(st.st_size + 1);
	if (!p) {
		err = -ENOMEM;
		goto cleanup;
	}
	while (off < (size_t)st.st_size && (n = read(fd, p + off, st.st_size - off)) > 0)
		off += n;
	p[off] = '\0';
	*buf = p;
	*len = off;
	p = NULL;
cleanup:
	free(p);
	close(fd);
	return err;
}

int cli_fetch(const char *src, void **buf, size_t *len)
{
	return http_is_url(src) ? fetch_url(src, buf, len) : fetch_file(src, buf, len);
}

struct pprof_profile *cli_load_profile(const char *src)
{
	struct pprof_profile *p;
	void *buf = NULL;
	size_t len = 0;
	int err;

	err = cli_fetch(src, &buf, &len);
	if (err) {
		errno = -err;
		return NULL;
	}
	p = pprof__decode(buf, len);
	err = errno;
	free(buf);
	if (!p) {
		log_error("%s is not a pprof profile (%s)", src, strerror(err));
		errno = err;
	}
	return p;
}
