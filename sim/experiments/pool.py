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

    def close(self, cancel: bool = False) -> None:
        self.pool.shutdown(wait=not cancel, cancel_futures=cancel)


class DaskPool:
    """A Dask distributed client: `local` starts a `LocalCluster`, an address connects to a scheduler."""

    def __init__(self, address: str, workers: int):
        import logging

        from distributed import Client, LocalCluster

        self.cluster = None
        try:
            if address == "local":
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=logging.ERROR)
                self.client = Client(self.cluster)
            else:
                self.client = Client(address, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ExperimentError(f"--dask {address}: cannot reach the scheduler ({str(exc).splitlines()[0]})") from None
        self.slots = max(1, sum(self.client.nthreads().values()))

    def submit(self, fn, *args):
        return self.client.submit(fn, *args, pure=False)

    def wait_first(self, pending):
        from distributed import wait

        return wait(list(pending), return_when="FIRST_COMPLETED").done

    def close(self, cancel: bool = False) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def backend(workers: int | None = None, dask: str | None = None):
    """The pool for `--workers N` or `--dask ADDRESS|local`."""
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ExperimentError(f"--workers {workers}: must be at least 1")
    return DaskPool(dask, workers) if dask else LocalPool(workers)


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
