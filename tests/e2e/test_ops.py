"""Operations: `make run` from a fresh clone in a directory only its owner can enter; systemd
(units verified, sd_notify readiness/reload/stopping and watchdog pings over a real notify socket);
SIGHUP reloads under load; Prometheus metrics parsed by prometheus_client; the OpenAPI document
(Redocly lint, served copy, route table, live responses); JSON logs; manuals, completion, --version."""
import hashlib
import pwd
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

import harness
import openapi_check

ROOT = harness.ROOT


def _https_status(port, path, cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=3)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


class MakeRunAnywhere(unittest.TestCase):
    """The first thing a new user does: clone, `make run`, open the form."""

    def test_make_run_in_mode_700_clone(self):
        self.make_run_in_mode_700_clone(None)

    def test_make_run_in_mode_700_clone_as_another_user(self):
        # Only root can become another user; anyone else is "another user" already.
        self.make_run_in_mode_700_clone("nobody" if os.geteuid() == 0 else None)

    def make_run_in_mode_700_clone(self, user):
        """user None: the invoking user (root in CI); else `make run` runs as that user, owner of
        the clone, with the cluster as that user too."""
        home = tempfile.mkdtemp(prefix="redress-home-")
        os.chmod(home, 0o700)  # as every home directory is: the postgres user cannot enter it
        clone = os.path.join(home, "redress")
        subprocess.run(["git", "clone", "-q", ROOT, clone], check=True)
        port, pgport = harness.free_port(), harness.free_port()
        os.makedirs(os.path.join(clone, "var"))
        conf = open(os.path.join(ROOT, "config/redress.conf.example")).read()
        conf = conf.replace("port = 8443", f"port = {port}").replace("port=5433", f"port={pgport}")
        self.assertIn(f"port={pgport}", conf)
        with open(os.path.join(clone, "var/redress.conf"), "w") as f:
            f.write(conf)
        log_path = os.path.join(home, "make-run.log")
        log = open(log_path, "wb")
        env = dict(os.environ, MAKEFLAGS="-j2")
        argv = ["make", "run"]
        if user:
            subprocess.run(["chown", "-R", f"{user}:", home], check=True)
            argv = ["runuser", "-u", user, "--", "env", f"HOME={home}", *argv]
        proc = subprocess.Popen(argv, cwd=clone, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)
        pgdir = os.path.join(clone, "var/pg")
        try:
            status, deadline = None, time.time() + 300
            while time.time() < deadline and proc.poll() is None:
                cert = os.path.join(clone, "var/tls/cert.pem")
                if os.path.exists(cert):
                    try:
                        status = _https_status(port, "/healthz", cert)
                        if status == 200:
                            break
                    except (OSError, ssl.SSLError):
                        pass
                time.sleep(0.5)
            out = open(log_path, errors="replace").read()
            self.assertEqual(status, 200, "make run never became healthy:\n" + out[-4000:])
            if os.geteuid() == 0 and not user:
                # The cluster runs as postgres, so its data cannot be inside the clone.
                self.assertTrue(os.path.islink(pgdir), out[-2000:])
                self.assertTrue(os.path.realpath(pgdir).startswith("/var/lib/redress/pg-"))
            if user:
                # Not root: the cluster is the user's own, inside the clone.
                self.assertFalse(os.path.islink(pgdir))
                self.assertEqual(os.stat(os.path.join(pgdir, "data")).st_uid, pwd.getpwnam(user).pw_uid)
            real = os.path.realpath(pgdir)
            self.assertTrue(os.path.exists(os.path.join(real, "data/postmaster.pid")))
            # Ctrl-C stops everything: the servers and the cluster.
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(60)
            out = open(log_path, errors="replace").read()
            self.assertIn("run: stopped", out)
            self.assertFalse(os.path.exists(os.path.join(real, "data/postmaster.pid")), out[-2000:])
            with self.assertRaises(OSError):
                _https_status(port, "/healthz", os.path.join(clone, "var/tls/cert.pem"))
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()
            subprocess.run([os.path.join(clone, "scripts/pgcluster.sh"), "destroy", pgdir], check=False)
            shutil.rmtree(home, ignore_errors=True)


