"""Compose: a recipient and its languages become a letter document in a small HTML subset.

Templates render (autoescaped, sandboxed, ``StrictUndefined``) to HTML restricted to the subset
below; this module parses that HTML into plain dataclasses that ``pdf.py`` lays out. Text from
the records only ever reaches a document as text: Jinja escapes it, the parser unescapes it
into :class:`Run` strings, and the PDF renderer escapes it again for ReportLab.

The HTML subset
---------------
Blocks
    ``<h1> <h2> <h3>`` headings; ``<p>`` paragraph, with an optional ``class``: ``small``,
    ``center``, ``box`` (framed), ``signature`` (kept with what follows), ``blank`` (a label
    followed by a line to write on); ``<ul>`` (``class="checkboxes"`` for a form) and ``<ol>``
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
import re
import unicodedata
import traceback
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import jinja2

from letters import i18n
from letters.config import Config, OfficeConfig
from letters.errors import LettersError
from letters.model import LANGUAGES, Recipient

BLOCK_TAGS = {"h1", "h2", "h3", "p", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th",
              "td", "hr", "pagebreak"}
INLINE_TAGS = {"b", "strong", "i", "em", "u", "br"}
VOID_TAGS = {"br", "hr", "pagebreak"}
CLASSES = {"p": {"small", "center", "box", "signature", "blank"}, "ul": {"checkboxes"},
           "table": {"cases"}}

#: Messages used outside templates (page furniture); extracted from this file by Babel.
def N_(message: str) -> str:
    return message


PAGE_OF = N_("Page %(page)s of %(pages)s")
NOTICE_ID = N_("Notice ID")
DATE = N_("Date")
PROOF = N_("PROOF – NOT FOR MAILING")
CROSSREF_TEMPLATE = "crossref.html"
PAGE_SENTINEL = "\ue000PAGE\ue000"  # replaced by the page number once the PDF is laid out


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


@dataclass
class Crossref:
    """The line on page 1, in another language, saying where that language's version is."""

    lang: str
    text: str                # may hold PAGE_SENTINEL
    target: str | None       # the version it points to (None: not included; text says how to get it)


