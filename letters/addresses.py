"""The recipient's address: standardised as USPS Publication 28 asks, laid out in the window.

**Standardising** (at intake, :func:`standardise`). usaddress, a parser trained on US
addresses, labels each word of the street lines (house number, street name, street type, unit,
PO box...); Pub 28's standard forms come from usaddress-scourgify's tables: street types
(``ST`` for Street), directionals (``N`` for North), secondary unit designators (``APT`` for
Apartment, ``STE`` for Suite, ``# 4``), ``PO BOX``; periods and commas are removed. Nothing else
changes: every word of the records' street lines is printed, in its order and spelling
(scourgify's own normaliser also strips accents and characters it does not know and invents a
``UNIT`` for a bare number, which would change a legal address, so only its tables are used).
Care-of and attention lines (``c/o Maria Lopez``, ``Attn: Records``) are recognised in either
street line and in the ``care_of`` column. Street lines that do not read as a street address or
a PO box are printed as the records give them and listed as a warning; an address with no street
line left once the care-of lines are taken out is a reject.

The lines as the records gave them stay with the address (:attr:`~letters.model.Address.original`)
and what standardising changed is described in :attr:`~letters.model.Address.changes` ("ST for
Street; APT 20 moved to the delivery line"): the ledger keeps both, the manifest lists the
changes. Case is not a change: ``[address] upper_case`` decides it when the letter is printed.

**Layout** (:func:`block_lines`), from the top, in the order Pub 28 and the Massachusetts
Department of Correction ask for: the name (for a person in custody followed by the commitment
number, on the same line when both fit the window, else on the next), the facility, care-of and
attention lines, the delivery line (street or PO box) with the unit at its end — or, when that
line would not fit the window at full size, the unit on the line immediately above it —, and
``CITY ST ZIP``. In capitals with ``[address] upper_case = true`` (the default).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import usaddress
from reportlab.lib.pagesizes import letter
from reportlab.lib.units import inch
from reportlab.pdfbase import pdfmetrics
from scourgify.address_constants import (
    DIRECTIONAL_REPLACEMENTS, OCCUPANCY_TYPE_ABBREVIATIONS, STREET_TYPE_ABBREVIATIONS,
)

from letters import fonts
from letters.model import Address

PAGE_HEIGHT = letter[1]


# --- the envelope's windows ---------------------------------------------------------------------

@dataclass(frozen=True)
class Rect:
    """A rectangle in PDF points, origin at the sheet's bottom-left corner."""

    x: float
    y: float
    width: float
    height: float

    @classmethod
    def from_top(cls, left: float, top: float, width: float, height: float) -> "Rect":
        """A rectangle given in inches from the sheet's top-left corner."""
        return cls(left * inch, PAGE_HEIGHT - (top + height) * inch, width * inch, height * inch)

    def contains(self, x0: float, y0: float, x1: float, y1: float) -> bool:
        return self.x <= x0 and x1 <= self.x + self.width and self.y <= y0 and \
            y1 <= self.y + self.height


# Windows of a standard #10 double-window envelope (9½ × 4⅛ in), as they fall on a US Letter
# sheet tri-folded with the address panel outward. Text keeps ⅛ in clear of every edge so that
# it stays visible when the sheet shifts inside the envelope.
RETURN_WINDOW = Rect.from_top(0.5, 0.5, 3.5, 0.875)
ADDRESS_WINDOW = Rect.from_top(0.75, 2.0, 4.0, 1.125)
WINDOW_CLEARANCE = 0.125 * inch

FONT = fonts.DEFAULT_FAMILY
#: The address block prints at the largest size (points) at which it fits the window, down to
#: the smallest; below that the letter is not rendered.
LARGEST_SIZE = 10.5
SMALLEST_SIZE = 7.5


def fit_font_size(lines: list[str], font: str, box: Rect, *, largest: float = LARGEST_SIZE,
                  smallest: float = SMALLEST_SIZE, leading: float = 1.2,
                  reserve: float = 0.0) -> float | None:
    """The largest size at which ``lines`` fit ``box`` less the window clearance, or None.
    ``reserve``: points of the box's height kept for something else (the barcode)."""
    usable_w = box.width - 2 * WINDOW_CLEARANCE
    usable_h = box.height - 2 * WINDOW_CLEARANCE - reserve
    size = largest
    while size >= smallest:
        widest = max(pdfmetrics.stringWidth(line, font, size) for line in lines)
        if widest <= usable_w and len(lines) * size * leading <= usable_h:
            return size
        size -= 0.25
    return None


