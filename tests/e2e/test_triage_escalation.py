"""End-to-end tests of what redress-triage does beyond grouping: the order of the ranked queue
(case_queue), calibration and immediate danger through the real worker, the deadline sweep
(deadline_missed events, overdue marks, escalation to the mechanism staff's queue, seen by
redressctl, the status function and the exports) and reloading the rules on SIGHUP.

Deadlines are made to pass by moving a case's timestamps back with SQL as postgres; everything
else is the real binaries against the throwaway cluster."""
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.parse

import harness
from test_triage import TriageBase, cluster, ini_version

# (name, band, score, hours since opening, hours from opening to the acknowledgement deadline,
#  immediate danger): the queue must list them in EXPECTED order. priority = band - score/100 -
# ageing (ageing: share of the time to the next deadline gone, at most 1.5); danger first.
QUEUE_CASES = [
    ("A", "P2", 62, 1, 48, False),    # 2 - 0.62 - 0.02 = 1.36
    ("B", "P2", 50, 2, 48, False),    # 2 - 0.50 - 0.04 = 1.46: same band, less severe, below A
    ("C", "P2", 48, 30, 48, False),   # 2 - 0.48 - 0.63 = 0.90: a long wait rises above A
    ("D", "P1", 70, 0, 24, False),    # 1 - 0.70 - 0.00 = 0.30
    ("E", "P3", 40, 70, 72, False),   # 3 - 0.40 - 0.97 = 1.63: near its deadline, still below B
    ("F", "P3", 30, 100, 72, False),  # 3 - 0.30 - 1.50 = 1.20: overdue, above A
    ("G", "P4", 10, 0, 120, False),   # 4 - 0.10 - 0.00 = 3.90
    ("H", "P1", 8, 0, 2, True),       # immediate danger: first whatever its score
    ("I", "P1", 95, 20, 24, False),   # 1 - 0.95 - 0.83 = -0.78: the top of P1, below danger
]
EXPECTED = ["H", "I", "D", "C", "F", "A", "B", "E", "G"]


