"""End-to-end tests of redress-triage: the real binary against the throwaway cluster.

Grievances are inserted with SQL as postgres (fast); the worker claims, scores, groups, assigns
owners and writes cases as redress_triage. "Exactly once" is proved, not inferred: a statement-level
trigger added for this module (and dropped after it) logs, for every committed UPDATE of a
grievance's case_id/triaged_at, the grievance id and the transaction id, so a grievance triaged
twice (two committed transactions) or never shows up directly. A rolled-back batch (a worker
killed mid-batch) logs nothing, as it should.

Runs in well under 4 minutes on 2 cores: about 220,000 grievances are triaged in all."""
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import harness

MEMBERS_SQL = """
INSERT INTO member (slug, name, sector, countries, services, team_role) VALUES
  ('example-telco', 'Example Telco', 'telco', '{KE,UG}', '{mobile data,voice}', 'team_example_telco'),
  ('beta-social', 'Beta Social', 'platform', '{}', '{social network,messaging}', 'team_beta_social'),
  ('acme-isp', 'Acme ISP', 'isp', '{KE}', '{broadband}', 'team_acme_isp'),
  ('far-telco', 'Far Telco', 'telco', '{BR}', '{mobile data}', 'team_far_telco'),
  ('gamma-video', 'Gamma Video', 'platform', '{IN,BR}', '{video}', 'team_gamma_video')
"""

# Descriptions of one event differ only in a number; different events read differently.
EVENTS = {
    "ke_shutdown": ("network_shutdown", "KE", ["Example Telco"], ["mobile data"],
                    "no mobile data in Kisumu since the election night, report {n}"),
    "br_video": ("content_removal", "BR", ["Gamma Video"], ["video"],
                 "my video about the police raid in the favela was taken down without notice, clip {n}"),
    "ke_accounts": ("account_removal", "KE", ["Beta Social"], ["social network"],
                    "Beta Social suspended my account the day after I posted about the teachers strike, user {n}"),
    "ug_shutdown": ("network_shutdown", "UG", ["Example Telco"], ["mobile data", "voice"],
                    "all calls and mobile internet cut in Gulu during the opposition rally, subscriber {n}"),
}

SYLLABLES = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "vo", "de", "pa", "go", "hu", "zi", "be", "fa",
             "jo", "we", "xu", "ye", "qo"]
WORDS = sorted({a + b + c for a in SYLLABLES for b in SYLLABLES[::3] for c in SYLLABLES[::4]})[:200]
assert len(WORDS) == 200

COLUMNS = ("reference, channel, country, category, description, companies, services, people_affected, "
           "ongoing, vulnerability, receipt_hash, received_at")
COMPONENTS = {"scale", "scope", "irremediable", "vulnerability", "urgency"}
CATEGORIES = ["threat_to_life", "identity_exposure", "surveillance", "online_violence", "hate_speech",
              "data_breach", "blocking_throttling", "algorithmic_discrimination", "content_removal",
              "other"]
COUNTRIES = ["KE", "UG", "TZ", "PK", "BR", "IN", "NG", "PH"]


def cluster():
    return harness.CLUSTER


def triage_bin():
    return os.path.join(harness.BUILD, "redress-triage")


def random_texts(n, seed):
    rnd = random.Random(seed)
    return [" ".join(rnd.choice(WORDS) for _ in range(30)) for _ in range(n)]


def read_ini(path):
    """[(index, section, key, value)] of a rules file's key lines (inih syntax)."""
    out, sec = [], ""
    for i, line in enumerate(open(path, encoding="utf-8").read().splitlines()):
        s = line.strip()
        if not s or s[0] in ";#":
            continue
        if s.startswith("["):
            sec = s[1:s.index("]")].strip()
            continue
        if "=" in s:
            k, v = s.split("=", 1)
            v = re.split(r"\s;", v)[0]
            out.append((i, sec, k.strip(), v.strip()))
    return out


def ini_get(path, section, key, default=None):
    for _, sec, k, v in read_ini(path):
        if sec == section and k == key:
            return v
    return default


def ini_version(path, section=False):
    """The rules' version (or, with section, the section its line is in)."""
    for _, sec, k, v in read_ini(path):
        if k == "version" and sec in ("", "rules"):
            return sec if section else v
    return None


def ini_rewrite(path, out_path, changes):
    """Copies a rules file, replacing the values of (section, key) in changes (a dict)."""
    lines = open(path, encoding="utf-8").read().splitlines()
    done = set()
    for i, sec, k, _ in read_ini(path):
        if (sec, k) in changes:
            lines[i] = f"{k} = {changes[(sec, k)]}"
            done.add((sec, k))
    missing = set(changes) - done
    assert not missing, f"{path} has no {missing}"
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return out_path


