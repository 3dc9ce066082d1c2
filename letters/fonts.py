"""The bundled fonts: registration with ReportLab and what each family can draw.

Only what ships in ``letters/fonts/`` is used, so a letter looks the same on every machine and
its bytes do not depend on the fonts installed there. A language in ``letters.toml`` names one
of these families (``font = "DejaVuSans"``); the configuration is refused when a language's
name or tagline uses a character the family cannot draw, rather than printing a box on paper.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from importlib import resources

from reportlab.pdfbase import pdfdoc, pdfmetrics, ttfonts
from reportlab.pdfbase.ttfonts import TTFont

#: Font family -> face -> file in ``letters/fonts/``.
FAMILIES: dict[str, dict[str, str]] = {
    "DejaVuSans": {"normal": "DejaVuSans.ttf", "bold": "DejaVuSans-Bold.ttf",
                   "italic": "DejaVuSans-Oblique.ttf", "boldItalic": "DejaVuSans-BoldOblique.ttf"},
}
DEFAULT_FAMILY = "DejaVuSans"

_lock = threading.Lock()
_drawable: dict[str, frozenset[int]] = {}


def face_name(family: str, face: str = "normal") -> str:
    """The ReportLab font name of one face: 'DejaVuSans', 'DejaVuSans-Bold', ..."""
    suffix = {"normal": "", "bold": "-Bold", "italic": "-Oblique", "boldItalic": "-BoldOblique"}
    return family + suffix[face]


def font_files(family: str = DEFAULT_FAMILY) -> dict[str, str]:
    """ReportLab font name -> bundled file name, for every face of ``family``."""
    return {face_name(family, face): filename for face, filename in FAMILIES[family].items()}


#: Font programs made for subsets in this process: (face file, subset) -> program, and the
#: program -> its Flate-compressed bytes. The letters of a batch embed the same subsets
#: (``letters.glyphs``), so each is made and compressed once per process, not once per letter.
_SUBSETS: dict[tuple[str, tuple[int, ...]], bytes] = {}
_COMPRESSED: dict[int, tuple[bytes, bytes]] = {}
_SUBSETS_KEPT = 32


def clear_caches() -> None:
    """Forget the subset programs made so far."""
    _SUBSETS.clear()
    _COMPRESSED.clear()
    _WIDTHS.clear()
    _CMAPS.clear()
    _MEASURED.clear()


def _memoise_subsets(font: TTFont) -> None:
    """Make ``font``'s face remember the subset programs it makes (same bytes, made once)."""
    face = font.face
    make = face.makeSubset

    def make_subset(subset):
        if _SUBSETS_KEPT <= 0:  # keeping none: made for each letter
            return make(subset)
        key = (face.filename, tuple(subset))
        program = _SUBSETS.get(key)
        if program is None:
            while _SUBSETS and len(_SUBSETS) >= _SUBSETS_KEPT:  # bounded: the oldest go
                old = _SUBSETS.pop(next(iter(_SUBSETS)))
                _COMPRESSED.pop(id(old), None)
            program = _SUBSETS[key] = make(subset)
        return program

    face.makeSubset = make_subset


#: Widths of texts measured in this process: (font name, text, size, encoding) -> points.
_MEASURED: dict[tuple, float] = {}
_MEASURED_KEPT = 65536


def _memoise_widths(font: TTFont) -> None:
    """Make ``font`` remember the widths of the texts it measures. Laying a letter out measures
    some 250 words and spaces, most of them measured for the letter before ("the", "Court");
    a width is a function of the text and size alone (the face's advance widths, summed
    and scaled), so the number kept is the number ReportLab computes."""
    measure, name = font.stringWidth, font.fontName

    def string_width(text, size, encoding="utf8"):
        if type(text) is not str or type(size) not in (int, float):
            return measure(text, size, encoding)  # as ReportLab takes it (bytes, a Decimal)
        key = (name, text, size, encoding)
        width = _MEASURED.get(key)
        if width is None:
            if len(_MEASURED) >= _MEASURED_KEPT:
                _MEASURED.clear()
            width = _MEASURED[key] = measure(text, size, encoding)
        return width

    font.stringWidth = string_width


