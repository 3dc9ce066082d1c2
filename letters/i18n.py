"""The one seam between Babel and Jinja: translations, formatting and template environments.

Three message domains, each a catalog per language under ``locale/<lang>/LC_MESSAGES/``:
``letters`` (the letter's sentences, from the templates), ``data`` (values the letter prints
from the records and the configuration: courts, counties, offenses, dispositions, labs, the
signer's title; the column is the message context) and ``taglines`` (the one-line tagline, in
every tagline language). All three go through the same check, sign-off and gate.

For each language there is one sandboxed Jinja environment with ``jinja2.ext.i18n`` (newstyle
gettext, trimmed ``{% trans %}`` blocks), autoescaping, ``StrictUndefined`` and Babel formatting
filters for that locale. Templates are looked up in ``templates/<lang>/`` first, then in
``templates/en/``. Catalogs are read from the ``.po`` files translators edit and compiled in
memory (``.mo`` files are build products, never needed in the workspace). Environments and
catalogs are cached per process, so templates are compiled once, not once per letter.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import io
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from babel import Locale
from babel.dates import format_date
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from letters.errors import LettersError
from letters.languages import SOURCE_LANGUAGE

DOMAIN = "letters"      # the letter's sentences
DATA = "data"           # values from the records and the configuration
TAGLINES = "taglines"   # the tagline block
DOMAINS = (DOMAIN, DATA, TAGLINES)
TAGLINE_TEMPLATE = "tagline.html"

_lock = threading.Lock()
_environments: dict[tuple, SandboxedEnvironment] = {}
_catalogs: dict[tuple, Translations] = {}
_SOURCE = NullTranslations()


class CatalogError(LettersError):
    """A message catalog is missing or cannot be read."""


def po_path(locale_dir: Path, lang: str, domain: str = DOMAIN) -> Path:
    return Path(locale_dir) / lang / "LC_MESSAGES" / f"{domain}.po"


def pot_path(locale_dir: Path, domain: str = DOMAIN) -> Path:
    return Path(locale_dir) / f"{domain}.pot"


def load_translations(locale_dir: str | Path, lang: str, domain: str = DOMAIN
                      ) -> NullTranslations:
    """The gettext catalog for ``lang``, compiled in memory from its ``.po`` file.

    The source language needs no catalog. Fuzzy entries are never used.
    """
    if lang == SOURCE_LANGUAGE:
        return _SOURCE
    path = po_path(Path(locale_dir), lang, domain)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise CatalogError(f"{path}: no {domain} catalog for language '{lang}'",
                           hint="Create it with `letters i18n update --lang "
                                f"{lang}`, then translate it.") from None
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    with _lock:
        cached = _catalogs.get(key)
    if cached is not None:
        return cached
    with open(path, "rb") as fh:
        try:
            catalog = read_po(fh, locale=_babel_id(lang), domain=domain)
        except Exception as exc:  # babel raises PoFileError and friends
            raise CatalogError(f"{path}: cannot be read as a PO catalog ({exc})") from None
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    translations = Translations(buf, domain=domain)
    with _lock:
        _catalogs[key] = translations
    return translations


@functools.lru_cache(maxsize=None)
def locale_for(identifier: str) -> Locale:
    """A Babel locale ('es_US', 'pt'), parsed once."""
    return Locale.parse(identifier.replace("-", "_"))


def _babel_id(lang: str) -> str | None:
    """The locale a catalog file is read with (plural rules); None when Babel lacks it."""
    try:
        return str(locale_for(lang))
    except Exception:  # an undeclared code: the catalog still reads, with default plurals
        return None


def _filters(locale: Locale) -> dict:
    def date_filter(value, fmt: str = "long") -> str:
        if value in (None, ""):
            return ""
        if isinstance(value, str):
            value = dt.date.fromisoformat(value)
        return format_date(value, format=fmt, locale=locale)

    def number_filter(value) -> str:
        return format_decimal(value, locale=locale)

    return {"date": date_filter, "number": number_filter}


def _remembered(translate):
    """Jinja's newstyle ``gettext`` (and kin) for one environment, each message translated
    and filled in once per set of values: a letter asks for some ninety, most of them with
    the same values in every letter (the office, the dates), and the answer is a string."""
    from jinja2.utils import pass_context

    kept: dict = {}

    @pass_context
    def remembered(context, *args, **variables):
        try:
            # the values' types too: a Markup value goes in as it is, a str one escaped
            key = (context.eval_ctx.autoescape, args, tuple(map(type, args)),
                   tuple(sorted((k, type(v), v) for k, v in variables.items()))
                   if variables else ())
            hash(key)
        except TypeError:  # a value that is not hashable: translated each time
            return translate(context, *args, **variables)
        out = kept.get(key)
        if out is None:
            if len(kept) >= 4096:
                kept.clear()
            out = kept[key] = translate(context, *args, **variables)
        return out

    return remembered


class _Environment(SandboxedEnvironment):
    """Jinja's sandbox, calling this module's own translation functions (``direct``)
    directly: a letter makes some ninety such calls, and the sandbox's checks of what it calls
    and Jinja's look at how to call it took half of composing one. They are safe (this
    module's code), take the template's context, and read nothing from it but whether output
    is escaped: the loop and block variables Jinja passes along are not needed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.direct: dict[int, object] = {}

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - as Jinja names them
        if __self.direct.get(id(__obj)) is __obj:
            kwargs.pop("_block_vars", None)
            kwargs.pop("_loop_vars", None)
            return __obj(__context, *args, **kwargs)
        return super().call(__context, __obj, *args, **kwargs)


