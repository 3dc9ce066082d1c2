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
        ledger.log("batch-noted", batch="pg", payload={"note": "hello", "by": "test"})
        assert ledger.chain_problems() == []
        for sql in ("UPDATE events SET kind = 'x'", "DELETE FROM events"):
            with pytest.raises(sqlalchemy.exc.DBAPIError, match="the ledger is append-only"):
                with ledger.engine.begin() as conn:
                    conn.execute(sqlalchemy.text(sql))


def test_the_same_batch_opened_by_two_processes_at_once(pg_url):
    """Two machines sharing the ledger share no file lock: the unique batch name decides, and the
    one that comes second is told the batch is busy, never shown an IntegrityError."""
    from letters.errors import BatchBusy

    hashes = dict.fromkeys(("inputs_sha256", "records_sha256", "templates_sha256",
                            "catalogs_sha256", "config_sha256"), "0" * 64)
    opening = dict(issue_date=dt.date(2026, 12, 1), response_deadline=dt.date(2027, 1, 1),
                   tool_version="t", policy="preferred+english", hashes=hashes, inputs=[])
    with Ledger(pg_url) as first, Ledger(pg_url) as second:
        first.open_batch("race", **opening)
        with pytest.raises(BatchBusy) as busy:
            second.open_batch("race", **opening)
        assert busy.value.message == "batch race is being mailed by another process"
        assert second.chain_problems() == []


def test_the_ledger_password_is_never_printed(pg_url, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from letters.cli import cli

    url = pg_url.replace("://postgres@", "://postgres:secret@")  # the test server trusts anyone
    assert "secret" in url
    shown = url.replace(":secret@", ":***@")
    small_records(tmp_path / "r.csv", people=2)
    monkeypatch.chdir(tmp_path)

    def run(*args):
        return CliRunner().invoke(cli, ["--config", str(ROOT / "letters.toml"), *args,
                                        "--ledger", url], catch_exceptions=False)
    mailed = run("mail", "r.csv", "--batch", "pw", "--out", "out", "--workers", "1")
    assert mailed.exit_code == 0, mailed.output
    assert f"  ledger:   {shown}\n" in mailed.stdout
    verified = run("audit", "verify", "--out", "out", "--batch", "pw")
    missing = run("audit", "verify", "--out", "out", "--batch", "nosuch")
    assert (verified.exit_code, missing.exit_code) == (0, 2), verified.output
    for result in (mailed, verified, missing):
        assert "secret" not in result.stdout + result.stderr


def test_batches_whose_serials_clash_are_refused_on_postgresql(pg_url):
    """On PostgreSQL, batches with IMb serials are opened one at a time (an advisory lock) and
    one whose serials another batch planned within 45 days is refused."""
    import json

    from letters import imb

    hashes = dict.fromkeys(("inputs_sha256", "records_sha256", "templates_sha256",
                            "catalogs_sha256", "config_sha256"), "0" * 64)

    def opening(first: int) -> dict:
        plan = json.dumps({"barcode_id": "00", "service_type": "300", "mailer_id": "777777",
                           "base_serial": first, "letters": 10,
                           "issue_date": "2026-12-01"}).encode()
        return dict(issue_date=dt.date(2026, 12, 1), response_deadline=dt.date(2027, 1, 1),
                    tool_version="t", policy="preferred+english", hashes=hashes,
                    inputs=[(*imb.PLAN, "-", plan)])

    with Ledger(pg_url) as ledger:
        ledger.open_batch("serials-one", **opening(1))
        with pytest.raises(imb.ImbError, match="planned by batch serials-one"):
            ledger.open_batch("serials-two", **opening(10))
        assert ledger.batch("serials-two") is None
        ledger.open_batch("serials-two", **opening(11))
        assert [name for name, _ in ledger.imb_plans()][-2:] == ["serials-one", "serials-two"]
        assert ledger.chain_problems() == []


def test_lookups_added_later_are_made_on_postgresql_by_two_openers_at_once(pg_url):
    """A ledger from before the notice-ID lookups: the next writable opens (here two at once,
    from two threads) make each missing index once, and neither fails."""
    import threading

    added = ("ix_letter_cases_notice", "ix_events_notice", "ix_letters_follow_up_of")
    Ledger(pg_url).close()  # the tables exist
    engine = sqlalchemy.create_engine(pg_url)

    def indexes() -> set[str]:
        with engine.connect() as conn:
            return set(conn.execute(sqlalchemy.text(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")).scalars())

    try:
        with engine.begin() as conn:
            for name in added:
                conn.execute(sqlalchemy.text(f"DROP INDEX IF EXISTS {name}"))
        assert not set(added) & indexes()
        errors: list[BaseException] = []
        start = threading.Barrier(2)

        def opener():
            try:
                start.wait()
                Ledger(pg_url).close()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=opener) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert set(added) <= indexes()
    finally:
        engine.dispose()
