"""Perceived safety and trust (ODD submodel 7): `Perception.update` driven by hand-made
messages on a small town, and whole-model checks that the messages are delivered.

Every expected value is worked out here from the parameters and the update rule as the
module documents it, in float64, without calling the module:

    target = clip(base_safety + Σ channels, 0, 1);  safety moves `adapt_daily` of the way to it
             (and starts at it on day 0)
    channels: − w_victim · victim memory  (a violent incident counts victim_injury_factor)
              − w_hearsay · hear_share · H_k   (H_k: incidents in one's community, fading by
                e^(−1/hearsay_memory_days), a cleared one relieved by cleared_relief)
              − w_disorder · 1000 · open disputes / grid residents
              + w_visit · (1 − e^(−visit rate / visit_saturation)) + w_patrol · (1 − e^(−patrol / patrol_saturation))
              + w_trust · (trust − trust_mean) + w_camera · near_camera − w_dispute · dispute memory
    trust:    a closed dispute moves each party by gain·e^(−h/τ) − loss·(1 − e^(−h/τ)), or
              −trust_loss_unhandled if it turned violent; a closed incident moves its victim by
              ±(trust_gain_cleared | trust_loss_uncleared) + trust_response·(2e^(−h/response_time_hours) − 1);
              then trust relaxes `trust_relax_daily` toward min(base_trust + w_publicity·publicity_share·P, 1),
              P the fading count of cleared incidents per 10,000 residents.

The model keeps residents' columns in float32, so values are compared within a few float32
roundings (TOL), not a tolerance fitted to the result.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from conftest import CRIME_OFF
from sim.crime import ClosedIncidents, IncidentsToday, visible_patrol_per_1000
from sim.disputes import ClosedDisputes
from sim.perception import CHANNELS, Perception
from sim.population import Population
from sim.town import Town

TOL = 1e-5   # ≈ 100 float32 ulps at values ≤ 1: the update is a dozen float32 operations
TRUST0 = 0.5  # twins' trust: equal to trust_mean below, so the trust channel is 0 for them


# trust and memory parameters all different, so that a mix-up of two of them shows
DISTINCT = {"perception.trust_gain": 0.08, "perception.trust_loss": 0.05, "perception.trust_loss_unhandled": 0.2,
            "perception.trust_gain_cleared": 0.07, "perception.trust_loss_uncleared": 0.12,
            "perception.trust_response": 0.03, "perception.response_time_hours": 0.7,
            "perception.victim_memory_days": 200.0, "perception.dispute_memory_days": 150.0,
            "perception.hearsay_memory_days": 25.0, "perception.publicity_memory_days": 60.0,
            "perception.w_victim": 0.12, "perception.victim_injury_factor": 1.7, "perception.w_dispute": 0.15,
            "perception.bad_converted": 1.3, "perception.w_hearsay": 0.02, "perception.hear_share": 0.4,
            "perception.cleared_relief": 0.6, "perception.trust_mean": TRUST0}


def world(**overrides):
    """A 4,000-resident town with its population and a Perception that never surveys
    (the observed period starts after the horizon of these tests)."""
    sc = sim.Scenario().with_overrides({"population": 4000, "scale": 1.0, "residents_per_grid": 400,
                                        "town.residents_per_community": 1200,
                                        "camera_coverage": 0.0, **DISTINCT, **overrides}, "test")
    rng = np.random.default_rng(5)
    town = Town(sc, rng)
    town.place_cameras(sc.camera_coverage, rng, sc.perception.camera_near_cells)
    pop = Population(town, sc, rng)
    households = np.maximum(town.grid_pop / sc.town.household_size, 1.0)
    perc = Perception(sc.perception, town, pop, rng=np.random.default_rng(6), households=households,
                      warmup_days=10_000, days=1)
    return sc.perception, town, pop, perc, households


def incidents(pop, victims=(), violent=None, grids=None) -> IncidentsToday:
    """Incidents of today against `victims`, in the victims' own grids unless given."""
    v = np.asarray(victims, np.int64)
    return IncidentsToday(v, np.zeros(len(v), bool) if violent is None else np.asarray(violent, bool),
                          pop.grid[v].astype(np.int32) if grids is None else np.asarray(grids, np.int32))


