# SPDX-License-Identifier: MIT
"""Heap snapshots end to end: a real OOM kill in a memory cgroup with a limit, POST /snapshot,
the snapshot directory across a restart and an unwritable one. Every snapshot profile is read
by go tool pprof."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pprof_raw
from harness import BUILD, check, check_eq, fail, skip, test
from test_daemon import Daemon, metric
from test_record import wait_for_line

OOM_LEAK = os.path.join(BUILD, "tests", "targets", "oom_leak")
ALLOCSCOPE = os.path.join(BUILD, "allocscope")
GOOOM = os.path.join(BUILD, "tests", "targets", "go", "gooom")
MEMCG_V1 = "/sys/fs/cgroup/memory"
MIB = 1 << 20
# Rate far below the 1 MiB blocks: every leak_site block is sampled, the bytes are exact.
RATE = "64k"


def post(daemon, path):
    req = urllib.request.Request(daemon.base + path, data=b"", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def site_inuse(profile, fn):
    """inuse_space of the samples whose stack has fn, and of all samples."""
    total = sum(profile.value(s, "inuse_space") for s in profile.samples)
    mine = sum(profile.value(s, "inuse_space") for s in profile.samples if fn in s["stack"])
    return mine, total


def top_inuse_site(profile):
    """The function that called the allocator (the leaf: the allocator's frames are gone, the
    allocator label names it) with the most inuse_space: what `go tool pprof -top` lists
    first."""
    sums = {}
    for s in profile.samples:
        if s["stack"] and s["labels"].get("allocator"):
            site = s["stack"][0]
            sums[site] = sums.get(site, 0) + profile.value(s, "inuse_space")
    return max(sums, key=sums.get) if sums else None


def near(got, want, what, slack=64):
    """Exact but for the rounding of unsampling (1 MiB blocks at a 64k rate: p = 1 - e^-16)."""
    return check(abs(got - want) <= slack, "%s: got %d, want %d" % (what, got, want))


def fetch_snapshot_profile(daemon, sid):
    status, body = daemon.get("/debug/pprof/heap?snapshot=" + sid)
    check_eq(status, 200, "GET /debug/pprof/heap?snapshot=%s" % sid)
    f = tempfile.NamedTemporaryFile(suffix=".pb.gz", delete=False)
    f.write(body)
    f.close()
    try:
        return pprof_raw.read(f.name)
    finally:
        os.unlink(f.name)


def wait_snapshot(daemon, pid, trigger, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, body = daemon.get("/snapshots")
        if status == 200:
            for s in json.loads(body):
                if s["pid"] == pid and s["trigger"] == trigger:
                    return s
        time.sleep(0.2)
    return fail("no %s snapshot of pid %d within %ds" % (trigger, pid, timeout))


class Memcg:
    """A child of the v1 memory controller with a limit, removed at the end."""

    def __init__(self, limit_bytes):
        self.path = os.path.join(MEMCG_V1, "allocscope-test-%d" % os.getpid())
        os.mkdir(self.path)
        with open(os.path.join(self.path, "memory.limit_in_bytes"), "w") as f:
            f.write(str(limit_bytes))
        swap = os.path.join(self.path, "memory.memsw.limit_in_bytes")
        if os.path.exists(swap):
            with open(swap, "w") as f:
                f.write(str(limit_bytes))

    def add(self, pid):
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write(str(pid))

    def remove(self):
        deadline = time.time() + 10
        while os.path.exists(self.path) and time.time() < deadline:
            try:
                os.rmdir(self.path)
            except OSError:
                time.sleep(0.1)


def top_site_of(profile, functions):
    """Of functions, the one with the most inuse_space, each sample counted for the first of
    them on its stack (leaf first)."""
    sums = {}
    for s in profile.samples:
        site = next((fn for fn in s["stack"] if fn in functions), None)
        if site:
            sums[site] = sums.get(site, 0) + profile.value(s, "inuse_space")
    return max(sums, key=sums.get) if sums else None


def oom_case(argv, site, functions, slack=64):
    """argv leaks from site in a 64 MiB memory cgroup until the kernel OOM-kills it: the
    snapshot exists afterwards, records the trigger oom, and names site first in inuse_space
    with at least 80% of the bytes and about the limit's worth of them."""
    if not os.path.isdir(MEMCG_V1):
        return skip("no cgroup v1 memory controller at %s" % MEMCG_V1)
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return skip("no kernel BTF: no oom/mark_victim tracepoint")
    limit = 64 * MIB
    cg = Memcg(limit)
    target = daemon = None
    ok = True
    try:
        target = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)
        wait_for_line(target.stdout, "ready")
        cg.add(target.pid)
        daemon = Daemon("--pid", str(target.pid), "--rate", RATE, "--interval", "1",
                        "--snapshot-on", "oom")
        if "no OOM snapshots" in daemon.log:
            return skip("the daemon has no OOM trigger here: " + daemon.log)
        daemon.wait_watching(target.pid)
        target.stdin.write("go\n")
        target.stdin.flush()
        rc = target.wait(timeout=120)
        ok &= check_eq(rc, -9, "the target's exit (killed by SIGKILL)")
        with open(os.path.join(cg.path, "memory.oom_control")) as f:
            ok &= check("oom_kill 1" in f.read(), "the cgroup counted one OOM kill")
        snap = wait_snapshot(daemon, target.pid, "oom")
        if not snap:
            return False
        ok &= check_eq(snap["executable"], os.path.realpath(argv[0]), "executable")
        ok &= check("OOM killer" in snap["detail"],
                    "detail names the OOM killer: %s" % snap["detail"])
        ok &= check(snap["cgroup"]["limit_bytes"] == limit,
                    "the cgroup's limit recorded: %s" % snap["cgroup"])
        # The kernel's own figure when it chose the victim (from the OOM event): the process
        # held the memory then. The cgroup's figures are read when the snapshot is built, which
        # can be after the OOM reaper gave the victim's memory back (seen in a CI run: 208 KiB).
        m = re.search(r"rss (\d+) kB", snap["detail"])
        ok &= check(m and int(m.group(1)) * 1024 >= limit // 2,
                    "the victim's RSS when the OOM killer chose it: %s" % snap["detail"])
        profile = fetch_snapshot_profile(daemon, snap["id"])
        leak, total = site_inuse(profile, site)
        ok &= check_eq(top_site_of(profile, functions), site, "first function in inuse_space")
        ok &= check(leak >= 0.8 * total, "%s holds %d of %d in-use bytes" % (site, leak, total))
        # Killed near the limit: everything site touched, less what did not fit.
        ok &= check(limit // 2 <= leak <= limit + 8 * MIB,
                    "%s in use %d bytes, limit %d" % (site, leak, limit))
        blocks = round(leak / MIB)
        ok &= near(leak, blocks * MIB, "%s bytes are whole 1 MiB blocks" % site, slack)
        text = daemon.get("/metrics")[1].decode()
        ok &= check_eq(metric(text, "allocscope_snapshots_total", trigger="oom"), 1.0,
                       "allocscope_snapshots_total{trigger=oom}")
        one = json.loads(daemon.get("/snapshots/" + snap["id"])[1])
        ok &= check(one["timeline"] is not None and len(one["timeline"]) > 0,
                    "the snapshot keeps the timeline before it")
        return ok
    finally:
        if target and target.poll() is None:
            target.kill()
            target.wait()
        if daemon:
            daemon.stop()
        cg.remove()


