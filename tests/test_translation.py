"""The translation workflow and the sign-off gate, through the command line."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import subprocess

import pytest
from babel.messages.pofile import read_po, write_po
from click.testing import CliRunner

from letters import config, i18n
from letters.cli import cli
from tests.conftest import ROOT, copy_workspace, row, write_records

PO = "locale/es/LC_MESSAGES/letters.po"
OLD = "This raises doubts about the tests done in many cases."
NEW = "This raises doubts about the tests done in many cases, maybe yours."  # noqa: E501


@pytest.fixture
def ws(tmp_path, monkeypatch):
    copy_workspace(tmp_path, with_code=True)
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


@pytest.mark.parametrize("domain,lang", i18n.each_catalog(
    i18n.catalog_targets(config.load(ROOT / "letters.toml"))))
def test_shipped_catalogs_pass_check_and_msgfmt(domain, lang):
    from tests.pdftools import require

    path = i18n.po_path(ROOT / "locale", lang, domain)
    result = subprocess.run([require("msgfmt", "gettext"), "-c", "-o", "/dev/null", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    cfg = config.load(ROOT / "letters.toml")
    assert i18n.check(ROOT / "locale", lang, domain=domain,
                      office=i18n.office_fingerprint(cfg.office, cfg.counsel)) == []


def test_pot_is_in_step_with_the_templates_and_records(ws):
    shutil.copytree(ROOT / "examples", ws / "examples")
    result = run("i18n", "extract", "--records", "examples/records.csv")
    assert result.output == "".join(f"Unchanged: {ws / 'locale' / name}\n"
                                    for name in ("letters.pot", "data.pot", "taglines.pot"))


def spanish_records(path, people):
    """People who prefer Spanish, with values the sample's data catalogs translate."""
    return write_records(path, [row(defendant_id=f"S{i}") for i in range(people)])


def test_round_trip_changed_english_to_signed_off_mailing(ws):
    records = spanish_records(ws / "r.csv", people=3)
    template = ws / "templates" / "en" / "notice.html"
    text = template.read_text(encoding="utf-8")
    assert OLD in text
    template.write_text(text.replace(OLD, NEW), encoding="utf-8")

    assert run("i18n", "extract").exit_code == 0
    updated = run("i18n", "update")
    assert f"{ws / PO}: 1 fuzzy, 0 untranslated\n" in updated.output
    assert f"{ws / 'locale/pt/LC_MESSAGES/letters.po'}: 1 fuzzy, 0 untranslated\n" in \
        updated.output

    check = run("i18n", "check", "--lang", "es")
    assert check.exit_code == 1
    line = check.output.splitlines()[0]
    assert line.startswith(f"{PO}:") and "fuzzy (the English changed" in line
    # the whole sentence, so a reviewer sees what changed
    assert line.endswith("used them at work. This raises doubts about the tests done in many "
                         "cases, maybe yours.'")

    # the review packet shows what the English was before, beside the fuzzy translation
    assert run("i18n", "review", "--lang", "es").exit_code == 0
    packet = (ws / "output" / "review" / "review-es.html").read_text(encoding="utf-8")
    row = next(r for r in packet.split("<tr") if "maybe yours" in r)
    assert "Previous English: " in row and "done in many cases.</div>" in row

    refused = run("mail", records, "--batch", "b", "--date", "2026-12-01", "--allow-past-date", "--out", ws / "out")
    assert refused.exit_code == 2
    assert refused.output.startswith("Error: the translation is not ready to mail (1 problem); "
                                     "no letter was written:\n  " + line + "\n")
    assert not (ws / "out").exists()

    def translate(catalog):
        for m in catalog:
            if m.id and "maybe yours" in m.id:
                m.string = m.string.rstrip(".") + ", tal vez el suyo."
                m.flags.discard("fuzzy")
                m.previous_id = []
    edit_po(ws, translate)
    assert "no sign-off" in run("i18n", "check", "--lang", "es").output
    signed = run("i18n", "signoff", "--lang", "es", "--reviewer", "Lic. Ana Torres",
                 "--message", "maybe yours", "--catalog", "letters")
    assert signed.output == (f"Signed off 1 messages for es by Lic. Ana Torres in "
                             f"{ws / 'locale/es/LC_MESSAGES/letters.signoff.json'}\n")
    assert run("i18n", "check", "--lang", "es").exit_code == 0

    mailed = run("mail", records, "--batch", "b", "--date", "2026-12-01", "--allow-past-date", "--out", ws / "out")
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
    cfg = config.load(ws / "letters.toml")
    problems = [str(p) for p in i18n.check(ws / "locale", "es", root=ws,
                                           office=i18n.office_fingerprint(cfg.office,
                                                                          cfg.counsel))]
    assert len(problems) == 1
    assert problems[0].endswith("sign-off is stale (the English or the translation changed "
                                "since): 'Notice ID'")


