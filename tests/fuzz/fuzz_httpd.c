// SPDX-License-Identifier: MIT
/* httpd__parse_query() on arbitrary query strings: a query is accepted whole or refused with a
 * reason, never half-applied, and what it accepts is within the documented ranges. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "service/httpd.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

static int is_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

static void check(const char *s, size_t err_len)
{
	/* Heap buffers of exactly err_len bytes, so that ASan sees a write past the end. */
	char *err = malloc(err_len ? err_len : 1);
	struct httpd_query q;
	int rc;

	if (!err)
		abort();
	memset(&q, 0xa5, sizeof(q));
	rc = httpd__parse_query(s, &q, err, err_len);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	if (err_len)
		FUZZ_CHECK(memchr(err, '\0', err_len));
	if (rc) {
		FUZZ_CHECK(is_zero(&q, sizeof(q)));
		if (rc == -EINVAL && err_len > 1)
			FUZZ_CHECK(err[0] != '\0' && !strchr(err, '\n'));
		free(err);
		return;
	}
	FUZZ_CHECK(q.sel >= HTTPD_SEL_ALL && q.sel <= HTTPD_SEL_CONTAINER);
	FUZZ_CHECK(memchr(q.value, '\0', sizeof(q.value)));
	if (q.sel == HTTPD_SEL_PID)
		FUZZ_CHECK(q.pid > 0);
	else
		FUZZ_CHECK(q.pid == 0);
	if (q.sel == HTTPD_SEL_EXE || q.sel == HTTPD_SEL_COMM || q.sel == HTTPD_SEL_CGROUP ||
	    q.sel == HTTPD_SEL_CONTAINER)
		FUZZ_CHECK(q.value[0] != '\0');
	/* A container ID or its prefix: hex digits only. */
	if (q.sel == HTTPD_SEL_CONTAINER)
		for (const char *c = q.value; *c; c++)
			FUZZ_CHECK(isxdigit((unsigned char)*c));
	FUZZ_CHECK(q.seconds >= 0);
	FUZZ_CHECK(q.gc == 0 || q.gc == 1);
	free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strdup(data, size);

	if (!s)
		return 0;
	check(s, 256);
	check(s, 7); /* a reason cut short */
	check(s, 0);
	free(s);
	return 0;
}
