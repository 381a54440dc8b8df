"""Calibration: fit the parameters no source gives so the model gives back what a city reported.

`gridsim calibrate SCENARIO.yaml --target KEY=VALUE … [--fit PARAM …]`

- **Targets** are outcome keys of a run (`sim.outcomes.summarise`), each with a reported value and a standard error (`--target-se`, else the
  binomial error of a survey of `perception.survey_n` for a share of the safety survey, else
  10 % of the value — see `default_se`).
- **Parameters** fitted are scalar numbers whose provenance is *assumption*: the scenario
  file's own `source:` if it gives one, else the schema's.  A documented parameter is refused
  unless `--force`.  Bounds are the schema's plausible range when it gives one (see
  `sim.scenario.plausible`), else its limits (`ge`/`le`) for a share (both limits within [0, 1]),
  else default/4 to default×4 within whatever limit it gives; both ends are then pulled 1 %
  of the width inside (the model's Beta draws need a mean strictly inside (0, 1), strict
  limits must not be hit); `--bounds KEY=LO,HI` overrides.
- **Objective** J(θ) = Σ_k ((mean_r y_k(θ, seed_r) − target_k) / se_k)², the mean over R
  replicates whose seeds (`sim.execute.replicate_seeds`) are the same at every θ (common random numbers: the town, the
  residents and every random stream are the same at each evaluation, so J moves with θ, not
  with the dice).  One parameter: `scipy.optimize.minimize_scalar(method="bounded")`; several:
  `scipy.optimize.minimize(method="Powell")` with bounds, on coordinates scaled to [0, 1].
- **Uncertainty**: the Jacobian of the replicate means at the optimum by central
  differences (step 2 % of the bounds) gives the parameters' standard errors
  (JᵀWJ)⁻¹ with W = diag(1/se²): how far the reported figures' own errors move the fit.
- **Output**: a scenario overlay (`extends:` the calibrated file, only the fitted keys, each
  with a `source:` naming targets, seeds and fit error) and a JSON sidecar with the whole
  record (every evaluation, the Jacobian, versions).

Runs are independent and seeded, so `sim.experiments.pool.Runner` spreads them over a process pool (2 workers by
default) and gives the same numbers as running them one by one.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..catalogue import OUTCOMES, outcome
from ..execute import replicate_seeds
from ..experiments.pool import Runner, RunSpec
from ..scenario import Scenario, ScenarioError, bounds, is_assumption, leaves, load_scenario, param_source, plausible, suggest

#: targets that, when --fit is not given, are fitted with this parameter
DEFAULT_FIT = {
    "population_share_safe": "perception.safety_mean",
    "survey_share_safe": "perception.safety_mean",
    "survey_share_safe_mean": "perception.safety_mean",
    "survey_expected_share_safe": "perception.safety_mean",
    "safety_mean": "perception.safety_mean",
    "trust_mean": "perception.trust_mean",
    "report_to_resolution_hours_mean": "staffing.routine_hours_per_1000",
    "resolution_hours_mean": "staffing.routine_hours_per_1000",
}
#: outcome keys that are shares of a survey's answers: their default se is a survey's binomial error
SURVEY_SHARES = tuple(k for k, o in OUTCOMES.items() if o.group == "perception" and o.is_share and k != "survey_se")
DEFAULT_REL_SE = 0.10
JACOBIAN_STEP = 0.02
#: parameters that only enter the costs, never the dynamics: nothing to fit them to
COST_ONLY = ("staffing.parttime_cost_yuan_month", "staffing.fulltime_cost_yuan_month", "crime.cameras_per_covered_cell",
             "crime.camera_capital_yuan", "crime.camera_life_years")


# =========================================================================== running
def crn_seeds(seed: int, replicates: int) -> list[int]:
    """The replicates' seeds (`sim.execute.replicate_seeds`): the same list at every evaluation (CRN)."""
    return replicate_seeds(seed, replicates)


