"""The mailing: outputs that agree with each other and the ledger, resume after kill -9,
determinism across folders, refusal of changed inputs, permissions."""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from letters import config, merkle
from letters.errors import UsageError
from letters.ledger import Ledger
from letters.mailing import mail
from letters.sample import write as write_sample
from letters.store import sha256_file
from tests.conftest import ROOT

ISSUE = dt.date(2026, 12, 1)


def small_records(path: Path, people: int = 24, seed: int = 11) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        write_sample(fh, people, seed, with_bad_rows=False)
    return path


def check_batch(folder: Path, ledger_url: str) -> list:
    """Everything that must agree in a finished batch; returns the ledger's letters."""
    with Ledger(ledger_url, create=False) as ledger:
        batch = ledger.batch(folder.name)
        rows = ledger.letters(batch.id)
        assert ledger.chain_problems() == []
    files = sorted(p.name for p in (folder / "letters").iterdir())
    with open(folder / "manifest.csv", encoding="utf-8") as fh:
        people = list(csv.DictReader(fh))
    manifest = [m for m in people if m["state"] == "letter"]
    # one row per person; those without a letter have no notice ID
    assert all(not m["notice_id"] for m in people if m["state"] != "letter")
    assert len({m["defendant_id"] for m in people}) == len(people)
    assert len(rows) == len(manifest) == len(files)
    assert sorted(f"{r.notice_id}.pdf" for r in rows) == files
    assert len({r.defendant_id for r in rows}) == len(rows)
    by_id = {m["notice_id"]: m for m in manifest}
    for r in rows:
        assert sha256_file(folder / r.file) == r.sha256 == by_id[r.notice_id]["sha256"]
        assert by_id[r.notice_id]["file"] == r.file
    leaves = [f"{r.notice_id}\n{r.sha256}".encode() for r in sorted(rows, key=lambda r: r.notice_id)]
    root = merkle.root(leaves).hex()
    assert (folder / "ROOT").read_text() == root + "\n"
    assert batch.root == root and batch.letter_count == len(rows)
    check = subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=folder,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    return rows


LEVELS = ("5-digit", "3-digit", "mixed")


def presorted(printed: list[dict]) -> bool:
    """Print order: the 5-digit groups, then the 3-digit, then mixed, ZIP order in each."""
    levels = [LEVELS.index(p["sort_group"].split(" ")[0]) for p in printed]
    keys = [(lv, p["zip"]) for lv, p in zip(levels, printed)]
    return keys == sorted(keys)


@pytest.fixture(scope="module")
def sample_batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("mail")
    cfg = config.load(ROOT / "letters.toml")
    result = mail(cfg, ROOT / "examples" / "records.csv", batch="sample", issue_date=ISSUE, allow_past_date=True,
                  out_dir=out, workers=2)
    return cfg, out, result


def test_sample_batch_end_to_end(sample_batch):
    cfg, out, result = sample_batch
    rows = check_batch(out / "sample", result.ledger_url)
    assert result.letters == len(rows) == 325 and result.rendered == 325
    assert result.rejected_rows == 6
    rejects = (out / "sample" / "rejects.csv").read_text(encoding="utf-8").splitlines()
    assert len(rejects) == 1 + 6
    assert result.requested == {"ht": 1, "pl": 1, "vi": 5}
    assert set(result.languages) == {"en", "es,en", "pt,en", "en,es"}
    with open(out / "sample" / "print" / "manifest.csv", encoding="utf-8") as fh:
        printed = list(csv.DictReader(fh))
    assert sorted(p["notice_id"] for p in printed) == sorted(r.notice_id for r in rows)
    assert presorted(printed)
    assert {p["print_file"] for p in printed} == {"sample-001.pdf"}
    # each letter's data is kept for re-rendering, and its cases are in the ledger
    with sqlite3.connect(out / "ledger.sqlite") as db:
        cases = db.execute("select count(*) from letter_cases").fetchone()[0]
        kinds = dict(db.execute("select kind, count(*) from batch_inputs group by kind"))
    from letters.records import read_for

    intake = read_for(cfg, ROOT / "examples" / "records.csv")
    assert cases == intake.cases
    assert kinds["template"] >= 6 and kinds["config"] == 1 and kinds["catalog"] >= 10


def test_finished_batch_does_nothing(sample_batch):
    cfg, out, first = sample_batch
    before = (out / "sample" / "SHA256SUMS").read_bytes()
    again = mail(cfg, ROOT / "examples" / "records.csv", batch="sample", out_dir=out)
    assert again.already_complete and again.rendered == 0 and again.root == first.root
    assert (out / "sample" / "SHA256SUMS").read_bytes() == before


