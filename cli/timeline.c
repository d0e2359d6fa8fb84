// SPDX-License-Identifier: MIT
/*
 * allocscope timeline: a process's heap-delta timeline (allocated and freed per interval or GC
 * cycle, in use) from allocscoped, from a file `record --timeline` wrote, or recorded here for
 * --since; drawn as a terminal chart, an SVG picture (--svg) or printed as JSON (--json).
 */
#include <errno.h>
#include <getopt.h>
#include <langinfo.h>
#include <libgen.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"
#include "util/atomic_file.h"
#include "util/common.h"
#include "fetch.h"
#include "util/http_client.h"
#include "util/log.h"
#include "options.h"
#include "timeline_render.h"

/* Standalone recordings take a point at least this often, and about 60 in all. */
#define STANDALONE_MIN_INTERVAL_S 0.1
#define STANDALONE_POINTS	  60

struct timeline_opts {
	int pid;	/* 0: the daemon's newest target */
	__u64 since_ns; /* 0: everything */
	const char *since_arg;
	const char *svg;
	const char *daemon; /* base URL */
	int daemon_given;
	const char *file;
	int json;
	int width; /* 0: the terminal's, else 80 */
	long rows; /* -1: the terminal's height on a terminal, else all */
	int ascii;
};

static const char timeline_usage[] =
    "Usage: allocscope timeline [--pid PID] [--since DURATION] [--svg FILE] [--json]\n"
    "                           [--daemon URL | --file FILE] [--width N] [--rows N]\n"
    "\n"
    "Show how a process's heap moved: per interval and per Go GC cycle the bytes\n"
    "allocated and freed since the record before, and the bytes in use, as a terminal\n"
    "chart, an SVG picture or JSON. The timeline comes from allocscoped's /timeline,\n"
    "from a file 'allocscope record --timeline FILE' wrote, or, when no daemon runs\n"
    "at the default address, from recording PID here for DURATION.\n"
    "\n"
    "  -p, --pid PID         the process (default with a daemon: its newest target)\n"
    "  -s, --since DURATION  only the records of the last DURATION: 90s, 5m, 1h or\n"
    "                        seconds (with --file: before its last record)\n"
    "      --svg FILE        write an SVG picture to FILE (atomically) instead of\n"
    "                        the chart\n"
    "  -j, --json            print the (filtered) records as JSON instead of the chart\n"
    "  -d, --daemon URL      allocscoped's address (default " CLI_DEFAULT_DAEMON ")\n"
    "  -f, --file FILE       read a JSON timeline written by record --timeline\n"
    "  -w, --width N         chart width in columns (default: the terminal's, or 80)\n"
    "      --rows N          merge consecutive records into at most N rows (default:\n"
    "                        the terminal's height on a terminal, else one per record)\n"
    "      --ascii           draw with ASCII characters only\n"
    "\n"
    "Chart rows: time since the first record, GC cycles, bytes allocated and freed,\n"
    "in use, then freed bars to the left of the axis, allocated bars to its right,\n"
    "and a marker for the bytes in use. Without a daemon and with --pid and --since,\n"
    "the process is recorded standalone (as 'allocscope record' does) for DURATION.\n"
    "\n"
    "Examples:\n"
    "  allocscope timeline --pid 1234 --since 5m\n"
    "  allocscope timeline --pid 1234 --svg heap.svg\n"
    "  allocscope record -o app.pb.gz --timeline app.json -- ./app\n"
    "  allocscope timeline --file app.json --since 30s --width 100\n"
    "  allocscope timeline --daemon http://127.0.0.1:6464 --pid 1234 --json\n";

