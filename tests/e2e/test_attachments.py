"""End-to-end tests of evidence attachments (issue 8, item 7): files attached over the API and the
status page's form, checked by content, sealed in PostgreSQL, their SHA-256 on the status, read
back by staff with `redressctl attachment get` under audit, refused to teams, erased with the
grievance; every bad upload refused with nothing stored. Over HTTPS to the real redress-intake."""
import hashlib
import json
import os
import re
import socket
import ssl
import tempfile
import time
import uuid

import psycopg2

import harness
from test_engagement import EngagementCase, new_receipt

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + os.urandom(64)
PDF = b"%PDF-1.4\n" + os.urandom(200) + b"\n%%EOF\n"
TEXT = "Screenshot notes: the takedown notice arrived at 10:42.\n".encode()
FILE_NAME = "evidence-of-the-takedown.png"
LIMIT = 10485760


def cluster():
    return harness.CLUSTER


def multipart(parts, boundary="b0und4ry"):
    """parts: (name, filename or None, content type or None, bytes)."""
    out = b""
    for name, filename, ctype, data in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        disp = f'Content-Disposition: form-data; name="{name}"'
        if filename is not None:
            disp += f'; filename="{filename}"'
        out += disp.encode() + b"\r\n"
        if ctype:
            out += f"Content-Type: {ctype}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    return out + b"--" + boundary.encode() + b"--\r\n", f"multipart/form-data; boundary={boundary}"


class AttachmentBase(EngagementCase):
    def upload(self, ref, receipt, data, name=FILE_NAME, ctype="image/png", key="auto", expect=201,
               body=None, content_type=None):
        if body is None:
            body, content_type = multipart([("file", name, ctype, data)])
        h = {"Content-Type": content_type}
        if receipt is not None:
            h["Authorization"] = "Receipt " + receipt
        if key == "auto":
            key = str(uuid.uuid4())
        if key is not None:
            h["Idempotency-Key"] = key
        st, hdrs, out = self.intake.request("POST", f"/v1/grievances/{ref}/attachments", body, h)
        self.assertEqual(st, expect, out[:500])
        return (json.loads(out) if out.startswith(b"{") else out), hdrs

    def stored(self):
        return cluster().sql("SELECT (SELECT count(*) FROM grievance_attachment), "
                             "(SELECT count(*) FROM complainant_request), (SELECT count(*) FROM case_event)")[0]

    def get(self, ref, n, user=None, expect=0, reason="to assess the evidence"):
        path = os.path.join(tempfile.mkdtemp(prefix="redress-att-"), "out.bin")
        out, err = self.ctl("attachment", "get", ref, str(n), "-o", path, "--reason", reason,
                            user=user, expect=expect)
        data = open(path, "rb").read() if expect == 0 else None
        if expect != 0:
            self.assertFalse(os.path.exists(path))
        return data, out, err


