"""Staff as Mesa agents: grid workers, mediators, police officers and court slots.

Each staff agent is one server of a `ServerPool` (`sim.queueing`); its working state
(shift, when it is next free, busy hours per day) lives in the pool's arrays so the
queue arithmetic stays vectorised.  The agents give Mesa's idioms (AgentSet queries,
DataCollector agent reporters) a handle on every person who works a case.

The submodels own the pools and know nothing of agents; the model hires the staff once,
after the pools exist (`hire_staff`), so agent ids follow the order grid workers, police,
community mediators, township mediators, court slots.  Staff have no step of their own
(Mesa's no-op `Agent.step`): they act through the event queue.
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


def hire_staff(model, grid_pool, fulltime, skill, police_pool, community_pool, township_pool, court_pool) -> dict[str, list]:
    """One agent per server of every pool, registered with `model` (Mesa needs the handle); returns the
    agents of each pool, by server, under the names grid, police, community, township, court."""
    staff = {"grid": [GridWorker(model, grid_pool, i, int(grid_pool.unit[i]), bool(fulltime[i]), float(skill[i]))
                      for i in range(grid_pool.n)],
             "police": [PoliceOfficer(model, police_pool, i, int(police_pool.unit[i])) for i in range(police_pool.n)]}
    for pool, level in ((community_pool, "community"), (township_pool, "township")):
        staff[level] = [Mediator(model, pool, i, int(pool.unit[i]), level) for i in range(pool.n)]
    staff["court"] = [CourtSlot(model, court_pool, i, int(court_pool.unit[i])) for i in range(court_pool.n)]
    return staff


def rehire(model, agents: list, pool, keep, make) -> list:
    """The agents of a rebuilt pool (a timeline hired, released or reshifted staff): server `s` is the agent
    of old server `keep[s]`, moved to its new post, or a new agent `make(model, pool, s)`; agents of old
    servers not kept leave the model.  Returns the agents by server."""
    kept = set()
    out = []
    for s, k in enumerate(keep):
        if k >= 0:
            a = agents[k]
            a.pool, a.server, a.unit = pool, s, int(pool.unit[s])
            kept.add(int(k))
        else:
            a = make(model, pool, s)
        out.append(a)
    for k, a in enumerate(agents):
        if k not in kept:
            a.remove()
    return out
