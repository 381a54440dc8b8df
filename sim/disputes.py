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
   in working hours, a success chance and a deadline counted from the case's arrival at the
   rung: a case the rung has not settled by then (still in hand-off, still waiting, or
   still being served — the server stops at the deadline) is reported up one severity
   level at the deadline, a time-out.  An attempt that fails while the deadline is still
   ahead is tried again after `ladder.retry_gap_hours` (`repeat_until_deadline`: the rule
   is to settle within the deadline, not to try once); the court has no deadline.  The table records
   when a case entered and left each rung (`t_enter_<rung>`, `t_exit_<rung>`), so the number of cases at a
   rung can be integrated exactly over any window (`time_average_cases`).
4. **Ends** exactly once: resolved (by some rung), or converted into an assault.  Cases
   not ended at the horizon are open.

Couplings (wired by `GovernanceModel`; nothing here reads another submodel):

- receives at construction: the `disputes`, `ladder` and `staffing` sections, the town,
  the population, the event queue, its streams (`arrivals_rng`, `clocks_rng`,
  `ladder_rng`, `visits_rng`), the horizon, the pools it serves on that others own — the
  grid workers' pool and `grid_skill` (GridWork), the police pool and `police_lead(cell)`
  (crime) — and the callback `on_violent(t, cell, victim, dispute_id)` (crime's
  `from_dispute`); it builds its own community, township and court pools;
- receives each day: `arise(t0)`, the ladder's events, and `found_by_visits(p_find, t1)`;
- emits: `pop_closed()` (disputes closed today, for perception), `open_by_grid`,
  `backlog` and the day's counts `today`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .events import Table
from .queueing import ServerPool, keep_by_rank, servers_per_unit
from .scenario import DISPUTE_TYPES, RUNGS, SEVERITIES

GRID, COMMUNITY, TOWNSHIP, POLICE, COURT = range(5)
assert RUNGS == ("grid", "community", "township", "police", "court")
MINOR, MODERATE, SERIOUS = range(3)
assert len(SEVERITIES) == SERIOUS + 1
LATENT, IN_LADDER, RESOLVED, CONVERTED = range(4)
BY_REPORT, BY_LATE_REPORT, BY_VISIT = range(3)
STATUS_NAMES = {LATENT: "hidden", IN_LADDER: "in_ladder", RESOLVED: "resolved", CONVERTED: "converted"}
KNOWN_BY_NAMES = {BY_REPORT: "report", BY_LATE_REPORT: "late_report", BY_VISIT: "visit"}
# a hidden dispute's pending clock is one HIDDEN event, arg = clock × CLOCK_BASE + version
# (mod CLOCK_BASE); a clock whose version is no longer the case's is stale and ignored
LATE_REPORT, FESTER, VIOLENT = range(3)
CLOCK_BASE = 1_000_000

DISPUTE_SCHEMA = {
    "onset": (np.float64, np.nan),
    "kind": (np.int8, -1),
    "severity0": (np.int8, MINOR),
    "severity": (np.int8, MINOR),      # MINOR, MODERATE, SERIOUS
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
    "timeouts": (np.int8, 0),          # escalations because a rung's deadline passed
    "attempts": (np.int16, 0),         # repeated attempts at settling (after a failed one, before a deadline)
    "t_close": (np.float64, np.nan),
    "conv_time": (np.float64, np.inf),
    "version": (np.int32, 0),
    # when the case entered / left each rung (NaN: never there; exit NaN: still there)
    **{f"t_{edge}_{name}": (np.float64, np.nan) for name in RUNGS for edge in ("enter", "exit")},
}
ENTER = tuple(f"t_enter_{name}" for name in RUNGS)
EXIT = tuple(f"t_exit_{name}" for name in RUNGS)


def gamma_effort(rng, mean: float, cv: float) -> float:
    """Service effort with the given mean and coefficient of variation (cv = 1: exponential)."""
    if mean <= 0:
        return 0.0
    k = 1.0 / (cv * cv)
    return float(rng.gamma(k, mean / k))


@dataclass(frozen=True)
class ClosedDisputes:
    """Disputes closed today, in closing order: both parties, whether it turned violent,
    and the hours from becoming known to closing (NaN if never known)."""

    party_a: np.ndarray
    party_b: np.ndarray
    converted: np.ndarray
    hours: np.ndarray

    def __len__(self) -> int:
        return len(self.hours)


