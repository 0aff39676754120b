"""End-to-end tests of the Open311 GeoReport v2 profile (/open311/v2, intake/open311*.c): discovery
and services against the taxonomy, filing form-encoded requests through the API's own validation
and commit path, the status look-up by receipt, the refused list, and Open311's error format on
every error. The real binary over TLS against the throwaway cluster."""
import json
import os
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

import harness
from test_integrity import new_reference
from test_intake import AESGCM, IntakeBase, cluster, grievance, recv_all

REF_RX = r"^[0-9A-HJKMNP-TV-Z]{10}[0-9A-HJKMNP-TV-Z*~$=U]$"
RECEIPT_RX = r"^[0-9A-HJKMNP-TV-Z]{26}$"
TAXONOMY = json.load(open(os.path.join(harness.ROOT, "config", "taxonomy.json")))
EMAIL = "wanjiru.o311test@example.org"
PHONE = "+254 20 555 0188"
FIRST, LAST = "Wanjiru", "Kamau-Otieno"
ADDRESS = "Moi Avenue 41, Nairobi"
LAT, LONG = "-1.28638", "36.81724"
MEDIA = "https://media.example.org/o311-evidence-77.jpg"
FORM = "application/x-www-form-urlencoded"


def marker(tag):
    return f"Open311 marker {tag} {time.time_ns()}"


def stored(mark):
    """Rows whose description carries mark."""
    return cluster().sql("SELECT reference, channel FROM grievance WHERE description LIKE %s",
                         ("%" + mark + "%",))


