"""``letters.toml``: the workspace configuration, typed and validated in one pass.

Every field below carries its meaning in its docstring-comment. Loading collects every
problem in the file (unknown keys, wrong types, bad values) and raises them together as
one :class:`~letters.errors.ConfigError`, so an office fixes its file in one go.
Relative paths are resolved against the folder holding the configuration file.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path

from letters.errors import ConfigError
from letters.model import CANONICAL_COLUMNS, LANGUAGES

import tomllib

CONFIG_NAME = "letters.toml"


@dataclass
class OfficeConfig:
    """Who sends the letters; printed in the letterhead and the contact paragraphs."""

    name: str = "Office of the District Attorney"
    #: Postal address lines of the office, printed under its name.
    address: list[str] = field(default_factory=list)
    phone: str = ""
    #: Telephone line the letter tells people to call; defaults to ``phone``.
    hotline: str = ""
    email: str = ""
    website: str = ""
    #: Name and title of the person who signs the letter.
    signer_name: str = ""
    signer_title: str = ""


@dataclass
class IntakeConfig:
    """How the office's case export is read."""

    #: Text encoding of CSV exports. ``utf-8`` also reads files that start with a BOM.
    encoding: str = "utf-8"
    #: Language for people whose row leaves the language column blank.
    default_language: str = "en"
    #: Sheet of an Excel workbook to read (name or 0-based index); blank = the first.
    sheet: str = ""
    #: Row of the header in a CSV file or sheet (1 = the first row); 0 = look for it in the
    #: first 20 rows (exports often start with a report title and a blank row).
    header_row: int = 0


@dataclass
class LetterConfig:
    """What each letter says and in which languages."""

    #: ``bilingual``: both versions, preferred first; ``preferred``: only the preferred one.
    policy: str = "bilingual"
    #: Days after the issue date by which the person is asked to respond.
    response_days: int = 90
    #: Template file under ``templates/<lang>/``.
    template: str = "notice.html"


@dataclass
class MailingConfig:
    """How a batch is rendered and handed to the mail house."""

    #: Worker processes for rendering; 0 = one per CPU core.
    workers: int = 0
    #: Letters per combined print file (the mail house's limit).
    letters_per_print_file: int = 500


DEFAULT_RESPONSE_KINDS = ["counsel-requested", "no-action-wanted", "address-update",
                          "returned-undeliverable", "returned-forwarded", "other"]


@dataclass
class ResponsesConfig:
    """What staff can record about a notice after it was mailed."""

    #: Kinds of response. ``address-update`` needs the new address and
    #: ``returned-undeliverable`` a reason; kinds starting with ``returned-`` are returned
    #: mail, not an answer from the person.
    kinds: list[str] = field(default_factory=lambda: list(DEFAULT_RESPONSE_KINDS))


@dataclass
class PathsConfig:
    """Where the workspace keeps its parts (relative to the folder of ``letters.toml``)."""

    templates: str = "templates"
    locale: str = "locale"
    output: str = "output"


