# SPDX-License-Identifier: MIT
"""The allocators' own samplers: a process that samples its allocations itself and reports them
through the OpenTelemetry memory USDTs (tests/targets/otel_usdt.c) is watched through those
probes under --mode auto, and only its samples trap. With every allocation a sample the counts
are exact; with byte-Poisson sampling at interval R each sample weighs (points in its bytes) * R,
so an allocation of s bytes contributes R * Poisson(s / R) bytes: variance R * s per allocation
for bytes, R / s for objects (weight / s), from which the 3-sigma bounds below follow."""
import json
import math
import os
import subprocess
import tempfile

import pprof_raw
from harness import BUILD, check, check_eq, fail, test

ALLOCSCOPE = os.path.join(BUILD, "allocscope")
TARGET = os.path.join(BUILD, "tests", "targets", "otel_usdt")


def record(args, target_args):
    out = os.path.join(tempfile.mkdtemp(prefix="allocscope-test-"), "usdt.pb.gz")
    r = subprocess.run([ALLOCSCOPE, "record", "-v", "-o", out] + args + ["--", TARGET] +
                       target_args, capture_output=True, text=True, timeout=300)
    return r, out


def per_function(p, fns):
    got = {}
    for s in p.samples:
        fn = next((f for f in s["stack"] if f in fns), None)
        if fn:
            acc = got.setdefault(fn, [0, 0, 0, 0])
            for i, name in enumerate(("alloc_objects", "alloc_space", "inuse_objects",
                                      "inuse_space")):
                acc[i] += p.value(s, name)
    return got


@test
def samplers_usdt_exact_counts():
    r, out = record([], [])
    if not check_eq(r.returncode, 0, "exit status (stderr: %s)" % r.stderr):
        return False
    ok = check("otel_memory USDT" in r.stderr, "--verbose names the source: %s" % r.stderr)
    ok &= check(any("otel_memory USDT" in c for c in pprof_raw.comments(out)),
                "the profile's comments name the source")
    p = pprof_raw.read(out)
    got = per_function(p, ("otel_small", "otel_kept"))
    # objects, bytes, in-use objects, in-use bytes
    ok &= check_eq(got.get("otel_small"), [3000, 3000 * 64, 0, 0], "otel_small")
    ok &= check_eq(got.get("otel_kept"), [500, 500 * 4096, 500, 500 * 4096], "otel_kept")
    for s in p.samples:
        st = s["stack"]
        if "otel_small" in st or "otel_kept" in st:
            fn = "otel_small" if "otel_small" in st else "otel_kept"
            # The leaf is the code at the probe; the source is the allocator label.
            ok &= check_eq(st[:3], ["sampled_malloc", fn, "main"], "frames, leaf first")
    # Nothing but the process's samples: no malloc-family probe fired (its own malloc calls
    # for calloc and the tags would show as malloc/calloc samples).
    kinds = {s["labels"].get("allocator") for s in p.samples}
    ok &= check_eq(kinds, {"otel_memory:alloc"}, "only otel_memory samples (allocator label)")
    return ok


@test
def samplers_usdt_mode_malloc_probes_every_call():
    """--mode malloc keeps every-call probes even where the process has a sampler."""
    r, out = record(["--mode", "malloc", "--rate", "1"], [])
    if not check_eq(r.returncode, 0, "exit status (stderr: %s)" % r.stderr):
        return False
    p = pprof_raw.read(out)
    got = per_function(p, ("otel_small", "otel_kept"))
    # Every call is seen by the malloc probe with its real size (the 16-byte tag included),
    # and otel_kept's own calloc of its 500 pointers.
    ok = check_eq(got.get("otel_small", [0])[0], 3000, "otel_small objects")
    ok &= check_eq(got.get("otel_kept", [0, 0])[1], 500 * (4096 + 16) + 500 * 8,
                   "otel_kept bytes")
    ok &= check(all(s["labels"].get("allocator") != "otel_memory:alloc" for s in p.samples),
                "no otel_memory samples")
    return ok