def closed(victims, cleared, grids=None, t_occur=None, response=None) -> ClosedIncidents:
    n = len(victims)
    return ClosedIncidents(np.asarray(victims, np.int64), np.asarray(cleared, bool),
                           np.zeros(n, np.int32) if grids is None else np.asarray(grids, np.int32),
                           np.zeros(n) if t_occur is None else np.asarray(t_occur, float),
                           np.full(n, np.nan) if response is None else np.asarray(response, float))


def quiet_day(town, pop, *, occurred=None, disputes=None, closed_incidents=None, visits=None, patrol=None, open_by_grid=None):
    """The day's messages: nothing happened except what is given."""
    return dict(incidents=occurred if occurred is not None else incidents(pop),
                closed_disputes=disputes if disputes is not None else ClosedDisputes(*(np.zeros(0, np.int64),) * 2,
                                                                                      np.zeros(0, bool), np.zeros(0)),
                closed_incidents=closed_incidents if closed_incidents is not None else closed([], []),
                visits_by_grid=np.zeros(town.n_grids) if visits is None else visits,
                visible_patrol_per_1000=np.zeros(town.n_grids) if patrol is None else patrol,
                open_by_grid=np.zeros(town.n_grids, np.int64) if open_by_grid is None else open_by_grid)


def twins_in_one_cell(pop, k: int = 2, base: float = 0.6) -> np.ndarray:
    """k residents of the most populous cell, made identical (same baseline safety, trust
    TRUST0 = trust_mean)."""
    cell = np.bincount(pop.home).argmax()
    ids = np.flatnonzero(pop.home == cell)[:k]
    assert len(ids) == k
    pop.base_safety[ids] = pop.safety[ids] = base
    pop.base_trust[ids] = pop.trust[ids] = TRUST0
    return ids


def first_of_grids(pop, grids, base: float = 0.3) -> np.ndarray:
    """The first resident of each given grid, with the same baseline and trust = trust_mean."""
    ids = pop.grid_first[np.asarray(grids)]
    assert np.all(pop.grid[ids] == grids)
    pop.base_safety[ids] = pop.safety[ids] = base
    pop.base_trust[ids] = pop.trust[ids] = TRUST0
    return ids


def adapt(p, safety, target, day):
    return target if day == 0 else safety + p.adapt_daily * (target - safety)


# --------------------------------------------------------------------------- 1. direct victimisation
def test_own_victimisation_lowers_safety_by_w_victim_times_the_memory():
    """Twins in one cell (same baseline 0.6; hearsay off so that only the victim term differs
    from the untouched twins).  The victim is robbed (violent: victim_injury_factor) on day 0
    and has two thefts on day 3.  Its target is the baseline less w_victim × its memory,
    and the gap in safety follows the adaptation recurrence toward the gap in targets."""
    p, town, pop, perc, _ = world(**{"perception.w_hearsay": 0.0})
    a, b, c = twins_in_one_cell(pop, 3)           # a: the victim; b, c: never victims
    base = 0.6
    decay = math.exp(-1.0 / p.victim_memory_days)
    memory, gap = 0.0, 0.0                        # a's victim memory, safety(b) − safety(a)
    for day in range(8):
        victims, violent = ([a], [True]) if day == 0 else ([a, a], [False, False]) if day == 3 else ([], [])
        perc.update(day, **quiet_day(town, pop, occurred=incidents(pop, victims, violent)))
        memory = (memory + sum(p.victim_injury_factor if v else 1.0 for v in violent)) * decay
        target_gap = base - min(max(base - p.w_victim * memory, 0.0), 1.0)
        gap = adapt(p, gap, target_gap, day)
        assert pop.victim_memory[a] == pytest.approx(memory, abs=TOL) and pop.victim_memory[b] == 0
        assert pop.safety[b] == pop.safety[c] == pytest.approx(base, abs=TOL)   # the untouched twins stay put
        assert pop.safety[b] - pop.safety[a] == pytest.approx(gap, abs=TOL), f"day {day}"
    assert memory > 3.5                           # the injury factor counted (1.7 + 2 thefts, faded a little)
    assert gap > 0.1                              # the effect is large next to TOL: the test can fail


