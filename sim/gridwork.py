"""Grid work: who serves each grid, the routine duties they owe, and the household visits
made in the time left.

A grid's workers are the servers of its first-rung queue (`sim.queueing.ServerPool`).
Triage (`staffing.triage`): with `cases_first` (the default, as the visit rules say:
disputes and emergencies at once, on site) waiting cases take whatever part of the shift
they need; routine duties (∝ the grid's residents) take what casework leaves, and visits
what routine leaves, so in a grid too big for its team routine duties go undone first
(`routine_shortfall_share`) and visits stop.  With `routine_first` (the earlier model,
kept for comparison) routine duties take their hours off the top of every shift and
casework and visits share the rest.  Visits find hidden disputes and are seen by residents,
so a grid that is too big for its team visits less, finds less and lets disputes fester.

Couplings (wired by `GovernanceModel`): receives the `staffing` section, the town, the
full-time ratio, the household size and the horizon; serves its `pool` and per-worker
`skill` to the disputes' grid rung; emits, after `visit(day)`, the chance per grid that a
hidden dispute is found (to the disputes), `visit_hours_by_grid` (to guardianship) and
`visits_by_grid` (to perception), and the routine hours done each day
(`routine_done_by_day`, to the outcomes).  Its `GridWorker` agents are made by the model.
"""

from __future__ import annotations

import numpy as np

from .queueing import ServerPool, keep_by_rank

MIN_HOURS = 1e-3  # a team swamped by routine duties still exists, it just never gets to cases


