"""The tamper matrix: each way of changing a finished mailing and its ledger behind the tool's
back is caught by `letters audit verify`, naming the notice, batch, response or event.

One mailing (a batch, responses with a scanned attachment, a follow-up batch) is made once; each
case changes a fresh copy of it the way someone with the files and the `sqlite3` shell could
(dropping the append-only triggers first), then verifies it against the head printed when the
mailing was done.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from letters import config
from letters.audit import head, verify
from letters.cli import cli
from letters.ledger import APPEND_ONLY, Ledger, event_hash
from letters.mailing import mail
from tests.conftest import ROOT
from tests.test_mailing import small_records

ISSUE = dt.date(2026, 10, 1)


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    base = tmp_path_factory.mktemp("made")
    cfg = config.load(ROOT / "letters.toml")
    out = base / "out"
    mail(cfg, small_records(base / "r.csv", people=6), batch="t", issue_date=ISSUE,
         allow_past_date=True, out_dir=out, workers=1)
    with Ledger(f"sqlite:///{out / 'ledger.sqlite'}") as ledger:
        ids = [r.notice_id for r in ledger.letters()]
    scan = base / "reply.pdf"
    scan.write_bytes(b"%PDF-1.4 a scanned reply\n")
    assert run("respond", ids[0], "--kind", "counsel-requested", "--received", "2026-10-20",
               "--attach", scan, "--out", out).exit_code == 0
    assert run("respond", ids[1], "--kind", "address-update", "--received", "2026-10-21",
               "--address", "9 Elm St, Lynn, MA 01902", "--out", out).exit_code == 0
    assert run("respond", ids[2], "--kind", "returned-undeliverable", "--reason", "Vacant",
               "--received", "2026-10-22", "--out", out).exit_code == 0
    follow = run("mail", "--batch", "f", "--follow-up", "t", "--date", "2026-10-25",
                 "--allow-past-date", "--out", out, "--workers", "1")
    assert follow.exit_code == 0, follow.output
    url = f"sqlite:///{out / 'ledger.sqlite'}"
    assert verify(out, url)[0] == []
    return out, ids, head(url)


@pytest.fixture
def copy(made, tmp_path):
    out, ids, filed = made
    target = tmp_path / "out"
    shutil.copytree(out, target)
    for p in target.rglob("*"):
        p.chmod(0o700 if p.is_dir() else 0o600)
    conn = sqlite3.connect(target / "ledger.sqlite", isolation_level=None)
    for table in APPEND_ONLY:
        for op in ("update", "delete"):
            conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op}")
    return target, conn, ids, filed


def findings(target: Path, filed) -> list[str]:
    found, _ = verify(target, f"sqlite:///{target / 'ledger.sqlite'}", head=filed)
    return [str(f) for f in found]


def one(conn, sql, *args):
    return conn.execute(sql, args).fetchone()


def append_event(conn, kind, payload, *, batch=None, notice_id=None):
    """An event forged with a correct chain link (as a tamperer who knows the format could)."""
    prev = one(conn, "SELECT hash FROM events ORDER BY seq DESC LIMIT 1")[0]
    body = json.dumps(payload, sort_keys=True)
    at = "2026-11-01T00:00:00.000000+00:00"
    conn.execute("INSERT INTO events (kind, batch, notice_id, payload, created_at, prev_hash, "
                 "hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (kind, batch, notice_id, body, at, prev,
                  event_hash(prev, kind, batch, notice_id, body, at)))


def flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def letter_file(target, nid):
    return target / "t" / "letters" / f"{nid}.pdf"


def first_response(conn):
    return one(conn, "SELECT id, notice_id FROM responses ORDER BY id LIMIT 1")


# Each case: (name, tamper(target, conn, ids), what a finding must say).
CASES = [
    # --- letters -----------------------------------------------------------------------------
    ("letter pages", lambda t, c, ids: c.execute(
        "UPDATE letters SET pages = pages + 1 WHERE notice_id = ?", (ids[1],)),
     lambda ids: f"notice {ids[1]}: letters row differs from its event"),
    ("letter sha256", lambda t, c, ids: c.execute(
        "UPDATE letters SET sha256 = ? WHERE notice_id = ?", ("0" * 64, ids[1])),
     lambda ids: f"notice {ids[1]}: retained copy does not match the ledger's SHA-256"),
    ("letter zip", lambda t, c, ids: c.execute(
        "UPDATE letters SET zip = '99999' WHERE notice_id = ?", (ids[1],)),
     lambda ids: f"notice {ids[1]}: letters row differs from its event"),
    ("letter imb", lambda t, c, ids: c.execute(
        "UPDATE letters SET imb = (SELECT imb FROM letters WHERE notice_id = ?) "
        "WHERE notice_id = ?", (ids[2], ids[1])),
     lambda ids: "in imb"),
    ("letter recipient", lambda t, c, ids: c.execute(
        "UPDATE letters SET recipient = replace(recipient, '\"first_name\": \"', "
        "'\"first_name\": \"X') WHERE notice_id = ?", (ids[1],)),
     lambda ids: "in recipient_sha256"),
    ("letter defendant", lambda t, c, ids: c.execute(
        "UPDATE letters SET defendant_id = 'D9999999' WHERE notice_id = ?", (ids[1],)),
     lambda ids: "in defendant_id"),
    ("letter languages", lambda t, c, ids: c.execute(
        "UPDATE letters SET languages = 'fr' WHERE notice_id = ?", (ids[1],)),
     lambda ids: "in languages"),
    ("letter file", lambda t, c, ids: c.execute(
        "UPDATE letters SET file = ? WHERE notice_id = ?", (f"letters/{ids[2]}.pdf", ids[1])),
     lambda ids: "in file"),
    ("letter created_at", lambda t, c, ids: c.execute(
        "UPDATE letters SET created_at = '2020-01-01' WHERE notice_id = ?", (ids[1],)),
     lambda ids: "in created_at"),
    ("letter moved to another batch", lambda t, c, ids: c.execute(
        "UPDATE letters SET batch_id = 2 WHERE notice_id = ?", (ids[3],)),
     lambda ids: f"notice {ids[3]}: the ledger puts it in another batch than its event"),
    ("letter follow_up_of", lambda t, c, ids: c.execute(
        "UPDATE letters SET follow_up_of = ? WHERE follow_up_of IS NOT NULL", (ids[5],)),
     lambda ids: "in follow_up_of"),
    ("letter deleted", lambda t, c, ids: (
        c.execute("DELETE FROM letter_cases WHERE notice_id = ?", (ids[4],)),
        c.execute("DELETE FROM letters WHERE notice_id = ?", (ids[4],))),
     lambda ids: f"notice {ids[4]}: 'letter-recorded' event #"),
    ("letter inserted", lambda t, c, ids: c.execute(
        "INSERT INTO letters SELECT 'ZZZ-ZZZ-ZZ9', batch_id, 'D7', languages, "
        "language_requested, pages, sha256, bytes, file, zip, recipient, follow_up_of, "
        "created_at, imb FROM letters WHERE notice_id = ?", (ids[1],)),
     lambda ids: "notice ZZZ-ZZZ-ZZ9: letters row has no 'letter-recorded' event"),
    # --- cases ---------------------------------------------------------------------------------
    ("case docket", lambda t, c, ids: c.execute(
        "UPDATE letter_cases SET docket_number = 'X' WHERE notice_id = ?", (ids[1],)),
     lambda ids: f"notice {ids[1]}: letters row differs from its event"),
    ("case offense", lambda t, c, ids: c.execute(
        "UPDATE letter_cases SET offense = 'nothing' WHERE notice_id = ?", (ids[1],)),
     lambda ids: "in cases_sha256"),
    ("case deleted", lambda t, c, ids: c.execute(
        "DELETE FROM letter_cases WHERE id = (SELECT min(id) FROM letter_cases "
        "WHERE notice_id = ?)", (ids[1],)),
     lambda ids: f"notice {ids[1]}: letters row differs from its event"),
    ("case added", lambda t, c, ids: c.execute(
        "INSERT INTO letter_cases (notice_id, docket_number, court, county, offense, "
        "disposition_date) VALUES (?, 'NEW', 'c', 'c', 'o', '2001-01-01')", (ids[1],)),
     lambda ids: "in cases_sha256"),
    ("cases of no letter", lambda t, c, ids: c.execute(
        "INSERT INTO letter_cases (notice_id, docket_number, court, county, offense, "
        "disposition_date) VALUES ('QQQ-QQQ-QQ7', 'NEW', 'c', 'c', 'o', '2001-01-01')"),
     lambda ids: "notice QQQ-QQQ-QQ7: case rows for a letter the ledger does not have"),
    # --- batches and their inputs --------------------------------------------------------------
    ("response deadline", lambda t, c, ids: c.execute(
        "UPDATE batches SET response_deadline = '2027-06-30' WHERE name = 't'"),
     lambda ids: "batch t: batches row differs from its event"),
    ("issue date", lambda t, c, ids: c.execute(
        "UPDATE batches SET issue_date = '2026-09-01' WHERE name = 't'"),
     lambda ids: "in issue_date"),
    ("policy", lambda t, c, ids: c.execute("UPDATE batches SET policy = 'all' WHERE name = 't'"),
     lambda ids: "in policy"),
    ("inputs hash", lambda t, c, ids: c.execute(
        "UPDATE batches SET inputs_sha256 = ? WHERE name = 't'", ("1" * 64,)),
     lambda ids: "batch t: inputs_sha256 is not the hash of its recorded inputs"),
    ("batch renamed", lambda t, c, ids: c.execute(
        "UPDATE batches SET name = 't2' WHERE name = 't'"),
     lambda ids: "batch t2: batches row has no 'batch-opened' event"),
    ("input content", lambda t, c, ids: c.execute(
        "UPDATE batch_inputs SET content = CAST('x' AS BLOB) WHERE kind = 'config' "
        "AND batch_id = 1"),
     lambda ids: "batch t: recorded input letters.toml does not match its SHA-256"),
    ("input swapped whole", lambda t, c, ids: c.execute(
        "UPDATE batch_inputs SET content = CAST('x' AS BLOB), sha256 = ? WHERE kind = 'config' "
        "AND batch_id = 1", ("2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",)),
     lambda ids: "batch t: batches row differs from its event"),
    ("input content wiped", lambda t, c, ids: c.execute(
        "UPDATE batch_inputs SET content = NULL WHERE kind = 'config' AND batch_id = 1"),
     lambda ids: "batch t: recorded input letters.toml has no content"),
    ("input deleted", lambda t, c, ids: c.execute(
        "DELETE FROM batch_inputs WHERE kind = 'template' AND batch_id = 1 AND id = "
        "(SELECT min(id) FROM batch_inputs WHERE kind = 'template' AND batch_id = 1)"),
     lambda ids: "in batch_inputs_sha256"),
    ("root edited", lambda t, c, ids: c.execute(
        "UPDATE batch_roots SET root = ? WHERE batch_id = 1", ("a" * 64,)),
     lambda ids: "batch t: root in the ledger does not match its letters"),
    ("root count", lambda t, c, ids: c.execute(
        "UPDATE batch_roots SET letter_count = 5 WHERE batch_id = 1"),
     lambda ids: "in letters: event 6, row 5"),
    ("root deleted", lambda t, c, ids: c.execute("DELETE FROM batch_roots WHERE batch_id = 1"),
     lambda ids: "batch t: 'batch-complete' event #"),
    ("person state", lambda t, c, ids: c.execute(
        "UPDATE outcomes SET state = 'suppressed' WHERE notice_id = ?", (ids[1],)),
     lambda ids: "in outcomes_sha256"),
    ("person removed", lambda t, c, ids: c.execute(
        "DELETE FROM outcomes WHERE notice_id = ?", (ids[1],)),
     lambda ids: "in outcomes_sha256"),
    # --- responses -----------------------------------------------------------------------------
    ("response kind", lambda t, c, ids: c.execute(
        "UPDATE responses SET kind = 'no-action-wanted' WHERE notice_id = ?", (ids[0],)),
     lambda ids: "in kind: event 'counsel-requested', row 'no-action-wanted'"),
    ("response note", lambda t, c, ids: c.execute(
        "UPDATE responses SET note = 'edited' WHERE notice_id = ?", (ids[0],)),
     lambda ids: "in note"),
    ("response received", lambda t, c, ids: c.execute(
        "UPDATE responses SET received = '2026-10-02' WHERE notice_id = ?", (ids[0],)),
     lambda ids: "in received"),
    ("response new address", lambda t, c, ids: c.execute(
        "UPDATE responses SET new_address = '1 Other St, Lynn, MA 01902' WHERE notice_id = ?",
        (ids[1],)),
     lambda ids: "in new_address"),
    ("response moved to another notice", lambda t, c, ids: c.execute(
        "UPDATE responses SET notice_id = ? WHERE notice_id = ?", (ids[3], ids[0])),
     lambda ids: "in notice_id"),
    ("response deleted", lambda t, c, ids: c.execute(
        "DELETE FROM responses WHERE notice_id = ?", (ids[2],)),
     lambda ids: "'response-recorded' event #"),
    ("response deleted with its event", lambda t, c, ids: (
        c.execute("DELETE FROM events WHERE kind = 'response-recorded' AND notice_id = ?",
                  (ids[1],)),
        c.execute("DELETE FROM responses WHERE notice_id = ?", (ids[1],))),
     lambda ids: "does not follow the event before it"),
    ("response inserted", lambda t, c, ids: c.execute(
        "INSERT INTO responses (notice_id, kind, received, note, recorded_by, new_address, "
        "reason, source, created_at) VALUES (?, 'no-action-wanted', '2026-10-30', '', 'x', '', "
        "'', 'command line', '2026-10-30')", (ids[4],)),
     lambda ids: "responses row has no 'response-recorded' event"),
    ("forged response event", lambda t, c, ids: append_event(
        c, "response-recorded", {"response_id": 99, "kind": "other"}, notice_id=ids[4]),
     lambda ids: "response 99: 'response-recorded' event #"),
    ("attachment changed", lambda t, c, ids: next(
        (t / "attachments").rglob("*.pdf")).write_bytes(b"%PDF-1.4 another reply\n"),
     lambda ids: f"notice {ids[0]}: attachment changed"),
    ("attachment deleted", lambda t, c, ids: next((t / "attachments").rglob("*.pdf")).unlink(),
     lambda ids: f"notice {ids[0]}: attachment missing"),
    # --- the event log -------------------------------------------------------------------------
    ("event payload", lambda t, c, ids: c.execute(
        "UPDATE events SET payload = replace(payload, 'Vacant', 'Moved') "
        "WHERE kind = 'response-recorded'"),
     lambda ids: "content does not match its hash"),
    ("events swapped", lambda t, c, ids: (
        c.execute("UPDATE events SET seq = -1 WHERE seq = 3"),
        c.execute("UPDATE events SET seq = 3 WHERE seq = 4"),
        c.execute("UPDATE events SET seq = 4 WHERE seq = -1")),
     lambda ids: "event 3: does not follow the event before it"),
    ("unknown event kind", lambda t, c, ids: append_event(c, "letter-unsent", {}),
     lambda ids: "unknown kind 'letter-unsent'"),
    ("last event cut off", lambda t, c, ids: c.execute(
        "DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)"),
     lambda ids: "events but the head filed outside it has"),
    ("last four events cut off", lambda t, c, ids: [c.execute(
        "DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)") for _ in range(4)],
     lambda ids: "events but the head filed outside it has"),
    # --- files ---------------------------------------------------------------------------------
    ("copy flipped", lambda t, c, ids: flip(letter_file(t, ids[1])),
     lambda ids: f"notice {ids[1]}: retained copy does not match"),
    ("copy deleted", lambda t, c, ids: letter_file(t, ids[1]).unlink(),
     lambda ids: f"notice {ids[1]}: retained copy missing"),
    ("extra copy", lambda t, c, ids: shutil.copy(letter_file(t, ids[1]),
                                                 t / "t" / "letters" / "ZZZ-ZZZ-ZZZ.pdf"),
     lambda ids: "file the ledger does not know: letters/ZZZ-ZZZ-ZZZ.pdf"),
    ("manifest edited", lambda t, c, ids: (t / "t" / "manifest.csv").write_text(
        (t / "t" / "manifest.csv").read_text().replace(",letter,", ",suppressed,", 1)),
     lambda ids: "batch t: manifest.csv changed since the batch was completed"),
    ("manifest deleted", lambda t, c, ids: (t / "t" / "manifest.csv").unlink(),
     lambda ids: "batch t: manifest.csv missing"),
    ("rejects edited", lambda t, c, ids: (t / "t" / "rejects.csv").write_text("row\n1\n"),
     lambda ids: "batch t: rejects.csv changed since the batch was completed"),
    ("print file edited", lambda t, c, ids: flip(t / "t" / "print" / "t-001.pdf"),
     lambda ids: "batch t: print/t-001.pdf changed since the batch was completed"),
    ("print manifest edited", lambda t, c, ids: (t / "t" / "print" / "manifest.csv").write_text(
        "file\n"),
     lambda ids: "batch t: print/manifest.csv changed since the batch was completed"),
    ("address file edited", lambda t, c, ids: flip(t / "t" / "print" / "addresses.csv"),
     lambda ids: "batch t: print/addresses.csv changed since the batch was completed"),
    ("job sheet removed", lambda t, c, ids: (t / "t" / "print" / "JOB.txt").unlink(),
     lambda ids: "batch t: print/JOB.txt missing"),
    ("extra print file", lambda t, c, ids: shutil.copy(t / "t" / "print" / "t-001.pdf",
                                                       t / "t" / "print" / "t-002.pdf"),
     lambda ids: "batch t: print/t-002.pdf is not covered by SHA256SUMS"),
    ("sums rewritten to match an edit", lambda t, c, ids: _edit_with_sums(t),
     lambda ids: "batch t: SHA256SUMS is not the one recorded when the batch was completed"),
    ("ROOT edited", lambda t, c, ids: (t / "t" / "ROOT").write_text("b" * 64 + "\n"),
     lambda ids: "batch t: ROOT file does not match the letters"),
    ("stale temporary", lambda t, c, ids: (t / "t" / "print" / ".t-001.pdf.x1.tmp")
     .write_bytes(b"half"),
     lambda ids: "batch t: temporary file left behind: print/.t-001.pdf.x1.tmp"),
]


def _edit_with_sums(t: Path) -> None:
    import hashlib

    manifest = t / "t" / "manifest.csv"
    manifest.write_text(manifest.read_text() + "\n")
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest()
    sums = t / "t" / "SHA256SUMS"
    lines = [f"{digest}  manifest.csv" if line.endswith("  manifest.csv") else line
             for line in sums.read_text().splitlines()]
    sums.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("name, tamper, says", CASES, ids=[c[0] for c in CASES])
def test_each_tamper_is_caught_and_named(copy, name, tamper, says):
    target, conn, ids, filed = copy
    assert findings(target, filed) == []          # the copy itself is clean
    tamper(target, conn, ids)
    conn.close()
    found = findings(target, filed)
    expected = says(ids)
    assert any(expected in f for f in found), (name, found)


def test_an_older_backup_put_back_is_caught_with_the_head(made, tmp_path):
    out, ids, _ = made
    backup = tmp_path / "backup"
    shutil.copytree(out, backup)
    # more is recorded after the backup was taken; the head filed then is the newer one
    assert run("respond", ids[4], "--kind", "other", "--received", "2026-10-30", "--note",
               "called", "--out", out).exit_code == 0
    newer = run("audit", "head", "--out", out).stdout.strip()
    # the backup is consistent in itself: only the head filed outside shows it is older
    plain = run("audit", "verify", "--out", backup)
    assert plain.exit_code == 0, plain.output
    against = run("audit", "verify", "--out", backup, "--head", newer)
    assert against.exit_code == 1
    assert "events but the head filed outside it has" in against.output
    # a different ledger of the same length is not the one filed either
    count, digest = newer.split(":")
    other = run("audit", "verify", "--out", out, "--head", f"{count}:{'c' * 64}")
    assert other.exit_code == 1 and f"event {count} is not the one in the head" in other.output
    assert run("audit", "verify", "--out", out, "--head", newer).exit_code == 0


def test_root_file_in_upper_case_is_not_a_false_alarm(copy):
    target, conn, ids, filed = copy
    root = target / "t" / "ROOT"
    root.write_text(root.read_text().upper())
    assert findings(target, filed) == []


@pytest.mark.parametrize("given", ["12:xyz", "", "\u00b2:" + "0" * 64, "-1:" + "0" * 64])
def test_a_bad_head_is_a_usage_error(made, given):
    out, _, _ = made
    bad = run("audit", "verify", "--out", out, "--head", given)
    assert bad.exit_code == 2 and "is not a head" in bad.output  # never "no problems"


def test_mail_and_respond_print_the_head(made):
    out, ids, _ = made
    url = f"sqlite:///{out / 'ledger.sqlite'}"
    shown = run("audit", "head", "--out", out).stdout.strip()
    count, digest = head(url)
    assert shown == f"{count}:{digest}"
    again = run("mail", "--batch", "f", "--follow-up", "t", "--out", out)
    assert f"  head:     {count}:{digest}" in again.stdout


def test_void_and_note_are_recorded_verified_and_change_planning(made, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(made[0], out)
    url = f"sqlite:///{out / 'ledger.sqlite'}"
    voided = run("batch", "void", "f", "--reason", "printed with the wrong date", "--by",
                 "A. Clerk", "--out", out)
    assert voided.exit_code == 0, voided.output
    assert run("batch", "note", "t", "mailed by the mail house on 2026-10-02", "--out",
               out).exit_code == 0
    with Ledger(url) as ledger:
        assert ledger.voided()["f"]["reason"] == "printed with the wrong date"
        assert [json.loads(e.payload)["note"] for e in ledger.events(kind="batch-noted")] == [
            "mailed by the mail house on 2026-10-02"]
    assert verify(out, url)[0] == []
    # the follow-up batch is void, so the address update can be followed up again
    redo = run("mail", "--batch", "f2", "--follow-up", "t", "--date", "2026-10-26",
               "--allow-past-date", "--out", out, "--workers", "1", "--dry-run")
    assert redo.exit_code == 0, redo.output
    assert "follow-ups: address-update 1" in redo.stdout
    # a void batch is not followed up
    refused = run("mail", "--batch", "f3", "--follow-up", "f", "--out", out, "--dry-run")
    assert refused.exit_code == 2 and "batch 'f' is void" in refused.output
    twice = run("batch", "void", "f", "--reason", "again", "--by", "x", "--out", out)
    assert twice.exit_code != 0 and "is void already" in twice.output
    # a void batch is not mailed again, nor called complete
    again = run("mail", "--batch", "f", "--follow-up", "t", "--out", out)
    assert again.exit_code == 2 and "batch 'f' is void" in again.output


def test_audit_and_list_commands_write_nothing_beside_the_ledger(made, tmp_path):
    """On an auditor's read-only copy: the ledger is opened immutable, so no journal, WAL or
    shared-memory file appears and no byte changes (the folder's name needs URI escaping)."""
    import hashlib

    out = tmp_path / "evidence disk #1 ?%" / "out"
    shutil.copytree(made[0], out)
    ids = made[1]
    court = tmp_path / "court.csv"
    court.write_text("docket_number\nX1\n", encoding="utf-8")
    proof = tmp_path / "proof.json"

    def state():
        return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(out.rglob("*")) if p.is_file()}

    for p in [out, *out.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        before = state()
        for args in (["audit", "verify"], ["audit", "head"], ["audit", "show", ids[0]],
                     ["audit", "prove", ids[0], "-o", proof], ["audit", "reconcile", court],
                     ["audit", "report", "--pdf", tmp_path / "r.pdf", "--csv", tmp_path / "c"],
                     ["responses", "list"]):
            result = run(*args, "--out", out)
            assert result.exit_code in (0, 1), (args, result.output)
            assert state() == before, args
    finally:
        for p in [out, *out.rglob("*")]:
            p.chmod(0o700 if p.is_dir() else 0o600)


def test_running_the_batch_again_removes_temporary_files_a_kill_left(made, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(made[0], out)
    stale = out / "t" / "print" / ".print-001.pdf.k9.tmp"
    stale.write_bytes(b"half a print file")
    url = f"sqlite:///{out / 'ledger.sqlite'}"
    assert [f.message for f in verify(out, url)[0]] == [
        "temporary file left behind: print/.print-001.pdf.k9.tmp (resuming the batch "
        "removes it)"]
    again = run("mail", made[0].parent / "r.csv", "--batch", "t", "--out", out)
    assert again.stdout.startswith("Batch t is already complete"), again.output
    assert not stale.exists() and verify(out, url)[0] == []