def environment(templates_dir: str | Path, locale_dir: str | Path, lang: str, *,
                locale: str | None = None, domain: str = DOMAIN) -> SandboxedEnvironment:
    """The (cached) Jinja environment that renders templates in ``lang`` with the ``domain``
    catalog, formatting dates and numbers for ``locale`` (default: ``lang``)."""
    templates_dir, locale_dir = Path(templates_dir).resolve(), Path(locale_dir).resolve()
    translations = load_translations(locale_dir, lang, domain)
    key = (str(templates_dir), lang, locale, domain, id(translations))
    with _lock:
        env = _environments.get(key)
    if env is not None:
        return env
    search = [str(templates_dir / lang)] if lang != SOURCE_LANGUAGE else []
    search.append(str(templates_dir / SOURCE_LANGUAGE))
    env = _Environment(
        loader=FileSystemLoader(search),
        extensions=["jinja2.ext.i18n"],
        autoescape=True,
        undefined=StrictUndefined,
        auto_reload=False,
    )
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(translations, newstyle=True)
    for name in ("gettext", "ngettext", "pgettext", "npgettext"):
        if name in env.globals:
            env.globals[name] = _remembered(env.globals[name])
            env.direct[id(env.globals[name])] = env.globals[name]
    env.filters.update(_filters(locale_for(locale or lang)))
    env.globals["lang"] = lang
    with _lock:
        _environments[key] = env
    return env


def gettext(locale_dir: str | Path, lang: str, message: str, *, domain: str = DOMAIN,
            context: str | None = None, **params) -> str:
    """Translate one message outside templates (page furniture), newstyle placeholders."""
    t = load_translations(locale_dir, lang, domain)
    text = t.upgettext(context, message) if context else t.ugettext(message)
    return text % params if params else text


def data_lookup(locale_dir: str | Path, lang: str):
    """``lookup(context, value)``: the translation of a data value, or None if the ``data``
    catalog lacks it (or has it fuzzy or empty). The source language returns the value."""
    if lang == SOURCE_LANGUAGE:
        return lambda context, value: value
    try:
        t = load_translations(locale_dir, lang, DATA)
    except CatalogError:
        return lambda context, value: None
    missing = object()
    table = t._catalog  # msgid keys: "context\x04value"

    def lookup(context: str, value: str):
        found = table.get(f"{context}\x04{value}", missing)
        return None if found is missing or not found else found
    return lookup


def clear_caches() -> None:
    """Forget compiled templates and catalogs (tests that edit them on disk call this)."""
    with _lock:
        _environments.clear()
        _catalogs.clear()


# === The translation workflow: extract, update, compile, check, sign off ==========================
#
# Translators and reviewing lawyers work on ``locale/`` files. The gate below is what keeps the
# office from mailing Spanish text that no named reviewer approved for the current English.

BABEL_CFG = "babel.cfg"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None,
            "pgettext": ((1, "c"), 2), "npgettext": ((1, "c"), 2, 3)}
