"""Render a composed letter to a print-ready, deterministic PDF with ReportLab.

Layout (US Letter, tri-folded into a standard #10 double-window envelope):

- page 1: the office's return address inside the upper window, the recipient's name and address
  inside the lower window, the date and notice ID at the top right; the body starts below the
  top fold, so nothing but the addresses shows through the windows; under the title, a bold
  boxed line per other version, in its language, saying on which page it starts; at the
  bottom, the taglines block (one line per tagline language);
- printed on both sides (``[mailing] duplex``): a letter with an odd number of pages ends with
  a page that says only "This page intentionally left blank." (in the letter's first language),
  with the same footer as every page, so the next letter starts on the front of a sheet;
- every page: the notice ID and "Page X of Y" (in that page's language) in the footer, and for
  proofs a "PROOF – NOT FOR MAILING" watermark;
- the body (templates' HTML subset) at ``[letter] font_size`` (12 pt; 18 pt for large print),
  tables and notes never below 10 pt, no italic sentences; the cases table repeats its header
  on every page it spans; each language version starts on a new page; the response form's
  labels carry the second version's text beneath, and a line to write on after the label.

Determinism: ReportLab's invariant mode, the issue date as the PDF creation date, fonts embedded
from the bundled DejaVu Sans, and no clock, randomness or dict-order dependence: the same
document gives the same bytes. Fonts are registered once per process.
"""

from __future__ import annotations

import collections
import copy
import functools
import io
import itertools
import operator
import re
import unicodedata
import zlib
from dataclasses import dataclass
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import letter
from reportlab.lib.rl_accel import fp_str
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfdoc import NoEncryption, PDFStream
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate, CondPageBreak, Flowable, Frame, KeepTogether, ListFlowable, ListItem,
    PageBreak, PageTemplate, Table, TableStyle,
)
from reportlab.platypus import Paragraph as _RLParagraph
from reportlab.platypus.flowables import HRFlowable
from reportlab.platypus.paragraph import _wsc as _PARAGRAPH_SPACE  # what it takes for space
from reportlab.platypus.paragraph import textTransformFrags
from reportlab.platypus.paraparser import ParaParser

from babel.dates import format_date

from letters import __version__, fonts, glyphs
from letters.addresses import (  # the envelope's windows and the address block
    ADDRESS_WINDOW, RETURN_WINDOW, WINDOW_CLEARANCE, Rect, block_lines, fit_font_size,
)
from letters.compose import PAGE_SENTINEL, Block, Document, Run
from letters.errors import LettersError
from letters.i18n import locale_for

#: The renderer's number, recorded with every batch (``letters.mailing``): raised whenever the
#: same letter comes out in other bytes (layout, drawing or PDF writing changed), so that an
#: audit re-rendering an older batch can say why its copies differ. Batches recorded before
#: this number existed have none.
RENDERER = 2

PAGE_WIDTH, PAGE_HEIGHT = letter
FOLD = PAGE_HEIGHT / 3


MARGIN = 1.0 * inch
BODY_TOP_FIRST = 3.95 * inch      # below the top fold: only the addresses show in the windows
BODY_TOP = 0.85 * inch
BODY_BOTTOM = 0.95 * inch
FOOTER_Y = 0.5 * inch

FONT = fonts.DEFAULT_FAMILY
FONT_FILES = fonts.font_files(FONT)
MIN_SMALL = 10.0                  # tables and notes never smaller
BULLET = "\u2022"                 # list items


class RenderError(LettersError):
    """A letter cannot be rendered faithfully for one recipient."""


def register_fonts() -> frozenset[int]:
    """Register the bundled font family once; return the code points every face can draw."""
    return fonts.register(FONT)


# --- styles -------------------------------------------------------------------------------------

def _style(name, **kw) -> ParagraphStyle:
    base = dict(fontName=FONT, fontSize=10.5, leading=14.2, spaceAfter=6.5, textColor=colors.black)
    base.update(kw)
    return ParagraphStyle(name, **base)


@functools.lru_cache(maxsize=8)
def styles(size: float = 12.0) -> dict[str, ParagraphStyle]:
    """Paragraph styles for body text of ``size`` points (12, or 18 for large print)."""
    small = max(MIN_SMALL, round(size * 0.85, 1))
    lead = 1.3
    return {
        "p": _style("body", fontSize=size, leading=size * lead, spaceAfter=size * 0.55),
        "h1": _style("h1", fontName=f"{FONT}-Bold", fontSize=size * 1.4,
                     leading=size * 1.4 * 1.2, spaceAfter=size * 0.6, spaceBefore=2),
        "h2": _style("h2", fontName=f"{FONT}-Bold", fontSize=size * 1.15,
                     leading=size * 1.15 * 1.25, spaceBefore=size * 0.5, spaceAfter=size * 0.3),
        "h3": _style("h3", fontName=f"{FONT}-Bold", fontSize=size, leading=size * lead,
                     spaceBefore=4, spaceAfter=3),
        "small": _style("small", fontSize=small, leading=small * lead),
        "center": _style("center", fontSize=size, leading=size * lead, alignment=TA_CENTER),
        "box": _style("box", fontSize=size, leading=size * lead, borderWidth=0.8,
                      borderColor=colors.black, borderPadding=7, spaceBefore=8,
                      spaceAfter=size * 1.1, leftIndent=7, rightIndent=7),
        "signature": _style("signature", fontSize=size, leading=size * lead, spaceAfter=2),
        "greeting": _style("greeting", fontSize=size, leading=size * lead,
                           spaceAfter=size * 0.55),
        "blank": _style("blank", fontSize=size, leading=size * lead, spaceAfter=0),
        "field": _style("field", fontSize=size, leading=size * lead, spaceAfter=size * 0.25),
        "label": _style("label", fontSize=size, leading=size * lead, spaceAfter=size * 0.2,
                        spaceBefore=size * 0.2),
        "tagline": _style("tagline", fontSize=small, leading=small * lead),
        "citation": _style("citation", fontSize=small, leading=small * lead,
                           spaceAfter=size * 0.55),
        "alt": _style("alt", fontSize=small, leading=small * 1.2, spaceAfter=0,
                      textColor=colors.Color(0.25, 0.25, 0.25)),
        "li": _style("li", fontSize=size, leading=size * lead, spaceAfter=3),
        "cell": _style("cell", fontSize=small, leading=small * 1.22, spaceAfter=0),
        "th": _style("th", fontName=f"{FONT}-Bold", fontSize=small, leading=small * 1.22,
                     spaceAfter=0),
        "pointer": _style("pointer", fontName=f"{FONT}-Bold", fontSize=small,
                          leading=small * 1.25, spaceAfter=0),
    }


STYLES = styles()


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


# --- shared layout -------------------------------------------------------------------------------
#
# Most paragraphs of a batch's letters are the same text in the same style at the same width:
# each is parsed and broken into lines once per process and shared by every letter that prints
# it. A paragraph's parse is keyed by its markup and every attribute of its style; its line
# breaks by that and the widths. What ReportLab's line breaking sets on the paragraph is kept
# with the lines and set again on a hit, so a shared paragraph is the one a fresh one would be:
# the same bytes (tests/test_pdf.py renders letters with cold and warm caches and compares).
# The caches are bounded (least recently used entries go first).

_CACHE_SIZE = 4096
_PARSED: collections.OrderedDict = collections.OrderedDict()
_BROKEN: collections.OrderedDict = collections.OrderedDict()
_STYLE_KEYS: dict[int, tuple[ParagraphStyle, int]] = {}
_STYLE_NUMBERS: dict[tuple, int] = {}
#: Numbers for styles and parses (a parse's is kept with it in ``_PARSED``): the same number,
#: the same style, or the same paragraph text in the same style. Numbers are never reused.
_SERIALS = itertools.count(1)


