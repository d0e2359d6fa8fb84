// SPDX-License-Identifier: MIT
/* allocscope top's model: sites from built heap profiles, rates between two profiles, holding
 * a daemon's repeated answer, sorting, and rows that never exceed the terminal's width. */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "util/common.h"
#include "test.h"
#include "cli/topview.h"
#include "profile/pprof_decode.h"

#define SEC NSEC_PER_SEC

static const struct pprof_value_type heap_types[] = {
    {"alloc_objects", "count"},
    {"alloc_space", "bytes"},
    {"inuse_objects", "count"},
    {"inuse_space", "bytes"},
};

/* What one profile holds; scale multiplies every value, so two profiles differ by a delta. */
struct fixture_vals {
	__s64 heavy[4];	  /* malloc <- heavy_bytes (a.c:10) <- main, two stacks */
	__s64 heavy2[4];  /* malloc <- heavy_bytes (a.c:10) <- other */
	__s64 objs[4];	  /* calloc <- many_objects (a.c:20) <- main */
	__s64 go[4];	  /* main.grow (g.go:7), cause slice-growth */
	__s64 unknown[4]; /* mmap <- an address no symbol covers, in libx.so */
};

static struct pprof_profile *build(const struct fixture_vals *v)
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
	struct pprof_mapping_desc lib = {.memory_start = 0x7f0000000000ULL,
					 .memory_limit = 0x7f0000100000ULL,
					 .filename = "/usr/lib/libx.so"};
	struct pprof_line l_malloc = {.function = "malloc"}, l_calloc = {.function = "calloc"},
			  l_mmap = {.function = "mmap"};
	struct pprof_line l_heavy = {.function = "heavy_bytes", .filename = "/src/a.c", .line = 10};
	struct pprof_line l_objs = {.function = "many_objects", .filename = "/src/a.c", .line = 20};
	struct pprof_line l_main = {.function = "main", .filename = "/src/a.c", .line = 30};
	struct pprof_line l_other = {.function = "other", .filename = "/src/a.c", .line = 40};
	struct pprof_line l_go = {.function = "main.grow", .filename = "/src/g.go", .line = 7};
	struct pprof_label pid1[] = {{.key = "pid", .num = 11}};
	struct pprof_label pid2[] = {{.key = "pid", .num = 12}};
	struct pprof_label go_l[] = {{.key = "pid", .num = 12},
				     {.key = "cause", .str = "slice-growth"}};
	struct pprof_builder *b = pprof__new(&opts);
	struct pprof_profile *p = NULL;
	long app_id, lib_id, malloc_id, calloc_id, mmap_id, heavy, heavy_b, objs, mainf, other, go,
	    unk;
	void *buf = NULL;
	size_t len;
	int err = 0;

	if (!ASSERT_OK_PTR(b, "pprof__new"))
		return NULL;
	app_id = pprof__add_mapping(b, &app);
	lib_id = pprof__add_mapping(b, &lib);
	malloc_id = pprof__add_location(b, 0, 0, &l_malloc, 1);
	calloc_id = pprof__add_location(b, 0, 0, &l_calloc, 1);
	mmap_id = pprof__add_location(b, 0, 0, &l_mmap, 1);
	/* Two return addresses on the same line: one site. */
	heavy = pprof__add_location(b, app_id, 0x401000, &l_heavy, 1);
	heavy_b = pprof__add_location(b, app_id, 0x401004, &l_heavy, 1);
	objs = pprof__add_location(b, app_id, 0x402000, &l_objs, 1);
	mainf = pprof__add_location(b, app_id, 0x403000, &l_main, 1);
	other = pprof__add_location(b, app_id, 0x404000, &l_other, 1);
	go = pprof__add_location(b, app_id, 0x405000, &l_go, 1);
	unk = pprof__add_location(b, lib_id, 0x7f0000001234ULL, NULL, 0);
	{
		const __u64 s1[] = {malloc_id, heavy, mainf}, s2[] = {malloc_id, heavy_b, other};
		const __u64 s3[] = {calloc_id, objs, mainf}, s4[] = {go, mainf};
		const __u64 s5[] = {mmap_id, unk, mainf};

		err = err ?: pprof__add_sample(b, s1, 3, v->heavy, pid1, 1);
		err = err ?: pprof__add_sample(b, s2, 3, v->heavy2, pid1, 1);
		err = err ?: pprof__add_sample(b, s3, 3, v->objs, pid2, 1);
		err = err ?: pprof__add_sample(b, s4, 2, v->go, go_l, 2);
		err = err ?: pprof__add_sample(b, s5, 3, v->unknown, pid1, 1);
	}
	if (ASSERT_OK(err, "add samples") && ASSERT_OK(pprof__encode(b, &buf, &len), "encode"))
		p = pprof__decode(buf, len);
	ASSERT_OK_PTR(p, "decode");
	free(buf);
	pprof__free(b);
	return p;
}