COMMENT_TAGS = ("Translators:",)
HEADER = ("# Translations template for letters.\n# Copyright (C) {year} letters\n"
          "# This file is distributed under the same license as the letters project.\n#")
SIGNOFF_SUFFIX = ".signoff.json"
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{\{\s*(\w+)\s*\}\}")
_TAG = re.compile(r"</?([a-zA-Z]+)[^>]*>")


def _mapping(root: Path):
    from babel.messages.frontend import parse_mapping_cfg

    cfg = root / BABEL_CFG
    if not cfg.is_file():
        raise CatalogError(f"{cfg}: the extraction mapping is missing")
    with open(cfg, encoding="utf-8") as fh:
        return parse_mapping_cfg(fh, filename=str(cfg))


def _new_catalog() -> Catalog:
    return Catalog(project="letters", version=_version(), copyright_holder="letters",
                   header_comment=HEADER.format(year=dt.date.today().year),
                   msgid_bugs_address=None, charset="utf-8", fuzzy=False)


#: How templates are read for the gate, whatever babel.cfg says: the same options as the
#: rendering environment (trimmed, newstyle gettext), every ``.html`` under the templates folder.
TEMPLATE_OPTIONS = {"extensions": "jinja2.ext.i18n", "trimmed": "true",
                    "newstyle_gettext": "true", "silent": "false", "encoding": "utf-8"}


def extract_catalogs(root: Path, templates_dir: Path | None = None) -> dict[str, Catalog]:
    """The workspace's template messages as template catalogs: ``letters`` (every template
    but the tagline, plus the engine's page labels) and ``taglines``.

    Mapped by ``babel.cfg`` (for ``letters i18n extract``), or, with ``templates_dir``, every
    template of that folder, which is what the letters render from (for the gate)."""
    root = Path(root).resolve()
    skip = {"output", "bench", "tests", "build", "dist", "examples"}

    def keep_dir(path: str) -> bool:
        name = Path(path).name
        return not name.startswith(".") and name not in skip and not name.endswith(".egg-info")

    if templates_dir is not None:
        base = Path(templates_dir).resolve()
        method_map, options_map = [("**.html", "jinja2")], {"**.html": TEMPLATE_OPTIONS}
        shown = base.relative_to(root).as_posix() + "/" if base.is_relative_to(root) else ""
    else:
        base = root
        method_map, options_map = _mapping(root)
        method_map = [(pattern, method) for pattern, method in method_map if method != "python"]
        shown = ""
    catalogs = {DOMAIN: _new_catalog(), TAGLINES: _new_catalog()}
    for filename, lineno, message, comments, context in extract_from_dir(
            base, method_map, options_map, keywords=KEYWORDS, comment_tags=COMMENT_TAGS,
            strip_comment_tags=True, directory_filter=keep_dir):
        filename = shown + filename
        domain = TAGLINES if Path(filename).name == TAGLINE_TEMPLATE else DOMAIN
        catalogs[domain].add(message, None, [(filename, lineno)], auto_comments=comments,
                             context=context)
    # The engine's own messages (page labels) come from the installed package, so that a
    # workspace without the source code still extracts them.
    package = Path(__file__).resolve().parent
    for filename, lineno, message, comments, context in extract_from_dir(
            package, [("compose.py", "python")], {}, keywords={"N_": None},
            comment_tags=COMMENT_TAGS, strip_comment_tags=True):
        catalogs[DOMAIN].add(message, None, [(f"letters/{filename}", lineno)],
                             auto_comments=comments, context=context)
    return catalogs


def data_catalog(values: Iterable[tuple[str, str, str]], previous: Catalog | None = None
                 ) -> Catalog:
    """The ``data`` template catalog: (context, value, where) triples, added to the values of
    ``previous`` (an earlier ``data.pot``: values of earlier exports stay translatable)."""
    catalog = _new_catalog()
    found: dict[tuple[str, str], list[str]] = {}
    if previous is not None:
        for m in previous:
            if m.id:
                found.setdefault((m.context or "", m.id), [f for f, _ in m.locations])
    for context, value, where in values:
        if value:
            places = found.setdefault((context, value), [])
            if where not in places:
                places.append(where)
    for (context, value), places in sorted(found.items()):
        catalog.add(value, None, [(p, None) for p in sorted(places)], context=context,
                    auto_comments=[DATA_COMMENTS.get(context, "")])
    return catalog