def clear_caches() -> None:
    """Forget every shared parse, line break and font subset (a cold start)."""
    _PARSED.clear()
    _PROTOTYPES.clear()
    _BROKEN.clear()
    _SEEN_ONCE.clear()
    _DRAWN.clear()
    _STAMPS.clear()
    _STYLE_KEYS.clear()
    _STYLE_NUMBERS.clear()
    fonts.clear_caches()


def _style_key(style: ParagraphStyle) -> int:
    """A number for every attribute of ``style``: styles alike get the same number (never
    reused for another), which keys are made of (a number hashes faster than the attributes)."""
    kept = _STYLE_KEYS.get(id(style))
    if kept is not None and kept[0] is style:
        return kept[1]
    attributes = tuple((name, repr(getattr(style, name, None)))
                       for name in sorted(style.defaults))
    number = _STYLE_NUMBERS.get(attributes)
    if number is None:
        if len(_STYLE_NUMBERS) >= _CACHE_SIZE:
            _STYLE_NUMBERS.clear()
        number = _STYLE_NUMBERS[attributes] = next(_SERIALS)
    if len(_STYLE_KEYS) >= _CACHE_SIZE:
        _STYLE_KEYS.clear()
    _STYLE_KEYS[id(style)] = (style, number)
    return number


#: Keys seen once, per cache: an entry is kept from its second sighting on, so that what only
#: one letter prints (its name, its docket numbers) does not push out what every letter prints.
_SEEN_ONCE: dict[int, collections.OrderedDict] = collections.defaultdict(collections.OrderedDict)


def _remember(cache: collections.OrderedDict, key, value, size: int = _CACHE_SIZE) -> None:
    once = _SEEN_ONCE[id(cache)]
    if key not in once:
        once[key] = None
        if len(once) > 4 * size:
            once.popitem(last=False)
        return
    del once[key]
    cache[key] = value
    if len(cache) > size:
        cache.popitem(last=False)


def _canvas_state(canv, attributes=None) -> tuple:
    """The canvas's graphics state, as text (``repr`` tells 0 from 0.0, which ReportLab may
    print differently), with its transparency last; ``attributes``: a getter of the others to
    compare (all of them by default)."""
    extg = canv.__dict__.get("_extgstate")
    return (repr((attributes or _STATE_OF)(canv)), _color_key(canv._fillColorObj),
            _color_key(canv._strokeColorObj),
            repr(sorted(extg._d.items())) if extg is not None else "")


def _drawing_state(canv) -> tuple:
    """What of the canvas's state a paragraph's operators depend on: all of it but where the
    origin is (``_currentMatrix``). A paragraph draws from its own origin, in a text object
    placed from it, and restores the state it found: the same lines in the same state draw
    the same operators wherever ``drawOn`` translated the canvas to (a table cell's
    paragraph in another row, a paragraph lower on the page)."""
    return _canvas_state(canv, _DRAWING_STATE_OF)


def _color_key(color) -> str:
    """A colour's ``repr``, kept per colour object: a letter sets the same few colours (its
    styles') again and again, and a Color's ``repr`` is slow to make."""
    kept = _COLOR_REPRS.get(id(color))
    if kept is not None and kept[0] is color:
        return kept[1]
    if len(_COLOR_REPRS) >= 256:
        _COLOR_REPRS.clear()
    text = repr(color)
    _COLOR_REPRS[id(color)] = (color, text)
    return text


_COLOR_REPRS: dict[int, tuple[object, str]] = {}


_DRAWN: collections.OrderedDict = collections.OrderedDict()
#: The canvas's graphics state, as ReportLab saves and restores it (its transparency and
#: overprint, ``_extgstate``, are compared by what they hold: ``_canvas_state``).
_CANVAS_STATE = tuple(a for a in Canvas.STATE_ATTRIBUTES if a != "_extgstate")
_STATE_OF = operator.attrgetter(*(a for a in _CANVAS_STATE
                                   if a not in ("_fillColorObj", "_strokeColorObj")))
_DRAWING_STATE_OF = operator.attrgetter(*(a for a in _CANVAS_STATE if a not in (
    "_currentMatrix", "_fillColorObj", "_strokeColorObj")))


def _batch_codes_only(canv, names: tuple) -> bool:
    """Whether what was drawn since the letter's fonts were ``names`` named no font anew and
    left its faces with no character outside the batch's set: then it used only the batch's
    codes, the same in every letter (a character outside the set gets a code of this letter's
    own, after the set's), and may be replayed in another letter."""
    return len(canv._doc.fontMapping) == len(names) and \
        _font_codes(canv) == getattr(canv, "_letters_seeded", None)


def _font_codes(canv) -> tuple:
    """How many characters each face has codes for in this letter's PDF so far."""
    states = canv.__dict__.get("_letters_states")
    if states is not None:  # every face was given the batch's codes (``_LetterCanvas``)
        return tuple(len(state.assignments) for state in states)
    doc = canv._doc
    return tuple(len(pdfmetrics.getFont(name).state[doc].assignments)
                 if doc in pdfmetrics.getFont(name).state else -1 for name in FONT_FILES)


class Paragraph(_RLParagraph):
    """ReportLab's paragraph, parsed and broken into lines once per process per text, style
    and width, and in a batch's letters drawn once (see above)."""

    def draw(self):
        # A paragraph draws at its own origin (``drawOn`` translates), so in letters whose
        # fonts have fixed codes and names (a batch's character set, ``_LetterCanvas``) the
        # same lines in the same canvas state draw the same operators: they are replayed.
        canv = self.canv
        broken = self.__dict__.get("_letters_broken")
        charset = getattr(canv, "_letters_charset", "")
        if broken is None or not charset:
            return super().draw()
        # the fonts this letter has named so far (a face first drawn here, such as the italic
        # one, gets the next free name): operators name fonts by these names
        names = tuple(canv._doc.fontMapping.items())
        key = (broken, self.width, self.height, charset, names, _drawing_state(canv))
        hit = _DRAWN.get(key)
        if hit is not None:
            _DRAWN.move_to_end(key)
            canv._code.extend(hit)
            return
        start = len(canv._code)
        super().draw()
        if _batch_codes_only(canv, names):
            _remember(_DRAWN, key, tuple(canv._code[start:]))

    def _setup(self, text, style, bulletText, frags, cleaner):
        if frags is not None or style is None:
            return super()._setup(text, style, bulletText, frags, cleaner)
        self._letters_key = key = (text, _style_key(style), bulletText)
        hit = _PARSED.get(key)
        if hit is None:
            quick = _quick_parse(text, style, key[1], cleaner) if QUICK_PARSE else None
            if quick is None:
                super()._setup(text, style, bulletText, frags, cleaner)
            else:
                self.text, self.frags = quick
                textTransformFrags(self.frags, style)
                self.style, self.bulletText, self.debug = style, bulletText, 0
            self._letters_serial = serial = next(_SERIALS)
            _remember(_PARSED, key, (self.text, tuple(self.frags), self.style, self.bulletText,
                                     serial))
            return
        _PARSED.move_to_end(key)
        self.text, frags, self.style, self.bulletText, self._letters_serial = hit
        self._letters_shared = True  # printed by other letters too: it may be stamped
        self.frags = list(frags)
        self.debug = 0

    def split(self, availWidth, availHeight):
        parts = super().split(availWidth, availHeight)
        key = self.__dict__.get("_stamp")
        if key is not None and len(parts) == 2:
            # the rest of a shared paragraph that ends a page is the same text in every
            # letter that splits it after as many lines: it starts the next page's stamp
            _split_from(self, parts, availWidth, availHeight,
                        [None, ("rest", key, availWidth, len(parts[0].blPara.lines))])
        return parts

    def breakLines(self, width):
        parsed = self.__dict__.get("_letters_key")
        if parsed is None:
            return super().breakLines(width)
        key = (parsed, tuple(width) if isinstance(width, (list, tuple)) else width)
        self._letters_broken = key
        own = self.__dict__.get("_letters_own")
        if own is not None and own[0] == key:
            hit = own[1]
        else:
            hit = _BROKEN.get(key)
            if hit is not None:
                _BROKEN.move_to_end(key)
        if hit is not None:
            lines, changed = hit
            self.__dict__.update(changed)
            if "frags" in changed:
                self.frags = list(changed["frags"])
            return lines
        before = dict(self.__dict__)
        lines = super().breakLines(width)
        if self.__dict__.get("_hyphenations"):
            # a word broken at a soft hyphen: splitting the paragraph across pages changes
            # that word in place (ReportLab marks the part that ends a page), so these lines and
            # words stay this paragraph's own
            self._letters_broken = None
            return lines
        changed = {k: v for k, v in self.__dict__.items()
                   if k not in before or before[k] is not v}
        if "frags" in changed:
            changed["frags"] = tuple(changed["frags"])
        # kept on the paragraph too: a table wraps its cells again to draw them, and what only
        # this letter prints (a docket number) is not in the shared cache yet
        self._letters_own = (key, (lines, changed))
        _remember(_BROKEN, key, (lines, changed))
        return lines


