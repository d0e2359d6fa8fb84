// SPDX-License-Identifier: MIT
/* peer__find_uid() on an arbitrary socket table (/proc/net/tcp and tcp6 text): it answers from
 * a line whose addresses are exactly the connection's, or not at all. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "service/peer.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct peer_conn c = {};
	struct sockaddr_in *l = (void *)&c.local, *r = (void *)&c.remote;
	uid_t uid;
	FILE *f;
	int err;

	if (!size)
		return 0;
	l->sin_family = r->sin_family = AF_INET;
	l->sin_addr.s_addr = r->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l->sin_port = htons(6464);
	r->sin_port = htons(40000);
	for (int v6 = 0; v6 < 2; v6++) {
		f = fmemopen((void *)data, size, "r");
		if (!f)
			return 0;
		err = peer__find_uid(f, v6, &c, &uid);
		FUZZ_CHECK(err == 0 || err == -ENOENT);
		if (!err)
			FUZZ_CHECK(memmem(data, size, "9C40", 4) || memmem(data, size, "9c40", 4));
		fclose(f);
	}
	return 0;
}
