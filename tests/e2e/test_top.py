# SPDX-License-Identifier: MIT
"""End to end: `allocscope top` in a real terminal (tmux: send-keys, capture-pane) against a real
target whose two functions allocate at known ratios (tests/targets/topload.c: alloc_big_blocks 4x
the bytes, alloc_small_objects 4x the objects), standalone and through allocscoped; and its piped
and JSON snapshots."""
import json
import os
import re
import shutil
import socket
import subprocess
import time

from harness import BUILD, check, check_eq, fail, test
from test_daemon import Daemon
from test_record import wait_for_line

ALLOCSCOPE = os.path.join(BUILD, "allocscope")
TOPLOAD = os.path.join(BUILD, "tests", "targets", "topload")
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "targets", "topload.c")
BIG, SMALL = "alloc_big_blocks", "alloc_small_objects"
PROMPT = "toptest$ "
HEADER = "allocscope top - pid"


def malloc_line(fn):
    """The line of the malloc call in fn, as the site's file:line must show it."""
    lines = open(SRC).read().splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("__attribute__") and
                 fn + "(void)" in l)
    return next(i + 1 for i in range(start, len(lines)) if "malloc(" in lines[i])


def start_target(seconds=90):
    p = subprocess.Popen([TOPLOAD, str(seconds)], stdout=subprocess.PIPE, text=True)
    wait_for_line(p.stdout, "ready")
    return p


def stop(p):
    if p.poll() is None:
        p.kill()
    p.wait()


def default_port_free():
    """Whether nothing listens on allocscoped's default address (so top runs standalone)."""
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", 6464)) != 0


class Tmux:
    """A private tmux server with one 80x24 pane running a plain bash."""

    def __init__(self):
        self.sock = "allocscope-top-%d" % os.getpid()
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True)
        subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null", "new-session", "-d",
                        "-x", "80", "-y", "24", "-e", "LANG=C.UTF-8",
                        "-s", "top", "bash --norc --noprofile"], check=True)
        self.run("PS1='%s'; clear" % PROMPT)
        self.wait(lambda s: s.strip() == PROMPT.strip(), 10, "the shell's prompt")

    def keys(self, *keys):
        subprocess.run(["tmux", "-L", self.sock, "send-keys", "-t", "top", *keys], check=True)

    def run(self, cmd):
        self.keys("-l", cmd)
        self.keys("Enter")

    def screen(self, joined=False):
        """The visible pane; joined: wrapped lines joined back, to find lines that wrapped."""
        args = ["tmux", "-L", self.sock, "capture-pane", "-p", "-t", "top"]
        return subprocess.run(args + (["-J"] if joined else []), capture_output=True,
                              text=True, check=True).stdout

    def wait(self, pred, timeout, what):
        deadline = time.time() + timeout
        s = ""
        while time.time() < deadline:
            s = self.screen()
            if pred(s):
                return s
            time.sleep(0.1)
        raise TimeoutError("no %s on the screen within %ss:\n%s" % (what, timeout, s))

    def close(self):
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True)


def rows(screen, names=(BIG, SMALL)):
    """Which of names the site rows show, in screen order (rows follow the column titles)."""
    lines = screen.splitlines()
    try:
        start = next(i for i, l in enumerate(lines) if "ALLOC/s" in l and "SITE" in l) + 1
    except StopIteration:
        return []
    return [n for l in lines[start:] for n in names if re.search(r"\b%s\b" % n, l)]


def first_of(screen, names):
    r = rows(screen, names)
    return r[0] if r else None


def both_rows_with_rates(screen):
    return (BIG in screen and SMALL in screen and "alloc -/s" not in screen and
            first_of(screen, (BIG, SMALL)) is not None)


def stty_restored(t):
    """After top left: canonical mode and echo back on in the pane's terminal."""
    t.run("stty -a")
    s = t.wait(lambda s: "icanon" in s, 10, "stty -a output")
    return (check(re.search(r"(?<![-\w])icanon\b", s), "icanon back on: %s" % s) and
            check(re.search(r"(?<![-\w])echo\b", s), "echo back on: %s" % s))


