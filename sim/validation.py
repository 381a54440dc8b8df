"""`gridsim validate`: does the model give back what the cities reported, and predict what
it was not fitted to?

Writes `REPORT.md`, `validation.json` and PNG figures into one directory:

1. **Guigang, held out.**  Fit `perception.safety_mean` (an assumption) on 2015 only
   (85.62 % safe with 6,840 cameras); change only what the document says changed by 2016
   (the camera stock: `camera_coverage`, the one key in which guigang_2016.yaml differs) and
   predict 2016.  The interval adds three independent parts: the model's replicate spread,
   the 2015 survey's sampling error carried through the fit, and the 2016 survey's own
   binomial sampling error.  The reported 2016 figure is only ever *compared* with the
   prediction: nothing computed depends on it.  Beside it, the model's change in criminal
   cases filed and solved.
2. **The other cities**, each scenario against its document: Jincheng's robbery cleared in
   1 h 52 min, Fangchenggang's camera build-out, Huizhou's merge of grids, Laibin's
   full-time share; where a figure cannot be compared quantitatively the report says so.
3. **Sensitivity**: a one-at-a-time screening of every assumed parameter, then Sobol
   indices (first and total order, `scipy.stats.sobol_indices`, bootstrap intervals) of
   resolution time and perceived safety to the three levers and the assumed parameters
   that matter most.
4. **Mechanism checks**: the grid rung as a pure queue against M/M/1 and Erlang C, and
   each lever's effect with replicate intervals.

Every run is seeded and independent; they go through `calibration.Runner`, a process pool
(2 workers by default).  The analysis below reads only the results (`validation.json`), so
`gridsim validate --replot DIR` redraws the report without running anything.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .calibration import RunSpec, Runner, calibrate, crn_seeds, default_workers, write_overlay
from .scenario import ROOT, Scenario, ScenarioError, _bounds, _LEAVES_CACHE, load_scenario

SCENARIOS = ROOT / "scenarios"
DOCS_DIR = ROOT / "docs" / "validation"
SAFETY = "survey_expected_share_safe"     # what a survey of everyone would report (sim.outcomes / Perception.expected_share_safe)
RESOLUTION = "report_to_resolution_hours_mean"
POP_SAFE = "population_share_safe"           # perceived safety in the sensitivity analysis (no survey at all)

# ---- reported figures (city_figures.md)
GUIGANG_2015 = 0.8562          # 2016年度…89.62%, 比2015年度提升4个百分点
GUIGANG_2016 = 0.8962
GUIGANG_FILED_CHANGE = -0.111  # 全市立刑事案件9060起 (−11.1 %)
GUIGANG_SOLVED_CHANGE = 0.277  # 破3551起 (+27.7 %)
JINCHENG_ROBBERY_HOURS = 112 / 60.0   # 14时49分 … 16时41分
HUIZHOU_POPULATION = 6_042_852
HUIZHOU_GRIDS_BEFORE, HUIZHOU_GRIDS_AFTER = 13_614, 8_271
LAIBIN_FULLTIME_SHARE = 745 / 5022
FCG_LOW_COVERAGE = 0.2         # ASSUMPTION: Fangchenggang's pre-build-out coverage is not reported

FIT_PARAM = "perception.safety_mean"
FIT_BOUNDS = (0.45, 0.75)
FIT_SEED, PREDICT_SEED, CITY_SEED, SCREEN_SEED, SOBOL_SEED, QUEUE_SEED, LEVER_SEED = 1000, 2000, 3000, 4000, 5000, 6000, 7000

LEVER_VALUES = {"residents_per_grid": [300, 500, 800, 1200, 2000], "fulltime_ratio": [0.0, 0.25, 0.5, 0.75, 1.0],
                "camera_coverage": [0.0, 0.25, 0.5, 0.75, 1.0]}
#: the direction in which each lever is "more": smaller grids, more full-time workers, more cameras
LEVER_MORE = {"residents_per_grid": -1, "fulltime_ratio": +1, "camera_coverage": +1}
#: for each outcome, the sign of "better"
BETTER = {RESOLUTION: -1, SAFETY: +1, "incidents_per_10k_year": -1}
SOBOL_LEVERS = {"residents_per_grid": ("log", 300.0, 2000.0), "fulltime_ratio": ("lin", 0.0, 1.0),
                "camera_coverage": ("lin", 0.0, 1.0)}
#: used when the screening is skipped (the `tiny` preset of the tests)
FALLBACK_ASSUMED = ("perception.safety_mean", "perception.w_victim", "perception.w_disorder",
                    "staffing.routine_hours_per_1000", "disputes.rate_per_10k_year", "staffing.visits_per_hour")
#: not screened: levers, run shape, measurement definitions, clock positions, cost-only
NOT_SCREENED = ("population", "area_km2", "seed", "days", "scale", "residents_per_grid", "fulltime_ratio", "camera_coverage",
                "staffing.shift_start", "staffing.parttime_shift_start", "perception.cutpoints", "perception.survey_n",
                "perception.survey_every_days", "staffing.parttime_cost_yuan_month", "staffing.fulltime_cost_yuan_month",
                "crime.cameras_per_covered_cell", "crime.camera_capital_yuan", "crime.camera_life_years")
QUEUE_SERVERS = (1, 3)


# =========================================================================== settings
@dataclass(frozen=True)
class Settings:
    """How big and how many: the presets trade time for precision."""

    name: str
    scale: float            # city runs: representative fraction
    days: int
    fit_replicates: int
    predict_replicates: int
    city_replicates: int
    screen: bool            # screen every assumed parameter (else FALLBACK_ASSUMED)
    screen_replicates: int
    district_scale: float   # default district (100,000 residents) for screening, Sobol, levers
    district_days: int
    sobol_n: int            # power of 2; runs = n × (d + 2)
    bootstrap: int
    noise_replicates: int
    queue_days: int
    queue_replicates: int
    utilisations: tuple[float, ...]
    lever_replicates: int


PRESETS = {
    "full": Settings("full", scale=0.1, days=365, fit_replicates=4, predict_replicates=12, city_replicates=8, screen=True,
                     screen_replicates=2, district_scale=0.3, district_days=365, sobol_n=128, bootstrap=999,
                     noise_replicates=8, queue_days=365, queue_replicates=10, utilisations=(0.3, 0.5, 0.7, 0.8, 0.9),
                     lever_replicates=8),
    "quick": Settings("quick", scale=0.02, days=180, fit_replicates=3, predict_replicates=6, city_replicates=3, screen=True,
                      screen_replicates=1, district_scale=0.1, district_days=180, sobol_n=16, bootstrap=199,
                      noise_replicates=4, queue_days=150, queue_replicates=3, utilisations=(0.3, 0.6, 0.8),
                      lever_replicates=3),
    # for the test suite: every section, seconds in all
    "tiny": Settings("tiny", scale=0.004, days=40, fit_replicates=2, predict_replicates=3, city_replicates=2, screen=False,
                     screen_replicates=1, district_scale=0.03, district_days=40, sobol_n=4, bootstrap=49,
                     noise_replicates=2, queue_days=30, queue_replicates=2, utilisations=(0.5,),
                     lever_replicates=2),
}


# =========================================================================== small statistics
def _tq(n: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.975, n - 1)) if n > 1 else math.nan


def mean_ci(x) -> dict:
    """Mean of replicates with its 95 % t interval."""
    x = np.asarray([v for v in x if v is not None and np.isfinite(v)], float)
    n = len(x)
    if n == 0:
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "sd": math.nan, "n": 0}
    m = float(x.mean())
    sd = float(x.std(ddof=1)) if n > 1 else math.nan
    h = _tq(n) * sd / math.sqrt(n) if n > 1 else math.nan
    return {"mean": m, "low": m - h, "high": m + h, "sd": sd, "n": n}


def paired(a, b, relative: bool = False) -> dict:
    """Change b − a (or b/a − 1) over paired replicates (same seeds), with its 95 % interval."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (b / a - 1.0) if relative else (b - a)     # a zero base gives ±inf/NaN, which mean_ci drops
    return mean_ci(d)


def _col(results: list[dict], key: str) -> list[float]:
    return [float(r[key]) if r.get(key) is not None else math.nan for r in results]


def _specs(scenario: Scenario, seeds, overrides: dict, keys=None, extras=()) -> list[RunSpec]:
    return [RunSpec(scenario, s, tuple(overrides.items()), tuple(keys) if keys else None, tuple(extras)) for s in seeds]


# =========================================================================== extras (called on a finished model)
def robbery_times(model) -> dict:
    """Hours from the call to clearance, and to an officer on scene, of every cleared robbery."""
    from .crime import CLEARED, ROBBERY

    t = model.crime.table
    n = t.n
    rob = (t.kind[:n] == ROBBERY) & (t.t_occur[:n] >= _t_observed(model))
    sel = rob & (t.status[:n] == CLEARED)
    return {"call_to_clear": (t.t_close[:n][sel] - t.t_detect[:n][sel]).tolist(),
            "call_to_scene": (t.t_response[:n][sel] - t.t_detect[:n][sel]).tolist(),
            "robberies": int(rob.sum()), "reported": int(np.isfinite(t.t_detect[:n][rob]).sum())}


def _t_observed(model) -> float:
    """Hour the observed period begins (after the warm-up): only what begins then is counted."""
    return float(getattr(model, "t_observed", 0.0))


def same_day(model) -> dict:
    """Of disputes begun in the observed period that became known: share resolved within
    24 h of becoming known; and of those the grid itself settled."""
    from .disputes import GRID, RESOLVED

    t = model.disputes.table
    n = t.n
    known = np.isfinite(t.t_known[:n]) & (t.onset[:n] >= _t_observed(model))
    done = (t.status[:n] == RESOLVED) & known
    fast = done & (t.t_close[:n] - t.t_known[:n] <= 24.0)
    at_grid = done & (t.rung[:n] == GRID)
    return {"share_known_resolved_within_24h": float(fast.sum() / max(known.sum(), 1)),
            "share_grid_settled_within_24h": float((fast & at_grid).sum() / max(at_grid.sum(), 1))}


def fulltime_placement(model) -> dict:
    """Where the full-time posts went: share of them in the densest quarter of grids, and
    the share of grids (of those with any full-time worker) staffed only by full-timers."""
    gw, town = model.grid_work, model.town
    unit = gw.pool.unit
    density = town.grid_pop / np.maximum(np.bincount(town.grid, minlength=town.n_grids), 1)
    dense = density >= np.quantile(density, 0.75)
    ft = gw.fulltime
    per_grid_ft = np.bincount(unit, weights=ft, minlength=town.n_grids)
    per_grid = np.bincount(unit, minlength=town.n_grids)
    with_ft = per_grid_ft > 0
    return {"fulltime_share": float(ft.mean()), "fulltime_in_densest_quarter": float(dense[unit][ft].mean()) if ft.any() else math.nan,
            "grids_all_fulltime_share_of_grids_with_any": float((per_grid_ft[with_ft] == per_grid[with_ft]).mean()) if with_ft.any() else math.nan}


