// SPDX-License-Identifier: MIT
/* Logging to stderr; one line per call, prefixed with the program name. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/common.h"
#include "util/log.h"

static enum log_level cur_level = LOG_LVL_WARN;
static const char *cur_prefix = "allocscope";

void log_set_level(enum log_level lvl)
{
	cur_level = lvl;
}

enum log_level log_get_level(void)
{
	return cur_level;
}

void log_set_prefix(const char *prefix)
{
	cur_prefix = prefix;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	char buf[1024];
	size_t len;
	va_list ap;

	if (lvl > cur_level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	len = strlen(buf);
	while (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	fprintf(stderr, "%s: %s: %s\n", cur_prefix, names[lvl], buf);
}

static __u64 clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (__u64)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

__u64 now_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

__u64 now_real_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}
