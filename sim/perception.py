"""Perceived safety, trust and the survey (ODD submodel 7 and the observation).

Each resident's perceived safety `s ∈ [0, 1]` moves each day a step `adapt_daily` toward
a target: its own baseline, lowered by remembered victimisation, by known crime and by
unresolved disputes in its grid, and by its own badly handled disputes; raised by grid
workers' visits, by visible police patrols and (a little) by a camera near home.  Grid- and
cell-level signals are computed on the cells and gathered to residents in one indexing
operation; nothing here loops over residents.

The survey asks `survey_n` residents; an answer is the resident's `s` plus answer noise,
cut into five categories by `cutpoints`.  The reported "safety %" is the share at or above
*basically safe* (the top three of five answers), as the cities report.

Couplings (wired by `GovernanceModel`; nothing here reads another submodel): receives at
construction the `perception` section, the town, the population, its stream `rng`
(survey sampling and answer noise), the households per grid (GridWork's) and the
warm-up and observed days; receives each day, in `update(day, ...)`, the day's messages —
`victims` (crime), `closed_disputes` (`disputes.ClosedDisputes`), `closed_incidents`
(`crime.ClosedIncidents`), `visits_by_grid` (GridWork), `visible_patrol_per_1000`
(`crime.visible_patrol_per_1000`, the same figure guardianship uses), `open_by_grid`
(disputes) and `area_crime` (crime's faded memory of known incidents per grid).  It writes
only the population's perception columns (safety, trust, memories) and `survey`.
"""

from __future__ import annotations

import math

import numpy as np

ANSWERS = ("unsafe", "not very safe", "basically safe", "safe", "very safe")
BASICALLY_SAFE = ANSWERS.index("basically safe")  # answers from here up count as "safe"


