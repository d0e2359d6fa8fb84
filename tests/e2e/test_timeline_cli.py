# SPDX-License-Identifier: MIT
"""End to end: `allocscope timeline` on a real recording of gophases (quiet, a 256 MiB burst,
forced GCs, release): the SVG parsed as XML and matched point by point to the JSON, the terminal
chart's rows and width, --since, --json; against a real allocscoped; standalone; errors. Also
the bash completion and the man page generated from --help."""
import atexit
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

from harness import BUILD, check, check_eq, free_port, skip, skip_dep, test
from test_daemon import Daemon, Target
from test_record import ALLOCSCOPE, run_record

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
GOPHASES = os.path.join(BUILD, "tests", "targets", "go", "gophases")
SVG_NS = "{http://www.w3.org/2000/svg}"
ROW = re.compile(r"^ *\+\d")  # a chart row starts with the time since the first record

_recorded = {}


def phases():
    """(path, parsed JSON) of one gophases timeline, recorded once for all tests here."""
    if "path" not in _recorded:
        d = tempfile.mkdtemp(prefix="allocscope-timeline-")
        atexit.register(shutil.rmtree, d, True)
        path = os.path.join(d, "phases.json")
        r = run_record(["-o", os.path.join(d, "phases.pb.gz"), "--timeline", path,
                        "--timeline-interval", "0.1", "--", GOPHASES])
        if r.returncode != 0:
            raise RuntimeError("record failed: %s" % r.stderr)
        _recorded["path"] = path
        with open(path) as f:
            _recorded["doc"] = json.load(f)
    return _recorded["path"], _recorded["doc"]


def timeline(*args, timeout=60):
    return subprocess.run([ALLOCSCOPE, "timeline", *args], capture_output=True,
                          timeout=timeout, env=dict(os.environ, LANG="C.UTF-8"))


def one_line_error(r, what):
    """A failure: non-zero exit, nothing on stdout, exactly one line on stderr."""
    err = r.stderr.decode()
    return (check(r.returncode != 0, "%s: exit status %d" % (what, r.returncode)) &
            check_eq(len(err.splitlines()), 1, "%s: lines on stderr (%r)" % (what, err)) &
            check_eq(r.stdout, b"", "%s: stdout" % what))


def chart_rows(text):
    return [line for line in text.splitlines() if ROW.match(line)]


