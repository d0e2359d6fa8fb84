# SPDX-License-Identifier: MIT
"""End to end: allocator wrappers and the `allocator` label. tests/targets/wrapped allocates
through xmalloc (a built-in wrapper name), through my_alloc_block -> my_alloc_zeroed (a wrapper
only --wrapper names) and directly; the profile's leaves are the code that called the allocator,
as `go tool pprof -raw` and `-top` show."""
import json
import os
import subprocess

import pprof_raw
from harness import BUILD, check, check_eq, test
from test_record import run_record, tmpfile, wait_for_line

ALLOCSCOPE = os.path.join(BUILD, "allocscope")
WRAPPED = os.path.join(BUILD, "tests", "targets", "wrapped")
# (alloc_objects, alloc_space, inuse_objects, inuse_space) of the target, per path.
XMALLOC = (300, 300 * 100, 150, 150 * 100)
OWN = (200, 200 * 256, 200, 200 * 256)
DIRECT = (100, 100 * 5000, 0, 0)


def values(p, samples):
    return tuple(sum(p.value(s, t) for s in samples)
                 for t in ("alloc_objects", "alloc_space", "inuse_objects", "inuse_space"))


def by_leaf(p, leaf, allocator):
    return [s for s in p.samples if s["stack"][:1] == [leaf]
            and s["labels"].get("allocator") == allocator]


def record(extra):
    out = tmpfile("wrapped.pb.gz")
    r = run_record(["--rate", "1", *extra, "-o", out, "--", WRAPPED])
    if not check_eq(r.returncode, 0, "wrapped exit status (stderr: %s)" % r.stderr):
        return None, out
    return pprof_raw.read(out), out


def top_functions(path, n):
    """The first n functions of `go tool pprof -top` by alloc_objects (flat)."""
    r = pprof_raw.pprof("-top", "-sample_index=alloc_objects", path)
    rows, seen = [], False
    for line in r.stdout.splitlines():
        if "flat%" in line:
            seen = True
            continue
        if seen and line.split():
            rows.append(line.split()[-1])
    return rows[:n]


def assert_stacks(p, own_leaf, own_allocator, own_stack, mode):
    ok = True
    x = by_leaf(p, "use_xmalloc", "xmalloc->malloc")
    ok &= check_eq(values(p, x), XMALLOC, "%s: use_xmalloc via xmalloc->malloc" % mode)
    for s in x:
        ok &= check_eq(s["stack"][:2], ["use_xmalloc", "main"], "%s: xmalloc's stack" % mode)
    o = by_leaf(p, own_leaf, own_allocator)
    ok &= check_eq(values(p, o), OWN, "%s: %s via %s" % (mode, own_leaf, own_allocator))
    for s in o:
        ok &= check_eq(s["stack"][:len(own_stack)], own_stack, "%s: own wrapper's stack" % mode)
    d = by_leaf(p, "use_direct", "malloc")
    ok &= check_eq(values(p, d), DIRECT, "%s: use_direct via malloc" % mode)
    for s in p.samples:
        ok &= check(not {"malloc", "calloc", "xmalloc"} & set(s["stack"][:1]),
                    "%s: an allocator frame as a leaf: %r" % (mode, s["stack"][:4]))
    return ok


@test
def wrappers_builtin_and_regex():
    """xmalloc is on the built-in list: its frame goes, use_xmalloc is the leaf and the label
    says xmalloc->malloc. my_alloc_* is not: without --wrapper the leaf is my_alloc_zeroed
    (which called calloc); with --wrapper 'my_alloc_.*' it is use_own_wrapper, the label
    my_alloc_block->calloc. Under both unwinders."""
    ok = True
    for unwind in ("fp", "auto"):
        p, out = record(["--unwind", unwind])
        if p is None:
            return False
        ok &= assert_stacks(p, "my_alloc_zeroed", "calloc",
                            ["my_alloc_zeroed", "my_alloc_block", "use_own_wrapper", "main"],
                            unwind + " built-in only")
        p, out = record(["--unwind", unwind, "--wrapper", "my_alloc_.*"])
        if p is None:
            return False
        ok &= assert_stacks(p, "use_own_wrapper", "my_alloc_block->calloc",
                            ["use_own_wrapper", "main"], unwind + " --wrapper")
        # What a user sees first: the program's own functions, not malloc at 100%.
        ok &= check_eq(top_functions(out, 3), ["use_xmalloc", "use_own_wrapper", "use_direct"],
                       unwind + ": go tool pprof -top's first rows")
    r = run_record(["--wrapper", "bad(", "-o", tmpfile("x.pb.gz"), "--", WRAPPED])
    ok &= check(r.returncode == 2 and "--wrapper" in r.stderr and r.stderr.count("\n") == 1,
                "a bad --wrapper is one line, exit 2: %r" % r.stderr)
    return ok


@test
def wrappers_pprof_tagfocus_allocator():
    """The allocator label filters: -tagfocus allocator=calloc keeps the calloc site only."""
    p, out = record(["--wrapper", "my_alloc_.*"])
    if p is None:
        return False
    r = pprof_raw.pprof("-top", "-sample_index=alloc_objects", "-tagfocus=allocator=calloc", out)
    rows = [l.split()[-1] for l in r.stdout.splitlines() if l.strip().endswith(
        ("use_xmalloc", "use_own_wrapper", "use_direct"))]
    ok = check_eq(r.returncode, 0, "pprof -tagfocus: %s" % r.stderr)
    return ok & check_eq(rows, ["use_own_wrapper"], "only the calloc site under its tag")


@test
def top_unwind_and_wrapper():
    """top --standalone --unwind fp|auto --wrapper: the sites are the wrapped target's callers,
    the allocator column names the wrapper."""
    ok = True
    for unwind in ("fp", "auto"):
        t = subprocess.Popen([WRAPPED, "--loop"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
        try:
            wait_for_line(t.stdout, "ready")
            r = subprocess.run([ALLOCSCOPE, "top", "--pid", str(t.pid), "--standalone",
                                "--unwind", unwind, "--wrapper", "my_alloc_.*", "--json",
                                "--rate", "4k",
                                "--iterations", "2", "--interval", "1"],
                               capture_output=True, text=True, timeout=120)
        finally:
            t.stdin.close()
            t.wait(timeout=10)
        if not check_eq(r.returncode, 0, "%s: top exit status (%s)" % (unwind, r.stderr)):
            ok = False
            continue
        snap = json.loads(r.stdout.splitlines()[-1])
        sites = {(x["function"], x.get("allocator")) for x in snap["sites"]}
        for want in (("use_xmalloc", "xmalloc->malloc"), ("use_own_wrapper",
                                                          "my_alloc_block->calloc"),
                     ("use_direct", "malloc")):
            ok &= check(want in sites, "%s: site %r in %r" % (unwind, want, sorted(sites)))
        ok &= check(not any(f in ("malloc", "calloc", "xmalloc", "my_alloc_zeroed")
                            for f, _ in sites), "%s: no allocator as a site: %r" % (unwind, sites))
    r = subprocess.run([ALLOCSCOPE, "top", "--pid", "1", "--unwind", "sideways"],
                       capture_output=True, text=True, timeout=30)
    ok &= check(r.returncode == 2 and "--unwind" in r.stderr, "a bad --unwind: %r" % r.stderr)
    return ok