class TriageBase(unittest.TestCase):
    workers = 4

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="redress-triage-test-")
        cls.config = harness.make_config(cls.dir, cluster(), **{
            "triage.workers": str(cls.workers), "triage.batch_size": "1000", "triage.sweep_interval": "1"})
        cls.rules = harness.read_config(cls.config)["triage.rules"]
        cls.env = os.environ.copy()
        for k in ("PGUSER", "PGHOST", "PGPORT", "PGDATABASE", "REDRESS_CONFIG"):
            cls.env.pop(k, None)
        # The exactly-once log (see the module docstring). SECURITY DEFINER: the worker's role may
        # not write the log table itself.
        cluster().sql("""
            CREATE TABLE IF NOT EXISTS test_triage_log (grievance_id bigint NOT NULL, tx bigint NOT NULL);
            CREATE OR REPLACE FUNCTION test_triage_log() RETURNS trigger LANGUAGE plpgsql
            SECURITY DEFINER SET search_path = public AS $$
            BEGIN
                INSERT INTO test_triage_log
                SELECT n.id, txid_current() FROM n JOIN o ON o.id = n.id
                WHERE n.triaged_at IS DISTINCT FROM o.triaged_at OR n.case_id IS DISTINCT FROM o.case_id;
                RETURN NULL;
            END $$;
            DROP TRIGGER IF EXISTS test_triage_log ON grievance;
            CREATE TRIGGER test_triage_log AFTER UPDATE ON grievance
                REFERENCING OLD TABLE AS o NEW TABLE AS n
                FOR EACH STATEMENT EXECUTE FUNCTION test_triage_log();""")

    @classmethod
    def tearDownClass(cls):
        cluster().sql("DROP TRIGGER IF EXISTS test_triage_log ON grievance; "
                      "DROP FUNCTION IF EXISTS test_triage_log(); DROP TABLE IF EXISTS test_triage_log")
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.assertTrue(os.access(triage_bin(), os.X_OK), f"{triage_bin()} is missing: make build/redress-triage")
        self.procs = []
        cluster().reset()
        cluster().sql("TRUNCATE test_triage_log")
        cluster().sql(MEMBERS_SQL)

    def tearDown(self):
        for p in self.procs:
            if p.proc.poll() is None:
                p.stop(signal.SIGKILL)
        self.wait_no_worker_sessions()

    # running the program ------------------------------------------------------------------------
    def triage(self, *args, config=None, expect=0, timeout=150):
        """Runs redress-triage to completion; returns (rc, stdout + stderr)."""
        argv = [triage_bin(), "-c", config or self.config, *args]
        t0 = time.monotonic()
        p = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=timeout,
                           cwd=harness.ROOT)
        out = p.stdout + p.stderr
        if expect is not None:
            self.assertEqual(p.returncode, expect, f"{' '.join(argv)}: rc {p.returncode} after "
                             f"{time.monotonic() - t0:.1f} s\n{out[-3000:]}")
        return p.returncode, out

    def start(self, *args, config=None, name="triage"):
        p = harness.Process([triage_bin(), "-c", config or self.config, *args],
                            os.path.join(self.dir, f"{name}.{len(self.procs)}.log"), env=self.env)
        self.procs.append(p)
        return p

    def wait_no_worker_sessions(self, timeout=30):
        """Waits until no backend of redress_triage is left (a killed worker's sessions end when the
        server notices the closed socket); returns the seconds waited."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            n = cluster().sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'redress_triage'")[0][0]
            if n == 0:
                return time.monotonic() - t0
            time.sleep(0.1)
        self.fail(f"redress_triage sessions still open after {timeout} s")

    # loading grievances ---------------------------------------------------------------------------
    def event_select(self, cur, prefix, n, event, people=1000, ongoing=True, vulnerability=(),
                     age="0 s", first=1):
        category, country, companies, services, text = EVENTS[event] if isinstance(event, str) else event
        pre, post = text.split("{n}")
        return cur.mogrify(
            "SELECT %s || g, 'api', %s, %s, %s || g || %s, %s::text[], %s::text[], %s, %s, %s::text[], "
            "'\\x00'::bytea, now() - %s::interval FROM generate_series(%s, %s) g",
            (prefix, country, category, pre, post, list(companies), list(services), people, ongoing,
             list(vulnerability), age, first, first + n - 1)).decode()

    def unrelated_select(self, cur, prefix, n, seed, category=None, country=None, companies=()):
        rnd = random.Random(seed)
        cats = [category or rnd.choice(CATEGORIES) for _ in range(n)]
        ctys = [country or rnd.choice(COUNTRIES) for _ in range(n)]
        return cur.mogrify(
            "SELECT %s || i, 'api', c, cat, d, %s::text[], '{}'::text[], 1 + (i %% 7)::int, false, "
            "'{}'::text[], '\\x00'::bytea, now() "
            "FROM unnest(%s::text[], %s::text[], %s::text[]) WITH ORDINALITY AS u(d, cat, c, i)",
            (prefix, list(companies), random_texts(n, seed), cats, ctys)).decode()

    def insert(self, *selects, shuffle=False):
        """Inserts the union of the selects (interleaved in a fixed random order when shuffle), in
        the order received: 10 ms apart, the last at the time its select gave."""
        body = " UNION ALL ".join(f"({s})" for s in selects)
        order = "md5(x.reference)" if shuffle else "x.received_at, x.reference"
        cols = COLUMNS.replace("received_at", "x.received_at - (count(*) OVER () - row_number() OVER (ORDER BY "
                               f"{order})) * interval '10 ms'")
        with contextlib.closing(cluster().connect()) as conn, conn.cursor() as cur:
            cur.execute(f"INSERT INTO grievance ({COLUMNS}) SELECT {cols} FROM ({body}) x({COLUMNS}) "
                        f"ORDER BY {order}")
        cluster().sql("ANALYZE grievance")

    def cursor(self):
        conn = cluster().connect()
        self.addCleanup(conn.close)
        return conn.cursor()

    def insert_one(self, ref, category, country, description, companies=(), services=(), people=1,
                   ongoing=False, vulnerability=()):
        cluster().sql(
            "INSERT INTO grievance (reference, channel, country, category, description, companies, services, "
            "people_affected, ongoing, vulnerability, receipt_hash) VALUES (%s, 'api', %s, %s, %s, %s::text[], "
            "%s::text[], %s, %s, %s::text[], '\\x00')",
            (ref, country, category, description, list(companies), list(services), people, ongoing,
             list(vulnerability)))

    # reading results ------------------------------------------------------------------------------
    def one(self, query, params=None):
        return cluster().sql(query, params)[0][0]

    def case_of(self, ref):
        rows = cluster().sql(
            "SELECT c.id, c.reference, c.status::text, c.band, c.score::float, c.grievance_count, c.collective, "
            "c.lead_member_id, c.mechanism_queue, c.referral_flag, c.rules_version, c.cluster_key "
            "FROM grievance g JOIN remedy_case c ON c.id = g.case_id WHERE g.reference = %s", (ref,))
        self.assertEqual(len(rows), 1, f"grievance {ref} has no case")
        keys = ("id", "reference", "status", "band", "score", "grievance_count", "collective",
                "lead_member_id", "mechanism_queue", "referral_flag", "rules_version", "cluster_key")
        return dict(zip(keys, rows[0]))

    def owners(self, case_id):
        return {slug: (role, inv) for slug, role, inv in cluster().sql(
            "SELECT m.slug, o.role, o.involvement FROM case_owner o JOIN member m ON m.id = o.member_id "
            "WHERE o.case_id = %s", (case_id,))}

    def member_id(self, slug):
        return self.one("SELECT id FROM member WHERE slug = %s", (slug,))

    def decisions(self, case_id):
        return cluster().sql(
            "SELECT id, score::float, band, components, rules_fired, rules_version, grievance_id "
            "FROM triage_decision WHERE case_id = %s ORDER BY decided_at, id", (case_id,))

    def events(self, case_id):
        return cluster().sql("SELECT action, note, actor, to_status::text FROM case_event "
                             "WHERE case_id = %s ORDER BY seq", (case_id,))

    def assert_exactly_once(self, total):
        """Every grievance is triaged by exactly one committed transaction and the cases agree."""
        g = cluster().sql("SELECT count(*), count(case_id), count(triaged_at), "
                          "count(*) FILTER (WHERE (case_id IS NULL) <> (triaged_at IS NULL)) FROM grievance")[0]
        self.assertEqual(g[0], total, "grievances in the table")
        self.assertEqual((g[1], g[2]), (total, total),
                         f"grievances without case_id / triaged_at: {total - g[1]} / {total - g[2]}")
        self.assertEqual(g[3], 0, "grievances with only one of case_id, triaged_at set")
        log = cluster().sql("SELECT count(DISTINCT grievance_id), "
                            "(SELECT count(*) FROM (SELECT grievance_id FROM test_triage_log GROUP BY 1 "
                            " HAVING count(DISTINCT tx) > 1) t) FROM test_triage_log")[0]
        self.assertEqual(log[1], 0, f"{log[1]} grievances were triaged by more than one committed transaction")
        self.assertEqual(log[0], total, "grievances triaged by a committed transaction")
        s = cluster().sql("SELECT count(*), coalesce(sum(grievance_count), 0) FROM remedy_case")[0]
        self.assertEqual(s[1], total, f"sum of remedy_case.grievance_count over {s[0]} cases")
        bad = cluster().sql(
            "SELECT c.reference, c.grievance_count, coalesce(g.n, 0) FROM remedy_case c "
            "LEFT JOIN (SELECT case_id, count(*) n FROM grievance GROUP BY 1) g ON g.case_id = c.id "
            "WHERE c.grievance_count IS DISTINCT FROM coalesce(g.n, 0) LIMIT 5")
        self.assertEqual(bad, [], "cases whose grievance_count differs from their grievances (ref, stored, real)")
        with self.subTest("case invariants"):
            self.assert_case_invariants()
        return s[0]

    def assert_case_invariants(self):
        q = {
            "collective must equal grievance_count > 1":
                "SELECT reference FROM remedy_case WHERE collective <> (grievance_count > 1)",
            "status triaged, score 0..100, band and rules_version set":
                "SELECT reference FROM remedy_case WHERE status <> 'triaged' OR score IS NULL OR score < 0 "
                "OR score > 100 OR band IS NULL OR rules_version IS NULL",
            "deadlines: opened_at < ack_due < response_due < remedy_due":
                "SELECT reference FROM remedy_case WHERE NOT (opened_at < ack_due AND ack_due < response_due "
                "AND response_due < remedy_due)",
            "grievances must share the category and country of their case":
                "SELECT c.reference FROM grievance g JOIN remedy_case c ON c.id = g.case_id "
                "WHERE g.category <> c.category OR g.country <> c.country",
            "a case needs a triage_decision":
                "SELECT c.reference FROM remedy_case c WHERE NOT EXISTS "
                "(SELECT 1 FROM triage_decision d WHERE d.case_id = c.id)",
            "a case needs an audit trail (its opening event; the action names: test_audit_trail_actions)":
                "SELECT c.reference FROM remedy_case c WHERE NOT EXISTS "
                "(SELECT 1 FROM case_event e WHERE e.case_id = c.id)",
            "the case's latest decision must carry its score, band and version":
                "SELECT c.reference FROM remedy_case c JOIN LATERAL (SELECT * FROM triage_decision d "
                "WHERE d.case_id = c.id ORDER BY d.decided_at DESC, d.id DESC LIMIT 1) d ON true "
                "WHERE d.score <> c.score OR d.band <> c.band OR d.rules_version <> c.rules_version",
            "mechanism_queue exactly when there is no owner, and then no lead and a referral flag":
                "SELECT c.reference FROM remedy_case c WHERE c.mechanism_queue = EXISTS "
                "(SELECT 1 FROM case_owner o WHERE o.case_id = c.id) OR (c.mechanism_queue AND "
                "(c.lead_member_id IS NOT NULL OR NOT c.referral_flag))",
            "an owned case has exactly one lead, and it is lead_member_id":
                "SELECT c.reference FROM remedy_case c WHERE NOT c.mechanism_queue AND "
                "(SELECT array_agg(o.member_id) FROM case_owner o WHERE o.case_id = c.id AND o.role = 'lead') "
                "IS DISTINCT FROM ARRAY[c.lead_member_id]",
        }
        broken = []
        for why, sql in q.items():
            rows = cluster().sql(sql + " LIMIT 5")
            if rows:
                broken.append(f"{why}: e.g. {[r[0] for r in rows]}")
        self.assertEqual(broken, [], "case invariants broken:\n  " + "\n  ".join(broken))

    def event_cases(self, prefix):
        return cluster().sql("SELECT case_id, count(*) FROM grievance WHERE reference LIKE %s "
                             "GROUP BY 1 ORDER BY 2 DESC", (prefix + "%",))


class TestTriageAtScale(TriageBase):
    def test_four_workers_over_100k_triage_each_exactly_once(self):
        cur = self.cursor()
        sizes = {"ke_shutdown": 40000, "br_video": 25000, "ke_accounts": 15000, "ug_shutdown": 12000}
        selects = [self.event_select(cur, f"E{i}-", n, ev) for i, (ev, n) in enumerate(sizes.items())]
        unrelated = 100000 - sum(sizes.values())
        selects.append(self.unrelated_select(cur, "U-", unrelated, seed=100))
        self.insert(*selects, shuffle=True)
        t0 = time.monotonic()
        _, out = self.triage("--once")
        secs = time.monotonic() - t0
        print(f"\n    100,000 grievances, 4 workers: {secs:.1f} s ({100000 / secs:,.0f}/s), "
              f"{self.one('SELECT count(*) FROM remedy_case')} cases", flush=True)
        self.assert_exactly_once(100000)
        for i, ev in enumerate(sizes):
            with self.subTest(event=ev):
                cases = self.event_cases(f"E{i}-")
                self.assertEqual(len(cases), 1, f"event {ev} ({sizes[ev]} grievances) split over "
                                 f"{len(cases)} cases: sizes {[n for _, n in cases][:10]}")
        with self.subTest("unrelated grievances stay apart"):
            n = self.one("SELECT count(DISTINCT case_id) FROM grievance WHERE reference LIKE 'U-%%'")
            shared = self.one("SELECT count(*) FROM grievance g JOIN remedy_case c ON c.id = g.case_id "
                              "WHERE g.reference LIKE 'U-%%' AND c.grievance_count > 1")
            self.assertEqual((n, shared), (unrelated, 0), "unrelated grievances: distinct cases, "
                             "grievances sharing a case")

    def test_worker_killed_mid_batch_loses_nothing(self):
        cur = self.cursor()
        total = 60000
        self.insert(self.event_select(cur, "K0-", 25000, "ke_shutdown"),
                    self.event_select(cur, "K1-", 20000, "br_video"),
                    self.unrelated_select(cur, "KU-", total - 45000, seed=200), shuffle=True)
        p = self.start()  # the config says 4 workers
        t0 = time.monotonic()
        in_batch = 0
        while time.monotonic() - t0 < 20:
            if p.proc.poll() is not None:
                self.fail(f"redress-triage exited with {p.proc.returncode}: {p.output()[-2000:]}")
            if time.monotonic() - t0 >= 1.0 and self.one("SELECT count(*) FROM test_triage_log") > 0:
                # Kill while at least one worker is inside a batch's transaction.
                in_batch = self.one("SELECT count(*) FROM pg_stat_activity WHERE usename = 'redress_triage' "
                                    "AND xact_start IS NOT NULL")
                if in_batch:
                    break
            time.sleep(0.02)
        p.proc.kill()  # SIGKILL
        self.assertGreater(in_batch, 0, "no worker was inside a batch when killed")
        p.proc.wait()
        waited = self.wait_no_worker_sessions()  # a COMMIT in flight at the kill may still land
        done = self.one("SELECT count(*) FROM grievance WHERE triaged_at IS NOT NULL")
        self.assertGreater(done, 0, "no batch committed before the kill")
        self.assertLess(done, total, "the whole backlog was done before the kill: make it larger")
        # What the killed worker committed is whole: every triaged grievance in a case that counts it.
        s = cluster().sql("SELECT coalesce(sum(grievance_count), 0) FROM remedy_case")[0][0]
        self.assertEqual(s, done, "after the kill: sum of grievance_count vs grievances triaged")
        self.assertEqual(self.one("SELECT count(*) FROM grievance WHERE (case_id IS NULL) <> (triaged_at IS NULL)"), 0)
        self.triage("--once")
        self.assert_exactly_once(total)
        print(f"\n    killed with {in_batch} worker(s) in a batch, {done} of {total} triaged "
              f"(sessions gone after {waited:.1f} s)", flush=True)
        for prefix in ("K0-", "K1-"):
            with self.subTest(event=prefix):
                cases = self.event_cases(prefix)
                self.assertEqual(len(cases), 1, f"event {prefix} split over {len(cases)} cases after the "
                                 f"restart: sizes {[n for _, n in cases][:10]}")

    def test_50k_grievances_of_one_event_become_one_case(self):
        cur = self.cursor()
        self.insert(self.event_select(cur, "S-", 50000, "ke_shutdown"))
        # The same kind of harm, same owner, but a different story: a case of its own.
        self.insert_one("SOLO", "network_shutdown", "KE", "the tower near our school has been switched off "
                        "and the children cannot reach the online exams", ["Example Telco"], ["mobile data"],
                        people=1000, ongoing=True)
        self.triage("--once")
        self.assert_exactly_once(50001)
        cases = self.event_cases("S-")
        self.assertEqual(len(cases), 1, f"50,000 grievances of one event in {len(cases)} cases: "
                         f"sizes {[n for _, n in cases][:10]}")
        big = self.case_of("S-1")
        solo = self.case_of("SOLO")
        self.assertNotEqual(big["id"], solo["id"])
        self.assertEqual(big["grievance_count"], 50000)
        self.assertTrue(big["collective"])
        self.assertFalse(solo["collective"])
        self.assertEqual(self.owners(big["id"]), {"example-telco": ("lead", "caused")})
        # Scope, and so severity, grows with the size of the collective case.
        d_big, d_solo = self.decisions(big["id"])[-1], self.decisions(solo["id"])[0]
        self.assertGreater(d_big[3]["scope"], d_solo[3]["scope"], "scope of 50,000 vs 1 grievance")
        self.assertGreaterEqual(big["score"], solo["score"])
        actions = [e[0] for e in self.events(big["id"])]
        self.assertEqual(actions[0], "created", f"the collective case's trail: {actions[:5]}")
        self.assertIn("grievances_joined", actions, f"the collective case's trail: {sorted(set(actions))}")


class TestTriageGrievanceUpdatePlan(TriageBase):
    """Plans that statistics cannot spoil, for a month analysed while nothing was untriaged. The
    claim must merge the months' ordered index scans up to its limit (it read and sorted every
    untriaged row instead: 120 ms per claim with 100,000 waiting); the grievance UPDATE that links
    each claimed row to its case must not depend on a join plan (joined to an unnest() of the
    batch, it became a nested loop with the unnest inner: 260-400 ms per 1,000 rows instead of
    ~22 ms). The worker's own plans are read back with auto_explain."""
    workers = 1

    def set_triage_role(self, settings):
        for name, value in settings.items():
            if value is None:
                cluster().sql(f"ALTER ROLE redress_triage RESET {name}")
            else:
                cluster().sql(f"ALTER ROLE redress_triage SET {name} = %s", (value,))

    def test_stale_statistics_leave_no_sort_in_the_claim_and_no_join_in_the_update(self):
        cur = self.cursor()
        self.insert(self.unrelated_select(cur, "OLD-", 200, seed=5))
        self.triage("--once")
        cluster().sql("ANALYZE grievance")  # the month as statistics now see it: nothing untriaged
        # 3,000 more, not analysed: the statistics still say no row is untriaged.
        cluster().sql(f"INSERT INTO grievance ({COLUMNS}) "
                      f"{self.event_select(cur, 'NEW-', 2000, 'ke_shutdown')} UNION ALL "
                      f"{self.unrelated_select(cur, 'ONE-', 1000, seed=6)}")
        log = os.path.join(cluster().path, "server.log")
        start = os.path.getsize(log)
        explain = {"session_preload_libraries": "auto_explain", "auto_explain.log_min_duration": "0"}
        self.set_triage_role(explain)
        try:
            self.triage("--once")
        finally:
            self.set_triage_role(dict.fromkeys(explain))
        self.assert_exactly_once(3200)
        with open(log, encoding="utf-8", errors="replace") as f:
            f.seek(start)
            entries = re.split(r"\n(?=\S)", f.read())
        claims = [e for e in entries if "Query Text: SELECT id, extract(epoch FROM received_at)" in e]
        updates = [e for e in entries if "Query Text: UPDATE grievance g SET case_id" in e]
        self.assertGreaterEqual(len(claims), 4, "the worker's claims in the server log")
        self.assertGreaterEqual(len(updates), 3, "the worker's grievance UPDATEs in the server log")
        with self.subTest("claim"):
            for plan in claims:
                self.assertIn("Merge Append", plan, plan[:3000])
                self.assertNotRegex(plan, r"Sort  \(cost", plan[:3000])
        with self.subTest("update"):
            for plan in updates:
                self.assertNotRegex(plan, r"Nested Loop|Hash Join|Merge Join", plan[:3000])


