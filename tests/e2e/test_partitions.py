"""End-to-end tests of the monthly partitions of grievance and case_event (issue 12, item 4, sql/015
and sql/016): rows land in their month, the default partition catches a row outside every month
and upkeep moves it, reference and Idempotency-Key stay unique across months, the retention drop
takes a fully expired month and keeps one with a live row (run by redress-triage), the audit chain
verifies across a month boundary, no application role reaches a partition or the key table, and an
existing database upgrades in place (the migrations applied over data in the old layout)."""
import contextlib
import json
import os
import time
import unittest

import psycopg2

import harness
from test_integrity import WorkedCase, cluster, new_reference

APP_ROLES = ("redress_intake", "redress_triage", "redress_staff", "redress_regulator", "team_acme_net")


def month_start(months_back):
    """The first day of the month months_back months before this one (UTC), as 'YYYY-MM-01'."""
    return cluster().sql("SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') "
                         "- make_interval(months => %s))::date::text", (months_back,))[0][0]


def ensure_month(table, first_day):
    cluster().sql("SELECT partition_months_ensure(%s, %s, %s)", (table, first_day, first_day))


def insert_grievance(received_at, reference=None, idempotency_key=None, case_id=None):
    """A grievance stored directly as postgres at received_at (what an import of old data does);
    returns (id, reference)."""
    ref = reference or new_reference()
    gid = cluster().sql(
        "INSERT INTO grievance (reference, received_at, channel, country, category, description, "
        "receipt_hash, idempotency_key, case_id, triaged_at) VALUES (%s, %s, 'api', 'KE', 'account_removal', "
        "'my account was removed', '\\x00', %s, %s, CASE WHEN %s::bigint IS NULL THEN NULL ELSE now() END) "
        "RETURNING id", (ref, received_at, idempotency_key, case_id, case_id))[0][0]
    return gid, ref


def partition_of(table, where, params):
    return cluster().sql(f"SELECT tableoid::regclass::text FROM {table} WHERE {where}", params)[0][0]


class TestPartitionLayout(WorkedCase):
    def test_months_exist_and_rows_land_in_their_month(self):
        this_month = month_start(0).replace("-", "_")[:7]
        for table in ("grievance", "case_event"):
            parts = cluster().sql("SELECT partition::text, month::text, is_default FROM partition_list(%s)",
                                  (table,))
            names = [p[0] for p in parts]
            for k in range(4):  # this month and the next three, made ahead of time
                self.assertIn(f"{table}_p{month_start(-k).replace('-', '_')[:7]}", names)
            self.assertEqual([p[0] for p in parts if p[2]], [f"{table}_default"])
            kind = cluster().sql("SELECT relkind FROM pg_class WHERE relname = %s", (table,))[0][0]
            self.assertEqual(kind, "p")
        ref = self.submit()
        self.assertEqual(partition_of("grievance", "reference = %s", (ref,)), f"grievance_p{this_month}")
        self.assertEqual({r[0] for r in cluster().sql("SELECT DISTINCT tableoid::regclass::text FROM case_event")},
                         {f"case_event_p{this_month}"})
        # An old month: made on demand, and a row of that time goes there.
        old = month_start(5)
        ensure_month("grievance", old)
        _, old_ref = insert_grievance(f"{old} 12:00:00+00")
        self.assertEqual(partition_of("grievance", "reference = %s", (old_ref,)),
                         f"grievance_p{old.replace('-', '_')[:7]}")

    def test_a_row_outside_every_month_goes_to_the_default_and_upkeep_moves_it(self):
        far = month_start(-30)  # 30 months ahead: no partition yet
        _, ref = insert_grievance(f"{far} 08:00:00+00")
        self.assertEqual(partition_of("grievance", "reference = %s", (ref,)), "grievance_default")
        # partition_upkeep makes a month for every row in a default partition and moves it in.
        made, dropped = cluster().sql("SELECT made, dropped FROM partition_upkeep(0)", user="redress_triage")[0]
        self.assertGreaterEqual(made, 1)
        self.assertEqual(dropped, 0)
        self.assertEqual(partition_of("grievance", "reference = %s", (ref,)),
                         f"grievance_p{far.replace('-', '_')[:7]}")
        self.assertEqual(cluster().sql("SELECT count(*) FROM grievance_default"), [(0,)])
        # Moved, not copied: one row, still immutable, its key row unchanged.
        self.assertEqual(cluster().sql("SELECT count(*) FROM grievance WHERE reference = %s", (ref,)), [(1,)])
        with self.assertRaises(psycopg2.Error):
            cluster().sql("UPDATE grievance SET description = 'changed' WHERE reference = %s", (ref,))
        self.assertEqual(cluster().sql("SELECT count(*) FROM grievance_key k JOIN grievance g USING (id, received_at) "
                                       "WHERE g.reference = %s", (ref,)), [(1,)])
        # A second call has nothing to do.
        self.assertEqual(cluster().sql("SELECT made FROM partition_upkeep(0)", user="redress_triage"), [(0,)])


