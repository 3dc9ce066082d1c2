"""One exit-code policy for every command (README, "Exit codes"): 0 done; 1 done, but problems
found; 2 could not run as asked. The test walks every command of the app, so a new command
without cases here fails; each command has a case that exits 2 and, where it can succeed on
the sample, one that exits 0. No case may print a traceback or the ledger's password."""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import click
import pytest
from babel.messages.pofile import read_po, write_po
from click.testing import CliRunner

from letters import i18n, notice
from letters.cli import cli
from letters.ledger import Ledger
from letters.sample import write as write_sample
from tests.conftest import copy_workspace

DOWN = "postgresql+psycopg://u:secret@127.0.0.1:1/x"  # nothing listens on port 1


@dataclass(frozen=True)
class Case:
    code: int
    args: str                                  # {notice} and {typo} are filled in
    prepare: Callable[[Path], None] | None = None  # changes the case's copy of the world first

    def __str__(self) -> str:
        words = [w if len(w) <= 60 else f"{w[:8]}...({len(w)})" for w in self.args.split()]
        return f"{self.code}: letters {' '.join(words)}"


def _fuzzy(ws: Path) -> None:
    """Mark one Spanish message fuzzy: it can no longer be signed off."""
    path = ws / "locale" / "es" / "LC_MESSAGES" / "letters.po"
    with open(path, "rb") as fh:
        catalog = read_po(fh, locale="es")
    next(m for m in catalog if m.id and m.string).flags.add("fuzzy")
    with open(path, "wb") as fh:
        write_po(fh, catalog, width=0, sort_by_file=True)


def _lose_a_copy(ws: Path) -> None:
    copy = next((ws / "out" / "m" / "letters").iterdir())
    copy.unlink()


