"""The ``letters`` command line: parse options, call one stage function, map errors to exit codes.

Exit codes: 0 all went well; 1 the run found problems (rejected rows, failed checks);
2 the command could not run as asked (bad options, unreadable input or configuration).
Results go to stdout; progress and errors go to stderr. Heavy imports (pandas, ReportLab)
happen inside the commands so that ``--help`` stays instant.
"""

from __future__ import annotations

import functools
import sys
from collections import Counter
from pathlib import Path

import click

from letters import __version__
from letters.errors import LettersError


class AppContext:
    """What the group hands its commands: the loaded configuration (lazily, once)."""

    def __init__(self, config_path: str | None):
        self.config_path = config_path
        self.intake_overrides: dict = {}  # set by options that only override [intake]
        self._config = None

    @property
    def config(self):
        if self._config is None:
            from letters import config

            self._config = config.with_overrides(config.load(self.config_path),
                                                 intake=self.intake_overrides)
        return self._config


def handle_errors(fn):
    """Turn a LettersError from a stage into a message on stderr and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LettersError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper


def _override_intake(ctx: click.Context, param: click.Parameter, value):
    if value is not None:
        app = ctx.find_object(AppContext)
        app.intake_overrides[param.name] = value
        app._config = None  # an option parsed earlier (--lang) may have loaded it already


def intake_options(fn):
    """Options shared by every command that reads a records export."""
    fn = click.option("--header-row", type=click.IntRange(min=0), metavar="N",
                      expose_value=False, callback=_override_intake,
                      help="Row of the header in the CSV file or sheet (1 = the first row). "
                           "Default: [intake] header_row in letters.toml, else looked for in "
                           "the first 20 rows (below a report title).")(fn)
    fn = click.option("--sheet", metavar="NAME",
                      help="Sheet of an Excel workbook to read (name or 0-based index). "
                           "Default: the first sheet.")(fn)
    fn = click.option("--encoding", metavar="CODEC", envvar="LETTERS_ENCODING",
                      help="Text encoding of a CSV export, e.g. cp1252 for Excel on Windows. "
                           "Default: [intake] encoding in letters.toml, else utf-8 "
                           "(with or without BOM).")(fn)
    return fn


@click.group(name="letters", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="LETTERS_CONFIG",
              help="Workspace configuration. Default: ./letters.toml if present, else built-in "
                   "defaults.")
@click.version_option(__version__, prog_name="letters")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Court-ordered notices to many people, in their languages, with proof of what was sent.

    Typical run, from a workspace folder holding letters.toml:

    \b
        letters validate examples/records.csv
    """
    ctx.obj = AppContext(config_path)


def _intake(app: AppContext, records: str, encoding: str | None, sheet: str | None):
    from letters import config as config_mod
    from letters.records import read_for

    cfg = config_mod.with_overrides(app.config, intake={"encoding": encoding, "sheet": sheet})
    return cfg, read_for(cfg, records)


def _check_langs(ctx: click.Context, param, value):
    """--lang values must be languages declared in letters.toml (or 'all' where allowed)."""
    values = [value] if isinstance(value, str) else list(value or ())
    if not values:
        return value
    try:
        declared = ctx.find_object(AppContext).config.registry
    except LettersError as exc:
        raise click.UsageError(str(exc), ctx) from None
    wanted = declared.codes
    for v in values:
        if v not in wanted and not (v == "all" and "all" in (param.metavar or "")):
            raise click.BadParameter(f"'{v}' is not a language of letters.toml "
                                     f"(declared: {', '.join(wanted)})", ctx, param)
    return value


def lang_option(*, required: bool = False, multiple: bool = False, help: str,
                metavar: str = "CODE"):
    """--lang, checked against the languages declared in letters.toml."""
    def decorate(fn):
        return click.option("--lang", "langs" if multiple else "lang", required=required,
                            multiple=multiple, metavar=metavar, callback=_check_langs,
                            help=help)(fn)
    return decorate