class TestKeysAcrossMonths(WorkedCase):
    def keyed_row(self, key, ref=None):
        return {"n": 1, "reference": ref or new_reference(), "channel": "api", "country": "KE",
                "category": "account_removal", "description": "filed again after midnight",
                "receipt_hash": "11" * 32, "idempotency_key": key, "request_hash": "22" * 32}

    def test_idempotency_key_of_last_month_deduplicates(self):
        last = month_start(1)
        ensure_month("grievance", last)
        _, old_ref = insert_grievance(f"{last} 23:59:59+00", idempotency_key="retry-across-midnight")
        rows = cluster().sql("SELECT reference, stored FROM intake_submit(%s::jsonb)",
                             (json.dumps([self.keyed_row("retry-across-midnight")]),), user="redress_intake")
        self.assertEqual(rows, [(old_ref, False)])
        self.assertEqual(cluster().sql("SELECT count(*) FROM grievance WHERE idempotency_key = %s",
                                       ("retry-across-midnight",)), [(1,)])
        # The same through the intake's own path (the array form), and as a direct insert.
        rows = cluster().sql("SELECT reference, stored FROM intake_submit(%s::jsonb)",
                             (json.dumps([self.keyed_row("retry-across-midnight")]),), user="redress_staff")
        self.assertEqual(rows, [(old_ref, False)])
        with self.assertRaises(psycopg2.errors.UniqueViolation):
            insert_grievance("now", idempotency_key="retry-across-midnight")
        self.assertEqual(cluster().sql("SELECT count(*) FROM grievance WHERE idempotency_key = %s",
                                       ("retry-across-midnight",)), [(1,)])

    def test_reference_of_another_month_is_refused(self):
        old = month_start(3)
        ensure_month("grievance", old)
        _, ref = insert_grievance(f"{old} 10:00:00+00")
        # The intake's path stores nothing: its statement fails on the reference's unique index
        # (sql/025), which the intake answers by sending the row again with a new reference
        # (intake/batch.c); a direct insert is the same unique violation.
        with self.assertRaises(psycopg2.errors.UniqueViolation) as caught:
            cluster().sql("SELECT reference, stored FROM intake_submit(%s::jsonb)",
                          (json.dumps([self.keyed_row(None, ref)]),), user="redress_intake")
        self.assertEqual(caught.exception.diag.constraint_name, "grievance_key_reference_key")
        with self.assertRaises(psycopg2.errors.UniqueViolation):
            insert_grievance("now", reference=ref)
        self.assertEqual(cluster().sql("SELECT count(*) FROM grievance WHERE reference = %s", (ref,)), [(1,)])
        self.assertEqual(cluster().sql("SELECT count(*) FROM grievance_key WHERE reference = %s", (ref,)), [(1,)])

    def test_foreign_keys_refer_to_the_key_table(self):
        fks = cluster().sql("SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
                            "WHERE contype = 'f' AND confrelid IN ('grievance'::regclass, 'grievance_key'::regclass)")
        tables = {t for t, _ in fks}
        self.assertTrue({"triage_decision", "case_message", "feedback", "appeal"} <= tables, fks)
        self.assertEqual({r for _, r in fks}, {"grievance_key"})
        # A row naming a grievance that does not exist is refused.
        with self.assertRaises(psycopg2.errors.ForeignKeyViolation):
            cluster().sql("INSERT INTO triage_decision (case_id, grievance_id, score, band, components, "
                          "rules_fired, rules_version) VALUES (%s, -1, 1, 'P4', '{}', '[]', 'x')", (self.cid,))