class TestTriageGrouping(TriageBase):
    def test_100_unrelated_grievances_become_100_cases(self):
        cur = self.cursor()
        # Same category, country and (no) owners: only the descriptions tell them apart.
        self.insert(self.unrelated_select(cur, "R-", 100, seed=300, category="online_violence", country="KE"))
        self.triage("--once")
        self.assert_exactly_once(100)
        self.assertEqual(self.one("SELECT count(*) FROM remedy_case"), 100)
        self.assertEqual(self.one("SELECT count(*) FROM remedy_case WHERE grievance_count = 1 AND NOT collective"), 100)

    def test_different_descriptions_categories_or_countries_split(self):
        cur = self.cursor()
        other_story = ("network_shutdown", "KE", ["Example Telco"], ["mobile data"],
                       "the broadband connection in Mombasa is throttled every evening during the protests, ticket {n}")
        other_category = ("blocking_throttling",) + EVENTS["ke_shutdown"][1:]
        other_country = ("network_shutdown", "UG") + EVENTS["ke_shutdown"][2:]
        self.insert(self.event_select(cur, "A-", 30, "ke_shutdown"),
                    self.event_select(cur, "B-", 30, other_story),
                    self.event_select(cur, "C-", 30, other_category),
                    self.event_select(cur, "D-", 30, other_country), shuffle=True)
        self.triage("--once")
        self.assert_exactly_once(120)
        ids = []
        for prefix in "ABCD":
            cases = self.event_cases(prefix + "-")
            self.assertEqual([n for _, n in cases], [30], f"group {prefix}: case sizes")
            ids.append(cases[0][0])
        self.assertEqual(len(set(ids)), 4, "the four groups must be four cases")

    def test_grievances_outside_the_window_open_a_new_case(self):
        hours = float(ini_get(self.rules, "cluster", "window_hours", "168"))
        cur = self.cursor()
        self.insert(self.event_select(cur, "OLD-", 10, "ke_shutdown", age=f"{int(hours * 2 + 48)} hours"),
                    self.event_select(cur, "NEW-", 10, "ke_shutdown", first=11))
        self.triage("--once")
        self.assert_exactly_once(20)
        old, new = self.event_cases("OLD-"), self.event_cases("NEW-")
        self.assertEqual(([n for _, n in old], [n for _, n in new]), ([10], [10]))
        self.assertNotEqual(old[0][0], new[0][0], f"grievances {hours * 2 + 48} h apart (window {hours} h) joined")

    def test_a_later_run_joins_the_open_case(self):
        cur = self.cursor()
        self.insert(self.event_select(cur, "J-", 500, "ke_shutdown"))
        self.triage("--once")
        case = self.case_of("J-1")
        self.insert(self.event_select(cur, "J-", 700, "ke_shutdown", first=501))
        self.triage("--once")
        self.assert_exactly_once(1200)
        self.assertEqual(self.event_cases("J-"), [(case["id"], 1200)])
        self.assertEqual(self.case_of("J-1")["grievance_count"], 1200)

    def test_audit_trail_actions(self):
        """The interface: 'created' opens a case (with the owner decision and its reason in note),
        'grievances_joined' records grievances joining an existing case; the chain verifies."""
        cur = self.cursor()
        self.insert(self.event_select(cur, "T-", 30, "ke_shutdown"))
        self.triage("--once")
        case = self.case_of("T-1")
        self.insert(self.event_select(cur, "T-", 20, "ke_shutdown", first=31))
        self.triage("--once")
        self.assert_exactly_once(50)
        evs = self.events(case["id"])
        actions = [e[0] for e in evs]
        self.assertEqual(actions.count("created"), 1, f"trail {actions}")
        self.assertEqual(actions[0], "created", f"trail {actions}")
        self.assertIn("example-telco", evs[0][1] or "", "the 'created' note names the owner decision")
        self.assertIn("grievances_joined", actions, f"trail {actions}")
        broken = cluster().sql(
            "SELECT e.seq FROM case_event e LEFT JOIN case_event p ON p.case_id = e.case_id AND p.seq = e.seq - 1 "
            "WHERE e.case_id = %s AND (e.hash <> case_event_hash(e.prev_hash, e.case_id, e.seq, e.at, e.actor, "
            "e.action, e.from_status, e.to_status, e.note) OR e.prev_hash IS DISTINCT FROM p.hash)", (case["id"],))
        self.assertEqual(broken, [], "audit chain")


