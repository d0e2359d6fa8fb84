// SPDX-License-Identifier: MIT
/* Heap-delta timelines drawn: axis scaling, bucketing of records into rows, the terminal chart
 * and the SVG picture. The JSON they come from is profile/timeline_json.c's. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/common.h"
#include "util/fmt.h"
#include "util/textenc.h"
#include "timeline_render.h"

/* Numbers and units */

int timeline__parse_duration(const char *s, __u64 *ns)
{
	static const struct {
		const char *suffix;
		double ns;
	} units[] = {
	    {"", 1e9},	   {"s", 1e9},	  {"ms", 1e6},	  {"m", 60e9},
	    {"min", 60e9}, {"h", 3600e9}, {"d", 86400e9},
	};
	char *end;
	double v;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v <= 0)
		return -EINVAL;
	/* strtod takes hex floats, "inf" and "nan": only decimal digits and a dot are durations. */
	for (const char *p = s; p < end; p++)
		if ((*p < '0' || *p > '9') && *p != '.')
			return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		double t;

		if (strcmp(end, units[i].suffix))
			continue;
		t = v * units[i].ns;
		if (t < 1 || t > 1e19)
			return -EINVAL;
		*ns = (__u64)t;
		return 0;
	}
	return -EINVAL;
}

__u64 timeline__nice_bytes(__u64 v)
{
	for (__u64 p = 1;; p <<= 1) {
		if (p >= v)
			return p;
		if (p >= 2 && p + p / 2 >= v)
			return p + p / 2;
		if (p >> 63)
			return ~0ULL;
	}
}

int timeline__scale_cells(__u64 v, __u64 max, int cells)
{
	long double c;

	if (!v || !max || cells <= 0)
		return 0;
	c = roundl((long double)v * cells / max);
	if (c < 1)
		return 1;
	return c > cells ? cells : (int)c;
}

const char *timeline__fmt_offset(__u64 off_ns, char *buf, size_t len)
{
	double s = off_ns / 1e9;
	__u64 whole = off_ns / NSEC_PER_SEC;

	if (s < 9.995)
		snprintf(buf, len, "+%.2fs", s);
	else if (s < 99.95)
		snprintf(buf, len, "+%.1fs", s);
	else if (whole < 1000)
		snprintf(buf, len, "+%llus", (unsigned long long)whole);
	else if (whole < 100 * 3600)
		snprintf(buf, len, whole < 3600 ? "+%llum%02llus" : "+%lluh%02llum",
			 (unsigned long long)(whole < 3600 ? whole / 60 : whole / 3600),
			 (unsigned long long)(whole < 3600 ? whole % 60 : whole / 60 % 60));
	else
		snprintf(buf, len, "+%llud", (unsigned long long)(whole / 86400));
	return buf;
}

size_t timeline__bucket(const struct timeline_record *recs, size_t cnt, size_t max_rows,
			struct timeline_bucket *out)
{
	size_t rows = !max_rows || cnt <= max_rows ? cnt : max_rows;

	for (size_t b = 0; b < rows; b++) {
		/* Bucket b covers [b*cnt/rows, (b+1)*cnt/rows): every bucket non-empty. */
		size_t first = (size_t)((unsigned __int128)b * cnt / rows);
		size_t end = (size_t)((unsigned __int128)(b + 1) * cnt / rows);
		struct timeline_bucket *k = &out[b];

		*k = (struct timeline_bucket){.first = first, .cnt = end - first};
		for (size_t i = first; i < end; i++) {
			const struct timeline_record *r = &recs[i];

			k->alloc_bytes += r->alloc_bytes;
			k->freed_bytes += r->freed_bytes;
			if (r->is_gc) {
				if (!k->gc_cnt++)
					k->first_cycle = r->cycle;
				k->last_cycle = r->cycle;
			}
		}
		k->time_ns = recs[end - 1].time_ns;
		k->inuse_bytes = recs[end - 1].inuse_bytes;
	}
	return rows;
}

