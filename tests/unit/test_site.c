// SPDX-License-Identifier: MIT
/* The one site model (daemon/profile/site.c) seen by its three users: top's model
 * (cli/topview.c), diff (site sets compared by profile/sitediff.c) and explain (a site set by
 * file:line, sorted by alloc_space) attribute each sample to the same site, including stacks
 * whose allocator frames the old copies disagreed on. */
#include <stdlib.h>
#include <string.h>

#include "util/common.h"
#include "profile/pprof.h"
#include "profile/pprof_decode.h"
#include "profile/site.h"
#include "profile/sitediff.h"
#include "cli/topview.h"
#include "test.h"

static const struct pprof_value_type heap_types[] = {
    {"alloc_objects", "count"},
    {"alloc_space", "bytes"},
    {"inuse_objects", "count"},
    {"inuse_space", "bytes"},
};

#define IDX_SPACE 1

/* One stack, leaf first. A frame with no file and synthetic set is a location without a mapping,
 * as heap_profile.c writes the allocator leaf of a C stack; others are in the app's mapping. */
struct t_frame {
	const char *function;
	const char *file;
	__s64 line;
	int synthetic;
};

struct t_sample {
	struct t_frame frames[5];
	__s64 bytes;
	const char *cause;
	/* The site every user must name. */
	const char *want_function;
	__s64 want_line;
	const char *want_allocator;
};

static const struct t_sample samples[] = {
    /* malloc, then the Go runtime (a cgo-style stack), then user code. */
    {{{"malloc", NULL, 0, 1},
      {"runtime.mallocgc", "/go/src/runtime/malloc.go", 1000},
      {"runtime.newobject", "/go/src/runtime/malloc.go", 1700},
      {"main.build", "/src/app/main.go", 20},
      {"main.main", "/src/app/main.go", 90}},
     4096,
     "new-object",
     "main.build",
     20,
     "malloc"},
    /* top stopped at strdup (it skipped only the synthetic leaf); diff skipped strdup. */
    {{{"malloc", NULL, 0, 1},
      {"__strdup", "strdup.c", 42},
      {"copy_name", "/src/names.c", 12},
      {"main", "/src/names.c", 80}},
     100,
     NULL,
     "copy_name",
     12,
     "malloc"},
    /* top named operator new the site; diff skipped it. */
    {{{"malloc", NULL, 0, 1},
      {"operator new(unsigned long)", "new_op.cc", 50},
      {"make_node", "/src/tree.cc", 33},
      {"main", "/src/tree.cc", 70}},
     200,
     NULL,
     "make_node",
     33,
     "malloc"},
    /* An allocation of no known kind: diff named "unknown" the site, top skipped it. */
    {{{"unknown", NULL, 0, 1}, {"odd_site", "/src/odd.c", 5}, {"main", "/src/odd.c", 9}},
     300,
     NULL,
     "odd_site",
     5,
     "unknown"},
    /* A real libc frame below the synthetic leaf: top stopped at __libc_malloc. */
    {{{"malloc", NULL, 0, 1},
      {"__libc_malloc", "malloc.c", 3287},
      {"plain_site", "/src/plain.c", 7},
      {"main", "/src/plain.c", 9}},
     400,
     NULL,
     "plain_site",
     7,
     "malloc"},
    /* Another allocator's entry point as the synthetic leaf (jemalloc's mallocx). */
    {{{"mallocx", NULL, 0, 1}, {"grow_table", "/src/table.c", 21}, {"main", "/src/table.c", 30}},
     50,
     NULL,
     "grow_table",
     21,
     "mallocx"},
    /* Nothing above the allocator: no caller, for every user. */
    {{{"mmap", NULL, 0, 1}}, 500, NULL, SITE_NO_CALLER, 0, "mmap"},
};

static struct pprof_profile *build(void)
{
	struct pprof_opts opts = {
	    .sample_types = heap_types,
	    .sample_type_cnt = ARRAY_SIZE(heap_types),
	    .period_type = {"space", "bytes"},
	    .period = 524288,
	};
	struct pprof_mapping_desc app = {.memory_start = 0x400000,
					 .memory_limit = 0x500000,
					 .filename = "/usr/bin/app",
					 .has_functions = 1};
	struct pprof_profile *p = NULL;
	struct pprof_builder *b = pprof__new(&opts);
	__u64 addr = 0x401000;
	void *buf = NULL;
	size_t len = 0;
	long map;
	int err = 0;

