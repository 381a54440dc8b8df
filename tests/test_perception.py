"""Perceived safety and trust (ODD submodel 7): `Perception.update` driven by hand-made
messages on a small town, and one whole-model check that the messages are delivered.

Every expected value is worked out here from the parameters and the update rule as the
module documents it (target = baseline + grid/cell terms − w_victim·victim memory −
w_dispute·dispute memory; safety moves `adapt_daily` of the way to it; memories fade by
e^(−1/memory days); a closed dispute moves each party's trust by
gain·e^(−h/τ) − loss·(1 − e^(−h/τ)), or −trust_loss_unhandled if it turned violent; a
cleared incident moves its victim's trust by +trust_gain_cleared, an uncleared one by
−trust_loss_uncleared; then trust relaxes `trust_relax_daily` toward its baseline), in
float64, without calling the module.  The model keeps these columns in float32, so values
are compared within a few float32 roundings (TOL), not a tolerance fitted to the result.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from conftest import CRIME_OFF
from sim.crime import ClosedIncidents
from sim.disputes import ClosedDisputes
from sim.perception import Perception
from sim.population import Population
from sim.town import Town

TOL = 1e-5   # ≈ 100 float32 ulps at values ≤ 1: the update is a dozen float32 operations


# trust and memory parameters all different, so that a mix-up of two of them shows
DISTINCT = {"perception.trust_gain": 0.08, "perception.trust_loss": 0.05, "perception.trust_loss_unhandled": 0.2,
            "perception.trust_gain_cleared": 0.07, "perception.trust_loss_uncleared": 0.12,
            "perception.victim_memory_days": 365.0, "perception.dispute_memory_days": 150.0,
            "perception.w_victim": 0.25, "perception.w_dispute": 0.15, "perception.bad_converted": 1.3}


def world(**overrides):
    """A 4,000-resident town with its population and a Perception that never surveys
    (the observed period starts after the horizon of these tests)."""
    sc = sim.Scenario().with_overrides({"population": 4000, "scale": 1.0, "residents_per_grid": 400,
                                        "camera_coverage": 0.0, **DISTINCT, **overrides}, "test")
    rng = np.random.default_rng(5)
    town = Town(sc, rng)
    town.place_cameras(sc.camera_coverage, rng, sc.perception.camera_near_cells)
    pop = Population(town, sc, rng)
    households = np.maximum(town.grid_pop / sc.town.household_size, 1.0)
    perc = Perception(sc.perception, town, pop, rng=np.random.default_rng(6), households=households,
                      warmup_days=10_000, days=1)
    return sc.perception, town, pop, perc, households


def quiet_day(town, *, victims=(), disputes=None, incidents=None, visits=None):
    """The day's messages: nothing happened except what is given."""
    return dict(victims=np.asarray(victims, np.int64),
                closed_disputes=disputes if disputes is not None else ClosedDisputes(*(np.zeros(0, np.int64),) * 2,
                                                                                      np.zeros(0, bool), np.zeros(0)),
                closed_incidents=incidents if incidents is not None else ClosedIncidents(np.zeros(0, np.int64), np.zeros(0, bool)),
                visits_by_grid=np.zeros(town.n_grids) if visits is None else visits,
                visible_patrol_per_1000=np.zeros(town.n_grids), open_by_grid=np.zeros(town.n_grids, np.int64),
                area_crime=np.zeros(town.n_grids))


def twins_in_one_cell(pop, k: int = 2, base: float = 0.6) -> np.ndarray:
    """k residents of the most populous cell, made identical (same baseline safety and trust)."""
    cell = np.bincount(pop.home).argmax()
    ids = np.flatnonzero(pop.home == cell)[:k]
    assert len(ids) == k
    pop.base_safety[ids] = pop.safety[ids] = base
    pop.base_trust[ids] = pop.trust[ids] = 0.5
    return ids