# =========================================================================== parameters
def check_fit_param(key: str, scenario: Scenario, force: bool = False) -> None:
    """Refuse (one line) a parameter that is unknown, not a plain number, or documented."""
    if key not in leaves():
        raise ScenarioError(f"--fit {key!r}: unknown parameter{suggest(key, leaves())}")
    value = scenario.flat().get(key)
    if isinstance(value, bool) or not isinstance(value, float):
        kind = "a tuple" if isinstance(value, tuple | list) else type(value).__name__
        raise ScenarioError(f"--fit {key!r}: only plain real-valued parameters can be fitted, this one is {kind} ({value!r})")
    # with a camera stock, cameras per covered cell set the coverage too (not only the costs)
    stock = key == "crime.cameras_per_covered_cell" and scenario.crime.camera_stock_per_1000 is not None
    if key in COST_ONLY and not stock:
        raise ScenarioError(f"--fit {key!r}: enters only the costs, no outcome depends on it")
    if not force and not is_assumption(key, scenario):
        src = param_source(key, scenario)
        short = src if len(src) <= 70 else src[:67] + "..."
        raise ScenarioError(f"--fit {key!r}: not an assumption, its source is {short!r}; use --force to fit it anyway")


def default_bounds(key: str, scenario: Scenario) -> tuple[float, float, str]:
    """Search range of a fitted parameter and how it was set (see the module doc)."""
    value = float(scenario.flat()[key])
    pr = plausible(key)
    if pr is not None and pr[0] <= value <= pr[1]:
        return pr[0], pr[1], "the schema's plausible range"
    lo, hi = bounds(key).lo, bounds(key).hi
    if lo is not None and hi is not None and lo >= 0.0 and hi <= 1.0:
        how = "the schema's limits"        # a share or probability: its whole range
    else:
        wide_lo, wide_hi = (value / 4.0, value * 4.0) if value > 0 else (0.0, 1.0)
        lo = wide_lo if lo is None else max(lo, wide_lo)
        hi = wide_hi if hi is None else min(hi, wide_hi)
        how = "default/4 to default×4 within the schema's limits"   # physical limits are far wider than plausible
    width = hi - lo
    # keep off closed (and open) ends: Beta means, probabilities of 0 or 1 and strict limits
    lo, hi = lo + 0.01 * width, hi - 0.01 * width
    return float(lo), float(hi), how + ", 1 % inside each end"


def parse_kv_floats(items: Iterable[str], what: str) -> dict[str, float]:
    """`KEY=VALUE` strings → {key: float}; a trailing % divides by 100."""
    out: dict[str, float] = {}
    for item in items or []:
        key, sep, raw = str(item).partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key or not raw:
            raise ScenarioError(f"{what} {item!r}: expected KEY=VALUE, e.g. {what} population_share_safe=0.8562")
        pct = raw.endswith("%")
        try:
            value = float(raw.rstrip("%")) / (100.0 if pct else 1.0)
        except ValueError:
            raise ScenarioError(f"{what} {item!r}: {raw!r} is not a number") from None
        if not math.isfinite(value):
            raise ScenarioError(f"{what} {item!r}: the value must be finite")
        out[key] = value
    return out


def parse_bounds(items: Iterable[str]) -> dict[str, tuple[float, float]]:
    out = {}
    for item in items or []:
        key, sep, raw = str(item).partition("=")
        parts = raw.split(",")
        try:
            lo, hi = (float(x) for x in parts)
        except ValueError:
            raise ScenarioError(f"--bounds {item!r}: expected KEY=LOW,HIGH, e.g. --bounds perception.safety_mean=0.3,0.8") from None
        if not sep or not (lo < hi):
            raise ScenarioError(f"--bounds {item!r}: expected KEY=LOW,HIGH with LOW < HIGH")
        out[key.strip()] = (lo, hi)
    return out


def check_target_key(key: str) -> None:
    """A target must name an outcome of the catalogue (`gridsim outcomes`)."""
    try:
        outcome(key)
    except KeyError as exc:
        raise ScenarioError(f"--target {key!r}: {exc.args[0]}") from None
    if key not in OUTCOMES:
        raise ScenarioError(f"--target {key!r}: a daily series, not an outcome of the run; `gridsim outcomes` lists them")


