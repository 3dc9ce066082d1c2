"""Intake: read the office's case export, normalise and validate it, group the cases per person.

Every value is read as text (the surname "NA" stays "NA", ZIP 02134 keeps its zero). Rules are
applied column by column with vectorised pandas string operations, so a million-row export is
read in seconds. A row that breaks a rule is never dropped silently: it becomes one
:class:`~letters.model.Reject` per problem, with its source row number (header = row 1).

A person is never guessed at: if any row of a person is rejected, or the person's rows disagree
on name, address or language, every row of that person is rejected and no letter is planned.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import os
import re
import unicodedata
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from openpyxl.utils import get_column_letter

from letters import addresses, fonts
from letters.config import Config
from letters.languages import SOURCE_LANGUAGE, Language, Registry

from letters.errors import InputFileError
from letters.exports import write_csv
from letters.model import (
    ADDRESS_COLUMNS, CANONICAL_COLUMNS, CASE_COLUMNS, NAME_COLUMNS, REQUIRED_COLUMNS,
    Address, AddressWarning, Case, Recipient, Reject,
)

ROW = "__row__"  # source row number column, header = row 1

REJECTS_HEADER = ("row", "defendant_id", "field", "value", "reason")
ADDRESS_WARNINGS_HEADER = ("row", "defendant_id", "address", "warning")

# --- reference tables ---------------------------------------------------------------------------

STATES: dict[str, str] = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon",
    "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
    "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia",
    "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
    # territories and military addresses the USPS delivers to
    "AS": "American Samoa", "GU": "Guam", "MP": "Northern Mariana Islands", "PR": "Puerto Rico",
    "VI": "U.S. Virgin Islands", "AA": "Armed Forces Americas", "AE": "Armed Forces Europe",
    "AP": "Armed Forces Pacific",
}


def _fold(text: str) -> str:
    """Casefold and strip accents: 'Español' -> 'espanol'."""
    decomposed = unicodedata.normalize("NFD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


_STATE_LOOKUP: dict[str, str] = {}
for _code, _name in STATES.items():
    _STATE_LOOKUP[_fold(_code)] = _code
    _STATE_LOOKUP[_fold(_name)] = _code
_STATE_LOOKUP.update({"mass": "MA", "mass.": "MA", "d.c.": "DC", "puerto rico": "PR",
                      "virgin islands": "VI", "us virgin islands": "VI"})


_ZIP5 = r"\d{5}"
_ZIP9 = r"\d{5}-\d{4}"
_ZIP9_LOOSE = r"\d{5}[ ]?\d{4}"
_ZIP_LOST_ZERO = r"\d{4}(?:[- ]?\d{4})?(?:\.0)?"
_CONTROL = r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]"
# RE2 syntax (Arrow): ASCII whitespace plus the Unicode spaces exports carry (NBSP, thin...)
_WHITESPACE = r"[\s\x{0b}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]+"
# Unicode format characters (category Cf): zero-width space and joiners, word joiner, BOM, soft
# hyphen, bidi marks and controls. Invisible on screen, they print as gaps ("Jo se") or break
# matching, so they are removed, not turned into spaces.
_FORMAT_CHARS = r"\p{Cf}"

#: Longest value accepted in a canonical column (names, address lines, case fields), and in any
#: other column (Excel's own limit for a cell).
MAX_FIELD_LENGTH = 1_000
MAX_OTHER_LENGTH = 32_767
#: Without ``header_row``, the header is looked for in this many rows at the top of the file.
HEADER_SEARCH_ROWS = 20

REASON_MISSING = "missing required field"
REASON_CONTROL = "control character in value: remove it"
REASON_ZIP_ZERO = "ZIP has 4 digits: the leading zero was probably lost (e.g. 2134 for 02134)"
REASON_ZIP = "invalid ZIP: expected NNNNN or NNNNN-NNNN"
REASON_STATE = "unknown state: use the USPS two-letter code or the full name"
#: Without a workspace's declarations, letters are written in the source language only.
DEFAULT_REGISTRY = Registry([Language(SOURCE_LANGUAGE)])

REASON_STATUS = "unknown case status: use a value of [case_status] in letters.toml"
REASON_DATE = "unreadable date: expected YYYY-MM-DD or MM/DD/YYYY"
REASON_PERSON = "another row of this person was rejected"
REASON_ADDRESS = "conflicting addresses"
REASON_NAME = "conflicting names"
REASON_NO_DELIVERY = addresses.REASON_NO_DELIVERY
REASON_LANGUAGES = "conflicting languages"
REASON_FORMULA = ("formula with no saved value: open the file in Excel and save it, or paste "
                  "values")
REASON_CELL_ERROR = "the cell shows an Excel error: correct the formula or the value"
REASON_TOO_LONG = "value too long: at most {limit:,} characters in this column"


# --- reading ------------------------------------------------------------------------------------

def _header_key(header: str) -> str:
    """'Last Name ' -> 'last_name', so plain exports match canonical columns without config."""
    return re.sub(r"[^0-9a-z]+", "_", _fold(str(header))).strip("_")


def _decode(path: Path, raw: bytes, encoding: str) -> str:
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = raw[exc.start:exc.end].hex(" ").upper()
        hint = ("Exports from Excel on Windows are usually Windows-1252: try --encoding cp1252 "
                "(or set encoding in [intake] of letters.toml)."
                if codec.startswith("utf-8") else
                f"The file is not {encoding}; give its real encoding with --encoding.")
        raise InputFileError(str(path), f"byte {bad} at column {col} is not valid {encoding} text",
                             line=line, hint=hint) from None
    except LookupError:
        raise InputFileError(str(path), f"unknown text encoding '{encoding}'") from None
    if not codec.startswith("utf-8") and not raw.isascii():
        # A UTF-8 file read as an 8-bit code page decodes "successfully" into mojibake
        # ('JosÃ©'); refuse instead of printing garbled names on legal notices.
        try:
            raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            pass
        else:
            raise InputFileError(
                str(path), f"the file is UTF-8, but it was to be read as {encoding}",
                hint="Reading it that way would garble accented names; drop --encoding "
                     "(or set encoding = \"utf-8\" in [intake]).")
    return text


def strip_format_characters(text: str) -> str:
    """``text`` without Unicode format characters (zero-width, BOM, bidi controls, soft hyphen).

    >>> strip_format_characters("\\ufeffLast\\u200b Name\\u200e")
    'Last Name'
    """
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def _clean_header(header) -> str:
    return strip_format_characters(str(header)).strip()


@dataclass
class CellProblem:
    """A cell that holds no value a letter could use: a formula never calculated, an error."""

    row: int          # the row number a spreadsheet shows
    header: str       # the header of the cell's column
    value: str        # what the cell holds instead (the formula, the error code)
    reason: str       # why it is rejected, naming the cell (e.g. "... (cell C5)")


@dataclass
class Table:
    """A records file read as text, one ``str`` column per header, plus the row numbers (ROW)."""

    frame: pd.DataFrame
    #: Row of the header in the file or sheet (1 = the first row).
    header_row: int = 1
    #: The header was found below row 1 by looking for it (a title block above it).
    header_found: bool = False
    #: Cells that become rejects whatever the column's rules (only Excel files have them).
    cell_problems: list[CellProblem] = field(default_factory=list)


def _has_blank_line(raw: bytes) -> bool:
    # Lines of only spaces need no check here: Arrow rejects them as short rows.
    return raw.startswith((b"\n", b"\r\n")) or b"\n\n" in raw or b"\n\r\n" in raw


def _leading_rows(raw: bytes, count: int) -> list[tuple[list[str], int]]:
    """The first ``count`` rows of UTF-8 CSV bytes, each with the lines read up to its end.

    A row too large for the csv module ends the list early: no header is that large.
    """
    def lines():
        start = 0
        while start < len(raw):
            end = raw.find(b"\n", start)
            end = len(raw) if end < 0 else end + 1
            yield raw[start:end].decode("utf-8-sig" if start == 0 else "utf-8", errors="replace")
            start = end

    reader = csv.reader(lines())
    rows: list[tuple[list[str], int]] = []
    try:
        for fields in reader:
            rows.append((fields, reader.line_num))
            if len(rows) == count:
                break
    except csv.Error:
        pass
    return rows


def _read_csv(path: Path, encoding: str, header_row: int = 0,
              columns: dict[str, str] | None = None) -> Table:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(str(path), "file not found") from None
    except OSError as exc:
        raise InputFileError(str(path), f"cannot be read ({exc.strerror})") from None
    utf8 = encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig")
    if not utf8:
        raw = _decode(path, raw, encoding).encode("utf-8")
    if not raw or raw.isspace():
        raise InputFileError(str(path), "the file is empty: expected a header row and case rows")
    leading = _leading_rows(raw, header_row or HEADER_SEARCH_ROWS)
    if not leading:
        raise InputFileError(str(path), "the first row is not readable as CSV", line=1)
    row, found = _find_header(str(path), [fields for fields, _ in leading], header_row, columns)
    header = leading[row - 1][0]
    _check_header(path, header, line=row)
    _check_columns(str(path), [_clean_header(h) for h in header], columns, row, bool(header_row))
    # Lines above the header (a title block) are cut off; row numbers count them back in.
    lines_above = leading[row - 2][1] if row > 1 else 0
    start = 0
    for _ in range(lines_above):
        start = raw.index(b"\n", start) + 1
    body = raw[start:]
    # Fast path: Arrow's multi-threaded reader. It skips blank lines (which would shift the row
    # numbers people look up) and reports errors without line numbers, so files with blank
    # lines or any problem take the pandas path below, which numbers rows and lines exactly.
    if not _has_blank_line(body):
        try:
            table = pa_csv.read_csv(
                pa.BufferReader(body),
                read_options=pa_csv.ReadOptions(column_names=header, skip_rows=1),
                parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                convert_options=pa_csv.ConvertOptions(
                    column_types={h: pa.large_string() for h in header},
                    strings_can_be_null=False, quoted_strings_can_be_null=False))
        except pa.ArrowInvalid:
            pass
        else:
            return Table(table.to_pandas(types_mapper={pa.large_string(): pd.StringDtype(
                "pyarrow", na_value=np.nan)}.get), row, found)
    text = _decode(path, raw, "utf-8")
    if start:
        text = body.decode("utf-8")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False,
                         skip_blank_lines=False)
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if m:
            raise InputFileError(
                str(path), f"row has {m[3]} values but the header has {m[1]}",
                line=int(m[2]) + lines_above,
                hint="A value that contains a comma must be in double quotes.") from None
        raise InputFileError(str(path), f"not a readable CSV file ({exc})") from None
    return Table(df, row, found)


def _check_header(path: Path, header: list[str], line: int = 1) -> None:
    cleaned = [_clean_header(h) for h in header]
    if any(not h for h in cleaned):
        n = cleaned.index("") + 1
        raise InputFileError(str(path), f"column {n} of the header row has no name", line=line,
                             hint="Every column needs a header; delete empty columns or name them.")
    dupes = sorted({h for h in cleaned if cleaned.count(h) > 1})
    if dupes:
        raise InputFileError(str(path), "the header names a column twice: " + ", ".join(dupes),
                             line=line)


def _find_header(path: str, rows: list[list[str]], header_row: int,
                 columns: dict[str, str] | None) -> tuple[int, bool]:
    """The header's row (1 = first) and whether it was found below row 1 by looking for it.

    ``header_row`` 0 looks for it: row 1 if it has the required columns, else the first of
    the next rows (up to HEADER_SEARCH_ROWS) that has them. Offices' exports often start with
    a report title and a blank row.
    """
    if not rows:
        raise InputFileError(path, "the file is empty: expected a header row and case rows")
    if header_row:
        if header_row > len(rows):
            raise InputFileError(path, f"the header is to be in row {header_row}, but the file "
                                       f"has {len(rows)} row{'' if len(rows) == 1 else 's'}",
                                 hint="Give the header's row number with --header-row (or "
                                      "header_row in [intake]); 0 looks for it.")
        return header_row, False
    for i, cells in enumerate(rows[:HEADER_SEARCH_ROWS]):
        if not _column_plan([_clean_header(c) for c in cells], columns).problems:
            return i + 1, i > 0
    first = [_clean_header(c) for c in rows[0]]
    if not all(first):
        # A row with empty cells that lacks the columns is a title, not a header to report on.
        _check_columns(path, [c for c in first if c], columns, 1, False)
    return 1, False


def _trim_row(cells: list[str]) -> list[str]:
    end = len(cells)
    while end and not cells[end - 1]:
        end -= 1
    return cells[:end]


# --- Excel cells as text --------------------------------------------------------------------------

# A number format's tokens: quoted text, escaped character, [bracketed] part, _x (space as wide
# as x), *x (fill with x), the General keyword, digit placeholders and punctuation, anything else.
_NUMFMT_TOKEN = re.compile(r'"[^"]*"?|\\.|\[[^\]]*\]?|[_*].|general|[0#?.,%;]|.',
                           re.IGNORECASE | re.DOTALL)
_NUMFMT_CONDITION = re.compile(r"\[(<=|>=|<>|<|>|=)\s*(-?\d+(?:\.\d+)?)\]")
_NUMFMT_LITERAL = frozenset(" $-+():!^&'~{}<>=")


def _general_number(value: int | float) -> str:
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.15g}"
    return str(value)


def _numfmt_section(number_format: str, value: int | float) -> tuple[list[str], bool]:
    """The tokens of the format section that shows ``value``, and whether to prefix a minus."""
    sections: list[list[str]] = [[]]
    for token in _NUMFMT_TOKEN.findall(number_format):
        if token == ";":
            sections.append([])
        else:
            sections[-1].append(token)
    conditions = []
    for tokens in sections:
        m = next((_NUMFMT_CONDITION.fullmatch(t) for t in tokens
                  if _NUMFMT_CONDITION.fullmatch(t)), None)
        conditions.append(m)
    if any(conditions[:2]):
        ops = {"<": float.__lt__, ">": float.__gt__, "=": float.__eq__, "<=": float.__le__,
               ">=": float.__ge__, "<>": float.__ne__}
        for tokens, m in zip(sections[:3], conditions[:3]):
            if m is None or ops[m[1]](float(value), float(m[2])):
                return tokens, value < 0
        return sections[min(len(sections), 3) - 1], value < 0
    if len(sections) == 1 or value > 0 or (value == 0 and len(sections) == 2):
        return sections[0], value < 0
    return (sections[1], False) if value < 0 else (sections[2], False)


def excel_number_text(value: int | float, number_format: str) -> str:
    """The text Excel shows for a number in a cell of this format, as exports use them.

    Zero-padded and literal patterns (ZIP codes, ZIP+4, case numbers), decimals, thousands
    separators and percentages are honoured; "General", "@" (text) and formats beyond these
    (scientific, fractions) give the number's plain digits.

    >>> excel_number_text(2134, "00000"), excel_number_text(21341234, "00000-0000")
    ('02134', '02134-1234')
    >>> excel_number_text(2134, "[<=99999]00000;00000-0000"), excel_number_text(2134.0, "General")
    ('02134', '2134')
    >>> excel_number_text(1234567, "#,##0"), excel_number_text(0.125, "0.0%")
    ('1,234,567', '12.5%')
    """
    tokens, minus = _numfmt_section(number_format, value)
    parts: list[tuple[str, str]] = []  # (kind, text): ph, lit, dot, comma, pct
    for token in tokens:
        head = token[0]
        if head == '"':
            parts.append(("lit", token[1:-1] if len(token) > 1 and token.endswith('"')
                          else token[1:]))
        elif head == "\\":
            parts.append(("lit", token[1:]))
        elif head == "[":
            if token.startswith("[$"):  # currency: [$€-407] shows €
                parts.append(("lit", token[2:].rstrip("]").split("-")[0]))
        elif head in "_*":
            continue  # padding and fill: layout, not text
        elif token in ("0", "#", "?"):
            parts.append(("ph", token))
        elif token == ".":
            parts.append(("dot", token))
        elif token == ",":
            parts.append(("comma", token))
        elif token == "%":
            parts.append(("pct", token))
        elif token in _NUMFMT_LITERAL:
            parts.append(("lit", token))
        else:  # General, @, exponents, fractions, date codes
            return _general_number(value)
    if not any(kind == "ph" for kind, _ in parts):
        return "".join(text for kind, text in parts if kind in ("lit", "pct"))
    dot = next((i for i, (kind, _) in enumerate(parts) if kind == "dot"), len(parts))
    whole, frac = parts[:dot], parts[dot + 1:]
    places = [i for i, (kind, _) in enumerate(whole) if kind == "ph"]
    grouping, thousands = False, 0
    for i, (kind, _) in enumerate(whole):
        if kind == "comma":
            if places and places[0] < i < places[-1]:
                grouping = True
            elif places and i > places[-1]:
                thousands += 1
    number = abs(decimal.Decimal(repr(value) if isinstance(value, float) else value))
    number = number * 100 ** sum(kind == "pct" for kind, _ in parts) / 1000 ** thousands
    decimals = sum(kind == "ph" for kind, _ in frac)
    shown = number.quantize(decimal.Decimal(1).scaleb(-decimals), rounding=decimal.ROUND_HALF_UP)
    digits, _, fraction = f"{shown:f}".partition(".")
    fraction = fraction.ljust(decimals, "0")[:decimals]
    needed = sum(text == "0" for kind, text in frac if kind == "ph")
    while len(fraction) > needed and fraction.endswith("0"):
        fraction = fraction[:-1]
    if digits == "0" and ("ph", "0") not in whole:
        digits = ""
    empty = {"0": "0", "?": " ", "#": ""}
    if grouping:
        digits = digits.rjust(sum(text == "0" for kind, text in whole if kind == "ph"), "0")
        head = len(digits) % 3 or 3
        grouped = ",".join([digits[:head]] + [digits[i:i + 3] for i in range(head, len(digits), 3)])
        text = ("".join(t for k, t in whole[:places[0]] if k in ("lit", "pct")) + grouped
                + "".join(t for k, t in whole[places[-1]:] if k in ("lit", "pct")))
    else:
        # Fill placeholders from the right; the leftmost one takes every digit left over.
        out = []
        pool = digits
        for i in range(len(whole) - 1, -1, -1):
            kind, t = whole[i]
            if kind == "ph":
                if i == places[0]:
                    out.append(pool or empty[t])
                    pool = ""
                elif pool:
                    out.append(pool[-1])
                    pool = pool[:-1]
                else:
                    out.append(empty[t])
            elif kind in ("lit", "pct") or (kind == "comma" and not places[-1] < i):
                out.append(t)
        text = "".join(reversed(out))
    if dot < len(parts):
        text += "." + fraction + "".join(t for k, t in frac if k in ("lit", "pct"))
    negative = minus and shown != 0
    return ("-" if negative else "") + text


def _shows_time(number_format: str) -> bool:
    plain = re.sub(r'"[^"]*"|\\.|\[[^\]]*\]', "", number_format).lower()
    return "h" in plain or "s" in plain


def cell_text(value, number_format: str = "General") -> str:
    """An Excel cell's value as the text a letter uses, honouring the cell's number format.

    Numbers read as Excel shows them (ZIP 2134 formatted ``00000`` is ``02134``); dates as
    ``YYYY-MM-DD`` (with the time only when the format shows one and it is not midnight).

    >>> cell_text(2134, "00000"), cell_text(2134.0), cell_text(dt.datetime(2009, 3, 4), "m/d/yy")
    ('02134', '2134', '2009-03-04')
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return excel_number_text(value, number_format)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time() or not _shows_time(number_format):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _open_workbook(path: Path, *, data_only: bool):
    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=data_only)
    except FileNotFoundError:
        raise InputFileError(str(path), "file not found") from None
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        raise InputFileError(str(path), f"not a readable Excel workbook ({exc})") from None