def queue_wait(model) -> dict:
    """Mean wait for a grid worker (arrival → first contact) after a warm-up of a tenth of
    the horizon (at least 2 days), and the share who waited at all."""
    t = model.disputes.table
    n = t.n
    arr = t.t_grid_arrival[:n]
    wait = t.t_first_contact[:n] - arr
    warm = _t_observed(model) + max(2.0, 0.1 * model.params.days) * 24.0
    keep = (arr >= warm) & np.isfinite(wait)
    return {"mean_wait": float(wait[keep].mean()) if keep.any() else math.nan,
            "share_waited": float((wait[keep] > 1e-12).mean()) if keep.any() else math.nan, "cases": int(keep.sum()),
            "never_served": int((np.isfinite(arr) & ~np.isfinite(wait)).sum())}


# =========================================================================== 1. Guigang held out
def scenario_change(before: Scenario, after: Scenario) -> dict[str, Any]:
    """Parameters (not name/description/sources) in which two scenario files differ."""
    a, b = before.flat(), after.flat()
    return {k: b[k] for k in b if k not in ("name", "description") and a.get(k) != b[k]}


def guigang_holdout(settings: Settings, runner: Runner, *, reported_2015: float = GUIGANG_2015,
                    reported_2016: float = GUIGANG_2016, fit: Callable = calibrate, out: Path | None = None,
                    say: Callable[[str], None] = lambda s: None) -> dict:
    """Fit on 2015, predict 2016.  `reported_2016` is used only to set beside the prediction."""
    path15, path16 = SCENARIOS / "guigang_2015.yaml", SCENARIOS / "guigang_2016.yaml"
    s15, s16 = load_scenario(path15), load_scenario(path16)
    change = scenario_change(s15, s16)
    if set(change) != {"camera_coverage"}:
        raise ScenarioError(f"{path16}: expected to differ from guigang_2015 only in camera_coverage, differs in {sorted(change)}")
    shape = {"days": settings.days, "scale": settings.scale}

    say(f"Guigang: fitting {FIT_PARAM} to 2015 ({reported_2015:.2%}), {settings.fit_replicates} replicates")
    cal = fit(s15, {SAFETY: reported_2015}, [FIT_PARAM], replicates=settings.fit_replicates, seed=FIT_SEED,
              days=settings.days, scale=settings.scale, bounds={FIT_PARAM: FIT_BOUNDS}, xatol=5e-4, runner=runner)
    theta = cal.fitted[FIT_PARAM]
    theta_se = cal.param_se.get(FIT_PARAM, math.nan)

    keys = (SAFETY, "population_share_safe", "survey_share_safe", "incidents_per_10k_year", "incidents_known_per_10k_year",
            "incidents_cleared", "clearance_rate", "detection_rate", "camera_detection_share", "cameras", "residents",
            RESOLUTION)
    seeds = crn_seeds(PREDICT_SEED, settings.predict_replicates)
    fitted = {FIT_PARAM: theta, **shape}
    say(f"Guigang: predicting 2016 with {FIT_PARAM} = {theta:.4f}, {len(seeds)} replicates")
    runs = runner.map(_specs(s15, seeds, fitted, keys) + _specs(s15, seeds, {**fitted, **change}, keys))
    r15, r16 = runs[: len(seeds)], runs[len(seeds):]

    # how the fitted parameter's uncertainty moves 2016: slope of 2016 in θ at the fit seeds
    h = 0.02 * (FIT_BOUNDS[1] - FIT_BOUNDS[0])
    fseeds = cal.seeds
    sl = runner.map(_specs(s15, fseeds, {**fitted, **change, FIT_PARAM: theta + h}, (SAFETY,))
                    + _specs(s15, fseeds, {**fitted, **change, FIT_PARAM: theta - h}, (SAFETY,)))
    slope16 = (np.mean(_col(sl[: len(fseeds)], SAFETY)) - np.mean(_col(sl[len(fseeds):], SAFETY))) / (2 * h)
    slope15 = cal.jacobian.get(FIT_PARAM, {}).get(SAFETY, math.nan)

    y16 = np.array(_col(r16, SAFETY))
    y15 = np.array(_col(r15, SAFETY))
    pred = float(y16.mean())
    n16 = s16.perception.survey_n
    var_rep = float(y16.var(ddof=1)) if len(y16) > 1 else 0.0
    var_fit = float((slope16 * theta_se) ** 2) if math.isfinite(theta_se) and math.isfinite(slope16) else 0.0
    var_survey = pred * (1 - pred) / n16
    sd = math.sqrt(var_rep + var_fit + var_survey)
    interval = [pred - 1.96 * sd, pred + 1.96 * sd]

    filed = paired(_col(r15, "incidents_known_per_10k_year"), _col(r16, "incidents_known_per_10k_year"), relative=True)
    solved = paired(_col(r15, "incidents_cleared"), _col(r16, "incidents_cleared"), relative=True)
    all_inc = paired(_col(r15, "incidents_per_10k_year"), _col(r16, "incidents_per_10k_year"), relative=True)

    overlays = {}
    if out is not None:
        cal_path = write_overlay(cal, Path(out) / "guigang_2015.calibrated.yaml", path15, name="guigang_2015-calibrated",
                                 note="Made by `gridsim validate`: fitted to the 2015 figure only (the 2016 one is held out).")
        src16 = s16.sources.get("camera_coverage", "guigang_2016.yaml")
        pred_path = Path(out) / "guigang_2016.predicted.yaml"
        import yaml

        body = yaml.safe_dump({"extends": cal_path.name, "name": "guigang_2016-predicted",
                               "camera_coverage": {"value": change["camera_coverage"], "source": src16}},
                              sort_keys=False, allow_unicode=True, width=100)
        pred_path.write_text("# Guigang 2016 as predicted by `gridsim validate`: the 2015 calibration with only what the\n"
                             "# document says changed by 2016 (the camera stock, as in guigang_2016.yaml).\n" + body,
                             encoding="utf-8")
        overlays = {"calibrated_2015": cal_path.name, "predicted_2016": pred_path.name}

    return {
        "guigang_2016": {
            "predicted": pred, "interval": interval, "reported": reported_2016, "fitted": False,
            "inside_interval": bool(interval[0] <= reported_2016 <= interval[1]),
            "z": (reported_2016 - pred) / sd,
            "sd": sd, "sd_parts": {"replicates": math.sqrt(var_rep), "fit (2015 survey error through the fit)": math.sqrt(var_fit),
                                   "2016 survey sampling": math.sqrt(var_survey)},
            "survey_n": n16, "outcome": SAFETY, "replicates": len(seeds), "seeds": seeds,
            "population_share_safe": mean_ci(_col(r16, "population_share_safe")),
            "change_pp": paired(y15, y16), "reported_change_pp": reported_2016 - reported_2015,
            "changed_parameters": change, "slope_2016_per_unit": float(slope16),
        },
        "guigang_2015": {
            "reported": reported_2015, "fitted": True, "parameter": FIT_PARAM, "value": theta, "se": theta_se,
            "start": cal.start[FIT_PARAM], "bounds": list(FIT_BOUNDS), "model": cal.targets[0]["model_mean"],
            "model_sd": cal.targets[0]["model_sd"], "target_se": cal.targets[0]["se"], "z": cal.targets[0]["z"],
            "objective": cal.objective, "evaluations": cal.evaluations, "seeds": cal.seeds, "method": cal.method,
            "slope_2015_per_unit": slope15, "history": [{"theta": r["params"][FIT_PARAM], "model": r["means"][SAFETY],
                                                         "objective": r["objective"]} for r in cal.history],
            "predicted_with_prediction_seeds": mean_ci(y15),
        },
        "guigang_cases": {
            "filed": {"model_change": filed, "reported_change": GUIGANG_FILED_CHANGE,
                      "model_outcome": "incidents_known_per_10k_year (incidents known to police)"},
            "solved": {"model_change": solved, "reported_change": GUIGANG_SOLVED_CHANGE, "model_outcome": "incidents_cleared"},
            "all_incidents": {"model_change": all_inc},
            "clearance_rate_2015": mean_ci(_col(r15, "clearance_rate")), "clearance_rate_2016": mean_ci(_col(r16, "clearance_rate")),
            "cameras_2015": mean_ci(_col(r15, "cameras")), "cameras_2016": mean_ci(_col(r16, "cameras")),
            "residents": r15[0]["residents"],
        },
        "overlays": overlays,
    }


# =========================================================================== 2. the other cities
CITY_KEYS = (SAFETY, "population_share_safe", RESOLUTION, "resolution_hours_mean", "share_settled_in_grid", "share_known",
             "incidents_per_10k_year", "incidents_known_per_10k_year", "clearance_rate", "detection_rate",
             "conversions_per_10k_year", "visits_per_household_month", "worker_utilisation", "grid_workers",
             "grid_workers_fulltime", "grids", "cameras", "cost_yuan_per_resident_year", "police_response_hours_mean",
             "residents")


def _summ(results: list[dict], keys=CITY_KEYS) -> dict:
    return {k: mean_ci(_col(results, k)) for k in keys}


def _deltas(a: list[dict], b: list[dict], keys) -> dict:
    return {k: paired(_col(a, k), _col(b, k)) for k in keys}


