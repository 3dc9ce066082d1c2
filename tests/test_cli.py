"""The command line: exit codes and exact messages, through Click's CliRunner."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from letters.cli import cli
from tests.conftest import ROOT, row, write_records


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Run ``letters ...`` in an empty workspace folder; returns the Click result."""
    monkeypatch.chdir(tmp_path)

    def invoke(*args, **kw):
        return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, **kw)
    return invoke


def test_validate_clean_file_exits_0(run, tmp_path):
    path = write_records(tmp_path / "r.csv", [row(), row(docket_number="X2"),
                                              row(defendant_id="D2", language="English")])
    result = run("--config", ROOT / "letters.toml", "validate", path,
                 "--rejects", tmp_path / "output" / "validate" / "rejects.csv")
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"Read 3 rows from {path}\n"
        "  people:   2  (preferred language: en 1, es 1)\n"
        "  cases:    3\n"
        "  rejected: 0 rows\n"
        f"No rejected rows ({tmp_path / 'output' / 'validate' / 'rejects.csv'} is empty)\n")
    assert (tmp_path / "output" / "validate" / "rejects.csv").read_text() == \
        "row,defendant_id,field,value,reason\n"


def test_validate_with_rejects_exits_1_and_writes_them(run, tmp_path):
    path = write_records(tmp_path / "r.csv", [row(), row(defendant_id="D2", zip="2118"),
                                              row(defendant_id="D3", state="Atlantis")])
    out = tmp_path / "rej.csv"
    result = run("--config", ROOT / "letters.toml", "validate", path, "--rejects", out)
    assert result.exit_code == 1
    assert result.output.splitlines()[3:] == [
        "  rejected: 2 rows",
        "    ZIP has 4 digits  1",
        "    unknown state     1",
        f"Rejected rows written to {out} (2 problems)",
    ]
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith("3,D2,zip,2118,ZIP has 4 digits")
    assert lines[2].startswith("4,D3,state,Atlantis,")


def test_unreadable_file_exits_2_with_hint(run, tmp_path):
    path = write_records(tmp_path / "r.csv", [row(last_name="Muñoz")], encoding="cp1252")
    result = run("validate", path)
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {path}, line 2: byte F1 at column 11 is not valid utf-8 text\n"
        "  Exports from Excel on Windows are usually Windows-1252: try --encoding cp1252 "
        "(or set encoding in [intake] of letters.toml).\n")
    assert run("validate", path, "--encoding", "cp1252").exit_code == 0


def test_encoding_from_environment(run, tmp_path):
    path = write_records(tmp_path / "r.csv", [row(last_name="Muñoz")], encoding="cp1252")
    assert run("validate", path, env={"LETTERS_ENCODING": "cp1252"}).exit_code == 0


def test_unknown_encoding_is_usage_error(run, tmp_path):
    path = write_records(tmp_path / "r.csv", [row()])
    result = run("validate", path, "--encoding", "klingon-8")
    assert result.exit_code == 2
    assert result.output == ("Error: invalid configuration (1 problem):\n"
                             "  command-line options: [intake] encoding 'klingon-8' is not a "
                             "known text encoding\n")


def test_missing_file_exits_2(run):
    result = run("validate", "nope.csv")
    assert result.exit_code == 2
    assert result.output == "Error: nope.csv: file not found\n"


def test_bad_config_lists_every_problem(run, tmp_path):
    (tmp_path / "letters.toml").write_text(
        '[intake]\nencoding = 5\ncolour = "red"\n[letter]\npolicy = "both"\n'
        '[columns]\nshoe_size = "Shoe"\n', encoding="utf-8")
    known = ", ".join(sorted(["default_language", "encoding", "header_row", "sheet"]))
    path = write_records(tmp_path / "r.csv", [row()])
    result = run("validate", path)
    assert result.exit_code == 2
    toml = tmp_path / "letters.toml"
    assert result.output == (
        "Error: invalid configuration (4 problems):\n"
        f"  {toml}: [intake] encoding must be a string\n"
        f"  {toml}: [intake] unknown key 'colour' (known: {known})\n"
        f"  {toml}: [columns] 'shoe_size' is not a canonical column (one of: defendant_id, "
        "first_name, middle_name, last_name, suffix, address_line1, address_line2, city, state, "
        "zip, language, docket_number, court, county, offense, disposition_date, disposition, "
        "case_status, lab, chemist, large_print, care_of, facility, inmate_number)\n"
        f"  {toml}: [letter] policy must be one of preferred, preferred+english, all\n")


def test_config_paths_relative_to_its_folder(run, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "letters.toml").write_text('[paths]\noutput = "out"\n', encoding="utf-8")
    path = write_records(tmp_path / "r.csv", [row()])
    result = run("--config", ws / "letters.toml", "validate", path)
    assert result.exit_code == 0
    assert (ws / "out" / "validate" / "rejects.csv").is_file()


def test_sample_command_is_deterministic(run, tmp_path):
    a = run("sample", "30", "--seed", "5", "-o", tmp_path / "a.csv")
    b = run("sample", "30", "--seed", "5")
    assert a.exit_code == b.exit_code == 0
    assert (tmp_path / "a.csv").read_text(encoding="utf-8") == b.stdout


def test_bundled_sample_validates_with_documented_rejects(run):
    result = run("--config", ROOT / "letters.toml", "validate", ROOT / "examples" / "records.csv",
                 "--rejects", "rej.csv")
    assert result.exit_code == 1
    summary = result.output
    assert re.search(r"rejected: 6 rows", summary)
    for reason in ("conflicting addresses   2", "ZIP has 4 digits        1",
                   "missing required field  1", "unknown state           1",
                   "unreadable date         1"):
        assert reason in summary
    assert "unknown language" not in summary
    assert "(preferred language: en 223, es 96, pt 6)" in summary
    assert ("asked for a language letters are not written in (they get the fallback versions "
            "and taglines): ht 1, pl 1, vi 5") in summary
    assert "duplicate rows merged: 1" in summary


def test_every_command_has_help_and_is_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, command in cli.commands.items():
        assert command.help and len(command.help) > 40, name
        assert f"letters {name}" in readme, name
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and "Usage: letters" in result.output
