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

#include "probe/alloc_probes.h"
#include "cli.h"
#include "util/common.h"
#include "probe/collect.h"
#include "profile/heap_profile.h"
#include "util/log.h"
#include "probe/sampling.h"
#include "symbols/symbolize.h"
#include "symbols/target.h"
#include "probe/unwind.h"
#include "probe/watch.h"

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
};

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
    "  -m, --mode MODE       auto (default): the Go runtime's own sampler for Go\n"
    "                        programs, the malloc family for the rest, both for cgo;\n"
    "                        or go, malloc, both\n"
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
    "  -u, --unwind MODE     fp (default): the kernel's frame-pointer walk; cfi: copy\n"
    "                        registers and the top of the stack on each sample and\n"
    "                        unwind it from .eh_frame/.debug_frame here, through code\n"
    "                        built without frame pointers; auto: cfi unless the\n"
    "                        program runs a Go runtime\n"
    "      --stack-copy BYTES  stack copied per sample with --unwind cfi (default 16k,\n"
    "                        at most 64k); deeper frames are marked [truncated]\n"
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
	    {},
	};
	unsigned long long v;
	char *end;
	int c;

	*o = (struct record_opts){.rate = SAMPLE_RATE_DEFAULT,
				  .output = DEFAULT_OUTPUT,
				  .timeline_interval_s = 1,
				  .stack_copy_bytes = UNWIND_STACK_COPY_DEFAULT};
	optind = 1;
	while ((c = getopt_long(argc, argv, "+p:d:r:o:m:t:u:jvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno || *end || !*optarg || v == 0 || v > INT_MAX) {
				log_error("--pid: '%s' is not a process ID", optarg);
				return -EINVAL;
			}
			o->pid = v;
			break;
		case 'd':
			if (parse_seconds(optarg, &o->duration_s) || o->duration_s <= 0) {
				log_error("--duration: '%s' is not a positive number of seconds",
					  optarg);
				return -EINVAL;
			}
			break;
		case 'r':
			if (parse_size(optarg, &v) || v == 0) {
				log_error("--rate: '%s' is not a positive number of bytes", optarg);
				return -EINVAL;
			}
			o->rate = v;
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
			if (unwind_mode__parse(optarg, &o->unwind)) {
				log_error("--unwind: '%s' is not one of fp, cfi, auto", optarg);
				return -EINVAL;
			}
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
		case 'h':
			fputs(record_usage, stdout);
			return 1;
		default:
			fputs(record_usage, stderr);
			return -EINVAL;
		}
	}
	if (optind < argc)
		o->command = &argv[optind];
	if (!o->pid == !o->command) {
		log_error("record needs either --pid PID or -- COMMAND (not both)");
		return -EINVAL;
	}
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

struct session {
	struct record_opts *o;
	struct alloc_probes *ap;
	struct symbolizer *sym;
	struct watch w;
	struct entry_set entries; /* what write_outputs reads from the kernel */
	struct unwinder *uw;	  /* CFI samples, unwound as their events arrive; NULL with fp */
	int attached;
	int sigfd;
	int pidfd;
	__u64 start_mono_ns;
	__u64 start_real_ns;
	__u64 next_interval_ns; /* monotonic time of the next timeline point */
	int progress;		/* stderr is a terminal */
};

static void show_progress(struct session *s, int final)
{
	__u64 c[ALLOC_CNT_MAX];
	double secs = (now_mono_ns() - s->start_mono_ns) / 1e9;

	if (!s->progress)
		return;
	alloc_probes__counters(s->ap, c);
	fprintf(stderr, "\rallocscope: recording pid %d: %.0f s, %llu samples%s", s->w.target.pid,
		secs, (unsigned long long)c[ALLOC_CNT_SAMPLED], final ? "\n" : "   ");
}

static int on_gc_event(void *ctx, const struct gc_event *e)
{
	struct session *s = ctx;

	if ((int)e->tgid != s->w.target.pid)
		return 0;
	if (e->probe == GO_PROBE_MAIN)
		watch__runtime_ready(&s->w, &s->o->watch);
	else
		watch__gc_event(&s->w, e, s->start_real_ns - s->start_mono_ns);
	return 0;
}

