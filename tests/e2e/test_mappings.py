# SPDX-License-Identifier: MIT
"""Anonymous mappings beyond one mmap and its munmap: mremap that grows (and may move), moves
onto another mapping, shrinks; a munmap that spans several tracked mappings; a munmap that
fails. Each counted exactly at --rate 1 by tests/targets/remap.c, in-use bytes included."""
import os
import tempfile

import pprof_raw
from harness import BUILD, check, check_eq, test
from test_record import record_by_pid

REMAP = os.path.join(BUILD, "tests", "targets", "remap")
MIB = 1 << 20

# Per (function, allocator): (alloc_objects, alloc_space, inuse_objects, inuse_space) at exit.
EXPECTED = {
    ("remap_grow", "mmap"): (1, MIB, 0, 0),
    ("remap_grow", "mremap"): (1, 4 * MIB, 1, 4 * MIB),
    ("remap_move", "mmap"): (2, 4 * MIB, 0, 0),
    ("remap_move", "mremap"): (1, 2 * MIB, 1, 2 * MIB),
    ("remap_shrink", "mmap"): (1, 4 * MIB, 0, 0),
    ("remap_shrink", "mremap"): (1, MIB, 1, MIB),
    ("unmap_span", "mmap"): (3, 6 * MIB, 0, 0),
    ("unmap_fail", "mmap"): (1, MIB, 1, MIB),
}
FUNCTIONS = {f for f, _ in EXPECTED}
ALLOCATORS = {"mmap", "mremap"}


def by_site(p):
    """Sum the four values per (pattern function, allocator): the allocator is the `allocator`
    label where the profile has one, else the leaf frame."""
    sums = {}
    for s in p.samples:
        st = s["stack"]
        site = next((fn for fn in st if fn in FUNCTIONS), None)
        alloc = s["labels"].get("allocator") or (st[0] if st else None)
        if site is None or alloc not in ALLOCATORS:
            continue
        acc = sums.setdefault((site, alloc), [0, 0, 0, 0])
        for i, name in enumerate(("alloc_objects", "alloc_space", "inuse_objects",
                                  "inuse_space")):
            acc[i] += p.value(s, name)
    return {k: tuple(v) for k, v in sums.items()}


@test
def record_mremap_and_munmap_ranges():
    """mremap grow/move/shrink: the old mapping ends, the new one is an mremap allocation of
    its new size; one munmap of three adjacent tracked mappings ends all three; a munmap that
    fails (EINVAL) ends nothing; the daemon's counters say so."""
    out = os.path.join(tempfile.mkdtemp(prefix="allocscope-test-"), "remap.pb.gz")
    status, rec_status, err = record_by_pid([REMAP, "--wait"], out, "--rate", "1")
    if not check_eq((status, rec_status), (0, 0), "target and record exit 0 (%s)" % err):
        return False
    sites = by_site(pprof_raw.read(out))
    ok = True
    for key, v in EXPECTED.items():
        ok &= check_eq(sites.get(key), v, "%s via %s (alloc n, bytes, inuse n, bytes)" % key)
    extra = {k: v for k, v in sites.items() if k not in EXPECTED}
    ok &= check(not extra, "nothing else from the pattern's functions: %r" % extra)
    return ok