class TestTriageOwnership(TriageBase):
    workers = 1

    def test_platform_and_telco_named_in_one_country(self):
        # account_removal: the platform caused it and leads; the telco, named too, contributed.
        self.insert_one("OWN-1", "account_removal", "KE", "my account was removed after I posted the "
                        "strike schedule", ["BETA SOCIAL", "example-telco"], ["social network"])
        # network_shutdown naming both: the telco leads.
        self.insert_one("OWN-2", "network_shutdown", "KE", "the whole county lost mobile data and the "
                        "platform went dark", ["Beta Social", "Example Telco"], ["mobile data"],
                        people=50000, ongoing=True)
        self.triage("--once")
        self.assert_exactly_once(2)
        c1, c2 = self.case_of("OWN-1"), self.case_of("OWN-2")
        self.assertEqual(self.owners(c1["id"]), {"beta-social": ("lead", "caused"),
                                                 "example-telco": ("co-owner", "contributed")})
        self.assertEqual(c1["lead_member_id"], self.member_id("beta-social"))
        self.assertEqual(self.owners(c2["id"]), {"example-telco": ("lead", "caused"),
                                                 "beta-social": ("co-owner", "contributed")})
        self.assertEqual(c2["lead_member_id"], self.member_id("example-telco"))
        for c, lead in ((c1, "beta-social"), (c2, "example-telco")):
            self.assertFalse(c["mechanism_queue"])
            evs = self.events(c["id"])
            self.assertEqual(evs[0][2], "redress_triage", "events are written by the worker's role")
            note = (evs[0][1] or "").lower()
            self.assertTrue(lead in note or ("Beta Social" if lead == "beta-social" else "Example Telco").lower()
                            in note, f"the 'created' note must name the lead: {evs[0][1]!r}")
        by = cluster().sql("SELECT DISTINCT assigned_by FROM case_owner")
        self.assertEqual(by, [("redress_triage",)])

    def test_sector_order_and_linked_members(self):
        order = [s.strip() for s in (ini_get(self.rules, "lead_sector", "network_shutdown") or "").split(",")]
        # Both caused (telco and ISP lead shutdowns); the rules' sector order picks the lead. Acme ISP
        # also offers the named service "broadband" in KE, but it is named, so it is not just linked.
        self.insert_one("SEC-1", "network_shutdown", "KE", "both the fibre and the mobile network went "
                        "down across Nairobi", ["Acme ISP", "Example Telco"], ["broadband"], people=200000,
                        ongoing=True)
        # Not named but offering a named service in the country: linked, informed. Beta Social has
        # no countries (it operates everywhere) and offers messaging.
        self.insert_one("LNK-1", "blocking_throttling", "KE", "news sites are blocked on my home "
                        "connection and on my phone", ["Example Telco"], ["broadband", "mobile data", "messaging"])
        self.triage("--once")
        self.assert_exactly_once(2)
        c = self.case_of("SEC-1")
        owners = self.owners(c["id"])
        self.assertEqual({k: v[1] for k, v in owners.items()}, {"acme-isp": "caused", "example-telco": "caused"})
        if "telco" in order and "isp" in order:
            lead = "example-telco" if order.index("telco") < order.index("isp") else "acme-isp"
            self.assertEqual(owners[lead][0], "lead", f"rules order {order}: {owners}")
            self.assertEqual(c["lead_member_id"], self.member_id(lead))
        c = self.case_of("LNK-1")
        owners = self.owners(c["id"])
        self.assertEqual(owners.get("acme-isp"), ("informed", "linked"), owners)
        self.assertEqual(owners.get("beta-social"), ("informed", "linked"),
                         f"a member with empty countries operates everywhere: {owners}")
        self.assertEqual(owners.get("example-telco", ("?",))[0], "lead", owners)
        self.assertNotIn("far-telco", owners)  # offers mobile data, but in BR only

    def test_no_matching_member_goes_to_the_mechanism_queue(self):
        # Categories without a [lead_sector] row, so no sector fallback applies.
        self.insert_one("MQ-1", "other", "PK", "a page of Unknown Corp names my family and calls "
                        "for attacks on us", ["Unknown Corp"], ["forum"], people=6, ongoing=True)
        # Named, but it does not operate in KE: no owner either.
        self.insert_one("MQ-2", "data_breach", "KE", "my phone location history was published "
                        "online", ["Far Telco"], ["location"])
        self.triage("--once")
        self.assert_exactly_once(2)
        for ref in ("MQ-1", "MQ-2"):
            c = self.case_of(ref)
            self.assertTrue(c["mechanism_queue"], ref)
            self.assertTrue(c["referral_flag"], ref)
            self.assertIsNone(c["lead_member_id"], ref)
            self.assertEqual(self.owners(c["id"]), {}, ref)
            evs = self.events(c["id"])
            note = (evs[0][1] or "").lower()
            self.assertTrue(re.search(r"no (member|owner|company)|mechanism|referr|unmatched|not match", note),
                            f"{ref}: the 'created' note must say why the case has no owner: {evs[0][1]!r}")


