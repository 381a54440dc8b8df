"""The outcomes of a run, computed from the finished model's event tables and daily series.

What each outcome means, its unit and which direction is better is declared in
`sim.catalogue`; this module only computes them, and a test holds the two to the same
names.  Everything here reads the finished model; nothing here changes it.
"""

from __future__ import annotations

import math

import numpy as np

from .crime import BY_CAMERA, CLEARED, PENDING, UNCLEARED, UNREPORTED
from .disputes import COMMUNITY, CONVERTED, COURT, GRID, RESOLVED, TOWNSHIP
from .queueing import DAY
from .scenario import RUNGS
from .timeline_run import level_mean, level_on


def _stats(x: np.ndarray, prefix: str) -> dict[str, float]:
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return {f"{prefix}_mean": math.nan, f"{prefix}_median": math.nan, f"{prefix}_p90": math.nan}
    return {f"{prefix}_mean": float(x.mean()), f"{prefix}_median": float(np.median(x)), f"{prefix}_p90": float(np.quantile(x, 0.9))}


def observed(model) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the dispute and incident tables that began in the observed period (after warm-up)."""
    d, i = model.disputes.table, model.crime.table
    return (np.flatnonzero(d.onset[: d.n] >= model.t_observed), np.flatnonzero(i.t_occur[: i.n] >= model.t_observed))


def summarise(model) -> dict:
    tab, inc = model.disputes.table, model.crime.table
    n, days = model.population.n, max(model.steps - model.params.warmup_days, 1)
    horizon = model.steps * 24.0
    per_10k_year = 1e4 / n * 365.0 / days
    d_rows, i_rows = observed(model)
    st = tab.status[d_rows]
    onset, known, close = tab.onset[d_rows], tab.t_known[d_rows], tab.t_close[d_rows]
    resolved = st == RESOLVED
    converted = st == CONVERTED
    rung = tab.rung[d_rows]
    out: dict = {}
    out.update(_stats(close[resolved] - onset[resolved], "resolution_hours"))
    out.update(_stats(close[resolved] - known[resolved], "report_to_resolution_hours"))
    for k, name in enumerate(RUNGS):
        at = resolved & (rung == k)
        out[f"resolution_hours_mean_{name}"] = float(np.mean(close[at] - onset[at])) if at.any() else math.nan
    n_disp = len(d_rows)
    was_known = np.isfinite(known)
    n_open = int(n_disp - resolved.sum() - converted.sum())
    out.update({
        "disputes": n_disp,
        "disputes_per_10k_year": n_disp * per_10k_year,
        "disputes_resolved": int(resolved.sum()),
        "disputes_converted": int(converted.sum()),
        "disputes_open": n_open,
        "share_open": n_open / n_disp if n_disp else math.nan,
        "share_known": float(was_known.mean()) if n_disp else math.nan,
        "share_settled_in_grid": float((resolved & (rung == GRID)).sum() / resolved.sum()) if resolved.any() else math.nan,
        "share_settled_in_community": float((resolved & (rung == COMMUNITY)).sum() / resolved.sum()) if resolved.any() else math.nan,
        "share_settled_low": float((resolved & (rung <= COMMUNITY)).sum() / resolved.sum()) if resolved.any() else math.nan,
        "mediation_per_10k_year": float(np.isfinite(tab.t_enter_community[d_rows]).sum() * per_10k_year),
        "escalation_rate": float((tab.escalations[d_rows] > 0)[was_known].mean()) if was_known.any() else math.nan,
        "timeout_rate": float((tab.timeouts[d_rows] > 0)[was_known].mean()) if was_known.any() else math.nan,
        "conversions_per_10k_year": float(converted.sum() * per_10k_year),
    })
    for k, name in enumerate(RUNGS):
        out[f"backlog_{name}"] = int(model.disputes.backlog[k])
    cases = model.disputes.time_average_cases(model.t_observed, horizon)
    for k, name in enumerate(RUNGS):
        out[f"cases_mean_{name}"] = float(cases[k])

    ist = inc.status[i_rows]
    detect = inc.t_detect[i_rows]
    known_i = detect <= horizon          # a call scheduled after the horizon is not yet known
    n_inc = len(i_rows)
    resp = inc.t_response[i_rows] - detect
    cleared, uncleared = int((ist == CLEARED).sum()), int((ist == UNCLEARED).sum())
    out.update({
        "incidents": n_inc,
        "incidents_per_10k_year": n_inc * per_10k_year,
        "incidents_known_per_10k_year": int(known_i.sum()) * per_10k_year,
        "incidents_cleared": cleared,
        "incidents_uncleared": uncleared,
        "incidents_unreported": int((ist == UNREPORTED).sum()),
        "incidents_open": int((ist == PENDING).sum()),
        "detection_rate": float(known_i.mean()) if n_inc else math.nan,
        "camera_detection_share": float((inc.detected_by[i_rows] == BY_CAMERA)[known_i].mean()) if known_i.any() else math.nan,
        "clearance_rate": cleared / (cleared + uncleared) if cleared + uncleared else math.nan,
    })
    out.update(_stats(resp, "police_response_hours"))

    pr = model.perception
    last = pr.survey[-1] if pr.survey else {}
    out.update({
        "survey_share_safe": last.get("share_safe", math.nan),
        "survey_se": last.get("se", math.nan),
        "survey_share_safe_mean": float(np.mean([s["share_safe"] for s in pr.survey])) if pr.survey else math.nan,
        "population_share_safe": pr.share_safe(),
        "survey_expected_share_safe": pr.expected_share_safe(),
        "safety_mean": float(model.population.safety.mean()),
        "safety_spread_across_grids": pr.spread_across_grids(),
        "trust_mean": float(model.population.trust.mean()),
    })

    series = model.datacollector.get_model_vars_dataframe()
    gw = model.grid_work
    n_full = int(gw.fulltime.sum())
    out.update({
        "worker_utilisation": float(series["worker_utilisation"].mean()) if len(series) else math.nan,
        "visits_per_household_month": float(series["visits"].mean() * 30.0 / gw.households.sum()) if len(series) else math.nan,
        "grids_overloaded_by_routine": int(gw.routine_overload.sum()),
        "routine_shortfall_share": gw.routine_shortfall_share(model.params.warmup_days, model.steps),
    })

    s, c = model.params.staffing, model.params.crime
    if len(getattr(model, "levels", ())) > 1:     # a timeline changed staff or cameras: their cost, time-averaged
        cost_workers = level_mean(model, "cost_grid_workers_yuan_per_year", model.params.warmup_days, model.steps)
        cost_cameras = level_mean(model, "cost_cameras_yuan_per_year", model.params.warmup_days, model.steps)
    else:
        cost_workers = 12 * (n_full * s.fulltime_cost_yuan_month + (gw.n_workers - n_full) * s.parttime_cost_yuan_month)
        cost_cameras = model.cameras * c.camera_capital_yuan / c.camera_life_years
    out.update({
        "cost_yuan_per_year": cost_workers + cost_cameras,
        "cost_grid_workers_yuan_per_year": cost_workers,
        "cost_cameras_yuan_per_year": cost_cameras,
        "cost_yuan_per_resident_year": (cost_workers + cost_cameras) / n,
    })
    out.update({
        "residents": n, "days": days, "grids": model.town.n_grids, "communities": model.town.n_communities,
        "townships": model.town.n_townships, "cells": model.town.n_cells, "cell_km": model.town.cell_km,
        "grid_workers": gw.n_workers, "grid_workers_fulltime": n_full,
        "police_on_duty": model.crime.police.n, "community_mediators": model.disputes.pools[COMMUNITY].n,
        "township_mediators": model.disputes.pools[TOWNSHIP].n, "court_slots": model.disputes.pools[COURT].n,
        "cameras": model.cameras, "residents_per_grid_actual": n / model.town.n_grids,
    })
    t = model.town
    with_camera = np.bincount(t.cell_community[t.covered], minlength=t.n_communities) > 0
    out.update({
        "cameras_per_1000": model.cameras * 1000.0 / n,
        "camera_coverage_derived": float(t.covered.sum() / max(int(t.public.sum()), 1)),
        "communities_with_camera_share": float(with_camera.mean()),
    })
    return out


# --------------------------------------------------------------------------- per period (calendar runs)
def window_outcomes(model, first_day: int, stop_day: int) -> dict:
    """The per-period outcomes (`sim.catalogue.PERIODIC`) over the simulation days [first_day, stop_day).

    Each counts only what happened in the window — disputes and incidents begun in it, disputes
    resolved and incidents closed in it, the survey taken in it, levels on its last day, costs
    time-averaged over it — so a period's outcomes are fixed once the period is over, whatever
    happens after it (and two runs that differ only from a later day agree on it)."""
    t0, t1 = first_day * DAY, stop_day * DAY
    n, days = model.population.n, stop_day - first_day
    per_10k_year = 1e4 / n * 365.0 / days
    tab, inc = model.disputes.table, model.crime.table
    nd, ni = tab.n, inc.n
    onset, close, st, rung = tab.onset[:nd], tab.t_close[:nd], tab.status[:nd], tab.rung[:nd]
    ended = (close >= t0) & (close < t1)
    res = ended & (st == RESOLVED)
    n_res = int(res.sum())
    began = int(((onset >= t0) & (onset < t1)).sum())
    hours = close[res] - tab.t_known[:nd][res]
    occur = inc.t_occur[:ni]
    closed_i = (inc.t_close[:ni] >= t0) & (inc.t_close[:ni] < t1)
    cleared = int((closed_i & (inc.status[:ni] == CLEARED)).sum())
    uncleared = int((closed_i & (inc.status[:ni] == UNCLEARED)).sum())
    n_inc = int(((occur >= t0) & (occur < t1)).sum())
    detect = inc.t_detect[:ni]
    known_in = int(((detect >= t0) & (detect < t1)).sum())
    entered = tab.t_enter_community[:nd]
    mediated = int(((entered >= t0) & (entered < t1)).sum())
    warm = model.params.warmup_days
    survey = [x for x in model.perception.survey if first_day < warm + x["day"] <= stop_day]
    series = model.datacollector.get_model_vars_dataframe()
    last = series.iloc[stop_day - warm - 1] if 0 < stop_day - warm <= len(series) else None
    cost = sum(level_mean(model, k, first_day, stop_day) for k in ("cost_grid_workers_yuan_per_year", "cost_cameras_yuan_per_year"))
    return {
        "days": days,
        "disputes": began,
        "disputes_per_10k_year": began * per_10k_year,
        "disputes_resolved_in_period": n_res,
        "report_to_resolution_hours_mean": float(hours.mean()) if n_res else math.nan,
        "share_settled_in_grid": float((res & (rung == GRID)).sum() / n_res) if n_res else math.nan,
        "share_settled_low": float((res & (rung <= COMMUNITY)).sum() / n_res) if n_res else math.nan,
        "conversions_per_10k_year": int((ended & (st == CONVERTED)).sum()) * per_10k_year,
        "incidents": n_inc,
        "incidents_per_10k_year": n_inc * per_10k_year,
        "incidents_known_per_10k_year": known_in * per_10k_year,
        "incidents_cleared": cleared,
        "mediation_per_10k_year": mediated * per_10k_year,
        "clearance_rate": cleared / (cleared + uncleared) if cleared + uncleared else math.nan,
        "survey_share_safe": survey[-1]["share_safe"] if survey else math.nan,
        "survey_se": survey[-1]["se"] if survey else math.nan,
        "survey_expected_share_safe": survey[-1]["expected_share_safe"] if survey else math.nan,
        "population_share_safe": float(last["safety_share_safe"]) if last is not None else math.nan,
        "trust_mean": float(last["trust_mean"]) if last is not None else math.nan,
        "grids": level_on(model, "grids", stop_day - 1),
        "grid_workers": level_on(model, "grid_workers", stop_day - 1),
        "cameras": level_on(model, "cameras", stop_day - 1),
        "cost_yuan_per_year": cost,
        "cost_yuan_per_resident_year": cost / n,
    }


def periods(model, kinds: tuple[str, ...] = ("quarter", "year")) -> dict[str, dict]:
    """Per-period outcomes of a run with a calendar (`start_date`): label ('2016Q1', '2016') → the
    outcomes of `window_outcomes`, plus `first_date`, `last_date` and `partial` (the run covers only part of
    the period).  Empty without a calendar.  Periods the run has not reached are left out."""
    tl = getattr(model, "timeline", None)
    if tl is None or tl.start is None:
        return {}
    out = {}
    for kind in kinds:
        for p in tl.period_bounds(kind):
            stop = min(p.stop_day, model.steps)
            if stop <= p.first_day:
                continue
            out[p.label] = {"first_date": tl.date_of(p.first_day).isoformat(), "last_date": tl.date_of(stop - 1).isoformat(),
                            "partial": p.partial or stop < p.stop_day, **window_outcomes(model, p.first_day, stop)}
    return out
