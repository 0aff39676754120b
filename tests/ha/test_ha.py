"""High availability of the real programs on a real pg_auto_failover topology (scripts/ha.sh):
a lost synchronous standby, a partition between one intake server and the database, reads from a
standby, and the primary lost under load. The tests run in this order on one topology (run.py
brings it up and down); each leaves a primary and a synchronous standby behind it."""
import contextlib
import json
import os
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
import harness  # noqa: E402
import topology  # noqa: E402
from tcpproxy import TcpProxy  # noqa: E402

TOPO = None  # set by run.py


def report(line):
    print("\n" + line, flush=True)
    with open(os.path.join(TOPO.dir, "results.txt"), "a") as f:
        f.write(line + "\n")


class HaTest(unittest.TestCase):
    def setUp(self):
        self.topo = TOPO
        # Every test starts from a healthy pair: one primary, one synchronous standby.
        p = self.topo.primary()
        self.topo.wait_states({p: "primary", self.other(p): "secondary"}, 90)

    @staticmethod
    def other(node):
        return "node2" if node == "node1" else "node1"

    def assert_all_stored(self, node, load, what):
        acked, lost, dup, extra = topology.check_stored(self.topo, node, load)
        self.assertGreater(acked, 0)
        self.assertEqual(lost, 0, f"{what}: acknowledged grievances missing on {node}")
        self.assertEqual(dup, 0, f"{what}: duplicates on {node}")
        self.assertEqual(extra, 0, f"{what}: stored but never acknowledged on {node}")
        return acked, lost, dup

    # ------------------------------------------------------------------------------------------
    def test_1_standby_lost_primary_degrades(self):
        """The standby dies while the primary serves: commits wait for it until the monitor puts
        the primary in wait_primary (synchronous_standby_names emptied), then go on; when the
        standby is back it catches up and synchronous replication resumes."""
        primary = self.topo.primary()
        standby = self.other(primary)
        load = topology.Load(self.topo, self.topo.intake_ports, "standby-lost", clients=4).start()
        try:
            load.wait_acked(100, 30)
            killed_at = time.time()
            self.topo.ha("kill", standby)
            degraded_at = self.topo.wait_states({primary: "wait_primary"}, 60)
            sync_names = self.topo.sql(primary, "SHOW synchronous_standby_names")[0][0]
            self.assertEqual(sync_names, "", "wait_primary must not wait for the lost standby")
            n = load.count()
            load.wait_acked(n + 100, 30)  # writes go on while degraded
            self.topo.ha("start", standby)
            back_at = self.topo.wait_states({primary: "primary", standby: "secondary"}, 120)
            self.assertNotEqual(self.topo.sql(primary, "SHOW synchronous_standby_names")[0][0], "")
            n = load.count()
            load.wait_acked(n + 50, 30)
        finally:
            load.stop()
        self.assertEqual(load.errors, [])
        # The primary has everything; the standby too once it has replayed the primary's last LSN.
        acked, lost, dup = self.assert_all_stored(primary, load, "standby lost")
        self.topo.wait_replayed(standby, primary)
        self.assert_all_stored(standby, load, "standby lost, after catching up")
        window = load.outage(killed_at)
        oks = [t for t, ok, _ in sorted(load.attempts) if ok and killed_at - 1 <= t <= degraded_at + 5]
        stall = max((b - a for a, b in zip(oks, oks[1:])), default=0.0)
        report(f"standby lost: acknowledged {acked}, lost {lost}, duplicates {dup}, "
               f"degraded to wait_primary {degraded_at - killed_at:.1f}s after the kill "
               f"(longest gap between two 201s {stall:.1f}s; 503s "
               f"{'none' if window is None else 'from %.1fs' % (window[0] - killed_at)}), "
               f"synchronous again {back_at - killed_at:.1f}s after the kill")

    # ------------------------------------------------------------------------------------------
    def test_2_partition_between_one_intake_and_the_database(self):
        """A third intake server reaches both nodes only through cuttable TCP proxies. Cut: its
        submissions answer 503 within the database timeout and /healthz says 503, while the other
        intake servers go on. Replies-only cut: the row commits but the answer is lost, so the
        client gets 503 and its retry with the same key returns the same reference. Healed: it
        reconnects by itself and nothing was stored twice."""
        proxies = {n: TcpProxy(p) for n, p in self.topo.node_ports.items()}
        cfgdir = os.path.join(self.topo.dir, "partition")
        os.makedirs(cfgdir, exist_ok=True)
        conf = harness.read_config(self.topo.conf_a)
        ports = ",".join(str(proxies[n].port) for n in ("node1", "node2"))
        conf["database.conninfo"] = (f"host=127.0.0.1,127.0.0.1 port={ports} dbname=redress "
                                     "target_session_attrs=read-write")
        conf["server.port"] = str(harness.free_port())
        path = os.path.join(cfgdir, "redress.conf")
        with open(path, "w") as f:
            sections = {}
            for k, v in conf.items():
                sec, name = k.split(".", 1)
                sections.setdefault(sec, []).append(f"{name} = {v}")
            for sec, lines in sections.items():
                f.write(f"[{sec}]\n" + "\n".join(lines) + "\n")
        harness.BUILD = self.topo.build
        cut_intake = harness.Intake(path)
        other = self.topo.intake_ports[0]
        body = topology.grievance_body(7)
        try:
            def submit(port, key):
                return self.topo.submit(port, body, key)

            def healthz(port):
                return self.topo.request(port, "GET", "/healthz")[0]

            def until_201(port, key, timeout):
                t0 = time.time()
                while time.time() < t0 + timeout:
                    st, h, data = submit(port, key)
                    if st == 201:
                        return time.time() - t0, h, data
                    self.assertEqual(st, 503, data)
                    time.sleep(0.3)
                self.fail(f"{key}: no 201 within {timeout}s after healing")

            deadline = time.time() + 30
            while healthz(cut_intake.port) != 200:
                self.assertLess(time.time(), deadline, "the proxied intake never connected")
                time.sleep(0.2)
            self.assertEqual(submit(cut_intake.port, "partition-before")[0], 201)

            # Both directions cut.
            for p in proxies.values():
                p.cut("both")
            t0 = time.time()
            st, _, _ = submit(cut_intake.port, "partition-cut")
            answered = time.time() - t0
            self.assertEqual(st, 503)
            self.assertEqual(healthz(cut_intake.port), 503)
            self.assertEqual(submit(other, "partition-other-side")[0], 201)
            for p in proxies.values():
                p.heal()
            recovered, _, _ = until_201(cut_intake.port, "partition-cut", 60)

            # Only the database's answers lost: the COMMIT happens, the client cannot know. Every
            # worker's connection must be up first (each worker has its own; a fresh connection per
            # request lands on a random worker), or the request would wait for a connection that
            # cannot complete and never reach the database.
            ready, deadline = 0, time.time() + 30
            while ready < 20:
                self.assertLess(time.time(), deadline, "the proxied intake did not reconnect")
                ready = ready + 1 if healthz(cut_intake.port) == 200 else 0
            for p in proxies.values():
                p.cut("replies")
            st, _, _ = submit(cut_intake.port, "partition-replies")
            self.assertEqual(st, 503)
            self.assertEqual(self.topo.sql(self.topo.primary(), "SELECT count(*) FROM grievance "
                                           "WHERE idempotency_key = 'partition-replies'")[0][0], 1,
                             "committed although its answer was lost")
            for p in proxies.values():
                p.heal()
            _, headers, data = until_201(cut_intake.port, "partition-replies", 60)
            self.assertEqual(headers.get("idempotent-replayed"), "true",
                             "the commit whose answer was lost is found again, not stored twice")
        finally:
            cut_intake.stop()
            for p in proxies.values():
                p.close()
        primary = self.topo.primary()
        for key in ("partition-before", "partition-cut", "partition-other-side", "partition-replies"):
            n = self.topo.sql(primary, "SELECT count(*) FROM grievance WHERE idempotency_key = %s", (key,))[0][0]
            self.assertEqual(n, 1, key)
        log = cut_intake.output()
        self.assertIn("database connection lost", log)
        report(f"partition: cut intake answered 503 after {answered:.1f}s (database timeout 5s), other intake "
               f"unaffected, accepting again {recovered:.1f}s after healing; a commit whose answer was "
               f"lost was replayed by its retry, stored once")

    # ------------------------------------------------------------------------------------------
    def test_3_reads_from_the_standby(self):
        """With read_conninfo (target_session_attrs=prefer-standby) status look-ups, redressctl
        queue and export read from the standby. Replay paused on the standby makes the staleness
        visible: a stale status, a queue and an export without the newest case; a grievance the
        standby does not have yet is still found (asked of the primary); the export's manifest is
        recorded on the primary. Then the apply lag of 200 submissions is measured."""
        primary, standby = self.topo.primary(), self.topo.standby()
        harness.BUILD = self.topo.build
        reader = harness.Intake(self.topo.conf_read)
        writer = self.topo.intake_ports[0]
        pids = [int(open(os.path.join(self.topo.dir, "pids", n)).read()) for n in ("triage-1", "triage-2")]
        paused = False
        try:
            deadline = time.time() + 30
            while self.topo.sql(standby, "SELECT count(*) FROM pg_stat_activity "
                                "WHERE application_name = 'redress-intake/read'")[0][0] < 2:
                self.assertLess(time.time(), deadline, "the read connections are not on the standby")
                time.sleep(0.2)

            def post(port, body, key):
                st, _, data = self.topo.submit(port, body, key)
                self.assertEqual(st, 201, data)
                return json.loads(data)

            def status(port, g):
                st, _, data = self.topo.request(port, "GET", "/v1/grievances/" + g["reference"],
                                                headers={"Authorization": "Receipt " + g["receipt"]})
                return st, (json.loads(data)["status"] if st == 200 else None)

            def on_standby(ref):
                return self.topo.sql(standby, "SELECT count(*) FROM grievance WHERE reference = %s", (ref,))[0][0]

            def queue(conf):
                out = self.topo.redressctl("queue", "--json", "--limit", "1000000", conf=conf)
                self.assertEqual(out.returncode, 0, out.stderr)
                return {r["reference"] for r in json.loads(out.stdout)}

            def export(conf, name):
                path = os.path.join(self.topo.dir, name)
                today = time.strftime("%Y-%m-%d", time.gmtime())
                out = self.topo.redressctl("export", "cases", "--from", today, "--to", today, "-o", path,
                                           "--json", conf=conf)
                self.assertEqual(out.returncode, 0, out.stderr)
                return json.loads(out.stdout)["rows"]

            # A grievance whose row reaches the standby before triage runs (triage held).
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            body = json.dumps({"description": "The regional network was shut down before the vote.",
                               "category": "network_shutdown", "country": "FR",
                               "complainant_type": "anonymous"}).encode()
            g1 = post(writer, body, "read-stale-status")
            deadline = time.time() + 10
            while not on_standby(g1["reference"]):
                self.assertLess(time.time(), deadline)
                time.sleep(0.05)
            self.topo.sql(standby, "SELECT pg_wal_replay_pause()")
            paused = True
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
            self.topo.wait_triaged(primary, "read-stale-status", 30)
            case_ref = self.topo.sql(primary, "SELECT c.reference FROM grievance g JOIN remedy_case c "
                                     "ON c.id = g.case_id WHERE g.reference = %s", (g1["reference"],))[0][0]
            self.assertEqual(status(writer, g1), (200, "triaged"))
            self.assertEqual(status(reader.port, g1), (200, "received"), "read from the paused standby")
            # Filed after the pause: not on the standby, found on the primary all the same.
            g2 = post(writer, body.replace(b"before", b"after"), "read-not-yet-replayed")
            self.assertEqual(on_standby(g2["reference"]), 0)
            self.assertEqual(status(reader.port, g2)[0], 200)
            wrong = dict(g2, receipt="0" * 26)
            self.assertEqual(status(reader.port, wrong)[0], 404)
            self.assertIn(case_ref, queue(self.topo.conf_a))
            self.assertNotIn(case_ref, queue(self.topo.conf_read))
            manifests = self.topo.sql(primary, "SELECT count(*) FROM export_manifest")[0][0]
            rows_primary, rows_standby = export(self.topo.conf_a, "p.csv"), export(self.topo.conf_read, "s.csv")
            self.assertGreater(rows_primary, rows_standby)
            self.assertEqual(self.topo.sql(primary, "SELECT count(*) FROM export_manifest")[0][0], manifests + 2)

            self.topo.sql(standby, "SELECT pg_wal_replay_resume()")
            paused = False
            deadline = time.time() + 10
            while status(reader.port, g1) != (200, "triaged"):
                self.assertLess(time.time(), deadline)
                time.sleep(0.05)
            self.assertIn(case_ref, queue(self.topo.conf_read))

            # Staleness: from the 201 to the row being visible on the standby.
            lags = []
            with contextlib.closing(self.topo.connect(standby)) as conn, conn.cursor() as cur:
                for i in range(200):
                    g = post(self.topo.intake_ports[i % 2], topology.grievance_body(900000 + i), f"read-lag-{i}")
                    t0 = time.time()
                    while True:
                        cur.execute("SELECT 1 FROM grievance WHERE reference = %s", (g["reference"],))
                        if cur.fetchall():
                            break
                        self.assertLess(time.time(), t0 + 10)
                    lags.append(time.time() - t0)
            lags.sort()
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
            if paused:
                self.topo.sql(standby, "SELECT pg_wal_replay_resume()")
            reader.stop()
        report(f"reads from the standby: visible there {lags[len(lags) // 2] * 1000:.1f} ms after the 201 "
               f"(median of {len(lags)}), {lags[int(len(lags) * 0.99)] * 1000:.1f} ms p99, "
               f"{lags[-1] * 1000:.1f} ms max (synchronous_commit = on waits for the standby's flush, "
               f"not its replay)")

    # ------------------------------------------------------------------------------------------
    def test_7_no_201_before_the_standby_has_it(self):
        """The standby stops confirming WAL while it looks healthy (its walreceiver is SIGSTOPped;
        postgres and its keeper answer): a COMMIT then waits. It must never come back as a 201
        while the primary still runs synchronously, because the monitor may promote that standby
        next (a statement_timeout that cancels the wait makes PostgreSQL report the COMMIT as done
        with only a WARNING). If a 201 does come, the primary is then lost and the standby
        promoted, to show what a client was promised."""
        primary, standby = self.topo.primary(), self.topo.standby()
        wal_receiver = self.topo.sql(standby, "SELECT pid FROM pg_stat_wal_receiver")[0][0]
        port = self.topo.intake_ports[0]
        body = topology.grievance_body(424242)
        os.kill(wal_receiver, signal.SIGSTOP)
        stopped = True
        try:
            t0 = time.time()
            st, _, data = self.topo.submit(port, body, "stalled-standby")
            answered = time.time() - t0
            sync = self.topo.sql(primary, "SHOW synchronous_standby_names")[0][0]
            states = self.topo.states()
            if st == 201 and sync and states[primary] == ("primary", "primary"):
                ref = json.loads(data)["reference"]
                self.topo.ha("kill", primary)
                os.kill(wal_receiver, signal.SIGCONT)
                stopped = False
                try:
                    self.topo.wait_states({standby: "wait_primary"}, 60)
                    kept = self.topo.sql(standby, "SELECT count(*) FROM grievance WHERE reference = %s", (ref,))[0][0]
                finally:
                    self.topo.ha("start", primary)
                report(f"stalled standby: 201 after {answered:.1f}s while synchronous, then the primary lost: "
                       f"the acknowledged grievance {'survived' if kept else 'is LOST'} on the promoted standby")
                self.fail(f"201 after {answered:.1f}s for a commit the synchronous standby never confirmed "
                          f"(the statement timeout cancelled the wait); after failover it is "
                          f"{'still there' if kept else 'gone'}")
            self.assertIn(st, (201, 503), data)
            report(f"stalled standby: answered {st} after {answered:.1f}s "
                   + ("(outcome unknown: retried below)" if st == 503 else "(after the monitor degraded)"))
        finally:
            if stopped:
                os.kill(wal_receiver, signal.SIGCONT)
        # Replication resumes; the retry with the same key gives one row, whichever way it went.
        self.topo.wait_states({primary: "primary", standby: "secondary"}, 120)
        deadline = time.time() + 60
        while True:
            st, _, data = self.topo.submit(port, body, "stalled-standby")
            if st == 201:
                break
            self.assertEqual(st, 503, data)
            self.assertLess(time.time(), deadline)
            time.sleep(0.5)
        self.assertEqual(self.topo.sql(primary, "SELECT count(*) FROM grievance WHERE idempotency_key = "
                                       "'stalled-standby'")[0][0], 1)

    # ------------------------------------------------------------------------------------------
    def test_8_primary_postmaster_killed(self):
        """Only the primary's postmaster is SIGKILLed; its keeper lives and restarts it, while the
        monitor, seeing the node's health checks fail, may already have promoted the standby
        (with the tightened checks of ha.sh it usually has). Either way: one primary, nothing
        acknowledged lost or doubled, the old primary back as a standby, the programs reconnected
        by themselves."""
        primary = self.topo.primary()
        load = topology.Load(self.topo, self.topo.intake_ports, "postmaster", clients=4).start()
        try:
            load.wait_acked(200, 60)
            pid = int(open(os.path.join(self.topo.dir, primary, "postmaster.pid")).readline())
            killed_at = time.time()
            os.kill(pid, signal.SIGKILL)
            n = load.count()
            load.wait_acked(n + 200, 90)
        finally:
            load.stop()
        self.assertEqual(load.errors, [])
        now = self.topo.primary()
        self.topo.wait_states({now: "primary", self.other(now): "secondary"}, 120)
        acked, lost, dup, extra = topology.check_stored(self.topo, now, load)
        window = load.outage(killed_at)
        what = "restarted in place by its keeper" if now == primary else f"{now} promoted, {primary} rejoined as standby"
        report(f"postmaster killed: acknowledged {acked}, lost {lost}, duplicates {dup}, outage window "
               + ("none seen" if window is None or window[1] is None else f"{window[1] - window[0]:.1f}s")
               + f" ({what})")
        self.assertEqual((lost, dup, extra), (0, 0, 0))

    # ------------------------------------------------------------------------------------------
    def test_9_primary_lost_under_load(self):
        """The primary's postmaster and keeper are SIGKILLed while clients file grievances through
        both intake servers: the monitor promotes the standby, intake and triage reconnect by
        themselves, every acknowledged grievance is on the new primary exactly once and triaged
        exactly once, and the audit trail verifies. The old primary then rejoins as standby."""
        old = self.topo.primary()
        new = self.other(old)
        load = topology.Load(self.topo, self.topo.intake_ports, "failover", clients=6).start()
        try:
            load.wait_acked(300, 60)
            killed_at = time.time()
            self.topo.ha("kill", old)
            promoted_at = self.topo.wait_states({new: "wait_primary"}, 90)
            n = load.count()
            load.wait_acked(n + 300, 90)  # both intake servers serve again, on the new primary
        finally:
            load.stop()
        self.assertEqual(load.errors, [])
        window = load.outage(killed_at)
        self.assertIsNotNone(window, "the kill was not noticed by any client")
        self.assertIsNotNone(window[1], "no submission succeeded after the failover")
        self.topo.wait_triaged(new, "failover-%", 120)
        acked, lost, dup, extra = topology.check_stored(self.topo, new, load)
        problems = topology.check_triaged_once(self.topo, new)
        verify = self.topo.redressctl("audit", "verify")
        report(f"failover: acknowledged {acked}, lost {lost}, duplicates {dup}, outage window "
               f"{window[1] - window[0]:.1f}s (first failed to first successful submission; "
               f"{new} promoted {promoted_at - killed_at:.1f}s after the kill; "
               f"{load.replayed} retries answered from the idempotency key)")
        self.assertGreater(acked, 600)
        self.assertEqual(lost, 0)
        self.assertEqual(dup, 0)
        self.assertEqual(extra, 0)
        self.assertEqual(problems, {"cases with a wrong count": [], "triaged without a case": 0,
                                    "grievances scored twice into one case": 0})
        self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)
        # Both intake servers and both triage workers survived the failover on their own.
        for name in ("intake-a", "intake-b", "triage-1", "triage-2"):
            pid = int(open(os.path.join(self.topo.dir, "pids", name)).read())
            os.kill(pid, 0)
        # The old primary comes back as a standby of the new one and holds everything too.
        self.topo.ha("start", old)
        self.topo.wait_states({new: "primary", old: "secondary"}, 120)
        self.topo.wait_replayed(old, new)
        self.assertEqual(topology.check_stored(self.topo, old, load)[1:], (0, 0, 0))


if __name__ == "__main__":
    unittest.main()
