// SPDX-License-Identifier: MIT
/* allocscoped: the continuous allocation profiling daemon. Parses its options once into an
 * immutable configuration and hands it to the core (scoped.c). */
#include <errno.h>
#include <malloc.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/args.h"
#include "service/httpd.h"
#include "util/log.h"
#include "probe/overhead.h"
#include "probe/sampling.h"
#include "service/scoped.h"
#include "service/trigger.h"

static const char usage[] =
    "Usage: allocscoped [TARGETS] [OPTIONS]\n"
    "\n"
    "Continuous allocation profiling of the processes it is told to watch, also those that\n"
    "start later (matched at exec). Serves pprof profiles, heap-delta timelines and\n"
    "Prometheus metrics over HTTP, on loopback by default.\n"
    "\n"
    "Targets (each repeatable; a process matching any is watched):\n"
    "  -p, --pid PID            a process\n"
    "  -e, --exe GLOB           executables whose path matches GLOB (fnmatch)\n"
    "  -c, --comm NAME          processes whose comm is NAME\n"
    "  -g, --cgroup PATH        processes in a cgroup (prefix), e.g. a container's\n"
    "      --all-go             every Go program\n"
    "      --config FILE        JSON: {\"pid\": [..], \"exe\": [..], \"comm\": [..],\n"
    "                           \"cgroup\": [..], \"all_go\": true, \"interval\": 10, ...};\n"
    "                           SIGHUP reloads its targets\n"
    "Options:\n"
    "  -i, --interval SECS      drain the kernel maps every SECS seconds (default 10)\n"
    "      --retention MINUTES  history kept for seconds= queries (default 15)\n"
    "      --max-history-entries N  bound on retained entries (default 1000000)\n"
    "      --max-exited N       exited processes kept for queries (default 1000)\n"
    "  -l, --listen ADDR:PORT   HTTP address (default " HTTPD_DEFAULT_LISTEN ")\n"
    "      --auth-token-file F  require 'Authorization: Bearer <token in F>'\n"
    "      --insecure           allow a non-loopback address without a token\n"
    "      --tls-cert F --tls-key F  serve HTTPS\n"
    "  -r, --rate BYTES         malloc-family sampling rate (default 512k)\n"
    "  -m, --mode MODE          auto, go, malloc or both (default auto: the cheapest source\n"
    "                           a process offers, its otel_memory USDT sampler first)\n"
    "      --go-every-call      probe every runtime.mallocgc call instead of the runtime's\n"
    "                           sampler (for Go programs with MemProfileRate 0)\n"
    "      --go-set-rate BYTES  write runtime.MemProfileRate into Go programs whose runtime\n"
    "                           samples nothing (0: they never link runtime.MemProfile);\n"
    "                           only over a 0, counted in /metrics (writes to their memory)\n"
    "      --max-stacks N       kernel stack map size (default 16384)\n"
    "      --max-live N         live-block map size (default 262144)\n"
    "      --max-stats N        room for N (process, stack) aggregates (default 65536)\n"
    "  -u, --unwind MODE        auto (default), cfi or fp: as allocscope record --unwind;\n"
    "                           cfi walks sampled stacks through code without frame\n"
    "                           pointers from .eh_frame (auto: all but Go programs)\n"
    "      --wrapper REGEX      functions that only wrap the allocator (repeatable; whole\n"
    "                           names, POSIX extended): their frames go with the\n"
    "                           allocator's, as zmalloc, xmalloc, g_malloc... do\n"
    "      --stack-copy BYTES   stack copied per sample for cfi (default 16k)\n"
    "      --max-overhead PERCENT  keep each native process's probes under PERCENT of its\n"
    "                           CPU time (default 3; off: always attached): over it\n"
    "                           for 5 s, its allocation probes are attached part of\n"
    "                           each second, alloc values scaled to match\n"
    "      --no-uprobe-session  an entry and a return probe per malloc call even where\n"
    "                           the kernel has uprobe sessions (6.13+: unsampled calls\n"
    "                           take no return trap there)\n"
    "      --push URL           send each interval's allocations and in-use to Grafana\n"
    "                           Pyroscope (URL/ingest?format=pprof), one series per\n"
    "                           service_name, labelled with host, namespace, pod, container\n"
    "      --push-tenant ID     send X-Scope-OrgID: ID\n"
    "      --push-auth-file F   credentials for --push: one line, 'basic USER:PASSWORD' or\n"
    "                           'bearer TOKEN' (never logged)\n"
    "      --push-pid-label     label pushes with the pid too (a series per process)\n"
    "      --push-timeout SECS  bound on one push request and on the flush at exit\n"
    "                           (default 10)\n"
    "      --push-queue N       profiles waiting to be pushed, the oldest dropped beyond\n"
    "                           (default 1024)\n"
    "  -v, --verbose            log every event\n"
    "Heap snapshots (a target's heap profile when a trigger fires):\n"
    "      --snapshot-on LIST   triggers: oom,pressure,limit,growth (the default) or none;\n"
    "                           POST /snapshot?pid=N always works\n"
    "      --snapshot-dir DIR   also write them to DIR (atomically; listed again at start)\n"
    "      --max-snapshots N    profiles kept in memory (default 32)\n"
    "      --snapshot-max-age SECS   remove files older than this (default 604800)\n"
    "      --snapshot-max-bytes BYTES  bound on DIR's snapshot files (default 256m)\n"
    "      --snapshot-cooldown SECS  per target, between automatic ones (default 300)\n"
    "      --snapshot-psi MS    pressure: tasks stalled MS ms in a 2 s window, system-wide\n"
    "                           or in a target's cgroup (default 200)\n"
    "      --snapshot-limit-ratio R  limit: cgroup usage at R of its limit (default 0.9),\n"
    "                           or memory.events high/max rising (cgroup v2)\n"
    "      --snapshot-growth F  growth: in-use grew by more than F (1 = +100%) over\n"
    "      --snapshot-growth-window SECS  (default 600) and by at least\n"
    "      --snapshot-growth-min BYTES  (default 16m)\n"
    "\n"
    "Endpoints: /debug/pprof/ (index), /debug/pprof/heap, /debug/pprof/allocs\n"
    "(?pid=|exe=|comm=|cgroup=|container=, &seconds=N), /timeline?pid=N, /metrics,\n"
    "/healthz; snapshots: POST /snapshot?pid=N, /snapshots, /snapshots/ID,\n"
    "/debug/pprof/heap?snapshot=ID.\n"
    "On loopback without a token, root reads every target and another local user only\n"
    "the processes it could ptrace (its own); a bearer token reads everything.\n"
    "Example: go tool pprof http://127.0.0.1:6464/debug/pprof/heap?pid=1234\n";