class TestNoDirectAccess(WorkedCase):
    def test_no_role_reaches_a_partition_or_the_key_table(self):
        parts = [p for (p,) in cluster().sql(
            "SELECT partition::text FROM partition_list('grievance') UNION ALL "
            "SELECT partition::text FROM partition_list('case_event')")]
        self.assertGreaterEqual(len(parts), 10)
        for t in parts + ["grievance_key"]:
            rls = cluster().sql("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = %s", (t,))
            self.assertEqual(rls, [(True, True)], t)
            for user in APP_ROLES:
                for priv in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"):
                    self.assertFalse(cluster().sql("SELECT has_table_privilege(%s, %s, %s)", (user, t, priv))[0][0],
                                     f"{user} has {priv} on {t}")
        month = parts[0]
        for user in APP_ROLES:
            self.refused(user, f"SELECT * FROM {month}")
            self.refused(user, "SELECT * FROM grievance_key")
            self.refused(user, "INSERT INTO grievance_key (reference) VALUES ('X1')")
        self.refused("redress_intake", f"INSERT INTO {month} (id, reference, received_at, channel, country, "
                     "category, description, receipt_hash) SELECT 1, 'X1', received_at, 'api', 'KE', 'other', 'x', "
                     f"'\\x00' FROM {month} LIMIT 1")
        self.refused("redress_intake", "INSERT INTO grievance (reference, channel, country, category, description, "
                     "receipt_hash) VALUES ('X1', 'api', 'KE', 'other', 'x', '\\x00')")
        for fn in ("partition_months_ensure('grievance', '2020-01-01', '2020-01-01')",
                   "partition_month_add('grievance', '2020-01-01')", "partition_retention_drop(1)"):
            for user in APP_ROLES:
                self.refused(user, f"SELECT {fn}")
        for user in ("redress_intake", "redress_regulator", "team_acme_net"):
            self.refused(user, "SELECT * FROM partition_upkeep(1)")
        # Row-level security of the parent still decides: a team sees only its own cases' events.
        seen = cluster().sql("SELECT DISTINCT case_id FROM case_event", user="team_acme_net")
        self.assertEqual(seen, [(self.cid,)])


class TestAuditAcrossMonths(WorkedCase):
    def test_chain_verifies_across_a_month_boundary(self):
        last = month_start(1)
        ensure_month("case_event", last)
        cid = cluster().sql("INSERT INTO remedy_case (reference, status, category, country) "
                            "VALUES ('CBOUNDARY01', 'triaged', 'account_removal', 'KE') RETURNING id")[0][0]
        # Two events at the end of last month, chained as the trigger chains them (written with the
        # triggers off, as events of that time would have been).
        with contextlib.closing(cluster().connect()) as c, c.cursor() as cur:
            cur.execute("SET session_replication_role = replica")
            for seq, at_sql in ((1, f"'{last} 00:00:01+00'::timestamptz"),
                                (2, "date_trunc('month', now()) - interval '1 second'")):
                cur.execute(
                    f"INSERT INTO case_event (case_id, seq, at, actor, action, note, prev_hash, hash) "
                    f"SELECT %s, %s, t, 'redress_triage', 'created', 'opened last month', p.hash, "
                    f"case_event_hash(p.hash, %s, %s, t, 'redress_triage', 'created', NULL, NULL, "
                    f"'opened last month') FROM (SELECT date_trunc('microseconds', {at_sql}) AS t) x "
                    f"LEFT JOIN case_event p ON p.case_id = %s AND p.seq = %s - 1", (cid, seq, cid, seq, cid, seq))
        self.ctl("case", "note", "CBOUNDARY01", "this month")
        evs = cluster().sql("SELECT seq, tableoid::regclass::text FROM case_event WHERE case_id = %s ORDER BY seq",
                            (cid,))
        self.assertEqual([e[0] for e in evs], [1, 2, 3])
        self.assertEqual(len({e[1] for e in evs}), 2, evs)  # two months
        self.assertEqual(evs[0][1], f"case_event_p{last.replace('-', '_')[:7]}")
        self.verify_ok()
        cp = json.loads(self.ctl("audit", "checkpoint", "--json")[0])
        self.assertTrue(json.loads(self.ctl("audit", "verify", "--since", cp["digest"], "--json")[0])["ok"])
        # A change to last month's event breaks the chain there.
        with contextlib.closing(cluster().connect()) as c, c.cursor() as cur:
            cur.execute("SET session_replication_role = replica")
            cur.execute("UPDATE case_event SET note = 'rewritten' WHERE case_id = %s AND seq = 1", (cid,))
        out, _ = self.ctl("audit", "verify", "--json", expect=1)
        res = json.loads(out)
        self.assertEqual((res["ok"], res["case"], res["seq"]), (False, "CBOUNDARY01", 1))


