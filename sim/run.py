"""One run → results on disk.

`run_scenario` runs a scenario with the one executor (`sim.execute`) and writes, into one
directory:

- `summary.json`  every outcome of MODEL.md §5, the residents simulated, the scenario
  (every parameter, with the file's sources), seed, versions (with the git commit of a checkout)
  and `warmup` (its days, whether they are the default, the drift test of `sim.warmup`);
- `daily.csv`     the DataCollector's day-by-day series;
- `disputes.parquet`, `incidents.parquet`  the event logs, one row per dispute / incident;
- `town.parquet`  the cells (position, residents, camera, grid …) for the map;
- the PNG plots of `sim.plots`.

The directory is written under a temporary name and renamed into place only when
complete, so a crash or a Ctrl-C never leaves half a result; an earlier result in the
same place is kept as `<DIR>.prev` rather than lost.

Files and directories every command writes go the same way (`atomic_file`,
`atomic_directory`): a unique temporary name in the same directory, `.NAME.tmp-PID-RANDOM`,
then one `os.replace`.  Temporaries left by a process that was killed (its PID no longer
alive) are removed the next time a command writes into that directory
(`remove_stale_temps`).  `check_out_path` checks an output path before any work starts.
"""

from __future__ import annotations

import errno
import functools
import json
import math
import os
import platform
import re
import secrets
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from .crime import DETECTED_BY_NAMES
from .crime import STATUS_NAMES as INCIDENT_STATUS
from .disputes import KNOWN_BY_NAMES
from .disputes import STATUS_NAMES as DISPUTE_STATUS
from .execute import daily_frame, execute
from .model import GovernanceModel
from .outcomes import observed
from .population import Resident
from .scenario import CRIME_TYPES, DISPUTE_TYPES, RUNGS, SEVERITIES, Scenario
from .warmup import warmup_summary


def versions() -> dict[str, str]:
    import mesa
    import scipy

    out = {"gridsim": __version__, "mesa": mesa.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
           "pandas": pd.__version__, "python": platform.python_version()}
    if (commit := git_commit()) is not None:
        out["git_commit"] = commit
    return out


@functools.cache
def git_commit() -> str | None:
    """The commit of the gridsim checkout this code runs from (`-dirty` when tracked files were
    changed since), or None: not a git checkout (an installed package) or no git."""
    import subprocess

    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root:     # e.g. a venv inside another repository
            return None
        return git("rev-parse", "HEAD") + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def summary_of(model: GovernanceModel, wall_seconds: float | None = None, outcomes: dict | None = None) -> dict:
    """`summary.json`: the outcomes (computed here unless given), seed, scenario, surveys, versions."""
    from .outcomes import summarise

    out = dict(summarise(model) if outcomes is None else outcomes)
    spec = getattr(model, "spec", model.params)          # the scenario as given, with its timeline
    out["seed"] = model.seed if isinstance(model.seed, int) else repr(model.seed)
    out["scenario"] = {"name": spec.name, "parameters": spec.flat(), "sources": spec.sources}
    out["surveys"] = model.perception.survey
    out["warmup"] = warmup_summary(model)     # days, defaulted or not, and whether the series still drift
    tl = getattr(model, "timeline", None)
    if tl is not None and tl.start is not None:          # a calendar: outcomes per quarter and year, dated changes
        from .outcomes import periods

        out["start_date"] = tl.start.isoformat()
        out["periods"] = periods(model)
        out["events"] = [{"day": e.day - tl.warmup_days + 1, "date": e.date.isoformat(), "label": e.label, "kind": e.kind,
                          "source": e.source} for e in tl.events()]
    out["versions"] = versions()
    if wall_seconds is not None:
        out["wall_seconds"] = wall_seconds
    return _jsonable(out)


