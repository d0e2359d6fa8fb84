/* SPDX-License-Identifier: MIT */
/* The site model that top, diff and explain share: which leaf frames of a sample are the
 * allocator's own (malloc family, mmap, operator new, the Go runtime's allocation entry points),
 * which frame is the sample's site, and a decoded pprof profile's samples summed per site.
 * Pure logic: no I/O. */
#ifndef ALLOCSCOPE_SITE_H
#define ALLOCSCOPE_SITE_H

#include <stddef.h>
#include <linux/types.h>

#include "profile/pprof.h"
#include "profile/pprof_decode.h"

/* The site of a sample with nothing above its allocator frames (or no frames at all). */
#define SITE_NO_CALLER "[no caller]"

enum site_by {
	SITE_BY_LINE,	  /* function and file:line of the site's frame (diff, explain) */
	SITE_BY_FUNCTION, /* function only: every line of it summed */
	/* function, file:line, allocator and cause: one site per way a line allocates (top). */
	SITE_BY_LINE_AND_VIA,
};

/* One sample's site, before aggregation. Strings point into the profile or into addr. */
struct site_frame {
	const char *function; /* never NULL: SITE_NO_CALLER, or "0x4011a6" for an unnamed frame */
	const char *file;     /* NULL when unknown; an unnamed frame's object when known */
	__s64 line;	      /* 0 when unknown */
	/* the sample's "allocator" label ("malloc", "zmalloc->malloc"), else the leaf allocator
	 * frame skipped ("malloc"); NULL when none */
	const char *allocator;
	const char *cause; /* the sample's "cause" label (Go), NULL when none */
	char addr[24];
};

/* Whether a frame's function is an allocator entry point that hides the allocating code: the
 * malloc family, mmap, strdup and operator new (also as glibc's "__libc_" and "__" aliases and
 * with an "@VERSION" suffix), and the Go runtime's allocator (runtime.mallocgc and its sampler)
 * and the runtime functions compiled code calls to allocate (runtime.newobject,
 * runtime.growslice, ...: goruntime__cause's list). */
int site_is_allocator_frame(const char *function);
/* The same for the C entry points alone (no Go runtime functions). */
int site_is_c_allocator_frame(const char *function);

struct wrappers;

/*
 * The site of sample sample_idx of p. Frames are walked leaf first (inlined frames innermost
 * first); the leading allocator frames and the frames of allocator wrappers (wrappers.h: the
 * built-in list, and wrappers' expressions; wrappers may be NULL) are skipped (all kept with
 * keep_allocators) and the first other frame is the site. A frame without a name stops the walk:
 * it is the site, named by its address. A stack of allocator frames only is SITE_NO_CALLER,
 * through its leaf allocator. The sample's "allocator" label, when it has one (allocscope's
 * profiles drop the allocator's frames), names the allocator.
 */
void site_frame__of_sample(const struct pprof_profile *p, size_t sample_idx, int keep_allocators,
			   const struct wrappers *wrappers, struct site_frame *out);

struct site_set_opts {
	enum site_by by;
	/* Attribute each sample to its leaf frame, allocator or not (for tests and debugging). */
	int keep_allocator_frames;
	const struct wrappers *wrappers; /* --wrapper expressions; NULL: the built-in list only */
};

struct site {
	char *function;	  /* as in site_frame */
	char *file;	  /* "" when unknown */
	__s64 line;	  /* 0 when unknown, and always with SITE_BY_FUNCTION */
	char *allocators; /* distinct allocators, sorted, joined by ","; NULL when none */
	char *causes;	  /* distinct "cause" labels, the same way */
	__s64 *values;	  /* one per sample type of the profile, summed */
};

struct site_set;

/* The sites of p, in key order (function, file, line[, allocator, cause]). NULL and errno on
 * failure. The sites own their strings: p may be freed first. A sample with fewer values than
 * the profile has sample types is skipped. */
struct site_set *site_set__new(const struct pprof_profile *p, const struct site_set_opts *opts);
void site_set__free(struct site_set *s);
size_t site_set__cnt(const struct site_set *s);
enum site_by site_set__by(const struct site_set *s);
/* Number of values per site (the profile's sample types). */
size_t site_set__value_cnt(const struct site_set *s);
const struct site *site_set__get(const struct site_set *s, size_t i);
/* Index of the site whose key equals key's (as the set's `by` compares them), or -ENOENT.
 * O(log n) until site_set__sort, linear after. */
long site_set__find(const struct site_set *s, const struct site *key);
/* Orders the sites by values[value_idx], largest first; ties by key. */
void site_set__sort(struct site_set *s, size_t value_idx);
/* Sum of values[value_idx] over all sites. */
__s64 site_set__total(const struct site_set *s, size_t value_idx);

/* Orders two sites by key as `by` defines it (<0, 0, >0). */
int site__key_cmp(const struct site *a, const struct site *b, enum site_by by);

#endif
