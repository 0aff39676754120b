#!/usr/bin/env python3
"""Alternative bench-triage (the brief's ceiling): grievances triaged per second by redress-triage
--once with 1 and then 2 workers over the same 200,000-grievance backlog, against the ceiling: the
rate at which the same database, in the same run, accepts plain single-row autocommit UPDATEs of
those grievances (pgbench, 2 clients, each grievance updated exactly once).

Backlog: mass events (60,000 / 30,000 / 25,000 / 20,000 / 15,000) whose descriptions differ in a
number, interleaved with 50,000 unrelated grievances (random 30-word texts, random categories,
countries, companies, vulnerability flags), received over the last 24 hours, 8 members.
Between runs the triage state is reset (grievance.case_id/triaged_at back to NULL, case tables
emptied), then VACUUM ANALYZE and CHECKPOINT. Target: >= 15,000 grievances/s with one worker (issue #10)."""
import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import harness  # noqa: E402

TARGET = 15000

MEMBERS = """
INSERT INTO member (slug, name, sector, countries, services, team_role) VALUES
  ('example-telco', 'Example Telco', 'telco', '{KE,UG,TZ}', '{mobile data,voice,sms}', 'team_example_telco'),
  ('acme-isp', 'Acme ISP', 'isp', '{KE,UG}', '{broadband,fibre}', 'team_acme_isp'),
  ('beta-social', 'Beta Social', 'platform', '{}', '{social network,messaging}', 'team_beta_social'),
  ('gamma-video', 'Gamma Video', 'platform', '{IN,BR,PK}', '{video,live streaming}', 'team_gamma_video'),
  ('delta-mobile', 'Delta Mobile', 'telco', '{PK,IN}', '{mobile data,voice}', 'team_delta_mobile'),
  ('omega-net', 'Omega Net', 'isp', '{BR}', '{broadband}', 'team_omega_net'),
  ('sigma-pay', 'Sigma Pay', 'other', '{KE,NG}', '{payments}', 'team_sigma_pay'),
  ('tau-search', 'Tau Search', 'platform', '{}', '{search,maps}', 'team_tau_search')
"""

EVENTS = [
    (60000, "network_shutdown", "KE", ["Example Telco"], ["mobile data"], 1000, True, [],
     "no mobile data in Kisumu since the election night, report {n}"),
    (30000, "network_shutdown", "UG", ["Example Telco", "Acme ISP"], ["mobile data", "broadband"], 5000, True,
     [], "internet and calls cut in Gulu during the opposition rally, subscriber {n}"),
    (25000, "content_removal", "BR", ["Gamma Video"], ["video"], 1, False, ["journalist"],
     "my video about the police raid in the favela was taken down without notice, clip {n}"),
    (20000, "account_removal", "KE", ["Beta Social"], ["social network"], 1, True, ["human_rights_defender"],
     "Beta Social suspended my account the day after I posted about the teachers strike, user {n}"),
    (15000, "data_breach", "IN", ["Delta Mobile"], ["mobile data"], 1, False, [],
     "my name, address and call records from Delta Mobile appear in the leaked file, customer {n}"),
]

SYLLABLES = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "vo", "de", "pa", "go", "hu", "zi", "be", "fa",
             "jo", "we", "xu", "ye", "qo"]
WORDS = sorted({a + b + c for a in SYLLABLES for b in SYLLABLES[::3] for c in SYLLABLES[::4]})[:200]
CATEGORIES = ["threat_to_life", "identity_exposure", "surveillance", "online_violence", "hate_speech",
              "data_breach", "network_shutdown", "blocking_throttling", "algorithmic_discrimination",
              "account_removal", "content_removal", "non_consensual_imagery", "other"]
COUNTRIES = ["KE", "UG", "TZ", "PK", "BR", "IN", "NG", "PH", "MX", "EG"]
COMPANIES = [[], [], ["Example Telco"], ["Beta Social"], ["Gamma Video"], ["Acme ISP", "Example Telco"],
             ["Tau Search"], ["Unknown Corp"], ["delta-mobile"], ["Sigma Pay"]]
