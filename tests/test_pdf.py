"""Rendered letters: text in both languages, literal data, long tables, glyphs, determinism,
and the address inside the envelope window."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import sys
import unicodedata

import pytest

from letters import config, i18n
from letters.compose import Composer
from letters.model import Address, Case, Recipient
from letters.pdf import ADDRESS_WINDOW, PAGE_HEIGHT, RETURN_WINDOW, RenderError, render
from tests.conftest import ROOT
from tests.pdftools import page_texts, word_boxes

ISSUE = dt.date(2026, 12, 1)


def person(**kw) -> Recipient:
    cases = kw.pop("cases", None) or (
        Case("0301CR000101", "Lowell District Court", "Middlesex",
             "Possession of a Class B substance", "2004-05-06", 2),
        Case("0701CR000202", "Boston Municipal Court, Central Division", "Suffolk",
             "Distribution of a Class A substance", "2008-11-30", 3),
        Case("1102CR000303", "Lawrence District Court", "Essex", "Possession of a Class E substance",
             "", 4),
    )
    base = dict(defendant_id="D9", first_name="María", middle_name="", last_name="Peña",
                suffix="", address=Address("12 Water St", "Apt 3", "Lynn", "MA", "01902"),
                language="es", cases=tuple(cases), source_rows=(2, 3, 4))
    base.update(kw)
    return Recipient(**base)


@pytest.fixture(scope="module")
def cfg():
    return config.load(ROOT / "letters.toml")


@pytest.fixture(scope="module")
def composer(cfg):
    return Composer(cfg)


def letter(composer, recipient, **kw):
    kw.setdefault("notice_id", "TEST-0001")
    kw.setdefault("issue_date", ISSUE)
    doc = composer.compose(recipient, **kw)
    return doc, render(doc)


def test_bilingual_text_dates_dockets_pages_and_greeting(composer, cfg):
    r = person()
    doc, out = letter(composer, r)
    pages = page_texts(out.pdf)
    assert len(pages) == out.pages
    en_start = out.version_pages["en"]
    assert out.version_pages["es"] == 1 and en_start > 2
    # the response form closes the letter in the first version's language
    es_pages, en_pages, form = pages[:en_start - 1], pages[en_start - 1:-1], pages[-1]
    es_text, en_text = " ".join(es_pages), " ".join(en_pages)
    for i, text in enumerate(es_pages, start=1):
        assert f"Página {i} de {out.pages}" in text
        assert "TEST-0001" in text
    for i, text in enumerate(en_pages, start=en_start):
        assert f"Page {i} of {out.pages}" in text
    assert "Formulario de respuesta" in form and f"Página {out.pages} de {out.pages}" in form
    deadline = ISSUE + dt.timedelta(days=cfg.letter.response_days)
    assert "1 de diciembre de 2026" in pages[0]          # issue date, page 1 furniture
    assert "1 de marzo de 2027" in es_text               # deadline, Spanish long form
    assert "March 1, 2027" in en_text and deadline == dt.date(2027, 3, 1)
    for case in r.cases:
        assert case.docket_number in es_text and case.docket_number in en_text
    greet_es = i18n.gettext(cfg.locale_dir, "es", "Dear %(name)s:", name="María Peña")
    assert greet_es != "Dear María Peña:" and greet_es in es_text
    assert "Dear María Peña:" in en_text
    crossref = i18n.gettext(cfg.locale_dir, "en", "This letter in English starts on page "
                            "%(page)s.", context="pointer", page=en_start)
    assert crossref in pages[0]


def test_one_version_carries_the_taglines_of_the_other_languages(composer, cfg):
    doc, out = letter(composer, person(language="en"), languages=["en"])
    pages = page_texts(out.pdf)
    assert [v.lang for v in doc.versions] == ["en"] and doc.crossrefs == []
    line = i18n.gettext(cfg.locale_dir, "es", "This letter is important. If you need it in your "
                        "language, call %(hotline)s. It is free.", domain="taglines",
                        hotline=cfg.office.hotline)
    assert line.startswith("Esta carta es importante") and \
        " ".join(line.split()) in " ".join(pages[0].split())
    assert [t.lang for t in doc.taglines] == cfg.letter.taglines
    assert all("Página" not in p for p in pages)


@pytest.mark.parametrize("name", ["Smith & Sons <b>Jr</b>", "{{ 7*7 }}", "<font size=40>",
                                  '<img src="/etc/hostname"/>', "O<Brien", "{% if 1 %}x{% endif %}"])
def test_data_prints_literally(composer, name):
    doc, out = letter(composer, person(last_name=name, first_name="Ann", language="en"),
                      languages=["en"])
    words = word_boxes(out.pdf)
    line_text = " ".join(w[0] for w in words)
    assert f"Ann {name}" in line_text
    assert "Ann 49" not in line_text and "Ann x" not in line_text  # nothing was evaluated


def test_nfd_input_prints_as_nfc(composer):
    nfd = unicodedata.normalize("NFD", "José Peña")
    first, last = nfd.split(" ")
    _, out = letter(composer, person(first_name=first, last_name=last, language="en"),
                    languages=["en"])
    text = " ".join(page_texts(out.pdf))
    assert "José Peña" in text and "\u0301" not in text and "\u0303" not in text


def test_thirty_cases_table_spans_pages_with_header_repeated(composer):
    cases = tuple(Case(f"09{n:02d}CR{n:06d}", "Brockton District Court", "Plymouth",
                       "Possession of a Class B substance with intent to distribute",
                       "2009-01-15", n + 1) for n in range(1, 31))
    doc, out = letter(composer, person(language="en", cases=cases), languages=["en"])
    pages = page_texts(out.pdf)
    header = doc.versions[0].blocks
    table = next(b for b in header if b.kind == "table")
    first_header_cell = "".join(r.text for r in table.header[0][0])
    pages_with_rows = [p for p in pages if "CR0000" in p]
    assert len(pages_with_rows) >= 2
    for p in pages_with_rows:
        assert first_header_cell in p
    text = " ".join(pages)
    at = [text.find(c.docket_number) for c in cases]
    assert all(text.count(c.docket_number) == 1 for c in cases)  # no row lost or printed twice
    assert at == sorted(at) and min(at) >= 0


def test_cases_table_cells_lay_out_as_one_paragraph_would(composer, monkeypatch):
    """A cell is drawn as one paragraph per line (so its shared lines are shared): every
    word lands where one paragraph of the whole cell puts it, on every page, with the table
    split across pages the same way."""
    from letters import pdf

    cases = tuple(Case(f"09{n:02d}CR{n:06d}", "Boston Municipal Court, Central Division",
                       "Suffolk", "Possession of a Class B substance with intent to distribute",
                       "2009-01-15", n + 1) for n in range(1, 16))
    r = person(language="es", cases=cases)
    _, lines = letter(composer, r)
    monkeypatch.setattr(pdf, "_cell", lambda runs, style: [pdf.Paragraph(pdf.markup(runs),
                                                                         style)])
    _, whole = letter(composer, r)
    assert lines.pages == whole.pages
    for page in range(1, lines.pages + 1):
        assert sorted(word_boxes(lines.pdf, page)) == sorted(word_boxes(whole.pdf, page))
    assert sum(len(word_boxes(lines.pdf, p)) for p in (2, 3)) > 300  # the table's pages


def test_missing_glyph_names_recipient_and_character(composer):
    doc = composer.compose(person(last_name="王", defendant_id="D77"), notice_id="T",
                           issue_date=ISSUE)
    with pytest.raises(RenderError) as exc:
        render(doc)
    assert str(exc.value).startswith("recipient D77: the font cannot draw U+738B "
                                     "CJK UNIFIED IDEOGRAPH-738B ('王') in the name")


def test_vietnamese_and_extended_latin_render(composer):
    doc, out = letter(composer, person(first_name="Nguyễn Thị", last_name="Đặng-Łukasz Ó Súilleabháin",
                                       language="en"), languages=["en"])
    assert "Nguyễn Thị Đặng-Łukasz Ó Súilleabháin" in " ".join(page_texts(out.pdf))


def test_same_bytes_twice_and_in_a_fresh_process(composer, tmp_path):
    r = person()
    a = letter(composer, r)[1].pdf
    b = letter(composer, r)[1].pdf
    assert hashlib.sha256(a).hexdigest() == hashlib.sha256(b).hexdigest()
    script = f"""
