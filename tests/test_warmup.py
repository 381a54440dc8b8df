"""The warm-up: simulated, not counted, and the observed period carries on from it seamlessly."""

from __future__ import annotations

import numpy as np

import sim
from sim.outcomes import summarise


def test_warmup_is_simulated_but_not_counted():
    m = sim.GovernanceModel(rng=4, scale=0.05, days=40, warmup_days=40).run()
    assert m.steps == 80
    daily = m.datacollector.get_model_vars_dataframe()
    assert daily["day"].tolist() == list(range(1, 41))
    s = summarise(m)
    onset = m.disputes.table.onset[: m.disputes.table.n]
    assert s["disputes"] == int((onset >= 40 * 24).sum()) == daily["disputes_new"].sum()
    assert (onset < 40 * 24).sum() > 0          # the warm-up had disputes of its own
    assert all(1 <= sv["day"] <= 40 for sv in m.perception.survey)


def test_observed_period_is_not_distorted_by_the_warmup():
    """Day-indexed bookkeeping (busy hours per day) must cover warm-up + observed days:
    utilisation in the observed period stays what it was at its start."""
    m = sim.GovernanceModel(rng=4, scale=0.1, days=60, warmup_days=60).run()
    u = m.datacollector.get_model_vars_dataframe()["worker_utilisation"].to_numpy()
    # halves of the observed period: same level within a generous tolerance (daily sd ≈ 0.01)
    assert abs(u[:30].mean() - u[30:].mean()) < 0.05
