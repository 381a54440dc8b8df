"""The warm-up: simulated, not counted, the observed period carries on from it seamlessly; a file
without `warmup_days` gets the default one, and a run still drifting after it is flagged."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import sim
from sim.outcomes import summarise
from sim.scenario.loader import DEFAULT_WARMUP_DAYS
from sim.warmup import MIN_WINDOW_DAYS, drift, is_default


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


# --------------------------------------------------------------------------- warm by default (issue 14 item 3)
def test_a_file_without_warmup_days_gets_the_default_warmup(tmp_path):
    plain = tmp_path / "plain.yaml"
    plain.write_text("name: plain\npopulation: 3000\narea_km2: 6\n")
    s = sim.load_scenario(plain)
    assert s.warmup_days == DEFAULT_WARMUP_DAYS == 365 and is_default(s)
    assert not is_default(sim.load_scenario(plain, {"warmup_days": 30}))          # --set wins, and is not the default
    cold = tmp_path / "cold.yaml"
    cold.write_text("name: cold\nwarmup_days: 0\n")
    assert sim.load_scenario(cold).warmup_days == 0 and not is_default(sim.load_scenario(cold))
    child = tmp_path / "child.yaml"                                                # inherited through extends: the parent's
    child.write_text("extends: cold.yaml\nname: child\n")
    assert sim.load_scenario(child).warmup_days == 0
    assert not is_default(sim.load_scenario())                                     # scenarios/default.yaml sets its own


def test_run_says_the_warmup_is_the_default_and_records_it(tmp_path, capsys):
    from sim.cli import main

    plain = tmp_path / "plain.yaml"
    plain.write_text("name: plain\npopulation: 2000\narea_km2: 4\ndays: 20\n")
    assert main(["run", str(plain), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert err.strip().splitlines() == [f"gridsim: note: {plain} sets no warmup_days: simulating the default 365-day "
                                        "warm-up before the observed period"]
    assert "after a 365-day (default) warm-up" in out.strip().splitlines()[-1]
    warm = json.loads((tmp_path / "o" / "summary.json").read_text())["warmup"]
    assert warm["days"] == 365 and warm["default"] is True and warm["flag"] is False
    assert warm["drift"]["tested"] is False and warm["drift"]["window_days"] == 20 < MIN_WINDOW_DAYS   # too short to test


def _frame(safety, backlog):
    n = len(safety)
    return pd.DataFrame({"day": range(1, n + 1), "safety_share_safe": safety, "backlog_grid": backlog,
                         "backlog_community": 0 * backlog})


def test_drift_rule_needs_both_significance_and_size():
    rng = np.random.default_rng(1)
    days = np.arange(180)
    flat = _frame(0.77 + 0.002 * rng.standard_normal(180), 20 + rng.poisson(5, 180).astype(float))
    assert drift(flat)["flag"] is False
    falling = _frame(0.80 - 0.05 * days / 365 + 0.002 * rng.standard_normal(180), flat["backlog_grid"].to_numpy())
    d = drift(falling)["series"]["safety_share_safe"]
    assert d["drifts"] and d["slope_per_year"] == pytest.approx(-0.05, abs=0.003) and d["t"] < -3
    small = _frame(0.80 - 0.01 * days / 365, flat["backlog_grid"].to_numpy())       # significant, but 1 point a year
    assert drift(small)["series"]["safety_share_safe"]["t"] < -3 and drift(small)["flag"] is False
    rising = _frame(flat["safety_share_safe"].to_numpy(), 10 + 40 * days / 365 + rng.poisson(2, 180))   # +400 %/yr
    assert drift(rising)["series"]["backlog"]["drifts"] and drift(rising)["flag"]


def test_drift_flags_a_cold_start_and_not_the_default_warmup():
    """50,000 residents of the default district: a cold start drifts (−5…−7 points of felt
    safety a year), after the default year of warm-up it does not (−0.6…−1.9)."""
    from sim.execute import execute
    from sim.warmup import warmup_summary

    base = sim.load_scenario().with_overrides({"scale": 0.5, "days": 180})
    warm = warmup_summary(execute(base, 2, keep_model=True).model)
    cold = warmup_summary(execute(base.with_overrides({"warmup_days": 0}), 2, keep_model=True).model)
    assert cold["flag"] and cold["drift"]["series"]["safety_share_safe"]["slope_per_year"] < -0.04
    assert not warm["flag"] and abs(warm["drift"]["series"]["safety_share_safe"]["slope_per_year"]) < 0.025
