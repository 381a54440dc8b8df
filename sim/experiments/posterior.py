"""A calibration's posterior, read and checked, and parameter sets drawn from it for sweeps.

`gridsim calibrate` (ABC-SMC) leaves a directory DIR with

- `posterior.parquet`: the final generation, one column per fitted parameter named by its
  dotted scenario key (`perception.safety_mean`) and `weight` (non-negative, summing to 1);
- `calibration.json`: `{"parameters": {key: {"prior": [lo, hi], …}}, "scenario": …, "seed": …}`.

`load_posterior(DIR)` checks both and refuses in one line (`ExperimentError`): a missing or
unreadable file, a column that is not a scenario key or not a fitted parameter, values that
are not finite numbers, weights that are negative or do not sum to 1.

Draws.  `Posterior.sample(n, seed)` resamples rows with their weights; draw i comes from its
own generator `SeedSequence(seed, spawn_key=(DRAW_STREAM, i))`, so the same seed gives the
same draws and the first k of n draws are the k draws of `sample(k, seed)` (more replicates
keep the earlier ones).  A sweep with `--posterior DIR` draws with the calibration's own seed
(`calibration.json` "seed"): replicate r of every design point, and of every experiment swept
with the same posterior, gets the same parameter set θ_r — common random numbers over the
parameters, so lever comparisons pair by draw.  This module knows the scenario schema, not
the model, and sits in the experiments layer so that the sweep runner can use it.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..scenario import ScenarioError, leaves, suggest
from .design import NOT_AXES, RUN_SHAPE, ExperimentError, _is_int_field

POSTERIOR_FILE = "posterior.parquet"
CALIBRATION_FILE = "calibration.json"
WEIGHT = "weight"
#: first element of every draw's spawn key: keeps the draws' streams apart from run seeds
#: (`SeedSequence(seed, spawn_key=(replicate,))` or `(point, replicate)`, points < 10⁶)
DRAW_STREAM = 0x706F7374          # "post"
#: how far the weights' sum may be from 1 (float rounding of a normalised Parquet column)
WEIGHT_TOLERANCE = 1e-6


@dataclass
class Posterior:
    """A checked posterior: its parameter columns, weights and identity."""

    path: Path                       # the directory
    keys: list[str]                  # fitted parameters (dotted scenario keys), in column order
    values: np.ndarray               # rows × keys, float
    weights: np.ndarray              # rows, ≥ 0, sum 1
    sha256: str                      # of posterior.parquet's bytes: the posterior's identity
    calibration: dict[str, Any] = field(default_factory=dict)

    @property
    def seed(self) -> int:
        return int(self.calibration["seed"])

    def __len__(self) -> int:
        return len(self.weights)

    def indices(self, n: int, seed: int, start: int = 0) -> np.ndarray:
        """Row indices of draws start … start+n-1 (weighted, with replacement; each from its own stream)."""
        cdf = np.cumsum(self.weights)
        u = np.array([np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(DRAW_STREAM, i))).random()
                      for i in range(start, start + int(n))])
        return np.minimum(np.searchsorted(cdf, u * cdf[-1], side="right"), len(cdf) - 1)

    def row(self, index: int) -> dict[str, Any]:
        """Parameter set of posterior row `index` as scenario overrides (integer parameters rounded)."""
        out: dict[str, Any] = {}
        for k, v in zip(self.keys, self.values[int(index)]):
            out[k] = int(round(float(v))) if _is_int_field(k) else float(v)
        return out

    def sample(self, n: int, seed: int):
        """`n` weighted draws as a DataFrame: `draw` (the posterior row) and one column per parameter."""
        import pandas as pd

        idx = self.indices(n, seed)
        return pd.DataFrame([{"draw": int(i), **self.row(i)} for i in idx], columns=["draw", *self.keys])

    def identity(self) -> dict[str, Any]:
        """What a sweep's definition records of the posterior (its digest changes with any of it)."""
        return {"sha256": self.sha256, "parameters": list(self.keys), "draw_seed": self.seed, "rows": len(self)}


def _file(directory: Path, name: str) -> Path:
    path = directory / name
    if not path.exists():
        raise ExperimentError(f"{directory}: no {name} (a posterior directory holds {POSTERIOR_FILE} and "
                              f"{CALIBRATION_FILE}, as gridsim calibrate writes them)")
    if not path.is_file():
        raise ExperimentError(f"{path}: not a regular file")
    return path


