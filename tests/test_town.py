"""The town (`sim.town.Town`): the nested partition grid ⊂ community ⊂ township, its
contiguity, its head counts and its camera placement, as properties over many sizes and
seeds.

Contiguity is 4-connectivity.  The town is a square laid out along the generalized
Hilbert ("gilbert") curve, whose consecutive cells are edge neighbours on a square (checked
below for every side up to 64); a grid is a run of consecutive cells, so its cells are
4-connected.  (On rectangles whose sides differ in parity the curve takes one diagonal
step, also checked below: a non-square town would only be 8-connected.)

Grid sizes: a grid is the cells whose middle resident falls in one window
[S_j, S_j + s_j) of the running resident count, so its first cell starts at most half a
cell before the window and its last ends at most half a cell after it: every grid but the
last holds s_j ± (largest cell) residents.  The window widths s_j are all
residents_per_grid (town.grid_size_cv = 0) or drawn uniformly around it with that CV
(`Town.grid_target`).  Communities are windows over grids and townships over communities,
all of one width, with the same bound one level up.

The partition checks run on sizes drawn by hypothesis and on a fixed list of awkward
cases (grids smaller than a cell, one grid for the whole town, lumpy or even cells).
cell_pop_cv is drawn from 0 or [0.001, 3]: a positive cv below ~1e-154 makes `Town` divide
by zero (cv² underflows), a defect reported rather than tested here.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

import sim
from sim.population import Population
from sim.town import Town, gilbert_order


def make_town(residents: int, per_grid: float, *, seed: int = 0, per_cell: float = 50.0, per_community: float = 4681.0,
              per_township: float = 78478.0, cv: float = 0.5, coverage: float = 0.5, area: float = 200.0,
              grid_cv: float = 0.0):
    sc = sim.Scenario().with_overrides({
        "population": residents, "scale": 1.0, "area_km2": area, "residents_per_grid": per_grid, "camera_coverage": coverage,
        "town.residents_per_cell": per_cell, "town.residents_per_community": per_community,
        "town.residents_per_township": per_township, "town.cell_pop_cv": cv, "town.grid_size_cv": grid_cv}, "test")
    rng = np.random.default_rng(seed)
    return sc, Town(sc, rng), rng


def components(town, unit_of_cell: np.ndarray) -> int:
    """Connected components of the graph joining edge-neighbour cells of the same unit."""
    layer = town.to_xy(np.arange(town.n_cells))                      # cell index at (x, y)
    pairs = [(layer[:-1, :], layer[1:, :]), (layer[:, :-1], layer[:, 1:])]
    a = np.concatenate([p[0].ravel() for p in pairs])
    b = np.concatenate([p[1].ravel() for p in pairs])
    same = unit_of_cell[a] == unit_of_cell[b]
    g = coo_matrix((np.ones(same.sum()), (a[same], b[same])), shape=(town.n_cells, town.n_cells))
    return connected_components(g, directed=False)[0]


def check_window_sizes(sizes: np.ndarray, target, biggest_part: float, what: str) -> None:
    """Every unit but the last holds its target ± (largest part) residents; the last at most its target + that."""
    target = np.broadcast_to(np.asarray(target, float), sizes.shape)
    assert np.all(np.abs(sizes[:-1] - target[:-1]) <= biggest_part + 1e-9), (
        f"{what}: sizes off their targets by up to {np.abs(sizes[:-1] - target[:-1]).max():.0f} > {biggest_part:.0f}")
    assert sizes[-1] <= target[-1] + biggest_part + 1e-9


def check_town(sc, town) -> None:
    n = town.n_cells
    R = sc.residents
    # the layout: a square of cells, each place once, covering the area
    assert town.width == town.height and n == town.width * town.height
    assert len({(int(x), int(y)) for x, y in zip(town.x, town.y)}) == n
    assert town.cell_km ** 2 * n == pytest.approx(sc.area)
    # residents add up, at every level
    assert town.pop.sum() == R and np.all(town.pop >= 0)
    np.testing.assert_array_equal(town.res_start, np.concatenate([[0], np.cumsum(town.pop)]))
    np.testing.assert_allclose(town.grid_pop, np.bincount(town.grid, weights=town.pop, minlength=town.n_grids))
    np.testing.assert_allclose(town.community_pop, np.bincount(town.cell_community, weights=town.pop, minlength=town.n_communities))
    np.testing.assert_allclose(town.township_pop, np.bincount(town.cell_township, weights=town.pop, minlength=town.n_townships))
    assert town.grid_pop.sum() == town.community_pop.sum() == town.township_pop.sum() == R

    # every cell in exactly one grid, every grid non-empty in cells; same one level up
    assert town.grid.shape == (n,) and town.grid.min() == 0
    np.testing.assert_array_equal(np.unique(town.grid), np.arange(town.n_grids))
    np.testing.assert_array_equal(np.unique(town.grid_community), np.arange(town.n_communities))
    np.testing.assert_array_equal(np.unique(town.community_township), np.arange(town.n_townships))
    # nesting: all cells of a grid share one community and one township, all of a community one township
    for unit, parent in ((town.grid, town.cell_community), (town.grid, town.cell_township),
                         (town.cell_community, town.cell_township)):
        lo = np.full(unit.max() + 1, np.iinfo(np.int64).max)
        hi = np.full(unit.max() + 1, -1)
        np.minimum.at(lo, unit, parent)
        np.maximum.at(hi, unit, parent)
        assert np.array_equal(lo, hi), "a unit straddles two parents"
    np.testing.assert_array_equal(town.cell_community, town.grid_community[town.grid])
    np.testing.assert_array_equal(town.cell_township, town.community_township[town.cell_community])
    np.testing.assert_array_equal(town.grid_township, town.community_township[town.grid_community])

    # contiguity: each grid, community and township is one 4-connected piece
    assert components(town, town.grid) == town.n_grids
    assert components(town, town.cell_community) == town.n_communities
    assert components(town, town.cell_township) == town.n_townships

    # sizes near their targets
    assert town.grid_target.shape == (town.n_grids,)
    if sc.town.grid_size_cv == 0:
        np.testing.assert_array_equal(town.grid_target, sc.residents_per_grid)
    else:   # drawn uniformly on residents_per_grid · (1 ± √3 cv)
        half = np.sqrt(3.0) * sc.town.grid_size_cv * sc.residents_per_grid
        assert np.all(np.abs(town.grid_target - sc.residents_per_grid) <= half * (1 + 1e-12))
    check_window_sizes(town.grid_pop, town.grid_target, town.pop.max(), "grids")
    check_window_sizes(town.community_pop, sc.town.residents_per_community, town.grid_pop.max(), "communities")
    check_window_sizes(town.township_pop, sc.town.residents_per_township, town.community_pop.max(), "townships")


TOWNS = [
    # residents, residents_per_grid, keywords
    (2000, 300, {}),
    (5000, 800, {"seed": 1}),
    (20_000, 800, {"seed": 2, "per_community": 2000.0, "per_township": 7000.0}),
    (20_000, 150, {"seed": 3, "cv": 2.0}),                              # lumpy cells
    (12_345, 20, {"seed": 4, "per_cell": 200.0}),                       # grids smaller than a cell
    (3000, 100_000, {"seed": 5}),                                       # one grid holds everyone
    (60_000, 2500, {"seed": 6, "per_cell": 15.0, "per_community": 9000.0, "per_township": 25_000.0}),
    (7777, 777, {"seed": 7, "cv": 0.0, "area": 3.0}),                   # dense, even cells
]


@pytest.mark.parametrize("residents,per_grid,kw", TOWNS, ids=[f"{r}-{g}-{i}" for i, (r, g, _) in enumerate(TOWNS)])
@pytest.mark.parametrize("grid_cv", [0.0, 0.17, 0.5])
def test_town_partition_properties(residents, per_grid, kw, grid_cv):
    sc, town, _ = make_town(residents, per_grid, grid_cv=grid_cv, **kw)
    check_town(sc, town)


@pytest.mark.parametrize("grid_cv", [0.1, 0.17, 0.3, 0.5])
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_grid_sizes_vary_with_the_cv_asked_for(grid_cv, seed):
    """Grids' residents have the CV asked for, within sampling error.  Cells of ~5 residents
    against grids of 800 make the partition's rounding (± half a cell at each end) negligible;
    the sample CV of n uniform draws has a standard error of about cv·√(0.8/(4n))·√(1 + 2cv²)
    (delta method, kurtosis 1.8); we allow 4 of them."""
    sc, town, _ = make_town(200_000, 800, seed=seed, per_cell=5.0, cv=0.0, grid_cv=grid_cv, per_community=5000.0,
                            per_township=50_000.0)
    sizes = town.grid_pop[:-1]
    n = len(sizes)
    assert n > 200
    got = sizes.std(ddof=1) / sizes.mean()
    se = grid_cv * np.sqrt(0.8 / (4 * n)) * np.sqrt(1 + 2 * grid_cv**2)
    assert abs(got - grid_cv) < 4 * se + 2 * town.pop.max() / 800 / np.sqrt(12), (got, grid_cv, se)
    assert sizes.mean() == pytest.approx(800, rel=4 * grid_cv / np.sqrt(n) + 0.01)
    check_town(sc, town)


def test_grid_sizes_are_the_town_streams_last_draws():
    """Drawing grid sizes changes nothing else the town draws (cells, residents, public
    space) and, at one seed, the same uniform draws scale every grid's target with
    residents_per_grid (common random numbers across grid sizes)."""
    _, a, _ = make_town(20_000, 800, seed=9, grid_cv=0.0)
    _, b, _ = make_town(20_000, 800, seed=9, grid_cv=0.17)
    _, c, _ = make_town(20_000, 1600, seed=9, grid_cv=0.17)
    np.testing.assert_array_equal(a.pop, b.pop)
    np.testing.assert_array_equal(a.public, b.public)
    assert not np.array_equal(a.grid, b.grid)
    # the first grid's relative size is the same draw at 800 and at 1,600
    assert b.grid_target[0] / 800 == pytest.approx(c.grid_target[0] / 1600, rel=1e-12)


@settings(max_examples=60, deadline=None, database=None)
@given(residents=st.integers(1, 40_000), per_grid=st.floats(20, 5000), per_cell=st.floats(5, 400),
       per_community=st.floats(100, 20_000), per_township=st.floats(1000, 80_000),
       cv=st.one_of(st.just(0.0), st.floats(1e-3, 3)), grid_cv=st.one_of(st.just(0.0), st.floats(1e-3, 0.5)),
       seed=st.integers(0, 2**32 - 1))
def test_town_partition_properties_hold_for_any_size(residents, per_grid, per_cell, per_community, per_township, cv, grid_cv, seed):
    sc, town, _ = make_town(residents, per_grid, seed=seed, per_cell=per_cell, per_community=per_community,
                            per_township=per_township, cv=cv, grid_cv=grid_cv)
    check_town(sc, town)


@pytest.mark.parametrize("residents,per_grid,kw", TOWNS[:4], ids=[f"{r}-{g}" for r, g, _ in TOWNS[:4]])
def test_population_follows_the_town(residents, per_grid, kw):
    """Residents are sorted by home cell: grid g's residents are one slice, as many as it holds."""
    sc, town, rng = make_town(residents, per_grid, **kw)
    pop = Population(town, sc, rng)
    assert pop.n == sc.residents
    assert np.all(np.diff(pop.home) >= 0)
    np.testing.assert_array_equal(np.bincount(pop.home, minlength=town.n_cells), town.pop)
    np.testing.assert_array_equal(np.diff(pop.grid_first), town.grid_pop.astype(int))
    np.testing.assert_array_equal(pop.grid, town.grid[pop.home])


