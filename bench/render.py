"""Rendering throughput: bilingual letters/s in one process, beside plain ReportLab platypus.

    python bench/render.py [--letters 150] [--rounds 3]

Three sides render the same people (generated, as ``letters sample`` makes them), in the same
run, alternating; each round renders people the letters side has not seen before, as a mailing
does (a warm-up of other people first, as a worker's first letters):

- letters: compose (Jinja + gettext) + parse the HTML subset + glyph/window checks + ReportLab
  layout with page furniture (addresses in the windows, "Page X of Y", cross-reference line,
  response form with its QR code), with the batch's character set and the layout shared
  between letters (paragraph parses, line breaks, font subsets and the stamps of the pages'
  shared parts made once per process);
- letters, nothing shared: the same, with each letter's HTML parsed whole, ReportLab's own
  paragraphs and QR encoder, a font subset made and compressed for every letter and no batch
  character set (the design before sharing), with ReportLab's fonts and PDF writer as shipped;
- plain platypus: a minimal SimpleDocTemplate script given the already composed content of the
  same letters with the same markup (inline bold runs included), paragraphs, lists and the
  cases table in the same font, nothing else, with ReportLab as shipped (``fonts.as_shipped``:
  none of the memos letters gives ReportLab's fonts and PDF writer, which would otherwise
  serve this side too).

Each round's "nothing shared" side forgets the shared caches (``pdf.clear_caches``), so the
letters side starts every round cold, as a worker's first letters; its best round is reported.

The process's garbage collector is set as in a mailing's rendering workers
(``letters.processes``: young collections every 10,000 objects, what the warm-up left alive
frozen), for every side alike; ``--collector default`` leaves Python's defaults.

The ratios say what sharing saves and what the letters pipeline costs over the bare layout
engine. Results go to bench/RESULTS.md (section "Render").
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import io
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from reportlab.lib.pagesizes import letter  # noqa: E402
from reportlab.lib.styles import ParagraphStyle  # noqa: E402
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Table  # noqa: E402

from bench.results import record_section  # noqa: E402
from letters import compose, config, fonts, glyphs, pdf, qr  # noqa: E402
from letters.compose import Composer  # noqa: E402
from letters.pdf import FONT, markup, register_fonts, render  # noqa: E402
from letters.processes import collect_less  # noqa: E402
from letters.records import read_for  # noqa: E402

ISSUE = dt.date(2026, 12, 1)


def letters_side(composer, people, charset="", composing=None):
    """Compose and render ``people``'s letters; the pages made. ``composing``: a list the
    seconds spent composing are added to (the rest is rendering)."""
    pages = 0
    spent = 0.0
    clock = time.perf_counter
    for r in people:
        t = clock()
        doc = composer.compose(r, notice_id=f"N{r.defendant_id}", issue_date=ISSUE)
        spent += clock() - t
        doc.charset = charset
        pages += render(doc).pages
    if composing is not None:
        composing.append(spent)
    return pages


def unshared_side(composer, people):
    """The letters side as it was before layout was shared between letters: each letter's
    HTML parsed whole, ReportLab's own paragraphs, no stamps, a font subset made, formatted
    and compressed for every letter, ReportLab's QR encoder."""
    from reportlab.graphics.barcode import qrencoder

    def reportlab_qr(value):
        code = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
        code.addData(value)
        code.make()
        return [[bool(m) for m in row] for row in code.modules]

    saved = pdf.Paragraph, fonts._SUBSETS_KEPT, compose.PARSE_CACHE, qr.modules
    pdf.Paragraph, fonts._SUBSETS_KEPT, compose.PARSE_CACHE = pdf._RLParagraph, 0, False
    qr.modules = reportlab_qr
    try:
        pdf.clear_caches()
        with fonts.as_shipped():
            return letters_side(composer, people)
    finally:
        pdf.Paragraph, fonts._SUBSETS_KEPT, compose.PARSE_CACHE, qr.modules = saved


def plain_story(doc):
    style = ParagraphStyle("b", fontName=FONT, fontSize=10.5, leading=14.2)
    small = ParagraphStyle("s", fontName=FONT, fontSize=8.5, leading=10.5)
    story = []
    for i, version in enumerate(doc.versions):
        if i:
            story.append(PageBreak())
        for block in version.blocks:
            if block.kind == "table":
                rows = [[Paragraph(markup(cell), small) for cell in row]
                        for row in block.header + block.rows]
                story.append(Table(rows, repeatRows=1))
            elif block.kind == "pagebreak":
                story.append(PageBreak())
            elif block.kind == "list":
                story += [Paragraph(markup(item), style) for item in block.items]
            elif block.kind != "hr":
                story.append(Paragraph(markup(block.runs), style))
    return story


