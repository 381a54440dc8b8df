"""Disputes: how they arise, how they become known, and the escalation ladder.

Life of a dispute (one row of `DisputeProcess.table`):

1. **Arises** at a continuous time within the day; parties drawn ∝ propensity, the second
   party from the same grid; type and severity drawn from the scenario's shares.
2. **Becomes known** at once with a chance that rises with the party's trust (a report,
   after a delay), or stays hidden.  A hidden dispute carries three exponential clocks —
   reported after all, festers one severity up, turns violent (民转刑) — and is also found
   by grid workers' visits (`GridWork.visit`).  When severity changes the clocks are
   redrawn (memoryless, so the hazards are exact).
3. **Climbs the ladder** grid → community mediator → township centre (or police, if
   serious) → court.  Each rung is a FIFO `ServerPool` with a hand-off delay, service effort
   in working hours, a success chance and a waiting threshold: a case that waits longer
   escalates one severity level to the next rung.
4. **Ends** exactly once: resolved (by some rung), or converted into an assault.  Cases
   not ended at the horizon are open.
"""

from __future__ import annotations

import math

import numpy as np

from .agents import CourtSlot, Mediator
from .events import Table
from .queueing import ServerPool, servers_per_unit
from .scenario import DISPUTE_TYPES, RUNGS

GRID, COMMUNITY, TOWNSHIP, POLICE, COURT = range(5)
LATENT, IN_LADDER, RESOLVED, CONVERTED = range(4)
BY_REPORT, BY_LATE_REPORT, BY_VISIT = range(3)
STATUS_NAMES = {LATENT: "hidden", IN_LADDER: "in_ladder", RESOLVED: "resolved", CONVERTED: "converted"}

DISPUTE_SCHEMA = {
    "onset": (np.float64, np.nan),
    "kind": (np.int8, -1),
    "severity0": (np.int8, 0),
    "severity": (np.int8, 0),          # 0 minor, 1 moderate, 2 serious
    "cell": (np.int32, -1),
    "grid": (np.int32, -1),
    "party_a": (np.int64, -1),
    "party_b": (np.int64, -1),
    "status": (np.int8, LATENT),
    "known_by": (np.int8, -1),
    "t_known": (np.float64, np.nan),
    "t_grid_arrival": (np.float64, np.nan),
    "t_first_contact": (np.float64, np.nan),
    "rung": (np.int8, -1),             # rung the case is at (or ended at)
    "escalations": (np.int8, 0),
    "timeouts": (np.int8, 0),          # escalations because the wait passed the threshold
    "t_close": (np.float64, np.nan),
    "conv_time": (np.float64, np.inf),
    "version": (np.int32, 0),
}


def gamma_effort(rng, mean: float, cv: float) -> float:
    """Service effort with the given mean and coefficient of variation (cv = 1: exponential)."""
    if mean <= 0:
        return 0.0
    k = 1.0 / (cv * cv)
    return float(rng.gamma(k, mean / k))


