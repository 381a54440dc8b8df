"""The town: cells, their property layers, and the grid / community / township partition.

Cells are stored in Hilbert-curve order, so a governance grid (a run of consecutive cells
whose residents add up to `residents_per_grid`) is a compact, contiguous block, and the
residents of one grid are one contiguous slice of the resident arrays.  Communities and
townships are runs of whole grids, so the three levels nest by construction.
"""

from __future__ import annotations

import math

import numpy as np
from mesa.discrete_space import PropertyLayer
from scipy.ndimage import maximum_filter


def hilbert_index(x: np.ndarray, y: np.ndarray, order: int) -> np.ndarray:
    """Position of each (x, y) on the Hilbert curve of a 2**order square (vectorised)."""
    x = x.astype(np.int64).copy()
    y = y.astype(np.int64).copy()
    d = np.zeros_like(x)
    s = 1 << (order - 1) if order > 0 else 0
    while s > 0:
        rx = (x & s) > 0
        ry = (y & s) > 0
        d += s * s * ((3 * rx) ^ ry)
        # rotate the quadrant
        flip = ~ry
        swap_x = np.where(flip & rx, s - 1 - x, x)
        swap_y = np.where(flip & rx, s - 1 - y, y)
        x = np.where(flip, swap_y, swap_x)
        y = np.where(flip, swap_x, swap_y)
        s >>= 1
    return d


def _runs(cum_start: np.ndarray, size: float) -> np.ndarray:
    """Consecutive ids 0..k-1 for blocks of `size` residents along the cumulative count."""
    raw = np.floor(cum_start / size).astype(np.int64)
    _, ids = np.unique(raw, return_inverse=True)
    return ids.astype(np.int32)


class Town:
    """Cells in Hilbert order with Mesa property layers and the nested partition."""

    def __init__(self, scenario, rng: np.random.Generator):
        t = scenario.town
        n_res = scenario.residents
        n_cells_needed = max(1, math.ceil(n_res / t.residents_per_cell))
        side = max(1, math.ceil(math.sqrt(n_cells_needed)))
        self.width = self.height = side
        self.n_cells = side * side
        self.cell_km = math.sqrt(scenario.area / self.n_cells)

        xs, ys = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
        xs, ys = xs.ravel(), ys.ravel()
        order = max(1, math.ceil(math.log2(side))) if side > 1 else 1
        perm = np.argsort(hilbert_index(xs, ys, order), kind="stable")
        self.x = xs[perm].astype(np.int32)
        self.y = ys[perm].astype(np.int32)

        # residents: denser at the centre, with cell-to-cell noise
        cx = cy = (side - 1) / 2.0
        r_km = np.hypot(self.x - cx, self.y - cy) * self.cell_km
        weight = t.rural_floor + (1.0 - t.rural_floor) * np.exp(-r_km / (t.centre_decay_share * side * self.cell_km))
        if t.cell_pop_cv > 0:
            k = 1.0 / t.cell_pop_cv**2
            weight = weight * rng.gamma(k, 1.0 / k, size=self.n_cells)
        self.pop = rng.multinomial(n_res, weight / weight.sum()).astype(np.int64)
        self.res_start = np.concatenate([[0], np.cumsum(self.pop)])  # residents of cell c: res_start[c]:res_start[c+1]

        # public space: a weighted sample (Efraimidis–Spirakis keys), weight ∝ residents + 1,
        # so busy places are likelier to be streets and markets
        n_public = max(1, int(round(t.public_space_share * self.n_cells)))
        score = np.log(rng.random(self.n_cells)) / (self.pop + 1.0)
        self.public = np.zeros(self.n_cells, bool)
        self.public[np.argsort(-score, kind="stable")[:n_public]] = True

        # partition: grids, communities, townships along the Hilbert order
        mid = self.res_start[:-1] + self.pop / 2.0
        self.grid = _runs(mid, scenario.residents_per_grid)
        self.n_grids = int(self.grid.max()) + 1
        self.grid_first_cell = np.searchsorted(self.grid, np.arange(self.n_grids + 1)).astype(np.int64)
        grid_start_res = self.res_start[self.grid_first_cell[:-1]].astype(float)
        grid_mid = grid_start_res + np.bincount(self.grid, weights=self.pop, minlength=self.n_grids) / 2.0
        self.grid_community = _runs(grid_mid, t.residents_per_community)
        self.n_communities = int(self.grid_community.max()) + 1
        comm_first_grid = np.searchsorted(self.grid_community, np.arange(self.n_communities))
        comm_start = grid_start_res[comm_first_grid]
        comm_pop = np.bincount(self.grid_community, weights=np.bincount(self.grid, weights=self.pop, minlength=self.n_grids),
                               minlength=self.n_communities)
        self.community_township = _runs(comm_start + comm_pop / 2.0, t.residents_per_township)
        self.n_townships = int(self.community_township.max()) + 1
        self.grid_township = self.community_township[self.grid_community]

        self.grid_pop = np.bincount(self.grid, weights=self.pop, minlength=self.n_grids)
        self.community_pop = comm_pop
        self.township_pop = np.bincount(self.community_township, weights=comm_pop, minlength=self.n_townships)
        self.cell_community = self.grid_community[self.grid]
        self.cell_township = self.grid_township[self.grid]

        self.covered = np.zeros(self.n_cells, bool)
        self.near_camera = np.zeros(self.n_cells, bool)

    # ------------------------------------------------------------------ cameras
    def place_cameras(self, coverage: float, rng: np.random.Generator) -> int:
        """Cover the busiest public cells first (key places before side streets)."""
        public = np.flatnonzero(self.public)
        n = int(round(coverage * len(public)))
        tiebreak = rng.random(len(public))
        order = np.lexsort((tiebreak, -self.pop[public]))
        self.covered[:] = False
        self.covered[public[order[:n]]] = True
        # a camera "near home": in the home cell or one of its eight neighbours
        self.near_camera = self.to_cells(maximum_filter(self.to_xy(self.covered).astype(np.uint8), size=3, mode="constant") > 0)
        return n

    # ------------------------------------------------------------------ layers
    def to_xy(self, values: np.ndarray) -> np.ndarray:
        """Per-cell values (Hilbert order) → a width × height array."""
        out = np.zeros((self.width, self.height), dtype=np.asarray(values).dtype)
        out[self.x, self.y] = values
        return out

    def to_cells(self, layer: np.ndarray) -> np.ndarray:
        return layer[self.x, self.y]

    def property_layers(self) -> dict[str, PropertyLayer]:
        """The cells' state as Mesa property layers (numpy-backed, width × height)."""
        layers = {
            "residents": self.pop,
            "public_space": self.public,
            "camera": self.covered,
            "grid": self.grid,
            "community": self.cell_community,
            "township": self.cell_township,
        }
        return {name: PropertyLayer.from_data(name, self.to_xy(v)) for name, v in layers.items()}

    def centroids(self, unit_of_cell: np.ndarray, n_units: int) -> tuple[np.ndarray, np.ndarray]:
        """Resident-weighted centre (x, y) of each unit, snapped to a cell of the unit."""
        w = self.pop + 1e-9
        cx = np.bincount(unit_of_cell, weights=w * self.x, minlength=n_units) / np.bincount(unit_of_cell, weights=w, minlength=n_units)
        cy = np.bincount(unit_of_cell, weights=w * self.y, minlength=n_units) / np.bincount(unit_of_cell, weights=w, minlength=n_units)
        return cx, cy
