// SPDX-License-Identifier: MIT
/* procmaps: parsing of maps text fixtures (paths with spaces, "(deleted)", pseudo-paths,
 * anonymous and malformed lines), lookup boundaries, and reading a fixture /proc tree. */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "symbols/procmaps.h"
#include "test.h"

static bool parse_fixture(const char *name, struct proc_maps *pm, size_t *bad)
{
	FILE *f = fopen(test__fixture(name), "r");
	int err;

	if (!ASSERT_OK_PTR(f, name))
		return false;
	err = proc_maps__parse(f, pm, bad);
	fclose(f);
	return ASSERT_OK(err, name);
}

TEST(procmaps_normal)
{
	struct proc_maps pm = {};
	const struct proc_mapping *m;
	size_t bad = 99;

	if (!parse_fixture("maps/normal.maps", &pm, &bad))
		goto cleanup;
	ASSERT_EQ(bad, 0, "bad lines");
	if (!ASSERT_EQ(pm.cnt, 11, "count"))
		goto cleanup;

	m = &pm.maps[1];
	ASSERT_EQ(m->start, 0x55d0c8a02000ULL, "start");
	ASSERT_EQ(m->end, 0x55d0c8a07000ULL, "end");
	ASSERT_EQ(m->offset, 0x2000, "offset");
	ASSERT_EQ(m->dev_major, 0xfd, "major");
	ASSERT_EQ(m->dev_minor, 0x01, "minor");
	ASSERT_EQ(m->inode, 1835045, "inode");
	ASSERT_EQ(m->perms, PMAP_PERM_READ | PMAP_PERM_EXEC, "perms r-xp");
	ASSERT_STREQ(m->path, "/usr/bin/cat", "path");
	ASSERT_TRUE(proc_mapping__is_file(m), "is file");

	m = &pm.maps[6];
	ASSERT_EQ(m->offset, 0x28000, "libc text offset");
	ASSERT_STREQ(m->path, "/usr/lib/x86_64-linux-gnu/libc.so.6", "libc path");
	ASSERT_EQ(pm.maps[9].perms, PMAP_PERM_READ | PMAP_PERM_WRITE, "perms rw-p");

	m = &pm.maps[10];
	ASSERT_EQ(m->perms, PMAP_PERM_READ | PMAP_PERM_WRITE | PMAP_PERM_SHARED, "perms rw-s");
	ASSERT_EQ(m->dev_major, 0, "shm major");
	ASSERT_EQ(m->dev_minor, 5, "shm minor");
	ASSERT_STREQ(m->path, "/SYSV00000000 (deleted)", "shm path");
	ASSERT_TRUE(proc_mapping__is_deleted(m), "shm deleted");
cleanup:
	proc_maps__clear(&pm);
}

TEST(procmaps_spaces_deleted)
{
	struct proc_maps pm = {};
	size_t bad = 99;

	if (!parse_fixture("maps/spaces.maps", &pm, &bad))
		goto cleanup;
	ASSERT_EQ(bad, 0, "bad lines");
	if (!ASSERT_EQ(pm.cnt, 5, "count"))
		goto cleanup;
	ASSERT_STREQ(pm.maps[0].path, "/opt/my app/lib foo.so", "spaces");
	ASSERT_STREQ(pm.maps[1].path, "/opt/my app/lib foo.so", "spaces, second segment");
	ASSERT_EQ(pm.maps[1].offset, 0x1000, "offset");
	ASSERT_TRUE(!proc_mapping__is_deleted(&pm.maps[0]), "not deleted");

	ASSERT_STREQ(pm.maps[2].path, "/usr/lib/libold.so (deleted)", "deleted kept verbatim");
	ASSERT_TRUE(proc_mapping__is_file(&pm.maps[2]), "deleted is still a file");
	ASSERT_TRUE(proc_mapping__is_deleted(&pm.maps[2]), "deleted");
	ASSERT_STREQ(pm.maps[3].path, "/memfd:jit code (deleted)", "memfd");
	ASSERT_TRUE(proc_mapping__is_deleted(&pm.maps[3]), "memfd deleted");
	/* Trailing spaces are part of a file name. */
	ASSERT_STREQ(pm.maps[4].path, "/tmp/ends with space ", "trailing space");
cleanup:
	proc_maps__clear(&pm);
}