@test
def timeline_svg_matches_json():
    """--svg: well-formed XML, one record group per JSON record in order with its values, an
    in-use polyline through the same points, a marker per GC cycle, the title names pid and
    executable; written atomically (nothing else left in the directory)."""
    path, doc = phases()
    recs = doc["records"]
    out = tempfile.mkdtemp(prefix="allocscope-svg-")
    svg = os.path.join(out, "heap.svg")
    r = timeline("--file", path, "--svg", svg)
    ok = check_eq(r.returncode, 0, "exit status (%s)" % r.stderr.decode())
    if not ok:
        return False
    ok &= check_eq(os.listdir(out), ["heap.svg"], "only the picture in its directory")
    root = ET.parse(svg).getroot()
    ok &= check_eq(root.tag, SVG_NS + "svg", "root element")
    groups = [g for g in root.iter(SVG_NS + "g") if g.get("class") == "record"]
    ok &= check_eq(len(groups), len(recs), "a group per record")
    got = [(g.get("data-type"), int(g.get("data-time-ns")), int(g.get("data-alloc-bytes")),
            int(g.get("data-freed-bytes")), int(g.get("data-inuse-bytes"))) for g in groups]
    want = [(x["type"], x["time_unix_ns"], x["alloc_bytes"], x["freed_bytes"],
             x["inuse_bytes"]) for x in recs]
    ok &= check_eq(got, want, "records' type, time, alloc, freed, in use in order")
    points = [c for c in root.iter(SVG_NS + "circle") if c.get("class") == "inuse"]
    ok &= check_eq([int(c.get("data-inuse-bytes")) for c in points],
                   [x["inuse_bytes"] for x in recs], "in-use points")
    bars = [b for b in root.iter(SVG_NS + "rect") if b.get("class") == "alloc"
            and b.get("data-alloc-bytes") is not None]
    ok &= check_eq([int(b.get("data-alloc-bytes")) for b in bars],
                   [x["alloc_bytes"] for x in recs], "allocated bars")
    # Taller bars for more bytes: the heights follow the values.
    peak = max(range(len(recs)), key=lambda i: recs[i]["alloc_bytes"])
    ok &= check(all(float(b.get("height")) <= float(bars[peak].get("height")) for b in bars),
                "the largest allocation has the tallest bar")
    poly = [p for p in root.iter(SVG_NS + "polyline") if p.get("class") == "inuse"]
    if check_eq(len(poly), 1, "one in-use polyline"):
        xy = [tuple(map(float, p.split(","))) for p in poly[0].get("points").split()]
        ok &= check_eq(len(xy), len(recs), "polyline points")
        ok &= check(all(a[0] <= b[0] for a, b in zip(xy, xy[1:])), "x grows with time")
        hi = max(range(len(recs)), key=lambda i: recs[i]["inuse_bytes"])
        ok &= check(all(xy[hi][1] <= p[1] for p in xy), "highest in use is drawn highest")
        ok &= check_eq([(round(float(c.get("cx")), 1), round(float(c.get("cy")), 1))
                        for c in points], xy, "points on the polyline")
    else:
        ok = False
    gcs = [ln for ln in root.iter(SVG_NS + "line") if ln.get("class") == "gc"
           and ln.get("data-cycle")]
    ok &= check_eq([int(ln.get("data-cycle")) for ln in gcs],
                   [x["cycle"] for x in recs if x["type"] == "gc"], "GC cycle markers")
    title = "".join(root.find(SVG_NS + "title").itertext())
    ok &= check("pid %d" % doc["pid"] in title and doc["executable"] in title,
                "title names pid and executable: %r" % title)
    labels = [t.text for t in root.iter(SVG_NS + "text")]
    ok &= check(any(t and t.endswith("MiB") for t in labels), "byte labels in MiB")
    ok &= check(any(t and re.match(r"^\+[\d.]+s$", t) for t in labels), "time labels")
    shutil.rmtree(out, ignore_errors=True)
    return ok


@test
def timeline_svg_escapes_executable():
    """Text from the data is escaped: an executable named like markup stays text."""
    _, doc = phases()
    d = tempfile.mkdtemp(prefix="allocscope-svg-")
    evil = dict(doc, executable="/tmp/<svg onload=\"x\">&amp;'\u00e9")
    src = os.path.join(d, "evil.json")
    with open(src, "w") as f:
        json.dump(evil, f)
    svg = os.path.join(d, "evil.svg")
    r = timeline("--file", src, "--svg", svg)
    ok = check_eq(r.returncode, 0, "exit status (%s)" % r.stderr.decode())
    if ok:
        root = ET.parse(svg).getroot()
        title = "".join(root.find(SVG_NS + "title").itertext())
        ok &= check(evil["executable"] in title, "executable as text: %r" % title)
        ok &= check(not any(e.get("onload") for e in root.iter()), "no injected attribute")
    shutil.rmtree(d, ignore_errors=True)
    return ok


