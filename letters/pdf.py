"""Render a composed letter to a print-ready, deterministic PDF with ReportLab.

Layout (US Letter, tri-folded into a standard #10 double-window envelope):

- page 1: the office's return address inside the upper window, the recipient's name and address
  inside the lower window, the date and notice ID at the top right, and, right of the address
  window, a line in the other language saying where its version begins;
- every page: the notice ID and "Page X of Y" (in that page's language) in the footer, and for
  proofs a "PROOF – NOT FOR MAILING" watermark;
- the body (templates' HTML subset) in one frame below the fold on page 1 and a full frame after;
  the cases table repeats its header on every page it spans; each language version starts on a
  new page.

Determinism: ReportLab's invariant mode, the issue date as the PDF creation date, fonts embedded
from the bundled DejaVu Sans, and no clock, randomness or dict-order dependence: the same
document gives the same bytes. Fonts are registered once per process.
"""

from __future__ import annotations

import io
import threading
import unicodedata
from dataclasses import dataclass
from importlib import resources
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import letter
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate, CondPageBreak, Flowable, Frame, KeepTogether, ListFlowable, ListItem,
    PageBreak, PageTemplate, Paragraph, Table, TableStyle,
)
from reportlab.platypus.flowables import HRFlowable

from letters import __version__
from letters.compose import PAGE_SENTINEL, Block, Document, Run
from letters.errors import LettersError

PAGE_WIDTH, PAGE_HEIGHT = letter
FOLD = PAGE_HEIGHT / 3


@dataclass(frozen=True)
class Rect:
    """A rectangle in PDF points, origin at the sheet's bottom-left corner."""

    x: float
    y: float
    width: float
    height: float

    @classmethod
    def from_top(cls, left: float, top: float, width: float, height: float) -> "Rect":
        """A rectangle given in inches from the sheet's top-left corner."""
        return cls(left * inch, PAGE_HEIGHT - (top + height) * inch, width * inch, height * inch)

    def contains(self, x0: float, y0: float, x1: float, y1: float) -> bool:
        return self.x <= x0 and x1 <= self.x + self.width and self.y <= y0 and \
            y1 <= self.y + self.height


# Windows of a standard #10 double-window envelope (9½ × 4⅛ in), as they fall on a US Letter
# sheet tri-folded with the address panel outward. Text keeps ⅛ in clear of every edge so that
# it stays visible when the sheet shifts inside the envelope.
RETURN_WINDOW = Rect.from_top(0.5, 0.5, 3.5, 0.875)
ADDRESS_WINDOW = Rect.from_top(0.75, 2.0, 4.0, 1.125)
WINDOW_CLEARANCE = 0.125 * inch
MARGIN = 1.0 * inch
BODY_TOP_FIRST = 3.45 * inch      # below the address window, above the first fold
BODY_TOP = 0.85 * inch
BODY_BOTTOM = 0.95 * inch
FOOTER_Y = 0.5 * inch

FONT = "DejaVuSans"
FONT_FILES = {FONT: "DejaVuSans.ttf", f"{FONT}-Bold": "DejaVuSans-Bold.ttf",
              f"{FONT}-Oblique": "DejaVuSans-Oblique.ttf",
              f"{FONT}-BoldOblique": "DejaVuSans-BoldOblique.ttf"}

_font_lock = threading.Lock()
_drawable: frozenset[int] | None = None


class RenderError(LettersError):
    """A letter cannot be rendered faithfully for one recipient."""


def register_fonts() -> frozenset[int]:
    """Register the bundled font family once; return the code points every face can draw."""
    global _drawable
    with _font_lock:
        if _drawable is None:
            cmaps = []
            folder = resources.files("letters") / "fonts"
            for name, filename in FONT_FILES.items():
                with resources.as_file(folder / filename) as path:
                    font = TTFont(name, str(path))
                pdfmetrics.registerFont(font)
                cmaps.append(set(font.face.charToGlyph))
            pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=f"{FONT}-Bold",
                                          italic=f"{FONT}-Oblique",
                                          boldItalic=f"{FONT}-BoldOblique")
            _drawable = frozenset(set.intersection(*cmaps))
        return _drawable