def dispute_frame(model: GovernanceModel) -> pd.DataFrame:
    """Disputes that began in the observed period, as they stand at the horizon."""
    df = model.disputes.table.frame().drop(columns=["version", "conv_time"])
    df.insert(0, "id", np.arange(len(df)))  # incidents' from_dispute refers to this id
    df = df.iloc[observed(model)[0]].reset_index(drop=True)
    df["type"] = pd.Categorical.from_codes(df.pop("kind"), DISPUTE_TYPES)
    for col in ("severity0", "severity"):
        df[col] = pd.Categorical.from_codes(df[col], SEVERITIES)
    # statuses as they stand at the horizon
    df["status"] = df["status"].map(DISPUTE_STATUS).replace({"hidden": "open", "in_ladder": "open"})
    df["rung"] = df["rung"].map(dict(enumerate(RUNGS))).fillna("none")
    df["known_by"] = df["known_by"].map(KNOWN_BY_NAMES).fillna("never")
    df["resolution_hours"] = np.where(df["status"] == "resolved", df["t_close"] - df["onset"], np.nan)
    return df


def incident_frame(model: GovernanceModel) -> pd.DataFrame:
    """Incidents that began in the observed period."""
    df = model.crime.table.frame()
    df.insert(0, "id", np.arange(len(df)))
    df = df.iloc[observed(model)[1]].reset_index(drop=True)
    df["type"] = pd.Categorical.from_codes(df.pop("kind"), CRIME_TYPES)
    df["status"] = df["status"].map(INCIDENT_STATUS)
    df["detected_by"] = df["detected_by"].map(DETECTED_BY_NAMES)
    return df


def town_frame(model: GovernanceModel) -> pd.DataFrame:
    t = model.town
    return pd.DataFrame({"x": t.x, "y": t.y, "residents": t.pop, "public": t.public, "camera": t.covered,
                         "grid": t.grid, "community": t.cell_community, "township": t.cell_township})


# --------------------------------------------------------------------------- writing safely
#: `.NAME.tmp-PID` or `.NAME.tmp-PID-RANDOM`: what `temp_path` makes (and older gridsim made)
_TEMP = re.compile(r"^\..+\.tmp-(\d+)(?:-[0-9a-f]+)?$")
#: kernel pseudo-filesystems: never a place for results
_PSEUDO = ("/proc", "/sys")


def temp_path(target: Path) -> Path:
    """A unique temporary name beside `target` (same directory, so `os.replace` is one rename):
    two processes, or two writers in one process, never share one."""
    target = Path(target)
    return target.parent / f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True          # someone else's live process (or a PID we cannot ask about): keep
    return True


def remove_stale_temps(directory: Path) -> list[Path]:
    """Remove the temporary files and directories (`.NAME.tmp-PID[-RANDOM]`) in `directory`
    whose writer is dead (no live process has its PID); return what was removed.  A live
    writer's temporaries, and anything else, are left alone."""
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP.match(entry.name)
        if m is None or _alive(int(m.group(1))):
            continue
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except OSError:
            pass
    return removed