	if (!ASSERT_OK_PTR(b, "pprof__new"))
		return NULL;
	map = pprof__add_mapping(b, &app);
	for (size_t i = 0; i < ARRAY_SIZE(samples) && !err; i++) {
		const struct t_sample *s = &samples[i];
		struct pprof_label l = {.key = "cause", .str = s->cause};
		__s64 values[4] = {1, s->bytes, 1, s->bytes};
		__u64 locs[5];
		size_t n = 0;

		for (; n < ARRAY_SIZE(s->frames) && s->frames[n].function; n++) {
			const struct t_frame *f = &s->frames[n];
			struct pprof_line line = {
			    .function = f->function, .filename = f->file, .line = f->line};
			long id = f->synthetic ? pprof__add_location(b, 0, 0, &line, 1)
					       : pprof__add_location(b, map, addr += 16, &line, 1);

			if (id < 0) {
				err = id;
				break;
			}
			locs[n] = id;
		}
		if (!err)
			err = pprof__add_sample(b, locs, n, values, &l, s->cause ? 1 : 0);
	}
	if (ASSERT_OK(err, "fill profile") && ASSERT_OK(pprof__encode(b, &buf, &len), "encode")) {
		p = pprof__decode(buf, len);
		ASSERT_OK_PTR(p, "decode");
	}
	free(buf);
	pprof__free(b);
	return p;
}

static const struct t_sample *want_of(const char *function)
{
	for (size_t i = 0; i < ARRAY_SIZE(samples); i++)
		if (!strcmp(samples[i].want_function, function))
			return &samples[i];
	return NULL;
}

TEST(site_one_sample_three_users)
{
	struct pprof_profile *p = build();
	struct site_set *by_line = NULL, *explain = NULL;
	struct site_diff *d = NULL;
	struct topview *tv = NULL;
	struct site_frame f;
	char what[128];

	if (!p)
		return;
	/* The rule itself, per sample. */
	for (size_t i = 0; i < ARRAY_SIZE(samples); i++) {
		const struct t_sample *w = &samples[i];

		site_frame__of_sample(p, i, 0, NULL, &f);
		snprintf(what, sizeof(what), "sample %zu (%s)", i, w->want_function);
		ASSERT_STREQ(f.function, w->want_function, what);
		ASSERT_EQ(f.line, w->want_line, what);
		ASSERT_STREQ(f.allocator, w->want_allocator, what);
	}

	/* top: one row per site, the allocator in its VIA column. */
	tv = topview__new(NULL);
	if (!ASSERT_OK_PTR(tv, "topview__new") || !ASSERT_EQ(topview__update(tv, p, 1), 1, "top"))
		goto cleanup;
	ASSERT_EQ(topview__site_cnt(tv), ARRAY_SIZE(samples), "top: one site per sample");
	for (size_t i = 0; i < topview__site_cnt(tv); i++) {
		const struct topview_site *s = topview__site(tv, i);
		const struct t_sample *w = want_of(s->function);

		if (!ASSERT_TRUE(w != NULL, s->function))
			continue;
		ASSERT_EQ(s->line, w->want_line, s->function);
		ASSERT_STREQ(s->allocator, w->want_allocator, s->function);
		ASSERT_EQ(s->alloc_bytes, w->bytes, s->function);
		ASSERT_TRUE(!w->cause || (s->cause && !strcmp(s->cause, w->cause)), "top: cause");
	}

	/* diff: the same sites, matched with themselves. */
	by_line = site_set__new(p, &(struct site_set_opts){.by = SITE_BY_LINE});
	if (!ASSERT_OK_PTR(by_line, "diff's sites"))
		goto cleanup;
	d = site_diff__new(by_line, IDX_SPACE, by_line, IDX_SPACE);
	if (!ASSERT_OK_PTR(d, "diff") ||
	    !ASSERT_EQ(site_diff__cnt(d), ARRAY_SIZE(samples), "diff: one row per sample"))
		goto cleanup;
	for (size_t i = 0; i < site_diff__cnt(d); i++) {
		const struct site *s = site_diff__row(d, i)->site;
		const struct t_sample *w = want_of(s->function);

		if (!ASSERT_TRUE(w != NULL, s->function))
			continue;
		ASSERT_EQ(s->line, w->want_line, s->function);
		ASSERT_STREQ(s->allocators, w->want_allocator, s->function);
		ASSERT_EQ(s->values[IDX_SPACE], w->bytes, s->function);
	}

	/* explain: by file:line, largest alloc_space first. */
	explain = site_set__new(p, &(struct site_set_opts){.by = SITE_BY_LINE});
	if (!ASSERT_OK_PTR(explain, "explain's sites"))
		goto cleanup;
	site_set__sort(explain, IDX_SPACE);
	ASSERT_STREQ(site_set__get(explain, 0)->function, "main.build", "explain: 4096 B first");
	ASSERT_STREQ(site_set__get(explain, 1)->function, SITE_NO_CALLER, "explain: 500 B");
	ASSERT_STREQ(site_set__get(explain, 5)->function, "copy_name", "explain: 100 B");
	ASSERT_STREQ(site_set__get(explain, 6)->function, "grow_table", "explain: 50 B last");
	ASSERT_STREQ(site_set__get(explain, 4)->function, "make_node", "explain: 200 B");
	ASSERT_STREQ(site_set__get(explain, 4)->file, "/src/tree.cc", "explain: its file");
	ASSERT_STREQ(site_set__get(explain, 3)->function, "odd_site", "explain: 300 B");
	ASSERT_STREQ(site_set__get(explain, 2)->function, "plain_site", "explain: 400 B");
	ASSERT_EQ(site_set__find(explain, site_set__get(explain, 3)), 3, "found after sorting");
cleanup:
	site_diff__free(d);
	site_set__free(explain);
	site_set__free(by_line);
	topview__free(tv);
	pprof__profile_free(p);
}

