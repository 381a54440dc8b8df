"""Which assumptions matter: a one-at-a-time screening, then Sobol indices.

Every assumed (or partly assumed) behavioural number is halved and doubled (a share's odds
halved and doubled) in the default district with the same seeds; the few with the largest
effects on resolution time and perceived safety join the three levers in a Sobol design
(`scipy.stats.sobol_indices`, first and total order, bootstrap intervals).  Every Sobol
point runs with one seed (common random numbers), and the spread over seeds at the centre
of the box says how much the dice would add.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable

import numpy as np

from ..execute import replicate_seed, replicate_seeds
from ..experiments.pool import Runner, RunSpec
from ..scenario import Scenario, ScenarioError, bounds, is_assumption, leaves, param_source
from .settings import Settings
from .stats import CONFIDENCE, column

SCREEN_SEED, SOBOL_SEED = 4000, 5000
RESOLUTION = "report_to_resolution_hours_mean"
POP_SAFE = "population_share_safe"      # perceived safety without a survey: no answer noise to average out
SAFETY = "survey_expected_share_safe"
SCREEN_OUTCOMES = (RESOLUTION, POP_SAFE)
SOBOL_OUTCOMES = (RESOLUTION, POP_SAFE, SAFETY)    # the report shows the first two
TOP_PER_OUTCOME = 3
SOBOL_LEVERS = {"residents_per_grid": ("log", 300.0, 2000.0), "fulltime_ratio": ("lin", 0.0, 1.0),
                "camera_coverage": ("lin", 0.0, 1.0)}
#: used when the screening is skipped (the `tiny` preset of the tests)
FALLBACK_ASSUMED = ("perception.safety_mean", "perception.w_victim", "perception.w_disorder",
                    "staffing.routine_hours_per_1000", "disputes.rate_per_10k_year", "staffing.visits_per_hour")
#: not screened: levers, run shape, measurement definitions, clock positions, cost-only
NOT_SCREENED = ("population", "area_km2", "seed", "days", "scale", "warmup_days", "track_residents", "residents_per_grid",
                "fulltime_ratio", "camera_coverage", "staffing.shift_start", "staffing.parttime_shift_start",
                "perception.cutpoints", "perception.survey_n", "perception.survey_every_days",
                "staffing.parttime_cost_yuan_month", "staffing.fulltime_cost_yuan_month", "crime.cameras_per_covered_cell",
                "crime.camera_capital_yuan", "crime.camera_life_years")


def _is_share(key: str) -> bool:
    """A probability or a share: the schema bounds it by [0, 1] or its unit says so."""
    b = bounds(key)
    unit = leaves()[key].unit.lower()
    return (b.lo == 0 and b.hi == 1 and not b.lo_strict and not b.hi_strict) or "probab" in unit or unit.startswith("share")


def screening_candidates(base: Scenario) -> list[dict]:
    """Every assumed (or partly assumed), behavioural, numeric parameter with a low and a high
    value: ×½ and ×2, for probabilities and shares the odds ×½ and ×2 (p/(2−p), 2p/(1+p)),
    within the schema's limits."""
    flat = base.flat()
    out = []
    for key in leaves():
        if key in NOT_SCREENED or key.startswith("disputes.severity.") or key in ("name", "description", "sources"):
            continue
        v = flat.get(key)
        assumed = is_assumption(key, base)
        if isinstance(v, bool) or not (assumed or "assum" in param_source(key, base).lower()):
            continue
        if isinstance(v, float):
            vals = np.array([v])
        elif isinstance(v, tuple) and all(isinstance(x, float) for x in v):
            vals = np.array(v, float)
        else:
            continue
        if not np.any(vals > 0) or np.any(vals >= 1e8):
            continue
        if _is_share(key) and np.all(vals <= 1.0):
            low, high = vals / (2.0 - vals), 2.0 * vals / (1.0 + vals)
        else:
            low, high = vals / 2.0, vals * 2.0
            b = bounds(key)
            if b.hi is not None:
                high = np.minimum(high, b.hi * (0.999 if b.hi_strict else 1.0))
            if b.lo is not None and not b.lo_strict:
                low = np.maximum(low, b.lo)
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
                    "provenance": "assumption" if assumed else "partly assumed: " + param_source(key, base)})
    return out


def screening(settings: Settings, runner: Runner, base: Scenario, say: Callable[[str], None] = lambda s: None) -> dict:
    cands = screening_candidates(base)
    shape = {"days": settings.district_days, "scale": settings.district_scale}
    seeds = replicate_seeds(SCREEN_SEED, settings.screen_replicates)
    specs = []
    for c in cands:
        for end in ("low", "high"):
            specs += [RunSpec(base, s, tuple({**shape, c["key"]: c[end]}.items()), SCREEN_OUTCOMES) for s in seeds]
    say(f"screening: {len(cands)} assumed parameters, {len(specs)} runs")
    res = runner.map(specs)
    R = len(seeds)
    rows = []
    for i, c in enumerate(cands):
        lo, hi = res[2 * i * R: (2 * i + 1) * R], res[(2 * i + 1) * R: (2 * i + 2) * R]
        rows.append({**c, **{f"effect_{k}": float(np.nanmean(column(hi, k)) - np.nanmean(column(lo, k)))
                             for k in SCREEN_OUTCOMES}})
    for k in SCREEN_OUTCOMES:
        order = sorted(rows, key=lambda r: -abs(r[f"effect_{k}"]) if np.isfinite(r[f"effect_{k}"]) else 0)
        for rank, r in enumerate(order, 1):
            r[f"rank_{k}"] = rank
    chosen = []
    for k in SCREEN_OUTCOMES:
        for r in sorted(rows, key=lambda r: r[f"rank_{k}"])[:TOP_PER_OUTCOME]:
            if r["key"] not in chosen:
                chosen.append(r["key"])
    return {"rows": rows, "chosen": chosen, "seeds": seeds, "outcomes": list(SCREEN_OUTCOMES),
            "top_per_outcome": TOP_PER_OUTCOME, "factor": 2}


