"""Responses and returned mail, recorded against notice IDs.

Staff record what came back for a notice: a request for counsel, an address update, a letter
returned undeliverable, and so on (``[responses] kinds`` in letters.toml). A notice ID typed
with a slip (its check symbol fails) is refused with the valid IDs one edit away that the ledger
knows. Scanned replies are kept write-once under ``<out>/attachments/``, named by their
SHA-256, which the ledger records. A bulk import records each good row once: importing the
same file again records nothing twice.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from letters import notice
from letters.config import Config
from letters.errors import LettersError, UsageError
from letters.ledger import Ledger
from letters.store import write_once

IMPORT_COLUMNS = ("notice_id", "kind", "received", "note", "by", "new_address", "reason")
RETURNED = "returned-"


class ResponseError(LettersError):
    """A response cannot be recorded as given."""


@dataclass
class ImportResult:
    recorded: int = 0
    already: int = 0
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (row, notice, reason)


class _Lookups:
    """What a bulk import reads of the ledger once, not once per row: every notice ID (to
    suggest the near ones for a mistyped ID) and each batch's issue date."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self._ids: set[str] | None = None
        self._issued: dict[int, dt.date] = {}

    def notice_ids(self) -> set[str]:
        if self._ids is None:
            self._ids = self.ledger.notice_ids()
        return self._ids

    def issued(self, batch_id: int) -> dt.date:
        if batch_id not in self._issued:
            self._issued[batch_id] = self.ledger.batch_by_id(batch_id).issue_date
        return self._issued[batch_id]


def resolve_notice(ledger: Ledger, typed: str, lookups: _Lookups | None = None) -> str:
    """The ledger's notice ID for what was typed, or an error that suggests the likely ones."""
    nid = notice.format_id(notice.compact(typed))
    if not notice.is_valid(nid):
        known = (lookups or _Lookups(ledger)).notice_ids()
        near = [x for x in notice.one_edit_away(nid) if x in known]
        hint = ("Did you mean " + " or ".join(near) + "?") if near else \
            "Check the ID on the letter or the response form."
        raise ResponseError(f"notice ID {typed!r} is not valid (its check symbol does not match)",
                            hint=hint)
    if ledger.letter(nid) is None:
        raise ResponseError(f"notice {nid} is not in the ledger",
                            hint="Check the ID, and that --out / --ledger point at the mailing.")
    return nid


def validate(cfg: Config, ledger: Ledger, *, notice_id: str, kind: str, received: dt.date,
             new_address: str = "", reason: str = "", lookups: _Lookups | None = None) -> str:
    """Check one response; return the notice ID it is for. ``lookups``: a bulk import's."""
    if kind not in cfg.responses.kinds:
        raise ResponseError(f"unknown kind {kind!r}",
                            hint="Kinds: " + ", ".join(cfg.responses.kinds))
    lookups = lookups or _Lookups(ledger)
    nid = resolve_notice(ledger, notice_id, lookups)
    if kind == "address-update" and not new_address.strip():
        raise ResponseError("an address-update needs the new address (--address)")
    if kind == "returned-undeliverable" and not reason.strip():
        raise ResponseError("a returned-undeliverable letter needs the reason (--reason)")
    row = ledger.letter(nid)
    issued = lookups.issued(row.batch_id)
    if received < issued:
        raise ResponseError(f"received {received} is before notice {nid} was issued ({issued})")
    if received > dt.date.today():
        raise ResponseError(f"received {received} is in the future")
    return nid


def store_attachment(out_dir: Path, path: Path) -> tuple[str, str]:
    """Keep a scanned reply write-once, content-addressed; return (sha256, stored name)."""
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    suffix = "".join(ch for ch in Path(path).suffix.lower() if ch.isalnum() or ch == ".")[:10]
    target = Path(out_dir) / "attachments" / digest[:2] / f"{digest}{suffix}"
    write_once(target, data)
    return digest, target.relative_to(out_dir).as_posix()


def record(cfg: Config, ledger: Ledger, out_dir: Path, *, notice_id: str, kind: str,
           received: dt.date, note: str = "", by: str = "", new_address: str = "",
           reason: str = "", attach: Path | None = None) -> str:
    """Record one response from the command line; return its notice ID."""
    nid = validate(cfg, ledger, notice_id=notice_id, kind=kind, received=received,
                   new_address=new_address, reason=reason)
    digest = name = None
    if attach is not None:
        digest, name = store_attachment(out_dir, attach)
    ledger.record_responses([{
        "notice_id": nid, "kind": kind, "received": received, "note": note,
        "recorded_by": by or _user(), "new_address": new_address, "reason": reason,
        "attachment_sha256": digest, "attachment_name": name, "source": "command line",
        "import_key": None}])
    return nid


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return "unknown"


