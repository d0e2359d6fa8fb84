// SPDX-License-Identifier: MIT
/* The HTTP API's query parameters, validated one pair at a time (see http_query.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"
#include "service/http_query.h"

#define MAX_SHOWN_BYTES 40

enum query_key {
	QK_PID,
	QK_EXE,
	QK_COMM,
	QK_CGROUP,
	QK_CONTAINER,
	QK_SECONDS,
	QK_GC,
	QK_DEBUG,
	QK_SNAPSHOT,
	QK_CNT,
};

static const char *const query_keys[QK_CNT] = {
    [QK_PID] = "pid",	    [QK_EXE] = "exe",		[QK_COMM] = "comm",
    [QK_CGROUP] = "cgroup", [QK_SECONDS] = "seconds",	[QK_GC] = "gc",
    [QK_DEBUG] = "debug",   [QK_SNAPSHOT] = "snapshot", [QK_CONTAINER] = "container",
};

static const enum httpd_selector query_sels[] = {
    [QK_PID] = HTTPD_SEL_PID,
    [QK_EXE] = HTTPD_SEL_EXE,
    [QK_COMM] = HTTPD_SEL_COMM,
    [QK_CGROUP] = HTTPD_SEL_CGROUP,
    [QK_CONTAINER] = HTTPD_SEL_CONTAINER,
};

const char *http_query__shown(const char *s, size_t len, char *buf, size_t buf_len)
{
	size_t i, n = min_t(size_t, len, buf_len - 4);

	for (i = 0; i < n; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (n < len)
		memcpy(buf + i, "...", 4);
	else
		buf[i] = '\0';
	return buf;
}

int http_query__fail(struct http_query_state *st, const char *fmt, ...)
{
	va_list ap;

	if (st->err && st->err_len) {
		va_start(ap, fmt);
		vsnprintf(st->err, st->err_len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int http_query__parse_uint(const char *s, size_t len, long min, long max, int *out)
{
	long v = 0;

	/* Ten digits cannot overflow a long; anything longer is out of every range here. */
	if (!len || len > 10)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	if (v < min || v > max)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

/* Validate one decoded key/value pair; shared by httpd__parse_query and the request handler so
 * that the unit tests of the former cover what the server accepts. Both hold len bytes. */
int http_query__add(struct http_query_state *st, const char *key, size_t key_len, const char *val,
		    size_t val_len)
{
	struct httpd_query *q = st->q;
	char buf[MAX_SHOWN_BYTES];
	const char *name;
	int k;

	for (k = 0; k < QK_CNT; k++)
		if (strlen(query_keys[k]) == key_len && memcmp(query_keys[k], key, key_len) == 0)
			break;
	if (k == QK_CNT)
		return http_query__fail(st, "unknown parameter \"%s\"",
					http_query__shown(key, key_len, buf, sizeof(buf)));
	name = query_keys[k];
	if (st->seen_mask & (1u << k))
		return http_query__fail(st, "parameter %s given more than once", name);
	st->seen_mask |= 1u << k;
	if (!val_len)
		return http_query__fail(st, "parameter %s has an empty value", name);
	if (val_len >= HTTPD_MAX_SELECTOR)
		return http_query__fail(st, "parameter %s is longer than %d bytes", name,
					HTTPD_MAX_SELECTOR - 1);
	if (memchr(val, '\0', val_len))
		return http_query__fail(st, "parameter %s contains a NUL byte", name);

	switch (k) {
	case QK_PID:
	case QK_EXE:
	case QK_COMM:
	case QK_CGROUP:
	case QK_CONTAINER:
		if (q->sel != HTTPD_SEL_ALL)
			return http_query__fail(
			    st, "only one of pid, exe, comm, cgroup, container may be given");
		if (k == QK_CONTAINER) {
			size_t i = 0;

			while (i < val_len && hex_digit_val(val[i]) >= 0)
				i++;
			if (i < val_len || val_len > 64)
				return http_query__fail(
				    st,
				    "container must be a container ID or its prefix: hex digits");
		}
		q->sel = query_sels[k];
		if (k == QK_PID && http_query__parse_uint(val, val_len, 1, HTTPD_MAX_PID, &q->pid))
			return http_query__fail(st, "pid must be an integer in 1..%d",
						HTTPD_MAX_PID);
		if (k != QK_PID) {
			memcpy(q->value, val, val_len);
			q->value[val_len] = '\0';
		}
		return 0;
	case QK_SECONDS:
		if (http_query__parse_uint(val, val_len, 1, HTTPD_MAX_SECONDS, &q->seconds))
			return http_query__fail(st, "seconds must be an integer in 1..%d",
						HTTPD_MAX_SECONDS);
		return 0;
	case QK_GC:
		if (http_query__parse_uint(val, val_len, 0, 1, &q->gc))
			return http_query__fail(st, "gc must be 0 or 1");
		return 0;
	case QK_DEBUG:
		if (val_len != 1 || val[0] != '0')
			return http_query__fail(st, "only debug=0 (protobuf) is served");
		return 0;
	case QK_SNAPSHOT:
		/* Snapshot IDs: digits, lower-case letters and '-' (service/snapshot.h). */
		if (val_len >= sizeof(q->snapshot) || val[0] == '-')
			return http_query__fail(st, "snapshot is not a snapshot ID");
		for (size_t i = 0; i < val_len; i++)
			if (!((val[i] >= '0' && val[i] <= '9') ||
			      (val[i] >= 'a' && val[i] <= 'z') || val[i] == '-'))
				return http_query__fail(st, "snapshot is not a snapshot ID");
		memcpy(q->snapshot, val, val_len);
		q->snapshot[val_len] = '\0';
		return 0;
	}
	return http_query__fail(st, "unknown parameter \"%s\"", name);
}