# --------------------------------------------------------------------------- 2. hearsay
def test_hearsay_memory_and_its_term_follow_the_formula():
    """Incidents in community 0 (some cleared later, one cleared the day it happened),
    none in the last community.  The community's memory follows
    H ← max(H + n_today − cleared_relief · Σ e^(−age/hearsay_memory_days), 0) · e^(−1/hearsay_memory_days),
    with age in days since the cleared incident occurred; every resident of the community
    hears of it, whoever the victim, and the gap to a twin of the quiet community is
    w_hearsay · hear_share · H on the target."""
    p, town, pop, perc, _ = world(**{"perception.w_victim": 0.0})
    assert town.n_communities >= 2
    g0 = int(np.flatnonzero(town.grid_community == 0)[0])
    g_quiet = int(np.flatnonzero(town.grid_community == town.n_communities - 1)[0])
    near, far = first_of_grids(pop, [g0, g_quiet], base=0.5)
    other = int(pop.grid_first[g0] + 1)           # a victim in the same grid, not the observed resident
    decay = math.exp(-1.0 / p.hearsay_memory_days)
    # day → (incidents that occur, [(day it occurred, cleared?) of incidents closed today])
    script = {0: (3, []), 2: (1, [(0, True), (0, False)]), 5: (2, [(5, True), (2, True)]), 9: (0, [(0, True)])}
    h, gap = 0.0, 0.0
    for day in range(14):
        n_new, closes = script.get(day, (0, []))
        occ = incidents(pop, [other] * n_new, grids=[g0] * n_new)
        ci = closed([other] * len(closes), [c for _, c in closes], grids=[g0] * len(closes),
                    t_occur=[24.0 * d + 13.0 for d, _ in closes], response=[0.2] * len(closes))
        perc.update(day, **quiet_day(town, pop, occurred=occ, closed_incidents=ci))
        relief = sum(p.cleared_relief * decay ** (day - d) for d, c in closes if c)
        h = max(h + n_new - relief, 0.0) * decay
        gap = adapt(p, gap, p.w_hearsay * p.hear_share * h, day)
        assert perc.hearsay[0] == pytest.approx(h, rel=1e-12)
        assert perc.hearsay[-1] == 0.0
        assert pop.safety[far] - pop.safety[near] == pytest.approx(gap, abs=TOL), f"day {day}"
    # a cleared incident weighs (1 − cleared_relief) from then on: the closing order does not matter
    want = sum(decay ** (14 - d) for d in (0, 0, 0, 2, 5, 5)) - p.cleared_relief * sum(decay ** (14 - d) for d in (0, 0, 2, 5))
    assert h == pytest.approx(want, rel=1e-12)
    assert gap > 100 * TOL


def test_hearsay_does_not_depend_on_police_knowledge_and_clearance_relieves_it():
    """Two days alike but for what the police learn: hearsay is the same whether an incident
    is closed uncleared or never reaches the police; clearing it lowers hearsay."""
    def hearsay_after(closes):
        p, town, pop, perc, _ = world()
        occ = incidents(pop, [0, 1], grids=[0, 0])
        perc.update(0, **quiet_day(town, pop, occurred=occ, closed_incidents=closes))
        return perc.hearsay[town.grid_community[0]]

    unknown = hearsay_after(closed([], []))
    uncleared = hearsay_after(closed([0], [False], grids=[0], response=[0.3]))
    cleared = hearsay_after(closed([0], [True], grids=[0], response=[0.3]))
    assert unknown == uncleared > cleared > 0


