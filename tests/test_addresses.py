"""Addresses the Postal Service delivers: standardised as USPS Publication 28 asks, laid out in
the window as it asks (unit on the delivery line, care-of above the street, a person in custody
at their facility), the records' own lines kept in the ledger and the changes in the manifest.

The address blocks are read back from rendered letters with poppler's pdftotext."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import shutil
import sqlite3

import pytest
from click.testing import CliRunner

from letters import addresses, config
from letters.cli import cli
from letters.compose import Composer
from letters.config import AddressConfig
from letters.model import Address, recipient_from_dict
from letters.pdf import ADDRESS_WINDOW, PAGE_HEIGHT, render
from letters.records import read_for
from tests.conftest import ROOT, row, write_records
from tests.pdftools import word_boxes

ISSUE = dt.date(2026, 12, 1)
CUSTODY = dict(facility="Souza-Baranowski Correctional Center", inmate_number="W98765",
               address_line1="PO Box 8000", city="Shirley", zip="01464")


@pytest.fixture(scope="module")
def cfg():
    return config.load(ROOT / "letters.toml")


def write(path, rows):
    """Records with every column any row has (the address columns are optional)."""
    header = list(dict.fromkeys(k for r in rows for k in r))
    return write_records(path, [{k: r.get(k, "") for k in header} for r in rows], header=header)


def intake_of(tmp_path, cfg, rows):
    return read_for(cfg, write(tmp_path / "records.csv", rows))


def person(tmp_path, cfg, **changes):
    intake = intake_of(tmp_path, cfg, [row(**changes)])
    assert intake.rejects == [], intake.rejects
    (recipient,) = list(intake.recipients)
    return recipient


def window_lines(pdf: bytes) -> list[str]:
    """The lines of text inside the address window of page 1, top to bottom, as pdftotext
    reads them from the rendered letter (a test fails, never skips, without poppler)."""
    assert shutil.which("pdftotext"), "poppler-utils' pdftotext is needed for these tests"
    lines: dict[float, list[tuple[float, str]]] = {}
    for word, x0, top, x1, bottom in word_boxes(pdf, 1):
        if ADDRESS_WINDOW.contains(x0, PAGE_HEIGHT - bottom, x1, PAGE_HEIGHT - top):
            lines.setdefault(round(bottom, 1), []).append((x0, word))
    return [" ".join(w for _, w in sorted(words)) for _, words in sorted(lines.items())]


def rendered_window(cfg, recipient) -> list[str]:
    doc = Composer(cfg).compose(recipient, notice_id="TEST-0001", issue_date=ISSUE,
                                languages=["en"])
    return window_lines(render(doc).pdf)


# --- in the rendered letter ---------------------------------------------------------------------

def test_unit_goes_on_the_delivery_line(tmp_path, cfg):
    r = person(tmp_path, cfg, address_line1="65 Hancock Street", address_line2="Apt 20")
    assert rendered_window(cfg, r) == ["ANA RUIZ", "65 HANCOCK ST APT 20", "BOSTON MA 02118"]


def test_unit_that_does_not_fit_goes_immediately_above(tmp_path, cfg):
    r = person(tmp_path, cfg, address_line1="1180 Veterans of Foreign Wars Parkway",
               address_line2="Apartment 1205B", city="West Roxbury", zip="02132")
    assert rendered_window(cfg, r) == [
        "ANA RUIZ", "APT 1205B", "1180 VETERANS OF FOREIGN WARS PKWY", "WEST ROXBURY MA 02132"]
    assert "APT 1205B moved above the delivery line" in r.address.changes


@pytest.mark.parametrize("changes", [
    dict(address_line2="c/o Maria Lopez"),                          # the Apt column, as exported
    dict(address_line1="c/o Maria Lopez", address_line2="1 Main St"),  # above it already
    dict(care_of="Maria Lopez"),                                    # the care_of column
])
def test_care_of_goes_above_the_street_line(tmp_path, cfg, changes):
    r = person(tmp_path, cfg, **changes)
    assert rendered_window(cfg, r) == ["ANA RUIZ", "C/O MARIA LOPEZ", "1 MAIN ST",
                                       "BOSTON MA 02118"]


def test_attention_line_and_unit_together(tmp_path, cfg):
    r = person(tmp_path, cfg, address_line1="Attn: Records Office",
               address_line2="50 Maple Street, Suite 3", city="Milford", zip="01757")
    assert rendered_window(cfg, r) == ["ANA RUIZ", "ATTN RECORDS OFFICE", "50 MAPLE ST STE 3",
                                       "MILFORD MA 01757"]


def test_custody_address_in_the_order_facilities_ask_for(tmp_path, cfg):
    r = person(tmp_path, cfg, **CUSTODY)
    assert rendered_window(cfg, r) == ["ANA RUIZ W98765", "SOUZA-BARANOWSKI CORRECTIONAL CENTER",
                                       "PO BOX 8000", "SHIRLEY MA 01464"]


def test_custody_number_on_its_own_line_when_the_name_is_long(tmp_path, cfg):
    r = person(tmp_path, cfg, first_name="Maximiliano Alejandro",
               last_name="Hernández-Rodríguez", **CUSTODY)
    assert rendered_window(cfg, r) == [
        "MAXIMILIANO ALEJANDRO HERNÁNDEZ-RODRÍGUEZ", "W98765",
        "SOUZA-BARANOWSKI CORRECTIONAL CENTER", "PO BOX 8000", "SHIRLEY MA 01464"]


def test_upper_case_false_keeps_mixed_case(tmp_path, cfg):
    mixed = dataclasses.replace(cfg, address=AddressConfig(upper_case=False))
    r = person(tmp_path, cfg, address_line1="65 Hancock Street", address_line2="Apartment 20",
               care_of="María Peña")
    assert rendered_window(mixed, r) == ["Ana Ruiz", "c/o María Peña", "65 Hancock St Apt 20",
                                         "Boston MA 02118"]


def test_unreadable_street_printed_as_given(tmp_path, cfg):
    r = person(tmp_path, cfg, address_line1="Rua São João 5", address_line2="Fundos")
    assert rendered_window(cfg, r) == ["ANA RUIZ", "RUA SÃO JOÃO 5", "FUNDOS", "BOSTON MA 02118"]


def test_address_recorded_before_standardising_prints_as_recorded(cfg):
    # a letter of an earlier batch, re-rendered by `audit verify --rerender`: same lines, case
    r = recipient_from_dict({
        "defendant_id": "D1", "first_name": "Ana", "middle_name": "", "last_name": "Ruiz",
        "suffix": "", "language": "en", "cases": [], "source_rows": [2],
        "address": {"line1": "65 Hancock Street", "line2": "Apt 20", "city": "Boston",
                    "state": "MA", "zip": "02118"}})
    assert r.address.original == () and r.address.changes == ""
    assert addresses.block_lines(r.full_name, r.address) == [
        "Ana Ruiz", "65 Hancock Street", "Apt 20", "Boston MA 02118"]


def test_recipient_round_trips_through_the_ledgers_json(tmp_path, cfg):
    from letters.mailing import recipient_json

    rows = [row(address_line1="65 Hancock Street", address_line2="c/o M. Lopez"),
            row(defendant_id="D2", **CUSTODY)]
    for r in intake_of(tmp_path, cfg, rows).recipients:
        again = recipient_from_dict(json.loads(recipient_json(r)))
        assert again == r and again.address == r.address
        assert isinstance(again.address.original, tuple) and isinstance(again.address.care_of,
                                                                         tuple)


def test_same_records_same_bytes(tmp_path, cfg):
    rows = [row(address_line1="65 Hancock Street", address_line2="Apt 20", care_of="M. Lopez"),
            row(defendant_id="D2", **CUSTODY)]
    first = [render(Composer(cfg).compose(r, notice_id="N", issue_date=ISSUE)).pdf
             for r in intake_of(tmp_path, cfg, rows).recipients]
    again = [render(Composer(cfg).compose(r, notice_id="N", issue_date=ISSUE)).pdf
             for r in intake_of(tmp_path, cfg, rows).recipients]
    assert first == again


# --- intake: warnings and rejects ---------------------------------------------------------------

def test_unparseable_but_deliverable_is_a_warning_not_a_reject(tmp_path, cfg, monkeypatch):
    rows = [row(), row(defendant_id="D2", address_line1="12 Main St, Basement")]
    intake = intake_of(tmp_path, cfg, rows)
    assert intake.rejects == [] and intake.people == 2
    (warning,) = intake.address_warnings
    assert (warning.row, warning.defendant_id, warning.address) == (3, "D2",
                                                                    "12 Main St, Basement")
    assert warning.warning.startswith("not read as a street address or PO box")
    d2 = intake.recipients.find("D2").address
    assert (d2.line1, d2.unit, d2.original[0]) == ("12 Main St, Basement", "", "12 Main St, Basement")

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(ROOT / "letters.toml"), "validate",
                                      str(tmp_path / "records.csv"), "--rejects", "rej.csv"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert ("Address warnings: 1 people whose street lines could not be standardised; their "
            "letters print them as given (listed in address-warnings.csv)") in result.output
    with open(tmp_path / "address-warnings.csv", encoding="utf-8") as fh:
        listed = list(csv.DictReader(fh))
    assert [(w["row"], w["defendant_id"], w["address"]) for w in listed] == [
        ("3", "D2", "12 Main St, Basement")]


def test_missing_city_is_a_reject(tmp_path, cfg):
    intake = intake_of(tmp_path, cfg, [row(city=""), row(defendant_id="D2")])
    assert [(r.row, r.defendant_id, r.field, r.reason) for r in intake.rejects] == [
        (2, "D1", "city", "missing required field")]
    assert intake.address_warnings == [] and intake.people == 1


def test_care_of_without_a_street_is_a_reject(tmp_path, cfg):
    intake = intake_of(tmp_path, cfg, [row(address_line1="c/o Maria Lopez")])
    assert [(r.field, r.value, r.reason) for r in intake.rejects] == [
        ("address_line1", "c/o Maria Lopez",
         "no street address or PO box: only care-of or attention lines")]


def test_rows_of_one_person_in_two_facilities_conflict(tmp_path, cfg):
    intake = intake_of(tmp_path, cfg, [row(**CUSTODY),
                                       row(docket_number="X2", **{**CUSTODY, "facility": "MCI Shirley"})])
    assert {r.reason for r in intake.rejects} == {"conflicting addresses"}


def test_standardised_forms():
    s = addresses.standardise("100 North Main Street", "#4", "Fall River")
    assert (s.line1, s.unit, s.changes) == (
        "100 N Main St", "# 4", "N for North; ST for Street; # 4 moved to the delivery line")
    s = addresses.standardise("P.O. Box 466", "", "Gardner")
    assert (s.line1, s.changes, s.warning) == ("PO Box 466", "periods removed", "")
    s = addresses.standardise("12½ Elm St", "", "Lynn")  # every character of the number stays
    assert (s.line1, s.changes) == ("12½ Elm St", "")
    s = addresses.standardise("65 HANCOCK STREET", "APARTMENT 20", "BOSTON")
    assert (s.line1, s.unit) == ("65 HANCOCK ST", "APT 20")


# --- the ledger and the manifest after a real mailing -------------------------------------------

def test_mail_keeps_the_original_in_the_ledger_and_lists_changes_in_the_manifest(
        tmp_path, monkeypatch):
    records = write(tmp_path / "records.csv", [
        row(address_line1="65 Hancock Street", address_line2="Apt 20"),
        row(defendant_id="D2", language="en"),
        row(defendant_id="D3", language="en", address_line1="12 Main St, Basement"),
        row(defendant_id="D4", language="en", **CUSTODY)])
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(ROOT / "letters.toml"), "mail",
                                      str(records), "--batch", "b1", "--date", "2026-12-01",
                                      "--out", str(tmp_path / "out"), "--workers", "1"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert ("  address warnings: 1 (street lines printed as given, see address-warnings.csv)"
            in result.stdout.splitlines())
    folder = tmp_path / "out" / "b1"
    with open(folder / "manifest.csv", encoding="utf-8") as fh:
        manifest = {m["defendant_id"]: m for m in csv.DictReader(fh)}
    assert manifest["D1"]["address_changes"] == "ST for Street; APT 20 moved to the delivery line"
    assert manifest["D2"]["address_changes"] == manifest["D3"]["address_changes"] == ""
    assert manifest["D4"]["address_changes"] == ""
    with open(folder / "address-warnings.csv", encoding="utf-8") as fh:
        assert [w["defendant_id"] for w in csv.DictReader(fh)] == ["D3"]

    with sqlite3.connect(tmp_path / "out" / "ledger.sqlite") as db:
        stored = dict(db.execute("SELECT defendant_id, recipient FROM letters"))
    d1 = json.loads(stored["D1"])["address"]
    assert d1["original"] == ["65 Hancock Street", "Apt 20", "Boston MA 02118"]
    assert (d1["line1"], d1["unit"], d1["city"]) == ("65 Hancock St", "Apt 20", "Boston")
    assert d1["changes"] == "ST for Street; APT 20 moved to the delivery line"
    d4 = json.loads(stored["D4"])["address"]
    assert (d4["facility"], d4["inmate_number"], d4["line1"]) == (
        "Souza-Baranowski Correctional Center", "W98765", "PO Box 8000")
    # the letter printed the standardised form; the ledger's recipient gives it back
    assert recipient_from_dict(json.loads(stored["D1"])).address.original == (
        "65 Hancock Street", "Apt 20", "Boston MA 02118")
    notice = manifest["D1"]["notice_id"]
    assert "65 HANCOCK ST APT 20" in window_lines((folder / "letters" / f"{notice}.pdf").read_bytes())


def test_labels_shared_between_numbers_give_what_parsing_each_address_gives(monkeypatch):
    """Intake asks usaddress's tagger once per shape of address ('65 Hancock St' and '12
    Hancock St' alike); the standardised addresses are exactly those of parsing each one."""
    given = [("65 Hancock Street", "Apt 20"), ("12 Hancock Street", "Apt 10"),
             ("100 North Main St", "#4"), ("300 North Main St", "#7"), ("9 Elm", ""),
             ("PO Box 8000", ""), ("PO Box 466", ""), ("12.5 Elm St", ""), ("1205 Elm St", "2B"),
             ("2 Centre Ter", "2nd Floor"), ("7 Centre Ter", "3rd Floor"), ("12 Main St, Rear", "")]
    with open(ROOT / "examples" / "records.csv", encoding="utf-8") as fh:
        given += sorted({(r["Street"], r["Apt"]) for r in csv.DictReader(fh)})
    assert addresses._SHARE_LABELS  # this usaddress tags a number by its shape
    monkeypatch.setattr(addresses, "_LABELS", {})
    shared = [addresses.standardise(a, b, "Lynn") for a, b in given]
    assert len(addresses._LABELS) < len(given)
    monkeypatch.setattr(addresses, "_SHARE_LABELS", False)
    assert shared == [addresses.standardise(a, b, "Lynn") for a, b in given]