SERVICES = [[], ["mobile data"], ["social network"], ["video"], ["broadband"], ["search"], ["payments"]]
VULN = [[], [], [], [], ["child"], ["journalist"], ["human_rights_defender"], ["minority", "woman_at_risk"]]

COLUMNS = ("reference, channel, country, category, description, companies, services, people_affected, "
           "ongoing, vulnerability, receipt_hash, received_at")


def load(cluster, rows, seed=7):
    scale = rows / 200000
    events = [(max(1, int(e[0] * scale)),) + e[1:] for e in EVENTS]
    n_unrelated = rows - sum(e[0] for e in events)
    rnd = random.Random(seed)
    conn = cluster.connect()
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE backlog (reference text, channel text, country text, category text, "
                    "description text, companies text[], services text[], people_affected int, ongoing boolean, "
                    "vulnerability text[], receipt_hash bytea, k int)")
        for i, (n, cat, cty, comp, serv, people, ongoing, vuln, text) in enumerate(events):
            pre, post = text.split("{n}")
            cur.execute(
                "INSERT INTO backlog SELECT %s || g, 'api', %s, %s, %s || g || %s, %s::text[], %s::text[], "
                "%s, %s, %s::text[], '\\x00'::bytea, 0 FROM generate_series(1, %s) g",
                (f"E{i}-", cty, cat, pre, post, comp, serv, people, ongoing, vuln, n))
        texts, cats, ctys, comps, servs, vulns, people, ongoing = [], [], [], [], [], [], [], []
        for _ in range(n_unrelated):
            texts.append(" ".join(rnd.choice(WORDS) for _ in range(30)))
            cats.append(rnd.choice(CATEGORIES))
            ctys.append(rnd.choice(COUNTRIES))
            comps.append("{" + ",".join(f'"{c}"' for c in rnd.choice(COMPANIES)) + "}")
            servs.append("{" + ",".join(f'"{s}"' for s in rnd.choice(SERVICES)) + "}")
            vulns.append("{" + ",".join(rnd.choice(VULN)) + "}")
            people.append(rnd.choice([1, 1, 1, 2, 5, 20, 300, 10000]))
            ongoing.append(rnd.random() < 0.4)
        cur.execute(
            "INSERT INTO backlog SELECT 'U-' || i, 'api', c, cat, d, comp::text[], serv::text[], p, o, "
            "v::text[], '\\x00'::bytea, 0 FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], "
            "%s::text[], %s::int[], %s::boolean[], %s::text[]) WITH ORDINALITY AS u(d, cat, c, comp, serv, p, o, v, i)",
            (texts, cats, ctys, comps, servs, people, ongoing, vulns))
        cur.execute(
            f"INSERT INTO grievance ({COLUMNS}) SELECT reference, channel, country, category, description, "
            "companies, services, people_affected, ongoing, vulnerability, receipt_hash, "
            "now() - interval '24 hours' + (row_number() OVER (ORDER BY md5(reference)) * interval '24 hours') "
            f"/ {rows} FROM backlog ORDER BY md5(reference)")
    conn.close()
    return events, n_unrelated


def settle(cluster):
    cluster.sql("VACUUM ANALYZE")
    cluster.sql("CHECKPOINT")


def reset(cluster):
    cluster.sql("UPDATE grievance SET case_id = NULL, triaged_at = NULL "
                "WHERE case_id IS NOT NULL OR triaged_at IS NOT NULL")
    cluster.sql("TRUNCATE case_event, case_owner, triage_decision, remedy CASCADE")  # and what refers to them
    cluster.sql("DELETE FROM remedy_case")  # referenced by grievance: TRUNCATE would need CASCADE
    settle(cluster)


def check(cluster, rows):
    left, triaged, summed, cases = cluster.sql(
        "SELECT count(*) FILTER (WHERE case_id IS NULL OR triaged_at IS NULL), count(case_id), "
        "(SELECT coalesce(sum(grievance_count), 0) FROM remedy_case), (SELECT count(*) FROM remedy_case) "
        "FROM grievance")[0]
    if left or triaged != rows or summed != rows:
        raise SystemExit(f"triage incomplete: {left} untriaged, {triaged} with a case, "
                         f"sum of grievance_count {summed} (want {rows})")
    return cases


