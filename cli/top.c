// SPDX-License-Identifier: MIT
/*
 * allocscope top: a live view of a process's top allocation sites, refreshed every interval
 * from cumulative heap profiles (a running allocscoped's, or probes of its own), on the
 * alternate screen of a terminal in raw mode; plain or JSON snapshots when stdout is no terminal.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "util/common.h"
#include "util/fmt.h"
#include "fetch.h"
#include "profile/heap_profile.h"
#include "util/http_client.h"
#include "util/log.h"
#include "options.h"
#include "probe/sampling.h"
#include "profile.pb-c.h"
#include "session.h"
#include "term.h"
#include "topview.h"
#include "profile/wrappers.h"
#include "profile/pprof_decode.h"

#define PIPED_SITES_DEFAULT 20
#define PROBE_TIMEOUT_MS    1000
#define HEADER_LINES	    4 /* title, totals and trend, keys, column header */

struct top_opts {
	int pid;
	const char *exe;
	const char *comm;
	double interval_s;
	const char *daemon; /* NULL: the default address, if it answers */
	int standalone;
	long iterations; /* 0: until q, Ctrl-C or SIGTERM */
	int json;
	enum topview_sort sort;
	size_t sites; /* 0: as many as fit */
	__u64 rate;
	double max_overhead_pct; /* standalone */
	int verbose;
	enum unwind_mode unwind;
	const char **wrappers; /* --wrapper */
	size_t wrapper_cnt;
	int no_session;
};

static const char top_usage[] =
    "Usage: allocscope top [--pid PID | --exe PATH | --comm NAME] [--interval SECS]\n"
    "                      [--daemon URL | --standalone] [--sort KEY] [--iterations N] [--json]\n"
    "\n"
    "A live view of the top allocation sites of a process: function and file:line, the\n"
    "allocator (C) or Go's cause label (VIA), alloc bytes/s, objects/s, bytes in use, and\n"
    "the heap's in-use trend, refreshed every interval. Keys: b sort by alloc bytes/s,\n"
    "o by objects/s, i by in-use bytes, q (or Ctrl-C) quits.\n"
    "\n"
    "The data comes from allocscoped when --daemon is given, or when one answers at the\n"
    "default address and profiles the process; otherwise --pid attaches probes of its\n"
    "own, as 'allocscope record' does (root). --exe and --comm need the daemon. Without\n"
    "a terminal, one plain snapshot per interval is printed instead.\n"
    "\n"
    "  -p, --pid PID         the process to watch\n"
    "  -e, --exe PATH        processes whose executable matches (a glob; daemon only)\n"
    "  -c, --comm NAME       processes with this command name (daemon only)\n"
    "  -i, --interval SECS   refresh period (default 1; fractions allowed, >= 0.1)\n"
    "  -d, --daemon URL      ask this allocscoped (default " CLI_DEFAULT_DAEMON ")\n"
    "      --standalone      never ask a daemon: attach probes to --pid\n"
    "  -s, --sort KEY        initial order: bytes (default), objects or inuse\n"
    "  -n, --iterations N    stop after N refreshes (default: until q or Ctrl-C)\n"
    "      --sites N         sites per snapshot (default: what fits the terminal;\n"
    "                        20 when piped)\n"
    "  -j, --json            one JSON object per snapshot and line (implies no screen)\n"
    "  -r, --rate BYTES      standalone: mean bytes between samples (default 512k)\n"
    "      --max-overhead PERCENT  standalone: keep the probes under PERCENT of the\n"
    "                        process's CPU time (default 3; off: no budget)\n"
    "  -u, --unwind MODE     standalone: auto (default), cfi or fp, as in record\n"
    "  -w, --wrapper REGEX   a function that only wraps the allocator (repeatable):\n"
    "                        its frames go with the allocator's, as zmalloc's do\n"
    "      --no-uprobe-session  standalone: an entry and a return probe per malloc\n"
    "                        call even where the kernel has uprobe sessions\n"
    "  -v, --verbose         say more, including libbpf's messages\n"
    "\n"
    "Examples:\n"
    "  allocscope top --pid 1234\n"
    "  allocscope top --comm myservice --interval 2\n"
    "  allocscope top --daemon http://127.0.0.1:6464 --exe '*/myservice' --sort inuse\n"
    "  allocscope top --pid 1234 --iterations 5 | less\n"
    "  allocscope top --pid 1234 --json --iterations 10 > top.jsonl\n";

