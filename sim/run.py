"""One run → results on disk.

`run_scenario` runs a scenario with the one executor (`sim.execute`) and writes, into one
directory:

- `summary.json`  every outcome of MODEL.md §5, the residents simulated, the scenario
  (every parameter, with the file's sources), seed and versions;
- `daily.csv`     the DataCollector's day-by-day series;
- `disputes.parquet`, `incidents.parquet`  the event logs, one row per dispute / incident;
- `town.parquet`  the cells (position, residents, camera, grid …) for the map;
- the PNG plots of `sim.plots`.

The directory is written under a temporary name and renamed into place only when
complete, so a crash or a Ctrl-C never leaves half a result; an earlier result in the
same place is kept as `<DIR>.prev` rather than lost.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
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
from .execute import execute
from .model import GovernanceModel
from .outcomes import observed
from .population import Resident
from .scenario import CRIME_TYPES, DISPUTE_TYPES, RUNGS, SEVERITIES, Scenario


def versions() -> dict[str, str]:
    import mesa
    import scipy

    return {"gridsim": __version__, "mesa": mesa.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "pandas": pd.__version__, "python": platform.python_version()}


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
    out["seed"] = model.seed if isinstance(model.seed, int) else repr(model.seed)
    out["scenario"] = {"name": model.params.name, "parameters": model.params.flat(), "sources": model.params.sources}
    out["surveys"] = model.perception.survey
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


@contextmanager
def atomic_directory(out: Path, keep_previous: bool = True):
    """Yield a temporary sibling of `out` to fill; on success it replaces `out` in one rename
    (the earlier `out` kept as `<out>.prev`, or deleted); on any failure it is removed and
    `out` is left as it was.  So a crash or a Ctrl-C never leaves half a result."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
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
        model.datacollector.get_model_vars_dataframe().to_csv(tmp / "daily.csv", index=False)
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
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=scenario.total_days, unit="day", desc=scenario.name, leave=False)
    try:
        res = execute(scenario, seed, keep_model=True, progress=(lambda m: bar.update(1)) if bar else None)
    finally:
        if bar is not None:
            bar.close()
    if out is None:
        return summary_of(res.model, res.wall_seconds, res.outcomes)
    return write_results(res.model, Path(out), res.wall_seconds, plots=plots, outcomes=res.outcomes)
