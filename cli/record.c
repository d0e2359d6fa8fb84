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

#include "alloc_probes.h"
#include "cli.h"
#include "common.h"
#include "heap_profile.h"
#include "log.h"
#include "sampling.h"
#include "symbolize.h"
#include "target.h"

#define DEFAULT_OUTPUT	"allocscope.pb.gz"
#define MAPS_REFRESH_MS 1000

struct record_opts {
	int pid;
	char **command;	   /* NULL-terminated, or NULL */
	double duration_s; /* 0: until exit or SIGINT */
	__u64 rate;
	const char *output;
	int verbose;
	__u32 max_stacks; /* 0: built-in defaults */
	__u32 max_live;
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
    "  -v, --verbose         say more, including libbpf's messages\n"
    "      --max-stacks N    room for N distinct stacks in the kernel (default 16384)\n"
    "      --max-live N      room for N live sampled blocks (default 262144); what does\n"
    "                        not fit is counted and reported, never silently dropped\n"
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
	    {"help", no_argument, NULL, 'h'},
	    {"max-stacks", required_argument, NULL, 'S'},
	    {"max-live", required_argument, NULL, 'L'},
	    {},
	};
	unsigned long long v;
	char *end;
	int c;

	*o = (struct record_opts){.rate = SAMPLE_RATE_DEFAULT, .output = DEFAULT_OUTPUT};
	optind = 1;
	while ((c = getopt_long(argc, argv, "+p:d:r:o:vh", longopts, NULL)) != -1) {
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
		case 'S':
		case 'L':
			if (parse_size(optarg, &v) || v == 0 || v > (1U << 26)) {
				log_error("--%s: '%s' is not a count from 1 to %u",
					  c == 'S' ? "max-stacks" : "max-live", optarg, 1U << 26);
				return -EINVAL;
			}
			if (c == 'S')
				o->max_stacks = v;
			else
				o->max_live = v;
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
	struct target target;
	int sigfd;
	int pidfd;
	__u64 start_mono_ns;
	__u64 start_real_ns;
	int progress; /* stderr is a terminal */
};

static void show_progress(struct session *s, int final)
{
	__u64 c[ALLOC_CNT_MAX];
	double secs = (now_mono_ns() - s->start_mono_ns) / 1e9;

	if (!s->progress)
		return;
	alloc_probes__counters(s->ap, c);
	fprintf(stderr, "\rallocscope: recording pid %d: %.0f s, %llu samples%s", s->target.pid,
		secs, (unsigned long long)c[ALLOC_CNT_SAMPLED], final ? "\n" : "   ");
}

