# SPDX-License-Identifier: MIT
"""A minimal test runner: @test functions return True when they pass; check* helpers print what
failed and return a bool so they combine with &=; skip(reason) ends a test as skipped, with the
reason printed. Prints 'e2e: N passed, N failed[, N skipped]'."""
import os
import socket
import sys
import traceback

BUILD = os.environ.get("ALLOCSCOPE_BUILD",
                       os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "build"))
TESTS = []


def free_port():
    """A loopback port nothing listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test(fn):
    TESTS.append(fn)
    return fn


class Skipped(Exception):
    """Raised by skip(): the test cannot run here; counted as skipped, with its reason."""


class Missing(Exception):
    """Raised by skip_dep() in CI: what .ci/run installs is missing; counted as a failure."""


def skip(reason):
    """For what no CI machine has either (a kernel feature, a port taken by something else).
    Raises, so `skip(...)` and `return skip(...)` both end the test."""
    raise Skipped(reason)


def skip_dep(reason):
    """For a tool or file that deploy/setup-debian.sh installs or the build makes: skipped
    outside CI; in CI (the environment has CI set) its absence is a bug, so the test fails."""
    if os.environ.get("CI"):
        raise Missing("missing in CI, where .ci/run provides it: " + reason)
    raise Skipped(reason)


def fail(msg):
    print("    " + msg, flush=True)
    return False


def check(cond, msg):
    return True if cond else fail(msg)


def check_eq(got, want, what):
    return True if got == want else fail("%s: got %r, want %r" % (what, got, want))


def selected_by(fn, selected):
    """A test is run when named, or when its base name is (go_x runs go_x@1.21 and the rest)."""
    return not selected or fn.__name__ in selected or fn.__name__.split("@")[0] in selected


def main(modules, selected, suite="e2e"):
    passed = failed = skipped = 0
    for fn in TESTS:
        if not selected_by(fn, selected):
            continue
        try:
            ok = fn()
        except Skipped as e:
            print("SKIP   %s (%s)" % (fn.__name__, e), flush=True)
            skipped += 1
            continue
        except Missing as e:
            print("    %s" % e, flush=True)
            ok = False
        except Exception:  # a test that raises has failed; say where
            traceback.print_exc()
            ok = False
        if ok is not True and ok is not False:  # a test must say which: None is a bug
            print("    returned %r, not True or False" % (ok,), flush=True)
            ok = False
        print("%s  %s" % ("ok   " if ok else "FAIL ", fn.__name__), flush=True)
        if ok:
            passed += 1
        else:
            failed += 1
    print("%s: %d passed, %d failed%s" % (suite, passed, failed,
                                          ", %d skipped" % skipped if skipped else ""),
          flush=True)
    return 1 if failed else 0
