"""End-to-end tests of the complainant's side of a case (issue 8): the story on the status page,
messages both ways, answers to remedies, appeals, feedback, contact details under audit. Over
HTTPS to the real redress-intake, redressctl as staff and as member teams, and plain SQL as each
role. Cases are made as redress-triage would (test_admin's helper) so each test controls them."""
import contextlib
import hashlib
import json
import os
import random
import subprocess

import psycopg2

import harness
from test_admin import AdminBase, SECRET_EMAIL, reference_with_check

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
MSG_TEXT = "The tower near the market is still down; my shop cannot take mobile payments."


def cluster():
    return harness.CLUSTER


def new_receipt():
    return "".join(random.SystemRandom().choice(CROCKFORD) for _ in range(26))


class EngagementBase(AdminBase):
    def setUp(self):
        super().setUp()
        self.add_members()

    def file(self, consent=True, anonymous=False, description=None):
        """Files a grievance over HTTPS; returns (reference, receipt)."""
        body = {"description": description or "My account was removed after I posted about the strike.",
                "category": "account_removal", "country": "KE", "people_affected": 1,
                "consent": {"share_with_members": consent, "share_with_regulator": False}}
        if anonymous:
            body["complainant_type"] = "anonymous"
        else:
            body["contact"] = {"email": SECRET_EMAIL, "name": "Nadia W."}
        st, _, data = self.intake.request("POST", "/v1/grievances", json.dumps(body),
                                          {"Content-Type": "application/json"})
        self.assertEqual(st, 201, data)
        d = json.loads(data)
        return d["reference"], d["receipt"]

    def story(self, ref, receipt, expect=200):
        st, _, data = self.intake.request("GET", "/v1/grievances/" + ref,
                                          headers={"Authorization": "Receipt " + receipt})
        self.assertEqual(st, expect, data)
        return json.loads(data)

    def act(self, ref, receipt, path, body, expect=201, headers=None, raw=None):
        h = {"Content-Type": "application/json"}
        if receipt is not None:
            h["Authorization"] = "Receipt " + receipt
        h.update(headers or {})
        st, hdrs, data = self.intake.request("POST", f"/v1/grievances/{ref}/{path}",
                                             raw if raw is not None else json.dumps(body), h)
        self.assertEqual(st, expect, data)
        return json.loads(data) if data else None, hdrs

    def open_case(self, gref, lead="acme-net", co=None):
        cref = self.triage(gref)
        self.ctl("case", "assign", cref, "--member", lead, "--role", "lead", "--involvement", "caused")
        if co:
            self.ctl("case", "assign", cref, "--member", co, "--role", "co-owner", "--involvement", "linked")
        return cref

    def to_remedy(self, cref, details="Restore the account and apologise"):
        self.ctl("case", "transition", cref, "investigating")
        self.ctl("remedy", "propose", cref, "--type", "restoration", "--details", details)
        return cluster().sql("SELECT r.id FROM remedy r JOIN remedy_case c ON c.id = r.case_id "
                             "WHERE c.reference = %s ORDER BY r.id DESC LIMIT 1", (cref,))[0][0]

    def counts(self):
        return cluster().sql("SELECT (SELECT count(*) FROM case_message), (SELECT count(*) FROM remedy_response), "
                             "(SELECT count(*) FROM appeal), (SELECT count(*) FROM feedback), "
                             "(SELECT count(*) FROM case_event), (SELECT count(*) FROM complainant_request)")[0]

    def assert_no_secret_in_logs(self, *secrets):
        log = self.intake.output()
        for s in secrets:
            self.assertNotIn(s, log)


# The config is written by AdminBase.setUpClass through harness.make_config; hook the overrides in.
_orig_make_config = harness.make_config


def _make_config(dirpath, c, **overrides):
    if "redress-admin-test-" in dirpath and _make_config.extra is not None:
        overrides.update(_make_config.extra)
    return _orig_make_config(dirpath, c, **overrides)


_make_config.extra = None


class EngagementCase(EngagementBase):
    @classmethod
    def setUpClass(cls):
        _make_config.extra = {"engagement.messages_per_day": "4", "engagement.message_max_chars": "500",
                              "engagement.appeal_window_days": "30"}
        harness.make_config = _make_config
        try:
            super().setUpClass()
        finally:
            harness.make_config = _orig_make_config
            _make_config.extra = None
        assert cls.intake, "redress-intake must run for these tests"


