# SPDX-License-Identifier: MIT
"""allocscoped --push against a receiver that applies Pyroscope's acceptance rules
(pyroscope_receiver.py): absolute in-use, alloc totals equal to the daemon's own, one series
per service under churn, tenant and credentials, and a receiver that hangs, fails and resets
without delaying a drain."""
import os
import re
import stat
import subprocess
import tempfile
import time

import pprof_raw
from harness import BUILD, check, check_eq, fail, skip_dep, test
from pyroscope_receiver import Receiver, total
from test_daemon import Daemon, metric
from test_record import wait_for_line

WAVE = os.path.join(BUILD, "tests", "targets", "wave")
TOPLOAD = os.path.join(BUILD, "tests", "targets", "topload")


class Wave:
    """tests/targets/wave: each go() runs a round (odd: 200 x 1000 B held, even: 50)."""

    def __init__(self):
        self.proc = subprocess.Popen([WAVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        wait_for_line(self.proc.stdout, "ready")
        self.pid = self.proc.pid

    def go(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        wait_for_line(self.proc.stdout, "ready")

    def end(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)


def secret_file(text):
    f = tempfile.NamedTemporaryFile("w", suffix=".auth", delete=False)
    f.write(text)
    f.close()
    os.chmod(f.name, stat.S_IRUSR | stat.S_IWUSR)
    return f.name


def metrics(d):
    status, body = d.get("/metrics")
    return body.decode() if status == 200 else ""


def wait_drains(d, n, timeout=30):
    """Until n more drains than now have happened."""
    start = metric(metrics(d), "allocscope_drains_total") or 0
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (metric(metrics(d), "allocscope_drains_total") or 0) >= start + n:
            return True
        time.sleep(0.05)
    return fail("%d drains did not happen within %ds" % (n, timeout))


def stop_and_log(d):
    d.stop()
    return d.log + d.proc.stderr.read()


@test
def push_absolute_inuse_alloc_totals_tenant_basic():
    """A target whose in-use on one stack goes up and down (tests/targets/wave): Pyroscope's
    rules drop no sample (none negative, none all zero), the alloc totals received equal the
    daemon's own for the same process, each push's in-use is the absolute value after the
    last round; X-Scope-OrgID and basic auth are sent, the password never logged."""
    rcv = Receiver(tenant="team-a", basic="alice:s3cret-basic")
    auth = secret_file("basic alice:s3cret-basic\n")
    t = Wave()
    d = Daemon("--pid", str(t.pid), "--interval", "0.5", "--rate", "1", "--push", rcv.url(),
               "--push-tenant", "team-a", "--push-auth-file", auth)
    ok = True
    inuse_after = []  # the wave's in-use after each round, to find in the pushes
    try:
        d.wait_watching(t.pid)
        for r in range(1, 7):
            t.go()
            inuse_after.append(200000 if r % 2 else 50000)
            wait_drains(d, 2)
        t.end()
        # The exit's interval is pushed once a drain has seen the process gone.
        wait_drains(d, 3)
        ok &= check(rcv.wait(lambda r: metric(metrics(d), "allocscope_push_queued") == 0, 30),
                    "the queue empties")
        own = d.profile("/debug/pprof/allocs?pid=%d" % t.pid)
    finally:
        t.end()
        log = stop_and_log(d)
        rcv.stop()
        os.unlink(auth)
    ok &= check_eq(rcv.refused, [], "requests refused (tenant, auth, pprof)")
    ok &= check_eq(rcv.negative_dropped, 0, "samples dropped for a negative value")
    ok &= check_eq(rcv.zero_dropped, 0, "samples dropped for being all zero")
    ok &= check(rcv.accepted, "pushes accepted")
    got_alloc = sum(total(e, "alloc_space") for e in rcv.accepted)
    got_objs = sum(total(e, "alloc_objects") for e in rcv.accepted)
    own_alloc = sum(own.value(s, "alloc_space") for s in own.samples)
    own_objs = sum(own.value(s, "alloc_objects") for s in own.samples)
    ok &= check_eq((got_objs, got_alloc), (own_objs, own_alloc),
                   "alloc objects and bytes received vs the daemon's own profile")
    wave_alloc = sum(total(e, "alloc_space", "wave_site") for e in rcv.accepted)
    ok &= check_eq(wave_alloc, 3 * 200000 + 3 * 50000, "wave_site's allocations, each once")
    # In-use is a gauge: each push says what the last round left, never a change.
    seen = [total(e, "inuse_space", "wave_site")
            for e in sorted(rcv.accepted, key=lambda e: e["time_nanos"])]
    seen = [v for i, v in enumerate(seen) if i == 0 or v != seen[i - 1]]
    ok &= check_eq([v for v in seen if v], inuse_after,
                   "wave_site's in-use as pushed, repeats removed")
    ok &= check(all(e["labels"].get("host") and "pid" not in e["labels"] and
                    e["app"] == "wave" for e in rcv.accepted),
                "service_name is the executable, no pid label: %r" % rcv.accepted[0]["labels"])
    ok &= check("s3cret-basic" not in log, "the password is never logged")
    return ok


@test
def push_churn_one_series_per_service():
    """Processes started and ended under one service push into one series, named by the
    config file's service_names rule; the config file's push_tenant and push_auth_file are
    sent."""
    rcv = Receiver(tenant="team-b", bearer="cfg-token")
    auth = secret_file("bearer cfg-token\n")
    cfg = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    cfg.write('{"exe": ["*/wave"], "service_names": [{"exe": "*/wave", '
              '"service_name": "checkout"}], "push_tenant": "team-b", '
              '"push_auth_file": "%s"}' % auth)
    cfg.close()
    d = Daemon("--config", cfg.name, "--interval", "0.3", "--rate", "1", "--push", rcv.url())
    pids = []
    ok = True
    try:
        for _ in range(4):
            t = Wave()
            pids.append(t.pid)
            d.wait_watching(t.pid)
            t.go()
            t.go()
            wait_drains(d, 2)
            t.end()
        wait_drains(d, 3)
        ok &= check(rcv.wait(lambda r: metric(metrics(d), "allocscope_push_queued") == 0, 30),
                    "the queue empties")
    finally:
        stop_and_log(d)
        rcv.stop()
        os.unlink(cfg.name)
        os.unlink(auth)
    ok &= check_eq(rcv.refused, [], "refused (tenant, token)")
    series = {e["series"] for e in rcv.accepted}
    ok &= check_eq(len(series), 1, "series for 4 processes of one service: %r" % series)
    ok &= check(all(dict(s).get("service_name") == "checkout" for s in series),
                "service_name from the config rule")
    wave_alloc = sum(total(e, "alloc_space", "wave_site") for e in rcv.accepted)
    ok &= check_eq(wave_alloc, 4 * (200000 + 50000), "every process's allocations arrived")
    return ok


def chain_gaps(entries):
    """How many pushes of one target do not start where the one before ended."""
    es = sorted(entries, key=lambda e: e["time_nanos"])
    return sum(1 for a, b in zip(es, es[1:])
               if b["time_nanos"] != a["time_nanos"] + a["duration_nanos"])


@test
def push_receiver_outage_never_delays_drains():
    """A receiver that hangs, then answers 500, then resets connections, then accepts: drains
    keep their interval throughout (from /metrics), every interval arrives once it accepts, in
    order and without a gap; the URL's and the auth file's secrets never reach the log."""
    rcv = Receiver(bearer="tok-s3cret")
    auth = secret_file("bearer tok-s3cret\n")
    rcv.mode = "hang"
    t = subprocess.Popen([TOPLOAD, "60"], stdout=subprocess.PIPE, text=True)
    wait_for_line(t.stdout, "ready")
    # No budget: a cycled target's 0.5 s intervals in its off-windows hold nothing, and an
    # interval with nothing to say is not pushed, which would read here as a lost one.
    d = Daemon("--pid", str(t.pid), "--interval", "0.5", "--push",
               rcv.url("user:url-s3cret"), "--push-auth-file", auth, "--push-timeout", "1.5",
               "--max-overhead", "off")
    ok = True
    try:
        d.wait_watching(t.pid)
        ok &= check(rcv.wait(lambda r: r.requests >= 1, 30), "a push reached the receiver")
        for mode, secs in (("hang", 3), ("500", 3), ("reset", 2)):
            rcv.mode = mode
            m0, t0 = metric(metrics(d), "allocscope_drains_total"), time.time()
            time.sleep(secs)
            m1, t1 = metric(metrics(d), "allocscope_drains_total"), time.time()
            want = (t1 - t0) / 0.5
            ok &= check(m1 - m0 >= want - 2, "receiver %s: %d drains in %.1fs (want ~%d)" % (
                mode, m1 - m0, t1 - t0, want))
        retried = metric(metrics(d), "allocscope_push_retries_total")
        ok &= check(retried and retried >= 3, "retries counted: %r" % retried)
        rcv.mode = "accept"
        # The backoff reached a few seconds during the outage.
        wait_drains(d, 2)
        ok &= check(rcv.wait(lambda r: metric(metrics(d), "allocscope_push_queued") == 0, 60),
                    "the queue empties once the receiver accepts")
        text = metrics(d)
        ok &= check_eq(metric(text, "allocscope_push_failures_total"), 0, "profiles dropped")
        ok &= check_eq(metric(text, "allocscope_pushes_total"), len(rcv.accepted),
                       "pushes counted vs received")
    finally:
        t.kill()
        t.wait()
        log = stop_and_log(d)
        rcv.stop()
        os.unlink(auth)
    ok &= check(len(rcv.accepted) >= 16, "%d intervals received" % len(rcv.accepted))
    ok &= check_eq(chain_gaps(rcv.accepted), 0, "intervals missing between pushes")
    ok &= check("url-s3cret" not in log and "tok-s3cret" not in log, "no secret in the log")
    ok &= check("http://127.0.0.1:%d" % rcv.port in log, "the URL is logged without them")
    # Once per kind of failure in a row (timeout, 500, reset), not once per try.
    fails = [line for line in log.splitlines() if "push to " in line]
    ok &= check(3 <= len(fails) <= 6, "failures logged once each: %r" % fails)
    print("    " + "\n    ".join(fails), flush=True)
    return ok


@test
def push_queue_overflow_and_bounded_flush():
    """--push-queue 2 against a receiver that hangs: the oldest profiles are dropped and
    counted, the drains go on, and SIGTERM exits within --push-timeout and a second or two even
    though the receiver never answers."""
    rcv = Receiver()
    rcv.mode = "hang"
    t = subprocess.Popen([TOPLOAD, "60"], stdout=subprocess.PIPE, text=True)
    wait_for_line(t.stdout, "ready")
    d = Daemon("--pid", str(t.pid), "--interval", "0.3", "--push", rcv.url(),
               "--push-queue", "2", "--push-timeout", "2")
    ok = True
    try:
        d.wait_watching(t.pid)
        wait_drains(d, 10)
        text = metrics(d)
        full = metric(text, "allocscope_push_dropped_total", reason="queue_full")
        ok &= check(full and full >= 3, "dropped over the queue bound: %r" % full)
        ok &= check(metric(text, "allocscope_push_queued") <= 3, "queued stays bounded")
        t0 = time.time()
        d.proc.send_signal(15)
        d.proc.wait(timeout=30)
        took = time.time() - t0
        ok &= check(took < 2 + 2.5, "exit took %.1fs with a hanging receiver" % took)
        ok &= check_eq(d.proc.returncode, 0, "exit status")
    finally:
        t.kill()
        t.wait()
        stop_and_log(d)
        rcv.stop()
    return ok


@test
def push_body_reads_in_pprof():
    """go tool pprof reads a pushed profile, with the four heap sample types."""
    rcv = Receiver()
    t = Wave()
    d = Daemon("--pid", str(t.pid), "--interval", "0.3", "--rate", "1", "--push", rcv.url(),
               "--push-pid-label")
    try:
        d.wait_watching(t.pid)
        t.go()
        ok = check(rcv.wait(lambda r: any(total(e, "alloc_space", "wave_site")
                                          for e in r.accepted), 30), "a push with wave_site")
    finally:
        t.end()
        stop_and_log(d)
        rcv.stop()
    e = next(e for e in rcv.accepted if total(e, "alloc_space", "wave_site"))
    ok &= check_eq(e["labels"].get("pid"), str(t.pid), "--push-pid-label adds the pid")
    f = tempfile.NamedTemporaryFile(suffix=".pb.gz", delete=False)
    f.write(e["body"])
    f.close()
    p = pprof_raw.read(f.name)
    os.unlink(f.name)
    ok &= check_eq([n for n, _ in p.sample_types],
                   ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"],
                   "sample types")
    return ok


@test
def push_container_named_by_its_engine():
    """A process in a podman container (its root: the wave binary and its libraries) pushes as
    the container's name, which podman's containers.json holds: the service, not the process."""
    import shutil
    if not shutil.which("podman"):
        return skip_dep("podman is not installed (deploy/setup-debian.sh installs it)")
    root = tempfile.mkdtemp()
    image = "localhost/allocscope-push-wave:%d" % os.getpid()
    name = "allocscope-push-%d" % os.getpid()
    os.makedirs(os.path.join(root, "bin"))
    shutil.copy(WAVE, os.path.join(root, "bin", "wave"))
    for lib in re.findall(r"(/\S+) \(0x", subprocess.run(["ldd", WAVE], capture_output=True,
                                                          text=True).stdout):
        dst = root + lib
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy(os.path.realpath(lib), dst)
    tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
    r = subprocess.run(["podman", "import", "-", image], stdin=tar.stdout,
                       capture_output=True, text=True)
    tar.wait()
    shutil.rmtree(root)
    if not check_eq(r.returncode, 0, "podman import: %s" % r.stderr):
        return False
    rcv = Receiver()
    c = subprocess.Popen(["podman", "run", "--runtime", "runc", "--rm", "-i", "--name", name,
                          "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                          image, "/bin/wave"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    d = None
    ok = True
    try:
        wait_for_line(c.stdout, "ready", timeout=60)
        pid = int(subprocess.run(["podman", "inspect", "--format", "{{.State.Pid}}", name],
                                 capture_output=True, text=True).stdout)
        d = Daemon("--pid", str(pid), "--interval", "0.3", "--rate", "1", "--push", rcv.url())
        d.wait_watching(pid)
        c.stdin.write("go\n")
        c.stdin.flush()
        wait_for_line(c.stdout, "ready")
        ok &= check(rcv.wait(lambda r: any(total(e, "alloc_space", "wave_site")
                                           for e in r.accepted), 30), "a push with wave_site")
    finally:
        if d:
            stop_and_log(d)
        c.stdin.close()
        c.wait(timeout=30)
        rcv.stop()
        subprocess.run(["podman", "rmi", "-f", image], capture_output=True)
    apps = {(e["app"], e["labels"].get("container")) for e in rcv.accepted}
    ok &= check_eq(apps, {(name, name)}, "service_name and container label")
    return ok
