"""Every person reached or accounted for: suppression, counsel of record, the newest address,
people states that add up, dry runs and refused mistakes."""

from __future__ import annotations

import csv
import datetime as dt
import json
import string
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from letters import config
from letters.cli import cli
from letters.errors import InputFileError, UsageError
from letters.ledger import Ledger
from letters.mailing import dry_run, mail, plan_batch
from tests.conftest import ROOT, row, write_records
from tests.pdftools import page_texts

ISSUE = dt.date(2026, 11, 2)
CFG = config.load(ROOT / "letters.toml")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def people_rows() -> list[dict]:
    return [
        row(defendant_id="P1", first_name="Ana", last_name="Ruiz", docket_number="0901CR000001"),
        row(defendant_id="P2", first_name="Ben", last_name="Cole", language="en",
            docket_number="0901CR000002"),
        row(defendant_id="P3", first_name="Cara", last_name="Diaz", language="en",
            docket_number="0901CR000003"),
        row(defendant_id="P4", first_name="Dan", last_name="Egan", language="en",
            docket_number="0901CR000004"),
        row(defendant_id="P5", first_name="Eva", last_name="Fox", language="en",
            docket_number="0901CR000005"),
        row(defendant_id="P6", first_name="Fay", last_name="Gil", language="en",
            docket_number="0901CR000006", zip="2118"),          # rejected: ZIP lost its zero
        row(defendant_id="P7", first_name="Gus", last_name="Hale", language="en",
            docket_number="0901CR000007"),
    ]


SUPPRESS = (
    "defendant_id,reason,note,counsel_name,counsel_address\n"
    "P2,deceased,obituary 2025-03-01,,\n"
    'P3,represented,,"Jane Roe, Esq.","10 Court St, Suite 4, Boston, MA 02108"\n'
    "P4,responded,answered the 2024 letter,,\n"
    "P5,court-excluded,order of 2026-10-01,,\n"
    "P6,deceased,,,\n"
)


@pytest.fixture
def suppressed_batch(tmp_path):
    records = write_records(tmp_path / "r.csv", people_rows())
    sup = tmp_path / "suppress.csv"
    sup.write_text(SUPPRESS, encoding="utf-8")
    out = tmp_path / "out"
    result = mail(CFG, records, batch="s", issue_date=ISSUE, allow_past_date=True, out_dir=out,
                  workers=1, suppress=sup)
    return result, out, records


