"""Rendering engines: where a batch's letters are composed and rendered.

``local`` (the default) is a pool of worker processes on this machine (``letters.mailing``);
each worker writes the retained copies it renders. ``dask`` renders the same letters on a
Dask cluster (``distributed``): a cluster of ``workers`` processes started on this machine,
listening on 127.0.0.1 only, or the running scheduler at ``[mailing] scheduler`` /
``--scheduler``. On Dask, workers write nothing: a task renders a chunk of letters and returns
each letter's result with its PDF bytes, and this process (the driver) keeps the retained copy
with the same :func:`letters.store.write_once` call the local workers use, then the ledger
records it. Copies and ledger are therefore written by one process only, and a worker left
running after the driver is killed cannot add a letter to a batch.

Results come back in task order whatever the engine (the ledger and the manifest never depend
on it), with a bounded number of chunks in flight: memory stays flat as the batch grows.

Workers set up the composer and fonts once per workspace: the first chunk a worker renders for
a workspace builds them and checks that the worker sees the same inputs as the driver
(templates, catalogs, configuration, fonts, tool versions, by :func:`workspace_fingerprint`);
a worker that does not is refused, since its letters would differ from the recorded inputs.

``distributed`` is imported only when a Dask engine starts: ``letters --help`` and local
mailings do not pay its import time.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import logging
import re
import socket
import threading
from pathlib import Path
from typing import Iterator

from letters.errors import UsageError
from letters.processes import collect_less, letter_done

ENGINES = ("local", "dask")
#: Schemes of a scheduler address; a bare ``host:port`` means ``tcp://``.
SCHEMES = ("tcp", "tls", "ws", "wss")
#: How long to wait for a configured scheduler to answer, and for it to have a worker.
CONNECT_SECONDS = 10.0
#: Letters per task at most: enough to amortise a task's overhead, few enough to spread a
#: small batch over every worker.
CHUNK_MAX = 32
#: Chunks in flight per worker thread (being rendered, queued, or waiting to be collected).
IN_FLIGHT_PER_THREAD = 2

_ADDRESS = re.compile(r"(?:(?P<scheme>[a-z]+)://)?(?P<host>\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+)"
                      r":(?P<port>\d{1,5})/?")


class EngineError(UsageError):
    """The Dask cluster cannot be reached or used as asked."""


def address_problem(address: str) -> str | None:
    """What is wrong with a scheduler address, or None when it can be used.

    >>> address_problem("tcp://10.0.0.5:8786") is None, address_problem("sched:8786") is None
    (True, True)
    >>> address_problem("http://sched:8786")
    "scheme 'http' is not one of tcp, tls, ws, wss"
    >>> address_problem("tcp://sched")
    'give it as tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786'
    """
    m = _ADDRESS.fullmatch(address.strip())
    if not m:
        return "give it as tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786"
    if m["scheme"] and m["scheme"] not in SCHEMES:
        return f"scheme '{m['scheme']}' is not one of {', '.join(SCHEMES)}"
    if not 1 <= int(m["port"]) <= 65535:
        return f"port {m['port']} is not between 1 and 65535"
    return None


def _host_port(address: str) -> tuple[str, int]:
    m = _ADDRESS.fullmatch(address.strip())
    return m["host"].strip("[]"), int(m["port"])


def _identity(address: str) -> dict:
    """What the server at ``address`` says it is (a Dask scheduler: ``{"type": "Scheduler",
    ...}``), asked without a client, which would keep retrying or leave a half-made connection
    behind when the server is not a scheduler."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed.core import rpc
    from distributed.security import Security

    args = Security().get_connection_args("client")  # tls:// certificates: Dask's configuration

    async def ask() -> dict:
        async with rpc(address, timeout=CONNECT_SECONDS, connection_args=args) as server:
            return await asyncio.wait_for(server.identity(), CONNECT_SECONDS)

    with ThreadPoolExecutor(1) as thread:  # its own event loop, whoever calls
        answer = thread.submit(asyncio.run, ask()).result()
    return answer if isinstance(answer, dict) else {}


def _full(address: str) -> str:
    address = address.strip()
    return address if "://" in address else f"tcp://{address}"


# --- worker side --------------------------------------------------------------------------------