TEST(procmaps_special)
{
	struct proc_maps pm = {};
	size_t bad = 99;

	if (!parse_fixture("maps/special.maps", &pm, &bad))
		goto cleanup;
	ASSERT_EQ(bad, 0, "bad lines");
	if (!ASSERT_EQ(pm.cnt, 8, "count"))
		goto cleanup;
	ASSERT_TRUE(proc_mapping__is_file(&pm.maps[0]), "app is a file");
	ASSERT_STREQ(pm.maps[1].path, "[heap]", "heap");
	ASSERT_TRUE(!proc_mapping__is_file(&pm.maps[1]), "heap is not a file");
	/* Anonymous, with and without the trailing space the kernel may leave. */
	ASSERT_STREQ(pm.maps[2].path, "", "anon with space");
	ASSERT_STREQ(pm.maps[3].path, "", "anon");
	ASSERT_EQ(pm.maps[3].perms, 0, "---p");
	ASSERT_TRUE(!proc_mapping__is_file(&pm.maps[2]), "anon is not a file");
	ASSERT_STREQ(pm.maps[4].path, "[stack]", "stack");
	ASSERT_STREQ(pm.maps[6].path, "[vdso]", "vdso");
	ASSERT_TRUE(!proc_mapping__is_file(&pm.maps[6]), "vdso is not a file");
	ASSERT_EQ(pm.maps[7].start, 0xffffffffff600000ULL, "vsyscall start");
	ASSERT_EQ(pm.maps[7].perms, PMAP_PERM_EXEC, "--xp");
	ASSERT_STREQ(pm.maps[7].path, "[vsyscall]", "vsyscall");
cleanup:
	proc_maps__clear(&pm);
}

TEST(procmaps_malformed)
{
	struct proc_maps pm = {};
	size_t bad = 0;

	if (!parse_fixture("maps/malformed.maps", &pm, &bad))
		goto cleanup;
	/* Garbage, end <= start (twice), bad perms, no inode, no end, 17 hex digits, "0x", junk
	 * after the inode, and one mapping overlapping another; the empty line is not counted. */
	ASSERT_EQ(bad, 10, "bad lines");
	if (!ASSERT_EQ(pm.cnt, 3, "count"))
		goto cleanup;
	/* Out-of-order input comes back sorted. */
	ASSERT_STREQ(pm.maps[0].path, "/lib/ok-1.so", "first");
	ASSERT_STREQ(pm.maps[1].path, "/lib/ok-2.so", "second");
	ASSERT_STREQ(pm.maps[2].path, "/lib/ok-3.so", "third");
	ASSERT_EQ(pm.maps[2].inode, 21, "inode");
cleanup:
	proc_maps__clear(&pm);
}

TEST(procmaps_find)
{
	struct proc_maps pm = {};
	const struct proc_mapping *m;

	if (!parse_fixture("maps/special.maps", &pm, NULL))
		goto cleanup;
	ASSERT_TRUE(proc_maps__find(&pm, 0) == NULL, "below the first");
	ASSERT_TRUE(proc_maps__find(&pm, 0x5600a0000000ULL - 1) == NULL, "just below the first");
	m = proc_maps__find(&pm, 0x5600a0000000ULL);
	ASSERT_TRUE(m == &pm.maps[0], "start is inside");
	m = proc_maps__find(&pm, 0x5600a0000fffULL);
	ASSERT_TRUE(m == &pm.maps[0], "last byte is inside");
	ASSERT_TRUE(proc_maps__find(&pm, 0x5600a0001000ULL) == NULL, "end is outside (gap)");
	m = proc_maps__find(&pm, 0x5600a1000800ULL);
	ASSERT_TRUE(m && strcmp(m->path, "[heap]") == 0, "heap");
	/* Adjacent mappings: the end of one is the start of the next. */
	m = proc_maps__find(&pm, 0x7f5e00021000ULL);
	ASSERT_TRUE(m == &pm.maps[3], "adjacent");
	m = proc_maps__find(&pm, 0xffffffffff600123ULL);
	ASSERT_TRUE(m == &pm.maps[7], "vsyscall");
	ASSERT_TRUE(proc_maps__find(&pm, UINT64_MAX) == NULL, "top of the address space");
cleanup:
	proc_maps__clear(&pm);
	ASSERT_TRUE(proc_maps__find(&pm, 0x5600a0000000ULL) == NULL, "find in an empty set");
}

TEST(procmaps_read_fixture_tree)
{
	struct proc_maps pm = {};
	const struct proc_mapping *m;
	int err;

	err = proc_maps__read(test__fixture("proc"), 4242, &pm);
	if (!ASSERT_OK(err, "read pid 4242"))
		goto cleanup;
	if (!ASSERT_EQ(pm.cnt, 4, "count"))
		goto cleanup;
	m = proc_maps__find(&pm, 0x558f1b201234ULL);
	ASSERT_TRUE(m && strcmp(m->path, "/usr/local/bin/target") == 0, "text");
	ASSERT_TRUE(m && m->offset == 0x1000 && (m->perms & PMAP_PERM_EXEC), "text offset, exec");
	proc_maps__clear(&pm);

	err = proc_maps__read(test__fixture("proc"), 4243, &pm);
	ASSERT_EQ(err, -ENOENT, "missing pid");
	ASSERT_TRUE(pm.cnt == 0 && pm.maps == NULL, "empty after error");
cleanup:
	proc_maps__clear(&pm);
}