def manifest(folder: Path) -> list[dict]:
    with open(folder / "manifest.csv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_each_suppression_reason_and_the_three_states_add_up(suppressed_batch):
    result, out, _ = suppressed_batch
    assert result.people == {"letter": 3, "suppressed": 4, "rejected": 0}
    assert result.suppressed == {"court-excluded": 1, "deceased": 2, "responded": 1}
    assert result.to_counsel == 1
    rows = {m["defendant_id"]: m for m in manifest(out / "s")}
    assert sorted(rows) == [f"P{i}" for i in range(1, 8)]           # every person, once
    assert {d: (m["state"], m["reason"]) for d, m in rows.items() if m["state"] != "letter"} == {
        "P2": ("suppressed", "deceased"), "P4": ("suppressed", "responded"),
        "P5": ("suppressed", "court-excluded"),
        # suppressed wins over rejected: the office said not to mail this person at all
        "P6": ("suppressed", "deceased")}
    with Ledger(result.ledger_url) as ledger:
        outs = {o.defendant_id: o for o in ledger.outcomes()}
        mailed = {r.defendant_id for r in ledger.letters()}
        complete = ledger.events(kind="batch-complete")[-1]
    assert mailed == {"P1", "P3", "P7"}
    assert {d: o.state for d, o in outs.items()} == {d: m["state"] for d, m in rows.items()}
    assert json.loads(outs["P2"].dockets) == ["0901CR000002"]
    assert outs["P2"].note == "obituary 2025-03-01"
    assert json.loads(complete.payload)["people"] == {"letter": 3, "suppressed": 4}


def test_rejected_person_not_suppressed_is_rejected(tmp_path):
    records = write_records(tmp_path / "r.csv", people_rows())
    result = mail(CFG, records, batch="r", issue_date=ISSUE, allow_past_date=True,
                  out_dir=tmp_path / "out", workers=1)
    assert result.people == {"letter": 6, "suppressed": 0, "rejected": 1}
    rows = {m["defendant_id"]: m for m in manifest(tmp_path / "out" / "r")}
    assert rows["P6"]["state"] == "rejected" and rows["P6"]["reason"].startswith("ZIP has 4")


def test_counsel_of_record_gets_the_letter_naming_the_person(suppressed_batch):
    result, out, _ = suppressed_batch
    rows = {m["defendant_id"]: m for m in manifest(out / "s")}
    counsel = rows["P3"]
    assert (counsel["state"], counsel["reason"], counsel["sent_to"]) == (
        "letter", "represented", "counsel")
    assert counsel["zip"] == "02108"
    pages = page_texts((out / "s" / counsel["file"]).read_bytes())
    first = pages[0]
    # the window shows counsel's name and address, not the person's
    assert "JANE ROE ESQ 10 COURT ST STE 4 BOSTON MA 02108" in first   # Pub 28: no periods
    assert "1 MAIN ST" not in first.upper()
    assert ("To Jane Roe, Esq.: our records show that you are the lawyer for Cara Diaz. So we "
            "are sending this notice to you, not to your client.") in first
    assert "Dear Cara Diaz:" in first
    with Ledger(result.ledger_url) as ledger:
        person = json.loads(ledger.letter(counsel["notice_id"]).recipient)
    assert person["deliver_to"]["name"] == "Jane Roe, Esq."
    assert person["deliver_to"]["person_address"] == "1 Main St / Boston MA 02118"


def test_counsel_letter_in_spanish(tmp_path):
    out = tmp_path / "out"
    records = write_records(tmp_path / "es.csv", [row(defendant_id="Q1", language="es")])
    sup = tmp_path / "q.csv"
    sup.write_text('defendant_id,reason,counsel_name,counsel_address\n'
                   'Q1,represented,"Luis Paz, Esq.","1 Elm St, Lynn, MA 01902"\n',
                   encoding="utf-8")
    res = mail(CFG, records, batch="q", issue_date=ISSUE, allow_past_date=True, out_dir=out,
               workers=1, suppress=sup)
    assert res.to_counsel == 1
    (m,) = manifest(out / "q")
    text = " ".join(page_texts((out / "q" / m["file"]).read_bytes()))
    assert ("Para Luis Paz, Esq.: nuestros registros muestran que usted es el abogado o la "
            "abogada de Ana Ruiz. Por eso le enviamos este aviso a usted y no a su cliente.") in text


@pytest.mark.parametrize("content, message", [
    ("defendant_id,reason\nP1,moved\n", "reason 'moved' is not one of deceased, represented"),
    ("defendant_id,reason\n,deceased\n", "row 2: defendant_id is blank"),
    ("defendant_id,why\nP1,deceased\n", "needs the columns reason"),
    ("defendant_id,reason\nP3,represented\n", "give counsel_name and counsel_address"),
    ("defendant_id,reason\nP1,deceased\nP1,responded\n", "row 3: defendant P1 is also on"),
])
def test_a_bad_suppression_file_stops_before_anything_is_written(tmp_path, content, message):
    records = write_records(tmp_path / "r.csv", people_rows())
    sup = tmp_path / "suppress.csv"
    sup.write_text(content, encoding="utf-8")
    with pytest.raises(InputFileError) as info:
        mail(CFG, records, batch="x", issue_date=ISSUE, allow_past_date=True,
             out_dir=tmp_path / "out", workers=1, suppress=sup)
    assert message in str(info.value)
    assert not (tmp_path / "out").exists()


def test_configured_reasons_and_file(tmp_path):
    from tests.conftest import copy_workspace

    ws = copy_workspace(tmp_path / "ws")
    import re

    text = (ws / "letters.toml").read_text(encoding="utf-8")
    text = text.replace('[suppression]\nfile = ""', '[suppression]\nfile = "do-not-mail.csv"')
    # the workspace's own vocabulary replaces the sample's reasons
    text = re.sub(r"\[suppression_reason\.[^\]]+\]\n(?:[a-z_]+ = .*\n)+\n?", "", text)
    text += '\n[suppression_reason.moved-abroad]\nlabel = "Lives outside the United States"\n'
    (ws / "letters.toml").write_text(text, encoding="utf-8")
    (ws / "do-not-mail.csv").write_text("defendant_id,reason\nP7,moved-abroad\n",
                                        encoding="utf-8")
    cfg = config.load(ws / "letters.toml")
    assert list(cfg.suppression_reason) == ["moved-abroad"]   # configured replace the defaults
    records = write_records(tmp_path / "r.csv", people_rows())
    plan = plan_batch(cfg, records, batch="c", ledger_url=f"sqlite:///{tmp_path}/none.sqlite")
    assert plan.left_out["P7"].reason == "moved-abroad"
    assert not (tmp_path / "none.sqlite").exists()


# --- the counts always add up -------------------------------------------------------------

ID = st.sampled_from(["D1", "D2", "D3", "D4", "", " D2"])
cells = {
    "defendant_id": ID,
    "first_name": st.sampled_from(["Ana", "José", ""]),
    "last_name": st.sampled_from(["Ruiz", "Cole", "", "x" * 3]),
    "address_line1": st.sampled_from(["1 Main St", "9 Elm St", ""]),
    "city": st.sampled_from(["Boston", "Lynn", ""]),
    "state": st.sampled_from(["MA", "XX"]),
    "zip": st.sampled_from(["02118", "2118", "01902"]),
    "language": st.sampled_from(["en", "es", "fr", ""]),
    "docket_number": st.sampled_from(["X1", "X2", "X3", ""]),
}
tables = st.lists(st.fixed_dictionaries(cells), min_size=1, max_size=20)
suppression = st.dictionaries(st.sampled_from(["D1", "D2", "D3", "D9"]),
                              st.sampled_from(["deceased", "responded", "court-excluded",
                                               "represented"]), max_size=4)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=tables, suppressed=suppression)