static void drain_events(struct session *s)
{
	alloc_probes__poll_gc(s->ap, on_gc_event, s);
	if (s->o->timeline && now_mono_ns() >= s->next_interval_ns) {
		watch__interval(&s->w, s->ap);
		s->next_interval_ns += (__u64)(s->o->timeline_interval_s * NSEC_PER_SEC);
	}
}

static struct entry_set *set_for_target(void *ctx, __u32 tgid)
{
	struct session *s = ctx;

	return (int)tgid == s->w.target.pid ? &s->entries : NULL;
}

/* What CFI unwinding did and cost, with --verbose. */
static void report_unwind(struct session *s)
{
	struct unwind_stats st;
	__u64 c[ALLOC_CNT_MAX];

	unwinder__stats(s->uw, &st);
	alloc_probes__counters(s->ap, c);
	if (c[ALLOC_CNT_UNWIND_LOST] || c[ALLOC_CNT_UNWIND_FREE_LOST])
		log_warn(
		    "unwind ring buffer full: %llu samples kept with frame-pointer stacks, %llu "
		    "frees lost",
		    (unsigned long long)c[ALLOC_CNT_UNWIND_LOST],
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

static int on_unwind_event(void *ctx, const void *data, size_t len)
{
	struct session *s = ctx;

	return unwinder__handle(s->uw, &s->w.target, data, len);
}

/* --unwind: CFI for this process or frame pointers. auto leaves Go programs (cgo included) to
 * frame pointers, which Go keeps, and unwinds everything else from CFI. */
static int choose_unwind(struct session *s, int pid)
{
	int err;

	if (!s->uw)
		return 0;
	err = watch__enable_cfi(&s->w, s->ap, s->o->unwind);
	if (err > 0)
		log_info("pid %d: unwinding sampled stacks from CFI (%u bytes of stack per sample)",
			 pid, s->o->stack_copy_bytes);
	return err < 0 ? err : 0;
}

/* record --json: what a script needs to know of the run, one JSON object on stdout. */
static void print_summary(struct session *s, const struct heap_profile_summary *sum)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return;
	json_object_object_add(o, "output", json_object_new_string(s->o->output));
	json_object_object_add(o, "pid", json_object_new_int(s->w.target.pid));
	json_object_object_add(o, "samples", json_object_new_int64(sum->samples));
	json_object_object_add(o, "sampled_allocations", json_object_new_int64(sum->raw_allocs));
	json_object_object_add(o, "lost_stacks", json_object_new_int64(sum->lost_stacks));
	json_object_object_add(o, "truncated_stacks", json_object_new_int64(sum->truncated_stacks));
	json_object_object_add(o, "go", json_object_new_boolean(s->w.go));
	json_object_object_add(o, "native", json_object_new_boolean(s->w.native));
	if (s->w.go)
		json_object_object_add(o, "go_version", json_object_new_string(s->w.gr.version));
	if (s->o->timeline)
		json_object_object_add(o, "timeline", json_object_new_string(s->o->timeline));
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	json_object_put(o);
}

static int write_outputs(struct session *s)
{
	struct watch *w = &s->w;
	struct heap_profile_opts ho = {
	    .time_ns = s->start_real_ns,
	    .duration_ns = now_real_ns() - s->start_real_ns,
	    .native_rate = s->o->rate,
	    .go_rate = watch__go_rate(w),
	};
	__u64 counters[ALLOC_CNT_MAX];
	struct heap_profile_summary sum;
	struct pprof_builder *pb = NULL;
	struct stack_cache *cache;
	int err;

	/* The runtime's own samples dominate a Go program's profile: its rate is the period. */
	ho.period = w->go && !s->o->watch.go_every_call ? ho.go_rate : ho.native_rate;
	ho.has_native = w->native;
	ho.has_go = w->go && !s->o->watch.go_every_call;
	ho.has_go_every_call = w->go && s->o->watch.go_every_call;
	alloc_probes__counters(s->ap, counters);
	ho.counters = counters;
	cache = stack_cache__new();
	if (!cache)
		return -ENOMEM;
	err = collect__read(s->ap, cache, set_for_target, s);
	if (!err && s->uw)
		err = unwinder__read(s->uw, set_for_target, s);
	if (!err) {
		struct profile_source src = {
		    .target = &w->target, .entries = s->entries.e, .cnt = s->entries.cnt};

		err = heap_profile__build(&src, 1, s->sym, &ho, &pb, &sum);
	}
	entry_set__clear(&s->entries);
	stack_cache__free(cache);
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
	if (s->uw)
		report_unwind(s);
	if (sum.counters[ALLOC_CNT_LIVE_FULL])
		log_warn("%llu allocations not tracked to their free: live map full",
			 (unsigned long long)sum.counters[ALLOC_CNT_LIVE_FULL]);
	fprintf(stderr,
		"allocscope: wrote %s: %llu samples from %llu sampled allocations of pid %d\n",
		s->o->output, (unsigned long long)sum.samples, (unsigned long long)sum.raw_allocs,
		w->target.pid);
	if (s->o->timeline) {
		w->tl.rate = ho.period;
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
static void finish(struct session *s)
{
	alloc_probes__poll_gc(s->ap, on_gc_event, s);
	if (s->o->timeline)
		watch__interval(&s->w, s->ap);
	show_progress(s, 1);
}

static int setup_signals(struct session *s, int ignore_int)
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
static int next_timeout_ms(struct session *s)
{
	__u64 now = now_mono_ns(), due = now + MAPS_REFRESH_MS * NSEC_PER_MSEC;

	if (s->o->duration_s > 0) {
		__u64 end = s->start_mono_ns + (__u64)(s->o->duration_s * NSEC_PER_SEC);

		if (now >= end)
			return 0;
		due = min_t(__u64, due, end);
	}
	if (s->o->timeline)
		due = min_t(__u64, due, max_t(__u64, s->next_interval_ns, now));
	return (due - now) / NSEC_PER_MSEC + 1;
}

static void report_attach_error(int pid, const char *exe, int err)
{
	if (err == -ESRCH)
		log_error("pid %d exited while allocscope attached", pid);
	else if (err == -ENOENT)
		log_error("pid %d (%s) maps no object that defines malloc and runs no Go runtime: "
			  "nothing to probe",
			  pid, exe);
	else if (err != -ENOEXEC)
		log_error("cannot attach to pid %d: %s", pid, strerror(-err));
}

static int record_pid(struct session *s)
{
	char exe[64];
	int err, pid = s->o->pid;

	/* /proc/PID/exe opens the executable even in another mount namespace, or deleted. */
	snprintf(exe, sizeof(exe), "/proc/%d/exe", pid);
	if (access(exe, F_OK)) {
		err = errno == ENOENT ? -ESRCH : -errno;
		log_error("cannot watch pid %d: %s", pid,
			  err == -ESRCH ? "no such process" : strerror(-err));
		return err;
	}
	err = watch__attach(&s->w, s->ap, s->sym, &s->o->watch, pid, exe, 0);
	if (err) {
		report_attach_error(pid, s->w.target.exe ?: exe, err);
		return err;
	}
	s->attached = 1;
	err = choose_unwind(s, pid);
	if (err)
		return err;
	watch__runtime_ready(&s->w, &s->o->watch);
	s->pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (s->pidfd < 0)
		log_warn("pidfd_open(%d): %s; its exit is noticed within a second", pid,
			 strerror(errno));
	err = setup_signals(s, 0);
	if (err)
		return err;
	/* Tests and scripts wait for this line: from here on allocations are seen. */
	fprintf(stderr, "allocscope: recording pid %d (%s)\n", pid, s->w.target.exe);

	for (;;) {
		struct pollfd pfd[3] = {
		    {.fd = s->sigfd, .events = POLLIN},
		    {.fd = alloc_probes__gc_fd(s->ap), .events = POLLIN},
		    {.fd = s->pidfd, .events = POLLIN},
		};
		int timeout = next_timeout_ms(s), n;

		if (!timeout)
			break;
		n = poll(pfd, s->pidfd >= 0 ? 3 : 2, timeout);
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
		if (target__refresh_maps(&s->w.target) == -ESRCH)
			break;
		if (s->o->watch.go_set_rate)
			watch__runtime_ready(&s->w, &s->o->watch);
		show_progress(s, 0);
	}
	if (s->w.target.alive)
		watch__runtime_ready(&s->w, &s->o->watch); /* the rate as of now */
	finish(s);
	return write_outputs(s);
}

/* Child side of record -- COMMAND: wait until the probes are in, then exec. */
static void run_child(int gate, char **command, const char *exe)
{
	char c;

	if (read(gate, &c, 1) != 1)
		_exit(127);
	close(gate);
	execv(exe, command);
	fprintf(stderr, "allocscope: cannot run %s: %s\n", command[0], strerror(errno));
	_exit(127);
}

/* Handle one wait status of the ptrace'd command. Returns 1 once it has exited. */
static int handle_child_status(struct session *s, int status, int *exit_code)
{
	int pid = s->w.target.pid, sig, event;

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
		target__refresh_maps(&s->w.target);
		drain_events(s);
		watch__runtime_ready(&s->w, &s->o->watch);
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

static int record_command(struct session *s, int *exit_code)
{
	int gate[2] = {-1, -1}, traced = 0, done = 0, status, err;
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
		run_child(gate[0], s->o->command, exe);
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
	err = watch__attach(&s->w, s->ap, s->sym, &s->o->watch, child, exe, 1);
	if (err) {
		report_attach_error(child, exe, err);
		kill(child, SIGKILL);
		waitpid(child, NULL, __WALL);
		goto cleanup;
	}
	s->attached = 1;
	err = choose_unwind(s, child);
	if (err) {
		kill(child, SIGKILL);
		waitpid(child, NULL, __WALL);
		goto cleanup;
	}
	/* The pre-exec snapshot describes allocscope, not the command: start afresh after exec. */
	target__release(&s->w.target);
	s->w.target = (struct target){.pid = child, .alive = 1};

	s->start_mono_ns = now_mono_ns();
	s->start_real_ns = now_real_ns();
	s->next_interval_ns = s->start_mono_ns;
	if (write(gate[1], "g", 1) != 1) {
		err = -errno;
		goto cleanup;
	}
	close(gate[1]);
	gate[1] = -1;

	while (!done) {
		struct pollfd pfd[2] = {
		    {.fd = s->sigfd, .events = POLLIN},
		    {.fd = alloc_probes__gc_fd(s->ap), .events = POLLIN},
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
		if (!done && target__refresh_maps(&s->w.target) == 0 && s->o->watch.go_set_rate)
			watch__runtime_ready(&s->w, &s->o->watch);
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
	struct alloc_probes_opts ao = {};
	struct symbolizer_opts so = {.demangle = 1};
	struct session s = {.o = &o, .sigfd = -1, .pidfd = -1};
	int err, exit_code = 0;

	err = parse_args(argc, argv, &o);
	if (err)
		return err > 0 ? 0 : 2;
	if (o.verbose)
		log_set_level(LOG_LVL_DEBUG);
	err = check_output(o.output);
	if (err) {
		log_error("cannot write %s: %s", o.output, strerror(-err));
		return 1;
	}
	if (geteuid() != 0)
		log_warn("not running as root: loading BPF programs needs CAP_BPF, CAP_PERFMON "
			 "and CAP_SYS_PTRACE");
	s.progress = isatty(STDERR_FILENO) && !o.verbose;
	s.sym = symbolizer__new(&so);
	if (!s.sym) {
		log_error("cannot create the symbolizer: %s", strerror(errno));
		return 1;
	}
	ao.sample_rate = o.rate;
	ao.verbose = o.verbose;
	ao.stack_entries = o.max_stacks;
	ao.live_entries = o.max_live;
	ao.stats_entries = o.max_stats;
	if (o.unwind != UNWIND_MODE_FP) {
		ao.stack_copy_bytes = o.stack_copy_bytes;
		s.uw = unwinder__new(s.sym);
		if (!s.uw) {
			err = -errno;
			goto cleanup;
		}
	}
	s.ap = alloc_probes__new(&ao);
	if (!s.ap) {
		err = -errno;
		goto cleanup;
	}
	if (s.uw)
		alloc_probes__set_unwind_cb(s.ap, on_unwind_event, &s);
	s.start_mono_ns = now_mono_ns();
	s.start_real_ns = now_real_ns();
	s.next_interval_ns = s.start_mono_ns;
	if (o.pid)
		err = record_pid(&s);
	else
		err = record_command(&s, &exit_code);
cleanup:
	alloc_probes__free(s.ap);
	unwinder__free(s.uw);
	symbolizer__free(s.sym);
	watch__release(&s.w);
	if (s.sigfd >= 0)
		close(s.sigfd);
	if (s.pidfd >= 0)
		close(s.pidfd);
	if (err)
		return 1;
	return exit_code;
}
