// SPDX-License-Identifier: MIT
/* The probe options' parsers and their pure rules, apart from the modules that act on them, so
 * that the command line and the config file (and their fuzzers) need neither libbpf nor libdw. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "probe/overhead.h"
#include "probe/unwind.h"

int unwind_mode__cfi(enum unwind_mode m, int is_go, int native)
{
	if (m == UNWIND_MODE_FP)
		return 0;
	/* auto: a Go program's own frames have frame pointers; C called through cgo (the malloc
	 * family's samples) is unwound from CFI and joined to the goroutine's frames. */
	return m == UNWIND_MODE_CFI || !is_go || native;
}

int unwind_mode__parse(const char *s, enum unwind_mode *out)
{
	if (!strcmp(s, "fp"))
		*out = UNWIND_MODE_FP;
	else if (!strcmp(s, "cfi"))
		*out = UNWIND_MODE_CFI;
	else if (!strcmp(s, "auto"))
		*out = UNWIND_MODE_AUTO;
	else
		return -EINVAL;
	return 0;
}

int overhead__parse_pct(const char *arg, double *out)
{
	char *end;
	double v;

	if (!strcmp(arg, "off")) {
		*out = 0;
		return 0;
	}
	errno = 0;
	v = strtod(arg, &end);
	if (end != arg && *end == '%')
		end++;
	if (errno || end == arg || *end || !(v >= 0 && v < 100))
		return -EINVAL;
	*out = v;
	return 0;
}
