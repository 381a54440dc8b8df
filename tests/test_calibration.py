"""Calibration and validation (sim/calibration.py, sim/validation.py).

- the fit recovers a parameter from a target the model itself made, within a tolerance
  derived from the replicate noise;
- bad requests are refused with one line, before any run, and nothing is written;
- the overlay it writes loads as a scenario and carries its provenance;
- `validate` (at a tiny internal size) writes validation.json with its fields;
- the held-out Guigang prediction never uses the held-out figure.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

import sim
from sim.calibration import Runner, RunSpec, calibrate, crn_seeds, outcome_keys, write_overlay
from sim.cli import main
from sim.scenario import ScenarioError, load_scenario
from sim.validation import GUIGANG_2015, PRESETS, SAFETY, guigang_holdout, run_validation

TRUE_MEAN = 0.6
KEY = "population_share_safe"
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
    assert cal.seeds == [100, 101, 102, 103] and cal.success
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
    assert "calibrated" in src and KEY in src and "seeds 100–103" in src and "fit error" in src
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
        ({"survey_share": 0.8}, [PARAM], "unknown outcome key"),
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
    from sim.calibration import check_fit_param

    check_fit_param("perception.w_victim", base, force=True)
    # the scenario file's own provenance decides: Guigang's full-time share is an assumption there
    check_fit_param("fulltime_ratio", load_scenario(sim.scenario.ROOT / "scenarios" / "guigang_2015.yaml"))
    with pytest.raises(ScenarioError, match="not an assumption"):
        check_fit_param("fulltime_ratio", load_scenario(sim.scenario.ROOT / "scenarios" / "laibin.yaml"))
    assert SAFETY in outcome_keys() and KEY in outcome_keys()


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


# --------------------------------------------------------------------------- validation
@pytest.fixture(scope="module")
def tiny_validation(tmp_path_factory):
    out = tmp_path_factory.mktemp("val") / "v"
    res = run_validation(out, PRESETS["tiny"], workers=2)
    return out, res


def test_validation_json_has_its_fields(tiny_validation):
    out, _ = tiny_validation
    res = json.loads((out / "validation.json").read_text(encoding="utf-8"))
    g = res["guigang_2016"]
    assert set(g) >= {"predicted", "interval", "reported", "fitted"}
    assert g["fitted"] is False and g["reported"] == pytest.approx(0.8962)
    low, high = g["interval"]
    assert 0 < low < g["predicted"] < high < 1
    assert res["guigang_2015"]["fitted"] is True and res["guigang_2015"]["reported"] == pytest.approx(GUIGANG_2015)
    assert set(res["guigang_cases"]) >= {"filed", "solved"}
    assert {"jincheng", "fangchenggang", "huizhou", "laibin"} <= set(res["cities"])
    s = res["sensitivity"]
    assert {r["key"] for r in s["indices"]["population_share_safe"]} >= {"residents_per_grid", "fulltime_ratio", "camera_coverage"}
    assert all("first" in r and "total" in r for k in s["outcomes"] for r in s["indices"][k])
    assert res["queueing"]["rows"] and set(res["levers"]["levers"]) == {"residents_per_grid", "fulltime_ratio", "camera_coverage"}
    for name in ("REPORT.md", "guigang.png", "cities.png", "sobol.png", "queueing.png", "levers.png"):
        assert (out / name).exists(), name
    for png in out.glob("*.png"):
        assert png.stat().st_size < 200_000, png
    # the overlays it leaves behind are runnable scenarios
    fitted = load_scenario(out / "guigang_2015.calibrated.yaml")
    pred = load_scenario(out / "guigang_2016.predicted.yaml")
    assert fitted.perception.safety_mean == pytest.approx(res["guigang_2015"]["value"], abs=1e-6)
    assert pred.perception.safety_mean == fitted.perception.safety_mean
    assert pred.camera_coverage == pytest.approx(0.8038) and fitted.camera_coverage == pytest.approx(0.6726)
    assert "fitted on 2015" in (out / "REPORT.md").read_text(encoding="utf-8")


def test_held_out_figure_is_never_used():
    settings = replace(PRESETS["tiny"], days=20, fit_replicates=1, predict_replicates=2)
    seen = []

    def spy(scenario, targets, fit, **kw):
        seen.append((scenario.name, dict(targets), list(fit)))
        return calibrate(scenario, targets, fit, **kw)

    with Runner(1) as runner:
        a = guigang_holdout(settings, runner, reported_2016=0.8962, fit=spy)
        b = guigang_holdout(settings, runner, reported_2016=0.50, fit=spy)
    # the fit saw only 2015, and only its figure
    assert seen == [("guigang_2015", {SAFETY: GUIGANG_2015}, ["perception.safety_mean"])] * 2
    # the prediction does not move when the held-out figure does; only the comparison does
    assert a["guigang_2016"]["predicted"] == b["guigang_2016"]["predicted"]
    assert a["guigang_2016"]["interval"] == b["guigang_2016"]["interval"]
    assert a["guigang_2016"]["reported"] == 0.8962 and b["guigang_2016"]["reported"] == 0.50
    assert a["guigang_2016"]["fitted"] is False
    assert a["guigang_2016"]["changed_parameters"] == {"camera_coverage": pytest.approx(0.8038)}
