#!/usr/bin/env python3
"""make bench-export: `redressctl export cases` of 1,000,000 cases against psql's `\\copy` of the
very same rows (SELECT * FROM export_cases(...)) in the same run, on a private cluster.

Reports wall seconds and peak RSS of each client process (GNU time's %M: the rusage of a process
forked from the small `time`, not from this Python process, whose pages a fork would count),
and redressctl's peak RSS at 100,000 rows beside 1,000,000 to show memory stays flat.
Target: redressctl within 2x of psql, memory flat."""
import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import harness  # noqa: E402

# Synthetic cases in every status straight into the tables: the insert checks (a case starts as
# received or triaged, moves only through its functions) are for the application, not for a
# generated data set, so this session skips triggers (superuser only).
POPULATE = """
SET session_replication_role = replica;
INSERT INTO member (slug, name, sector, countries, services, team_role) VALUES
  ('acme-net', 'Acme Net', 'isp', '{KE,UG}', '{broadband}', 'team_acme_net'),
  ('tel-co', 'Tel Co', 'telco', '{KE}', '{mobile}', 'team_tel_co'),
  ('beta-social', 'Beta Social', 'platform', '{}', '{social}', 'team_beta_social');
INSERT INTO remedy_case (reference, status, category, country, collective, grievance_count, people_affected,
                         score, band, rules_version, lead_member_id, first_received_at, last_received_at,
                         ack_due, response_due, remedy_due, opened_at, closed_at)
SELECT 'C' || lpad(i::text, 10, '0'),
       (ARRAY['triaged','assigned','investigating','remedy_proposed','closed'])[1 + i % 5]::case_status,
       (ARRAY['network_shutdown','data_breach','account_removal','online_violence','surveillance'])[1 + i % 5],
       (ARRAY['KE','UG','TZ','PK','BR','IN'])[1 + i % 6], i % 97 = 0, 1 + (i % 97 = 0)::int * 500,
       1 + i % 1000, round((i % 10000) / 100.0, 2), 'P' || (1 + i % 4), '2026-11-1', 1 + i % 3,
       t, t, t + interval '2 days', t + interval '14 days', t + interval '30 days', t,
       CASE WHEN i % 5 = 4 THEN t + interval '40 days' END
FROM generate_series(1, %(n)s) AS i,
     LATERAL (SELECT timestamptz '2024-01-01 00:00:00+00' + (i * interval '31 seconds') AS t) ts;
INSERT INTO case_owner (case_id, member_id, role, involvement)
SELECT id, lead_member_id, 'lead', 'caused' FROM remedy_case;
INSERT INTO case_owner (case_id, member_id, role, involvement)
SELECT id, 1 + lead_member_id % 3, 'co-owner', 'linked' FROM remedy_case WHERE id % 4 = 0;
INSERT INTO remedy (case_id, type, details, status)
SELECT id, 'apology', 'details', 'implemented' FROM remedy_case WHERE id % 5 = 4;
SET session_replication_role = origin;
"""

QUERY = "SELECT * FROM export_cases('2000-01-01'::date, '2100-01-01'::date, NULL, NULL, false)"


def run(argv, env=None):
    """Runs argv under GNU time; returns (wall seconds, peak RSS in MB) of argv's process."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        t0 = time.monotonic()
        p = subprocess.run(["/usr/bin/time", "-o", tf.name, "-f", "%M", *argv], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        secs = time.monotonic() - t0
        if p.returncode != 0:
            raise SystemExit(f"{argv[0]} failed: {p.stderr.decode(errors='replace')}")
        kb = int(tf.read().strip().splitlines()[-1])
    return secs, kb / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    ctl = os.path.join(os.path.abspath(args.build), "redressctl")
    with harness.Cluster.start() as cluster, tempfile.TemporaryDirectory(prefix="redress-bench-export-") as d:
        print(f"populating {args.rows} cases ...", flush=True)
        t0 = time.monotonic()
        cluster.sql(POPULATE.replace("%(n)s", str(int(args.rows))))
        cluster.sql("VACUUM ANALYZE")
        print(f"populated in {time.monotonic() - t0:.1f} s", flush=True)
        config = harness.make_config(d, cluster, **{"database.admin_user": "redress_staff"})
        env = os.environ.copy()
        env.pop("PGUSER", None)
        out_ctl = os.path.join(d, "cases.csv")
        out_psql = os.path.join(d, "psql.csv")
        psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", cluster.sock, "-p", str(cluster.port),
                "-U", "redress_staff", "-d", "redress",
                "-c", f"\\copy ({QUERY}) TO '{out_psql}' WITH (FORMAT csv, HEADER)"]
        export = [ctl, "-c", config, "export", "cases", "--from", "2000-01-01", "--to", "2100-01-01",
                  "-o", out_ctl]
        # Warm the cache once, then alternate: psql, redressctl, psql, redressctl; best of two each.
        run(psql, env)
        results = {"psql": [], "redressctl": []}
        for _ in range(2):
            results["psql"].append(run(psql, env))
            results["redressctl"].append(run(export, env))
        p_s = min(s for s, _ in results["psql"])
        c_s = min(s for s, _ in results["redressctl"])
        p_mb = max(m for _, m in results["psql"])
        c_mb = max(m for _, m in results["redressctl"])
        rows = sum(1 for _ in open(out_ctl, "rb")) - 1
        # Flat memory: the same export over about a tenth of the rows.
        small = os.path.join(d, "small.csv")
        days = max(1, int(args.rows * 31 / 86400 / 10))
        to = (datetime.date(2024, 1, 1) + datetime.timedelta(days=days - 1)).isoformat()
        s_s, s_mb = run([ctl, "-c", config, "export", "cases", "--from", "2024-01-01", "--to", to, "-o", small], env)
        small_rows = sum(1 for _ in open(small, "rb")) - 1
        print()
        print(f"{'':28} {'rows':>9} {'seconds':>8} {'peak RSS MB':>12} {'file MB':>8}")
        label = "psql \\copy (same query)"
        print(f"{label:28} {rows:>9} {p_s:>8.2f} {p_mb:>12.1f} "
              f"{os.path.getsize(out_psql) / 1e6:>8.1f}")
        print(f"{'redressctl export cases':28} {rows:>9} {c_s:>8.2f} {c_mb:>12.1f} "
              f"{os.path.getsize(out_ctl) / 1e6:>8.1f}")
        print(f"{'redressctl (smaller range)':28} {small_rows:>9} {s_s:>8.2f} {s_mb:>12.1f} "
              f"{os.path.getsize(small) / 1e6:>8.1f}")
        ratio = c_s / p_s
        print(f"\nredressctl / psql time: {ratio:.2f}x (target <= 1.1x, issue 10): {'ok' if ratio <= 1.1 else 'MISSED'}")
        print(f"peak RSS {small_rows} rows -> {rows} rows: {s_mb:.1f} -> {c_mb:.1f} MB "
              f"({'flat' if c_mb < s_mb * 1.5 + 5 else 'GROWS'})")


if __name__ == "__main__":
    main()
