"""Run a sweep: every run of an experiment, in a local process pool or on Dask, into the store.

The parent process submits runs through a bounded window of in-flight futures (twice the
number of workers), writes each result to the store the moment it arrives and keeps
nothing else, so memory does not grow with the number of runs.  Runs already in the store
are skipped: running the same sweep again resumes it.

A worker gets the base scenario as a plain mapping, the run's overrides and its seed, and
does exactly what `gridsim run SCENARIO --seed S --set KEY=VALUE …` does:

    scenario = load_scenario(SCENARIO, overrides);  GovernanceModel(scenario, rng=S).run()

so any stored run can be redone alone.  A run that raises is returned as failed, with its
traceback, and the sweep goes on.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
import traceback
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..scenario import validate
from .design import Experiment, ExperimentError, Run
from .store import DAILY_COLUMNS, Store, StoreMismatch, now, outcomes_json, pack_daily

#: in-flight runs per worker slot: enough to keep every worker busy, few enough to bound memory
WINDOW_PER_WORKER = 2


# --------------------------------------------------------------------------- one run (in a worker)
def execute(scenario_data: dict[str, Any], overrides: dict[str, Any], seed: int,
            daily_columns: tuple[str, ...] = DAILY_COLUMNS) -> dict[str, Any]:
    """Run one scenario; return its stored form.  Never raises for a failing model."""
    from ..model import GovernanceModel
    from ..run import summary_of, versions

    started, t0 = now(), time.perf_counter()
    try:
        scenario = validate(scenario_data, "sweep scenario").with_overrides(overrides, "sweep run")
        model = GovernanceModel(scenario, rng=seed)
        model.run()
        wall = time.perf_counter() - t0
        summary = summary_of(model, wall)
        series = model.datacollector.get_model_vars_dataframe()
        daily = {c: series[c].to_numpy() for c in daily_columns if c in series}
        return {"status": "done", "outcomes": outcomes_json(summary), "error": None, "wall_seconds": wall,
                "versions": summary.get("versions"), "started": started, "finished": now(), "daily": pack_daily(daily)}
    except Exception as exc:  # a failing run is a result, not the end of the sweep
        return {"status": "failed", "outcomes": None, "wall_seconds": time.perf_counter() - t0,
                "error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}", "versions": versions(),
                "started": started, "finished": now(), "daily": None}


# --------------------------------------------------------------------------- model code
def model_code(entry: str = "run") -> dict[str, str]:
    """sha256 of every `sim` module the model's runs import (statically, from `sim/<entry>.py`).

    Stored with a sweep, so a sweep is not resumed by changed model code: the stored runs
    and the new ones would not be one experiment.
    """
    import ast
    import hashlib

    pkg = Path(__file__).resolve().parent.parent
    seen: dict[str, str] = {}
    todo = [entry]
    while todo:
        name = todo.pop()
        path = pkg / f"{name}.py"
        if name in seen or not path.exists():
            continue
        blob = path.read_bytes()
        seen[name] = hashlib.sha256(blob).hexdigest()
        for node in ast.walk(ast.parse(blob)):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                todo += [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
    return {f"sim/{k}.py": v for k, v in sorted(seen.items())}


# --------------------------------------------------------------------------- backends
class LocalPool:
    """`concurrent.futures.ProcessPoolExecutor` with `workers` processes."""

    def __init__(self, workers: int):
        import multiprocessing

        # a fork server: workers fork from a clean single-threaded process that has imported
        # the model once (forking the parent, with its BLAS and progress threads, is unsafe)
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__, "sim.run"])
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


# --------------------------------------------------------------------------- the sweep
@dataclass
class SweepReport:
    out: Path
    total: int
    skipped: int = 0
    done: int = 0
    failed: int = 0
    seconds: float = 0.0
    first_error: str | None = None


class _Lock:
    """One sweep at a time per directory (an advisory lock the OS drops if the process dies)."""

    def __init__(self, directory: Path):
        self.path = directory / ".sweep.lock"
        self.fh = None

    def __enter__(self):
        self.fh = open(self.path, "a+")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.close()
            raise ExperimentError(f"{self.path.parent}: another sweep is writing here") from None
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def run_sweep(experiment: Experiment, out: str | Path, *, workers: int | None = None, dask: str | None = None,
              progress: bool = True, retry_failed: bool = False, replace: bool = False) -> SweepReport:
    """Run every run of `experiment` not yet in `out`'s store; return what happened.

    `replace`: if `out` holds another experiment (or runs of other model code), move it
    aside to `<out>.prev` (replacing an older one) and start afresh instead of refusing.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ExperimentError(f"--out {out}: exists and is not a directory")
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise ExperimentError(f"--workers {workers}: must be at least 1")
    store = Store(out)
    report = SweepReport(out=out, total=experiment.n_runs)
    start = time.perf_counter()
    try:
        with _Lock(out):
            try:
                store.bind(experiment, model_code())
            except StoreMismatch:
                if not replace:
                    raise
                store.close()
                store = _set_aside(out)
                store.bind(experiment, model_code())
            keep = ("done",) if retry_failed else ("done", "failed")
            report.skipped = store.count_in(keep)
            if report.skipped < report.total:
                _drive(experiment, store, keep, report, workers, dask, progress)
    finally:
        store.close()
    report.seconds = time.perf_counter() - start
    return report


def _set_aside(out: Path) -> Store:
    """Move the sweep in `out` to `<out>.prev` and open a new store in `out` (lock file stays)."""
    import shutil

    prev = out.parent / f"{out.name}.prev"
    shutil.rmtree(prev, ignore_errors=True)
    prev.mkdir()
    for item in out.iterdir():
        if item.name != ".sweep.lock":
            item.rename(prev / item.name)
    return Store(out)


def _drive(experiment, store, keep, report, workers, dask, progress) -> None:
    from tqdm import tqdm

    backend = DaskPool(dask, workers) if dask else LocalPool(workers)
    window = WINDOW_PER_WORKER * backend.slots
    scenario_data = experiment.base_file_data
    pending: dict[Any, Run] = {}
    bar = tqdm(total=report.total, initial=report.skipped, unit="run", desc=experiment.name, dynamic_ncols=True,
               file=sys.stderr, disable=None if progress else True)   # None: shown on a terminal only
    cancel = True
    try:
        def collect(done) -> None:
            for fut in done:
                run = pending.pop(fut)
                try:
                    result = fut.result()
                except Exception as exc:  # the worker itself died (killed, out of memory): not a model result
                    raise ExperimentError(f"{run.run_id}: the worker running it died ({type(exc).__name__}: {exc}); "
                                          f"{store.count()} runs are stored, run the command again to resume") from None
                store.record(run, result)
                if result["status"] == "done":
                    report.done += 1
                else:
                    report.failed += 1
                    report.first_error = report.first_error or f"{run.run_id}: {result['error'].splitlines()[0]}"
                bar.update(1)
                if report.failed:
                    bar.set_postfix(failed=report.failed, refresh=False)

        for run in experiment.runs():
            if store.has(run.run_id, keep):
                continue
            while len(pending) >= window:
                collect(backend.wait_first(pending))
            pending[backend.submit(execute, scenario_data, run.overrides, run.seed)] = run
        while pending:
            collect(backend.wait_first(pending))
        cancel = False
    finally:
        bar.close()
        backend.close(cancel=cancel)
