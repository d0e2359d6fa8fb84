// SPDX-License-Identifier: MIT
/* rootfs: a target's files opened inside a root of the test's own, with openat2 and with the
 * walk that replaces it on older kernels; the lexical walk; and peer's socket-table lookup and
 * ptrace rule on fixtures. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "service/peer.h"
#include "symbols/rootfs.h"
#include "test.h"

TEST(rootfs_split_proc_root)
{
	const char *rest = NULL;
	int pid = 0;

	if (ASSERT_OK(rootfs__split_proc_root("/proc/123/root/usr/lib/x.so", &pid, &rest), "split"))
		ASSERT_TRUE(pid == 123 && !strcmp(rest, "/usr/lib/x.so"), "pid and rest");
	ASSERT_OK(rootfs__split_proc_root("/proc/7/root", &pid, &rest), "bare root");
	ASSERT_TRUE(rootfs__split_proc_root("/proc/self/root/x", &pid, &rest) == -EINVAL, "self");
	ASSERT_TRUE(rootfs__split_proc_root("/proc/12/rootx", &pid, &rest) == -EINVAL, "rootx");
	ASSERT_TRUE(rootfs__split_proc_root("/proc/0/root/x", &pid, &rest) == -EINVAL, "pid 0");
	ASSERT_TRUE(rootfs__split_proc_root("/proc/99999999999/root/x", &pid, &rest) == -EINVAL,
		    "huge pid");
	ASSERT_TRUE(rootfs__split_proc_root("/usr/lib/x.so", &pid, &rest) == -EINVAL, "host");
}

TEST(rootfs_walk_lexical)
{
	struct rootfs_walk w;
	char comp[256], seen[512] = "";
	int last = 0, abs = 0, r;

	if (!ASSERT_OK(rootfs_walk__init(&w, "//a/./b//../c/"), "init"))
		return;
	while ((r = rootfs_walk__next(&w, comp, sizeof(comp), &last)) > 0) {
		strcat(seen, comp);
		strcat(seen, last ? "$" : "|");
		/* b is a symlink to /x/y: the walk restarts at the root with x/y/../c. */
		if (!strcmp(comp, "b") && !ASSERT_OK(rootfs_walk__link(&w, "/x/y", &abs), "link"))
			return;
	}
	ASSERT_EQ(r, 0, "end");
	ASSERT_STREQ(seen, "a|b|x|y|..|c$", "components");
	ASSERT_TRUE(abs, "absolute link");

	rootfs_walk__init(&w, "l");
	for (int i = 0; i < ROOTFS_MAX_LINKS; i++)
		rootfs_walk__next(&w, comp, sizeof(comp), &last), rootfs_walk__link(&w, "l", &abs);
	rootfs_walk__next(&w, comp, sizeof(comp), &last);
	ASSERT_EQ(rootfs_walk__link(&w, "l", &abs), -ELOOP, "link limit");
}

struct tree {
	char dir[64];
	int rootfd;
	struct stat real;
};

/* root/lib/real.so, root/lib/fifo, root/etc/passwd ("inside"), host-secret next to root (the
 * host file a tenant would like us to read), and links: lib/abs -> /lib/real.so (inside),
 * lib/up -> ../../../../etc/passwd (clamped inside), lib/host -> <host-secret> (outside),
 * lib/loop -> loop, lib/procself -> /proc/self/root/etc/passwd (a magic link, if followed). */
static bool make_tree(struct tree *t)
{
	char p[256], host[256];

	snprintf(t->dir, sizeof(t->dir), "/tmp/allocscope-rootfs-XXXXXX");
	if (!ASSERT_OK_PTR(mkdtemp(t->dir), "mkdtemp"))
		return false;
#define AT(rel) (snprintf(p, sizeof(p), "%s/%s", t->dir, rel), p)
	mkdir(AT("root"), 0755);
	mkdir(AT("root/lib"), 0755);
	mkdir(AT("root/etc"), 0755);
	FILE *f = fopen(AT("root/lib/real.so"), "w");
	fputs("real", f);
	fclose(f);
	stat(p, &t->real);
	f = fopen(AT("root/etc/passwd"), "w");
	fputs("inside", f);
	fclose(f);
	f = fopen(AT("host-secret"), "w");
	fputs("secret", f);
	fclose(f);
	snprintf(host, sizeof(host), "%s", p);
	mkfifo(AT("root/lib/fifo"), 0644);
	symlink("/lib/real.so", AT("root/lib/abs"));
	symlink("../../../../etc/passwd", AT("root/lib/up"));
	symlink(host, AT("root/lib/host"));
	symlink("loop", AT("root/lib/loop"));
	symlink("/proc/self/root/etc/passwd", AT("root/lib/procself"));
#undef AT
	snprintf(p, sizeof(p), "%s/root", t->dir);
	t->rootfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return ASSERT_TRUE(t->rootfd >= 0, "root fd");
}

