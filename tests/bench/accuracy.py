# SPDX-License-Identifier: MIT
"""Compares allocscope's profiles with ground truth and prints Markdown tables (used by
tests/bench/accuracy.sh; the profiles are read through `go tool pprof -raw`, as a user reads them).

C: DHAT's JSON (valgrind --tool=dhat) counts every allocation of the malloc family exactly.
Allocations are keyed by the first frame that is not an allocator (the function that asked), as
both tools name them. allocscope also counts anonymous mmap, which DHAT does not see: left out.
Every-call (--rate 1) must match exactly. A sampled profile must be within 3 sigma of the truth,
sigma being the standard deviation of allocscope's estimate if the truth is what it sampled:
an allocation of s bytes is sampled with p = 1 - exp(-s/rate) and weighs s/p, so the estimate of
n allocations of s bytes has variance n s^2 (1 - p) / p (per DHAT call site, s = its mean size).

Go: the runtime's own heap profile (runtime/pprof, written by the program at exit) of the same
run, keyed by leaf function of the program (main.*), as `go tool pprof -top` shows them.
Default Go mode reads the runtime's own samples: alloc_space must be equal. --go-every-call
--rate 1 sees every runtime.mallocgc call, so it is the exact side: the runtime's sampled
estimate must be within 3 sigma of it (sigma from allocscope's exact counts, as above).

Usage: accuracy.py MANIFEST, one case a line, fields separated by '|':
  c|LABEL|DHAT_JSON|PROFILE|RATE       go|LABEL|RUNTIME_PROFILE|PROFILE|MODE (default|exact)
"""
import json
import math
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import pprof_raw  # noqa: E402  (the e2e tests' reader of `go tool pprof -raw`)

ALLOCATORS = {
    "malloc", "calloc", "realloc", "reallocarray", "free", "posix_memalign", "aligned_alloc",
    "memalign", "valloc", "pvalloc", "__libc_malloc", "__libc_calloc", "__libc_realloc",
    "__libc_memalign", "__posix_memalign", "__libc_valloc", "__libc_pvalloc", "_mid_memalign",
}
MMAP_LEAVES = {"mmap", "munmap", "mremap"}
TOP = 10
SIGMAS = 3


def fmt(v):
    return "{:,}".format(int(round(v)))


def sampled_var(n, s, rate):
    """Variance of the unsampled byte estimate of n allocations of s bytes."""
    if rate <= 1 or s <= 0:
        return 0.0
    p = -math.expm1(-s / rate)
    return n * s * s * (1 - p) / p


def caller(stack):
    for fn in stack:
        # glibc's internal aliases (__GI__IO_file_doallocate) are the same functions.
        fn = fn[len("__GI_"):] if fn.startswith("__GI_") else fn
        if fn not in ALLOCATORS:
            return fn
    return "?"


def dhat_sites(path):
    """{function: [count, bytes, variance-parts list of (n, mean size)]}"""
    d = json.load(open(path))
    names = []
    for f in d["ftbl"]:
        m = re.match(r"^0x[0-9A-Fa-f]+: (.*?) \((?:in )?(.*)\)$", f)
        names.append((m.group(1), m.group(2)) if m else (f, ""))
    sites = {}
    for pp in d["pps"]:
        stack = [names[i][0] for i in pp["fs"] if "vgpreload_" not in names[i][1]]
        acc = sites.setdefault(caller(stack), [0, 0, []])
        acc[0] += pp["tbk"]
        acc[1] += pp["tb"]
        if pp["tbk"]:
            acc[2].append((pp["tbk"], pp["tb"] / pp["tbk"]))
    return sites


def profile_sites(path, key):
    """{function: [alloc_objects, alloc_space, [(n, mean size) per sample]]}; leaf mmap kept apart
    under the key "(anonymous mmap)"."""
    p = pprof_raw.read(path)
    sites = {}
    for s in p.samples:
        k = key(s)
        if k is None:
            continue
        acc = sites.setdefault(k, [0, 0, []])
        n, b = p.value(s, "alloc_objects"), p.value(s, "alloc_space")
        acc[0] += n
        acc[1] += b
        if n:
            acc[2].append((n, b / n))
    return p, sites


