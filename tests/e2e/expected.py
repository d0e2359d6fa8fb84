# SPDX-License-Identifier: MIT
"""What tests/targets/alloc_pattern.c allocates in one round, per function and allocator:
(alloc_objects, alloc_space, inuse_objects, inuse_space) at exit. Keep in step with the C file."""

MIB = 1 << 20

PATTERN = {
    ("alloc_small", "malloc"): (1000, 64000, 1000, 64000),
    ("alloc_large", "malloc"): (10, 10 * MIB, 5, 5 * MIB),
    ("alloc_calloc", "calloc"): (200, 64000, 0, 0),
    ("alloc_realloc", "malloc"): (10, 1000, 0, 0),
    ("alloc_realloc", "realloc"): (20, 6000, 10, 4000),
    ("alloc_aligned", "posix_memalign"): (50, 12800, 50, 12800),
    ("alloc_aligned", "aligned_alloc"): (20, 10240, 0, 0),
    ("alloc_aligned", "valloc"): (5, 5000, 5, 5000),
    ("map_anon", "mmap"): (3, 12 * MIB, 2, 8 * MIB),
    ("thread_work", "malloc"): (1000, 128000, 0, 0),
}

# Functions of the pattern; a sample belongs to the first of them on its stack (leaf first).
FUNCTIONS = sorted({f for f, _ in PATTERN} | {"alloc_fail", "child_work", "run_threads",
                                               "do_fork"})
ALLOCATORS = {"malloc", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc",
              "memalign", "valloc", "pvalloc", "mmap"}


def by_site(profile):
    """Sum the four values per (pattern function, allocator leaf)."""
    sums = {}
    for s in profile.samples:
        stack = s["stack"]
        site = next((fn for fn in stack if fn in FUNCTIONS), None)
        if site is None or not stack:
            continue
        key = (site, stack[0])
        acc = sums.setdefault(key, [0, 0, 0, 0])
        for i, name in enumerate(("alloc_objects", "alloc_space", "inuse_objects",
                                  "inuse_space")):
            acc[i] += profile.value(s, name)
    return {k: tuple(v) for k, v in sums.items()}
