"""Guigang, held out: fit on 2015, predict 2016, and only then compare — in one trajectory.

scenarios/guigang_2015_2016.yaml runs 2015 and 2016 in one run, with the 2016 camera build-out
as its only dated change (checked here: the file's timeline must change exactly
`EXPECTED_CHANGE`).  `perception.safety_mean` (an assumption) is fitted to the 2015 figure
alone, on the trajectory cut at the end of 2015 (its change dropped: a run differing only from
a day D agrees with the whole trajectory on every period before D, a tested property, so the
fit sees exactly the trajectory's 2015).  Then whole trajectories with the fitted value and
fresh seeds give 2015 and 2016 as calendar-year periods (`sim.outcomes.periods`): the 2016
level, and the 2015 → 2016 changes paired within each run.  The interval adds three
independent parts: the model's replicate spread, the 2015 survey's error carried through the
fit, and the 2016 survey's own sampling error.  `fit_and_predict` is given the figures with
every held-out value hidden (`Figures.masked`), so nothing it computes can depend on them;
`compare` alone sets the reported 2016 figures beside the prediction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# the one place this package imports calibration (change this line if it moves again)
from ..analysis.calibration import calibrate, write_overlay
from ..execute import replicate_seeds
from ..experiments.pool import Runner, RunSpec
from ..scenario import ROOT, Scenario, ScenarioError, load_scenario
from .figures import FigureError, Figures
from .settings import Settings
from .stats import mean_ci, paired

SCENARIOS = ROOT / "scenarios"
TRAJECTORY = SCENARIOS / "guigang_2015_2016.yaml"
FIT_YEAR, HELD_YEAR = "2015", "2016"
FIT_FIGURE = "guigang_2015_safety"
HELD_OUT = {"level": "guigang_2016_safety", "change": "guigang_2016_safety_change",
            "filed": "guigang_2016_cases_filed_change", "solved": "guigang_2016_cases_solved_change",
            "filed_count": "guigang_2016_cases_filed", "solved_count": "guigang_2016_cases_solved"}
FIT_PARAM = "perception.safety_mean"
FIT_BOUNDS = (0.45, 0.75)
#: what the document says changed by 2016; the trajectory's timeline must change exactly these keys
EXPECTED_CHANGE = ("crime.camera_stock_per_1000",)
FIT_SEED, PREDICT_SEED = 1000, 2000
SLOPE_STEP = 0.02           # of the fit bounds' width: central difference of 2016 in θ
Z95 = 1.96                  # normal quantile of the prediction interval
#: the per-year outcomes each trajectory run returns (`year_outcomes`)
YEAR_KEYS = ("survey_expected_share_safe", "population_share_safe", "incidents_per_10k_year",
             "incidents_known_per_10k_year", "incidents_cleared", "clearance_rate", "cameras")


def year_outcomes(model) -> dict[str, dict[str, float]]:
    """2015's and 2016's calendar-year outcomes of a finished trajectory run (a `RunSpec` extra)."""
    from ..outcomes import periods

    per = periods(model, ("year",))
    return {y: {k: per[y][k] for k in YEAR_KEYS} for y in (FIT_YEAR, HELD_YEAR) if y in per}


def timeline_change(trajectory: Scenario) -> dict[str, Any]:
    """The keys the trajectory's timeline changes, each with the value it reaches (the last change's)."""
    out: dict[str, Any] = {}
    for entry in trajectory.timeline:
        out.update(entry.get("set", {}))
        out.update({f"{k} ×": v for k, v in entry.get("multiply", {}).items()})
    return out


def trajectory_scenario(settings: Settings) -> Scenario:
    """The trajectory at the settings' scale; its warm-up shortened to `settings.days` for the quick
    presets (the observed window must still span both calendar years)."""
    traj = load_scenario(TRAJECTORY)
    return traj.with_overrides({"scale": settings.scale, "warmup_days": min(traj.warmup_days, settings.days)},
                               "validation settings")


def _year(runs: list[dict], year: str, key: str) -> np.ndarray:
    return np.array([r["year_outcomes"][year][key] for r in runs], float)


def fit_and_predict(settings: Settings, runner: Runner, figures: Figures, *, fit: Callable = calibrate,
                    say: Callable[[str], None] = lambda s: None) -> dict:
    """The fit on 2015 and the 2016 prediction, from `figures` with held-out values hidden."""
    if any(f.held_out and not f.masked for f in figures):
        raise FigureError("fit_and_predict: give it Figures.masked(), not figures with held-out values")
    traj = trajectory_scenario(settings)
    change = timeline_change(traj)
    if set(change) != set(EXPECTED_CHANGE):
        raise ScenarioError(f"{TRAJECTORY}: its timeline should change only {', '.join(EXPECTED_CHANGE)}, "
                            f"it changes {sorted(change)}")
    s15 = traj.with_overrides({"timeline": [], "days": 365, "name": "guigang_2015"}, "validation: 2015 only")
    outcome, target, target_se = figures.fit_target(FIT_FIGURE, s15)

    say(f"Guigang: fitting {FIT_PARAM} to {FIT_YEAR} ({target:.2%}), {settings.fit_replicates} replicates")
    cal = fit(s15, {outcome: target}, [FIT_PARAM], replicates=settings.fit_replicates, seed=FIT_SEED,
              days=None, scale=settings.scale, bounds={FIT_PARAM: FIT_BOUNDS}, target_se={outcome: target_se},
              xatol=5e-4, runner=runner)
    theta = cal.fitted[FIT_PARAM]
    theta_se = cal.param_se.get(FIT_PARAM, math.nan)

    seeds = replicate_seeds(PREDICT_SEED, settings.predict_replicates)
    say(f"Guigang: the {FIT_YEAR}–{HELD_YEAR} trajectory with {FIT_PARAM} = {theta:.4f}, {len(seeds)} replicates")
    extras = (year_outcomes,)
    runs = runner.map([RunSpec(traj, s, ((FIT_PARAM, theta),), ("residents",), extras) for s in seeds])

    # how the fitted parameter's uncertainty moves 2016: slope of 2016 in θ at the fit seeds
    h = SLOPE_STEP * (FIT_BOUNDS[1] - FIT_BOUNDS[0])
    fs = cal.seeds
    sl = runner.map([RunSpec(traj, s, ((FIT_PARAM, theta + d),), ("residents",), extras) for d in (h, -h) for s in fs])
    slope16 = (_year(sl[: len(fs)], HELD_YEAR, outcome).mean() - _year(sl[len(fs):], HELD_YEAR, outcome).mean()) / (2 * h)

    y15, y16 = _year(runs, FIT_YEAR, outcome), _year(runs, HELD_YEAR, outcome)
    pred = float(y16.mean())
    level = figures[HELD_OUT["level"]]                       # metadata only: its value is hidden
    var_rep = float(y16.var(ddof=1)) if len(y16) > 1 else 0.0
    var_fit = float((slope16 * theta_se) ** 2) if math.isfinite(theta_se) and math.isfinite(slope16) else 0.0
    var_survey = level.error.sd(pred, traj) ** 2
    sd = math.sqrt(var_rep + var_fit + var_survey)
    t = cal.targets[0]
    pop16 = mean_ci(_year(runs, HELD_YEAR, "population_share_safe"))
    before = {k: traj.flat()[k] for k in change}
    sources = {k: next((e.get("source", "") for e in traj.timeline if k in e.get("set", {})), "") for k in change}

    def pair(key: str, relative: bool = False) -> dict:
        return paired(_year(runs, FIT_YEAR, key), _year(runs, HELD_YEAR, key), relative)

    return {
        "fit": {"figure": FIT_FIGURE, "outcome": outcome, "target": target, "target_se": target_se,
                "target_error": figures[FIT_FIGURE].error.describe(s15), "parameter": FIT_PARAM, "value": theta,
                "se": theta_se, "start": cal.start[FIT_PARAM], "bounds": list(FIT_BOUNDS), "model": t["model_mean"],
                "model_sd": t["model_sd"], "z": t["z"], "objective": cal.objective, "evaluations": cal.evaluations,
                "seeds": cal.seeds, "method": cal.method, "scenario": f"{TRAJECTORY.name}, cut at the end of {FIT_YEAR}",
                "slope_2015_per_unit": cal.jacobian.get(FIT_PARAM, {}).get(outcome, math.nan),
                "history": [{"theta": r["params"][FIT_PARAM], "model": r["means"][outcome], "objective": r["objective"]}
                            for r in cal.history],
                "model_with_prediction_seeds": mean_ci(y15)},
        "prediction": {
            "outcome": outcome, "predicted": pred, "interval": [pred - Z95 * sd, pred + Z95 * sd], "z_quantile": Z95,
            "sd": sd, "sd_parts": {"replicates": math.sqrt(var_rep), "fit (2015 survey error through the fit)": math.sqrt(var_fit),
                                   "2016 survey sampling": math.sqrt(var_survey)},
            "survey_error": level.error.describe(traj), "replicates": len(seeds), "seeds": seeds,
            "scenario": TRAJECTORY.name, "years": [FIT_YEAR, HELD_YEAR],
            "population_share_safe": pop16, "population_minus_survey": pop16["mean"] - pred,
            "change": paired(y15, y16), "changed_parameters": change, "change_sources": sources,
            "before_values": before, "slope_2016_per_unit": float(slope16)},
        "cases": {
            "filed": pair("incidents_known_per_10k_year", True),
            "solved": pair("incidents_cleared", True),
            "all_incidents": pair("incidents_per_10k_year", True),
            "clearance_rate_2015": mean_ci(_year(runs, FIT_YEAR, "clearance_rate")),
            "clearance_rate_2016": mean_ci(_year(runs, HELD_YEAR, "clearance_rate")),
            "cameras_2015": mean_ci(_year(runs, FIT_YEAR, "cameras")), "cameras_2016": mean_ci(_year(runs, HELD_YEAR, "cameras")),
            "residents": runs[0]["residents"]},
        "_calibration": cal,
    }


def compare(prediction: dict, figures: Figures) -> dict:
    """The reported 2016 figures beside the prediction: the only place they are read."""
    p, cases = prediction["prediction"], prediction["cases"]
    level = figures.value(HELD_OUT["level"])
    lo, hi = p["interval"]

    def against(model: dict, fid: str) -> dict:
        rep = figures.value(fid)
        m = model["mean"]
        ok = m is not None and math.isfinite(m)
        inside = ok and model["low"] is not None and math.isfinite(model["low"]) and model["low"] <= rep <= model["high"]
        return {"figure": fid, "reported": rep, "model": model, "inside_interval": bool(inside),
                "same_sign": bool(ok and m * rep > 0)}

    filed, solved = figures.value(HELD_OUT["filed_count"]), figures.value(HELD_OUT["solved_count"])
    return {
        "level": {"figure": HELD_OUT["level"], "reported": level, "fitted": figures[HELD_OUT["level"]].role == "fit",
                  "inside_interval": bool(lo <= level <= hi), "z": (level - p["predicted"]) / p["sd"]},
        "change": against(p["change"], HELD_OUT["change"]),
        "filed": against(cases["filed"], HELD_OUT["filed"]),
        "solved": against(cases["solved"], HELD_OUT["solved"]),
        "solved_per_filed": {"figures": [HELD_OUT["solved_count"], HELD_OUT["filed_count"]], "reported": solved / filed},
    }


def write_overlays(cal, out: Path) -> dict:
    """The fitted trajectory: an overlay of guigang_2015_2016.yaml with the fitted value (runnable as is)."""
    path = write_overlay(cal, Path(out) / "guigang_2015_2016.calibrated.yaml", TRAJECTORY, name="guigang_2015_2016-calibrated",
                         note="Made by `gridsim validate`: fitted to the 2015 figure only (the 2016 ones are held out).")
    return {"calibrated": path.name}


def guigang_check(settings: Settings, runner: Runner, figures: Figures, *, fit: Callable = calibrate,
                  out: Path | None = None, say: Callable[[str], None] = lambda s: None) -> dict:
    """Fit and predict from the masked figures, then compare with the held-out ones."""
    res = fit_and_predict(settings, runner, figures.masked(), fit=fit, say=say)
    cal = res.pop("_calibration")
    res["comparison"] = compare(res, figures)
    res["overlays"] = write_overlays(cal, out) if out is not None else {}
    return res
