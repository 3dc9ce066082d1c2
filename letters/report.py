"""The report for the court: what was sent, what came back, what was done about it.

``letters audit report`` reads the ledger (read-only) and the batch folders and writes a PDF with
tables and charts (ReportLab graphics) and the same tables as CSV files:

- ``letters_by_county``: letters per county and preferred language (a letter counts once in each
  county where the person has a case);
- ``batches``: per batch: letters, pages, letters returned undeliverable and their rate, letters
  answered (any response that is not returned mail) and the response rate, follow-up letters,
  the batch root and the verification result;
- ``responses_by_month``: responses per month received and kind;
- ``follow_ups``: each follow-up batch, the batch it follows and its letters.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

import io
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from letters.audit import verify
from letters.exports import private_dir, write_csv
from letters.ledger import Ledger


@dataclass
class Table:
    name: str
    title: str
    header: tuple[str, ...]
    rows: list[tuple] = field(default_factory=list)


def gather(out_dir: Path, ledger_url: str, *, batch: str | None = None) -> list[Table]:
    findings, _ = verify(out_dir, ledger_url, batch=batch)
    problems_by_batch: Counter = Counter()
    with Ledger(ledger_url, create=False, readonly=True) as ledger:
        batches = [b for b in ledger.batches() if batch is None or b.name == batch]
        responses = ledger.responses()
        letters_of = {b.name: ledger.letters(b.id) for b in batches}
        cases_of = {row.notice_id: ledger.cases_of(row.notice_id)
                    for rows in letters_of.values() for row in rows}
        follows_of = {b.name: b.follow_up_of for b in batches}
        outcomes_of = {b.name: ledger.outcomes(b.id) for b in batches}
    notice_batch = {row.notice_id: name for name, rows in letters_of.items() for row in rows}
    for f in findings:
        subject = f.subject.split(" ", 1)[1] if " " in f.subject else f.subject
        problems_by_batch[notice_batch.get(subject, subject if subject in letters_of else "")] += 1

    by_county: Counter = Counter()
    for rows in letters_of.values():
        for row in rows:
            person = json.loads(row.recipient)
            # a person who asked for a language letters are not written in counts under it
            lang = person.get("language_requested") or person["language"]
            for county in sorted({c.county or "(none)" for c in cases_of[row.notice_id]}):
                by_county[(county, lang)] += 1
    county_table = Table("letters_by_county", "Letters by county and preferred language",
                         ("county", "language", "letters"),
                         [(c, lang, n) for (c, lang), n in sorted(by_county.items())])
    by_language: Counter = Counter()
    for name, rows in letters_of.items():
        for row in rows:
            person = json.loads(row.recipient)
            by_language[(name, person["language"], person.get("language_requested") or "",
                         row.languages)] += 1
    language_table = Table(
        "letters_by_language",
        "Letters by preferred language and the versions sent (language_requested: asked for a "
        "language letters are not written in; they got the fallback versions and taglines)",
        ("batch", "preferred", "language_requested", "versions", "letters"),
        [(*k, n) for k, n in sorted(by_language.items())])

    responded: dict[str, set] = defaultdict(set)
    undeliverable: dict[str, set] = defaultdict(set)
    by_month: Counter = Counter()
    for r in responses:
        name = notice_batch.get(r.notice_id)
        if name is None:
            continue
        by_month[(r.received.strftime("%Y-%m"), r.kind)] += 1
        if r.kind == "returned-undeliverable":
            undeliverable[name].add(r.notice_id)
        elif not r.kind.startswith("returned-"):
            responded[name].add(r.notice_id)
    follow_up_letters: Counter = Counter()
    for rows in letters_of.values():
        for row in rows:
            if row.follow_up_of:
                follow_up_letters[notice_batch.get(row.follow_up_of, "")] += 1

    def rate(part: int, whole: int) -> str:
        return f"{100 * part / whole:.1f}%" if whole else "—"

    batch_table = Table("batches", "Batches", (
        "batch", "issued", "deadline", "letters", "pages", "undeliverable", "undeliverable_rate",
        "answered", "response_rate", "follow_up_letters", "root", "verification"))
    for b in batches:
        rows = letters_of[b.name]
        n = len(rows)
        batch_table.rows.append((
            b.name, b.issue_date.isoformat(), b.response_deadline.isoformat(), n,
            sum(r.pages for r in rows), len(undeliverable[b.name]),
            rate(len(undeliverable[b.name]), n), len(responded[b.name]),
            rate(len(responded[b.name]), n), follow_up_letters[b.name], b.root or "(open)",
            "clean" if not problems_by_batch[b.name] else f"{problems_by_batch[b.name]} problems"))
    month_table = Table("responses_by_month", "Responses by month received and kind",
                        ("month", "kind", "responses"),
                        [(m, k, n) for (m, k), n in sorted(by_month.items())])
    follow_table = Table("follow_ups", "Follow-up batches", ("batch", "follows", "letters"),
                         [(b.name, follows_of[b.name], len(letters_of[b.name]))
                          for b in batches if follows_of[b.name]])
    people_table = Table(
        "people", "What became of every person in each batch's input: a letter (to them or to "
        "counsel of record), suppressed (and why), or rejected; the three add up to the people "
        "in the input", ("batch", "people", "letters", "to_counsel", "suppressed",
                         "suppressed_reasons", "rejected", "newer_address"))
    for b in batches:
        outs = outcomes_of[b.name]
        if not outs:  # closed before people states were recorded, or still open
            continue
        states = Counter(o.state for o in outs)
        reasons = Counter(o.reason for o in outs if o.state == "suppressed")
        people_table.rows.append((
            b.name, len(outs), states["letter"], sum(o.sent_to == "counsel" for o in outs),
            states["suppressed"], "; ".join(f"{k} {v}" for k, v in sorted(reasons.items())),
            states["rejected"], sum(bool(o.address_source) for o in outs)))
    return [batch_table, people_table, county_table, language_table, month_table,
            follow_table]


def write_csvs(tables: list[Table], folder: Path) -> list[Path]:
    private_dir(folder)
    return [write_csv(Path(folder) / f"{t.name}.csv", t.header, t.rows) for t in tables]


def _bar_chart(title: str, labels: list[str], series: list[list[float]], names: list[str]):
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.charts.legends import Legend
    from reportlab.graphics.shapes import Drawing, String
    from reportlab.lib import colors

    from letters.pdf import FONT

    drawing = Drawing(460, 220)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 40, 50, 300, 140
    chart.data = series or [[0]]
    chart.categoryAxis.categoryNames = labels or [""]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.labels.angle = 30
    chart.categoryAxis.labels.boxAnchor = "ne"
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.valueMin = 0
    palette = [colors.Color(0.2, 0.35, 0.6), colors.Color(0.85, 0.55, 0.2),
               colors.Color(0.35, 0.6, 0.35), colors.Color(0.6, 0.3, 0.5),
               colors.Color(0.5, 0.5, 0.5), colors.Color(0.7, 0.2, 0.2)]
    for i in range(len(chart.data)):
        chart.bars[i].fillColor = palette[i % len(palette)]
    drawing.add(chart)
    drawing.add(String(40, 205, title, fontName=f"{FONT}-Bold", fontSize=10))
    if names:
        legend = Legend()
        legend.x, legend.y = 355, 180
        legend.fontName, legend.fontSize = FONT, 7
        legend.colorNamePairs = [(palette[i % len(palette)], n) for i, n in enumerate(names)]
        drawing.add(legend)
    return drawing


def write_pdf(tables: list[Table], path: Path, *, title: str) -> Path:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import landscape, letter
    from reportlab.lib.units import inch
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer
    from reportlab.platypus import Table as RLTable
    from reportlab.platypus import TableStyle

    from letters.pdf import FONT, STYLES, register_fonts

    register_fonts()
    t = {x.name: x for x in tables}
    story = [Paragraph(title, STYLES["h1"])]
    counties = t["letters_by_county"].rows
    county_names = sorted({c for c, _, _ in counties})
    langs = sorted({lang for _, lang, _ in counties})
    series = [[sum(n for c2, l2, n in counties if c2 == c and l2 == lang) for c in county_names]
              for lang in langs]
    story.append(_bar_chart("Letters by county and preferred language", county_names, series,
                            langs))
    months = t["responses_by_month"].rows
    month_names = sorted({m for m, _, _ in months})
    kinds = sorted({k for _, k, _ in months})
    series = [[sum(n for m2, k2, n in months if m2 == m and k2 == k) for m in month_names]
              for k in kinds]
    story.append(_bar_chart("Responses by month and kind", month_names, series, kinds))
    for table in tables:
        story += [Spacer(1, 8), Paragraph(escape(table.title), STYLES["h2"])]
        if not table.rows:
            story.append(Paragraph("None.", STYLES["small"]))
            continue
        data = [[Paragraph(escape(h.replace("_", " ")), STYLES["th"]) for h in table.header]]
        shown = [tuple(f"{v[:10]}…" if h == "root" and len(str(v)) == 64 else v
                       for h, v in zip(table.header, row)) for row in table.rows]
        # values from the records (counties, the languages people asked for) print as text
        data += [[Paragraph(escape(str(v)), STYLES["cell"]) for v in row] for row in shown]
        rl = RLTable(data, repeatRows=1, hAlign="LEFT")
        rl.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), FONT, 8),
                                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                                ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.9, 0.9, 0.9)),
                                ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story.append(rl)
        if table.name == "batches":
            for row in table.rows:
                story.append(Paragraph(escape(f"Root of batch {row[0]}: {row[-2]}"),
                                       STYLES["small"]))
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=landscape(letter), leftMargin=0.6 * inch,
                      rightMargin=0.6 * inch, topMargin=0.6 * inch, bottomMargin=0.6 * inch,
                      title=title, invariant=1).build(story)
    path = Path(path)
    private_dir(path.parent)
    path.write_bytes(buf.getvalue())
    return path