#: What each data context is, for translators.
DATA_COMMENTS = {
    "court": "The name of a Massachusetts court, from the office's records.",
    "county": "A county name, printed before the word for 'County'.",
    "offense": "A criminal charge from the office's records. Translate it exactly; keep "
               "legal terms such as 'Class B'.",
    "disposition": "How a court case ended, e.g. 'Pleaded guilty'.",
    "lab": "The state drug lab that tested the substance.",
    "office": "The letter signer's title, or the office's name (printed in the signature; "
              "postal addresses keep the English name).",
    "counsel": "The full name of the public defender agency.",
    "case_status": "What the prosecutor's office decided about a case: a short label, or one "
                   "plain sentence of what it means for the person.",
}


def _version() -> str:
    from letters import __version__

    return __version__


def _signature(catalog) -> list:
    # comments compare as text: writing a catalog may wrap their lines differently
    return sorted((repr(m.id), m.context or "", tuple(m.locations),
                   " ".join(" ".join(m.auto_comments).split())) for m in catalog if m.id)


def _write_po(path: Path, catalog) -> None:
    from babel.messages.pofile import write_po

    buf = io.BytesIO()
    write_po(buf, catalog, width=0, sort_by_file=True, include_previous=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)


def read_catalog(path: Path, lang: str | None = None, domain: str = DOMAIN) -> Catalog:
    """A ``.po`` or ``.pot`` file as a Babel catalog; a clear error if it cannot be read."""
    with open(path, "rb") as fh:
        try:
            return read_po(fh, locale=_babel_id(lang) if lang else None, domain=domain)
        except Exception as exc:
            raise CatalogError(f"{path}: cannot be read as a PO catalog ({exc})") from None


def template_catalog(locale_dir: Path, domain: str = DOMAIN) -> Catalog | None:
    """``locale/<domain>.pot``, or None if it was never extracted."""
    pot = pot_path(locale_dir, domain)
    return read_catalog(pot, domain=domain) if pot.exists() else None


def extract(root: Path, locale_dir: Path, data_values: Iterable[tuple[str, str, str]] = ()
            ) -> list[tuple[Path, bool]]:
    """Write ``locale/letters.pot`` and ``taglines.pot`` from the templates and
    ``locale/data.pot`` from ``data_values`` (added to the values it has); returns
    (path, whether it changed) per file. An unchanged file is left untouched."""
    catalogs = extract_catalogs(root)
    catalogs[DATA] = data_catalog(data_values, template_catalog(locale_dir, DATA))
    out = []
    for domain in DOMAINS:
        pot = pot_path(locale_dir, domain)
        if pot.exists() and _signature(read_catalog(pot)) == _signature(catalogs[domain]):
            out.append((pot, False))
            continue
        pot.parent.mkdir(parents=True, exist_ok=True)
        _write_po(pot, catalogs[domain])
        out.append((pot, True))
    return out


def catalog_targets(cfg) -> dict[str, list[str]]:
    """Domain -> the languages of a workspace that need a catalog of it: every letter
    language but the source has ``letters`` and ``data``; every tagline language ``taglines``."""
    letters = [c for c in cfg.registry.letter_codes if c != SOURCE_LANGUAGE]
    taglines = [c for c in cfg.letter.taglines if c != SOURCE_LANGUAGE]
    return {DOMAIN: letters, DATA: letters, TAGLINES: taglines}