static int parse_args(int argc, char **argv, struct top_opts *o)
{
	enum { OPT_STANDALONE = 256, OPT_SITES, OPT_MAX_OVERHEAD, OPT_NO_SESSION };
	static const struct option longopts[] = {
	    {"pid", required_argument, NULL, 'p'},
	    {"exe", required_argument, NULL, 'e'},
	    {"comm", required_argument, NULL, 'c'},
	    {"interval", required_argument, NULL, 'i'},
	    {"daemon", required_argument, NULL, 'd'},
	    {"standalone", no_argument, NULL, OPT_STANDALONE},
	    {"sort", required_argument, NULL, 's'},
	    {"iterations", required_argument, NULL, 'n'},
	    {"sites", required_argument, NULL, OPT_SITES},
	    {"json", no_argument, NULL, 'j'},
	    {"rate", required_argument, NULL, 'r'},
	    {"max-overhead", required_argument, NULL, OPT_MAX_OVERHEAD},
	    {"unwind", required_argument, NULL, 'u'},
	    {"wrapper", required_argument, NULL, 'w'},
	    {"no-uprobe-session", no_argument, NULL, OPT_NO_SESSION},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	int c, selectors = 0;
	long n;

	*o = (struct top_opts){.interval_s = 1,
			       .rate = SAMPLE_RATE_DEFAULT,
			       .max_overhead_pct = OVERHEAD_DEFAULT_PCT,
			       .unwind = UNWIND_MODE_AUTO};
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:e:c:i:d:s:n:jr:u:w:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (cli_opt_pid(optarg, &o->pid))
				return -EINVAL;
			selectors++;
			break;
		case 'e':
			o->exe = optarg;
			selectors++;
			break;
		case 'c':
			o->comm = optarg;
			selectors++;
			break;
		case 'i':
			if (parse_seconds(optarg, &o->interval_s) || o->interval_s < 0.1 ||
			    o->interval_s > 3600) {
				log_error("--interval: '%s' is not a number of seconds from 0.1 to "
					  "3600",
					  optarg);
				return -EINVAL;
			}
			break;
		case 'd':
			if (cli_opt_daemon(optarg, &o->daemon))
				return -EINVAL;
			break;
		case OPT_STANDALONE:
			o->standalone = 1;
			break;
		case 's':
			if (topview_sort__parse(optarg, &o->sort)) {
				log_error("--sort: '%s' is not one of bytes, objects, inuse",
					  optarg);
				return -EINVAL;
			}
			break;
		case 'n':
			if (parse_count(optarg, 1, LONG_MAX, &o->iterations)) {
				log_error("--iterations: '%s' is not a positive count", optarg);
				return -EINVAL;
			}
			break;
		case OPT_SITES:
			if (parse_count(optarg, 1, 100000, &n)) {
				log_error("--sites: '%s' is not a count from 1 to 100000", optarg);
				return -EINVAL;
			}
			o->sites = n;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'r':
			if (cli_opt_rate(optarg, &o->rate))
				return -EINVAL;
			break;
		case 'u':
			if (cli_opt_unwind(optarg, &o->unwind))
				return -EINVAL;
			break;
		case 'w':
			if (cli_opt_wrapper(optarg, &o->wrappers, &o->wrapper_cnt))
				return -EINVAL;
			break;
		case OPT_NO_SESSION:
			o->no_session = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case OPT_MAX_OVERHEAD:
			if (cli_opt_max_overhead(optarg, &o->max_overhead_pct))
				return -EINVAL;
			break;
		default:
			return args__getopt_end(c, argv, longopts, "allocscope top", top_usage);
		}
	}
	if (optind < argc)
		return args__unexpected(argv[optind], "allocscope top");
	if (selectors != 1) {
		log_error("top needs one of --pid PID, --exe PATH or --comm NAME");
		return -EINVAL;
	}
	if (o->standalone && (!o->pid || o->daemon)) {
		log_error("--standalone needs --pid and no --daemon");
		return -EINVAL;
	}
	return 0;
}