#: Off: every new paragraph is parsed by ReportLab's parser (tests compare the two).
QUICK_PARSE = True
#: What :func:`markup` writes, token by token: an inline tag, a line break, or text.
_MARKUP_TOKEN = re.compile(r"<(/?)(b|i)>|(<br/>)|([^<&]+)")
_PROTOTYPES: dict[tuple, object] = {}


def _quick_parse(text: str, style: ParagraphStyle, style_key: int, cleaner):
    """The text and fragments ReportLab's parser gives for ``text`` in ``style``, without
    running it, or None to run it.

    For what :func:`markup` writes (text with no character reference, ``<b>``, ``<i>`` and
    ``<br/>`` only, properly nested), ReportLab's parser makes one fragment per
    piece of text between two tags, and one per line break: a copy of the fragment its open
    tags make, with that text. Each such fragment is made once per style and open tags by
    ReportLab's parser itself (a prototype) and copied with each text. The text is cleaned
    first, as ReportLab does (spaces collapsed, ends stripped), so the pieces are its pieces.
    Underlined text goes to the parser: its fragments number the paragraph's underlines."""
    text = cleaner(text)
    frags = []
    # as ReportLab's parser does, the paragraph's fragments share one list of links and one of
    # underlines (empty: markup() writes neither), of their own, not the prototypes'
    links: list = []
    underlines: list = []
    open_tags: tuple = ()
    at = 0
    for m in _MARKUP_TOKEN.finditer(text):
        if m.start() != at:
            return None  # a character reference, or a tag markup() does not write
        at = m.end()
        closing, tag, line_break, piece = m.groups()
        if piece is not None or line_break is not None:
            prototype = _prototype(open_tags, piece is None, style, style_key)
            if prototype is None:
                return None
            frag = copy.copy(prototype)
            frag.link, frag.us_lines = links, underlines
            if piece is not None:
                frag.text = piece
            frags.append(frag)
        elif closing:
            if not open_tags or open_tags[-1] != tag:
                return None
            open_tags = open_tags[:-1]
        else:
            open_tags += (tag,)
            if _prototype(open_tags, False, style, style_key) is None:
                return None  # ReportLab refuses the tag here (bold in a bold style)
    if at != len(text) or open_tags:
        return None
    return text, frags


def _prototype(open_tags: tuple, line_break: bool, style: ParagraphStyle, style_key: int):
    key = (style_key, open_tags, line_break)
    frag = _PROTOTYPES.get(key)
    if frag is None:
        inner = "<br/>" if line_break else "x"
        sample = "".join(f"<{t}>" for t in open_tags) + inner + \
            "".join(f"</{t}>" for t in reversed(open_tags))
        try:
            _, made, _ = ParaParser().parse(sample, style)
        except Exception:  # noqa: BLE001 - ReportLab's parser says why, for the paragraph
            return None
        if made[0].__dict__.get("link") != [] or made[0].__dict__.get("us_lines") != []:
            return None  # a style that links or underlines: its own parse each time
        if len(_PROTOTYPES) >= _CACHE_SIZE:
            _PROTOTYPES.clear()
        frag = _PROTOTYPES[key] = made[0]
    return frag


def _split_from(f, parts: list, width: float, height: float, keys) -> None:
    """Mark the parts a flowable with a stamp key split into (see "stamps" below): each
    keyed part can start the next page's stamp, and a stamp that ends the page with it can
    split ``f`` the same way again."""
    for i, (part, key) in enumerate(zip(parts, keys)):
        if key is not None:  # a list's items pass attributes on to what they indent
            part.__dict__.update(_stamp=key, _stamp_from=f, _stamp_split=(width, height, i),
                                 _stamp_shared=f.__dict__.get("_stamp_shared", False))


class _List(ListFlowable):
    """ReportLab's list; splitting it gives its items, which are marked (``_split_from``)."""

    def split(self, aW, aH):
        parts = super().split(aW, aH)
        key = self.__dict__.get("_stamp")
        if key is not None:
            _split_from(self, parts, aW, aH, [("item", key, i) for i in range(len(parts))])
        return parts


# --- flowables ----------------------------------------------------------------------------------

class _VersionStart(Flowable):
    """Zero-size marker: the pages from here on belong to version ``lang``."""

    def __init__(self, lang: str, starts: dict[str, int]):
        super().__init__()
        self.lang = lang
        self.starts = starts
        self._stamp, self._stamp_shared = ("version", lang), True

    def wrap(self, available_width, available_height):
        return 0, 0

    def draw(self):
        self.canv._letters_lang = self.lang
        self.starts.setdefault(self.lang, self.canv.getPageNumber())


class _BlankLine(Flowable):
    """A form label followed, on the same line, by a line to write on up to the right margin.
    The label in the second language (if any) follows it in small grey type ("Teléfono:
    Phone: ____"), or goes beneath the line when both would leave too little room to write;
    a label that alone leaves too little room gets the line below it."""

    ROOM = 0.62  # a label may take this share of the width and leave the rest for writing

    def __init__(self, label: str, alt: str, st: dict):
        super().__init__()
        self.label, self.alt, self.st = label, alt, st
        self.size = st["blank"].fontSize
        self.alt_size = st["alt"].fontSize

    def wrap(self, available_width, available_height):
        self.width = available_width
        self.label_width = pdfmetrics.stringWidth(self.label, FONT, self.size)
        gap = self.size * 0.4 if self.label else 0
        alt_width = pdfmetrics.stringWidth(self.alt, FONT, self.alt_size) if self.alt else 0
        limit = available_width * self.ROOM
        self.below = self.label_width > limit                  # the line goes under the label
        self.alt_inline = bool(self.alt) and not self.below and \
            self.label_width + gap + alt_width <= limit
        self.alt_x = self.label_width + gap if self.alt_inline else 0
        self.text_end = self.alt_x + alt_width if self.alt_inline else self.label_width
        alt_below = self.st["alt"].leading if self.alt and not self.alt_inline else 0
        self.height = (2 if self.below else 1) * self.size * 1.45 + alt_below + 1
        return self.width, self.height

    def draw(self):
        canv = self.canv
        baseline = self.height - self.size
        canv.setFont(FONT, self.size)
        canv.drawString(0, baseline, self.label)
        canv.setLineWidth(0.6)
        if self.below:
            line_y = baseline - self.size * 1.45
            canv.line(0, line_y, self.width, line_y)
        else:
            line_y = baseline - 1.5
            start = self.text_end + 6 if (self.label or self.alt_inline) else 0
            canv.line(start, line_y, self.width, line_y)
        if self.alt:
            alt_y = baseline if self.alt_inline else line_y - self.st["alt"].leading + 1
            canv.setFont(FONT, self.alt_size)
            canv.setFillColor(self.st["alt"].textColor)
            canv.drawString(self.alt_x, alt_y, self.alt)
            canv.setFillColor(colors.black)


