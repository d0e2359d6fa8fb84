// SPDX-License-Identifier: MIT
/* allocscope explain: a Go profile's top allocation sites next to the compiler's escape
 * analysis for their file:line (go build -gcflags=-m or -m=2). Arguments and printing only; the
 * log is parsed and matched by escape.c, the sites come from profile/site.c. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "escape.h"
#include "fetch.h"
#include "util/fmt.h"
#include "util/log.h"
#include "profile/site.h"
#include "options.h"
#include "profile/pprof_decode.h"

#define EXPLAIN_TOP_DEFAULT 10
#define EXPLAIN_WIDTH	    80
#define EXPLAIN_MAX_LINES   256 /* compiler lines shown per site */

static const char explain_usage[] =
    "Usage: allocscope explain PROFILE --escape-log FILE [OPTIONS]\n"
    "\n"
    "For each of the top allocation sites of a Go program's PROFILE (by alloc_space):\n"
    "the site (function, file:line), its bytes and objects, its cause label, and the\n"
    "Go compiler's own lines for that file:line from FILE, the output of\n"
    "  go build -gcflags=-m 2>&1    the conclusions: \"moved to heap: x\",\n"
    "                               \"... escapes to heap\", \"leaking param: p\"\n"
    "  go build -gcflags=-m=2 2>&1  the same, with the flow that led there\n"
    "The log's paths are relative to the build directory and the profile's are\n"
    "absolute: they are matched by path suffix and line. A site without a matching\n"
    "line says so: its allocation is not an escape (make with a non-constant size,\n"
    "append, map growth, a runtime call). PROFILE is a pprof file or an allocscoped\n"
    "URL.\n"
    "\n"
    "Options:\n"
    "  --escape-log FILE  the compiler's output (required)\n"
    "  --top N            the N largest sites (default 10; 0: all)\n"
    "  --json             one JSON object on stdout, for scripts\n"
    "  -v, --verbose      say why a profile was rejected\n"
    "  -h, --help         this text\n"
    "\n"
    "Examples:\n"
    "  go build -gcflags=-m=2 -o app . 2>escape.log\n"
    "  allocscope record -o app.pb.gz -- ./app\n"
    "  allocscope explain app.pb.gz --escape-log escape.log\n"
    "  allocscope explain 'http://127.0.0.1:6464/debug/pprof/allocs?pid=4242' \\\n"
    "      --escape-log escape.log --top 5\n"
    "  allocscope explain --json app.pb.gz --escape-log escape.log | jq '.sites[0]'\n";

struct explain_opts {
	const char *profile;
	const char *escape_log;
	size_t top;
	int json;
	int verbose;
};

static int parse_args(int argc, char **argv, struct explain_opts *o)
{
	static const struct option longopts[] = {
	    {"escape-log", required_argument, NULL, 'e'},
	    {"top", required_argument, NULL, 'n'},
	    {"json", no_argument, NULL, 'j'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	int c;

	*o = (struct explain_opts){.top = EXPLAIN_TOP_DEFAULT};
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'e':
			o->escape_log = optarg;
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
			return args__getopt_end(c, argv, longopts, "allocscope explain",
						explain_usage);
		}
	}
	if (argc - optind != 1) {
		log_error("explain needs one PROFILE (see 'allocscope explain --help')");
		return -EINVAL;
	}
	if (!o->escape_log) {
		log_error("explain needs --escape-log FILE, the output of "
			  "go build -gcflags=-m 2>&1 (see 'allocscope explain --help')");
		return -EINVAL;
	}
	o->profile = argv[optind];
	return 0;
}

/* What explain says about one site. */
struct site_expl {
	const struct site *site;
	const char *shown_file; /* the log's spelling of the file when it has one */
	const struct escape_line *lines[EXPLAIN_MAX_LINES];
	size_t line_cnt;
	const char *why_none; /* when line_cnt is 0: the sentence after "FILE:LINE: " */
};

static const char not_escape[] = "the allocation is not an escape (e.g. make with a non-constant "
				 "size, append, or a runtime call)";
static const char not_covered[] = "the escape log has no line for this file (built from another "
				  "package, or the standard library)";

static void explain_site(const struct escape_log *log, const struct site *site, struct site_expl *e)
{
	size_t n;

	memset(e, 0, sizeof(*e));
	e->site = site;
	e->shown_file = *site->file ? escape_log__find_file(log, site->file) : NULL;
	if (!*site->file || !site->line) {
		e->why_none = "the profile has no file:line for this site";
		return;
	}
	if (!e->shown_file) {
		e->why_none = not_covered;
		return;
	}
	n = escape_log__match(log, site->file, site->line, e->lines, EXPLAIN_MAX_LINES);
	e->line_cnt = n < EXPLAIN_MAX_LINES ? n : EXPLAIN_MAX_LINES;
	if (!n)
		e->why_none = not_escape;
}

