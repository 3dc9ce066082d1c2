"""Compose: a recipient and its languages become a letter document in a small HTML subset.

Templates render (autoescaped, sandboxed, ``StrictUndefined``) to HTML restricted to the subset
below; this module parses that HTML into plain dataclasses that ``pdf.py`` lays out. Text from
the records only ever reaches a document as text: Jinja escapes it, the parser unescapes it
into :class:`Run` strings, and the PDF renderer escapes it again for ReportLab.

The HTML subset
---------------
Blocks
    ``<h1> <h2> <h3>`` headings; ``<p>`` paragraph, with an optional ``class``: ``small``,
    ``center``, ``box`` (framed), ``greeting``, ``signature`` (kept with what follows),
    ``blank`` (a label followed by a line to write on), ``field`` and ``label`` (a filled-in
    form field and a form instruction), ``tagline``, ``citation`` (a court citation, small); ``<ul>`` (``class="checkboxes"`` for a form) and ``<ol>``
    with ``<li>`` items; ``<table class="cases">`` with ``<thead>``/``<tbody>``/``<tr>``/
    ``<th>``/``<td>`` (its header row repeats on every page it spans); ``<hr>`` a rule;
    ``<pagebreak>`` a new page.
Inline
    ``<b>``/``<strong>``, ``<i>``/``<em>``, ``<u>``, ``<br>``.

Any other tag or attribute is a :class:`TemplateError` naming the template and line.
Page furniture — letterhead, return and recipient addresses, date, notice ID, "Page X of Y" —
is not in the templates: ``pdf.py`` draws it from the :class:`Document` fields.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
import unicodedata
import traceback
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import jinja2.meta
from babel.dates import format_interval, get_day_names
from babel.lists import format_list

from letters import i18n
from letters.config import Config, OfficeConfig
from letters.errors import LettersError
from letters.model import TRANSLATED_CASE_COLUMNS, Recipient

BLOCK_TAGS = {"h1", "h2", "h3", "p", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th",
              "td", "hr", "pagebreak"}
INLINE_TAGS = {"b", "strong", "i", "em", "u", "br"}
VOID_TAGS = {"br", "hr", "pagebreak"}
CLASSES = {"p": {"small", "center", "box", "signature", "blank", "greeting", "field", "label",
                 "tagline", "citation"},
           "ul": {"checkboxes"}, "table": {"cases"}}

#: Messages used outside templates (page furniture); extracted from this file by Babel.
def N_(message: str) -> str:
    return message


PAGE_OF = N_("Page %(page)s of %(pages)s")
NOTICE_ID = N_("Notice ID")
DATE = N_("Date")
# Translators: Printed across every page of a draft. It must not read as legal evidence
# ("proof"): it says the page is a draft that must not be mailed.
PROOF = N_("DRAFT – DO NOT MAIL")
# Translators: A range of days the hotline answers, e.g. "Monday to Friday". The day names are
# already in your language.
DAY_RANGE = N_("%(first)s to %(last)s")
# Translators: Printed alone on the last page of a letter printed on both sides of the paper,
# when the letter has an odd number of pages (so the next letter starts on a new sheet).
BLANK_PAGE = N_("This page intentionally left blank.")
CROSSREF_TEMPLATE = "crossref.html"
PAGE_SENTINEL = "\ue000PAGE\ue000"  # replaced by the page number once the PDF is laid out
#: Paragraph classes that are not prose sentences (the readability measures skip them).
NOT_PROSE = {"greeting", "signature", "blank", "field", "label", "citation"}


class TemplateError(LettersError):
    """A template is broken, or asks for data a recipient lacks."""


# --- the document -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    """Text with one style. ``text == "\\n"`` is a line break."""

    text: str
    bold: bool = False
    italic: bool = False
    underline: bool = False


@dataclass
class Block:
    kind: str                       # h1 h2 h3 p list table hr pagebreak
    runs: list[Run] = field(default_factory=list)
    cls: str = ""
    ordered: bool = False           # list
    items: list[list[Run]] = field(default_factory=list)             # list items
    header: list[list[list[Run]]] = field(default_factory=list)      # table header rows
    rows: list[list[list[Run]]] = field(default_factory=list)        # table body rows
    #: The same label in the letter's second language, printed beneath (response form).
    alt: str = ""
    alt_items: list[str] = field(default_factory=list)

    def text(self) -> str:
        """Plain text of the block (tables and lists included)."""
        parts = ["".join(r.text for r in self.runs)]
        parts += ["".join(r.text for r in item) for item in self.items]
        for row in [*self.header, *self.rows]:
            parts += ["".join(r.text for r in cell) for cell in row]
        return "\n".join(p for p in parts if p)


@dataclass
class Version:
    """The whole letter in one language."""

    lang: str
    blocks: list[Block]
    labels: dict[str, str]   # page furniture in this language
    locale: str = ""         # Babel locale of its dates


@dataclass
class Crossref:
    """A line on page 1, in the language of another version, saying where that version is."""

    lang: str
    text: str                # holds PAGE_SENTINEL
    target: str              # the version it points to


@dataclass
class Tagline:
    """'This letter is important...' in one tagline language."""

    lang: str
    text: str


@dataclass
class Document:
    recipient: Recipient
    notice_id: str
    issue_date: dt.date
    office: OfficeConfig
    versions: list[Version]
    crossrefs: list[Crossref] = field(default_factory=list)
    taglines: list[Tagline] = field(default_factory=list)
    #: The response form after the last version (with ``[letter] form = "preferred"``).
    form: list[Block] = field(default_factory=list)
    proof: bool = False
    large_print: bool = False
    font_size: float = 12.0
    #: (language, context, value) of data values printed in English for want of a translation
    #: (drafts only: a letter to mail is refused instead).
    untranslated: list[tuple[str, str, str]] = field(default_factory=list)
    #: The address block in capitals (``[address] upper_case``).
    address_upper_case: bool = True
    #: The Intelligent Mail barcode printed in the address block (``letters.imb.value``), or
    #: None for none.
    imb: str | None = None
    #: Printed on both sides (``[mailing] duplex``): the PDF ends on an even page.
    duplex: bool = False
    #: The batch's character set (``letters.glyphs``): every face of the letter embeds the
    #: subset of exactly these characters, in this order. Empty: the characters it draws.
    charset: str = ""

    @property
    def title(self) -> str:
        return f"Notice {self.notice_id}"

    @property
    def subject(self) -> str:
        langs = " + ".join(v.lang for v in self.versions)
        return f"Court-ordered notice to {self.recipient.defendant_id} ({langs})"

    def prose_text(self, lang: str) -> str:
        """The prose a person reads in one version, one block per line, for plain-language
        measures: no cases table, no fill-in labels, no postal addresses."""
        version = next(v for v in self.versions if v.lang == lang)
        address = {self.office.name, *self.office.address, *self.recipient.address.lines()}
        lines = []
        for b in version.blocks:
            if b.kind in ("table", "hr", "pagebreak", "h1", "h2", "h3") or (
                    b.kind == "p" and b.cls in NOT_PROSE):
                continue
            if b.kind == "list":
                lines.extend("".join(r.text for r in item) for item in b.items)
                continue
            kept = [line for line in b.text().split("\n") if line.strip() not in address]
            lines.extend(line for line in kept if line.strip())
        return "\n".join(lines)

    def body_text(self, lang: str, *, tables: bool = False) -> str:
        """The running text of one version (no table unless ``tables``), for checks."""
        version = next(v for v in self.versions if v.lang == lang)
        return "\n".join(b.text() for b in version.blocks
                         if tables or b.kind != "table")


# --- parsing the subset -------------------------------------------------------------------------

class _SubsetParser(HTMLParser):
    def __init__(self, template: str):
        super().__init__(convert_charrefs=True)
        self.template = template
        self.blocks: list[Block] = []
        self.styles: list[str] = []        # open inline tags
        self.block: Block | None = None    # open p / h* / li / td / th target
        self.runs: list[Run] | None = None
        self.lists: list[Block] = []
        self.table: Block | None = None
        self.section: str = ""             # thead / tbody
        self.row: list[list[Run]] | None = None

    def fail(self, message: str):
        line, _ = self.getpos()
        raise TemplateError(f"{self.template}: rendered line {line}: {message}")

    def handle_starttag(self, tag, attrs):
        if tag not in BLOCK_TAGS | INLINE_TAGS:
            self.fail(f"tag <{tag}> is not in the letter HTML subset")
        cls = ""
        for name, value in attrs:
            if name != "class" or value not in CLASSES.get(tag, set()):
                self.fail(f"attribute {name}=\"{value}\" is not allowed on <{tag}>")
            cls = value
        if tag in INLINE_TAGS:
            if self.runs is None:
                self.fail(f"<{tag}> outside a paragraph, heading, list item or cell")
            if tag == "br":
                self.runs.append(Run("\n"))
            else:
                self.styles.append(tag)
            return
        if tag in ("h1", "h2", "h3", "p"):
            self._open_text_block(Block(tag, cls=cls))
        elif tag in ("ul", "ol"):
            self._require_no_text(tag)
            lst = Block("list", cls=cls, ordered=tag == "ol")
            self.lists.append(lst)
        elif tag == "li":
            if not self.lists:
                self.fail("<li> outside <ul> or <ol>")
            self.runs = []
            self.lists[-1].items.append(self.runs)
        elif tag == "table":
            self._require_no_text(tag)
            self.table = Block("table", cls=cls)
        elif tag in ("thead", "tbody"):
            if self.table is None:
                self.fail(f"<{tag}> outside <table>")
            self.section = tag
        elif tag == "tr":
            if self.table is None:
                self.fail("<tr> outside <table>")
            self.row = []
            (self.table.header if self.section == "thead" else self.table.rows).append(self.row)
        elif tag in ("td", "th"):
            if self.row is None:
                self.fail(f"<{tag}> outside <tr>")
            self.runs = []
            self.row.append(self.runs)
        elif tag == "hr":
            self._require_no_text(tag)
            self.blocks.append(Block("hr"))
        elif tag == "pagebreak":
            self._require_no_text(tag)
            self.blocks.append(Block("pagebreak"))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS:
            self.handle_endtag(tag)

    def _require_no_text(self, tag):
        if self.block is not None or (self.runs is not None and tag not in ("ul", "ol")):
            self.fail(f"<{tag}> inside a paragraph or cell")

    def _open_text_block(self, block: Block):
        if self.block is not None or self.lists or self.table is not None:
            self.fail(f"<{block.kind}> inside another block")
        self.block = block
        self.runs = block.runs

    def handle_endtag(self, tag):
        if tag in VOID_TAGS:
            return
        if tag in ("b", "strong", "i", "em", "u"):
            if tag not in self.styles:
                self.fail(f"</{tag}> without <{tag}>")
            self.styles.remove(tag)
        elif tag in ("h1", "h2", "h3", "p"):
            if self.block is None or self.block.kind != tag:
                self.fail(f"</{tag}> does not close an open <{tag}>")
            self.block.runs[:] = _tidy(self.block.runs)
            self.blocks.append(self.block)
            self.block = self.runs = None
        elif tag == "li":
            if self.runs is not None:
                self.runs[:] = _tidy(self.runs)
            self.runs = None
        elif tag in ("ul", "ol"):
            if not self.lists:
                self.fail(f"</{tag}> without <{tag}>")
            self.blocks.append(self.lists.pop())
        elif tag in ("td", "th"):
            if self.runs is not None:
                self.runs[:] = _tidy(self.runs)
            self.runs = None
        elif tag == "tr":
            self.row = None
        elif tag in ("thead", "tbody"):
            self.section = ""
        elif tag == "table":
            if self.table is None:
                self.fail("</table> without <table>")
            self.blocks.append(self.table)
            self.table = None
        elif tag not in BLOCK_TAGS | INLINE_TAGS:
            self.fail(f"tag </{tag}> is not in the letter HTML subset")

    def handle_data(self, data):
        if self.runs is None:
            if data.strip():
                self.fail(f"text outside a block: {data.strip()[:40]!r}")
            return
        text = re.sub(r"[ \t\r\n\f]+", " ", data)
        if not text:
            return
        styles = set(self.styles)
        self.runs.append(Run(text, bold=bool(styles & {"b", "strong"}),
                             italic=bool(styles & {"i", "em"}), underline="u" in styles))

    def close(self):
        super().close()
        if self.block is not None or self.lists or self.table is not None:
            self.fail("a block is not closed at the end of the template")


def _tidy(runs: list[Run]) -> list[Run]:
    """Collapse whitespace across runs as HTML does; trim the block's edges and around <br>."""
    out: list[Run] = []
    for run in runs:
        text = run.text
        if text != "\n" and (not out or out[-1].text == "\n" or out[-1].text.endswith(" ")):
            text = text.lstrip(" ")
        if not text:
            continue
        if text == "\n" and out and out[-1].text != "\n":
            out[-1] = Run(out[-1].text.rstrip(" "), out[-1].bold, out[-1].italic, out[-1].underline)
        out.append(Run(text, run.bold, run.italic, run.underline))
    if out and out[-1].text != "\n":
        out[-1] = Run(out[-1].text.rstrip(" "), out[-1].bold, out[-1].italic, out[-1].underline)
    return [r for r in out if r.text]