DESCRIPTION = "Our district lost all mobile data for nine days; marker-ops-5d1e8b."
EMAIL = "ops.witness.5d1e8b@example.org"


def grievance(**over):
    g = {"description": DESCRIPTION, "category": "network_shutdown", "country": "KE",
         "people_affected": 5000, "ongoing": True, "complainant_type": "self",
         "contact": {"email": EMAIL}}
    g.update(over)
    return g


def post(intake, body, conn=None):
    return intake.request("POST", "/v1/grievances", json.dumps(body),
                          {"Content-Type": "application/json"}, conn=conn)


def peer_cert_sha256(port):
    """The SHA-256 of the certificate a new TLS connection to port is given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw) as tls:
        return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def scrape(port):
    """GET /metrics, parsed by prometheus_client: {(name, frozenset(labels)): value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for sample in fam.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out, text


def sample(metrics, name, **labels):
    return metrics.get((name, frozenset(labels.items())), 0.0)


class NotifySocket:
    """A systemd notify socket (AF_UNIX datagrams) that records every message."""

    def __init__(self, dirpath):
        self.path = os.path.join(dirpath, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []

    def wait_for(self, key, timeout=15, after=0):
        """Waits for a message carrying key (e.g. "READY=1") at index >= after; returns its index."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for i in range(after, len(self.messages)):
                if key in self.messages[i].split("\n"):
                    return i
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass
        raise AssertionError(f"no {key} from the service; got {self.messages}")

    def drain(self):
        """Reads whatever was sent so far; returns the count of messages."""
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                return len(self.messages)

    def close(self):
        self.sock.close()


class IntakeOps(unittest.TestCase):
    """One intake server with metrics, JSON logs and a notify socket; reloaded as tests go."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="redress-ops-")
        os.chmod(cls.dir, 0o755)
        cls.tax = os.path.join(cls.dir, "taxonomy.json")
        shutil.copy(os.path.join(harness.ROOT, "config/taxonomy.json"), cls.tax)
        cls.metrics_port = harness.free_port()
        cls.config = harness.make_config(cls.dir, harness.CLUSTER, **{
            "server.log_format": "json", "server.log_level": "debug", "taxonomy.file": cls.tax,
            "metrics.enabled": "1",
            "metrics.port": str(cls.metrics_port)})
        cfg = harness.read_config(cls.config)
        cls.cert, cls.key = cfg["tls.cert"], cfg["tls.key"]
        cls.notify = NotifySocket(cls.dir)
        env = dict(os.environ, NOTIFY_SOCKET=cls.notify.path, WATCHDOG_USEC="400000")
        cls.intake = harness.Intake(cls.config, env=env)
        cls.intake.wait_healthy()  # or the first submission may get a 503

    @classmethod
    def tearDownClass(cls):
        cls.intake.stop()
        cls.notify.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def log_lines(self):
        return [line for line in self.intake.output().splitlines() if line.strip()]

    def reload(self):
        """SIGHUP, then waits for the service's READY=1 that ends the reload."""
        start = len(self.notify.messages)
        self.intake.proc.send_signal(signal.SIGHUP)
        i = self.notify.wait_for("RELOADING=1", after=start)
        self.notify.wait_for("READY=1", after=i + 1)

    # systemd ----------------------------------------------------------------------------------
    def test_sd_notify_ready_watchdog_reload(self):
        first_ready = self.notify.wait_for("READY=1")
        self.assertTrue(any(m.startswith("STATUS=") for m in self.notify.messages[first_ready].split("\n")))
        # WATCHDOG_USEC=0.4 s: pings every 0.1 s while the workers' loops run.
        w1 = self.notify.wait_for("WATCHDOG=1", timeout=5)
        self.notify.wait_for("WATCHDOG=1", timeout=5, after=w1 + 1)
        self.reload()

    # reload -------------------------------------------------------------------------------------
    def test_sighup_reloads_certificate_without_dropping_connections(self):
        before = peer_cert_sha256(self.intake.port)
        keep = self.intake.connection()
        status, _, _ = self.intake.request("GET", "/healthz", conn=keep)
        self.assertEqual(status, 200)
        # A new certificate and key, written over the files the config names.
        fresh = tempfile.mkdtemp(dir=self.dir)
        cert, key = harness.make_tls(fresh)
        shutil.copy(cert, self.cert)
        shutil.copy(key, self.key)
        self.reload()
        after = peer_cert_sha256(self.intake.port)
        self.assertNotEqual(before, after)
        with open(cert, "rb") as f:
            der = ssl.PEM_cert_to_DER_cert(f.read().decode())
        self.assertEqual(after, hashlib.sha256(der).hexdigest())
        # The connection opened before the reload still works.
        status, _, _ = self.intake.request("GET", "/v1/taxonomy", conn=keep)
        self.assertEqual(status, 200)
        keep.close()
        # A broken certificate file keeps the current one and says why.
        with open(self.cert, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
        self.reload()
        self.assertEqual(peer_cert_sha256(self.intake.port), after)
        self.assertTrue(any("keeping the current certificate" in json.loads(line)["event"]
                            for line in self.log_lines()))
        shutil.copy(cert, self.cert)  # leave a good pair for the other tests
        self.intake.cert = cert

    def test_sighup_reloads_taxonomy_and_keeps_a_bad_one(self):
        with open(self.tax) as f:
            tax = json.load(f)
        original = json.dumps(tax)
        try:
            tax["categories"].append({"id": "ops_test_category", "label": "A category added by reload"})
            with open(self.tax, "w") as f:
                json.dump(tax, f)
            status, _, body = post(self.intake, grievance(category="ops_test_category"))
            self.assertEqual(status, 422, body)
            self.reload()
            _, _, body = self.intake.request("GET", "/v1/taxonomy")
            self.assertIn("ops_test_category", [c["id"] for c in json.loads(body)["categories"]])
            status, _, body = post(self.intake, grievance(category="ops_test_category"))
            self.assertEqual(status, 201, body)
            # A malformed file: the taxonomy in use stays, the log names the file.
            with open(self.tax, "w") as f:
                f.write('{"categories": [')
            self.reload()
            status, _, body = post(self.intake, grievance(category="ops_test_category"))
            self.assertEqual(status, 201, body)
            self.assertTrue(any("keeping the current taxonomy" in json.loads(line)["event"]
                                and "taxonomy.json" in json.loads(line)["event"]
                                for line in self.log_lines()))
        finally:
            with open(self.tax, "w") as f:
                f.write(original)
            self.reload()

    def test_sighup_under_load_fails_no_request(self):
        stop = threading.Event()
        results, errors = [], []

        def client():
            conn = None
            while not stop.is_set():
                try:
                    conn = conn or self.intake.connection()
                    status, _, body = post(self.intake, grievance(), conn=conn)
                    results.append(status)
                except Exception as e:  # a dropped connection or a failed handshake
                    errors.append(repr(e))
                    conn = None
            if conn:
                conn.close()

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.5)
            for _ in range(5):
                self.reload()
                time.sleep(0.2)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        self.assertEqual(errors, [])
        self.assertGreater(len(results), 20)
        self.assertEqual(set(results), {201}, results)

    # metrics ------------------------------------------------------------------------------------
    def test_metrics_parse_and_move(self):
        m0, _ = scrape(self.metrics_port)
        n = 5
        for _ in range(n):
            status, _, _ = post(self.intake, grievance())
            self.assertEqual(status, 201)
        status, _, body = post(self.intake, grievance(category="no_such_category"))
        self.assertEqual(status, 422)
        ref = "7K3QMZ9X2FA"
        status, _, _ = self.intake.request("GET", f"/v1/grievances/{ref}",
                                           headers={"Authorization": "Receipt x"})
        self.assertEqual(status, 404)
        status, _, _ = self.intake.request("GET", "/no/such/path/8c1f")
        self.assertEqual(status, 404)
        keep = self.intake.connection()
        self.intake.request("GET", "/healthz", conn=keep)
        m1, text = scrape(self.metrics_port)
        keep.close()

        def moved(name, **labels):
            return sample(m1, name, **labels) - sample(m0, name, **labels)

        self.assertEqual(moved("redress_intake_requests_total", route="/v1/grievances", method="POST", status="201"), n)
        self.assertEqual(moved("redress_intake_requests_total", route="/v1/grievances", method="POST", status="422"), 1)
        self.assertEqual(moved("redress_intake_requests_total", route="/v1/grievances/{reference}", method="GET", status="404"), 1)
        self.assertEqual(moved("redress_intake_requests_total", route="unmatched", method="GET", status="404"), 1)
        self.assertGreaterEqual(moved("redress_intake_submissions_total", outcome="stored"), n)
        self.assertGreaterEqual(moved("redress_intake_batch_rows_count"), 1)
        self.assertGreaterEqual(moved("redress_intake_batch_rows_sum"), n)
        self.assertGreaterEqual(moved("redress_intake_commit_seconds_count"), 1)
        self.assertGreater(moved("redress_intake_commit_seconds_sum"), 0)
        self.assertEqual(sample(m1, "redress_intake_commit_seconds_bucket", le="+Inf"),
                         sample(m1, "redress_intake_commit_seconds_count"))
        workers = int(harness.read_config(self.config)["server.workers"])
        for w in range(workers):
            self.assertEqual(sample(m1, "redress_intake_database_up", worker=str(w)), 1)
            self.assertEqual(sample(m1, "redress_intake_worker_up", worker=str(w)), 1)
        self.assertGreaterEqual(sum(sample(m1, "redress_intake_open_connections", worker=str(w))
                                    for w in range(workers)), 1)
        # No label carries a reference, an address, a raw path or submitted text.
        routes = set(openapi_check.doc()["paths"]) | {"unmatched"} | {
            t for _, t, kind in route_table() if kind == "NESTED"}
        for (name, labels), _ in m1.items():
            for k, v in labels:
                if k == "route":
                    self.assertIn(v, routes)
        for secret in (ref, "8c1f", "127.0.0.1", DESCRIPTION, EMAIL, "no_such_category"):
            self.assertNotIn(secret, text)

    def test_metrics_listener_only_serves_metrics(self):
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/", timeout=5)
        self.assertEqual(e.exception.code, 404)

    # OpenAPI ------------------------------------------------------------------------------------
    def test_openapi_served_equals_the_document(self):
        status, headers, body = self.intake.request("GET", "/v1/openapi.json")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), openapi_check.doc())
        self.assertEqual(openapi_check.doc()["openapi"], "3.1.0")

    def test_live_responses_are_checked_against_the_document(self):
        before = openapi_check.checked
        status, _, _ = post(self.intake, grievance())
        self.assertEqual(status, 201)
        status, headers, _ = self.intake.request("DELETE", "/v1/taxonomy")
        self.assertEqual(status, 405)
        self.assertEqual(openapi_check.checked, before + 2)
        # The check can fail: a body the schema does not allow, an undocumented status.
        ok = {"strict-transport-security": "max-age=1", "cache-control": "no-store",
              "content-type": "application/json"}
        with self.assertRaises(AssertionError):
            openapi_check.check("GET", "/v1/taxonomy", 200, ok, b'{"categories": []}')
        with self.assertRaises(AssertionError):
            openapi_check.check("GET", "/v1/taxonomy", 418, ok, b"{}")
        with self.assertRaises(AssertionError):
            openapi_check.check("GET", "/healthz", 200, ok, b'{"status": "ok", "database": "ok", "ip": "x"}')

    # logs ---------------------------------------------------------------------------------------
    def test_json_log_lines(self):
        status, _, body = post(self.intake, grievance())
        self.assertEqual(status, 201)
        receipt = json.loads(body)["receipt"]
        post(self.intake, grievance(country="XX"))
        lines = self.log_lines()
        self.assertGreater(len(lines), 2)
        workers_seen = False
        for line in lines:
            obj = json.loads(line)  # every line is one JSON object
            self.assertTrue({"time", "level", "program", "pid", "event"} <= set(obj), line)
            self.assertRegex(obj["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertIn(obj["level"], ("error", "warn", "info", "debug"))
            self.assertEqual(obj["program"], "redress-intake")
            if "worker" in obj:  # a worker thread's line carries its internal id
                self.assertIsInstance(obj["worker"], int)
                workers_seen = True
            # The server's own listen address is configuration; no other line has an address.
            if not obj["event"].startswith(("listening on", "metrics on")):
                self.assertNotRegex(obj["event"], r"\d+\.\d+\.\d+\.\d+", line)
        self.assertTrue(workers_seen)
        self.assertTrue(any(json.loads(l)["event"].startswith("listening on") for l in lines))
        text = "\n".join(lines)
        for secret in (DESCRIPTION, EMAIL, receipt, "marker-ops"):
            self.assertNotIn(secret, text)


class TriageOps(unittest.TestCase):
    """redress-triage under a notify socket, with its metrics listener and JSON logs."""

    def test_triage_notify_metrics_and_json_logs(self):
        d = tempfile.mkdtemp(prefix="redress-ops-triage-")
        os.chmod(d, 0o755)
        port = harness.free_port()
        config = harness.make_config(d, harness.CLUSTER, **{
            "server.log_format": "json", "metrics.enabled": "1", "metrics.triage_port": str(port),
            "metrics.port": str(harness.free_port()), "triage.sweep_interval": "1"})
        intake = harness.Intake(config)
        notify = NotifySocket(d)
        triage = None
        try:
            harness.CLUSTER.reset()
            n = 3
            for _ in range(n):
                status, _, body = post(intake, grievance())
                self.assertEqual(status, 201, body)
            env = dict(os.environ, NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="2000000")
            for k in ("PGUSER", "PGHOST", "PGPORT", "PGDATABASE", "REDRESS_CONFIG"):
                env.pop(k, None)
            triage = harness.Process([os.path.join(harness.BUILD, "redress-triage"), "-c", config],
                                     os.path.join(d, "triage.log"), env=env)
            ready = notify.wait_for("READY=1")
            notify.wait_for("WATCHDOG=1", timeout=5)
            # systemctl reload: the rules again, reported as a reload.
            triage.proc.send_signal(signal.SIGHUP)
            reloading = notify.wait_for("RELOADING=1", after=ready + 1)
            notify.wait_for("READY=1", after=reloading + 1)
            self.assertIsNone(triage.proc.poll())
            deadline = time.time() + 30
            while time.time() < deadline:
                m, text = scrape(port)
                if sample(m, "redress_triage_grievances_total") >= n and sample(m, "redress_triage_backlog") == 0:
                    break
                time.sleep(0.2)
            self.assertGreaterEqual(sample(m, "redress_triage_grievances_total"), n, text)
            self.assertEqual(sample(m, "redress_triage_backlog"), 0)
            self.assertEqual(sample(m, "redress_triage_database_up"), 1)
            opened = sum(sample(m, "redress_cases_open", band=b) for b in ("P1", "P2", "P3", "P4"))
            self.assertGreaterEqual(opened, 1)
            self.assertEqual(sum(v for (name, _), v in m.items() if name == "redress_cases_deadline_missed"), 0)
            # A case whose acknowledgement is overdue counts as a missed deadline, by band and stage.
            band = harness.CLUSTER.sql(
                "UPDATE remedy_case SET ack_due = now() - interval '1 hour' "
                "WHERE id = (SELECT min(id) FROM remedy_case) RETURNING band, status")[0]
            self.assertEqual(band[1], "triaged")
            m, text = scrape(port)
            self.assertEqual(sample(m, "redress_cases_deadline_missed", band=band[0], stage="acknowledge"), 1, text)
            triage.stop()
            notify.wait_for("STOPPING=1")
        finally:
            if triage:
                triage.stop()
            intake.stop()
            notify.close()
        lines = [line for line in triage.output().splitlines() if line.strip()]
        self.assertTrue(lines)
        for line in lines:
            obj = json.loads(line)
            self.assertEqual(obj["program"], "redress-triage")
            self.assertTrue({"time", "level", "event", "pid"} <= set(obj))
        self.assertNotIn(EMAIL, triage.output())
        self.assertNotIn("marker-ops", triage.output())
        harness.CLUSTER.reset()
        shutil.rmtree(d, ignore_errors=True)


REDOCLY = os.path.join(harness.ROOT, "build/npm/node_modules/.bin/redocly")
PROGRAMS = ("redress-intake", "redress-triage", "redressctl")


def route_table():
    """(method, template) of every row of routes[] in intake/routes.c."""
    src = open(os.path.join(harness.ROOT, "intake/routes.c")).read()
    table = src[src.index("static const Route routes[]"):]
    table = table[:table.index("};")]
    rows = re.findall(r'\{\s*"([^"]+)",\s*ROUTE_(EXACT|PREFIX|NESTED),\s*EVHTTP_REQ_(\w+),[^{}]*?(?:"(/[^"]*\{[^"]+\}[^"]*)")?\s*\}',
                      table, re.S)
    return {(method.lower(), template or path, kind) for path, kind, method, template in rows}


NESTED_SUFFIX = "/{action}"  # a nested route's template: its actions' paths continue its prefix


class Packaging(unittest.TestCase):
    """What ships beside the binaries: the OpenAPI document, units, manuals, completion."""

    def test_openapi_lint_with_redocly(self):
        self.assertTrue(os.access(REDOCLY, os.X_OK), "scripts/install-deps.sh installs @redocly/cli")
        env = dict(os.environ, REDOCLY_TELEMETRY="off", REDOCLY_SUPPRESS_UPDATE_NOTICE="true")
        p = subprocess.run([REDOCLY, "lint", "--format=stylish", "docs/openapi.json"], cwd=harness.ROOT,
                           capture_output=True, text=True, env=env, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # The linter does fail on a broken document.
        with tempfile.NamedTemporaryFile("w", suffix=".json", dir=harness.ROOT + "/build") as bad:
            d = json.load(open(openapi_check.DOC_PATH))
            d["paths"]["/healthz"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {
                "$ref": "#/components/schemas/NoSuchSchema"}
            json.dump(d, bad)
            bad.flush()
            p = subprocess.run([REDOCLY, "lint", bad.name], cwd=harness.ROOT, capture_output=True,
                               text=True, env=env, timeout=120)
            self.assertNotEqual(p.returncode, 0)

    def test_every_route_is_documented_and_every_documented_path_routed(self):
        routes = route_table()
        self.assertGreaterEqual(len(routes), 8)
        documented = {(m, path) for path, ops in openapi_check.doc()["paths"].items() for m in ops}
        routed = set()
        for method, template, kind in routes:
            if kind != "NESTED":
                routed.add((method, template))
                continue
            # One row dispatches several actions (dialogue.c): each is documented under its prefix.
            self.assertTrue(template.endswith(NESTED_SUFFIX), template)
            prefix = template[:-len(NESTED_SUFFIX)] + "/"
            actions = {(m, p) for m, p in documented if p.startswith(prefix) and m == method}
            self.assertTrue(actions, f"no documented {method.upper()} {prefix}...")
            routed |= actions
        self.assertEqual(routed, documented)

    def test_systemd_units_verify_and_make_install(self):
        prefix = tempfile.mkdtemp(prefix="redress-install-")
        try:
            stage = os.path.join(prefix, "stage")
            # A sanitizer build is installed with its own flags: should make find anything to
            # redo there, a link without them would fail and leave the build without its program.
            flags = {"build-tsan": ["SANITIZER=thread", "DEBUG=1"],
                     "build-asan": ["SANITIZER=address,undefined", "DEBUG=1"]}.get(
                         os.path.basename(harness.BUILD), [])
            subprocess.run(["make", "--no-print-directory", "install", f"BUILD={harness.BUILD}",
                            f"PREFIX={prefix}/usr", *flags], cwd=harness.ROOT, check=True,
                           capture_output=True, timeout=300)
            # DESTDIR stages the same tree elsewhere with the paths of the real PREFIX inside.
            subprocess.run(["make", "--no-print-directory", "install", f"BUILD={harness.BUILD}",
                            "PREFIX=/usr", f"DESTDIR={stage}", *flags], cwd=harness.ROOT, check=True,
                           capture_output=True, timeout=300)
            for path in ["usr/bin/" + p for p in PROGRAMS] + [
                    "usr/share/man/man1/redressctl.1", "usr/share/man/man8/redress-intake.8",
                    "usr/share/man/man8/redress-triage.8", "usr/lib/systemd/system/redress.target",
                    "usr/lib/sysusers.d/redress.conf", "usr/lib/tmpfiles.d/redress.conf",
                    "usr/share/bash-completion/completions/redressctl",
                    "etc/redress/redress.conf.example", "usr/share/redress/taxonomy.json"]:
                self.assertTrue(os.path.exists(os.path.join(stage, path)), path)
            staged = open(os.path.join(stage, "usr/lib/systemd/system/redress-intake.service")).read()
            self.assertIn("ExecStart=/usr/bin/redress-intake -c /etc/redress/redress.conf", staged)
            conf = open(os.path.join(stage, "etc/redress/redress.conf.example")).read()
            self.assertIn("/run/credentials/redress-intake.service/contact.key", conf)
            self.assertIn("/usr/share/redress/taxonomy.json", conf)

            units = os.path.join(prefix, "usr/lib/systemd/system")
            names = ["redress-intake.service", "redress-triage.service", "redress.target"]
            env = dict(os.environ, MANPATH=os.path.join(prefix, "usr/share/man"))
            p = subprocess.run(["systemd-analyze", "verify"] + [os.path.join(units, n) for n in names],
                               capture_output=True, text=True, env=env, timeout=120)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertEqual(p.stdout + p.stderr, "")
            for unit in names[:2]:
                text = open(os.path.join(units, unit)).read()
                for line in ("Type=notify", "WatchdogSec=", "NoNewPrivileges=yes", "ProtectSystem=strict",
                             "CapabilityBoundingSet=\n", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
                             "SystemCallFilter=@system-service", "User=redress", "PartOf=redress.target"):
                    self.assertIn(line, text, unit)
                p = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--threshold=20",
                                    os.path.join(units, unit)], capture_output=True, text=True, timeout=120)
                self.assertEqual(p.returncode, 0, p.stdout[-3000:] + p.stderr)
            intake = open(os.path.join(units, "redress-intake.service")).read()
            self.assertIn("LoadCredential=contact.key:", intake)
            self.assertIn("ExecReload=/bin/kill -HUP $MAINPID", intake)
            # A broken unit fails the same check.
            bad = os.path.join(units, "redress-broken.service")
            with open(bad, "w") as f:
                f.write(intake.replace("Type=notify", "Type=no-such-type").replace(
                    "ExecStart=" + prefix, "ExecStart=/nonexistent"))
            p = subprocess.run(["systemd-analyze", "verify", bad], capture_output=True, text=True,
                               env=env, timeout=120)
            self.assertNotEqual(p.returncode, 0)
        finally:
            shutil.rmtree(prefix, ignore_errors=True)

    def test_man_pages_render(self):
        for page in ("redressctl.1", "redress-intake.8", "redress-triage.8"):
            path = os.path.join(harness.BUILD, "man", page)
            subprocess.run(["make", "--no-print-directory", f"BUILD={harness.BUILD}", path],
                           cwd=harness.ROOT, check=True, capture_output=True)
            p = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, text=True,
                               env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0"), timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stderr, "", page)
            p.stdout = re.sub(".\b", "", p.stdout)  # overstrike bold and underline
            name = page.rsplit(".", 1)[0]
            self.assertRegex(p.stdout, r"NAME\s+" + re.escape(name) + " - ")
            self.assertIn("SYNOPSIS", p.stdout)
            self.assertIn("--version", p.stdout)
        # Every command of redressctl's table is in its manual.
        out = subprocess.run([os.path.join(harness.BUILD, "redressctl"), "--commands"],
                             capture_output=True, text=True, check=True).stdout
        verbs = [line.split("\t")[0] for line in out.splitlines()]
        self.assertGreaterEqual(len(verbs), 10)
        manual = open(os.path.join(harness.ROOT, "man/redressctl.1.scd")).read()
        for verb in verbs:
            self.assertTrue(f"*{verb}*" in manual, f"man/redressctl.1.scd lacks the command {verb}")

    def test_bash_completion_follows_the_command_table(self):
        ctl = os.path.join(harness.BUILD, "redressctl")
        table = subprocess.run([ctl, "--commands"], capture_output=True, text=True, check=True).stdout
        verbs = [line.split("\t")[0] for line in table.splitlines()]
        script = os.path.join(harness.ROOT, "completion/redressctl.bash")

        def complete(*words):
            words = [ctl, *words]
            prog = (f"source {script}; COMP_WORDS=({' '.join(repr(w) for w in words)}); "
                    f"COMP_CWORD={len(words) - 1}; _redressctl; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
            out = subprocess.run(["bash", "-c", prog], capture_output=True, text=True, check=True).stdout
            return sorted(w for w in out.split("\n") if w)

        self.assertEqual(complete(""), sorted({v.split()[0] for v in verbs}))
        self.assertEqual(complete("case", ""), sorted(v.split()[1] for v in verbs if v.startswith("case ")))
        self.assertEqual(complete("--json", "member", "i"), ["import"])
        self.assertEqual(complete("case", "assign", "REF", "--role", ""), ["co-owner", "informed", "lead"])
        self.assertEqual(complete("remedy", "record", "REF", "imp"), ["implemented"])
        self.assertIn("--with-narrative", complete("export", "cases", "--"))
        self.assertEqual(complete("-"), ["--config", "--help", "--json", "--version", "-c"])

    def test_version_on_every_program(self):
        makefile = open(os.path.join(harness.ROOT, "Makefile")).read()
        version = re.search(r"^VERSION := (\S+)", makefile, re.M).group(1)
        self.assertEqual(openapi_check.doc()["info"]["version"], version)
        for prog in PROGRAMS:
            for flag in ("--version", "-V"):
                p = subprocess.run([os.path.join(harness.BUILD, prog), flag], capture_output=True,
                                   text=True, timeout=10)
                self.assertEqual((p.returncode, p.stdout), (0, f"{prog} {version}\n"), prog)


class TriageWatchdog(unittest.TestCase):
    """A triage worker stuck in a database call stops the watchdog pings; they resume with it."""

    def test_stuck_worker_stops_the_pings(self):
        d = tempfile.mkdtemp(prefix="redress-ops-wd-")
        os.chmod(d, 0o755)
        config = harness.make_config(d, harness.CLUSTER, **{"triage.sweep_interval": "1",
                                                            "triage.workers": "1"})
        notify = NotifySocket(d)
        env = dict(os.environ, NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="2000000")
        for k in ("PGUSER", "PGHOST", "PGPORT", "PGDATABASE", "REDRESS_CONFIG"):
            env.pop(k, None)
        triage = harness.Process([os.path.join(harness.BUILD, "redress-triage"), "-c", config],
                                 os.path.join(d, "triage.log"), env=env)
        stopped = []
        try:
            ready = notify.wait_for("READY=1")
            notify.wait_for("WATCHDOG=1", after=ready)
            # A worker that has not begun its loop yet is not stuck: no stall at start-up (the
            # watchdog used to log one whenever its thread ran before the worker's first beat).
            self.assertNotIn("has not run", triage.output())
            # The worker's own backend stops answering: its next sweep blocks in libpq.
            deadline = time.time() + 10
            while not stopped and time.time() < deadline:
                stopped = [pid for (pid,) in harness.CLUSTER.sql(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = 'redress-triage/1'")]
                time.sleep(0.1)
            self.assertTrue(stopped)
            logged = len(triage.output())
            for pid in stopped:
                os.kill(pid, signal.SIGSTOP)
            # Stall limit: the sweep interval (1 s) and half the watchdog interval (1 s). Only what
            # is logged after the stop counts.
            deadline = time.time() + 15
            while "has not run" not in triage.output()[logged:] and time.time() < deadline:
                time.sleep(0.2)
            self.assertIn("watchdog: a worker thread has not run", triage.output()[logged:])
            quiet_from = notify.drain()  # pings sent before the stall was noticed
            # No ping for 1.5 s, three ping intervals (WATCHDOG_USEC / 4): the pings have stopped. A
            # longer wait raced the worker's own libpq timeouts, which end the stall by themselves.
            with self.assertRaises(AssertionError):
                notify.wait_for("WATCHDOG=1", timeout=1.5, after=quiet_from)
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
            stopped = []
            notify.wait_for("WATCHDOG=1", timeout=10, after=len(notify.messages))
            self.assertIsNone(triage.proc.poll())
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
            triage.stop()
            notify.close()
            shutil.rmtree(d, ignore_errors=True)