@test
def timeline_chart_rows_and_width():
    """The terminal chart: a row per record with time, GC cycle and byte units; no line wider
    than --width (UTF-8 glyphs and --ascii); --rows merges records."""
    path, doc = phases()
    recs = doc["records"]
    ok = True
    for width in (40, 60, 80, 132):
        r = timeline("--file", path, "--width", str(width))
        if not check_eq(r.returncode, 0, "width %d: exit (%s)" % (width, r.stderr.decode())):
            return False
        text = r.stdout.decode()
        long = [ln for ln in text.splitlines() if len(ln) > width]
        ok &= check(not long, "width %d: lines too long: %r" % (width, long))
        rows = chart_rows(text)
        ok &= check_eq(len(rows), len(recs), "width %d: rows" % width)
        ok &= check("pid %d" % doc["pid"] in text.splitlines()[0], "header names the pid")
        gc_rows = [ln for ln in rows if re.search(r" gc \d+ ", ln)]
        ok &= check_eq(len(gc_rows), sum(x["type"] == "gc" for x in recs),
                       "width %d: GC rows" % width)
        ok &= check("MiB" in text, "width %d: units" % width)
    r = timeline("--file", path, "--width", "80", "--ascii")
    text = r.stdout.decode()
    ok &= check(r.returncode == 0 and text.isascii(), "--ascii is ASCII")
    ok &= check_eq(len(chart_rows(text)), len(recs), "--ascii rows")
    # The burst's row carries the largest allocated bar, and its bytes in MiB.
    rows = chart_rows(text)
    burst = max(range(len(recs)), key=lambda i: recs[i]["alloc_bytes"])
    # Bars are rounded to whole cells: another large record may tie with the burst's.
    ok &= check_eq(rows[burst].count("#"), max(r.count("#") for r in rows),
                   "longest allocated bar on the burst's row")
    r = timeline("--file", path, "--rows", "5")
    ok &= check_eq(len(chart_rows(r.stdout.decode())), min(5, len(recs)), "--rows 5")
    return ok


@test
def timeline_since_and_json():
    """--json without a filter gives the file back; --since keeps the records of the last
    DURATION before the last record, in any of its spellings."""
    path, doc = phases()
    recs = doc["records"]
    r = timeline("--file", path, "--json")
    ok = check_eq(r.returncode, 0, "--json exit (%s)" % r.stderr.decode())
    ok &= check_eq(json.loads(r.stdout), doc, "--json round trip")
    last = max(x["time_unix_ns"] for x in recs)
    for arg, ns in (("0.5", 500_000_000), ("500ms", 500_000_000), ("0.3s", 300_000_000),
                    ("1m", 60_000_000_000)):
        r = timeline("--file", path, "--json", "--since", arg)
        if not check_eq(r.returncode, 0, "--since %s exit (%s)" % (arg, r.stderr.decode())):
            return False
        got = json.loads(r.stdout)["records"]
        want = [x for x in recs if x["time_unix_ns"] >= last - ns]
        ok &= check_eq(got, want, "--since %s" % arg)
    ok &= check(0 < len(want) <= len(recs), "1m keeps everything")
    r = timeline("--file", path, "--since", "0.3s", "--width", "80")
    ok &= check_eq(len(chart_rows(r.stdout.decode())),
                   len([x for x in recs if x["time_unix_ns"] >= last - 300_000_000]),
                   "--since in the chart")
    return ok


@test
def timeline_errors_one_line():
    """Every failure is one line on stderr and a non-zero exit."""
    path, _ = phases()
    d = tempfile.mkdtemp(prefix="allocscope-tlerr-")
    bad = os.path.join(d, "bad.json")
    with open(bad, "w") as f:
        f.write('{"pid": 1, "records": [{"type": "gc"}]}')
    port = free_port()
    ok = True
    cases = [
        (["--file", os.path.join(d, "missing.json")], "missing file"),
        (["--file", bad], "not a timeline"),
        (["--file", path, "--since", "5x"], "bad --since"),
        (["--file", path, "--width", "10"], "too narrow"),
        (["--file", path, "--pid", "1"], "another pid's file"),
        (["--file", path, "--daemon", "http://127.0.0.1:%d" % port], "two sources"),
        (["--file", path, "--svg", os.path.join(d, "no", "such", "dir.svg")], "unwritable svg"),
        (["--bogus"], "unknown option"),
        (["--daemon", "http://127.0.0.1:%d" % port, "--pid", "1"], "unreachable daemon"),
    ]
    for args, what in cases:
        ok &= one_line_error(timeline(*args), what)
    r = timeline("--daemon", "http://127.0.0.1:%d" % port)
    ok &= check("no daemon at http://127.0.0.1:%d" % port in r.stderr.decode(),
                "says there is no daemon: %r" % r.stderr.decode())
    r = timeline("--help")
    ok &= check(r.returncode == 0 and b"Examples:" in r.stdout and b"--since" in r.stdout,
                "--help with examples")
    shutil.rmtree(d, ignore_errors=True)
    return ok


