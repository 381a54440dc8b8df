"""Grid work: who serves each grid, and the household visits made in time free of casework.

A grid's workers are the servers of its first-rung queue (`sim.queueing.ServerPool`).
Casework comes first; the rest of each worker's shift goes to visiting households, which
finds hidden disputes and is seen by residents.  So a grid that is too big for its team
visits less, finds less, and lets disputes fester: the threshold the model must be able
to show.

Couplings (wired by `GovernanceModel`): receives the `staffing` section, the town, the
full-time ratio, the household size and the horizon; serves its `pool` and per-worker
`skill` to the disputes' grid rung; emits, after `visit(day)`, the chance per grid that a
hidden dispute is found (to the disputes), `visit_hours_by_grid` (to guardianship) and
`visits_by_grid` (to perception).  Its `GridWorker` agents are made by the model.
"""

from __future__ import annotations

import numpy as np

from .queueing import ServerPool

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
        s = staffing
        self.staffing, self.town = s, town
        n_grids = town.n_grids
        density = town.grid_pop / np.maximum(np.bincount(town.grid, minlength=n_grids), 1)
        unit, self.fulltime = assign_posts(s, fulltime_ratio, density)
        start = np.where(self.fulltime, s.shift_start, s.parttime_shift_start)
        hours = np.where(self.fulltime, s.fulltime_hours, s.parttime_hours)
        # routine duties ∝ the grid's residents come first; what is left is for cases and visits
        team_hours = team_hours_by_grid(s, unit, self.fulltime, n_grids)
        routine = s.routine_hours_per_1000 * town.grid_pop / 1000.0
        self.free_share = np.clip(1.0 - routine / team_hours, 0.0, 1.0)
        self.routine_overload = routine > team_hours
        self.shift_hours = hours
        self.routine_hours = float(np.minimum(routine, team_hours).sum())
        hours = np.maximum(hours * self.free_share[unit], MIN_HOURS)
        self.skill = np.where(self.fulltime, s.fulltime_skill, s.parttime_skill)
        self.pool = ServerPool(unit, n_grids, start, hours, horizon_days)
        self.households = np.maximum(town.grid_pop / household_size, 1.0)
        self.visits_by_worker = np.zeros(len(unit))
        self.visits_by_grid = np.zeros(n_grids)
        self.visit_hours_by_grid = np.zeros(n_grids)

    @property
    def n_workers(self) -> int:
        return self.pool.n

    def visit(self, day: int) -> np.ndarray:
        """Spend today's free hours on visits; return per grid the chance a hidden dispute is found."""
        s = self.staffing
        free = np.maximum(self.pool.hours - self.pool.busy_on(day), 0.0)
        self.visits_by_worker = free * s.visits_per_hour
        n = self.town.n_grids
        self.visit_hours_by_grid = np.bincount(self.pool.unit, weights=free, minlength=n)
        self.visits_by_grid = np.bincount(self.pool.unit, weights=self.visits_by_worker, minlength=n)
        return 1.0 - np.exp(-self.visits_by_grid * s.visit_detect_prob / self.households)

    def utilisation(self, day: int) -> float:
        """(routine duties + casework) / working hours, over all grid workers today."""
        casework = np.minimum(self.pool.busy_on(day), self.pool.hours).sum()
        return float((self.routine_hours + casework) / self.shift_hours.sum())
