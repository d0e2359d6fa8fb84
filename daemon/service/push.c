// SPDX-License-Identifier: MIT
/* Pyroscope ingest over util/http_client: one POST per target and interval, bounded in time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/http_client.h"
#include "util/log.h"
#include "service/push.h"

#define PUSH_TIMEOUT_S 10

struct pusher {
	struct http_client *http;
	char *base;
};

struct pusher *pusher__new(const char *base_url)
{
	struct pusher *p;
	size_t n;

	if (!http_is_url(base_url)) {
		log_error("--push: '%s' is not an http:// or https:// URL", base_url);
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->base = strdup(base_url);
	p->http = http_client__new();
	if (!p->base || !p->http) {
		pusher__free(p);
		errno = ENOMEM;
		return NULL;
	}
	n = strlen(p->base);
	while (n && p->base[n - 1] == '/')
		p->base[--n] = '\0';
	return p;
}

void pusher__free(struct pusher *p)
{
	if (!p)
		return;
	http_client__free(p->http);
	free(p->base);
	free(p);
}

/* Pyroscope's label values may not hold the characters of its own syntax. */
static void append_value(FILE *f, const char *v)
{
	for (; *v; v++)
		fputc(strchr("{}=,\"\\", *v) ? '_' : *v, f);
}

int pusher__push(struct pusher *p, const char *app, const struct push_label *labels,
		 size_t label_cnt, __u64 from_s, __u64 until_s, const void *body, size_t len)
{
	struct http_response rsp = {};
	char *name = NULL, *esc = NULL, *url = NULL;
	size_t name_len = 0;
	FILE *f;
	int err = 0;

	f = open_memstream(&name, &name_len);
	if (!f)
		return -errno;
	append_value(f, app);
	fputc('{', f);
	for (size_t i = 0; i < label_cnt; i++) {
		fprintf(f, "%s%s=", i ? "," : "", labels[i].name);
		append_value(f, labels[i].value);
	}
	fputc('}', f);
	if (fclose(f))
		return -errno;
	esc = http_escape(name);
	if (!esc || asprintf(&url, "%s/ingest?name=%s&from=%llu&until=%llu&format=pprof", p->base,
			     esc, (unsigned long long)from_s, (unsigned long long)until_s) < 0) {
		err = -ENOMEM;
		url = NULL;
		goto cleanup;
	}
	err = http_client__send(p->http,
				&(struct http_request){
				    .url = url,
				    .body = body,
				    .body_len = len,
				    .content_type = "application/octet-stream",
				    .timeout_ms = PUSH_TIMEOUT_S * 1000L,
				},
				&rsp);
	if (err) {
		log_warn("push to %s: %s", p->base, rsp.error);
		err = -EIO;
		goto cleanup;
	}
	if (rsp.status < 200 || rsp.status > 299) {
		log_warn("push to %s: HTTP %ld", p->base, rsp.status);
		err = -EIO;
	}
cleanup:
	free(rsp.body);
	free(esc);
	free(url);
	free(name);
	return err;
}
