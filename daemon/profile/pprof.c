// SPDX-License-Identifier: MIT
/* Builds pprof profiles with interned strings, functions and locations, encodes them through
 * protobuf-c straight into a gzip stream (pprof_decode.c reads them back). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* next_in is then a pointer to const, so encoding needs no cast that drops const. */
#define ZLIB_CONST
#include <zlib.h>

#include "profile.pb-c.h"

#include "util/common.h"
#include "util/atomic_file.h"
#include "util/htab.h"
#include "util/log.h"
#include "profile/pprof.h"

typedef Perftools__Profiles__Profile pb_profile_t;
typedef Perftools__Profiles__ValueType pb_value_type_t;
typedef Perftools__Profiles__Sample pb_sample_t;
typedef Perftools__Profiles__Label pb_label_t;
typedef Perftools__Profiles__Mapping pb_mapping_t;
typedef Perftools__Profiles__Location pb_location_t;
typedef Perftools__Profiles__Line pb_line_t;
typedef Perftools__Profiles__Function pb_function_t;

struct pprof_builder {
	/* The message is the storage: its arrays grow in place and encoding packs it as is. */
	pb_profile_t prof;
	size_t string_cap, function_cap, location_cap, mapping_cap, sample_cap, comment_cap;
	struct htab strings, functions, locations; /* indices into prof's arrays */
	pb_value_type_t *sample_types;
	pb_value_type_t **sample_type_ptrs;
	pb_value_type_t period_type;
};

struct func_key {
	__s64 name, system_name, filename;
};

struct loc_key {
	__u64 mapping_id, address;
};

static int array_reserve(void **arr, size_t *cap, size_t need, size_t elem_sz)
{
	size_t new_cap;
	void *p;

	if (need <= *cap)
		return 0;
	new_cap = max_t(size_t, *cap * 2, 16);
	if (new_cap < need)
		new_cap = need;
	p = reallocarray(*arr, new_cap, elem_sz);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = new_cap;
	return 0;
}

static bool str_eq(const void *ctx, uintptr_t idx, const void *key)
{
	const struct pprof_builder *b = ctx;

	return strcmp(b->prof.string_table[idx], key) == 0;
}

/* Index of s in the string table, adding a copy when it is new; NULL stands for "".
 * The index (>= 0) or -errno. */
static __s64 intern_str(struct pprof_builder *b, const char *s)
{
	char *copy = NULL;
	uintptr_t idx;
	__u64 hash;
	int err;

	if (!s)
		s = "";
	/* Room first: once the string is in the table, adding its index cannot fail. */
	err = htab__reserve(&b->strings, 1);
	if (err)
		return err;
	hash = htab__hash_str(s);
	if (htab__find(&b->strings, hash, str_eq, b, s, &idx))
		return idx;
	err = array_reserve((void **)&b->prof.string_table, &b->string_cap,
			    b->prof.n_string_table + 1, sizeof(*b->prof.string_table));
	if (err)
		return err;
	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	b->prof.string_table[b->prof.n_string_table] = copy;
	htab__set(&b->strings, hash, str_eq, b, s, b->prof.n_string_table);
	return b->prof.n_string_table++;
}

static bool func_eq(const void *ctx, uintptr_t idx, const void *key)
{
	const pb_function_t *f = ((const struct pprof_builder *)ctx)->prof.function[idx];
	const struct func_key *k = key;

	return f->name == k->name && f->system_name == k->system_name && f->filename == k->filename;
}

/* The function id (>= 1) or -errno. */
static long intern_function(struct pprof_builder *b, const struct pprof_line *line)
{
	struct func_key key;
	pb_function_t *f = NULL;
	uintptr_t idx;
	__u64 hash;
	long err;

	key.name = intern_str(b, line->function);
	key.system_name = intern_str(b, line->system_name ? line->system_name : line->function);
	key.filename = intern_str(b, line->filename);
	if (key.name < 0 || key.system_name < 0 || key.filename < 0)
		return -ENOMEM;
	err = htab__reserve(&b->functions, 1);
	if (err)
		return err;
	hash = htab__hash_u64(key.name ^
			      htab__hash_u64(key.system_name ^ htab__hash_u64(key.filename)));
	if (htab__find(&b->functions, hash, func_eq, b, &key, &idx))
		return idx + 1;
	err = array_reserve((void **)&b->prof.function, &b->function_cap, b->prof.n_function + 1,
			    sizeof(*b->prof.function));
	if (err)
		return err;
	f = malloc(sizeof(*f));
	if (!f)
		return -ENOMEM;
	perftools__profiles__function__init(f);
	f->name = key.name;
	f->system_name = key.system_name;
	f->filename = key.filename;
	b->prof.function[b->prof.n_function] = f;
	f->id = ++b->prof.n_function;
	htab__set(&b->functions, hash, func_eq, b, &key, f->id - 1);
	return f->id;
}

