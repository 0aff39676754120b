#!/usr/bin/env python3
"""make bench-partition: the intake's committed-submission rate with an empty grievance table and
with 10 million stored grievances spread over 24 monthly partitions (issue 12, item 4), in one run
on one cluster: the same h2load load as `make bench` (64 HTTPS connections, the ~900-byte
grievance of bench/intake.py) against an empty database and the full one of the same cluster,
taken in turn five times each (a neighbour's load then hits both alike), medians compared.
The rows are filled with SQL (generate_series, a month per batch) with every index in place, so
index sizes are those of a table grown row by row: random references and receipt hashes, half
the rows with an Idempotency-Key, each row triaged into one of 100,000 cases; the last of the 24
months is the current one, filled up to now, so the intake writes into a month that already holds
its share. Prints both rates, the ratio (the target: at least 0.90) and the table and index
sizes. The cluster gets shared_buffers = 2 GB (BENCH_SHARED_BUFFERS), the memory of a server
holding that many. BENCH_ROWS changes the row count, BENCH_SECONDS the length of each measurement. Run it
under `flock /tmp/redress-bench.lock`; 10 million rows need about 12 GB of free disk, removed with
the cluster."""
import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import psycopg2  # noqa: E402
import intake as intake_bench  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", "10000000"))
MONTHS = 24
CASES = 100000
SHARED_BUFFERS = os.environ.get("BENCH_SHARED_BUFFERS", "2GB")
RUNS = 5  # measurements per state, taken in turn; the medians are compared


def fill(cluster, rows):
    """rows grievances over the MONTHS months before this one, as the intake would have stored
    them (their keys claimed in grievance_key), triaged into CASES cases."""
    first = cluster.sql("SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') "
                        "- make_interval(months => %s))::date", (MONTHS - 1,))[0][0]
    cluster.sql("SELECT partition_months_ensure('grievance', %s, now()::date)", (first,))
    cluster.sql("INSERT INTO remedy_case (reference, status, category, country, grievance_count) "
                "SELECT 'CB' || lpad(i::text, 9, '0'), 'triaged', 'network_shutdown', 'KE', 1 "
                "FROM generate_series(1, %s) i", (CASES,))
    case0 = cluster.sql("SELECT min(id) FROM remedy_case")[0][0]
    per_month = rows // MONTHS
    t0 = time.monotonic()
    for m in range(MONTHS):
        n = per_month if m < MONTHS - 1 else rows - per_month * (MONTHS - 1)
        # The keys first (as intake_submit_rows claims them), then the rows with the same ids,
        # with the triggers off (the key claim and the case's foreign key hold by construction).
        # The last month is this one, filled up to now.
        with contextlib.closing(cluster.connect()) as c, c.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE b AS SELECT nextval('grievance_id_seq') AS id, "
                "upper(substr(md5(random()::text), 1, 11)) AS reference, "
                "CASE WHEN random() < 0.5 THEN md5(random()::text) END AS idempotency_key, "
                "s + random() * (least(s + interval '1 month', now()) - s) AS received_at "
                "FROM (SELECT (%s::date + make_interval(months => %s))::timestamp AT TIME ZONE 'UTC' AS s) x, "
                "generate_series(1, %s)", (first, m, n))
            cur.execute("INSERT INTO grievance_key (id, reference, idempotency_key, received_at) "
                        "SELECT id, reference, idempotency_key, received_at FROM b ON CONFLICT DO NOTHING")
            cur.execute("SET session_replication_role = replica")
            cur.execute(
                "INSERT INTO grievance (id, reference, received_at, channel, language, country, category, "
                "rights, description, companies, services, people_affected, ongoing, vulnerability, "
                "share_with_members, share_with_regulator, contact_enc, receipt_hash, idempotency_key, "
                "request_hash, case_id, triaged_at) "
                "SELECT b.id, b.reference, b.received_at, 'api', 'en', 'KE', 'network_shutdown', "
                "'{expression,information}', repeat(md5(b.id::text), 6), '{Example Telco}', '{mobile data}', "
                "250000, true, '{journalist}', true, true, sha256(b.id::text::bytea), "
                "sha256(b.reference::bytea), b.idempotency_key, "
                "CASE WHEN b.idempotency_key IS NOT NULL THEN sha256(b.idempotency_key::bytea) END, "
                "%s + (b.id %% %s), b.received_at + interval '1 minute' "
                "FROM b JOIN grievance_key k ON k.id = b.id", (case0, CASES))
        done = (m + 1) * per_month
        print(f"  filled {min(done, rows):>10,} rows ({time.monotonic() - t0:.0f} s)", flush=True)
    cluster.sql("VACUUM ANALYZE grievance_key")
    cluster.sql("VACUUM ANALYZE grievance")
    cluster.sql("CHECKPOINT")