@test
def snapshot_oom_kill():
    """A C target OOM-killed in its memory cgroup: leak_site's snapshot (oom_case)."""
    return oom_case([OOM_LEAK], "leak_site", ["leak_site", "other_site", "main"])


@test
def snapshot_oom_kill_go():
    """A Go target OOM-killed in its memory cgroup: main.leakSite's snapshot (oom_case)."""
    # The Go runtime samples, now and then, a small allocation of its own under leakSite's
    # frame (one of ~430 bytes seen, unsampled at 64k to 65,751 bytes): whole blocks give or
    # take one such sample, still far below a block.
    return oom_case([GOOOM], "main.leakSite", ["main.leakSite", "main.main"],
                    slack=64 * 1024 + 4096)


def run_hold_target():
    target = subprocess.Popen([OOM_LEAK, "--hold"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    wait_for_line(target.stdout, "ready")
    return target


@test
def snapshot_post_request():
    """POST /snapshot?pid=N takes a snapshot (32 MiB held by leak_site, exact at this rate),
    listed at /snapshots and served as pprof; the directory lists it again after a restart;
    GET /snapshot, unknown IDs and pids are refused."""
    tmp = tempfile.mkdtemp(prefix="allocscope-snap-")
    target = daemon = None
    ok = True
    try:
        target = run_hold_target()
        daemon = Daemon("--pid", str(target.pid), "--rate", RATE, "--snapshot-on", "none",
                        "--snapshot-dir", tmp)
        daemon.wait_watching(target.pid)
        target.stdin.write("go\n")
        target.stdin.flush()
        wait_for_line(target.stdout, "held")
        status, body = post(daemon, "/snapshot?pid=%d" % target.pid)
        ok &= check_eq(status, 200, "POST /snapshot: %s" % body[:200])
        snap = json.loads(body)
        for key in ("id", "pid", "executable", "trigger", "time"):
            ok &= check(key in snap, "the snapshot has %s" % key)
        ok &= check_eq(snap["trigger"], "request", "trigger")
        ok &= check_eq(snap["pid"], target.pid, "pid")
        listed = json.loads(daemon.get("/snapshots")[1])
        ok &= check_eq([s["id"] for s in listed], [snap["id"]], "/snapshots")
        profile = fetch_snapshot_profile(daemon, snap["id"])
        leak, _ = site_inuse(profile, "leak_site")
        ok &= near(leak, 32 * MIB, "leak_site inuse_space")
        ok &= check_eq(profile.default_type, "inuse_space", "default sample type")
        ok &= check_eq(sorted(t for t, _ in profile.sample_types),
                 ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"],
                 "sample types")
        files = sorted(os.listdir(tmp))
        ok &= check_eq(files, [snap["id"] + ".json", snap["id"] + ".pb.gz"], "files in the directory")
        ok &= check_eq(post(daemon, "/snapshot?pid=1")[0], 404, "POST /snapshot of a non-target")
        ok &= check_eq(post(daemon, "/snapshot")[0], 400, "POST /snapshot without pid")
        ok &= check_eq(daemon.get("/snapshot?pid=%d" % target.pid)[0], 405, "GET /snapshot")
        ok &= check_eq(daemon.get("/snapshots/1-2-request")[0], 404, "an unknown snapshot")
        ok &= check_eq(daemon.get("/debug/pprof/heap?snapshot=../x")[0], 400, "a malformed ID")
        ok &= check_eq(daemon.get("/debug/pprof/heap?snapshot=%s&pid=1" % snap["id"])[0], 400,
                 "snapshot with pid")
        text = daemon.get("/metrics")[1].decode()
        ok &= check_eq(metric(text, "allocscope_snapshots_total", trigger="request"), 1.0,
                 "allocscope_snapshots_total{trigger=request}")
        ok &= check_eq(metric(text, "allocscope_snapshots_on_disk"), 1.0, "on disk")
        daemon.stop()
        target.stdin.write("end\n")
        target.stdin.flush()
        target.wait(timeout=10)

        # A restart lists it again, and serves its profile though the process is gone.
        daemon = Daemon("--snapshot-dir", tmp)
        listed = json.loads(daemon.get("/snapshots")[1])
        ok &= check_eq([s["id"] for s in listed], [snap["id"]], "/snapshots after a restart")
        profile = fetch_snapshot_profile(daemon, snap["id"])
        ok &= near(site_inuse(profile, "leak_site")[0], 32 * MIB, "leak_site after a restart")
        return ok
    finally:
        if target and target.poll() is None:
            target.kill()
            target.wait()
        if daemon:
            daemon.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@test
def snapshot_dir_unwritable():
    """An unwritable --snapshot-dir is reported and counted, never fatal: the snapshot is kept in
    memory and served."""
    target = daemon = None
    ok = True
    try:
        target = run_hold_target()
        daemon = Daemon("--pid", str(target.pid), "--rate", RATE, "--snapshot-on", "none",
                        "--snapshot-dir", "/proc/allocscope-no-such-dir")
        daemon.wait_watching(target.pid)
        target.stdin.write("go\n")
        target.stdin.flush()
        wait_for_line(target.stdout, "held")
        out = os.path.join(tempfile.gettempdir(), "allocscope-snap-%d.pb.gz" % os.getpid())
        r = subprocess.run([ALLOCSCOPE, "snapshot", "--daemon", daemon.base, "--pid",
                            str(target.pid), "-o", out], capture_output=True, text=True,
                           timeout=60)
        ok &= check_eq(r.returncode, 0, "allocscope snapshot: %s" % r.stderr)
        snap = json.loads(r.stdout)
        ok &= check_eq(snap["trigger"], "request", "trigger")
        profile = fetch_snapshot_profile(daemon, snap["id"])
        ok &= near(site_inuse(profile, "leak_site")[0], 32 * MIB, "leak_site inuse_space")
        saved = pprof_raw.read(out)
        os.unlink(out)
        ok &= near(site_inuse(saved, "leak_site")[0], 32 * MIB, "the profile snapshot -o wrote")
        text = daemon.get("/metrics")[1].decode()
        ok &= check_eq(metric(text, "allocscope_snapshot_write_failures_total"), 1.0,
                 "write failures counted")
        ok &= check(daemon.proc.poll() is None, "the daemon still runs")
        return ok
    finally:
        if target and target.poll() is None:
            target.kill()
            target.wait()
        if daemon:
            daemon.stop()


def drains(daemon):
    return metric(daemon.get("/metrics")[1].decode(), "allocscope_drains_total") or 0


@test
def snapshot_limit_cooldown():
    """A target fills its memory cgroup (32 MiB held in 40 MiB) without being killed: the limit
    trigger takes one snapshot with the cgroup's figures, and the cooldown holds over the drains
    after it (one snapshot, not one per drain)."""
    if not os.path.isdir(MEMCG_V1):
        return skip("no cgroup v1 memory controller at %s" % MEMCG_V1)
    limit = 40 * MIB
    cg = Memcg(limit)
    target = daemon = None
    ok = True
    try:
        target = run_hold_target()
        cg.add(target.pid)
        daemon = Daemon("--pid", str(target.pid), "--rate", RATE, "--interval", "0.5",
                        "--snapshot-on", "limit", "--snapshot-limit-ratio", "0.8")
        daemon.wait_watching(target.pid)
        target.stdin.write("go\n")
        target.stdin.flush()
        wait_for_line(target.stdout, "held")
        snap = wait_snapshot(daemon, target.pid, "limit")
        if not snap:
            return False
        ok &= check(snap["cgroup"]["limit_bytes"] == limit and
                    snap["cgroup"]["usage_bytes"] >= 0.8 * limit,
                    "the cgroup's figures: %s" % snap["cgroup"])
        ok &= check(snap["cgroup"]["anon_bytes"] >= 32 * MIB, "anon: %s" % snap["cgroup"])
        profile = fetch_snapshot_profile(daemon, snap["id"])
        ok &= near(site_inuse(profile, "leak_site")[0], 32 * MIB, "leak_site inuse_space")
        # Five more drains: the trigger still holds, the cooldown (300 s) keeps it to one.
        start = drains(daemon)
        deadline = time.time() + 60
        while drains(daemon) < start + 5 and time.time() < deadline:
            time.sleep(0.2)
        listed = [s for s in json.loads(daemon.get("/snapshots")[1]) if s["trigger"] == "limit"]
        ok &= check_eq(len(listed), 1, "limit snapshots")
        text = daemon.get("/metrics")[1].decode()
        ok &= check((metric(text, "allocscope_snapshots_suppressed_total") or 0) >= 4,
                    "suppressed by the cooldown counted")
        return ok
    finally:
        if target and target.poll() is None:
            target.kill()
            target.wait()
        if daemon:
            daemon.stop()
        cg.remove()


def growth_bytes(text, pid, function):
    return metric(text, "allocscope_site_inuse_growth_bytes", pid=str(pid), function=function)


@test
def snapshot_growth():
    """A steady target (32 MiB allocated once, then held) and a leaking one (from a few MiB to
    32 MiB in 3 s): the growth trigger (+100% over a 1 s window) snapshots the leaking one and
    not the steady one; /metrics shows the leaking one's growth ratio and leak_site among its
    growing functions, and neither for the steady one; promtool accepts the exposition."""
    target = steady = daemon = None
    ok = True
    try:
        target = subprocess.Popen([OOM_LEAK, "--slow"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        wait_for_line(target.stdout, "ready")
        steady = run_hold_target()
        daemon = Daemon("--pid", str(target.pid), "--pid", str(steady.pid), "--rate", RATE,
                        "--interval", "0.25", "--snapshot-on", "growth", "--snapshot-growth", "1",
                        "--snapshot-growth-window", "1", "--snapshot-growth-min", "2m")
        daemon.wait_watching(target.pid)
        daemon.wait_watching(steady.pid)
        # The steady one's allocation is seen, then held for more than a window: not growth.
        steady.stdin.write("go\n")
        steady.stdin.flush()
        wait_for_line(steady.stdout, "held")
        start = drains(daemon)
        deadline = time.time() + 60
        while drains(daemon) < start + 8 and time.time() < deadline:
            time.sleep(0.1)
        steady_before = [s["id"] for s in json.loads(daemon.get("/snapshots")[1])
                         if s["pid"] == steady.pid]
        target.stdin.write("go\n")
        target.stdin.flush()
        snap = wait_snapshot(daemon, target.pid, "growth")
        if not snap:
            return False
        text = daemon.get("/metrics")[1].decode()
        ok &= check("grew by" in snap["detail"], "detail: %s" % snap["detail"])
        profile = fetch_snapshot_profile(daemon, snap["id"])
        ok &= check_eq(top_inuse_site(profile), "leak_site", "first function in inuse_space")
        grew = metric(text, "allocscope_target_inuse_growth_ratio", pid=str(target.pid))
        ok &= check(grew is not None and grew > 1, "growth ratio of the leaking target: %s" % grew)
        leak = growth_bytes(text, target.pid, "leak_site")
        ok &= check(leak is not None and leak >= 2 * MIB,
                    "leak_site's in-use growth over the window: %s" % leak)
        wait_for_line(target.stdout, "held")
        listed = json.loads(daemon.get("/snapshots")[1])
        # Its own burst may count as growth (from its first allocations); holding does not.
        ok &= check_eq([s["id"] for s in listed if s["pid"] == steady.pid], steady_before,
                       "snapshots of the steady target while it held")
        still = metric(text, "allocscope_target_inuse_growth_ratio", pid=str(steady.pid))
        ok &= check(still is not None and still < 0.05, "steady growth ratio: %s" % still)
        ok &= check(growth_bytes(text, steady.pid, "leak_site") is None,
                    "no growing function for the steady target")
        promtool = shutil.which("promtool")
        if not promtool:
            return fail("promtool not installed (deploy/setup-debian.sh installs it)")
        r = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           capture_output=True)
        ok &= check_eq(r.returncode, 0, "promtool check metrics: %s" % (r.stdout + r.stderr))
        return ok
    finally:
        for p in (target, steady):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        if daemon:
            daemon.stop()


@test
def snapshot_auth():
    """With --auth-token-file, POST /snapshot and the snapshot endpoints need the token as the
    profile endpoints do; allocscope snapshot --auth-token-file sends it."""
    tmp = tempfile.mkdtemp(prefix="allocscope-snap-auth-")
    token = os.path.join(tmp, "token")
    with open(token, "w") as f:
        f.write("s3cret-token-0123456789abcdef\n")
    target = daemon = None
    ok = True
    try:
        target = run_hold_target()
        daemon = Daemon("--pid", str(target.pid), "--rate", RATE, "--snapshot-on", "none",
                        "--auth-token-file", token)
        ok &= check_eq(post(daemon, "/snapshot?pid=%d" % target.pid)[0], 401,
                       "POST /snapshot without the token")
        ok &= check_eq(daemon.get("/snapshots")[0], 401, "GET /snapshots without the token")
        ok &= check_eq(daemon.get("/debug/pprof/heap?snapshot=1-2-oom")[0], 401,
                       "a snapshot's profile without the token")
        target.stdin.write("go\n")
        target.stdin.flush()
        wait_for_line(target.stdout, "held")
        base = [ALLOCSCOPE, "snapshot", "--daemon", daemon.base]
        r = subprocess.run(base + ["--pid", str(target.pid)], capture_output=True, text=True,
                           timeout=60)
        ok &= check(r.returncode != 0 and "401" in r.stderr,
                    "the CLI without the token: %d %s" % (r.returncode, r.stderr))
        r = subprocess.run(base + ["--auth-token-file", token, "--pid", str(target.pid)],
                           capture_output=True, text=True, timeout=60)
        ok &= check_eq(r.returncode, 0, "the CLI with the token: %s" % r.stderr)
        if r.returncode:
            return False
        sid = json.loads(r.stdout)["id"]
        out = os.path.join(tmp, "heap.pb.gz")
        r = subprocess.run(base + ["--auth-token-file", token, "--get", sid, "-o", out],
                           capture_output=True, text=True, timeout=60)
        ok &= check_eq(r.returncode, 0, "snapshot --get: %s" % r.stderr)
        ok &= near(site_inuse(pprof_raw.read(out), "leak_site")[0], 32 * MIB,
                   "leak_site in the saved profile")
        r = subprocess.run(base + ["--auth-token-file", token, "--list"], capture_output=True,
                           text=True, timeout=60)
        ok &= check_eq([s["id"] for s in json.loads(r.stdout)], [sid], "snapshot --list")
        r = subprocess.run([ALLOCSCOPE, "snapshot", "--list", "--pid", "1"],
                           capture_output=True, text=True, timeout=60)
        ok &= check_eq(r.returncode, 2, "--list with --pid is a usage error")
        return ok
    finally:
        if target and target.poll() is None:
            target.kill()
            target.wait()
        if daemon:
            daemon.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@test
def snapshot_pushed():
    """With --push, a snapshot goes to the Pyroscope-style ingest endpoint as an application of
    its own (<executable>.heap_snapshot) labelled with its trigger and ID; go tool pprof reads
    the body: leak_site's 32 MiB."""
    import http.server
    import threading
    import urllib.parse

    got = []

    class Ingest(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            got.append((self.path, body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Ingest)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    target = daemon = None
    ok = True
    try:
        target = run_hold_target()
        daemon = Daemon("--pid", str(target.pid), "--rate", RATE, "--interval", "0.5",
                        "--snapshot-on", "none", "--push", "http://127.0.0.1:%d" % srv.server_port)
        target.stdin.write("go\n")
        target.stdin.flush()
        wait_for_line(target.stdout, "held")
        status, body = post(daemon, "/snapshot?pid=%d" % target.pid)
        if not check_eq(status, 200, "POST /snapshot"):
            return False
        sid = json.loads(body)["id"]
        pushed = None
        deadline = time.time() + 30
        while not pushed and time.time() < deadline:
            for path, body in list(got):
                q = urllib.parse.parse_qs(urllib.parse.urlparse(path).query)
                name = q.get("name", [""])[0]
                if name.startswith("oom_leak.heap_snapshot{"):
                    pushed = (name, body)
            time.sleep(0.2)
        if not check(pushed, "the snapshot was pushed"):
            return False
        name, body = pushed
        ok &= check("trigger=request" in name and "snapshot=%s" % sid in name and
                    "pid=%d" % target.pid in name, "labels: %s" % name)
        f = tempfile.NamedTemporaryFile(suffix=".pb.gz", delete=False)
        f.write(body)
        f.close()
        ok &= near(site_inuse(pprof_raw.read(f.name), "leak_site")[0], 32 * MIB,
                   "leak_site in the pushed profile")
        os.unlink(f.name)
        return ok
    finally:
        if target and target.poll() is None:
            target.kill()
            target.wait()
        if daemon:
            daemon.stop()
        srv.shutdown()
