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
import io
import os
import re
import unicodedata
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from letters import fonts
from letters.config import Config
from letters.languages import SOURCE_LANGUAGE, Language, Registry

from letters.errors import InputFileError
from letters.exports import write_csv
from letters.model import (
    ADDRESS_COLUMNS, CANONICAL_COLUMNS, CASE_COLUMNS, NAME_COLUMNS, REQUIRED_COLUMNS,
    Address, Case, Recipient, Reject,
)

ROW = "__row__"  # source row number column, header = row 1

REJECTS_HEADER = ("row", "defendant_id", "field", "value", "reason")

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
_WHITESPACE = r"[\s\x{0b}\x{85}\x{a0}\x{1680}\x{2000}-\x{200b}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}]+"

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
REASON_LANGUAGES = "conflicting languages"


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


def _has_blank_line(raw: bytes) -> bool:
    # Lines of only spaces need no check here: Arrow rejects them as short rows.
    return raw.startswith((b"\n", b"\r\n")) or b"\n\n" in raw or b"\n\r\n" in raw


def _read_csv(path: Path, encoding: str) -> pd.DataFrame:
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
    first_line = raw[:raw.find(b"\n") if b"\n" in raw else len(raw)]
    header = next(csv.reader([first_line.decode("utf-8-sig", errors="replace")]))
    _check_header(path, header)
    # Fast path: Arrow's multi-threaded reader. It skips blank lines (which would shift the row
    # numbers people look up) and reports errors without line numbers, so files with blank
    # lines or any problem take the pandas path below, which numbers rows and lines exactly.
    if not _has_blank_line(raw):
        try:
            table = pa_csv.read_csv(
                pa.BufferReader(raw),
                read_options=pa_csv.ReadOptions(column_names=header, skip_rows=1),
                parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                convert_options=pa_csv.ConvertOptions(
                    column_types={h: pa.large_string() for h in header},
                    strings_can_be_null=False, quoted_strings_can_be_null=False))
        except pa.ArrowInvalid:
            pass
        else:
            return table.to_pandas(types_mapper={pa.large_string(): pd.StringDtype(
                "pyarrow", na_value=np.nan)}.get)
    text = _decode(path, raw, "utf-8")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False,
                         skip_blank_lines=False)
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if m:
            raise InputFileError(
                str(path), f"row has {m[3]} values but the header has {m[1]}", line=int(m[2]),
                hint="A value that contains a comma must be in double quotes.") from None
        raise InputFileError(str(path), f"not a readable CSV file ({exc})") from None
    return df


def _check_header(path: Path, header: list[str]) -> None:
    cleaned = [str(h).strip() for h in header]
    if any(not h for h in cleaned):
        n = cleaned.index("") + 1
        raise InputFileError(str(path), f"column {n} of the header row has no name", line=1,
                             hint="Every column needs a header; delete empty columns or name them.")
    dupes = sorted({h for h in cleaned if cleaned.count(h) > 1})
    if dupes:
        raise InputFileError(str(path), "the header names a column twice: " + ", ".join(dupes),
                             line=1)


def _read_excel(path: Path, sheet: str | None) -> pd.DataFrame:
    try:
        book = pd.ExcelFile(path)
    except FileNotFoundError:
        raise InputFileError(str(path), "file not found") from None
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        raise InputFileError(str(path), f"not a readable Excel workbook ({exc})") from None
    with book:
        names = book.sheet_names
        target: str | int = 0
        if sheet not in (None, ""):
            if sheet in names:
                target = sheet
            elif str(sheet).isdigit() and int(sheet) < len(names):
                target = int(sheet)
            else:
                raise InputFileError(str(path), f"no sheet named '{sheet}'",
                                     hint="Sheets in this workbook: " + ", ".join(names))
        header = pd.read_excel(book, sheet_name=target, header=None, nrows=1, dtype=str)
        _check_header(path, ["" if pd.isna(h) else str(h) for h in header.iloc[0].tolist()]
                      if len(header) else [])
        df = pd.read_excel(book, sheet_name=target, dtype=str, keep_default_na=False,
                           na_filter=False)
    return df.astype("str")


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


