// SPDX-License-Identifier: MIT
/* One reader for the small files the daemon is configured with: tokens, TLS keys and
 * certificates, push credentials. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "util/small_file.h"

int small_file__read(const char *what, const char *path, size_t max_bytes, char **out,
		     size_t *out_len, mode_t *mode)
{
	char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int fd = -1, err = 0;
	ssize_t n;

	/* O_NONBLOCK: a FIFO put at the path must not hang the open. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		err = -errno;
		log_error("%s: cannot open %s: %s", what, path, strerror(errno));
		goto cleanup;
	}
	if (fstat(fd, &st)) {
		err = -errno;
		log_error("%s: cannot stat %s: %s", what, path, strerror(errno));
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max_bytes) {
		err = -EINVAL;
		log_error("%s: %s is not a regular file of at most %zu bytes", what, path,
			  max_bytes);
		goto cleanup;
	}
	buf = malloc(st.st_size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	while (len < (size_t)st.st_size) {
		n = read(fd, buf + len, st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			log_error("%s: cannot read %s: %s", what, path, strerror(errno));
			goto cleanup;
		}
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	if (mode)
		*mode = st.st_mode;
	buf = NULL;

cleanup:
	if (buf) {
		/* It may have held a secret. */
		explicit_bzero(buf, len);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	return err;
}
