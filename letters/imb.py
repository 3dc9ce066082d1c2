"""The Intelligent Mail barcode (IMb) printed in the address block, and its serial numbers.

An IMb (USPS-B-3200) encodes 20 tracking digits and 0, 5, 9 or 11 routing digits in 65
four-state bars:

- barcode identifier, 2 digits (``00`` for letters; the second digit 0-4);
- service type identifier (STID), 3 digits: the class of mail and the services asked for.
  The default ``300`` is First-Class Mail with no address correction and no tracing (USPS STID
  table, postalpro.usps.com/mailing/service-type-identifiers; ``040`` is the same with
  IV-MTR tracing). The mail house or the office's USPS contact confirms the right value;
- mailer ID, 6 or 9 digits, assigned by USPS to the office or its mail house. Empty means no
  barcode is printed (``[imb] mailer_id = ""``);
- serial number, 9 digits after a 6-digit mailer ID, 6 after a 9-digit one. USPS requires
  it not to repeat for the same mailer ID within 45 days: :func:`base_serial` starts each batch
  after the highest serial its mailer ID used or planned in batches issued in the 45 days
  before it (a batch plans its serials when it opens, :data:`PLAN`, and prints them as its
  letters are made: a batch still running, or stopped and not yet resumed, keeps the serials
  it planned). Two batches opened at the same moment could plan from the same ledger state:
  the ledger refuses the second (:func:`clash`, ``Ledger.open_batch``), which plans again when
  run again;
- routing code: the recipient's ZIP code, 5 or 9 digits (the 11-digit form adds the delivery
  point, which this tool does not know).

A letter's IMb is kept as :func:`value` gives it ("00 300 999999 000000001 02134-1234" without
the dash: fields separated by spaces) in the ledger's ``letters.imb`` and in manifest.csv.
The bars come from ReportLab's ``reportlab.graphics.barcode.usps4s``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from letters.errors import UsageError

#: USPS: a serial may not repeat for a mailer ID within this many days.
UNIQUE_DAYS = 45
#: The batch input (kind, path) holding a batch's serial plan, as JSON: barcode_id,
#: service_type, mailer_id, base_serial, letters, issue_date.
PLAN = ("plan", "imb serials")


class ImbError(UsageError):
    """The IMb settings or serial numbers cannot make a valid barcode."""


@dataclass(frozen=True)
class Fields:
    """The parts of one IMb value."""

    barcode_id: str
    service_type: str
    mailer_id: str
    serial: int
    routing: str

    @property
    def tracking(self) -> str:
        return (f"{self.barcode_id}{self.service_type}{self.mailer_id}"
                f"{self.serial:0{serial_digits(self.mailer_id)}d}")


def serial_digits(mailer_id: str) -> int:
    """9 serial digits after a 6-digit mailer ID, 6 after a 9-digit one."""
    return 15 - len(mailer_id)


def largest_serial(mailer_id: str) -> int:
    return 10 ** serial_digits(mailer_id) - 1


def settings_problems(barcode_id: str, service_type: str, mailer_id: str) -> list[str]:
    """What is wrong with ``[imb]`` settings (an empty list when they can be used)."""
    problems = []
    if not re.fullmatch(r"\d[0-4]", barcode_id):
        problems.append("[imb] barcode_id must be 2 digits, the second 0-4 (\"00\" for letters)")
    if not re.fullmatch(r"\d{3}", service_type):
        problems.append("[imb] service_type must be 3 digits (the USPS service type ID)")
    if mailer_id and not re.fullmatch(r"\d{6}|\d{9}", mailer_id):
        problems.append("[imb] mailer_id must be 6 or 9 digits, or empty for no barcode")
    elif len(mailer_id) == 6 and mailer_id.startswith("9"):
        problems.append("[imb] a 6-digit mailer_id never starts with 9 (USPS gives 9-digit "
                        "IDs from 900000000)")
    elif len(mailer_id) == 9 and not mailer_id.startswith("9"):
        problems.append("[imb] a 9-digit mailer_id starts with 9")
    return problems


def routing_code(zip_code: str) -> str:
    """The routing digits of a ZIP (``02134`` or ``02134-1234``); empty when it is neither.

    >>> routing_code("02134-1234"), routing_code("02134"), routing_code("N1 9GU")
    ('021341234', '02134', '')
    """
    digits = re.sub(r"[\s-]", "", zip_code or "")
    return digits if re.fullmatch(r"\d{5}|\d{9}", digits) else ""


def value(barcode_id: str, service_type: str, mailer_id: str, serial: int, zip_code: str
          ) -> str:
    """The IMb of one letter, its fields separated by spaces.

    >>> value("00", "300", "123456", 7, "02134-1234")
    '00 300 123456 000000007 021341234'
    """
    if not 0 <= serial <= largest_serial(mailer_id):
        raise ImbError(f"IMb serial {serial} does not fit {serial_digits(mailer_id)} digits "
                       f"for mailer ID {mailer_id}",
                       hint="USPS allows 10^9 pieces per 6-digit mailer ID (10^6 per 9-digit) "
                            "in 45 days: wait, or use another mailer ID.")
    parts = [barcode_id, service_type, mailer_id, f"{serial:0{serial_digits(mailer_id)}d}"]
    routing = routing_code(zip_code)
    return " ".join(parts + ([routing] if routing else []))


def parse(text: str) -> Fields:
    """The fields of a value made by :func:`value`."""
    parts = text.split()
    if len(parts) not in (4, 5):
        raise ImbError(f"'{text}' is not an IMb value")
    return Fields(parts[0], parts[1], parts[2], int(parts[3]),
                  parts[4] if len(parts) == 5 else "")


def barcode(text: str):
    """ReportLab's USPS 4-state barcode widget for a value made by :func:`value`: bars at the
    smallest height the specification allows (a full bar 1/8 in), 22 bars per inch, clear
    zones included."""
    from reportlab.graphics.barcode.usps4s import USPS_4State

    f = parse(text)
    kw = {"routing": f.routing} if f.routing else {}
    widget = USPS_4State(f.tracking, **kw)
    widget.widthSize = 0.5
    widget.heightSize = 0.0
    return widget


def bars(text: str) -> str:
    """The 65 bars (F full, A ascender, D descender, T tracker) of an IMb value."""
    return barcode(text).barcodes


def serials(plan: dict) -> tuple[str, int, int, dt.date]:
    """A serial plan's mailer ID, first and last serial, and issue date."""
    first = int(plan["base_serial"])
    return (plan["mailer_id"], first, first + max(int(plan["letters"]), 1) - 1,
            dt.date.fromisoformat(plan["issue_date"]))