import datetime as dt, hashlib, sys
sys.path.insert(0, {str(ROOT)!r})
from letters import config
from letters.compose import Composer
from letters.pdf import render
from tests.test_pdf import person
doc = Composer(config.load({str(ROOT / 'letters.toml')!r})).compose(
    person(), notice_id="TEST-0001", issue_date=dt.date(2026, 12, 1))
print(hashlib.sha256(render(doc).pdf).hexdigest())
"""
    fresh = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True, cwd=tmp_path).stdout.strip()
    assert fresh == hashlib.sha256(a).hexdigest()
    assert b"/CreationDate (D:20261201000000+00'00')" in a


def _inside(rect, x0, top, x1, bottom):
    # pdftotext boxes are from the top-left; the window rectangle from the bottom-left.
    return rect.contains(x0, PAGE_HEIGHT - bottom, x1, PAGE_HEIGHT - top)


def test_address_lines_inside_the_envelope_window(composer, cfg):
    r = person(first_name="Maximiliano Alejandro", last_name="Hernández-Rodríguez de la Cruz",
               suffix="III", address=Address("1234 Commonwealth Avenue", "Apartment 1205B",
                                             "North Attleborough", "MA", "02760-1234"))
    _, out = letter(composer, r)
    words = word_boxes(out.pdf, 1)
    expected = [r.full_name, *r.address.lines()]
    for line in expected:
        for token in line.split(" "):
            hits = [w for w in words if w[0] == token]
            assert hits, token
            assert any(_inside(ADDRESS_WINDOW, *w[1:]) for w in hits), (token, hits)
    for token in cfg.office.name.split(" "):
        assert any(_inside(RETURN_WINDOW, *w[1:]) for w in words if w[0] == token), token


def test_address_too_long_for_the_window_is_an_error(composer):
    r = person(address=Address("1234 " + "Very Long Street Name " * 6, "", "Lynn", "MA", "01902"))
    doc = composer.compose(r, notice_id="T", issue_date=ISSUE)
    with pytest.raises(RenderError, match="recipient D9: the address does not fit the envelope"):
        render(doc)


def test_metadata_title_and_subject(composer):
    from pypdf import PdfReader
    import io

    _, out = letter(composer, person())
    meta = PdfReader(io.BytesIO(out.pdf)).metadata
    assert meta.title == "Notice TEST-0001"
    assert meta.subject == "Court-ordered notice to D9 (es + en)"


def test_every_font_a_letter_names_is_embedded(composer):
    """Prepress checks flag a font named but not embedded: ReportLab starts drawings (the
    barcode, the QR code) from Helvetica unless told otherwise."""
    import io

    import pikepdf

    doc, out = letter(composer, person())
    from letters import imb

    doc.imb = imb.value("00", "300", "000000", 17, "02118")  # with a barcode too
    pdf = render(doc).pdf
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        fonts = {}
        for page in doc.pages:
            for key, font in page.Resources.get("/Font", {}).items():
                fonts[str(font.BaseFont)] = font
        assert fonts and not any("Helvetica" in name for name in fonts)
        for name, font in fonts.items():
            descendant = font.DescendantFonts[0] if "/DescendantFonts" in font else font
            assert "/FontFile2" in descendant.FontDescriptor, name


def test_shared_layout_gives_the_bytes_a_fresh_layout_gives(monkeypatch):
    """Paragraph parses, line breaks and font subsets are shared between letters in a process
    (letters.pdf, letters.fonts): a letter rendered after others (warm, in either order) is
    byte-identical to one rendered with everything forgotten (cold) and to one rendered with
    ReportLab's own paragraphs, fonts and PDF writer, nothing remembered at all."""
    import dataclasses

    from letters import fonts, glyphs, pdf
    from letters.records import read_for

    cfg = config.load(ROOT / "letters.toml")
    people = list(read_for(cfg, ROOT / "examples" / "records.csv").recipients)
    chosen = {}
    for p in people:  # every language and case count of the sample, twice each
        key = (p.language, p.language_requested, min(len(p.cases), 4))
        chosen.setdefault(key, []).append(p)
    picked = [p for group in chosen.values() for p in group[:2]]
    picked += [dataclasses.replace(p, large_print=True) for p in picked[:4]]
    composer = Composer(cfg)
    charset = glyphs.batch_charset(cfg, picked)
    docs = []
    for i, p in enumerate(picked):
        doc = composer.compose(p, notice_id=f"AAA-AAA-{i:03d}", issue_date=ISSUE)
        doc.charset = charset if i % 3 else ""
        doc.duplex = bool(i % 2)
        docs.append(doc)
    assert len(docs) >= 20

    def digest(doc):
        return hashlib.sha256(pdf.render(doc).pdf).hexdigest()

    cold = []
    for doc in docs:
        pdf.clear_caches()
        cold.append(digest(doc))
    warm = [digest(doc) for doc in docs]
    backwards = [digest(doc) for doc in reversed(docs)][::-1]
    assert warm == cold and backwards == cold
    assert len(pdf._BROKEN) > 0 and len(fonts._SUBSETS) > 0  # the caches were used
    monkeypatch.setattr(pdf, "Paragraph", pdf._RLParagraph)
    monkeypatch.setattr(fonts, "_SUBSETS_KEPT", 0)
    plain = []
    with fonts.as_shipped():  # and ReportLab's fonts and PDF writer without their memos
        for doc in docs:
            pdf.clear_caches()
            plain.append(digest(doc))
    assert plain == cold
    assert len(pdf._BROKEN) == 0 and len(fonts._MEASURED) == 0


