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


class Skip(Exception):
    """Raised by a test that cannot run here; reported as a skip with its reason."""


def fail(msg):
    print("    " + msg, flush=True)
    return False


def check(cond, msg):
    return True if cond else fail(msg)


def check_eq(got, want, what):
    return True if got == want else fail("%s: got %r, want %r" % (what, got, want))


def main(modules, selected):
    passed = failed = skipped = 0
    for fn in TESTS:
        if selected and fn.__name__ not in selected:
            continue
        try:
            ok = fn()
        except Skip as e:
            print("skip   %s: %s" % (fn.__name__, e), flush=True)
            skipped += 1
            continue
        except Exception:  # a test that raises has failed; say where
            traceback.print_exc()
            ok = False
        print("%s  %s" % ("ok   " if ok else "FAIL ", fn.__name__), flush=True)
        if ok:
            passed += 1
        else:
            failed += 1
    print("e2e: %d passed, %d failed%s" % (passed, failed,
                                          ", %d skipped" % skipped if skipped else ""),
          flush=True)
    return 1 if failed else 0