static int write_profile(struct session *s)
{
	struct heap_profile_opts ho = {
	    .time_ns = s->start_real_ns,
	    .duration_ns = now_real_ns() - s->start_real_ns,
	};
	struct heap_profile_summary sum;
	struct pprof_builder *pb = NULL;
	int err;

	err = heap_profile__build(s->ap, &s->target, 1, s->sym, &ho, &pb, &sum);
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
	if (sum.counters[ALLOC_CNT_LIVE_FULL])
		log_warn("%llu allocations not tracked to their free: live map full",
			 (unsigned long long)sum.counters[ALLOC_CNT_LIVE_FULL]);
	fprintf(stderr,
		"allocscope: wrote %s: %llu samples from %llu sampled allocations of pid %d\n",
		s->o->output, (unsigned long long)sum.samples, (unsigned long long)sum.raw_allocs,
		s->target.pid);
	return 0;
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

static int remaining_ms(struct session *s)
{
	__u64 elapsed, limit;

	if (s->o->duration_s <= 0)
		return MAPS_REFRESH_MS;
	elapsed = now_mono_ns() - s->start_mono_ns;
	limit = (__u64)(s->o->duration_s * NSEC_PER_SEC);
	if (elapsed >= limit)
		return 0;
	return min_t(__u64, (limit - elapsed) / NSEC_PER_MSEC + 1, MAPS_REFRESH_MS);
}

static int record_pid(struct session *s)
{
	int err;

	err = target__init(&s->target, s->o->pid);
	if (err) {
		log_error("cannot watch pid %d: %s", s->o->pid,
			  err == -ESRCH ? "no such process" : strerror(-err));
		return err;
	}
	err = target__refresh_maps(&s->target);
	if (!err)
		err = alloc_probes__attach_pid(s->ap, s->sym, s->o->pid,
					       &s->target.snaps[s->target.snap_cnt - 1]);
	if (err < 0) {
		if (err == -ESRCH)
			log_error("pid %d exited while allocscope attached", s->o->pid);
		else if (err == -ENOENT)
			log_error(
			    "pid %d (%s) maps no object that defines malloc: nothing to probe",
			    s->o->pid, s->target.exe);
		else
			log_error("cannot attach to pid %d: %s", s->o->pid, strerror(-err));
		return err;
	}
	s->pidfd = syscall(SYS_pidfd_open, s->o->pid, 0);
	if (s->pidfd < 0)
		log_warn("pidfd_open(%d): %s; its exit is noticed within a second", s->o->pid,
			 strerror(errno));
	err = setup_signals(s, 0);
	if (err)
		return err;
	/* Tests and scripts wait for this line: from here on allocations are seen. */
	fprintf(stderr, "allocscope: recording pid %d (%s)\n", s->o->pid, s->target.exe);

	for (;;) {
		struct pollfd pfd[2] = {
		    {.fd = s->sigfd, .events = POLLIN},
		    {.fd = s->pidfd, .events = POLLIN},
		};
		int timeout = remaining_ms(s), n;

		if (!timeout)
			break;
		n = poll(pfd, s->pidfd >= 0 ? 2 : 1, timeout);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(s->sigfd, &si, sizeof(si)) == sizeof(si) &&
			    si.ssi_signo != SIGCHLD)
				break;
		}
		if (pfd[1].revents & POLLIN) {
			log_info("pid %d exited", s->o->pid);
			break;
		}
		if (target__refresh_maps(&s->target) == -ESRCH)
			break;
		show_progress(s, 0);
	}
	show_progress(s, 1);
	return write_profile(s);
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
	int pid = s->target.pid, sig, event;

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
		/* Its address space is still there: read the maps one last time. */
		target__refresh_maps(&s->target);
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

	err = target__init(&s->target, child);
	if (!err)
		err = target__refresh_maps(&s->target);
	/* Until exec the child is a copy of us: the libc it maps is the one the command will
	 * load, unless the command brings its own allocator (static binaries: probed below). */
	if (!err) {
		err = alloc_probes__attach_pid(s->ap, s->sym, child,
					       &s->target.snaps[s->target.snap_cnt - 1]);
		if (err > 0)
			err = 0;
	}
	if (!err) {
		int n = alloc_probes__attach_object(s->ap, s->sym, child, exe);

		if (n < 0 && n != -ENOENT)
			log_warn("cannot probe %s itself: %s", exe, strerror(-n));
	}
	if (err) {
		log_error("cannot attach to the command: %s", strerror(-err));
		kill(child, SIGKILL);
		waitpid(child, NULL, __WALL);
		goto cleanup;
	}
	/* The pre-exec snapshot describes allocscope, not the command: start afresh after exec. */
	target__release(&s->target);
	s->target = (struct target){.pid = child, .alive = 1};

	s->start_mono_ns = now_mono_ns();
	s->start_real_ns = now_real_ns();
	if (write(gate[1], "g", 1) != 1) {
		err = -errno;
		goto cleanup;
	}
	close(gate[1]);
	gate[1] = -1;

	while (!done) {
		struct pollfd pfd = {.fd = s->sigfd, .events = POLLIN};
		struct signalfd_siginfo si;
		int timeout = remaining_ms(s);
		pid_t w;

		if (!timeout) {
			log_info("--duration elapsed; the command goes on unprofiled");
			break;
		}
		if (poll(&pfd, 1, timeout) < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		while (read(s->sigfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGHUP)
				kill(child, si.ssi_signo);
		}
		while (!done && (w = waitpid(child, &status, WNOHANG | __WALL)) == child)
			done = handle_child_status(s, status, exit_code);
		if (!done)
			target__refresh_maps(&s->target);
		show_progress(s, 0);
	}
	show_progress(s, 1);
	err = write_profile(s) ?: err;
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
	s.ap = alloc_probes__new(&ao);
	if (!s.ap) {
		err = -errno;
		goto cleanup;
	}
	s.start_mono_ns = now_mono_ns();
	s.start_real_ns = now_real_ns();
	if (o.pid)
		err = record_pid(&s);
	else
		err = record_command(&s, &exit_code);
cleanup:
	alloc_probes__free(s.ap);
	symbolizer__free(s.sym);
	target__release(&s.target);
	if (s.sigfd >= 0)
		close(s.sigfd);
	if (s.pidfd >= 0)
		close(s.pidfd);
	if (err)
		return 1;
	return exit_code;
}