class TestApiRoundTrip(AttachmentBase):
    def test_api_round_trip_with_hash_audit_and_staff_only_reading(self):
        ref, receipt = self.file(consent=True)
        # Before triage: stored, its event written when the grievance is placed in a case.
        key = "upload-1"
        a, _ = self.upload(ref, receipt, PNG, key=key)
        self.assertEqual((a["n"], a["type"], a["size"]), (1, "image/png", len(PNG)))
        self.assertEqual(a["sha256"], hashlib.sha256(PNG).hexdigest())
        # A retry with the same key and file: the same answer, no second row.
        again, hdrs = self.upload(ref, receipt, PNG, key=key)
        self.assertEqual(again, a)
        self.assertEqual(hdrs.get("idempotent-replayed"), "true")
        self.assertEqual(cluster().sql("SELECT count(*) FROM grievance_attachment"), [(1,)])
        # The same key with another file is a conflict.
        self.upload(ref, receipt, PDF, ctype="application/pdf", key=key, expect=409)
        # A PDF declared as an image is stored as what it is.
        b, _ = self.upload(ref, receipt, PDF, name="letter.pdf", ctype="image/png")
        self.assertEqual((b["n"], b["type"]), (2, "application/pdf"))
        t, _ = self.upload(ref, receipt, TEXT, name="notes.txt", ctype="text/plain")
        self.assertEqual(t["type"], "text/plain")
        # Stored sealed: neither the bytes nor the name are in the table.
        raw = cluster().sql("SELECT content_enc, name_enc, sha256 FROM grievance_attachment ORDER BY n")
        self.assertNotIn(PNG[16:48], bytes(raw[0][0]))
        self.assertNotIn(FILE_NAME.encode(), bytes(raw[0][1]))
        self.assertEqual(bytes(raw[0][2]).hex(), a["sha256"])
        # The status shows number, type, size and hash of each.
        st = self.story(ref, receipt)
        self.assertEqual([(x["n"], x["type"], x["size"], x["sha256"]) for x in st["attachments"]],
                         [(1, "image/png", len(PNG), hashlib.sha256(PNG).hexdigest()),
                          (2, "application/pdf", len(PDF), hashlib.sha256(PDF).hexdigest()),
                          (3, "text/plain", len(TEXT), hashlib.sha256(TEXT).hexdigest())])
        cref = self.open_case(ref)
        notes = [n for (n,) in cluster().sql(
            "SELECT e.note FROM case_event e JOIN remedy_case c ON c.id = e.case_id "
            "WHERE c.reference = %s AND e.action = 'attachment' ORDER BY e.seq", (cref,))]
        self.assertEqual(len(notes), 3)
        self.assertIn("attachment 1 (image/png, %d bytes) received from a complainant" % len(PNG), notes[0])
        self.assertIn("before triage", notes[0])
        # After placement, an upload writes its event at once.
        self.upload(ref, receipt, PNG + b"x")
        self.assertEqual(cluster().sql("SELECT count(*) FROM case_event WHERE action = 'attachment'"), [(4,)])
        # Staff read it back byte for byte, audited with the reason.
        data, out, _ = self.get(ref, 1)
        self.assertEqual(data, PNG)
        self.assertEqual(hashlib.sha256(data).hexdigest(), a["sha256"])
        self.assertIn(FILE_NAME, out)
        j = json.loads(self.get_json(ref, 2))
        self.assertEqual((j["type"], j["sha256"], j["name"]), ("application/pdf", b["sha256"], "letter.pdf"))
        reads = cluster().sql("SELECT actor, note FROM case_event WHERE action = 'attachment_read' ORDER BY seq")
        self.assertEqual(len(reads), 2)
        self.assertIn("to assess the evidence", reads[0][1])
        self.assertNotIn(FILE_NAME, reads[0][1])
        # Teams never read attachments, even with the person's consent: not the command, not SQL.
        before = self.stored()
        _, _, err = self.get(ref, 1, user="team_acme_net", expect=1)
        self.assertIn("permission denied", err)
        for sql in ("SELECT count(*) FROM grievance_attachment",
                    "SELECT * FROM grievance_attachment_get('%s', 1, 'curious')" % ref):
            with self.assertRaises(psycopg2.Error):
                cluster().sql(sql, user="team_acme_net")
        self.assertEqual(self.stored(), before)
        # A missing reason or number is a usage error; an unknown number a clear failure.
        self.ctl("attachment", "get", ref, "1", "-o", "/tmp/never-written", user=None, expect=2)
        self.get(ref, 9, expect=1)
        # Nothing of a file in the intake's log.
        self.assert_no_secret_in_logs(receipt, FILE_NAME, "letter.pdf")

    def get_json(self, ref, n):
        path = os.path.join(tempfile.mkdtemp(prefix="redress-att-"), "out.bin")
        out, _ = self.ctl("attachment", "get", ref, str(n), "-o", path, "--reason", "for the file", "--json")
        self.assertEqual(open(path, "rb").read(), PDF)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        return out