def c_key(s):
    """allocscope's leaf is the code that called the allocator, which its label names."""
    stack = s["stack"]
    if not stack:
        return None
    leaf = s["labels"].get("allocator", stack[0]).split("->")[-1]
    return "(anonymous mmap)" if leaf in MMAP_LEAVES else caller(stack)


def go_key(s):
    stack = s["stack"]
    return stack[0] if stack and stack[0].startswith("main.") else None


def table(rows, head):
    out = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def compare_c(label, dhat, prof, rate):
    truth = dhat_sites(dhat)
    p, ours = profile_sites(prof, c_key)
    mmap = ours.pop("(anonymous mmap)", [0, 0, []])
    exact = rate <= 1
    tc, tb = sum(v[0] for v in truth.values()), sum(v[1] for v in truth.values())
    oc, ob = sum(v[0] for v in ours.values()), sum(v[1] for v in ours.values())
    tot_sigma = math.sqrt(sum(sampled_var(n, s, rate) for v in truth.values() for n, s in v[2]))
    top = sorted(truth, key=lambda f: -truth[f][1])[:TOP]
    detail, ok_fns, worst = [], 0, 0.0
    for fn in top:
        t, o = truth[fn], ours.get(fn, [0, 0, []])
        sigma = math.sqrt(sum(sampled_var(n, s, rate) for n, s in t[2]))
        if exact:
            ok = (o[0], o[1]) == (t[0], t[1])
            dev = "exact" if ok else "off by %s B, %s calls" % (fmt(o[1] - t[1]), fmt(o[0] - t[0]))
        else:
            z = abs(o[1] - t[1]) / sigma if sigma else (0.0 if o[1] == t[1] else math.inf)
            worst = max(worst, z)
            ok = z <= SIGMAS
            dev = "%.2f sigma" % z
        ok_fns += ok
        detail.append([fn, fmt(t[0]), fmt(o[0]), fmt(t[1]), fmt(o[1]),
                       "%.3f" % (o[1] / t[1]) if t[1] else "-",
                       "exact" if exact else fmt(sigma), dev + ("" if ok else " **MISS**")])
    extra = sorted(set(ours) - set(truth))
    if exact:
        tot_ok = (oc, ob) == (tc, tb)
        bound = "exact"
    else:
        tot_ok = abs(ob - tb) <= SIGMAS * tot_sigma
        bound = "%d sigma = %s B" % (SIGMAS, fmt(SIGMAS * tot_sigma))
    summary = [label, "`--rate 1`" if exact else "`--rate %d`" % rate, fmt(tc), fmt(oc), fmt(tb),
               fmt(ob), "%.4f" % (ob / tb if tb else 0), bound,
               "%d/%d%s" % (ok_fns, len(top), "" if exact else " (worst %.1f sigma)" % worst),
               "yes" if tot_ok and ok_fns == len(top) and (not exact or not extra) else "**no**"]
    notes = []
    if extra:
        notes.append("functions only allocscope reports: " + ", ".join(extra[:5]))
    if mmap[0]:
        notes.append("allocscope also counted %s anonymous mmaps (%s B), which DHAT does not see"
                     % (fmt(mmap[0]), fmt(mmap[1])))
    return summary, detail, notes