def read_table(path: str | os.PathLike, *, encoding: str = "utf-8",
               sheet: str | None = None) -> pd.DataFrame:
    """Read a CSV, XLSX or Parquet export into a DataFrame of strings plus its row numbers.

    Row numbers are as a spreadsheet shows them: the header is row 1, the first case row 2.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        df = _read_excel(path, sheet)
    elif suffix in (".parquet", ".pq"):
        df = _read_parquet(path)
    elif suffix in (".csv", ".txt", ".tsv") or not suffix:
        df = _read_csv(path, encoding)
    else:
        raise InputFileError(str(path), f"unsupported file type '{suffix}'",
                             hint="Export the cases as CSV (.csv), Excel (.xlsx) or Parquet (.parquet).")
    df.columns = [str(c).strip() for c in df.columns]
    df[ROW] = np.arange(2, len(df) + 2)
    return df


def map_columns(df: pd.DataFrame, path: str, columns: dict[str, str] | None = None
                ) -> tuple[pd.DataFrame, list[str]]:
    """Rename the export's headers to canonical columns; return the frame and the extra columns.

    ``columns`` maps canonical name -> the export's header (``[columns]`` in letters.toml).
    Headers that already read as a canonical name ("Last Name", "ZIP") match without it.
    """
    columns = columns or {}
    rename: dict[str, str] = {}
    problems = []
    keys = {_header_key(h): h for h in df.columns if h != ROW}
    for canonical, header in columns.items():
        if header.strip() in df.columns:
            rename[header.strip()] = canonical
        elif canonical not in keys:
            # A header that already reads as the canonical name is accepted, so one
            # letters.toml serves both the office's export and a canonical file.
            problems.append(f"column '{header}' (configured in [columns] as {canonical}) is "
                            "not in the file")
    taken = set(rename.values())
    for header in df.columns:
        if header == ROW or header in rename:
            continue
        key = _header_key(header)
        if key in CANONICAL_COLUMNS and key not in taken:
            rename[header] = key
            taken.add(key)
    missing = [c for c in REQUIRED_COLUMNS if c not in taken]
    if missing:
        problems.append("required column" + ("s" if len(missing) > 1 else "") + " missing: "
                        + ", ".join(missing))
    if problems:
        found = ", ".join(c for c in df.columns if c != ROW)
        raise InputFileError(path, "; ".join(problems),
                             hint=f"Columns found: {found}. Map the export's headers to canonical "
                                  "names in the [columns] table of letters.toml.")
    df = df.rename(columns=rename)
    for c in CANONICAL_COLUMNS:
        if c not in df.columns:
            df[c] = ""
    extras = [c for c in df.columns if c not in CANONICAL_COLUMNS and c != ROW]
    return df[[*CANONICAL_COLUMNS, *extras, ROW]], extras


# --- normalising --------------------------------------------------------------------------------

def clean_text(s: pd.Series) -> tuple[pd.Series, np.ndarray | None]:
    """NFC, all kinds of whitespace collapsed to one space, trimmed (vectorised in Arrow).

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
    sub = pc.utf8_normalize(pc.take(arr, where), "NFC")
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
    point, so that `letters validate` finds what `letters mail` would otherwise fail on."""
    non_ascii = values.str.contains(r"[^\x00-\x7f]", regex=True)
    if not non_ascii.any():
        return
    reasons = _map_unique(values[non_ascii], _undrawable_reason)
    for reason in sorted(r for r in set(reasons) if r):
        hit = pd.Series(False, index=values.index)
        hit.loc[reasons.index[(reasons == reason).to_numpy()]] = True
        problems.add(hit, column, reason, values)


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


# --- grouping -----------------------------------------------------------------------------------

def _key_codes(df: pd.DataFrame, cols: list[str], *, sort: bool = False
               ) -> tuple[np.ndarray, pa.Array]:
    """One integer per row (equal integers: equal values in all ``cols``) and the distinct keys.

    With ``sort``, codes follow the keys' sort order. Arrow does the hashing and releases the
    GIL, so several keys are computed in parallel threads.
    """
    arrays = [pc.cast(pa.array(df[c]), pa.large_string()) for c in cols]
    if len(arrays) == 1:
        joined = arrays[0]
    else:
        joined = pc.binary_join_element_wise(*arrays, pa.scalar("\x1f", pa.large_string()))
    if isinstance(joined, pa.ChunkedArray):
        joined = joined.combine_chunks()
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
                address=Address(col["address_line1"][i], col["address_line2"][i],
                                col["city"][i], col["state"][i], col["zip"][i]),
                language=lang, cases=cases, source_rows=tuple(sorted(rows[k] for k in block)),
                extra=person_extra, language_requested=requested,
                large_print=any(col["large_print"][k] for k in block)))
            i += length
        return out


@dataclass
class Intake:
    """The outcome of reading one export: recipients to write to, and rejected rows."""

    source: str
    rows_read: int              # non-blank rows under the header
    blank_rows: int             # entirely blank rows, skipped
    recipients: Recipients
    rejects: list[Reject]       # one per problem, ordered by row

    @property
    def rejected_rows(self) -> set[int]:
        return {r.row for r in self.rejects}

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
    return Intake(source=source, rows_read=len(df), blank_rows=blank_rows,
                  recipients=Recipients(df, positions, extras, codes), rejects=rejects)


def read_records(path: str | os.PathLike, *, columns: dict[str, str] | None = None,
                 encoding: str = "utf-8", sheet: str | None = None,
                 default_language: str = SOURCE_LANGUAGE, languages: Registry | None = None,
                 fallback: Sequence[str] | None = None,
                 case_statuses: dict[str, str] | None = None) -> Intake:
    """Read, normalise, validate and group one export. The whole intake stage in one call.

    :func:`read_for` reads with a workspace's settings; this takes them one by one."""
    table = read_table(path, encoding=encoding, sheet=sheet)
    table, extras = map_columns(table, str(path), columns)
    data_cols = [c for c in table.columns if c != ROW]
    blank = (table[data_cols].apply(lambda s: s.str.strip() == "")).all(axis=1)
    table = table.loc[~blank]
    df, problems = normalise(table, extras, default_language=default_language,
                             languages=languages, fallback=fallback, case_statuses=case_statuses)
    return group(df, problems, extras, source=str(path), blank_rows=int(blank.sum()))


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
                    languages=cfg.registry, fallback=cfg.letter.fallback,
                    case_statuses=status_spellings(cfg))
    settings.update(overrides)
    return read_records(path, **settings)


def write_rejects(path: str | os.PathLike, rejects: list[Reject]) -> Path:
    """Write ``rejects.csv`` (owner-only, spreadsheet-safe)."""
    return write_csv(path, REJECTS_HEADER,
                     ((r.row, r.defendant_id, r.field, r.value, r.reason) for r in rejects))