@dataclass
class Config:
    office: OfficeConfig = field(default_factory=OfficeConfig)
    intake: IntakeConfig = field(default_factory=IntakeConfig)
    letter: LetterConfig = field(default_factory=LetterConfig)
    mailing: MailingConfig = field(default_factory=MailingConfig)
    responses: ResponsesConfig = field(default_factory=ResponsesConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    #: Canonical column name -> header used in the office's export.
    columns: dict[str, str] = field(default_factory=dict)
    #: The file this came from (None: built-in defaults) and the folder paths are relative to.
    source: Path | None = None
    root: Path = field(default_factory=Path.cwd)

    def path(self, name: str) -> Path:
        """Absolute path of ``paths.<name>``."""
        return (self.root / getattr(self.paths, name)).resolve()

    @property
    def output_dir(self) -> Path:
        return self.path("output")

    @property
    def templates_dir(self) -> Path:
        return self.path("templates")

    @property
    def locale_dir(self) -> Path:
        return self.path("locale")


_SECTIONS = {"office": OfficeConfig, "intake": IntakeConfig, "letter": LetterConfig,
             "mailing": MailingConfig, "responses": ResponsesConfig, "paths": PathsConfig}


def _check_type(value, annotation) -> bool:
    origin = typing.get_origin(annotation)
    if origin is list:
        (item,) = typing.get_args(annotation)
        return isinstance(value, list) and all(_check_type(v, item) for v in value)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def _type_name(annotation) -> str:
    if typing.get_origin(annotation) is list:
        return "a list of " + _type_name(typing.get_args(annotation)[0]) + "s"
    return {str: "a string", int: "a whole number", bool: "true or false"}.get(annotation, str(annotation))


def _build_section(name: str, cls, data, problems: list[str]):
    if not isinstance(data, dict):
        problems.append(f"[{name}] must be a table")
        return cls()
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in known:
            problems.append(f"[{name}] unknown key '{key}' (known: {', '.join(sorted(known))})")
        elif name == "intake" and key == "sheet" and isinstance(value, int) and not isinstance(value, bool):
            kwargs[key] = str(value)
        elif not _check_type(value, hints[key]):
            problems.append(f"[{name}] {key} must be {_type_name(hints[key])}")
        else:
            kwargs[key] = value
    return cls(**kwargs)


def from_dict(data: dict, *, source: Path | None = None, root: Path | None = None) -> Config:
    """Build and validate a :class:`Config` from parsed TOML; raise every problem at once."""
    problems: list[str] = []
    sections = {}
    for key, value in data.items():
        if key in _SECTIONS:
            sections[key] = _build_section(key, _SECTIONS[key], value, problems)
        elif key != "columns":
            problems.append(f"unknown section [{key}] (known: {', '.join(sorted([*_SECTIONS, 'columns']))})")
    columns: dict[str, str] = {}
    raw_columns = data.get("columns", {})
    if not isinstance(raw_columns, dict):
        problems.append("[columns] must be a table of canonical name = \"header in the export\"")
    else:
        for canonical, header in raw_columns.items():
            if canonical not in CANONICAL_COLUMNS:
                problems.append(f"[columns] '{canonical}' is not a canonical column "
                                f"(one of: {', '.join(CANONICAL_COLUMNS)})")
            elif not isinstance(header, str) or not header.strip():
                problems.append(f"[columns] {canonical} must name a column header")
            else:
                columns[canonical] = header
        seen: dict[str, str] = {}
        for canonical, header in columns.items():
            if header in seen:
                problems.append(f"[columns] {seen[header]} and {canonical} both name the header '{header}'")
            seen[header] = canonical
    cfg = Config(**sections, columns=columns, source=source, root=root or Path.cwd())
    problems.extend(_validate_values(cfg))
    if problems:
        raise ConfigError(str(source) if source else "configuration", problems)
    return cfg


def _validate_values(cfg: Config) -> list[str]:
    problems = []
    if cfg.intake.default_language not in LANGUAGES:
        problems.append(f"[intake] default_language must be one of {', '.join(LANGUAGES)}")
    try:
        "".encode(cfg.intake.encoding)
    except LookupError:
        problems.append(f"[intake] encoding '{cfg.intake.encoding}' is not a known text encoding")
    if not 0 <= cfg.intake.header_row <= 1_048_576:
        problems.append("[intake] header_row must be between 0 (look for it) and 1048576")
    if cfg.letter.policy not in ("bilingual", "preferred"):
        problems.append("[letter] policy must be 'bilingual' or 'preferred'")
    if not cfg.responses.kinds or any(not k.strip() for k in cfg.responses.kinds):
        problems.append("[responses] kinds must list at least one kind, none blank")
    if not 0 <= cfg.mailing.workers <= 256:
        problems.append("[mailing] workers must be between 0 (all cores) and 256")
    if not 1 <= cfg.mailing.letters_per_print_file <= 100000:
        problems.append("[mailing] letters_per_print_file must be between 1 and 100000")
    if not 1 <= cfg.letter.response_days <= 3650:
        problems.append("[letter] response_days must be between 1 and 3650")
    return problems


def load(path: str | os.PathLike | None = None) -> Config:
    """Load ``path``, or ``./letters.toml`` when it exists, or the built-in defaults."""
    if path is None:
        candidate = Path.cwd() / CONFIG_NAME
        if not candidate.is_file():
            return Config()
        path = candidate
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot be read: {exc}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from None
    return from_dict(data, source=path, root=path.resolve().parent)


def with_overrides(cfg: Config, **sections: dict) -> Config:
    """A copy of ``cfg`` with ``section={key: value}`` overrides (None values ignored), revalidated."""
    new = dataclasses.replace(cfg)
    problems = []
    for section, values in sections.items():
        current = getattr(new, section)
        changes = {k: v for k, v in values.items() if v is not None}
        if changes:
            setattr(new, section, dataclasses.replace(current, **changes))
    problems.extend(_validate_values(new))
    if problems:
        raise ConfigError("command-line options", problems)
    return new