def assign_posts(staffing, fulltime_ratio: float, density: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grid of each worker (sorted) and whether the post is full-time, for grids of this density.

    Workers per grid: the integer part of `workers_per_grid` everywhere, the fraction
    spread evenly, at least one.  Full-time posts go first to each grid's lead worker,
    then to second workers, … or (`fulltime_first: dense_grids`) to every worker of the
    most crowded grids first (urban grids)."""
    s, n_grids = staffing, len(density)
    base = int(np.floor(s.workers_per_grid))
    frac = s.workers_per_grid - base
    extra = (np.floor((np.arange(n_grids) + 1) * frac) - np.floor(np.arange(n_grids) * frac)).astype(int)
    per_grid = np.maximum(1, base + extra)
    unit = np.repeat(np.arange(n_grids), per_grid)
    rank = np.arange(len(unit)) - np.repeat(np.cumsum(per_grid) - per_grid, per_grid)
    n_full = int(round(fulltime_ratio * len(unit)))
    if s.fulltime_first == "dense_grids":
        order = np.lexsort((rank, unit, -density[unit]))
    else:
        # among equal ranks, grids in a low-discrepancy order (golden ratio), so full-time
        # posts spread evenly over the town instead of filling it from one corner
        spread = np.modf(unit * 0.6180339887498949)[0]
        order = np.lexsort((spread, rank))
    fulltime = np.zeros(len(unit), bool)
    fulltime[order[:n_full]] = True
    return unit, fulltime


def team_hours_by_grid(staffing, unit: np.ndarray, fulltime: np.ndarray, n_grids: int) -> np.ndarray:
    """Working hours a day of each grid's team."""
    hours = np.where(fulltime, staffing.fulltime_hours, staffing.parttime_hours)
    return np.bincount(unit, weights=hours, minlength=n_grids)


def routine_capacity(staffing, fulltime_ratio: float, n_grids: int = 1000) -> tuple[float, float] | None:
    """Residents per grid at which routine duties alone fill a team's day: (smallest team's, largest team's).

    From the same post assignment the model uses, on `n_grids` grids of distinct density;
    None when routine duties are zero (they never fill a day)."""
    if staffing.routine_hours_per_1000 <= 0:
        return None
    unit, fulltime = assign_posts(staffing, fulltime_ratio, -np.arange(n_grids, dtype=float))
    team = team_hours_by_grid(staffing, unit, fulltime, n_grids)
    cap = 1000.0 * team / staffing.routine_hours_per_1000
    return float(cap.min()), float(cap.max())


class GridWork:
    def __init__(self, staffing, town, *, fulltime_ratio: float, household_size: float, horizon_days: int):
        self.town = town
        unit, start, hours = self._layout(staffing, fulltime_ratio, household_size)
        self.pool = ServerPool(unit, town.n_grids, start, hours, horizon_days)
        self.routine_done_by_day = np.zeros(horizon_days + 1)    # routine hours done, all grids, per day
        self.routine_owed: list[tuple[int, float]] = []          # (from day, routine hours owed a day), when they change
        self._fresh_arrays(len(unit))

    def _layout(self, staffing, fulltime_ratio: float, household_size: float):
        """Posts, shifts and the grids' duties from the parameters: (grid of each worker, shift start, hours)."""
        s, town = staffing, self.town
        self.staffing = s
        n_grids = town.n_grids
        density = town.grid_pop / np.maximum(np.bincount(town.grid, minlength=n_grids), 1)
        unit, self.fulltime = assign_posts(s, fulltime_ratio, density)
        start = np.where(self.fulltime, s.shift_start, s.parttime_shift_start)
        hours = np.where(self.fulltime, s.fulltime_hours, s.parttime_hours)
        self.shift_hours = hours
        self.team_hours = team_hours_by_grid(s, unit, self.fulltime, n_grids)
        # routine duties ∝ the grid's residents, hours a day per grid
        self.routine_need = s.routine_hours_per_1000 * town.grid_pop / 1000.0
        self.routine_overload = self.routine_need > self.team_hours
        self.free_share = np.clip(1.0 - self.routine_need / self.team_hours, 0.0, 1.0)   # of a shift, after routine
        self.cases_first = s.triage == "cases_first"
        if not self.cases_first:
            # routine_first: routine duties take their share off the top of every shift
            hours = np.maximum(hours * self.free_share[unit], MIN_HOURS)
        self.skill = np.where(self.fulltime, s.fulltime_skill, s.parttime_skill)
        self.households = np.maximum(town.grid_pop / household_size, 1.0)
        return unit, start, hours

    def _fresh_arrays(self, n_workers: int) -> None:
        n_grids = self.town.n_grids
        self.routine_by_grid = np.zeros(n_grids)                 # … today, per grid
        self.visits_by_worker = np.zeros(n_workers)
        self.visits_by_grid = np.zeros(n_grids)
        self.visit_hours_by_grid = np.zeros(n_grids)

    def rebuild(self, staffing, fulltime_ratio: float, household_size: float, day: int, now: float,
                grid_map: np.ndarray | None = None) -> np.ndarray | None:
        """Staff, shifts or grids changed during a run (a timeline): lay the posts out again and, if the
        servers changed, hire or release grid workers from hour `now` on (`ServerPool.successor`).  Each
        grid keeps its first workers, in order (after a regrid, the workers of the old grids whose middle
        resident it holds, `grid_map`); cases booked finish as booked.  Returns which old worker each
        worker is (−1: hired), or None when the pool is unchanged."""
        owed = self.routine_need.sum()
        old = self.pool
        unit, start, hours = self._layout(staffing, fulltime_ratio, household_size)
        if self.routine_need.sum() != owed or self.routine_owed:
            if not self.routine_owed:
                self.routine_owed.append((0, float(owed)))
            self.routine_owed.append((day, float(self.routine_need.sum())))
        if grid_map is None and len(unit) == old.n and np.array_equal(unit, old.unit) and np.array_equal(start, old.start) \
                and np.array_equal(hours, old.hours):
            return None
        keep = keep_by_rank(old.unit, unit, grid_map)
        self.pool = old.successor(unit, self.town.n_grids, start, hours, keep, now)
        self._fresh_arrays(len(unit))
        return keep

    @property
    def n_workers(self) -> int:
        return self.pool.n

    def visit(self, day: int) -> np.ndarray:
        """Spend the hours casework left today on routine duties (cases_first) and the rest on
        visits; return per grid the chance a hidden dispute is found."""
        s, n, unit = self.staffing, self.town.n_grids, self.pool.unit
        left = np.maximum(self.pool.hours - self.pool.busy_on(day), 0.0)     # per worker, after casework
        if self.cases_first:
            left_g = np.bincount(unit, weights=left, minlength=n)
            self.routine_by_grid = np.minimum(self.routine_need, left_g)
            keep = np.divide(left_g - self.routine_by_grid, left_g, out=np.zeros(n), where=left_g > 0)
            free = left * keep[unit]                                          # routine shared pro rata
        else:
            self.routine_by_grid = np.minimum(self.routine_need, self.team_hours)
            free = left
        self.routine_done_by_day[min(day, len(self.routine_done_by_day) - 1)] = self.routine_by_grid.sum()
        self.visits_by_worker = free * s.visits_per_hour
        self.visit_hours_by_grid = np.bincount(unit, weights=free, minlength=n)
        self.visits_by_grid = np.bincount(self.pool.unit, weights=self.visits_by_worker, minlength=n)
        return 1.0 - np.exp(-self.visits_by_grid * s.visit_detect_prob / self.households)

    def utilisation(self, day: int) -> float:
        """(routine duties done + casework) / working hours, over all grid workers today
        (after `visit(day)`, which settles today's routine duties)."""
        casework = np.minimum(self.pool.busy_on(day), self.pool.hours).sum()
        return float((self.routine_by_grid.sum() + casework) / self.shift_hours.sum())

    def routine_shortfall_share(self, first_day: int, last_day: int) -> float:
        """Share of the routine duties owed on days [first_day, last_day) left undone (NaN if none owed)."""
        if self.routine_owed:           # a timeline changed the duties: owed piece by piece
            marks = self.routine_owed
            ends = [d for d, _ in marks[1:]] + [last_day]
            owed = sum(v * max(min(b, last_day) - max(a, first_day), 0) for (a, v), b in zip(marks, ends))
        else:
            owed = self.routine_need.sum() * (last_day - first_day)
        if owed <= 0:
            return float("nan")
        return float(1.0 - self.routine_done_by_day[first_day:last_day].sum() / owed)