static int parse_args(int argc, char **argv, struct timeline_opts *o)
{
	static const struct option longopts[] = {
	    {"pid", required_argument, NULL, 'p'},
	    {"since", required_argument, NULL, 's'},
	    {"svg", required_argument, NULL, 'S'},
	    {"json", no_argument, NULL, 'j'},
	    {"daemon", required_argument, NULL, 'd'},
	    {"file", required_argument, NULL, 'f'},
	    {"width", required_argument, NULL, 'w'},
	    {"rows", required_argument, NULL, 'R'},
	    {"ascii", no_argument, NULL, 'A'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	long v;
	int c;

	*o = (struct timeline_opts){.daemon = CLI_DEFAULT_DAEMON, .rows = -1};
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:s:jd:f:w:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (cli_opt_pid(optarg, &o->pid))
				return -EINVAL;
			break;
		case 's':
			if (timeline__parse_duration(optarg, &o->since_ns)) {
				log_error(
				    "--since: '%s' is not a duration (90s, 5m, 1h or seconds)",
				    optarg);
				return -EINVAL;
			}
			o->since_arg = optarg;
			break;
		case 'S':
			o->svg = optarg;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'd':
			if (cli_opt_daemon(optarg, &o->daemon))
				return -EINVAL;
			o->daemon_given = 1;
			break;
		case 'f':
			o->file = optarg;
			break;
		case 'w':
			if (parse_count(optarg, TIMELINE_TEXT_MIN_WIDTH, 1000, &v)) {
				log_error(
				    "--width: '%s' is not a number of columns from %d to 1000",
				    optarg, TIMELINE_TEXT_MIN_WIDTH);
				return -EINVAL;
			}
			o->width = v;
			break;
		case 'R':
			if (parse_count(optarg, 0, 1000000, &v)) {
				log_error("--rows: '%s' is not a number of rows (0: all)", optarg);
				return -EINVAL;
			}
			o->rows = v;
			break;
		case 'A':
			o->ascii = 1;
			break;
		default:
			return args__getopt_end(c, argv, longopts, "allocscope timeline",
						timeline_usage);
		}
	}
	if (optind < argc)
		return args__unexpected(argv[optind], "allocscope timeline");
	if (o->file && o->daemon_given) {
		log_error("--file and --daemon: give one source");
		return -EINVAL;
	}
	return 0;
}

/* Whether something accepts connections at url: a connect only, so that the caller can say
 * what to do instead in one line when nothing does. */
static int daemon_reachable(const char *url, char *why, size_t len)
{
	struct http_response rsp;
	int err;

	err = http_send(
	    &(struct http_request){.url = url, .connect_only = 1, .connect_timeout_ms = 5000},
	    &rsp);
	free(rsp.body);
	if (!err)
		return 0;
	if (err == -ENOMEM)
		return err;
	snprintf(why, len, "%s", rsp.error);
	return -ECONNREFUSED;
}

/* Record the process here for --since, with `allocscope record`'s own code, into a timeline
 * file in a private directory; its text into *buf. */
static int record_standalone(const struct timeline_opts *o, void **buf, size_t *len)
{
	char dir[] = "/tmp/allocscope-timeline.XXXXXX", *json = NULL, *pb = NULL;
	char pid[16], secs[32], iv[32];
	double since_s = o->since_ns / 1e9, interval_s = since_s / STANDALONE_POINTS;
	int err = 0, rc;

	if (interval_s < STANDALONE_MIN_INTERVAL_S)
		interval_s = STANDALONE_MIN_INTERVAL_S;
	if (!mkdtemp(dir)) {
		err = -errno;
		log_error("cannot create a directory in /tmp: %s", strerror(-err));
		return err;
	}
	if (asprintf(&json, "%s/timeline.json", dir) < 0 ||
	    asprintf(&pb, "%s/profile.pb.gz", dir) < 0) {
		json = pb = NULL;
		err = -ENOMEM;
		goto cleanup;
	}
	snprintf(pid, sizeof(pid), "%d", o->pid);
	snprintf(secs, sizeof(secs), "%.3f", since_s);
	snprintf(iv, sizeof(iv), "%.3f", interval_s);
	{
		char *argv[] = {"record", "--pid",	pid,  "--duration",
				secs,	  "--timeline", json, "--timeline-interval",
				iv,	  "--output",	pb,   NULL};

		rc = cmd_record((int)ARRAY_SIZE(argv) - 1, argv);
	}
	if (rc) {
		err = -EIO; /* record said why */
		goto cleanup;
	}
	err = cli_fetch(json, buf, len);
cleanup:
	if (json)
		unlink(json);
	if (pb)
		unlink(pb);
	rmdir(dir);
	free(json);
	free(pb);
	return err;
}

/* The timeline's JSON text from the file, the daemon, or a standalone recording. *label names
 * the source for error messages; *standalone is set when recorded here. */
static int load(const struct timeline_opts *o, void **buf, size_t *len, char **label,
		int *standalone)
{
	char why[256];
	size_t base_len;
	int err;

	*standalone = 0;
	if (o->file) {
		*label = strdup(o->file);
		if (!*label)
			return -ENOMEM;
		return cli_fetch(o->file, buf, len);
	}
	base_len = strlen(o->daemon);
	while (base_len && o->daemon[base_len - 1] == '/')
		base_len--;
	if (o->pid)
		err = asprintf(label, "%.*s/timeline?pid=%d", (int)base_len, o->daemon, o->pid);
	else
		err = asprintf(label, "%.*s/timeline", (int)base_len, o->daemon);
	if (err < 0) {
		*label = NULL;
		return -ENOMEM;
	}
	err = daemon_reachable(*label, why, sizeof(why));
	if (err == -ECONNREFUSED && !o->daemon_given && o->pid && o->since_ns) {
		char proc[32];

		snprintf(proc, sizeof(proc), "/proc/%d", o->pid);
		if (access(proc, F_OK)) {
			log_error("no daemon at %s, and no process %d to record standalone",
				  o->daemon, o->pid);
			return -ESRCH;
		}
		fprintf(stderr,
			"allocscope: no daemon at %s: recording pid %d here for %s (standalone)\n",
			o->daemon, o->pid, o->since_arg);
		*standalone = 1;
		return record_standalone(o, buf, len);
	}
	if (err == -ECONNREFUSED) {
		log_error("no daemon at %s (%s); use --file FILE, start allocscoped, or give --pid "
			  "and --since to record standalone",
			  o->daemon, why);
		return err;
	}
	if (err)
		return err;
	return cli_fetch(*label, buf, len);
}