def city_checks(settings: Settings, runner: Runner, say: Callable[[str], None] = lambda s: None) -> dict:
    shape = {"days": settings.days, "scale": settings.scale}
    seeds = crn_seeds(CITY_SEED, settings.city_replicates)
    jin = load_scenario(SCENARIOS / "jincheng.yaml")
    fcg = load_scenario(SCENARIOS / "fangchenggang.yaml")
    hui = load_scenario(SCENARIOS / "huizhou.yaml")
    lai = load_scenario(SCENARIOS / "laibin.yaml")
    gg16 = load_scenario(SCENARIOS / "guigang_2016.yaml")
    before = HUIZHOU_POPULATION / HUIZHOU_GRIDS_BEFORE
    after = hui.residents_per_grid
    wpg = hui.staffing.workers_per_grid
    batches = {
        "jincheng": _specs(jin, seeds, shape, CITY_KEYS, (robbery_times,)),
        "fcg_low": _specs(fcg, seeds, {**shape, "camera_coverage": FCG_LOW_COVERAGE}, CITY_KEYS),
        "fcg_file": _specs(fcg, seeds, shape, CITY_KEYS),
        "hui_before": _specs(hui, seeds, {**shape, "residents_per_grid": before}, CITY_KEYS, (same_day,)),
        "hui_after": _specs(hui, seeds, shape, CITY_KEYS, (same_day,)),
        "hui_after_same_workforce": _specs(hui, seeds, {**shape, "staffing.workers_per_grid": wpg * after / before},
                                           CITY_KEYS, (same_day,)),
        "lai_file": _specs(lai, seeds, shape, CITY_KEYS, (same_day, fulltime_placement)),
        "lai_lead": _specs(lai, seeds, {**shape, "staffing.fulltime_first": "lead_workers"}, CITY_KEYS,
                           (same_day, fulltime_placement)),
        "gg16_file": _specs(gg16, seeds, shape, CITY_KEYS),
    }
    say(f"cities: {sum(len(v) for v in batches.values())} runs")
    flat = [s for v in batches.values() for s in v]
    res = runner.map(flat)
    out, i = {}, 0
    for name, specs in batches.items():
        out[name] = res[i: i + len(specs)]
        i += len(specs)

    # Jincheng
    clear = np.concatenate([np.asarray(r["robbery_times"]["call_to_clear"], float) for r in out["jincheng"]] or [np.zeros(0)])
    scene = np.concatenate([np.asarray(r["robbery_times"]["call_to_scene"], float) for r in out["jincheng"]] or [np.zeros(0)])

    def q(x, p):
        return float(np.quantile(x, p)) if len(x) else math.nan

    jincheng = {
        "reported_hours": JINCHENG_ROBBERY_HOURS, "cleared_robberies": int(len(clear)),
        "robberies": int(sum(r["robbery_times"]["robberies"] for r in out["jincheng"])),
        "call_to_clear": {"median": q(clear, 0.5), "mean": float(clear.mean()) if len(clear) else math.nan,
                          "p10": q(clear, 0.1), "p25": q(clear, 0.25), "p75": q(clear, 0.75), "p90": q(clear, 0.9)},
        "call_to_scene": {"median": q(scene, 0.5), "p90": q(scene, 0.9)},
        "share_within_reported": float((clear <= JINCHENG_ROBBERY_HOURS).mean()) if len(clear) else math.nan,
        "hours": clear.tolist(),
        "summary": _summ(out["jincheng"]),
    }
    fcg_out = {"low_coverage": FCG_LOW_COVERAGE, "file_coverage": fcg.camera_coverage,
               "low": _summ(out["fcg_low"]), "file": _summ(out["fcg_file"]),
               "change": _deltas(out["fcg_low"], out["fcg_file"], CITY_KEYS),
               "incidents_change_relative": paired(_col(out["fcg_low"], "incidents_per_10k_year"),
                                                   _col(out["fcg_file"], "incidents_per_10k_year"), relative=True)}
    for name in ("hui_before", "hui_after", "hui_after_same_workforce", "lai_file", "lai_lead"):
        for r in out[name]:
            for k, v in r.pop("same_day").items():
                r[k] = v
    day_keys = ("share_known_resolved_within_24h", "share_grid_settled_within_24h")
    hk = CITY_KEYS + day_keys
    huizhou = {"residents_per_grid_before": before, "residents_per_grid_after": after, "workers_per_grid": wpg,
               "workers_per_grid_same_workforce": wpg * after / before,
               "before": _summ(out["hui_before"], hk), "after": _summ(out["hui_after"], hk),
               "after_same_workforce": _summ(out["hui_after_same_workforce"], hk),
               "change": _deltas(out["hui_before"], out["hui_after"], hk),
               "change_same_workforce": _deltas(out["hui_before"], out["hui_after_same_workforce"], hk),
               "incidents_change_relative": paired(_col(out["hui_before"], "incidents_per_10k_year"),
                                                   _col(out["hui_after"], "incidents_per_10k_year"), relative=True)}
    for name in ("lai_file", "lai_lead"):
        for r in out[name]:
            for k, v in r.pop("fulltime_placement").items():
                r[k] = v
    lk = hk + ("fulltime_share", "fulltime_in_densest_quarter", "grids_all_fulltime_share_of_grids_with_any")
    laibin = {"reported_fulltime_share": LAIBIN_FULLTIME_SHARE, "file_fulltime_ratio": lai.fulltime_ratio,
              "dense_grids": _summ(out["lai_file"], lk), "lead_workers": _summ(out["lai_lead"], lk),
              "change_dense_minus_lead": _deltas(out["lai_lead"], out["lai_file"], lk)}
    guangxi = {"laibin": mean_ci(_col(out["lai_file"], SAFETY)), "fangchenggang": mean_ci(_col(out["fcg_file"], SAFETY)),
               "guigang_2016": mean_ci(_col(out["gg16_file"], SAFETY)), "jincheng": mean_ci(_col(out["jincheng"], SAFETY)),
               "huizhou": mean_ci(_col(out["hui_after"], SAFETY))}
    return {"seeds": seeds, "jincheng": jincheng, "fangchenggang": fcg_out, "huizhou": huizhou, "laibin": laibin,
            "safety_by_city": guangxi}


# =========================================================================== 3. sensitivity
def _is_prob(key: str) -> bool:
    """A probability or a share: the schema bounds it by [0, 1] or its unit says so."""
    from .calibration import schema_extra

    lo, hi = _bounds(key)
    unit = schema_extra(key, "unit").lower()
    return (lo == "≥ 0" and hi == "≤ 1") or "probab" in unit or unit.startswith("share")


def screening_candidates(base: Scenario) -> list[dict]:
    """Every assumed (or partly assumed), behavioural, numeric parameter with a low and a high
    value: ×½ and ×2, for probabilities and shares the odds ×½ and ×2 (p/(2−p), 2p/(1+p)),
    within the schema's limits."""
    from .calibration import COST_ONLY, is_assumption, param_source

    flat = base.flat()
    out = []
    for key, (fi, _) in _LEAVES_CACHE().items():
        if key in NOT_SCREENED or key in COST_ONLY or key.startswith("disputes.severity.") or key in ("name", "description", "sources"):
            continue
        v = flat.get(key)
        partly = "assum" in param_source(key, base).lower()
        if isinstance(v, bool) or not (is_assumption(key, base) or partly):
            continue
        if isinstance(v, float):
            vals = np.array([v])
        elif isinstance(v, tuple) and all(isinstance(x, float) for x in v):
            vals = np.array(v, float)
        else:
            continue
        if not np.any(vals > 0) or np.any(vals >= 1e8):
            continue
        if _is_prob(key) and np.all(vals <= 1.0):
            low, high = vals / (2.0 - vals), 2.0 * vals / (1.0 + vals)
        else:
            low, high = vals / 2.0, vals * 2.0
            lo_txt, hi_txt = _bounds(key)
            if hi_txt and hi_txt.startswith("≤"):
                high = np.minimum(high, float(hi_txt.split()[1]))
            if hi_txt and hi_txt.startswith("<"):
                high = np.minimum(high, float(hi_txt.split()[1]) * 0.999)
            if lo_txt and lo_txt.startswith("≥"):
                low = np.maximum(low, float(lo_txt.split()[1]))
        conv = (lambda a: float(a[0])) if isinstance(v, float) else (lambda a: [float(x) for x in a])
        lo_v, hi_v = conv(low), conv(high)
        if np.allclose(low, high):
            continue
        try:
            base.with_overrides({key: lo_v}, "screening")
            base.with_overrides({key: hi_v}, "screening")
        except ScenarioError:
            continue
        out.append({"key": key, "default": conv(vals), "low": lo_v, "high": hi_v,
                    "provenance": "assumption" if is_assumption(key, base) else "partly assumed: " + param_source(key, base)})
    return out


def screening(settings: Settings, runner: Runner, base: Scenario, say=lambda s: None) -> dict:
    cands = screening_candidates(base)
    shape = {"days": settings.district_days, "scale": settings.district_scale}
    seeds = crn_seeds(SCREEN_SEED, settings.screen_replicates)
    keys = (RESOLUTION, POP_SAFE)
    specs = []
    for c in cands:
        specs += _specs(base, seeds, {**shape, c["key"]: c["low"]}, keys)
        specs += _specs(base, seeds, {**shape, c["key"]: c["high"]}, keys)
    say(f"screening: {len(cands)} assumed parameters, {len(specs)} runs")
    res = runner.map(specs)
    R = len(seeds)
    rows = []
    for i, c in enumerate(cands):
        lo = res[2 * i * R: (2 * i + 1) * R]
        hi = res[(2 * i + 1) * R: (2 * i + 2) * R]
        row = dict(c)
        for k in keys:
            row[f"effect_{k}"] = float(np.nanmean(_col(hi, k)) - np.nanmean(_col(lo, k)))
        rows.append(row)
    for k in keys:
        order = sorted(rows, key=lambda r: -abs(r[f"effect_{k}"]) if np.isfinite(r[f"effect_{k}"]) else 0)
        for rank, r in enumerate(order, 1):
            r[f"rank_{k}"] = rank
    chosen = []
    for k in keys:
        for r in sorted(rows, key=lambda r: r[f"rank_{k}"])[:3]:
            if r["key"] not in chosen:
                chosen.append(r["key"])
    return {"rows": rows, "chosen": chosen, "seeds": seeds, "rule": "top 3 by |effect| for each outcome, union"}


def _sobol_value(spec: dict, u: float):
    if spec["kind"] == "log":
        return float(spec["low"] * (spec["high"] / spec["low"]) ** u)
    lo, hi = spec["low"], spec["high"]
    if isinstance(lo, list):
        return [float(a + u * (b - a)) for a, b in zip(lo, hi)]
    return float(lo + u * (hi - lo))


