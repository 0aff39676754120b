"""Accessibility, checked by a machine in every language: tests/a11y/audit.js runs axe-core
(WCAG 2.0/2.1 A and AA) in Debian's headless Chromium over every page a person sees — the form, the
form with an error, the receipt, the status request, a wrong receipt, the status page, the form
over its size limit and an error page — in each of the six languages, against the real server."""
import json
import os
import subprocess
import unittest

import harness
from test_engagement import EngagementCase
from test_intake import IntakeBase

LANGS = ["ar", "en", "es", "fr", "ru", "zh-Hans"]
A11Y = os.path.join(harness.ROOT, "tests", "a11y")


class TestAccessibility(IntakeBase):
    overrides = {"server.request_timeout": 10}

    def test_every_page_in_every_language_has_no_violation(self):
        self.assertTrue(os.path.isdir(os.path.join(A11Y, "node_modules", "axe-core")),
                        "tests/a11y/node_modules missing: scripts/install-deps.sh installs it")
        rc = subprocess.run(["node", os.path.join(A11Y, "audit.js"),
                             f"https://127.0.0.1:{self.intake.port}"] + LANGS,
                            capture_output=True, text=True, timeout=300, cwd=A11Y)
        lines = rc.stdout.strip().splitlines()
        self.assertTrue(lines, rc.stderr[-3000:])
        try:
            summary = json.loads(lines[-1])
        except ValueError:
            self.fail(rc.stdout[-3000:] + rc.stderr[-3000:])
        self.assertEqual(summary["violations"], [], rc.stdout[-3000:])
        self.assertEqual(summary["pages"], 8 * len(LANGS), rc.stdout[-3000:])
        self.assertEqual(rc.returncode, 0, rc.stderr[-3000:])
        for lang in LANGS:
            self.assertIn(f"{lang} receipt: 0 violation(s)", rc.stdout)



class TestAccessibilityOfCases(EngagementCase):
    """The status page of cases further on, where it has the most to show: owners, the priority
    and its reasons, the history, a remedy with its buttons, messages and the form to write; a
    rejected case with its reason, the appeal and the feedback forms."""

    def test_status_pages_of_cases_have_no_violation(self):
        ref, receipt = self.file()
        cref = self.open_case(ref, co="beta-social")
        self.to_remedy(cref)
        self.ctl("message", "send", ref, "--text", "Please tell us what you lost.")
        self.act(ref, receipt, "messages", {"text": "My savings group's records."})
        ref2, receipt2 = self.file(anonymous=True)
        cref2 = self.open_case(ref2)
        self.ctl("case", "transition", cref2, "rejected", "--note", "outside the mechanism's scope")
        stories = ["--story", "status of a case with a remedy", ref, receipt,
                   "--story", "status of a rejected case", ref2, receipt2]
        rc = subprocess.run(["node", os.path.join(A11Y, "audit.js"), f"https://127.0.0.1:{self.intake.port}"]
                            + stories + LANGS, capture_output=True, text=True, timeout=300, cwd=A11Y)
        lines = rc.stdout.strip().splitlines()
        self.assertTrue(lines, rc.stderr[-3000:])
        summary = json.loads(lines[-1])
        self.assertEqual(summary["violations"], [], rc.stdout[-3000:])
        self.assertEqual(summary["pages"], 2 * len(LANGS), rc.stdout[-3000:])
        self.assertEqual(rc.returncode, 0, rc.stderr[-3000:])


if __name__ == "__main__":
    unittest.main()
