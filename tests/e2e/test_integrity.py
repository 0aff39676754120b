"""End-to-end tests of the case record's integrity (issue 7), through plain SQL as each role
(psycopg2, not redressctl): what every application role may still write, and that events carry
the database's ids, times and actors; that no member can hold a lock the mechanism needs; the
intake and triage roles' reach.

Members are added with redressctl (so their team roles exist); cases are made as postgres the way
redress-triage makes them, unless a test runs the real worker."""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import psycopg2

import harness

APP_ROLES = ("redress_intake", "redress_triage", "redress_staff", "redress_regulator", "team_acme_net")
DATA_TABLES = ("member", "grievance", "remedy_case", "case_owner", "triage_decision", "case_event",
               "remedy", "export_manifest", "case_transition", "audit_checkpoint",
               "audit_checkpoint_head")


CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U"


def cluster():
    return harness.CLUSTER


def new_reference():
    """A valid grievance reference: 10 random Crockford symbols and their mod-37 check symbol."""
    data = "".join(CROCKFORD[b % 32] for b in os.urandom(10))
    value = 0
    for ch in data:
        value = (value * 32 + CROCKFORD.index(ch)) % 37
    return data + CROCKFORD[value]


class IntegrityBase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="redress-integrity-test-")
        cls.config = harness.make_config(cls.dir, cluster(), **{
            "database.admin_user": "redress_staff", "triage.workers": "1", "triage.sweep_interval": "1"})
        cls.env = os.environ.copy()
        for k in ("PGUSER", "PGHOST", "PGPORT", "PGDATABASE", "REDRESS_CONFIG"):
            cls.env.pop(k, None)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        cluster().reset()
        cluster().sql("TRUNCATE audit_checkpoint_head, audit_checkpoint, export_manifest RESTART IDENTITY")
        self.procs = []
        self.ctl("member", "add", "acme-net", "--name", "Acme Net", "--sector", "isp", "--countries", "KE")
        self.ctl("member", "add", "beta-social", "--name", "Beta Social", "--sector", "platform")

    def tearDown(self):
        for p in self.procs:
            p.stop(signal.SIGKILL)

    # helpers -----------------------------------------------------------------------------------
    def ctl(self, *args, user=None, expect=0):
        env = dict(self.env)
        if user:
            env["PGUSER"] = user
        p = subprocess.run([os.path.join(harness.BUILD, "redressctl"), "-c", self.config, *args],
                           capture_output=True, text=True, env=env, timeout=120, cwd=harness.ROOT)
        if expect is not None:
            self.assertEqual(p.returncode, expect, f"redressctl {args}: {p.stdout}\n{p.stderr}")
        return p.stdout, p.stderr

    def conn(self, user, autocommit=True):
        c = cluster().connect(user)
        c.autocommit = autocommit
        self.addCleanup(c.close)
        return c

    def refused(self, user, sql, params=None, msg=None):
        """Runs sql as user in its own transaction and asserts the database refuses it."""
        with contextlib.closing(cluster().connect(user)) as c, c.cursor() as cur:
            with self.assertRaises(psycopg2.Error, msg=msg or f"{user}: {sql}") as cm:
                cur.execute(sql, params)
        return cm.exception

    def submit(self, description="My account was removed after I posted about the strike.",
               country="KE", members=True, regulator=False, user="redress_intake", **extra):
        """Files one grievance through intake_submit as the intake role; returns its reference."""
        ref = new_reference()
        row = {"n": 1, "reference": ref, "channel": "api", "country": country,
               "category": "account_removal", "description": description, "people_affected": 1,
               "share_with_members": members, "share_with_regulator": regulator,
               "companies": ["Acme Net"], "services": ["broadband"], "vulnerability": ["journalist"],
               "contact_enc": "c2VhbGVk", "receipt_hash": "00" * 32, **extra}
        rows = cluster().sql("SELECT stored FROM intake_submit(%s::jsonb)", (json.dumps([row]),), user=user)
        self.assertEqual(rows, [(True,)])
        return ref

    def make_case(self, *grievance_refs, status="triaged"):
        """Makes one case of the grievances as triage would (as postgres); returns (id, reference)."""
        ref = "C" + os.urandom(5).hex().upper()[:10]
        g = cluster().sql("SELECT category, country FROM grievance WHERE reference = %s", (grievance_refs[0],))[0]
        cid = cluster().sql(
            "INSERT INTO remedy_case (reference, status, category, country, grievance_count, people_affected, "
            "score, band, rules_version, ack_due, response_due, remedy_due) VALUES (%s, %s, %s, %s, %s, %s, "
            "50, 'P2', 'test-1', now() + interval '2 days', now() + interval '14 days', "
            "now() + interval '30 days') RETURNING id",
            (ref, status, g[0], g[1], len(grievance_refs), len(grievance_refs)))[0][0]
        cluster().sql("UPDATE grievance SET case_id = %s, triaged_at = now() WHERE reference = ANY(%s)",
                      (cid, list(grievance_refs)))
        cluster().sql("INSERT INTO case_event (case_id, action, to_status, note) "
                      "VALUES (%s, 'created', %s, 'made by the test')", (cid, status))
        return cid, ref

    def events(self, case_id):
        return cluster().sql("SELECT id, seq, at, actor, action, from_status::text, to_status::text, note "
                             "FROM case_event WHERE case_id = %s ORDER BY seq", (case_id,))

    def verify_ok(self):
        out, _ = self.ctl("audit", "verify", "--json")
        res = json.loads(out)
        self.assertTrue(res["ok"], res)
        return res


