# SPDX-License-Identifier: MIT
"""End to end on Go programs built in the suite with Debian's Go: allocscope's profile against
the runtime's own heap profile of the same run, stripped and PIE builds, cause labels, programs
whose runtime samples nothing, and the per-GC-cycle timeline."""
import json
import os
import subprocess

import pprof_raw
from harness import BUILD, check, check_eq, fail, test
from test_record import run_record, tmpfile

GO = os.path.join(BUILD, "tests", "targets", "go")

CAUSES = {
    "main.newRecords": "new-object",
    "main.makeBuffers": "make-slice",
    "main.growSlices": "slice-growth",
    "main.boxValues": "interface-boxing",
    "main.concatStrings": "string-concat",
    "main.stringToBytes": "string-bytes-conversion",
    "main.growMaps": "map-growth",
    "main.makeClosures": "new-object",
}


def by_leaf(p, prefix="main."):
    """Sum the four values per leaf function of user code."""
    sums = {}
    for s in p.samples:
        if not s["stack"] or not s["stack"][0].startswith(prefix):
            continue
        acc = sums.setdefault(s["stack"][0], [0, 0, 0, 0])
        for i, name in enumerate(("alloc_objects", "alloc_space", "inuse_objects",
                                  "inuse_space")):
            acc[i] += p.value(s, name)
    return sums


def record_goalloc(binary, name):
    out, own = tmpfile(name + ".pb.gz"), tmpfile(name + "-own.pb.gz")
    r = run_record(["-o", out, "--", os.path.join(GO, binary), "-heap", own], timeout=300)
    if r.returncode != 0:
        fail("%s: exit %d: %s" % (binary, r.returncode, r.stderr))
        return None, None
    return pprof_raw.read(out), pprof_raw.read(own)


# The runtime publishes its profile as of a completed GC cycle (up to two cycles old), so a
# sample taken around the final runtime.GC() can be in allocscope's profile and not yet in the
# runtime's: allow one late large sample's worth.
LATE_SAMPLE_BYTES = 1 << 20


def compare_with_runtime(ours, theirs, what):
    """The same sampled allocations: allocscope sees every sample the runtime published, to the
    byte, plus at most a late one; in-use is what the last sweep left: within 1% or that."""
    ok = check_eq(ours.period, theirs.period, "%s: period is the program's MemProfileRate" % what)
    a, b = by_leaf(ours), by_leaf(theirs)
    ok &= check_eq(sorted(a), sorted(b), "%s: the same user functions allocate" % what)
    # The same order by alloc_space, but for functions within a late sample of each other.
    wrong = [(f, g) for f in b for g in b
             if b[f][1] - b[g][1] > LATE_SAMPLE_BYTES and a.get(f, (0, 0))[1] <= a.get(g, (0, 0))[1]]
    ok &= check_eq(wrong, [], "%s: ordered by alloc_space as the runtime's profile" % what)
    for fn in b:
        got, want = a.get(fn, (0, 0, 0, 0)), b[fn]
        ok &= check(want[1] <= got[1] <= want[1] + LATE_SAMPLE_BYTES,
                    "%s: %s alloc_space %d vs the runtime's %d" % (what, fn, got[1], want[1]))
        ok &= check(abs(got[3] - want[3]) <= max(0.01 * want[3], LATE_SAMPLE_BYTES),
                    "%s: %s inuse_space %d vs the runtime's %d" % (what, fn, got[3], want[3]))
    return ok


@test
def go_profile_matches_runtime():
    ours, theirs = record_goalloc("goalloc", "go")
    if not ours:
        return False
    ok = compare_with_runtime(ours, theirs, "goalloc")
    ok &= check(all(not s["stack"][0].startswith("runtime.mProf") for s in ours.samples),
                "the sampler's own frames are hidden")
    return ok


