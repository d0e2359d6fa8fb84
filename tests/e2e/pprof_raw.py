# SPDX-License-Identifier: MIT
"""Reads a profile the way a user would: through `go tool pprof -raw`, parsed into samples with
function-name stacks (leaf first), so tests assert on what pprof itself prints."""
import re
import subprocess

SAMPLE_RE = re.compile(r"^\s*((?:-?\d+\s+)*-?\d+):((?:\s+\d+)*)\s*$")
# "  2: 0x7f31800409b3 M=1 func file.c:58 s=0(system_name)"; M= is absent for no mapping.
LOC_RE = re.compile(r"^\s*(\d+): 0x([0-9a-f]+)(?: M=(\d+))?(?: (.*?))?\s*$")
LINE_RE = re.compile(r"^\s+(\S.*?) (\S*?):(-?\d+) s=\d+(?:\(.*\))?\s*$")
# "                cause:[map-growth]" or, numeric ones together, "bytes:[896 bytes] pid:[7]"
LABEL_RE = re.compile(r"(\S+?):\[([^\]]*)\]")


class Profile:
    def __init__(self):
        self.sample_types = []  # [(type, unit)]
        self.period_type = None
        self.period = None
        self.samples = []  # dicts: values, locs, labels, stack (function names, leaf first)
        self.locations = {}  # id -> list of (function, file, line), innermost first
        self.loc_addr = {}
        self.loc_mapping = {}
        self.mappings = {}  # id -> text
        self.default_type = None  # the sample type pprof shows by default

    def value(self, sample, name):
        return sample["values"][self.index(name)]

    def index(self, name):
        return [t for t, _ in self.sample_types].index(name)


def pprof(*args, timeout=120):
    return subprocess.run(["go", "tool", "pprof", *args], capture_output=True, text=True,
                          timeout=timeout)


def read(path):
    # -symbolize=none: the names must be allocscope's own, not ones pprof finds on disk.
    r = pprof("-raw", "-symbolize=none", path)
    if r.returncode != 0:
        raise RuntimeError("go tool pprof -raw %s failed: %s" % (path, r.stderr.strip()))
    return parse(r.stdout)


def parse(text):
    p = Profile()
    section = None
    cur_loc = None
    for line in text.splitlines():
        if line.startswith("PeriodType:"):
            p.period_type = tuple(line.split()[1:3])
            continue
        if line.startswith("Period:"):
            p.period = int(line.split()[1])
            continue
        if line.startswith("Samples:"):
            section = "samples-head"
            continue
        if line.startswith("Locations"):
            section = "locations"
            continue
        if line.startswith("Mappings"):
            section = "mappings"
            continue
        if section == "samples-head":
            for x in line.split():
                if x.endswith("[dflt]"):
                    x = x[:-len("[dflt]")]
                    p.default_type = x.split("/")[0]
                p.sample_types.append(tuple(x.split("/")))
            section = "samples"
            continue
        if section == "samples":
            m = SAMPLE_RE.match(line)
            if m:
                p.samples.append({
                    "values": [int(x) for x in m.group(1).split()],
                    "locs": [int(x) for x in m.group(2).split()],
                    "labels": {},
                })
                continue
            if p.samples and line.startswith(" "):
                for key, value in LABEL_RE.findall(line):
                    p.samples[-1]["labels"][key] = value
            continue
        if section == "locations":
            m = LOC_RE.match(line)
            if m:
                cur_loc = int(m.group(1))
                p.loc_addr[cur_loc] = int(m.group(2), 16)
                p.loc_mapping[cur_loc] = int(m.group(3) or 0)
                p.locations[cur_loc] = []
                rest = m.group(4)
                if rest:
                    lm = LINE_RE.match(" " + rest)
                    if lm:
                        p.locations[cur_loc].append((lm.group(1), lm.group(2), int(lm.group(3))))
                    else:
                        p.locations[cur_loc].append((rest.split()[0], "", 0))
                continue
            lm = LINE_RE.match(line)
            if lm and cur_loc is not None:
                p.locations[cur_loc].append((lm.group(1), lm.group(2), int(lm.group(3))))
            continue
        if section == "mappings":
            m = re.match(r"^\s*(\d+): (.*)$", line)
            if m:
                p.mappings[int(m.group(1))] = m.group(2)
    for s in p.samples:
        stack = []
        for loc in s["locs"]:
            lines = p.locations.get(loc) or [("0x%x" % p.loc_addr.get(loc, 0), "", 0)]
            stack.extend(fn for fn, _, _ in lines)
        s["stack"] = stack
    return p


def comments(path):
    """The profile's comments, as `go tool pprof -comments` prints them."""
    r = pprof("-comments", path)
    return r.stdout.splitlines() if r.returncode == 0 else []
