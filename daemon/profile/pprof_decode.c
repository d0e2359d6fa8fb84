// SPDX-License-Identifier: MIT
/* Decoding and validation of pprof profiles (see pprof_decode.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* next_in is then a pointer to const: the input is never written. */
#define ZLIB_CONST
#include <zlib.h>

#include "profile.pb-c.h"

#include "util/common.h"
#include "util/htab.h"
#include "util/log.h"
#include "profile/pprof_decode.h"

typedef Perftools__Profiles__Profile pb_profile_t;
typedef Perftools__Profiles__Sample pb_sample_t;
typedef Perftools__Profiles__Label pb_label_t;
typedef Perftools__Profiles__Location pb_location_t;
typedef Perftools__Profiles__Function pb_function_t;

/* Go's runtime and gzip agree on this magic; anything else is taken as raw protobuf. */
#define GZIP_MAGIC0 0x1f
#define GZIP_MAGIC1 0x8b

/* id -> index into one of the profile's arrays; profiles written by other tools need not
 * number their ids index + 1. */
struct id_index {
	struct htab h;
	__u64 *ids; /* a copy, so one comparison serves every kind of message */
};

struct pprof_profile {
	pb_profile_t *msg;
	struct id_index mappings, locations, functions;
};

static int gunzip(const unsigned char *in, size_t in_len, size_t max_len, unsigned char **out,
		  size_t *out_len)
{
	z_stream zs = {};
	unsigned char *buf = NULL, *p;
	size_t cap, len = 0, chunk, rest = in_len;
	bool zs_live = false;
	int ret, err;

	ret = inflateInit2(&zs, 16 + MAX_WBITS);
	if (ret != Z_OK) {
		err = ret == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
		goto cleanup;
	}
	zs_live = true;
	/* Start near a typical compression ratio and double, up to the limit. */
	cap = min_t(size_t, max_len, max_t(size_t, in_len, 16 * 1024) * 4);
	buf = malloc(cap);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (;;) {
		if (len == cap) {
			if (cap >= max_len) {
				log_warn("pprof: profile decompresses to more than %zu bytes",
					 max_len);
				err = -EFBIG;
				goto cleanup;
			}
			cap = cap > max_len / 2 ? max_len : cap * 2;
			p = realloc(buf, cap);
			if (!p) {
				err = -ENOMEM;
				goto cleanup;
			}
			buf = p;
		}
		chunk = min_t(size_t, rest, UINT_MAX);
		zs.next_in = in + (in_len - rest);
		zs.avail_in = chunk;
		zs.next_out = buf + len;
		zs.avail_out = min_t(size_t, cap - len, UINT_MAX);
		ret = inflate(&zs, Z_NO_FLUSH);
		rest -= chunk - zs.avail_in;
		len = zs.next_out - buf;
		if (ret == Z_STREAM_END) {
			if (!rest)
				break;
			/* Like Go's gzip reader, accept concatenated members, but nothing else. */
			if (rest < 2 || in[in_len - rest] != GZIP_MAGIC0 ||
			    in[in_len - rest + 1] != GZIP_MAGIC1) {
				log_warn("pprof: %zu bytes of garbage after the gzip stream", rest);
				err = -EBADMSG;
				goto cleanup;
			}
			inflateReset(&zs);
			continue;
		}
		if (ret == Z_MEM_ERROR) {
			err = -ENOMEM;
			goto cleanup;
		}
		if (ret == Z_OK || (ret == Z_BUF_ERROR && !zs.avail_out))
			continue;
		if (ret == Z_BUF_ERROR && !rest) {
			log_warn("pprof: truncated gzip stream");
			err = -EBADMSG;
			goto cleanup;
		}
		log_warn("pprof: corrupt gzip stream: %s", zs.msg ? zs.msg : "unknown error");
		err = -EBADMSG;
		goto cleanup;
	}
	*out = buf;
	*out_len = len;
	buf = NULL;
	err = 0;

cleanup:
	if (zs_live)
		inflateEnd(&zs);
	free(buf);
	return err;
}

static bool id_eq(const void *ctx, uintptr_t idx, const void *key)
{
	const __u64 *ids = ctx;

	return ids[idx] == *(const __u64 *)key;
}

/* Indexes x->ids[0..n), which the caller filled, rejecting ids that are 0 or repeated. */
static int index_ids(struct id_index *x, size_t n, const char *what)
{
	__u64 hash;
	size_t i;
	int err;

	err = htab__reserve(&x->h, n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		if (!x->ids[i]) {
			log_warn("pprof: %s %zu has id 0", what, i);
			return -EBADMSG;
		}
		hash = htab__hash_u64(x->ids[i]);
		if (htab__find(&x->h, hash, id_eq, x->ids, &x->ids[i], NULL)) {
			log_warn("pprof: %s id %llu appears twice", what,
				 (unsigned long long)x->ids[i]);
			return -EBADMSG;
		}
		htab__set(&x->h, hash, id_eq, x->ids, &x->ids[i], i);
	}
	return 0;
}

