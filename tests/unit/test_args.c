// SPDX-License-Identifier: MIT
/* The one report of a bad command line: every getopt_long() case ends in the same one-line
 * message naming the option as it was typed, and -EINVAL (exit status 2). */
#include <getopt.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/args.h"
#include "util/common.h"
#include "test.h"

/* Parse argv as a command with --pid N, --json and -v, and return what the loop ended with;
 * the line logged goes to msg. */
static int parse(char **argv, int argc, char *msg, size_t len)
{
	static const struct option longopts[] = {
	    {"pid", required_argument, NULL, 'p'},
	    {"json", no_argument, NULL, 'j'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	FILE *cap = tmpfile();
	int saved = dup(STDERR_FILENO), c, ret = 0;
	size_t n = 0;

	msg[0] = '\0';
	if (!cap || saved < 0) {
		if (cap)
			fclose(cap);
		return -EBADF;
	}
	fflush(stderr);
	dup2(fileno(cap), STDERR_FILENO);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:jvh", longopts, NULL)) != -1) {
		if (c == 'p' || c == 'j' || c == 'v')
			continue;
		ret = args__getopt_end(c, argv, longopts, "allocscope test", "");
		break;
	}
	if (!ret && optind < argc)
		ret = args__unexpected(argv[optind], "allocscope test");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(cap);
	n = fread(msg, 1, len - 1, cap);
	msg[n] = '\0';
	fclose(cap);
	return ret;
}

TEST(args_bad_command_line_one_way)
{
	static const struct {
		const char *argv[4];
		const char *line;
	} cases[] = {
	    {{"test", "--bogus"}, "test: unknown option '--bogus' (see 'allocscope test --help')"},
	    {{"test", "--bogus=3"}, "test: unknown option '--bogus' ("},
	    {{"test", "-x"}, "test: unknown option '-x' ("},
	    {{"test", "-vx"}, "test: unknown option '-x' ("},
	    {{"test", "--pid"},
	     "test: option '--pid' needs a value (see 'allocscope test --help')"},
	    {{"test", "-v", "-p"}, "test: option '-p' needs a value ("},
	    {{"test", "--json=yes"}, "test: option '--json' takes no value ("},
	    {{"test", "--pid", "3", "extra"}, "test: unexpected argument 'extra' ("},
	};
	char msg[512];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *argv[5] = {};
		int argc = 0;

		for (; argc < 4 && cases[i].argv[argc]; argc++)
			argv[argc] = (char *)cases[i].argv[argc];
		ASSERT_EQ(parse(argv, argc, msg, sizeof(msg)), -EINVAL, cases[i].line);
		ASSERT_TRUE(strstr(msg, cases[i].line) != NULL, msg);
		ASSERT_TRUE(strchr(msg, '\n') == msg + strlen(msg) - 1, "one line");
	}
	{
		char *argv[] = {"test", "--pid", "3", "-v", NULL};

		ASSERT_EQ(parse(argv, 4, msg, sizeof(msg)), 0, "a good command line");
		ASSERT_STREQ(msg, "", "nothing said");
	}
}
