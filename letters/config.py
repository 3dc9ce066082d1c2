"""``letters.toml``: the workspace configuration, typed and validated in one pass.

Every field below carries its meaning in its docstring-comment. Loading collects every
problem in the file (unknown keys, wrong types, bad values) and raises them together as
one :class:`~letters.errors.ConfigError`, so an office fixes its file in one go.
Relative paths are resolved against the folder holding the configuration file.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path

from letters.engines import ENGINES, address_problem
from letters.errors import ConfigError
from letters.languages import (
    Language, Registry, SOURCE_LANGUAGE, language_problems,
)
from letters.model import CANONICAL_COLUMNS

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
    #: Name and title of the person who signs the letter. The title is translated through the
    #: data catalogs (``letters i18n extract``), like the values from the records.
    signer_name: str = ""
    signer_title: str = ""
    #: Days the hotline answers, as a range of English day abbreviations (``mon-fri``); printed
    #: beside the number in each letter's language.
    hotline_days: str = "mon-fri"
    #: Hours the hotline answers, ``HH:MM-HH:MM`` (24-hour clock), printed in local style.
    hotline_hours: str = "09:00-17:00"
    #: Languages the hotline staff speak (language codes), named in each letter's language.
    hotline_languages: list[str] = field(default_factory=lambda: [SOURCE_LANGUAGE])


@dataclass
class CounselConfig:
    """The public defender agency a person can call directly, printed in the letter."""

    #: Full name in English; translated through the data catalogs.
    name: str = "Committee for Public Counsel Services"
    #: Short name or acronym people will hear on the phone (not translated).
    short: str = "CPCS"
    phone: str = ""
    website: str = ""


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

    #: Which versions a letter holds, the preferred language always first:
    #: ``preferred`` (only that one), ``preferred+english`` (and English, for a person who
    #: prefers another language), ``all`` (every letter language configured).
    policy: str = "preferred+english"
    #: Versions for a person whose preferred language has no letter version configured (or no
    #: language at all is known): they get these, with the taglines, and the ledger records the
    #: language they asked for.
    fallback: list[str] = field(default_factory=lambda: [SOURCE_LANGUAGE])
    #: Languages of the taglines block printed on every letter ("This letter is important...");
    #: each needs a ``[languages.X]`` entry and a taglines catalog.
    taglines: list[str] = field(default_factory=list)
    #: Days after the issue date by which the person is asked to respond.
    response_days: int = 90
    #: Template file under ``templates/<lang>/``.
    template: str = "notice.html"
    #: The response form's template, printed once after the last version.
    form_template: str = "form.html"
    #: ``preferred``: one response form, in the first version's language with the second
    #: version's labels beneath; ``each``: a form after every version.
    form: str = "preferred"
    #: The court orders the letter cites by name, printed as they are.
    court_order: str = ""
    #: Chemists whose misconduct the court presumes conclusively in every case they tested:
    #: a letter with such a case says the person need not prove it.
    presumed_misconduct: list[str] = field(default_factory=list)
    #: A second notice: say that this letter replaces one the person may have received.
    earlier_letter: bool = False
    #: Body text size in points (tables and notes are at least 10 pt, never below).
    font_size: float = 12.0
    #: Body text size of a large-print letter (``large_print`` column set for the person).
    large_print_size: float = 18.0


@dataclass
class AddressConfig:
    """How the recipient's address block is printed (see ``letters/addresses.py``)."""

    #: The address block in capitals, as USPS Publication 28 prefers and mail houses expect;
    #: false prints it in the records' mixed case (the standard abbreviations either way).
    upper_case: bool = True


