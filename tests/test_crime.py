"""Crime (ODD submodels 2 and 6): camera deterrence on incident counts, and police
response = wait + dispatch + travel from the post of the officer who gets there first.

Camera deterrence.  With guardianship switched off, incidents of type k in cell c are
Poisson with mean rate_k · w_c · (1 − camera_deterrence · covered_c) per day (w: where
that type happens).  Coverage 1 and coverage 0 are run on the same seeds.  Given the two
arms' total street-crime counts N₁ (covered) and N₀ (uncovered), N₁ is binomial with
N₀ + N₁ trials and p = (1 − d)/(2 − d) — an exact test of the deterrence that needs no
estimate of the rate (conditioning a pair of Poisson counts on their sum).  Burglary is
not street crime: there p = 1/2.  Two-sided, α = 0.01 each.  The design has power: at
the default d = 0.16 (≈ 12,000 street incidents over 8 seeds and two arms) the expected
share is ≈ 9 standard errors from the 1/2 of "no deterrence".  The arms share their
random numbers, which correlates them positively and makes the test conservative (no
false alarm in 25 fresh sets of seeds; with d = 0 the two arms draw identical counts).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import sim
from sim.crime import ASSAULT, BURGLARY, ROBBERY, STREET, THEFT

ALPHA = 0.01
CAMERA_SEEDS = tuple(range(8))


def camera_scenario(coverage: float, deterrence: float) -> sim.Scenario:
    return sim.Scenario().with_overrides({
        "population": 10_000, "scale": 1.0, "days": 30, "camera_coverage": coverage,
        "crime.camera_deterrence": deterrence,
        "crime.guardianship_deterrence": 0.0,           # only cameras change the rate
        "crime.rate_per_10k_year.theft": 8000.0, "crime.rate_per_10k_year.robbery": 1000.0,
        "crime.rate_per_10k_year.assault": 1000.0, "crime.rate_per_10k_year.burglary": 3000.0,
        "disputes.conversion_daily": [0.0, 0.0, 0.0],   # no dispute-born assaults (they are not deterred)
    }, "test")


def counts(coverage: float, deterrence: float) -> tuple[int, int]:
    """Street incidents and burglaries, summed over CAMERA_SEEDS."""
    street = burglary = 0
    for seed in CAMERA_SEEDS:
        m = sim.GovernanceModel(camera_scenario(coverage, deterrence), rng=seed).run()
        inc, n = m.crime.table, m.crime.table.n
        kind, cell = inc.kind[:n], inc.cell[:n]
        assert np.all(inc.from_dispute[:n] < 0)
        # street crime happens only in public cells; with coverage 1 all of them are covered
        assert np.all(m.town.public[cell[STREET[kind]]])
        if coverage == 1.0:
            assert np.array_equal(m.town.covered, m.town.public)
        elif coverage == 0.0:
            assert not m.town.covered.any()
        street += int(STREET[kind].sum())
        burglary += int((kind == BURGLARY).sum())
    return street, burglary


def binomial_p(k: int, n: int, p: float) -> float:
    return float(stats.binomtest(k, n, p).pvalue)


@pytest.mark.parametrize("deterrence", [0.0, 0.16, 0.6])
def test_cameras_deter_street_crime_by_camera_deterrence(deterrence):
    s1, b1 = counts(1.0, deterrence)
    s0, b0 = counts(0.0, deterrence)
    n = s0 + s1
    p = (1 - deterrence) / (2 - deterrence)
    ratio = s1 / s0
    se_log = math.sqrt(1 / s1 + 1 / s0)          # Poisson error of log(N₁/N₀)
    msg = (f"deterrence {deterrence}: covered/uncovered street crime {s1}/{s0} = {ratio:.3f} "
           f"(±{ratio * se_log:.3f}), expected {1 - deterrence:.2f}")
    assert binomial_p(s1, n, p) >= ALPHA, msg
    assert n > 3000, "too few incidents for the test to have power"
    if deterrence > 0:   # and the test can tell the deterrence from none
        assert binomial_p(s1, n, 0.5) < ALPHA, msg + " — not distinguishable from no deterrence"
    # burglary is not street crime: cameras do not change it
    assert binomial_p(b1, b0 + b1, 0.5) >= ALPHA, f"burglaries covered/uncovered {b1}/{b0}"


def test_each_street_crime_type_is_deterred_and_burglary_is_not():
    """Within one run at coverage 0.5, the share of each type falling in covered public
    cells: street types at (1 − d)·W_c / ((1 − d)·W_c + W_u), with W the cells' weights
    (residents of the cell), burglaries in proportion to residents.  Binomial tests,
    Bonferroni over the four types (α/4 each)."""
    sc = camera_scenario(0.5, 0.5).with_overrides({"days": 60}, "test")
    m = sim.GovernanceModel(sc, rng=99).run()
    inc, n, town = m.crime.table, m.crime.table.n, m.town
    pop = town.pop.astype(float)
    w_pub = np.where(town.public, pop, 0.0)
    d = sc.crime.camera_deterrence
    wc, wu = w_pub[town.covered].sum(), w_pub[~town.covered].sum()
    p_street = (1 - d) * wc / ((1 - d) * wc + wu)
    p_burglary = pop[town.covered].sum() / pop.sum()
    for k in (THEFT, ROBBERY, ASSAULT, BURGLARY):
        mask = inc.kind[:n] == k
        k_cov = int(town.covered[inc.cell[:n][mask]].sum())
        p = p_street if STREET[k] else p_burglary
        assert binomial_p(k_cov, int(mask.sum()), p) >= ALPHA / 4, f"type {k}: {k_cov} of {mask.sum()} covered, expected share {p:.3f}"


# --------------------------------------------------------------------------- police response
def police_scenario(posting: str) -> sim.Scenario:
    """Police so many (30 on duty, three at each community's post) and crime so light, with
    such short investigations, that calls rarely find an officer busy; disputes never go to
    the police, so officers serve incidents only."""
    return sim.Scenario().with_overrides({
        "population": 10_000, "scale": 1.0, "days": 60,
        "town.residents_per_community": 1000.0,
        "staffing.police_per_10k": 30.0, "staffing.police_on_duty_share": 1.0, "staffing.police_posting": posting,
        "staffing.police_speed_kmh": 20.0, "staffing.police_dispatch_hours": 0.2, "staffing.detour_factor": 1.4,
        "ladder.police_from_severity": 4,
        "crime.rate_per_10k_year.theft": 3000.0, "crime.rate_per_10k_year.burglary": 1000.0,
        "crime.guardianship_deterrence": 0.0,
        **{f"crime.investigation_hours.{k}": 0.25 for k in ("theft", "burglary", "robbery", "assault")},
    }, "test")


def centroids(town, unit_of_cell: np.ndarray, n: int) -> np.ndarray:
    """Resident-weighted centre of each unit, (n, 2)."""
    w = town.pop.astype(float)
    tot = np.bincount(unit_of_cell, weights=w, minlength=n)
    return np.stack([np.bincount(unit_of_cell, weights=w * town.x, minlength=n) / tot,
                     np.bincount(unit_of_cell, weights=w * town.y, minlength=n) / tot], axis=1)


@pytest.mark.parametrize("posting", ["village", "station"])
def test_response_is_dispatch_plus_travel_of_the_first_to_arrive(posting):
    """For every call that found an officer free at the nearest post, t_response − t_detect
    is dispatch + distance(post, cell) · cell_km · detour / speed of the nearest post: the
    officer sent is the one who reaches the scene first.  A call is sure to have found one
    free when fewer other calls of its township were in progress (from their call to
    their close, a superset of the time their officer was out) than the fewest officers at
    any post.  No call, whatever the load, is answered faster than from the nearest post."""
    sc = police_scenario(posting)
    m = sim.GovernanceModel(sc, rng=5).run()
    town, pol, inc, s = m.town, m.crime.police, m.crime.table, sc.staffing
    n = inc.n
    posts = np.stack([pol.x, pol.y], axis=1)
    # the posts are where the scenario puts them
    if posting == "village":
        cc = centroids(town, town.cell_community, town.n_communities)
        assert town.n_communities >= 5 and pol.n == 30
        assert np.all(np.isclose(posts[:, None, :], cc[None, :, :], atol=1e-6).all(axis=2).any(axis=1))
        assert len(np.unique(posts, axis=0)) == town.n_communities   # every community has officers
    else:
        np.testing.assert_allclose(posts, centroids(town, town.cell_township, town.n_townships)[pol.unit], atol=1e-6)
    per_post = int(np.unique(posts, axis=0, return_counts=True)[1].min())

    called = np.flatnonzero(np.isfinite(inc.t_response[:n]))
    cells = inc.cell[called]
    ts = town.cell_township[cells]
    hours_per_cell = town.cell_km * s.detour_factor / s.police_speed_kmh
    lead = np.full((len(called), pol.n), np.inf)      # dispatch + travel of every officer of the township
    for j, c in enumerate(cells):
        own = pol.unit == town.cell_township[c]
        lead[j, own] = s.police_dispatch_hours + np.hypot(pol.x[own] - town.x[c], pol.y[own] - town.y[c]) * hours_per_cell
    fastest = lead.min(axis=1)
    response = inc.t_response[called] - inc.t_detect[called]

    start, end = inc.t_detect[called], inc.t_close[called]
    end = np.where(np.isnan(end), np.inf, end)
    others_out = np.array([np.sum((start < t) & (t < end) & (ts == ts[j])) for j, t in enumerate(start)])
    free = others_out < per_post
    assert free.sum() >= 200, "too few calls sure to have met a free officer"
    np.testing.assert_allclose(response[free], fastest[free], rtol=0, atol=1e-9)
    assert np.all(response >= fastest - 1e-9), "an officer arrived faster than the nearest one could"
    # the test can tell "nearest" from "first on the list": the nearest post varies
    if posting == "village":
        nearest_post = np.unique(posts[lead[free].argmin(axis=1)], axis=0)
        assert len(nearest_post) >= 3
        first_listed = np.array([s.police_dispatch_hours + math.hypot(pol.x[pol.first[town.cell_township[c]]] - town.x[c],
                                                                      pol.y[pol.first[town.cell_township[c]]] - town.y[c]) * hours_per_cell
                                 for c in cells[free]])
        assert np.mean(first_listed > fastest[free] + 1e-6) > 0.5


def test_busy_police_make_calls_wait():
    """One officer for a township and long investigations: calls queue, so responses exceed
    dispatch + travel (the 'wait' term), and never undercut it."""
    sc = police_scenario("station").with_overrides({
        "staffing.police_per_10k": 1.0, **{f"crime.investigation_hours.{k}": 6.0 for k in ("theft", "burglary", "robbery", "assault")}}, "test")
    m = sim.GovernanceModel(sc, rng=5).run()
    town, pol, inc, s = m.town, m.crime.police, m.crime.table, sc.staffing
    assert pol.n == 1
    called = np.flatnonzero(np.isfinite(inc.t_response[: inc.n]))
    c = inc.cell[called]
    travel = s.police_dispatch_hours + np.hypot(pol.x[0] - town.x[c], pol.y[0] - town.y[c]) * town.cell_km * s.detour_factor / s.police_speed_kmh
    wait = inc.t_response[called] - inc.t_detect[called] - travel
    assert np.all(wait >= -1e-9)
    assert np.mean(wait > 1.0) > 0.5, "a saturated officer should keep most callers waiting"