class _Formatted(pdfdoc.PDFObject):
    """A PDF object that was formatted before (a font subset's widths): its bytes, kept."""

    def __init__(self, data: bytes):
        self.data = data

    def format(self, document) -> bytes:
        return self.data


#: A subset's widths as written in the PDF, and its ToUnicode map compressed: the same for
#: every letter that embeds that subset (what ``_memoise_objects`` keeps).
_WIDTHS: dict[tuple[int, ...], _Formatted] = {}
_CMAPS: dict[str, bytes] = {}


def _memoise_objects(font: TTFont) -> None:
    """Make ``font`` write each subset's widths array once per process (ReportLab formats its
    hundreds of numbers again for every letter) and compress each ToUnicode map once."""
    add = font.addObjects

    def add_objects(doc):
        names = {font.getSubsetInternalName(n, doc)[1:]
                 for n in range(len(font.state[doc].subsets))} if doc in font.state else set()
        add(doc)
        if _SUBSETS_KEPT <= 0:
            return
        fonts = doc.idToObject["BasicFonts"].dict
        for name in sorted(names):
            pdf_font = fonts.get(name)
            widths = getattr(pdf_font, "Widths", None)
            if not isinstance(widths, pdfdoc.PDFArray):
                continue
            key = tuple(widths.sequence)
            kept = _WIDTHS.get(key)
            if kept is None:
                if len(_WIDTHS) >= _SUBSETS_KEPT:
                    _WIDTHS.clear()
                kept = _WIDTHS[key] = _Formatted(widths.format(doc))
            pdf_font.Widths = kept

    font.addObjects = add_objects


def _install_compression_memo() -> None:
    """ReportLab compresses every stream when the PDF is written: a font program made by
    ``_memoise_subsets`` is compressed once (zlib is deterministic: the same bytes)."""
    cls = pdfdoc.PDFStreamFilterZCompress
    if getattr(cls, "_letters_memo", False):
        return
    encode = cls.encode

    def memo_encode(self, text):
        kept = _COMPRESSED.get(id(text))
        if kept is not None and kept[0] is text:
            return kept[1]
        if isinstance(text, str) and text.startswith("/CIDInit") and _SUBSETS_KEPT > 0:
            out = _CMAPS.get(text)  # a subset's ToUnicode map
            if out is None:
                if len(_CMAPS) >= _SUBSETS_KEPT:
                    _CMAPS.clear()
                out = _CMAPS[text] = encode(self, text)
            return out
        out = encode(self, text)
        if isinstance(text, bytes) and any(text is p for p in _SUBSETS.values()):
            _COMPRESSED[id(text)] = (text, out)
        return out

    cls.encode = memo_encode
    cls._letters_memo = encode  # ReportLab's own (``as_shipped``)


def _install_write_memos() -> None:
    """ReportLab writes every dictionary key of every PDF object by making its PDF name and
    encoding it through a codec written in Python, for each object of each letter: the same
    few dozen names and values. Both are functions of the text alone, so their results are
    kept (short texts only, a bounded number of them): the same bytes, made once. So is each
    subset's ToUnicode map."""
    if getattr(pdfdoc, "_letters_names", False):
        return
    name, encode = pdfdoc.PDFName, pdfdoc.pdfdocEnc
    names: dict[str, str] = {}
    encoded: dict[str, bytes] = {}

    def memo_name(data, lo=chr(0x21), hi=chr(0x7e)):
        if type(data) is not str or len(data) > 64 or (lo, hi) != ("!", "~"):
            return name(data, lo, hi)
        return _kept(names, data, name)

    def memo_encode(x):
        if type(x) is not str:
            return encode(x)
        if len(x) > 64:
            # long texts (a compressed stream in ASCII85, as ReportLab writes the pages of
            # reports) are ASCII: there the PDF encoding is ASCII's, but for the eight codes
            # it gives accents (or refuses)
            if x.isascii() and _PDFDOC_OWN.search(x) is None:
                return x.encode("ascii")
            return encode(x)
        return _kept(encoded, x, encode)

    pdfdoc.PDFName, pdfdoc.pdfdocEnc = memo_name, memo_encode
    pdfdoc._letters_names = (name, encode)  # ReportLab's own, which tests compare
    # a subset's ToUnicode map is the same text for every letter that embeds the subset
    make_cmap = ttfonts.makeToUnicodeCMap
    cmap = functools.lru_cache(maxsize=64)(lambda font, subset: make_cmap(font, list(subset)))
    ttfonts.makeToUnicodeCMap = lambda font, subset: cmap(font, tuple(subset))
    ttfonts._letters_make_cmap = make_cmap  # ReportLab's own, which tests compare


