"""End-to-end tests of the audit trail's anchor and of erasure (issue 7): mechanism-wide checkpoints
catching deleted or rewritten last events and edited checkpoints, the checkpoint in every export
manifest, erasure on request and after the retention period. Shares test_integrity's fixtures
(members added with redressctl, cases made as postgres the way triage makes them)."""
import contextlib
import json
import os
import subprocess
import time
import unittest

import psycopg2

import harness
from test_integrity import WorkedCase, cluster


class TestCheckpoint(WorkedCase):
    def checkpoint(self):
        out = json.loads(self.ctl("audit", "checkpoint", "--json")[0])
        self.assertRegex(out["digest"], "^[0-9a-f]{64}$")
        return out

    def verify_since(self, since, expect, user=None):
        out, _ = self.ctl("audit", "verify", "--since", str(since), "--json", expect=expect, user=user)
        return json.loads(out)

    def superuser(self, *statements):
        """Runs statements as postgres with every trigger off, as an attacker with the server would."""
        with contextlib.closing(cluster().connect()) as c, c.cursor() as cur:
            cur.execute("SET session_replication_role = replica")
            for sql, params in statements:
                cur.execute(sql, params)

    def test_deleted_last_events_are_found(self):
        self.ctl("case", "note", self.cref, "the last word")
        self.ctl("case", "note", self.other_ref, "another case")
        cp = self.checkpoint()
        self.assertEqual(cp["cases"], 2)
        self.assertEqual(cp["events"], cluster().sql("SELECT count(*) FROM case_event")[0][0])
        self.assertTrue(self.verify_since(cp["digest"], 0)["ok"])
        self.assertTrue(self.verify_since(cp["id"], 0)["ok"])
        # A regulator holding the digest checks it too (links and heads: it reads no note).
        res = self.verify_since(cp["digest"], 0, user="redress_regulator")
        self.assertEqual((res["ok"], res["checked"]), (True, "links"))
        last = self.n_events(self.cid)
        # Delete the case's last two events: every chain still verifies...
        self.superuser(("DELETE FROM case_event WHERE case_id = %s AND seq > %s", (self.cid, last - 2)),)
        self.assertTrue(self.verify_ok()["ok"])
        # ...but not against the checkpoint.
        res = self.verify_since(cp["digest"], 1)
        self.assertEqual((res["ok"], res["case"], res["seq"]), (False, self.cref, last))
        self.assertIn("is gone", res["reason"])
        res = self.verify_since(cp["digest"], 1, user="redress_regulator")
        self.assertEqual((res["ok"], res["case"], res["seq"]), (False, self.cref, last))
        out, _ = self.ctl("audit", "verify", "--since", cp["digest"], expect=1)
        self.assertIn(f"case {self.cref}, event #{last}", out)

    def test_checkpoint_heads_are_each_cases_last_event(self):
        """The heads (sql/028: one ordered pass) are, for every case with events, the event of
        its highest seq, wherever its month put it; a case without events has none."""
        self.ctl("case", "note", self.cref, "the last word")
        # An event a month on, written with the triggers off: it lands in a later partition.
        self.superuser(("INSERT INTO case_event (case_id, seq, at, actor, action, hash) "
                        "SELECT case_id, max(seq) + 1, now() + interval '31 days', 'x', 'note', "
                        "sha256('later'::bytea) FROM case_event WHERE case_id = %s GROUP BY case_id",
                        (self.cid,)))
        self.superuser(("INSERT INTO remedy_case (reference, status, category, country, band, score, "
                        "rules_version, first_received_at, last_received_at, opened_at) VALUES "
                        "('CNOEVENTS01', 'triaged', 'other', 'KE', 'P4', 0, '1', now(), now(), now())", None))
        cp = self.checkpoint()
        heads = cluster().sql("SELECT case_id, seq, hash FROM audit_checkpoint_head "
                              "WHERE checkpoint_id = %s ORDER BY case_id", (cp["id"],))
        expected = cluster().sql(
            "SELECT e.case_id, e.seq, e.hash FROM case_event e JOIN (SELECT case_id, max(seq) AS seq "
            "FROM case_event GROUP BY case_id) m USING (case_id, seq) ORDER BY e.case_id")
        self.assertEqual([(c, s, bytes(h)) for c, s, h in heads], [(c, s, bytes(h)) for c, s, h in expected])
        self.assertIn((self.cid, self.n_events(self.cid)), [(c, s) for c, s, _ in heads])
        self.assertGreater(cluster().sql("SELECT count(DISTINCT tableoid) FROM case_event "
                                         "WHERE case_id = %s", (self.cid,))[0][0], 1)
        self.assertEqual((cp["cases"], cp["events"]), (len(expected), sum(s for _, s, _ in expected)))

    def test_rewritten_chain_and_edited_checkpoint_are_found(self):
        cp = self.checkpoint()
        # Rewrite a note and recompute every later hash of the chain (and its head).
        self.superuser(("UPDATE case_event SET note = 'linked to nobody' WHERE case_id = %s AND seq = 2", (self.cid,)))
        for seq in range(2, self.n_events(self.cid) + 1):
            self.superuser(("UPDATE case_event e SET prev_hash = p.hash, hash = case_event_hash(p.hash, e.case_id, "
                            "e.seq, e.at, e.actor, e.action, e.from_status, e.to_status, e.note) FROM case_event p "
                            "WHERE e.case_id = %s AND e.seq = %s AND p.case_id = e.case_id AND p.seq = e.seq - 1",
                            (self.cid, seq)),)
        self.assertTrue(self.verify_ok()["ok"])
        res = self.verify_since(cp["digest"], 1)
        self.assertEqual((res["case"], res["seq"]), (self.cref, self.n_events(self.cid)))
        self.assertIn("differs", res["reason"])
        self.assertIn("differs", self.verify_since(cp["digest"], 1, user="redress_regulator")["reason"])
        # Editing the checkpoint's stored heads to match is seen through its digest...
        self.superuser(("UPDATE audit_checkpoint_head h SET hash = e.hash FROM case_event e WHERE "
                        "h.checkpoint_id = %s AND e.case_id = h.case_id AND e.seq = h.seq", (cp["id"],)))
        self.assertIn("do not hash to its digest", self.verify_since(cp["digest"], 1)["reason"])
        # ...and so is a recomputed digest, by the one printed and kept outside.
        self.superuser(("UPDATE audit_checkpoint SET digest = encode(sha256(convert_to(("
                        "SELECT string_agg(case_id || '|' || seq || '|' || encode(hash, 'hex') || E'\\n', '' "
                        "ORDER BY case_id) FROM audit_checkpoint_head WHERE checkpoint_id = %s), 'UTF8')), 'hex') "
                        "WHERE id = %s", (cp["id"], cp["id"])),)
        self.assertTrue(self.verify_since(cp["id"], 0)["ok"])  # by id, the edited record verifies...
        self.assertIn("no checkpoint has this digest", self.verify_since(cp["digest"], 1)["reason"])

    def test_a_later_checkpoint_does_not_hide_an_earlier_deletion(self):
        """A checkpoint taken after the tampering vouches for the shorter chain; the one taken
        before still catches it, and the events added since are checked as chains."""
        first = self.checkpoint()
        last = self.n_events(self.cid)
        self.superuser(("DELETE FROM case_event WHERE case_id = %s AND seq = %s", (self.cid, last)),)
        second = self.checkpoint()
        self.assertEqual(second["events"], first["events"] - 1)
        self.assertTrue(self.verify_since(second["digest"], 0)["ok"])
        self.assertEqual(self.verify_since(first["digest"], 1)["seq"], last)
        self.ctl("case", "note", self.cref, "after the deletion")
        self.assertEqual(self.verify_since(first["digest"], 1)["seq"], last)  # the new event reuses its seq

    def test_an_event_slipped_in_with_triggers_off_breaks_the_next_link(self):
        """Each case's chain head (sql/026) is moved by the trigger alone: an event written around
        it, even one that links correctly, leaves the next event appended linked to the one
        before, and verify reports the break."""
        last = self.n_events(self.cid)
        self.superuser(("INSERT INTO case_event (case_id, seq, at, actor, action, note, prev_hash, hash) "
                        "SELECT e.case_id, e.seq + 1, now(), 'x', 'note', 'slipped in', e.hash, "
                        "case_event_hash(e.hash, e.case_id, e.seq + 1, now(), 'x', 'note', NULL::case_status, "
                        "NULL::case_status, 'slipped in') FROM case_event e WHERE e.case_id = %s AND e.seq = %s",
                        (self.cid, last)),)
        self.assertTrue(self.verify_ok()["ok"])  # a correct link, by someone who holds the server
        self.ctl("case", "note", self.cref, "appended after it")
        self.assertEqual(self.n_events(self.cid), last + 2)
        res = json.loads(self.ctl("audit", "verify", "--json", expect=1)[0])
        self.assertEqual((res["ok"], res["case"]), (False, self.cref))

    def test_every_export_manifest_records_a_checkpoint(self):
        path = os.path.join(self.dir, "cases.csv")
        today = time.strftime("%Y-%m-%d", time.gmtime())
        for user in ("redress_regulator", "team_acme_net", "redress_staff"):
            out = json.loads(self.ctl("export", "cases", "--from", "2000-01-01", "--to", today, "-o", path,
                                      "--json", user=user)[0])
            with open(path + ".manifest.json") as f:
                manifest = json.load(f)
            self.assertEqual(manifest["checkpoint"], out["checkpoint"])
            self.assertEqual(manifest["created_by"], user)
            self.assertTrue(self.verify_since(manifest["checkpoint"]["digest"], 0)["ok"])
        self.ctl("export", "stats", "--from", "2000-01-01", "--to", today, "-o", path, user="redress_regulator")
        self.assertEqual(cluster().sql("SELECT count(*), count(checkpoint_id) FROM export_manifest"), [(4, 4)])
        # Nobody forges a manifest or a checkpoint directly.
        for user in ("redress_regulator", "team_acme_net", "redress_staff"):
            for sql in ("INSERT INTO export_manifest (kind, file_name, row_count, sha256, filter, created_at) "
                        "VALUES ('cases', 'x', 1, repeat('a', 64), '{}', '2001-01-01')",
                        "UPDATE export_manifest SET row_count = 0", "DELETE FROM export_manifest",
                        "INSERT INTO audit_checkpoint (cases, events, digest) VALUES (0, 0, repeat('a', 64))",
                        "DELETE FROM audit_checkpoint", "UPDATE audit_checkpoint_head SET seq = 1",
                        "SELECT nextval('export_manifest_id_seq')"):
                self.refused(user, sql)
        self.assertEqual(cluster().sql("SELECT count(*) FROM export_manifest"), [(4,)])