@dataclass
class MailingConfig:
    """How a batch is rendered and handed to the mail house."""

    #: Worker processes for rendering; 0 = one per CPU core.
    workers: int = 0
    #: Where letters are rendered: ``local`` (``workers`` processes on this machine) or
    #: ``dask`` (a Dask cluster, ``letters.engines``: its workers render and return the PDFs,
    #: this machine writes the retained copies and the ledger). The letters are the same.
    engine: str = "local"
    #: With ``engine = "dask"``: the address of a running Dask scheduler, e.g.
    #: ``tcp://10.0.0.5:8786`` (its workers need the workspace at the same paths); blank = a
    #: cluster of ``workers`` processes started on this machine, reachable from it only.
    scheduler: str = ""
    #: Letters per combined print file (the mail house's limit).
    letters_per_print_file: int = 500
    #: A new mailing from an export uses the newest address the ledger holds for a person (an
    #: ``address-update`` response, or returned mail with a forwarding address, received on or
    #: after the export's date) instead of the export's; the summary and the manifest say so.
    newest_address: bool = True
    #: Print on both sides of the sheet. Each letter is then padded at render time to an even
    #: number of pages with a page marked "This page intentionally left blank.", so that every
    #: letter starts on the front of a sheet and the retained copy is exactly what is printed.
    #: The bundled letters.toml says ``true``, as mail houses print; the built-in default stays
    #: ``false`` so that a batch mailed before this setting existed (its recorded configuration
    #: has no ``duplex``) re-renders byte for byte in ``letters audit verify --rerender``.
    duplex: bool = False
    #: Letters per package (a bundle with a rubber band) in the print files; see
    #: ``letters.printshop`` for how packages are cut.
    package_size: int = 50
    #: Weight of one sheet (20 lb letter paper: 0.16 oz) and of one empty #10 envelope, in
    #: ounces, for the job sheet's weight and postage estimate.
    sheet_weight_oz: float = 0.16
    envelope_weight_oz: float = 0.2


@dataclass
class ImbConfig:
    """The Intelligent Mail barcode printed in the address window (see ``letters/imb.py``)."""

    #: 2 digits, "00" for letters (the second digit 0-4).
    barcode_id: str = "00"
    #: The USPS service type ID, 3 digits: "300" First-Class Mail without address correction
    #: or tracing ("040" adds IV-MTR tracing); the mail house confirms it.
    service_type: str = "300"
    #: The mailer ID USPS gave the office or its mail house, 6 or 9 digits; empty: no barcode.
    mailer_id: str = ""


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
class CaseStatus:
    """One value of the records' optional ``case_status`` column: what the office decided."""

    #: A short label printed in the cases table (English; translated via the data catalogs).
    label: str
    #: One plain sentence of what it means and what, if anything, the person should do.
    meaning: str
    #: Other spellings accepted in the records.
    aliases: list[str] = field(default_factory=list)
    #: Nothing is left for the person to ask the court (vacated and dismissed for good): a
    #: letter whose cases all have a final status says so instead of explaining how to ask.
    final: bool = False


@dataclass
class SuppressionConfig:
    """People who must not be mailed (``--suppress FILE`` or ``file`` here)."""

    #: A CSV of ``defendant_id, reason[, note, counsel_name, counsel_address]`` applied to every
    #: mailing from an export; blank = none (``letters mail --suppress`` adds one).
    file: str = ""


@dataclass
class SuppressionReason:
    """One reason a person is not mailed (``[suppression_reason.deceased]``)."""

    #: What the reason means, printed in summaries and the court report.
    label: str
    #: The person has counsel of record: the letter goes to counsel instead (the suppression
    #: file gives ``counsel_name`` and ``counsel_address``), naming the person in the letter.
    to_counsel: bool = False


