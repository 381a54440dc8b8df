"""The escalation ladder (ODD submodels 3 and 5), checked per dispute from the per-rung
columns `t_enter_<rung>` / `t_exit_<rung>` of the dispute table.

Routing: grid → community → township, or → police when the severity after escalating
(1-based: severity + 1) is at least `ladder.police_from_severity`; township and police →
court.  Deadlines: a rung below the court that has not settled a case `deadline_hours`
after it arrived there — still in hand-off, still waiting, or still being served — reports
it up at exactly that moment, one severity level up (at most serious); no case stays
longer at any rung but the court, whatever its effort (at the police, the officer's
dispatch and travel included).

The checks are exact (floating-point slack 1e-9 h on times of ~10³ h), so the scenarios
are built to make every quantity observable: no hand-off delay below the court (ready =
entered), no festering (a case enters the grid at its first severity), and no service
effort in the climbing test, so that a stay equal to the deadline is a time-out.
"""

from __future__ import annotations

import numpy as np
import pytest

import sim
from conftest import run, stressed, summarise
from sim.disputes import COMMUNITY, CONVERTED, COURT, GRID, IN_LADDER, LATENT, POLICE, RESOLVED, SERIOUS, TOWNSHIP
from sim.queueing import DAY, ServerPool, from_work_start, to_work
from sim.scenario import RUNGS

EPS = 1e-9
ALLOWED = {(GRID, COMMUNITY), (COMMUNITY, TOWNSHIP), (COMMUNITY, POLICE), (TOWNSHIP, COURT), (POLICE, COURT)}
BELOW_COURT = (GRID, COMMUNITY, TOWNSHIP, POLICE)


def columns(tab, n):
    enter = np.stack([getattr(tab, f"t_enter_{r}")[:n] for r in RUNGS], axis=1)
    exit_ = np.stack([getattr(tab, f"t_exit_{r}")[:n] for r in RUNGS], axis=1)
    return enter, exit_


def ladder_scenario(police_from_severity: int = 3, **overrides) -> sim.Scenario:
    """Many disputes, short thresholds, no effort anywhere, no hand-off below the court,
    no festering, settlements that fail often (so cases climb), some conversions."""
    return sim.Scenario().with_overrides({
        "population": 10_000, "scale": 1.0, "days": 60,
        "disputes.rate_per_10k_year": 3000.0, "disputes.fester_daily": 0.0,
        "disputes.conversion_daily": [0.0005, 0.002, 0.01],
        "ladder.police_from_severity": police_from_severity,
        **{f"ladder.{r}.deadline_hours": h for r, h in (("grid", 2.0), ("community", 4.0), ("township", 8.0), ("police", 2.0))},
        **{f"ladder.{r}.success": [0.3, 0.3, 0.3] for r in ("grid", "community", "township", "police")},
        **{f"ladder.{r}.service_mean_hours": [0.0, 0.0, 0.0] for r in RUNGS},
        **{f"ladder.{r}.handoff_hours": 0.0 for r in ("grid", "community", "township", "police")},
        **overrides,
    }, "test")


def max_police_lead(m) -> float:
    """The longest dispatch + travel any officer could need to reach any cell of its township."""
    town, pol, s = m.town, m.crime.police, m.params.staffing
    worst = 0.0
    for u in range(town.n_townships):
        cells = np.flatnonzero(town.cell_township == u)
        own = pol.unit == u
        d = np.hypot(pol.x[own][:, None] - town.x[cells][None, :], pol.y[own][:, None] - town.y[cells][None, :])
        worst = max(worst, float(d.max()))
    return s.police_dispatch_hours + worst * town.cell_km * s.detour_factor / s.police_speed_kmh


LADDER_CASES = {
    # short deadlines: with no effort, a case that arrives out of hours waits out the deadline
    "deadlines": (3, 1, {}),
    # deadlines longer than any gap between shifts at grid and community: no timeouts
    # there, so the community sends moderate and serious cases to the police, minor ones up
    "by_severity": (2, 2, {"ladder.grid.deadline_hours": 30.0, "ladder.community.deadline_hours": 30.0}),
}


