#!/usr/bin/env python3
"""make test-ha: brings up scripts/ha.sh's topology in a fresh directory on free loopback ports,
runs tests/ha/test_*.py against it in name order, prints every measured line again and
"ha: N passed, N failed", and takes the topology down whatever happened. Bounded: each test has
its own timeouts and the whole run a deadline (--timeout)."""
import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_ha  # noqa: E402
import topology  # noqa: E402


def free_base():
    """A base port with base..base+12 free on 127.0.0.1, below the ephemeral range, so that no
    outgoing connection (the nodes' own among them) can take one of them while the topology
    starts."""
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    rng = random.Random()
    for _ in range(100):
        base = rng.randrange(10000, low - 13)
        socks = []
        try:
            for p in range(base, base + 13):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free range of 13 ports")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--timeout", type=int, default=900, help="seconds for the whole run")
    ap.add_argument("-k", dest="pattern", help="only tests whose name contains this")
    ap.add_argument("--keep", action="store_true", help="leave the topology up (ha.sh down DIR later)")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    dirpath = f"/tmp/redress-ha-{uuid.uuid4().hex[:8]}"

    def on_alarm(signum, frame):
        raise TimeoutError(f"make test-ha: over {args.timeout}s")
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(args.timeout)

    env = dict(os.environ, BUILD=build)
    ok, summary = False, "ha: 0 passed, 1 failed"
    try:
        t0 = time.time()
        subprocess.run([topology.HA_SH, "up", dirpath, str(free_base())], env=env, check=True)
        print(f"ha: topology up in {time.time() - t0:.0f}s", flush=True)
        test_ha.TOPO = topology.Topology(dirpath, build)
        suite = unittest.TestLoader().loadTestsFromTestCase(test_ha.HaTest)
        if args.pattern:
            suite = unittest.TestSuite(t for t in suite if args.pattern in t.id())
        result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
        failed = len(result.failures) + len(result.errors)
        results = os.path.join(dirpath, "results.txt")
        if os.path.exists(results):
            print("".join(open(results)), end="")
        summary = f"ha: {result.testsRun - failed} passed, {failed} failed"
        ok = result.wasSuccessful() and result.testsRun > 0
    finally:
        signal.alarm(0)
        if args.keep:
            print(f"ha: left up in {dirpath}; scripts/ha.sh down {dirpath}")
        else:
            subprocess.run([topology.HA_SH, "down", dirpath], env=env)
        print(summary)  # the closing line, after the topology is down
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
