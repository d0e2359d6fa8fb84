// SPDX-License-Identifier: MIT
/* allocscoped's selectors against the fixture /proc tree: 4242 runs the native prog_o0 in a
 * Kubernetes pod as "checkout", 4250 the Go fixture in a systemd service as "gofix", 4251 has
 * only a comm ("worker": its exe and cgroup cannot be read). */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "service/select.h"
#include "test.h"

static struct proc_select *fixture_select(int self_pid)
{
	struct proc_select_opts o = {.proc_root = test__fixture("proc"), .self_pid = self_pid};

	return proc_select__new(&o);
}

static struct selector sel(enum selector_kind kind, const char *value)
{
	struct selector s = {.kind = kind};

	if (kind == SELECT_PID)
		s.pid = atoi(value);
	else if (value)
		snprintf(s.value, sizeof(s.value), "%s", value);
	return s;
}

/* Which of the fixture's pids one selector matches, as a bit mask: 1 4242, 2 4250, 4 4251. */
static int matches(struct proc_select *ps, enum selector_kind kind, const char *value)
{
	static const int pids[] = {4242, 4250, 4251};
	struct selector s = sel(kind, value);
	int mask = 0;

	for (int i = 0; i < 3; i++)
		if (proc_select__match(ps, &s, 1, pids[i]))
			mask |= 1 << i;
	return mask;
}

TEST(select_reads_comm_and_exe)
{
	char buf[4096];

	if (ASSERT_OK(proc__read_comm(test__fixture("proc"), 4242, buf, sizeof(buf)), "comm"))
		ASSERT_STREQ(buf, "checkout", "comm without its newline");
	if (ASSERT_OK(proc__read_exe(test__fixture("proc"), 4250, buf, sizeof(buf)), "exe"))
		ASSERT_STREQ(buf, test__fixture("go/gofix"), "exe: the link's target");
	ASSERT_EQ(proc__read_exe(test__fixture("proc"), 4251, buf, sizeof(buf)), -ENOENT, "no exe");
}

TEST(select_by_pid_exe_comm_cgroup)
{
	struct proc_select *ps = fixture_select(1);
	char glob[4096];

	if (!ASSERT_OK_PTR(ps, "new"))
		return;
	ASSERT_EQ(matches(ps, SELECT_PID, "4250"), 2, "pid");
	/* A pid selector reads nothing: a pid the tree lacks is still selected. */
	ASSERT_TRUE(
	    proc_select__match(ps, &(struct selector){.kind = SELECT_PID, .pid = 4243}, 1, 4243),
	    "pid without /proc entry");

	ASSERT_EQ(matches(ps, SELECT_EXE, "*/fixtures/prog_o0"), 1, "exe glob");
	ASSERT_EQ(matches(ps, SELECT_EXE, "*/gofix"), 2, "exe glob, Go");
	ASSERT_EQ(matches(ps, SELECT_EXE, "*"), 3, "every readable exe, not 4251's");
	ASSERT_EQ(matches(ps, SELECT_EXE, "prog_o0"), 0, "a glob matches the whole path");
	snprintf(glob, sizeof(glob), "%s", test__fixture("prog_o0"));
	ASSERT_EQ(matches(ps, SELECT_EXE, glob), 1, "exact path");

	ASSERT_EQ(matches(ps, SELECT_COMM, "checkout"), 1, "comm");
	ASSERT_EQ(matches(ps, SELECT_COMM, "worker"), 4, "comm of a process without exe");
	ASSERT_EQ(matches(ps, SELECT_COMM, "check"), 0, "comm is exact, not a prefix");
	ASSERT_EQ(matches(ps, SELECT_COMM, "checkout\n"), 0, "no newline kept");

	/* The unified line wins over the v1 one of 4242. */
	ASSERT_EQ(matches(ps, SELECT_CGROUP, "/kubepods.slice/"), 1, "cgroup prefix");
	ASSERT_EQ(matches(ps, SELECT_CGROUP, "/kubepods/"), 0, "v1 path not used");
	ASSERT_EQ(matches(ps, SELECT_CGROUP, "/system.slice/gofix.service"), 2, "whole path");
	ASSERT_EQ(matches(ps, SELECT_CGROUP, "/"), 3, "root: all with a cgroup, not 4251");
	proc_select__free(ps);
}