# --------------------------------------------------------------------------- 3, 4. disorder and guardianship
def test_disorder_lowers_safety_by_open_disputes_per_1000():
    """Residents of four grids with 0, 1, 3 and 8 open disputes (all else zero): the target
    is lowered by w_disorder × 1000 × open / grid residents."""
    p, town, pop, perc, _ = world()
    grids = np.arange(4)
    ids = first_of_grids(pop, grids, base=0.5)
    open_by_grid = np.zeros(town.n_grids, np.int64)
    open_by_grid[grids] = [0, 1, 3, 8]
    perc.update(0, **quiet_day(town, pop, open_by_grid=open_by_grid))
    want = 0.5 - p.w_disorder * 1000.0 * open_by_grid[grids] / town.grid_pop[grids]
    np.testing.assert_allclose(pop.safety[ids], want, atol=TOL)
    assert want[0] - want[-1] > 0.1


@pytest.mark.parametrize("days", [1, 20])
def test_visits_raise_safety_saturating(days):
    """Residents with the same baseline in grids that got 0, 10, 40 and 400 visits a day (all
    else zero): safety rises with the remembered visit rate r (visits per household per
    month, a moving average over visit_memory_days) as w_visit · (1 − e^(−r/visit_saturation))."""
    p, town, pop, perc, households = world()
    grids = np.arange(4)
    ids = first_of_grids(pop, grids)
    assert not town.near_camera.any()              # the camera term is the same for all (no cameras)
    visits = np.zeros(town.n_grids)
    visits[grids] = [0.0, 10.0, 40.0, 400.0]
    rate = np.zeros(4)
    safety = np.full(4, 0.3)
    for day in range(days):
        perc.update(day, **quiet_day(town, pop, visits=visits))
        rate += (visits[grids] * 30.0 / households[grids] - rate) / p.visit_memory_days
        safety = adapt(p, safety, 0.3 + p.w_visit * (1.0 - np.exp(-rate / p.visit_saturation)), day)
    got = pop.safety[ids].astype(float)
    np.testing.assert_allclose(got, safety, atol=TOL)
    assert np.all(np.diff(got) > 0), f"safety does not rise with visits: {got}"
    assert got[-1] - got[0] > 100 * TOL
    assert got[-1] - got[0] <= p.w_visit + TOL      # saturates: never more than w_visit


def test_visible_patrol_raises_safety_saturating():
    """Visible patrol of 0, 1, 4 and 100 h per 1,000 residents a day: the target rises by
    w_patrol · (1 − e^(−patrol/patrol_saturation)), at most w_patrol."""
    p, town, pop, perc, _ = world()
    grids = np.arange(4)
    ids = first_of_grids(pop, grids)
    patrol = np.zeros(town.n_grids)
    patrol[grids] = [0.0, 1.0, 4.0, 100.0]
    perc.update(0, **quiet_day(town, pop, patrol=patrol))
    want = 0.3 + p.w_patrol * (1.0 - np.exp(-patrol[grids] / p.patrol_saturation))
    np.testing.assert_allclose(pop.safety[ids], want, atol=TOL)
    assert want[-1] == pytest.approx(0.3 + p.w_patrol, abs=1e-9) and want[2] - want[1] > 100 * TOL


# --------------------------------------------------------------------------- own disputes
def test_own_badly_handled_dispute_lowers_safety():
    """A party to a dispute settled after h hours carries 1 − e^(−h/τ) bad experiences, a
    party to a violent one bad_converted; each lowers the target by w_dispute.  (The trust
    the disputes move enters safety too: the twins' gaps include w_trust × their trust gap.)"""
    p, town, pop, perc, _ = world()
    ids = twins_in_one_cell(pop, 5)
    hours = np.array([0.0, 500.0, np.nan])         # fast, slow, violent (NaN: never known)
    converted = np.array([False, False, True])
    cd = ClosedDisputes(ids[:3], ids[[3, 3, 3]], converted, hours)   # ids[3] is the other party of all three
    perc.update(0, **quiet_day(town, pop, disputes=cd))
    bad = np.where(converted, p.bad_converted, 1.0 - np.exp(-np.nan_to_num(hours, nan=np.inf) / p.trust_time_hours))
    d = p.dispute_memory_days
    drop = p.w_dispute * bad * math.exp(-1.0 / d)
    clean = ids[4]                                 # the twin with no dispute
    trust_gap = (pop.trust[clean] - pop.trust[ids[:3]]).astype(float)
    np.testing.assert_allclose(pop.safety[clean] - pop.safety[ids[:3]], drop + p.w_trust * trust_gap, atol=TOL)
    # memories add up: the party of all three carries the sum (its target stays above 0, unclipped)
    assert pop.dispute_memory[ids[3]] == pytest.approx(bad.sum() * math.exp(-1.0 / d), abs=TOL)
    assert drop[0] == 0 and drop[2] > drop[1] > 0.05