class TestStoryAndDialogue(EngagementCase):
    def test_full_dialogue_with_an_anonymous_complainant(self):
        ref, receipt = self.file(anonymous=True)
        st = self.story(ref, receipt)
        self.assertEqual(st["status"], "received")
        self.assertEqual([h["status"] for h in st["history"]], ["received"])
        for key in ("history", "owners", "priority", "next_deadline", "remedies", "messages"):
            self.assertIn(key, st)
        # Before triage nobody can be written to.
        body, _ = self.act(ref, receipt, "messages", {"text": "hello?"}, expect=409)
        self.assertEqual(body["error"]["code"], "not_yet_assessed")

        cref = self.open_case(ref, co="beta-social")
        st = self.story(ref, receipt)
        self.assertEqual(st["status"], "assigned")
        self.assertEqual([h["status"] for h in st["history"]], ["received", "triaged", "assigned"])
        owners = {o["member"]: o for o in st["owners"]}
        self.assertEqual(owners["acme-net"]["role"], "lead")
        self.assertEqual(owners["acme-net"]["involvement_text"], "caused the harm")
        self.assertEqual(owners["acme-net"]["name"], "Acme Net")
        self.assertIn("directly linked", owners["beta-social"]["involvement_text"])
        self.assertEqual(st["priority"]["band"], "P2")
        self.assertIn("account removed after speech", st["priority"]["reason"])
        self.assertEqual(st["next_deadline"]["stage"], "first_response")
        self.assertFalse(st["next_deadline"]["overdue"])

        # The team writes, the person answers, the team reads.
        out = self.ctl_json("message", "send", ref, "--text", "We are looking at your account now.",
                            user="team_acme_net")
        self.assertEqual(out["recipients"], 1)
        body, hdrs = self.act(ref, receipt, "messages", {"text": MSG_TEXT},
                              headers={"Idempotency-Key": "msg-1"})
        self.assertIn("message_id", body)
        again, hdrs2 = self.act(ref, receipt, "messages", {"text": MSG_TEXT},
                                headers={"Idempotency-Key": "msg-1"})
        self.assertEqual(again["message_id"], body["message_id"])
        self.assertEqual(hdrs2.get("idempotent-replayed"), "true")
        conflict, _ = self.act(ref, receipt, "messages", {"text": "other"}, expect=409,
                               headers={"Idempotency-Key": "msg-1"})
        self.assertEqual(conflict["error"]["field"], "Idempotency-Key")
        st = self.story(ref, receipt)
        self.assertEqual([(m["from"], m["text"]) for m in st["messages"]],
                         [("case_team", "We are looking at your account now."), ("you", MSG_TEXT)])
        listed = self.ctl_json("message", "list", cref, user="team_beta_social")
        self.assertEqual([m["text"] for m in listed], ["We are looking at your account now.", MSG_TEXT])
        self.assertEqual(listed[1]["direction"], "from_complainant")
        self.assertEqual(cluster().sql("SELECT count(*) FROM case_message"), [(2,)])
        # An informed member may read but not write.
        self.ctl("member", "add", "gamma-video", "--name", "Gamma Video", "--sector", "platform")
        self.ctl("case", "assign", cref, "--member", "gamma-video", "--role", "informed",
                 "--involvement", "linked")
        _, err = self.ctl("message", "send", ref, "--text", "hi", user="team_gamma_video", expect=1)
        self.assertIn("informed", err)

        # Every message is in the audit trail, without its text; the chain verifies.
        notes = [n for (n,) in cluster().sql(
            "SELECT e.note FROM case_event e JOIN remedy_case c ON c.id = e.case_id "
            "WHERE c.reference = %s AND e.action = 'message' ORDER BY e.seq", (cref,))]
        self.assertEqual(len(notes), 2)
        self.assertTrue(all(MSG_TEXT not in n for n in notes))
        actors = [a for (a,) in cluster().sql(
            "SELECT e.actor FROM case_event e JOIN remedy_case c ON c.id = e.case_id "
            "WHERE c.reference = %s AND e.action = 'message' ORDER BY e.seq", (cref,))]
        self.assertEqual(actors, ["team_acme_net", "redress_intake"])
        self.assertTrue(self.ctl_json("audit", "verify")["ok"])
        # Never logged, never exported.
        self.assert_no_secret_in_logs(MSG_TEXT, receipt)
        out_csv = os.path.join(self.dir, "cases.csv")
        self.ctl("export", "cases", "--from", "2000-01-01", "--to", "2100-01-01", "--with-narrative",
                 "-o", out_csv)
        self.assertNotIn(MSG_TEXT, open(out_csv, encoding="utf-8").read())

    def test_message_limits(self):
        ref, receipt = self.file()
        self.open_case(ref)
        before = self.counts()
        body, _ = self.act(ref, receipt, "messages", {"text": "x" * 501}, expect=422)
        self.assertEqual((body["error"]["field"], body["error"]["code"]), ("text", "too_long"))
        body, _ = self.act(ref, receipt, "messages", {"text": "   "}, expect=422)
        self.assertEqual(body["error"]["field"], "text")
        self.assertEqual(self.counts(), before)
        self.act(ref, receipt, "messages", {"text": "é" * 500})  # characters, not bytes
        for i in range(3):
            self.act(ref, receipt, "messages", {"text": f"message {i}"})
        body, hdrs = self.act(ref, receipt, "messages", {"text": "one too many"}, expect=429)
        self.assertEqual(body["error"]["code"], "too_many_messages")
        self.assertGreater(int(hdrs["retry-after"]), 80000)
        self.assertEqual(cluster().sql("SELECT count(*) FROM case_message WHERE direction = 'from_complainant'"),
                         [(4,)])


