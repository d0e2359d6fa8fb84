// SPDX-License-Identifier: MIT
/*
 * allocscope record: profile one process (--pid) or a command it starts (-- COMMAND) and write
 * a gzipped pprof heap profile. A started command is held before exec until the probes are in,
 * and ptrace'd for its exit only, so that its address space can be read one last time.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "util/common.h"
#include "probe/collect.h"
#include "profile/heap_profile.h"
#include "util/log.h"
#include "options.h"
#include "probe/sampling.h"
#include "session.h"
#include "symbols/target.h"

#define DEFAULT_OUTPUT	"allocscope.pb.gz"
#define MAPS_REFRESH_MS 1000

struct record_opts {
	int pid;
	char **command;	   /* NULL-terminated, or NULL */
	double duration_s; /* 0: until exit or SIGINT */
	__u64 rate;
	const char *output;
	int verbose;
	int json;	  /* a JSON summary on stdout at the end */
	__u32 max_stacks; /* 0: built-in defaults */
	__u32 max_live;
	__u32 max_stats;
	const char *timeline; /* --timeline FILE */
	double timeline_interval_s;
	struct watch_opts watch;
	enum unwind_mode unwind;
	__u32 stack_copy_bytes;
	double max_overhead_pct;
	const char **wrappers; /* --wrapper */
	size_t wrapper_cnt;
	int no_session;
	int preload_sampler; /* --preload-sampler */
	/* The LD_PRELOAD the command starts with: ours first with --preload-sampler, then what
	 * was there; storage for watch.preload. */
	char preload[2 * PATH_MAX];
	char **envp; /* the command's environment with --preload-sampler, else NULL (environ) */
	char *env_own[2]; /* the entries of envp allocated here */
};

static void free_opts(struct record_opts *o)
{
	free(o->wrappers);
	free(o->envp);
	free(o->env_own[0]);
	free(o->env_own[1]);
}

