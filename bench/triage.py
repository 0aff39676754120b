#!/usr/bin/env python3
"""Triage benchmark (make bench-triage): grievances triaged per second end to end (claim, score,
group, own, commit) by redress-triage --once with 1 and 2 workers over the same backlog, against
the rate at which the same database accepts plain single-row UPDATEs of those grievances (the
ceiling: one UPDATE statement per grievance from one client, committed every 1,000 rows).

The backlog is regenerated identically before each run in a private throwaway cluster: by default
200,000 grievances, 70% from 20 mass events (a shutdown, a breach, ... each with small differences
in wording) and 30% unrelated single grievances spread over every category and 20 countries.
Run it alone: it needs both cores."""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import harness  # noqa: E402

TARGET = 15000  # grievances/s with one worker (issue #10)

CATEGORIES = ["threat_to_life", "child_sexual_exploitation", "trafficking", "detention_after_disclosure",
              "identity_exposure", "surveillance", "non_consensual_imagery", "online_violence", "hate_speech",
              "data_breach", "network_shutdown", "blocking_throttling", "algorithmic_discrimination",
              "account_removal", "content_removal", "other"]
COUNTRIES = ["KE", "UG", "TZ", "NG", "GH", "ZA", "ET", "RW", "PK", "IN", "BD", "MM", "ID", "PH", "BR",
             "CO", "MX", "TR", "EG", "IR"]

MEMBERS = """
INSERT INTO member (slug, name, sector, countries, services, team_role) VALUES
 ('safaricom', 'Safaricom PLC', 'telco', '{KE}', '{mobile,broadband}', 'team_safaricom'),
 ('mtn', 'MTN Group', 'telco', '{UG,NG,GH,ZA,RW}', '{mobile}', 'team_mtn'),
 ('airtel', 'Airtel Africa', 'telco', '{KE,UG,TZ,NG,RW}', '{mobile}', 'team_airtel'),
 ('acme-net', 'Acme Net', 'isp', '{KE,UG,TZ}', '{broadband,fibre}', 'team_acme_net'),
 ('beta-social', 'Beta Social', 'platform', '{}', '{social,messaging}', 'team_beta_social'),
 ('gamma-video', 'Gamma Video', 'platform', '{}', '{video}', 'team_gamma_video'),
 ('delta-pay', 'Delta Pay', 'other', '{KE,NG}', '{payments}', 'team_delta_pay')
"""


def backlog_sql(n):
    """One INSERT ... SELECT generate_series: 70% mass events, 30% singletons. Deterministic."""
    mass = int(n * 0.7)
    return f"""
INSERT INTO grievance (reference, channel, country, category, description, companies, services,
                       people_affected, ongoing, vulnerability, receipt_hash)
SELECT 'B' || lpad(i::text, 10, '0'), 'api',
       CASE WHEN i <= {mass} THEN (ARRAY{COUNTRIES[:10]!r})[1 + (i % 20) / 2]
            ELSE (ARRAY{COUNTRIES!r})[1 + (i * 7) % 20] END,
       CASE WHEN i <= {mass} THEN (ARRAY['network_shutdown', 'data_breach', 'blocking_throttling',
                                        'account_removal'])[1 + i % 4]
            ELSE (ARRAY{CATEGORIES!r})[1 + (i * 13) % 16] END,
       CASE WHEN i <= {mass} THEN
            'Event ' || (i % 20) || ': since the morning of the third our service in the region stopped '
            || 'working, we cannot call family, pay for food or reach the clinic, and nobody explains why. '
            || 'Written by complainant ' || i
       ELSE md5(i::text) || ' ' || md5((i * 31)::text) || ' happened to me ' || md5((i * 57)::text) END,
       CASE WHEN i <= {mass} THEN (ARRAY['{{Safaricom}}', '{{"Beta Social"}}', '{{MTN Group, airtel}}',
                                        '{{}}'])[1 + (i % 20) % 4]::text[]
            WHEN i % 3 = 0 THEN '{{beta-social}}'::text[] ELSE '{{}}'::text[] END,
       CASE WHEN i % 5 = 0 THEN '{{mobile}}'::text[] ELSE '{{}}'::text[] END,
       1 + (i % 7) * (i % 11), i % 2 = 0,
       CASE WHEN i % 97 = 0 THEN '{{journalist}}'::text[] WHEN i % 89 = 0 THEN '{{child}}'::text[]
            ELSE '{{}}'::text[] END,
       '\\x00'::bytea
FROM generate_series(1, {n}) AS i
"""