_USABLE_WIDTH = ADDRESS_WINDOW.width - 2 * WINDOW_CLEARANCE


def fits_window(text: str) -> bool:
    """Whether one line of the address block fits the window's width at full size. Measured
    in capitals, so the answer holds whichever case the block is printed in.

    >>> fits_window("65 Hancock St Apt 20")
    True
    >>> fits_window("1180 Veterans of Foreign Wars Pkwy Apt 1205B")
    False
    """
    fonts.register(FONT)
    return pdfmetrics.stringWidth(text.upper(), FONT, LARGEST_SIZE) <= _USABLE_WIDTH


# --- the block ----------------------------------------------------------------------------------

def block_lines(name: str, address: Address, *, upper_case: bool = True) -> list[str]:
    """The lines printed in the window, top to bottom (see the module's docstring).

    An address not standardised at intake (recorded by an earlier version, given in a response,
    or made by hand: no :attr:`~letters.model.Address.original`) prints as it is recorded.
    """
    if not address.original:
        return [name, *address.lines()]
    # the name line too, without the periods and commas the Postal Service strips
    # ("Jane Roe, Esq." -> "JANE ROE ESQ"); the letter itself names the person in full
    name = _without_punctuation(name)
    lines = []
    if address.inmate_number:
        joined = f"{name} {address.inmate_number}"
        lines += [joined] if fits_window(joined) else [name, address.inmate_number]
    else:
        lines.append(name)
    if address.facility:
        lines.append(address.facility)
    lines.extend(address.care_of)
    delivery = address.line1
    if address.unit:
        if unit_on_delivery_line(address.line1, address.unit):
            delivery = f"{delivery} {address.unit}"
        else:
            lines.append(address.unit)
    lines.append(delivery)
    if address.line2:
        lines.append(address.line2)
    lines.append(address.last_line())
    return [line.upper() for line in lines] if upper_case else lines


def unit_on_delivery_line(delivery: str, unit: str) -> bool:
    """Pub 28: the unit goes at the end of the delivery line, unless the line would not fit."""
    return fits_window(f"{delivery} {unit}")


# --- standardising ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Standardised:
    """What :func:`standardise` made of one address's street lines and city."""

    line1: str                     # the delivery line without the unit (or line 1 as given)
    line2: str = ""                # only when not standardised: the second line as given
    unit: str = ""
    care_of: tuple[str, ...] = ()
    city: str = ""
    changes: str = ""              # "ST for Street; APT 20 moved to the delivery line"
    warning: str = ""              # why the street lines are printed as given
    reject: str = ""               # why there is nothing to deliver to


REASON_NO_DELIVERY = "no street address or PO box: only care-of or attention lines"

_STREET = ("AddressNumberPrefix", "AddressNumber", "AddressNumberSuffix",
           "StreetNamePreModifier", "StreetNamePreDirectional", "StreetNamePreType",
           "StreetName", "StreetNamePostType", "StreetNamePostDirectional")
_BOX = ("USPSBoxGroupType", "USPSBoxGroupID", "USPSBoxType", "USPSBoxID")
_UNIT_TYPE = ("OccupancyType", "SubaddressType")
_UNIT_ID = ("OccupancyIdentifier", "SubaddressIdentifier")
_KNOWN = frozenset(_STREET + _BOX + _UNIT_TYPE + _UNIT_ID)
_STREET_SET, _BOX_SET = frozenset(_STREET), frozenset(_BOX)
_NUMBERED = frozenset({"AddressNumber", "StreetName"})
_BOXED = frozenset({"USPSBoxType", "USPSBoxID"})
_DIRECTIONAL = ("StreetNamePreDirectional", "StreetNamePostDirectional")
_STREET_TYPE = ("StreetNamePreType", "StreetNamePostType")
_DIRECTIONS = {**DIRECTIONAL_REPLACEMENTS, **{v: v for v in DIRECTIONAL_REPLACEMENTS.values()}}
_DESIGNATORS = {**OCCUPANCY_TYPE_ABBREVIATIONS,
                **{v: v for v in OCCUPANCY_TYPE_ABBREVIATIONS.values()}}