def _intake_summary(intake, rejects_path: Path | None) -> list[str]:
    lines = [f"Read {intake.rows_read} rows from {intake.source}"
             + (f" ({intake.blank_rows} blank rows skipped)" if intake.blank_rows else "")]
    langs = intake.recipients.language_counts()
    lang_text = ", ".join(f"{k} {v}" for k, v in sorted(langs.items()))
    lines.append(f"  people:   {intake.people}" + (f"  (preferred language: {lang_text})" if lang_text else ""))
    lines.append(f"  cases:    {intake.cases}")
    asked = intake.recipients.requested_counts()
    if asked:
        lines.append("  asked for a language letters are not written in (they get the "
                     "fallback versions and taglines): "
                     + ", ".join(f"{k} {v}" for k, v in sorted(asked.items())))
    if intake.duplicate_rows:
        lines.append(f"  duplicate rows merged: {intake.duplicate_rows}")
    lines += [f"  note: {note}" for note in intake.notes]
    rejected = intake.rejected_rows
    lines.append(f"  rejected: {len(rejected)} rows")
    by_reason = Counter()
    for reason, count in intake.reasons().items():
        by_reason[reason.split(":")[0]] += count  # the short form; rejects.csv has the rest
    width = max((len(k) for k in by_reason), default=0)
    for reason, count in sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"    {reason.ljust(width)}  {count}")
    if rejects_path is not None:
        lines.append(f"Rejected rows written to {rejects_path} ({len(intake.rejects)} problems)"
                     if intake.rejects else f"No rejected rows ({rejects_path} is empty)")
    if intake.address_warnings:
        where = f" (listed in {_warnings_path(rejects_path)})" if rejects_path else ""
        lines.append(f"Address warnings: {len(intake.address_warnings)} people whose street "
                     f"lines could not be standardised; their letters print them as given{where}")
    return lines


def _warnings_path(rejects_path: Path) -> Path:
    """``address-warnings.csv`` beside the rejects file."""
    return rejects_path.with_name("address-warnings.csv")


@cli.command()
@click.argument("records", type=click.Path(dir_okay=False))
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False),
              help="Where to write the rejected rows. Default: <output>/validate/rejects.csv.")
@intake_options
@click.pass_obj
@handle_errors
def validate(app: AppContext, records: str, rejects_path: str | None, encoding: str | None,
             sheet: str | None) -> None:
    """Check a case export and report who would get a letter.

    Reads RECORDS (CSV, XLSX or Parquet), normalises it, groups the cases per person and writes
    every rejected row, with its row number, field and reason, to a rejects file. Prints a
    summary. Exits 0 when no row was rejected, 1 when some were, 2 when the file cannot be read.
    """
    from letters.records import write_address_warnings, write_rejects

    cfg, intake = _intake(app, records, encoding, sheet)
    path = Path(rejects_path) if rejects_path else cfg.output_dir / "validate" / "rejects.csv"
    write_rejects(path, intake.rejects)
    write_address_warnings(_warnings_path(path), intake.address_warnings)
    click.echo("\n".join(_intake_summary(intake, path)))
    sys.exit(1 if intake.rejects else 0)