/* Where profiles come from. */
struct top_src {
	const struct top_opts *o;
	int standalone;
	char *url;	   /* daemon: the profile URL */
	const char *base;  /* daemon: its address */
	char what[160];	   /* "pid 1234 (topload)" */
	struct session ss; /* standalone */
};

/* The HTTP status of a GET, quietly: -ECONNREFUSED when nothing answers. */
static long http_status(const char *url, long timeout_ms)
{
	struct http_response rsp;
	int err;

	err = http_send(&(struct http_request){.url = url, .timeout_ms = timeout_ms}, &rsp);
	free(rsp.body);
	return err ? -ECONNREFUSED : rsp.status;
}

static int profile_url(struct top_src *s, const char *base)
{
	const struct top_opts *o = s->o;
	const char *key = o->pid ? "pid" : o->exe ? "exe" : "comm";
	char pid[16], *val, *esc;
	size_t blen = strlen(base);
	int n;

	while (blen && base[blen - 1] == '/')
		blen--;
	snprintf(pid, sizeof(pid), "%d", o->pid);
	val = o->pid ? pid : o->exe ? (char *)o->exe : (char *)o->comm;
	esc = http_escape(val);
	if (!esc)
		return -ENOMEM;
	n = asprintf(&s->url, "%.*s/debug/pprof/allocs?%s=%s", (int)blen, base, key, esc);
	free(esc);
	if (n < 0) {
		s->url = NULL;
		return -ENOMEM;
	}
	s->base = base;
	return 0;
}