def empty_database(cluster, name):
    """A second database of the same cluster with every migration applied and no rows: the empty
    reference, measured in turn with the full one so both see the same machine."""
    with contextlib.closing(cluster.connect()) as c, c.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        cur.execute(f"CREATE DATABASE {name}")
    conn = psycopg2.connect(host=cluster.sock, port=cluster.port, dbname=name, user="postgres")
    sql_dir = os.path.join(HERE, "..", "sql")
    for f in sorted(f for f in os.listdir(sql_dir) if f.endswith(".sql")):
        with open(os.path.join(sql_dir, f)) as fh, conn.cursor() as cur:
            cur.execute(fh.read())
        conn.commit()
    conn.autocommit = True
    return conn


def one_run(db_sql, cfg, body_path, log_path):
    """One h2load measurement against the intake of cfg; db_sql runs a statement on its database."""
    db_sql("CHECKPOINT")
    intake = harness.Intake(cfg)
    intake.wait_healthy()
    before = db_sql("SELECT count(*) FROM grievance_key")[0][0]
    res = intake_bench.h2load(f"https://127.0.0.1:{intake.port}/v1/grievances", body_path, log_path)
    intake.stop()
    stored = db_sql("SELECT count(*) FROM grievance_key")[0][0] - before
    if stored < res["ok"]:
        sys.exit(f"bench: {res['ok']} answered 2xx but only {stored} rows were committed")
    return res


def sizes(cluster):
    return cluster.sql(
        "SELECT pg_size_pretty(sum(pg_table_size(partition))), pg_size_pretty(sum(pg_indexes_size(partition))), "
        "pg_size_pretty(pg_total_relation_size('grievance_key')) FROM partition_list('grievance')")[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    harness.BUILD = os.path.abspath(args.build)
    free = shutil.disk_usage(tempfile.gettempdir()).free
    need = ROWS * 1200
    if free < need:
        sys.exit(f"bench: {ROWS:,} rows need about {need / 1e9:.0f} GB of free disk; {free / 1e9:.0f} GB free")
    tmp = tempfile.mkdtemp(prefix="redress-bench-part-")
    os.chmod(tmp, 0o755)
    body_path = os.path.join(tmp, "grievance.json")
    with open(body_path, "wb") as f:
        f.write(intake_bench.grievance_body())
    print(f"bench-partition: {intake_bench.CLIENTS} connections, {intake_bench.DURATION} s x {RUNS} per state, "
          f"empty vs {ROWS:,} stored grievances over {MONTHS} monthly partitions, "
          f"shared_buffers {SHARED_BUFFERS}")
    try:
        with harness.Cluster.start() as cluster:
            # Memory of a server that holds 10 million grievances (the tests' cluster has 256 MB),
            # and no forced checkpoint in the middle of the fill.
            cluster.sql(f"ALTER SYSTEM SET shared_buffers = '{SHARED_BUFFERS}'")
            cluster.sql("ALTER SYSTEM SET max_wal_size = '16GB'")
            cluster.pg_ctl("stop")
            cluster.pg_ctl("start")
            t0 = time.monotonic()
            fill(cluster, ROWS)
            print(f"  filled in {time.monotonic() - t0:.0f} s; partitions "
                  f"{len(cluster.sql('SELECT 1 FROM partition_list(%s)', ('grievance',)))}, "
                  "grievance heap %s, its indexes %s, grievance_key with indexes %s" % sizes(cluster))
            rows = cluster.sql("SELECT count(*) FROM grievance_key")[0][0]
            econn = empty_database(cluster, "redress_empty")

            def empty_sql(q):
                with econn.cursor() as cur:
                    cur.execute(q)
                    return cur.fetchall() if cur.description else []
            full_cfg = harness.make_config(os.path.join(tmp, "full"), cluster, **{"server.log_level": "warn"})
            empty_cfg = harness.make_config(os.path.join(tmp, "empty"), cluster, **{
                "server.log_level": "warn",
                "database.conninfo": cluster.conninfo().replace("dbname=redress", "dbname=redress_empty")})
            rates = {"empty": [], "full": []}
            for i in range(RUNS):  # in turn, so a neighbour's load hits both alike
                empty_sql("TRUNCATE grievance_key, grievance CASCADE")  # each empty run starts from no rows
                for label, db_sql, cfg in (("empty", empty_sql, empty_cfg), ("full", cluster.sql, full_cfg)):
                    res = one_run(db_sql, cfg, body_path, os.path.join(tmp, f"{label}{i}.log"))
                    rates[label].append(res["rate"])
                    print(f"  run {i + 1} {label:5}: {res['rate']:8.0f} committed submissions/s   "
                          f"p50 {res['p50']:6.2f} ms   p99 {res['p99']:6.2f} ms   statuses {res['statuses']}",
                          flush=True)
            econn.close()
            empty = sorted(rates["empty"])[RUNS // 2]
            full = sorted(rates["full"])[RUNS // 2]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratio = full / max(empty, 1)
    print(f"empty table:        {empty:8.0f} committed submissions/s (median of {RUNS})")
    print(f"{rows:,} stored:  {full:8.0f} committed submissions/s (median of {RUNS})")
    print(f"ratio full/empty:   {ratio:.3f}  (within 10%: {'yes' if ratio >= 0.9 else 'NO'})")
    sys.exit(0 if ratio >= 0.9 else 1)


if __name__ == "__main__":
    main()
