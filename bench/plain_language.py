"""Plain-language figures of the sample letter, recorded in bench/RESULTS.md.

    python bench/plain_language.py

English: Flesch-Kincaid grade (aim: at most 8). Spanish: Szigriszt-Pazos on the INFLESZ scale
(aim: at least 65). Measured over the prose of each version (no cases table, fill-in labels or
postal addresses), syllables counted with pyphen's en_US and es dictionaries. The same figures
are checked in tests/test_plain_language.py.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.results import record_section  # noqa: E402
from letters import config, readability  # noqa: E402
from letters.compose import Composer  # noqa: E402
from letters.records import read_records  # noqa: E402


def main() -> None:
    cfg = config.load(HERE.parent / "letters.toml")
    intake = read_records(HERE.parent / "examples" / "records.csv", columns=cfg.columns)
    composer = Composer(cfg)
    rows = ["| people with | language | words | sentences | syllables | measure |",
            "|---|---|---:|---:|---:|---:|"]
    for n in (1, 3):
        r = next(p for p in intake.recipients if len(p.cases) == n)
        doc = composer.compose(r, notice_id="ABC-DEF-GHJ", issue_date=dt.date(2026, 12, 1),
                               languages=["en", "es"])
        for lang in ("en", "es"):
            m = readability.measure(doc.prose_text(lang), lang)
            figure = (f"Flesch-Kincaid grade {m['grade']:.1f}" if lang == "en"
                      else f"INFLESZ {m['inflesz']:.1f}")
            rows.append(f"| {n} case{'s' if n > 1 else ''} | {lang} | {m['words']} | "
                        f"{m['sentences']} | {m['syllables']} | {figure} |")
    body = "\n".join(rows + ["", "Aims: English grade ≤ 8; Spanish INFLESZ ≥ 65. pyphen counts "
                             "hyphenation points, which undercounts some syllables (it keeps two "
                             "letters at each word end), the same way for every version."])
    record_section("Plain language", body, command="python bench/plain_language.py")
    print(body)


if __name__ == "__main__":
    main()
