"""gridsim's daily resident update written the plain Mesa way, for a like-for-like speed ratio.

gridsim keeps residents as numpy columns and updates them all at once each day
(`Perception.update`: the day's own victimisations, closed disputes and closed incidents
land on the residents concerned; memories decay; trust relaxes toward its anchor; each
resident's safety target is formed from its grid's and cell's terms and its own memories and
trust; safety moves toward it; a survey on survey days).  `MesaResidents` does the same with
one `mesa.Agent` per resident holding its own state, the shocks applied agent by agent and a
`step()` a day called through the model's `AgentSet`, as Mesa's tutorials write a model.  What
is the same for everyone in a grid or community (hearsay, disorder, visits, patrol) is computed
once per grid in both versions (with the same numpy code, `Perception._grid_terms`), so the
ratio measures the residents alone.

Both versions replay the same recorded days of a real gridsim run (the messages the model
handed to perception each evening) from the same starting population; `compare` checks that
they end with the same safety and trust (float32 against Python floats) and times each.
"""

from __future__ import annotations

import copy
import math
import time

import mesa
import numpy as np

from .model import GovernanceModel
from .perception import BASICALLY_SAFE, Perception
from .scenario import load_scenario

COLUMNS = ("safety", "trust", "victim_memory", "dispute_memory")


def record_days(residents: int, days: int, seed: int = 1):
    """Run the default district at `residents` (its densities kept, no warm-up) for `days`; return the
    model, the population's perception columns before day 0, and each day's messages to perception."""
    scenario = load_scenario().with_overrides({"population": residents, "area_km2": residents / 500.0, "days": days,
                                               "warmup_days": 0, "scale": 1.0}, "bench-mesa")
    model = GovernanceModel(scenario, rng=seed)
    start = {c: getattr(model.population, c).copy() for c in COLUMNS}
    days_seen: list[tuple[int, dict]] = []
    real = model.perception.update

    def recording(day, **messages):
        days_seen.append((day, copy.deepcopy(messages)))
        real(day, **messages)

    model.perception.update = recording
    model.run()
    return model, start, days_seen


def replay_vectorised(model, start: dict, days_seen, repeats: int = 5) -> tuple[float, Perception]:
    """Seconds for gridsim's own `Perception.update` over the recorded days, from `start`: the median of
    `repeats` replays (one replay lasts milliseconds, so a single one is at the mercy of the scheduler)."""
    times = []
    for _ in range(repeats):
        pop = copy.copy(model.population)
        for c in COLUMNS:
            setattr(pop, c, start[c].copy())
        p = model.params
        perc = Perception(p.perception, model.town, pop, rng=np.random.default_rng(0), households=model.grid_work.households,
                          warmup_days=p.warmup_days, days=p.days)
        t0 = time.perf_counter()
        for day, messages in days_seen:
            perc.update(day, **messages)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), perc


class ResidentAgent(mesa.Agent):
    """One resident: its own felt safety, trust, baselines and memories, and one day of them in `step()`."""

    def __init__(self, model, home: int, base_safety: float, base_trust: float, safety: float, trust: float):
        super().__init__(model)
        self.home = home
        self.base_safety, self.base_trust = base_safety, base_trust
        self.safety, self.trust = safety, trust
        self.victim_memory = 0.0
        self.dispute_memory = 0.0

    def step(self) -> None:
        m = self.model
        p = m.p
        self.victim_memory *= m.victim_decay
        self.dispute_memory *= m.dispute_decay
        self.trust = min(max(self.trust, 0.0), 1.0)
        anchor = min(self.base_trust + m.trust_lift, 1.0)
        self.trust += p.trust_relax_daily * (anchor - self.trust)
        target = (m.cell_term[self.home] + self.base_safety + p.w_trust * (self.trust - p.trust_mean)
                  - p.w_victim * self.victim_memory - p.w_dispute * self.dispute_memory)
        target = min(max(target, 0.0), 1.0)
        if m.day == 0:
            self.safety = target
        else:
            self.safety += p.adapt_daily * (target - self.safety)