_PO_BOX = {"POBOX", "POSTOFFICEBOX", "POB", "POBX", "BOX", "POSTBOX"}
_BOX_GROUPS = {"RR": "RR", "RURALROUTE": "RR", "HC": "HC", "HCR": "HC", "HIGHWAYCONTRACT": "HC"}
_LABEL_WORDS = {"Recipient": "a name", "PlaceName": "a place name", "StateName": "a state",
                "ZipCode": "a ZIP code", "BuildingName": "a building name",
                "LandmarkName": "a landmark", "NotAddress": "not an address",
                "IntersectionSeparator": "an intersection", "CornerOf": "a corner"}

_CARE_OF = re.compile(r"(?:in\s+)?(?:c\s*/\s*o|c\.\s*o\.?|care\s+of)(?![^\W_])[\s:.,-]*", re.I)
_ATTENTION = re.compile(r"(?:attn|attention)(?![^\W_])[\s:.,-]*", re.I)


_PERIOD = re.compile(r"(?<!\d)\.|\.(?!\d)")
_SPACES_AND_COMMAS = str.maketrans("", "", " \t\n\r\f\v,")


def _without_punctuation(text: str) -> str:
    """Periods and commas removed (a decimal point stays), spaces tidied: 'P.O. Box' -> 'PO Box'.
    """
    if "." in text:
        text = _PERIOD.sub("", text)
    if "," in text:
        text = text.replace(",", " ")
    return " ".join(text.split())


def _key(text: str) -> str:
    return _without_punctuation(text).upper()


def _care_of(text: str, *, column: bool = False) -> tuple[str, str] | None:
    """A care-of or attention line as printed ("c/o Maria Lopez"), and the prefix as given;
    None if ``text`` is neither. A value of the ``care_of`` column needs no prefix."""
    for pattern, standard in ((_CARE_OF, "c/o"), (_ATTENTION, "Attn")):
        m = pattern.match(text)
        if m and text[m.end():].strip():
            rest = text[m.end():].strip()
            prefix = standard.upper() if text.isupper() else standard
            return f"{prefix} {rest}", m.group(0).strip()
    if column:
        return f"{'C/O' if text.isupper() else 'c/o'} {text}", "C/O"
    return None


def _cased(standard: str, given: str, label: str) -> str:
    """A standard form (upper case in the tables) in the style of the word it replaces."""
    if given.isupper() or label in _DIRECTIONAL or label == "USPSBoxGroupType" or \
            standard == "#":
        return standard
    if standard == "PO BOX":
        return "PO Box"
    return standard[0] + standard[1:].lower()


def _standard(label: str, text: str, boxed_group: bool) -> str | None:
    """Pub 28's form of one labelled part, in capitals; None when it has none."""
    key = _key(text)
    squeezed = key.replace(" ", "").replace("-", "")
    if label in _DIRECTIONAL:
        return _DIRECTIONS.get(squeezed)
    if label in _STREET_TYPE:
        return STREET_TYPE_ABBREVIATIONS.get(key)
    if label in _UNIT_TYPE:
        return _DESIGNATORS.get(key)
    if label == "USPSBoxType" and squeezed in _PO_BOX:
        return "BOX" if boxed_group else "PO BOX"
    if label == "USPSBoxGroupType":
        return _BOX_GROUPS.get(squeezed)
    return None


class _NotRead(Exception):
    """The street lines do not read as one street address or PO box."""


_NOT_ONE = str.maketrans("23456789", "11111111")
_EDGES = re.compile(r"(^[\W]*)|([^.\w]*$)")


def _shape(token: str) -> str:
    """A token as usaddress's tagger sees it: a number only by its length, trailing zeros and
    punctuation ('65' and '12' alike, '20' and '10' alike); any other token as it is."""
    if token.translate(_NOT_ONE) == token:
        return token
    core = _EDGES.sub("", token).lower().replace(".", "")
    return token.translate(_NOT_ONE) if core.isdigit() else token


def _shapes_tag_alike() -> bool:
    """Whether this usaddress's features see a number only by its shape (checked once: a
    version that looked at the digits themselves would not share labels between numbers)."""
    try:
        same = usaddress.tokens2features(["65", "Hancock", "St", "20"]) == \
            usaddress.tokens2features(["11", "Hancock", "St", "10"])
    except Exception:
        return False
    return bool(same)


_SHARE_LABELS = _shapes_tag_alike()
_LABELS: dict[str, tuple[str, ...]] = {}
_LABELS_KEPT = 200_000