class _Pointers(Flowable):
    """Space under the title for one bold boxed line per other version. Its position is noted
    here; the page furniture fills it in once the whole letter is laid out and the page on
    which each version starts is known."""

    def __init__(self, texts: list[tuple[str, str]], st: dict, slot: dict):
        super().__init__()
        self.texts, self.st, self.slot = texts, st, slot

    def _paras(self, width):
        return [Paragraph(escape(text.replace(PAGE_SENTINEL, "99")), self.st["pointer"])
                for _, text in self.texts]

    def wrap(self, available_width, available_height):
        self.width = available_width
        heights = [p.wrap(available_width - 16, available_height)[1] for p in
                   self._paras(available_width)]
        self.height = sum(heights) + 4 * (len(heights) - 1) + 14
        return self.width, self.height + 8

    def draw(self):
        x, y = self.canv.absolutePosition(0, 8)
        self.slot.update(x=x, y=y, width=self.width, height=self.height)


_DERIVED: dict[tuple, tuple[ParagraphStyle, ParagraphStyle]] = {}


def _derived(name: str, parent: ParagraphStyle, **changes) -> ParagraphStyle:
    """``ParagraphStyle(name, parent=parent, **changes)``, made once: every letter's paragraphs
    in it share one style object (and so one style key, ``_style_key``)."""
    key = (name, id(parent), tuple(sorted(changes.items())))
    kept = _DERIVED.get(key)
    if kept is None or kept[0] is not parent:
        if len(_DERIVED) >= 256:
            _DERIVED.clear()
        kept = _DERIVED[key] = (parent, ParagraphStyle(name, parent=parent, **changes))
    return kept[1]


def _paragraph(block: Block, st: dict, cls: str) -> list:
    """A paragraph, and its second-language twin (``alt``) in small type beneath it."""
    if not block.alt:
        return [Paragraph(markup(block.runs), st[cls])]
    return [Paragraph(markup(block.runs), _derived(f"{cls}-paired", st[cls], spaceAfter=1)),
            Paragraph(escape(block.alt), _derived("alt-after", st["alt"],
                                                  spaceAfter=st[cls].spaceAfter))]


class _Grid(Flowable):
    """A table of cells (each a list of flowables, top-aligned), its first ``header`` rows
    shaded and repeated on every page it spans, ruled with a grid (or not).

    What the cases table and the response form's QR code need of ReportLab's ``Table``, without
    its general machinery (spans, styles by cell, sizes computed again for every part after a
    split): each cell is wrapped once, and a split cuts between rows and keeps those sizes."""

    def __init__(self, rows: list[list[list]], widths: list[float], *, header: int = 0,
                 padding: tuple[float, float, float, float] = (4, 4, 3, 3),
                 rule: float = 0.0, align: tuple[str, ...] = (),
                 heights: list[float] | None = None):
        super().__init__()
        self.rows, self.widths, self.header = rows, list(widths), header
        self.padding, self.rule, self.align = padding, rule, align
        self.hAlign = "LEFT"
        self.spaceBefore = self.spaceAfter = 0.0
        self.width = sum(self.widths)
        self._heights = heights     # each row's, once its cells are wrapped
        self._sizes: dict = {}      # each cell flowable's wrapped size, by its id

    def _measure(self) -> list[float]:
        if self._heights is None:
            left, right, top, bottom = self.padding
            heights = []
            for row in self.rows:
                tallest = 0.0
                for cell, width in zip(row, self.widths):
                    inner = width - left - right
                    total, first_space, last_space = 0.0, None, 0.0
                    for f in cell:
                        w, h = f.wrap(inner, 72000)
                        self._sizes[id(f)] = (w, h)
                        before, last_space = f.getSpaceBefore(), f.getSpaceAfter()
                        first_space = before if first_space is None else first_space
                        total += h + before + last_space
                    if cell:
                        total -= first_space + last_space
                    tallest = max(tallest, total + top + bottom)
                heights.append(tallest)
            self._heights = heights
        return self._heights

    def wrap(self, available_width, available_height):
        self.height = sum(self._measure())
        return self.width, self.height

    def split(self, available_width, available_height):
        heights = self._measure()
        used, n = sum(heights[:self.header]), self.header
        while n < len(heights) and used + heights[n] <= available_height:
            used += heights[n]
            n += 1
        if n <= self.header or n == len(heights):
            return []  # not one row fits under the header here (or all of it does)
        head = self.rows[:self.header]
        parts = [_Grid(self.rows[:n], self.widths, header=self.header, padding=self.padding,
                       rule=self.rule, align=self.align, heights=heights[:n]),
                 _Grid(head + self.rows[n:], self.widths, header=self.header,
                       padding=self.padding, rule=self.rule, align=self.align,
                       heights=heights[:self.header] + heights[n:])]
        for part in parts:
            part._sizes = self._sizes
        parts[0].spaceBefore, parts[-1].spaceAfter = self.spaceBefore, self.spaceAfter
        return parts

    def draw(self):
        canv, heights = self.canv, self._measure()
        left, right, top, _ = self.padding
        xs = list(itertools.accumulate(self.widths, initial=0.0))
        ys = [self.height - y for y in itertools.accumulate(heights, initial=0.0)]
        if self.header:
            canv.saveState()
            canv.setFillColor(GRID_SHADE)
            canv.rect(0, ys[self.header], self.width, ys[0] - ys[self.header], stroke=0, fill=1)
            canv.restoreState()
        for r, row in enumerate(self.rows):
            for c, cell in enumerate(row):
                y = ys[r] - top
                for i, f in enumerate(cell):
                    w, h = self._sizes.get(id(f)) or f.wrap(self.widths[c] - left - right, 72000)
                    x = xs[c] + left
                    if c < len(self.align) and self.align[c] == "RIGHT":
                        x = xs[c + 1] - right - w
                    y -= h + (f.getSpaceBefore() if i else 0.0)
                    f.drawOn(canv, x, y)
                    y -= f.getSpaceAfter()
        if self.rule:
            canv.saveState()
            canv.setStrokeColor(GRID_RULE)
            canv.setLineWidth(self.rule)
            canv.setLineCap(1)  # round ends, as ReportLab's table grid: whole corners
            canv.lines([(0, y, self.width, y) for y in ys] +
                       [(x, ys[-1], x, ys[0]) for x in xs])
            canv.restoreState()


GRID_SHADE = colors.Color(0.9, 0.9, 0.9)
GRID_RULE = colors.Color(0.35, 0.35, 0.35)


def _cell(runs: list[Run], style: ParagraphStyle) -> list[Paragraph]:
    """A table cell's paragraphs: one per line (its lines end at line breaks), which lays
    them out as one paragraph would, since the cell styles have no space between paragraphs.
    A docket number is a line of its own, and the court and county lines beside it are
    the same paragraphs in many letters: shared (see above), where a whole cell would be
    one paragraph of its own in every letter."""
    lines: list[list[Run]] = [[]]
    for run in runs:
        if run.text == "\n":
            lines.append([])
        else:
            lines[-1].append(run)
    # a line of only what ReportLab takes for space (a zero-width space too) is empty
    if len(lines) == 1 or not all(any(r.text.strip(_PARAGRAPH_SPACE) for r in line)
                                  for line in lines):
        return [Paragraph(markup(runs), style)]  # an empty line: one paragraph keeps it
    return [Paragraph(markup(line), style) for line in lines]


def _table(block: Block, width: float, st: dict) -> _Grid | None:
    cells = [[_cell(c, st["th"]) for c in row] for row in block.header] + \
        [[_cell(c, st["cell"]) for c in row] for row in block.rows]
    if not any(cells):
        return None  # a table without a cell prints nothing
    n = max((len(r) for r in cells), default=1)
    shares = CASE_COLUMN_SHARES.get(n, (1 / n,) * n)
    table = _Grid(cells, [width * s for s in shares], header=len(block.header), rule=0.5)
    table.spaceAfter = 10
    return _keyed(table, ("table", width, len(block.header),
                          tuple(tuple(len(c) for c in row) for row in cells)),
                  [p for row in cells for cell in row for p in cell])


