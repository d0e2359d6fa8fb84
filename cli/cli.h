/* SPDX-License-Identifier: MIT */
/* Subcommands of the allocscope CLI. Each returns the process exit status. */
#ifndef ALLOCSCOPE_CLI_H
#define ALLOCSCOPE_CLI_H

#include "util/args.h"

int cmd_record(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_timeline(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);

#endif
