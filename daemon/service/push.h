/* SPDX-License-Identifier: MIT */
/* Pushing profiles to Grafana Pyroscope's ingest API (POST /ingest?name=SERVICE{labels}&from=&
 * until=&format=pprof) with libcurl: the tenant header, basic or bearer credentials read from a
 * file, one request bounded in time and told apart as sent, worth retrying, or refused. */
#ifndef ALLOCSCOPE_PUSH_H
#define ALLOCSCOPE_PUSH_H

#include <stddef.h>
#include <linux/types.h>

enum push_auth_kind {
	PUSH_AUTH_NONE,
	PUSH_AUTH_BASIC,
	PUSH_AUTH_BEARER,
};

/* What --push-auth-file holds: one line, "basic USER:PASSWORD" or "bearer TOKEN". */
struct push_auth {
	enum push_auth_kind kind;
	char user[256];
	char secret[2048]; /* the password or the token */
};

/* Parse the text of an auth file. 0, or -EINVAL (nothing of the text is logged). */
int push_auth__parse(const char *text, struct push_auth *out);
/* Read and parse FILE: a regular file of at most 4 KiB. 0 or -errno, the reason logged. */
int push_auth__read(const char *path, struct push_auth *out);

struct pusher_opts {
	const char *url;       /* "http://host:4040" (a trailing slash is fine) */
	const char *tenant;    /* X-Scope-OrgID; NULL: none */
	const char *auth_file; /* NULL: no credentials (besides any in the URL) */
	long timeout_ms;       /* one request, connection included */
};

/* One profile to push: what the queue holds. */
struct push_request {
	char *name; /* "service{labels}", malloc'ed */
	__u64 from_s;
	__u64 until_s;
	void *body; /* gzipped pprof, malloc'ed */
	size_t len;
};

void push_request__free(struct push_request *r); /* the request and what it holds; NULL ok */

enum push_result {
	PUSH_SENT,
	PUSH_RETRY,   /* no answer, a timeout, 429 or 5xx: the same request may succeed later */
	PUSH_REFUSED, /* any other answer: sending it again would not help */
	PUSH_ABORTED, /* *abort_flag was set */
};

struct pusher;

/* NULL and errno on failure (logged; never with a credential). */
struct pusher *pusher__new(const struct pusher_opts *opts);
void pusher__free(struct pusher *p);
/* The URL as logs may show it: without credentials. */
const char *pusher__url(const struct pusher *p);

/* POST r. Only one thread may send through a pusher. Failures are logged at most once per
 * distinct reason in a row, with the URL's credentials removed. */
enum push_result pusher__send(struct pusher *p, const struct push_request *r,
			      const int *abort_flag);

#endif
