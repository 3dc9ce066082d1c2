"""The Dask engine makes the batch the local pool makes: the same retained copies, manifests,
print files, root and ledger rows, recorded in the same order; a scheduler that cannot be
reached stops the run before anything is written."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from letters import config, engines
from letters.cli import cli
from letters.errors import ConfigError
from letters.ledger import Ledger
from letters.mailing import mail
from letters.sample import write as write_sample
from tests.conftest import ROOT, copy_workspace

distributed = pytest.importorskip("distributed")

ISSUE = dt.date(2026, 12, 1)
#: Columns of a ledger letter that do not depend on when it was recorded.
LETTER_COLUMNS = ("notice_id", "defendant_id", "languages", "language_requested", "pages",
                  "sha256", "bytes", "file", "zip", "recipient", "imb", "follow_up_of")


def batch_files(folder: Path) -> dict[str, bytes]:
    """Every file of a finished batch by its path in the folder (the lock, which names the
    process that held it, left out)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


def recorded(ledger_url: str, batch: str) -> tuple[list[tuple], list[str]]:
    """The batch's letters, and the notice IDs in the order the ledger recorded them."""
    with Ledger(ledger_url, create=False) as ledger:
        rows = ledger.letters(ledger.batch(batch).id)
        order = [e.notice_id for e in ledger.events(kind="letter-recorded")]
    return [tuple(getattr(r, c) for c in LETTER_COLUMNS) for r in rows], order


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("engines") / "r.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        write_sample(fh, 16, 23, with_bad_rows=False)
    return path


@pytest.fixture(scope="module")
def local_batch(records, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    result = mail(config.load(ROOT / "letters.toml"), records, batch="b", issue_date=ISSUE,
                  allow_past_date=True, out_dir=out, workers=2)
    assert result.rendered == result.letters > 12
    return out / "b", result


def test_a_local_dask_cluster_makes_the_same_batch_as_the_local_pool(records, local_batch,
                                                                    tmp_path):
    folder, local = local_batch
    cfg = config.load(ROOT / "letters.toml")
    dask = mail(cfg, records, batch="b", issue_date=ISSUE, allow_past_date=True,
                out_dir=tmp_path, workers=2, engine="dask")
    assert dask.root == local.root
    assert (dask.letters, dask.pages, dask.languages) == (local.letters, local.pages,
                                                          local.languages)
    same, other = batch_files(folder), batch_files(tmp_path / "b")
    assert {"manifest.csv", "print/manifest.csv", "ROOT", "SHA256SUMS"} <= set(same)
    assert sum(name.startswith("letters/") for name in same) == local.letters
    assert sorted(same) == sorted(other)
    assert [n for n in same if same[n] != other[n]] == []  # byte for byte
    assert recorded(local.ledger_url, "b") == recorded(dask.ledger_url, "b")


def test_a_running_scheduler_by_address_through_the_command_line(records, local_batch,
                                                                   tmp_path, monkeypatch):
    folder, local = local_batch
    ws = copy_workspace(tmp_path / "ws")
    monkeypatch.chdir(ws)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                  silence_logs=logging.ERROR) as cluster:
        result = CliRunner().invoke(cli, [
            "mail", str(records), "--batch", "b", "--out", "out", "--date", ISSUE.isoformat(),
            "--allow-past-date", "--engine", "dask", "--scheduler", cluster.scheduler_address],
            catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"root:     {local.root}" in result.stdout
    assert batch_files(ws / "out" / "b")["manifest.csv"] == (folder / "manifest.csv").read_bytes()


def test_an_unreachable_scheduler_exits_2_before_anything_is_written(records, tmp_path,
                                                                      monkeypatch):
    ws = copy_workspace(tmp_path / "ws")
    monkeypatch.chdir(ws)
    result = CliRunner().invoke(cli, [
        "mail", str(records), "--batch", "b", "--out", "out", "--engine", "dask",
        "--scheduler", "tcp://127.0.0.1:1"], catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == ("Error: cannot reach the Dask scheduler at "
                                             "tcp://127.0.0.1:1: connection refused")
    assert "dask scheduler" in result.stderr and "Traceback" not in result.stderr
    assert not (ws / "out").exists()  # no folder, no ledger


@pytest.mark.parametrize("args,message", [
    (["--scheduler", "http://sched:8786"],
     "Invalid value for '--scheduler': 'http://sched:8786': scheme 'http' is not one of"),
    (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler works only with --engine dask"),
    (["--engine", "spark"], "Invalid value for '--engine'"),
])
def test_engine_options_that_cannot_be_used(records, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(copy_workspace(tmp_path / "ws"))
    result = CliRunner().invoke(cli, ["mail", str(records), "--batch", "b", "--out", "out",
                                      *args], catch_exceptions=False)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "ws" / "out").exists()


def test_the_configuration_names_a_bad_engine_or_scheduler():
    with pytest.raises(ConfigError) as caught:
        config.from_dict({"mailing": {"engine": "spark", "scheduler": "sched"}})
    assert caught.value.problems == [
        "[mailing] engine 'spark' is not one of 'local', 'dask'",
        "[mailing] scheduler 'sched': give it as tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786"]
    cfg = config.from_dict({"mailing": {"engine": "dask", "scheduler": "tcp://10.0.0.5:8786"}})
    assert (cfg.mailing.engine, cfg.mailing.scheduler) == ("dask", "tcp://10.0.0.5:8786")


def test_a_worker_that_sees_other_inputs_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(engines, "_prepared", {})  # a worker process that rendered nothing yet
    cfg = config.load(ROOT / "letters.toml")
    fingerprint = engines.workspace_fingerprint(cfg)
    ws = copy_workspace(tmp_path / "ws")  # the worker's copy of the workspace: one line more
    template = ws / "templates" / "en" / cfg.letter.template
    template.write_text(template.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    seen_by_worker = config.load(ws / "letters.toml")
    with pytest.raises(engines.EngineError, match="does not see the same templates"):
        engines.render_chunk(fingerprint, seen_by_worker, "", [])
    assert engines._prepared == {}
    assert engines.render_chunk(fingerprint, cfg, "", []) == []
    assert list(engines._prepared) == [fingerprint]  # set up once, for later chunks


def test_chunks_are_bounded_and_spread_the_batch():
    assert engines.chunk_size(1_000_000, 4) == engines.CHUNK_MAX
    assert engines.chunk_size(16, 2) == 2
    assert engines.chunk_size(3, 8) == 1


def test_a_local_clusters_workers_tend_their_collector_as_the_pools_do():
    """Workers of the cluster a mailing starts are its own processes: after a letter, each
    collects young objects every 10,000 (letters.processes), like the local pool's."""
    import gc

    from letters.records import read_for

    cfg = config.load(ROOT / "letters.toml")
    person = read_for(cfg, ROOT / "examples" / "records.csv").recipients[0]
    dask = engines.DaskEngine(workers=1)
    try:
        (result,) = dask.results([(person, "AAA-AAA-AAA", ISSUE, None)], cfg, None, "")
        assert result["ok"]
        (threshold,) = dask.client.run(gc.get_threshold).values()
        (frozen,) = dask.client.run(gc.get_freeze_count).values()
    finally:
        dask.close()
    assert threshold[0] == 10_000 and frozen > 0
