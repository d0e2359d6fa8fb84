# SPDX-License-Identifier: MIT
"""A minimal test runner: @test functions return True when they pass; check* helpers print what
failed and return a bool so they combine with &=. Prints 'e2e: N passed, N failed'."""
import os
import sys
import traceback

BUILD = os.environ.get("ALLOCSCOPE_BUILD",
                       os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "build"))
TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


class Skipped:
    """What a test returns when it cannot run here: counted as skipped, with its reason."""

    def __init__(self, reason):
        self.reason = reason


def skip(reason):
    """For what no CI machine has either (a kernel feature, a port taken by something else)."""
    return Skipped(reason)


def skip_dep(reason):
    """For a tool or file that deploy/setup-debian.sh installs or the build makes: skipped
    outside CI; in CI (the environment has CI set) its absence is a bug, so the test fails."""
    if os.environ.get("CI"):
        return fail("missing in CI, where .ci/run provides it: " + reason)
    return Skipped(reason)


def fail(msg):
    print("    " + msg, flush=True)
    return False


def check(cond, msg):
    return True if cond else fail(msg)


def check_eq(got, want, what):
    return True if got == want else fail("%s: got %r, want %r" % (what, got, want))


def main(modules, selected, suite="e2e"):
    passed = failed = skipped = 0
    for fn in TESTS:
        if selected and fn.__name__ not in selected:
            continue
        try:
            ok = fn()
        except Exception:  # a test that raises has failed; say where
            traceback.print_exc()
            ok = False
        if isinstance(ok, Skipped):
            print("SKIP   %s (%s)" % (fn.__name__, ok.reason), flush=True)
            skipped += 1
            continue
        if ok is not True and ok is not False:  # a test must say which: None is a bug
            print("    returned %r, not True or False" % (ok,), flush=True)
            ok = False
        print("%s  %s" % ("ok   " if ok else "FAIL ", fn.__name__), flush=True)
        if ok:
            passed += 1
        else:
            failed += 1
    if skipped:
        print("%s: %d passed, %d failed, %d skipped" % (suite, passed, failed, skipped),
              flush=True)
    else:
        print("%s: %d passed, %d failed" % (suite, passed, failed), flush=True)
    return 1 if failed else 0