class TestEventsFromTheDatabase(IntegrityBase):
    def test_ids_times_and_actors_cannot_be_chosen(self):
        cid, _ = self.make_case(self.submit())
        # triage may add events, but names only their content; the rest is the database's.
        for cols, vals in (("id, case_id, action", "999999, %s, 'x'"),
                           ("case_id, action, at", "%s, 'x', '2001-01-01'"),
                           ("case_id, action, seq", "%s, 'x', 77"),
                           ("case_id, action, actor", "%s, 'x', 'redress_staff'"),
                           ("case_id, action, hash", "%s, 'x', '\\x00'"),
                           ("case_id, action, prev_hash", "%s, 'x', '\\x00'")):
            for user in ("redress_triage", "redress_staff", "team_acme_net", "redress_regulator",
                         "redress_intake"):
                self.refused(user, f"INSERT INTO case_event ({cols}) VALUES ({vals})", (cid,))
        self.refused("redress_triage", "INSERT INTO case_event (id, case_id, action) OVERRIDING SYSTEM VALUE "
                     "VALUES (999999, %s, 'x')", (cid,))
        # Even the superuser's chosen time, seq and actor are replaced; the id is the identity's. A
        # time in another month is refused outright: case_event is partitioned by month (sql/015)
        # and the row would have to move to this month's partition.
        with self.assertRaises(psycopg2.Error):
            cluster().sql("INSERT INTO case_event (case_id, action, at, seq, actor, hash) "
                          "VALUES (%s, 'forged', '2001-01-01', 77, 'nobody', '\\x00')", (cid,))
        cluster().sql("INSERT INTO case_event (case_id, action, at, seq, actor, hash) "
                      "VALUES (%s, 'forged', date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', "
                      "77, 'nobody', '\\x00')", (cid,))
        with contextlib.closing(cluster().connect("redress_triage")) as c, c.cursor() as cur:
            cur.execute("INSERT INTO case_event (case_id, action, note) VALUES (%s, 'rescored', 'n') "
                        "RETURNING id, seq, at = now(), actor", (cid,))
            eid, seq, at_now, actor = cur.fetchone()
        self.assertEqual((seq, at_now, actor), (3, True, "redress_triage"))
        evs = self.events(cid)
        self.assertEqual([e[1] for e in evs], [1, 2, 3])
        self.assertEqual(evs[1][3], "postgres")
        self.assertGreater(evs[1][2].year, 2020)
        self.assertEqual(evs[2][0], eid)
        self.assertEqual(sorted(e[0] for e in evs), [e[0] for e in evs])
        self.verify_ok()

    def test_nobody_can_make_a_later_insert_fail(self):
        """The old attack: a row with a future id made every later insert a duplicate key."""
        cid, _ = self.make_case(self.submit())
        top = cluster().sql("SELECT max(id) FROM case_event")[0][0]
        for user in ("redress_triage", "redress_staff", "team_acme_net"):
            for future in (top + 1, top + 2, top + 10):
                self.refused(user, "INSERT INTO case_event (id, case_id, action) VALUES (%s, %s, 'x')",
                             (future, cid))
        for _ in range(12):
            cluster().sql("INSERT INTO case_event (case_id, action) VALUES (%s, 'rescored')", (cid,),
                          user="redress_triage")
        self.assertEqual(len(self.events(cid)), 13)
        self.verify_ok()


class TestEventsChainedBySet(IntegrityBase):
    """triage_events_append (sql/029) chains a batch's events set by set; the row trigger lets
    through only rows that arrive with a hash while redress.events_chained is on. Nobody else may
    name the hash, so the setting, which any session can set, skips nothing for them."""

    APPEND = "SELECT triage_events_append(%s::bigint[], %s::text[], %s::text[], %s::text[])"

    def test_the_setting_skips_nothing_for_any_role(self):
        cid, _ = self.make_case(self.submit())
        for user in ("redress_triage", "redress_staff", "team_acme_net", "redress_regulator",
                     "redress_intake"):
            for cols, vals in (("case_id, action, hash", "%s, 'x', '\\x00'"),
                               ("case_id, action, seq, prev_hash, hash", "%s, 'x', 9, '\\x00', '\\x00'")):
                self.refused(user, "SET redress.events_chained = 'on'; "
                             f"INSERT INTO case_event ({cols}) VALUES ({vals})", (cid,))
        # Content alone with the setting on: chained by the trigger like any other row.
        with contextlib.closing(cluster().connect("redress_triage")) as c, c.cursor() as cur:
            cur.execute("SET redress.events_chained = 'on'")
            cur.execute("INSERT INTO case_event (case_id, action, note) VALUES (%s, 'rescored', 'n')", (cid,))
            c.commit()
        last = cluster().sql("SELECT seq, actor, hash IS NOT NULL FROM case_event WHERE case_id = %s "
                             "ORDER BY seq DESC LIMIT 1", (cid,))
        self.assertEqual(last, [(2, "redress_triage", True)])
        self.verify_ok()

    def test_only_triage_may_append_a_set(self):
        cid, _ = self.make_case(self.submit())
        args = ([cid], ["rescored"], [None], ["n"])
        for user in ("redress_staff", "team_acme_net", "redress_regulator", "redress_intake"):
            self.assertEqual(self.refused(user, self.APPEND, args).pgcode, "42501", user)
        self.assertEqual(len(self.events(cid)), 1)
        self.assertEqual(cluster().sql(self.APPEND, args, user="redress_triage"), [(1,)])
        self.assertEqual([e[1] for e in self.events(cid)], [1, 2])
        self.verify_ok()

    def test_a_set_links_like_the_trigger(self):
        """A case with one event in the call takes the set path, a case with two the trigger's; seq
        runs on, the actor and time are the database's, and every link verifies."""
        a, _ = self.make_case(self.submit())
        b, _ = self.make_case(self.submit(country="UG"))
        got = cluster().sql(self.APPEND, ([b, a, b], ["rescored", "rescored", "grew"], [None, None, None],
                                          ["b one", "a one", "b two"]), user="redress_triage")
        self.assertEqual(got, [(3,)])
        ev_a, ev_b = self.events(a), self.events(b)
        self.assertEqual([(e[1], e[4], e[7]) for e in ev_a], [(1, "created", "made by the test"),
                                                              (2, "rescored", "a one")])
        self.assertEqual([(e[1], e[4], e[7]) for e in ev_b], [(1, "created", "made by the test"),
                                                              (2, "rescored", "b one"), (3, "grew", "b two")])
        self.assertEqual({e[3] for e in ev_a[1:] + ev_b[1:]}, {"redress_triage"})
        heads = cluster().sql("SELECT h.case_id, h.seq, h.hash = e.hash FROM case_event_head h "
                              "JOIN case_event e ON e.case_id = h.case_id AND e.seq = h.seq "
                              "WHERE h.case_id = ANY(%s) ORDER BY h.case_id", ([a, b],))
        self.assertEqual(heads, sorted([(a, 2, True), (b, 3, True)]))
        self.verify_ok()


