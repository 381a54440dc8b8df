"""Uncertainty downstream of a calibration: bands, paired differences and costs per point.

A sweep made with `gridsim sweep EXP --posterior DIR` runs replicate r of every design point
with posterior draw θ_r and seed r (`sim.experiments.posterior`; loaded and checked there,
re-exported here).  A replicate is then one *world* consistent with the evidence plus one
roll of the model's dice, the same at every point, so:

- **bands** over a posterior sweep are the spread of runs: the central `level` share of the
  per-replicate values ("95 % of runs over posterior draws and replicates"); without a
  posterior they are the Student-t interval of the mean over replicates ("95 % t-interval
  over replicates"), since the parameters are then fixed and only the dice vary;
- **differences** between points are paired by replicate (same draw, same seed): each
  replicate's value at a point minus its value at the baseline point, summarised the same
  two ways (percentiles over draws, or a t-interval of the mean paired difference);
- **yuan per point** of perceived safety, per replicate, is Δcost / Δsafety (Δsafety ≤ 0
  with Δcost > 0 is +∞: no point is bought); with a posterior its median and 90 % interval
  over draws, without one the ratio of the mean differences with Fieller's 90 % interval.
  Where Δsafety's interval includes 0 no ratio is given: "cannot be told from no effect";
- **P(A cheaper than B)**: the share of draws in which lever move A buys a point for less
  than B (paired by draw when both sweeps drew the same posterior rows; ties count half).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..experiments.posterior import Posterior, load_posterior

__all__ = ["Posterior", "load_posterior", "band", "band_words", "diff_words", "paired", "quantile",
           "cost_per_point", "prob_cheaper", "NO_EFFECT", "is_posterior"]

NO_EFFECT = "cannot be told from no effect"


def is_posterior(meta: dict) -> bool:
    """Whether a sweep store's runs drew their parameters from a posterior."""
    return bool(meta.get("posterior"))


def quantile(values, q: float) -> float:
    """The q-quantile (linear between order statistics) of values that may hold ±∞; NaN dropped."""
    v = np.sort(np.asarray(values, dtype=float)[~np.isnan(np.asarray(values, dtype=float))])
    if len(v) == 0:
        return math.nan
    h = (len(v) - 1) * float(q)
    lo, hi = int(math.floor(h)), int(math.ceil(h))
    a, b = v[lo], v[hi]
    if a == b or h == lo:
        return float(a)
    if not (math.isfinite(a) and math.isfinite(b)):
        return float(b if h - lo > 0 and math.isinf(b) else a)
    return float(a + (h - lo) * (b - a))


def t_interval(values, level: float) -> tuple[float, float, float, int]:
    """Mean and Student-t interval of the mean; (mean, nan, nan, n) below 2 values."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    m = float(v.mean())
    if n < 2:
        return m, math.nan, math.nan, n
    from scipy import stats

    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return m, m - half, m + half, n


def band(values, level: float, posterior: bool) -> tuple[float, float, float, int]:
    """(centre, low, high, n): with a posterior the mean and the central `level` share of the
    values (percentiles); without, the mean and its t-interval.  No band below 2 values."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not posterior or len(v) < 2:
        return t_interval(v, level)
    return float(v.mean()), quantile(v, 0.5 - level / 2), quantile(v, 0.5 + level / 2), len(v)


def band_words(n: int, level: float, posterior: bool) -> str:
    """What a band spans, for legends and captions."""
    if n < 2:
        return f"no interval: {n} replicate"
    if posterior:
        return f"{level:.0%} of runs over posterior draws and replicates ({n} draws, one seed each)"
    return f"{level:.0%} t-interval over {n} replicates"


def diff_words(n: int, level: float, posterior: bool) -> str:
    """What a paired difference's band spans."""
    if n < 2:
        return f"no interval: {n} replicate"
    if posterior:
        return f"{level:.0%} of paired differences over {n} posterior draws (same draw and seed at both points)"
    return f"{level:.0%} t-interval of the mean paired difference over {n} replicates (same seed at both points)"


def paired(per_rep: pd.Series, baseline) -> pd.DataFrame:
    """Paired differences from per-replicate values (a Series indexed by (x, replicate)):
    one row per (x, replicate) present at both x and `baseline`, value(x) − value(baseline)."""
    wide = per_rep.unstack("x")
    if baseline not in wide.columns:
        return pd.DataFrame(columns=["x", "replicate", "diff"])
    d = wide.sub(wide[baseline], axis=0)
    out = d.stack().rename("diff").reset_index()
    return out[["x", "replicate", "diff"]]