def _sheet_title(path: Path, book, sheet: str | None) -> str:
    names = book.sheetnames
    if sheet in (None, ""):
        return names[0]
    if sheet in names:
        return sheet
    if str(sheet).isdigit() and int(sheet) < len(names):
        return names[int(sheet)]
    raise InputFileError(str(path), f"no sheet named '{sheet}'",
                         hint="Sheets in this workbook: " + ", ".join(names))


def _read_excel(path: Path, sheet: str | None, header_row: int = 0,
                columns: dict[str, str] | None = None) -> Table:
    """Read a sheet cell by cell, each value as the text the cell shows (see :func:`cell_text`).

    Formulas are read twice: as formulas, to know which cells hold one, and as the values Excel
    saved with them. A formula saved without its value (a file written by a program that does
    not calculate) is a problem for its row, never an empty field.
    """
    rows: list[list[str]] = []
    formulas: dict[tuple[int, int], str] = {}
    errors: dict[tuple[int, int], str] = {}
    book = _open_workbook(path, data_only=False)
    try:
        title = _sheet_title(path, book, sheet)
        ws = book[title]
        ws.reset_dimensions()  # some writers record a wrong used range; read every row there is
        for r, cells in enumerate(ws.iter_rows(), start=1):
            texts = []
            for c, cell in enumerate(cells, start=1):
                value = cell.value
                if value is None:
                    texts.append("")
                elif cell.data_type == "s":
                    texts.append(value)
                elif cell.data_type == "f":
                    formulas[r, c] = str(getattr(value, "text", value))
                    texts.append("")
                elif cell.data_type == "e":
                    errors[r, c] = str(value)
                    texts.append("")
                else:
                    texts.append(cell_text(value, cell.number_format))
            rows.append(texts)
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(str(path), f"not a readable Excel workbook ({exc})") from None
    finally:
        book.close()
    missing: dict[tuple[int, int], str] = {}
    if formulas:
        saved = _saved_values(path, title, formulas)
        for (r, c), formula in formulas.items():
            kind, text = saved.get((r, c), ("missing", ""))
            if kind == "value":
                rows[r - 1][c - 1] = text
            elif kind == "error":
                errors[r, c] = text
            else:
                missing[r, c] = formula

    row, found = _find_header(str(path), rows, header_row, columns)
    header = _trim_row([_clean_header(h) for h in rows[row - 1]])
    for r, c in sorted([*missing, *errors]):
        if r == row:
            what = "a formula with no saved value" if (r, c) in missing else "an Excel error"
            raise InputFileError(str(path), f"header cell {get_column_letter(c)}{r} holds {what}",
                                 hint="Type the column's name in the cell.")
    if not header:
        raise InputFileError(str(path), "the sheet is empty: expected a header row and case rows")
    _check_header(path, header, line=row)
    _check_columns(str(path), header, columns, row, bool(header_row))
    width = len(header)
    problem_rows = {r for r, _ in [*missing, *errors]}
    data = rows[row:]
    while data and not any(data[-1]) and row + len(data) not in problem_rows:
        data.pop()
    for i, values in enumerate(data):
        if len(values) > width and any(values[width:]):
            c = width + next(j for j, v in enumerate(values[width:]) if v) + 1
            raise InputFileError(
                str(path), f"cell {get_column_letter(c)}{row + 1 + i} has a value but column "
                           f"{get_column_letter(c)} has no header",
                hint=f"Give the column a name in row {row}, or delete the column.")
        if len(values) != width:
            data[i] = values[:width] + [""] * (width - len(values))
    frame = pd.DataFrame({h: pd.array(col, dtype="str")
                          for h, col in zip(header, zip(*data) if data else [()] * width)})
    problems = []
    for (r, c), value in sorted([*missing.items(), *errors.items()]):
        if row < r <= row + len(data) and c <= width:
            reason = REASON_FORMULA if (r, c) in missing else REASON_CELL_ERROR
            problems.append(CellProblem(r, header[c - 1], value,
                                        f"{reason} (cell {get_column_letter(c)}{r})"))
    return Table(frame, row, found, problems)


