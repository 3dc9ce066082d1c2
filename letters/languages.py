"""The languages of a workspace, declared once in ``letters.toml``.

Each ``[languages.CODE]`` table declares one language: its Babel locale, its name in itself,
the spellings the office's records use for it, whether letters are written in it (or it only
has a tagline), its readability measure and the font that draws it. Everything else derives
from this registry: intake aliases, the versions a letter holds, CLI choices, the translation
gate, preview, review and the court report. Adding a language is one table here plus its
catalogs under ``locale/CODE/LC_MESSAGES/``; no code names a language other than the source
language the templates are written in.

A person whose preferred language has no letter version is never rejected for it: they get
``[letter] fallback`` versions with the taglines, and the language they asked for is recorded
(``language_requested``) so that the office can follow up.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from babel import Locale, UnknownLocaleError
from babel.messages.pofile import read_po

from letters import fonts
from letters.readability import MEASURES, SYLLABLE_COUNTERS

SOURCE_LANGUAGE = "en"
LETTER_POLICIES = ("preferred", "preferred+english", "all")


@dataclass(frozen=True)
class Language:
    """One ``[languages.CODE]`` table of ``letters.toml``."""

    #: Short code used in records, folders and the ledger ("pt"); the table's name.
    code: str
    #: Babel locale for dates, numbers and language names ("pt_BR"); blank = the code.
    locale: str = ""
    #: The language's name in itself ("Português"); blank = Babel's.
    name: str = ""
    #: More spellings accepted in the records' language column (case and accents ignored).
    #: The code, its regional forms and the language's names in every letter language are
    #: accepted without listing them.
    aliases: tuple[str, ...] = ()
    #: ``true``: letters are written in this language (complete message and data catalogs);
    #: ``false``: it only has a tagline, and its speakers get the fallback versions.
    letter: bool = True
    #: Plain-language measure of its letters: "flesch-kincaid", "inflesz", "flesch-pt".
    readability: str = ""
    #: Syllable counter for that measure: "en", "es", "pt".
    syllables: str = ""
    #: Bundled font family that draws it.
    font: str = fonts.DEFAULT_FAMILY

    @property
    def locale_id(self) -> str:
        return self.locale or self.code

    @property
    def babel(self) -> Locale:
        return parse_locale(self.locale_id)

    @property
    def display_name(self) -> str:
        """Its name in itself, as a reader of it would write it."""
        if self.name:
            return self.name
        try:
            name = parse_locale(self.code).display_name or self.code
        except (UnknownLocaleError, ValueError):
            name = self.code
        return name[:1].upper() + name[1:]


@functools.lru_cache(maxsize=None)
def parse_locale(identifier: str) -> Locale:
    return Locale.parse(identifier.replace("-", "_"))


def fold(text: str) -> str:
    """Casefold, strip accents and collapse spaces: ' Português ' -> 'portugues'."""
    decomposed = unicodedata.normalize("NFD", str(text).casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.replace("_", "-").split())


@functools.lru_cache(maxsize=1)
def _world_names() -> dict[str, str]:
    """Folded names of every language Babel knows, in English and in itself, -> its code
    ('haitian creole' -> 'ht', 'polski' -> 'pl'). Built once, when a records value is not a
    declared language."""
    from babel.localedata import locale_identifiers

    english = parse_locale("en")
    names = {}
    for code in locale_identifiers():
        if "_" not in code:
            own = parse_locale(code).display_name
            if own:
                names.setdefault(fold(own), code)
    names.update({fold(name): code for code, name in english.languages.items() if "_" not in code})
    return names


class Registry:
    """The declared languages, in declaration order, the source language first."""

    def __init__(self, languages: Iterable[Language]):
        items = list(languages)
        items.sort(key=lambda lang: lang.code != SOURCE_LANGUAGE)
        self._by_code = {lang.code: lang for lang in items}
        self._aliases: dict[str, str] = {}
        for lang in items:
            for alias in self.spellings(lang):
                self._aliases.setdefault(alias, lang.code)

    def __contains__(self, code: str) -> bool:
        return code in self._by_code

    def __getitem__(self, code: str) -> Language:
        return self._by_code[code]

    def __iter__(self):
        return iter(self._by_code.values())

    @property
    def codes(self) -> list[str]:
        return list(self._by_code)

    @property
    def letter_codes(self) -> list[str]:
        """Languages letters are written in, source first."""
        return [lang.code for lang in self if lang.letter]

    def spellings(self, lang: Language) -> list[str]:
        """Folded spellings of ``lang`` accepted in the records."""
        out = [fold(lang.code), fold(lang.locale_id), fold(lang.display_name)]
        out += [fold(a) for a in lang.aliases]
        try:
            out.append(fold(parse_locale(lang.code).english_name or ""))
        except (UnknownLocaleError, ValueError):
            pass  # a code Babel does not know: its aliases and name still match
        for other in self._by_code.values():
            try:
                out.append(fold(other.babel.languages.get(lang.code, "")))
            except (UnknownLocaleError, ValueError):
                pass
        return [s for s in dict.fromkeys(out) if s]

    def identify(self, text: str) -> tuple[str | None, str]:
        """What a records value asks for: (declared language code or None, requested code).

        The requested code is the declared code, else the ISO code Babel recognises
        ('French' -> 'fr', 'ht-HT' -> 'ht'), else the value as written.
        """
        key = fold(text)
        if not key:
            return None, ""
        if key in self._aliases:
            return self._aliases[key], self._aliases[key]
        if re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]{2,8})*", key):
            base = key.split("-")[0]        # 'por-br' -> 'por', 'pt-br' -> 'pt'
            if base in self._aliases:
                return self._aliases[base], self._aliases[base]
            try:
                code = parse_locale(base).language
            except (UnknownLocaleError, ValueError):
                code = None
            if code is not None:
                declared = self._aliases.get(code)
                return (declared, declared) if declared else (None, code)
        code = _world_names().get(key)
        if code is not None:
            return (code if code in self._by_code else None), code
        return None, " ".join(str(text).split())

    def versions(self, preferred: str, policy: str, *, requested: str = "",
                 fallback: Iterable[str] = (SOURCE_LANGUAGE,)) -> list[str]:
        """The versions a letter holds, in print order.

        ``requested`` (a language with no letter version) gives the fallback versions.

        >>> reg = Registry([Language("en"), Language("es"), Language("pt")])
        >>> reg.versions("pt", "preferred+english"), reg.versions("en", "preferred+english")
        (['pt', 'en'], ['en'])
        >>> reg.versions("es", "all"), reg.versions("es", "preferred")
        (['es', 'en', 'pt'], ['es'])
        >>> reg.versions("en", "preferred", requested="ht", fallback=["en", "es"])
        ['en', 'es']
        """
        if requested or preferred not in self.letter_codes:
            return [c for c in dict.fromkeys(fallback) if c in self.letter_codes]
        if policy == "preferred":
            return [preferred]
        if policy == "preferred+english":
            return list(dict.fromkeys([preferred, SOURCE_LANGUAGE]))
        return list(dict.fromkeys([preferred, *self.letter_codes]))


def language_problems(languages: dict[str, Language], letter, default_language: str,
                      hotline_languages: list[str], locale_dir: Path) -> list[str]:
    """Every problem of the language declarations and the settings that name languages."""
    problems: list[str] = []
    valid: dict[str, Language] = {}
    for code, lang in languages.items():
        where = f"[languages.{code}]"
        if not re.fullmatch(r"[a-z]{2,3}", code):
            problems.append(f"{where} the code must be 2 or 3 lower-case letters (ISO 639)")
            continue
        try:
            parse_locale(lang.locale_id)
        except (UnknownLocaleError, ValueError):
            problems.append(f"{where} locale '{lang.locale_id}' is not a locale Babel knows")
            continue
        if lang.font not in fonts.FAMILIES:
            problems.append(f"{where} font '{lang.font}' is not bundled "
                            f"(bundled: {', '.join(fonts.FAMILIES)})")
            continue
        if lang.readability and lang.readability not in MEASURES:
            problems.append(f"{where} readability must be one of {', '.join(MEASURES)}")
        if lang.syllables and lang.syllables not in SYLLABLE_COUNTERS:
            problems.append(f"{where} syllables must be one of {', '.join(SYLLABLE_COUNTERS)}")
        if bool(lang.readability) != bool(lang.syllables):
            problems.append(f"{where} readability and syllables go together")
        texts = [("its name", lang.display_name)]
        tagline = _tagline_text(locale_dir, code) if code in letter.taglines else None
        if tagline:
            texts.append(("its tagline", tagline))
        drawable = True
        for what, text in texts:
            missing = fonts.undrawable(text, lang.font)
            if missing:
                drawable = False
                shown = ", ".join(f"U+{ord(c):04X} {c}" for c in missing[:5])
                problems.append(f"{where} the font {lang.font} cannot draw {what} "
                                f"({shown}): this script needs a font letters does not bundle; "
                                "remove the language from [letter] taglines and letters")
        if drawable:
            valid[code] = lang
    if SOURCE_LANGUAGE in languages and not languages[SOURCE_LANGUAGE].letter:
        problems.append(f"[languages.{SOURCE_LANGUAGE}] the source language always has letters")
    registry = Registry(valid.values())
    seen: dict[str, str] = {}
    for lang in languages.values():
        for alias in lang.aliases:
            key = fold(alias)
            if key in seen and seen[key] != lang.code:
                problems.append(f"[languages.{lang.code}] alias '{alias}' is also an alias of "
                                f"[languages.{seen[key]}]")
            seen[key] = lang.code
    letter_codes = [c for c in registry.letter_codes] + [
        c for c, lang in languages.items() if lang.letter and c not in valid]
    if letter.policy not in LETTER_POLICIES:
        problems.append(f"[letter] policy must be one of {', '.join(LETTER_POLICIES)}")
    if not letter.fallback:
        problems.append("[letter] fallback must name at least one language")
    for code in letter.fallback:
        if code not in letter_codes:
            problems.append(f"[letter] fallback '{code}' is not a letter language "
                            f"(declared: {', '.join(letter_codes)})")
    for code in letter.taglines:
        if code not in languages:
            problems.append(f"[letter] taglines '{code}' has no [languages.{code}] table")
    if default_language not in letter_codes:
        problems.append(f"[intake] default_language must be one of {', '.join(letter_codes)}")
    for code in hotline_languages:
        try:
            parse_locale(code)
        except (UnknownLocaleError, ValueError):
            problems.append(f"[office] hotline_languages '{code}' is not a language code")
    return problems


def _tagline_text(locale_dir: Path, code: str) -> str | None:
    """The translated tagline in a language's taglines catalog, if it has one."""
    path = Path(locale_dir) / code / "LC_MESSAGES" / "taglines.po"
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as fh:
            catalog = read_po(fh)
    except Exception:  # an unreadable catalog is reported by `letters i18n check`
        return None
    return " ".join(str(m.string) for m in catalog if m.id and m.string)