class TestNoMemberHeldLocks(IntegrityBase):
    def test_advisory_lock_functions_are_not_callable(self):
        funcs = cluster().sql("SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = "
                              "'pg_catalog'::regnamespace AND p.proname LIKE 'pg\\_%%advisory%%'")
        self.assertGreaterEqual(len(funcs), 16)
        for user in ("team_acme_net", "redress_regulator", "redress_intake"):
            can = cluster().sql("SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = "
                                "'pg_catalog'::regnamespace AND p.proname LIKE 'pg\\_%%advisory%%' "
                                "AND has_function_privilege(%s, p.oid, 'EXECUTE')", (user,))
            self.assertEqual(can, [], user)
            for call in ("pg_advisory_lock(1)", "pg_try_advisory_lock(1)", "pg_advisory_xact_lock(7, 1)",
                         "pg_advisory_lock_shared(1)", "pg_try_advisory_xact_lock_shared(7, 1)"):
                err = self.refused(user, f"SELECT {call}")
                self.assertEqual(err.pgcode, "42501", call)
        # triage's own cluster-key locks still work.
        cluster().sql("SELECT pg_advisory_xact_lock(7, 1)", user="redress_triage")

    def shutdown_rows(self, first, n):
        return [{"n": i, "reference": new_reference(), "channel": "api",
                 "country": "KE", "category": "network_shutdown", "companies": ["Acme Net"],
                 "description": f"no mobile data in Kisumu since the election night, report {first + i}",
                 "people_affected": 100, "ongoing": True, "share_with_members": True,
                 "receipt_hash": "00" * 32} for i in range(n)]

    def wait_triaged(self, timeout):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if cluster().sql("SELECT count(*) FROM grievance WHERE triaged_at IS NULL")[0][0] == 0:
                return time.monotonic() - t0
            time.sleep(0.1)
        self.fail(f"grievances still untriaged after {timeout} s")

    def stall_triage(self, team_setup=()):
        """Runs the worker, lets triage make one case owned by acme-net, then has the team lock
        that case (a note left uncommitted) and sit idle while more grievances of the same event
        arrive. Returns the seconds triage took to place them all."""
        worker = harness.Process([os.path.join(harness.BUILD, "redress-triage"), "-c", self.config],
                                 os.path.join(self.dir, "triage.log"), env=self.env)
        self.procs.append(worker)
        cluster().sql("SELECT count(*) FROM intake_submit(%s::jsonb)", (json.dumps(self.shutdown_rows(0, 20)),),
                      user="redress_intake")
        self.wait_triaged(30)
        (case_id, owners), = cluster().sql("SELECT c.id, array_agg(m.slug) FROM remedy_case c JOIN case_owner o "
                                           "ON o.case_id = c.id JOIN member m ON m.id = o.member_id GROUP BY c.id")
        self.assertIn("acme-net", owners)
        team = self.conn("team_acme_net", autocommit=False)
        cur = team.cursor()
        with self.assertRaises(psycopg2.Error):  # the old attack: an advisory lock on the case's id
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (case_id,))
        team.rollback()
        for sql in team_setup:
            cur.execute(sql)
        team.commit()
        cur.execute("SELECT * FROM case_note_add(%s, 'held open')", (case_id,))  # locks the case
        cluster().sql("SELECT count(*) FROM intake_submit(%s::jsonb)", (json.dumps(self.shutdown_rows(20, 30)),),
                      user="redress_intake")
        waited = self.wait_triaged(60)
        self.assertEqual(cluster().sql("SELECT count(DISTINCT case_id), count(*) FROM grievance"), [(1, 50)])
        self.assertEqual(cluster().sql("SELECT grievance_count FROM remedy_case WHERE id = %s", (case_id,)),
                         [(50,)])
        with self.assertRaises(psycopg2.Error):  # the idle session was ended, its note undone
            cur.execute("SELECT 1")
        self.assertEqual(cluster().sql("SELECT count(*) FROM case_event WHERE note = 'held open'"), [(0,)])
        self.verify_ok()
        return waited, worker

    def test_idle_team_transaction_does_not_stall_triage(self):
        """A team that takes its case's lock (the only lock it can take) and sits idle in the
        transaction is cut off by its idle timeout; triage, blocked on that case meanwhile, carries
        on. The old attack, an advisory lock on the case's id, is refused outright."""
        waited, _ = self.stall_triage()
        print(f"\n    triage blocked by an idle team transaction carried on after {waited:.1f} s", end=" ")

    def test_a_team_that_turns_its_timeouts_off_is_still_cut_off(self):
        """Role settings are defaults a session may change: triage's guard ends the session after
        its own lock wait times out, by the role's settings, not the session's."""
        waited, worker = self.stall_triage(("SET idle_in_transaction_session_timeout = 0",
                                            "SET statement_timeout = 0", "SET lock_timeout = 0"))
        self.assertIn("ended 1 member session(s)", worker.output())
        print(f"\n    with its timeouts SET off: triage carried on after {waited:.1f} s", end=" ")

    def test_guard_ends_statements_past_the_roles_timeout(self):
        cluster().sql("ALTER ROLE team_beta_social SET statement_timeout = '1s'")
        try:
            team = self.conn("team_beta_social")
            team.cursor().execute("SET statement_timeout = 0")
            errors = []

            def sleeper():
                try:
                    team.cursor().execute("SELECT pg_sleep(20)")
                except psycopg2.Error as e:
                    errors.append(e)
            t = threading.Thread(target=sleeper)
            t.start()
            time.sleep(1.5)
            for user in ("team_acme_net", "redress_staff", "redress_regulator", "redress_intake"):
                self.refused(user, "SELECT member_sessions_reap()")
            self.assertEqual(cluster().sql("SELECT member_sessions_reap()", user="redress_triage"), [(1,)])
            t.join(10)
            self.assertFalse(t.is_alive())
            self.assertEqual(len(errors), 1)
            self.assertEqual(cluster().sql("SELECT member_sessions_reap()", user="redress_triage"), [(0,)])
        finally:
            cluster().sql("SELECT team_role_limits('team_beta_social')")

    def test_every_role_has_timeouts(self):
        self.ctl("member", "add", "gamma-video", "--name", "Gamma Video", "--sector", "platform")
        for user in APP_ROLES + ("team_gamma_video",):
            got = dict(cluster().sql(
                "SELECT name, setting FROM pg_settings WHERE name IN ('lock_timeout', 'statement_timeout', "
                "'idle_in_transaction_session_timeout')", user=user))
            self.assertEqual(len(got), 3)
            for name, value in got.items():
                self.assertGreater(int(value), 0, f"{user}: {name}")
            self.assertLess(int(got["statement_timeout"]), 3600 * 1000, user)
        limits = dict(cluster().sql("SELECT rolname, rolconnlimit FROM pg_roles WHERE rolname LIKE 'team\\_%%' "
                                    "OR rolname = 'redress_regulator'"))
        self.assertEqual(set(limits.values()), {20}, limits)
        self.assertIn("team_gamma_video", limits)


