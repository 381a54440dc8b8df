"""The town: cells, their properties, and the grid / community / township partition.

Cells are stored in the order of a generalized Hilbert curve (`gilbert_order`), so a governance grid (a run of consecutive cells
whose residents add up to its target: `residents_per_grid`, or drawn around it with CV
`town.grid_size_cv`) is a compact, contiguous block, and the
residents of one grid are one contiguous slice of the resident arrays.  Communities and
townships are runs of whole grids, so the three levels nest by construction.

Built from the scenario and the `town` stream; the model then places the cameras (the
`cameras` stream).  After that the town is read-only, shared by every submodel.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import maximum_filter


def gilbert_order(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Cells of a width × height rectangle along the generalized Hilbert ("gilbert") curve.

    Unlike the classic Hilbert curve, it stays inside any rectangle, so consecutive cells
    are neighbours and a run of cells (a grid) is one contiguous, compact block.  After
    J. Červený's gilbert2d (BSD-2-Clause).  Returns the x and y of each cell in curve order.
    """
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []

    def sgn(v):
        return (v > 0) - (v < 0)

    def run(x, y, dx, dy, n):
        xs.append(x + dx * np.arange(n))
        ys.append(y + dy * np.arange(n))

    def gen(x, y, ax, ay, bx, by):
        w, h = abs(ax + ay), abs(bx + by)
        dax, day, dbx, dby = sgn(ax), sgn(ay), sgn(bx), sgn(by)
        if h == 1:
            return run(x, y, dax, day, w)
        if w == 1:
            return run(x, y, dbx, dby, h)
        ax2, ay2, bx2, by2 = ax // 2, ay // 2, bx // 2, by // 2
        w2, h2 = abs(ax2 + ay2), abs(bx2 + by2)
        if 2 * w > 3 * h:
            if w2 % 2 and w > 2:
                ax2, ay2 = ax2 + dax, ay2 + day
            gen(x, y, ax2, ay2, bx, by)
            gen(x + ax2, y + ay2, ax - ax2, ay - ay2, bx, by)
        else:
            if h2 % 2 and h > 2:
                bx2, by2 = bx2 + dbx, by2 + dby
            gen(x, y, bx2, by2, ax2, ay2)
            gen(x + bx2, y + by2, ax, ay, bx - bx2, by - by2)
            gen(x + (ax - dax) + (bx2 - dbx), y + (ay - day) + (by2 - dby), -bx2, -by2, -(ax - ax2), -(ay - ay2))

    if width >= height:
        gen(0, 0, width, 0, 0, height)
    else:
        gen(0, 0, 0, height, width, 0)
    return np.concatenate(xs).astype(np.int32), np.concatenate(ys).astype(np.int32)


def _runs(cum_start: np.ndarray, size: float) -> np.ndarray:
    """Consecutive ids 0..k-1 for blocks of `size` residents along the cumulative count."""
    raw = np.floor(cum_start / size).astype(np.int64)
    _, ids = np.unique(raw, return_inverse=True)
    return ids.astype(np.int32)


def grid_windows(n_res: int, mean: float, cv: float, rng: np.random.Generator) -> np.ndarray:
    """Target residents of consecutive grids along the curve, enough to cover `n_res`: drawn
    uniformly on mean · (1 ± √3·cv) (so their CV is `cv`), in chunks from `rng` until they do."""
    half = math.sqrt(3.0) * cv * mean
    chunk = int(math.ceil(n_res / mean * 1.2)) + 8
    sizes: list[np.ndarray] = []
    total = 0.0
    while total <= n_res:
        draw = mean + half * (2.0 * rng.random(chunk) - 1.0)
        sizes.append(draw)
        total += float(draw.sum())
    return np.concatenate(sizes)


def _apportion(quota: np.ndarray) -> np.ndarray:
    """Whole numbers ≥ 1 adding up to round(Σ quota) (or more, where a quota < 1 is raised to 1), by largest
    remainders: communities of nearly equal size would otherwise all round the same way."""
    base = np.floor(quota).astype(np.int64)
    extra = int(round(float(quota.sum()))) - int(base.sum())
    if extra > 0:
        base[np.argsort(-(quota - base), kind="stable")[:extra]] += 1
    return np.maximum(base, 1)