def test_changed_inputs_under_the_same_batch_name_are_refused(sample_batch, tmp_path):
    cfg, out, _ = sample_batch
    changed = tmp_path / "records.csv"
    shutil.copy(ROOT / "examples" / "records.csv", changed)
    with open(changed, "a", encoding="utf-8") as fh:
        fh.write("D9999999,Ana,,Nueva,,1 Elm St,,Lynn,MA,01902,es,0801CR000001,"
                 "Lynn District Court,Essex,Possession of a Class B substance,2008-01-01,x\n")
    with pytest.raises(UsageError) as exc:
        mail(cfg, changed, batch="sample", out_dir=out)
    assert str(exc.value).startswith("batch 'sample' already exists and was made from other "
                                     "inputs (changed: records)")
    assert "new --batch name" in str(exc.value)


def test_permissions(sample_batch):
    _, out, _ = sample_batch
    folder = out / "sample"
    for d in (out, folder, folder / "letters", folder / "print"):
        assert oct(d.stat().st_mode & 0o777) == "0o700", d
    for f in list((folder / "letters").iterdir())[:20]:
        assert oct(f.stat().st_mode & 0o777) == "0o400", f
    for f in ("manifest.csv", "SHA256SUMS", "ROOT", "rejects.csv"):
        assert oct((folder / f).stat().st_mode & 0o777) == "0o600", f
    assert oct((out / "ledger.sqlite").stat().st_mode & 0o777) == "0o600"


def test_ledger_is_append_only(sample_batch):
    _, out, _ = sample_batch
    with sqlite3.connect(out / "ledger.sqlite") as db:
        for sql in ("update letters set pages = 1", "delete from events",
                    "update batches set name = 'x'"):
            with pytest.raises(sqlite3.IntegrityError, match="the ledger is append-only"):
                db.execute(sql)


def test_same_batch_into_two_folders_gives_identical_sums(tmp_path):
    cfg = config.load(ROOT / "letters.toml")
    records = small_records(tmp_path / "r.csv")
    sums = []
    for name in ("a", "b"):
        mail(cfg, records, batch="same", issue_date=ISSUE, allow_past_date=True, out_dir=tmp_path / name, workers=1)
        sums.append((tmp_path / name / "same" / "SHA256SUMS").read_bytes())
    assert sums[0] == sums[1] and len(sums[0].splitlines()) == 24 + 7  # letters, manifest, rejects,
    # address warnings, print file, print manifest, address file and job sheet


def _count(folder: Path) -> int:
    d = folder / "letters"
    return len([p for p in d.iterdir() if p.suffix == ".pdf"]) if d.is_dir() else 0


def test_resume_after_sigkill_at_several_points(tmp_path):
    """A real `letters mail` process killed with SIGKILL, then rerun, finishes exactly."""
    records = small_records(tmp_path / "r.csv", people=40)
    shutil.copy(ROOT / "letters.toml", tmp_path / "letters.toml")
    for sub in ("templates", "locale"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "letters", "mail", str(records), "--batch", "k",
           "--date", "2026-12-01", "--allow-past-date", "--out", str(out), "--workers", "1"]
    kills = 0
    for threshold in (0, 3, 12, 25, 38):
        proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while proc.poll() is None and _count(out / "k") < threshold and time.monotonic() < deadline:
            time.sleep(0.01)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 3
    final = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    rows = check_batch(out / "k", f"sqlite:///{out / 'ledger.sqlite'}")
    assert len(rows) == 40
    # and the result is exactly what an uninterrupted run produces
    clean = mail(config.load(tmp_path / "letters.toml"), records, batch="k", issue_date=ISSUE, allow_past_date=True,
                 out_dir=tmp_path / "clean", workers=2)
    assert clean.root == (out / "k" / "ROOT").read_text().strip()
    assert (tmp_path / "clean" / "k" / "SHA256SUMS").read_bytes() == \
        (out / "k" / "SHA256SUMS").read_bytes()


def test_tampered_copy_stops_a_resume(tmp_path):
    cfg = config.load(ROOT / "letters.toml")
    records = small_records(tmp_path / "r.csv", people=6)
    out = tmp_path / "out"
    from letters import mailing

    result = mail(cfg, records, batch="t", issue_date=ISSUE, allow_past_date=True, out_dir=out, workers=1)
    copy = next((out / "t" / "letters").iterdir())
    os.chmod(copy, 0o600)
    copy.write_bytes(copy.read_bytes() + b"%")
    with pytest.raises(mailing.MailingError, match="does not match the ledger"):
        mailing._check_recorded_copies(out / "t", Ledger(result.ledger_url).letters())