static const char *site_file(const struct site_expl *e)
{
	return e->shown_file ? e->shown_file : *e->site->file ? e->site->file : "?";
}

/* Our own sentences, word-wrapped at the terminal's 80 columns under an indent. */
static void print_wrapped(const char *indent, const char *text)
{
	int width = EXPLAIN_WIDTH - (int)strlen(indent), col = 0;
	const char *p = text;

	while (*p) {
		const char *sp = strchr(p, ' ');
		int wl = sp ? (int)(sp - p) : (int)strlen(p);

		if (col && col + 1 + wl > width) {
			printf("\n");
			col = 0;
		}
		printf("%s%.*s", col ? " " : indent, wl, p);
		col += (col ? 1 : 0) + wl;
		p += wl;
		while (*p == ' ')
			p++;
	}
	printf("\n");
}

static void print_text(const struct explain_opts *o, const struct site_expl *ex, size_t cnt,
		       size_t site_cnt, __s64 total_bytes, int space_idx, int objects_idx)
{
	char b[32], msg[1024];

	printf("%zu of %zu allocation sites by alloc_space (%s in all), with the compiler's\n"
	       "escape analysis from %s\n",
	       cnt, site_cnt, fmt_bytes((double)total_bytes, b, sizeof(b)), o->escape_log);
	for (size_t i = 0; i < cnt; i++) {
		const struct site_expl *e = &ex[i];
		const struct site *s = e->site;

		printf("\n%zu. %s", i + 1, s->function);
		if (s->line)
			printf("  %s:%" PRId64, site_file(e), (int64_t)s->line);
		printf("\n   %s", fmt_bytes((double)s->values[space_idx], b, sizeof(b)));
		if (objects_idx >= 0)
			printf(" in %" PRId64 " objects", (int64_t)s->values[objects_idx]);
		printf(", cause %s\n",
		       s->causes ? s->causes : "unknown (no cause label: not a Go profile?)");
		for (size_t j = 0; j < e->line_cnt; j++) {
			const struct escape_line *l = e->lines[j];

			if (l->kind == ESCAPE_KIND_FLOW)
				printf("     %s\n", l->text);
			else
				printf("   %s: %s\n", l->pos, l->text);
		}
		if (!e->line_cnt) {
			snprintf(msg, sizeof(msg), "no escape analysis line for %s:%" PRId64 ": %s",
				 site_file(e), (int64_t)s->line, e->why_none);
			print_wrapped("   ", msg);
		}
	}
}

static json_object *json_compiler(const struct site_expl *e)
{
	json_object *arr = json_object_new_array(), *cur = NULL, *flow = NULL;

	for (size_t j = 0; j < e->line_cnt; j++) {
		const struct escape_line *l = e->lines[j];

		if (l->kind != ESCAPE_KIND_FLOW || !cur) {
			cur = json_object_new_object();
			flow = json_object_new_array();
			json_object_object_add(cur, "position", json_object_new_string(l->pos));
			json_object_object_add(cur, "file", json_object_new_string(l->file));
			json_object_object_add(cur, "line", json_object_new_int64(l->line));
			json_object_object_add(cur, "column", json_object_new_int64(l->col));
			json_object_object_add(cur, "kind",
					       json_object_new_string(escape_kind__name(l->kind)));
			json_object_object_add(
			    cur, "text",
			    json_object_new_string(l->kind == ESCAPE_KIND_FLOW ? "" : l->text));
			json_object_object_add(cur, "flow", flow);
			json_object_array_add(arr, cur);
			if (l->kind != ESCAPE_KIND_FLOW)
				continue;
		}
		json_object_array_add(flow, json_object_new_string(l->text));
	}
	return arr;
}

