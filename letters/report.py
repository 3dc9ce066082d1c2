"""The report for the court: what was sent, to whom, what came back, what was done about it.

``letters audit report`` reads the ledger (read-only) and the batch folders and writes a PDF with
tables and charts (ReportLab graphics) and the same tables as CSV files:

- ``batches``: per batch: the batch it follows, issue date, response deadline, letters, pages,
  the verification result (``letters audit verify``), whether it was voided, the batch root;
- ``people``: what became of every person in each batch's input: people, letters, letters to
  counsel of record, suppressed (with the reasons), rejected, letters to a newer address;
- ``responses_by_batch``: letters returned undeliverable and the rate, letters answered (any
  response that is not returned mail) and the response rate, letters followed up and the
  follow-up letters;
- ``translations``: per batch, language and catalog, the reviewers whose sign-offs the letters
  relied on (from the ledger's ``translations-approved`` event), and whether they were the
  bundled sample's;
- ``letters_by_county``: letters per county and preferred language (a letter counts once in each
  county where the person has a case; how many of them also count elsewhere);
- ``letters_by_language``: letters per preferred language and the versions sent;
- ``responses_by_month``: responses per month received and kind;
- ``problems``: every problem verification found.

Every value printed in the PDF is text, never markup (``xml.sax.saxutils.escape``): a county
written ``Essex <North> & Co`` in the records prints as written. Table columns are as wide as
their longest word, so dates and numbers never break across lines; only hashes wrap.
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import landscape, letter
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import CondPageBreak, Paragraph, SimpleDocTemplate, Spacer
from reportlab.platypus import Table as RLTable
from reportlab.platypus import TableStyle

from letters.audit import verify
from letters.exports import private_dir, write_csv
from letters.ledger import Ledger
from letters.pdf import FONT, STYLES, register_fonts


@dataclass
class Table:
    name: str
    title: str
    header: tuple[str, ...]
    rows: list[tuple] = field(default_factory=list)
    #: What the reader must know to read the table right (printed under its title).
    note: str = ""


#: The event a batch void records (kind and payload: {"reason": ...}). Nothing records it yet;
#: once voiding a batch is possible, the batches table shows it from this event.
VOIDED_EVENT = "batch-voided"
#: The event that records the catalogs and sign-offs a batch's letters rely on (``i18n.gate``).
TRANSLATIONS_EVENT = "translations-approved"


def gather(out_dir: Path, ledger_url: str, *, batch: str | None = None) -> list[Table]:
    findings, _ = verify(out_dir, ledger_url, batch=batch)
    with Ledger(ledger_url, create=False, readonly=True) as ledger:
        every_batch = ledger.batches()
        batches = [b for b in every_batch if batch is None or b.name == batch]
        responses = ledger.responses()
        every_letter = ledger.letters()
        letters_of = {b.name: ledger.letters(b.id) for b in batches}
        cases_of = ledger.cases_by_notice(batches[0].id if batch is not None else None)
        outcomes_of = {b.name: ledger.outcomes(b.id) for b in batches}
        approved = {e.batch: json.loads(e.payload)
                    for e in ledger.events(kind=TRANSLATIONS_EVENT)}
        voided = {e.batch: json.loads(e.payload) for e in ledger.events(kind=VOIDED_EVENT)}
    name_of = {b.id: b.name for b in every_batch}
    notice_batch = {row.notice_id: name_of[row.batch_id] for row in every_letter}
    problems_by_batch = Counter(f.batch for f in findings)

    def rate(part: int, whole: int) -> str:
        return f"{100 * part / whole:.1f}%" if whole else "—"

    batch_table = Table(
        "batches", "Batches", ("batch", "follows", "issued", "deadline", "letters", "pages",
                               "verification", "voided", "root"),
        note="Each batch's letters, the response deadline printed in them, whether verification "
             "(letters audit verify) finds every retained copy, ledger row and event as "
             "recorded, and the batch root (filed with the court: it proves which letters the "
             "batch holds).")
    for b in batches:
        rows = letters_of[b.name]
        problems = problems_by_batch[b.name]
        void = voided.get(b.name)
        batch_table.rows.append((
            b.name, b.follow_up_of or "", b.issue_date.isoformat(),
            b.response_deadline.isoformat(), len(rows), sum(r.pages for r in rows),
            "clean" if not problems else f"{problems} problem{'' if problems == 1 else 's'}",
            "no" if void is None else f"yes: {void.get('reason', '')}".rstrip(": "),
            b.root or "(open)"))

    people_table = Table(
        "people", "What became of every person in each batch's input",
        ("batch", "people", "letters", "to_counsel", "suppressed", "suppressed_reasons",
         "rejected", "newer_address"),
        note="A letter (to the person, or to their counsel of record), suppressed (the office "
             "decided not to mail them, and why) or rejected (their rows could not be used): "
             "the three add up to the people in the input. Newer address: the letter went to "
             "an address given in a response after the records were exported. A batch closed "
             "before these states were recorded shows only its letters.")
    for b in batches:
        outs = outcomes_of[b.name]
        if not outs:  # closed before people states were recorded, or still open
            people_table.rows.append((b.name, "—", len(letters_of[b.name]), "—", "—", "",
                                      "—", "—"))
            continue
        states = Counter(o.state for o in outs)
        reasons = Counter(o.reason for o in outs if o.state == "suppressed")
        people_table.rows.append((
            b.name, len(outs), states["letter"], sum(o.sent_to == "counsel" for o in outs),
            states["suppressed"], "; ".join(f"{k} {v}" for k, v in sorted(reasons.items())),
            states["rejected"], sum(bool(o.address_source) for o in outs)))

    responded: dict[str, set] = defaultdict(set)
    undeliverable: dict[str, set] = defaultdict(set)
    by_month: Counter = Counter()
    for r in responses:
        name = notice_batch.get(r.notice_id)
        if name not in letters_of:
            continue
        by_month[(r.received.strftime("%Y-%m"), r.kind)] += 1
        if r.kind == "returned-undeliverable":
            undeliverable[name].add(r.notice_id)
        elif not r.kind.startswith("returned-"):
            responded[name].add(r.notice_id)
    followed_up: dict[str, set] = defaultdict(set)
    follow_up_letters: Counter = Counter()
    for row in every_letter:  # a follow-up may be in a batch the report leaves out
        if row.follow_up_of:
            name = notice_batch.get(row.follow_up_of, "")
            followed_up[name].add(row.follow_up_of)
            follow_up_letters[name] += 1
    response_table = Table(
        "responses_by_batch", "Responses and follow-ups per batch",
        ("batch", "letters", "undeliverable", "undeliverable_rate", "answered", "response_rate",
         "followed_up", "follow_up_letters"),
        note="Undeliverable: letters returned by the post office as undeliverable. Answered: "
             "letters with any response that is not returned mail. Followed up: letters of the "
             "batch that a later letter follows (follow-up letters: how many such letters).")
    for b in batches:
        n = len(letters_of[b.name])
        response_table.rows.append((
            b.name, n, len(undeliverable[b.name]), rate(len(undeliverable[b.name]), n),
            len(responded[b.name]), rate(len(responded[b.name]), n),
            len(followed_up[b.name]), follow_up_letters[b.name]))

    translation_table = Table(
        "translations", "Translations the letters relied on, and who approved them",
        ("batch", "language", "catalog", "reviewers", "sample_signoffs"),
        note="No letter is written unless every message it prints in a language other than "
             "English is translated, checked and signed off by a named reviewer for the "
             "current English text; the ledger records, per batch, the catalogs and sign-offs "
             "it relied on. Catalog: letters (the letter's text), data (courts, counties, "
             "offenses as printed) or taglines. Reviewers: who signed off, with the dates. "
             "Sample sign-offs are the bundled sample's, not a real approval.")
    for b in batches:
        relied = approved.get(b.name) or {}
        # beside the catalogs, a flag: the run was given ``--accept-sample-signoffs``
        flag = "mailed with --accept-sample-signoffs" \
            if relied.get("accepted_sample_signoffs") else ""
        catalogs = {k: v for k, v in relied.items() if isinstance(v, dict)}
        if not catalogs:
            translation_table.rows.append((b.name, "—", "—", "none recorded", flag))
            continue
        for key, what in sorted(catalogs.items()):
            lang, _, catalog = key.partition("/")
            reviewers = "; ".join(f"{who} ({', '.join(dates)})"
                                  for who, dates in sorted(what.get("reviewers", {}).items()))
            sample = ""
            if what.get("sample_signoffs"):
                sample = f"yes ({flag})" if flag else "yes"
            translation_table.rows.append((b.name, lang, catalog or "letters", reviewers,
                                           sample))

    by_county: Counter = Counter()
    spanning: Counter = Counter()
    several = 0
    for rows in letters_of.values():
        for row in rows:
            person = json.loads(row.recipient)
            # a person who asked for a language letters are not written in counts under it
            lang = person.get("language_requested") or person["language"]
            counties = sorted({c.county or "(none)" for c in cases_of.get(row.notice_id, ())})
            several += len(counties) > 1
            for county in counties:
                by_county[(county, lang)] += 1
                spanning[(county, lang)] += len(counties) > 1
    letters = sum(len(rows) for rows in letters_of.values())
    county_table = Table(
        "letters_by_county", "Letters by county and preferred language",
        ("county", "language", "letters", "also_in_other_counties"),
        [(c, lang, n, spanning[(c, lang)]) for (c, lang), n in sorted(by_county.items())],
        note="A letter counts once in each county where the person has a case. " + (
            f"Letters that name cases in more than one county: {several} of {letters} (the "
            f"last column counts them per row); so the rows add up to "
            f"{sum(by_county.values())} letters, not {letters}." if several else
            f"No letter names cases in more than one county: the rows add up to the {letters} "
            "letters."))
    by_language: Counter = Counter()
    for name, rows in letters_of.items():
        for row in rows:
            person = json.loads(row.recipient)
            by_language[(name, person["language"], person.get("language_requested") or "",
                         row.languages)] += 1
    language_table = Table(
        "letters_by_language", "Letters by preferred language and the versions sent",
        ("batch", "preferred", "language_requested", "versions", "letters"),
        [(*k, n) for k, n in sorted(by_language.items())],
        note="Language requested: the person asked for a language letters are not written "
             "in; they got the fallback versions and the taglines.")
    month_table = Table("responses_by_month", "Responses by month received and kind",
                        ("month", "kind", "responses"),
                        [(m, k, n) for (m, k), n in sorted(by_month.items())])
    finding_table = Table(
        "problems", "Problems found by verification", ("batch", "subject", "problem"),
        [(f.batch or "(ledger)", f.subject, f.message) for f in findings],
        note="What verification (letters audit verify) finds: a retained copy missing or "
             "changed, a ledger row that differs from the event that recorded it, a break in the "
             "event chain, a batch root that does not recompute.")
    return [batch_table, people_table, response_table, translation_table, county_table,
            language_table, month_table, finding_table]


def write_csvs(tables: list[Table], folder: Path) -> list[Path]:
    private_dir(folder)
    return [write_csv(Path(folder) / f"{t.name}.csv", t.header, t.rows) for t in tables]


# --- the PDF --------------------------------------------------------------------------------------

PAGE = landscape(letter)
MARGIN = 0.6 * inch
WIDTH = PAGE[0] - 2 * MARGIN
#: Columns holding hashes: the only values that may wrap inside a word.
HASH_COLUMNS = frozenset({"root"})
PAD = 4                     # left and right padding of a table cell
SIZE = 9                    # table text, points
#: Rows of a table the PDF prints; the CSV file always has them all.
PDF_ROWS = 200
PALETTE = [colors.Color(0.2, 0.35, 0.6), colors.Color(0.85, 0.55, 0.2),
           colors.Color(0.35, 0.6, 0.35), colors.Color(0.6, 0.3, 0.5),
           colors.Color(0.5, 0.5, 0.5), colors.Color(0.7, 0.2, 0.2),
           colors.Color(0.45, 0.75, 0.8), colors.Color(0.8, 0.75, 0.3)]


def _styles() -> dict[str, ParagraphStyle]:
    cell = ParagraphStyle("report-cell", parent=STYLES["cell"], fontSize=SIZE,
                          leading=SIZE * 1.2, splitLongWords=0)
    heading = ParagraphStyle("report-h2", parent=STYLES["h2"], keepWithNext=1)
    return {
        "title": STYLES["h1"],
        "h2": heading,
        "note": ParagraphStyle("report-note", parent=STYLES["small"], fontSize=SIZE,
                               leading=SIZE * 1.3, spaceAfter=4, keepWithNext=1),
        "p": ParagraphStyle("report-p", parent=STYLES["small"]),
        "th": ParagraphStyle("report-th", parent=cell, fontName=f"{FONT}-Bold"),
        "cell": cell,
        "number": ParagraphStyle("report-number", parent=cell, alignment=TA_RIGHT),
        "hash": ParagraphStyle("report-hash", parent=cell, splitLongWords=1),
    }


def _para(value, style: ParagraphStyle) -> Paragraph:
    """A value as text: whatever it holds (``<``, ``&``), it is never read as markup."""
    return Paragraph(escape(str(value)), style)


def _is_number(value) -> bool:
    text = str(value)
    return isinstance(value, (int, float)) or (text.endswith("%") and
                                               text[:-1].replace(".", "", 1).isdigit())


def _column_widths(table: Table) -> list[float]:
    """Widths that fit the page: every column at least as wide as its longest word (so dates
    and numbers stay whole), the room left shared out by how much more each would like."""
    lows, highs = [], []
    for j, name in enumerate(table.header):
        head = name.replace("_", " ")
        cells = [str(row[j]) for row in table.rows[:PDF_ROWS]]
        bold = f"{FONT}-Bold"
        longest = max([stringWidth(w, bold, SIZE) for w in head.split()]
                      + [stringWidth(w, FONT, SIZE) for c in cells for w in c.split()] + [0])
        whole = max([stringWidth(head, bold, SIZE)]
                    + [stringWidth(c, FONT, SIZE) for c in cells])
        if name in HASH_COLUMNS:
            longest = min(longest, stringWidth("0" * 16, FONT, SIZE))
        lows.append(longest + 2 * PAD + 1)
        highs.append(whole + 2 * PAD + 1)
    if sum(highs) <= WIDTH:
        return highs
    spare = WIDTH - sum(lows)
    if spare <= 0:  # more columns than a page holds: shrink them all alike
        return [w * WIDTH / sum(lows) for w in lows]
    wants = [h - lo for h, lo in zip(highs, lows)]
    return [lo + spare * w / sum(wants) for lo, w in zip(lows, wants)]


def _table(table: Table, st: dict) -> RLTable:
    data = [[_para(h.replace("_", " "), st["th"]) for h in table.header]]
    for row in table.rows[:PDF_ROWS]:
        data.append([_para(v, st["hash"] if h in HASH_COLUMNS else
                           st["number"] if _is_number(v) else st["cell"])
                     for h, v in zip(table.header, row)])
    rl = RLTable(data, colWidths=_column_widths(table), repeatRows=1, hAlign="LEFT")
    rl.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                            ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.9, 0.9, 0.9)),
                            ("VALIGN", (0, 0), (-1, -1), "TOP"),
                            ("LEFTPADDING", (0, 0), (-1, -1), PAD),
                            ("RIGHTPADDING", (0, 0), (-1, -1), PAD)]))
    return rl


def _step(top: float) -> int:
    """A whole-number tick step (1, 2, 5, 10, 20, 50 ...) giving at most six steps to ``top``."""
    step = 1
    while math.ceil(top / step) > 6:
        step = step * 5 // 2 if str(step)[0] == "2" else step * 2
    return step


def _bar_chart(labels: list[str], series: list[list[int]], names: list[str]) -> Drawing:
    """Bars of counts: the value axis counts in whole numbers (there are no half letters)."""
    drawing = Drawing(WIDTH, 200)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 40, 50, 420, 140
    chart.data = series
    chart.categoryAxis.categoryNames = labels
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 7
    if max(stringWidth(label, FONT, 7) for label in labels) > chart.width / len(labels) - 4:
        chart.categoryAxis.labels.angle = 30     # slanted only when they do not fit level
        chart.categoryAxis.labels.boxAnchor = "ne"
    top = max(max(s) for s in series) or 1
    step = _step(top)
    axis = chart.valueAxis
    axis.labels.fontName = FONT
    axis.valueMin, axis.valueStep = 0, step
    axis.valueMax = step * math.ceil(top / step)
    axis.labelTextFormat = "%d"
    for i in range(len(series)):
        chart.bars[i].fillColor = PALETTE[i % len(PALETTE)]
    drawing.add(chart)
    if names:
        legend = Legend()
        legend.x, legend.y = 480, 180
        legend.fontName, legend.fontSize = FONT, 7
        legend.colorNamePairs = [(PALETTE[i % len(PALETTE)], n) for i, n in enumerate(names)]
        drawing.add(legend)
    return drawing


def _chart_of(rows: list[tuple]) -> Drawing | None:
    """A bar chart of rows that start (category, series, count); None when there are none."""
    counts: Counter = Counter()
    for c, s, n, *_ in rows:
        counts[(c, s)] += n
    categories = sorted({c for c, _ in counts})
    names = sorted({s for _, s in counts})
    if not categories:
        return None
    return _bar_chart(categories, [[counts[(c, s)] for c in categories] for s in names], names)


def _numbered_canvas(footer: str):
    """A canvas that prints '<footer> — page X of Y' at the foot of every page."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []

        def showPage(self):
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._pages)
            for n, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self.setFont(FONT, 8)
                self.drawString(MARGIN, MARGIN / 2, f"{footer} — page {n} of {total}")
                Canvas.showPage(self)
            Canvas.save(self)

    return NumberedCanvas


