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
import math
from concurrent.futures import CancelledError
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..scenario import ScenarioError, validate
from .design import Experiment, ExperimentError, Run
from .pool import backend as make_backend
from .store import DAILY_COLUMNS, Store, StoreMismatch, now, outcomes_json, pack_daily

#: in-flight runs per worker slot: enough to keep every worker busy, few enough to bound memory
WINDOW_PER_WORKER = 2
#: times a run whose worker died is submitted again (on Dask, after the scheduler's own retries)
RESUBMITS = 2
#: most progress lines a sweep writes into a log (a line per run up to this many runs)
PROGRESS_LINES = 50


# --------------------------------------------------------------------------- one run (in a worker)
class OtherModelCode(Exception):
    """A Dask worker's `sim` is not the sweep's: its runs would not be this experiment's."""


def sweep_run(scenario_data: dict[str, Any], overrides: dict[str, Any], seed: int,
              daily_columns: tuple[str, ...] = DAILY_COLUMNS, code: str | None = None) -> dict[str, Any]:
    """`execute` one run of a sweep; return its stored form.  Never raises for a failing model.

    `code` (on Dask): the sweep's `code_digest()`; a worker whose own differs raises
    `OtherModelCode` instead of running (another machine with another checkout of gridsim)."""
    from ..execute import execute
    from ..run import summary_of, versions

    if code is not None and code != code_digest():
        import socket

        raise OtherModelCode(f"the worker on {socket.gethostname()} runs other model code "
                             f"({Path(__file__).resolve().parents[2]}) than the sweep")
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


_CODE_DIGEST: str | None = None


def code_digest(code: dict[str, str] | None = None) -> str:
    """One sha256 of `code` (a `model_code()`); without it, this process's, computed once (a
    worker's: the model as it loaded it, which a checkout edited since does not change)."""
    import hashlib
    import json

    global _CODE_DIGEST
    if code is not None:
        return hashlib.sha256(json.dumps(code, sort_keys=True).encode()).hexdigest()
    if _CODE_DIGEST is None:
        _CODE_DIGEST = code_digest(model_code())
    return _CODE_DIGEST


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
    resubmitted: int = 0      # runs submitted again because their worker died (not model failures)


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


def _check_out(out: str | Path) -> Path:
    """The sweep directory, checked before anything runs: not empty, not under a file, not in
    /proc, not a file, and writable (probed)."""
    from ..run import check_out_path

    try:
        return check_out_path(out)
    except ExperimentError:
        raise
    except ScenarioError as exc:
        raise ExperimentError(str(exc)) from None


def _check_memory(experiment: Experiment, workers: int | None, dask: str | None) -> None:
    """Refuse before anything runs if the runs side by side would not fit in this machine's
    memory: the design's largest run (`largest_overrides`) once per worker process.  Not
    checked for a remote Dask scheduler, whose workers are other machines."""
    from ..execute import BYTES_PER_PROCESS, check_memory, largest_overrides, memory_estimate
    from .pool import default_workers

    if dask and dask != "local":
        return
    side = min(default_workers() if workers is None else workers, max(1, experiment.n_runs))
    corner = largest_overrides(experiment.spec.axes)
    try:
        need = memory_estimate(experiment.base, corner)
        residents = max(1, round(float(corner.get("population", experiment.base.population))
                                 * float(corner.get("scale", experiment.base.scale))))
    except (TypeError, ValueError):    # an axis value the estimate cannot read: the base alone
        need, residents = memory_estimate(experiment.base), experiment.base.residents
    days = int(corner.get("days", experiment.base.days) + corner.get("warmup_days", experiment.base.warmup_days))
    try:
        check_memory(side * (need + BYTES_PER_PROCESS),
                     f"{experiment.path}: the sweep ({side} runs at a time, up to {residents:,} residents × {days:,} days)",
                     "lower --scale or --days, or use fewer --workers")
    except ScenarioError as exc:
        raise ExperimentError(str(exc)) from None


