/* SPDX-License-Identifier: MIT */
/* The difference between the sites of two profiles (profile/site.h), matched by key: what grew,
 * shrank, appeared or went, for `allocscope diff`. Pure logic: no I/O. */
#ifndef ALLOCSCOPE_SITEDIFF_H
#define ALLOCSCOPE_SITEDIFF_H

#include <stddef.h>
#include <linux/types.h>

#include "profile/site.h"

enum site_change {
	SITE_CHANGE_SAME,
	SITE_CHANGE_GREW,
	SITE_CHANGE_SHRANK,
	SITE_CHANGE_NEW,  /* absent (or zero) in the base */
	SITE_CHANGE_GONE, /* absent (or zero) in the new profile */
};

struct site_diff_row {
	const struct site *site; /* the new profile's site, or the base's when gone */
	__s64 base_val;
	__s64 new_val;
	__s64 change; /* new_val - base_val */
	enum site_change kind;
	double relative_pct; /* change / base_val * 100; 0 for NEW and GONE */
};

struct site_diff;

/* Matches the sites of base and new by key and compares base->values[base_idx] with
 * new->values[new_idx]. Both sets must be keyed alike (EINVAL otherwise). Rows come sorted by
 * |change|, largest first (ties by key); unchanged sites last. The diff refers to both site
 * sets, which must outlive it. NULL and errno on failure. */
struct site_diff *site_diff__new(const struct site_set *base, size_t base_idx,
				 const struct site_set *new, size_t new_idx);
void site_diff__free(struct site_diff *d);
size_t site_diff__cnt(const struct site_diff *d);
const struct site_diff_row *site_diff__row(const struct site_diff *d, size_t i);
/* How many rows changed (kind != SITE_CHANGE_SAME); they are the first ones. */
size_t site_diff__changed_cnt(const struct site_diff *d);

/* Sets the values of r and derives change, kind and relative_pct from them (site untouched). */
void site_diff_row__set(struct site_diff_row *r, __s64 base_val, __s64 new_val);
/* "+100%", "-50%", "+3.5%", "0%", "new", "gone", into buf. */
const char *site_change__relative_str(const struct site_diff_row *r, char *buf, size_t len);
/* "grew", "shrank", "new", "gone", "same". */
const char *site_change__name(enum site_change kind);

#endif
