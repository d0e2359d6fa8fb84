# SPDX-License-Identifier: MIT
"""End to end: `allocscope record --unwind cfi` on code built without frame pointers (our own
-O2 -fomit-frame-pointer targets and libraries, and Debian's perl): stacks reach main with the
right frames in the right order, read back through `go tool pprof`."""
import os
import subprocess

import pprof_raw
from harness import BUILD, fail, test, check, check_eq
from test_record import run_record, tmpfile

CFI_APP = os.path.join(BUILD, "tests", "targets", "cfi", "cfi_app")

# Leaf first: the code that called the allocator (its frames and operator new's are gone; the
# allocator label names them).
LIB_STACK = ["cfi_lib_inner", "cfi_lib_middle", "cfi_lib_outer", "app_level3",
             "app_level2", "app_level1", "main"]
NEW_STACK = ["cfi_new_block", "app_cxx", "main"]

PERL_LOOP = ("my @a; for my $i (1..60000) { push @a, 'x' x (64 + $i % 500); "
             "shift @a if @a > 2000 } print scalar(@a), qq(\\n);")


def dynsym_function(path, vaddr):
    """The .dynsym function of the file covering vaddr, or None."""
    r = subprocess.run(["nm", "-D", "--defined-only", "-S", path], capture_output=True,
                       text=True)
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "Tt" and int(f[0], 16) <= vaddr < int(f[0], 16) + int(
                f[1], 16):
            return f[3]
    return None


def values(p, samples):
    return tuple(sum(p.value(s, t) for s in samples)
                 for t in ("alloc_objects", "alloc_space", "inuse_objects", "inuse_space"))


def frames_match(stack, want):
    """want's names in order at the top of stack; "operator new" matches its overloads."""
    if len(stack) < len(want):
        return False
    return all(got == w or (w == "operator new" and got.startswith("operator new"))
               for got, w in zip(stack, want))


def record_cfi_app(extra):
    out = tmpfile("cfi.pb.gz")
    r = run_record(["--rate", "1", *extra, "--output", out, "--", CFI_APP])
    if not check_eq(r.returncode, 0, "cfi_app exit status (stderr: %s)" % r.stderr):
        return None, r
    return pprof_raw.read(out), r


def assert_cfi_app(p):
    lib = [s for s in p.samples if "cfi_lib_inner" in s["stack"]]
    new = [s for s in p.samples if "cfi_new_block" in s["stack"]]
    ok = check(lib, "no sample through cfi_lib_inner")
    ok &= check(new, "no sample through cfi_new_block")
    for s in lib:
        ok &= check(frames_match(s["stack"], LIB_STACK),
                    "library stack: got %r, want %r on top" % (s["stack"], LIB_STACK))
        ok &= check_eq(s["labels"].get("allocator"), "malloc", "library stack's allocator")
    for s in new:
        ok &= check(frames_match(s["stack"], NEW_STACK),
                    "C++ new stack: got %r, want %r on top" % (s["stack"], NEW_STACK))
        ok &= check_eq(s["labels"].get("allocator"), "operator new->malloc",
                       "libstdc++'s operator new goes with the allocator")
    ok &= check_eq(values(p, lib), (64, 64000, 32, 32000),
                   "cfi_lib_inner (alloc n, bytes, inuse n, bytes)")
    ok &= check_eq(values(p, new), (32, 96000, 0, 0),
                   "cfi_new_block (alloc n, bytes, inuse n, bytes)")
    return ok


@test
def cfi_stacks_reach_main():
    p, r = record_cfi_app(["--unwind", "cfi"])
    if p is None:
        return False
    ok = assert_cfi_app(p)
    # The program's own stacks are whole. The dynamic loader's mmaps before main (at exec, from
    # _dl_map_object_deps) now and then stop short and are marked: not what this test is about.
    mine = [s for s in p.samples if "main" in s["stack"] or "[truncated]" in s["stack"] and
            not any(f.startswith("_dl_") for f in s["stack"])]
    ok &= check(not any("[truncated]" in s["stack"] for s in mine),
                "no stack of cfi_app's own code is truncated with 16 KiB of stack: %r" %
                [s["stack"] for s in mine if "[truncated]" in s["stack"]])
    return ok


