"""The ``letters`` command line: parse options, call one stage function, map errors to exit codes.

Exit codes, the same for every command: 0 done; 1 done, but the run found problems (rejected
rows, failed checks), decided by the command from its result; 2 the command could not run as
asked (bad options, a missing or unreadable file, bad configuration, a translation the gate
refuses, a ledger that is missing or unreachable, a full disk, a folder it may not write in).

:func:`errors_reported` is the one place where errors become messages: the root group applies
it to every command. A ``LettersError`` prints its message and hint; an ``OSError`` or a database
error prints one line naming the file or the ledger (password hidden) and what to do; anything
else is a bug in letters and prints one line naming it — ``LETTERS_DEBUG=1`` shows its traceback
instead. All exit 2; Ctrl-C exits 130. Results go to stdout; progress and errors go to stderr.
Heavy imports (pandas, ReportLab) happen inside the commands so that ``--help`` stays instant.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import sys
import traceback
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


DEBUG_VARIABLE = "LETTERS_DEBUG"


def fail(message: str, hint: str | None = None, code: int = 2):
    """Print ``Error: message`` (and the hint beneath it) on stderr and exit."""
    click.echo(f"Error: {message}" + (f"\n  {hint}" if hint else ""), err=True)
    sys.exit(code)


@contextlib.contextmanager
def errors_reported():
    """Turn what a user can cause into one message on stderr and exit 2 (see the module
    docstring); let Click's own exceptions and exits through."""
    try:
        yield
    except LettersError as exc:
        fail(str(exc), code=exc.exit_code)
    except (click.exceptions.ClickException, click.exceptions.Abort, click.exceptions.Exit):
        raise
    except KeyboardInterrupt:  # not "done with problems" (1): interrupted, 128 + SIGINT
        click.echo("\nInterrupted: nothing more was done. Run the same command again to finish "
                   "(a mailing resumes where it stopped).", err=True)
        sys.exit(130)
    except OSError as exc:
        if os.environ.get(DEBUG_VARIABLE):
            raise
        if exc.errno == errno.EPIPE:  # `letters ... | head`: the reader has gone, say nothing
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(2)
        fail(*os_error_message(exc))
    except Exception as exc:
        if os.environ.get(DEBUG_VARIABLE):
            raise
        fail(*_other_error_message(exc))


