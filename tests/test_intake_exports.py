"""Exports as offices save them: Excel number formats and formulas, a title block above the
header, invisible format characters, a column named twice, a value far too long."""

from __future__ import annotations

import datetime as dt
import re
import zipfile

import openpyxl
import pytest
from click.testing import CliRunner

from letters import records as R
from letters.cli import cli
from letters.errors import InputFileError
from tests.conftest import row, write_records

CSV_HEADER = "defendant_id,last_name,address_line1,city,state,zip,docket_number\n"


def reasons_by_row(intake):
    return {(r.row, r.field): r.reason for r in intake.rejects}


def save_formula_results(path, results: dict[str, tuple[str | None, str]]) -> None:
    """Write results into formula cells, as Excel does on saving: ``{"B2": (type, value)}``.

    openpyxl never calculates, so the formulas it writes have no saved value; this plays
    Excel's part. ``type`` is the cell's ``t`` attribute ("str" text, "e" error, None number).
    """
    with zipfile.ZipFile(path) as zf:
        parts = {name: zf.read(name) for name in zf.namelist()}
    xml = parts["xl/worksheets/sheet1.xml"].decode("utf-8")
    for ref, (kind, value) in results.items():
        pattern = re.compile(rf'<c r="{ref}"([^>]*)>(<f>.*?</f>)(?:<v>[^<]*</v>|<v\s*/>)?</c>')

        def saved(m, kind=kind, value=value, ref=ref):
            attrs = re.sub(r' t="[^"]*"', "", m[1]) + (f' t="{kind}"' if kind else "")
            return f'<c r="{ref}"{attrs}>{m[2]}<v>{value}</v></c>'
        xml, n = pattern.subn(saved, xml)
        assert n == 1, f"no formula cell {ref}"
    parts["xl/worksheets/sheet1.xml"] = xml.encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)


# --- Excel number formats -----------------------------------------------------------------------

def test_xlsx_zip_numbers_in_zip_code_formats_keep_their_zeros(xlsx):
    path = xlsx([row(zip=2134), row(defendant_id="D2", zip=21341234),
                 row(defendant_id="D3", zip=2134), row(defendant_id="D4", zip=21341234)])
    book = openpyxl.load_workbook(path)
    sheet = book.active
    # Excel's "Zip Code" and "Zip Code + 4" special formats, and the plain patterns
    sheet["J2"].number_format = "00000"
    sheet["J3"].number_format = "00000-0000"
    sheet["J4"].number_format = "[<=99999]00000;00000-0000"
    sheet["J5"].number_format = "[<=99999]00000;00000-0000"
    book.save(path)
    intake = R.read_records(path)
    assert not intake.rejects
    assert [r.address.zip for r in intake.recipients] == ["02134", "02134-1234", "02134",
                                                          "02134-1234"]


def test_xlsx_number_without_zip_format_still_reports_the_lost_zero(xlsx):
    intake = R.read_records(xlsx([row(zip=2134)]))
    assert reasons_by_row(intake) == {(2, "zip"): R.REASON_ZIP_ZERO}
    assert intake.rejects[0].value == "2134"


def test_xlsx_text_formatted_numbers_and_whole_floats(xlsx):
    path = xlsx([row(defendant_id=1234.0, docket_number=901000001, zip=2118.0, case_ref=7.5,
                     amount=1234.0)],
                formats={"docket_number": "@", "zip": "00000", "amount": "#,##0.00"})
    intake = R.read_records(path)
    r = intake.recipients[0]
    assert (r.defendant_id, r.cases[0].docket_number, r.address.zip) == ("1234", "901000001",
                                                                         "02118")
    assert r.extra == {"case_ref": "7.5", "amount": "1,234.00"}


