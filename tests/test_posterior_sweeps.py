"""Sweeps over a calibration's posterior (issue 13, "uncertainty downstream"): the loader's
one-line refusals, reproducible draws, common random numbers across design points (the same
draw and seed at every point), bands that say what they span, and the cost table's maths.

A fake posterior directory stands in for `gridsim calibrate`'s output: `posterior.parquet`
(one column per fitted parameter, named by its scenario key, and `weight`) and
`calibration.json` (`parameters`, `scenario`, `seed`).  Runs are tiny (2,000 residents, 8 days).
"""

from __future__ import annotations

import importlib.util
import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.analysis.posterior import NO_EFFECT, cost_per_point, prob_cheaper, quantile
from sim.cli import main
from sim.experiments import load_experiment, run_sweep
from sim.experiments.design import ExperimentError
from sim.experiments.posterior import attach, load_posterior
from sim.experiments.runner import model_code
from sim.experiments.store import Store, StoreMismatch

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("perception.safety_mean", "perception.w_camera")


def fake_posterior(d: Path, rows: int = 20, seed: int = 11, weights=None, columns=None, parameters=None,
                   calibration=None) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    w = rng.random(rows) if weights is None else np.asarray(weights, float)
    data = {KEYS[0]: rng.uniform(0.5, 0.8, rows), KEYS[1]: rng.uniform(0.0, 0.05, rows),
            "weight": w / w.sum() if weights is None else w}
    if columns is not None:
        data = columns
    pd.DataFrame(data).to_parquet(d / "posterior.parquet")
    cal = {"parameters": {k: {"prior": [0, 1]} for k in (parameters or KEYS)}, "scenario": "scenarios/default.yaml",
           "seed": seed}
    cal.update(calibration or {})
    (d / "calibration.json").write_text(json.dumps(cal))
    return d


def write_exp(tmp: Path, name="exp", **fields) -> Path:
    spec = {"scenario": str(ROOT / "scenarios/default.yaml"), "design": "factorial", "replicates": 3, "seed": 5,
            "days": 8, "scale": 0.02, "set": {"warmup_days": 0}, "axes": {"camera_coverage": [0.2, 0.9]}}
    spec.update(fields)
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


# --------------------------------------------------------------------------- the loader
BAD = {
    "no such directory": lambda d: d / "nowhere",
    "no calibration.json": lambda d: (fake_posterior(d), (d / "calibration.json").unlink(), d)[-1],
    "no posterior.parquet": lambda d: (fake_posterior(d), (d / "posterior.parquet").unlink(), d)[-1],
    "is not a scenario key": lambda d: fake_posterior(d, columns={"perception.safety_men": [0.6], "weight": [1.0]},
                                                       parameters=["perception.safety_men"]),
    "is not among": lambda d: fake_posterior(d, parameters=[KEYS[0]]),
    "has no column": lambda d: fake_posterior(d, parameters=[*KEYS, "perception.trust_mean"]),
    "is negative": lambda d: fake_posterior(d, rows=3, weights=[0.6, 0.6, -0.2]),
    "sums to 0.9": lambda d: fake_posterior(d, rows=3, weights=[0.3, 0.3, 0.3]),
    "no column 'weight'": lambda d: fake_posterior(d, columns={KEYS[0]: [0.6], KEYS[1]: [0.01]}),
    "not a finite number": lambda d: fake_posterior(d, columns={KEYS[0]: [0.6, np.nan], KEYS[1]: [0.0, 0.0],
                                                                "weight": [0.5, 0.5]}),
    "key 'seed'": lambda d: fake_posterior(d, calibration={"seed": "eleven"}),
    "not a model parameter": lambda d: fake_posterior(d, columns={"days": [10.0], "weight": [1.0]}, parameters=["days"]),
}


