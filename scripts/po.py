#!/usr/bin/python3
"""The translations in po/: one gettext PO file per language, English as the source.

    scripts/po.py update      regenerate po/redress.pot (xgettext over the C sources, plus the
                              taxonomy labels of config/taxonomy.json) and msgmerge it into every
                              po/*.po; new messages arrive untranslated, changed ones fuzzy
    scripts/po.py check [DIR] fail when the template is out of date with the sources, or a language
                              lacks a message, has it fuzzy, or its placeholders differ (msgfmt
                              --check-format and our own {name} comparison); run by `make test`
    scripts/po.py countries   fill the country names of every po/*.po from Debian's iso-codes
                              translations (ISO 3166-1), where a file has none yet

A new language: `msginit -i po/redress.pot -l xx -o po/xx.po` (BCP 47 tag, '_' for '-', e.g.
zh_Hans.po), `scripts/po.py countries`, translate, `scripts/po.py check`.
"""
import gettext
import json
import os
import re
import subprocess
import sys
import tempfile

import polib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PO_DIR = os.path.join(ROOT, "po")
POT = os.path.join(PO_DIR, "redress.pot")
TAXONOMY = os.path.join(ROOT, "config", "taxonomy.json")
SOURCES = ["common/i18n.c", "intake/html.c", "intake/reply.c", "intake/errtext.c", "intake/form.c",
           "intake/statuspage.c", "intake/storypage.c", "intake/priority_words.c", "intake/formdata.c", "intake/formfiles.c", "intake/api.c", "intake/routes.c", "common/grievance_parse.c"]
# The functions whose string arguments are messages (xgettext --keyword syntax).
KEYWORDS = ["tr:2", "trc:2c,3", "N_", "NC_:1c,2", "html_tr:3", "html_trf:3", "reply_error:4",
            "form_error_page:3", "reply_page_error:4", "route_error:5",
            "grievance_reader_malformed:3"]
TAXONOMY_LISTS = ["categories", "rights", "vulnerability", "sectors", "countries"]
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
ISO_CODES = "/usr/share/iso-codes/json/iso_3166-1.json"
ISO_LOCALE = {"zh-Hans": "zh_CN"}  # the iso-codes catalog a language's country names come from


def placeholders(text):
    return sorted(PLACEHOLDER.findall(text))