@cli.command()
@click.argument("people", type=click.IntRange(min=1))
@click.option("--seed", type=int, default=1, show_default=True,
              help="Same seed, same file, byte for byte.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              help="File to write. Default: stdout.")
@click.option("--clean", is_flag=True, help="Leave out the deliberately damaged rows.")
def sample(people: int, seed: int, output: str, clean: bool) -> None:
    """Write a synthetic case export for PEOPLE invented people (no real person).

    The rows look like a case-management export (several per person, Massachusetts courts,
    names with diacritics, a third preferring Spanish, some Portuguese) and, unless --clean, include the damaged
    rows described in examples/README.md.
    """
    from letters import sample as sample_mod

    if output == "-":
        rows = sample_mod.write(click.get_text_stream("stdout"), people, seed,
                                with_bad_rows=not clean)
        return
    with open(output, "w", encoding="utf-8", newline="") as fh:
        rows = sample_mod.write(fh, people, seed, with_bad_rows=not clean)
    click.echo(f"Wrote {rows} rows for {people} people to {output}", err=True)


@cli.command()
@click.argument("records", type=click.Path(dir_okay=False))
@click.option("--first", "first", type=click.IntRange(min=1), default=None,
              help="Proof the first N people of the export. Default: 5.")
@click.option("--id", "defendant_ids", multiple=True, metavar="DEFENDANT_ID",
              help="Proof this person (repeatable).")
@lang_option(multiple=True, metavar="CODE|all",
             help="Versions to include, in this order (repeatable), or 'all' declared letter "
                  "languages. Default: the [letter] policy of letters.toml.")
@click.option("--date", "issue_date", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Issue date printed on the letter (YYYY-MM-DD). Default: today.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Folder for the proofs. Default: <output>/preview.")
@intake_options
@click.pass_obj
@handle_errors
def preview(app: AppContext, records: str, first: int | None, defendant_ids: tuple[str, ...],
            langs: tuple[str, ...], issue_date, out_dir: str | None, encoding: str | None,
            sheet: str | None) -> None:
    """Render draft PDFs of some letters, watermarked "DRAFT – DO NOT MAIL".

    Proofs carry a provisional notice ID and may use draft translations; they are for reading,
    never for mailing. Prints the path of each proof. Exits 1 if a chosen person was not found
    or a letter could not be rendered.
    """
    import datetime as dt

    from letters.preview import write_proofs

    if first is not None and defendant_ids:
        raise click.UsageError("give --first or --id, not both")
    cfg, intake = _intake(app, records, encoding, sheet)
    out = Path(out_dir) if out_dir else cfg.output_dir / "preview"
    date = issue_date.date() if issue_date else dt.date.today()
    result = write_proofs(cfg, intake, out, first=first, defendant_ids=list(defendant_ids),
                          langs=list(langs) or None, issue_date=date)
    for path in result.written:
        click.echo(str(path))
    for problem in result.problems:
        click.echo(f"Error: {problem}", err=True)
    sys.exit(1 if result.problems else 0)


def ledger_options(fn):
    """--out and --ledger, shared by every command that reads or writes the ledger."""
    fn = click.option("--ledger", "ledger_url", metavar="URL", envvar="LETTERS_LEDGER",
                      help="SQLAlchemy URL of the ledger, e.g. postgresql://host/letters. "
                           "Default: sqlite:///<out>/ledger.sqlite.")(fn)
    fn = click.option("--out", "out_dir", type=click.Path(file_okay=False), envvar="LETTERS_OUT",
                      help="Output root holding the batch folders. Default: [paths] output of "
                           "letters.toml (output/).")(fn)
    return fn


class Progress:
    """Progress on stderr: count, rate and time left; one updating line on a terminal."""

    def __init__(self, label: str):
        import time

        self.label = label
        self.clock = time.perf_counter
        self.start = self.clock()
        self.tty = sys.stderr.isatty()
        self.last_line = -1.0

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        elapsed = max(now - self.start, 1e-9)
        rate = done / elapsed
        left = (total - done) / rate if rate > 0 else 0
        text = (f"  {self.label} {done}/{total}  {rate:.1f}/s  "
                f"{'done' if done == total else f'about {_duration(left)} left'}")
        if self.tty:
            click.echo("\r" + text.ljust(70), nl=done == total, err=True)
        elif done == total or now - self.last_line >= 10:
            self.last_line = now
            click.echo(text, err=True)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@cli.command()
@click.argument("records", type=click.Path(dir_okay=False), required=False)
@click.option("--batch", required=True, metavar="NAME",
              help="Name of the batch, e.g. 2026-12-notice. Rerunning the same name resumes it.")
@click.option("--follow-up", "follow_up", metavar="BATCH", default=None,
              help="Plan this batch from the ledger instead of RECORDS: a new letter for everyone "
                   "whose letter in BATCH came back with a new address.")
@click.option("--overdue", "follow_up_overdue", is_flag=True,
              help="With --follow-up: also write again to everyone who did not answer by the "
                   "deadline (at their address, unless it came back undeliverable).")
@click.option("--date", "issue_date", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Issue date printed on the letters (YYYY-MM-DD). Default: the batch's recorded "
                   "date when resuming, else today.")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Rendering processes. Default: [mailing] workers, 0 = one per CPU core.")
@click.option("--strict", is_flag=True,
              help="Exit 1 when any row was rejected (default: 0 once every valid person has "
                   "a letter; rejects.csv lists the rest).")
@click.option("--accept-sample-signoffs", "allow_sample", is_flag=True,
              help="Mail on translations signed off only for the bundled sample office (for "
                   "trying a copied workspace; never for a real mailing). Recorded in the "
                   "ledger.")
@ledger_options
@intake_options
@click.pass_obj
@handle_errors
def mail(app: AppContext, records: str | None, batch: str, follow_up: str | None,
         follow_up_overdue: bool, issue_date, workers: int | None, strict: bool,
         allow_sample: bool,
         out_dir: str | None, ledger_url: str | None, encoding: str | None,
         sheet: str | None) -> None:
    """Make a mailing: letters, retained copies, ledger, print files and batch root.

    Reads RECORDS, gives every person a notice ID, renders their letter (in parallel), keeps a
    write-once copy of each under <out>/<batch>/letters/, records it in the ledger, and writes
    manifest.csv, SHA256SUMS, rejects.csv, print/ (combined PDFs in ZIP order) and ROOT (the
    batch's RFC 6962 root, to file with the court).

    With --follow-up BATCH (and no RECORDS), the batch is planned from the ledger: people whose
    letter came back with a new address, and with --overdue those who did not answer in time;
    each new letter is linked to the one it follows.

    Interrupted, the same command finishes the missing letters and never makes a second letter
    for anyone; on a finished batch it does nothing. Changed records, templates, catalogs or
    configuration under an existing batch name are refused. Exits 0 when every valid person got
    a letter (rejected rows are in rejects.csv; --strict makes them exit 1), 1 when a letter
    failed to render, 2 when it could not run as asked (bad usage, unreadable input, a
    translation the gate refuses).
    """
    from letters import config as config_mod
    from letters.mailing import mail as run_mail

    cfg = config_mod.with_overrides(app.config, intake={"encoding": encoding, "sheet": sheet})
    result = run_mail(cfg, records, batch=batch,
                      issue_date=issue_date.date() if issue_date else None, out_dir=out_dir,
                      ledger_url=ledger_url, workers=workers or cfg.mailing.workers or None,
                      progress=Progress("letters"), follow_up=follow_up,
                      follow_up_overdue=follow_up_overdue, allow_sample_signoffs=allow_sample)
    if allow_sample:
        click.echo("WARNING: translations signed off only for the bundled sample office were "
                   "accepted (--accept-sample-signoffs); this batch is not a real mailing.",
                   err=True)
    lines = []
    if result.already_complete:
        lines.append(f"Batch {batch} is already complete: nothing to do.")
    else:
        lines.append(f"Batch {batch}: {result.rendered} letters rendered"
                     + (f", {result.resumed} already done" if result.resumed else ""))
    langs = ", ".join(f"{k} {v}" for k, v in result.languages.items())
    lines += [
        f"  letters:  {result.letters}  ({result.pages} pages; languages: {langs or 'none'})",
        f"  rejected: {result.rejected_rows} rows"
        + (f", {result.failed} letters failed to render" if result.failed else ""),
        *(["  asked for a language without letters (sent the fallback, see "
           "manifest.csv language_requested): "
           + ", ".join(f"{k} {v}" for k, v in result.requested.items())]
          if result.requested else []),
        *([f"  address warnings: {result.address_warnings} (street lines printed as given, "
           "see address-warnings.csv)"] if result.address_warnings else []),
        f"  folder:   {result.folder}",
        f"  ledger:   {result.ledger_url}",
        f"  root:     {result.root}",
        f"  elapsed:  {result.elapsed:.1f}s",
    ]
    click.echo("\n".join(lines))
    # Done when every valid person got a letter; rejected rows are listed in rejects.csv and
    # count as problems only with --strict. A letter that failed to render always does.
    sys.exit(1 if result.failed or (strict and result.rejected_rows) else 0)


@cli.group()
def i18n() -> None:
    """Translation workflow: extract, update, compile, check and sign off catalogs.

    Translators edit locale/<lang>/LC_MESSAGES/: letters.po (the letter's sentences), data.po
    (courts, offenses and other values the letter prints) and taglines.po; a named reviewer
    signs off each translation for the current English; `letters mail` refuses text that is
    not translated, checked and signed off.
    """


def _workspace(app: AppContext):
    cfg = app.config
    return cfg, cfg.root.resolve(), cfg.locale_dir


def _targets(cfg, langs: tuple[str, ...]) -> dict[str, list[str]]:
    from letters import i18n as i18n_mod

    targets = i18n_mod.catalog_targets(cfg)
    if langs:
        targets = {d: [lang for lang in ls if lang in langs] for d, ls in targets.items()}
    return targets


@i18n.command("extract")
@click.option("--records", "records", multiple=True, type=click.Path(dir_okay=False),
              help="A case export whose courts, counties, offenses, dispositions and labs the "
                   "letters will print (repeatable): their values go to locale/data.pot.")
@intake_options
@click.pass_obj
@handle_errors
def i18n_extract(app: AppContext, records: tuple[str, ...], encoding: str | None,
                 sheet: str | None) -> None:
    """Write locale/letters.pot and taglines.pot from the templates (and the page labels in
    the engine), and locale/data.pot from the configuration and the --records files.

    Uses babel.cfg. Source references and translator comments ({# Translators: ... #}) are kept.
    Values already in data.pot stay (earlier exports' letters still need them). An unchanged
    file is left as it is.
    """
    from letters import i18n as i18n_mod
    from letters.compose import data_values

    cfg, root, locale_dir = _workspace(app)
    values = data_values(cfg)
    for path in records:
        cfg, intake = _intake(app, path, encoding, sheet)
        where = Path(path).resolve()
        shown = where.relative_to(root).as_posix() if where.is_relative_to(root) else where.name
        values += data_values(cfg, intake.recipients, source=shown)
    for pot, changed in i18n_mod.extract(root, locale_dir, values):
        click.echo(f"{'Wrote' if changed else 'Unchanged:'} {pot}")


@i18n.command("update")
@lang_option(multiple=True, help="Only this language (repeatable).")
@click.pass_obj
@handle_errors
def i18n_update(app: AppContext, langs: tuple[str, ...]) -> None:
    """Merge the templates (locale/*.pot) into each language's catalogs.

    Creates the catalogs a declared language lacks. New messages appear untranslated; a message
    whose English changed keeps its old translation marked fuzzy, with the previous English
    shown, until a translator confirms it.
    """
    from letters import i18n as i18n_mod

    cfg, _, locale_dir = _workspace(app)
    for domain, lang, fuzzy, untranslated in i18n_mod.update(locale_dir, _targets(cfg, langs)):
        click.echo(f"{i18n_mod.po_path(locale_dir, lang, domain)}: {fuzzy} fuzzy, "
                   f"{untranslated} untranslated")


@i18n.command("compile")
@lang_option(multiple=True, help="Only this language (repeatable).")
@click.pass_obj
@handle_errors
def i18n_compile(app: AppContext, langs: tuple[str, ...]) -> None:
    """Write .mo files for other gettext tools (letters itself reads the .po files)."""
    from letters import i18n as i18n_mod

    _, _, locale_dir = _workspace(app)
    for path in i18n_mod.compile_catalogs(locale_dir, list(langs) or None):
        click.echo(f"Wrote {path}")


@i18n.command("stats")
@lang_option(multiple=True, help="Only this language (repeatable).")
@click.pass_obj
@handle_errors
def i18n_stats(app: AppContext, langs: tuple[str, ...]) -> None:
    """Per language and catalog: messages translated, fuzzy, untranslated and signed off."""
    from letters import i18n as i18n_mod

    cfg, _, locale_dir = _workspace(app)
    click.echo(f"{'language':10} {'catalog':9} {'messages':>9} {'translated':>11} {'fuzzy':>6} "
               f"{'untranslated':>13} {'signed off':>11}")
    for domain, lang in i18n_mod.each_catalog(_targets(cfg, langs)):
        if not i18n_mod.po_path(locale_dir, lang, domain).exists():
            click.echo(f"{lang:10} {domain:9} {'(no catalog: letters i18n update)':>40}")
            continue
        st = i18n_mod.catalog_stats(locale_dir, lang, domain)
        click.echo(f"{lang:10} {domain:9} {st['messages']:>9} {st['translated']:>11} "
                   f"{st['fuzzy']:>6} {st['untranslated']:>13} {st['signed_off']:>11}")


@i18n.command("check")
@lang_option(multiple=True, help="Only this language (repeatable).")
@click.option("--accept-sample-signoffs", "allow_sample", is_flag=True,
              help="Count sign-offs made for the bundled sample office.")
@click.pass_obj
@handle_errors
def i18n_check(app: AppContext, langs: tuple[str, ...], allow_sample: bool) -> None:
    """Report every problem as FILE:LINE: message; exit 1 if there is any.

    Untranslated and fuzzy messages, placeholders or markup that differ between the English and
    the translation, translations that cannot be filled in, incomplete plural forms, messages
    missing from the catalog, and missing, stale or sample-only sign-offs.
    """
    from letters import i18n as i18n_mod

    cfg, root, locale_dir = _workspace(app)
    office = i18n_mod.office_fingerprint(cfg.office, cfg.counsel)
    found = 0
    for domain, lang in i18n_mod.each_catalog(_targets(cfg, langs)):
        problems = i18n_mod.check(locale_dir, lang, domain=domain, root=root, office=office,
                                  allow_sample=allow_sample)
        for p in problems:
            click.echo(str(p))
        found += len(problems)
        if not problems:
            click.echo(f"{lang} {domain}: no problems", err=True)
    sys.exit(1 if found else 0)


@i18n.command("signoff")
@lang_option(required=True, help="Language whose translation is approved.")
@click.option("--reviewer", required=True, metavar="NAME", help="Who approves it.")
@click.option("--note", default="", help="Recorded with each sign-off.")
@click.option("--message", "only", multiple=True, metavar="TEXT",
              help="Only messages whose English contains TEXT (repeatable); default: all.")
@click.option("--catalog", "domains", multiple=True,
              type=click.Choice(["letters", "data", "taglines"]),
              help="Only this catalog (repeatable); default: every catalog of the language.")
@click.option("--for-bundled-sample", "sample", is_flag=True, hidden=True,
              help="Mark the sign-offs as the bundled sample's (they then count only for the "
                   "unchanged sample office).")
@click.pass_obj
@handle_errors
def i18n_signoff(app: AppContext, lang: str, reviewer: str, note: str,
                 only: tuple[str, ...], domains: tuple[str, ...], sample: bool) -> None:
    """Record that REVIEWER approved the current translation of each message for the current
    English (bound to a hash of both), in locale/<lang>/LC_MESSAGES/<catalog>.signoff.json.

    Any later change to either text voids that message's sign-off. Messages with other problems
    (untranslated, fuzzy, placeholders) cannot be signed off; they are listed. Exits 1 if any.
    """
    from letters import i18n as i18n_mod

    cfg, _, locale_dir = _workspace(app)
    office = i18n_mod.office_fingerprint(cfg.office, cfg.counsel) if sample else None
    refused_any = False
    for domain, code in i18n_mod.each_catalog(_targets(cfg, (lang,))):
        if domains and domain not in domains:
            continue
        signed, refused = i18n_mod.sign_off(locale_dir, code, reviewer, note=note,
                                            only=list(only) or None, domain=domain,
                                            sample_office=office)
        click.echo(f"Signed off {signed} messages for {code} by {reviewer.strip()} in "
                   f"{i18n_mod.signoff_path(locale_dir, code, domain)}")
        for r in refused:
            click.echo(f"  not signed: {r}", err=True)
        refused_any = refused_any or bool(refused)
    sys.exit(1 if refused_any else 0)


@i18n.command("review")
@lang_option(required=True, help="Language to review.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Folder for the packet. Default: <output>/review.")
@click.pass_obj
@handle_errors
def i18n_review(app: AppContext, lang: str, out_dir: str | None) -> None:
    """Write a review packet: one self-contained HTML file and a PDF.

    Every message in letter order (then the data values and the tagline), English beside the
    translation, with its status, sign-off, source location and translator comments; problem
    and unapproved messages highlighted; followed by a sample letter (a fictional person)
    rendered in the language.
    """
    from letters.review import write_packet

    cfg = app.config
    out = Path(out_dir) if out_dir else cfg.output_dir / "review"
    for path in write_packet(cfg, lang, out):
        click.echo(str(path))


@cli.group()
def audit() -> None:
    """For court auditors: verify copies and ledger, show a notice, prove inclusion.

    Every audit command only reads (the ledger is opened read-only), so it runs on an
    auditor's copy of the output folder and ledger.
    """


def _ledger_location(app: AppContext, out_dir: str | None, ledger_url: str | None):
    from letters.ledger import default_url

    out = Path(out_dir) if out_dir else app.config.output_dir
    return out, ledger_url or default_url(out)


@audit.command("verify")
@click.option("--batch", default=None, help="Only this batch. Default: every batch.")
@click.option("--rerender", is_flag=True,
              help="Also re-render every letter from the inputs recorded in the ledger and "
                   "compare it byte for byte with its retained copy.")
@ledger_options
@click.pass_obj
@handle_errors
def audit_verify(app: AppContext, batch: str | None, rerender: bool, out_dir: str | None,
                 ledger_url: str | None) -> None:
    """Check retained copies against the ledger, and the ledger against itself.

    Every ledger letter has its file with the recorded SHA-256; no file the ledger does not
    know; ledger rows match the events that recorded them; the event chain is intact; each
    batch root recomputes to the ledger's and to ROOT. Prints each problem with its notice ID.
    Exits 0 when clean, 1 otherwise.
    """
    from letters.audit import verify

    out, url = _ledger_location(app, out_dir, ledger_url)
    findings, checked = verify(out, url, batch=batch, rerender=rerender,
                               progress=Progress("re-rendered") if rerender else None)
    for f in findings:
        click.echo(str(f))
    summary = (f"Checked {checked['batches']} batches, {checked['letters']} letters, "
               f"{checked['events']} events"
               + (f", re-rendered {checked['rerendered']} letters" if rerender else "")
               + f": {len(findings) or 'no'} problem{'' if len(findings) == 1 else 's'}.")
    click.echo(summary)
    sys.exit(1 if findings else 0)


@audit.command("reconcile")
@click.argument("cases_csv", type=click.Path(dir_okay=False))
@ledger_options
@click.pass_obj
@handle_errors
def audit_reconcile(app: AppContext, cases_csv: str, out_dir: str | None,
                    ledger_url: str | None) -> None:
    """Compare the ledger with the court's list of docket numbers (CASES_CSV).

    Lists cases on the court's list that no letter noticed, noticed cases that are not on the
    list, and letters that came back (or reported a new address) with no follow-up letter.
    Exits 0 when all agree, 1 otherwise.
    """
    from letters.audit import reconcile

    _, url = _ledger_location(app, out_dir, ledger_url)
    r = reconcile(url, Path(cases_csv))
    click.echo(f"Cases on the court's list never noticed: {len(r.never_noticed)}")
    for d in r.never_noticed:
        click.echo(f"  {d}")
    click.echo(f"Noticed cases not on the court's list: {len(r.not_on_list)}")
    for d, n in r.not_on_list:
        click.echo(f"  {d}  (notice {n})")
    click.echo(f"Returned letters with no follow-up: {len(r.returned_without_follow_up)}")
    for n, k in r.returned_without_follow_up:
        click.echo(f"  notice {n}  ({k})")
    sys.exit(0 if r.clean else 1)


@audit.command("report")
@click.option("--batch", default=None, help="Only this batch. Default: every batch.")
@click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False),
              help="The report PDF. Default: <out>/report/report.pdf.")
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False),
              help="Folder for the tables as CSV. Default: <out>/report/.")