static void free_tree(struct tree *t)
{
	char cmd[128];

	if (t->rootfd >= 0)
		close(t->rootfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", t->dir);
}

static void read_back(int fd, char *buf, size_t len)
{
	ssize_t n = fd >= 0 ? pread(fd, buf, len - 1, 0) : -1;

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

static void check_tree(struct tree *t, const char *mode)
{
	struct proc_mapping m = {.inode = t->real.st_ino,
				 .dev_major = major(t->real.st_dev),
				 .dev_minor = minor(t->real.st_dev)};
	__u64 not_regular = rootfs__refused(ROOTFS_REFUSED_NOT_REGULAR);
	__u64 link = rootfs__refused(ROOTFS_REFUSED_LINK);
	__u64 mismatch = rootfs__refused(ROOTFS_REFUSED_MISMATCH);
	char buf[64], what[128];
	int fd;

	read_back(rootfs__open_in(t->rootfd, "/lib/real.so", &m), buf, sizeof(buf));
	snprintf(what, sizeof(what), "%s: the mapped file", mode);
	ASSERT_STREQ(buf, "real", what);
	read_back(rootfs__open_in(t->rootfd, "/lib/abs", NULL), buf, sizeof(buf));
	snprintf(what, sizeof(what), "%s: an absolute link resolves inside", mode);
	ASSERT_STREQ(buf, "real", what);
	read_back(rootfs__open_in(t->rootfd, "/lib/up", NULL), buf, sizeof(buf));
	snprintf(what, sizeof(what), "%s: '..' stops at the root", mode);
	ASSERT_STREQ(buf, "inside", what);
	fd = rootfs__open_in(t->rootfd, "/lib/host", NULL);
	snprintf(what, sizeof(what), "%s: a link to a host file is not followed out", mode);
	ASSERT_EQ(fd, -ENOENT, what);
	fd = rootfs__open_in(t->rootfd, "/lib/procself", NULL);
	snprintf(what, sizeof(what), "%s: no magic link", mode);
	ASSERT_TRUE(fd == -ENOENT || fd == -ELOOP, what);
	/* Would block forever without O_NONBLOCK: no writer ever comes. */
	fd = rootfs__open_in(t->rootfd, "/lib/fifo", NULL);
	snprintf(what, sizeof(what), "%s: a FIFO is refused", mode);
	ASSERT_EQ(fd, -EINVAL, what);
	ASSERT_EQ(rootfs__refused(ROOTFS_REFUSED_NOT_REGULAR), not_regular + 1, what);
	fd = rootfs__open_in(t->rootfd, "/lib/loop", NULL);
	snprintf(what, sizeof(what), "%s: a link loop", mode);
	ASSERT_EQ(fd, -ELOOP, what);
	fd = rootfs__open_in(t->rootfd, "/lib/abs", &m);
	snprintf(what, sizeof(what), "%s: no symlink where a mapped file was", mode);
	ASSERT_EQ(fd, -ELOOP, what);
	ASSERT_EQ(rootfs__refused(ROOTFS_REFUSED_LINK), link + 2, what);
	fd = rootfs__open_in(t->rootfd, "/etc/passwd", &m);
	snprintf(what, sizeof(what), "%s: another file than the mapped one", mode);
	ASSERT_EQ(fd, -ESTALE, what);
	ASSERT_EQ(rootfs__refused(ROOTFS_REFUSED_MISMATCH), mismatch + 1, what);
	fd = rootfs__open_in(t->rootfd, "/lib/..", NULL);
	snprintf(what, sizeof(what), "%s: a directory", mode);
	ASSERT_EQ(fd, -EISDIR, what);
}

TEST(rootfs_open_inside_a_root)
{
	struct tree t = {.rootfd = -1};

	if (make_tree(&t)) {
		if (rootfs__have_openat2())
			check_tree(&t, "openat2");
		rootfs__force_walk(1);
		check_tree(&t, "walk");
		rootfs__force_walk(0);
	}
	free_tree(&t);
}

TEST(rootfs_open_paths)
{
	char path[64], buf[16];
	int fd;

	/* Our own root through /proc/PID/root, and a file of our own. */
	snprintf(path, sizeof(path), "/proc/%d/root/proc/self/exe", getpid());
	fd = rootfs__open(path, NULL);
	ASSERT_TRUE(fd == -ELOOP || fd == -EINVAL || fd == -ENOENT, "no magic link in a root");
	snprintf(path, sizeof(path), "/proc/%d/exe", getpid());
	fd = rootfs__open(path, NULL);
	ASSERT_TRUE(fd >= 0, "the kernel's link to the executable");
	read_back(fd, buf, 5);
	ASSERT_STREQ(buf, "\177ELF", "ELF");
	snprintf(path, sizeof(path), "/proc/%d/cwd/x", getpid());
	ASSERT_EQ(rootfs__open(path, NULL), -EINVAL, "cwd is not a way in");
	ASSERT_EQ(rootfs__open("/proc/4194304/root/lib/x.so", NULL), -ESRCH, "exited");
}

TEST(peer_socket_table)
{
	/* The client 127.0.0.1:40000 (uid 1000) to us, 127.0.0.1:6464, and the reverse entry
	 * (ours, uid 0); a TIME_WAIT entry of the same pair shows uid 0 and must not count. */
	static const char tcp[] =
	    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
	    "timeout inode\n"
	    "   0: 0100007F:9C40 0100007F:1940 06 00000000:00000000 03:00000000 00000000     0 "
	    "       0 0 3 0000000000000000\n"
	    "   1: 0100007F:1940 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0 "
	    "       0 11 1 0000000000000000 20 4 0 10 -1\n"
	    "   2: 0100007F:9C40 0100007F:1940 01 00000000:00000000 00:00000000 00000000  1000 "
	    "       0 12 1 0000000000000000 20 4 0 10 -1\n";
	struct peer_conn c = {};
	struct sockaddr_in *l = (void *)&c.local, *r = (void *)&c.remote;
	uid_t uid = 77;
	FILE *f;

	l->sin_family = r->sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", &l->sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &r->sin_addr);
	l->sin_port = htons(6464);
	r->sin_port = htons(40000);
	f = fmemopen((void *)tcp, sizeof(tcp) - 1, "r");
	if (ASSERT_OK(peer__find_uid(f, 0, &c, &uid), "found"))
		ASSERT_EQ(uid, 1000, "the client's owner");
	fclose(f);
	r->sin_port = htons(40001);
	f = fmemopen((void *)tcp, sizeof(tcp) - 1, "r");
	ASSERT_EQ(peer__find_uid(f, 0, &c, &uid), -ENOENT, "no such client");
	fclose(f);
}

TEST(peer_real_connection)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int lfd, cfd = -1, sfd = -1;
	uid_t uid = 77;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!ASSERT_TRUE(lfd >= 0 && !bind(lfd, (void *)&a, sizeof(a)) && !listen(lfd, 1) &&
			     !getsockname(lfd, (void *)&a, &len),
			 "listen"))
		goto cleanup;
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!ASSERT_TRUE(cfd >= 0 && !connect(cfd, (void *)&a, sizeof(a)), "connect"))
		goto cleanup;
	sfd = accept(lfd, NULL, NULL);
	if (ASSERT_TRUE(sfd >= 0, "accept") && ASSERT_OK(peer__tcp_uid(NULL, sfd, &uid), "uid"))
		ASSERT_EQ(uid, geteuid(), "our own uid");
