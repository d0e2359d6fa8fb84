# SPDX-License-Identifier: MIT
"""End to end: `allocscope diff` on two recorded runs of a target in which exactly one function
doubles its allocation, `allocscope explain` on goalloc with the escape analysis its own build
prints, and the one-line errors of both."""
import json
import os
import re
import subprocess

import pprof_raw
from harness import BUILD, check, check_eq, fail, test
from test_record import ALLOCSCOPE, run_record, tmpfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GROW = os.path.join(BUILD, "tests", "targets", "grow")
GO_TARGETS = os.path.join(ROOT, "tests", "targets", "go")
# As tests/build.mk builds Go targets: offline, caches inside the build folder.
GO_ENV = dict(os.environ, GOCACHE=os.path.join(os.path.abspath(BUILD), "gocache"),
              GOPATH=os.path.join(os.path.abspath(BUILD), "gopath"), GOPROXY="off",
              GOFLAGS="-mod=mod", GO111MODULE="on", CGO_ENABLED="0")
NO_DAEMON = "http://127.0.0.1:1/debug/pprof/allocs?pid=1"


def cli(*args, timeout=60):
    return subprocess.run([ALLOCSCOPE, *args], capture_output=True, text=True, timeout=timeout)


def fits_80_columns(text, what):
    long = [line for line in text.splitlines() if len(line) > 80]
    return check(not long, "%s: lines over 80 columns: %r" % (what, long))


def record_grow(factor):
    out = tmpfile("grow%d.pb.gz" % factor)
    r = run_record(["--rate", "1", "-o", out, "--", GROW, "--factor", str(factor)])
    if r.returncode != 0:
        fail("record grow --factor %d: exit %d: %s" % (factor, r.returncode, r.stderr))
        return None
    return out


def table_rows(text):
    """The rows under the BASE/NEW header of `diff`'s table, without the total."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["BASE", "NEW"])
    return [line for line in lines[start + 1:] if line.strip() and "(total)" not in line]


@test
def diff_names_the_function_that_doubled():
    base, new = record_grow(1), record_grow(2)
    if not base or not new:
        return False
    r = cli("diff", base, new)
    if not check_eq(r.returncode, 0, "diff exit status (stderr: %s)" % r.stderr):
        return False
    ok = fits_80_columns(r.stdout, "diff")
    rows = table_rows(r.stdout)
    ok &= check(rows and "grow_site grow.c:" in rows[0] and "+100%" in rows[0],
                "first row is grow_site at +100%%:\n%s" % r.stdout)
    ok &= check(rows and "97.7 KiB" in rows[0] and "195 KiB" in rows[0],
                "grow_site 100 x 1000 bytes, then 200 x 1000:\n%s" % r.stdout)
    ok &= check(not any("steady" in row for row in rows),
                "steady_site and steady_calloc did not change:\n%s" % r.stdout)
    ok &= check(all(not re.search(r"\b(malloc|calloc)\b", row) for row in rows),
                "allocator leaf frames are skipped:\n%s" % r.stdout)

    r = cli("diff", "--json", base, new)
    if not check_eq(r.returncode, 0, "diff --json exit status (stderr: %s)" % r.stderr):
        return False
    d = json.loads(r.stdout)
    top = d["sites"][0] if d["sites"] else {}
    ok &= check_eq(top.get("function"), "grow_site", "JSON: first site")
    ok &= check_eq((top.get("base"), top.get("new"), top.get("change")),
                   (100 * 1000, 200 * 1000, 100 * 1000), "JSON: grow_site base, new, change")
    ok &= check_eq((top.get("relative"), top.get("relative_pct"), top.get("kind")),
                   ("+100%", 100.0, "grew"), "JSON: grow_site relative change")
    ok &= check(str(top.get("file", "")).endswith("tests/targets/grow.c"), "JSON: file %r"
                % top.get("file"))
    ok &= check_eq(d["sample_index"], "alloc_space", "JSON: default sample index")
    ok &= check_eq(d["periods_differ"], False, "JSON: both at --rate 1")
    ok &= check(not any(s["function"].startswith("steady") for s in d["sites"]),
                "JSON: the steady sites are unchanged: %r" % d["sites"])
    ok &= check_eq(d["total"]["change"], 100 * 1000, "JSON: total change is grow_site's")

    # The same by function, and by objects: 100 more objects, +100%.
    r = cli("diff", "--by", "function", "--sample-index", "alloc_objects", "--json", base, new)
    d = json.loads(r.stdout) if r.returncode == 0 else {"sites": []}
    top = d["sites"][0] if d["sites"] else {}
    ok &= check_eq((top.get("function"), top.get("change"), top.get("relative"), top.get("line")),
                   ("grow_site", 100, "+100%", None), "JSON by function, alloc_objects")

    # Swapped: it shrank by half.
    r = cli("diff", new, base)
    rows = table_rows(r.stdout) if r.returncode == 0 else []
    ok &= check(rows and "grow_site" in rows[0] and "-50%" in rows[0],
                "swapped: grow_site at -50%%:\n%s%s" % (r.stdout, r.stderr))
    return ok


def explain_blocks(text):
    """{function: text of its numbered sites} of `explain`'s output (a function may allocate
    on several lines: makeClosures' captured variable and its closure)."""
    blocks = {}
    for block in text.split("\n\n"):
        m = re.match(r"\d+\. (\S+)", block)
        if m:
            blocks[m.group(1)] = blocks.get(m.group(1), "") + block + "\n\n"
    return blocks


