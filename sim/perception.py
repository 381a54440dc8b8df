"""Perceived safety, trust and the survey (ODD submodel 7 and the observation).

Each resident's perceived safety `s ∈ [0, 1]` moves each day a step `adapt_daily` toward
a target: its own baseline plus one term per channel of the fear-of-crime literature
(`docs/ODD.md` §7.9 gives each with its source):

1. direct victimisation — a decaying memory of one's own victimisations, a violent one
   (robbery, assault) counting `victim_injury_factor`;
2. indirect victimisation — incidents in one's community heard of by word of mouth or grid
   chat groups, whether or not the police know of them: a decaying count per community
   (mean field: a resident hears `hear_share` of them); a cleared incident then weighs
   `1 − cleared_relief`;
3. disorder — open disputes (known or hidden) per 1,000 residents of one's grid;
4. visible guardianship — grid workers' visits and visible police patrol, each saturating;
5. confidence in police and government — trust above its mean raises safety; trust moves
   with one's own disputes, one's own incidents (cleared or not, how fast an officer came)
   and, for everyone, with publicised solved cases in the town;
6. a camera near home (small);

and one's own badly handled disputes.  Grid- and community-level signals are computed on
those units and gathered to residents in one indexing operation; nothing here loops over
residents.

The survey asks `survey_n` residents; an answer is the resident's `s` plus answer noise,
cut into five categories by `cutpoints`.  The reported "safety %" is the share at or above
*basically safe* (the top three of five answers), as the cities report.

Couplings (wired by `GovernanceModel`; nothing here reads another submodel): receives at
construction the `perception` section, the town, the population, its stream `rng`
(survey sampling and answer noise), the households per grid (GridWork's) and the
warm-up and observed days; receives each day, in `update(day, ...)`, the day's messages —
`incidents` (`crime.IncidentsToday`: every incident that occurred today), `closed_disputes`
(`disputes.ClosedDisputes`), `closed_incidents` (`crime.ClosedIncidents`), `visits_by_grid`
(GridWork), `visible_patrol_per_1000` (`crime.visible_patrol_per_1000`, the same figure
guardianship uses) and `open_by_grid` (disputes).  It writes only the population's
perception columns (safety, trust, memories) and `survey`.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np

ANSWERS = ("unsafe", "not very safe", "basically safe", "safe", "very safe")
BASICALLY_SAFE = ANSWERS.index("basically safe")  # answers from here up count as "safe"
CHANNELS = ("victim", "hearsay", "disorder", "visits", "patrol", "trust", "camera", "dispute")


def survey_calendar(first: date, days: int, every_days: int) -> frozenset[int]:
    """Observed day numbers (1 = `first`) of the surveys under a calendar: the last day of every k-th
    calendar month, k = round(every_days / 30.44) (91 days: quarter ends, as Guangxi surveys; 365: year ends)."""
    k = max(1, round(every_days / (365.25 / 12)))
    out = set()
    for od in range(1, days + 1):
        d = first + timedelta(days=od)             # the day after observed day od
        if d.day == 1:                              # od is the last day of a month
            last = first + timedelta(days=od - 1)
            if (last.year * 12 + last.month) % k == 0:
                out.add(od)
    return frozenset(out)


class Perception:
    def __init__(self, perception, town, population, *, rng, households, warmup_days: int, days: int, calendar=None):
        self.town, self.population, self.rng = town, population, rng
        self.households = households
        self.warmup_days, self.days = warmup_days, days
        self.calendar = calendar            # the date of the first observed day, or None (no calendar)
        self.retune(perception)
        self.grid_per_1000 = 1000.0 / np.maximum(town.grid_pop, 1.0)
        self.per_10k = 1e4 / max(population.n, 1)
        self.visit_rate = np.zeros(town.n_grids)   # visits per household per month (moving average)
        self.patrol_per_1000 = np.zeros(town.n_grids)
        self.disorder_per_1000 = np.zeros(town.n_grids)
        self.hearsay = np.zeros(town.n_communities)  # decaying count of incidents per community, cleared ones relieved
        self.publicity = 0.0                         # decaying count of cleared incidents per 10,000 residents, town-wide
        self.survey: list[dict] = []

    def retune(self, perception) -> None:
        """Read the weights, memories and survey rules from the section (at the start, and when a timeline
        changes them: memories keep what they hold and decay at the new pace from then on)."""
        p = self.p = perception
        self.victim_decay = np.float32(math.exp(-1.0 / p.victim_memory_days))
        self.dispute_decay = np.float32(math.exp(-1.0 / p.dispute_memory_days))
        self.hearsay_decay = math.exp(-1.0 / p.hearsay_memory_days)
        self.publicity_decay = math.exp(-1.0 / p.publicity_memory_days)
        # answer a ≥ k exactly when felt safety ≥ cutpoints[k-1]
        self.safe_cut = np.float32(p.cutpoints[BASICALLY_SAFE - 1])
        self.survey_days = None if self.calendar is None else survey_calendar(self.calendar, self.days, p.survey_every_days)

    def regridded(self, old_grid: np.ndarray, households: np.ndarray) -> None:
        """After a regrid: the grids' remembered visit rates carried to the new grids (resident-weighted), the
        rest recomputed; residents' own memories and the communities' hearsay are untouched."""
        town = self.town
        self.visit_rate = town.carry(self.visit_rate, old_grid)
        self.households = households
        self.grid_per_1000 = 1000.0 / np.maximum(town.grid_pop, 1.0)
        self.patrol_per_1000 = town.carry(self.patrol_per_1000, old_grid)
        self.disorder_per_1000 = np.zeros(town.n_grids)

    # ------------------------------------------------------------------ daily update
    def update(self, day: int, *, incidents, closed_disputes, closed_incidents, visits_by_grid,
               visible_patrol_per_1000, open_by_grid) -> None:
        """One day of perception from the day's messages (see the module docstring)."""
        p, pop, town = self.p, self.population, self.town
        # --- 1. own victimisation: a violent incident counts victim_injury_factor
        if len(incidents):
            shock = np.where(incidents.violent, p.victim_injury_factor, 1.0).astype(np.float32)
            np.add.at(pop.victim_memory, incidents.victim, shock)
        # --- own disputes: trust and the memory of bad handling
        if len(closed_disputes):
            cd = closed_disputes
            fast = np.exp(-np.nan_to_num(cd.hours, nan=np.inf) / p.trust_time_hours)
            d_trust = np.where(cd.converted, -p.trust_loss_unhandled, p.trust_gain * fast - p.trust_loss * (1 - fast))
            bad = np.where(cd.converted, p.bad_converted, 1.0 - fast).astype(np.float32)
            parties = np.concatenate([cd.party_a, cd.party_b])
            np.add.at(pop.trust, parties, np.tile(d_trust, 2).astype(np.float32))
            np.add.at(pop.dispute_memory, parties, np.tile(bad, 2))
        # --- own incidents closed by the police: cleared or not, and how fast an officer came
        relief = np.zeros(town.n_communities)
        n_cleared = 0
        if len(closed_incidents):
            ci = closed_incidents
            quick = np.exp(-np.nan_to_num(ci.response_hours, nan=np.inf) / p.response_time_hours)
            d_trust = (np.where(ci.cleared, p.trust_gain_cleared, -p.trust_loss_uncleared)
                       + p.trust_response * (2.0 * quick - 1.0))
            np.add.at(pop.trust, ci.victim, d_trust.astype(np.float32))
            # 2. residents hear of clearances too: a cleared incident's remaining weight is cut by cleared_relief
            cleared = ci.cleared
            n_cleared = int(cleared.sum())
            age = day - np.floor(ci.t_occur[cleared] / 24.0)
            np.add.at(relief, town.grid_community[ci.grid[cleared]], p.cleared_relief * self.hearsay_decay ** age)
        # --- 2. hearsay: every incident that occurred in the community, known to the police or not
        heard = np.bincount(town.grid_community[incidents.grid], minlength=town.n_communities) if len(incidents) else 0.0
        self.hearsay = np.maximum(self.hearsay + heard - relief, 0.0) * self.hearsay_decay
        # --- 5. publicity: solved cases per 10,000 residents, town-wide
        self.publicity = (self.publicity + n_cleared * self.per_10k) * self.publicity_decay

        # --- 3, 4. grid signals: disorder, visits (per household per month, as residents remember them), patrol
        self.visit_rate += (visits_by_grid * 30.0 / self.households - self.visit_rate) / p.visit_memory_days
        self.patrol_per_1000 = np.asarray(visible_patrol_per_1000, float)
        self.disorder_per_1000 = open_by_grid * self.grid_per_1000
        grid_term = self._grid_terms()
        cell_term = (sum(grid_term.values())[town.grid] + p.w_camera * town.near_camera).astype(np.float32)

        # --- whole-population update: a handful of array operations
        pop.victim_memory *= self.victim_decay
        pop.dispute_memory *= self.dispute_decay
        np.clip(pop.trust, 0.0, 1.0, out=pop.trust)
        anchor = np.minimum(pop.base_trust + np.float32(self.trust_lift()), np.float32(1.0))   # lifted by publicity
        pop.trust += np.float32(p.trust_relax_daily) * (anchor - pop.trust)
        target = cell_term[pop.home]
        target += pop.base_safety
        target += np.float32(p.w_trust) * (pop.trust - np.float32(p.trust_mean))
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
        due = od % p.survey_every_days == 0 if self.survey_days is None else od in self.survey_days
        if od > 0 and (due or final):
            self.survey.append(self.take_survey(od))
            if self.calendar is not None:
                self.survey[-1]["date"] = (self.calendar + timedelta(days=od - 1)).isoformat()

    def trust_lift(self) -> float:
        """Rise of everyone's trust anchor from publicised solved cases (channel 5)."""
        return self.p.w_publicity * self.p.publicity_share * self.publicity

    def _grid_terms(self) -> dict[str, np.ndarray]:
        """The channels that are the same for every resident of a grid, per grid (float64)."""
        p, town = self.p, self.town
        return {
            "hearsay": -p.w_hearsay * p.hear_share * self.hearsay[town.grid_community],
            "disorder": -p.w_disorder * self.disorder_per_1000,
            "visits": p.w_visit * -np.expm1(-self.visit_rate / p.visit_saturation),
            "patrol": p.w_patrol * -np.expm1(-self.patrol_per_1000 / p.patrol_saturation),
        }

    def channels(self) -> dict[str, np.ndarray]:
        """Each channel's term in every resident's safety target, as it stands (float64, for
        diagnostics): the target is clip(base_safety + Σ terms, 0, 1) with the trust term
        taken after today's trust update."""
        p, pop, town = self.p, self.population, self.town
        grid = self._grid_terms()
        return {
            "victim": -p.w_victim * pop.victim_memory.astype(float),
            **{k: v[pop.grid] for k, v in grid.items()},
            "trust": p.w_trust * (pop.trust.astype(float) - p.trust_mean),
            "camera": p.w_camera * town.near_camera[pop.home].astype(float),
            "dispute": -p.w_dispute * pop.dispute_memory.astype(float),
        }

    def channel_means(self) -> dict[str, float]:
        """Population mean of each channel's term in the safety target."""
        return {k: float(v.mean()) for k, v in self.channels().items()}

    # ------------------------------------------------------------------ observation
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
        with np.errstate(over="ignore"):     # a tiny noise sd sends z to ±inf, where sf is exact (0 or 1)
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
                "population_share_safe": self.share_safe(), "expected_share_safe": self.expected_share_safe()}

    def spread_across_grids(self) -> float:
        """Standard deviation, across grids, of grid mean perceived safety."""
        pop, town = self.population, self.town
        means = np.bincount(pop.grid, weights=pop.safety, minlength=town.n_grids) / np.maximum(
            np.bincount(pop.grid, minlength=town.n_grids), 1)
        return float(np.std(means))
