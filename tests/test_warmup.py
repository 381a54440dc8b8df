"""The warm-up: simulated, not counted, and the observed period carries on from it seamlessly."""

from __future__ import annotations

import numpy as np

import sim
from sim.outcomes import summarise


def test_warmup_is_simulated_but_not_counted():
    """40 warm-up + 40 observed days are the same simulation as 80 days without warm-up
    (same seed): the warm-up is simulated, not skipped.  What is reported is the second
    half of that plain run, as its own daily counters saw it: nothing of the warm-up counts."""
    m = sim.GovernanceModel(rng=4, scale=0.05, days=40, warmup_days=40).run()
    plain = sim.GovernanceModel(rng=4, scale=0.05, days=80, warmup_days=0).run()
    assert m.steps == plain.steps == 80
    # simulated: the same disputes and incidents, the same residents' state at the end
    assert m.disputes.table.frame().equals(plain.disputes.table.frame())
    assert m.crime.table.frame().equals(plain.crime.table.frame())
    assert np.array_equal(m.population.safety, plain.population.safety)
    # not counted: the daily series is the plain run's last 40 days, the outcomes count what began in them
    daily, whole = m.datacollector.get_model_vars_dataframe(), plain.datacollector.get_model_vars_dataframe()
    assert daily["day"].tolist() == list(range(1, 41))
    same = [c for c in daily.columns if c not in ("day", "survey_share_safe")]   # (survey dates differ)
    assert daily[same].reset_index(drop=True).equals(whole[same].iloc[40:].reset_index(drop=True))
    s = summarise(m)
    assert s["disputes"] == whole["disputes_new"].iloc[40:].sum()
    assert s["incidents"] == whole["incidents"].iloc[40:].sum()
    assert whole["disputes_new"].iloc[:40].sum() > 0 and whole["incidents"].iloc[:40].sum() > 0   # the warm-up had its own
    assert all(1 <= sv["day"] <= 40 for sv in m.perception.survey)


def test_observed_period_is_not_distorted_by_the_warmup():
    """Day-indexed bookkeeping (busy hours per day) must cover warm-up + observed days:
    utilisation in the observed period stays what it was at its start."""
    m = sim.GovernanceModel(rng=4, scale=0.1, days=60, warmup_days=60).run()
    u = m.datacollector.get_model_vars_dataframe()["worker_utilisation"].to_numpy()
    # halves of the observed period: same level within a generous tolerance (daily sd ≈ 0.01)
    assert abs(u[:30].mean() - u[30:].mean()) < 0.05