@ledger_options
@click.pass_obj
@handle_errors
def audit_report(app: AppContext, batch: str | None, pdf_path: str | None,
                 csv_dir: str | None, out_dir: str | None, ledger_url: str | None) -> None:
    """The report for the court, as a PDF with charts and the same tables as CSV.

    Letters by county and language; per batch the undeliverable and response rates,
    follow-up letters, the batch root and the verification result; responses by month and
    kind; follow-up batches.
    """
    from letters.report import gather, write_csvs, write_pdf

    out, url = _ledger_location(app, out_dir, ledger_url)
    tables = gather(out, url, batch=batch)
    folder = Path(csv_dir) if csv_dir else out / "report"
    pdf = write_pdf(tables, Path(pdf_path) if pdf_path else out / "report" / "report.pdf",
                    title=f"Notice mailing report — {app.config.office.name}")
    for path in [pdf, *write_csvs(tables, folder)]:
        click.echo(str(path))


@audit.command("show")
@click.argument("notice_id")
@ledger_options
@click.pass_obj
@handle_errors
def audit_show(app: AppContext, notice_id: str, out_dir: str | None,
               ledger_url: str | None) -> None:
    """The whole recorded history of one notice: letter, cases, events."""
    from letters.audit import show
    from letters.notice import compact, format_id

    _, url = _ledger_location(app, out_dir, ledger_url)
    h = show(url, format_id(compact(notice_id)))
    letter, b = h["letter"], h["batch"]
    click.echo(f"Notice {letter.notice_id} — batch {b.name}, issued {b.issue_date}")
    click.echo(f"  defendant:  {letter.defendant_id}")
    click.echo(f"  languages:  {letter.languages}   pages: {letter.pages}   bytes: {letter.bytes}")
    click.echo(f"  sha256:     {letter.sha256}")
    click.echo(f"  file:       {b.name}/{letter.file}")
    click.echo(f"  cases ({len(h['cases'])}):")
    for c in h["cases"]:
        click.echo(f"    {c.docket_number}  {c.court}  {c.disposition_date or '—'}")
    click.echo("  events:")
    for e in h["events"]:
        click.echo(f"    #{e.seq} {e.created_at} {e.kind} {e.payload}")


