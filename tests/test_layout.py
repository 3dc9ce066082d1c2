"""The letter on paper, measured from the PDF with pdfplumber: type sizes, the body below the
top fold, the pointer lines outside the envelope windows, and fill-in lines after their labels
in every language."""

from __future__ import annotations

import datetime as dt
import io

import pdfplumber
import pytest
from reportlab.lib.units import inch

from letters import config
from letters.compose import Composer
from letters.model import Address, Case, Recipient
from letters.pdf import ADDRESS_WINDOW, PAGE_HEIGHT, RETURN_WINDOW, render
from tests.conftest import ROOT

ISSUE = dt.date(2026, 12, 1)


def person(language="es", n=3, **kw) -> Recipient:
    cases = tuple(Case(f"0{n}01CR00010{i}", "Lowell District Court", "Middlesex",
                       "Possession of a Class B substance", "2004-05-06", i + 2,
                       disposition="Pleaded guilty", lab="Hinton lab, Boston",
                       chemist="Annie Dookhan", case_status="dismissed") for i in range(n))
    base = dict(defendant_id="D9", first_name="María", middle_name="", last_name="Peña",
                suffix="", address=Address("12 Water St", "Apt 3", "Lynn", "MA", "01902"),
                language=language, cases=cases, source_rows=tuple(range(2, n + 2)))
    base.update(kw)
    return Recipient(**base)


@pytest.fixture(scope="module")
def cfg():
    return config.load(ROOT / "letters.toml")


def pdf_of(cfg, recipient, **kw):
    doc = Composer(cfg).compose(recipient, notice_id="TEST-0001", issue_date=ISSUE, **kw)
    return doc, render(doc)


def chars_by_page(pdf: bytes):
    with pdfplumber.open(io.BytesIO(pdf)) as p:
        return [page.chars for page in p.pages], [page.extract_words() for page in p.pages]


def top_inches(obj) -> float:
    return obj["top"] / 72


@pytest.mark.parametrize("language", ["es", "pt", "en"])
def test_body_text_is_12_points_and_tables_at_least_10(cfg, language):
    doc, out = pdf_of(cfg, person(language))
    pages, _ = chars_by_page(out.pdf)
    body = [c for page in pages for c in page
            if c["top"] > 3.9 * 72 and c["bottom"] < PAGE_HEIGHT - 0.9 * 72]
    sizes = [round(c["size"], 1) for c in body if c["text"].strip()]
    # most of the running text is body size; nothing below the 10 pt floor (the form's
    # second-language labels are small type at 10 pt)
    assert max(set(sizes), key=sizes.count) == 12.0
    assert min(sizes) >= 10.0
    assert not any("Oblique" in c["fontname"] for page in pages for c in page)


def test_large_print_letter_is_18_points(cfg):
    doc, out = pdf_of(cfg, person("en", large_print=True))
    pages, _ = chars_by_page(out.pdf)
    sizes = [round(c["size"], 1) for page in pages for c in page
             if c["top"] > 3.9 * 72 and c["text"].strip()]
    assert max(set(sizes), key=sizes.count) == 18.0
    assert out.pages > pdf_of(cfg, person("en"))[1].pages


