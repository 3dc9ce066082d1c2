"""Responses and returned mail: recording, mistyped IDs, attachments, bulk import, lists."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from click.testing import CliRunner

from letters import config, notice
from letters.cli import cli
from letters.ledger import Ledger
from letters.mailing import mail
from tests.conftest import ROOT
from tests.test_mailing import small_records

ISSUE = dt.date(2026, 11, 1)


@pytest.fixture
def mailed(tmp_path):
    cfg = config.load(ROOT / "letters.toml")
    out = tmp_path / "out"
    result = mail(cfg, small_records(tmp_path / "r.csv", people=5), batch="r", issue_date=ISSUE, allow_past_date=True,
                  out_dir=out, workers=1)
    with Ledger(result.ledger_url) as ledger:
        ids = [row.notice_id for row in ledger.letters()]
    return out, ids


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def typo(nid: str) -> str:
    s = notice.compact(nid)
    return s[:5] + ("2" if s[5] != "2" else "3") + s[6:]


def test_respond_and_mistyped_id_suggestion(mailed):
    out, ids = mailed
    bad = run("respond", typo(ids[0]), "--kind", "counsel-requested", "--out", out)
    assert bad.exit_code == 2  # nothing was recorded: the command could not run as asked
    assert bad.output == (f"Error: notice ID '{typo(ids[0])}' is not valid (its check symbol "
                          f"does not match)\n  Did you mean {ids[0]}?\n")
    ok = run("respond", ids[0].lower(), "--kind", "counsel-requested", "--received",
             "2026-11-20", "--by", "clerk1", "--out", out)
    assert ok.output.startswith(f"Recorded counsel-requested for notice {ids[0]}\n"
                                "  ledger head: ")
    missing_address = run("respond", ids[1], "--kind", "address-update", "--out", out)
    assert missing_address.exit_code == 2
    assert "an address-update needs the new address (--address)" in missing_address.output
    unknown = run("respond", ids[1], "--kind", "maybe", "--out", out)
    assert unknown.exit_code == 2
    assert unknown.output.startswith("Error: unknown kind 'maybe'\n  Kinds: counsel-requested")
    early = run("respond", ids[1], "--kind", "other", "--received", "2026-10-01", "--out", out)
    assert "is before notice" in early.output


def test_attachment_is_kept_write_once_and_hashed(mailed, tmp_path):
    import hashlib

    out, ids = mailed
    scan = tmp_path / "reply.pdf"
    scan.write_bytes(b"%PDF-1.4 scanned reply")
    digest = hashlib.sha256(scan.read_bytes()).hexdigest()
    assert run("respond", ids[2], "--kind", "other", "--attach", scan, "--out", out).exit_code == 0
    stored = out / "attachments" / digest[:2] / f"{digest}.pdf"
    assert stored.read_bytes() == scan.read_bytes()
    assert oct(stored.stat().st_mode & 0o777) == "0o400"
    with Ledger(f"sqlite:///{out / 'ledger.sqlite'}") as ledger:
        (r,) = ledger.responses()
        assert (r.attachment_sha256, r.attachment_name) == (
            digest, f"attachments/{digest[:2]}/{digest}.pdf")
        assert ledger.chain_problems() == []


def test_import_records_good_rows_once_and_rejects_bad_ones(mailed, tmp_path):
    out, ids = mailed
    path = tmp_path / "responses.csv"
    path.write_text(
        "notice_id,kind,received,note,by,new_address,reason\n"
        f"{ids[0]},counsel-requested,2026-11-10,,clerk,,\n"
        f"{ids[1]},returned-undeliverable,2026-11-12,,clerk,,No such number\n"
        f"{typo(ids[2])},no-action-wanted,2026-11-12,,clerk,,\n"
        f"{ids[3]},address-update,2026-11-13,,clerk,,\n"
        f"{ids[4]},other,13/11/2026,,clerk,,\n", encoding="utf-8")
    first = run("responses", "import", path, "--out", out)
    assert first.exit_code == 1
    assert first.stdout.startswith("Recorded 2 responses; 0 already recorded; 3 rows rejected\n")
    assert first.stderr.splitlines() == [
        f"{path}: row 4: notice ID '{typo(ids[2])}' is not valid (its check symbol does not "
        f"match) Did you mean {ids[2]}?",
        f"{path}: row 5: an address-update needs the new address (--address)",
        f"{path}: row 6: received '13/11/2026' is not a date (YYYY-MM-DD)",
    ]
    again = run("responses", "import", path, "--out", out)
    assert again.stdout.startswith("Recorded 0 responses; 2 already recorded; 3 rows rejected\n")
    with Ledger(f"sqlite:///{out / 'ledger.sqlite'}") as ledger:
        assert len(ledger.responses()) == 2


def test_list_csv_is_spreadsheet_safe_and_overdue_counts_answers(mailed):
    out, ids = mailed
    run("respond", ids[0], "--kind", "counsel-requested", "--received", "2026-11-05",
        "--note", "=HYPERLINK(\"http://x\")", "--out", out)
    run("respond", ids[1], "--kind", "returned-undeliverable", "--reason", "Moved",
        "--received", "2026-11-06", "--out", out)
    listed = run("responses", "list", "--csv", "--out", out)
    rows = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert [r["kind"] for r in rows] == ["counsel-requested", "returned-undeliverable"]
    assert rows[0]["note"] == "'=HYPERLINK(\"http://x\")"
    only = run("responses", "list", "--csv", "--kind", "returned-undeliverable", "--out", out)
    assert len(list(csv.DictReader(io.StringIO(only.stdout)))) == 1
    deadline = ISSUE + dt.timedelta(days=90)
    before = run("responses", "list", "--overdue", "--csv", "--as-of", deadline.isoformat(),
                 "--out", out)
    assert len(list(csv.DictReader(io.StringIO(before.stdout)))) == 0
    after = run("responses", "list", "--overdue", "--csv", "--as-of",
                (deadline + dt.timedelta(days=1)).isoformat(), "--out", out)
    late = [r["notice_id"] for r in csv.DictReader(io.StringIO(after.stdout))]
    # answered in time: ids[0]; returned mail is not an answer
    assert sorted(late) == sorted(ids[1:])


def test_follow_up_batch_from_returned_mail_and_overdue(mailed):
    out, ids = mailed
    run("respond", ids[0], "--kind", "address-update", "--address",
        "12 Elm St, Apt 2, Lynn, MA 01902", "--received", "2026-11-10", "--out", out)
    run("respond", ids[1], "--kind", "returned-undeliverable", "--reason", "Vacant",
        "--received", "2026-11-11", "--out", out)
    run("respond", ids[2], "--kind", "returned-forwarded", "--address",
        "40 Main St, Springfield, Massachusetts 01109", "--received", "2026-11-12", "--out", out)
    run("respond", ids[3], "--kind", "no-action-wanted", "--received", "2026-11-13",
        "--out", out)

    first = run("mail", "--batch", "f1", "--follow-up", "r", "--date", "2026-11-20", "--allow-past-date",
                "--out", out, "--workers", "1")
    assert first.exit_code == 0, first.output
    url = f"sqlite:///{out / 'ledger.sqlite'}"
    with Ledger(url) as ledger:
        f1 = ledger.batch("f1")
        letters = {r.follow_up_of: r for r in ledger.letters(f1.id)}
        assert sorted(letters) == sorted([ids[0], ids[2]])
        moved = json.loads(letters[ids[0]].recipient)["address"]
    # a new address from a response is standardised like the records', the given lines kept
    assert {k: moved[k] for k in ("line1", "unit", "line2", "city", "state", "zip")} == {
        "line1": "12 Elm St", "unit": "Apt 2", "line2": "", "city": "Lynn", "state": "MA",
        "zip": "01902"}
    assert moved["original"] == ["12 Elm St", "Apt 2", "Lynn MA 01902"]
    from tests.pdftools import word_boxes

    page1 = " ".join(w[0] for w in word_boxes(
        (out / "f1" / letters[ids[0]].file).read_bytes(), 1))
    assert "12 ELM ST APT 2 LYNN MA 01902" in page1
    # each follow-up letter says what it follows, in its own words per kind
    from tests.pdftools import page_texts

    def text_of(row):
        return " ".join(" ".join(page_texts((out / "f1" / row.file).read_bytes())).split())
    assert ("We wrote to you on November 1, 2026. You gave us a new address, so we are sending "
            "this letter to you there.") in text_of(letters[ids[0]])
    assert ("We wrote to you on November 1, 2026, but the letter came back to us. We are "
            "sending it again to a newer address.") in text_of(letters[ids[2]])
    assert json.loads(letters[ids[2]].recipient)["follow_up"] == {
        "kind": "returned", "notice_id": ids[2], "date": "2026-11-01"}

    court = out.parent / "court.csv"
    court.write_text("docket_number\n", encoding="utf-8")
    reconciled = run("audit", "reconcile", court, "--out", out)
    assert f"Returned letters with no follow-up: 1\n  notice {ids[1]}  (returned-undeliverable)" \
        in reconciled.output

    second = run("mail", "--batch", "f2", "--follow-up", "r", "--overdue", "--allow-past-date",
                 "--date", "2027-02-15", "--out", out, "--workers", "1", "--strict")
    assert second.exit_code == 1  # --strict: one person cannot be written to again
    # the two letters f1 followed up already are not followed up a second time
    assert "2 letter(s) of r were followed up already (in f1) and are left out; --again " \
        "includes them" in second.stdout
    with Ledger(url) as ledger:
        f2 = ledger.letters(ledger.batch("f2").id)
    assert [r.follow_up_of for r in f2] == [ids[4]]
    overdue = next(r for r in f2 if r.follow_up_of == ids[4])
    assert json.loads(overdue.recipient)["follow_up"]["kind"] == "overdue"
    assert "We wrote to you on November 1, 2026 and have not heard from you." in " ".join(
        " ".join(page_texts((out / "f2" / overdue.file).read_bytes())).split())
    rejects = (out / "f2" / "rejects.csv").read_text(encoding="utf-8")
    assert f"notice {ids[1]} came back undeliverable and no new address is known" in rejects
    again = run("mail", "--batch", "f2", "--follow-up", "r", "--overdue", "--out", out)
    assert again.stdout.startswith("Batch f2 is already complete")

    # the same follow-up once more under a new name: everybody was followed up already
    twice = run("mail", "--batch", "f3", "--follow-up", "r", "--overdue", "--allow-past-date",
                "--date", "2027-02-16", "--out", out, "--workers", "1")
    assert twice.exit_code == 2
    assert "was followed up already (in f1, f2): nothing new to mail" in twice.stderr
    assert "--again" in twice.stderr
    with Ledger(url) as ledger:
        assert ledger.batch("f3") is None  # refused before anything was written
    forced = run("mail", "--batch", "f3", "--follow-up", "r", "--overdue", "--allow-past-date",
                 "--date", "2027-02-16", "--out", out, "--workers", "1", "--again")
    assert forced.exit_code == 0
    with Ledger(url) as ledger:
        f3 = ledger.letters(ledger.batch("f3").id)
    assert sorted(r.follow_up_of for r in f3) == sorted([ids[0], ids[2], ids[4]])


def test_report_numbers_equal_independent_counts(mailed, tmp_path):
    from collections import Counter

    from letters.records import read_for

    out, ids = mailed
    run("respond", ids[0], "--kind", "returned-undeliverable", "--reason", "Vacant",
        "--received", "2026-11-05", "--out", out)
    run("respond", ids[1], "--kind", "counsel-requested", "--received", "2026-11-06", "--out", out)
    for kind, day in (("counsel-requested", "2026-11-20"), ("other", "2026-11-21")):
        assert run("respond", ids[2], "--kind", kind, "--received", day,
                   "--out", out).exit_code == 0
    result = run("audit", "report", "--out", out, "--csv", tmp_path / "csv", "--pdf",
                 tmp_path / "report.pdf")
    assert result.exit_code == 0, result.output

    def table(name):
        with open(tmp_path / "csv" / f"{name}.csv", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    # independently, from the records file the batch was made from
    cfg = config.load(ROOT / "letters.toml")
    intake = read_for(cfg, out.parent / "r.csv")
    expected = Counter()
    for person in intake.recipients:
        for county in {c.county for c in person.cases}:
            expected[(county, person.language)] += 1
    got = {(r["county"], r["language"]): int(r["letters"]) for r in table("letters_by_county")}
    assert got == dict(expected)
    (batch,) = table("batches")
    assert (batch["letters"], batch["verification"]) == ("5", "clean")
    assert batch["root"] == (out / "r" / "ROOT").read_text().strip()
    (batch,) = table("responses_by_batch")
    assert (batch["letters"], batch["undeliverable"], batch["undeliverable_rate"],
            batch["answered"], batch["response_rate"]) == ("5", "1", "20.0%", "2", "40.0%")
    months = {(r["month"], r["kind"]): int(r["responses"]) for r in table("responses_by_month")}
    assert months == {("2026-11", "returned-undeliverable"): 1,
                      ("2026-11", "counsel-requested"): 2, ("2026-11", "other"): 1}
    from tests.pdftools import page_texts

    text = " ".join(page_texts((tmp_path / "report.pdf").read_bytes()))
    assert "Letters by county and preferred language" in text and "20.0%" in text


def test_interrupted_follow_up_resumes_with_its_own_plan(mailed, monkeypatch):
    from letters import mailing

    out, ids = mailed
    run("respond", ids[0], "--kind", "address-update", "--address", "1 Oak St, Lynn, MA 01902",
        "--received", "2026-11-10", "--out", out)
    run("respond", ids[1], "--kind", "address-update", "--address", "2 Oak St, Lynn, MA 01902",
        "--received", "2026-11-10", "--out", out)
    original = mailing._results

    def interrupted(*args):
        for i, res in enumerate(original(*args)):
            if i == 1:
                raise KeyboardInterrupt
            yield res
    monkeypatch.setattr(mailing, "_results", interrupted)
    stopped = run("mail", "--batch", "f", "--follow-up", "r", "--date", "2026-11-20", "--allow-past-date",
                  "--out", out, "--workers", "1")
    assert stopped.exit_code == 130  # Ctrl-C: interrupted, not "done with problems"
    assert stopped.stderr.endswith("Interrupted: nothing more was done. Run the same command "
                                   "again to finish (a mailing resumes where it stopped).\n")
    monkeypatch.setattr(mailing, "_results", original)
    with Ledger(f"sqlite:///{out / 'ledger.sqlite'}") as ledger:
        assert ledger.batch("f").root is None
    # meanwhile another address comes in; the interrupted batch still finishes as planned
    run("respond", ids[2], "--kind", "address-update", "--address", "3 Oak St, Lynn, MA 01902",
        "--received", "2026-11-21", "--out", out)
    done = run("mail", "--batch", "f", "--follow-up", "r", "--out", out, "--workers", "1")
    assert done.exit_code == 0, done.output
    with Ledger(f"sqlite:///{out / 'ledger.sqlite'}") as ledger:
        rows = ledger.letters(ledger.batch("f").id)
    assert sorted(r.follow_up_of for r in rows) == sorted(ids[:2])


def test_returned_mail_after_an_address_update_keeps_the_new_address(mailed):
    out, ids = mailed
    run("respond", ids[0], "--kind", "address-update", "--address", "1 Oak St, Lynn, MA 01902",
        "--received", "2026-11-10", "--out", out)
    run("respond", ids[0], "--kind", "returned-undeliverable", "--reason", "Moved",
        "--received", "2026-11-12", "--out", out)
    assert run("mail", "--batch", "g", "--follow-up", "r", "--date", "2026-11-20", "--allow-past-date", "--out", out,
               "--workers", "1").exit_code == 0
    with Ledger(f"sqlite:///{out / 'ledger.sqlite'}") as ledger:
        (row,) = ledger.letters(ledger.batch("g").id)
    assert row.follow_up_of == ids[0] and json.loads(row.recipient)["address"]["line1"] == "1 Oak St"


def test_ncoa_import_feeds_the_next_mailing_once(mailed, tmp_path):
    out, ids = mailed
    ncoa = tmp_path / "NCOA.csv"
    ncoa.write_text("notice_id,new_address,move_date,reason\n"
                    f"{ids[0]},\"9 Elm Street, Apt 4, Lynn, MA 01902\",2026-11-05,family move\n"
                    f"{typo(ids[1])},\"1 Main St, Salem, MA 01970\",2026-11-05,\n"
                    f"{ids[2]},somewhere in Salem,2026-11-05,\n"
                    f"{ids[3]},\"1 Main St, Salem, MA 01970\",not a date,\n",
                    encoding="utf-8")
    first = run("addresses", "import", ncoa, "--out", out, "--received", "2026-11-20")
    assert first.exit_code == 1, first.output
    assert "Recorded 1 address updates; 0 already recorded; 3 rows rejected" in first.output
    for row in (3, 4, 5):
        assert f"row {row}:" in first.stderr
    again = run("addresses", "import", ncoa, "--out", out, "--received", "2026-11-21")
    assert "Recorded 0 address updates; 1 already recorded" in again.output
    with Ledger(str(out / "ledger.sqlite")) as ledger:
        got = ledger.responses(notice_id=ids[0])
    assert [(r.kind, r.source, r.received, r.new_address) for r in got] == [
        ("address-update", "NCOA NCOA.csv row 2", dt.date(2026, 11, 20),
         "9 Elm Street, Apt 4, Lynn, MA 01902")]
    assert "moved 2026-11-05" in got[0].note
    # the next mailing from the same export uses the address the NCOA pass found
    cfg = config.load(ROOT / "letters.toml")
    result = mail(cfg, small_records(tmp_path / "r2.csv", people=5), batch="r2",
                  issue_date=dt.date(2026, 12, 1), allow_past_date=True, out_dir=out, workers=1,
                  export_date=dt.date(2026, 11, 1))
    with Ledger(result.ledger_url) as ledger:
        moved = ledger.letter(ids[0])
        new = next(r for r in ledger.letters(ledger.batch("r2").id)
                   if r.defendant_id == moved.defendant_id)
    address = json.loads(new.recipient)["address"]
    assert (address["line1"], address["unit"], address["zip"]) == ("9 Elm St", "Apt 4", "01902")
    assert json.loads(new.recipient)["address_source"] == f"ledger response {ids[0]}"


def test_ncoa_file_without_its_columns_cannot_run(mailed, tmp_path):
    out, _ = mailed
    bad = tmp_path / "x.csv"
    bad.write_text("notice_id,kind,received\n", encoding="utf-8")
    assert run("addresses", "import", bad, "--out", out).exit_code == 2


def test_an_import_reads_the_ledger_s_notice_ids_once_however_many_are_mistyped(
        mailed, tmp_path, monkeypatch):
    """Each mistyped ID still gets its own suggestion; the ledger's IDs (all of a batch's, to
    find the near ones) and each batch's issue date are read once per file, not per row."""
    out, ids = mailed
    calls = {"notice_ids": 0, "batch_by_id": 0}
    for name in calls:
        real = getattr(Ledger, name)

        def counted(self, *a, _real=real, _name=name, **kw):
            calls[_name] += 1
            return _real(self, *a, **kw)

        monkeypatch.setattr(Ledger, name, counted)
    path = tmp_path / "responses.csv"
    path.write_text("notice_id,kind,received\n" + "".join(
        f"{typo(nid)},other,2026-11-12\n{nid},other,2026-11-12\n" for nid in ids),
        encoding="utf-8")
    result = run("responses", "import", path, "--out", out)
    assert result.exit_code == 1
    assert result.stdout.startswith(f"Recorded {len(ids)} responses; 0 already recorded; "
                                    f"{len(ids)} rows rejected\n")
    assert [line.rsplit(" ", 1)[-1] for line in result.stderr.splitlines()] == \
        [f"{nid}?" for nid in ids]
    assert calls == {"notice_ids": 1, "batch_by_id": 1}