def handle_errors(fn):
    """:func:`errors_reported` around one command. The root group already applies it to every
    command; the decorator keeps a command that is invoked on its own just as safe."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with errors_reported():
            return fn(*args, **kwargs)

    return wrapper


def _shown_path(path) -> str:
    """A path fit for a one-line message: a name longer than 60 characters is shortened."""
    parts = []
    for part in os.fsdecode(path).split(os.sep):
        parts.append(part if len(part) <= 60 else f"{part[:24]}… ({len(part)} characters)")
    return os.sep.join(parts)


def os_error_message(exc: OSError) -> tuple[str, str | None]:
    """One line and a hint for an operating-system error, by its errno."""
    name = exc.filename
    shown = _shown_path(name) if name is not None else None
    at = f": {shown}" if shown else ""
    code = exc.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        what = "disk full" if code == errno.ENOSPC else "disk quota exceeded"
        return (f"{what}{f' writing {shown}' if shown else ''}",
                "Free space on that disk (or give another --out folder), then run the same "
                "command again: a mailing resumes where it stopped.")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        what = "read-only file system" if code == errno.EROFS else "permission denied"
        return (f"{what}{at}",
                "Choose a file or folder you may use (output: --out), or ask for access to it.")
    if code == errno.ENAMETOOLONG:
        return (f"file name too long{at}",
                "Use a shorter --batch name or shorter folder names (a name in a path can be "
                "at most 255 bytes).")
    if code == errno.ENOTDIR and name is not None:
        blocking = next((p for p in Path(os.fsdecode(name)).parents if p.is_file()), None)
        return (f"not a folder: {_shown_path(blocking)} is a file (in {shown})" if blocking
                else f"not a folder{at}", "Give a path whose folders are folders.")
    if code == errno.ENOENT and name is not None:
        path = Path(os.fsdecode(name))
        missing = [p for p in path.parents if not p.exists()]
        if missing:
            return (f"folder {_shown_path(missing[-1])} does not exist (for {shown})",
                    "Create it first, or give another path.")
        return f"no such file or folder{at}", None
    if code == errno.EISDIR:
        return f"{shown or 'the path'} is a folder, not a file", None
    if code in (errno.EMFILE, errno.ENFILE):
        return "too many open files", "Run with fewer --workers, or raise the limit (ulimit -n)."
    if code == errno.EIO:
        return (f"input/output error{at}",
                "The disk or network share failed: check it, then run the same command again.")
    return f"{exc.strerror or type(exc).__name__}{at}", None


def _other_error_message(exc: Exception) -> tuple[str, str | None]:
    """A database error that escaped the ledger, a worker process that died, or a bug."""
    sa = sys.modules.get("sqlalchemy.exc")
    if sa is not None and isinstance(exc, sa.SQLAlchemyError):
        from letters.ledger import database_error

        error = database_error(None, exc)  # raised outside a ledger: its URL is not known here
        return error.message, error.hint
    broken = sys.modules.get("concurrent.futures.process")
    if broken is not None and isinstance(exc, broken.BrokenProcessPool):
        return ("a rendering process ended abruptly (out of memory?)",
                "Run the same command again, with fewer --workers: a mailing resumes where it "
                "stopped.")
    frames = traceback.extract_tb(exc.__traceback__)
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    ours = [f for f in frames if os.path.abspath(f.filename).startswith(package)] or frames
    where = f" at {Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else ""
    return (f"unexpected {type(exc).__name__}{where}: this is a bug in letters",
            f"Run again with {DEBUG_VARIABLE}=1 to see the details (they may show data from "
            "the records), and report it.")


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


class LettersGroup(click.Group):
    """The root group: every command, at any depth, runs inside :func:`errors_reported`."""

    def invoke(self, ctx: click.Context):
        with errors_reported():
            return super().invoke(ctx)


@click.group(name="letters", cls=LettersGroup,
             context_settings={"help_option_names": ["-h", "--help"]})
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


def _ledger_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--ledger as a URL: a value without '://' is the path of an SQLite file."""
    from letters.ledger import to_url

    return to_url(value) if value else None


def _shown_url(url: str) -> str:
    from letters.ledger import redact

    return redact(url)


def ledger_options(fn):
    """--out and --ledger, shared by every command that reads or writes the ledger."""
    fn = click.option("--ledger", "ledger_url", metavar="URL|PATH", envvar="LETTERS_LEDGER",
                      callback=_ledger_url,
                      help="The ledger: an SQLAlchemy URL, e.g. "
                           "postgresql+psycopg://user@host/letters, or the path of an SQLite "
                           "file. Default: <out>/ledger.sqlite.")(fn)
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


def _scheduler_address(ctx: click.Context, param: click.Parameter, value):
    from letters.engines import address_problem

    if value and address_problem(value):  # blank: a cluster on this machine
        raise click.BadParameter(f"'{value}': {address_problem(value)}")
    return value


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
@click.option("--again", is_flag=True,
              help="With --follow-up: also write to people whose letter was followed up "
                   "already in another batch (left out by default).")
@click.option("--date", "issue_date", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Issue date printed on the letters (YYYY-MM-DD). Default: the batch's recorded "
                   "date when resuming, else today. A date before today is refused without "
                   "--allow-past-date.")
@click.option("--allow-past-date", is_flag=True,
              help="Accept an issue date before today (the letters' response deadline may "
                   "then be near or gone).")
@click.option("--suppress", "suppress", type=click.Path(dir_okay=False), default=None,
              metavar="FILE",
              help="CSV of people not to mail: defendant_id, reason (deceased, represented, "
                   "responded, court-excluded, or [suppression_reason] of letters.toml), "
                   "note; for 'represented', counsel_name and counsel_address: the letter goes "
                   "to counsel. Default: [suppression] file.")
