// SPDX-License-Identifier: MIT
/* Reading the CLI's inputs from files or from allocscoped (libcurl). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "fetch.h"
#include "util/log.h"

#define FETCH_MAX_BYTES (1ULL << 30)
#define FETCH_TIMEOUT_S 120 /* seconds= profiles take their time */

int cli_is_url(const char *src)
{
	return !strncmp(src, "http://", 7) || !strncmp(src, "https://", 8);
}

struct membuf {
	char *p;
	size_t len;
	size_t cap;
	int too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct membuf *m = ud;
	size_t n = size * nmemb;

	if (m->len + n + 1 > FETCH_MAX_BYTES) {
		m->too_big = 1;
		return 0;
	}
	if (m->len + n + 1 > m->cap) {
		size_t cap = m->cap ? m->cap : 65536;
		char *np;

		while (cap < m->len + n + 1)
			cap *= 2;
		np = realloc(m->p, cap);
		if (!np)
			return 0;
		m->p = np;
		m->cap = cap;
	}
	memcpy(m->p + m->len, ptr, n);
	m->len += n;
	m->p[m->len] = '\0';
	return n;
}

static int fetch_url(const char *url, void **buf, size_t *len)
{
	struct membuf m = {};
	long status = 0;
	CURLcode rc;
	CURL *c;
	int err = 0;

	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return -ENOMEM;
	c = curl_easy_init();
	if (!c)
		return -ENOMEM;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &m);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)FETCH_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		log_error("cannot fetch %s: %s", url,
			  m.too_big ? "more than 1 GiB" : curl_easy_strerror(rc));
		err = rc == CURLE_COULDNT_CONNECT	 ? -ECONNREFUSED
		      : rc == CURLE_COULDNT_RESOLVE_HOST ? -EHOSTUNREACH
		      : m.too_big			 ? -EFBIG
							 : -EIO;
		goto cleanup;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		/* The daemon answers errors with one line; other servers may send pages. */
		log_error("%s: HTTP %ld: %.*s", url, status, m.p ? (int)strcspn(m.p, "\r\n") : 0,
			  m.p ? m.p : "");
		err = status == 404 ? -ENOENT : -EIO;
		goto cleanup;
	}
	if (!m.p) {
		m.p = calloc(1, 1);
		if (!m.p) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	*buf = m.p;
	*len = m.len;
	m.p = NULL;
cleanup:
	free(m.p);
	curl_easy_cleanup(c);
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
	return cli_is_url(src) ? fetch_url(src, buf, len) : fetch_file(src, buf, len);
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
