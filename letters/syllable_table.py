"""Build the English syllable table, ``letters/data/cmudict-syllables.tsv.gz``, from a CMU
Pronouncing Dictionary file.

Usage::

    python -m letters.syllable_table SOURCE_DICT OUT

``SOURCE_DICT`` is a ``cmudict.dict`` file: one pronunciation a line, ``word PH ON EMES``,
other pronunciations of a word as ``word(2) ...``, ``word(3) ...`` after it, and a comment
after ``#``. The table keeps each word's first pronunciation only (the ``word(2)`` lines are
skipped) and counts its vowel phonemes: the ARPAbet symbols that end in a stress digit
(``L AO1 Y ER0`` is 2). It is written as gzip (no file name, mtime 0) holding one
``word<TAB>count`` line per word, sorted by word, so the same dictionary always gives the same
bytes. ``letters/data/README.md`` names the dictionary version the shipped table comes from.

The table is data of the CMU Pronouncing Dictionary (BSD-style licence, Carnegie Mellon
University, ``letters/data/CMUDICT-LICENSE``); this script is part of ``letters``.
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
from pathlib import Path


def first_pronunciation_counts(text: str) -> dict[str, int]:
    """Word -> vowel phonemes of its first pronunciation in the dictionary text ``text``.

    >>> first_pronunciation_counts("lawyer L AO1 Y ER0\\n"
    ...                            "fire F AY1 ER0 # a comment: AA1 ER0\\n"
    ...                            "fire(2) F AY1 R\\n")
    {'lawyer': 2, 'fire': 2}
    """
    counts: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        # "word(2) ..." lines are other pronunciations of a word already read.
        if fields and not fields[0].endswith(")"):
            counts.setdefault(fields[0], sum(p[-1].isdigit() for p in fields[1:]))
    return counts


def table_bytes(counts: dict[str, int]) -> bytes:
    """The gzip table of ``counts``: sorted ``word<TAB>count`` lines, mtime 0, no file name.

    >>> data = table_bytes({"fire": 2, "every": 3})
    >>> gzip.decompress(data).decode()
    'every\\t3\\nfire\\t2\\n'
    >>> data == table_bytes({"every": 3, "fire": 2})
    True
    """
    text = "".join(f"{word}\t{counts[word]}\n" for word in sorted(counts))
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9,
                       mtime=0) as out:
        out.write(text.encode("utf-8"))
    return buffer.getvalue()


def read_table(data: bytes) -> dict[str, int]:
    """The word counts of a gzip table written by :func:`table_bytes`.

    >>> read_table(table_bytes({"lawyer": 2, "conviction": 3}))
    {'conviction': 3, 'lawyer': 2}
    """
    counts: dict[str, int] = {}
    for line in gzip.decompress(data).decode("utf-8").splitlines():
        word, count = line.split("\t")
        counts[word] = int(count)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m letters.syllable_table",
        description="Write the English syllable table (gzip, word<TAB>count) from a CMU "
                    "Pronouncing Dictionary file.")
    parser.add_argument("source", metavar="SOURCE_DICT", type=Path,
                        help="the cmudict.dict file to read")
    parser.add_argument("out", metavar="OUT", type=Path,
                        help="where to write the table, e.g. letters/data/cmudict-syllables.tsv.gz")
    args = parser.parse_args(argv)
    counts = first_pronunciation_counts(args.source.read_text(encoding="utf-8"))
    if not counts:
        print(f"{args.source}: no dictionary entries", file=sys.stderr)
        return 1
    data = table_bytes(counts)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"{args.out}: {len(counts)} words, {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