class TestBadUploads(AttachmentBase):
    def test_every_bad_upload_is_refused_and_stores_nothing(self):
        ref, receipt = self.file(consent=False)
        before = self.stored()

        def refused(expect, code, **kw):
            err, _ = self.upload(ref, kw.pop("receipt", receipt), kw.pop("data", PNG), expect=expect, **kw)
            if code:
                self.assertEqual(err["error"]["code"] if "error" in err else err.get("code"), code, err)
            self.assertEqual(self.stored(), before, code)

        body, ct = multipart([("file", FILE_NAME, "image/png", PNG)])
        refused(415, "unsupported_media_type", body=body, content_type="multipart/form-data")  # no boundary
        refused(415, "unsupported_media_type", body=body, content_type="application/octet-stream")
        refused(400, "malformed_multipart", body=body, content_type="multipart/form-data; boundary=other")
        refused(400, "malformed_multipart", body=body[:len(body) // 2], content_type=ct)  # truncated part
        refused(400, "malformed_multipart", body=body.replace(b"Content-Disposition: form-data; ", b""),
                content_type=ct)
        nofile, ct2 = multipart([("note", None, None, b"just text")])
        refused(422, "file_required", body=nofile, content_type=ct2)
        two, ct3 = multipart([("file", "a.png", "image/png", PNG), ("file", "b.png", "image/png", PNG)])
        refused(422, "one_file_per_request", body=two, content_type=ct3)
        refused(422, "file_required", data=b"")
        # Not an image whatever it says: a program, HTML, and text that is not UTF-8.
        refused(415, "type_not_allowed", data=b"MZ\x90\x00" + os.urandom(100))
        refused(415, "type_not_allowed", data=b"\x00\x01binary\xff\xfe", ctype="text/plain")
        refused(415, "type_not_allowed", data=b"GIF89a" + os.urandom(20), ctype="image/gif")  # not allowed here
        refused(413, "file_too_large", data=b"%PDF-" + b"a" * (LIMIT - 4))  # 10 MiB + 1
        refused(404, "not_found", receipt=new_receipt())
        refused(404, "not_found", receipt=None)
        err, _ = self.upload("0000000000", receipt, PNG, expect=404)
        refused(400, "idempotency_key_required", key=None)
        refused(400, "invalid_idempotency_key", key="bad key")
        # Exactly the limit is fine, and five files, then the sixth is refused.
        ok, _ = self.upload(ref, receipt, b"%PDF-" + b"a" * (LIMIT - 5))
        self.assertEqual(ok["size"], LIMIT)
        for i in range(4):
            self.upload(ref, receipt, PNG + bytes([i]))
        full = self.stored()
        err, _ = self.upload(ref, receipt, PNG + b"6", expect=409)
        self.assertEqual(err["error"]["code"], "too_many_attachments")
        self.assertEqual(self.stored(), full)
        self.assertEqual(len(self.story(ref, receipt)["attachments"]), 5)
        # A team owning the case, without the person's consent: nothing of the files, by any way.
        self.open_case(ref)
        for sql in ("SELECT count(*) FROM grievance_attachment",
                    "SELECT sha256 FROM grievance_attachment_list('%s', '\\x00')" % ref):
            with self.assertRaises(psycopg2.Error):
                cluster().sql(sql, user="team_acme_net")
        _, _, err = self.get(ref, 1, user="team_acme_net", expect=1)
        self.assertIn("permission denied", err)

    def test_only_upload_routes_take_large_bodies(self):
        """libevent's body cap is chosen per request from its line: a large Content-Length on any other
        route is refused before its body is read; on an upload route it is read."""
        ref, receipt = self.file()
        ordinary = 4 * max(int(self.cfg_value("server.max_body_bytes", 262144)),
                           int(self.cfg_value("server.max_form_bytes", 393216)))
        size = ordinary + 1
        for path in ("/v1/grievances", f"/v1/grievances/{ref}/messages", "/status/action"):
            data, closed = self.raw(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                    b"Content-Length: %d\r\n\r\n" % (path.encode(), size))
            self.assertRegex(data, rb"^HTTP/1\.1 413 ", path)
        # The upload route waits for the body (no early 413), then answers from its content.
        body = b"x" * size
        data, _ = self.raw(b"POST /v1/grievances/%s/attachments HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Type: multipart/form-data; boundary=zz\r\nIdempotency-Key: k\r\n"
                           b"Authorization: Receipt %s\r\nContent-Length: %d\r\n\r\n"
                           % (ref.encode(), receipt.encode(), size) + body, timeout=10)
        self.assertRegex(data, rb"^HTTP/1\.1 400 ")
        self.assertIn(b"malformed_multipart", data)
        # On one keep-alive connection: an upload, then an ordinary request gets its own cap again.
        s = self.tls()
        try:
            s.sendall(b"POST /v1/grievances/%s/attachments HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: multipart/form-data; boundary=zz\r\nIdempotency-Key: k2\r\n"
                      b"Authorization: Receipt %s\r\nContent-Length: %d\r\n\r\n"
                      % (ref.encode(), receipt.encode(), size) + body)
            first = self.read_response(s)
            self.assertRegex(first, rb"^HTTP/1\.1 400 ")
            s.sendall(b"POST /v1/grievances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % size)
            self.assertRegex(self.read_response(s), rb"^HTTP/1\.1 413 ")
        finally:
            s.close()
        self.assertEqual(cluster().sql("SELECT count(*) FROM grievance_attachment"), [(0,)])

    def cfg_value(self, key, default):
        return default

    def tls(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.intake.port), timeout=10))
        return s

    def read_response(self, s, timeout=10):
        s.settimeout(timeout)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        m = re.search(rb"(?i)content-length: *(\d+)", head)
        need = int(m.group(1)) if m else 0
        while len(rest) < need:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        return head + b"\r\n\r\n" + rest

    def raw(self, payload, timeout=5):
        s = self.tls()
        try:
            try:
                s.sendall(payload)
            except (OSError, ssl.SSLError):
                pass
            s.settimeout(timeout)
            data = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    chunk = s.recv(65536)
                except (OSError, ssl.SSLError):
                    return data, True
                if not chunk:
                    return data, True
                data += chunk
            return data, False
        finally:
            s.close()


class TestFormUploadAndErasure(AttachmentBase):
    SAME = {"Sec-Fetch-Site": "same-origin"}

    def status_page(self, ref, receipt):
        import urllib.parse
        st, _, data = self.intake.request("POST", "/status", urllib.parse.urlencode(
            {"reference": ref, "receipt": receipt}),
            {"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin"})
        self.assertEqual(st, 200)
        return data.decode().replace("\u2068", "").replace("\u2069", "")

    def upload_fields(self, html):
        start = html.index('name="action" value="attachment"')
        form = html[html.rindex("<form", 0, start):html.index("</form>", start)]
        self.assertIn('enctype="multipart/form-data"', form)
        self.assertIn('action="/status/attachments"', form)
        self.assertIn('type="file"', form)
        return dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', form))

    def post_upload(self, fields, data, name="photo.jpg", expect=201):
        parts = [(k, None, None, v.encode()) for k, v in fields.items()] + [("file", name, "image/jpeg", data)]
        body, ct = multipart(parts)
        st, _, out = self.intake.request("POST", "/status/attachments", body,
                                         dict(self.SAME, **{"Content-Type": ct}))
        self.assertEqual(st, expect, out[:1000])
        return out.decode().replace("\u2068", "").replace("\u2069", "")

    def test_receipt_page_offers_the_upload_right_after_filing(self):
        import urllib.parse
        ref, receipt = self.file()
        st, _, page = self.intake.request("POST", "/receipt", urllib.parse.urlencode(
            {"reference": ref, "receipt": receipt}),
            {"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin"})
        self.assertEqual(st, 200)
        html = page.decode().replace("\u2068", "").replace("\u2069", "")
        fields = self.upload_fields(html)
        self.assertEqual((fields["reference"], fields["receipt"]), (ref, receipt))
        text = "The notice said: account removed for 'coordinated harm'.\n".encode()
        done = self.post_upload(fields, text, name="notice.txt")
        self.assertIn(hashlib.sha256(text).hexdigest(), done)
        self.assertEqual(self.story(ref, receipt)["attachments"][0]["type"], "text/plain")

    def test_form_upload_shows_the_hash_and_erasure_removes_the_bytes(self):
        ref, receipt = self.file()
        jpeg = b"\xff\xd8\xff\xe0" + os.urandom(3000)
        fields = self.upload_fields(self.status_page(ref, receipt))
        self.assertEqual((fields["reference"], fields["receipt"]), (ref, receipt))
        done = self.post_upload(fields, jpeg)
        self.assertIn(hashlib.sha256(jpeg).hexdigest(), done)
        self.assertIn("Your file was received as file 1", done)
        self.assertNotIn("<script", done)
        # The same page sent again: stored once (its token is the Idempotency-Key).
        self.post_upload(fields, jpeg)
        self.assertEqual(cluster().sql("SELECT count(*), min(channel) FROM grievance_attachment"), [(1, "form")])
        # Refusals are pages, nothing stored.
        before = self.stored()
        fresh = self.upload_fields(self.status_page(ref, receipt))
        err = self.post_upload(fresh, b"MZ" + os.urandom(50), expect=415)
        self.assertIn("This kind of file cannot be attached", err)
        self.post_upload(dict(fresh, receipt=new_receipt()), jpeg, expect=404)
        self.post_upload(fresh, b"", expect=422)
        st, _, _ = self.intake.request("POST", "/status/attachments", b"--x\r\n",
                                       dict(self.SAME, **{"Content-Type": "multipart/form-data; boundary=x"}))
        self.assertEqual(st, 400)
        st, _, _ = self.intake.request("POST", "/status/attachments", b"a=b",
                                       {"Content-Type": "multipart/form-data; boundary=x",
                                        "Sec-Fetch-Site": "cross-site"})
        self.assertEqual(st, 403)
        self.assertEqual(self.stored(), before)
        html = self.status_page(ref, receipt)
        self.assertIn(hashlib.sha256(jpeg).hexdigest(), html)
        # Staff read it back; then the grievance is erased and its file with it.
        self.open_case(ref)
        data, _, _ = self.get(ref, 1)
        self.assertEqual(data, jpeg)
        self.ctl("grievance", "erase", ref, "--reason", "the complainant asked for erasure")
        self.assertEqual(cluster().sql("SELECT count(*), count(content_enc), count(name_enc), count(sha256), "
                                       "count(erased_at) FROM grievance_attachment"), [(1, 0, 0, 0, 1)])
        self.assertEqual(self.story(ref, receipt)["attachments"], [])
        _, _, err = self.get(ref, 1, expect=1)
        self.assertIn("erased", err)
        self.upload(ref, receipt, PNG, expect=404)  # an erased grievance takes no more files


class TestFilesOnTheGrievanceForm(AttachmentBase):
    """The grievance form itself carries the files (multipart/form-data, no JavaScript): checked
    before anything is stored, stored after the grievance's commit, each hash on the receipt page."""
    SAME = {"Sec-Fetch-Site": "same-origin"}
    TEXT_FIELDS = {"description": "The platform removed my page after I posted the strike notice.",
                   "category": "account_removal", "country": "KE", "complainant_type": "anonymous"}

    def form_token(self, lang="en"):
        st, _, page = self.intake.request("GET", "/?lang=" + lang)
        self.assertEqual(st, 200)
        html = page.decode()
        form = html[html.index('<form id="grievance"'):html.index("</form>", html.index('<form id="grievance"'))]
        self.assertIn('enctype="multipart/form-data"', form)
        self.assertRegex(form, r'<input type="file" id="files" name="files" multiple accept="[^"]+" '
                               r'aria-describedby="files-hint">')
        self.assertIn('<label for="files">', form)
        return re.search(r'name="token" value="([0-9a-f]{32})"', form).group(1)

    def send(self, files, token=None, fields=None, expect=201, lang="en"):
        text = dict(self.TEXT_FIELDS, language=lang, **(fields or {}))
        if token:
            text["token"] = token
        parts = [(k, None, None, v.encode()) for k, v in text.items()]
        parts += [("files", name, ctype, data) for name, ctype, data in files]
        body, ct = multipart(parts, boundary="----formb0undary7MA4YWxk")
        st, _, out = self.intake.request("POST", "/grievances", body, dict(self.SAME, **{"Content-Type": ct}))
        self.assertEqual(st, expect, out[:1500])
        return out.decode().replace("\u2068", "").replace("\u2069", "")

    def counts(self):
        return cluster().sql("SELECT (SELECT count(*) FROM grievance), (SELECT count(*) FROM grievance_attachment)")[0]

    def reference_of(self, page):
        return re.findall(r'<p class="secret">([^<]+)</p>', page)

    def test_two_files_with_the_form_then_the_same_page_again(self):
        token = self.form_token()
        jpeg = b"\xff\xd8\xff\xe0" + os.urandom(5000)
        page = self.send([("photo.jpg", "image/jpeg", jpeg), ("letter.pdf", "application/pdf", PDF)], token)
        ref, receipt = self.reference_of(page)
        hashes = re.findall(r'<code class="sha256" dir="ltr">([0-9a-f]{64})</code>', page)
        self.assertEqual(hashes, [hashlib.sha256(jpeg).hexdigest(), hashlib.sha256(PDF).hexdigest()])
        self.assertIn("photo.jpg", page)
        self.assertIn("letter.pdf", page)
        self.assertEqual(self.counts(), (1, 2))
        self.assertEqual(cluster().sql("SELECT n, channel FROM grievance_attachment ORDER BY n"),
                         [(1, "form"), (2, "form")])
        # The receipt page still offers the upload form for more files.
        self.assertIn('action="/status/attachments"', page)
        # The same page sent again (its token is the Idempotency-Key): stored once, files too.
        again = self.send([("photo.jpg", "image/jpeg", jpeg), ("letter.pdf", "application/pdf", PDF)], token)
        self.assertEqual(self.reference_of(again), [ref, receipt])
        self.assertIn("This form had already been received", again)
        self.assertEqual(re.findall(r'<code class="sha256" dir="ltr">([0-9a-f]{64})</code>', again), hashes)
        self.assertEqual(self.counts(), (1, 2))
        # The status shows both; staff read them back byte for byte.
        self.assertEqual([a["sha256"] for a in self.story(ref, receipt)["attachments"]], hashes)
        self.open_case(ref)
        self.assertEqual(self.get(ref, 1)[0], jpeg)
        self.assertEqual(self.get(ref, 2)[0], PDF)
        self.assert_no_secret_in_logs(receipt, "photo.jpg", "letter.pdf")

    def test_a_bad_file_shows_the_form_again_with_the_text_and_stores_nothing(self):
        token = self.form_token()
        jpeg = b"\xff\xd8\xff\xe0" + os.urandom(100)
        cases = [  # (files, status, what the page says)
            ([("photo.jpg", "image/jpeg", jpeg), ("invoice.pdf", "application/pdf", b"MZ\x90\x00" + os.urandom(80))],
             422, "“invoice.pdf” cannot be attached: its content is not a photo"),
            ([("p%d.jpg" % i, "image/jpeg", jpeg + bytes([i])) for i in range(6)],
             422, "You chose 6 files; at most 5 can be attached to one grievance."),
            ([("huge.png", "image/png", PNG + b"\x00" * LIMIT)], 413, "“huge.png” is larger than 10.0 MB"),
            ([("empty.txt", "text/plain", b"")], 422, "“empty.txt” is empty."),
        ]
        for files, status, says in cases:
            page = self.send(files, token, expect=status)
            self.assertIn("Your grievance has not been sent yet.", page)
            self.assertIn(says, page)
            self.assertIn('id="files-error"', page)
            self.assertIn("please choose your files again", page)
            self.assertIn(self.TEXT_FIELDS["description"], page)  # the text kept
            self.assertIn('name="token" value="%s"' % token, page)  # the same page, the same key
            self.assertEqual(self.counts(), (0, 0))
        # A text problem with good files: the same, the files to choose again.
        page = self.send([("photo.jpg", "image/jpeg", jpeg)], token, fields={"country": "XX"}, expect=422)
        self.assertIn("Please choose the country where it happened.", page)
        self.assertIn("please choose your files again", page)
        self.assertEqual(self.counts(), (0, 0))
        # In another language, the problem in that language.
        page = self.send([("x.exe", "application/octet-stream", b"MZ" + os.urandom(40))], token, lang="fr",
                         expect=422)
        self.assertIn("«\u00a0x.exe\u00a0» ne peut pas être joint", page)
        self.assertEqual(self.counts(), (0, 0))
        # Then the same token with good files: one grievance, its file.
        page = self.send([("photo.jpg", "image/jpeg", jpeg)], token)
        self.assertEqual(len(self.reference_of(page)), 2)
        self.assertEqual(self.counts(), (1, 1))
        # The same page again with another file chosen: the grievance is acknowledged as stored, the
        # other file is not stored under the first one's key, and the page says so.
        page = self.send([("other.jpg", "image/jpeg", jpeg + b"changed")], token)
        self.assertIn("This form had already been received", page)
        self.assertIn("other.jpg</bdi>: <strong class=\"error\">this file was not stored. Your grievance itself is "
                      "received", page)
        self.assertNotIn(hashlib.sha256(jpeg + b"changed").hexdigest(), page)
        self.assertEqual(self.counts(), (1, 1))

    def test_no_file_chosen_and_the_urlencoded_form_unchanged(self):
        import urllib.parse
        # A browser sends an empty file input as a part with an empty name: no file.
        page = self.send([("", "application/octet-stream", b"")], self.form_token())
        self.assertEqual(len(self.reference_of(page)), 2)
        self.assertNotIn("sha256", page.split("<h2>")[0])
        self.assertEqual(self.counts(), (1, 0))
        body = urllib.parse.urlencode(dict(self.TEXT_FIELDS, language="en", token=self.form_token()))
        st, _, out = self.intake.request("POST", "/grievances", body,
                                         dict(self.SAME, **{"Content-Type": "application/x-www-form-urlencoded"}))
        self.assertEqual(st, 201, out[:500])
        self.assertEqual(self.counts(), (2, 0))
        # Cross-site and malformed multipart posts are refused, nothing stored.
        body, ct = multipart([("description", None, None, b"x"), ("files", "a.png", "image/png", PNG)])
        st, _, _ = self.intake.request("POST", "/grievances", body, {"Content-Type": ct, "Sec-Fetch-Site": "cross-site"})
        self.assertEqual(st, 403)
        st, _, _ = self.intake.request("POST", "/grievances", body[:len(body) // 2], dict(self.SAME, **{"Content-Type": ct}))
        self.assertEqual(st, 400)
        self.assertEqual(self.counts(), (2, 0))

    def test_files_together_past_the_forms_limit(self):
        """Each file within its size, together past the form's limit (5 x (10 MiB + 64 KiB) + the
        form's own): the form again with its text and why, nothing stored."""
        token = self.form_token()
        files = [("scan%d.txt" % i, "text/plain", b"a" * LIMIT) for i in range(5)]
        page = self.send(files, token, fields={"companies": "Acme " * 180000}, expect=413)
        self.assertIn("The files together are larger than one form can carry.", page)
        self.assertIn(self.TEXT_FIELDS["description"], page)
        self.assertIn('name="token" value="%s"' % token, page)
        self.assertEqual(self.counts(), (0, 0))

    def test_an_urlencoded_form_keeps_its_own_limits(self):
        """The form's route takes the large multipart cap, but an urlencoded post past the ordinary
        cap is still refused (413), and one just past max_form_bytes is shown again with its text."""
        import urllib.parse
        big = urllib.parse.urlencode({"description": "我" * 50000, "category": "other", "country": "CN"})
        st, _, out = self.intake.request("POST", "/grievances", big,
                                         dict(self.SAME, **{"Content-Type": "application/x-www-form-urlencoded"}))
        self.assertEqual(st, 413)
        self.assertIn("我" * 100, out.decode())
        huge = "description=" + "a" * (4 * 393216 + 10)
        st, _, out = self.intake.request("POST", "/grievances", huge,
                                         dict(self.SAME, **{"Content-Type": "application/x-www-form-urlencoded"}))
        self.assertEqual(st, 413)
        self.assertNotIn(b"a" * 1000, out)
        self.assertEqual(self.counts(), (0, 0))
