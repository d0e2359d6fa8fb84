/* SPDX-License-Identifier: MIT */
/* The heap-delta timeline drawn as a terminal chart or an SVG picture, from the records that
 * profile/timeline_json.h reads. Pure logic on FILE streams, no I/O of its own, so that unit
 * tests drive all of it. */
#ifndef ALLOCSCOPE_TIMELINE_RENDER_H
#define ALLOCSCOPE_TIMELINE_RENDER_H

#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>

#include "profile/timeline_json.h"

/* Narrower than this, the chart's columns do not fit. */
#define TIMELINE_TEXT_MIN_WIDTH 40

/* "90s", "5m", "1.5h", "250ms", "2d" or plain seconds ("30", "0.5") to nanoseconds; -EINVAL if
 * malformed, zero or negative. */
int timeline__parse_duration(const char *s, __u64 *ns);

/* The smallest "round" byte count >= v: 2^k or 1.5 * 2^k (1, 2, 3, 4, 6, 8, 12, ... KiB, MiB),
 * so that axis labels read as whole binary units. 1 for 0. */
__u64 timeline__nice_bytes(__u64 v);
/* Cells of a bar for v on a scale where max fills all cells: rounded to nearest, at least 1
 * for any v > 0 (a small allocation must not look like none), at most cells. */
int timeline__scale_cells(__u64 v, __u64 max, int cells);
/* Time since the chart's start: "+0.35s", "+12.4s", "+123s", "+20m05s", "+2h03m". */
const char *timeline__fmt_offset(__u64 off_ns, char *buf, size_t len);

/* Consecutive records merged into one chart row. */
struct timeline_bucket {
	size_t first; /* index of its first record */
	size_t cnt;
	__u64 time_ns; /* of its last record */
	__u64 alloc_bytes;
	__u64 freed_bytes;
	__u64 inuse_bytes; /* of its last record: a level, not a delta */
	size_t gc_cnt;
	__u64 first_cycle; /* of its GC records */
	__u64 last_cycle;
};

/* Split cnt records into at most max_rows buckets of consecutive records, as even in count as
 * can be (0: one bucket per record). Returns the number of buckets written to out, which has
 * room for min(cnt, max_rows). */
size_t timeline__bucket(const struct timeline_record *recs, size_t cnt, size_t max_rows,
			struct timeline_bucket *out);

struct timeline_text_opts {
	int width;	 /* columns; no line is longer (TIMELINE_TEXT_MIN_WIDTH at least) */
	size_t max_rows; /* 0: one row per record */
	int utf8;	 /* block glyphs, else ASCII */
};

/* The terminal chart: a header, a legend with the scales, then one row per bucket with time,
 * GC cycles, allocated, freed, in use, a freed|allocated bar pair and an in-use marker. 0 or
 * -errno (-EINVAL: width too small). */
int timeline_doc__write_text(const struct timeline_doc *doc, FILE *f,
			     const struct timeline_text_opts *o);

/* The SVG picture: axes with time and byte labels, per record an allocated and a freed bar and
 * an in-use point (each record a <g class="record"> whose data-* attributes carry its values),
 * the in-use polyline, GC cycle markers, a title naming pid and executable. All text from the
 * data is escaped for XML (and made valid UTF-8). 0 or -EIO. */
int timeline_doc__write_svg(const struct timeline_doc *doc, FILE *f);

#endif