@pytest.mark.parametrize("case", LADDER_CASES)
def test_each_dispute_climbs_the_allowed_ladder(case):
    """Per dispute: the rungs it entered start at the grid, follow the allowed transitions
    (leaving one rung the moment it enters the next), take the police branch exactly when
    the severity after leaving the community reaches police_from_severity, and end where it
    ended; a stay equal to the deadline is a timeout, and timeouts raise the severity one
    level each; no stay below the court exceeds the deadline — at the police neither, though
    the officer's dispatch and travel are effort there (the stay was allowed the farthest
    officer's travel beyond the deadline before deadlines covered service)."""
    police_from_severity, seed, overrides = LADDER_CASES[case]
    sc = ladder_scenario(police_from_severity, **overrides)
    m = run(sc, seed)
    tab, n = m.disputes.table, m.disputes.table.n
    enter, exit_ = columns(tab, n)
    threshold = np.array([getattr(sc.ladder, r).deadline_hours for r in RUNGS])
    lead = max_police_lead(m)
    assert lead > 0     # travel could carry a police stay past the deadline; it must not
    horizon = sc.days * DAY
    seen = {t: 0 for t in ALLOWED}
    timeouts_at = np.zeros(len(RUNGS), int)
    for c in range(n):
        path = [r for r in range(len(RUNGS)) if np.isfinite(enter[c, r])]
        status = tab.status[c]
        if not path:          # hidden, or on its way (report delay), or violent before anyone took it
            assert np.all(np.isnan(exit_[c])), c
            assert status in (LATENT, IN_LADDER, CONVERTED) and (status != IN_LADDER or tab.rung[c] == -1), c
            continue
        assert path[0] == GRID, f"dispute {c} entered at {RUNGS[path[0]]}"
        sev = int(tab.severity0[c])
        timeouts = 0
        for a, b in zip(path, path[1:]):
            assert (a, b) in ALLOWED, f"dispute {c}: {RUNGS[a]} → {RUNGS[b]}"
            seen[(a, b)] += 1
            assert exit_[c, a] == enter[c, b], f"dispute {c}: left {RUNGS[a]} at {exit_[c, a]}, entered {RUNGS[b]} at {enter[c, b]}"
            stay = exit_[c, a] - enter[c, a]
            timed_out = abs(stay - threshold[a]) < EPS
            if timed_out:
                timeouts += 1
                timeouts_at[a] += 1
                sev = min(sev + 1, SERIOUS)
            if a == COMMUNITY:   # the fork: by severity after this escalation
                assert (b == POLICE) == (sev + 1 >= police_from_severity), (
                    f"dispute {c}: severity {sev + 1} after leaving the community went to {RUNGS[b]}")
        last = path[-1]
        if status in (RESOLVED, CONVERTED):
            assert exit_[c, last] == tab.t_close[c] and tab.rung[c] == last, c
        else:
            assert status == IN_LADDER and np.isnan(exit_[c, last]) and tab.rung[c] == last, c
        # no stay beyond the deadline below the court, the police's travel included
        for r in path:
            if r != COURT and np.isfinite(exit_[c, r]):
                assert exit_[c, r] - enter[c, r] <= threshold[r] + EPS, f"dispute {c} stayed {exit_[c, r] - enter[c, r]:.3f} h at {RUNGS[r]}"
        # a case still in the ladder may already carry the escalation it is due to make: the
        # counters (and severity) move when the rung decides, not when the case leaves
        due = status == IN_LADDER and last != COURT
        pending_timeout = due and enter[c, last] + threshold[last] >= horizon
        assert tab.timeouts[c] - timeouts in ((0, 1) if pending_timeout else (0,)), (
            f"dispute {c}: {tab.timeouts[c]} timeouts recorded, {timeouts} seen")
        assert tab.escalations[c] - (len(path) - 1) in ((0, 1) if due else (0,)), c
        assert tab.severity[c] == min(int(tab.severity0[c]) + int(tab.timeouts[c]), SERIOUS), c
    # the run exercised every branch and every deadline below the court
    assert min(seen.values()) >= 10, {f"{RUNGS[a]}→{RUNGS[b]}": k for (a, b), k in seen.items()}
    if case == "deadlines":
        assert np.all(timeouts_at[[GRID, COMMUNITY, TOWNSHIP]] >= 10), timeouts_at
    else:
        assert timeouts_at[GRID] == timeouts_at[COMMUNITY] == 0, timeouts_at


