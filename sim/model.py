"""GovernanceModel: the town, its people and staff, and the daily schedule.

One `step()` is one day; work inside the day runs in continuous time on an event heap,
so resolution times come out in hours.  The schedule (ODD §3):

    disputes arise → crime occurs → events of the day (reports, grid work, ladder, police)
    → visits in free hours → patrol and guardianship → crime's end of day → perception
    → observation

This module is the only place where the submodels meet (with `sim.timeline_run`, which
carries out a scenario's timeline on them at the start of each change day).  Each one is built from its
parameter section(s), the town, the population, its own random stream(s) and the event
queue; what one submodel needs of another is handed over here, either once at
construction (the pools a rung serves on, `on_violent=crime.from_dispute`) or as the
day's messages in `step()` (what perception is told each evening).  No submodel holds
the model or reaches into another:

    GridWork(staffing, town, fulltime_ratio, household_size, horizon_days)
    CrimeProcess(crime, staffing, town, population, events, rng, police_rng, horizon_days)
    DisputeProcess(disputes, ladder, staffing, town, population, events, arrivals_rng, clocks_rng, ladder_rng,
                   visits_rng, horizon_days, grid_pool, grid_skill, police_pool, police_lead, on_violent)
    Perception(perception, town, population, rng, households, warmup_days, days)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mesa
import numpy as np
from mesa.experimental.scenarios import Scenario as MesaScenario

from .agents import hire_staff
from .collector import RunCollector
from .crime import CrimeProcess, guardianship_per_1000, visible_patrol_per_1000
from .disputes import COMMUNITY, COURT, TOWNSHIP, DisputeProcess
from .gridwork import GridWork
from .perception import Perception
from .population import Population, Resident
from .queueing import DAY, EventQueue
from .scenario import RUNGS, Scenario, ScenarioError, load_scenario
from .scenario.timeline import Timeline
from .timeline_run import apply_changes, levels_of
from .town import Town

LEVERS = ("residents_per_grid", "fulltime_ratio", "camera_coverage")
STREAMS = ("town", "cameras", "population", "arrivals", "clocks", "visits", "ladder", "crime", "police", "perception", "tracking")


def scenario_params(scenario: Any = None, overrides: dict[str, Any] | None = None) -> Scenario:
    """A `Scenario`, a `GovernanceScenario` or None (the default scenario) → the run's
    validated `Scenario`, with `overrides` (dotted keys; None values ignored) applied.

    Files and mappings are the loader's business, so that a model is always built from
    parameters that were validated once, in one place."""
    if scenario is None:
        base = load_scenario()
    elif isinstance(scenario, GovernanceScenario):
        base = scenario.params
    elif isinstance(scenario, Scenario):
        base = scenario
    elif isinstance(scenario, str | Path):
        raise ScenarioError(f"scenario {str(scenario)!r}: the model takes a Scenario, not a path; use sim.load_scenario(path)")
    elif isinstance(scenario, Mapping):
        raise ScenarioError("scenario: the model takes a Scenario, not a mapping; use sim.scenario.validate(mapping)")
    else:
        raise ScenarioError(f"scenario: expected a Scenario, a GovernanceScenario or None, not {type(scenario).__name__}")
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    return base.with_overrides(overrides, base.name) if overrides else base


class GovernanceScenario(MesaScenario):
    """Mesa's `Scenario` convention (the direction Mesa 4 takes): the run's seed, the levers
    and run length as attributes, and the whole validated parameter set as `params`.

        GovernanceModel(scenario=GovernanceScenario(sim.load_scenario("scenarios/laibin.yaml"), rng=7, scale=0.1))
    """

    def __init__(self, scenario: Scenario | None = None, *, rng=None, **overrides):
        params = scenario_params(scenario, overrides)
        super().__init__(rng=params.seed if rng is None else rng, params=params,
                         **{k: getattr(params, k) for k in (*LEVERS, "days", "scale", "warmup_days")})


class GovernanceModel(mesa.Model):
    """Grid-based social governance of one town.

    Args:
        scenario: a validated `sim.Scenario` (from `sim.load_scenario`), a
            `GovernanceScenario`, or None for `scenarios/default.yaml`.
        rng: Mesa's seed argument; defaults to the scenario's `seed`.
        residents_per_grid, fulltime_ratio, camera_coverage: the three levers (keywords,
            because Mesa's `batch_run` passes parameters so).
        days, scale, warmup_days: observed run length, representative fraction, and days
            simulated before the observed period (the run takes warmup_days + days steps).
        overrides: any other parameters by dotted key, e.g. `{"staffing.fulltime_hours": 6}`.
    """

    def __init__(self, scenario: Scenario | GovernanceScenario | None = None, rng=None, *, residents_per_grid=None,
                 fulltime_ratio=None, camera_coverage=None, days=None, scale=None, warmup_days=None,
                 overrides: dict[str, Any] | None = None):
        keywords = {"residents_per_grid": residents_per_grid, "fulltime_ratio": fulltime_ratio,
                    "camera_coverage": camera_coverage, "days": days, "scale": scale, "warmup_days": warmup_days}
        overrides = {**(overrides or {}), **{k: v for k, v in keywords.items() if v is not None}}
        if isinstance(scenario, GovernanceScenario):
            rng = scenario.rng if rng is None else rng
        scenario = GovernanceScenario(scenario, rng=rng, **overrides)
        super().__init__(scenario=scenario)
        # the scenario as given (with its timeline), and the one in force today (`params`: what submodels read)
        spec = self.spec = scenario.params
        self.timeline = Timeline.from_scenario(spec) if spec.timeline or spec.start_date else None
        params = self.params = self.timeline.scenario_on(0) if spec.timeline else spec
        self._change_days = [d for d in self.timeline.change_days() if d > 0] if spec.timeline else []
        self.seed = scenario.rng
        self.day = 0
        self.events = EventQueue()

        # one random stream per process, all spawned from the run's seed: changing one lever
        # (say, cameras) leaves the draws of unrelated processes as they were (common random numbers)
        self.streams = dict(zip(STREAMS, (np.random.default_rng(s) for s in self.rng.bit_generator.seed_seq.spawn(len(STREAMS)))))
        st, horizon = self.streams, params.total_days
        town = self.town = Town(params, st["town"])
        c, near = params.crime, params.perception.camera_near_cells
        if c.camera_stock_per_1000 is None:     # cameras as the coverage lever: covered cells × cameras per cell
            self.cameras = int(round(town.place_cameras(params.camera_coverage, st["cameras"], near) * c.cameras_per_covered_cell))
        else:                                   # cameras as a stock: placed by community, coverage derived
            self.cameras = int(round(c.camera_stock_per_1000 * params.residents / 1000.0))
            town.place_camera_stock(self.cameras, c.camera_village_share, c.cameras_per_covered_cell, st["cameras"], near)
        pop = self.population = Population(town, params, st["population"])
        self.grid_work = GridWork(params.staffing, town, fulltime_ratio=params.fulltime_ratio,
                                  household_size=params.town.household_size, horizon_days=horizon)
        self.crime = CrimeProcess(params.crime, params.staffing, town, pop, self.events, rng=st["crime"], police_rng=st["police"],
                                  horizon_days=horizon)
        self.disputes = DisputeProcess(
            params.disputes, params.ladder, params.staffing, town, pop, self.events,
            arrivals_rng=st["arrivals"], clocks_rng=st["clocks"], ladder_rng=st["ladder"], visits_rng=st["visits"],
            horizon_days=horizon, grid_pool=self.grid_work.pool, grid_skill=self.grid_work.skill,
            police_pool=self.crime.police, police_lead=self.crime.travel_lead, on_violent=self.crime.from_dispute)
        self.perception = Perception(params.perception, town, pop, rng=st["perception"], households=self.grid_work.households,
                                     warmup_days=params.warmup_days, days=params.days,
                                     calendar=self.timeline.start if self.timeline else None)
        pools = self.disputes.pools
        self.staff = hire_staff(self, self.grid_work.pool, self.grid_work.fulltime, self.grid_work.skill, self.crime.police,
                                pools[COMMUNITY], pools[TOWNSHIP], pools[COURT])
        self.levels = [(0, levels_of(self))]     # staff, cameras and cost in force from each change day (timelines)
        self.handlers = {
            DisputeProcess.ARRIVE: self.disputes.on_arrive,
            DisputeProcess.READY: self.disputes.on_ready,
            DisputeProcess.CLOSE: self.disputes.on_close,
            DisputeProcess.HIDDEN: self.disputes.on_hidden,
            CrimeProcess.ARRIVE: self.crime.on_arrive,
            CrimeProcess.CLOSE: self.crime.on_close,
        }
        self.guardian_per_1000 = np.zeros(town.n_grids)   # yesterday's, deters today's crime
        self.patrol_today = np.zeros(town.n_townships)     # police hours free of calls, per township
        self._residents: dict[int, Resident] = {}
        self.tracked = self._track_sample(params.track_residents)
        self._space = None                 # the town as a Mesa grid, built on first use (`space`)
        self.datacollector = RunCollector(   # Mesa's DataCollector + the run's outcomes at the end (sim.collector)
            self, model_reporters=self._reporters(),
            agenttype_reporters={Resident: {"rid": "rid", "grid": "grid", "safety": "safety", "trust": "trust"}} if self.tracked else None,
        )

    # ------------------------------------------------------------------ schedule
    @property
    def observing(self) -> bool:
        """True once the warm-up is over (outcomes count only what begins from then on)."""
        return self.day >= self.params.warmup_days

    @property
    def t_observed(self) -> float:
        """Hour at which the observed period begins."""
        return self.params.warmup_days * DAY

    def step(self) -> None:
        day = self.day = self.steps - 1
        if self._change_days and self._change_days[0] == day:   # a timeline's changes, at the day's first hour
            self._change_days.pop(0)
            apply_changes(self, day)
        t0, t1 = day * DAY, (day + 1) * DAY
        town, c = self.town, self.params.crime
        self.disputes.arise(t0)
        self.crime.occur(t0, self.guardian_per_1000)
        for time, _seq, kind, ident, arg in self.events.pop_before(t1):
            self.handlers[kind](time, ident, arg)
        p_find = self.grid_work.visit(day)
        self.disputes.found_by_visits(p_find, t1)
        self.patrol_today = self.crime.patrol_hours(day)
        patrol = visible_patrol_per_1000(self.patrol_today, town.township_pop, town.grid_township, c.patrol_visible_share)
        self.guardian_per_1000 = guardianship_per_1000(self.grid_work.visit_hours_by_grid, town.grid_pop, patrol,
                                                       c.visit_guardian_weight)
        incidents, closed_incidents = self.crime.end_day()
        self.perception.update(day, incidents=incidents, closed_disputes=self.disputes.pop_closed(),
                               closed_incidents=closed_incidents, visits_by_grid=self.grid_work.visits_by_grid,
                               visible_patrol_per_1000=patrol, open_by_grid=self.disputes.open_by_grid)
        if self.observing:
            self.datacollector.collect(self)
        if self.steps >= self.params.total_days:
            self.running = False

    def run(self, progress=None) -> "GovernanceModel":
        """Step until the scenario's horizon; `progress` is called after each day."""
        while self.running:
            self.step()
            if progress is not None:
                progress(self)
        return self

    def _track_sample(self, n: int) -> list[Resident]:
        """Resident views to record daily, drawn from their own stream so that tracking (or
        not) never changes the run's other random numbers."""
        if n <= 0:
            return []
        ids = np.sort(self.streams["tracking"].choice(self.population.n, size=min(n, self.population.n), replace=False))
        self._residents = {int(i): Resident(self, int(i)) for i in ids}     # registered: the DataCollector finds them
        return list(self._residents.values())

    # ------------------------------------------------------------------ views
    def resident(self, rid: int) -> Resident:
        """A Mesa agent viewing resident `rid`; reads and writes go to the population's arrays.

        It adds nothing to the model: a detached view (not in `model.agents`), except for a
        tracked resident (`track_residents`), which is the registered view the DataCollector reads."""
        rid = int(rid)
        if not 0 <= rid < self.population.n:
            raise IndexError(f"resident {rid}: the town has residents 0 … {self.population.n - 1}")
        view = self._residents.get(rid)
        return view if view is not None else Resident(self, rid, register=False)

    @property
    def space(self):
        """The town as a Mesa discrete space (`OrthogonalMooreGrid`) with property layers residents,
        public, cameras, grid_id, open_disputes and incidents (`sim.space`): built on first use,
        its layers that follow the run brought up to date whenever the model has stepped since."""
        from .space import town_space, update_space

        if self._space is None or self._space.dimensions != (self.town.width, self.town.height):
            self._space = town_space(self)
        elif self._space.gridsim_steps != self.steps:
            update_space(self._space, self)
        return self._space

    def _reporters(self) -> dict:
        d, c, pr = self.disputes, self.crime, self.perception
        rep = {
            "day": lambda m: m.steps - m.params.warmup_days,
            "disputes_new": lambda m: d.today["new"],
            "disputes_known": lambda m: d.today["reported"],
            "disputes_found_by_visit": lambda m: d.today["found_by_visit"],
            "disputes_resolved": lambda m: d.today["resolved"],
            "disputes_converted": lambda m: d.today["converted"],
            "disputes_open": lambda m: int(d.open_by_grid.sum()),
            "incidents": lambda m: c.today["incidents"],
            "incidents_known": lambda m: c.today["known"],
            "incidents_cleared": lambda m: c.today["cleared"],
            "safety_mean": lambda m: float(m.population.safety.mean()),
            "safety_share_safe": lambda m: pr.share_safe(),
            "survey_share_safe": lambda m: (pr.survey[-1]["share_safe"] if pr.survey and pr.survey[-1]["day"] == m.steps - m.params.warmup_days
                                            else np.nan),
            "trust_mean": lambda m: float(m.population.trust.mean()),
            "worker_utilisation": lambda m: m.grid_work.utilisation(m.day),
            "visits": lambda m: float(m.grid_work.visits_by_grid.sum()),
            "patrol_hours": lambda m: float(m.patrol_today.sum()),
        }
        for i, name in enumerate(RUNGS):
            rep[f"backlog_{name}"] = (lambda k: (lambda m: int(d.backlog[k])))(i)
        return rep
