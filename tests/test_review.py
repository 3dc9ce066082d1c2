"""The translation review packet: self-contained HTML (checked in a real headless browser) and PDF."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess

import pytest
from PIL import Image, ImageStat

from letters import config, i18n
from letters.review import write_packet
from tests.conftest import ROOT
from tests.pdftools import page_texts
from tests.test_translation import edit_po

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run must install Debian's chromium")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return found


@pytest.fixture
def packet(tmp_path):
    for sub in ("templates", "locale"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    for name in ("letters.toml", "babel.cfg"):
        shutil.copy(ROOT / name, tmp_path / name)
    i18n.clear_caches()

    def change(catalog):
        for m in catalog:
            if m.id == "Notice ID":
                m.string = "Número de la notificación"
    edit_po(tmp_path, change)
    cfg = config.load(tmp_path / "letters.toml")
    html_path, pdf_path = write_packet(cfg, "es", tmp_path / "out", today=dt.date(2026, 12, 1))
    yield tmp_path, html_path, pdf_path
    i18n.clear_caches()


def test_html_is_self_contained_and_flags_the_changed_message(packet):
    _, html_path, _ = packet
    text = html_path.read_text(encoding="utf-8")
    for needle in ("<script", "http://", "https://", "src=", "@import"):
        assert needle not in text
    row = next(line for line in text.splitlines() if "Número de la notificación" in line)
    assert row.startswith("<tr class='flag'>") and "stale sign-off" in row
    assert text.count("<tr class='flag'>") == 1 and "<tr class='problem'>" not in text
    assert "0 no sign-off, 1 stale sign-off, 0 sample sign-off, 0 problem" in text
    # the letter's messages, then the data values and the tagline, all in one table
    assert "data [offense]" in text and "taglines" in text


def test_pdf_has_the_table_and_the_sample_letter_in_spanish(packet):
    _, _, pdf_path = packet
    pages = page_texts(pdf_path.read_bytes())
    assert "Translation review: English → es" in pages[0]
    assert "Aviso importante sobre sus casos de drogas" in " ".join(pages)
    assert any("Página 1 de" in p and "Ana María Ejemplo Núñez" in p for p in pages)


def test_review_page_in_a_real_headless_browser(packet, tmp_path):
    browser = chromium()
    _, html_path, _ = packet
    shot = tmp_path / "shot.png"
    profile = tmp_path / "profile"
    subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                    "--window-size=1200,1600", f"--screenshot={shot}", html_path.as_uri()],
                   check=True, capture_output=True, timeout=120)
    with Image.open(shot) as img:
        gray = img.convert("L")
        stat = ImageStat.Stat(gray)
        dark = sum(gray.histogram()[:128]) / (gray.width * gray.height)
    assert stat.stddev[0] > 20 and dark > 0.01     # not blank: real text on the page
    dom = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}-2",
                          "--dump-dom", html_path.as_uri()], check=True, capture_output=True,
                         text=True, timeout=120).stdout
    assert "Please read this letter carefully. It is about your legal rights." in dom
    assert "Por favor, lea esta carta con atención. Trata sobre sus derechos legales." in dom