def test_shared_drawings_name_only_fonts_and_codes_every_letter_has():
    """A paragraph drawn once is replayed in other letters of the batch only when what it drew
    means the same there: a face it named first (italic, after the fixed regular and bold
    names) or a character outside the batch's set (a code of that letter's own) is not kept,
    and such letters are byte-identical warm and cold."""
    from letters import glyphs
    from letters.compose import Block, Run

    cfg = config.load(ROOT / "letters.toml")
    composer = Composer(cfg)
    people = [person(defendant_id=f"D{i}", language="en") for i in range(2)]
    charset = glyphs.batch_charset(cfg, people)
    assert "Ж" not in charset
    docs = []
    for i, p in enumerate(people):
        doc = composer.compose(p, notice_id=f"AAA-AAA-{i:03d}", issue_date=ISSUE,
                               languages=["en"])
        doc.charset = charset
        blocks = doc.versions[0].blocks
        at = next(k for k, b in enumerate(blocks) if b.kind == "p" and not b.cls) + 1
        outside = Block("p", [Run("Ответ: Жданов")])
        blocks[at:at] = [Block("p", [Run("Please read this letter.", italic=True)]),
                         *[outside] * (2 - i)]  # drawn twice in the first letter, once after
        docs.append(doc)

    cold, warm = cold_and_warm(docs)
    assert warm == cold + cold
    assert all(b"+DejaVuSans-Oblique" in out for out in warm)  # italic is embedded