static void describe_target(struct top_src *s)
{
	const struct top_opts *o = s->o;
	char path[64], comm[64] = "";
	FILE *f;

	if (!o->pid) {
		snprintf(s->what, sizeof(s->what), "%s %s", o->exe ? "exe" : "comm",
			 o->exe ?: o->comm);
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/comm", o->pid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	if (comm[0])
		snprintf(s->what, sizeof(s->what), "pid %d (%s)", o->pid, comm);
	else
		snprintf(s->what, sizeof(s->what), "pid %d", o->pid);
}

static int standalone_attach(struct top_src *s)
{
	int err;

	err =
	    session__open(&s->ss, &(struct session_opts){.rate = s->o->rate,
							 .verbose = s->o->verbose,
							 .max_overhead_pct = s->o->max_overhead_pct,
							 .unwind = s->o->unwind,
							 .wrappers = s->o->wrappers,
							 .wrapper_cnt = s->o->wrapper_cnt,
							 .no_session = s->o->no_session});
	return err ?: session__attach_pid(&s->ss, s->o->pid);
}

static int standalone_snapshot(struct top_src *s, struct pprof_profile **out, __u64 *when_ns)
{
	struct watch *w = &s->ss.w;
	struct heap_profile_summary sum;
	struct pprof_builder *pb = NULL;
	void *buf = NULL;
	size_t len = 0;
	int err;

	session__poll_gc(&s->ss);
	if (target__refresh_maps(&w->target) == 0)
		watch__reconcile(w, s->ss.ap, s->ss.sym);
	/* The time of the data, not of the profile built from it: symbolizing takes a while. */
	*when_ns = now_mono_ns();
	err = session__build(&s->ss, &pb, &sum);
	if (!err)
		err = pprof__encode(pb, &buf, &len);
	pprof__free(pb);
	if (err) {
		log_error("cannot build the profile of pid %d: %s", w->target.pid, strerror(-err));
		return err;
	}
	*out = pprof__decode(buf, len);
	err = *out ? 0 : -errno;
	free(buf);
	if (err)
		log_error("cannot read back the profile of pid %d: %s", w->target.pid,
			  strerror(-err));
	return err;
}

/* A cumulative profile, and the monotonic time its data were read at. */
static int src_snapshot(struct top_src *s, struct pprof_profile **out, __u64 *when_ns)
{
	if (s->standalone)
		return standalone_snapshot(s, out, when_ns);
	/* The daemon drains on request (when its last drain is a second old or more). */
	*when_ns = now_mono_ns();
	*out = cli_load_profile(s->url); /* logs its own error, naming the URL */
	return *out ? 0 : -errno;
}

static void src_release(struct top_src *s)
{
	session__close(&s->ss);
	free(s->url);
}

/*
 * Pick where the data comes from: an explicit --daemon, else the default daemon when it
 * answers (and, for --pid, profiles that process), else probes of our own for --pid.
 */
static int src_open(struct top_src *s)
{
	const struct top_opts *o = s->o;
	char health[512], path[64];
	long st;
	int err;

	if (o->pid && !o->daemon) {
		/* A daemon elsewhere may know PIDs we cannot see; the local one sees ours. */
		snprintf(path, sizeof(path), "/proc/%d", o->pid);
		if (access(path, F_OK)) {
			log_error("pid %d: no such process", o->pid);
			return -ESRCH;
		}
	}
	describe_target(s);
	if (o->daemon) {
		err = profile_url(s, o->daemon);
		if (err)
			return err;
		snprintf(health, sizeof(health), "%s/healthz", o->daemon);
		st = http_status(health, 5 * PROBE_TIMEOUT_MS);
		if (st < 0) {
			log_error("cannot reach allocscoped at %s", o->daemon);
			return -ECONNREFUSED;
		}
		return 0;
	}
	if (!o->standalone) {
		st = http_status(CLI_DEFAULT_DAEMON "/healthz", PROBE_TIMEOUT_MS);
		if (st == 200) {
			err = profile_url(s, CLI_DEFAULT_DAEMON);
			if (err)
				return err;
			if (!o->pid || http_status(s->url, 60 * PROBE_TIMEOUT_MS) != 404)
				return 0;
			log_info("allocscoped at %s does not profile pid %d: attaching probes",
				 CLI_DEFAULT_DAEMON, o->pid);
			free(s->url);
			s->url = NULL;
		} else if (!o->pid) {
			log_error("--%s needs allocscoped, and none answers at %s (start it, or "
				  "pass --daemon URL)",
				  o->exe ? "exe" : "comm", CLI_DEFAULT_DAEMON);
			return -ECONNREFUSED;
		}
	}
	s->standalone = 1;
	return standalone_attach(s);
}

/* Drawing */

struct top_ui {
	const struct top_opts *o;
	struct top_src *src;
	struct topview *tv;
	int tty;
	int utf8;
	int rows;
	int cols;
	enum topview_sort sort; /* changed by key presses */
	long shown;		/* snapshots drawn or printed */
	char overhead[160];	/* the overhead budget's figures, from the profile's comments */
};

/*
 * The probes' overhead and duty cycle as the profile's comments state them (probe/overhead.c
 * writes one line per process): one process's, or how many are cycled and the worst.
 */
static void overhead_text(const struct pprof_profile *p, char *buf, size_t len)
{
	const struct Perftools__Profiles__Profile *m = pprof__profile_msg(p);
	double worst = -1, worst_duty = 1, full, duty;
	size_t procs = 0, cycled = 0;
	int pid, worst_pid = 0;

	buf[0] = '\0';
	for (size_t i = 0; m && i < m->n_comment; i++) {
		const char *c = pprof__profile_str(p, m->comment[i]), *a;

		if (!c || sscanf(c, "allocscope: pid %d: probe overhead ~%lf%%", &pid, &full) != 2)
			continue;
		a = strstr(c, "allocation probes attached ");
		if (!a || sscanf(a, "allocation probes attached %lf%%", &duty) != 1)
			duty = 100;
		procs++;
		cycled += duty < 100;
		if (full > worst) {
			worst = full;
			worst_duty = duty;
			worst_pid = pid;
		}
	}
	if (procs == 1)
		snprintf(buf, len, "probes ~%.1f%% of CPU, alloc side on %.0f%%", worst,
			 worst_duty);
	else if (procs)
		snprintf(buf, len, "probes: %zu cycled of %zu, worst ~%.1f%% (pid %d, on %.0f%%)",
			 cycled, procs, worst, worst_pid, worst_duty);
}

static void window_size(struct top_ui *ui)
{
	struct winsize ws;
	const char *env = getenv("COLUMNS");

	ui->rows = 24;
	ui->cols = 80;
	if (ui->tty && !ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_col && ws.ws_row) {
		ui->rows = ws.ws_row;
		ui->cols = ws.ws_col;
	} else if (!ui->tty && env && atoi(env) >= 40 && atoi(env) <= 1000) {
		ui->cols = atoi(env);
	}
}

static size_t sites_shown(const struct top_ui *ui)
{
	size_t n = topview__site_cnt(ui->tv), room;

	if (ui->tty) {
		room = ui->rows > HEADER_LINES ? ui->rows - HEADER_LINES : 0;
		n = min_t(size_t, n, room);
	}
	if (ui->o->sites || !ui->tty)
		n = min_t(size_t, n, ui->o->sites ?: PIPED_SITES_DEFAULT);
	return n;
}

static const char *clock_now(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, len, "%H:%M:%S", &tm);
	return buf;
}

