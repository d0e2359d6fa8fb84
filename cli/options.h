/* SPDX-License-Identifier: MIT */
/* The options several commands share (--pid, --rate, --daemon, --top): each value checked and
 * a bad one reported the same way in every command, in one line naming the option. */
#ifndef ALLOCSCOPE_CLI_OPTIONS_H
#define ALLOCSCOPE_CLI_OPTIONS_H

#include <stddef.h>
#include <linux/types.h>

#include "probe/unwind.h"

/* Each returns 0, or -EINVAL after logging why; *out is set only on success. */
int cli_opt_pid(const char *arg, int *out);		    /* a process ID */
int cli_opt_rate(const char *arg, __u64 *out);		    /* bytes, with k/m/g, > 0 */
int cli_opt_daemon(const char *arg, const char **out);	    /* an http:// or https:// URL */
int cli_opt_max_overhead(const char *arg, double *out);	    /* percent, or off */
int cli_opt_top(const char *arg, size_t *out);		    /* a count of sites, 0 for all */
int cli_opt_unwind(const char *arg, enum unwind_mode *out); /* fp, cfi or auto */
/* --wrapper REGEX, repeatable: appended to *list (the strings are argv's). */
int cli_opt_wrapper(const char *arg, const char ***list, size_t *cnt);

#endif
