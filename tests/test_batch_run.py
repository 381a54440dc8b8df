"""The model runs under Mesa's batch_run: parameters as keyword arguments, seeds via rng, the
run's outcomes (the catalogue's) and the DataCollector's other model reporters in every row; a
model stopped inside its warm-up says so; looking at residents adds nothing to the model; the
town is a Mesa discrete space whose property layers are the town's arrays."""

from __future__ import annotations

import math
import warnings

import mesa
import numpy as np
import pandas as pd
import pytest
from mesa.discrete_space import OrthogonalMooreGrid

import sim
from sim.catalogue import OUTCOMES
from sim.outcomes import summarise


def same(a, b) -> bool:
    return a == b or (pd.isna(a) and pd.isna(b))


def test_batch_run_grid_sizes_and_seeds():
    rows = mesa.batch_run(sim.GovernanceModel,
                          parameters={"residents_per_grid": [400, 1600], "days": 20, "scale": 0.02},
                          rng=[1, 2], number_processes=1, max_steps=1000, display_progress=False)
    assert len(rows) == 4
    df = pd.DataFrame(rows)
    reporters = set(sim.GovernanceModel(days=1, scale=0.02).datacollector.model_reporters)
    assert reporters, "the model has no model reporters"
    missing = reporters - set(df.columns)
    assert not missing, f"batch_run rows lack reporters {sorted(missing)}"
    # each run stopped at its own horizon (warm-up + 20 observed days), not at max_steps
    warmup = sim.load_scenario().warmup_days
    assert (df["Step"] == warmup + 20).all() and (df["day"] == 20).all()
    # every combination of grid size and seed is present once
    assert sorted(zip(df["residents_per_grid"], df["rng"])) == [(400, 1), (400, 2), (1600, 1), (1600, 2)]
    # the same grid size under two seeds gives two different towns
    for size, grp in df.groupby("residents_per_grid"):
        a, b = grp.sort_values("rng").to_dict("records")
        differ = [k for k in reporters if not (a[k] == b[k] or (isinstance(a[k], float) and math.isnan(a[k]) and math.isnan(b[k])))]
        assert "safety_mean" in differ and "trust_mean" in differ, f"grid {size}: seeds 1 and 2 gave the same run ({differ})"
    # and a batch_run row reproduces a direct run with the same arguments: every outcome of the
    # catalogue as summarise gives it (summary.json's numbers), and the last day of the other series
    direct = sim.GovernanceModel(rng=2, residents_per_grid=1600, days=20, scale=0.02).run()
    last = direct.datacollector.get_model_vars_dataframe().iloc[-1]
    outcomes = summarise(direct)
    row = df[(df["residents_per_grid"] == 1600) & (df["rng"] == 2)].iloc[0]
    assert set(OUTCOMES) <= set(df.columns), f"batch_run rows lack outcomes {sorted(set(OUTCOMES) - set(df.columns))}"
    for k in OUTCOMES:
        assert same(row[k], outcomes[k]), f"{k}: batch_run {row[k]!r} vs summarise {outcomes[k]!r}"
    for k in reporters - set(OUTCOMES):
        assert same(row[k], last[k]), f"{k}: batch_run {row[k]!r} vs direct {last[k]!r}"
    # a name both an outcome and a daily series: the row has the run's total, the frame the day's count
    assert row["disputes_resolved"] == outcomes["disputes_resolved"] > last["disputes_resolved"]
    assert set(direct.datacollector.get_model_vars_dataframe().columns) == reporters   # the daily series only


def test_max_steps_inside_the_warm_up_warns_once():
    with pytest.warns(UserWarning, match=r"inside its warm-up of 30 days.*max_steps ≥ 40") as record:
        rows = mesa.batch_run(sim.GovernanceModel, parameters={"days": 10, "scale": 0.02, "warmup_days": 30},
                              rng=[1, 2], number_processes=1, max_steps=12, display_progress=False)
    assert rows == []
    assert sum("warm-up" in str(w.message) for w in record) == 1      # one warning, not one per run or step
    with warnings.catch_warnings():            # a run that reaches its observed period: no warning
        warnings.simplefilter("error")
        rows = mesa.batch_run(sim.GovernanceModel, parameters={"days": 3, "scale": 0.02, "warmup_days": 2},
                              rng=[1], number_processes=1, max_steps=100, display_progress=False)
    assert len(rows) == 1 and rows[0]["days"] == 3


