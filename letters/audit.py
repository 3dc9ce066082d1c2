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
import dataclasses
import datetime as dt
import hashlib
import json
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


def verify(out_dir: Path, ledger_url: str, *, batch: str | None = None,
           rerender: bool = False, progress=None) -> tuple[list[Finding], dict]:
    """All problems found, and counts of what was checked."""
    findings: list[Finding] = []
    checked = {"batches": 0, "letters": 0, "events": 0, "rerendered": 0}
    with Ledger(ledger_url, create=False, readonly=True) as ledger:
        batches = ledger.batches()
        if batch is not None:
            batches = [b for b in batches if b.name == batch]
            if not batches:
                raise AuditError(f"no batch named '{batch}' in the ledger")
        events = ledger.events()
        checked["events"] = len(events)
        findings += [Finding(*p.split(": ", 1)) for p in ledger.chain_problems()]
        recorded = {e.notice_id: json.loads(e.payload) for e in events
                    if e.kind == "letter-recorded"}
        for b in batches:
            checked["batches"] += 1
            rows = ledger.letters(b.id)
            checked["letters"] += len(rows)
            found = _verify_batch(Path(out_dir) / b.name, b, rows, recorded,
                                  {e.notice_id for e in events if e.batch == b.name
                                   and e.kind == "letter-recorded"})
            if rerender:
                more, n = _rerender(ledger, b, rows, Path(out_dir) / b.name, progress)
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
        event = recorded.get(r.notice_id)
        if event is None:
            out.append(Finding(subject, "no event records this letter"))
        elif (event.get("sha256"), event.get("pages"), event.get("file")) != \
                (r.sha256, r.pages, r.file):
            out.append(Finding(subject, "the ledger row differs from the event that recorded it"))
    row_ids = {r.notice_id for r in rows}
    for nid in sorted(events_here - row_ids):
        out.append(Finding(f"notice {nid}", "recorded by an event but missing from the ledger"))
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
    elif root_file.read_text(encoding="ascii").strip() != root:
        out.append(Finding(f"batch {b.name}", "ROOT file does not match the letters"))
    return out


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


def _rerender(ledger: Ledger, b: BatchRow, rows, folder: Path, progress) -> tuple[list, int]:
    from letters import config as config_mod
    from letters import i18n
    from letters.compose import Composer
    from letters.pdf import render

    from importlib import resources

    out: list[Finding] = []
    for row in ledger.inputs(b.id):
        if row.kind == "font":
            data = (resources.files("letters") / "fonts" / row.path).read_bytes()
            if hashlib.sha256(data).hexdigest() != row.sha256:
                out.append(Finding(f"batch {b.name}", f"font {row.path} differs from the one "
                                   "the batch was rendered with; byte-identity cannot hold"))
    with tempfile.TemporaryDirectory(prefix="letters-audit-") as tmp:
        config_path = _workspace_from_snapshot(ledger, b, Path(tmp))
        if config_path is None or config_path.name == "<defaults>":
            cfg = config_mod.Config(root=Path(tmp))
        else:
            cfg = config_mod.load(config_path)
        i18n.clear_caches()
        composer = Composer(cfg)
        for n, r in enumerate(rows, start=1):
            recipient = recipient_from_dict(json.loads(r.recipient))
            try:
                doc = composer.compose(recipient, notice_id=r.notice_id,
                                       issue_date=b.issue_date,
                                       languages=r.languages.split(","))
                pdf = render(doc).pdf
            except LettersError as exc:
                out.append(Finding(f"notice {r.notice_id}", f"cannot be re-rendered: {exc}"))
                continue
            if hashlib.sha256(pdf).hexdigest() != r.sha256:
                out.append(Finding(f"notice {r.notice_id}", "re-rendered from the recorded "
                                   "inputs, it is not byte-identical to the retained copy"))
            if progress:
                progress(n, len(rows))
        i18n.clear_caches()
    return out, len(rows)


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
        for letter in ledger.letters():
            for c in ledger.cases_of(letter.notice_id):
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
