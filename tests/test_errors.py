"""What a user can cause never prints a traceback: a full disk, a folder that cannot be written,
an overlong name, a path through a file, a database that is down, a bad ledger URL. Each is one
line naming the file or ledger (its password hidden), a hint, and exit 2."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from letters.cli import cli
from letters.sample import write as write_sample
from tests.conftest import copy_workspace

DOWN = "postgresql+psycopg://u:secret@127.0.0.1:1/x"  # nothing listens on port 1


@pytest.fixture
def ws(tmp_path, monkeypatch):
    """A copy of the sample workspace as the working folder, with 5 clean people in r.csv."""
    copy_workspace(tmp_path)
    with open(tmp_path / "r.csv", "w", encoding="utf-8", newline="") as fh:
        write_sample(fh, 5, 3, with_bad_rows=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args, env=None, catch=False):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=catch)


def one_error(result, code: int = 2) -> tuple[str, str]:
    """The error line and the hint line that end stderr (after any progress lines): one error,
    one hint, no traceback."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) >= 2 and lines[-2].startswith("Error: ") and lines[-1].startswith("  "), \
        result.stderr
    assert [line for line in lines if "Error" in line] == [lines[-2]], result.stderr
    return lines[-2], lines[-1].strip()


def mail(*extra):
    return run("mail", "r.csv", "--batch", "b", "--date", "2026-12-01", "--workers", "1", *extra)


# --- the file system ----------------------------------------------------------------------------

def test_disk_full_while_mailing_stops_cleanly_and_resumes(ws, monkeypatch):
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", full)
    error, hint = one_error(mail("--out", "out"))
    assert re.fullmatch(r"Error: disk full writing out/b/letters/[0-9A-Z]{3}-[0-9A-Z]{3}-"
                        r"[0-9A-Z]{3}\.pdf", error), error
    assert hint.startswith("Free space on that disk (or give another --out folder), then run "
                           "the same command again")
    assert list((ws / "out" / "b" / "letters").iterdir()) == []  # no temporary left behind
    monkeypatch.setattr(os, "fsync", real_fsync)  # space freed: the same command finishes
    assert mail("--out", "out").exit_code == 0
    assert run("audit", "verify", "--out", "out").output.endswith("no problems.\n")


def test_folder_that_cannot_be_written(ws, monkeypatch):
    locked = ws / "locked"
    locked.mkdir()
    if os.geteuid() == 0:  # root writes anywhere whatever the mode: refuse as the kernel would
        real_mkdir = os.mkdir

        def mkdir(path, *args, **kw):
            if Path(path).is_relative_to(locked):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
            return real_mkdir(path, *args, **kw)
        monkeypatch.setattr(os, "mkdir", mkdir)
    else:
        locked.chmod(0o500)
    try:
        error, hint = one_error(mail("--out", locked / "out"))
    finally:
        locked.chmod(0o700)
    assert error == f"Error: permission denied: {locked / 'out'}"
    assert hint == "Choose a file or folder you may use (output: --out), or ask for access to it."


def test_batch_name_longer_than_a_file_name_can_be(ws):
    error, hint = one_error(run("mail", "r.csv", "--batch", "b" * 300, "--out", "out",
                                "--workers", "1"))
    assert error == f"Error: file name too long: {Path('out') / ('b' * 24)}… (300 characters)"
    assert hint.startswith("Use a shorter --batch name")


def test_out_under_a_regular_file(ws):
    plain = ws / "plain.txt"
    plain.write_text("not a folder\n")
    error, hint = one_error(mail("--out", plain / "out"))
    assert error == f"Error: not a folder: {plain} is a file (in {plain / 'out'})"
    assert hint == "Give a path whose folders are folders."
    preview = run("preview", "r.csv", "--first", "1", "--out", plain / "proofs")
    assert one_error(preview)[0] == f"Error: not a folder: {plain} is a file (in {plain / 'proofs'})"


