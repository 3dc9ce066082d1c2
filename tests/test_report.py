"""The court report: text as written, whole dates, headings with their tables, whole-number
axes, and per batch what became of everyone, the follow-ups and who approved the translations."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re

import pytest
from click.testing import CliRunner

from letters import config, i18n
from letters.cli import cli
from letters.ledger import Ledger
from letters.mailing import mail
from letters.report import VOIDED_EVENT, Table, gather, write_pdf
from tests.conftest import ROOT, copy_workspace, row, write_records
from tests.pdftools import page_texts, word_boxes

ISSUE = dt.date(2026, 9, 1)
COUNTY = "Essex <North> & Co"
CFG = config.load(ROOT / "letters.toml")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def read_csv(path):
    with open(path, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def people():
    """Four people: P1 (English) with cases in two counties, one of them written with markup;
    P2 and P3 (Spanish); P4 suppressed as deceased; P5 rejected (a four-digit ZIP)."""
    return [row(defendant_id="P1", language="en", county=COUNTY),
            row(defendant_id="P1", language="en", docket_number="0901CR000011",
                county="Suffolk"),
            row(defendant_id="P2", docket_number="0901CR000002"),
            row(defendant_id="P3", docket_number="0901CR000003", county="Suffolk"),
            row(defendant_id="P4", docket_number="0901CR000004"),
            row(defendant_id="P5", docket_number="0901CR000005", zip="0211")]


@pytest.fixture
def reported(tmp_path):
    """A batch 'b' of the people above, a returned letter, a follow-up batch 'f' after an
    address update, and the report of both."""
    records = write_records(tmp_path / "r.csv", people())
    sup = tmp_path / "suppress.csv"
    sup.write_text("defendant_id,reason\nP4,deceased\n", encoding="utf-8")
    out = tmp_path / "out"
    first = mail(CFG, records, batch="b", issue_date=ISSUE, allow_past_date=True, out_dir=out,
                 workers=1, suppress=sup)
    with Ledger(first.ledger_url) as ledger:
        ids = {r.defendant_id: r.notice_id for r in ledger.letters()}
    assert run("respond", ids["P2"], "--kind", "returned-undeliverable", "--reason", "Vacant",
               "--received", "2026-09-10", "--out", out).exit_code == 0
    assert run("respond", ids["P3"], "--kind", "address-update", "--address",
               "77 Harbor Rd, Gloucester, MA 01930", "--received", "2026-10-02",
               "--out", out).exit_code == 0
    followed = run("mail", "--batch", "f", "--follow-up", "b", "--date", "2026-12-01",
                   "--allow-past-date", "--out", out, "--workers", "1")
    assert followed.exit_code == 0, followed.output
    result = run("audit", "report", "--out", out, "--csv", tmp_path / "csv", "--pdf",
                 tmp_path / "report.pdf")
    assert result.exit_code == 0, result.output
    pdf = (tmp_path / "report.pdf").read_bytes()
    return {"out": out, "csv": tmp_path / "csv", "pdf": pdf, "ids": ids,
            "url": first.ledger_url}


def words(pdf: bytes) -> list[str]:
    return [w[0] for page in range(1, len(page_texts(pdf)) + 1) for w in word_boxes(pdf, page)]


def wrapped(pdf: bytes, start: str) -> str:
    """The text of the table cell that begins with ``start``, its lines joined: the words
    below it that begin at the same left edge, top to bottom (page 1)."""
    boxes = word_boxes(pdf, 1)
    (first,) = [b for b in boxes if b[0].startswith(start)]
    below = sorted((b for b in boxes if abs(b[1] - first[1]) < 0.5 and b[2] >= first[2]),
                   key=lambda b: b[2])
    return "".join(b[0] for b in below)


def test_values_print_as_written_and_the_office_is_in_the_title(reported):
    text = " ".join(page_texts(reported["pdf"]))
    assert COUNTY in text
    assert text.startswith(f"Notice mailing report — {CFG.office.name} ")
    assert {r["county"] for r in read_csv(reported["csv"] / "letters_by_county.csv")} == {
        COUNTY, "Suffolk"}
    # an office whose name holds markup characters prints it as written, too
    tables = gather(reported["out"], reported["url"])
    pdf = write_pdf(tables, reported["out"] / "other.pdf",
                    office="Smith <b>&</b> Jones DA").read_bytes()
    assert page_texts(pdf)[0].startswith("Notice mailing report — Smith <b>&</b> Jones DA ")


def test_no_date_or_number_is_broken_across_lines(reported):
    # a word as printed, without the brackets and commas around it ("(2026-11-27, 2026-11-28)")
    found = [w.strip("(),;") for w in words(reported["pdf"])]
    dates = {"2026-09-01", "2026-11-30", "2026-12-01", "2027-03-01"}
    assert dates <= set(found)
    # a date broken across lines ("2026-09-0" / "1", "2026-09" / "-01") leaves a word that
    # starts like a date but is not one, or one that starts with its dash
    months = {"2026-09", "2026-10"}                     # when responses came, whole
    assert months <= set(found)
    broken = [w for w in found if re.match(r"-\d", w) or re.match(r"\d{4}-", w) and not
              re.fullmatch(r"\d{4}-\d{2}-\d{2}", w) and w not in months]
    assert broken == []
    # the batch roots may wrap, but read in order they are whole
    for batch in ("b", "f"):
        root = (reported["out"] / batch / "ROOT").read_text().strip()
        assert wrapped(reported["pdf"], root[:12]).startswith(root)


def test_count_axes_are_whole_numbers(reported):
    assert [w for w in words(reported["pdf"]) if re.fullmatch(r"\d+\.\d+", w)] == []


def test_a_heading_is_never_the_last_thing_on_a_page(tmp_path):
    heading = "Heading that must stay with its table"
    for filler in range(16, 40):
        tables = [Table("filler", "Filler", ("n", "what"),
                        [(i, "a row that takes up room") for i in range(filler)]),
                  Table("after", heading, ("first",), [("first-row-of-the-table",)],
                        note="A note under the heading.")]
        pages = page_texts(write_pdf(tables, tmp_path / "h.pdf", office="DA").read_bytes())
        (page,) = [p for p in pages if heading in p]
        assert "first-row-of-the-table" in page, f"{filler} filler rows"


def test_coverage_per_batch(reported):
    people_rows = {r["batch"]: r for r in read_csv(reported["csv"] / "people.csv")}
    assert people_rows["b"] == {"batch": "b", "people": "5", "letters": "3", "to_counsel": "0",
                                "suppressed": "1", "suppressed_reasons": "deceased 1",
                                "rejected": "1", "newer_address": "0"}
    assert people_rows["f"]["people"] == "1" and people_rows["f"]["letters"] == "1"
    batches = {r["batch"]: r for r in read_csv(reported["csv"] / "batches.csv")}
    assert (batches["f"]["follows"], batches["f"]["issued"], batches["f"]["letters"]) == (
        "b", "2026-12-01", "1")
    assert {r["voided"] for r in batches.values()} == {"no"}
    assert {r["verification"] for r in batches.values()} == {"clean"}
    responses = {r["batch"]: r for r in read_csv(reported["csv"] / "responses_by_batch.csv")}
    assert responses["b"] == {"batch": "b", "letters": "3", "undeliverable": "1",
                              "undeliverable_rate": "33.3%", "answered": "1",
                              "response_rate": "33.3%", "followed_up": "1",
                              "follow_up_letters": "1"}
    assert read_csv(reported["csv"] / "problems.csv") == []


def test_letters_in_several_counties_are_counted_and_said_so(reported):
    rows = {(r["county"], r["language"]): r for r in read_csv(
        reported["csv"] / "letters_by_county.csv")}
    assert (rows[(COUNTY, "en")]["letters"], rows[(COUNTY, "en")]["also_in_other_counties"]) \
        == ("1", "1")
    assert rows[("Suffolk", "en")]["also_in_other_counties"] == "1"
    assert rows[("Suffolk", "es")]["also_in_other_counties"] == "0"
    text = " ".join(page_texts(reported["pdf"]))
    # 4 letters (3 in b, the follow-up in f); P1's counts in two counties
    assert ("Letters that name cases in more than one county: 1 of 4 (the last column counts "
            "them per row); so the rows add up to 5 letters, not 4.") in text


def test_every_csv_row_is_in_the_pdf(reported):
    text = " ".join(page_texts(reported["pdf"]))
    flat = re.sub(r"\s+", "", text)
    for path in sorted(reported["csv"].glob("*.csv")):
        rows = read_csv(path)
        for r in rows:
            for column, value in r.items():
                if column == "root":
                    assert value in flat, (path.name, column)
                elif value:
                    assert " ".join(value.split()) in text, (path.name, column, value)


def test_translation_reviewers_per_batch(tmp_path, monkeypatch):
    ws = copy_workspace(tmp_path)
    monkeypatch.chdir(ws)
    i18n.clear_caches()
    try:
        signed, refused = i18n.sign_off(ws / "locale", "es", "Lic. Ana Torres",
                                        date=dt.date(2026, 8, 20), domain="letters")
        assert signed and not refused
        cfg = config.load(ws / "letters.toml")
        records = write_records(tmp_path / "r.csv", [row(defendant_id="P1")])
        result = mail(cfg, records, batch="es1", issue_date=ISSUE, allow_past_date=True,
                      out_dir=tmp_path / "out", workers=1)
        assert result.letters == 1
        report = run("--config", ws / "letters.toml", "audit", "report", "--out",
                     tmp_path / "out", "--csv", tmp_path / "csv", "--pdf", tmp_path / "r.pdf")
        assert report.exit_code == 0, report.output
    finally:
        i18n.clear_caches()
    rows = {(r["language"], r["catalog"]): r for r in read_csv(tmp_path / "csv" /
                                                              "translations.csv")}
    assert rows[("es", "letters")] == {"batch": "es1", "language": "es", "catalog": "letters",
                                       "reviewers": "Lic. Ana Torres (2026-08-20)",
                                       "sample_signoffs": ""}
    # the others are the bundled sample's, and say so
    sample = json.loads((ws / "locale/es/LC_MESSAGES/data.signoff.json").read_text())
    (name,) = {s["reviewer"] for s in sample["signoffs"]}
    assert rows[("es", "data")]["reviewers"].startswith(f"{name} (")
    assert rows[("es", "data")]["sample_signoffs"] == "yes"
    assert "Lic. Ana Torres (2026-08-20)" in " ".join(page_texts((tmp_path / "r.pdf")
                                                                 .read_bytes()))


def test_a_voided_batch_says_so(reported):
    # nothing voids a batch yet; the column reads the event a void will record
    with Ledger(reported["url"]) as ledger:
        ledger.log(VOIDED_EVENT, batch="f", payload={"reason": "wrong deadline printed"})
    run("audit", "report", "--out", reported["out"], "--csv", reported["csv"], "--pdf",
        reported["out"] / "again.pdf")
    batches = {r["batch"]: r["voided"] for r in read_csv(reported["csv"] / "batches.csv")}
    assert batches == {"b": "no", "f": "yes: wrong deadline printed"}


def test_a_wide_table_keeps_its_dates_whole(tmp_path):
    # the batches table as it once was: twelve columns, in which dates broke ("2026-09-0 / 1")
    root = "64b4e477ffbe3a8868f357cecb85931116cfb8f494420401c1fa0c4d817091e4"
    wide = Table("wide", "Batches", (
        "batch", "issued", "deadline", "letters", "pages", "undeliverable", "undeliverable_rate",
        "answered", "response_rate", "follow_up_letters", "root", "verification"),
        [("2026-fall", "2026-09-01", "2026-11-30", 21034, 118233, 1311, "6.2%", 2408, "11.4%",
          1311, root, "clean")])
    pdf = write_pdf([wide], tmp_path / "w.pdf", office="DA").read_bytes()
    found = words(pdf)
    assert {"2026-09-01", "2026-11-30", "21034", "118233", "11.4%", "undeliverable"} <= set(found)
    assert wrapped(pdf, root[:12]).startswith(root)
