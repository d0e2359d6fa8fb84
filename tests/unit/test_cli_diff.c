// SPDX-License-Identifier: MIT
/* Tests of the sites and diff behind `allocscope diff` (profile/site.c, profile/sitediff.c) on
 * profiles built with our own pprof builder and read back through the decoder: allocator frames
 * skipped, sites summed per file:line or per function, causes joined, rows ordered by absolute
 * change, and the relative change as printed. */
#include <stdlib.h>

#include "util/common.h"
#include "profile/pprof.h"
#include "profile/pprof_decode.h"
#include "profile/sitediff.h"
#include "test.h"

static const struct pprof_value_type heap_types[] = {
    {"alloc_objects", "count"},
    {"alloc_space", "bytes"},
    {"inuse_objects", "count"},
    {"inuse_space", "bytes"},
};

#define IDX_OBJECTS 0
#define IDX_SPACE   1

/* One stack of a test profile: frames leaf first, one line each (lines[1] set: the leaf
 * location also holds an inlined caller). */
struct t_frame {
	const char *function;
	const char *file;
	__s64 line;
};

struct t_sample {
	struct t_frame frames[4];
	__s64 objects, bytes;
	const char *cause;
};

static struct pprof_profile *build(const struct t_sample *samples, size_t cnt, __s64 period)
{
	struct pprof_opts opts = {
	    .sample_types = heap_types,
	    .sample_type_cnt = ARRAY_SIZE(heap_types),
	    .period_type = {"space", "bytes"},
	    .period = period,
	};
	struct pprof_mapping_desc app = {
	    .memory_start = 0x400000, .memory_limit = 0x500000, .filename = "/usr/bin/app"};
	struct pprof_profile *p = NULL;
	struct pprof_builder *b;
	void *buf = NULL;
	size_t len = 0;
	long map;
	__u64 addr = 0x401000;
	int err = 0;

	b = pprof__new(&opts);
	if (!ASSERT_OK_PTR(b, "pprof__new"))
		return NULL;
	map = pprof__add_mapping(b, &app);
	for (size_t i = 0; i < cnt && !err; i++) {
		const struct t_sample *s = &samples[i];
		__u64 locs[4];
		size_t n = 0;
		__s64 values[4] = {s->objects, s->bytes, 0, 0};
		struct pprof_label label = {.key = "cause", .str = s->cause};

		for (; n < 4 && s->frames[n].function; n++) {
			struct pprof_line line = {s->frames[n].function, NULL, s->frames[n].file,
						  s->frames[n].line};
			long id = pprof__add_location(b, map, addr += 16, &line, 1);

			if (id < 0) {
				err = id;
				break;
			}
			locs[n] = id;
		}
		if (!err)
			err = pprof__add_sample(b, locs, n, values, &label, s->cause ? 1 : 0);
	}
	if (ASSERT_OK(err, "fill profile") && ASSERT_OK(pprof__encode(b, &buf, &len), "encode")) {
		p = pprof__decode(buf, len);
		ASSERT_OK_PTR(p, "decode");
	}
	free(buf);
	pprof__free(b);
	return p;
}

/* The C program's profile before and after: grow_site doubles, steady_site stays, gone_site
 * stops allocating, new_site starts (through mmap). */
static const struct t_sample base_samples[] = {
    {{{"malloc", "malloc.c", 3287}, {"grow_site", "/src/grow.c", 37}, {"main", "/src/grow.c", 60}},
     100,
     100000,
     NULL},
    {{{"malloc", "malloc.c", 3287},
      {"steady_site", "/src/grow.c", 43},
      {"main", "/src/grow.c", 59}},
     50,
     204800,
     NULL},
    /* The same site through calloc: summed with the malloc stack above. */
    {{{"calloc", "malloc.c", 3700},
      {"steady_site", "/src/grow.c", 43},
      {"main", "/src/grow.c", 59}},
     10,
     1000,
     NULL},
    {{{"__libc_malloc", NULL, 0}, {"gone_site", "/src/grow.c", 50}, {"main", "/src/grow.c", 61}},
     5,
     5000,
     NULL},
};