class TestIntakeReach(IntegrityBase):
    def test_intake_may_only_submit_and_look_up(self):
        ref = self.submit()
        rows = cluster().sql("SELECT reference, status FROM grievance_status(%s)", (ref,), user="redress_staff")
        self.assertEqual(rows, [(ref, "received")])
        # grievance_status(ref) answers any reference's receipt hash: not the intake's.
        self.refused("redress_intake", "SELECT receipt_hash FROM grievance_status(%s)", (ref,))
        for t in DATA_TABLES + ("case_queue",):
            for priv in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"):
                self.assertFalse(cluster().sql("SELECT has_table_privilege('redress_intake', %s, %s)",
                                               (t, priv))[0][0], f"{priv} on {t}")
            self.assertFalse(cluster().sql("SELECT has_any_column_privilege('redress_intake', %s, 'SELECT')",
                                           (t,))[0][0], t)
        for sql in ("SELECT reference, receipt_hash FROM grievance",
                    "SELECT id FROM remedy_case",
                    "INSERT INTO grievance (reference, channel, country, category, description, receipt_hash, "
                    "case_id, triaged_at, received_at) VALUES ('X1', 'api', 'KE', 'other', 'x', '\\x00', NULL, "
                    "now(), '2001-01-01')",
                    "UPDATE grievance SET triaged_at = now()",
                    "SELECT nextval('grievance_id_seq')",
                    "SELECT * FROM export_cases('2000-01-01', '2100-01-01', NULL, NULL, true)",
                    "SELECT member_team_role_ensure('team_x')"):
            self.refused("redress_intake", sql)
        funcs = cluster().sql("SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace "
                              "AND has_function_privilege('redress_intake', p.oid, 'EXECUTE') ORDER BY 1")
        # No function finds a grievance by reference alone (grievance_language, 012, did until 019).
        self.assertEqual([f[0] for f in funcs], ["complainant_act", "grievance_attachment_add",
                                               "grievance_attachment_list", "grievance_category",
                                               "grievance_priority_factors",
                                               "grievance_status_by_receipt", "grievance_story",
                                               "intake_submit", "intake_submit_rows"])
        # What intake_submit stores: never a case or a triage time, always the database's time.
        ref2 = self.submit(case_id=1, triaged_at="2001-01-01T00:00:00Z", received_at="2001-01-01T00:00:00Z")
        self.assertEqual(cluster().sql("SELECT case_id, triaged_at, received_at > now() - interval '1 hour' "
                                       "FROM grievance WHERE reference = %s", (ref2,)), [(None, None, True)])

    def test_a_wrong_receipt_costs_what_an_unknown_reference_does(self):
        """The complainant's story and actions find the grievance by receipt hash alone: a known
        reference with a wrong receipt fetches no row, exactly like an unknown reference (counted
        by the transaction's own statistics, not by a clock)."""
        ref = self.submit()
        # grievance is partitioned by month (sql/016): its counters are those of its partitions.
        stats = ("SELECT sum(seq_scan)::bigint, sum(seq_tup_read)::bigint, sum(coalesce(idx_scan, 0))::bigint, "
                 "sum(coalesce(idx_tup_fetch, 0))::bigint FROM pg_stat_xact_user_tables "
                 "WHERE relid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'grievance'::regclass)")
        calls = ("SELECT grievance_story(%s, %s)", "SELECT grievance_category(%s, %s)",
                 "SELECT complainant_act(%s, %s, 'message', '{\"text\": \"hello\"}', NULL, NULL, '{}')")

        def work(reference, call):
            with contextlib.closing(cluster().connect("redress_intake")) as c, c.cursor() as cur:
                c.autocommit = False
                # A table of a few rows may be scanned whole, as the planner sees fit (it did, 1 run
                # in 6 of make test): the question here is which index the look-up goes by.
                cur.execute("SET enable_seqscan = off")
                cur.execute(stats)
                before = cur.fetchone()
                cur.execute("SAVEPOINT s")
                try:
                    cur.execute(call, (reference, b"\x01" * 32))
                    self.assertIsNone(cur.fetchone()[0])
                except psycopg2.Error:
                    cur.execute("ROLLBACK TO SAVEPOINT s")
                cur.execute(stats)
                after = cur.fetchone()
                c.rollback()
            return tuple(a - b for a, b in zip(after, before))

        for call in calls:
            unknown, wrong = work("0000000000" + "0", call), work(ref, call)
            self.assertEqual(unknown, wrong, f"{call}: (seq scans, rows read, index scans, rows fetched)")
            self.assertEqual(wrong[3], 0, f"{call}: a wrong receipt fetched a grievance row")
            self.assertGreater(wrong[2], 0, f"{call}: the look-up never used an index")

    def test_definer_functions_are_pinned_and_not_public(self):
        rows = cluster().sql(
            "SELECT p.oid::regprocedure::text, coalesce(array_to_string(p.proconfig, ','), ''), "
            "has_function_privilege('public', p.oid, 'EXECUTE') FROM pg_proc p "
            "WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef ORDER BY 1")
        self.assertGreaterEqual(len(rows), 5)
        for name, config, public in rows:
            self.assertIn("search_path=public, pg_temp", config, name)
            self.assertFalse(public, f"{name} is EXECUTE-able by PUBLIC")
        for user in APP_ROLES:
            self.assertFalse(cluster().sql("SELECT has_schema_privilege(%s, 'public', 'CREATE')", (user,))[0][0])