def sensitivity(settings: Settings, runner: Runner, base: Scenario, assumed: list[dict], say=lambda s: None) -> dict:
    """Sobol indices of resolution time and perceived safety; one seed for every point (CRN)."""
    from scipy import stats

    dims = [{"key": k, "kind": kind, "low": lo, "high": hi, "group": "lever"} for k, (kind, lo, hi) in SOBOL_LEVERS.items()]
    dims += [{"key": a["key"], "kind": "lin", "low": a["low"], "high": a["high"], "group": "assumed"} for a in assumed]
    shape = {"days": settings.district_days, "scale": settings.district_scale}
    keys = (RESOLUTION, POP_SAFE, SAFETY)     # the report shows the first two; the third is in validation.json
    d = len(dims)
    say(f"Sobol: {d} inputs, n = {settings.sobol_n}, {settings.sobol_n * (d + 2)} runs")
    bad = {"nan": 0}

    def func(x):
        specs = []
        for j in range(x.shape[1]):
            ov = {**shape, **{dims[i]["key"]: _sobol_value(dims[i], float(x[i, j])) for i in range(d)}}
            specs.append(RunSpec(base, SOBOL_SEED, tuple(ov.items()), keys))
        res = runner.map(specs)
        y = np.array([[r[k] for r in res] for k in keys], float)
        for row in y:
            m = ~np.isfinite(row)
            bad["nan"] += int(m.sum())
            row[m] = np.nanmean(row) if np.isfinite(row).any() else 0.0
        return y

    t0 = time.perf_counter()
    res = stats.sobol_indices(func=func, n=settings.sobol_n, dists=[stats.uniform(0, 1)] * d,
                              rng=np.random.default_rng(SOBOL_SEED))
    boot = None
    if settings.bootstrap:
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                boot = res.bootstrap(confidence_level=0.95, n_resamples=settings.bootstrap)
        except Exception as exc:  # small designs can make the bootstrap degenerate
            say(f"Sobol bootstrap skipped: {exc}")
    first, total = np.atleast_2d(res.first_order), np.atleast_2d(res.total_order)
    out = {"inputs": [{k: v for k, v in dim.items()} for dim in dims], "outcomes": list(keys), "n": settings.sobol_n,
           "runs": settings.sobol_n * (d + 2), "seed": SOBOL_SEED, "nan_replaced": bad["nan"],
           "seconds": time.perf_counter() - t0, "indices": {}}
    fA = np.atleast_2d(res._f_A)
    for s, k in enumerate(keys):
        rows = []
        for i, dim in enumerate(dims):
            row = {"key": dim["key"], "group": dim["group"], "first": float(first[s, i]), "total": float(total[s, i])}
            if boot is not None:
                fl, fh = np.atleast_2d(boot.first_order.confidence_interval.low), np.atleast_2d(boot.first_order.confidence_interval.high)
                tl, th = np.atleast_2d(boot.total_order.confidence_interval.low), np.atleast_2d(boot.total_order.confidence_interval.high)
                row.update({"first_ci": [float(fl[s, i]), float(fh[s, i])], "total_ci": [float(tl[s, i]), float(th[s, i])]})
            rows.append(row)
        out["indices"][k] = rows
        out.setdefault("output_sd", {})[k] = float(np.std(fA[s], ddof=1))
    # noise: spread over seeds at the centre of the box, against the spread over the box
    centre = {**shape, **{dim["key"]: _sobol_value(dim, 0.5) for dim in dims}}
    noise = runner.map(_specs(base, crn_seeds(SOBOL_SEED + 1, settings.noise_replicates), centre, keys))
    out["noise_sd_at_centre"] = {k: float(np.nanstd(_col(noise, k), ddof=1)) if len(noise) > 1 else math.nan for k in keys}
    return out


# =========================================================================== 4. mechanism checks
def queue_scenario(servers: int, lam_per_hour: float, service_mean_hours: float, days: int, residents: int = 5000) -> Scenario:
    """The grid rung as a pure M/M/c queue: one grid, `servers` full-time workers on 24-h
    shifts, no routine duties, instant discovery, success 1, no threshold, no hand-off, no
    conversion, exponential service with the same mean at every severity, no crime."""
    rate = lam_per_hour * 24.0 * 365.0 * 1e4 / residents
    return Scenario().with_overrides({
        "population": residents, "scale": 1.0, "days": days, "residents_per_grid": 100_000, "fulltime_ratio": 1.0,
        "disputes.instant_discovery": True, "disputes.report_delay_hours": 0.0, "disputes.rate_per_10k_year": rate,
        "disputes.conversion_daily": [0.0, 0.0, 0.0], "staffing.workers_per_grid": servers, "staffing.fulltime_hours": 24.0,
        "staffing.shift_start": 0.0, "staffing.routine_hours_per_1000": 0.0, "staffing.fulltime_skill": 1.0,
        "ladder.grid.success": [1.0, 1.0, 1.0], "ladder.grid.service_mean_hours": [service_mean_hours] * 3,
        "ladder.grid.service_cv": 1.0, "ladder.grid.wait_threshold_hours": 1e12, "ladder.grid.handoff_hours": 0.0,
        **{f"crime.rate_per_10k_year.{k}": 0.0 for k in ("theft", "burglary", "robbery", "assault")},
    }, "queue check")


def erlang_c_wait(c: int, lam: float, mu: float) -> tuple[float, float]:
    """(mean wait in queue, P(wait > 0)) of M/M/c; c = 1 is M/M/1 (Wq = ρ/(μ − λ))."""
    from scipy import stats

    a = lam / mu
    rho = a / c
    top = stats.poisson.pmf(c, a) / (1.0 - rho)
    pw = float(top / (stats.poisson.cdf(c - 1, a) + top))
    return pw / (c * mu - lam), pw


def queue_checks(settings: Settings, runner: Runner, say=lambda s: None) -> dict:
    mu = 1.0
    seeds = crn_seeds(QUEUE_SEED, settings.queue_replicates)
    batches = []
    for c in QUEUE_SERVERS:
        for rho in settings.utilisations:
            lam = rho * c * mu
            batches.append((c, rho, lam, _specs(queue_scenario(c, lam, 1.0 / mu, settings.queue_days), seeds, {}, ("disputes",),
                                                (queue_wait,))))
    say(f"queueing: {sum(len(b[3]) for b in batches)} runs")
    res = runner.map([s for b in batches for s in b[3]])
    rows, i = [], 0
    for c, rho, lam, specs in batches:
        rr = res[i: i + len(specs)]
        i += len(specs)
        wq, pw = erlang_c_wait(c, lam, mu)
        w = mean_ci([r["queue_wait"]["mean_wait"] for r in rr])
        p = mean_ci([r["queue_wait"]["share_waited"] for r in rr])
        se = w["sd"] / math.sqrt(w["n"]) if w["n"] > 1 else math.nan
        rows.append({"servers": c, "utilisation": rho, "arrivals_per_hour": lam, "theory_wait": wq, "theory_p_wait": pw,
                     "model_wait": w, "model_p_wait": p, "z": (w["mean"] - wq) / se if se and se > 0 else math.nan,
                     "relative_error": (w["mean"] - wq) / wq, "inside_ci": bool(w["low"] <= wq <= w["high"]),
                     "cases": int(sum(r["queue_wait"]["cases"] for r in rr)),
                     "never_served": int(sum(r["queue_wait"]["never_served"] for r in rr))})
    return {"rows": rows, "days": settings.queue_days, "replicates": len(seeds), "service_mean_hours": 1.0 / mu,
            "warm_up": "first tenth of the horizon (≥ 2 days) dropped"}


def lever_checks(settings: Settings, runner: Runner, base: Scenario, say=lambda s: None) -> dict:
    shape = {"days": settings.district_days, "scale": settings.district_scale}
    seeds = crn_seeds(LEVER_SEED, settings.lever_replicates)
    keys = tuple(BETTER)
    batches = [(lever, v, _specs(base, seeds, {**shape, lever: v}, keys)) for lever, vals in LEVER_VALUES.items() for v in vals]
    say(f"levers: {sum(len(b[2]) for b in batches)} runs")
    res = runner.map([s for b in batches for s in b[2]])
    out: dict = {"seeds": seeds, "levers": {}}
    i = 0
    by: dict = {}
    for lever, v, specs in batches:
        by.setdefault(lever, []).append((v, res[i: i + len(specs)]))
        i += len(specs)
    for lever, pts in by.items():
        # order the points from "less" to "more" of the lever
        pts = sorted(pts, key=lambda p: LEVER_MORE[lever] * p[0])
        lev = {"values": [p[0] for p in pts], "outcomes": {}}
        for k in keys:
            series = [mean_ci(_col(r, k)) for _, r in pts]
            steps = []
            for (v0, r0), (v1, r1) in zip(pts, pts[1:]):
                d = paired(_col(r0, k), _col(r1, k))
                better = BETTER[k]
                worse = (better > 0 and d["high"] < 0) or (better < 0 and d["low"] > 0)
                steps.append({"from": v0, "to": v1, "change": d, "significantly_worse": bool(worse)})
            ends = paired(_col(pts[0][1], k), _col(pts[-1][1], k))
            from scipy import stats

            diffs = np.array(_col(pts[-1][1], k)) - np.array(_col(pts[0][1], k))
            diffs = diffs[np.isfinite(diffs)]
            p_worse = float(stats.ttest_1samp(diffs * BETTER[k], 0.0, alternative="less").pvalue) if len(diffs) > 1 and np.std(diffs) > 0 else math.nan
            lev["outcomes"][k] = {"series": series, "steps": steps, "ends": ends, "p_more_is_worse": p_worse,
                                  "monotone": not any(s["significantly_worse"] for s in steps)}
        out["levers"][lever] = lev
    return out


# =========================================================================== the whole report
def run_validation(out: str | Path, settings: Settings, workers: int | None = None, say=lambda s: None,
                   sections: tuple[str, ...] = ("guigang", "cities", "sensitivity", "queueing", "levers")) -> dict:
    """Run every section, then write REPORT.md, validation.json and the figures into `out`."""
    from .run import _jsonable, versions

    t0 = time.perf_counter()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    results: dict[str, Any] = {"settings": asdict(settings), "versions": versions(),
                               "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "timings": {}}
    base = load_scenario(SCENARIOS / "default.yaml")
    try:
        with Runner(workers) as runner:
            results["workers"] = runner.workers

            def timed(name, fn):
                t = time.perf_counter()
                r0, s0 = runner.runs, runner.run_seconds
                value = fn()
                results["timings"][name] = {"seconds": time.perf_counter() - t, "runs": runner.runs - r0,
                                            "run_seconds": runner.run_seconds - s0}
                say(f"  {name}: {time.perf_counter() - t:.0f} s, {runner.runs - r0} runs")
                return value

            if "guigang" in sections:
                results.update(timed("guigang", lambda: guigang_holdout(settings, runner, out=tmp, say=say)))
            if "cities" in sections:
                results["cities"] = timed("cities", lambda: city_checks(settings, runner, say=say))
            if "sensitivity" in sections:
                if settings.screen:
                    results["screening"] = timed("screening", lambda: screening(settings, runner, base, say=say))
                    chosen = results["screening"]["chosen"]
                    rows = {r["key"]: r for r in results["screening"]["rows"]}
                    assumed = [rows[k] for k in chosen]
                else:
                    cands = {c["key"]: c for c in screening_candidates(base)}
                    assumed = [cands[k] for k in FALLBACK_ASSUMED if k in cands]
                results["sensitivity"] = timed("sobol", lambda: sensitivity(settings, runner, base, assumed, say=say))
            if "queueing" in sections:
                results["queueing"] = timed("queueing", lambda: queue_checks(settings, runner, say=say))
            if "levers" in sections:
                results["levers"] = timed("levers", lambda: lever_checks(settings, runner, base, say=say))
            results["runs"] = runner.runs
            results["run_seconds"] = runner.run_seconds
        results["wall_seconds"] = time.perf_counter() - t0
        results = _jsonable(results)
        (tmp / "validation.json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        write_report(results, tmp)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.resolve() == DOCS_DIR.resolve():
        write_docs_page(results, DOCS_DIR.parent / "VALIDATION.md")
    return results


# =========================================================================== figures
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 8, "axes.titlesize": 9, "figure.dpi": 100})
    return plt


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)