def parse(html: str, template: str = "<string>") -> list[Block]:
    """Parse rendered letter HTML into blocks; raise TemplateError outside the subset.

    Letters share most of their HTML, so the parse of each top-level block's text is kept (see
    :func:`_parse_pieces`); the result is the same as :func:`parse_whole`'s, errors included."""
    if PARSE_CACHE:
        blocks = _parse_pieces(html)
        if blocks is not None:
            return blocks
    return parse_whole(html, template)


def parse_whole(html: str, template: str = "<string>") -> list[Block]:
    """Parse the whole HTML in one pass, nothing kept: the reference for :func:`parse`."""
    parser = _SubsetParser(template)
    parser.feed(html)
    parser.close()
    return parser.blocks


# --- the parse cache ----------------------------------------------------------------------------
#
# A letter's HTML is cut after each tag that can end a top-level block, and each piece's parse is
# kept in an LRU cache keyed by the piece's text alone. This is exact because
#
# - the pieces are used only when each is made of plain text and simple tags (``_SIMPLE_HTML``):
#   no comment, declaration, unquoted or '<'/'>'-holding attribute, stray '<'. Then so is the
#   whole HTML (text and simple tags put together are text and simple tags; a piece's check is
#   kept with its parse), every '<' starts a tag the HTML parser reads exactly as the regex does,
#   a piece ends with a whole tag, and a fresh parser sees the same tags and the same text
#   segments in a piece as the one parsing the whole HTML. Conversely, in simple HTML a piece
#   ends only after a real tag (an attribute value or text holds no '<'), so each piece of it
#   is simple;
# - a piece's parse is used only if it leaves the parser as it found it (no open block, list,
#   table, section, row, cell or inline style): by induction each piece then starts, in the
#   whole-HTML parse too, from the initial state, makes the same calls and the same blocks;
# - anything else (a piece that does not close what it opens, an error, any exception) parses
#   the whole HTML again with :func:`parse_whole`, which gives the result or the error (with the
#   template and the line in the whole HTML) exactly as before.
#
# Cached blocks are never handed out: each parse returns fresh copies (``_copy_block``), so a
# caller may change them (``pair_form`` sets ``alt``). Runs are frozen and are shared.