/* The index of id, or -1. */
static ssize_t lookup_id(const struct id_index *x, __u64 id)
{
	uintptr_t idx;

	return htab__find(&x->h, htab__hash_u64(id), id_eq, x->ids, &id, &idx) ? (ssize_t)idx : -1;
}

/* A string index that pprof would resolve; checked for every string field. */
static bool str_ok(const pb_profile_t *m, __s64 idx, const char *what)
{
	if (idx >= 0 && (size_t)idx < m->n_string_table)
		return true;
	log_warn("pprof: %s refers to string %lld of %zu", what, (long long)idx, m->n_string_table);
	return false;
}

static int validate(struct pprof_profile *p)
{
	const pb_profile_t *m = p->msg;
	size_t i, j;
	int err;

	if (!m->n_string_table || !m->string_table[0] || m->string_table[0][0]) {
		log_warn("pprof: string_table[0] is not \"\"");
		return -EBADMSG;
	}
	for (i = 0; i < m->n_string_table; i++)
		if (!m->string_table[i])
			return -EBADMSG;
	if (!str_ok(m, m->drop_frames, "drop_frames") ||
	    !str_ok(m, m->keep_frames, "keep_frames") ||
	    !str_ok(m, m->default_sample_type, "default_sample_type") ||
	    !str_ok(m, m->doc_url, "doc_url"))
		return -EBADMSG;
	if (m->period_type && (!str_ok(m, m->period_type->type, "period_type") ||
			       !str_ok(m, m->period_type->unit, "period_type")))
		return -EBADMSG;
	for (i = 0; i < m->n_sample_type; i++)
		if (!str_ok(m, m->sample_type[i]->type, "sample_type") ||
		    !str_ok(m, m->sample_type[i]->unit, "sample_type"))
			return -EBADMSG;
	for (i = 0; i < m->n_comment; i++)
		if (!str_ok(m, m->comment[i], "comment"))
			return -EBADMSG;

	/* +1: calloc(0) may return NULL, which would read as a failure. */
	p->mappings.ids = calloc(m->n_mapping + 1, sizeof(__u64));
	p->functions.ids = calloc(m->n_function + 1, sizeof(__u64));
	p->locations.ids = calloc(m->n_location + 1, sizeof(__u64));
	if (!p->mappings.ids || !p->functions.ids || !p->locations.ids)
		return -ENOMEM;
	for (i = 0; i < m->n_mapping; i++)
		p->mappings.ids[i] = m->mapping[i]->id;
	for (i = 0; i < m->n_function; i++)
		p->functions.ids[i] = m->function[i]->id;
	for (i = 0; i < m->n_location; i++)
		p->locations.ids[i] = m->location[i]->id;
	err = index_ids(&p->mappings, m->n_mapping, "mapping");
	if (!err)
		err = index_ids(&p->functions, m->n_function, "function");
	if (!err)
		err = index_ids(&p->locations, m->n_location, "location");
	if (err)
		return err;

	for (i = 0; i < m->n_mapping; i++)
		if (!str_ok(m, m->mapping[i]->filename, "mapping filename") ||
		    !str_ok(m, m->mapping[i]->build_id, "mapping build_id"))
			return -EBADMSG;
	for (i = 0; i < m->n_function; i++) {
		const pb_function_t *f = m->function[i];

		if (!str_ok(m, f->name, "function name") ||
		    !str_ok(m, f->system_name, "function system_name") ||
		    !str_ok(m, f->filename, "function filename"))
			return -EBADMSG;
	}
	for (i = 0; i < m->n_location; i++) {
		const pb_location_t *l = m->location[i];

		if (l->mapping_id && lookup_id(&p->mappings, l->mapping_id) < 0) {
			log_warn("pprof: location %llu refers to unknown mapping %llu",
				 (unsigned long long)l->id, (unsigned long long)l->mapping_id);
			return -EBADMSG;
		}
		for (j = 0; j < l->n_line; j++) {
			if (lookup_id(&p->functions, l->line[j]->function_id) < 0) {
				log_warn("pprof: location %llu refers to unknown function %llu",
					 (unsigned long long)l->id,
					 (unsigned long long)l->line[j]->function_id);
				return -EBADMSG;
			}
		}
	}
	if (m->n_sample && !m->n_sample_type) {
		log_warn("pprof: samples without sample types");
		return -EBADMSG;
	}
	for (i = 0; i < m->n_sample; i++) {
		const pb_sample_t *s = m->sample[i];

		if (s->n_value != m->n_sample_type) {
			log_warn("pprof: sample %zu has %zu values for %zu sample types", i,
				 s->n_value, m->n_sample_type);
			return -EBADMSG;
		}
		for (j = 0; j < s->n_location_id; j++) {
			if (lookup_id(&p->locations, s->location_id[j]) < 0) {
				log_warn("pprof: sample %zu refers to unknown location %llu", i,
					 (unsigned long long)s->location_id[j]);
				return -EBADMSG;
			}
		}
		for (j = 0; j < s->n_label; j++) {
			const pb_label_t *l = s->label[j];

			if (!str_ok(m, l->key, "label key") || !str_ok(m, l->str, "label str") ||
			    !str_ok(m, l->num_unit, "label num_unit"))
				return -EBADMSG;
		}
	}
	return 0;
}

