"""Small statistics over replicates: means with t intervals, paired changes, columns.

Every comparison in the validation is over replicate runs with the same seeds on both
sides, so a change is the mean of per-seed differences (a paired interval), which is much
narrower than the difference of two independent means.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

#: the level of every interval in the report
CONFIDENCE = 0.95


def t_quantile(n: int, confidence: float = CONFIDENCE) -> float:
    """Two-sided Student-t quantile for a mean of n values (NaN below 2)."""
    from scipy import stats

    return float(stats.t.ppf(0.5 + confidence / 2, n - 1)) if n > 1 else math.nan


def mean_ci(x: Iterable) -> dict:
    """Mean of replicates with its t interval; None and non-finite values are dropped."""
    x = np.asarray([v for v in x if v is not None and np.isfinite(v)], float)
    n = len(x)
    if n == 0:
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "sd": math.nan, "n": 0}
    m = float(x.mean())
    sd = float(x.std(ddof=1)) if n > 1 else math.nan
    h = t_quantile(n) * sd / math.sqrt(n) if n > 1 else math.nan
    return {"mean": m, "low": m - h, "high": m + h, "sd": sd, "n": n}


def paired(a: Sequence, b: Sequence, relative: bool = False) -> dict:
    """Change b − a (or b/a − 1) over paired replicates (same seeds), with its interval."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (b / a - 1.0) if relative else (b - a)     # a zero base gives ±inf/NaN, which mean_ci drops
    return mean_ci(d)


def column(results: list[dict], key: str) -> list[float]:
    """One outcome over a list of run results (missing → NaN)."""
    return [float(r[key]) if r.get(key) is not None else math.nan for r in results]


def summarise(results: list[dict], keys: Iterable[str]) -> dict:
    """mean_ci of each key."""
    return {k: mean_ci(column(results, k)) for k in keys}


def changes(a: list[dict], b: list[dict], keys: Iterable[str]) -> dict:
    """Paired change a → b of each key."""
    return {k: paired(column(a, k), column(b, k)) for k in keys}


def quantiles(x: Sequence[float], ps: Iterable[float]) -> dict:
    """{'p10': …} of a sample (NaN if empty)."""
    x = np.asarray(x, float)
    return {f"p{round(100 * p)}": float(np.quantile(x, p)) if len(x) else math.nan for p in ps}


def scaled(d: dict, factor: float) -> dict:
    """A mean_ci/paired dict with mean, bounds and sd multiplied (shares → points)."""
    return {k: (v * factor if k in ("mean", "low", "high", "sd") and v is not None else v) for k, v in d.items()}