# --- styles -------------------------------------------------------------------------------------

def _style(name, **kw) -> ParagraphStyle:
    base = dict(fontName=FONT, fontSize=10.5, leading=14.2, spaceAfter=6.5, textColor=colors.black)
    base.update(kw)
    return ParagraphStyle(name, **base)


STYLES = {
    "p": _style("body"),
    "h1": _style("h1", fontName=f"{FONT}-Bold", fontSize=15, leading=19, spaceAfter=8,
                 spaceBefore=2),
    "h2": _style("h2", fontName=f"{FONT}-Bold", fontSize=12, leading=15.5, spaceBefore=6,
                 spaceAfter=4),
    "h3": _style("h3", fontName=f"{FONT}-Bold", fontSize=10.5, leading=14, spaceBefore=4,
                 spaceAfter=3),
    "small": _style("small", fontSize=8.5, leading=11),
    "center": _style("center", alignment=TA_CENTER),
    "box": _style("box", borderWidth=0.8, borderColor=colors.black, borderPadding=7,
                  spaceBefore=8, spaceAfter=14, leftIndent=7, rightIndent=7),
    "signature": _style("signature", spaceAfter=2),
    "blank": _style("blank", spaceAfter=0),
    "li": _style("li", spaceAfter=3),
    "cell": _style("cell", fontSize=8.5, leading=10.5, spaceAfter=0),
    "th": _style("th", fontName=f"{FONT}-Bold", fontSize=8.5, leading=10.5, spaceAfter=0),
    "crossref": _style("crossref", fontName=f"{FONT}-Oblique", fontSize=9, leading=11.5,
                       spaceAfter=0),
}


def markup(runs: list[Run]) -> str:
    """ReportLab paragraph markup for runs; every character of text is escaped."""
    out = []
    for run in runs:
        if run.text == "\n":
            out.append("<br/>")
            continue
        text = escape(run.text)
        if run.underline:
            text = f"<u>{text}</u>"
        if run.italic:
            text = f"<i>{text}</i>"
        if run.bold:
            text = f"<b>{text}</b>"
        out.append(text)
    return "".join(out)


# --- flowables ----------------------------------------------------------------------------------

class _VersionStart(Flowable):
    """Zero-size marker: the pages from here on belong to version ``lang``."""

    def __init__(self, lang: str, starts: dict[str, int]):
        super().__init__()
        self.lang = lang
        self.starts = starts

    def wrap(self, available_width, available_height):
        return 0, 0

    def draw(self):
        self.canv._letters_lang = self.lang
        self.starts.setdefault(self.lang, self.canv.getPageNumber())


class _BlankLine(Flowable):
    """A label followed by a line to write on, to the right margin."""

    def __init__(self, label: str):
        super().__init__()
        self.para = Paragraph(label, STYLES["blank"])

    def wrap(self, available_width, available_height):
        self.width = available_width
        _, h = self.para.wrap(available_width * 0.45, available_height)
        self.height = max(h, 14) + 10
        return self.width, self.height

    def draw(self):
        w, h = self.para.wrap(self.width * 0.45, self.height)
        self.para.drawOn(self.canv, 0, self.height - h - 2)
        label_width = min(self.para.minWidth() + 6, self.width * 0.45)
        self.canv.setLineWidth(0.6)
        self.canv.line(label_width, self.height - h, self.width, self.height - h)


CASE_COLUMN_SHARES = (0.16, 0.27, 0.13, 0.28, 0.16)