def test_soft_hyphenated_paragraphs_split_across_pages_warm_as_cold():
    """A word broken at a soft hyphen is changed in place when ReportLab splits its paragraph
    across pages: such a paragraph's lines are not shared, and letters in which it splits at
    different lines are byte-identical warm and cold."""
    import random

    from letters import glyphs
    from letters.compose import Block, Run

    cfg = config.load(ROOT / "letters.toml")
    composer = Composer(cfg)
    words = ["Wieder\u00adher\u00adstel\u00adlungs\u00adverfahren", "Gerichts\u00adentscheidung",
             "und", "der", "Straf\u00adregister\u00adauszug", "Löschung",
             "Antrag\u00adsteller\u00adin"]
    rng = random.Random(3)
    text = " ".join(rng.choice(words) for _ in range(400))
    people = [person(defendant_id=f"D{i}", language="en") for i in range(2)]
    charset = glyphs.batch_charset(cfg, people)
    docs = []
    for i, p in enumerate(people):
        doc = composer.compose(p, notice_id=f"AAA-AAA-{i:03d}", issue_date=ISSUE,
                               languages=["en"])
        doc.charset = charset
        r = random.Random(i)  # a different amount of text before it: it splits elsewhere
        filler = [Block("p", [Run("filler " * r.randint(3, 60))])
                  for _ in range(r.randint(0, 5))]
        doc.versions[0].blocks[1:1] = [*filler, Block("p", [
            Run(text[:3000]), Run(" fett ", bold=True), Run(text[3000:])])]
        docs.append(doc)

    cold, warm = cold_and_warm(docs)
    assert warm == cold + cold


def cold_and_warm(docs) -> tuple[list[bytes], list[bytes]]:
    """Each letter rendered with every shared layout forgotten first (as `audit verify
    --rerender` renders one), and all of them twice over in one warm process."""
    from letters import pdf

    cold = []
    for doc in docs:
        pdf.clear_caches()
        cold.append(pdf.render(doc).pdf)
    pdf.clear_caches()
    return cold, [pdf.render(doc).pdf for doc in docs + docs]


def test_stamped_pages_are_the_pages_laid_out(tmp_path, monkeypatch):
    """Pages that letters share are stamped (laid out once, replayed after): people the
    letters have never seen, each written to three times (other notice IDs), rendered warm in
    one process, give each letter the bytes it gets rendered alone and cold; stamps were
    replayed mid-page, up to a page's end, and with the rest of a paragraph or a list that ends
    a page carried to the next."""
    import dataclasses

    from letters import glyphs, pdf, sample
    from letters.records import read_for

    cfg = config.load(ROOT / "letters.toml")
    records = tmp_path / "people.csv"
    with open(records, "w", encoding="utf-8", newline="") as fh:
        sample.write(fh, 24, seed=7, with_bad_rows=False)
    people = list(read_for(cfg, records).recipients)
    people = [dataclasses.replace(p, large_print=i % 4 == 3) for i, p in enumerate(people)]
    composer = Composer(cfg)
    charset = glyphs.batch_charset(cfg, people)
    docs = []
    for round_ in range(3):
        for i, p in enumerate(people):
            doc = composer.compose(p, notice_id=f"AAA-AA{round_}-{i:03d}", issue_date=ISSUE)
            doc.charset = charset
            docs.append(doc)

    replayed = []
    stamp = pdf._LetterDocTemplate._stamp

    def counting(self, flowables):
        done = stamp(self, flowables)
        replayed.append(done)
        return done

    monkeypatch.setattr(pdf._LetterDocTemplate, "_stamp", counting)
    pdf.clear_caches()
    warm = [pdf.render(doc).pdf for doc in docs]
    kept = list(pdf._STAMPS.values())
    starts = {key[-1][0][0][0] for key in pdf._STAMPS}  # what the first flowable of each is
    checked = list(range(0, len(docs), 3)) + list(range(2 * len(people), len(docs)))
    for i in checked:
        pdf.clear_caches()
        assert pdf.render(docs[i]).pdf == warm[i], f"letter {i}"
    assert sum(replayed) > 5 * len(docs)
    assert any(after is not None for *_, after, split, _ in kept)       # the page goes on
    assert any(after is None and split is None for *_, after, split, _ in kept)
    assert any(split is not None for *_, split, _ in kept)
    assert {"rest", "item", "para", "version"} <= starts  # a paragraph's rest, a list's item