@pytest.mark.parametrize("value,number_format", [
    (dt.datetime(2009, 3, 4), "mm/dd/yyyy"),
    (dt.datetime(2009, 3, 4), "d-mmm-yy"),
    (dt.datetime(2009, 3, 4), "yyyy-mm-dd h:mm"),
    (dt.datetime(2009, 3, 4, 14, 30), "m/d/yyyy"),  # the time is not shown, so not read
])
def test_xlsx_date_cells_become_iso_dates(xlsx, value, number_format):
    path = xlsx([row(disposition_date=value)], formats={"disposition_date": number_format})
    assert R.read_records(path).recipients[0].cases[0].disposition_date == "2009-03-04"


def test_xlsx_date_with_a_shown_time_is_not_a_date(xlsx):
    path = xlsx([row(disposition_date=dt.datetime(2009, 3, 4, 14, 30))],
                formats={"disposition_date": "m/d/yyyy h:mm"})
    intake = R.read_records(path)
    assert reasons_by_row(intake) == {(2, "disposition_date"): R.REASON_DATE}
    assert intake.rejects[0].value == "2009-03-04 14:30:00"


@pytest.mark.parametrize("value,number_format,text", [
    (2134, "00000", "02134"),
    (21341234, "00000-0000", "02134-1234"),
    (2134, "[<=99999]00000;00000-0000", "02134"),
    (12345678, "000-00-0000", "012-34-5678"),
    (12345678, "000\\-00\\-0000", "012-34-5678"),
    (1234, '"CR-"000000', "CR-001234"),
    (123456, "00000", "123456"),  # more digits than the pattern: all of them, as Excel shows
    (2134.0, "General", "2134"),
    (2134.0, "0", "2134"),
    (2134.0, "0.0", "2134.0"),
    (2134, "@", "2134"),
    (0.1 + 0.2, "General", "0.3"),
    (1234567.891, "#,##0.00", "1,234,567.89"),
    (-5, "0", "-5"),
    (-5, "0;(0)", "(5)"),
    (0.125, "0.0%", "12.5%"),
    (1234, "0.00E+00", "1234"),  # scientific: the plain number
    (True, "General", "TRUE"),
])
def test_cell_text_follows_the_number_format(value, number_format, text):
    assert R.cell_text(value, number_format) == text


# --- formulas -----------------------------------------------------------------------------------

def test_xlsx_formula_without_saved_value_is_a_reject_naming_the_cell(xlsx):
    path = xlsx([row(), row(defendant_id="D2"), row(defendant_id="D3"),
                 row(defendant_id="D4", first_name='=PROPER("ana")', last_name="=C2")])
    intake = R.read_records(path)
    assert [r.defendant_id for r in intake.recipients] == ["D1", "D2", "D3"]
    assert reasons_by_row(intake) == {
        (5, "first_name"): R.REASON_FORMULA + " (cell B5)",
        (5, "last_name"): R.REASON_FORMULA + " (cell D5)",  # not also "missing required field"
    }
    assert intake.rejects[0].value == '=PROPER("ana")'
    assert "formula with no saved value: open the file in Excel and save it, or paste values" \
        in intake.rejects[0].reason


def test_xlsx_row_holding_only_an_unsaved_formula_is_not_blank(xlsx):
    path = xlsx([row(), {"defendant_id": "=A2"}])
    intake = R.read_records(path)
    assert intake.blank_rows == 0
    assert reasons_by_row(intake)[(3, "defendant_id")] == R.REASON_FORMULA + " (cell A3)"


def test_xlsx_formulas_with_saved_values_use_them(xlsx):
    path = xlsx([row(last_name='=PROPER("ruiz")', middle_name='=""', zip="=2000+134",
                     offense="=VLOOKUP(1,A1:B2,2)")], formats={"zip": "00000"})
    save_formula_results(path, {"D2": ("str", "Ruiz"), "C2": ("str", ""), "J2": (None, "2134"),
                                "O2": ("e", "#N/A")})
    intake = R.read_records(path)
    assert reasons_by_row(intake) == {(2, "offense"): R.REASON_CELL_ERROR + " (cell O2)"}
    assert intake.rejects[0].value == "#N/A"
    save_formula_results(path, {"O2": ("str", "Possession")})
    r = R.read_records(path).recipients[0]
    assert (r.last_name, r.middle_name, r.address.zip) == ("Ruiz", "", "02134")