#: Column widths of the cases table by its number of columns (case: docket, court and
#: county; charge; how it ended; lab[; decision]). A docket number fits its column at 10 pt.
CASE_COLUMN_SHARES = {4: (0.28, 0.26, 0.23, 0.23),
                      5: (0.24, 0.2, 0.18, 0.18, 0.2)}


def _para_key(p) -> tuple[tuple | None, bool]:
    """A paragraph's stamp key (its parse's number, and anything set on it after) and
    whether other letters print it too."""
    serial = p.__dict__.get("_letters_serial")
    if serial is None:
        return None, False
    return ("para", serial, p.__dict__.get("keepWithNext")), \
        p.__dict__.get("_letters_shared", False)


def _keyed(f, key, paragraphs=()):
    """Give ``f`` a stamp key: ``key`` and the keys of the paragraphs it is made of. A
    flowable without one (or made of a paragraph without one) is never stamped."""
    keys, shared = [], True
    for p in paragraphs:
        k, s = _para_key(p)
        if k is None:
            return f
        keys.append(k)
        shared = shared and s
    f._stamp = (*key, tuple(keys))
    f._stamp_shared = shared
    return f


def _flowables(blocks: list[Block], width: float, st: dict, pointers=None) -> list:
    out = _unkeyed_flowables(blocks, width, st, pointers)
    for f in out:
        if "_stamp" in f.__dict__:
            continue
        if isinstance(f, Paragraph):
            f._stamp, f._stamp_shared = _para_key(f)
        elif type(f) is CondPageBreak:
            f._stamp, f._stamp_shared = ("cond", f.height), True
        elif type(f) is HRFlowable:
            f._stamp, f._stamp_shared = ("hr", f.width, f.lineWidth, repr(f.color),
                                         f.spaceBefore, f.spaceAfter), True
        elif isinstance(f, _BlankLine):
            f._stamp, f._stamp_shared = ("blank", f.label, f.alt, f.size, f.alt_size), True
    return out


def _unkeyed_flowables(blocks: list[Block], width: float, st: dict, pointers=None) -> list:
    out: list = []
    signature: list = []  # consecutive signature paragraphs stay on one page
    titled = False
    for block in blocks:
        if signature and not (block.kind == "p" and block.cls == "signature"):
            out.append(_keyed(KeepTogether(signature), ("keep",), signature))
            signature = []
        if block.kind in ("h1", "h2", "h3"):
            out.append(CondPageBreak(1.6 * inch))
            out.extend(_paragraph(block, st, block.kind))
            if block.kind == "h1" and pointers is not None and not titled:
                out.append(pointers)
            titled = titled or block.kind == "h1"
        elif block.kind == "p" and block.cls == "blank":
            out.append(_BlankLine(block.text(), block.alt, st))
        elif block.kind == "p" and block.cls == "signature":
            signature.append(Paragraph(markup(block.runs), st["signature"]))
        elif block.kind == "p" and block.cls == "label":
            paras = _paragraph(block, st, "label")
            for p in paras:
                p.keepWithNext = True  # an instruction stays with what it introduces
            out.extend(paras)
        elif block.kind == "p":
            out.extend(_paragraph(block, st, block.cls or "p"))
        elif block.kind == "list":
            checkboxes = block.cls == "checkboxes"
            items, cells = [], []
            for i, item in enumerate(block.items):
                cell = [Paragraph(markup(item), st["li"])]
                if checkboxes and i < len(block.alt_items):
                    cell = [Paragraph(markup(item), _derived("li-paired", st["li"],
                                                             spaceAfter=0)),
                            Paragraph(escape(block.alt_items[i]), _derived(
                                "alt-item", st["alt"], leftIndent=st["li"].fontSize,
                                spaceAfter=2))]
                cells.append(cell)
                items.append(ListItem(cell, **({"value": "", "bulletText": ""}
                                               if checkboxes else {})))
            out.append(_keyed(_List(
                items, bulletType="1" if block.ordered else "bullet",
                start=None if block.ordered else ("" if checkboxes else BULLET),
                bulletFontName=FONT, bulletFontSize=st["li"].fontSize,
                leftIndent=8 if checkboxes else st["li"].fontSize * 1.5, spaceAfter=6),
                ("list", block.ordered, checkboxes, st["li"].fontSize,
                 tuple(len(cell) for cell in cells)),
                [p for cell in cells for p in cell]))
        elif block.kind == "table":
            table = _table(block, width, st)
            if table is not None:
                out.append(table)
        elif block.kind == "hr":
            out.append(HRFlowable(width="100%", thickness=0.6, color=colors.black,
                                  spaceBefore=4, spaceAfter=8))
        elif block.kind == "pagebreak":
            out.append(PageBreak())
    if signature:
        out.append(_keyed(KeepTogether(signature), ("keep",), signature))
    return out


#: Side of the response form's QR code (quiet zone included), in points.
QR_SIZE = 0.8 * inch


class _QrCode(Flowable):
    """The QR code of a notice ID, ``QR_SIZE`` square with its 4-module quiet zone: encoded
    once (error correction M, ReportLab's matrix by :func:`letters.qr.modules`), drawn as one
    filled path of the dark runs of each row."""

    BORDER = 4

    def __init__(self, value: str):
        super().__init__()
        from letters import qr  # numpy, only once a letter has a form to draw

        self.value = value
        self.modules = qr.modules(value)
        self.width = self.height = QR_SIZE

    def wrap(self, available_width, available_height):
        return self.width, self.height

    def draw(self):
        n = len(self.modules)
        box = QR_SIZE / (n + 2 * self.BORDER)
        path = self.canv.beginPath()
        # what ``path.rect`` writes for each run, with each number formatted once: the
        # columns' x, the rows' y and the runs' widths
        xs = [fp_str((c + self.BORDER) * box) for c in range(n)]
        widths = [""] + [fp_str(count * box) for count in range(1, n + 1)]
        height = fp_str(box)
        code: list[str] = []
        for r, row in enumerate(self.modules):
            y = fp_str(QR_SIZE - (r + self.BORDER + 1) * box)
            c = 0
            for dark, run in itertools.groupby(row):
                count = len(list(run))
                if dark:
                    code.append(f"{xs[c]} {y} {widths[count]} {height} re")
                c += count
        if code:
            path._code_append(code[0])  # the path's first operator (ReportLab adds an 'n')
            path._code.extend(code[1:])
        self.canv.saveState()
        self.canv.setFillColor(colors.black)
        self.canv.drawPath(path, stroke=0, fill=1)
        self.canv.restoreState()


def notice_qr(notice_id: str) -> _QrCode:
    """The QR code that carries the notice ID, for the office's scanner."""
    return _QrCode(notice_id)


def _form_flowables(form: list[Block], notice_id: str, width: float, st: dict) -> list:
    """The response form, its notice ID line (and the field lines after it) beside a QR code
    of the notice ID: the typed ID stays for people, the code is for scanning replies."""
    at = next((i for i, b in enumerate(form) if b.kind == "p" and b.cls == "field" and
               notice_id in b.text()), None)
    if at is None:
        return _flowables(form, width, st)
    end = at + 1
    while end < len(form) and form[end].kind == "p" and form[end].cls == "field":
        end += 1
    fields = _flowables(form[at:end], width - QR_SIZE - 12, st)
    table = _Grid([[fields, [notice_qr(notice_id)]]], [width - QR_SIZE - 12, QR_SIZE + 12],
                  padding=(0, 0, 0, 0), align=("LEFT", "RIGHT"))
    table.spaceAfter = st["field"].spaceAfter
    return [*_flowables(form[:at], width, st), table, *_flowables(form[end:], width, st)]


# --- page furniture -----------------------------------------------------------------------------

def address_lines(doc: Document) -> list[str]:
    """The lines printed in the address window (``letters.addresses.block_lines``); a letter
    for a represented person goes to their counsel of record, at counsel's address."""
    r = doc.recipient
    name = r.deliver_to["name"] if r.deliver_to else r.full_name
    return block_lines(name, r.address, upper_case=doc.address_upper_case)


