"""Plain language, measured on the letter as composed for sample people in each language."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from letters import config, readability
from letters.compose import Composer
from letters.records import read_records
from tests.conftest import ROOT

# Syllable counter and measure of each letter language (to come from the configuration).
READABILITY = {"en": ("en", "flesch-kincaid"), "es": ("es", "inflesz")}

# Loose bounds that only garbage breaks; the plain-language aims are the bench's
# (bench/plain_language.py), not asserted here while the letter text changes.
SANITY = {"flesch-kincaid": lambda v: v <= 12.0, "inflesz": lambda v: v >= 40.0}


@pytest.fixture(scope="module")
def documents():
    cfg = config.load(ROOT / "letters.toml")
    intake = read_records(ROOT / "examples" / "records.csv", columns=cfg.columns)
    composer = Composer(cfg)
    people = [r for r in intake.recipients if len(r.cases) in (1, 3)][:2]
    return [composer.compose(r, notice_id="ABC-DEF-GHJ", issue_date=dt.date(2026, 12, 1),
                             languages=["en", "es"]) for r in people]


@pytest.mark.parametrize("lang", ["en", "es"])
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
    assert "Dear" in text