static const struct fixture_vals first = {
    .heavy = {10, 10000, 2, 2000},
    .heavy2 = {5, 5000, 1, 1000},
    .objs = {1000, 4000, 100, 400},
    .go = {40, 8000, 4, 800},
    .unknown = {1, 4096, 1, 4096},
};

/* One second later: heavy_bytes +20000 B / +20 objects, many_objects +4000 B / +1000 objects,
 * main.grow +2000 B / +10, the mmap site unchanged. */
static const struct fixture_vals second = {
    .heavy = {20, 20000, 2, 2000},
    .heavy2 = {15, 15000, 1, 1000},
    .objs = {2000, 8000, 50, 200},
    .go = {50, 10000, 8, 1600},
    .unknown = {1, 4096, 1, 4096},
};

static const struct topview_site *find(struct topview *tv, const char *fn)
{
	for (size_t i = 0; i < topview__site_cnt(tv); i++)
		if (!strcmp(topview__site(tv, i)->function, fn))
			return topview__site(tv, i);
	return NULL;
}

TEST(topview_sites_and_rates)
{
	struct pprof_profile *a = build(&first), *b = build(&second);
	struct topview *tv = topview__new(NULL);
	const struct topview_site *s;
	struct topview_totals t;

	if (!a || !b || !ASSERT_OK_PTR(tv, "topview__new"))
		goto cleanup;
	if (!ASSERT_EQ(topview__update(tv, a, 5 * SEC), 1, "first update"))
		goto cleanup;
	topview__totals(tv, &t);
	ASSERT_EQ(t.have_rates, 0, "no rates from one profile");
	ASSERT_EQ(t.processes, 2, "distinct pid labels");
	ASSERT_EQ(t.inuse_bytes, 2000 + 1000 + 400 + 800 + 4096, "in use total");
	if (!ASSERT_EQ(topview__site_cnt(tv), 4, "sites: heavy (two stacks), objs, go, unknown"))
		goto cleanup;

	s = find(tv, "heavy_bytes");
	if (!ASSERT_OK_PTR(s, "heavy_bytes site"))
		goto cleanup;
	ASSERT_STREQ(s->allocator, "malloc", "the allocator leaf is the column, not the site");
	ASSERT_STREQ(s->file, "/src/a.c", "file");
	ASSERT_EQ(s->line, 10, "line");
	ASSERT_EQ(s->alloc_bytes, 15000, "two stacks, one site");
	ASSERT_TRUE(s->cause == NULL, "no cause for C");
	s = find(tv, "main.grow");
	if (ASSERT_OK_PTR(s, "Go site"))
		ASSERT_TRUE(s->allocator == NULL && s->cause && !strcmp(s->cause, "slice-growth"),
			    "Go site: cause label, no allocator");
	s = find(tv, "0x7f0000001234");
	if (ASSERT_OK_PTR(s, "unnamed frame named by its address"))
		ASSERT_STREQ(s->file, "/usr/lib/libx.so", "and its object");

	if (!ASSERT_EQ(topview__update(tv, b, 7 * SEC), 1, "second update"))
		goto cleanup;
	topview__totals(tv, &t);
	ASSERT_EQ(t.have_rates, 1, "rates after two profiles");
	s = find(tv, "heavy_bytes");
	ASSERT_EQ((long)s->alloc_bytes_per_s, 10000, "heavy_bytes: 20000 B over 2 s");
	ASSERT_EQ((long)s->alloc_objects_per_s, 10, "heavy_bytes: 20 objects over 2 s");
	s = find(tv, "many_objects");
	ASSERT_EQ((long)s->alloc_bytes_per_s, 2000, "many_objects bytes/s");
	ASSERT_EQ((long)s->alloc_objects_per_s, 500, "many_objects objects/s");
	ASSERT_EQ((long)find(tv, "0x7f0000001234")->alloc_bytes_per_s, 0, "unchanged site: 0");
	ASSERT_EQ((long)t.alloc_bytes_per_s, 10000 + 2000 + 1000, "total bytes/s");

	topview__sort(tv, TOPVIEW_SORT_ALLOC_BYTES);
	ASSERT_STREQ(topview__site(tv, 0)->function, "heavy_bytes", "first by bytes/s");
	ASSERT_STREQ(topview__site(tv, 1)->function, "many_objects", "second by bytes/s");
	topview__sort(tv, TOPVIEW_SORT_ALLOC_OBJECTS);
	ASSERT_STREQ(topview__site(tv, 0)->function, "many_objects", "first by objects/s");
	ASSERT_STREQ(topview__site(tv, 1)->function, "heavy_bytes", "second by objects/s");
	topview__sort(tv, TOPVIEW_SORT_INUSE_BYTES);
	ASSERT_STREQ(topview__site(tv, 0)->function, "0x7f0000001234", "first by in use");
	ASSERT_STREQ(topview__site(tv, 1)->function, "heavy_bytes", "second by in use");
	/* The order survives an update. */
	topview__update(tv, a, 9 * SEC);
	ASSERT_STREQ(topview__site(tv, 0)->function, "0x7f0000001234", "still by in use");
	{
		__s64 h[8];

		ASSERT_EQ(topview__history(tv, h, 8), 3, "three in-use points");
		ASSERT_EQ(h[0], 8296, "oldest first");
		ASSERT_EQ(h[1], 2000 + 1000 + 200 + 1600 + 4096, "second point");
	}
cleanup:
	topview__free(tv);
	pprof__profile_free(a);
	pprof__profile_free(b);
}

