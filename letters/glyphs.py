"""The batch's character set: one font subset per face for every letter of a batch.

ReportLab embeds, in each PDF, a subset of each TrueType face it uses, numbering the characters
in the order the document first draws them. Two letters of the same batch therefore embed
different subsets with different character codes, and a print file made of them must carry
every letter's subsets (about 40 kB a letter).

A batch instead fixes its character set when it is planned: every character any of its letters
can print — the letter and form templates and catalogs of the languages its letters are written
in, the tagline catalogs, the month and day names of those languages, the configuration, and
the batch's own records (names, addresses, cases, counsel) — in code-point order. Before a
letter draws anything, each face is given that whole set in that order (:func:`seed`), so every
letter of the batch embeds byte-identical subsets and the print merge keeps one of each
(``letters.printshop``).

The set is a recorded input of the batch (``"plan", "font charset"``): a resumed batch and
``letters audit verify --rerender`` use the recorded one, so a letter re-renders to the bytes
it has inside its batch. A character the set lacks still prints: the face assigns it a code
after the set's, and that letter's subset is its own (correct, just not shared); the set is
built so that this does not happen (``tests/test_printhouse.py`` checks the sample).

A set of more than about 220 characters spreads over several subsets of a face (ReportLab's
TrueType subsets hold 256 codes); each is then shared the same way.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path

from letters import fonts

#: Kept with the batch as this input: (kind, path).
INPUT = ("plan", "font charset")


def _catalog_text(path: Path) -> Iterable[str]:
    from letters.i18n import read_catalog, texts

    if not path.exists():
        return
    for message in read_catalog(path):
        yield from texts(message.id)
        yield from texts(message.string)


def _calendar_text(locale_id: str) -> Iterable[str]:
    """Month and day names and number symbols, as Babel formats dates and numbers."""
    from letters.i18n import locale_for

    try:
        loc = locale_for(locale_id)
    except Exception:  # an undeclared code formats as the default locale does
        return
    for context in ("format", "stand-alone"):
        for width in ("wide", "abbreviated"):
            yield from loc.months.get(context, {}).get(width, {}).values()
            yield from loc.days.get(context, {}).get(width, {}).values()
    symbols = loc.number_symbols
    if isinstance(symbols.get("latn"), dict):  # Babel 2.14 keys them by numbering system
        symbols = symbols["latn"]
    yield from (v for v in symbols.values() if isinstance(v, str))
    for fmt in ("short", "medium", "long", "full"):
        yield str(loc.date_formats[fmt])


def batch_charset(cfg, recipients: Iterable, composer=None) -> str:
    """Every character a letter of this batch can print, drawable by the bundled font, in
    code-point order. ``recipients``: the batch's recipients as they will be composed."""
    from letters import i18n
    from letters.compose import Composer
    from letters.pdf import BULLET

    composer = composer or Composer(cfg)
    texts: list[str] = [bytes(range(32, 127)).decode("ascii"), BULLET]
    chars: set[str] = set()
    languages: set[str] = {i18n.SOURCE_LANGUAGE}
    asked: set[tuple] = set()
    for r in recipients:
        key = (r.language, r.language_requested)
        if key not in asked:
            asked.add(key)
            languages.update(composer.languages(r))
        for text in _strings(r):
            # as a letter prints it (NFC) and in capitals (the address block)
            text = unicodedata.normalize("NFC", text)
            chars.update(text)
            upper = text.upper()
            chars.update(upper)
            if not unicodedata.is_normalized("NFC", upper):
                chars.update(unicodedata.normalize("NFC", upper))
    locale_dir = Path(cfg.locale_dir)
    for lang in sorted(languages):
        for domain in i18n.DOMAINS:
            texts.extend(_catalog_text(i18n.po_path(locale_dir, lang, domain)))
        texts.extend(_calendar_text(composer._locale(lang)))
    for lang in cfg.letter.taglines:
        texts.extend(_catalog_text(i18n.po_path(locale_dir, lang, i18n.TAGLINES)))
    for domain in i18n.DOMAINS:
        texts.extend(_catalog_text(i18n.pot_path(locale_dir, domain)))
    templates = Path(cfg.templates_dir)
    if templates.is_dir():
        for path in sorted(templates.rglob("*")):
            if path.is_file() and path.suffix in (".html", ".txt", ".j2"):
                texts.append(path.read_text(encoding="utf-8", errors="replace"))
    if cfg.source and Path(cfg.source).is_file():
        data = Path(cfg.source).read_text(encoding="utf-8", errors="replace")
        texts += [data, data.upper()]
    drawable = fonts.register()
    # the characters as they are and in NFC: a letter draws capitals of names that NFC would
    # compose differently ("ΐ".upper()) and configuration or catalog text as it was typed
    joined = "".join(texts)
    chars |= set(joined) | set(unicodedata.normalize("NFC", joined))
    return "".join(sorted(c for c in chars if ord(c) in drawable and ord(c) >= 32
                          and unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp")))


_FIELDS: dict[type, tuple[str, ...]] = {}


def _strings(value) -> Iterable[str]:
    """Every string in a recipient: its fields, its cases', its address's, mapping keys and
    values, at any depth."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif dataclasses.is_dataclass(value):
        names = _FIELDS.get(type(value))
        if names is None:
            names = _FIELDS[type(value)] = tuple(f.name for f in dataclasses.fields(value))
        for name in names:
            yield from _strings(getattr(value, name))


def digest(charset: str) -> str:
    return hashlib.sha256(charset.encode("utf-8")).hexdigest()


def seed(pdf_doc, charset: str, faces: Iterable[str]) -> None:
    """Give each face of ``faces`` the batch's character codes in ``pdf_doc`` (a ReportLab
    ``PDFDocument``) before anything is drawn: same set, same codes, same subsets."""
    if not charset:
        return
    from reportlab.pdfbase import pdfmetrics

    for name in faces:
        font = pdfmetrics.getFont(name)
        if pdf_doc in font.state:  # the face drew something already: the set goes after it
            font.splitString(charset, pdf_doc)
            continue
        seeded = _SEEDED.get((name, charset))
        if seeded is None or seeded[0] is not font:
            # ReportLab gives the set its codes once, for a document of no use otherwise
            from reportlab.pdfbase.pdfdoc import PDFDocument

            scratch = PDFDocument()
            font.splitString(charset, scratch)
            if len(_SEEDED) >= 16:
                _SEEDED.clear()
            seeded = _SEEDED[(name, charset)] = (font, font.state.pop(scratch))
        # each letter's document gets its own copy of that state: what it draws later adds
        # codes to its copy alone
        state = copy.copy(seeded[1])
        state.assignments = dict(state.assignments)
        state.subsets = [list(subset) for subset in state.subsets]
        font.state[pdf_doc] = state


#: (face, charset) -> (the face, its state after the charset was given codes, in no document)
_SEEDED: dict[tuple[str, str], tuple] = {}
