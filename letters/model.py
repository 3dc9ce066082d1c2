"""Plain data passed between stages: recipients, their cases, and rejected rows."""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Mapping

#: Canonical record columns, in the order exports and rejects use them.
CANONICAL_COLUMNS: tuple[str, ...] = (
    "defendant_id", "first_name", "middle_name", "last_name", "suffix",
    "address_line1", "address_line2", "city", "state", "zip",
    "language", "docket_number", "court", "county", "offense", "disposition_date",
    "disposition", "case_status", "lab", "chemist", "large_print",
    "care_of", "facility", "inmate_number",
)
REQUIRED_COLUMNS: tuple[str, ...] = (
    "defendant_id", "last_name", "address_line1", "city", "state", "zip", "docket_number",
)
NAME_COLUMNS: tuple[str, ...] = ("first_name", "middle_name", "last_name", "suffix")
#: The address a letter goes to. ``care_of`` ("Maria Lopez", printed "c/o Maria Lopez"),
#: ``facility`` and ``inmate_number`` (a person in custody: the facility's name and their
#: commitment number; address_line1 onwards are then the facility's) are optional.
ADDRESS_COLUMNS: tuple[str, ...] = ("address_line1", "address_line2", "city", "state", "zip",
                                    "care_of", "facility", "inmate_number")
CASE_COLUMNS: tuple[str, ...] = ("docket_number", "court", "county", "offense", "disposition_date",
                                  "disposition", "case_status", "lab", "chemist")
#: Case values a letter prints that are words in a language: translated per letter language
#: through the data catalogs (``letters.i18n``), with the column as the message context.
TRANSLATED_CASE_COLUMNS: tuple[str, ...] = ("court", "county", "offense", "disposition", "lab")

@dataclass(frozen=True)
class Case:
    """One affected case of a recipient, as it appears in the letter's table."""

    docket_number: str
    court: str = ""
    county: str = ""
    offense: str = ""
    disposition_date: str = ""  # ISO YYYY-MM-DD, or "" when the export had none
    source_row: int = 0         # first row of the records file that carried this case
    extra: Mapping[str, str] = field(default_factory=dict, compare=False)
    disposition: str = ""       # how the case ended: "Pleaded guilty", "Convicted after trial"...
    case_status: str = ""       # what the office decided: a key of [case_status] in letters.toml
    lab: str = ""               # the drug lab that tested the substance
    chemist: str = ""           # the chemist who tested it


@dataclass(frozen=True)
class Address:
    """A US postal address: state as its USPS code, ZIP or ZIP+4.

    From intake, standardised as USPS Publication 28 asks (``letters.addresses``): ``line1`` is
    the delivery line (street or PO box) without the unit, ``unit`` the secondary unit
    ("Apt 20"), printed at the end of the delivery line or, when that does not fit the window,
    immediately above it; ``original`` keeps the lines as the records gave them and
    ``changes`` says what standardising changed. ``line2`` is a second street line printed
    below the first: in an address intake could not standardise, or one recorded before
    addresses were standardised (those have no ``original`` and print as recorded).
    """

    line1: str
    line2: str
    city: str
    state: str
    zip: str
    unit: str = ""
    care_of: tuple[str, ...] = ()   # "c/o Maria Lopez", "Attn Records": above the street line
    facility: str = ""              # a person in custody: the facility's name
    inmate_number: str = ""         # ... and their commitment number, printed after the name
    #: The address lines as the records gave them (empty: not standardised at intake).
    original: tuple[str, ...] = ()
    #: What standardising changed, e.g. "ST for Street; APT 20 moved to the delivery line".
    changes: str = ""

    def last_line(self) -> str:
        return f"{self.city} {self.state} {self.zip}"

    def lines(self) -> list[str]:
        """The address as printed, without the recipient's name, the unit at the end of the
        delivery line (``letters.addresses.block_lines`` lays out the window)."""
        out = [self.facility] if self.facility else []
        out.extend(self.care_of)
        out.append(f"{self.line1} {self.unit}" if self.unit else self.line1)
        if self.line2:
            out.append(self.line2)
        out.append(self.last_line())
        return out


def address_from_dict(data: dict) -> Address:
    """The inverse of ``dataclasses.asdict`` for an address (lists back to tuples); an address
    recorded before addresses were standardised has only the first five fields."""
    data = dict(data)
    for key in ("care_of", "original"):
        if key in data:
            data[key] = tuple(data[key])
    return Address(**data)