class TestOpen311(IntakeBase):
    @classmethod
    def setUpClass(cls):
        cls.metrics_port = harness.free_port()
        cls.overrides = dict(IntakeBase.overrides, **{
            "metrics.enabled": "1", "metrics.port": str(cls.metrics_port),
            "open311.contact": "open311-developers@example.org"})
        super().setUpClass()
        cls.secrets = []  # receipts and references handed out: none may reach the log

    # helpers
    def get(self, path, headers=None):
        status, hdrs, data = self.req("GET", path, None, headers)
        return status, hdrs, json.loads(data) if data else None

    def post(self, fields, headers=None, raw=None, ctype=FORM):
        h = {"Content-Type": ctype} if ctype else {}
        h.update(headers or {})
        body = raw if raw is not None else urllib.parse.urlencode(fields, doseq=True)
        status, hdrs, data = self.req("POST", "/open311/v2/requests.json", body, h)
        return status, hdrs, json.loads(data) if data else None

    def fields(self, mark, **over):
        f = {"service_code": "network_shutdown", "description": mark,
             "attribute[country]": "KE", "email": EMAIL, "first_name": FIRST, "last_name": LAST,
             "phone": PHONE}
        f.update(over)
        return {k: v for k, v in f.items() if v is not None}

    def file(self, mark, **over):
        status, hdrs, body = self.post(self.fields(mark, **over))
        self.assertEqual(status, 201, body)
        ref, receipt = body[0]["service_request_id"], body[0]["receipt"]
        self.secrets += [ref, receipt]
        return ref, receipt, body, hdrs

    def assert_open311_error(self, status, body, want_status, *words):
        self.assertEqual(status, want_status, body)
        self.assertIsInstance(body, list, body)
        self.assertEqual(len(body), 1, body)
        self.assertEqual(set(body[0]), {"code", "description"}, body)
        self.assertEqual(body[0]["code"], want_status, body)
        for w in words:
            self.assertIn(w, body[0]["description"])

    # ---- discovery and services ---------------------------------------------------------------
    def test_discovery(self):
        status, hdrs, d = self.get("/open311/v2/discovery.json")
        self.assertEqual(status, 200, d)
        self.assertEqual(d["changeset"], TAXONOMY["version"])
        self.assertEqual(d["contact"], "open311-developers@example.org")
        self.assertIn("receipt", d["key_service"])
        [ep] = d["endpoints"]
        self.assertEqual(ep["specification"], "http://wiki.open311.org/GeoReport_v2")
        self.assertEqual(ep["formats"], ["application/json"])
        self.assertEqual(ep["url"], f"https://127.0.0.1:{self.intake.port}/open311/v2")
        # The endpoint it names is the one that answers.
        path = urllib.parse.urlsplit(ep["url"]).path
        self.assertEqual(self.get(path + "/services.json")[0], 200)
        # A Host we would not echo is not echoed.
        status, _, d = self.get("/open311/v2/discovery.json", {"Host": "evil\"<x>"})
        self.assertEqual(status, 200)
        self.assertNotIn("evil", json.dumps(d))

    def test_services_are_the_taxonomy_categories(self):
        status, hdrs, services = self.get("/open311/v2/services.json")
        self.assertEqual(status, 200, services)
        cats = TAXONOMY["categories"]
        self.assertEqual([s["service_code"] for s in services], [c["id"] for c in cats])
        self.assertEqual([s["service_name"] for s in services], [c["label"] for c in cats])
        for s in services:
            self.assertIs(s["metadata"], True)
            self.assertEqual(s["type"], "realtime")
            self.assertTrue(s["keywords"] and s["group"] and s["description"])
        self.assertEqual(hdrs["content-language"], "en")
        # Labels in the person's language, the same as the taxonomy's own.
        _, _, fr_tax = self.get("/v1/taxonomy", {"Accept-Language": "fr"})
        status, hdrs, fr = self.get("/open311/v2/services.json", {"Accept-Language": "fr"})
        self.assertEqual(hdrs["content-language"], "fr")
        self.assertEqual([s["service_name"] for s in fr], [c["label"] for c in fr_tax["categories"]])
        self.assertNotEqual(fr[0]["service_name"], services[0]["service_name"])
        # jurisdiction_id: a country of the taxonomy, in any case; anything else is a 404.
        self.assertEqual(self.get("/open311/v2/services.json?jurisdiction_id=ke")[2], services)
        for bad in ("XX", "KEN", "k", "%00"):
            status, _, body = self.get("/open311/v2/services.json?jurisdiction_id=" + bad)
            self.assert_open311_error(status, body, 404, "jurisdiction_id")

    def test_service_definition(self):
        status, hdrs, d = self.get("/open311/v2/services/surveillance.json")
        self.assertEqual(status, 200, d)
        self.assertEqual(d["service_code"], "surveillance")
        attrs = {a["code"]: a for a in d["attributes"]}
        self.assertEqual([a["order"] for a in d["attributes"]],
                         list(range(1, len(d["attributes"]) + 1)))
        country = attrs["country"]
        self.assertEqual((country["datatype"], country["required"]), ("singlevaluelist", True))
        self.assertEqual([v["key"] for v in country["values"]], [c["id"] for c in TAXONOMY["countries"]])
        self.assertEqual(attrs["rights"]["datatype"], "multivaluelist")
        self.assertEqual([v["key"] for v in attrs["rights"]["values"]], [r["id"] for r in TAXONOMY["rights"]])
        self.assertEqual([v["key"] for v in attrs["complainant_type"]["values"]],
                         ["self", "on_behalf", "organisation", "anonymous"])
        self.assertEqual([v["key"] for v in attrs["ongoing"]["values"]], ["true", "false"])
        self.assertEqual(attrs["people_affected"]["datatype"], "number")
        self.assertEqual(sum(a["required"] for a in d["attributes"]), 1)
        # Every service answers with the same attributes; none other has a definition.
        for c in TAXONOMY["categories"]:
            self.assertEqual(self.get(f"/open311/v2/services/{c['id']}.json")[2]["attributes"],
                             d["attributes"])
        for bad in ("no_such_service.json", "surveillance", ".json", "surveillance%00.json"):
            status, _, body = self.get("/open311/v2/services/" + bad)
            self.assert_open311_error(status, body, 404)
        status, _, body = self.get("/open311/v2/services/surveillance.json?jurisdiction_id=ZZ")
        self.assert_open311_error(status, body, 404, "jurisdiction_id")

    # ---- filing ---------------------------------------------------------------------------------
    def test_post_stores_one_grievance(self):
        mark = marker("store")
        fields = self.fields(mark, **{
            "lat": LAT, "long": LONG, "address_string": ADDRESS, "media_url": MEDIA,
            "device_id": "device-o311-991", "account_id": "acct-o311-5",
            "api_key": "some-apps-key", "zipcode": "00100",
            "attribute[rights][]": ["expression", "health"],
            "attribute[vulnerability][]": "human_rights_defender",
            "attribute[people_affected]": "1200", "attribute[ongoing]": "true",
            "attribute[immediate_danger]": "false", "attribute[started_on]": "2024-03-03",
            "attribute[companies]": "Acme Mobile, Beta Telecom",
            "attribute[share_with_members]": "true", "attribute[language]": "sw"})
        status, hdrs, body = self.post(fields)
        self.assertEqual(status, 201, body)
        [r] = body
        self.assertRegex(r["service_request_id"], REF_RX)
        self.assertRegex(r["receipt"], RECEIPT_RX)
        self.assertIsNone(r["account_id"])
        self.assertIsNone(r["token"])
        self.secrets += [r["service_request_id"], r["receipt"]]
        for dropped in ("lat", "long", "address_string", "media_url", "device_id", "account_id"):
            self.assertIn(dropped, r["service_notice"])
        self.assertEqual(hdrs["location"], f"/open311/v2/requests/{r['service_request_id']}.json")
        rows = cluster().sql(
            "SELECT reference, channel, category, country, rights, vulnerability, people_affected, "
            "ongoing, immediate_danger, started_on::text, companies, share_with_members, "
            "share_with_regulator, complainant_type, language, contact_enc, idempotency_key, "
            "to_jsonb(g)::text FROM grievance g WHERE description = %s", (mark,))
        self.assertEqual(len(rows), 1, rows)
        row = rows[0]
        self.assertEqual(row[:15], (
            r["service_request_id"], "open311", "network_shutdown", "KE", ["expression", "health"],
            ["human_rights_defender"], 1200, True, False, "2024-03-03",
            ["Acme Mobile", "Beta Telecom"], True, False, "self", "sw"))
        self.assertIsNone(row[16])
        # One check on the channel (sql/018), on the partitioned table and so on every partition.
        checks = cluster().sql("SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
                               "WHERE contype = 'c' AND pg_get_constraintdef(oid) LIKE '%%channel%%' "
                               "AND conrelid IN (SELECT 'grievance'::regclass UNION ALL "
                               "SELECT partition FROM partition_list('grievance'))")
        self.assertGreaterEqual(len(checks), 2, checks)
        for rel, definition in checks:
            self.assertIn("'open311'", definition, rel)
        self.assertEqual(sum(rel == "grievance" for rel, _ in checks), 1, checks)
        # Contact details sealed like the API's; nothing dropped is anywhere in the row.
        text = row[17]
        for secret in (EMAIL, PHONE, FIRST, LAST, ADDRESS, LAT, LONG, MEDIA, "device-o311-991",
                       "acct-o311-5", "some-apps-key", r["receipt"]):
            self.assertNotIn(secret, text)
        if AESGCM is not None:
            enc = bytes(row[15])
            plain = json.loads(AESGCM(self.contact_key).decrypt(enc[:12], enc[12:], None))
            self.assertEqual(plain, {"email": EMAIL, "name": f"{FIRST} {LAST}", "phone": PHONE})

    def test_raw_brackets_and_jurisdiction_as_country(self):
        # attribute[...] as most clients send it (brackets percent-encoded) and as some do (raw).
        mark = marker("raw")
        body = (f"service_code=data_breach&description={urllib.parse.quote(mark)}"
                "&jurisdiction_id=pk&attribute[rights][]=privacy&attribute%5Brights%5D%5B%5D=expression"
                "&attribute[complainant_type]=anonymous")
        status, _, r = self.post(None, raw=body)
        self.assertEqual(status, 201, r)
        self.secrets += [r[0]["service_request_id"], r[0]["receipt"]]
        rows = cluster().sql("SELECT country, rights, complainant_type, contact_enc FROM grievance "
                             "WHERE description = %s", (mark,))
        self.assertEqual(rows, [("PK", ["privacy", "expression"], "anonymous", None)])
        self.assertNotIn("Not stored", r[0]["service_notice"])
        # Both given: they must agree.
        mark = marker("conflict")
        status, _, r = self.post(self.fields(mark, jurisdiction_id="PK"))
        self.assert_open311_error(status, r, 400, "jurisdiction_id")
        self.assertEqual(stored(mark), [])

    def test_refusals_match_the_api_and_store_nothing(self):
        """Each refused request, and the same grievance sent to POST /v1/grievances: both refused,
        on the same field, nothing stored."""
        long_text = "x" * 20001
        cases = [
            # (open311 changes, API changes, API field, words in the Open311 description)
            ({"service_code": None}, {"category": None}, "category", ["service_code"]),
            ({"service_code": "potholes"}, {"category": "potholes"}, "category", ["service_code"]),
            ({"service_code": ""}, {"category": None}, "category", ["service_code"]),
            ({"description": None}, {"description": None}, "description", ["description"]),
            ({"description": long_text}, {"description": long_text}, "description",
             ["description", "20000"]),
            ({"attribute[country]": None}, {"country": None}, "country", ["attribute[country]"]),
            ({"attribute[country]": "XX"}, {"country": "XX"}, "country", ["attribute[country]"]),
            ({"email": "not-an-address"}, {"contact": {"email": "not-an-address"}},
             "contact.email", ["email"]),
            ({"phone": "12"}, {"contact": {"phone": "12"}}, "contact.phone", ["phone"]),
            ({"attribute[people_affected]": "many"}, {"people_affected": "many"},
             "people_affected", ["attribute[people_affected]"]),
            ({"attribute[people_affected]": "0"}, {"people_affected": 0}, "people_affected",
             ["attribute[people_affected]"]),
            ({"attribute[ongoing]": "yes"}, {"ongoing": "yes"}, "ongoing", ["attribute[ongoing]"]),
            ({"attribute[started_on]": "2999-01-01"}, {"started_on": "2999-01-01"}, "started_on",
             ["attribute[started_on]"]),
            ({"attribute[rights][]": ["expression", "flying"]}, {"rights": ["expression", "flying"]},
             "rights", ["attribute[rights]"]),
            ({"attribute[complainant_type]": "anonymous"},
             {"complainant_type": "anonymous"}, "contact", ["attribute[complainant_type]"]),
        ]
        for o311, api, field, words in cases:
            with self.subTest(field=field, o311=str(o311)[:60]):
                mark = marker("refused")
                status, _, body = self.post(self.fields(mark, **o311))
                self.assert_open311_error(status, body, 400, *words)
                self.assertNotIn(mark, body[0]["description"])
                g = grievance(description=mark, country="KE")
                g.update(api)
                g = {k: v for k, v in g.items() if v is not None}
                status, _, err, raw = self.post_json(g)
                self.assertIn(status, (400, 422), raw)
                self.assertEqual(err["error"]["field"], field, raw)
                self.assertEqual(stored(mark), [])

    def test_profile_refusals_store_nothing(self):
        mark = marker("profile")
        cases = [
            ({"lat": "91", "long": LONG}, ["lat"]),
            ({"lat": LAT, "long": "-180.5"}, ["long"]),
            ({"lat": "north", "long": LONG}, ["lat"]),
            ({"lat": "nan", "long": "0"}, ["lat"]),
            ({"lat": LAT}, ["lat and long"]),
            ({"long": LONG}, ["lat and long"]),
            ({"attribute[colour]": "red"}, ["attribute[colour]"]),
            ({"attribute[country][]": "KE"}, ["attribute[country]"]),
            ({"attribute[rights": "x"}, ["attribute[code]"]),
        ]
        for change, words in cases:
            with self.subTest(change=change):
                status, _, body = self.post(self.fields(mark, **change))
                self.assert_open311_error(status, body, 400, *words)
        # A parameter given twice.
        body = urllib.parse.urlencode(self.fields(mark)) + "&service_code=surveillance"
        status, _, r = self.post(None, raw=body)
        self.assert_open311_error(status, r, 400, "service_code", "more than once")
        # Not form-encoded: JSON, multipart, no content type, a NUL.
        for ctype in ("application/json", "multipart/form-data; boundary=x", None):
            status, _, r = self.post(self.fields(mark), ctype=ctype)
            self.assert_open311_error(status, r, 415, "x-www-form-urlencoded")
        status, _, r = self.post(None, raw=urllib.parse.urlencode(self.fields(mark)) + "&x=%00")
        self.assert_open311_error(status, r, 400)
        status, _, r = self.post(None, headers={"Idempotency-Key": "has space"},
                                 raw=urllib.parse.urlencode(self.fields(mark)))
        self.assert_open311_error(status, r, 400, "Idempotency-Key")
        # Over the body limit: Open311's 413, not an HTML page.
        big = "description=" + "y" * (int(self.cfg.get("server.max_body_bytes", 262144)) + 10)
        status, _, r = self.post(None, raw=big)
        self.assert_open311_error(status, r, 413)
        self.assertEqual(stored(mark), [])

    def test_idempotent_replay(self):
        mark = marker("replay")
        body = urllib.parse.urlencode(self.fields(mark))
        key = {"Idempotency-Key": "o311-replay-" + mark[-12:]}
        s1, h1, r1 = self.post(None, key, raw=body)
        s2, h2, r2 = self.post(None, key, raw=body)
        self.assertEqual((s1, s2), (201, 201), (r1, r2))
        self.assertNotIn("idempotent-replayed", h1)
        self.assertEqual(h2["idempotent-replayed"], "true")
        self.assertEqual(r1[0]["service_request_id"], r2[0]["service_request_id"])
        self.assertEqual(r1[0]["receipt"], r2[0]["receipt"])
        self.secrets += [r1[0]["service_request_id"], r1[0]["receipt"]]
        self.assertEqual(stored(mark), [(r1[0]["service_request_id"], "open311")])
        # The same key with another body is a conflict, and stores nothing.
        status, _, r = self.post(None, key, raw=body + "&attribute[ongoing]=true")
        self.assert_open311_error(status, r, 409, "Idempotency-Key")
        self.assertEqual(len(stored(mark)), 1)
        # The key's own space: the same key on the JSON API is another grievance.
        status, _, j, raw = self.post_json(grievance(description=mark + " api"), key)
        self.assertEqual(status, 201, raw)
        self.secrets += [j["reference"], j["receipt"]]
        self.assertEqual(len(stored(mark)), 2)

    # ---- status -----------------------------------------------------------------------------------
    def test_status_by_receipt_only(self):
        mark = marker("status")
        ref, receipt, _, hdrs = self.file(mark, service_code="surveillance")
        want = None
        for how in ({"query": "?api_key=" + receipt},
                    {"headers": {"Authorization": "Receipt " + receipt}},
                    {"query": "?api_key=" + receipt.lower()[:13] + "-" + receipt.lower()[13:]}):
            path = f"/open311/v2/requests/{ref}.json" + how.get("query", "")
            status, _, body = self.get(path, how.get("headers"))
            self.assertEqual(status, 200, body)
            [s] = body
            want = want or s
            self.assertEqual(s, want)
        self.assertEqual(s["service_request_id"], ref)
        self.assertEqual(s["status"], "open")
        self.assertEqual(s["service_code"], "surveillance")
        self.assertEqual(s["service_name"], "Unlawful surveillance or interception")
        self.assertEqual(s["status_notes"], "Received: waiting to be assessed")
        received = cluster().sql("SELECT to_char(received_at AT TIME ZONE 'UTC', "
                                 "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM grievance WHERE reference = %s",
                                 (ref,))[0][0]
        self.assertEqual((s["requested_datetime"], s["updated_datetime"]), (received, received))
        self.assertIsNone(s["expected_datetime"])
        self.assertIsNone(s["agency_responsible"])
        # In the person's language.
        status, hdrs, fr = self.get(f"/open311/v2/requests/{ref}.json?api_key={receipt}",
                                    {"Accept-Language": "fr"})
        self.assertEqual(hdrs["content-language"], "fr")
        self.assertNotEqual(fr[0]["service_name"], s["service_name"])
        # Without the receipt, with a wrong one, another grievance's, or for an unknown reference:
        # the same 404.
        _, other_receipt, _, _ = self.file(marker("other"))
        wrong = ("0" if receipt[0] != "0" else "1") + receipt[1:]
        unknown = ("0" if ref[0] != "0" else "1") + ref[1:]
        for path, headers in (
                (f"/open311/v2/requests/{ref}.json", None),
                (f"/open311/v2/requests/{ref}.json?api_key=", None),
                (f"/open311/v2/requests/{ref}.json?api_key={wrong}", None),
                (f"/open311/v2/requests/{ref}.json?api_key={other_receipt}", None),
                (f"/open311/v2/requests/{ref}.json", {"Authorization": "Receipt " + wrong}),
                (f"/open311/v2/requests/{ref}.json", {"Authorization": "Bearer " + receipt}),
                (f"/open311/v2/requests/{unknown}.json?api_key={receipt}", None),
                (f"/open311/v2/requests/{ref}.json?api_key={receipt}%00", None),
                (f"/open311/v2/requests/{ref}.json?api_key={receipt}&api_key=x", None)):
            with self.subTest(path=path.replace(receipt, "R"), headers=bool(headers)):
                status, _, body = self.get(path, headers)
                self.assert_open311_error(status, body, 404)
                self.assertEqual(body[0]["description"],
                                 "no request matches this service_request_id and receipt")
        status, _, body = self.get(f"/open311/v2/requests/{ref}%00.json?api_key={receipt}")
        self.assert_open311_error(status, body, 404)

    def test_case_stages_as_open_and_closed(self):
        """Case stages as Open311's open/closed, on a case moved along case_transition by the
        function every move goes through (sql/006 case_status_move)."""
        ref, receipt, _, _ = self.file(marker("stages"))
        path = f"/open311/v2/requests/{ref}.json?api_key={receipt}"
        cref = "CO311" + ref
        case = cluster().sql(
            "INSERT INTO remedy_case (reference, status, category, country, grievance_count) "
            "VALUES (%s, 'triaged', 'network_shutdown', 'KE', 1) RETURNING id", (cref,))[0][0]
        cluster().sql("UPDATE grievance SET case_id = %s WHERE reference = %s", (case, ref))
        status, _, body = self.get(path)
        self.assertEqual(body[0]["status"], "open")
        prev = "triaged"
        reason = "out of scope: the harm is not linked to a member"
        for st, want in (("assigned", "open"), ("investigating", "open"),
                         ("remedy_proposed", "open"), ("remedy_declined", "open"),
                         ("closed", "closed"), ("appealed", "open"), ("investigating", "open"),
                         ("rejected", "closed")):
            cluster().sql("SELECT case_status_move(%s, %s, %s::case_status, %s::case_status, %s)",
                          (case, cref, prev, st, reason if st == "rejected" else None))
            prev = st
            status, _, body = self.get(path)
            self.assertEqual(status, 200, body)
            self.assertEqual(body[0]["status"], want, st)
        self.assertEqual(body[0]["status_notes"], reason)
        moved = cluster().sql("SELECT to_char(max(at) AT TIME ZONE 'UTC', "
                              "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM case_event WHERE case_id = %s",
                              (case,))[0][0]
        self.assertEqual(body[0]["updated_datetime"], moved)

    # ---- the rest ---------------------------------------------------------------------------------
    def test_list_refused(self):
        for q in ("", "?service_request_id=ABC", "?status=open&service_code=surveillance"):
            status, _, body = self.get("/open311/v2/requests.json" + q)
            self.assert_open311_error(status, body, 403, "other people")

    def test_only_json_and_open311_errors_everywhere(self):
        for path in ("/open311/v2/discovery.xml", "/open311/v2/services.xml",
                     "/open311/v2/services/surveillance.xml", "/open311/v2/requests.xml",
                     "/open311/v2/requests/ABC.xml?api_key=x"):
            with self.subTest(path=path):
                status, _, body = self.get(path)
                self.assert_open311_error(status, body, 400, "json")
        status, _, body = self.get("/open311/v2/nothing.json")
        self.assert_open311_error(status, body, 404)
        status, _, body = self.get("/open311/v3/services.json")
        self.assert_open311_error(status, body, 404)
        status, hdrs, data = self.req("DELETE", "/open311/v2/requests.json")
        self.assert_open311_error(status, json.loads(data), 405)
        self.assertEqual(hdrs["allow"], "GET, POST")
        status, hdrs, data = self.req("POST", "/open311/v2/services.json", "x", {"Content-Type": FORM})
        self.assert_open311_error(status, json.loads(data), 405)
        self.assertEqual(hdrs["allow"], "GET")

    def test_errors_in_the_persons_language(self):
        """A validation error says what the API says in the person's language, under the name the
        client used."""
        mark = marker("lang")
        status, hdrs, body = self.post(self.fields(mark, email="not-an-address"),
                                       {"Accept-Language": "fr"})
        self.assert_open311_error(status, body, 400)
        self.assertEqual(hdrs["content-language"], "fr")
        g = grievance(description=mark, contact={"email": "not-an-address"})
        _, _, err, raw = self.post_json(g, {"Accept-Language": "fr"})
        self.assertEqual(body[0]["description"], "email: " + err["error"]["message"])
        self.assertNotIn("contact.email is not", body[0]["description"])
        self.assertEqual(stored(mark), [])

    def test_framing_and_head(self):
        """The router's own refusals are Open311's too; HEAD is a GET without its body."""
        body = urllib.parse.urlencode(self.fields(marker("framing"))).encode()
        s = self.tls_socket()
        s.sendall(b"POST /open311/v2/requests.json HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/x-www-form-urlencoded\r\n"
                  b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(body), len(body)) + body)
        data, closed = recv_all(s, 5)
        s.close()
        self.assertRegex(data, rb"^HTTP/1\.1 400 ")
        self.assertTrue(closed)
        answer = json.loads(data.split(b"\r\n\r\n", 1)[1])
        self.assertEqual(answer[0]["code"], 400)
        self.assertEqual(stored("framing"), [])
        status, hdrs, data = self.req("HEAD", "/open311/v2/services.json")
        self.assertEqual((status, data), (200, b""))
        self.assertTrue(hdrs["content-type"].startswith("application/json"))

    def test_metrics_name_routes_not_references(self):
        ref, receipt, _, _ = self.file(marker("metrics"))
        self.get(f"/open311/v2/requests/{ref}.json?api_key={receipt}")
        self.get("/open311/v2/services/surveillance.json")
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as r:
            text = r.read().decode()
        self.assertRegex(text, r'route="/open311/v2/requests/\{service_request_id\}\.json",'
                               r'method="GET",status="200"\} [1-9]')
        self.assertRegex(text, r'route="/open311/v2/requests\.json",method="POST",status="201"\} [1-9]')
        self.assertIn('route="/open311/v2/services/{service_code}.json"', text)
        for secret in (ref, receipt, "surveillance.json"):
            self.assertNotIn(secret, text)

    def test_zz_log_clean(self):
        self.assertGreaterEqual(len(self.secrets), 6)
        # The listeners' own addresses are configuration, not a peer's.
        log = "\n".join(l for l in self.intake.output().splitlines() if "metrics on http://" not in l)
        self.check_log(log, [EMAIL, PHONE, FIRST, LAST, ADDRESS, LAT, LONG, MEDIA, "Open311 marker",
                             "api_key"] + self.secrets)