class TestRemediesAndAppeals(EngagementCase):
    def test_remedy_accepted_by_the_person(self):
        ref, receipt = self.file()
        cref = self.open_case(ref)
        rid = self.to_remedy(cref)
        st = self.story(ref, receipt)
        self.assertEqual(st["remedies"][0]["id"], rid)
        self.assertTrue(st["remedies"][0]["can_respond"])
        self.assertEqual(st["remedies"][0]["details"], "Restore the account and apologise")
        body, _ = self.act(ref, receipt, f"remedies/{rid}", {"decision": "accept", "comment": "Thank you"})
        self.assertEqual(body["status"], "remedy_accepted")
        self.assertEqual(self.status(cref), "remedy_accepted")
        self.assertEqual(cluster().sql("SELECT decision, channel, comment, recorded_by FROM remedy_response"),
                         [("accept", "online", "Thank you", "redress_intake")])
        self.assertEqual(cluster().sql("SELECT status FROM remedy WHERE id = %s", (rid,)), [("accepted",)])
        ev = cluster().sql("SELECT e.actor, e.note FROM case_event e WHERE e.action = 'remedy_response'")
        self.assertEqual(ev[0][0], "redress_intake")
        self.assertIn("by the complainant (online", ev[0][1])
        body, _ = self.act(ref, receipt, f"remedies/{rid}", {"decision": "decline"}, expect=409)
        self.assertEqual(body["error"]["code"], "already_answered")
        st = self.story(ref, receipt)
        self.assertEqual(st["remedies"][0]["your_response"]["decision"], "accept")
        self.assertFalse(st["remedies"][0]["can_respond"])

    def test_remedy_declined_then_appealed(self):
        ref, receipt = self.file()
        cref = self.open_case(ref)
        rid = self.to_remedy(cref)
        body, _ = self.act(ref, receipt, "appeal", {"reason": "too early"}, expect=409)
        self.assertEqual(body["error"]["code"], "not_appealable")
        self.act(ref, receipt, f"remedies/{rid}", {"decision": "decline", "comment": "The apology is not enough"})
        self.assertEqual(self.status(cref), "remedy_declined")
        st = self.story(ref, receipt)
        self.assertTrue(st["can_appeal"]["allowed"])
        body, _ = self.act(ref, receipt, "appeal", {"reason": "I lost a month of income."})
        self.assertEqual(body["status"], "appealed")
        self.assertEqual(cluster().sql("SELECT status::text, mechanism_queue FROM remedy_case WHERE reference = %s",
                                       (cref,)), [("appealed", True)])
        queue = self.ctl_json("queue", "--status", "appealed")
        self.assertEqual([q["reference"] for q in queue], [cref])
        body, _ = self.act(ref, receipt, "appeal", {"reason": "again"}, expect=409)
        self.assertEqual(body["error"]["code"], "already_appealed")
        st = self.story(ref, receipt)
        self.assertEqual(st["appeals"][0]["against"], "remedy_declined")
        self.assertEqual([h["status"] for h in st["history"]][-2:], ["remedy_declined", "appealed"])
        self.assertTrue(self.ctl_json("audit", "verify")["ok"])

    def test_decision_by_phone_recorded_as_such(self):
        ref, receipt = self.file()
        cref = self.open_case(ref)
        rid = self.to_remedy(cref)
        _, err = self.ctl("remedy", "respond", ref, str(rid), "accept", expect=2)
        self.assertIn("--via", err)
        out = self.ctl_json("remedy", "respond", ref, str(rid), "accept", "--via", "phone",
                            "--comment", "said yes on the phone", user="team_acme_net")
        self.assertEqual(out["status"], "remedy_accepted")
        self.assertEqual(cluster().sql("SELECT channel, recorded_by FROM remedy_response"),
                         [("phone", "team_acme_net")])
        st = self.story(ref, receipt)
        self.assertEqual(st["remedies"][0]["your_response"]["channel"], "phone")
        body, _ = self.act(ref, receipt, f"remedies/{rid}", {"decision": "decline"}, expect=409)

    def test_appeal_after_the_window_is_refused(self):
        ref, receipt = self.file()
        cref = self.open_case(ref)
        self.ctl("case", "transition", cref, "rejected", "--note", "outside the mechanism's scope")
        st = self.story(ref, receipt)
        self.assertEqual(st["outcome"]["status"], "rejected")
        self.assertEqual(st["outcome"]["reason"], "outside the mechanism's scope")
        # Time passes: the decision is 31 days old (the test config's window is 30 days). Only the
        # superuser can do this, with triggers off; it breaks the chain, which is not checked here.
        with contextlib.closing(cluster().connect()) as c, c.cursor() as cur:
            cur.execute("SET session_replication_role = replica")
            cur.execute("UPDATE case_event SET at = at - interval '31 days' WHERE to_status = 'rejected'")
        before = self.counts()
        body, _ = self.act(ref, receipt, "appeal", {"reason": "please look again"}, expect=409)
        self.assertEqual(body["error"]["code"], "appeal_window_closed")
        self.assertIn("30 days", body["error"]["message"])
        self.assertEqual(self.counts(), before)
        self.assertEqual(self.status(cref), "rejected")
        self.assertFalse(self.story(ref, receipt)["can_appeal"]["allowed"])