def plot_guigang(res: dict, path: Path) -> None:
    plt = _plt()
    g15, g16, cases = res["guigang_2015"], res["guigang_2016"], res["guigang_cases"]
    fig, ax = plt.subplots(1, 3, figsize=(11, 3.3))
    h = sorted(g15["history"], key=lambda r: r["theta"])
    ax[0].plot([r["theta"] for r in h], [100 * r["model"] for r in h], "o-", ms=3, label="model (mean of CRN replicates)")
    ax[0].axhline(100 * g15["reported"], color="C1", label="reported 2015")
    ax[0].axhspan(100 * (g15["reported"] - 1.96 * g15["target_se"]), 100 * (g15["reported"] + 1.96 * g15["target_se"]),
                  color="C1", alpha=0.15)
    ax[0].axvline(g15["value"], color="k", ls=":", lw=1)
    ax[0].set(xlabel=g15["parameter"], ylabel="safe (%)", title="fit on 2015: every evaluation")
    ax[0].legend(fontsize=7)
    years = [2015, 2016]
    ax[1].errorbar([2015], [100 * g15["model"]], fmt="s", color="C0", label="model, fitted (2015)")
    lo, hi = g16["interval"]
    ax[1].errorbar([2016], [100 * g16["predicted"]], yerr=[[100 * (g16["predicted"] - lo)], [100 * (hi - g16["predicted"])]],
                   fmt="o", color="C2", capsize=4, label="model, predicted (2016, 95 %)")
    ax[1].plot(years, [100 * g15["reported"], 100 * g16["reported"]], "x--", color="C1", ms=8, label="reported")
    ax[1].set(xticks=years, xlim=(2014.5, 2016.5), ylabel="safe (%)", title="Guigang 2016 held out")
    ax[1].legend(fontsize=7)
    labels = ["criminal cases filed", "cases solved"]
    model = [cases["filed"]["model_change"], cases["solved"]["model_change"]]
    rep = [cases["filed"]["reported_change"], cases["solved"]["reported_change"]]
    x = np.arange(2)
    ax[2].bar(x - 0.2, [100 * m["mean"] for m in model], 0.4, yerr=[[100 * (m["mean"] - m["low"]) for m in model],
                                                                       [100 * (m["high"] - m["mean"]) for m in model]],
              capsize=3, label="model 2015→2016")
    ax[2].bar(x + 0.2, [100 * r for r in rep], 0.4, label="reported")
    ax[2].axhline(0, color="k", lw=0.5)
    ax[2].set(xticks=x, xticklabels=labels, ylabel="change (%)", title="criminal cases, 2015 → 2016")
    ax[2].legend(fontsize=7)
    _save(fig, path)


def plot_cities(res: dict, path: Path) -> None:
    plt = _plt()
    c = res["cities"]
    fig, ax = plt.subplots(2, 2, figsize=(11, 6.2))
    ax = ax.ravel()
    hours = np.asarray(c["jincheng"]["hours"], float)
    if len(hours):
        ax[0].hist(hours, bins=np.linspace(0, max(12.0, float(np.quantile(hours, 0.95))), 30), color="C0")
    ax[0].axvline(c["jincheng"]["reported_hours"], color="C1", lw=2, label="reported: 1 h 52 min")
    ax[0].set(xlabel="call → cleared (h), cleared robberies", ylabel="robberies", title="Jincheng: robbery cleared")
    ax[0].legend(fontsize=7)

    def bars(a, items, title):
        names = [n for n, _ in items]
        vals = [d for _, d in items]
        y = np.arange(len(names))
        a.barh(y, [v["mean"] for v in vals], xerr=[[v["mean"] - v["low"] for v in vals], [v["high"] - v["mean"] for v in vals]],
               capsize=3, color="C0")
        a.axvline(0, color="k", lw=0.5)
        a.set_yticks(y, names)
        a.set_title(title)

    f = c["fangchenggang"]["change"]
    bars(ax[1], [("safe (pp)", _scale(f[SAFETY], 100)), ("incidents /10k/yr", f["incidents_per_10k_year"]),
                 ("clearance (pp)", _scale(f["clearance_rate"], 100)), ("detection (pp)", _scale(f["detection_rate"], 100))],
         f"Fangchenggang: coverage {c['fangchenggang']['low_coverage']:g} → {c['fangchenggang']['file_coverage']:g}")
    h, hs = c["huizhou"]["change"], c["huizhou"]["change_same_workforce"]
    items = []
    for lab, d in (("fewer workers", h), ("same workforce", hs)):
        items += [(f"report→resolved h, {lab}", d[RESOLUTION]), (f"safe pp, {lab}", _scale(d[SAFETY], 100)),
                  (f"settled in grid pp, {lab}", _scale(d["share_settled_in_grid"], 100))]
    bars(ax[2], items, "Huizhou: 443.9 → 730.6 residents/grid")
    l_ = c["laibin"]["change_dense_minus_lead"]
    bars(ax[3], [("report→resolved h", l_[RESOLUTION]), ("safe pp", _scale(l_[SAFETY], 100)),
                 ("resolved ≤ 24 h pp", _scale(l_["share_known_resolved_within_24h"], 100)),
                 ("settled in grid pp", _scale(l_["share_settled_in_grid"], 100))],
         "Laibin: dense_grids − lead_workers")
    _save(fig, path)


def _scale(d: dict, f: float) -> dict:
    return {k: (v * f if k in ("mean", "low", "high", "sd") and v is not None else v) for k, v in d.items()}


def plot_sobol(res: dict, path: Path) -> None:
    plt = _plt()
    s = res["sensitivity"]
    shown = s["outcomes"][:2]
    fig, ax = plt.subplots(1, len(shown), figsize=(11, 3.6), sharey=True)
    for a, k in zip(np.atleast_1d(ax), shown):
        rows = s["indices"][k]
        y = np.arange(len(rows))
        for off, which, col in ((-0.2, "first", "C0"), (0.2, "total", "C3")):
            v = np.array([r[which] for r in rows])
            err = None
            if f"{which}_ci" in rows[0]:
                ci = np.array([[np.nan if c is None else c for c in r[f"{which}_ci"]] for r in rows], float)
                err = [np.nan_to_num(np.clip(v - ci[:, 0], 0, None)), np.nan_to_num(np.clip(ci[:, 1] - v, 0, None))]
            a.barh(y + off, v, 0.4, xerr=err, capsize=2, color=col, label=f"{which} order")
        a.set_yticks(y, [("◆ " if r["group"] == "lever" else "") + r["key"] for r in rows])
        a.axvline(0, color="k", lw=0.5)
        a.set(title=f"Sobol indices: {k}", xlabel="index (95 % bootstrap interval)")
        a.invert_yaxis()
        a.legend(fontsize=7)
    _save(fig, path)


def plot_queue(res: dict, path: Path) -> None:
    plt = _plt()
    q = res["queueing"]
    fig, ax = plt.subplots(1, 2, figsize=(8, 3.2))
    for a, c in zip(ax, QUEUE_SERVERS):
        rows = [r for r in q["rows"] if r["servers"] == c]
        rho = np.array([r["utilisation"] for r in rows])
        grid = np.linspace(0.05, max(rho.max(), 0.5) + 0.02, 200)
        a.plot(grid, [erlang_c_wait(c, g * c, 1.0)[0] for g in grid], "k-", lw=1, label="M/M/1" if c == 1 else f"Erlang C (c = {c})")
        m = np.array([r["model_wait"]["mean"] for r in rows])
        lo = np.array([r["model_wait"]["low"] for r in rows])
        hi = np.array([r["model_wait"]["high"] for r in rows])
        a.errorbar(rho, m, yerr=[np.nan_to_num(m - lo), np.nan_to_num(hi - m)], fmt="o", color="C3", capsize=3,
                   label="model (95 % CI over replicates)")
        a.set(yscale="log", xlabel="utilisation ρ", ylabel="mean wait (h), service 1 h",
              title=f"grid rung as a pure queue, {c} worker{'s' if c > 1 else ''}")
        a.legend(fontsize=7)
    _save(fig, path)


def plot_levers(res: dict, path: Path) -> None:
    plt = _plt()
    lv = res["levers"]["levers"]
    keys = list(BETTER)
    fig, ax = plt.subplots(len(keys), len(lv), figsize=(10, 2.4 * len(keys)))
    for j, (lever, d) in enumerate(lv.items()):
        x = np.array(d["values"], float)
        for i, k in enumerate(keys):
            s = d["outcomes"][k]["series"]
            m = np.array([p["mean"] for p in s])
            lo, hi = np.array([p["low"] for p in s]), np.array([p["high"] for p in s])
            f = 100.0 if k == SAFETY else 1.0
            a = ax[i, j]
            a.plot(x, f * m, "o-", color="C0")
            a.fill_between(x, f * lo, f * hi, alpha=0.25, color="C0")
            if lever == "residents_per_grid":
                a.set_xscale("log")
                a.set_xticks(x, [f"{v:g}" for v in x])
                a.minorticks_off()
            if i == len(keys) - 1:
                a.set_xlabel(lever)
            if j == 0:
                a.set_ylabel({SAFETY: "safe (%)", RESOLUTION: "report→resolved (h)"}.get(k, k))
            tag = "monotone" if d["outcomes"][k]["monotone"] else "NOT monotone"
            a.set_title(tag, fontsize=7)
    _save(fig, path)


# =========================================================================== the report
def _pct(x, nd=1):
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.{nd}f} %"


def _pp(x, nd=2):
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:+.{nd}f} pp"


def _num(x, nd=2):
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{nd}f}"