TEST(site_go_stack_by_cause_and_address)
{
	struct pprof_opts opts = {.sample_types = heap_types,
				  .sample_type_cnt = ARRAY_SIZE(heap_types)};
	struct pprof_mapping_desc lib = {.memory_start = 0x7f0000000000ULL,
					 .memory_limit = 0x7f0000100000ULL,
					 .filename = "/l.so"};
	struct pprof_line grow = {.function = "main.grow", .filename = "/src/g.go", .line = 7};
	struct pprof_label slice[] = {{.key = "cause", .str = "slice-growth"}};
	struct pprof_label boxing[] = {{.key = "cause", .str = "interface-boxing"}};
	struct pprof_builder *b = pprof__new(&opts);
	struct site_set *via = NULL, *line = NULL;
	struct pprof_profile *p = NULL;
	__s64 v1[4] = {1, 100, 0, 0}, v2[4] = {2, 200, 0, 0}, v3[4] = {3, 300, 0, 0};
	void *buf = NULL;
	size_t len = 0;
	long map, g, unk1, unk2;
	int err = 0;

	if (!ASSERT_OK_PTR(b, "pprof__new"))
		return;
	map = pprof__add_mapping(b, &lib);
	g = pprof__add_location(b, 0, 0, &grow, 1);
	unk1 = pprof__add_location(b, map, 0x7f0000001234ULL, NULL, 0);
	unk2 = pprof__add_location(b, map, 0x7f0000005678ULL, NULL, 0);
	{
		const __u64 s1[] = {g}, s2[] = {unk1}, s3[] = {unk2};

		err = err ?: pprof__add_sample(b, s1, 1, v1, slice, 1);
		err = err ?: pprof__add_sample(b, s1, 1, v2, boxing, 1);
		err = err ?: pprof__add_sample(b, s2, 1, v1, NULL, 0);
		err = err ?: pprof__add_sample(b, s3, 1, v3, NULL, 0);
	}
	if (!ASSERT_OK(err, "samples") || !ASSERT_OK(pprof__encode(b, &buf, &len), "encode"))
		goto cleanup;
	p = pprof__decode(buf, len);
	if (!ASSERT_OK_PTR(p, "decode"))
		goto cleanup;
	via = site_set__new(p, &(struct site_set_opts){.by = SITE_BY_LINE_AND_VIA});
	line = site_set__new(p, NULL);
	if (!ASSERT_OK_PTR(via, "by via") || !ASSERT_OK_PTR(line, "by line"))
		goto cleanup;
	/* One Go line, two causes: two rows for top, one (causes joined) for diff. */
	ASSERT_EQ(site_set__cnt(via), 4, "top: main.grow twice, two addresses");
	ASSERT_EQ(site_set__cnt(line), 3, "diff: main.grow once, two addresses");
	ASSERT_STREQ(site_set__get(line, 2)->causes, "interface-boxing,slice-growth", "causes");
	/* Unnamed frames: their address, in their object; each keeps its own name (the entries
	 * are sorted by pointer, so an address is never another entry's). */
	ASSERT_STREQ(site_set__get(line, 0)->function, "0x7f0000001234", "first address");
	ASSERT_STREQ(site_set__get(line, 0)->file, "/l.so", "its object");
	ASSERT_EQ(site_set__get(line, 0)->values[IDX_SPACE], 100, "its bytes");
	ASSERT_STREQ(site_set__get(line, 1)->function, "0x7f0000005678", "second address");
	ASSERT_EQ(site_set__get(line, 1)->values[IDX_SPACE], 300, "its bytes");
cleanup:
	site_set__free(via);
	site_set__free(line);
	pprof__profile_free(p);
	free(buf);
	pprof__free(b);
}