@test
def cfi_auto_mode_unwinds_native_programs():
    p, r = record_cfi_app(["--unwind", "auto", "--verbose"])
    if p is None:
        return False
    ok = check("unwinding sampled stacks from CFI" in r.stderr,
               "auto chose CFI for a program without a Go runtime: %s" % r.stderr[-2000:])
    return assert_cfi_app(p) and ok


@test
def cfi_short_stack_copy_is_marked_truncated():
    """512 bytes of stack cannot hold the library path's frames: the stack is kept as far as it
    goes, ends in a [truncated] frame, and the run says how many were cut."""
    p, r = record_cfi_app(["--unwind", "cfi", "--stack-copy", "512"])
    if p is None:
        return False
    lib = [s for s in p.samples if "cfi_lib_inner" in s["stack"]]
    ok = check(lib, "no sample through cfi_lib_inner")
    for s in lib:
        ok &= check_eq(s["stack"][:2], ["cfi_lib_inner", "cfi_lib_middle"], "leaf frames kept")
        ok &= check_eq(s["stack"][-1], "[truncated]", "last frame of a cut stack")
        ok &= check("main" not in s["stack"], "main cannot be reached: %r" % s["stack"])
    ok &= check_eq(values(p, lib)[0], 64, "every library sample kept, truncated or not")
    ok &= check("have a stack cut short ([truncated])" in r.stderr,
                "the cut stacks are counted: %s" % r.stderr[-2000:])
    return ok


@test
def cfi_perl_stacks_reach_main():
    """Debian's perl has no frame pointers: at least 90% of the sampled allocations reach perl's
    main, and every frame in perl's own code (its interpreter, libperl) is named."""
    out = tmpfile("perl.pb.gz")
    r = run_record(["--unwind", "cfi", "--rate", "16k", "--output", out, "--",
                    "perl", "-e", PERL_LOOP])
    if not check_eq(r.returncode, 0, "perl exit status (stderr: %s)" % r.stderr):
        return False
    p = pprof_raw.read(out)
    perl_maps = {i: text for i, text in p.mappings.items()
                 if text.split()[1] == "/usr/bin/perl" or "libperl" in text}
    total = reached = 0
    unnamed = set()
    for s in p.samples:
        n = p.value(s, "alloc_objects")
        total += n
        if any(p.loc_mapping.get(loc) in perl_maps and
               any(fn == "main" for fn, _, _ in p.locations.get(loc, []))
               for loc in s["locs"]):
            reached += n
        for loc in s["locs"]:
            if p.loc_mapping.get(loc) in perl_maps:
                names = [fn for fn, _, _ in p.locations.get(loc, [])]
                if not names or any(fn.startswith("0x") for fn in names):
                    unnamed.add(loc)
    # Without perl's debug files only .dynsym names functions: static ones (toke.c's S_*) stay
    # unnamed. Every frame inside a function .dynsym has must be named.
    nameable = []
    for loc in unnamed:
        text = perl_maps[p.loc_mapping[loc]]
        start, _, offset = (int(x, 16) for x in text.split()[0].split("/"))
        vaddr = p.loc_addr[loc] - 1 - start + offset
        func = dynsym_function(text.split()[1], vaddr)
        if func:
            nameable.append("0x%x in %s" % (p.loc_addr[loc], func))
    ok = check(total > 0, "no samples from perl")
    ok &= check(total and reached >= 0.9 * total,
                "%d of %d sampled allocations reach perl's main (want >= 90%%)" %
                (reached, total))
    ok &= check(perl_maps, "no frame in perl's code: %r" % p.mappings)
    ok &= check(not nameable, "frames that .dynsym names left unnamed: %s" % nameable[:10])
    ok &= check(any(fn.startswith("Perl_") for s in p.samples for fn in s["stack"]),
                "no Perl_ function named")
    # perl's allocator wrappers go with the allocator: the leaf is the code that asked.
    wrapped = [s for s in p.samples if s["stack"] and s["stack"][0].startswith("Perl_safesys")]
    ok &= check(not wrapped, "Perl_safesys* left as a leaf: %r" % [s["stack"][:3] for s in
                                                                   wrapped[:3]])
    ok &= check(any(s["labels"].get("allocator", "").startswith("Perl_safesys")
                    for s in p.samples), "no allocator label names Perl_safesys*")
    return ok


