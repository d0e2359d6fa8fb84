// SPDX-License-Identifier: MIT
/* Pyroscope ingest over util/http_client. Credentials live in the pusher only: they are never
 * logged, never put in an error text, and never sent to a redirect (none is followed). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/http_client.h"
#include "util/log.h"
#include "util/small_file.h"
#include "service/push.h"

#define PUSH_AUTH_FILE_MAX 4096

struct pusher {
	struct http_client *http;
	char *base;	/* with any credentials of the URL: for requests only */
	char *redacted; /* for logs */
	char *tenant_header;
	struct push_auth auth;
	long timeout_ms;
	long last_error; /* -errno or the HTTP status: not logged again while it repeats */
};

void push_request__free(struct push_request *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->body);
	free(r);
}

int push_auth__parse(const char *text, struct push_auth *out)
{
	const char *p = text, *v;
	size_t n, kw;

	*out = (struct push_auth){};
	while (isspace((unsigned char)*p))
		p++;
	kw = strcspn(p, " \t");
	v = p + kw;
	while (*v == ' ' || *v == '\t')
		v++;
	n = strcspn(v, "\r\n");
	while (n && isspace((unsigned char)v[n - 1]))
		n--;
	/* One line: anything after it is a mistake, not a second credential. */
	for (const char *r = v + n; *r; r++)
		if (!isspace((unsigned char)*r))
			return -EINVAL;
	if (!n)
		return -EINVAL;
	if (kw == 6 && !strncasecmp(p, "bearer", 6)) {
		if (n >= sizeof(out->secret) || memchr(v, ' ', n))
			return -EINVAL;
		out->kind = PUSH_AUTH_BEARER;
		memcpy(out->secret, v, n);
		return 0;
	}
	if (kw == 5 && !strncasecmp(p, "basic", 5)) {
		const char *colon = memchr(v, ':', n);

		if (!colon || colon == v || (size_t)(colon - v) >= sizeof(out->user) ||
		    n - (colon - v) - 1 >= sizeof(out->secret))
			return -EINVAL;
		out->kind = PUSH_AUTH_BASIC;
		memcpy(out->user, v, colon - v);
		memcpy(out->secret, colon + 1, n - (colon - v) - 1);
		return 0;
	}
	return -EINVAL;
}

int push_auth__read(const char *path, struct push_auth *out)
{
	char *buf = NULL;
	size_t len = 0;
	mode_t mode;
	int err;

	err = small_file__read("--push-auth-file", path, PUSH_AUTH_FILE_MAX, &buf, &len, &mode);
	if (err)
		return err;
	if (mode & S_IROTH)
		log_warn("--push-auth-file %s can be read by every user", path);
	err = push_auth__parse(buf, out);
	if (err)
		log_error("--push-auth-file %s: expected one line, \"basic USER:PASSWORD\" or "
			  "\"bearer TOKEN\"",
			  path);
	explicit_bzero(buf, len);
	free(buf);
	return err;
}

static void strip_slashes(char *s)
{
	size_t n = strlen(s);

	while (n && s[n - 1] == '/')
		s[--n] = '\0';
}

struct pusher *pusher__new(const struct pusher_opts *opts)
{
	struct pusher *p;

	if (!http_is_url(opts->url)) {
		char *r = http_redact_url(opts->url);

		log_error("--push: '%s' is not an http:// or https:// URL", r ?: "?");
		free(r);
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->timeout_ms = opts->timeout_ms;
	p->base = strdup(opts->url);
	p->redacted = http_redact_url(opts->url);
	p->http = http_client__new();
	if (!p->base || !p->redacted || !p->http ||
	    (opts->tenant && asprintf(&p->tenant_header, "X-Scope-OrgID: %s", opts->tenant) < 0)) {
		p->tenant_header = NULL;
		pusher__free(p);
		errno = ENOMEM;
		return NULL;
	}
	if (opts->auth_file && push_auth__read(opts->auth_file, &p->auth)) {
		pusher__free(p);
		errno = EINVAL;
		return NULL;
	}
	if (http_url_has_userinfo(opts->url))
		log_warn("--push %s: credentials in the URL show in the command line; "
			 "--push-auth-file keeps them out of it",
			 p->redacted);
	strip_slashes(p->base);
	strip_slashes(p->redacted);
	return p;
}

void pusher__free(struct pusher *p)
{
	if (!p)
		return;
	http_client__free(p->http);
	if (p->base)
		explicit_bzero(p->base, strlen(p->base));
	free(p->base);
	free(p->redacted);
	free(p->tenant_header);
	explicit_bzero(&p->auth, sizeof(p->auth));
	free(p);
}

const char *pusher__url(const struct pusher *p)
{
	return p->redacted;
}

/* Log a failure once while it repeats (key: -errno or the HTTP status; the text may vary, e.g.
 * by the milliseconds waited): a dead receiver must not flood the log. */
static void failed(struct pusher *p, long key, const char *why)
{
	if (p->last_error == key)
		return;
	p->last_error = key;
	log_warn("push to %s: %s", p->redacted, why);
}

enum push_result pusher__send(struct pusher *p, const struct push_request *r, const int *abort_flag)
{
	const char *headers[] = {p->tenant_header, NULL};
	struct http_response rsp = {};
	enum push_result res = PUSH_SENT;
	char *esc = NULL, *url = NULL, why[96];
	int err;

	esc = http_escape(r->name);
	if (!esc ||
	    asprintf(&url, "%s/ingest?name=%s&from=%llu&until=%llu&format=pprof", p->base, esc,
		     (unsigned long long)r->from_s, (unsigned long long)r->until_s) < 0) {
		url = NULL;
		failed(p, -ENOMEM, strerror(ENOMEM));
		res = PUSH_RETRY;
		goto cleanup;
	}
	err = http_client__send(
	    p->http,
	    &(struct http_request){
		.url = url,
		.body = r->body,
		.body_len = r->len,
		.content_type = "application/octet-stream",
		.bearer_token = p->auth.kind == PUSH_AUTH_BEARER ? p->auth.secret : NULL,
		.basic_user = p->auth.kind == PUSH_AUTH_BASIC ? p->auth.user : NULL,
		.basic_password = p->auth.secret,
		.headers = p->tenant_header ? headers : NULL,
		.timeout_ms = p->timeout_ms,
		.connect_timeout_ms = p->timeout_ms,
		.abort_flag = abort_flag,
	    },
	    &rsp);
	if (err == -ECANCELED) {
		res = PUSH_ABORTED;
	} else if (err) {
		failed(p, err, rsp.error);
		res = PUSH_RETRY;
	} else if (rsp.status < 200 || rsp.status > 299) {
		/* Pyroscope answers 429 when over its rate limit and 5xx while it cannot store. */
		res = rsp.status == 429 || rsp.status >= 500 ? PUSH_RETRY : PUSH_REFUSED;
		snprintf(why, sizeof(why), "HTTP %ld%s", rsp.status,
			 rsp.status >= 300 && rsp.status < 400 ? " (redirects are not followed)"
			 : res == PUSH_REFUSED		       ? ", the profile is dropped"
							       : "");
		failed(p, rsp.status, why);
	} else {
		p->last_error = 0;
	}
cleanup:
	free(rsp.body);
	free(esc);
	free(url);
	return res;
}
