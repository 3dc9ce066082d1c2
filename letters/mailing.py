"""The mailing: plan a batch, render its letters in parallel, keep copies, record the ledger.

``mail()`` is the whole job behind ``letters mail``:

1. read and validate the records; snapshot and hash every input (records, templates, catalogs,
   configuration, fonts, tool versions);
2. open the batch in the ledger, or — for a batch that exists — check that its inputs are the
   same (a changed input needs a new batch name) and resume it;
3. give each recipient a notice ID, stable for (batch, defendant);
4. render the letters that are not yet recorded in worker processes; each worker writes its
   retained copy (temporary file, fsync, rename); the main process fsyncs the folder and only
   then records the copies in the ledger, a few hundred letters per transaction;
5. write ``manifest.csv``, ``SHA256SUMS``, ``rejects.csv``, the print files and ``ROOT`` (the
   RFC 6962 root over the batch's letters, also stored in the ledger).

Interrupted at any point, the same command finishes the missing letters and never makes a second
letter for a person in a batch: the ledger's (batch, defendant) key forbids it, and a copy left
on disk by an interrupted run is accepted only if it is byte-identical to the re-rendered letter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Callable, Iterable

from letters import __version__, merkle, notice
from letters.config import Config
from letters.errors import LettersError, UsageError
from letters.exports import private_dir, write_csv
from letters.ledger import BatchRow, Ledger, default_url
from letters.model import Recipient
from letters.records import Intake, read_for
from letters.printshop import write_print_files
from letters.store import (
    CopyConflict, fsync_dir, remove_stale_temporaries, replace_file, sha256_file, write_once,
)

MANIFEST_HEADER = ("notice_id", "defendant_id", "languages", "language_requested", "pages",
                   "sha256", "file", "zip", "address_changes")


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
    return json.dumps(out, sort_keys=True)


def input_snapshot(cfg: Config, records_path: Path | None, issue_date: dt.date, *,
                   records_sha: str | None = None
                   ) -> tuple[dict[str, str], list[tuple[str, str, str, bytes | None]]]:
    """Hashes of every input of a batch, and the snapshot rows kept in the ledger."""
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

    def combined(kinds) -> str:
        h = hashlib.sha256()
        for kind, path, digest, _ in inputs:
            if kind in kinds:
                h.update(f"{kind}\0{path}\0{digest}\n".encode())
        return h.hexdigest()

    records_sha = records_sha or sha256_file(records_path)
    hashes = {
        "records_sha256": records_sha,
        "templates_sha256": combined({"template"}),
        "catalogs_sha256": combined({"catalog", "signoff"}),
        "config_sha256": combined({"config", "setting"}),
    }
    everything = hashlib.sha256()
    everything.update(f"records\0{records_sha}\nissue_date\0{issue_date.isoformat()}\n"
                      f"policy\0{cfg.letter.policy}\n".encode())
    everything.update(combined({"template", "catalog", "signoff", "config", "setting", "font",
                                "tool", "plan"}).encode())
    hashes["inputs_sha256"] = everything.hexdigest()
    return hashes, inputs


# --- workers ------------------------------------------------------------------------------------

_worker: dict = {}


def _init_worker(cfg: Config, letters_dir: str) -> None:
    from letters.compose import Composer
    from letters.pdf import register_fonts

    _worker["composer"] = Composer(cfg)
    _worker["letters_dir"] = Path(letters_dir)
    register_fonts()


def recipient_json(r: Recipient) -> str:
    return json.dumps(asdict(r), ensure_ascii=False, sort_keys=True)


def render_letter(task: tuple[Recipient, str, dt.date]) -> dict:
    """Compose, render and durably keep one letter (runs in a worker process)."""
    from letters.pdf import render

    recipient, notice_id, issue_date = task
    try:
        doc = _worker["composer"].compose(recipient, notice_id=notice_id, issue_date=issue_date)
        out = render(doc)
        rel = f"letters/{notice_id}.pdf"
        # the folder is fsynced by the main process before the ledger records this copy
        digest = write_once(_worker["letters_dir"] / f"{notice_id}.pdf", out.pdf,
                            sync_dir=False)
    except (CopyConflict, OSError):
        raise  # a retained copy that differs, or a full disk: stop, never skip a person
    except LettersError as exc:
        return {"ok": False, "defendant_id": recipient.defendant_id,
                "rows": list(recipient.source_rows), "reason": str(exc).split("\n")[0]}
    except Exception as exc:  # a layout or template error for this person only
        return {"ok": False, "defendant_id": recipient.defendant_id,
                "rows": list(recipient.source_rows),
                "reason": f"recipient {recipient.defendant_id}: {type(exc).__name__}: {exc}"}
    return {
        "ok": True,
        "row": {
            "notice_id": notice_id, "defendant_id": recipient.defendant_id,
            "languages": ",".join(v.lang for v in doc.versions),
            "language_requested": recipient.language_requested, "pages": out.pages,
            "sha256": digest, "bytes": len(out.pdf), "file": rel,
            "zip": recipient.address.zip[:10], "recipient": recipient_json(recipient),
            "cases": [{"docket_number": c.docket_number, "court": c.court, "county": c.county,
                       "offense": c.offense, "disposition_date": c.disposition_date}
                      for c in recipient.cases],
        },
    }


def _results(tasks: list, cfg: Config, letters_dir: Path, workers: int) -> Iterable[dict]:
    if workers <= 1:
        _init_worker(cfg, str(letters_dir))
        for task in tasks:
            yield render_letter(task)
        return
    ctx = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(cfg, str(letters_dir))) as pool:
        chunk = max(1, min(16, len(tasks) // (workers * 8) or 1))
        yield from pool.map(render_letter, tasks, chunksize=chunk)


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


def _explain_change(old: BatchRow, new: dict[str, str], issue_date: dt.date, policy: str) -> str:
    changed = [label for key, label in (("records_sha256", "records"),
                                        ("templates_sha256", "templates"),
                                        ("catalogs_sha256", "catalogs"),
                                        ("config_sha256", "configuration"))
               if getattr(old, key) != new[key]]
    if old.issue_date != issue_date:
        changed.append(f"issue date ({old.issue_date} before)")
    if old.policy != policy:
        changed.append("language policy")
    return ", ".join(changed) or "fonts or tool versions"


def mail(cfg: Config, records_path: str | os.PathLike | None, *, batch: str,
         issue_date: dt.date | None = None, out_dir: str | os.PathLike | None = None,
         ledger_url: str | None = None, workers: int | None = None,
         progress: Callable[[int, int], None] | None = None, follow_up: str | None = None,
         follow_up_overdue: bool = False, allow_sample_signoffs: bool = False) -> MailResult:
    """Run (or resume) one mailing batch. See the module docstring.

    With ``follow_up``, the batch is planned from the ledger (``letters.followup``) instead of
    a records file.
    """
    started = time.perf_counter()
    if not batch or any(ch in batch for ch in "/\\\0") or batch in (".", ".."):
        raise UsageError(f"batch name '{batch}' cannot be used as a folder name",
                         hint="Use letters, digits, '-', '_' and '.', e.g. --batch 2026-12-notice")
    out = Path(out_dir) if out_dir else cfg.output_dir
    ledger_url = ledger_url or default_url(out)
    folder = out / batch
    letters_dir = folder / "letters"
    workers = workers or os.cpu_count() or 1

    follows: dict[str, str] = {}
    records_sha = None
    plan_input = None
    if follow_up:
        from letters.followup import plan

        if records_path is not None:
            raise UsageError("a follow-up batch is planned from the ledger: give no RECORDS")
        from letters.followup import FollowUpPlan

        with Ledger(ledger_url, create=False) as ledger:
            previous = ledger.batch(batch)
            kept = [row for row in ledger.inputs(previous.id) if row.kind == "plan"] \
                if previous else []
            if kept:
                # a resumed run replays the plan the batch was opened with, whatever was
                # recorded since
                intake = FollowUpPlan.from_json(kept[0].content)
            else:
                intake = plan(ledger, follow_up, overdue=follow_up_overdue,
                              as_of=issue_date or dt.date.today())
        follows, records_sha = intake.follows, intake.digest()
        plan_input = ("plan", "follow-up plan", records_sha, intake.to_json())
    else:
        if records_path is None:
            raise UsageError("give the RECORDS file to mail (or --follow-up BATCH)")
        records_path = Path(records_path)
        intake = read_for(cfg, records_path)
    recipients = list(intake.recipients)
    # The gate: no letter carries text that is not translated, checked and signed off.
    relied = translation_gate(cfg, recipients, allow_sample=allow_sample_signoffs)

    private_dir(letters_dir)
    with Ledger(ledger_url) as ledger:
        existing_batch = ledger.batch(batch)
        if issue_date is None:
            issue_date = existing_batch.issue_date if existing_batch else dt.date.today()
        hashes, inputs = input_snapshot(cfg, records_path, issue_date, records_sha=records_sha)
        if plan_input:
            inputs.append(plan_input)
        result = MailResult(batch=batch, folder=folder, ledger_url=ledger_url)
        if existing_batch is not None and existing_batch.inputs_sha256 != hashes["inputs_sha256"]:
            what = _explain_change(existing_batch, hashes, issue_date, cfg.letter.policy)
            raise BatchChanged(
                f"batch '{batch}' already exists and was made from other inputs (changed: {what})",
                hint="A batch is a record of exactly what was sent: give the new mailing a new "
                     "--batch name.")
        if existing_batch is None:
            existing_batch = ledger.open_batch(
                batch, issue_date=issue_date, tool_version=__version__, policy=cfg.letter.policy,
                response_deadline=issue_date + dt.timedelta(days=cfg.letter.response_days),
                hashes=hashes, inputs=inputs, translations=relied, follow_up_of=follow_up)
        bat = existing_batch
        recorded = {row.defendant_id: row for row in ledger.letters(bat.id)}
        if bat.root is not None:
            result.already_complete = True
            _summarise(result, intake, recorded.values(), bat.root, started)
            return result
        remove_stale_temporaries(letters_dir)
        _check_recorded_copies(folder, recorded.values())

        taken = ledger.notice_ids() - {row.notice_id for row in recorded.values()}
        ids = assign_notice_ids(batch, recipients, taken,
                                {d: row.notice_id for d, row in recorded.items()})
        todo = [(r, ids[r.defendant_id], issue_date) for r in recipients
                if r.defendant_id not in recorded]
        result.resumed = len(recorded)
        failures: list[dict] = []
        pending: list[dict] = []
        done = 0
        if progress:
            progress(0, len(todo))
        for res in _results(todo, cfg, letters_dir, workers):
            if res["ok"]:
                res["row"]["follow_up_of"] = follows.get(res["row"]["defendant_id"])
                pending.append(res["row"])
                result.rendered += 1
            else:
                failures.append(res)
            done += 1
            if len(pending) >= 200:
                fsync_dir(letters_dir)  # the renames are durable before the ledger says so
                ledger.record_letters(bat, pending)
                pending = []
            if progress:
                progress(done, len(todo))
        fsync_dir(letters_dir)
        ledger.record_letters(bat, pending)
        for f in failures:
            ledger.log("letter-failed", batch=batch, payload={"defendant_id": f["defendant_id"],
                                                              "reason": f["reason"]})

        rows = ledger.letters(bat.id)
        leaves = [f"{row.notice_id}\n{row.sha256}".encode() for row in rows]
        root = merkle.root(leaves).hex()
        _write_outputs(folder, intake, rows, failures, root, cfg, workers)
        # Failures are data or template problems that would fail again; they are in rejects.csv
        # and the event log, and the batch is complete without them.
        for d in (folder / "print", folder):  # the outputs are durable before the root is
            fsync_dir(d)
        ledger.close_batch(bat, root, len(rows))
        result.failed = len(failures)
        _summarise(result, intake, rows, root, started)
        return result


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


def _summarise(result: MailResult, intake: Intake, rows, root: str, started: float) -> None:
    rows = list(rows)
    result.letters = len(rows)
    result.pages = sum(r.pages for r in rows)
    langs: dict[str, int] = {}
    for r in rows:
        langs[r.languages] = langs.get(r.languages, 0) + 1
    result.languages = dict(sorted(langs.items()))
    result.rejected_rows = len(intake.rejected_rows)
    requested: dict[str, int] = {}
    for r in rows:
        if r.language_requested:
            requested[r.language_requested] = requested.get(r.language_requested, 0) + 1
    result.requested = dict(sorted(requested.items()))
    result.address_warnings = len(_address_warnings(intake, rows))
    result.root = root
    result.elapsed = time.perf_counter() - started


def _address_warnings(intake: Intake, rows) -> list:
    """The intake's address warnings of the people who have a letter in the batch."""
    sent = {r.defendant_id for r in rows}
    return [w for w in intake.address_warnings if w.defendant_id in sent]