def _tagged(joined: str) -> list[tuple[str, str]]:
    """usaddress's (token, label) pairs for ``joined``. Addresses that differ only in their
    numbers get the same labels from the tagger, so its answer is kept per shape: a large
    export has many more addresses than shapes. The answer is the same either way."""
    if not _SHARE_LABELS:
        return usaddress.parse(joined)
    tokens = usaddress.tokenize(joined)
    key = "\x1f".join(_shape(t) for t in tokens)
    labels = _LABELS.get(key)
    if labels is None:
        parsed = usaddress.parse(joined)
        labels = tuple(label for _, label in parsed)
        if len(_LABELS) < _LABELS_KEPT:
            _LABELS[key] = labels
    return list(zip(tokens, labels))


def _parse(texts: list[str]) -> list[tuple[str, str, int]]:
    """(label, text, line index) per labelled part of the street lines, in their order."""
    joined = ", ".join(texts)
    try:
        tokens = _tagged(joined)
    except Exception as exc:  # the parser's own errors; the lines are printed as given
        raise _NotRead("the parser could not read it") from exc
    if "".join(t for t, _ in tokens).translate(_SPACES_AND_COMMAS) != \
            joined.translate(_SPACES_AND_COMMAS):
        raise _NotRead("it holds characters outside any word")
    starts, at = [], 0
    for text in texts:
        starts.append(at)
        at += len(text) + 2
    parts: list[list] = []
    pos = 0
    for token, label in tokens:
        pos = joined.find(token, pos)
        line = sum(1 for s in starts if s <= pos) - 1
        pos += len(token)
        if parts and parts[-1][0] == label and parts[-1][2] == line:
            parts[-1][1] += " " + token
        else:
            parts.append([label, token, line])
    return [(label, text, line) for label, text, line in parts]


def _street(texts: list[str]) -> tuple[str, str, list[str], bool]:
    """The delivery line, the unit, what changed, and whether the unit came from elsewhere than
    the end of the delivery line. Raises :class:`_NotRead`."""
    parts = _parse(texts)
    labels = [label for label, _, _ in parts]
    found = set(labels)
    if not found <= _KNOWN:
        odd = [text for label, text, _ in parts if label not in _KNOWN]
        kinds = sorted({_LABEL_WORDS.get(label, label) for label in found - _KNOWN})
        raise _NotRead(f"'{_without_punctuation(' '.join(odd))}' read as {' or '.join(kinds)}")
    street = _NUMBERED <= found
    box = _BOXED <= found
    if street == box or (street and found & _BOX_SET) or (box and found & _STREET_SET):
        raise _NotRead("no house number and street, or PO box, found")
    order = _STREET if street else _BOX
    main = [(i, p) for i, p in enumerate(parts) if p[0] in order]
    unit = [(i, p) for i, p in enumerate(parts) if p[0] not in order]
    if len({p[0] for _, p in main}) != len(main) or \
            [p[0] for _, p in main] != sorted((p[0] for _, p in main), key=order.index):
        raise _NotRead("its parts are not in the order of a street address")
    if unit and [i for i, _ in unit] != list(range(unit[0][0], unit[0][0] + len(unit))):
        raise _NotRead("the unit splits the street address")
    if unit and unit[0][0] not in (0, len(main)):
        raise _NotRead("the unit splits the street address")

    changes: list[str] = []
    boxed_group = "USPSBoxGroupType" in labels
    words = []
    for _, (label, text, _) in main:
        plain = _without_punctuation(text)
        standard = _standard(label, text, boxed_group)
        if standard is not None and standard != plain.upper():
            words.append(_cased(standard, plain, label))
            changes.append(f"{standard} for {text.rstrip(',')}")
        else:
            words.append(plain)
    delivery = " ".join(words)

    pairs: list[list[str | None]] = []          # [designator, identifier] in Pub 28's order
    for _, (label, text, _) in unit:
        plain = _without_punctuation(text)
        if label in _UNIT_TYPE:
            standard = _standard(label, plain, False)
            word = _cased(standard, plain, label) if standard else plain
            if pairs and pairs[-1][0] is None:
                pairs[-1][0] = word
            else:
                pairs.append([word, None])
        else:
            if plain.startswith("#"):
                plain = f"# {plain[1:].strip()}".strip()
            if pairs and pairs[-1][1] is None:
                pairs[-1][1] = plain
            else:
                pairs.append([None, plain])
    for pair in pairs:  # a designator that needs no number: "Rear", "Basement"
        if pair[0] is None and pair[1] and _key(pair[1]) in _DESIGNATORS \
                and _key(pair[1]) != "#":
            standard = _DESIGNATORS[_key(pair[1])]
            pair[0], pair[1] = _cased(standard, pair[1], "OccupancyType"), None
    unit_text = " ".join(w for pair in pairs for w in pair if w)
    given_unit = " ".join(text.rstrip(",") for _, (_, text, _) in unit)
    if unit_text.replace(" ", "").upper() != \
            _without_punctuation(given_unit).replace(" ", "").upper():
        changes.append(f"{unit_text.upper()} for {given_unit}")
    delivery_line = next(line for _, (label, _, line) in main
                         if label in ("AddressNumber", "USPSBoxType"))
    moved = bool(unit) and (unit[0][0] == 0 or unit[0][1][2] != delivery_line)
    return delivery, unit_text, changes, moved


