// SPDX-License-Identifier: MIT
/* pprof__decode() on arbitrary bytes, gzipped or raw, then every reference a caller may follow
 * without checking, which the decoder promises to have validated: strings, mappings,
 * locations, functions. Decoded twice, the second time with a small size limit. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "profile/pprof.h"
#include "profile/pprof_decode.h"
#include "profile.pb-c.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

static void check_str(const struct pprof_profile *p, int64_t idx)
{
	const char *s = pprof__profile_str(p, idx);

	FUZZ_CHECK(s);
	FUZZ_CHECK(strlen(s) < SIZE_MAX);
}

static void walk(const struct pprof_profile *p)
{
	const Perftools__Profiles__Profile *m = pprof__profile_msg(p);

	FUZZ_CHECK(m);
	for (size_t i = 0; i < m->n_sample_type; i++) {
		check_str(p, m->sample_type[i]->type);
		FUZZ_CHECK(pprof__profile_sample_index(
			       p, pprof__profile_str(p, m->sample_type[i]->type)) >= 0);
	}
	FUZZ_CHECK(pprof__profile_sample_index(p, "\x01no such type") == -ENOENT);
	for (size_t i = 0; i < m->n_sample; i++) {
		const Perftools__Profiles__Sample *s = m->sample[i];

		FUZZ_CHECK(s->n_value == m->n_sample_type);
		for (size_t j = 0; j < s->n_location_id; j++) {
			const Perftools__Profiles__Location *l =
			    pprof__profile_location(p, s->location_id[j]);

			FUZZ_CHECK(l);
			if (l->mapping_id) {
				const Perftools__Profiles__Mapping *mp =
				    pprof__profile_mapping(p, l->mapping_id);

				FUZZ_CHECK(mp);
				check_str(p, mp->filename);
				check_str(p, mp->build_id);
			}
			for (size_t k = 0; k < l->n_line; k++) {
				const Perftools__Profiles__Function *f =
				    pprof__profile_function(p, l->line[k]->function_id);

				FUZZ_CHECK(f);
				check_str(p, f->name);
				check_str(p, f->system_name);
				check_str(p, f->filename);
			}
		}
		for (size_t j = 0; j < s->n_label; j++) {
			check_str(p, s->label[j]->key);
			check_str(p, s->label[j]->str);
			check_str(p, s->label[j]->num_unit);
		}
	}
	for (size_t i = 0; i < m->n_comment; i++)
		check_str(p, m->comment[i]);
	FUZZ_CHECK(!pprof__profile_str(p, -1));
	FUZZ_CHECK(!pprof__profile_str(p, (int64_t)m->n_string_table));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pprof_decode_opts small = {.max_decoded_bytes = 4096};
	struct pprof_profile *p;

	p = pprof__decode(data, size);
	if (p) {
		walk(p);
		pprof__profile_free(p);
	} else {
		FUZZ_CHECK(errno == EBADMSG || errno == EFBIG || errno == ENOMEM);
	}
	p = pprof__decode_opts(data, size, &small);
	if (p) {
		walk(p);
		pprof__profile_free(p);
	} else {
		FUZZ_CHECK(errno == EBADMSG || errno == EFBIG || errno == ENOMEM);
	}
	return 0;
}
