"""Print files joined at the byte level (letters.pdfjoin): the letters' own bytes, fonts once."""

from __future__ import annotations

import datetime as dt
import gc
import io
import subprocess

import pikepdf
import pytest

from letters import config, glyphs, imb, pdfjoin, printshop
from letters.compose import Composer
from letters.pdf import render
from letters.records import read_for
from letters.store import sha256_file
from tests.conftest import ROOT

ISSUE = dt.date(2026, 12, 1)


@pytest.fixture(scope="module")
def copies():
    """Retained copies of a dozen sample letters of one batch (its character set), and two
    letters with subsets of their own (rendered without the batch's set)."""
    cfg = config.load(ROOT / "letters.toml")
    people = list(read_for(cfg, ROOT / "examples" / "records.csv").recipients)[:14]
    charset = glyphs.batch_charset(cfg, people)
    composer = Composer(cfg)
    out = []
    for i, p in enumerate(people):
        doc = composer.compose(p, notice_id=f"AAA-AAA-{i:03d}", issue_date=ISSUE)
        doc.charset = charset if i < 12 else ""
        out.append(render(doc).pdf)
    return out


def _pages(data: bytes) -> list[tuple[bytes, tuple]]:
    """Each page's content stream as stored, and its fonts' base names and programs."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        out = []
        for page in pdf.pages:
            fonts = tuple(sorted((str(name), str(f.BaseFont)[7:],
                                  bytes(f.FontDescriptor.FontFile2.read_raw_bytes()))
                                 for name, f in page.Resources.Font.items()))
            out.append((bytes(page.obj.Contents.read_raw_bytes()), fonts))
        return out


def _text(data: bytes, tmp_path, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          check=True).stdout.decode("utf-8")


def test_joined_pages_are_the_letters_pages_byte_for_byte(copies, tmp_path):
    """Every page of the print file is its letter's page: the same content stream bytes, the
    same fonts (programs byte for byte); the file is valid (qpdf), reads as the pikepdf merge
    reads, and the same letters give the same bytes."""
    joined = pdfjoin.join(copies)
    assert joined is not None and joined == pdfjoin.join(copies)
    want = [page for data in copies for page in _pages(data)]
    assert _pages(joined) == want
    assert _text(joined, tmp_path, "joined.pdf") == \
        _text(printshop._merged(copies), tmp_path, "merged.pdf")
    (tmp_path / "check.pdf").write_bytes(joined)
    check = subprocess.run(["qpdf", "--check", str(tmp_path / "check.pdf")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_joining_leaves_nothing_for_the_garbage_collector(copies):
    """Joining frees the letters' bytes and the print file's parts as it returns, whether it
    joined them or refused one: nothing is left in a reference cycle, which only the garbage
    collector's occasional full pass frees (a process joining one print file after another
    held hundreds of megabytes so)."""
    odd = copies[0].replace(b"/Type /Page\n", b"/Type /Page /Annots [ ]\n", 1)
    gc.collect()
    gc.disable()
    try:
        for sources, joins in ((copies[:4], True), ([copies[1], odd], False)):
            assert (pdfjoin.join(sources) is not None) == joins
            assert gc.collect() == 0
    finally:
        gc.enable()


def test_each_subset_is_kept_once_with_a_tag_of_its_own(copies):
    """The batch's letters share one subset per face; the two letters rendered without the
    batch's set have their own. Each distinct subset is in the file once, font and
    descriptor named alike, with a tag drawn from its content: the same in another file."""
    joined = pdfjoin.join(copies)
    with pikepdf.open(io.BytesIO(joined)) as pdf:
        fonts = {}
        for page in pdf.pages:
            for font in page.Resources.Font.values():
                fonts[font.objgen] = font
        programs = {bytes(f.FontDescriptor.FontFile2.read_raw_bytes()) for f in fonts.values()}
        assert len(fonts) == len(programs) >= 4  # one object per distinct subset
        names = [str(f.BaseFont) for f in fonts.values()]
        assert len(set(names)) == len(names)
        assert all(str(f.FontDescriptor.FontName) == str(f.BaseFont) for f in fonts.values())
        batch_names = {str(f.BaseFont) for f in fonts.values()
                       if bytes(f.FontDescriptor.FontFile2.read_raw_bytes())
                       in {p[2] for _, fs in _pages(copies[0]) for p in fs}}
    with pikepdf.open(io.BytesIO(pdfjoin.join(copies[3:7]))) as pdf:
        again = {str(f.BaseFont) for page in pdf.pages for f in page.Resources.Font.values()}
    assert again == batch_names and len(again) == 2


def test_a_pdf_laid_out_otherwise_goes_to_the_pikepdf_merge(copies, tmp_path):
    """A copy the joiner does not know (here: saved by qpdf with object streams) is not
    joined; the print file is then merged by pikepdf, with the same pages."""
    buf = io.BytesIO()
    with pikepdf.open(io.BytesIO(copies[1])) as pdf:
        pdf.save(buf, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    other = buf.getvalue()
    assert pdfjoin.join([copies[0], other]) is None
    assert pdfjoin.join([b"not a pdf"]) is None
    sources = []
    for i, data in enumerate([copies[0], other]):
        sources.append(tmp_path / f"{i}.pdf")
        sources[-1].write_bytes(data)
    target = tmp_path / "print.pdf"
    printshop._merge_print_file((str(target), [(str(p), sha256_file(p)) for p in sources]))

    def contents(data: bytes) -> list[bytes]:  # decoded: qpdf wrote the second one anew
        with pikepdf.open(io.BytesIO(data)) as pdf:
            return [bytes(page.obj.Contents.read_bytes()) for page in pdf.pages]

    assert contents(target.read_bytes()) == contents(copies[0]) + contents(copies[1])


def test_a_reference_written_otherwise_or_too_deep_goes_to_the_pikepdf_merge(copies):
    """A reference spelled otherwise than ``N 0 R`` (valid PDF, never written by ReportLab)
    would be left pointing at another object: the joiner refuses the copy instead. So it does
    for a chain of references too deep to follow."""
    first = copies[0]
    at = first.index(b"/Contents ") + len(b"/Contents ")
    number = first[at:first.index(b" 0 R", at)]
    for spelling in (b" 0\nR", b"  0 R", b" 00 R", b" 0\tR"):
        odd = first[:at] + number + spelling + first[at + len(number) + 4:]
        assert len(odd) == len(first) + len(spelling) - 4
        odd = odd if len(spelling) == 4 else _fix_offsets(odd)
        assert pdfjoin.join([copies[1], odd]) is None, spelling
    deep = _deep_chain(2000)
    assert pdfjoin.join([deep]) is None


def _fix_offsets(data: bytes) -> bytes:
    """The same PDF with its cross-reference table written again (pikepdf would do it, but
    would also respell the reference)."""
    import re

    body_end = data.rindex(b"\nxref\n") + 1
    offsets = {int(m.group(1)): m.start() for m in re.finditer(rb"(?m)^(\d+) 0 obj\n",
                                                               data[:body_end])}
    count = max(offsets) + 1
    xref = b"xref\n0 %d\n0000000000 65535 f \n" % count + b"".join(
        b"%010d 00000 n \n" % offsets[n] for n in range(1, count))
    trailer = data[data.index(b"trailer", body_end):data.index(b"startxref", body_end)]
    return data[:body_end] + xref + trailer + b"startxref\n%d\n%%%%EOF\n" % body_end


def _deep_chain(depth: int) -> bytes:
    """A one-page PDF whose page refers to an array that refers to another, ``depth`` deep."""
    objects = [b"<< /Pages 2 0 R /Type /Catalog >>",
               b"<< /Count 1 /Kids [ 3 0 R ] /Type /Pages >>",
               b"<< /MediaBox [ 0 0 612 792 ] /Parent 2 0 R /Resources 4 0 R /Type /Page >>"]
    for n in range(4, 4 + depth):
        objects.append(b"[ %d 0 R ]" % (n + 1))
    objects.append(b"<< >>")
    out = [b"%PDF-1.4\n"]
    offsets = []
    size = len(out[0])
    for n, value in enumerate(objects, start=1):
        chunk = b"%d 0 obj\n" % n + value + b"\nendobj\n"
        offsets.append(size)
        out.append(chunk)
        size += len(chunk)
    xref = b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1) + b"".join(
        b"%010d 00000 n \n" % o for o in offsets)
    return b"".join(out) + xref + (b"trailer\n<< /Root 1 0 R /Size %d >>\nstartxref\n%d\n%%%%EOF\n"
                                   % (len(objects) + 1, size))


@pytest.mark.parametrize("kind", ["proof", "imb", "duplex", "large print"])
def test_letters_of_every_kind_join_as_they_are(kind, tmp_path):
    """Proofs (a transparent watermark: a graphics state resource), letters with an
    Intelligent Mail barcode, duplex letters padded with a blank page and large print join
    page for page as the letters are, valid for qpdf and readable as the pikepdf merge."""
    import dataclasses

    cfg = config.load(ROOT / "letters.toml")
    people = list(read_for(cfg, ROOT / "examples" / "records.csv").recipients)[:5]
    if kind == "large print":
        people = [dataclasses.replace(p, large_print=True) for p in people]
    charset = glyphs.batch_charset(cfg, people)
    composer = Composer(cfg)
    made = []
    for i, p in enumerate(people):
        doc = composer.compose(p, notice_id=f"AAA-AAA-{i:03d}", issue_date=ISSUE,
                               proof=kind == "proof")
        doc.charset = charset
        doc.duplex = kind == "duplex"
        if kind == "imb":
            doc.imb = imb.value("00", "300", "123456", i + 1, "02134-1234")
        made.append(render(doc).pdf)
    joined = pdfjoin.join(made)
    assert joined is not None
    assert _pages(joined) == [page for data in made for page in _pages(data)]
    assert _text(joined, tmp_path, "j.pdf") == _text(printshop._merged(made), tmp_path, "m.pdf")
    (tmp_path / "c.pdf").write_bytes(joined)
    check = subprocess.run(["qpdf", "--check", str(tmp_path / "c.pdf")], capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert joined.count(b"endstream") == joined.count(b"\nendstream")


def test_the_pikepdf_merge_visits_fonts_in_a_fixed_order():
    """Sharing fonts in the pikepdf merge meets them in one order, whatever the run: depth
    first, each page in turn, a form's fonts as soon as the form is met (a form met again
    is not visited twice), and names sorted (pikepdf gives a dictionary's keys as a set,
    whose order changes with Python's hash seed). The first of two subsets that draw the
    same tag keeps it, so the order decides the print file's bytes."""
    pdf = pikepdf.Pdf.new()

    def font(label: str):
        return pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Font,
                                                    BaseFont=pikepdf.Name("/" + label)))

    def form(label: str, forms=None):
        resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(
            {f"/{label}{i}": font(f"{label}{i}") for i in range(3)}))
        if forms:
            resources.XObject = pikepdf.Dictionary(forms)
        stream = pikepdf.Stream(pdf, b"")
        stream.Type, stream.Subtype, stream.Resources = \
            pikepdf.Name.XObject, pikepdf.Name.Form, resources
        return pdf.make_indirect(stream)

    b, d = form("B"), form("D")
    a = form("A", {"/X1": b, "/X2": d})
    page = pikepdf.Dictionary(Type=pikepdf.Name.Page, MediaBox=[0, 0, 612, 792],
                              Resources=pikepdf.Dictionary(
                                  Font=pikepdf.Dictionary(
                                      {f"/F{i}": font(f"P{i}") for i in range(9)}),
                                  XObject=pikepdf.Dictionary({"/Xa": a, "/Xb": b})))
    pdf.pages.append(pikepdf.Page(page))
    pdf.pages.append(pikepdf.Page(pikepdf.Dictionary(
        Type=pikepdf.Name.Page, MediaBox=[0, 0, 612, 792],
        Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary({"/Xd": d})))))

    class Recorder:
        def __init__(self):
            self.kept = []

        def keep(self, f):
            self.kept.append(str(f.BaseFont)[1:])
            return f

    recorder = Recorder()
    printshop._share_fonts(pdf, recorder)
    assert recorder.kept == [f"P{i}" for i in range(9)] + \
        [f"{label}{i}" for label in "ABD" for i in range(3)]
