/* SPDX-License-Identifier: MIT */
/* Validation of the HTTP API's query parameters (pid, exe, comm, cgroup, seconds, gc, debug,
 * snapshot): one
 * decoded key/value pair at a time, so that httpd__parse_query (unit-tested, fuzzed) and the
 * server's own argument iterator accept exactly the same queries. */
#ifndef ALLOCSCOPE_HTTP_QUERY_H
#define ALLOCSCOPE_HTTP_QUERY_H

#include <stddef.h>

#include "service/httpd.h"

struct http_query_state {
	struct httpd_query *q;
	/* One bit per parameter: a repeated key is an error, not "last wins". */
	unsigned int seen_mask;
	char *err;
	size_t err_len;
};

/* Validates one pair (both hold len bytes, not NUL-terminated) into st->q; -EINVAL with the
 * reason in st->err otherwise. */
int http_query__add(struct http_query_state *st, const char *key, size_t key_len, const char *val,
		    size_t val_len);
/* Writes the reason into st->err; always returns -EINVAL. */
__attribute__((format(printf, 2, 3))) int http_query__fail(struct http_query_state *st,
							   const char *fmt, ...);
/* Client-supplied bytes for an error line: printable ASCII only, cut to fit buf (>= 4 bytes). */
const char *http_query__shown(const char *s, size_t len, char *buf, size_t buf_len);
/* A decimal integer of len bytes (no sign, at most ten digits) in [min, max]; -EINVAL otherwise. */
int http_query__parse_uint(const char *s, size_t len, long min, long max, int *out);

#endif