def _ci_txt(d: dict, f: float = 1.0, nd: int = 2, sign: bool = False) -> str:
    if not d or d.get("mean") is None or not np.isfinite(d["mean"]):
        return "n/a"
    s = "+" if sign else ""
    if d.get("low") is None or not np.isfinite(d["low"]):
        return f"{f * d['mean']:{s}.{nd}f}"
    return f"{f * d['mean']:{s}.{nd}f} [{f * d['low']:{s}.{nd}f}, {f * d['high']:{s}.{nd}f}]"


def write_report(res: dict, out: Path) -> None:
    """REPORT.md and the figures, from the results alone."""
    out = Path(out)
    figs = []
    if "guigang_2016" in res:
        plot_guigang(res, out / "guigang.png")
        figs.append("guigang.png")
    if "cities" in res:
        plot_cities(res, out / "cities.png")
    if "sensitivity" in res:
        plot_sobol(res, out / "sobol.png")
    if "queueing" in res:
        plot_queue(res, out / "queueing.png")
    if "levers" in res:
        plot_levers(res, out / "levers.png")
    (out / "REPORT.md").write_text(report_markdown(res), encoding="utf-8")


def report_markdown(res: dict) -> str:
    st = res["settings"]
    L: list[str] = []
    w = L.append
    w(f"# Validation report ({st['name']})\n")
    w(f"Generated {res.get('generated', '')} by `gridsim validate{' --quick' if st['name'] == 'quick' else ''}` "
      f"({sim_version(res)}); {res.get('runs', 0):,} model runs on {res.get('workers', '?')} worker processes, "
      f"{res.get('wall_seconds', 0) / 60:.1f} min wall clock. City runs use a representative {st['scale']:g} of each city "
      f"(same densities) over {st['days']} observed days; the default district runs at scale {st['district_scale']:g} over "
      f"{st['district_days']} observed days; both after the scenario files' warm-up (`warmup_days`, 180), whose events "
      "are not counted. Intervals are 95 %. Numbers are in `validation.json`.\n")
    w("Perceived safety is compared as `survey_expected_share_safe`: the share of *all* residents who would answer "
      "*basically safe* or better on the survey instrument (their felt safety plus the answer noise, against the "
      "cut-point). It is what a city's survey estimates, without the sampling error of its respondents (added "
      "analytically below); `population_share_safe` (no answer noise) runs about 0.6 points higher and is the "
      "safety outcome of the sensitivity analysis, which needs no survey.\n")

    if "guigang_2016" in res:
        g15, g16, cs = res["guigang_2015"], res["guigang_2016"], res["guigang_cases"]
        w("## 1. Guigang: fitted on 2015, 2016 held out\n")
        w(f"![Guigang](guigang.png)\n")
        w(f"**Fit (2015 only).** `{g15['parameter']}` (an assumption) was fitted to the reported 2015 figure, "
          f"{_pct(g15['reported'], 2)} safe with 6,840 cameras, by `scipy.optimize.minimize_scalar` (bounded "
          f"{g15['bounds'][0]}–{g15['bounds'][1]}), {len(g15['seeds'])} replicates per evaluation with the same seeds at "
          f"every evaluation (common random numbers), {g15['evaluations']} evaluations: "
          f"**{g15['value']:.4f} ± {g15['se']:.4f}** (start {g15['start']}). The model then gives {_pct(g15['model'], 2)} "
          f"({g15['z']:+.2f} survey standard errors from the target; target se {_pct(g15['target_se'], 2)}, binomial "
          f"with the scenario's survey n). The ± is the 2015 survey's sampling error carried through the fit "
          f"(se / slope, slope {g15['slope_2015_per_unit']:.3f} per unit).\n")
        ch = g16["changed_parameters"]
        w(f"**Prediction (2016).** Only what the document says changed by 2016 was changed: "
          + ", ".join(f"`{k}` → {v}" for k, v in ch.items())
          + " (8,174 cameras, 1,334 new, covering 934 of 1,156 villages = 80.38 %; guigang_2016.yaml differs from "
            "guigang_2015.yaml in this key alone, which the validation checks). Fresh seeds, "
          f"{g16['replicates']} replicates.\n")
        w("| | value |\n|---|---|")
        w(f"| predicted 2016 | **{_pct(g16['predicted'], 2)}** |")
        w(f"| 95 % interval | **[{_pct(g16['interval'][0], 2)}, {_pct(g16['interval'][1], 2)}]** |")
        w(f"| reported 2016 | {_pct(g16['reported'], 2)} ({'inside' if g16['inside_interval'] else 'outside'} the interval, "
          f"z = {g16['z']:+.2f}) |")
        w(f"| fitted | {str(g16['fitted']).lower()} (the 2016 figure was never seen by the fit) |")
        w(f"| predicted change 2015 → 2016 (paired seeds) | {_ci_txt(g16['change_pp'], 100, 2, True)} points |")
        w(f"| reported change | {100 * g16['reported_change_pp']:+.2f} points |")
        parts = g16["sd_parts"]
        w(f"| interval's sd | {_pct(g16['sd'], 2)} = √(" + " + ".join(f"{_pct(v, 2)}² {k}" for k, v in parts.items()) + ") |\n")
        w("The interval adds, as independent variances: the spread of the model over replicates (each replicate is one "
          "possible city; at scale "
          f"{st['scale']:g} this overstates a whole city's own randomness), the 2015 survey's sampling error carried "
          "through the fit (the fitted parameter's se × the 2016 outcome's slope in it), and the 2016 survey's own "
          f"binomial sampling error √(p(1−p)/n) with n = perception.survey_n = {g16['survey_n']} (an assumption: the "
          "survey team's sample size is not reported; the annual figure may pool four quarterly surveys, which would "
          "halve this part).\n")
        chg = g16["change_pp"]
        small = abs(chg["mean"]) < 0.5 * abs(g16["reported_change_pp"])
        if g16["inside_interval"]:
            w(f"**The reported 2016 figure lies inside the prediction interval** (z = {g16['z']:+.2f}). The interval is "
              "wide mostly because of survey sampling in both years, so this is a weak test"
              + (f"; the model's own change is {_ci_txt(chg, 100, 2, True)} points against the reported "
                 f"{100 * g16['reported_change_pp']:+.2f}, so the agreement owes more to the width of the interval than to "
                 "the camera mechanism." if small else "."))
        else:
            w(f"**The model does not reproduce the 2016 figure**: the reported value lies outside the prediction interval "
              f"(z = {g16['z']:+.2f}). The camera change moves the model's perceived safety by {_ci_txt(chg, 100, 2, True)} "
              f"points against the reported {100 * g16['reported_change_pp']:+.2f}.")
        if small:
            w("In the model, cameras reach perceived safety only through a small direct term (`perception.w_camera`: "
              "there is little evidence that cameras reduce fear) and through somewhat fewer and better-cleared crimes. "
              "The document credits the gain to many measures at once (crackdowns on gambling and drugs, the anti-gang "
              "campaign, dispute work), which the pair of scenario files does not represent: by the model, the camera "
              "build-out alone does not account for Guigang's 4-point rise.\n")
        else:
            w("")
        f, s_ = cs["filed"], cs["solved"]
        w("**Criminal cases, 2015 → 2016** (the same paired runs; no crime figure was fitted):\n")
        w("| | model | reported |\n|---|---|---|")
        w(f"| cases filed (model: incidents known to police) | {_ci_txt(f['model_change'], 100, 1, True)} % | "
          f"{100 * f['reported_change']:+.1f} % |")
        w(f"| cases solved (model: incidents cleared) | {_ci_txt(s_['model_change'], 100, 1, True)} % | "
          f"{100 * s_['reported_change']:+.1f} % |")
        w(f"| all incidents (known or not) | {_ci_txt(cs['all_incidents']['model_change'], 100, 1, True)} % | — |")
        w(f"| clearance rate | {_ci_txt(cs['clearance_rate_2015'], 100, 1)} % → {_ci_txt(cs['clearance_rate_2016'], 100, 1)} % | "
          "3,551 / 9,060 = 39.2 % (2016) |\n")

        def judge(d, rep):
            m, lo, hi = d["mean"], d["low"], d["high"]
            if m is None or not np.isfinite(m):
                return "no model value"
            inside = lo is not None and np.isfinite(lo) and lo <= rep <= hi
            sign = "the same sign as" if m * rep > 0 else "the opposite sign to"
            return (f"{100 * m:+.1f} %, {sign} the reported {100 * rep:+.1f} %, which lies "
                    f"{'inside' if inside else 'outside'} the model's 95 % interval")

        w(f"Cases filed: the model gives {judge(f['model_change'], f['reported_change'])}. Cases solved: "
          f"{judge(s_['model_change'], s_['reported_change'])}. In the model more cameras deter some street crime in view "
          "(`crime.camera_deterrence`) but also reveal incidents no victim would have reported (`crime.camera_detect_prob`), "
          "which push cases filed in opposite directions, and footage raises clearance (`crime.camera_clearance_boost`). "
          "Both reported changes also reflect the 2016 campaigns, which the model does not have. The intervals are over "
          f"replicates of a {st['scale']:g} town, so they are wider than a whole city's.\n")
        if res.get("overlays"):
            ov = res["overlays"]
            w(f"The fitted overlay is [`{ov['calibrated_2015']}`]({ov['calibrated_2015']}) (with its record "
              f"`{Path(ov['calibrated_2015']).with_suffix('.json').name}`); the prediction's scenario is "
              f"[`{ov['predicted_2016']}`]({ov['predicted_2016']}) — `gridsim run` either of them.\n")

    if "cities" in res:
        c = res["cities"]
        w("## 2. The other cities: each scenario against its document\n")
        w("![cities](cities.png)\n")
        j = c["jincheng"]
        w("### Jincheng: a robbery solved in 1 h 52 min\n")
        w(f"The document reports one case (2021-09-11: call 14:49, four suspects caught 16:41). The Jincheng scenario "
          f"gives, over {len(c['seeds'])} replicates, {j['cleared_robberies']} cleared robberies (of {j['robberies']}); their "
          f"call → clearance time: median {_num(j['call_to_clear']['median'])} h, mean {_num(j['call_to_clear']['mean'])} h, "
          f"10–90 % {_num(j['call_to_clear']['p10'])}–{_num(j['call_to_clear']['p90'])} h (officer on scene: median "
          f"{_num(j['call_to_scene']['median'], 2)} h). **{_pct(j['share_within_reported'])} of the model's cleared robberies "
          f"are cleared within 1 h 52 min**, so the reported case is {_where(j['share_within_reported'])} "
          "of the model's distribution. One case cannot validate a distribution — it is only checked that the model "
          "makes such a case ordinary or possible. The scenario's robbery effort (`crime.investigation_hours.robbery`, 2 h) "
          "was itself set with this case in mind, so this is a consistency check, not an independent test.\n")
        fc = c["fangchenggang"]
        d = fc["change"]
        w("### Fangchenggang: from last place after the camera build-out\n")
        w(f"The document gives the camera stock after the build-out (11,000 networked, 21,262 village cameras: the file's "
          f"coverage {fc['file_coverage']:g}) but not before it. **Stated assumption: before the build-out coverage was "
          f"{fc['low_coverage']:g}.** Same seeds, only `camera_coverage` changed:\n")
        w("| outcome | coverage %g | coverage %g | change |\n|---|---|---|---|" % (fc["low_coverage"], fc["file_coverage"]))
        for k, lab, f_ in ((SAFETY, "safe (%)", 100), ("incidents_per_10k_year", "incidents /10k/yr", 1),
                           ("incidents_known_per_10k_year", "known to police /10k/yr", 1), ("detection_rate", "detection (%)", 100),
                           ("clearance_rate", "clearance (%)", 100), ("cost_yuan_per_resident_year", "cost yuan/resident/yr", 1)):
            w(f"| {lab} | {_ci_txt(fc['low'][k], f_)} | {_ci_txt(fc['file'][k], f_)} | {_ci_txt(d[k], f_, 2, True)} |")
        w("")
        up = d[SAFETY]["mean"] > 0
        w(f"The model's perceived safety {'rises' if up else 'falls'} by {_ci_txt(d[SAFETY], 100, 2, True)} points with the "
          f"build-out ({'the direction reported' if up else 'against the direction reported'}). The document reports only "
          "ranks (last in Guangxi in 2016, near the top in 2020); how many points separate last from near the top is not "
          "reported (for scale: Guigang's 85.62 % was 7th and its 89.62 % 6th), the other Guangxi cities are not modelled "
          "with their own changes, and the rise took four years of many measures. **Ranks cannot be compared "
          "quantitatively**: the model gives the direction and the size of the camera build-out's own share.\n")
        h = c["huizhou"]
        w("### Huizhou: 13,614 grids merged into 8,271\n")
        w(f"Run at {h['residents_per_grid_before']:.1f} (before) and {h['residents_per_grid_after']:.1f} residents per grid "
          f"(after). The document does not say whether the workforce shrank with the number of grids: the model is run both "
          f"ways — {h['workers_per_grid']:g} workers per grid after the merge (the file; 39 % fewer workers) and "
          f"{h['workers_per_grid_same_workforce']:.2f} per grid (the same workforce in fewer, bigger grids).\n")
        w("| outcome | before | after (file) | change | after, same workforce | change |\n|---|---|---|---|---|---|")
        for k, lab, f_ in ((RESOLUTION, "report → resolved (h)", 1), ("share_settled_in_grid", "settled in grid (%)", 100),
                           ("share_known_resolved_within_24h", "known disputes resolved ≤ 24 h (%)", 100),
                           ("share_known", "disputes that become known (%)", 100),
                           ("visits_per_household_month", "visits /household/month", 1), (SAFETY, "safe (%)", 100),
                           ("incidents_per_10k_year", "incidents /10k/yr", 1), ("conversions_per_10k_year", "disputes turned violent /10k/yr", 1),
                           ("cost_yuan_per_resident_year", "cost yuan/resident/yr", 1)):
            w(f"| {lab} | {_ci_txt(h['before'][k], f_)} | {_ci_txt(h['after'][k], f_)} | {_ci_txt(h['change'][k], f_, 2, True)} | "
              f"{_ci_txt(h['after_same_workforce'][k], f_)} | {_ci_txt(h['change_same_workforce'][k], f_, 2, True)} |")
        w("")
        w(f"The document reports only that criminal and public-order incidents fell every year since 2017. The model has no "
          "trend in crime (its crime rates are constant inputs); the merge changes incidents only through guardianship "
          f"(visiting hours), by {_ci_txt(h['incidents_change_relative'], 100, 1, True)} %. **Not comparable quantitatively**: "
          "a yearly fall of incidents over several years, caused by much else, cannot be set against a one-off structural change.\n")
        lb = c["laibin"]
        w("### Laibin: 14.8 % full-time, 100 % in urban grids\n")
        w(f"The file uses the documented share ({_pct(lb['reported_fulltime_share'])}, 745 of 5,022) as an input; the model "
          f"realises {_ci_txt(lb['dense_grids']['fulltime_share'], 100, 1)} % of grid workers full-time. With "
          "`staffing.fulltime_first: dense_grids` (the file: every worker of the densest grids first, as Laibin's urban grids) "
          f"{_ci_txt(lb['dense_grids']['fulltime_in_densest_quarter'], 100, 0)} % of full-time posts sit in the densest quarter "
          f"of grids, against {_ci_txt(lb['lead_workers']['fulltime_in_densest_quarter'], 100, 0)} % with `lead_workers`.\n")
        w("| outcome | dense_grids (file) | lead_workers | dense − lead |\n|---|---|---|---|")
        for k, lab, f_ in ((RESOLUTION, "report → resolved (h)", 1), ("share_known_resolved_within_24h", "known disputes resolved ≤ 24 h (%)", 100),
                           ("share_grid_settled_within_24h", "grid-settled within 24 h (%)", 100),
                           ("share_settled_in_grid", "settled in grid (%)", 100), (SAFETY, "safe (%)", 100),
                           ("incidents_per_10k_year", "incidents /10k/yr", 1)):
            w(f"| {lab} | {_ci_txt(lb['dense_grids'][k], f_)} | {_ci_txt(lb['lead_workers'][k], f_)} | "
              f"{_ci_txt(lb['change_dense_minus_lead'][k], f_, 2, True)} |")
        w("")
        w("The share itself is an input, so reproducing it validates nothing; the document's other figures — a grid report "
          "handled the same day (one example), perceived safety first in Guangxi in 2019 — are an anecdote and a rank. "
          "**Neither can be compared quantitatively**; the table shows what the model says the urban placement does.\n")
        sb = c["safety_by_city"]
        w("### Perceived safety across the city files (as they stand)\n")
        w("| city | model: safe (%) | document |\n|---|---|---|")
        docs = {"laibin": "1st in Guangxi 2019", "fangchenggang": "near the top in Guangxi 2020 (last in 2016)",
                "guigang_2016": "89.62 %, 6th in Guangxi 2016", "jincheng": "1st in Shanxi since 2012",
                "huizhou": "no figure"}
        for k, v in sb.items():
            w(f"| {k} | {_ci_txt(v, 100)} | {docs.get(k, '')} |")
        gx = sorted(("laibin", "fangchenggang", "guigang_2016"), key=lambda k: -(sb[k]["mean"] or 0))
        w(f"\nAmong the three Guangxi files the model orders {' > '.join(gx)}. The documents put Laibin 1st in Guangxi "
          "(2019) and Fangchenggang near the top (2020), and give Guigang 89.62 % (6th, 2016)"
          + (": **the model places Laibin last, against its document** — most likely because of its assumed one worker "
             "per grid (the grid count is not reported), with which the model's disputes wait long "
             f"(report → resolved {_num(c['laibin']['dense_grids'][RESOLUTION]['mean'], 0)} h, against "
             f"{_num(c['huizhou']['after'][RESOLUTION]['mean'], 0)} h in Huizhou) and visits are rare."
             if gx[-1] == "laibin" else ".")
          + " Every file uses the schema's baseline safety (0.55, not the Guigang fit), so the differences are the "
          "mechanisms' alone (crime, disorder, visits, patrols, cameras); ranks from different years, and Jincheng's "
          "within Shanxi, cannot be compared quantitatively.\n")

    if "sensitivity" in res:
        s = res["sensitivity"]
        w("## 3. Sensitivity: Sobol indices\n")
        if "screening" in res:
            sc = res["screening"]
            w(f"**Which assumed parameters.** Every assumed, behavioural, numeric parameter ({len(sc['rows'])} of them; "
              "levers, run shape, survey definition, clock positions and cost-only ones excluded) was screened one at a time "
              "in the default district: its value halved and doubled (probabilities and shares: their odds halved and doubled), same seeds. "
              f"Chosen for Sobol: the {sc['rule']} — " + ", ".join(f"`{k}`" for k in sc["chosen"]) + ".\n")
            w("| parameter | low → high | Δ report→resolved (h) | rank | Δ safe (pp) | rank |\n|---|---|---|---|---|---|")
            rows = sorted(sc["rows"], key=lambda r: min(r[f"rank_{RESOLUTION}"], r[f"rank_{POP_SAFE}"]))[:12]
            for r in rows:
                w(f"| `{r['key']}` | {_fmtv(r['low'])} → {_fmtv(r['high'])} | {r[f'effect_{RESOLUTION}']:+.1f} | "
                  f"{r[f'rank_{RESOLUTION}']} | {100 * r[f'effect_{POP_SAFE}']:+.2f} | {r[f'rank_{POP_SAFE}']} |")
            w(f"\n(12 of {len(sc['rows'])} shown; all in `validation.json`.)\n")
        w(f"**Sobol design.** `scipy.stats.sobol_indices` (Saltelli 2010), n = {s['n']} → {s['runs']} runs, inputs uniform "
          "on their ranges (grid size log-uniform 300–2,000 residents; full-time share and coverage 0–1; assumed "
          "parameters over their screening range), one seed for every run (common random numbers: each point is the "
          f"same town and the same random streams), 95 % bootstrap intervals ({st['bootstrap']} resamples).\n")
        w("![Sobol](sobol.png)\n")
        for k in s["outcomes"][:2]:
            w(f"**{k}** (sd over the design {s['output_sd'][k]:.4g}; sd over seeds at the centre {s['noise_sd_at_centre'][k]:.3g}):\n")
            w("| input | first order | total order |\n|---|---|---|")
            for r in s["indices"][k]:
                fo = f"{r['first']:.3f}" + _ci2(r.get("first_ci"))
                to = f"{r['total']:.3f}" + _ci2(r.get("total_ci"))
                w(f"| {'**lever** ' if r['group'] == 'lever' else ''}`{r['key']}` | {fo} | {to} |")
            w("")
        if SAFETY in s["indices"] and POP_SAFE in s["indices"]:
            diff = max(abs(a["total"] - b["total"]) for a, b in zip(s["indices"][SAFETY], s["indices"][POP_SAFE]))
            w(f"The indices of `{SAFETY}` (the survey-comparable share, in `validation.json`) differ from those of "
              f"`{POP_SAFE}` by at most {diff:.3f} (total order).\n")
        ratio = max((s["noise_sd_at_centre"][k] / s["output_sd"][k]) ** 2 for k in s["outcomes"]
                    if s["output_sd"][k] and np.isfinite(s["noise_sd_at_centre"][k] or np.nan)) if s["outcomes"] else math.nan
        w("Reading: the first-order index is the share of the outcome's variance over the box that one input explains "
          "alone; the total index adds its interactions. Every point runs with the same seed, so the indices describe the "
          "model as a function of its inputs for one draw of the dice; what the dice would add is the variance over seeds "
          f"at the centre of the box, at most {100 * ratio:.1f} % of the variance over the box here, so it hardly inflates "
          "the total indices. Indices a little below zero or first-order above total are estimation noise (the Saltelli "
          f"estimator with n = {s['n']}); the bootstrap intervals say how much. The ranking of the large indices is what "
          "is robust.\n")

    if "queueing" in res:
        q = res["queueing"]
        w("## 4. Mechanism checks\n")
        w("### The grid rung as a pure queue\n")
        w(f"One grid, every dispute reported at once, 24-hour shifts, no routine duties, success 1, no waiting threshold, "
          f"exponential service of mean {q['service_mean_hours']:g} h, no crime; {q['replicates']} replicates of "
          f"{q['days']} days, {q['warm_up']}.\n")
        w("![queueing](queueing.png)\n")
        w("| workers | ρ | theory Wq (h) | model Wq (h) [95 % CI] | rel. error | z | theory P(wait) | model P(wait) |\n|---|---|---|---|---|---|---|---|")
        for r in q["rows"]:
            w(f"| {r['servers']} | {r['utilisation']:g} | {r['theory_wait']:.3f} | {_ci_txt(r['model_wait'], 1, 3)} | "
              f"{100 * r['relative_error']:+.1f} % | {_num(r['z'])} | {r['theory_p_wait']:.3f} | {_ci_txt(r['model_p_wait'], 1, 3)} |")
        ok = sum(abs(r["z"]) < 3 for r in q["rows"] if np.isfinite(r["z"]))
        w(f"\n{ok} of {len(q['rows'])} settings within 3 standard errors of theory (M/M/1 for one worker, Erlang C for three). "
          "Near ρ = 1 the queue relaxes slowly and replicate means scatter widely; the test suite "
          "(`tests/test_queueing.py`) holds the same check to a 3-sigma rule.\n")
    if "levers" in res:
        lv = res["levers"]
        w("### The levers, one at a time\n")
        w(f"Default district, {len(lv['seeds'])} replicates per point with the same seeds at every point; shaded: 95 % "
          "interval of the mean. A lever is *monotone* if no step towards more of it (smaller grids, more full-time "
          "workers, more cameras) makes the outcome significantly worse (paired 95 % interval of the step entirely on the "
          "worse side).\n")
        w("![levers](levers.png)\n")
        w("| lever | outcome | least → most | change (paired) | one-sided p, H₁: more is worse | monotone |\n|---|---|---|---|---|---|")
        for lever, d in lv["levers"].items():
            for k, o in d["outcomes"].items():
                f_ = 100 if k == SAFETY else 1
                w(f"| {lever} | {k} | {d['values'][0]} → {d['values'][-1]} | {_ci_txt(o['ends'], f_, 2, True)} | "
                  f"{_num(o['p_more_is_worse'], 3)} | {'yes' if o['monotone'] else '**no**'} |")
        w("")
    w("## Runtime\n")
    w("| section | wall (s) | runs | run-seconds |\n|---|---|---|---|")
    for k, v in res.get("timings", {}).items():
        w(f"| {k} | {v['seconds']:.0f} | {v['runs']} | {v['run_seconds']:.0f} |")
    w("")
    return "\n".join(L) + "\n"


