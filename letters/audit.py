"""Audit: verify retained copies and the ledger, show a notice's history, prove inclusion.

Everything here only reads: the ledger is opened read-only, so an auditor runs it on a copy of
the office's output folder and ledger. Each problem names the notice ID (or batch, or event)
it concerns.

``verify`` checks, per batch: every ledger letter has its file with the recorded SHA-256; no
file the ledger does not know; every letter matches the event that recorded it (and the other
way round); the event chain is intact; the batch root recomputes to the ledger's and to
``ROOT``; and with ``rerender``, every letter re-rendered from the inputs recorded in the ledger
is byte-identical to its retained copy.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from letters import merkle
from letters.errors import LettersError
from letters.ledger import BatchRow, Ledger
from letters.model import recipient_from_dict
from letters.responses import ResponseError, resolve_notice
from letters.store import sha256_file


class AuditError(LettersError):
    """The audit cannot run as asked (no such batch or notice): exit 2."""

    exit_code = 2


@dataclass(frozen=True)
class Finding:
    subject: str     # "notice K7M-2QX-9PT", "batch 2026-12", "event 12"
    message: str
    batch: str = ""  # the batch it concerns; "" for the event chain, which is the ledger's

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}"


def leaves(rows) -> list[bytes]:
    """Batch-root leaves: notice ID and the PDF's SHA-256, in notice-ID order."""
    return [f"{r.notice_id}\n{r.sha256}".encode() for r in sorted(rows, key=lambda r: r.notice_id)]


def parse_head(text: str) -> tuple[int, str]:
    """'COUNT:HASH' (as ``letters audit head`` prints it) -> (count, hash).

    >>> parse_head(" 12:ABCD" + "0" * 60)
    (12, 'abcd000000000000000000000000000000000000000000000000000000000000')
    """
    import re

    if not re.fullmatch(r"\s*[0-9]+\s*:\s*[0-9a-fA-F]{64}\s*", text):
        from letters.errors import UsageError

        raise UsageError(f"'{text}' is not a head: expected COUNT:HASH as `letters audit head` "
                         "prints it, e.g. 1234:9f86d0...")
    count, _, digest = text.strip().partition(":")
    return int(count), digest.strip().lower()


def head(ledger_url: str) -> tuple[int, str]:
    """(number of events, hash of the last one): file it outside the ledger."""
    with Ledger(ledger_url, create=False, readonly=True) as ledger:
        return ledger.head()


def verify(out_dir: Path, ledger_url: str, *, batch: str | None = None,
           rerender: bool = False, progress=None,
           head: tuple[int, str] | None = None,
           workers: int = 1) -> tuple[list[Finding], dict]:
    """All problems found, and counts of what was checked. ``head``: (count, hash) filed
    earlier; the ledger must extend it. ``workers``: processes that re-render."""
    findings: list[Finding] = []
    checked = {"batches": 0, "letters": 0, "events": 0, "rows": 0, "files": 0,
               "rerendered": 0}
    with Ledger(ledger_url, create=False, readonly=True) as ledger:
        batches = ledger.batches()
        if batch is not None:
            batches = [b for b in batches if b.name == batch]
            if not batches:
                raise AuditError(f"no batch named '{batch}' in the ledger")
        events = ledger.events()
        checked["events"] = len(events)
        findings += [Finding(*p.split(": ", 1)) for p in ledger.chain_problems()]
        if head is not None:
            findings += _check_head(events, *head)
        found, n = _verify_records(ledger, events, Path(out_dir), only=batch)
        findings += found
        checked["rows"] = n
        recorded = {e.notice_id: json.loads(e.payload) for e in events
                    if e.kind == "letter-recorded"}
        completed = {e.batch: json.loads(e.payload) for e in events
                     if e.kind == "batch-complete"}
        for b in batches:
            checked["batches"] += 1
            rows = ledger.letters(b.id)
            checked["letters"] += len(rows)
            found = _verify_batch(Path(out_dir) / b.name, b, rows, recorded,
                                  {e.notice_id for e in events if e.batch == b.name
                                   and e.kind == "letter-recorded"})
            files, n = _verify_files(Path(out_dir) / b.name, b, completed.get(b.name))
            found += files
            checked["files"] += n
            if rerender:
                more, n = _rerender(ledger, b, rows, Path(out_dir) / b.name, progress,
                                    workers)
                found += more
                checked["rerendered"] += n
            findings += [dataclasses.replace(f, batch=b.name) for f in found]
    return findings, checked