def test_letters_plus_suppressed_plus_rejected_is_every_distinct_person(tmp_path, table,
                                                                         suppressed):
    from letters.people import LETTER, REJECTED, SUPPRESSED

    path = write_records(tmp_path / "p.csv", table, header=list(cells))
    sup = tmp_path / "s.csv"
    lines = ["defendant_id,reason,counsel_name,counsel_address"]
    for did, reason in suppressed.items():
        counsel = '"A Lawyer","1 Court St, Boston, MA 02108"' if reason == "represented" else ","
        lines.append(f"{did},{reason},{counsel}")
    sup.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = config.Config(root=tmp_path)
    plan = plan_batch(cfg, path, batch="p", ledger_url=f"sqlite:///{tmp_path}/none.sqlite",
                      suppress=sup)
    # independent count: distinct IDs as written (trimmed), and each row that names nobody
    ids = {r["defendant_id"].strip() for r in table if r["defendant_id"].strip()}
    nameless = sum(1 for r in table if not r["defendant_id"].strip())
    letters = [r.defendant_id for r in plan.recipients]
    states = [o.state for o in plan.left_out.values()]
    assert len(letters) + states.count(SUPPRESSED) + states.count(REJECTED) == len(ids) + nameless
    assert not set(letters) & set(plan.left_out)                 # nobody in two states
    for did, reason in suppressed.items():
        if did not in ids:
            continue
        state = LETTER if did in letters else plan.left_out[did].state
        if reason == "represented":
            assert state in (LETTER, REJECTED)
        else:
            assert state == SUPPRESSED


# --- the newest address ---------------------------------------------------------------------