class TestTriageReach(IntegrityBase):
    def test_triage_writes_only_what_it_needs(self):
        cid, _ = self.make_case(self.submit())
        for sql in ("DELETE FROM grievance", "DELETE FROM remedy_case", "DELETE FROM case_event",
                    "DELETE FROM case_owner", "DELETE FROM triage_decision",
                    "TRUNCATE case_event", "TRUNCATE remedy_case",
                    "UPDATE remedy_case SET status = 'closed'",
                    "UPDATE remedy_case SET lead_member_id = NULL",
                    "UPDATE remedy_case SET reference = 'CX'",
                    "UPDATE case_owner SET role = 'lead'",
                    "UPDATE case_event SET note = 'x'",
                    "UPDATE grievance SET description = 'x'",
                    "SELECT contact_enc FROM grievance",
                    "SELECT receipt_hash FROM grievance",
                    "INSERT INTO remedy (case_id, type, details) VALUES (1, 'apology', 'x')",
                    "UPDATE remedy SET status = 'verified'",
                    "INSERT INTO member (slug, name, sector, team_role) VALUES ('x', 'x', 'isp', 'team_x')",
                    "INSERT INTO remedy_case (reference, status, category, country) "
                    "VALUES ('CZZ', 'closed', 'other', 'KE')",
                    "INSERT INTO remedy_case (reference, status, category, country, opened_at) "
                    "VALUES ('CZZ', 'triaged', 'other', 'KE', '2001-01-01')"):
            self.refused("redress_triage", sql)
        self.assertEqual(cluster().sql("SELECT status::text FROM remedy_case WHERE id = %s", (cid,)), [("triaged",)])



def snapshot():
    """Every row of the case record, as text: equal snapshots mean nothing changed."""
    return cluster().sql("SELECT " + ", ".join(
        f"(SELECT coalesce(string_agg(to_jsonb(t)::text, '|' ORDER BY to_jsonb(t)::text), '') FROM {t} t)"
        for t in ("member", "grievance", "remedy_case", "case_owner", "triage_decision", "case_event", "remedy",
                  "audit_checkpoint", "audit_checkpoint_head")))[0]