def _fieller(dc: np.ndarray, ds: np.ndarray, level: float) -> tuple[float, float, float]:
    """Ratio mean(dc)/mean(ds) and Fieller's interval (paired samples); (r, nan, nan) when
    mean(ds)'s interval includes 0 (the ratio is then unbounded)."""
    from scipy import stats

    n = len(ds)
    mc, ms = dc.mean(), ds.mean()
    r = mc / ms if ms != 0 else math.nan
    if n < 2:
        return r, math.nan, math.nan
    t2 = stats.t.ppf(0.5 + level / 2, n - 1) ** 2
    scc, sss = dc.var(ddof=1) / n, ds.var(ddof=1) / n
    scs = np.cov(dc, ds, ddof=1)[0, 1] / n
    a = ms * ms - t2 * sss
    if a <= 0:
        return r, math.nan, math.nan
    b = mc * ms - t2 * scs
    c = mc * mc - t2 * scc
    disc = b * b - a * c
    root = math.sqrt(max(disc, 0.0))
    return r, (b - root) / a, (b + root) / a


def cost_per_point(d_cost, d_safe_points, level: float = 0.9, posterior: bool = True) -> dict:
    """Yuan per resident per year per point of safety from paired differences (module doc).

    `d_cost` (yuan/resident/yr) and `d_safe_points` (percentage points), one per replicate,
    paired.  Returns Δ safety (centre, lo, hi), Δ cost (centre, lo, hi) and the cost per
    point (centre, lo, hi, or `verdict` = NO_EFFECT / "lowers safety"), and per-replicate
    ratios (`ratios`, for probabilities)."""
    dc = np.asarray(d_cost, dtype=float)
    ds = np.asarray(d_safe_points, dtype=float)
    ok = np.isfinite(dc) & np.isfinite(ds)
    dc, ds = dc[ok], ds[ok]
    n = len(ds)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(ds > 0, dc / ds, np.where(dc > 0, math.inf, np.where(dc < 0, -math.inf, math.nan)))
    if posterior:
        s = (float(np.median(ds)) if n else math.nan, quantile(ds, 0.5 - level / 2), quantile(ds, 0.5 + level / 2))
        c = (float(np.median(dc)) if n else math.nan, quantile(dc, 0.5 - level / 2), quantile(dc, 0.5 + level / 2))
    else:
        s = t_interval(ds, level)[:3]
        c = t_interval(dc, level)[:3]
    out = {"n": n, "posterior": posterior, "level": level, "d_safe": s, "d_cost": c, "ratios": ratios,
           "per_point": (math.nan, math.nan, math.nan), "verdict": None}
    if n < 2 or not (math.isfinite(s[1]) and math.isfinite(s[2])):
        out["verdict"] = f"no interval: {n} replicate" + ("s" if n != 1 else "")
    elif s[1] <= 0 <= s[2]:
        out["verdict"] = NO_EFFECT
    elif s[2] < 0:
        out["verdict"] = "lowers safety"
    elif posterior:
        out["per_point"] = (quantile(ratios, 0.5), quantile(ratios, 0.5 - level / 2), quantile(ratios, 0.5 + level / 2))
    else:
        out["per_point"] = _fieller(dc, ds, level)
    return out


def prob_cheaper(ratios_a, ratios_b, paired_draws: bool = True) -> float:
    """P(A buys a point for less than B): the share of draws with ratio_a < ratio_b (ties half).

    Paired: element i of both is the same posterior draw (equal lengths).  Unpaired: every
    draw of A against every draw of B."""
    a = np.asarray(ratios_a, dtype=float)
    b = np.asarray(ratios_b, dtype=float)
    if paired_draws:
        if len(a) != len(b):
            raise ValueError("paired draws need as many ratios on each side")
        ok = ~(np.isnan(a) | np.isnan(b))
        a, b = a[ok], b[ok]
        if not len(a):
            return math.nan
        return float(((a < b).sum() + 0.5 * (a == b).sum()) / len(a))
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if not (len(a) and len(b)):
        return math.nan
    less = (a[:, None] < b[None, :]).sum()
    ties = (a[:, None] == b[None, :]).sum()
    return float((less + 0.5 * ties) / (len(a) * len(b)))