def test_stamps_never_end_with_what_reportlab_keeps_with_the_next_flowable():
    """A paragraph kept with the next one (a form label) goes where the pair fits: a stamp does
    not end with one (what follows it is this letter's own), and what ReportLab cleared on a
    label it kept together is part of the stamp's key. Warm letters are cold letters."""
    from letters import glyphs, pdf
    from letters.compose import Block, Run
    from letters.model import Case

    cfg = config.load(ROOT / "letters.toml")
    composer = Composer(cfg)
    people = []
    for i in range(6):
        offense = "Possession of a Class B substance" + (
            " with intent to distribute in a school zone, second and subsequent offense," * 6
            if i == 5 else "")
        cases = (Case(f"0301CR00010{i}", "Lowell District Court", "Middlesex", offense,
                      "2004-05-06", 2),
                 Case(f"0701CR00020{i}", "Boston Municipal Court, Central Division", "Suffolk",
                      "Distribution of a Class A substance", "2008-11-30", 3))
        people.append(person(defendant_id=f"D{i}", language="en", cases=cases))
    charset = glyphs.batch_charset(cfg, people)
    big = "This paragraph is shared by every letter and runs on and on. " * 120
    label_before_table, chain_broken = [], []
    for i, p in enumerate(people):
        for docs in (label_before_table, chain_broken):
            doc = composer.compose(p, notice_id=f"AAA-AAA-{i:03d}", issue_date=ISSUE,
                                   languages=["en"])
            doc.charset = charset
            docs.append(doc)
        # a label (kept with the next flowable) right before the cases table, which starts
        # low on the page; the last letter's table is taller
        blocks = label_before_table[-1].versions[0].blocks
        at = next(k for k, b in enumerate(blocks) if b.kind == "table")
        blocks[at:at] = [Block("p", [Run("Shared filler text for every letter. " * 15)]),
                         Block("p", [Run("Please check each case in this table:")], cls="label")]
        # a shared label after one of this letter's own: kept with it in five letters, on its
        # own in the last, then a paragraph too tall to share a page with it
        blocks = chain_broken[-1].versions[0].blocks
        at = next(k for k, b in enumerate(blocks) if b.kind == "p" and b.cls == "greeting") + 1
        blocks[at:at] = [Block("pagebreak", []),
                         Block("p", [Run(f"Reference {i}")], cls="p" if i == 5 else "label"),
                         Block("p", [Run("A shared instruction that stays with what follows.")],
                               cls="label"),
                         Block("p", [Run(big)])]
    for docs in (label_before_table, chain_broken):
        cold, warm = cold_and_warm(docs)
        assert warm == cold + cold
        assert len(pdf._STAMPS) > 0


def test_pdf_names_and_texts_written_once_are_what_reportlab_writes():
    """ReportLab's PDF names and text encoding are kept per text (letters.fonts): each gives
    what ReportLab's own function gives, for a name or text seen before or not, short or
    long, and a character the PDF encoding lacks is refused as before."""
    from reportlab.pdfbase import pdfdoc

    from letters import fonts

    fonts.register()
    name, encode = pdfdoc._letters_names
    assert pdfdoc.PDFName is not name and pdfdoc.pdfdocEnc is not encode
    texts = ["Type", "Page", "F1+0", "a b", "(x)", "#", "é", "Ü/%<>", "x" * 65, "", "DejaVu"]
    for _ in range(2):  # unseen, then kept
        for text in texts:
            assert pdfdoc.PDFName(text) == name(text)
            assert pdfdoc.pdfdocEnc(text) == encode(text)
    assert pdfdoc.pdfdocEnc(b"raw") == b"raw"
    assert pdfdoc.PDFName("\u0100") == name("\u0100")
    for _ in range(2):
        with pytest.raises(UnicodeEncodeError):
            pdfdoc.pdfdocEnc("\u4e2d")


def _parsed_both_ways(text, style):
    """(text, fragments) of a paragraph by ReportLab's parser and by the quick parse."""
    from reportlab.platypus.paragraph import Paragraph as ReportLabParagraph
    from reportlab.platypus.paragraph import cleanBlockQuotedText

    from letters import pdf

    pdf.register_fonts()
    quick = pdf._quick_parse(text, style, pdf._style_key(style), cleanBlockQuotedText)
    try:
        reference = ReportLabParagraph(text, style)
    except ValueError:  # ReportLab refuses it (bold in a bold style): so does the quick parse
        assert quick is None
        return None, None
    want = (reference.text, [dict(f.__dict__) for f in reference.frags])
    got = None if quick is None else (quick[0], [dict(f.__dict__) for f in quick[1]])
    return want, got