def starved_grid_scenario() -> sim.Scenario:
    """One grid worker per grid with 0.01 h a day for cases of 1–2 working hours: no case
    can be finished within the 72 h deadline, so the grid rung is starved.  The community,
    with no hand-off and no effort, settles everything it gets."""
    return sim.Scenario().with_overrides({
        "population": 8000, "scale": 1.0, "days": 40, "residents_per_grid": 800,
        "fulltime_ratio": 1.0, "staffing.workers_per_grid": 1.0, "staffing.fulltime_hours": 0.01,
        "staffing.routine_hours_per_1000": 0.0,
        "disputes.rate_per_10k_year": 8000.0, "disputes.fester_daily": 0.0,
        "ladder.community.handoff_hours": 0.0, "ladder.community.success": [1.0, 1.0, 1.0],
        "ladder.community.service_mean_hours": [0.0, 0.0, 0.0],
    }, "test")


def test_starved_grid_reports_cases_up_at_the_deadline():
    """A starved grid reports cases up at exactly their deadline, whether it never started
    them or started them and could not finish: the worker works on a case until it is done,
    turns violent or its deadline comes, then takes the next — a FIFO queue, checked exactly
    by the Kiefer–Wolfowitz recursion in each worker's working time.  (Before deadlines
    covered service, a case once started held its worker until done, months here, and only
    cases waiting to start were reported up.)"""
    sc = starved_grid_scenario()
    m = run(sc, 3)
    tab, n = m.disputes.table, m.disputes.table.n
    enter, exit_ = columns(tab, n)
    thr = sc.ladder.grid.deadline_hours
    horizon = sc.days * DAY
    deadline = enter[:, GRID] + thr
    at_grid = np.isfinite(enter[:, GRID])
    started = at_grid & np.isfinite(tab.t_first_contact[:n])
    went_up = at_grid & np.isfinite(enter[:, COMMUNITY])
    timed_out = went_up & (tab.timeouts[:n] == 1)
    failed = went_up & (tab.timeouts[:n] == 0)
    violent = at_grid & ~went_up & (tab.status[:n] == CONVERTED)
    pending = at_grid & ~went_up & (tab.status[:n] == IN_LADDER)
    # every case that went up went at exactly its deadline (a time-out) …
    np.testing.assert_allclose(exit_[timed_out, GRID], deadline[timed_out], rtol=0, atol=EPS)
    np.testing.assert_array_equal(enter[went_up, COMMUNITY], exit_[went_up, GRID])
    # … one severity level up, and nothing else raised it (the community settles at once) …
    np.testing.assert_array_equal(tab.severity[:n][timed_out], np.minimum(tab.severity0[:n][timed_out] + 1, SERIOUS))
    assert np.all(tab.timeouts[:n] <= 1)
    # … or was served to the end in time and not settled (no time-out)
    assert np.all(started[failed]) and np.all(exit_[failed, GRID] <= deadline[failed] + EPS)
    # a case turned violent before its deadline; one still at the grid has its deadline ahead
    assert np.all(exit_[violent, GRID] == tab.t_close[:n][violent])
    assert np.all(exit_[violent, GRID] < deadline[violent])
    assert np.all(np.isnan(exit_[pending, GRID])) and np.all(deadline[pending] >= horizon)
    # both kinds of time-out happened: cut off in service, and never started
    assert (timed_out & started).sum() >= 20 and (timed_out & ~started).sum() >= 20, (
        (timed_out & started).sum(), (timed_out & ~started).sum())

    # FIFO with one worker per grid: in arrival order, a case starts when it arrives or when
    # the worker is done with the case before (working time), if that is before its deadline
    pool = m.grid_work.pool
    assert np.all(np.diff(pool.first) == 1), "one worker per grid"
    checked = 0
    for g in range(m.town.n_grids):
        a, h = pool.start[g], pool.hours[g]
        free_w = float(to_work(0.0, a, h))
        worked = []                     # (start, end) in the worker's working time
        until = np.inf                  # working time up to which the work is all recorded
        cases = np.flatnonzero(at_grid & (tab.grid[:n] == g))
        for c in cases[np.lexsort((cases, enter[cases, GRID]))]:
            w = max(float(to_work(enter[c, GRID], a, h)), free_w)
            ts = max(float(from_work_start(w, a, h)), enter[c, GRID])
            if not started[c]:
                # not taken on: its start would have been past its deadline, or it turned violent first
                assert ts > deadline[c] - EPS or tab.status[c] == CONVERTED, c
                continue
            assert abs(tab.t_first_contact[c] - ts) < 1e-6, f"dispute {c}: started {tab.t_first_contact[c]}, FIFO says {ts}"
            checked += 1
            if np.isnan(exit_[c, GRID]):    # still in service at the horizon: its end is not recorded
                until = float(to_work(ts, a, h))
                break
            assert exit_[c, GRID] <= deadline[c] + EPS
            done = float(to_work(exit_[c, GRID], a, h))
            worked.append((float(to_work(ts, a, h)), done))
            free_w = max(free_w, done)
        # the worker's booked hours (shift by shift) are exactly the working time of the cases it
        # worked on, in every shift before the one where a case still in service began
        k = int(np.floor(until / h + 1e-9)) if np.isfinite(until) else pool.busy.shape[1]
        want = sum(max(0.0, min(w1, k * h) - w0) for w0, w1 in worked)
        assert pool.busy[g, :k].sum() == pytest.approx(want, rel=1e-5, abs=1e-6), g
    assert checked >= 100


