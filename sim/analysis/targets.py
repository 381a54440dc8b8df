"""Calibration targets as data: a targets YAML, checked by pydantic, refused in one line.

A targets file names a scenario, the reported figures the fit must reproduce (each with an
observation-error model and a source), the figures it must predict without seeing
(`held_out: true`), and the assumed parameters to fit with their priors.  A target may
reference a figure of the validation's figure catalogue (`figure: ID`) and inherit its
value, quote, outcome and error model; this module never imports that catalogue (it is
the validation package, a sideways import the house forbids): the caller passes it in,
with held-out values hidden (`Figures.masked()`), so a held-out value cannot reach a fit by
construction.  `reported_value` reads one only when a prediction is compared.

Periods: a calendar year label of `sim.outcomes.periods` ("2015"), or "run" (the whole
observed run).  A year is simulated as its own observed window: start_date on its first
day, everything before it warm-up, days = its length (`period_overrides`), so whole-run
outcomes are that year's and any outcome key may be a target.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..catalogue import OUTCOMES, PERIODIC
from ..scenario import Scenario, ScenarioError, bounds, is_assumption, leaves, load_scenario, param_source, plausible, suggest

RUN = "run"


class TargetsError(ScenarioError):
    """A malformed targets file (one line: the file, the entry, what is allowed)."""


class ErrorSpec(BaseModel):
    """Observation error: exactly one of a survey's binomial error (`survey_n`: N, or
    "scenario" for the scenario's assumed perception.survey_n), a standard deviation `sd`, a
    rounding half-width `tolerance` (uniform: sd = tolerance/√3), or a `band` [lo, hi] (the
    truth anywhere inside, uniformly; one side may be a physical limit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    survey_n: Annotated[int, Field(ge=1)] | Literal["scenario"] | None = None
    sd: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    tolerance: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    band: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _one(self):
        given = [k for k in ("survey_n", "sd", "tolerance", "band") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of survey_n, sd, tolerance, band")
        if self.band is not None and not (math.isfinite(self.band[0]) and math.isfinite(self.band[1])
                                          and self.band[0] < self.band[1]):
            raise ValueError(f"band {list(self.band)}: needs finite lo < hi")
        return self


class TargetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    figure: str | None = None
    city: str | None = None
    period: str = RUN
    outcome: str | None = None
    value: Annotated[float, Field(allow_inf_nan=False)] | None = None
    change: Literal["relative", "difference"] | None = None
    change_from: str | None = None
    error: ErrorSpec | None = None
    discrepancy_sd: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    discrepancy_source: str | None = None
    quote: str | None = None
    source: str | None = None
    held_out: bool = False


class ParamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    prior: tuple[float, float] | None = None
    source: str | None = None


class Settings(BaseModel):
    """Run sizes of a fit (`quick` overrides any of them for --quick)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    particles: Annotated[int, Field(ge=4, le=100_000)] = 100
    generations: Annotated[int, Field(ge=1, le=100)] = 6
    replicates: Annotated[int, Field(ge=1, le=1000)] = 2
    predictive_draws: Annotated[int, Field(ge=10, le=100_000)] = 60
    #: scale of the predictive check's whole-trajectory runs (None: the fit's).  Counts of a year
    #: are small at the fit's scale, so changes between years are read at a larger one.
    predictive_scale: Annotated[float, Field(gt=0, le=1)] | None = None
    acceptance: Annotated[float, Field(gt=0, lt=1)] = 0.3


class TargetsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str | None = None
    scenario: str
    scale: Annotated[float, Field(gt=0, le=1)] | None = None
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 20261203
    settings: Settings = Settings()
    quick: dict[str, Any] = {}
    loo: dict[str, Any] = {}           # sizes of the leave-one-out refits (default: quick's)
    overrides: dict[str, Any] = {}
    targets: list[TargetSpec]
    parameters: dict[str, ParamSpec | None]


# --------------------------------------------------------------------------- resolved
class Target(BaseModel):
    """One target after the figure it references is read in (value None: held out, hidden)."""

    model_config = ConfigDict(frozen=True)
    id: str
    outcome: str
    period: str
    city: str | None
    value: float | None
    change: str | None = None
    change_from: str | None = None
    kind: Literal["normal", "band"]
    sd: float = 0.0                      # observation sd (normal); 0 for a band
    survey_n: int | None = None          # binomial: sd is recomputed at the predicted value
    band: tuple[float, float] | None = None
    discrepancy_sd: float = 0.0
    discrepancy_source: str | None = None
    error_text: str
    figure: str | None = None
    quote: str | None = None
    source: str | None = None
    held_out: bool = False

    def public(self) -> dict:
        """What calibration.json keeps: everything, but a held-out target's value left out."""
        d = self.model_dump()
        if self.held_out:
            d.pop("value")
        return d


class Param(BaseModel):
    model_config = ConfigDict(frozen=True)
    key: str
    prior: tuple[float, float]
    source: str
    default: float


class Targets(BaseModel):
    """A checked targets file: scenario, targets (held-out values hidden), parameters."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    path: str
    name: str
    scenario_path: str
    scenario: Any                      # the validated sim.Scenario with the file's overrides
    scale: float
    seed: int
    settings: Settings
    targets: tuple[Target, ...]
    params: tuple[Param, ...]
    text: str                          # the file as read (its digest ties a results directory to it)
    loo: Settings | None = None        # the leave-one-out refits' sizes (None: --quick's)

    @property
    def fitted(self) -> list[Target]:
        return [t for t in self.targets if not t.held_out]

    @property
    def held_out(self) -> list[Target]:
        return [t for t in self.targets if t.held_out]

    @property
    def fit_period(self) -> str:
        return self.fitted[0].period


def _one_line(exc: ValidationError) -> str:
    e = exc.errors()[0]
    where = ".".join(str(p) for p in e["loc"]) or "file"
    return f"{where}: {e['msg']}".replace("Value error, ", "")


def year_bounds(scenario: Scenario, label: str) -> tuple[int, int] | None:
    """(first, stop) simulation-day offsets from start_date of a year label; None for `run`."""
    if label == RUN:
        return None
    if scenario.start_date is None:
        raise TargetsError(f"period {label!r}: the scenario has no start_date (calendar); use period: run")
    if not (len(label) == 4 and label.isdigit()):
        raise TargetsError(f"period {label!r}: allowed: a calendar year such as '2015' or 'run' (the whole observed run)")
    start = dt.date.fromisoformat(str(scenario.start_date))
    first, stop = dt.date(int(label), 1, 1), dt.date(int(label) + 1, 1, 1)
    end = start + dt.timedelta(days=scenario.days)
    if first < start or stop > end:
        raise TargetsError(f"period {label!r}: not a whole year of the run ({start} to {end - dt.timedelta(days=1)})")
    return (first - start).days, (stop - start).days


def period_overrides(scenario: Scenario, label: str) -> dict[str, Any]:
    """Overrides that simulate period `label` as the run's observed window (see module doc):
    the days before it become warm-up; timeline changes after it are dropped (they would
    never happen; a period before a change is bit-identical to the longer run)."""
    yb = year_bounds(scenario, label)
    if yb is None:
        return {}
    first, stop = yb
    start = dt.date.fromisoformat(str(scenario.start_date))
    stop_date = start + dt.timedelta(days=stop)
    timeline = [e for e in (scenario.timeline or [])
                if dt.date.fromisoformat(str(e.get("on") or e.get("from"))) < stop_date]
    out: dict[str, Any] = {"days": stop - first, "timeline": timeline}
    if first:
        out.update({"start_date": start + dt.timedelta(days=first), "warmup_days": scenario.warmup_days + first})
    return out


def _error_of_figure(fig) -> dict:
    e = fig.error
    if e is None:
        return {}
    return {"survey_n": e.survey_n} if e.survey_n is not None else {"tolerance": e.tolerance}


def _period(scenario: Scenario, label: str, where: str) -> None:
    try:
        year_bounds(scenario, label)
    except TargetsError as exc:
        raise TargetsError(f"{where}: {exc}") from None


def _resolve(spec: TargetSpec, figures, scenario: Scenario, where: str) -> Target:
    fig = None
    if spec.figure is not None:
        if figures is None:
            raise TargetsError(f"{where}: figure {spec.figure!r} given but no figure catalogue")
        try:
            fig = figures[spec.figure]
        except KeyError as exc:          # FigureError is a ScenarioError; a KeyError from a plain mapping
            raise TargetsError(f"{where}: no figure {spec.figure!r}") from exc
        if fig.held_out and not spec.held_out:
            raise TargetsError(f"{where}: figure {spec.figure!r} is held out (figures.yaml) and may not be fitted; "
                               "set held_out: true to predict it")
    outcome = spec.outcome or (fig.outcome if fig is not None else None)
    if outcome is None:
        raise TargetsError(f"{where}: give outcome (an outcome key of `gridsim outcomes`)")
    if outcome not in OUTCOMES:
        raise TargetsError(f"{where}: outcome {outcome!r} is not in sim.catalogue.OUTCOMES{suggest(outcome, OUTCOMES)}")
    _period(scenario, spec.period, where)
    change = spec.change
    if change is None and fig is not None and fig.change:
        change = "relative" if "relative" in fig.unit else "difference"
    change_from = spec.change_from
    if change is not None:
        if change_from is None:
            if spec.period == RUN or not spec.period.isdigit():
                raise TargetsError(f"{where}: a change needs change_from (the period it is a change on)")
            change_from = str(int(spec.period) - 1)
        _period(scenario, change_from, where)
    if spec.value is not None and fig is not None:
        raise TargetsError(f"{where}: give value or figure, not both")
    value = spec.value if fig is None else (None if getattr(fig, "masked", False) else fig.value)
    err = spec.error.model_dump(exclude_none=True) if spec.error is not None else _error_of_figure(fig) if fig else {}
    if not err:
        raise TargetsError(f"{where}: give error (survey_n, sd, tolerance or band)")
    if value is None and not spec.held_out and "band" not in err:
        raise TargetsError(f"{where}: a fitted target needs a value")
    quote = spec.quote or (fig.quote if fig is not None else None)
    source = spec.source or (fig.source if fig is not None else None)
    if not quote and not source:
        raise TargetsError(f"{where}: give quote or source (where the figure comes from)")
    if spec.held_out and fig is None:
        raise TargetsError(f"{where}: a held-out target must reference a figure (figures.yaml), so its value is "
                           "read only when the prediction is compared")
    kind, sd, band = "normal", 0.0, None
    if "band" in err:
        kind, band = "band", tuple(err["band"])
        text = f"band {band[0]:g}–{band[1]:g} (the truth anywhere inside)"
        if value is None:
            value = (band[0] + band[1]) / 2.0
    elif "survey_n" in err:
        n = scenario.perception.survey_n if err["survey_n"] == "scenario" else err["survey_n"]
        p = min(max(value if value is not None else 0.5, 1e-3), 1 - 1e-3)
        sd = math.sqrt(p * (1 - p) / n)
        text = (f"binomial, n = perception.survey_n = {n} (the survey's size is not reported; assumption)"
                if err["survey_n"] == "scenario" else f"binomial, n = {n}")
    elif "tolerance" in err:
        sd = err["tolerance"] / math.sqrt(3.0)
        text = f"rounding ±{err['tolerance']:g} (uniform, sd {sd:.3g})"
    else:
        sd = err["sd"]
        text = f"stated sd {sd:g}"
    if spec.held_out:
        value = None                      # never carried: read at comparison time only
    n_survey = None if "survey_n" not in err else (
        scenario.perception.survey_n if err["survey_n"] == "scenario" else err["survey_n"])
    return Target(id=spec.id, outcome=outcome, period=spec.period, city=spec.city or (fig.city if fig else None),
                  value=value, survey_n=n_survey, change=change, change_from=change_from, kind=kind, sd=sd, band=band,
                  discrepancy_sd=spec.discrepancy_sd, discrepancy_source=spec.discrepancy_source, error_text=text,
                  figure=spec.figure, quote=quote, source=source, held_out=spec.held_out)


def _param(key: str, spec: ParamSpec | None, scenario: Scenario, where: str) -> Param:
    from .calibration import COST_ONLY, default_bounds

    if key not in leaves():
        raise TargetsError(f"{where}: unknown parameter{suggest(key, leaves())}")
    value = scenario.flat().get(key)
    if isinstance(value, bool) or not isinstance(value, float):
        raise TargetsError(f"{where}: only plain real-valued parameters can be fitted ({value!r})")
    if key in COST_ONLY:
        raise TargetsError(f"{where}: enters only the costs, no target depends on it")
    if not is_assumption(key, scenario):
        raise TargetsError(f"{where}: not an assumption (its source is {param_source(key, scenario)[:60]!r}); "
                           "only assumed parameters are fitted")
    b = bounds(key)
    if spec is not None and spec.prior is not None:
        lo, hi = spec.prior
        if not spec.source:
            raise TargetsError(f"{where}: a prior that overrides the schema's needs a source (why this range)")
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise TargetsError(f"{where}: prior {list(spec.prior)}: needs finite lo < hi")
        for v in (lo, hi):
            try:
                scenario.with_overrides({key: v}, "prior")
            except ScenarioError:
                lims = " and ".join(x for x in (b.lo_text(), b.hi_text()) if x)
                raise TargetsError(f"{where}: prior {list(spec.prior)} outside the schema's limits ({lims})") from None
        src = spec.source
    else:
        lo, hi, how = default_bounds(key, scenario)
        src = how if plausible(key) is None else f"{how} (sim.scenario.plausible)"
    return Param(key=key, prior=(float(lo), float(hi)), source=src, default=float(value))


def parse_targets(raw: Any, path: str, figures=None, text: str = "") -> Targets:
    """Mapping → checked `Targets` (see the module doc); the first problem raises one line."""
    if not isinstance(raw, dict):
        raise TargetsError(f"{path}: expected a mapping with scenario, targets and parameters")
    try:
        spec = TargetsFile.model_validate(raw)
    except ValidationError as exc:
        raise TargetsError(f"{path}: {_one_line(exc)}") from None
    loo = None
    for name, block in (("quick", spec.quick), ("loo", spec.loo)):
        if block:
            try:
                checked = Settings.model_validate({**spec.settings.model_dump(), **block})
            except ValidationError as exc:
                raise TargetsError(f"{path}: {name}.{_one_line(exc)}") from None
            loo = checked if name == "loo" else loo
    base = Path(path).parent
    spath = (base / spec.scenario) if not Path(spec.scenario).is_absolute() else Path(spec.scenario)
    try:
        scenario = load_scenario(spath, spec.overrides or None)
    except ScenarioError as exc:
        raise TargetsError(f"{path}: scenario: {exc}") from None
    ids = [t.id for t in spec.targets]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise TargetsError(f"{path}: target id {dup!r} appears twice")
    targets = tuple(_resolve(t, figures, scenario, f"{path}: target {t.id!r}") for t in spec.targets)
    fitted = [t for t in targets if not t.held_out]
    if not fitted:
        raise TargetsError(f"{path}: no fitted target (every target is held_out)")
    periods = {t.period for t in fitted}
    if len(periods) > 1:
        raise TargetsError(f"{path}: fitted targets span periods {sorted(periods)}; allowed: one fitted period")
    if any(t.change for t in fitted):
        raise TargetsError(f"{path}: target {next(t.id for t in fitted if t.change)!r}: a change may only be held out")
    fit_period = fitted[0].period
    for t in targets:
        if (t.change is not None or t.period != fit_period) and t.outcome not in PERIODIC:
            raise TargetsError(f"{path}: target {t.id!r}: outside the fitted period ({fit_period}) it is read from the "
                               f"calendar years of one whole run, and {t.outcome!r} has no per-period value; "
                               f"allowed: {', '.join(sorted(PERIODIC))}")
    if not spec.parameters:
        raise TargetsError(f"{path}: parameters: name at least one assumed parameter to fit")
    params = tuple(_param(k, v, scenario, f"{path}: parameter {k!r}") for k, v in spec.parameters.items())
    scale = spec.scale if spec.scale is not None else scenario.scale
    return Targets(path=str(path), name=spec.name or Path(path).stem, scenario_path=str(spath), scenario=scenario,
                   scale=float(scale), seed=spec.seed, settings=spec.settings, targets=targets, params=params, text=text,
                   loo=loo)


def quick_settings(targets: Targets, raw_quick: dict | None = None) -> Settings:
    return Settings.model_validate({**targets.settings.model_dump(), **(raw_quick or {})})


def load_targets(path: str | Path, figures=None) -> tuple[Targets, dict]:
    """Read and check a targets file; `figures` is the figure catalogue with held-out values
    hidden (`Figures.masked()`), or None.  Returns the targets and the file's `quick:` block."""
    from ..scenario.yamlsafe import read_yaml_mapping   # size, depth and alias limits of every YAML read

    path = Path(path)
    raw = read_yaml_mapping(path, "targets")
    t = parse_targets(raw, str(path), figures, path.read_text(encoding="utf-8"))
    return t, dict(raw.get("quick") or {})


def reported_value(target: Target, figures) -> float:
    """The reported value of a held-out target: read from the unmasked catalogue, after prediction."""
    return float(figures.value(target.figure))
