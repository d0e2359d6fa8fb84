// SPDX-License-Identifier: MIT
/* The memory budget: the defaults fit the shipped 256M with margin, bounds are lowered to fit a
 * smaller limit, and the cgroup limit is read from v2 and v1 fixture trees. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service/budget.h"
#include "test.h"

static struct scoped_opts defaults(void)
{
	/* As allocscoped's main() and the BPF object's built-in map sizes. */
	return (struct scoped_opts){.max_history_entries = 1000000, .max_exited = 1000};
}

TEST(budget_defaults_fit_the_shipped_limit)
{
	struct scoped_opts o = defaults();
	struct budget b;

	budget__estimate(&o, &b);
	ASSERT_TRUE(b.bpf_bytes > (55ull << 20) && b.bpf_bytes < (65ull << 20),
		    "BPF maps ~60 MiB as measured");
	ASSERT_TRUE(b.total_bytes < (256ull << 20) * 3 / 4, "a quarter of 256 MiB to spare");
	o.unwind = UNWIND_MODE_AUTO;
	ASSERT_EQ(budget__fit(&o, 256ull << 20, &b), 0, "auto unwinding fits too");
	ASSERT_EQ(o.max_history_entries, 1000000, "unchanged");
	ASSERT_EQ(budget__fit(&o, 0, &b), 0, "no limit");
}

TEST(budget_lowers_retention_to_fit)
{
	struct scoped_opts o = defaults();
	struct budget b;

	o.max_exited = 10000; /* the old default: ~300 MiB alone */
	ASSERT_EQ(budget__fit(&o, 256ull << 20, &b), 1, "lowered");
	ASSERT_TRUE(b.total_bytes <= (256ull << 20) / 10 * 9, "fits in 90%");
	ASSERT_TRUE(o.max_exited < 10000 && o.max_exited >= 10, "exited lowered");
	ASSERT_TRUE(o.max_history_entries < 1000000, "history lowered in proportion");
	o = defaults();
	ASSERT_EQ(budget__fit(&o, 64ull << 20, &b), -E2BIG, "the maps alone do not fit");
	ASSERT_EQ(o.max_history_entries, 10000, "history at its floor");
	ASSERT_EQ(o.max_exited, 10, "exited at its floor");
}

/* A file with text under dir, creating the folders on the way. */
static void put(const char *dir, const char *rel, const char *text)
{
	char path[512], cmd[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	if (system(cmd))
		return;
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

TEST(budget_reads_the_cgroup_limit)
{
	char dir[] = "/tmp/allocscope-budget-XXXXXX", proc[600], cg[600], cmd[700];

	if (!ASSERT_OK_PTR(mkdtemp(dir), "mkdtemp"))
		return;
	snprintf(proc, sizeof(proc), "%s/proc", dir);
	snprintf(cg, sizeof(cg), "%s/cg", dir);
	/* v2: the unit's MemoryMax=256M. */
	put(proc, "self/cgroup", "0::/system.slice/allocscoped.service\n");
	put(cg, "system.slice/allocscoped.service/memory.max", "268435456\n");
	ASSERT_EQ(budget__cgroup_limit(proc, cg), 268435456, "v2 memory.max");
	put(cg, "system.slice/allocscoped.service/memory.max", "max\n");
	ASSERT_EQ(budget__cgroup_limit(proc, cg), 0, "v2 unlimited");
	/* v1 (hybrid): the memory controller's limit wins over the unified tree's. */
	put(proc, "self/cgroup", "12:memory:/libpod_parent/x\n0::/libpod_parent/x\n");
	put(cg, "memory/libpod_parent/x/memory.limit_in_bytes", "134217728\n");
	ASSERT_EQ(budget__cgroup_limit(proc, cg), 134217728, "v1 limit");
	put(cg, "memory/libpod_parent/x/memory.limit_in_bytes", "9223372036854771712\n");
	ASSERT_EQ(budget__cgroup_limit(proc, cg), 0, "v1 unlimited");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ASSERT_OK(system(cmd), "cleanup");
}