def _address_changes(row) -> str:
    """What standardising changed in the letter's address (``letters.addresses``)."""
    return json.loads(row.recipient)["address"].get("changes", "")


def _write_outputs(folder: Path, intake: Intake, rows, failures: list[dict], root: str,
                   cfg: Config, workers: int) -> None:
    from letters.records import REJECTS_HEADER, write_address_warnings

    write_csv(folder / "manifest.csv", MANIFEST_HEADER,
              ((r.notice_id, r.defendant_id, r.languages, r.language_requested or "", r.pages,
                r.sha256, r.file, r.zip, _address_changes(r)) for r in rows))
    write_address_warnings(folder / "address-warnings.csv", _address_warnings(intake, rows))
    rejects = [(x.row, x.defendant_id, x.field, x.value, x.reason) for x in intake.rejects]
    for f in failures:
        for row in f["rows"]:
            rejects.append((row, f["defendant_id"], "letter", "", f["reason"]))
    rejects.sort(key=lambda x: (x[0], x[2]))
    write_csv(folder / "rejects.csv", REJECTS_HEADER, rejects)
    print_files = write_print_files(folder, rows, cfg.mailing.letters_per_print_file, workers)
    sums = [(r.sha256, r.file) for r in rows]
    for rel in ["manifest.csv", *print_files]:
        sums.append((sha256_file(folder / rel), rel))
    text = "".join(f"{digest}  {rel}\n" for digest, rel in sorted(sums, key=lambda x: x[1]))
    replace_file(folder / "SHA256SUMS", text.encode("utf-8"))
    replace_file(folder / "ROOT", (root + "\n").encode("ascii"))