class TestTriageScoring(TriageBase):
    workers = 1

    def file_p1_and_low(self):
        self.insert_one("P1-1", "threat_to_life", "KE", "I am a human rights defender and my home address "
                        "was posted with a call to kill me", ["Beta Social"], ["social network"],
                        people=1, ongoing=True, vulnerability=["human_rights_defender"])
        self.insert_one("LOW-1", "content_removal", "BR", "a meme I posted was removed as spam",
                        ["Gamma Video"], ["video"], people=1, ongoing=False)

    def test_bands_and_explanations(self):
        self.file_p1_and_low()
        self.triage("--once")
        self.assert_exactly_once(2)
        hi, lo = self.case_of("P1-1"), self.case_of("LOW-1")
        self.assertEqual(hi["band"], "P1", hi)
        self.assertIn(lo["band"], ("P3", "P4"), lo)
        self.assertGreater(hi["score"], lo["score"])
        version = ini_version(self.rules)
        for c in (hi, lo):
            self.assertEqual(c["rules_version"], version)
            d = self.decisions(c["id"])
            self.assertEqual(len(d), 1)
            _, score, band, comps, fired, v, _ = d[0]
            self.assertEqual((score, band, v), (c["score"], c["band"], version))
            self.assertLessEqual(COMPONENTS, set(comps), f"components {comps}")
            self.assertIsInstance(fired, list)
            self.assertTrue(fired, "no rules fired")
            for f in fired:
                self.assertLessEqual({"rule", "points", "why"}, set(f), f)
                self.assertIsInstance(f["points"], (int, float), f)
                self.assertTrue(f["why"], f)
        comps = self.decisions(hi["id"])[0][3]
        fired = json.dumps(self.decisions(hi["id"])[0][4]).lower().replace("_", " ")
        for factor in ("threat to life", "human rights defender", "ongoing"):
            self.assertIn(factor, fired, f"P1 explanation must name {factor!r}: {fired}")
        self.assertGreater(comps["vulnerability"], 0)
        self.assertGreater(comps["urgency"], 0)
        lo_comps = self.decisions(lo["id"])[0][3]
        self.assertGreater(comps["scale"], lo_comps["scale"])
        self.assertEqual(lo_comps["vulnerability"], 0)
        self.assertEqual(lo_comps["urgency"], 0)
        lo_fired = json.dumps(self.decisions(lo["id"])[0][4]).lower().replace("_", " ")
        self.assertIn("content removal", lo_fired, "the explanation must name the category")

    def test_deadlines_follow_the_band(self):
        self.file_p1_and_low()
        self.insert_one("P1-2", "threat_to_life", "UG", "a journalist colleague was told her location "
                        "will be given to the militia tonight", ["Example Telco"], ["mobile data"],
                        people=1, ongoing=True, vulnerability=["journalist"])
        self.triage("--once")
        self.assert_exactly_once(3)
        rows = {ref: cluster().sql(
            "SELECT c.band, extract(epoch FROM c.ack_due - c.opened_at), "
            "extract(epoch FROM c.response_due - c.opened_at), extract(epoch FROM c.remedy_due - c.opened_at) "
            "FROM grievance g JOIN remedy_case c ON c.id = g.case_id WHERE g.reference = %s", (ref,))[0]
            for ref in ("P1-1", "P1-2", "LOW-1")}
        for ref, (band, *offs) in rows.items():
            self.assertTrue(0 < offs[0] < offs[1] < offs[2], f"{ref} {band}: offsets {offs}")
            spec = ini_get(self.rules, "deadlines", band)
            if spec:
                hours = [float(x) * 3600 for x in spec.split(",")]
                for got, want in zip(offs, hours):
                    self.assertAlmostEqual(float(got), want, delta=120,
                                           msg=f"{ref} {band}: deadlines {offs} s vs rules {spec} h")
        self.assertEqual(rows["P1-1"][0], rows["P1-2"][0])
        for a, b in zip(rows["P1-1"][1:], rows["P1-2"][1:]):
            self.assertAlmostEqual(float(a), float(b), delta=5, msg="one band, one set of deadlines")
        self.assertTrue(all(a <= b for a, b in zip(rows["P1-1"][1:], rows["LOW-1"][1:])),
                        f"P1 deadlines must not be later than {rows['LOW-1'][0]}'s: {rows}")

    def test_case_queue_orders_by_band(self):
        self.file_p1_and_low()
        self.insert_one("P1-3", "child_sexual_exploitation", "KE", "images of my daughter are being "
                        "shared in a group", ["Beta Social"], ["messaging"], ongoing=True,
                        vulnerability=["child"])
        self.triage("--once")
        self.assert_exactly_once(3)
        q = cluster().sql("SELECT id, reference, status::text, band, score, grievance_count, lead_member_id, "
                          "opened_at, next_due, queue_rank FROM case_queue ORDER BY queue_rank")
        self.assertEqual(len(q), 3)
        bands = [r[3] for r in q]
        self.assertEqual(bands, sorted(bands), f"queue order by band: {bands}")
        self.assertIn(q[-1][1], [self.case_of("LOW-1")["reference"]])
        # A case no longer open leaves the queue.
        cluster().sql("UPDATE remedy_case SET status = 'rejected' WHERE id = %s", (self.case_of("LOW-1")["id"],))
        self.assertEqual(self.one("SELECT count(*) FROM case_queue"), 2)

    def test_rescore_writes_new_decisions_with_the_new_version(self):
        self.file_p1_and_low()
        self.insert_one("CL-1", "other", "IN", "an app kept charging me after I cancelled", ["Gamma Video"],
                        ["video"])
        self.triage("--once")
        self.assert_exactly_once(3)
        old_version = ini_version(self.rules)
        self.assertTrue(old_version, "the rules file names no version")
        closed = self.case_of("CL-1")
        cluster().sql("UPDATE remedy_case SET status = 'rejected' WHERE id = %s", (closed["id"],))
        before = cluster().sql("SELECT id, case_id, score::float, band, rules_version FROM triage_decision ORDER BY id")
        lo_before = self.case_of("LOW-1")
        self.assertNotEqual(lo_before["band"], "P1")

        new_rules = ini_rewrite(self.rules, os.path.join(self.dir, "rules-v2.ini"), {
            (ini_version(self.rules, section=True), "version"): "test-rescore-2", ("bands", "P1"): "3", ("bands", "P2"): "2", ("bands", "P3"): "1"})
        config2 = os.path.join(self.dir, "rescore.conf")
        with open(self.config) as src, open(config2, "w") as dst:
            dst.write(re.sub(r"(?m)^rules = .*$", f"rules = {new_rules}", src.read()))
        self.triage("--rescore", config=config2)

        after = cluster().sql("SELECT id, case_id, score::float, band, rules_version FROM triage_decision ORDER BY id")
        self.assertEqual(after[:len(before)], before, "existing decisions must not change")
        new = after[len(before):]
        open_ids = {r[0] for r in cluster().sql(
            "SELECT id FROM remedy_case WHERE status NOT IN ('closed', 'rejected', 'referred')")}
        self.assertEqual(sorted(r[1] for r in new), sorted(open_ids), "one new decision per open case")
        self.assertTrue(all(r[4] == "test-rescore-2" for r in new), new)
        self.assertNotIn(closed["id"], {r[1] for r in new}, "a rejected case must not be re-scored")
        lo = self.case_of("LOW-1")
        self.assertEqual((lo["band"], lo["rules_version"]), ("P1", "test-rescore-2"),
                         "with P1 from score 3 every open case is P1")
        self.assertEqual(self.case_of("CL-1")["rules_version"], old_version)
        self.assertEqual(self.one("SELECT count(*) FROM triage_decision WHERE rules_version = %s",
                                  (old_version,)), len(before))
        # Re-scoring touches no grievance.
        self.assertEqual(self.one("SELECT count(*) FROM test_triage_log"), 3)