static const char record_usage[] =
    "Usage: allocscope record [--pid PID | -- COMMAND [ARGS...]] [--duration SECONDS]\n"
    "                         [--rate BYTES] [--output FILE] [--verbose]\n"
    "\n"
    "Profile the allocations of a running process, or of a command from its first\n"
    "allocation to its exit, and write a gzipped pprof heap profile (alloc_objects,\n"
    "alloc_space, inuse_objects, inuse_space) that 'go tool pprof' reads.\n"
    "\n"
    "  -p, --pid PID         profile this running process\n"
    "  -d, --duration SECS   stop after SECS seconds (default: until the process exits\n"
    "                        or Ctrl-C)\n"
    "  -r, --rate BYTES      mean bytes between samples (Poisson by bytes, as Go's\n"
    "                        MemProfileRate); 1 records every allocation exactly;\n"
    "                        suffixes k, m, g (default 512k)\n"
    "  -o, --output FILE     where to write the profile (default " DEFAULT_OUTPUT ")\n"
    "  -m, --mode MODE       auto (default): the cheapest source the process offers: its\n"
    "                        own sampler's otel_memory USDT probes, the Go runtime's\n"
    "                        sampler for Go programs (both it and the malloc family for\n"
    "                        cgo), else the malloc family on every call; or go, malloc\n"
    "                        (every call, even with a sampler), both\n"
    "  -t, --timeline FILE   also write the heap-delta timeline as JSON: one record per\n"
    "                        Go GC cycle and one per --timeline-interval (default 1 s)\n"
    "      --timeline-interval SECS\n"
    "      --go-set-rate BYTES  write runtime.MemProfileRate into a Go program that\n"
    "                        samples nothing (this writes to the program's memory)\n"
    "      --go-every-call   probe runtime.mallocgc on every call and sample by --rate\n"
    "                        in BPF (no in-use figures; one uprobe per allocation)\n"
    "  -j, --json            print a JSON summary on stdout at the end, for scripts\n"
    "  -v, --verbose         say more, including libbpf's messages\n"
    "      --max-stacks N    room for N distinct stacks in the kernel (default 16384)\n"
    "      --max-live N      room for N live sampled blocks (default 262144); what does\n"
    "                        not fit is counted and reported, never silently dropped\n"
    "      --max-stats N     room for N (stack, allocator) aggregates (default 65536)\n"
    "  -u, --unwind MODE     auto (default): cfi unless the program runs a Go runtime;\n"
    "                        cfi: copy registers and the top of the stack on each\n"
    "                        sample and unwind it from .eh_frame/.debug_frame here,\n"
    "                        through code built without frame pointers; fp: the\n"
    "                        kernel's frame-pointer walk (cheapest; enough for Go and\n"
    "                        code built with -fno-omit-frame-pointer)\n"
    "      --stack-copy BYTES  stack copied per sample with --unwind cfi (default 16k,\n"
    "                        at most 64k); deeper frames are marked [truncated]\n"
    "      --preload-sampler  start COMMAND with allocscope's sampler library in its\n"
    "                        LD_PRELOAD (liballocscope_sampler.so, sampling by --rate\n"
    "                        unless ALLOCSCOPE_SAMPLER_RATE is set): only sampled\n"
    "                        allocations trap, through its otel_memory USDT probes\n"
    "      --max-overhead PERCENT  keep the probes' share of the process's CPU time\n"
    "                        under PERCENT (default 3; off: always attached): over it\n"
    "                        for 5 s, the allocation probes are attached only part of\n"
    "                        each second and the alloc values scaled to match\n"
    "  -w, --wrapper REGEX   a function that only wraps the allocator (repeatable; whole\n"
    "                        names, POSIX extended): its frames go with the allocator's,\n"
    "                        as those of zmalloc, xmalloc, g_malloc, PyMem_Malloc... do.\n"
    "                        A sample's leaf is the code that called the allocator; the\n"
    "                        label allocator names it (malloc, or zmalloc->malloc)\n"
    "      --no-uprobe-session  probe the malloc family with an entry and a return\n"
    "                        probe per call even where the kernel has uprobe sessions\n"
    "                        (6.13+, where unsampled calls take no return trap)\n"
    "\n"
    "With -- COMMAND, allocscope exits with the command's exit status.\n"
    "\n"
    "Examples:\n"
    "  allocscope record --rate 1 -o app.pb.gz -- ./app --flag\n"
    "  allocscope record --pid 1234 --duration 30\n"
    "  go tool pprof -top -sample_index=alloc_space app.pb.gz\n";

