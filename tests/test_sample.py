"""The synthetic sample export is what examples/README.md promises."""

from __future__ import annotations

import io
import unicodedata

from letters import config, sample
from letters.records import read_for
from tests.conftest import ROOT


def test_bundled_sample_is_the_generator_output():
    buf = io.StringIO()
    sample.write(buf, 320, seed=7)
    assert (ROOT / "examples" / "records.csv").read_text(encoding="utf-8") == buf.getvalue()


def test_bundled_sample_shape():
    cfg = config.load(ROOT / "letters.toml")
    intake = read_for(cfg, ROOT / "examples" / "records.csv")
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
    assert any("&" in line for p in people for line in p.address.care_of)
    # people in custody, at a facility with their commitment number; people reached in care of
    # someone else (the Care Of column)
    assert sum(bool(p.address.facility and p.address.inmate_number) for p in people) >= 3
    assert sum(bool(p.address.care_of) for p in people) >= 5
    # a third language, people asking for tagline-only or undeclared languages, no one
    # rejected for language
    assert sum(p.language == "pt" for p in people) >= 5
    assert {p.language_requested for p in people} >= {"vi", "ht", "pl"}
    assert not any(r.field == "language" for r in intake.rejects)
    cases = [c for p in people for c in p.cases]
    assert {c.lab for c in cases} == {"Hinton lab, Boston", "Amherst lab"}
    assert {c.case_status for c in cases} == {"dismissed", "may_retry", "under_review", ""}
    assert len({c.disposition for c in cases}) == 4
    assert any(p.large_print for p in people)


def test_generator_scales_and_is_deterministic():
    a, b = io.StringIO(), io.StringIO()
    n = sample.write(a, 2000, seed=3, with_bad_rows=False)
    sample.write(b, 2000, seed=3, with_bad_rows=False)
    assert a.getvalue() == b.getvalue() and n > 3000