# --------------------------------------------------------------------------- time averages and backlogs
def brute_force_average(enter: np.ndarray, exit_: np.ndarray, t0: float, t1: float) -> float:
    """∫ (number at the rung) dt / (t1 − t0), by a sweep over the sorted entry and exit times:
    the count is piecewise constant between them."""
    e = np.sort(enter[np.isfinite(enter)])
    x = np.sort(np.where(np.isnan(exit_), np.inf, exit_)[np.isfinite(enter)])
    cuts = np.concatenate([[t0, t1], e[(e > t0) & (e < t1)], x[(x > t0) & (x < t1)]])
    cuts = np.unique(cuts)
    count = np.searchsorted(e, cuts[:-1], side="right") - np.searchsorted(x, cuts[:-1], side="right")
    return float((count * np.diff(cuts)).sum() / (t1 - t0))


@pytest.fixture(scope="module")
def stressed_small():
    return run(stressed(scale=0.05, days=40), 11)


def test_time_average_cases_equals_brute_force_integration(stressed_small):
    m = stressed_small
    tab, n = m.disputes.table, m.disputes.table.n
    enter, exit_ = columns(tab, n)
    horizon = m.params.days * DAY
    windows = [(0.0, horizon), (100.3, 517.9), (5 * DAY, 6 * DAY), (horizon - 30.0, horizon)]
    for t0, t1 in windows:
        got = m.disputes.time_average_cases(t0, t1)
        want = [brute_force_average(enter[:, r], exit_[:, r], t0, t1) for r in range(len(RUNGS))]
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, err_msg=f"window [{t0}, {t1})")
    # not a vacuous comparison: cases were at every rung but the police for a good while (at
    # the township a short one: its 8 h deadline runs out in its 24 h hand-off, so stays are short)
    avg = m.disputes.time_average_cases(0.0, horizon)
    assert np.all(avg[[GRID, COMMUNITY, COURT]] > 0.05) and avg[TOWNSHIP] > 0.01 and avg.sum() > 5, avg
    with pytest.raises(ValueError):
        m.disputes.time_average_cases(10.0, 10.0)


def test_backlog_columns_are_the_end_of_day_counts_of_the_table(stressed_small):
    """The daily `backlog_<rung>` is the number of cases at the rung when the day's events
    (those before midnight) are done: entered before midnight, not left before it."""
    m = stressed_small
    tab, n = m.disputes.table, m.disputes.table.n
    enter, exit_ = columns(tab, n)
    daily = m.datacollector.get_model_vars_dataframe()
    assert len(daily) == m.params.days
    for k, t1 in enumerate(DAY * np.arange(1, m.params.days + 1)):
        present = (enter < t1) & ~(exit_ < t1)
        for r, name in enumerate(RUNGS):
            assert daily[f"backlog_{name}"].iloc[k] == present[:, r].sum(), f"day {k + 1}, {name}"
    assert daily[[f"backlog_{r}" for r in RUNGS]].to_numpy().sum() > 100


