"""Guigang, held out: fit on 2015, predict 2016, and only then compare.

`perception.safety_mean` (an assumption) is fitted to the 2015 figure alone.  2016 is
predicted by changing only the keys in which scenarios/guigang_2016.yaml differs from
guigang_2015.yaml (read from the files).  The interval adds three independent parts: the
model's replicate spread, the 2015 survey's error carried through the fit, and the 2016
survey's own sampling error.  `fit_and_predict` is given the figures with every held-out
value hidden (`Figures.masked`), so nothing it computes can depend on them; `compare`
alone sets the reported 2016 figures beside the prediction.
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
from .stats import column, mean_ci, paired

SCENARIOS = ROOT / "scenarios"
FIT_FIGURE = "guigang_2015_safety"
HELD_OUT = {"level": "guigang_2016_safety", "change": "guigang_2016_safety_change",
            "filed": "guigang_2016_cases_filed_change", "solved": "guigang_2016_cases_solved_change",
            "filed_count": "guigang_2016_cases_filed", "solved_count": "guigang_2016_cases_solved"}
FIT_PARAM = "perception.safety_mean"
FIT_BOUNDS = (0.45, 0.75)
#: what the document says changed by 2016; the files must differ in exactly these keys
EXPECTED_CHANGE = ("crime.camera_stock_per_1000",)
FIT_SEED, PREDICT_SEED = 1000, 2000
SLOPE_STEP = 0.02           # of the fit bounds' width: central difference of 2016 in θ
Z95 = 1.96                  # normal quantile of the prediction interval


def scenario_change(before: Scenario, after: Scenario) -> dict[str, Any]:
    """Parameters (not name/description/sources) in which two scenarios differ."""
    a, b = before.flat(), after.flat()
    return {k: b[k] for k in b if k not in ("name", "description") and a.get(k) != b[k]}


def _specs(scenario: Scenario, seeds, overrides: dict, keys) -> list[RunSpec]:
    return [RunSpec(scenario, s, tuple(overrides.items()), tuple(keys)) for s in seeds]


def fit_and_predict(settings: Settings, runner: Runner, figures: Figures, *, fit: Callable = calibrate,
                    say: Callable[[str], None] = lambda s: None) -> dict:
    """The fit on 2015 and the 2016 prediction, from `figures` with held-out values hidden."""
    if any(f.held_out and not f.masked for f in figures):
        raise FigureError("fit_and_predict: give it Figures.masked(), not figures with held-out values")
    path15, path16 = SCENARIOS / "guigang_2015.yaml", SCENARIOS / "guigang_2016.yaml"
    s15, s16 = load_scenario(path15), load_scenario(path16)
    change = scenario_change(s15, s16)
    if set(change) != set(EXPECTED_CHANGE):
        raise ScenarioError(f"{path16}: expected to differ from guigang_2015 only in {', '.join(EXPECTED_CHANGE)}, "
                            f"differs in {sorted(change)}")
    shape = {"days": settings.days, "scale": settings.scale}
    outcome, target, target_se = figures.fit_target(FIT_FIGURE, s15)

    say(f"Guigang: fitting {FIT_PARAM} to 2015 ({target:.2%}), {settings.fit_replicates} replicates")
    cal = fit(s15, {outcome: target}, [FIT_PARAM], replicates=settings.fit_replicates, seed=FIT_SEED,
              days=settings.days, scale=settings.scale, bounds={FIT_PARAM: FIT_BOUNDS}, target_se={outcome: target_se},
              xatol=5e-4, runner=runner)
    theta = cal.fitted[FIT_PARAM]
    theta_se = cal.param_se.get(FIT_PARAM, math.nan)

    keys = (outcome, "population_share_safe", "incidents_per_10k_year", "incidents_known_per_10k_year",
            "incidents_cleared", "clearance_rate", "cameras", "residents")
    seeds = replicate_seeds(PREDICT_SEED, settings.predict_replicates)
    fitted = {FIT_PARAM: theta, **shape}
    say(f"Guigang: predicting 2016 with {FIT_PARAM} = {theta:.4f}, {len(seeds)} replicates")
    runs = runner.map(_specs(s15, seeds, fitted, keys) + _specs(s15, seeds, {**fitted, **change}, keys))
    r15, r16 = runs[: len(seeds)], runs[len(seeds):]

    # how the fitted parameter's uncertainty moves 2016: slope of 2016 in θ at the fit seeds
    h = SLOPE_STEP * (FIT_BOUNDS[1] - FIT_BOUNDS[0])
    fs = cal.seeds
    sl = runner.map(_specs(s15, fs, {**fitted, **change, FIT_PARAM: theta + h}, (outcome,))
                    + _specs(s15, fs, {**fitted, **change, FIT_PARAM: theta - h}, (outcome,)))
    slope16 = (np.mean(column(sl[: len(fs)], outcome)) - np.mean(column(sl[len(fs):], outcome))) / (2 * h)

    y15, y16 = np.array(column(r15, outcome)), np.array(column(r16, outcome))
    pred = float(y16.mean())
    level = figures[HELD_OUT["level"]]                       # metadata only: its value is hidden
    var_rep = float(y16.var(ddof=1)) if len(y16) > 1 else 0.0
    var_fit = float((slope16 * theta_se) ** 2) if math.isfinite(theta_se) and math.isfinite(slope16) else 0.0
    var_survey = level.error.sd(pred, s16) ** 2
    sd = math.sqrt(var_rep + var_fit + var_survey)
    t = cal.targets[0]
    pop16 = mean_ci(column(r16, "population_share_safe"))
    return {
        "fit": {"figure": FIT_FIGURE, "outcome": outcome, "target": target, "target_se": target_se,
                "target_error": figures[FIT_FIGURE].error.describe(s15), "parameter": FIT_PARAM, "value": theta,
                "se": theta_se, "start": cal.start[FIT_PARAM], "bounds": list(FIT_BOUNDS), "model": t["model_mean"],
                "model_sd": t["model_sd"], "z": t["z"], "objective": cal.objective, "evaluations": cal.evaluations,
                "seeds": cal.seeds, "method": cal.method,
                "slope_2015_per_unit": cal.jacobian.get(FIT_PARAM, {}).get(outcome, math.nan),
                "history": [{"theta": r["params"][FIT_PARAM], "model": r["means"][outcome], "objective": r["objective"]}
                            for r in cal.history],
                "model_with_prediction_seeds": mean_ci(y15)},
        "prediction": {
            "outcome": outcome, "predicted": pred, "interval": [pred - Z95 * sd, pred + Z95 * sd], "z_quantile": Z95,
            "sd": sd, "sd_parts": {"replicates": math.sqrt(var_rep), "fit (2015 survey error through the fit)": math.sqrt(var_fit),
                                   "2016 survey sampling": math.sqrt(var_survey)},
            "survey_error": level.error.describe(s16), "replicates": len(seeds), "seeds": seeds,
            "population_share_safe": pop16, "population_minus_survey": pop16["mean"] - pred,
            "change": paired(y15, y16), "changed_parameters": change,
            "change_sources": {k: s16.sources.get(k, "") for k in change},
            "before_values": {k: s15.flat()[k] for k in change}, "slope_2016_per_unit": float(slope16)},
        "cases": {
            "filed": paired(column(r15, "incidents_known_per_10k_year"), column(r16, "incidents_known_per_10k_year"), True),
            "solved": paired(column(r15, "incidents_cleared"), column(r16, "incidents_cleared"), True),
            "all_incidents": paired(column(r15, "incidents_per_10k_year"), column(r16, "incidents_per_10k_year"), True),
            "clearance_rate_2015": mean_ci(column(r15, "clearance_rate")),
            "clearance_rate_2016": mean_ci(column(r16, "clearance_rate")),
            "cameras_2015": mean_ci(column(r15, "cameras")), "cameras_2016": mean_ci(column(r16, "cameras")),
            "residents": r15[0]["residents"]},
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


def write_overlays(cal, change: dict, out: Path) -> dict:
    """The fitted 2015 overlay and the predicted 2016 scenario (extends the fitted one)."""
    import yaml

    path15, path16 = SCENARIOS / "guigang_2015.yaml", SCENARIOS / "guigang_2016.yaml"
    cal_path = write_overlay(cal, Path(out) / "guigang_2015.calibrated.yaml", path15, name="guigang_2015-calibrated",
                             note="Made by `gridsim validate`: fitted to the 2015 figure only (the 2016 one is held out).")
    s16 = load_scenario(path16)
    body: dict[str, Any] = {"extends": cal_path.name, "name": "guigang_2016-predicted"}
    for key, value in change.items():
        node = body
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = {"value": value, "source": s16.sources.get(key, path16.name)}
    pred_path = Path(out) / "guigang_2016.predicted.yaml"
    pred_path.write_text("# Guigang 2016 as predicted by `gridsim validate`: the 2015 calibration with only what\n"
                         "# guigang_2016.yaml changes from guigang_2015.yaml.\n"
                         + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8")
    return {"calibrated_2015": cal_path.name, "predicted_2016": pred_path.name}


def guigang_check(settings: Settings, runner: Runner, figures: Figures, *, fit: Callable = calibrate,
                  out: Path | None = None, say: Callable[[str], None] = lambda s: None) -> dict:
    """Fit and predict from the masked figures, then compare with the held-out ones."""
    res = fit_and_predict(settings, runner, figures.masked(), fit=fit, say=say)
    cal = res.pop("_calibration")
    res["comparison"] = compare(res, figures)
    res["overlays"] = write_overlays(cal, res["prediction"]["changed_parameters"], out) if out is not None else {}
    return res
