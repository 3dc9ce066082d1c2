"""Print-file and retained-copy size per letter, with and without the batch's character set.

    python bench/print_files.py

Mails the bundled sample three times in one run, into temporary folders, with the same issue
date: as before batches had a character set (each letter embeds subsets of the characters it
draws, and the print file keeps every letter's, renamed); the same letters with identical
subsets kept once (only letters that draw exactly the same characters share); and as now
(``letters.glyphs``: every letter of the batch embeds the same subsets, and the print file
keeps one of each). Records bytes per letter of the print files and of the retained copies,
and the font subsets ``pdffonts`` lists in the print files, in bench/RESULTS.md.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tempfile
from pathlib import Path
from unittest import mock

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.results import record_section  # noqa: E402
from letters import config, mailing, printshop  # noqa: E402

ISSUE = dt.date(2026, 12, 1)


def measure(cfg, out: Path, batch: str) -> dict:
    result = mailing.mail(cfg, HERE.parent / "examples" / "records.csv", batch=batch,
                          issue_date=ISSUE, allow_past_date=True, out_dir=out, workers=2)
    folder = out / batch
    prints = sorted((folder / "print").glob("*.pdf"))
    copies = list((folder / "letters").glob("*.pdf"))
    subsets = []
    for p in prints:
        lines = subprocess.run(["pdffonts", str(p)], capture_output=True, text=True,
                               check=True).stdout.splitlines()[2:]
        subsets += [line.split()[0] for line in lines]
    return {"letters": result.letters, "pages": result.pages,
            "print": sum(p.stat().st_size for p in prints), "files": len(prints),
            "copies": sum(p.stat().st_size for p in copies), "subsets": len(subsets),
            "distinct": len(set(subsets))}


def copy_every_subset(shared, font, foreign=False):
    """The merge before: a letter's fonts are copied in whatever they hold."""
    return shared.pdf.copy_foreign(font) if foreign else font


def keep_every_subset(pdf, shared=None) -> int:
    """The merge before: every letter's subsets stay, each under a tag of its own."""
    import pikepdf

    n = 0
    seen = set()
    for obj in pdf.objects:
        if isinstance(obj, pikepdf.Dictionary) and obj.get("/Type") == pikepdf.Name.Font \
                and "/FontDescriptor" in obj and obj.objgen not in seen:
            seen.add(obj.objgen)
            face = str(obj.BaseFont).split("+", 1)[1]
            obj.BaseFont = obj.FontDescriptor.FontName = pikepdf.Name(f"/{printshop._tag(n)}+{face}")
            n += 1
    return n


def main() -> None:
    cfg = config.load(HERE.parent / "letters.toml")
    with tempfile.TemporaryDirectory() as tmp:
        with mock.patch.object(mailing.glyphs, "batch_charset", lambda *a, **k: ""):
            with mock.patch.object(printshop, "_share_fonts", keep_every_subset), \
                    mock.patch.object(printshop._SharedFonts, "keep", copy_every_subset):
                before = measure(cfg, Path(tmp) / "before", "before")
            identical = measure(cfg, Path(tmp) / "identical", "identical")
        after = measure(cfg, Path(tmp) / "after", "after")
    n = after["letters"]
    rows = ["| letters embed | print files (bytes) | per letter | retained copies, per "
            "letter | font subsets in the print files |", "|---|---:|---:|---:|---:|"]
    for label, m in (("the characters each draws, every letter's kept (before)", before),
                     ("the characters each draws, identical subsets kept once", identical),
                     ("the batch's character set, kept once (now)", after)):
        rows.append(f"| {label} | {m['print']:,} | {m['print'] / n:,.0f} | "
                    f"{m['copies'] / n:,.0f} | {m['subsets']:,} ({m['distinct']:,} names) |")
    body = "\n".join([
        f"The bundled sample: {n} letters, {after['pages']:,} pages (duplex, padded to even "
        f"page counts), {after['files']} print file(s); the same letters every time.", "",
        *rows, "",
        f"Print file per letter: {after['print'] / before['print']:.2f}× the size before; "
        f"retained copy per letter: {after['copies'] / before['copies']:.2f}× (each copy now "
        "embeds the batch's whole character set in every face it uses, not only the "
        "characters it draws)."])
    record_section("Print-file size and font subsets", body,
                   command="python bench/print_files.py")
    print(body)


if __name__ == "__main__":
    main()
