"""Engines: where pieces run. Each is a `concurrent.futures.Executor` (this process, a pool of
local processes, or a Dask cluster's `Client.get_executor`), how many pieces to keep in flight
on it, and how to end it."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from cedar_smt.analyzer.cli.manifest import FleetError
from cedar_smt.analyzer.cli.pieces import Answer, Piece, run_piece, run_piece_in_worker
from cedar_smt.analyzer.runner import process_pool, sigint_held, stop_workers


class Engine:
    """An executor, how many pieces to keep in flight on it, and how to end it."""

    in_process = False  # pieces run in this process: their exit 130/143 is our own signal

    def executor(self) -> Executor:
        raise NotImplementedError

    def capacity(self) -> int:
        return 1

    def submit(self, piece: Piece) -> Future[Answer]:
        return self.executor().submit(run_piece, piece)

    def restart(self) -> None:
        """A fresh executor, after a worker's death broke this one."""

    def stop(self) -> None:
        """End the work under way at once (a signal)."""
        self.close()

    def close(self) -> None:
        pass


class _Inline(Executor):
    """Runs each call as it is submitted, in this process."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:
            future.set_exception(err)
        return future


class InProcess(Engine):
    in_process = True

    def __init__(self) -> None:
        self._executor = _Inline()

    def executor(self) -> Executor:
        return self._executor


class Processes(Engine):
    """A pool of `jobs` local processes, which leave SIGINT to this one."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._pool = process_pool(jobs)

    def executor(self) -> Executor:
        return self._pool

    def capacity(self) -> int:
        return 2 * self.jobs

    def submit(self, piece: Piece) -> Future[Answer]:
        with sigint_held():  # a worker it starts inherits SIGINT blocked
            return self._pool.submit(run_piece_in_worker, piece)

    def restart(self) -> None:
        stop_workers(self._pool)
        self._pool = process_pool(self.jobs)

    def stop(self) -> None:
        stop_workers(self._pool)

    def close(self) -> None:
        self._pool.shutdown()


class Dask(Engine):
    """A Dask cluster: the scheduler at `address`, or a local cluster of `jobs` processes."""

    REFRESH_SECONDS = 5.0

    def __init__(self, address: str | None, jobs: int) -> None:
        try:  # typed loosely: Dask's own annotations are partial
            distributed: Any = importlib.import_module("distributed")
        except ImportError:
            raise FleetError(
                "--executor dask needs Dask's `distributed`: pip install 'cedar-smt[dask]'"
            ) from None
        self._cluster: Any = None
        if address is None:
            with sigint_held():
                self._cluster = distributed.LocalCluster(
                    n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=":0"
                )
            address = self._cluster.scheduler_address
        try:
            self.client: Any = distributed.Client(address, timeout="30s")
        except OSError as err:
            if self._cluster is not None:
                self._cluster.close()
            raise FleetError(f"cannot reach the Dask scheduler at `{address}`: {err}") from None
        self._executor: Executor = self.client.get_executor(pure=False)
        self._threads, self._asked = 1, 0.0

    def executor(self) -> Executor:
        return self._executor

    def capacity(self) -> int:
        """Twice the workers' threads, asked again now and then (workers come and go)."""
        if time.monotonic() - self._asked > self.REFRESH_SECONDS:
            self._threads = max(1, sum(self.client.nthreads().values()))
            self._asked = time.monotonic()
        return 2 * self._threads

    def stop(self) -> None:
        self._executor.shutdown(wait=False)
        self.close()

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def describe_failure(err: BaseException) -> str:
    if type(err).__name__ == "KilledWorker":
        return f"every Dask worker that ran it died ({err})"
    return f"the engine failed: {type(err).__name__}: {err}"