@test
def go_stripped_and_pie():
    """-ldflags='-s -w' leaves no .symtab and no DWARF: functions, lines and MemProfileRate
    come from .gopclntab and the code."""
    ok = True
    for binary in ("goalloc-stripped", "goalloc-pie-stripped"):
        ours, theirs = record_goalloc(binary, binary)
        if not ours:
            return False
        ok &= compare_with_runtime(ours, theirs, binary)
        ok &= check(set(by_leaf(ours)) >= set(CAUSES), "%s: every pattern function is named: %r"
                    % (binary, sorted(by_leaf(ours))))
    return ok


@test
def go_cause_labels():
    ours, _ = record_goalloc("goalloc", "causes")
    if not ours:
        return False
    ok = True
    for fn, cause in CAUSES.items():
        by_cause = {}
        for s in ours.samples:
            if s["stack"][0] == fn:
                c = s["labels"].get("cause")
                by_cause[c] = by_cause.get(c, 0) + ours.value(s, "alloc_space")
        # newRecords and makeBuffers also append to a slice now and then (keep, keepBuf): a
        # sampled growslice there is rightly slice-growth. The pattern's cause dominates.
        ok &= check(by_cause and max(by_cause, key=by_cause.get) == cause and
                    set(by_cause) <= {cause, "slice-growth"},
                    "cause of %s: %r, want mostly %s" % (fn, by_cause, cause))
    out = tmpfile("causes2.pb.gz")
    r = run_record(["-o", out, "--", os.path.join(GO, "goalloc")], timeout=300)
    top = pprof_raw.pprof("-top", "-tagfocus", "cause=slice-growth", "-sample_index=alloc_space",
                          out).stdout
    flat = [l.split()[-1] for l in top.splitlines() if l.strip().endswith(("growSlices",
                                                                          "growMaps"))]
    ok &= check(r.returncode == 0 and "main.growSlices" in flat and "main.growMaps" not in flat,
                "-tagfocus cause=slice-growth keeps growSlices only:\n%s" % top)
    return ok


@test
def go_without_memprofile():
    """A program that never links runtime.MemProfile samples nothing: allocscope says so, and
    both explicit ways on work."""
    prog = os.path.join(GO, "gonoprof")
    ok = True
    out = tmpfile("noprof.pb.gz")
    r = run_record(["-o", out, "--", prog, "-seconds", "0.5"])
    ok &= check_eq(r.returncode, 0, "exit status (%s)" % r.stderr)
    ok &= check("samples no allocations" in r.stderr and "MemProfileRate is 0" in r.stderr and
                "--go-set-rate" in r.stderr and "--go-every-call" in r.stderr,
                "the plain message: %r" % r.stderr)
    ok &= check_eq(by_leaf(pprof_raw.read(out)), {}, "no samples without a way on")

    out = tmpfile("setrate.pb.gz")
    r = run_record(["--go-set-rate", "512k", "-o", out, "--", prog, "-seconds", "0.5"])
    ok &= check("wrote runtime.MemProfileRate = 524288" in r.stderr, "says it wrote: %r"
                % r.stderr)
    p = pprof_raw.read(out)
    ok &= check_eq(p.period, 524288, "period after --go-set-rate")
    sites = by_leaf(p)
    ok &= check("main.allocate" in sites and sites["main.allocate"][1] > 0,
                "--go-set-rate: main.allocate sampled: %r" % sites)
    causes = {s["labels"].get("cause") for s in p.samples if s["stack"][0] == "main.allocate"}
    # make([]byte) per call; the first 65 appends to sink may grow it (slice-growth).
    ok &= check("make-slice" in causes and causes <= {"make-slice", "slice-growth"},
                "--go-set-rate: cause of main.allocate: %r" % causes)

    out = tmpfile("everycall.pb.gz")
    r = run_record(["--go-every-call", "-o", out, "--", prog, "-seconds", "0.5"])
    p = pprof_raw.read(out)
    sites = by_leaf(p)
    allocated = int(r.stdout.split()[-1]) if r.stdout.split() else 0
    want = allocated * (256 << 10)
    got = sites.get("main.allocate", (0, 0, 0, 0))[1]
    # 256 KiB blocks at a 512 KiB mean: p = 0.39 each, thousands of blocks: well within 10%.
    ok &= check(want and abs(got - want) <= 0.1 * want,
                "--go-every-call: main.allocate alloc_space %d within 10%% of %d" % (got, want))
    return ok


