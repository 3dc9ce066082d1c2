"""Intake throughput: rows/s reading, validating and grouping a generated 1,000,000-row export.

    python bench/intake.py [--rows 1000000] [--repeat 3]

Writes bench/data/ (ignored by git) and records the result in bench/RESULTS.md (section
"Intake"). Two figures, measured in the same run:

- validate: read + normalise + validate + group (what `letters validate` does);
- materialise: the same, then every Recipient object built (what a mailing iterates over).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from letters import config, sample  # noqa: E402
from letters.records import read_for  # noqa: E402
from bench.results import record_section  # noqa: E402

ROWS_PER_PERSON = 1.77  # the generator's mean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    data = HERE / "data"
    data.mkdir(exist_ok=True)
    people = int(args.rows / ROWS_PER_PERSON)
    path = data / f"intake-{people}.csv"
    if not path.exists():
        with open(path, "w", encoding="utf-8", newline="") as fh:
            sample.write(fh, people, seed=3)
    cfg = config.load(HERE.parent / "letters.toml")

    validate, materialise = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        intake = read_for(cfg, path)
        t1 = time.perf_counter()
        built = sum(1 for _ in intake.recipients)
        t2 = time.perf_counter()
        validate.append(t1 - t0)
        materialise.append(t2 - t0)
    rows = intake.rows_read
    assert built == intake.people
    best_v, best_m = min(validate), min(materialise)
    lines = [
        f"Input: {rows:,} rows, {intake.people:,} people, {intake.cases:,} cases, "
        f"{len(intake.rejected_rows)} rejected rows; file {path.stat().st_size / 1e6:.0f} MB.",
        f"Machine: {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores. Best of {args.repeat} runs.",
        "",
        "| stage | seconds | rows/s |",
        "|---|---:|---:|",
        f"| validate (read, normalise, validate, group) | {best_v:.2f} | {rows / best_v:,.0f} |",
        f"| validate + build every Recipient object | {best_m:.2f} | {rows / best_m:,.0f} |",
        "",
        f"All runs, validate: {', '.join(f'{t:.2f}' for t in validate)} s; "
        f"with objects: {', '.join(f'{t:.2f}' for t in materialise)} s.",
    ]
    record_section("Intake", "\n".join(lines), command="python bench/intake.py")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
