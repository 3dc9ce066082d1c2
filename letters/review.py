"""Review packets for translators and reviewing lawyers: every message, English beside the
translation, with its status, sign-off, source and translator comments, then a sample letter.

``letters i18n review --lang es`` writes one self-contained HTML file (inline styles, no script,
no network: it opens in any browser) and a PDF of the same content followed by the sample letter
rendered in that language. Messages with a problem or a missing or stale sign-off are
highlighted, so a reviewer sees at once what changed since the last approval.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import io
import re
from dataclasses import dataclass
from pathlib import Path

from letters import i18n
from letters.config import Config
from letters.errors import LettersError
from letters.exports import private_dir
from letters.languages import SOURCE_LANGUAGE
from letters.model import Address, Case, Recipient

#: The fictional person whose letter closes the packet (in the reviewed language).
SAMPLE_RECIPIENT = Recipient(
    defendant_id="SAMPLE-1", first_name="Ana María", middle_name="", last_name="Ejemplo Núñez",
    suffix="", address=Address("100 Calle Ejemplo", "Apt 2", "Lawrence", "MA", "01841"),
    language=SOURCE_LANGUAGE,
    cases=(Case("0518CR000123", "Lawrence District Court", "Essex",
                "Possession of a Class B substance", "2005-06-14", 2,
                disposition="Pleaded guilty", lab="Hinton lab, Boston", chemist="Annie Dookhan",
                case_status="dismissed"),
           Case("0918CR000456", "Lawrence District Court", "Essex",
                "Distribution of a Class B substance", "2009-10-02", 3,
                disposition="Convicted after trial", lab="Amherst lab", chemist="Sonja Farak",
                case_status="may_retry")),
    source_rows=(2, 3))


@dataclass
class ReviewRow:
    number: int
    location: str
    english: list[str]
    translation: list[str]
    status: str            # signed | no sign-off | stale sign-off | sample sign-off | problem
    problems: list[str]
    signoff: str           # "reviewer, date" or ""
    comments: str
    catalog: str = i18n.DOMAIN
    context: str = ""
    previous: list[str] | None = None   # the English a fuzzy translation was made for


def _letter_order(location: tuple[str, int], template_name: str) -> tuple:
    filename, line = location
    rank = 0 if filename.endswith(template_name) else 1 if filename.startswith("templates") else 2
    return rank, filename, line


def rows(cfg: Config, lang: str) -> list[ReviewRow]:
    """Every message of ``lang``'s catalogs, in letter order: the letter's sentences, then the
    data values, then the tagline."""
    root, locale_dir = cfg.root.resolve(), cfg.locale_dir
    templates = i18n.extract_catalogs(root)
    office = i18n.office_fingerprint(cfg.office, cfg.counsel)
    out: list[ReviewRow] = []
    for domain, code in i18n.each_catalog(i18n.catalog_targets(cfg)):
        if code != lang:
            continue
        path = i18n.po_path(locale_dir, lang, domain)
        template = templates.get(domain) or i18n.template_catalog(locale_dir, domain)
        catalog = i18n.read_catalog(path, lang, domain) if path.exists() else None
        records = i18n.load_signoffs(locale_dir, lang, domain).records
        problems: dict[str, list[str]] = {}
        for p in i18n.check(locale_dir, lang, domain=domain, root=root, template=template,
                            office=office):
            if p.key:
                problems.setdefault(p.key, []).append(p.message.rsplit(": '", 1)[0])
        messages = sorted((m for m in (template or []) if m.id),
                          key=lambda m: _letter_order(m.locations[0] if m.locations else
                                                      ("", 0), cfg.letter.template))
        for tm in messages:
            key = i18n.message_key(tm)
            m = catalog.get(tm.id, context=tm.context) if catalog is not None else None
            english = i18n.texts(tm.id)
            translation = i18n.texts(m.string) if m is not None else [""]
            found = problems.get(key, [])
            record = records.get(key)
            status_sign = i18n.signoff_status(m, record) if m is not None else "missing"
            real = [p for p in found if "sign-off" not in p and "signed off" not in p]
            if real:
                status = "problem"
            elif any(i18n.SAMPLE_SIGNOFF in p for p in found):
                status = "sample sign-off"
            else:
                status = {"signed": "signed", "missing": "no sign-off",
                          "stale": "stale sign-off"}[status_sign]
            loc = ", ".join(f"{f}:{line}" if line else f for f, line in tm.locations)
            previous = None
            if m is not None and m.fuzzy:
                previous = (i18n.texts(m.previous_id) if m.previous_id
                            else _previous_in_file(path, m.lineno))
            out.append(ReviewRow(len(out) + 1, loc, english, translation, status, real,
                                 f"{record['reviewer']}, {record['date']}" if record else "",
                                 " ".join(" ".join(tm.auto_comments).split()), domain,
                                 tm.context or "", previous))
    return out


def _previous_in_file(path: Path, lineno: int | None) -> list[str] | None:
    """The ``#| msgid`` of the entry at ``lineno``, read from the file itself: Babel wraps a
    long previous msgid over several ``#|`` lines and reads only the first back."""
    if not lineno:
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    i = lineno - 2
    block: list[str] = []
    while i >= 0 and lines[i].startswith("#|"):
        block.insert(0, lines[i][2:].strip())
        i -= 1
    text = " ".join(block)
    if not text.startswith("msgid "):
        return None
    pieces = re.findall(r'"((?:[^"\\]|\\.)*)"', text.split("msgid_plural")[0])
    return ["".join(p.replace('\\"', '"') for p in pieces)] if pieces else None