def _verify_batch(folder: Path, b: BatchRow, rows, recorded: dict, events_here: set
                  ) -> list[Finding]:
    out: list[Finding] = []
    known = set()
    for r in rows:
        known.add(Path(r.file).name)
        path = folder / r.file
        subject = f"notice {r.notice_id}"
        if not path.is_file():
            out.append(Finding(subject, f"retained copy missing ({r.file})"))
        elif sha256_file(path) != r.sha256:
            out.append(Finding(subject, f"retained copy does not match the ledger's SHA-256 "
                                        f"({r.file})"))
        # the row against its event: _verify_records
    letters_dir = folder / "letters"
    if letters_dir.is_dir():
        for p in sorted(letters_dir.iterdir()):
            if p.name not in known:
                out.append(Finding(f"notice {p.stem}" if p.suffix == ".pdf" else f"batch {b.name}",
                                   f"file the ledger does not know: letters/{p.name}"))
    root = merkle.root(leaves(rows)).hex()
    if b.root is None:
        out.append(Finding(f"batch {b.name}", "not complete: no root in the ledger"))
    elif b.root != root:
        out.append(Finding(f"batch {b.name}", "root in the ledger does not match its letters"))
    root_file = folder / "ROOT"
    if not root_file.is_file():
        out.append(Finding(f"batch {b.name}", "ROOT file missing"))
    elif root_file.read_text(encoding="ascii", errors="replace").strip().lower() != root:
        out.append(Finding(f"batch {b.name}", "ROOT file does not match the letters"))
    return out


def _check_head(events, count: int, digest: str) -> list[Finding]:
    """The ledger must extend the head filed outside it: its event ``count`` has ``digest``."""
    if count > len(events):
        return [Finding("ledger", f"has {len(events)} events but the head filed outside it has "
                        f"{count}: events were cut off, or an older copy was put back")]
    if count and events[count - 1].hash != digest:
        return [Finding("ledger", f"event {count} is not the one in the head filed outside it: "
                        "the log was rewritten, or another ledger was put in its place")]
    if not count and digest != "0" * 64:
        return [Finding("ledger", "the head filed outside it is not of an empty log")]
    return []


