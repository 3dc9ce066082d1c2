"""The one seam between Babel and Jinja: translations, formatting and template environments.

For each language there is one sandboxed Jinja environment with ``jinja2.ext.i18n`` (newstyle
gettext, trimmed ``{% trans %}`` blocks), autoescaping, ``StrictUndefined`` and Babel formatting
filters for that locale. Templates are looked up in ``templates/<lang>/`` first, then in
``templates/en/``. Catalogs are read from the ``.po`` files translators edit and compiled in
memory (``.mo`` files are build products, never needed in the workspace). Environments and
catalogs are cached per process, so templates are compiled once, not once per letter.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from letters.errors import LettersError

SOURCE_LANGUAGE = "en"
DOMAIN = "letters"

#: Babel locale used for formatting in each language of the letters.
LOCALES = {"en": "en_US", "es": "es_US"}

_lock = threading.Lock()
_environments: dict[tuple, SandboxedEnvironment] = {}
_catalogs: dict[tuple, Translations] = {}
_SOURCE = NullTranslations()


class CatalogError(LettersError):
    """A message catalog is missing or cannot be read."""


def po_path(locale_dir: Path, lang: str) -> Path:
    return Path(locale_dir) / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def load_translations(locale_dir: str | Path, lang: str) -> NullTranslations:
    """The gettext catalog for ``lang``, compiled in memory from its ``.po`` file.

    The source language needs no catalog. Fuzzy entries are never used.
    """
    if lang == SOURCE_LANGUAGE:
        return _SOURCE
    path = po_path(Path(locale_dir), lang)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise CatalogError(f"{path}: no message catalog for language '{lang}'",
                           hint="Create it with `pybabel init` from locale/letters.pot.") from None
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    with _lock:
        cached = _catalogs.get(key)
    if cached is not None:
        return cached
    with open(path, "rb") as fh:
        try:
            catalog = read_po(fh, locale=lang, domain=DOMAIN)
        except Exception as exc:  # babel raises PoFileError and friends
            raise CatalogError(f"{path}: cannot be read as a PO catalog ({exc})") from None
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    translations = Translations(buf, domain=DOMAIN)
    with _lock:
        _catalogs[key] = translations
    return translations


@functools.lru_cache(maxsize=None)
def locale_for(lang: str) -> Locale:
    """The Babel locale of a letter language, parsed once."""
    return Locale.parse(LOCALES.get(lang, lang))


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


def environment(templates_dir: str | Path, locale_dir: str | Path, lang: str
                ) -> SandboxedEnvironment:
    """The (cached) Jinja environment that renders templates in ``lang``."""
    templates_dir, locale_dir = Path(templates_dir).resolve(), Path(locale_dir).resolve()
    translations = load_translations(locale_dir, lang)
    key = (str(templates_dir), lang, id(translations))
    with _lock:
        env = _environments.get(key)
    if env is not None:
        return env
    search = [str(templates_dir / lang)] if lang != SOURCE_LANGUAGE else []
    search.append(str(templates_dir / SOURCE_LANGUAGE))
    env = SandboxedEnvironment(
        loader=FileSystemLoader(search),
        extensions=["jinja2.ext.i18n"],
        autoescape=True,
        undefined=StrictUndefined,
        auto_reload=False,
    )
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(translations, newstyle=True)
    env.filters.update(_filters(locale_for(lang)))
    env.globals["lang"] = lang
    with _lock:
        _environments[key] = env
    return env


def gettext(locale_dir: str | Path, lang: str, message: str, **params) -> str:
    """Translate one message outside templates (page furniture), newstyle placeholders."""
    text = load_translations(locale_dir, lang).ugettext(message)
    return text % params if params else text


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
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
COMMENT_TAGS = ("Translators:",)
HEADER = ("# Translations template for letters.\n# Copyright (C) {year} letters\n"
          "# This file is distributed under the same license as the letters project.\n#")
SIGNOFF_NAME = f"{DOMAIN}.signoff.json"
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{\{\s*(\w+)\s*\}\}")
_TAG = re.compile(r"</?([a-zA-Z]+)[^>]*>")


def _mapping(root: Path):
    from babel.messages.frontend import parse_mapping_cfg

    cfg = root / BABEL_CFG
    if not cfg.is_file():
        raise CatalogError(f"{cfg}: the extraction mapping is missing")
    with open(cfg, encoding="utf-8") as fh:
        return parse_mapping_cfg(fh, filename=str(cfg))


def extract_catalog(root: Path):
    """Every message of the workspace's templates (and page furniture), as a template catalog."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    root = Path(root).resolve()
    method_map, options_map = _mapping(root)
    skip = {"output", "bench", "tests", "build", "dist", "examples"}

    def keep_dir(path: str) -> bool:
        name = Path(path).name
        return not name.startswith(".") and name not in skip and not name.endswith(".egg-info")

    catalog = Catalog(project="letters", version=_version(), copyright_holder="letters",
                      header_comment=HEADER.format(year=dt.date.today().year),
                      msgid_bugs_address=None, charset="utf-8", fuzzy=False)
    method_map = [(pattern, method) for pattern, method in method_map if method != "python"]
    for filename, lineno, message, comments, context in extract_from_dir(
            root, method_map, options_map, keywords=KEYWORDS, comment_tags=COMMENT_TAGS,
            strip_comment_tags=True, directory_filter=keep_dir):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments,
                    context=context)
    # The engine's own messages (page labels) come from the installed package, so that a
    # workspace without the source code still extracts them.
    package = Path(__file__).resolve().parent
    for filename, lineno, message, comments, context in extract_from_dir(
            package, [("compose.py", "python")], {}, keywords={"N_": None},
            comment_tags=COMMENT_TAGS, strip_comment_tags=True):
        catalog.add(message, None, [(f"letters/{filename}", lineno)], auto_comments=comments,
                    context=context)
    return catalog


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