class TestQueueOrder(TriageBase):
    workers = 1

    def test_queue_orders_by_danger_band_severity_and_ageing(self):
        for name, band, score, age_h, ack_h, danger in QUEUE_CASES:
            cluster().sql(
                "INSERT INTO remedy_case (reference, category, country, band, score, grievance_count, "
                "opened_at, first_received_at, ack_due, response_due, remedy_due, immediate_danger) "
                "SELECT %s, 'other', 'KE', %s, %s, 1, o, o, o + %s * interval '1 hour', "
                "o + %s * interval '2 hour', o + %s * interval '3 hour', %s "
                "FROM (SELECT now() - %s * interval '1 hour' AS o) t",
                ("Q" + name, band, score, ack_h, ack_h, ack_h, danger, age_h))
        rows = cluster().sql("SELECT reference, priority::float, ageing::float, immediate_danger "
                             "FROM case_queue ORDER BY queue_rank")
        order = [r[0][1:] for r in rows]
        self.assertEqual(order, EXPECTED, f"queue (reference, priority, ageing, danger): {rows}")
        by = {r[0][1:]: r for r in rows}
        for name, band, score, age_h, ack_h, danger in QUEUE_CASES:
            ageing = min(1.5, age_h / ack_h)
            want = int(band[1]) - score / 100 - ageing
            self.assertAlmostEqual(by[name][1], want, delta=0.01, msg=f"priority of {name}")
        # The same order through redressctl, as staff.
        out = subprocess.run([os.path.join(harness.BUILD, "redressctl"), "-c", self.config, "queue",
                              "--json"], capture_output=True, text=True, env=self.env, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        q = json.loads(out.stdout)
        self.assertEqual([r["reference"][1:] for r in q], EXPECTED)
        self.assertTrue(q[0]["immediate_danger"])
        self.assertFalse(q[1]["immediate_danger"])


class TestCalibrationThroughTheWorker(TriageBase):
    workers = 1

    def test_exposed_defender_is_p1_and_above_a_p2_shutdown(self):
        # The case: a defender's live location shown to the account threatening her.
        self.insert_one("HRD-1", "identity_exposure", "KE", "the platform showed my live location to the "
                        "account that has been threatening me and two men came to my house last night",
                        ["Beta Social"], ["social network"], people=1, ongoing=True,
                        vulnerability=["human_rights_defender"])
        self.insert_one("SHUT-1", "network_shutdown", "KE", "no mobile data in our town since Monday",
                        ["Example Telco"], ["mobile data"], people=5000, ongoing=True)
        self.triage("--once")
        hrd, shut = self.case_of("HRD-1"), self.case_of("SHUT-1")
        self.assertEqual(hrd["band"], "P1", hrd)
        self.assertEqual(shut["band"], "P2", shut)
        fired = self.decisions(hrd["id"])[-1][4]
        rules = {f["rule"]: f for f in fired}
        self.assertIn("combination:exposed_person_at_risk", rules, fired)
        self.assertIn("life, liberty", rules["combination:exposed_person_at_risk"]["why"])
        self.assertIn("band_floor", rules)
        q = [r[0] for r in cluster().sql("SELECT reference FROM case_queue ORDER BY queue_rank")]
        self.assertEqual(q, [hrd["reference"], shut["reference"]])

    def test_immediate_danger_is_p1_with_hours_deadlines_at_the_head(self):
        self.insert_one("P1-X", "threat_to_life", "KE", "a call to kill me was posted with my address",
                        ["Beta Social"], people=1, ongoing=True, vulnerability=["journalist"])
        cluster().sql(
            "INSERT INTO grievance (reference, channel, country, category, description, receipt_hash, "
            "immediate_danger) VALUES ('DANGER-1', 'api', 'BR', 'content_removal', "
            "'they removed the post where I asked for help, and the men are outside', '\\x00', true)")
        self.triage("--once")
        d = self.case_of("DANGER-1")
        self.assertEqual(d["band"], "P1")
        row = cluster().sql("SELECT immediate_danger, extract(epoch FROM ack_due - opened_at) / 3600, "
                            "extract(epoch FROM response_due - opened_at) / 3600, "
                            "extract(epoch FROM remedy_due - opened_at) / 3600 FROM remedy_case "
                            "WHERE id = %s", (d["id"],))[0]
        spec = [float(x) for x in self.ini("deadlines", "immediate_danger").split(",")]
        self.assertTrue(row[0])
        for got, want in zip(row[1:], spec):
            self.assertAlmostEqual(float(got), want, delta=0.05, msg=f"danger deadlines {row[1:]} vs {spec}")
        fired = {f["rule"] for f in self.decisions(d["id"])[-1][4]}
        self.assertIn("immediate_danger", fired)
        q = [r[0] for r in cluster().sql("SELECT reference FROM case_queue ORDER BY queue_rank")]
        self.assertEqual(q[0], d["reference"], "immediate danger heads the queue, above a P1 threat")
        self.assertIn("immediate danger", self.events(d["id"])[0][1])

    def ini(self, section, key):
        from test_triage import ini_get
        return ini_get(self.rules, section, key)


class TestDeadlineEscalation(TriageBase):
    workers = 2

    def overdue_case(self, ref, company="Example Telco", category="network_shutdown"):
        """Triages one grievance, then moves its case back so the acknowledgement and the first
        response are past due and the remedy proposal is not. Returns the case."""
        self.insert_one(ref, category, "KE", f"no mobile data in the valley since the vote, {ref}",
                        [company], ["mobile data"], people=100, ongoing=True)
        self.triage("--once")
        c = self.case_of(ref)
        cluster().sql("UPDATE remedy_case SET opened_at = now() - interval '80 hours', "
                      "ack_due = now() - interval '56 hours', response_due = now() - interval '8 hours', "
                      "remedy_due = now() + interval '500 hours' WHERE id = %s", (c["id"],))
        return c

    def missed(self, case_id):
        return cluster().sql("SELECT note FROM case_event WHERE case_id = %s AND action = 'deadline_missed' "
                             "ORDER BY seq", (case_id,))

    def ctl(self, *args):
        p = subprocess.run([os.path.join(harness.BUILD, "redressctl"), "-c", self.config, *args],
                           capture_output=True, text=True, env=self.env, timeout=60, cwd=harness.ROOT)
        self.assertEqual(p.returncode, 0, f"redressctl {args}: {p.stderr}")
        return p.stdout

    def test_sweep_records_each_missed_stage_once_marks_and_escalates(self):
        c = self.overdue_case("LATE-1")
        fresh = self.case_of_new("ONTIME-1")
        # Three sweeps in a row and two at once: still one event per stage.
        self.triage("--once")
        self.triage("--once")
        procs = [subprocess.Popen([os.path.join(harness.BUILD, "redress-triage"), "-c", self.config,
                                   "--once"], env=self.env, cwd=harness.ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for _ in range(2)]
        self.assertEqual([p.wait(60) for p in procs], [0, 0])
        notes = [n for (n,) in self.missed(c["id"])]
        self.assertEqual(len(notes), 2, f"one deadline_missed event per stage: {notes}")
        self.assertIn("acknowledge", notes[0])
        self.assertIn("first_response", notes[1])
        self.assertTrue(all("example-telco" in n for n in notes), notes)
        misses = cluster().sql("SELECT stage, lead_member_id FROM case_deadline_miss WHERE case_id = %s "
                               "ORDER BY stage", (c["id"],))
        telco = self.member_id("example-telco")
        self.assertEqual(misses, [("acknowledge", telco), ("first_response", telco)])
        row = cluster().sql("SELECT overdue_since IS NOT NULL, mechanism_queue, escalated_at IS NOT NULL "
                            "FROM remedy_case WHERE id = %s", (c["id"],))[0]
        self.assertEqual(row, (True, True, True), "overdue, in the staff's queue, escalated")
        escalated = cluster().sql("SELECT note FROM case_event WHERE case_id = %s AND action = 'escalated'",
                                  (c["id"],))
        self.assertEqual(len(escalated), 1, escalated)
        self.assertIn("example-telco", escalated[0][0])
        self.assertEqual(self.missed(fresh["id"]), [], "a case within its deadlines is left alone")
        self.assert_case_invariants_but_escalation()

        # Seen in the queue, the status function and the exports.
        q = json.loads(self.ctl("queue", "--overdue", "--json"))
        self.assertEqual([r["reference"] for r in q], [c["reference"]])
        self.assertTrue(q[0]["overdue"] and q[0]["mechanism_queue"] and q[0]["escalated_at"])
        self.assertIn("overdue", self.ctl("queue"))
        status = cluster().sql("SELECT overdue FROM grievance_status('LATE-1')")[0][0]
        self.assertTrue(status)
        self.assertFalse(cluster().sql("SELECT overdue FROM grievance_status('ONTIME-1')")[0][0])
        out = os.path.join(self.dir, "cases.csv")
        self.ctl("export", "cases", "--from", "2000-01-01", "--to", "2100-01-01", "-o", out)
        rows = {r["case_reference"]: r for r in csv.DictReader(open(out, encoding="utf-8"))}
        self.assertEqual((rows[c["reference"]]["overdue"], rows[c["reference"]]["deadlines_missed"],
                          rows[c["reference"]]["escalated"]), ("t", "2", "t"))
        self.assertEqual(rows[fresh["reference"]]["deadlines_missed"], "0")
        stats = os.path.join(self.dir, "stats.csv")
        self.ctl("export", "stats", "--from", "2000-01-01", "--to", "2100-01-01", "-o", stats)
        measures = {(r["measure"], r["key"]): r["value"] for r in csv.DictReader(open(stats, encoding="utf-8"))}
        # example-telco leads both cases: 2 of the 2 stages that fell due were missed (the on-time
        # case has none due yet).
        self.assertEqual(measures.get(("deadline_missed_rate_by_member", "example-telco")), "1.0000", measures)
        self.assertEqual(measures.get(("deadlines_missed_by_member", "example-telco")), "2", measures)

        # Once the team moves the case on and no stage is past due, the mark goes.
        cluster().sql("UPDATE remedy_case SET status = 'assigned' WHERE id = %s", (c["id"],))
        cluster().sql("UPDATE remedy_case SET status = 'investigating' WHERE id = %s", (c["id"],))
        self.triage("--once")
        self.assertFalse(cluster().sql("SELECT overdue_since IS NOT NULL FROM remedy_case WHERE id = %s",
                                       (c["id"],))[0][0])
        self.assertEqual(len(self.missed(c["id"])), 2, "nothing new was missed")

    def case_of_new(self, ref):
        self.insert_one(ref, "account_removal", "KE", f"my account was suspended, {ref}", ["Beta Social"])
        self.triage("--once")
        return self.case_of(ref)

    def assert_case_invariants_but_escalation(self):
        bad = cluster().sql("SELECT reference FROM remedy_case WHERE escalated_at IS NOT NULL AND "
                            "NOT mechanism_queue")
        self.assertEqual(bad, [])

    def test_one_missed_stage_does_not_escalate(self):
        c = self.overdue_case("ONE-1")
        cluster().sql("UPDATE remedy_case SET response_due = now() + interval '10 hours' WHERE id = %s",
                      (c["id"],))
        self.triage("--once")
        self.assertEqual(len(self.missed(c["id"])), 1)
        row = cluster().sql("SELECT overdue_since IS NOT NULL, mechanism_queue, escalated_at FROM remedy_case "
                            "WHERE id = %s", (c["id"],))[0]
        self.assertEqual(row, (True, False, None))

    def test_many_overdue_cases_and_concurrent_workers(self):
        # 300 overdue cases swept by a daemon of two workers and two --once runs at the same time.
        cur = self.cursor()
        self.insert(self.unrelated_select(cur, "M-", 300, seed=7, category="network_shutdown", country="KE",
                                          companies=("Example Telco",)))
        self.triage("--once")
        cluster().sql("UPDATE remedy_case SET opened_at = now() - interval '80 hours', "
                      "ack_due = now() - interval '56 hours', response_due = now() - interval '8 hours', "
                      "remedy_due = now() + interval '500 hours'")
        daemon = self.start()
        runs = [subprocess.Popen([os.path.join(harness.BUILD, "redress-triage"), "-c", self.config, "--once"],
                                 env=self.env, cwd=harness.ROOT, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL) for _ in range(2)]
        self.assertEqual([p.wait(60) for p in runs], [0, 0])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.one("SELECT count(*) FROM case_deadline_miss") == 600:
                break
            time.sleep(0.2)
        time.sleep(1.5)  # at least one more sweep of the daemon
        self.assertEqual(daemon.stop(signal.SIGTERM), 0, daemon.output()[-2000:])
        n = cluster().sql("SELECT count(*), count(DISTINCT (case_id, note)) FROM case_event "
                          "WHERE action = 'deadline_missed'")[0]
        self.assertEqual(n, (600, 600), "exactly one event for each of 300 x 2 missed stages")
        self.assertEqual(self.one("SELECT count(*) FROM case_event WHERE action = 'escalated'"), 300)
        self.assertEqual(self.one("SELECT count(*) FROM remedy_case WHERE overdue_since IS NULL"), 0)
        broken = cluster().sql("SELECT count(*) FROM (SELECT case_id, seq, lag(seq) OVER w AS prev, "
                               "prev_hash, lag(hash) OVER w AS prev_h FROM case_event "
                               "WINDOW w AS (PARTITION BY case_id ORDER BY seq)) t "
                               "WHERE prev IS NOT NULL AND (seq <> prev + 1 OR prev_hash <> prev_h)")[0][0]
        self.assertEqual(broken, 0, "the audit chains stay whole")


class TestRulesReload(TriageBase):
    workers = 2

    def test_sighup_reloads_valid_rules_and_keeps_the_old_on_a_bad_file(self):
        rules = os.path.join(self.dir, "reload.ini")
        shutil.copy(self.rules, rules)
        config = os.path.join(self.dir, "reload.conf")
        with open(self.config) as src, open(config, "w") as dst:
            dst.write(re.sub(r"(?m)^rules = .*$", f"rules = {rules}", src.read()))
        old = ini_version(rules)
        p = self.start(config=config)
        self.insert_one("R-1", "other", "KE", "first, under the rules it started with")
        self.assertIsNotNone(self.wait_triaged("R-1", 10))
        self.assertEqual(self.case_of("R-1")["rules_version"], old)

        # A bad file: refused with its file and line; the old rules stay in use.
        text = open(rules, encoding="utf-8").read()
        lines = text.splitlines()
        i = lines.index("[bands]")
        lines[i + 1] = "P1 = very high"
        with open(rules, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        p.proc.send_signal(signal.SIGHUP)
        self.wait_log(p, "reload refused")
        log = p.output()
        self.assertIn(f"{rules}:{i + 2}:", log, log[-2000:])
        self.assertIn(f"still using version {old}", log)
        self.insert_one("R-2", "other", "UG", "second, after a bad reload")
        self.assertIsNotNone(self.wait_triaged("R-2", 10))
        self.assertEqual(self.case_of("R-2")["rules_version"], old)
        self.assertIsNone(p.proc.poll(), "a bad file must not stop the worker")

        # A good file with a new version: used from the next batch on.
        with open(rules, "w", encoding="utf-8") as f:
            f.write(text.replace(f"version = {old}", "version = reload-test-2"))
        p.proc.send_signal(signal.SIGHUP)
        self.wait_log(p, "version reload-test-2")
        self.insert_one("R-3", "other", "TZ", "third, after a good reload")
        self.assertIsNotNone(self.wait_triaged("R-3", 10))
        self.assertEqual(self.case_of("R-3")["rules_version"], "reload-test-2")
        self.assertEqual(self.decisions(self.case_of("R-3")["id"])[0][5], "reload-test-2")
        self.assertEqual(p.stop(signal.SIGTERM), 0, p.output()[-2000:])

    def wait_log(self, p, text, timeout=10):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if text in p.output():
                return
            time.sleep(0.05)
        self.fail(f"no {text!r} in the log: {p.output()[-2000:]}")

    def wait_triaged(self, ref, timeout):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if cluster().sql("SELECT case_id FROM grievance WHERE reference = %s", (ref,))[0][0]:
                return time.monotonic() - t0
            time.sleep(0.05)
        return None


class TestImmediateDangerThroughIntake(TriageBase):
    """The question reaches triage from the API (and the CSV import): yes -> P1 at the head of the
    queue with the danger deadlines; a bad answer is a 422 naming the field and stores nothing."""
    workers = 1

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.intake = harness.Intake(cls.config)
        cls.intake.wait_healthy()

    @classmethod
    def tearDownClass(cls):
        cls.intake.stop()
        super().tearDownClass()

    def post(self, **fields):
        body = {"description": "the men who threatened me know where I am now", "category": "identity_exposure",
                "country": "KE", "people_affected": 1}
        body.update(fields)
        st, _, data = self.intake.request("POST", "/v1/grievances", json.dumps(body),
                                          {"Content-Type": "application/json"})
        return st, json.loads(data)

    def test_api_yes_no_unanswered_and_refused(self):
        st, yes = self.post(immediate_danger=True)
        self.assertEqual(st, 201, yes)
        st, no = self.post(immediate_danger=False, description="my old address was posted last year",
                           category="content_removal")
        self.assertEqual(st, 201, no)
        st, unanswered = self.post(description="a post of mine was removed", category="content_removal")
        self.assertEqual(st, 201, unanswered)
        before = self.one("SELECT count(*) FROM grievance")
        for bad in ("yes", 1, None, {"x": 1}):
            st, err = self.post(immediate_danger=bad)
            self.assertEqual(st, 422, err)
            self.assertEqual(err["error"]["field"], "immediate_danger", err)
        self.assertEqual(self.one("SELECT count(*) FROM grievance"), before, "a refused body stores nothing")
        stored = dict(cluster().sql("SELECT reference, immediate_danger FROM grievance"))
        self.assertEqual((stored[yes["reference"]], stored[no["reference"]], stored[unanswered["reference"]]),
                         (True, False, None))
        self.triage("--once")
        danger, calm = self.case_of(yes["reference"]), self.case_of(unanswered["reference"])
        self.assertEqual(danger["band"], "P1")
        self.assertEqual(calm["band"], "P4")
        q = [r[0] for r in cluster().sql("SELECT reference FROM case_queue ORDER BY queue_rank")]
        self.assertEqual(q[0], danger["reference"])
        hours = cluster().sql("SELECT extract(epoch FROM ack_due - opened_at) / 3600 FROM remedy_case "
                              "WHERE id = %s", (danger["id"],))[0][0]
        self.assertLessEqual(float(hours), 2.01)

    def post_form(self, **fields):
        body = {"description": "they posted where I live and said they are coming",
                "category": "identity_exposure", "country": "KE", "complainant_type": "self"}
        body.update(fields)
        st, _, page = self.intake.request("POST", "/grievances", urllib.parse.urlencode(body),
                                          {"Content-Type": "application/x-www-form-urlencoded"})
        return st, page.decode("utf-8", "replace")

    def test_form_asks_says_what_happens_and_points_to_emergency_services(self):
        st, _, page = self.intake.request("GET", "/")
        page = page.decode()
        self.assertEqual(st, 200)
        self.assertIn("immediate danger", page)
        self.assertIn('name="immediate_danger" value="yes"', page)
        self.assertIn('name="immediate_danger" value="no"', page)
        self.assertNotIn('value="yes" checked', page.split("immediate_danger-hint")[1].split("</fieldset>")[0],
                         "not answered unless the person answers")
        self.assertIn("top of the queue", page)
        self.assertIn("emergency number", page)
        st, page = self.post_form(immediate_danger="yes")
        self.assertEqual(st, 201, page[:300])
        st, page = self.post_form(immediate_danger="no", category="content_removal")
        self.assertEqual(st, 201, page[:300])
        st, page = self.post_form(category="content_removal", description="a post was removed")
        self.assertEqual(st, 201, page[:300])
        before = self.one("SELECT count(*) FROM grievance")
        st, page = self.post_form(immediate_danger="perhaps")
        self.assertEqual(st, 422, page[:300])
        self.assertIn("immediate_danger", page)
        self.assertIn('value="yes"', page, "the question is asked again")
        self.assertEqual(self.one("SELECT count(*) FROM grievance"), before)
        self.assertEqual(sorted(cluster().sql("SELECT category, immediate_danger FROM grievance "
                                              "WHERE channel = 'form'"), key=str),
                         sorted([("identity_exposure", True), ("content_removal", False),
                                 ("content_removal", None)], key=str))
        self.triage("--once")
        top = cluster().sql("SELECT c.immediate_danger, c.band FROM case_queue q JOIN remedy_case c ON c.id = q.id "
                            "ORDER BY q.queue_rank LIMIT 1")[0]
        self.assertEqual(top, (True, "P1"))

    def test_import_column(self):
        path = os.path.join(self.dir, "import.csv")
        with open(path, "w", encoding="utf-8") as f:
            f.write("description,category,country,immediate_danger\n"
                    "they are coming tonight,threat_to_life,KE,yes\n"
                    "my video was removed,content_removal,BR,no\n")
        p = subprocess.run([os.path.join(harness.BUILD, "redressctl"), "-c", self.config, "import", "grievances",
                            path], capture_output=True, text=True, env=self.env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sorted(cluster().sql("SELECT category, immediate_danger FROM grievance")),
                         [("content_removal", False), ("threat_to_life", True)])
        with open(path, "w", encoding="utf-8") as f:
            f.write("description,category,country,immediate_danger\nx,other,KE,perhaps\n")
        p = subprocess.run([os.path.join(harness.BUILD, "redressctl"), "-c", self.config, "import", "grievances",
                            path], capture_output=True, text=True, env=self.env, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("immediate_danger", p.stderr)
        self.assertEqual(self.one("SELECT count(*) FROM grievance"), 2)