def _verify_records(ledger: Ledger, events, out_dir: Path, only: str | None = None
                    ) -> tuple[list[Finding], int]:
    """Every ledger row against the event that recorded it, in both directions, with every
    field (``letters.events``); recomputed digests; response attachments. ``only``: the rows
    and events of this batch (its letters, their cases and responses)."""
    from collections import defaultdict

    from letters.events import (
        KINDS, batch_inputs_digest, compare, letter_cases_digest, outcomes_digest, sha256_text,
    )
    from letters.mailing import input_hashes

    out: list[Finding] = []
    t = {name: ledger.rows(name) for name in ("batches", "batch_inputs", "letters",
                                             "letter_cases", "batch_roots", "responses",
                                             "outcomes")}
    if only is not None:
        keep = {b["id"] for b in t["batches"] if b["name"] == only}
        for name in ("batches",):
            t[name] = [r for r in t[name] if r["id"] in keep]
        for name in ("batch_inputs", "letters", "batch_roots", "outcomes"):
            t[name] = [r for r in t[name] if r["batch_id"] in keep]
        notices = {r["notice_id"] for r in t["letters"]}
        for name in ("letter_cases", "responses"):
            t[name] = [r for r in t[name] if r["notice_id"] in notices]
        events = [e for e in events if e.batch == only or e.notice_id in notices]
    batch_of = {b["id"]: b for b in t["batches"]}
    batch_id = {b["name"]: b["id"] for b in t["batches"]}
    inputs_of, cases_of, outcomes_of = defaultdict(list), defaultdict(list), defaultdict(list)
    for r in t["batch_inputs"]:
        inputs_of[r["batch_id"]].append(r)
    for r in t["letter_cases"]:
        cases_of[r["notice_id"]].append(r)
    for r in t["outcomes"]:
        outcomes_of[r["batch_id"]].append(r)
    by_kind: dict[str, list] = defaultdict(list)
    for e in events:
        if e.kind not in KINDS:
            out.append(Finding(f"event {e.seq}", f"unknown kind '{e.kind}'"))
        by_kind[e.kind].append(e)

    def pair(kind: str, rows: list[dict], row_key, event_key, subject, derived=None):
        """Rows and events of one kind, matched by key, compared field by field."""
        spec = KINDS[kind]
        rows_by = {}
        for r in rows:
            rows_by.setdefault(row_key(r), r)
        events_by = {}
        for e in by_kind[kind]:
            key = event_key(e)
            if key in events_by:
                out.append(Finding(subject(key), f"recorded by two '{kind}' events"))
            events_by.setdefault(key, e)
        for key, r in rows_by.items():
            e = events_by.get(key)
            if e is None:
                out.append(Finding(subject(key), f"{spec.table} row has no '{kind}' event: "
                                                 "added or changed outside letters"))
                continue
            payload = json.loads(e.payload)
            for problem in compare(spec, payload, r, derived(r) if derived else None):
                out.append(Finding(subject(key), f"{spec.table} row differs from its event "
                                                 f"(#{e.seq}) in {problem}"))
        for key in events_by.keys() - rows_by.keys():
            out.append(Finding(subject(key), f"'{kind}' event #{events_by[key].seq} has no "
                                             f"{spec.table} row: the row was removed"))

    def batch_derived(b):
        items = inputs_of[b["id"]]
        return {"batch_inputs_sha256": lambda: batch_inputs_digest(items)}

    pair("batch-opened", t["batches"], lambda r: r["name"], lambda e: e.batch,
         lambda k: f"batch {k}", batch_derived)
    pair("letter-recorded", t["letters"], lambda r: r["notice_id"], lambda e: e.notice_id,
         lambda k: f"notice {k}", lambda r: {
             "recipient_sha256": lambda: sha256_text(r["recipient"]),
             "cases_sha256": lambda: letter_cases_digest(cases_of[r["notice_id"]])})
    pair("batch-complete", t["batch_roots"],
         lambda r: batch_of[r["batch_id"]]["name"] if r["batch_id"] in batch_of else
         f"#{r['batch_id']}", lambda e: e.batch, lambda k: f"batch {k}",
         lambda r: {"outcomes_sha256": lambda: outcomes_digest(outcomes_of[r["batch_id"]])})
    pair("response-recorded", t["responses"], lambda r: r["id"],
         lambda e: json.loads(e.payload).get("response_id"), lambda k: f"response {k}")
    # each response's event names the notice it was recorded for
    by_id = {r["id"]: r for r in t["responses"]}
    for e in by_kind["response-recorded"]:
        rid = json.loads(e.payload).get("response_id")
        if rid in by_id and by_id[rid]["notice_id"] != e.notice_id:
            out.append(Finding(f"response {rid}", f"responses row differs from its event "
                                                  f"(#{e.seq}) in notice_id: event "
                                                  f"{e.notice_id}, row {by_id[rid]['notice_id']}"))
    # each letter's event names the batch it belongs to
    letter_of: dict = {}
    for r in t["letters"]:
        letter_of.setdefault(r["notice_id"], r)
    for e in by_kind["letter-recorded"]:
        row = letter_of.get(e.notice_id)
        if row is not None and batch_id.get(e.batch) != row["batch_id"]:
            out.append(Finding(f"notice {e.notice_id}", "the ledger puts it in another batch "
                                                        "than its event"))
    for nid in sorted(set(cases_of) - {r["notice_id"] for r in t["letters"]}
                      if only is None else ()):
        out.append(Finding(f"notice {nid}", "case rows for a letter the ledger does not have"))
    # the recorded inputs hash to what the batch says, and the batch hashes to its inputs
    for b in t["batches"]:
        for r in inputs_of[b["id"]]:
            if r["content"] is None and r["kind"] != "font":  # fonts are checked by re-rendering
                out.append(Finding(f"batch {b['name']}", f"recorded input {r['path']} has no "
                                                         "content"))
            elif r["content"] is not None and \
                    hashlib.sha256(r["content"]).hexdigest() != r["sha256"]:
                out.append(Finding(f"batch {b['name']}", f"recorded input {r['path']} does "
                                                         "not match its SHA-256"))
        again = input_hashes(b["records_sha256"], b["issue_date"], b["policy"],
                             [(r["kind"], r["path"], r["sha256"]) for r in inputs_of[b["id"]]])
        for name, value in again.items():
            if b[name] != value:
                out.append(Finding(f"batch {b['name']}", f"{name} is not the hash of its "
                                                         "recorded inputs"))
        if b["response_deadline"] < b["issue_date"]:
            out.append(Finding(f"batch {b['name']}", "response deadline before the issue date"))
    # scanned replies are kept content-addressed: each exists and hashes to its name
    for r in t["responses"]:
        if not r["attachment_sha256"]:
            continue
        path = out_dir / (r["attachment_name"] or "")
        subject = f"notice {r['notice_id']}"
        if not r["attachment_name"] or not path.is_file():
            out.append(Finding(subject, f"attachment missing ({r['attachment_name']})"))
        elif sha256_file(path) != r["attachment_sha256"] or \
                not path.name.startswith(r["attachment_sha256"]):
            out.append(Finding(subject, f"attachment changed ({r['attachment_name']})"))
    # name the batch each finding concerns, for the report's per-batch counts
    notice_batch = {r["notice_id"]: batch_of[r["batch_id"]]["name"] for r in t["letters"]
                    if r["batch_id"] in batch_of}
    named = []
    for f in out:
        kind, _, what = f.subject.partition(" ")
        name = what if kind == "batch" else notice_batch.get(what, "") if kind == "notice" else ""
        named.append(dataclasses.replace(f, batch=name))
    return named, sum(len(rows) for rows in t.values())


