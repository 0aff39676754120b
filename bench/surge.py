#!/usr/bin/env python3
"""make bench-surge: a mass event end to end. SURGE_N grievances (default 1,000,000) are filed over
HTTPS at full speed by h2load (64 connections in all) while redress-triage runs beside the intake:
95% about one network shutdown in one country (eight wordings of the same complaint), 5% unrelated
(five other harms in other countries). Prints the intake rate, the time from the last 201 until
every grievance is triaged, the cases the event became (one case of ~95% with its band is the
goal), each process's peak RSS and the database size per grievance, and checks that every 201 is
backed by a committed row. Loopback only; bounded by SURGE_TIMEOUT seconds (default 1200)."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
import harness  # noqa: E402
from intake import postgres_pids  # noqa: E402  (bench/intake.py)

N = int(os.environ.get("SURGE_N", "1000000"))
TIMEOUT = int(os.environ.get("SURGE_TIMEOUT", "1200"))
TRIAGE_TARGET_S = 180

MEMBERS = """
INSERT INTO member (slug, name, sector, countries, services, team_role) VALUES
  ('example-telco', 'Example Telco', 'telco', '{KE,UG,TZ}', '{mobile data,voice,sms}', 'team_example_telco'),
  ('acme-isp', 'Acme ISP', 'isp', '{KE,UG}', '{broadband,fibre}', 'team_acme_isp'),
  ('beta-social', 'Beta Social', 'platform', '{}', '{social network,messaging}', 'team_beta_social'),
  ('gamma-video', 'Gamma Video', 'platform', '{IN,BR,PK}', '{video,live streaming}', 'team_gamma_video')
