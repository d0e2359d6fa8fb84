# SPDX-License-Identifier: MIT
"""End to end, the daemon among tenants (issue 15): a process in a mount namespace and root of
its own that turns its files against the daemon (a FIFO at its libc path, its library's
directory covered by one whose library is a link to a host file, its executable covered by
another file), and local users who may read their own processes' profiles and nobody else's."""
import ctypes
import os
import pwd
import re
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import expected
import pprof_raw
from harness import BUILD, check, check_eq, fail, skip_dep, test
from test_daemon import Target, metric
from test_record import PATTERN, wait_for_line

ALLOCSCOPED = os.path.join(BUILD, "allocscoped")

VICTIM_LIB = r"""
#include <stdlib.h>
void *victim_alloc(size_t n)
{
	char *p = malloc(n);

	if (p)
		p[0] = 1;
	return p;
}
"""

# The tenant's program. "hostile" covers, inside its own mount namespace, the libc path with a
# FIFO, /opt/lib with a directory whose libvictim.so is a symlink to the host file, and /victim
# with another file; "fork" makes a child that maps all of them by those paths, allocates and
# waits, so the daemon (following forks) opens them anew.
VICTIM = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

void *victim_alloc(size_t n);
static void *keep[4096];
static int nkeep;

static void alloc_some(void)
{
	for (int i = 0; i < 100 && nkeep < 4096; i++)
		keep[nkeep++] = victim_alloc(4096);
}

int main(void)
{
	char line[64];

	setvbuf(stdout, NULL, _IONBF, 0);
	/* The host's root, left at /old by pivot_root: out of reach from here on. */
	if (umount2("/old", MNT_DETACH))
		printf("umount /old: %m\n");
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "alloc", 5)) {
			alloc_some();
			printf("ready\n");
		} else if (!strncmp(line, "hostile", 7)) {
			if (mount("/evil/fifo", "/lib/x86_64-linux-gnu/libc.so.6", NULL, MS_BIND, NULL) ||
			    mount("/evil/lib", "/opt/lib", NULL, MS_BIND, NULL) ||
			    mount("/evil/victim", "/victim", NULL, MS_BIND, NULL)) {
				printf("mount failed: %m\n");
				continue;
			}
			printf("ready\n");
		} else if (!strncmp(line, "fork", 4)) {
			pid_t c = fork();

			if (c == 0) {
				alloc_some();
				for (;;)
					pause();
			}
			printf("child %d\n", (int)c);
		}
	}
	return 0;
}
"""


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def copy_with_libs(binary, root, dest):
    """binary into root at dest, and the libraries ldd names at their own paths."""
    os.makedirs(os.path.dirname(root + dest), exist_ok=True)
    shutil.copy2(binary, root + dest)
    for line in run("ldd", binary).stdout.splitlines():
        m = re.search(r"(/\S+) \(0x", line)
        if not m or m.group(1).startswith("/opt/"):
            continue
        lib = os.path.realpath(m.group(1))
        for path in {m.group(1), lib}:
            os.makedirs(os.path.dirname(root + path), exist_ok=True)
            if not os.path.exists(root + path):
                shutil.copy2(lib, root + path)


class Inotify:
    """IN_OPEN and IN_ACCESS on one file, read without blocking."""

    def __init__(self, path):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0 or self.libc.inotify_add_watch(self.fd, path.encode(), 0x20 | 0x1) < 0:
            raise OSError(ctypes.get_errno(), "inotify on " + path)

    def events(self):
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return []
        out, off = [], 0
        while off + 16 <= len(data):
            _, mask, _, n = struct.unpack_from("iIII", data, off)
            out.append(mask)
            off += 16 + n
        return out

    def close(self):
        os.close(self.fd)


def get(base, path, timeout=30):
    """(status, body); (None, reason) when the daemon does not answer in time."""
    try:
        with urllib.request.urlopen(base + path, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        return None, str(e).encode()


def daemon_children(pid):
    """The pids of strace's tracee (the daemon itself)."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