@test
def explain_goalloc_with_its_escape_log():
    exe, log = tmpfile("goalloc"), tmpfile("escape.log")
    b = subprocess.run(["go", "build", "-gcflags=-m=2", "-o", exe, "./goalloc"], cwd=GO_TARGETS,
                       env=GO_ENV, capture_output=True, text=True, timeout=300)
    if not check_eq(b.returncode, 0, "go build -gcflags=-m=2 (%s)" % b.stderr[-500:]):
        return False
    with open(log, "w") as f:
        f.write(b.stdout + b.stderr)  # what `2>&1` captures
    prof = tmpfile("goalloc.pb.gz")
    r = run_record(["-o", prof, "--", exe, "-rounds", "2"], timeout=300)
    if not check_eq(r.returncode, 0, "record goalloc (stderr: %s)" % r.stderr):
        return False

    r = cli("explain", prof, "--escape-log", log, "--top", "0")
    if not check_eq(r.returncode, 0, "explain exit status (stderr: %s)" % r.stderr):
        return False
    out = r.stdout
    blocks = explain_blocks(out)
    ok = True
    nr = blocks.get("main.newRecords", "")
    m = re.search(r"main\.newRecords  (goalloc/main\.go):(\d+)", nr)
    ok &= check(m, "newRecords names its file:line as the log writes it:\n%s" % out)
    if m:
        pos = "%s:%s:" % m.groups()
        ok &= check("cause new-object" in nr, "newRecords: cause new-object:\n%s" % nr)
        ok &= check(re.search(r"^   %s\d+: .*(escapes to heap|moved to heap)" % re.escape(pos),
                              nr, re.M),
                    "newRecords: the compiler's line for %s:\n%s" % (pos, nr))
        ok &= check(re.search(r"^     flow: ", nr, re.M), "newRecords: -m=2 flow:\n%s" % nr)
    mb = blocks.get("main.makeBuffers", "")
    ok &= check("cause make-slice" in mb, "makeBuffers: cause make-slice:\n%s" % mb)
    ok &= check(re.search(r"^   goalloc/main\.go:\d+:\d+: make\(\[\]byte, size\) escapes to heap$",
                          mb, re.M), "makeBuffers: the make line:\n%s" % mb)
    gs = blocks.get("main.growSlices", "")
    ok &= check("cause slice-growth" in gs and "no escape analysis line for goalloc/main.go:" in gs
                and "is not an" in gs, "growSlices: append is not an escape:\n%s" % gs)
    ok &= check("escapes to heap" not in gs and "moved to heap" not in gs,
                "growSlices: no compiler line claimed:\n%s" % gs)
    ok &= check("capturing by ref: counter" in blocks.get("main.makeClosures", ""),
                "makeClosures: the captured variable:\n%s" % out)
    ok &= check(re.search(r"\(\[\]byte\)\(s\) escapes to heap",
                          blocks.get("main.stringToBytes", "")),
                "stringToBytes: []byte(s) escapes:\n%s" % out)
    ok &= check("v escapes to heap" in blocks.get("main.boxValues", ""),
                "boxValues: the boxed value escapes:\n%s" % out)

    # JSON agrees, and its bytes and objects are the profile's.
    r = cli("explain", "--json", prof, "--escape-log", log, "--top", "0")
    if not check_eq(r.returncode, 0, "explain --json exit status (stderr: %s)" % r.stderr):
        return False
    all_sites = json.loads(r.stdout)["sites"]
    sites = {}
    for s in reversed(all_sites):  # the largest site of each function
        sites[s["function"]] = s
    p = pprof_raw.read(prof)
    for fn in ("main.newRecords", "main.makeBuffers", "main.growSlices", "main.makeClosures"):
        got = [0, 0]
        for s in all_sites:
            if s["function"] == fn:
                got[0] += s["bytes"]
                got[1] += s["objects"]
        want = [0, 0]
        for smp in p.samples:
            if smp["stack"] and smp["stack"][0] == fn:
                want[0] += p.value(smp, "alloc_space")
                want[1] += p.value(smp, "alloc_objects")
        ok &= check(want[0] > 0, "the profile has %s" % fn)
        ok &= check_eq(got, want, "JSON: %s bytes, objects (all its sites)" % fn)
    nrj = sites.get("main.newRecords", {})
    comp = nrj.get("compiler") or [{}]
    ok &= check_eq(nrj.get("cause"), "new-object", "JSON: newRecords cause")
    ok &= check(comp[0].get("line") == nrj.get("line") and "to heap" in comp[0].get("text", "")
                and comp[0].get("flow"), "JSON: newRecords compiler line with flow: %r" % comp)
    mbj = sites.get("main.makeBuffers", {})
    ok &= check(any(c["text"] == "make([]byte, size) escapes to heap"
                    for c in mbj.get("compiler", [])), "JSON: makeBuffers make line: %r" % mbj)
    gsj = sites.get("main.growSlices", {})
    ok &= check(gsj.get("compiler") == [] and
                (gsj.get("note") or "").startswith("no escape analysis line for "),
                "JSON: growSlices note: %r" % gsj)
    return ok