static int parse_args(int argc, char **argv, struct record_opts *o)
{
	static const struct option longopts[] = {
	    {"pid", required_argument, NULL, 'p'},
	    {"duration", required_argument, NULL, 'd'},
	    {"rate", required_argument, NULL, 'r'},
	    {"output", required_argument, NULL, 'o'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {"max-stacks", required_argument, NULL, 'S'},
	    {"mode", required_argument, NULL, 'm'},
	    {"timeline", required_argument, NULL, 't'},
	    {"timeline-interval", required_argument, NULL, 'I'},
	    {"go-set-rate", required_argument, NULL, 'G'},
	    {"go-every-call", no_argument, NULL, 'E'},
	    {"max-live", required_argument, NULL, 'L'},
	    {"max-stats", required_argument, NULL, 'T'},
	    {"unwind", required_argument, NULL, 'u'},
	    {"stack-copy", required_argument, NULL, 'C'},
	    {"max-overhead", required_argument, NULL, 'O'},
	    {"wrapper", required_argument, NULL, 'w'},
	    {"no-uprobe-session", no_argument, NULL, 'N'},
	    {"preload-sampler", no_argument, NULL, 'P'},
	    {},
	};
	unsigned long long v;
	int c;

	*o = (struct record_opts){.rate = SAMPLE_RATE_DEFAULT,
				  .output = DEFAULT_OUTPUT,
				  .timeline_interval_s = 1,
				  .max_overhead_pct = OVERHEAD_DEFAULT_PCT,
				  .unwind = UNWIND_MODE_AUTO,
				  .stack_copy_bytes = UNWIND_STACK_COPY_DEFAULT};
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:p:d:r:o:m:t:u:w:jvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (cli_opt_pid(optarg, &o->pid))
				return -EINVAL;
			break;
		case 'd':
			if (parse_seconds(optarg, &o->duration_s) || o->duration_s <= 0) {
				log_error("--duration: '%s' is not a positive number of seconds",
					  optarg);
				return -EINVAL;
			}
			break;
		case 'r':
			if (cli_opt_rate(optarg, &o->rate))
				return -EINVAL;
			break;
		case 'o':
			o->output = optarg;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'S':
		case 'L':
		case 'T':
			if (parse_size(optarg, &v) || v == 0 || v > (1U << 26)) {
				log_error("--%s: '%s' is not a count from 1 to %u",
					  c == 'S'   ? "max-stacks"
					  : c == 'L' ? "max-live"
						     : "max-stats",
					  optarg, 1U << 26);
				return -EINVAL;
			}
			if (c == 'S')
				o->max_stacks = v;
			else if (c == 'L')
				o->max_live = v;
			else
				o->max_stats = v;
			break;
		case 'm':
			if (watch_mode__parse(optarg, &o->watch.mode)) {
				log_error("--mode: '%s' is not one of auto, go, malloc, both",
					  optarg);
				return -EINVAL;
			}
			break;
		case 't':
			o->timeline = optarg;
			break;
		case 'I':
			if (parse_seconds(optarg, &o->timeline_interval_s) ||
			    o->timeline_interval_s < 0.01) {
				log_error(
				    "--timeline-interval: '%s' is not a number of seconds >= 0.01",
				    optarg);
				return -EINVAL;
			}
			break;
		case 'G':
			if (parse_size(optarg, &v) || v == 0 || v > INT_MAX) {
				log_error("--go-set-rate: '%s' is not a positive number of bytes",
					  optarg);
				return -EINVAL;
			}
			o->watch.go_set_rate = v;
			break;
		case 'E':
			o->watch.go_every_call = 1;
			break;
		case 'u':
			if (cli_opt_unwind(optarg, &o->unwind))
				return -EINVAL;
			break;
		case 'w':
			if (cli_opt_wrapper(optarg, &o->wrappers, &o->wrapper_cnt))
				return -EINVAL;
			break;
		case 'C':
			if (parse_size(optarg, &v) || v < 512 || v > UNWIND_STACK_COPY_MAX) {
				log_error(
				    "--stack-copy: '%s' is not a number of bytes from 512 to %u",
				    optarg, UNWIND_STACK_COPY_MAX);
				return -EINVAL;
			}
			/* Whole words: the unwinder reads the copy 8 bytes at a time. */
			o->stack_copy_bytes = v & ~7ULL;
			break;
		case 'O':
			if (cli_opt_max_overhead(optarg, &o->max_overhead_pct))
				return -EINVAL;
			break;
		case 'N':
			o->no_session = 1;
			break;
		case 'P':
			o->preload_sampler = 1;
			break;
		default:
			return args__getopt_end(c, argv, longopts, "allocscope record",
						record_usage);
		}
	}
	if (optind < argc)
		o->command = &argv[optind];
	if (!o->pid == !o->command) {
		log_error("record needs either --pid PID or -- COMMAND (not both)");
		return -EINVAL;
	}
	if (o->preload_sampler && o->pid) {
		log_error("--preload-sampler starts the command with the library: it needs "
			  "-- COMMAND (a running process loads it only when restarted)");
		return -EINVAL;
	}
	return 0;
}

/* liballocscope_sampler.so beside this executable (the build tree) or where it is installed
 * (PREFIX/bin/allocscope, PREFIX/lib/allocscope/). */