def _value(dim: dict, u: float):
    """The input value at the unit-interval coordinate u."""
    if dim["kind"] == "log":
        return float(dim["low"] * (dim["high"] / dim["low"]) ** u)
    lo, hi = dim["low"], dim["high"]
    if isinstance(lo, list):
        return [float(a + u * (b - a)) for a, b in zip(lo, hi)]
    return float(lo + u * (hi - lo))


def sobol(settings: Settings, runner: Runner, base: Scenario, assumed: list[dict],
          say: Callable[[str], None] = lambda s: None) -> dict:
    """Sobol indices of resolution time and perceived safety; one seed for every point (CRN)."""
    from scipy import stats

    dims = [{"key": k, "kind": kind, "low": lo, "high": hi, "group": "lever"} for k, (kind, lo, hi) in SOBOL_LEVERS.items()]
    dims += [{"key": a["key"], "kind": "lin", "low": a["low"], "high": a["high"], "group": "assumed"} for a in assumed]
    shape = {"days": settings.district_days, "scale": settings.district_scale}
    seed = replicate_seed(SOBOL_SEED, 0)
    d = len(dims)
    say(f"Sobol: {d} inputs, n = {settings.sobol_n}, {settings.sobol_n * (d + 2)} runs")
    bad = {"nan": 0}

    def func(x):
        specs = [RunSpec(base, seed, tuple({**shape, **{dims[i]["key"]: _value(dims[i], float(x[i, j])) for i in range(d)}}
                                           .items()), SOBOL_OUTCOMES) for j in range(x.shape[1])]
        res = runner.map(specs)
        y = np.array([[r[k] for r in res] for k in SOBOL_OUTCOMES], float)
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
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                boot = res.bootstrap(confidence_level=CONFIDENCE, n_resamples=settings.bootstrap)
        except Exception as exc:  # small designs can make the bootstrap degenerate
            say(f"Sobol bootstrap skipped: {exc}")
    first, total = np.atleast_2d(res.first_order), np.atleast_2d(res.total_order)
    out = {"inputs": dims, "outcomes": list(SOBOL_OUTCOMES), "n": settings.sobol_n, "runs": settings.sobol_n * (d + 2),
           "seed": seed, "nan_replaced": bad["nan"], "bootstrap": settings.bootstrap if boot is not None else 0,
           "seconds": time.perf_counter() - t0, "indices": {}, "output_sd": {}}
    fA = np.atleast_2d(res._f_A)
    if boot is not None:
        ci = {w: [np.atleast_2d(getattr(getattr(boot, f"{w}_order").confidence_interval, e)) for e in ("low", "high")]
              for w in ("first", "total")}
    for s, k in enumerate(SOBOL_OUTCOMES):
        rows = []
        for i, dim in enumerate(dims):
            row = {"key": dim["key"], "group": dim["group"], "first": float(first[s, i]), "total": float(total[s, i])}
            if boot is not None:
                row.update({f"{w}_ci": [float(ci[w][0][s, i]), float(ci[w][1][s, i])] for w in ("first", "total")})
            rows.append(row)
        out["indices"][k] = rows
        out["output_sd"][k] = float(np.std(fA[s], ddof=1))
    # noise: spread over seeds at the centre of the box, against the spread over the box
    centre = tuple({**shape, **{dim["key"]: _value(dim, 0.5) for dim in dims}}.items())
    noise = runner.map([RunSpec(base, s, centre, SOBOL_OUTCOMES) for s in replicate_seeds(SOBOL_SEED, settings.noise_replicates)])
    out["noise_sd_at_centre"] = {k: float(np.nanstd(column(noise, k), ddof=1)) if len(noise) > 1 else math.nan
                                 for k in SOBOL_OUTCOMES}
    ratios = [(out["noise_sd_at_centre"][k] / out["output_sd"][k]) ** 2 for k in SOBOL_OUTCOMES
              if out["output_sd"][k] and math.isfinite(out["noise_sd_at_centre"][k])]
    out["noise_variance_share_max"] = max(ratios) if ratios else math.nan
    a, b = out["indices"][SAFETY], out["indices"][POP_SAFE]
    out["survey_vs_population_total_max_diff"] = max(abs(x["total"] - y["total"]) for x, y in zip(a, b))
    return out


def sensitivity(settings: Settings, runner: Runner, base: Scenario, say: Callable[[str], None] = lambda s: None) -> dict:
    """Screening (unless the preset skips it) and Sobol: {'screening': …, 'sobol': …}."""
    out: dict = {}
    if settings.screen:
        out["screening"] = screening(settings, runner, base, say=say)
        rows = {r["key"]: r for r in out["screening"]["rows"]}
        assumed = [rows[k] for k in out["screening"]["chosen"]]
    else:
        cands = {c["key"]: c for c in screening_candidates(base)}
        assumed = [cands[k] for k in FALLBACK_ASSUMED if k in cands]
    out["sobol"] = sobol(settings, runner, base, assumed, say=say)
    return out
