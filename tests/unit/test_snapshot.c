// SPDX-License-Identifier: MIT
/* The snapshot store: the in-memory bound, the directory (files, reload at start, cleanup by age
 * and by total size, an unwritable one), the JSON it lists and the IDs it accepts. */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service/snapshot.h"
#include "test.h"

#define SEC 1000000000ULL
#define T0  (1800000000ULL * SEC)

static void meta(struct snap_meta *m, int n, __u64 time_ns)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%llu-%d-request", (unsigned long long)(time_ns / 1000000),
		 100 + n);
	m->pid = 100 + n;
	m->trigger = n % 2 ? TRIGGER_OOM : TRIGGER_REQUEST;
	m->time_ns = time_ns;
	snprintf(m->exe, sizeof(m->exe), "/usr/bin/t%d", n);
	m->has_cg = 1;
	snprintf(m->cgroup, sizeof(m->cgroup), "/cg");
	m->cg.version = 1;
	m->cg.limit_bytes = 64 << 20;
}

/* A profile of len bytes, each the snapshot's number. */
static int add(struct snapshot_store *s, int n, __u64 time_ns, size_t len)
{
	struct snap_meta m;
	char *buf = malloc(len), *tl = strdup("[{\"t\":1}]");

	memset(buf, n, len);
	meta(&m, n, time_ns);
	return snapshot_store__add(s, &m, buf, len, tl, time_ns);
}

