"""The ledger on PostgreSQL: a mailing, append-only enforcement and the event chain."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy

from letters import config
from letters.ledger import Ledger
from letters.mailing import mail
from tests.conftest import ROOT
from tests.postgres import postgres_server
from tests.test_mailing import check_batch, small_records


@pytest.fixture(scope="module")
def pg_url():
    with postgres_server() as url:
        yield url


def test_mailing_with_a_postgresql_ledger(pg_url, tmp_path):
    cfg = config.load(ROOT / "letters.toml")
    records = small_records(tmp_path / "r.csv", people=8)
    result = mail(cfg, records, batch="pg", issue_date=dt.date(2026, 12, 1), allow_past_date=True,
                  out_dir=tmp_path / "out", ledger_url=pg_url, workers=1)
    assert result.letters == 8
    rows = check_batch(tmp_path / "out" / "pg", pg_url)
    assert len(rows) == 8
    again = mail(cfg, records, batch="pg", out_dir=tmp_path / "out", ledger_url=pg_url)
    assert again.already_complete


def test_postgresql_ledger_is_append_only(pg_url):
    with Ledger(pg_url) as ledger:
        ledger.log("note", payload={"text": "hello"})
        assert ledger.chain_problems() == []
        for sql in ("UPDATE events SET kind = 'x'", "DELETE FROM events"):
            with pytest.raises(sqlalchemy.exc.DBAPIError, match="the ledger is append-only"):
                with ledger.engine.begin() as conn:
                    conn.execute(sqlalchemy.text(sql))