static int find_sampler_lib(char *out, size_t size)
{
	static const char *const rel[] = {"liballocscope_sampler.so",
					  "../lib/allocscope/liballocscope_sampler.so"};
	char self[PATH_MAX], path[2 * PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		return -errno;
	self[n] = 0;
	for (size_t i = 0; i < ARRAY_SIZE(rel); i++) {
		snprintf(path, sizeof(path), "%s/%s", dirname(self), rel[i]);
		if (realpath(path, out) && strlen(out) < size && access(out, R_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/* The command's environment with the library first in LD_PRELOAD, and the sampling rate
 * unless the user set one: o->envp, freed by the caller. */
static int preload_env(struct record_opts *o)
{
	extern char **environ;
	char lib[PATH_MAX], *rate = NULL, *pre = NULL, **env;
	const char *old = getenv("LD_PRELOAD");
	size_t n = 0, j = 0;
	int err = find_sampler_lib(lib, sizeof(lib));

	if (err) {
		log_error("--preload-sampler: no liballocscope_sampler.so beside allocscope or in "
			  "../lib/allocscope (make builds it; make install installs it)");
		return err;
	}
	snprintf(o->preload, sizeof(o->preload), "%s%s%s", lib, old && *old ? ":" : "",
		 old ? old : "");
	while (environ[n])
		n++;
	env = calloc(n + 3, sizeof(*env));
	if (!env || asprintf(&pre, "LD_PRELOAD=%s", o->preload) < 0 ||
	    (!getenv("ALLOCSCOPE_SAMPLER_RATE") &&
	     asprintf(&rate, "ALLOCSCOPE_SAMPLER_RATE=%llu", (unsigned long long)o->rate) < 0)) {
		free(env);
		free(pre);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11))
			env[j++] = environ[i];
	env[j++] = pre;
	if (rate)
		env[j++] = rate;
	o->envp = env;
	o->env_own[0] = pre;
	o->env_own[1] = rate;
	return 0;
}

/* Fail before profiling, not after, when the profile could not be written. */
static int check_output(const char *path)
{
	char *copy = strdup(path), *dir;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	if (access(dir, W_OK | X_OK))
		err = -errno;
	free(copy);
	return err;
}

/* The executable a command name resolves to, as execvp would find it. */
static int resolve_command(const char *name, char *buf, size_t len)
{
	const char *path = getenv("PATH") ?: "/usr/local/bin:/usr/bin:/bin";
	char *copy, *save = NULL, *dir;
	int err = -ENOENT;

	if (strchr(name, '/')) {
		snprintf(buf, len, "%s", name);
		return access(buf, X_OK) ? -errno : 0;
	}
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		snprintf(buf, len, "%s/%s", *dir ? dir : ".", name);
		if (!access(buf, X_OK)) {
			err = 0;
			break;
		}
	}
	free(copy);
	return err;
}

struct recording {
	struct record_opts *o;
	struct session ss;
	int sigfd;
	__u64 next_interval_ns; /* monotonic time of the next timeline point */
	int progress;		/* stderr is a terminal */
};

static void show_progress(struct recording *s, int final)
{
	__u64 c[ALLOC_CNT_MAX];
	double secs = (now_mono_ns() - s->ss.start_mono_ns) / 1e9;

	if (!s->progress)
		return;
	alloc_probes__counters(s->ss.ap, c);
	fprintf(stderr, "\rallocscope: recording pid %d: %.0f s, %llu samples%s",
		s->ss.w.target.pid, secs, (unsigned long long)c[ALLOC_CNT_SAMPLED],
		final ? "\n" : "   ");
}

static void drain_events(struct recording *s)
{
	session__poll_gc(&s->ss);
	if (s->o->timeline && now_mono_ns() >= s->next_interval_ns) {
		watch__interval(&s->ss.w, s->ss.ap);
		s->next_interval_ns += (__u64)(s->o->timeline_interval_s * NSEC_PER_SEC);
	}
}

/* What CFI unwinding did and cost, with --verbose. */
static void report_unwind(struct recording *s)
{
	struct unwind_stats st;
	__u64 c[ALLOC_CNT_MAX];

	unwinder__stats(s->ss.uw, &st);
	alloc_probes__counters(s->ss.ap, c);
	if (c[ALLOC_CNT_UNWIND_LOST] || c[ALLOC_CNT_UNWIND_FREE_LOST])
		log_warn(
		    "unwind ring buffer full: %llu samples kept with frame-pointer stacks, %llu "
		    "frees read from its backlog, %llu frees lost",
		    (unsigned long long)c[ALLOC_CNT_UNWIND_LOST],
		    (unsigned long long)c[ALLOC_CNT_UNWIND_FREE_DEFERRED],
		    (unsigned long long)c[ALLOC_CNT_UNWIND_FREE_LOST]);
	log_debug("stack copies: %llu without the stack's mapping, %llu cut to a page",
		  (unsigned long long)c[ALLOC_CNT_UNWIND_NO_VMA],
		  (unsigned long long)c[ALLOC_CNT_UNWIND_SHORT_COPY]);
	if (!st.events)
		return;
	log_info("unwound %llu CFI samples: %llu truncated, %.1f us each in user space, %.2f us "
		 "each in BPF (%.0f bytes of stack each); %llu frees matched, %llu unknown",
		 (unsigned long long)st.events, (unsigned long long)st.truncated,
		 st.unwind_ns / 1e3 / st.events, st.bpf_ns / 1e3 / st.events,
		 (double)st.stack_bytes / st.events, (unsigned long long)st.frees,
		 (unsigned long long)st.frees_unknown);
}

/* record --json: what a script needs to know of the run, one JSON object on stdout. */
static void print_summary(struct recording *s, const struct heap_profile_summary *sum)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return;
	json_object_object_add(o, "output", json_object_new_string(s->o->output));
	json_object_object_add(o, "pid", json_object_new_int(s->ss.w.target.pid));
	json_object_object_add(o, "samples", json_object_new_int64(sum->samples));
	json_object_object_add(o, "sampled_allocations", json_object_new_int64(sum->raw_allocs));
	json_object_object_add(o, "lost_stacks", json_object_new_int64(sum->lost_stacks));
	json_object_object_add(o, "truncated_stacks", json_object_new_int64(sum->truncated_stacks));
	json_object_object_add(o, "go", json_object_new_boolean(s->ss.w.go));
	json_object_object_add(o, "native", json_object_new_boolean(s->ss.w.native));
	if (s->ss.w.go)
		json_object_object_add(o, "go_version", json_object_new_string(s->ss.w.gr.version));
	if (s->o->timeline)
		json_object_object_add(o, "timeline", json_object_new_string(s->o->timeline));
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	json_object_put(o);
}

static int write_outputs(struct recording *s)
{
	struct watch *w = &s->ss.w;
	struct heap_profile_summary sum;
	struct pprof_builder *pb = NULL;
	int err;

	err = session__build(&s->ss, &pb, &sum);
	if (err) {
		log_error("cannot build the profile: %s", strerror(-err));
		return err;
	}
	err = pprof__write_file(pb, s->o->output);
	pprof__free(pb);
	if (err) {
		log_error("cannot write %s: %s", s->o->output, strerror(-err));
		return err;
	}
	if (sum.lost_stacks)
		log_warn("%llu of %llu sampled allocations lost their stack (stack map full)",
			 (unsigned long long)sum.lost_stacks, (unsigned long long)sum.raw_allocs);
	if (sum.counters[ALLOC_CNT_STATS_FULL])
		log_warn("%llu sampled allocations dropped: stats map full",
			 (unsigned long long)sum.counters[ALLOC_CNT_STATS_FULL]);
	if (sum.truncated_stacks)
		log_warn("%llu of %llu sampled allocations have a stack cut short ([truncated])",
			 (unsigned long long)sum.truncated_stacks,
			 (unsigned long long)sum.raw_allocs);
	if (s->ss.uw)
		report_unwind(s);
	if (sum.counters[ALLOC_CNT_LIVE_FULL])
		log_warn("%llu allocations not tracked to their free: live map full",
			 (unsigned long long)sum.counters[ALLOC_CNT_LIVE_FULL]);
	fprintf(stderr,
		"allocscope: wrote %s: %llu samples from %llu sampled allocations of pid %d\n",
		s->o->output, (unsigned long long)sum.samples, (unsigned long long)sum.raw_allocs,
		w->target.pid);
	if (s->o->timeline) {
		/* The profile's period: the rate that dominates it. */
		w->tl.rate = watch__totals_rate(w, s->o->rate, s->o->watch.go_every_call);
		err = timeline__write(&w->tl, s->o->timeline);
		if (err) {
			log_error("cannot write %s: %s", s->o->timeline, strerror(-err));
			return err;
		}
		fprintf(stderr, "allocscope: wrote %s: %zu records, %u GC cycles\n", s->o->timeline,
			w->tl.cnt, w->tl.cycles);
	}
	if (s->o->json)
		print_summary(s, &sum);
	return 0;
}

/* The last word on a run: events still queued, a closing timeline point. */
static void finish(struct recording *s)
{
	session__poll_gc(&s->ss);
	if (s->o->timeline)
		watch__interval(&s->ss.w, s->ss.ap);
	show_progress(s, 1);
}

static int setup_signals(struct recording *s, int ignore_int)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	if (ignore_int) {
		/* The terminal sends Ctrl-C to the command as well; it decides when to stop. */
		signal(SIGINT, SIG_IGN);
		signal(SIGQUIT, SIG_IGN);
		sigdelset(&set, SIGINT);
	}
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	s->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return s->sigfd < 0 ? -errno : 0;
}

/* Milliseconds until something is due: the end of --duration, a timeline point, a maps
 * refresh. 0 when --duration has elapsed. */
static int next_timeout_ms(struct recording *s)
{
	__u64 now = now_mono_ns(), due = now + MAPS_REFRESH_MS * NSEC_PER_MSEC;

	if (s->o->duration_s > 0) {
		__u64 end = s->ss.start_mono_ns + (__u64)(s->o->duration_s * NSEC_PER_SEC);

		if (now >= end)
			return 0;
		due = min_t(__u64, due, end);
	}
	if (s->o->timeline)
		due = min_t(__u64, due, max_t(__u64, s->next_interval_ns, now));
	return (due - now) / NSEC_PER_MSEC + 1;
}

static int record_pid(struct recording *s)
{
	int err, pid = s->o->pid;

	err = session__attach_pid(&s->ss, pid);
	if (err)
		return err;
	err = setup_signals(s, 0);
	if (err)
		return err;
	/* Tests and scripts wait for this line: from here on allocations are seen. */
	fprintf(stderr, "allocscope: recording pid %d (%s)\n", pid, s->ss.w.target.exe);

	for (;;) {
		struct pollfd pfd[3] = {
		    {.fd = s->sigfd, .events = POLLIN},
		    {.fd = session__gc_fd(&s->ss), .events = POLLIN},
		    {.fd = s->ss.pidfd, .events = POLLIN},
		};
		int timeout = next_timeout_ms(s), n;

		if (!timeout)
			break;
		n = poll(pfd, s->ss.pidfd >= 0 ? 3 : 2, timeout);
		if (n < 0 && errno != EINTR)
			return -errno;
		drain_events(s);
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(s->sigfd, &si, sizeof(si)) == sizeof(si) &&
			    si.ssi_signo != SIGCHLD)
				break;
		}
		if (pfd[2].revents & POLLIN) {
			log_info("pid %d exited", pid);
			break;
		}
		if (target__refresh_maps(&s->ss.w.target) == -ESRCH)
			break;
		if (s->o->watch.go_set_rate)
			watch__runtime_ready(&s->ss.w, &s->o->watch);
		show_progress(s, 0);
	}
	if (s->ss.w.target.alive)
		watch__runtime_ready(&s->ss.w, &s->o->watch); /* the rate as of now */
	finish(s);
	return write_outputs(s);
}

