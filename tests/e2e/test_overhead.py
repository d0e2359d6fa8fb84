# SPDX-License-Identifier: MIT
"""End to end: what the daemon costs processes it does not need to see. The mmap/munmap
tracepoints are attached only while a watched process needs them (a native one), as the
per-syscall tracepoints, and mmap tracking still counts exactly while they are."""
import os
import subprocess
import time

import expected
from harness import check, check_eq, test
from test_daemon import GO, Daemon, Target, metric
from test_record import wait_for_line

# Tracepoint names of the daemon's mmap programs, as the kernel shows them in a link's fdinfo.
MMAP_TPS = {"sys_enter", "sys_exit", "sys_enter_mmap", "sys_exit_mmap", "sys_enter_munmap",
            "sys_exit_munmap", "sys_enter_mremap", "sys_exit_mremap"}


def daemon_tracepoints(pid):
    """The syscall tracepoints the daemon's link fds hold (read from /proc, not from the
    daemon)."""
    names = set()
    fdinfo = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(fdinfo):
        try:
            with open(os.path.join(fdinfo, fd)) as f:
                text = f.read()
        except OSError:
            continue  # closed meanwhile
        if "link_type:" not in text:
            continue
        for line in text.splitlines():
            if line.startswith("tp_name:") and line.split()[1] in MMAP_TPS:
                names.add(line.split()[1])
    return names


def wait_tracepoints(d, want, timeout=60):
    """Until the daemon holds exactly the tracepoints want and its metric agrees; the last
    (tracepoints, mode metric) seen, and how many watched processes needed them then."""
    deadline = time.time() + timeout
    seen = None
    while time.time() < deadline:
        _, body = d.get("/metrics")
        text = body.decode()
        mode = next((m for m in ("off", "syscalls", "every_syscall")
                     if metric(text, "allocscope_mmap_tracepoints", mode=m) == 1), None)
        seen = (daemon_tracepoints(d.proc.pid), mode, metric(text, "allocscope_mmap_targets"))
        if seen[0] == want and mode == ("off" if not want else "syscalls"):
            break
        time.sleep(0.1)
    return seen


@test
def daemon_mmap_tracepoints_follow_targets():
    """--all-go with a Go program watched: no syscall tracepoint attached. A native process
    matched by --comm: the entry and exit tracepoints of mmap, munmap and mremap attached (no
    every-syscall sys_enter/sys_exit), its mmaps and munmaps counted exactly; once it exits,
    detached again."""
    per_syscall = {"sys_%s_%s" % (at, call) for at in ("enter", "exit")
                   for call in ("mmap", "munmap", "mremap")}
    d = Daemon("--all-go", "--comm", "alloc_pattern", "--interval", "0.5", "--rate", "1")
    ok = True
    go = t = None
    try:
        go = subprocess.Popen([os.path.join(GO, "gophases")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        if not d.wait_watching(go.pid):
            return False
        # Other Go programs on the host are watched too, and a native child they fork would
        # be (a cgo build's gcc): wait for a moment with none.
        tps, mode, native = wait_tracepoints(d, set())
        ok &= check_eq((tps, mode), (set(), "off"),
                       "--all-go: tracepoints (fdinfo), mode (%r native processes watched)"
                       % native)
        wait_for_line(go.stderr, "done", timeout=60)
        go.wait(timeout=30)
        go = None

        t = Target()
        if not d.wait_watching(t.pid):
            return False
        tps, mode, _ = wait_tracepoints(d, per_syscall)
        ok &= check_eq((tps, mode), (per_syscall, "syscalls"),
                       "native target: tracepoints (fdinfo), mode")
        t.go()
        sites = d.wait_site(t.pid, ("map_anon", "mmap"))
        ok &= check_eq(sites.get(("map_anon", "mmap")), expected.PATTERN[("map_anon", "mmap")],
                       "mmap/munmap counted through the syscall tracepoints")
        t.end()
        t = None
        tps, mode, native = wait_tracepoints(d, set())
        ok &= check_eq((tps, mode), (set(), "off"),
                       "after the native target: tracepoints, mode (%r native watched)" % native)
        _, body = d.get("/metrics")
        attaches = metric(body.decode(), "allocscope_mmap_tracepoint_attaches_total")
        ok &= check(attaches is not None and attaches >= 1, "attaches counted: %r" % attaches)
    finally:
        if t:
            t.end()
        if go:
            go.kill()
            go.wait()
        d.stop()
    return ok
