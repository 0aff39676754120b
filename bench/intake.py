#!/usr/bin/env python3
"""make bench: redress-intake under h2load (HTTPS, HTTP/1.1, 64 connections, a realistic ~900-byte
grievance) against nginx answering a fixed 201 over TLS with the same certificate, in one run.
Prints both rates, p50/p99 latency, ours/nginx, CPU seconds per 1,000 submissions of the server and
of PostgreSQL, and checks that every 201 is backed by a committed row. Loopback only, bounded."""
import argparse
import json
import os
import resource
import socket
import ssl
import threading
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import harness  # noqa: E402

CLIENTS = 64
DURATION = int(os.environ.get("BENCH_SECONDS", "10"))
WARMUP = 2
IDLE = int(os.environ.get("BENCH_IDLE", "10000"))  # idle TLS connections for the memory figure
IDLE_BUDGET_MB = 256


def grievance_body():
    description = (
        "Since the evening of the election our whole district has had no mobile data and no SMS. "
        "The operator's shops say the network was switched off on a government order, but nobody "
        "has seen the order and there is no end date. I run a small clinic and we cannot reach "
        "patients, call ambulances or receive mobile money for medicines. Journalists in the town "
        "cannot file their stories and families cannot reach relatives who were arrested at the "
        "protest. We ask the operator to publish the order, restore service for emergency numbers "
        "and tell us when the shutdown will end.")
    body = {
        "description": description, "category": "network_shutdown", "country": "KE",
        "rights": ["expression", "information", "health"], "companies": ["Example Telco"],
        "services": ["mobile data", "sms"], "people_affected": 250000, "ongoing": True,
        "started_on": "2026-11-01", "vulnerability": ["journalist"], "complainant_type": "self",
        "language": "en", "consent": {"share_with_members": True, "share_with_regulator": True},
        "contact": {"email": "clinic@example.org"},
    }
    return json.dumps(body).encode()


def cpu_seconds(pids):
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def with_children(master):
    """master and the processes whose parent it is."""
    pids = [master]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == master:
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


def postgres_pids(cluster):
    """The cluster's postmaster and its children (other clusters on the machine do not count)."""
    with open(os.path.join(cluster.path, "data", "postmaster.pid")) as f:
        return with_children(int(f.readline()))


def rss_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass
    return total


def nginx_pids(tmp):
    with open(os.path.join(tmp, "nginx.pid")) as f:
        return with_children(int(f.read()))


def idle_connections(port, n, pids):
    """Opens n TLS connections that then send nothing; returns (RSS before, RSS with them open, how
    many were open) of pids, in kB. The connections are closed before returning."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    before = rss_kb(pids)
    socks, lock, failed = [], threading.Lock(), [0]

    def opener(k):
        for _ in range(k):
            try:
                raw = socket.create_connection(("127.0.0.1", port), timeout=20)
                s = ctx.wrap_socket(raw, server_hostname="localhost")
                with lock:
                    socks.append(s)
            except OSError:
                failed[0] += 1

    threads = [threading.Thread(target=opener, args=(n // 4 + (1 if i < n % 4 else 0),)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(1.0)  # let the server finish its side of the last handshakes
    during = rss_kb(pids)
    opened = len(socks)
    for s in socks:
        try:
            s.close()
        except OSError:
            pass
    return before, during, opened


def machine_ticks():
    """(all CPU ticks, idle ticks) of the machine since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + v[4]