/* Child side of record -- COMMAND: wait until the probes are in, then exec. */
static void run_child(int gate, char **command, const char *exe, char **envp)
{
	extern char **environ;
	char c;

	if (read(gate, &c, 1) != 1)
		_exit(127);
	close(gate);
	execve(exe, command, envp ? envp : environ);
	fprintf(stderr, "allocscope: cannot run %s: %s\n", command[0], strerror(errno));
	_exit(127);
}

/* Handle one wait status of the ptrace'd command. Returns 1 once it has exited. */
static int handle_child_status(struct recording *s, int status, int *exit_code)
{
	int pid = s->ss.w.target.pid, sig, event;

	if (WIFEXITED(status)) {
		*exit_code = WEXITSTATUS(status);
		return 1;
	}
	if (WIFSIGNALED(status)) {
		*exit_code = 128 + WTERMSIG(status);
		return 1;
	}
	if (!WIFSTOPPED(status))
		return 0;
	sig = WSTOPSIG(status);
	event = status >> 16;
	if (event == PTRACE_EVENT_EXIT) {
		/* Its address space is still there: read the maps and its rate one last time. */
		target__refresh_maps(&s->ss.w.target);
		drain_events(s);
		watch__runtime_ready(&s->ss.w, &s->o->watch);
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
	} else if (event == PTRACE_EVENT_STOP) {
		if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
			ptrace(PTRACE_LISTEN, pid, NULL, NULL); /* a group-stop: keep it stopped */
		else
			ptrace(PTRACE_CONT, pid, NULL, NULL);
	} else {
		ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig); /* pass the signal on */
	}
	return 0;
}

