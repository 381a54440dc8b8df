"""Staff as Mesa agents: grid workers, mediators, police officers and court slots.

Each staff agent is one server of a `ServerPool` (`sim.queueing`); its working state
(shift, when it is next free, busy hours per day) lives in the pool's arrays so the
queue arithmetic stays vectorised.  The agents give Mesa's idioms (AgentSet queries,
DataCollector agent reporters) a handle on every person who works a case.
"""

from __future__ import annotations

import mesa


class Staff(mesa.Agent):
    """One server of `pool`; `unit` is the grid, community or township it serves."""

    rung = "staff"

    def __init__(self, model, pool, server: int, unit: int):
        super().__init__(model)
        self.pool = pool
        self.server = server
        self.unit = unit

    @property
    def shift_start(self) -> float:
        return float(self.pool.start[self.server])

    @property
    def shift_hours(self) -> float:
        return float(self.pool.hours[self.server])

    @property
    def busy_hours_today(self) -> float:
        return float(self.pool.busy_on(self.model.day)[self.server])

    @property
    def utilisation_today(self) -> float:
        """Casework hours over the hours the pool gives to casework (for grid workers, what
        routine duties leave; `GridWork.utilisation` reports routine + casework over the shift)."""
        return self.busy_hours_today / self.shift_hours

    def step(self) -> None:
        """Staff act through the event queue; nothing to do per day."""


class GridWorker(Staff):
    """网格员: walks one grid, visits households in time free of casework, settles on the spot."""

    rung = "grid"

    def __init__(self, model, pool, server, unit, fulltime: bool, skill: float):
        super().__init__(model, pool, server, unit)
        self.fulltime = fulltime
        self.skill = skill

    @property
    def visits_today(self) -> float:
        return float(self.model.grid_work.visits_by_worker[self.server])


class Mediator(Staff):
    """人民调解员 at a community (村/社区) or a township governance centre (综治中心)."""

    def __init__(self, model, pool, server, unit, level: str):
        super().__init__(model, pool, server, unit)
        self.rung = level


class PoliceOfficer(Staff):
    """An on-duty officer, posted in a village (一村一警) or at the township station."""

    rung = "police"

    @property
    def post(self) -> tuple[float, float]:
        return float(self.pool.x[self.server]), float(self.pool.y[self.server])


class CourtSlot(Staff):
    """A judge's capacity for these disputes: the last rung."""

    rung = "court"
