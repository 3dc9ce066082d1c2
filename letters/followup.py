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
from dataclasses import dataclass, field

from letters.errors import UsageError
from letters.ledger import Ledger
from letters.model import Address, Recipient, Reject, recipient_from_dict

_LAST = re.compile(r"^(?P<state>[A-Za-z .]+?)\s+(?P<zip>\d{5}(?:[- ]?\d{4})?)$")


def parse_address(text: str) -> Address | None:
    """'12 Elm St, Apt 2, Lynn, MA 01902' -> Address; None if it is not in that form.

    >>> a = parse_address("12 Elm St, Apt 2, Lynn, Massachusetts 019021234")
    >>> a.line1, a.line2, a.city, a.state, a.zip
    ('12 Elm St', 'Apt 2', 'Lynn', 'MA', '01902-1234')
    >>> parse_address("somewhere in Lynn") is None
    True
    """
    from letters.records import _STATE_LOOKUP, _fold

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
    return Address(parts[0], ", ".join(parts[1:-2]), parts[-2], state, zipcode)


@dataclass
class FollowUpPlan:
    """Duck-types the parts of an intake that the mailing uses."""

    source: str
    recipients: list[Recipient]
    follows: dict[str, str]                       # defendant_id -> original notice ID
    rejects: list[Reject] = field(default_factory=list)

    @property
    def people(self) -> int:
        return len(self.recipients)

    @property
    def rejected_rows(self) -> set[int]:
        return {r.row for r in self.rejects}

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


def plan(ledger: Ledger, original: str, *, overdue: bool = False,
         as_of: dt.date | None = None) -> FollowUpPlan:
    from letters.responses import RETURNED, overdue as find_overdue

    b = ledger.batch(original)
    if b is None:
        raise UsageError(f"no batch named '{original}' to follow up")
    letters = {row.notice_id: row for row in ledger.letters(b.id)}
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
            if letter.notice_id in undeliverable:
                rejects.append(Reject(0, person.defendant_id, "address", "",
                                      f"notice {letter.notice_id} came back undeliverable and "
                                      "no new address is known"))
                continue
            recipients.append(dataclasses.replace(person, follow_up={
                "kind": "overdue", "notice_id": letter.notice_id,
                "date": b.issue_date.isoformat()}))
            follows[person.defendant_id] = letter.notice_id
    return FollowUpPlan(f"follow-up of {original}", recipients, follows, rejects)