TEST(procmaps_read_self)
{
	struct proc_maps pm = {};
	const struct proc_mapping *m;
	int err;

	err = proc_maps__read(NULL, getpid(), &pm);
	if (!ASSERT_OK(err, "read self"))
		goto cleanup;
	m = proc_maps__find(&pm, (__u64)(uintptr_t)&parse_fixture);
	if (!ASSERT_OK_PTR(m, "own text"))
		goto cleanup;
	ASSERT_TRUE(m->perms & PMAP_PERM_EXEC, "text is executable");
	ASSERT_TRUE(proc_mapping__is_file(m), "text is a file");
	for (size_t i = 1; i < pm.cnt; i++)
		if (!ASSERT_TRUE(pm.maps[i - 1].end <= pm.maps[i].start, "sorted, disjoint"))
			break;
cleanup:
	proc_maps__clear(&pm);
}

/* Parse maps text given inline. */
static bool parse_text(const char *text, struct proc_maps *pm)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int err;

	if (!ASSERT_OK_PTR(f, "fmemopen"))
		return false;
	err = proc_maps__parse(f, pm, NULL);
	fclose(f);
	return ASSERT_OK(err, "parse");
}

static const char *path_at(const struct proc_maps *now, const struct proc_maps *past, __u64 addr)
{
	const struct proc_mapping *m = proc_maps__find(now, addr) ?: proc_maps__find(past, addr);

	return m ? m->path : "(none)";
}

TEST(procmaps_overlay_keeps_what_older_snapshots_tell)
{
	struct proc_maps s1 = {}, s2 = {}, s3 = {}, past = {};

	if (!parse_text("1000-2000 r-xp 00000000 08:01 11 /lib/a.so\n"
			"3000-4000 rw-p 00000000 00:00 0 [heap]\n"
			"5000-6000 r-xp 00000000 08:01 12 /lib/b.so\n",
			&s1) ||
	    !parse_text("1000-2000 r-xp 00000000 08:01 11 /lib/a.so\n"
			"5000-5800 r-xp 00000000 08:01 13 /lib/c.so\n",
			&s2) ||
	    !parse_text("1000-2000 r-xp 00000000 08:01 11 /lib/a.so\n", &s3))
		goto cleanup;
	/* b.so unloaded, c.so loaded over part of it: only b.so is kept (a.so is still there,
	 * the heap is no code). */
	if (!ASSERT_OK(proc_maps__overlay(&past, &s1, &s2, 1, 16), "overlay 1"))
		goto cleanup;
	ASSERT_EQ(past.cnt, 1, "one past mapping");
	ASSERT_STREQ(path_at(&s2, &past, 0x1800), "/lib/a.so", "kept in the newest");
	ASSERT_STREQ(path_at(&s2, &past, 0x5100), "/lib/c.so", "the newest wins");
	ASSERT_STREQ(path_at(&s2, &past, 0x5900), "/lib/b.so", "unloaded, still found");
	ASSERT_STREQ(path_at(&s2, &past, 0x3800), "(none)", "the old heap is not kept");
	/* c.so unloaded too: it replaces the b.so it overlaps. */
	if (!ASSERT_OK(proc_maps__overlay(&past, &s2, &s3, 2, 16), "overlay 2"))
		goto cleanup;
	ASSERT_EQ(past.cnt, 1, "c.so replaced b.so");
	ASSERT_STREQ(path_at(&s3, &past, 0x5100), "/lib/c.so", "c.so from the past");
	/* A bound of 1 with a new unloaded library elsewhere: the older generation goes. */
	proc_maps__clear(&s1);
	if (!parse_text("1000-2000 r-xp 00000000 08:01 11 /lib/a.so\n"
			"9000-a000 r-xp 00000000 08:01 14 /lib/d.so\n",
			&s1) ||
	    !ASSERT_OK(proc_maps__overlay(&past, &s1, &s3, 3, 1), "overlay 3"))
		goto cleanup;
	ASSERT_EQ(past.cnt, 1, "bounded");
	ASSERT_STREQ(path_at(&s3, &past, 0x9100), "/lib/d.so", "the newest kept");
	ASSERT_STREQ(path_at(&s3, &past, 0x5100), "(none)", "the oldest dropped");
	/* Loaded again at the same place: the past copy goes. */
	if (!ASSERT_OK(proc_maps__overlay(&past, &s3, &s1, 4, 16), "overlay 4"))
		goto cleanup;
	ASSERT_EQ(past.cnt, 0, "identical to the newest: not kept twice");
cleanup:
	proc_maps__clear(&s1);
	proc_maps__clear(&s2);
	proc_maps__clear(&s3);
	proc_maps__clear(&past);
}