@test
def samplers_usdt_sampled_within_3_sigma():
    n, rate = 400000, 64 * 1024
    truth = {"otel_small": [(64, n)], "otel_kept": [(4096, n // 8)]}
    tl = os.path.join(tempfile.mkdtemp(prefix="allocscope-test-"), "usdt.json")
    r, out = record(["--timeline", tl], ["sampled", str(n), str(rate)])
    if not check_eq(r.returncode, 0, "exit status (stderr: %s)" % r.stderr):
        return False
    got = per_function(pprof_raw.read(out), truth)
    ok = True
    # The timeline is made of the process's totals, which count the sampler's weights: unscaled
    # (before, they were scaled once more, by --rate, as if they were our own samples).
    with open(tl) as f:
        recs = json.load(f)["records"]
    everything = [sz for sizes in truth.values() for sz in sizes]
    for what, key, sigma, want in (
            ("objects", "alloc_objects", math.sqrt(sum(c * rate / s for s, c in everything)),
             sum(c for _, c in everything)),
            ("bytes", "alloc_bytes", math.sqrt(sum(c * rate * s for s, c in everything)),
             sum(s * c for s, c in everything))):
        total = sum(rec[key] for rec in recs)
        print("    timeline %s %d (truth %d +- %d)" % (what, total, want, 3 * sigma), flush=True)
        ok &= check(abs(total - want) <= 3 * sigma, "timeline %s within 3 sigma" % what)
    for fn, sizes in truth.items():
        objs = sum(c for _, c in sizes)
        nbytes = sum(s * c for s, c in sizes)
        so = math.sqrt(sum(c * rate / s for s, c in sizes))
        sb = math.sqrt(sum(c * rate * s for s, c in sizes))
        o, b = got.get(fn, [0, 0])[:2]
        print("    %s: objects %d (truth %d +- %d), bytes %d (truth %d +- %d)" % (
            fn, o, objs, 3 * so, b, nbytes, 3 * sb), flush=True)
        ok &= check(abs(o - objs) <= 3 * so, "%s objects within 3 sigma" % fn)
        ok &= check(abs(b - nbytes) <= 3 * sb, "%s bytes within 3 sigma" % fn)
    return ok


SAMPLER = os.path.join(BUILD, "liballocscope_sampler.so")
PATTERN_EXE = os.path.join(BUILD, "tests", "targets", "alloc_pattern")


def preload_round(rate, after=None, env_extra=None):
    """One round of alloc_pattern started with liballocscope_sampler.so preloaded at rate (and
    the object after, preloaded behind it), under `record --pid --verbose`: (record's result
    with the target's stderr appended, the profile's path)."""
    from test_record import wait_for_line
    out = os.path.join(tempfile.mkdtemp(prefix="allocscope-test-"), "preload.pb.gz")
    env = dict(os.environ, LD_PRELOAD=SAMPLER + (" " + after if after else ""),
               ALLOCSCOPE_SAMPLER_RATE=str(rate), **(env_extra or {}))
    t = subprocess.Popen([PATTERN_EXE, "--wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    rec = None
    try:
        wait_for_line(t.stdout, "ready")
        rec = subprocess.Popen([ALLOCSCOPE, "record", "-v", "--pid", str(t.pid), "-o", out],
                               stderr=subprocess.PIPE, text=True)
        # Attached once it says what it records (its probes are placed before that line).
        err = wait_for_line(rec.stderr, "recording pid", timeout=120)
        t.stdin.write("go\n")
        t.stdin.flush()
        wait_for_line(t.stdout, "ready")
    finally:
        if t.poll() is None:
            t.stdin.write("go\n")
            t.stdin.flush()
            t.wait(timeout=30)
    # The target's exit ends the recording.
    rest = rec.communicate(timeout=120)[1]
    return subprocess.CompletedProcess(rec.args, rec.returncode, t.stderr.read(), err + rest), out


@test
def samplers_preload_library_exact_at_rate_1():
    """liballocscope_sampler.so (LD_PRELOAD) at ALLOCSCOPE_SAMPLER_RATE=1 makes every block of
    alloc_pattern a sample of weight its size: --mode auto watches the process through the
    library's otel_memory USDTs alone, and every site and entry point comes out exact, with
    the program's own function as the leaf and the entry point in the allocator label."""
    r, out = preload_round(1)
    if not check_eq(r.returncode, 0, "record's exit status (stderr: %s)" % r.stderr[-2000:]):
        return False
    return preload_pattern_exact(r, out)


def preload_pattern_exact(r, out):
    import expected
    ok = check("otel_memory USDT" in r.stderr, "--verbose names the source: %s" % r.stderr[-2000:])
    p = pprof_raw.read(out)
    labels = {s["labels"].get("allocator") for s in p.samples}
    ok &= check(labels and all(l and l.endswith("->otel_memory:alloc") for l in labels),
                "only the library's samples, each with its entry point: %r" % labels)
    got = {}
    for s in p.samples:
        st = s["stack"]
        site = next((f for f in st if f in expected.FUNCTIONS), None)
        if site is None or st[0] != site:
            continue
        key = (site, s["labels"]["allocator"].split("->")[0])
        acc = got.setdefault(key, [0, 0, 0, 0])
        for i, name in enumerate(("alloc_objects", "alloc_space", "inuse_objects",
                                  "inuse_space")):
            acc[i] += p.value(s, name)
    for key, want in expected.PATTERN.items():
        if key[1] == "mmap":
            continue  # not the malloc family: the library samples none of it
        ok &= check_eq(tuple(got.get(key, ())), want, "%s via %s" % key)
    return ok


@test
def samplers_record_command_preload_sampler():
    """record --preload-sampler -- COMMAND starts the command with the library first in its
    LD_PRELOAD and sampling at --rate (1: every block), and probes the library's USDTs before
    exec, with the executable: the loader maps it before main, and a profile of the command
    from its start comes out exact, from the library's samples alone. With --pid the flag is
    refused: a running process loads the library only when restarted."""
    out = os.path.join(tempfile.mkdtemp(prefix="allocscope-test-"), "preload-cmd.pb.gz")
    env = dict(os.environ)
    env.pop("ALLOCSCOPE_SAMPLER_RATE", None)
    env.pop("LD_PRELOAD", None)
    r = subprocess.run([ALLOCSCOPE, "record", "-v", "--preload-sampler", "--rate", "1", "-o",
                        out, "--", PATTERN_EXE], capture_output=True, text=True, timeout=120,
                       env=env)
    if not check_eq(r.returncode, 7, "record's exit status, the command's (stderr: %s)"
                    % r.stderr[-2000:]):
        return False
    ok = preload_pattern_exact(r, out)
    bad = subprocess.run([ALLOCSCOPE, "record", "--preload-sampler", "--pid", "1"],
                         capture_output=True, text=True, timeout=30)
    ok &= check(bad.returncode == 2 and "needs -- COMMAND" in bad.stderr,
                "--preload-sampler with --pid refused: %d %s" % (bad.returncode, bad.stderr))
    return ok


@test
def samplers_preload_library_forwards_to_jemalloc():
    """A program whose allocator is jemalloc keeps it under the library: every call goes to the
    next malloc family after the library's (here jemalloc, preloaded behind it), whose own
    statistics count the blocks, and the profile is as exact as on glibc's."""
    jemalloc = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
    if not os.path.exists(jemalloc):
        return fail("%s missing (deploy/setup-debian.sh installs libjemalloc2)" % jemalloc)
    r, out = preload_round(1, jemalloc, {"MALLOC_CONF": "stats_print:true"})
    if not check_eq(r.returncode, 0, "record's exit status (stderr: %s)" % r.stderr[-2000:]):
        return False
    stats = [l for l in r.stdout.splitlines() if l.startswith("Allocated:")]
    ok = check(stats, "jemalloc printed its statistics: %s" % r.stdout[-500:])
    # At exit alloc_pattern still holds 5 MiB of alloc_large's blocks, from jemalloc's heap.
    ok &= check(stats and int(stats[0].split()[1].rstrip(",")) >= 5 << 20,
                "jemalloc served the blocks: %r" % stats)
    return ok & preload_pattern_exact(r, out)
