"""End-to-end tests of redressctl: the real binary against the throwaway cluster, as mechanism
staff (redress_staff), as member teams (team_<slug>) and as the regulator (redress_regulator).

Grievances are filed over HTTPS through redress-intake when it runs, else stored with
intake_submit(). Cases are made by redress-triage when the binary exists and triages within a few
seconds, else created with SQL as postgres the way triage would (case, decision, 'created' event)."""
import csv
import hashlib
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import unittest

import psycopg2

import harness

HYPERLINK = '=HYPERLINK("http://evil.example/x","click")'
SECRET_EMAIL = "nadia.witness@example.org"


def cluster():
    return harness.CLUSTER


class AdminBase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="redress-admin-test-")
        cls.config = harness.make_config(cls.dir, cluster(), **{"database.admin_user": "redress_staff"})
        cls.cfg = harness.read_config(cls.config)
        cls.intake = None
        if os.path.exists(os.path.join(harness.BUILD, "redress-intake")):
            try:
                cls.intake = harness.Intake(cls.config)
            except RuntimeError:
                cls.intake = None

    @classmethod
    def tearDownClass(cls):
        if cls.intake and cls.intake.proc.poll() is None:
            cls.intake.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        cluster().reset()
        cluster().sql("TRUNCATE export_manifest RESTART IDENTITY")

    # helpers -----------------------------------------------------------------------------------
    def ctl(self, *args, user=None, expect=0):
        """Runs redressctl; returns (stdout, stderr). user sets PGUSER (a team or the regulator)."""
        env = os.environ.copy()
        env.pop("PGUSER", None)
        if user:
            env["PGUSER"] = user
        p = subprocess.run([os.path.join(harness.BUILD, "redressctl"), "-c", self.config, *args],
                           capture_output=True, text=True, env=env, timeout=120, cwd=harness.ROOT)
        if expect is not None:
            self.assertEqual(p.returncode, expect, f"redressctl {args}: rc {p.returncode}\n"
                             f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return p.stdout, p.stderr

    def ctl_json(self, *args, user=None):
        out, _ = self.ctl(*args, "--json", user=user)
        return json.loads(out)

    def file_grievance(self, description="My account was removed after I posted about the strike.",
                       category="account_removal", country="KE", regulator=False):
        """Files one grievance (HTTPS when the server runs); returns its reference."""
        body = {"description": description, "category": category, "country": country,
                "people_affected": 1, "consent": {"share_with_members": True,
                                                  "share_with_regulator": regulator},
                "contact": {"email": SECRET_EMAIL}}
        if self.intake:
            st, _, data = self.intake.request("POST", "/v1/grievances", json.dumps(body),
                                              {"Content-Type": "application/json"})
            self.assertEqual(st, 201, data)
            return json.loads(data)["reference"]
        ref = "A" + os.urandom(5).hex().upper()[:10]
        row = {"n": 1, "reference": ref, "channel": "api", "country": country, "category": category,
               "description": description, "people_affected": 1, "share_with_members": True,
               "share_with_regulator": regulator, "receipt_hash": "00" * 32}
        cluster().sql("SELECT * FROM intake_submit(%s::jsonb)", (json.dumps([row]),))
        return ref

    def triage(self, grievance_ref, band="P2", score=55.0, case_ref=None):
        """Makes the case of a grievance as redress-triage would; returns the case reference."""
        case_ref = case_ref or "C" + os.urandom(5).hex().upper()[:10]
        g = cluster().sql("SELECT id, category, country, received_at FROM grievance WHERE reference = %s",
                          (grievance_ref,))[0]
        cid = cluster().sql(
            "INSERT INTO remedy_case (reference, status, category, country, grievance_count, "
            "people_affected, score, band, rules_version, first_received_at, last_received_at, "
            "ack_due, response_due, remedy_due) VALUES (%s, 'triaged', %s, %s, 1, 1, %s, %s, 'test-1', "
            "%s, %s, now() + interval '2 days', now() + interval '14 days', now() + interval '30 days') "
            "RETURNING id", (case_ref, g[1], g[2], score, band, g[3], g[3]))[0][0]
        cluster().sql("UPDATE grievance SET case_id = %s, triaged_at = now() WHERE id = %s", (cid, g[0]))
        cluster().sql(
            "INSERT INTO triage_decision (case_id, grievance_id, score, band, components, rules_fired, "
            "rules_version) VALUES (%s, %s, %s, %s, %s, %s, 'test-1')",
            (cid, g[0], score, band, json.dumps({"scale": 3, "scope": 1, "irremediability": 2}),
             json.dumps([{"rule": "speech_retaliation", "points": 20, "why": "account removed after speech"}])))
        cluster().sql("INSERT INTO case_event (case_id, action, to_status, note) "
                      "VALUES (%s, 'created', 'triaged', 'triaged by test')", (cid,))
        return case_ref

    def add_members(self):
        self.ctl("member", "add", "acme-net", "--name", "Acme Net", "--sector", "isp",
                 "--countries", "KE,UG", "--services", "mobile,broadband")
        self.ctl("member", "add", "beta-social", "--name", "Beta Social", "--sector", "platform")

    def status(self, case_ref):
        return cluster().sql("SELECT status::text FROM remedy_case WHERE reference = %s", (case_ref,))[0][0]

    def events(self, case_ref):
        return cluster().sql("SELECT count(*) FROM case_event e JOIN remedy_case c ON c.id = e.case_id "
                             "WHERE c.reference = %s", (case_ref,))[0][0]

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        return path


CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U"


def reference_with_check(data):
    """A grievance reference: 10 Crockford symbols and their mod-37 check symbol."""
    value = 0
    for ch in data:
        value = (value * 32 + CROCKFORD.index(ch)) % 37
    return data + CROCKFORD[value]


class TestAdminReferences(AdminBase):
    def test_every_check_symbol_and_typed_forms(self):
        # Grievance references end in any of 37 check symbols, five of them not alphanumeric; people
        # type them in lower case, with hyphens, O for 0 and L for 1.
        found, rng = {}, random.Random(37)
        for _ in range(5000):
            ref = reference_with_check("".join(rng.choice(CROCKFORD[:32]) for _ in range(10)))
            found.setdefault(ref[-1], ref)
            if all(c in found for c in "*~$=U0"):
                break
        for check in "*~$=U0":
            ref = found[check]
            cluster().sql("INSERT INTO grievance (reference, channel, country, category, description, "
                          "receipt_hash) VALUES (%s, 'api', 'KE', 'other', 'reference test', '\\x00')",
                          (ref,))
            case_ref = self.triage(ref)
            for typed in (ref, ref.lower(), ref[:5] + "-" + ref[5:]):
                out = self.ctl_json("case", "show", typed)
                self.assertEqual(out["reference"], case_ref, typed)


class TestAdminLifecycle(AdminBase):
    def test_full_lifecycle_through_redressctl(self):
        self.add_members()
        gref = self.file_grievance()
        self.assertIsNotNone(self.intake, "redress-intake did not start: the grievance must come over HTTPS")
        self.assertEqual(cluster().sql("SELECT channel FROM grievance WHERE reference = %s", (gref,)), [("api",)])
        cref = self.triage(gref, band="P1", score=81.5)

        queue = self.ctl_json("queue")
        self.assertEqual([c["reference"] for c in queue], [cref])
        for key in ("reference", "status", "band", "score", "grievance_count", "owners", "deadlines"):
            self.assertIn(key, queue[0])

        # The grievance reference finds its case too.
        out = self.ctl_json("case", "assign", gref, "--member", "acme-net", "--role", "lead",
                            "--involvement", "caused")
        self.assertEqual(out["status"], "assigned")
        self.ctl("case", "assign", cref, "--member", "beta-social", "--role", "co-owner",
                 "--involvement", "linked")
        self.ctl("case", "transition", cref, "investigating", "--note", "asked the platform for logs")
        self.ctl("case", "note", cref, "Spoke to the complainant's organisation.")
        self.ctl("remedy", "propose", cref, "--type", "restoration", "--details", "Restore the account")
        self.assertEqual(self.status(cref), "remedy_proposed")
        self.ctl("remedy", "record", cref, "accepted")
        self.ctl("remedy", "record", cref, "implemented", "--note", "account restored")
        self.ctl("remedy", "record", cref, "verified")
        self.ctl("case", "transition", cref, "closed")
        self.assertEqual(self.status(cref), "closed")

        show = self.ctl_json("case", "show", cref)
        for key in ("reference", "status", "band", "score", "grievance_count", "owners", "deadlines",
                    "explanation", "events", "remedies", "grievances"):
            self.assertIn(key, show)
        self.assertEqual(show["status"], "closed")
        self.assertEqual(show["band"], "P1")
        self.assertEqual(show["grievances"]["count"], 1)
        self.assertEqual(show["grievances"]["sample"][0]["reference"], gref)
        owners = {o["member"]: (o["role"], o["involvement"]) for o in show["owners"]}
        self.assertEqual(owners, {"acme-net": ("lead", "caused"), "beta-social": ("co-owner", "linked")})
        self.assertEqual(show["explanation"]["rules_fired"][0]["rule"], "speech_retaliation")
        self.assertEqual(show["remedies"][0]["status"], "verified")
        moves = [(e["from"], e["to"]) for e in show["events"] if e["action"] == "transition"]
        self.assertEqual(moves, [("triaged", "assigned"), ("assigned", "investigating"),
                                 ("investigating", "remedy_proposed"),
                                 ("remedy_proposed", "remedy_accepted"),
                                 ("remedy_accepted", "remedy_implemented"),
                                 ("remedy_implemented", "closed")])
        self.assertTrue(all(e["actor"] == "redress_staff" for e in show["events"][1:]))
        text, _ = self.ctl("case", "show", cref)
        self.assertIn("audit trail", text)
        self.assertNotIn(SECRET_EMAIL, text + json.dumps(show))

        verify = self.ctl_json("audit", "verify")
        self.assertTrue(verify["ok"])
        self.assertEqual(verify["events"], self.events(cref))

    def test_invalid_transitions_refused_and_nothing_changes(self):
        self.add_members()
        cref = self.triage(self.file_grievance())
        before = self.events(cref)
        _, err = self.ctl("case", "transition", cref, "closed", expect=1)
        self.assertIn("cannot move from triaged to closed", err)
        self.assertIn("assigned", err)  # names the allowed moves, read from case_transition
        _, err = self.ctl("case", "transition", cref, "rejected", expect=1)
        self.assertIn("needs a reason", err)
        _, err = self.ctl("case", "transition", cref, "nonsense", expect=1)
        self.assertIn("not a case state", err)
        _, err = self.ctl("remedy", "record", cref, "accepted", expect=1)
        self.assertIn("no remedy", err)
        _, err = self.ctl("remedy", "propose", cref, "--type", "apology", "--details", "Sorry", expect=1)
        self.assertIn("cannot move from triaged to remedy_proposed", err)
        _, err = self.ctl("case", "assign", cref, "--member", "nobody", "--role", "lead",
                          "--involvement", "caused", expect=1)
        self.assertIn("no member 'nobody'", err)
        _, err = self.ctl("case", "show", "CNOSUCHCASE", expect=1)
        self.assertIn("no case", err)
        self.assertEqual(self.status(cref), "triaged")
        self.assertEqual(self.events(cref), before)
        self.assertEqual(cluster().sql("SELECT count(*) FROM remedy")[0][0], 0)
        self.assertEqual(cluster().sql("SELECT count(*) FROM case_owner")[0][0], 0)
        # Usage errors: exit 2, nothing touched.
        self.ctl("case", "assign", cref, "--member", "acme-net", "--role", "boss",
                 "--involvement", "caused", expect=2)
        self.ctl("case", "transition", cref, expect=2)
        self.ctl("case", "frobnicate", expect=2)
        self.ctl("queue", "--band", "P9", expect=2)
        self.ctl("export", "cases", "--from", "2024-01-01", expect=2)
        self.ctl("nosuchcommand", expect=2)
        out, _ = self.ctl("case", "transition", "--help")
        self.assertIn("usage: redressctl", out)
        # A reason given: rejected is allowed, with the reason in the audit trail.
        self.ctl("case", "transition", cref, "rejected", "--note", "out of scope: no member involved")
        self.assertEqual(self.status(cref), "rejected")
        self.assertEqual(self.events(cref), before + 1)


class TestAdminAccess(AdminBase):
    def setUp(self):
        super().setUp()
        self.add_members()
        self.case_a = self.triage(self.file_grievance(country="KE"))
        self.case_b = self.triage(self.file_grievance(country="UG"))
        self.ctl("case", "assign", self.case_a, "--member", "acme-net", "--role", "lead", "--involvement", "caused")
        self.ctl("case", "assign", self.case_b, "--member", "beta-social", "--role", "lead",
                 "--involvement", "contributed")

    def test_team_sees_and_changes_only_its_cases_via_redressctl(self):
        queue = self.ctl_json("queue", user="team_acme_net")
        self.assertEqual([c["reference"] for c in queue], [self.case_a])
        before = self.events(self.case_b)
        _, err = self.ctl("case", "show", self.case_b, user="team_acme_net", expect=1)
        self.assertIn("no case", err)
        self.ctl("case", "note", self.case_b, "sneaky", user="team_acme_net", expect=1)
        self.ctl("case", "transition", self.case_b, "investigating", user="team_acme_net", expect=1)
        self.ctl("remedy", "propose", self.case_b, "--type", "apology", "--details", "x",
                 user="team_acme_net", expect=1)
        self.assertEqual(self.status(self.case_b), "assigned")
        self.assertEqual(self.events(self.case_b), before)
        # Its own case: it works it, and the audit trail names the team.
        self.ctl("case", "transition", self.case_a, "investigating", user="team_acme_net")
        show = self.ctl_json("case", "show", self.case_a, user="team_acme_net")
        self.assertEqual(show["status"], "investigating")
        self.assertEqual(show["events"][-1]["actor"], "team_acme_net")
        # Only staff assigns owners.
        self.ctl("case", "assign", self.case_a, "--member", "beta-social", "--role", "informed",
                 "--involvement", "linked", user="team_acme_net", expect=1)

    def test_team_cannot_reach_other_cases_via_sql(self):
        conn = cluster().connect("team_acme_net")
        try:
            cur = conn.cursor()
            cur.execute("SELECT reference FROM remedy_case")
            self.assertEqual([r[0] for r in cur.fetchall()], [self.case_a])
            with self.assertRaises(psycopg2.Error):  # changes go through the case functions only
                cur.execute("UPDATE remedy_case SET status = 'investigating' WHERE reference = %s", (self.case_b,))
            cur.execute("SELECT count(*) FROM case_event WHERE case_id = "
                        "(SELECT id FROM remedy_case WHERE reference = %s)", (self.case_b,))
            self.assertEqual(cur.fetchone()[0], 0)
            cur.execute("SELECT count(*) FROM grievance")
            self.assertEqual(cur.fetchone()[0], 1)
            case_b_id = cluster().sql("SELECT id FROM remedy_case WHERE reference = %s", (self.case_b,))[0][0]
            with self.assertRaises(psycopg2.Error):
                cur.execute("INSERT INTO case_event (case_id, action, note) VALUES (%s, 'note', 'x')", (case_b_id,))
            with self.assertRaises(psycopg2.Error):  # no description or contact for teams
                cur.execute("SELECT description FROM grievance")
            with self.assertRaises(psycopg2.Error):
                cur.execute("SELECT contact_enc FROM grievance")
            # Asking about another team's cases answers nothing.
            cur.execute("SELECT redress_owned_cases('team_beta_social')")
            self.assertEqual(cur.fetchall(), [])
        finally:
            conn.close()
        self.assertEqual(self.status(self.case_b), "assigned")

    def test_regulator_reads_no_free_text(self):
        conn = cluster().connect("redress_regulator")
        try:
            cur = conn.cursor()
            cur.execute("SELECT count(*) FROM remedy_case")
            self.assertEqual(cur.fetchone()[0], 2)
            for q in ("SELECT description FROM grievance", "SELECT contact_enc FROM grievance",
                      "SELECT note FROM case_event", "SELECT details FROM remedy"):
                with self.assertRaises(psycopg2.Error, msg=q):
                    cur.execute(q)
            with self.assertRaises(psycopg2.Error):
                cur.execute("UPDATE remedy_case SET status = 'closed'")
        finally:
            conn.close()


class TestAdminExport(AdminBase):
    def test_export_equals_database_and_neutralises(self):
        self.add_members()
        plain = self.triage(self.file_grievance(regulator=True, description="Plain text, with a comma"), band="P1")
        evil = self.triage(self.file_grievance(regulator=True, description=HYPERLINK, country="UG"), band="P3")
        private = self.triage(self.file_grievance(regulator=False, description="Keep me private"), band="P2")
        self.ctl("case", "assign", plain, "--member", "acme-net", "--role", "lead", "--involvement", "caused")
        self.ctl("case", "assign", evil, "--member", "beta-social", "--role", "lead", "--involvement", "linked")
        self.ctl("case", "note", evil, "+cmd|' /C calc'!A0")
        path = os.path.join(self.dir, "cases.csv")
        today = time.strftime("%Y-%m-%d", time.gmtime())
        out = self.ctl_json("export", "cases", "--from", "2000-01-01", "--to", today, "--with-narrative",
                            "-o", path, user="redress_regulator")
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), 3)
        db = cluster().sql(
            "SELECT c.reference, c.status::text, c.category, c.country, c.grievance_count::text, c.band, "
            "c.score::text, coalesce(m.slug, '') FROM remedy_case c LEFT JOIN member m ON m.id = c.lead_member_id "
            "ORDER BY c.first_received_at, c.id")
        got = [(r["case_reference"], r["status"], r["category"], r["country"], r["grievance_count"],
                r["band"], r["score"], r["lead_member"]) for r in rows]
        self.assertEqual(got, [tuple(r) for r in db])
        by_ref = {r["case_reference"]: r for r in rows}
        self.assertEqual(by_ref[evil]["narrative"], "'" + HYPERLINK)
        self.assertEqual(by_ref[plain]["narrative"], "Plain text, with a comma")
        self.assertEqual(by_ref[private]["narrative"], "")  # no consent, no text
        self.assertEqual(by_ref[plain]["owners"], "acme-net:lead:caused")
        with open(path, "rb") as f:
            raw = f.read()
        self.assertNotIn(SECRET_EMAIL.encode(), raw)
        self.assertNotIn(b"Keep me private", raw)
        self.assertNotIn(b"calc", raw)  # notes are never exported
        for cell in (c for r in csv.reader(raw.decode().splitlines()) for c in r):
            self.assertFalse(cell[:1] in ("=", "+", "-", "@", "\t", "\r"), cell)
        # Manifest: beside the file and in the database, matching the file.
        with open(path + ".manifest.json") as f:
            manifest = json.load(f)
        sha = hashlib.sha256(raw).hexdigest()
        self.assertEqual(manifest["sha256"], sha)
        self.assertEqual(manifest["rows"], 3)
        self.assertEqual(manifest["created_by"], "redress_regulator")
        self.assertEqual(manifest["filter"]["from"], "2000-01-01")
        self.assertEqual(out["sha256"], sha)
        rec = cluster().sql("SELECT row_count, sha256, created_by, with_narrative FROM export_manifest")
        self.assertEqual(rec, [(3, sha, "redress_regulator", True)])

        # Without --with-narrative there is no narrative column; filters apply.
        path2 = os.path.join(self.dir, "ug.csv")
        self.ctl("export", "cases", "--from", "2000-01-01", "--to", today, "--country", "UG", "-o", path2)
        with open(path2, newline="", encoding="utf-8") as f:
            rows2 = list(csv.DictReader(f))
        self.assertEqual([r["case_reference"] for r in rows2], [evil])
        self.assertNotIn("narrative", rows2[0])
        self.assertNotIn(b"HYPERLINK", open(path2, "rb").read())

        # A team's export holds only its cases.
        path3 = os.path.join(self.dir, "team.csv")
        self.ctl("export", "cases", "--from", "2000-01-01", "--to", today, "-o", path3, user="team_acme_net")
        with open(path3, newline="", encoding="utf-8") as f:
            self.assertEqual([r["case_reference"] for r in csv.DictReader(f)], [plain])

        # A failing export leaves nothing behind.
        bad = os.path.join(self.dir, "nodir", "x.csv")
        self.ctl("export", "cases", "--from", "2000-01-01", "--to", today, "-o", bad, expect=1)
        self.ctl("export", "cases", "--from", "2024-02-30", "--to", "2024-03-01", "-o", path2 + ".b", expect=1)
        self.assertFalse(os.path.exists(path2 + ".b"))
        self.assertEqual(cluster().sql("SELECT count(*) FROM export_manifest")[0][0], 3)

    def test_export_stats(self):
        self.add_members()
        a = self.triage(self.file_grievance(), band="P1")
        self.triage(self.file_grievance(category="data_breach", country="UG"), band="P2")
        self.ctl("case", "assign", a, "--member", "acme-net", "--role", "lead", "--involvement", "caused")
        today = time.strftime("%Y-%m-%d", time.gmtime())
        path = os.path.join(self.dir, "stats.csv")
        self.ctl("export", "stats", "--from", "2000-01-01", "--to", today, "-o", path, user="redress_regulator")
        with open(path, newline="") as f:
            rows = {(r["measure"], r["key"]): r["value"] for r in csv.DictReader(f)}
        self.assertEqual(rows[("cases_total", "all")], "2")
        self.assertEqual(rows[("cases_by_band", "P1")], "1")
        self.assertEqual(rows[("cases_by_country", "UG")], "1")
        self.assertEqual(rows[("cases_by_member", "acme-net")], "1")
        self.assertEqual(rows[("cases_by_status", "assigned")], "1")
        self.assertEqual(rows[("cases_by_outcome", "open")], "2")
        self.assertIn(("median_days_to", "assigned"), rows)
        self.assertIn(("p90_days_to", "assigned"), rows)
        self.assertEqual(rows[("deadline_met_share", "acknowledge")], "1.0000")