/* Decode %XX and '+' in place; the result is never longer than the input. */
static int url_decode(char *s, size_t len, size_t *out_len)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '+') {
			s[o++] = ' ';
		} else if (s[i] == '%') {
			if (i + 2 >= len)
				return -EINVAL;
			if (hex_digit_val(s[i + 1]) < 0 || hex_digit_val(s[i + 2]) < 0)
				return -EINVAL;
			s[o++] = (char)(hex_digit_val(s[i + 1]) << 4 | hex_digit_val(s[i + 2]));
			i += 2;
		} else {
			s[o++] = s[i];
		}
	}
	*out_len = o;
	return 0;
}

int httpd__parse_query(const char *query, struct httpd_query *q, char *err, size_t err_len)
{
	struct http_query_state st = {.q = q, .err = err, .err_len = err_len};
	char *copy = NULL, *seg, *next, *eq;
	size_t key_len, val_len;
	char buf[MAX_SHOWN_BYTES];
	int err_no = 0;

	memset(q, 0, sizeof(*q));
	if (err && err_len)
		err[0] = '\0';
	if (!query || !*query)
		return 0;
	if (strlen(query) > HTTPD_MAX_URI_BYTES)
		return http_query__fail(&st, "query longer than %d bytes", HTTPD_MAX_URI_BYTES);
	copy = strdup(query);
	if (!copy)
		return -ENOMEM;

	for (seg = copy; seg; seg = next) {
		next = strchr(seg, '&');
		if (next)
			*next++ = '\0';
		/* "a=1&&b=2", a trailing '&': empty pairs carry nothing, as in Go's ParseQuery. */
		if (!*seg)
			continue;
		eq = strchr(seg, '=');
		if (eq)
			*eq++ = '\0';
		if (url_decode(seg, strlen(seg), &key_len)) {
			err_no =
			    http_query__fail(&st, "malformed %%-escape in parameter name \"%s\"",
					     http_query__shown(seg, strlen(seg), buf, sizeof(buf)));
			goto cleanup;
		}
		val_len = 0;
		if (eq && url_decode(eq, strlen(eq), &val_len)) {
			err_no =
			    http_query__fail(&st, "malformed %%-escape in parameter %s",
					     http_query__shown(seg, key_len, buf, sizeof(buf)));
			goto cleanup;
		}
		err_no = http_query__add(&st, seg, key_len, eq ? eq : "", val_len);
		if (err_no)
			goto cleanup;
	}

cleanup:
	free(copy);
	if (err_no)
		memset(q, 0, sizeof(*q));
	return err_no;
}