/* "alloc 100 MiB/s, 1.6k objs/s, in use 5.0 MiB" */
static void totals_text(const struct topview_totals *t, char *buf, size_t len, const char *sep)
{
	char b[32] = "-", o[32] = "-", in[32];

	if (t->have_rates) {
		fmt_bytes(t->alloc_bytes_per_s, b, sizeof(b));
		topview__fmt_count(t->alloc_objects_per_s, o, sizeof(o));
	}
	fmt_bytes((double)t->inuse_bytes, in, sizeof(in));
	snprintf(buf, len, "alloc %s/s%s%s objs/s%sin use %s", b, sep, o, sep, in);
}

static void process_count(const struct top_ui *ui, const struct topview_totals *t, char *buf,
			  size_t len)
{
	buf[0] = '\0';
	if (!ui->o->pid)
		snprintf(buf, len, " (%zu process%s)", t->processes, t->processes == 1 ? "" : "es");
}

static void draw_screen(struct top_ui *ui)
{
	char line[4096], fit[4096], tot[256], spark[1024], trend[64], now[16], procs[48];
	char left[512];
	__s64 hist[256];
	struct topview_totals t;
	size_t n = sites_shown(ui), nh;
	int via = topview__via_cols(ui->tv, 0, n), off, span, used;
	char *frame = NULL;
	size_t frame_len = 0;
	FILE *f = open_memstream(&frame, &frame_len);

	if (!f)
		return;
	topview__totals(ui->tv, &t);
	process_count(ui, &t, procs, sizeof(procs));
	fputs("\033[H", f);

	/* 1: what, from where, and the time. */
	snprintf(left, sizeof(left), "allocscope top - %s%s - %s, every %g s", ui->src->what, procs,
		 ui->src->standalone ? "standalone" : ui->src->base, ui->o->interval_s);
	clock_now(now, sizeof(now));
	topview__fit(left, ui->cols - (int)strlen(now) - 1, ui->utf8, fit, sizeof(fit));
	fprintf(f, "\033[1m%s\033[0m%*s%s\033[K\r\n", fit,
		max_t(int, 1, ui->cols - (int)strlen(now) - (int)strlen(fit)), "", now);

	/* 2: totals and the in-use trend over the refreshes that fit. */
	totals_text(&t, tot, sizeof(tot), "  ");
	used = (int)strlen(tot) + 2 + 6 + 12;
	nh = topview__history(
	    ui->tv, hist,
	    min_t(size_t, ARRAY_SIZE(hist), ui->cols > used ? (size_t)(ui->cols - used) : 0));
	trend[0] = '\0';
	if (nh >= 2) {
		char d[32];

		fmt_bytes((double)(hist[nh - 1] - hist[0]), d, sizeof(d));
		snprintf(trend, sizeof(trend), " %s%s", hist[nh - 1] >= hist[0] ? "+" : "", d);
	}
	topview__sparkline(hist, nh, ui->utf8, spark, sizeof(spark));
	snprintf(line, sizeof(line), "%s  heap %s%s", tot, spark, trend);
	topview__fit(line, ui->cols, ui->utf8, fit, sizeof(fit));
	fprintf(f, "%s\033[K\r\n", fit);

	/* 3: the order and the keys. */
	snprintf(line, sizeof(line),
		 "sort: %s   keys: b bytes/s  o objects/s  i in use  q quit%s%s",
		 topview_sort__title(ui->sort), ui->overhead[0] ? "   " : "", ui->overhead);
	topview__fit(line, ui->cols, ui->utf8, fit, sizeof(fit));
	fprintf(f, "%s\033[K\r\n", fit);

	/* 4: column titles, the sort column in reverse video. */
	topview__fmt_header(ui->cols, via, -1, fit, sizeof(fit));
	topview__header_span(ui->sort, &off, &span);
	if ((int)strlen(fit) >= off + span)
		fprintf(f, "\033[1m%.*s\033[7m%.*s\033[27m%s\033[0m\033[K\r\n", off, fit, span,
			fit + off, fit + off + span);
	else
		fprintf(f, "\033[1m%s\033[0m\033[K\r\n", fit);

	for (size_t i = 0; i < n; i++) {
		topview__fmt_row(topview__site(ui->tv, i), ui->cols, via, t.have_rates, ui->utf8,
				 fit, sizeof(fit));
		fprintf(f, "%s\033[K%s", fit,
			i + 1 < (size_t)ui->rows - HEADER_LINES ? "\r\n" : "");
	}
	if (!topview__site_cnt(ui->tv))
		fputs("(no allocation sampled yet)\033[K\r\n", f);
	fputs("\033[J", f);
	if (fclose(f) == 0)
		term__write_all(STDOUT_FILENO, frame, frame_len);
	free(frame);
}