class TestAdminImport(AdminBase):
    HEADER = ("description,category,country,rights,people_affected,ongoing,"
              "consent.share_with_members,consent.share_with_regulator,contact.email\n")

    def test_grievance_import_one_bad_row_imports_nothing(self):
        before = cluster().sql("SELECT count(*) FROM grievance")[0][0]
        path = self.write("bad.csv", self.HEADER +
                          '"Network cut for a week, clinics unreachable",network_shutdown,KE,,5000,yes,true,false,\n'
                          "Second,data_breach,UG,,2,no,false,false,\n"
                          "Third,not_a_category,UG,,2,no,false,false,\n"
                          "Fourth,data_breach,UG,,many,no,false,false,\n")
        _, err = self.ctl("import", "grievances", path, expect=1)
        self.assertIn("line 4", err)
        self.assertIn("category", err)
        self.assertIn("line 5", err)
        self.assertIn("nothing was imported", err)
        self.assertEqual(cluster().sql("SELECT count(*) FROM grievance")[0][0], before)
        _, err = self.ctl("import", "grievances", self.write("hdr.csv", "description,colour\nx,red\n"), expect=1)
        self.assertIn("unknown column 'colour'", err)

    def test_grievance_import_stores_rows_and_prints_receipts(self):
        path = self.write("good.csv", self.HEADER +
                          '"Network cut for a week, clinics unreachable",network_shutdown,KE,,5000,yes,true,false,'
                          + SECRET_EMAIL + "\n"
                          f'"{HYPERLINK.replace(chr(34), chr(34) * 2)}",data_breach,UG,,2,no,false,true,\n')
        out = self.ctl_json("import", "grievances", path)
        self.assertEqual(out["imported"], 2)
        lines = [g["line"] for g in out["grievances"]]
        self.assertEqual(lines, [2, 3])
        for g in out["grievances"]:
            row = cluster().sql("SELECT channel, receipt_hash, description FROM grievance WHERE reference = %s",
                                (g["reference"],))
            self.assertEqual(len(row), 1)
            self.assertEqual(row[0][0], "import")
            self.assertEqual(bytes(row[0][1]), hashlib.sha256(g["receipt"].encode()).digest())
        stored = cluster().sql("SELECT description, people_affected, ongoing, contact_enc IS NOT NULL "
                               "FROM grievance ORDER BY id")
        self.assertEqual(stored[0][1:], (5000, True, True))
        self.assertEqual(stored[1][0], HYPERLINK)
        dump = json.dumps(cluster().sql("SELECT to_jsonb(g)::text FROM grievance g"))
        self.assertNotIn(SECRET_EMAIL, dump)  # sealed, not stored in plaintext

    def test_member_import(self):
        path = self.write("members.csv", "slug,name,sector,countries,services\n"
                          "kenet,KeNet,isp,KE;UG,broadband;mobile\n"
                          '"tele-co","Tele, Co",telco,TZ,mobile\n')
        self.ctl("member", "import", path)
        members = self.ctl_json("member", "list")
        self.assertEqual([(m["slug"], m["team_role"]) for m in members],
                         [("kenet", "team_kenet"), ("tele-co", "team_tele_co")])
        self.assertEqual(members[0]["countries"], ["KE", "UG"])
        self.assertEqual(members[1]["name"], "Tele, Co")
        roles = cluster().sql("SELECT r.rolname FROM pg_roles r WHERE pg_has_role(r.rolname, 'redress_teams', "
                              "'MEMBER') AND r.rolname IN ('team_kenet', 'team_tele_co') ORDER BY 1")
        self.assertEqual([r[0] for r in roles], ["team_kenet", "team_tele_co"])
        bad = self.write("badm.csv", "slug,name,sector,countries,services\n"
                         "okay,Okay,isp,,\nbad,Bad,bank,,\n")
        _, err = self.ctl("member", "import", bad, expect=1)
        self.assertIn("line 3", err)
        self.assertEqual(cluster().sql("SELECT count(*) FROM member WHERE slug = 'okay'")[0][0], 0)
        _, err = self.ctl("member", "add", "kenet", "--name", "Again", "--sector", "isp", expect=1)
        self.assertIn("already exists", err)