def import_file(cfg: Config, ledger: Ledger, path: Path) -> ImportResult:
    """Record every good row of a responses CSV; reject the others with their reasons."""
    from letters.exports import read_text

    path = Path(path)
    reader = csv.DictReader(io.StringIO(read_text(path)))
    missing = [c for c in ("notice_id", "kind", "received") if c not in (reader.fieldnames or [])]
    if missing:
        raise UsageError(f"{path}: required columns missing: {', '.join(missing)}",
                         hint="Columns: " + ", ".join(IMPORT_COLUMNS))
    result = ImportResult()
    good = []
    lookups = _Lookups(ledger)
    for n, raw in enumerate(reader, start=2):
        row = {k: (raw.get(k) or "").strip() for k in IMPORT_COLUMNS}
        try:
            try:
                received = dt.date.fromisoformat(row["received"])
            except ValueError:
                raise ResponseError(f"received {row['received']!r} is not a date (YYYY-MM-DD)")
            nid = validate(cfg, ledger, notice_id=row["notice_id"], kind=row["kind"],
                           received=received, new_address=row["new_address"],
                           reason=row["reason"], lookups=lookups)
        except LettersError as exc:
            result.rejected.append((n, row["notice_id"], str(exc).replace("\n  ", " ")))
            continue
        key = hashlib.sha256(json.dumps([nid, row["kind"], received.isoformat(), row["note"],
                                         row["by"], row["new_address"], row["reason"]],
                                        ensure_ascii=False).encode()).hexdigest()
        good.append({"notice_id": nid, "kind": row["kind"], "received": received,
                     "note": row["note"], "recorded_by": row["by"] or _user(),
                     "new_address": row["new_address"], "reason": row["reason"],
                     "attachment_sha256": None, "attachment_name": None,
                     "source": f"{path.name} row {n}", "import_key": key})
    unique = {r["import_key"]: r for r in good}
    result.recorded = ledger.record_responses(list(unique.values()))
    result.already = len(good) - result.recorded
    return result


NCOA_COLUMNS = ("notice_id", "new_address", "move_date", "reason")
NCOA_KIND = "address-update"


def import_ncoa(cfg: Config, ledger: Ledger, path: Path, *,
                received: dt.date | None = None) -> ImportResult:
    """Record the mail house's NCOA (change of address) results as ``address-update``
    responses, before the next mailing: the newest-address rule (``letters.people``) then
    addresses that person's next letter to where they moved.

    Columns: notice_id (of a letter already mailed), new_address ("street, [unit,] city, ST
    ZIP"), move_date (YYYY-MM-DD) and optionally reason. Each row is recorded once, received
    on ``received`` (default today) with source "FILE row N"; importing the file again
    records nothing twice. A row whose address cannot be read is rejected, not recorded.
    """
    from letters.exports import read_text
    from letters.followup import parse_address

    path = Path(path)
    received = received or dt.date.today()
    reader = csv.DictReader(io.StringIO(read_text(path)))
    missing = [c for c in NCOA_COLUMNS[:3] if c not in (reader.fieldnames or [])]
    if missing:
        raise UsageError(f"{path}: required columns missing: {', '.join(missing)}",
                         hint="Columns: " + ", ".join(NCOA_COLUMNS) + " (reason optional)")
    if NCOA_KIND not in cfg.responses.kinds:
        raise UsageError(f"[responses] kinds has no {NCOA_KIND!r}: NCOA results cannot be "
                         "recorded", hint=f"Add {NCOA_KIND!r} to [responses] kinds.")
    result = ImportResult()
    good = []
    lookups = _Lookups(ledger)
    for n, raw in enumerate(reader, start=2):
        row = {k: (raw.get(k) or "").strip() for k in NCOA_COLUMNS}
        try:
            try:
                moved = dt.date.fromisoformat(row["move_date"])
            except ValueError:
                raise ResponseError(f"move_date {row['move_date']!r} is not a date "
                                    "(YYYY-MM-DD)") from None
            if moved > received:
                raise ResponseError(f"move_date {moved} is after the file was received "
                                    f"({received})")
            if parse_address(row["new_address"]) is None:
                raise ResponseError("new_address is not in the form 'street, [unit,] city, "
                                    "ST ZIP'")
            nid = validate(cfg, ledger, notice_id=row["notice_id"], kind=NCOA_KIND,
                           received=received, new_address=row["new_address"], lookups=lookups)
        except LettersError as exc:
            result.rejected.append((n, row["notice_id"], str(exc).replace("\n  ", " ")))
            continue
        note = f"NCOA: moved {moved.isoformat()}" + (f" ({row['reason']})" if row["reason"]
                                                     else "")
        # the same move of the same notice is one record, whenever the file is imported
        key = hashlib.sha256(json.dumps(["ncoa", nid, row["new_address"], moved.isoformat()],
                                        ensure_ascii=False).encode()).hexdigest()
        good.append({"notice_id": nid, "kind": NCOA_KIND, "received": received, "note": note,
                     "recorded_by": _user(), "new_address": row["new_address"],
                     "reason": row["reason"], "attachment_sha256": None,
                     "attachment_name": None, "source": f"NCOA {path.name} row {n}",
                     "import_key": key})
    unique = {r["import_key"]: r for r in good}
    result.recorded = ledger.record_responses(list(unique.values()))
    result.already = len(good) - result.recorded
    return result


def overdue(ledger: Ledger, *, as_of: dt.date, batch: str | None = None) -> list:
    """Letters whose deadline has passed with no answer from the person by that deadline
    (returned mail is not an answer). Letters of void batches are not overdue."""
    void = ledger.voided()
    answered: dict[str, dt.date] = {}
    for r in ledger.responses():
        if not r.kind.startswith(RETURNED):
            answered[r.notice_id] = min(answered.get(r.notice_id, r.received), r.received)
    out = []
    for b in ledger.batches():
        if batch and b.name != batch:
            continue
        if b.name in void or b.response_deadline >= as_of:
            continue
        for letter in ledger.letters(b.id):
            first = answered.get(letter.notice_id)
            if first is None or first > b.response_deadline:
                out.append((b, letter))
    return out