static int print_plain(struct top_ui *ui)
{
	char tot[256], row[4096], line[1024], now[16], procs[48];
	struct topview_totals t;
	size_t n = sites_shown(ui);
	int via = topview__via_cols(ui->tv, 0, n);

	topview__totals(ui->tv, &t);
	totals_text(&t, tot, sizeof(tot), ", ");
	process_count(ui, &t, procs, sizeof(procs));
	/* The sort key is the starred column title: the line stays within the width. */
	snprintf(line, sizeof(line), "%s %s%s: %s%s%s", clock_now(now, sizeof(now)), ui->src->what,
		 procs, tot, ui->overhead[0] ? "; " : "", ui->overhead);
	printf("%s%s\n", ui->shown ? "\n" : "",
	       topview__fit(line, ui->cols, ui->utf8, row, sizeof(row)));
	printf("%s\n", topview__fmt_header(ui->cols, via, ui->sort, row, sizeof(row)));
	for (size_t i = 0; i < n; i++)
		printf("%s\n", topview__fmt_row(topview__site(ui->tv, i), ui->cols, via,
						t.have_rates, ui->utf8, row, sizeof(row)));
	if (!n)
		printf("(no allocation sampled yet)\n");
	return fflush(stdout) ? -errno : 0;
}

static int print_json(struct top_ui *ui)
{
	struct json_object *o = topview__json(ui->tv, ui->o->sites ?: PIPED_SITES_DEFAULT), *tg;
	const struct top_opts *opt = ui->o;
	__u64 now = now_real_ns();
	char iso[32];
	time_t secs = now / NSEC_PER_SEC;
	struct tm tm;

	if (!o)
		return -ENOMEM;
	gmtime_r(&secs, &tm);
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_object_add(o, "time", json_object_new_string(iso));
	json_object_object_add(o, "time_unix_ns", json_object_new_int64(now));
	json_object_object_add(o, "interval_s", json_object_new_double(opt->interval_s));
	json_object_object_add(
	    o, "source",
	    json_object_new_string(ui->src->standalone ? "standalone" : ui->src->base));
	tg = json_object_new_object();
	if (opt->pid)
		json_object_object_add(tg, "pid", json_object_new_int(opt->pid));
	else if (opt->exe)
		json_object_object_add(tg, "exe", json_object_new_string(opt->exe));
	else
		json_object_object_add(tg, "comm", json_object_new_string(opt->comm));
	json_object_object_add(o, "target", tg);
	if (ui->overhead[0])
		json_object_object_add(o, "overhead", json_object_new_string(ui->overhead));
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return fflush(stdout) ? -errno : 0;
}