cleanup:
	if (sfd >= 0)
		close(sfd);
	if (cfd >= 0)
		close(cfd);
	if (lfd >= 0)
		close(lfd);
}

TEST(peer_pid_owner_fixture)
{
	static const struct {
		const char *uid, *gid;
		int dir_uid;
		uid_t want;
	} cases[] = {
	    {"1000\t1000\t1000\t1000", "100\t100\t100\t100", 1000, 1000},
	    {"1000\t0\t0\t0", "100\t100\t100\t100", 0, 0},	    /* set-user-ID root */
	    {"1000\t1000\t1000\t1000", "100\t5\t5\t5", 1000, 0},    /* set-group-ID */
	    {"1000\t1000\t1000\t1000", "100\t100\t100\t100", 0, 0}, /* not dumpable */
	};
	char dir[64], p[128];
	uid_t owner;

	snprintf(dir, sizeof(dir), "/tmp/allocscope-peer-XXXXXX");
	if (!ASSERT_OK_PTR(mkdtemp(dir), "mkdtemp"))
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		FILE *f;

		snprintf(p, sizeof(p), "%s/%zu", dir, i + 1);
		mkdir(p, 0755);
		if (chown(p, cases[i].dir_uid, 0))
			test__skip("cannot chown (not root)");
		snprintf(p, sizeof(p), "%s/%zu/status", dir, i + 1);
		f = fopen(p, "w");
		fprintf(f, "Name:\tx\nUid:\t%s\nGid:\t%s\n", cases[i].uid, cases[i].gid);
		fclose(f);
		owner = 77;
		if (ASSERT_OK(peer__pid_owner(dir, i + 1, &owner), "owner"))
			ASSERT_EQ(owner, cases[i].want, cases[i].uid);
	}
	ASSERT_EQ(peer__pid_owner(dir, 99, &owner), -ESRCH, "gone");
	snprintf(p, sizeof(p), "rm -rf %s", dir);
	if (system(p))
		fprintf(stderr, "cannot remove %s\n", dir);
}