@click.option("--export-date", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="When RECORDS was exported (default: the file's date). An address the "
                   "ledger received for a person on or after it replaces the export's "
                   "([mailing] newest_address).")
@click.option("--dry-run", is_flag=True,
              help="Show the whole plan (people, letters per language, rejects, suppressed, "
                   "pages and sheets, follow-up targets, the deadline) and write nothing: no "
                   "ledger, no folder, no file. Letters are rendered in memory to count pages.")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Rendering processes (with --engine dask and no --scheduler: the local "
                   "cluster's workers). Default: [mailing] workers, 0 = one per CPU core.")
@click.option("--engine", type=click.Choice(["local", "dask"]), default=None,
              help="Where letters are rendered: local (processes on this machine) or dask (a "
                   "Dask cluster: its workers render, this machine writes the copies and the "
                   "ledger; the letters are the same). Default: [mailing] engine, else local.")
@click.option("--scheduler", metavar="ADDRESS", default=None, callback=_scheduler_address,
              help="With --engine dask: a running Dask scheduler, e.g. tcp://10.0.0.5:8786 "
                   "(its workers need the workspace at the same paths). Default: [mailing] "
                   "scheduler; none: a cluster of --workers processes on this machine.")
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
         follow_up_overdue: bool, again: bool, issue_date, allow_past_date: bool,
         suppress: str | None, export_date, dry_run: bool, workers: int | None,
         engine: str | None, scheduler: str | None, strict: bool, allow_sample: bool,
         out_dir: str | None, ledger_url: str | None, encoding: str | None,
         sheet: str | None) -> None:
    """Make a mailing: letters, retained copies, ledger, print files and batch root.

    Reads RECORDS, gives every person a notice ID, renders their letter (in parallel), keeps a
    write-once copy of each under <out>/<batch>/letters/, records it in the ledger, and writes
    manifest.csv, SHA256SUMS, rejects.csv, print/ (combined PDFs in ZIP order) and ROOT (the
    batch's RFC 6962 root, to file with the court).

    With --follow-up BATCH (and no RECORDS), the batch is planned from the ledger: people whose
    letter came back with a new address, and with --overdue those who did not answer in time;
    each new letter is linked to the one it follows. A letter followed up already is left out
    unless --again.

    Every person in the input ends in one state, listed in manifest.csv, the ledger and the
    court report: a letter (to them, or to their counsel of record), suppressed (--suppress:
    deceased, already responded, excluded by the court ...) or rejected (rejects.csv). When the
    ledger holds a newer address for a person than the export, the letter goes there and the
    summary names them.

    --dry-run shows all of this, and the pages and sheets to print, without writing anything.

    Interrupted, the same command finishes the missing letters and never makes a second letter
    for anyone; on a finished batch it does nothing. Changed records, templates, catalogs or
    configuration under an existing batch name are refused. Exits 0 when every valid person got
    a letter (rejected rows are in rejects.csv; --strict makes them exit 1), 1 when a letter
    failed to render, 2 when it could not run as asked (bad usage, unreadable input, a
    translation the gate refuses).
    """
    from letters import config as config_mod
    from letters.mailing import dry_run as run_dry, mail as run_mail

    if follow_up_overdue and not follow_up:
        raise click.UsageError("--overdue works only with --follow-up BATCH (it writes again "
                               "to people of that batch who did not answer); without it this "
                               "would mail a whole new batch. Add --follow-up BATCH, or leave "
                               "out --overdue.")
    if again and not follow_up:
        raise click.UsageError("--again works only with --follow-up BATCH.")
    if follow_up and export_date:
        raise click.UsageError("--export-date is for a mailing from RECORDS, not --follow-up.")
    cfg = config_mod.with_overrides(app.config, intake={"encoding": encoding, "sheet": sheet},
                                    mailing={"engine": engine, "scheduler": scheduler})
    if scheduler and cfg.mailing.engine != "dask":
        raise click.UsageError("--scheduler works only with --engine dask (or [mailing] engine "
                               "= \"dask\"): add --engine dask, or leave out --scheduler.")
    options = dict(batch=batch, issue_date=issue_date.date() if issue_date else None,
                   out_dir=out_dir, ledger_url=ledger_url,
                   workers=workers or cfg.mailing.workers or None, follow_up=follow_up,
                   follow_up_overdue=follow_up_overdue, allow_sample_signoffs=allow_sample,
                   suppress=suppress, export_date=export_date.date() if export_date else None,
                   allow_past_date=allow_past_date, again=again)
    if dry_run:
        plan = run_dry(cfg, records, progress=Progress("rendering in memory"), **options)
        click.echo(_dry_run_summary(plan))
        sys.exit(1 if plan["failed"] or (strict and plan["rejected_rows"]) else 0)
    result = run_mail(cfg, records, progress=Progress("letters"), **options)
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
        *([_people_line(result.people, result.suppressed, result.to_counsel)]
          if result.people else []),
        f"  rejected: {result.rejected_rows} rows"
        + (f", {result.failed} letters failed to render" if result.failed else ""),
        *_newer_lines(result.newer_addresses),
        *[f"  note:     {n}" for n in result.notes],
        *(["  asked for a language without letters (sent the fallback, see "
           "manifest.csv language_requested): "
           + ", ".join(f"{k} {v}" for k, v in result.requested.items())]
          if result.requested else []),
        *([f"  address warnings: {result.address_warnings} (street lines printed as given, "
           "see address-warnings.csv)"] if result.address_warnings else []),
        *(_print_lines(result.print_job) if result.print_job else []),
        f"  folder:   {result.folder}",
        f"  ledger:   {_shown_url(result.ledger_url)}",
        f"  root:     {result.root}",
        f"  head:     {result.head[0]}:{result.head[1]}  (file it outside the ledger: "
        "`letters audit verify --head` checks against it)",
        f"  elapsed:  {result.elapsed:.1f}s",
    ]
    click.echo("\n".join(lines))
    # Done when every valid person got a letter; rejected rows are listed in rejects.csv and
    # count as problems only with --strict. A letter that failed to render always does.
    sys.exit(1 if result.failed or (strict and result.rejected_rows) else 0)