"""

SHUTDOWN = ("Since the evening of the election there has been no mobile data and no SMS in {town}. The "
            "Example Telco shops say the network was switched off on a government order, but nobody has "
            "seen the order and there is no end date. We cannot reach the clinic, call an ambulance or "
            "receive mobile money for food and medicine. {extra}")
TOWNS = ["Kisumu", "Kisumu town", "Kisumu county", "Kondele in Kisumu", "Nyalenda, Kisumu",
         "Manyatta in Kisumu", "Kisumu central", "Migosi, Kisumu"]
EXTRAS = ["Please restore service.", "Please tell us when it ends.", "My family is cut off.",
          "I run a small shop and lost all sales.", "Students cannot study.", "Please publish the order.",
          "Emergency numbers must work.", "We need an answer now."]
UNRELATED = [
    ("account_removal", "BR", ["Beta Social"], "Beta Social removed my account after I posted about the "
     "teachers strike in Recife; I lost my contacts and my small business page."),
    ("content_removal", "IN", ["Gamma Video"], "Gamma Video took down my video of the flood relief camp in "
     "Assam without notice, although it showed no violence at all."),
    ("data_breach", "PK", [], "My name, address and call records appear in a leaked file shared in Lahore "
     "groups; strangers now call me at night."),
    ("online_violence", "UG", ["Beta Social"], "For three weeks I have received threats on Beta Social after "
     "I reported on the election in Gulu; the reports I file are closed."),
    ("blocking_throttling", "TZ", ["Acme ISP"], "Acme ISP blocks the news sites I read in Arusha and slows "
     "everything else to a crawl every evening."),
]


def body(description, category, country, companies, people, ongoing):
    return json.dumps({
        "description": description, "category": category, "country": country, "companies": companies,
        "services": ["mobile data"] if category == "network_shutdown" else [], "people_affected": people,
        "ongoing": ongoing, "complainant_type": "self", "language": "en",
        "consent": {"share_with_members": True, "share_with_regulator": False},
    }).encode()


def peak_rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0


def cluster_pids(cluster):
    """{pid: what it is} of the cluster's processes."""
    names = {}
    for i, pid in enumerate(postgres_pids(cluster)):
        try:
            with open(f"/proc/{pid}/cmdline") as c:
                names[pid] = "postmaster" if i == 0 else c.read().replace("\0", " ").strip()
        except OSError:
            pass
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    harness.BUILD = os.path.abspath(args.build)
    tmp = tempfile.mkdtemp(prefix="redress-surge-")
    os.chmod(tmp, 0o755)
    # The load: (body file, requests, connections). Connections per h2load in proportion to its
    # share, so the unrelated 5% are spread over the surge rather than sent first.
    n_event = N * 95 // 100
    n_other = N - n_event
    jobs = []
    for i, town in enumerate(TOWNS):
        path = os.path.join(tmp, f"event{i}.json")
        with open(path, "wb") as f:
            f.write(body(SHUTDOWN.format(town=town, extra=EXTRAS[i]), "network_shutdown", "KE",
                         ["Example Telco"], 1, True))
        jobs.append((path, n_event // len(TOWNS) + (1 if i < n_event % len(TOWNS) else 0), 7))
    for i, (cat, cty, comp, text) in enumerate(UNRELATED):
        path = os.path.join(tmp, f"other{i}.json")
        with open(path, "wb") as f:
            f.write(body(text, cat, cty, comp, 1, False))
        jobs.append((path, n_other // len(UNRELATED) + (1 if i < n_other % len(UNRELATED) else 0), 1))
    print(f"surge: {N:,} grievances ({n_event:,} about one shutdown in KE, {n_other:,} unrelated) over HTTPS, "
          f"{sum(j[2] for j in jobs)} connections, redress-triage running alongside")

    ok = True
    with harness.Cluster.start() as cluster:
        cluster.sql(MEMBERS)
        cfg = harness.make_config(os.path.join(tmp, "cfg"), cluster, **{
            "server.log_level": "warn", "triage.workers": "1", "triage.sweep_interval": "1"})
        intake = harness.Intake(cfg)
        triage = harness.Process([os.path.join(harness.BUILD, "redress-triage"), "-c", cfg],
                                 os.path.join(tmp, "triage.log"))
        intake.wait_healthy()
        url = f"https://127.0.0.1:{intake.port}/v1/grievances"
        t0 = time.time()
        procs = []
        for k, (path, n, conns) in enumerate(jobs):
            log = os.path.join(tmp, f"h2load{k}.log")
            cmd = ["h2load", "--h1", "-n", str(n), "-c", str(conns), "-t", "1", "-H",
                   "Content-Type: application/json", "-d", path, f"--log-file={log}", url]
            procs.append((subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), log))
        last_201 = None
        for p, _ in procs:
            try:
                p.wait(max(1, TIMEOUT - (time.time() - t0)))
            except subprocess.TimeoutExpired:
                p.kill()
                ok = False
        last_201 = time.time()
        statuses = {}
        for _, log in procs:
            with open(log) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 3:
                        statuses[parts[1]] = statuses.get(parts[1], 0) + 1
        answered = sum(v for k, v in statuses.items() if k.startswith("2"))
        intake_secs = last_201 - t0
        # Triage catches up: poll until no grievance waits (bounded).
        untriaged = None
        while time.time() - t0 < TIMEOUT:
            untriaged = cluster.sql("SELECT count(*) FROM grievance WHERE triaged_at IS NULL")[0][0]
            if untriaged == 0:
                break
            time.sleep(0.5)
        all_triaged = time.time()
        peaks = {"redress-intake": peak_rss_kb(intake.proc.pid), "redress-triage": peak_rss_kb(triage.proc.pid)}
        pg = cluster_pids(cluster)
        pg_peaks = sorted(((peak_rss_kb(pid), name) for pid, name in pg.items()), reverse=True)
        triage.stop()
        intake.stop()
        rows = cluster.sql("SELECT count(*) FROM grievance")[0][0]
        cases = cluster.sql("SELECT c.reference, c.category, c.country, c.grievance_count, c.band, c.score "
                            "FROM remedy_case c ORDER BY c.grievance_count DESC LIMIT 4")
        ncases = cluster.sql("SELECT count(*) FROM remedy_case")[0][0]
        event_cases = cluster.sql("SELECT count(*), coalesce(max(grievance_count), 0) FROM remedy_case "
                                  "WHERE category = 'network_shutdown' AND country = 'KE'")[0]
        db_bytes = cluster.sql("SELECT pg_database_size('redress')")[0][0]
        # grievance is partitioned by month: its parent holds nothing, its months hold the rows.
        table_bytes = cluster.sql("SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('grievance')")[0][0]

    print(f"intake: {answered:,} answered 2xx in {intake_secs:.1f} s = {answered / intake_secs:,.0f} grievances/s; "
          f"statuses {statuses}")
    backed = rows >= answered
    ok = ok and backed and answered == N
    print("every 201 backed by a committed row: " + ("yes" if backed else "NO") + f" ({rows:,} rows)")
    if untriaged == 0:
        lag = all_triaged - last_201
        print(f"all triaged {lag:.1f} s after the last 201 (target <= {TRIAGE_TARGET_S} s): "
              + ("yes" if lag <= TRIAGE_TARGET_S else "NO"))
    else:
        ok = False
        print(f"NOT all triaged within {TIMEOUT} s: {untriaged:,} left")
    print(f"cases: {ncases:,}; the shutdown (network_shutdown, KE) became {event_cases[0]} case(s), the largest "
          f"holding {event_cases[1]:,} of {n_event:,} grievances ({event_cases[1] / max(n_event, 1):.1%})")
    for ref, cat, cty, count, band, score in cases:
        print(f"  {ref}  {cat:<20} {cty}  {count:>9,} grievances  band {band}  score {score}")
    print("peak RSS: " + ", ".join(f"{k} {v / 1024:.0f} MB" for k, v in peaks.items())
          + f", PostgreSQL {len(pg_peaks)} processes (largest: "
          + "; ".join(f"{name.split(' ')[1] if name.startswith('postgres:') else name} {kb / 1024:.0f} MB"
                      for kb, name in pg_peaks[:4]) + ")")
    print(f"database: {db_bytes / 2**20:,.0f} MB in all, {db_bytes / max(rows, 1):,.0f} bytes per grievance "
          f"(grievance table with its indexes {table_bytes / max(rows, 1):,.0f} bytes)")
    shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