def drive(t, cmd, quit_keys, want_source):
    """Run top in the pane, check the default order, 'o', 'i', 'b', then quit with quit_keys."""
    ok = True
    t.run(cmd + '; echo "top-exit=$?"')
    s = t.wait(both_rows_with_rates, 60, "both functions' rows with rates")
    # The rates of a 0.5 s window are sampled: give a second look before calling it wrong.
    if first_of(s, (BIG, SMALL)) != BIG:
        time.sleep(1.5)
        s = t.screen()
    ok &= check(HEADER in s, "the title names the pid: %s" % s)
    ok &= check(want_source in s.splitlines()[0], "the title says %r: %s" % (want_source, s))
    ok &= check("sort: alloc bytes/s" in s, "the default sort is shown: %s" % s)
    ok &= check_eq(first_of(s, (BIG, SMALL)), BIG, "first site by alloc bytes/s\n" + s)
    ok &= check("malloc" in s, "the allocator column: %s" % s)
    ok &= check("topload.c:%d" % malloc_line(BIG) in s, "file:line of the big site: %s" % s)
    ok &= check(all(len(l) <= 80 for l in t.screen(joined=True).splitlines()),
                "no line wraps in 80 columns:\n" + t.screen(joined=True))

    t.keys("o")
    s = t.wait(lambda s: "sort: objects/s" in s and first_of(s, (BIG, SMALL)) == SMALL, 10,
               "the object-heavy function first after 'o'")
    ok &= check_eq(rows(s)[:2], [SMALL, BIG], "order by objects/s")

    t.keys("i")
    t.wait(lambda s: "sort: in-use bytes" in s, 10, "the in-use sort after 'i'")
    t.keys("b")
    t.wait(lambda s: "sort: alloc bytes/s" in s and first_of(s, (BIG, SMALL)) == BIG, 10,
           "the byte-heavy function first again after 'b'")

    t.keys(*quit_keys)
    # bash draws its prompt a moment after the echo: wait for both, then check each.
    try:
        s = t.wait(lambda s: re.search(r"top-exit=\d", s) and
                   s.rstrip().endswith(PROMPT.rstrip()), 30, "top's exit and the prompt")
    except TimeoutError:
        s = t.wait(lambda s: re.search(r"top-exit=\d", s), 1, "top's exit")
    ok &= check("top-exit=0\n" in s, "top exits with 0: %s" % s)
    ok &= check(HEADER not in s and "ALLOC/s" not in s,
                "the alternate screen is left (no top on the screen):\n" + s)
    ok &= check(s.rstrip().endswith(PROMPT.rstrip()), "the prompt is back:\n" + s)
    ok &= stty_restored(t)
    return ok


@test
def top_tty_standalone():
    """top --pid in an 80x24 terminal with probes of its own: order, keys, q, terminal back."""
    if not shutil.which("tmux"):
        return fail("tmux is not installed (deploy/setup-debian.sh installs it)")
    # With the default port free, top must pick standalone by itself; with a daemon there
    # (another user's), --standalone keeps the test independent of it.
    auto = default_port_free()
    target, t = start_target(), None
    try:
        t = Tmux()
        cmd = "%s top --pid %d --interval 0.5%s" % (ALLOCSCOPE, target.pid,
                                                     "" if auto else " --standalone")
        return drive(t, cmd, ["q"], "standalone")
    finally:
        if t:
            t.close()
        stop(target)


@test
def top_tty_daemon():
    """top --daemon URL --pid in a terminal, fed by a real allocscoped; Ctrl-C quits."""
    if not shutil.which("tmux"):
        return fail("tmux is not installed (deploy/setup-debian.sh installs it)")
    target, d, t = start_target(), None, None
    try:
        d = Daemon("--pid", str(target.pid), "--interval", "0.5")
        t = Tmux()
        cmd = "%s top --daemon %s --pid %d --interval 0.5" % (ALLOCSCOPE, d.base, target.pid)
        ok = drive(t, cmd, ["C-c"], d.base)
        ok &= check_eq(d.stop(), 0, "the daemon's exit status")
        return ok
    finally:
        if t:
            t.close()
        if d:
            d.stop()
        stop(target)