def _saved_values(path: Path, title: str, formulas: dict[tuple[int, int], str]
                  ) -> dict[tuple[int, int], tuple[str, str]]:
    """For each formula cell: ("value", text), ("error", code) or ("missing", "")."""
    out: dict[tuple[int, int], tuple[str, str]] = {}
    first, last = min(r for r, _ in formulas), max(r for r, _ in formulas)
    book = _open_workbook(path, data_only=True)
    try:
        ws = book[title]
        ws.reset_dimensions()
        for r, cells in enumerate(ws.iter_rows(min_row=first, max_row=last), start=first):
            for c, cell in enumerate(cells, start=1):
                if (r, c) not in formulas:
                    continue
                if cell.value is None:
                    # Excel saves a formula whose result is "" with type "str" and an empty
                    # value; a formula never calculated has no type and no value.
                    out[r, c] = ("value", "") if cell.data_type == "str" else ("missing", "")
                elif cell.data_type == "e":
                    out[r, c] = ("error", str(cell.value))
                else:
                    out[r, c] = ("value", cell_text(cell.value, cell.number_format))
    except Exception as exc:
        raise InputFileError(str(path), f"not a readable Excel workbook ({exc})") from None
    finally:
        book.close()
    return out


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_parquet(path)
    except FileNotFoundError:
        raise InputFileError(str(path), "file not found") from None
    except Exception as exc:
        raise InputFileError(str(path), f"not a readable Parquet file ({exc})") from None
    out = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            s = s.dt.strftime("%Y-%m-%d")
        out[str(col)] = s.astype("str").where(s.notna(), "")
    return pd.DataFrame(out)