def standardise(line1: str, line2: str, city: str, care_of: str = "") -> Standardised:
    """Standardise one address's street lines and city (see the module's docstring).

    >>> s = standardise("65 Hancock Street", "Apt. 20", "Boston")
    >>> s.line1, s.unit, s.changes
    ('65 Hancock St', 'Apt 20', 'ST for Street; periods removed; APT 20 moved to the delivery line')
    >>> s = standardise("12 Water St", "c/o Ramos & Vega", "Lynn")
    >>> s.care_of, s.line1, s.changes
    (('c/o Ramos & Vega',), '12 Water St', 'C/O RAMOS & VEGA moved above the street line')
    >>> standardise("Rua São João 5", "", "Fall River").warning
    "not read as a street address or PO box ('Rua São' read as a name): printed as given"
    """
    cares: list[str] = []
    changes: list[str] = []
    if care_of:
        cares.append(_care_of(care_of, column=True)[0])
    lines = [line for line in (line1, line2) if line]
    street_lines: list[tuple[int, str]] = []
    moved_care: list[str] = []
    for i, text in enumerate(lines):
        found = _care_of(text)
        if found is None:
            street_lines.append((i, text))
            continue
        printed, prefix = found
        cares.append(printed)
        if _key(prefix).rstrip(":- ") not in ("C/O", "ATTN"):
            changes.append(f"{printed.split(' ')[0].upper()} for {prefix}")
        if street_lines:  # below the street line in the records: it goes above
            moved_care.append(f"{printed.upper()} moved above the street line")
    city_out = _without_punctuation(city)
    if not street_lines:
        return Standardised(line1, line2, care_of=tuple(cares), city=city_out,
                            reject=REASON_NO_DELIVERY)
    texts = [text for _, text in street_lines]
    try:
        delivery, unit, found, unit_moved = _street(texts)
    except _NotRead as exc:
        removed = _removed(city, city_out)
        return Standardised(texts[0], ", ".join(texts[1:]), care_of=tuple(cares), city=city_out,
                            changes="; ".join(changes + removed + moved_care),
                            warning=f"not read as a street address or PO box ({exc}): printed "
                                    "as given")
    changes += found
    changes += _removed(" ".join(texts) + " " + city, f"{delivery} {unit} {city_out}")
    if unit:
        if not unit_on_delivery_line(delivery, unit):
            changes.append(f"{unit.upper()} moved above the delivery line")
        elif unit_moved:
            changes.append(f"{unit.upper()} moved to the delivery line")
    return Standardised(delivery, "", unit, tuple(cares), city_out,
                        "; ".join(changes + moved_care))


def standardise_keys(keys: list[str]) -> list[Standardised]:
    """:func:`standardise` for each distinct key "line1\\x1fline2\\x1fcity\\x1fcare_of" of an
    export. A key without a first line (a row rejected for its missing street) or with the
    separator inside a value (a control character, which rejects its row) is not read."""
    out = []
    for key in keys:
        parts = key.split("\x1f")
        out.append(standardise(*parts) if len(parts) == 4 and parts[0] else Standardised(parts[0]))
    return out


def _removed(before: str, after: str) -> list[str]:
    kinds = [name for char, name in ((".", "periods"), (",", "commas"))
             if before.count(char) > after.count(char)]
    return [" and ".join(kinds) + " removed"] if kinds else []
