"""End-to-end tests of redress-intake: the real binary over TLS against the throwaway cluster.
Each class starts one server (setUpClass); each test counts or checks rows itself."""
import base64
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import sys
import ssl
import tempfile
import threading
import time
import unittest
import urllib.parse

import harness

try:  # optional: lets us prove contact_enc is AES-256-GCM under the contact key
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
except ImportError:  # pragma: no cover
    AESGCM = None

SECRET_EMAIL = "ayesha.k.witness@example.org"
SECRET_PHONE = "+44 20 7946 0958"
SECRET_NAME = "Ayesha Kowalczyk-Witness"
DESCRIPTION = ("On 3 March the mobile network in our district was shut down for nine days; "
               "clinics could not reach ambulances. Unique-marker-7f3a9c.")

SECURITY_HEADERS = {
    "strict-transport-security": re.compile(r"max-age=\d+"),
    "cache-control": re.compile(r"no-store"),
    "referrer-policy": re.compile(r"^no-referrer$"),
    "x-content-type-options": re.compile(r"^nosniff$"),
    "content-security-policy": re.compile(r"default-src 'none'"),
}


def cluster():
    return harness.CLUSTER


def grievance(**over):
    g = {
        "description": DESCRIPTION,
        "category": "network_shutdown",
        "country": "PK",
        "people_affected": 120000,
        "ongoing": True,
        "started_on": "2024-03-03",
        "complainant_type": "self",
        "language": "en",
        "consent": {"share_with_members": True, "share_with_regulator": False},
        "contact": {"name": SECRET_NAME, "email": SECRET_EMAIL, "phone": SECRET_PHONE},
    }
    g.update(over)
    return {k: v for k, v in g.items() if v is not None}


def count():
    return cluster().sql("SELECT count(*) FROM grievance")[0][0]


def row_text(reference):
    """The whole stored row as text (bytea columns as hex), or None."""
    rows = cluster().sql("SELECT to_jsonb(g)::text FROM grievance g WHERE reference = %s", (reference,))
    return rows[0][0] if rows else None


