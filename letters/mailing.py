"""The mailing: plan a batch, render its letters in parallel, keep copies, record the ledger.

``mail()`` is the whole job behind ``letters mail``:

1. read and validate the records; snapshot and hash every input (records, templates, catalogs,
   configuration, fonts, tool versions);
2. open the batch in the ledger, or — for a batch that exists — check that its inputs are the
   same (a changed input needs a new batch name) and resume it;
3. give each recipient a notice ID, stable for (batch, defendant);
4. render the letters that are not yet recorded in worker processes; each worker writes its
   retained copy (temporary file, fsync, rename) — on a Dask cluster (``letters.engines``) the
   workers return the PDFs and the main process writes the copies; the main process fsyncs the
   folder and only then records the copies in the ledger, a few hundred letters per
   transaction;
5. write ``manifest.csv``, ``SHA256SUMS``, ``rejects.csv``, the print files and ``ROOT`` (the
   RFC 6962 root over the batch's letters, also stored in the ledger).

Interrupted at any point, the same command finishes the missing letters and never makes a second
letter for a person in a batch: the ledger's (batch, defendant) key forbids it, and a copy left
on disk by an interrupted run is accepted only if it is byte-identical to the re-rendered letter.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import multiprocessing
import os
import time
import types
from collections import Counter, namedtuple
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from letters import __version__, engines, glyphs, imb, merkle, notice
from letters.config import Config
from letters.engines import DaskEngine
from letters.errors import LettersError, UsageError
from letters.exports import private_dir, write_csv
from letters.ledger import BatchRow, Ledger, default_url
from letters.model import PackedRecipients, Recipient
from letters.people import Outcome
from letters.records import Intake, read_for
from letters.printshop import PrintJob, sheets_of, write_print_files
from letters.processes import batch_lock, collect_less, exit_with_parent, letter_done
from letters.store import (
    fsync_dir, remove_stale_temporaries, replace_file, sha256_file, write_once,
)

#: One row per person in the batch's input: ``state`` letter | suppressed | rejected (see
#: ``letters.people``); the letter columns are blank for people without a letter.
MANIFEST_HEADER = ("notice_id", "defendant_id", "state", "reason", "sent_to", "address_source",
                   "languages", "language_requested", "pages", "sha256", "file", "zip",
                   "address_changes", "imb")


class MailingError(LettersError):
    """The batch cannot go on as asked."""


class BatchChanged(UsageError):
    """A batch name was reused with different inputs."""


@dataclass
class MailResult:
    batch: str
    folder: Path
    ledger_url: str
    letters: int = 0               # letters in the batch now
    rendered: int = 0              # rendered in this run
    resumed: int = 0               # already recorded before this run
    pages: int = 0
    languages: dict[str, int] = field(default_factory=dict)
    rejected_rows: int = 0
    failed: int = 0                # recipients whose letter could not be rendered
    #: people who asked for a language letters are not written in, by what they asked for
    requested: dict[str, int] = field(default_factory=dict)
    #: people whose street lines could not be standardised (printed as given; listed in
    #: address-warnings.csv)
    address_warnings: int = 0
    root: str = ""
    elapsed: float = 0.0
    already_complete: bool = False
    #: people per state (letter, suppressed, rejected), adding up to the people in the input
    people: dict[str, int] = field(default_factory=dict)
    #: suppressed people by reason; letters sent to counsel of record
    suppressed: dict[str, int] = field(default_factory=dict)
    to_counsel: int = 0
    #: defendant_id -> notice whose response gave the newer address this batch used
    newer_addresses: dict[str, str] = field(default_factory=dict)
    #: things the run noticed that need no action to finish (suppressed IDs not in the input...)
    notes: list[str] = field(default_factory=list)
    #: the ledger's head after the run (events, last hash): to file outside the ledger
    head: tuple[int, str] = (0, "")
    #: the print files, packages, sheets and envelopes (print/JOB.txt); None when nothing
    #: was written in this run
    print_job: PrintJob | None = None


# --- inputs -------------------------------------------------------------------------------------

def _versions() -> str:
    names = ("letters", "reportlab", "rl_accel", "Jinja2", "Babel", "pandas", "pyarrow", "pikepdf",
             "usaddress", "usaddress-scourgify")
    out = {}
    for name in names:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = __version__ if name == "letters" else "absent"
    from letters.pdf import RENDERER

    out[RENDERER_KEY] = str(RENDERER)
    return json.dumps(out, sort_keys=True)


#: Where the tool versions recorded with a batch hold ``letters.pdf.RENDERER``.
RENDERER_KEY = "letters renderer"


def input_snapshot(cfg: Config, records_path: Path | None, issue_date: dt.date, *,
                   records_sha: str | None = None,
                   extra: list[tuple[str, str, str, bytes | None]] = ()
                   ) -> tuple[dict[str, str], list[tuple[str, str, str, bytes | None]]]:
    """Hashes of every input of a batch, and the snapshot rows kept in the ledger. ``extra``:
    inputs decided by planning (a follow-up plan, the newer addresses used, a suppression
    file)."""
    root = cfg.root.resolve()

    def rel(p: Path) -> str:
        try:
            return p.resolve().relative_to(root).as_posix()
        except ValueError:
            return p.resolve().as_posix()

    inputs: list[tuple[str, str, str, bytes | None]] = []
    for p in sorted(cfg.templates_dir.rglob("*.html")):
        data = p.read_bytes()
        inputs.append(("template", rel(p), hashlib.sha256(data).hexdigest(), data))
    for p in sorted(cfg.locale_dir.rglob("*")):
        if p.is_file() and p.suffix in (".po", ".pot", ".toml", ".json") :
            data = p.read_bytes()
            kind = "signoff" if "signoff" in p.name else "catalog"
            inputs.append((kind, rel(p), hashlib.sha256(data).hexdigest(), data))
    config_bytes = cfg.source.read_bytes() if cfg.source else json.dumps(
        asdict(cfg), default=str, sort_keys=True).encode()
    inputs.append(("config", rel(cfg.source) if cfg.source else "<defaults>",
                   hashlib.sha256(config_bytes).hexdigest(), config_bytes))
    # what command-line options and LETTERS_* variables changed on top of the file
    effective = json.dumps({"intake": asdict(cfg.intake), "columns": cfg.columns,
                            "letter": asdict(cfg.letter)}, sort_keys=True).encode()
    inputs.append(("setting", "effective intake and letter settings",
                   hashlib.sha256(effective).hexdigest(), effective))
    from letters.pdf import FONT_FILES
    from importlib import resources

    for filename in sorted(FONT_FILES.values()):
        data = (resources.files("letters") / "fonts" / filename).read_bytes()
        inputs.append(("font", filename, hashlib.sha256(data).hexdigest(), None))
    tools = _versions().encode()
    inputs.append(("tool", "versions", hashlib.sha256(tools).hexdigest(), tools))
    inputs.extend(extra)

    records_sha = records_sha or sha256_file(records_path)
    hashes = input_hashes(records_sha, issue_date, cfg.letter.policy,
                          [(k, p, h) for k, p, h, _ in inputs])
    return hashes, inputs


def input_hashes(records_sha: str, issue_date: dt.date, policy: str,
                 items: Iterable[tuple[str, str, str]]) -> dict[str, str]:
    """The batch's input hashes from its inputs (kind, path, sha256) in any order: what the
    ledger's batch row holds, and what the audit recomputes from the recorded inputs."""
    items = sorted(items)

    def combined(kinds) -> str:
        h = hashlib.sha256()
        for kind, path, digest in items:
            if kind in kinds:
                h.update(f"{kind}\0{path}\0{digest}\n".encode())
        return h.hexdigest()

    hashes = {
        "records_sha256": records_sha,
        "templates_sha256": combined({"template"}),
        "catalogs_sha256": combined({"catalog", "signoff"}),
        "config_sha256": combined({"config", "setting"}),
    }
    everything = hashlib.sha256()
    everything.update(f"records\0{records_sha}\nissue_date\0{issue_date.isoformat()}\n"
                      f"policy\0{policy}\n".encode())
    everything.update(combined({"template", "catalog", "signoff", "config", "setting", "font",
                                "tool", "plan", "suppression"}).encode())
    hashes["inputs_sha256"] = everything.hexdigest()
    return hashes