static int record_command(struct recording *s, int *exit_code)
{
	int gate[2] = {-1, -1}, traced = 0, done = 0, status, our_root, err;
	char exe[PATH_MAX];
	pid_t child;

	err = resolve_command(s->o->command[0], exe, sizeof(exe));
	if (err) {
		log_error("cannot run %s: %s", s->o->command[0],
			  err == -ENOENT ? "command not found" : strerror(-err));
		return err;
	}
	err = setup_signals(s, 1);
	if (err)
		return err;
	if (pipe2(gate, O_CLOEXEC))
		return -errno;
	child = fork();
	if (child < 0) {
		err = -errno;
		goto cleanup;
	}
	if (child == 0) {
		sigset_t all;

		sigfillset(&all);
		sigprocmask(SIG_UNBLOCK, &all, NULL);
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		close(gate[1]);
		run_child(gate[0], s->o->command, exe, s->o->envp);
	}
	close(gate[0]);
	gate[0] = -1;

	if (ptrace(PTRACE_SEIZE, child, NULL, (void *)(long)PTRACE_O_TRACEEXIT) == 0)
		traced = 1;
	else
		log_warn("cannot ptrace %s (%s): if it exits quickly, its frames may stay unnamed",
			 s->o->command[0], strerror(errno));

	/* Until exec the child is a copy of us: the libc it maps is the one the command will
	 * load; the command's own allocator and Go runtime are probed in its file. */
	err = session__attach_child(&s->ss, child, exe);
	if (err) {
		kill(child, SIGKILL);
		waitpid(child, NULL, __WALL);
		goto cleanup;
	}
	/* The pre-exec snapshot describes allocscope, not the command: start afresh after exec,
	 * which keeps the root and mount namespace the child shares with us. */
	our_root = s->ss.w.target.our_root;
	target__release(&s->ss.w.target);
	s->ss.w.target = (struct target){.pid = child, .alive = 1, .our_root = our_root};

	s->ss.start_mono_ns = now_mono_ns();
	s->ss.start_real_ns = now_real_ns();
	s->next_interval_ns = s->ss.start_mono_ns;
	if (write(gate[1], "g", 1) != 1) {
		err = -errno;
		goto cleanup;
	}
	close(gate[1]);
	gate[1] = -1;

	while (!done) {
		struct pollfd pfd[2] = {
		    {.fd = s->sigfd, .events = POLLIN},
		    {.fd = session__gc_fd(&s->ss), .events = POLLIN},
		};
		struct signalfd_siginfo si;
		int timeout = next_timeout_ms(s);
		pid_t w;

		if (!timeout) {
			log_info("--duration elapsed; the command goes on unprofiled");
			break;
		}
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		drain_events(s);
		while (read(s->sigfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGHUP)
				kill(child, si.ssi_signo);
		}
		while (!done && (w = waitpid(child, &status, WNOHANG | __WALL)) == child)
			done = handle_child_status(s, status, exit_code);
		if (!done && target__refresh_maps(&s->ss.w.target) == 0 && s->o->watch.go_set_rate)
			watch__runtime_ready(&s->ss.w, &s->o->watch);
		show_progress(s, 0);
	}
	finish(s);
	err = write_outputs(s) ?: err;
	if (!done) {
		if (traced)
			ptrace(PTRACE_DETACH, child, NULL, NULL);
		while (waitpid(child, &status, __WALL) == child) {
			if (WIFEXITED(status) || WIFSIGNALED(status)) {
				handle_child_status(s, status, exit_code);
				break;
			}
		}
	}
cleanup:
	if (gate[0] >= 0)
		close(gate[0]);
	if (gate[1] >= 0)
		close(gate[1]);
	return err;
}

