/* SPDX-License-Identifier: MIT */
/* Builds pprof profiles (google/pprof proto/profile.proto) and writes them gzipped, through
 * protobuf-c and zlib. Strings, functions, locations and mappings are interned here so callers
 * add samples as plain values. */
#ifndef ALLOCSCOPE_PPROF_H
#define ALLOCSCOPE_PPROF_H

#include <stddef.h>
#include <linux/types.h>

struct pprof_value_type {
	const char *type; /* "alloc_objects" */
	const char *unit; /* "count" */
};

struct pprof_opts {
	const struct pprof_value_type *sample_types;
	size_t sample_type_cnt;
	struct pprof_value_type period_type; /* {"space", "bytes"} */
	__s64 period;
	const char *default_sample_type; /* NULL: pprof's default (the last type) */
	__s64 time_nanos;
	__s64 duration_nanos;
};

struct pprof_mapping_desc {
	__u64 memory_start;
	__u64 memory_limit;
	__u64 file_offset;
	const char *filename;
	const char *build_id; /* hex, may be NULL */
	int has_functions;
	int has_filenames;
	int has_line_numbers;
	int has_inline_frames;
};

/* One line of a location; lines[0] is the innermost (an inlined callee), last the caller. */
struct pprof_line {
	const char *function;	 /* NULL: no Line is emitted for it */
	const char *system_name; /* NULL: same as function */
	const char *filename;	 /* may be NULL */
	__s64 line;
};

struct pprof_label {
	const char *key;
	const char *str;      /* string label when non-NULL */
	__s64 num;	      /* numeric label otherwise */
	const char *num_unit; /* may be NULL */
};

struct pprof_builder;

struct pprof_builder *pprof__new(const struct pprof_opts *opts);
void pprof__free(struct pprof_builder *b);

/* Returns the mapping id (>= 1) or -errno. Identical descriptions are not merged. */
long pprof__add_mapping(struct pprof_builder *b, const struct pprof_mapping_desc *m);
/* Returns the location id (>= 1) or -errno. A location with the same mapping id and a non-zero
 * address returns the id of the first one added (lines of the later call are ignored). mapping_id
 * 0 means none. Functions are interned by (name, system name, file). */
long pprof__add_location(struct pprof_builder *b, __u64 mapping_id, __u64 address,
			 const struct pprof_line *lines, size_t line_cnt);
/* location_ids[0] is the leaf. values has sample_type_cnt entries. 0 or -errno. */
int pprof__add_sample(struct pprof_builder *b, const __u64 *location_ids, size_t loc_cnt,
		      const __s64 *values, const struct pprof_label *labels, size_t label_cnt);
int pprof__add_comment(struct pprof_builder *b, const char *comment);

/* The gzipped encoding, malloc'ed into *buf. 0 or -errno. */
int pprof__encode(struct pprof_builder *b, void **buf, size_t *len);
/* Writes the gzipped profile to path atomically (temporary file in the same directory, then
 * rename), so a failure never leaves a half-written file. 0 or -errno. */
int pprof__write_file(struct pprof_builder *b, const char *path);

#endif
