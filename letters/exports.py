"""Files the tool writes for people: owner-only folders, and CSVs safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Iterable, Sequence

#: A cell starting with one of these is read by spreadsheets as a formula (or DDE command).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value) -> str:
    """Make a cell print as text in Excel / LibreOffice, never run as a formula.

    >>> neutralise("=HYPERLINK(\\"http://x\\")")
    '\\'=HYPERLINK("http://x")'
    >>> neutralise("-5"), neutralise("O'Brien"), neutralise(12)
    ("'-5", "O'Brien", '12')
    """
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def read_text(path: str | os.PathLike) -> str:
    """A small UTF-8 input file (BOM allowed), or an error naming the file."""
    from letters.errors import InputFileError

    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputFileError(str(path), "file not found") from None
    except UnicodeDecodeError as exc:
        raise InputFileError(str(path), f"not UTF-8 text (byte {exc.start})") from None


def private_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and missing parents) readable by the owner only; records hold PII."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            if d.is_dir():  # another process made it meanwhile (two commands, two workers)
                continue
            raise
        os.chmod(d, 0o700)  # mkdir's mode is filtered by the umask
    return path


def write_csv(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence]) -> Path:
    """Write a spreadsheet-safe, owner-only CSV atomically (``store.replace_file``)."""
    from letters.store import replace_file

    path = Path(path)
    private_dir(path.parent)

    def parts():  # encoded a few thousand rows at a time: a large file is never held as text
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        for n, row in enumerate(rows, start=1):
            writer.writerow([v if isinstance(v, int) else neutralise(v) for v in row])
            if n % 4096 == 0:
                yield buf.getvalue().encode("utf-8")
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue().encode("utf-8")

    replace_file(path, parts())
    return path