def reset(cluster, n):
    cluster.reset()
    cluster.sql(MEMBERS)
    cluster.sql(backlog_sql(n))
    cluster.sql("VACUUM ANALYZE grievance")
    cluster.sql("CHECKPOINT")


def ceiling(cluster, n):
    """Single-row UPDATEs of every grievance from one client; returns rows/s."""
    ids = [r[0] for r in cluster.sql("SELECT id FROM grievance ORDER BY id")]
    conn = cluster.connect()
    conn.autocommit = False
    cur = conn.cursor()
    t0 = time.perf_counter()
    for k, gid in enumerate(ids, 1):
        cur.execute("UPDATE grievance SET triaged_at = now() WHERE id = %s", (gid,))
        if k % 1000 == 0:
            conn.commit()
    conn.commit()
    secs = time.perf_counter() - t0
    conn.close()
    return len(ids) / secs


def triage(cluster, build, workers, n, tmp):
    cfg = harness.make_config(os.path.join(tmp, f"w{workers}"), cluster,
                              **{"triage.workers": workers, "triage.batch_size": 1000,
                                 "server.log_level": "info"})
    t0 = time.perf_counter()
    p = subprocess.run([os.path.join(build, "redress-triage"), "-c", cfg, "--once"], cwd=ROOT,
                       capture_output=True, text=True, timeout=1800)
    secs = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"redress-triage exited {p.returncode}:\n{p.stderr}")
    left, done = cluster.sql("SELECT count(*) FILTER (WHERE triaged_at IS NULL), "
                             "count(*) FILTER (WHERE case_id IS NOT NULL) FROM grievance")[0]
    if left or done != n:
        sys.exit(f"{left} grievances left untriaged, {done} of {n} in cases")
    cases, collective, biggest = cluster.sql(
        "SELECT count(*), count(*) FILTER (WHERE collective), max(grievance_count) FROM remedy_case")[0]
    m = re.search(r"triaged in ([0-9.]+) s", p.stderr)
    inner = float(m.group(1)) if m else secs
    return n / secs, n / inner, cases, collective, biggest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--count", type=int, default=200000)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    n = args.count
    with harness.Cluster.start() as cluster, tempfile.TemporaryDirectory(prefix="redress-bench-") as tmp:
        print(f"bench-triage: {n} grievances (70% in 20 mass events, 30% unrelated)")
        reset(cluster, n)
        ceil = ceiling(cluster, n)
        print(f"  ceiling: single-row UPDATEs, one client      {ceil:10.0f} grievances/s")
        results = {}
        for workers in (1, 2):
            reset(cluster, n)
            wall, inner, cases, collective, biggest = triage(cluster, build, workers, n, tmp)
            results[workers] = wall
            print(f"  redress-triage, {workers} worker{'s' if workers > 1 else ' '}              "
                  f"{wall:10.0f} grievances/s  (ratio to ceiling {wall / ceil:.2f}; "
                  f"{inner:.0f}/s without start-up; {cases} cases, {collective} collective, "
                  f"largest {biggest})")
        print(f"bench-triage: 1 worker {results[1]:.0f}/s, 2 workers {results[2]:.0f}/s, "
              f"ceiling {ceil:.0f}/s, ratios {results[1] / ceil:.2f} and {results[2] / ceil:.2f}; "
              f"target >= {TARGET}/s with one worker: {'met' if results[1] >= TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()
