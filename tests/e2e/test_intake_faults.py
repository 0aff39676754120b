"""Database faults under load, against the real intake and the real cluster: backends stopped
(SIGSTOP/SIGCONT) and terminated mid-flight, the postmaster stopped while the workers reconnect,
and contention (locks held by another session). Every 201 must be a stored row, every failure a
503 with Retry-After that is safe to resend, and the workers must come back every time.

Set E2E_VERBOSE=1 to see each fault episode."""
import json
import os
import random
import re
import signal
import sys
import threading
import time
import urllib.parse

import harness
from test_intake import IntakeBase, cluster, count, grievance

VERBOSE = bool(os.environ.get("E2E_VERBOSE"))


def intake_backends():
    return [r[0] for r in cluster().sql(
        "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'redress-intake%'")]


def postmaster_pid():
    with open(os.path.join(cluster().path, "data", "postmaster.pid")) as f:
        return int(f.readline())


def signal_all(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


class FaultBase(IntakeBase):
    def healthy_within(self, timeout):
        """Seconds until every worker is connected and /healthz answers 200 on fresh connections
        (SO_REUSEPORT spreads them over the workers); fails the test after timeout."""
        t0 = time.monotonic()
        workers = int(self.cfg["server.workers"])
        streak = 0
        while time.monotonic() - t0 < timeout:
            try:
                st = self.req("GET", "/healthz")[0]
            except OSError:
                st = None
            streak = streak + 1 if st == 200 else 0
            if streak >= 4 * workers and len(intake_backends()) >= workers:
                return time.monotonic() - t0
            time.sleep(0.05)
        self.fail(f"/healthz not back to 200 on every worker within {timeout} s")


class TestFaultsUnderLoad(FaultBase):
    """Clients submit without pause while backends are stopped, terminated (also while a completion
    sends the next batch) and the postmaster is stopped. After each episode every worker is back
    within seconds; at the end every 201 is a stored row and every 503 succeeds when resent with
    its Idempotency-Key, once."""
    overrides = {"server.request_timeout": 5, "server.workers": 2, "database.timeout": 2,
                 "database.batch_window_us": 2000}
    CLIENTS = 6
    EPISODES = 12
    RECOVERY_LIMIT_S = 8  # back-off tops out at 5 s, plus a connect

    def test_faults_under_load(self):
        self.healthy_within(15)
        if VERBOSE:
            print("intake log:", self.intake.log_path, file=sys.stderr)
        before = count()
        stop = threading.Event()
        results, lock = [], threading.Lock()
        errors = []

        def client(i):
            conn = None
            j = 0
            while not stop.is_set():
                key = f"fault-{i}-{j}-" + os.urandom(4).hex()
                body = json.dumps(grievance(description=f"fault test {i} {j}", contact=None))
                j += 1
                try:
                    conn = conn or self.intake.connection(timeout=15)
                    conn.request("POST", "/v1/grievances", body=body,
                                 headers={"Content-Type": "application/json", "Idempotency-Key": key})
                    resp = conn.getresponse()
                    data = resp.read()
                    hdrs = {k.lower(): v for k, v in resp.getheaders()}
                    r = (resp.status, hdrs, data)
                    if hdrs.get("connection", "").lower() == "close":
                        conn.close()
                        conn = None
                except OSError as e:  # a dropped connection is an answer too: the outcome is unknown
                    r = (None, {}, repr(e).encode())
                    if conn:
                        conn.close()
                    conn = None
                with lock:
                    results.append((key, body, r))
                if r[0] != 201:
                    time.sleep(0.25)  # a real client waits for Retry-After; keep the pressure up
            if conn:
                conn.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(self.CLIENTS)]
        for t in threads:
            t.start()
        rng = random.Random(int.from_bytes(os.urandom(4), "big"))
        kinds = ["stall_intake_terminate", "terminate_active", "stop_backends", "terminate",
                 "stop_postmaster", "stall_intake_terminate", "stop_postmaster_terminate",
                 "terminate_burst"]
        recoveries = []
        killer = cluster().connect()  # opened before any postmaster stop: it keeps working
        try:
            for ep in range(self.EPISODES):
                kind = kinds[ep % len(kinds)]
                time.sleep(rng.uniform(0.3, 1.0))  # let traffic flow first
                pm = postmaster_pid()
                stopped = []
                try:
                    if kind == "terminate":
                        with killer.cursor() as cur:
                            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                        "WHERE application_name LIKE 'redress-intake%'")
                    elif kind == "terminate_burst":
                        # Many kills in a row, at random points of the flights in progress.
                        for _ in range(12):
                            with killer.cursor() as cur:
                                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                            "WHERE application_name LIKE 'redress-intake%'")
                            time.sleep(rng.uniform(0.01, 0.12))
                    elif kind == "terminate_active":
                        # Kill backends exactly while they work on a flight: some die between
                        # answering one batch and reading the next, which the worker sends from
                        # the completion callback of the first.
                        deadline = time.monotonic() + 2.5
                        while time.monotonic() < deadline:
                            with killer.cursor() as cur:
                                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                            "WHERE application_name LIKE 'redress-intake%' "
                                            "AND state <> 'idle'")
                    elif kind == "stall_intake_terminate":
                        # The worker is busy (stopped) while its backends finish a flight and are
                        # terminated: it then reads a flight's end and the connection's end at
                        # once, and the next batch goes out from that flight's completion.
                        for _ in range(3):
                            stopped = [self.intake.proc.pid]
                            os.kill(self.intake.proc.pid, signal.SIGSTOP)
                            time.sleep(0.3)
                            with killer.cursor() as cur:
                                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                            "WHERE application_name LIKE 'redress-intake%'")
                            time.sleep(0.2)
                            os.kill(self.intake.proc.pid, signal.SIGCONT)
                            time.sleep(rng.uniform(0.5, 1.0))
                    elif kind == "stop_backends":
                        stopped = intake_backends()
                        signal_all(stopped, signal.SIGSTOP)
                        time.sleep(rng.uniform(0.5, 3.5))  # below and above database.timeout
                    else:
                        stopped = [pm]
                        os.kill(pm, signal.SIGSTOP)
                        if kind == "stop_postmaster_terminate":
                            # The workers must reconnect while the postmaster does not answer.
                            with killer.cursor() as cur:
                                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                            "WHERE application_name LIKE 'redress-intake%'")
                        time.sleep(rng.uniform(1.0, 3.0))
                finally:
                    signal_all(stopped, signal.SIGCONT)
                took = self.healthy_within(self.RECOVERY_LIMIT_S + 10)
                recoveries.append((kind, took))
                if VERBOSE:
                    print(f"episode {ep} {kind}: healthy after {took:.2f} s", file=sys.stderr)
        finally:
            signal_all([postmaster_pid()], signal.SIGCONT)
            killer.close()
            stop.set()
            for t in threads:
                t.join(60)
        self.assertFalse(any(t.is_alive() for t in threads), "a client hung")
        worst = max(took for _, took in recoveries)
        self.assertLess(worst, self.RECOVERY_LIMIT_S, recoveries)

        acked = [(k, b, r) for k, b, r in results if r[0] == 201]
        unavailable = [(k, b, r) for k, b, r in results if r[0] == 503]
        dropped = [(k, b, r) for k, b, r in results if r[0] is None]
        others = [r[0] for k, b, r in results if r[0] not in (201, 503, None)]
        self.assertEqual(others, [], "only 201, 503 or a dropped connection")
        self.assertGreater(len(acked), 50, "too little traffic got through to test anything")
        self.assertGreater(len(unavailable) + len(dropped), 0, "the faults never hit a request")
        for _, _, (st, hdrs, data) in unavailable:
            self.assertIn("retry-after", hdrs)
            self.assertEqual(json.loads(data)["error"]["code"], "unavailable")

        # Every 201 is a stored row: count the references.
        refs = {k: json.loads(r[2])["reference"] for k, _, r in acked}
        stored = cluster().sql("SELECT count(*) FROM grievance WHERE reference = ANY(%s)",
                               (list(refs.values()),))[0][0]
        by_key = dict(cluster().sql("SELECT idempotency_key, reference FROM grievance "
                                    "WHERE idempotency_key = ANY(%s)", (list(refs),)))
        self.assertEqual(stored, len(acked), "acknowledged but not stored")
        self.assertEqual(by_key, refs)

        # Every 503 or dropped request, sent again with its key, is stored exactly once.
        resend = unavailable + dropped
        conn = self.intake.connection(timeout=15)
        resent = {}
        for key, body, _ in resend:
            st, _, parsed, raw = self.post_json(None, {"Idempotency-Key": key}, raw=body, conn=conn)
            self.assertEqual(st, 201, raw)
            resent[key] = parsed["reference"]
        conn.close()
        rows = cluster().sql("SELECT idempotency_key, count(*), min(reference) FROM grievance "
                             "WHERE idempotency_key = ANY(%s) GROUP BY 1", (list(resent),))
        self.assertEqual({k: (n, ref) for k, n, ref in rows}, {k: (1, ref) for k, ref in resent.items()})
        resent_ok = len(resent)
        self.assertEqual(count(), before + len(results))
        print(f"\nfault test: {len(results)} submissions, {len(acked)} acknowledged (201), "
              f"{stored} of them stored, {len(unavailable)} answered 503, {len(dropped)} dropped "
              f"connections; {resent_ok} resent with their key and stored once; "
              f"{len(recoveries)} fault episodes, slowest recovery {worst:.2f} s", file=sys.stderr)
        log = self.intake.output()
        self.assertIn("database connected", log)
        self.check_log(log, [])