static bool loc_eq(const void *ctx, uintptr_t idx, const void *key)
{
	const pb_location_t *l = ((const struct pprof_builder *)ctx)->prof.location[idx];
	const struct loc_key *k = key;

	return l->mapping_id == k->mapping_id && l->address == k->address;
}

struct pprof_builder *pprof__new(const struct pprof_opts *opts)
{
	struct pprof_builder *b = NULL;
	__s64 idx;
	size_t i;
	int err;

	if (!opts || !opts->sample_types || !opts->sample_type_cnt) {
		err = -EINVAL;
		goto cleanup;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		err = -ENOMEM;
		goto cleanup;
	}
	perftools__profiles__profile__init(&b->prof);
	b->sample_types = calloc(opts->sample_type_cnt, sizeof(*b->sample_types));
	b->sample_type_ptrs = calloc(opts->sample_type_cnt, sizeof(*b->sample_type_ptrs));
	if (!b->sample_types || !b->sample_type_ptrs) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* pprof rejects a string table that does not start with "". */
	if (intern_str(b, "") != 0) {
		err = -ENOMEM;
		goto cleanup;
	}

	for (i = 0; i < opts->sample_type_cnt; i++) {
		const struct pprof_value_type *vt = &opts->sample_types[i];
		pb_value_type_t *pvt = &b->sample_types[i];

		if (!vt->type) {
			log_warn("pprof: sample type %zu has no name", i);
			err = -EINVAL;
			goto cleanup;
		}
		perftools__profiles__value_type__init(pvt);
		pvt->type = intern_str(b, vt->type);
		pvt->unit = intern_str(b, vt->unit);
		if (pvt->type < 0 || pvt->unit < 0) {
			err = -ENOMEM;
			goto cleanup;
		}
		b->sample_type_ptrs[i] = pvt;
	}
	b->prof.sample_type = b->sample_type_ptrs;
	b->prof.n_sample_type = opts->sample_type_cnt;

	if (opts->period_type.type) {
		perftools__profiles__value_type__init(&b->period_type);
		b->period_type.type = intern_str(b, opts->period_type.type);
		b->period_type.unit = intern_str(b, opts->period_type.unit);
		if (b->period_type.type < 0 || b->period_type.unit < 0) {
			err = -ENOMEM;
			goto cleanup;
		}
		b->prof.period_type = &b->period_type;
	}
	b->prof.period = opts->period;
	b->prof.time_nanos = opts->time_nanos;
	b->prof.duration_nanos = opts->duration_nanos;

	if (opts->default_sample_type) {
		/* pprof refuses to open a profile whose default names no sample type. */
		for (i = 0; i < opts->sample_type_cnt; i++)
			if (strcmp(opts->sample_types[i].type, opts->default_sample_type) == 0)
				break;
		if (i == opts->sample_type_cnt) {
			log_warn("pprof: default sample type %s is not a sample type",
				 opts->default_sample_type);
			err = -EINVAL;
			goto cleanup;
		}
		idx = intern_str(b, opts->default_sample_type);
		if (idx < 0) {
			err = idx;
			goto cleanup;
		}
		b->prof.default_sample_type = idx;
	}
	return b;

cleanup:
	pprof__free(b);
	errno = -err;
	return NULL;
}