static const struct t_sample new_samples[] = {
    {{{"malloc", "malloc.c", 3287}, {"grow_site", "/src/grow.c", 37}, {"main", "/src/grow.c", 60}},
     200,
     200000,
     NULL},
    {{{"malloc", "malloc.c", 3287},
      {"steady_site", "/src/grow.c", 43},
      {"main", "/src/grow.c", 59}},
     50,
     204800,
     NULL},
    {{{"calloc", "malloc.c", 3700},
      {"steady_site", "/src/grow.c", 43},
      {"main", "/src/grow.c", 59}},
     10,
     1000,
     NULL},
    {{{"mmap64", NULL, 0}, {"new_site", "/src/grow.c", 55}, {"main", "/src/grow.c", 62}},
     1,
     4194304,
     NULL},
};

static const struct site *find_site(const struct site_set *s, const char *fn, __s64 line)
{
	for (size_t i = 0; i < site_set__cnt(s); i++) {
		const struct site *site = site_set__get(s, i);

		if (!strcmp(site->function, fn) && (line < 0 || site->line == line))
			return site;
	}
	test__fail(__FILE__, __LINE__, "no site %s:%lld", fn, (long long)line);
	return NULL;
}

TEST(site_allocator_names)
{
	static const char *const yes[] = {
	    "malloc", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc",
	    "memalign", "valloc", "pvalloc", "mmap", "mmap64", "__GI___mmap64", "__libc_malloc",
	    "__libc_calloc", "__mmap", "malloc@GLIBC_2.2.5", "strdup", "__strdup", "_Znwm",
	    "operator new(unsigned long)", "operator new[](unsigned long)",
	    /* The Go runtime's allocator and its entry points. */
	    "runtime.mallocgc", "runtime.mallocgcSmallNoscan", "runtime.mProf_Malloc",
	    "runtime.newobject", "runtime.makeslice", "runtime.growslice",
	    "runtime.mapassign_faststr", "internal/runtime/maps.newarray"};
	static const char *const no[] = {
	    "main", "malloc_trim", "my_malloc", "grow_site", "mallocx_wrap", "free_list",
	    "main.newRecords", "runtime.main", "runtime.malg", "main.mallocgc",
	    /* Only as the name of a synthetic leaf (a location without a mapping). */
	    "unknown", ""};

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
		ASSERT_TRUE(site_is_allocator_frame(yes[i]), yes[i]);
	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		ASSERT_TRUE(!site_is_allocator_frame(no[i]), no[i]);
	ASSERT_TRUE(!site_is_allocator_frame(NULL), "NULL");
}

TEST(site_sites_skip_allocators)
{
	struct pprof_profile *p = build(base_samples, ARRAY_SIZE(base_samples), 1);
	struct site_set *s = NULL, *raw = NULL;
	const struct site *site;

	if (!p)
		return;
	s = site_set__new(p, NULL);
	if (!ASSERT_OK_PTR(s, "sites"))
		goto cleanup;
	if (!ASSERT_EQ(site_set__cnt(s), 3, "grow, steady (malloc + calloc), gone") ||
	    !ASSERT_EQ(site_set__value_cnt(s), 4, "values per site"))
		goto cleanup;
	site = find_site(s, "steady_site", 43);
	if (site) {
		ASSERT_STREQ(site->file, "/src/grow.c", "steady_site file");
		ASSERT_EQ(site->values[IDX_SPACE], 204800 + 1000, "steady_site bytes summed");
		ASSERT_EQ(site->values[IDX_OBJECTS], 60, "steady_site objects summed");
		ASSERT_TRUE(site->causes == NULL, "no cause label in a C profile");
	}
	site = find_site(s, "gone_site", 50);
	if (site)
		ASSERT_EQ(site->values[IDX_SPACE], 5000, "__libc_malloc skipped too");
	ASSERT_EQ(site_set__total(s, IDX_SPACE), 100000 + 204800 + 1000 + 5000, "total bytes");
	site_set__sort(s, IDX_SPACE);
	ASSERT_STREQ(site_set__get(s, 0)->function, "steady_site", "largest first");
	ASSERT_STREQ(site_set__get(s, 1)->function, "grow_site", "second");
	ASSERT_STREQ(site_set__get(s, 2)->function, "gone_site", "smallest last");

	/* With the allocator frames kept, the allocators are the sites. */
	raw = site_set__new(p, &(struct site_set_opts){.keep_allocator_frames = 1});
	if (!ASSERT_OK_PTR(raw, "sites with allocator frames"))
		goto cleanup;
	ASSERT_EQ(site_set__cnt(raw), 3, "malloc, calloc, __libc_malloc");
	site = find_site(raw, "malloc", 3287);
	if (site)
		ASSERT_EQ(site->values[IDX_SPACE], 100000 + 204800, "malloc's bytes");
cleanup:
	site_set__free(raw);
	site_set__free(s);
	pprof__profile_free(p);
}

