/* SPDX-License-Identifier: MIT */
/* The one libcurl setup of allocscope and allocscoped: http and https only, bounded in time and
 * in body size, an optional bearer token, redirects never followed, errors as -errno and text. */
#ifndef ALLOCSCOPE_HTTP_CLIENT_H
#define ALLOCSCOPE_HTTP_CLIENT_H

#include <stddef.h>

struct http_request {
	const char *url;
	const void *body; /* POST this when non-NULL, else GET */
	size_t body_len;
	const char *content_type; /* of the body */
	const char *bearer_token; /* NULL: no Authorization header */
	const char *basic_user;	  /* with basic_password: HTTP basic auth (not with a bearer) */
	const char *basic_password;
	const char *const *headers; /* more "Name: value" lines, NULL-terminated; or NULL */
	const int *abort_flag;	    /* the exchange ends (-ECANCELED) once *abort_flag is set */
	long timeout_ms;	    /* the whole exchange; 0: no bound */
	long connect_timeout_ms;    /* 0: libcurl's default */
	size_t max_body_bytes;	    /* the answer kept up to this; 0: the answer is discarded */
	int connect_only;	    /* only connect: is anything listening? */
};

struct http_response {
	long status; /* the HTTP status; 0 with connect_only */
	char *body;  /* malloc'ed and NUL-terminated beyond len; NULL when discarded or empty */
	size_t len;
	char error[256]; /* why the exchange failed, one line */
};

struct http_client;

/* NULL and errno on failure. One client may serve requests one after the other. */
struct http_client *http_client__new(void);
void http_client__free(struct http_client *c);

/* 0 when an answer came (of any status, in rsp->status), else -errno with rsp->error set:
 * -ECONNREFUSED nothing listens, -EHOSTUNREACH the host name does not resolve, -ETIMEDOUT,
 * -EFBIG the answer is longer than max_body_bytes, -ECANCELED *abort_flag was set, -ENOMEM,
 * -EIO anything else. Not logged; rsp->error never holds a credential.
 * Free rsp->body in every case. */
int http_client__send(struct http_client *c, const struct http_request *rq,
		      struct http_response *rsp);
/* A single request on a client of its own. */
int http_send(const struct http_request *rq, struct http_response *rsp);

/* s escaped for a URL's query, malloc'ed; NULL and errno on failure. */
char *http_escape(const char *s);
/* url without the "user:password@" of its authority, malloc'ed, for logs; NULL and errno on
 * failure. */
char *http_redact_url(const char *url);
/* Whether url carries "user[:password]@" in its authority. */
int http_url_has_userinfo(const char *url);
/* Whether s is an http:// or https:// URL. */
int http_is_url(const char *s);

#endif
