// SPDX-License-Identifier: MIT
/* Timeline rendering: durations, axis scaling, time labels, bucketing of records into
 * rows, the JSON read back and written again, the terminal chart's width, and the SVG's
 * escaping and structure. */
#include <stdlib.h>

#include "util/common.h"
#include "util/textenc.h"
#include "cli/timeline_render.h"
#include "test.h"

#define MIB (1ULL << 20)

/* A gophases-like run: quiet, a 256 MiB burst with GCs, release, quiet. */
static const char sample_json[] =
    "{\"pid\": 4242, \"executable\": \"/srv/a<b>&\\\"c'\", \"go_version\": \"go1.19.8\",\n"
    " \"sampling_rate\": 524288, \"gc_cycles\": 2, \"records\": [\n"
    "  {\"type\": \"interval\", \"time_unix_ns\": 1700000000000000000, \"alloc_bytes\": 0,\n"
    "   \"alloc_objects\": 0, \"freed_bytes\": 0, \"freed_objects\": 0, \"inuse_bytes\": 0,\n"
    "   \"inuse_objects\": 0, \"rss_bytes\": 4096000, \"anon_bytes\": 1024000},\n"
    "  {\"type\": \"gc\", \"cycle\": 1, \"time_unix_ns\": 1700000000100000000,\n"
    "   \"gc_duration_ns\": 1936730, \"alloc_bytes\": 268435456, \"alloc_objects\": 1024,\n"
    "   \"freed_bytes\": 0, \"freed_objects\": 0, \"inuse_bytes\": 268435456,\n"
    "   \"inuse_objects\": 1024},\n"
    "  {\"type\": \"gc\", \"cycle\": 2, \"time_unix_ns\": 1700000000200000000,\n"
    "   \"alloc_bytes\": 524288, \"alloc_objects\": 2, \"freed_bytes\": 268435456,\n"
    "   \"freed_objects\": 1024, \"inuse_bytes\": 524288, \"inuse_objects\": 2},\n"
    "  {\"type\": \"interval\", \"time_unix_ns\": 1700000000300000000, \"alloc_bytes\": 0,\n"
    "   \"alloc_objects\": 0, \"freed_bytes\": 0, \"freed_objects\": 0,\n"
    "   \"inuse_bytes\": 524288, \"inuse_objects\": 2, \"rss_bytes\": 8192000,\n"
    "   \"anon_bytes\": 2048000}]}\n";

static bool parse_sample(struct timeline_doc *doc)
{
	char err[128] = "";

	return ASSERT_OK(
	    timeline_doc__parse(doc, sample_json, sizeof(sample_json) - 1, err, sizeof(err)), err);
}