def _print_lines(job) -> list[str]:
    """The job sheet's main facts (print/JOB.txt has them all)."""
    weight, step = job.heaviest()
    envelopes = ", ".join(f"{n} of {s} sheet{'s' if s > 1 else ''}"
                          for s, n in job.envelopes.items())
    return [f"  print:    {job.print_files} files, {job.sheets} sheets "
            f"({'duplex' if job.duplex else 'simplex'}), {job.packages} packages "
            "(print/JOB.txt)",
            f"  envelopes: {envelopes or 'none'}"
            + (f"; heaviest {weight:.2f} oz: {step}" if step else "")]


def _people_line(people: dict, suppressed: dict, to_counsel: int) -> str:
    total = sum(people.values())
    why = ", ".join(f"{k} {v}" for k, v in suppressed.items())
    return (f"  people:   {total} = {people.get('letter', 0)} with a letter"
            + (f" ({to_counsel} to counsel of record)" if to_counsel else "")
            + f" + {people.get('suppressed', 0)} suppressed" + (f" ({why})" if why else "")
            + f" + {people.get('rejected', 0)} rejected  (manifest.csv: state)")


def _newer_lines(newer: dict) -> list[str]:
    if not newer:
        return []
    shown = ", ".join(f"{d} (from {n})" for d, n in sorted(newer.items())[:20])
    more = f" ... and {len(newer) - 20} more" if len(newer) > 20 else ""
    return [f"  newer address from the ledger for {len(newer)}: {shown}{more} "
            "(manifest.csv: address_source)"]


