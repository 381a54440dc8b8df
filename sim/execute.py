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

Memory.  `memory_estimate(scenario)` says, from the parameters alone and in microseconds,
how many bytes a run will need at its peak (residents, cells, every server's busy row over
the horizon, the expected disputes and incidents, the DataCollector); `check_memory`
refuses work that would not fit in the memory available, so `gridsim run`, sweeps,
calibration and validation fail in one line before allocating anything.  Measured against
peak RSS (`sim.bench.PeakRSS`, above the interpreter's own): 100,000 residents × 545 days
46 MiB estimated vs 46 MiB, 1 M × 545 165 vs 155 MiB, Huizhou at scale 0.5 (3.0 M) 437 vs
416 MiB; the busy rows are an upper bound (pages of servers that never work stay unmapped).
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
        daily=daily_frame(model) if daily else None,
        model=model if keep_model else None,
        extras={fn.__name__: fn(model) for fn in extras} if extras else None,
    )


def daily_frame(model):
    """The DataCollector's daily series; with a calendar (`start_date`) a `date` column (YYYY-MM-DD) first."""
    df = model.datacollector.get_model_vars_dataframe()
    tl = getattr(model, "timeline", None)
    if tl is not None and tl.start is not None:
        import pandas as pd

        df = df.copy()
        dates = pd.Timestamp(tl.start) + pd.to_timedelta(df["day"].to_numpy() - 1, unit="D")
        df.insert(0, "date", dates.strftime("%Y-%m-%d"))
    return df


# --------------------------------------------------------------------------- memory, before allocating
#: bytes a resident costs: 40 in its columns (population.py) and about 56 more in the
#: temporaries of the daily whole-array update, the survey and the summary
BYTES_PER_RESIDENT = 96
#: bytes a cell costs: a dozen per-cell arrays of the town and their temporaries while it is built
BYTES_PER_CELL = 160
#: bytes a server costs besides its busy row: its Mesa agent and its entries in the pool's arrays
BYTES_PER_SERVER = 1_200
#: bytes of event-heap entries and lists per dispute or incident, besides its table row
BYTES_PER_EVENT_OBJECTS = 100
#: bytes per daily value the DataCollector keeps (Python objects in lists), and per tracked
#: resident-day (a tuple of five values, then a DataFrame row)
BYTES_PER_DAILY_VALUE = 40
BYTES_PER_TRACKED_DAY = 180
#: bytes every run needs whatever its size (first use of scipy.stats, Mesa's bookkeeping, the summary)
BYTES_PER_RUN = 32 * 2**20
#: a worker process (interpreter, numpy, pandas, Mesa, the model's code) before its first run
BYTES_PER_PROCESS = 160 * 2**20
#: refuse when the need exceeds this share of the memory available now
MEMORY_MARGIN = 0.8


def _value(scenario, overrides: dict[str, Any] | None, key: str) -> Any:
    if overrides and key in overrides:
        return overrides[key]
    value: Any = scenario
    for part in key.split("."):
        value = getattr(value, part)
    return value


def memory_estimate(scenario, overrides: dict[str, Any] | None = None, *, outputs: bool = False) -> int:
    """Bytes one run of `scenario` (with `overrides` by dotted key, unvalidated) needs at its
    peak, besides the process it runs in — computed from the parameters alone, in
    microseconds, so it can be checked before anything is allocated.

    Residents and cells (their columns and daily temporaries), every server (its busy row of
    float32 over the horizon, `ServerPool.busy`, and its Mesa agent), the expected disputes
    and incidents (their table rows and event-heap entries) and the DataCollector (daily
    values, tracked residents).  `outputs`: also the frames `gridsim run` builds to write
    the event logs (about two more copies of the tables)."""
    import math

    from .crime import INCIDENT_SCHEMA
    from .disputes import DISPUTE_SCHEMA
    from .scenario import CRIME_TYPES

    changes = _timeline_of(scenario, overrides)

    def v(key: str) -> float:
        """The value, or under a timeline the value that needs the most memory on any day."""
        x = float(_value(scenario, overrides, key))
        for y in _changed_values(changes, key, x):
            x = min(x, y) if key in MEMORY_SHRINKS else max(x, y)
        return x

    n = max(1.0, round(v("population") * v("scale")))
    days = v("warmup_days") + v("days")
    cells = math.ceil(math.sqrt(math.ceil(n / v("town.residents_per_cell")))) ** 2
    grids = n / v("residents_per_grid") + 1
    communities = n / v("town.residents_per_community") + 1
    townships = n / v("town.residents_per_township") + 1

    def staff(per_10k: float, units: float) -> float:
        return per_10k * n / 1e4 + units if per_10k > 0 else 0.0   # at least one per unit

    servers = (grids * max(1.0, math.ceil(v("staffing.workers_per_grid")))
               + staff(v("staffing.police_per_10k") * v("staffing.police_on_duty_share"), townships)
               + staff(v("staffing.mediators_per_10k"), communities)
               + staff(v("staffing.township_mediators_per_10k"), townships)
               + staff(v("staffing.court_servers_per_100k") / 10.0, 1))
    if changes:        # a rebuilt pool and its predecessor live side by side for a moment
        servers += grids * max(1.0, math.ceil(v("staffing.workers_per_grid")))
    disputes = v("disputes.rate_per_10k_year") / 1e4 / 365.0 * n * days * 1.3 + 64
    incidents = sum(v(f"crime.rate_per_10k_year.{k}") for k in CRIME_TYPES) / 1e4 / 365.0 * n * days * 1.3 + 64
    row_d = sum(np.dtype(dt).itemsize for dt, _ in DISPUTE_SCHEMA.values())
    row_i = sum(np.dtype(dt).itemsize for dt, _ in INCIDENT_SCHEMA.values())
    # tables are allocated for 1.3 × the expected count (filled, so every page is touched)
    tables = disputes * (row_d + BYTES_PER_EVENT_OBJECTS) + incidents * (row_i + BYTES_PER_EVENT_OBJECTS)
    if outputs:
        tables += 2 * (disputes * row_d + incidents * row_i)
    total = (BYTES_PER_RUN + n * BYTES_PER_RESIDENT + cells * BYTES_PER_CELL
             + servers * (4.0 * (days + 1) + BYTES_PER_SERVER)   # busy rows: an upper bound (untouched pages stay unmapped)
             + tables
             + days * 30 * BYTES_PER_DAILY_VALUE
             + min(v("track_residents"), n) * days * BYTES_PER_TRACKED_DAY)
    return int(total)