def read_table(path: str | os.PathLike, *, encoding: str = "utf-8", sheet: str | None = None,
               header_row: int = 0, columns: dict[str, str] | None = None) -> Table:
    """Read a CSV, XLSX or Parquet export as text, with the row number of every row.

    Row numbers are as a spreadsheet shows them: the header's row (1, or lower when a title
    block is above it), the first case row the next. ``header_row`` (1 = the first row) says
    where the header is; 0 looks for it in the first rows of a CSV or Excel file: the first
    row with the required columns, by canonical name or as ``columns`` (``[columns]`` of
    letters.toml) maps them.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        table = _read_excel(path, sheet, header_row, columns)
    elif suffix in (".parquet", ".pq"):
        table = Table(_read_parquet(path))
    elif suffix in (".csv", ".txt", ".tsv") or not suffix:
        table = _read_csv(path, encoding, header_row, columns)
    else:
        raise InputFileError(str(path), f"unsupported file type '{suffix}'",
                             hint="Export the cases as CSV (.csv), Excel (.xlsx) or Parquet (.parquet).")
    df = table.frame
    df.columns = [_clean_header(c) for c in df.columns]
    df[ROW] = np.arange(table.header_row + 1, table.header_row + 1 + len(df))
    return table


@dataclass
class _ColumnPlan:
    rename: dict[str, str]   # the export's header -> canonical column
    problems: list[str]      # configured headers not in the file, required columns missing
    twice: list[str]         # canonical columns that two headers name


def _column_plan(headers: list[str], columns: dict[str, str] | None) -> _ColumnPlan:
    columns = columns or {}
    present = [h for h in headers if h and h != ROW]
    keys = {_header_key(h) for h in present}
    configured: dict[str, str] = {}
    problems = []
    for canonical, header in columns.items():
        if header.strip() in present:
            configured[header.strip()] = canonical
        elif canonical not in keys:
            # A header that already reads as the canonical name is accepted, so one
            # letters.toml serves both the office's export and a canonical file.
            problems.append(f"column '{header}' (configured in [columns] as {canonical}) is "
                            "not in the file")
    named: dict[str, list[str]] = {}
    for header in present:
        canonical = configured.get(header) or _header_key(header)
        if canonical in CANONICAL_COLUMNS:
            named.setdefault(canonical, []).append(header)
    missing = [c for c in REQUIRED_COLUMNS if c not in named]
    if missing:
        problems.append("required column" + ("s" if len(missing) > 1 else "") + " missing: "
                        + ", ".join(missing))
    twice = []
    for canonical, headers_of in named.items():
        if len(headers_of) > 1:
            quoted = [f"'{h}'" for h in headers_of]
            times = "twice" if len(quoted) == 2 else f"{len(quoted)} times"
            twice.append(f"the header names {canonical} {times}: "
                         + ", ".join(quoted[:-1]) + " and " + quoted[-1])
    return _ColumnPlan({hs[0]: c for c, hs in named.items()}, problems, twice)


def _columns_error(path: str, plan: _ColumnPlan, headers: list[str],
                   more: str = "") -> InputFileError:
    hints = []
    if plan.problems:
        hints.append(f"Columns found: {', '.join(headers)}. Map the export's headers to "
                     "canonical names in the [columns] table of letters.toml.")
    if plan.twice:
        hints.append("Rename or delete one of them: a letter must not pick one silently.")
    if more:
        hints.append(more)
    return InputFileError(path, "; ".join(plan.problems + plan.twice), hint=" ".join(hints))


def _check_columns(path: str, headers: list[str], columns: dict[str, str] | None,
                   header_row: int, given: bool) -> None:
    plan = _column_plan(headers, columns)
    if plan.problems or plan.twice:
        more = ""
        if plan.problems:
            more = (f"The header was read from row {header_row}, as --header-row (or header_row "
                    "in [intake]) says." if given else
                    f"No row among the first {HEADER_SEARCH_ROWS} has these columns: if the "
                    "header is further down, give its row number with --header-row N (or "
                    "header_row in [intake] of letters.toml).")
        raise _columns_error(path, plan, headers, more)


def map_columns(df: pd.DataFrame, path: str, columns: dict[str, str] | None = None
                ) -> tuple[pd.DataFrame, list[str]]:
    """Rename the export's headers to canonical columns; return the frame and the extra columns.

    ``columns`` maps canonical name -> the export's header (``[columns]`` in letters.toml).
    Headers that already read as a canonical name ("Last Name", "ZIP") match without it.
    Two headers naming one canonical column ("ZIP" and a configured "Zip Code", or "Last Name"
    and "last_name") are an error: which of them a letter uses is not to be guessed.
    """
    plan = _column_plan(list(df.columns), columns)
    if plan.problems or plan.twice:
        raise _columns_error(path, plan, [c for c in df.columns if c != ROW])
    df = df.rename(columns=plan.rename)
    for c in CANONICAL_COLUMNS:
        if c not in df.columns:
            df[c] = ""
    extras = [c for c in df.columns if c not in CANONICAL_COLUMNS and c != ROW]
    return df[[*CANONICAL_COLUMNS, *extras, ROW]], extras


# --- normalising --------------------------------------------------------------------------------

def clean_text(s: pd.Series) -> tuple[pd.Series, np.ndarray | None]:
    """Format characters removed, NFC, whitespace collapsed to one space, trimmed (in Arrow).

    Returns the cleaned column and the positions of values holding a control character (or
    None). Only values that may need work (non-ASCII, control characters, doubled or edge
    spaces) are rewritten: most cells of an export are already clean.
    """
    if not isinstance(s.dtype, pd.StringDtype) or s.hasnans:
        s = s.astype("str").fillna("")
    arr = pa.array(s)
    needs = pc.match_substring_regex(arr, r"[^\x21-\x7e ]|  |^ | $")
    if not pc.any(needs).as_py():
        return pd.Series(arr, index=s.index, dtype="str"), None
    where = pc.indices_nonzero(needs)
    sub = pc.utf8_normalize(pc.replace_substring_regex(pc.take(arr, where), _FORMAT_CHARS, ""),
                            "NFC")
    sub = pc.utf8_trim(pc.replace_substring_regex(sub, _WHITESPACE, " "), " ")
    control = pc.match_substring_regex(sub, _CONTROL)
    out = pd.Series(arr, index=s.index, dtype="str")
    positions = where.to_numpy()
    out.iloc[positions] = pd.Series(sub, dtype="str").to_numpy()
    bad = positions[control.to_numpy(zero_copy_only=False)]
    return out, (bad if len(bad) else None)


#: Columns a letter prints as they are: a character the font cannot draw is a reject at intake.
PRINTED_COLUMNS = (*NAME_COLUMNS, *ADDRESS_COLUMNS, *CASE_COLUMNS)


def _check_drawable(values: pd.Series, column: str, problems: "_Problems") -> None:
    """Reject values holding a character the bundled font cannot draw, naming it and its code
    point, so that `letters validate` finds what `letters mail` would otherwise fail on.
    Only non-ASCII values can hold one (Arrow tells them apart without a regex), and each
    distinct value is looked at once."""
    arr = pa.array(values)
    ascii_ = pc.string_is_ascii(arr)
    if pc.all(ascii_).as_py() is not False:
        return
    where = np.flatnonzero(~ascii_.to_numpy(zero_copy_only=False))
    reasons = _map_unique(values.iloc[where], _undrawable_reason)
    bad = reasons.to_numpy() != ""
    for reason in sorted(set(reasons[bad])):
        problems.add(where[(reasons.to_numpy() == reason)], column, reason, values)


def _undrawable_reason(value: str) -> str:
    missing = fonts.undrawable(value)
    if not missing:
        return ""
    shown = ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, '?')} ({c})" for c in missing[:3])
    return (f"the letter's font cannot draw {shown}: correct the record or transliterate "
            "the name")


def _map_unique(s: pd.Series, fn) -> pd.Series:
    """Apply a Python function once per distinct value (exports repeat values a lot)."""
    codes, uniques = pd.factorize(s)
    mapped = np.array([fn(u) for u in uniques] + [None], dtype=object)
    return pd.Series(mapped[codes], index=s.index, dtype=object)


def parse_date(text: str) -> str | None:
    """'3/4/2009', '2009-03-04' or '2009-03-04 00:00:00' -> '2009-03-04'; None if unreadable.

    >>> parse_date("3/4/2009"), parse_date("2009-03-04 00:00:00"), parse_date("31/31/2009")
    ('2009-03-04', '2009-03-04', None)
    """
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00)?)?", text)
    if m:
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
    else:
        m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
        if not m:
            return None
        mo, d, y = int(m[1]), int(m[2]), int(m[3])
    try:
        return dt.date(y, mo, d).isoformat()
    except ValueError:
        return None


class _Problems:
    """Row problems gathered column by column, as arrays (fast for large exports)."""

    def __init__(self, index: pd.Index):
        self.index = index
        self.parts: list[pd.DataFrame] = []

    def add(self, mask, column: str, reason: str, values: pd.Series) -> None:
        """Record ``reason`` for rows where ``mask`` holds (boolean Series or positions)."""
        positions = np.flatnonzero(mask.to_numpy()) if isinstance(mask, pd.Series) else mask
        if len(positions) == 0:
            return
        self.parts.append(pd.DataFrame({
            "idx": self.index[positions],
            "field": column,
            "value": values.iloc[positions].astype(object).to_numpy(),
            "reason": reason,
        }))

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({"idx": pd.Series(dtype="int64"), "field": [], "value": [],
                                 "reason": []})
        return pd.concat(self.parts, ignore_index=True)


TRUE_WORDS = frozenset({"1", "y", "yes", "true", "x", "si", "sim"})


def normalise(df: pd.DataFrame, extras: list[str], *, default_language: str = SOURCE_LANGUAGE,
              languages: Registry | None = None, fallback: Sequence[str] | None = None,
              case_statuses: dict[str, str] | None = None
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Normalise every column and collect row-level problems.

    ``languages`` declares the letter languages; a preferred language that has none is not a
    problem: the row gets the first ``fallback`` language and keeps what it asked for in
    ``language_requested``. ``case_statuses`` maps folded spellings to ``[case_status]`` keys.
    Returns the normalised frame (with a boolean ``__lang_given__`` column) and a frame of
    problems with columns ``idx, field, value, reason``.
    """
    languages = languages or DEFAULT_REGISTRY
    fallback = list(fallback or [default_language])
    problems = _Problems(df.index)
    out = pd.DataFrame(index=df.index)
    columns = [*CANONICAL_COLUMNS, *extras]
    cleaned = _in_threads(clean_text, {c: (df[c],) for c in columns})
    for c in columns:
        out[c], control = cleaned[c]
        if control is not None:
            problems.add(control, c, REASON_CONTROL, out[c])
    out[ROW] = df[ROW]
    for c in PRINTED_COLUMNS:
        _check_drawable(out[c], c, problems)
    for c in REQUIRED_COLUMNS:
        problems.add(out[c] == "", c, REASON_MISSING, out[c])

    state = out["state"]
    code = _map_unique(state, lambda v: _STATE_LOOKUP.get(_fold(v)))
    problems.add(code.isna() & (state != ""), "state", REASON_STATE, state)
    out["state"] = code.where(code.notna(), state).astype("str")

    z = out["zip"]
    ok5 = z.str.fullmatch(_ZIP5) | z.str.fullmatch(_ZIP9)
    loose9 = ~ok5 & z.str.fullmatch(_ZIP9_LOOSE)
    lost = ~ok5 & ~loose9 & z.str.fullmatch(_ZIP_LOST_ZERO)
    other = ~ok5 & ~loose9 & ~lost & (z != "")
    problems.add(lost, "zip", REASON_ZIP_ZERO, z)
    problems.add(other, "zip", REASON_ZIP, z)
    if loose9.any():
        digits = z[loose9].str.replace(" ", "", regex=False)
        out.loc[loose9, "zip"] = digits.str.slice(0, 5) + "-" + digits.str.slice(5)

    # USPS Publication 28, once per distinct address (letters.addresses); what is printed and
    # what the records said both stay with the recipient.
    out["__address__"], no_street = _standardise(out)
    problems.add(no_street & (out["address_line1"] != ""), "address_line1", REASON_NO_DELIVERY,
                 out["address_line1"])

    lang = out["language"]
    given = lang != ""
    letter_codes = set(languages.letter_codes)

    def identify(value: str) -> str:
        code, requested = languages.identify(value)
        return code if code in letter_codes else "\x1f" + requested

    found = _map_unique(lang, identify).astype("str")
    unserved = found.str.startswith("\x1f")
    out["language"] = found.where(given & ~unserved, default_language).astype("str")
    out.loc[given & unserved, "language"] = fallback[0]
    out["language_requested"] = found.str.slice(1).where(given & unserved, "").astype("str")
    out["__lang_given__"] = given

    status = out["case_status"]
    if case_statuses is not None:
        key = _map_unique(status, lambda v: case_statuses.get(_fold(v)) if v else "")
        problems.add(key.isna(), "case_status", REASON_STATUS, status)
        out["case_status"] = key.where(key.notna(), status).astype("str")
    out["large_print"] = _map_unique(out["large_print"], lambda v: "1" if _fold(v) in TRUE_WORDS
                                     else "").astype("str")

    date = out["disposition_date"]
    iso = _map_unique(date, lambda v: parse_date(v) if v else "")
    problems.add(iso.isna(), "disposition_date", REASON_DATE, date)
    out["disposition_date"] = iso.where(iso.notna(), date).astype("str")
    return out, problems.frame()