def _summary(t: dict[str, Table], batch: str | None) -> str:
    names = [row[0] for row in t["batches"].rows] if "batches" in t else []
    problems = len(t["problems"].rows) if "problems" in t else 0
    scope = (f"batch {batch} only" if batch else
             f"every batch in the ledger ({len(names)}: {', '.join(names) or 'none'})")
    return (f"This report covers {scope}. It is made from the office's ledger, read without "
            "changing it, and the batch folders; each table is also a CSV file of the same "
            "name. Verification of the retained copies, the ledger and the batch roots: "
            + (f"{problems} problem{'' if problems == 1 else 's'}, listed at the end."
               if problems else "no problems."))


def write_pdf(tables: list[Table], path: Path, *, office: str, batch: str | None = None) -> Path:
    """The report as a PDF: the office's name in the title, a summary, then each table under its
    title and note (a chart beside the counts by county and by month)."""
    register_fonts()
    st = _styles()
    title = f"Notice mailing report — {office}"
    t = {x.name: x for x in tables}
    charts = {name: _chart_of(t[name].rows) for name in ("letters_by_county",
                                                          "responses_by_month") if name in t}
    story = [_para(title, st["title"]), _para(_summary(t, batch), st["p"])]
    for table in tables:
        # room for the title, its note and a few rows, or the table starts on the next page
        story += [CondPageBreak(1.6 * inch), _para(table.title, st["h2"])]
        if table.note:
            story.append(_para(table.note, st["note"]))
        chart = charts.get(table.name)
        if chart is not None:
            story.append(chart)
        if not table.rows:
            story.append(_para("None.", st["p"]))
            continue
        story.append(_table(table, st))
        if len(table.rows) > PDF_ROWS:
            story.append(_para(f"The first {PDF_ROWS} of {len(table.rows)} rows; "
                               f"{table.name}.csv has them all.", st["p"]))
        story.append(Spacer(1, 6))
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=PAGE, leftMargin=MARGIN, rightMargin=MARGIN,
                      topMargin=MARGIN, bottomMargin=MARGIN, title=title,
                      invariant=1).build(story, canvasmaker=_numbered_canvas(title))
    path = Path(path)
    private_dir(path.parent)
    path.write_bytes(buf.getvalue())
    return path
