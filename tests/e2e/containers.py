# SPDX-License-Identifier: MIT
"""The container tests (make test-containers, after make image): python3 tests/e2e/containers.py
[NAME...]. Apart from run.py: they build and start images, which takes minutes."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import test_containers  # noqa: E402,F401  (registers its tests)

if __name__ == "__main__":
    sys.exit(harness.main(None, sys.argv[1:], suite="containers"))
