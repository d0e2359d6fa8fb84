/* SPDX-License-Identifier: MIT */
/* Subcommands of the allocscope CLI. Each returns the process exit status. */
#ifndef ALLOCSCOPE_CLI_H
#define ALLOCSCOPE_CLI_H

int cmd_record(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_timeline(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_explain(int argc, char **argv);

/* Parse a non-negative integer with an optional binary suffix (k, m, g); -EINVAL if malformed. */
int parse_size(const char *s, unsigned long long *out);
/* Parse a duration in seconds (fractions allowed); -EINVAL if malformed or negative. */
int parse_seconds(const char *s, double *out);

#endif
