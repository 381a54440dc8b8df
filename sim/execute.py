"""One run of the model from (scenario, seed): the only way any command runs the model.

`gridsim run`, sweeps, calibration, validation and bench all call `execute`, so every
number any of them reports can be redone alone with `gridsim run SCENARIO --seed S`, and
there is one seed convention:

- a single run uses the seed it is given (`--seed`, else the scenario's `seed`);
- replicate `r` of an experiment whose seed is `s` runs with `replicate_seed(s, r)`, and,
  when design points do not share random numbers, `replicate_seed(s, r, point=p)`: both
  spawned by numpy's `SeedSequence` (`spawn_key`), so streams of different replicates are
  independent and the same replicate at two design points meets the same dice (common
  random numbers).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def replicate_seed(seed: int, replicate: int, point: int | None = None) -> int:
    """Model seed of one replicate (at one design point, if `point` is given) of experiment seed `seed`."""
    key = (int(replicate),) if point is None else (int(point), int(replicate))
    state = np.random.SeedSequence(int(seed), spawn_key=key).generate_state(1, dtype=np.uint64)[0]
    return int(state >> np.uint64(1))


def replicate_seeds(seed: int, replicates: int) -> list[int]:
    """The seeds of replicates 0 … n-1: the same list wherever a comparison is paired."""
    return [replicate_seed(seed, r) for r in range(int(replicates))]


@dataclass
class RunResult:
    """What one run gives back: its outcomes (names in `sim.outcomes.OUTCOMES`), and on request
    the daily series, the finished model itself, and values of `extras(model)`."""

    seed: int
    outcomes: dict[str, Any]
    wall_seconds: float
    init_seconds: float
    daily: Any = None          # pandas DataFrame of the DataCollector's model reporters
    model: Any = None          # the finished GovernanceModel (keep_model=True)
    extras: dict[str, Any] | None = None


def execute(scenario, seed: int | None = None, *, daily: bool = False, keep_model: bool = False,
            extras: Sequence[Callable] = (), progress: Callable | None = None) -> RunResult:
    """Build `GovernanceModel(scenario, rng=seed)`, run it to its horizon and summarise it.

    `scenario` is a validated `sim.Scenario` (loading files is `sim.load_scenario`'s job);
    `seed` None means the scenario's own `seed`.  `progress(model)` is called after each
    day; each function of `extras` is called with the finished model and its value stored
    under the function's name.
    """
    from .model import GovernanceModel
    from .outcomes import summarise

    t0 = time.perf_counter()
    model = GovernanceModel(scenario, rng=scenario.seed if seed is None else seed)
    t1 = time.perf_counter()
    model.run(progress)
    outcomes = summarise(model)
    wall = time.perf_counter() - t0
    return RunResult(
        seed=model.seed,
        outcomes=outcomes,
        wall_seconds=wall,
        init_seconds=t1 - t0,
        daily=model.datacollector.get_model_vars_dataframe() if daily else None,
        model=model if keep_model else None,
        extras={fn.__name__: fn(model) for fn in extras} if extras else None,
    )