def run_sweep(experiment: Experiment, out: str | Path, *, workers: int | None = None, dask: str | None = None,
              progress: bool = True, retry_failed: bool = False, replace: bool = False) -> SweepReport:
    """Run every run of `experiment` not yet in `out`'s store; return what happened.

    `replace`: if `out` holds another experiment (or runs of other model code), move it
    aside to `<out>.prev` (replacing an older one) and start afresh instead of refusing.
    """
    out = _check_out(out)
    if workers is not None and workers < 1:
        raise ExperimentError(f"--workers {workers}: must be at least 1")
    _check_memory(experiment, workers, dask)
    report = SweepReport(out=out, total=experiment.n_runs)
    start = time.perf_counter()
    # the pool first: a bad or unreachable --dask address fails here, before the directory,
    # its lock or its store exist (else the corrected command would find them bound)
    backend = make_backend(workers, dask)
    cancel = True
    try:
        store = Store(out)
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
                    _drive(experiment, store, keep, report, backend, progress)
            cancel = False
        finally:
            store.close()
    finally:
        backend.close(cancel=cancel)
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


def _drive(experiment, store, keep, report, backend, progress) -> None:
    """Submit the missing runs through the window, store each result as it arrives.

    A run whose worker died is not a result: where the backend can tell (`lost_worker`:
    Dask gave up on it after its own retries) it is submitted again, up to `RESUBMITS`
    times; otherwise the sweep stops, keeping what is stored, and resumes when run again.
    A run that fails inside the model returns normally (status `failed`) and is stored."""
    from ..progress import Progress

    scenario_data = experiment.base_file_data
    lost_worker = getattr(backend, "lost_worker", lambda exc: False)
    # Dask workers may be other machines: each checks that it runs this model code
    check = (DAILY_COLUMNS, code_digest(model_code())) if getattr(backend, "remote", False) else ()
    pending: dict[Any, Run] = {}
    resubmits: dict[str, int] = {}
    # the one progress policy (sim/progress.py): a bar on a terminal, in a log a line per run
    # (per few runs when there are many: about 50 lines), nothing with --quiet
    bar = Progress(report.total, experiment.name, "run", quiet=not progress, initial=report.skipped, eta=True,
                   every=math.ceil((report.total - report.skipped) / PROGRESS_LINES))

    def submit(run: Run) -> None:
        pending[backend.submit(sweep_run, scenario_data, run.overrides, run.seed, *check)] = run

    def collect(done) -> None:
        for fut in done:
            run = pending.pop(fut)
            try:
                result = fut.result()
            except OtherModelCode as exc:
                raise ExperimentError(f"{run.run_id}: {exc}; install this gridsim on every worker (the same "
                                      f"checkout or version, pip install -e .) and restart them; {store.count()} "
                                      "runs are stored, run the command again to resume") from None
            except Exception as exc:  # the worker itself died (killed, out of memory): not a model result
                why = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0].split('. ')[0]}"
                if isinstance(exc, CancelledError):        # Dask: the client lost its scheduler
                    raise ExperimentError(f"{run.run_id}: cancelled, the Dask scheduler is gone ({why}); "
                                          f"{store.count()} runs are stored, run the command again to resume") from None
                if lost_worker(exc) and resubmits.get(run.run_id, 0) < RESUBMITS:
                    resubmits[run.run_id] = resubmits.get(run.run_id, 0) + 1
                    report.resubmitted += 1
                    bar.write(f"gridsim: warning: {run.run_id}: its worker died ({why}); submitted again")
                    submit(run)
                    continue
                died = (f"the workers running it died {resubmits[run.run_id] + 1} times" if run.run_id in resubmits
                        else "the worker running it died")
                raise ExperimentError(f"{run.run_id}: {died} ({why}); "
                                      f"{store.count()} runs are stored, run the command again to resume") from None
            store.record(run, result)
            if result["status"] == "done":
                report.done += 1
            else:
                report.failed += 1
                report.first_error = report.first_error or f"{run.run_id}: {result['error'].splitlines()[0]}"
            if report.failed:
                bar.note(f"{report.failed} failed")
            bar.update(1)

    try:
        for run in experiment.runs():
            if store.has(run.run_id, keep):
                continue
            while len(pending) >= WINDOW_PER_WORKER * backend.slots:   # slots: Dask workers may come and go
                collect(backend.wait_first(pending))
            submit(run)
        while pending:
            collect(backend.wait_first(pending))
    finally:
        bar.close()
