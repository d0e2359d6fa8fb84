// SPDX-License-Identifier: MIT
/* allocscope diff: the allocation sites that grew or shrank most between two profiles (files or
 * daemon URLs). Arguments and printing only; sites and the diff come from profile/site.c and
 * profile/sitediff.c. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "profile.pb-c.h"

#include "cli.h"
#include "fetch.h"
#include "util/fmt.h"
#include "util/log.h"
#include "profile/sitediff.h"
#include "options.h"
#include "profile/pprof_decode.h"

#define DIFF_TOP_DEFAULT 10
#define DIFF_WIDTH	 80

static const char diff_usage[] =
    "Usage: allocscope diff BASE NEW [OPTIONS]\n"
    "\n"
    "The allocation sites whose value grew or shrank most from the BASE profile to\n"
    "the NEW one, largest absolute change first, with base, new, absolute and\n"
    "relative change (+100%, -50%, \"new\" when absent from BASE, \"gone\" when absent\n"
    "from NEW); unchanged sites are counted, not listed. BASE and NEW are pprof files\n"
    "(gzipped or not) or allocscoped URLs.\n"
    "\n"
    "A site is the first frame of a sample's stack: function and file:line. Leaf\n"
    "frames of the allocator itself (malloc, calloc, realloc, reallocarray,\n"
    "posix_memalign, aligned_alloc, memalign, valloc, pvalloc, mmap, strdup, operator\n"
    "new, and glibc's __libc_ aliases; the Go runtime's mallocgc and the runtime\n"
    "calls that allocate, such as runtime.newobject and runtime.growslice) are\n"
    "skipped: a site is the code that called the allocator, the one top shows.\n"
    "Values are compared as the profiles hold them (unsampled already); a note says\n"
    "so when the two were sampled at different periods.\n"
    "\n"
    "Options:\n"
    "  --sample-index TYPE  alloc_space (default), alloc_objects, inuse_space or\n"
    "                       inuse_objects\n"
    "  --by site|function   one row per file:line (default) or per function\n"
    "  --top N              the N largest changes (default 10; 0: all)\n"
    "  --json               one JSON object on stdout, for scripts\n"
    "  -v, --verbose        say why a profile was rejected\n"
    "  -h, --help           this text\n"
    "\n"
    "Examples:\n"
    "  allocscope record --rate 1 -o before.pb.gz -- ./app\n"
    "  allocscope record --rate 1 -o after.pb.gz -- ./app-patched\n"
    "  allocscope diff before.pb.gz after.pb.gz\n"
    "  allocscope diff --by function --sample-index inuse_space before.pb.gz \\\n"
    "      after.pb.gz\n"
    "  curl -so base.pb.gz 'http://127.0.0.1:6464/debug/pprof/allocs?pid=4242'\n"
    "  allocscope diff base.pb.gz 'http://127.0.0.1:6464/debug/pprof/allocs?pid=4242'\n"
    "  allocscope diff --json before.pb.gz after.pb.gz | jq '.sites[0]'\n";

struct diff_opts {
	const char *base;
	const char *new_src;
	const char *sample_index;
	enum site_by by;
	size_t top;
	int json;
	int verbose;
};

static int parse_args(int argc, char **argv, struct diff_opts *o)
{
	static const struct option longopts[] = {
	    {"sample-index", required_argument, NULL, 's'},
	    {"by", required_argument, NULL, 'b'},
	    {"top", required_argument, NULL, 'n'},
	    {"json", no_argument, NULL, 'j'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	static const char *const types[] = {"alloc_space", "alloc_objects", "inuse_space",
					    "inuse_objects"};
	int c, ok;

	*o = (struct diff_opts){.sample_index = "alloc_space", .top = DIFF_TOP_DEFAULT};
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":vh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			ok = 0;
			for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
				ok |= !strcmp(optarg, types[i]);
			if (!ok) {
				log_error("--sample-index: '%s' is not one of alloc_space, "
					  "alloc_objects, inuse_space, inuse_objects",
					  optarg);
				return -EINVAL;
			}
			o->sample_index = optarg;
			break;
		case 'b':
			if (!strcmp(optarg, "site")) {
				o->by = SITE_BY_LINE;
			} else if (!strcmp(optarg, "function")) {
				o->by = SITE_BY_FUNCTION;
			} else {
				log_error("--by: '%s' is not one of site, function", optarg);
				return -EINVAL;
			}
			break;
		case 'n':
			if (cli_opt_top(optarg, &o->top))
				return -EINVAL;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		default:
			return args__getopt_end(c, argv, longopts, "allocscope diff", diff_usage);
		}
	}
	if (argc - optind != 2) {
		log_error("diff needs two profiles, BASE and NEW (see 'allocscope diff --help')");
		return -EINVAL;
	}
	o->base = argv[optind];
	o->new_src = argv[optind + 1];
	return 0;
}

/* One profile as the diff needs it. */
struct diff_side {
	const char *src;
	struct pprof_profile *prof;
	struct site_set *sites;
	int value_idx;
	const char *unit;
	__s64 period;
	const char *period_type;
};