class MesaResidents(mesa.Model):
    """The residents of `model` as Mesa agents (from the perception columns in `start`), with the town-level
    signals (per grid and community) kept as gridsim keeps them; `day(day, **messages)` is one day."""

    def __init__(self, model, start: dict, seed: int = 0):
        super().__init__(rng=seed)
        pp, pop, town = model.params.perception, model.population, model.town
        self.p, self.town = pp, town
        # the grid- and community-level state (not per resident), in a Perception used only as its holder
        self.signals = Perception(pp, town, pop, rng=np.random.default_rng(seed), households=model.grid_work.households,
                                  warmup_days=model.params.warmup_days, days=model.params.days)
        self.victim_decay = math.exp(-1.0 / pp.victim_memory_days)
        self.dispute_decay = math.exp(-1.0 / pp.dispute_memory_days)
        self.safe_cut = float(pp.cutpoints[BASICALLY_SAFE - 1])
        self.warmup_days, self.days = model.params.warmup_days, model.params.days
        self.day, self.trust_lift, self.cell_term = 0, 0.0, []
        self.survey: list[dict] = []
        self.residents = [ResidentAgent(self, int(h), float(bs), float(bt), float(s), float(t)) for h, bs, bt, s, t in
                          zip(pop.home, pop.base_safety, pop.base_trust, start["safety"], start["trust"])]

    def day_step(self, day: int, *, incidents, closed_disputes, closed_incidents, visits_by_grid,
                 visible_patrol_per_1000, open_by_grid) -> None:
        p, s, town, R = self.p, self.signals, self.town, self.residents
        self.day = day
        for v, violent in zip(incidents.victim.tolist(), incidents.violent.tolist()):      # own victimisation
            R[v].victim_memory += p.victim_injury_factor if violent else 1.0
        cd = closed_disputes
        for a, b, conv, hours in zip(cd.party_a.tolist(), cd.party_b.tolist(), cd.converted.tolist(), cd.hours.tolist()):
            fast = 0.0 if math.isnan(hours) else math.exp(-hours / p.trust_time_hours)
            d_trust = -p.trust_loss_unhandled if conv else p.trust_gain * fast - p.trust_loss * (1 - fast)
            bad = p.bad_converted if conv else 1.0 - fast
            for r in (R[a], R[b]):
                r.trust += d_trust
                r.dispute_memory += bad
        relief = np.zeros(town.n_communities)
        n_cleared = 0
        ci = closed_incidents
        for v, cleared, resp, t_occur, grid in zip(ci.victim.tolist(), ci.cleared.tolist(), ci.response_hours.tolist(),
                                                   ci.t_occur.tolist(), ci.grid.tolist()):
            quick = 0.0 if math.isnan(resp) else math.exp(-resp / p.response_time_hours)
            R[v].trust += (p.trust_gain_cleared if cleared else -p.trust_loss_uncleared) + p.trust_response * (2.0 * quick - 1.0)
            if cleared:
                n_cleared += 1
                relief[town.grid_community[grid]] += p.cleared_relief * s.hearsay_decay ** (day - math.floor(t_occur / 24.0))
        # town-level signals, per community and grid (as gridsim computes them)
        heard = np.bincount(town.grid_community[incidents.grid], minlength=town.n_communities) if len(incidents) else 0.0
        s.hearsay = np.maximum(s.hearsay + heard - relief, 0.0) * s.hearsay_decay
        s.publicity = (s.publicity + n_cleared * s.per_10k) * s.publicity_decay
        s.visit_rate += (visits_by_grid * 30.0 / s.households - s.visit_rate) / p.visit_memory_days
        s.patrol_per_1000 = np.asarray(visible_patrol_per_1000, float)
        s.disorder_per_1000 = open_by_grid * s.grid_per_1000
        self.cell_term = (sum(s._grid_terms().values())[town.grid] + p.w_camera * town.near_camera).tolist()
        self.trust_lift = s.trust_lift()
        self.agents.do("step")                                   # every resident's own day
        od = day + 1 - self.warmup_days
        last = self.survey[-1]["day"] if self.survey else 0
        if od > 0 and (od % p.survey_every_days == 0 or (od == self.days and od - last >= p.survey_every_days / 2)):
            self.take_survey(od)

    def take_survey(self, od: int) -> None:
        asked = self.random.sample(self.residents, min(self.p.survey_n, len(self.residents)))
        safe = sum(r.safety + self.random.gauss(0.0, self.p.answer_noise_sd) >= self.safe_cut for r in asked)
        everyone = sum(r.safety >= self.safe_cut for r in self.residents)
        self.survey.append({"day": od, "n": len(asked), "share_safe": safe / len(asked),
                            "population_share_safe": everyone / len(self.residents)})


def replay_mesa(model, start: dict, days_seen) -> tuple[float, float, MesaResidents]:
    """Seconds to create the agents, seconds for the recorded days, and the Mesa model."""
    t0 = time.perf_counter()
    m = MesaResidents(model, start)
    t1 = time.perf_counter()
    for day, messages in days_seen:
        m.day_step(day, **messages)
    return t1 - t0, time.perf_counter() - t1, m


def compare(residents: int = 5_000, days: int = 60, seed: int = 1) -> dict:
    """The like-for-like measurement: both versions over the same recorded days; resident-days per second
    of each, their ratio, and how far apart they end (max |Δ| of safety and trust)."""
    model, start, days_seen = record_days(residents, days, seed)
    n = model.population.n
    vec_s, perc = replay_vectorised(model, start, days_seen)
    build_s, mesa_s, m = replay_mesa(model, start, days_seen)
    safety = np.array([r.safety for r in m.residents])
    trust = np.array([r.trust for r in m.residents])
    rd = n * len(days_seen)
    return {"residents": n, "days": len(days_seen), "vectorised_seconds": vec_s, "vectorised_timing": "median of 5 replays",
            "mesa_seconds": mesa_s, "mesa_timing": "one replay", "mesa_agent_creation_seconds": build_s,
            "vectorised_resident_days_per_s": rd / vec_s, "mesa_resident_days_per_s": rd / mesa_s,
            "ratio": mesa_s / vec_s,
            "max_abs_diff_safety": float(np.abs(safety - perc.population.safety).max()),
            "max_abs_diff_trust": float(np.abs(trust - perc.population.trust).max()),
            "what": "perception's daily resident update (sim.perception.Perception.update) against the same update with one "
                    "mesa.Agent per resident and a step() a day (sim.bench_mesa), replaying the same recorded days"}
