"""The synthetic sample export is what examples/README.md promises."""

from __future__ import annotations

import io
import unicodedata

from letters import config, sample
from letters.records import read_records
from tests.conftest import ROOT


def test_bundled_sample_is_the_generator_output():
    buf = io.StringIO()
    sample.write(buf, 320, seed=7)
    assert (ROOT / "examples" / "records.csv").read_text(encoding="utf-8") == buf.getvalue()


def test_bundled_sample_shape():
    cfg = config.load(ROOT / "letters.toml")
    intake = read_records(ROOT / "examples" / "records.csv", columns=cfg.columns)
    people = list(intake.recipients)
    assert len(people) >= 300 and intake.cases >= 500
    courts = {c.court for p in people for c in p.cases}
    counties = {c.county for p in people for c in p.cases}
    assert len(courts) >= 15 and len(counties) >= 10

    def accented(text):
        return any(unicodedata.combining(ch) for ch in unicodedata.normalize("NFD", text))

    share_accented = sum(accented(p.first_name + p.last_name) for p in people) / len(people)
    share_spanish = sum(p.language == "es" for p in people) / len(people)
    assert share_accented >= 0.2
    assert 0.25 <= share_spanish <= 0.42
    assert any(p.last_name == "NA" for p in people)
    assert any("&" in p.address.line2 for p in people)


def test_generator_scales_and_is_deterministic():
    a, b = io.StringIO(), io.StringIO()
    n = sample.write(a, 2000, seed=3, with_bad_rows=False)
    sample.write(b, 2000, seed=3, with_bad_rows=False)
    assert a.getvalue() == b.getvalue() and n > 3000
