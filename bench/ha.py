#!/usr/bin/env python3
"""make bench-ha: what synchronous replication costs the intake. In one run, the same h2load load
as make bench (64 connections, HTTPS, a ~1 kB grievance) against redress-intake on a single private
cluster, then against one intake server of scripts/ha.sh's topology (a primary whose every COMMIT
waits for its synchronous standby). Prints both rates, p50/p99, rows per commit and the ratio.
Loopback only, bounded by BENCH_SECONDS."""
import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, os.path.join(ROOT, "tests", "ha"))
import harness  # noqa: E402
import topology  # noqa: E402

spec = importlib.util.spec_from_file_location("bench_intake", os.path.join(HERE, "intake.py"))
bench_intake = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_intake)


def measure(port, body_path, log_path, count_sql):
    """h2load against an intake server; count_sql() -> (rows, commits) before and after."""
    rows0, xact0 = count_sql()
    r = bench_intake.h2load(f"https://127.0.0.1:{port}/v1/grievances", body_path, log_path)
    time.sleep(0.6)  # statistics are flushed by backends at most every 500 ms
    rows1, xact1 = count_sql()
    r["rows_per_commit"] = (rows1 - rows0) / max(xact1 - xact0, 1)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    harness.BUILD = build
    tmp = tempfile.mkdtemp(prefix="redress-bench-ha-")
    body_path = os.path.join(tmp, "grievance.json")
    with open(body_path, "wb") as f:
        f.write(bench_intake.grievance_body())
    counts = ("SELECT (SELECT count(*) FROM grievance), "
              "(SELECT xact_commit FROM pg_stat_database WHERE datname = 'redress')")
    print(f"bench-ha: {bench_intake.CLIENTS} connections, {bench_intake.DURATION}s each, "
          "HTTPS HTTP/1.1 on 127.0.0.1")

    with harness.Cluster.start() as cluster:
        cfg = harness.make_config(os.path.join(tmp, "single"), cluster, **{"server.log_level": "warn"})
        intake = harness.Intake(cfg)
        intake.wait_healthy()
        single = measure(intake.port, body_path, os.path.join(tmp, "single.log"),
                         lambda: tuple(cluster.sql(counts)[0]))
        intake.stop()

    dirpath = f"/tmp/redress-bench-ha-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, BUILD=build)
    try:
        base = 20000 + int(uuid.uuid4().hex[:4], 16) % 10000
        subprocess.run([topology.HA_SH, "up", dirpath, str(base)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        topo = topology.Topology(dirpath, build)
        primary = topo.primary()
        ha = measure(topo.intake_ports[0], body_path, os.path.join(tmp, "ha.log"),
                     lambda: tuple(topo.sql(primary, counts)[0]))
        sync = topo.sql(primary, "SHOW synchronous_standby_names")[0][0]
    finally:
        subprocess.run([topology.HA_SH, "down", dirpath], env=env, stdout=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)

    for name, r in (("single cluster", single), ("synchronous standby", ha)):
        print(f"{name:20s} {r['rate']:8.0f} req/s   p50 {r['p50']:7.2f} ms   p99 {r['p99']:7.2f} ms   "
              f"{r['rows_per_commit']:5.1f} rows per commit   statuses {r['statuses']}")
    print(f"ratio synchronous/single: {ha['rate'] / max(single['rate'], 1):.2f} "
          f"(synchronous_standby_names = {sync!r})")
    ok = all(set(r["statuses"]) <= {"201"} and r["ok"] > 0 for r in (single, ha))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