_CSS = """
body { font-family: "DejaVu Sans", Verdana, sans-serif; font-size: 14px; margin: 24px; color: #111; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; }
table.messages { border-collapse: collapse; width: 100%; }
table.messages th, table.messages td { border: 1px solid #999; padding: 6px 8px; vertical-align: top; }
table.messages th { background: #e6e6e6; text-align: left; }
tr.flag td { background: #fff1c2; }
tr.problem td { background: #ffd9d9; }
.previous { color: #7a4b00; font-size: 12px; }
.status { font-weight: bold; white-space: nowrap; }
.meta { color: #444; font-size: 12px; }
.letter { border: 1px solid #999; padding: 24px; max-width: 720px; background: #fff; }
.letter table { border-collapse: collapse; font-size: 12px; }
.letter th, .letter td { border: 1px solid #777; padding: 3px 5px; }
.letter p.box { border: 1px solid #000; padding: 6px; }
pagebreak { display: block; border-top: 2px dashed #999; margin: 24px 0; }
"""


def _cell(texts: list[str]) -> str:
    if len(texts) == 1:
        return html.escape(texts[0])
    return "<br>".join(f"<span class='meta'>[{i}]</span> {html.escape(t)}"
                       for i, t in enumerate(texts))


def render_html(cfg: Config, lang: str, review_rows: list[ReviewRow], letter_html: str,
                generated: dt.date) -> str:
    counts = {s: sum(r.status == s for r in review_rows)
              for s in ("signed", "no sign-off", "stale sign-off", "sample sign-off", "problem")}
    summary = ", ".join(f"{v} {k}" for k, v in counts.items())
    body = []
    for r in review_rows:
        cls = "" if r.status == "signed" else ("problem" if r.status == "problem" else "flag")
        status = html.escape(r.status) + "".join(
            f"<div class='meta'>{html.escape(p)}</div>" for p in r.problems)
        meta = f"<div class='meta'>{html.escape(r.catalog)}"
        meta += f" [{html.escape(r.context)}]" if r.context else ""
        meta += f" — {html.escape(r.location)}</div>"
        if r.previous:
            meta += ("<div class='previous'>Previous English: "
                     f"{html.escape(' / '.join(r.previous))}</div>")
        if r.comments:
            meta += f"<div class='meta'>Translators: {html.escape(r.comments)}</div>"
        body.append(
            f"<tr class='{cls}'><td>{r.number}</td><td>{_cell(r.english)}{meta}</td>"
            f"<td lang='{html.escape(lang)}'>{_cell(r.translation)}</td>"
            f"<td class='status'>{status}</td><td>{html.escape(r.signoff)}</td></tr>")
    office = html.escape(cfg.office.name)
    po = i18n.po_path(cfg.locale_dir, lang)
    root = cfg.root.resolve()
    catalog = po.relative_to(root).as_posix() if po.is_relative_to(root) else str(po)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Translation review: {html.escape(lang)} — {office}</title>
