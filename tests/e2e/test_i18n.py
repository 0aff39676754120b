"""End-to-end tests of the six languages: every page a person sees, in each language, chosen by
Accept-Language, by ?lang= and by the switch; Arabic right to left; taxonomy labels; errors as
sentences; dates; a 20,000-character description in Arabic and Chinese through the form and through
escaped JSON; an over-limit form that comes back with its text. Expected texts come from the PO
files themselves (read with polib), so a test fails when a page shows English instead."""
import datetime
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import urllib.parse

import polib

import harness
from test_intake import IntakeBase, cluster, count

PO_DIR = os.path.join(harness.ROOT, "po")
LANGS = ["ar", "en", "es", "fr", "ru", "zh-Hans"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Origin": "null"}


def catalog(tag):
    """{(msgctxt, msgid): msgstr} of one language; English maps every msgid to itself."""
    if tag == "en":
        pot = polib.pofile(os.path.join(PO_DIR, "redress.pot"))
        return {(e.msgctxt, e.msgid): e.msgid for e in pot}
    po = polib.pofile(os.path.join(PO_DIR, tag.replace("-", "_") + ".po"))
    return {(e.msgctxt, e.msgid): e.msgstr for e in po if e.msgstr and not e.obsolete}


CATALOGS = {tag: catalog(tag) for tag in LANGS}


def t(tag, msgid, ctx=None):
    return CATALOGS[tag][(ctx, msgid)]


def esc(text):
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def long_text(alphabet, n):
    """n characters cycling through alphabet, with spaces and newlines as people type them."""
    out = []
    for i in range(n):
        if i % 50 == 49:
            out.append("\n")
        elif i % 7 == 6:
            out.append(" ")
        else:
            out.append(alphabet[i % len(alphabet)])
    return "".join(out)


ARABIC = "انقطعتشبكةالهاتفالمحمولفيمنطقتناأسبوعينولميستطعالناسالاتصالبالإسعاف"
CHINESE = "我们地区的移动网络被切断了两个星期医院无法联系救护车许多人失去了工作和收入"


class TestLanguages(IntakeBase):
    def page(self, path, headers=None):
        st, hdrs, data = self.req("GET", path, headers=headers)
        return st, hdrs, data.decode()

    def assert_in_language(self, page, hdrs, tag, title_msgid):
        """<html lang dir>, Content-Language, the title in tag, and no English UI text left."""
        dir_ = "rtl" if tag == "ar" else "ltr"
        self.assertIn(f'<html lang="{tag}" dir="{dir_}">', page)
        self.assertEqual(hdrs.get("content-language"), tag)
        self.assertIn(f"<title>{esc(t(tag, title_msgid))} — redress</title>", page)
        if tag != "en":
            self.assertNotIn(f"<title>{esc(title_msgid)} ", page)
            for english in ("File a grievance", "Follow a grievance"):
                self.assertNotIn(f">{english}<", page)

    def test_form_in_each_language_by_accept_language(self):
        for tag in LANGS:
            with self.subTest(tag=tag):
                st, hdrs, page = self.page("/", {"Accept-Language": f"{tag};q=0.9, de;q=0.5"})
                self.assertEqual(st, 200)
                self.assert_in_language(page, hdrs, tag, "File a grievance")
                for msgid in ("Kind of harm (required)", "What happened? (required)",
                              "Send grievance", "Who is filing?", "I was harmed myself"):
                    self.assertIn(esc(t(tag, msgid)), page)
                if tag != "en":
                    self.assertNotIn("Send grievance", page)
                    self.assertNotIn("Kind of harm", page)
                # the form stores the language it was shown in
                self.assertIn(f'<input type="hidden" name="language" value="{tag}">', page)
                # taxonomy labels in the language, ids unchanged
                self.assertIn(f'<option value="network_shutdown">'
                              f'{esc(t(tag, "Internet or mobile network shut down", "categories"))}'
                              f'</option>', page)
                self.assertIn(f'value="privacy"> {esc(t(tag, "Privacy", "rights"))}</label>', page)
                self.assertIn(f'<option value="KE">{esc(t(tag, "Kenya", "countries"))}</option>',
                              page)

    def test_accept_language_q_values(self):
        cases = [
            ("fr;q=0.3, ru;q=0.9, en;q=0.5", "ru"),
            ("de, es;q=0.2", "es"),
            ("zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans"),
            ("zh-TW", "zh-Hans"),  # the only Chinese offered
            ("fr-CA", "fr"),
            ("AR-eg", "ar"),
            ("ar;q=0, fr;q=0", "en"),
            ("*", "en"),
            ("de, it", "en"),
            ("en;q=0.1, ar", "ar"),
            ("es;q=0.5, fr;q=0.5", "es"),  # equal: the earlier wins
            ("ru;q=1.5, fr;q=0.1", "fr"),  # a malformed q-value drops the range
            ("", "en"),
        ]
        for header, want in cases:
            with self.subTest(header=header):
                st, hdrs, page = self.page("/status", {"Accept-Language": header})
                self.assertEqual(st, 200)
                self.assertEqual(hdrs.get("content-language"), want)
                self.assertIn(f'<html lang="{want}"', page)
        st, hdrs, page = self.page("/status")
        self.assertEqual(hdrs.get("content-language"), "en")

    def test_switch_on_every_get_page_and_query(self):
        for path, title in (("/", "File a grievance"), ("/status", "Follow a grievance")):
            for tag in LANGS:
                with self.subTest(path=path, tag=tag):
                    # ?lang= wins over Accept-Language
                    st, hdrs, page = self.page(f"{path}?lang={tag}", {"Accept-Language": "ru, fr"})
                    self.assertEqual(st, 200)
                    self.assert_in_language(page, hdrs, tag, title)
                    self.assertIn(f'<nav class="languages" aria-label="{esc(t(tag, "Language"))}">',
                                  page)
                    for other in LANGS:
                        name = esc(t(other, "English", "language name"))
                        if other == tag:
                            self.assertIn(f'<strong lang="{other}" aria-current="true">{name}', page)
                        elif path == "/":  # buttons that submit the form, so entries are kept
                            self.assertIn(f'<button type="submit" name="lang" value="{other}" '
                                          f'lang="{other}" form="grievance" formnovalidate>{name}',
                                          page)
                        else:
                            self.assertIn(f'<a href="/status?lang={other}" lang="{other}" '
                                          f'hreflang="{other}">{name}</a>', page)
        # an unknown ?lang= falls back to Accept-Language
        st, hdrs, page = self.page("/?lang=xx", {"Accept-Language": "es"})
        self.assertEqual(hdrs.get("content-language"), "es")

    def test_only_arabic_is_right_to_left(self):
        for tag in LANGS:
            st, _, page = self.page(f"/?lang={tag}")
            self.assertEqual('dir="rtl"' in page.split("<head>")[0], tag == "ar", tag)

    def test_switch_keeps_what_was_typed(self):
        before = count()
        fields = {"description": "Связь отключили 3 марта. <b>switch-marker-4411</b>",
                  "category": "network_shutdown", "country": "KE", "rights": ["information"],
                  "companies": "Example Telco", "contact_email": "x@example.org",
                  "complainant_type": "on_behalf", "language": "en", "lang": "ru"}
        st, hdrs, page = self.post_form(fields, SAME_ORIGIN)
        self.assertEqual(st, 200, page[:300])
        self.assert_in_language(page, hdrs, "ru", "File a grievance")
        self.assertIn(esc(fields["description"]) + "</textarea>", page)
        self.assertIn('<option value="network_shutdown" selected>', page)
        self.assertIn('<option value="KE" selected>', page)
        self.assertIn('name="rights" value="information" checked', page)
        self.assertIn('value="Example Telco"', page)
        self.assertIn('value="on_behalf" checked', page)
        self.assertIn('<input type="hidden" name="language" value="ru">', page)
        self.assertNotIn('class="error"', page)  # switching is not an error
        self.assertEqual(count(), before)  # and nothing is sent

    def test_errors_are_sentences_in_the_persons_language(self):
        before = count()
        cases = [({"category": ""}, "category", "Please choose the kind of harm."),
                 ({"country": "XX"}, "country", "Please choose the country where it happened."),
                 ({"description": ""}, "description", "Please describe what happened."),
                 ({"people_affected": "lots"}, "people_affected",
                  "Please give the number of people affected as a whole number, for example 250."),
                 ({"started_on": "2999-01-01"}, "started_on",
                  "Please give the date it started as a real date, not in the future."),
                 ({"contact_email": "no-at-sign"}, "contact.email",
                  "Please check the e-mail address: it should look like name@example.org."),
                 ({"complainant_type": "anonymous", "contact_name": "Someone"}, "contact",
                  "An anonymous grievance cannot include contact details. Please remove them, or "
                  "choose another answer to “Who is filing?”.")]
        for tag in LANGS:
            for over, field, msgid in cases:
                with self.subTest(tag=tag, field=field):
                    fields = {"description": "A description", "category": "other",
                              "country": "FR", "language": tag}
                    fields.update(over)
                    st, hdrs, page = self.post_form(fields)
                    self.assertEqual(st, 422, page[:300])
                    self.assert_in_language(page, hdrs, tag, "File a grievance")
                    sentence = esc(t(tag, msgid))
                    self.assertIn(f'<p class="error" id="{field}-error">{sentence}</p>', page)
                    self.assertIn(f'{esc(t(tag, "Your grievance has not been sent yet."))} '
                                  f'{sentence}', page)
                    self.assertNotIn("/v1/taxonomy", page)
                    self.assertNotRegex(page, r"must be (a|an|at|true) |is not a known|ISO 3166")
        # the form's own people_affected digits: Arabic-Indic digits are a number
        st, _, page = self.post_form({"description": "x", "category": "other", "country": "EG",
                                      "people_affected": "٢٥٠", "language": "ar"}, SAME_ORIGIN)
        self.assertEqual(st, 201, page[:300])
        self.assertEqual(count(), before + 1)
        self.assertEqual(cluster().sql("SELECT people_affected FROM grievance ORDER BY id DESC "
                                       "LIMIT 1"), [(250,)])

    def test_api_errors_keep_code_and_field_with_message_in_language(self):
        base = {"description": "d", "category": "made_up", "country": "KE"}
        st, hdrs, body, _ = self.post_json(base)
        self.assertEqual((st, body["error"]["code"], body["error"]["field"]),
                         (422, "invalid", "category"))
        self.assertIn("category", body["error"]["message"])  # English: the validator's own words
        self.assertEqual(hdrs.get("content-language"), "en")
        for tag in LANGS[2:] + ["ar"]:
            with self.subTest(tag=tag):
                st, hdrs, body, _ = self.post_json(base, {"Accept-Language": tag})
                self.assertEqual(st, 422)
                self.assertEqual(body["error"]["code"], "invalid")
                self.assertEqual(body["error"]["field"], "category")
                self.assertEqual(body["error"]["message"], t(tag, "Please choose the kind of harm."))
                self.assertEqual(hdrs.get("content-language"), tag)
        # errors outside validation too, and ?lang= on an API path
        st, hdrs, data = self.req("GET", "/v1/nothing?lang=fr")
        body = json.loads(data)
        self.assertEqual((st, body["error"]["code"]), (404, "not_found"))
        self.assertEqual(body["error"]["message"], t("fr", "there is nothing at this address"))
        st, hdrs, data = self.req("POST", "/v1/grievances", "{", {"Content-Type": "application/json",
                                                                   "Accept-Language": "zh-CN"})
        body = json.loads(data)
        self.assertEqual((st, body["error"]["code"]), (400, "malformed_json"))
        self.assertEqual(body["error"]["message"], t("zh-Hans", "the body is not valid JSON"))

    def test_taxonomy_labels_per_language(self):
        st, _, data = self.req("GET", "/v1/taxonomy")
        english = json.loads(data)
        ids = {k: [e["id"] for e in v] for k, v in english.items()}
        for tag in LANGS:
            for how in ({"Accept-Language": tag}, {"Accept-Language": "de", "_q": tag}):
                with self.subTest(tag=tag, how=how):
                    path = "/v1/taxonomy" + (f"?lang={how.pop('_q')}" if "_q" in how else "")
                    st, hdrs, data = self.req("GET", path, headers=how)
                    self.assertEqual(st, 200)
                    self.assertEqual(hdrs.get("content-language"), tag)
                    self.assertIn("Accept-Language", hdrs.get("vary", ""))
                    tax = json.loads(data)
                    self.assertEqual({k: [e["id"] for e in v] for k, v in tax.items()}, ids)
                    for name in ("categories", "rights", "vulnerability", "sectors", "countries"):
                        for mine, en in zip(tax[name], english[name]):
                            self.assertEqual(mine["label"], t(tag, en["label"], name))
                    if tag != "en":
                        differ = sum(m["label"] != e["label"] for m, e in
                                     zip(tax["categories"], english["categories"]))
                        self.assertEqual(differ, len(english["categories"]))

    def submit_form(self, tag, **over):
        fields = {"description": f"i18n status test {tag}", "category": "network_shutdown",
                  "country": "SD", "language": tag}
        fields.update(over)
        st, hdrs, page = self.post_form(fields, SAME_ORIGIN)
        self.assertEqual(st, 201, page[:400])
        ref, receipt = re.findall(r'<p class="secret">([^<]+)</p>', page)
        return hdrs, page, ref, receipt

    def expected_date(self, tag, when):
        month = t(tag, MONTHS[when.month - 1], "month")
        pattern = t(tag, "{day} {month} {year}, {time} UTC", "date and time")
        return pattern.format(day=when.day, month=month, year=when.year,
                              time=when.strftime("%H:%M"))

    def test_receipt_page_language_date_and_switch(self):
        for tag in LANGS:
            with self.subTest(tag=tag):
                hdrs, page, ref, receipt = self.submit_form(tag)
                self.assert_in_language(page, hdrs, tag, "Grievance received")
                self.assertIn(esc(t(tag, "Write down or save both now.")), page)
                (stored,) = cluster().sql("SELECT language, received_at AT TIME ZONE 'UTC' FROM "
                                          "grievance WHERE reference = %s", (ref,))
                self.assertEqual(stored[0], tag)
                self.assertIn(esc(self.expected_date(tag, stored[1])), page)
                self.assertIn("UTC", page)
                # the switch re-posts reference and receipt, the receipt page comes back
                self.assertIn('<form method="post" action="/receipt"', page)
                other = "ar" if tag != "ar" else "zh-Hans"
                st, hdrs2, data = self.req("POST", "/receipt", urllib.parse.urlencode(
                    {"reference": ref, "receipt": receipt, "lang": other}),
                    dict(SAME_ORIGIN, **{"Content-Type": "application/x-www-form-urlencoded"}))
                page2 = data.decode()
                self.assertEqual(st, 200, page2[:300])
                self.assert_in_language(page2, hdrs2, other, "Grievance received")
                self.assertEqual(re.findall(r'<p class="secret">([^<]+)</p>', page2), [ref, receipt])
        # a receipt we did not issue for this reference is not shown
        st, _, data = self.req("POST", "/receipt", urllib.parse.urlencode(
            {"reference": ref, "receipt": "0" * 26, "lang": "fr"}),
            dict(SAME_ORIGIN, **{"Content-Type": "application/x-www-form-urlencoded"}))
        self.assertEqual(st, 404)
        self.assertIn(esc(t("fr", "This reference and receipt do not belong together.")),
                      data.decode())
        st, _, _ = self.req("POST", "/receipt", "reference=x&receipt=y",
                            {"Content-Type": "application/x-www-form-urlencoded",
                             "Origin": "https://evil.example"})
        self.assertEqual(st, 403)

    def status_post(self, ref, receipt, **extra):
        fields = {"reference": ref, "receipt": receipt}
        fields.update(extra)
        st, hdrs, data = self.req("POST", "/status", urllib.parse.urlencode(fields),
                                  dict(SAME_ORIGIN,
                                       **{"Content-Type": "application/x-www-form-urlencoded"}))
        return st, hdrs, data.decode()

    def test_status_page_uses_the_grievances_language(self):
        _, _, ref, receipt = self.submit_form("ar")
        (received,) = cluster().sql("SELECT received_at AT TIME ZONE 'UTC' FROM grievance "
                                    "WHERE reference = %s", (ref,))[0]
        # The request page was English; the grievance was filed in Arabic: the answer is Arabic.
        st, hdrs, page = self.status_post(ref, receipt, language="en")
        self.assertEqual(st, 200, page[:300])
        self.assert_in_language(page, hdrs, "ar", "Follow a grievance")
        self.assertIn(esc(t("ar", "Received: waiting to be assessed")), page)
        self.assertIn(esc(self.expected_date("ar", received)), page)
        # the reference is a bidi isolate, so its check symbol stays at its end in Arabic
        self.assertIn(esc(t("ar", "Grievance {reference}").format(reference=f"\u2068{ref}\u2069")),
                      page)
        # its switch posts reference and receipt again, with lang
        self.assertIn('<form method="post" action="/status"', page)
        self.assertIn(f'<input type="hidden" name="reference" value="{ref}">', page)
        for tag in LANGS:
            st, hdrs, page = self.status_post(ref, receipt, language="ar", lang=tag)
            self.assertEqual(st, 200)
            self.assert_in_language(page, hdrs, tag, "Follow a grievance")
            self.assertIn(esc(self.expected_date(tag, received)), page)
        # a wrong receipt: the request page again, in the page's language
        st, hdrs, page = self.status_post(ref, "1" * 26, language="es")
        self.assertEqual(st, 404)
        self.assert_in_language(page, hdrs, "es", "Follow a grievance")
        self.assertIn(esc(t("es", "No grievance matches this reference and receipt. Check both "
                               "and try again.")), page)

    def test_deadline_shown_in_language(self):
        _, _, ref, receipt = self.submit_form("ru")
        due = datetime.datetime(2027, 3, 9, 17, 5)
        cluster().sql("WITH c AS (INSERT INTO remedy_case (reference, status, category, country, "
                      "ack_due) VALUES ('CI18NTEST01', 'triaged', 'network_shutdown', 'SD', "
                      "%s AT TIME ZONE 'UTC') RETURNING id) UPDATE grievance SET case_id = "
                      "(SELECT id FROM c) WHERE reference = %s", (due, ref))
        st, hdrs, page = self.status_post(ref, receipt)
        self.assertEqual(st, 200, page[:300])
        self.assertIn(esc(t("ru", "Assessed: waiting for the company to take it up")), page)
        self.assertIn(esc(t("ru", "Acknowledgement of your grievance")), page)
        self.assertIn("9 марта 2027 г., 17:05 UTC", page)
        self.assertIn('<time datetime="2027-03-09T17:05:00Z">', page)

    def test_error_pages_in_language(self):
        for tag in LANGS:
            with self.subTest(tag=tag):
                st, hdrs, page = self.page("/no/such/page", {"Accept-Language": tag})
                self.assertEqual(st, 404)
                self.assert_in_language(page, hdrs, tag, "Something went wrong")
                self.assertIn(esc(t(tag, "There is no page at this address.")), page)
                self.assertIn('<nav class="languages"', page)
                st, hdrs, data = self.req("POST", "/grievances", "description=x",
                                          {"Content-Type": "application/x-www-form-urlencoded",
                                           "Origin": "https://evil.example",
                                           "Accept-Language": tag})
                self.assertEqual(st, 403)
                self.assertIn(esc(t(tag, "This form can only be sent from this site's own page.")),
                              data.decode())
                st, hdrs, data = self.req("DELETE", f"/status?lang={tag}")
                self.assertEqual(st, 405)
                self.assert_in_language(data.decode(), hdrs, tag, "Something went wrong")

    def assert_stored(self, ref, text):
        rows = cluster().sql("SELECT description, length(description) FROM grievance "
                             "WHERE reference = %s", (ref,))
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0][1], len(text))
        self.assertTrue(rows[0][0] == text, "stored description differs")

    def test_20000_characters_in_every_script(self):
        before = count()
        texts = {"ar": long_text(ARABIC, 20000), "zh-Hans": long_text(CHINESE, 20000),
                 "ru": long_text("СвязьотключилинадевятьднейбольницынемоглисвязатьсясоскоройпомощьюЁё",
                                 20000),
                 "astral": long_text("𝒜𝓑😀🀄𠀋", 20000)}  # outside the BMP: surrogate pairs in JSON
        for name, text in texts.items():
            with self.subTest(script=name, channel="form"):
                body = urllib.parse.urlencode({"description": text, "category": "network_shutdown",
                                               "country": "SD", "language": "ar"})
                # 6 (Arabic, Cyrillic), 9 (Chinese) or 12 (astral) bytes a character: far over
                # the 64 KiB of old
                self.assertGreater(len(body), {"ar": 100000, "ru": 100000}.get(name, 150000))
                st, _, data = self.req("POST", "/grievances", body,
                                       dict(SAME_ORIGIN,
                                            **{"Content-Type": "application/x-www-form-urlencoded"}))
                page = data.decode()
                self.assertEqual(st, 201, page[:300])
                self.assert_stored(re.findall(r'<p class="secret">([^<]+)</p>', page)[0], text)
            with self.subTest(script=name, channel="json"):
                raw = json.dumps({"description": text, "category": "network_shutdown",
                                  "country": "SD", "language": "zh-Hans"}, ensure_ascii=True)
                # \uXXXX: 6 bytes a character, 12 for a surrogate pair
                self.assertGreater(len(raw), 200000 if name == "astral" else 100000)
                st, _, body, data = self.post_json(None, raw=raw)
                self.assertEqual(st, 201, data[:300])
                self.assert_stored(body["reference"], text)
        self.assertEqual(count(), before + 2 * len(texts))
        # one character more is refused by the validator, not by a size limit
        st, _, body, _ = self.post_json(None, raw=json.dumps(
            {"description": texts["zh-Hans"] + "我", "category": "other", "country": "CN"}))
        self.assertEqual((st, body["error"]["code"]), (422, "too_long"))

    def test_over_limit_form_comes_back_with_the_text(self):
        before = count()
        limit = int(self.cfg.get("server.max_form_bytes", 393216))
        text = long_text(CHINESE, 60000)  # ~470 KB urlencoded: over the form limit
        body = urllib.parse.urlencode({"description": text, "category": "surveillance",
                                       "country": "CN", "language": "zh-Hans",
                                       "contact_name": "Li"})
        self.assertGreater(len(body), limit)
        st, hdrs, data = self.req("POST", "/grievances", body,
                                  dict(SAME_ORIGIN,
                                       **{"Content-Type": "application/x-www-form-urlencoded"}))
        page = data.decode()
        self.assertEqual(st, 413, page[:300])
        self.assertTrue(hdrs["content-type"].startswith("text/html"))
        self.assert_in_language(page, hdrs, "zh-Hans", "File a grievance")
        self.assertIn(esc(t("zh-Hans", "The form was too large to send. Your description may be at "
                                       "most 20,000 characters: please shorten it and send the "
                                       "form again.")), page)
        self.assertIn(">" + esc(text) + "</textarea>", page)  # every character kept
        self.assertIn('<option value="surveillance" selected>', page)
        self.assertIn('value="Li"', page)
        self.assertEqual(hdrs.get("connection", "").lower(), "close")
        self.assertEqual(count(), before)


