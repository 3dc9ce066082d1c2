"""The one exception hierarchy of letters.

Stage modules raise these; only ``cli.py`` turns them into messages and exit codes.
Every error says what is wrong and, where it can, what to do about it, naming the
file, row, field or notice ID involved — never an address or other personal data.

An error raised out of a command means the command could not run as asked: exit 2. A command
that ran and found problems (rejected rows, failed checks) exits 1 by itself, from its result.
"""

from __future__ import annotations


class LettersError(Exception):
    """Base class. ``exit_code`` is what the command line exits with: 2, the command could not
    run as asked."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  {self.hint}"
        return self.message


class UsageError(LettersError):
    """The command was asked for something it cannot do as given (exit 2)."""


class ConfigError(UsageError):
    """``letters.toml`` (or an override of it) is invalid. Carries every problem found."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = list(problems)
        lines = "\n".join(f"  {path}: {p}" for p in self.problems)
        super().__init__(f"invalid configuration ({len(self.problems)} problem"
                         f"{'' if len(self.problems) == 1 else 's'}):\n{lines}")


class InputFileError(UsageError):
    """A records file cannot be read at all (missing, undecodable, malformed, missing columns)."""

    def __init__(self, path: str, message: str, *, line: int | None = None,
                 hint: str | None = None):
        self.path = path
        self.line = line
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}", hint=hint)


class BatchBusy(UsageError):
    """Another process is mailing the same batch right now."""

    def __init__(self, batch: str, pid: int | None = None):
        self.batch = batch
        self.pid = pid
        by = f"another process (pid {pid})" if pid else "another process"
        super().__init__(f"batch {batch} is being mailed by {by}",
                         hint="Let it finish: running the same command again afterwards resumes "
                              "the batch, or says that it is complete.")