class TestFeedback(EngagementCase):
    def test_feedback_once_after_closure(self):
        ref, receipt = self.file()
        cref = self.open_case(ref)
        body, _ = self.act(ref, receipt, "feedback", {"rating": 4}, expect=409)
        self.assertEqual(body["error"]["code"], "not_closed")
        self.ctl("case", "transition", cref, "referred", "--note", "to the national data protection authority")
        st = self.story(ref, receipt)
        self.assertIn("data protection authority", st["outcome"]["reason"])
        self.assertTrue(st["feedback"]["allowed"])
        before = self.counts()
        for bad in ({"rating": 0}, {"rating": 6}, {"rating": "4"}, {"rating": 4.5}, {}, {"rating": 4, "stars": 5}):
            body, _ = self.act(ref, receipt, "feedback", bad, expect=422)
            self.assertIn(body["error"]["field"], ("rating", "stars"), bad)
        self.assertEqual(self.counts(), before)
        self.act(ref, receipt, "feedback", {"rating": 4, "comment": "Clear and quick"})
        body, _ = self.act(ref, receipt, "feedback", {"rating": 5}, expect=409)
        self.assertEqual(body["error"]["code"], "feedback_given")
        self.assertEqual(cluster().sql("SELECT rating, comment FROM feedback"), [(4, "Clear and quick")])
        st = self.story(ref, receipt)
        self.assertEqual(st["feedback"]["given"]["rating"], 4)
        self.assertFalse(st["feedback"]["allowed"])


class TestCollectiveAnnouncement(EngagementCase):
    def test_announcement_to_1000_grievances_is_stored_once(self):
        receipts = [new_receipt() for _ in range(1000)]
        rows = [{"n": i + 1, "reference": None, "channel": "api", "country": "KE", "category": "network_shutdown",
                 "description": f"No mobile data in our district since Monday ({i})", "people_affected": 1,
                 "share_with_members": i % 2 == 0, "share_with_regulator": False,
                 "receipt_hash": hashlib.sha256(r.encode()).hexdigest()} for i, r in enumerate(receipts)]
        refs = []
        for row in rows:
            row["reference"] = reference_with_check("".join(random.choice(CROCKFORD) for _ in range(10)))
            refs.append(row["reference"])
        cluster().sql("SELECT count(*) FROM intake_submit(%s::jsonb)", (json.dumps(rows),))
        cref = self.triage(refs[0])
        cluster().sql("UPDATE grievance SET case_id = (SELECT id FROM remedy_case WHERE reference = %s), "
                      "triaged_at = now() WHERE reference = ANY(%s)", (cref, refs))
        cluster().sql("UPDATE remedy_case SET grievance_count = 1000, collective = true WHERE reference = %s", (cref,))
        self.ctl("case", "assign", cref, "--member", "acme-net", "--role", "lead", "--involvement", "caused")
        text = "Service was restored in the district at 14:00 today; data refunds follow."
        _, err = self.ctl("message", "send", cref, "--text", text, expect=1)
        self.assertIn("--all", err)
        out = self.ctl_json("message", "send", cref, "--all", "--text", text, user="team_acme_net")
        self.assertEqual(out["recipients"], 1000)
        self.assertEqual(cluster().sql("SELECT count(*), count(*) FILTER (WHERE grievance_id IS NULL) "
                                       "FROM case_message"), [(1, 1)])
        # Every one of the 1000 complainants sees it, through the intake's own function ...
        import time
        t0 = time.monotonic()
        seen = cluster().sql(
            "SELECT count(*) FROM unnest(%s::text[], %s::text[]) AS u(ref, rh) "
            "WHERE grievance_story(u.ref, decode(u.rh, 'hex')) -> 'messages' @> %s::jsonb",
            (refs, [hashlib.sha256(r.encode()).hexdigest() for r in receipts],
             json.dumps([{"text": text, "to_everyone": True}])), user="redress_intake")
        self.assertEqual(seen, [(1000,)])
        print(f"\n    1000 stories of a 1000-grievance case read in {time.monotonic() - t0:.2f} s", end=" ")
        # ... and over HTTPS.
        for i in random.Random(8).sample(range(1000), 15):
            st = self.story(refs[i], receipts[i])
            self.assertEqual([m["text"] for m in st["messages"]], [text])
            self.assertTrue(st["collective"])
        # The team reads the announcement, and a complainant's own message only with consent.
        self.act(refs[0], receipts[0], "messages", {"text": "consented message"})
        self.act(refs[1], receipts[1], "messages", {"text": "private message"})
        listed = [m["text"] for m in self.ctl_json("message", "list", cref, user="team_acme_net")]
        self.assertEqual(listed, [text, "consented message"])
        staff = [m["text"] for m in self.ctl_json("message", "list", cref)]
        self.assertEqual(staff, [text, "consented message", "private message"])