#: Off: every parse is :func:`parse_whole` (tests compare the two).
PARSE_CACHE = True
#: Pieces kept, read at import (a piece is one top-level block's HTML: about 100 per bilingual
#: letter, most of them the same in every letter; 2,048 pieces hold about 5 MB).
PARSE_CACHE_SIZE = 2048

_WS = "[ \t\n\r\f]"
_ATTR = rf"""{_WS}+[a-z]+=(?:"[^"<>]*"|'[^'<>]*')"""
#: Text and simple tags only (``<p class="box">``, ``</p>``, ``<br/>``).
_SIMPLE_HTML = re.compile(
    rf"(?:[^<]*<(?:/[a-z][a-z0-9]*{_WS}*|[a-z][a-z0-9]*(?:{_ATTR})*{_WS}*/?)>)*[^<]*")
#: Up to and including the next tag that can end a top-level block; else the rest.
_PIECE_END = r"(?:/(?:p|h1|h2|h3|ul|ol|table)|(?:hr|pagebreak)/?)>"
_PIECE = re.compile(rf"[^<]*(?:<(?!{_PIECE_END})[^<]*)*<{_PIECE_END}|.+", re.S)


#: One tag of simple HTML (``_SIMPLE_HTML``): ``</name>``, ``<name attr="v">``, ``<name/>``.
_SIMPLE_TAG = re.compile(rf"<(/?)([a-z][a-z0-9]*)((?:{_ATTR})*){_WS}*(/?)>")
_SIMPLE_ATTR = re.compile(r"""([a-z]+)=(?:"([^"<>]*)"|'([^'<>]*)')""")