FORM_FIELDS = {"description": "contention form test", "category": "other", "country": "FR",
               "complainant_type": "anonymous"}


def insert_uncommitted(conn, key):
    """Inserts a grievance with this idempotency key in conn's open transaction."""
    with conn.cursor() as cur:
        cur.execute("INSERT INTO grievance (reference, channel, country, category, description, "
                    "receipt_hash, idempotency_key) VALUES (%s, 'api', 'FR', 'other', 'held by a test', "
                    "'\\x00', %s)", ("HELD" + os.urandom(4).hex().upper(), key))


class TestContention(FaultBase):
    """Another session holds what the intake needs: a 503 with Retry-After well before the
    database timeout, nothing stored, and a resend (same key, same form token) stores it once."""
    # lock_timeout = timeout / 4 = 2.5 s, past the server's deadlock_timeout (1 s): a deadlock is
    # found before the lock wait gives up.
    overrides = {"server.request_timeout": 5, "server.workers": 1, "database.timeout": 10,
                 "database.batch_window_us": 200000}

    def setUp(self):
        self.healthy_within(15)
        self.holder = cluster().connect()
        self.holder.autocommit = False

    def tearDown(self):
        self.holder.rollback()
        self.holder.close()

    def keyed_rows(self, key):
        return cluster().sql("SELECT reference FROM grievance WHERE idempotency_key = %s", (key,))

    def test_table_locked_503_nothing_stored(self):
        key = "locked-" + os.urandom(6).hex()
        with self.holder.cursor() as cur:
            cur.execute("LOCK TABLE grievance IN EXCLUSIVE MODE")
        t0 = time.monotonic()
        st, hdrs, body, raw = self.post_json(grievance(), {"Idempotency-Key": key})
        took = time.monotonic() - t0
        self.assert_error(st, body, "unavailable", 503)
        self.assertIn("retry-after", hdrs)
        self.assertIn("not have been stored", body["error"]["message"])
        self.assertLess(took, 6, "answered by the lock timeout, not the 10 s watchdog")
        self.assertEqual(self.keyed_rows(key), [])
        self.holder.rollback()
        self.assertEqual(self.keyed_rows(key), [])  # rolled back, not left to commit later
        st, _, body, raw = self.post_json(grievance(), {"Idempotency-Key": key})
        self.assertEqual(st, 201, raw)
        self.assertEqual(self.keyed_rows(key), [(body["reference"],)])
        self.assertIn("SQLSTATE 55P03", self.intake.output())

    def test_key_held_form_503_then_resend_once(self):
        st, _, page = self.req("GET", "/")
        self.assertEqual(st, 200)
        token = re.search(r'<input type="hidden" name="token" value="([0-9a-f]{32})">', page.decode())
        self.assertIsNotNone(token, "the form carries a one-time token")
        token = token.group(1)
        st, _, again = self.req("GET", "/")
        self.assertNotIn(token, again.decode(), "a token per rendered form")
        fields = dict(FORM_FIELDS, token=token)
        key = "form:" + token
        insert_uncommitted(self.holder, key)  # another transaction is storing this very key
        t0 = time.monotonic()
        st, hdrs, page = self.post_form(fields)
        took = time.monotonic() - t0
        self.assertEqual(st, 503, page[:500])
        self.assertIn("retry-after", hdrs)
        self.assertIn("may or may not have been", page)
        self.assertIn("Sending the form again", page)
        self.assertIn("will not create a second grievance", page)
        self.assertIn(f'name="token" value="{token}"', page)  # the page to resend keeps its token
        self.assertIn("contention form test", page)
        self.assertLess(took, 6)
        self.holder.rollback()
        self.assertEqual(self.keyed_rows(key), [])
        st, _, page = self.post_form(fields)
        self.assertEqual(st, 201, page[:500])
        ref = re.findall(r'<p class="secret">([^<]+)</p>', page)[0]
        # The same page sent again (a double click, or after a 503 that was in fact stored).
        st, _, page2 = self.post_form(dict(fields, description="contention form test, edited"))
        self.assertEqual(st, 201, page2[:500])
        self.assertEqual(re.findall(r'<p class="secret">([^<]+)</p>', page2)[0], ref)
        self.assertIn("already been received", page2)
        self.assertEqual(self.keyed_rows(key), [(ref,)])
        self.assertEqual(cluster().sql("SELECT description FROM grievance WHERE reference = %s", (ref,)),
                         [("contention form test",)])
        # A token that is not one of ours is refused, nothing stored.
        before = count()
        st, _, page = self.post_form(dict(FORM_FIELDS, token="not-a-token"))
        self.assertEqual(st, 400)
        self.assertEqual(count(), before)

    def test_deadlock_503_nothing_stored(self):
        tag = os.urandom(4).hex()
        k1, k2 = f"dl-{tag}-a", f"dl-{tag}-b"
        insert_uncommitted(self.holder, k2)
        results = {}

        def submit(key):
            results[key] = self.post_json(grievance(description=f"deadlock {key}"), {"Idempotency-Key": key})

        # One batch with k1 and k2: the intake stores k1, then waits for the holder's k2 ...
        threads = [threading.Thread(target=submit, args=(k,)) for k in (k2, k1)]
        for t in threads:
            t.start()
        time.sleep(0.6)
        # ... and the holder now wants k1: a cycle, which the intake's backend finds first.
        holder_done = threading.Event()

        def holder_insert():
            try:
                insert_uncommitted(self.holder, k1)
            except Exception:  # noqa: BLE001 - only the intake's side is under test
                pass
            holder_done.set()

        h = threading.Thread(target=holder_insert)
        h.start()
        for t in threads:
            t.join(15)
        h.join(15)
        self.assertTrue(holder_done.is_set())
        for key in (k1, k2):
            st, hdrs, body, raw = results[key]
            self.assert_error(st, body, "unavailable", 503)
            self.assertIn("retry-after", hdrs)
        self.holder.rollback()
        self.assertIn("SQLSTATE 40P01", self.intake.output())
        for key in (k1, k2):
            self.assertEqual(self.keyed_rows(key), [])
            st, _, body, raw = self.post_json(grievance(description=f"deadlock {key}"), {"Idempotency-Key": key})
            self.assertEqual(st, 201, raw)
            self.assertEqual(self.keyed_rows(key), [(body["reference"],)])

    def test_batch_rows_in_key_order(self):
        """Rows of one batch are inserted sorted by idempotency key, whatever their arrival, so
        two batches wait on each other's keys in one order."""
        tag = os.urandom(4).hex()
        keys = [f"ord-{tag}-{c}" for c in "dbca"]
        conns = [self.intake.connection() for _ in keys]
        for c in conns:
            c.connect()  # TLS handshakes first: the requests then land in one batch window
        body = json.dumps(grievance(contact=None))
        for c, key in zip(conns, keys):
            c.request("POST", "/v1/grievances", body=body,
                      headers={"Content-Type": "application/json", "Idempotency-Key": key})
            time.sleep(0.02)
        for c in conns:
            r = c.getresponse()
            self.assertEqual(r.status, 201, r.read())
            r.read()
            c.close()
        stored = [k for (k,) in cluster().sql(
            "SELECT idempotency_key FROM grievance WHERE idempotency_key LIKE %s ORDER BY id", (f"ord-{tag}-%",))]
        self.assertEqual(stored, sorted(keys))


