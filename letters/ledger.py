"""The ledger: an append-only SQL record of batches, letters, their cases and every event.

SQLAlchemy Core over any database URL; SQLite by default (WAL, ``synchronous=FULL``, the file
created owner-only). Rows are only ever inserted: on SQLite, triggers refuse UPDATE and DELETE
on every table. Each event carries the SHA-256 of the one before it, so a removed, edited or
reordered event breaks the chain. Each batch keeps a snapshot of its inputs (templates,
catalogs, configuration, font and tool versions) and each letter the recipient data it was
rendered from, so a letter can be re-rendered byte for byte years later.

A ledger is named by a URL (``postgresql+psycopg://user@host/letters``) or by the path of an
SQLite file (anything without ``://``). Database errors leave this module as a
:class:`LedgerError` naming the ledger with its password hidden, never with the statement or
its values (they hold personal data).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from dataclasses import dataclass
from typing import Iterator
from pathlib import Path

from sqlalchemy import (
    Column, Date, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Table, Text,
    UniqueConstraint, create_engine, event, func, insert, select, text,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import (
    ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError, SQLAlchemyError,
)

from letters import imb
from letters.errors import BatchBusy, LettersError

#: PostgreSQL advisory lock held while a batch that prints IMb serials is opened.
_SERIALS_LOCK = 0x1E77E25

metadata = MetaData()

batches = Table(
    "batches", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("issue_date", Date, nullable=False),
    Column("response_deadline", Date, nullable=False),   # printed in the letters
    Column("created_at", String(40), nullable=False),
    Column("tool_version", String(40), nullable=False),
    Column("policy", String(20), nullable=False),
    Column("inputs_sha256", String(64), nullable=False),   # all of the below, combined
    Column("records_sha256", String(64), nullable=False),
    Column("templates_sha256", String(64), nullable=False),
    Column("catalogs_sha256", String(64), nullable=False),
    Column("config_sha256", String(64), nullable=False),
    Column("follow_up_of", String(200)),
)

batch_inputs = Table(
    "batch_inputs", metadata,
    Column("id", Integer, primary_key=True),
    Column("batch_id", ForeignKey("batches.id"), nullable=False),
    Column("kind", String(20), nullable=False),     # template catalog signoff config font tool
    Column("path", String(500), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", LargeBinary),
    UniqueConstraint("batch_id", "kind", "path"),
)

letters = Table(
    "letters", metadata,
    Column("notice_id", String(20), primary_key=True),
    Column("batch_id", ForeignKey("batches.id"), nullable=False),
    Column("defendant_id", String(200), nullable=False),
    Column("languages", String(100), nullable=False),
    Column("language_requested", String(100)),         # asked for, when no letter is in it
    Column("pages", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("file", String(500), nullable=False),
    Column("zip", String(10), nullable=False),
    Column("recipient", Text, nullable=False),      # JSON of the data the letter was made from
    Column("follow_up_of", String(20)),
    Column("created_at", String(40), nullable=False),
    Column("imb", String(65)),                      # the Intelligent Mail barcode printed
    UniqueConstraint("batch_id", "defendant_id"),
    Index("ix_letters_follow_up_of", "follow_up_of"),
)

letter_cases = Table(
    "letter_cases", metadata,
    Column("id", Integer, primary_key=True),
    Column("notice_id", ForeignKey("letters.notice_id"), nullable=False),
    Column("docket_number", String(100), nullable=False),
    Column("court", String(200), nullable=False),
    Column("county", String(100), nullable=False),
    Column("offense", String(500), nullable=False),
    Column("disposition_date", String(10), nullable=False),
    Index("ix_letter_cases_docket", "docket_number"),
    Index("ix_letter_cases_notice", "notice_id"),
)

batch_roots = Table(
    "batch_roots", metadata,
    Column("batch_id", ForeignKey("batches.id"), primary_key=True),
    Column("root", String(64), nullable=False),
    Column("letter_count", Integer, nullable=False),
    Column("created_at", String(40), nullable=False),
)

events = Table(
    "events", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),
    Column("batch", String(200)),
    Column("notice_id", String(20)),
    Column("payload", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("prev_hash", String(64), nullable=False, unique=True),  # a chain cannot fork
    Column("hash", String(64), nullable=False),
    Index("ix_events_notice", "notice_id"),
)

responses = Table(
    "responses", metadata,
    Column("id", Integer, primary_key=True),
    Column("notice_id", ForeignKey("letters.notice_id"), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("received", Date, nullable=False),
    Column("note", Text, nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("new_address", Text, nullable=False),      # for address-update
    Column("reason", Text, nullable=False),           # for returned-undeliverable
    Column("attachment_sha256", String(64)),
    Column("attachment_name", String(300)),
    Column("source", String(500), nullable=False),    # "command line" or "FILE.csv row N"
    Column("import_key", String(64), unique=True),    # makes a re-import record nothing twice
    Column("created_at", String(40), nullable=False),
    Index("ix_responses_notice", "notice_id"),
)

outcomes = Table(
    "outcomes", metadata,   # what became of every person in a batch's input
    Column("id", Integer, primary_key=True),
    Column("batch_id", ForeignKey("batches.id"), nullable=False),
    Column("defendant_id", String(200), nullable=False),
    Column("state", String(20), nullable=False),       # letter | suppressed | rejected
    Column("reason", Text, nullable=False),
    Column("note", Text, nullable=False),
    Column("notice_id", String(20)),
    Column("dockets", Text, nullable=False),           # JSON list of docket numbers
    Column("sent_to", String(20), nullable=False),     # "" (the person) or "counsel"
    Column("address_source", String(60), nullable=False),
    UniqueConstraint("batch_id", "defendant_id"),
)

GENESIS = "0" * 64
APPEND_ONLY = [t.name for t in metadata.sorted_tables]


class LedgerError(LettersError):
    """The ledger cannot be opened or refuses what was asked."""


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def event_hash(prev_hash: str, kind: str, batch: str | None, notice_id: str | None,
               payload: str, created_at: str) -> str:
    body = json.dumps([prev_hash, kind, batch, notice_id, payload, created_at],
                      ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def default_url(out_dir: Path) -> str:
    return f"sqlite:///{Path(out_dir).resolve() / 'ledger.sqlite'}"


def to_url(location: str) -> str:
    """The SQLAlchemy URL of a ledger given as a URL or as the path of an SQLite file.

    >>> to_url("postgresql+psycopg://clerk@db/letters")
    'postgresql+psycopg://clerk@db/letters'
    >>> to_url("/srv/mail/ledger.sqlite")
    'sqlite:////srv/mail/ledger.sqlite'
    """
    location = str(location)
    if "://" in location:
        return location
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]+:", location):  # "postgresql:/db": a slip, not a path
        raise LedgerError(f"ledger {redact(location)} is neither a URL nor a file path",
                          hint="A URL has '://' (postgresql+psycopg://user@host/letters); "
                               "anything else is the path of an SQLite file.")
    return f"sqlite:///{Path(location).expanduser().resolve()}"


def redact(url: str) -> str:
    """A ledger URL fit to print: its password hidden.

    >>> redact("postgresql+psycopg://clerk:s3cret@db:5432/letters")
    'postgresql+psycopg://clerk:***@db:5432/letters'
    >>> redact("postgresql://clerk:s3cret@db:bad-port/letters")
    'postgresql://clerk:***@db:bad-port/letters'
    """
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError, TypeError):  # not a URL SQLAlchemy parses: hide by hand
        return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", str(url))


def _password(url: str) -> str | None:
    try:
        return make_url(url).password or None
    except (ArgumentError, ValueError, TypeError):
        found = re.search(r"://[^:/@]*:([^@]*)@", str(url))
        return found.group(1) if found else None


def database_error(url: str | None, exc: Exception) -> "LedgerError":
    """A database error as one line naming the ledger: the driver's first line, with no SQL,
    no values and no password."""
    ledger = f"ledger {redact(url)}" if url else "ledger"
    reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    first = (str(reason).strip().splitlines() or [type(reason).__name__])[0].strip()
    first = re.sub(r"\s*\(Background on this error at: \S+\)", "", first)
    secret = _password(url) if url else None
    if secret:
        first = first.replace(secret, "***")
    first = re.sub(r"(://[^:/@\s]*):[^@\s]*@", r"\1:***@", first)  # any other URL in it
    if isinstance(exc, ImportError):
        return LedgerError(f"{ledger}: its database driver is not installed ({first})",
                           hint="For PostgreSQL install letters[postgres] and use a "
                                "postgresql+psycopg:// URL.")
    if isinstance(exc, (NoSuchModuleError, ArgumentError)):
        return LedgerError(f"{ledger} is not a URL letters can open ({first})",
                           hint="Give --ledger (or LETTERS_LEDGER) a file path for SQLite, or a "
                                "URL such as postgresql+psycopg://user@host/letters.")
    if isinstance(exc, IntegrityError):
        return LedgerError(f"the {ledger} refused a change: {first}",
                           hint="The ledger is append-only; `letters audit verify` checks it.")
    return LedgerError(f"the {ledger} cannot be used: {first}",
                       hint="Check that its database is running and reachable, or that its "
                            "disk has room, and that --ledger (or LETTERS_LEDGER) names it.")


def _sqlite_path(url: str) -> Path | None:
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):])
    return None


def _readonly_uri(path: Path) -> str:
    """A URL that opens the SQLite file truly read-only.

    A cleanly closed ledger (no write-ahead log or shared memory beside it) is opened
    ``immutable``: nothing is written or created beside it, so an auditor's read-only copy or
    mount works. A ledger in use by a writer (or not closed cleanly) is opened ``mode=ro``,
    which reads the log; SQLite then needs its shared-memory file beside the ledger.
    """
    from urllib.parse import quote

    # a -wal or -shm file beside it: a writer may be at work, whose changes immutable
    # reading would not see (and pages it would see rewritten under it)
    pending = any(path.with_name(path.name + suffix).exists() for suffix in ("-wal", "-shm"))
    mode = "mode=ro" if pending else "mode=ro&immutable=1"
    return f"file:{quote(str(path.resolve()))}?{mode}"


@dataclass
class BatchRow:
    id: int
    name: str
    issue_date: dt.date
    response_deadline: dt.date
    inputs_sha256: str
    records_sha256: str
    templates_sha256: str
    catalogs_sha256: str
    config_sha256: str
    policy: str
    root: str | None
    letter_count: int | None
    follow_up_of: str | None = None


class Ledger:
    """One open ledger. Use as a context manager or call :meth:`close`."""

    def __init__(self, url: str, *, create: bool = True, readonly: bool = False):
        url = to_url(url)
        self.url = url
        path = _sqlite_path(url)
        if path is not None:
            if not path.exists():
                if not create:
                    raise LedgerError(f"no ledger at {path}",
                                      hint="Run `letters mail` first, or give --ledger / --out.")
                from letters.exports import private_dir

                private_dir(path.parent)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
                os.close(fd)
            if not readonly:
                os.chmod(path, 0o600)
            if readonly:
                uri = _readonly_uri(path)
        try:
            if path is not None and readonly:
                # the URI goes to SQLite as it is: a URL parser would undo its escaping
                import sqlite3

                self.engine: Engine = create_engine(
                    "sqlite://", creator=lambda: sqlite3.connect(uri, uri=True,
                                                                 check_same_thread=False))
            else:
                self.engine = create_engine(url)
        except (SQLAlchemyError, ImportError) as exc:
            raise database_error(self.url, exc) from None
        if self.engine.dialect.name == "sqlite":
            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn, _record):
                cur = dbapi_conn.cursor()
                if not readonly:
                    cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=FULL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()
                dbapi_conn.isolation_level = None  # transactions begin below, not in pysqlite

            @event.listens_for(self.engine, "begin")
            def _begin(conn):
                # Take the write lock at the start, so that reading the last event's hash and
                # appending the next event cannot interleave with another writer.
                conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")
        if not readonly:
            try:
                with self.engine.begin() as conn:
                    metadata.create_all(conn)
                    self._append_only(conn)
                self._add_lookups()
            except SQLAlchemyError as exc:
                self.engine.dispose()
                raise database_error(self.url, exc) from None
        else:
            try:  # reach the database now, so that a failure names the ledger
                with self.engine.connect():
                    pass
            except SQLAlchemyError as exc:
                self.engine.dispose()
                raise database_error(self.url, exc) from None

    def has_tables(self) -> bool:
        """Whether the database holds a ledger yet (a new PostgreSQL database does not)."""
        from sqlalchemy import inspect

        try:
            return inspect(self.engine).has_table("batches")
        except SQLAlchemyError as exc:
            raise database_error(self.url, exc) from None

    def _add_lookups(self) -> None:
        """Indexes added to the schema after a ledger was made (``create_all`` makes indexes
        only with a new table), each in a short transaction of its own under the preparers'
        lock: a command that upgrades a ledger never holds one table while it waits for
        another that a running mailing holds, and two never build the same index."""
        from sqlalchemy import inspect

        have: set[str] = set()
        with self.engine.connect() as conn:  # one transaction to look, however many tables
            look = inspect(conn)
            for table in metadata.sorted_tables:
                have.update(ix["name"] for ix in look.get_indexes(table.name))
        for index in sorted((ix for table in metadata.sorted_tables for ix in table.indexes
                             if ix.name not in have), key=lambda ix: ix.name):
            with self.engine.begin() as conn:
                if self.engine.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(6962)"))
                index.create(conn, checkfirst=True)

    def _append_only(self, conn: Connection) -> None:
        """Make the database itself refuse UPDATE and DELETE on every ledger table."""
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            for table in APPEND_ONLY:
                for op in ("UPDATE", "DELETE"):
                    conn.execute(text(
                        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON "
                        f"{table} BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: {op} on "
                        f"{table} refused'); END"))
        elif dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(6962)"))  # one preparer at a time
            conn.execute(text(
                "CREATE OR REPLACE FUNCTION letters_append_only() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, "
                "TG_TABLE_NAME; END $$ LANGUAGE plpgsql"))
            present = set(conn.execute(text(
                "SELECT tgname FROM pg_trigger WHERE tgname LIKE '%_append_only'")).scalars())
            for table in APPEND_ONLY:
                # created once: re-creating them on every open would lock every table
                if f"{table}_append_only" not in present:
                    conn.execute(text(
                        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                        "FOR EACH ROW EXECUTE FUNCTION letters_append_only()"))

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        if isinstance(exc, SQLAlchemyError):
            raise database_error(self.url, exc) from exc

    # --- events ---------------------------------------------------------------------------------

    def add_event(self, conn: Connection, kind: str, *, batch: str | None = None,
                  notice_id: str | None = None, payload: dict | None = None,
                  created_at: str | None = None) -> str:
        """Append one event (kinds: ``letters.events``). ``created_at``: the time of the row it
        records, so that row and event agree."""
        return self.add_events(conn, [dict(kind=kind, batch=batch, notice_id=notice_id,
                                           payload=payload, created_at=created_at)])

    def add_events(self, conn: Connection, items: list[dict]) -> str:
        """Append events in order (each a dict of ``add_event``'s arguments), chained here and
        written in one statement; returns the last hash."""
        if conn.dialect.name == "postgresql":
            # Several people may record at once: one event appender at a time keeps the chain
            # a chain (SQLite serialises writers by itself).
            conn.execute(text("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE"))
        prev = conn.execute(select(events.c.hash).order_by(events.c.seq.desc()).limit(1)
                            ).scalar_one_or_none() or GENESIS
        rows = []
        for item in items:
            body = json.dumps(item.get("payload") or {}, ensure_ascii=False, sort_keys=True)
            created = item.get("created_at") or now()
            batch, notice_id = item.get("batch"), item.get("notice_id")
            h = event_hash(prev, item["kind"], batch, notice_id, body, created)
            rows.append(dict(kind=item["kind"], batch=batch, notice_id=notice_id, payload=body,
                             created_at=created, prev_hash=prev, hash=h))
            prev = h
        if len(rows) == 1:
            conn.execute(insert(events).values(**rows[0]))
        elif rows:
            conn.execute(insert(events), rows)
        return prev

    def head(self) -> tuple[int, str]:
        """(number of events, hash of the last): the head to file outside the ledger."""
        with self.engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(events)).scalar_one()
            last = conn.execute(select(events.c.hash).order_by(events.c.seq.desc()).limit(1)
                                ).scalar_one_or_none()
        return count, last or GENESIS

    def chain_problems(self) -> list[str]:
        """Every break in the event chain, as 'event N: what is wrong'."""
        problems = []
        prev = GENESIS
        # Sequence numbers may skip (a database does not reuse those of rolled-back
        # transactions); the hash links are what prove that nothing was removed or moved.
        with self.engine.connect() as conn:
            for row in conn.execute(select(events).order_by(events.c.seq)):
                if row.prev_hash != prev:
                    problems.append(f"event {row.seq}: does not follow the event before it")
                h = event_hash(row.prev_hash, row.kind, row.batch, row.notice_id, row.payload,
                               row.created_at)
                if h != row.hash:
                    problems.append(f"event {row.seq}: its content does not match its hash")
                prev = row.hash
        return problems

    # --- batches --------------------------------------------------------------------------------

    def batch(self, name: str) -> BatchRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(batches, batch_roots.c.root, batch_roots.c.letter_count)
                .select_from(batches.outerjoin(batch_roots))
                .where(batches.c.name == name)).first()
        if row is None:
            return None
        return BatchRow(row.id, row.name, row.issue_date, row.response_deadline,
                        row.inputs_sha256, row.records_sha256,
                        row.templates_sha256, row.catalogs_sha256, row.config_sha256,
                        row.policy, row.root, row.letter_count, row.follow_up_of)

    def open_batch(self, name: str, *, issue_date: dt.date, response_deadline: dt.date,
                   tool_version: str, policy: str,
                   hashes: dict[str, str], inputs: list[tuple[str, str, str, bytes | None]],
                   follow_up_of: str | None = None,
                   translations: dict | None = None) -> BatchRow:
        """Create a batch with its input snapshot (kind, path, sha256, content).

        Another process that created the same batch first (two runs started at once, on
        machines sharing a PostgreSQL ledger) makes this raise :class:`BatchBusy`."""
        from letters.events import batch_inputs_digest

        created = now()
        plan = next((json.loads(c) for k, p, _h, c in inputs if (k, p) == imb.PLAN), None)
        with self.engine.begin() as conn:
            if plan is not None and conn.dialect.name == "postgresql":
                # batches opened at once plan their serials one after the other (SQLite's
                # writers take turns already): the check below sees the other's plan
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SERIALS_LOCK})
            try:
                result = conn.execute(insert(batches).values(
                    name=name, issue_date=issue_date, response_deadline=response_deadline,
                    created_at=created, tool_version=tool_version,
                    policy=policy, follow_up_of=follow_up_of, **hashes))
            except IntegrityError:
                raise BatchBusy(name) from None
            batch_id = result.inserted_primary_key[0]
            if plan is not None:
                mailer, first, last, _issued = imb.serials(plan)
                for other, other_plan in self.imb_plans(conn):
                    if other != name and imb.clash(plan, other_plan):
                        raise imb.ImbError(
                            f"IMb serials {first}–{last} of mailer ID {mailer} were planned by "
                            f"batch {other} while this one was being planned; batch {name} was "
                            "not opened", hint="Run the same command again: it plans after them.")
            if inputs:
                conn.execute(insert(batch_inputs), [
                    {"batch_id": batch_id, "kind": k, "path": p, "sha256": h, "content": c}
                    for k, p, h, c in inputs])
            self.add_event(conn, "batch-opened", batch=name, created_at=created, payload={
                "issue_date": issue_date.isoformat(),
                "response_deadline": response_deadline.isoformat(),
                "tool_version": tool_version, "policy": policy, "follow_up_of": follow_up_of,
                "created_at": created, **hashes,
                "batch_inputs_sha256": batch_inputs_digest(
                    [{"kind": k, "path": p, "sha256": h} for k, p, h, _ in inputs])})
            if translations:
                # the catalogs and sign-offs this batch's text relies on, and who approved it
                self.add_event(conn, "translations-approved", batch=name, payload=translations)
        return self.batch(name)

    def inputs(self, batch_id: int) -> list:
        with self.engine.connect() as conn:
            return list(conn.execute(select(batch_inputs).where(
                batch_inputs.c.batch_id == batch_id).order_by(batch_inputs.c.kind,
                                                              batch_inputs.c.path)))

    def record_letters(self, batch: BatchRow, rows: list[dict]) -> None:
        """Record rendered letters (with their cases) in one transaction. A letter another
        process recorded meanwhile (the batch resumed on two machines at once) makes this raise
        :class:`BatchBusy`: the ledger never holds two letters for a person in a batch."""
        from letters.events import letter_cases_digest, sha256_text

        if not rows:
            return
        columns = [c.name for c in letters.columns if c.name not in ("batch_id", "created_at")]
        letter_rows, case_rows, event_items = [], [], []
        for row in rows:
            cases = row.pop("cases")
            created = now()
            letter_rows.append({**{c: row.get(c) for c in columns}, "batch_id": batch.id,
                                "created_at": created})
            case_rows += [{"notice_id": row["notice_id"], **c} for c in cases]
            payload = {k: v for k, v in row.items() if k not in ("notice_id", "recipient")}
            payload.update(created_at=created, recipient_sha256=sha256_text(row["recipient"]),
                           cases_sha256=letter_cases_digest(cases))
            payload.setdefault("follow_up_of", None)
            payload.setdefault("language_requested", None)
            payload.setdefault("imb", None)
            event_items.append(dict(kind="letter-recorded", batch=batch.name,
                                    notice_id=row["notice_id"], created_at=created,
                                    payload=payload))
        with self.engine.begin() as conn:
            try:  # one statement per table for the whole group
                conn.execute(insert(letters), letter_rows)
            except IntegrityError:
                raise BatchBusy(batch.name) from None
            if case_rows:
                conn.execute(insert(letter_cases), case_rows)
            self.add_events(conn, event_items)

    def batches(self) -> list[BatchRow]:
        with self.engine.connect() as conn:
            names = list(conn.execute(select(batches.c.name).order_by(batches.c.id)).scalars())
        return [self.batch(n) for n in names]

    def events(self, *, notice_id: str | None = None, kind: str | None = None) -> list:
        q = select(events).order_by(events.c.seq)
        if notice_id is not None:
            q = q.where(events.c.notice_id == notice_id)
        if kind is not None:
            q = q.where(events.c.kind == kind)
        with self.engine.connect() as conn:
            return list(conn.execute(q))

    def letter(self, notice_id: str):
        with self.engine.connect() as conn:
            return conn.execute(select(letters).where(letters.c.notice_id == notice_id)).first()

    def cases_of(self, notice_id: str) -> list:
        with self.engine.connect() as conn:
            return list(conn.execute(select(letter_cases).where(
                letter_cases.c.notice_id == notice_id).order_by(letter_cases.c.id)))

    def cases_by_notice(self, batch_id: int | None = None) -> dict[str, list]:
        """Every letter's cases (a batch's, or all), by notice ID, in one query: for reading
        many letters' cases, instead of :meth:`cases_of` per letter."""
        q = select(letter_cases).order_by(letter_cases.c.notice_id, letter_cases.c.id)
        if batch_id is not None:
            q = q.where(letter_cases.c.notice_id.in_(
                select(letters.c.notice_id).where(letters.c.batch_id == batch_id)))
        out: dict[str, list] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(q):
                out.setdefault(row.notice_id, []).append(row)
        return out

    def batch_by_id(self, batch_id: int) -> BatchRow | None:
        with self.engine.connect() as conn:
            name = conn.execute(select(batches.c.name).where(batches.c.id == batch_id)
                                ).scalar_one_or_none()
        return self.batch(name) if name else None

    def letters(self, batch_id: int | None = None, *, follow_up_of: str | None = None) -> list:
        """Letters in notice-ID order: every one, a batch's, or those that follow up a notice."""
        q = select(letters).order_by(letters.c.notice_id)
        if batch_id is not None:
            q = q.where(letters.c.batch_id == batch_id)
        if follow_up_of is not None:
            q = q.where(letters.c.follow_up_of == follow_up_of)
        with self.engine.connect() as conn:
            return list(conn.execute(q))

    def iter_letters(self, batch_id: int, *, chunk: int = 1000) -> Iterator:
        """A batch's letters in notice-ID order, read ``chunk`` rows at a time (a large batch's
        rows are never all in memory at once)."""
        q = select(letters).where(letters.c.batch_id == batch_id).order_by(letters.c.notice_id)
        with self.engine.connect() as conn:
            yield from conn.execution_options(yield_per=chunk).execute(q)

    def notice_ids(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(letters.c.notice_id)).scalars())

    def letter_count(self, batch_id: int) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(letters).where(
                letters.c.batch_id == batch_id)).scalar_one()

    def close_batch(self, batch: BatchRow, root: str, count: int,
                    people: list | None = None, *, sums_sha256: str | None = None) -> None:
        """Record the batch's root, what became of every person in it, and the SHA-256 of its
        SHA256SUMS file (one transaction)."""
        from letters.events import OutcomesDigest

        states: dict[str, int] = {}
        digest = OutcomesDigest()
        created = now()
        with self.engine.begin() as conn:
            rows: list[dict] = []
            for o in people or ():  # written in chunks: a batch's people need not all be held
                rows.append({"batch_id": batch.id, "defendant_id": o.defendant_id,
                             "state": o.state, "reason": o.reason, "note": o.note,
                             "notice_id": o.notice_id or None,
                             "dockets": json.dumps(list(o.dockets), ensure_ascii=False),
                             "sent_to": o.sent_to, "address_source": o.address_source})
                states[o.state] = states.get(o.state, 0) + 1
                if len(rows) == 2000:
                    digest.update(rows)
                    conn.execute(insert(outcomes), rows)
                    rows = []
            if rows:
                digest.update(rows)
                conn.execute(insert(outcomes), rows)
            conn.execute(insert(batch_roots).values(batch_id=batch.id, root=root,
                                                    letter_count=count, created_at=created))
            self.add_event(conn, "batch-complete", batch=batch.name, created_at=created,
                           payload={"root": root, "letters": count, "people": states,
                                    "created_at": created, "outcomes_sha256": digest.hexdigest(),
                                    "sums_sha256": sums_sha256})

    def outcomes(self, batch_id: int | None = None) -> list:
        """What became of each person, per batch (empty for batches closed before outcomes
        were recorded)."""
        q = select(outcomes, batches.c.name.label("batch")).select_from(
            outcomes.join(batches)).order_by(outcomes.c.batch_id, outcomes.c.id)
        if batch_id is not None:
            q = q.where(outcomes.c.batch_id == batch_id)
        with self.engine.connect() as conn:
            return list(conn.execute(q))

    def imb_plans(self, conn: Connection | None = None) -> list[tuple[str, dict]]:
        """(batch name, serial plan) of every batch that planned IMb serials (the batch
        input ``letters.imb.PLAN``), printed yet or not."""
        q = (select(batches.c.name, batch_inputs.c.content)
             .select_from(batch_inputs.join(batches, batch_inputs.c.batch_id == batches.c.id))
             .where(batch_inputs.c.kind == imb.PLAN[0], batch_inputs.c.path == imb.PLAN[1])
             .order_by(batches.c.id))
        if conn is None:
            with self.engine.connect() as conn:
                return self.imb_plans(conn)
        return [(row.name, json.loads(row.content)) for row in conn.execute(q)]

    def imb_values(self) -> list[tuple[str, dt.date]]:
        """Every IMb printed (``letters.imb.value``), with the issue date of its batch."""
        q = (select(letters.c.imb, batches.c.issue_date)
             .select_from(letters.join(batches, letters.c.batch_id == batches.c.id))
             .where(letters.c.imb.is_not(None)))
        with self.engine.connect() as conn:
            return [(row.imb, row.issue_date) for row in conn.execute(q)]

    def address_updates(self) -> list[tuple[str, str, dt.date, str]]:
        """(defendant_id, notice_id, received, new address) of every response that gave a new
        address, oldest first."""
        q = (select(letters.c.defendant_id, responses.c.notice_id, responses.c.received,
                    responses.c.new_address)
             .select_from(responses.join(letters))
             .where(responses.c.new_address != "")
             .order_by(responses.c.received, responses.c.id))
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(q)]

    def record_responses(self, rows: list[dict]) -> int:
        """Record responses (one transaction); rows whose import_key is known are skipped.
        Returns how many were recorded."""
        recorded = 0
        with self.engine.begin() as conn:
            for row in rows:
                key = row.get("import_key")
                if key and conn.execute(select(responses.c.id).where(
                        responses.c.import_key == key)).first():
                    continue
                created = now()
                result = conn.execute(insert(responses).values(created_at=created, **row))
                payload = {k: (v.isoformat() if isinstance(v, dt.date) else v)
                           for k, v in row.items() if k not in ("notice_id",)}
                for name in ("attachment_sha256", "attachment_name", "import_key"):
                    payload.setdefault(name, None)
                payload.update(response_id=result.inserted_primary_key[0], created_at=created)
                self.add_event(conn, "response-recorded", notice_id=row["notice_id"],
                               created_at=created, payload=payload)
                recorded += 1
        return recorded

    def responses(self, *, notice_id: str | None = None) -> list:
        """Responses, oldest first: every one, or those recorded for one notice."""
        q = select(responses).order_by(responses.c.received, responses.c.id)
        if notice_id is not None:
            q = q.where(responses.c.notice_id == notice_id)
        with self.engine.connect() as conn:
            return list(conn.execute(q))

    def annotate_batch(self, name: str, kind: str, payload: dict) -> tuple[int, str]:
        """Append a ``batch-voided`` or ``batch-noted`` event; return the new head."""
        if self.batch(name) is None:
            raise LedgerError(f"no batch named '{name}' in the ledger",
                              hint="Batches: " + (", ".join(b.name for b in self.batches())
                                                  or "none"))
        if kind == "batch-voided" and name in self.voided():
            raise LedgerError(f"batch '{name}' is void already")
        self.log(kind, batch=name, payload=payload)
        return self.head()

    def voided(self) -> dict[str, dict]:
        """Void batches: name -> the void event's payload (reason, by, at)."""
        return {e.batch: {**json.loads(e.payload), "at": e.created_at}
                for e in self.events(kind="batch-voided")}

    def rows(self, table_name: str) -> list[dict]:
        """Every row of one ledger table, as dicts (for the audit)."""
        table = metadata.tables[table_name]
        key = list(table.primary_key.columns)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(table).order_by(*key))]

    def log(self, kind: str, *, batch: str | None = None, notice_id: str | None = None,
            payload: dict | None = None) -> None:
        with self.engine.begin() as conn:
            self.add_event(conn, kind, batch=batch, notice_id=notice_id, payload=payload)
