// SPDX-License-Identifier: MIT
/* Helpers shared by the fuzz targets: logging set-up and the temporary input file. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "util/log.h"

static char tmp_path[PATH_MAX];

void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
	abort();
}

static void remove_tmp(void)
{
	if (tmp_path[0])
		unlink(tmp_path);
}

void fuzz_init(void)
{
	log_set_prefix("fuzz");
	log_set_level(LOG_LVL_DEBUG);
	/* libdwfl may ask a debuginfod server for missing debug files: never from a fuzzer. */
	unsetenv("DEBUGINFOD_URLS");
}

static void make_tmp(void)
{
	const char *dir = getenv("TMPDIR");
	int fd, n;

	if (!dir || !*dir)
		dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	n = snprintf(tmp_path, sizeof(tmp_path), "%s/allocscope-fuzz-XXXXXX", dir);
	if (n < 0 || (size_t)n >= sizeof(tmp_path))
		fuzz_fail(__FILE__, __LINE__, "temporary path too long");
	fd = mkstemp(tmp_path);
	if (fd < 0) {
		fprintf(stderr, "cannot create %s: %s\n", tmp_path, strerror(errno));
		abort();
	}
	close(fd);
	atexit(remove_tmp);
}

const char *fuzz_write_tmp(const uint8_t *data, size_t size)
{
	size_t done = 0;
	ssize_t n;
	int fd;

	if (!tmp_path[0])
		make_tmp();
	/* A new file each time: the modules under test cache by inode and mtime. */
	unlink(tmp_path);
	fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "cannot create %s: %s\n", tmp_path, strerror(errno));
		abort();
	}
	while (done < size) {
		n = write(fd, data + done, size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "cannot write %s: %s\n", tmp_path, strerror(errno));
			abort();
		}
		done += n;
	}
	close(fd);
	return tmp_path;
}

char *fuzz_strdup(const uint8_t *data, size_t size)
{
	char *s;

	if (memchr(data, '\0', size))
		return NULL;
	s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}