@audit.command("prove")
@click.argument("notice_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the proof to this file. Default: stdout.")
@ledger_options
@click.pass_obj
@handle_errors
def audit_prove(app: AppContext, notice_id: str, output: str | None, out_dir: str | None,
                ledger_url: str | None) -> None:
    """An RFC 6962 inclusion proof that this letter is in its batch's filed root.

    The proof (JSON) can be checked with `letters audit verify-proof` without the rest of the
    batch: only the letter (or its SHA-256) and the root filed with the court are needed.
    """
    import json

    from letters.audit import prove
    from letters.notice import compact, format_id

    _, url = _ledger_location(app, out_dir, ledger_url)
    text = json.dumps(prove(url, format_id(compact(notice_id))), indent=2) + "\n"
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"Wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@audit.command("verify-proof")
@click.argument("proof_file", type=click.Path(dir_okay=False, exists=True))
@click.option("--pdf", type=click.Path(dir_okay=False, exists=True),
              help="The letter's PDF: it must be the letter the proof is about.")
@click.option("--root", help="The root filed with the court (hex), or a ROOT file's path.")
def audit_verify_proof(proof_file: str, pdf: str | None, root: str | None) -> None:
    """Check an inclusion proof; needs nothing but the proof, the letter and the filed root.

    Exits 0 when the proof holds, 1 when it does not.
    """
    import json

    from letters.audit import verify_proof

    try:
        proof = json.loads(Path(proof_file).read_text(encoding="utf-8"))
    except ValueError as exc:
        click.echo(f"Error: {proof_file}: not JSON ({exc})", err=True)
        sys.exit(1)
    if root and Path(root).is_file():
        root = Path(root).read_text(encoding="ascii").strip()
    problems = verify_proof(proof, pdf=Path(pdf).read_bytes() if pdf else None, root=root)
    for p in problems:
        click.echo(f"{proof_file}: {p}")
    if not problems:
        click.echo(f"{proof_file}: notice {proof.get('notice_id')} is leaf "
                   f"{proof.get('leaf_index')} of {proof.get('tree_size')} under root "
                   f"{proof.get('root')}")
    sys.exit(1 if problems else 0)


