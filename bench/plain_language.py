"""Plain-language figures of the sample letter, recorded in bench/RESULTS.md.

    python bench/plain_language.py

For each letter language declared in letters.toml, the score of the whole letter and of its
hardest sentence (the sentence of at least three words with the worst score of its own), with
the measure the language declares. English: Flesch-Kincaid grade (aims: at most 6 for the whole
letter, at most 10 for the hardest sentence). Spanish: Szigriszt-Pazos on the INFLESZ scale
(aims: at least 70 and 45). Portuguese: Flesch adapted to Portuguese (Martins et al. 1996;
aims: at least 70 and 45, the same bands as INFLESZ). Measured over the prose of each version
(no headings, greeting, signature, cases table, form labels or postal addresses), with the
counting rules of letters/readability.py: English syllables from the CMU Pronouncing
Dictionary, Spanish and Portuguese syllables by the rules of written syllabification.
tests/test_plain_language.py checks only that the figures are computed and sane; the aims
are checked here.
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
from letters.records import read_for  # noqa: E402

# Aims per measure: (whole letter, hardest sentence). A score meets an aim when it is at most
# the aim on a measure where lower is easier, at least the aim where higher is easier.
AIMS = {"flesch-kincaid": (6.0, 10.0), "inflesz": (70.0, 45.0), "flesch-pt": (70.0, 45.0)}


def _aim_text(name: str, aim: float) -> str:
    return f"{'≥' if readability.MEASURES[name].higher_is_easier else '≤'} {aim:g}"


def _verdict(name: str, score: float, aim: float) -> str:
    """'2.3 (meets ≤ 6)': the score and whether it meets the aim."""
    if readability.MEASURES[name].higher_is_easier:
        ok = score >= aim
    else:
        ok = score <= aim
    return f"{score:.1f} ({'meets' if ok else 'misses'} {_aim_text(name, aim)})"


def main() -> None:
    cfg = config.load(HERE.parent / "letters.toml")
    intake = read_for(cfg, HERE.parent / "examples" / "records.csv")
    composer = Composer(cfg)
    # syllable counter and measure of each letter language, as letters.toml declares them
    measures = {lang.code: (lang.syllables, lang.readability) for lang in cfg.registry
                if lang.letter and lang.readability}
    rows = ["| people with | language | words | sentences | syllables | measure | whole letter "
            "| hardest sentence |",
            "|---|---|---:|---:|---:|---|---:|---:|"]
    hardest_lines = []
    for n in (1, 3):
        r = next(p for p in intake.recipients if len(p.cases) == n)
        doc = composer.compose(r, notice_id="ABC-DEF-GHJ", issue_date=dt.date(2026, 12, 1),
                               languages=list(measures))
        people = f"{n} case{'s' if n > 1 else ''}"
        for lang, (counter, name) in measures.items():
            m = readability.measure(doc.prose_text(lang), counter=counter, measure=name)
            whole_aim, hardest_aim = AIMS[name]
            hardest = m["hardest"]
            if hardest is None:
                worst = "none of 3+ words"
            else:
                worst = _verdict(name, hardest["score"], hardest_aim)
                hardest_lines.append(f"- {people}, {lang} ({hardest['score']:.1f}): "
                                     f"{hardest['text']}")
            rows.append(f"| {people} | {lang} | {m['words']} | {m['sentences']} | "
                        f"{m['syllables']} | {readability.MEASURES[name].label} | "
                        f"{_verdict(name, m['score'], whole_aim)} | {worst} |")
    aims = "; ".join(
        f"{lang}: {readability.MEASURES[name].label} {_aim_text(name, AIMS[name][0])} for the "
        f"whole letter, {_aim_text(name, AIMS[name][1])} for its hardest sentence"
        for lang, (_, name) in measures.items())
    body = "\n".join(
        rows + ["", "Hardest sentence (at least 3 words, worst score of its own):", ""]
        + hardest_lines
        + ["", f"Aims: {aims}. English syllables from the CMU Pronouncing Dictionary (rules for "
               "words it lacks), Spanish and Portuguese syllables by the rules of written "
               "syllabification; see letters/readability.py."])
    record_section("Plain language", body, command="python bench/plain_language.py")
    print(body)


if __name__ == "__main__":
    main()
