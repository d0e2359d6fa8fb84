/* SPDX-License-Identifier: MIT */
/* Heap snapshots: a target's pprof heap profile at the moment a trigger fired, with the trigger,
 * its cgroup's memory figures and its timeline of the minutes before. Kept in memory with a
 * bound and, with a directory, on disk (written atomically, reloaded at start, cleaned by age
 * and total size). Served as JSON and pprof by the HTTP API. Not thread-safe: callers lock. */
#ifndef ALLOCSCOPE_SNAPSHOT_H
#define ALLOCSCOPE_SNAPSHOT_H

#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>

#include "service/trigger.h"

#define SNAPSHOT_ID_MAX 48

struct snap_meta {
	char id[SNAPSHOT_ID_MAX]; /* "<unix ms>-<pid>-<trigger>": unique, safe in URLs and paths */
	int pid;
	char exe[256];
	char comm[32];
	enum trigger_kind trigger;
	char detail[384]; /* why it fired, in words */
	__u64 time_ns;	  /* wall clock */
	char cgroup[256]; /* the memory cgroup's path, "" if unknown */
	int has_cg;
	struct memcg_figures cg;
	__u64 rss_bytes; /* the process's VmRSS and RssAnon at the last interval */
	__u64 anon_bytes;
	__u64 inuse_bytes; /* the profile's estimates (unsampled) */
	__u64 inuse_objects;
	__u64 profile_bytes; /* size of the pprof file */
};

struct snapshot_store_opts {
	const char *dir;      /* NULL: memory only */
	size_t max_in_memory; /* profiles held in memory; the oldest go first (0: 32) */
	__u64 max_age_ns;     /* on disk; 0: no bound */
	__u64 max_disk_bytes; /* on disk, all files together; 0: no bound */
};

/* Counters for /metrics. */
struct snapshot_stats {
	__u64 taken[TRIGGER_MAX];
	__u64 suppressed; /* by the per-target cooldown */
	__u64 failed;	  /* could not be built */
	__u64 write_failures;
	__u64 evicted; /* dropped from memory with no copy on disk */
	__u64 removed; /* removed from disk by age or size */
};

struct snapshot_store;

/* Never fails for the directory: an unusable one is logged and counted, and snapshots stay in
 * memory. NULL and errno on ENOMEM only. */
struct snapshot_store *snapshot_store__new(const struct snapshot_store_opts *opts);
void snapshot_store__free(struct snapshot_store *s); /* accepts NULL */

/* Keep a snapshot: takes pprof (malloc'ed, len bytes) and timeline_json (malloc'ed or NULL),
 * also on failure. Writes it to the directory if there is one. 0 or -errno. */
int snapshot_store__add(struct snapshot_store *s, const struct snap_meta *m, void *pprof,
			size_t len, char *timeline_json, __u64 now_ns);
/* Remove what is past the age bound and, over the size bound, the oldest. */
void snapshot_store__expire(struct snapshot_store *s, __u64 now_ns);

size_t snapshot_store__count(const struct snapshot_store *s);
const struct snap_meta *snapshot_store__at(const struct snapshot_store *s, size_t i);
/* JSON: [{"id", "pid", "executable", "trigger", "time", ...}, ...], oldest first. */
char *snapshot_store__list_json(const struct snapshot_store *s);
/* JSON of one: its fields and its timeline. NULL and errno (ENOENT: no such id). */
char *snapshot_store__get_json(const struct snapshot_store *s, const char *id);
/* A malloc'ed copy of its pprof. 0, -ENOENT or -errno. */
int snapshot_store__pprof(const struct snapshot_store *s, const char *id, void **buf, size_t *len);

struct snapshot_stats *snapshot_store__stats(struct snapshot_store *s);
/* Prometheus text for the counters and what is held. */
void snapshot_store__write_metrics(const struct snapshot_store *s, FILE *f);

/* Whether id has the shape snapshot IDs have (so that it can name no other file). */
bool snapshot_id__valid(const char *id);

#endif