class Town:
    """Cells in curve order with their per-cell arrays and the nested partition."""

    def __init__(self, scenario, rng: np.random.Generator):
        t = scenario.town
        n_res = scenario.residents
        n_cells_needed = max(1, math.ceil(n_res / t.residents_per_cell))
        side = max(1, math.ceil(math.sqrt(n_cells_needed)))
        self.width = self.height = side
        self.n_cells = side * side
        self.cell_km = math.sqrt(scenario.area / self.n_cells)

        self.x, self.y = gilbert_order(side, side)

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

        # partition: grids, communities, townships along the curve.  A grid is the cells whose
        # middle resident falls in its window of the running resident count; windows are all
        # residents_per_grid wide, or (grid_size_cv > 0) of drawn widths — the town stream's
        # last draws, so every draw above stays as it was
        mid = self.res_start[:-1] + self.pop / 2.0
        if t.grid_size_cv > 0:
            widths = grid_windows(n_res, scenario.residents_per_grid, t.grid_size_cv, rng)
            ends = np.cumsum(widths)
            window, self.grid = np.unique(np.searchsorted(ends, mid, side="right"), return_inverse=True)
            self.grid = self.grid.astype(np.int32)
            self.grid_target = widths[window]      # each grid's drawn target residents
        else:
            self.grid = _runs(mid, scenario.residents_per_grid)
            self.grid_target = np.full(int(self.grid.max()) + 1, float(scenario.residents_per_grid))
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
        self._regrid_u: np.ndarray | None = None      # uniforms of grid widths drawn at the first regrid (timelines)

    # ------------------------------------------------------------------ cameras
    def place_cameras(self, coverage: float, rng: np.random.Generator, near_cells: int = 1) -> int:
        """Cover the busiest public cells first (key places before side streets).  The order is kept, so a
        later change of coverage (`recover`) adds or takes down cameras at its end, never reshuffles."""
        public = np.flatnonzero(self.public)
        n = int(round(coverage * len(public)))
        tiebreak = rng.random(len(public))
        order = np.lexsort((tiebreak, -self.pop[public]))
        self._coverage_order = public[order]
        self._cover(public[order[:n]], near_cells)
        return n

    def place_camera_stock(self, cameras: int, village_share: float, per_cell: float, rng: np.random.Generator,
                           near_cells: int = 1) -> int:
        """Hang a stock of `cameras` and return the public cells they cover (ODD §7, cameras).

        round(village_share × communities) communities get cameras, the densest (residents per
        cell) first: cities wire their towns first and reach the sparse villages last, and a
        community's residents are fixed by the partition, so density is what tells them apart
        (the `cameras` stream breaks ties).  Only communities with a public cell can be chosen.
        Each takes cameras_per_covered_cell cameras per covered cell: first every chosen
        community's busiest public cell (a village "has a camera"; the densest communities
        first when cameras are short), then the busiest remaining public cells of the chosen
        communities.  Cameras beyond their public cells add no coverage.  The draws are kept, so
        a later stock or share (`recover`) adds or takes down cameras without reshuffling."""
        self._comm_key = rng.random(self.n_communities)
        self._cell_key = np.full(self.n_cells, np.nan)
        return self._hang_stock(cameras, village_share, per_cell, rng, near_cells)

    def _hang_stock(self, cameras: int, village_share: float, per_cell: float, rng, near_cells: int) -> int:
        n_comm = self.n_communities
        has_public = np.bincount(self.cell_community, weights=self.public, minlength=n_comm) > 0
        density = self.community_pop / np.maximum(np.bincount(self.cell_community, minlength=n_comm), 1)
        order_c = np.lexsort((self._comm_key, -density, ~has_public))
        chosen = order_c[: int(round(village_share * n_comm))]
        rank = np.full(n_comm, n_comm)
        rank[chosen[has_public[chosen]]] = np.arange(int(has_public[chosen].sum()))
        cand = np.flatnonzero(self.public & (rank[self.cell_community] < n_comm))
        fresh = cand[np.isnan(self._cell_key[cand])]
        self._cell_key[fresh] = rng.random(len(fresh))      # at the start: every candidate, in cell order
        cand = cand[np.lexsort((self._cell_key[cand], -self.pop[cand]))]             # busiest first
        first = np.zeros(len(cand), bool)
        first[np.unique(self.cell_community[cand], return_index=True)[1]] = True     # each community's busiest
        cand = cand[np.lexsort((np.arange(len(cand)), np.where(first, rank[self.cell_community[cand]], n_comm)))]
        n = min(len(cand), int(math.floor(cameras / per_cell + 1e-9)))
        self._cover(cand[:n], near_cells)
        return n

    def recover(self, *, coverage: float | None, cameras: int, village_share: float, per_cell: float,
                rng: np.random.Generator, near_cells: int) -> int:
        """Cameras changed during a run (a timeline): by the coverage lever, or as a stock.  The orders
        drawn when the cameras were first hung are kept, so cells keep their cameras where they can; draws
        needed only now (a switch between the two ways, a community reached for the first time) come from
        `rng` (the cameras stream).  Returns the covered public cells."""
        if coverage is not None:
            if getattr(self, "_coverage_order", None) is None:
                public = np.flatnonzero(self.public)
                self._coverage_order = public[np.lexsort((rng.random(len(public)), -self.pop[public]))]
            n = int(round(coverage * len(self._coverage_order)))
            self._cover(self._coverage_order[:n], near_cells)
            return n
        if getattr(self, "_comm_key", None) is None:
            self._comm_key = rng.random(self.n_communities)
            self._cell_key = np.full(self.n_cells, np.nan)
        return self._hang_stock(cameras, village_share, per_cell, rng, near_cells)

    def _cover(self, cells: np.ndarray, near_cells: int) -> None:
        self.covered[:] = False
        self.covered[cells] = True
        # a camera "near home": within `near_cells` cells (1: the home cell and its eight neighbours)
        self.near_camera = self.to_cells(maximum_filter(self.to_xy(self.covered).astype(np.uint8), size=2 * near_cells + 1,
                                                        mode="constant") > 0)

    # ------------------------------------------------------------------ regrid (timelines)
    def regrid(self, residents_per_grid: float, cv: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Cut the town's cells into new grids during a run; communities and townships stay as they are.

        The town gets round(residents / residents_per_grid) grids, shared among the communities in
        proportion to their residents (largest remainders; at least one each), and each community is cut
        along the curve into its grids, of equal shares of its residents, or (cv > 0) of shares drawn uniformly on 1 ± √3·cv and
        scaled to the community, so grids still nest in communities.  The shares come from uniforms drawn
        once, at the first regrid (the `town` stream): a grid count that does not change leaves the grids as
        they are.  Returns (old grid of each cell, new grid of each old grid: the one holding its middle
        resident), which carry per-grid state over."""
        old_grid, old_first = self.grid, self.grid_first_cell
        n_comm = self.n_communities
        comm_first_cell = np.searchsorted(self.cell_community, np.arange(n_comm + 1))
        comm_start = self.res_start[comm_first_cell[:-1]].astype(float)
        comm_pop = self.res_start[comm_first_cell[1:]] - self.res_start[comm_first_cell[:-1]]
        n_g = _apportion(comm_pop / residents_per_grid)
        g_first = np.concatenate([[0], np.cumsum(n_g)])
        comm_of = np.repeat(np.arange(n_comm), n_g)
        k = np.arange(g_first[-1]) - g_first[comm_of]                 # each window's place in its community
        if cv > 0:
            cap = np.ceil(comm_pop / 20.0).astype(np.int64) + 1      # residents_per_grid ≥ 20: enough for any count
            u_first = np.concatenate([[0], np.cumsum(cap)])
            if self._regrid_u is None:
                self._regrid_u = rng.random(int(u_first[-1]))
            width = 1.0 + math.sqrt(3.0) * cv * (2.0 * self._regrid_u[u_first[comm_of] + k] - 1.0)
        else:
            width = np.ones(len(k))
        cum = np.cumsum(width)
        before = np.concatenate([[0.0], cum])[g_first[comm_of]]       # widths of the community's earlier windows
        total = (np.concatenate([[0.0], cum])[g_first[1:]] - np.concatenate([[0.0], cum])[g_first[:-1]])[comm_of]
        ends = comm_start[comm_of] + (cum - before) / total * comm_pop[comm_of]
        mid = self.res_start[:-1] + self.pop / 2.0
        window = np.searchsorted(ends, mid, side="right")
        window = np.clip(window, g_first[self.cell_community], g_first[self.cell_community + 1] - 1)
        kept, self.grid = np.unique(window, return_inverse=True)
        self.grid = self.grid.astype(np.int32)
        self.grid_target = (width / total * comm_pop[comm_of])[kept]     # each grid's target residents
        self.n_grids = int(self.grid.max()) + 1
        self.grid_first_cell = np.searchsorted(self.grid, np.arange(self.n_grids + 1)).astype(np.int64)
        self.grid_community = self.cell_community[self.grid_first_cell[:-1]]
        self.grid_township = self.community_township[self.grid_community]
        self.grid_pop = np.bincount(self.grid, weights=self.pop, minlength=self.n_grids)
        # each old grid goes to the new grid holding its middle resident
        start = self.res_start[old_first[:-1]].astype(float)
        size = self.res_start[old_first[1:]] - self.res_start[old_first[:-1]]
        cell = np.clip(np.searchsorted(self.res_start, start + size / 2.0, side="right") - 1, old_first[:-1], old_first[1:] - 1)
        return old_grid, self.grid[cell]

    def carry(self, values: np.ndarray, old_grid: np.ndarray) -> np.ndarray:
        """Per-grid values of the old grids → the new grids' resident-weighted means (after `regrid`)."""
        w = self.pop + 1e-9
        v = np.asarray(values, float)[old_grid]
        return np.bincount(self.grid, weights=w * v, minlength=self.n_grids) / np.bincount(self.grid, weights=w, minlength=self.n_grids)

    # ------------------------------------------------------------------ cells ↔ 2-D
    def to_xy(self, values: np.ndarray) -> np.ndarray:
        """Per-cell values (curve order) → a width × height array."""
        out = np.zeros((self.width, self.height), dtype=np.asarray(values).dtype)
        out[self.x, self.y] = values
        return out

    def to_cells(self, layer: np.ndarray) -> np.ndarray:
        return layer[self.x, self.y]

    def centroids(self, unit_of_cell: np.ndarray, n_units: int) -> tuple[np.ndarray, np.ndarray]:
        """Resident-weighted centre (x, y) of each unit (a point, not necessarily a cell of it)."""
        w = self.pop + 1e-9
        cx = np.bincount(unit_of_cell, weights=w * self.x, minlength=n_units) / np.bincount(unit_of_cell, weights=w, minlength=n_units)
        cy = np.bincount(unit_of_cell, weights=w * self.y, minlength=n_units) / np.bincount(unit_of_cell, weights=w, minlength=n_units)
        return cx, cy
