"""Shared fixtures: small workspaces and record files built from dicts."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

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
    "court": "Boston Municipal Court", "county": "Suffolk",
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


@pytest.fixture
def records(tmp_path):
    """records(rows, name=..., encoding=...) -> path of a CSV written from dicts."""
    def make(rows, name="records.csv", **kw):
        return write_records(tmp_path / name, rows, **kw)
    return make