class TestErasure(WorkedCase):
    SKELETON = ("id, reference, received_at, channel, language, country, category, rights, companies, services, "
                "people_affected, ongoing, started_on, vulnerability, complainant_type, share_with_members, "
                "share_with_regulator, receipt_hash, idempotency_key, case_id, triaged_at")

    def row(self, ref):
        return cluster().sql(f"SELECT {self.SKELETON} FROM grievance WHERE reference = %s", (ref,))[0]

    def test_staff_erase_keeps_the_skeleton_and_the_trail_verifies(self):
        ref = self.submit(description="I can be identified by this story", idempotency_key="k-erase-1",
                          request_hash="ab" * 32)
        cid, cref = self.make_case(ref)
        cp = json.loads(self.ctl("audit", "checkpoint", "--json")[0])
        before = self.row(ref)
        self.ctl("grievance", "erase", ref, expect=2)  # the reason is required
        for user in ("team_acme_net", "redress_regulator", "redress_intake", "redress_triage"):
            self.refused(user, "SELECT * FROM grievance_erase(%s, 'asked')", (ref,))
        out = json.loads(self.ctl("grievance", "erase", ref.lower(), "--reason", "the complainant asked on 1 Dec",
                                  "--json")[0])
        self.assertEqual((out["reference"], out["case"]), (ref, cref))
        self.assertEqual(self.row(ref), before)
        self.assertEqual(cluster().sql("SELECT description, contact_enc, request_hash, erased_at IS NOT NULL "
                                       "FROM grievance WHERE reference = %s", (ref,)), [(None, None, None, True)])
        ev = cluster().sql("SELECT actor, action, note FROM case_event WHERE case_id = %s ORDER BY seq DESC LIMIT 1",
                           (cid,))[0]
        self.assertEqual(ev[:2], ("redress_staff", "erased"))
        self.assertIn(ref, ev[2])
        self.assertIn("the complainant asked", ev[2])
        self.verify_ok()
        self.assertTrue(json.loads(self.ctl("audit", "verify", "--since", cp["digest"], "--json")[0])["ok"])
        _, err = self.ctl("grievance", "erase", ref, "--reason", "again", expect=1)
        self.assertIn("already erased", err)
        loose = self.submit()
        _, err = self.ctl("grievance", "erase", loose, "--reason", "asked", expect=1)
        self.assertIn("not in a case yet", err)
        self.assertIsNotNone(cluster().sql("SELECT description FROM grievance WHERE reference = %s", (loose,))[0][0])
        show = json.loads(self.ctl("case", "show", cref, "--json")[0])
        self.assertEqual(show["grievances"]["sample"][0]["reference"], ref)

    def test_the_immutability_trigger_permits_exactly_an_erasure(self):
        ref = self.submit()
        self.make_case(ref)
        erase = "erased_at = now(), contact_enc = NULL, description = NULL, request_hash = NULL"
        for sets in ("description = 'rewritten'", "contact_enc = NULL", "erased_at = now()",
                     "erased_at = now(), description = NULL",
                     erase + ", category = 'other'", erase + ", received_at = now()",
                     erase + ", companies = '{}'", erase + ", share_with_regulator = true",
                     erase + ", case_id = NULL"):
            with self.assertRaises(psycopg2.Error, msg=sets):  # even the superuser, triggers on
                cluster().sql(f"UPDATE grievance SET {sets} WHERE reference = %s", (ref,))
        cluster().sql(f"UPDATE grievance SET {erase} WHERE reference = %s", (ref,))
        for sets in ("erased_at = NULL", "description = 'back'", "erased_at = now()", "contact_enc = '\\x00'"):
            with self.assertRaises(psycopg2.Error, msg=sets):
                cluster().sql(f"UPDATE grievance SET {sets} WHERE reference = %s", (ref,))
        with self.assertRaises(psycopg2.Error):
            cluster().sql("DELETE FROM grievance WHERE reference = %s", (ref,))

    def closed_case(self, category, days_ago):
        ref = self.submit(category=category)
        cid, cref = self.make_case(ref)
        self.ctl("case", "transition", cref, "rejected", "--note", "out of scope")
        cluster().sql("UPDATE remedy_case SET closed_at = now() - make_interval(days => %s) WHERE id = %s",
                      (days_ago, cid))
        return ref, cid

    def test_triage_sweep_erases_by_category_after_closing(self):
        due, due_case = self.closed_case("account_removal", 40)        # default 30 days: erased
        recent, _ = self.closed_case("account_removal", 10)            # not yet
        longer, _ = self.closed_case("data_breach", 100)               # its category keeps 400 days
        forever, _ = self.closed_case("network_shutdown", 5000)         # 0: kept for good
        still_open = self.submit(category="account_removal")
        open_id, _ = self.make_case(still_open)
        cluster().sql("UPDATE remedy_case SET opened_at = now() - interval '900 days' WHERE id = %s", (open_id,))
        for user in ("team_acme_net", "redress_regulator", "redress_intake"):
            self.refused(user, "SELECT retention_sweep('{\"default\": 1}')")
        config = harness.make_config(os.path.join(self.dir, "retention"), cluster(), **{
            "triage.sweep_interval": "1", "retention.default_days": "30",
            "retention.categories": "data_breach:400, network_shutdown:0"})
        worker = harness.Process([os.path.join(harness.BUILD, "redress-triage"), "-c", config],
                                 os.path.join(self.dir, "retention.log"), env=self.env)
        self.procs.append(worker)
        t0 = time.monotonic()
        while cluster().sql("SELECT erased_at IS NULL FROM grievance WHERE reference = %s", (due,))[0][0]:
            self.assertLess(time.monotonic() - t0, 20, "the sweep did not erase the due grievance")
            time.sleep(0.2)
        time.sleep(1.5)  # another sweep or two: nothing else is due
        erased = {r: e for r, e in cluster().sql("SELECT reference, erased_at IS NOT NULL FROM grievance "
                                                 "WHERE reference = ANY(%s)",
                                                 ([due, recent, longer, forever, still_open],))}
        self.assertEqual(erased, {due: True, recent: False, longer: False, forever: False, still_open: False})
        evs = cluster().sql("SELECT actor, note FROM case_event WHERE case_id = %s AND action = 'erased'",
                            (due_case,))
        self.assertEqual(len(evs), 1)
        self.assertEqual(evs[0][0], "redress_triage")
        self.assertIn("30 days", evs[0][1])
        self.assertEqual(cluster().sql("SELECT count(*) FROM case_event WHERE action = 'erased'"), [(1,)])
        self.verify_ok()
        self.assertNotIn("My account was removed", worker.output())  # no narrative in the log

    def test_bad_retention_config_is_refused(self):
        config = harness.make_config(os.path.join(self.dir, "badret"), cluster(), **{
            "retention.categories": "data_breach=400"})
        p = subprocess.run([os.path.join(harness.BUILD, "redress-triage"), "-c", config, "--check"],
                           capture_output=True, text=True, env=self.env, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("[retention] categories", p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