class TestConsent(EngagementCase):
    def test_team_without_consent_reads_nothing_of_the_person(self):
        ref, receipt = self.file(consent=False)
        cref = self.open_case(ref)
        rid = self.to_remedy(cref)
        self.act(ref, receipt, "messages", {"text": MSG_TEXT})
        self.act(ref, receipt, f"remedies/{rid}", {"decision": "decline", "comment": "secret comment"})
        self.act(ref, receipt, "appeal", {"reason": "secret reason"})
        # Plain SQL as the owning team: no row of the person's words.
        for table in ("case_message", "remedy_response", "appeal"):
            self.assertEqual(cluster().sql(f"SELECT count(*) FROM {table}", user="team_acme_net"), [(0,)], table)
            self.assertEqual(cluster().sql(f"SELECT count(*) FROM {table}", user="redress_staff"), [(1,)], table)
        with contextlib.closing(cluster().connect("team_acme_net")) as c, c.cursor() as cur:
            for sql in ("INSERT INTO case_message (case_id, direction, body) VALUES (1, 'to_complainant', 'x')",
                        "UPDATE case_message SET body = 'x'", "DELETE FROM appeal",
                        "SELECT * FROM complainant_act('X', '\\x00', 'message', '{}', NULL, NULL, '{}')",
                        "SELECT * FROM grievance_story('X', '\\x00')"):
                with self.assertRaises(psycopg2.Error, msg=sql):
                    cur.execute(sql)
        self.assertEqual(self.ctl_json("message", "list", cref, user="team_acme_net"), [])
        _, err = self.ctl("message", "send", ref, "--text", "hello", user="team_acme_net", expect=1)
        self.assertIn("consent", err)
        _, err = self.ctl("contact", "show", ref, "--reason", "call back", user="team_acme_net", expect=1)
        self.assertIn("consent", err)
        # Staff read everything; reading the contact is audited with its reason.
        self.assertEqual([m["text"] for m in self.ctl_json("message", "list", ref)], [MSG_TEXT])
        _, err = self.ctl("contact", "show", ref, expect=2)
        self.assertIn("--reason", err)
        out = self.ctl_json("contact", "show", ref, "--reason", "to arrange the appeal hearing")
        self.assertEqual(out["contact"]["email"], SECRET_EMAIL)
        ev = cluster().sql("SELECT actor, note FROM case_event WHERE action = 'contact_read'")
        self.assertEqual(len(ev), 1)
        self.assertEqual(ev[0][0], "redress_staff")
        self.assertIn("to arrange the appeal hearing", ev[0][1])
        self.assertNotIn(SECRET_EMAIL, ev[0][1])

    def test_team_with_consent_reads_contact(self):
        ref, _ = self.file(consent=True)
        self.open_case(ref)
        out = self.ctl_json("contact", "show", ref, "--reason", "to agree the refund", user="team_acme_net")
        self.assertEqual(out["contact"]["name"], "Nadia W.")
        _, err = self.ctl("contact", "show", ref, "--reason", "to call", user="team_beta_social", expect=1)
        self.assertIn("no case or grievance", err)