static int load_side(struct diff_side *s, const char *src, const struct diff_opts *o)
{
	const struct site_set_opts sopts = {.by = o->by};
	const Perftools__Profiles__Profile *m;

	s->src = src;
	s->prof = cli_load_profile(src);
	if (!s->prof)
		return -errno;
	m = pprof__profile_msg(s->prof);
	s->value_idx = pprof__profile_sample_index(s->prof, o->sample_index);
	if (s->value_idx < 0) {
		log_error("%s has no sample type %s (not a heap profile?)", src, o->sample_index);
		return -ENOENT;
	}
	s->unit = pprof__profile_str(s->prof, m->sample_type[s->value_idx]->unit);
	s->period = m->period;
	s->period_type = m->period_type ? pprof__profile_str(s->prof, m->period_type->type) : "";
	s->sites = site_set__new(s->prof, &sopts);
	if (!s->sites) {
		log_error("%s: cannot aggregate its samples: %s", src, strerror(errno));
		return -errno;
	}
	return 0;
}

static void free_side(struct diff_side *s)
{
	site_set__free(s->sites);
	pprof__profile_free(s->prof);
}

static int is_bytes(const char *unit)
{
	return unit && !strcmp(unit, "bytes");
}

static const char *fmt_value(__s64 v, const char *unit, int sign, char *buf, size_t len)
{
	char tmp[24];

	if (is_bytes(unit))
		fmt_bytes((double)v, tmp, sizeof(tmp));
	else
		snprintf(tmp, sizeof(tmp), "%" PRId64, (int64_t)v);
	snprintf(buf, len, "%s%s", sign && v > 0 ? "+" : "", tmp);
	return buf;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* "function file.c:42", cut to width: the function loses its head first (a Go or C++ name says
 * most at its end), then file:line goes. */
static void fmt_site(const struct site *site, int width, char *buf, size_t len)
{
	char loc[256] = "";
	int fl = strlen(site->function), ll;

	if (*site->file && site->line)
		snprintf(loc, sizeof(loc), " %s:%" PRId64, base_name(site->file),
			 (int64_t)site->line);
	else if (*site->file)
		snprintf(loc, sizeof(loc), " %s", base_name(site->file));
	ll = strlen(loc);
	if (fl + ll <= width)
		snprintf(buf, len, "%s%s", site->function, loc);
	else if (width - ll >= 12)
		snprintf(buf, len, "...%s%s", site->function + fl - (width - ll - 3), loc);
	else if (fl <= width)
		snprintf(buf, len, "%s", site->function);
	else
		snprintf(buf, len, "...%s", site->function + fl - (width - 3));
}

static void print_row(const char *base, const char *new_val, const char *change, const char *rel,
		      const char *site)
{
	printf("%10s %10s %11s %9s  %s\n", base, new_val, change, rel, site);
}

static void print_text(const struct diff_opts *o, const struct diff_side *b,
		       const struct diff_side *n, const struct site_diff *d,
		       const struct site_diff_row *total)
{
	size_t changed = site_diff__changed_cnt(d),
	       shown = o->top && o->top < changed ? o->top : changed;
	char vb[32], vn[32], vc[32], rel[16], site[512];

	printf("%s by %s: %zu of %zu %s changed", o->sample_index,
	       o->by == SITE_BY_LINE ? "site" : "function", changed, site_diff__cnt(d),
	       o->by == SITE_BY_LINE ? "sites" : "functions");
	if (shown < changed)
		printf(", the %zu largest changes shown", shown);
	printf("\n");
	if (b->period != n->period)
		printf("note: the profiles were sampled at different periods (base %" PRId64
		       ", new %" PRId64 "):\n      both hold unsampled estimates, so small sites "
		       "can differ by sampling alone\n",
		       (int64_t)b->period, (int64_t)n->period);
	printf("\n");
	print_row("BASE", "NEW", "CHANGE", "RELATIVE", o->by == SITE_BY_LINE ? "SITE" : "FUNCTION");
	for (size_t i = 0; i < shown; i++) {
		const struct site_diff_row *r = site_diff__row(d, i);

		fmt_site(r->site, DIFF_WIDTH - 45, site, sizeof(site));
		print_row(fmt_value(r->base_val, n->unit, 0, vb, sizeof(vb)),
			  fmt_value(r->new_val, n->unit, 0, vn, sizeof(vn)),
			  fmt_value(r->change, n->unit, 1, vc, sizeof(vc)),
			  site_change__relative_str(r, rel, sizeof(rel)), site);
	}
	print_row(fmt_value(total->base_val, n->unit, 0, vb, sizeof(vb)),
		  fmt_value(total->new_val, n->unit, 0, vn, sizeof(vn)),
		  fmt_value(total->change, n->unit, 1, vc, sizeof(vc)),
		  site_change__relative_str(total, rel, sizeof(rel)), "(total)");
}

static json_object *json_side(const struct diff_side *s, __s64 total)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "source", json_object_new_string(s->src));
	json_object_object_add(o, "period", json_object_new_int64(s->period));
	json_object_object_add(o, "period_type", json_object_new_string(s->period_type));
	json_object_object_add(o, "sites", json_object_new_int64(site_set__cnt(s->sites)));
	json_object_object_add(o, "total", json_object_new_int64(total));
	return o;
}

