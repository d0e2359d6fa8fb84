/* SPDX-License-Identifier: MIT */
/* Command-line numbers, parsed the same way by allocscope and allocscoped. */
#ifndef ALLOCSCOPE_ARGS_H
#define ALLOCSCOPE_ARGS_H

/* A non-negative byte count with an optional binary suffix (k, m, g, also kB/KiB); -EINVAL if
 * malformed or overflowing. */
int parse_size(const char *s, unsigned long long *out);
/* A duration in seconds (fractions allowed); -EINVAL if malformed or negative. */
int parse_seconds(const char *s, double *out);
/* A whole number from min to max; -EINVAL otherwise. */
int parse_count(const char *s, long min, long max, long *out);

#endif