class WorkedCase(IntegrityBase):
    """One case with a lead (acme-net), a co-owner (beta-social) and an informed member
    (gamma-video); another case owned by beta-social alone."""

    def setUp(self):
        super().setUp()
        self.ctl("member", "add", "gamma-video", "--name", "Gamma Video", "--sector", "platform")
        self.cid, self.cref = self.make_case(self.submit())
        self.other_id, self.other_ref = self.make_case(self.submit(country="UG"))
        for member, role in (("acme-net", "lead"), ("beta-social", "co-owner"), ("gamma-video", "informed")):
            self.ctl("case", "assign", self.cref, "--member", member, "--role", role, "--involvement", "linked")
        self.ctl("case", "assign", self.other_ref, "--member", "beta-social", "--role", "lead",
                 "--involvement", "caused")
        self.ctl("case", "transition", self.cref, "investigating")

    def call(self, user, sql, params=()):
        """Calls a case function as user; returns its rows, or the error."""
        with contextlib.closing(cluster().connect(user)) as c, c.cursor() as cur:
            try:
                cur.execute(sql, params)
                return cur.fetchall()
            except psycopg2.Error as e:
                return e

    def n_events(self, case_id):
        return cluster().sql("SELECT count(*) FROM case_event WHERE case_id = %s", (case_id,))[0][0]


class TestDirectWritesRefused(WorkedCase):
    # Every write a role could make before: each refused now.
    WRITES = (
        "UPDATE remedy_case SET status = 'remedy_proposed'",
        "UPDATE remedy_case SET status = 'closed', closed_at = now()",
        "UPDATE remedy_case SET lead_member_id = NULL",
        "INSERT INTO remedy_case (reference, status, category, country) VALUES ('CX1', 'closed', 'other', 'KE')",
        "DELETE FROM remedy_case",
        "SELECT id FROM remedy_case FOR UPDATE",
        "SELECT id FROM remedy_case FOR SHARE",
        "LOCK TABLE remedy_case IN ROW EXCLUSIVE MODE",
        "INSERT INTO remedy (case_id, type, details, status, proposed_at, verified_at) "
        "SELECT id, 'apology', 'x', 'verified', '2001-01-01', now() FROM remedy_case",
        "UPDATE remedy SET status = 'verified', verified_at = now()",
        "DELETE FROM remedy",
        "INSERT INTO case_owner (case_id, member_id, role, involvement) SELECT c.id, m.id, 'lead', 'caused' "
        "FROM remedy_case c, member m",
        "UPDATE case_owner SET role = 'lead'",
        "DELETE FROM case_owner",
        "INSERT INTO case_event (case_id, action, note) SELECT id, 'note', 'x' FROM remedy_case",
        "INSERT INTO case_event (case_id, action, from_status, to_status) "
        "SELECT id, 'transition', status, 'closed' FROM remedy_case",
        "UPDATE case_event SET note = 'x'",
        "DELETE FROM case_event",
        "INSERT INTO triage_decision (case_id, score, band, components, rules_fired, rules_version) "
        "SELECT id, 1, 'P4', '{}', '[]', 'x' FROM remedy_case",
        "UPDATE triage_decision SET band = 'P4'",
        "INSERT INTO member (slug, name, sector, team_role) VALUES ('evil', 'Evil', 'isp', 'team_evil')",
        "UPDATE member SET countries = '{KE,UG,TZ}'",
        "DELETE FROM member",
        "INSERT INTO grievance (reference, channel, country, category, description, receipt_hash) "
        "VALUES ('X1', 'api', 'KE', 'other', 'x', '\\x00')",
        "UPDATE grievance SET case_id = NULL, triaged_at = NULL",
        "DELETE FROM grievance",
        "INSERT INTO audit_checkpoint_head SELECT 1, id, 1, '\\x00' FROM remedy_case",
        "INSERT INTO remedy_step VALUES ('offered', 'verified', NULL)",
        "UPDATE case_transition SET reason_required = false",
        "INSERT INTO case_transition VALUES ('triaged', 'closed', false)",
        "SELECT nextval('case_event_id_seq')",
        "SELECT nextval('remedy_id_seq')",
        "SELECT nextval('remedy_case_id_seq')",
        "SELECT setval('case_event_id_seq', 1)",
        "SELECT member_team_role_ensure('team_evil')",
        "SELECT case_status_move(1, 'C', 'investigating', 'closed', NULL)",
        "CREATE TABLE evil (x int)",
    ) + tuple(f"TRUNCATE {t}" for t in DATA_TABLES + ("remedy_step",))

    def test_every_role_direct_write_refused_and_nothing_changes(self):
        before = snapshot()
        for user in ("redress_staff", "team_acme_net", "team_beta_social", "team_gamma_video",
                     "redress_regulator", "redress_intake"):
            for sql in self.WRITES:
                self.refused(user, sql)
        self.assertEqual(snapshot(), before)

    def test_privileges_are_exactly_the_functions(self):
        """No role but triage (its own columns) holds any write privilege on any table or sequence."""
        tables = [t for (t,) in cluster().sql(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN "
            "('r', 'v', 'p') AND c.relname <> 'schema_migration'")]
        self.assertGreaterEqual(len(tables), 10)
        for user in APP_ROLES + ("team_beta_social",):
            for t in tables:
                for priv in ("INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"):
                    granted = cluster().sql("SELECT has_table_privilege(%s, %s, %s)", (user, t, priv))[0][0]
                    self.assertFalse(granted, f"{user} has {priv} on {t}")
                for priv in ("INSERT", "UPDATE", "REFERENCES"):
                    cols = cluster().sql("SELECT has_any_column_privilege(%s, %s, %s)", (user, t, priv))[0][0]
                    allowed = user == "redress_triage" and (t, priv) in {
                        ("grievance", "UPDATE"), ("remedy_case", "INSERT"), ("remedy_case", "UPDATE"),
                        ("case_owner", "INSERT"), ("triage_decision", "INSERT"), ("case_event", "INSERT"),
                        ("case_deadline_miss", "INSERT")}  # the deadline sweep (sql/007)
                    self.assertEqual(cols, allowed, f"{user}: {priv} on columns of {t}")
            seqs = cluster().sql("SELECT c.relname FROM pg_class c WHERE c.relkind = 'S' AND "
                                 "c.relnamespace = 'public'::regnamespace AND (has_sequence_privilege(%s, c.oid, "
                                 "'USAGE') OR has_sequence_privilege(%s, c.oid, 'UPDATE'))", (user, user))
            expected = {"redress_triage": {"remedy_case_id_seq", "triage_decision_id_seq"}}.get(user, set())
            self.assertEqual({s for (s,) in seqs}, expected, user)