def h2load(url, body_path, log_path):
    cmd = ["h2load", "--h1", "-c", str(CLIENTS), "-t", "1", "-D", str(DURATION),
           f"--warm-up-time={WARMUP}", "-H", "Content-Type: application/json", "-d", body_path,
           f"--log-file={log_path}", url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=DURATION + WARMUP + 60).stdout
    lat, statuses = [], {}
    with open(log_path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                statuses[parts[1]] = statuses.get(parts[1], 0) + 1
                lat.append(int(parts[2]) / 1000.0)
    lat.sort()
    ok = sum(v for k, v in statuses.items() if k.startswith("2"))
    return {
        "rate": ok / DURATION, "ok": ok, "statuses": statuses,
        "p50": lat[len(lat) // 2] if lat else 0, "p99": lat[int(len(lat) * 0.99)] if lat else 0,
        "raw": out,
    }


def nginx_start(tmp, cert, key, port):
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
worker_rlimit_nofile {IDLE + 1000};
events {{ worker_connections {IDLE + 1000}; }}
http {{
  access_log off;
  server {{
    listen 127.0.0.1:{port} ssl reuseport;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets off;
    keepalive_requests 1000000;
    client_body_buffer_size 64k;
    location / {{
      default_type application/json;
      return 201 '{{"reference":"7K3QMZ9X2FA","receipt":"NSD1QSG95924BTY465M6H6VJ50","status_url":"/v1/grievances/7K3QMZ9X2FA","received_at":"2026-11-22T08:26:56Z","status":"received"}}';
    }}
  }}
}}
""")
    subprocess.run(["nginx", "-q", "-p", tmp, "-c", conf], check=True)
    time.sleep(0.5)


def nginx_stop(tmp):
    try:
        pid = int(open(os.path.join(tmp, "nginx.pid")).read())
        os.kill(pid, 15)
        time.sleep(0.5)
    except OSError:
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    harness.BUILD = os.path.abspath(args.build)
    tmp = tempfile.mkdtemp(prefix="redress-bench-")
    os.chmod(tmp, 0o755)
    body_path = os.path.join(tmp, "grievance.json")
    with open(body_path, "wb") as f:
        f.write(grievance_body())
    print(f"bench: {CLIENTS} connections, {DURATION}s (+{WARMUP}s warm-up) each, "
          f"{os.path.getsize(body_path)}-byte grievance, HTTPS HTTP/1.1 on 127.0.0.1")
    # 10,000 idle connections need 10,000 descriptors in the server (and as many here).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    idle = min(IDLE, hard - 2000)
    with harness.Cluster.start() as cluster:
        if not os.environ.get("BENCH_COLD"):  # a database as it is after running a while (harness.py)
            cluster.warm()
        # The idle connections must outlive the request deadline and fit under the cap.
        extra = dict(kv.split("=", 1) for kv in os.environ.get("BENCH_CONFIG", "").split())  # "section.key=value ..."
        cfg = harness.make_config(os.path.join(tmp, "cfg"), cluster, **{
            "server.log_level": "warn", "server.max_connections": idle + 1000,
            "server.request_timeout": 120, **extra})
        c = harness.read_config(cfg)
        # nginx first: the ceiling of a TLS front on this machine.
        nport = harness.free_port()
        nginx_start(tmp, c["tls.cert"], c["tls.key"], nport)
        ng_cpu0 = cpu_seconds(nginx_pids(tmp))
        ng = h2load(f"https://127.0.0.1:{nport}/", body_path, os.path.join(tmp, "nginx.log"))
        ng_cpu = cpu_seconds(nginx_pids(tmp)) - ng_cpu0
        ng_idle = idle_connections(nport, idle, nginx_pids(tmp))
        nginx_stop(tmp)

        intake = harness.Intake(cfg)
        deadline = time.time() + 15  # its database connections must exist before we count their CPU
        while intake.request("GET", "/healthz")[0] != 200 or len(cluster.sql("SELECT 1 FROM pg_stat_activity WHERE application_name = 'redress-intake'")) < int(c.get("server.workers", "2")):
            if time.time() > deadline:
                sys.exit("bench: redress-intake did not connect to the database")
            time.sleep(0.1)
        before_rows = cluster.sql("SELECT count(*) FROM grievance")[0][0]
        xact_sql = "SELECT xact_commit FROM pg_stat_database WHERE datname = 'redress'"
        before_xact = cluster.sql(xact_sql)[0][0]
        pg = postgres_pids(cluster)
        pg_cpu0 = {p: cpu_seconds([p]) for p in pg}
        cpu0 = (cpu_seconds([intake.proc.pid]), sum(pg_cpu0.values()))
        ticks0, children0, wall0 = machine_ticks(), os.times(), time.monotonic()
        perf = None
        if os.environ.get("BENCH_PERF"):  # a profile of the server and PostgreSQL under load
            perf = subprocess.Popen(["perf", "record", "-q", "-F", "499", "-g", "-o", os.environ["BENCH_PERF"],
                                     "-p", ",".join(str(p) for p in [intake.proc.pid] + postgres_pids(cluster))],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ours = h2load(f"https://127.0.0.1:{intake.port}/v1/grievances", body_path,
                      os.path.join(tmp, "intake.log"))
        if perf:
            perf.send_signal(2)
            perf.wait(30)
        pg_cpu1 = {p: cpu_seconds([p]) for p in pg}
        cpu1 = (cpu_seconds([intake.proc.pid]), sum(pg_cpu1.values()))
        ticks1, children1, wall = machine_ticks(), os.times(), time.monotonic() - wall0
        busiest = max(pg_cpu1[p] - pg_cpu0[p] for p in pg)
        h2load_cpu = (children1.children_user + children1.children_system
                      - children0.children_user - children0.children_system)
        our_idle = idle_connections(intake.port, idle, [intake.proc.pid])
        still = intake.request("GET", "/healthz")[0]  # and it still answers afterwards
        intake.stop()
        rows = cluster.sql("SELECT count(*) FROM grievance")[0][0] - before_rows
        time.sleep(0.6)  # statistics are flushed by backends at most every 500 ms
        commits = cluster.sql(xact_sql)[0][0] - before_xact

    # h2load counts requests over the measured period; rows include the warm-up's too.
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} (1 min), {load[1]:.2f} (5 min) on {os.cpu_count()} CPUs "
          "(anything else running shares them with h2load, the server and PostgreSQL)")
    total_2xx = ours["ok"]
    per_k = lambda s: s / max(rows, 1) * 1000
    print(f"nginx fixed 201:   {ng['rate']:10.0f} req/s   p50 {ng['p50']:7.2f} ms   p99 {ng['p99']:7.2f} ms")
    print(f"redress-intake:    {ours['rate']:10.0f} req/s   p50 {ours['p50']:7.2f} ms   p99 {ours['p99']:7.2f} ms"
          f"   statuses {ours['statuses']}")
    print(f"ratio ours/nginx:  {ours['rate'] / max(ng['rate'], 1):.2f}")
    print(f"CPU per 1,000 committed submissions: server {per_k(cpu1[0] - cpu0[0]):.3f} s, "
          f"PostgreSQL {per_k(cpu1[1] - cpu0[1]):.3f} s; nginx per 1,000 requests: "
          f"{ng_cpu / max(ng['ok'] * (DURATION + WARMUP) / DURATION, 1) * 1000:.3f} s")
    # Where the CPUs went while h2load ran against us: idle time left means the intake waits on its
    # commit cycle (one backend, one transaction at a time) rather than on CPU.
    idle_share = (ticks1[1] - ticks0[1]) / max(ticks1[0] - ticks0[0], 1) * os.cpu_count() * 100
    share = lambda s: s / wall * 100
    print(f"CPU during our run (% of one CPU, {os.cpu_count()} CPUs): server {share(cpu1[0] - cpu0[0]):.0f}, "
          f"PostgreSQL {share(cpu1[1] - cpu0[1]):.0f} (its busiest backend {share(busiest):.0f}), "
          f"h2load {share(h2load_cpu):.0f}, idle {idle_share:.0f}")
    print(f"rows committed during the run (warm-up included): {rows}; 2xx answered in the measured period: {total_2xx}")
    print(f"transactions committed: {commits}, {rows / max(commits, 1):.1f} rows per commit on average")
    ok = rows >= total_2xx
    print("every 201 backed by a committed row: " + ("yes" if ok else "NO"))
    for name, (b, d, n) in (("nginx", ng_idle), ("redress-intake", our_idle)):
        print(f"{n} idle TLS connections, {name}: RSS {b / 1024:.0f} MB before, {d / 1024:.0f} MB with them open "
              f"({(d - b) / max(n, 1):.1f} kB each)")
    mem_ok = our_idle[2] == idle and our_idle[1] / 1024 <= IDLE_BUDGET_MB and still == 200
    print(f"memory ours/nginx with {idle} idle: {our_idle[1] / max(ng_idle[1], 1):.2f}; "
          f"within {IDLE_BUDGET_MB} MB in all: " + ("yes" if mem_ok else "NO"))
    shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