@contextmanager
def atomic_file(target: Path):
    """Yield a unique temporary path beside `target` to write; on success it replaces `target`
    in one `os.replace` (after an fsync), on failure it is removed and `target` is left as it
    was.  So a kill mid-write never leaves a truncated file over a good one.  Stale
    temporaries of dead writers in the directory are removed first."""
    target = Path(target)
    remove_stale_temps(target.parent)
    tmp = temp_path(target)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def check_out_path(path: str | Path | None, flag: str = "--out", *, kind: str = "directory") -> Path:
    """Refuse, before any work, an output path that could not be written: empty, under a
    regular file, in /proc or /sys, an existing path of the wrong kind (`kind`: "directory"
    or "file"), or a place where no file can be created (read-only filesystem, no
    permission) — probed by creating and removing a temporary file in the nearest existing
    directory.  Returns the path; every refusal is one ScenarioError line."""
    from .scenario import ScenarioError

    if path is None or not str(path).strip():
        raise ScenarioError(f"{flag} {str(path)!r}: empty; give a {kind} name")
    path = Path(path)
    try:
        full = Path(os.path.abspath(path))
    except (ValueError, OSError) as exc:
        raise ScenarioError(f"{flag} {str(path)[:80]!r}: not a usable path ({exc})") from None
    pseudo = next((p for p in _PSEUDO if full == Path(p) or Path(p) in full.parents), None)
    if pseudo:
        raise ScenarioError(f"{flag} {path}: {pseudo} is a kernel pseudo-filesystem; write to a directory on disk")
    try:
        if path.exists():
            if kind == "directory" and not path.is_dir():
                raise ScenarioError(f"{flag} {path}: exists and is not a directory")
            if kind == "file" and path.is_dir():
                raise ScenarioError(f"{flag} {path}: is a directory; give a file name")
        ancestor = full.parent
        while not ancestor.exists():
            ancestor = ancestor.parent
    except OSError as exc:        # e.g. a name too long
        raise ScenarioError(f"{flag} {path}: not a usable path ({exc.strerror or exc})") from None
    if not ancestor.is_dir():
        raise ScenarioError(f"{flag} {path}: {ancestor} is a file, not a directory")
    try:
        fd, probe = tempfile.mkstemp(dir=ancestor, prefix=f".gridsim-probe-{os.getpid()}-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        why = "read-only filesystem" if exc.errno == errno.EROFS else (exc.strerror or str(exc)).lower()
        raise ScenarioError(f"{flag} {path}: cannot write in {ancestor} ({why})") from None
    return path


@contextmanager
def atomic_directory(out: Path, keep_previous: bool = True):
    """Yield a temporary sibling of `out` to fill; on success it replaces `out` in one rename
    (the earlier `out` kept as `<out>.prev`, or deleted); on any failure it is removed and
    `out` is left as it was.  So a crash or a Ctrl-C never leaves half a result."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out.parent)
    tmp = temp_path(out)
    tmp.mkdir()
    try:
        yield tmp
        if out.exists():
            if keep_previous:
                prev = out.parent / f"{out.name}.prev"
                shutil.rmtree(prev, ignore_errors=True)
                out.rename(prev)
            else:
                shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_results(model: GovernanceModel, out: Path, wall_seconds: float, plots: bool = True,
                  outcomes: dict | None = None) -> dict:
    """Write every output into `out` atomically; return the summary."""
    with atomic_directory(Path(out)) as tmp:
        summary = summary_of(model, wall_seconds, outcomes)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        daily_frame(model).to_csv(tmp / "daily.csv", index=False)
        dispute_frame(model).to_parquet(tmp / "disputes.parquet", index=False)
        incident_frame(model).to_parquet(tmp / "incidents.parquet", index=False)
        town_frame(model).to_parquet(tmp / "town.parquet", index=False)
        if model.tracked:
            sample = model.datacollector.get_agenttype_vars_dataframe(Resident).reset_index()
            sample["day"] = (sample.pop("Step") - model.params.warmup_days).astype(int)  # observed day, as in daily.csv
            sample.drop(columns=["AgentID"]).to_parquet(tmp / "residents_sample.parquet", index=False)
        if plots:
            from .plots import plot_run

            plot_run(tmp)
    return summary


def run_scenario(scenario: Scenario, out: str | Path | None = None, *, seed: int | None = None,
                 progress: bool = False, plots: bool = True) -> dict:
    """Run one validated scenario with the one executor and (if `out` is given) write it; return its summary."""
    from .progress import Progress

    with Progress(scenario.total_days, scenario.name, "day", quiet=not progress) as bar:   # the one progress policy
        res = execute(scenario, seed, keep_model=True, progress=(lambda m: bar.update()) if bar.mode != "off" else None)
    if out is None:
        return summary_of(res.model, res.wall_seconds, res.outcomes)
    return write_results(res.model, Path(out), res.wall_seconds, plots=plots, outcomes=res.outcomes)
