"""Print-file size per letter with and without renaming font subset tags.

    PYTHONPATH=. python bench/print_files.py OUT/BATCH

Merges the batch's retained copies in print order twice, once as the print files were merged
before (every letter's subsets tagged AAAAAA+) and once as now (a tag per subset), and prints
the sizes; the same letters, so the difference is the renaming alone.
"""

from __future__ import annotations

import csv
import sys
import tempfile
from pathlib import Path
from unittest import mock

from letters import printshop


def main(folder: str) -> None:
    folder = Path(folder)
    with open(folder / "print" / "manifest.csv", encoding="utf-8") as fh:
        printed = list(csv.DictReader(fh))
    sources = [str(folder / "letters" / f"{p['notice_id']}.pdf") for p in printed]
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {}
        for label, patch in (("one tag (before)", True), ("a tag per subset (now)", False)):
            target = Path(tmp) / f"{len(sizes)}.pdf"
            with mock.patch.object(printshop, "_retag_subsets",
                                   (lambda pdf, counter: None) if patch
                                   else printshop._retag_subsets):
                printshop._merge_print_file((str(target), sources))
            sizes[label] = target.stat().st_size
    print(f"{len(sources)} letters, {sum(int(p['pages']) for p in printed)} pages")
    print("| subsets | print file (bytes) | per letter (bytes) |\n|---|---:|---:|")
    for label, size in sizes.items():
        print(f"| {label} | {size} | {size / len(sources):.0f} |")


if __name__ == "__main__":
    main(sys.argv[1])