# --------------------------------------------------------------------------- 5. trust
def expected_trust_change(p, d: float) -> float:
    """Trust TRUST0 = baseline, moved by d then relaxed one day toward TRUST0: d(1 − relax)."""
    return d * (1.0 - p.trust_relax_daily)


def test_trust_follows_how_a_dispute_was_handled():
    """Parties of a dispute settled in 1 h gain, in 500 h lose, of a violent one lose
    trust_loss_unhandled; sizes from gain·e^(−h/τ) − loss·(1 − e^(−h/τ))."""
    p, town, pop, perc, _ = world()
    ids = twins_in_one_cell(pop, 7)
    a, b = ids[:3], ids[3:6]
    hours = np.array([1.0, 500.0, 30.0])
    converted = np.array([False, False, True])
    perc.update(0, **quiet_day(town, pop, disputes=ClosedDisputes(a, b, converted, hours)))
    fast = np.exp(-hours / p.trust_time_hours)
    d = np.where(converted, -p.trust_loss_unhandled, p.trust_gain * fast - p.trust_loss * (1 - fast))
    want = TRUST0 + np.array([expected_trust_change(p, x) for x in d])
    np.testing.assert_allclose(pop.trust[a], want, atol=TOL)
    np.testing.assert_allclose(pop.trust[b], want, atol=TOL)       # both parties alike
    assert pop.trust[ids[6]] == pytest.approx(TRUST0, abs=TOL)      # no dispute: no change
    # signs: fast raises, slow and violent lower
    assert pop.trust[a[0]] > TRUST0 > pop.trust[a[1]] and pop.trust[a[2]] < TRUST0
    assert pop.trust[a[2]] == pytest.approx(TRUST0 - p.trust_loss_unhandled * (1 - p.trust_relax_daily), abs=TOL)


def test_trust_tau_is_the_break_even_time_scale():
    """gain·e^(−h/τ) = loss·(1 − e^(−h/τ)) at h* = τ·ln(1 + gain/loss): settled a little
    sooner raises trust, a little later lowers it."""
    p, town, pop, perc, _ = world(**{"perception.trust_gain": 0.1, "perception.trust_loss": 0.05})
    h_star = p.trust_time_hours * math.log(1 + p.trust_gain / p.trust_loss)
    ids = twins_in_one_cell(pop, 4)
    hours = np.array([0.9 * h_star, 1.1 * h_star])
    perc.update(0, **quiet_day(town, pop, disputes=ClosedDisputes(ids[:2], ids[2:], np.zeros(2, bool), hours)))
    assert pop.trust[ids[0]] > TRUST0 > pop.trust[ids[1]]


def test_trust_follows_clearance_and_response_time():
    """A victim whose case is closed: ±(trust_gain_cleared | trust_loss_uncleared) plus
    trust_response · (2e^(−h/response_time_hours) − 1), h the hours from report to an officer
    on scene (NaN: none came, −trust_response).  Publicity off, so only the victims move."""
    p, town, pop, perc, _ = world(**{"perception.w_publicity": 0.0})
    v_fast, v_slow, v_none, twice, bystander = twins_in_one_cell(pop, 5)
    victims = [v_fast, v_slow, v_none, twice, twice]
    cleared = [True, True, False, False, False]
    response = [0.1, 3.0, np.nan, 0.5, 0.5]
    perc.update(0, **quiet_day(town, pop, closed_incidents=closed(victims, cleared, response=response)))
    quick = np.exp(-np.nan_to_num(np.array(response), nan=np.inf) / p.response_time_hours)
    d = np.where(cleared, p.trust_gain_cleared, -p.trust_loss_uncleared) + p.trust_response * (2 * quick - 1)
    assert pop.trust[v_fast] == pytest.approx(TRUST0 + expected_trust_change(p, d[0]), abs=TOL)
    assert pop.trust[v_slow] == pytest.approx(TRUST0 + expected_trust_change(p, d[1]), abs=TOL)
    assert pop.trust[v_none] == pytest.approx(TRUST0 + expected_trust_change(p, -p.trust_loss_uncleared - p.trust_response), abs=TOL)
    assert pop.trust[twice] == pytest.approx(TRUST0 + expected_trust_change(p, d[3] + d[4]), abs=TOL)
    assert pop.trust[bystander] == pytest.approx(TRUST0, abs=TOL)
    assert pop.trust[v_fast] > pop.trust[v_slow] > TRUST0 > pop.trust[v_none]