class TestTriageProgram(TriageBase):
    workers = 2

    def bad_rules(self, name, mutate):
        lines = open(self.rules, encoding="utf-8").read().splitlines()
        lineno = mutate(lines)
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        config = os.path.join(self.dir, name + ".conf")
        with open(self.config) as src, open(config, "w") as dst:
            dst.write(re.sub(r"(?m)^rules = .*$", f"rules = {path}", src.read()))
        return path, config, lineno

    def test_bad_rules_file_names_file_and_line(self):
        self.insert_one("BAD-1", "other", "KE", "untouched while the rules are bad")

        def no_equals(lines):
            i = next(i for i, l in enumerate(lines) if l.strip() == "[weights]")
            lines.insert(i + 1, "this line has no equals sign")
            return i + 2

        def bad_number(lines):
            sec = ""
            for i, l in enumerate(lines):
                s = l.strip()
                if s.startswith("["):
                    sec = s.strip("[]").strip()
                elif sec == "bands" and s.startswith("P2"):
                    lines[i] = "P2 = lots"
                    return i + 1
            raise AssertionError("no P2 in [bands]")

        def unknown_category(lines):
            i = next(i for i, l in enumerate(lines) if l.strip() == "[gravity]")
            lines.insert(i + 1, "no_such_harm = 5")
            return i + 2

        for name, mutate in (("syntax.ini", no_equals), ("number.ini", bad_number),
                             ("category.ini", unknown_category)):
            with self.subTest(name):
                path, config, lineno = self.bad_rules(name, mutate)
                for args in (("--once",), ("--rescore",)):
                    rc, out = self.triage(*args, config=config, expect=None, timeout=30)
                    self.assertNotEqual(rc, 0, f"{args} with {name}: {out}")
                    self.assertTrue(f"{path}:{lineno}" in out or (path in out and f"line {lineno}" in out),
                                    f"{args}: the message must name {path} line {lineno}: {out!r}")
        self.assertIsNone(self.case_of_or_none("BAD-1"))
        self.triage("--once")
        self.assertIsNotNone(self.case_of_or_none("BAD-1"))

    def case_of_or_none(self, ref):
        return cluster().sql("SELECT case_id FROM grievance WHERE reference = %s", (ref,))[0][0]

    def test_help(self):
        rc, out = self.triage("--help", expect=0, timeout=10)
        for opt in ("--once", "--rescore", "--workers"):
            self.assertIn(opt, out)
        rc, out = self.triage("--no-such-option", expect=None, timeout=10)
        self.assertNotEqual(rc, 0)

    def wait_triaged(self, ref, timeout):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.case_of_or_none(ref):
                return time.monotonic() - t0
            time.sleep(0.05)
        return None

    def test_runs_until_sigterm_woken_by_notify_and_by_the_sweep(self):
        # Sweep every hour: only the notification can wake it within seconds.
        slow = harness.make_config(os.path.join(self.dir, "slow"), cluster(), **{
            "triage.workers": "2", "triage.batch_size": "100", "triage.sweep_interval": "3600"})
        self.insert_one("BACKLOG-1", "other", "KE", "waiting before the worker starts")
        p = self.start(config=slow)
        self.assertIsNotNone(self.wait_triaged("BACKLOG-1", 10), "the backlog at start-up was not triaged")
        time.sleep(0.5)
        row = {"n": 1, "reference": "NOTIFY-1", "channel": "api", "country": "KE", "category": "other",
               "description": "filed through intake_submit, which notifies", "people_affected": 1,
               "receipt_hash": "00" * 32}
        cluster().sql("SELECT * FROM intake_submit(%s::jsonb)", (json.dumps([row]),))
        secs = self.wait_triaged("NOTIFY-1", 5)
        self.assertIsNotNone(secs, "not woken by NOTIFY grievance_new within 5 s")
        self.assertIsNone(p.proc.poll())
        self.assertEqual(p.stop(signal.SIGTERM), 0, p.output()[-2000:])
        # Sweep every second: a grievance stored without a notification is found anyway.
        p = self.start()
        time.sleep(0.5)
        self.insert_one("SWEEP-1", "other", "KE", "stored without a notification")
        self.assertIsNotNone(self.wait_triaged("SWEEP-1", 6), "not found by the sweep within 6 s")
        self.assertEqual(p.stop(signal.SIGINT), 0, p.output()[-2000:])
        self.assert_exactly_once(3)


