"""Calibration (sim/analysis/calibration.py); the validation's tests are in test_validation.py.

- the fit recovers a parameter from a target the model itself made, within a tolerance
  derived from the replicate noise;
- bad requests are refused with one line, before any run, and nothing is written;
- the overlay it writes loads as a scenario and carries its provenance.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import sim
import sim.execute
from sim.analysis.calibration import calibrate, crn_seeds, write_overlay
from sim.catalogue import OUTCOMES
from sim.experiments.pool import Runner, RunSpec
from sim.cli import main
from sim.scenario import ScenarioError, load_scenario

TRUE_MEAN = 0.6
KEY = "population_share_safe"
SAFETY = "survey_expected_share_safe"     # what the validation fits Guigang to
PARAM = "perception.safety_mean"


def small(days: int = 60, **extra) -> sim.Scenario:
    """The default district at 5,000 residents."""
    return sim.Scenario().with_overrides({"scale": 0.05, "days": days, **extra})


@pytest.fixture(scope="module")
def recovered():
    """Target made by the model with safety_mean = 0.6 under seeds S'; fit under other seeds S."""
    base = small()
    with Runner(1) as runner:
        target_runs = runner.map([RunSpec(base, s, ((PARAM, TRUE_MEAN),), (KEY,)) for s in crn_seeds(500, 4)])
        y = np.array([r[KEY] for r in target_runs])
        cal = calibrate(base, {KEY: float(y.mean())}, [PARAM], replicates=4, seed=100, bounds={PARAM: (0.3, 0.9)},
                        target_se={KEY: 0.01}, runner=runner)
    return y, cal


def test_fit_recovers_a_known_parameter(recovered):
    y, cal = recovered
    assert cal.fit == [PARAM] and cal.start[PARAM] == pytest.approx(0.55)   # started elsewhere
    # tolerance from the noise: two independent means of R replicates differ by sd·√(2/R) in
    # the outcome; the slope of the outcome in the parameter turns that into parameter units
    sd = math.sqrt((np.var(y, ddof=1) + cal.targets[0]["model_sd"] ** 2) / 2)
    slope = cal.jacobian[PARAM][KEY]
    assert slope > 0.5                                   # safety rises with its baseline: the fit is identified
    tol = 4.0 * sd * math.sqrt(2 / len(cal.seeds)) / slope + 2e-3
    assert tol < 0.03, f"tolerance {tol:.3f} too wide for a meaningful test"
    assert abs(cal.fitted[PARAM] - TRUE_MEAN) < tol, f"fitted {cal.fitted[PARAM]:.4f}, true {TRUE_MEAN}, tol {tol:.4f}"
    assert abs(cal.targets[0]["residual"]) < 4 * sd
    assert cal.seeds == sim.execute.replicate_seeds(100, 4) and cal.success
    # common random numbers: every evaluation used the same seeds, so J is a function of θ alone
    thetas = [h["params"][PARAM] for h in cal.history]
    assert len(set(np.round(thetas, 12))) == len(thetas)


def test_overlay_loads_and_carries_provenance(recovered, tmp_path):
    _, cal = recovered
    base = tmp_path / "base.yaml"
    base.write_text("name: small\npopulation: 5000\narea_km2: 10\n", encoding="utf-8")
    path = write_overlay(cal, tmp_path / "fit" / "small.calibrated.yaml", base, name="small-calibrated")
    text = path.read_text(encoding="utf-8")
    assert "extends: ../base.yaml" in text
    sc = load_scenario(path)
    assert sc.name == "small-calibrated" and sc.population == 5000
    assert sc.perception.safety_mean == pytest.approx(cal.fitted[PARAM], abs=1e-6)
    src = sc.sources[PARAM]
    assert "calibrated" in src and KEY in src and "seed 100, replicates 0–3" in src and "fit error" in src
    record = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert record["fitted"][PARAM] == pytest.approx(cal.fitted[PARAM]) and record["seeds"] == cal.seeds


