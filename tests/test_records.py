"""Intake rules: reading, normalising, validating and grouping case exports."""

from __future__ import annotations

import pandas as pd
import pytest

from letters import config, records as R
from letters.errors import InputFileError
from tests.conftest import ROOT, row


def reasons_by_row(intake):
    return {(r.row, r.field): r.reason for r in intake.rejects}


def only(intake):
    assert intake.people == 1, intake.rejects
    return intake.recipients[0]


# --- values stay text -----------------------------------------------------------------------

def test_surname_na_and_leading_zero_zip_stay_text(records):
    intake = R.read_records(records([row(last_name="NA", zip="02134", first_name="null")]))
    r = only(intake)
    assert (r.last_name, r.first_name, r.address.zip) == ("NA", "null", "02134")


def test_markup_and_template_syntax_kept_literally(records):
    name = "<b>{{ 7*7 }}</b> & Co"
    intake = R.read_records(records([row(last_name=name, address_line2="c/o A&B <Legal>")]))
    r = only(intake)
    assert r.last_name == name
    assert r.address.care_of == ("c/o A&B <Legal>",)


# --- encodings ----------------------------------------------------------------------------------

def test_utf8_with_bom(tmp_path):
    path = tmp_path / "bom.csv"
    text = "defendant_id,last_name,address_line1,city,state,zip,docket_number\n" \
           "D1,Peña,1 Main St,Boston,MA,02118,X1\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    r = only(R.read_records(path))
    assert (r.defendant_id, r.last_name) == ("D1", "Peña")


def test_windows_1252_export_needs_encoding(records):
    path = records([row(last_name="Muñoz", first_name="José")], encoding="cp1252")
    with pytest.raises(InputFileError) as exc:
        R.read_records(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}, line 2: byte E9 at column 7 is not valid utf-8 text")
    assert "--encoding cp1252" in msg
    r = only(R.read_records(path, encoding="cp1252"))
    assert (r.first_name, r.last_name) == ("José", "Muñoz")


def test_utf8_file_read_as_cp1252_is_refused_not_garbled(records):
    path = records([row(last_name="Muñoz")])
    with pytest.raises(InputFileError, match="the file is UTF-8, but it was to be read as cp1252"):
        R.read_records(path, encoding="cp1252")


def test_nfd_input_becomes_nfc(records):
    intake = R.read_records(records([row(last_name="Pen\u0303a", first_name="Jose\u0301")]))
    r = only(intake)
    assert r.last_name == "Peña" and len(r.last_name) == 4
    assert r.first_name == "José"


# --- normalising --------------------------------------------------------------------------------

def test_whitespace_trimmed_and_collapsed(records):
    r = only(R.read_records(records([row(first_name="  Ana \t  Lucía ",
                                         address_line1="1\u00a0 Main   St ")])))
    assert r.first_name == "Ana Lucía"
    assert r.address.line1 == "1 Main St"


@pytest.mark.parametrize("given,code", [("MA", "MA"), ("ma", "MA"), ("Massachusetts", "MA"),
                                        (" rhode island ", "RI"), ("Puerto Rico", "PR")])
def test_state_names_become_usps_codes(records, given, code):
    assert only(R.read_records(records([row(state=given)]))).address.state == code


def test_unknown_state_rejected(records):
    intake = R.read_records(records([row(state="Mass-a-chusetts")]))
    assert reasons_by_row(intake) == {(2, "state"): R.REASON_STATE}


@pytest.mark.parametrize("given,normal", [("02134", "02134"), ("02134-1234", "02134-1234"),
                                          ("021341234", "02134-1234"), ("02134 1234", "02134-1234")])
def test_zip_forms_accepted(records, given, normal):
    assert only(R.read_records(records([row(zip=given)]))).address.zip == normal


