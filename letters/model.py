"""Plain data passed between stages: recipients, their cases, and rejected rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

#: Canonical record columns, in the order exports and rejects use them.
CANONICAL_COLUMNS: tuple[str, ...] = (
    "defendant_id", "first_name", "middle_name", "last_name", "suffix",
    "address_line1", "address_line2", "city", "state", "zip",
    "language", "docket_number", "court", "county", "offense", "disposition_date",
    "disposition", "case_status", "lab", "chemist", "large_print",
)
REQUIRED_COLUMNS: tuple[str, ...] = (
    "defendant_id", "last_name", "address_line1", "city", "state", "zip", "docket_number",
)
NAME_COLUMNS: tuple[str, ...] = ("first_name", "middle_name", "last_name", "suffix")
ADDRESS_COLUMNS: tuple[str, ...] = ("address_line1", "address_line2", "city", "state", "zip")
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
    """A US postal address, already normalised (USPS state code, ZIP or ZIP+4)."""

    line1: str
    line2: str
    city: str
    state: str
    zip: str

    def lines(self) -> list[str]:
        """The address as printed, without the recipient's name."""
        out = [self.line1]
        if self.line2:
            out.append(self.line2)
        out.append(f"{self.city} {self.state} {self.zip}")
        return out


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


def recipient_from_dict(data: dict) -> Recipient:
    """The inverse of ``dataclasses.asdict`` for a recipient (as the ledger keeps it)."""
    return Recipient(
        defendant_id=data["defendant_id"], first_name=data["first_name"],
        middle_name=data["middle_name"], last_name=data["last_name"], suffix=data["suffix"],
        address=Address(**data["address"]), language=data["language"],
        cases=tuple(Case(**c) for c in data["cases"]),
        source_rows=tuple(data["source_rows"]), extra=dict(data.get("extra", {})),
        language_requested=data.get("language_requested", ""),
        large_print=bool(data.get("large_print", False)), follow_up=data.get("follow_up"),
        deliver_to=data.get("deliver_to"), address_source=data.get("address_source", ""))
