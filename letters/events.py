"""The ledger's vocabulary: every event kind, what its payload holds, and the row it records.

Each row the ledger adds is added in the same transaction as an event whose payload repeats
every field of the row (large fields by their SHA-256), and the event log is a hash chain. So
``letters audit verify`` can check, in both directions, that every row has its event and every
event its row, with every field equal (:func:`check`): a row edited, added or removed without
its event — or an event without its row — is named, and an event edited or removed breaks the
chain. What the chain alone cannot show (its last events cut off, an older backup put back) is
shown against a head held outside the ledger (``letters audit head``).

A kind with ``table = None`` is recorded only in the event log (a void, a note, a failed letter).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Callable, Iterable


def sha256_text(text: str | bytes | None) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else (text or b"")
    return hashlib.sha256(data).hexdigest()


def jsonable(value):
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Kind:
    """One kind of event."""

    name: str
    #: what the event means, for people reading the log
    meaning: str
    #: the table of the row it records, or None
    table: str | None = None
    #: payload fields equal to the row's columns of the same name
    fields: tuple[str, ...] = ()
    #: payload field -> the row's column, where the names differ
    renamed: dict[str, str] = field(default_factory=dict)


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("batch-opened", "a batch was opened with this snapshot of its inputs", "batches",
         ("issue_date", "response_deadline", "tool_version", "policy", "inputs_sha256",
          "records_sha256", "templates_sha256", "catalogs_sha256", "config_sha256",
          "follow_up_of", "created_at", "batch_inputs_sha256")),
    Kind("translations-approved", "the catalogs and sign-offs a batch's text relies on"),
    Kind("letter-recorded", "a letter was rendered, kept and recorded", "letters",
         ("defendant_id", "languages", "language_requested", "pages", "sha256", "bytes",
          "file", "zip", "follow_up_of", "created_at", "recipient_sha256", "cases_sha256",
          "imb")),
    Kind("letter-failed", "a person's letter could not be rendered"),
    Kind("batch-complete", "a batch's root, files and people were recorded", "batch_roots",
         ("root", "created_at", "outcomes_sha256"), {"letters": "letter_count"}),
    Kind("response-recorded", "a response or returned mail was recorded", "responses",
         ("response_id", "kind", "received", "note", "recorded_by", "new_address", "reason",
          "attachment_sha256", "attachment_name", "source", "import_key", "created_at"),
         {"response_id": "id"}),
    Kind("batch-voided", "a batch was declared void: kept, marked, left out of follow-ups"),
    Kind("batch-noted", "a note was added to a batch"),
)}


def letter_cases_digest(cases: list[dict]) -> str:
    """SHA-256 over a letter's case rows, in order (what ``letter_cases`` holds for it)."""
    cols = ("docket_number", "court", "county", "offense", "disposition_date")
    return sha256_text(json.dumps([[c[k] for k in cols] for c in cases], ensure_ascii=False))


def batch_inputs_digest(rows: list[dict]) -> str:
    """SHA-256 over a batch's recorded inputs (kind, path, sha256), in (kind, path) order."""
    items = sorted((r["kind"], r["path"], r["sha256"]) for r in rows)
    return sha256_text(json.dumps(items, ensure_ascii=False))


_OUTCOME_COLUMNS = ("defendant_id", "state", "reason", "note", "notice_id", "dockets", "sent_to",
                    "address_source")


class OutcomesDigest:
    """SHA-256 over a batch's people states, in defendant order: the JSON text of the sorted
    list of their rows' values. Rows are added in any order and in parts; each is kept as its
    JSON text only, not as the row."""

    def __init__(self):
        self._items: list[tuple[str, str]] = []

    def update(self, rows: Iterable[dict]) -> None:
        for r in rows:
            item = [r[k] if r[k] is not None else "" for k in _OUTCOME_COLUMNS]
            self._items.append((item[0], json.dumps(item, ensure_ascii=False)))

    def hexdigest(self) -> str:
        items = self._items
        items.sort(key=lambda x: x[0])
        # People whose first value is the same keep the order of their whole lists.
        i = 0
        while i < len(items):
            j = i + 1
            while j < len(items) and items[j][0] == items[i][0]:
                j += 1
            if j - i > 1:
                items[i:j] = sorted(items[i:j], key=lambda x: json.loads(x[1]))
            i = j
        # json.dumps of a list is its items' texts joined by ", " in brackets
        return sha256_text("[" + ", ".join(text for _, text in items) + "]")


def outcomes_digest(rows: Iterable[dict]) -> str:
    """SHA-256 over a batch's people states, in defendant order."""
    digest = OutcomesDigest()
    digest.update(rows)
    return digest.hexdigest()


def compare(kind: Kind, payload: dict, row: dict,
            derived: dict[str, Callable[[], str]] | None = None) -> list[str]:
    """The fields where an event's payload and its row differ ('field: event X, row Y')."""
    problems = []
    derived = derived or {}
    for name in (*kind.fields, *kind.renamed):
        if name not in payload:
            problems.append(f"{name}: not in the event")
            continue
        if name in derived:
            actual = derived[name]()
        else:
            actual = jsonable(row.get(kind.renamed.get(name, name)))
        if payload[name] != actual:
            problems.append(f"{name}: event {_short(payload[name])}, row {_short(actual)}")
    return problems


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