class TestBadInputs(EngagementCase):
    def test_every_bad_input_is_refused_and_stores_nothing(self):
        ref, receipt = self.file()
        cref = self.open_case(ref)
        rid = self.to_remedy(cref)
        other_ref, other_receipt = self.file()
        before = self.counts()
        paths = {"messages": {"text": "hi"}, f"remedies/{rid}": {"decision": "accept"},
                 "appeal": {"reason": "r"}, "feedback": {"rating": 3}}
        for path, good in paths.items():
            # Who: no receipt, a wrong one, another grievance's, an unknown reference: all 404.
            self.act(ref, None, path, good, expect=404)
            self.act(ref, new_receipt(), path, good, expect=404)
            self.act(ref, other_receipt, path, good, expect=404)
            self.act("7K3QMZ9X2FA", receipt, path, good, expect=404)
            self.act(ref, "not a receipt", path, good, expect=404)
            # What: the shape of the request.
            self.act(ref, receipt, path, good, expect=415, headers={"Content-Type": "text/plain"})
            self.act(ref, receipt, path, None, expect=400, raw="{not json")
            self.act(ref, receipt, path, None, expect=400, raw="[1, 2]")
            self.act(ref, receipt, path, None, expect=400, raw='{"a": 1, "a": 2}')
            self.act(ref, receipt, path, None, expect=400, raw=b'{"text": "\xff"}')
            body, _ = self.act(ref, receipt, path, dict(good, extra="x"), expect=422)
            self.assertEqual(body["error"]["field"], "extra")
            self.act(ref, receipt, path, good, expect=400, headers={"Idempotency-Key": "bad key"})
            st, hdrs, _ = self.intake.request("GET", f"/v1/grievances/{ref}/{path}")
            self.assertEqual((st, hdrs.get("allow")), (405, "POST"))
        for bad in ({"text": 5}, {"text": ["a"]}, {"text": "a\x07b"}, {}):
            body, _ = self.act(ref, receipt, "messages", bad, expect=422)
            self.assertEqual(body["error"]["field"], "text", bad)
        for bad in ({"decision": "maybe"}, {"decision": 1}, {}, {"decision": "accept", "comment": "x" * 501}):
            body, _ = self.act(ref, receipt, f"remedies/{rid}", bad, expect=422)
            self.assertIn(body["error"]["field"], ("decision", "comment"), bad)
        self.act(ref, receipt, f"remedies/{rid + 100}", {"decision": "accept"}, expect=404)
        for path in ("remedies/abc", "remedies/", "remedies/01", "nonsense", "messages/1"):
            self.act(ref, receipt, path, {"decision": "accept"}, expect=404)
        body, _ = self.act(ref, receipt, "appeal", {"reason": ""}, expect=422)
        self.assertEqual(body["error"]["field"], "reason")
        self.assertEqual(self.counts(), before)
        self.assertEqual(self.status(cref), "remedy_proposed")
        self.assert_no_secret_in_logs(receipt, other_receipt)


class TestStats(EngagementCase):
    def test_export_stats_reports_satisfaction_appeals_and_acceptance(self):
        # Case 1 (acme-net): remedy accepted, closed, rated 5. Case 2 (beta-social): remedy declined,
        # appealed. Case 3 (acme-net): rejected, rated 2, not appealed.
        r1, k1 = self.file()
        c1 = self.open_case(r1)
        rid = self.to_remedy(c1)
        self.act(r1, k1, f"remedies/{rid}", {"decision": "accept"})
        self.ctl("remedy", "record", c1, "implemented")
        self.ctl("case", "transition", c1, "closed")
        self.act(r1, k1, "feedback", {"rating": 5})
        r2, k2 = self.file()
        c2 = self.open_case(r2, lead="beta-social")
        rid2 = self.to_remedy(c2)
        self.act(r2, k2, f"remedies/{rid2}", {"decision": "decline"})
        self.act(r2, k2, "appeal", {"reason": "not enough"})
        r3, k3 = self.file()
        c3 = self.open_case(r3)
        self.ctl("case", "transition", c3, "rejected", "--note", "out of scope")
        self.act(r3, k3, "feedback", {"rating": 2, "comment": "Nobody explained why"})
        for user in (None, "redress_regulator"):
            path = os.path.join(self.dir, f"stats-{user}.csv")
            self.ctl("export", "stats", "--from", "2000-01-01", "--to", "2100-01-01", "-o", path, user=user)
            rows = {(m, k): v for m, k, v in list(csv_rows(path))[1:]}
            self.assertEqual(rows[("feedback_count", "all")], "2", user)
            self.assertEqual(rows[("satisfaction_mean", "all")], "3.50")
            self.assertEqual(rows[("satisfaction_mean_by_member", "acme-net")], "3.50")
            self.assertEqual(rows[("satisfaction_mean_by_category", "account_removal")], "3.50")
            self.assertEqual(rows[("appeal_rate", "all")], "0.3333")
            self.assertEqual(rows[("appeal_rate_by_member", "beta-social")], "1.0000")
            self.assertEqual(rows[("appeal_rate_by_member", "acme-net")], "0.0000")
            self.assertEqual(rows[("remedy_acceptance_rate", "all")], "0.5000")
            self.assertEqual(rows[("remedy_acceptance_rate_by_member", "acme-net")], "1.0000")
            self.assertEqual(rows[("remedy_acceptance_rate_by_member", "beta-social")], "0.0000")
            text = open(path, encoding="utf-8").read()
            self.assertNotIn("Nobody explained why", text)
            self.assertNotIn("not enough", text)