def _table(block: Block, width: float) -> Table:
    header = [[Paragraph(markup(c), STYLES["th"]) for c in row] for row in block.header]
    rows = [[Paragraph(markup(c), STYLES["cell"]) for c in row] for row in block.rows]
    n = max((len(r) for r in header + rows), default=1)
    shares = CASE_COLUMN_SHARES if n == len(CASE_COLUMN_SHARES) else (1 / n,) * n
    table = Table(header + rows, colWidths=[width * s for s in shares], repeatRows=len(header),
                  hAlign="LEFT")
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), FONT, 8.5),
        ("GRID", (0, 0), (-1, -1), 0.5, colors.Color(0.35, 0.35, 0.35)),
        ("BACKGROUND", (0, 0), (-1, len(header) - 1), colors.Color(0.9, 0.9, 0.9)),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ("LEFTPADDING", (0, 0), (-1, -1), 4), ("RIGHTPADDING", (0, 0), (-1, -1), 4),
    ]))
    table.spaceAfter = 10
    return table


def _flowables(blocks: list[Block], width: float) -> list:
    out: list = []
    signature: list = []  # consecutive signature paragraphs stay on one page
    for block in blocks:
        if signature and not (block.kind == "p" and block.cls == "signature"):
            out.append(KeepTogether(signature))
            signature = []
        if block.kind in ("h1", "h2", "h3"):
            out.append(CondPageBreak(1.2 * inch))
            out.append(Paragraph(markup(block.runs), STYLES[block.kind]))
        elif block.kind == "p" and block.cls == "blank":
            out.append(_BlankLine(markup(block.runs)))
        elif block.kind == "p" and block.cls == "signature":
            signature.append(Paragraph(markup(block.runs), STYLES["signature"]))
        elif block.kind == "p":
            out.append(Paragraph(markup(block.runs), STYLES[block.cls or "p"]))
        elif block.kind == "list":
            checkboxes = block.cls == "checkboxes"
            items = [ListItem(Paragraph(markup(item), STYLES["li"]),
                              **({"value": "", "bulletText": ""} if checkboxes else {}))
                     for item in block.items]
            out.append(ListFlowable(
                items, bulletType="1" if block.ordered else "bullet",
                start=None if block.ordered else ("" if checkboxes else "•"),
                bulletFontName=FONT, bulletFontSize=10, leftIndent=8 if checkboxes else 18,
                spaceAfter=6))
        elif block.kind == "table":
            out.append(_table(block, width))
        elif block.kind == "hr":
            out.append(HRFlowable(width="100%", thickness=0.6, color=colors.black,
                                  spaceBefore=4, spaceAfter=8))
        elif block.kind == "pagebreak":
            out.append(PageBreak())
    if signature:
        out.append(KeepTogether(signature))
    return out


# --- page furniture -----------------------------------------------------------------------------

def address_lines(doc: Document) -> list[str]:
    return [doc.recipient.full_name, *doc.recipient.address.lines()]


def fit_font_size(lines: list[str], font: str, box: Rect, *, largest: float = 10.5,
                  smallest: float = 7.5, leading: float = 1.2) -> float | None:
    """The largest size at which ``lines`` fit ``box`` less the window clearance, or None."""
    usable_w = box.width - 2 * WINDOW_CLEARANCE
    usable_h = box.height - 2 * WINDOW_CLEARANCE
    size = largest
    while size >= smallest:
        widest = max(pdfmetrics.stringWidth(line, font, size) for line in lines)
        if widest <= usable_w and len(lines) * size * leading <= usable_h:
            return size
        size -= 0.25
    return None


def _draw_lines(canv: Canvas, lines: list[tuple[str, str]], box: Rect, size: float,
                leading: float = 1.2) -> None:
    """Draw (font, text) lines from the top-left of ``box`` inside its clearance."""
    x = box.x + WINDOW_CLEARANCE
    y = box.y + box.height - WINDOW_CLEARANCE - size
    for font, text in lines:
        canv.setFont(font, size)
        canv.drawString(x, y, text)
        y -= size * leading


