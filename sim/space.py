"""The town as a Mesa discrete space: an `OrthogonalMooreGrid` of the town's cells with property layers.

The model keeps the town as per-cell numpy arrays in curve order (`sim.town`); Mesa's
components (SolaraViz's space drawers, `select_cells`, neighbourhoods) want a
`mesa.discrete_space` grid.  `town_space(model)` builds one — width × height cells, cell
(x, y) is the town's cell at x, y — with these `PropertyLayer`s (each a width × height array,
`space.<name>.data[x, y]`):

| layer | dtype | what |
|---|---|---|
| `residents` | int64 | residents whose home is the cell |
| `public` | bool | public space (streets, markets: where street crime and cameras are) |
| `cameras` | float64 | cameras hung on the cell (covered cells × `crime.cameras_per_covered_cell`) |
| `grid_id` | int64 | the governance grid (网格) the cell belongs to |
| `open_disputes` | int64 | disputes of residents living there, begun and not ended (hidden ones included), now |
| `incidents` | int64 | crime incidents on the cell during the last simulated day |

`update_space(space, model)` rewrites the layers in place from the model (a timeline can regrid
the town or hang cameras during a run), and `GovernanceModel.space` — built on first use, so
runs that never draw the town pay nothing — does so whenever the model has stepped since.
Building costs one Python object per cell (Mesa's `Cell`): milliseconds for the few hundred
cells of a small town, seconds for a whole city's 10⁵ cells; an update is a few whole-array
operations.  No agent is placed on the cells: residents are arrays (`sim.population`), and a
layer says how many live where.
"""

from __future__ import annotations

import numpy as np
from mesa.discrete_space import OrthogonalMooreGrid, PropertyLayer

from .disputes import IN_LADDER, LATENT

#: the layers `town_space` adds, each (dtype, per-cell values in curve order from the model)
LAYERS = {
    "residents": (np.int64, lambda m: m.town.pop),
    "public": (bool, lambda m: m.town.public),
    "cameras": (np.float64, lambda m: m.town.covered * float(m.params.crime.cameras_per_covered_cell)),
    "grid_id": (np.int64, lambda m: m.town.grid),
    "open_disputes": (np.int64, lambda m: open_disputes_by_cell(m)),
    "incidents": (np.int64, lambda m: incidents_by_cell(m) if m.steps > 0 else np.zeros(m.town.n_cells, np.int64)),
}


def town_space(model) -> OrthogonalMooreGrid:
    """A new Mesa grid of `model`'s town with its property layers, up to date (see the module's doc)."""
    town = model.town
    space = OrthogonalMooreGrid((town.width, town.height), torus=False, random=model.random)
    for name, (dtype, _) in LAYERS.items():
        space.add_property_layer(PropertyLayer(name, (town.width, town.height), default_value=dtype(0), dtype=dtype))
    return update_space(space, model)


def open_disputes_by_cell(model) -> np.ndarray:
    """Per cell (curve order): disputes begun and not ended — hidden or on the ladder."""
    tab = model.disputes.table
    st = tab.status[: tab.n]
    open_ = (st == LATENT) | (st == IN_LADDER)
    return np.bincount(tab.cell[: tab.n][open_], minlength=model.town.n_cells)


def incidents_by_cell(model, day: int | None = None) -> np.ndarray:
    """Per cell (curve order): incidents that occurred on `day` (default: the last day simulated)."""
    day = model.steps - 1 if day is None else day
    inc = model.crime.table
    t = inc.t_occur[: inc.n]
    today = (t >= day * 24.0) & (t < (day + 1) * 24.0)
    return np.bincount(inc.cell[: inc.n][today], minlength=model.town.n_cells)


def update_space(space: OrthogonalMooreGrid, model) -> OrthogonalMooreGrid:
    """Rewrite every layer from the model, in place (Mesa's cell accessors keep pointing at the arrays)."""
    town = model.town
    for name, (_, values) in LAYERS.items():
        layer = getattr(space, name).data
        layer[:] = 0
        layer[town.x, town.y] = values(model)
    space.gridsim_steps = model.steps
    return space