TEST(site_sites_by_function_and_causes)
{
	/* A Go profile: leaf frames are user code, one line allocates for two causes, and
	 * another line of the same function for a third. */
	static const struct t_sample go[] = {
	    {{{"main.build", "/src/app/main.go", 20}, {"main.main", "/src/app/main.go", 90}},
	     10,
	     2560,
	     "new-object"},
	    {{{"main.build", "/src/app/main.go", 20}, {"main.main", "/src/app/main.go", 91}},
	     4,
	     4096,
	     "slice-growth"},
	    {{{"main.build", "/src/app/main.go", 20}, {"main.main", "/src/app/main.go", 92}},
	     1,
	     256,
	     "new-object"},
	    {{{"main.build", "/src/app/main.go", 24}, {"main.main", "/src/app/main.go", 90}},
	     2,
	     1024,
	     "make-slice"},
	    {{{"main.other", "/src/app/other.go", 7}, {"main.main", "/src/app/main.go", 93}},
	     1,
	     64,
	     "interface-boxing"},
	};
	struct pprof_profile *p = build(go, ARRAY_SIZE(go), 524288);
	struct site_set *s = NULL, *f = NULL;
	const struct site *site;

	if (!p)
		return;
	s = site_set__new(p, NULL);
	f = site_set__new(p, &(struct site_set_opts){.by = SITE_BY_FUNCTION});
	if (!ASSERT_OK_PTR(s, "by site") || !ASSERT_OK_PTR(f, "by function"))
		goto cleanup;
	ASSERT_EQ(site_set__cnt(s), 3, "main.go:20, main.go:24, other.go:7");
	site = find_site(s, "main.build", 20);
	if (site) {
		ASSERT_EQ(site->values[IDX_SPACE], 2560 + 4096 + 256,
			  "line 20 summed over callers");
		ASSERT_STREQ(site->causes, "new-object,slice-growth", "distinct causes, sorted");
	}
	ASSERT_EQ(site_set__cnt(f), 2, "main.build, main.other");
	site = find_site(f, "main.build", -1);
	if (site) {
		ASSERT_EQ(site->line, 0, "no line by function");
		ASSERT_STREQ(site->file, "/src/app/main.go", "the function's file");
		ASSERT_EQ(site->values[IDX_SPACE], 2560 + 4096 + 256 + 1024, "both lines summed");
		ASSERT_STREQ(site->causes, "make-slice,new-object,slice-growth",
			     "causes of both lines");
	}
cleanup:
	site_set__free(f);
	site_set__free(s);
	pprof__profile_free(p);
}

