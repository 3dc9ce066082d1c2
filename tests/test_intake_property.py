"""Property: for any table, every row read is grouped into a recipient or rejected, never both."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from letters import records as R
from tests.conftest import write_records

COLUMNS = ["defendant_id", "first_name", "last_name", "address_line1", "city", "state", "zip",
           "language", "docket_number", "disposition_date"]

# Small alphabets so that people collide, disagree, duplicate and break rules often.
text = st.text(alphabet=string.ascii_letters[:4] + " <&{}é\u0301\u00a0\x07", max_size=4)
cells = {
    "defendant_id": st.sampled_from(["D1", "D2", "D3", "", " D1"]),
    "first_name": st.sampled_from(["Ana", "Ana ", "José", "Jose\u0301", ""]),
    "last_name": st.one_of(st.sampled_from(["NA", "Ruiz", ""]), text),
    "address_line1": st.sampled_from(["1 Main St", "1  Main St", "9 Elm", ""]),
    "city": st.sampled_from(["Boston", "Lynn", ""]),
    "state": st.sampled_from(["MA", "ma", "Massachusetts", "XX", ""]),
    "zip": st.sampled_from(["02118", "2118", "021181234", "02118-1234", "abc", ""]),
    "language": st.sampled_from(["en", "es", "Spanish", "", "fr", "ESPAÑOL"]),
    "docket_number": st.sampled_from(["X1", "X2", "X3", ""]),
    "disposition_date": st.sampled_from(["2009-03-04", "3/4/2009", "31/31/2009", ""]),
}
rows = st.lists(st.fixed_dictionaries(cells), min_size=1, max_size=25)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=rows)
def test_rows_read_equal_grouped_plus_rejected(tmp_path, table):
    path = write_records(tmp_path / "p.csv", table, header=COLUMNS)
    intake = R.read_records(path)
    grouped = [row for r in intake.recipients for row in r.source_rows]
    rejected = intake.rejected_rows
    assert len(grouped) == len(set(grouped))            # no row in two recipients
    assert not set(grouped) & rejected                  # no row both grouped and rejected
    assert intake.rows_read + intake.blank_rows == len(table)
    assert len(grouped) + len(rejected) == intake.rows_read
    non_blank = {n for n, r in enumerate(table, start=2) if any(v.strip() for v in r.values())}
    assert set(grouped) | rejected == non_blank
    assert intake.grouped_rows == len(grouped)
    assert intake.cases == sum(len(r.cases) for r in intake.recipients)