<style>{_CSS}</style></head>
<body>
<h1>Translation review: English → {html.escape(_language_name(cfg, lang))} ({html.escape(lang)})</h1>
<p class="meta">{office}. Catalog {html.escape(catalog)}; generated {generated.isoformat()}.
Messages in the order the letter uses them: {summary}. Highlighted rows need a translator or a
reviewer before letters in this language can be mailed.</p>
<table class="messages">
<thead><tr><th>#</th><th>English</th><th>Translation</th><th>Status</th><th>Sign-off</th></tr></thead>
<tbody>
{chr(10).join(body)}
</tbody></table>
<h2>Sample letter in this language (fictional person)</h2>
<div class="letter" lang="{html.escape(lang)}">
{letter_html}
</div>
</body></html>
"""


def _language_name(cfg: Config, lang: str) -> str:
    if lang in cfg.registry:
        return cfg.registry[lang].babel.english_name or lang
    return lang


def render_pdf(cfg: Config, lang: str, review_rows: list[ReviewRow], letter_pdf: bytes,
               generated: dt.date) -> bytes:
    import pikepdf
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import landscape, letter
    from reportlab.lib.units import inch
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    from letters.pdf import FONT, STYLES, register_fonts

    register_fonts()
    esc = html.escape
    small = STYLES["cell"]
    story = [Paragraph(esc(f"Translation review: English → {lang}"), STYLES["h1"]),
             Paragraph(esc(f"{cfg.office.name}. Generated {generated.isoformat()}. Messages in "
                           "letter order; highlighted rows need a translator or a reviewer."),
                       STYLES["small"]),
             Spacer(1, 8)]
    data = [[Paragraph(x, STYLES["th"]) for x in ("#", "English", "Translation", "Status",
                                                   "Sign-off")]]
    style = [("FONT", (0, 0), (-1, -1), FONT, 8), ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
             ("VALIGN", (0, 0), (-1, -1), "TOP"),
             ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.9, 0.9, 0.9))]
    for i, r in enumerate(review_rows, start=1):
        english = "<br/>".join(esc(t) for t in r.english) + \
            f"<br/><font size=6.5>{esc(r.catalog)} {esc(r.context)} {esc(r.location)}</font>" + \
            (f"<br/><font size=6.5>Previous English: {esc(' / '.join(r.previous))}</font>"
             if r.previous else "") + \
            (f"<br/><font size=6.5>Translators: {esc(r.comments)}</font>" if r.comments else "")
        data.append([Paragraph(str(r.number), small), Paragraph(english, small),
                     Paragraph("<br/>".join(esc(t) for t in r.translation), small),
                     Paragraph(esc(r.status) + "".join(f"<br/>{esc(p)}" for p in r.problems),
                               small),
                     Paragraph(esc(r.signoff), small)])
        if r.status != "signed":
            tint = colors.Color(1, 0.85, 0.85) if r.status == "problem" else \
                colors.Color(1, 0.95, 0.76)
            style.append(("BACKGROUND", (0, i), (-1, i), tint))
    width = landscape(letter)[0] - 1.2 * inch
    table = Table(data, colWidths=[w * width for w in (0.04, 0.36, 0.36, 0.12, 0.12)],
                  repeatRows=1)
    table.setStyle(TableStyle(style))
    story.append(table)
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=landscape(letter), leftMargin=0.6 * inch,
                      rightMargin=0.6 * inch, topMargin=0.6 * inch, bottomMargin=0.6 * inch,
                      title=f"Translation review ({lang})", invariant=1).build(story)
    merged = pikepdf.Pdf.new()
    review = pikepdf.open(io.BytesIO(buf.getvalue()))
    sample = pikepdf.open(io.BytesIO(letter_pdf)) if letter_pdf else None
    merged.pages.extend(review.pages)
    if sample is not None:
        merged.pages.extend(sample.pages)
    out = io.BytesIO()
    merged.save(out, deterministic_id=True)
    return out.getvalue()


def write_packet(cfg: Config, lang: str, out_dir: Path, *, today: dt.date | None = None
                 ) -> tuple[Path, Path]:
    """Write the review packet (HTML and PDF); return their paths. A translation that breaks
    the sample letter (a wrong placeholder) is highlighted in the table, and the packet says
    the sample letter could not be rendered, rather than no packet at all."""
    from letters.compose import Composer
    from letters.pdf import render

    today = today or dt.date.today()
    review_rows = rows(cfg, lang)
    composer = Composer(cfg)
    letter_pdf = b""
    if lang in cfg.registry.letter_codes:
        person = dataclasses.replace(SAMPLE_RECIPIENT, language=lang)
        try:
            letter_html = composer.html(person, lang, notice_id="SAMPLE-NOTICE",
                                        issue_date=today)
            doc = composer.compose(person, notice_id="SAMPLE-NOTICE", issue_date=today,
                                   languages=[lang], proof=True)
            letter_pdf = render(doc).pdf
        except LettersError as exc:
            letter_html = (f"<p><b>The sample letter cannot be rendered with this catalog:</b> "
                           f"{html.escape(str(exc))}</p>")
    else:
        letter_html = ("<p>This language has a tagline only (no letter version); the tagline "
                       "is the last row of the table above.</p>")
    out_dir = private_dir(out_dir)
    html_path = out_dir / f"review-{lang}.html"
    pdf_path = out_dir / f"review-{lang}.pdf"
    html_path.write_text(render_html(cfg, lang, review_rows, letter_html, today),
                         encoding="utf-8")
    pdf_path.write_bytes(render_pdf(cfg, lang, review_rows, letter_pdf, today))
    return html_path, pdf_path