class TestRetentionDrop(WorkedCase):
    def expired_case(self):
        return cluster().sql(
            "INSERT INTO remedy_case (reference, status, category, country) VALUES (%s, 'triaged', "
            "'account_removal', 'KE') RETURNING id", ("C" + os.urandom(5).hex().upper(),))[0][0]

    def close(self, cid, days_ago):
        cluster().sql("UPDATE remedy_case SET closed_at = now() - make_interval(days => %s), "
                      "retention_erased_at = now() - make_interval(days => %s) WHERE id = %s",
                      (days_ago + 30, days_ago, cid))

    def erase(self, gid):
        cluster().sql("UPDATE grievance SET erased_at = now(), description = NULL, contact_enc = NULL, "
                      "request_hash = NULL WHERE id = %s", (gid,))

    def test_triage_drops_a_fully_expired_month_and_keeps_one_with_a_live_row(self):
        gone_month, kept_month, recent_month = month_start(15), month_start(14), month_start(13)
        for m in (gone_month, kept_month, recent_month):
            ensure_month("grievance", m)
        old_case = self.expired_case()
        recent_case = self.expired_case()
        gone = [insert_grievance(f"{gone_month} {h:02d}:00:00+00", case_id=old_case)[0] for h in (1, 2, 3)]
        kept_erased = insert_grievance(f"{kept_month} 05:00:00+00", case_id=old_case)[0]
        kept_live = insert_grievance(f"{kept_month} 06:00:00+00", case_id=self.cid)[0]  # open case, not erased
        recent = insert_grievance(f"{recent_month} 07:00:00+00", case_id=recent_case)[0]
        for gid in gone + [kept_erased, recent]:
            self.erase(gid)
        self.close(old_case, 300)
        self.close(recent_case, 10)  # erased 10 days ago: its skeleton is still within 30 days
        cluster().sql("INSERT INTO triage_decision (case_id, grievance_id, score, band, components, rules_fired, "
                      "rules_version) VALUES (%s, %s, 10, 'P4', '{}', '[]', 'x')", (old_case, gone[0]))
        name = lambda m: f"grievance_p{m.replace('-', '_')[:7]}"
        # skeleton_days = 0 (the default) keeps everything.
        self.assertEqual(cluster().sql("SELECT dropped FROM partition_upkeep(0)", user="redress_triage"), [(0,)])
        config = harness.make_config(os.path.join(self.dir, "drop"), cluster(), **{
            "triage.sweep_interval": "1", "retention.skeleton_days": "30"})
        worker = harness.Process([os.path.join(harness.BUILD, "redress-triage"), "-c", config],
                                 os.path.join(self.dir, "drop.log"), env=self.env)
        self.procs.append(worker)
        t0 = time.monotonic()
        while cluster().sql("SELECT to_regclass(%s) IS NOT NULL", (name(gone_month),))[0][0]:
            self.assertLess(time.monotonic() - t0, 20, "triage did not drop the expired month")
            time.sleep(0.2)
        time.sleep(1.5)  # another sweep or two: nothing else goes
        parts = {p for (p,) in cluster().sql("SELECT partition::text FROM partition_list('grievance')")}
        self.assertNotIn(name(gone_month), parts)
        self.assertIn(name(kept_month), parts)    # one live row keeps the month
        self.assertIn(name(recent_month), parts)  # erased too recently
        left = {g for (g,) in cluster().sql("SELECT id FROM grievance WHERE id = ANY(%s)",
                                            (gone + [kept_erased, kept_live, recent],))}
        self.assertEqual(left, {kept_erased, kept_live, recent})
        # The keys stay: the decision naming a dropped grievance is still valid, its reference unused.
        self.assertEqual(cluster().sql("SELECT count(*) FROM grievance_key WHERE id = ANY(%s)", (gone,)), [(3,)])
        self.assertEqual(cluster().sql("SELECT count(*) FROM triage_decision WHERE grievance_id = %s", (gone[0],)),
                         [(1,)])
        self.assertRegex(worker.output(), r"retention dropped \d+ month\(s\) of erased grievances")
        self.verify_ok()