def _where(share) -> str:
    if share is None or not np.isfinite(share):
        return "not placed (no cleared robbery in these runs: the town is too small)"
    return "typical" if 0.25 <= share <= 0.75 else "in the tail"


def _ci2(ci) -> str:
    if not ci or any(c is None or not np.isfinite(c) for c in ci):
        return ""
    return f" [{ci[0]:.2f}, {ci[1]:.2f}]"


def _fmtv(v) -> str:
    if isinstance(v, list):
        return "(" + ", ".join(f"{x:.3g}" for x in v) + ")"
    return f"{v:.3g}"


def sim_version(res: dict) -> str:
    v = res.get("versions", {})
    return ", ".join(f"{k} {v[k]}" for k in ("gridsim", "mesa", "scipy", "python") if k in v)


def write_docs_page(res: dict, path: Path) -> None:
    """docs/VALIDATION.md: a short page with the headline numbers and a link to the report."""
    g = res.get("guigang_2016")
    lines = ["# Validation", "",
             "Does the model, run with the cities' reported figures, give back what they reported — and predict what it "
             "was not fitted to? The full report, with every table and figure, is "
             "[validation/REPORT.md](validation/REPORT.md) (numbers in [validation/validation.json](validation/validation.json)).",
             "", "Regenerate it with `gridsim validate` (writes `docs/validation/`, about "
             f"{res.get('wall_seconds', 0) / 60:.0f} min on 2 cores) or take a small look with `gridsim validate --quick` "
             "(a few minutes, `out/validation-quick/`). Calibrate any scenario with "
             "`gridsim calibrate SCENARIO.yaml --target KEY=VALUE … [--fit PARAM …]`.", ""]
    if g:
        lines += ["## Headline", "",
                  f"- **Guigang 2016, held out**: fitted on 2015 only ({_pct(res['guigang_2015']['reported'], 2)}, "
                  f"`{res['guigang_2015']['parameter']}` = {res['guigang_2015']['value']:.4f}), then only the camera stock "
                  f"changed: predicted **{_pct(g['predicted'], 2)}** [{_pct(g['interval'][0], 2)}, {_pct(g['interval'][1], 2)}] "
                  f"against the reported **{_pct(g['reported'], 2)}** "
                  f"({'inside' if g['inside_interval'] else 'outside'} the interval). The camera change alone does not "
                  "account for the reported 4-point rise."]
        cs = res["guigang_cases"]
        lines.append(f"- Guigang criminal cases 2015 → 2016: model {_ci_txt(cs['filed']['model_change'], 100, 1, True)} % filed "
                     f"and {_ci_txt(cs['solved']['model_change'], 100, 1, True)} % solved, against reported −11.1 % and +27.7 %.")
    if "cities" in res:
        j = res["cities"]["jincheng"]
        lines.append(f"- Jincheng: {_pct(j['share_within_reported'])} of the model's cleared robberies are cleared within the "
                     f"reported 1 h 52 min (median {_num(j['call_to_clear']['median'])} h).")
        fc = res["cities"]["fangchenggang"]
        lines.append(f"- Fangchenggang: coverage {fc['low_coverage']:g} (assumed) → {fc['file_coverage']:g} raises safety by "
                     f"{_ci_txt(fc['change'][SAFETY], 100, 2, True)} points; ranks cannot be compared quantitatively.")
        h = res["cities"]["huizhou"]
        lines.append(f"- Huizhou's merge (443.9 → 730.6 residents per grid, same workers per grid): report → resolved "
                     f"{_ci_txt(h['change'][RESOLUTION], 1, 1, True)} h, safety {_ci_txt(h['change'][SAFETY], 100, 2, True)} points; "
                     "the reported fall of incidents since 2017 is not comparable.")
        sb = res["cities"]["safety_by_city"]
        gx = sorted(("laibin", "fangchenggang", "guigang_2016"), key=lambda k: -(sb[k]["mean"] or 0))
        lines.append(f"- Guangxi files, perceived safety by the model: {' > '.join(gx)}"
                     + ("; Laibin, 1st in Guangxi in 2019 by its document, comes last (its one worker per grid is an "
                        "assumption)." if gx[-1] == "laibin" else "."))
    if "queueing" in res:
        q = res["queueing"]["rows"]
        lines.append(f"- Pure-queue check: model mean waits within 3 standard errors of M/M/1 / Erlang C in "
                     f"{sum(abs(r['z']) < 3 for r in q if np.isfinite(r['z']))} of {len(q)} settings.")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# =========================================================================== command line
