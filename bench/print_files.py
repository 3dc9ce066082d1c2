"""Print-file and retained-copy size per letter, with and without the batch's character set;
the time to make print files by joining the copies' bytes and by merging them with pikepdf.

    python bench/print_files.py

Mails the bundled sample three times in one run, into temporary folders, with the same issue
date: as before batches had a character set (each letter embeds subsets of the characters it
draws, and the print file keeps every letter's, renamed); the same letters with identical
subsets kept once (only letters that draw exactly the same characters share); and as now
(``letters.glyphs``: every letter of the batch embeds the same subsets, and the print file
keeps one of each). Records bytes per letter of the print files and of the retained copies,
and the font subsets ``pdffonts`` lists in the print files, in bench/RESULTS.md. The first two
merge with pikepdf, as print files were made then.

Then, on the last batch's retained copies, makes its print files both ways in one process,
alternating, best of 3 rounds: joined at the byte level (``letters.pdfjoin``, what a batch
does) and merged by pikepdf (``printshop._merged``, what it did before and still does for a
copy the joiner does not recognise).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.results import record_section  # noqa: E402
from letters import config, mailing, pdfjoin, printshop  # noqa: E402

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
            obj.BaseFont = obj.FontDescriptor.FontName = pikepdf.Name(f"/{pdfjoin.subset_tag(n)}+{face}")
            n += 1
    return n


def time_both_ways(folder: Path, rounds: int = 3) -> dict:
    """Seconds to make the batch's print files from its copies, each way, best of ``rounds``
    (alternating), and the bytes each way makes."""
    import csv

    with open(folder / "print" / "manifest.csv", encoding="utf-8", newline="") as f:
        placed = list(csv.DictReader(f))
    files: dict[str, list[bytes]] = {}
    for row in placed:
        files.setdefault(row["print_file"], []).append(
            (folder / "letters" / f"{row['notice_id']}.pdf").read_bytes())
    ways = {"joined (letters.pdfjoin)": pdfjoin.join, "merged by pikepdf": printshop._merged}
    best = {name: float("inf") for name in ways}
    size = {}
    for _ in range(rounds):
        for name, way in ways.items():
            start = time.process_time()
            made = [way(copies) for copies in files.values()]
            best[name] = min(best[name], time.process_time() - start)
            size[name] = sum(len(m) for m in made)
    return {"best": best, "size": size, "letters": len(placed)}


def main() -> None:
    cfg = config.load(HERE.parent / "letters.toml")
    with tempfile.TemporaryDirectory() as tmp:
        with mock.patch.object(mailing.glyphs, "batch_charset", lambda *a, **k: ""), \
                mock.patch.object(pdfjoin, "join", lambda copies: None):
            with mock.patch.object(printshop, "_share_fonts", keep_every_subset), \
                    mock.patch.object(printshop._SharedFonts, "keep", copy_every_subset):
                before = measure(cfg, Path(tmp) / "before", "before")
            identical = measure(cfg, Path(tmp) / "identical", "identical")
        after = measure(cfg, Path(tmp) / "after", "after")
        timing = time_both_ways(Path(tmp) / "after" / "after")
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
        "characters it draws).", "",
        f"Making the {timing['letters']} letters' print files from their copies (CPU, one "
        "process, best of 3 alternating rounds):", "",
        "| print files | seconds | ms per letter | bytes |", "|---|---:|---:|---:|",
        *[f"| {name} | {sec:.3f} | {1000 * sec / timing['letters']:.2f} | "
          f"{timing['size'][name]:,} |" for name, sec in timing["best"].items()], "",
        "Merged / joined (time): "
        f"{timing['best']['merged by pikepdf'] / timing['best']['joined (letters.pdfjoin)']:.1f}×."])
    record_section("Print-file size and font subsets", body,
                   command="python bench/print_files.py")
    print(body)


if __name__ == "__main__":
    main()
