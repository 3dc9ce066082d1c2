"""Print files for the mail house: the batch's letters combined in ZIP-code order.

Each print file holds at most ``[mailing] letters_per_print_file`` letters, sorted by ZIP code
(then notice ID) so the mail house can presort; ``print/manifest.csv`` says which letter starts
on which page of which file. Files are merged with pikepdf (qpdf) with a deterministic file ID,
so the same batch gives the same bytes, and in parallel when there are several files.
"""

from __future__ import annotations

import io
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from letters.exports import private_dir, write_csv
from letters.processes import exit_with_parent
from letters.store import replace_file

PRINT_MANIFEST_HEADER = ("print_file", "sequence", "notice_id", "zip", "pages", "first_page")


def _merge_print_file(job: tuple[str, list[str]]) -> bytes:
    """One combined print file from letter copies, deterministic bytes (runs in a worker)."""
    import pikepdf

    target, sources = job
    merged = pikepdf.Pdf.new()
    opened = [pikepdf.open(io.BytesIO(Path(p).read_bytes())) for p in sources]
    try:
        for src in opened:
            merged.pages.extend(src.pages)
        buf = io.BytesIO()
        # Letter streams are already compressed: copy them as they are (decoding and
        # recompressing them made merging nine times slower for no smaller file).
        merged.save(buf, deterministic_id=True, compress_streams=False,
                    stream_decode_level=pikepdf.StreamDecodeLevel.none)
    finally:
        for src in opened:
            src.close()
    replace_file(Path(target), buf.getvalue())
    return target


def write_print_files(folder: Path, rows, per_file: int, workers: int) -> list[str]:
    """Combined PDFs in ZIP-code order for the mail house, and their manifest."""
    ordered = sorted(rows, key=lambda r: (r.zip, r.notice_id))
    print_dir = private_dir(folder / "print")
    names: list[str] = []
    jobs = []
    manifest = []
    for n, start in enumerate(range(0, len(ordered), per_file), start=1):
        name = f"print-{n:03d}.pdf"
        page = 1
        chunk = ordered[start:start + per_file]
        for seq, r in enumerate(chunk, start=1):
            manifest.append((name, seq, r.notice_id, r.zip, r.pages, page))
            page += r.pages
        jobs.append((str(print_dir / name), [str(folder / r.file) for r in chunk]))
        names.append(f"print/{name}")
    if workers > 1 and len(jobs) > 1:
        ctx = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                 initializer=exit_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            list(pool.map(_merge_print_file, jobs))
    else:
        for job in jobs:
            _merge_print_file(job)
    write_csv(print_dir / "manifest.csv", PRINT_MANIFEST_HEADER, manifest)
    names.append("print/manifest.csv")
    return names