#: Points between the lowest descender of the address and the barcode's own clear zone.
BARCODE_GAP = 1.0
_DESCENT = 0.24     # of the font size: DejaVu Sans's descenders reach about this far


def address_layout(doc: Document):
    """The address lines, their size, and the barcode widget to draw beneath them (None when
    the letter has no IMb, or when the address fits the window only without it: the letter
    then goes without a barcode, which USPS allows, and its ledger row says so)."""
    lines = address_lines(doc)
    if doc.imb:
        from letters.imb import barcode

        bar = barcode(doc.imb)
        usable_w = ADDRESS_WINDOW.width - 2 * WINDOW_CLEARANCE
        if bar.width <= usable_w:
            # with the barcode, the address stays at 8 pt or more (the smallest size the
            # Postal Service's readers are meant for); smaller, it goes without the barcode
            size = fit_font_size(lines, FONT, ADDRESS_WINDOW, smallest=8.0,
                                 reserve=bar.height + BARCODE_GAP + 2)
            if size is not None:
                return lines, size, bar
    return lines, fit_font_size(lines, FONT, ADDRESS_WINDOW), None


def barcode_position(count: int, size: float, bar, leading: float = 1.2) -> tuple[float, float]:
    """Where the barcode widget (clear zones included) goes: at the window's left clearance,
    its top just under the descenders of the last of ``count`` address lines."""
    top = ADDRESS_WINDOW.y + ADDRESS_WINDOW.height - WINDOW_CLEARANCE
    last_baseline = top - size - (count - 1) * size * leading
    y = last_baseline - _DESCENT * size - BARCODE_GAP - bar.height
    return ADDRESS_WINDOW.x + WINDOW_CLEARANCE, y


def _draw_lines(canv: Canvas, lines: list[tuple[str, str]], box: Rect, size: float,
                leading: float = 1.2) -> None:
    """Draw (font, text) lines from the top-left of ``box`` inside its clearance."""
    x = box.x + WINDOW_CLEARANCE
    y = box.y + box.height - WINDOW_CLEARANCE - size
    for font, text in lines:
        canv.setFont(font, size)
        canv.drawString(x, y, text)
        y -= size * leading


class _PageContents(PDFStream):
    """A page's operators, compressed (FlateDecode) and written as ReportLab writes a
    compressed stream, without the ASCII85 layer ReportLab puts on page streams by default
    (7-bit text no reader needs, a quarter larger) and without its general formatting."""

    def __init__(self, operators: str):
        super().__init__()
        data = zlib.compress(operators.encode("utf8"))
        self._written = b"<<\n/Filter [ /FlateDecode ] /Length %d\n>>\nstream\n%bendstream\n" \
            % (len(data), data)

    def format(self, document):
        if not isinstance(document.encrypt, NoEncryption):
            raise RenderError("letters are not encrypted")  # (the canvas is never given any)
        return self._written


class _LetterCanvas(Canvas):
    """Keeps pages until the end so every page can show 'Page X of Y' and page 1 the pointers
    to the other versions, with the page on which each starts."""

    def __init__(self, *args, letter_doc: Document, starts: dict[str, int], slot: dict,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self._letter = letter_doc
        self._starts = starts
        self._slot = slot
        self._pages: list[dict] = []
        self._letters_lang = letter_doc.versions[0].lang
        glyphs.seed(self._doc, letter_doc.charset, FONT_FILES)
        self._letters_charset = letter_doc.charset
        if letter_doc.charset:
            # fixed font names too (/F1 regular, /F2 bold), whatever the letter draws first,
            # so that paragraphs drawn once can be replayed in every letter of the batch
            for name in (FONT, f"{FONT}-Bold"):
                pdfmetrics.getFont(name).getSubsetInternalName(0, self._doc)
            # each face's codes in this letter (the state ReportLab keeps per document and
            # adds to): read directly from here on
            self._letters_states = tuple(pdfmetrics.getFont(name).state[self._doc]
                                         for name in FONT_FILES)
            self._letters_seeded = _font_codes(self)  # the batch's codes, and none other
        issue = letter_doc.issue_date
        self._doc.setDateFormatter(lambda *_: f"D:{issue:%Y%m%d}000000+00'00'")

    def showPage(self):
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self):
        if self._letter.duplex and len(self._pages) % 2:
            # the page ReportLab started after the last one is empty: it becomes the blank
            # back of the last sheet, in the first version's language
            self._letters_lang = self._letter.versions[0].lang
            self._letters_blank = True
            self._pages.append(dict(self.__dict__))
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            if state.get("_letters_blank"):
                self._blank_page()
            self._furniture(number, total)
            Canvas.showPage(self)
            page = self._doc.Pages.pages[-1]
            page.Contents = _PageContents(page.stream)
        Canvas.save(self)

    @property
    def pages(self) -> int:
        return len(self._pages)

    def _blank_page(self) -> None:
        labels = next(v.labels for v in self._letter.versions
                      if v.lang == self._letter.versions[0].lang)
        self.saveState()
        self.setFillColor(colors.black)
        self.setFont(FONT, 12)
        self.drawCentredString(PAGE_WIDTH / 2, PAGE_HEIGHT / 2, labels["blank_page"])
        self.restoreState()

    def _furniture(self, number: int, total: int) -> None:
        doc = self._letter
        labels = next(v.labels for v in doc.versions if v.lang == self._letters_lang)
        self.saveState()
        self.setFillColor(colors.black)
        self.setFont(FONT, 8)
        self.drawString(MARGIN, FOOTER_Y, f"{labels['notice_id']}: {doc.notice_id}")
        self.drawRightString(PAGE_WIDTH - MARGIN, FOOTER_Y,
                             labels["page_of"] % {"page": number, "pages": total})
        if number == 1 and doc.crossrefs and self._slot:
            self._pointers()
        if doc.proof:
            self.setFillColor(colors.Color(0.75, 0.1, 0.1), alpha=0.18)
            self.setFont(f"{FONT}-Bold", 40)
            self.translate(PAGE_WIDTH / 2, PAGE_HEIGHT / 2)
            self.rotate(50)
            self.drawCentredString(0, -14, labels["proof"])
        self.restoreState()

    def _pointers(self) -> None:
        slot, st = self._slot, styles(self._letter.font_size)
        top = slot["y"] + slot["height"]
        self.setLineWidth(1.2)
        self.rect(slot["x"], slot["y"], slot["width"], slot["height"])
        y = top - 7
        for ref in self._letter.crossrefs:
            page = self._starts.get(ref.target, "")
            para = Paragraph(escape(ref.text.replace(PAGE_SENTINEL, str(page))), st["pointer"])
            _, h = para.wrap(slot["width"] - 16, slot["height"])
            para.drawOn(self, slot["x"] + 8, y - h)
            y -= h + 4


def _taglines_table(doc: Document, width: float) -> Table | None:
    """The taglines in two columns, in the order configured (down the first column first)."""
    return _taglines_table_of(tuple(t.text for t in doc.taglines), doc.font_size, width)


def _taglines_table_of(texts: tuple[str, ...], font_size: float, width: float) -> Table | None:
    if not texts:
        return None
    st = styles(font_size)["tagline"]
    paras = [Paragraph(escape(text), st) for text in texts]
    half = (len(paras) + 1) // 2
    left, right = paras[:half], paras[half:]
    rows = [[a, right[i] if i < len(right) else ""] for i, a in enumerate(left)]
    table = Table(rows, colWidths=[width / 2] * 2, hAlign="LEFT")
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), FONT),  # not the default Helvetica, unembedded
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 6), ("RIGHTPADDING", (0, 0), (-1, -1), 6),
        ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("BOX", (0, 0), (-1, -1), 0.6, colors.black),
    ]))
    return table


def _taglines_height(doc: Document, width: float) -> float:
    return _taglines_height_of(tuple(t.text for t in doc.taglines), doc.font_size, width)