def compare_go(label, runtime, prof, mode):
    rp, theirs = profile_sites(runtime, go_key)
    p, ours = profile_sites(prof, go_key)
    rate = rp.period or 524288
    # The exact side is allocscope in every-call mode, the runtime's profile otherwise.
    truth, est = (ours, theirs) if mode == "exact" else (theirs, ours)
    top = sorted(truth, key=lambda f: -truth[f][1])[:TOP]
    detail, ok_fns, worst = [], 0, 0.0
    for fn in top:
        t, e = truth[fn], est.get(fn, [0, 0, []])
        if mode == "exact":
            sigma = math.sqrt(sum(sampled_var(n, s, rate) for n, s in t[2]))
            z = abs(e[1] - t[1]) / sigma if sigma else math.inf
            worst = max(worst, z)
            ok = z <= SIGMAS
            dev = "%.2f sigma" % z
        else:
            ok = e[1] == t[1]
            dev = "equal" if ok else "off by %s B" % fmt(e[1] - t[1])
        ok_fns += ok
        detail.append([fn, fmt(theirs.get(fn, [0, 0])[1]), fmt(ours.get(fn, [0, 0])[1]),
                       "%.3f" % (ours.get(fn, [0, 0])[1] / theirs[fn][1])
                       if theirs.get(fn, [0, 0])[1] else "-", dev + ("" if ok else " **MISS**")])
    # A sampled profile may miss a small function; it may not name one that did not allocate.
    same = set(est) <= set(truth) if mode == "exact" else set(theirs) == set(ours)
    tb, ob = sum(v[1] for v in theirs.values()), sum(v[1] for v in ours.values())
    summary = [label, "`record`" if mode != "exact" else "`record --go-every-call --rate 1`",
               "yes" if same else "**no**", fmt(tb), fmt(ob), "%.4f" % (ob / tb if tb else 0),
               "equal" if mode != "exact" else "runtime within %d sigma of exact" % SIGMAS,
               "%d/%d%s" % (ok_fns, len(top), "" if mode != "exact" else
                            " (worst %.1f sigma)" % worst),
               "yes" if same and ok_fns == len(top) else "**no**"]
    notes = []
    if set(theirs) != set(ours):
        notes.append("functions in one profile only: %s" % ", ".join(
            sorted(set(theirs) ^ set(ours))))
    if mode == "exact":
        notes.append("the runtime counts size-class bytes (a 69-byte string as 80), "
                     "--go-every-call the bytes asked for: a bias that depends on the sizes, "
                     "smaller than the runtime's sampling error here")
    return summary, detail, notes


def main():
    c_rows, go_rows, details = [], [], []
    errors = 0
    for line in open(sys.argv[1]):
        f = line.rstrip("\n").split("|")
        try:
            if f[0] == "c":
                s, d, n = compare_c(f[1], f[2], f[3], int(f[4]))
                c_rows.append(s)
                details.append((f[1] + ", " + s[1] + " (allocscope) vs DHAT", table(d, [
                    "function", "calls (DHAT)", "calls (allocscope)", "bytes (DHAT)",
                    "bytes (allocscope)", "ratio", "sigma (B)", "deviation"]), n))
            elif f[0] == "go":
                s, d, n = compare_go(f[1], f[2], f[3], f[4])
                go_rows.append(s)
                details.append((f[1] + ", " + s[1] + " vs the runtime's own heap profile",
                                table(d, ["function", "alloc_space (runtime)",
                                          "alloc_space (allocscope)", "ratio", "deviation"]), n))
        except Exception as e:  # a broken case is reported; the others still print
            print("accuracy: %s: %s" % (f[1], e), file=sys.stderr)
            errors += 1
    if c_rows:
        print("C, allocscope against DHAT (exact counts of the malloc family):")
        print()
        print(table(c_rows, ["target", "mode", "allocations (DHAT)", "allocations (allocscope)",
                             "bytes (DHAT)", "bytes (allocscope)", "bytes ratio",
                             "bound on bytes", "top-10 functions in bound", "pass"]))
        print()
    if go_rows:
        print("Go, allocscope against the runtime's own heap profile of the same run (alloc_space,"
              " functions main.*):")
        print()
        print(table(go_rows, ["target", "mode", "same functions (exact mode: runtime's within allocscope's)", "alloc_space (runtime)",
                              "alloc_space (allocscope)", "ratio", "tolerance",
                              "functions in tolerance", "pass"]))
        print()
    for title, t, notes in details:
        print(title + ":")
        print()
        print(t)
        for n in notes:
            print("- " + n)
        print()
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