static int show(struct top_ui *ui)
{
	if (ui->tty) {
		draw_screen(ui);
		return 0;
	}
	return ui->o->json ? print_json(ui) : print_plain(ui);
}

static int setup_signals(sigset_t *set, int tty)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	if (tty) {
		/* Resizes redraw; Ctrl-Z restores the terminal before stopping. */
		sigaddset(set, SIGWINCH);
		sigaddset(set, SIGTSTP);
		sigaddset(set, SIGCONT);
	}
	if (sigprocmask(SIG_BLOCK, set, NULL))
		return -errno;
	return 0;
}

/* Ctrl-Z: give the terminal back as it was, stop, and take it again on fg. */
static void suspend(struct top_ui *ui)
{
	term__leave();
	kill(getpid(), SIGSTOP);
	if (term__enter() == 0) {
		window_size(ui);
		draw_screen(ui);
	}
}

enum { RUN_GO, RUN_QUIT, RUN_EXITED };

static int handle_key(struct top_ui *ui, char c)
{
	enum topview_sort k;
	char key[2] = {c, '\0'};

	if (c == 'q' || c == 'Q' || c == 3 /* Ctrl-C without ISIG */)
		return RUN_QUIT;
	if (topview_sort__parse(key, &k) == 0) {
		ui->sort = k;
		topview__sort(ui->tv, k);
		draw_screen(ui);
	} else if (c == 12 /* Ctrl-L */) {
		term__write_all(STDOUT_FILENO, "\033[2J", 4);
		draw_screen(ui);
	}
	return RUN_GO;
}

static int refresh(struct top_ui *ui)
{
	struct pprof_profile *p = NULL;
	__u64 when_ns;
	int err;

	err = src_snapshot(ui->src, &p, &when_ns);
	if (err)
		return err;
	err = topview__update(ui->tv, p, when_ns);
	overhead_text(p, ui->overhead, sizeof(ui->overhead));
	pprof__profile_free(p);
	if (err == -EINVAL) {
		log_error("%s: not a heap profile (no alloc_space and alloc_objects)",
			  ui->src->url ?: "profile");
		return err;
	}
	return err < 0 ? err : 0;
}

static int run(struct top_ui *ui, int sigfd)
{
	__u64 interval_ns = (__u64)(ui->o->interval_s * NSEC_PER_SEC), next;
	int err, state = RUN_GO;

	next = now_mono_ns() + interval_ns;
	while (state == RUN_GO) {
		struct pollfd pfd[4] = {
		    {.fd = sigfd, .events = POLLIN},
		    {.fd = ui->tty ? term__input() : -1, .events = POLLIN},
		    {.fd = ui->src->standalone ? session__gc_fd(&ui->src->ss) : -1,
		     .events = POLLIN},
		    {.fd = ui->src->standalone ? ui->src->ss.pidfd : -1, .events = POLLIN},
		};
		__u64 now = now_mono_ns();
		int timeout = next > now ? (int)((next - now) / NSEC_PER_MSEC) + 1 : 0;

		if (poll(pfd, ARRAY_SIZE(pfd), timeout) < 0 && errno != EINTR)
			return -errno;
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGWINCH && ui->tty) {
					window_size(ui);
					draw_screen(ui);
				} else if (si.ssi_signo == SIGTSTP && ui->tty) {
					suspend(ui);
				} else if (si.ssi_signo != SIGCONT && si.ssi_signo != SIGWINCH &&
					   si.ssi_signo != SIGTSTP) {
					state = RUN_QUIT;
				}
			}
		}
		if (pfd[1].revents & (POLLHUP | POLLERR | POLLNVAL)) {
			state = RUN_QUIT; /* the terminal is gone */
		} else if (pfd[1].revents & POLLIN) {
			char keys[64];
			ssize_t n = read(term__input(), keys, sizeof(keys));

			for (ssize_t i = 0; i < n && state == RUN_GO; i++)
				state = handle_key(ui, keys[i]);
		}
		if (pfd[2].revents & POLLIN)
			session__poll_gc(&ui->src->ss);
		if (pfd[3].revents & POLLIN)
			state = RUN_EXITED;
		if (state != RUN_GO || now_mono_ns() < next)
			continue;
		err = refresh(ui);
		if (err)
			return err;
		err = show(ui);
		if (err)
			return err;
		ui->shown++;
		if (ui->o->iterations && ui->shown >= ui->o->iterations)
			state = RUN_QUIT;
		next += interval_ns;
		if (next <= now_mono_ns()) /* a slow fetch: do not try to catch up */
			next = now_mono_ns() + interval_ns;
	}
	return state == RUN_EXITED ? 1 : 0;
}