def _dry_run_summary(p: dict) -> str:
    people = {"letter": p["letters"], "suppressed": sum(p["suppressed"].values()),
              "rejected": p["rejected_people"]}
    versions = ", ".join(f"{k} {v}" for k, v in p["versions"].items())
    state = ("already complete: a real run would do nothing" if p["complete"] else
             "exists: a real run would resume it" if p["exists"] else "new")
    lines = [
        f"DRY RUN: nothing was written. Batch {p['batch']} ({state}) would mail:",
        f"  letters:  {p['letters']}  ({p['pages']} pages on {p['sheets']} sheets, "
        f"{'both sides' if p['duplex'] else 'one side'} each; versions: {versions or 'none'})",
        _people_line(people, p["suppressed"], p["to_counsel"]),
        f"  rejected: {p['rejected_rows']} rows"
        + (f", {p['failed']} letters would fail to render" if p["failed"] else ""),
        *(["  asked for a language without letters (sent the fallback): "
           + ", ".join(f"{k} {v}" for k, v in p["requested"].items())] if p["requested"]
          else []),
        *_newer_lines(p["newer_addresses"]),
        *(["  follow-ups: " + ", ".join(f"{k} {v}" for k, v in p["follow_ups"].items())]
          if p["follow_ups"] else []),
        f"  dated:    {p['issue_date']}; response deadline {p['deadline']}",
        f"  folder:   {p['folder']}",
        *[f"  note:     {n}" for n in p["notes"]],
    ]
    return "\n".join(lines)


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
@click.option("--head", "head_text", metavar="COUNT:HASH", default=None,
              help="A head printed by `letters audit head` (or a mail or respond summary) and "
                   "filed outside the ledger: the ledger must extend it. Shows events cut off "
                   "the end of the log and an older copy of the ledger put back.")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Processes that re-render (--rerender). Default: [mailing] workers of "
                   "letters.toml (0 there: one per CPU core). A batch of fewer letters than "
                   "the audit's pool threshold (200) is re-rendered in this process.")
