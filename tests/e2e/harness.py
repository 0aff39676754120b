"""Shared pieces of the end-to-end tests: a private PostgreSQL cluster, a config file with fresh
keys and a self-signed certificate, the real server binaries, and a TLS client.
Everything talks to 127.0.0.1 or a Unix socket only."""
import contextlib
import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import psycopg2

import openapi_check

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")
CLUSTER = None  # set by run.py


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A throwaway cluster: scripts/pgcluster.sh in a temporary directory."""

    def __init__(self, path, port):
        self.path, self.port = path, port
        self.sock = os.path.join(path, "sock")

    @classmethod
    @contextlib.contextmanager
    def start(cls):
        path = tempfile.mkdtemp(prefix="redress-pg-")
        os.chmod(path, 0o755)
        c = cls(path, free_port())
        subprocess.run([os.path.join(ROOT, "scripts/pgcluster.sh"), "start", path, str(c.port)], check=True)
        try:
            # Every migration applied: the tests run against the whole schema or not at all.
            applied = {v for (v,) in c.sql("SELECT version FROM schema_migration")}
            wanted = {f[:-4] for f in os.listdir(os.path.join(ROOT, "sql")) if f.endswith(".sql")}
            assert applied == wanted, f"migrations applied {sorted(applied)}, expected {sorted(wanted)}"
            yield c
        finally:
            c.stop()
            shutil.rmtree(path, ignore_errors=True)

    def pg_ctl(self, action):
        """Stops ('stop') or starts ('start') the server, for outage tests."""
        if action == "stop":
            subprocess.run([os.path.join(ROOT, "scripts/pgcluster.sh"), "stop", self.path], check=True)
        else:
            subprocess.run([os.path.join(ROOT, "scripts/pgcluster.sh"), "start", self.path, str(self.port)], check=True)

    def stop(self):
        self.pg_ctl("stop")

    def conninfo(self):
        """The conninfo the programs get (no user: each program's config names its role)."""
        return f"host={self.sock} port={self.port} dbname=redress"

    def connect(self, user="postgres"):
        conn = psycopg2.connect(host=self.sock, port=self.port, dbname="redress", user=user)
        conn.autocommit = True
        return conn

    def sql(self, query, params=None, user="postgres"):
        """Runs one statement; returns all rows (or [] when it returns none)."""
        with contextlib.closing(self.connect(user)) as conn, conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []

    def warm(self):
        """Brings a new cluster to the state of one that has been running (benchmarks only): every
        page of shared_buffers touched once (a new cluster pays a page fault and a cleared page the
        first time each buffer is used) and write-ahead log segments ready to be recycled (a new
        cluster writes each 16 MB segment full of zeros before its first use). About 300 MB of
        throwaway rows, two checkpoints, then the table is dropped: nothing of it stays."""
        with contextlib.closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE bench_warm_up (n int, pad text)")
            cur.execute("INSERT INTO bench_warm_up SELECT n, repeat('x', 900) FROM generate_series(1, 320000) n")
            cur.execute("CHECKPOINT")
            cur.execute("DROP TABLE bench_warm_up")
            cur.execute("CHECKPOINT")

    def reset(self):
        """Empties every data table (schema, roles and case_transition stay)."""
        self.sql("TRUNCATE grievance_key, grievance, remedy_case, case_owner, triage_decision, case_event, remedy, member "
                 "RESTART IDENTITY CASCADE")


def make_tls(dirpath):
    """A self-signed ECDSA P-256 certificate for 127.0.0.1/localhost; returns (cert, key)."""
    cert, key = os.path.join(dirpath, "cert.pem"), os.path.join(dirpath, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def make_config(dirpath, cluster, **overrides):
    """Writes dirpath/redress.conf for the cluster with fresh keys and certificate; overrides are
    {"section.key": value}. Returns the config path."""
    os.makedirs(dirpath, exist_ok=True)
    cert, key = make_tls(dirpath)
    for name in ("contact.key", "receipt.key"):
        with open(os.path.join(dirpath, name), "w") as f:
            f.write(os.urandom(32).hex() + "\n")
    settings = {
        "server.listen": "127.0.0.1",
        "server.port": str(free_port()),
        "server.workers": "2",
        "server.log_level": "info",
        "tls.cert": cert,
        "tls.key": key,
        "database.conninfo": cluster.conninfo(),
        "keys.contact_key_file": os.path.join(dirpath, "contact.key"),
        "keys.receipt_key_file": os.path.join(dirpath, "receipt.key"),
        "taxonomy.file": os.path.join(ROOT, "config/taxonomy.json"),
        "i18n.po_dir": os.path.join(ROOT, "po"),
        "triage.rules": os.path.join(ROOT, "config/triage-rules.ini"),
    }
    settings.update({k: str(v) for k, v in overrides.items()})
    sections = {}
    for k, v in settings.items():
        sec, name = k.split(".", 1)
        sections.setdefault(sec, []).append((name, v))
    path = os.path.join(dirpath, "redress.conf")
    with open(path, "w") as f:
        for sec, items in sections.items():
            f.write(f"[{sec}]\n")
            for name, v in items:
                f.write(f"{name} = {v}\n")
    return path


def read_config(path):
    out, sec = {}, None
    for line in open(path):
        line = line.strip()
        if line.startswith("["):
            sec = line[1:-1]
        elif "=" in line and not line.startswith(";"):
            k, v = line.split("=", 1)
            out[f"{sec}.{k.strip()}"] = v.strip()
    return out


class Process:
    """One of our binaries running in the background, its stderr kept in a file for log checks."""

    def __init__(self, argv, log_path, env=None):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT,
                                     env=env or os.environ.copy())

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class Intake(Process):
    """redress-intake on its own port; waits until it accepts TLS connections."""

    def __init__(self, config_path, env=None):
        self.config_path = config_path
        cfg = read_config(config_path)
        self.port = int(cfg["server.port"])
        self.cert = cfg["tls.cert"]
        super().__init__([os.path.join(BUILD, "redress-intake"), "-c", config_path],
                         config_path + ".intake.log", env=env)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redress-intake exited: " + self.output())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redress-intake did not start listening")

    def wait_healthy(self, timeout=15):
        """Listening comes before the database connections: waits until /healthz says they are up
        (the worker's own and its commit stream's); raises after timeout seconds."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redress-intake did not become healthy (its database connections)")

    def tls_context(self, **kw):
        ctx = ssl.create_default_context(cafile=self.cert)
        ctx.check_hostname = False
        for k, v in kw.items():
            setattr(ctx, k, v)
        return ctx

    def connection(self, timeout=10):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.tls_context(), timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None):
        """One HTTPS request; returns (status, headers dict with lower-case names, body bytes)."""
        own = conn is None
        conn = conn or self.connection()
        try:
            if isinstance(body, str):
                body = body.encode()
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            got = {k.lower(): v for k, v in r.getheaders()}
            openapi_check.check(method, path, r.status, got, data)  # docs/openapi.json
            return r.status, got, data
        finally:
            if own:
                conn.close()