_STANDARDISED_FROM = ("address_line1", "address_line2", "city", "care_of")


def _standardise(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each row's :class:`letters.addresses.Standardised`, computed once per distinct address
    (about 0.04 ms each), and whether the row has nothing to deliver to."""
    codes, keys = _key_codes(df, list(_STANDARDISED_FROM), joined=True)
    results = addresses.standardise_keys(keys.to_pylist())
    table = np.empty(len(results), dtype=object)
    table[:] = results
    rejected = np.array([bool(r.reject) for r in results], dtype=bool)
    return (pd.Series(table[codes], index=df.index, dtype=object),
            pd.Series(rejected[codes] if len(results) else False, index=df.index))


# --- grouping -----------------------------------------------------------------------------------

def _key_codes(df: pd.DataFrame, cols: list[str], *, sort: bool = False, joined: bool = False
               ) -> tuple[np.ndarray, pa.Array | None]:
    """One integer per row (equal integers: equal values in all ``cols``) and the distinct
    keys: a column's values, or with ``joined`` the columns' values joined by U+001F (None for
    several columns without ``joined``).

    With ``sort`` (one column), codes follow the values' sort order. Without ``joined``,
    several columns are coded one at a time and their codes combined as numbers: no joined text
    of every row is built (at 100,000 people that text took some 200 MB). Arrow does the
    hashing and releases the GIL, so several keys are computed in parallel threads.
    """
    if len(cols) > 1 and not joined:
        if sort:
            raise ValueError("sorted codes are for one column")
        codes = None
        for c in cols:
            # a missing value is a value of its own, never a code that is not a number
            own = pc.dictionary_encode(_text_column(df, c),
                                       null_encoding="encode").indices.to_numpy(
                zero_copy_only=False).astype(np.int64)
            if codes is None:
                codes = own
            else:  # both below the row count: the pair fits in 64 bits
                codes = pd.factorize(codes * (int(own.max(initial=0)) + 1) + own)[0].astype(
                    np.int64)
        return codes, None
    if len(cols) == 1:
        joined = _text_column(df, cols[0])
    else:
        joined = pc.binary_join_element_wise(
            *(_text_column(df, c) for c in cols), pa.scalar("\x1f", pa.large_string()))
    encoded = pc.dictionary_encode(joined)
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    keys = encoded.dictionary
    if sort and len(keys):
        order = pc.array_sort_indices(keys).to_numpy()
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        codes = rank[codes]
        keys = keys.take(pa.array(order))
    return codes, keys


def _text_column(df: pd.DataFrame, column: str) -> pa.Array:
    """A column of ``df`` as one Arrow array of large strings."""
    values = pc.cast(pa.array(df[column]), pa.large_string())
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _in_threads(fn, jobs: dict) -> dict:
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        futures = {name: pool.submit(fn, *args) for name, args in jobs.items()}
        return {name: f.result() for name, f in futures.items()}


def _spread(group_codes: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group: does ``values`` take more than one value within it?"""
    lo = np.full(n_groups, np.iinfo(np.int64).max)
    hi = np.full(n_groups, -1)
    np.minimum.at(lo, group_codes, values)
    np.maximum.at(hi, group_codes, values)
    return (hi >= 0) & (lo != hi)


class Recipients(Sequence):
    """The recipients of one export, in export order, built one at a time on demand.

    Grouping is vectorised; a :class:`Recipient` object is made only when a stage asks for it,
    so validating a million rows never builds a million objects and rendering streams.
    """

    def __init__(self, frame: pd.DataFrame, positions: np.ndarray, extras: list[str],
                 codes: dict[str, np.ndarray]):
        """``positions``: the frame rows that belong to recipients; ``codes``: row keys."""
        self._extras = extras
        self._frame = frame
        self._index = None
        self._n = 0
        self._rows_total = len(positions)
        if not len(positions):
            self._dup = np.zeros(0, dtype=bool)
            return
        ids = codes["id"][positions]
        dockets = codes["docket"][positions]
        rows = frame[ROW].to_numpy()[positions]
        order = np.lexsort((rows, dockets, ids))  # people together, cases in docket order
        cases = codes["case"][positions]
        pair = pd.Series(ids.astype(np.int64) * (int(cases.max()) + 1) + cases)
        dup = pair.duplicated().to_numpy()  # first occurrence in row order is kept
        self._pos = positions[order]
        self._dup = dup[order]
        self._given = frame["__lang_given__"].to_numpy()[positions][order]
        sorted_ids = ids[order]
        self._starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
        self._ends = np.r_[self._starts[1:], len(order)]
        first_rows = np.minimum.reduceat(rows[order], self._starts)
        self._order = np.argsort(first_rows, kind="stable")  # export order of first appearance
        self._n = len(self._starts)

    def __len__(self) -> int:
        return self._n

    @property
    def duplicate_rows(self) -> int:
        return int(self._dup.sum())

    @property
    def case_count(self) -> int:
        return int((~self._dup).sum())

    @property
    def row_count(self) -> int:
        return self._rows_total

    def _per_person(self, column: str) -> dict[str, int]:
        """People counted by the value of a language column on the row that names their
        language (the first that does, else their first row: blank rows take the default)."""
        if not self._n:
            return {}
        values = pd.Series(self._frame[column].to_numpy()[self._pos])
        pick = self._starts.copy()
        named = np.flatnonzero(self._given)
        if len(named):
            group_of = np.searchsorted(self._starts, named, side="right") - 1
            first_named = pd.Series(named).groupby(group_of).min()
            pick[first_named.index.to_numpy()] = first_named.to_numpy()
        counts = values.iloc[pick].value_counts().sort_index()
        return {str(k): int(v) for k, v in counts.items() if k}

    def language_counts(self) -> dict[str, int]:
        """People by the letter language they read first."""
        return self._per_person("language")

    def requested_counts(self) -> dict[str, int]:
        """People who asked for a language no letter is written in, by what they asked for."""
        return self._per_person("language_requested")

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(i)
        return self._build_groups(self._order[i:i + 1])[0]

    def __iter__(self):
        # In chunks: memory stays flat however many people the export holds.
        for lo in range(0, self._n, 4096):
            yield from self._build_groups(self._order[lo:lo + 4096])

    def find(self, defendant_id: str) -> Recipient | None:
        """The recipient with this defendant ID, or None."""
        if not self._n:
            return None
        if self._index is None:
            ids = self._frame["defendant_id"].to_numpy()[self._pos[self._starts]]
            self._index = {d: g for g, d in enumerate(ids.tolist())}
        g = self._index.get(defendant_id)
        return None if g is None else self._build_groups(np.array([g]))[0]

    def _build_groups(self, groups: np.ndarray) -> list[Recipient]:
        starts, ends = self._starts[groups], self._ends[groups]
        idx = np.concatenate([np.arange(a, b) for a, b in zip(starts.tolist(), ends.tolist())])
        pos = pa.array(self._pos[idx])
        names = [*CANONICAL_COLUMNS, "language_requested", *self._extras]
        col = {c: pa.array(self._frame[c]).take(pos).to_pylist() for c in names}
        standard = self._frame["__address__"].to_numpy()[self._pos[idx]]
        rows = self._frame[ROW].to_numpy()[self._pos[idx]].tolist()
        dup = self._dup[idx].tolist()
        given = self._given[idx].tolist()
        extras = self._extras
        out = []
        i = 0
        for length in (ends - starts).tolist():
            block = range(i, i + length)
            cases = tuple(
                Case(col["docket_number"][k], col["court"][k], col["county"][k],
                     col["offense"][k], col["disposition_date"][k], rows[k],
                     {e: col[e][k] for e in extras}, col["disposition"][k],
                     col["case_status"][k], col["lab"][k], col["chemist"][k])
                for k in block if not dup[k])
            named = next((k for k in block if given[k]), i)
            lang, requested = col["language"][named], col["language_requested"][named]
            person_extra = {e: col[e][i] for e in extras
                            if all(col[e][k] == col[e][i] for k in block)}
            out.append(Recipient(
                defendant_id=col["defendant_id"][i], first_name=col["first_name"][i],
                middle_name=col["middle_name"][i], last_name=col["last_name"][i],
                suffix=col["suffix"][i],
                address=_address(standard[i], {c: col[c][i] for c in ADDRESS_COLUMNS}),
                language=lang, cases=cases, source_rows=tuple(sorted(rows[k] for k in block)),
                extra=person_extra, language_requested=requested,
                large_print=any(col["large_print"][k] for k in block)))
            i += length
        return out


def _address(standard: addresses.Standardised, given: dict[str, str]) -> Address:
    """A recipient's address as printed, with the lines the records gave (``original``)."""
    original = tuple(line for line in (given["care_of"], given["address_line1"],
                                       given["address_line2"]) if line)
    return Address(standard.line1, standard.line2, standard.city, given["state"], given["zip"],
                   unit=standard.unit, care_of=standard.care_of, facility=given["facility"],
                   inmate_number=given["inmate_number"],
                   original=(*original, f"{given['city']} {given['state']} {given['zip']}"),
                   changes=standard.changes)


@dataclass
class Intake:
    """The outcome of reading one export: recipients to write to, and rejected rows."""

    source: str
    rows_read: int              # non-blank rows under the header
    blank_rows: int             # entirely blank rows, skipped
    recipients: Recipients
    rejects: list[Reject]       # one per problem, ordered by row
    header_row: int = 1         # row of the header in the file (below a title block: > 1)
    header_found: bool = False  # the header was found below row 1 by looking for it
    #: Per column, how many values held format characters (zero-width, BOM, bidi) now removed.
    format_characters: dict[str, int] = field(default_factory=dict)
    #: Docket number of each rejected row (for the people states: a docket whose person was
    #: rejected is reported as such, not as never noticed).
    row_dockets: dict[int, str] = field(default_factory=dict)
    #: People who get a letter whose street lines could not be standardised (printed as given).
    address_warnings: list[AddressWarning] = field(default_factory=list)

    @property
    def rejected_rows(self) -> set[int]:
        return {r.row for r in self.rejects}

    def rejected_people(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Each person left without a letter by rejected rows: defendant ID ("row N" for a
        row that names nobody) -> (the first reason, their dockets)."""
        return rejected_people(self.rejects, self.row_dockets)

    @property
    def people(self) -> int:
        return len(self.recipients)

    @property
    def cases(self) -> int:
        return self.recipients.case_count

    @property
    def grouped_rows(self) -> int:
        """Rows merged into some recipient (exact duplicates included)."""
        return self.recipients.row_count

    @property
    def duplicate_rows(self) -> int:
        return self.recipients.duplicate_rows

    @property
    def notes(self) -> list[str]:
        """What intake did to the file besides rejecting rows, one sentence each."""
        notes = []
        if self.header_found:
            notes.append(f"the header is row {self.header_row}; the rows above it (a title?) "
                         "were skipped. Give --header-row (header_row in [intake]) to choose "
                         "another row.")
        if self.format_characters:
            counts = ", ".join(f"{c} {n}" for c, n in self.format_characters.items())
            total = sum(self.format_characters.values())
            notes.append(f"invisible format characters (zero-width, BOM, bidi controls) removed "
                         f"from {total} value{'' if total == 1 else 's'}: {counts}")
        return notes

    def reasons(self) -> Counter:
        """Rejected rows counted by their first reason."""
        first: dict[int, str] = {}
        for r in self.rejects:
            first.setdefault(r.row, r.reason)
        return Counter(first.values())


def _conflicts(valid: pd.DataFrame, cols: list[str]) -> set[str]:
    distinct = valid.drop_duplicates(subset=["defendant_id", *cols])
    return set(distinct.loc[distinct["defendant_id"].duplicated(), "defendant_id"])


def group(df: pd.DataFrame, problems: pd.DataFrame, extras: list[str], *, source: str,
          blank_rows: int = 0) -> Intake:
    """Group valid rows into recipients; reject whole people whose rows are bad or disagree."""
    rejects: list[Reject] = []
    ids = df["defendant_id"]
    rows = df[ROW]
    for idx, fld, value, reason in problems.itertuples(index=False):
        rejects.append(Reject(int(rows.at[idx]), ids.at[idx], fld, value, reason))

    bad = pd.Series(False, index=df.index)
    if len(problems):
        bad.loc[problems["idx"].unique()] = True
    # Any bad row rejects the person: a letter listing only some cases would mislead.
    bad_people = df.loc[bad & (ids != ""), ["defendant_id", ROW]]
    first_bad = bad_people.groupby("defendant_id")[ROW].min()
    follow = ~bad & ids.isin(first_bad.index)
    for did, row in zip(ids[follow], rows[follow]):
        rejects.append(Reject(int(row), did, "defendant_id", f"row {first_bad[did]}", REASON_PERSON))

    keep = (~bad & ~follow).to_numpy()
    positions = np.flatnonzero(keep)
    valid = df[["defendant_id", ROW, "__lang_given__"]].iloc[positions]
    keyed = _in_threads(lambda cols, sort: _key_codes(df, cols, sort=sort), {
        "id": (["defendant_id"], False), "name": (list(NAME_COLUMNS), False),
        "address": (list(ADDRESS_COLUMNS), False),
        "language": (["language", "language_requested"], False),
        "docket": (["docket_number"], True), "case": ([*CASE_COLUMNS, *extras], False)})
    codes = {k: v[0] for k, v in keyed.items()}
    id_uniques = keyed["id"][1].to_numpy(zero_copy_only=False)
    id_codes = codes["id"][positions]
    n_ids = len(id_uniques)
    given = valid["__lang_given__"].to_numpy()
    conflicts = []
    for key, fld, reason in (("name", "name", REASON_NAME), ("address", "address", REASON_ADDRESS),
                             ("language", "language", REASON_LANGUAGES)):
        values = codes[key][positions]
        if key == "language":  # only rows that name a language can disagree on it
            spread = _spread(id_codes[given], values[given], n_ids)
        else:
            spread = _spread(id_codes, values, n_ids)
        conflicts.append((set(id_uniques[spread].tolist()), fld, reason))
    conflicted = set().union(*(c[0] for c in conflicts))
    if conflicted:
        hit = valid["defendant_id"].isin(conflicted).to_numpy()
        rows_of: dict[str, list[int]] = {}
        for did, row in zip(valid["defendant_id"].to_numpy()[hit], valid[ROW].to_numpy()[hit]):
            rows_of.setdefault(did, []).append(int(row))
        for people, fld, reason in conflicts:
            for did in sorted(people):
                listed = ", ".join(str(r) for r in sorted(rows_of[did]))
                for row in sorted(rows_of[did]):
                    rejects.append(Reject(row, did, fld, f"rows {listed} differ", reason))
        positions = positions[~hit]

    rejects.sort(key=lambda r: (r.row, r.field))
    hit = rows.isin({r.row for r in rejects}).to_numpy()
    row_dockets = dict(zip(rows[hit].astype(int).tolist(), df["docket_number"][hit].tolist()))
    return Intake(source=source, rows_read=len(df), blank_rows=blank_rows,
                  recipients=Recipients(df, positions, extras, codes), rejects=rejects,
                  row_dockets=row_dockets,
                  address_warnings=_address_warnings(df, positions))


def rejected_people(rejects: list[Reject], row_dockets: dict[int, str] | None = None
                    ) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Defendant ID ("row N" when the row names nobody) -> (first reason, dockets)."""
    row_dockets = row_dockets or {}
    out: dict[str, tuple[str, list[str]]] = {}
    for r in sorted(rejects, key=lambda x: (x.row, x.field)):
        # an ID that is itself the problem (a 1 MB "ID") is not a name for the person
        key = r.defendant_id if 0 < len(r.defendant_id) <= 100 else f"row {r.row}"
        reason, dockets = out.setdefault(key, (r.reason, []))
        docket = row_dockets.get(r.row, "")
        if docket and docket not in dockets:
            dockets.append(docket)
    return {k: (reason, tuple(d)) for k, (reason, d) in out.items()}


def _address_warnings(df: pd.DataFrame, positions: np.ndarray) -> list[AddressWarning]:
    """One warning per person (at their first row) whose address was printed as given."""
    standard = df["__address__"].to_numpy()[positions]
    warned = positions[np.array([bool(s.warning) for s in standard], dtype=bool)]
    first: dict[str, AddressWarning] = {}
    rows = df[ROW].to_numpy()
    for p in warned.tolist():
        did, row = df["defendant_id"].iat[p], int(rows[p])
        if did not in first or row < first[did].row:
            lines = [df[c].iat[p] for c in ("care_of", "address_line1", "address_line2")]
            first[did] = AddressWarning(row, did, " / ".join(x for x in lines if x),
                                        df["__address__"].iat[p].warning)
    return sorted(first.values(), key=lambda w: w.row)


def count_format_characters(df: pd.DataFrame, columns: list[str]) -> dict[str, int]:
    """Per column, how many values hold a format character (what normalising removes)."""
    counts = _in_threads(
        lambda c: pc.sum(pc.match_substring_regex(pa.array(df[c]), _FORMAT_CHARS)).as_py() or 0,
        {c: (c,) for c in columns})
    return {c: n for c, n in counts.items() if n}


def _cell_problems(df: pd.DataFrame, table: Table, extras: list[str],
                   columns: dict[str, str] | None) -> pd.DataFrame:
    """Problems of single cells, whatever their column's rules, as normalise reports problems.

    Excel cells with no usable value, and values too long for any letter: a 1 MB "name" is a
    broken export, not a name.
    """
    found = []
    if table.cell_problems:
        idx_of = dict(zip(df[ROW].tolist(), df.index))
        field_of = _column_plan(list(table.frame.columns), columns).rename
        for p in table.cell_problems:
            if p.row in idx_of:
                found.append((idx_of[p.row], field_of.get(p.header, p.header), p.value, p.reason))
    for c in [*CANONICAL_COLUMNS, *extras]:
        limit = MAX_FIELD_LENGTH if c in CANONICAL_COLUMNS else MAX_OTHER_LENGTH
        long = pc.fill_null(pc.greater(pc.utf8_length(pa.array(df[c])), limit), False)
        for pos in np.flatnonzero(long.to_numpy(zero_copy_only=False)):
            value = df[c].iat[pos]
            found.append((df.index[pos], c, f"{value[:40]}… ({len(value):,} characters)",
                          REASON_TOO_LONG.format(limit=limit)))
    return pd.DataFrame(found, columns=["idx", "field", "value", "reason"])


def read_records(path: str | os.PathLike, *, columns: dict[str, str] | None = None,
                 encoding: str = "utf-8", sheet: str | None = None,
                 default_language: str = SOURCE_LANGUAGE, languages: Registry | None = None,
                 fallback: Sequence[str] | None = None,
                 case_statuses: dict[str, str] | None = None, header_row: int = 0) -> Intake:
    """Read, normalise, validate and group one export. The whole intake stage in one call.

    :func:`read_for` reads with a workspace's settings; this takes them one by one.
    ``header_row``: the header's row in the file (1 = first); 0 looks for it (a title block
    above the header is skipped, and :attr:`Intake.notes` says so).
    """
    table = read_table(path, encoding=encoding, sheet=sheet, header_row=header_row,
                       columns=columns)
    frame, extras = map_columns(table.frame, str(path), columns)
    data_cols = [c for c in frame.columns if c != ROW]
    blank = (frame[data_cols].apply(lambda s: s.str.strip() == "")).all(axis=1)
    if table.cell_problems:  # a formula with no saved value reads as "", yet is not blank
        blank &= ~frame[ROW].isin([p.row for p in table.cell_problems])
    frame = frame.loc[~blank]
    cells = _cell_problems(frame, table, extras, columns)
    stripped = count_format_characters(frame, [*CANONICAL_COLUMNS, *extras])
    df, problems = normalise(frame, extras, default_language=default_language,
                             languages=languages, fallback=fallback, case_statuses=case_statuses)
    if len(cells):
        # the cell's own problem replaces what the column's rules say of its stand-in value
        hit = set(zip(cells["idx"], cells["field"]))
        keep = [k not in hit for k in zip(problems["idx"], problems["field"])]
        problems = pd.concat([problems[keep], cells], ignore_index=True)
    intake = group(df, problems, extras, source=str(path), blank_rows=int(blank.sum()))
    intake.header_row, intake.header_found = table.header_row, table.header_found
    intake.format_characters = stripped
    return intake


def status_spellings(cfg: Config) -> dict[str, str] | None:
    """Folded spellings of each ``[case_status]`` value -> the value (None: no vocabulary)."""
    if not cfg.case_status:
        return None
    out: dict[str, str] = {}
    for key, status in cfg.case_status.items():
        for spelling in (key, key.replace("_", " "), key.replace("_", "-"), status.label,
                         *status.aliases):
            out.setdefault(_fold(spelling), key)
    return out


def read_for(cfg: Config, path: str | os.PathLike, **overrides) -> Intake:
    """Read one export with the workspace's columns, encoding, languages and vocabulary."""
    settings = dict(columns=cfg.columns, encoding=cfg.intake.encoding,
                    sheet=cfg.intake.sheet or None, default_language=cfg.intake.default_language,
                    header_row=cfg.intake.header_row,
                    languages=cfg.registry, fallback=cfg.letter.fallback,
                    case_statuses=status_spellings(cfg))
    settings.update(overrides)
    intake = read_records(path, **settings)
    # Arrow keeps the memory of the tables intake read and dropped for its next allocation;
    # a mailing allocates no more tables: give it back (about 3.5 kB a person).
    pa.default_memory_pool().release_unused()
    return intake


def write_address_warnings(path: str | os.PathLike, warnings: list[AddressWarning]) -> Path:
    """Write ``address-warnings.csv``: addresses printed as given (owner-only, spreadsheet-safe)."""
    return write_csv(path, ADDRESS_WARNINGS_HEADER,
                     ((w.row, w.defendant_id, w.address, w.warning) for w in warnings))


def write_rejects(path: str | os.PathLike, rejects: list[Reject]) -> Path:
    """Write ``rejects.csv`` (owner-only, spreadsheet-safe)."""
    return write_csv(path, REJECTS_HEADER,
                     ((r.row, r.defendant_id, r.field, r.value, r.reason) for r in rejects))