@pytest.mark.parametrize("why", list(BAD))
def test_a_bad_posterior_is_one_line_and_nothing_is_written(tmp_path, capsys, why):
    d = BAD[why](tmp_path / "post")
    with pytest.raises(ExperimentError, match=why.replace("(", r"\(")):
        load_posterior(d)
    out = tmp_path / "sweep"
    assert main(["sweep", str(write_exp(tmp_path)), "--posterior", str(d), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err and why.split("(")[0] in err
    assert not out.exists()


def test_a_draw_the_scenario_refuses_is_one_line(tmp_path):
    d = fake_posterior(tmp_path / "post", columns={KEYS[0]: [1.5], "weight": [1.0]}, parameters=[KEYS[0]])
    exp = load_experiment(write_exp(tmp_path))
    with pytest.raises(ExperimentError, match=r"posterior.parquet row 0.*safety_mean"):
        attach(exp, load_posterior(d))


def test_sample_is_weighted_reproducible_and_prefix_stable(tmp_path):
    post = load_posterior(fake_posterior(tmp_path / "p", rows=5, weights=[0.0, 0.0, 1.0, 0.0, 0.0]))
    assert set(post.sample(50, 1)["draw"]) == {2}                 # all weight on row 2
    post = load_posterior(fake_posterior(tmp_path / "q", rows=40))
    a, b = post.sample(200, 7), post.sample(200, 7)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(post.sample(30, 7), a.head(30))  # more draws keep the earlier ones
    assert not a.equals(post.sample(200, 8))
    assert list(a.columns) == ["draw", *KEYS]
    freq = np.bincount(post.sample(4000, 3)["draw"], minlength=len(post)) / 4000   # follows the weights
    assert np.abs(freq - post.weights).max() < 0.03


def test_an_axis_that_is_also_in_the_posterior_wins_with_a_note(tmp_path):
    exp = load_experiment(write_exp(tmp_path, axes={"perception.safety_mean": [0.6, 0.7]}))
    notes = []
    attach(exp, load_posterior(fake_posterior(tmp_path / "p")), note=notes.append)
    assert len(notes) == 1 and "'perception.safety_mean' is an axis" in notes[0] and "design's values are used" in notes[0]
    for run in exp.runs():
        assert run.overrides["perception.safety_mean"] == run.axes["perception.safety_mean"]
        assert run.overrides["perception.w_camera"] == run.draw["values"]["perception.w_camera"]


# --------------------------------------------------------------------------- sweeps
def _stored(directory: Path) -> list[tuple]:
    db = sqlite3.connect(directory / "store.sqlite")
    rows = db.execute("SELECT run_id, status, seed, outcomes, overrides, daily, draw FROM runs ORDER BY run_id").fetchall()
    db.close()
    return rows


@pytest.fixture(scope="module")
def posterior_sweeps(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("psweep")
    post = fake_posterior(tmp / "post")
    outs = {}
    for workers in (1, 2):
        exp = load_experiment(write_exp(tmp))
        attach(exp, load_posterior(post))
        outs[workers] = tmp / f"w{workers}"
        rep = run_sweep(exp, outs[workers], workers=workers, progress=False)
        assert (rep.done, rep.failed) == (6, 0)
    return tmp, post, outs


def test_posterior_sweep_is_reproducible_for_any_number_of_workers(posterior_sweeps):
    _, _, outs = posterior_sweeps
    one, two = _stored(outs[1]), _stored(outs[2])
    assert len(one) == 6 and one == two


def test_every_point_gets_the_same_draw_and_seed_per_replicate(posterior_sweeps):
    _, post, outs = posterior_sweeps
    with Store.open(outs[1]) as store:
        df, meta = store.frame(), store.meta()
    assert meta["posterior"]["sha256"] == load_posterior(post).sha256
    assert ["draw", *(f"draw.{k}" for k in KEYS)] == [c for c in df.columns if c.startswith("draw")]
    for r, g in df.groupby("replicate"):
        assert g["point"].nunique() == 2
        assert g["seed"].nunique() == 1 and g["draw"].nunique() == 1
        for k in KEYS:
            assert g[f"draw.{k}"].nunique() == 1
    # the draws are the posterior's, in replicate order, made with the calibration's seed
    expected = load_posterior(post).sample(3, 11)
    got = df[df["point"] == 0].sort_values("replicate")
    assert got["draw"].tolist() == expected["draw"].tolist()
    assert np.allclose(got[f"draw.{KEYS[0]}"], expected[KEYS[0]])
    with Store.open(outs[1]) as store:        # and the runs applied them: a stored run can be redone alone
        assert all(row["overrides"][KEYS[0]] == row["draw"]["values"][KEYS[0]] for row in store.rows())


def test_another_posterior_is_another_experiment(posterior_sweeps, tmp_path):
    tmp, _, outs = posterior_sweeps
    other = fake_posterior(tmp_path / "other", rows=21)
    exp = load_experiment(write_exp(tmp))
    attach(exp, load_posterior(other))
    store = Store(outs[1])
    try:
        with pytest.raises(StoreMismatch, match="the posterior"):
            store.bind(exp, model_code())
        with pytest.raises(StoreMismatch, match="none now"):
            store.bind(load_experiment(write_exp(tmp)), model_code())
    finally:
        store.close()


def test_bands_say_what_they_span(posterior_sweeps, monkeypatch):
    from sim.analysis import curves, sweep_figures

    _, _, outs = posterior_sweeps
    legends, titles = [], []

    def grab(fig, path, legend=None):
        titles.append(fig._suptitle.get_text())
        legends.append(list(legend[1]) if legend else [])
        ylabels = [a.get_ylabel() for a in fig.axes if a.get_visible() and a.get_title()]
        assert all(ylabels), path
        import matplotlib.pyplot as plt

        plt.close(fig)
        return path

    monkeypatch.setattr(curves, "_save", grab)
    monkeypatch.setattr(sweep_figures, "_save", grab)
    curves.plot_store(outs[1])
    table = pd.read_csv(outs[1] / "plots" / "curves.csv")
    assert set(table["band"]) == {"95% of runs over posterior draws and replicates (3 draws, one seed each)"}
    assert any("95% of runs over posterior draws and replicates" in t for t in titles)
    assert any(any("95% of runs over posterior draws and replicates" in x for x in leg) for leg in legends)
    paired = pd.read_csv(outs[1] / "plots" / "paired.csv")
    assert (paired["baseline"] == 0.2).all() and paired["band"].str.contains("paired differences over 3 posterior").all()
    base = paired[np.isclose(paired["x"], 0.2)].dropna(subset=["mean"])      # (no survey in 8 days: NaN)
    assert (base[["mean", "lo", "hi"]].to_numpy() == 0).all()             # the baseline minus itself
    plain = pd.DataFrame({"status": "done", "point": [0, 0, 1, 1], "replicate": [0, 1, 0, 1]})
    assert curves.interval_words(plain, 0.95) == "95% t-interval over 2 replicates"
    assert curves.interval_words(plain[plain["replicate"] == 0], 0.95) == "no interval: 1 replicate"


# --------------------------------------------------------------------------- the cost table's maths
def _cost_script():
    spec = importlib.util.spec_from_file_location("cost_per_point", ROOT / "experiments" / "cost_per_point.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _frame(base_safe, level_safe, base_cost, level_cost, draws=True):
    rows = []
    for r, (bs, ls, bc, lc) in enumerate(zip(base_safe, level_safe, base_cost, level_cost)):
        for x, s, c in ((0.5, bs, bc), (1.0, ls, lc)):
            rows.append({"status": "done", "point": int(x == 1.0), "replicate": r, "axis.camera_coverage": x,
                         "population_share_safe": s, "cost_yuan_per_resident_year": c,
                         "report_to_resolution_hours_mean": 100.0, **({"draw": 10 + r} if draws else {})})
    return pd.DataFrame(rows)


def test_cost_per_point_over_draws_known_answer():
    cp = _cost_script()
    # five draws: Δ safe = 1, 2, 4, 5, 8 points; Δ cost = 10 each → yuan per point 10, 5, 2.5, 2, 1.25
    base = [0.70] * 5
    df = _frame(base, [0.71, 0.72, 0.74, 0.75, 0.78], [20.0] * 5, [30.0] * 5)
    (m,) = cp.lever_moves(df, "camera_coverage", 0.5, True, posterior=True, level=0.9)
    assert (m["from"], m["to"], m["n"]) == (0.5, 1.0, 5) and m["verdict"] is None
    assert m["d_safe"][0] == pytest.approx(4.0)
    assert m["d_safe"][1] == pytest.approx(1.2) and m["d_safe"][2] == pytest.approx(7.4)   # 5 % and 95 %, linear
    assert m["per_point"][0] == pytest.approx(2.5)
    assert m["per_point"][1] == pytest.approx(1.25 + 0.2 * 0.75) and m["per_point"][2] == pytest.approx(9.0)
    assert list(m["draws"]) == [10, 11, 12, 13, 14]


def test_cost_per_point_replicates_only_fieller_known_answer():
    from scipy import stats

    cp = _cost_script()
    df = _frame([0.70] * 3, [0.71, 0.72, 0.73], [20.0] * 3, [30.0] * 3, draws=False)
    (m,) = cp.lever_moves(df, "camera_coverage", 0.5, True, posterior=False, level=0.9)
    half = stats.t.ppf(0.95, 2) * 1.0 / math.sqrt(3)       # Δ safe 1, 2, 3: sd 1
    assert m["d_safe"] == pytest.approx((2.0, 2.0 - half, 2.0 + half))
    # a constant Δ cost: Fieller's interval is Δcost over the ends of Δ safe's interval
    assert m["per_point"] == pytest.approx((5.0, 10 / (2.0 + half), 10 / (2.0 - half)))


def test_no_effect_and_lower_safety_give_no_number():
    flat = cost_per_point([10.0] * 5, [-1.0, -0.5, 0.0, 0.5, 1.0], 0.9, posterior=True)
    assert flat["verdict"] == NO_EFFECT and all(math.isnan(v) for v in flat["per_point"])
    assert cost_per_point([10.0] * 4, [-1.0, -2.0, -1.5, -1.2], 0.9, posterior=True)["verdict"] == "lowers safety"
    assert cost_per_point([10.0] * 3, [-1.0, 0.5, 2.0], 0.9, posterior=False)["verdict"] == NO_EFFECT
    assert cost_per_point([10.0], [1.0], 0.9, posterior=True)["verdict"].startswith("no interval")
    assert cost_per_point([10.0, 10.0], [0.0, 2.0], 0.9)["ratios"][0] == math.inf       # no gain, a cost: ∞ per point


def test_probability_one_lever_is_cheaper():
    assert prob_cheaper([1, 2, 3], [2, 2, 1]) == pytest.approx(0.5)                 # 1 win, 1 tie, 1 loss
    assert prob_cheaper([1, math.inf], [2, 5]) == pytest.approx(0.5)
    assert prob_cheaper([1, 4], [2, 3], paired_draws=False) == pytest.approx(0.5)   # 1<2, 1<3 of four pairs
    assert prob_cheaper([1, math.nan], [2, 0]) == 1.0                               # a draw without a ratio is left out
    with pytest.raises(ValueError):
        prob_cheaper([1, 2], [1])
    assert quantile([1.0, 2.0, math.inf], 0.75) == math.inf and quantile([1.0, 3.0], 0.5) == 2.0
    cp = _cost_script()
    a = {"ratios": np.array([1.0, 5.0, 2.0]), "draws": np.array([4, 7, 9])}
    b = {"ratios": np.array([2.0, 4.0, 3.0]), "draws": np.array([4, 7, 9])}
    assert cp.probability(a, b) == (pytest.approx(2 / 3), True)
    b["draws"] = np.array([1, 2, 3])                                                  # other draws: unpaired
    assert cp.probability(a, b) == (pytest.approx(5.5 / 9), False)                   # 5 wins, 1 tie of 9