/* Code points in a UTF-8 line: what a terminal shows as columns for the chart's glyphs. */
static int cols(const char *s, size_t len)
{
	int n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

static char *render_text(const struct timeline_doc *doc, int width, size_t max_rows, int utf8)
{
	struct timeline_text_opts o = {.width = width, .max_rows = max_rows, .utf8 = utf8};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int err;

	if (!ASSERT_OK_PTR(f, "open_memstream"))
		return NULL;
	err = timeline_doc__write_text(doc, f, &o);
	fclose(f);
	if (!ASSERT_OK(err, "write_text")) {
		free(text);
		return NULL;
	}
	return text;
}

static char *render_svg(const struct timeline_doc *doc)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int err;

	if (!ASSERT_OK_PTR(f, "open_memstream"))
		return NULL;
	err = timeline_doc__write_svg(doc, f);
	fclose(f);
	if (!ASSERT_OK(err, "write_svg")) {
		free(text);
		return NULL;
	}
	return text;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

TEST(timeline_parse_duration)
{
	static const struct {
		const char *s;
		__u64 ns;
	} good[] = {
	    {"90s", 90 * NSEC_PER_SEC},	  {"5m", 300 * NSEC_PER_SEC},
	    {"1h", 3600 * NSEC_PER_SEC},  {"30", 30 * NSEC_PER_SEC},
	    {"0.5", 500 * NSEC_PER_MSEC}, {"250ms", 250 * NSEC_PER_MSEC},
	    {"1.5m", 90 * NSEC_PER_SEC},  {"2d", 2 * 86400 * NSEC_PER_SEC},
	};
	static const char *const bad[] = {"",	 "0",	"0s",	"-5",  "+5", "5x", "abc", "1e3",
					  "inf", "nan", "0x10", "5 m", " 5", "s",  "5mm"};
	__u64 ns;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		ns = 0;
		if (!ASSERT_OK(timeline__parse_duration(good[i].s, &ns), good[i].s))
			continue;
		ASSERT_EQ(ns, good[i].ns, good[i].s);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ASSERT_EQ(timeline__parse_duration(bad[i], &ns), -EINVAL, bad[i]);
}

TEST(timeline_nice_bytes_and_cells)
{
	ASSERT_EQ(timeline__nice_bytes(0), 1, "0");
	ASSERT_EQ(timeline__nice_bytes(1), 1, "1");
	ASSERT_EQ(timeline__nice_bytes(3), 3, "3");
	ASSERT_EQ(timeline__nice_bytes(5), 6, "5");
	ASSERT_EQ(timeline__nice_bytes(1000), 1024, "1000");
	ASSERT_EQ(timeline__nice_bytes(1025), 1536, "1025");
	ASSERT_EQ(timeline__nice_bytes(256 * MIB), 256 * MIB, "256 MiB is round");
	ASSERT_EQ(timeline__nice_bytes(256 * MIB + 1), 384 * MIB, "just above 256 MiB");
	ASSERT_EQ(timeline__nice_bytes(~0ULL), ~0ULL, "no overflow");
	/* Never more than 1.5x the value: the chart uses its width. */
	for (__u64 v = 3; v < (1ULL << 40); v = v * 7 / 5)
		if (!ASSERT_TRUE(timeline__nice_bytes(v) >= v &&
				     timeline__nice_bytes(v) <= v + v / 2 + 1,
				 "within 1.5x"))
			break;

	ASSERT_EQ(timeline__scale_cells(0, MIB, 10), 0, "nothing, no bar");
	ASSERT_EQ(timeline__scale_cells(1, 1ULL << 30, 10), 1, "a byte still shows");
	ASSERT_EQ(timeline__scale_cells(MIB, MIB, 10), 10, "full");
	ASSERT_EQ(timeline__scale_cells(MIB / 2, MIB, 10), 5, "half");
	ASSERT_EQ(timeline__scale_cells(MIB * 17 / 100, MIB, 10), 2, "rounded to nearest");
	ASSERT_EQ(timeline__scale_cells(MIB * 13 / 100, MIB, 10), 1, "rounded to nearest, down");
	ASSERT_EQ(timeline__scale_cells(2 * MIB, MIB, 10), 10, "clamped");
	ASSERT_EQ(timeline__scale_cells(5, 0, 10), 0, "no scale");
	ASSERT_EQ(timeline__scale_cells(~0ULL, ~0ULL, 33), 33, "no overflow");
}

TEST(timeline_labels)
{
	static const struct {
		__u64 ns;
		const char *s;
	} offs[] = {
	    {0, "+0.00s"},
	    {350 * NSEC_PER_MSEC, "+0.35s"},
	    {12400 * NSEC_PER_MSEC, "+12.4s"},
	    {123 * NSEC_PER_SEC, "+123s"},
	    {1205 * NSEC_PER_SEC, "+20m05s"},
	    {7380 * NSEC_PER_SEC, "+2h03m"},
	};
	char buf[32];

	for (size_t i = 0; i < ARRAY_SIZE(offs); i++)
		ASSERT_STREQ(timeline__fmt_offset(offs[i].ns, buf, sizeof(buf)), offs[i].s,
			     "offset");
	/* The chart's columns are 8 wide (byte labels: test_fmt.c). */
	for (__u64 ns = 1; ns < 99 * 3600 * NSEC_PER_SEC; ns = ns * 21 / 20 + 1)
		if (!ASSERT_TRUE(strlen(timeline__fmt_offset(ns, buf, sizeof(buf))) <= 8, buf))
			break;
}

TEST(timeline_bucket)
{
	struct timeline_record recs[10] = {};
	struct timeline_bucket out[10];
	__u64 alloc = 0, freed = 0;
	size_t n;

	for (size_t i = 0; i < 10; i++) {
		recs[i].time_ns = 1000 + i;
		recs[i].alloc_bytes = (i + 1) * 100;
		recs[i].freed_bytes = i * 10;
		recs[i].inuse_bytes = 5000 + i;
		recs[i].is_gc = i == 4 || i == 5 || i == 9;
		recs[i].cycle = i == 4 ? 7 : i == 5 ? 8 : 9;
	}
	n = timeline__bucket(recs, 10, 0, out);
	if (!ASSERT_EQ(n, 10, "one bucket per record"))
		return;
	ASSERT_EQ(out[3].alloc_bytes, 400, "record 3 alone");
	ASSERT_EQ(timeline__bucket(recs, 10, 20, out), 10, "more rows than records");

	n = timeline__bucket(recs, 10, 3, out);
	if (!ASSERT_EQ(n, 3, "three rows"))
		return;
	ASSERT_EQ(out[0].first, 0, "b0 first");
	ASSERT_EQ(out[0].cnt, 3, "b0 count");
	ASSERT_EQ(out[1].first, 3, "b1 first");
	ASSERT_EQ(out[1].cnt, 3, "b1 count");
	ASSERT_EQ(out[2].first, 6, "b2 first");
	ASSERT_EQ(out[2].cnt, 4, "b2 count");
	for (size_t i = 0; i < n; i++) {
		alloc += out[i].alloc_bytes;
		freed += out[i].freed_bytes;
	}
	ASSERT_EQ(alloc, 5500, "allocated bytes conserved");
	ASSERT_EQ(freed, 450, "freed bytes conserved");
	ASSERT_EQ(out[1].inuse_bytes, 5005, "in use is the last record's level, not a sum");
	ASSERT_EQ(out[1].time_ns, 1005, "time of the last record");
	ASSERT_EQ(out[1].gc_cnt, 2, "two GC cycles in b1");
	ASSERT_EQ(out[1].first_cycle, 7, "first cycle");
	ASSERT_EQ(out[1].last_cycle, 8, "last cycle");
	ASSERT_EQ(out[0].gc_cnt, 0, "none in b0");
	ASSERT_EQ(out[2].gc_cnt, 1, "one in b2");
}

TEST(timeline_parse_and_json_round_trip)
{
	struct timeline_doc doc = {}, again = {};
	char err[128] = "", *json = NULL;

	if (!parse_sample(&doc))
		return;
	ASSERT_EQ(doc.pid, 4242, "pid");
	ASSERT_STREQ(doc.exe, "/srv/a<b>&\"c'", "executable as read");
	ASSERT_STREQ(doc.go_version, "go1.19.8", "go version");
	ASSERT_EQ(doc.sampling_rate, 524288, "rate");
	if (!ASSERT_EQ(doc.cnt, 4, "records"))
		goto cleanup;
	ASSERT_TRUE(!doc.recs[0].is_gc && doc.recs[1].is_gc, "types");
	ASSERT_EQ(doc.recs[1].cycle, 1, "cycle");
	ASSERT_EQ(doc.recs[1].gc_duration_ns, 1936730, "gc duration");
	ASSERT_TRUE(doc.recs[1].has_gc_duration && !doc.recs[2].has_gc_duration,
		    "gc_duration_ns only where given");
	ASSERT_EQ(doc.recs[1].inuse_bytes, 256 * MIB, "in use");
	ASSERT_EQ(doc.recs[3].rss_bytes, 8192000, "rss");
	ASSERT_TRUE(doc.recs[0].has_rss && !doc.recs[1].has_rss, "rss only where given");

	json = timeline_doc__to_json(&doc);
	if (!ASSERT_OK_PTR(json, "to_json"))
		goto cleanup;
	if (!ASSERT_OK(timeline_doc__parse(&again, json, strlen(json), err, sizeof(err)), err))
		goto cleanup;
	ASSERT_STREQ(again.exe, doc.exe, "executable round trip");
	if (ASSERT_EQ(again.cnt, doc.cnt, "count round trip"))
		ASSERT_TRUE(!memcmp(again.recs, doc.recs, doc.cnt * sizeof(*doc.recs)),
			    "records round trip");
	ASSERT_TRUE(!strstr(json, "\"cycle\": 0"), "no cycle invented for intervals");

	ASSERT_EQ(timeline_doc__keep_since(&doc, 1700000000200000000ULL), 2, "--since keeps 2");
	ASSERT_EQ(doc.recs[0].cycle, 2, "from the cutoff on, in order");
	ASSERT_EQ(timeline_doc__keep_since(&doc, ~0ULL), 0, "none left");
cleanup:
	free(json);
	timeline_doc__release(&again);
	timeline_doc__release(&doc);
}

TEST(timeline_xml_escape)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!ASSERT_OK_PTR(f, "open_memstream"))
		return;
	text__xml_escape(f, "a<b>&\"c'\x01\xff\xc3\xa9\xe2\x82\xac\xed\xa0\x80\xc0\xaf\tz");
	fclose(f);
	/* Control characters, a stray byte, a surrogate and an overlong sequence become U+FFFD;
	 * é, € and a tab stay. */
	ASSERT_STREQ(text,
		     "a&lt;b&gt;&amp;&quot;c&apos;\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9\xe2\x82\xac"
		     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\tz",
		     "escaped");
	free(text);
}