@test
def tenant_hostile_files_are_refused():
    """A tenant's FIFO, link out of its root and swapped executable: the daemon never blocks,
    never opens the host file (inotify on it, and strace of every openat/openat2), counts each
    refusal by reason, and keeps draining and answering."""
    if not shutil.which("strace") or not shutil.which("unshare"):
        return skip_dep("strace or unshare missing (deploy/setup-debian.sh installs them)")
    tmp = tempfile.mkdtemp(prefix="allocscope-tenant-")
    root = os.path.join(tmp, "root")
    host_secret = os.path.join(tmp, "host-secret.so")
    procs = []
    ok = True
    notify = None
    try:
        src = os.path.join(tmp, "src")
        os.makedirs(src)
        with open(os.path.join(src, "lib.c"), "w") as f:
            f.write(VICTIM_LIB)
        with open(os.path.join(src, "secret.c"), "w") as f:
            f.write(VICTIM_LIB.replace("victim_alloc", "host_secret_function"))
        with open(os.path.join(src, "victim.c"), "w") as f:
            f.write(VICTIM)
        cflags = ["-O1", "-g", "-fno-omit-frame-pointer"]
        os.makedirs(root + "/opt/lib")
        run("cc", *cflags, "-shared", "-fPIC", "-o", root + "/opt/lib/libvictim.so",
            os.path.join(src, "lib.c"))
        run("cc", *cflags, "-shared", "-fPIC", "-o", host_secret, os.path.join(src, "secret.c"))
        victim = os.path.join(src, "victim")
        run("cc", *cflags, "-o", victim, os.path.join(src, "victim.c"),
            "-L" + root + "/opt/lib", "-lvictim", "-Wl,-rpath,/opt/lib")
        copy_with_libs(victim, root, "/victim")
        # What the tenant covers its files with, once running.
        os.makedirs(root + "/evil/lib")
        os.mkfifo(root + "/evil/fifo")
        os.symlink(host_secret, root + "/evil/lib/libvictim.so")
        shutil.copy2(root + "/victim", root + "/evil/victim")
        os.makedirs(root + "/old")

        notify = Inotify(host_secret)
        trace = os.path.join(tmp, "strace.log")
        strace = subprocess.Popen(
            ["strace", "-f", "-qq", "-e", "trace=openat,openat2", "-o", trace, ALLOCSCOPED,
             "--listen", "127.0.0.1:0", "--comm", "victim", "--interval", "0.5", "--rate", "1"],
            stderr=subprocess.PIPE, text=True,
            # LeakSanitizer cannot run under ptrace (make test-asan): leaks are the rest of the
            # suite's to find.
            env=dict(os.environ,
                     ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0"))
        procs.append(strace)
        seen = wait_for_line(strace.stderr, "serving on", timeout=120)
        base = "http://127.0.0.1:%s" % re.search(r"\(port (\d+)\)", seen).group(1)

        # Its own mount namespace and root, as a container runtime makes them.
        v = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             "mount --bind %s %s && cd %s && pivot_root . old && exec /victim" %
             (root, root, root)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(v)
        wait_for_line(v.stdout, "ready")
        deadline = time.time() + 60
        while time.time() < deadline:
            status, body = get(base, "/debug/pprof/")
            if ("pid=%d\"" % v.pid).encode() in body:
                break
            time.sleep(0.2)
        else:
            return fail("the tenant (pid %d) is not watched" % v.pid)
        v.stdin.write("alloc\n")
        v.stdin.flush()
        wait_for_line(v.stdout, "ready")

        v.stdin.write("hostile\n")
        v.stdin.flush()
        line = wait_for_line(v.stdout, "ready", timeout=10)
        v.stdin.write("fork\n")
        v.stdin.flush()
        child = int(re.search(r"child (\d+)", wait_for_line(v.stdout, "child")).group(1))
        procs.append(child)

        # Each covered file refused once the daemon tries the child's.
        want = ("not_regular", "link", "mismatch")
        deadline = time.time() + 60
        refused = {}
        while time.time() < deadline:
            status, body = get(base, "/metrics", timeout=10)
            if status is None:
                return fail("the daemon stopped answering: %s" % body.decode())
            text = body.decode()
            refused = {r: metric(text, "allocscope_target_files_refused_total", reason=r)
                       for r in want}
            if all(refused[r] for r in want):
                break
            time.sleep(0.3)
        for r in want:
            ok &= check(refused.get(r), "a refusal counted as %s (got %r)" % (r, refused))
        print("    refused: %r" % refused)

        # Still draining and answering: more drains, a healthy /healthz, the tenant's first
        # process still profiled with its own names.
        drains = metric(text, "allocscope_drains_total")
        v.stdin.write("alloc\n")
        v.stdin.flush()
        wait_for_line(v.stdout, "ready")
        time.sleep(1.5)
        status, body = get(base, "/metrics")
        ok &= check(status == 200 and metric(body.decode(), "allocscope_drains_total") > drains,
                    "drains go on")
        status, body = get(base, "/healthz")
        ok &= check_eq((status, body.strip()), (200, b"ok"), "/healthz")
        status, body = get(base, "/debug/pprof/heap?pid=%d" % v.pid)
        ok &= check_eq(status, 200, "the tenant's profile")
        if status == 200:
            path = os.path.join(tmp, "v.pb.gz")
            with open(path, "wb") as f:
                f.write(body)
            p = pprof_raw.read(path)
            names = {fn for s in p.samples for fn in s["stack"]}
            ok &= check("victim_alloc" in names, "victim_alloc among the frames: %s" %
                        sorted(names)[:10])
            ok &= check("host_secret_function" not in names, "no name from the host file")

        ok &= check_eq(notify.events(), [], "inotify events on the host file")
        with open(trace) as f:
            log = f.read()
        ok &= check(host_secret not in log, "the host file's path never in an open call")
        # Kernels before 5.6 have no openat2: the daemon walks the path itself there.
        if tuple(int(x) for x in re.findall(r"\d+", os.uname().release)[:2]) >= (5, 6):
            ok &= check(re.search(r'openat2\(\d+, "/opt/lib/libvictim.so", \{[^}]*'
                                  r'RESOLVE_IN_ROOT[^)]*\) = -1 ELOOP', log) is not None,
                        "libvictim.so looked up with openat2(RESOLVE_IN_ROOT) and refused")
    finally:
        for p in procs:
            if isinstance(p, int):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for p in procs[1:]:
            if not isinstance(p, int) and p.poll() is None:
                p.kill()
                p.wait()
        if procs:
            # A daemon stuck in open() on the FIFO has its signals blocked (signalfd): SIGKILL.
            daemons = daemon_children(procs[0].pid)
            for pid in daemons:
                os.kill(pid, signal.SIGTERM)
            try:
                procs[0].wait(timeout=20)
            except subprocess.TimeoutExpired:
                for pid in daemons:
                    os.kill(pid, signal.SIGKILL)
                procs[0].kill()
                procs[0].wait()
        if notify:
            notify.close()
        subprocess.run(["umount", "-l", root], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return ok


def as_user(user, cmd, home, timeout=120):
    env = {"HOME": home, "PATH": os.environ["PATH"], "GOCACHE": home + "/cache",
           "GOPATH": home + "/go", "GOFLAGS": "-mod=mod"}
    return subprocess.run(cmd, user=user.pw_uid, group=user.pw_gid, extra_groups=[],
                          env=env, cwd=home, capture_output=True, text=True, timeout=timeout)


GET_STATUS = ("import sys, urllib.request, urllib.error\n"
              "try:\n"
              "    r = urllib.request.urlopen(sys.argv[1], timeout=30); b = r.read(); s = r.status\n"
              "except urllib.error.HTTPError as e:\n"
              "    s, b = e.code, e.read()\n"
              "print(s); sys.stdout.write(b.decode(errors='replace'))\n")


@test
def tenant_loopback_users_read_their_own():
    """An unprivileged user (made by the test) over loopback: go tool pprof reads its own
    process's profile with the pattern's exact counts, root's pid is a 403, the index and
    /metrics show only its own; root reads both."""
    name = "asc%d" % os.getpid()
    tmp = tempfile.mkdtemp(prefix="allocscope-users-")
    os.chmod(tmp, 0o755)
    created = False
    procs = []
    ok = True
    try:
        r = subprocess.run(["useradd", "-M", "-N", "-s", "/bin/false", name],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return fail("useradd: %s" % r.stderr.strip())
        created = True
        user = pwd.getpwnam(name)
        home = os.path.join(tmp, "home")
        os.makedirs(home)
        os.chown(home, user.pw_uid, user.pw_gid)
        pattern = os.path.join(tmp, "alloc_pattern")
        shutil.copy2(PATTERN, pattern)
        os.chmod(pattern, 0o755)

        mine = subprocess.Popen([pattern, "--wait"], user=user.pw_uid, group=user.pw_gid,
                                extra_groups=[], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        procs.append(mine)
        wait_for_line(mine.stdout, "ready")
        roots = Target()
        procs.append(roots.proc)
        d = subprocess.Popen([ALLOCSCOPED, "--listen", "127.0.0.1:0", "--pid", str(mine.pid),
                              "--pid", str(roots.pid), "--interval", "0.5", "--rate", "1"],
                             stderr=subprocess.PIPE, text=True)
        procs.insert(0, d)
        seen = wait_for_line(d.stderr, "serving on", timeout=120)
        base = "http://127.0.0.1:%s" % re.search(r"\(port (\d+)\)", seen).group(1)
        mine.stdin.write("go\n")
        mine.stdin.flush()
        wait_for_line(mine.stdout, "ready")
        roots.go()
        time.sleep(1.2)

        url_mine = base + "/debug/pprof/heap?pid=%d" % mine.pid
        url_root = base + "/debug/pprof/heap?pid=%d" % roots.pid
        r = as_user(user, ["go", "tool", "pprof", "-raw", "-symbolize=none", url_mine], home)
        ok &= check_eq(r.returncode, 0, "go tool pprof as the user, own pid (%s)" %
                       r.stderr.strip()[-300:])
        if r.returncode == 0:
            sites = expected.by_site(pprof_raw.parse(r.stdout))
            for key, want in expected.PATTERN.items():
                ok &= check_eq(sites.get(key), want, "the user's heap: %s via %s" % key)
        r = as_user(user, ["python3", "-c", GET_STATUS, url_root], home)
        ok &= check_eq(r.stdout.split("\n", 1)[0], "403", "root's pid, asked by the user")
        r = as_user(user, ["python3", "-c", GET_STATUS, base + "/debug/pprof/"], home)
        ok &= check("pid=%d\"" % mine.pid in r.stdout and "pid=%d\"" % roots.pid not in r.stdout,
                    "the index lists the user's process only")
        r = as_user(user, ["python3", "-c", GET_STATUS, base + "/metrics"], home)
        ok &= check('pid="%d"' % mine.pid in r.stdout and 'pid="%d"' % roots.pid not in r.stdout,
                    "/metrics shows the user's process only")
        r = as_user(user, ["python3", "-c", GET_STATUS, base + "/debug/pprof/heap"], home)
        ok &= check(r.stdout.startswith("200"), "all targets, for the user: its own")

        for pid in (mine.pid, roots.pid):
            status, _ = get(base, "/debug/pprof/heap?pid=%d" % pid)
            ok &= check_eq(status, 200, "root reads pid %d" % pid)
        # Once exited, the user's process stays the user's.
        mine.stdin.write("go\n")
        mine.stdin.flush()
        mine.wait(timeout=10)
        time.sleep(1.2)
        r = as_user(user, ["python3", "-c", GET_STATUS, url_mine], home)
        ok &= check_eq(r.stdout.split("\n", 1)[0], "200", "the user's exited process")
    finally:
        for p in procs[1:]:
            if p.poll() is None:
                p.kill()
            p.wait()
        if procs:
            procs[0].send_signal(signal.SIGTERM)
            try:
                procs[0].wait(timeout=20)
            except subprocess.TimeoutExpired:
                procs[0].kill()
                procs[0].wait()
        if created:
            subprocess.run(["userdel", name], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return ok