@pytest.mark.parametrize("side", list(range(1, 65)))
def test_gilbert_curve_steps_to_an_edge_neighbour_on_a_square(side):
    x, y = gilbert_order(side, side)
    assert len(x) == side * side and len(set(zip(x.tolist(), y.tolist()))) == side * side
    assert x.min() == y.min() == 0 and x.max() == y.max() == side - 1
    assert np.all(np.abs(np.diff(x)) + np.abs(np.diff(y)) == 1)


@pytest.mark.parametrize("w,h", [(4, 5), (6, 9), (9, 6), (10, 3), (7, 7), (12, 8), (1, 9), (9, 1), (13, 20)])
def test_gilbert_curve_on_rectangles_takes_at_most_one_diagonal_step(w, h):
    x, y = gilbert_order(w, h)
    assert len(set(zip(x.tolist(), y.tolist()))) == w * h == len(x)
    dx, dy = np.abs(np.diff(x)), np.abs(np.diff(y))
    assert np.all(np.maximum(dx, dy) == 1)                 # always an 8-neighbour
    assert np.sum(dx + dy == 2) <= 1                       # at most one diagonal step


@pytest.mark.parametrize("coverage,near", [(0.0, 1), (0.3, 0), (0.5, 1), (1.0, 2)])
def test_cameras_cover_the_busiest_public_cells(coverage, near):
    """round(coverage × public cells) public cells are covered, none busier left out; a
    camera is "near" every cell within `near` cells (Chebyshev) of a covered one."""
    sc, town, rng = make_town(20_000, 800, seed=8, cv=1.0)
    n = town.place_cameras(coverage, rng, near)
    public = np.flatnonzero(town.public)
    assert n == round(coverage * len(public)) == town.covered.sum()
    assert np.all(town.public[town.covered])
    cov, unc = town.covered[public], ~town.covered[public]
    if cov.any() and unc.any():
        assert town.pop[public][cov].min() >= town.pop[public][unc].max()
    cx, cy = town.x[town.covered], town.y[town.covered]
    want = np.array([np.any(np.maximum(np.abs(cx - x), np.abs(cy - y)) <= near) for x, y in zip(town.x, town.y)])
    np.testing.assert_array_equal(town.near_camera, want)
    # public space is its share of the cells
    assert len(public) == max(1, round(sc.town.public_space_share * town.n_cells))
