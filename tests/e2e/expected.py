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


def allocator(sample):
    """The entry point a sample was allocated by: its "allocator" label ("malloc", or
    "xmalloc->malloc" through a wrapper), else (a profile of another tool) its leaf frame."""
    label = sample["labels"].get("allocator")
    if label:
        return label.split("->")[-1]
    return sample["stack"][0] if sample["stack"] else None


def by_site(profile):
    """Sum the four values per (pattern function, allocator). The pattern's functions call the
    allocator themselves, so the function is the sample's leaf frame."""
    sums = {}
    for s in profile.samples:
        stack = s["stack"]
        site = next((fn for fn in stack if fn in FUNCTIONS), None)
        if site is None or not stack:
            continue
        if stack[0] != site and stack[0] not in ALLOCATORS:
            continue  # not this pattern's own allocation
        key = (site, allocator(s))
        acc = sums.setdefault(key, [0, 0, 0, 0])
        for i, name in enumerate(("alloc_objects", "alloc_space", "inuse_objects",
                                  "inuse_space")):
            acc[i] += profile.value(s, name)
    return {k: tuple(v) for k, v in sums.items()}


def whole_pattern(profile):
    """Whether profile holds one whole round of the pattern, every site as PATTERN has it (the
    state a test waits for before it checks each site)."""
    sites = by_site(profile)
    return all(sites.get(key) == want for key, want in PATTERN.items())