def test_an_address_update_in_the_ledger_is_used_by_the_next_batch_from_the_same_export(
        tmp_path):
    records = write_records(tmp_path / "r.csv", people_rows()[:2])
    out = tmp_path / "out"
    first = mail(CFG, records, batch="b1", issue_date=ISSUE, allow_past_date=True, out_dir=out,
                 workers=1, export_date=dt.date(2026, 10, 1))
    assert first.newer_addresses == {}
    with Ledger(first.ledger_url) as ledger:
        p1 = next(r.notice_id for r in ledger.letters() if r.defendant_id == "P1")
    assert run("respond", p1, "--kind", "address-update", "--received", "2026-11-20",
               "--address", "77 Harbor Rd, Apt 3, Gloucester, MA 01930", "--out",
               out).exit_code == 0

    result = run("mail", records, "--batch", "b2", "--date", "2026-11-30", "--allow-past-date",
                 "--export-date", "2026-10-01", "--out", out, "--workers", "1")
    assert result.exit_code == 0, result.output
    assert f"newer address from the ledger for 1: P1 (from {p1})" in result.stdout
    rows = {m["defendant_id"]: m for m in manifest(out / "b2")}
    assert rows["P1"]["address_source"] == f"ledger response {p1}"
    assert rows["P1"]["zip"] == "01930"
    assert rows["P2"]["address_source"] == ""
    first_page = page_texts((out / "b2" / rows["P1"]["file"]).read_bytes())[0]
    assert "77 HARBOR RD APT 3 GLOUCESTER MA 01930" in first_page
    assert "1 MAIN ST" not in first_page.upper()
    with Ledger(first.ledger_url) as ledger:
        outs = {o.defendant_id: o for o in ledger.outcomes(ledger.batch("b2").id)}
    assert outs["P1"].address_source == f"ledger response {p1}"

    # an export made after the update is taken as the newer one
    later = run("mail", records, "--batch", "b3", "--date", "2026-11-30", "--allow-past-date",
                "--export-date", "2026-11-21", "--out", out, "--workers", "1")
    assert later.exit_code == 0 and "newer address" not in later.stdout
    assert {m["address_source"] for m in manifest(out / "b3")} == {""}


def test_newest_address_can_be_switched_off(tmp_path):
    import dataclasses

    records = write_records(tmp_path / "r.csv", people_rows()[:1])
    out = tmp_path / "out"
    first = mail(CFG, records, batch="b1", issue_date=ISSUE, allow_past_date=True, out_dir=out,
                 workers=1, export_date=dt.date(2026, 10, 1))
    with Ledger(first.ledger_url) as ledger:
        (p1,) = [r.notice_id for r in ledger.letters()]
    run("respond", p1, "--kind", "address-update", "--received", "2026-11-20",
        "--address", "77 Harbor Rd, Gloucester, MA 01930", "--out", out)
    off = dataclasses.replace(CFG, mailing=dataclasses.replace(CFG.mailing,
                                                               newest_address=False))
    second = mail(off, records, batch="b2", issue_date=ISSUE, allow_past_date=True,
                  out_dir=out, workers=1, export_date=dt.date(2026, 10, 1))
    assert second.newer_addresses == {}
    assert manifest(out / "b2")[0]["zip"] == "02118"


def test_a_resumed_batch_keeps_the_addresses_it_started_with(tmp_path):
    records = write_records(tmp_path / "r.csv", people_rows()[:1])
    out = tmp_path / "out"
    first = mail(CFG, records, batch="b1", issue_date=ISSUE, allow_past_date=True, out_dir=out,
                 workers=1, export_date=dt.date(2026, 10, 1))
    with Ledger(first.ledger_url) as ledger:
        (p1,) = [r.notice_id for r in ledger.letters()]
    # an address recorded after b1 was made does not change b1 when it is run again
    run("respond", p1, "--kind", "address-update", "--received", "2026-11-20",
        "--address", "77 Harbor Rd, Gloucester, MA 01930", "--out", out)
    again = mail(CFG, records, batch="b1", out_dir=out, workers=1,
                 export_date=dt.date(2026, 10, 1))
    assert again.already_complete and again.newer_addresses == {}


# --- dry runs and refused mistakes ------------------------------------------------------------

