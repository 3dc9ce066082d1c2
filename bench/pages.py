"""Pages per letter, as the mail house will print them, recorded in bench/RESULTS.md.

    python bench/pages.py

A person with 1, 3 and 10 cases (values from the sample export), in each kind of letter the
sample sends: English only, Spanish + English, Portuguese + English, English + Spanish (a person
who asked for a language without letters), at the body size of letters.toml (12 pt) and in
large print (18 pt). Fewer pages is better, but never by cutting required content: every
version is complete, and the response form closes the letter.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.results import record_section  # noqa: E402
from letters import config  # noqa: E402
from letters.compose import Composer  # noqa: E402
from letters.pdf import render  # noqa: E402
from letters.records import read_for  # noqa: E402

KINDS = {"en": ("en", ""), "es + en": ("es", ""), "pt + en": ("pt", ""),
         "en + es (asked for vi)": ("en", "vi")}


def main() -> None:
    cfg = config.load(HERE.parent / "letters.toml")
    people = list(read_for(cfg, HERE.parent / "examples" / "records.csv").recipients)
    cases = [c for p in people for c in p.cases]
    base = people[0]
    composer = Composer(cfg)
    rows = ["| letter | 1 case | 3 cases | 10 cases | 3 cases, large print |",
            "|---|---:|---:|---:|---:|"]
    for label, (language, requested) in KINDS.items():
        counts = []
        for n, large in ((1, False), (3, False), (10, False), (3, True)):
            person = dataclasses.replace(base, language=language, language_requested=requested,
                                         cases=tuple(cases[:n]), large_print=large)
            doc = composer.compose(person, notice_id="ABC-DEF-GHJ",
                                   issue_date=dt.date(2026, 12, 1))
            out = render(doc)
            counts.append(str(out.pages))
        rows.append(f"| {label} | " + " | ".join(counts) + " |")
    body = "\n".join(rows + ["", f"Body {cfg.letter.font_size:g} pt (large print "
                                 f"{cfg.letter.large_print_size:g} pt), tables and notes at "
                                 "least 10 pt, US Letter, one side; the response form is the "
                                 "last page."])
    record_section("Pages per letter", body, command="python bench/pages.py")
    print(body)


if __name__ == "__main__":
    main()