def _timeline_of(scenario, overrides: dict[str, Any] | None) -> list[dict]:
    """The scenario's timeline with `timeline[i]...` overrides applied (unvalidated: for the estimate only)."""
    changes = [dict(e) for e in (getattr(scenario, "timeline", None) or [])]
    for key, value in (overrides or {}).items():
        if isinstance(key, str) and key.startswith("timeline["):
            from .scenario.timeline_read import timeline_key

            tk = timeline_key(key)
            if tk is not None and tk[0] < len(changes) and tk[2] is not None and isinstance(changes[tk[0]].get(tk[1]), dict):
                changes[tk[0]][tk[1]] = {**changes[tk[0]][tk[1]], tk[2]: value}
    return changes


def _changed_values(changes: list[dict], key: str, base: float) -> list[float]:
    """Every value a timeline gives `key`: set by a step or ramp, or the base times a campaign's factor (campaigns
    taken one at a time, and all together)."""
    from fnmatch import fnmatchcase

    out, product = [], 1.0
    for e in changes:
        for pattern, value in (e.get("set") or {}).items():
            if fnmatchcase(key, pattern) and isinstance(value, int | float) and not isinstance(value, bool):
                out.append(float(value))
        for pattern, factor in (e.get("multiply") or {}).items():
            if fnmatchcase(key, pattern) and isinstance(factor, int | float):
                out.append(base * float(factor))
                product *= max(float(factor), 1.0)
    if product != 1.0:
        out.append(max([base, *out]) * product)
    return out


def gb(nbytes: float) -> str:
    """Bytes as GB with the precision a message needs (0.25 GB, 3.1 GB, 120 GB)."""
    g = nbytes / 1e9
    return f"{g:.2g} GB" if g < 10 else f"{g:,.0f} GB"


def check_memory(need: float, what: str, hint: str = "lower --scale or --days") -> None:
    """Refuse (one-line ScenarioError) when `need` bytes would not fit in the memory available
    now, with a margin (`MEMORY_MARGIN`); `what` names the work, e.g. "the run (6,042,852 residents × 545 days)"."""
    import psutil

    from .scenario import ScenarioError

    available = psutil.virtual_memory().available
    if need > MEMORY_MARGIN * available:
        raise ScenarioError(f"{what} would need about {gb(need)}, the machine has {gb(available)} available; {hint}")


#: seeds are stored as SQLite INTEGER (signed 64 bits) with a sweep's runs
MAX_SEED = 2**63 - 1


def check_seed(seed: int | None, flag: str = "--seed") -> None:
    """Refuse a seed outside 0 … 2**63 − 1 in one line (numpy takes no negative seed; a sweep
    store holds 64-bit integers)."""
    from .scenario import ScenarioError

    if seed is not None and not 0 <= seed <= MAX_SEED:
        shown = seed if abs(seed) < 10**30 else f"(a {seed.bit_length()}-bit integer)"
        raise ScenarioError(f"{flag} {shown}: must be between 0 and 2**63 − 1 ({MAX_SEED})")


#: parameters of which more means less memory (more residents per unit: fewer units)
MEMORY_SHRINKS = ("town.residents_per_cell", "residents_per_grid", "town.residents_per_community",
                  "town.residents_per_township")


def largest_overrides(axes: dict[str, list[Any]]) -> dict[str, Any]:
    """The corner of a design that needs the most memory: each numeric axis at its largest
    value (its smallest for `MEMORY_SHRINKS`).  `memory_estimate` grows with every other
    number it reads, so this bounds every point of a factorial design and every sample of
    an lhs/sobol range."""
    out = {}
    for key, values in axes.items():
        nums = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if nums:
            out[key] = min(nums) if key in MEMORY_SHRINKS else max(nums)
    return out