def test_zip_with_lost_leading_zero_is_named_as_such(records):
    intake = R.read_records(records([row(zip="2134"), row(defendant_id="D2", zip="2134-1234")]))
    assert reasons_by_row(intake) == {(2, "zip"): R.REASON_ZIP_ZERO, (3, "zip"): R.REASON_ZIP_ZERO}
    assert "leading zero was probably lost" in R.REASON_ZIP_ZERO


@pytest.mark.parametrize("bad", ["0213", "021345", "ABCDE", "02134-12"])
def test_invalid_zip_rejected(records, bad):
    intake = R.read_records(records([row(zip=bad)]))
    reason = reasons_by_row(intake)[(2, "zip")]
    assert reason in (R.REASON_ZIP, R.REASON_ZIP_ZERO)
    assert reason == (R.REASON_ZIP_ZERO if bad == "0213" else R.REASON_ZIP)


SAMPLE = config.load(ROOT / "letters.toml")


def read(path, **kw):
    """Intake with the sample workspace's languages (en, es, pt; taglines for more)."""
    return R.read_records(path, languages=SAMPLE.registry, fallback=SAMPLE.letter.fallback, **kw)


@pytest.mark.parametrize("alias,code", [
    ("en", "en"), ("ENG", "en"), ("English", "en"), ("inglés", "en"), ("INGLES", "en"),
    ("es", "es"), ("spa", "es"), ("Spanish", "es"), ("español", "es"), ("ESPAÑOL", "es"),
    ("pt", "pt"), ("Portuguese", "pt"), ("Português", "pt"), ("pt-BR", "pt"),
    ("portugués", "pt"), ("por-BR", "pt"), ("por_BR", "pt"), ("spa-MX", "es"), ("eng-US", "en"),
])
def test_language_aliases(records, alias, code):
    r = only(read(records([row(language=alias)])))
    assert (r.language, r.language_requested) == (code, "")


def test_blank_language_takes_the_default(records):
    path = records([row(language="")])
    assert only(read(path)).language == "en"
    assert only(read(path, default_language="es")).language == "es"


@pytest.mark.parametrize("given,requested", [
    ("Haitian Creole", "ht"), ("Kreyol", "ht"), ("Vietnamese", "vi"), ("français", "fr"),
    ("Polski", "pl"), ("zh-TW", "zh"), ("Klingonese dialect 7", "Klingonese dialect 7"),
])
def test_a_language_without_letters_is_served_not_rejected(records, given, requested):
    intake = read(records([row(language=given)]))
    r = only(intake)
    assert intake.rejects == []
    assert (r.language, r.language_requested) == ("en", requested)
    assert intake.recipients.requested_counts() == {requested: 1}


def test_without_declared_languages_only_the_source_language_has_letters(records):
    r = only(R.read_records(records([row(language="Spanish")])))
    assert (r.language, r.language_requested) == ("en", "es")


def test_optional_case_columns_and_status_vocabulary(records):
    statuses = R.status_spellings(SAMPLE)
    ok = read(records([row(disposition="Pleaded guilty", lab="Amherst lab",
                           chemist="Sonja Farak", case_status="Vacated and dismissed",
                           large_print="yes")]), case_statuses=statuses)
    case = only(ok).cases[0]
    assert (case.disposition, case.lab, case.chemist, case.case_status) == (
        "Pleaded guilty", "Amherst lab", "Sonja Farak", "dismissed")
    assert only(ok).large_print is True
    bad = read(records([row(case_status="maybe")], name="b.csv"), case_statuses=statuses)
    assert reasons_by_row(bad) == {(2, "case_status"): R.REASON_STATUS}


@pytest.mark.parametrize("given,iso", [("2009-03-04", "2009-03-04"), ("3/4/2009", "2009-03-04"),
                                       ("03/04/2009", "2009-03-04"), ("", ""),
                                       ("2009-03-04 00:00:00", "2009-03-04")])
def test_disposition_dates(records, given, iso):
    assert only(R.read_records(records([row(disposition_date=given)]))).cases[0].disposition_date == iso