def test_publicised_solved_cases_lift_everyones_trust():
    """n cleared incidents today: the town's memory P = n · 10⁴ / N · e^(−1/publicity_memory_days),
    and every resident's trust relaxes toward min(base_trust + w_publicity · publicity_share · P, 1)."""
    p, town, pop, perc, _ = world(**{"perception.w_publicity": 0.02, "perception.trust_gain_cleared": 0.0,
                                     "perception.trust_loss_uncleared": 0.0, "perception.trust_response": 0.0})
    before = pop.trust.astype(float).copy()
    n = 12
    perc.update(0, **quiet_day(town, pop, closed_incidents=closed(np.arange(n) + 7, [True] * (n - 2) + [False] * 2)))
    P = (n - 2) * 1e4 / pop.n * math.exp(-1.0 / p.publicity_memory_days)
    assert perc.publicity == pytest.approx(P, rel=1e-12)
    lift = p.w_publicity * p.publicity_share * P
    want = before + p.trust_relax_daily * (np.minimum(pop.base_trust + lift, 1.0) - before)   # the anchor is at most 1
    np.testing.assert_allclose(pop.trust, want, atol=TOL)
    assert lift > 0.01 and (pop.base_trust + lift > 1).any()


def test_trust_enters_safety():
    """Twins whose trust differs by δ: their targets (and day-0 safety) differ by w_trust · δ,
    and a twin at trust_mean has no trust term."""
    p, town, pop, perc, _ = world()
    a, b = twins_in_one_cell(pop, 2, base=0.5)
    pop.trust[a] = pop.base_trust[a] = 0.9
    perc.update(0, **quiet_day(town, pop))
    assert pop.safety[a] - pop.safety[b] == pytest.approx(p.w_trust * (0.9 - TRUST0), abs=TOL)
    assert pop.safety[b] == pytest.approx(0.5, abs=TOL)


# --------------------------------------------------------------------------- all channels
def test_channels_add_up_to_the_target():
    """On day 0 safety is the target: clip(base_safety + Σ channels) for every resident, with
    every channel active (cameras, visits, patrol, disorder, hearsay, victims, disputes, trust)."""
    p, town, pop, perc, _ = world(**{"camera_coverage": 0.6})
    town.place_cameras(0.6, np.random.default_rng(1), p.camera_near_cells)
    rng = np.random.default_rng(2)
    v = rng.choice(pop.n, 300)
    occ = incidents(pop, v, violent=rng.random(300) < 0.3)
    cd = ClosedDisputes(v[:40], v[40:80], rng.random(40) < 0.2, rng.exponential(60.0, 40))
    ci = closed(v[100:160], rng.random(60) < 0.5, grids=pop.grid[v[100:160]], t_occur=np.zeros(60), response=rng.exponential(0.5, 60))
    perc.update(0, **quiet_day(town, pop, occurred=occ, disputes=cd, closed_incidents=ci,
                               visits=rng.random(town.n_grids) * 30, patrol=rng.random(town.n_grids) * 3,
                               open_by_grid=rng.integers(0, 5, town.n_grids)))
    ch = perc.channels()
    assert set(ch) == set(CHANNELS) and all(np.any(ch[k] != 0) for k in CHANNELS)
    np.testing.assert_allclose(pop.safety, np.clip(pop.base_safety + sum(ch.values()), 0, 1), atol=TOL)
    means = perc.channel_means()
    assert means["hearsay"] < 0 < means["visits"] and means["patrol"] > 0 and means["camera"] > 0