def test_resident_views_add_nothing_to_the_model():
    m = sim.GovernanceModel(rng=4, days=3, warmup_days=1, scale=0.02, overrides={"track_residents": 4})
    n_agents, tracked = len(m.agents), {r.rid for r in m.tracked}
    views = [m.resident(i) for i in range(0, m.population.n, 7)]
    assert len(m.agents) == n_agents                     # looking at residents adds no agent
    untracked = next(v for v in views if v.rid not in tracked)
    assert untracked not in m.agents and untracked.unique_id is None
    untracked.safety = 0.25                              # a view: writes go to the arrays
    assert m.population.safety[untracked.rid] == np.float32(0.25)
    assert m.resident(next(iter(tracked))) in m.agents   # a tracked resident is the registered view
    m.run()
    sample = m.datacollector.get_agenttype_vars_dataframe(sim.population.Resident)
    assert len(sample) == 4 * 3 and set(sample["rid"]) == tracked    # the DataCollector still records them
    with pytest.raises(IndexError):
        m.resident(m.population.n)


def test_space_property_layers_are_the_town():
    m = sim.GovernanceModel(rng=5, days=15, warmup_days=5, scale=0.05)
    assert m._space is None                              # not built until asked for
    m.run()
    space, town = m.space, m.town
    assert isinstance(space, OrthogonalMooreGrid) and space.dimensions == (town.width, town.height)
    assert len(space.all_cells) == town.n_cells
    x, y = town.x, town.y
    np.testing.assert_array_equal(space.residents.data[x, y], town.pop)
    np.testing.assert_array_equal(space.grid_id.data[x, y], town.grid)
    np.testing.assert_array_equal(space.public.data[x, y], town.public)
    per_cell = m.params.crime.cameras_per_covered_cell
    np.testing.assert_array_equal(space.cameras.data[x, y], town.covered * per_cell)
    assert space.cameras.data.sum() == pytest.approx(town.covered.sum() * per_cell)
    # open disputes: where the open ones' parties live, adding up to the model's count
    assert space.open_disputes.data.sum() == m.disputes.open_by_grid.sum()
    np.testing.assert_array_equal(np.bincount(space.grid_id.data.ravel(), weights=space.open_disputes.data.ravel(),
                                              minlength=town.n_grids), m.disputes.open_by_grid)
    tab = m.crime.table
    last_day = (tab.t_occur[: tab.n] >= (m.steps - 1) * 24) & (tab.t_occur[: tab.n] < m.steps * 24)
    assert space.incidents.data.sum() == last_day.sum()
    # Mesa's cell accessors read the same layers, and the dynamic ones follow the run
    cx, cy = int(x[0]), int(y[0])
    assert space[(cx, cy)].residents == town.pop[0] and space[(cx, cy)].grid_id == town.grid[0]
    before = space.open_disputes.data.copy()
    for _ in range(5):
        m.step()
    assert m.space is space and m.space.open_disputes.data.sum() == m.disputes.open_by_grid.sum()
    assert not np.array_equal(before, space.open_disputes.data) or before.sum() == 0


def test_mesa_space_renderer_draws_the_town():
    """Mesa's own SpaceRenderer (matplotlib backend) draws the space's property layers."""
    pytest.importorskip("solara", reason="mesa.visualization needs the app extra")
    from mesa.visualization import SpaceRenderer
    from mesa.visualization.components import PropertyLayerStyle

    m = sim.GovernanceModel(rng=6, days=5, warmup_days=2, scale=0.05).run()
    renderer = SpaceRenderer(m, backend="matplotlib")
    renderer.setup_propertylayer(lambda layer: PropertyLayerStyle(colormap="Oranges", colorbar=False)
                                 if layer.name in ("residents", "open_disputes") else None)
    renderer.draw_propertylayer()
    assert renderer.space is m.space and len(renderer.canvas.images) == 2
