"""Shared fixtures: small workspaces and record files built from dicts."""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import openpyxl
import pytest

from tests import fileaudit

ROOT = Path(__file__).resolve().parent.parent

pytest_plugins = ["pytester"]

# --- tests read nothing outside the repository (see tests/fileaudit.py) -------------------------

FILES = fileaudit.Recorder(fileaudit.allowed_roots())
sys.addaudithook(FILES.hook)


def pytest_configure(config):
    if config.option.basetemp:
        FILES.allow(config.option.basetemp)


@pytest.fixture(autouse=True)
def reads_stay_in_the_repository():
    """Fail a test that opened a file or folder outside the repository and the temp folder."""
    start = len(FILES.outside)
    yield
    found = FILES.outside[start:]
    del FILES.outside[start:]
    if found:
        paths = ", ".join(sorted({path for path, _ in found}))
        pytest.fail(f"opened outside the repository and the temporary folder: {paths} "
                    "(copy what the test needs into tests/data/)", pytrace=False)


def pytest_sessionfinish(session):
    found = FILES.take()
    if found:
        report = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = [f"  {path}  ({test or 'outside any test: collection or a module import'})"
                 for path, test in found]
        if report:
            report.write_line("Opened outside the repository and the temporary folder:", red=True)
            for line in lines:
                report.write_line(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --- records from small dicts -------------------------------------------------------------------

BASE_ROW = {
    "defendant_id": "D1", "first_name": "Ana", "middle_name": "", "last_name": "Ruiz",
    "suffix": "", "address_line1": "1 Main St", "address_line2": "", "city": "Boston",
    "state": "MA", "zip": "02118", "language": "es", "docket_number": "0901CR000001",
    "court": "Boston Municipal Court, Central Division", "county": "Suffolk",
    "offense": "Possession of a Class B substance", "disposition_date": "2009-03-04",
}


def row(**changes) -> dict:
    """A valid records row with some fields changed."""
    r = dict(BASE_ROW)
    r.update(changes)
    return r


def write_records(path: Path, rows: list[dict], *, encoding: str = "utf-8",
                  header: list[str] | None = None) -> Path:
    header = header or list(rows[0].keys())
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[dict], *, header: list[str] | None = None,
               formats: dict[str, str] | None = None, above: list[list] = ()) -> Path:
    """An Excel workbook made with openpyxl: the header, then one row per dict.

    Values keep their Python type (a number stays a number cell, a datetime a date cell, a
    string starting with "=" a formula). ``formats`` gives a column's number format
    (e.g. ``{"zip": "00000"}``); ``above`` rows (lists) go above the header, like a title block.
    """
    header = header or list(rows[0].keys())
    book = openpyxl.Workbook()
    sheet = book.active
    for cells in above:
        sheet.append(list(cells))
    sheet.append(header)
    for r in rows:
        sheet.append([r.get(h) for h in header])
    first = len(above) + 2
    for column, number_format in (formats or {}).items():
        j = header.index(column) + 1
        for i in range(first, first + len(rows)):
            sheet.cell(i, j).number_format = number_format
    book.save(path)
    return path


@pytest.fixture
def records(tmp_path):
    """records(rows, name=..., encoding=...) -> path of a CSV written from dicts."""
    def make(rows, name="records.csv", **kw):
        return write_records(tmp_path / name, rows, **kw)
    return make


def copy_workspace(dest: Path, *, with_code: bool = False) -> Path:
    """A copy of the sample workspace (configuration, templates, catalogs, babel.cfg), to
    edit freely; ``with_code`` adds the engine's source, as a checkout would have it."""
    for sub in ("templates", "locale"):
        shutil.copytree(ROOT / sub, dest / sub)
    for name in ("letters.toml", "babel.cfg"):
        shutil.copy(ROOT / name, dest / name)
    if with_code:
        shutil.copytree(ROOT / "letters", dest / "letters",
                        ignore=shutil.ignore_patterns("__pycache__", "fonts"))
    return dest


@pytest.fixture
def xlsx(tmp_path):
    """xlsx(rows, name=..., formats=..., above=...) -> path of a workbook written from dicts."""
    def make(rows, name="records.xlsx", **kw):
        return write_xlsx(tmp_path / name, rows, **kw)
    return make