static int print_json(const struct explain_opts *o, const struct site_expl *ex, size_t cnt,
		      size_t site_cnt, __s64 total_bytes, __s64 total_objects, int space_idx,
		      int objects_idx)
{
	json_object *root = json_object_new_object(), *sites = json_object_new_array();
	char msg[1024];

	if (!root || !sites) {
		json_object_put(root);
		json_object_put(sites);
		log_error("cannot build the JSON answer: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	json_object_object_add(root, "profile", json_object_new_string(o->profile));
	json_object_object_add(root, "escape_log", json_object_new_string(o->escape_log));
	json_object_object_add(root, "sample_index", json_object_new_string("alloc_space"));
	json_object_object_add(root, "total_sites", json_object_new_int64(site_cnt));
	json_object_object_add(root, "total_bytes", json_object_new_int64(total_bytes));
	json_object_object_add(root, "total_objects",
			       objects_idx >= 0 ? json_object_new_int64(total_objects) : NULL);
	for (size_t i = 0; i < cnt; i++) {
		const struct site_expl *e = &ex[i];
		const struct site *s = e->site;
		json_object *js = json_object_new_object();

		json_object_object_add(js, "rank", json_object_new_int64(i + 1));
		json_object_object_add(js, "function", json_object_new_string(s->function));
		json_object_object_add(js, "file",
				       *s->file ? json_object_new_string(s->file) : NULL);
		json_object_object_add(
		    js, "log_file", e->shown_file ? json_object_new_string(e->shown_file) : NULL);
		json_object_object_add(js, "line", s->line ? json_object_new_int64(s->line) : NULL);
		json_object_object_add(js, "bytes", json_object_new_int64(s->values[space_idx]));
		json_object_object_add(
		    js, "objects",
		    objects_idx >= 0 ? json_object_new_int64(s->values[objects_idx]) : NULL);
		json_object_object_add(js, "cause",
				       s->causes ? json_object_new_string(s->causes) : NULL);
		json_object_object_add(js, "compiler", json_compiler(e));
		if (e->line_cnt) {
			json_object_object_add(js, "note", NULL);
		} else {
			snprintf(msg, sizeof(msg), "no escape analysis line for %s:%" PRId64 ": %s",
				 site_file(e), (int64_t)s->line, e->why_none);
			json_object_object_add(js, "note", json_object_new_string(msg));
		}
		json_object_array_add(sites, js);
	}
	json_object_object_add(root, "sites", sites);
	printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
								JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return 0;
}

int cmd_explain(int argc, char **argv)
{
	struct pprof_profile *prof = NULL;
	struct escape_log *log = NULL;
	struct site_set *sites = NULL;
	struct site_expl *ex = NULL;
	struct explain_opts o;
	int space_idx, objects_idx, err;
	size_t cnt, site_cnt;
	void *buf = NULL;
	size_t len = 0;
	__s64 total_bytes, total_objects = 0;

	err = parse_args(argc, argv, &o);
	if (err)
		return err > 0 ? 0 : 2;
	log_set_level(o.verbose ? LOG_LVL_DEBUG : LOG_LVL_ERROR);

	/* The log first: it is local and cheap, and a wrong one is the likelier mistake. */
	err = cli_fetch(o.escape_log, &buf, &len);
	if (err)
		goto cleanup;
	log = escape_log__parse(buf, len);
	if (!log) {
		err = -errno;
		if (err == -EBADMSG)
			log_error("%s has no line of Go escape analysis (expected the output of "
				  "go build -gcflags=-m 2>&1)",
				  o.escape_log);
		else
			log_error("cannot parse %s: %s", o.escape_log, strerror(-err));
		goto cleanup;
	}
	prof = cli_load_profile(o.profile);
	if (!prof) {
		err = -errno;
		goto cleanup;
	}
	space_idx = pprof__profile_sample_index(prof, "alloc_space");
	objects_idx = pprof__profile_sample_index(prof, "alloc_objects");
	if (space_idx < 0) {
		log_error("%s has no sample type alloc_space (not a heap profile?)", o.profile);
		err = -ENOENT;
		goto cleanup;
	}
	sites = site_set__new(prof, &(struct site_set_opts){.by = SITE_BY_LINE});
	if (!sites) {
		err = -errno;
		log_error("%s: cannot aggregate its samples: %s", o.profile, strerror(-err));
		goto cleanup;
	}
	site_set__sort(sites, space_idx);
	total_bytes = site_set__total(sites, space_idx);
	if (objects_idx >= 0)
		total_objects = site_set__total(sites, objects_idx);
	site_cnt = site_set__cnt(sites);
	/* Sites that allocated nothing (in-use leftovers only) are not worth explaining. */
	for (cnt = 0; cnt < site_cnt && site_set__get(sites, cnt)->values[space_idx] > 0; cnt++)
		;
	site_cnt = cnt;
	if (o.top && o.top < cnt)
		cnt = o.top;
	ex = calloc(cnt + 1, sizeof(*ex));
	if (!ex) {
		err = -ENOMEM;
		log_error("cannot explain %zu sites: %s", cnt, strerror(ENOMEM));
		goto cleanup;
	}
	for (size_t i = 0; i < cnt; i++)
		explain_site(log, site_set__get(sites, i), &ex[i]);
	if (o.json)
		err = print_json(&o, ex, cnt, site_cnt, total_bytes, total_objects, space_idx,
				 objects_idx);
	else
		print_text(&o, ex, cnt, site_cnt, total_bytes, space_idx, objects_idx);
	if (!err && fflush(stdout)) {
		err = -errno;
		log_error("cannot write the output: %s", strerror(-err));
	}
cleanup:
	free(ex);
	site_set__free(sites);
	pprof__profile_free(prof);
	escape_log__free(log);
	free(buf);
	return err ? 1 : 0;
}