class TestPermissionMatrix(WorkedCase):
    def test_each_owner_role_through_the_functions(self):
        # (user, call, allowed): the README's matrix, row by row.
        note = "SELECT * FROM case_note_add(%s, 'a note')"
        move = "SELECT * FROM case_move(%s, 'referred', 'a State body handles it')"
        propose = "SELECT * FROM remedy_propose(%s, 'apology', 'we apologise')"
        assign = "SELECT * FROM case_owner_set(%s, 'gamma-video', 'co-owner', 'linked')"
        unassign = "SELECT * FROM case_owner_remove(%s, 'gamma-video', 'not involved')"
        for user, sql, allowed in (
                ("redress_regulator", note, False), ("redress_intake", note, False),
                ("redress_triage", note, False),
                ("team_gamma_video", note, True), ("team_gamma_video", move, False),
                ("team_gamma_video", propose, False), ("team_gamma_video", assign, False),
                ("team_beta_social", note, True), ("team_beta_social", move, False),
                ("team_beta_social", assign, False), ("team_beta_social", unassign, False),
                ("team_acme_net", note, True), ("team_acme_net", assign, False),
                ("team_acme_net", unassign, False),
                ("redress_staff", note, True)):
            before = self.n_events(self.cid)
            got = self.call(user, sql, (self.cid,))
            if allowed:
                self.assertIsInstance(got, list, f"{user}: {sql}: {got}")
                ev = cluster().sql("SELECT actor, action FROM case_event WHERE case_id = %s ORDER BY seq DESC "
                                   "LIMIT 1", (self.cid,))[0]
                self.assertEqual(ev[0], user)
                self.assertEqual(self.n_events(self.cid), before + 1)
            else:
                self.assertIsInstance(got, psycopg2.Error, f"{user} may not: {sql}")
                self.assertEqual(got.pgcode, "42501", f"{user}: {sql}: {got}")
                self.assertEqual(self.n_events(self.cid), before, f"{user}: {sql}")
        # Nobody reaches a case its member does not own, not even to note.
        for user in ("team_acme_net", "team_gamma_video"):
            for sql in (note, move, propose):
                self.assertIsInstance(self.call(user, sql, (self.other_id,)), psycopg2.Error)
        self.assertEqual(self.n_events(self.other_id), 3)

        # Remedies: a co-owner proposes and records its own; not the lead's; the lead records any.
        got = self.call("team_beta_social", propose, (self.cid,))
        self.assertEqual(got[0][:2], ("investigating", "remedy_proposed"))
        beta_remedy = cluster().sql("SELECT id, proposed_by, member_id IS NOT NULL, proposed_at > now() - "
                                    "interval '1 minute' FROM remedy WHERE case_id = %s", (self.cid,))[0]
        self.assertEqual(beta_remedy[1:], ("team_beta_social", True, True))
        self.assertIsInstance(self.call("team_gamma_video", "SELECT * FROM remedy_record(%s, 'accepted')",
                                        (self.cid,)), psycopg2.Error)
        got = self.call("team_beta_social", "SELECT * FROM remedy_record(%s, 'declined')", (self.cid,))
        self.assertEqual(got[0][1], "remedy_declined")
        got = self.call("team_acme_net", "SELECT * FROM remedy_propose(%s, 'restoration', 'restore it')",
                        (self.cid,))
        self.assertEqual(got[0][1], "remedy_proposed")
        err = self.call("team_beta_social", "SELECT * FROM remedy_record(%s, 'accepted')", (self.cid,))
        self.assertIsInstance(err, psycopg2.Error)
        self.assertIn("only the remedies its member proposed", str(err))
        self.assertIsInstance(self.call("team_beta_social", "SELECT * FROM case_move(%s, 'remedy_accepted')",
                                        (self.cid,)), psycopg2.Error)
        got = self.call("team_acme_net", "SELECT * FROM remedy_record(%s, 'accepted')", (self.cid,))
        self.assertEqual(got[0][1], "remedy_accepted")
        # Staff do everything, owners included.
        self.assertIsInstance(self.call("redress_staff", unassign, (self.cid,)), list)
        self.assertIsInstance(self.call("redress_staff", assign, (self.cid,)), list)
        self.assertEqual(cluster().sql("SELECT count(*) FROM case_owner WHERE case_id = %s", (self.cid,))[0][0], 3)
        self.verify_ok()

    def test_state_machine_and_reasons_are_the_databases(self):
        before = self.n_events(self.cid)
        for sql, code in (("SELECT * FROM case_move(%s, 'closed')", "P0002"),
                          ("SELECT * FROM case_move(%s, 'rejected')", "22023"),
                          ("SELECT * FROM case_move(%s, 'rejected', '')", "22023"),
                          ("SELECT * FROM case_move(%s, 'rejected', '   ')", "22023"),
                          ("SELECT * FROM remedy_record(%s, 'accepted')", "22023"),
                          ("SELECT * FROM remedy_propose(%s, 'bribe', 'x')", "22023"),
                          ("SELECT * FROM remedy_propose(%s, 'apology', '')", "22023"),
                          ("SELECT * FROM case_note_add(%s, '')", "22023"),
                          ("SELECT * FROM case_note_add(%s, repeat('x', 10001))", "22023"),
                          ("SELECT * FROM case_owner_set(%s, 'nobody', 'lead', 'caused')", "22023"),
                          ("SELECT * FROM case_owner_set(%s, 'acme-net', 'boss', 'caused')", "22023")):
            for user in ("redress_staff", "team_acme_net"):
                err = self.call(user, sql, (self.cid,))
                self.assertIsInstance(err, psycopg2.Error, sql)
                if user == "redress_staff" or "owner_set" not in sql:
                    self.assertEqual(err.pgcode, code, f"{user}: {sql}: {err}")
        self.assertEqual(self.n_events(self.cid), before)
        self.assertEqual(self.call("team_acme_net", "SELECT * FROM case_move(%s, 'rejected', 'out of scope')",
                                   (self.cid,))[0][:2], ("investigating", "rejected"))
        ev = cluster().sql("SELECT actor, from_status::text, to_status::text, note FROM case_event "
                           "WHERE case_id = %s ORDER BY seq DESC LIMIT 1", (self.cid,))[0]
        self.assertEqual(ev, ("team_acme_net", "investigating", "rejected", "out of scope"))
        # A remedy cannot be verified before it is implemented, by anyone.
        self.call("redress_staff", "SELECT * FROM case_move(%s, 'appealed')", (self.cid,))
        self.call("redress_staff", "SELECT * FROM case_move(%s, 'investigating')", (self.cid,))
        self.call("redress_staff", "SELECT * FROM remedy_propose(%s, 'apology', 'sorry')", (self.cid,))
        err = self.call("redress_staff", "SELECT * FROM remedy_record(%s, 'verified')", (self.cid,))
        self.assertEqual(err.pgcode, "P0002")
        self.verify_ok()

    def test_members_only_through_member_add(self):
        self.assertIsInstance(self.call("team_acme_net", "SELECT member_add('evil', 'Evil', 'isp', NULL, NULL)"),
                              psycopg2.Error)
        self.assertIsInstance(self.call("redress_staff", "SELECT member_team_role_ensure('team_evil')"),
                              psycopg2.Error)
        self.assertEqual(self.call("redress_staff", "SELECT member_add('delta-net', 'Delta', 'isp', '{KE}', NULL)"),
                         [("team_delta_net",)])
        err = self.call("redress_staff", "SELECT member_add('delta-net', 'Delta', 'isp', '{KE}', NULL)")
        self.assertEqual(err.pgcode, "23505")
        self.assertEqual(cluster().sql("SELECT pg_has_role('team_delta_net', 'redress_teams', 'MEMBER')"), [(True,)])