class TestPriorityInWords(EngagementCase):
    """The priority's reasons, from the real redress-triage, said in the person's language."""

    def test_reasons_from_the_real_triage_in_every_channel(self):
        taxonomy = json.load(open(os.path.join(harness.ROOT, "config", "taxonomy.json"), encoding="utf-8"))
        defender = next(v["label"] for v in taxonomy["vulnerability"] if v["id"] == "human_rights_defender")
        body = {"description": "My live location was shown to the account that threatens me.",
                "category": "identity_exposure", "country": "KE", "people_affected": 1, "ongoing": True,
                "vulnerability": ["human_rights_defender"], "immediate_danger": True,
                "complainant_type": "anonymous"}
        st, _, data = self.intake.request("POST", "/v1/grievances", json.dumps(body),
                                          {"Content-Type": "application/json"})
        self.assertEqual(st, 201, data)
        ref, receipt = json.loads(data)["reference"], json.loads(data)["receipt"]
        triage = subprocess.run([os.path.join(harness.BUILD, "redress-triage"), "-c", self.config, "--once"],
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(triage.returncode, 0, triage.stderr[-2000:])

        prio = self.story(ref, receipt)["priority"]
        self.assertEqual(prio["band"], "P1")
        rules = [f["rule"] for f in prio["factors"]]
        self.assertEqual(rules[0], "immediate_danger")  # the person's own word first
        self.assertLessEqual(len(rules), 4)
        self.assertIn("vulnerability:human_rights_defender", rules)
        self.assertEqual(next(f["label"] for f in prio["factors"] if f["rule"].startswith("vulnerability:")),
                         defender)
        self.assertEqual(prio["reasons"][0], "You told us that someone is in immediate danger because of this.")
        self.assertIn(f"A person at particular risk is affected: {defender}.", prio["reasons"])
        self.assertNotIn("gravity", " ".join(prio["reasons"]))  # not the teams' technical words

        st, hdrs, data = self.intake.request("GET", "/v1/grievances/" + ref,
                                             headers={"Authorization": "Receipt " + receipt,
                                                      "Accept-Language": "fr-CA, en;q=0.5"})
        self.assertEqual(st, 200, data)
        self.assertEqual(hdrs.get("content-language"), "fr")
        fr = json.loads(data)["priority"]["reasons"]
        self.assertEqual(len(fr), len(prio["reasons"]))
        self.assertEqual(fr[0], "Vous nous avez dit que quelqu’un est en danger immédiat à cause de cela.")
        self.assertFalse(set(fr) & set(prio["reasons"]), fr)

        import urllib.parse
        st, _, page = self.intake.request("POST", "/status",
                                          urllib.parse.urlencode({"reference": ref, "receipt": receipt,
                                                                  "lang": "ar"}),
                                          {"Content-Type": "application/x-www-form-urlencoded",
                                           "Sec-Fetch-Site": "same-origin"})
        self.assertEqual(st, 200, page[:2000])
        page = page.decode("utf-8")
        self.assertIn("أخبرتنا أن شخصًا ما في خطر مباشر بسبب هذا.", page)
        self.assertNotIn("You told us", page)


def csv_rows(path):
    import csv
    with open(path, newline="", encoding="utf-8") as f:
        yield from csv.reader(f)


class TestErasure(EngagementCase):
    def test_the_persons_words_go_with_the_grievance(self):
        ref, receipt = self.file()
        cref = self.open_case(ref)
        rid = self.to_remedy(cref)
        self.act(ref, receipt, "messages", {"text": MSG_TEXT})
        self.act(ref, receipt, f"remedies/{rid}", {"decision": "decline", "comment": "secret comment"})
        self.act(ref, receipt, "appeal", {"reason": "secret reason"})
        self.ctl("message", "send", cref, "--all", "--text", "An update for everyone")
        self.ctl("grievance", "erase", ref, "--reason", "the complainant asked for erasure")
        self.assertEqual(cluster().sql("SELECT count(*), count(body) FROM case_message WHERE grievance_id IS NOT NULL"),
                         [(1, 0)])
        self.assertEqual(cluster().sql("SELECT decision, comment FROM remedy_response"), [("decline", None)])
        self.assertEqual(cluster().sql("SELECT reason FROM appeal"), [(None,)])
        st = self.story(ref, receipt)
        self.assertEqual([m["text"] for m in st["messages"]], ["An update for everyone"])
        listed = self.ctl("message", "list", cref)[0]
        self.assertIn("(erased)", listed)
        self.assertNotIn(MSG_TEXT, listed)


class TestStatusPage(EngagementCase):
    SAME = {"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin"}

    def page(self, path, fields, expect=200, headers=None):
        import urllib.parse
        st, hdrs, data = self.intake.request("POST", path, urllib.parse.urlencode(fields),
                                             dict(self.SAME, **(headers or {})))
        self.assertEqual(st, expect, data[:2000])
        return data.decode("utf-8").replace("\u2068", "").replace("\u2069", "")  # bidi isolates

    def form_fields(self, html, action):
        """The hidden fields of the page's form for action."""
        import re
        start = html.index(f'name="action" value="{action}"')
        form = html[html.rindex("<form", 0, start):html.index("</form>", start)]
        return dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', form))

    def test_dialogue_from_the_status_page_without_javascript(self):
        ref, receipt = self.file()
        cref = self.open_case(ref, co="beta-social")
        rid = self.to_remedy(cref, details="Restore the account within a week")
        self.ctl("message", "send", ref, "--text", "Please tell us what you lost.")
        html = self.page("/status", {"reference": ref, "receipt": receipt})
        for text in ("Who handles your case", "Acme Net", "caused the harm", "Beta Social",
                     "is directly linked to the harm", "Band P2", "What has happened so far",
                     "Restore the account within a week", "Accept this remedy", "Please tell us what you lost.",
                     "Send message"):
            self.assertIn(text, html)
        self.assertNotIn("<script", html)
        self.assertNotIn(receipt, html.split('action="')[1].split('"')[0])  # never in a URL
        fields = self.form_fields(html, "message")
        self.assertEqual((fields["reference"], fields["receipt"]), (ref, receipt))
        msg = dict(fields, text="I lost my savings group's records.")
        done = self.page("/status/action", msg)
        self.assertIn("Your message has been sent", done)
        self.page("/status/action", msg)  # the same page sent twice: stored once
        self.assertEqual(cluster().sql("SELECT count(*) FROM case_message WHERE direction = 'from_complainant'"),
                         [(1,)])
        # Refusals: a page, nothing stored.
        before = self.counts()
        err = self.page("/status/action", dict(msg, text=" ", token="1" * 32), expect=422)
        self.assertIn("Please write something", err)
        self.page("/status/action", dict(msg, receipt=new_receipt(), token="0" * 32), expect=404)
        self.page("/status/action", msg, expect=403, headers={"Sec-Fetch-Site": "cross-site"})
        self.page("/status/action", dict(msg, action="nonsense"), expect=404)
        err = self.page("/status/action", dict(msg, text="edited"), expect=409)  # a used token
        self.assertIn("already sent", err)
        self.assertEqual(self.counts(), before)
        # The remedy's buttons, then the appeal form.
        html = self.page("/status", {"reference": ref, "receipt": receipt})
        f = self.form_fields(html, "remedy")
        self.assertEqual(f["remedy_id"], str(rid))
        self.assertIn("Your answer to the remedy has been recorded",
                      self.page("/status/action", dict(f, decision="decline", comment="Too slow")))
        self.assertEqual(self.status(cref), "remedy_declined")
        html = self.page("/status", {"reference": ref, "receipt": receipt})
        self.assertIn("You declined this remedy.", html)
        self.assertIn("You can appeal until", html)
        self.page("/status/action", dict(self.form_fields(html, "appeal"), reason="A week is too long."))
        self.assertEqual(self.status(cref), "appealed")
        html = self.page("/status", {"reference": ref, "receipt": receipt})
        self.assertIn("You appealed.", html)
        self.assert_no_secret_in_logs(receipt, "I lost my savings group's records.")

    def test_feedback_form_and_language(self):
        ref, receipt = self.file()
        cref = self.open_case(ref)
        self.ctl("case", "transition", cref, "rejected", "--note", "outside the mechanism's scope")
        html = self.page("/status", {"reference": ref, "receipt": receipt, "lang": "es"})
        self.assertIn("Quién se ocupa de su caso", html)
        self.assertIn("El motivo indicado: outside the mechanism&#39;s scope", html)
        f = self.form_fields(html, "feedback")
        self.assertEqual(f["language"], "es")
        err = self.page("/status/action", f, expect=422)  # no rating chosen
        self.assertIn('lang="es"', err)
        done = self.page("/status/action", dict(f, rating="2", comment="No explicaron nada"))
        self.assertIn("Gracias por su opinión", done)
        self.assertEqual(cluster().sql("SELECT rating FROM feedback"), [(2,)])
        html = self.page("/status", {"reference": ref, "receipt": receipt, "lang": "es"})
        self.assertIn("2 de 5", html)
        self.assertNotIn('name="action" value="feedback"', html)