@test
def timeline_from_daemon():
    """Against a real allocscoped: the chart of a watched process, --json as the daemon serves
    it, and an unknown pid as one line."""
    t = Target("--repeat", "3")
    d = None
    ok = True
    try:
        d = Daemon("--pid", str(t.pid), "--interval", "0.5")
        for _ in range(3):
            t.go()
        # Two drains at least, so that the timeline has records.
        for _ in range(40):
            status, body = d.get("/timeline?pid=%d" % t.pid)
            if status == 200 and len(json.loads(body)["records"]) >= 2:
                break
            time.sleep(0.25)
        r = timeline("--daemon", d.base, "--pid", str(t.pid), "--width", "80")
        if not check_eq(r.returncode, 0, "exit status (%s)" % r.stderr.decode()):
            return False
        text = r.stdout.decode()
        ok &= check(text.startswith("pid %d " % t.pid), "header: %r" % text[:80])
        ok &= check(len(chart_rows(text)) >= 2, "rows from the daemon: %r" % text)
        ok &= check(all(len(ln) <= 80 for ln in text.splitlines()), "fits 80 columns")
        r = timeline("--daemon", d.base + "/", "--pid", str(t.pid), "--json")
        got = json.loads(r.stdout)
        ok &= check_eq(got["pid"], t.pid, "--json pid")
        served = json.loads(d.get("/timeline?pid=%d" % t.pid)[1])["records"]
        ok &= check(got["records"] == served[:len(got["records"])] and got["records"],
                    "--json records are the daemon's")
        ok &= one_line_error(timeline("--daemon", d.base, "--pid", "999999"), "unknown pid")
    finally:
        if d:
            d.stop()
        t.end()
    return ok


@test
def timeline_standalone():
    """No daemon at the default address, --pid and --since: recorded here for --since."""
    probe = socket.socket()
    busy = probe.connect_ex(("127.0.0.1", 6464)) == 0
    probe.close()
    if busy:
        return skip("something listens on 127.0.0.1:6464, the default daemon address")
    t = Target()
    try:
        r = timeline("--pid", str(t.pid), "--since", "1.5s", "--width", "80", timeout=60)
    finally:
        t.end()
    err = r.stderr.decode()
    ok = check_eq(r.returncode, 0, "exit status (%s)" % err)
    ok &= check("no daemon at http://127.0.0.1:6464: recording pid %d" % t.pid in err,
                "says it records standalone: %r" % err)
    rows = chart_rows(r.stdout.decode())
    # A point every 0.1 s for 1.5 s, and one at the end.
    ok &= check(10 <= len(rows) <= 20, "rows of a 1.5 s recording: %d" % len(rows))
    ok &= one_line_error(timeline("--pid", "999999", "--since", "1s"), "no such process")
    return ok


def complete(words, cword):
    script = ("source cli/allocscope.bash; COMP_WORDS=(%s); COMP_CWORD=%d; _allocscope; "
              "echo \"${COMPREPLY[*]}\"" % (" ".join(words), cword))
    r = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True)
    return r.stdout.split() if r.returncode == 0 else ["<exit %d: %s>" % (r.returncode, r.stderr)]