@dataclass
class Document:
    recipient: Recipient
    notice_id: str
    issue_date: dt.date
    office: OfficeConfig
    versions: list[Version]
    crossref: Crossref | None
    proof: bool = False

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
            if b.kind in ("table", "hr", "pagebreak") or (b.kind == "p" and b.cls == "blank"):
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
    """Parse rendered letter HTML into blocks; raise TemplateError outside the subset."""
    parser = _SubsetParser(template)
    parser.feed(html)
    parser.close()
    return parser.blocks


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
        self.templates_dir = cfg.templates_dir
        self.locale_dir = cfg.locale_dir
        self._checked: set[tuple[str, str]] = set()
        self._envs: dict[str, object] = {}
        self._label_cache: dict[str, dict[str, str]] = {}

    def _env(self, lang: str):
        # One lookup per language for this composer: the shared cache checks the catalog
        # file on disk, which is not worth doing once per letter.
        env = self._envs.get(lang)
        if env is None:
            env = self._envs[lang] = i18n.environment(self.templates_dir, self.locale_dir, lang)
        return env

    def _labels(self, lang: str) -> dict[str, str]:
        labels = self._label_cache.get(lang)
        if labels is None:
            labels = self._label_cache[lang] = {
                key: i18n.gettext(self.locale_dir, lang, msg)
                for key, msg in (("page_of", PAGE_OF), ("notice_id", NOTICE_ID),
                                 ("date", DATE), ("proof", PROOF))}
        return labels

    def _render(self, lang: str, name: str, context: dict, recipient: Recipient) -> str:
        env = self._env(lang)
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

    def context(self, recipient: Recipient, lang: str, notice_id: str,
                issue_date: dt.date) -> dict:
        deadline = issue_date + dt.timedelta(days=self.cfg.letter.response_days)
        office = self.cfg.office
        if not office.hotline:
            office = type(office)(**{**office.__dict__, "hotline": office.phone})
        cases = [_CaseView(c) for c in recipient.cases]
        return {"recipient": _RecipientView(recipient, cases), "office": office,
                "notice_id": notice_id, "issue_date": issue_date, "deadline": deadline,
                "response_days": self.cfg.letter.response_days, "lang": lang}

    def languages(self, recipient: Recipient, policy: str | None = None) -> list[str]:
        """Versions in print order: the preferred language first."""
        policy = policy or self.cfg.letter.policy
        first = recipient.language
        if policy == "preferred":
            return [first]
        return [first, *[lang for lang in LANGUAGES if lang != first]]

    def compose(self, recipient: Recipient, *, notice_id: str, issue_date: dt.date,
                languages: list[str] | None = None, proof: bool = False) -> Document:
        recipient = nfc_recipient(recipient)
        languages = languages or self.languages(recipient)
        template = self.cfg.letter.template
        versions = []
        for lang in languages:
            html = self.html(recipient, lang, notice_id=notice_id, issue_date=issue_date)
            blocks = parse(html, f"{lang}/{template}")
            versions.append(Version(lang, blocks, dict(self._labels(lang))))
        crossref = self._crossref(recipient, languages, notice_id, issue_date)
        return Document(recipient=recipient, notice_id=notice_id, issue_date=issue_date,
                        office=self.cfg.office, versions=versions, crossref=crossref, proof=proof)

    def html(self, recipient: Recipient, lang: str, *, notice_id: str,
             issue_date: dt.date) -> str:
        """The letter template rendered in ``lang`` (HTML subset, autoescaped)."""
        return self._render(lang, self.cfg.letter.template,
                            self.context(recipient, lang, notice_id, issue_date), recipient)

    def _crossref(self, recipient, languages, notice_id, issue_date) -> Crossref | None:
        if len(languages) > 1:
            lang, target, page = languages[1], languages[1], PAGE_SENTINEL
        else:
            others = [lang for lang in LANGUAGES if lang != languages[0]]
            if not others:
                return None
            lang, target, page = others[0], None, None
        ctx = self.context(recipient, lang, notice_id, issue_date)
        ctx["page"] = page
        html = self._render(lang, CROSSREF_TEMPLATE, ctx, recipient)
        text = "\n".join(b.text() for b in parse(html, f"{lang}/{CROSSREF_TEMPLATE}"))
        return Crossref(lang, text, target)


class _CaseView:
    """A case as templates see it: dates as dates, extra columns by name."""

    __slots__ = ("docket_number", "court", "county", "offense", "disposition_date", "extra")

    def __init__(self, case):
        self.docket_number = case.docket_number
        self.court = case.court
        self.county = case.county
        self.offense = case.offense
        self.disposition_date = (dt.date.fromisoformat(case.disposition_date)
                                 if case.disposition_date else None)
        self.extra = dict(case.extra)


class _RecipientView:
    __slots__ = ("defendant_id", "first_name", "middle_name", "last_name", "suffix",
                 "full_name", "address", "language", "cases", "extra")

    def __init__(self, r: Recipient, cases):
        self.defendant_id = r.defendant_id
        self.first_name = r.first_name
        self.middle_name = r.middle_name
        self.last_name = r.last_name
        self.suffix = r.suffix
        self.full_name = r.full_name
        self.address = r.address
        self.language = r.language
        self.cases = cases
        self.extra = dict(r.extra)


def _nfc(value):
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {_nfc(k): _nfc(v) for k, v in value.items()}
    return value


def nfc_recipient(r: Recipient) -> Recipient:
    """The recipient with every text NFC-normalised (intake already does; callers may not)."""
    def fix(obj):
        return dataclasses.replace(obj, **{f.name: _nfc(getattr(obj, f.name))
                                           for f in dataclasses.fields(obj)
                                           if isinstance(getattr(obj, f.name), (str, dict))})
    return dataclasses.replace(fix(r), address=fix(r.address),
                               cases=tuple(fix(c) for c in r.cases))


def provisional_notice_id(recipient: Recipient) -> str:
    """A clearly provisional ID for proofs, before a batch assigns real notice IDs."""
    safe = re.sub(r"[^A-Za-z0-9]+", "-", recipient.defendant_id).strip("-")[:24] or "X"
    return f"PROOF-{safe}"


def template_paths(cfg: Config) -> list[Path]:
    """Every template file of the workspace (for hashing and review)."""
    return sorted(p for p in cfg.templates_dir.rglob("*.html") if p.is_file())
