"""Shared fixtures: small workspaces and record files built from dicts."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

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