@cli.command()
@click.argument("notice_id")
@click.option("--kind", required=True, help="Kind of response, from [responses] kinds: "
              "counsel-requested, no-action-wanted, address-update, returned-undeliverable, "
              "returned-forwarded, other.")
@click.option("--received", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Date it was received (YYYY-MM-DD). Default: today.")
@click.option("--note", default="", help="Free text kept with the response.")
@click.option("--attach", type=click.Path(dir_okay=False, exists=True),
              help="A scanned reply or envelope, kept write-once and hashed in the ledger.")
@click.option("--by", "by", default="", metavar="NAME", help="Who records it. Default: your "
              "login name.")
@click.option("--address", "new_address", default="", help="The new address (address-update).")
@click.option("--reason", default="", help="Why the mail came back (returned-undeliverable).")
@ledger_options
@click.pass_obj
@handle_errors
def respond(app: AppContext, notice_id: str, kind: str, received, note: str,
            attach: str | None, by: str, new_address: str, reason: str, out_dir: str | None,
            ledger_url: str | None) -> None:
    """Record a response or returned mail for NOTICE_ID.

    A notice ID with a typing slip is refused, with the valid IDs one edit away that the ledger
    knows. Everything is appended to the ledger; nothing is ever changed or removed.
    """
    import datetime as dt

    from letters.ledger import Ledger
    from letters.responses import record

    out, url = _ledger_location(app, out_dir, ledger_url)
    with Ledger(url, create=False) as ledger:
        nid = record(app.config, ledger, out, notice_id=notice_id, kind=kind,
                     received=received.date() if received else dt.date.today(), note=note,
                     by=by, new_address=new_address, reason=reason,
                     attach=Path(attach) if attach else None)
    click.echo(f"Recorded {kind} for notice {nid}")


@cli.group()
def responses() -> None:
    """Bulk entry and lists of responses and returned mail."""


@responses.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False))
@ledger_options
@click.pass_obj
@handle_errors
def responses_import(app: AppContext, csv_file: str, out_dir: str | None,
                     ledger_url: str | None) -> None:
    """Record the responses in CSV_FILE.

    Columns: notice_id, kind, received (YYYY-MM-DD), and optionally note, by, new_address,
    reason. Bad rows are rejected with their row number and reason; the rest are recorded.
    Importing the same file again records nothing twice. Exits 1 if any row was rejected.
    """
    from letters.ledger import Ledger
    from letters.responses import import_file

    _, url = _ledger_location(app, out_dir, ledger_url)
    with Ledger(url, create=False) as ledger:
        result = import_file(app.config, ledger, Path(csv_file))
    for row, nid, reason in result.rejected:
        click.echo(f"{csv_file}: row {row}: {reason}", err=True)
    click.echo(f"Recorded {result.recorded} responses; {result.already} already recorded; "
               f"{len(result.rejected)} rows rejected")
    sys.exit(1 if result.rejected else 0)