TEST(site_unnamed_frames_keep_their_address)
{
	static const struct pprof_value_type types[] = {{"alloc_objects", "count"},
							{"alloc_space", "bytes"}};
	struct pprof_opts opts = {.sample_types = types, .sample_type_cnt = 2};
	struct pprof_mapping_desc lib = {.memory_start = 0x7f0000000000ULL,
					 .memory_limit = 0x7f0000100000ULL,
					 .filename = "/l.so"};
	struct pprof_line named = {.function = "zzz", .filename = "/a.c", .line = 1};
	struct pprof_builder *b = pprof__new(&opts);
	struct pprof_profile *p = NULL;
	struct site_set *s = NULL;
	void *buf = NULL;
	size_t len = 0;
	long map;
	int err = 0;

	if (!ASSERT_OK_PTR(b, "pprof__new"))
		return;
	map = pprof__add_mapping(b, &lib);
	/* Named and unnamed frames interleaved, addresses in falling order: profdiff's sort moved
	 * the entries that an unnamed frame's name pointed into, and named one site "". */
	for (int i = 0; i < 6 && !err; i++) {
		long loc =
		    i % 2 ? pprof__add_location(b, 0, 0, &named, 1)
			  : pprof__add_location(b, map, 0x7f0000001600ULL - 0x100 * i, NULL, 0);
		__s64 v[2] = {1, 100 * (i + 1)};
		__u64 id = loc;

		err = loc < 0 ? loc : pprof__add_sample(b, &id, 1, v, NULL, 0);
	}
	if (!ASSERT_OK(err, "samples") || !ASSERT_OK(pprof__encode(b, &buf, &len), "encode"))
		goto cleanup;
	p = pprof__decode(buf, len);
	s = p ? site_set__new(p, NULL) : NULL;
	if (!ASSERT_OK_PTR(s, "sites") || !ASSERT_EQ(site_set__cnt(s), 4, "three addresses, zzz"))
		goto cleanup;
	ASSERT_STREQ(site_set__get(s, 0)->function, "0x7f0000001200", "lowest address first");
	ASSERT_EQ(site_set__get(s, 0)->values[1], 500, "its bytes");
	ASSERT_STREQ(site_set__get(s, 1)->function, "0x7f0000001400", "second address");
	ASSERT_EQ(site_set__get(s, 1)->values[1], 300, "its bytes");
	ASSERT_STREQ(site_set__get(s, 2)->function, "0x7f0000001600", "third address");
	ASSERT_EQ(site_set__get(s, 2)->values[1], 100, "its bytes");
	ASSERT_EQ(site_set__get(s, 3)->values[1], 200 + 400 + 600, "zzz summed");
cleanup:
	site_set__free(s);
	pprof__profile_free(p);
	free(buf);
	pprof__free(b);
}
