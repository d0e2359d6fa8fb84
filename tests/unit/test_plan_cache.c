// SPDX-License-Identifier: MIT
/* The per-file probe plans (probe/plan_cache.h): keyed by the file's identity, bounded with the
 * least recently used out, a file rewritten on disk never given its old plan; and a plan of the
 * host's libc computed as the attach path does. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "probe/plan_cache.h"
#include "symbols/symbolize.h"
#include "test.h"

static struct file_plan plan_of(int probed)
{
	struct file_plan p = {.probed = probed};

	site_list__add(&p.enter, 0x100 + probed, 1, "malloc");
	return p;
}

static struct plan_key key_of(__u64 ino, __s64 mtime)
{
	return (struct plan_key){.dev = 8, .ino = ino, .size = 4096, .mtime_sec = mtime};
}

TEST(plan_cache_keyed_by_identity)
{
	struct plan_cache *c = plan_cache__new(8);
	struct plan_key k = key_of(1, 100), other;
	struct file_plan p = plan_of(3), got;

	if (!ASSERT_OK_PTR(c, "new"))
		return;
	ASSERT_EQ(plan_cache__get(c, &k, &got), 0, "empty");
	plan_cache__put(c, &k, &p);
	ASSERT_EQ(plan_cache__get(c, &k, &got), 1, "found");
	ASSERT_EQ(got.probed, 3, "its plan");
	ASSERT_EQ(got.enter.offsets[0], 0x103, "its sites");
	other = k;
	other.ino = 2;
	ASSERT_EQ(plan_cache__get(c, &other, &got), 0, "another inode");
	other = k;
	other.dev = 9;
	ASSERT_EQ(plan_cache__get(c, &other, &got), 0, "another device");
	other = k;
	other.size = 4097;
	ASSERT_EQ(plan_cache__get(c, &other, &got), 0, "another size");
	other = k;
	other.mtime_nsec = 1;
	ASSERT_EQ(plan_cache__get(c, &other, &got), 0, "another mtime");
	ASSERT_EQ(plan_cache__count(c), 1, "one file");
	plan_cache__free(c);
}

TEST(plan_cache_evicts_least_recently_used)
{
	struct plan_cache *c = plan_cache__new(2);
	struct plan_key a = key_of(1, 1), b = key_of(2, 1), k3 = key_of(3, 1);
	struct file_plan p1 = plan_of(1), p2 = plan_of(2), p3 = plan_of(3), got;
	__u64 hits, misses, evictions;

	if (!ASSERT_OK_PTR(c, "new"))
		return;
	plan_cache__put(c, &a, &p1);
	plan_cache__put(c, &b, &p2);
	ASSERT_EQ(plan_cache__get(c, &a, &got), 1, "a used again, b is the oldest");
	plan_cache__put(c, &k3, &p3);
	ASSERT_EQ(plan_cache__count(c), 2, "bounded");
	ASSERT_EQ(plan_cache__get(c, &b, &got), 0, "b evicted");
	ASSERT_EQ(plan_cache__get(c, &a, &got), 1, "a kept");
	ASSERT_EQ(got.probed, 1, "a's plan");
	ASSERT_EQ(plan_cache__get(c, &k3, &got), 1, "the new one kept");
	ASSERT_EQ(got.probed, 3, "its plan");
	/* Put again for a key held: replaced in place, nothing evicted. */
	plan_cache__put(c, &a, &p2);
	plan_cache__get(c, &a, &got);
	ASSERT_EQ(got.probed, 2, "replaced");
	plan_cache__stats(c, &hits, &misses, &evictions);
	ASSERT_EQ(evictions, 1, "one eviction");
	ASSERT_EQ(hits, 4, "hits");
	ASSERT_EQ(misses, 1, "misses");
	plan_cache__free(c);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* A file rewritten in place (same inode, same size, its mtime restored but for the
 * nanoseconds) or replaced by rename (a new inode, as package managers do): the key of its fstat
 * differs, so the old offsets are never used for the new bytes. */
