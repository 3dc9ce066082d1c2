"""The court audit: verify (with tamper tests, one per kind), re-render, show, prove."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3

import pytest
from click.testing import CliRunner

from letters import config
from letters.audit import prove, verify, verify_proof
from letters.cli import cli
from letters.ledger import Ledger
from letters.mailing import mail
from tests.conftest import ROOT
from tests.test_mailing import sample_batch, small_records  # noqa: F401  (fixture)

ISSUE = dt.date(2026, 12, 1)


@pytest.fixture
def batch(tmp_path):
    cfg = config.load(ROOT / "letters.toml")
    out = tmp_path / "out"
    result = mail(cfg, small_records(tmp_path / "r.csv", people=6), batch="t", issue_date=ISSUE, allow_past_date=True,
                  out_dir=out, workers=1)
    with Ledger(result.ledger_url) as ledger:
        rows = ledger.letters()
    findings, _ = verify(out, result.ledger_url)
    assert findings == []
    return out, result.ledger_url, rows


def findings_of(out, url):
    return sorted(str(f) for f in verify(out, url)[0])


def db(out):
    conn = sqlite3.connect(out / "ledger.sqlite")
    conn.isolation_level = None
    return conn


def test_flipped_byte_in_a_copy(batch):
    out, url, rows = batch
    path = out / "t" / rows[2].file
    os.chmod(path, 0o600)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert findings_of(out, url) == [
        f"notice {rows[2].notice_id}: retained copy does not match the ledger's SHA-256 "
        f"({rows[2].file})"]


def test_deleted_copy(batch):
    out, url, rows = batch
    (out / "t" / rows[0].file).unlink()
    assert findings_of(out, url) == [
        f"notice {rows[0].notice_id}: retained copy missing ({rows[0].file})"]


def test_extra_file(batch):
    out, url, rows = batch
    (out / "t" / "letters" / "ZZZ-ZZZ-ZZZ.pdf").write_bytes(b"%PDF-1.4 forged")
    assert findings_of(out, url) == [
        "notice ZZZ-ZZZ-ZZZ: file the ledger does not know: letters/ZZZ-ZZZ-ZZZ.pdf"]


def test_edited_ledger_row(batch):
    out, url, rows = batch
    conn = db(out)
    conn.execute("DROP TRIGGER letters_no_update")
    conn.execute("UPDATE letters SET pages = pages + 1 WHERE notice_id = ?", (rows[1].notice_id,))
    (finding,) = findings_of(out, url)
    assert finding.startswith(f"notice {rows[1].notice_id}: letters row differs from its event ")
    assert finding.endswith(f"in pages: event {rows[1].pages}, row {rows[1].pages + 1}")


def test_deleted_ledger_row(batch):
    out, url, rows = batch
    nid = rows[3].notice_id
    conn = db(out)
    conn.execute("DROP TRIGGER letters_no_delete")
    conn.execute("DROP TRIGGER letter_cases_no_delete")
    conn.execute("DELETE FROM letter_cases WHERE notice_id = ?", (nid,))
    conn.execute("DELETE FROM letters WHERE notice_id = ?", (nid,))
    found = findings_of(out, url)
    event = next(f for f in found if f.startswith(f"notice {nid}: 'letter-recorded' event #"))
    assert event.endswith("has no letters row: the row was removed")
    assert found == sorted([
        "batch t: ROOT file does not match the letters",
        "batch t: root in the ledger does not match its letters",
        f"notice {nid}: file the ledger does not know: letters/{nid}.pdf", event,
    ])


def test_reordered_events(batch):
    out, url, _ = batch
    conn = db(out)
    conn.execute("DROP TRIGGER events_no_update")
    a, b = conn.execute("SELECT seq FROM events WHERE kind = 'letter-recorded' "
                        "ORDER BY seq LIMIT 2").fetchall()
    conn.execute("UPDATE events SET seq = -1 WHERE seq = ?", a)
    conn.execute("UPDATE events SET seq = ? WHERE seq = ?", (a[0], b[0]))
    conn.execute("UPDATE events SET seq = ? WHERE seq = -1", b)
    assert findings_of(out, url) == sorted([
        f"event {a[0]}: does not follow the event before it",
        f"event {b[0]}: does not follow the event before it",
        f"event {b[0] + 1}: does not follow the event before it",
    ])


def test_verify_is_read_only(batch):
    out, url, _ = batch
    # SQLite readers of a WAL database share its -shm index; everything else stays untouched
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")
              if p.is_file() and not p.name.endswith("-shm")}
    os.chmod(out / "ledger.sqlite", 0o400)
    try:
        assert verify(out, url)[0] == []
    finally:
        os.chmod(out / "ledger.sqlite", 0o600)
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p in before}
    assert after == before


@pytest.fixture
def pool_always(monkeypatch):
    """Re-render in worker processes however few the letters (a test batch is small)."""
    from letters import audit

    monkeypatch.setattr(audit, "POOL_FROM", 2)


def test_rerender_is_clean_on_the_sample_batch(sample_batch, pool_always):  # noqa: F811
    """In one process and in two worker processes (as the command does by default)."""
    _, out, result = sample_batch
    for workers in (1, 2):
        seen = []
        findings, checked = verify(out, result.ledger_url, batch="sample", rerender=True,
                                   workers=workers, progress=lambda n, total: seen.append(n))
        assert findings == [] and checked["rerendered"] == 325
        assert seen == list(range(1, 326))


@pytest.mark.parametrize("workers", [1, 2])
def test_rerender_detects_a_copy_made_from_other_inputs(batch, workers, pool_always):
    out, url, rows = batch
    conn = db(out)
    conn.execute("DROP TRIGGER batch_inputs_no_update")
    conn.execute("UPDATE batch_inputs SET content = CAST(replace(CAST(content AS TEXT), "
                 "'555-0142', '555-0199') AS BLOB) WHERE kind = 'config'")
    found = verify(out, url, rerender=True, workers=workers)[0]
    assert sorted(str(f) for f in found) == sorted([
        # the edited snapshot no longer hashes to what was recorded ...
        "batch t: recorded input letters.toml does not match its SHA-256",
        # ... and the letters it would make are not the letters that were sent
        *(f"notice {r.notice_id}: re-rendered from the recorded inputs, it is not "
          "byte-identical to the retained copy" for r in rows)])


def test_rerender_in_workers_names_the_one_letter_that_differs(batch, pool_always):
    """Re-rendered in two processes, a finding still names the letter it is about."""
    out, url, rows = batch
    target = rows[3]
    conn = db(out)
    conn.execute("DROP TRIGGER letters_no_update")
    last = json.dumps(json.loads(target.recipient)["last_name"], ensure_ascii=False)
    conn.execute("UPDATE letters SET recipient = replace(recipient, ?, ?) WHERE notice_id = ?",
                 (last, '"Someone"', target.notice_id))
    found = [str(f) for f in verify(out, url, rerender=True, workers=2)[0]]
    rerendered = [f for f in found if "re-rendered" in f]
    assert rerendered == [f"notice {target.notice_id}: re-rendered from the recorded inputs, "
                          "it is not byte-identical to the retained copy"]
    assert any(f.startswith(f"notice {target.notice_id}: letters row differs") for f in found)


def rerender_findings(batch, workers: int, target, recipient_sql: str) -> list[str]:
    """The re-rendering findings after ``target``'s recorded recipient is set to
    ``recipient_sql`` (an SQL expression of ``recipient``)."""
    out, url, _ = batch
    conn = db(out)
    conn.execute("DROP TRIGGER letters_no_update")
    conn.execute(f"UPDATE letters SET recipient = {recipient_sql} WHERE notice_id = ?",
                 (target.notice_id,))
    found = [str(f) for f in verify(out, url, rerender=True, workers=workers)[0]]
    return [f for f in found if "re-render" in f]


@pytest.mark.parametrize("workers", [1, 2])
def test_rerender_of_an_unreadable_recorded_recipient_is_a_finding(batch, workers,
                                                                   pool_always):
    target = batch[2][2]
    assert rerender_findings(batch, workers, target, "'{broken'") == [
        f"notice {target.notice_id}: cannot be re-rendered: its recorded recipient is "
        "unreadable (Expecting property name enclosed in double quotes: line 1 column 2 "
        "(char 1))"]


@pytest.mark.parametrize("workers", [1, 2])
def test_rerender_of_a_recorded_recipient_with_a_wrong_field_is_a_finding(batch, workers,
                                                                          pool_always):
    target = batch[2][1]
    (problem,) = rerender_findings(batch, workers, target,
                                   "json_set(recipient, '$.first_name', 5)")
    assert problem.startswith(f"notice {target.notice_id}: cannot be re-rendered from its "
                              "recorded recipient: TypeError: ")


def test_a_rerendering_process_that_dies_stops_the_audit_with_one_clear_line(
        batch, pool_always, monkeypatch):
    from concurrent.futures.process import BrokenProcessPool

    from letters import mailing

    real = mailing._bounded_map

    def dies_after_one(*args, **kwargs):
        results = real(*args, **kwargs)
        yield next(results)
        results.close()
        raise BrokenProcessPool("a child process terminated abruptly")

    monkeypatch.setattr(mailing, "_bounded_map", dies_after_one)
    out, url, rows = batch
    result = CliRunner().invoke(cli, ["audit", "verify", "--rerender", "--workers", "2",
                                      "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert f"batch t: re-rendering stopped after 1 of {len(rows)} letters: a re-rendering " \
           "process ended abruptly (out of memory?)" in result.output
    assert "--workers 1" in result.output and "Traceback" not in result.output


def test_every_emitted_proof_verifies(sample_batch, tmp_path):  # noqa: F811
    _, out, result = sample_batch
    root = (out / "sample" / "ROOT").read_text().strip()
    with Ledger(result.ledger_url) as ledger:
        rows = ledger.letters()
    for r in rows:
        p = prove(result.ledger_url, r.notice_id)
        assert verify_proof(p, root=root) == []
    p = prove(result.ledger_url, rows[7].notice_id)
    pdf = (out / "sample" / rows[7].file).read_bytes()
    assert verify_proof(p, pdf=pdf, root=root) == []
    assert verify_proof(p, pdf=pdf + b" ") == [
        "the PDF given is not the letter the proof is about (SHA-256 differs)"]
    forged = dict(p, leaf_index=(p["leaf_index"] + 1) % p["tree_size"])
    assert verify_proof(forged) == ["the proof does not lead from this letter to the root"]
    # through the command line, with nothing but the proof, the PDF and the ROOT file
    proof_file = tmp_path / "proof.json"
    runner = CliRunner()
    made = runner.invoke(cli, ["audit", "prove", rows[7].notice_id.lower().replace("-", ""),
                               "--out", str(out), "-o", str(proof_file)], catch_exceptions=False)
    assert made.exit_code == 0 and json.loads(proof_file.read_text())["root"] == root
    ok = runner.invoke(cli, ["audit", "verify-proof", str(proof_file), "--pdf",
                             str(out / "sample" / rows[7].file), "--root",
                             str(out / "sample" / "ROOT")], catch_exceptions=False)
    assert ok.exit_code == 0 and f"notice {rows[7].notice_id} is leaf" in ok.output


def test_show_and_verify_commands(batch):
    out, url, rows = batch
    runner = CliRunner()
    shown = runner.invoke(cli, ["audit", "show", rows[0].notice_id, "--out", str(out)],
                          catch_exceptions=False)
    assert shown.exit_code == 0
    assert shown.output.startswith(f"Notice {rows[0].notice_id} — batch t, issued 2026-12-01\n")
    assert "letter-recorded" in shown.output
    clean = runner.invoke(cli, ["audit", "verify", "--out", str(out)], catch_exceptions=False)
    assert clean.exit_code == 0
    assert clean.output == ("Checked 1 batches, 6 letters, 13 files, 64 ledger rows, 9 events: "
                            "no problems.\n")
    (out / "t" / rows[0].file).unlink()
    dirty = runner.invoke(cli, ["audit", "verify", "--out", str(out)], catch_exceptions=False)
    assert dirty.exit_code == 1
    assert dirty.output.splitlines()[0] == (f"notice {rows[0].notice_id}: retained copy missing "
                                            f"({rows[0].file})")


def test_reconcile_against_a_crafted_court_list(batch, tmp_path):
    out, url, rows = batch
    with Ledger(url) as ledger:
        dockets = sorted({c.docket_number for r in rows for c in ledger.cases_of(r.notice_id)})
    kept = dockets[1:]                       # the court does not list the first noticed case
    court = tmp_path / "court.csv"
    court.write_text("Docket No.,Defendant\n" + "".join(f"{d},x\n" for d in kept)
                     + "1299CR999999,y\n", encoding="utf-8")
    with Ledger(url) as ledger:  # (the batch's issue date is in the future: no CLI checks)
        ledger.record_responses([{
            "notice_id": rows[0].notice_id, "kind": "returned-undeliverable",
            "received": dt.date(2026, 12, 9), "note": "", "recorded_by": "t",
            "new_address": "", "reason": "Vacant", "attachment_sha256": None,
            "attachment_name": None, "source": "test", "import_key": None}])
    result = CliRunner().invoke(cli, ["audit", "reconcile", str(court), "--out", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[:2] == ["Cases on the court's list never noticed: 1", "  1299CR999999"]
    assert lines[2] == "Noticed cases not on the court's list: 1"
    assert lines[3].startswith(f"  {dockets[0]}  (notice ")
    assert lines[4:] == ["Returned letters with no follow-up: 1",
                         f"  notice {rows[0].notice_id}  (returned-undeliverable)",
                         "Cases not noticed because the person was suppressed: 0",
                         "Cases not noticed because the person's rows were rejected: 0"]


def test_outcomes_digest_in_parts_is_the_digest_of_the_sorted_list():
    """A batch's outcomes are hashed in chunks as they are written; the digest is still the
    SHA-256 of the JSON of all rows' values sorted as lists (ties on the defendant ID
    included, and text that sorts differently as JSON than as values)."""
    import hashlib
    import random

    from letters.events import OutcomesDigest, outcomes_digest

    cols = ("defendant_id", "state", "reason", "note", "notice_id", "dockets", "sent_to",
            "address_source")
    rng = random.Random(5)
    words = ["", "a", "a b", 'a"', "a\\", "é", "Ω", "\u2028", "z", "a\x1f", None]
    rows = [{k: rng.choice(words) for k in cols} for _ in range(400)]
    for r in rows:
        r["defendant_id"] = rng.choice(["D1", "D2", "row 7", "Ñ", "D1 "])
    expected = hashlib.sha256(json.dumps(sorted(
        [[r[k] if r[k] is not None else "" for k in cols] for r in rows]),
        ensure_ascii=False).encode()).hexdigest()
    parts = OutcomesDigest()
    for start in range(0, len(rows), 37):
        parts.update(rows[start:start + 37])
    assert parts.hexdigest() == expected
    assert outcomes_digest(rows) == expected
    assert outcomes_digest([]) == hashlib.sha256(b"[]").hexdigest()


def test_sent_letters_read_back_the_ledger_rows(batch):
    """What the outputs read of a batch's letters: the ledger rows in order, each recipient's
    window as the print files show it, whole or at chosen positions."""
    from letters.mailing import SentLetters
    from letters.printshop import window

    out, url, rows = batch
    SentLetters.PART, part = 4, SentLetters.PART  # several parts for a small batch
    try:
        sent = SentLetters(rows)
    finally:
        SentLetters.PART = part
    got = list(sent)
    assert len(sent) == len(rows) == len(got) > 4
    for row, s in zip(rows, got):
        rec = json.loads(row.recipient)
        assert (s.notice_id, s.sha256, s.pages, s.file, s.imb) == (
            row.notice_id, row.sha256, row.pages, row.file, row.imb)
        assert (s.window, s.window_zip) == window(rec, row.notice_id, True)
        assert s.dockets == [c["docket_number"] for c in rec["cases"]]
    order = [5, 0, 3, 3, len(rows) - 1]
    assert sent.take(order) == [got[i] for i in order]


def test_cases_read_at_once_are_each_letters_cases(batch, tmp_path):
    """The report and reconcile read every letter's cases in one query: the same rows, in the
    same order, as reading each letter's alone; a batch's only its own."""
    out, url, rows = batch
    cfg = config.load(ROOT / "letters.toml")
    mail(cfg, small_records(tmp_path / "r2.csv", people=3), batch="u", issue_date=ISSUE,
         allow_past_date=True, out_dir=out, workers=1)
    with Ledger(url, create=False, readonly=True) as ledger:
        every = ledger.letters()
        t = ledger.batch("t")
        each = {r.notice_id: ledger.cases_of(r.notice_id) for r in every}
        assert ledger.cases_by_notice() == each
        assert ledger.cases_by_notice(t.id) == {r.notice_id: each[r.notice_id] for r in rows}
    assert len(every) > len(rows) and sum(map(len, each.values())) > len(every)


def test_a_ledger_from_before_the_lookups_gets_them_when_opened_to_write(batch):
    """Indexes added to the schema later are made in an existing ledger by the next command
    that writes to it; a read-only open (every audit command) works without them."""
    out, url, rows = batch
    added = {"ix_letter_cases_notice", "ix_events_notice", "ix_letters_follow_up_of"}

    def indexes():
        with db(out) as conn:
            return {r[0] for r in conn.execute("select name from sqlite_master "
                                               "where type = 'index'")}

    assert added <= indexes()
    with db(out) as conn:
        for name in added:
            conn.execute(f"drop index {name}")
    assert not added & indexes()
    with Ledger(url, create=False, readonly=True) as ledger:
        assert len(ledger.cases_by_notice()) == len(rows)
    assert not added & indexes()
    Ledger(url, create=False).close()
    assert added <= indexes()
    assert findings_of(out, url) == []


def test_rerender_says_when_the_batch_was_made_by_another_renderer(batch, monkeypatch):
    """Letters that re-render to other bytes because the renderer changed since the batch was
    made (``letters.pdf.RENDERER``) are still each a finding, and the batch's finding says why
    they may differ; a batch recorded before renderer numbers says that."""
    from letters import pdf

    out, url, rows = batch
    assert [str(f) for f in verify(out, url, rerender=True)[0]] == []
    monkeypatch.setattr(pdf, "RENDERER", pdf.RENDERER + 1)
    monkeypatch.setattr(pdf, "__version__", "0.0.0-other")  # the letters' Creator: other bytes
    found = [str(f) for f in verify(out, url, rerender=True)[0]]
    assert found[0] == (
        f"batch t: {len(rows)} re-rendered letter(s) differ from their copies, and the batch "
        f"was made with letters renderer {pdf.RENDERER - 1} (this is renderer {pdf.RENDERER}): "
        "they may differ for that reason alone. Re-render with the versions the batch records "
        "to check them byte for byte")
    assert sorted(found[1:]) == sorted(
        f"notice {r.notice_id}: re-rendered from the recorded inputs, it is not byte-identical "
        "to the retained copy" for r in rows)

    conn = db(out)
    conn.execute("DROP TRIGGER batch_inputs_no_update")
    conn.execute("UPDATE batch_inputs SET content = CAST(replace(CAST(content AS TEXT), "
                 "'\"letters renderer\"', '\"something else\"') AS BLOB) WHERE kind = 'tool'")
    found = [str(f) for f in verify(out, url, rerender=True)[0]]
    assert "batch t: recorded input versions does not match its SHA-256" in found
    assert f"batch t: {len(rows)} re-rendered letter(s) differ from their copies, and the " \
        "batch was made by an earlier letters, before renderer numbers were recorded (this " \
        f"is renderer {pdf.RENDERER}): they may differ for that reason alone. Re-render with " \
        "the letters that made the batch to check them byte for byte" in found


def test_abandoned_workspaces_are_removed_and_used_ones_kept(tmp_path, monkeypatch):
    """What `audit verify --rerender` removes from the temporary folder before it starts: a
    workspace whose lock nobody holds (its audit was killed), or one not locked yet whose
    process has ended. Not a workspace an audit holds (whatever its name's process number
    says: another host's or container's), a link, or a name it did not make."""
    import subprocess
    import sys
    import tempfile

    from letters import audit

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    dead = int(ended.stdout)

    def workspace(name: str, lock: bool = True) -> Path:
        path = tmp_path / name
        path.mkdir()
        (path / "letters.toml").write_text("", encoding="utf-8")
        if lock:
            (path / ".in-use").write_text("", encoding="utf-8")
        return path

    killed = workspace(f"letters-audit-{os.getpid()}-killed")  # lock file, nobody holds it
    unlocked_dead = workspace(f"letters-audit-{dead}-early", lock=False)
    unlocked_alive = workspace(f"letters-audit-{os.getpid()}-early", lock=False)
    held = workspace(f"letters-audit-{dead}-elsewhere")
    target = workspace("mine")
    (tmp_path / f"letters-audit-{dead}-link").symlink_to(target)
    workspace("letters-audit-99999999999999999999-x", lock=False)
    workspace("letters-audit-notes", lock=False)
    with audit._in_use(held):
        assert audit._remove_abandoned_workspaces() == 2
    assert not killed.exists() and not unlocked_dead.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([
        unlocked_alive.name, held.name, f"letters-audit-{dead}-link", "mine",
        "letters-audit-99999999999999999999-x", "letters-audit-notes"])
    assert (target / "letters.toml").exists()
    assert audit._remove_abandoned_workspaces() == 1  # no longer held: removed
    assert not held.exists()