TEST(timeline_svg_structure)
{
	struct timeline_doc doc = {};
	char *svg = NULL, *p;
	size_t n = 0;

	if (!parse_sample(&doc))
		return;
	svg = render_svg(&doc);
	if (!svg)
		goto cleanup;
	ASSERT_TRUE(!strncmp(svg, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg ", 44),
		    "XML declaration, then the svg element");
	ASSERT_TRUE(strstr(svg, "</svg>\n") && !strstr(strstr(svg, "</svg>") + 6, "<"),
		    "nothing after </svg>");
	ASSERT_TRUE(strstr(svg, "/srv/a&lt;b&gt;&amp;&quot;c&apos;") != NULL,
		    "executable escaped in the title");
	ASSERT_TRUE(!strstr(svg, "a<b>"), "no raw markup from the data");
	ASSERT_EQ(count(svg, "<g "), count(svg, "</g>"), "every group closed");
	ASSERT_EQ(count(svg, "<g class=\"record\""), 4, "one group per record");
	ASSERT_EQ(count(svg, "<line class=\"gc\" x1="), 2 + 1, "a marker per GC cycle + legend");
	ASSERT_EQ(count(svg, "<polyline"), 1, "one in-use line");
	/* The records' in-use values in order. */
	static const char *const inuse[] = {"0", "268435456", "524288", "524288"};

	p = svg;
	while ((p = strstr(p, "<circle class=\"inuse\"")) && n < 4) {
		char want[64];

		p = strstr(p, "data-inuse-bytes=\"");
		if (!ASSERT_OK_PTR(p, "data-inuse-bytes"))
			break;
		snprintf(want, sizeof(want), "data-inuse-bytes=\"%s\"", inuse[n]);
		ASSERT_TRUE(!strncmp(p, want, strlen(want)), want);
		n++;
		p++;
	}
	ASSERT_EQ(n, 4, "four in-use points");
	/* Four spaces between five points... of four records: three separators. */
	p = strstr(svg, "<polyline class=\"inuse\" points=\"");
	if (ASSERT_OK_PTR(p, "polyline")) {
		char *end = strchr(p + 32, '"');
		size_t spaces = 0;

		for (char *q = p + 32; q < end; q++)
			spaces += *q == ' ';
		ASSERT_EQ(spaces, 3, "four polyline points");
	}
	free(svg);

	/* No records still makes a picture. */
	doc.cnt = 0;
	svg = render_svg(&doc);
	if (svg) {
		ASSERT_TRUE(strstr(svg, "no records") != NULL, "says no records");
		ASSERT_EQ(count(svg, "<g "), count(svg, "</g>"), "every group closed, empty");
	}
cleanup:
	free(svg);
	timeline_doc__release(&doc);
}

TEST(timeline_text_fits_width)
{
	struct timeline_doc doc = {};
	char *text = NULL;

	if (!parse_sample(&doc))
		return;
	free(doc.exe);
	/* An executable name with a terminal escape sequence and a very long path. */
	doc.exe = strdup("/opt/\x1b[31mred\x1b[0m/"
			 "a-very-long-directory-name-that-does-not-fit-in-eighty-columns/app");
	if (!ASSERT_OK_PTR(doc.exe, "strdup"))
		goto cleanup;
	for (int utf8 = 0; utf8 <= 1; utf8++) {
		for (int width = TIMELINE_TEXT_MIN_WIDTH; width <= 160; width += 7) {
			char *line, *save = NULL;
			size_t rows = 0;

			text = render_text(&doc, width, 0, utf8);
			if (!text)
				goto cleanup;
			ASSERT_TRUE(!strchr(text, '\x1b'), "no escape sequence from the data");
			for (line = strtok_r(text, "\n", &save); line;
			     line = strtok_r(NULL, "\n", &save)) {
				if (!ASSERT_TRUE(cols(line, strlen(line)) <= width, line))
					break;
				if (!utf8 &&
				    !ASSERT_TRUE(cols(line, strlen(line)) == (int)strlen(line),
						 "ASCII only"))
					break;
				rows += strspn(line, " ") < 8 && line[strspn(line, " ")] == '+';
			}
			ASSERT_EQ(rows, 4, "a row per record");
			free(text);
			text = NULL;
		}
	}
	text = render_text(&doc, 80, 1, 1);
	if (text) {
		ASSERT_TRUE(strstr(text, "gc 1-2") != NULL, "merged GC cycles labelled");
		ASSERT_TRUE(strstr(text, "4 records, 2 GC") != NULL, "summary");
		ASSERT_TRUE(strstr(text, "in 1 row,") != NULL, "says it merged");
		ASSERT_TRUE(strstr(text, "256 MiB") != NULL, "byte units");
	}
	ASSERT_EQ(
	    timeline_doc__write_text(
		&doc, stdout, &(struct timeline_text_opts){.width = TIMELINE_TEXT_MIN_WIDTH - 1}),
	    -EINVAL, "too narrow");
cleanup:
	free(text);
	timeline_doc__release(&doc);
}