class TestTriageCandidatePlan(unittest.TestCase):
    """With many open cases, the worker's probe for candidate cases of a cluster key must use the
    key's index when it runs as redress_triage (row-level security once hid the statistics from
    the planner, and each probe filtered every open case)."""

    def test_candidate_probe_uses_the_key_index(self):
        c = harness.CLUSTER
        c.reset()
        try:
            c.sql("INSERT INTO remedy_case (reference, category, country, cluster_key, grievance_count, "
                  "last_received_at, band, score) SELECT 'C' || i, 'other', 'KE', 'other|KE|' || (i % 1000), "
                  "1, now() - i * interval '1 s', 'P' || (1 + i % 4), i % 100 FROM generate_series(1, 25000) i")
            c.sql("VACUUM ANALYZE remedy_case")
            keys = "{" + ",".join(f"other|KE|{i}" for i in range(20)) + "}"
            probe = ("EXPLAIN (ANALYZE, FORMAT JSON, COSTS OFF, TIMING OFF) SELECT x.id "
                     "FROM unnest(%s::text[]) AS k CROSS JOIN LATERAL (SELECT o.id FROM remedy_case o "
                     "WHERE o.cluster_key = k AND o.status NOT IN ('closed', 'rejected', 'referred') "
                     "AND o.last_received_at >= now() - interval '96 hours' "
                     "ORDER BY o.last_received_at DESC LIMIT 32) x")
            plan = c.sql(probe, (keys,), user="redress_triage")[0][0]
            text = json.dumps(plan)
            removed = sum(int(n) for n in re.findall(r'"Rows Removed by Filter": (\d+)', text))
            self.assertLess(removed, 1000, text)
            self.assertIn("cluster_key", text)
        finally:
            c.reset()


if __name__ == "__main__":
    unittest.main()
