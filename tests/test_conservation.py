"""Conservation (MODEL.md §7): every dispute and incident is counted exactly once, and no
case is lost between rungs.  Checked on the default scenario (small), on a stressed
one (runaway grid queues, short thresholds, frequent conversion) and on one with heavy
visiting and slow reports, three seeds each.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from conftest import run, small_default, stressed, summarise
from sim.crime import CLEARED, PENDING, UNCLEARED, UNREPORTED, CrimeProcess
from sim.disputes import CONVERTED, IN_LADDER, LATENT, RESOLVED, DisputeProcess
from sim.queueing import DAY
from sim.scenario import RUNGS

CASES = {
    "default": lambda: small_default(scale=0.1, days=180),
    "stressed": lambda: stressed(scale=0.05, days=120),
    # many visits while reports are slow: a dispute must not be discovered twice
    "busy_visits": lambda: small_default(scale=0.1, days=180, residents_per_grid=400, fulltime_ratio=1.0, **{
        "staffing.visits_per_hour": 10.0, "staffing.visit_detect_prob": 1.0, "disputes.report_delay_hours": 24.0}),
}


@pytest.fixture(scope="module", params=[(name, seed) for name in CASES for seed in (1, 2, 3)],
                ids=lambda p: f"{p[0]}-seed{p[1]}")
def finished(request):
    name, seed = request.param
    return run(CASES[name](), seed)


def pending_events(model):
    """Live pending events per case: {('dispute'|'incident', id): count}."""
    tab = model.disputes.table
    live = Counter()
    for _time, _seq, kind, ident, arg in model.events.heap:
        if kind == DisputeProcess.HIDDEN:
            if tab.status[ident] == LATENT and arg % 1_000_000 == tab.version[ident] % 1_000_000:
                live[("dispute", ident)] += 1
        elif kind in (DisputeProcess.ARRIVE, DisputeProcess.READY, DisputeProcess.CLOSE):
            live[("dispute", ident)] += 1
        elif kind in (CrimeProcess.ARRIVE, CrimeProcess.CLOSE):
            live[("incident", ident)] += 1
        else:
            raise AssertionError(f"unknown event kind {kind}")
    return live


def test_every_dispute_ends_exactly_once(finished):
    m = finished
    tab, n = m.disputes.table, m.disputes.table.n
    horizon = m.params.days * DAY
    assert m.steps == m.params.days
    assert n > 100, "too few disputes for the check to mean anything"
    st = tab.status[:n]
    resolved, converted = st == RESOLVED, st == CONVERTED
    open_ = (st == LATENT) | (st == IN_LADDER)
    assert resolved.sum() + converted.sum() + open_.sum() == n     # no status outside the four
    # a second ledger, the rung intervals, agrees: an ended dispute is at no rung, one in
    # the ladder at exactly its own, a hidden one at none; where it ended it left its last rung then
    enter = np.stack([getattr(tab, f"t_enter_{r}")[:n] for r in RUNGS], axis=1)
    exit_ = np.stack([getattr(tab, f"t_exit_{r}")[:n] for r in RUNGS], axis=1)
    at = np.isfinite(enter) & np.isnan(exit_)                       # rungs each dispute is at now
    assert np.all(at.sum(axis=1) <= 1), "a dispute at two rungs at once"
    here = at.any(axis=1)
    assert not np.any(here & (resolved | converted | (st == LATENT))), "an ended or hidden dispute still at a rung"
    np.testing.assert_array_equal(here, (st == IN_LADDER) & (tab.rung[:n] >= 0))
    np.testing.assert_array_equal(at[here].argmax(axis=1), tab.rung[:n][here])
    left = np.flatnonzero((resolved | converted) & np.isfinite(enter).any(axis=1))
    np.testing.assert_array_equal(exit_[left, tab.rung[:n][left]], tab.t_close[:n][left])
    close, onset = tab.t_close[:n], tab.onset[:n]
    ended = resolved | converted
    assert np.all(np.isfinite(close[ended])) and np.all(close[ended] <= horizon)
    assert np.all(np.isnan(close[open_])), "an open dispute carries a closing time"
    assert np.all(close[ended] >= onset[ended])
    assert np.all(onset < horizon) and np.all(onset >= 0)
    # a resolved case was known and met someone before it was settled
    assert np.all(np.isfinite(tab.t_known[:n][resolved]))
    assert np.all(close[resolved] >= tab.t_known[:n][resolved])
    assert np.all(tab.rung[:n][resolved] >= 0)
    # the summary, read from the table, agrees with the counters kept as events happened
    # (new when drawn, resolved/converted when closed, open per grid ±1)
    s = summarise(m)
    series = m.datacollector.get_model_vars_dataframe()
    assert (s["disputes"], s["disputes_resolved"], s["disputes_converted"], s["disputes_open"]) == (
        series["disputes_new"].sum(), series["disputes_resolved"].sum(), series["disputes_converted"].sum(),
        m.disputes.open_by_grid.sum())
    # and so does the daily series: each dispute counted once when it arose and once when it ended
    assert series["disputes_new"].sum() == n
    assert series["disputes_resolved"].sum() == resolved.sum()
    assert series["disputes_converted"].sum() == converted.sum()
    assert series["disputes_open"].iloc[-1] == open_.sum()


def test_conversions_make_exactly_one_incident(finished):
    m = finished
    d, inc = m.disputes.table, m.crime.table
    converted = np.flatnonzero(d.status[: d.n] == CONVERTED)
    src = inc.from_dispute[: inc.n]
    from_d = src[src >= 0]
    assert len(from_d) == len(np.unique(from_d)), "a dispute produced two incidents"
    assert np.array_equal(np.sort(from_d), converted), "converted disputes and dispute-born incidents do not match"
    rows = np.flatnonzero(src >= 0)
    np.testing.assert_array_equal(inc.t_occur[rows], d.t_close[src[rows]])
    np.testing.assert_array_equal(inc.cell[rows], d.cell[src[rows]])


def test_every_incident_ends_exactly_once(finished):
    m = finished
    inc, n = m.crime.table, m.crime.table.n
    horizon = m.params.days * DAY
    st = inc.status[:n]
    counts = {k: int((st == k).sum()) for k in (CLEARED, UNCLEARED, UNREPORTED, PENDING)}
    assert sum(counts.values()) == n
    close = inc.t_close[:n]
    done = (st == CLEARED) | (st == UNCLEARED)
    assert np.all(np.isfinite(close[done])) and np.all(close[done] <= horizon)
    assert np.all(close[done] >= inc.t_detect[:n][done])
    assert np.all(np.isnan(inc.t_detect[:n][st == UNREPORTED]))
    assert np.all(np.isfinite(inc.t_detect[:n][st != UNREPORTED]))
    assert np.all(np.isnan(close[st == PENDING]))
    s = summarise(m)
    assert (s["incidents"], s["incidents_cleared"], s["incidents_uncleared"], s["incidents_unreported"], s["incidents_open"]) == (
        n, counts[CLEARED], counts[UNCLEARED], counts[UNREPORTED], counts[PENDING])
    series = m.datacollector.get_model_vars_dataframe()
    assert series["incidents"].sum() == n
    assert series["incidents_cleared"].sum() == counts[CLEARED]


def test_backlog_counters_match_the_table(finished):
    m = finished
    tab, n = m.disputes.table, m.disputes.table.n
    st, rung = tab.status[:n], tab.rung[:n]
    in_ladder = st == IN_LADDER
    table_backlog = np.array([np.sum(in_ladder & (rung == r)) for r in range(len(RUNGS))])
    np.testing.assert_array_equal(m.disputes.backlog, table_backlog)
    assert np.all(m.disputes.backlog >= 0)
    not_ended = (st == LATENT) | in_ladder
    assert m.disputes.open_by_grid.sum() == not_ended.sum()
    np.testing.assert_array_equal(m.disputes.open_by_grid,
                                  np.bincount(tab.grid[:n][not_ended], minlength=m.town.n_grids))


def test_no_case_is_lost_between_rungs(finished):
    """Every case not ended at the horizon has exactly one live event still to come (its
    next arrival, readiness or closing; for a hidden dispute its next clock); ended cases
    have none; and nothing is left over from before the horizon."""
    m = finished
    horizon = m.params.days * DAY
    assert all(ev[0] >= horizon for ev in m.events.heap), "an event before the horizon was never processed"
    live = pending_events(m)
    tab, inc = m.disputes.table, m.crime.table
    for c in range(tab.n):
        want = 1 if tab.status[c] in (LATENT, IN_LADDER) else 0
        assert live.get(("dispute", c), 0) == want, f"dispute {c} (status {tab.status[c]}, rung {tab.rung[c]}) has {live.get(('dispute', c), 0)} live events"
    for i in range(inc.n):
        want = 1 if inc.status[i] == PENDING else 0
        assert live.get(("incident", i), 0) == want, f"incident {i} (status {inc.status[i]}) has {live.get(('incident', i), 0)} live events"