def test_dry_run_shows_the_plan_and_writes_nothing(tmp_path):
    records = write_records(tmp_path / "r.csv", people_rows())
    sup = tmp_path / "suppress.csv"
    sup.write_text(SUPPRESS, encoding="utf-8")
    out = tmp_path / "out"
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run("mail", records, "--batch", "d", "--out", out, "--suppress", sup, "--dry-run",
                 "--workers", "1")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("DRY RUN: nothing was written. Batch d (new) would mail:")
    assert "letters:  3  (" in text and "versions: en 2, es,en 1" in text
    assert ("people:   7 = 3 with a letter (1 to counsel of record) + 4 suppressed "
            "(court-excluded 1, deceased 2, responded 1) + 0 rejected") in text
    assert "rejected: 1 rows" in text
    today = dt.date.today()
    assert f"dated:    {today}; response deadline {today + dt.timedelta(days=90)}" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == before       # no out/, no ledger
    # the pages it counts are the pages a real run makes
    plan = dry_run(CFG, records, batch="d", out_dir=out, workers=1, suppress=sup,
                   issue_date=ISSUE, allow_past_date=True)
    real = mail(CFG, records, batch="d", out_dir=out, workers=1, suppress=sup,
                issue_date=ISSUE, allow_past_date=True)
    assert plan["pages"] == real.pages and plan["letters"] == real.letters == 3


def test_dry_run_of_a_follow_up_lists_its_targets(tmp_path):
    records = write_records(tmp_path / "r.csv", people_rows()[:2])
    out = tmp_path / "out"
    first = mail(CFG, records, batch="b1", issue_date=ISSUE, allow_past_date=True, out_dir=out,
                 workers=1)
    with Ledger(first.ledger_url) as ledger:
        p1 = next(r.notice_id for r in ledger.letters() if r.defendant_id == "P1")
    run("respond", p1, "--kind", "address-update", "--received", "2026-11-20",
        "--address", "77 Harbor Rd, Gloucester, MA 01930", "--out", out)
    with Ledger(first.ledger_url) as ledger:
        events = len(ledger.events())
    result = run("mail", "--batch", "f", "--follow-up", "b1", "--overdue", "--out", out,
                 "--dry-run", "--workers", "1", "--date", "2027-03-01")
    assert result.exit_code == 0, result.output
    assert "follow-ups: address-update 1, overdue 1" in result.stdout
    with Ledger(first.ledger_url) as ledger:
        assert ledger.batch("f") is None and len(ledger.events()) == events
    assert not (out / "f").exists()


