"""Was the warm-up long enough?  A drift test on the first days of the observed period.

The warm-up is there so that the observed period starts near the model's usual level: a
cold town has no queue, no hidden disputes and residents who have heard of nothing, and
felt safety then relaxes over about 170 days.  If the daily series still drift when the
observed period begins, the warm-up was too short and the run's outcomes are partly the
start-up, not the levers.

The rule (`drift`), over the first `WINDOW_DAYS` (180) observed days, or all of them when
fewer (at least `MIN_WINDOW_DAYS`, 60; shorter runs are not tested):

- fit a straight line to each series of `DRIFT_SERIES` by least squares against the day;
- its standard error is Newey–West's (Bartlett weights, window/6 lags), since daily values
  are strongly autocorrelated and the plain OLS error would call every wiggle significant;
- a series drifts when the slope is significant, |t| ≥ `T_CRITICAL` (3), *and* of a size
  that matters, per year at least its tolerance: `safety_share_safe` (the population's
  share feeling safe) 3 percentage points a year; `backlog` (cases waiting or in service
  at every rung, summed) 150 % of its mean over the window a year (it has no natural unit).

The tolerances sit above what the slope shows, for this model, after a long enough warm-up
at ≥ 50,000 residents (−0.6…−3.0 points and ±75 % a year after 365 days) and below what a
cold start shows (−5…−11 points, +85…+220 % a year); 180 days at 2,400 residents per grid
give −4…−7 points and are flagged.  Small towns (≲ 20,000 residents) fluctuate slowly
enough that the test sometimes flags a warm run: read the numbers, not only the flag.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: days of the observed period the slope is fitted over (at most), and the fewest tested
WINDOW_DAYS = 180
MIN_WINDOW_DAYS = 60
#: |slope / standard error| at or above which a slope is significant
T_CRITICAL = 3.0
#: series tested → (tolerance per year, "absolute" or "relative" to the window's mean)
DRIFT_SERIES: dict[str, tuple[float, str]] = {"safety_share_safe": (0.03, "absolute"), "backlog": (1.5, "relative")}


def slope_nw(y: np.ndarray, lags: int | None = None) -> tuple[float, float]:
    """OLS slope of `y` against 0, 1, 2 … and its Newey–West standard error (Bartlett kernel)."""
    y = np.asarray(y, dtype=float)
    n = len(y)
    x = np.arange(n) - (n - 1) / 2
    sxx = float((x * x).sum())
    b = float((x * (y - y.mean())).sum() / sxx)
    u = x * (y - y.mean() - b * x)
    lags = max(1, n // 6) if lags is None else lags
    s = float((u * u).sum())
    for lag in range(1, min(lags, n - 1) + 1):
        s += 2 * (1 - lag / (lags + 1)) * float((u[lag:] * u[:-lag]).sum())
    return b, math.sqrt(max(s, 0.0)) / sxx


def series_of(daily) -> dict[str, np.ndarray]:
    """The tested series from a daily frame (the DataCollector's, or daily.csv)."""
    backlog = [c for c in daily.columns if c.startswith("backlog_")]
    return {"safety_share_safe": daily["safety_share_safe"].to_numpy(dtype=float),
            "backlog": daily[backlog].sum(axis=1).to_numpy(dtype=float)}


def drift(daily) -> dict[str, Any]:
    """The drift test of the module's doc on a daily frame: per series the slope a year, its
    standard error, t, the tolerance and the verdict; `flag` when any series drifts."""
    n = min(len(daily), WINDOW_DAYS)
    out: dict[str, Any] = {"window_days": n, "t_critical": T_CRITICAL, "tested": n >= MIN_WINDOW_DAYS, "series": {}}
    if n < MIN_WINDOW_DAYS:
        out["flag"] = False
        return out
    for name, y in series_of(daily.iloc[:n]).items():
        tol, kind = DRIFT_SERIES[name]
        mean = float(np.mean(y))
        b, se = slope_nw(y)
        per_year, se_year = 365.0 * b, 365.0 * se
        tolerance = tol * max(mean, 1.0) if kind == "relative" else tol
        t = per_year / se_year if se_year > 0 else (0.0 if per_year == 0 else math.copysign(math.inf, per_year))
        out["series"][name] = {"mean": mean, "slope_per_year": per_year, "se_per_year": se_year, "t": t,
                               "tolerance_per_year": tolerance, "drifts": bool(abs(t) >= T_CRITICAL and abs(per_year) >= tolerance)}
    out["flag"] = any(s["drifts"] for s in out["series"].values())
    return out


def is_default(scenario) -> bool:
    """Whether the scenario's warm-up is the loader's default (its file set no `warmup_days`)."""
    from .scenario.loader import DEFAULT_WARMUP_DAYS, DEFAULT_WARMUP_SOURCE

    return scenario.sources.get("warmup_days") == DEFAULT_WARMUP_SOURCE and scenario.warmup_days == DEFAULT_WARMUP_DAYS


def warmup_summary(model) -> dict[str, Any]:
    """`summary.json`'s `warmup`: days, whether they are the default, the drift test and its flag."""
    from .execute import daily_frame

    spec = getattr(model, "spec", model.params)
    d = drift(daily_frame(model))
    return {"days": int(spec.warmup_days), "default": is_default(spec), "drift": d, "flag": bool(d["flag"])}


def describe(warm: dict[str, Any]) -> str | None:
    """One line naming the drifting series (None when nothing drifts), for the end of a run."""
    if not warm.get("flag"):
        return None
    parts = []
    for name, s in warm["drift"]["series"].items():
        if s["drifts"]:
            size = (f"{100 * s['slope_per_year']:+.1f} points a year" if name == "safety_share_safe"
                    else f"{100 * s['slope_per_year'] / max(s['mean'], 1.0):+.0f} % a year")
            parts.append(f"{'perceived safety' if name == 'safety_share_safe' else 'the backlog'} {size} (t {s['t']:.1f})")
    return (f"still drifting after the {warm['days']}-day warm-up, over the first {warm['drift']['window_days']} observed "
            f"days: {'; '.join(parts)}; lengthen warmup_days (the rule: sim/warmup.py)")