def _feed_simple(parser: HTMLParser, html: str) -> None:
    """Give ``parser`` the calls ``parser.feed(html); HTMLParser.close(parser)`` would make,
    for simple HTML (``_SIMPLE_HTML``) only, without the HTML parser's general machinery: the
    text between two tags as one ``handle_data`` with its character references converted
    (``convert_charrefs``), each tag as a start, end or start-end tag with its attributes'
    values converted. The parse cache parses the pieces it has not seen (the person's own
    parts of each letter) this way; its tests compare both."""
    at = 0
    for m in _SIMPLE_TAG.finditer(html):
        if m.start() > at:
            parser.handle_data(unescape(html[at:m.start()]))
        closing, tag, attributes, empty = m.groups()
        if closing:
            parser.handle_endtag(tag)
        else:
            attrs = [(a.group(1), unescape(a.group(2) if a.group(2) is not None else
                                           a.group(3)))
                     for a in _SIMPLE_ATTR.finditer(attributes)] if attributes else []
            if empty:
                parser.handle_startendtag(tag, attrs)
            else:
                parser.handle_starttag(tag, attrs)
        at = m.end()
    if at < len(html):
        parser.handle_data(unescape(html[at:]))


@functools.lru_cache(maxsize=PARSE_CACHE_SIZE)
def _parse_piece(piece: str) -> tuple[tuple[Block, ...], bool]:
    """A piece's blocks, and whether it is simple HTML and the parser ends in its initial
    state (the blocks are meaningless otherwise). Raises what the parser raises (not
    cached)."""
    if _SIMPLE_HTML.fullmatch(piece) is None:
        return (), False
    parser = _SubsetParser("")
    _feed_simple(parser, piece)
    clean = not (parser.styles or parser.block is not None or parser.runs is not None
                 or parser.lists or parser.table is not None or parser.section
                 or parser.row is not None)
    return tuple(parser.blocks), clean


def _parse_pieces(html: str) -> list[Block] | None:
    """The blocks of ``html`` from the cache, or None to parse it whole. The HTML is simple
    when each of its pieces is (each is checked once, with its parse): pieces are cut after
    tags, and text and simple tags put together are simple."""
    out: list[Block] = []
    try:
        for piece in _PIECE.findall(html):
            blocks, clean = _parse_piece(piece)
            if not clean:
                return None
            out += map(_copy_block, blocks)
    except Exception:  # the whole parse raises it again, with its line
        return None
    return out


def _copy_block(b: Block) -> Block:
    return Block(b.kind, b.runs[:], b.cls, b.ordered, [item[:] for item in b.items],
                 [[cell[:] for cell in row] for row in b.header],
                 [[cell[:] for cell in row] for row in b.rows], b.alt, b.alt_items[:])


