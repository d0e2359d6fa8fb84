// SPDX-License-Identifier: MIT
/* cgroup__parse() on arbitrary /proc/PID/cgroup text: every field it fills is a terminated
 * string; a container ID is hex, a pod UID has no '/'; the path is absolute and resolved. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "service/cgroup.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cgroup_info info;
	char *text = fuzz_strdup(data, size);
	int err;

	if (!text)
		return 0;
	memset(&info, 0xa5, sizeof(info));
	err = cgroup__parse(text, size && data[0] & 1 ? "/ns/root" : NULL, &info);
	FUZZ_CHECK(err == 0 || err == -EINVAL);
	if (!err) {
		FUZZ_CHECK(memchr(info.path, 0, sizeof(info.path)));
		FUZZ_CHECK(memchr(info.container_id, 0, sizeof(info.container_id)));
		FUZZ_CHECK(memchr(info.pod_uid, 0, sizeof(info.pod_uid)));
		for (const char *c = info.container_id; *c; c++)
			FUZZ_CHECK(isxdigit((unsigned char)*c));
		FUZZ_CHECK(!strchr(info.pod_uid, '/'));
		/* Absolute and resolved: no "." or ".." component survives. */
		FUZZ_CHECK(info.path[0] == '/');
		FUZZ_CHECK(!strstr(info.path, "/../") && !strstr(info.path, "/./"));
		FUZZ_CHECK(cgroup__path_under(info.path, "/"));
	}
	free(text);
	return 0;
}