# --- workers ------------------------------------------------------------------------------------

_worker: dict = {}


def _init_worker(cfg: Config, letters_dir: str, main_pid: int | None = None,
                 charset: str = "") -> None:
    from letters.compose import Composer
    from letters.pdf import register_fonts

    if main_pid is not None:  # a pool worker: never go on writing letters after a kill -9
        exit_with_parent(main_pid)
        collect_less()
    _worker["composer"] = Composer(cfg)
    _worker["letters_dir"] = Path(letters_dir) if letters_dir else None
    _worker["charset"] = charset
    register_fonts()


def recipient_json(r: Recipient) -> str:
    return json.dumps(asdict(r), ensure_ascii=False, sort_keys=True)


def render_letter(task: tuple[Recipient, str, dt.date]) -> dict:
    """Compose, render and durably keep one letter (runs in a worker process)."""
    return keep_copy(render_pdf(task, _worker["composer"], _worker["charset"]),
                     _worker["letters_dir"])


def render_pdf(task: tuple[Recipient, str, dt.date], composer, charset: str = "") -> dict:
    """Compose and render one letter, keeping nothing: ``{"ok": True, "row": ..., "pdf":
    bytes}`` (the row's ``sha256`` is filled in by :func:`keep_copy`), or ``{"ok": False,
    ...}`` naming why this person's letter cannot be made."""
    from letters.pdf import render

    recipient, notice_id, issue_date, *rest = task
    try:
        doc = composer.compose(recipient, notice_id=notice_id, issue_date=issue_date)
        doc.imb = rest[0] if rest else None
        doc.charset = charset
        out = render(doc)
    except OSError:
        raise  # a full disk or a lost file: stop, never skip a person
    except LettersError as exc:
        return {"ok": False, "defendant_id": recipient.defendant_id,
                "rows": list(recipient.source_rows), "reason": str(exc).split("\n")[0],
                "dockets": [c.docket_number for c in recipient.cases]}
    except Exception as exc:  # a layout or template error for this person only
        return {"ok": False, "defendant_id": recipient.defendant_id,
                "rows": list(recipient.source_rows),
                "reason": f"recipient {recipient.defendant_id}: {type(exc).__name__}: {exc}",
                "dockets": [c.docket_number for c in recipient.cases]}
    return {
        "ok": True,
        "row": {
            "notice_id": notice_id, "defendant_id": recipient.defendant_id,
            "languages": ",".join(v.lang for v in doc.versions),
            "language_requested": recipient.language_requested, "pages": out.pages,
            "sha256": "", "bytes": len(out.pdf), "file": f"letters/{notice_id}.pdf",
            "zip": recipient.address.zip[:10], "recipient": recipient_json(recipient),
            "imb": out.imb,
            "cases": [{"docket_number": c.docket_number, "court": c.court, "county": c.county,
                       "offense": c.offense, "disposition_date": c.disposition_date}
                      for c in recipient.cases],
        },
        "pdf": out.pdf,
    }


def keep_copy(result: dict, letters_dir: Path | None) -> dict:
    """Write a rendered letter's retained copy into ``letters_dir`` (None: a dry run keeps
    nothing) and put its SHA-256 in the row; the result without the PDF's bytes. A copy that
    exists with other bytes (:class:`CopyConflict`) or a full disk stops the run."""
    pdf = result.pop("pdf", None)
    if not result["ok"]:
        return result
    row = result["row"]
    if letters_dir is None:
        row["sha256"] = hashlib.sha256(pdf).hexdigest()
    else:
        # the folder is fsynced by the main process before the ledger records this copy
        row["sha256"] = write_once(letters_dir / f"{row['notice_id']}.pdf", pdf,
                                   sync_dir=False)
    return result


def _results(tasks: list, cfg: Config, letters_dir: Path, workers: int,
             charset: str = "", engine: DaskEngine | None = None) -> Iterable[dict]:
    """One result per task, in task order: rendered by ``engine`` (``letters.engines``), else
    by a pool of ``workers`` processes here (one: in this process)."""
    if engine is not None:
        yield from engine.results(tasks, cfg, letters_dir, charset)
        return
    if workers <= 1:
        _init_worker(cfg, str(letters_dir) if letters_dir else None, charset=charset)
        for task in tasks:
            yield render_letter(task)
        return
    yield from pooled(tasks, workers, _init_worker,
                      (cfg, str(letters_dir) if letters_dir else None, os.getpid(), charset),
                      render_letter)