@test
def top_piped_and_json():
    """stdout a pipe: --iterations 2 prints two plain snapshots; --json prints parseable lines."""
    target = start_target()
    mode = [] if default_port_free() else ["--standalone"]
    try:
        r = subprocess.run([ALLOCSCOPE, "top", "--pid", str(target.pid), "--interval", "0.5",
                            "--iterations", "2", *mode], capture_output=True, text=True,
                           timeout=120)
        ok = check_eq(r.returncode, 0, "exit status (stderr: %s)" % r.stderr)
        heads = [i for i, l in enumerate(r.stdout.splitlines())
                 if re.match(r"\d\d:\d\d:\d\d pid %d \(topload\): alloc " % target.pid, l)]
        ok &= check_eq(len(heads), 2, "snapshot header lines in:\n" + r.stdout)
        ok &= check(r.stdout.count(BIG) == 2 and r.stdout.count(SMALL) == 2,
                    "both functions in both snapshots:\n" + r.stdout)
        ok &= check("\x1b" not in r.stdout, "no escape sequences when piped")
        ok &= check(all(len(l) <= 80 for l in r.stdout.splitlines()),
                    "80 columns when piped:\n" + r.stdout)
        last = r.stdout.split("\n\n")[-1]
        ok &= check_eq(first_of(last, (BIG, SMALL)), BIG, "first by bytes/s:\n" + last)
        ok &= check("*ALLOC/s" in last, "the sort column is starred:\n" + last)

        r = subprocess.run([ALLOCSCOPE, "top", "--pid", str(target.pid), "--interval", "0.5",
                            "--iterations", "2", "--json", "--sort", "objects", *mode],
                           capture_output=True, text=True, timeout=120)
        ok &= check_eq(r.returncode, 0, "--json exit status (stderr: %s)" % r.stderr)
        snaps = [json.loads(l) for l in r.stdout.splitlines()]
        if not check_eq(len(snaps), 2, "JSON lines"):
            return False
        s = snaps[-1]
        ok &= check_eq(s["target"], {"pid": target.pid}, "target")
        ok &= check_eq(s["sort"], "objects", "sort")
        ok &= check(s["have_rates"] and s["alloc_bytes_per_s"] > 0, "rates: %r" % s)
        sites = {x["function"]: x for x in s["sites"]}
        ok &= check_eq(s["sites"][0]["function"], SMALL, "first by objects/s")
        for fn in (BIG, SMALL):
            x = sites.get(fn)
            if not check(x, "%s in %r" % (fn, list(sites))):
                return False
            ok &= check_eq(x["allocator"], "malloc", fn + " allocator")
            ok &= check(x["file"].endswith("topload.c"), fn + " file: %r" % x["file"])
            ok &= check_eq(x["line"], malloc_line(fn), fn + " line")
        b, o = sites[BIG], sites[SMALL]
        # 4x either way; the sampled rates of half a second are allowed a wide margin.
        ok &= check(b["alloc_bytes_per_s"] > 1.5 * o["alloc_bytes_per_s"],
                    "bytes/s: big %.0f vs small %.0f" % (b["alloc_bytes_per_s"],
                                                         o["alloc_bytes_per_s"]))
        ok &= check(o["alloc_objects_per_s"] > 1.5 * b["alloc_objects_per_s"],
                    "objects/s: small %.0f vs big %.0f" % (o["alloc_objects_per_s"],
                                                           b["alloc_objects_per_s"]))
        return ok
    finally:
        stop(target)


@test
def top_errors_and_help():
    """One-line errors with a non-zero exit; --help with examples."""
    ok = True
    r = subprocess.run([ALLOCSCOPE, "top", "--help"], capture_output=True, text=True)
    ok &= check(r.returncode == 0 and "Examples:" in r.stdout and "--interval" in r.stdout,
                "--help: %r" % r.stdout[:200])
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = "http://127.0.0.1:%d" % s.getsockname()[1]
    pid_max = int(open("/proc/sys/kernel/pid_max").read())
    cases = [
        ([], 2, "needs one of --pid"),
        (["--pid", "12x"], 2, "not a process ID"),
        (["--pid", str(pid_max + 1)], 1, "no such process"),
        (["--pid", "1", "--interval", "0"], 2, "--interval"),
        (["--comm", "x", "--daemon", dead], 1, "cannot reach allocscoped"),
        (["--pid", "1", "--daemon", "ftp://x"], 2, "not an http"),
        (["--exe", "/x", "--standalone"], 2, "--standalone needs --pid"),
    ]
    for args, rc, msg in cases:
        r = subprocess.run([ALLOCSCOPE, "top", *args], capture_output=True, text=True,
                           timeout=30)
        lines = r.stderr.strip().splitlines()
        ok &= check(r.returncode == rc and len(lines) == 1 and msg in lines[0] and
                    not r.stdout, "top %s: rc %d, %r" % (" ".join(args), r.returncode,
                                                         r.stderr))
    return ok