@test
def go_timeline_phases():
    """quiet, burst of 256 MiB kept live, forced GCs, release, GCs: the cycles come in order, the
    burst is allocated before the peak, and the release frees it."""
    out, tl = tmpfile("phases.pb.gz"), tmpfile("phases.json")
    r = run_record(["-o", out, "--timeline", tl, "--timeline-interval", "0.1", "--",
                    os.path.join(GO, "gophases")])
    if not check_eq(r.returncode, 0, "exit status (%s)" % r.stderr):
        return False
    d = json.load(open(tl))
    recs = d["records"]
    gcs = [x for x in recs if x["type"] == "gc"]
    mib = 1 << 20
    ok = check(len(gcs) >= 4, "at least the four forced GC cycles: %d" % len(gcs))
    ok &= check_eq([x["cycle"] for x in gcs], list(range(1, len(gcs) + 1)), "cycles in order")
    ok &= check(all(a["time_unix_ns"] <= b["time_unix_ns"] for a, b in zip(recs, recs[1:])),
                "records in time order")
    ok &= check(any(x["type"] == "interval" for x in recs), "interval records")
    allocated = sum(x["alloc_bytes"] for x in recs)
    # 1024 blocks of 256 KiB at a 512 KiB rate: each sampled with p = 1 - exp(-0.5) = 0.39, so
    # the estimate's relative standard deviation is sqrt((1-p)/(n p)) = 3.9%: 20% is 5 sigma.
    ok &= check(abs(allocated - 256 * mib) <= 0.2 * 256 * mib,
                "the burst: %d MiB allocated, want 256 MiB +-20%%" % (allocated // mib))
    peak = max(range(len(recs)), key=lambda i: recs[i]["inuse_bytes"])
    ok &= check(recs[peak]["inuse_bytes"] >= 0.8 * 256 * mib,
                "peak in-use %d MiB" % (recs[peak]["inuse_bytes"] // mib))
    freed_after = sum(x["freed_bytes"] for x in recs[peak + 1:])
    ok &= check(freed_after >= 0.8 * 256 * mib, "the release frees the burst after the peak: "
                "%d MiB" % (freed_after // mib))
    ok &= check(recs[-1]["inuse_bytes"] <= 16 * mib, "in-use at the end %d MiB"
                % (recs[-1]["inuse_bytes"] // mib))
    quiet = [x for x in recs if x["time_unix_ns"] < recs[0]["time_unix_ns"] + 250_000_000]
    ok &= check(sum(x["alloc_bytes"] for x in quiet) < 16 * mib, "the quiet phase is quiet")
    return ok


@test
def go_cgo_both():
    """A cgo program gets both: the runtime's samples for Go code and the malloc family for C,
    with C frames named from DWARF/ELF (they are not in the pclntab) and the stack whole
    across asmcgocall."""
    out = tmpfile("cgo.pb.gz")
    r = run_record(["--rate", "1", "-o", out, "--", os.path.join(GO, "gocgo")])
    if not check_eq(r.returncode, 0, "exit status (%s)" % r.stderr):
        return False
    p = pprof_raw.read(out)
    c = [s for s in p.samples if s["stack"][:3] == ["malloc", "c_alloc_block", "c_alloc_many"]]
    ok = check_eq(sum(p.value(s, "alloc_objects") for s in c), 10000, "C mallocs counted exactly")
    ok &= check_eq(sum(p.value(s, "alloc_space") for s in c), 10000 * 4096, "C malloc bytes")
    ok &= check_eq(sum(p.value(s, "inuse_space") for s in c), 0, "C blocks all freed")
    ok &= check(c and "main.main" in c[0]["stack"], "C stack reaches main.main: %r"
                % (c[0]["stack"] if c else None))
    g = [s for s in p.samples if s["stack"][0] == "main.goAllocs"]
    ok &= check(g and {s["labels"].get("cause") for s in g} == {"make-slice"},
                "Go samples from main.goAllocs with cause make-slice")
    return ok
