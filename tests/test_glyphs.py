"""The batch's character set (letters.glyphs): every letter of a batch embeds the same font
subsets, a character outside the set still prints, and the print merge keeps one copy of each
subset with a tag drawn from its content."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
import subprocess

import pikepdf
import pytest

from letters import config, glyphs
from letters.compose import Composer
from letters.pdf import render
from letters.printshop import _merge_print_file
from letters.records import read_for
from letters.store import sha256_file
from tests.conftest import ROOT

ISSUE = dt.date(2026, 12, 1)


@pytest.fixture(scope="module")
def sample():
    cfg = config.load(ROOT / "letters.toml")
    people = list(read_for(cfg, ROOT / "examples" / "records.csv").recipients)
    return cfg, people, Composer(cfg)


def fonts_of(pdf_bytes: bytes) -> dict[str, tuple[bytes, str]]:
    """face -> (font program as stored, characters it maps) of a PDF's fonts."""
    out = {}
    with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
        for page in pdf.pages:
            for font in page.Resources.Font.values():
                face = str(font.BaseFont).split("+")[1]
                cmap = font.ToUnicode.read_bytes().decode()
                chars = "".join(chr(int(u, 16)) for u in
                                re.findall(r"<[0-9A-F]{2}> <([0-9A-F]{4})>", cmap))
                out[face] = (font.FontDescriptor.FontFile2.read_raw_bytes(), chars)
    return out


def letter(composer, person, charset: str, notice_id: str = "ABC-DEF-GHJ") -> bytes:
    doc = composer.compose(person, notice_id=notice_id, issue_date=ISSUE)
    doc.charset = charset
    return render(doc).pdf


def test_charset_covers_the_languages_records_and_capitals(sample):
    cfg, people, composer = sample
    charset = glyphs.batch_charset(cfg, people)
    assert charset == "".join(sorted(set(charset)))  # code-point order, once each
    assert set(" AZaz09") <= set(charset)
    assert set("ñãçõ") <= set(charset)             # Spanish and Portuguese letters
    assert "•" in charset and "☐" in charset        # list bullets and form boxes
    names = "".join(p.first_name + p.last_name + p.address.city for p in people)
    assert set(names) | set(names.upper()) <= set(charset) | {"\n"}
    # a batch of English letters to English speakers needs no Portuguese letters beyond those
    # its taglines and records use; adding a Portuguese reader adds them
    english = [p for p in people if p.language == "en"][:3]
    plain = glyphs.batch_charset(cfg, english)
    portuguese = next(p for p in people if p.language == "pt")
    assert set(glyphs.batch_charset(cfg, english + [portuguese])) > set(plain)


def test_letters_of_a_batch_embed_identical_subsets(sample):
    cfg, people, composer = sample
    charset = glyphs.batch_charset(cfg, people)
    spanish = next(p for p in people if p.language == "es")
    english = next(p for p in people if p.language == "en")
    a = fonts_of(letter(composer, spanish, charset))
    b = fonts_of(letter(composer, english, charset, "XYZ-XYZ-XYZ"))
    assert set(a) == set(b) == {"DejaVuSans", "DejaVuSans-Bold"}
    for face in a:
        assert a[face] == b[face], face
        assert set(charset) <= set(a[face][1]) | {"\u00a0"}
    # without the batch's set each letter embeds only what it draws: they differ
    c = fonts_of(letter(composer, spanish, ""))
    d = fonts_of(letter(composer, english, "", "XYZ-XYZ-XYZ"))
    assert c["DejaVuSans"] != d["DejaVuSans"]
    assert len(c["DejaVuSans"][0]) < len(a["DejaVuSans"][0])


def test_a_character_outside_the_set_still_prints(sample, tmp_path):
    cfg, people, composer = sample
    person = next(p for p in people if p.language == "en")
    charset = glyphs.batch_charset(cfg, [person])
    assert "Ø" not in charset
    odd = dataclasses.replace(person, first_name="Øyvind", last_name="Ødegård")
    pdf = letter(composer, odd, charset)
    path = tmp_path / "odd.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "ØYVIND" in text and "ØDEGÅRD" in text and "Dear Øyvind" in text
    faces = fonts_of(pdf)
    assert "Ø" in faces["DejaVuSans"][1] and faces["DejaVuSans"][1].startswith(
        fonts_of(letter(composer, person, charset))["DejaVuSans"][1])