# --------------------------------------------------------------------------- wiring
CRIMEY = {"population": 3000, "scale": 1.0, "days": 40,
          "crime.rate_per_10k_year.theft": 20000.0, "crime.rate_per_10k_year.burglary": 5000.0,
          "crime.rate_per_10k_year.robbery": 2000.0,
          "disputes.conversion_daily": [0.02, 0.05, 0.1]}


@pytest.fixture(scope="module")
def crimey_run():
    sc = sim.Scenario().with_overrides(CRIMEY, "test")
    return sc, sim.GovernanceModel(sc, rng=3).run()


def test_model_hands_every_victim_to_perception_once(crimey_run):
    """In a whole run, each resident's victim memory is Σ w·e^(−(D − d)/memory) over the days d
    on which it was the victim of an incident (D days run; w = victim_injury_factor for a
    robbery or assault, else 1): every incident of the table, dispute-born assaults
    included, reached perception exactly once, on its own day."""
    sc, m = crimey_run
    inc = m.crime.table
    n = inc.n
    assert n > 200 and (inc.from_dispute[:n] >= 0).sum() > 0
    day = np.floor(inc.t_occur[:n] / 24.0)
    decay = math.exp(-1.0 / sc.perception.victim_memory_days)
    shock = np.where(np.isin(inc.kind[:n], [2, 3]), sc.perception.victim_injury_factor, 1.0)
    want = np.zeros(m.population.n)
    np.add.at(want, inc.victim[:n], shock * decay ** (sc.days - day))
    np.testing.assert_allclose(m.population.victim_memory, want, atol=1e-4)


def test_model_hearsay_counts_every_incident_and_relieves_cleared_ones(crimey_run):
    """Each community's hearsay memory at the end is Σ e^(−(D − d)/hearsay_memory_days) ·
    (1 − cleared_relief if cleared) over the incidents that occurred in it, known to the
    police or not: crime told perception of every incident, and of each clearance with the
    right place and day."""
    from sim.crime import CLEARED, UNREPORTED

    sc, m = crimey_run
    inc, town, p = m.crime.table, m.town, sc.perception
    n = inc.n
    assert (inc.status[:n] == UNREPORTED).sum() > 50 and (inc.status[:n] == CLEARED).sum() > 50
    day = np.floor(inc.t_occur[:n] / 24.0)
    w = math.exp(-1.0 / p.hearsay_memory_days) ** (sc.days - day) * np.where(inc.status[:n] == CLEARED, 1 - p.cleared_relief, 1.0)
    want = np.bincount(town.grid_community[inc.grid[:n]], weights=w, minlength=town.n_communities)
    np.testing.assert_allclose(m.perception.hearsay, want, rtol=1e-9, atol=1e-9)


def test_model_hands_perception_the_one_visible_patrol():
    """Perception's patrol is crime's `visible_patrol_per_1000` with `crime.patrol_visible_share`:
    a share of the free on-duty hours, the same figure that deters crime."""
    sc = sim.Scenario().with_overrides({"population": 3000, "scale": 1.0, "days": 3}, "test")
    m = sim.GovernanceModel(sc, rng=4).run()
    t = m.town
    want = visible_patrol_per_1000(m.patrol_today, t.township_pop, t.grid_township, sc.crime.patrol_visible_share)
    np.testing.assert_allclose(m.perception.patrol_per_1000, want)
    full = visible_patrol_per_1000(m.patrol_today, t.township_pop, t.grid_township, 1.0)
    assert np.all(want < full) and sc.crime.patrol_visible_share < 1


def test_no_crime_no_victim_memory_and_no_hearsay():
    m = sim.GovernanceModel(sim.Scenario().with_overrides({"population": 3000, "scale": 1.0, "days": 20,
                                                           "disputes.conversion_daily": [0.0, 0.0, 0.0], **CRIME_OFF}, "test"),
                            rng=3).run()
    assert m.crime.table.n == 0 and not m.population.victim_memory.any()
    assert not m.perception.hearsay.any() and m.perception.publicity == 0