class DisputeProcess:
    """Arrival, discovery and the escalation ladder of disputes (ODD submodels 1, 3, 5)."""

    ARRIVE, READY, CLOSE, HIDDEN = 10, 11, 12, 13

    def __init__(self, disputes, ladder, staffing, town, population, events, *, arrivals_rng, clocks_rng, ladder_rng,
                 visits_rng, horizon_days: int, grid_pool, grid_skill, police_pool, police_lead, on_violent):
        self.town, self.population, self.events = town, population, events
        self.arrivals_rng, self.clocks_rng, self.ladder_rng, self.visits_rng = arrivals_rng, clocks_rng, ladder_rng, visits_rng
        self.grid_skill, self.police_lead, self.on_violent = grid_skill, police_lead, on_violent
        self.retune(disputes, ladder)
        self.table = Table(DISPUTE_SCHEMA, capacity=int(self.daily_rate * horizon_days * 1.3) + 64)
        self.horizon_days = horizon_days

        # the ladder's pools, indexed by rung: the grid's and the police's are lent by their owners
        comm, town_, court = (ServerPool(*lay, horizon_days) for lay in self._own_pools(staffing))
        self.pools = [grid_pool, comm, town_, police_pool, court]

        self.backlog = np.zeros(len(RUNGS), np.int64)       # cases at each rung now
        self.open_by_grid = np.zeros(town.n_grids, np.int64)  # disputes begun and not ended
        self.closed_today: list[tuple[int, int, float]] = []  # (case, status, hours since known)
        self.today = dict.fromkeys(("new", "reported", "found_by_visit", "resolved", "converted"), 0)  # for the daily series

    def retune(self, disputes, ladder) -> None:
        """Read rates, shares and the ladder from the sections (at the start, and when a timeline changes
        them: the ladder's rules apply at once, to cases under way too; see `redraw_clocks`)."""
        d = self.d = disputes
        self.police_from_severity = ladder.police_from_severity
        self.repeat, self.retry_gap = ladder.repeat_until_deadline, ladder.retry_gap_hours
        self.daily_rate = d.rate_per_10k_year / 1e4 / 365.0 * self.population.n
        self.rungs = [getattr(ladder, name) for name in RUNGS]
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

    def _own_pools(self, staffing) -> list:
        """The community, township and court pools' layouts: (unit of each server, units, shift start, hours)."""
        s, town = staffing, self.town
        comm_n = servers_per_unit(s.mediators_per_10k, town.community_pop)
        town_n = servers_per_unit(s.township_mediators_per_10k, town.township_pop)
        court_n = servers_per_unit(s.court_servers_per_100k / 10.0, [self.population.n])
        layouts = [(np.repeat(np.arange(town.n_communities), comm_n), town.n_communities, s.shift_start, s.mediator_hours),
                   (np.repeat(np.arange(town.n_townships), town_n), town.n_townships, s.shift_start, s.township_hours),
                   (np.zeros(court_n[0], int), 1, s.shift_start, s.court_hours)]
        return layouts

    def restaff(self, staffing, now: float) -> dict[int, np.ndarray]:
        """Mediators' or the court's numbers or hours changed during a run: the rungs' servers from hour
        `now` on (each unit keeps its first servers; `ServerPool.successor`).  Returns, per rung rebuilt,
        which old server each server is (−1: new)."""
        out = {}
        for r, (unit, n_units, start, hours) in zip((COMMUNITY, TOWNSHIP, COURT), self._own_pools(staffing)):
            old = self.pools[r]
            start_a = np.broadcast_to(np.asarray(start, float), (len(unit),))
            hours_a = np.broadcast_to(np.asarray(hours, float), (len(unit),))
            if len(unit) == old.n and np.array_equal(unit, old.unit) and np.array_equal(start_a, old.start) \
                    and np.array_equal(hours_a, old.hours):
                continue
            keep = keep_by_rank(old.unit, unit)
            self.pools[r] = old.successor(unit, n_units, start, hours, keep, now)
            out[r] = keep
        return out

    def regridded(self) -> None:
        """After a regrid: disputes not ended belong to the new grid of their cell; open counts per grid again.
        Disputes that ended keep the grid they ended in."""
        tab, n = self.table, self.table.n
        live = np.flatnonzero((tab.status[:n] == LATENT) | (tab.status[:n] == IN_LADDER))
        tab.grid[live] = self.town.grid[tab.cell[live]]
        self.open_by_grid = np.bincount(tab.grid[live], minlength=self.town.n_grids).astype(np.int64)

    def redraw_clocks(self, t: float) -> None:
        """Hazards changed (latent reports, festering, conversion): redraw, at hour `t`, the pending clocks
        of every dispute not ended, so the new hazards hold exactly from then on (the clocks are memoryless).
        Draws from the clocks stream, in case order."""
        tab, n = self.table, self.table.n
        status = tab.status[:n]
        for c in np.flatnonzero((status == LATENT) | (status == IN_LADDER)):
            self._redraw_conversion(int(c), t)
            if status[c] == LATENT:
                self._arm_hidden(int(c), t)

    # ------------------------------------------------------------------ helpers
    def _unit(self, c: int, r: int) -> int:
        g = int(self.table.grid[c])
        if r == GRID:
            return g
        if r == COMMUNITY:
            return int(self.town.grid_community[g])
        if r in (TOWNSHIP, POLICE):
            return int(self.town.grid_township[g])
        return 0

    def _next_rung(self, r: int, severity: int) -> int:
        if r == GRID:
            return COMMUNITY
        if r == COMMUNITY:
            return POLICE if severity + 1 >= self.police_from_severity else TOWNSHIP
        return COURT

    def _redraw_conversion(self, c: int, t: float) -> None:
        rate = self.conv_rate[self.table.severity[c]]
        self.table.conv_time[c] = t + self.clocks_rng.exponential(1.0 / rate) if rate > 0 else np.inf

    # ------------------------------------------------------------------ 1. arise
    def arise(self, t0: float) -> None:
        d, rng, pop = self.d, self.arrivals_rng, self.population
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
        sev = (rng.random(n)[:, None] > self.sev_cum[kind]).sum(axis=1).clip(MINOR, SERIOUS).astype(np.int8)
        ids = self.table.append(n, onset=onset, kind=kind, severity0=sev, severity=sev, cell=pop.home[a], grid=grid,
                                party_a=a, party_b=b)
        np.add.at(self.open_by_grid, grid, 1)
        rate = self.conv_rate[sev]
        with np.errstate(divide="ignore"):
            self.table.conv_time[ids] = np.where(rate > 0, onset + rng.exponential(1.0, n) / np.where(rate > 0, rate, 1.0), np.inf)

        # 2. discovery by report: the chance rises with the party's trust
        if d.instant_discovery:
            reported = np.ones(n, bool)
            delay = np.zeros(n)
        else:
            p = np.clip(self.report_p[sev] + d.report_trust_slope * (pop.trust[a] - d.report_trust_reference), 0.0, 1.0)
            reported = rng.random(n) < p
            delay = rng.exponential(max(d.report_delay_hours, 1e-12), n) if d.report_delay_hours > 0 else np.zeros(n)
        # a reported dispute is on its way to the grid queue: no longer hidden, so visits
        # cannot "find" it a second time during the report delay
        self.table.status[ids[reported]] = IN_LADDER
        conv = self.table.conv_time[ids]
        for i, c in enumerate(ids):
            if reported[i] and conv[i] < onset[i] + delay[i]:
                self._close_at(float(conv[i]), int(c), CONVERTED)   # violent before the report arrived
            elif reported[i]:
                self.table.known_by[c] = BY_REPORT
                self.events.push(onset[i] + delay[i], self.ARRIVE, int(c), GRID)
            else:
                self._arm_hidden(int(c), onset[i])

    def _arm_hidden(self, c: int, t: float) -> None:
        """Schedule the first of a hidden dispute's clocks: late report, festering, violence."""
        rng, tab = self.clocks_rng, self.table
        sev = tab.severity[c]
        rates = (self.late_rate[sev], self.fester_rate if sev < SERIOUS else 0.0)
        times = [t + rng.exponential(1.0 / r) if r > 0 else math.inf for r in rates]
        times.append(tab.conv_time[c])
        which = int(np.argmin(times))     # LATE_REPORT, FESTER or VIOLENT
        if times[which] < math.inf:
            tab.version[c] += 1
            self.events.push(float(times[which]), self.HIDDEN, c, which * CLOCK_BASE + int(tab.version[c]) % CLOCK_BASE)

    def on_hidden(self, t: float, c: int, arg: int) -> None:
        tab = self.table
        which, version = divmod(arg, CLOCK_BASE)
        if tab.status[c] != LATENT or version != tab.version[c] % CLOCK_BASE:
            return  # a stale clock: the dispute was found meanwhile
        if which == LATE_REPORT:
            tab.known_by[c] = BY_LATE_REPORT
            self.on_arrive(t, c, GRID)
        elif which == FESTER:
            tab.severity[c] += 1
            self._redraw_conversion(c, t)
            self._arm_hidden(c, t)
        else:               # VIOLENT before anyone knew
            self.on_close(t, c, CONVERTED)

    def found_by_visits(self, p_find_by_grid: np.ndarray, t_next: float) -> None:
        """Hidden disputes found on today's visits enter the grid queue next morning."""
        tab = self.table
        hidden = np.flatnonzero(tab.status[: tab.n] == LATENT)
        if len(hidden) == 0:
            return
        found = hidden[self.visits_rng.random(len(hidden)) < p_find_by_grid[tab.grid[hidden]]]
        tab.version[found] += 1          # cancels their pending clocks
        tab.known_by[found] = BY_VISIT
        tab.status[found] = IN_LADDER    # no longer hidden; arrives at t_next
        self.today["found_by_visit"] = len(found)
        for c in found:
            self.events.push(t_next, self.ARRIVE, int(c), GRID)

    # ------------------------------------------------------------------ 3. the ladder
    def on_arrive(self, t: float, c: int, r: int) -> None:
        """The case reaches rung r (first report, or escalated): it leaves its previous rung now.

        Each rung is visited at most once — the ladder only climbs — except that a case the
        court fails to settle is heard again: it stays at the court, one interval."""
        tab = self.table
        if np.isnan(tab.t_known[c]):
            tab.t_known[c] = t
            self.today["reported"] += 1
        prev = int(tab.rung[c]) if tab.status[c] == IN_LADDER else -1
        if prev >= 0:
            self.backlog[prev] -= 1
            if prev != r:
                getattr(tab, EXIT[prev])[c] = t
        tab.status[c] = IN_LADDER
        tab.rung[c] = r
        self.backlog[r] += 1
        if prev != r:
            enter = getattr(tab, ENTER[r])
            assert np.isnan(enter[c]), f"dispute {c} entered rung {RUNGS[r]} twice"
            enter[c] = t
        if r == GRID and np.isnan(tab.t_grid_arrival[c]):
            tab.t_grid_arrival[c] = t
        handoff = self.rungs[r].handoff_hours
        if handoff <= 0:
            self.on_ready(t, c, r)
            return
        ready = t + self.ladder_rng.exponential(handoff)
        deadline = self._deadline(c, r)
        conv = float(tab.conv_time[c])
        if conv < min(ready, deadline):
            self._close_at(conv, c, CONVERTED)
        elif ready > deadline:          # the hand-off alone outlasts the deadline
            self._escalate(deadline, c, r, timeout=True)
        else:
            self.events.push(ready, self.READY, c, r)

    def _deadline(self, c: int, r: int) -> float:
        """When rung r must have settled case c: its arrival at the rung plus the rung's deadline (never, at the court)."""
        if r == COURT:
            return math.inf
        return float(getattr(self.table, ENTER[r])[c]) + self.rungs[r].deadline_hours

    def on_ready(self, t: float, c: int, r: int) -> None:
        """The case is ready for service at rung r: queue, wait, be served — or be reported up
        at the rung's deadline if it cannot start, or cannot finish, by then."""
        tab, cfg = self.table, self.rungs[r]
        sev = int(tab.severity[c])
        conv = float(tab.conv_time[c])
        pool = self.pools[r]
        lead = self.police_lead(int(tab.cell[c])) if r == POLICE else None
        got = pool.earliest(self._unit(c, r), t, lead)
        if got is None:  # no one at this rung here: pass straight up
            self._escalate(t, c, r, timeout=False)
            return
        s, ts = got
        deadline = self._deadline(c, r)
        if ts > deadline:               # no server can start it before the deadline: it never starts
            if conv < deadline:
                self._close_at(conv, c, CONVERTED)
            else:
                self._escalate(deadline, c, r, timeout=True)
            return
        if conv < ts:
            self._close_at(conv, c, CONVERTED)
            return
        effort = gamma_effort(self.ladder_rng, cfg.service_mean_hours[sev], cfg.service_cv)
        if r == POLICE:
            effort += float(lead(slice(s, s + 1))[0])
        te = pool.finish_time(s, ts, effort)
        if r == GRID and np.isnan(tab.t_first_contact[c]):
            tab.t_first_contact[c] = ts
        stop = min(te, deadline)        # the server works on it until it is done or the deadline comes
        if conv < stop:
            pool.occupy(s, ts, conv)
            self._close_at(conv, c, CONVERTED)
            return
        pool.occupy(s, ts, stop)
        if te > deadline:               # not finished by the deadline: reported up then
            self._escalate(deadline, c, r, timeout=True)
            return
        p = cfg.success[sev] * (self.grid_skill[s] if r == GRID else 1.0)
        if self.ladder_rng.random() < p:
            self._close_at(te, c, RESOLVED)
        elif self.repeat and r != COURT and te + self.retry_gap < deadline:
            # not settled yet, but the deadline is still ahead: convene the parties again
            retry = te + self.retry_gap
            if conv < retry:
                self._close_at(conv, c, CONVERTED)
            else:
                tab.attempts[c] += 1
                self.events.push(retry, self.READY, c, r)
        else:
            self._escalate(te, c, r, timeout=False)

    def _escalate(self, t: float, c: int, r: int, timeout: bool) -> None:
        tab = self.table
        tab.escalations[c] += 1
        if timeout:
            tab.timeouts[c] += 1
            if tab.severity[c] < SERIOUS:
                tab.severity[c] += 1
                self._redraw_conversion(c, t)
        self.events.push(t, self.ARRIVE, c, self._next_rung(r, int(tab.severity[c])))

    def _close_at(self, t: float, c: int, status: int) -> None:
        self.events.push(t, self.CLOSE, c, status)

    def on_close(self, t: float, c: int, status: int) -> None:
        """The dispute ends (resolved or turned violent): counters, a note for perception, and
        a violent end handed to `on_violent` at once (crime draws for it in event order)."""
        tab = self.table
        if tab.status[c] == IN_LADDER and tab.rung[c] >= 0:
            self.backlog[tab.rung[c]] -= 1
            getattr(tab, EXIT[tab.rung[c]])[c] = t
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
            self.on_violent(t, int(tab.cell[c]), int(tab.party_b[c]), c)

    # ------------------------------------------------------------------ reports
    def pop_closed(self) -> ClosedDisputes:
        """Disputes closed since the last call (the model hands them to perception daily)."""
        closed, self.closed_today = self.closed_today, []
        tab, n = self.table, len(closed)
        c = np.fromiter((x[0] for x in closed), np.int64, n)
        status = np.fromiter((x[1] for x in closed), np.int8, n)
        hours = np.fromiter((x[2] for x in closed), float, n)
        return ClosedDisputes(tab.party_a[c], tab.party_b[c], status == CONVERTED, hours)

    def time_average_cases(self, t0: float, t1: float) -> np.ndarray:
        """Time-averaged number of cases at each rung over [t0, t1), one value per rung.

        Integrated exactly from each case's entry and exit times, for every case present in
        the window (also those that arrived before t0); a case still at a rung counts until
        t1.  Meant for t1 no later than the time simulated so far."""
        if not t1 > t0:
            raise ValueError(f"time_average_cases: need t0 < t1, got [{t0}, {t1})")
        tab, n = self.table, self.table.n
        out = np.zeros(len(RUNGS))
        for r in range(len(RUNGS)):
            enter, leave = getattr(tab, ENTER[r])[:n], getattr(tab, EXIT[r])[:n]
            at = ~np.isnan(enter)
            lo = np.maximum(enter[at], t0)
            hi = np.minimum(np.where(np.isnan(leave[at]), t1, leave[at]), t1)
            out[r] = float(np.maximum(hi - lo, 0.0).sum()) / (t1 - t0)
        return out
