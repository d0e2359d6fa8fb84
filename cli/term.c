// SPDX-License-Identifier: MIT
/* The terminal of allocscope top: the alternate screen in raw key mode, and its restoration on
 * every way out (normal exit, atexit, fatal signals), with stderr held back while it is up. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <termios.h>
#include <unistd.h>

#include "term.h"
#include "util/common.h"

/*
 * The terminal. Its state lives in a static because it is restored from a signal handler
 * (SIGSEGV, SIGABRT...) and from atexit as well as from the normal exit, whatever path the
 * program leaves by. While the screen is up, stderr goes to a memory file and is shown after
 * the screen is left, so warnings neither scribble over the view nor vanish with it.
 */
static struct {
	volatile sig_atomic_t active;
	int in_fd; /* where keys come from: stdin, or /dev/tty */
	struct termios saved;
	int saved_stderr;
	int log_fd;
} term = {.in_fd = -1, .saved_stderr = -1, .log_fd = -1};

void term__write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= w;
	}
}

/* Async-signal-safe: write, tcsetattr, dup2, lseek and read only. */
void term__leave(void)
{
	static const char leave[] = "\033[0m\033[?25h\033[?1049l";
	char buf[4096];
	ssize_t n;

	if (!term.active)
		return;
	term.active = 0;
	term__write_all(STDOUT_FILENO, leave, sizeof(leave) - 1);
	tcsetattr(term.in_fd, TCSADRAIN, &term.saved);
	if (term.saved_stderr >= 0) {
		dup2(term.saved_stderr, STDERR_FILENO);
		close(term.saved_stderr);
		term.saved_stderr = -1;
	}
	if (term.log_fd >= 0) {
		lseek(term.log_fd, 0, SEEK_SET);
		while ((n = read(term.log_fd, buf, sizeof(buf))) > 0)
			term__write_all(STDERR_FILENO, buf, n);
		close(term.log_fd);
		term.log_fd = -1;
	}
}

static void on_fatal_signal(int sig)
{
	term__leave();
	raise(sig); /* SA_RESETHAND: the default action, now */
}

int term__enter(void)
{
	static const char enter[] = "\033[?1049h\033[?25l\033[H\033[2J";
	struct termios raw;

	if (tcgetattr(term.in_fd, &term.saved))
		return -errno;
	raw = term.saved;
	/* Keys one at a time and unechoed; ISIG stays, so Ctrl-C and Ctrl-Z are signals. */
	raw.c_lflag &= ~(ICANON | ECHO);
	raw.c_cc[VMIN] = 0;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(term.in_fd, TCSADRAIN, &raw))
		return -errno;
	term.active = 1;
	fflush(stderr);
	term.log_fd = memfd_create("allocscope-top-log", MFD_CLOEXEC);
	if (term.log_fd >= 0) {
		term.saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
		if (term.saved_stderr < 0 || dup2(term.log_fd, STDERR_FILENO) < 0) {
			close(term.log_fd);
			term.log_fd = -1;
		}
	}
	term__write_all(STDOUT_FILENO, enter, sizeof(enter) - 1);
	return 0;
}

void term__install_fatal_handlers(void)
{
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGQUIT, SIGTRAP};
	struct sigaction sa = {.sa_handler = on_fatal_signal,
			       .sa_flags = SA_RESETHAND | SA_NODEFER};

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
	atexit(term__leave);
}

void term__set_input(int fd)
{
	term.in_fd = fd;
}

int term__input(void)
{
	return term.in_fd;
}