def _read(path: Path, lang: str | None = None):
    with open(path, "rb") as fh:
        try:
            return read_po(fh, locale=lang, domain=DOMAIN)
        except Exception as exc:
            raise CatalogError(f"{path}: cannot be read as a PO catalog ({exc})") from None


def extract(root: Path, locale_dir: Path) -> tuple[Path, bool]:
    """Write ``locale/letters.pot`` from the templates; returns (path, whether it changed).

    An unchanged set of messages leaves the file untouched, so its date does not churn.
    """
    catalog = extract_catalog(root)
    pot = Path(locale_dir) / f"{DOMAIN}.pot"
    if pot.exists() and _signature(_read(pot)) == _signature(catalog):
        return pot, False
    pot.parent.mkdir(parents=True, exist_ok=True)
    _write_po(pot, catalog)
    return pot, True


def languages_in(locale_dir: Path) -> list[str]:
    return sorted(p.parent.parent.name for p in Path(locale_dir).glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def update(locale_dir: Path, langs: list[str] | None = None) -> list[tuple[str, int, int]]:
    """Merge the template into each language's catalog: new messages appear untranslated, and
    a message whose English changed keeps its old translation marked fuzzy (with the previous
    English shown) until a translator confirms it. Returns (lang, fuzzy, untranslated)."""
    pot = Path(locale_dir) / f"{DOMAIN}.pot"
    if not pot.exists():
        raise CatalogError(f"{pot}: no template; run `letters i18n extract` first")
    template = _read(pot)
    out = []
    for lang in langs or languages_in(locale_dir):
        path = po_path(locale_dir, lang)
        catalog = _read(path, lang)
        catalog.update(template, no_fuzzy_matching=False, update_header_comment=False,
                       keep_user_comments=True, update_creation_date=False)
        _write_po(path, catalog)
        msgs = [m for m in catalog if m.id]
        out.append((lang, sum(m.fuzzy for m in msgs), sum(not _translated(m) for m in msgs)))
    clear_caches()
    return out


def compile_catalogs(locale_dir: Path, langs: list[str] | None = None) -> list[Path]:
    """Write ``.mo`` files (build products, for other gettext tools; letters reads the .po)."""
    written = []
    for lang in langs or languages_in(locale_dir):
        catalog = _read(po_path(locale_dir, lang), lang)
        mo = po_path(locale_dir, lang).with_suffix(".mo")
        with open(mo, "wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        written.append(mo)
    return written


def _translated(message) -> bool:
    if isinstance(message.string, (list, tuple)):
        return all(message.string)
    return bool(message.string)


def _texts(value) -> list[str]:
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


# --- sign-off ------------------------------------------------------------------------------------

def _hash(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        for text in _texts(p):
            h.update(text.encode("utf-8"))
            h.update(b"\x00")
        h.update(b"\x01")
    return h.hexdigest()


def message_key(message) -> str:
    """A stable key for a message: its context and English (singular and plural)."""
    ids = _texts(message.id)
    return json.dumps([message.context or "", *ids], ensure_ascii=False)


def source_hash(message) -> str:
    return _hash(message.context or "", message.id)


def translation_hash(message) -> str:
    return _hash(message.string)


def signoff_path(locale_dir: Path, lang: str) -> Path:
    return po_path(locale_dir, lang).with_name(SIGNOFF_NAME)


def load_signoffs(locale_dir: Path, lang: str) -> dict[str, dict]:
    """message key -> sign-off record (reviewer, date, note, hashes)."""
    path = signoff_path(locale_dir, lang)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {json.dumps(r["message"], ensure_ascii=False): r for r in data["signoffs"]}
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
             only: list[str] | None = None, date: dt.date | None = None) -> tuple[int, list[str]]:
    """Record that ``reviewer`` approved the current translation of each message for the current
    English. Only messages that pass every check can be signed; ``only`` limits it to messages
    whose English contains one of the given texts. Returns (signed now, messages refused)."""
    if not reviewer.strip():
        raise CatalogError("a sign-off needs the reviewer's name (--reviewer)")
    path = po_path(locale_dir, lang)
    catalog = _read(path, lang)
    records = load_signoffs(locale_dir, lang)
    problems_by_key = {}
    for p in check(locale_dir, lang, signoffs=False):
        if p.key:
            problems_by_key.setdefault(p.key, []).append(p.message)
    signed, refused = 0, []
    day = (date or dt.date.today()).isoformat()
    for m in catalog:
        if not m.id:
            continue
        ids = _texts(m.id)
        if only and not any(o in text for o in only for text in ids):
            continue
        key = message_key(m)
        if key in problems_by_key:
            refused.append(f"{ids[0][:60]!r}: {'; '.join(problems_by_key[key])}")
            continue
        if signoff_status(m, records.get(key)) == "signed":
            continue
        records[key] = {"message": json.loads(key), "source_sha256": source_hash(m),
                        "translation_sha256": translation_hash(m), "reviewer": reviewer.strip(),
                        "date": day, "note": note}
        signed += 1
    body = {"language": lang, "catalog": f"{DOMAIN}.po",
            "about": "Each entry: a reviewer approved this translation for this English. "
                     "A change to either text voids the entry.",
            "signoffs": [records[k] for k in sorted(records)]}
    target = signoff_path(locale_dir, lang)
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


def check(locale_dir: Path, lang: str, *, root: Path | None = None, signoffs: bool = True,
          template=None) -> list[Problem]:
    """Every problem of a language's catalog that would make its letters unsafe to mail.

    ``template``: the messages the letters use (default: ``locale/letters.pot``).
    """
    locale_dir = Path(locale_dir)
    path = po_path(locale_dir, lang)
    shown = path.relative_to(root).as_posix() if root and path.is_relative_to(root) else str(path)
    if not path.exists():
        return [Problem(shown, None, f"no catalog for language '{lang}'", None,
                        f"pybabel init -D letters -i locale/letters.pot -d locale -l {lang}")]
    catalog = _read(path, lang)
    problems: list[Problem] = []
    nplurals = catalog.num_plurals
    pot = locale_dir / f"{DOMAIN}.pot"
    if template is None and pot.exists():
        template = _read(pot)
    records = load_signoffs(locale_dir, lang) if signoffs else {}
    known = set()
    for m in catalog:
        if not m.id:
            continue
        key = message_key(m)
        known.add(key)
        english = _texts(m.id)
        label = english[0] if len(english[0]) <= 60 else english[0][:57] + "..."
        add = lambda msg, fix="": problems.append(Problem(shown, m.lineno, f"{msg}: {label!r}",
                                                          key, fix))
        if m.fuzzy:
            add("fuzzy (the English changed; confirm the translation and remove the fuzzy flag)",
                f"edit {shown}")
            continue
        strings = _texts(m.string)
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
            if got != want:
                missing, extra = sorted(want - got), sorted(got - want)
                detail = "; ".join(x for x in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"unknown {', '.join(extra)}" if extra else "") if x)
                form = f" (plural form {i})" if len(strings) > 1 else ""
                add(f"placeholders differ{form}: {detail}", f"edit {shown}")
            if sorted(tags(text)) != sorted(tags(english[min(i, len(english) - 1)])):
                add("markup tags differ from the English", f"edit {shown}")
        if signoffs:
            status = signoff_status(m, records.get(key))
            if status != "signed":
                add("no sign-off" if status == "missing" else
                    "sign-off is stale (the English or the translation changed since)",
                    f"letters i18n signoff --lang {lang} --reviewer NAME")
    if template is not None:
        for m in template:
            if m.id and message_key(m) not in known:
                english = _texts(m.id)[0]
                problems.append(Problem(shown, None, f"missing from the catalog: {english[:60]!r}",
                                        message_key(m), "letters i18n update"))
    return problems


def catalog_stats(locale_dir: Path, lang: str) -> dict[str, int]:
    catalog = _read(po_path(locale_dir, lang), lang)
    records = load_signoffs(locale_dir, lang)
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
    """Letters would carry text that is not translated, checked and signed off."""


def gate(root: Path, locale_dir: Path, langs: list[str]) -> dict[str, dict]:
    """Refuse unless every message the letters use is translated, checked and signed off in
    each of ``langs``. Returns what the batch relies on: per language the catalog's SHA-256
    and the reviewers with the dates of their sign-offs."""
    root, locale_dir = Path(root).resolve(), Path(locale_dir)
    template = extract_catalog(root) if (root / BABEL_CFG).is_file() else None
    relied: dict[str, dict] = {}
    problems: list[Problem] = []
    for lang in langs:
        if lang == SOURCE_LANGUAGE:
            continue
        found = check(locale_dir, lang, root=root, template=template)
        problems.extend(found)
        if found:
            continue
        records = load_signoffs(locale_dir, lang)
        reviewers: dict[str, list[str]] = {}
        for r in records.values():
            reviewers.setdefault(r["reviewer"], [])
            if r["date"] not in reviewers[r["reviewer"]]:
                reviewers[r["reviewer"]].append(r["date"])
        relied[lang] = {
            "catalog_sha256": hashlib.sha256(po_path(locale_dir, lang).read_bytes()).hexdigest(),
            "signoff_sha256": hashlib.sha256(signoff_path(locale_dir, lang).read_bytes()
                                             ).hexdigest(),
            "reviewers": {k: sorted(v) for k, v in sorted(reviewers.items())},
        }
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