def test_quick_parse_gives_reportlabs_fragments_for_every_paragraph_of_the_sample():
    """Paragraphs not seen before skip ReportLab's markup parser (``pdf._quick_parse``):
    for every paragraph, list item and table cell of the sample's letters, in every style
    they use, the quick parse gives ReportLab's text and fragments, attribute for attribute."""
    from letters import pdf
    from letters.records import read_for

    cfg = config.load(ROOT / "letters.toml")
    people = list(read_for(cfg, ROOT / "examples" / "records.csv").recipients)[:60]
    composer = Composer(cfg)
    seen, quick = set(), 0
    for p in people:
        doc = composer.compose(p, notice_id="AAA-AAA-001", issue_date=ISSUE)
        for f in _all_paragraphs(doc):
            key = (f.text, id(f.style))
            if key in seen:
                continue
            seen.add(key)
            want, got = _parsed_both_ways(pdf.markup(f.runs) if hasattr(f, "runs") else f.text,
                                          f.style)
            if got is not None:
                quick += 1
                assert got == want, f.text
    assert len(seen) > 300 and quick > 0.9 * len(seen)


def _all_paragraphs(doc):
    """Every paragraph a letter lays out (built as the renderer builds them), table cells and
    list items included."""
    from reportlab.platypus import ListFlowable

    from letters import pdf

    width = pdf.PAGE_WIDTH - 2 * pdf.MARGIN
    st = pdf.styles(doc.font_size)
    story = [f for v in doc.versions for f in pdf._flowables(v.blocks, width, st)]
    story += pdf._form_flowables(list(doc.form), doc.notice_id, width, st)

    def walk(f):
        if isinstance(f, pdf.Paragraph):
            yield f
        elif isinstance(f, pdf._Grid):
            for row in f.rows:
                for cell in row:
                    for x in cell:
                        yield from walk(x)
        elif isinstance(f, ListFlowable):
            for item in f._flowables:
                for x in getattr(item, "_flowables", [item]):
                    yield from walk(x)
        else:
            for x in getattr(f, "_content", []) or []:
                yield from walk(x)

    for f in story:
        yield from walk(f)


_RUN_TEXT = ["a", "Peña", " ", "  x  ", "\n", "\t", "é ü", "A & B", "<", ">", "x\u00a0y",
             "\u2003", "word.", ""]


@pytest.mark.parametrize("seed", range(6))
def test_quick_parse_gives_reportlabs_fragments_for_generated_markup(seed):
    """Runs of every kind (bold, italic, underlined, line breaks; spaces at their edges and
    inside, no-break and other spaces, characters markup() escapes) give the text and
    fragments ReportLab's parser gives, or go to it (a character reference)."""
    import random

    from letters import pdf
    from letters.compose import Run

    rng = random.Random(seed)
    styles = list(pdf.styles(12.0).values()) + list(pdf.styles(18.0).values())[:3]
    quick = 0
    for _ in range(250):
        runs = [Run("\n") if rng.random() < 0.1 else
                Run(rng.choice(_RUN_TEXT) + rng.choice(_RUN_TEXT), bold=rng.random() < 0.4,
                    italic=rng.random() < 0.2, underline=rng.random() < 0.2)
                for _ in range(rng.randint(0, 5))]
        text = pdf.markup(runs)
        for raw in (text, text.replace("<b>", "<i><b>", 1).replace("</b>", "</b></i>", 1)):
            want, got = _parsed_both_ways(raw, rng.choice(styles))
            if got is not None:
                quick += 1
                assert got == want, raw
    assert quick > 120


def test_long_ascii_texts_and_unicode_maps_are_what_reportlab_writes():
    """Long texts (a page's stream in ASCII85) are encoded as ASCII where that is the PDF
    encoding, and a subset's ToUnicode map is made once: the same bytes as ReportLab's."""
    from reportlab.pdfbase import pdfdoc, ttfonts

    from letters import fonts

    fonts.register()
    _, encode = pdfdoc._letters_names
    for text in ["<~" + "9jqo^BlbD-BleB1DJ+*+F(f,q/0JhKF<GL>Cj@.4Gp$d7F!,L7@<6@)" * 3 + "~>",
                 "x" * 65 + "\x18", "é" * 70, "line\nline\r\n\t" * 10]:
        try:
            want = encode(text)
        except UnicodeEncodeError:
            with pytest.raises(UnicodeEncodeError):
                pdfdoc.pdfdocEnc(text)
            continue
        assert pdfdoc.pdfdocEnc(text) == want
    subset = [0, 32, 65, 233, 8212]
    made = ttfonts.makeToUnicodeCMap("AAAAAA+DejaVuSans", subset)
    assert made == ttfonts.makeToUnicodeCMap("AAAAAA+DejaVuSans", list(subset)) == \
        ttfonts._letters_make_cmap("AAAAAA+DejaVuSans", subset)
    assert ttfonts._letters_make_cmap is not ttfonts.makeToUnicodeCMap
    assert "<04> <2014>" in made and made.startswith("/CIDInit")