# --------------------------------------------------------------------------- safety
def test_own_victimisation_lowers_safety_by_w_victim_times_the_memory():
    """Twins in one cell (same baseline 0.6, same grid and cell terms, which are zero here);
    one is victimised on day 0 and twice on day 3.  Its target is the baseline less
    w_victim × its memory, clipped at 0 (from day 3 the clip binds: 0.6 − 0.25 × 2.98 < 0),
    and the gap in safety follows the adaptation recurrence toward the gap in targets."""
    p, town, pop, perc, _ = world()
    a, b, c = twins_in_one_cell(pop, 3)           # a: the victim; b, c: never victims
    base = 0.6
    decay = math.exp(-1.0 / p.victim_memory_days)
    memory, gap = 0.0, 0.0                        # a's victim memory, safety(b) − safety(a)
    for day in range(8):
        victims = [a] if day == 0 else [a, a] if day == 3 else []
        perc.update(day, **quiet_day(town, victims=victims))
        memory = (memory + len(victims)) * decay
        target_gap = base - min(max(base - p.w_victim * memory, 0.0), 1.0)
        gap = target_gap if day == 0 else gap + p.adapt_daily * (target_gap - gap)
        assert pop.victim_memory[a] == pytest.approx(memory, abs=TOL) and pop.victim_memory[b] == 0
        assert pop.safety[b] == pop.safety[c] == pytest.approx(base, abs=TOL)   # the untouched twins stay put
        assert pop.safety[b] - pop.safety[a] == pytest.approx(gap, abs=TOL), f"day {day}"
    assert p.w_victim * memory > base             # the clip was reached (the test covers it)
    assert gap > 0.1                              # the effect is large next to TOL: the test can fail
    assert 0 < pop.safety[a] < pop.safety[b]


@pytest.mark.parametrize("days", [1, 20])
def test_more_visits_mean_higher_safety(days):
    """Residents with the same baseline in grids that got 0, 10, 40 and 160 visits a day (all
    else zero): safety rises with visits by exactly w_visit × the remembered visit rate
    (visits per household per month, a moving average over visit_memory_days)."""
    p, town, pop, perc, households = world()
    grids = np.arange(4)
    ids = pop.grid_first[grids]                    # the first resident of each of four grids
    assert np.all(pop.grid[ids] == grids)
    pop.base_safety[ids] = pop.safety[ids] = 0.3
    # the camera term is the same for all (no cameras): only the visits differ
    assert not town.near_camera.any()
    visits = np.zeros(town.n_grids)
    visits[grids] = [0.0, 10.0, 40.0, 160.0]
    rate = np.zeros(4)
    safety = np.full(4, 0.3)
    for day in range(days):
        perc.update(day, **quiet_day(town, visits=visits))
        rate += (visits[grids] * 30.0 / households[grids] - rate) / p.visit_memory_days
        target = np.clip(0.3 + p.w_visit * rate, 0.0, 1.0)
        safety = target if day == 0 else safety + p.adapt_daily * (target - safety)
    got = pop.safety[ids].astype(float)
    np.testing.assert_allclose(got, safety, atol=TOL)
    assert np.all(np.diff(got) > 0), f"safety does not rise with visits: {got}"
    assert got[-1] - got[0] > 100 * TOL


def test_own_badly_handled_dispute_lowers_safety():
    """A party to a dispute settled after h hours carries 1 − e^(−h/τ) bad experiences, a
    party to a violent one bad_converted; each lowers the target by w_dispute."""
    p, town, pop, perc, _ = world()
    ids = twins_in_one_cell(pop, 5)
    hours = np.array([0.0, 500.0, np.nan])         # fast, slow, violent (NaN: never known)
    converted = np.array([False, False, True])
    cd = ClosedDisputes(ids[:3], ids[[3, 3, 3]], converted, hours)   # ids[3] is the other party of all three
    perc.update(0, **quiet_day(town, disputes=cd))
    bad = np.where(converted, p.bad_converted, 1.0 - np.exp(-np.nan_to_num(hours, nan=np.inf) / p.trust_time_hours))
    d = p.dispute_memory_days
    drop = p.w_dispute * bad * math.exp(-1.0 / d)
    clean = pop.safety[ids[4]]                     # the twin with no dispute
    np.testing.assert_allclose(clean - pop.safety[ids[:3]], drop, atol=TOL)
    # memories add up: the party of all three carries the sum (its target stays above 0, unclipped)
    assert clean - pop.safety[ids[3]] == pytest.approx(p.w_dispute * bad.sum() * math.exp(-1.0 / d), abs=TOL)
    assert drop[0] == 0 and drop[2] > drop[1] > 0.05


# --------------------------------------------------------------------------- trust
def expected_trust_change(p, d: float) -> float:
    """Trust 0.5 = baseline, moved by d then relaxed one day toward 0.5: 0.5 + d(1 − relax) − 0.5."""
    return d * (1.0 - p.trust_relax_daily)


