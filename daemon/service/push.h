/* SPDX-License-Identifier: MIT */
/* Pushing profiles to Grafana Pyroscope's ingest API (POST /ingest?name=APP{labels}&from=&
 * until=&format=pprof) with libcurl, so fleets keep history in Pyroscope. */
#ifndef ALLOCSCOPE_PUSH_H
#define ALLOCSCOPE_PUSH_H

#include <stddef.h>
#include <linux/types.h>

struct push_label {
	const char *name;
	const char *value;
};

struct pusher;

/* base_url: "http://host:4040" (a trailing slash is fine). NULL and errno on failure. */
struct pusher *pusher__new(const char *base_url);
void pusher__free(struct pusher *p);

/* POST one gzipped pprof profile covering [from_s, until_s) for application app with labels.
 * 0, or -errno (-EIO with the HTTP status logged for a non-2xx answer). */
int pusher__push(struct pusher *p, const char *app, const struct push_label *labels,
		 size_t label_cnt, __u64 from_s, __u64 until_s, const void *body, size_t len);

#endif