def _verify_files(folder: Path, b: BatchRow, completed: dict | None
                  ) -> tuple[list[Finding], int]:
    """SHA256SUMS covers every file the batch wrote, each matches, and SHA256SUMS is the one
    the batch's completion recorded; temporary files left behind are reported."""
    out: list[Finding] = []
    subject = f"batch {b.name}"
    for d in (folder, folder / "print", folder / "letters"):
        if d.is_dir():
            for p in sorted(d.glob(".*.tmp")):
                out.append(Finding(subject, f"temporary file left behind: "
                                            f"{p.relative_to(folder).as_posix()} (resuming the "
                                            "batch removes it)"))
    if b.root is None:
        return out, 0
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        return out + [Finding(subject, "SHA256SUMS missing")], 0
    data = sums.read_bytes()
    expected = (completed or {}).get("sums_sha256")
    if expected is None:
        out.append(Finding(subject, "its completion event does not record SHA256SUMS"))
    elif hashlib.sha256(data).hexdigest() != expected:
        out.append(Finding(subject, "SHA256SUMS is not the one recorded when the batch was "
                                    "completed"))
    listed: dict[str, str] = {}
    for line in data.decode("utf-8", errors="replace").splitlines():
        digest, _, rel = line.partition("  ")
        listed[rel] = digest
    for rel, digest in sorted(listed.items()):
        if rel.startswith("letters/"):
            continue  # checked against the ledger, with the notice ID named
        path = folder / rel
        if not path.is_file():
            out.append(Finding(subject, f"{rel} missing"))
        elif sha256_file(path) != digest:
            out.append(Finding(subject, f"{rel} changed since the batch was completed"))
    present = [p for p in [folder / "manifest.csv", folder / "rejects.csv",
                           folder / "address-warnings.csv",
                           *sorted((folder / "print").glob("*"))] if p.is_file()
               and not p.name.startswith(".")]
    for p in present:
        rel = p.relative_to(folder).as_posix()
        if rel not in listed:
            out.append(Finding(subject, f"{rel} is not covered by SHA256SUMS"))
    return out, len(listed)


def _workspace_from_snapshot(ledger: Ledger, b: BatchRow, target: Path) -> Path:
    """Lay out the batch's recorded templates, catalogs and configuration as a workspace."""
    config_path = None
    for row in ledger.inputs(b.id):
        if row.content is None or row.kind in ("tool", "setting", "plan"):
            continue
        path = target / row.path
        if not path.resolve().is_relative_to(target.resolve()):
            raise AuditError(f"batch {b.name}: recorded input path {row.path!r} is not relative")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(row.content)
        if row.kind == "config":
            config_path = path
    return config_path