def default_se(key: str, value: float, scenario: Scenario) -> tuple[float, str]:
    """Standard error of a reported figure when none is given (see module doc)."""
    if key in SURVEY_SHARES:
        n = scenario.perception.survey_n
        p = min(max(value, 1e-3), 1 - 1e-3)
        return math.sqrt(p * (1 - p) / n), f"binomial, survey of perception.survey_n = {n}"
    return max(abs(value) * DEFAULT_REL_SE, 1e-9), f"{DEFAULT_REL_SE:.0%} of the value (no error given)"


# =========================================================================== the fit
@dataclass
class Calibration:
    """The record of one fit (all plain data: JSON-able with `to_dict`)."""

    scenario: str
    scenario_path: str | None
    targets: list[dict]
    fit: list[str]
    start: dict[str, float]
    bounds: dict[str, list]
    fitted: dict[str, float]
    seeds: list[int]
    days: int
    scale: float
    base_overrides: dict[str, Any]
    objective: float
    method: str
    success: bool
    message: str
    evaluations: int
    runs: int
    seconds: float
    param_se: dict[str, float] = field(default_factory=dict)
    jacobian: dict[str, dict[str, float]] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    warmup_days: int = 0
    seed: int | None = None      # the experiment seed the replicates' seeds were spawned from

    def to_dict(self) -> dict:
        from ..run import _jsonable

        return _jsonable(asdict(self))

    def fit_error_text(self) -> str:
        parts = []
        for t in self.targets:
            parts.append(f"{t['key']}: model {t['model_mean']:.4g} vs target {t['value']:.4g} "
                         f"({t['residual']:+.3g}, {t['z']:+.2f} se)")
        return "; ".join(parts) + f"; objective {self.objective:.3g}"