class _LetterCanvas(Canvas):
    """Keeps pages until the end so every page can show 'Page X of Y' and page 1 the crossref."""

    def __init__(self, *args, letter_doc: Document, starts: dict[str, int], **kwargs):
        super().__init__(*args, **kwargs)
        self._letter = letter_doc
        self._starts = starts
        self._pages: list[dict] = []
        self._letters_lang = letter_doc.versions[0].lang
        issue = letter_doc.issue_date
        self._doc.setDateFormatter(lambda *_: f"D:{issue:%Y%m%d}000000+00'00'")

    def showPage(self):
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self):
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            self._furniture(number, total)
            Canvas.showPage(self)
        Canvas.save(self)

    def _furniture(self, number: int, total: int) -> None:
        doc = self._letter
        labels = next(v.labels for v in doc.versions if v.lang == self._letters_lang)
        self.saveState()
        self.setFillColor(colors.black)
        self.setFont(FONT, 8)
        self.drawString(MARGIN, FOOTER_Y, f"{labels['notice_id']}: {doc.notice_id}")
        self.drawRightString(PAGE_WIDTH - MARGIN, FOOTER_Y,
                             labels["page_of"] % {"page": number, "pages": total})
        if number == 1 and doc.crossref is not None:
            page = self._starts.get(doc.crossref.target, "")
            text = doc.crossref.text.replace(PAGE_SENTINEL, str(page))
            para = Paragraph(escape(text), STYLES["crossref"])
            width = PAGE_WIDTH - MARGIN * 0.75 - (ADDRESS_WINDOW.x + ADDRESS_WINDOW.width + 0.3 * inch)
            _, h = para.wrap(width, ADDRESS_WINDOW.height)
            para.drawOn(self, PAGE_WIDTH - MARGIN * 0.75 - width,
                        ADDRESS_WINDOW.y + ADDRESS_WINDOW.height - h)
        if doc.proof:
            self.setFillColor(colors.Color(0.75, 0.1, 0.1), alpha=0.18)
            self.setFont(f"{FONT}-Bold", 40)
            self.translate(PAGE_WIDTH / 2, PAGE_HEIGHT / 2)
            self.rotate(50)
            self.drawCentredString(0, -14, labels["proof"])
        self.restoreState()


def _first_page(canv: Canvas, _doc, letter_doc: Document) -> None:
    office = letter_doc.office
    labels = letter_doc.versions[0].labels
    canv.saveState()
    # return address, in the upper window
    ret = [(f"{FONT}-Bold", office.name), *[(FONT, line) for line in office.address]]
    size = fit_font_size([t for _, t in ret], f"{FONT}-Bold", RETURN_WINDOW, largest=9.5) or 7.5
    _draw_lines(canv, ret, RETURN_WINDOW, size)
    # date and notice ID at the top right
    from letters.i18n import locale_for
    from babel.dates import format_date

    date_text = format_date(letter_doc.issue_date, "long",
                            locale=locale_for(letter_doc.versions[0].lang))
    right = PAGE_WIDTH - 0.75 * inch
    canv.setFont(FONT, 9.5)
    canv.drawRightString(right, PAGE_HEIGHT - 0.75 * inch, f"{labels['date']}: {date_text}")
    canv.setFont(f"{FONT}-Bold", 9.5)
    canv.drawRightString(right, PAGE_HEIGHT - 0.75 * inch - 13,
                         f"{labels['notice_id']}: {letter_doc.notice_id}")
    contact = [x for x in (office.hotline or office.phone, office.website) if x]
    canv.setFont(FONT, 8.5)
    for i, line in enumerate(contact):
        canv.drawRightString(right, PAGE_HEIGHT - 0.75 * inch - 28 - 11 * i, line)
    # recipient, in the lower window
    lines = address_lines(letter_doc)
    size = fit_font_size(lines, FONT, ADDRESS_WINDOW)
    _draw_lines(canv, [(FONT, line) for line in lines], ADDRESS_WINDOW, size)
    # fold marks in the left margin
    canv.setLineWidth(0.4)
    for y in (PAGE_HEIGHT - FOLD, PAGE_HEIGHT - 2 * FOLD):
        canv.line(0.15 * inch, y, 0.35 * inch, y)
    canv.restoreState()


