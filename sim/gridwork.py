"""Grid work: who serves each grid, and the household visits made in time free of casework.

A grid's workers are the servers of its first-rung queue (`sim.queueing.ServerPool`).
Casework comes first; the rest of each worker's shift goes to visiting households, which
finds hidden disputes and is seen by residents.  So a grid that is too big for its team
visits less, finds less, and lets disputes fester: the threshold the model must be able
to show.
"""

from __future__ import annotations

import numpy as np

from .agents import GridWorker
from .queueing import ServerPool

MIN_HOURS = 1e-3  # a team swamped by routine duties still exists, it just never gets to cases


class GridWork:
    def __init__(self, model):
        p, s, town = model.params, model.params.staffing, model.town
        self.model = model
        n_grids = town.n_grids
        # workers per grid: the integer part everywhere, the fraction spread evenly, at least one
        base = int(np.floor(s.workers_per_grid))
        frac = s.workers_per_grid - base
        extra = (np.floor((np.arange(n_grids) + 1) * frac) - np.floor(np.arange(n_grids) * frac)).astype(int)
        per_grid = np.maximum(1, base + extra)
        unit = np.repeat(np.arange(n_grids), per_grid)
        rank = np.arange(len(unit)) - np.repeat(np.cumsum(per_grid) - per_grid, per_grid)
        # full-time posts go first to each grid's lead worker, then to second workers, …
        # or (dense_grids) to every worker of the most crowded grids first: urban grids
        n_full = int(round(p.fulltime_ratio * len(unit)))
        if s.fulltime_first == "dense_grids":
            density = town.grid_pop / np.maximum(np.bincount(town.grid, minlength=n_grids), 1)
            order = np.lexsort((rank, unit, -density[unit]))
        else:
            # among equal ranks, grids in a low-discrepancy order (golden ratio), so full-time
            # posts spread evenly over the town instead of filling it from one corner
            spread = np.modf(unit * 0.6180339887498949)[0]
            order = np.lexsort((spread, rank))
        self.fulltime = np.zeros(len(unit), bool)
        self.fulltime[order[:n_full]] = True
        start = np.where(self.fulltime, s.shift_start, s.parttime_shift_start)
        hours = np.where(self.fulltime, s.fulltime_hours, s.parttime_hours)
        # routine duties ∝ the grid's residents come first; what is left is for cases and visits
        team_hours = np.bincount(unit, weights=hours, minlength=n_grids)
        routine = s.routine_hours_per_1000 * town.grid_pop / 1000.0
        self.free_share = np.clip(1.0 - routine / team_hours, 0.0, 1.0)
        self.routine_overload = routine > team_hours
        self.shift_hours = hours
        self.routine_hours = float(np.minimum(routine, team_hours).sum())
        hours = np.maximum(hours * self.free_share[unit], MIN_HOURS)
        self.skill = np.where(self.fulltime, s.fulltime_skill, s.parttime_skill)
        self.pool = ServerPool(unit, n_grids, start, hours, p.total_days)
        self.per_grid = per_grid
        self.households = np.maximum(town.grid_pop / model.params.town.household_size, 1.0)
        self.visits_by_worker = np.zeros(len(unit))
        self.visits_by_grid = np.zeros(n_grids)
        self.visit_hours_by_grid = np.zeros(n_grids)
        self.workers = [GridWorker(model, self.pool, i, int(unit[i]), bool(self.fulltime[i]), float(self.skill[i]))
                        for i in range(len(unit))]

    @property
    def n_workers(self) -> int:
        return self.pool.n

    def visit(self, day: int) -> np.ndarray:
        """Spend today's free hours on visits; return per grid the chance a hidden dispute is found."""
        s = self.model.params.staffing
        free = np.maximum(self.pool.hours - self.pool.busy_on(day), 0.0)
        self.visits_by_worker = free * s.visits_per_hour
        n = self.model.town.n_grids
        self.visit_hours_by_grid = np.bincount(self.pool.unit, weights=free, minlength=n)
        self.visits_by_grid = np.bincount(self.pool.unit, weights=self.visits_by_worker, minlength=n)
        return 1.0 - np.exp(-self.visits_by_grid * s.visit_detect_prob / self.households)

    def utilisation(self, day: int) -> float:
        """(routine duties + casework) / working hours, over all grid workers today."""
        casework = np.minimum(self.pool.busy_on(day), self.pool.hours).sum()
        return float((self.routine_hours + casework) / self.shift_hours.sum())