def each_catalog(targets: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(domain, language) pairs of ``targets``, language by language."""
    order = list(dict.fromkeys(lang for langs in targets.values() for lang in langs))
    return [(d, lang) for lang in order for d in DOMAINS if lang in targets.get(d, ())]


def languages_in(locale_dir: Path, domain: str = DOMAIN) -> list[str]:
    return sorted(p.parent.parent.name
                  for p in Path(locale_dir).glob(f"*/LC_MESSAGES/{domain}.po"))


def update(locale_dir: Path, targets: dict[str, list[str]]) -> list[tuple[str, str, int, int]]:
    """Merge each domain's template into the catalogs of ``targets`` (domain -> languages),
    creating a catalog that does not exist yet. New messages appear untranslated; a message
    whose English changed keeps its old translation marked fuzzy (with the previous English
    shown) until a translator confirms it. Returns (domain, lang, fuzzy, untranslated)."""
    out = []
    for domain, langs in targets.items():
        template = template_catalog(locale_dir, domain)
        if template is None:
            raise CatalogError(f"{pot_path(locale_dir, domain)}: no template; run "
                               "`letters i18n extract` first")
        for lang in langs:
            path = po_path(locale_dir, lang, domain)
            if path.exists():
                catalog = read_catalog(path, lang, domain)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                name = locale_for(lang).english_name if _babel_id(lang) else lang
                catalog = Catalog(
                    locale=_babel_id(lang), domain=domain, project="letters",
                    version=_version(), fuzzy=False, copyright_holder="letters",
                    header_comment=(f"# {name} translations for letters ({domain}).\n"
                                    + HEADER.split("\n", 1)[1].format(
                                        year=dt.date.today().year)),
                    revision_date=dt.datetime.now(dt.timezone.utc),
                    last_translator="letters translators", language_team=name)
            catalog.update(template, no_fuzzy_matching=False, update_header_comment=False,
                           keep_user_comments=True, update_creation_date=False)
            _write_po(path, catalog)
            msgs = [m for m in catalog if m.id]
            out.append((domain, lang, sum(m.fuzzy for m in msgs),
                        sum(not _translated(m) for m in msgs)))
    clear_caches()
    return out


def compile_catalogs(locale_dir: Path, langs: list[str] | None = None) -> list[Path]:
    """Write ``.mo`` files (build products, for other gettext tools; letters reads the .po)."""
    written = []
    for domain in DOMAINS:
        for lang in langs or languages_in(locale_dir, domain):
            path = po_path(locale_dir, lang, domain)
            if not path.exists():
                continue
            catalog = read_catalog(path, lang, domain)
            mo = path.with_suffix(".mo")
            with open(mo, "wb") as fh:
                write_mo(fh, catalog, use_fuzzy=False)
            written.append(mo)
    return written


def _translated(message) -> bool:
    if isinstance(message.string, (list, tuple)):
        return all(message.string)
    return bool(message.string)


def texts(value) -> list[str]:
    """A message's id or string as a list (one item, or one per plural form)."""
    if isinstance(value, (list, tuple)):
        return [v for v in value]
    return [value or ""]


def placeholders(text: str) -> set[str]:
    """Names a message interpolates, in the forms the templates use.

    >>> sorted(placeholders("Dear %(name)s, call {{ hotline }} by %(date)s."))
    ['date', 'hotline', 'name']
    """
    return {a or b for a, b in _PLACEHOLDER.findall(text or "")}


def tags(text: str) -> list[str]:
    """Markup tags in a message, in order ('<b>', '</b>' -> ['b', '/b'])."""
    return [("/" if m.group(0).startswith("</") else "") + m.group(1).lower()
            for m in _TAG.finditer(text or "")]


def interpolation_error(text: str) -> str | None:
    """Why ``text`` cannot be filled in with ``%``, or None.

    >>> interpolation_error("Estimado/a %(nombre)s:") is None, interpolation_error("50% off")
    (True, "a lone '%' (write '%%')")
    """
    try:
        text % _AnyParams()
    except (ValueError, TypeError):
        return "a lone '%' (write '%%')"
    return None


class _AnyParams(dict):
    def __missing__(self, key):
        return ""


# --- sign-off ------------------------------------------------------------------------------------

def _hash(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        for text in texts(p):
            h.update(text.encode("utf-8"))
            h.update(b"\x00")
        h.update(b"\x01")
    return h.hexdigest()


def message_key(message) -> str:
    """A stable key for a message: its context and English (singular and plural)."""
    ids = texts(message.id)
    return json.dumps([message.context or "", *ids], ensure_ascii=False)


def data_key(context: str, value: str) -> str:
    """The :func:`message_key` of a data value."""
    return json.dumps([context, value], ensure_ascii=False)


def source_hash(message) -> str:
    return _hash(message.context or "", message.id)


def translation_hash(message) -> str:
    return _hash(message.string)


def signoff_path(locale_dir: Path, lang: str, domain: str = DOMAIN) -> Path:
    return po_path(locale_dir, lang, domain).with_name(domain + SIGNOFF_SUFFIX)


def office_fingerprint(office, counsel) -> str:
    """SHA-256 of who sends the letters (office and counsel settings). A sign-off made for the
    bundled sample names the sample's fingerprint and counts only where it still matches."""
    data = {"office": dataclasses.asdict(office), "counsel": dataclasses.asdict(counsel)}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


SAMPLE_MARK = "sample_office_sha256"


@dataclass(frozen=True)
class Signoffs:
    #: message key -> reviewer, date, note, hashes; a record made for the bundled sample also
    #: holds the sample office's fingerprint (SAMPLE_MARK) and counts only for that office
    records: dict[str, dict]

    @property
    def has_sample(self) -> bool:
        return any(SAMPLE_MARK in r for r in self.records.values())


def load_signoffs(locale_dir: Path, lang: str, domain: str = DOMAIN) -> Signoffs:
    """The sign-off records of one catalog."""
    path = signoff_path(locale_dir, lang, domain)
    if not path.exists():
        return Signoffs({})
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Signoffs({json.dumps(r["message"], ensure_ascii=False): r
                         for r in data["signoffs"]})
    except (ValueError, KeyError, TypeError) as exc:
        raise CatalogError(f"{path}: not a readable sign-off file ({exc})") from None


def signoff_status(message, record: dict | None) -> str:
    """'signed', 'missing', or 'stale' (the English or the translation changed since)."""
    if record is None:
        return "missing"
    if record.get("source_sha256") != source_hash(message) or \
            record.get("translation_sha256") != translation_hash(message):
        return "stale"
    return "signed"


def sign_off(locale_dir: Path, lang: str, reviewer: str, *, note: str = "",
             only: list[str] | None = None, date: dt.date | None = None,
             domain: str = DOMAIN, sample_office: str | None = None) -> tuple[int, list[str]]:
    """Record that ``reviewer`` approved the current translation of each message for the current
    English. Only messages that pass every check can be signed; ``only`` limits it to messages
    whose English contains one of the given texts. Returns (signed now, messages refused).

    ``sample_office`` marks these sign-offs as the bundled sample's: they then count only for
    an office with that fingerprint (:func:`office_fingerprint`). A real reviewer's sign-off
    replaces a sample one for the same message."""
    if not reviewer.strip():
        raise CatalogError("a sign-off needs the reviewer's name (--reviewer)")
    path = po_path(locale_dir, lang, domain)
    if not path.exists():
        raise CatalogError(f"{path}: no {domain} catalog for language '{lang}'",
                           hint=f"Create it with `letters i18n update --lang {lang}`.")
    catalog = read_catalog(path, lang, domain)
    records = dict(load_signoffs(locale_dir, lang, domain).records)
    problems_by_key = {}
    for p in check(locale_dir, lang, domain=domain, signoffs=False):
        if p.key:
            problems_by_key.setdefault(p.key, []).append(p.message)
    signed, refused = 0, []
    day = (date or dt.date.today()).isoformat()
    for m in catalog:
        if not m.id:
            continue
        ids = texts(m.id)
        if only and not any(o in text for o in only for text in ids):
            continue
        key = message_key(m)
        if key in problems_by_key:
            refused.append(f"{ids[0]!r}: {'; '.join(problems_by_key[key])}")
            continue
        current = records.get(key)
        if signoff_status(m, current) == "signed" and SAMPLE_MARK not in current \
                and sample_office is None:
            continue  # already approved by a real reviewer
        records[key] = {"message": json.loads(key), "source_sha256": source_hash(m),
                        "translation_sha256": translation_hash(m), "reviewer": reviewer.strip(),
                        "date": day, "note": note}
        if sample_office:
            records[key][SAMPLE_MARK] = sample_office
        signed += 1
    # approvals of messages the catalog no longer has would only mislead a reader of the file
    current_keys = {message_key(m) for m in catalog if m.id}
    records = {k: r for k, r in records.items() if k in current_keys}
    body = {"language": lang, "catalog": f"{domain}.po",
            "about": "Each entry: a reviewer approved this translation for this English. "
                     "A change to either text voids the entry.",
            "signoffs": [records[k] for k in sorted(records)]}
    if any(SAMPLE_MARK in r for r in records.values()):
        body["about"] += (f" An entry with {SAMPLE_MARK} is the bundled sample's, not a real "
                          "approval: it counts only for the unchanged sample office.")
    target = signoff_path(locale_dir, lang, domain)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                   encoding="utf-8")
    tmp.replace(target)
    return signed, refused


# --- check ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    path: str
    line: int | None
    message: str
    key: str | None = None      # the message it is about
    fix: str = ""               # the command that fixes it

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


SAMPLE_SIGNOFF = ("signed off only for the bundled sample office, not by a reviewer of this "
                  "office")


def check(locale_dir: Path, lang: str, *, domain: str = DOMAIN, root: Path | None = None,
          signoffs: bool = True, template=None, office: str | None = None,
          allow_sample: bool = False, keys: set[str] | None = None) -> list[Problem]:
    """Every problem of a language's catalog that would make its letters unsafe to mail.

    ``template``: the messages the letters use (default: ``locale/<domain>.pot``).
    ``office``: this workspace's :func:`office_fingerprint`; sign-offs made for the bundled
    sample count only when it matches theirs, or with ``allow_sample``. ``keys``: check only
    these messages (the data values a batch prints), which must all be in the catalog.
    """
    locale_dir = Path(locale_dir)
    path = po_path(locale_dir, lang, domain)
    shown = path.relative_to(root).as_posix() if root and path.is_relative_to(root) else str(path)
    if not path.exists():
        return [Problem(shown, None, f"no {domain} catalog for language '{lang}'", None,
                        f"letters i18n update --lang {lang}")]
    catalog = read_catalog(path, lang, domain)
    problems: list[Problem] = []
    nplurals = catalog.num_plurals
    if template is None and keys is None:
        template = template_catalog(locale_dir, domain)
    loaded = load_signoffs(locale_dir, lang, domain) if signoffs else Signoffs({})
    known = set()
    for m in catalog:
        if not m.id:
            continue
        key = message_key(m)
        known.add(key)
        if keys is not None and key not in keys:
            continue
        english = texts(m.id)
        label = english[0]
        add = lambda msg, fix="": problems.append(Problem(shown, m.lineno, f"{msg}: {label!r}",
                                                          key, fix))
        if m.fuzzy:
            add("fuzzy (the English changed; confirm the translation and remove the fuzzy flag)",
                f"edit {shown}")
            continue
        strings = texts(m.string)
        filled = sum(bool(x) for x in strings)
        if filled == 0:
            add("untranslated", f"edit {shown}")
            continue
        if isinstance(m.id, (list, tuple)) and (filled < nplurals or len(strings) != nplurals):
            add(f"incomplete plural forms: {filled} of {nplurals}", f"edit {shown}")
            continue
        for i, text in enumerate(strings):
            # form 0 answers the English singular, the other forms the English plural
            want = placeholders(english[min(i, len(english) - 1)])
            got = placeholders(text)
            form = f" (plural form {i})" if len(strings) > 1 else ""
            if got != want:
                missing, extra = sorted(want - got), sorted(got - want)
                detail = "; ".join(x for x in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"unknown {', '.join(extra)}" if extra else "") if x)
                add(f"placeholders differ{form}: {detail}", f"edit {shown}")
            elif domain != DATA and interpolation_error(text):
                add(f"cannot be filled in{form}: {interpolation_error(text)}", f"edit {shown}")
            if sorted(tags(text)) != sorted(tags(english[min(i, len(english) - 1)])):
                add("markup tags differ from the English", f"edit {shown}")
        if signoffs:
            record = loaded.records.get(key)
            status = signoff_status(m, record)
            if status == "signed" and SAMPLE_MARK in record and not (
                    allow_sample or record[SAMPLE_MARK] == office):
                add(SAMPLE_SIGNOFF, f"letters i18n signoff --lang {lang} --reviewer NAME")
            elif status != "signed":
                add("no sign-off" if status == "missing" else
                    "sign-off is stale (the English or the translation changed since)",
                    f"letters i18n signoff --lang {lang} --reviewer NAME")
    wanted = ([(message_key(m), texts(m.id)[0]) for m in template if m.id]
              if template is not None else [])
    if keys is not None:
        wanted += [(k, json.loads(k)[-1]) for k in sorted(keys)]
    for key, english in dict(wanted).items():
        if key not in known:
            fix = ("letters i18n extract --records FILE; letters i18n update"
                   if domain == DATA else "letters i18n update")
            problems.append(Problem(shown, None, f"missing from the catalog: {english!r}", key,
                                    fix))
    return problems