# --- checks and rendering -----------------------------------------------------------------------

def _all_text(doc: Document):
    r = doc.recipient
    yield "name", r.full_name
    for i, line in enumerate(r.address.lines(), start=1):
        yield f"address line {i}", line
    for version in doc.versions:
        for block in version.blocks:
            yield f"{version.lang} letter text", block.text()
        for value in version.labels.values():
            yield f"{version.lang} page labels", value
    if doc.crossref:
        yield "cross-reference line", doc.crossref.text.replace(PAGE_SENTINEL, "0")
    yield "office", " ".join([doc.office.name, *doc.office.address, doc.office.hotline,
                              doc.office.phone, doc.office.website])


def check_glyphs(doc: Document) -> None:
    """A character the font cannot draw is an error for this recipient, never a blank box."""
    drawable = register_fonts()
    for where, text in _all_text(doc):
        for ch in text:
            if ord(ch) not in drawable and ch not in "\n\t":
                name = unicodedata.name(ch, "unnamed character")
                raise RenderError(
                    f"recipient {doc.recipient.defendant_id}: the font cannot draw "
                    f"U+{ord(ch):04X} {name} ({ch!r}) in the {where}",
                    hint="Correct the record, or transliterate the character in the export.")


def check_address(doc: Document) -> None:
    lines = address_lines(doc)
    if fit_font_size(lines, FONT, ADDRESS_WINDOW) is None:
        raise RenderError(f"recipient {doc.recipient.defendant_id}: the address does not fit "
                          "the envelope window even at 7.5 pt",
                          hint="Shorten the address lines (USPS abbreviations) in the export.")


@dataclass
class Rendered:
    pdf: bytes
    pages: int
    version_pages: dict[str, int]   # first page of each language version


def render(doc: Document) -> Rendered:
    """Lay out and render one letter. Same document, same bytes."""
    register_fonts()
    check_glyphs(doc)
    check_address(doc)
    buf = io.BytesIO()
    starts: dict[str, int] = {}
    width = PAGE_WIDTH - 2 * MARGIN
    template = BaseDocTemplate(
        buf, pagesize=letter, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=BODY_TOP,
        bottomMargin=BODY_BOTTOM, title=doc.title, subject=doc.subject, author=doc.office.name,
        creator=f"letters {__version__}", invariant=1, lang=doc.versions[0].lang,
        initialFontName=FONT, initialFontSize=10.5)
    first = Frame(MARGIN, BODY_BOTTOM, width, PAGE_HEIGHT - BODY_TOP_FIRST - BODY_BOTTOM,
                  id="first", leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
    later = Frame(MARGIN, BODY_BOTTOM, width, PAGE_HEIGHT - BODY_TOP - BODY_BOTTOM, id="later",
                  leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
    template.addPageTemplates([
        PageTemplate("first", [first], onPage=lambda c, d: _first_page(c, d, doc),
                     autoNextPageTemplate="later"),
        PageTemplate("later", [later]),
    ])
    story: list = []
    for i, version in enumerate(doc.versions):
        if i:
            story.append(PageBreak())
        story.append(_VersionStart(version.lang, starts))
        story.extend(_flowables(version.blocks, width))
    template.build(story, canvasmaker=lambda *a, **kw: _LetterCanvas(
        *a, letter_doc=doc, starts=starts, **kw))
    pdf = buf.getvalue()
    return Rendered(pdf=pdf, pages=template.page, version_pages=dict(starts))