def clear_caches() -> None:
    _parse_piece.cache_clear()


_TAG = re.compile(r"<\s*/?\s*([A-Za-z][\w-]*)([^<>]*)>")


def check_template_source(env: jinja2.Environment, name: str) -> None:
    """Report a tag outside the subset with the template's own file and line."""
    source, filename, _ = env.loader.get_source(env, name)
    # Jinja comments and statements can hold anything; blank them, keeping line numbers.
    stripped = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}",
                      lambda m: re.sub(r"[^\n]", " ", m.group(0)), source, flags=re.S)
    for m in _TAG.finditer(stripped):
        tag = m.group(1).lower()
        if tag not in BLOCK_TAGS | INLINE_TAGS:
            line = stripped.count("\n", 0, m.start()) + 1
            raise TemplateError(f"{filename}:{line}: tag <{tag}> is not in the letter HTML subset",
                                hint="Allowed: " + ", ".join(sorted(BLOCK_TAGS | INLINE_TAGS)))


# --- composing ----------------------------------------------------------------------------------

def _template_location(exc: BaseException) -> str:
    """'notice.html:12' from a Jinja error's traceback (Jinja maps frames to template lines)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith((".html", ".txt", ".j2")):
            return f"{frame.filename}:{frame.lineno}"
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"{exc.filename or exc.name}:{exc.lineno}"
    return "template"


class Composer:
    """Renders letters for one workspace. Build once per process; compose many recipients."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.registry = cfg.registry
        self.templates_dir = cfg.templates_dir
        self.locale_dir = cfg.locale_dir
        self._checked: set[tuple[str, str]] = set()
        self._envs: dict[tuple[str, str], object] = {}
        self._label_cache: dict[str, dict[str, str]] = {}
        #: a tagline's text by language and the values it prints (``_taglines``)
        self._tagline_texts: dict[tuple, str] = {}
        self._tagline_names: dict[str, frozenset[str] | None] = {}
        self._data: dict[str, object] = {}
        self._hotline: dict[str, dict] = {}

    def _locale(self, lang: str) -> str:
        return self.registry[lang].locale_id if lang in self.registry else lang

    def _env(self, lang: str, domain: str = i18n.DOMAIN):
        # One lookup per language for this composer: the shared cache checks the catalog
        # file on disk, which is not worth doing once per letter.
        env = self._envs.get((lang, domain))
        if env is None:
            env = self._envs[(lang, domain)] = i18n.environment(
                self.templates_dir, self.locale_dir, lang, locale=self._locale(lang),
                domain=domain)
        return env

    def _labels(self, lang: str) -> dict[str, str]:
        labels = self._label_cache.get(lang)
        if labels is None:
            labels = self._label_cache[lang] = {
                key: i18n.gettext(self.locale_dir, lang, msg)
                for key, msg in (("page_of", PAGE_OF), ("notice_id", NOTICE_ID),
                                 ("date", DATE), ("proof", PROOF),
                                 ("blank_page", BLANK_PAGE))}
        return labels

    def _render(self, lang: str, name: str, context: dict, recipient: Recipient,
                domain: str = i18n.DOMAIN) -> str:
        env = self._env(lang, domain)
        try:
            if (lang, name) not in self._checked:
                check_template_source(env, name)
                self._checked.add((lang, name))
            return env.get_template(name).render(context)
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"template {exc.name} not found in {self.templates_dir / lang} "
                                f"or {self.templates_dir / i18n.SOURCE_LANGUAGE}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{exc.filename or exc.name}:{exc.lineno}: {exc.message}") from None
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"{_template_location(exc)}: {exc.message} "
                                f"(recipient {recipient.defendant_id})",
                                hint="Add the field to the records or fix the template.") from None
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(f"{_template_location(exc)}: not allowed in a letter template: "
                                f"{exc}") from None
        except (KeyError, ValueError, TypeError) as exc:
            # a translation whose placeholders do not match the English ('%(nombre)s')
            raise TemplateError(f"{_template_location(exc)}: the {lang} translation of a "
                                f"message cannot be filled in ({type(exc).__name__}: {exc})",
                                hint=f"Run `letters i18n check --lang {lang}`.") from None

    # --- data values ----------------------------------------------------------------------

    def data_values(self, recipient: Recipient) -> list[tuple[str, str]]:
        """(context, English value) of every data value a letter to ``recipient`` prints
        translated: its cases' courts, counties, offenses, dispositions, labs and statuses,
        the signer's title and the public defender agency's name."""
        out = [("office", self.cfg.office.signer_title), ("office", self.cfg.office.name),
               ("counsel", self.cfg.counsel.name)]
        for case in recipient.cases:
            out += [(c, getattr(case, c)) for c in TRANSLATED_CASE_COLUMNS]
            status = self.cfg.case_status.get(case.case_status)
            if status is not None:
                out += [("case_status", status.label), ("case_status", status.meaning)]
        return [(c, v) for c, v in dict.fromkeys(out) if v]

    def data_keys(self, recipient: Recipient) -> dict[str, set[str]]:
        """Per version language, the data catalog keys (:func:`i18n.data_key`) it needs."""
        keys = {i18n.data_key(c, v) for c, v in self.data_values(recipient)}
        return {lang: keys for lang in self.languages(recipient)
                if lang != i18n.SOURCE_LANGUAGE}

    def _translator(self, lang: str, missing: list):
        lookup = self._data.get(lang)
        if lookup is None:
            lookup = self._data[lang] = i18n.data_lookup(self.locale_dir, lang)

        def tr(context: str, value: str) -> str:
            if not value:
                return value
            found = lookup(context, value)
            if found is None:
                missing.append((lang, context, value))
                return value
            return found
        return tr

    def _hotline_text(self, lang: str) -> dict:
        cached = self._hotline.get(lang)
        if cached is None:
            locale = i18n.locale_for(self._locale(lang))
            office = self.cfg.office
            names = get_day_names("wide", locale=locale)
            days = [names[DAYS.index(d)] for d in office.hotline_days.split("-")]
            day_text = days[0] if len(days) == 1 else i18n.gettext(
                self.locale_dir, lang, DAY_RANGE, first=days[0], last=days[1])
            start, end = (dt.time.fromisoformat(t) for t in office.hotline_hours.split("-"))
            twelve = "h" in locale.time_formats["short"].pattern  # the locale's own clock
            hours = format_interval(start, end, "hm" if twelve else "Hm", locale=locale)
            spoken = [locale.languages.get(code, code) for code in office.hotline_languages]
            cached = self._hotline[lang] = {
                "hours": f"{day_text}, {hours}",
                "languages": format_list(spoken, locale=locale)}
        return cached

    # --- composing ------------------------------------------------------------------------

    def context(self, recipient: Recipient, lang: str, notice_id: str,
                issue_date: dt.date, missing: list | None = None) -> dict:
        missing = [] if missing is None else missing
        tr = self._translator(lang, missing)
        deadline = issue_date + dt.timedelta(days=self.cfg.letter.response_days)
        office = self.cfg.office
        office = dataclasses.replace(office, hotline=office.hotline or office.phone,
                                     signer_title=tr("office", office.signer_title))
        counsel = dataclasses.replace(self.cfg.counsel, name=tr("counsel", self.cfg.counsel.name))
        statuses: dict[str, dict] = {}
        for case in recipient.cases:
            status = self.cfg.case_status.get(case.case_status)
            if status is not None and case.case_status not in statuses:
                statuses[case.case_status] = {"label": tr("case_status", status.label),
                                              "meaning": tr("case_status", status.meaning)}
        cases = [_CaseView(c, tr, statuses.get(c.case_status)) for c in recipient.cases]
        follow_up = None
        if recipient.follow_up:
            follow_up = {**recipient.follow_up,
                         "date": dt.date.fromisoformat(recipient.follow_up["date"])}
        known = [self.cfg.case_status.get(c.case_status) for c in recipient.cases]
        chemists = [c.chemist for c in recipient.cases]
        return {"recipient": _RecipientView(recipient, cases), "office": office,
                # every case already cancelled for good: nothing to ask the court
                "all_final": bool(known) and all(s is not None and s.final for s in known),
                # some cases have a decision and some not: the dash is explained
                "undecided": bool(statuses) and any(s is None for s in known),
                "presumed": [c for c in dict.fromkeys(chemists)
                             if c and c in self.cfg.letter.presumed_misconduct],
                # the office's name in the letter's language (the signature); addresses keep
                # the name the post office delivers to
                "office_name": tr("office", self.cfg.office.name),
                "counsel": counsel, "hotline": self._hotline_text(lang),
                "letter": self.cfg.letter, "statuses": list(statuses.values()),
                "follow_up": follow_up, "notice_id": notice_id, "issue_date": issue_date,
                "deadline": deadline, "response_days": self.cfg.letter.response_days,
                "lang": lang}

    def languages(self, recipient: Recipient, policy: str | None = None) -> list[str]:
        """Versions in print order: the preferred language first (see ``[letter] policy``)."""
        return self.registry.versions(recipient.language, policy or self.cfg.letter.policy,
                                      requested=recipient.language_requested,
                                      fallback=self.cfg.letter.fallback)

    def tagline_languages(self, languages: list[str]) -> list[str]:
        """Tagline languages of a letter with these versions (a version needs no tagline)."""
        return [t for t in self.cfg.letter.taglines if t not in languages]

    def compose(self, recipient: Recipient, *, notice_id: str, issue_date: dt.date,
                languages: list[str] | None = None, proof: bool = False) -> Document:
        recipient = nfc_recipient(recipient)
        languages = languages or self.languages(recipient)
        template = self.cfg.letter.template
        missing: list[tuple[str, str, str]] = []
        contexts: dict[str, dict] = {}

        def ctx(lang: str) -> dict:
            # one context per language of this letter, shared by its templates
            if lang not in contexts:
                contexts[lang] = self.context(recipient, lang, notice_id, issue_date, missing)
            return contexts[lang]

        versions = []
        for lang in languages:
            html = self._render(lang, template, ctx(lang), recipient)
            blocks = parse(html, f"{lang}/{template}")
            if self.cfg.letter.form == "each":
                blocks += self._form(recipient, lang, ctx(lang))
            versions.append(Version(lang, blocks, dict(self._labels(lang)), self._locale(lang)))
        form: list[Block] = []
        if self.cfg.letter.form == "preferred":
            form = self._form(recipient, languages[0], ctx(languages[0]))
            if len(languages) > 1:
                pair_form(form, self._form(recipient, languages[1], ctx(languages[1])))
        crossrefs = [self._crossref(recipient, lang, ctx(lang)) for lang in languages[1:]]
        # a tagline prints only the hotline: the source language's context serves every
        # tagline language, which has no letter catalogs
        taglines = self._taglines(recipient, languages, ctx(i18n.SOURCE_LANGUAGE), proof)
        missing = list(dict.fromkeys(missing))
        if missing and not proof:
            lang, context, value = missing[0]
            raise TemplateError(
                f"recipient {recipient.defendant_id}: the {lang} letter would print "
                f"{len(missing)} untranslated value{'s' if len(missing) > 1 else ''}, first "
                f"{value!r} ({context})",
                hint="Translate it in the data catalog: letters i18n extract --records FILE; "
                     "letters i18n update; then sign off.")
        return Document(recipient=recipient, notice_id=notice_id, issue_date=issue_date,
                        office=self.cfg.office, versions=versions, crossrefs=crossrefs,
                        taglines=taglines, form=form, proof=proof,
                        large_print=recipient.large_print,
                        font_size=(self.cfg.letter.large_print_size if recipient.large_print
                                   else self.cfg.letter.font_size),
                        untranslated=missing,
                        address_upper_case=self.cfg.address.upper_case,
                        duplex=self.cfg.mailing.duplex)

    def html(self, recipient: Recipient, lang: str, *, notice_id: str,
             issue_date: dt.date, missing: list | None = None) -> str:
        """The letter template rendered in ``lang`` (HTML subset, autoescaped)."""
        return self._render(lang, self.cfg.letter.template,
                            self.context(recipient, lang, notice_id, issue_date, missing),
                            recipient)

    def _form(self, recipient, lang, ctx) -> list[Block]:
        name = self.cfg.letter.form_template
        return parse(self._render(lang, name, ctx, recipient), f"{lang}/{name}")

    def _crossref(self, recipient, lang, ctx) -> Crossref:
        html = self._render(lang, CROSSREF_TEMPLATE, {**ctx, "page": PAGE_SENTINEL}, recipient)
        text = "\n".join(b.text() for b in parse(html, f"{lang}/{CROSSREF_TEMPLATE}"))
        return Crossref(lang, text, lang)

    def _taglines(self, recipient, languages, ctx, proof) -> list[Tagline]:
        out = []
        for lang in self.tagline_languages(languages):
            # a tagline that prints only what is the same in every letter (the office's
            # hotline) is made once per language: keyed by the values it prints
            names = self._tagline_free_names(lang)
            key = (lang, tuple((n, repr(ctx[n])) for n in sorted(names))) \
                if names is not None else None
            text = self._tagline_texts.get(key) if key is not None else None
            if text is None:
                try:
                    html = self._render(lang, i18n.TAGLINE_TEMPLATE, ctx, recipient,
                                        domain=i18n.TAGLINES)
                except i18n.CatalogError:
                    if proof:
                        continue  # a draft may lack a tagline the gate would require
                    raise
                text = " ".join(b.text() for b in parse(html,
                                                          f"{lang}/{i18n.TAGLINE_TEMPLATE}"))
                if key is not None:
                    self._tagline_texts[key] = text
            out.append(Tagline(lang, text))
        return out

    def _tagline_free_names(self, lang: str) -> frozenset[str] | None:
        """The context names the tagline template of ``lang`` reads, when they are all the
        same for every letter (``_SAME_FOR_EVERY_LETTER``) and it uses no other template;
        else None (and the tagline is rendered for each letter)."""
        if lang not in self._tagline_names:
            names = None
            try:
                env = self._env(lang, i18n.TAGLINES)
                source = env.loader.get_source(env, i18n.TAGLINE_TEMPLATE)[0]
                ast = env.parse(source, i18n.TAGLINE_TEMPLATE)
                found = jinja2.meta.find_undeclared_variables(ast)
                # a template it includes, imports or extends may read anything: not known
                if found <= _SAME_FOR_EVERY_LETTER and \
                        not list(jinja2.meta.find_referenced_templates(ast)):
                    names = frozenset(found)
            except Exception:  # noqa: BLE001 - rendered for each letter, which says what is wrong
                names = None
            self._tagline_names[lang] = names
        return self._tagline_names[lang]