void pprof__free(struct pprof_builder *b)
{
	size_t i;

	if (!b)
		return;
	for (i = 0; i < b->prof.n_string_table; i++)
		free(b->prof.string_table[i]);
	for (i = 0; i < b->prof.n_function; i++)
		free(b->prof.function[i]);
	/* Locations and samples are single allocations that carry their own arrays. */
	for (i = 0; i < b->prof.n_location; i++)
		free(b->prof.location[i]);
	for (i = 0; i < b->prof.n_mapping; i++)
		free(b->prof.mapping[i]);
	for (i = 0; i < b->prof.n_sample; i++)
		free(b->prof.sample[i]);
	free(b->prof.string_table);
	free(b->prof.function);
	free(b->prof.location);
	free(b->prof.mapping);
	free(b->prof.sample);
	free(b->prof.comment);
	htab__free(&b->strings);
	htab__free(&b->functions);
	htab__free(&b->locations);
	free(b->sample_types);
	free(b->sample_type_ptrs);
	free(b);
}

long pprof__add_mapping(struct pprof_builder *b, const struct pprof_mapping_desc *m)
{
	pb_mapping_t *pm = NULL;
	__s64 filename, build_id;
	long err;

	if (!b || !m)
		return -EINVAL;
	filename = intern_str(b, m->filename);
	build_id = intern_str(b, m->build_id);
	if (filename < 0 || build_id < 0)
		return -ENOMEM;
	err = array_reserve((void **)&b->prof.mapping, &b->mapping_cap, b->prof.n_mapping + 1,
			    sizeof(*b->prof.mapping));
	if (err)
		return err;
	pm = malloc(sizeof(*pm));
	if (!pm)
		return -ENOMEM;
	perftools__profiles__mapping__init(pm);
	pm->memory_start = m->memory_start;
	pm->memory_limit = m->memory_limit;
	pm->file_offset = m->file_offset;
	pm->filename = filename;
	pm->build_id = build_id;
	pm->has_functions = !!m->has_functions;
	pm->has_filenames = !!m->has_filenames;
	pm->has_line_numbers = !!m->has_line_numbers;
	pm->has_inline_frames = !!m->has_inline_frames;
	b->prof.mapping[b->prof.n_mapping] = pm;
	pm->id = ++b->prof.n_mapping;
	return pm->id;
}

long pprof__add_location(struct pprof_builder *b, __u64 mapping_id, __u64 address,
			 const struct pprof_line *lines, size_t line_cnt)
{
	struct loc_key key = {mapping_id, address};
	pb_location_t *loc = NULL;
	uintptr_t idx;
	pb_line_t *line_mem;
	size_t i, n = 0;
	__u64 hash = 0;
	long err, fid;

	if (!b || (!lines && line_cnt)) {
		err = -EINVAL;
		goto cleanup;
	}
	if (mapping_id > b->prof.n_mapping) {
		log_warn("pprof: location %#llx refers to unknown mapping %llu",
			 (unsigned long long)address, (unsigned long long)mapping_id);
		err = -EINVAL;
		goto cleanup;
	}
	/* Address 0 means "unknown", so such locations are told apart only by their lines. */
	if (address) {
		err = htab__reserve(&b->locations, 1);
		if (err)
			goto cleanup;
		hash = htab__hash_u64(mapping_id ^ htab__hash_u64(address));
		if (htab__find(&b->locations, hash, loc_eq, b, &key, &idx))
			return idx + 1;
	}
	for (i = 0; i < line_cnt; i++)
		n += lines[i].function != NULL;
	err = array_reserve((void **)&b->prof.location, &b->location_cap, b->prof.n_location + 1,
			    sizeof(*b->prof.location));
	if (err)
		goto cleanup;
	/* One allocation: the message, then its array of line pointers, then the lines. */
	loc = malloc(sizeof(*loc) + n * (sizeof(pb_line_t *) + sizeof(pb_line_t)));
	if (!loc) {
		err = -ENOMEM;
		goto cleanup;
	}
	perftools__profiles__location__init(loc);
	loc->mapping_id = mapping_id;
	loc->address = address;
	loc->line = n ? (pb_line_t **)(loc + 1) : NULL;
	line_mem = (pb_line_t *)((pb_line_t **)(loc + 1) + n);
	for (i = 0; i < line_cnt; i++) {
		pb_line_t *pl;

		if (!lines[i].function)
			continue;
		fid = intern_function(b, &lines[i]);
		if (fid < 0) {
			err = fid;
			goto cleanup;
		}
		pl = &line_mem[loc->n_line];
		perftools__profiles__line__init(pl);
		pl->function_id = fid;
		pl->line = lines[i].line;
		loc->line[loc->n_line++] = pl;
	}
	b->prof.location[b->prof.n_location] = loc;
	loc->id = ++b->prof.n_location;
	if (address)
		htab__set(&b->locations, hash, loc_eq, b, &key, loc->id - 1);
	return loc->id;

cleanup:
	free(loc);
	return err;
}