int cmd_record(int argc, char **argv)
{
	struct record_opts o;
	struct recording s = {.o = &o, .sigfd = -1};
	int err, exit_code = 0;

	err = parse_args(argc, argv, &o);
	if (err) {
		free_opts(&o);
		return err > 0 ? 0 : 2;
	}
	if (o.verbose)
		log_set_level(LOG_LVL_DEBUG);
	/* The objects the loader maps before main are probed with the executable, before exec:
	 * the maps show them only once it has run. */
	if (o.preload_sampler && preload_env(&o)) {
		free_opts(&o);
		return 1;
	}
	if (o.command && !o.preload_sampler && getenv("LD_PRELOAD"))
		snprintf(o.preload, sizeof(o.preload), "%s", getenv("LD_PRELOAD"));
	o.watch.preload = o.preload[0] ? o.preload : NULL;
	err = check_output(o.output);
	if (err) {
		log_error("cannot write %s: %s", o.output, strerror(-err));
		free_opts(&o);
		return 1;
	}
	s.progress = isatty(STDERR_FILENO) && !o.verbose;
	err = session__open(&s.ss, &(struct session_opts){
				       .rate = o.rate,
				       .verbose = o.verbose,
				       .max_stacks = o.max_stacks,
				       .max_live = o.max_live,
				       .max_stats = o.max_stats,
				       .unwind = o.unwind,
				       .stack_copy_bytes = o.stack_copy_bytes,
				       .no_session = o.no_session,
				       .watch = o.watch,
				       .timeline = o.timeline != NULL,
				       .max_overhead_pct = o.max_overhead_pct,
				       .wrappers = o.wrappers,
				       .wrapper_cnt = o.wrapper_cnt,
				   });
	if (err)
		goto cleanup;
	s.next_interval_ns = s.ss.start_mono_ns;
	if (o.pid)
		err = record_pid(&s);
	else
		err = record_command(&s, &exit_code);
cleanup:
	session__close(&s.ss);
	if (s.sigfd >= 0)
		close(s.sigfd);
	free_opts(&o);
	if (err)
		return 1;
	return exit_code;
}
