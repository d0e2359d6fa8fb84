// SPDX-License-Identifier: MIT
/* Command-line numbers, parsed the same way by allocscope and allocscoped, and bad command
 * lines reported the same way. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/args.h"
#include "util/common.h"
#include "util/log.h"

int parse_size(const char *s, unsigned long long *out)
{
	unsigned long long v, mul = 1;
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mul = 1ULL << 10;
		end++;
		break;
	case 'm':
	case 'M':
		mul = 1ULL << 20;
		end++;
		break;
	case 'g':
	case 'G':
		mul = 1ULL << 30;
		end++;
		break;
	default:
		return -EINVAL;
	}
	if (*end == 'i' || *end == 'I')
		end++;
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end || (v && mul > ~0ULL / v))
		return -EINVAL;
	*out = v * mul;
	return 0;
}

int parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || !isfinite(v))
		return -EINVAL;
	*out = v;
	return 0;
}

int parse_count(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int args__parse_name(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (names[i] && !strcmp(s, names[i]))
			return (int)i;
	}
	return -EINVAL;
}

/* "record: " for "allocscope record", "" for "allocscoped": the program is the log's prefix. */
static const char *subcommand(const char *cmd)
{
	const char *sp = strrchr(cmd, ' ');

	return sp ? sp + 1 : "";
}

/* A long option that takes no value, named in word ("--json=1")? */
static int takes_no_value(const char *word, const struct option *longopts)
{
	size_t n = strcspn(word + 2, "=");

	for (const struct option *o = longopts; o && o->name; o++)
		if (strlen(o->name) == n && !strncmp(o->name, word + 2, n))
			return o->has_arg == no_argument;
	return 0;
}

int args__getopt_end(int c, char **argv, const struct option *longopts, const char *cmd,
		     const char *usage)
{
	/* With ':' and '?' getopt has moved past the option's word, except for an unknown
	 * letter inside a cluster ("-xv"): optopt then names it, and the word is not looked at. */
	const char *word = optind > 0 ? argv[optind - 1] : "";
	const char *sub = subcommand(cmd), *sep = *sub ? ": " : "";
	int is_long = !strncmp(word, "--", 2) && word[2];
	int n = is_long ? (int)strcspn(word, "=") : 0;

	if (c == 'h') {
		fputs(usage, stdout);
		return 1;
	}
	if (c == ':' && is_long)
		log_error("%s%soption '%.*s' needs a value (see '%s --help')", sub, sep, n, word,
			  cmd);
	else if (c == ':')
		log_error("%s%soption '-%c' needs a value (see '%s --help')", sub, sep, optopt,
			  cmd);
	else if (c == '?' && is_long && optopt && strchr(word, '=') &&
		 takes_no_value(word, longopts))
		log_error("%s%soption '%.*s' takes no value (see '%s --help')", sub, sep, n, word,
			  cmd);
	else if (c == '?' && !optopt && is_long)
		log_error("%s%sunknown option '%.*s' (see '%s --help')", sub, sep, n, word, cmd);
	else if (c == '?' && optopt)
		log_error("%s%sunknown option '-%c' (see '%s --help')", sub, sep, optopt, cmd);
	else
		log_error("%s%sunknown option '%s' (see '%s --help')", sub, sep, word, cmd);
	return -EINVAL;
}

int args__unexpected(const char *arg, const char *cmd)
{
	const char *sub = subcommand(cmd);

	log_error("%s%sunexpected argument '%s' (see '%s --help')", sub, *sub ? ": " : "", arg,
		  cmd);
	return -EINVAL;
}