def test_merge_keeps_one_copy_of_each_subset_tagged_by_content(sample, tmp_path):
    cfg, people, composer = sample
    charset = glyphs.batch_charset(cfg, people)
    shared = [letter(composer, p, charset, f"AAA-AAA-AA{i}") for i, p in enumerate(people[:4])]
    own = [letter(composer, p, "", f"BBB-BBB-BB{i}") for i, p in enumerate(people[:3])]
    paths = []
    for i, pdf in enumerate(shared + own):
        paths.append(tmp_path / f"{i}.pdf")
        paths[-1].write_bytes(pdf)

    def merged_fonts(target, sources):
        _merge_print_file((str(target), [(str(p), sha256_file(p)) for p in sources]))
        with pikepdf.open(target) as pdf:
            fonts = {}
            for page in pdf.pages:
                for font in page.Resources.Font.values():
                    fonts[font.objgen] = (str(font.BaseFont),
                                          str(font.FontDescriptor.FontName))
            return sorted(fonts.values())

    one = merged_fonts(tmp_path / "one.pdf", paths[:4])
    assert sorted(b.split("+")[1] for b, _ in one) == ["DejaVuSans", "DejaVuSans-Bold"]
    assert all(base == name for base, name in one)
    # letters with subsets of their own keep one each, every one under a tag of its own
    mixed = merged_fonts(tmp_path / "mixed.pdf", paths)
    tags = [b for b, _ in mixed]
    assert len(tags) == len(set(tags)) and len(tags) > len(one)
    # the same subset has the same tag in another print file
    assert set(one) <= set(mixed)
    check = subprocess.run(["qpdf", "--check", str(tmp_path / "mixed.pdf")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


def test_characters_drawn_as_they_are_not_only_in_nfc_are_in_the_set(sample, tmp_path):
    # the set is NFC-normalised text, but a letter draws some text that is not NFC: capitals
    # of a name ("ΐ".upper() is Ι + U+0308 + U+0301, which NFC composes to Ϊ + U+0301) and a
    # configuration, template or catalog typed with combining accents. Those characters must
    # be in the set too, or the letter embeds subsets of its own.
    cfg, people, composer = sample
    person = next(p for p in people if p.language == "en")
    greek = dataclasses.replace(person, last_name="Ευΐππου")
    charset = glyphs.batch_charset(cfg, [person, greek])
    assert {"\u0399", "\u0308", "\u0301"} <= set(charset)
    a = fonts_of(letter(composer, greek, charset))
    b = fonts_of(letter(composer, person, charset, "XYZ-XYZ-XYZ"))
    assert a == b
    decomposed = tmp_path / "letters.toml"
    decomposed.write_text(cfg.source.read_text(encoding="utf-8").replace(
        "Jordan A. Rivera", "Jose\u0301 A. Rivera"), encoding="utf-8")
    assert "\u0301" in glyphs.batch_charset(dataclasses.replace(cfg, source=decomposed),
                                            [person])


def test_merge_shares_fonts_reached_through_form_xobjects(sample, tmp_path):
    """A page that draws its text through a form XObject (letters draw none today, other
    producers do) has its fonts shared and tagged like any other."""
    cfg, people, composer = sample
    charset = glyphs.batch_charset(cfg, people)
    paths = []
    for i, p in enumerate(people[:3]):
        pdf = pikepdf.open(io.BytesIO(letter(composer, p, charset, f"CCC-CCC-CC{i}")))
        for page in pdf.pages:
            contents = page.obj.Contents
            data = b"".join(c.read_bytes() for c in contents) \
                if isinstance(contents, pikepdf.Array) else contents.read_bytes()
            form = pikepdf.Stream(pdf, data)
            form.Type, form.Subtype = pikepdf.Name.XObject, pikepdf.Name.Form
            form.BBox, form.Resources = page.obj.MediaBox, page.obj.Resources
            page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(
                Fm0=pdf.make_indirect(form)))
            page.obj.Contents = pdf.make_stream(b"q /Fm0 Do Q")
        paths.append(tmp_path / f"{i}.pdf")
        pdf.save(paths[-1])
    target = tmp_path / "merged.pdf"
    _merge_print_file((str(target), [(str(p), sha256_file(p)) for p in paths]))
    listed = subprocess.run(["pdffonts", str(target)], capture_output=True, text=True,
                            check=True).stdout.splitlines()[2:]
    names = sorted(line.split()[0] for line in listed)
    assert len(names) == 2 and not any(n.startswith("AAAAAA+") for n in names), names


def test_a_seeded_document_has_the_codes_reportlab_gives_and_its_own_copy_of_them():
    """Seeding copies the state ReportLab's own ``splitString`` of the set leaves (made once
    per face and set): the same codes and subsets; a character one letter adds later is that
    letter's alone."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.pdfdoc import PDFDocument

    from letters import pdf

    pdf.register_fonts()
    charset = "".join(sorted(set("Aviso importante: ¿Qué pasó? Página 1 de 6 – “ñ” €")))
    faces = list(pdf.FONT_FILES)
    reference, first, second = PDFDocument(), PDFDocument(), PDFDocument()
    for name in faces:
        pdfmetrics.getFont(name).splitString(charset, reference)
    glyphs.seed(first, charset, faces)
    glyphs.seed(second, charset, faces)
    for name in faces:
        font = pdfmetrics.getFont(name)
        want = font.state[reference]
        for doc in (first, second):
            got = font.state[doc]
            assert (got.assignments, got.subsets, got.nextCode, got.frozen,
                    got.internalName) == (want.assignments, want.subsets, want.nextCode,
                                          want.frozen, want.internalName)
    font = pdfmetrics.getFont(faces[0])
    font.splitString("Ж", first)
    assert ord("Ж") in font.state[first].assignments
    assert ord("Ж") not in font.state[second].assignments
    assert font.state[second].subsets == font.state[reference].subsets