class TestUpgradeInPlace(unittest.TestCase):
    """An existing database in the old layout (every migration before 015, with data) upgrades."""

    def test_migrations_move_existing_rows(self):
        db = "redress_upgrade"
        with contextlib.closing(cluster().connect()) as c, c.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
            cur.execute(f"CREATE DATABASE {db}")
        sql_dir = os.path.join(harness.ROOT, "sql")
        files = sorted(f for f in os.listdir(sql_dir) if f.endswith(".sql"))
        conn = psycopg2.connect(host=cluster().sock, port=cluster().port, dbname=db, user="postgres")
        try:
            def apply(names):
                for f in names:
                    with open(os.path.join(sql_dir, f)) as fh, conn.cursor() as cur:
                        cur.execute(fh.read())
                    conn.commit()

            def q(sql, params=None):
                with conn.cursor() as cur:
                    cur.execute(sql, params)
                    rows = cur.fetchall() if cur.description else []
                conn.commit()
                return rows
            apply([f for f in files if f < "015"])
            self.assertEqual(q("SELECT relkind FROM pg_class WHERE relname = 'grievance'"), [("r",)])
            cid = q("INSERT INTO remedy_case (reference, category, country) VALUES ('CUPGRADE', 'other', 'KE') "
                    "RETURNING id")[0][0]
            q("INSERT INTO grievance (reference, received_at, channel, country, category, description, receipt_hash, "
              "idempotency_key, case_id) SELECT 'R' || i, now() - make_interval(days => 40 * i), 'api', 'KE', 'other', "
              "'x', '\\x00', 'key-' || i, %s FROM generate_series(1, 6) i", (cid,))
            q("INSERT INTO triage_decision (case_id, grievance_id, score, band, components, rules_fired, rules_version) "
              "SELECT %s, id, 1, 'P4', '{}', '[]', 'x' FROM grievance", (cid,))
            q("INSERT INTO case_event (case_id, action, note) SELECT %s, 'note', 'n' || i FROM generate_series(1, 4) i",
              (cid,))
            before = q("SELECT id, reference, received_at, idempotency_key FROM grievance ORDER BY id")
            events = q("SELECT id, seq, hash FROM case_event ORDER BY id")
            apply([f for f in files if f >= "015"])
            self.assertEqual(q("SELECT relkind FROM pg_class WHERE relname IN ('grievance', 'case_event')"),
                             [("p",), ("p",)])
            self.assertEqual(q("SELECT id, reference, received_at, idempotency_key FROM grievance ORDER BY id"), before)
            self.assertEqual(q("SELECT id, reference, received_at, idempotency_key FROM grievance_key ORDER BY id"),
                             before)
            self.assertEqual(q("SELECT id, seq, hash FROM case_event ORDER BY id"), events)
            # Each row in its own month, six months of grievances.
            wrong = q("SELECT count(*) FROM grievance g JOIN pg_class c ON c.oid = g.tableoid WHERE c.relname <> "
                      "'grievance_p' || to_char(g.received_at AT TIME ZONE 'UTC', 'YYYY_MM')")
            self.assertEqual(wrong, [(0,)])
            self.assertGreaterEqual(q("SELECT count(DISTINCT tableoid) FROM grievance")[0][0], 6)
            # The chain still hashes, and goes on from where it was.
            q("INSERT INTO case_event (case_id, action, note) VALUES (%s, 'note', 'after')", (cid,))
            bad = q("SELECT count(*) FROM case_event e LEFT JOIN case_event p ON p.case_id = e.case_id "
                    "AND p.seq = e.seq - 1 WHERE e.prev_hash IS DISTINCT FROM p.hash OR e.hash <> case_event_hash("
                    "e.prev_hash, e.case_id, e.seq, e.at, e.actor, e.action, e.from_status, e.to_status, e.note)")
            self.assertEqual(bad, [(0,)])
            self.assertEqual(q("SELECT max(seq) FROM case_event"), [(5,)])
            # The sequence goes on after the moved ids, and a retried key is still found.
            self.assertGreater(q("SELECT nextval('grievance_id_seq')")[0][0], before[-1][0])
            self.assertEqual(q("SELECT reference FROM grievance_key WHERE idempotency_key = 'key-3'"), [("R3",)])
        finally:
            conn.close()
            with contextlib.closing(cluster().connect()) as c, c.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS {db}")


if __name__ == "__main__":
    unittest.main()