@responses.command("list")
@click.option("--batch", default=None, help="Only letters of this batch.")
@click.option("--kind", default=None, help="Only responses of this kind.")
@click.option("--overdue", is_flag=True,
              help="Instead: letters with no answer by the deadline printed in them.")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Date that --overdue measures against. Default: today.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV (spreadsheet-safe) instead of a table.")
@ledger_options
@click.pass_obj
@handle_errors
def responses_list(app: AppContext, batch: str | None, kind: str | None, overdue: bool,
                   as_of, as_csv: bool, out_dir: str | None, ledger_url: str | None) -> None:
    """List recorded responses, or with --overdue the letters nobody answered in time."""
    import csv as csv_mod
    import datetime as dt

    from letters.exports import neutralise
    from letters.ledger import Ledger
    from letters.responses import overdue as find_overdue

    _, url = _ledger_location(app, out_dir, ledger_url)
    with Ledger(url, create=False, readonly=True) as ledger:
        if overdue:
            header = ("notice_id", "batch", "defendant_id", "deadline")
            rows = [(letter.notice_id, b.name, letter.defendant_id, b.response_deadline.isoformat())
                    for b, letter in find_overdue(ledger, batch=batch,
                                                  as_of=as_of.date() if as_of else dt.date.today())]
        else:
            batch_of = {}
            for b in ledger.batches():
                for letter in ledger.letters(b.id):
                    batch_of[letter.notice_id] = b.name
            header = ("notice_id", "batch", "kind", "received", "recorded_by", "note",
                      "new_address", "reason", "attachment_sha256", "source")
            rows = [(r.notice_id, batch_of.get(r.notice_id, ""), r.kind, r.received.isoformat(),
                     r.recorded_by, r.note, r.new_address, r.reason, r.attachment_sha256 or "",
                     r.source) for r in ledger.responses()
                    if (kind is None or r.kind == kind)
                    and (batch is None or batch_of.get(r.notice_id) == batch)]
    if as_csv:
        writer = csv_mod.writer(click.get_text_stream("stdout"), lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([neutralise(v) for v in row])
        return
    widths = [max([len(h)] + [len(str(r[i])) for r in rows]) for i, h in enumerate(header)]
    widths = [min(w, 40) for w in widths]
    click.echo("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    for row in rows:
        click.echo("  ".join(str(v)[:w].ljust(w) for v, w in zip(row, widths)).rstrip())
    click.echo(f"({len(rows)} {'letters overdue' if overdue else 'responses'})", err=True)


def main() -> None:
    cli(prog_name="letters")