int pprof__add_sample(struct pprof_builder *b, const __u64 *location_ids, size_t loc_cnt,
		      const __s64 *values, const struct pprof_label *labels, size_t label_cnt)
{
	size_t value_cnt, i, sz, part;
	pb_sample_t *s = NULL;
	pb_label_t *label_mem;
	int err;

	if (!b || (!location_ids && loc_cnt) || !values || (!labels && label_cnt)) {
		err = -EINVAL;
		goto cleanup;
	}
	value_cnt = b->prof.n_sample_type;
	for (i = 0; i < loc_cnt; i++) {
		if (location_ids[i] == 0 || location_ids[i] > b->prof.n_location) {
			log_warn("pprof: sample refers to unknown location %llu",
				 (unsigned long long)location_ids[i]);
			err = -EINVAL;
			goto cleanup;
		}
	}
	for (i = 0; i < label_cnt; i++) {
		if (!labels[i].key) {
			log_warn("pprof: label %zu of a sample has no key", i);
			err = -EINVAL;
			goto cleanup;
		}
	}

	/* One allocation: the message, location ids, values, label pointers, labels. */
	if (__builtin_mul_overflow(loc_cnt + value_cnt, sizeof(__u64), &sz) ||
	    __builtin_mul_overflow(label_cnt, sizeof(pb_label_t *) + sizeof(pb_label_t), &part) ||
	    __builtin_add_overflow(sz, part, &sz) || __builtin_add_overflow(sz, sizeof(*s), &sz)) {
		err = -EOVERFLOW;
		goto cleanup;
	}
	err = array_reserve((void **)&b->prof.sample, &b->sample_cap, b->prof.n_sample + 1,
			    sizeof(*b->prof.sample));
	if (err)
		goto cleanup;
	s = malloc(sz);
	if (!s) {
		err = -ENOMEM;
		goto cleanup;
	}
	perftools__profiles__sample__init(s);
	s->n_location_id = loc_cnt;
	s->location_id = (uint64_t *)(s + 1);
	s->n_value = value_cnt;
	s->value = (int64_t *)(s->location_id + loc_cnt);
	s->n_label = label_cnt;
	s->label = (pb_label_t **)(s->value + value_cnt);
	label_mem = (pb_label_t *)(s->label + label_cnt);
	for (i = 0; i < loc_cnt; i++)
		s->location_id[i] = location_ids[i];
	for (i = 0; i < value_cnt; i++)
		s->value[i] = values[i];
	for (i = 0; i < label_cnt; i++) {
		pb_label_t *pl = &label_mem[i];

		perftools__profiles__label__init(pl);
		pl->key = intern_str(b, labels[i].key);
		if (labels[i].str) {
			pl->str = intern_str(b, labels[i].str);
		} else {
			pl->num = labels[i].num;
			if (labels[i].num_unit)
				pl->num_unit = intern_str(b, labels[i].num_unit);
		}
		if (pl->key < 0 || pl->str < 0 || pl->num_unit < 0) {
			err = -ENOMEM;
			goto cleanup;
		}
		s->label[i] = pl;
	}
	b->prof.sample[b->prof.n_sample++] = s;
	return 0;

cleanup:
	free(s);
	return err;
}

int pprof__add_comment(struct pprof_builder *b, const char *comment)
{
	__s64 idx;
	int err;

	if (!b || !comment)
		return -EINVAL;
	idx = intern_str(b, comment);
	if (idx < 0)
		return idx;
	err = array_reserve((void **)&b->prof.comment, &b->comment_cap, b->prof.n_comment + 1,
			    sizeof(*b->prof.comment));
	if (err)
		return err;
	b->prof.comment[b->prof.n_comment++] = idx;
	return 0;
}

