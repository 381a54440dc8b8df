"""The model runs under Mesa's batch_run: parameters as keyword arguments, seeds via rng,
and the DataCollector's model reporters in every row."""

from __future__ import annotations

import math

import mesa
import pandas as pd

import sim


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
    # and a batch_run row reproduces a direct run with the same arguments
    direct = sim.GovernanceModel(rng=2, residents_per_grid=1600, days=20, scale=0.02).run()
    last = direct.datacollector.get_model_vars_dataframe().iloc[-1]
    row = df[(df["residents_per_grid"] == 1600) & (df["rng"] == 2)].iloc[0]
    for k in reporters:
        assert row[k] == last[k] or (pd.isna(row[k]) and pd.isna(last[k])), f"{k}: batch_run {row[k]!r} vs direct {last[k]!r}"
