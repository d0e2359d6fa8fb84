/* SPDX-License-Identifier: MIT */
/* The terminal of allocscope top: the alternate screen in raw key mode, restored whatever way the
 * program leaves (term.c says how). One terminal per process: the state is static. */
#ifndef ALLOCSCOPE_CLI_TERM_H
#define ALLOCSCOPE_CLI_TERM_H

#include <stddef.h>

/* Where keys come from (stdin or /dev/tty), and that fd; -1 before it is set. */
void term__set_input(int fd);
int term__input(void);
/* Raw keys, the alternate screen, stderr into a memory file until term__leave. 0 or -errno. */
int term__enter(void);
/* Back to the saved terminal, stderr's held lines shown. Async-signal-safe; idempotent. */
void term__leave(void);
/* term__leave on fatal signals and at exit. */
void term__install_fatal_handlers(void);
/* write(2) until done or an error, for async-signal-safe output. */
void term__write_all(int fd, const char *p, size_t n);

#endif