struct pprof_profile *pprof__decode_opts(const void *buf, size_t len,
					 const struct pprof_decode_opts *opts)
{
	size_t max_len =
	    opts && opts->max_decoded_bytes ? opts->max_decoded_bytes : PPROF_MAX_DECODED_BYTES;
	const unsigned char *data = buf;
	unsigned char *raw = NULL;
	struct pprof_profile *p = NULL;
	size_t raw_len = len;
	int err;

	if (!buf && len) {
		err = -EINVAL;
		goto cleanup;
	}
	if (len >= 2 && data[0] == GZIP_MAGIC0 && data[1] == GZIP_MAGIC1) {
		err = gunzip(data, len, max_len, &raw, &raw_len);
		if (err)
			goto cleanup;
		data = raw;
	} else if (len > max_len) {
		err = -EFBIG;
		goto cleanup;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* protobuf-c copies what it keeps, so raw can go right after this. */
	p->msg = perftools__profiles__profile__unpack(NULL, raw_len, data);
	if (!p->msg) {
		log_warn("pprof: not a valid profile protobuf (%zu bytes)", raw_len);
		err = -EBADMSG;
		goto cleanup;
	}
	err = validate(p);

cleanup:
	free(raw);
	if (err) {
		pprof__profile_free(p);
		errno = -err;
		return NULL;
	}
	return p;
}

struct pprof_profile *pprof__decode(const void *buf, size_t len)
{
	return pprof__decode_opts(buf, len, NULL);
}

struct pprof_profile *pprof__read_file(const char *path)
{
	struct pprof_profile *p = NULL;
	unsigned char *buf = NULL, *q;
	size_t len = 0, cap = 0;
	struct stat st;
	ssize_t n;
	int fd = -1, err;

	if (!path) {
		err = -EINVAL;
		goto cleanup;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		err = -errno;
		log_error("cannot open %s: %s", path, strerror(-err));
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		log_error("cannot read %s: not a regular file", path);
		err = -EINVAL;
		goto cleanup;
	}
	/* Read to EOF rather than trusting st_size, which can change under us; bounded like the
	 * decompressed size. */
	cap = min_t(size_t, max_t(size_t, st.st_size + 1, 4096), PPROF_MAX_DECODED_BYTES);
	buf = malloc(cap);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (;;) {
		if (len == cap) {
			if (cap >= PPROF_MAX_DECODED_BYTES) {
				log_error("cannot read %s: larger than %llu bytes", path,
					  PPROF_MAX_DECODED_BYTES);
				err = -EFBIG;
				goto cleanup;
			}
			cap = min_t(size_t, cap * 2, PPROF_MAX_DECODED_BYTES);
			q = realloc(buf, cap);
			if (!q) {
				err = -ENOMEM;
				goto cleanup;
			}
			buf = q;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			log_error("cannot read %s: %s", path, strerror(-err));
			goto cleanup;
		}
		if (n == 0)
			break;
		len += n;
	}
	p = pprof__decode(buf, len);
	err = p ? 0 : -errno;

cleanup:
	if (fd >= 0)
		close(fd);
	free(buf);
	if (err) {
		errno = -err;
		return NULL;
	}
	return p;
}

void pprof__profile_free(struct pprof_profile *p)
{
	if (!p)
		return;
	if (p->msg)
		perftools__profiles__profile__free_unpacked(p->msg, NULL);
	htab__free(&p->mappings.h);
	free(p->mappings.ids);
	htab__free(&p->locations.h);
	free(p->locations.ids);
	htab__free(&p->functions.h);
	free(p->functions.ids);
	free(p);
}

const struct Perftools__Profiles__Profile *pprof__profile_msg(const struct pprof_profile *p)
{
	return p->msg;
}

const char *pprof__profile_str(const struct pprof_profile *p, __s64 idx)
{
	if (idx < 0 || (size_t)idx >= p->msg->n_string_table)
		return NULL;
	return p->msg->string_table[idx];
}

const struct Perftools__Profiles__Mapping *pprof__profile_mapping(const struct pprof_profile *p,
								  __u64 id)
{
	ssize_t i = lookup_id(&p->mappings, id);

	return i < 0 ? NULL : p->msg->mapping[i];
}

const struct Perftools__Profiles__Location *pprof__profile_location(const struct pprof_profile *p,
								    __u64 id)
{
	ssize_t i = lookup_id(&p->locations, id);

	return i < 0 ? NULL : p->msg->location[i];
}

const struct Perftools__Profiles__Function *pprof__profile_function(const struct pprof_profile *p,
								    __u64 id)
{
	ssize_t i = lookup_id(&p->functions, id);

	return i < 0 ? NULL : p->msg->function[i];
}

int pprof__profile_sample_index(const struct pprof_profile *p, const char *type)
{
	size_t i;

	for (i = 0; i < p->msg->n_sample_type; i++)
		if (strcmp(p->msg->string_table[p->msg->sample_type[i]->type], type) == 0)
			return i;
	return -ENOENT;
}