def test_impossible_date_rejected(records):
    intake = R.read_records(records([row(disposition_date="31/31/2009")]))
    assert reasons_by_row(intake) == {(2, "disposition_date"): R.REASON_DATE}


def test_missing_required_fields_each_reported(records):
    intake = R.read_records(records([row(last_name="", city="  ")]))
    assert reasons_by_row(intake) == {(2, "last_name"): R.REASON_MISSING,
                                      (2, "city"): R.REASON_MISSING}
    assert intake.reasons() == {R.REASON_MISSING: 1}


def test_control_character_rejected(records):
    intake = R.read_records(records([row(last_name="Ru\x07iz")]))
    assert reasons_by_row(intake) == {(2, "last_name"): R.REASON_CONTROL}


# --- grouping -----------------------------------------------------------------------------------

def test_cases_grouped_per_person_in_docket_order(records):
    intake = R.read_records(records([
        row(docket_number="1002CR000009"), row(defendant_id="D2", last_name="Lee"),
        row(docket_number="0301CR000001"), row(docket_number="0702CR000005"),
    ]))
    assert [r.defendant_id for r in intake.recipients] == ["D1", "D2"]
    d1 = intake.recipients[0]
    assert [c.docket_number for c in d1.cases] == ["0301CR000001", "0702CR000005", "1002CR000009"]
    assert d1.source_rows == (2, 4, 5)
    assert intake.cases == 4


def test_exact_duplicate_rows_collapse(records):
    intake = R.read_records(records([row(), row(), row(docket_number="X2")]))
    r = only(intake)
    assert len(r.cases) == 2 and r.source_rows == (2, 3, 4)
    assert intake.duplicate_rows == 1 and not intake.rejects


def test_conflicting_addresses_reject_the_whole_person(records):
    intake = R.read_records(records([
        row(), row(docket_number="X2", address_line1="9 Elm St"), row(defendant_id="D2"),
    ]))
    assert [r.defendant_id for r in intake.recipients] == ["D2"]
    assert reasons_by_row(intake) == {(2, "address"): R.REASON_ADDRESS,
                                      (3, "address"): R.REASON_ADDRESS}
    assert intake.rejects[0].value == "rows 2, 3 differ"


def test_conflicting_names_reject_the_whole_person(records):
    intake = R.read_records(records([row(), row(docket_number="X2", first_name="Anna")]))
    assert intake.people == 0
    assert {r.reason for r in intake.rejects} == {R.REASON_NAME}


def test_language_blank_on_one_row_is_not_a_conflict_but_two_languages_are(records):
    ok = read(records([row(language="es"), row(docket_number="X2", language="")]))
    assert only(ok).language == "es"
    bad = read(records([row(language="es"), row(docket_number="X2", language="en")],
                       name="b.csv"))
    assert {r.reason for r in bad.rejects} == {R.REASON_LANGUAGES}


def test_one_bad_row_rejects_the_persons_other_rows(records):
    intake = R.read_records(records([row(), row(docket_number="X2", zip="2134")]))
    assert intake.people == 0
    assert reasons_by_row(intake) == {(2, "defendant_id"): R.REASON_PERSON,
                                      (3, "zip"): R.REASON_ZIP_ZERO}
    assert intake.rejects[0].value == "row 3"


def test_extra_columns_reach_cases_and_recipient(records):
    intake = R.read_records(records([row(agency="State Police", ref="A"),
                                     row(docket_number="X2", agency="Lynn Police", ref="A")]))
    r = only(intake)
    assert r.extra == {"ref": "A"}
    assert [c.extra["agency"] for c in r.cases] == ["State Police", "Lynn Police"]


def test_find_by_defendant_id(records):
    intake = R.read_records(records([row(), row(defendant_id="D2", last_name="Lee")]))
    assert intake.recipients.find("D2").last_name == "Lee"
    assert intake.recipients.find("nope") is None


# --- files and columns --------------------------------------------------------------------------