def test_two_parameters_with_powell():
    base = small(days=30)
    truth = {PARAM: 0.62, "perception.trust_mean": 0.5}
    with Runner(1) as runner:
        t = runner.map([RunSpec(base, s, tuple(truth.items()), (KEY, "trust_mean")) for s in crn_seeds(600, 2)])
        targets = {KEY: float(np.mean([r[KEY] for r in t])), "trust_mean": float(np.mean([r["trust_mean"] for r in t]))}
        cal = calibrate(base, targets, [PARAM, "perception.trust_mean"], replicates=2, seed=200,
                        target_se={KEY: 0.01, "trust_mean": 0.005}, uncertainty=False, maxiter=30, runner=runner)
    assert cal.method.startswith("minimize(Powell")
    assert abs(cal.fitted[PARAM] - 0.62) < 0.04
    assert abs(cal.fitted["perception.trust_mean"] - 0.5) < 0.04
    assert all(abs(t["z"]) < 3 for t in cal.targets)


def test_refusals_are_one_line_and_run_nothing(tmp_path):
    base = small(days=5)
    cases = [
        ({"survey_share": 0.8}, [PARAM], "unknown outcome"),
        ({KEY: 0.8}, ["perception.safety_mea"], "unknown parameter"),
        ({KEY: 0.8}, ["perception.w_victim"], "not an assumption"),         # its source is a survey: refused
        ({KEY: 0.8}, ["fulltime_ratio"], "not an assumption"),             # a documented lever in the default file
        ({KEY: 0.8}, ["ladder.grid.success"], "only plain real-valued"),
        ({KEY: 0.8}, [PARAM, "perception.w_disorder"], "not be identified"),
        ({"incidents_per_10k_year": 40.0}, None, "name the parameters"),
    ]
    with Runner(1) as runner:
        for targets, fit, msg in cases:
            with pytest.raises(ScenarioError, match=msg) as err:
                calibrate(base, targets, fit, runner=runner)
            assert "\n" not in str(err.value)
        assert runner.runs == 0
    # --force lets a documented parameter through (checked without running it)
    from sim.analysis.calibration import check_fit_param

    check_fit_param("perception.w_victim", base, force=True)
    # the scenario file's own provenance decides: Guigang's full-time share is an assumption there
    check_fit_param("fulltime_ratio", load_scenario(sim.scenario.ROOT / "scenarios" / "guigang_2015.yaml"))
    with pytest.raises(ScenarioError, match="not an assumption"):
        check_fit_param("fulltime_ratio", load_scenario(sim.scenario.ROOT / "scenarios" / "laibin.yaml"))
    assert SAFETY in OUTCOMES and KEY in OUTCOMES


@pytest.mark.parametrize("args,msg", [
    (["--target", "population_share_safe=abc"], "is not a number"),
    (["--target", "population_share_safe=0.8", "--fit", "perception.w_victim"], "use --force"),
    (["--target", "population_share_safe=0.8", "--bounds", "perception.safety_mean=0.9,0.1"], "LOW < HIGH"),
])
def test_cli_errors(args, msg, tmp_path, capsys):
    out = tmp_path / "o.yaml"
    rc = main(["calibrate", str(sim.scenario.ROOT / "scenarios" / "default.yaml"), *args, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and msg in err and err.count("\n") == 1 and err.startswith("gridsim: ")
    assert not out.exists()


def test_pool_gives_the_same_numbers_as_one_process():
    base = small(days=10)
    specs = [RunSpec(base, s, ((PARAM, 0.5),), (KEY, "incidents")) for s in (1, 2, 3)]
    with Runner(1) as one, Runner(2) as two:
        a, b = one.map(specs), two.map(specs)
    for x, y in zip(a, b):
        assert x[KEY] == y[KEY] and x["incidents"] == y["incidents"]
