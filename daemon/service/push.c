// SPDX-License-Identifier: MIT
/* Pyroscope ingest over libcurl: one POST per target and interval, bounded in time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "util/log.h"
#include "service/push.h"

#define PUSH_TIMEOUT_S 10

struct pusher {
	CURL *curl;
	char *base;
};

struct pusher *pusher__new(const char *base_url)
{
	struct pusher *p;
	size_t n;

	if (strncmp(base_url, "http://", 7) && strncmp(base_url, "https://", 8)) {
		log_error("--push: '%s' is not an http:// or https:// URL", base_url);
		errno = EINVAL;
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		errno = ENOMEM;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->base = strdup(base_url);
	p->curl = curl_easy_init();
	if (!p->base || !p->curl) {
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
	if (p->curl)
		curl_easy_cleanup(p->curl);
	free(p->base);
	free(p);
}

/* Pyroscope's label values may not hold the characters of its own syntax. */
static void append_value(FILE *f, const char *v)
{
	for (; *v; v++)
		fputc(strchr("{}=,\"\\", *v) ? '_' : *v, f);
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
	(void)ptr;
	(void)ud;
	return size * nmemb;
}

int pusher__push(struct pusher *p, const char *app, const struct push_label *labels,
		 size_t label_cnt, __u64 from_s, __u64 until_s, const void *body, size_t len)
{
	struct curl_slist *hdrs = NULL;
	char *name = NULL, *esc = NULL, *url = NULL;
	size_t name_len = 0;
	long status = 0;
	CURLcode rc;
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
	esc = curl_easy_escape(p->curl, name, 0);
	if (!esc || asprintf(&url, "%s/ingest?name=%s&from=%llu&until=%llu&format=pprof", p->base,
			     esc, (unsigned long long)from_s, (unsigned long long)until_s) < 0) {
		err = -ENOMEM;
		url = NULL;
		goto cleanup;
	}
	hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
	curl_easy_reset(p->curl);
	curl_easy_setopt(p->curl, CURLOPT_URL, url);
	curl_easy_setopt(p->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(p->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(p->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(p->curl, CURLOPT_TIMEOUT, (long)PUSH_TIMEOUT_S);
	curl_easy_setopt(p->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(p->curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(p->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	rc = curl_easy_perform(p->curl);
	if (rc != CURLE_OK) {
		log_warn("push to %s: %s", p->base, curl_easy_strerror(rc));
		err = -EIO;
		goto cleanup;
	}
	curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		log_warn("push to %s: HTTP %ld", p->base, status);
		err = -EIO;
	}
cleanup:
	curl_slist_free_all(hdrs);
	curl_free(esc);
	free(url);
	free(name);
	return err;
}