def load_posterior(directory: str | Path) -> Posterior:
    """Read and check a posterior directory (module doc); one-line `ExperimentError` if it is not one."""
    d = Path(directory)
    if not d.is_dir():
        raise ExperimentError(f"--posterior {d}: {'not a directory' if d.exists() else 'no such directory'}; "
                              f"give the directory gridsim calibrate wrote ({POSTERIOR_FILE}, {CALIBRATION_FILE})")
    cal_path, post_path = _file(d, CALIBRATION_FILE), _file(d, POSTERIOR_FILE)
    try:
        cal = json.loads(cal_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExperimentError(f"{cal_path}: not readable JSON ({str(exc).splitlines()[0][:120]})") from None
    params = cal.get("parameters") if isinstance(cal, dict) else None
    if not isinstance(params, dict) or not params:
        raise ExperimentError(f"{cal_path}: key 'parameters': expects a mapping of the fitted parameters "
                              "(dotted scenario key → {prior: [lo, hi], …})")
    seed = cal.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ExperimentError(f"{cal_path}: key 'seed': expects an integer in 0 … 2^63-1 (the draws are made from it), "
                              f"got {seed!r}")
    blob = post_path.read_bytes()
    try:
        import pyarrow.parquet as pq

        table = pq.read_table(post_path)
    except Exception as exc:            # pyarrow raises many kinds for a damaged file
        raise ExperimentError(f"{post_path}: not a readable Parquet file ({type(exc).__name__})") from None
    columns = list(table.column_names)
    if WEIGHT not in columns:
        raise ExperimentError(f"{post_path}: no column '{WEIGHT}' (the draws' normalised weights)")
    keys = [c for c in columns if c != WEIGHT]
    if len(set(columns)) != len(columns):
        raise ExperimentError(f"{post_path}: a column name is repeated")
    if not keys:
        raise ExperimentError(f"{post_path}: no parameter columns besides '{WEIGHT}'")
    known = leaves()
    for k in keys:
        if k not in known:
            raise ExperimentError(f"{post_path}: column {k!r} is not a scenario key{suggest(k, known) if len(k) <= 100 else ''}; "
                                  "allowed: one column per fitted parameter, named by its dotted scenario key, and 'weight'")
        if k in NOT_AXES or k in RUN_SHAPE:
            raise ExperimentError(f"{post_path}: column {k!r}: not a model parameter a posterior can give "
                                  f"(not one of {', '.join((*NOT_AXES, *RUN_SHAPE))})")
        if k not in params:
            raise ExperimentError(f"{post_path}: column {k!r} is not among {cal_path.name}'s fitted 'parameters' "
                                  f"({', '.join(sorted(params))})")
    missing = sorted(set(params) - set(keys))
    if missing:
        raise ExperimentError(f"{cal_path}: parameter {missing[0]!r} has no column in {POSTERIOR_FILE}")
    if table.num_rows == 0:
        raise ExperimentError(f"{post_path}: no rows (no draws)")
    arrays = {}
    for c in columns:
        try:
            a = np.asarray(table.column(c).to_numpy(zero_copy_only=False), dtype=float)
        except (TypeError, ValueError):
            raise ExperimentError(f"{post_path}: column {c!r}: expects numbers") from None
        if not np.isfinite(a).all():
            raise ExperimentError(f"{post_path}: column {c!r}: row {int(np.flatnonzero(~np.isfinite(a))[0])} is not a "
                                  "finite number")
        arrays[c] = a
    w = arrays[WEIGHT]
    if (w < 0).any():
        raise ExperimentError(f"{post_path}: column '{WEIGHT}': row {int(np.flatnonzero(w < 0)[0])} is negative "
                              f"({w[w < 0][0]:g}); allowed: weights ≥ 0 summing to 1")
    if not math.isclose(float(w.sum()), 1.0, rel_tol=0, abs_tol=WEIGHT_TOLERANCE):
        raise ExperimentError(f"{post_path}: column '{WEIGHT}' sums to {w.sum():.9g}; allowed: weights ≥ 0 summing to 1 "
                              f"(within {WEIGHT_TOLERANCE:g})")
    return Posterior(path=d.resolve(), keys=keys, values=np.column_stack([arrays[k] for k in keys]), weights=w,
                     sha256=hashlib.sha256(blob).hexdigest(), calibration=cal)


# --------------------------------------------------------------------------- a sweep's draws
@dataclass
class SweepDraws:
    """The posterior as a sweep uses it: which draw each run gets, and which keys the design sets itself."""

    posterior: Posterior
    shadowed: list[str]                   # posterior keys the design fixes (an axis or `set`): the design wins
    _cache: dict[int, int] = field(default_factory=dict)

    def draw_index(self, key: int) -> int:
        """The posterior row of draw `key` (the replicate; with independent runs, point × replicates + replicate)."""
        if key not in self._cache:
            self._cache[key] = int(self.posterior.indices(1, self.posterior.seed, start=key)[0])
        return self._cache[key]

    def draw(self, key: int) -> tuple[int, dict[str, Any], dict[str, Any]]:
        """(posterior row, the drawn parameter set, the part of it the run applies)."""
        i = self.draw_index(key)
        values = self.posterior.row(i)
        return i, values, {k: v for k, v in values.items() if k not in self.shadowed}

    def meta(self) -> dict[str, Any]:
        return {**self.posterior.identity(), "dir": str(self.posterior.path), "shadowed": list(self.shadowed),
                "scenario": self.posterior.calibration.get("scenario")}


def attach(experiment, posterior: Posterior, note=None) -> None:
    """Give `experiment` the posterior's draws (replicate r ↦ θ_r) and check them on its scenario.

    A key the design fixes itself (an axis or `set`) keeps the design's values: one note says
    so.  Every drawn parameter set the runs will use is validated with the base scenario, so a
    value the scenario refuses (out of range, or a camera share where the city counts cameras)
    is one line before anything runs."""
    shadowed = [k for k in posterior.keys if k in experiment.spec.axes or k in experiment.spec.set]
    draws = SweepDraws(posterior, shadowed)
    for k in shadowed:
        where = "an axis" if k in experiment.spec.axes else "under 'set'"
        text = (f"{experiment.path.name}: {k!r} is {where} and in the posterior {posterior.path.name}: "
                "the design's values are used, not the posterior's draws of it")
        (note or (lambda t: print(f"gridsim: note: {t}", file=sys.stderr)))(text)
    n = experiment.spec.replicates * (1 if experiment.spec.common_random_numbers else len(experiment.points))
    checked: set[int] = set()
    for key in range(n):
        i, _, applied = draws.draw(key)
        if i in checked:
            continue
        checked.add(i)
        try:
            experiment.base.with_overrides(applied, f"{posterior.path / POSTERIOR_FILE} row {i}")
        except ScenarioError as exc:
            raise ExperimentError(str(exc)) from None
    experiment.draws = draws
