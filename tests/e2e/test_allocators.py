# SPDX-License-Identifier: MIT
"""Other allocators' own entry points (jemalloc, mimalloc, tcmalloc, and the operator new and
delete they replace), each counted exactly under --rate 1 by a target built against Debian's
library (tests/targets/alloc/allocators.c)."""
import os
import tempfile

import pprof_raw
from harness import BUILD, check, check_eq, skip_dep, test
from test_record import record_by_pid

# Per (function, allocator label): (alloc_objects, alloc_space, inuse_objects, inuse_space). The
# function is each sample's leaf frame: the allocator's own frames are gone from the stack.
CXX = {("cxx_new", "operator new"): (110, 100 * 48 + 10 * 256, 46, 40 * 48 + 6 * 256)}
EXPECTED = {
    "jemalloc": {
        ("je_api", "mallocx"): (100, 10000, 20, 2000),
        ("je_grow", "mallocx"): (50, 2000, 0, 0),
        ("je_grow", "rallocx"): (50, 200000, 20, 80000),
    },
    "mimalloc": {
        ("mi_api", "mi_malloc"): (100, 20000, 10, 2000),
        ("mi_api", "mi_calloc"): (20, 2000, 20, 2000),
        ("mi_grow", "mi_calloc"): (30, 480, 0, 0),
        ("mi_grow", "mi_reallocn"): (30, 30000, 20, 20000),
    },
    "tcmalloc": {
        ("tc_api", "malloc"): (50, 15000, 25, 7500),
    },
}
FUNCTIONS = {"cxx_new", "je_api", "je_grow", "mi_api", "mi_grow", "tc_api"}


def by_site(p):
    sums = {}
    for s in p.samples:
        st = s["stack"]
        site = next((fn for fn in st if fn in FUNCTIONS), None)
        if site is None:
            continue
        # A pattern function below the leaf: keyed by the leaf, so that the check fails.
        leaf = st[0] if st[0] == site else "%s above %s" % (st[0], site)
        acc = sums.setdefault((leaf, s["labels"].get("allocator")), [0, 0, 0, 0])
        for i, name in enumerate(("alloc_objects", "alloc_space", "inuse_objects",
                                  "inuse_space")):
            acc[i] += p.value(s, name)
    return {k: tuple(v) for k, v in sums.items()}


def record_with(allocator):
    target = os.path.join(BUILD, "tests", "targets", "with_" + allocator)
    if not os.path.exists(target):
        skip_dep("%s not built: its Debian package is not installed "
                 "(deploy/setup-debian.sh)" % target)
    out = os.path.join(tempfile.mkdtemp(prefix="allocscope-test-"), allocator + ".pb.gz")
    # By pid: a command started by record has only libc probed before its libraries load.
    _, rec_status, err = record_by_pid([target, "--wait"], out, "--rate", "1")
    if not check_eq(rec_status, 0, "record exits 0 when the process exits (%s)" % err):
        return False
    sites = by_site(pprof_raw.read(out))
    want = {**CXX, **EXPECTED[allocator]}
    ok = True
    for key, v in want.items():
        ok &= check_eq(sites.get(key), v, "%s via %s (alloc n, bytes, inuse n, bytes)" % key)
    extra = {k: v for k, v in sites.items() if k not in want}
    ok &= check(not extra, "nothing else from the pattern's functions: %r" % extra)
    return ok


@test
def allocator_jemalloc_entry_points():
    return record_with("jemalloc")


@test
def allocator_mimalloc_entry_points():
    return record_with("mimalloc")


@test
def allocator_tcmalloc_entry_points():
    return record_with("tcmalloc")