CASES: dict[str, list[Case]] = {
    "": [Case(0, "--version"), Case(2, "no-such-command")],
    "validate": [Case(0, "validate r.csv"), Case(1, "validate d.csv"),
                 Case(2, "validate missing.csv"), Case(2, "validate r.csv --encoding klingon")],
    "sample": [Case(0, "sample 5 -o s.csv"), Case(2, "sample 0"),
               Case(2, "sample 5 -o no-such-folder/s.csv"), Case(2, "sample 5 -o r.csv/s.csv")],
    "preview": [Case(0, "preview r.csv --first 1 --out proofs"),
                Case(1, "preview r.csv --id nobody --out proofs"),
                Case(2, "preview missing.csv"), Case(2, "preview r.csv --first 1 --id x"),
                Case(2, "preview r.csv --first 1 --out r.csv/proofs")],
    "mail": [Case(0, "mail r.csv --batch n --out out --workers 1"),
             Case(1, "mail d.csv --batch n --out out --workers 1 --strict"),
             Case(2, "mail missing.csv --batch n --out out --workers 1"),
             Case(2, "--config office.toml mail r.csv --batch n --out out --workers 1"),  # gate
             Case(2, "mail r.csv --batch m --out out --workers 1 --date 2030-01-02"),  # changed
             Case(2, f"mail r.csv --batch n --out out --workers 1 --ledger {DOWN}"),
             Case(2, "mail r.csv --batch n --out out --workers 1 --ledger nosuchdb://x"),
             Case(2, "mail r.csv --batch n --out r.csv/out --workers 1"),
             Case(2, "mail r.csv --batch " + "n" * 300 + " --out out --workers 1"),
             Case(2, "mail r.csv --out out"),
             Case(0, "mail r.csv --batch n --out out --workers 1 --engine local"),
             Case(2, "mail r.csv --batch n --out out --engine dask --scheduler tcp://127.0.0.1:1"),
             Case(2, "mail r.csv --batch n --out out --engine dask --scheduler nowhere"),
             Case(2, "mail r.csv --batch n --out out --engine spark"),
             Case(2, "mail r.csv --batch n --out out --scheduler tcp://127.0.0.1:1")],
    "i18n": [Case(2, "i18n no-such-command")],
    "i18n extract": [Case(0, "i18n extract"), Case(2, "i18n extract --records missing.csv")],
    "i18n update": [Case(0, "i18n update --lang es"), Case(2, "i18n update --lang xx")],
    "i18n compile": [Case(0, "i18n compile --lang es"), Case(2, "i18n compile --lang xx")],
    "i18n stats": [Case(0, "i18n stats"), Case(2, "i18n stats --lang xx")],
    "i18n check": [Case(0, "i18n check --lang es"),
                   Case(1, "--config office.toml i18n check --lang es"),
                   Case(2, "i18n check --lang xx"),
                   Case(2, "--config missing.toml i18n check")],
    "i18n signoff": [Case(0, "i18n signoff --lang es --reviewer R"),
                     Case(1, "i18n signoff --lang es --reviewer R", _fuzzy),
                     Case(2, "i18n signoff --lang es")],
    "i18n review": [Case(0, "i18n review --lang es --out review"),
                    Case(2, "i18n review --lang es --out r.csv/review")],
    "audit": [Case(2, "audit no-such-command")],
    "audit verify": [Case(0, "audit verify --out out"),
                     Case(1, "audit verify --out out", _lose_a_copy),
                     Case(2, "audit verify --out nowhere"),
                     Case(2, "audit verify --out out --batch nosuch"),
                     Case(2, f"audit verify --out out --ledger {DOWN}"),
                     Case(2, "audit verify --ledger nosuchdb://x")],
    "audit head": [Case(0, "audit head --out out"), Case(2, "audit head --out nowhere"),
                   Case(2, f"audit head --out out --ledger {DOWN}")],
    "batch": [Case(2, "batch no-such-command")],
    "batch void": [Case(0, "batch void m --reason wrong --by clerk --out out"),
                   Case(2, "batch void nosuch --reason wrong --by clerk --out out"),
                   Case(2, "batch void m --by clerk --out out"),
                   Case(2, "batch void m --reason wrong --by clerk --out nowhere")],
    "batch note": [Case(0, "batch note m mailed --out out"),
                   Case(2, "batch note nosuch text --out out"),
                   Case(2, "batch note m text --out nowhere")],
    "audit reconcile": [Case(0, "audit reconcile court-all.csv --out out"),
                        Case(1, "audit reconcile court-none.csv --out out"),
                        Case(2, "audit reconcile missing.csv --out out"),
                        Case(2, "audit reconcile good.csv --out out"),  # no docket column
                        Case(2, "audit reconcile court-all.csv --out nowhere")],
    "audit report": [Case(0, "audit report --out out"), Case(2, "audit report --out nowhere"),
                     Case(2, "audit report --out out --pdf r.csv/report.pdf")],
    "audit show": [Case(0, "audit show {notice} --out out"),
                   Case(2, "audit show {typo} --out out"),
                   Case(2, f"audit show {{notice}} --ledger {DOWN}")],
    "audit prove": [Case(0, "audit prove {notice} --out out -o p.json"),
                    Case(2, "audit prove {typo} --out out"),
                    Case(2, "audit prove {notice} --out out -o r.csv/p.json")],
    "audit verify-proof": [Case(0, "audit verify-proof proof.json --self-only"),
                           Case(1, "audit verify-proof proof.json"),  # checked only by itself
                           Case(1, "audit verify-proof proof.json --root " + "0" * 64),
                           Case(2, "audit verify-proof missing.json"),
                           Case(2, "audit verify-proof r.csv")],
    "respond": [Case(0, "respond {notice} --kind other --out out"),
                Case(2, "respond {notice} --kind maybe --out out"),
                Case(2, "respond {typo} --kind other --out out"),
                Case(2, "respond {notice} --kind other --out nowhere"),
                Case(2, "respond {notice} --kind other --received 2099-01-01 --out out")],
    "addresses": [Case(2, "addresses no-such-command")],
    "addresses import": [Case(0, "addresses import ncoa-good.csv --out out"),
                         Case(1, "addresses import ncoa-bad.csv --out out"),
                         Case(2, "addresses import missing.csv --out out"),
                         Case(2, "addresses import good.csv --out out"),
                         Case(2, "addresses import ncoa-good.csv --out nowhere")],
    "responses": [Case(2, "responses no-such-command")],
    "responses import": [Case(0, "responses import good.csv --out out"),
                         Case(1, "responses import bad.csv --out out"),
                         Case(2, "responses import missing.csv --out out"),
                         Case(2, "responses import r.csv --out out")],
    "responses list": [Case(0, "responses list --out out"),
                       Case(2, "responses list --kind maybe --out out"),
                       Case(2, "responses list --out nowhere"),
                       Case(2, f"responses list --ledger {DOWN}")],
}


def commands(group: click.Group = cli, prefix: tuple[str, ...] = ()):
    """(name, command) for the app and every command in it, groups included, at any depth;
    the name as typed after `letters` ('' for the app itself, 'audit verify')."""
    if not prefix:
        yield "", group
    for name, command in group.commands.items():
        path = (*prefix, name)
        yield " ".join(path), command
        if isinstance(command, click.Group):
            yield from commands(command, path)