def test_remembered_widths_are_reportlab_s_and_as_shipped_undoes_every_memo():
    """A face remembers the widths it measured: the same numbers ReportLab computes, for
    texts seen before or not, in any size; ``as_shipped`` gives ReportLab's own functions back
    for a block (the benchmark's plain side) and the memos after it."""
    from reportlab.pdfbase import pdfdoc, pdfmetrics, ttfonts
    from reportlab.pdfbase.ttfonts import TTFont

    from letters import fonts, pdf

    fonts.register()
    font = pdfmetrics.getFont(pdf.FONT)
    texts = ["", " ", "-", "Court", "Tribunal de Distrito de Brockton", "Ñandú résumé ‘q’",
             "ND0000151", "1215CR002656", "x" * 300]
    for size in (8, 8.5, 10, 10.5, 12, 18):
        for text in texts + texts:  # the second time from the memo
            want = TTFont.stringWidth(font, text, size)
            assert pdfmetrics.stringWidth(text, pdf.FONT, size) == want
            assert font.stringWidth(text, size) == want
    bold = pdfmetrics.getFont(f"{pdf.FONT}-Bold")
    for text in texts:  # each face its own widths
        assert bold.stringWidth(text, 10) == TTFont.stringWidth(bold, text, 10)
    assert bold.stringWidth("Court", 10) != font.stringWidth("Court", 10)
    for text, encoding in ((b"Court", "utf8"), ("Ñandú".encode("latin-1"), "latin-1")):
        assert font.stringWidth(text, 10, encoding) == \
            TTFont.stringWidth(font, text, 10, encoding)
    assert "stringWidth" in font.__dict__
    memos = (font.__dict__["stringWidth"], pdfdoc.PDFName, pdfdoc.pdfdocEnc,
             ttfonts.makeToUnicodeCMap, pdfdoc.PDFStreamFilterZCompress.encode)
    with fonts.as_shipped():
        assert "stringWidth" not in font.__dict__ and "addObjects" not in font.__dict__
        assert "makeSubset" not in font.face.__dict__
        assert (pdfdoc.PDFName, pdfdoc.pdfdocEnc) == pdfdoc._letters_names
        assert ttfonts.makeToUnicodeCMap is ttfonts._letters_make_cmap
        assert pdfdoc.PDFStreamFilterZCompress.encode is \
            pdfdoc.PDFStreamFilterZCompress._letters_memo
        assert pdfmetrics.stringWidth("Court", pdf.FONT, 10) == \
            TTFont.stringWidth(font, "Court", 10)
        assert pdfdoc.PDFName.__module__ == "reportlab.pdfbase.pdfdoc"
        assert ttfonts.makeToUnicodeCMap.__module__ == "reportlab.pdfbase.ttfonts"
        assert pdfdoc.PDFStreamFilterZCompress.encode.__module__ == "reportlab.pdfbase.pdfdoc"
        with fonts.as_shipped():  # nested: still as shipped, and so after it
            assert "stringWidth" not in font.__dict__
        assert "stringWidth" not in font.__dict__
    with pytest.raises(RuntimeError), fonts.as_shipped():
        raise RuntimeError("a failure inside the block")
    assert (font.__dict__["stringWidth"], pdfdoc.PDFName, pdfdoc.pdfdocEnc,
            ttfonts.makeToUnicodeCMap, pdfdoc.PDFStreamFilterZCompress.encode) == memos
    assert "addObjects" in font.__dict__ and "makeSubset" in font.face.__dict__


def test_the_undrawable_pattern_finds_exactly_what_the_font_lacks():
    """The letter's text is checked at once with a pattern of the font's code points: for
    every character it agrees with the font's own set (drawable, or not)."""
    from letters import pdf

    pdf.register_fonts()
    drawable, pattern = pdf._drawable_chars(), pdf._undrawable()
    disagree = [c for c in range(0x30000)
                if (pattern.search(chr(c)) is None) != (chr(c) in drawable)]
    assert disagree == [] and len(drawable) > 3000
    assert pattern.search("Peña, Nguyễn, Дмитрий, Kreyòl") is None
    assert pattern.search("王 Wang").group(0) == "王"


class _NoHits(dict):
    """A cache that never has what is asked for and keeps nothing."""

    def get(self, key, default=None):
        return default

    def __setitem__(self, key, value):
        pass

    def move_to_end(self, key, last=True):
        pass


def _sample_docs(count: int, cases_at_least: int = 1):
    import dataclasses

    from letters import glyphs
    from letters.records import read_for

    cfg = config.load(ROOT / "letters.toml")
    people = [p for p in read_for(cfg, ROOT / "examples" / "records.csv").recipients
              if len(p.cases) >= cases_at_least][:count]
    people += [dataclasses.replace(p, large_print=True) for p in people[:2]]
    charset = glyphs.batch_charset(cfg, people)
    composer = Composer(cfg)
    docs = []
    for i, p in enumerate(people):
        doc = composer.compose(p, notice_id=f"AAA-AAA-{i:03d}", issue_date=ISSUE)
        doc.charset = charset
        docs.append(doc)
    return docs