def catalog_stats(locale_dir: Path, lang: str, domain: str = DOMAIN) -> dict[str, int]:
    catalog = read_catalog(po_path(locale_dir, lang, domain), lang, domain)
    records = load_signoffs(locale_dir, lang, domain).records
    msgs = [m for m in catalog if m.id]
    return {
        "messages": len(msgs),
        "translated": sum(_translated(m) and not m.fuzzy for m in msgs),
        "fuzzy": sum(bool(m.fuzzy) for m in msgs),
        "untranslated": sum(not _translated(m) for m in msgs),
        "signed_off": sum(signoff_status(m, records.get(message_key(m))) == "signed"
                          for m in msgs),
    }


class TranslationGateError(LettersError):
    """Letters would carry text that is not translated, checked and signed off. The mailing
    cannot run as asked: exit 2."""

    exit_code = 2


def gate(root: Path, locale_dir: Path, *, letters: list[str], taglines: list[str] = (),
         data: dict[str, set[str]] | None = None, office: str | None = None,
         allow_sample: bool = False, templates_dir: Path | None = None) -> dict[str, dict]:
    """Refuse unless every message the letters use is translated, checked and signed off:
    the ``letters`` catalog of each language in ``letters``, the ``taglines`` catalog of each
    language in ``taglines``, and in the ``data`` catalog of each language the values
    ``data[lang]`` (:func:`data_key`) the batch prints. Returns what the batch relies on: per
    catalog its SHA-256, its sign-off file's and the reviewers with the dates of their
    sign-offs."""
    root, locale_dir = Path(root).resolve(), Path(locale_dir)
    # the messages the letters use, read from the templates they render from (a stale
    # letters.pot, or a babel.cfg that maps another folder, must not hide a new sentence)
    templates = extract_catalogs(root, templates_dir or root / "templates")
    relied: dict[str, dict] = {}
    problems: list[Problem] = []
    wanted = [(DOMAIN, lang, None) for lang in letters]
    wanted += [(DATA, lang, (data or {}).get(lang, set())) for lang in letters]
    wanted += [(TAGLINES, lang, None) for lang in taglines]
    for domain, lang, keys in wanted:
        if lang == SOURCE_LANGUAGE or (keys is not None and not keys):
            continue
        found = check(locale_dir, lang, domain=domain, root=root, keys=keys,
                      template=templates.get(domain) if keys is None else None,
                      office=office, allow_sample=allow_sample)
        problems.extend(found)
        if found:
            continue
        loaded = load_signoffs(locale_dir, lang, domain)
        reviewers: dict[str, list[str]] = {}
        for key, r in loaded.records.items():
            if keys is not None and key not in keys:
                continue
            reviewers.setdefault(r["reviewer"], [])
            if r["date"] not in reviewers[r["reviewer"]]:
                reviewers[r["reviewer"]].append(r["date"])
        name = lang if domain == DOMAIN else f"{lang}/{domain}"
        relied[name] = {
            "catalog_sha256": hashlib.sha256(po_path(locale_dir, lang, domain).read_bytes()
                                             ).hexdigest(),
            "signoff_sha256": hashlib.sha256(signoff_path(locale_dir, lang, domain).read_bytes()
                                             ).hexdigest(),
            "reviewers": {k: sorted(v) for k, v in sorted(reviewers.items())},
        }
        if loaded.has_sample:
            relied[name]["sample_signoffs"] = True
    if problems:
        fixes = sorted({p.fix for p in problems if p.fix})
        listed = "\n".join(f"  {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise TranslationGateError(
            f"the translation is not ready to mail ({len(problems)} problem"
            f"{'' if len(problems) == 1 else 's'}); no letter was written:\n{listed}{more}",
            hint="Fix with: " + "; ".join(fixes) + ". Then run `letters i18n check`. "
                 "(`letters preview` renders drafts meanwhile.)")
    return relied