TEST(select_all_go)
{
	struct proc_select *ps = fixture_select(1);

	if (!ASSERT_OK_PTR(ps, "new"))
		return;
	ASSERT_EQ(matches(ps, SELECT_ALL_GO, NULL), 2, "only the Go program");
	/* Again, answered from the (device, inode, mtime) cache: the same. */
	ASSERT_EQ(matches(ps, SELECT_ALL_GO, NULL), 2, "cached");
	ASSERT_EQ(proc_select__go_cache_size(ps), 2, "two readable executables remembered");
	proc_select__free(ps);
}

TEST(select_go_cache_keyed_by_mtime)
{
	struct proc_select *ps = fixture_select(1);
	struct timespec times[2];
	char exe[4096];
	struct stat st;

	/* test__fixture's buffer is reused by the next call. */
	snprintf(exe, sizeof(exe), "%s", test__fixture("go/gofix"));
	if (!ASSERT_OK_PTR(ps, "new") || !ASSERT_OK(stat(exe, &st), "stat"))
		goto cleanup;
	ASSERT_EQ(matches(ps, SELECT_ALL_GO, NULL), 2, "the Go program");
	/* Rewritten in place (same inode, new mtime): inspected again, not taken from before. */
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	times[1].tv_sec++;
	if (!ASSERT_OK(utimensat(AT_FDCWD, exe, times, 0), "utimensat"))
		goto cleanup;
	ASSERT_EQ(matches(ps, SELECT_ALL_GO, NULL), 2, "still the Go program");
	ASSERT_EQ(proc_select__go_cache_size(ps), 3, "the new mtime is a new entry");
	times[1] = st.st_mtim;
	utimensat(AT_FDCWD, exe, times, 0);
cleanup:
	proc_select__free(ps);
}

TEST(select_any_selector_and_never_self)
{
	struct selector sels[] = {
	    sel(SELECT_COMM, "nope"),
	    sel(SELECT_CGROUP, "/nope"),
	    sel(SELECT_EXE, "*/gofix"),
	    sel(SELECT_PID, "4251"),
	};
	struct proc_select *ps = fixture_select(4251);

	if (!ASSERT_OK_PTR(ps, "new"))
		return;
	ASSERT_TRUE(proc_select__match(ps, sels, 4, 4250), "a later selector matches");
	ASSERT_TRUE(!proc_select__match(ps, sels, 4, 4242), "none matches");
	ASSERT_TRUE(!proc_select__match(ps, sels, 4, 4251), "the daemon itself never");
	ASSERT_TRUE(!proc_select__match(ps, sels, 0, 4250), "no selectors: nothing");
	proc_select__free(ps);
}

static void collect_pid(void *ctx, int pid)
{
	int *mask = ctx;

	*mask |= pid == 4242 ? 1 : pid == 4250 ? 2 : pid == 4251 ? 4 : 8;
}

TEST(select_scan_fixture_tree)
{
	struct selector sels[] = {sel(SELECT_COMM, "checkout"), sel(SELECT_ALL_GO, NULL)};
	struct proc_select_opts bad = {.proc_root = "/nonexistent/proc"};
	struct proc_select *ps = fixture_select(1), *missing = proc_select__new(&bad);
	int mask = 0;

	if (!ASSERT_OK_PTR(ps, "new") || !ASSERT_OK_PTR(missing, "new"))
		goto cleanup;
	if (ASSERT_OK(proc_select__scan(ps, sels, 2, collect_pid, &mask), "scan"))
		ASSERT_EQ(mask, 3, "4242 by comm, 4250 as Go; not 4251");
	mask = 0;
	ASSERT_OK(proc_select__scan(ps, sels, 0, collect_pid, &mask), "scan without selectors");
	ASSERT_EQ(mask, 0, "nothing selected");
	ASSERT_EQ(proc_select__scan(missing, sels, 2, collect_pid, &mask), -ENOENT, "no root");
cleanup:
	proc_select__free(ps);
	proc_select__free(missing);
}