def calibrate(scenario: Scenario | str | Path, targets: dict[str, float], fit: Sequence[str] | None = None, *,
              replicates: int = 4, seed: int = 1000, days: int | None = None, scale: float | None = None,
              target_se: dict[str, float] | None = None, bounds: dict[str, tuple[float, float]] | None = None,
              overrides: dict[str, Any] | None = None, force: bool = False, runner: Runner | None = None,
              xatol: float | None = None, maxiter: int = 40, uncertainty: bool = True,
              progress: Callable[[str], None] | None = None) -> Calibration:
    """Fit `fit` (assumed parameters) so the replicate means of `targets` match; see module doc."""
    t_start = time.perf_counter()
    path = None
    if isinstance(scenario, str | Path):
        path = str(scenario)
        scenario = load_scenario(scenario)
    base = scenario
    run_shape = {k: v for k, v in (("days", days), ("scale", scale)) if v is not None}
    if overrides or run_shape:
        base = base.with_overrides({**(overrides or {}), **run_shape}, f"{base.name} (calibration)")

    # ---- every check before any run
    if not targets:
        raise ScenarioError("--target: give at least one KEY=VALUE to fit to")
    for key in targets:
        check_target_key(key)
    if not fit:
        missing = [k for k in targets if k not in DEFAULT_FIT]
        if missing:
            raise ScenarioError(f"--fit: name the parameters to fit (no default for target {missing[0]!r})")
        fit = list(dict.fromkeys(DEFAULT_FIT[k] for k in targets))
    fit = list(dict.fromkeys(fit))
    for key in fit:
        check_fit_param(key, base, force)
    if len(fit) > len(targets) and not force:
        raise ScenarioError(f"--fit: {len(fit)} parameters but {len(targets)} target(s): the fit would not be "
                            "identified; add targets or use --force")
    if replicates < 1:
        raise ScenarioError("--replicates: must be at least 1")
    target_se = dict(target_se or {})
    for key in target_se:
        if key not in targets:
            raise ScenarioError(f"--target-se {key!r}: not one of the targets ({', '.join(targets)})")
        if not target_se[key] > 0:
            raise ScenarioError(f"--target-se {key!r}: must be > 0")
    for key in bounds or {}:
        if key not in fit:
            raise ScenarioError(f"--bounds {key!r}: not one of the fitted parameters ({', '.join(fit)})")
    tlist = []
    for key, value in targets.items():
        se, how = (target_se[key], "given") if key in target_se else default_se(key, value, base)
        tlist.append({"key": key, "value": float(value), "se": float(se), "se_from": how})
    rng_bounds: dict[str, list] = {}
    for key in fit:
        if bounds and key in bounds:
            lo, hi = bounds[key]
            how = "given"
        else:
            lo, hi, how = default_bounds(key, base)
        # the bounds must themselves be valid values of the parameter
        base.with_overrides({key: lo}, f"--bounds {key}")
        base.with_overrides({key: hi}, f"--bounds {key}")
        rng_bounds[key] = [lo, hi, how]
    start = {k: float(base.flat()[k]) for k in fit}

    seeds = crn_seeds(seed, replicates)
    keys = tuple(t["key"] for t in tlist)
    own_runner = runner is None
    runner = runner or Runner()
    history: list[dict] = []
    cache: dict[tuple, dict] = {}
    runs_before = runner.runs

    def evaluate(values: dict[str, float]) -> dict:
        tag = tuple(round(values[k], 12) for k in fit)
        if tag in cache:
            return cache[tag]
        ov = tuple(values.items())
        res = runner.map([RunSpec(base, s, ov, keys) for s in seeds])
        ys = {k: np.array([r[k] for r in res], float) for k in keys}
        means = {k: float(np.nanmean(v)) for k, v in ys.items()}
        sds = {k: float(np.nanstd(v, ddof=1)) if len(v) > 1 else math.nan for k, v in ys.items()}
        j = float(sum(((means[t["key"]] - t["value"]) / t["se"]) ** 2 for t in tlist))
        if not math.isfinite(j):
            j = 1e12
        rec = {"params": dict(values), "objective": j, "means": means, "sds": sds}
        cache[tag] = rec
        history.append(rec)
        if progress:
            progress("  eval %2d: %s → %s, J = %.4g" % (len(history), ", ".join(f"{k}={v:.5g}" for k, v in values.items()),
                                                          ", ".join(f"{k}={means[k]:.5g}" for k in keys), j))
        return rec

    try:
        lo = np.array([rng_bounds[k][0] for k in fit])
        hi = np.array([rng_bounds[k][1] for k in fit])
        from scipy import optimize

        if len(fit) == 1:
            k0 = fit[0]
            res = optimize.minimize_scalar(lambda x: evaluate({k0: float(x)})["objective"], bounds=(lo[0], hi[0]),
                                           method="bounded",
                                           options={"xatol": xatol if xatol else 1e-3 * (hi[0] - lo[0]), "maxiter": maxiter})
            method, success, message = "minimize_scalar(bounded)", bool(res.success), str(res.message)
        else:
            def f(u):
                return evaluate({k: float(lo[i] + np.clip(u[i], 0, 1) * (hi[i] - lo[i])) for i, k in enumerate(fit)})["objective"]

            u0 = np.clip((np.array([start[k] for k in fit]) - lo) / (hi - lo), 0.0, 1.0)
            res = optimize.minimize(f, u0, method="Powell", bounds=[(0.0, 1.0)] * len(fit),
                                    options={"xtol": xatol if xatol else 1e-3, "ftol": 1e-4, "maxfev": maxiter * len(fit)})
            method, success, message = "minimize(Powell, bounded)", bool(res.success), str(res.message)
        best = min(history, key=lambda r: r["objective"])
        fitted = dict(best["params"])

        # ---- uncertainty: Jacobian of the target means by central differences at the optimum
        jac: dict[str, dict[str, float]] = {}
        param_se: dict[str, float] = {}
        if uncertainty:
            J = np.zeros((len(tlist), len(fit)))
            for i, k in enumerate(fit):
                h = JACOBIAN_STEP * (hi[i] - lo[i])
                up = dict(fitted, **{k: min(fitted[k] + h, hi[i])})
                dn = dict(fitted, **{k: max(fitted[k] - h, lo[i])})
                rup, rdn = evaluate(up), evaluate(dn)
                for t_i, t in enumerate(tlist):
                    J[t_i, i] = (rup["means"][t["key"]] - rdn["means"][t["key"]]) / (up[k] - dn[k])
                jac[k] = {t["key"]: float(J[t_i, i]) for t_i, t in enumerate(tlist)}
            W = np.diag([1.0 / t["se"] ** 2 for t in tlist])
            try:
                cov = np.linalg.inv(J.T @ W @ J)
                param_se = {k: float(math.sqrt(max(cov[i, i], 0.0))) for i, k in enumerate(fit)}
            except np.linalg.LinAlgError:
                param_se = {k: math.inf for k in fit}
    finally:
        if own_runner:
            runner.close()

    for t in tlist:
        m = best["means"][t["key"]]
        sd = best["sds"][t["key"]]
        t.update({"model_mean": m, "model_sd": sd, "model_se": sd / math.sqrt(len(seeds)) if math.isfinite(sd) else math.nan,
                  "residual": m - t["value"], "z": (m - t["value"]) / t["se"]})
    from ..run import versions

    return Calibration(scenario=base.name, scenario_path=path, targets=tlist, fit=fit, start=start, bounds=rng_bounds,
                       fitted=fitted, seeds=seeds, seed=int(seed), days=base.days, scale=base.scale,
                       base_overrides=dict(overrides or {}), objective=best["objective"], method=method, success=success,
                       message=message, evaluations=len(history), runs=runner.runs - runs_before,
                       seconds=time.perf_counter() - t_start, param_se=param_se, jacobian=jac, history=history,
                       versions=versions(), warmup_days=base.warmup_days)


