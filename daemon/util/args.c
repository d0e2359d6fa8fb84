// SPDX-License-Identifier: MIT
/* Command-line numbers, parsed the same way by allocscope and allocscoped. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include <string.h>

#include "util/args.h"
#include "util/common.h"
#include "probe/watch.h"

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

int watch_mode__parse(const char *s, enum watch_mode *out)
{
	static const char *const names[] = {
	    [WATCH_MODE_AUTO] = "auto",
	    [WATCH_MODE_GO] = "go",
	    [WATCH_MODE_MALLOC] = "malloc",
	    [WATCH_MODE_BOTH] = "both",
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (!strcmp(s, names[i])) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}
