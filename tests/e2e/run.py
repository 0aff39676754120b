#!/usr/bin/env python3
"""End-to-end test runner: starts one throwaway PostgreSQL cluster, runs every tests/e2e/test_*.py
(unittest) against the real binaries, prints "e2e: N passed, N failed", stops the cluster."""
import argparse
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("-k", dest="pattern", help="only tests whose id contains this")
    ap.add_argument("modules", nargs="*", help="test module names (default: all)")
    args = ap.parse_args()
    harness.BUILD = os.path.abspath(args.build)
    here = os.path.dirname(os.path.abspath(__file__))
    loader = unittest.TestLoader()
    if args.modules:
        suite = unittest.TestSuite(loader.loadTestsFromName(m) for m in args.modules)
    else:
        suite = loader.discover(here, pattern="test_*.py", top_level_dir=here)
    if args.pattern:
        def flat(s):
            for t in s:
                if isinstance(t, unittest.TestSuite):
                    yield from flat(t)
                else:
                    yield t
        suite = unittest.TestSuite(t for t in flat(suite) if args.pattern in t.id())
    with harness.Cluster.start() as cluster:
        harness.CLUSTER = cluster
        result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    print(f"e2e: {result.testsRun - failed} passed, {failed} failed")
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)


if __name__ == "__main__":
    main()
