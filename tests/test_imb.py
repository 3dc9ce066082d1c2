"""The Intelligent Mail barcode: its bars (against USPS-B-3200's examples and a decoder written
from the specification), its serial numbers across batches, and its place in the window."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json

import pdfplumber
import pytest
from reportlab.graphics.barcode.usps4s import USPS_4State

from letters import config, imb
from letters.addresses import WINDOW_CLEARANCE
from letters.audit import verify
from letters.compose import Composer
from letters.errors import LettersError
from letters.ledger import Ledger
from letters.mailing import input_snapshot, mail, plan_batch
from letters.model import Address
from letters.pdf import ADDRESS_WINDOW, PAGE_HEIGHT, address_layout, render
from tests.conftest import ROOT
from tests.test_mailing import small_records
from tests.test_pdf import person

# USPS-B-3200, appendix: tracking 01234567094987654321 with each length of routing code.
SPEC = [
    ("", "ATTFATTDTTADTAATTDTDTATTDAFDDFADFDFTFFFFFTATFAAAATDFFTDAADFTFDTDT"),
    ("01234", "DTTAFADDTTFTDTFTFDTDDADADAFADFATDDFTAAAFDTTADFAAATDFDTDFADDDTDFFT"),
    ("012345678", "ADFTTAFDTTTTFATTADTAAATFTFTATDAAAFDDADATATDTDTTDFDTDATADADTDFFTFA"),
    ("01234567891", "AADTFFDFTDADTAADAATFDTDDAAADDTDTTDAFADADDDTFFFDDTTTADFAAADFTDAADA"),
]
TRACKING = "01234567094987654321"


@pytest.mark.parametrize("routing,expected", SPEC)
def test_usps4s_gives_the_specifications_bars(routing, expected):
    widget = USPS_4State(TRACKING, routing) if routing else USPS_4State(TRACKING)
    assert widget.barcodes == expected
    assert decode(expected) == (TRACKING, routing)


# --- a decoder, from the specification ------------------------------------------------------

def _n_of_13(n: int, size: int) -> list[int]:
    """USPS-B-3200 tables I and II: 13-bit characters with n bits on, paired with their
    reversals from the front, palindromes from the back."""
    table, low, high = [0] * size, 0, size - 1
    for count in range(8192):
        if bin(count).count("1") != n:
            continue
        rev = int(f"{count:013b}"[::-1], 2)
        if rev < count:
            continue
        if rev == count:
            table[high] = count
            high -= 1
        else:
            table[low], table[low + 1] = count, rev
            low += 2
    return table


TABLE1 = {c: i for i, c in enumerate(_n_of_13(5, 1287))}
TABLE2 = {c: i + 1287 for i, c in enumerate(_n_of_13(2, 78))}


def _crc11(data: int) -> int:
    """The frame check sequence: CRC-11 (generator 0xF35) over the 102-bit binary value."""
    poly, fcs = 0xF35, 0x7FF
    raw = data.to_bytes(13, "big")
    byte = raw[0] << 5
    for _ in range(2, 8):
        fcs = ((fcs << 1) ^ poly if (fcs ^ byte) & 0x400 else fcs << 1) & 0x7FF
        byte <<= 1
    for b in raw[1:]:
        byte = b << 3
        for _ in range(8):
            fcs = ((fcs << 1) ^ poly if (fcs ^ byte) & 0x400 else fcs << 1) & 0x7FF
            byte <<= 1
    return fcs


def decode(bars: str) -> tuple[str, str]:
    """Tracking and routing digits of 65 bars (the specification's steps, in reverse)."""
    assert len(bars) == 65 and set(bars) <= set("ATDF")
    chars = [0] * 10
    # table IV: each bar is a descender bit (from one character) and an ascender bit (another)
    for bar, (dc, db, ac, ab) in zip(bars, USPS_4State.table4):
        if bar in "DF":
            chars[dc] |= 1 << db
        if bar in "AF":
            chars[ac] |= 1 << ab
    fcs, words = 0, []
    for i, c in enumerate(chars):
        if c not in TABLE1 and c not in TABLE2:
            c, fcs = ~c & 0x1FFF, fcs | (1 << i)
        words.append(TABLE1[c] if c in TABLE1 else TABLE2[c])
    if words[0] > 658:
        words[0] -= 659
        fcs |= 1 << 10
    assert words[9] % 2 == 0, "codeword J carries the orientation: even"
    words[9] //= 2
    value = words[0]
    for w in words[1:9]:
        value = value * 1365 + w
    value = value * 636 + words[9]
    assert _crc11(value) == fcs, "frame check sequence"
    digits = []
    for _ in range(18):
        value, d = divmod(value, 10)
        digits.append(str(d))
    value, second = divmod(value, 5)
    value, first = divmod(value, 10)
    tracking = f"{first}{second}" + "".join(reversed(digits))
    if value == 0:
        return tracking, ""
    for width, offset in ((5, 1), (9, 100001), (11, 1000100001)):
        if value - offset < 10 ** width:
            return tracking, f"{value - offset:0{width}d}"
    raise AssertionError("routing code too large")


@pytest.mark.parametrize("mailer,serial,zip_code", [
    ("000000", 1, "02601"), ("123456", 987654321, "02134-1234"), ("912345678", 42, ""),
    ("899999", 7, "01902"),
])
def test_a_letters_imb_round_trips(mailer, serial, zip_code):
    text = imb.value("00", "300", mailer, serial, zip_code)
    tracking, routing = decode(imb.bars(text))
    assert tracking == "00300" + mailer + f"{serial:0{15 - len(mailer)}d}"
    assert routing == zip_code.replace("-", "")
    assert imb.parse(text).serial == serial


def test_settings_are_checked():
    assert imb.settings_problems("00", "300", "") == []
    assert imb.settings_problems("00", "040", "912345678") == []
    assert len(imb.settings_problems("05", "30", "12345")) == 3
    assert imb.settings_problems("00", "300", "999999")  # 6-digit IDs never start with 9
    with pytest.raises(imb.ImbError):
        imb.value("00", "300", "912345678", 1_000_000, "02134")


# --- serials ----------------------------------------------------------------------------------

def test_base_serial_skips_the_last_45_days_of_the_same_mailer():
    day = dt.date(2027, 3, 1)
    used = [(imb.value("00", "300", "123456", 40, "02134"), day - dt.timedelta(days=44)),
            (imb.value("00", "300", "123456", 90, "02134"), day - dt.timedelta(days=45)),
            (imb.value("00", "300", "654321", 500, "02134"), day)]
    assert imb.base_serial(used, "123456", day, 10) == 41
    assert imb.base_serial(used, "123456", day + dt.timedelta(days=1), 10) == 1
    assert imb.base_serial([], "912345678", day, 999_999) == 1
    with pytest.raises(imb.ImbError):
        imb.base_serial([], "912345678", day, 1_000_000)


def test_base_serial_skips_what_other_batches_planned_and_clashes_are_seen():
    day = dt.date(2027, 3, 1)

    def plan(first, letters, issued, mailer="123456"):
        return {"mailer_id": mailer, "base_serial": first, "letters": letters,
                "issue_date": issued.isoformat()}

    printed = [(imb.value("00", "300", "123456", 3, "02134"), day)]
    planned = [plan(1, 10, day), plan(500, 5, day, "654321"),
               plan(900, 5, day - dt.timedelta(days=45))]
    assert imb.base_serial(printed, "123456", day, 4, planned) == 11  # not 4
    assert imb.base_serial([], "654321", day, 4, planned) == 505
    assert imb.clash(plan(5, 10, day), plan(14, 1, day + dt.timedelta(days=44)))
    assert not imb.clash(plan(5, 10, day), plan(15, 1, day))
    assert not imb.clash(plan(5, 10, day), plan(5, 1, day + dt.timedelta(days=45)))
    assert not imb.clash(plan(5, 10, day), plan(5, 10, day, "654321"))


def test_a_stopped_batch_keeps_the_serials_it_planned(tmp_path):
    """A batch stopped after its first letter (a kill, a full disk) prints the rest of its
    serials when resumed: a batch opened meanwhile plans after them, not after what was
    printed."""
    cfg = config.load(ROOT / "letters.toml")
    records = small_records(tmp_path / "r.csv", people=4)
    out = tmp_path / "out"
    day = dt.date(2027, 1, 4)
    kw = dict(out_dir=out, workers=1, allow_sample_signoffs=True, allow_past_date=True)

    class Stop(Exception):
        pass

    def stop_after_one(done, total):
        if done == 1:
            raise Stop

    with pytest.raises(Stop):
        mail(cfg, records, batch="a", issue_date=day, progress=stop_after_one, **kw)
    with Ledger(str(out / "ledger.sqlite")) as ledger:
        assert len(ledger.letters(ledger.batch("a").id)) < 4
    mail(cfg, records, batch="b", issue_date=day, **kw)
    mail(cfg, records, batch="a", issue_date=day, **kw)
    serials = {name: sorted(imb.parse(v).serial for v in _imbs(out / name).values())
               for name in "ab"}
    assert serials == {"a": [1, 2, 3, 4], "b": [5, 6, 7, 8]}


def test_two_batches_planned_at_once_never_share_serials(tmp_path):
    """Two runs that planned from the same ledger state: the second to open its batch is
    refused (exit 2), opens nothing, and plans after the first when run again."""
    cfg = config.load(ROOT / "letters.toml")
    records = small_records(tmp_path / "r.csv", people=3)
    out = tmp_path / "out"
    url = f"sqlite:///{out / 'ledger.sqlite'}"
    day = dt.date(2027, 1, 4)
    kw = dict(out_dir=out, workers=1, allow_sample_signoffs=True, allow_past_date=True)
    mail(cfg, records, batch="first", issue_date=day, **kw)
    # "late" planned before "first" opened: the same first serial
    late = plan_batch(cfg, records, batch="late", ledger_url=url, as_of=day)
    data = json.dumps({**late.imb, "base_serial": 1}, sort_keys=True).encode()
    extra = [x if x[:2] != imb.PLAN else (*imb.PLAN, "-", data) for x in late.inputs]
    hashes, inputs = input_snapshot(cfg, records, day, records_sha=late.records_sha,
                                    extra=extra)
    with Ledger(url) as ledger, pytest.raises(imb.ImbError, match=(
            "IMb serials 1–3 of mailer ID 000000 were planned by batch first while this one "
            "was being planned; batch late was not opened")) as refused:
        ledger.open_batch("late", issue_date=day, response_deadline=day, tool_version="t",
                          policy="p", hashes=hashes, inputs=inputs)
    assert refused.value.exit_code == 2
    with Ledger(url) as ledger:
        assert ledger.batch("late") is None
    mail(cfg, records, batch="late", issue_date=day, **kw)
    assert sorted(imb.parse(v).serial for v in _imbs(out / "late").values()) == [4, 5, 6]


def test_a_batch_refused_at_opening_leaves_no_folder_and_one_opened_keeps_its(tmp_path,
                                                                              monkeypatch):
    """A run refused before the ledger has its batch (here: another batch planned the same
    serials meanwhile) takes away the folders it made; a batch the ledger has keeps its folder
    when a later run of it is refused."""
    cfg = config.load(ROOT / "letters.toml")
    records = small_records(tmp_path / "r.csv", people=2)
    out = tmp_path / "out"
    day = dt.date(2027, 1, 4)
    kw = dict(out_dir=out, workers=1, allow_sample_signoffs=True, allow_past_date=True)
    mail(cfg, records, batch="first", issue_date=day, **kw)

    def clashing(self, name, **_):
        raise imb.ImbError(f"IMb serials 1–2 were planned by batch first while this one was "
                           f"being planned; batch {name} was not opened")

    with monkeypatch.context() as m:
        m.setattr(Ledger, "open_batch", clashing)
        with pytest.raises(imb.ImbError):
            mail(cfg, records, batch="late", issue_date=day, **kw)
    assert not (out / "late").exists()
    assert (out / "first" / "ROOT").is_file()
    # the batch the ledger has: refused on a changed issue date, its folder stays whole
    before = sorted(p.relative_to(out).as_posix() for p in (out / "first").rglob("*"))
    with pytest.raises(LettersError):
        mail(cfg, records, batch="first", issue_date=day + dt.timedelta(days=1), **kw)
    assert sorted(p.relative_to(out).as_posix() for p in (out / "first").rglob("*")) == before
    mail(cfg, records, batch="late", issue_date=day, **kw)  # runs when nothing clashes
    assert (out / "late" / "ROOT").is_file()
    # a new batch that stops once the ledger has it keeps the folder it made
    from letters import mailing

    def stopped(*_):
        raise LettersError("stopped after the batch was opened")

    with monkeypatch.context() as m:
        m.setattr(mailing, "_check_recorded_copies", stopped)
        with pytest.raises(LettersError, match="stopped after"):
            mail(cfg, records, batch="third", issue_date=day, **kw)
    with Ledger(f"sqlite:///{out / 'ledger.sqlite'}") as ledger:
        assert ledger.batch("third") is not None
    assert (out / "third" / "letters").is_dir() and (out / "third" / ".lock").is_file()
    mail(cfg, records, batch="third", issue_date=day, **kw)
    assert (out / "third" / "ROOT").is_file()


def _imbs(folder) -> dict[str, str]:
    with open(folder / "manifest.csv", encoding="utf-8") as fh:
        return {r["notice_id"]: r["imb"] for r in csv.DictReader(fh) if r["state"] == "letter"}


def test_serials_never_repeat_within_45_days_across_batches(tmp_path):
    cfg = config.load(ROOT / "letters.toml")
    assert cfg.imb.mailer_id == "000000"  # the sample office shows the barcode
    records = small_records(tmp_path / "r.csv", people=4)
    first_day = dt.date(2027, 1, 4)
    out = tmp_path / "out"
    kw = dict(out_dir=out, workers=1, allow_sample_signoffs=True, allow_past_date=True)
    mail(cfg, records, batch="a", issue_date=first_day, **kw)
    mail(cfg, records, batch="b", issue_date=first_day + dt.timedelta(days=44), **kw)
    mail(cfg, records, batch="c", issue_date=first_day + dt.timedelta(days=89), **kw)
    a, b, c = (_imbs(out / name) for name in "abc")
    serials = {name: sorted(imb.parse(v).serial for v in found.values())
               for name, found in (("a", a), ("b", b), ("c", c))}
    assert serials["a"] == [1, 2, 3, 4]
    assert serials["b"] == [5, 6, 7, 8]       # within 45 days of a: after a's
    assert serials["c"] == [1, 2, 3, 4]       # 45 days after b: free again
    for found in (a, b, c):
        for text in found.values():
            tracking, routing = decode(imb.bars(text))
            assert tracking.startswith("00300000000")
    # the ledger holds what the letters print, and its events repeat it
    with Ledger(str(out / "ledger.sqlite")) as ledger:
        for row in ledger.letters():
            assert row.imb == {**a, **b, **c}[row.notice_id]
            event = ledger.events(notice_id=row.notice_id, kind="letter-recorded")[0]
            assert json.loads(event.payload)["imb"] == row.imb
    # the audit re-renders each letter with its recorded barcode, byte for byte
    findings, checked = verify(out, f"sqlite:///{out / 'ledger.sqlite'}", rerender=True)
    assert findings == [] and checked["rerendered"] == 12


def test_a_resumed_batch_replays_its_serials(tmp_path):
    cfg = config.load(ROOT / "letters.toml")
    records = small_records(tmp_path / "r.csv", people=3)
    out = tmp_path / "out"
    day = dt.date(2027, 1, 4)
    mail(cfg, records, batch="a", issue_date=day, out_dir=out, workers=1,
         allow_sample_signoffs=True, allow_past_date=True)
    # another batch takes serials meanwhile; replanning "a" keeps the serials it was opened with
    mail(cfg, records, batch="b", issue_date=day, out_dir=out, workers=1,
         allow_sample_signoffs=True, allow_past_date=True)
    plan = plan_batch(cfg, records, batch="a", ledger_url=f"sqlite:///{out / 'ledger.sqlite'}",
                      as_of=day)
    assert plan.imb["base_serial"] == 1
    with Ledger(str(out / "ledger.sqlite")) as ledger:
        ids = {r.defendant_id: r.notice_id for r in ledger.letters(ledger.batch("a").id)}
    assert set(plan.imb_values(ids).values()) == set(_imbs(out / "a").values())
    fresh = plan_batch(cfg, records, batch="new", ledger_url=f"sqlite:///{out / 'ledger.sqlite'}",
                       as_of=day)
    assert fresh.imb["base_serial"] == 7


def test_no_mailer_id_no_barcode(tmp_path):
    cfg = config.load(ROOT / "letters.toml")
    cfg = dataclasses.replace(cfg, imb=dataclasses.replace(cfg.imb, mailer_id=""))
    records = small_records(tmp_path / "r.csv", people=2)
    plan = plan_batch(cfg, records, batch="a", ledger_url=f"sqlite:///{tmp_path / 'l.sqlite'}")
    assert plan.imb is None and plan.imb_values({}) == {}
    assert not any(path == "imb serials" for _, path, _, _ in plan.inputs)


# --- placement ----------------------------------------------------------------------------------

def _bars_and_address(pdf: bytes):
    """The barcode's bars and the address's characters on page 1, as (x0, y0, x1, y1) in PDF
    points from the bottom-left corner."""
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        page = doc.pages[0]
        h = float(page.height)
        window_top = PAGE_HEIGHT - (ADDRESS_WINDOW.y + ADDRESS_WINDOW.height)
        window_bottom = PAGE_HEIGHT - ADDRESS_WINDOW.y
        bars = [(float(r["x0"]), h - float(r["bottom"]), float(r["x1"]), h - float(r["top"]))
                for r in page.rects
                if window_top - 20 <= float(r["top"]) <= window_bottom + 20 and
                float(r["width"]) < 2.5]
        chars = [(float(c["x0"]), h - float(c["bottom"]), float(c["x1"]), h - float(c["top"]))
                 for c in page.chars
                 if window_top - 20 <= float(c["top"]) <= window_bottom + 20 and
                 float(c["x0"]) < ADDRESS_WINDOW.x + ADDRESS_WINDOW.width + 20]
    return bars, chars


@pytest.mark.parametrize("address", [
    Address("12 Water St", "Apt 3", "Lynn", "MA", "01902"),
    Address("2 Clark St", "", "Norfolk", "MA", "02056-1234",
            facility="Massachusetts Correctional Institution Norfolk", inmate_number="W123456"),
])
def test_the_barcode_lies_in_the_window_clear_of_the_address(address):
    cfg = config.load(ROOT / "letters.toml")
    doc = Composer(cfg).compose(person(address=address), notice_id="TEST-0001",
                                issue_date=dt.date(2027, 1, 4))
    doc.imb = imb.value("00", "300", "000000", 17, address.zip)
    out = render(doc)
    assert out.imb == doc.imb
    bars, chars = _bars_and_address(out.pdf)
    assert len(bars) == 65 and chars
    inner = (ADDRESS_WINDOW.x + WINDOW_CLEARANCE, ADDRESS_WINDOW.y + WINDOW_CLEARANCE,
             ADDRESS_WINDOW.x + ADDRESS_WINDOW.width - WINDOW_CLEARANCE,
             ADDRESS_WINDOW.y + ADDRESS_WINDOW.height - WINDOW_CLEARANCE)
    box = (min(b[0] for b in bars), min(b[1] for b in bars), max(b[2] for b in bars),
           max(b[3] for b in bars))
    eps = 0.01
    # the bars and their horizontal clear zones (1/8 in each side) inside the window's clearance
    assert inner[0] + 9 - eps <= box[0] and box[2] <= inner[2] - 9 + eps
    assert inner[1] - eps <= box[1] and box[3] <= inner[3] + eps
    # below the last line of the address, never touching a character
    assert max(c[1] for c in chars) > box[3]
    text_bottom = min(c[1] for c in chars)
    assert box[3] < text_bottom
    for c in chars:
        assert c[2] <= inner[2] + eps and c[0] >= inner[0] - eps
    # the bars read back as the letter's IMb: the order they are drawn in is the order of bars
    heights = sorted({round(b[3] - b[1], 2) for b in bars})
    assert len(heights) == 3  # full, ascender/descender, tracker
    lines, size, _ = address_layout(doc)
    assert size is not None and size >= 8 and len(lines) >= 3  # readable by the Postal Service


def test_an_address_that_fits_only_without_the_barcode_goes_without_it():
    cfg = config.load(ROOT / "letters.toml")
    long = Address("1180 Veterans of Foreign Wars Parkway", "Building 7 Unit 1205B",
                   "North Attleborough", "MA", "02760", facility="Massachusetts Correctional "
                   "Institution Norfolk", inmate_number="W123456",
                   care_of=("c/o Maria Lopez", "Attn: Records Office"))
    doc = Composer(cfg).compose(person(address=long), notice_id="TEST-0001",
                                issue_date=dt.date(2027, 1, 4))
    doc.imb = imb.value("00", "300", "000000", 17, long.zip)
    lines, size, bar = address_layout(doc)
    assert size is not None and bar is None
    # five lines fit above a barcode only below 8 pt: the address wins
    shorter = dataclasses.replace(long, care_of=())
    doc2 = Composer(cfg).compose(person(address=shorter), notice_id="TEST-0001",
                                 issue_date=dt.date(2027, 1, 4))
    doc2.imb = doc.imb
    assert address_layout(doc2)[2] is None and address_layout(doc2)[1] >= 8
    out = render(doc)
    assert out.imb is None
    assert _bars_and_address(out.pdf)[0] == []


# --- the response form's QR code ----------------------------------------------------------------

def test_the_response_form_carries_a_qr_code_of_the_notice_id(tmp_path):
    import subprocess

    import zxingcpp
    from PIL import Image

    from letters import pdf
    from tests.pdftools import page_texts

    cfg = config.load(ROOT / "letters.toml")
    doc = Composer(cfg).compose(person(), notice_id="22A-2JV-3BQ", issue_date=dt.date(2027, 1, 4))
    out = pdf.render(doc)
    form = page_texts(out.pdf)[-1]
    assert "22A-2JV-3BQ" in form.split("Página")[0]  # the typed ID stays on the form
    # a scanner reads the notice ID back from the printed form page (300 dpi)
    path = tmp_path / "letter.pdf"
    path.write_bytes(out.pdf)
    found = []
    for page in (out.pages - 1, out.pages):  # the form, or the form and a blank back
        subprocess.run(["pdftoppm", "-png", "-r", "300", "-f", str(page), "-l", str(page),
                        "-singlefile", str(path), str(tmp_path / "page")], check=True)
        found += zxingcpp.read_barcodes(Image.open(tmp_path / "page.png"))
    assert [(f.format.name, f.text) for f in found] == [("QRCode", "22A-2JV-3BQ")]
    # the code is drawn on the form page, at the right margin, and the same bytes each time
    with pdfplumber.open(io.BytesIO(out.pdf)) as d:
        squares = [r for r in d.pages[-1].rects if float(r["x1"]) > pdf.PAGE_WIDTH / 2]
    assert len(squares) > 50
    assert max(float(r["x1"]) for r in squares) <= pdf.PAGE_WIDTH - pdf.MARGIN + 0.01
    assert pdf.render(doc).pdf == out.pdf
