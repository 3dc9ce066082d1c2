"""Plain language, measured on the letter as composed for sample people in each language."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from letters import config, readability
from letters.compose import Composer
from letters.records import read_for
from tests.conftest import ROOT

CFG = config.load(ROOT / "letters.toml")
#: Syllable counter and measure of each letter language, as letters.toml declares them.
READABILITY = {lang.code: (lang.syllables, lang.readability) for lang in CFG.registry
               if lang.letter}

# Loose bounds that only garbage breaks; the plain-language aims are the bench's
# (bench/plain_language.py), never asserted as timings or targets here.
SANITY = {"flesch-kincaid": lambda v: v <= 12.0, "inflesz": lambda v: v >= 40.0,
          "flesch-pt": lambda v: v >= 30.0}


@pytest.fixture(scope="module")
def documents():
    cfg = config.load(ROOT / "letters.toml")
    intake = read_for(cfg, ROOT / "examples" / "records.csv")
    composer = Composer(cfg)
    people = [r for r in intake.recipients if len(r.cases) in (1, 3)][:2]
    return [composer.compose(r, notice_id="ABC-DEF-GHJ", issue_date=dt.date(2026, 12, 1),
                             languages=list(READABILITY)) for r in people]


def test_every_letter_language_declares_a_measure():
    assert set(READABILITY) == {"en", "es", "pt"}
    for counter, name in READABILITY.values():
        assert counter in readability.SYLLABLE_COUNTERS and name in readability.MEASURES


@pytest.mark.parametrize("lang", ["en", "es", "pt"])
def test_reading_level(documents, lang):
    counter, name = READABILITY[lang]
    for doc in documents:
        text = doc.prose_text(lang)
        figures = readability.measure(text, counter=counter, measure=name)
        assert figures["measure"] == name
        assert figures["words"] > 400, figures   # the whole letter, not a fragment
        assert 0 < figures["sentences"] < figures["words"] <= figures["syllables"], figures
        assert math.isfinite(figures["score"]) and SANITY[name](figures["score"]), figures
        hardest = figures["hardest"]
        assert hardest["text"] in text and len(readability.words(hardest["text"])) >= 3
        assert math.isfinite(hardest["score"])


def test_prose_leaves_out_table_and_addresses(documents):
    doc = documents[0]
    text = doc.prose_text("en")
    assert doc.recipient.cases[0].docket_number not in text
    assert doc.office.address[0] not in text
    # headings, the greeting, the signature and form labels are not sentences
    assert "Dear" not in text and "Sincerely" not in text and "Your rights" not in text
    assert "You do not need to contact us first." in text
