"""The grid rung as a pure queue, against M/M/1 and Erlang C.

With discovery, routine duties, escalation and crime switched off, the grid rung is an
M/M/c queue whose mean wait is known exactly; the model's mean wait over replicates must
sit within a few standard errors of it.  This checks the event core and the worker pools
at utilisations the city runs never reach.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..execute import replicate_seeds
from ..experiments.pool import Runner, RunSpec
from ..scenario import Scenario
from .extras import QUEUE_WARMUP_MIN_DAYS, QUEUE_WARMUP_SHARE, queue_wait
from .settings import Settings
from .stats import mean_ci

QUEUE_SEED = 6000
QUEUE_SERVERS = (1, 3)
SERVICE_MEAN_HOURS = 1.0
#: a setting agrees with theory when the model's mean wait is within this many standard errors
Z_AGREES = 3.0


def queue_scenario(servers: int, lam_per_hour: float, service_mean_hours: float, days: int, residents: int = 5000) -> Scenario:
    """One grid, `servers` full-time workers on 24-h shifts, no routine duties, instant
    discovery, success 1, no threshold, no hand-off, no conversion, exponential service with
    the same mean at every severity, no crime: an M/M/c queue."""
    rate = lam_per_hour * 24.0 * 365.0 * 1e4 / residents
    return Scenario().with_overrides({
        "population": residents, "scale": 1.0, "days": days, "residents_per_grid": 100_000, "fulltime_ratio": 1.0,
        "disputes.instant_discovery": True, "disputes.report_delay_hours": 0.0, "disputes.rate_per_10k_year": rate,
        "disputes.conversion_daily": [0.0, 0.0, 0.0], "staffing.workers_per_grid": servers, "staffing.fulltime_hours": 24.0,
        "staffing.shift_start": 0.0, "staffing.routine_hours_per_1000": 0.0, "staffing.fulltime_skill": 1.0,
        "ladder.grid.success": [1.0, 1.0, 1.0], "ladder.grid.service_mean_hours": [service_mean_hours] * 3,
        "ladder.grid.service_cv": 1.0, "ladder.grid.deadline_hours": 1e12, "ladder.grid.handoff_hours": 0.0,
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


def queue_checks(settings: Settings, runner: Runner, say: Callable[[str], None] = lambda s: None) -> dict:
    mu = 1.0 / SERVICE_MEAN_HOURS
    seeds = replicate_seeds(QUEUE_SEED, settings.queue_replicates)
    batches = []
    for c in QUEUE_SERVERS:
        for rho in settings.utilisations:
            lam = rho * c * mu
            sc = queue_scenario(c, lam, SERVICE_MEAN_HOURS, settings.queue_days)
            batches.append((c, rho, lam, [RunSpec(sc, s, (), ("disputes",), (queue_wait,)) for s in seeds]))
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
        z = (w["mean"] - wq) / se if se and se > 0 else math.nan
        rows.append({"servers": c, "utilisation": rho, "arrivals_per_hour": lam, "theory_wait": wq, "theory_p_wait": pw,
                     "model_wait": w, "model_p_wait": p, "z": z, "agrees": bool(math.isfinite(z) and abs(z) < Z_AGREES),
                     "relative_error": (w["mean"] - wq) / wq, "inside_ci": bool(w["low"] <= wq <= w["high"]),
                     "cases": int(sum(r["queue_wait"]["cases"] for r in rr)),
                     "never_served": int(sum(r["queue_wait"]["never_served"] for r in rr))})
    return {"rows": rows, "days": settings.queue_days, "replicates": len(seeds), "seeds": seeds,
            "service_mean_hours": SERVICE_MEAN_HOURS, "servers": list(QUEUE_SERVERS), "z_agrees": Z_AGREES,
            "agreeing": sum(r["agrees"] for r in rows),
            "warm_up": {"share_of_horizon": QUEUE_WARMUP_SHARE, "at_least_days": QUEUE_WARMUP_MIN_DAYS}}