def test_overdue_without_follow_up_is_a_usage_error(tmp_path):
    records = write_records(tmp_path / "r.csv", people_rows()[:1])
    result = run("mail", records, "--batch", "fu", "--overdue", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "--overdue works only with --follow-up BATCH" in result.output
    assert not (tmp_path / "out").exists()


def test_a_past_issue_date_needs_allow_past_date(tmp_path):
    records = write_records(tmp_path / "r.csv", people_rows()[:1])
    out = tmp_path / "out"
    long_ago = (dt.date.today() - dt.timedelta(days=200)).isoformat()
    refused = run("mail", records, "--batch", "old", "--date", long_ago, "--out", out)
    assert refused.exit_code == 2
    assert f"the issue date {long_ago} is before today" in refused.output
    assert "response deadline" in refused.output and "is already gone" in refused.output
    assert "--allow-past-date" in refused.output
    assert not out.exists()
    with pytest.raises(UsageError, match="before today"):
        mail(CFG, records, batch="old", issue_date=dt.date(2026, 1, 5), out_dir=out,
             today=dt.date(2026, 1, 6))
    # today is fine; so is a resumed batch whose date has passed since it was opened
    assert mail(CFG, records, batch="ok", issue_date=dt.date(2026, 1, 6), out_dir=out,
                today=dt.date(2026, 1, 6), workers=1).letters == 1
    assert mail(CFG, records, batch="ok", out_dir=out, workers=1).already_complete
    ok = run("mail", records, "--batch", "older", "--date", long_ago, "--allow-past-date",
             "--out", out, "--workers", "1")
    assert ok.exit_code == 0


def test_reconcile_reports_suppressed_and_rejected_people_not_never_noticed(suppressed_batch,
                                                                            tmp_path):
    result, out, _ = suppressed_batch
    court = tmp_path / "court.csv"
    court.write_text("docket_number\n" + "".join(f"0901CR00000{i}\n" for i in range(1, 8))
                     + "0901CR000099\n", encoding="utf-8")
    r = run("audit", "reconcile", court, "--out", out)
    assert "Cases on the court's list never noticed: 1\n  0901CR000099\n" in r.output
    assert ("Cases not noticed because the person was suppressed: 4\n"
            "  0901CR000002  (defendant P2: deceased, batch s)\n") in r.output
    assert "0901CR000006  (defendant P6: deceased, batch s)" in r.output
    assert r.exit_code == 1   # 0901CR000099 was never noticed


def test_report_shows_the_three_counts(suppressed_batch, tmp_path):
    result, out, _ = suppressed_batch
    r = run("audit", "report", "--out", out, "--csv", tmp_path / "csv", "--pdf",
            tmp_path / "r.pdf")
    assert r.exit_code in (0, 1), r.output
    with open(tmp_path / "csv" / "people.csv", encoding="utf-8") as fh:
        (line,) = list(csv.DictReader(fh))
    assert line == {"batch": "s", "people": "7", "letters": "3", "to_counsel": "1",
                    "suppressed": "4", "suppressed_reasons":
                    "court-excluded 1; deceased 2; responded 1", "rejected": "0",
                    "newer_address": "0"}
    assert "What became of every person" in " ".join(page_texts((tmp_path / "r.pdf")
                                                              .read_bytes()))


def test_suppressed_ids_are_cleaned_like_the_records(tmp_path):
    """An ID copied with a zero-width space or a BOM still names its person: a person the
    office meant to leave out is never mailed for an invisible character."""
    records = write_records(tmp_path / "r.csv", people_rows()[:3])
    sup = tmp_path / "s.csv"
    sup.write_text("\ufeffdefendant_id,reason\nP2\u200b,deceased\n", encoding="utf-8")
    plan = plan_batch(CFG, records, batch="z", ledger_url=f"sqlite:///{tmp_path}/none.sqlite",
                      suppress=sup)
    assert plan.left_out["P2"].state == "suppressed" and not plan.notes


def test_a_changed_suppression_file_is_refused_by_the_dry_run_as_by_the_run(suppressed_batch):
    result, out, records = suppressed_batch
    other = out.parent / "other.csv"
    other.write_text("defendant_id,reason\nP2,deceased\n", encoding="utf-8")
    for extra in (["--dry-run"], []):
        r = run("mail", records, "--batch", "s", "--out", out, "--suppress", other,
                "--workers", "1", *extra)
        assert r.exit_code == 2, (extra, r.output)
        assert "changed: the suppression file" in r.output


def test_packed_recipients_read_back_as_they_were_packed():
    """A plan holds its recipients compressed: every way of reading gives the same people, in
    order, as the export's own sequence, including a block still being filled."""
    from letters.model import PackedRecipients
    from letters.records import read_for

    people = list(read_for(CFG, ROOT / "examples" / "records.csv").recipients)
    assert len(people) > 2 * PackedRecipients.BLOCK  # full blocks and a tail
    packed = PackedRecipients(people)
    assert len(packed) == len(people)
    assert list(packed) == people
    assert packed[0] == people[0] and packed[-1] == people[-1]
    assert packed[PackedRecipients.BLOCK] == people[PackedRecipients.BLOCK]
    assert packed[5:300:7] == people[5:300:7]
    assert [packed[i] for i in range(len(people) - 1, -1, -1)] == people[::-1]
    with pytest.raises(IndexError):
        packed[len(people)]
    packed.append(people[3])
    assert packed[-1] == people[3] and len(packed) == len(people) + 1
    assert not PackedRecipients() and packed
    # appended while read, as a list: the people appended are read too, across blocks
    growing, seen = PackedRecipients(people[:5]), []
    for r in growing:
        seen.append(r)
        if len(growing) < 2 * PackedRecipients.BLOCK + 9:
            growing.append(people[len(growing)])
    assert seen == people[:2 * PackedRecipients.BLOCK + 9]