# --- the header row -----------------------------------------------------------------------------

TITLE = [["Drug lab cases: export of 2024-05-01"], []]


def test_xlsx_title_block_above_the_header_is_skipped_and_said(xlsx):
    path = xlsx([row(), row(defendant_id="D2", zip="2118")], above=TITLE)
    intake = R.read_records(path)
    assert (intake.header_row, intake.header_found) == (3, True)
    assert intake.people == 1
    assert reasons_by_row(intake) == {(5, "zip"): R.REASON_ZIP_ZERO}  # the sheet's row number
    assert intake.notes[0].startswith("the header is row 3; the rows above it")
    assert "--header-row" in intake.notes[0]


def test_csv_title_block_above_the_header_is_skipped(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("Drug lab cases,,,,,,\n,,,,,,\n" + CSV_HEADER
                    + "D1,Ruiz,1 Main St,Boston,MA,02118,X1\n"
                    + "D2,Lee,1 Main St,Boston,MA,2118,X2\n", encoding="utf-8")
    intake = R.read_records(path)
    assert (intake.header_row, intake.header_found, intake.people) == (3, True, 1)
    assert reasons_by_row(intake) == {(5, "zip"): R.REASON_ZIP_ZERO}


def test_csv_title_block_with_blank_lines_and_quoted_newline(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('"Drug lab cases\nexported 2024"\n\n' + CSV_HEADER
                    + "D1,Ruiz,1 Main St,Boston,MA,02118,X1\n\n"
                    + "D2,Lee,1 Main St,Boston,MA,2118,X2\n"
                    + "D3,Lee,1 Main St, Apt 2,Boston,MA,02118,X3\n", encoding="utf-8")
    with pytest.raises(InputFileError) as exc:
        R.read_records(path)
    # the title's quoted newline makes the header line 4 of the file; the short row is line 8
    assert str(exc.value).startswith(f"{path}, line 8: row has 8 values but the header has 7")
    path.write_text(path.read_text(encoding="utf-8").rsplit("D3", 1)[0], encoding="utf-8")
    intake = R.read_records(path)
    assert (intake.header_row, intake.blank_rows) == (3, 1)
    assert reasons_by_row(intake) == {(6, "zip"): R.REASON_ZIP_ZERO}


def test_header_row_given(xlsx):
    path = xlsx([row()], above=TITLE)
    intake = R.read_records(path, header_row=3)
    assert (intake.header_row, intake.header_found, intake.people) == (3, False, 1)
    assert intake.notes == []
    with pytest.raises(InputFileError) as exc:
        R.read_records(path, header_row=1)
    assert str(exc.value).startswith(f"{path}: required columns missing: defendant_id, ")
    assert "The header was read from row 1, as --header-row" in str(exc.value)
    with pytest.raises(InputFileError,
                       match="the header is to be in row 9, but the file has 4 rows"):
        R.read_records(path, header_row=9)


def test_no_header_in_the_first_rows_names_the_columns_and_the_option(xlsx):
    above = [["Drug lab cases", None, "printed 2024-05-01"]] + [[]] * 24
    path = xlsx([row()], above=above)
    with pytest.raises(InputFileError) as exc:
        R.read_records(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: required columns missing: defendant_id, last_name, "
                          "address_line1, city, state, zip, docket_number")
    assert "No row among the first 20 has these columns" in msg
    assert "--header-row N" in msg
    assert R.read_records(path, header_row=26).people == 1


def test_csv_title_and_no_header_is_reported_as_missing_columns(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("Drug lab cases,,,,,,\n" + CSV_HEADER.replace("zip", "postcode")
                    + "D1,Ruiz,1 Main St,Boston,MA,02118,X1\n", encoding="utf-8")
    with pytest.raises(InputFileError) as exc:
        R.read_records(path)
    assert str(exc.value).startswith(f"{path}: required columns missing: defendant_id, ")
    assert "Columns found: Drug lab cases." in str(exc.value)
    assert "--header-row N" in str(exc.value)


def test_xlsx_value_beyond_the_header_is_an_error(xlsx):
    path = xlsx([row() | {"x": "stray"}], header=[*row().keys(), "x"])
    book = openpyxl.load_workbook(path)
    book.active["Q1"] = None
    book.save(path)
    with pytest.raises(InputFileError, match="cell Q2 has a value but column Q has no header"):
        R.read_records(path)


def test_validate_header_row_option_and_config(tmp_path, monkeypatch, xlsx):
    monkeypatch.chdir(tmp_path)
    path = xlsx([row()], above=TITLE)
    runner = CliRunner()
    result = runner.invoke(cli, ["validate", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "  note: the header is row 3; the rows above it (a title?) were skipped." \
        in result.output
    result = runner.invoke(cli, ["validate", str(path), "--header-row", "1"])
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {path}: required columns missing")
    (tmp_path / "letters.toml").write_text("[intake]\nheader_row = 3\n", encoding="utf-8")
    result = runner.invoke(cli, ["validate", str(path)], catch_exceptions=False)
    assert result.exit_code == 0 and "note:" not in result.output
    (tmp_path / "letters.toml").write_text("[intake]\nheader_row = -1\n", encoding="utf-8")
    result = runner.invoke(cli, ["validate", str(path)], catch_exceptions=False)
    assert result.exit_code == 2
    assert "[intake] header_row must be between 0 (look for it) and 1048576" in result.output


# --- invisible format characters ----------------------------------------------------------------

@pytest.mark.parametrize("char", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e",
                                  "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
                                  "\u2066", "\u2067", "\u2068", "\u2069", "\u00ad"])
def test_format_characters_are_removed_not_printed_as_spaces(records, char):
    intake = R.read_records(records([row(first_name=f"Jo{char}se",
                                         address_line1=f"1 Main{char} St")]))
    r = intake.recipients[0]
    assert (r.first_name, r.address.line1) == ("Jose", "1 Main St")
    assert intake.format_characters == {"first_name": 1, "address_line1": 1}
    assert not intake.rejects


def test_format_characters_are_counted_per_field_and_never_reject(records):
    intake = R.read_records(records([
        row(first_name="\ufeffAna", last_name="Ru\u200biz"),
        row(docket_number="X2", last_name="Ruiz"),  # same person once the character is gone
        row(defendant_id="D2", last_name="\u2066Lee\u2069", city="Bos\u200dton"),
    ]))
    assert not intake.rejects and intake.people == 2
    assert intake.format_characters == {"first_name": 1, "last_name": 2, "city": 1}
    assert intake.notes == ["invisible format characters (zero-width, BOM, bidi controls) removed "
                            "from 4 values: first_name 1, last_name 2, city 1"]


def test_validate_summary_reports_removed_format_characters(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_records(tmp_path / "r.csv", [row(first_name="Jo\u200bse")])
    result = CliRunner().invoke(cli, ["validate", str(path)], catch_exceptions=False)
    assert result.exit_code == 0
    assert [x for x in result.output.splitlines() if x.startswith("  note:")][0] == (
        "  note: invisible format characters (zero-width, BOM, bidi controls) removed from "
        "1 value: first_name 1")


def test_format_characters_in_headers_are_ignored(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(CSV_HEADER.replace("last_name", "last_\u200bname\u200e")
                    + "D1,Ruiz,1 Main St,Boston,MA,02118,X1\n", encoding="utf-8")
    assert R.read_records(path).recipients[0].last_name == "Ruiz"


# --- a column named twice -----------------------------------------------------------------------

@pytest.mark.parametrize("headers,columns,message", [
    (["Last Name", "last_name"], None,
     "the header names last_name twice: 'Last Name' and 'last_name'"),
    (["ZIP", "Zip Code"], {"zip": "Zip Code"}, "the header names zip twice: 'ZIP' and 'Zip Code'"),
    (["Surname", "last_name"], {"last_name": "Surname"},  # a traceback before
     "the header names last_name twice: 'Surname' and 'last_name'"),
])
def test_one_column_named_twice_is_an_error_naming_both(tmp_path, headers, columns, message):
    canonical = message.split()[3]
    base = [h for h in row() if h != canonical]
    values = {h: v for h, v in row().items() if h in base} | {headers[0]: "A", headers[1]: "B"}
    path = write_records(tmp_path / "r.csv", [values], header=[*base, *headers])
    with pytest.raises(InputFileError) as exc:
        R.read_records(path, columns=columns)
    assert str(exc.value).startswith(f"{path}: {message}")
    assert "Rename or delete one of them" in str(exc.value)


# --- a value far too long -----------------------------------------------------------------------

def test_megabyte_value_is_a_reject_not_a_letter(records, tmp_path):
    huge = "A" * 1_000_000
    intake = R.read_records(records([row(first_name=huge), row(defendant_id="D2")]))
    assert [r.defendant_id for r in intake.recipients] == ["D2"]
    assert reasons_by_row(intake) == {
        (2, "first_name"): "value too long: at most 1,000 characters in this column"}
    assert intake.rejects[0].value == "A" * 40 + "… (1,000,000 characters)"
    out = R.write_rejects(tmp_path / "rejects.csv", intake.rejects)
    assert out.stat().st_size < 1000


def test_length_limits_canonical_and_other_columns(records):
    intake = R.read_records(records([
        row(last_name="R" * 1000, notes="n" * 5000),
        row(defendant_id="D2", address_line1="1" * 1001),
        row(defendant_id="D3", notes="n" * 32_768),
    ]))
    assert [r.defendant_id for r in intake.recipients] == ["D1"]
    assert reasons_by_row(intake) == {
        (3, "address_line1"): "value too long: at most 1,000 characters in this column",
        (4, "notes"): "value too long: at most 32,767 characters in this column"}


def test_a_large_csv_is_written_in_parts_as_one_file(tmp_path):
    """write_csv encodes a few thousand rows at a time; the file is the whole table, each
    value as the spreadsheet-safe CSV gives it, the header once, and nothing else."""
    import csv as csv_mod
    import io

    from letters.exports import neutralise, write_csv

    rows = [(i, f"=cmd{i}" if i % 7 == 0 else f"Ñame {i}", "línea\ncon salto", "文字")
            for i in range(10_000)]
    path = write_csv(tmp_path / "big.csv", ("n", "name", "note", "wide"), iter(rows))
    expected = io.StringIO(newline="")
    writer = csv_mod.writer(expected, lineterminator="\n")
    writer.writerow(("n", "name", "note", "wide"))
    for row in rows:
        writer.writerow([v if isinstance(v, int) else neutralise(v) for v in row])
    assert path.read_bytes() == expected.getvalue().encode("utf-8")
    back = list(csv_mod.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    assert len(back) == 10_001 and back[8][1] == neutralise("=cmd7")
    assert not list(tmp_path.glob(".*.tmp"))


def test_private_dir_made_meanwhile_by_another_process(tmp_path, monkeypatch):
    """Two processes making the same folder: the one whose mkdir comes second goes on; a
    file where the folder should be is still an error."""
    from pathlib import Path

    from letters.exports import private_dir

    target = tmp_path / "a" / "b"
    real_mkdir = Path.mkdir

    def racing(self, *args, **kwargs):
        if self == tmp_path / "a":
            real_mkdir(self, 0o700)  # the other process, between our exists() and mkdir()
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", racing)
    assert private_dir(target) == target and target.is_dir()
    assert (target.stat().st_mode & 0o777) == 0o700

    def file_meanwhile(self, *args, **kwargs):
        if self == tmp_path / "c":
            self.write_text("x")
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", file_meanwhile)
    with pytest.raises(FileExistsError):
        private_dir(tmp_path / "c" / "d")