static int fill_svg(void *ctx, FILE *f)
{
	return timeline_doc__write_svg(ctx, f);
}

/* Fail before a standalone recording, not after, when the picture could not be written. */
static int check_writable(const char *path)
{
	char *copy = strdup(path);
	int err = 0;

	if (!copy)
		return -ENOMEM;
	if (access(dirname(copy), W_OK | X_OK))
		err = -errno;
	free(copy);
	return err;
}

static void terminal_size(int *cols, int *rows)
{
	struct winsize ws;

	*cols = *rows = 0;
	if (isatty(STDOUT_FILENO) && !ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws)) {
		*cols = ws.ws_col;
		*rows = ws.ws_row;
	}
}

int cmd_timeline(int argc, char **argv)
{
	struct timeline_opts o;
	struct timeline_doc doc = {};
	struct timeline_text_opts to = {};
	char *label = NULL, *json = NULL, reason[256] = "";
	void *buf = NULL;
	size_t len = 0;
	int err, standalone, cols, rows;

	err = parse_args(argc, argv, &o);
	if (err)
		return err > 0 ? 0 : 2;
	if (o.svg) {
		err = check_writable(o.svg);
		if (err) {
			log_error("cannot write %s: %s", o.svg, strerror(-err));
			return 1;
		}
	}
	err = load(&o, &buf, &len, &label, &standalone);
	if (err)
		goto cleanup;
	err = timeline_doc__parse(&doc, buf, len, reason, sizeof(reason));
	if (err) {
		log_error("%s: %s", label, err == -EBADMSG ? reason : strerror(-err));
		goto cleanup;
	}
	if (o.file && o.pid && doc.pid != o.pid) {
		log_error("%s holds the timeline of pid %d, not %d", o.file, doc.pid, o.pid);
		err = -EINVAL;
		goto cleanup;
	}
	/* A standalone recording is --since long already. */
	if (o.since_ns && !standalone) {
		__u64 end = now_real_ns();

		if (o.file) {
			end = 0;
			for (size_t i = 0; i < doc.cnt; i++)
				end = max_t(__u64, end, doc.recs[i].time_ns);
		}
		timeline_doc__keep_since(&doc, end > o.since_ns ? end - o.since_ns : 0);
	}

	if (o.json) {
		json = timeline_doc__to_json(&doc);
		if (!json) {
			err = -errno;
			log_error("cannot write JSON: %s", strerror(-err));
			goto cleanup;
		}
		printf("%s\n", json);
	}
	if (o.svg) {
		err = atomic_file__write_with(o.svg, fill_svg, &doc);
		if (err) {
			log_error("cannot write %s: %s", o.svg, strerror(-err));
			goto cleanup;
		}
		fprintf(stderr, "allocscope: wrote %s: %zu records of pid %d\n", o.svg, doc.cnt,
			doc.pid);
	}
	if (!o.json && !o.svg) {
		terminal_size(&cols, &rows);
		setlocale(LC_CTYPE, "");
		to.utf8 = !o.ascii && !strcmp(nl_langinfo(CODESET), "UTF-8");
		to.width = o.width ? o.width : cols >= TIMELINE_TEXT_MIN_WIDTH ? cols : 80;
		/* Up to five lines of header and one for the prompt. */
		to.max_rows = o.rows >= 0 ? (size_t)o.rows
			      : rows	  ? (size_t)max_t(int, rows - 6, 10)
					  : 0;
		err = timeline_doc__write_text(&doc, stdout, &to);
		if (err)
			log_error("cannot write the chart: %s", strerror(-err));
	}
	if (!err && fflush(stdout)) {
		err = -errno;
		log_error("cannot write to stdout: %s", strerror(-err));
	}
cleanup:
	timeline_doc__release(&doc);
	free(json);
	free(label);
	free(buf);
	return err ? 1 : 0;
}
