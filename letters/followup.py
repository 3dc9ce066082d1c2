"""Follow-up mailings: new letters for people whose first letter came back or went unanswered.

A follow-up batch is planned from the ledger, not from a records file: every person whose
letter in the original batch came back with a new address (an ``address-update``, or returned
mail recorded with ``--address``) gets a new letter at that address; with ``overdue``, people
who did not answer by the deadline get one at their recorded address, unless their letter came
back undeliverable with no new address (mailing there again would be pointless; they are
listed instead). The ledger links each follow-up letter to the letter it follows, and the
letter itself says what it follows (``templates/en/followup-<kind>.html``: ``returned``,
``address-update`` or ``overdue``, with the first letter's date).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field

from letters.errors import UsageError
from letters.ledger import Ledger
from letters.model import Address, Recipient, Reject, recipient_from_dict

_LAST = re.compile(r"^(?P<state>[A-Za-z .]+?)\s+(?P<zip>\d{5}(?:[- ]?\d{4})?)$")


def parse_address(text: str) -> Address | None:
    """'12 Elm St, Apt 2, Lynn, MA 01902' -> Address, standardised like the records' addresses
    (``letters.addresses``); None if it is not in that form or names nothing to deliver to.

    >>> a = parse_address("12 Elm Street, Apt 2, Lynn, Massachusetts 019021234")
    >>> a.line1, a.unit, a.city, a.state, a.zip, a.changes
    ('12 Elm St', 'Apt 2', 'Lynn', 'MA', '01902-1234', 'ST for Street; APT 2 moved to the delivery line')
    >>> a.original
    ('12 Elm Street', 'Apt 2', 'Lynn MA 01902-1234')
    >>> parse_address("somewhere in Lynn") is None
    True
    >>> parse_address("14 Anna\u00adMaria\u200b Way, Lynn, MA 01902").line1
    '14 AnnaMaria Way'
    """
    from letters.addresses import standardise
    from letters.records import _STATE_LOOKUP, _address, _fold, strip_format_characters

    # as intake cleans the records: no invisible format characters (a soft hyphen, a
    # zero-width space typed or pasted with the address), composed accents
    text = unicodedata.normalize("NFC", strip_format_characters(text))
    parts = [" ".join(p.split()) for p in text.split(",") if p.strip()]
    if len(parts) < 3:
        return None
    m = _LAST.match(parts[-1])
    if not m:
        return None
    state = _STATE_LOOKUP.get(_fold(m["state"]))
    digits = re.sub(r"\D", "", m["zip"])
    if state is None:
        return None
    zipcode = digits if len(digits) == 5 else f"{digits[:5]}-{digits[5:]}"
    line1, line2, city = parts[0], ", ".join(parts[1:-2]), parts[-2]
    standard = standardise(line1, line2, city)
    if standard.reject:
        return None
    return _address(standard, {"care_of": "", "address_line1": line1, "address_line2": line2,
                               "city": city, "state": state, "zip": zipcode, "facility": "",
                               "inmate_number": ""})


@dataclass
class FollowUpPlan:
    """Duck-types the parts of an intake that the mailing uses."""

    source: str
    recipients: list[Recipient]
    follows: dict[str, str]                       # defendant_id -> original notice ID
    rejects: list[Reject] = field(default_factory=list)
    #: letters left out because a follow-up of them was mailed already: notice ID -> that
    #: follow-up's batch (not part of the plan kept in the ledger)
    already_followed: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def people(self) -> int:
        return len(self.recipients)

    @property
    def rejected_rows(self) -> set[int]:
        return {r.row for r in self.rejects}

    def rejected_people(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        from letters.records import rejected_people

        return rejected_people(self.rejects)

    @property
    def address_warnings(self) -> list:
        """None: a follow-up's addresses are the recorded ones, or a new one as given."""
        return []

    def to_json(self) -> bytes:
        """The plan as kept in the ledger, so that a resumed run replays exactly this plan."""
        return json.dumps({"source": self.source,
                           "recipients": [dataclasses.asdict(r) for r in self.recipients],
                           "follows": self.follows,
                           "rejects": [dataclasses.asdict(x) for x in self.rejects]},
                          sort_keys=True, ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> "FollowUpPlan":
        d = json.loads(data)
        return cls(d["source"], [recipient_from_dict(r) for r in d["recipients"]], d["follows"],
                   [Reject(**x) for x in d["rejects"]])

    def digest(self) -> str:
        return hashlib.sha256(self.to_json()).hexdigest()


def followed_up(ledger: Ledger, *, exclude_batch: str | None = None) -> dict[str, str]:
    """Notice ID -> the batch of a follow-up letter already made for it."""
    names = {b.id: b.name for b in ledger.batches()}
    void = ledger.voided()
    out: dict[str, str] = {}
    for row in ledger.letters():
        name = names.get(row.batch_id)
        if row.follow_up_of and name != exclude_batch and name not in void:
            out.setdefault(row.follow_up_of, names.get(row.batch_id, "?"))
    return out


def plan(ledger: Ledger, original: str, *, overdue: bool = False,
         as_of: dt.date | None = None, again: bool = False,
         exclude_batch: str | None = None) -> FollowUpPlan:
    """The follow-up of batch ``original``. A letter that was followed up already (in a batch
    other than ``exclude_batch``) is left out unless ``again``."""
    from letters.responses import RETURNED, overdue as find_overdue

    b = ledger.batch(original)
    if b is None:
        raise UsageError(f"no batch named '{original}' to follow up",
                         hint="Batches in the ledger: " + (", ".join(
                             x.name for x in ledger.batches()) or "none"))
    void = ledger.voided()
    if original in void:
        raise UsageError(f"batch '{original}' is void ({void[original].get('reason', '')}): "
                         "its letters are not followed up",
                         hint="Follow up the batch that replaced it.")
    letters = {row.notice_id: row for row in ledger.letters(b.id)}
    done = {} if again else followed_up(ledger, exclude_batch=exclude_batch)
    already: dict[str, str] = {}
    latest: dict[str, object] = {}
    moved: dict[str, object] = {}
    for r in ledger.responses():                 # in the order they were received
        if r.notice_id in letters:
            latest[r.notice_id] = r
            if r.new_address:
                # returned mail for the old address does not cancel a new one given earlier
                moved[r.notice_id] = r
    recipients, follows, rejects = [], {}, []
    for n, (nid, letter) in enumerate(sorted(letters.items()), start=1):
        r = moved.get(nid)
        if r is None:
            continue
        if nid in done:
            already[nid] = done[nid]
            continue
        address = parse_address(r.new_address)
        person = recipient_from_dict(json.loads(letter.recipient))
        if address is None:
            rejects.append(Reject(n, person.defendant_id, "new_address", r.new_address,
                                  f"new address for notice {nid} is not in the form "
                                  "'street, [unit,] city, ST ZIP'"))
            continue
        kind = "address-update" if r.kind == "address-update" else "returned"
        recipients.append(dataclasses.replace(person, address=address, follow_up={
            "kind": kind, "notice_id": nid, "date": b.issue_date.isoformat()}))
        follows[person.defendant_id] = nid
    if overdue:
        undeliverable = {nid for nid, r in latest.items()
                         if r.kind.startswith(RETURNED) and nid not in moved}
        for _, letter in find_overdue(ledger, batch=original, as_of=as_of or dt.date.today()):
            person = recipient_from_dict(json.loads(letter.recipient))
            if person.defendant_id in follows:
                continue
            if letter.notice_id in done:
                already[letter.notice_id] = done[letter.notice_id]
                continue
            if letter.notice_id in undeliverable:
                rejects.append(Reject(0, person.defendant_id, "address", "",
                                      f"notice {letter.notice_id} came back undeliverable and "
                                      "no new address is known"))
                continue
            recipients.append(dataclasses.replace(person, follow_up={
                "kind": "overdue", "notice_id": letter.notice_id,
                "date": b.issue_date.isoformat()}))
            follows[person.defendant_id] = letter.notice_id
    source = f"follow-up of {original}" + (" (overdue too)" if overdue else "")
    return FollowUpPlan(source, recipients, follows, rejects, already)
