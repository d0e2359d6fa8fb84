/* SPDX-License-Identifier: MIT */
/* Command-line numbers, parsed the same way by allocscope and allocscoped, and the one way both
 * report a bad command line. */
#ifndef ALLOCSCOPE_ARGS_H
#define ALLOCSCOPE_ARGS_H

#include <stddef.h>

/* A non-negative byte count with an optional binary suffix (k, m, g, also kB/KiB); -EINVAL if
 * malformed or overflowing. */
int parse_size(const char *s, unsigned long long *out);
/* A duration in seconds (fractions allowed); -EINVAL if malformed or negative. */
int parse_seconds(const char *s, double *out);
/* A whole number from min to max; -EINVAL otherwise. */
int parse_count(const char *s, long min, long max, long *out);

/*
 * The end of every getopt_long() loop (optstring starting with ':', or "+:"): --help ('h')
 * prints usage on stdout and returns 1; an unknown option ('?') or one without its value (':')
 * is reported in one line, "record: unknown option '--x' (see 'allocscope record --help')" or
 * "option '--rate' needs a value", and returns -EINVAL, for an exit status of 2. cmd is what
 * --help is run on: "allocscope record", or "allocscoped".
 */
struct option;
int args__getopt_end(int c, char **argv, const struct option *longopts, const char *cmd,
		     const char *usage);
/* An argument where none was expected, in the same form. -EINVAL. */
int args__unexpected(const char *arg, const char *cmd);
/* The index of s in names[0..n) (NULL entries never match); -EINVAL when it is none of them. */
int args__parse_name(const char *s, const char *const *names, size_t n);

#endif