static json_object *json_change(const struct site_diff_row *r)
{
	json_object *o = json_object_new_object();
	char rel[16];

	json_object_object_add(o, "base", json_object_new_int64(r->base_val));
	json_object_object_add(o, "new", json_object_new_int64(r->new_val));
	json_object_object_add(o, "change", json_object_new_int64(r->change));
	json_object_object_add(o, "kind", json_object_new_string(site_change__name(r->kind)));
	json_object_object_add(
	    o, "relative", json_object_new_string(site_change__relative_str(r, rel, sizeof(rel))));
	json_object_object_add(o, "relative_pct",
			       r->kind == SITE_CHANGE_NEW || r->kind == SITE_CHANGE_GONE
				   ? NULL
				   : json_object_new_double(r->relative_pct));
	return o;
}

static int print_json(const struct diff_opts *o, const struct diff_side *b,
		      const struct diff_side *n, const struct site_diff *d,
		      const struct site_diff_row *total)
{
	size_t changed = site_diff__changed_cnt(d),
	       shown = o->top && o->top < changed ? o->top : changed;
	json_object *root = json_object_new_object(), *sites = json_object_new_array();
	const char *text;

	if (!root || !sites) {
		json_object_put(root);
		json_object_put(sites);
		log_error("cannot build the JSON answer: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	json_object_object_add(root, "sample_index", json_object_new_string(o->sample_index));
	json_object_object_add(root, "unit", json_object_new_string(n->unit ? n->unit : ""));
	json_object_object_add(root, "by",
			       json_object_new_string(o->by == SITE_BY_LINE ? "site" : "function"));
	json_object_object_add(root, "base", json_side(b, total->base_val));
	json_object_object_add(root, "new", json_side(n, total->new_val));
	json_object_object_add(root, "periods_differ",
			       json_object_new_boolean(b->period != n->period));
	json_object_object_add(root, "changed_sites", json_object_new_int64(changed));
	json_object_object_add(root, "unchanged_sites",
			       json_object_new_int64(site_diff__cnt(d) - changed));
	json_object_object_add(root, "total", json_change(total));
	for (size_t i = 0; i < shown; i++) {
		const struct site_diff_row *r = site_diff__row(d, i);
		json_object *s = json_change(r);

		json_object_object_add(s, "function", json_object_new_string(r->site->function));
		json_object_object_add(
		    s, "file", *r->site->file ? json_object_new_string(r->site->file) : NULL);
		json_object_object_add(s, "line",
				       r->site->line ? json_object_new_int64(r->site->line) : NULL);
		json_object_array_add(sites, s);
	}
	json_object_object_add(root, "sites", sites);
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							JSON_C_TO_STRING_NOSLASHESCAPE);
	printf("%s\n", text);
	json_object_put(root);
	return 0;
}

int cmd_diff(int argc, char **argv)
{
	struct diff_side base = {}, new_side = {};
	struct site_diff *d = NULL;
	struct site_diff_row total = {};
	struct diff_opts o;
	int err;

	err = parse_args(argc, argv, &o);
	if (err)
		return err > 0 ? 0 : 2;
	/* The decoder explains a rejected profile with warnings; the one-line error is enough. */
	log_set_level(o.verbose ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
	err = load_side(&base, o.base, &o);
	if (!err)
		err = load_side(&new_side, o.new_src, &o);
	if (err)
		goto cleanup;
	if (!is_bytes(base.unit) != !is_bytes(new_side.unit)) {
		log_error("%s counts %s in %s but %s in %s: not comparable", o.sample_index, o.base,
			  base.unit, new_side.unit, o.new_src);
		err = -EINVAL;
		goto cleanup;
	}
	d = site_diff__new(base.sites, base.value_idx, new_side.sites, new_side.value_idx);
	if (!d) {
		err = -errno;
		log_error("cannot compare %s with %s: %s", o.base, o.new_src, strerror(-err));
		goto cleanup;
	}
	site_diff_row__set(&total, site_set__total(base.sites, base.value_idx),
			   site_set__total(new_side.sites, new_side.value_idx));
	if (o.json)
		err = print_json(&o, &base, &new_side, d, &total);
	else
		print_text(&o, &base, &new_side, d, &total);
	if (!err && fflush(stdout)) {
		err = -errno;
		log_error("cannot write the output: %s", strerror(-err));
	}
cleanup:
	site_diff__free(d);
	free_side(&base);
	free_side(&new_side);
	return err ? 1 : 0;
}
