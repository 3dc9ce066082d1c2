"""Keep bench/RESULTS.md: one section per benchmark, replaced when that benchmark runs again."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = ("# Benchmark results\n\nWritten by the scripts in `bench/`; each section is replaced "
          "when its script runs again. Numbers are from one machine and one run: compare the "
          "figures inside one section (same run), not across sections or days.\n")


def record_section(title: str, body: str, *, command: str) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else HEADER
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = f"## {title}\n\n`{command}` — {stamp}\n\n{body.rstrip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    RESULTS.write_text(text, encoding="utf-8")