#: Context names whose values depend on the letter's language and the workspace only, not on
#: the person (see ``Composer.context``).
_SAME_FOR_EVERY_LETTER = frozenset({"office", "office_name", "counsel", "hotline", "lang"})

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PAIRED = {"blank", "label", "field"}


def pair_form(blocks: list[Block], other: list[Block]) -> None:
    """Give each label of a response form its text in the second language (``alt``), when
    both renderings have the same structure (the same template, translated)."""
    if [(b.kind, b.cls) for b in blocks] != [(b.kind, b.cls) for b in other]:
        return
    for block, twin in zip(blocks, other):
        if block.kind in ("h1", "h2", "h3") or (block.kind == "p" and block.cls in _PAIRED):
            text = twin.text()
            if block.cls == "field":  # "Name: Ana Ruiz": only the label part translates
                text = "".join(r.text for r in twin.runs if r.bold or not any(
                    x.bold for x in twin.runs)).split(":")[0].strip() + ":"
            if text != block.text():
                block.alt = text
        elif block.kind == "list" and len(block.items) == len(twin.items):
            block.alt_items = ["".join(r.text for r in item).lstrip("☐ ").strip()
                               for item in twin.items]


class _CaseView:
    """A case as a template in one language sees it: translated values, dates as dates."""

    __slots__ = ("docket_number", "court", "county", "offense", "disposition_date",
                 "disposition", "lab", "chemist", "status", "extra")

    def __init__(self, case, tr, status):
        self.docket_number = case.docket_number
        self.court = tr("court", case.court)
        self.county = tr("county", case.county)
        self.offense = tr("offense", case.offense)
        self.disposition = tr("disposition", case.disposition)
        self.lab = tr("lab", case.lab)
        self.chemist = case.chemist
        self.status = status
        self.disposition_date = (dt.date.fromisoformat(case.disposition_date)
                                 if case.disposition_date else None)
        self.extra = dict(case.extra)


