"""Experiment files and the designs they describe.

An experiment file (`experiments/*.yaml`, format in `experiments/README.md`) names a
scenario, a design (factorial, Latin hypercube or Sobol), the axes it varies, how many
replicates each design point gets and one seed.  This module validates the file with
one-line errors, draws the design points and gives every run its seed.  It knows the
scenario *schema* (to check axis keys and values) but nothing of the model.

Seeds.  Every run's seed comes from the experiment seed through `numpy.random.SeedSequence`:

- the samplers (LHS, Sobol) draw from `SeedSequence(seed)` itself;
- run seeds come from children `SeedSequence(seed, spawn_key=(replicate,))` when
  `common_random_numbers` is true (the default): replicate r of *every* design point runs
  with the same seed, so the same town, residents and dispute stream meet each lever
  setting and differences between points are the levers' doing, not the dice's (common
  random numbers; curves are smoother and paired comparisons sharper).  Intervals over
  replicates at one point are unaffected; only the errors of different points are
  correlated, which is what a paired comparison wants;
- with `common_random_numbers: false` the key is `(point, replicate)`: every run is
  independent.

The seed is an integer below 2**63 (it fits SQLite's INTEGER and `gridsim run --seed`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Any, Literal, get_args

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..execute import replicate_seed
from ..scenario import Scenario, ScenarioError, leaves, load_scenario, read_yaml_mapping, suggest
from ..scenario.loader import check_keys, shown
from ..scenario.timeline_read import expand, timeline_key

#: scenario keys that cannot be axes: the seed is the experiment's, the rest are not parameters
NOT_AXES = ("seed", "name", "description", "sources")
#: keys an axis may not share with the experiment's own fields (or `--days/--scale`)
RUN_SHAPE = ("days", "scale")


class ExperimentError(ScenarioError):
    """A bad experiment file or sweep request: the message is the whole one-line explanation."""


class ExperimentFile(BaseModel):
    """The schema of an experiment file.

    Args:
        scenario: the base scenario YAML, relative to the experiment file (or absolute).
        design: factorial (every combination of the axes' values), lhs (Latin hypercube)
            or sobol (scrambled Sobol sequence) over the axes' [low, high] ranges.
        samples: design points of an lhs or sobol design (ignored by factorial); sobol
            rounds up to a power of 2.
        replicates: runs of each design point, each with its own seed.
        seed: the one seed all run seeds are spawned from.
        common_random_numbers: replicate r of every point shares one seed (see module doc).
        set: scenario overrides (dotted keys) applied to every run.
        axes: dotted scenario key → list of values (factorial) or [low, high] (lhs, sobol).
        days, scale: run length and representative fraction (default: the scenario's).
        description: free text.
    """

    model_config = ConfigDict(extra="forbid")

    scenario: str
    design: Literal["factorial", "lhs", "sobol"] = "factorial"
    samples: int | None = Field(None, ge=1, le=1_000_000)
    replicates: int = Field(1, ge=1, le=10_000)
    seed: int = Field(..., ge=0, lt=2**63)
    common_random_numbers: bool = True
    set: dict[str, Any] = Field(default_factory=dict)
    axes: dict[str, list[Any]] = Field(..., min_length=1)
    days: int | None = Field(None, ge=1, le=36500)
    scale: float | None = Field(None, gt=0, le=1)
    description: str = ""


@dataclass(frozen=True)
class Run:
    """One run of a sweep: where it sits in the design and everything needed to redo it."""

    run_id: str
    point: int
    replicate: int
    axes: dict[str, Any]
    seed: int
    overrides: dict[str, Any]
    draw: dict[str, Any] | None = None     # with --posterior: {"index": posterior row, "values": θ drawn}


@dataclass
class Experiment:
    """A validated experiment: the file's content plus the resolved scenario and design."""

    name: str
    path: Path
    spec: ExperimentFile
    scenario_path: Path
    file_scenario: Scenario           # the scenario file as it is
    base: Scenario                    # the scenario file with `set` (and days/scale) applied
    points: list[dict[str, Any]]      # axis key → value, one mapping per design point
    notes: list[str]
    draws: Any = None                 # with --posterior: `posterior.SweepDraws` (replicate r ↦ θ_r)

    # ------------------------------------------------------------------ shape
    @property
    def axes(self) -> list[str]:
        return list(self.spec.axes)

    @property
    def base_file_data(self) -> dict[str, Any]:
        """The scenario file's parameters as a plain mapping (what a worker gets)."""
        return self.file_scenario.model_dump()

    @property
    def n_runs(self) -> int:
        return len(self.points) * self.spec.replicates

    def common_overrides(self) -> dict[str, Any]:
        """Overrides every run shares: the file's `set`, then its days and scale."""
        out = dict(self.spec.set)
        for key in RUN_SHAPE:
            value = getattr(self.spec, key)
            if value is not None:
                out[key] = value
        return out

    def runs(self) -> Iterator[Run]:
        """Every run, replicate-major (all points of replicate 0 first, so a partial sweep covers the design)."""
        common = self.common_overrides()
        crn = self.spec.common_random_numbers
        for r in range(self.spec.replicates):
            for p, values in enumerate(self.points):
                draw, theta = None, {}
                if self.draws is not None:    # θ_r: the same draw at every point (and axes/`set` win)
                    index, drawn, theta = self.draws.draw(r if crn else p * self.spec.replicates + r)
                    draw = {"index": index, "values": drawn}
                yield Run(run_id=run_id(p, r), point=p, replicate=r, axes=dict(values),
                          seed=run_seed(self.spec.seed, p, r, crn),
                          overrides={**common, **theta, **values}, draw=draw)

    # ------------------------------------------------------------------ identity
    def definition(self) -> dict[str, Any]:
        """What determines the sweep's results: the spec, the design points and every base parameter.

        Not the file's name or where the scenario lives: a renamed copy is the same experiment,
        an edited scenario file is not (its parameters are here)."""
        spec = self.spec.model_dump(mode="json", exclude={"scenario", "description"})
        out = {"spec": spec, "points": _plain(self.points), "base_parameters": _plain(self.base.flat())}
        if self.draws is not None:        # --posterior: its file's sha256, parameters and draw seed
            out["posterior"] = self.draws.posterior.identity()
        return out

    def digest(self) -> str:
        blob = json.dumps(self.definition(), sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def run_id(point: int, replicate: int) -> str:
    return f"p{point:05d}-r{replicate:04d}"


def run_seed(seed: int, point: int, replicate: int, common: bool = True) -> int:
    """The run's model seed, spawned from the experiment seed by the one convention of `sim.execute`."""
    return replicate_seed(seed, replicate, None if common else point)


def set_args(overrides: dict[str, Any]) -> list[str]:
    """`--set KEY=VALUE` arguments of `gridsim run` that apply `overrides` (values in YAML syntax)."""
    out = []
    for key, value in overrides.items():
        text = yaml.safe_dump(_plain(value), default_flow_style=True, width=10_000).strip()
        out += ["--set", f"{key}={text.removesuffix('...').strip()}"]
    return out


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


# --------------------------------------------------------------------------- samplers
# The samplers know axes only as names with values or ranges; nothing of the model.
def factorial_points(levels: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the axes' values, the last axis varying fastest."""
    keys = list(levels)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(levels[k] for k in keys))]


def unit_samples(design: str, n: int, d: int, seed: int) -> np.ndarray:
    """`n` points in [0, 1)^d from scipy.stats.qmc, drawn from `SeedSequence(seed)`."""
    from scipy.stats import qmc

    rng = np.random.default_rng(np.random.SeedSequence(seed))
    if design == "lhs":
        return qmc.LatinHypercube(d, rng=rng).random(n)
    if design == "sobol":
        if n & (n - 1):
            raise ValueError(f"sobol samples must be a power of 2, not {n}")
        return qmc.Sobol(d, scramble=True, rng=rng).random_base2(int(math.log2(n)))
    raise ValueError(f"unknown design {design!r}")


def scaled_points(unit: np.ndarray, ranges: dict[str, tuple[float, float]], integer: set[str]) -> list[dict[str, Any]]:
    """Map unit-cube samples onto [low, high] per axis (integer axes rounded)."""
    out = []
    keys = list(ranges)
    for row in unit:
        point = {}
        for k, u in zip(keys, row):
            lo, hi = ranges[k]
            v = lo + float(u) * (hi - lo)
            point[k] = int(round(v)) if k in integer else v
        out.append(point)
    return out


def next_power_of_2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


# --------------------------------------------------------------------------- loading
def _leaf_of(key: str) -> str | None:
    """The schema leaf an axis key sets: itself, or for `timeline[i].set.KEY` the KEY (its first leaf, for a
    wildcard); None for a change's date, label or source, and for a campaign's factor."""
    tk = timeline_key(key)
    if tk is None:
        return key
    found = expand(tk[2]) if tk[1] == "set" else []
    return found[0] if found else None


def _is_int_field(key: str) -> bool:
    leaf = _leaf_of(key)
    return leaf is not None and leaves()[leaf].annotation is int


def _is_number_field(key: str) -> bool:
    tk = timeline_key(key)
    if tk is not None and tk[1] == "multiply":
        return True                         # a campaign's factor
    leaf = _leaf_of(key)
    if leaf is None:
        return False
    ann = leaves()[leaf].annotation         # an optional number (`float | None`, e.g. camera_coverage) is a number field
    return ann in (int, float) or (isinstance(ann, UnionType) and {a for a in get_args(ann) if a is not type(None)} <= {int, float})


def _known(key: str) -> bool:
    """A scenario leaf, or one field of one change of the timeline (`timeline[0].on`, `timeline[1].set.KEY`)."""
    return key in leaves() or timeline_key(key) is not None


def _k(key: str) -> str:
    """A key as quoted in a message (cut if absurdly long)."""
    return repr(key if len(key) <= 80 else key[:77] + "...")


def _near(key: str, choices) -> str:
    return suggest(key, choices) if len(key) <= 100 else ""


def _one_line(origin: str, exc: ValidationError) -> ExperimentError:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return ExperimentError(f"{origin}: unknown key {_k(key)}{_near(key, ExperimentFile.model_fields)}")
    if err["type"] == "missing":
        return ExperimentError(f"{origin}: missing key {_k(key)}")
    what = " ".join(str(err["msg"]).split()).rstrip(".")[:160]
    return ExperimentError(f"{origin}: key {_k(key)}: {what} (got {shown(err.get('input'))})")


#: most values of one factorial axis (each is validated as a scenario, ≈0.3 ms apiece)
MAX_AXIS_VALUES = 1_000

#: the experiment file's own numeric and true/false fields (pydantic's lax mode would take
#: `replicates: true` as 1 and `common_random_numbers: 0` as false)
_NUMBER_FIELDS = ("samples", "replicates", "seed", "days", "scale")
_BOOL_FIELDS = ("common_random_numbers",)


def read_yaml(path: Path) -> Any:
    """An experiment file's raw mapping: the scenario loader's limits and one-line errors
    (size, nesting, aliases, duplicate keys), keys that are strings, and strict types for
    the file's own numbers and flags."""
    origin = str(path)
    try:
        raw = read_yaml_mapping(path, "experiment")
        check_keys(raw, origin)
    except ScenarioError as exc:
        raise ExperimentError(str(exc)) from None
    for key in _NUMBER_FIELDS:
        if isinstance(raw.get(key), bool):
            raise ExperimentError(f"{origin}: key {key!r}: expects a number, got {str(raw[key]).lower()} (a YAML true/false)")
    for key in _BOOL_FIELDS:
        if key in raw and not isinstance(raw[key], bool):
            raise ExperimentError(f"{origin}: key {key!r}: expects true or false, got {shown(raw[key])}")
    return raw


#: most runs one sweep may hold: its store, its progress and its analysis stay a size one
#: machine handles (a million runs of the smallest town take days on two cores)
MAX_RUNS = 1_000_000


def _check_design_size(origin: str, spec: ExperimentFile) -> None:
    """Count the runs before drawing any point: refuse a design of more than MAX_RUNS at once."""
    if spec.design == "factorial":
        sizes = [len(v) for v in spec.axes.values()]
        points = math.prod(sizes)
        what = " × ".join(f"{n:,}" for n in sizes) + f" axis values = {points:,} points"
    else:
        points = next_power_of_2(spec.samples) if spec.design == "sobol" and spec.samples else (spec.samples or 0)
        what = f"{points:,} {spec.design} samples"
    runs = points * spec.replicates
    if runs > MAX_RUNS:
        raise ExperimentError(f"{origin}: the design has {what} × {spec.replicates:,} replicates = {runs:,} runs; "
                              f"at most {MAX_RUNS:,} runs: use fewer axis values or replicates, or an lhs/sobol design")


def load_experiment(path: str | Path, days: int | None = None, scale: float | None = None,
                    note=None, replicates: int | None = None) -> Experiment:
    """Read, validate and expand an experiment file.

    `days`, `scale` and `replicates` (the command line's) take the place of the file's; being
    part of the spec, they are part of the experiment's identity (`definition`).  `note(text)` is
    told of adjustments (Sobol sample counts rounded up); default: print to stderr.
    """
    path = Path(path)
    origin = str(path)
    raw = read_yaml(path)
    try:
        spec = ExperimentFile.model_validate(raw)
    except ValidationError as exc:
        raise _one_line(origin, exc) from None
    if days is not None:
        spec = spec.model_copy(update={"days": days})
    if scale is not None:
        spec = spec.model_copy(update={"scale": scale})
    if replicates is not None:
        if not 1 <= replicates <= 10_000:
            raise ExperimentError(f"--replicates {replicates}: must be between 1 and 10000")
        spec = spec.model_copy(update={"replicates": replicates})
    if spec.days is not None and not 1 <= spec.days <= 36500:
        raise ExperimentError(f"--days {spec.days}: must be between 1 and 36500")
    if spec.scale is not None and not 0 < spec.scale <= 1:
        raise ExperimentError(f"--scale {spec.scale}: must be > 0 and ≤ 1")
    _check_design_size(origin, spec)

    try:
        scenario_path = Path(spec.scenario)
        if not scenario_path.is_absolute():
            scenario_path = (path.parent / scenario_path).resolve()
        found, regular = scenario_path.exists(), scenario_path.is_file()
    except (OSError, ValueError):      # a NUL byte, a name too long for the system
        raise ExperimentError(f"{origin}: key 'scenario': not a usable file name {shown(spec.scenario, 100)}") from None
    if not found:
        raise ExperimentError(f"{origin}: key 'scenario': no such file {shown(str(scenario_path), 200)}")
    if not regular:
        raise ExperimentError(f"{origin}: key 'scenario': {shown(str(scenario_path), 200)} is a directory or device, "
                              "not a scenario file")

    for key in spec.set:
        if not _known(key):
            raise ExperimentError(f"{origin}: key {_k('set.' + key)}: unknown scenario key{_near(key, leaves())}")
        if key == "seed":
            raise ExperimentError(f"{origin}: key 'set.seed': run seeds are spawned from the experiment's 'seed'")
        if key in RUN_SHAPE and getattr(spec, key) is not None:
            raise ExperimentError(f"{origin}: key 'set.{key}': also fixed by '{key}' (or --{key}); give it in one place")
    for key in spec.axes:
        if not _known(key):
            raise ExperimentError(f"{origin}: key {_k('axes.' + key)}: unknown scenario key{_near(key, leaves())}")
        if key in NOT_AXES:
            raise ExperimentError(f"{origin}: key 'axes.{key}': {key!r} cannot be an axis")
        if key in spec.set:
            raise ExperimentError(f"{origin}: key 'axes.{key}': also fixed under 'set'; give it in one place")
        if key in RUN_SHAPE and getattr(spec, key) is not None:
            raise ExperimentError(f"{origin}: key 'axes.{key}': also fixed by '{key}' (or --{key}); give it in one place")

    common = {k: v for k, v in (("days", spec.days), ("scale", spec.scale)) if v is not None}
    try:
        file_scenario = load_scenario(scenario_path)
        base = file_scenario.with_overrides({**spec.set, **common}, f"{origin} set")
    except ScenarioError as exc:
        raise ExperimentError(str(exc)) from None

    notes: list[str] = []
    if spec.design == "factorial":
        for key, values in spec.axes.items():
            if not values:
                raise ExperimentError(f"{origin}: key 'axes.{key}': give at least one value")
            if len(values) > MAX_AXIS_VALUES:   # each value is validated: keep that well under a second
                raise ExperimentError(f"{origin}: key 'axes.{key}': {len(values):,} values; a factorial axis takes at most "
                                      f"{MAX_AXIS_VALUES:,} (an lhs or sobol design samples a range densely)")
            for i, v in enumerate(values):      # valid values first: they are numbers, text or lists of numbers
                _check_value(base, key, v, f"{origin} axes.{key}[{i}]")
            if len({json.dumps(v, sort_keys=True, default=str) for v in values}) != len(values):
                raise ExperimentError(f"{origin}: key 'axes.{key}': a value is repeated")
        points = factorial_points(spec.axes)
    else:
        if spec.samples is None:
            raise ExperimentError(f"{origin}: key 'samples': a {spec.design} design needs the number of points")
        n = spec.samples
        if spec.design == "sobol" and n & (n - 1):
            n = next_power_of_2(n)
            notes.append(f"{origin}: sobol samples {spec.samples} rounded up to {n} (a power of 2 keeps the sequence balanced)")
        ranges: dict[str, tuple[float, float]] = {}
        for key, bounds in spec.axes.items():
            if not _is_number_field(key):
                hint = " (a change's date: give the dates as values of a factorial axis)" if timeline_key(key) else ""
                raise ExperimentError(f"{origin}: key 'axes.{key}': a {spec.design} axis must be a numeric parameter{hint}")
            if len(bounds) != 2 or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds):
                raise ExperimentError(f"{origin}: key 'axes.{key}': a {spec.design} axis is [low, high], got {shown(bounds)}")
            for i, v in enumerate(bounds):      # first: a value the scenario refuses is named as such
                _check_value(base, key, v, f"{origin} axes.{key}[{i}]")
            lo, hi = float(bounds[0]), float(bounds[1])
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ExperimentError(f"{origin}: key 'axes.{key}': a {spec.design} axis needs finite bounds, got {shown(bounds)}")
            if not lo < hi:
                raise ExperimentError(f"{origin}: key 'axes.{key}': low must be below high, got {shown(bounds)}")
            ranges[key] = (lo, hi)
        integer = {k for k in ranges if _is_int_field(k)}
        points = scaled_points(unit_samples(spec.design, n, len(ranges), spec.seed), ranges, integer)
    for text in notes:
        (note or (lambda t: print(f"gridsim: note: {t}", file=sys.stderr)))(text)
    return Experiment(name=path.stem, path=path.resolve(), spec=spec, scenario_path=scenario_path, file_scenario=file_scenario, base=base,
                      points=points, notes=notes)


def _check_value(base: Scenario, key: str, value: Any, origin: str) -> None:
    """Validate the scenario with this axis value (the scenario's own one-line error)."""
    try:
        base.with_overrides({key: value}, origin)
    except ScenarioError as exc:
        raise ExperimentError(str(exc)) from None
