# SPDX-License-Identifier: MIT
"""README's first command ends in `make demo` (tests/demo.sh): run it, short, as a user would,
and check that it shows what it says it shows: demoweb's handlers with their causes; the same
service without runtime/pprof with no samples and the daemon's reason, then, after the restart
with --go-set-rate, the same handlers and causes."""
import os
import re
import subprocess

from harness import BUILD, check, check_eq, free_port, test

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
HANDLERS = {"handleBox": "interface-boxing", "handleGrow": "slice-growth",
            "handleClosure": "new-object", "handleBytes": "string-bytes-conversion"}


def handler_causes(section):
    """{handler: its first cause} from a "Causes of each handler's bytes" listing."""
    return dict(re.findall(r"^  main\.(handle\w+) +([a-z-]+) ", section, re.M))


def top_handlers(section):
    """The main.handle* functions of the first pprof -top table in section."""
    table = section.split("flat  flat%", 1)[1] if "flat  flat%" in section else ""
    return set(re.findall(r"main\.(handle\w+)", table.split("\n#", 1)[0]))


@test
def demo_shows_both_services():
    env = dict(os.environ, DEMO_SECONDS="4", DEMO_PORT=str(free_port()), OUT=BUILD)
    r = subprocess.run(["tests/demo.sh"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=600)
    if not check_eq(r.returncode, 0, "make demo's script exits 0 (stderr: %s)" % r.stderr[-2000:]):
        return False
    out = r.stdout
    parts = out.split("================ a service that never links runtime/pprof")
    if not check_eq(len(parts), 2, "the demo has its second part"):
        return False
    first, second = parts
    want = set(HANDLERS)
    ok = check_eq(top_handlers(first) >= want, True,
                  "demoweb: the four handlers in the top table: %r" % top_handlers(first))
    ok &= check_eq(handler_causes(first), HANDLERS, "demoweb: each handler's main cause")
    before, after = second.split("# Restarted with --go-set-rate", 1)
    # The script folds the daemon's message at 94 columns, wherever its path and pid put a break.
    reason = " ".join(before.split())
    ok &= check("samples no allocations" in reason and "MemProfileRate is" in reason,
                "demoweb-noprof: the daemon's reason shown")
    ok &= check(re.search(r"Showing nodes accounting for 0, 0% of 0 total", before) is not None,
                "demoweb-noprof: no samples without --go-set-rate")
    ok &= check("wrote runtime.MemProfileRate = 524288" in " ".join(after.split()),
                "demoweb-noprof: the daemon says it wrote the rate")
    ok &= check_eq(top_handlers(after) >= want, True,
                   "demoweb-noprof: the four handlers after --go-set-rate: %r"
                   % top_handlers(after))
    ok &= check_eq(handler_causes(after), HANDLERS,
                   "demoweb-noprof: the same causes as demoweb")
    return ok
