"""Residents as numpy columns, and the light `Resident` Mesa agent that views one row.

At city scale (millions of residents) a Python object per resident would cost more than
the whole simulation, so every per-resident attribute is one array indexed by resident id
and every daily update is a whole-array operation.  A `Resident` agent is made on demand
(`model.resident(i)`, a view the model does not hold) for inspection or visualisation, and
for the sample a scenario tracks (DataCollector agent-type reporters).

Couplings: built from the town, the scenario (propensity shape, perception baselines) and
its own stream; the model hands the `Population` to the submodels.  Disputes and crime
only draw parties and victims from it and read `trust`; perception alone writes it
(safety, trust and the two memories).
"""

from __future__ import annotations

import mesa
import numpy as np


def _beta(rng, mean, sd, size):
    """Beta draws with the given mean and sd (sd is capped to what a Beta allows)."""
    var = min(sd * sd, 0.95 * mean * (1 - mean))
    common = mean * (1 - mean) / var - 1
    return rng.beta(mean * common, (1 - mean) * common, size=size).astype(np.float32)


class Population:
    """Per-resident state; residents are sorted by home cell (and so by grid)."""

    def __init__(self, town, scenario, rng: np.random.Generator):
        n = int(town.pop.sum())
        self.n = n
        self.home = np.repeat(np.arange(town.n_cells, dtype=np.int32), town.pop)
        self.grid = town.grid[self.home]
        self.grid_first = np.searchsorted(self.grid, np.arange(town.n_grids + 1)).astype(np.int64)
        d, p = scenario.disputes, scenario.perception
        k = d.propensity_shape
        propensity = rng.gamma(k, 1.0 / k, size=n)
        self.propensity_cum = np.cumsum(propensity)  # float64: sampling parties ∝ propensity
        self.base_safety = _beta(rng, p.safety_mean, p.safety_sd, n)
        self.safety = self.base_safety.copy()
        self.base_trust = _beta(rng, p.trust_mean, p.trust_sd, n)
        self.trust = self.base_trust.copy()
        self.victim_memory = np.zeros(n, np.float32)   # decaying count of own victimisations (violent ones weigh more)
        self.dispute_memory = np.zeros(n, np.float32)  # decaying count of own badly handled disputes

    def regridded(self, town) -> None:
        """After a regrid (a timeline): each resident's grid, and where each grid's residents begin."""
        self.grid = town.grid[self.home]
        self.grid_first = np.searchsorted(self.grid, np.arange(town.n_grids + 1)).astype(np.int64)

    def sample_by_propensity(self, rng, count: int) -> np.ndarray:
        """Residents drawn with probability ∝ propensity to fall into disputes."""
        u = rng.random(count) * self.propensity_cum[-1]
        return np.minimum(np.searchsorted(self.propensity_cum, u, side="right"), self.n - 1).astype(np.int64)

    def sample_in_grids(self, rng, grids: np.ndarray) -> np.ndarray:
        """One resident uniformly from each given grid."""
        a, b = self.grid_first[grids], self.grid_first[grids + 1]
        # a grid of empty cells has no one: fall back to its nearest resident
        return np.minimum(a + np.floor(rng.random(len(grids)) * (b - a)).astype(np.int64), self.n - 1)


class Resident(mesa.Agent):
    """A view of resident `rid`: attribute reads and writes go to the model's arrays.

    `register=False` (what `model.resident(i)` gives): a detached view that the model does not
    hold — not in `model.agents`, no `unique_id` — so looking at residents changes nothing.
    The residents a scenario tracks (`track_residents`) are registered views, so that Mesa's
    DataCollector agent-type reporters find them in the model's agent set."""

    _FIELDS = ("safety", "trust", "base_safety", "base_trust", "victim_memory", "dispute_memory")

    def __init__(self, model, rid: int, *, register: bool = True):
        if register:
            super().__init__(model)
        else:                       # what mesa.Agent.__init__ sets, without model.register_agent
            self.model, self.unique_id, self.pos = model, None, None
        self.rid = int(rid)

    def __getattr__(self, name):
        if name in Resident._FIELDS:
            return float(getattr(self.model.population, name)[self.rid])
        raise AttributeError(name)

    def __setattr__(self, name, value):
        if name in Resident._FIELDS:
            getattr(self.model.population, name)[self.rid] = value
        else:
            super().__setattr__(name, value)

    @property
    def home_cell(self) -> int:
        return int(self.model.population.home[self.rid])

    @property
    def grid(self) -> int:
        return int(self.model.population.grid[self.rid])

    def step(self) -> None:
        """Residents have no per-agent step: the population is updated as arrays."""