#: workspace fingerprint -> the Composer built for it, in this worker process
_prepared: dict[str, object] = {}
#: One chunk at a time per worker process: a worker started with several threads (the default
#: of `dask worker`) would otherwise share the composer and the renderer's caches between
#: threads, which they are not made for. Start workers with ``--nthreads 1 --nworkers N``.
_rendering = threading.Lock()


def workspace_fingerprint(cfg) -> str:
    """One digest of what a letter's bytes depend on besides the batch's own plan: templates,
    catalogs, configuration, fonts and tool versions (as ``letters.mailing.input_snapshot``
    hashes them for the ledger)."""
    from letters.mailing import input_snapshot  # letters.mailing imports this module

    hashes, _ = input_snapshot(cfg, None, dt.date(2000, 1, 1), records_sha="-")
    return hashes["inputs_sha256"]


def render_chunk(fingerprint: str, cfg, charset: str, tasks: list,
                 own_process: bool = False) -> list[dict]:
    """Render a chunk of letters on a worker: per task, the result of
    :func:`letters.mailing.render_pdf` (the PDF's bytes under ``"pdf"``). Writes nothing.
    ``own_process``: the worker is a process the mailing started for itself (a local cluster's,
    not a worker someone else runs, nor a thread of the mailing's own process); it then tends
    its garbage collector as the local pool's workers do (``letters.processes``)."""
    with _rendering:
        return _render_chunk(fingerprint, cfg, charset, tasks, own_process)


def _render_chunk(fingerprint: str, cfg, charset: str, tasks: list,
                  own_process: bool = False) -> list[dict]:
    from letters.mailing import render_pdf

    composer = _prepared.get(fingerprint)
    if composer is None:
        from letters.compose import Composer
        from letters.pdf import register_fonts

        seen = workspace_fingerprint(cfg)
        if seen != fingerprint:
            raise EngineError(
                f"a Dask worker ({socket.gethostname()}) does not see the same templates, "
                "catalogs, configuration, fonts or tool versions as this machine: its letters "
                "would differ from the batch's recorded inputs",
                hint="Give the workers the same workspace (same paths) and the same letters "
                     "version, or leave out --scheduler to render on this machine.")
        register_fonts()
        if own_process:
            collect_less()
        if len(_prepared) >= 4:  # a long-lived worker serving many workspaces
            _prepared.clear()
        composer = _prepared[fingerprint] = Composer(cfg)
    out = []
    for task in tasks:
        out.append(render_pdf(task, composer, charset))
        if own_process:
            letter_done()
    return out


# --- driver side --------------------------------------------------------------------------------

