// SPDX-License-Identifier: MIT
/* Snapshot triggers: trigger lists, PSI text, memory cgroup figures (v1, v2 and the hybrid
 * layout, from fixture trees under tests/fixtures/memcg), the near-limit test and the growth
 * window. */
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "service/trigger.h"
#include "test.h"

#define MIB (1ULL << 20)
#define SEC 1000000000ULL

/* tests/fixtures/memcg/NAME in the source tree: the suite runs from the repository's root;
 * otherwise from the test binary's place in build/tests. */
static const char *memcg_fixture(const char *name, char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n;

	snprintf(buf, len, "tests/fixtures/memcg/%s", name);
	if (!access(buf, R_OK))
		return buf;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return NULL;
	self[n] = '\0';
	snprintf(buf, len, "%s/../../tests/fixtures/memcg/%s", dirname(self), name);
	return access(buf, R_OK) ? NULL : buf;
}

static char *slurp(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

TEST(trigger_parse_mask)
{
	unsigned int m = 7;

	if (ASSERT_OK(trigger__parse_mask("oom,growth", &m), "oom,growth"))
		ASSERT_EQ(m, 1u << TRIGGER_OOM | 1u << TRIGGER_GROWTH, "mask");
	if (ASSERT_OK(trigger__parse_mask("none", &m), "none"))
		ASSERT_EQ(m, 0, "none is no trigger");
	ASSERT_EQ(trigger__parse_mask("oom,bogus", &m), -EINVAL, "an unknown name");
	ASSERT_EQ(trigger__parse_mask("oom,", &m), -EINVAL, "a trailing comma");
	ASSERT_EQ(trigger__parse_mask("", &m), -EINVAL, "nothing");
	ASSERT_EQ(trigger__parse_mask("oo", &m), -EINVAL, "a prefix");
	ASSERT_STREQ(trigger__name(TRIGGER_LIMIT), "limit", "name");
}

TEST(trigger_psi_parse)
{
	char path[PATH_MAX * 2];
	struct psi_figures p;
	const char *text;

	if (!memcg_fixture("psi_memory", path, sizeof(path))) {
		test__skip_dep("tests/fixtures/memcg not found (run from the repository's root)");
		return;
	}
	text = slurp(path);
	if (!ASSERT_OK_PTR(text, "read") || !ASSERT_OK(psi__parse(text, &p), "parse"))
		return;
	ASSERT_TRUE(p.some_avg10 == 1.5, "some avg10");
	ASSERT_TRUE(p.full_avg10 == 0.75, "full avg10");
	ASSERT_EQ(p.some_total_us, 123456, "some total");
	ASSERT_EQ(p.full_total_us, 65432, "full total");
	ASSERT_EQ(psi__parse("full avg10=1.00 avg60=0 avg300=0 total=1\n", &p), -EINVAL,
		  "no some line");
	ASSERT_EQ(psi__parse("some avg10=x\n", &p), -EINVAL, "garbage");
}

TEST(trigger_memcg_path)
{
	char path[PATH_MAX * 2], cg[256];
	const char *text;
	int v = 0;

	if (!memcg_fixture("proc_cgroup_hybrid", path, sizeof(path))) {
		test__skip_dep("tests/fixtures/memcg not found (run from the repository's root)");
		return;
	}
	text = slurp(path);
	if (!ASSERT_OK_PTR(text, "read"))
		return;
	if (ASSERT_OK(memcg__path_parse(text, 0, &v, cg, sizeof(cg)), "hybrid")) {
		ASSERT_EQ(v, 1, "the v1 memory controller wins");
		ASSERT_STREQ(cg, "/process_api/d19616c3", "v1 path");
	}
	if (ASSERT_OK(memcg__path_parse(text, 1, &v, cg, sizeof(cg)), "hybrid, v2 only")) {
		ASSERT_EQ(v, 2, "v2");
		ASSERT_STREQ(cg, "/user.slice/app.scope", "v2 path");
	}
	if (ASSERT_OK(memcg__path_parse("0::/kubepods/pod1\n", 0, &v, cg, sizeof(cg)), "v2"))
		ASSERT_STREQ(cg, "/kubepods/pod1", "v2 path");
	/* "memory" must be a whole controller name. */
	ASSERT_EQ(memcg__path_parse("4:memoryx:/a\n2:cpu:/b\n", 0, &v, cg, sizeof(cg)), -ENOENT,
		  "no memory controller, no v2");
	if (ASSERT_OK(memcg__path_parse("5:cpu,memory:/c\n", 0, &v, cg, sizeof(cg)), "co-mounted"))
		ASSERT_STREQ(cg, "/c", "co-mounted path");
}

TEST(trigger_memcg_read_v1)
{
	char root[PATH_MAX * 2];
	struct memcg_figures f;

	if (!memcg_fixture("v1root", root, sizeof(root))) {
		test__skip_dep("tests/fixtures/memcg not found (run from the repository's root)");
		return;
	}
	if (!ASSERT_OK(memcg__read(root, 1, "/test", &f), "read"))
		return;
	ASSERT_EQ(f.version, 1, "version");
	ASSERT_EQ(f.usage_bytes, 60 * MIB, "usage");
	ASSERT_EQ(f.limit_bytes, 64 * MIB, "limit");
	ASSERT_EQ(f.rss_bytes, 58 * MIB, "total_rss, not the cgroup's own rss");
	ASSERT_EQ(f.anon_bytes, 58 * MIB, "total active + inactive anon");
	ASSERT_TRUE(memcg__near_limit(&f, NULL, 0.9), "60 of 64 MiB is past 90%");
	ASSERT_TRUE(!memcg__near_limit(&f, NULL, 0.95), "60 of 64 MiB is below 95%");
	if (ASSERT_OK(memcg__read(root, 1, "/nolimit", &f), "no limit")) {
		ASSERT_EQ(f.limit_bytes, 0, "the kernel's no-limit value reads as none");
		ASSERT_TRUE(!memcg__near_limit(&f, NULL, 0.01), "no limit is never near");
	}
	ASSERT_EQ(memcg__read(root, 1, "/gone", &f), -ENOENT, "a removed cgroup");
	/* The hybrid layout: v2 files under unified/. */
	{
		char p[PATH_MAX];

		if (ASSERT_OK(memcg__pressure_path(root, "/test", p, sizeof(p)), "pressure path"))
			ASSERT_TRUE(strstr(p, "/unified/test/memory.pressure") != NULL, p);
	}
}

TEST(trigger_memcg_read_v2)
{
	struct memcg_figures f, before;
	char root[PATH_MAX * 2], p[PATH_MAX];

	if (!memcg_fixture("v2root", root, sizeof(root))) {
		test__skip_dep("tests/fixtures/memcg not found (run from the repository's root)");
		return;
	}
	if (!ASSERT_OK(memcg__read(root, 2, "/app", &f), "read"))
		return;
	ASSERT_EQ(f.usage_bytes, 100 * MIB, "memory.current");
	ASSERT_EQ(f.limit_bytes, 128 * MIB, "memory.max");
	ASSERT_EQ(f.anon_bytes, 90 * MIB, "anon");
	ASSERT_EQ(f.rss_bytes, 92 * MIB, "anon + file_mapped");
	ASSERT_EQ(f.events_high, 3, "events high");
	ASSERT_EQ(f.events_max, 1, "events max");
	ASSERT_TRUE(!memcg__near_limit(&f, NULL, 0.9), "100 of 128 MiB, first look");
	before = f;
	ASSERT_TRUE(!memcg__near_limit(&f, &before, 0.9), "no new events");
	before.events_max = 0;
	ASSERT_TRUE(memcg__near_limit(&f, &before, 0.9), "memory.events max rose");
	before = f;
	before.events_high = 2;
	ASSERT_TRUE(memcg__near_limit(&f, &before, 0.9), "memory.events high rose");
	if (ASSERT_OK(memcg__read(root, 2, "/nomax", &f), "max"))
		ASSERT_EQ(f.limit_bytes, 0, "\"max\" is no limit");
	if (ASSERT_OK(memcg__pressure_path(root, "/app", p, sizeof(p)), "pressure path"))
		ASSERT_TRUE(strstr(p, "v2root/app/memory.pressure") != NULL, p);
	ASSERT_EQ(memcg__pressure_path(root, "/nomax", p, sizeof(p)), -ENOENT, "no PSI file");
}

TEST(trigger_growth_window)
{
	struct growth_window *g = calloc(1, sizeof(*g));
	double grew;

	if (!ASSERT_OK_PTR(g, "alloc"))
		return;
	/* 100 MiB growing by 1 MiB every 10 s: +60% over 600 s. */
	for (int i = 0; i <= 60; i++) {
		growth__record(g, i * 10 * SEC, (100 + i) * MIB, 600 * SEC);
		if (i < 60 && !ASSERT_TRUE(!growth__check(g, 600 * SEC, 0.5, MIB, &grew),
					   "not before a whole window was seen"))
			break;
	}
	ASSERT_TRUE(growth__check(g, 600 * SEC, 0.5, MIB, &grew), "+60% > +50%");
	ASSERT_TRUE(grew > 0.59 && grew < 0.61, "grew 60%");
	ASSERT_TRUE(!growth__check(g, 600 * SEC, 0.7, MIB, &grew), "+60% < +70%");
	ASSERT_TRUE(!growth__check(g, 600 * SEC, 0.5, 100 * MIB, &grew), "below min_bytes");
	/* Only a window and one point before it are kept. */
	ASSERT_TRUE(g->cnt <= 62, "points kept");
	/* Steady: never fires. */
	memset(g, 0, sizeof(*g));
	for (int i = 0; i <= 120; i++)
		growth__record(g, i * 10 * SEC, 100 * MIB + (i % 2) * MIB, 600 * SEC);
	ASSERT_TRUE(!growth__check(g, 600 * SEC, 0.005, 0, &grew), "steady, +/-1%");
	/* The baseline is the newest point a window old: a spike long ago does not count. */
	memset(g, 0, sizeof(*g));
	growth__record(g, 0, 10 * MIB, 60 * SEC);
	growth__record(g, 100 * SEC, 100 * MIB, 60 * SEC);
	growth__record(g, 200 * SEC, 110 * MIB, 60 * SEC);
	ASSERT_TRUE(!growth__check(g, 60 * SEC, 0.5, MIB, &grew), "+10% since the point 100 s ago");
	/* From nothing in use: no fraction to compare with. */
	memset(g, 0, sizeof(*g));
	growth__record(g, 0, 0, 60 * SEC);
	growth__record(g, 100 * SEC, 100 * MIB, 60 * SEC);
	ASSERT_TRUE(!growth__check(g, 60 * SEC, 0.5, MIB, &grew), "from 0");
	/* More points than the ring holds within a window: the oldest go, no overflow. */
	memset(g, 0, sizeof(*g));
	for (int i = 0; i < 3 * GROWTH_MAX_POINTS; i++)
		growth__record(g, i * SEC, MIB + i, 1000000 * SEC);
	ASSERT_EQ(g->cnt, GROWTH_MAX_POINTS, "bounded");
	free(g);
}