class TestOpen311DatabaseDown(unittest.TestCase):
    """With no database, a request is answered 503 in Open311's format with Retry-After (it may be
    sent again with the same Idempotency-Key); what needs no database still answers."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="redress-open311-down-")
        dead = f"host=127.0.0.1 port={harness.free_port()} dbname=redress connect_timeout=1"
        cls.config = harness.make_config(cls.dir, cluster(), **{"database.conninfo": dead})
        cls.intake = harness.Intake(cls.config)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                cls.intake.request("GET", "/open311/v2/discovery.json")
                break
            except OSError:
                time.sleep(0.1)

    @classmethod
    def tearDownClass(cls):
        rc = cls.intake.stop()
        log = cls.intake.output()
        if rc != 0 or "Sanitizer" in log or "runtime error:" in log:
            raise AssertionError(f"redress-intake exited {rc}:\n{log[-4000:]}")

    def test_unavailable(self):
        mark = marker("down")
        body = urllib.parse.urlencode({"service_code": "surveillance", "description": mark,
                                       "attribute[country]": "KE", "email": EMAIL})
        status, hdrs, data = self.intake.request("POST", "/open311/v2/requests.json", body,
                                                 {"Content-Type": FORM, "Idempotency-Key": "k-down"})
        self.assertEqual(status, 503, data)
        self.assertEqual(json.loads(data)[0]["code"], 503)
        self.assertIn("Idempotency-Key", json.loads(data)[0]["description"])
        self.assertEqual(hdrs["retry-after"], "2")
        status, hdrs, data = self.intake.request(
            "GET", f"/open311/v2/requests/{new_reference()}.json?api_key={'A' * 26}")
        self.assertEqual(status, 503, data)
        self.assertEqual(hdrs["retry-after"], "2")
        # A validation error is still a 400: validation comes before the database.
        status, _, data = self.intake.request("POST", "/open311/v2/requests.json",
                                              body.replace("surveillance", "potholes"),
                                              {"Content-Type": FORM})
        self.assertEqual(status, 400, data)
        self.assertEqual(self.intake.request("GET", "/open311/v2/services.json")[0], 200)
        self.assertEqual(stored(mark), [])
        self.assertNotIn(EMAIL, self.intake.output())



class TestOpen311DefaultCountry(IntakeBase):
    """A civic app that sends only lat/long: the mechanism's [open311] default_country is used."""
    overrides = dict(IntakeBase.overrides, **{"open311.default_country": "UG"})

    def test_requests_without_a_country_take_the_default(self):
        for extra, country in (({}, "UG"), ({"attribute[country]": "KE"}, "KE"), ({"jurisdiction_id": "ke"}, "KE")):
            mark = marker("default-country")
            fields = dict({"service_code": "network_shutdown", "description": mark, "lat": "0.3476",
                           "long": "32.5825"}, **extra)
            status, _, data = self.req("POST", "/open311/v2/requests.json", urllib.parse.urlencode(fields),
                                       {"Content-Type": FORM})
            self.assertEqual(status, 201, data)
            rows = cluster().sql("SELECT country FROM grievance WHERE description = %s", (mark,))
            self.assertEqual(rows, [(country,)], extra)


if __name__ == "__main__":
    unittest.main()