def run_triage(binary, cluster, batch_size, workers, log_dir):
    log = os.path.join(log_dir, f"triage-{workers}.log")
    config = harness.make_config(os.path.join(log_dir, f"w{workers}"), cluster, **{
        "triage.batch_size": str(batch_size), "triage.workers": str(workers)})
    argv = [binary, "-c", config, "--once", "--workers", str(workers)]
    env = os.environ.copy()
    env.pop("PGUSER", None)
    with open(log, "wb") as f:
        t0 = time.monotonic()
        p = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT, timeout=1800)
        secs = time.monotonic() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {p.returncode}:\n{open(log, errors='replace').read()[-3000:]}")
    return secs


def ceiling(cluster, rows, clients, d):
    lo, hi = cluster.sql("SELECT min(id), max(id) FROM grievance")[0]
    assert hi - lo + 1 == rows, "grievance ids are not contiguous"
    script = os.path.join(d, "update.sql")
    with open(script, "w") as f:
        f.write(f"\\set id {lo} + :n * {clients} + :client_id\n"
                "\\set n :n + 1\n"
                "UPDATE grievance SET triaged_at = now() WHERE id = :id;\n")
    per = rows // clients
    argv = ["pgbench", "-n", "-h", cluster.sock, "-p", str(cluster.port), "-U", "redress_triage",
            "-c", str(clients), "-j", str(clients), "-t", str(per), "-D", "n=0", "-f", script, "redress"]
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    secs = time.monotonic() - t0
    if p.returncode != 0:
        raise SystemExit(f"pgbench failed:\n{p.stdout}\n{p.stderr}")
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", p.stdout)
    updated = cluster.sql("SELECT count(*) FROM grievance WHERE triaged_at IS NOT NULL")[0][0]
    if updated != per * clients:
        raise SystemExit(f"pgbench updated {updated} distinct grievances, expected {per * clients}:\n{p.stdout}")
    return (float(m.group(1)) if m else per * clients / secs), secs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--rows", type=int, default=200000)
    ap.add_argument("--batch-size", type=int, default=1000)
    args = ap.parse_args()
    harness.BUILD = os.path.abspath(args.build)
    binary = os.path.join(harness.BUILD, "redress-triage")
    rows = args.rows
    with harness.Cluster.start() as cluster, tempfile.TemporaryDirectory(prefix="redress-bench-triage-") as d:
        cluster.sql(MEMBERS)
        t0 = time.monotonic()
        events, n_unrelated = load(cluster, rows)
        settle(cluster)
        print(f"backlog: {rows:,} grievances ({len(events)} mass events of "
              f"{', '.join(f'{e[0]:,}' for e in events)}; {n_unrelated:,} unrelated); loaded in "
              f"{time.monotonic() - t0:.1f} s", flush=True)
        results = {}
        for workers in (1, 2):
            if workers != 1:
                reset(cluster)
            secs = run_triage(binary, cluster, args.batch_size, workers, d)
            cases = check(cluster, rows)
            collective = cluster.sql("SELECT count(*), coalesce(max(grievance_count), 0) FROM remedy_case "
                                     "WHERE collective")[0]
            results[workers] = rows / secs
            print(f"redress-triage --once --workers {workers}: {secs:7.2f} s  {rows / secs:>9,.0f} grievances/s  "
                  f"({cases:,} cases, {collective[0]:,} collective, largest {collective[1]:,})", flush=True)
        reset(cluster)
        tps, secs = ceiling(cluster, rows, 2, d)
        print(f"ceiling: autocommit single-row UPDATE (pgbench, 2 clients, {rows:,} rows once each): "
              f"{secs:.2f} s  {tps:>9,.0f} updates/s", flush=True)
        one, two = results[1], results[2]
        print(f"\n1 worker {one:,.0f}/s ({one / tps:.2f}x ceiling); 2 workers {two:,.0f}/s ({two / tps:.2f}x ceiling); "
              f"2w/1w {two / one:.2f}x; target >= {TARGET:,}/s with one worker: {'ok' if one >= TARGET else 'MISSED'}")


if __name__ == "__main__":
    main()