def test_print_files_split_in_zip_order_and_hold_every_page(tmp_path):
    import dataclasses

    from pypdf import PdfReader

    cfg = config.load(ROOT / "letters.toml")
    cfg = dataclasses.replace(cfg, mailing=dataclasses.replace(cfg.mailing,
                                                               letters_per_print_file=5))
    records = small_records(tmp_path / "r.csv", people=12)
    mail(cfg, records, batch="p", issue_date=ISSUE, allow_past_date=True, out_dir=tmp_path, workers=2)
    folder = tmp_path / "p"
    with open(folder / "print" / "manifest.csv", encoding="utf-8") as fh:
        printed = list(csv.DictReader(fh))
    assert [p["print_file"] for p in printed] == ["p-001.pdf"] * 5 + ["p-002.pdf"] * 5 \
        + ["p-003.pdf"] * 2
    assert presorted(printed)
    for name in ("p-001.pdf", "p-002.pdf", "p-003.pdf"):
        entries = [p for p in printed if p["print_file"] == name]
        reader = PdfReader(folder / "print" / name)
        assert len(reader.pages) == sum(int(p["pages"]) for p in entries)
        for p in entries:  # each letter starts where the manifest says, with its notice ID
            text = reader.pages[int(p["first_page"]) - 1].extract_text()
            assert p["notice_id"] in text


def test_letter_that_cannot_render_is_rejected_and_the_batch_goes_on(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from letters.cli import cli
    from tests.conftest import row, write_records

    records = write_records(tmp_path / "r.csv", [
        row(defendant_id="D1"),
        # fine at intake, but too long for the envelope window at the smallest size
        row(defendant_id="D2", address_line1="Apartment Building Entrance C, " * 3 + "12 Long St"),
        row(defendant_id="D3", zip="2118"), row(defendant_id="D4", language="en")])
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(ROOT / "letters.toml"), "mail",
                                      str(records), "--batch", "b1", "--date", "2026-12-01", "--allow-past-date",
                                      "--out", str(tmp_path / "out"), "--workers", "1"],
                                catch_exceptions=False)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "Batch b1: 2 letters rendered"
    assert lines[1].startswith("  letters:  2  (")
    assert lines[2] == ("  people:   4 = 2 with a letter + 0 suppressed + 2 rejected  "
                        "(manifest.csv: state)")
    assert lines[3] == "  rejected: 1 rows, 1 letters failed to render"
    assert lines[4] == "  print:    1 files, 6 sheets (duplex), 1 packages (print/JOB.txt)"
    assert lines[5].startswith("  envelopes: ")
    assert lines[6] == f"  folder:   {tmp_path / 'out' / 'b1'}"
    rejects = (tmp_path / "out" / "b1" / "rejects.csv").read_text(encoding="utf-8").splitlines()
    assert rejects[1].startswith("3,D2,letter,,recipient D2: the address does not fit the "
                                 "envelope window")
    assert rejects[2].startswith("4,D3,zip,2118,ZIP has 4 digits")
    rows = check_batch(tmp_path / "out" / "b1", f"sqlite:///{tmp_path / 'out' / 'ledger.sqlite'}")
    assert sorted(r.defendant_id for r in rows) == ["D1", "D4"]
    again = CliRunner().invoke(cli, ["--config", str(ROOT / "letters.toml"), "mail",
                                     str(records), "--batch", "b1", "--out",
                                     str(tmp_path / "out")], catch_exceptions=False)
    assert again.stdout.splitlines()[0] == "Batch b1 is already complete: nothing to do."


def test_changed_intake_settings_under_the_same_batch_name_are_refused(tmp_path):
    cfg = config.load(ROOT / "letters.toml")
    records = small_records(tmp_path / "r.csv", people=3)
    mail(cfg, records, batch="s", issue_date=ISSUE, allow_past_date=True, out_dir=tmp_path, workers=1)
    other = config.with_overrides(cfg, intake={"default_language": "es"})
    with pytest.raises(UsageError, match=r"made from other inputs \(changed: configuration\)"):
        mail(other, records, batch="s", issue_date=ISSUE, allow_past_date=True, out_dir=tmp_path, workers=1)


def test_event_chain_cannot_fork(tmp_path):
    import sqlalchemy

    from letters.ledger import events

    with Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        ledger.log("a")
        ledger.log("b")
        first = ledger.events()[0]
        with pytest.raises(sqlalchemy.exc.IntegrityError):
            with ledger.engine.begin() as conn:  # a second event claiming the same predecessor
                conn.execute(sqlalchemy.insert(events).values(
                    kind="x", payload="{}", created_at="t", prev_hash=first.prev_hash,
                    hash="f" * 64))
        assert ledger.chain_problems() == []