@dataclass(frozen=True)
class Recipient:
    """One person who gets one letter listing all of their affected cases."""

    defendant_id: str
    first_name: str
    middle_name: str
    last_name: str
    suffix: str
    address: Address
    language: str                 # the letter language the person reads first (declared)
    cases: tuple[Case, ...]
    source_rows: tuple[int, ...]  # every records row (header = row 1) merged into this recipient
    extra: Mapping[str, str] = field(default_factory=dict, compare=False)
    #: The language the records asked for when no letter is written in it ("ht", "fr", or the
    #: value as written); such a person gets the fallback versions and the taglines.
    language_requested: str = ""
    large_print: bool = False     # the person asked for the large-print letter
    #: For a follow-up letter: {"kind": "overdue" | "returned" | "address-update",
    #: "notice_id": the letter it follows, "date": that letter's issue date (ISO)}.
    follow_up: Mapping[str, str] | None = None
    #: For a letter sent to someone else on the person's behalf: {"role": "counsel", "name":
    #: counsel's name, "reason": the suppression reason, "person_address": the person's own
    #: address}. The address above is then theirs; the letter still names the person.
    deliver_to: Mapping[str, str] | None = None
    #: Where the address came from: "" (the records) or "ledger response NOTICE_ID".
    address_source: str = ""

    @property
    def full_name(self) -> str:
        parts = [self.first_name, self.middle_name, self.last_name]
        name = " ".join(p for p in parts if p)
        return f"{name}, {self.suffix}" if self.suffix else name


@dataclass(frozen=True)
class Reject:
    """One problem with one records row. A row may have several."""

    row: int            # row number in the source file, header = row 1
    defendant_id: str
    field: str
    value: str
    reason: str


@dataclass(frozen=True)
class AddressWarning:
    """A person whose street lines could not be standardised: the letter prints them as the
    records give them, and the office may want to check them."""

    row: int            # the person's first row in the source file, header = row 1
    defendant_id: str
    address: str        # the street lines as given
    warning: str


def recipient_from_dict(data: dict) -> Recipient:
    """The inverse of ``dataclasses.asdict`` for a recipient (as the ledger keeps it)."""
    return Recipient(
        defendant_id=data["defendant_id"], first_name=data["first_name"],
        middle_name=data["middle_name"], last_name=data["last_name"], suffix=data["suffix"],
        address=address_from_dict(data["address"]), language=data["language"],
        cases=tuple(Case(**c) for c in data["cases"]),
        source_rows=tuple(data["source_rows"]), extra=dict(data.get("extra", {})),
        language_requested=data.get("language_requested", ""),
        large_print=bool(data.get("large_print", False)), follow_up=data.get("follow_up"),
        deliver_to=data.get("deliver_to"), address_source=data.get("address_source", ""))


class PackedRecipients(Sequence):
    """Recipients held compressed, in blocks of :attr:`BLOCK`, and rebuilt as they are read: a
    batch of 100,000 people keeps about 14 MB here instead of some 300 MB of objects. Appending
    and reading go in order cheaply (one block is kept open); any index can be read."""

    BLOCK = 128

    def __init__(self, recipients: Iterable[Recipient] = ()):
        self._blocks: list[bytes] = []
        self._tail: list[Recipient] = []
        self._open: tuple[int, list[Recipient]] = (-1, [])
        for r in recipients:
            self.append(r)

    def append(self, recipient: Recipient) -> None:
        self._tail.append(recipient)
        if len(self._tail) == self.BLOCK:
            self._blocks.append(zlib.compress(pickle.dumps(self._tail, 5), 1))
            self._tail = []

    def __len__(self) -> int:
        return len(self._blocks) * self.BLOCK + len(self._tail)

    def _block(self, b: int) -> list[Recipient]:
        if b == len(self._blocks):
            return self._tail
        opened = self._open
        if opened[0] != b:
            opened = self._open = (b, pickle.loads(zlib.decompress(self._blocks[b])))
        return opened[1]

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        return self._block(i // self.BLOCK)[i % self.BLOCK]

    def __iter__(self) -> Iterator[Recipient]:
        # as a list iterates: up to the length it has when each item is read, so people
        # appended meanwhile (which may close the tail into a block) are read too
        b = 0
        while b < len(self._blocks):
            yield from pickle.loads(zlib.decompress(self._blocks[b]))
            b += 1
        i = b * self.BLOCK
        while i < len(self):
            yield self[i]
            i += 1

    def __bool__(self) -> bool:
        return len(self) > 0