def _rerender(ledger: Ledger, b: BatchRow, rows, folder: Path, progress,
              workers: int = 1) -> tuple[list, int]:
    from letters import config as config_mod

    from importlib import resources

    from letters.glyphs import INPUT as CHARSET

    out: list[Finding] = []
    charset = ""
    recorded: dict = {}
    for row in ledger.inputs(b.id):
        if (row.kind, row.path) == CHARSET and row.content is not None:
            charset = row.content.decode("utf-8", errors="replace")
        if (row.kind, row.path) == ("tool", "versions") and row.content is not None:
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                recorded = json.loads(row.content)
        if row.kind == "font":
            data = (resources.files("letters") / "fonts" / row.path).read_bytes()
            if hashlib.sha256(data).hexdigest() != row.sha256:
                out.append(Finding(f"batch {b.name}", f"font {row.path} differs from the one "
                                   "the batch was rendered with; byte-identity cannot hold"))
    _remove_abandoned_workspaces()
    with tempfile.TemporaryDirectory(prefix=f"{_WORKSPACE_PREFIX}{os.getpid()}-") as tmp, \
            _in_use(Path(tmp)):
        config_path = _workspace_from_snapshot(ledger, b, Path(tmp))
        if config_path is None or config_path.name == "<defaults>":
            cfg = config_mod.Config(root=Path(tmp))
        else:
            cfg = config_mod.load(config_path)
        tasks = [(r.recipient, r.notice_id, b.issue_date, r.languages, r.imb, r.sha256)
                 for r in rows]
        differ = 0
        for n, (nid, problem) in enumerate(_rerendered(tasks, cfg, charset, workers, b.name),
                                           start=1):
            if problem:
                out.append(Finding(f"notice {nid}", problem))
                differ += problem.startswith(NOT_IDENTICAL)
            if progress:
                progress(n, len(rows))
    if differ:
        why = _other_renderer(recorded if isinstance(recorded, dict) else {})
        if why:
            out.insert(0, Finding(f"batch {b.name}", f"{differ} re-rendered letter(s) differ "
                                  f"from their copies, and {why}"))
    return out, len(rows)


#: How a re-rendered letter that differs from its copy is reported.
NOT_IDENTICAL = "re-rendered from the recorded inputs, it is not byte-identical"


def _other_renderer(recorded: dict) -> str:
    """Why a batch's letters may re-render to other bytes here ("" if nothing says so): its
    copies were made by another renderer (``letters.pdf.RENDERER``) or ReportLab."""
    from letters.mailing import RENDERER_KEY, _versions
    from letters.pdf import RENDERER

    now = json.loads(_versions())
    then = recorded.get(RENDERER_KEY)
    if then is None:
        return ("the batch was made by an earlier letters, before renderer numbers were "
                f"recorded (this is renderer {RENDERER}): they may differ for that reason "
                "alone. Re-render with the letters that made the batch to check them byte "
                "for byte")
    reasons = []
    if str(then) != str(RENDERER):
        reasons.append(f"letters renderer {then} (this is renderer {RENDERER})")
    if recorded.get("reportlab") not in (None, now.get("reportlab")):
        reasons.append(f"ReportLab {recorded['reportlab']} (this is {now.get('reportlab')})")
    if not reasons:
        return ""
    return ("the batch was made with " + " and ".join(reasons) + ": they may differ for that "
            "reason alone. Re-render with the versions the batch records to check them byte "
            "for byte")


#: A re-rendering's workspace (the batch's templates, catalogs and settings from the ledger)
#: is a temporary folder named after the audit's process, holding a file the audit keeps
#: locked while it runs.
_WORKSPACE_PREFIX = "letters-audit-"
_WORKSPACE_NAME = re.compile(re.escape(_WORKSPACE_PREFIX) + r"([1-9]\d{0,9})-[^/]+")
_IN_USE = ".in-use"


