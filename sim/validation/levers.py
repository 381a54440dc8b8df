"""Each lever alone, with paired intervals: does more of it ever make an outcome worse?

The default district is run at five values of each lever with the same seeds at every
value, so each step's change is a paired difference.  A lever is *monotone* for an
outcome if no step towards more of it (smaller grids, more full-time workers, more
cameras) is significantly worse, "worse" taken from the outcome catalogue's `better`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..catalogue import OUTCOMES
from ..execute import replicate_seeds
from ..experiments.pool import Runner, RunSpec
from ..scenario import Scenario
from .settings import Settings
from .stats import column, mean_ci, paired

LEVER_SEED = 7000
LEVER_VALUES = {"residents_per_grid": [300, 500, 800, 1200, 2000], "fulltime_ratio": [0.0, 0.25, 0.5, 0.75, 1.0],
                "camera_coverage": [0.0, 0.25, 0.5, 0.75, 1.0]}
#: the direction in which each lever is "more": smaller grids, more full-time workers, more cameras
LEVER_MORE = {"residents_per_grid": -1, "fulltime_ratio": +1, "camera_coverage": +1}
LEVER_OUTCOMES = ("report_to_resolution_hours_mean", "survey_expected_share_safe", "incidents_per_10k_year")


def _p_more_is_worse(least: list[float], most: list[float], better: int) -> float:
    """One-sided paired t-test of H₁: the most of the lever is worse than the least."""
    from scipy import stats

    d = (np.array(most) - np.array(least)) * better
    d = d[np.isfinite(d)]
    return float(stats.ttest_1samp(d, 0.0, alternative="less").pvalue) if len(d) > 1 and np.std(d) > 0 else math.nan


def lever_checks(settings: Settings, runner: Runner, base: Scenario, say: Callable[[str], None] = lambda s: None) -> dict:
    shape = {"days": settings.district_days, "scale": settings.district_scale}
    seeds = replicate_seeds(LEVER_SEED, settings.lever_replicates)
    batches = [(lever, v, [RunSpec(base, s, tuple({**shape, lever: v}.items()), LEVER_OUTCOMES) for s in seeds])
               for lever, vals in LEVER_VALUES.items() for v in vals]
    say(f"levers: {sum(len(b[2]) for b in batches)} runs")
    res = runner.map([s for b in batches for s in b[2]])
    by: dict[str, list] = {}
    i = 0
    for lever, v, specs in batches:
        by.setdefault(lever, []).append((v, res[i: i + len(specs)]))
        i += len(specs)
    out: dict = {"seeds": seeds, "replicates": len(seeds), "outcomes": list(LEVER_OUTCOMES), "levers": {}}
    for lever, pts in by.items():
        pts = sorted(pts, key=lambda p: LEVER_MORE[lever] * p[0])         # from "less" to "more" of the lever
        lev = {"values": [p[0] for p in pts], "more": LEVER_MORE[lever], "outcomes": {}}
        for k in LEVER_OUTCOMES:
            better = OUTCOMES[k].better
            steps = []
            for (v0, r0), (v1, r1) in zip(pts, pts[1:]):
                d = paired(column(r0, k), column(r1, k))
                worse = (better > 0 and d["high"] < 0) or (better < 0 and d["low"] > 0)
                steps.append({"from": v0, "to": v1, "change": d, "significantly_worse": bool(worse)})
            lev["outcomes"][k] = {
                "series": [mean_ci(column(r, k)) for _, r in pts], "steps": steps,
                "ends": paired(column(pts[0][1], k), column(pts[-1][1], k)),
                "p_more_is_worse": _p_more_is_worse(column(pts[0][1], k), column(pts[-1][1], k), better),
                "monotone": not any(s["significantly_worse"] for s in steps)}
        out["levers"][lever] = lev
    return out


def _up(change: dict, v0: float, v1: float) -> int:
    """+1 / −1 if a paired change from v0 to v1 is significantly up / down along increasing lever values, else 0."""
    lo, hi = change.get("low"), change.get("high")
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return 0
    sign = 1 if v1 > v0 else -1
    return sign if lo > 0 else -sign if hi < 0 else 0


def lever_verdict(values: list[float], outcome: dict, replicates: int | None = None) -> str:
    """The shape of one outcome along increasing values of a lever, in words, from the stored paired intervals.

    "rises" / "falls": the ends differ (paired interval of most − least excludes 0) and no step goes
    significantly the other way; "not monotone": significant steps both ways (or against the ends);
    "no clear trend within the intervals": otherwise; "no interval: 1 replicate" below 2 replicates.
    """
    n = replicates if replicates is not None else outcome.get("ends", {}).get("n")
    ends = outcome["ends"]
    if (n is not None and n < 2) or ends.get("low") is None or not math.isfinite(ends["low"]):
        return f"no interval: {n if n is not None else 1} replicate"
    steps = [_up(s["change"], s["from"], s["to"]) for s in outcome["steps"]]
    trend = _up(ends, values[0], values[-1])
    if (1 in steps and -1 in steps) or (trend and -trend in steps):
        return "not monotone"
    if trend:
        return "rises" if trend > 0 else "falls"
    return "no clear trend within the intervals"