@functools.lru_cache(maxsize=64)
def _taglines_height_of(texts: tuple[str, ...], font_size: float, width: float) -> float:
    table = _taglines_table_of(texts, font_size, width)
    return table.wrap(width, PAGE_HEIGHT)[1] if table is not None else 0.0


def _drawn_once(canv: Canvas, key: tuple, draw) -> None:
    """``draw()`` on the canvas; in a batch's letters (fixed font names and codes) the same
    ``key`` in the same canvas state draws the same operators and leaves the same state, so
    they are kept (``_DRAWN``) and replayed: what every first page prints around its address."""
    charset = getattr(canv, "_letters_charset", "")
    if not charset:
        return draw()
    names, before = tuple(canv._doc.fontMapping.items()), _canvas_state(canv)
    key = ("drawn", key, charset, names, before)
    hit = _DRAWN.get(key)
    if hit is not None:
        _DRAWN.move_to_end(key)
        code, after = hit
        canv._code.extend(code)
        for name, value in zip(_CANVAS_STATE, after):
            setattr(canv, name, value)
        return
    start, objects = len(canv._code), len(canv._doc.idToObject)
    draw()
    # kept when it used the batch's codes only, made no object and left transparency as it
    # was (the other attributes of the state are set again on replay)
    if _batch_codes_only(canv, names) and len(canv._doc.idToObject) == objects and \
            _canvas_state(canv)[-1] == before[-1]:
        _remember(_DRAWN, key, (tuple(canv._code[start:]),
                                tuple(getattr(canv, name, None) for name in _CANVAS_STATE)))


def _first_page(canv: Canvas, _doc, letter_doc: Document, width: float) -> None:
    office = letter_doc.office
    first = letter_doc.versions[0]
    labels = first.labels
    right = PAGE_WIDTH - 0.75 * inch
    date_text = format_date(letter_doc.issue_date, "long",
                            locale=locale_for(first.locale or first.lang))
    contact = [x for x in (office.hotline or office.phone, office.website) if x]

    def office_and_date():
        # return address, in the upper window
        ret = [(f"{FONT}-Bold", office.name), *[(FONT, line) for line in office.address]]
        size = fit_font_size([t for _, t in ret], f"{FONT}-Bold", RETURN_WINDOW,
                             largest=9.5) or 7.5
        _draw_lines(canv, ret, RETURN_WINDOW, size)
        # date and notice ID at the top right
        canv.setFont(FONT, 10)
        canv.drawRightString(right, PAGE_HEIGHT - 0.75 * inch, f"{labels['date']}: {date_text}")

    def contact_lines():
        canv.setFont(FONT, 9)
        for i, line in enumerate(contact):
            canv.drawRightString(right, PAGE_HEIGHT - 0.75 * inch - 30 - 12 * i, line)

    def folds_and_taglines():
        # fold marks in the left margin
        canv.setLineWidth(0.4)
        for y in (PAGE_HEIGHT - FOLD, PAGE_HEIGHT - 2 * FOLD):
            canv.line(0.15 * inch, y, 0.35 * inch, y)
        # the taglines, boxed, at the foot of the page
        table = _taglines_table(letter_doc, width)
        if table is not None:
            table.wrap(width, PAGE_HEIGHT)
            table.drawOn(canv, MARGIN, BODY_BOTTOM)

    canv.saveState()
    _drawn_once(canv, ("office", office.name, tuple(office.address), labels["date"],
                       date_text), office_and_date)
    canv.setFont(f"{FONT}-Bold", 10)
    canv.drawRightString(right, PAGE_HEIGHT - 0.75 * inch - 14,
                         f"{labels['notice_id']}: {letter_doc.notice_id}")
    _drawn_once(canv, ("contact", tuple(contact)), contact_lines)
    # recipient, in the lower window, and the Intelligent Mail barcode beneath the last line
    lines, size, bar = address_layout(letter_doc)
    _draw_lines(canv, [(FONT, line) for line in lines], ADDRESS_WINDOW, size)
    if bar is not None:
        x, y = barcode_position(len(lines), size, bar)
        bar.drawOn(canv, x, y)
    _drawn_once(canv, ("folds and taglines", width, letter_doc.font_size,
                       tuple((t.lang, t.text) for t in letter_doc.taglines)), folds_and_taglines)
    canv.restoreState()


# --- stamps -------------------------------------------------------------------------------------
#
# Most of a letter's pages are the same as other letters' pages: after the parts about the person
# (greeting, cases), the notice goes on in the same words. ReportLab lays a letter out flowable
# by flowable, each at the place left by the ones before; where a run of flowables that other
# letters print too (each keyed by what it is: its text, style and width) starts at the same
# place on the page, in the same canvas state and with the same fonts, it lays out and draws
# the same way. Such a run's page content is stamped: laid out once, its operators kept with
# what it consumed and where it left the page, and replayed in every later letter at that
# place. What a stamp replays is what ReportLab drew there, so a letter is the same bytes
# whether its pages were stamped or laid out (tests/test_pdf.py renders letters cold and warm).
#
# A stamp ends where its run does (at a flowable about this letter only, a page break, the end
# of the letter), or where the page ends: then it keeps what was left for the next page (a
# flowable of the run, the rest of a paragraph split after so many lines, the items of a list
# from the one that did not fit) and that page ends on replay as it did. Runs that change
# anything else (a font named anew, a character given a code of this letter's own, an
# annotation, the keepWithNext ReportLab clears on what it kept together, left for the next
# page) are not kept. A run never ends with a flowable
# ReportLab keeps with the next one (where the pair goes depends on what follows the run).
# Replay re-runs no flowable's drawing but the language markers' (``_VersionStart``, which note
# the page each version starts on): a flowable with any other effect on the letter than its
# operators (the pointers' slot, a link, a bookmark) has no stamp key and is laid out.

_STAMPS: collections.OrderedDict = collections.OrderedDict()
_STAMPS_KEPT = 1024


@dataclass
class _Recording:
    key: tuple
    run: list           # the flowables of the run
    end: object         # the flowable after the run, or None at the end of the letter
    code: int           # where its operators start in the page's
    count: int          # the page's flowable count before it
    state: tuple        # canvas state, font names and objects when it started
    keep: list          # each flowable's own keepWithNext when it started


def _canvas_fingerprint(canv) -> tuple:
    return (_canvas_state(canv), tuple(canv._doc.fontMapping.items()),
            len(canv._doc.idToObject), _font_codes(canv))


