# SPDX-License-Identifier: MIT
"""Runs the end-to-end tests (all, or those named): python3 tests/e2e/run.py [NAME...]"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import test_record  # noqa: E402,F401  (registers its tests)
import test_cfi  # noqa: E402,F401
import test_go  # noqa: E402,F401
import test_daemon  # noqa: E402,F401
import test_push  # noqa: E402,F401
import test_faults  # noqa: E402,F401
import test_deploy  # noqa: E402,F401
import test_cli  # noqa: E402,F401
import test_allocators  # noqa: E402,F401
import test_accuracy  # noqa: E402,F401
import test_top  # noqa: E402,F401
import test_timeline_cli  # noqa: E402,F401
import test_overhead  # noqa: E402,F401
import test_tenants  # noqa: E402,F401
import test_snapshot  # noqa: E402,F401
import test_mappings  # noqa: E402,F401
import test_demo  # noqa: E402,F401

if __name__ == "__main__":
    sys.exit(harness.main(None, sys.argv[1:]))