TEST(topview_baseline_and_hold)
{
	struct pprof_profile *a = build(&first), *b = build(&second);
	struct topview *tv = topview__new(&(struct topview_opts){.hold_ns = 3 * SEC});
	struct topview_totals t;

	if (!a || !b || !ASSERT_OK_PTR(tv, "topview__new"))
		goto cleanup;
	/* Our own probes start from nothing: the first profile already has rates. */
	ASSERT_EQ(topview__update(tv, NULL, 10 * SEC), 1, "empty baseline");
	ASSERT_EQ(topview__update(tv, a, 11 * SEC), 1, "first profile");
	ASSERT_EQ((long)find(tv, "heavy_bytes")->alloc_bytes_per_s, 15000, "rate from nothing");
	/* The daemon answered with the same drain: keep what is shown. */
	ASSERT_EQ(topview__update(tv, a, 12 * SEC), 0, "held");
	ASSERT_EQ((long)find(tv, "heavy_bytes")->alloc_bytes_per_s, 15000, "rate kept");
	ASSERT_EQ(topview__update(tv, b, 13 * SEC), 1, "new data");
	/* Measured from the last distinct profile (11 s): 20000 B in 2 s. */
	ASSERT_EQ((long)find(tv, "heavy_bytes")->alloc_bytes_per_s, 10000, "rate over 2 s");
	/* Still the same long after: the process allocates nothing. */
	ASSERT_EQ(topview__update(tv, b, 17 * SEC), 1, "unchanged past hold_ns");
	topview__totals(tv, &t);
	ASSERT_EQ((long)t.alloc_bytes_per_s, 0, "idle: 0 B/s");
cleanup:
	topview__free(tv);
	pprof__profile_free(a);
	pprof__profile_free(b);
}

TEST(topview_rejects_non_heap_profiles)
{
	static const struct pprof_value_type cpu[] = {{"samples", "count"}, {"cpu", "nanoseconds"}};
	struct pprof_opts opts = {.sample_types = cpu, .sample_type_cnt = 2};
	struct pprof_builder *b = pprof__new(&opts);
	struct topview *tv = topview__new(NULL);
	struct pprof_profile *p = NULL;
	void *buf = NULL;
	size_t len;

	if (!ASSERT_OK_PTR(b, "pprof__new") || !ASSERT_OK_PTR(tv, "topview__new") ||
	    !ASSERT_OK(pprof__encode(b, &buf, &len), "encode"))
		goto cleanup;
	p = pprof__decode(buf, len);
	if (ASSERT_OK_PTR(p, "decode"))
		ASSERT_EQ(topview__update(tv, p, SEC), -EINVAL, "a CPU profile");
cleanup:
	free(buf);
	pprof__free(b);
	pprof__profile_free(p);
	topview__free(tv);
}

