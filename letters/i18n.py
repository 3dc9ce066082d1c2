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
import io
import threading
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


def locale_for(lang: str) -> Locale:
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
