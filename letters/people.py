"""Who gets a letter in a batch, and what became of everyone else.

Every person in a batch's input ends in exactly one state:

- ``letter``: a letter was made for them (``sent_to`` = ``counsel`` when it went to their
  counsel of record instead);
- ``suppressed``: the office said not to mail them (a suppression file: deceased, already
  responded, excluded by the court ... — ``[suppression_reason]`` in letters.toml);
- ``rejected``: their rows could not be used (``rejects.csv`` says why), or their letter could
  not be made.

A suppression file is a CSV with the columns ``defendant_id`` and ``reason``, and optionally
``note``, ``counsel_name`` and ``counsel_address`` (``street, [unit,] city, ST ZIP``; needed for
a reason with ``to_counsel``). It is an office's decision about people, so any problem in it
stops the mailing before anything is written: mailing a person the office meant to leave out
cannot be undone.

A person's newest address: when the ledger holds an address given for them after the export
was made (an ``address-update`` response, or returned mail with a forwarding address), a new
mailing from that export uses it, and says so (:func:`newest_addresses`).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from letters.errors import InputFileError
from letters.model import Address, PackedRecipients, Recipient

LETTER, SUPPRESSED, REJECTED = "letter", "suppressed", "rejected"
STATES = (LETTER, SUPPRESSED, REJECTED)
SUPPRESSION_COLUMNS = ("defendant_id", "reason", "note", "counsel_name", "counsel_address")


@dataclass(frozen=True)
class Suppression:
    """One person the office says must not be mailed, and why."""

    defendant_id: str
    reason: str             # a key of [suppression_reason]
    note: str = ""
    counsel_name: str = ""
    counsel_address: Address | None = None
    source: str = ""        # "FILE row N"


@dataclass(frozen=True)
class Outcome:
    """What became of one person in one batch."""

    defendant_id: str       # "row N" for a row that named nobody
    state: str              # letter | suppressed | rejected
    reason: str = ""        # the suppression reason, or the first reason the rows were rejected
    note: str = ""
    notice_id: str = ""
    dockets: tuple[str, ...] = ()
    sent_to: str = ""       # "counsel" for a letter sent to counsel of record
    address_source: str = ""  # "" (the export) or "ledger response NOTICE_ID"


def read_suppressions(path: str | Path, reasons: Mapping) -> dict[str, Suppression]:
    """Read a suppression file; every problem in it is reported at once (exit 2)."""
    from letters.exports import read_text
    from letters.followup import parse_address

    path = Path(path)
    text = read_text(path)
    reader = csv.DictReader(io.StringIO(text))
    headers = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("defendant_id", "reason") if c not in headers]
    if missing:
        raise InputFileError(str(path), f"a suppression file needs the columns "
                             f"{', '.join(missing)} (it has: {', '.join(headers) or 'none'})",
                             line=1, hint="Columns: " + ", ".join(SUPPRESSION_COLUMNS))
    unknown = [h for h in headers if h not in SUPPRESSION_COLUMNS]
    if unknown:
        raise InputFileError(str(path), f"unknown column(s) {', '.join(unknown)}", line=1,
                             hint="Columns: " + ", ".join(SUPPRESSION_COLUMNS))
    out: dict[str, Suppression] = {}
    problems: list[str] = []
    for n, raw in enumerate(reader, start=2):
        # cleaned as intake cleans the records (format characters, NFC, spaces), so that an
        # ID copied with a zero-width space still names its person
        row = {k.strip().lower(): _clean(v) for k, v in raw.items() if k is not None}
        if not any(row.values()):
            continue
        did, reason = row.get("defendant_id", ""), row.get("reason", "").lower()
        if not did:
            problems.append(f"row {n}: defendant_id is blank")
            continue
        if reason not in reasons:
            problems.append(f"row {n}: reason '{row.get('reason', '')}' is not one of "
                            f"{', '.join(reasons)}")
            continue
        counsel_name = row.get("counsel_name", "")
        counsel_address = None
        if reasons[reason].to_counsel:
            counsel_address = parse_address(row.get("counsel_address", ""))
            if not counsel_name or counsel_address is None:
                problems.append(f"row {n}: reason '{reason}' sends the letter to counsel: give "
                                "counsel_name and counsel_address ('street, [unit,] city, ST "
                                "ZIP')")
                continue
        s = Suppression(did, reason, row.get("note", ""), counsel_name, counsel_address,
                        f"{path.name} row {n}")
        earlier = out.get(did)
        if earlier is not None and (earlier.reason, earlier.counsel_name,
                                    earlier.counsel_address) != (s.reason, s.counsel_name,
                                                                 s.counsel_address):
            problems.append(f"row {n}: defendant {did} is also on {earlier.source} with "
                            "another reason or counsel")
            continue
        out.setdefault(did, s)
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise InputFileError(str(path), f"{len(problems)} problem"
                             f"{'' if len(problems) == 1 else 's'} in the suppression file:\n  "
                             f"{shown}{more}",
                             hint="Fix the file and run again; nothing was mailed.")
    return out


def _clean(value) -> str:
    import unicodedata

    from letters.records import strip_format_characters

    text = value if isinstance(value, str) else " ".join(value or [])
    return " ".join(unicodedata.normalize("NFC", strip_format_characters(text)).split())


def apply_suppressions(recipients: Iterable[Recipient], suppressions: Mapping[str, Suppression],
                       reasons: Mapping) -> tuple[PackedRecipients, list[Outcome]]:
    """The recipients to mail (counsel of record in place of a represented person), and the
    people left out."""
    if not suppressions and isinstance(recipients, PackedRecipients):
        return recipients, []  # nobody to leave out: the same people, not packed again
    mailed = PackedRecipients()
    left_out: list[Outcome] = []
    for r in recipients:
        s = suppressions.get(r.defendant_id)
        if s is None:
            mailed.append(r)
        elif reasons[s.reason].to_counsel:
            mailed.append(dataclasses.replace(
                r, address=s.counsel_address,
                deliver_to={"role": "counsel", "name": s.counsel_name, "reason": s.reason,
                            "person_address": " / ".join(r.address.lines())}))
        else:
            left_out.append(Outcome(r.defendant_id, SUPPRESSED, s.reason, s.note,
                                    dockets=tuple(c.docket_number for c in r.cases)))
    return mailed, left_out


def unmatched(suppressions: Mapping[str, Suppression], people: Iterable[str]) -> list[str]:
    """Suppressed defendant IDs that are not in this batch's input (worth a warning: a typo?)."""
    present = set(people)
    return sorted(d for d in suppressions if d not in present)


