"""Outcome extras: measures a city's document speaks of that `sim.outcomes` does not report.

Each function takes a finished model and returns plain data; `RunSpec.extras` calls them
in the worker, so the model never travels between processes.  The scalar ones are
declared in `EXTRA_OUTCOMES` with the catalogue's own `Outcome`, so the report labels them
the same way as the catalogue's outcomes.
"""

from __future__ import annotations

import math

import numpy as np

from ..catalogue import HIGHER, NEITHER, OUTCOMES, Outcome

#: a dispute settled "the same day" (grid rules: close it the same day if possible, Fengxian 2018) is one resolved
#: within this many hours.  Laibin's same-day example is an agency's arrival, not a resolution (docs/CITIES.md)
SAME_DAY_HOURS = 24.0
#: the queue check drops arrivals in this share of the horizon, and at least this many days
QUEUE_WARMUP_SHARE, QUEUE_WARMUP_MIN_DAYS = 0.1, 2.0

EXTRA_OUTCOMES: dict[str, Outcome] = {o.name: o for o in (
    Outcome("share_known_resolved_within_24h", "known disputes resolved ≤ 24 h", "share", HIGHER,
            "of disputes begun in the observed period that became known, share resolved within 24 h of becoming known",
            "disputes"),
    Outcome("share_grid_settled_within_24h", "grid-settled disputes resolved ≤ 24 h", "share", HIGHER,
            "of disputes the grid settled, share resolved within 24 h of becoming known", "disputes"),
    Outcome("fulltime_share", "full-time share of grid workers", "share", NEITHER,
            "full-time grid workers / grid workers as placed", "staff"),
    Outcome("fulltime_in_densest_quarter", "full-time posts in the densest quarter of grids", "share", NEITHER,
            "share of full-time posts in the quarter of grids with most residents per cell", "staff"),
    Outcome("grids_all_fulltime_share_of_grids_with_any", "grids staffed only by full-timers", "share", NEITHER,
            "of grids with any full-time worker, share staffed only by full-timers", "staff"),
)}


def outcome_info(name: str) -> Outcome | None:
    """The catalogue entry of an outcome or of one of the extras above."""
    return OUTCOMES.get(name) or EXTRA_OUTCOMES.get(name)


def _t_observed(model) -> float:
    """Hour the observed period begins (after the warm-up): only what begins then is counted."""
    return float(getattr(model, "t_observed", 0.0))


def robbery_times(model) -> dict:
    """Hours from the call to clearance, and to an officer on scene, of every cleared robbery."""
    from ..crime import CLEARED, ROBBERY

    t = model.crime.table
    n = t.n
    rob = (t.kind[:n] == ROBBERY) & (t.t_occur[:n] >= _t_observed(model))
    sel = rob & (t.status[:n] == CLEARED)
    return {"call_to_clear": (t.t_close[:n][sel] - t.t_detect[:n][sel]).tolist(),
            "call_to_scene": (t.t_response[:n][sel] - t.t_detect[:n][sel]).tolist(),
            "robberies": int(rob.sum()), "reported": int(np.isfinite(t.t_detect[:n][rob]).sum())}


def same_day(model) -> dict:
    """Of disputes begun in the observed period that became known: share resolved within
    SAME_DAY_HOURS of becoming known; and the same share of those the grid itself settled."""
    from ..disputes import GRID, RESOLVED

    t = model.disputes.table
    n = t.n
    known = np.isfinite(t.t_known[:n]) & (t.onset[:n] >= _t_observed(model))
    done = (t.status[:n] == RESOLVED) & known
    fast = done & (t.t_close[:n] - t.t_known[:n] <= SAME_DAY_HOURS)
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
    return {"fulltime_share": float(ft.mean()),
            "fulltime_in_densest_quarter": float(dense[unit][ft].mean()) if ft.any() else math.nan,
            "grids_all_fulltime_share_of_grids_with_any":
                float((per_grid_ft[with_ft] == per_grid[with_ft]).mean()) if with_ft.any() else math.nan}


def queue_wait(model) -> dict:
    """Mean wait for a grid worker (arrival → first contact) of disputes arriving after a
    warm-up (QUEUE_WARMUP_*), and the share who waited at all."""
    t = model.disputes.table
    n = t.n
    arr = t.t_grid_arrival[:n]
    wait = t.t_first_contact[:n] - arr
    warm = _t_observed(model) + max(QUEUE_WARMUP_MIN_DAYS, QUEUE_WARMUP_SHARE * model.params.days) * 24.0
    keep = (arr >= warm) & np.isfinite(wait)
    return {"mean_wait": float(wait[keep].mean()) if keep.any() else math.nan,
            "share_waited": float((wait[keep] > 1e-12).mean()) if keep.any() else math.nan, "cases": int(keep.sum()),
            "never_served": int((np.isfinite(arr) & ~np.isfinite(wait)).sum())}
