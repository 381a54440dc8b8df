"""Monotone levers in the plain regime (MODEL.md §7): smaller grids, more full-time
workers and more cameras must not make the mean outcomes worse.

Design: the default scenario at scale 0.1 (10,000 residents) over 180 days, R = 8
replicates per arm, common seeds across the two arms of a lever (paired comparison).
For each outcome a one-sided paired t-test (scipy.stats.ttest_rel) asks whether the
lever made the outcome *worse*; the test fails if p < α = 0.01.  The tolerance is thus
the sampling error of the paired differences: an effect is only called "worse" when it
exceeds ≈ t_{0.99, 7} ≈ 3.0 standard errors of the mean paired difference.
A companion test checks the design has power: grids of 400 vs 4,000 residents must make
resolution significantly *faster* (same test, other direction).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import sim
from conftest import run, small_default, summarise

ALPHA = 0.01
SEEDS = tuple(range(301, 309))
SCALE, DAYS = 0.1, 180
TIME_OUTCOMES = ("report_to_resolution_hours_mean", "resolution_hours_mean")   # lower is better
SAFETY_OUTCOMES = ("population_share_safe",)                                   # higher is better

ARMS = {
    "grid_400": {"residents_per_grid": 400},
    "grid_2400": {"residents_per_grid": 2400},
    "grid_4000": {"residents_per_grid": 4000},
    "fulltime_0": {"fulltime_ratio": 0.0},
    "fulltime_1": {"fulltime_ratio": 1.0},
    "camera_0": {"camera_coverage": 0.0},
    "camera_1": {"camera_coverage": 1.0},
}

_cache: dict[str, list[dict]] = {}


def arm(name: str) -> list[dict]:
    """Summaries of the arm's replicates, in SEEDS order (computed once per session)."""
    if name not in _cache:
        _cache[name] = [summarise(run(small_default(scale=SCALE, days=DAYS, **ARMS[name]), seed)) for seed in SEEDS]
    return _cache[name]


def values(name: str, outcome: str) -> np.ndarray:
    x = np.array([s[outcome] for s in arm(name)], float)
    assert np.all(np.isfinite(x)), f"{outcome} undefined in some replicate of {name}"
    return x


def p_worse(better_arm: str, worse_arm: str, outcome: str, higher_is_better: bool) -> tuple[float, float]:
    """One-sided paired t-test of H1 'the lever (better_arm) makes `outcome` worse'.

    Returns (p, mean paired difference lever − baseline)."""
    a, b = values(better_arm, outcome), values(worse_arm, outcome)
    d = a - b
    if np.all(d == d[0]):            # no variance: the difference is exact (e.g. common random numbers)
        worse = d[0] < 0 if higher_is_better else d[0] > 0
        return (0.0 if worse else 1.0), float(d[0])
    alt = "less" if higher_is_better else "greater"
    return float(stats.ttest_rel(a, b, alternative=alt).pvalue), float(d.mean())


LEVER_PAIRS = [
    ("smaller_grids", "grid_400", "grid_2400"),
    ("more_fulltime", "fulltime_1", "fulltime_0"),
    ("more_cameras", "camera_1", "camera_0"),
]


@pytest.mark.parametrize("label,lever_arm,base_arm", LEVER_PAIRS, ids=[p[0] for p in LEVER_PAIRS])
@pytest.mark.parametrize("outcome", TIME_OUTCOMES + SAFETY_OUTCOMES)
def test_lever_does_not_make_things_worse(label, lever_arm, base_arm, outcome):
    p, diff = p_worse(lever_arm, base_arm, outcome, higher_is_better=outcome in SAFETY_OUTCOMES)
    assert p >= ALPHA, (f"{label}: {outcome} significantly worse (one-sided paired t-test p = {p:.2g}, "
                        f"mean change {diff:+.4g}, R = {len(SEEDS)})")


def test_smaller_grids_are_significantly_better():
    """Power check: the design can detect a real effect of the grid-size lever.  Grid workers
    serve waiting cases before routine duties (`staffing.triage: cases_first`), so a grid
    too big for its team shows it in routine duties left undone and in visits that stop —
    fewer hidden disputes found, so slower from onset to resolution — not in the time from
    a report to its resolution (which the grid-size lever moved while routine duties came
    first and ate the hours for cases)."""
    for outcome, better in (("resolution_hours_mean", "less"), ("share_known", "greater"), ("routine_shortfall_share", "less")):
        a, b = values("grid_400", outcome), values("grid_4000", outcome)
        p = stats.ttest_rel(a, b, alternative=better).pvalue
        assert p < ALPHA, f"grids of 400 vs 4,000: {outcome} {a.mean():.3f} vs {b.mean():.3f}, p = {p:.2g}"


def test_levers_reach_the_model():
    """The lever values actually set what they claim (otherwise the tests above are vacuous)."""
    small, big = arm("grid_400")[0], arm("grid_4000")[0]
    assert small["grids"] > 5 * big["grids"]
    assert math.isclose(small["residents_per_grid_actual"], 400, rel_tol=0.2)
    assert arm("fulltime_1")[0]["grid_workers_fulltime"] == arm("fulltime_1")[0]["grid_workers"]
    assert arm("fulltime_0")[0]["grid_workers_fulltime"] == 0
    assert arm("camera_0")[0]["cameras"] == 0 < arm("camera_1")[0]["cameras"]


def test_levers_given_as_overrides_are_honoured():
    """`overrides={"dotted.key": value}` takes any parameter, the levers and run length
    included — judged by what the mechanisms do with them, not by the stored parameters.
    Every value differs from the default scenario's."""
    base = sim.load_scenario()
    want = {"residents_per_grid": 2500.0, "fulltime_ratio": 1.0, "camera_coverage": 0.0, "days": 10, "scale": 0.05,
            "staffing.fulltime_hours": 6.0}
    assert all(base.flat()[k] != v for k, v in want.items())
    m = sim.GovernanceModel(overrides=want).run()
    town, gw = m.town, m.grid_work
    # scale: a representative fraction of the default town, at the same density
    assert m.population.n == round(base.population * 0.05)
    assert town.cell_km ** 2 * town.n_cells == pytest.approx(base.area_km2 * 0.05)
    # grid size: every grid but the last holds its target (drawn around 2,500 with
    # town.grid_size_cv) give or take its largest cell
    half = np.sqrt(3.0) * base.town.grid_size_cv * 2500
    assert np.all(np.abs(town.grid_target - 2500) <= half + 1e-9) and town.n_grids >= 2
    assert np.all(np.abs(town.grid_pop[:-1] - town.grid_target[:-1]) <= town.pop.max())
    # full-time ratio 1 and a 6-hour full-time day: every worker is full-time and works 6 h
    assert gw.fulltime.all() and np.all(gw.shift_hours == 6.0)
    # no cameras: nothing covered, none bought, no incident seen by one
    inc = m.crime.table
    assert not town.covered.any() and m.cameras == 0 and not np.any(inc.in_view[: inc.n])
    # days: the observed period is 10 days after the default warm-up
    assert m.steps == base.warmup_days + 10 and len(m.datacollector.get_model_vars_dataframe()) == 10