TEST(sitediff_order_and_kinds)
{
	struct pprof_profile *pb = build(base_samples, ARRAY_SIZE(base_samples), 1);
	struct pprof_profile *pn = build(new_samples, ARRAY_SIZE(new_samples), 1);
	struct site_set *sb = NULL, *sn = NULL;
	struct site_diff *d = NULL;
	const struct site_diff_row *r;
	char rel[16];

	if (!pb || !pn)
		goto cleanup;
	sb = site_set__new(pb, NULL);
	sn = site_set__new(pn, NULL);
	if (!ASSERT_OK_PTR(sb, "base sites") || !ASSERT_OK_PTR(sn, "new sites"))
		goto cleanup;
	d = site_diff__new(sb, IDX_SPACE, sn, IDX_SPACE);
	if (!ASSERT_OK_PTR(d, "diff"))
		goto cleanup;
	if (!ASSERT_EQ(site_diff__cnt(d), 4, "grow, steady, gone, new") ||
	    !ASSERT_EQ(site_diff__changed_cnt(d), 3, "all but steady changed"))
		goto cleanup;
	/* By absolute change: new_site +4 MiB, grow_site +100000, gone_site -5000, steady 0. */
	r = site_diff__row(d, 0);
	ASSERT_STREQ(r->site->function, "new_site", "largest change first");
	ASSERT_EQ(r->kind, SITE_CHANGE_NEW, "new_site is new");
	ASSERT_STREQ(site_change__relative_str(r, rel, sizeof(rel)), "new", "new_site relative");
	r = site_diff__row(d, 1);
	ASSERT_STREQ(r->site->function, "grow_site", "grow_site second");
	ASSERT_EQ(r->site->line, 37, "grow_site line");
	ASSERT_EQ(r->base_val, 100000, "grow_site base");
	ASSERT_EQ(r->new_val, 200000, "grow_site new");
	ASSERT_EQ(r->change, 100000, "grow_site change");
	ASSERT_EQ(r->kind, SITE_CHANGE_GREW, "grow_site grew");
	ASSERT_STREQ(site_change__relative_str(r, rel, sizeof(rel)), "+100%", "grow_site +100%");
	r = site_diff__row(d, 2);
	ASSERT_STREQ(r->site->function, "gone_site", "gone_site third");
	ASSERT_EQ(r->change, -5000, "gone_site change");
	ASSERT_STREQ(site_change__relative_str(r, rel, sizeof(rel)), "gone", "gone_site relative");
	r = site_diff__row(d, 3);
	ASSERT_STREQ(r->site->function, "steady_site", "unchanged last");
	ASSERT_EQ(r->kind, SITE_CHANGE_SAME, "steady_site same");
	ASSERT_STREQ(site_change__relative_str(r, rel, sizeof(rel)), "0%", "steady relative");
	ASSERT_TRUE(site_diff__row(d, 4) == NULL, "no fifth row");

	/* By objects, the other way round: shrinking is negative. */
	site_diff__free(d);
	d = site_diff__new(sn, IDX_OBJECTS, sb, IDX_OBJECTS);
	if (!ASSERT_OK_PTR(d, "reverse diff"))
		goto cleanup;
	r = site_diff__row(d, 0);
	ASSERT_STREQ(r->site->function, "grow_site", "objects: grow_site first");
	ASSERT_EQ(r->change, -100, "grow_site lost 100 objects");
	ASSERT_EQ(r->kind, SITE_CHANGE_SHRANK, "shrank");
	ASSERT_STREQ(site_change__relative_str(r, rel, sizeof(rel)), "-50%", "grow_site -50%");

	/* Sites by function do not compare with sites by file:line. */
	site_set__free(sn);
	sn = site_set__new(pn, &(struct site_set_opts){.by = SITE_BY_FUNCTION});
	if (!ASSERT_OK_PTR(sn, "new sites by function"))
		goto cleanup;
	errno = 0;
	ASSERT_TRUE(!site_diff__new(sb, IDX_SPACE, sn, IDX_SPACE) && errno == EINVAL,
		    "by site against by function");
	errno = 0;
	ASSERT_TRUE(!site_diff__new(sb, IDX_SPACE, sb, 9) && errno == EINVAL,
		    "value index out of range");
cleanup:
	site_diff__free(d);
	site_set__free(sb);
	site_set__free(sn);
	pprof__profile_free(pb);
	pprof__profile_free(pn);
}

TEST(sitediff_relative_strings)
{
	static const struct {
		__s64 base, new_val;
		const char *want;
		enum site_change kind;
	} cases[] = {
	    {100, 200, "+100%", SITE_CHANGE_GREW},
	    {200, 100, "-50%", SITE_CHANGE_SHRANK},
	    {1000, 1035, "+3.5%", SITE_CHANGE_GREW},
	    {1000, 1030, "+3%", SITE_CHANGE_GREW},
	    {100000, 100001, "+<0.1%", SITE_CHANGE_GREW},
	    {100000, 99999, "-<0.1%", SITE_CHANGE_SHRANK},
	    {3, 4, "+33%", SITE_CHANGE_GREW},
	    {0, 5, "new", SITE_CHANGE_NEW},
	    {5, 0, "gone", SITE_CHANGE_GONE},
	    {7, 7, "0%", SITE_CHANGE_SAME},
	    {0, 0, "0%", SITE_CHANGE_SAME},
	    {1, 1000001, "+100000000%", SITE_CHANGE_GREW},
	};
	char buf[32];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct site_diff_row r = {};

		site_diff_row__set(&r, cases[i].base, cases[i].new_val);
		ASSERT_EQ(r.kind, cases[i].kind, cases[i].want);
		ASSERT_EQ(r.change, cases[i].new_val - cases[i].base, cases[i].want);
		ASSERT_STREQ(site_change__relative_str(&r, buf, sizeof(buf)), cases[i].want,
			     "relative string");
	}
	ASSERT_STREQ(site_change__name(SITE_CHANGE_SHRANK), "shrank", "kind name");
}
