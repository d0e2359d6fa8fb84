/* SPDX-License-Identifier: MIT */
/* The model behind `allocscope top`: allocation sites aggregated from cumulative heap profiles,
 * their rates between two profiles, the heap's in-use history, sorting, and rows that fit a
 * terminal's width. Pure (no terminal, no I/O), so it is unit-tested on built profiles. */
#ifndef ALLOCSCOPE_TOPVIEW_H
#define ALLOCSCOPE_TOPVIEW_H

#include <stddef.h>
#include <linux/types.h>

#include "profile/pprof.h"
#include "profile/pprof_decode.h"

struct json_object;

enum topview_sort {
	TOPVIEW_SORT_ALLOC_BYTES,   /* alloc bytes per second */
	TOPVIEW_SORT_ALLOC_OBJECTS, /* allocated objects per second */
	TOPVIEW_SORT_INUSE_BYTES,   /* bytes in use now */
	TOPVIEW_SORT_MAX,
};

/* One allocation site: the code that called the allocator (C), or the leaf of a Go stack as
 * runtime/pprof shows it, with the allocator or the Go cause label that sets it apart. */
struct topview_site {
	const char *function;  /* "parse_line", or "0x7f12..." when nothing names the address */
	const char *file;      /* full path as the profile has it, NULL when unknown */
	__s64 line;	       /* 0 when unknown */
	const char *allocator; /* C: the leaf ("malloc", "mmap"), else NULL */
	const char *cause;     /* Go: the sample's "cause" label, else NULL */
	/* Cumulative, unsampled values as the profile states them. */
	__s64 alloc_bytes;
	__s64 alloc_objects;
	__s64 inuse_bytes;
	__s64 inuse_objects;
	/* Since the previous profile; 0 until there is one. */
	double alloc_bytes_per_s;
	double alloc_objects_per_s;
	/* Updates in a row in which its in-use bytes rose (a fall starts again from 0); growing
	 * once TOPVIEW_GROWING_UPDATES of them: the row marks it. */
	__u32 inuse_rises;
	int growing;
};

#define TOPVIEW_GROWING_UPDATES 3

struct topview_totals {
	double alloc_bytes_per_s;
	double alloc_objects_per_s;
	__s64 inuse_bytes;
	__s64 inuse_objects;
	size_t processes; /* distinct "pid" labels (0 when the profile has none) */
	int have_rates;	  /* a previous profile exists: the rates mean something */
};

struct topview_opts {
	size_t history_len; /* in-use points kept for the trend; 0: 120 */
	/* A profile identical to the last one (same totals) within hold_ns of it is taken as "no
	 * new data yet" (a daemon that drains once a second asked twice a second) and keeps the
	 * rates shown; after hold_ns it means the process allocates nothing. 0: never held. */
	__u64 hold_ns;
	const struct wrappers *wrappers; /* --wrapper, for the site model; NULL: built-in only */
};

struct topview;
struct wrappers;

struct topview *topview__new(const struct topview_opts *opts);
void topview__free(struct topview *tv);

/*
 * Aggregate a cumulative profile (alloc_objects and alloc_space sample types required,
 * inuse_* optional) taken at monotonic time now_ns. p NULL stands for an empty profile: the
 * baseline of a process whose counting starts now. Sites keep the previous sort order until
 * topview__sort. Returns 1 when the profile was new data, 0 when held (see hold_ns), -EINVAL
 * when the profile is not a heap profile, -ENOMEM.
 */
int topview__update(struct topview *tv, const struct pprof_profile *p, __u64 now_ns);

/* Order the sites by key, descending; ties by cumulative alloc bytes, then by name. */
void topview__sort(struct topview *tv, enum topview_sort key);
size_t topview__site_cnt(const struct topview *tv);
const struct topview_site *topview__site(const struct topview *tv, size_t i);
void topview__totals(const struct topview *tv, struct topview_totals *out);
/* In-use bytes at the last updates that were new data, oldest first; returns how many. */
size_t topview__history(const struct topview *tv, __s64 *out, size_t max);

/* "alloc bytes/s"; and the --sort and JSON names: "bytes", "objects", "inuse". */
const char *topview_sort__title(enum topview_sort key);
const char *topview_sort__name(enum topview_sort key);
/* Accepts the names above and the key letters b, o, i; -EINVAL otherwise. */
int topview_sort__parse(const char *s, enum topview_sort *out);

/* Formatting. Every function writes at most width terminal columns (never more, so nothing
 * wraps), NUL-terminated, truncated to len bytes; utf8 selects "…" and block characters over
 * ASCII. Returns buf. */

/* Compact counts for narrow columns: "980", "12.3k", "4.1M" (sizes: fmt_bytes, util/fmt.h). */
const char *topview__fmt_count(double v, char *buf, size_t len);

/* s cut to at most cols columns, with an ellipsis as the last column when cut. */
const char *topview__fit(const char *s, int cols, int utf8, char *buf, size_t len);

/* The column header and one site's row, aligned with each other. via_cols is the width of the
 * VIA column (allocator or cause): topview__via_cols of the sites shown. show_rates 0 prints
 * "-" in the rate columns (no previous profile yet). */
int topview__via_cols(const struct topview *tv, size_t first, size_t cnt);
/* mark: a sort key whose title gets a '*' (where no highlighting shows it), or -1. */
const char *topview__fmt_header(int width, int via_cols, int mark, char *buf, size_t len);
const char *topview__fmt_row(const struct topview_site *s, int width, int via_cols, int show_rates,
			     int utf8, char *buf, size_t len);
/* Where the sort column's title sits in the header (offset and length), for highlighting. */
void topview__header_span(enum topview_sort key, int *off, int *cols);

/* One character per value, scaled between their minimum and maximum. */
const char *topview__sparkline(const __s64 *v, size_t n, int utf8, char *buf, size_t len);

/* The snapshot as JSON: totals, in-use history and the first max_sites sites in the current
 * order. The caller adds what it knows of the target. NULL on ENOMEM. */
struct json_object *topview__json(const struct topview *tv, size_t max_sites);

#endif