def test_sample_into_a_folder_that_does_not_exist(ws):
    target = ws / "no-such-folder" / "x.csv"
    error, hint = one_error(run("sample", "5", "-o", target))
    assert error == f"Error: folder {ws / 'no-such-folder'} does not exist (for {target})"
    assert hint == "Create it first, or give another path."


# --- the ledger ---------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["option", "environment"])
def test_database_down_is_one_line_with_the_password_hidden(ws, how):
    ledger = ["--ledger", DOWN] if how == "option" else []
    env = {"LETTERS_LEDGER": DOWN} if how == "environment" else None
    for args in (["mail", "r.csv", "--batch", "b", "--workers", "1", "--out", "out", *ledger],
                 ["audit", "verify", *ledger], ["responses", "list", *ledger],
                 ["respond", "ABC-DEF-GHJ", "--kind", "other", *ledger]):
        result = run(*args, env=env)
        error, hint = one_error(result)
        assert "secret" not in result.stdout + result.stderr
        assert error.startswith("Error: the ledger postgresql+psycopg://u:***@127.0.0.1:1/x "
                                "cannot be used: connection failed:"), error
        assert hint.startswith("Check that its database is running and reachable")


def test_ledger_url_letters_cannot_open(ws):
    error, hint = one_error(run("audit", "verify", "--ledger", "nosuchdb://u:secret@h/x"))
    assert error == ("Error: ledger nosuchdb://u:***@h/x is not a URL letters can open "
                     "(Can't load plugin: sqlalchemy.dialects:nosuchdb)")
    assert hint.startswith("Give --ledger (or LETTERS_LEDGER) a file path for SQLite, or a URL")
    slip = one_error(run("mail", "r.csv", "--batch", "b", "--ledger", "postgresql:/h/x"))
    assert slip[0] == "Error: ledger postgresql:/h/x is neither a URL nor a file path"


def test_missing_ledger(ws):
    error, hint = one_error(run("audit", "show", "ABC-DEF-GHJ", "--out", "nowhere"))
    assert error == f"Error: no ledger at {ws / 'nowhere' / 'ledger.sqlite'}"
    assert hint == "Run `letters mail` first, or give --ledger / --out."


def test_ledger_given_as_a_file_path(ws):
    done = mail("--out", "out", "--ledger", "records/ledger.sqlite")
    assert done.exit_code == 0, done.output
    path = ws / "records" / "ledger.sqlite"
    assert f"  ledger:   sqlite:///{path}\n" in done.stdout
    assert path.is_file() and not (ws / "out" / "ledger.sqlite").exists()
    verified = run("audit", "verify", "--out", "out", "--ledger", "records/ledger.sqlite")
    assert verified.output.startswith("Checked 1 batches, 5 letters, ")
    assert verified.output.endswith(" 8 events: no problems.\n")
    listed = run("responses", "list", env={"LETTERS_LEDGER": str(path)})
    assert listed.exit_code == 0 and listed.stderr == "(0 responses)\n"
    elsewhere = run("responses", "list", env={"LETTERS_LEDGER": str(ws / "other.sqlite")})
    assert one_error(elsewhere)[0] == f"Error: no ledger at {ws / 'other.sqlite'}"


# --- bugs ---------------------------------------------------------------------------------------

def test_a_bug_is_one_line_without_data_unless_debugging(ws, monkeypatch):
    from letters import records

    def broken(cfg, path):
        raise ValueError("Ana Ruiz, 1 Main St")  # what a bug's message might carry
    monkeypatch.setattr(records, "read_for", broken)
    result = run("validate", "r.csv")
    error, hint = one_error(result)
    assert re.fullmatch(r"Error: unexpected ValueError at cli\.py:\d+: this is a bug in letters",
                        error), error
    assert hint == ("Run again with LETTERS_DEBUG=1 to see the details (they may show data "
                    "from the records), and report it.")
    assert "Ana" not in result.output
    debug = run("validate", "r.csv", env={"LETTERS_DEBUG": "1"}, catch=True)
    assert isinstance(debug.exception, ValueError) and str(debug.exception).startswith("Ana")