# =========================================================================== the overlay
def overlay_text(cal: Calibration, extends: str, name: str | None = None, note: str | None = None) -> str:
    """A scenario overlay: `extends:` the calibrated file, then only the fitted values."""
    import yaml

    seeds = f"seed {cal.seed}, replicates 0–{len(cal.seeds) - 1} (sim.execute.replicate_seed)"
    targets = ", ".join(f"{t['key']}={t['value']:.6g} (se {t['se']:.3g})" for t in cal.targets)
    head = [
        f"# Calibrated overlay of {extends}, written by `gridsim calibrate` (sim/analysis/calibration.py).",
        f"# Targets: {targets}.",
        f"# Fitted: " + ", ".join(f"{k} = {v:.6g}" + (f" ± {cal.param_se[k]:.2g}" if k in cal.param_se else "")
                                  for k, v in cal.fitted.items()) + " (± from the targets' standard errors).",
        f"# {seeds[0].upper()}{seeds[1:]}: common random numbers, {len(cal.seeds)} replicates; scale {cal.scale:g}, {cal.days} days"
        + (f" after a {cal.warmup_days}-day warm-up." if cal.warmup_days else "."),
        f"# Fit error: {cal.fit_error_text()}.",
        f"# {cal.method}: {cal.evaluations} evaluations, {cal.runs} runs, {cal.seconds:.0f} s; {cal.message}",
    ]
    if cal.base_overrides:
        head.append(f"# Fitted with these overrides of the file (not written below): {cal.base_overrides}")
    if note:
        head += [f"# {line}" for line in note.splitlines()]
    data: dict[str, Any] = {"extends": extends}
    if name:
        data["name"] = name
    for key, value in cal.fitted.items():
        src = (f"calibrated (gridsim calibrate): fitted to {targets}; {seeds}, scale {cal.scale:g}, "
               f"{cal.days} days; fit error {cal.fit_error_text()}")
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = {"value": round(float(value), 6), "source": src}
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(head) + "\n" + body


def write_overlay(cal: Calibration, path: str | Path, scenario_path: str | Path, name: str | None = None,
                  note: str | None = None) -> Path:
    """Write the overlay YAML (and `<path>.json` with the whole record); return the YAML path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    extends = os.path.relpath(Path(scenario_path).resolve(), path.parent.resolve())
    text = overlay_text(cal, extends, name=name, note=note)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    path.with_suffix(".json").write_text(json.dumps(cal.to_dict(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