@test
def timeline_bash_completion():
    """Subcommands, options from the binary's --help (every one it lists), option values."""
    ok = check_eq(complete(["allocscope", "re"], 1), ["record"], "allocscope re<TAB>")
    ok &= check_eq(complete(["allocscope", "t"], 1), ["top", "timeline"], "allocscope t<TAB>")
    built = os.path.join(BUILD, "allocscope")
    for cmd in ("record", "top", "timeline", "diff", "explain"):
        help_text = subprocess.run([built, cmd, "--help"], capture_output=True,
                                   text=True).stdout
        listed = set(re.findall(r"^ +(?:-\w, )?(--[a-z][a-z0-9-]*)", help_text, re.M))
        offered = set(complete([built, cmd, "--"], 2))
        ok &= check(listed <= offered, "%s: options in --help not offered: %r"
                    % (cmd, sorted(listed - offered)))
    # Without the binary to ask, the built-in list of timeline's options.
    ok &= check_eq(complete(["allocscope", "timeline", "--s"], 2), ["--since", "--svg"],
                   "timeline --s<TAB> (fallback)")
    ok &= check_eq(complete(["allocscope", "record", "--mode", "g"], 3), ["go"], "--mode g")
    ok &= check_eq(complete(["allocscope", "top", "-s", "o"], 3), ["objects"], "top -s")
    ok &= check(str(os.getpid()) in complete(["allocscope", "timeline", "--pid", "''"], 3),
                "--pid offers running pids")
    return ok


@test
def timeline_man_pages():
    """cli/gen-man.sh makes both pages from --help: they render without a warning and carry
    every command and every option the binaries list."""
    groff, man = shutil.which("groff"), shutil.which("man")
    if not groff and not man:
        return skip_dep("neither groff nor man is installed (groff-base)")
    d = tempfile.mkdtemp(prefix="allocscope-man-")
    atexit.register(shutil.rmtree, d, True)
    ok = True
    for binary, page, cmds in (("allocscope", "allocscope.1",
                                ["record", "top", "timeline", "diff", "explain"]),
                               ("allocscoped", "allocscoped.8", [])):
        out = os.path.join(d, page)
        r = subprocess.run([os.path.join(ROOT, "cli", "gen-man.sh"), os.path.join(BUILD, binary)],
                           capture_output=True, text=True)
        if not check_eq(r.returncode, 0, "gen-man.sh %s (%s)" % (binary, r.stderr)):
            return False
        with open(out, "w") as f:
            f.write(r.stdout)
        ok &= check(r.stdout.startswith(".\\\"") and "\n.TH %s " % binary.upper() in r.stdout,
                    "%s: a generated page with .TH" % page)
        if groff:
            w = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z", out], capture_output=True,
                               text=True)
            ok &= check_eq(w.stderr, "", "%s: groff warnings" % page)
            text = subprocess.run([groff, "-man", "-Tutf8", "-P-cbu", out], capture_output=True,
                                  text=True).stdout
        else:
            text = subprocess.run([man, "-l", out], capture_output=True, text=True,
                                  env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="",
                                           PAGER="cat")).stdout
        text = text.replace("\u2010", "-").replace("\u2212", "-")
        joined = re.sub(r"-\n\s*", "-", text)
        ok &= check("NAME" in text and "SYNOPSIS" in text, "%s: NAME and SYNOPSIS" % page)
        for cmd in cmds:
            ok &= check("ALLOCSCOPE %s" % cmd.upper() in text, "%s: section %s" % (page, cmd))
        for args in [[c] for c in cmds] or [[]]:
            help_text = subprocess.run([os.path.join(BUILD, binary), *args, "--help"],
                                       capture_output=True, text=True).stdout
            for opt in set(re.findall(r"^ +(?:-\w, )?(--[a-z][a-z0-9-]*)", help_text, re.M)):
                ok &= check(opt in joined, "%s: %s %s missing" % (page, " ".join(args), opt))
    return ok