class TestAdminAudit(AdminBase):
    def test_tampering_is_detected(self):
        self.add_members()
        cref = self.triage(self.file_grievance())
        other = self.triage(self.file_grievance())
        self.ctl("case", "assign", cref, "--member", "acme-net", "--role", "lead", "--involvement", "caused")
        self.ctl("case", "transition", cref, "investigating", "--note", "original note")
        self.ctl("case", "note", other, "another case")
        out, _ = self.ctl("audit", "verify")
        self.assertIn("ok", out)
        seq = cluster().sql("SELECT e.seq FROM case_event e JOIN remedy_case c ON c.id = e.case_id "
                            "WHERE c.reference = %s AND e.note = 'original note'", (cref,))[0][0]
        cluster().sql("ALTER TABLE case_event DISABLE TRIGGER case_event_append_only")
        try:
            cluster().sql("UPDATE case_event SET note = 'rewritten' WHERE note = 'original note'")
        finally:
            cluster().sql("ALTER TABLE case_event ENABLE TRIGGER case_event_append_only")
        out, err = self.ctl("audit", "verify", expect=1)
        self.assertIn(f"case {cref}, event #{seq}", out)
        res = json.loads(self.ctl("audit", "verify", "--json", expect=1)[0])
        self.assertEqual((res["ok"], res["case"], res["seq"]), (False, cref, seq))
        # A deleted event breaks the chain too.
        cluster().sql("ALTER TABLE case_event DISABLE TRIGGER case_event_append_only")
        try:
            cluster().sql("UPDATE case_event SET note = 'original note' WHERE note = 'rewritten'")
            self.ctl("audit", "verify")
            cluster().sql("DELETE FROM case_event WHERE case_id = (SELECT id FROM remedy_case WHERE reference = %s) "
                          "AND seq = 2", (cref,))
        finally:
            cluster().sql("ALTER TABLE case_event ENABLE TRIGGER case_event_append_only")
        res = json.loads(self.ctl("audit", "verify", "--json", expect=1)[0])
        self.assertEqual((res["case"], res["seq"]), (cref, 3))


class TestAdminMigrate(AdminBase):
    def test_migrate_up_to_date(self):
        out = self.ctl_json("migrate", "--dir", os.path.join(harness.ROOT, "sql"), user="postgres")
        self.assertEqual(out["applied"], [])
        versions = [r[0] for r in cluster().sql("SELECT version FROM schema_migration ORDER BY 1")]
        self.assertIn("003_access", versions)


if __name__ == "__main__":
    unittest.main()