/* Terminal columns of a UTF-8 string. */
static int columns(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

TEST(topview_rows_fit_the_width)
{
	struct topview_site s = {
	    .function =
		"std::vector<std::basic_string<char>, std::allocator<std::basic_string<char> "
		">>::_M_realloc_insert<std::basic_string<char> const&>",
	    .file = "/very/long/path/to/some/source/directory/bits/vector_tcc_implementation.h",
	    .line = 12345,
	    .cause = "string-bytes-conversion",
	    .alloc_bytes_per_s = 123.4 * 1024 * 1024,
	    .alloc_objects_per_s = 98765,
	    .inuse_bytes = 1023 * 1024,
	};
	struct topview_site small = {
	    .function = "f", .file = "/a/b.c", .line = 3, .allocator = "malloc"};
	char row[1024], hdr[1024];

	for (int w = 20; w <= 200; w++) {
		for (int utf8 = 0; utf8 <= 1; utf8++) {
			topview__fmt_row(&s, w, 16, 1, utf8, row, sizeof(row));
			if (!ASSERT_TRUE(columns(row) <= w, "long row fits") ||
			    !ASSERT_TRUE(w < 60 || columns(row) == w, "long row fills the width"))
				return;
		}
		topview__fmt_header(w, 16, -1, hdr, sizeof(hdr));
		if (!ASSERT_TRUE(columns(hdr) <= w, "header fits"))
			return;
	}
	topview__fmt_row(&s, 80, 16, 1, 1, row, sizeof(row));
	ASSERT_TRUE(strstr(row, "123 MiB") && strstr(row, "98.8k") && strstr(row, "1023 KiB"),
		    "values");
	ASSERT_TRUE(strstr(row, "string-bytes-co\xe2\x80\xa6") != NULL, "cause cut, with …");
	ASSERT_TRUE(strstr(row, "std::vector<") != NULL, "function kept from its start");
	ASSERT_TRUE(strstr(row, ":12345") != NULL, "line kept at the end of the path");
	topview__fmt_row(&small, 80, 6, 1, 1, row, sizeof(row));
	ASSERT_STREQ(row, "      0 B        0       0 B  malloc  f  b.c:3", "short row");
	topview__fmt_row(&small, 80, 6, 0, 1, row, sizeof(row));
	ASSERT_STREQ(row, "        -        -       0 B  malloc  f  b.c:3", "no rates yet");
	topview__fmt_header(80, 6, TOPVIEW_SORT_ALLOC_OBJECTS, hdr, sizeof(hdr));
	ASSERT_STREQ(hdr, "  ALLOC/s  *OBJS/s    IN USE  VIA     SITE", "header, sort marked");
	topview__fmt_header(80, 6, -1, hdr, sizeof(hdr));
	ASSERT_STREQ(hdr, "  ALLOC/s   OBJS/s    IN USE  VIA     SITE", "header");
	for (int k = 0; k < TOPVIEW_SORT_MAX; k++) {
		static const char *const titles[] = {"ALLOC/s", "OBJS/s", "IN USE"};
		int off, cols;

		topview__header_span(k, &off, &cols);
		ASSERT_TRUE(!strncmp(hdr + off, titles[k], cols) && (int)strlen(titles[k]) == cols,
			    "the highlighted span is the sort column's title");
	}
}

TEST(topview_formatting_helpers)
{
	const __s64 ramp[] = {0, 10, 20, 30, 40, 50, 60, 70};
	const __s64 flat[] = {5, 5, 5};
	enum topview_sort k;
	char buf[128];

	ASSERT_STREQ(topview__fmt_count(999, buf, sizeof(buf)), "999", "count");
	ASSERT_STREQ(topview__fmt_count(12345, buf, sizeof(buf)), "12.3k", "k");
	ASSERT_STREQ(topview__fit("abcdef", 4, 0, buf, sizeof(buf)), "abc~", "ASCII cut");
	ASSERT_STREQ(topview__fit("abcdef", 4, 1, buf, sizeof(buf)), "abc\xe2\x80\xa6",
		     "UTF-8 cut");
	ASSERT_STREQ(topview__fit("abcd", 4, 1, buf, sizeof(buf)), "abcd", "fits as is");
	ASSERT_STREQ(topview__fit("\xc3\xa9t\xc3\xa9s", 3, 1, buf, sizeof(buf)),
		     "\xc3\xa9t\xe2\x80\xa6", "a multibyte character is one column, never split");
	ASSERT_STREQ(topview__fit("a\033[2Jb", 20, 1, buf, sizeof(buf)), "[unprintable]",
		     "no escape sequence reaches the terminal");
	ASSERT_STREQ(topview__sparkline(ramp, 8, 0, buf, sizeof(buf)), "_.:-=+*#", "ASCII ramp");
	topview__sparkline(ramp, 8, 1, buf, sizeof(buf));
	ASSERT_TRUE(columns(buf) == 8 && !strncmp(buf, "\xe2\x96\x81", 3) &&
			!strcmp(buf + 21, "\xe2\x96\x88"),
		    "blocks from the lowest to the full one");
	ASSERT_STREQ(topview__sparkline(flat, 3, 0, buf, sizeof(buf)), "---", "flat: middle");
	ASSERT_TRUE(topview_sort__parse("o", &k) == 0 && k == TOPVIEW_SORT_ALLOC_OBJECTS, "key o");
	ASSERT_TRUE(topview_sort__parse("inuse", &k) == 0 && k == TOPVIEW_SORT_INUSE_BYTES,
		    "name inuse");
	ASSERT_EQ(topview_sort__parse("x", &k), -EINVAL, "unknown key");
}

TEST(topview_json)
{
	struct pprof_profile *a = build(&first), *b = build(&second);
	struct topview *tv = topview__new(NULL);
	struct json_object *o = NULL, *sites, *s0, *v;

	if (!a || !b || !ASSERT_OK_PTR(tv, "topview__new"))
		goto cleanup;
	topview__update(tv, a, SEC);
	topview__update(tv, b, 2 * SEC);
	o = topview__json(tv, 2);
	if (!ASSERT_OK_PTR(o, "topview__json"))
		goto cleanup;
	if (!ASSERT_TRUE(json_object_object_get_ex(o, "sites", &sites) &&
			     json_object_array_length(sites) == 2,
			 "two sites as asked"))
		goto cleanup;
	s0 = json_object_array_get_idx(sites, 0);
	ASSERT_TRUE(json_object_object_get_ex(s0, "function", &v) &&
			!strcmp(json_object_get_string(v), "heavy_bytes"),
		    "first site");
	ASSERT_TRUE(json_object_object_get_ex(s0, "alloc_bytes_per_s", &v) &&
			json_object_get_double(v) == 20000,
		    "its bytes/s");
	ASSERT_TRUE(json_object_object_get_ex(s0, "allocator", &v) &&
			!strcmp(json_object_get_string(v), "malloc"),
		    "its allocator");
	ASSERT_TRUE(json_object_object_get_ex(o, "site_count", &v) && json_object_get_int(v) == 4,
		    "all sites counted");
	ASSERT_TRUE(json_object_object_get_ex(o, "sort", &v) &&
			!strcmp(json_object_get_string(v), "bytes"),
		    "sort key");
cleanup:
	json_object_put(o);
	topview__free(tv);
	pprof__profile_free(a);
	pprof__profile_free(b);
}

/* A site whose in-use rises in TOPVIEW_GROWING_UPDATES updates in a row is growing, and its row
 * and JSON say so; a fall starts the count again; a steady site never is. */
TEST(topview_marks_growing_sites)
{
	struct fixture_vals v = first;
	struct topview *tv = topview__new(NULL);
	const struct topview_site *s;
	struct pprof_profile *p;
	char row[512];

	if (!ASSERT_OK_PTR(tv, "topview__new"))
		return;
	for (int i = 0; i <= TOPVIEW_GROWING_UPDATES; i++) {
		/* main.grow's in-use rises every update; the mmap site's stays. */
		v.go[3] = 800 + 1000 * i;
		v.go[1] = 8000 + 1000 * i;
		p = build(&v);
		if (!p || !ASSERT_EQ(topview__update(tv, p, (5 + i) * SEC), 1, "update")) {
			pprof__profile_free(p);
			goto cleanup;
		}
		pprof__profile_free(p);
		s = find(tv, "main.grow");
		if (!ASSERT_OK_PTR(s, "main.grow"))
			goto cleanup;
		if (!ASSERT_EQ(s->growing, i >= TOPVIEW_GROWING_UPDATES, "growing after 3 rises"))
			goto cleanup;
	}
	topview__fmt_row(s, 120, 12, 1, 0, row, sizeof(row));
	ASSERT_TRUE(strstr(row, "^ ") != NULL, row);
	s = find(tv, "0x7f0000001234");
	if (ASSERT_OK_PTR(s, "mmap site")) {
		ASSERT_EQ(s->growing, 0, "a steady site");
		topview__fmt_row(s, 120, 12, 1, 0, row, sizeof(row));
		ASSERT_TRUE(strchr(row, '^') == NULL, row);
	}
	/* A fall: not growing any more. */
	v.go[3] = 100;
	p = build(&v);
	if (p && ASSERT_EQ(topview__update(tv, p, 20 * SEC), 1, "update")) {
		s = find(tv, "main.grow");
		if (ASSERT_OK_PTR(s, "main.grow"))
			ASSERT_EQ(s->growing, 0, "after a fall");
	}
	pprof__profile_free(p);
cleanup:
	topview__free(tv);
}
