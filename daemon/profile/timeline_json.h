/* SPDX-License-Identifier: MIT */
/* The timeline's JSON format, both ways: records as written by the daemon's /timeline and by
 * record --timeline, and as read back by the CLI. The one writer and the one reader (json-c). */
#ifndef ALLOCSCOPE_TIMELINE_JSON_H
#define ALLOCSCOPE_TIMELINE_JSON_H

#include <stddef.h>
#include <linux/types.h>

/* One record of the JSON: deltas since the record before, unsampled, and the levels now. */
struct timeline_record {
	int is_gc;     /* "gc", else "interval" */
	int has_cycle; /* the optional fields below that the record carries */
	int has_gc_duration;
	int has_rss;
	__u64 cycle;
	__u64 time_ns; /* time_unix_ns */
	__u64 gc_duration_ns;
	__u64 alloc_bytes;
	__u64 alloc_objects;
	__u64 freed_bytes;
	__u64 freed_objects;
	__u64 inuse_bytes;
	__u64 inuse_objects;
	__u64 rss_bytes;
	__u64 anon_bytes;
};

struct timeline_doc {
	int pid;
	char *exe;	  /* as in the JSON: not sanitized; "" if absent */
	char *go_version; /* NULL if absent */
	__u64 sampling_rate;
	__u64 gc_cycles;
	struct timeline_record *recs;
	size_t cnt;
};

/* The JSON text (pretty-printed), malloc'ed; optional fields only where the record has them.
 * NULL and errno on failure. */
char *timeline_doc__to_json(const struct timeline_doc *doc);
/* Parse the JSON of timeline_doc__to_json(). 0, or -EBADMSG with a one-line reason in err
 * (which record, which field), or -ENOMEM. On success free with timeline_doc__release(). */
int timeline_doc__parse(struct timeline_doc *doc, const char *text, size_t len, char *err,
			size_t err_len);
void timeline_doc__release(struct timeline_doc *doc);
/* Keep only the records at or after cutoff_ns, in their order; returns how many remain. */
size_t timeline_doc__keep_since(struct timeline_doc *doc, __u64 cutoff_ns);

#endif
