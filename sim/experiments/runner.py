"""Run a sweep: every run of an experiment, in a local process pool or on Dask, into the store.

The parent process submits runs through a bounded window of in-flight futures (twice the
number of workers), writes each result to the store the moment it arrives and keeps
nothing else, so memory does not grow with the number of runs.  Runs already in the store
are skipped: running the same sweep again resumes it.

A worker gets the base scenario as a plain mapping, the run's overrides and its seed, and
does exactly what `gridsim run SCENARIO --seed S --set KEY=VALUE …` does: the one
executor, `sim.execute.execute(scenario.with_overrides(overrides), S)`,

so any stored run can be redone alone.  A run that raises is returned as failed, with its
traceback, and the sweep goes on.
"""

from __future__ import annotations

import fcntl
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..scenario import validate
from .design import Experiment, ExperimentError, Run
from .pool import backend as make_backend
from .store import DAILY_COLUMNS, Store, StoreMismatch, now, outcomes_json, pack_daily

#: in-flight runs per worker slot: enough to keep every worker busy, few enough to bound memory
WINDOW_PER_WORKER = 2


# --------------------------------------------------------------------------- one run (in a worker)
def sweep_run(scenario_data: dict[str, Any], overrides: dict[str, Any], seed: int,
              daily_columns: tuple[str, ...] = DAILY_COLUMNS) -> dict[str, Any]:
    """`execute` one run of a sweep; return its stored form.  Never raises for a failing model."""
    from ..execute import execute
    from ..run import summary_of, versions

    started, t0 = now(), time.perf_counter()
    try:
        scenario = validate(scenario_data, "sweep scenario").with_overrides(overrides, "sweep run")
        res = execute(scenario, seed, daily=True, keep_model=True)
        summary = summary_of(res.model, res.wall_seconds, outcomes=res.outcomes)
        daily = {c: res.daily[c].to_numpy() for c in daily_columns if c in res.daily}
        return {"status": "done", "outcomes": outcomes_json(summary), "error": None, "wall_seconds": res.wall_seconds,
                "versions": summary.get("versions"), "started": started, "finished": now(), "daily": pack_daily(daily)}
    except Exception as exc:  # a failing run is a result, not the end of the sweep
        return {"status": "failed", "outcomes": None, "wall_seconds": time.perf_counter() - t0,
                "error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}", "versions": versions(),
                "started": started, "finished": now(), "daily": None}


# --------------------------------------------------------------------------- model code
def model_code(entry: str = "execute") -> dict[str, str]:
    """sha256 of every `sim` module a run imports (statically, from `sim/<entry>.py`, packages too).

    Stored with a sweep, so a sweep is not resumed by changed model code: the stored runs
    and the new ones would not be one experiment.
    """
    import ast
    import hashlib

    pkg = Path(__file__).resolve().parent.parent

    def path_of(parts: tuple[str, ...]) -> Path | None:
        for cand in (pkg.joinpath(*parts).with_suffix(".py"), pkg.joinpath(*parts, "__init__.py")):
            if parts and cand.is_file():
                return cand
        return None

    seen: dict[str, str] = {}
    todo = [tuple(entry.split("."))]
    while todo:
        parts = todo.pop()
        path = path_of(parts)
        rel = path and path.relative_to(pkg.parent).as_posix()
        if path is None or rel in seen:
            continue
        blob = path.read_bytes()
        seen[rel] = hashlib.sha256(blob).hexdigest()
        here = parts if path.name == "__init__.py" else parts[:-1]   # the package this module is in
        for node in ast.walk(ast.parse(blob)):
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                mod = base + tuple(node.module.split(".")) if node.module else base
                todo.append(mod)
                todo += [mod + (a.name,) for a in node.names]      # `from . import x` may name a module
    return dict(sorted(seen.items()))


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
    if workers is not None and workers < 1:
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

    backend = make_backend(workers, dask)
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
            pending[backend.submit(sweep_run, scenario_data, run.overrides, run.seed)] = run
        while pending:
            collect(backend.wait_first(pending))
        cancel = False
    finally:
        bar.close()
        backend.close(cancel=cancel)