def build_pot():
    """The template as the sources and the taxonomy say it should be."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "c.pot")
        cmd = ["xgettext", "--language=C", "--from-code=UTF-8", "--add-comments=TRANSLATORS",
               "--no-wrap", "--sort-by-file", "--package-name=redress", "-o", out, "-k"]
        cmd += [f"--keyword={k}" for k in KEYWORDS] + SOURCES
        subprocess.run(cmd, cwd=ROOT, check=True)
        pot = polib.pofile(out, wrapwidth=0)
    tax = json.load(open(TAXONOMY, encoding="utf-8"))
    for name in TAXONOMY_LISTS:
        for item in tax[name]:
            entry = pot.find(item["label"], msgctxt=name)
            if entry is None:
                pot.append(polib.POEntry(msgctxt=name, msgid=item["label"], msgstr="",
                                         comment=f"taxonomy {name}: {item['id']}"))
    for e in pot:
        # xgettext guesses c-format from a '%'; our texts are never printf formats.
        e.flags = [f for f in e.flags if not f.endswith("c-format")]
        if placeholders(e.msgid) and "python-brace-format" not in e.flags:
            e.flags.append("python-brace-format")
    pot.metadata["Content-Type"] = "text/plain; charset=UTF-8"
    pot.metadata.pop("POT-Creation-Date", None)
    return pot


def key(e):
    return (e.msgctxt or "", e.msgid)


def languages(po_dir=PO_DIR):
    return sorted(f for f in os.listdir(po_dir) if f.endswith(".po"))


def update():
    pot = build_pot()
    pot.save(POT)
    for f in languages():
        path = os.path.join(PO_DIR, f)
        subprocess.run(["msgmerge", "--quiet", "--update", "--backup=none", "--no-wrap", path, POT],
                       check=True)
        print(f"po/{f}: merged")


def check(po_dir=PO_DIR):
    problems = []
    want = build_pot()
    have = polib.pofile(os.path.join(po_dir, "redress.pot"))
    wanted, present = {key(e) for e in want}, {key(e) for e in have}
    for ctx, msgid in sorted(wanted - present):
        problems.append(f"po/redress.pot: lacks {msgid[:60]!r}" + (f" ({ctx})" if ctx else ""))
    for ctx, msgid in sorted(present - wanted):
        problems.append(f"po/redress.pot: {msgid[:60]!r} is no longer in the sources")
    langs = languages(po_dir)
    if not langs:
        problems.append("po/: no language files")
    for f in langs:
        path = os.path.join(po_dir, f)
        rc = subprocess.run(["msgfmt", "--check", "--check-format", "-o", os.devnull, path],
                            capture_output=True, text=True)
        if rc.returncode != 0:
            problems.append(f"po/{f}: msgfmt --check: {rc.stderr.strip()}")
        po = polib.pofile(path)
        entries = {key(e): e for e in po if not e.obsolete}
        for k in sorted(wanted):
            e = entries.get(k)
            label = repr(k[1][:60]) + (f" ({k[0]})" if k[0] else "")
            if e is None:
                problems.append(f"po/{f}: missing {label}")
            elif not e.msgstr.strip():
                problems.append(f"po/{f}: untranslated {label}")
            elif "fuzzy" in e.flags:
                problems.append(f"po/{f}: fuzzy {label}")
            elif placeholders(e.msgstr) != placeholders(e.msgid):
                problems.append(f"po/{f}: {label} has placeholders {placeholders(e.msgstr)}, "
                                f"the original {placeholders(e.msgid)}")
        for k in sorted(set(entries) - wanted):
            problems.append(f"po/{f}: {k[1][:60]!r} is not in the template (obsolete?)")
    if problems:
        for p in problems[:200]:
            print(p)
        print(f"po check: {len(problems)} problem(s); run scripts/po.py update, then translate "
              "the entries named above in every po/*.po")
        return 1
    print(f"po check: {len(langs)} languages besides English, {len(wanted)} messages each: ok")
    return 0


def countries():
    iso = {c["alpha_2"]: c for c in json.load(open(ISO_CODES, encoding="utf-8"))["3166-1"]}
    tax = json.load(open(TAXONOMY, encoding="utf-8"))
    for f in languages():
        tag = f[:-3].replace("_", "-")
        locale = ISO_LOCALE.get(tag, tag)
        mo = f"/usr/share/locale/{locale}/LC_MESSAGES/iso_3166-1.mo"
        if not os.path.exists(mo):
            print(f"po/{f}: no iso-codes translation ({mo})")
            continue
        cat = gettext.GNUTranslations(open(mo, "rb"))
        path = os.path.join(PO_DIR, f)
        po = polib.pofile(path, wrapwidth=0)
        filled = 0
        for c in tax["countries"]:
            e = po.find(c["label"], msgctxt="countries")
            if e is None or (e.msgstr and "fuzzy" not in e.flags):
                continue
            entry = iso.get(c["id"], {})
            for name in (entry.get("common_name"), entry.get("name")):
                if name and name in cat._catalog:  # a translation, even one spelt as in English
                    e.msgstr, filled = cat._catalog[name], filled + 1
                    e.flags = [x for x in e.flags if x != "fuzzy"]
                    break
        po.save(path)
        print(f"po/{f}: {filled} country names from iso-codes")


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "update":
        update()
    elif cmd == "check":
        sys.exit(check(sys.argv[2] if len(sys.argv) > 2 else PO_DIR))
    elif cmd == "countries":
        countries()
    else:
        print(__doc__)
        sys.exit(2)