@pytest.mark.parametrize("language", ["es", "pt"])
def test_title_below_the_fold_and_pointer_boxed_outside_the_windows(cfg, language):
    doc, out = pdf_of(cfg, person(language))
    pages, words = chars_by_page(out.pdf)
    title = doc.versions[0].blocks[0].text().split()[0]
    first_title_word = next(w for w in words[0] if w["text"] == title)
    assert top_inches(first_title_word) >= 3.9
    # everything above 3.9 in is furniture: return address, date and ID, recipient address
    with pdfplumber.open(io.BytesIO(out.pdf)) as p:
        page = p.pages[0]
        pointer = doc.crossrefs[0].text.split("\ue000")[0].split()[:3]
        line = [w for w in page.extract_words() if w["text"] == pointer[0]
                and top_inches(w) > 3.9]
        assert line, "pointer line not found below the fold"
        pointer_top = line[0]["top"]
        assert pointer_top > (PAGE_HEIGHT - ADDRESS_WINDOW.y) / 72 * 72  # below the window
        assert any(c["fontname"].endswith("Bold") for c in page.chars
                   if abs(c["top"] - pointer_top) < 1)
        # a box drawn around it
        assert any(r["top"] < pointer_top < r["bottom"] for r in page.rects)
        # it points to the right page
        en_start = out.version_pages["en"]
        assert str(en_start) in page.extract_text()
    for w in words[0]:
        if top_inches(w) < 3.9:
            x0, x1 = w["x0"], w["x1"]
            y0, y1 = PAGE_HEIGHT - w["bottom"], PAGE_HEIGHT - w["top"]
            inside = any(win.contains(x0, y0, x1, y1) for win in (ADDRESS_WINDOW, RETURN_WINDOW))
            top_right = x0 > 4.5 * inch  # the date, notice ID and contact at the top right
            assert inside or top_right, w["text"]


@pytest.mark.parametrize("language", ["es", "pt", "en"])
def test_form_lines_start_after_their_labels(cfg, language):
    doc, out = pdf_of(cfg, person(language))
    blank = doc.versions[0].labels["blank_page"]
    with pdfplumber.open(io.BytesIO(out.pdf)) as p:
        # the form is the last page, or the one before the blank back of the last sheet
        page = next(pg for pg in reversed(p.pages) if blank not in (pg.extract_text() or ""))
        words = page.extract_words()
        lines = [ln for ln in page.lines if abs(ln["top"] - ln["bottom"]) < 0.5]
    labels = [b.text() for b in doc.form if b.kind == "p" and b.cls == "blank" and b.text()]
    assert len(labels) == 7
    for label in labels:
        last_word = label.split()[-1]
        first_word = label.split()[0]
        found = [w for w in words if w["text"] == last_word]
        assert found, label
        w = found[0]
        starts = [w2 for w2 in words if w2["text"] == first_word and abs(w2["top"] - w["top"]) < 1]
        assert starts, label
        # the writing line on that baseline starts after the label ends
        line = [ln for ln in lines if abs(ln["top"] - w["bottom"]) < 4 and ln["x1"] > w["x1"]]
        assert line, label
        assert line[0]["x0"] >= w["x1"], (label, line[0]["x0"], w["x1"])


def test_form_in_the_first_language_with_the_second_beneath(cfg):
    doc, out = pdf_of(cfg, person("es"))
    blanks = [b for b in doc.form if b.kind == "p" and b.cls == "blank"]
    assert [b.alt for b in blanks][:2] == ["Phone:", "Email:"]
    boxes = next(b for b in doc.form if b.kind == "list")
    assert len(boxes.alt_items) == len(boxes.items)
    with pdfplumber.open(io.BytesIO(out.pdf)) as p:
        text = p.pages[-1].extract_text()
    assert "Phone:" in text and "Teléfono" in text
    # the notice ID on the form is bold
    with pdfplumber.open(io.BytesIO(out.pdf)) as p:
        chars = p.pages[-1].chars
    first = doc.notice_id[0]
    assert any(c["text"] == first and c["fontname"].endswith("Bold") for c in chars)


def test_pages_per_letter_are_measured_not_cut(cfg):
    """Page counts for 1, 3 and 10 cases (reported in bench/RESULTS.md): more cases can only
    add pages, and every version is complete."""
    counts = []
    for n in (1, 3, 10):
        doc, out = pdf_of(cfg, person("es", n=n))
        counts.append(out.pages)
        with pdfplumber.open(io.BytesIO(out.pdf)) as p:
            text = " ".join(page.extract_text() for page in p.pages)
        for case in doc.recipient.cases:
            assert text.count(case.docket_number) >= 2  # in both versions' tables
    assert counts == sorted(counts)
