"""The other cities, each scenario file against its own document.

Jincheng's robbery cleared in 1 h 52 min is set against the model's distribution of
call → clearance times; Fangchenggang's camera build-out, Huizhou's merge of grids and
Laibin's placement of full-time workers are each run both ways with the same seeds, so
the report can say what the documented change does in the model; ranks are listed beside
the model's perceived safety of every file.  Where a document gives only a rank or a
trend, the result says so rather than inventing a comparison.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..execute import replicate_seeds
from ..experiments.pool import Runner, RunSpec
from ..scenario import ROOT, Scenario, is_assumption, leaves, load_scenario
from .extras import SAME_DAY_HOURS, fulltime_placement, robbery_times, same_day
from .figures import Figures
from .settings import Settings
from .stats import changes, column, mean_ci, paired, quantiles, summarise

SCENARIOS = ROOT / "scenarios"
CITY_SEED = 3000
SAFETY = "survey_expected_share_safe"
RESOLUTION = "report_to_resolution_hours_mean"
CITY_KEYS = (SAFETY, "population_share_safe", RESOLUTION, "resolution_hours_mean", "share_settled_in_grid", "share_known",
             "incidents_per_10k_year", "incidents_known_per_10k_year", "clearance_rate", "detection_rate",
             "conversions_per_10k_year", "visits_per_household_month", "worker_utilisation", "grid_workers",
             "grid_workers_fulltime", "grids", "cameras", "cost_yuan_per_resident_year", "police_response_hours_mean",
             "residents", "cameras_per_1000", "camera_coverage_derived")
SAME_DAY_KEYS = ("share_known_resolved_within_24h", "share_grid_settled_within_24h")
PLACEMENT_KEYS = ("fulltime_share", "fulltime_in_densest_quarter", "grids_all_fulltime_share_of_grids_with_any")
#: scenario file → (city in figures.yaml, batch whose runs stand for the file as it is)
CITY_FILES = {"laibin": ("Laibin", "laibin"), "fangchenggang": ("Fangchenggang", "fangchenggang"),
              "guigang_2016": ("Guigang", "guigang_2016"), "jincheng": ("Jincheng", "jincheng"),
              "huizhou": ("Huizhou", "huizhou_after")}
ROBBERY_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def _specs(scenario: Scenario, seeds, overrides: dict, extras=()) -> list[RunSpec]:
    return [RunSpec(scenario, s, tuple(overrides.items()), CITY_KEYS, tuple(extras)) for s in seeds]


def _flatten_extras(runs: list[dict], *names: str) -> None:
    for r in runs:
        for name in names:
            r.update(r.pop(name))


def jincheng(runs: list[dict], scenario: Scenario, figures: Figures) -> dict:
    fig = figures["jincheng_robbery_call_to_arrest"]
    reported_h = figures.value(fig.id) / 60.0 if fig.unit == "min" else figures.value(fig.id)
    clear = np.concatenate([np.asarray(r["robbery_times"]["call_to_clear"], float) for r in runs] or [np.zeros(0)])
    scene = np.concatenate([np.asarray(r["robbery_times"]["call_to_scene"], float) for r in runs] or [np.zeros(0)])
    share = float((clear <= reported_h).mean()) if len(clear) else None
    return {"figure": fig.id, "reported_hours": reported_h, "cleared_robberies": int(len(clear)),
            "robberies": int(sum(r["robbery_times"]["robberies"] for r in runs)),
            "call_to_clear": {"mean": float(clear.mean()) if len(clear) else None, **quantiles(clear, ROBBERY_QUANTILES)},
            "call_to_scene": quantiles(scene, (0.5, 0.9)),
            "share_within_reported": share, "typical_band": [0.25, 0.75],
            "investigation_hours_robbery": scenario.crime.investigation_hours.robbery,
            "hours": clear.tolist(), "summary": summarise(runs, CITY_KEYS)}


def fangchenggang(low: list[dict], file: list[dict], scenario: Scenario, low_coverage: float) -> dict:
    return {"figures": ["fangchenggang_networked_cameras", "fangchenggang_village_cameras",
                        "fangchenggang_safety_rank_2016", "fangchenggang_safety_rank_2020"],
            "assumption": "fangchenggang_coverage_before", "low_coverage": low_coverage,
            # the file carries a stock of cameras: its coverage is the one the runs derived
            "file_coverage": float(np.mean(column(file, "camera_coverage_derived"))),
            "low": summarise(low, CITY_KEYS), "file": summarise(file, CITY_KEYS),
            "change": changes(low, file, CITY_KEYS),
            "incidents_change_relative": paired(column(low, "incidents_per_10k_year"),
                                                column(file, "incidents_per_10k_year"), relative=True)}


def huizhou(before: list[dict], after: list[dict], same_wf: list[dict], scenario: Scenario, figures: Figures,
            rpg_before: float) -> dict:
    keys = CITY_KEYS + SAME_DAY_KEYS
    wpg = scenario.staffing.workers_per_grid
    after_rpg = scenario.residents_per_grid
    return {"figures": ["huizhou_population", "huizhou_grids_before", "huizhou_grids_after", "huizhou_incidents_falling"],
            "residents_per_grid_before": rpg_before, "residents_per_grid_after": after_rpg,
            "residents_per_grid_after_from_figures": figures.value("huizhou_population") / figures.value("huizhou_grids_after"),
            "workers_per_grid": wpg, "workers_per_grid_same_workforce": wpg * after_rpg / rpg_before,
            "workforce_change_file": rpg_before / after_rpg - 1.0,
            "before": summarise(before, keys), "after": summarise(after, keys), "after_same_workforce": summarise(same_wf, keys),
            "change": changes(before, after, keys), "change_same_workforce": changes(before, same_wf, keys),
            "incidents_change_relative": paired(column(before, "incidents_per_10k_year"),
                                                column(after, "incidents_per_10k_year"), relative=True)}


def laibin(file: list[dict], lead: list[dict], scenario: Scenario, figures: Figures) -> dict:
    keys = CITY_KEYS + SAME_DAY_KEYS + PLACEMENT_KEYS
    return {"figures": ["laibin_fulltime_share", "laibin_urban_fulltime_share", "laibin_safety_rank", "laibin_same_day_handling"],
            "reported_fulltime_share": figures.value("laibin_fulltime_share"), "file_fulltime_ratio": scenario.fulltime_ratio,
            "file_fulltime_first": scenario.staffing.fulltime_first, "same_day_hours": SAME_DAY_HOURS,
            "workers_per_grid": scenario.staffing.workers_per_grid,
            "workers_per_grid_assumed": is_assumption("staffing.workers_per_grid", scenario),
            "dense_grids": summarise(file, keys), "lead_workers": summarise(lead, keys),
            "change_dense_minus_lead": changes(lead, file, keys)}


def safety_by_city(batches: dict, scenarios: dict[str, Scenario], figures: Figures) -> dict:
    """Each file's perceived safety beside the ranks its document gives; the model's order
    within each region that has rank figures for two or more files."""
    default_safety = leaves()["perception.safety_mean"].default
    rows = {}
    for name, (city, batch) in CITY_FILES.items():
        ranks = [f.id for f in figures.by_city(city) if f.unit == "rank"]
        rows[name] = {"city": city, "model": mean_ci(column(batches[batch], SAFETY)), "rank_figures": ranks,
                      "regions": sorted({figures[r].region for r in ranks if figures[r].region}),
                      "safety_mean": scenarios[name].perception.safety_mean}
    order = {}
    for region in sorted({r for row in rows.values() for r in row["regions"]}):
        names = [n for n, row in rows.items() if region in row["regions"]]
        if len(names) > 1:
            order[region] = sorted(names, key=lambda n: -(rows[n]["model"]["mean"] or 0))
    return {"files": rows, "model_order_by_region": order, "schema_safety_mean": default_safety,
            "all_files_at_schema_safety": all(row["safety_mean"] == default_safety for row in rows.values())}


def city_checks(settings: Settings, runner: Runner, figures: Figures, say: Callable[[str], None] = lambda s: None) -> dict:
    shape = {"days": settings.days, "scale": settings.scale}
    seeds = replicate_seeds(CITY_SEED, settings.city_replicates)
    sc = {n: load_scenario(SCENARIOS / f"{n}.yaml") for n in CITY_FILES}
    hui, lai, fcg = sc["huizhou"], sc["laibin"], sc["fangchenggang"]
    rpg_before = figures.value("huizhou_population") / figures.value("huizhou_grids_before")
    low_coverage = figures.value("fangchenggang_coverage_before")
    wpg_same = hui.staffing.workers_per_grid * hui.residents_per_grid / rpg_before
    batches = {
        "jincheng": _specs(sc["jincheng"], seeds, shape, (robbery_times,)),
        "fangchenggang_before": _specs(fcg, seeds, {**shape, "crime.camera_stock_per_1000": None, "camera_coverage": low_coverage}),
        "fangchenggang": _specs(fcg, seeds, shape),
        "huizhou_before": _specs(hui, seeds, {**shape, "residents_per_grid": rpg_before}, (same_day,)),
        "huizhou_after": _specs(hui, seeds, shape, (same_day,)),
        "huizhou_after_same_workforce": _specs(hui, seeds, {**shape, "staffing.workers_per_grid": wpg_same}, (same_day,)),
        "laibin": _specs(lai, seeds, shape, (same_day, fulltime_placement)),
        "laibin_lead_workers": _specs(lai, seeds, {**shape, "staffing.fulltime_first": "lead_workers"},
                                      (same_day, fulltime_placement)),
        "guigang_2016": _specs(sc["guigang_2016"], seeds, shape),
    }
    say(f"cities: {sum(len(v) for v in batches.values())} runs")
    res = runner.map([s for v in batches.values() for s in v])
    out, i = {}, 0
    for name, specs in batches.items():
        out[name] = res[i: i + len(specs)]
        i += len(specs)
    for name in ("huizhou_before", "huizhou_after", "huizhou_after_same_workforce"):
        _flatten_extras(out[name], "same_day")
    for name in ("laibin", "laibin_lead_workers"):
        _flatten_extras(out[name], "same_day", "fulltime_placement")
    return {"seeds": seeds, "replicates": len(seeds),
            "jincheng": jincheng(out["jincheng"], sc["jincheng"], figures),
            "fangchenggang": fangchenggang(out["fangchenggang_before"], out["fangchenggang"], fcg, low_coverage),
            "huizhou": huizhou(out["huizhou_before"], out["huizhou_after"], out["huizhou_after_same_workforce"], hui,
                               figures, rpg_before),
            "laibin": laibin(out["laibin"], out["laibin_lead_workers"], lai, figures),
            "safety_by_city": safety_by_city(out, sc, figures)}