def test_every_command_has_its_cases():
    walked = dict(commands())
    assert {"mail", "i18n check", "audit verify-proof", "responses list"} <= set(walked)
    assert sorted(set(walked) - set(CASES)) == [], "commands with no exit-code cases"
    assert sorted(set(CASES) - set(walked)) == [], "cases for commands that do not exist"
    for name, command in walked.items():
        codes = {case.code for case in CASES[name]}
        assert 2 in codes, f"'letters {name}' has no case that exits 2"
        if not isinstance(command, click.Group):
            assert 0 in codes, f"'letters {name}' has no case that exits 0"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A workspace with records (r.csv clean, d.csv with a rejected row), a finished batch 'm'
    with its ledger, an inclusion proof, court lists and response files."""
    ws = copy_workspace(tmp_path_factory.mktemp("world"), with_code=True)
    with open(ws / "r.csv", "w", encoding="utf-8", newline="") as fh:
        write_sample(fh, 5, 7, with_bad_rows=False)
    with open(ws / "r.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    with open(ws / "d.csv", "w", encoding="utf-8", newline="") as fh:
        bad = dict(zip(rows[0], rows[1]), **{"Def ID": "BAD-1", "ZIP": "2118"})
        csv.writer(fh).writerows([*rows, [bad[h] for h in rows[0]]])
    text = (ws / "letters.toml").read_text(encoding="utf-8")
    (ws / "office.toml").write_text(text.replace("Sample County", "Other County"),
                                    encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ws)
        mailed = CliRunner().invoke(cli, ["mail", "r.csv", "--batch", "m", "--out", "out",
                                          "--workers", "1"], catch_exceptions=False)
        assert mailed.exit_code == 0, mailed.output
        with Ledger(f"sqlite:///{ws / 'out' / 'ledger.sqlite'}", create=False) as ledger:
            ids = sorted(letter.notice_id for letter in ledger.letters())
            # responses arrive the day the batch is dated (not "today": midnight may pass)
            issued = ledger.batch("m").issue_date.isoformat()
            dockets = sorted({c.docket_number for n in ids for c in ledger.cases_of(n)})
        proved = CliRunner().invoke(cli, ["audit", "prove", ids[0], "--out", "out", "-o",
                                          "proof.json"], catch_exceptions=False)
        assert proved.exit_code == 0, proved.output
    (ws / "court-all.csv").write_text("docket_number\n" + "".join(f"{d}\n" for d in dockets))
    (ws / "court-none.csv").write_text("docket_number\n1299CR999999\n")
    header = "notice_id,kind,received,note,by,new_address,reason\n"
    (ws / "good.csv").write_text(header + f"{ids[0]},other,{issued},,clerk,,\n")
    (ws / "bad.csv").write_text(header + f"{ids[0]},other,{issued},,clerk,,\n"
                                         f"{ids[1]},maybe,{issued},,clerk,,\n")
    ncoa = "notice_id,new_address,move_date,reason\n"
    (ws / "ncoa-good.csv").write_text(ncoa + f"{ids[0]},\"9 Elm St, Lynn, MA 01902\","
                                             f"{issued},moved\n")
    (ws / "ncoa-bad.csv").write_text(ncoa + f"{ids[0]},\"9 Elm St, Lynn, MA 01902\","
                                            f"{issued},moved\n{ids[1]},somewhere,{issued},\n")
    i18n.clear_caches()
    return ws, ids[0]


def typo(nid: str) -> str:
    s = notice.compact(nid)
    return s[:5] + ("2" if s[5] != "2" else "3") + s[6:]


@pytest.mark.parametrize("name,case", [(name, case) for name, cases in CASES.items()
                                       for case in cases], ids=str)
def test_exit_code(world, tmp_path, monkeypatch, name, case):
    base, nid = world
    ws = tmp_path / "ws"
    shutil.copytree(base, ws, symlinks=True)
    if case.prepare:
        case.prepare(ws)
    monkeypatch.chdir(ws)
    monkeypatch.delenv("LETTERS_LEDGER", raising=False)
    monkeypatch.delenv("LETTERS_OUT", raising=False)
    i18n.clear_caches()
    args = case.args.format(notice=nid, typo=typo(nid)).split()
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    i18n.clear_caches()
    shown = result.stdout + result.stderr
    assert result.exit_code == case.code, shown
    assert "Traceback" not in shown and "secret" not in shown
    if case.code == 2 and not args[-1].startswith("no-such-command"):
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
        assert len(errors) == 1, result.stderr