# --- the newest address ---------------------------------------------------------------------

@dataclass(frozen=True)
class AddressUpdate:
    defendant_id: str
    notice_id: str          # the letter the response was recorded against
    received: dt.date
    address: Address


def newest_addresses(ledger, since: dt.date) -> tuple[dict[str, AddressUpdate], list[str]]:
    """The newest address the ledger holds for each defendant, given on or after ``since``;
    and notes on addresses that could not be read."""
    from letters.followup import parse_address

    found: dict[str, AddressUpdate] = {}
    notes: list[str] = []
    older = 0
    for did, nid, received, text in ledger.address_updates():  # oldest first
        if received < since:
            older += 1
            continue
        address = parse_address(text)
        if address is None:
            # the newest address given cannot be read: an older one is no better a guess
            found.pop(did, None)
            notes.append(f"the address recorded for notice {nid} on {received} is not in the "
                         "form 'street, [unit,] city, ST ZIP'; the export's address is used")
            continue
        found[did] = AddressUpdate(did, nid, received, address)
    if older:
        notes.append(f"{older} address update(s) in the ledger were received before the export "
                     f"date {since} and are taken to be in the export already; give "
                     "--export-date if the export is older")
    return found, notes


def use_newest(recipients: Iterable[Recipient], updates: Mapping[str, AddressUpdate]
               ) -> tuple[PackedRecipients, dict[str, str]]:
    """Recipients with their newest address; defendant_id -> the notice whose response gave it."""
    if not updates and isinstance(recipients, PackedRecipients):
        return recipients, {}
    out, changed = PackedRecipients(), {}
    for r in recipients:
        u = updates.get(r.defendant_id)
        if u is None or u.address == r.address:
            out.append(r)
            continue
        out.append(dataclasses.replace(r, address=u.address,
                                       address_source=f"ledger response {u.notice_id}"))
        changed[r.defendant_id] = u.notice_id
    return out, changed


def counts(outcomes: Iterable[Outcome]) -> dict[str, int]:
    """People per state, every state present."""
    c = Counter(o.state for o in outcomes)
    return {s: c.get(s, 0) for s in STATES}