class TestConsent(IntegrityBase):
    def test_teams_see_only_grievances_shared_with_members(self):
        shared = self.submit(members=True, description="shared with members")
        private = self.submit(members=False, description="not for the companies")
        cid, cref = self.make_case(shared, private)
        self.ctl("case", "assign", cref, "--member", "acme-net", "--role", "lead", "--involvement", "caused")
        with contextlib.closing(cluster().connect("team_acme_net")) as c, c.cursor() as cur:
            cur.execute("SELECT reference FROM grievance")
            self.assertEqual(cur.fetchall(), [(shared,)])
            cur.execute("SELECT count(*) FROM grievance WHERE reference = %s OR case_id = %s", (private, cid))
            self.assertEqual(cur.fetchone()[0], 1)
            cur.execute("SELECT grievance_count FROM remedy_case WHERE id = %s", (cid,))
            self.assertEqual(cur.fetchone()[0], 2)  # the case's own figures stay
        show = json.loads(self.ctl("case", "show", cref, "--json", user="team_acme_net")[0])
        self.assertEqual(show["grievances"]["count"], 2)
        self.assertEqual([g["reference"] for g in show["grievances"]["sample"]], [shared])
        # A private grievance's reference does not even find its case for the team.
        self.ctl("case", "show", private, user="team_acme_net", expect=1)
        staff = json.loads(self.ctl("case", "show", cref, "--json")[0])
        self.assertEqual(len(staff["grievances"]["sample"]), 2)

    def test_regulator_sees_personal_fields_only_with_consent(self):
        yes = self.submit(regulator=True, rights=["expression"], language="sw")
        no = self.submit(regulator=False, rights=["expression"], language="sw")
        self.make_case(yes, no)
        for sql in ("SELECT companies FROM grievance", "SELECT vulnerability FROM grievance",
                    "SELECT count(*) FROM grievance", "SELECT description FROM grievance_for_regulator"):
            self.refused("redress_regulator", sql)
        yes_id = cluster().sql("SELECT id FROM grievance WHERE reference = %s", (yes,))[0][0]
        rows = dict((r[0], r[1:]) for r in cluster().sql(
            "SELECT g.id = %s, companies, services, vulnerability, rights, language, category, country, "
            "channel, received_at IS NOT NULL, case_id IS NOT NULL FROM grievance_for_regulator g", (yes_id,),
            user="redress_regulator"))
        self.assertEqual(rows[True][:5], (["Acme Net"], ["broadband"], ["journalist"], ["expression"], "sw"))
        self.assertEqual(rows[False][:5], (None, None, None, None, None))
        self.assertEqual(rows[False][5:], ("account_removal", "KE", "api", True, True))


if __name__ == "__main__":
    unittest.main()