@contextlib.contextmanager
def _in_use(folder: Path):
    """Hold ``folder``'s lock for the time of the block (the kernel lets go of it when the
    process ends, however it ends)."""
    import fcntl

    fd = os.open(folder / _IN_USE, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _abandoned(path: Path) -> bool:
    """Whether ``path`` is a workspace no running audit uses: a folder of this user's (not a
    link), whose lock nobody holds; one without a lock yet, whose process has ended."""
    import fcntl
    import stat

    from letters.processes import _alive

    m = _WORKSPACE_NAME.fullmatch(path.name)
    if m is None:
        return False
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        return False
    try:
        fd = os.open(path / _IN_USE, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return not _alive(int(m.group(1)))  # made, not locked yet: by its process
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # an audit is using it
    finally:
        os.close(fd)
    return True


def _remove_abandoned_workspaces() -> int:
    """Remove the workspaces that audits killed before they could clean up (kill -9, power
    loss) left in the temporary folder: this user's, that no running audit holds. How many."""
    removed = 0
    try:
        found = list(Path(tempfile.gettempdir()).glob(f"{_WORKSPACE_PREFIX}*-*"))
    except OSError:
        return 0
    for path in found:
        try:
            if not _abandoned(path):
                continue
        except (OSError, ValueError, OverflowError):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += not os.path.lexists(path)
    return removed


_rerenderer: dict = {}
#: Fewer letters than this are re-rendered in this process: starting workers (each imports
#: and warms up for about a second) would take longer than the letters.
POOL_FROM = 200


def _init_rerender(cfg, charset: str, main_pid: int | None = None) -> None:
    from letters import i18n
    from letters.compose import Composer
    from letters.pdf import register_fonts
    from letters.processes import collect_less, exit_with_parent

    if main_pid is not None:  # a pool worker ends with the audit that started it
        exit_with_parent(main_pid)
        collect_less()
    i18n.clear_caches()  # the batch's own catalogs, not ones read earlier in this process
    _rerenderer.update(composer=Composer(cfg), charset=charset)
    register_fonts()


def _rerender_one(task: tuple) -> tuple[str, str]:
    """Re-render one recorded letter; its notice ID and what is wrong with it ("" if nothing)."""
    from letters.pdf import render

    recipient_text, nid, issue_date, languages, imb, sha256 = task
    try:
        recipient = recipient_from_dict(json.loads(recipient_text))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return nid, f"cannot be re-rendered: its recorded recipient is unreadable ({exc})"
    try:
        doc = _rerenderer["composer"].compose(recipient, notice_id=nid, issue_date=issue_date,
                                              languages=(languages or "").split(","))
        doc.imb = imb
        doc.charset = _rerenderer["charset"]
        pdf = render(doc).pdf
    except LettersError as exc:
        return nid, f"cannot be re-rendered: {exc}"
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        # a recorded recipient whose fields are not what a letter is made from (a number
        # for a name): a finding for this letter, not the end of the audit
        return nid, ("cannot be re-rendered from its recorded recipient: "
                     f"{type(exc).__name__}: {exc}")
    if hashlib.sha256(pdf).hexdigest() != sha256:
        return nid, f"{NOT_IDENTICAL} to the retained copy"
    return nid, ""


def _rerendered(tasks: list, cfg, charset: str, workers: int, batch: str = ""):
    """Each task's (notice ID, problem), in task order: in this process, or in a pool of
    ``workers`` processes (as `letters mail` renders; a letter's bytes do not depend on which
    process renders it)."""
    from letters import i18n

    if workers <= 1 or len(tasks) < POOL_FROM:
        _init_rerender(cfg, charset)
        try:
            yield from map(_rerender_one, tasks)
        finally:
            i18n.clear_caches()
        return
    from concurrent.futures.process import BrokenProcessPool

    from letters.mailing import pooled

    done = 0
    try:
        for result in pooled(tasks, min(workers, len(tasks)), _init_rerender,
                             (cfg, charset, os.getpid()), _rerender_one):
            done += 1
            yield result
    except BrokenProcessPool:
        what = (f"re-rendering stopped after {done} of {len(tasks)} letters: a re-rendering "
                "process ended abruptly (out of memory?)" if done else
                "re-rendering could not start: a re-rendering process ended before its first "
                "letter")
        raise AuditError(f"batch {batch}: {what}",
                         hint="Run the same command again with fewer --workers (--workers 1 "
                              "re-renders in this process).") from None


def _letter(ledger: Ledger, typed: str):
    """The ledger's letter for a notice ID as typed, and its batch; a mistyped ID is refused
    with the IDs one slip away that the ledger knows."""
    try:
        notice_id = resolve_notice(ledger, typed)
    except ResponseError as exc:
        raise AuditError(exc.message, hint=exc.hint) from None
    row = ledger.letter(notice_id)
    return row, ledger.batch_by_id(row.batch_id)


@dataclass
class Linked:
    """Another letter of the same story: one this letter follows, or one that follows it."""

    notice_id: str
    batch: str
    issued: dt.date | None
    kind: str = ""    # why the follow-up was written: overdue, returned, address-update


@dataclass
class History:
    """The whole recorded story of one notice (``letters audit show``)."""

    letter: Any                 # the ledger's row
    batch: BatchRow
    recipient: dict             # the data the letter was made from, as the ledger keeps it
    cases: list                 # the ledger's case rows, in the letter's order
    responses: list             # every response recorded for it, oldest first
    follows: Linked | None      # the letter it follows up
    followed_by: list[Linked]   # the letters that follow it up
    events: list                # the events that name it

    @property
    def name(self) -> str:
        return recipient_from_dict(self.recipient).full_name

    @property
    def counsel(self) -> dict | None:
        """Who the letter went to instead of the person (counsel of record), if anyone."""
        return self.recipient.get("deliver_to") or None

    @property
    def addressed_to(self) -> list[str]:
        """The name and address the letter was sent to."""
        r = recipient_from_dict(self.recipient)
        return [self.counsel["name"] if self.counsel else r.full_name, *r.address.lines()]

    @property
    def address_source(self) -> str:
        """Where the address came from when not from the records ("ledger response ID")."""
        return self.recipient.get("address_source", "")

    @property
    def original_address(self) -> list[str]:
        """The address lines as the records gave them, when they were standardised."""
        return list(self.recipient["address"].get("original") or [])


def show(ledger_url: str, notice_id: str) -> History:
    """The whole recorded history of one notice: to whom and where it went, its cases, every
    response, the letters it follows and that follow it, and its events."""
    with Ledger(ledger_url, create=False, readonly=True) as ledger:
        row, b = _letter(ledger, notice_id)
        nid = row.notice_id
        recipient = json.loads(row.recipient)

        def linked(other, kind: str = "") -> Linked:
            ob = ledger.batch_by_id(other.batch_id)
            return Linked(other.notice_id, ob.name, ob.issue_date, kind)

        follows = None
        if row.follow_up_of:
            earlier = ledger.letter(row.follow_up_of)
            kind = (recipient.get("follow_up") or {}).get("kind", "")
            follows = (linked(earlier, kind) if earlier is not None else
                       Linked(row.follow_up_of, "(not in this ledger)", None, kind))
        return History(
            letter=row, batch=b, recipient=recipient, cases=ledger.cases_of(nid),
            responses=ledger.responses(notice_id=nid), follows=follows,
            followed_by=[linked(x, (json.loads(x.recipient).get("follow_up") or {})
                                .get("kind", "")) for x in ledger.letters(follow_up_of=nid)],
            events=ledger.events(notice_id=nid))


def prove(ledger_url: str, notice_id: str) -> dict:
    """An RFC 6962 inclusion proof that the letter is in its batch's filed root."""
    with Ledger(ledger_url, create=False, readonly=True) as ledger:
        row, b = _letter(ledger, notice_id)
        notice_id = row.notice_id
        if b.root is None:
            raise AuditError(f"batch {b.name} is not complete: it has no root yet")
        rows = sorted(ledger.letters(b.id), key=lambda r: r.notice_id)
    hashes = [merkle.leaf_hash(x) for x in leaves(rows)]
    index = [r.notice_id for r in rows].index(notice_id)
    proof = merkle.inclusion_proof(index, hashes)
    return {
        "format": "letters inclusion proof (RFC 6962)",
        "batch": b.name, "notice_id": notice_id, "sha256": row.sha256,
        "leaf": f"{notice_id}\n{row.sha256}", "leaf_index": index, "tree_size": len(rows),
        "proof": [base64.b64encode(p).decode() for p in proof], "root": b.root,
    }


def verify_proof(proof: dict, *, pdf: bytes | None = None, root: str | None = None) -> list[str]:
    """Problems with a proof (empty when it holds). With ``pdf``, the file must be the letter;
    with ``root``, the proof must lead to that root (e.g. the one filed with the court)."""
    problems = []
    try:
        leaf = f"{proof['notice_id']}\n{proof['sha256']}".encode()
        path = [base64.b64decode(p, validate=True) for p in proof["proof"]]
        ok = merkle.verify_inclusion(int(proof["leaf_index"]), int(proof["tree_size"]),
                                     merkle.leaf_hash(leaf), path, bytes.fromhex(proof["root"]))
    except (KeyError, ValueError, TypeError) as exc:
        return [f"not a readable proof ({exc})"]
    if not ok:
        problems.append("the proof does not lead from this letter to the root")
    if pdf is not None and hashlib.sha256(pdf).hexdigest() != proof["sha256"]:
        problems.append("the PDF given is not the letter the proof is about (SHA-256 differs)")
    if root is not None and root.strip().lower() != proof["root"].lower():
        problems.append("the proof leads to another root than the one given")
    return problems


@dataclass
class Reconciliation:
    never_noticed: list[str]          # on the court's list, in no letter
    not_on_list: list[tuple[str, str]]  # (docket, notice ID) noticed but not on the list
    returned_without_follow_up: list[tuple[str, str]]  # (notice ID, kind)
    #: on the list, no letter, the person suppressed: (docket, defendant, reason, batch)
    suppressed: list[tuple[str, str, str, str]] = dataclasses.field(default_factory=list)
    #: on the list, no letter, the person's rows rejected: (docket, defendant, reason, batch)
    rejected: list[tuple[str, str, str, str]] = dataclasses.field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Every docket has a letter or a person the office decided not to mail."""
        return not (self.never_noticed or self.not_on_list or self.returned_without_follow_up
                    or self.rejected)


def read_court_list(path: Path) -> set[str]:
    """Docket numbers from the court's list (a CSV with a docket column)."""
    import csv

    from letters.records import _header_key

    from letters.exports import read_text

    path = Path(path)
    reader = csv.reader(read_text(path).splitlines())
    header = next(reader, [])
    keys = [_header_key(h) for h in header]
    for name in ("docket_number", "docket", "docket_no", "case_number"):
        if name in keys:
            col = keys.index(name)
            break
    else:
        raise AuditError(f"{path}: no docket column (looked for docket_number, docket, "
                         "docket_no, case_number)", hint="Columns found: " + ", ".join(header))
    return {" ".join(row[col].split()) for row in reader if len(row) > col and row[col].strip()}


def reconcile(ledger_url: str, court_list: Path) -> Reconciliation:
    dockets = read_court_list(court_list)
    with Ledger(ledger_url, create=False, readonly=True) as ledger:
        noticed: dict[str, str] = {}
        follow_ups: set[str] = set()
        cases = ledger.cases_by_notice()
        for letter in ledger.letters():
            for c in cases.get(letter.notice_id, ()):
                noticed.setdefault(c.docket_number, letter.notice_id)
            if letter.follow_up_of:
                follow_ups.add(letter.follow_up_of)
        returned = [(r.notice_id, r.kind) for r in ledger.responses()
                    if r.kind.startswith("returned-") or r.kind == "address-update"]
        left_out: dict[str, tuple[str, str, str, str]] = {}
        for o in ledger.outcomes():
            if o.state in ("suppressed", "rejected"):
                for d in json.loads(o.dockets):
                    # the newest batch that left the person out says why
                    left_out[d] = (o.state, o.defendant_id, o.reason, o.batch)
    unnoticed = dockets - set(noticed)
    accounted = {d: left_out[d] for d in unnoticed if d in left_out}
    return Reconciliation(
        suppressed=sorted((d, who, why, b) for d, (state, who, why, b) in accounted.items()
                          if state == "suppressed"),
        rejected=sorted((d, who, why, b) for d, (state, who, why, b) in accounted.items()
                        if state == "rejected"),
        never_noticed=sorted(unnoticed - set(accounted)),
        not_on_list=sorted((d, n) for d, n in noticed.items() if d not in dockets),
        returned_without_follow_up=sorted({(n, k) for n, k in returned if n not in follow_ups}),
    )
