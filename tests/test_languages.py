"""Languages as data: policies, pointer lines, a language added by configuration alone, people
who prefer a language without letters, and the gate for every language."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3

import pytest
from babel.messages.pofile import read_po, write_po
from click.testing import CliRunner

from letters import config, i18n
from letters.cli import cli
from letters.compose import Composer
from letters.mailing import mail
from letters.pdf import render
from letters.records import read_for
from tests.conftest import ROOT, copy_workspace, row, write_records
from tests.pdftools import page_texts

ISSUE = dt.date(2026, 12, 1)


@pytest.fixture
def ws(tmp_path, monkeypatch):
    """A copy of the sample workspace (no source code in it)."""
    copy_workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    i18n.clear_caches()
    yield tmp_path
    i18n.clear_caches()


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def sample_cfg():
    return config.load(ROOT / "letters.toml")


def test_policies(sample_cfg):
    composer = Composer(sample_cfg)
    r = read_for(sample_cfg, ROOT / "examples" / "records.csv").recipients
    by = {(p.language, p.language_requested): p for p in r}
    pt, en, es = by[("pt", "")], by[("en", "")], by[("es", "")]
    unknown = next(p for p in r if p.language_requested == "pl")
    assert composer.languages(pt) == ["pt", "en"]
    assert composer.languages(en) == ["en"]
    assert composer.languages(es) == ["es", "en"]
    assert composer.languages(unknown) == ["en", "es"]
    assert composer.languages(pt, "preferred") == ["pt"]
    assert composer.languages(es, "all") == ["es", "en", "pt"]
    assert composer.languages(unknown, "all") == ["en", "es"]  # the fallback, always


def test_three_versions_each_pointer_in_its_language_with_its_real_page(sample_cfg):
    composer = Composer(sample_cfg)
    person = next(p for p in read_for(sample_cfg, ROOT / "examples" / "records.csv").recipients
                  if p.language == "pt")
    doc = composer.compose(person, notice_id="TEST-0001", issue_date=ISSUE,
                           languages=composer.languages(person, "all"))
    out = render(doc)
    assert [v.lang for v in doc.versions] == ["pt", "en", "es"]
    assert [c.lang for c in doc.crossrefs] == ["en", "es"]
    first = page_texts(out.pdf)[0]
    en_line = f"This letter in English starts on page {out.version_pages['en']}."
    es_line = f"Esta carta en español empieza en la página {out.version_pages['es']}."
    assert en_line in first and es_line in first
    assert 1 < out.version_pages["en"] < out.version_pages["es"] <= out.pages


def test_unconfigured_language_gets_the_fallback_with_taglines(sample_cfg):
    composer = Composer(sample_cfg)
    person = next(p for p in read_for(sample_cfg, ROOT / "examples" / "records.csv").recipients
                  if p.language_requested == "vi")
    doc = composer.compose(person, notice_id="TEST-0001", issue_date=ISSUE)
    assert [v.lang for v in doc.versions] == ["en", "es"]
    # every tagline language not already a version of the letter, in its own words
    assert [t.lang for t in doc.taglines] == ["pt", "ht", "kea", "vi", "fr", "ru"]
    first = page_texts(render(doc).pdf)[0]
    vi = next(t.text for t in doc.taglines if t.lang == "vi")
    assert "Tiếng Việt" not in vi and sample_cfg.office.hotline in vi
    assert " ".join(vi.split()[:4]) in " ".join(first.split())


def test_a_language_added_by_configuration_alone(ws):
    """French letters: one [languages.fr] table and its catalogs, no code."""
    toml = ws / "letters.toml"
    text = toml.read_text(encoding="utf-8").replace(
        '[languages.fr]\nname = "Français"\naliases = ["fra", "fre", "French"]\nletter = false',
        '[languages.fr]\nname = "Français"\nlocale = "fr_FR"\naliases = ["fra", "fre", "French"]')
    assert "letter = false" in toml.read_text(encoding="utf-8") and text != toml.read_text()
    toml.write_text(text, encoding="utf-8")
    records = write_records(ws / "r.csv", [row(language="French", defendant_id="F1")])
    assert run("i18n", "extract", "--records", records).exit_code == 0
    assert run("i18n", "update", "--lang", "fr").exit_code == 0
    for domain in ("letters", "data"):
        assert (ws / "locale" / "fr" / "LC_MESSAGES" / f"{domain}.po").exists()
    # the gate refuses until every message is translated and signed off
    refused = run("mail", records, "--batch", "fr1", "--date", "2026-12-01", "--allow-past-date")
    assert refused.exit_code == 2 and "locale/fr/LC_MESSAGES/letters.po" in refused.output
    for domain in ("letters", "data"):  # a stand-in translation: "[fr] " + the English
        path = ws / "locale" / "fr" / "LC_MESSAGES" / f"{domain}.po"
        with open(path, "rb") as fh:
            catalog = read_po(fh, locale="fr_FR")
        for m in catalog:
            if m.id:
                # French has three plural forms in Babel's rules: every one is filled
                m.string = (tuple(f"[fr] {m.id[min(i, 1)]}" for i in range(catalog.num_plurals))
                            if isinstance(m.id, tuple) else f"[fr] {m.id}")
                m.flags.discard("fuzzy")
        with open(path, "wb") as fh:
            write_po(fh, catalog, width=0)
    signed = run("i18n", "signoff", "--lang", "fr", "--reviewer", "Me Claire Dubois")
    assert signed.exit_code == 0, signed.output
    assert run("i18n", "check", "--lang", "fr").exit_code == 0
    done = run("mail", records, "--batch", "fr1", "--date", "2026-12-01", "--allow-past-date")
    assert done.exit_code == 0, done.output
    with open(ws / "output" / "fr1" / "manifest.csv", encoding="utf-8") as fh:
        (letter,) = list(csv.DictReader(fh))
    assert letter["languages"] == "fr,en" and letter["language_requested"] == ""
    text = " ".join(page_texts((ws / "output" / "fr1" / letter["file"]).read_bytes()))
    assert "[fr] Dear Ana Ruiz:" in text and "1 décembre 2026" in text


def test_nobody_in_the_sample_is_rejected_for_language_and_requests_are_recorded(tmp_path):
    cfg = config.load(ROOT / "letters.toml")
    records = write_records(tmp_path / "r.csv", [
        row(defendant_id="P1", language="Português"),
        row(defendant_id="V1", language="Vietnamese"),
        row(defendant_id="X1", language="Tagalog"),
        row(defendant_id="E1", language="English"),
        row(defendant_id="L1", language="English", large_print="yes"),
        row(defendant_id="Z1", language="Tigre </b> & <i>Co")],
        header=list(row(large_print="").keys()))
    result = mail(cfg, records, batch="langs", issue_date=ISSUE, allow_past_date=True, out_dir=tmp_path / "out",
                  workers=1)
    assert result.rejected_rows == 0 and result.letters == 6
    assert result.requested == {"Tigre </b> & <i>Co": 1, "tl": 1, "vi": 1}
    with open(tmp_path / "out" / "langs" / "manifest.csv", encoding="utf-8") as fh:
        rows = {r["defendant_id"]: r for r in csv.DictReader(fh)}
    assert (rows["P1"]["languages"], rows["P1"]["language_requested"]) == ("pt,en", "")
    assert (rows["V1"]["languages"], rows["V1"]["language_requested"]) == ("en,es", "vi")
    assert (rows["X1"]["languages"], rows["X1"]["language_requested"]) == ("en,es", "tl")
    assert (rows["E1"]["languages"], rows["E1"]["language_requested"]) == ("en", "")
    # large print is a letter like any other: recorded, with its own (larger) page count
    assert int(rows["L1"]["pages"]) > int(rows["E1"]["pages"])
    with sqlite3.connect(tmp_path / "out" / "ledger.sqlite") as db:
        ledger = dict(db.execute("select defendant_id, language_requested from letters"))
        recipient = json.loads(db.execute("select recipient from letters where "
                                          "defendant_id = 'V1'").fetchone()[0])
        large = json.loads(db.execute("select recipient from letters where "
                                      "defendant_id = 'L1'").fetchone()[0])
    assert large["large_print"] is True
    assert ledger["V1"] == "vi" and ledger["X1"] == "tl" and not ledger["P1"]
    assert recipient["language_requested"] == "vi"
    # the court report counts them, and Portuguese letters, by language
    report = run("audit", "report", "--out", tmp_path / "out", "--csv", tmp_path / "csv",
                 "--pdf", tmp_path / "report.pdf")
    assert report.exit_code == 0, report.output
    with open(tmp_path / "csv" / "letters_by_language.csv", encoding="utf-8") as fh:
        table = {(r["preferred"], r["language_requested"], r["versions"]): int(r["letters"])
                 for r in csv.DictReader(fh)}
    assert table == {("pt", "", "pt,en"): 1, ("en", "vi", "en,es"): 1, ("en", "tl", "en,es"): 1,
                     ("en", "", "en"): 2, ("en", "Tigre </b> & <i>Co", "en,es"): 1}
    # what people wrote prints as text in the court's PDF, never as markup
    from tests.pdftools import page_texts
    assert "Tigre </b> & <i>Co" in " ".join(page_texts((tmp_path / "report.pdf").read_bytes()))
    with open(tmp_path / "csv" / "letters_by_county.csv", encoding="utf-8") as fh:
        langs = {r["language"] for r in csv.DictReader(fh)}
    assert langs == {"pt", "vi", "tl", "en", "Tigre </b> & <i>Co"}


@pytest.mark.parametrize("command", ["check", "stats", "review", "signoff"])
def test_i18n_commands_take_portuguese(ws, command):
    args = ["i18n", command, "--lang", "pt"]
    if command == "signoff":
        args += ["--reviewer", "Dra. Beatriz Lima"]
    result = run(*args)
    assert result.exit_code == 0, result.output
    if command == "stats":
        rows = [line.split() for line in result.output.splitlines()[1:]]
        assert [r[:2] for r in rows] == [["pt", "letters"], ["pt", "data"], ["pt", "taglines"]]
        assert all(r[2] == r[3] == r[6] and r[4] == r[5] == "0" for r in rows)
    if command == "review":
        html = (ws / "output" / "review" / "review-pt.html").read_text(encoding="utf-8")
        assert "Portuguese" in html and "Esta carta em português" in html
    if command == "signoff":
        signed = json.loads((ws / "locale/pt/LC_MESSAGES/letters.signoff.json").read_text())
        # a real reviewer's sign-off replaces the sample's: it counts for any office
        assert not any("sample_office_sha256" in r for r in signed["signoffs"])
        assert {r["reviewer"] for r in signed["signoffs"]} == {"Dra. Beatriz Lima"}


def test_unknown_lang_option_is_a_usage_error(ws):
    result = run("i18n", "check", "--lang", "xx")
    assert result.exit_code == 2 and "'xx' is not a language of letters.toml" in result.output


def test_mail_gates_portuguese_like_spanish(ws):
    po = ws / "locale" / "pt" / "LC_MESSAGES" / "letters.po"
    with open(po, "rb") as fh:
        catalog = read_po(fh, locale="pt_BR")
    message = next(m for m in catalog if m.id == "You do not need to contact us first.")
    message.string = "Você não precisa falar conosco antes."
    with open(po, "wb") as fh:
        write_po(fh, catalog, width=0)
    records = write_records(ws / "r.csv", [row(language="pt")])
    result = run("mail", records, "--batch", "b1", "--date", "2026-12-01", "--allow-past-date")
    assert result.exit_code == 2
    assert "sign-off is stale" in result.output and "locale/pt/LC_MESSAGES/letters.po" in \
        result.output
    assert not (ws / "output" / "b1").exists()
