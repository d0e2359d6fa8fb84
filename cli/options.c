// SPDX-License-Identifier: MIT
/* Option values shared by record, top, timeline, diff and explain. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "options.h"
#include "probe/overhead.h"
#include "util/args.h"
#include "util/http_client.h"
#include "util/log.h"
#include "profile/wrappers.h"

int cli_opt_pid(const char *arg, int *out)
{
	long v;

	if (parse_count(arg, 1, INT_MAX, &v)) {
		log_error("--pid: '%s' is not a process ID", arg);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int cli_opt_rate(const char *arg, __u64 *out)
{
	unsigned long long v;

	if (parse_size(arg, &v) || v == 0) {
		log_error("--rate: '%s' is not a positive number of bytes", arg);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int cli_opt_daemon(const char *arg, const char **out)
{
	if (!http_is_url(arg)) {
		log_error("--daemon: '%s' is not an http:// or https:// URL", arg);
		return -EINVAL;
	}
	*out = arg;
	return 0;
}

int cli_opt_max_overhead(const char *arg, double *out)
{
	if (overhead__parse_pct(arg, out)) {
		log_error("--max-overhead: '%s' is not a percentage below 100 (or off)", arg);
		return -EINVAL;
	}
	return 0;
}

int cli_opt_wrapper(const char *arg, const char ***list, size_t *cnt)
{
	const char **n;

	if (wrappers__check("--wrapper", arg))
		return -EINVAL;
	n = reallocarray(*list, *cnt + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n[(*cnt)++] = arg;
	*list = n;
	return 0;
}

int cli_opt_unwind(const char *arg, enum unwind_mode *out)
{
	if (unwind_mode__parse(arg, out)) {
		log_error("--unwind: '%s' is not one of fp, cfi, auto", arg);
		return -EINVAL;
	}
	return 0;
}

int cli_opt_top(const char *arg, size_t *out)
{
	unsigned long long v;

	if (parse_size(arg, &v) || v > INT_MAX) {
		log_error("--top: '%s' is not a count", arg);
		return -EINVAL;
	}
	*out = v;
	return 0;
}
