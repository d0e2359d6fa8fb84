// SPDX-License-Identifier: MIT
/* allocscoped: the continuous profiling daemon. Its serving loop comes with issue #4; for now it
 * checks that the BPF side loads on this host and says so. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alloc_probes.h"
#include "log.h"
#include "sampling.h"

int main(int argc, char **argv)
{
	struct alloc_probes_opts ao = {.sample_rate = SAMPLE_RATE_DEFAULT};
	struct alloc_probes *ap;

	log_set_prefix("allocscoped");
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: allocscoped\n\nChecks that allocscope's BPF programs load on this "
		       "host. The profiling daemon is not built yet; use 'allocscope record'.\n");
		return 0;
	}
	ap = alloc_probes__new(&ao);
	if (!ap)
		return 1;
	printf("allocscoped: BPF programs load and attach on this host\n");
	alloc_probes__free(ap);
	return 0;
}