TEST(plan_cache_replaced_file_is_another_key)
{
	char dir[] = "/tmp/allocscope-plan-XXXXXX", path[64], tmp[64];
	struct plan_cache *c = plan_cache__new(4);
	struct file_plan p = plan_of(5), got;
	struct plan_key k1, k2, k3;
	struct timespec times[2];
	struct stat st;

	if (!ASSERT_OK_PTR(c, "new") || !ASSERT_OK_PTR(mkdtemp(dir), "mkdtemp"))
		goto cleanup;
	snprintf(path, sizeof(path), "%s/lib.so", dir);
	snprintf(tmp, sizeof(tmp), "%s/lib.so.new", dir);
	if (!ASSERT_OK(write_file(path, "version one"), "write") ||
	    !ASSERT_OK(stat(path, &st), "stat"))
		goto cleanup;
	plan_key__from_stat(&st, &k1);
	plan_cache__put(c, &k1, &p);
	ASSERT_EQ(plan_cache__get(c, &k1, &got), 1, "cached");
	/* Same size, same inode, mtime one nanosecond on. */
	if (!ASSERT_OK(write_file(path, "version two"), "rewrite"))
		goto cleanup;
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	times[1].tv_nsec = (times[1].tv_nsec + 1) % 1000000000;
	if (!ASSERT_OK(utimensat(AT_FDCWD, path, times, 0), "utimensat") ||
	    !ASSERT_OK(stat(path, &st), "stat again"))
		goto cleanup;
	plan_key__from_stat(&st, &k2);
	ASSERT_EQ(k2.ino, k1.ino, "same inode");
	ASSERT_EQ(plan_cache__get(c, &k2, &got), 0, "rewritten in place: not the old plan");
	/* Replaced by rename: another inode. */
	if (!ASSERT_OK(write_file(tmp, "version one"), "write new") ||
	    !ASSERT_OK(rename(tmp, path), "rename") || !ASSERT_OK(stat(path, &st), "stat new"))
		goto cleanup;
	plan_key__from_stat(&st, &k3);
	ASSERT_TRUE(k3.ino != k1.ino, "another inode");
	ASSERT_EQ(plan_cache__get(c, &k3, &got), 0, "replaced: not the old plan");
cleanup:
	unlink(path);
	unlink(tmp);
	rmdir(dir);
	plan_cache__free(c);
}

/* The host's libc, as attach_object() computes it: malloc at an emulated instruction, free. */
TEST(plan_of_host_libc)
{
	static const char *const libcs[] = {"/lib/x86_64-linux-gnu/libc.so.6", "/lib64/libc.so.6"};
	struct symbolizer_opts so = {};
	struct symbolizer *sym = symbolizer__new(&so);
	struct file_plan plan;
	const char *path = NULL;
	struct stat st;
	int fd = -1;

	for (size_t i = 0; i < sizeof(libcs) / sizeof(libcs[0]) && !path; i++)
		if (!access(libcs[i], R_OK))
			path = libcs[i];
	if (!path) {
		test__skip("no libc.so.6 at the usual paths");
		goto cleanup;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (!ASSERT_OK_PTR(sym, "symbolizer") || !ASSERT_TRUE(fd >= 0, "open") ||
	    !ASSERT_OK(fstat(fd, &st), "fstat"))
		goto cleanup;
	if (!ASSERT_OK(file_plan__compute(sym, NULL, getpid(), fd, path, &st, &plan), "compute"))
		goto cleanup;
	ASSERT_TRUE(plan.probed >= 4, "malloc, calloc, realloc, free at least");
	ASSERT_TRUE(plan.enter.cnt >= 3 && plan.frees.cnt >= 1, "entry and free sites");
	ASSERT_EQ(plan.ret.cnt, plan.enter.cnt, "a return probe for each allocating entry");
	ASSERT_STREQ(plan.enter.names[0], "malloc", "malloc first");
cleanup:
	if (fd >= 0)
		close(fd);
	symbolizer__free(sym);
}