class DaskEngine:
    """Letters rendered on a Dask cluster; see the module docstring."""

    name = "dask"

    def __init__(self, scheduler: str = "", workers: int = 1):
        self.scheduler = scheduler.strip()
        self.workers = max(1, workers)
        self.client = None
        self.cluster = None

    def connect(self) -> None:
        """Connect to the configured scheduler (and wait for a worker there), or start a local
        cluster; a scheduler that cannot be reached is an :class:`EngineError`."""
        if self.client is not None:
            return
        from distributed import Client

        if not self.scheduler:
            from distributed import LocalCluster

            # scheduler, workers and the status page listen on loopback only, on free ports
            self.cluster = LocalCluster(
                n_workers=self.workers, threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address="127.0.0.1:0",
                silence_logs=logging.CRITICAL)  # what goes wrong is said by the errors here
            self.client = Client(self.cluster, set_as_default=False)
            return
        problem = address_problem(self.scheduler)
        if problem:
            raise EngineError(f"Dask scheduler address '{self.scheduler}': {problem}")
        address = _full(self.scheduler)
        hint = ("Check the address, and that `dask scheduler` runs there and this machine may "
                "reach it; or leave out --scheduler to render on this machine.")
        try:  # a refused connection is said at once (the client would retry until its timeout)
            socket.create_connection(_host_port(address), timeout=CONNECT_SECONDS).close()
            who = _identity(address)
        except OSError as exc:  # TimeoutError included
            reason = exc.strerror or str(exc) or f"no answer in {CONNECT_SECONDS:.0f} s"
            raise EngineError(f"cannot reach the Dask scheduler at {address}: {reason.lower()}",
                              hint=hint) from None
        except Exception as exc:  # the reply could not be read: another kind of server
            who = {"type": type(exc).__name__}
        if who.get("type") != "Scheduler":
            raise EngineError(f"what answers at {address} is not a Dask scheduler", hint=hint)
        try:
            self.client = Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
        except (OSError, ValueError) as exc:
            raise EngineError(f"cannot connect to the Dask scheduler at {address}: {exc}",
                              hint=hint) from None
        try:
            self.client.wait_for_workers(1, timeout=CONNECT_SECONDS)
        except TimeoutError:
            self.close()
            raise EngineError(f"the Dask scheduler at {address} has no workers",
                              hint=f"Start workers with `dask worker {address} --nthreads 1 "
                                   "--nworkers N` where the workspace is, then run the same "
                                   "command again.") from None

    def close(self) -> None:
        for part in (self.client, self.cluster):
            if part is not None:
                with contextlib.suppress(Exception):  # closing is best effort
                    part.close()
        self.client = self.cluster = None

    def results(self, tasks: list, cfg, letters_dir: Path | None,
                charset: str = "") -> Iterator[dict]:
        """One result per task, in task order, as ``letters.mailing.render_letter`` gives it
        (the copy kept in ``letters_dir`` here, by the driver; None: a dry run keeps none)."""
        from letters.mailing import keep_copy  # letters.mailing imports this module

        if not tasks:
            return
        self.connect()
        from distributed import KilledWorker
        from distributed.comm.core import CommClosedError

        client = self.client
        threads = max(1, sum(client.nthreads().values()))
        size = chunk_size(len(tasks), threads)
        chunks = (tasks[i:i + size] for i in range(0, len(tasks), size))
        fingerprint = workspace_fingerprint(cfg)
        shared = client.scatter(cfg, broadcast=True, hash=False)
        # workers this mailing started (a local cluster's processes): their collector is ours
        own_workers = self.cluster is not None
        in_flight: collections.deque = collections.deque()

        def submit_next() -> None:
            chunk = next(chunks, None)
            if chunk is not None:
                in_flight.append(client.submit(render_chunk, fingerprint, shared, charset,
                                               chunk, own_workers, pure=False))

        try:
            for _ in range(threads * IN_FLIGHT_PER_THREAD):
                submit_next()
            while in_flight:
                future = in_flight.popleft()
                try:
                    done = future.result()
                except KilledWorker:
                    raise EngineError(
                        "a Dask worker ended abruptly while rendering (out of memory?)",
                        hint="Run the same command again: a mailing resumes where it "
                             "stopped.") from None
                except CommClosedError:
                    raise EngineError(
                        "the connection to the Dask scheduler was lost while rendering",
                        hint="Run the same command again once the scheduler runs: a mailing "
                             "resumes where it stopped.") from None
                future.release()
                submit_next()  # the workers go on while this process keeps the copies
                for result in done:
                    yield keep_copy(result, letters_dir)
        finally:
            if in_flight:
                with contextlib.suppress(Exception):
                    client.cancel(list(in_flight))
            with contextlib.suppress(Exception):
                client.cancel([shared])


def chunk_size(tasks: int, threads: int) -> int:
    """Letters per task: at most :data:`CHUNK_MAX`, and at least four tasks per worker thread
    while the batch allows.

    >>> chunk_size(24000, 8), chunk_size(100, 2), chunk_size(5, 2)
    (32, 12, 1)
    """
    return max(1, min(CHUNK_MAX, tasks // (4 * max(1, threads))))


@contextlib.contextmanager
def opened(engine: str, scheduler: str = "", workers: int = 1) -> Iterator[DaskEngine | None]:
    """The engine for a run: None for ``local`` (``letters.mailing`` runs its process pool), a
    :class:`DaskEngine` for ``dask``. A configured scheduler is reached now, before the run
    writes anything; a local cluster starts when the first letter is to be rendered."""
    if engine not in ENGINES:
        raise UsageError(f"unknown rendering engine '{engine}' (known: {', '.join(ENGINES)})")
    if engine == "local":
        yield None
        return
    dask = DaskEngine(scheduler or "", workers)
    try:
        if dask.scheduler:
            dask.connect()
        yield dask
    finally:
        dask.close()

