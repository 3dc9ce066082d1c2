"""`letters audit show`: the whole story of one notice, and mistyped or unknown IDs."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from letters import config, notice
from letters.audit import History, show
from letters.cli import cli
from letters.ledger import Ledger
from letters.mailing import mail
from tests.conftest import ROOT, row, write_records

CFG = config.load(ROOT / "letters.toml")
ISSUE = dt.date(2026, 9, 1)


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    """Batch b: P1 (whose letter comes back, then a new address: followed up in batch f), P2
    (represented: the letter goes to counsel). Batch b2 from the same export: P1's newer
    address from the ledger."""
    tmp = tmp_path_factory.mktemp("show")
    records = write_records(tmp / "r.csv", [
        row(defendant_id="P1", first_name="Ana", last_name="Ruiz", language="en",
            county="Essex"),
        row(defendant_id="P1", first_name="Ana", last_name="Ruiz", language="en",
            docket_number="0901CR000011", court="Salem District Court", county="Essex",
            offense="Possession of a Class D substance", disposition_date="2010-05-06"),
        row(defendant_id="P2", first_name="Ben", last_name="Cole", language="en",
            docket_number="0901CR000002")])
    sup = tmp / "suppress.csv"
    sup.write_text("defendant_id,reason,counsel_name,counsel_address\n"
                   'P2,represented,"Jane Roe, Esq.","10 Court St, Suite 4, Boston, MA 02108"\n',
                   encoding="utf-8")
    out = tmp / "out"
    first = mail(CFG, records, batch="b", issue_date=ISSUE, allow_past_date=True, out_dir=out,
                 workers=1, suppress=sup, export_date=dt.date(2026, 8, 1))
    with Ledger(first.ledger_url) as ledger:
        ids = {r.defendant_id: r.notice_id for r in ledger.letters()}
    scan = tmp / "envelope.pdf"
    scan.write_bytes(b"%PDF-1.4 the returned envelope")
    assert run("respond", ids["P1"], "--kind", "returned-undeliverable", "--reason",
               "Moved, left no address", "--received", "2026-09-12", "--note", "stamped <RTS>",
               "--by", "clerk1", "--attach", scan, "--out", out).exit_code == 0
    assert run("respond", ids["P1"], "--kind", "address-update", "--address",
               "77 Harbor Rd, Gloucester, MA 01930", "--received", "2026-10-02",
               "--by", "clerk2", "--out", out).exit_code == 0
    assert run("mail", "--batch", "f", "--follow-up", "b", "--date", "2026-12-01",
               "--allow-past-date", "--out", out, "--workers", "1").exit_code == 0
    assert run("mail", records, "--batch", "b2", "--date", "2026-12-01", "--allow-past-date",
               "--export-date", "2026-08-01", "--suppress", sup, "--out", out,
               "--workers", "1").exit_code == 0
    with Ledger(first.ledger_url) as ledger:
        for name in ("f", "b2"):
            b = ledger.batch(name)
            ids.update({f"{r.defendant_id}@{name}": r.notice_id for r in ledger.letters(b.id)})
    return out, ids, first.ledger_url


def shown(out, typed):
    return run("audit", "show", typed, "--out", out)


def test_the_whole_story_of_a_letter_that_came_back(story):
    out, ids, _ = story
    r = shown(out, ids["P1"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == f"Notice {ids['P1']} — batch b, issued 2026-09-01"
    text = r.output
    assert "  name:       Ana Ruiz\n" in text
    assert "  sent to:    Ana Ruiz\n              1 Main St\n              Boston MA 02118\n" \
        in text
    assert "  cases (2):\n    0901CR000001  Boston Municipal Court, Central Division  Essex  " \
           "Possession of a Class B substance  2009-03-04\n    0901CR000011  Salem District " \
           "Court  Essex  Possession of a Class D substance  2010-05-06\n" in text
    assert "  responses (2):\n" in text
    returned = next(line for line in lines if "returned-undeliverable" in line
                    and line.startswith("    2026"))
    assert returned.startswith("    2026-09-12  returned-undeliverable  reason: Moved, left no "
                               "address; note: stamped <RTS>; attachment: attachments/")
    assert returned.endswith("; recorded by clerk1 (command line)")
    assert "sha256 " in returned
    assert ("    2026-10-02  address-update  new address: 77 Harbor Rd, Gloucester, MA 01930; "
            "recorded by clerk2 (command line)") in lines
    assert (f"  followed by: notice {ids['P1@f']} (batch f, issued 2026-12-01; "
            "address-update)") in lines
    assert "  events (3):" in lines
    assert sum(" response-recorded " in line for line in lines) == 2


def test_a_follow_up_names_the_letter_it_follows(story):
    out, ids, _ = story
    text = shown(out, ids["P1@f"]).output
    assert f"  follows:    notice {ids['P1']} (batch b, issued 2026-09-01; address-update)" \
        in text
    assert "  sent to:    Ana Ruiz\n              77 Harbor Rd\n              Gloucester MA 01930\n" \
        in text
    assert "followed by" not in text


def test_a_letter_to_counsel_says_so_and_keeps_the_persons_address(story):
    out, ids, _ = story
    text = shown(out, ids["P2"]).output
    assert "  name:       Ben Cole\n" in text
    assert ("  sent to:    Jane Roe, Esq.  (counsel of record: represented)\n"
            "              10 Court St Ste 4\n              Boston MA 02108\n"
            "  person's address: 1 Main St / Boston MA 02118\n"
            "  address as given: 10 Court St / Suite 4 / Boston MA 02108  (standardised: STE 4 for "
            "Suite 4; STE 4 moved to the delivery line)\n") in text


def test_an_address_from_a_response_says_which(story):
    out, ids, _ = story
    text = shown(out, ids["P1@b2"]).output
    assert f"  address from: ledger response {ids['P1']}\n" in text
    assert "              77 Harbor Rd\n" in text
    assert "address from" not in shown(out, ids["P2@b2"]).output


def test_a_mistyped_id_suggests_the_one_meant(story):
    out, ids, _ = story
    s = notice.compact(ids["P2"])
    i = next(i for i in range(len(s) - 1) if s[i] != s[i + 1])
    typo = s[:i] + s[i + 1] + s[i] + s[i + 2:]                 # two symbols swapped
    r = shown(out, typo.lower())
    assert r.exit_code == 2
    assert r.output == (f"Error: notice ID '{typo.lower()}' is not valid (its check symbol does "
                        f"not match)\n  Did you mean {ids['P2']}?\n")
    # typed in any case, with or without dashes, a right ID is found
    assert shown(out, s.lower()).output.startswith(f"Notice {ids['P2']} — batch b")


def test_an_unknown_id_exits_2(story):
    out, ids, _ = story
    unknown = notice.notice_id("another office", "X1")       # valid, but not in this ledger
    r = shown(out, unknown)
    assert r.exit_code == 2
    assert r.output.startswith(f"Error: notice {unknown} is not in the ledger\n")
    assert "Did you mean" not in r.output


def test_history_keeps_the_address_as_the_records_gave_it(story):
    _, ids, url = story
    h = show(url, ids["P1"])
    assert isinstance(h, History) and h.original_address == ["1 Main St", "Boston MA 02118"]
    recorded = {**h.recipient, "address": {**h.recipient["address"],
                                           "original": ["1 main street", "boston ma 02118"]}}
    assert History(**{**h.__dict__, "recipient": recorded}).original_address == [
        "1 main street", "boston ma 02118"]