static size_t files_in(const char *dir)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void rm_tree(const char *dir)
{
	char path[PATH_MAX + 300];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static bool pprof_is(struct snapshot_store *s, const char *id, int n, size_t len)
{
	void *buf = NULL;
	size_t got = 0;
	bool ok;

	if (!ASSERT_OK(snapshot_store__pprof(s, id, &buf, &got), id))
		return false;
	ok = ASSERT_EQ(got, len, "profile length") && ASSERT_EQ(((char *)buf)[len - 1], n, "bytes");
	free(buf);
	return ok;
}

TEST(snapshot_memory_bound)
{
	struct snapshot_store_opts o = {.max_in_memory = 2};
	struct snapshot_store *s = snapshot_store__new(&o);
	void *buf;
	size_t len;

	if (!ASSERT_OK_PTR(s, "new"))
		return;
	for (int i = 0; i < 3; i++)
		ASSERT_OK(add(s, i, T0 + i * SEC, 100), "add");
	/* No directory: the oldest is gone. */
	ASSERT_EQ(snapshot_store__count(s), 2, "kept");
	ASSERT_EQ(snapshot_store__at(s, 0)->pid, 101, "the oldest went first");
	ASSERT_EQ(snapshot_store__stats(s)->evicted, 1, "counted");
	ASSERT_EQ(snapshot_store__pprof(s, "1800000000000-100-request", &buf, &len), -ENOENT,
		  "evicted");
	pprof_is(s, "1800000002000-102-request", 2, 100);
	ASSERT_EQ(snapshot_store__stats(s)->taken[TRIGGER_OOM], 1, "oom counted");
	ASSERT_EQ(snapshot_store__stats(s)->taken[TRIGGER_REQUEST], 2, "requests counted");
	snapshot_store__free(s);
}

TEST(snapshot_json)
{
	struct snapshot_store_opts o = {};
	struct snapshot_store *s = snapshot_store__new(&o);
	char *list, *one;

	if (!ASSERT_OK_PTR(s, "new"))
		return;
	add(s, 1, T0 + 123456789, 10);
	list = snapshot_store__list_json(s);
	if (ASSERT_OK_PTR(list, "list")) {
		ASSERT_TRUE(strstr(list, "\"id\":\"1800000000123-101-request\""), list);
		ASSERT_TRUE(strstr(list, "\"pid\":101"), list);
		ASSERT_TRUE(strstr(list, "\"executable\":\"\\/usr\\/bin\\/t1\"") ||
				strstr(list, "\"executable\":\"/usr/bin/t1\""),
			    list);
		ASSERT_TRUE(strstr(list, "\"trigger\":\"oom\""), list);
		ASSERT_TRUE(strstr(list, "\"time\":\"2027-01-15T08:00:00.123Z\""), list);
		ASSERT_TRUE(strstr(list, "\"limit_bytes\":67108864"), list);
		ASSERT_TRUE(!strstr(list, "timeline"), "the list leaves the timelines out");
	}
	one = snapshot_store__get_json(s, "1800000000123-101-request");
	if (ASSERT_OK_PTR(one, "get"))
		ASSERT_TRUE(strstr(one, "\"timeline\":[{\"t\":1}]") != NULL, one);
	ASSERT_TRUE(snapshot_store__get_json(s, "1-2-request") == NULL && errno == ENOENT,
		    "unknown");
	free(list);
	free(one);
	snapshot_store__free(s);
}

TEST(snapshot_id_valid)
{
	ASSERT_TRUE(snapshot_id__valid("1800000000123-101-oom"), "an ID");
	ASSERT_TRUE(!snapshot_id__valid("../etc/passwd"), "a path");
	ASSERT_TRUE(!snapshot_id__valid("-1"), "a leading dash");
	ASSERT_TRUE(!snapshot_id__valid(""), "empty");
	ASSERT_TRUE(!snapshot_id__valid("A"), "upper case");
	ASSERT_TRUE(!snapshot_id__valid("0123456789012345678901234567890123456789012345678"),
		    "too long");
}

TEST(snapshot_dir_reload_and_cleanup)
{
	char dir[] = "/tmp/allocscope-snapdir-XXXXXX";
	struct snapshot_store_opts o = {.max_in_memory = 1};
	struct snapshot_store *s = NULL;
	char *one = NULL;

	if (!ASSERT_OK_PTR(mkdtemp(dir), "mkdtemp"))
		return;
	o.dir = dir;
	s = snapshot_store__new(&o);
	if (!ASSERT_OK_PTR(s, "new"))
		goto cleanup;
	for (int i = 0; i < 3; i++)
		ASSERT_OK(add(s, i, T0 + i * SEC, 1000), "add");
	ASSERT_EQ(files_in(dir), 6, "two files a snapshot");
	ASSERT_EQ(snapshot_store__count(s), 3, "on disk, all listed");
	/* Out of memory, read back from disk. */
	pprof_is(s, "1800000000000-100-request", 0, 1000);
	one = snapshot_store__get_json(s, "1800000000000-100-request");
	if (ASSERT_OK_PTR(one, "json from disk"))
		ASSERT_TRUE(strstr(one, "\"timeline\":[") != NULL, one);
	free(one);
	snapshot_store__free(s);

	/* A leftover of a write cut short is removed at start; the snapshots are listed again. */
	{
		char tmp[PATH_MAX];

		snprintf(tmp, sizeof(tmp), "%s/x.json.tmp.abcdef", dir);
		fclose(fopen(tmp, "w"));
	}
	o.max_disk_bytes = 2500; /* two snapshots of ~1000 + JSON */
	o.max_age_ns = 0;
	s = snapshot_store__new(&o);
	if (!ASSERT_OK_PTR(s, "reload"))
		goto cleanup;
	ASSERT_EQ(snapshot_store__count(s), 3, "listed again after a restart");
	ASSERT_EQ(snapshot_store__at(s, 0)->pid, 100, "oldest first");
	ASSERT_EQ(snapshot_store__at(s, 0)->cg.limit_bytes, 64 << 20, "fields read back");
	pprof_is(s, "1800000000000-100-request", 0, 1000);
	ASSERT_EQ(files_in(dir), 6, "the leftover is gone");
	snapshot_store__expire(s, T0 + 3 * SEC);
	ASSERT_TRUE(snapshot_store__count(s) < 3, "over the size bound, the oldest removed");
	ASSERT_EQ(snapshot_store__at(s, snapshot_store__count(s) - 1)->pid, 102,
		  "the newest is kept");
	ASSERT_EQ(files_in(dir), 2 * snapshot_store__count(s), "their files removed");
	snapshot_store__free(s);

	o.max_disk_bytes = 0;
	o.max_age_ns = 10 * SEC;
	s = snapshot_store__new(&o);
	if (!ASSERT_OK_PTR(s, "reload"))
		goto cleanup;
	snapshot_store__expire(s, T0 + 3600 * SEC);
	ASSERT_EQ(snapshot_store__count(s), 0, "all older than the age bound");
	ASSERT_EQ(files_in(dir), 0, "no files left");
cleanup:
	snapshot_store__free(s);
	rm_tree(dir);
}

TEST(snapshot_dir_unwritable)
{
	struct snapshot_store_opts o = {.dir = "/proc/allocscope-no-such-dir"};
	struct snapshot_store *s = snapshot_store__new(&o);

	if (!ASSERT_OK_PTR(s, "an unusable directory is not fatal"))
		return;
	ASSERT_OK(add(s, 1, T0, 100), "add");
	ASSERT_EQ(snapshot_store__stats(s)->write_failures, 1, "counted");
	ASSERT_EQ(snapshot_store__count(s), 1, "kept in memory");
	pprof_is(s, "1800000000000-101-request", 1, 100);
	snapshot_store__free(s);
}