def test_an_import_checks_each_row_against_its_own_batch_s_issue_date(mailed, tmp_path):
    """Issue dates are read once per batch in an import: a row for a later batch received
    before that batch was issued is still refused, one for the earlier batch is not."""
    out, ids = mailed
    cfg = config.load(ROOT / "letters.toml")
    later = dt.date(2026, 11, 15)
    result = mail(cfg, small_records(tmp_path / "s.csv", people=2), batch="s",
                  issue_date=later, allow_past_date=True, out_dir=out, workers=1)
    with Ledger(result.ledger_url) as ledger:
        s_ids = [row.notice_id for row in ledger.letters(ledger.batch("s").id)]
    path = tmp_path / "responses.csv"
    path.write_text("notice_id,kind,received\n"
                    f"{ids[0]},other,2026-11-10\n{s_ids[0]},other,2026-11-10\n"
                    f"{ids[1]},other,2026-11-16\n{s_ids[1]},other,2026-11-16\n",
                    encoding="utf-8")
    imported = run("responses", "import", path, "--out", out)
    assert imported.stdout.startswith("Recorded 3 responses; 0 already recorded; 1 rows "
                                      "rejected\n")
    assert imported.stderr.splitlines() == [
        f"{path}: row 3: received 2026-11-10 is before notice {s_ids[0]} was issued "
        f"({later})"]