def plain_side(stories):
    with fonts.as_shipped():
        for story in stories:
            buf = io.BytesIO()
            SimpleDocTemplate(buf, pagesize=letter, invariant=1).build(list(story()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--letters", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warm-up", type=int, default=60)
    parser.add_argument("--collector", choices=("worker", "default"), default="worker",
                        help="the garbage collector as in a rendering worker (default) or "
                             "Python's defaults")
    args = parser.parse_args()

    from bench.mail import records_for

    cfg = config.load(HERE.parent / "letters.toml")
    needed = args.warm_up + args.rounds * args.letters
    records = records_for(needed, HERE / "data")
    everyone = read_for(cfg, records).recipients[:needed]
    composer = Composer(cfg)
    register_fonts()
    charset = glyphs.batch_charset(cfg, everyone)
    warm, rest = everyone[: args.warm_up], everyone[args.warm_up:]
    rounds = [rest[i * args.letters:(i + 1) * args.letters] for i in range(args.rounds)]
    letters_side(composer, warm, charset)  # warm caches on every side
    unshared_side(composer, warm[:3])
    plain_side([lambda d=d: plain_story(d) for d in (
        composer.compose(r, notice_id=f"N{r.defendant_id}", issue_date=ISSUE) for r in warm[:3])])
    if args.collector == "worker":
        collect_less()
        gc.collect()
        gc.freeze()

    ours, unshared, plain, composing = [], [], [], []
    pages = 0
    for people in rounds:
        docs = [composer.compose(r, notice_id=f"N{r.defendant_id}", issue_date=ISSUE)
                for r in people]
        stories = [lambda d=d: plain_story(d) for d in docs]
        t0 = time.perf_counter()
        pages += letters_side(composer, people, charset, composing)
        t1 = time.perf_counter()
        unshared_side(composer, people)
        t2 = time.perf_counter()
        plain_side(stories)
        t3 = time.perf_counter()
        ours.append(t1 - t0)
        unshared.append(t2 - t1)
        plain.append(t3 - t2)
    n = args.letters
    pages = pages / args.rounds
    best_ours, best_unshared, best_plain = min(ours), min(unshared), min(plain)
    # the letters side's best round, split: composing (Jinja, gettext, the HTML subset) and
    # rendering (checks, layout, furniture, the PDF); plain platypus starts from composed
    # letters, so it is compared with rendering alone, and with composing added to it
    best_compose = composing[ours.index(best_ours)]
    best_render = best_ours - best_compose

    def row(label, best):
        return f"| {label} | {n / best:.1f} | {pages / best:.0f} | {1000 * best / n:.1f} |"

    lines = [
        f"{n} generated people per round, bilingual where they read another language "
        f"({pages:.0f} pages, {pages / n:.1f} per letter), one process, best of {args.rounds} "
        f"alternating rounds of people not seen before ({args.warm_up} others first).",
        f"Machine: {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores. Garbage collector: "
        f"{'as in a rendering worker' if args.collector == 'worker' else 'Python defaults'}.",
        "",
        "| renderer | letters/s | pages/s | ms/letter |",
        "|---|---:|---:|---:|",
        row("letters, layout shared (compose + checks + layout + furniture)", best_ours),
        row("… of which rendering (checks + layout + furniture)", best_render),
        row("letters, nothing shared (before)", best_unshared),
        row("plain ReportLab platypus, same markup", best_plain),
        "",
        f"Nothing shared / shared: {best_unshared / best_ours:.2f}×. "
        f"Letters / plain (time per letter): {best_ours / best_plain:.2f}× as measured (composing "
        f"counted on the letters side only); {best_render / best_plain:.2f}× both from composed "
        f"letters (rendering / plain); {best_ours / (best_plain + best_compose):.2f}× both from "
        f"the records (plain given the same composing).",
        f"All rounds (s): letters {', '.join(f'{t:.2f}' for t in ours)}; nothing shared "
        f"{', '.join(f'{t:.2f}' for t in unshared)}; plain "
        f"{', '.join(f'{t:.2f}' for t in plain)}.",
    ]
    record_section("Render", "\n".join(lines), command="python bench/render.py")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
