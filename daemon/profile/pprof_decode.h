/* SPDX-License-Identifier: MIT */
/* Reads pprof profiles (gzipped or raw protobuf, as google/pprof accepts them) for the tools that
 * compare or explain them: decoded through protobuf-c, then validated once so that callers follow
 * ids and string indices without checking them again. */
#ifndef ALLOCSCOPE_PPROF_DECODE_H
#define ALLOCSCOPE_PPROF_DECODE_H

#include <stddef.h>
#include <linux/types.h>

/* The protobuf-c message types of proto/profile.proto; include "profile.pb-c.h" to read them. */
struct Perftools__Profiles__Profile;
struct Perftools__Profiles__Mapping;
struct Perftools__Profiles__Location;
struct Perftools__Profiles__Function;

/* Upper bound on the size of a decompressed profile, so a small gzip bomb cannot exhaust memory. */
#define PPROF_MAX_DECODED_BYTES (1ULL << 30)

struct pprof_decode_opts {
	size_t max_decoded_bytes; /* 0: PPROF_MAX_DECODED_BYTES */
};

/* A decoded and validated profile: every string index is in range, every id is non-zero and
 * unique, and every id a sample, location or line refers to exists, so callers can follow
 * references without checking them again. */
struct pprof_profile;

/* Accepts gzipped or raw protobuf. NULL with errno set: EBADMSG for malformed input, EFBIG when
 * it decompresses to more than the limit, EINVAL for bad arguments, ENOMEM. */
struct pprof_profile *pprof__decode(const void *buf, size_t len);
struct pprof_profile *pprof__decode_opts(const void *buf, size_t len,
					 const struct pprof_decode_opts *opts);
struct pprof_profile *pprof__read_file(const char *path);
void pprof__profile_free(struct pprof_profile *p);

/* The message itself; owned by p. */
const struct Perftools__Profiles__Profile *pprof__profile_msg(const struct pprof_profile *p);
/* string_table[idx], or NULL when idx is out of range. */
const char *pprof__profile_str(const struct pprof_profile *p, __s64 idx);
/* Look-ups by id (ids need not be dense in profiles written by others); NULL when absent. */
const struct Perftools__Profiles__Mapping *pprof__profile_mapping(const struct pprof_profile *p,
								  __u64 id);
const struct Perftools__Profiles__Location *pprof__profile_location(const struct pprof_profile *p,
								    __u64 id);
const struct Perftools__Profiles__Function *pprof__profile_function(const struct pprof_profile *p,
								    __u64 id);
/* Index into Sample.value of the sample type named type, or -ENOENT. */
int pprof__profile_sample_index(const struct pprof_profile *p, const char *type);

#endif