@ledger_options
@click.pass_obj
@handle_errors
def audit_verify(app: AppContext, batch: str | None, rerender: bool, head_text: str | None,
                 workers: int | None, out_dir: str | None, ledger_url: str | None) -> None:
    """Check retained copies and files against the ledger, and the ledger against itself.

    Every ledger letter has its file with the recorded SHA-256; no file the ledger does not
    know; every ledger row (batches, inputs, letters, cases, roots, people, responses) equals
    the event that recorded it, field by field, and every event has its row; input hashes
    recompute; the event chain is intact; SHA256SUMS covers every file of a batch (manifest,
    rejects, print files) and is the one recorded when the batch was completed; each batch root
    recomputes to the ledger's and to ROOT; attachments hash to their names. With --head, the
    ledger extends the head filed outside it. Prints each problem with its notice ID, batch or
    row. Exits 0 when clean, 1 otherwise.
    """
    from letters.audit import parse_head, verify

    out, url = _ledger_location(app, out_dir, ledger_url)
    filed = parse_head(head_text) if head_text is not None else None
    if rerender and not workers:  # the workspace's settings only matter to re-rendering
        workers = app.config.mailing.workers or os.cpu_count() or 1
    findings, checked = verify(out, url, batch=batch, rerender=rerender, head=filed,
                               progress=Progress("re-rendered") if rerender else None,
                               workers=workers or 1)
    for f in findings:
        click.echo(str(f))
    summary = (f"Checked {checked['batches']} batches, {checked['letters']} letters, "
               f"{checked['files']} files, {checked['rows']} ledger rows, "
               f"{checked['events']} events"
               + (f" (extending the head {filed[0]}:{filed[1][:12]}…)" if filed else "")
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
    list, and letters that came back (or reported a new address) with no follow-up letter. A
    case whose person was suppressed (deceased, represented, excluded by the court ...) is
    listed as such, not as never noticed; one whose person's rows were rejected is listed as
    rejected. Exits 0 when every case is noticed or suppressed and nothing came back without a
    follow-up, 1 otherwise.
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
    click.echo(f"Cases not noticed because the person was suppressed: {len(r.suppressed)}")
    for d, who, why, b in r.suppressed:
        click.echo(f"  {d}  (defendant {who}: {why}, batch {b})")
    click.echo(f"Cases not noticed because the person's rows were rejected: {len(r.rejected)}")
    for d, who, why, b in r.rejected:
        click.echo(f"  {d}  (defendant {who}: {why}, batch {b})")
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

    Per batch: its letters, deadline, verification result, whether it was voided and its root;
    what became of every person in its input (letters, to counsel, suppressed, rejected); the
    undeliverable and response rates and follow-ups; the translation reviewers it relied on.
    Then letters by county and by language, responses by month and kind, and every problem
    verification found.
    """
    from letters.report import gather, write_csvs, write_pdf

    out, url = _ledger_location(app, out_dir, ledger_url)
    tables = gather(out, url, batch=batch)
    folder = Path(csv_dir) if csv_dir else out / "report"
    pdf = write_pdf(tables, Path(pdf_path) if pdf_path else out / "report" / "report.pdf",
                    office=app.config.office.name, batch=batch)
    for path in [pdf, *write_csvs(tables, folder)]:
        click.echo(str(path))


@audit.command("show")
@click.argument("notice_id")
@ledger_options
@click.pass_obj
@handle_errors
def audit_show(app: AppContext, notice_id: str, out_dir: str | None,
               ledger_url: str | None) -> None:
    """The whole recorded story of one notice: to whom and where it was sent, its cases, every
    response recorded for it, the letter it follows and the letters that follow it, and its
    events. A mistyped ID is refused with the IDs it may have meant (exit 2)."""
    from letters.audit import show

    _, url = _ledger_location(app, out_dir, ledger_url)
    h = show(url, notice_id)
    letter, b = h.letter, h.batch
    click.echo(f"Notice {letter.notice_id} — batch {b.name}, issued {b.issue_date}")
    click.echo(f"  deadline:   {b.response_deadline}")
    click.echo(f"  defendant:  {letter.defendant_id}")
    click.echo(f"  name:       {h.name}")
    to, *address = h.addressed_to
    if h.counsel:
        to += f"  (counsel of record: {h.counsel.get('reason', '')})"
    click.echo(f"  sent to:    {to}")
    for line in address:
        click.echo(f"              {line}")
    if h.counsel and h.counsel.get("person_address"):
        click.echo(f"  person's address: {h.counsel['person_address']}")
    if h.address_source:
        click.echo(f"  address from: {h.address_source}")
    if h.original_address:
        click.echo(f"  address as given: {' / '.join(h.original_address)}  (standardised: "
                   f"{h.recipient['address'].get('changes') or 'unchanged'})")
    extra = "".join([f"   asked for: {h.recipient['language_requested']}"
                     if h.recipient.get("language_requested") else "",
                     "   large print" if h.recipient.get("large_print") else ""])
    click.echo(f"  languages:  {letter.languages}   pages: {letter.pages}   "
               f"bytes: {letter.bytes}{extra}")
    click.echo(f"  sha256:     {letter.sha256}")
    click.echo(f"  file:       {b.name}/{letter.file}")
    if h.follows:
        f = h.follows
        click.echo(f"  follows:    notice {f.notice_id} (batch {f.batch}, issued {f.issued}"
                   + (f"; {f.kind}" if f.kind else "") + ")")
    for f in h.followed_by:
        click.echo(f"  followed by: notice {f.notice_id} (batch {f.batch}, issued {f.issued}"
                   + (f"; {f.kind}" if f.kind else "") + ")")
    click.echo(f"  cases ({len(h.cases)}):")
    for c in h.cases:
        click.echo(f"    {c.docket_number}  {c.court}  {c.county or '—'}  {c.offense or '—'}  "
                   f"{c.disposition_date or '—'}")
    click.echo(f"  responses ({len(h.responses)}):")
    for r in h.responses:
        parts = [f"{label}: {value}" for label, value in (
            ("reason", r.reason), ("new address", r.new_address), ("note", r.note)) if value]
        if r.attachment_sha256:
            parts.append(f"attachment: {r.attachment_name} (sha256 {r.attachment_sha256})")
        parts.append(f"recorded by {r.recorded_by} ({r.source})")
        click.echo(f"    {r.received}  {r.kind}  " + "; ".join(parts))
    click.echo(f"  events ({len(h.events)}):")
    for e in h.events:
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


@audit.command("head")
@ledger_options
@click.pass_obj
@handle_errors
def audit_head(app: AppContext, out_dir: str | None, ledger_url: str | None) -> None:
    """Print the ledger's head: COUNT:HASH, the number of events and the last one's hash.

    File it outside the ledger (with the court or a clerk, by e-mail, on paper) after each
    mailing or batch of responses. Later, `letters audit verify --head COUNT:HASH` proves the
    ledger still holds those events unchanged: cutting off its last events or putting back an
    older copy cannot be hidden from a head kept elsewhere.
    """
    from letters.audit import head

    _, url = _ledger_location(app, out_dir, ledger_url)
    count, digest = head(url)
    click.echo(f"{count}:{digest}")


@audit.command("verify-proof")
@click.argument("proof_file", type=click.Path(dir_okay=False, exists=True))
@click.option("--pdf", type=click.Path(dir_okay=False, exists=True),
              help="The letter's PDF: it must be the letter the proof is about.")
@click.option("--root", help="The root filed with the court (hex), or a ROOT file's path. "
                             "Default: the ROOT file of the batch folder holding --pdf.")
@click.option("--self-only", is_flag=True,
              help="Accept a proof checked only against itself (no root filed elsewhere).")
def audit_verify_proof(proof_file: str, pdf: str | None, root: str | None,
                       self_only: bool) -> None:
    """Check an inclusion proof; needs nothing but the proof, the letter and the filed root.

    Without a root (--root, or a ROOT file beside the letter's folder) the proof can only be
    checked against itself, which shows nothing about what was filed: that exits 1 unless
    --self-only. Exits 0 when the proof holds, 1 when it does not, 2 when PROOF_FILE is not a
    proof.
    """
    import json

    from letters.audit import verify_proof

    try:
        proof = json.loads(Path(proof_file).read_text(encoding="utf-8"))
    except ValueError as exc:
        fail(f"{proof_file}: not JSON ({exc})",
             "Give the file `letters audit prove` wrote.")
    if not isinstance(proof, dict):
        fail(f"{proof_file}: not an inclusion proof (a JSON object)",
             "Give the file `letters audit prove` wrote.")
    if root is None and pdf:
        beside = Path(pdf).resolve().parent.parent / "ROOT"  # <batch>/letters/<ID>.pdf
        if beside.is_file():
            root = str(beside)
    if root and Path(root).is_file():
        try:
            root = Path(root).read_text(encoding="ascii").strip()
        except UnicodeDecodeError:
            fail(f"{root}: not a ROOT file (it holds one hexadecimal root)")
    problems = verify_proof(proof, pdf=Path(pdf).read_bytes() if pdf else None, root=root)
    if root is None and not problems:
        click.echo(f"{proof_file}: checked only against itself: no root filed elsewhere was "
                   "given (--root), so this shows nothing about what was filed")
        if not self_only:
            click.echo("  Give --root with the root filed with the court, or --self-only to "
                       "accept this.", err=True)
            sys.exit(1)
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
        count, digest = ledger.head()
    click.echo(f"Recorded {kind} for notice {nid}")
    click.echo(f"  ledger head: {count}:{digest}")


@cli.group()
def batch() -> None:
    """Mark a batch void, or add a note to it; both are appended, nothing is erased."""


@batch.command("void")
@click.argument("name")
@click.option("--reason", required=True, help="Why the batch must not count (printed in the "
                                              "report), e.g. 'printed with the wrong date'.")
@click.option("--by", "by", required=True, help="Who decided it.")
@ledger_options
@click.pass_obj
@handle_errors
def batch_void(app: AppContext, name: str, reason: str, by: str, out_dir: str | None,
               ledger_url: str | None) -> None:
    """Declare batch NAME void: a mistake that must not count.

    The batch, its letters and files stay in the ledger and the report, marked void; its
    letters are no longer overdue or followed up, and a follow-up letter in a void batch does
    not stop a new one. The void is an event in the ledger, checked by `letters audit verify`
    like any other.
    """
    from letters.ledger import Ledger

    _, url = _ledger_location(app, out_dir, ledger_url)
    with Ledger(url, create=False) as ledger:
        count, digest = ledger.annotate_batch(name, "batch-voided",
                                              {"reason": reason, "by": by})
    click.echo(f"Batch {name} is void: {reason} (by {by})")
    click.echo(f"  ledger head: {count}:{digest}")


@batch.command("note")
@click.argument("name")
@click.argument("text")
@click.option("--by", "by", default=None, help="Who wrote the note. Default: the login name.")
@ledger_options
@click.pass_obj
@handle_errors
def batch_note(app: AppContext, name: str, text: str, by: str | None, out_dir: str | None,
               ledger_url: str | None) -> None:
    """Add a note to batch NAME (shown by the report; appended to the ledger)."""
    from letters.ledger import Ledger
    from letters.responses import _user

    _, url = _ledger_location(app, out_dir, ledger_url)
    with Ledger(url, create=False) as ledger:
        count, digest = ledger.annotate_batch(name, "batch-noted",
                                              {"note": text, "by": by or _user()})
    click.echo(f"Noted on batch {name}: {text}")
    click.echo(f"  ledger head: {count}:{digest}")


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
        count, digest = ledger.head()
    _imported(csv_file, result, "responses", (count, digest))


def _imported(csv_file: str, result, what: str, head: tuple[int, str]) -> None:
    """The end of an import: rejected rows on stderr, the counts and the ledger's head; exit 1
    if any row was rejected."""
    for row, _, reason in result.rejected:
        click.echo(f"{csv_file}: row {row}: {reason}", err=True)
    click.echo(f"Recorded {result.recorded} {what}; {result.already} already recorded; "
               f"{len(result.rejected)} rows rejected")
    click.echo(f"  ledger head: {head[0]}:{head[1]}  (file it outside the ledger)")
    sys.exit(1 if result.rejected else 0)


@cli.group()
def addresses() -> None:
    """Addresses from outside the records: the mail house's NCOA results."""


@addresses.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False))
@click.option("--received", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="When the file came back from the mail house. Default: today.")
@ledger_options
@click.pass_obj
@handle_errors
def addresses_import(app: AppContext, csv_file: str, received, out_dir: str | None,
                     ledger_url: str | None) -> None:
    """Record the NCOA (change of address) results in CSV_FILE before the next mailing.

    Columns: notice_id, new_address ("street, [unit,] city, ST ZIP"), move_date (YYYY-MM-DD),
    and optionally reason. Each good row is recorded as an address-update response (source
    "NCOA FILE row N"), so the next mailing from an export uses the new address. Importing the
    same file again records nothing twice. Exits 1 if any row was rejected, 2 if the file or
    the ledger cannot be used.
    """
    from letters.ledger import Ledger
    from letters.responses import import_ncoa

    _, url = _ledger_location(app, out_dir, ledger_url)
    with Ledger(url, create=False) as ledger:
        result = import_ncoa(app.config, ledger, Path(csv_file),
                             received=received.date() if received else None)
        count, digest = ledger.head()
    _imported(csv_file, result, "address updates", (count, digest))


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

    kinds = app.config.responses.kinds
    if kind is not None and kind not in kinds:
        raise click.BadParameter(f"'{kind}' is not a kind of [responses] kinds "
                                 f"({', '.join(kinds)})", param_hint="'--kind'")
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
