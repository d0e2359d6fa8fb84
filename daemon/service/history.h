/* SPDX-License-Identifier: MIT */
/* A watched process's history: the delta of each drain as a packed snapshot, oldest first; the
 * sum over a window of snapshots (seconds=, push); expiry by age, by a bound on the entries kept
 * across processes and by a bound on the exited processes kept. Pure: no BPF, clock or globals. */
#ifndef ALLOCSCOPE_HISTORY_H
#define ALLOCSCOPE_HISTORY_H

#include <stddef.h>
#include <linux/types.h>

#include "probe/collect.h"

struct snapshot {
	__u64 start_ns; /* wall clock: the drain before */
	__u64 end_ns;
	struct packed_set *delta; /* the entries that changed, by how much (shared with views) */
};

struct history;

struct history *history__new(void);
void history__free(struct history *h); /* accepts NULL */

/* Sort a drained set by key, as history__diff and history__record want it. */
void history__sort(struct entry_set *s);

/* now - prev, both sorted by key, appended to delta: only the keys that changed, and keys of
 * now that prev lacks as they are. 0 or -ENOMEM. */
int history__diff(const struct entry_set *now, const struct entry_set *prev,
		  struct packed_set *delta);

/* Keep the drain [start_ns, end_ns] as a snapshot of now - prev (both sorted). A drain that
 * changed nothing adds no snapshot. 0 or -ENOMEM (nothing added). */
int history__record(struct history *h, __u64 start_ns, __u64 end_ns, const struct entry_set *now,
		    const struct entry_set *prev);

size_t history__count(const struct history *h);
/* Entries held by all snapshots: what --max-history-entries bounds. */
size_t history__entries(const struct history *h);
const struct snapshot *history__at(const struct history *h, size_t i); /* 0: the oldest */
/* The end of the newest snapshot; 0 with none. */
__u64 history__newest_end(const struct history *h);

/* Append to out the sum of the deltas of the snapshots that end after since_ns: sorted, one
 * entry per key (the stacks of merged entries released). *start_ns: the earliest start among
 * those snapshots, 0 with none. 0 or -ENOMEM. */
int history__window(const struct history *h, __u64 since_ns, struct entry_set *out,
		    __u64 *start_ns);

/*
 * The same in two steps, so that the sum can be made without the lock that guards h: a view
 * takes references to the snapshots that end after since_ns (expiry and history__free may then
 * drop them from h; they are freed with the view). NULL on ENOMEM; a window of none is a view of
 * none. Summing a view needs no lock: it only reads the snapshots, and stack references are
 * atomic.
 */
struct history_view;
struct history_view *history__view(const struct history *h, __u64 since_ns);
int history_view__sum(const struct history_view *v, struct entry_set *out, __u64 *start_ns);
void history_view__free(struct history_view *v); /* accepts NULL */

struct history_retention {
	__u64 keep_ns;	    /* --retention */
	size_t max_entries; /* --max-history-entries; 0: no bound */
	size_t max_exited;  /* --max-exited */
};

/* One process for history__expire. */
struct history_item {
	struct history *h;
	int alive;
	__u64 exit_ns; /* when it ended, if not alive */
	int release;   /* out: the process is to be released */
	int over;      /* out: released before its retention ended, over max_exited */
};

struct history_expiry {
	size_t snapshots_dropped; /* over max_entries (those past keep_ns are not counted) */
	size_t exited_dropped;	  /* released over max_exited */
};

/*
 * At now_ns: drop the snapshots that ended more than keep_ns ago; then, over max_entries, the
 * oldest snapshot of all first; then mark for release the exited processes whose retention has
 * ended and, over max_exited, the longest gone first. The caller frees what it releases.
 */
void history__expire(struct history_item *items, size_t n, __u64 now_ns,
		     const struct history_retention *r, struct history_expiry *out);

#endif