int cmd_top(int argc, char **argv)
{
	struct top_opts o;
	struct top_src src = {.o = &o, .ss = {.pidfd = -1}};
	struct top_ui ui = {.o = &o, .src = &src};
	struct topview *tv = NULL;
	struct wrappers *view_wrappers = NULL;
	sigset_t set;
	int err, sigfd = -1, status = 1;
	const char *cs;

	err = parse_args(argc, argv, &o);
	if (err) {
		free(o.wrappers);
		return err > 0 ? 0 : 2;
	}
	if (o.verbose)
		log_set_level(LOG_LVL_INFO);
	signal(SIGPIPE, SIG_IGN);
	setlocale(LC_CTYPE, "");
	cs = nl_langinfo(CODESET);
	ui.utf8 = cs && !strcmp(cs, "UTF-8");
	ui.tty = isatty(STDOUT_FILENO) && !o.json;
	window_size(&ui);

	err = src_open(&src);
	if (err)
		goto cleanup;
	view_wrappers = wrappers__new(o.wrappers, o.wrapper_cnt);
	if (!view_wrappers)
		goto cleanup;
	tv = topview__new(&(struct topview_opts){
	    /* A daemon drains at most once a second on request: hold its repeats that long. */
	    .hold_ns = src.standalone ? 0
				      : max_t(__u64, 2500 * NSEC_PER_MSEC,
					      (__u64)(1.5 * o.interval_s * NSEC_PER_SEC)),
	    /* A daemon's profiles had its own --wrapper applied; ours apply here too. */
	    .wrappers = view_wrappers,
	});
	if (!tv) {
		err = -ENOMEM;
		goto cleanup;
	}
	ui.tv = tv;
	ui.sort = o.sort;
	topview__sort(tv, o.sort);
	/* The baseline the first rates are measured from: nothing yet for our own probes,
	 * what the daemon has so far otherwise. */
	if (src.standalone)
		err = topview__update(tv, NULL, now_mono_ns());
	else
		err = refresh(&ui);
	if (err < 0)
		goto cleanup;
	err = setup_signals(&set, ui.tty);
	if (!err) {
		sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
		err = sigfd < 0 ? -errno : 0;
	}
	if (err)
		goto cleanup;
	if (ui.tty) {
		term__set_input(isatty(STDIN_FILENO) ? STDIN_FILENO
						     : open("/dev/tty", O_RDONLY | O_CLOEXEC));
		term__install_fatal_handlers();
		if (term__input() < 0 || term__enter()) {
			log_error("cannot set up the terminal: %s", strerror(errno));
			err = -ENOTTY;
			goto cleanup;
		}
		draw_screen(&ui);
	} else {
		/* Scripts and tests wait for this line: from here on allocations are seen. */
		fprintf(stderr, "allocscope: watching %s (%s)\n", src.what,
			src.standalone ? "standalone" : src.base);
	}
	err = run(&ui, sigfd);
	term__leave();
	if (err == 1)
		fprintf(stderr, "allocscope: pid %d exited\n", o.pid);
	if (err == -EPIPE)
		err = 0; /* the reader has seen enough */
	status = err < 0 ? 1 : 0;
cleanup:
	term__leave();
	if (sigfd >= 0)
		close(sigfd);
	if (term__input() > STDERR_FILENO)
		close(term__input());
	topview__free(tv);
	src_release(&src);
	wrappers__free(view_wrappers);
	free(o.wrappers);
	return status;
}