class DisputeProcess:
    """Arrival, discovery and the escalation ladder of disputes (ODD submodels 1, 3, 5)."""

    ARRIVE, READY, CLOSE, HIDDEN = 10, 11, 12, 13

    def __init__(self, model):
        self.model = model
        p = model.params
        town = model.town
        self.table = Table(DISPUTE_SCHEMA, capacity=int(p.residents * p.disputes.rate_per_10k_year / 1e4 * p.total_days / 365 * 1.3) + 64)
        self.rungs = [getattr(p.ladder, name) for name in RUNGS]
        d = p.disputes
        shares = np.array([getattr(d.type_shares, k) for k in DISPUTE_TYPES], float)
        if shares.sum() <= 0:
            raise ValueError("disputes.type_shares must not all be zero")
        self.type_p = shares / shares.sum()
        sev = np.array([getattr(d.severity, k) for k in DISPUTE_TYPES], float)
        self.sev_cum = np.cumsum(sev / sev.sum(axis=1, keepdims=True), axis=1)
        self.report_p = np.array(d.report_prob)
        self.late_rate = np.array(d.latent_report_daily) / 24.0   # per hour
        self.fester_rate = d.fester_daily / 24.0
        self.conv_rate = np.array(d.conversion_daily) / 24.0
        self.daily_rate = p.disputes.rate_per_10k_year / 1e4 / 365.0 * model.population.n

        # pools of the upper rungs (the grid rung is GridWork's, police is the crime module's)
        s = p.staffing

        comm_n = servers_per_unit(s.mediators_per_10k, town.community_pop)
        town_n = servers_per_unit(s.township_mediators_per_10k, town.township_pop)
        court_n = servers_per_unit(s.court_servers_per_100k / 10.0, [model.population.n])
        self.pools = [model.grid_work.pool,
                      ServerPool(np.repeat(np.arange(town.n_communities), comm_n), town.n_communities, s.shift_start, s.mediator_hours, p.total_days),
                      ServerPool(np.repeat(np.arange(town.n_townships), town_n), town.n_townships, s.shift_start, s.township_hours, p.total_days),
                      model.crime.police,
                      ServerPool(np.zeros(court_n[0], int), 1, s.shift_start, s.court_hours, p.total_days)]
        for pool, level in ((self.pools[COMMUNITY], "community"), (self.pools[TOWNSHIP], "township")):
            for i in range(pool.n):
                Mediator(model, pool, i, int(pool.unit[i]), level)
        for i in range(self.pools[COURT].n):
            CourtSlot(model, self.pools[COURT], i, 0)

        self.backlog = np.zeros(len(RUNGS), np.int64)       # cases at each rung now
        self.open_by_grid = np.zeros(town.n_grids, np.int64)  # disputes begun and not ended
        self.closed_today: list[tuple[int, int, float]] = []  # (case, status, hours since known)
        self.today = dict.fromkeys(("new", "reported", "found_by_visit", "resolved", "converted", "escalated", "timeouts"), 0)

    # ------------------------------------------------------------------ helpers
    def _unit(self, c: int, r: int) -> int:
        g = int(self.table.grid[c])
        town = self.model.town
        if r == GRID:
            return g
        if r == COMMUNITY:
            return int(town.grid_community[g])
        if r in (TOWNSHIP, POLICE):
            return int(town.grid_township[g])
        return 0

    def _next_rung(self, r: int, severity: int) -> int:
        if r == GRID:
            return COMMUNITY
        if r == COMMUNITY:
            return POLICE if severity + 1 >= self.model.params.ladder.police_from_severity else TOWNSHIP
        return COURT

    def _redraw_conversion(self, c: int, t: float) -> None:
        rate = self.conv_rate[self.table.severity[c]]
        self.table.conv_time[c] = t + self.model.streams["clocks"].exponential(1.0 / rate) if rate > 0 else np.inf

    # ------------------------------------------------------------------ 1. arise
    def arise(self, t0: float) -> None:
        m, rng, pop = self.model, self.model.streams["arrivals"], self.model.population
        n = int(rng.poisson(self.daily_rate))
        self.today = dict.fromkeys(self.today, 0)
        self.today["new"] = n
        if n == 0:
            return
        onset = np.sort(t0 + 24.0 * rng.random(n))
        a = pop.sample_by_propensity(rng, n)
        grid = pop.grid[a]
        b = pop.sample_in_grids(rng, grid)
        # a dispute has two parties: if the draw fell on the same person, take the next resident of the grid
        same = b == a
        b[same] = np.where(a[same] + 1 < pop.grid_first[grid[same] + 1], a[same] + 1, np.maximum(a[same] - 1, pop.grid_first[grid[same]]))
        kind = rng.choice(len(self.type_p), size=n, p=self.type_p).astype(np.int8)
        sev = (rng.random(n)[:, None] > self.sev_cum[kind]).sum(axis=1).clip(0, 2).astype(np.int8)
        ids = self.table.append(n, onset=onset, kind=kind, severity0=sev, severity=sev, cell=pop.home[a], grid=grid,
                                party_a=a, party_b=b)
        np.add.at(self.open_by_grid, grid, 1)
        rate = self.conv_rate[sev]
        with np.errstate(divide="ignore"):
            self.table.conv_time[ids] = np.where(rate > 0, onset + rng.exponential(1.0, n) / np.where(rate > 0, rate, 1.0), np.inf)

        # 2. discovery by report: the chance rises with the party's trust
        if m.params.disputes.instant_discovery:
            reported = np.ones(n, bool)
            delay = np.zeros(n)
        else:
            p = np.clip(self.report_p[sev] + m.params.disputes.report_trust_slope * (pop.trust[a] - m.params.disputes.report_trust_reference), 0.0, 1.0)
            reported = rng.random(n) < p
            delay = rng.exponential(max(m.params.disputes.report_delay_hours, 1e-12), n) if m.params.disputes.report_delay_hours > 0 else np.zeros(n)
        # a reported dispute is on its way to the grid queue: no longer hidden, so visits
        # cannot "find" it a second time during the report delay
        self.table.status[ids[reported]] = IN_LADDER
        ev = m.events
        conv = self.table.conv_time[ids]
        for i, c in enumerate(ids):
            if reported[i] and conv[i] < onset[i] + delay[i]:
                self._close_at(float(conv[i]), int(c), CONVERTED)   # violent before the report arrived
            elif reported[i]:
                self.table.known_by[c] = BY_REPORT
                ev.push(onset[i] + delay[i], self.ARRIVE, int(c), GRID)
            else:
                self._arm_hidden(int(c), onset[i])

    def _arm_hidden(self, c: int, t: float) -> None:
        """Schedule the first of a hidden dispute's clocks: late report, festering, violence."""
        rng, tab = self.model.streams["clocks"], self.table
        sev = tab.severity[c]
        rates = (self.late_rate[sev], self.fester_rate if sev < 2 else 0.0)
        times = [t + rng.exponential(1.0 / r) if r > 0 else math.inf for r in rates]
        times.append(tab.conv_time[c])
        which = int(np.argmin(times))
        if times[which] < math.inf:
            tab.version[c] += 1
            self.model.events.push(float(times[which]), self.HIDDEN, c, which * 1_000_000 + int(tab.version[c]) % 1_000_000)

    def on_hidden(self, t: float, c: int, arg: int) -> None:
        tab = self.table
        which, version = divmod(arg, 1_000_000)
        if tab.status[c] != LATENT or version != tab.version[c] % 1_000_000:
            return  # a stale clock: the dispute was found meanwhile
        if which == 0:      # reported after all
            tab.known_by[c] = BY_LATE_REPORT
            self.on_arrive(t, c, GRID)
        elif which == 1:    # festers
            tab.severity[c] += 1
            self._redraw_conversion(c, t)
            self._arm_hidden(c, t)
        else:               # turns violent before anyone knew
            self.on_close(t, c, CONVERTED)

    def found_by_visits(self, p_find_by_grid: np.ndarray, t_next: float) -> None:
        """Hidden disputes found on today's visits enter the grid queue next morning."""
        tab = self.table
        hidden = np.flatnonzero(tab.status[: tab.n] == LATENT)
        if len(hidden) == 0:
            return
        found = hidden[self.model.streams["visits"].random(len(hidden)) < p_find_by_grid[tab.grid[hidden]]]
        tab.version[found] += 1          # cancels their pending clocks
        tab.known_by[found] = BY_VISIT
        tab.status[found] = IN_LADDER    # no longer hidden; arrives at t_next
        self.today["found_by_visit"] = len(found)
        for c in found:
            self.model.events.push(t_next, self.ARRIVE, int(c), GRID)

    # ------------------------------------------------------------------ 3. the ladder
    def on_arrive(self, t: float, c: int, r: int) -> None:
        tab = self.table
        if np.isnan(tab.t_known[c]):
            tab.t_known[c] = t
            self.today["reported"] += 1
        if tab.status[c] == IN_LADDER and tab.rung[c] >= 0:
            self.backlog[tab.rung[c]] -= 1
        tab.status[c] = IN_LADDER
        tab.rung[c] = r
        self.backlog[r] += 1
        if r == GRID and np.isnan(tab.t_grid_arrival[c]):
            tab.t_grid_arrival[c] = t
        handoff = self.rungs[r].handoff_hours
        if handoff <= 0:
            self.on_ready(t, c, r)
            return
        ready = t + self.model.streams["ladder"].exponential(handoff)
        if tab.conv_time[c] < ready:
            self._close_at(float(tab.conv_time[c]), c, CONVERTED)
        else:
            self.model.events.push(ready, self.READY, c, r)

    def on_ready(self, t: float, c: int, r: int) -> None:
        """The case is ready for service at rung r: queue, wait, be served (or give up waiting)."""
        m, tab, cfg = self.model, self.table, self.rungs[r]
        sev = int(tab.severity[c])
        conv = float(tab.conv_time[c])
        pool = self.pools[r]
        lead = m.crime.travel_lead(int(tab.cell[c])) if r == POLICE else None
        got = pool.earliest(self._unit(c, r), t, lead)
        if got is None:  # no one at this rung here: pass straight up
            self._escalate(t, c, r, timeout=False)
            return
        s, ts = got
        if ts - t > cfg.wait_threshold_hours and r != COURT:
            te = t + cfg.wait_threshold_hours
            if conv < te:
                self._close_at(conv, c, CONVERTED)
            else:
                self._escalate(te, c, r, timeout=True)
            return
        if conv < ts:
            self._close_at(conv, c, CONVERTED)
            return
        effort = gamma_effort(m.streams["ladder"], cfg.service_mean_hours[sev], cfg.service_cv)
        if r == POLICE:
            effort += float(lead(slice(s, s + 1))[0])
        te = pool.finish_time(s, ts, effort)
        if r == GRID and np.isnan(tab.t_first_contact[c]):
            tab.t_first_contact[c] = ts
        if conv < te:
            pool.occupy(s, ts, conv)
            self._close_at(conv, c, CONVERTED)
            return
        pool.occupy(s, ts, te)
        p = cfg.success[sev] * (m.grid_work.skill[s] if r == GRID else 1.0)
        if m.streams["ladder"].random() < p:
            self._close_at(te, c, RESOLVED)
        else:
            self._escalate(te, c, r, timeout=False)

    def _escalate(self, t: float, c: int, r: int, timeout: bool) -> None:
        tab = self.table
        tab.escalations[c] += 1
        if timeout:
            tab.timeouts[c] += 1
            if tab.severity[c] < 2:
                tab.severity[c] += 1
                self._redraw_conversion(c, t)
        self.model.events.push(t, self.ARRIVE, c, self._next_rung(r, int(tab.severity[c])))

    def _close_at(self, t: float, c: int, status: int) -> None:
        self.model.events.push(t, self.CLOSE, c, status)

    def on_close(self, t: float, c: int, status: int) -> None:
        """The dispute ends (resolved or turned violent): counters, and a note for perception."""
        tab = self.table
        if tab.status[c] == IN_LADDER and tab.rung[c] >= 0:
            self.backlog[tab.rung[c]] -= 1
        tab.status[c] = status
        tab.t_close[c] = t
        tab.version[c] += 1
        self.open_by_grid[tab.grid[c]] -= 1
        known = tab.t_known[c]
        self.closed_today.append((c, status, t - known if not np.isnan(known) else math.nan))
        if status == RESOLVED:
            self.today["resolved"] += 1
        else:
            self.today["converted"] += 1
            self.model.crime.from_dispute(t, c)

    def pop_closed(self):
        out, self.closed_today = self.closed_today, []
        return out
