"""Rendering throughput: bilingual letters/s in one process, beside plain ReportLab platypus.

    python bench/render.py [--letters 150] [--rounds 3]

Both sides render the same people from the bundled sample, in the same run, alternating:

- letters: compose (Jinja + gettext) + parse the HTML subset + glyph/window checks + ReportLab
  layout with page furniture (addresses in the windows, "Page X of Y", cross-reference line);
- plain platypus: a minimal SimpleDocTemplate script given the already composed text of the same
  letters (paragraphs, lists and the cases table in the same font), nothing else.

The ratio says what the letters pipeline costs over the bare layout engine. Results go to
bench/RESULTS.md (section "Render").
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import platform
import sys
import time
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from reportlab.lib.pagesizes import letter  # noqa: E402
from reportlab.lib.styles import ParagraphStyle  # noqa: E402
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Table  # noqa: E402

from bench.results import record_section  # noqa: E402
from letters import config  # noqa: E402
from letters.compose import Composer  # noqa: E402
from letters.pdf import FONT, register_fonts, render  # noqa: E402
from letters.records import read_for  # noqa: E402

ISSUE = dt.date(2026, 12, 1)


def letters_side(composer, people):
    pages = 0
    for r in people:
        doc = composer.compose(r, notice_id=f"N{r.defendant_id}", issue_date=ISSUE)
        pages += render(doc).pages
    return pages


def plain_story(doc):
    style = ParagraphStyle("b", fontName=FONT, fontSize=10.5, leading=14.2)
    small = ParagraphStyle("s", fontName=FONT, fontSize=8.5, leading=10.5)
    story = []
    for i, version in enumerate(doc.versions):
        if i:
            story.append(PageBreak())
        for block in version.blocks:
            if block.kind == "table":
                rows = [[Paragraph(escape("".join(r.text for r in cell)), small) for cell in row]
                        for row in block.header + block.rows]
                story.append(Table(rows, repeatRows=1))
            elif block.kind == "pagebreak":
                story.append(PageBreak())
            elif block.kind != "hr":
                for text in block.text().split("\n"):
                    story.append(Paragraph(escape(text), style))
    return story


def plain_side(stories):
    for story in stories:
        buf = io.BytesIO()
        SimpleDocTemplate(buf, pagesize=letter, invariant=1).build(list(story()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--letters", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    cfg = config.load(HERE.parent / "letters.toml")
    intake = read_for(cfg, HERE.parent / "examples" / "records.csv")
    people = intake.recipients[: args.letters]
    composer = Composer(cfg)
    register_fonts()
    docs = [composer.compose(r, notice_id=f"N{r.defendant_id}", issue_date=ISSUE) for r in people]
    stories = [lambda d=d: plain_story(d) for d in docs]
    letters_side(composer, people[:3])  # warm caches on both sides
    plain_side(stories[:3])

    ours, plain = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        pages = letters_side(composer, people)
        t1 = time.perf_counter()
        plain_side(stories)
        t2 = time.perf_counter()
        ours.append(t1 - t0)
        plain.append(t2 - t1)
    n = len(people)
    best_ours, best_plain = min(ours), min(plain)
    lines = [
        f"{n} bilingual letters from the bundled sample ({pages} pages, "
        f"{pages / n:.1f} per letter), one process, best of {args.rounds} alternating rounds.",
        f"Machine: {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores.",
        "",
        "| renderer | letters/s | pages/s | ms/letter |",
        "|---|---:|---:|---:|",
        f"| letters (compose + checks + layout + furniture) | {n / best_ours:.1f} | "
        f"{pages / best_ours:.0f} | {1000 * best_ours / n:.1f} |",
        f"| plain ReportLab platypus, same text | {n / best_plain:.1f} | "
        f"{pages / best_plain:.0f} | {1000 * best_plain / n:.1f} |",
        "",
        f"Ratio letters / plain (time per letter): {best_ours / best_plain:.2f}×.",
    ]
    record_section("Render", "\n".join(lines), command="python bench/render.py")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