def test_trust_follows_how_a_dispute_was_handled():
    """Parties of a dispute settled in 1 h gain, in 500 h lose, of a violent one lose
    trust_loss_unhandled; sizes from gain·e^(−h/τ) − loss·(1 − e^(−h/τ))."""
    p, town, pop, perc, _ = world()
    ids = twins_in_one_cell(pop, 7)
    a, b = ids[:3], ids[3:6]
    hours = np.array([1.0, 500.0, 30.0])
    converted = np.array([False, False, True])
    perc.update(0, **quiet_day(town, disputes=ClosedDisputes(a, b, converted, hours)))
    fast = np.exp(-hours / p.trust_time_hours)
    d = np.where(converted, -p.trust_loss_unhandled, p.trust_gain * fast - p.trust_loss * (1 - fast))
    want = 0.5 + np.array([expected_trust_change(p, x) for x in d])
    np.testing.assert_allclose(pop.trust[a], want, atol=TOL)
    np.testing.assert_allclose(pop.trust[b], want, atol=TOL)       # both parties alike
    assert pop.trust[ids[6]] == pytest.approx(0.5, abs=TOL)         # no dispute: no change
    # signs: fast raises, slow and violent lower
    assert pop.trust[a[0]] > 0.5 > pop.trust[a[1]] and pop.trust[a[2]] < 0.5
    assert pop.trust[a[2]] == pytest.approx(0.5 - p.trust_loss_unhandled * (1 - p.trust_relax_daily), abs=TOL)


def test_trust_tau_is_the_break_even_time_scale():
    """gain·e^(−h/τ) = loss·(1 − e^(−h/τ)) at h* = τ·ln(1 + gain/loss): settled a little
    sooner raises trust, a little later lowers it."""
    p, town, pop, perc, _ = world(**{"perception.trust_gain": 0.1, "perception.trust_loss": 0.05})
    h_star = p.trust_time_hours * math.log(1 + p.trust_gain / p.trust_loss)
    ids = twins_in_one_cell(pop, 4)
    hours = np.array([0.9 * h_star, 1.1 * h_star])
    perc.update(0, **quiet_day(town, disputes=ClosedDisputes(ids[:2], ids[2:], np.zeros(2, bool), hours)))
    assert pop.trust[ids[0]] > 0.5 > pop.trust[ids[1]]


def test_trust_follows_whether_an_incident_was_cleared():
    p, town, pop, perc, _ = world()
    victim_cleared, victim_uncleared, twice_uncleared, bystander = twins_in_one_cell(pop, 4)
    ci = ClosedIncidents(np.array([victim_cleared, victim_uncleared, twice_uncleared, twice_uncleared]),
                         np.array([True, False, False, False]))
    perc.update(0, **quiet_day(town, incidents=ci))
    assert pop.trust[victim_cleared] == pytest.approx(0.5 + expected_trust_change(p, p.trust_gain_cleared), abs=TOL)
    assert pop.trust[victim_uncleared] == pytest.approx(0.5 - expected_trust_change(p, p.trust_loss_uncleared), abs=TOL)
    assert pop.trust[twice_uncleared] == pytest.approx(0.5 - expected_trust_change(p, 2 * p.trust_loss_uncleared), abs=TOL)
    assert pop.trust[bystander] == pytest.approx(0.5, abs=TOL)
    assert pop.trust[victim_cleared] > 0.5 > pop.trust[victim_uncleared] > pop.trust[twice_uncleared]


# --------------------------------------------------------------------------- wiring
def test_model_hands_every_victim_to_perception_once():
    """In a whole run, each resident's victim memory is Σ e^(−(D − d)/memory) over the days d
    on which it was the victim of an incident (D days run): every incident of the table,
    dispute-born assaults included, reached perception exactly once, on its own day."""
    sc = sim.Scenario().with_overrides({"population": 3000, "scale": 1.0, "days": 40,
                                        "crime.rate_per_10k_year.theft": 20000.0,
                                        "crime.rate_per_10k_year.burglary": 5000.0,
                                        "disputes.conversion_daily": [0.02, 0.05, 0.1]}, "test")
    m = sim.GovernanceModel(sc, rng=3).run()
    inc = m.crime.table
    n = inc.n
    assert n > 200 and (inc.from_dispute[:n] >= 0).sum() > 0
    day = np.floor(inc.t_occur[:n] / 24.0)
    decay = math.exp(-1.0 / sc.perception.victim_memory_days)
    want = np.zeros(m.population.n)
    np.add.at(want, inc.victim[:n], decay ** (sc.days - day))
    np.testing.assert_allclose(m.population.victim_memory, want, atol=1e-4)


def test_no_crime_no_victim_memory():
    m = sim.GovernanceModel(sim.Scenario().with_overrides({"population": 3000, "scale": 1.0, "days": 20,
                                                           "disputes.conversion_daily": [0.0, 0.0, 0.0], **CRIME_OFF}, "test"),
                            rng=3).run()
    assert m.crime.table.n == 0 and not m.population.victim_memory.any()
