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
import time
import unittest

import psycopg2

import harness

APP_ROLES = ("redress_intake", "redress_triage", "redress_staff", "redress_regulator", "team_acme_net")
DATA_TABLES = ("member", "grievance", "remedy_case", "case_owner", "triage_decision", "case_event",
               "remedy", "export_manifest", "case_chain_head", "case_transition")


def cluster():
    return harness.CLUSTER


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
        ref = "A" + os.urandom(5).hex().upper()[:10]
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
        # Even the superuser's chosen time, seq and actor are replaced; the id is the identity's.
        cluster().sql("INSERT INTO case_event (case_id, action, at, seq, actor, hash) "
                      "VALUES (%s, 'forged', '2001-01-01', 77, 'nobody', '\\x00')", (cid,))
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


class TestIntakeReach(IntegrityBase):
    def test_intake_may_only_submit_and_look_up(self):
        ref = self.submit()
        rows = cluster().sql("SELECT reference, status FROM grievance_status(%s)", (ref,), user="redress_intake")
        self.assertEqual(rows, [(ref, "received")])
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
        self.assertEqual([f[0] for f in funcs], ["grievance_status", "intake_submit"])
        # What intake_submit stores: never a case or a triage time, always the database's time.
        ref2 = self.submit(case_id=1, triaged_at="2001-01-01T00:00:00Z", received_at="2001-01-01T00:00:00Z")
        self.assertEqual(cluster().sql("SELECT case_id, triaged_at, received_at > now() - interval '1 hour' "
                                       "FROM grievance WHERE reference = %s", (ref2,)), [(None, None, True)])

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
                    "SELECT * FROM case_chain_head",
                    "INSERT INTO remedy_case (reference, status, category, country) "
                    "VALUES ('CZZ', 'closed', 'other', 'KE')",
                    "INSERT INTO remedy_case (reference, status, category, country, opened_at) "
                    "VALUES ('CZZ', 'triaged', 'other', 'KE', '2001-01-01')"):
            self.refused("redress_triage", sql)
        self.assertEqual(cluster().sql("SELECT status::text FROM remedy_case WHERE id = %s", (cid,)), [("triaged",)])


if __name__ == "__main__":
    unittest.main()