/* A protobuf-c output buffer that deflates what it is given. protobuf-c appends a few bytes at
 * a time, so they are staged and handed to zlib in large pieces. */
struct gz_sink {
	ProtobufCBuffer base; /* first, so that the callback can cast back */
	z_stream zs;
	bool zs_live;
	unsigned char *out;
	size_t out_len, out_cap;
	int err; /* the first failure; append cannot report one */
	size_t stage_len;
	unsigned char stage[64 * 1024];
};

static int gz_deflate(struct gz_sink *s, const unsigned char *data, size_t len, int flush)
{
	unsigned char *p;
	size_t chunk;
	int ret;

	do {
		if (s->out_len == s->out_cap) {
			p = realloc(s->out, s->out_cap * 2);
			if (!p)
				return -ENOMEM;
			s->out = p;
			s->out_cap *= 2;
		}
		/* zlib counts in uInt; feed and drain at most that much per call. */
		chunk = min_t(size_t, len, UINT_MAX);
		s->zs.next_in = data;
		s->zs.avail_in = chunk;
		s->zs.next_out = s->out + s->out_len;
		s->zs.avail_out = min_t(size_t, s->out_cap - s->out_len, UINT_MAX);
		ret = deflate(&s->zs, flush);
		if (ret == Z_STREAM_ERROR)
			return -EINVAL;
		data += chunk - s->zs.avail_in;
		len -= chunk - s->zs.avail_in;
		s->out_len = s->zs.next_out - s->out;
	} while (len || (flush == Z_FINISH && ret != Z_STREAM_END));
	return 0;
}

static void gz_append(ProtobufCBuffer *buf, size_t len, const uint8_t *data)
{
	struct gz_sink *s = (struct gz_sink *)buf;

	if (s->err)
		return;
	if (len > sizeof(s->stage) - s->stage_len) {
		s->err = gz_deflate(s, s->stage, s->stage_len, Z_NO_FLUSH);
		s->stage_len = 0;
		if (s->err)
			return;
	}
	if (len >= sizeof(s->stage)) {
		s->err = gz_deflate(s, data, len, Z_NO_FLUSH);
		return;
	}
	memcpy(s->stage + s->stage_len, data, len);
	s->stage_len += len;
}

int pprof__encode(struct pprof_builder *b, void **buf, size_t *len)
{
	struct gz_sink *s = NULL;
	int err, ret;

	if (!b || !buf || !len)
		return -EINVAL;
	/* The sink is large (its staging area), so it lives on the heap, not the stack. */
	s = calloc(1, sizeof(*s));
	if (!s) {
		err = -ENOMEM;
		goto cleanup;
	}
	s->base.append = gz_append;
	s->out_cap = 64 * 1024;
	s->out = malloc(s->out_cap);
	if (!s->out) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* 16 + MAX_WBITS asks for a gzip header and trailer. Best speed, as Go's runtime/pprof
	 * does: profiles are encoded on every scrape and gain little from harder work. */
	ret = deflateInit2(&s->zs, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
	if (ret != Z_OK) {
		log_error("pprof: deflateInit2 failed: %d", ret);
		err = ret == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
		goto cleanup;
	}
	s->zs_live = true;

	perftools__profiles__profile__pack_to_buffer(&b->prof, &s->base);
	if (!s->err)
		s->err = gz_deflate(s, s->stage, s->stage_len, Z_FINISH);
	if (s->err) {
		err = s->err;
		log_error("pprof: cannot compress profile: %s", strerror(-err));
		goto cleanup;
	}
	*buf = s->out;
	*len = s->out_len;
	s->out = NULL;
	err = 0;

cleanup:
	if (s) {
		if (s->zs_live)
			deflateEnd(&s->zs);
		free(s->out);
		free(s);
	}
	return err;
}

int pprof__write_file(struct pprof_builder *b, const char *path)
{
	void *buf = NULL;
	size_t len = 0;
	int err;

	if (!b || !path || !*path)
		return -EINVAL;
	err = pprof__encode(b, &buf, &len);
	if (!err)
		err = atomic_file__write(path, buf, len);
	free(buf);
	return err;
}
