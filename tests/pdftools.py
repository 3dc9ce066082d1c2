"""Reading rendered PDFs back in tests: text per page (poppler's pdftotext) and word boxes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from html import unescape
from pathlib import Path

import pytest


def require(tool: str, package: str) -> str:
    """The path of a system tool. CI installs it (.ci/run) and a missing one fails there;
    on a machine without it, the tests that need it are skipped."""
    found = shutil.which(tool)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{tool} is missing: .ci/run must install Debian's {package}")
    pytest.skip(f"{tool} not installed (apt-get install {package})")


def _pdf_file(pdf: bytes) -> Path:
    fh = tempfile.NamedTemporaryFile(suffix=".pdf", delete=False)
    fh.write(pdf)
    fh.close()
    return Path(fh.name)


def page_texts(pdf: bytes, *, raw: bool = False) -> list[str]:
    """Text of each page, whitespace collapsed: in reading order, or with ``raw`` in the order
    it was drawn (keeps rotated text such as a watermark in one piece)."""
    path = _pdf_file(pdf)
    try:
        out = subprocess.run([require("pdftotext", "poppler-utils"),
                              *(["-raw"] if raw else []), "-enc", "UTF-8",
                              str(path), "-"], check=True,
                             capture_output=True).stdout.decode("utf-8")
    finally:
        path.unlink()
    pages = out.split("\f")
    if pages and not pages[-1].strip():
        pages = pages[:-1]
    return [re.sub(r"\s+", " ", p).strip() for p in pages]


def word_boxes(pdf: bytes, page: int = 1) -> list[tuple[str, float, float, float, float]]:
    """(word, x0, y0, x1, y1) in PDF points from the top-left corner of ``page``."""
    path = _pdf_file(pdf)
    try:
        out = subprocess.run([require("pdftotext", "poppler-utils"), "-bbox", "-enc", "UTF-8",
                              "-f", str(page), "-l",
                              str(page), str(path), "-"], check=True,
                             capture_output=True).stdout.decode("utf-8")
    finally:
        path.unlink()
    words = []
    for m in re.finditer(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" '
                         r'yMax="([\d.]+)">(.*?)</word>', out):
        words.append((unescape(m[5]), float(m[1]), float(m[2]), float(m[3]), float(m[4])))
    return words