@test
def cfi_daemon_stacks_reach_main():
    """allocscoped --unwind cfi: the same whole stacks over HTTP."""
    from test_daemon import Daemon
    from test_record import wait_for_line
    t = subprocess.Popen([CFI_APP, "--wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    ok = True
    d = None
    try:
        wait_for_line(t.stdout, "ready")
        d = Daemon("--pid", str(t.pid), "--unwind", "cfi", "--rate", "1", "--interval", "0.5")
        t.stdin.write("go\n")
        t.stdin.flush()
        wait_for_line(t.stdout, "ready")
        # Until a drain has brought in every sample of both paths.
        p = d.wait_profile("/debug/pprof/heap?pid=%d" % t.pid, lambda p: (
            values(p, [s for s in p.samples if "cfi_lib_inner" in s["stack"]])[0],
            values(p, [s for s in p.samples if "cfi_new_block" in s["stack"]])[0]) == (64, 32))
        if not assert_cfi_app(p):
            ok = False
            # What the kernel side counted of the copies, to tell a short copy from a walk.
            for c in pprof_raw.comments(p.path):
                print("    comment: %s" % c)
    finally:
        if t.poll() is None:
            t.stdin.write("go\n")
            t.stdin.flush()
            t.wait(timeout=10)
        if d:
            ok &= check_eq(d.stop(), 0, "daemon exit")
    return ok


CGO_NOFP = os.path.join(BUILD, "tests", "targets", "go", "gocgonofp")
CGO_STACK = ["c_leaf", "c_middle", "c_outer", "runtime.cgocall", "main._Cfunc_c_outer",
             "main.cLevels", "main.main", "runtime.main", "runtime.goexit"]


@test
def cfi_cgo_stacks_join_go_and_c():
    """Go calling C built -O2 -fomit-frame-pointer (c_outer keeps a loop counter in rbp): with
    --unwind cfi and auto, the C frames come from CFI and the goroutine's from its frame
    pointers, one whole stack from malloc to runtime.goexit. With fp, it stops in C."""
    ok = True
    for mode in ("cfi", "auto", "fp"):
        out = tmpfile("cgo-%s.pb.gz" % mode)
        r = run_record(["--rate", "1", "--unwind", mode, "-o", out, "--", CGO_NOFP])
        if not check_eq(r.returncode, 0, "%s: exit status (%s)" % (mode, r.stderr[-300:])):
            ok = False
            continue
        p = pprof_raw.read(out)
        leaf = [s for s in p.samples if s["stack"][:1] == ["c_leaf"]
                and s["labels"].get("allocator") == "malloc"]
        total = sum(p.value(s, "alloc_objects") for s in leaf)
        # Every c_leaf call is one malloc: 10000 in all, wherever its stack ends.
        ok &= check_eq(total, 10000, "%s: malloc calls from c_leaf" % mode)
        whole = sum(p.value(s, "alloc_objects") for s in leaf if s["stack"] == CGO_STACK)
        if mode == "fp":
            ok &= check_eq(whole, 0, "fp: no whole stack through C without frame pointers")
            continue
        # Samples the unwind ring had no room for keep their frame-pointer stack (counted).
        kept_fp = 0
        for c in pprof_raw.comments(out):
            if "kept with the frame-pointer stack" in c:
                kept_fp = int(c.split()[1])
        ok &= check(whole >= 10000 - kept_fp - 10 and whole >= 1000,
                    "%s: %d of 10000 stacks whole (%d kept fp): %r" % (
                        mode, whole, kept_fp, [s["stack"] for s in leaf][:3]))
    return ok