def _kept(cache: dict, text: str, make):
    """``make(text)``, kept in ``cache`` (emptied when it holds 4,096)."""
    out = cache.get(text)
    if out is None:
        if len(cache) >= 4096:
            cache.clear()
        out = cache[text] = make(text)
    return out


#: The ASCII codes PDFDocEncoding does not give their ASCII meaning (U+0018..U+001F).
_PDFDOC_OWN = re.compile("[\x18-\x1f]")


@contextlib.contextmanager
def as_shipped(family: str = DEFAULT_FAMILY):
    """ReportLab as it ships, for the time of the block: ``family``'s faces and the PDF writer
    without any of the memos above (each font subset made, measured, formatted and compressed
    for each letter again), as a plain ReportLab script would have them. ``bench/render.py``
    compares with it. Not for threads: blocks must end in the order they began."""
    register(family)
    undo = []
    try:
        for name in font_files(family):
            font = pdfmetrics.getFont(name)
            for owner, attribute in ((font, "stringWidth"), (font, "addObjects"),
                                     (font.face, "makeSubset")):
                if attribute in owner.__dict__:
                    undo.append((owner, attribute, owner.__dict__.pop(attribute)))
        cls = pdfdoc.PDFStreamFilterZCompress
        for owner, attribute, shipped in (
                (pdfdoc, "PDFName", pdfdoc._letters_names[0]),
                (pdfdoc, "pdfdocEnc", pdfdoc._letters_names[1]),
                (ttfonts, "makeToUnicodeCMap", ttfonts._letters_make_cmap),
                (cls, "encode", cls._letters_memo)):
            undo.append((owner, attribute, getattr(owner, attribute)))
            setattr(owner, attribute, shipped)
        yield
    finally:
        for owner, attribute, value in reversed(undo):
            setattr(owner, attribute, value)


def register(family: str = DEFAULT_FAMILY) -> frozenset[int]:
    """Register ``family`` with ReportLab once per process; return the code points every one
    of its faces can draw."""
    with _lock:
        cached = _drawable.get(family)
        if cached is not None:
            return cached
        cmaps = []
        folder = resources.files("letters") / "fonts"
        for name, filename in font_files(family).items():
            with resources.as_file(folder / filename) as path:
                font = TTFont(name, str(path))
            _memoise_subsets(font)
            _memoise_objects(font)
            _memoise_widths(font)
            pdfmetrics.registerFont(font)
            cmaps.append(set(font.face.charToGlyph))
        _install_compression_memo()
        _install_write_memos()
        faces = {face: face_name(family, face) for face in FAMILIES[family]}
        pdfmetrics.registerFontFamily(family, **faces)
        if family == DEFAULT_FAMILY:
            # A drawing (the barcode, the QR code, a chart) starts from ReportLab's default
            # font, Helvetica, and names it in the PDF without embedding it, which prepress
            # checks flag: start drawings from the bundled font instead.
            from reportlab.graphics import shapes

            shapes.STATE_DEFAULTS["fontName"] = faces["normal"]
        _drawable[family] = frozenset(set.intersection(*cmaps))
        return _drawable[family]


def undrawable(text: str, family: str = DEFAULT_FAMILY) -> list[str]:
    """The characters of ``text`` that ``family`` cannot draw, in order, once each.

    >>> undrawable("Tiếng Việt, русский, Kreyòl")
    []
    >>> undrawable("中文 ok")
    ['中', '文']
    """
    drawable = register(family)
    seen: list[str] = []
    for ch in text:
        if ord(ch) not in drawable and ch not in "\n\t" and ch not in seen:
            seen.append(ch)
    return seen