/* UTF-8 */

/* The terminal chart */

/* One output line, cut at a number of columns (code points: the chart's glyphs are all
 * single-width). Text from the data is made harmless for a terminal on the way in. */
struct line {
	char *buf;
	size_t len;
	int cols;
	int max;
	int utf8;
};

static void line_add(struct line *l, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s && l->cols < l->max) {
		__u32 cp;
		int n = text__utf8_next(s, &cp);

		/* Control characters (C0, DEL, C1) would drive the terminal; invalid UTF-8 and,
		 * on an ASCII terminal, anything not ASCII cannot be shown. */
		if (!n || cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || (!l->utf8 && cp >= 0x80)) {
			l->buf[l->len++] = '?';
			s += n ? n : 1;
		} else {
			memcpy(l->buf + l->len, s, n);
			l->len += n;
			s += n;
		}
		l->cols++;
	}
	l->buf[l->len] = '\0';
}

/* Adds s only if all of it fits: optional parts of a line. */
static bool line_add_if_fits(struct line *l, const char *s)
{
	int n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		n += (*p & 0xc0) != 0x80;
	if (l->cols + n > l->max)
		return false;
	line_add(l, s);
	return true;
}

static void line_addf(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void line_addf(struct line *l, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	line_add(l, tmp);
}

static void line_repeat(struct line *l, const char *glyph, int n)
{
	for (int i = 0; i < n; i++)
		line_add(l, glyph);
}

static void line_flush(struct line *l, FILE *f)
{
	while (l->len && l->buf[l->len - 1] == ' ')
		l->len--;
	fwrite(l->buf, 1, l->len, f);
	fputc('\n', f);
	l->len = 0;
	l->cols = 0;
	l->buf[0] = '\0';
}

#define COL_TIME  8
#define COL_EVENT 9
#define COL_NUM	  8

static void event_label(const struct timeline_bucket *k, char *buf, size_t len)
{
	buf[0] = '\0';
	if (!k->gc_cnt)
		return;
	if (k->gc_cnt == 1 && k->first_cycle)
		snprintf(buf, len, "gc %llu", (unsigned long long)k->first_cycle);
	else if (k->gc_cnt == 1)
		snprintf(buf, len, "gc");
	else if (snprintf(buf, len, "gc %llu-%llu", (unsigned long long)k->first_cycle,
			  (unsigned long long)k->last_cycle) > COL_EVENT ||
		 !k->first_cycle)
		snprintf(buf, len, "%zu gc", k->gc_cnt);
}

static void local_time(__u64 ns, char *buf, size_t len)
{
	time_t t = ns / NSEC_PER_SEC;
	struct tm tm;

	if (!localtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S %Z", &tm))
		snprintf(buf, len, "%llu s", (unsigned long long)t);
}

int timeline_doc__write_text(const struct timeline_doc *doc, FILE *f,
			     const struct timeline_text_opts *o)
{
	const char *g_alloc = o->utf8 ? "\u2588" : "#", *g_freed = o->utf8 ? "\u2591" : "=",
		   *g_axis = o->utf8 ? "\u2502" : "|", *g_inuse = o->utf8 ? "\u25cf" : "*";
	struct timeline_bucket *rows = NULL;
	struct line l = {.max = o->width, .utf8 = o->utf8};
	__u64 t0 = 0, t1 = 0, bar_max = 0, inuse_max = 0;
	char a[64], b[64], c[32], when[80];
	size_t nrows, gcs = 0;
	int full, rem, w_in, w_fr, w_al, err = 0;

	if (o->width < TIMELINE_TEXT_MIN_WIDTH)
		return -EINVAL;
	/* Glyphs are up to 3 bytes, control characters become 1. */
	l.buf = malloc((size_t)o->width * 4 + 1);
	rows = calloc(doc->cnt ? doc->cnt : 1, sizeof(*rows));
	if (!l.buf || !rows) {
		err = -ENOMEM;
		goto cleanup;
	}
	l.buf[0] = '\0';
	for (size_t i = 0; i < doc->cnt; i++) {
		const struct timeline_record *r = &doc->recs[i];

		if (!i || r->time_ns < t0)
			t0 = r->time_ns;
		t1 = max_t(__u64, t1, r->time_ns);
		gcs += r->is_gc;
	}
	nrows = timeline__bucket(doc->recs, doc->cnt, o->max_rows, rows);
	for (size_t i = 0; i < nrows; i++) {
		bar_max =
		    max_t(__u64, bar_max, max_t(__u64, rows[i].alloc_bytes, rows[i].freed_bytes));
		inuse_max = max_t(__u64, inuse_max, rows[i].inuse_bytes);
	}
	bar_max = timeline__nice_bytes(max_t(__u64, bar_max, 1024));
	inuse_max = timeline__nice_bytes(max_t(__u64, inuse_max, 1024));

	line_addf(&l, "pid %d ", doc->pid);
	line_add(&l, doc->exe && doc->exe[0] ? doc->exe : "(executable unknown)");
	if (doc->go_version) {
		line_add(&l, " ");
		line_add(&l, doc->go_version);
	}
	line_flush(&l, f);
	if (!doc->cnt) {
		line_add(&l, "no records");
		line_flush(&l, f);
		goto cleanup;
	}
	line_addf(&l, "%zu records, %zu GC, over %s", doc->cnt, gcs,
		  timeline__fmt_offset(t1 - t0, a, sizeof(a)) + 1);
	if (nrows < doc->cnt)
		line_addf(&l, " in %zu row%s", nrows, nrows == 1 ? "" : "s");
	local_time(t0, a, sizeof(a));
	snprintf(when, sizeof(when), ", from %s", a);
	line_add_if_fits(&l, when);
	line_flush(&l, f);

	/* Columns: time, GC, [allocated, freed,] in use, then the freed|allocated bars and the
	 * in-use track in what is left of the width. */
	full = o->width >= 60;
	rem = o->width - (COL_TIME + 1 + COL_EVENT + 1 + (full ? 3 : 1) * (COL_NUM + 1));
	w_in = (rem - 3) / 3;
	w_fr = (rem - 3 - w_in) / 2;
	w_al = rem - 3 - w_in - w_fr;

	line_add(&l, "bars ");
	line_add(&l, g_alloc);
	line_add(&l, " allocated ");
	line_add(&l, g_freed);
	line_addf(&l, " freed, full %s; ", fmt_bytes(bar_max, a, sizeof(a)));
	snprintf(b, sizeof(b), "%s in use, full %s", g_inuse, fmt_bytes(inuse_max, c, sizeof(c)));
	if (!line_add_if_fits(&l, b)) {
		line_flush(&l, f);
		line_add(&l, b);
	}
	line_flush(&l, f);

	line_addf(&l, "%*s %-*s ", COL_TIME, "time", COL_EVENT, "gc");
	if (full)
		line_addf(&l, "%*s %*s ", COL_NUM, "alloc", COL_NUM, "freed");
	line_addf(&l, "%*s %*.*s", COL_NUM, "in use", w_fr, w_fr, "freed");
	line_add(&l, g_axis);
	line_addf(&l, "%-*.*s ", w_al, w_al, "alloc");
	line_add(&l, g_axis);
	line_addf(&l, "%.*s", w_in, "in use");
	line_flush(&l, f);

	for (size_t i = 0; i < nrows; i++) {
		const struct timeline_bucket *k = &rows[i];
		int fr = timeline__scale_cells(k->freed_bytes, bar_max, w_fr);
		int al = timeline__scale_cells(k->alloc_bytes, bar_max, w_al);
		int at =
		    k->inuse_bytes ? timeline__scale_cells(k->inuse_bytes, inuse_max, w_in) - 1 : 0;
		char ev[24];

		event_label(k, ev, sizeof(ev));
		line_addf(&l, "%*s %-*s ", COL_TIME,
			  timeline__fmt_offset(k->time_ns - t0, a, sizeof(a)), COL_EVENT, ev);
		if (full)
			line_addf(&l, "%*s %*s ", COL_NUM, fmt_bytes(k->alloc_bytes, b, sizeof(b)),
				  COL_NUM, fmt_bytes(k->freed_bytes, c, sizeof(c)));
		line_addf(&l, "%*s ", COL_NUM, fmt_bytes(k->inuse_bytes, b, sizeof(b)));
		line_repeat(&l, " ", w_fr - fr);
		line_repeat(&l, g_freed, fr);
		line_add(&l, g_axis);
		line_repeat(&l, g_alloc, al);
		line_repeat(&l, " ", w_al - al + 1);
		line_add(&l, g_axis);
		line_repeat(&l, " ", at);
		line_add(&l, g_inuse);
		line_flush(&l, f);
	}
cleanup:
	free(rows);
	free(l.buf);
	if (!err && ferror(f))
		err = -EIO;
	return err;
}

/* The SVG picture */

#define SVG_W	   960
#define SVG_H	   480
#define SVG_LEFT   80
#define SVG_RIGHT  30
#define SVG_TOP	   64
#define SVG_BOTTOM 48
#define SVG_TICKS  4

/* A time step for the x axis: at most 8 ticks over span_ns. */
static __u64 time_step_ns(__u64 span_ns)
{
	static const double steps_s[] = {0.01, 0.02, 0.05, 0.1,	 0.2,	0.5,   1,     2,
					 5,    10,   15,   30,	 60,	120,   300,   600,
					 900,  1800, 3600, 7200, 10800, 21600, 43200, 86400};

	for (size_t i = 0; i < ARRAY_SIZE(steps_s); i++)
		if (span_ns / (steps_s[i] * 1e9) <= 8)
			return (__u64)(steps_s[i] * 1e9);
	return (span_ns / 8 / (86400 * NSEC_PER_SEC) + 1) * 86400 * NSEC_PER_SEC;
}

int timeline_doc__write_svg(const struct timeline_doc *doc, FILE *f)
{
	const double pw = SVG_W - SVG_LEFT - SVG_RIGHT, ph = SVG_H - SVG_TOP - SVG_BOTTOM;
	const double y0 = SVG_TOP + ph;
	__u64 t0 = 0, t1 = 0, vmax = 0, top, step;
	double bw, last_label_x = -1e9;
	char a[32], b[32], c[32], when[64];
	size_t gcs = 0;

	for (size_t i = 0; i < doc->cnt; i++) {
		const struct timeline_record *r = &doc->recs[i];

		if (!i || r->time_ns < t0)
			t0 = r->time_ns;
		t1 = max_t(__u64, t1, r->time_ns);
		vmax = max_t(
		    __u64, vmax,
		    max_t(__u64, r->inuse_bytes, max_t(__u64, r->alloc_bytes, r->freed_bytes)));
		gcs += r->is_gc;
	}
	/* SVG_TICKS steps of a round size reach past the largest value. */
	step = timeline__nice_bytes((max_t(__u64, vmax, 4096) + SVG_TICKS - 1) / SVG_TICKS);
	top = step * SVG_TICKS;
	bw = doc->cnt ? pw / doc->cnt * 0.4 : 0;
	bw = bw > 8 ? 8 : bw < 1 ? 1 : bw;
#define X(t) (t1 > t0 ? SVG_LEFT + ((double)((t)-t0)) / (double)(t1 - t0) * pw : SVG_LEFT + pw / 2)
#define Y(v) (y0 - (double)(v) / (double)top * ph)

	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\" "
		"data-pid=\"%d\" data-records=\"%zu\">\n",
		SVG_W, SVG_H, SVG_W, SVG_H, doc->pid, doc->cnt);
	fputs("<style>.alloc{fill:#3b73b9}.freed{fill:#e8833a}.inuse{fill:none;stroke:#222;"
	      "stroke-width:1.5}circle.inuse{fill:#222;stroke:none}.gc{stroke:#999;"
	      "stroke-dasharray:3,3}.grid{stroke:#e4e4e4}.axis{stroke:#333}</style>\n",
	      f);
	fputs("<title>allocscope timeline: pid ", f);
	fprintf(f, "%d ", doc->pid);
	text__xml_escape(f, doc->exe ?: "");
	fputs("</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n", f);

	fprintf(f,
		"<text class=\"title\" x=\"%d\" y=\"22\" font-size=\"16\" "
		"font-weight=\"bold\">allocscope timeline: pid %d ",
		SVG_LEFT, doc->pid);
	text__xml_escape(f, doc->exe && doc->exe[0] ? doc->exe : "(executable unknown)");
	fputs("</text>\n", f);
	fprintf(f, "<text class=\"subtitle\" x=\"%d\" y=\"42\" fill=\"#555\">", SVG_LEFT);
	if (doc->go_version) {
		text__xml_escape(f, doc->go_version);
		fputs(", ", f);
	}
	if (doc->cnt) {
		local_time(t0, when, sizeof(when));
		fprintf(f, "%zu records, %zu GC cycles, from ", doc->cnt, gcs);
		text__xml_escape(f, when);
		fprintf(f, " over %s", timeline__fmt_offset(t1 - t0, a, sizeof(a)) + 1);
	} else {
		fputs("no records", f);
	}
	fputs("</text>\n", f);
	/* Legend: bottom right, beside the time axis caption */
	fprintf(f,
		"<g class=\"legend\" transform=\"translate(%d,%d)\">"
		"<rect class=\"alloc\" width=\"10\" height=\"10\"/>"
		"<text x=\"14\" y=\"9\">allocated</text>"
		"<rect class=\"freed\" x=\"84\" width=\"10\" height=\"10\"/>"
		"<text x=\"98\" y=\"9\">freed</text>"
		"<line class=\"inuse\" x1=\"144\" y1=\"5\" x2=\"164\" y2=\"5\"/>"
		"<text x=\"168\" y=\"9\">in use</text>"
		"<line class=\"gc\" x1=\"220\" y1=\"0\" x2=\"220\" y2=\"10\"/>"
		"<text x=\"226\" y=\"9\">GC cycle</text></g>\n",
		SVG_W - SVG_RIGHT - 280, SVG_H - 18);

	/* Byte axis: grid lines and labels */
	fputs("<g class=\"y-axis\">\n", f);
	for (int i = 0; i <= SVG_TICKS; i++) {
		double y = Y(step * i);

		fprintf(f,
			"<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
			"<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" "
			"data-bytes=\"%llu\">%s</text>\n",
			SVG_LEFT, y, SVG_LEFT + pw, y, SVG_LEFT - 6, y + 4,
			(unsigned long long)(step * i), fmt_bytes(step * i, b, sizeof(b)));
	}
	fprintf(f, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%.1f\"/>\n</g>\n",
		SVG_LEFT, SVG_TOP, SVG_LEFT, y0);

	/* Time axis */
	fputs("<g class=\"x-axis\">\n", f);
	fprintf(f, "<line class=\"axis\" x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
		SVG_LEFT, y0, SVG_LEFT + pw, y0);
	if (doc->cnt) {
		__u64 tstep = time_step_ns(t1 - t0);

		for (__u64 t = 0; t <= t1 - t0; t += tstep) {
			double x = X(t0 + t);

			fprintf(f,
				"<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
				"y2=\"%.1f\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
				"data-offset-ns=\"%llu\">%s</text>\n",
				x, y0, x, y0 + 4, x, y0 + 17, (unsigned long long)t,
				timeline__fmt_offset(t, a, sizeof(a)));
			if (t1 == t0)
				break;
		}
	}
	fprintf(f,
		"<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">time since "
		"the first record</text>\n</g>\n",
		SVG_LEFT + pw / 2, SVG_H - 8);

	/* GC cycle markers, under the data */
	fputs("<g class=\"gc-markers\">\n", f);
	for (size_t i = 0; i < doc->cnt; i++) {
		const struct timeline_record *r = &doc->recs[i];
		double x = X(r->time_ns);

		if (!r->is_gc)
			continue;
		fprintf(f,
			"<line class=\"gc\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" "
			"data-cycle=\"%llu\" data-time-ns=\"%llu\"/>",
			x, SVG_TOP, x, y0, (unsigned long long)r->cycle,
			(unsigned long long)r->time_ns);
		/* Label only where it does not overlap the label before. */
		if (x - last_label_x >= 36) {
			fprintf(f,
				"<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" "
				"font-size=\"10\" fill=\"#777\">GC %llu</text>",
				x, SVG_TOP - 4, (unsigned long long)r->cycle);
			last_label_x = x;
		}
		fputc('\n', f);
	}
	fputs("</g>\n", f);

	/* One group per record, in the JSON's order, carrying its values */
	fputs("<g class=\"records\">\n", f);
	for (size_t i = 0; i < doc->cnt; i++) {
		const struct timeline_record *r = &doc->recs[i];
		double x = X(r->time_ns), ya = Y(r->alloc_bytes), yf = Y(r->freed_bytes);

		fprintf(f, "<g class=\"record\" data-index=\"%zu\" data-type=\"%s\" ", i,
			r->is_gc ? "gc" : "interval");
		if (r->has_cycle)
			fprintf(f, "data-cycle=\"%llu\" ", (unsigned long long)r->cycle);
		fprintf(f,
			"data-time-ns=\"%llu\" data-alloc-bytes=\"%llu\" "
			"data-freed-bytes=\"%llu\" data-inuse-bytes=\"%llu\">",
			(unsigned long long)r->time_ns, (unsigned long long)r->alloc_bytes,
			(unsigned long long)r->freed_bytes, (unsigned long long)r->inuse_bytes);
		fprintf(f, "<title>%s%s: allocated %s, freed %s, in use %s</title>",
			timeline__fmt_offset(r->time_ns - t0, a, sizeof(a)), r->is_gc ? " GC" : "",
			fmt_bytes(r->alloc_bytes, b, sizeof(b)),
			fmt_bytes(r->freed_bytes, c, sizeof(c)),
			fmt_bytes(r->inuse_bytes, when, sizeof(when)));
		fprintf(f,
			"<rect class=\"alloc\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
			"height=\"%.1f\" data-alloc-bytes=\"%llu\"/>",
			x - bw, ya, bw, y0 - ya, (unsigned long long)r->alloc_bytes);
		fprintf(f,
			"<rect class=\"freed\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
			"height=\"%.1f\" data-freed-bytes=\"%llu\"/>",
			x, yf, bw, y0 - yf, (unsigned long long)r->freed_bytes);
		fprintf(f,
			"<circle class=\"inuse\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" "
			"data-time-ns=\"%llu\" data-inuse-bytes=\"%llu\"/></g>\n",
			x, Y(r->inuse_bytes), (unsigned long long)r->time_ns,
			(unsigned long long)r->inuse_bytes);
	}
	fputs("</g>\n", f);

	/* The in-use line over everything */
	fputs("<polyline class=\"inuse\" points=\"", f);
	for (size_t i = 0; i < doc->cnt; i++)
		fprintf(f, "%s%.1f,%.1f", i ? " " : "", X(doc->recs[i].time_ns),
			Y(doc->recs[i].inuse_bytes));
	fputs("\"/>\n</svg>\n", f);
#undef X
#undef Y
	return ferror(f) ? -EIO : 0;
}
