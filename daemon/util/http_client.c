// SPDX-License-Identifier: MIT
/* HTTP requests through libcurl, set up in one place for the CLI's fetches and probes and the
 * daemon's Pyroscope push. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "util/http_client.h"

struct http_client {
	CURL *curl;
};

struct http_client *http_client__new(void)
{
	struct http_client *c;

	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		errno = ENOMEM;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->curl = curl_easy_init();
	if (!c->curl) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	return c;
}

void http_client__free(struct http_client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	free(c);
}

struct sink {
	struct http_response *rsp;
	size_t max;
	size_t cap;
	int too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct sink *k = ud;
	struct http_response *r = k->rsp;
	size_t n = size * nmemb;

	if (!k->max)
		return n;
	if (r->len + n + 1 > k->max) {
		k->too_big = 1;
		return 0;
	}
	if (r->len + n + 1 > k->cap) {
		size_t cap = k->cap ? k->cap : 65536;
		char *np;

		while (cap < r->len + n + 1)
			cap *= 2;
		np = realloc(r->body, cap);
		if (!np)
			return 0;
		r->body = np;
		k->cap = cap;
	}
	memcpy(r->body + r->len, ptr, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

static int errno_of(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	default:
		return -EIO;
	}
}

/* "name value" appended to *hdrs; nothing when value is NULL. 0 or -ENOMEM. */
static int add_header(struct curl_slist **hdrs, const char *name, const char *value)
{
	struct curl_slist *h;
	char *line;

	if (!value)
		return 0;
	if (asprintf(&line, "%s%s", name, value) < 0)
		return -ENOMEM;
	h = curl_slist_append(*hdrs, line); /* copies line */
	free(line);
	if (!h)
		return -ENOMEM;
	*hdrs = h;
	return 0;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return __atomic_load_n((const int *)ud, __ATOMIC_RELAXED) != 0;
}

int http_client__send(struct http_client *c, const struct http_request *rq,
		      struct http_response *rsp)
{
	struct sink k = {.rsp = rsp, .max = rq->max_body_bytes};
	struct curl_slist *hdrs = NULL;
	CURLcode rc;
	CURL *e = c->curl;
	int err = 0;

	*rsp = (struct http_response){};
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, rq->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	/* A redirect would carry the token to wherever it points: answers are taken as they are. */
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	if (rq->timeout_ms)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, rq->timeout_ms);
	if (rq->connect_timeout_ms)
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, rq->connect_timeout_ms);
	if (rq->connect_only)
		curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
	if (rq->abort_flag) {
		/* Called about once a second while stalled, more often while data flows. */
		curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(e, CURLOPT_XFERINFODATA, (void *)rq->abort_flag);
	}
	if (rq->basic_user && !rq->bearer_token) {
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERNAME, rq->basic_user);
		curl_easy_setopt(e, CURLOPT_PASSWORD, rq->basic_password ?: "");
	}
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &k);
	if (rq->body) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
	}
	err = add_header(&hdrs, "Content-Type: ", rq->content_type)
		  ?: add_header(&hdrs, "Authorization: Bearer ", rq->bearer_token);
	for (size_t i = 0; !err && rq->headers && rq->headers[i]; i++)
		err = add_header(&hdrs, "", rq->headers[i]);
	if (err)
		goto cleanup;
	if (hdrs)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(e);
	if (rc != CURLE_OK) {
		if (k.too_big) {
			snprintf(rsp->error, sizeof(rsp->error), "more than %zu bytes", k.max);
			err = -EFBIG;
		} else {
			snprintf(rsp->error, sizeof(rsp->error), "%s", curl_easy_strerror(rc));
			err = errno_of(rc);
		}
		goto cleanup;
	}
	if (!rq->connect_only)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &rsp->status);
cleanup:
	if (err == -ENOMEM && !rsp->error[0])
		snprintf(rsp->error, sizeof(rsp->error), "%s", strerror(ENOMEM));
	/* The handle keeps option pointers: none may point at freed headers. */
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	return err;
}

int http_send(const struct http_request *rq, struct http_response *rsp)
{
	struct http_client *c = http_client__new();
	int err;

	if (!c) {
		*rsp = (struct http_response){};
		snprintf(rsp->error, sizeof(rsp->error), "%s", strerror(errno));
		return -ENOMEM;
	}
	err = http_client__send(c, rq, rsp);
	http_client__free(c);
	return err;
}

char *http_escape(const char *s)
{
	char *esc = curl_easy_escape(NULL, s, 0), *copy;

	if (!esc) {
		errno = ENOMEM;
		return NULL;
	}
	copy = strdup(esc);
	curl_free(esc);
	return copy;
}

/* Where the authority of an http(s) URL starts and ends (before its path, query or fragment). */
static const char *authority(const char *url, const char **end)
{
	const char *a = strstr(url, "://");

	a = a ? a + 3 : url;
	*end = a + strcspn(a, "/?#");
	return a;
}

int http_url_has_userinfo(const char *url)
{
	const char *end, *a = authority(url, &end);
	const char *at = memchr(a, '@', end - a);

	return at != NULL;
}

char *http_redact_url(const char *url)
{
	const char *end, *a = authority(url, &end), *at = NULL;
	char *out;

	/* The last '@' of the authority ends the userinfo: a password may hold another. */
	for (const char *p = a; p < end; p++)
		if (*p == '@')
			at = p;
	if (asprintf(&out, "%.*s%s", (int)(a - url), url, at ? at + 1 : a) < 0) {
		errno = ENOMEM;
		return NULL;
	}
	return out;
}

int http_is_url(const char *s)
{
	return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8);
}