def clash(plan: dict, other: dict) -> bool:
    """Whether two batches' serial plans share a serial of the same mailer ID with issue dates
    fewer than 45 days apart."""
    mailer, first, last, issued = serials(plan)
    other_mailer, other_first, other_last, other_issued = serials(other)
    return (mailer == other_mailer and abs((issued - other_issued).days) < UNIQUE_DAYS
            and first <= other_last and other_first <= last)


def base_serial(used: list[tuple[str, dt.date]], mailer_id: str, issue_date: dt.date,
                count: int, planned: list[dict] = ()) -> int:
    """The first serial of a batch of ``count`` letters issued on ``issue_date``: one past the
    highest serial of ``mailer_id`` among ``used`` (IMb values with their batch's issue date)
    and ``planned`` (other batches' serial plans, printed or not) issued fewer than 45 days
    before it (or later), or 1 when there is none."""
    since = issue_date - dt.timedelta(days=UNIQUE_DAYS)
    highest = 0
    for text, issued in used:
        if issued <= since:
            continue
        f = parse(text)
        if f.mailer_id == mailer_id:
            highest = max(highest, f.serial)
    for plan in planned:
        mailer, _first, last, issued = serials(plan)
        if mailer == mailer_id and issued > since:
            highest = max(highest, last)
    base = highest + 1
    if base + max(count, 1) - 1 > largest_serial(mailer_id):
        raise ImbError(f"no IMb serials left for mailer ID {mailer_id}: {count} letter(s) from "
                       f"serial {base} would pass {largest_serial(mailer_id)} within "
                       f"{UNIQUE_DAYS} days",
                       hint="Mail the batch later, or give [imb] another mailer ID.")
    return base
