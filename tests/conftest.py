"""Shared scenarios and helpers for the gridsim test suite.

Everything here is small on purpose: the whole suite must stay within a few minutes on
two cores, so scenarios are scaled-down towns and short horizons.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sim  # noqa: E402
from sim.outcomes import summarise  # noqa: E402

CRIME_OFF = {f"crime.rate_per_10k_year.{k}": 0.0 for k in ("theft", "burglary", "robbery", "assault")}


def queue_scenario(servers: int, lam_per_hour: float, service_mean_hours: float, days: int,
                   residents: int = 5000) -> sim.Scenario:
    """A pure M/M/c queue at the grid rung.

    One grid holding every resident, `servers` full-time workers on duty 24 h a day with no
    routine duties, every dispute reported the moment it starts and settled at the grid
    (success 1, no threshold, no hand-off, no conversion), exponential service
    (cv = 1) with the same mean at every severity, and no crime.  Disputes arrive as a
    Poisson process of `lam_per_hour`.
    """
    rate = lam_per_hour * 24.0 * 365.0 * 1e4 / residents  # disputes / 10,000 residents / year
    assert rate <= 1e5, "arrival rate beyond the schema's limit: use more residents"
    return sim.Scenario().with_overrides({
        "population": residents,
        "scale": 1.0,
        "days": days,
        "residents_per_grid": 100_000,          # ≥ population: one grid
        "fulltime_ratio": 1.0,
        "disputes.instant_discovery": True,
        "disputes.report_delay_hours": 0.0,
        "disputes.rate_per_10k_year": rate,
        "disputes.conversion_daily": [0.0, 0.0, 0.0],
        "staffing.workers_per_grid": servers,
        "staffing.fulltime_hours": 24.0,
        "staffing.shift_start": 0.0,
        "staffing.routine_hours_per_1000": 0.0,
        "ladder.grid.success": [1.0, 1.0, 1.0],
        "ladder.grid.service_mean_hours": [service_mean_hours] * 3,
        "ladder.grid.service_cv": 1.0,
        "ladder.grid.deadline_hours": 1e12,
        "ladder.grid.handoff_hours": 0.0,
        **CRIME_OFF,
    })


def small_default(scale: float = 0.05, days: int = 120, **overrides) -> sim.Scenario:
    """The default scenario scaled down (scale 0.05 = 5,000 residents)."""
    return sim.Scenario().with_overrides({"scale": scale, "days": days, **overrides})


def stressed(scale: float = 0.05, days: int = 120) -> sim.Scenario:
    """A town in trouble: grids so big routine duties swallow the team (queues run away),
    short waiting thresholds on every rung, many disputes that fester and turn violent
    often, few mediators, much crime."""
    o = {
        "scale": scale, "days": days,
        "residents_per_grid": 20_000, "fulltime_ratio": 0.0,
        "staffing.workers_per_grid": 1.0,
        "staffing.mediators_per_10k": 2.0, "staffing.township_mediators_per_10k": 0.5,
        "staffing.police_per_10k": 3.0, "staffing.court_servers_per_100k": 1.0,
        "disputes.rate_per_10k_year": 3000.0,
        "disputes.fester_daily": 0.2,
        "disputes.conversion_daily": [0.01, 0.03, 0.1],
        "disputes.latent_report_daily": [0.2, 0.3, 0.5],
        "disputes.report_delay_hours": 24.0,
        "ladder.grid.deadline_hours": 2.0,
        "ladder.community.deadline_hours": 4.0,
        "ladder.township.deadline_hours": 8.0,
        "ladder.police.deadline_hours": 2.0,
        "ladder.community.handoff_hours": 12.0,
        "ladder.township.handoff_hours": 24.0,
        "ladder.court.handoff_hours": 48.0,
        "crime.rate_per_10k_year.theft": 400.0,
        "crime.rate_per_10k_year.assault": 60.0,
    }
    return sim.Scenario().with_overrides(o)


def run(scenario, seed: int) -> sim.GovernanceModel:
    model = sim.GovernanceModel(scenario, rng=seed)
    model.run()
    return model


def same_value(a, b) -> bool:
    """Exact equality that treats NaN as equal to NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


@pytest.fixture(scope="session")
def default_small_run():
    """One finished default-scenario run at scale 0.05 over 120 days (shared, read-only)."""
    return run(small_default(), seed=7)


@pytest.fixture(scope="session")
def stressed_run():
    """One finished stressed-scenario run (shared, read-only)."""
    return run(stressed(), seed=11)


__all__ = ["CRIME_OFF", "queue_scenario", "small_default", "stressed", "run", "same_value", "summarise"]