def recv_all(sock, timeout):
    """Reads until EOF; returns (bytes, closed) where closed is False on timeout."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except (socket.timeout, TimeoutError):
        return data, False
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
        return data, True


class IntakeBase(unittest.TestCase):
    overrides = {"server.request_timeout": 2}

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="redress-intake-test-")
        cls.config = harness.make_config(cls.dir, cluster(), **cls.overrides)
        cls.cfg = harness.read_config(cls.config)
        with open(cls.cfg["keys.contact_key_file"]) as f:
            cls.contact_key = bytes.fromhex(f.read().strip())
        cls.intake = harness.Intake(cls.config)
        cls.intake.wait_healthy()

    @classmethod
    def tearDownClass(cls):
        if cls.intake.proc.poll() is None:
            rc = cls.intake.stop()
        else:
            rc = cls.intake.proc.returncode
        log = cls.intake.output()
        # Also catches ASan/UBSan reports of the check-asan build.
        if rc != 0 or "Sanitizer" in log or "runtime error:" in log:
            raise AssertionError(f"{cls.__name__}: redress-intake exited {rc}:\n{log[-4000:]}")

    # helpers
    def req(self, method, path, body=None, headers=None, conn=None):
        return self.intake.request(method, path, body, headers, conn)

    def post_json(self, obj, headers=None, raw=None, conn=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        body = raw if raw is not None else json.dumps(obj, ensure_ascii=False)
        status, hdrs, data = self.req("POST", "/v1/grievances", body, h, conn)
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        return status, hdrs, parsed, data

    def post_form(self, fields, headers=None):
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        body = urllib.parse.urlencode(fields, doseq=True)
        status, hdrs, data = self.req("POST", "/grievances", body, h)
        return status, hdrs, data.decode("utf-8", "replace")

    def tls_socket(self, **ctxkw):
        ctx = self.intake.tls_context(**ctxkw)
        raw = socket.create_connection(("127.0.0.1", self.intake.port), timeout=10)
        return ctx.wrap_socket(raw, server_hostname="localhost")

    def assert_error(self, status, body, code, want_status, field=None):
        self.assertEqual(status, want_status, body)
        self.assertIsInstance(body, dict, body)
        self.assertIn("error", body)
        err = body["error"]
        self.assertEqual(err["code"], code, body)
        self.assertTrue(err["message"], body)
        if field is not None:
            self.assertEqual(err.get("field"), field, body)

    def check_log(self, log, extra):
        lines = [l for l in log.splitlines() if "listening on https://" not in l]
        text = "\n".join(lines)
        for secret in [SECRET_EMAIL, SECRET_PHONE, SECRET_NAME, DESCRIPTION[:40], "Unique-marker-7f3a9c",
                       "rosa.formtest", "Rosa Formtest", "form-marker-5521", "outage form test"] + extra:
            self.assertNotIn(secret, text)
        self.assertNotRegex(text, r"\b127\.0\.0\.1\b|\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")
        self.assertNotRegex(text, r"DETAIL|ERROR: |duplicate key|violates")

    def assert_security_headers(self, hdrs, what):
        for name, rx in SECURITY_HEADERS.items():
            self.assertIn(name, hdrs, f"{what}: missing {name}")
            self.assertRegex(hdrs[name], rx, f"{what}: {name}")
        csp = hdrs["content-security-policy"]
        self.assertNotRegex(csp, r"https?:|\*", f"{what}: CSP names an external source")


class TestIntake(IntakeBase):
    @classmethod
    def setUpClass(cls):
        cluster().reset()
        super().setUpClass()

    # ---- submission by JSON -------------------------------------------------------------------
    def test_submit_json_stores_row(self):
        before = count()
        g = grievance(rights=["expression", "health"], vulnerability=["human_rights_defender"],
                      companies=["Acme Mobile", "Acme Mobile"], services=["mobile data"],
                      country="pk")
        status, hdrs, body, raw = self.post_json(g)
        self.assertEqual(status, 201, raw)
        self.assertRegex(body["reference"], r"^[0-9A-HJKMNP-TV-Z]{10}[0-9A-HJKMNP-TV-Z*~$=U]$")
        self.assertRegex(body["receipt"], r"^[0-9A-HJKMNP-TV-Z]{26}$")
        self.assertEqual(body["status_url"], "/v1/grievances/" + body["reference"])
        self.assertRegex(body["received_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertTrue(hdrs["content-type"].startswith("application/json"))
        self.assertNotIn("idempotent-replayed", hdrs)
        self.assertEqual(count(), before + 1)
        rows = cluster().sql(
            "SELECT channel, country, category, rights, description, companies, services, "
            "people_affected, ongoing, started_on::text, vulnerability, complainant_type, language, "
            "share_with_members, share_with_regulator, contact_enc IS NOT NULL, idempotency_key "
            "FROM grievance WHERE reference = %s", (body["reference"],))
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0], (
            "api", "PK", "network_shutdown", ["expression", "health"], DESCRIPTION, ["Acme Mobile"],
            ["mobile data"], 120000, True, "2024-03-03", ["human_rights_defender"], "self", "en",
            True, False, True, None))

    def test_submit_minimal_and_anonymous(self):
        before = count()
        status, _, body, raw = self.post_json(
            {"description": "x", "category": "other", "country": "BR", "complainant_type": "anonymous"})
        self.assertEqual(status, 201, raw)
        rows = cluster().sql("SELECT complainant_type, contact_enc, ongoing, rights FROM grievance "
                             "WHERE reference = %s", (body["reference"],))
        self.assertEqual(rows, [("anonymous", None, False, [])])
        self.assertEqual(count(), before + 1)

    def test_contact_stored_encrypted(self):
        status, _, body, raw = self.post_json(grievance())
        self.assertEqual(status, 201, raw)
        text = row_text(body["reference"])
        self.assertIsNotNone(text)
        for secret in (SECRET_EMAIL, SECRET_PHONE, SECRET_NAME):
            self.assertNotIn(secret.lower(), text.lower())
            self.assertNotIn(secret.encode().hex(), text.lower())
        # Fragments short enough to turn up by chance in the hex of random bytes (the ciphertext,
        # the hashes; "7946" did, once in a few hundred runs) are looked for in the other columns.
        plain = cluster().sql("SELECT (to_jsonb(g) - 'contact_enc' - 'receipt_hash' - 'request_hash')::text "
                              "FROM grievance g WHERE reference = %s", (body["reference"],))[0][0]
        for fragment in ("ayesha", "7946"):
            self.assertNotIn(fragment, plain.lower())
            self.assertNotIn(fragment.encode().hex(), plain.lower())
        enc = bytes(cluster().sql("SELECT contact_enc FROM grievance WHERE reference = %s",
                                  (body["reference"],))[0][0])
        for secret in (SECRET_EMAIL, SECRET_PHONE, SECRET_NAME):
            self.assertNotIn(secret.encode(), enc)
            self.assertNotIn(base64.b64encode(secret.encode()), enc)
        # Same contact twice gives different ciphertexts (fresh nonce).
        _, _, body2, _ = self.post_json(grievance())
        enc2 = bytes(cluster().sql("SELECT contact_enc FROM grievance WHERE reference = %s",
                                   (body2["reference"],))[0][0])
        self.assertNotEqual(enc, enc2)
        if AESGCM is not None:
            plain = AESGCM(self.contact_key).decrypt(enc[:12], enc[12:], None)
            self.assertEqual(json.loads(plain),
                             {"name": SECRET_NAME, "email": SECRET_EMAIL, "phone": SECRET_PHONE})
        # Nothing anywhere in the table holds the plaintext.
        dump = cluster().sql("SELECT string_agg(to_jsonb(g)::text, ' ') FROM grievance g")[0][0]
        for secret in (SECRET_EMAIL, SECRET_PHONE, SECRET_NAME):
            self.assertNotIn(secret, dump)

    def test_receipt_not_stored_in_plaintext(self):
        status, _, body, raw = self.post_json(grievance(contact=None))
        self.assertEqual(status, 201, raw)
        receipt = body["receipt"]
        text = row_text(body["reference"])
        self.assertNotIn(receipt, text)
        self.assertNotIn(receipt.lower(), text.lower())
        self.assertNotIn(receipt.encode().hex(), text)
        stored = bytes(cluster().sql("SELECT receipt_hash FROM grievance WHERE reference = %s",
                                     (body["reference"],))[0][0])
        self.assertEqual(stored, hashlib.sha256(receipt.encode()).digest())

    def test_stored_grievance_is_immutable(self):
        import psycopg2
        status, _, body, raw = self.post_json(grievance())
        self.assertEqual(status, 201, raw)
        ref = body["reference"]
        before = row_text(ref)
        # Even the superuser cannot change what was submitted, nor delete it.
        for stmt in ("UPDATE grievance SET description = 'changed' WHERE reference = %s",
                     "UPDATE grievance SET country = 'FR', category = 'other' WHERE reference = %s",
                     "DELETE FROM grievance WHERE reference = %s"):
            with self.assertRaises(psycopg2.Error, msg=stmt) as ctx:
                cluster().sql(stmt, (ref,))
            self.assertIn("immutable", str(ctx.exception))
        self.assertEqual(row_text(ref), before)
        # Triage's own columns may be set.
        cluster().sql("UPDATE grievance SET triaged_at = now() WHERE reference = %s", (ref,))
        cluster().sql("UPDATE grievance SET triaged_at = NULL WHERE reference = %s", (ref,))

    # ---- status -------------------------------------------------------------------------------
    def test_status_right_wrong_missing_receipt(self):
        status, _, body, raw = self.post_json(grievance())
        self.assertEqual(status, 201, raw)
        ref, receipt = body["reference"], body["receipt"]
        url = "/v1/grievances/" + ref
        st, hdrs, data = self.req("GET", url, headers={"Authorization": "Receipt " + receipt})
        self.assertEqual(st, 200, data)
        info = json.loads(data)
        self.assertEqual(info["reference"], ref)
        self.assertEqual(info["status"], "received")
        self.assertEqual(info["received_at"], body["received_at"])
        self.assertIn("next_deadline", info)
        self.assertIsNone(info["next_deadline"])
        self.assertNotIn(receipt, data.decode())
        self.assert_security_headers(hdrs, "status 200")
        # Typed forms of the reference and receipt: lower case, hyphens.
        typed_ref = (ref[:4] + "-" + ref[4:8] + "-" + ref[8:]).lower()
        typed_receipt = "-".join(receipt[i:i + 5] for i in range(0, 26, 5)).lower()
        st, _, data = self.req("GET", "/v1/grievances/" + typed_ref,
                               headers={"Authorization": "Receipt " + typed_receipt})
        self.assertEqual(st, 200, data)

        # Wrong receipt, missing receipt, unknown reference, malformed reference: one answer.
        wrong = ("0" if receipt[0] != "0" else "1") + receipt[1:]
        other_ref = ref[:9] + ("0" if ref[9] != "0" else "1")
        other_ref += [c for c in "0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U"][
            sum(v * pow(32, 9 - i, 37) for i, v in enumerate(
                "0123456789ABCDEFGHJKMNPQRSTVWXYZ".index(c) for c in other_ref)) % 37]
        answers = [
            self.req("GET", url, headers={"Authorization": "Receipt " + wrong}),
            self.req("GET", url),
            self.req("GET", url, headers={"Authorization": "Bearer " + receipt}),
            self.req("GET", url, headers={"Authorization": "Receipt "}),
            self.req("GET", "/v1/grievances/" + other_ref, headers={"Authorization": "Receipt " + receipt}),
            self.req("GET", "/v1/grievances/NOTAREF", headers={"Authorization": "Receipt " + receipt}),
        ]
        for st, hdrs, data in answers:
            self.assertEqual(st, 404, data)
            self.assertEqual(data, answers[0][2])
            self.assertEqual(json.loads(data)["error"]["code"], "not_found")
            self.assertNotIn(ref, data.decode())
            self.assert_security_headers(hdrs, "status 404")

    def test_status_percent_encoded_reference(self):
        """URL libraries percent-encode the check symbols '*', '$', '=': the status must still open."""
        status, _, body, raw = self.post_json(grievance())
        self.assertEqual(status, 201, raw)
        encoded = "".join("%%%02X" % ord(c) for c in body["reference"])
        st, _, data = self.req("GET", "/v1/grievances/" + encoded,
                               headers={"Authorization": "Receipt " + body["receipt"]})
        self.assertEqual(st, 200, data)
        st, _, data = self.req("GET", "/v1/grievances/" + body["reference"] + "%00",
                               headers={"Authorization": "Receipt " + body["receipt"]})
        self.assertEqual(st, 404, data)

    def test_status_query_failure_is_503_not_404(self):
        """A failing status query is 'unavailable, retry', never 'no such grievance'."""
        status, _, body, raw = self.post_json(grievance())
        self.assertEqual(status, 201, raw)
        cluster().sql("ALTER FUNCTION grievance_status_by_receipt(bytea) RENAME TO grievance_status_e2e_hidden")
        try:
            st, hdrs, data = self.req("GET", body["status_url"],
                                      headers={"Authorization": "Receipt " + body["receipt"]})
        finally:
            cluster().sql("ALTER FUNCTION grievance_status_e2e_hidden(bytea) RENAME TO grievance_status_by_receipt")
        self.assert_error(st, json.loads(data), "unavailable", 503)
        self.assertIn("retry-after", hdrs)
        st, _, data = self.req("GET", body["status_url"], headers={"Authorization": "Receipt " + body["receipt"]})
        self.assertEqual(st, 200, data)

    def test_status_html_form(self):
        status, _, body, raw = self.post_json(grievance())
        self.assertEqual(status, 201, raw)
        st, hdrs, page = self.req("GET", "/status")
        self.assertEqual(st, 200)
        self.assertIn(b'action="/status"', page)
        self.assertIn(b'method="post"', page)
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        form = urllib.parse.urlencode({"reference": body["reference"], "receipt": body["receipt"]})
        st, hdrs, page = self.req("POST", "/status", form, h)
        self.assertEqual(st, 200, page)
        self.assertIn(body["reference"].encode(), page)
        self.assertIn(b"Received", page)
        self.assertTrue(hdrs["content-type"].startswith("text/html"))
        self.assert_security_headers(hdrs, "status page")
        form = urllib.parse.urlencode({"reference": body["reference"], "receipt": "0" * 26})
        st, _, page = self.req("POST", "/status", form, h)
        self.assertEqual(st, 404, page)
        self.assertIn(b"No grievance matches", page)
        st, _, page = self.req("POST", "/status", form, dict(h, Origin="https://evil.example"))
        self.assertEqual(st, 403)

    # ---- idempotency --------------------------------------------------------------------------
    def test_idempotency_same_body_replays(self):
        before = count()
        key = "idem-" + os.urandom(8).hex()
        body = json.dumps(grievance())
        s1, h1, b1, r1 = self.post_json(None, {"Idempotency-Key": key}, raw=body)
        s2, h2, b2, r2 = self.post_json(None, {"Idempotency-Key": key}, raw=body)
        self.assertEqual((s1, s2), (201, 201), (r1, r2))
        self.assertEqual(b1["reference"], b2["reference"])
        self.assertEqual(b1["receipt"], b2["receipt"])
        self.assertEqual(b1["received_at"], b2["received_at"])
        self.assertNotIn("idempotent-replayed", h1)
        self.assertEqual(h2.get("idempotent-replayed"), "true")
        self.assertEqual(count(), before + 1)
        rows = cluster().sql("SELECT reference FROM grievance WHERE idempotency_key = %s", (key,))
        self.assertEqual(rows, [(b1["reference"],)])
        text = row_text(b1["reference"])
        self.assertNotIn(b1["receipt"], text)
        # The replayed receipt opens the status.
        st, _, data = self.req("GET", b1["status_url"], headers={"Authorization": "Receipt " + b2["receipt"]})
        self.assertEqual(st, 200, data)

    def test_idempotency_different_body_conflicts(self):
        key = "idem-" + os.urandom(8).hex()
        s1, _, b1, r1 = self.post_json(grievance(), {"Idempotency-Key": key})
        self.assertEqual(s1, 201, r1)
        before = count()
        s2, h2, b2, r2 = self.post_json(grievance(description="something else"), {"Idempotency-Key": key})
        self.assert_error(s2, b2, "idempotency_conflict", 409, "Idempotency-Key")
        self.assertNotIn("something else", r2.decode())
        self.assertNotIn(b1["reference"], r2.decode())
        self.assertEqual(count(), before)
        self.assert_security_headers(h2, "409")

    def test_idempotency_concurrent_duplicates_one_row(self):
        before = count()
        key = "conc-" + os.urandom(8).hex()
        body = json.dumps(grievance())
        results = []
        lock = threading.Lock()
        start = threading.Barrier(8)

        def worker():
            start.wait()
            r = self.post_json(None, {"Idempotency-Key": key}, raw=body)
            with lock:
                results.append(r)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(len(results), 8)
        self.assertEqual([r[0] for r in results], [201] * 8, [r[3] for r in results])
        self.assertEqual(len({r[2]["reference"] for r in results}), 1)
        self.assertEqual(len({r[2]["receipt"] for r in results}), 1)
        self.assertEqual(sum(1 for r in results if "idempotent-replayed" not in r[1]), 1)
        self.assertEqual(count(), before + 1)
        self.assertEqual(cluster().sql("SELECT count(*) FROM grievance WHERE idempotency_key = %s",
                                       (key,))[0][0], 1)

    def test_idempotency_duplicates_beside_other_submissions(self):
        # One batch may hold a key twice and rows without a key: the batch fails on the key's
        # unique index as a whole (sql/025), its rows go again one by one, and every neighbour is
        # stored once.
        before = count()
        key = "burst-" + os.urandom(8).hex()
        body = json.dumps(grievance())
        results = []
        lock = threading.Lock()
        start = threading.Barrier(16)

        def worker(i):
            start.wait()
            if i % 2:
                r = self.post_json(None, {"Idempotency-Key": key}, raw=body)
            else:
                r = self.post_json(grievance(description=f"neighbour {i} of a repeated key"))
            with lock:
                results.append((i, r))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(len(results), 16)
        self.assertEqual([r[0] for _, r in results], [201] * 16, [r[3] for _, r in results])
        keyed = [r for i, r in results if i % 2]
        others = [r for i, r in results if not i % 2]
        self.assertEqual(len({r[2]["reference"] for r in keyed}), 1)
        self.assertEqual(len({r[2]["reference"] for r in others}), 8)
        self.assertEqual(count(), before + 9)
        for _, r in results:
            ref = r[2]["reference"]
            self.assertEqual(cluster().sql("SELECT count(*) FROM grievance_key WHERE reference = %s",
                                           (ref,), user="postgres")[0][0], 1)

    def test_idempotency_key_invalid(self):
        before = count()
        st, _, body, raw = self.post_json(grievance(), {"Idempotency-Key": "x" * 201})
        self.assert_error(st, body, "invalid_idempotency_key", 400, "Idempotency-Key")
        self.assertEqual(count(), before)

    # ---- errors -------------------------------------------------------------------------------
    def test_error_400_malformed_json(self):
        before = count()
        for raw in ('{"description": "x", ', "", "not json", '{"description":"a","description":"b",'
                    '"category":"other","country":"FR"}'):
            st, hdrs, body, data = self.post_json(None, raw=raw)
            self.assert_error(st, body, "malformed_json", 400)
            self.assert_security_headers(hdrs, "400")
        st, _, body, data = self.post_json(None, raw="[1, 2]")
        self.assertEqual(st, 400, data)
        self.assertIn("object", body["error"]["message"])
        self.assertEqual(count(), before)

    def test_error_400_invalid_utf8(self):
        before = count()
        raw = (b'{"description": "caf\xc3 \xff\xfe broken", "category": "other", "country": "FR"}')
        st, hdrs, body, data = self.post_json(None, raw=raw)
        self.assert_error(st, body, "invalid_utf8", 400)
        self.assertIn("UTF-8", body["error"]["message"])
        # Overlong encoding and an encoded surrogate are not UTF-8 either.
        for bad in (b"\xc0\xaf", b"\xed\xa0\x80"):
            raw = b'{"description": "a' + bad + b'", "category": "other", "country": "FR"}'
            st, _, body, data = self.post_json(None, raw=raw)
            self.assertEqual(st, 400, data)
        # \u0000 inside a string is refused too.
        st, _, body, data = self.post_json(None, raw='{"description": "a\\u0000b", "category": "other", '
                                                     '"country": "FR"}')
        self.assertIn(st, (400, 422), data)
        self.assertEqual(count(), before)

    def test_head_has_no_body(self):
        # HEAD is answered like GET, without a body, and the connection stays usable.
        conn = self.intake.connection()
        try:
            for path in ("/", "/healthz", "/v1/taxonomy"):
                conn.request("HEAD", path)
                r = conn.getresponse()
                self.assertEqual(r.status, 200, path)
                self.assertEqual(r.read(), b"")
                self.assert_security_headers({k.lower(): v for k, v in r.getheaders()}, "HEAD " + path)
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(json.loads(r.read())["status"], "ok")
        finally:
            conn.close()

    def test_error_404_405(self):
        st, hdrs, data = self.req("GET", "/v1/nothing-here")
        body = json.loads(data)
        self.assert_error(st, body, "not_found", 404)
        self.assert_security_headers(hdrs, "JSON 404")
        st, hdrs, data = self.req("GET", "/nothing-here")
        self.assertEqual(st, 404)
        self.assertTrue(hdrs["content-type"].startswith("text/html"), hdrs)
        self.assert_security_headers(hdrs, "HTML 404")
        before = count()
        for method, path, allow in (("GET", "/v1/grievances", "POST"), ("PUT", "/v1/grievances", "POST"),
                                    ("DELETE", "/v1/taxonomy", "GET"), ("POST", "/healthz", "GET"),
                                    ("PATCH", "/v1/grievances/ABCDEFGHJK1", "GET")):
            # A body only where the method has one: a GET or DELETE with a body is a 400
            # (test_body_on_bodyless_method_refused).
            body = json.dumps(grievance()) if method in ("PUT", "PATCH", "POST") else None
            st, hdrs, data = self.req(method, path, body, {"Content-Type": "application/json"})
            self.assert_error(st, json.loads(data), "method_not_allowed", 405)
            self.assertEqual(hdrs.get("allow"), allow)
            self.assert_security_headers(hdrs, "405")
        st, hdrs, data = self.req("DELETE", "/")
        self.assertEqual(st, 405)
        self.assertTrue(hdrs["content-type"].startswith("text/html"))
        self.assert_security_headers(hdrs, "HTML 405")
        self.assertEqual(count(), before)

    def test_error_415_wrong_content_type(self):
        before = count()
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx"):
            st, hdrs, body, data = self.post_json(grievance(), {"Content-Type": ctype})
            self.assert_error(st, body, "unsupported_media_type", 415)
            self.assertIn("application/json", body["error"]["message"])
        st, _, body, data = self.post_json(grievance(), {"Content-Type": "application/json; charset=utf-8"})
        self.assertEqual(st, 201, data)
        self.assertEqual(count(), before + 1)

    def test_error_422_names_field(self):
        before = count()
        cases = [
            ({"description": None}, "description", "required"),
            ({"description": "   "}, "description", "required"),
            ({"description": 42}, "description", "invalid"),
            ({"description": "é" * 20001}, "description", "too_long"),
            ({"category": None}, "category", "required"),
            ({"category": "made_up_harm"}, "category", "invalid"),
            ({"country": None}, "country", "required"),
            ({"country": "XX"}, "country", "invalid"),
            ({"country": "PAK"}, "country", "too_long"),
            ({"rights": ["not_a_right"]}, "rights", "invalid"),
            ({"rights": "expression"}, "rights", "invalid"),
            ({"vulnerability": ["dragon"]}, "vulnerability", "invalid"),
            ({"people_affected": 0}, "people_affected", "invalid"),
            ({"people_affected": "12"}, "people_affected", "invalid"),
            ({"ongoing": "yes"}, "ongoing", "invalid"),
            ({"started_on": "2023-02-29"}, "started_on", "invalid"),
            ({"started_on": "2999-01-01"}, "started_on", "invalid"),
            ({"started_on": "03/03/2024"}, "started_on", "invalid"),
            ({"complainant_type": "robot"}, "complainant_type", "invalid"),
            ({"language": "english!"}, "language", "invalid"),
            ({"consent": {"share_with_members": "yes"}}, "consent.share_with_members", "invalid"),
            ({"consent": {"sell_data": True}}, "consent", "unknown_field"),
            ({"contact": {"email": "not-an-address"}}, "contact.email", "invalid"),
            ({"contact": {"phone": "call me"}}, "contact.phone", "invalid"),
            ({"contact": {"address": "somewhere"}}, "contact", "unknown_field"),
            ({"complainant_type": "anonymous"}, "contact", "invalid"),
            ({"colour": "blue"}, "colour", "unknown_field"),
        ]
        for over, field, code in cases:
            with self.subTest(field=field, over=str(over)[:60]):
                st, hdrs, body, data = self.post_json(grievance(**over))
                self.assert_error(st, body, code, 422, field)
                self.assertIn(field.split(".")[0], body["error"]["message"])
                # An error never echoes the submitted value.
                for v in over.values():
                    if isinstance(v, str) and len(v) > 3 and v not in ("anonymous",):
                        self.assertNotIn(v[:50], data.decode())
                self.assertNotIn(SECRET_EMAIL, data.decode())
        self.assertEqual(count(), before)

    def test_text_round_trips_exactly(self):
        # Rows travel as binary arrays whose list cells are array literals: quotes, backslashes,
        # braces, commas, the word NULL, escapes and non-ASCII text must come back exactly as sent,
        # in every list.
        tricky = ['Acme "Mobile"', "back\\slash\\", "{braces}", "a,b", "NULL", " spaced ", "é ✓ 😀",
                  "tab\tand\nnewline"]
        desc = 'He said "stop" \\ {not an array} NULL, then\n\ta new line — ✓ 😀'
        st, _, body, raw = self.post_json(grievance(description=desc, companies=tricky, services=tricky[:3],
                                                    language="pt-BR", contact=None))
        self.assertEqual(st, 201, raw)
        stored = cluster().sql("SELECT description, companies, services, rights, language, people_affected, "
                               "started_on::text, channel FROM grievance WHERE reference = %s",
                               (body["reference"],))
        self.assertEqual(stored, [(desc, tricky, tricky[:3], [], "pt-BR", 120000, "2024-03-03", "api")])
        # Escaped forms in the JSON text decode to the same characters.
        raw_body = ('{"description": "caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\", "category": "other", '
                    '"country": "fr", "companies": ["\\u007bx\\u007d"]}')
        st, _, body, raw = self.post_json(None, raw=raw_body)
        self.assertEqual(st, 201, raw)
        self.assertEqual(cluster().sql("SELECT description, companies, country FROM grievance WHERE reference = %s",
                                       (body["reference"],)), [('café 😀 "q" \\', ["{x}"], "FR")])

    def test_one_row_batches_use_the_generic_plan(self):
        # sql/028: an idle intake's batches of one are not planned again on every call.
        config = cluster().sql("SELECT proconfig FROM pg_proc WHERE proname = 'intake_submit_rows'")
        self.assertEqual(len(config), 1)
        self.assertIn("plan_cache_mode=force_generic_plan", config[0][0])
        for _ in range(8):  # past the calls where PostgreSQL tries custom plans
            st, _, body, raw = self.post_json(grievance(contact=None))
            self.assertEqual(st, 201, raw)
        self.assertEqual(cluster().sql("SELECT count(*) FROM grievance WHERE reference = %s",
                                       (body["reference"],)), [(1,)])

    def test_dates_and_numbers_round_trip(self):
        # Dates go as days from 2000-01-01 (binary): both sides of it, leap days, the earliest
        # accepted year; people_affected at the top of its range.
        for day in ("1900-01-01", "1999-12-31", "2000-01-01", "2000-02-29", "2024-02-29", "2100-01-01"):
            st, _, body, raw = self.post_json(grievance(started_on=day, people_affected=2147483647, contact=None))
            if day == "2100-01-01":
                self.assertEqual(st, 422, raw)  # in the future
                continue
            self.assertEqual(st, 201, raw)
            self.assertEqual(cluster().sql("SELECT started_on::text, people_affected FROM grievance "
                                           "WHERE reference = %s", (body["reference"],)),
                             [(day, 2147483647)])

    def test_description_limits(self):
        before = count()
        st, _, body, data = self.post_json(grievance(description="ü" * 20000, contact=None))
        self.assertEqual(st, 201, data[:200])
        stored = cluster().sql("SELECT length(description), octet_length(description) FROM grievance "
                               "WHERE reference = %s", (body["reference"],))
        self.assertEqual(stored, [(20000, 40000)])
        self.assertEqual(count(), before + 1)

    def test_error_413_body_too_large(self):
        before = count()
        limit = int(self.cfg.get("server.max_body_bytes", 262144))
        big = json.dumps(grievance(description="a" * (limit + 10)))
        st, hdrs, body, data = self.post_json(None, raw=big)
        self.assert_error(st, body, "body_too_large", 413)
        self.assertTrue(hdrs["content-type"].startswith("application/json"), hdrs)
        self.assertEqual(hdrs.get("connection", "").lower(), "close")
        self.assert_security_headers(hdrs, "413")
        # The form has its own, larger limit (20,000 CJK characters urlencoded are ~180 KB); over
        # it the form comes back (HTML 413) with the text kept: see test_i18n.
        form_limit = int(self.cfg.get("server.max_form_bytes", 393216))
        st, hdrs, page = self.post_form({"description": "a" * (form_limit + 10), "category": "other",
                                         "country": "FR"})
        self.assertEqual(st, 413)
        self.assertTrue(hdrs["content-type"].startswith("text/html"), hdrs)
        self.assertEqual(count(), before)

    def test_body_far_over_limit_refused(self):
        """Content-Length beyond libevent's hard cap: still a 413 and the connection closed."""
        before = count()
        s = self.tls_socket()
        s.sendall(b"POST /v1/grievances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 50000000\r\n\r\n{")
        data, closed = recv_all(s, 5)
        s.close()
        self.assertRegex(data, rb"^HTTP/1\.1 413 ")
        self.assertTrue(closed)
        self.assertEqual(count(), before)

    def test_oversized_headers_refused(self):
        # Just under 8 KiB of headers is fine.
        st, _, _ = self.req("GET", "/v1/taxonomy", headers={"X-Padding": "p" * 7000})
        self.assertEqual(st, 200)
        before = count()
        s = self.tls_socket()
        body = json.dumps(grievance()).encode()
        s.sendall(b"POST /v1/grievances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"X-Padding: " + b"p" * 9000 + b"\r\nContent-Length: " + str(len(body)).encode() +
                  b"\r\n\r\n" + body)
        data, closed = recv_all(s, 5)
        s.close()
        self.assertRegex(data, rb"^HTTP/1\.1 4\d\d ")
        self.assertTrue(closed, "connection left open after oversized headers")
        # Many small headers adding up past the limit as well.
        s = self.tls_socket()
        s.sendall(b"GET /v1/taxonomy HTTP/1.1\r\nHost: x\r\n" +
                  b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 90) for i in range(120)) + b"\r\n")
        data, closed = recv_all(s, 5)
        s.close()
        self.assertRegex(data, rb"^HTTP/1\.1 4\d\d ")
        self.assertTrue(closed)
        self.assertEqual(count(), before)

    def test_duplicate_content_length_refused(self):
        before = count()
        body = json.dumps(grievance()).encode()
        s = self.tls_socket()
        s.sendall(b"POST /v1/grievances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(body), len(body)) + body)
        data, closed = recv_all(s, 5)
        s.close()
        self.assertRegex(data, rb"^HTTP/1\.1 400 ")
        self.assertTrue(closed)
        self.assertEqual(count(), before)

    # ---- strict framing (raw TLS) ----------------------------------------------------------
    def raw_exchange(self, payload, timeout=5):
        s = self.tls_socket()
        try:
            s.sendall(payload)
            return recv_all(s, timeout)
        finally:
            s.close()

    def test_content_length_digits_only(self):
        """Content-Length is 1*DIGIT: a sign, inner spaces, hex or a list is a 400, the connection
        closed and nothing stored (evhttp alone would take '+5' as 5)."""
        before = count()
        body = json.dumps(grievance(contact=None)).encode()
        n = str(len(body)).encode()
        for value in (b"+" + n, b"-" + n, n[:1] + b" " + n[1:], b"0x%x" % len(body), n + b", " + n,
                      b"\t" + n, n + b".0", b""):
            data, closed = self.raw_exchange(
                b"POST /v1/grievances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + value + b"\r\n\r\n" + body)
            self.assertRegex(data, rb"^HTTP/1\.1 400 ", value)
            self.assertTrue(closed, value)
        # Our own 400 (JSON, our headers) for the ones evhttp would have accepted.
        data, _ = self.raw_exchange(b"POST /v1/grievances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                                    b"\r\nContent-Length: +" + n + b"\r\n\r\n" + body)
        self.assertIn(b"Content-Length must be digits only", data)
        self.assertIn(b"Strict-Transport-Security", data)
        self.assertEqual(count(), before)
        # Leading zeros are still digits.
        data, _ = self.raw_exchange(b"POST /v1/grievances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                                    b"\r\nConnection: close\r\nContent-Length: 00" + n + b"\r\n\r\n" + body)
        self.assertRegex(data, rb"^HTTP/1\.1 201 ")
        self.assertEqual(count(), before + 1)

    def test_header_name_with_whitespace_refused(self):
        """'Content-Length : 5' is a header evhttp names 'Content-Length ', so it would read no body
        and take the body for the next request: a 400, connection closed, nothing stored."""
        before = count()
        body = json.dumps(grievance(contact=None)).encode()
        n = str(len(body)).encode()
        smuggled = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        for header in (b"Content-Length : " + n, b"Content-Length\t: " + n,
                       b"Transfer-Encoding : chunked", b"Transfer-Encoding\t: chunked",
                       b"Content Length: " + n, b"X-Odd\x01: 1", b": " + n):
            data, closed = self.raw_exchange(
                b"POST /v1/grievances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
                header + b"\r\n\r\n" + smuggled)
            self.assertRegex(data, rb"^HTTP/1\.1 400 ", header)
            self.assertEqual(data.count(b"HTTP/1.1 "), 1, header)  # the smuggled GET is never answered
            self.assertTrue(closed, header)
        self.assertEqual(count(), before)

    def test_transfer_encoding_strict(self):
        before = count()
        body = json.dumps(grievance(contact=None)).encode()
        chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
        head = b"POST /v1/grievances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        for te in (b"Transfer-Encoding: chunked\r\nContent-Length: %d\r\n" % len(chunked),
                   b"Transfer-Encoding: gzip, chunked\r\n", b"Transfer-Encoding: identity\r\n",
                   b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"):
            data, closed = self.raw_exchange(head + te + b"\r\n" + chunked)
            self.assertRegex(data, rb"^HTTP/1\.1 400 ", te)
            self.assertTrue(closed, te)
        self.assertEqual(count(), before)
        # A plain chunked body is fine.
        data, _ = self.raw_exchange(head + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked)
        self.assertRegex(data, rb"^HTTP/1\.1 201 ")
        self.assertEqual(count(), before + 1)

    def test_body_on_bodyless_method_refused(self):
        """evhttp reads no body for GET: the bytes would be parsed as a second request."""
        smuggled = b"POST /v1/grievances HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
        for framing in (b"Content-Length: %d\r\n" % len(smuggled), b"Transfer-Encoding: chunked\r\n"):
            data, closed = self.raw_exchange(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + framing +
                                             b"\r\n" + smuggled)
            # Ours is a 400; for chunked, Debian's libevent refuses it first (its own HTML 4xx).
            self.assertRegex(data, rb"^HTTP/1\.1 4\d\d ", framing)
            self.assertEqual(data.count(b"HTTP/1.1 "), 1, framing)
            self.assertTrue(closed)
        data, _ = self.raw_exchange(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                                    b"Connection: close\r\n\r\n")
        self.assertRegex(data, rb"^HTTP/1\.1 200 ")

    def test_chunked_body_limits(self):
        """A chunked body is held to the same limits: over max_body_bytes our JSON 413; over the
        hard cap (4 x the larger of max_body_bytes and max_form_bytes) libevent stops reading at the chunk that would pass it."""
        before = count()
        limit = int(self.cfg.get("server.max_body_bytes", 262144))
        # the hard cap is 4 x the larger of the API's and the form's limits
        cap = 4 * max(limit, int(self.cfg.get("server.max_form_bytes", 393216)))
        head = (b"POST /v1/grievances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        over = json.dumps(grievance(description="a" * (limit + 10))).encode()
        chunks = b"".join(b"%x\r\n" % len(over[i:i + 4096]) + over[i:i + 4096] + b"\r\n"
                          for i in range(0, len(over), 4096)) + b"0\r\n\r\n"
        data, closed = self.raw_exchange(head + chunks)
        self.assertRegex(data, rb"^HTTP/1\.1 413 ")
        self.assertIn(b"body_too_large", data)
        self.assertTrue(closed)
        # A chunk size past the hard cap is refused before its data is sent.
        data, closed = self.raw_exchange(head + b"%x\r\n" % (cap + 1))
        self.assertRegex(data, rb"^HTTP/1\.1 4\d\d ")
        self.assertTrue(closed)
        # Many small chunks adding up past the cap, and no last chunk: only the cap can make the
        # server answer (else it would wait for the rest until the request deadline, silently).
        piece = b"1000\r\n" + b"a" * 4096 + b"\r\n"
        data, closed = self.raw_exchange(head + piece * (cap // 4096 + 2))
        self.assertRegex(data, rb"^HTTP/1\.1 413 ")
        self.assertTrue(closed)
        self.assertEqual(count(), before)

    def test_content_length_over_hard_cap_refused_unread(self):
        """Over max_body_bytes: our JSON 413 once the body is read; over the hard cap of
        4 x the larger limit: a 413 before any of the body is read."""
        limit = int(self.cfg.get("server.max_body_bytes", 262144))
        cap = 4 * max(limit, int(self.cfg.get("server.max_form_bytes", 393216)))
        head = b"POST /v1/grievances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        data, closed = self.raw_exchange(head + b"Content-Length: %d\r\n\r\n" % (cap + 1))
        self.assertRegex(data, rb"^HTTP/1\.1 413 ")
        self.assertTrue(closed)
        data, closed = self.raw_exchange(head + b"Content-Length: %d\r\n\r\n" % cap +
                                         b"{" * cap)
        self.assertRegex(data, rb"^HTTP/1\.1 413 ")
        self.assertIn(b"body_too_large", data)

    # ---- slow clients -------------------------------------------------------------------------
    def trickle(self, s, payload):
        """Sends payload one byte per 0.5 s; returns seconds until the server cut us off, or None."""
        t0 = time.monotonic()
        s.settimeout(0.5)
        for b in payload:
            try:
                s.sendall(bytes([b]))
            except (OSError, ssl.SSLError):
                return time.monotonic() - t0
            try:
                if s.recv(4096) == b"":
                    return time.monotonic() - t0
                return time.monotonic() - t0  # any answer before the request ended
            except (socket.timeout, TimeoutError):
                pass
            except (OSError, ssl.SSLError):
                return time.monotonic() - t0
            if time.monotonic() - t0 > 12:
                break
        return None

    def test_slow_request_cut_off(self):
        before = count()
        body = json.dumps(grievance()).encode()
        payload = (b"POST /v1/grievances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Content-Length: %d\r\n\r\n" % len(body)) + body
        s = self.tls_socket()
        took = self.trickle(s, payload)
        s.close()
        self.assertIsNotNone(took, "a request trickled over 12 s was never cut off")
        self.assertLess(took, 5)
        self.assertGreater(took, 1.5)
        self.assertEqual(count(), before)

    def test_slow_request_after_keepalive_response_cut_off(self):
        s = self.tls_socket()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        first = s.recv(65536)
        self.assertRegex(first, rb"^HTTP/1\.1 200 ")
        took = self.trickle(s, b"GET /v1/taxonomy HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 40 + b"\r\n\r\n")
        s.close()
        self.assertIsNotNone(took, "the deadline was not re-armed after a keep-alive response")
        self.assertLess(took, 5)

    def test_idle_connection_closed(self):
        s = self.tls_socket()
        t0 = time.monotonic()
        data, closed = recv_all(s, 6)
        s.close()
        self.assertTrue(closed, "an idle connection stayed open")
        self.assertLess(time.monotonic() - t0, 5)

    # ---- TLS ----------------------------------------------------------------------------------
    def old_tls_context(self, version):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = version
        ctx.maximum_version = version
        return ctx

    def test_tls_old_versions_refused(self):
        for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            with self.subTest(version=version):
                ctx = self.old_tls_context(version)
                raw = socket.create_connection(("127.0.0.1", self.intake.port), timeout=5)
                with self.assertRaises(ssl.SSLError) as cm:
                    ctx.wrap_socket(raw, server_hostname="localhost").close()
                raw.close()
                # The refusal must be the server's (a protocol-version alert), not our client's.
                self.assertNotIn("NO_PROTOCOLS_AVAILABLE", str(cm.exception))
                self.assertRegex(str(cm.exception), r"(?i)protocol.version|unsupported.protocol")
        # Control: the same client settings allow 1.2 and 1.3.
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = self.old_tls_context(version)
            with socket.create_connection(("127.0.0.1", self.intake.port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    self.assertEqual(s.version(), {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                                   ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version])
                    self.assertIn("GCM" if version == ssl.TLSVersion.TLSv1_2 else "TLS_", s.cipher()[0])

    def test_tls_no_session_resumption(self):
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with self.subTest(version=version):
                ctx = self.intake.tls_context(minimum_version=version, maximum_version=version)
                s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.intake.port), timeout=5),
                                    server_hostname="localhost")
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                recv_all(s, 5)  # TLS 1.3 tickets would arrive after the handshake
                session = s.session
                s.close()
                if session is not None:
                    self.assertFalse(session.has_ticket, "the server issued a session ticket")
                s2 = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.intake.port), timeout=5),
                                     server_hostname="localhost", session=session)
                self.assertFalse(s2.session_reused)
                s2.close()

    def test_tls_weak_cipher_refused(self):
        ctx = self.old_tls_context(ssl.TLSVersion.TLSv1_2)
        ctx.set_ciphers("AES128-SHA:AES256-SHA:ECDHE-RSA-AES128-SHA:@SECLEVEL=0")
        raw = socket.create_connection(("127.0.0.1", self.intake.port), timeout=5)
        with self.assertRaises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="localhost").close()
        raw.close()

    def test_plain_http_not_served(self):
        with socket.create_connection(("127.0.0.1", self.intake.port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data, closed = recv_all(s, 5)
        self.assertNotIn(b"HTTP/1.1 200", data)
        self.assertTrue(closed)

    # ---- headers ------------------------------------------------------------------------------
    def test_security_headers_everywhere(self):
        checks = [
            ("GET", "/", None, {}),
            ("GET", "/status", None, {}),
            ("GET", "/v1/taxonomy", None, {}),
            ("GET", "/healthz", None, {}),
            ("GET", "/v1/missing", None, {}),
            ("GET", "/missing", None, {}),
            ("POST", "/v1/taxonomy", "{}", {"Content-Type": "application/json"}),
            ("POST", "/v1/grievances", "{}", {"Content-Type": "application/json"}),
            ("POST", "/v1/grievances", "{", {"Content-Type": "application/json"}),
            ("POST", "/v1/grievances", "{}", {"Content-Type": "text/plain"}),
            ("POST", "/grievances", "description=", {"Content-Type": "application/x-www-form-urlencoded"}),
        ]
        for method, path, body, headers in checks:
            st, hdrs, data = self.req(method, path, body, headers)
            with self.subTest(method=method, path=path, status=st):
                self.assert_security_headers(hdrs, f"{method} {path} -> {st}")
        st, hdrs, data = self.post_json(grievance())[:3]
        self.assertEqual(st, 201)
        self.assert_security_headers(hdrs, "201")

    def test_taxonomy(self):
        st, hdrs, data = self.req("GET", "/v1/taxonomy")
        self.assertEqual(st, 200)
        tax = json.loads(data)
        for name in ("categories", "rights", "vulnerability", "sectors"):
            self.assertIn(name, tax)
            self.assertTrue(all(set(e) == {"id", "label"} for e in tax[name]))
        self.assertIn("network_shutdown", [e["id"] for e in tax["categories"]])

    def test_keepalive_several_requests(self):
        conn = self.intake.connection()
        try:
            for _ in range(5):
                st, _, data = self.req("GET", "/v1/taxonomy", conn=conn)
                self.assertEqual(st, 200)
            st, _, body = self.req("POST", "/v1/grievances", json.dumps(grievance()),
                                   {"Content-Type": "application/json"}, conn=conn)
            self.assertEqual(st, 201, body)
        finally:
            conn.close()

    # ---- HTML form ----------------------------------------------------------------------------
    def form_fields(self, **over):
        f = {"description": "Mi cuenta fue eliminada sin aviso <b>&amp; \"todo\"</b>. form-marker-5521",
             "category": "account_removal", "country": "MX", "rights": ["expression", "privacy"],
             "companies": "Acme Social, Other Co", "services": "messaging", "people_affected": "1",
             "started_on": "2024-01-15", "ongoing": "yes", "complainant_type": "self",
             "share_with_regulator": "yes", "language": "es",
             "contact_name": "Rosa Formtest", "contact_email": "rosa.formtest@example.net",
             "contact_phone": ""}
        f.update(over)
        return {k: v for k, v in f.items() if v is not None}

    def test_form_page(self):
        st, hdrs, page = self.req("GET", "/")
        self.assertEqual(st, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/html"))
        page = page.decode()
        self.assertIn('<html lang="', page)
        self.assertIn('action="/grievances"', page)
        self.assertNotRegex(page, r"<script|https?://")
        for field in ("description", "category", "country", "contact_email"):
            self.assertIn(f'<label for="{field}"', page)
            self.assertIn(f'id="{field}"', page)

    def test_form_submission_stores_row(self):
        before = count()
        port = self.intake.port
        st, hdrs, page = self.post_form(self.form_fields(), {"Origin": f"https://127.0.0.1:{port}",
                                                             "Sec-Fetch-Site": "same-origin"})
        self.assertEqual(st, 201, page)
        self.assert_security_headers(hdrs, "form 201")
        secrets = re.findall(r'<p class="secret">([^<]+)</p>', page)
        self.assertEqual(len(secrets), 2, page)
        ref, receipt = secrets
        self.assertEqual(count(), before + 1)
        rows = cluster().sql(
            "SELECT channel, country, category, rights, description, companies, services, people_affected, "
            "ongoing, started_on::text, complainant_type, language, share_with_members, "
            "share_with_regulator, contact_enc IS NOT NULL, receipt_hash FROM grievance WHERE reference = %s",
            (ref,))
        self.assertEqual(len(rows), 1)
        r = rows[0]
        self.assertEqual(r[:15], ("form", "MX", "account_removal", ["expression", "privacy"],
                                  self.form_fields()["description"], ["Acme Social", "Other Co"],
                                  ["messaging"], 1, True, "2024-01-15", "self", "es", False, True, True))
        self.assertEqual(bytes(r[15]), hashlib.sha256(receipt.encode()).digest())
        text = row_text(ref)
        self.assertNotIn("rosa", text.lower())
        self.assertNotIn(receipt, text)
        # The receipt from the page opens the status.
        st, _, data = self.req("GET", "/v1/grievances/" + ref, headers={"Authorization": "Receipt " + receipt})
        self.assertEqual(st, 200, data)

    def test_form_post_as_chromium_sends_it(self):
        """Under our Referrer-Policy: no-referrer a browser posts our own form with Origin: null
        and Sec-Fetch-Site: same-origin (Fetch spec): that is accepted, for both forms."""
        before = count()
        chromium = {"Origin": "null", "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}
        st, _, page = self.post_form(self.form_fields(), chromium)
        self.assertEqual(st, 201, page[:300])
        self.assertEqual(count(), before + 1)
        ref, receipt = re.findall(r'<p class="secret">([^<]+)</p>', page)
        form = urllib.parse.urlencode({"reference": ref, "receipt": receipt})
        st, _, page = self.req("POST", "/status", form,
                               dict(chromium, **{"Content-Type": "application/x-www-form-urlencoded"}))
        self.assertEqual(st, 200, page[:300])

    def test_form_reshows_entries_and_error(self):
        before = count()
        fields = self.form_fields(contact_email="not an address")
        st, hdrs, page = self.post_form(fields)
        self.assertEqual(st, 422, page[:500])
        self.assertTrue(hdrs["content-type"].startswith("text/html"))
        # The person's entries are kept (escaped) ...
        self.assertIn("Mi cuenta fue eliminada sin aviso &lt;b&gt;&amp;amp; &quot;todo&quot;&lt;/b&gt;.", page)
        self.assertRegex(page, r'<option value="account_removal" selected>')
        self.assertRegex(page, r'<option value="MX" selected>')
        self.assertRegex(page, r'name="rights" value="privacy" checked')
        self.assertRegex(page, r'id="companies" name="companies" value="Acme Social, Other Co"')
        self.assertRegex(page, r'id="contact_name" name="contact_name" value="Rosa Formtest"')
        self.assertRegex(page, r'name="ongoing" value="yes" checked')
        # ... and the problem is stated next to the field.
        # (in the form's language, Spanish here)
        m = re.search(r'<p class="error" id="contact.email-error">([^<]*)</p>\s*'
                      r'<input type="email" id="contact_email"', page)
        self.assertIsNotNone(m, page)
        self.assertIn("correo electrónico", m.group(1))
        self.assertNotIn("<b>", page.split("<main>")[1].split("<form")[0])
        self.assertEqual(count(), before)
        # A required field left out: its error sits next to it.
        st, _, page = self.post_form(self.form_fields(description=""))
        self.assertEqual(st, 422)
        self.assertRegex(page, r'id="description-error"[^>]*>Describa lo que ocurrió.</p>\s*<textarea')
        st, _, page = self.post_form(self.form_fields(people_affected="lots"))
        self.assertEqual(st, 422)
        self.assertIn('id="people_affected-error"', page)
        self.assertEqual(count(), before)

    def test_form_cross_site_refused(self):
        before = count()
        for headers in ({"Origin": "https://evil.example"},
                        {"Sec-Fetch-Site": "cross-site"},
                        {"Sec-Fetch-Site": "same-site", "Origin": "https://sub.127.0.0.1"},
                        {"Sec-Fetch-Site": "cross-site", "Origin": "null"},
                        {"Sec-Fetch-Site": "same-origin", "Origin": "https://evil.example"},
                        {"Origin": "null"},
                        {"Origin": f"http://127.0.0.1:{self.intake.port}"}):
            with self.subTest(headers=headers):
                st, hdrs, page = self.post_form(self.form_fields(), headers)
                self.assertEqual(st, 403, page[:300])
                self.assert_security_headers(hdrs, "403")
                self.assertNotIn("form-marker-5521", page)
        self.assertEqual(count(), before)
        self.assertEqual(cluster().sql("SELECT count(*) FROM grievance WHERE description LIKE "
                                       "'%%form-marker-5521%%' AND channel = 'form' AND received_at > "
                                       "now() - interval '2 seconds'")[0][0], 0)

    def test_form_wrong_content_type(self):
        before = count()
        st, hdrs, page = self.req("POST", "/grievances", json.dumps(grievance()),
                                  {"Content-Type": "application/json"})
        self.assertEqual(st, 415)
        self.assertTrue(hdrs["content-type"].startswith("text/html"))
        self.assertEqual(count(), before)

    def test_form_nul_refused(self):
        """%00 would cut the description short without a word: refused, nothing stored."""
        before = count()
        st, _, page = self.req("POST", "/grievances", "description=kept%00lost&category=other&country=FR",
                               {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(st, 400, page[:300])
        self.assertEqual(count(), before)

    def test_form_invalid_utf8(self):
        before = count()
        body = "description=caf%C3%28&category=other&country=FR"
        st, hdrs, page = self.req("POST", "/grievances", body,
                                  {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertIn(st, (400, 422), page[:300])
        self.assertIn(b'id="description-error">The description could not be read.', page)
        self.assertNotIn(b"caf\xc3(", page)  # never sent back as it came: not UTF-8
        self.assertEqual(count(), before)


    def test_zz_log_clean_and_sigterm(self):
        """Last in this class: after everything above, nothing private is in the log; SIGTERM
        stops the server with status 0."""
        receipts = []
        for _ in range(3):
            st, _, body, _ = self.post_json(grievance())
            self.assertEqual(st, 201)
            receipts.append(body["receipt"])
        rc = self.intake.stop()
        log = self.intake.output()
        self.assertEqual(rc, 0, log)
        self.assertIn("stopped", log)
        self.check_log(log, receipts)


class TestOutageAndShutdown(IntakeBase):
    """/healthz and submissions while the database is stopped; then the log and a clean stop."""

    def wait_health(self, want, timeout):
        deadline = time.time() + timeout
        st = None
        while time.time() < deadline:
            st, hdrs, data = self.req("GET", "/healthz")
            if st == want:
                return st, hdrs, data
            time.sleep(0.25)
        self.fail(f"/healthz did not become {want} within {timeout} s (last {st})")

    def test_database_outage(self):
        st, _, data = self.wait_health(200, 10)
        self.assertEqual(json.loads(data)["status"], "ok")
        before = count()
        key = "outage-" + os.urandom(6).hex()
        cluster().pg_ctl("stop")
        try:
            st, hdrs, data = self.wait_health(503, 10)
            self.assertIn("retry-after", hdrs)
            self.assert_security_headers(hdrs, "healthz 503")
            for _ in range(2):  # the first may meet the dying connection, the second the dead one
                st, hdrs, body, raw = self.post_json(grievance(), {"Idempotency-Key": key})
                self.assert_error(st, body, "unavailable", 503)
                self.assertIn("retry-after", hdrs)
            st, hdrs, page = self.post_form({"description": "outage form test", "category": "other",
                                             "country": "FR"})
            self.assertEqual(st, 503)
            self.assertIn("retry-after", hdrs)
            self.assertIn("outage form test", page)  # entries kept
            st, hdrs, data = self.req("GET", "/v1/grievances/ABCDEFGHJK1",
                                      headers={"Authorization": "Receipt " + "0" * 26})
            self.assertIn(st, (404, 503))
        finally:
            cluster().pg_ctl("start")
        self.wait_health(200, 20)
        self.assertEqual(count(), before)
        st, _, body, raw = self.post_json(grievance(), {"Idempotency-Key": key})
        self.assertEqual(st, 201, raw)
        self.assertEqual(count(), before + 1)

    def test_zz_log_clean_and_sigterm(self):
        # Exercise the paths that could log something before reading the log.
        st, _, body, _ = self.post_json(grievance())
        self.assertEqual(st, 201)
        receipt = body["receipt"]
        self.post_json(grievance(contact={"email": "bad address"}))
        self.req("GET", "/v1/grievances/" + body["reference"], headers={"Authorization": "Receipt " + receipt})
        rc = self.intake.stop()
        self.assertEqual(rc, 0, self.intake.output())
        log = self.intake.output()
        self.assertIn("stopped", log)
        self.check_log(log, [receipt])



class TestShutdownWithCommitInFlight(IntakeBase):
    """SIGTERM while a commit waits on a stalled database: the client is answered 503 (never 201
    for an unknown outcome), the server still exits 0 after its grace period."""
    overrides = {"server.request_timeout": 2, "server.workers": 1}

    def test_sigterm_with_stalled_commit(self):
        st, _, _ = self.req("GET", "/healthz")
        self.assertEqual(st, 200)
        pids = [r[0] for r in cluster().sql(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'redress-intake/commit'")]
        self.assertEqual(len(pids), 1)
        result = {}

        def submit():
            try:
                result["r"] = self.post_json(grievance(), {"Idempotency-Key": "stall-" + os.urandom(4).hex()})
            except Exception as e:  # noqa: BLE001 - a closed connection is an acceptable answer
                result["e"] = e

        os.kill(pids[0], signal.SIGSTOP)
        try:
            t = threading.Thread(target=submit)
            t.start()
            time.sleep(0.5)
            t0 = time.monotonic()
            rc = self.intake.stop(timeout=20)
            took = time.monotonic() - t0
            t.join(10)
        finally:
            os.kill(pids[0], signal.SIGCONT)
        self.assertEqual(rc, 0, self.intake.output())
        self.assertLess(took, 12)
        # Never 201 for an unknown outcome: after the grace period the stuck commit is abandoned and
        # the waiting client is told to retry.
        self.assertIn("r", result, result)
        self.assertEqual(result["r"][0], 503, result["r"][3])
        self.assertIn("retry-after", result["r"][1])
        self.check_log(self.intake.output(), [])


class TestConnectionCap(IntakeBase):
    """server.max_connections: past the cap new connections wait (listener paused) and are served
    once a slot frees."""
    overrides = {"server.request_timeout": 2, "server.workers": 1, "server.max_connections": 3}

    def test_cap_and_resume(self):
        held = [self.tls_socket() for _ in range(3)]
        raw = socket.create_connection(("127.0.0.1", self.intake.port), timeout=10)
        ctx = self.intake.tls_context()
        ctx_sock = None
        try:
            # The fourth connection is not accepted while three are open ...
            raw.settimeout(1.0)
            sslobj = ctx.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False)
            with self.assertRaises((socket.timeout, TimeoutError, ssl.SSLWantReadError)):
                sslobj.do_handshake()
            # ... and is served once one closes.
            held.pop().close()
            sslobj.settimeout(10)
            sslobj.do_handshake()
            sslobj.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data, _ = recv_all(sslobj, 5)
            self.assertRegex(data, rb"^HTTP/1\.1 200 ")
            ctx_sock = sslobj
        finally:
            for s in held:
                s.close()
            (ctx_sock or raw).close()
        # Slots come back when connections close: many short connections in a row all work.
        for _ in range(10):
            st, _, _ = self.req("GET", "/healthz")
            self.assertEqual(st, 200)

    def test_failed_connections_free_their_slots(self):
        """Failed handshakes, plain HTTP, silent clients and timed-out requests give their slot back."""
        for _ in range(3):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1
            with socket.create_connection(("127.0.0.1", self.intake.port), timeout=5) as raw:
                with self.assertRaises(ssl.SSLError):
                    ctx.wrap_socket(raw, server_hostname="localhost")
            socket.create_connection(("127.0.0.1", self.intake.port), timeout=5).close()
        # Two at a time (the cap is 3), each left to the server's deadline.
        for _ in range(2):
            plain = socket.create_connection(("127.0.0.1", self.intake.port), timeout=5)
            plain.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            unfinished = self.tls_socket()
            unfinished.sendall(b"GET /healthz HTTP/1.1\r\n")
            for s in (plain, unfinished):
                _, closed = recv_all(s, 6)
                self.assertTrue(closed)
                s.close()
        time.sleep(0.5)
        held = [self.tls_socket() for _ in range(3)]
        try:
            for s in held:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                s.settimeout(5)
                self.assertRegex(s.recv(65536), rb"^HTTP/1\.1 200 ")
        finally:
            for s in held:
                s.close()


class TestDatabaseFailures(IntakeBase):
    """Connections killed or stalled under the server: every 201 is a committed row, every failure
    a 503 with Retry-After, and a retry with the same Idempotency-Key gets the same grievance."""
    overrides = {"server.request_timeout": 5, "database.timeout": 2}

    def backends(self):
        return [r[0] for r in cluster().sql(
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'redress-intake%'")]

    def wait_connected(self, n=2, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(self.backends()) >= n and self.req("GET", "/healthz")[0] == 200:
                return
            time.sleep(0.2)
        self.fail("the server did not reconnect")

    def test_backends_killed_during_submissions(self):
        self.wait_connected()
        results, lock = [], threading.Lock()

        def worker(i):
            for j in range(10):
                key = f"kill-{i}-{j}-" + os.urandom(4).hex()
                body = json.dumps(grievance(description=f"kill test {i} {j}"))
                r = self.post_json(None, {"Idempotency-Key": key}, raw=body)
                with lock:
                    results.append((key, body, r))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        kills = 0
        while any(t.is_alive() for t in threads) and kills < 40:
            time.sleep(0.05)
            kills += len(cluster().sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                       "WHERE application_name LIKE 'redress-intake%'"))
        for t in threads:
            t.join(60)
        self.assertEqual(len(results), 40)
        statuses = sorted({r[2][0] for r in results})
        if os.environ.get("E2E_VERBOSE"):
            print("statuses:", [r[2][0] for r in results], file=sys.stderr)
        self.assertTrue(set(statuses) <= {201, 503}, statuses)
        self.wait_connected()
        for key, body, (st, hdrs, parsed, raw) in results:
            rows = cluster().sql("SELECT reference FROM grievance WHERE idempotency_key = %s", (key,))
            if st == 201:
                self.assertEqual(rows, [(parsed["reference"],)], "acknowledged but not stored")
            else:
                self.assertIn("retry-after", hdrs)
                st2, _, parsed2, raw2 = self.post_json(None, {"Idempotency-Key": key}, raw=body)
                self.assertEqual(st2, 201, raw2)
                rows = cluster().sql("SELECT reference FROM grievance WHERE idempotency_key = %s", (key,))
                self.assertEqual(rows, [(parsed2["reference"],)])

    def test_stalled_database_times_out(self):
        self.wait_connected()
        pids = self.backends()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            st, hdrs, body, raw = self.post_json(grievance(), {"Idempotency-Key": "stall-" + os.urandom(4).hex()})
            took = time.monotonic() - t0
            self.assertEqual(st, 503, raw)
            self.assertIn("retry-after", hdrs)
            self.assertLess(took, 4.5)
            st, _, _ = self.req("GET", "/healthz")
            self.assertEqual(st, 503)
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        self.wait_connected()
        # /healthz answered from one worker; another may still be within its retry interval, so
        # the same submission (same key) may get a 503 for a few seconds before its 201.
        key, deadline = "after-stall-" + os.urandom(4).hex(), time.time() + 10
        while True:
            st, _, body, raw = self.post_json(grievance(), {"Idempotency-Key": key})
            if st != 503 or time.time() > deadline:
                break
            time.sleep(0.3)
        self.assertEqual(st, 201, raw)


class TestBackPressure(IntakeBase):
    """A stalled database fills the commit queue: further submissions get 429 with Retry-After
    (nothing stored), queued ones 503 once the watchdog gives up, never 201 without a row. A
    finished request waits for its answer past server.request_timeout (the deadline covers only
    the arrival of the request)."""
    overrides = {"server.request_timeout": 1, "server.workers": 1, "database.batch_max_rows": 1,
                 "database.timeout": 3}

    def test_queue_full_429(self):
        deadline = time.time() + 10
        while self.req("GET", "/healthz")[0] != 200 and time.time() < deadline:
            time.sleep(0.2)
        pids = [r[0] for r in cluster().sql(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'redress-intake/commit'")]
        self.assertEqual(len(pids), 1)
        before = count()
        results, lock = [], threading.Lock()

        def submit(i):
            key = f"bp-{i}-" + os.urandom(4).hex()
            r = self.post_json(grievance(description=f"back pressure {i}"), {"Idempotency-Key": key})
            with lock:
                results.append((key, r))

        os.kill(pids[0], signal.SIGSTOP)
        try:
            threads = [threading.Thread(target=submit, args=(i,)) for i in range(24)]
            for t in threads:
                t.start()
                time.sleep(0.01)
            for t in threads:
                t.join(30)
        finally:
            os.kill(pids[0], signal.SIGCONT)
        self.assertEqual(len(results), 24)
        by_status = {}
        for key, (st, hdrs, body, raw) in results:
            by_status.setdefault(st, []).append((key, hdrs, body))
        self.assertTrue(set(by_status) <= {201, 429, 503}, by_status.keys())
        self.assertIn(429, by_status)
        self.assertIn(503, by_status)  # waited past request_timeout for the watchdog's answer
        for key, hdrs, body in by_status[429]:
            self.assert_error(429, body, "too_many_requests", 429)
            self.assertIn("retry-after", hdrs)
            self.assert_security_headers(hdrs, "429")
        deadline = time.time() + 15
        while self.req("GET", "/healthz")[0] != 200 and time.time() < deadline:
            time.sleep(0.2)
        for key, hdrs, body in by_status[429]:
            self.assertEqual(cluster().sql("SELECT count(*) FROM grievance WHERE idempotency_key = %s",
                                           (key,))[0][0], 0)
        for key, hdrs, body in by_status.get(201, []):
            self.assertEqual(cluster().sql("SELECT reference FROM grievance WHERE idempotency_key = %s",
                                           (key,)), [(body["reference"],)])
        self.assertLessEqual(count(), before + 24 - len(by_status[429]))


class TestDatabaseRefusesRow(IntakeBase):
    """A row the database refuses (here: a test CHECK constraint) fails alone: its batch-mates
    are stored, and the connection stays usable (no session left in an aborted transaction)."""
    overrides = {"server.request_timeout": 5, "server.workers": 1, "database.batch_window_us": 300000}

    def test_bad_row_fails_alone_and_connection_recovers(self):
        deadline = time.time() + 10
        while self.req("GET", "/healthz")[0] != 200 and time.time() < deadline:
            time.sleep(0.2)
        cluster().sql("ALTER TABLE grievance ADD CONSTRAINT e2e_refuse_poison CHECK (description <> 'poison row')")
        try:
            results, lock = {}, threading.Lock()

            def submit(name, desc):
                r = self.post_json(grievance(description=desc))
                with lock:
                    results[name] = r

            threads = [threading.Thread(target=submit, args=("bad", "poison row"))]
            threads += [threading.Thread(target=submit, args=(f"good{i}", f"good row {i}")) for i in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            self.assertEqual(results["bad"][0], 500, results["bad"][3])
            self.assertNotIn("poison", results["bad"][3].decode())
            for i in range(3):
                st, _, body, raw = results[f"good{i}"]
                self.assertEqual(st, 201, raw)
                self.assertEqual(cluster().sql("SELECT description FROM grievance WHERE reference = %s",
                                               (body["reference"],)), [(f"good row {i}",)])
            # The same connection goes on working.
            for _ in range(3):
                st, _, body, raw = self.post_json(grievance(contact=None))
                self.assertEqual(st, 201, raw)
                st, _, data = self.req("GET", "/healthz")
                self.assertEqual(st, 200, data)
                st, _, data = self.req("GET", body["status_url"], headers={"Authorization": "Receipt " + body["receipt"]})
                self.assertEqual(st, 200, data)
        finally:
            cluster().sql("ALTER TABLE grievance DROP CONSTRAINT IF EXISTS e2e_refuse_poison")
        self.assertNotIn("poison", self.intake.output())


class TestStatusLeaksNothingByTiming(IntakeBase):
    """An unknown reference and a known one with a wrong receipt cost the database the same work
    (counted by PostgreSQL's own statistics, not by a clock): the look-up goes by receipt hash, so
    neither fetches a row; only the right receipt does."""
    overrides = {"server.request_timeout": 5, "server.workers": 1}

    # grievance is partitioned by month (sql/016): its counters are those of its partitions.
    STATS = ("SELECT sum(t.seq_scan)::bigint, sum(t.seq_tup_read)::bigint, sum(coalesce(t.idx_scan, 0))::bigint, "
             "sum(coalesce(t.idx_tup_fetch, 0))::bigint, c.seq_scan, coalesce(c.idx_scan, 0) "
             "FROM pg_stat_user_tables t, pg_stat_user_tables c "
             "WHERE t.relid IN (SELECT partition FROM partition_list('grievance')) AND c.relname = 'remedy_case' "
             "GROUP BY c.seq_scan, c.idx_scan")

    def counts(self):
        return cluster().sql(self.STATS)[0]

    def phase(self, lookups, want_status, done):
        """Counters moved by these look-ups, one a second: a backend reports its statistics at the
        end of a transaction when its last report is over a second old, else (or when the shared
        entry is busy, e.g. with autovacuum) up to ten seconds later; /healthz runs a statement
        that touches no table, to report sooner. Waits until done(delta) holds."""
        before, deadline = self.counts(), time.time() + 15
        while time.time() < deadline:  # earlier statements' counts all in: two reports in a row
            time.sleep(1.1)
            self.req("GET", "/healthz")
            time.sleep(0.3)
            now = self.counts()
            if now == before:
                break
            before = now
        for ref, receipt in lookups:
            time.sleep(1.1)
            st, _, data = self.req("GET", "/v1/grievances/" + ref, headers={"Authorization": "Receipt " + receipt})
            self.assertEqual(st, want_status, data)
        # done() alone is not enough: each look-up probes every month's partition, so the first
        # look-up's report can satisfy it before the others' arrive. Done, and the same twice.
        deadline, last = time.time() + 40, None
        while True:
            time.sleep(1.1)
            self.req("GET", "/healthz")
            time.sleep(0.3)
            delta = tuple(a - b for a, b in zip(self.counts(), before))
            if (done(delta) and delta == last) or time.time() > deadline:
                return delta
            last = delta

    def test_unknown_reference_and_wrong_receipt_same_work(self):
        st, _, body, raw = self.post_json(grievance(contact=None))
        self.assertEqual(st, 201, raw)
        ref, receipt = body["reference"], body["receipt"]
        wrong = "".join(reversed(receipt))
        alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U"
        data = "".join(alphabet[b & 31] for b in os.urandom(10))
        check = 0
        for c in data:
            check = (check * 32 + alphabet.index(c)) % 37
        unknown = [(data + alphabet[check], wrong)] * 3  # well-formed, stored nowhere
        # One index scan per look-up, whatever the reference (before: a row fetched too for a
        # known reference). A month's partition of a few rows may be scanned whole instead, as the
        # planner sees fit (1 run in 8): the same work either way is the point.
        scanned = lambda d: d[2] >= 3 or d[0] >= 3  # noqa: E731
        unknown_work = self.phase(unknown, 404, scanned)
        wrong_work = self.phase([(ref, wrong)] * 3, 404, scanned)
        self.assertNotEqual(unknown_work, (0,) * 6, "the look-ups never reached the database")
        self.assertEqual(unknown_work, wrong_work, "(seq scans, rows read, index scans, rows fetched, "
                         "case seq scans, case index scans)")
        self.assertEqual(wrong_work[3], 0, "a wrong receipt fetched a grievance row")
        right_work = self.phase([(ref, receipt)], 200, lambda d: d[3] > 0 or d[1] > 0)
        self.assertGreater(right_work[3] + right_work[1], 0, "the counters see the row read")


class TestStartupRefusals(unittest.TestCase):
    """A bad setting, key file or certificate stops the server at start, naming what is wrong."""

    def run_intake(self, config):
        p = harness.Process([os.path.join(harness.BUILD, "redress-intake"), "-c", config], config + ".log")
        try:
            rc = p.proc.wait(15)
        finally:
            p.stop()
        return rc, p.output()

    def test_bad_settings(self):
        d = tempfile.mkdtemp(prefix="redress-intake-bad-")
        config = harness.make_config(d, cluster(), **{"server.request_timeout": "soon"})
        rc, out = self.run_intake(config)
        self.assertNotEqual(rc, 0)
        lines = open(config).read().splitlines()
        lineno = next(i + 1 for i, l in enumerate(lines) if l.startswith("request_timeout"))
        self.assertIn(f"{config}:{lineno}:", out)
        self.assertIn("request_timeout", out)
        self.assertIn("whole number", out)

        config = harness.make_config(d, cluster(), **{"server.colour": "blue"})
        rc, out = self.run_intake(config)
        self.assertNotEqual(rc, 0)
        self.assertIn("colour", out)
        self.assertIn("unknown", out)

        config = harness.make_config(d, cluster())
        with open(os.path.join(d, "contact.key"), "w") as f:
            f.write("not a key\n")
        rc, out = self.run_intake(config)
        self.assertNotEqual(rc, 0)
        self.assertIn("contact.key", out)
        self.assertNotIn("not a key", out)

        config = harness.make_config(d, cluster(), **{"tls.cert": os.path.join(d, "missing.pem")})
        rc, out = self.run_intake(config)
        self.assertNotEqual(rc, 0)
        self.assertIn("missing.pem", out)