def pooled(tasks: Sequence, workers: int, initializer: Callable, initargs: tuple,
           each: Callable) -> Iterable:
    """``each(task)`` for every task, in task order, computed by a pool of ``workers``
    processes (started by a fork server, each set up by ``initializer(*initargs)``), a few
    chunks of tasks at a time (:func:`_bounded_map`)."""
    ctx = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=initializer,
                             initargs=initargs) as pool:
        chunk = max(1, min(16, len(tasks) // (workers * 8) or 1))
        yield from _bounded_map(pool, tasks, chunk, window=workers * 4,
                                fn=functools.partial(_each_of, each))


class _Tasks(Sequence):
    """The letters still to render, as ``(recipient, notice ID, issue date, IMb)`` tasks made
    when they are read: the main process never holds every person's task at once."""

    def __init__(self, recipients: Sequence[Recipient], ids: dict[str, str],
                 issue_date: dt.date, imbs: dict[str, str], skip=()):
        self._recipients, self._ids, self._date, self._imbs = recipients, ids, issue_date, imbs
        self._todo = ([i for i, r in enumerate(recipients) if r.defendant_id not in skip]
                      if skip else range(len(recipients)))

    def __len__(self) -> int:
        return len(self._todo)

    def _task(self, i: int) -> tuple:
        r = self._recipients[i]
        return (r, self._ids[r.defendant_id], self._date, self._imbs.get(r.defendant_id))

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self._task(i) for i in self._todo[k]]
        return self._task(self._todo[k])

    def __iter__(self):
        return (self._task(i) for i in self._todo)


def _each_of(each: Callable, tasks: list) -> list:
    """A pool worker's share: ``each`` of its tasks in turn (``letter_done`` tends the
    worker's garbage collector, ``letters.processes``)."""
    out = []
    for task in tasks:
        out.append(each(task))
        letter_done()
    return out


def _bounded_map(pool, tasks: Sequence, chunk: int, window: int, fn: Callable) -> Iterable:
    """``fn``'s results for chunks of ``tasks``, in task order, with at most ``window`` chunks
    sent to the workers and not yet collected: the main process never holds every letter's
    task and result at once (``Executor.map`` would send them all at the start)."""
    from collections import deque

    pending: deque = deque()
    starts = iter(range(0, len(tasks), chunk))
    for start in starts:
        pending.append(pool.submit(fn, tasks[start:start + chunk]))
        if len(pending) >= window:
            break
    while pending:
        done = pending.popleft().result()
        start = next(starts, None)
        if start is not None:
            pending.append(pool.submit(fn, tasks[start:start + chunk]))
        yield from done


# --- the batch ----------------------------------------------------------------------------------

def assign_notice_ids(batch: str, recipients: Iterable[Recipient], taken: set[str],
                      existing: dict[str, str]) -> dict[str, str]:
    """defendant_id -> notice ID; recorded letters keep theirs, new ones avoid every taken ID."""
    assigned: dict[str, str] = {}
    used = set(taken) | set(existing.values())
    for r in recipients:
        if r.defendant_id in existing:
            assigned[r.defendant_id] = existing[r.defendant_id]
            continue
        attempt = 0
        nid = notice.notice_id(batch, r.defendant_id)
        while nid in used:
            attempt += 1
            nid = notice.notice_id(batch, r.defendant_id, attempt)
        used.add(nid)
        assigned[r.defendant_id] = nid
    return assigned


def _explain_change(old: BatchRow, new: dict[str, str], issue_date: dt.date, policy: str,
                    recorded=(), planned=()) -> str:
    """What differs from the batch as it was opened; ``recorded`` and ``planned``: the
    batch's recorded inputs and this run's planned ones (suppression file, plans)."""
    changed = [label for key, label in (("records_sha256", "records"),
                                        ("templates_sha256", "templates"),
                                        ("catalogs_sha256", "catalogs"),
                                        ("config_sha256", "configuration"))
               if getattr(old, key) != new[key]]
    if old.issue_date != issue_date:
        changed.append(f"issue date ({old.issue_date} before)")
    if old.policy != policy:
        changed.append("language policy")
    kinds = {"plan": "the {path}", "suppression": "the suppression file"}
    before = {(r.kind, r.path): r.sha256 for r in recorded if r.kind in kinds}
    after = {(k, p): h for k, p, h, _ in planned if k in kinds}
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            label = kinds[key[0]].format(path=key[1])
            if label not in changed:
                changed.append(label)
    return ", ".join(changed) or "fonts or tool versions"


def _refuse_changed(ledger: Ledger, existing: BatchRow, hashes: dict[str, str],
                    issue_date: dt.date, cfg: Config, planned) -> None:
    """A batch name reused with other inputs, or a void batch, is refused."""
    batch = existing.name
    if batch in ledger.voided():
        raise UsageError(f"batch '{batch}' is void: its letters must not be mailed",
                         hint="Mail a new batch under a new --batch name.")
    if existing.inputs_sha256 != hashes["inputs_sha256"]:
        what = _explain_change(existing, hashes, issue_date, cfg.letter.policy,
                               ledger.inputs(existing.id), planned)
        raise BatchChanged(
            f"batch '{batch}' already exists and was made from other inputs (changed: {what})",
            hint="A batch is a record of exactly what was sent: give the new mailing a new "
                 "--batch name.")


@dataclass
class BatchPlan:
    """What a batch will do, decided before anything is written (``mail --dry-run`` shows it)."""

    intake: object                      # records.Intake, or followup.FollowUpPlan
    #: who gets a letter, as it will be addressed (held compressed: ``PackedRecipients``)
    recipients: Sequence[Recipient]
    #: people without a letter: defendant_id -> Outcome (suppressed or rejected)
    left_out: dict[str, Outcome]
    follows: dict[str, str]             # follow-up: defendant_id -> the notice it follows
    records_sha: str | None
    #: inputs the ledger keeps with the batch beyond templates, catalogs and configuration:
    #: the follow-up plan, the suppression file, the newer addresses used
    inputs: list[tuple[str, str, str, bytes | None]]
    newer: dict[str, str]               # defendant_id -> notice whose response gave the address
    notes: list[str]
    existing: BatchRow | None           # the batch, when it is already in the ledger
    #: follow-up letters left out because they were followed up already (without --again)
    already_followed: dict[str, str] = field(default_factory=dict)
    #: the Intelligent Mail barcode settings and the batch's first serial (None: no barcode)
    imb: dict | None = None
    #: every character the batch's letters can print (``letters.glyphs``)
    charset: str = ""

    def imb_values(self, ids: dict[str, str]) -> dict[str, str]:
        """defendant_id -> the IMb of its letter: serials from the batch's first one, in notice
        ID order (``ids``: defendant_id -> notice ID), so a resumed batch makes the same."""
        if not self.imb:
            return {}
        order = sorted((ids[r.defendant_id], r.defendant_id, r.address.zip)
                       for r in self.recipients)
        return {d: imb.value(self.imb["barcode_id"], self.imb["service_type"],
                             self.imb["mailer_id"], self.imb["base_serial"] + i, zip_code)
                for i, (_, d, zip_code) in enumerate(order)}

    @property
    def people(self) -> int:
        return len(self.recipients) + len(self.left_out)


def _stored(previous: list, kind: str, path: str) -> bytes | None:
    for row in previous:
        if row.kind == kind and row.path == path:
            return row.content
    return None


def _open_existing(ledger_url: str) -> Ledger | None:
    """The ledger when it exists, opened read-only: planning (and a dry run) writes nothing."""
    from letters.ledger import _sqlite_path

    path = _sqlite_path(ledger_url)
    if path is not None and not path.exists():
        return None
    ledger = Ledger(ledger_url, create=False, readonly=True)
    if not ledger.has_tables():  # a database no batch was mailed into yet
        ledger.close()
        return None
    return ledger


def plan_batch(cfg: Config, records_path: str | os.PathLike | None, *, batch: str,
               ledger_url: str, follow_up: str | None = None, follow_up_overdue: bool = False,
               suppress: str | os.PathLike | None = None, export_date: dt.date | None = None,
               as_of: dt.date | None = None, again: bool = False) -> BatchPlan:
    """Read and decide everything a batch needs; write nothing. See :class:`BatchPlan`."""
    from letters.followup import FollowUpPlan, plan as plan_follow_up
    from letters.people import (
        REJECTED, SUPPRESSED, Outcome, apply_suppressions, newest_addresses, read_suppressions,
        unmatched, use_newest,
    )

    ledger = _open_existing(ledger_url)
    try:
        existing = ledger.batch(batch) if ledger else None
        previous = ledger.inputs(existing.id) if existing else []
        inputs: list[tuple[str, str, str, bytes | None]] = []
        notes: list[str] = []
        newer: dict[str, str] = {}
        already: dict[str, str] = {}
        if follow_up:
            if records_path is not None:
                raise UsageError("a follow-up batch is planned from the ledger: give no RECORDS")
            if ledger is None:
                raise UsageError(f"no ledger at {ledger_url} to plan the follow-up from",
                                 hint="Give the --out or --ledger the first batch was mailed "
                                      "with.")
            kept = _stored(previous, "plan", "follow-up plan")
            if kept is not None:
                # a resumed run replays the plan the batch was opened with, whatever was
                # recorded since
                intake = FollowUpPlan.from_json(kept)
            else:
                intake = plan_follow_up(ledger, follow_up, overdue=follow_up_overdue,
                                        as_of=as_of or dt.date.today(), again=again,
                                        exclude_batch=batch)
            already = dict(intake.already_followed)
            if already:
                where = ", ".join(sorted(set(already.values())))
                notes.append(f"{len(already)} letter(s) of {follow_up} were followed up already "
                             f"(in {where}) and are left out; --again includes them")
            records_sha = intake.digest()
            inputs.append(("plan", "follow-up plan", records_sha, intake.to_json()))
            recipients = PackedRecipients(intake.recipients)
            follows = intake.follows
        else:
            if records_path is None:
                raise UsageError("give the RECORDS file to mail (or --follow-up BATCH)")
            records_path = Path(records_path)
            intake = read_for(cfg, records_path)
            records_sha = None
            follows = {}
            recipients = PackedRecipients(intake.recipients)
            if cfg.mailing.newest_address:
                kept = _stored(previous, "plan", "newest addresses")
                if kept is not None or existing is not None:
                    chosen = json.loads(kept) if kept else {}
                else:
                    since = export_date or dt.date.fromtimestamp(records_path.stat().st_mtime)
                    updates, found_notes = (newest_addresses(ledger, since) if ledger
                                            else ({}, []))
                    notes += found_notes
                    recipients, _ = use_newest(recipients, updates)
                    chosen = {r.defendant_id: {"address": asdict(r.address),
                                               "source": r.address_source}
                              for r in recipients if r.address_source}
                if chosen or any(r.address_source for r in recipients):
                    recipients = PackedRecipients(_with_address(r, chosen.get(r.defendant_id))
                                                  for r in recipients)
                newer = {r.defendant_id: r.address_source.rsplit(" ", 1)[-1]
                         for r in recipients if r.address_source}
                data = json.dumps(chosen, sort_keys=True, ensure_ascii=False).encode()
                inputs.append(("plan", "newest addresses", hashlib.sha256(data).hexdigest(),
                               data))
        # who must not be mailed
        suppress = suppress or (cfg.root / cfg.suppression.file if cfg.suppression.file
                                else None)
        suppressions = {}
        if suppress:
            suppressions = read_suppressions(suppress, cfg.suppression_reason)
            data = Path(suppress).read_bytes()
            inputs.append(("suppression", Path(suppress).name, hashlib.sha256(data).hexdigest(),
                           data))
        left_out: dict[str, Outcome] = {}
        for key, (reason, dockets) in intake.rejected_people().items():
            s = suppressions.get(key)
            if s is not None and not cfg.suppression_reason[s.reason].to_counsel:
                left_out[key] = Outcome(key, SUPPRESSED, s.reason, s.note, dockets=dockets)
            else:
                left_out[key] = Outcome(key, REJECTED, reason, dockets=dockets)
        everyone = [r.defendant_id for r in recipients] + list(left_out)
        recipients, suppressed = apply_suppressions(recipients, suppressions,
                                                    cfg.suppression_reason)
        left_out.update((o.defendant_id, o) for o in suppressed)
        missing = unmatched(suppressions, everyone)
        if missing:
            shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
            notes.append(f"{len(missing)} defendant ID(s) in the suppression file are not in "
                         f"this batch's input (a typo?): {shown}")
        imb_plan = _plan_imb(cfg, ledger, previous, existing, len(recipients),
                             as_of or dt.date.today())
        if imb_plan is not None:
            data = json.dumps(imb_plan, sort_keys=True).encode()
            inputs.append((*imb.PLAN, hashlib.sha256(data).hexdigest(), data))
        charset = _plan_charset(cfg, previous, existing, recipients)
        if charset:
            data = charset.encode("utf-8")
            inputs.append((*glyphs.INPUT, glyphs.digest(charset), data))
        return BatchPlan(intake, recipients, left_out, follows, records_sha, inputs, newer,
                         notes, existing, already, imb_plan, charset)
    finally:
        if ledger is not None:
            ledger.close()


def _plan_imb(cfg: Config, ledger: Ledger | None, previous: list, existing: BatchRow | None,
              count: int, issue_date: dt.date) -> dict | None:
    """The batch's barcode settings and first serial (``letters.imb``): kept with the batch
    (a batch input "plan", "imb serials"), so a resumed batch replays them; a new batch starts
    after the highest serial its mailer ID used or planned in the 45 days before its issue
    date."""
    kept = _stored(previous, *imb.PLAN)
    if kept is not None:
        return json.loads(kept)
    if existing is not None or not cfg.imb.mailer_id:
        return None
    used = ledger.imb_values() if ledger else []
    planned = [plan for _batch, plan in ledger.imb_plans()] if ledger else []
    base = imb.base_serial(used, cfg.imb.mailer_id, issue_date, count, planned)
    return {"barcode_id": cfg.imb.barcode_id, "service_type": cfg.imb.service_type,
            "mailer_id": cfg.imb.mailer_id, "base_serial": base, "letters": count,
            "issue_date": issue_date.isoformat()}


def _plan_charset(cfg: Config, previous: list, existing: BatchRow | None,
                  recipients: list[Recipient]) -> str:
    """The batch's character set (``letters.glyphs``): the recorded one for a batch already
    opened (none for a batch opened before sets were recorded), else from its recipients."""
    kept = _stored(previous, *glyphs.INPUT)
    if kept is not None:
        return kept.decode("utf-8")
    if existing is not None:
        return ""
    return glyphs.batch_charset(cfg, recipients)


def _with_address(r: Recipient, chosen: dict | None) -> Recipient:
    from letters.model import Address

    if chosen is None:
        return r if not r.address_source else dataclasses.replace(r, address_source="")
    return dataclasses.replace(r, address=Address(**chosen["address"]),
                               address_source=chosen["source"])


def check_dates(cfg: Config, issue_date: dt.date, *, today: dt.date | None = None) -> None:
    """Refuse letters dated before today, or whose response deadline has passed."""
    today = today or dt.date.today()
    deadline = issue_date + dt.timedelta(days=cfg.letter.response_days)
    if issue_date < today:
        raise UsageError(
            f"the issue date {issue_date} is before today ({today}): the letters would be "
            f"dated in the past" + (f" and their response deadline ({deadline}) is already "
                                    "gone" if deadline < today else ""),
            hint="Leave out --date (today), give a later one, or add --allow-past-date if a "
                 "past date is really meant.")


def mail(cfg: Config, records_path: str | os.PathLike | None, *, batch: str,
         issue_date: dt.date | None = None, out_dir: str | os.PathLike | None = None,
         ledger_url: str | None = None, workers: int | None = None,
         progress: Callable[[int, int], None] | None = None, follow_up: str | None = None,
         follow_up_overdue: bool = False, allow_sample_signoffs: bool = False,
         suppress: str | os.PathLike | None = None, export_date: dt.date | None = None,
         allow_past_date: bool = False, again: bool = False,
         today: dt.date | None = None, engine: str | None = None,
         scheduler: str | None = None) -> MailResult:
    """Run (or resume) one mailing batch. See the module docstring.

    With ``follow_up``, the batch is planned from the ledger (``letters.followup``) instead of
    a records file. ``suppress``: a suppression file (``letters.people``); ``export_date``: when
    the records were exported (default: the file's date), for the newest-address rule.
    ``engine`` and ``scheduler``: where the letters are rendered (``letters.engines``; default
    ``[mailing] engine`` and ``scheduler``).
    """
    started = time.perf_counter()
    out, ledger_url, folder, letters_dir = _locations(cfg, batch, out_dir, ledger_url)
    workers = workers or os.cpu_count() or 1
    plan, relied = _checked_plan(
        cfg, records_path, batch=batch, ledger_url=ledger_url, issue_date=issue_date,
        follow_up=follow_up, follow_up_overdue=follow_up_overdue, suppress=suppress,
        export_date=export_date, allow_past_date=allow_past_date, again=again, today=today,
        allow_sample_signoffs=allow_sample_signoffs)
    intake, recipients, follows = plan.intake, plan.recipients, plan.follows
    # The export's table is not read again: the recipients are packed in the plan.
    intake.recipients = None

    # a scheduler that cannot be reached stops the run here, before anything is written
    with engines.opened(engine or cfg.mailing.engine,
                        cfg.mailing.scheduler if scheduler is None else scheduler,
                        workers) as renderer:
        with _batch_folder(folder, letters_dir, batch) as made, Ledger(ledger_url) as ledger:
            existing_batch = ledger.batch(batch)
            if issue_date is None:
                issue_date = existing_batch.issue_date if existing_batch else dt.date.today()
            hashes, inputs = input_snapshot(cfg, records_path if not follow_up else None,
                                            issue_date, records_sha=plan.records_sha,
                                            extra=plan.inputs)
            result = MailResult(batch=batch, folder=folder, ledger_url=ledger_url,
                                newer_addresses=dict(plan.newer), notes=list(plan.notes))
            if existing_batch is not None:
                _refuse_changed(ledger, existing_batch, hashes, issue_date, cfg, plan.inputs)
            if existing_batch is None:
                existing_batch = ledger.open_batch(
                    batch, issue_date=issue_date, tool_version=__version__,
                    policy=cfg.letter.policy,
                    response_deadline=issue_date + dt.timedelta(days=cfg.letter.response_days),
                    hashes=hashes, inputs=inputs, translations=relied, follow_up_of=follow_up)
            bat = existing_batch
            made.kept = True  # the ledger has the batch: its folder stays, whatever happens
            recorded = {row.defendant_id: row for row in ledger.letters(bat.id)}
            for d in (letters_dir, folder, folder / "print"):  # left by a kill or full disk
                remove_stale_temporaries(d)
            if bat.root is not None:
                result.already_complete = True
                _summarise(result, intake, recorded.values(), bat.root, started,
                           ledger.outcomes(bat.id))
                result.head = ledger.head()
                return result
            _check_recorded_copies(folder, recorded.values())

            taken = ledger.notice_ids() - {row.notice_id for row in recorded.values()}
            ids = assign_notice_ids(batch, recipients, taken,
                                    {d: row.notice_id for d, row in recorded.items()})
            imbs = plan.imb_values(ids)
            todo = _Tasks(recipients, ids, issue_date, imbs, skip=recorded)
            result.resumed = len(recorded)
            recorded = None  # a resumed batch's rows: not needed again
            failures: list[dict] = []
            pending: list[dict] = []
            done = 0
            if progress:
                progress(0, len(todo))
            for res in _results(todo, cfg, letters_dir, workers, plan.charset, renderer):
                if res["ok"]:
                    res["row"]["follow_up_of"] = follows.get(res["row"]["defendant_id"])
                    pending.append(res["row"])
                    result.rendered += 1
                else:
                    failures.append(res)
                done += 1
                if len(pending) >= 200:
                    fsync_dir(letters_dir)  # the renames are durable before the ledger has them
                    ledger.record_letters(bat, pending)
                    pending = []
                if progress:
                    progress(done, len(todo))
            fsync_dir(letters_dir)
            ledger.record_letters(bat, pending)
            for f in failures:
                ledger.log("letter-failed", batch=batch,
                           payload={"defendant_id": f["defendant_id"], "reason": f["reason"]})
            # Every letter is recorded, and the outputs are made from the ledger's rows: the
            # people's objects and the export's table go before those rows are read, so that a
            # large batch does not hold both at once.
            todo = res = recipients = plan.recipients = None

            rows = SentLetters(ledger.iter_letters(bat.id), upper_case=cfg.address.upper_case)
            people = _People(rows, failures, plan.left_out)
            root = merkle.root_from_hashes(
                [merkle.leaf_hash(f"{row.notice_id}\n{row.sha256}".encode()) for row in rows]
            ).hex()
            sums, result.print_job = _write_outputs(folder, intake, rows, failures, root, cfg,
                                                    workers, people)
            # Failures are data or template problems that would fail again; they are in
            # rejects.csv and the event log, and the batch is complete without them.
            for d in (folder / "print", folder):  # the outputs are durable before the root
                fsync_dir(d)
            ledger.close_batch(bat, root, len(rows), people, sums_sha256=sums)
            result.failed = len(failures)
            _summarise(result, intake, rows, root, started, people)
            result.head = ledger.head()
            return result


def _checked_plan(cfg: Config, records_path, *, batch: str, ledger_url: str,
                  issue_date: dt.date | None, follow_up: str | None, follow_up_overdue: bool,
                  suppress, export_date: dt.date | None, allow_past_date: bool, again: bool,
                  today: dt.date | None, allow_sample_signoffs: bool
                  ) -> tuple[BatchPlan, dict[str, dict]]:
    """The batch's plan once every check before writing passed: dates, a follow-up with
    somebody to write to, and the translation gate (what the batch relies on is returned)."""
    plan = plan_batch(cfg, records_path, batch=batch, ledger_url=ledger_url,
                      follow_up=follow_up, follow_up_overdue=follow_up_overdue,
                      suppress=suppress, export_date=export_date,
                      as_of=issue_date or dt.date.today(), again=again)
    if plan.existing is None:
        if not allow_past_date:
            check_dates(cfg, issue_date or dt.date.today(), today=today)
        if follow_up and not plan.recipients:
            _nothing_to_follow_up(plan, follow_up)
    # The gate: no letter carries text that is not translated, checked and signed off.
    relied = translation_gate(cfg, plan.recipients, allow_sample=allow_sample_signoffs)
    return plan, relied


@contextlib.contextmanager
def _batch_folder(folder: Path, letters_dir: Path, batch: str):
    """Make the batch's folders and hold the batch's lock (``batch_lock``). If this run made
    the folder and stops before the ledger has the batch (a refused plan, a ledger it cannot
    write), it takes the folder away again, while it still holds the lock, so that no empty
    batch folder is left for an auditor to wonder about. Set ``kept`` on what it yields once
    the ledger has the batch."""
    with contextlib.ExitStack() as stack:
        for attempt in range(3):
            private_dir(folder.parent)
            try:
                folder.mkdir(mode=0o700)
                os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask
                fresh = True
            except FileExistsError:
                fresh = False
            try:
                lock = stack.enter_context(batch_lock(folder, batch))
                break
            except FileNotFoundError:  # a refused run took the folder away meanwhile
                if attempt == 2:
                    raise
        private_dir(letters_dir)
        made = types.SimpleNamespace(kept=not fresh)
        try:
            yield made
        except BaseException:
            if not made.kept:
                with contextlib.suppress(OSError):  # only what is empty, and the lock's file
                    letters_dir.rmdir()
                    lock.unlink()
                    folder.rmdir()
            raise


def _locations(cfg: Config, batch: str, out_dir, ledger_url: str | None):
    if not batch or any(ch in batch for ch in "/\\\0") or batch in (".", ".."):
        raise UsageError(f"batch name '{batch}' cannot be used as a folder name",
                         hint="Use letters, digits, '-', '_' and '.', e.g. --batch 2026-12-notice")
    out = Path(out_dir) if out_dir else cfg.output_dir
    ledger_url = ledger_url or default_url(out)
    folder = out / batch
    return out, ledger_url, folder, folder / "letters"


def _nothing_to_follow_up(plan: BatchPlan, follow_up: str) -> None:
    if plan.already_followed:
        batches = ", ".join(sorted(set(plan.already_followed.values())))
        raise UsageError(
            f"every letter of batch '{follow_up}' this follow-up would write to was followed up "
            f"already (in {batches}): nothing new to mail",
            hint="Add --again to write to them once more.")
    raise UsageError(f"nobody in batch '{follow_up}' needs a follow-up letter (no returned "
                     "mail with a new address, no address update"
                     + ("" if "overdue" in plan.intake.source else ", and --overdue was not "
                        "given") + ")",
                     hint="Record responses first (`letters respond`, `letters responses "
                          "import`), or add --overdue.")


_SENT = ("notice_id", "defendant_id", "languages", "language_requested", "pages", "sha256",
         "file", "zip", "imb", "changes", "window", "window_zip", "reason", "sent_to",
         "address_source", "dockets")
#: A letter of the batch as its outputs need it (``SentLetters``).
Sent = namedtuple("Sent", _SENT)


class SentLetters:
    """A batch's letters as its outputs need them, read once from the ledger's rows and held
    column by column (Arrow), not as rows: at 100,000 letters the rows with their recipients'
    data took some 180 MB, this about 40. Each letter's recipient data is read once, for what
    the outputs take from it: its window (``letters.printshop.window``), what standardising
    changed in its address, and the person's outcome. Iterating, or ``take``, gives
    :data:`Sent` tuples, a part at a time."""

    PART = 2048

    def __init__(self, rows: Iterable, *, upper_case: bool = True):
        import pyarrow as pa

        from letters.printshop import window

        text, lists = pa.string(), pa.list_(pa.string())
        self._schema = pa.schema([(name, pa.int64() if name == "pages" else
                                   lists if name in ("window", "dockets") else text)
                                  for name in _SENT])
        parts, part = [], []
        for row in rows:
            rec = json.loads(row.recipient)
            deliver = rec.get("deliver_to") or {}
            lines, zip_code = window(rec, row.notice_id, upper_case)
            part.append((row.notice_id, row.defendant_id, row.languages,
                         row.language_requested, row.pages, row.sha256, row.file, row.zip,
                         row.imb, rec["address"].get("changes", ""), lines, zip_code,
                         deliver.get("reason", ""), deliver.get("role", ""),
                         rec.get("address_source", ""),
                         [c["docket_number"] for c in rec["cases"]]))
            if len(part) == self.PART:
                parts.append(self._part(part))
                part = []
        if part or not parts:
            parts.append(self._part(part))
        self._table = pa.Table.from_batches(parts, self._schema)

    def _part(self, part: list[tuple]):
        import pyarrow as pa

        columns = list(zip(*part)) if part else [()] * len(_SENT)
        return pa.RecordBatch.from_arrays(
            [pa.array(list(c), type=f.type) for c, f in zip(columns, self._schema)],
            schema=self._schema)

    def __len__(self) -> int:
        return self._table.num_rows

    @staticmethod
    def _rows(table) -> list[Sent]:
        return [Sent(*values) for values in zip(*(c.to_pylist() for c in table.columns))]

    def __iter__(self) -> Iterator[Sent]:
        for part in self._table.to_batches(self.PART):
            yield from self._rows(part)

    def take(self, positions: list[int]) -> list[Sent]:
        """The letters at these positions, in this order."""
        import pyarrow as pa

        return self._rows(self._table.take(pa.array(positions, type=pa.int64())))


class _People:
    """Every person's state in the batch: the letters (in the rows' order), the letters that
    failed, and the people left out, in that order; made each time it is read."""

    def __init__(self, rows, failures: list[dict], left_out: dict):
        self.rows, self.failures, self.left_out = rows, failures, left_out

    def __iter__(self) -> Iterator[Outcome]:
        from letters.people import LETTER, REJECTED

        for row in self.rows:
            yield Outcome(row.defendant_id, LETTER, row.reason, notice_id=row.notice_id,
                          dockets=tuple(row.dockets), sent_to=row.sent_to,
                          address_source=row.address_source)
        for f in self.failures:
            yield Outcome(f["defendant_id"], REJECTED, f["reason"],
                          dockets=tuple(f.get("dockets", ())))
        failed = {f["defendant_id"] for f in self.failures}
        yield from (o for key, o in sorted(self.left_out.items()) if key not in failed)


def dry_run(cfg: Config, records_path: str | os.PathLike | None, *, batch: str,
            issue_date: dt.date | None = None, out_dir: str | os.PathLike | None = None,
            ledger_url: str | None = None, workers: int | None = None,
            progress: Callable[[int, int], None] | None = None, follow_up: str | None = None,
            follow_up_overdue: bool = False, allow_sample_signoffs: bool = False,
            suppress: str | os.PathLike | None = None, export_date: dt.date | None = None,
            allow_past_date: bool = False, again: bool = False,
            today: dt.date | None = None, engine: str | None = None,
            scheduler: str | None = None) -> dict:
    """The whole plan of ``mail`` with the same checks, rendering every letter in memory to
    count its pages, and writing nothing: no folder, no ledger, no file."""
    out, ledger_url, folder, _ = _locations(cfg, batch, out_dir, ledger_url)
    plan, _ = _checked_plan(
        cfg, records_path, batch=batch, ledger_url=ledger_url, issue_date=issue_date,
        follow_up=follow_up, follow_up_overdue=follow_up_overdue, suppress=suppress,
        export_date=export_date, allow_past_date=allow_past_date, again=again, today=today,
        allow_sample_signoffs=allow_sample_signoffs)
    issue = issue_date or (plan.existing.issue_date if plan.existing else dt.date.today())
    if plan.existing is not None:  # what the real run would refuse, the dry run refuses
        hashes, _ = input_snapshot(cfg, records_path if not follow_up else None, issue,
                                   records_sha=plan.records_sha, extra=plan.inputs)
        with Ledger(ledger_url, create=False, readonly=True) as ledger:
            _refuse_changed(ledger, plan.existing, hashes, issue, cfg, plan.inputs)
    from letters.people import REJECTED, SUPPRESSED

    summary = {
        "batch": batch, "folder": str(folder), "exists": plan.existing is not None,
        "complete": bool(plan.existing and plan.existing.root),
        "issue_date": issue.isoformat(),
        "deadline": (issue + dt.timedelta(days=cfg.letter.response_days)).isoformat(),
        "people": plan.people, "letters": len(plan.recipients),
        "suppressed": dict(sorted(Counter(o.reason for o in plan.left_out.values()
                                          if o.state == SUPPRESSED).items())),
        "rejected_people": sum(o.state == REJECTED for o in plan.left_out.values()),
        "rejected_rows": len(plan.intake.rejected_rows),
        "to_counsel": sum(1 for r in plan.recipients if r.deliver_to),
        "newer_addresses": dict(plan.newer), "notes": list(plan.notes),
        "follow_ups": dict(sorted(Counter(r.follow_up["kind"] for r in plan.recipients
                                          if r.follow_up).items())),
        "already_followed": dict(plan.already_followed),
        "versions": {}, "requested": {}, "pages": 0, "sheets": 0, "failed": 0,
        "duplex": cfg.mailing.duplex,
    }
    dry_ids = {r.defendant_id: f"DRY-{i:06d}" for i, r in enumerate(plan.recipients, start=1)}
    imbs = plan.imb_values(dry_ids)
    tasks = [(r, dry_ids[r.defendant_id], issue, imbs.get(r.defendant_id))
             for r in plan.recipients]
    versions: Counter = Counter()
    requested: Counter = Counter()
    if progress:
        progress(0, len(tasks))
    workers = workers or os.cpu_count() or 1
    with engines.opened(engine or cfg.mailing.engine,
                        cfg.mailing.scheduler if scheduler is None else scheduler,
                        workers) as renderer:
        for done, res in enumerate(_results(tasks, cfg, None, workers, plan.charset, renderer),
                                   1):
            if progress:
                progress(done, len(tasks))
            if res["ok"]:
                versions[res["row"]["languages"]] += 1
                if res["row"]["language_requested"]:
                    requested[res["row"]["language_requested"]] += 1
                summary["pages"] += res["row"]["pages"]
                summary["sheets"] += sheets_of(res["row"]["pages"], cfg.mailing.duplex)
            else:
                summary["failed"] += 1
    summary["versions"] = dict(sorted(versions.items()))
    summary["requested"] = dict(sorted(requested.items()))
    return summary


def translation_gate(cfg: Config, recipients: list[Recipient], *,
                     allow_sample: bool = False) -> dict[str, dict]:
    """Refuse, before anything is written, unless every text these letters would print is
    translated, checked and signed off: each version's messages and data values, and each
    tagline. Returns what the batch relies on (recorded in the ledger)."""
    from letters.compose import Composer
    from letters.i18n import gate, office_fingerprint

    composer = Composer(cfg)
    versions: dict[str, None] = {}
    taglines: dict[str, None] = {}
    data: dict[str, set[str]] = {}
    for r in recipients:
        langs = composer.languages(r)
        versions.update(dict.fromkeys(langs))
        taglines.update(dict.fromkeys(composer.tagline_languages(langs)))
        for lang, keys in composer.data_keys(r).items():
            data.setdefault(lang, set()).update(keys)
    relied = gate(cfg.root, cfg.locale_dir, letters=list(versions), taglines=list(taglines),
                  data=data, office=office_fingerprint(cfg.office, cfg.counsel),
                  allow_sample=allow_sample, templates_dir=cfg.templates_dir)
    if allow_sample:
        relied["accepted_sample_signoffs"] = True
    return relied


def _check_recorded_copies(folder: Path, rows) -> None:
    for row in rows:
        path = folder / row.file
        if not path.exists():
            raise MailingError(f"retained copy of notice {row.notice_id} is missing ({path})",
                               hint="Restore it from backup; `letters audit verify` lists every "
                                    "problem. The batch cannot be resumed without it.")
        if sha256_file(path) != row.sha256:
            raise MailingError(f"retained copy of notice {row.notice_id} does not match the "
                               f"ledger ({path})",
                               hint="A copy was changed after it was recorded. Restore it from "
                                    "backup before resuming.")


def _summarise(result: MailResult, intake: Intake, rows, root: str, started: float,
               people=()) -> None:
    from letters.people import STATES, SUPPRESSED

    states: Counter = Counter()
    suppressed: Counter = Counter()
    to_counsel, newer = 0, {}
    for o in people:
        states[o.state] += 1
        if o.state == SUPPRESSED:
            suppressed[o.reason] += 1
        to_counsel += o.sent_to == "counsel"
        if o.address_source:
            newer[o.defendant_id] = o.address_source.rsplit(" ", 1)[-1]
    if states:
        result.people = {s: states.get(s, 0) for s in STATES}
        result.suppressed = dict(sorted(suppressed.items()))
        result.to_counsel = to_counsel
        result.newer_addresses = newer
    langs: dict[str, int] = {}
    requested: dict[str, int] = {}
    result.letters = result.pages = 0
    for r in rows:
        result.letters += 1
        result.pages += r.pages
        langs[r.languages] = langs.get(r.languages, 0) + 1
        if r.language_requested:
            requested[r.language_requested] = requested.get(r.language_requested, 0) + 1
    result.languages = dict(sorted(langs.items()))
    result.rejected_rows = len(intake.rejected_rows)
    result.requested = dict(sorted(requested.items()))
    result.address_warnings = len(_address_warnings(intake, rows))
    result.root = root
    result.elapsed = time.perf_counter() - started


def _address_warnings(intake: Intake, rows) -> list:
    """The intake's address warnings of the people who have a letter in the batch."""
    sent = {r.defendant_id for r in rows}
    return [w for w in intake.address_warnings if w.defendant_id in sent]


def _write_outputs(folder: Path, intake: Intake, rows, failures: list[dict], root: str,
                   cfg: Config, workers: int, people: list) -> tuple[str, PrintJob]:
    """Write the batch's files; return the SHA-256 of SHA256SUMS, which covers all of them,
    and what the print files hold."""
    from letters.records import REJECTS_HEADER, write_address_warnings

    def lines():
        letters = iter(rows)  # the people's letters come first, in the rows' order
        for o in people:
            if not o.notice_id:
                yield ("", o.defendant_id, o.state, o.reason, "", "", "", "", "", "", "", "",
                       "", "")
                continue
            r = next(letters, None)
            if r is None or r.notice_id != o.notice_id:  # people must list letters first
                raise RuntimeError(f"the people's outcomes and the letters are not in the same "
                                   f"order at notice {o.notice_id}")
            yield (r.notice_id, r.defendant_id, o.state, o.reason, o.sent_to,
                   o.address_source, r.languages, r.language_requested or "", r.pages,
                   r.sha256, r.file, r.zip, r.changes, r.imb or "")

    write_csv(folder / "manifest.csv", MANIFEST_HEADER, lines())
    write_address_warnings(folder / "address-warnings.csv", _address_warnings(intake, rows))
    rejects = [(x.row, x.defendant_id, x.field, x.value, x.reason) for x in intake.rejects]
    for f in failures:
        for row in f["rows"]:
            rejects.append((row, f["defendant_id"], "letter", "", f["reason"]))
    rejects.sort(key=lambda x: (x[0], x[2]))
    write_csv(folder / "rejects.csv", REJECTS_HEADER, rejects)
    job = write_print_files(folder, rows, cfg.mailing, workers, batch=folder.name)
    sums = [(r.sha256, r.file) for r in rows]
    for rel in ["manifest.csv", "rejects.csv", "address-warnings.csv", *job.files]:
        sums.append((sha256_file(folder / rel), rel))
    text = "".join(f"{digest}  {rel}\n" for digest, rel in sorted(sums, key=lambda x: x[1]))
    replace_file(folder / "SHA256SUMS", text.encode("utf-8"))
    replace_file(folder / "ROOT", (root + "\n").encode("ascii"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest(), job