def cmd_validate(args) -> int:
    if args.replot:
        src = Path(args.replot)
        if not (src / "validation.json").exists():
            raise ScenarioError(f"--replot {src}: no validation.json there")
        res = json.loads((src / "validation.json").read_text(encoding="utf-8"))
        write_report(res, src)
        if src.resolve() == DOCS_DIR.resolve():
            write_docs_page(res, DOCS_DIR.parent / "VALIDATION.md")
        print(f"redrew {src}/REPORT.md and its figures from validation.json")
        return 0
    settings = PRESETS["quick" if args.quick else "full"]
    out = Path(args.out) if args.out else (Path("out") / "validation-quick" if args.quick else DOCS_DIR)
    if out.exists() and not out.is_dir():
        raise ScenarioError(f"--out {out}: exists and is not a directory")
    if args.workers is not None and args.workers < 1:
        raise ScenarioError(f"--workers {args.workers}: must be at least 1")
    say = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    res = run_validation(out, settings, workers=args.workers, say=say)
    g = res.get("guigang_2016", {})
    print(f"validation ({settings.name}): {res['runs']:,} runs, {res['wall_seconds'] / 60:.1f} min → {out}/REPORT.md")
    if g:
        print(f"  Guigang 2016 (held out): predicted {_pct(g['predicted'], 2)} [{_pct(g['interval'][0], 2)}, "
              f"{_pct(g['interval'][1], 2)}], reported {_pct(g['reported'], 2)}")
    return 0


def add_commands(sub) -> None:
    """Add `gridsim validate` to the `gridsim` subparsers."""
    v = sub.add_parser("validate", help="validation report: Guigang held out, the cities, Sobol sensitivity, mechanism checks",
                       description="Write REPORT.md, validation.json and figures: Guigang 2016 predicted from a 2015 fit, "
                                   "each city against its document, Sobol indices, queueing and lever checks.")
    v.add_argument("--quick", action="store_true", help="small towns, short runs, few replicates (a few minutes)")
    v.add_argument("--out", help="output directory (default docs/validation, or out/validation-quick with --quick)")
    v.add_argument("--workers", type=int, default=None, help="processes (default 2, or 1 on a single core)")
    v.add_argument("--replot", metavar="DIR", help="only redraw REPORT.md and the figures from DIR/validation.json")
    v.add_argument("--quiet", action="store_true", help="no progress lines")
    v.set_defaults(func=cmd_validate)