class _RecipientView:
    __slots__ = ("defendant_id", "first_name", "middle_name", "last_name", "suffix",
                 "full_name", "address", "language", "language_requested", "cases", "extra",
                 "deliver_to")

    def __init__(self, r: Recipient, cases):
        self.defendant_id = r.defendant_id
        self.first_name = r.first_name
        self.middle_name = r.middle_name
        self.last_name = r.last_name
        self.suffix = r.suffix
        self.full_name = r.full_name
        self.address = r.address
        self.language = r.language
        self.language_requested = r.language_requested
        self.cases = cases
        self.extra = dict(r.extra)
        #: {"role": "counsel", "name": ...} for a letter sent to counsel of record
        self.deliver_to = dict(r.deliver_to) if r.deliver_to else None


def _nfc(value):
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {_nfc(k): _nfc(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_nfc(v) for v in value)
    return value


def nfc_recipient(r: Recipient) -> Recipient:
    """The recipient with every text NFC-normalised (intake already does; callers may not)."""
    def fix(obj):
        return dataclasses.replace(obj, **{f.name: _nfc(getattr(obj, f.name))
                                           for f in dataclasses.fields(obj)
                                           if isinstance(getattr(obj, f.name), (str, dict))})

    def fix_address(a):
        return dataclasses.replace(fix(a), care_of=_nfc(a.care_of), original=_nfc(a.original))

    return dataclasses.replace(fix(r), address=fix_address(r.address),
                               cases=tuple(fix(c) for c in r.cases))


def provisional_notice_id(recipient: Recipient) -> str:
    """A clearly provisional ID for proofs, before a batch assigns real notice IDs."""
    safe = re.sub(r"[^A-Za-z0-9]+", "-", recipient.defendant_id).strip("-")[:24] or "X"
    return f"PROOF-{safe}"


def template_paths(cfg: Config) -> list[Path]:
    """Every template file of the workspace (for hashing and review)."""
    return sorted(p for p in cfg.templates_dir.rglob("*.html") if p.is_file())


def data_values(cfg: Config, recipients=(), source: str = "") -> list[tuple[str, str, str]]:
    """(context, English value, where it comes from) of every value letters print through the
    data catalogs: the configuration's (signer's title, public defender agency, case statuses)
    and those of ``recipients`` (read from the records file ``source``)."""
    config_name = cfg.source.name if cfg.source else "letters.toml"
    out = [("office", cfg.office.signer_title, config_name),
           ("office", cfg.office.name, config_name),
           ("counsel", cfg.counsel.name, config_name)]
    for status in cfg.case_status.values():
        out += [("case_status", status.label, config_name),
                ("case_status", status.meaning, config_name)]
    seen = set()
    for r in recipients:
        for case in r.cases:
            for column in TRANSLATED_CASE_COLUMNS:
                value = getattr(case, column)
                if value and (column, value) not in seen:
                    seen.add((column, value))
                    out.append((column, value, source))
    return [x for x in out if x[1]]