class TestTranslationsChecked(unittest.TestCase):
    """The PO check of `make test`, and the server's own refusal of a broken translation."""

    def run_check(self, po_dir):
        return subprocess.run(["/usr/bin/python3", os.path.join(harness.ROOT, "scripts/po.py"),
                               "check", po_dir], capture_output=True, text=True)

    def broken_copy(self, edit):
        d = tempfile.mkdtemp(prefix="redress-po-")
        self.addCleanup(shutil.rmtree, d, True)
        for f in os.listdir(PO_DIR):
            shutil.copy(os.path.join(PO_DIR, f), d)
        po = polib.pofile(os.path.join(d, "fr.po"))
        edit(po)
        po.save(os.path.join(d, "fr.po"))
        return d

    def test_po_files_complete(self):
        rc = self.run_check(PO_DIR)
        self.assertEqual(rc.returncode, 0, rc.stdout + rc.stderr)
        self.assertIn("5 languages besides English", rc.stdout)

    def test_missing_and_mismatched_messages_fail(self):
        def drop(po):
            po.remove(po.find("Send grievance"))

        def untranslate(po):
            po.find("Reference").msgstr = ""

        def placeholder(po):
            po.find("Grievance {reference}").msgstr = "Réclamation {ref}"

        def fuzzy(po):
            po.find("Consent").flags.append("fuzzy")

        for edit, want in ((drop, "missing 'Send grievance'"), (untranslate, "untranslated"),
                           (placeholder, "placeholders"), (fuzzy, "fuzzy 'Consent'")):
            with self.subTest(edit=edit.__name__):
                rc = self.run_check(self.broken_copy(edit))
                self.assertNotEqual(rc.returncode, 0)
                self.assertIn("po/fr.po", rc.stdout)
                self.assertIn(want, rc.stdout)

    def test_server_refuses_mismatched_placeholders(self):
        def placeholder(po):
            po.find("Grievance {reference}").msgstr = "Réclamation {receipt}"

        d = self.broken_copy(placeholder)
        cfgdir = tempfile.mkdtemp(prefix="redress-i18n-")
        self.addCleanup(shutil.rmtree, cfgdir, True)
        config = harness.make_config(cfgdir, cluster(), **{"i18n.po_dir": d})
        rc = subprocess.run([os.path.join(harness.BUILD, "redress-intake"), "-c", config],
                            capture_output=True, text=True, timeout=20)
        self.assertNotEqual(rc.returncode, 0)
        self.assertIn("fr.po", rc.stderr)
        self.assertIn("receipt", rc.stderr)
        # and a PO syntax error
        with open(os.path.join(d, "fr.po"), "a") as f:
            f.write('\nmsgid "unterminated\n')
        rc = subprocess.run([os.path.join(harness.BUILD, "redress-intake"), "-c", config],
                            capture_output=True, text=True, timeout=20)
        self.assertNotEqual(rc.returncode, 0)
        self.assertIn("fr.po:", rc.stderr)


if __name__ == "__main__":
    unittest.main()