# --------------------------------------------------------------------------- a known defect
def test_a_case_never_starts_before_it_arrives():
    """An idle server with a 0.1 h shift from 08:30: a case arriving at 04:00 on any day
    starts at 08:30 that day, never earlier (w / hours rounding across a shift boundary once
    put the start at the end of the previous day's shift)."""
    pool = ServerPool([0], 1, 8.5, 0.1, horizon_days=400)
    for day in range(1, 365):
        t = day * DAY + 4.0
        _s, start = pool.earliest(0, t)
        assert start == pytest.approx(day * DAY + 8.5), f"day {day}: arrives {t}, starts {start}"


def test_no_case_leaves_a_rung_before_it_entered():
    """In the plain default scenario: grid workers meet a case after it arrived, and every
    case leaves every rung after entering it."""
    m = run(sim.Scenario().with_overrides({"scale": 0.1, "days": 120}, "test"), 7)
    tab, n = m.disputes.table, m.disputes.table.n
    enter, exit_ = columns(tab, n)
    wait = tab.t_first_contact[:n] - tab.t_grid_arrival[:n]
    assert not np.any(wait < 0), f"{np.sum(wait < 0)} cases met a grid worker before arriving (earliest {np.nanmin(wait):.1f} h)"
    assert not np.any(exit_ < enter)


# --------------------------------------------------------------------------- deadlines in hand-off
def test_a_handoff_that_outlasts_the_deadline_reports_the_case_up_at_the_deadline():
    """The deadline runs from the arrival at the rung, hand-off included: with a community
    hand-off of 10⁵ h on average, nearly every case reaching the community is reported up at
    exactly t_enter + 168 h, one severity level up, and no mediator ever works on it."""
    sc = sim.Scenario().with_overrides({
        "population": 10_000, "scale": 1.0, "days": 60, "disputes.rate_per_10k_year": 2000.0, "disputes.fester_daily": 0.0,
        "disputes.conversion_daily": [0.0, 0.0, 0.0], "ladder.grid.success": [0.0, 0.0, 0.0],
        "ladder.community.handoff_hours": 1e5}, "test")
    m = run(sc, 4)
    tab, n = m.disputes.table, m.disputes.table.n
    enter, exit_ = columns(tab, n)
    d = sc.ladder.community.deadline_hours
    came = np.isfinite(enter[:, COMMUNITY])
    left = came & np.isfinite(exit_[:, COMMUNITY])
    assert left.sum() >= 100
    np.testing.assert_allclose(exit_[left, COMMUNITY] - enter[left, COMMUNITY], d, rtol=0, atol=EPS)
    up = np.where(np.isfinite(enter[left, TOWNSHIP]), enter[left, TOWNSHIP], enter[left, POLICE])
    np.testing.assert_array_equal(up, exit_[left, COMMUNITY])
    # a grid time-out and a community time-out at most: severity follows the time-outs exactly
    np.testing.assert_array_equal(tab.severity[:n][left], np.minimum(tab.severity0[:n][left] + tab.timeouts[:n][left], SERIOUS))
    assert np.all(tab.timeouts[:n][left] >= 1)
    # still at the community at the horizon: the deadline is ahead
    pending = came & ~left
    assert np.all(enter[pending, COMMUNITY] + d >= sc.total_days * DAY)
    # the mediators never worked on a case that timed out in hand-off (nearly all of them)
    assert m.disputes.pools[COMMUNITY].busy.sum() < 0.05 * left.sum() * 10.0


# --------------------------------------------------------------------------- triage
def triage_scenario(triage: str, routine: float) -> sim.Scenario:
    """No crime and no visits' effects on the ladder (visits find nothing), so that grid
    workers' casework can only be changed by the triage rule."""
    return sim.Scenario().with_overrides({
        "population": 8000, "scale": 1.0, "days": 60, "residents_per_grid": 800, "town.grid_size_cv": 0.2,
        "staffing.triage": triage, "staffing.routine_hours_per_1000": routine,
        "staffing.visit_detect_prob": 0.0, "disputes.rate_per_10k_year": 1500.0,
        **{f"crime.rate_per_10k_year.{k}": 0.0 for k in ("theft", "burglary", "robbery", "assault")},
    }, "test")