/* A number of seconds or minutes greater than zero. */
static int parse_positive(const char *s, double *out)
{
	return parse_seconds(s, out) ?: (*out > 0 ? 0 : -EINVAL);
}

/* A byte count greater than zero, k/m/g suffixes allowed. */
static int parse_bytes(const char *s, unsigned long long *out)
{
	return parse_size(s, out) ?: (*out ? 0 : -EINVAL);
}

static int parse_args(int argc, char **argv, struct scoped_opts *o)
{
	enum {
		OPT_ALL_GO = 256,
		OPT_CONFIG,
		OPT_RETENTION,
		OPT_MAX_HISTORY,
		OPT_MAX_EXITED,
		OPT_TOKEN,
		OPT_INSECURE,
		OPT_TLS_CERT,
		OPT_TLS_KEY,
		OPT_EVERY_CALL,
		OPT_GO_SET_RATE,
		OPT_MAX_STACKS,
		OPT_MAX_LIVE,
		OPT_MAX_STATS,
		OPT_STACK_COPY,
		OPT_MAX_OVERHEAD,
		OPT_WRAPPER,
		OPT_NO_SESSION,
		OPT_PUSH,
		OPT_PUSH_TENANT,
		OPT_PUSH_AUTH,
		OPT_PUSH_PID,
		OPT_PUSH_TIMEOUT,
		OPT_PUSH_QUEUE,
		OPT_SNAP_ON,
		OPT_SNAP_DIR,
		OPT_MAX_SNAPS,
		OPT_SNAP_MAX_AGE,
		OPT_SNAP_MAX_BYTES,
		OPT_SNAP_COOLDOWN,
		OPT_SNAP_PSI,
		OPT_SNAP_LIMIT,
		OPT_SNAP_GROWTH,
		OPT_SNAP_GROWTH_WINDOW,
		OPT_SNAP_GROWTH_MIN,
	};
	static const struct option longopts[] = {
	    {"pid", required_argument, NULL, 'p'},
	    {"exe", required_argument, NULL, 'e'},
	    {"comm", required_argument, NULL, 'c'},
	    {"cgroup", required_argument, NULL, 'g'},
	    {"all-go", no_argument, NULL, OPT_ALL_GO},
	    {"config", required_argument, NULL, OPT_CONFIG},
	    {"interval", required_argument, NULL, 'i'},
	    {"retention", required_argument, NULL, OPT_RETENTION},
	    {"max-history-entries", required_argument, NULL, OPT_MAX_HISTORY},
	    {"max-exited", required_argument, NULL, OPT_MAX_EXITED},
	    {"listen", required_argument, NULL, 'l'},
	    {"auth-token-file", required_argument, NULL, OPT_TOKEN},
	    {"insecure", no_argument, NULL, OPT_INSECURE},
	    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
	    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
	    {"rate", required_argument, NULL, 'r'},
	    {"mode", required_argument, NULL, 'm'},
	    {"go-every-call", no_argument, NULL, OPT_EVERY_CALL},
	    {"go-set-rate", required_argument, NULL, OPT_GO_SET_RATE},
	    {"max-stacks", required_argument, NULL, OPT_MAX_STACKS},
	    {"max-live", required_argument, NULL, OPT_MAX_LIVE},
	    {"max-stats", required_argument, NULL, OPT_MAX_STATS},
	    {"unwind", required_argument, NULL, 'u'},
	    {"wrapper", required_argument, NULL, OPT_WRAPPER},
	    {"stack-copy", required_argument, NULL, OPT_STACK_COPY},
	    {"max-overhead", required_argument, NULL, OPT_MAX_OVERHEAD},
	    {"no-uprobe-session", no_argument, NULL, OPT_NO_SESSION},
	    {"push", required_argument, NULL, OPT_PUSH},
	    {"push-tenant", required_argument, NULL, OPT_PUSH_TENANT},
	    {"push-auth-file", required_argument, NULL, OPT_PUSH_AUTH},
	    {"push-pid-label", no_argument, NULL, OPT_PUSH_PID},
	    {"push-timeout", required_argument, NULL, OPT_PUSH_TIMEOUT},
	    {"push-queue", required_argument, NULL, OPT_PUSH_QUEUE},
	    {"snapshot-on", required_argument, NULL, OPT_SNAP_ON},
	    {"snapshot-dir", required_argument, NULL, OPT_SNAP_DIR},
	    {"max-snapshots", required_argument, NULL, OPT_MAX_SNAPS},
	    {"snapshot-max-age", required_argument, NULL, OPT_SNAP_MAX_AGE},
	    {"snapshot-max-bytes", required_argument, NULL, OPT_SNAP_MAX_BYTES},
	    {"snapshot-cooldown", required_argument, NULL, OPT_SNAP_COOLDOWN},
	    {"snapshot-psi", required_argument, NULL, OPT_SNAP_PSI},
	    {"snapshot-limit-ratio", required_argument, NULL, OPT_SNAP_LIMIT},
	    {"snapshot-growth", required_argument, NULL, OPT_SNAP_GROWTH},
	    {"snapshot-growth-window", required_argument, NULL, OPT_SNAP_GROWTH_WINDOW},
	    {"snapshot-growth-min", required_argument, NULL, OPT_SNAP_GROWTH_MIN},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	unsigned long long v;
	long n = 0;
	int c, err;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:e:c:g:i:l:r:m:u:vh", longopts, NULL)) != -1) {
		err = 0;
		switch (c) {
		case 'p':
			err = scoped_opts__add_selector(o, SELECT_PID, optarg, 0);
			break;
		case 'e':
			err = scoped_opts__add_selector(o, SELECT_EXE, optarg, 0);
			break;
		case 'c':
			err = scoped_opts__add_selector(o, SELECT_COMM, optarg, 0);
			break;
		case 'g':
			err = scoped_opts__add_selector(o, SELECT_CGROUP, optarg, 0);
			break;
		case OPT_ALL_GO:
			err = scoped_opts__add_selector(o, SELECT_ALL_GO, NULL, 0);
			break;
		case OPT_CONFIG:
			o->config_path = optarg;
			break;
		case 'i':
			err = parse_positive(optarg, &o->interval_s);
			if (!err && o->interval_s < 0.1)
				err = -EINVAL;
			break;
		case OPT_RETENTION:
			err = parse_positive(optarg, &o->retention_min);
			break;
		case OPT_MAX_HISTORY:
			err = parse_count(optarg, 1, LONG_MAX, &n);
			o->max_history_entries = n;
			break;
		case OPT_MAX_EXITED:
			err = parse_count(optarg, 0, LONG_MAX, &n);
			o->max_exited = n;
			break;
		case 'l':
			o->listen = optarg;
			break;
		case OPT_TOKEN:
			o->auth_token_file = optarg;
			break;
		case OPT_INSECURE:
			o->insecure = 1;
			break;
		case OPT_TLS_CERT:
			o->tls_cert = optarg;
			break;
		case OPT_TLS_KEY:
			o->tls_key = optarg;
			break;
		case 'r':
			err = parse_bytes(optarg, &v);
			o->rate = v;
			break;
		case 'm':
			err = watch_mode__parse(optarg, &o->watch.mode);
			break;
		case OPT_EVERY_CALL:
			o->watch.go_every_call = 1;
			break;
		case OPT_GO_SET_RATE:
			err = parse_bytes(optarg, &v);
			o->watch.go_set_rate = v;
			break;
		case OPT_MAX_STACKS:
		case OPT_MAX_LIVE:
		case OPT_MAX_STATS:
			err = parse_count(optarg, 1, 1L << 26, &n);
			v = n;
			if (c == OPT_MAX_STACKS)
				o->max_stacks = v;
			else if (c == OPT_MAX_LIVE)
				o->max_live = v;
			else
				o->max_stats = v;
			break;
		case 'u':
			err = unwind_mode__parse(optarg, &o->unwind);
			o->unwind_set = 1;
			break;
		case OPT_WRAPPER:
			err = scoped_opts__add_wrapper(o, optarg, 0);
			if (err)
				return err;
			break;
		case OPT_MAX_OVERHEAD:
			err = overhead__parse_pct(optarg, &o->max_overhead_pct);
			break;
		case OPT_STACK_COPY:
			err = parse_bytes(optarg, &v);
			if (!err && (v < 512 || v > UNWIND_STACK_COPY_MAX))
				err = -EINVAL;
			o->stack_copy_bytes = v & ~7ULL;
			break;
		case OPT_NO_SESSION:
			o->no_session = 1;
			break;
		case OPT_PUSH:
			o->push_url = optarg;
			break;
		case OPT_PUSH_TENANT:
			/* A header value: no line breaks, nothing empty. */
			err = *optarg && !strpbrk(optarg, "\r\n") ? 0 : -EINVAL;
			o->push_tenant = optarg;
			break;
		case OPT_PUSH_AUTH:
			o->push_auth_file = optarg;
			break;
		case OPT_PUSH_PID:
			o->push_pid_label = 1;
			break;
		case OPT_PUSH_TIMEOUT:
			err = parse_positive(optarg, &o->push_timeout_s);
			break;
		case OPT_PUSH_QUEUE:
			err = parse_count(optarg, 1, 1L << 20, &n);
			o->push_queue_max = n;
			break;
		case OPT_SNAP_ON:
			err = trigger__parse_mask(optarg, &o->snap.triggers);
			break;
		case OPT_SNAP_DIR:
			o->snap.dir = optarg;
			break;
		case OPT_MAX_SNAPS:
			err = parse_count(optarg, 1, 100000, &n);
			o->snap.max_in_memory = n;
			break;
		case OPT_SNAP_MAX_AGE:
			err = parse_positive(optarg, &o->snap.max_age_s);
			break;
		case OPT_SNAP_MAX_BYTES:
			err = parse_bytes(optarg, &v);
			o->snap.max_disk_bytes = v;
			break;
		case OPT_SNAP_COOLDOWN:
			err = parse_seconds(optarg, &o->snap.cooldown_s);
			break;
		case OPT_SNAP_PSI:
			/* The kernel takes 0.5 ms to the whole window. */
			err = parse_positive(optarg, &o->snap.psi_stall_ms);
			if (!err && (o->snap.psi_stall_ms < 1 || o->snap.psi_stall_ms > 2000))
				err = -EINVAL;
			break;
		case OPT_SNAP_LIMIT:
			err = parse_positive(optarg, &o->snap.limit_ratio);
			if (!err && o->snap.limit_ratio > 1)
				err = -EINVAL;
			break;
		case OPT_SNAP_GROWTH:
			err = parse_positive(optarg, &o->snap.growth_fraction);
			break;
		case OPT_SNAP_GROWTH_WINDOW:
			err = parse_positive(optarg, &o->snap.growth_window_s);
			break;
		case OPT_SNAP_GROWTH_MIN:
			err = parse_size(optarg, &v);
			o->snap.growth_min_bytes = v;
			break;
		case 'v':
			o->verbose = 1;
			break;
		default:
			return args__getopt_end(c, argv, longopts, "allocscoped", usage);
		}
		if (err) {
			const char *name = "?";

			for (const struct option *lo = longopts; lo->name; lo++)
				if (lo->val == c)
					name = lo->name;
			log_error("--%s: invalid value '%s'", name, optarg ?: "");
			return -EINVAL;
		}
	}
	if (optind < argc)
		return args__unexpected(argv[optind], "allocscoped");
	if (o->config_path && scoped_opts__load_config(o, o->config_path, 0))
		return -EINVAL;
	if (!o->sel_cnt)
		log_warn("no targets given (--pid, --exe, --comm, --cgroup, --all-go, --config): "
			 "serving an empty index");
	return 0;
}

int main(int argc, char **argv)
{
	struct scoped_opts o = {
	    .interval_s = 10,
	    .retention_min = 15,
	    .max_history_entries = 1000000,
	    .max_exited = 1000,
	    .rate = SAMPLE_RATE_DEFAULT,
	    .max_overhead_pct = OVERHEAD_DEFAULT_PCT,
	    .unwind = UNWIND_MODE_AUTO,
	    .push_timeout_s = 10,
	    .push_queue_max = 1024,
	};
	int err;

	capture_opts__defaults(&o.snap);
	log_set_prefix("allocscoped");
	/* Each drain builds and drops arrays of megabytes (entries, map batches). glibc would
	 * raise its mmap threshold after the first is freed and serve the next from the heap,
	 * which then stays at its high-water mark: a fixed threshold keeps them mmap'ed, so freed
	 * means returned and RSS follows what is held. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	err = parse_args(argc, argv, &o);
	if (err)
		return err > 0 ? 0 : 2;
	/* Quiet by default: warnings and errors, one line each. */
	if (o.verbose)
		log_set_level(LOG_LVL_DEBUG);
	err = scoped__run(&o);
	scoped_opts__free_config(&o);
	return err;
}
