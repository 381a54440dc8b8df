"""Where runs run: a local process pool or a Dask cluster, behind one small interface.

Both backends take functions and arguments and hand back futures; `Runner.map` runs a list
of `RunSpec`s through one of them and returns the outcomes in order.  Sweeps
(`runner.run_sweep`), calibration and validation all use these, and every run inside is
`sim.execute.execute`, so a run's numbers do not depend on where it ran or on how many
workers there were.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import Any

from .design import ExperimentError


def default_workers() -> int:
    """Every CPU (2 on these machines)."""
    return max(1, os.cpu_count() or 1)


class LocalPool:
    """`concurrent.futures.ProcessPoolExecutor` with `workers` processes."""

    def __init__(self, workers: int):
        import multiprocessing

        # a fork server: workers fork from a clean single-threaded process that has imported
        # the model once (forking the parent, with its BLAS and progress threads, is unsafe)
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["sim.execute", "sim.model", "sim.outcomes"])
        self.slots = workers
        self.pool = futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx)

    def submit(self, fn, *args):
        return self.pool.submit(fn, *args)

    def wait_first(self, pending):
        return futures.wait(pending, return_when=futures.FIRST_COMPLETED)[0]

    def lost_worker(self, exc: BaseException) -> bool:
        """A dead process breaks the whole pool: nothing can be resubmitted to it."""
        return False

    def close(self, cancel: bool = False) -> None:
        self.pool.shutdown(wait=not cancel, cancel_futures=cancel)


#: seconds to wait for a Dask scheduler to answer (a sweep connects before it writes anything)
CONNECT_TIMEOUT = 10.0
#: what `--dask` accepts, for error messages
DASK_FORMS = "local, tcp://HOST:PORT, HOST:PORT or tls://HOST:PORT"
_ADDRESS = re.compile(r"(?:(tcp|tls)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_][A-Za-z0-9_.-]*):([0-9]{1,5})")


def dask_address(address: str) -> str:
    """`--dask` as given → `local` or `tcp://HOST:PORT`; an `ExperimentError` if it is neither.

    `tls://HOST:PORT` needs TLS set in Dask's own configuration (certificates), as for any Dask client."""
    text = str(address).strip()
    if text == "local":
        return text
    m = _ADDRESS.fullmatch(text)
    if not m or not 1 <= int(m[3]) <= 65535:
        raise ExperimentError(f"--dask {address!r}: not a scheduler address; allowed: {DASK_FORMS}, "
                              "e.g. --dask tcp://10.0.0.5:8786")
    return f"{m[1] or 'tcp'}://{m[2]}:{int(m[3])}"


def _connect(address: str):
    """A Dask `Client` of the scheduler at `address`, or an `ExperimentError` within `CONNECT_TIMEOUT` s.

    Dask's own timeout covers the TCP connection but not the handshake, which waits forever
    on a port that speaks something else (a dashboard's, say): the client is made in a
    thread, and a thread still waiting after the timeout is left behind (it holds nothing)."""
    import threading

    from distributed import Client

    made: dict[str, Any] = {}

    def connect() -> None:
        try:
            made["client"] = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except Exception as exc:  # reported below
            made["error"] = exc

    thread = threading.Thread(target=connect, name="gridsim-dask-connect", daemon=True)
    thread.start()
    thread.join(CONNECT_TIMEOUT + 2.0)
    if "client" in made:
        return made["client"]
    error = made.get("error")
    why = ((str(error) if isinstance(error, OSError | TimeoutError) else f"{type(error).__name__}: {error}").strip()
           .splitlines()[0] if error is not None else
           f"no Dask scheduler answered within {CONNECT_TIMEOUT:g} s; is it the scheduler's port (8786 unless "
           "changed), not its dashboard's?")
    raise ExperimentError(f"--dask {address}: cannot reach the scheduler ({why})")