def test_blank_lines_keep_row_numbers(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("defendant_id,last_name,address_line1,city,state,zip,docket_number\n"
                    "D1,Ruiz,1 Main St,Boston,MA,02118,X1\n\n"
                    "D2,Lee,1 Main St,Boston,MA,2118,X2\n", encoding="utf-8")
    intake = R.read_records(path)
    assert intake.blank_rows == 1 and intake.rows_read == 2
    assert reasons_by_row(intake) == {(4, "zip"): R.REASON_ZIP_ZERO}


def test_column_mapping_from_config_and_by_header_name(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("Def ID,Last Name,Street,City,State,ZIP,Docket No.,Arresting Agency\n"
                    "D1,Ruiz,1 Main St,Boston,MA,02118,X1,State Police\n", encoding="utf-8")
    r = only(R.read_records(path, columns={"defendant_id": "Def ID", "address_line1": "Street",
                                           "docket_number": "Docket No."}))
    assert (r.defendant_id, r.last_name, r.address.line1) == ("D1", "Ruiz", "1 Main St")
    assert r.cases[0].extra == {"Arresting Agency": "State Police"}


def test_missing_required_columns_named(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("defendant_id,last_name,city\nD1,Ruiz,Boston\n", encoding="utf-8")
    with pytest.raises(InputFileError) as exc:
        R.read_records(path)
    assert str(exc.value).startswith(
        f"{path}: required columns missing: address_line1, state, zip, docket_number")
    assert "Columns found: defendant_id, last_name, city" in str(exc.value)


def test_configured_header_absent(tmp_path, records):
    path = records([{k: v for k, v in row().items() if k != "city"} | {"Town": "Boston"}])
    with pytest.raises(InputFileError, match=r"column 'Municipality' \(configured in \[columns\] "
                                             r"as city\) is not in the file"):
        R.read_records(path, columns={"city": "Municipality"})
    # a header that is already the canonical name needs no mapping
    assert R.read_records(records([row()], name="b.csv"), columns={"city": "Town"}).people == 1


def test_ragged_row_names_the_line(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("defendant_id,last_name,address_line1,city,state,zip,docket_number\n"
                    "D1,Ruiz,1 Main St,Boston,MA,02118,X1\n"
                    "D2,Lee,1 Main St, Apt 2,Boston,MA,02118,X2\n", encoding="utf-8")
    with pytest.raises(InputFileError) as exc:
        R.read_records(path)
    assert str(exc.value).startswith(f"{path}, line 3: row has 8 values but the header has 7")


def test_duplicate_header_refused(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("defendant_id,zip,zip\nD1,1,2\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="the header names a column twice: zip"):
        R.read_records(path)


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "e.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputFileError, match="the file is empty"):
        R.read_records(empty)
    with pytest.raises(InputFileError, match="file not found"):
        R.read_records(tmp_path / "nope.csv")
    with pytest.raises(InputFileError, match="unsupported file type '.pdf'"):
        R.read_records(tmp_path / "x.pdf")


def test_xlsx_first_sheet_and_named_sheet(tmp_path):
    path = tmp_path / "r.xlsx"
    good = pd.DataFrame([row(last_name="NA")])
    other = pd.DataFrame([row(defendant_id="D9", last_name="Otro")])
    with pd.ExcelWriter(path) as xw:
        good.to_excel(xw, sheet_name="Cases", index=False)
        other.to_excel(xw, sheet_name="Later", index=False)
    assert only(R.read_records(path)).last_name == "NA"
    assert only(R.read_records(path, sheet="Later")).defendant_id == "D9"
    with pytest.raises(InputFileError, match="no sheet named 'Nope'") as exc:
        R.read_records(path, sheet="Nope")
    assert "Sheets in this workbook: Cases, Later" in str(exc.value)


def test_xlsx_numeric_zip_cell_reports_lost_zero(tmp_path):
    import openpyxl

    path = tmp_path / "r.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["defendant_id", "last_name", "address_line1", "city", "state", "zip", "docket_number"])
    ws.append(["D1", "Ruiz", "1 Main St", "Boston", "MA", 2118, "X1"])
    ws.append([None] * 7)
    ws.append(["D2", "Lee", "1 Main St", "Boston", "MA", "02118", "X2"])
    wb.save(path)
    intake = R.read_records(path)
    assert reasons_by_row(intake) == {(2, "zip"): R.REASON_ZIP_ZERO}
    assert intake.blank_rows == 1
    assert only(intake).source_rows == (4,)


def test_parquet(tmp_path):
    path = tmp_path / "r.parquet"
    pd.DataFrame([row(zip="02134"), row(defendant_id="D2", last_name="NA")]).to_parquet(path)
    intake = R.read_records(path)
    assert [r.address.zip for r in intake.recipients] == ["02134", "02118"]
    assert intake.recipients.find("D2").last_name == "NA"


def test_rejects_csv_neutralises_formulas(tmp_path, records):
    intake = R.read_records(records([row(last_name="", defendant_id="=HYPERLINK(1)"),
                                     row(defendant_id="@SUM(A1)", zip="-1")]))
    out = R.write_rejects(tmp_path / "out" / "rejects.csv", intake.rejects)
    text = out.read_text(encoding="utf-8").splitlines()
    assert text[0] == "row,defendant_id,field,value,reason"
    assert text[1] == "2,'=HYPERLINK(1),last_name,,missing required field"
    assert text[2] == "3,'@SUM(A1),zip,'-1,invalid ZIP: expected NNNNN or NNNNN-NNNN"
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert oct(out.parent.stat().st_mode & 0o777) == "0o700"


@pytest.mark.parametrize("field,value,char", [
    ("last_name", "王", "U+738B"), ("first_name", "Ana\u0e01", "U+0E01"),
    ("address_line1", "1 Main St \U0001F3E0", "U+1F3E0")])
def test_a_character_the_font_cannot_draw_is_caught_at_validate(records, field, value, char):
    intake = read(records([row(**{field: value}), row(defendant_id="D2", last_name="Nguyễn")]))
    assert [r.defendant_id for r in intake.recipients] == ["D2"]  # Vietnamese is drawable
    (reject,) = intake.rejects
    assert (reject.row, reject.field, reject.value) == (2, field, value)
    assert reject.reason.startswith(f"the letter's font cannot draw {char} ")


def test_several_columns_key_equal_rows_alike_and_only_those():
    """Rows get one code when all their values are equal (missing values included), and
    different codes otherwise, however the values would read joined together."""
    import random

    import pandas as pd

    from letters.records import _key_codes

    rng = random.Random(3)
    values = ["", "a", "a\x1fb", "b", "a\x1f", None, "é"]
    cols = ["c1", "c2", "c3"]
    data = {c: [rng.choice(values) for _ in range(500)] for c in cols}
    df = pd.DataFrame({c: pd.array(v, dtype="str") for c, v in data.items()})
    codes, _ = _key_codes(df, cols)
    rows = list(zip(*(data[c] for c in cols)))
    first: dict = {}
    for row, code in zip(rows, codes.tolist()):
        assert first.setdefault(row, code) == code
    assert len(set(first.values())) == len(first)


def test_an_export_with_a_header_and_no_rows_reads_as_nobody(tmp_path):
    from letters import config
    from letters.records import read_for
    from tests.conftest import ROOT

    cfg = config.load(ROOT / "letters.toml")
    header = (ROOT / "examples" / "records.csv").read_text(encoding="utf-8").splitlines()[0]
    for text in (header + "\n", header + "\n" + "," * header.count(",") + "\n"):
        path = tmp_path / "empty.csv"
        path.write_text(text, encoding="utf-8")
        intake = read_for(cfg, path)
        assert len(intake.recipients) == 0 and intake.rejects == []