#: The reasons a workspace has when letters.toml configures none.
DEFAULT_SUPPRESSION_REASONS = {
    "deceased": SuppressionReason("Deceased"),
    "represented": SuppressionReason("Represented by counsel of record: the letter goes to "
                                     "counsel", to_counsel=True),
    "responded": SuppressionReason("Already responded"),
    "court-excluded": SuppressionReason("Excluded by the court"),
}


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
    address: AddressConfig = field(default_factory=AddressConfig)
    mailing: MailingConfig = field(default_factory=MailingConfig)
    imb: ImbConfig = field(default_factory=ImbConfig)
    responses: ResponsesConfig = field(default_factory=ResponsesConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    counsel: CounselConfig = field(default_factory=CounselConfig)
    suppression: SuppressionConfig = field(default_factory=SuppressionConfig)
    #: Reasons a person is not mailed: name -> label (``[suppression_reason.NAME]``).
    suppression_reason: dict[str, SuppressionReason] = field(
        default_factory=lambda: dict(DEFAULT_SUPPRESSION_REASONS))
    #: Canonical column name -> header used in the office's export.
    columns: dict[str, str] = field(default_factory=dict)
    #: Language code -> its declaration (``[languages.pt]``); see :mod:`letters.languages`.
    languages: dict[str, Language] = field(default_factory=lambda: {
        SOURCE_LANGUAGE: Language(SOURCE_LANGUAGE)})
    #: ``case_status`` vocabulary: value -> label and meaning (``[case_status.dismissed]``).
    case_status: dict[str, CaseStatus] = field(default_factory=dict)
    #: The file this came from (None: built-in defaults) and the folder paths are relative to.
    source: Path | None = None
    root: Path = field(default_factory=Path.cwd)

    @property
    def registry(self) -> Registry:
        """The languages of this workspace (see :mod:`letters.languages`)."""
        return Registry(self.languages.values())

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
             "address": AddressConfig, "mailing": MailingConfig, "imb": ImbConfig,
             "responses": ResponsesConfig,
             "paths": PathsConfig, "counsel": CounselConfig, "suppression": SuppressionConfig}
_TABLES = {"languages": Language, "case_status": CaseStatus,
           "suppression_reason": SuppressionReason}


def _check_type(value, annotation) -> bool:
    origin = typing.get_origin(annotation)
    if origin is list:
        (item,) = typing.get_args(annotation)
        return isinstance(value, list) and all(_check_type(v, item) for v in value)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if typing.get_origin(annotation) is tuple:
        (item, _) = typing.get_args(annotation)
        return isinstance(value, list) and all(_check_type(v, item) for v in value)
    return isinstance(value, annotation)


def _type_name(annotation) -> str:
    if typing.get_origin(annotation) in (list, tuple):
        return "a list of " + _type_name(typing.get_args(annotation)[0]) + "s"
    return {str: "a string", int: "a whole number", bool: "true or false",
            float: "a number"}.get(annotation, str(annotation))


def _build_section(name: str, cls, data, problems: list[str], **fixed):
    if not isinstance(data, dict):
        problems.append(f"[{name}] must be a table")
        return None if fixed else cls()
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)} - set(fixed)
    required = {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                and f.name not in fixed}
    kwargs = dict(fixed)
    for key, value in data.items():
        if key not in known:
            problems.append(f"[{name}] unknown key '{key}' (known: {', '.join(sorted(known))})")
        elif name == "intake" and key == "sheet" and isinstance(value, int) and not isinstance(value, bool):
            kwargs[key] = str(value)
        elif not _check_type(value, hints[key]):
            problems.append(f"[{name}] {key} must be {_type_name(hints[key])}")
        elif typing.get_origin(hints[key]) is tuple:
            kwargs[key] = tuple(value)
        else:
            kwargs[key] = float(value) if hints[key] is float else value
    missing = sorted(required - set(kwargs))
    if missing:
        problems.append(f"[{name}] needs {', '.join(missing)}")
        return None
    return cls(**kwargs)


def _build_tables(key: str, cls, data, problems: list[str]) -> dict:
    """``[languages.pt]``-style tables: one entry per sub-table, keyed by its name."""
    if not isinstance(data, dict):
        problems.append(f"[{key}] must hold tables such as [{key}.NAME]")
        return {}
    out = {}
    for name, table in data.items():
        if not isinstance(table, dict):
            problems.append(f"[{key}.{name}] must be a table (e.g. [{key}.{name}] with its keys "
                            "on the lines below)")
            continue
        first = "code" if cls is Language else None
        entry = _build_section(f"{key}.{name}", cls, table, problems,
                               **({first: name} if first else {}))
        if entry is not None:
            out[name] = entry
    return out