class Perception:
    def __init__(self, perception, town, population, *, rng, households, warmup_days: int, days: int):
        p = perception
        self.p, self.town, self.population, self.rng = p, town, population, rng
        self.households = households
        self.warmup_days, self.days = warmup_days, days
        self.victim_decay = np.float32(math.exp(-1.0 / p.victim_memory_days))
        self.dispute_decay = np.float32(math.exp(-1.0 / p.dispute_memory_days))
        # answer a ≥ k exactly when felt safety ≥ cutpoints[k-1]
        self.safe_cut = np.float32(p.cutpoints[BASICALLY_SAFE - 1])
        self.grid_per_1000 = 1000.0 / np.maximum(town.grid_pop, 1.0)
        self.visit_rate = np.zeros(town.n_grids)   # visits per household per month (moving average)
        self.patrol_per_1000 = np.zeros(town.n_grids)
        self.survey: list[dict] = []

    def update(self, day: int, *, victims, closed_disputes, closed_incidents, visits_by_grid,
               visible_patrol_per_1000, open_by_grid, area_crime) -> None:
        """One day of perception from the day's messages (see the module docstring)."""
        p, pop, town = self.p, self.population, self.town
        # --- events of the day touch only the residents involved
        if len(victims):
            np.add.at(pop.victim_memory, victims, np.float32(1.0))
        if len(closed_disputes):
            cd = closed_disputes
            fast = np.exp(-np.nan_to_num(cd.hours, nan=np.inf) / p.trust_time_hours)
            d_trust = np.where(cd.converted, -p.trust_loss_unhandled, p.trust_gain * fast - p.trust_loss * (1 - fast))
            bad = np.where(cd.converted, p.bad_converted, 1.0 - fast).astype(np.float32)
            parties = np.concatenate([cd.party_a, cd.party_b])
            np.add.at(pop.trust, parties, np.tile(d_trust, 2).astype(np.float32))
            np.add.at(pop.dispute_memory, parties, np.tile(bad, 2))
        if len(closed_incidents):
            ci = closed_incidents
            np.add.at(pop.trust, ci.victim, np.where(ci.cleared, p.trust_gain_cleared, -p.trust_loss_uncleared).astype(np.float32))

        # --- grid and cell signals (small arrays)
        # visits per household per month (30 days), as residents remember them
        self.visit_rate += (visits_by_grid * 30.0 / self.households - self.visit_rate) / p.visit_memory_days
        self.patrol_per_1000 = visible_patrol_per_1000
        grid_term = (p.w_visit * self.visit_rate + p.w_patrol * self.patrol_per_1000
                     - p.w_area_crime * area_crime * self.grid_per_1000
                     - p.w_disorder * open_by_grid * self.grid_per_1000)
        cell_term = (grid_term[town.grid] + p.w_camera * town.near_camera).astype(np.float32)

        # --- whole-population update: a handful of array operations
        pop.victim_memory *= self.victim_decay
        pop.dispute_memory *= self.dispute_decay
        np.clip(pop.trust, 0.0, 1.0, out=pop.trust)
        pop.trust += np.float32(p.trust_relax_daily) * (pop.base_trust - pop.trust)
        target = pop.base_safety + cell_term[pop.home]
        target -= np.float32(p.w_victim) * pop.victim_memory
        target -= np.float32(p.w_dispute) * pop.dispute_memory
        np.clip(target, 0.0, 1.0, out=target)
        if day == 0:
            # start at the town's own level rather than at bare baselines; memories still build
            # up from zero, which the warm-up (warmup_days) absorbs
            pop.safety[:] = target
        else:
            pop.safety += np.float32(p.adapt_daily) * (target - pop.safety)

        od = day + 1 - self.warmup_days  # observed day number, 1 = first observed day
        last = self.survey[-1]["day"] if self.survey else 0
        final = od == self.days and od - last >= p.survey_every_days / 2
        if od > 0 and (od % p.survey_every_days == 0 or final):
            self.survey.append(self.take_survey(od))

    def share_safe(self) -> float:
        pop = self.population
        return float(np.count_nonzero(pop.safety >= self.safe_cut)) / pop.n

    def expected_share_safe(self) -> float:
        """The share a survey of *everyone* would report as at least 'basically safe': each
        resident's chance that its felt safety plus the answer noise clears the cut-point,
        averaged over all residents.  It is what a sample survey estimates, without the
        sampling error of its respondents; it differs from `share_safe` (no answer noise)
        by the noise's blur around the cut-point."""
        from scipy.stats import norm

        s = self.population.safety.astype(np.float64)
        cut = float(self.p.cutpoints[BASICALLY_SAFE - 1])
        if self.p.answer_noise_sd <= 0:
            return float(np.mean(s >= cut))
        return float(np.mean(norm.sf((cut - s) / self.p.answer_noise_sd)))

    def answers(self, ids: np.ndarray) -> np.ndarray:
        """Survey answers 0 (unsafe) … 4 (very safe) of the given residents."""
        pop, rng = self.population, self.rng
        felt = pop.safety[ids] + rng.normal(0.0, self.p.answer_noise_sd, len(ids))
        return np.searchsorted(np.asarray(self.p.cutpoints), felt, side="right")

    def take_survey(self, day: int) -> dict:
        """Ask `survey_n` random residents; `day` is the observed day number it is dated."""
        pop, rng = self.population, self.rng
        n = min(self.p.survey_n, pop.n)
        ids = rng.choice(pop.n, size=n, replace=False)
        a = self.answers(ids)
        share = float(np.mean(a >= BASICALLY_SAFE))
        counts = np.bincount(a, minlength=len(ANSWERS))
        return {"day": day, "n": n, "share_safe": share, "se": math.sqrt(max(share * (1 - share), 1e-12) / n),
                **{f"answer_{k.replace(' ', '_')}": int(v) for k, v in zip(ANSWERS, counts)},
                "population_share_safe": self.share_safe()}

    def spread_across_grids(self) -> float:
        """Standard deviation, across grids, of grid mean perceived safety."""
        pop, town = self.population, self.town
        means = np.bincount(pop.grid, weights=pop.safety, minlength=town.n_grids) / np.maximum(
            np.bincount(pop.grid, minlength=town.n_grids), 1)
        return float(np.std(means))