class DaskPool:
    """A Dask distributed client: `local` starts a `LocalCluster`, an address connects to a scheduler.

    An address is connected to at once (`CONNECT_TIMEOUT`), so a sweep learns that the
    scheduler cannot be reached before it creates anything; a `LocalCluster` starts at the
    first `submit` (nothing to reach, and no cluster for a sweep that is already complete).
    Workers may join or leave during a sweep: `slots` follows them.  The scheduler itself
    moves a dead worker's runs to the others (Dask's `allowed-failures`); a run it gives up on
    (`KilledWorker`) is a lost worker for `lost_worker`, not a result of the model."""

    #: workers may be other machines (a sweep asks each run's worker to check its model code)
    remote = True

    def __init__(self, address: str, workers: int):
        self.address = dask_address(address)
        self.workers = workers
        self.cluster = None
        self._client = None
        self._finished, self._tracked = None, set()     # `wait_first`'s as_completed and what it follows
        self._slots, self._slots_at = max(1, workers), -math.inf
        if self.address != "local":
            self._client = _connect(self.address)

    @property
    def client(self):
        if self._client is None:
            import logging

            from distributed import Client, LocalCluster

            self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=logging.ERROR)
            self._client = Client(self.cluster, set_as_default=False)
        return self._client

    @property
    def slots(self) -> int:
        """Worker threads in the cluster now (asked at most every 2 s; at least 1)."""
        if self.cluster is None and self._client is not None and time.monotonic() - self._slots_at > 2.0:
            try:
                self._slots = max(1, sum(self._client.nthreads().values()))
            except Exception:   # the scheduler is away for a moment: keep the last answer
                pass
            self._slots_at = time.monotonic()
        return self._slots

    def submit(self, fn, *args):
        return self.client.submit(fn, *args, pure=False)

    def wait_first(self, pending):
        """Finished futures of `pending`, at least one; each is handed back once.

        One `as_completed` follows every future of `pending` from the first call on (Dask's
        `wait` would need a default client, and raises when the scheduler cancels one)."""
        if self._finished is None:
            from distributed import as_completed

            self._finished = as_completed(loop=self.client.loop)
        new = [f for f in pending if f not in self._tracked]
        self._tracked.update(new)
        self._finished.update(new)
        done = {next(self._finished), *self._finished.next_batch(block=False)}
        self._tracked -= done
        return done

    def lost_worker(self, exc: BaseException) -> bool:
        """Did the run fail because its worker died (so that running it again may succeed)?"""
        from distributed.scheduler import KilledWorker

        return isinstance(exc, KilledWorker)

    def close(self, cancel: bool = False) -> None:
        import logging

        self._finished, self._tracked = None, set()
        if self._client is not None:
            log = logging.getLogger("distributed.client")
            level = log.level
            if cancel:                     # no traceback of a failed reconnect on top of the sweep's own message
                log.setLevel(logging.CRITICAL)
            try:
                self._client.close()
            finally:
                log.setLevel(level)
            self._client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


def backend(workers: int | None = None, dask: str | None = None):
    """The pool for `--workers N` or `--dask ADDRESS|local` (an empty address is an error, not "no Dask")."""
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ExperimentError(f"--workers {workers}: must be at least 1")
    return DaskPool(dask, workers) if dask is not None else LocalPool(workers)


# --------------------------------------------------------------------------- many runs, in order
@dataclass(frozen=True)
class RunSpec:
    """One seeded run: a validated scenario, overrides by dotted key, and what to return.

    `keys` limits the outcomes returned (None: all); each function of `extras` is called
    with the finished model and its value returned under the function's name."""

    scenario: Any
    seed: int
    overrides: tuple[tuple[str, Any], ...] = ()
    keys: tuple[str, ...] | None = None
    extras: tuple[Callable, ...] = ()


def run_spec(spec: RunSpec) -> dict[str, Any]:
    """`execute` one spec (in a worker or here); outcomes, extras and `_seconds` in one dict."""
    from ..execute import execute

    scenario = spec.scenario.with_overrides(dict(spec.overrides), "run") if spec.overrides else spec.scenario
    res = execute(scenario, spec.seed, extras=spec.extras)
    out = res.outcomes if spec.keys is None else {k: res.outcomes.get(k, math.nan) for k in spec.keys}
    out = {**out, **(res.extras or {}), "_seconds": res.wall_seconds}
    return out


class Runner:
    """Maps `RunSpec`s to outcome dicts, in order, on `backend(workers, dask)`, or here if one worker.

    Every run is seeded, so the results do not depend on the number of workers."""

    def __init__(self, workers: int | None = None, dask: str | None = None):
        self.workers = min(2, default_workers()) if workers is None else max(1, int(workers))
        self.dask = dask
        self._pool = None
        self.runs = 0
        self.run_seconds = 0.0

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close(cancel=True)
            self._pool = None

    def map(self, specs: Sequence[RunSpec]) -> list[dict[str, Any]]:
        specs = list(specs)
        if (self.workers == 1 and not self.dask) or len(specs) <= 1:
            results = [run_spec(s) for s in specs]
        else:
            if self._pool is None:
                self._pool = backend(self.workers, self.dask)
            futs = [self._pool.submit(run_spec, s) for s in specs]
            results = [f.result() for f in futs]
        self.runs += len(results)
        self.run_seconds += sum(r.get("_seconds", 0.0) for r in results)
        return results

    def map_function(self, fn: Callable[[Any], Any], args: Sequence[Any],
                     on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
        """`[fn(a) for a in args]`, in order, on the same backend as `map` (for callers whose unit
        of work is not one `RunSpec`, e.g. an ABC particle running several replicates).  `fn`
        must be picklable (a module-level function or a `functools.partial` of one).
        `on_result(i, result)` is called as each result is collected, in order (progress)."""
        args = list(args)
        if (self.workers == 1 and not self.dask) or len(args) <= 1:
            futs = None
        else:
            if self._pool is None:
                self._pool = backend(self.workers, self.dask)
            futs = [self._pool.submit(fn, a) for a in args]
        out = []
        for i, a in enumerate(args):
            out.append(fn(a) if futs is None else futs[i].result())
            if on_result is not None:
                on_result(i, out[-1])
        return out