def one_line_error(r, what, needle=None):
    ok = check(r.returncode != 0, "%s: non-zero exit" % what)
    lines = r.stderr.strip().splitlines()
    ok &= check_eq(len(lines), 1, "%s: one line on stderr (%r)" % (what, r.stderr))
    ok &= check(lines and lines[0].startswith("allocscope: error: "),
                "%s: an error line: %r" % (what, r.stderr))
    if needle:
        ok &= check(needle in r.stderr, "%s: says %r: %r" % (what, needle, r.stderr))
    ok &= check_eq(r.stdout, "", "%s: nothing on stdout" % what)
    return ok


@test
def diff_and_explain_errors():
    good = record_grow(1)
    if not good:
        return False
    not_pprof = tmpfile("not-a-profile.txt")
    with open(not_pprof, "w") as f:
        f.write("this is not a profile\n")
    no_escape = tmpfile("build.log")
    with open(no_escape, "w") as f:
        f.write("# example.com/app\n./main.go:3:2: undefined: x\n")
    log = os.path.join(ROOT, "tests", "fixtures", "escape", "goalloc-m.txt")
    missing = "/nonexistent/profile.pb.gz"
    ok = one_line_error(cli("diff", missing, good), "diff: missing file", missing)
    ok &= one_line_error(cli("diff", good, not_pprof), "diff: not pprof", "not a pprof profile")
    ok &= one_line_error(cli("diff", NO_DAEMON, good), "diff: unreachable daemon", NO_DAEMON)
    ok &= one_line_error(cli("diff", good), "diff: one profile")
    ok &= one_line_error(cli("diff", "--sample-index", "wall", good, good), "diff: bad index")
    ok &= one_line_error(cli("explain", missing, "--escape-log", log), "explain: missing file",
                         missing)
    ok &= one_line_error(cli("explain", not_pprof, "--escape-log", log), "explain: not pprof",
                         "not a pprof profile")
    ok &= one_line_error(cli("explain", NO_DAEMON, "--escape-log", log),
                         "explain: unreachable daemon", NO_DAEMON)
    ok &= one_line_error(cli("explain", good, "--escape-log", "/nonexistent/escape.log"),
                         "explain: missing escape log", "/nonexistent/escape.log")
    ok &= one_line_error(cli("explain", good, "--escape-log", no_escape),
                         "explain: no escape analysis in the log", "no line of Go escape")
    ok &= one_line_error(cli("explain", good), "explain: no --escape-log", "--escape-log")
    for cmd in ("diff", "explain"):
        r = cli(cmd, "--help")
        ok &= check_eq(r.returncode, 0, "%s --help exit status" % cmd)
        ok &= check("allocscope %s " % cmd in r.stdout.partition("Examples:")[2],
                    "%s --help has examples" % cmd)
        ok &= fits_80_columns(r.stdout, "%s --help" % cmd)
    return ok
