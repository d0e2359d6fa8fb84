// SPDX-License-Identifier: MIT
/* The one atomic file writer: temporary file in the same directory, fsync, rename, fsync of the
 * directory. Used for profiles, timelines and pictures. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/atomic_file.h"
#include "util/log.h"

/* Makes a rename in the directory of path durable; the file itself was already synced. */
static void sync_parent_dir(const char *path)
{
	char *dir = strdup(path);
	char *slash;
	int fd;

	if (!dir)
		return;
	slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd))
			log_warn("cannot sync directory %s: %s", dir, strerror(errno));
		close(fd);
	}
	free(dir);
}

int atomic_file__write_with(const char *path, atomic_file_fill_fn fill, void *ctx)
{
	char *tmp = NULL;
	FILE *f = NULL;
	int fd = -1, err = 0;

	if (!path || !*path)
		return -EINVAL;
	/* Appending to the last component keeps the temporary file in the same directory (and
	 * file system) as path, so that rename() replaces the old file atomically. */
	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		free(tmp);
		return err;
	}
	/* mkostemp() creates 0600; profiles and pictures are meant to be read by others. */
	if (fchmod(fd, 0644)) {
		err = -errno;
		goto cleanup;
	}
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		goto cleanup;
	}
	fd = -1; /* the stream owns it now */
	err = fill(ctx, f);
	if (err)
		goto cleanup;
	/* Without the fsync a crash after the rename could leave an empty or partial file. */
	errno = 0;
	if (fflush(f) || ferror(f) || fsync(fileno(f))) {
		err = errno ? -errno : -EIO;
		goto cleanup;
	}
	err = fclose(f) ? -errno : 0;
	f = NULL;
	if (err)
		goto cleanup;
	if (rename(tmp, path)) {
		err = -errno;
		goto cleanup;
	}
	sync_parent_dir(path);
cleanup:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (err)
		unlink(tmp);
	free(tmp);
	return err;
}

struct bytes {
	const void *buf;
	size_t len;
};

static int fill_bytes(void *ctx, FILE *f)
{
	const struct bytes *b = ctx;

	errno = 0;
	if (b->len && fwrite(b->buf, 1, b->len, f) != b->len)
		return errno ? -errno : -EIO;
	return 0;
}

int atomic_file__write(const char *path, const void *buf, size_t len)
{
	struct bytes b = {.buf = buf, .len = len};

	return atomic_file__write_with(path, fill_bytes, &b);
}