def from_dict(data: dict, *, source: Path | None = None, root: Path | None = None) -> Config:
    """Build and validate a :class:`Config` from parsed TOML; raise every problem at once."""
    problems: list[str] = []
    sections = {}
    tables: dict[str, dict] = {}
    for key, value in data.items():
        if key in _SECTIONS:
            sections[key] = _build_section(key, _SECTIONS[key], value, problems)
        elif key in _TABLES:
            tables[key] = _build_tables(key, _TABLES[key], value, problems)
        elif key != "columns":
            known = sorted([*_SECTIONS, *_TABLES, 'columns'])
            problems.append(f"unknown section [{key}] (known: {', '.join(known)})")
    if "languages" in tables:
        tables["languages"].setdefault(SOURCE_LANGUAGE, Language(SOURCE_LANGUAGE))
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
    cfg = Config(**sections, **tables, columns=columns, source=source, root=root or Path.cwd())
    problems.extend(_validate_values(cfg))
    if problems:
        raise ConfigError(str(source) if source else "configuration", problems)
    return cfg


def _validate_values(cfg: Config) -> list[str]:
    problems = language_problems(cfg.languages, cfg.letter, cfg.intake.default_language,
                                 cfg.office.hotline_languages, cfg.locale_dir)
    try:
        "".encode(cfg.intake.encoding)
    except LookupError:
        problems.append(f"[intake] encoding '{cfg.intake.encoding}' is not a known text encoding")
    if cfg.letter.form not in ("preferred", "each"):
        problems.append("[letter] form must be 'preferred' or 'each'")
    if not 10 <= cfg.letter.font_size <= 24 or not 14 <= cfg.letter.large_print_size <= 36:
        problems.append("[letter] font_size must be 10-24 and large_print_size 14-36 points")
    if not re.fullmatch(r"(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?",
                        cfg.office.hotline_days):
        problems.append("[office] hotline_days must be a day or a range such as 'mon-fri'")
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", cfg.office.hotline_hours):
        problems.append("[office] hotline_hours must be HH:MM-HH:MM, e.g. '09:00-17:00'")
    for name, reason in cfg.suppression_reason.items():
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name) or not reason.label.strip():
            problems.append(f"[suppression_reason.{name}] needs a lower-case name (letters, "
                            "digits, '-', '_') and a label")
    if not cfg.suppression_reason:
        problems.append("[suppression_reason] must name at least one reason")
    for value, status in cfg.case_status.items():
        if not status.label.strip() or not status.meaning.strip():
            problems.append(f"[case_status.{value}] needs a label and a meaning")
    if not 0 <= cfg.intake.header_row <= 1_048_576:
        problems.append("[intake] header_row must be between 0 (look for it) and 1048576")
    if not cfg.responses.kinds or any(not k.strip() for k in cfg.responses.kinds):
        problems.append("[responses] kinds must list at least one kind, none blank")
    if not 0 <= cfg.mailing.workers <= 256:
        problems.append("[mailing] workers must be between 0 (all cores) and 256")
    if cfg.mailing.engine not in ENGINES:
        problems.append(f"[mailing] engine '{cfg.mailing.engine}' is not one of "
                        + ", ".join(f"'{e}'" for e in ENGINES))
    if cfg.mailing.scheduler.strip() and address_problem(cfg.mailing.scheduler):
        problems.append(f"[mailing] scheduler '{cfg.mailing.scheduler}': "
                        f"{address_problem(cfg.mailing.scheduler)}")
    if not 1 <= cfg.mailing.letters_per_print_file <= 100000:
        problems.append("[mailing] letters_per_print_file must be between 1 and 100000")
    if not 1 <= cfg.mailing.package_size <= 100000:
        problems.append("[mailing] package_size must be between 1 and 100000")
    for key in ("sheet_weight_oz", "envelope_weight_oz"):
        if not 0 < getattr(cfg.mailing, key) <= 16:
            problems.append(f"[mailing] {key} must be more than 0 and at most 16 (ounces)")
    from letters.imb import settings_problems

    problems += settings_problems(cfg.imb.barcode_id, cfg.imb.service_type, cfg.imb.mailer_id)
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