class _LetterDocTemplate(BaseDocTemplate):
    """ReportLab's document template, with the stamps above."""

    _stamp_rec: _Recording | None = None
    _stamp_flowables: list = []

    def build(self, flowables, filename=None, canvasmaker=Canvas):
        self._stamp_flowables = flowables
        return super().build(flowables, filename, canvasmaker)

    def handle_flowable(self, flowables):
        if flowables is self._stamp_flowables and getattr(self.canv, "_letters_charset", ""):
            rec = self._stamp_rec
            if rec is not None and flowables and flowables[0] is rec.end:
                self._stamp_finish(flowables, page_ends=False)
            if self._stamp_rec is None and self.frame is not None and self._stamp(flowables):
                return
        super().handle_flowable(flowables)

    def handle_pageEnd(self):
        if self._stamp_rec is not None:
            flowables = self._stamp_flowables
            self._stamp_finish(flowables, page_ends=bool(flowables))
        super().handle_pageEnd()

    def _stamp(self, flowables: list) -> bool:
        """Replay the stamp of the run of shared flowables at the head of ``flowables``, or
        start recording one; True when it was replayed."""
        if not flowables[0].__dict__.get("_stamp_shared"):
            return False
        canv, frame = self.canv, self.frame
        state = _canvas_fingerprint(canv)
        if state[-1] != getattr(canv, "_letters_seeded", None):
            return False  # this letter has codes of its own by now
        m = 1
        while m < len(flowables) and flowables[m].__dict__.get("_stamp_shared"):
            m += 1
        # ReportLab keeps a flowable marked keepWithNext together with the one after it: a run
        # does not end with one (where it goes would depend on what follows the run)
        while m < len(flowables) and m and flowables[m - 1].getKeepWithNext():
            m -= 1
        if not m:
            return False
        run = flowables[:m]
        key = (frame._x1, frame._y1, frame._width, frame._height, frame._leftPadding,
               frame._rightPadding, frame._topPadding, frame._bottomPadding, frame._x, frame._y,
               frame._atTop, frame._prevASpace, frame._leftExtraIndent,
               frame._rightExtraIndent, canv._letters_charset, state,
               hasattr(run[0], "_postponed"),
               # keepWithNext as it is now: ReportLab clears it on what it kept together
               tuple((f.__dict__["_stamp"], bool(f.getKeepWithNext())) for f in run))
        hit = _STAMPS.get(key)
        if hit is None:
            self._stamp_rec = _Recording(key, run, flowables[m] if m < len(flowables) else None,
                                         len(canv._code), self._curPageFlowableCount, state,
                                         [f.__dict__.get("keepWithNext") for f in run])
            return False
        _STAMPS.move_to_end(key)
        code, count, used, starts, after, split, postponed = hit
        canv._code.extend(code)
        for i in starts:  # the language versions that start here
            run[i].canv = canv
            run[i].draw()
            del run[i].canv
        self._curPageFlowableCount += count
        if after is not None:  # the page goes on after the run
            del flowables[:used]
            frame._x, frame._y, frame._atTop, frame._prevASpace = after
            return True
        if split is not None:  # the next page starts with a part of a flowable split here
            width, height, part = split
            first = flowables[used]
            first._frame, first.canv = frame, canv
            try:
                first.wrap(width, height)
                parts = first.split(width, height)
            finally:
                del first._frame, first.canv
            flowables[: used + 1] = parts[part:]
        else:
            del flowables[:used]
        if postponed:
            flowables[0]._postponed = 1
        self.handle_frameEnd()
        return True

    def _stamp_finish(self, flowables: list, page_ends: bool) -> None:
        rec, self._stamp_rec = self._stamp_rec, None
        canv, frame = self.canv, self.frame
        if _canvas_fingerprint(canv) != rec.state:
            return  # it changed more than the page's operators
        split = after = None
        postponed = False
        if not page_ends:
            used = len(rec.run)
            after = (frame._x, frame._y, frame._atTop, frame._prevASpace)
        else:
            head = flowables[0]
            where = {id(f): i for i, f in enumerate(rec.run)}
            if head is rec.end:
                used = len(rec.run)
            elif id(head) in where:
                used = where[id(head)]
            elif id(head.__dict__.get("_stamp_from")) in where:
                used = where[id(head.__dict__["_stamp_from"])]
                split = head.__dict__["_stamp_split"]
            else:
                return  # the page ends inside something a flowable of the run split into
            postponed = hasattr(head, "_postponed")
            if any(f.__dict__.get("keepWithNext") != keep
                   for f, keep in zip(rec.run[used:], rec.keep[used:])):
                return  # kept with the next one on this page, it is not so on the next
        starts = tuple(i for i, f in enumerate(rec.run[:used]) if isinstance(f, _VersionStart))
        _remember(_STAMPS, rec.key, (tuple(canv._code[rec.code:]),
                                     self._curPageFlowableCount - rec.count, used, starts,
                                     after, split, postponed), _STAMPS_KEPT)


# --- checks and rendering -----------------------------------------------------------------------

def _all_text(doc: Document):
    for i, line in enumerate(address_lines(doc)):
        yield ("name" if i == 0 else f"address line {i}"), line
    for version in doc.versions:
        for block in version.blocks:
            yield f"{version.lang} letter text", block.text()
        for value in version.labels.values():
            yield f"{version.lang} page labels", value
    for block in doc.form:
        yield "response form", " ".join([block.text(), block.alt, *block.alt_items])
    for ref in doc.crossrefs:
        yield f"{ref.lang} pointer line", ref.text.replace(PAGE_SENTINEL, "0")
    for tagline in doc.taglines:
        yield f"{tagline.lang} tagline", tagline.text
    yield "office", " ".join([doc.office.name, *doc.office.address, doc.office.hotline,
                              doc.office.phone, doc.office.website])


@functools.lru_cache(maxsize=1)
def _drawable_chars() -> frozenset[str]:
    return frozenset(chr(c) for c in register_fonts()) | {"\n", "\t"}


@functools.lru_cache(maxsize=1)
def _undrawable() -> re.Pattern:
    """A pattern that finds a character the font cannot draw (one character class of the
    drawable ones' ranges, negated: a letter's text is searched at C speed)."""
    codes = sorted(ord(c) for c in _drawable_chars())
    ranges, start = [], codes[0]
    for prev, code in zip(codes, codes[1:] + [None]):
        if code != prev + 1:
            ranges.append(re.escape(chr(start)) if start == prev else
                          f"{re.escape(chr(start))}-{re.escape(chr(prev))}")
            start = code
    return re.compile(f"[^{''.join(ranges)}]")


def check_glyphs(doc: Document) -> None:
    """A character the font cannot draw is an error for this recipient, never a blank box."""
    drawable = _drawable_chars()
    texts = list(_all_text(doc))
    if _undrawable().search("".join(text for _, text in texts)) is None:  # the usual case
        return
    for where, text in texts:
        if drawable.issuperset(text):
            continue
        for ch in text:
            if ch not in drawable:
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
    #: the Intelligent Mail barcode printed in the address window, or None
    imb: str | None = None


def render(doc: Document) -> Rendered:
    """Lay out and render one letter. Same document, same bytes."""
    register_fonts()
    check_glyphs(doc)
    check_address(doc)
    buf = io.BytesIO()
    starts: dict[str, int] = {}
    slot: dict = {}
    st = styles(doc.font_size)
    width = PAGE_WIDTH - 2 * MARGIN
    template = _LetterDocTemplate(
        buf, pagesize=letter, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=BODY_TOP,
        bottomMargin=BODY_BOTTOM, title=doc.title, subject=doc.subject, author=doc.office.name,
        creator=f"letters {__version__}", invariant=1, lang=doc.versions[0].lang,
        initialFontName=FONT, initialFontSize=doc.font_size)
    taglines = _taglines_height(doc, width)
    first_bottom = BODY_BOTTOM + (taglines + 10 if taglines else 0)
    first = Frame(MARGIN, first_bottom, width, PAGE_HEIGHT - BODY_TOP_FIRST - first_bottom,
                  id="first", leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
    later = Frame(MARGIN, BODY_BOTTOM, width, PAGE_HEIGHT - BODY_TOP - BODY_BOTTOM, id="later",
                  leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
    template.addPageTemplates([
        PageTemplate("first", [first], onPage=lambda c, d: _first_page(c, d, doc, width),
                     autoNextPageTemplate="later"),
        PageTemplate("later", [later]),
    ])
    pointers = _Pointers([(r.lang, r.text) for r in doc.crossrefs], st, slot) \
        if doc.crossrefs else None
    story: list = []
    for i, version in enumerate(doc.versions):
        if i:
            story.append(PageBreak())
        story.append(_VersionStart(version.lang, starts))
        story.extend(_flowables(version.blocks, width, st, pointers if i == 0 else None))
    if doc.form:
        form = list(doc.form)
        while form and form[0].kind == "pagebreak":
            form.pop(0)
        # the form is in the first version's language: its page furniture too
        story += [PageBreak(), _VersionStart(doc.versions[0].lang, {})]
        story.extend(_form_flowables(form, doc.notice_id, width, st))
    canvases: list[_LetterCanvas] = []

    def canvasmaker(*a, **kw):
        canvases.append(_LetterCanvas(*a, letter_doc=doc, starts=starts, slot=slot, **kw))
        return canvases[-1]

    template.build(story, canvasmaker=canvasmaker)
    pdf = buf.getvalue()
    return Rendered(pdf=pdf, pages=canvases[-1].pages, version_pages=dict(starts),
                    imb=doc.imb if address_layout(doc)[2] is not None else None)