def test_paragraphs_replayed_at_other_places_give_the_bytes_drawn_there(monkeypatch):
    """A paragraph drawn once is replayed wherever the same lines are drawn again, at any
    origin (a table cell in another row, a later page): letters with several cases, rendered
    warm with replays, are the bytes they are with nothing ever replayed."""
    from letters import pdf

    docs = _sample_docs(10, cases_at_least=3)
    assert len(docs) >= 10
    pdf.clear_caches()
    replayed = []
    original_get = pdf._DRAWN.get
    monkeypatch.setattr(pdf._DRAWN, "get", lambda key, default=None: replayed.append(
        key) or original_get(key, default))
    warm = [pdf.render(doc).pdf for doc in docs + docs]
    hits = [k for k in replayed if original_get(k) is not None]
    assert len(hits) > 100  # replays happened, at origins other than the first
    monkeypatch.undo()
    monkeypatch.setattr(pdf, "_DRAWN", _NoHits())
    monkeypatch.setattr(pdf, "_STAMPS", _NoHits())
    pdf.clear_caches()
    never = [pdf.render(doc).pdf for doc in docs + docs]
    assert warm == never


def test_letters_are_the_same_bytes_with_the_quick_parse_and_without(monkeypatch):
    """Paragraph fragments made by the quick parse give whole letters byte for byte the same
    as ReportLab's parser's."""
    from letters import pdf

    docs = _sample_docs(8)
    pdf.clear_caches()
    quick = [pdf.render(doc).pdf for doc in docs]
    monkeypatch.setattr(pdf, "QUICK_PARSE", False)
    pdf.clear_caches()
    assert [pdf.render(doc).pdf for doc in docs] == quick


def test_a_cell_with_a_line_reportlab_takes_for_space_stays_one_paragraph():
    """A line of only what ReportLab takes for space (a zero-width space, which Python's
    strip() keeps) is an empty line in one paragraph: the cell keeps it as one, so the line
    still takes its height. An empty table prints nothing."""
    from letters import pdf
    from letters.compose import Block, Run

    pdf.register_fonts()
    st = pdf.styles(12)
    for space in ("\u200b", "\u3000", " \t"):
        runs = [Run("x"), Run("\n"), Run(space), Run("\n"), Run("y")]
        (one,) = pdf._cell(runs, st["cell"])
        assert one.wrap(200, 1000)[1] == 3 * st["cell"].leading
    assert [p.text for p in pdf._cell([Run("x"), Run("\n"), Run("y")], st["cell"])] == ["x", "y"]
    assert pdf._table(Block("table"), 400, st) is None
    assert pdf._unkeyed_flowables([Block("table")], 400, st) == []


def _reportlab_table(block, width, st):
    """The cases table as it was made with ReportLab's Table (before ``pdf._Grid``), the
    reference for where the grid puts each word."""
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    from letters import pdf

    header = [[pdf.Paragraph(pdf.markup(c), st["th"]) for c in row] for row in block.header]
    rows = [[pdf.Paragraph(pdf.markup(c), st["cell"]) for c in row] for row in block.rows]
    n = max(len(r) for r in header + rows)
    shares = pdf.CASE_COLUMN_SHARES.get(n, (1 / n,) * n)
    table = Table(header + rows, colWidths=[width * s for s in shares], repeatRows=len(header),
                  hAlign="LEFT")
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), pdf.FONT),
        ("FONT", (0, 0), (-1, -1), pdf.FONT, st["cell"].fontSize),
        ("GRID", (0, 0), (-1, -1), 0.5, colors.Color(0.35, 0.35, 0.35)),
        ("BACKGROUND", (0, 0), (-1, len(header) - 1), colors.Color(0.9, 0.9, 0.9)),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ("LEFTPADDING", (0, 0), (-1, -1), 4), ("RIGHTPADDING", (0, 0), (-1, -1), 4),
    ]))
    table.spaceAfter = 10
    return table


@pytest.mark.parametrize("count", [3, 30])
def test_cases_table_puts_every_word_where_reportlabs_table_does(composer, monkeypatch, count):
    """The grid lays the cases table out as ReportLab's Table did: the same pages, and every
    word (docket numbers, courts, the repeated header) at the same place on each."""
    from letters import pdf

    cases = tuple(Case(f"09{n:02d}CR{n:06d}", "Boston Municipal Court, Central Division",
                       "Suffolk", "Possession of a Class B substance with intent to distribute",
                       "2009-01-15", n + 1) for n in range(1, count + 1))
    r = person(language="es", cases=cases)
    _, grid = letter(composer, r)
    monkeypatch.setattr(pdf, "_table", _reportlab_table)
    _, table = letter(composer, r)
    assert grid.pages == table.pages
    for page in range(1, grid.pages + 1):
        assert sorted(word_boxes(grid.pdf, page)) == sorted(word_boxes(table.pdf, page))