class TestBatchStatements(FaultBase):
    """A batch is BEGIN, the rows, COMMIT: no ROLLBACK after each (whose 'no transaction in
    progress' WARNING filled the server log), one after a failed transaction only; and NOTIFY at
    most every 10 ms per worker, with the notification that a burst still owes sent after it."""
    overrides = {"server.request_timeout": 5, "server.workers": 1, "database.timeout": 10}

    def server_log(self):
        with open(os.path.join(cluster().path, "server.log"), errors="replace") as f:
            return f.read()

    def notifications(self, conn, wait):
        """The grievance_new notifications conn receives within wait seconds."""
        import select
        got, deadline = 0, time.monotonic() + wait
        while time.monotonic() < deadline:
            if select.select([conn], [], [], max(0.0, deadline - time.monotonic()))[0]:
                conn.poll()
                got += len(conn.notifies)
                conn.notifies.clear()
        return got

    def burst(self, n):
        conns = [self.intake.connection() for _ in range(n)]
        for c in conns:
            c.connect()
        body = json.dumps(grievance(contact=None))
        for c in conns:
            c.request("POST", "/v1/grievances", body=body, headers={"Content-Type": "application/json"})
        for c in conns:
            r = c.getresponse()
            self.assertEqual(r.status, 201, r.read())
            r.read()
            c.close()

    def test_no_rollback_per_batch_and_every_burst_announced(self):
        self.healthy_within(15)
        log_before = len(self.server_log())
        listener = cluster().connect()
        with listener.cursor() as cur:
            cur.execute("LISTEN grievance_new")
        for _ in range(3):
            self.notifications(listener, 0.3)  # whatever earlier tests owed
            before = count()
            self.burst(40)
            self.assertEqual(count(), before + 40)
            self.assertGreaterEqual(self.notifications(listener, 1.0), 1,
                                    "no notification after the burst's last commit")
        # A failed transaction (the table locked past lock_timeout) is rolled back by the adapter,
        # and the worker's next batch stores.
        holder = cluster().connect()
        holder.autocommit = False
        try:
            with holder.cursor() as cur:
                cur.execute("LOCK TABLE grievance IN EXCLUSIVE MODE")
            st, _, body, raw = self.post_json(grievance())
            self.assert_error(st, body, "unavailable", 503)
        finally:
            holder.rollback()
            holder.close()
        st, _, body, raw = self.post_json(grievance())
        self.assertEqual(st, 201, raw)
        listener.close()
        self.assertNotIn("there is no transaction in progress", self.server_log()[log_before:])
