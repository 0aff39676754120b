"""The topology scripts/ha.sh brings up, seen from a test: its nodes and the monitor's view of them,
the intake servers, and a load of clients filing grievances through both intake servers the way a
client behind a load balancer would (an Idempotency-Key per grievance, retrying a 503 or a lost
connection with the same key and body, on the other server)."""
import contextlib
import http.client
import json
import os
import shlex
import ssl
import subprocess
import threading
import time

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
HA_SH = os.path.join(ROOT, "scripts/ha.sh")


class Topology:
    def __init__(self, dirpath, build):
        self.dir, self.build = dirpath, build
        env = {}
        for line in open(os.path.join(dirpath, "ha.env")):
            k, v = line.rstrip("\n").split("=", 1)
            env[k] = shlex.split(v)[0] if v else ""
        self.env = env
        self.sock = os.path.join(dirpath, "sock")
        self.node_ports = {"node1": int(env["HA_NODE1_PORT"]), "node2": int(env["HA_NODE2_PORT"])}
        self.intake_ports = [int(env["HA_INTAKE_A_PORT"]), int(env["HA_INTAKE_B_PORT"])]
        self.cert = os.path.join(dirpath, "tls/cert.pem")
        self.conf_a = os.path.join(dirpath, "redress-a.conf")
        self.conf_read = os.path.join(dirpath, "redress-read.conf")

    # --- nodes --------------------------------------------------------------------------------
    def ha(self, *args):
        out = subprocess.run([HA_SH, *args, self.dir], env=dict(os.environ, BUILD=self.build), capture_output=True, text=True,
                             timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"ha.sh {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def states(self):
        """{node: (reported, assigned)} from the monitor."""
        out = subprocess.run(["psql", "-X", "-Atq", "-h", self.sock, "-p", self.env["HA_MONITOR_PORT"], "-U",
                              "postgres", "-d", "pg_auto_failover", "-c",
                              "SELECT nodename, reportedstate, goalstate FROM pgautofailover.node"],
                             capture_output=True, text=True, timeout=10, check=True)
        return {n: (r, g) for n, r, g in (line.split("|") for line in out.stdout.split())}

    def wait_states(self, want, timeout):
        """Waits until every node in want {node: state} reports and is assigned that state."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            st = self.states()
            if all(st.get(n) == (s, s) for n, s in want.items()):
                return time.time()
            time.sleep(0.2)
        raise AssertionError(f"nodes did not reach {want} in {timeout}s: {self.states()}")

    def primary(self):
        st = self.states()
        for n, (rep, goal) in st.items():
            if rep in ("primary", "wait_primary", "single") and goal == rep:
                return n
        raise AssertionError(f"no primary: {st}")

    def standby(self):
        return [n for n in self.node_ports if n != self.primary()][0]

    def connect(self, node, user="postgres"):
        conn = psycopg2.connect(host=self.sock, port=self.node_ports[node], dbname="redress", user=user,
                                connect_timeout=5)
        conn.autocommit = True
        return conn

    def sql(self, node, query, params=None):
        with contextlib.closing(self.connect(node)) as conn, conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []

    def redressctl(self, *args, conf=None, user="postgres"):
        return subprocess.run([os.path.join(self.build, "redressctl"), "-c", conf or self.conf_a, *args],
                              env=dict(os.environ, PGUSER=user), capture_output=True, text=True, timeout=120)

    def wait_triaged(self, node, like, timeout=120):
        """Waits until no grievance whose idempotency key is LIKE like is untriaged."""
        deadline = time.time() + timeout
        left = None
        while time.time() < deadline:
            left = self.sql(node, "SELECT count(*) FROM grievance WHERE idempotency_key LIKE %s "
                            "AND triaged_at IS NULL", (like,))[0][0]
            if left == 0:
                return
            time.sleep(0.5)
        raise AssertionError(f"{left} grievances still untriaged after {timeout}s")

    # --- intake -------------------------------------------------------------------------------
    def tls(self):
        ctx = ssl.create_default_context(cafile=self.cert)
        ctx.check_hostname = False
        return ctx

    def request(self, port, method, path, body=None, headers=None, timeout=20):
        """One HTTPS request to an intake server; (status, headers with lower-case names, body)."""
        c = http.client.HTTPSConnection("127.0.0.1", port, context=self.tls(), timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def submit(self, port, body, key):
        return self.request(port, "POST", "/v1/grievances", body,
                            {"Content-Type": "application/json", "Idempotency-Key": key})

    def wait_replayed(self, standby, primary, timeout=30):
        """Waits until standby has replayed everything primary has written so far."""
        lsn = self.sql(primary, "SELECT pg_current_wal_lsn()::text")[0][0]
        deadline = time.time() + timeout
        while not self.sql(standby, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))[0][0]:
            if time.time() > deadline:
                raise AssertionError(f"{standby} did not replay {lsn} in {timeout}s")
            time.sleep(0.2)


def grievance_body(n):
    """A valid grievance; n varies the text so triage groups some and not others."""
    countries = ["KE", "UG", "PK", "BR", "IN"]
    return json.dumps({
        "description": f"Mobile data in our district has been cut since the morning, report {n}.",
        "category": "network_shutdown",
        "country": countries[n % len(countries)],
        "people_affected": 10 + n % 1000,
        "ongoing": True,
        "complainant_type": "anonymous",
        "language": "en",
    }).encode()


class Load:
    """Clients filing grievances through every port in ports until stop() or their count is done.
    acked[key] = reference of every 201; attempts are (answered at, ok, sent at) for the outage
    window."""

    def __init__(self, topo, ports, prefix, clients=6, per_client=3000, pause=0.02, deadline=180):
        self.topo, self.ports, self.prefix = topo, ports, prefix
        self.clients, self.per_client, self.pause = clients, per_client, pause
        self.deadline = time.time() + deadline
        self.lock = threading.Lock()
        self.acked = {}
        self.replayed = 0
        self.attempts = []  # (answered at, ok, sent at)
        self.errors = []  # unexpected answers: any of these fails the test
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(clients)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(60)
        assert not any(t.is_alive() for t in self.threads), "a client did not stop"

    def count(self):
        with self.lock:
            return len(self.acked)

    def wait_acked(self, n, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.count() >= n:
                return
            time.sleep(0.1)
        raise AssertionError(f"only {self.count()} of {n} grievances acknowledged in {timeout}s; "
                             f"errors {self.errors[:3]}")

    def outage(self, since):
        """(first failed attempt after since, first success of an attempt sent after that failure),
        or None. A request sent before the failure that still succeeds (its COMMIT made it) does
        not end the outage."""
        with self.lock:
            att = sorted(self.attempts)
        fail = next((t for t, ok, _ in att if t >= since and not ok), None)
        if fail is None:
            return None
        back = next((t for t, ok, sent in att if ok and sent >= fail), None)
        return fail, back

    def _client(self, i):
        conns = {}
        ctx = self.topo.tls()

        def send(port, key, body):
            c = conns.get(port)
            if c is None:
                c = conns[port] = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=15)
            try:
                c.request("POST", "/v1/grievances", body=body,
                          headers={"Content-Type": "application/json", "Idempotency-Key": key})
                r = c.getresponse()
                return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
            except (OSError, http.client.HTTPException):
                c.close()
                conns.pop(port, None)
                return None, {}, b""

        for j in range(self.per_client):
            if self.stopping.is_set() or time.time() > self.deadline:
                break
            key = f"{self.prefix}-{i}-{j}"
            body = grievance_body(i * 100000 + j)
            port_ix = (i + j) % len(self.ports)
            while time.time() < self.deadline:
                sent = time.time()
                status, headers, data = send(self.ports[port_ix], key, body)
                now = time.time()
                with self.lock:
                    self.attempts.append((now, status == 201, sent))
                if status == 201:
                    ref = json.loads(data)["reference"]
                    with self.lock:
                        if key in self.acked and self.acked[key] != ref:
                            self.errors.append(f"{key}: two references")
                        self.acked[key] = ref
                        self.replayed += headers.get("idempotent-replayed") == "true"
                    break
                if status not in (None, 503):
                    with self.lock:
                        self.errors.append(f"{key}: HTTP {status} {data[:200]!r}")
                    break
                # Unavailable or the connection went away: the same request again, on the other
                # server (as a load balancer would send it), after a short pause.
                port_ix = (port_ix + 1) % len(self.ports)
                time.sleep(0.2)
            time.sleep(self.pause)
        for c in conns.values():
            c.close()


def check_stored(topo, node, load):
    """Every acknowledged grievance on node exactly once under its reference, none stored that was
    not acknowledged. Returns (acknowledged, lost, duplicates, unacknowledged stored)."""
    rows = topo.sql(node, "SELECT idempotency_key, reference FROM grievance WHERE idempotency_key LIKE %s",
                    (load.prefix + "-%",))
    stored = {}
    dup = 0
    for k, ref in rows:
        if k in stored:
            dup += 1
        stored.setdefault(k, set()).add(ref)
    lost = sum(1 for k, ref in load.acked.items() if ref not in stored.get(k, ()))
    dup += sum(1 for refs in stored.values() if len(refs) > 1)
    extra = sum(1 for k in stored if k not in load.acked)
    return len(load.acked), lost, dup, extra


def check_triaged_once(topo, node):
    """Triage counted every grievance in exactly one case: each case's grievance_count is the number
    of grievances pointing at it, and every grievance has a case. Returns the problems found."""
    bad = topo.sql(node, """
        SELECT c.reference, c.grievance_count, count(g.id)
        FROM remedy_case c LEFT JOIN grievance g ON g.case_id = c.id
        GROUP BY c.id HAVING c.grievance_count <> count(g.id)""")
    orphans = topo.sql(node, "SELECT count(*) FROM grievance WHERE triaged_at IS NOT NULL AND case_id IS NULL")[0][0]
    decisions = topo.sql(node, """
        SELECT count(*) FROM (SELECT grievance_id FROM triage_decision WHERE grievance_id IS NOT NULL
                              AND rules_version IS NOT NULL GROUP BY grievance_id, case_id
                              HAVING count(*) > 1) d""")[0][0]
    return {"cases with a wrong count": bad, "triaged without a case": orphans,
            "grievances scored twice into one case": decisions}
