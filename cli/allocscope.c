// SPDX-License-Identifier: MIT
/* allocscope: the command-line front end. Dispatches to subcommands. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util/log.h"

static const char usage[] =
    "Usage: allocscope COMMAND [OPTIONS]\n"
    "\n"
    "Allocation profiler for Linux processes (eBPF). Commands:\n"
    "  record    profile a running process or a command, write a pprof heap profile\n"
    "  top       live view of the top allocation sites of a process\n"
    "  timeline  the heap-delta timeline as a terminal chart or an SVG picture\n"
    "  diff      the sites whose allocation grew or shrank most between two profiles\n"
    "  explain   why the compiler put a Go program's top allocation sites on the heap\n"
    "  snapshot  take, list or save allocscoped's heap snapshots\n"
    "\n"
    "Run 'allocscope COMMAND --help' for a command's options.\n";

int main(int argc, char **argv)
{
	log_set_prefix("allocscope");
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
	    {"record", cmd_record}, {"top", cmd_top},	      {"timeline", cmd_timeline},
	    {"diff", cmd_diff},	    {"explain", cmd_explain}, {"snapshot", cmd_snapshot},
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	/* The same words as a subcommand's bad option (util/args.h), and the same status. */
	if (argv[1][0] == '-')
		log_error("unknown option '%s' (see 'allocscope --help')", argv[1]);
	else
		log_error("unknown command '%s' (see 'allocscope --help')", argv[1]);
	return 2;
}
