"""The translation workflow and the sign-off gate, through the command line."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess

import pytest
from babel.messages.pofile import read_po, write_po
from click.testing import CliRunner

from letters import i18n
from letters.cli import cli
from tests.conftest import ROOT
from tests.test_mailing import small_records

PO = "locale/es/LC_MESSAGES/letters.po"
OLD = "That is\nwhy we are sending you this letter."
NEW = "That is\nwhy we are writing to you now."


@pytest.fixture
def ws(tmp_path, monkeypatch):
    for sub in ("templates", "locale"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    for name in ("letters.toml", "babel.cfg"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "letters", tmp_path / "letters",
                    ignore=shutil.ignore_patterns("__pycache__", "fonts"))
    monkeypatch.chdir(tmp_path)
    i18n.clear_caches()
    yield tmp_path
    i18n.clear_caches()


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def edit_po(ws, fn):
    path = ws / PO
    with open(path, "rb") as fh:
        catalog = read_po(fh, locale="es")
    fn(catalog)
    with open(path, "wb") as fh:
        write_po(fh, catalog, width=0, sort_by_file=True)
    i18n.clear_caches()


def test_shipped_catalog_passes_check_and_msgfmt():
    from tests.pdftools import require

    result = subprocess.run([require("msgfmt", "gettext"), "-c", "-o", "/dev/null", str(ROOT / PO)],
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert i18n.check(ROOT / "locale", "es") == []


def test_pot_is_in_step_with_the_templates(ws):
    result = run("i18n", "extract")
    assert result.output == f"Unchanged: {ws / 'locale' / 'letters.pot'}\n"


def test_round_trip_changed_english_to_signed_off_mailing(ws):
    records = small_records(ws / "r.csv", people=3)
    template = ws / "templates" / "en" / "notice.html"
    text = template.read_text(encoding="utf-8")
    assert OLD in text
    template.write_text(text.replace(OLD, NEW), encoding="utf-8")

    assert run("i18n", "extract").exit_code == 0
    updated = run("i18n", "update")
    assert updated.output == f"{ws / PO}: 1 fuzzy, 0 untranslated\n"

    check = run("i18n", "check")
    assert check.exit_code == 1
    line = check.output.splitlines()[0]
    assert line.startswith(f"{PO}:") and "fuzzy (the English changed" in line
    assert line.endswith("'A court ordered our office to tell every person whose cas...'")

    refused = run("mail", records, "--batch", "b", "--date", "2026-12-01", "--out", ws / "out")
    assert refused.exit_code == 1
    assert refused.output.startswith("Error: the translation is not ready to mail (1 problem); "
                                     "no letter was written:\n  " + line + "\n")
    assert not (ws / "out").exists()

    def translate(catalog):
        for m in catalog:
            if m.id and "writing to you now" in m.id:
                m.string = ("Un tribunal ordenó a nuestra oficina avisar a todas las personas "
                            "cuyo caso podría estar afectado. Por eso le escribimos ahora.")
                m.flags.discard("fuzzy")
                m.previous_id = []
    edit_po(ws, translate)
    assert "no sign-off" in run("i18n", "check").output
    signed = run("i18n", "signoff", "--lang", "es", "--reviewer", "Lic. Ana Torres",
                 "--message", "writing to you now")
    assert signed.output == (f"Signed off 1 messages for es by Lic. Ana Torres in "
                             f"{ws / 'locale/es/LC_MESSAGES/letters.signoff.json'}\n")
    assert run("i18n", "check").exit_code == 0

    mailed = run("mail", records, "--batch", "b", "--date", "2026-12-01", "--out", ws / "out")
    assert mailed.exit_code == 0, mailed.output
    with sqlite3.connect(ws / "out" / "ledger.sqlite") as db:
        payload = db.execute("select payload from events where kind = 'translations-approved'"
                             ).fetchone()[0]
    reviewers = json.loads(payload)["es"]["reviewers"]
    assert "Lic. Ana Torres" in reviewers and len(reviewers) == 2


def test_any_change_to_a_signed_translation_voids_its_sign_off(ws):
    def tweak(catalog):
        for m in catalog:
            if m.id == "Notice ID":
                m.string = "Número de la notificación"
    edit_po(ws, tweak)
    problems = [str(p) for p in i18n.check(ws / "locale", "es", root=ws)]
    assert len(problems) == 1
    assert problems[0].endswith("sign-off is stale (the English or the translation changed "
                                "since): 'Notice ID'")


def test_placeholder_mismatch_and_incomplete_plural(ws):
    def break_it(catalog):
        for m in catalog:
            if m.id == "To get this letter in English, call %(hotline)s.":
                m.string = "Para recibir esta carta en español, llame al %(phone)s."
            if isinstance(m.id, tuple) and m.id[0] == "Your case":
                m.string = ("Su caso",)
    edit_po(ws, break_it)
    result = run("i18n", "check", "--lang", "es")
    assert result.exit_code == 1
    lines = [x for x in result.output.splitlines() if "sign-off" not in x]
    assert len(lines) == 2
    assert lines[0].startswith(f"{PO}:") and lines[0].endswith(
        ": placeholders differ: missing hotline; unknown phone: "
        "'To get this letter in English, call %(hotline)s.'")
    assert lines[1].endswith(": incomplete plural forms: 1 of 2: 'Your case'")
    refused = run("i18n", "signoff", "--lang", "es", "--reviewer", "R")
    assert refused.exit_code == 1


def test_preview_renders_drafts_that_mail_refuses(ws):
    def untranslate(catalog):
        for m in catalog:
            if m.id == "Date":
                m.string = ""
    edit_po(ws, untranslate)
    records = small_records(ws / "r.csv", people=2)
    assert run("preview", records, "--first", "1", "--date", "2026-12-01").exit_code == 0
    assert run("mail", records, "--batch", "x", "--out", ws / "out").exit_code == 1


def test_stats(ws):
    result = run("i18n", "stats")
    assert result.output.splitlines()[1].split() == ["es", "57", "57", "0", "0", "57"]