def test_cases_come_before_routine_duties():
    """cases_first: routine duties never delay a case — the dispute table is the same with
    no routine duties and with duties of 40 h per 1,000 residents a day (more than any team
    has) — while routine_first changes it.  The grid workers' servers work their whole
    shift on cases."""
    tables = {}
    for triage in ("cases_first", "routine_first"):
        for routine in (0.0, 40.0):
            m = run(triage_scenario(triage, routine), 6)
            tables[triage, routine] = m.disputes.table.frame()
            gw = m.grid_work
            if triage == "cases_first":
                np.testing.assert_array_equal(gw.pool.hours, gw.shift_hours)
            else:
                share = np.clip(1.0 - gw.routine_need / gw.team_hours, 0.0, 1.0)
                np.testing.assert_allclose(gw.pool.hours, np.maximum(gw.shift_hours * share[gw.pool.unit], 1e-3))
            if routine > 0:
                assert gw.routine_overload.all()
    assert tables["cases_first", 0.0].equals(tables["cases_first", 40.0])
    assert not tables["routine_first", 0.0].equals(tables["routine_first", 40.0])
    assert tables["cases_first", 0.0].equals(tables["routine_first", 0.0])   # no routine duties: no difference


@pytest.mark.parametrize("triage", ["cases_first", "routine_first"])
def test_routine_duties_take_what_casework_leaves_and_visits_what_routine_leaves(triage):
    """Day by day, from the workers' booked casework: cases_first — routine done in grid g
    = min(R_g, Σ_s (h_s − casework_s)), visit hours = the rest; routine_first — routine done
    = min(R_g, team hours), visits the servers' hours left after casework.  The outcome
    routine_shortfall_share is 1 − routine done / routine owed over the observed days."""
    sc = triage_scenario(triage, 6.0).with_overrides({"disputes.rate_per_10k_year": 6000.0, "warmup_days": 10}, "test")
    m = sim.GovernanceModel(sc, rng=2)
    gw, pool, g = m.grid_work, m.grid_work.pool, m.grid_work.pool.unit
    n = m.town.n_grids
    done = []
    while m.running:
        m.step()
        day = m.day
        left = np.maximum(pool.hours - pool.busy_on(day), 0.0)
        left_g = np.bincount(g, weights=left, minlength=n)
        if triage == "cases_first":
            routine = np.minimum(gw.routine_need, left_g)
            visit_hours = left_g - routine
        else:
            routine = np.minimum(gw.routine_need, gw.team_hours)
            visit_hours = left_g
        np.testing.assert_allclose(gw.routine_by_grid, routine, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gw.visit_hours_by_grid, visit_hours, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(gw.visits_by_grid, visit_hours * sc.staffing.visits_per_hour, rtol=1e-12, atol=1e-9)
        done.append(routine.sum())
    owed = gw.routine_need.sum() * sc.days
    s = summarise(m)
    assert s["routine_shortfall_share"] == pytest.approx(1.0 - sum(done[sc.warmup_days:]) / owed, rel=1e-12)
    if triage == "cases_first":
        assert 0.0 < s["routine_shortfall_share"] < 1.0       # casework crowded out some routine duties
    else:
        want = 1.0 - np.minimum(gw.routine_need, gw.team_hours).sum() / gw.routine_need.sum()
        assert s["routine_shortfall_share"] == pytest.approx(want, rel=1e-9)


# --------------------------------------------------------------------------- police from the station
def test_police_respond_from_the_township_station_by_default():
    """Officers on duty wait at their township's station (its resident-weighted centre), so
    an officer reaches a cell after dispatch + distance · cell_km · detour / speed at the
    earliest; outlying cells wait longer: the response time grows with the distance."""
    assert sim.Scenario().staffing.police_posting == "station"
    m = run(sim.Scenario().with_overrides({"scale": 0.3, "days": 120, "warmup_days": 0}, "test"), 3)
    town, pol, inc, s = m.town, m.crime.police, m.crime.table, m.params.staffing
    w = town.pop.astype(float)
    tot = np.bincount(town.cell_township, weights=w, minlength=town.n_townships)
    cx = np.bincount(town.cell_township, weights=w * town.x, minlength=town.n_townships) / tot
    cy = np.bincount(town.cell_township, weights=w * town.y, minlength=town.n_townships) / tot
    np.testing.assert_allclose(pol.x, cx[pol.unit], atol=1e-6)
    np.testing.assert_allclose(pol.y, cy[pol.unit], atol=1e-6)
    n = inc.n
    answered = np.isfinite(inc.t_response[:n])
    cell = inc.cell[:n][answered]
    tw = town.cell_township[cell]
    dist = np.hypot(cx[tw] - town.x[cell], cy[tw] - town.y[cell]) * town.cell_km * s.detour_factor
    lead = s.police_dispatch_hours + dist / s.police_speed_kmh
    resp = inc.t_response[:n][answered] - inc.t_detect[:n][answered]
    assert np.all(resp >= lead - 1e-9)
    assert np.mean(np.isclose(resp, lead, rtol=0, atol=1e-9)) > 0.9      # most calls find an officer free
    far = dist > np.median(dist)
    assert np.median(resp[far]) > np.median(resp[~far])


# --------------------------------------------------------------------------- repeated attempts
def retry_scenario(p: float, repeat: bool = True) -> sim.Scenario:
    """Grid workers on duty round the clock with no routine duties and no effort per
    attempt, so an attempt happens the moment a case is ready: a case that fails every
    attempt is tried at arrival, +24 h and +48 h (the next retry, at +72 h, would not come
    before the 72 h deadline) and is passed up after the third failure, at +48 h.  Every
    rung above settles at its first attempt, so all repeats are the grid's."""
    return sim.Scenario().with_overrides({
        "population": 10_000, "scale": 1.0, "days": 60, "warmup_days": 0, "disputes.rate_per_10k_year": 2000.0,
        "disputes.instant_discovery": True, "disputes.fester_daily": 0.0, "disputes.conversion_daily": [0.0, 0.0, 0.0],
        "fulltime_ratio": 1.0, "staffing.fulltime_hours": 24.0, "staffing.shift_start": 0.0, "staffing.routine_hours_per_1000": 0.0,
        "staffing.fulltime_skill": 1.0, "ladder.grid.success": [p, p, p], "ladder.grid.service_mean_hours": [0.0, 0.0, 0.0],
        "ladder.grid.deadline_hours": 72.0, "ladder.retry_gap_hours": 24.0, "ladder.repeat_until_deadline": repeat,
        **{f"ladder.{r}.success": [1.0, 1.0, 1.0] for r in ("community", "township", "police")}}, "test")


@pytest.mark.parametrize("repeat", [True, False])
def test_a_failed_attempt_is_tried_again_until_the_deadline(repeat):
    """Exact: with success 0 every case leaves the grid after its last attempt — at +48 h
    after 2 repeats when attempts repeat, at once without."""
    m = run(retry_scenario(0.0, repeat), 5)
    tab, n = m.disputes.table, m.disputes.table.n
    enter, exit_ = columns(tab, n)
    left = np.isfinite(enter[:, GRID]) & np.isfinite(exit_[:, GRID])
    assert left.sum() >= 100
    stay = 48.0 if repeat else 0.0
    np.testing.assert_allclose(exit_[left, GRID] - enter[left, GRID], stay, rtol=0, atol=EPS)
    np.testing.assert_array_equal(tab.attempts[:n][left], 2 if repeat else 0)
    # passed up after the last failure (at +48 h or at once), before the 72 h deadline: not a time-out


def test_three_attempts_settle_one_minus_the_chance_that_all_fail():
    """With a chance p per attempt and three attempts before the deadline, a share
    1 − (1 − p)³ of the cases that finished at the grid is settled there; the tolerance is
    four binomial standard errors."""
    p = 0.3
    m = run(retry_scenario(p), 6)
    tab, n = m.disputes.table, m.disputes.table.n
    enter, exit_ = columns(tab, n)
    done = np.isfinite(enter[:, GRID]) & np.isfinite(exit_[:, GRID])
    settled = done & (tab.status[:n] == RESOLVED) & (tab.rung[:n] == GRID)
    share, expected = settled.sum() / done.sum(), 1.0 - (1.0 - p) ** 3
    se = np.sqrt(expected * (1 - expected) / done.sum())
    assert abs(share - expected) < 4 * se, f"{share:.3f} settled at the grid, expected {expected:.3f} ± {4 * se:.3f}"
    # and each settled case was settled at one of the three attempt times
    stays = exit_[settled, GRID] - enter[settled, GRID]
    assert np.all(np.min(np.abs(stays[:, None] - np.array([0.0, 24.0, 48.0])[None, :]), axis=1) < EPS)