def test_placeholder_mismatch_and_incomplete_plural(ws):
    def break_it(catalog):
        for m in catalog:
            if m.id == "<b>By email:</b> Write to %(email)s.":
                m.string = "<b>Por correo electrónico:</b> Escriba a %(correo)s."
            if m.id == "Dear %(name)s:":
                m.string = "Estimado/a %(name)s: 100% seguro"
            if isinstance(m.id, tuple) and m.id[0] == "Your case":
                m.string = ("Su caso",)
    edit_po(ws, break_it)
    result = run("i18n", "check", "--lang", "es")
    assert result.exit_code == 1
    lines = [x for x in result.output.splitlines()
             if x.startswith(PO) and "sign-off" not in x]
    assert len(lines) == 3
    assert any(x.endswith(": placeholders differ: missing email; unknown correo: "
                          "'<b>By email:</b> Write to %(email)s.'") for x in lines)
    assert any(x.endswith(": cannot be filled in: a lone '%' (write '%%'): 'Dear %(name)s:'")
               for x in lines)
    assert any(x.endswith(": incomplete plural forms: 1 of 2: 'Your case'") for x in lines)
    refused = run("i18n", "signoff", "--lang", "es", "--reviewer", "R")
    assert refused.exit_code == 1


def test_preview_renders_drafts_that_mail_refuses(ws):
    def untranslate(catalog):
        for m in catalog:
            if m.id == "Date":
                m.string = ""
    edit_po(ws, untranslate)
    records = spanish_records(ws / "r.csv", people=2)
    assert run("preview", records, "--first", "1", "--date", "2026-12-01").exit_code == 0
    assert run("mail", records, "--batch", "x", "--out", ws / "out").exit_code == 2


def test_stats(ws):
    result = run("i18n", "stats", "--lang", "es")
    rows = [line.split() for line in result.output.splitlines()[1:]]
    assert [r[:2] for r in rows] == [["es", "letters"], ["es", "data"], ["es", "taglines"]]
    letters = next(r for r in rows if r[1] == "letters")
    assert letters[2] == letters[3] == letters[6] and int(letters[2]) >= 70
    assert letters[4] == letters[5] == "0"


def test_a_wrong_placeholder_is_a_highlighted_row_not_a_crash(ws):
    def break_it(catalog):
        for m in catalog:
            if m.id == "Dear %(name)s:":
                m.string = "Estimado(a) %(nombre)s:"
    edit_po(ws, break_it)
    records = spanish_records(ws / "r.csv", people=1)
    result = run("i18n", "review", "--lang", "es")
    assert result.exit_code == 0, result.output
    html = (ws / "output" / "review" / "review-es.html").read_text(encoding="utf-8")
    row = next(r for r in html.split("<tr") if "Dear %(name)s:" in r)
    assert "class='problem'" in row and "placeholders differ" in row
    assert "The sample letter cannot be rendered" in html
    preview = run("preview", records, "--first", "1", "--date", "2026-12-01")
    assert preview.exit_code == 1 and "Traceback" not in preview.output
    assert "i18n check --lang es" in preview.output


def test_sample_signoffs_count_only_for_the_sample_office(ws):
    records = spanish_records(ws / "r.csv", people=2)
    toml = ws / "letters.toml"
    # an office that copied the workspace and put in its own details (here: its phone)
    toml.write_text(toml.read_text(encoding="utf-8").replace(
        'phone = "(617) 555-0100"', 'phone = "(413) 555-0100"'), encoding="utf-8")
    refused = run("mail", records, "--batch", "real", "--date", "2026-12-01", "--allow-past-date")
    assert refused.exit_code == 2
    assert "signed off only for the bundled sample office" in refused.output
    assert "letters i18n signoff --lang es --reviewer NAME" in refused.output
    assert not (ws / "output" / "real").exists()
    loud = run("mail", records, "--batch", "trial", "--date", "2026-12-01", "--allow-past-date",
               "--accept-sample-signoffs")
    assert loud.exit_code == 0, loud.output
    assert "WARNING: translations signed off only for the bundled sample office" in loud.output
    with sqlite3.connect(ws / "output" / "ledger.sqlite") as db:
        payload = json.loads(db.execute("select payload from events where kind = "
                                        "'translations-approved'").fetchone()[0])
    assert payload["accepted_sample_signoffs"] is True
    # the court's report reads that flag beside the catalogs, and says so per catalog
    report = run("audit", "report", "--batch", "trial")
    assert report.exit_code == 0, report.output
    with (ws / "output" / "report" / "translations.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {r["batch"] for r in rows} == {"trial"}
    assert {r["sample_signoffs"] for r in rows} == {
        "yes (mailed with --accept-sample-signoffs)"}


def test_the_gate_reads_the_templates_the_letters_render_from(ws):
    """A templates folder babel.cfg does not map, and a stale letters.pot: a new English
    sentence in it is still caught before anything is mailed."""
    (ws / "templates").rename(ws / "tmpl")
    toml = ws / "letters.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('templates = "templates"',
                                                            'templates = "tmpl"'),
                    encoding="utf-8")
    notice = ws / "tmpl" / "en" / "notice.html"
    notice.write_text(notice.read_text(encoding="utf-8").replace(
        "<h2>{% trans %}Your rights{% endtrans %}</h2>",
        "<h2>{% trans %}Your rights{% endtrans %}</h2>\n"
        "<p>{% trans %}An unreviewed English sentence.{% endtrans %}</p>"), encoding="utf-8")
    records = spanish_records(ws / "r.csv", people=1)
    refused = run("mail", records, "--batch", "b", "--date", "2026-12-01", "--allow-past-date")
    assert refused.exit_code == 2
    assert "missing from the catalog: 'An unreviewed English sentence.'" in refused.output
    assert not (ws / "output" / "b").exists()
