/* SPDX-License-Identifier: MIT */
/* Allocation sites of a decoded pprof profile (samples summed per leaf function and file:line,
 * allocator frames skipped) and the difference between the sites of two profiles, for
 * `allocscope diff` and `allocscope explain`. Pure logic: no I/O. */
#ifndef ALLOCSCOPE_PROFDIFF_H
#define ALLOCSCOPE_PROFDIFF_H

#include <stddef.h>
#include <linux/types.h>

#include "profile/pprof.h"

enum prof_site_by {
	PROF_SITE_BY_SITE,     /* function and file:line of the site's frame */
	PROF_SITE_BY_FUNCTION, /* function only: every line of it summed */
};

struct prof_sites_opts {
	enum prof_site_by by;
	/* 0: skip leaf frames named like the malloc family, operator new, strdup or mmap and
	 * attribute the sample to their caller (a C profile's leaf is the allocator itself). */
	int keep_allocator_frames;
};

struct prof_site {
	char *function; /* "main.newRecords", or "0x4011a6" for an unsymbolized address */
	char *file;	/* as in the profile (absolute for allocscope's); "" when unknown */
	__s64 line;	/* 0 when unknown, and always with PROF_SITE_BY_FUNCTION */
	__s64 *values;	/* one per sample type of the profile, summed */
	char *causes;	/* distinct `cause` labels, sorted, joined by ","; NULL when none */
};

struct prof_sites;

/* The sites of p, in no particular order. NULL and errno on failure. The sites own their
 * strings: p may be freed first. */
struct prof_sites *prof_sites__new(const struct pprof_profile *p,
				   const struct prof_sites_opts *opts);
void prof_sites__free(struct prof_sites *s);
size_t prof_sites__cnt(const struct prof_sites *s);
/* Number of values per site (the profile's sample types). */
size_t prof_sites__value_cnt(const struct prof_sites *s);
const struct prof_site *prof_sites__get(const struct prof_sites *s, size_t i);
/* Orders the sites by values[value_idx], largest first; ties by function, file, line. */
void prof_sites__sort(struct prof_sites *s, size_t value_idx);
/* Sum of values[value_idx] over all sites. */
__s64 prof_sites__total(const struct prof_sites *s, size_t value_idx);

/* Whether a frame's function is an allocator entry point that hides the allocating code. */
int prof_is_allocator_frame(const char *function);

enum prof_change {
	PROF_CHANGE_SAME,
	PROF_CHANGE_GREW,
	PROF_CHANGE_SHRANK,
	PROF_CHANGE_NEW,  /* absent (or zero) in the base */
	PROF_CHANGE_GONE, /* absent (or zero) in the new profile */
};

struct prof_diff_row {
	const struct prof_site *site; /* the new profile's site, or the base's when gone */
	__s64 base_val;
	__s64 new_val;
	__s64 change; /* new_val - base_val */
	enum prof_change kind;
	double relative_pct; /* change / base_val * 100; 0 for NEW and GONE */
};

struct prof_diff;

/* Matches the sites of base and new by key (function, file, line) and compares
 * base->values[base_idx] with new->values[new_idx]. Rows come sorted by |change|, largest
 * first (ties by key); unchanged sites last. The diff refers to both site sets, which must
 * outlive it. NULL and errno on failure. */
struct prof_diff *prof_diff__new(const struct prof_sites *base, size_t base_idx,
				 const struct prof_sites *new, size_t new_idx);
void prof_diff__free(struct prof_diff *d);
size_t prof_diff__cnt(const struct prof_diff *d);
const struct prof_diff_row *prof_diff__row(const struct prof_diff *d, size_t i);
/* How many rows changed (kind != PROF_CHANGE_SAME); they are the first ones. */
size_t prof_diff__changed_cnt(const struct prof_diff *d);

/* Sets the values of r and derives change, kind and relative_pct from them (site untouched). */
void prof_diff_row__set(struct prof_diff_row *r, __s64 base_val, __s64 new_val);
/* "+100%", "-50%", "+3.5%", "0%", "new", "gone", into buf. */
const char *prof_change__relative_str(const struct prof_diff_row *r, char *buf, size_t len);
/* "grew", "shrank", "new", "gone", "same". */
const char *prof_change__name(enum prof_change kind);

#endif
