"""The experiments layer: designs, the resumable store, pool and Dask runners, export, curves.

Runs are tiny (2,000 residents or fewer, 10–30 days) so the whole file stays near a minute.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.cli import main
from sim.experiments import Store, load_experiment, run_seed, run_sweep
from sim.analysis.curves import RUNAWAY_OUTCOMES, axis_curve, routine_capacity, runaway_threshold, t_interval
from sim.experiments.design import ExperimentError, set_args
from sim.experiments.store import NOT_OUTCOMES

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "scenarios" / "default.yaml"
ZERO_SHARES = {f"disputes.type_shares.{k}": 0.0 for k in ("family", "land_property", "property_management", "consumer_labour")}


def write_exp(tmp: Path, name: str = "exp", **fields) -> Path:
    spec = {"scenario": str(DEFAULT), "design": "factorial", "replicates": 2, "seed": 7, "days": 15, "scale": 0.02,
            "set": {"warmup_days": 0}, "axes": {"residents_per_grid": [300, 1200], "camera_coverage": [0.2, 0.8]}}
    spec.update(fields)
    spec["set"] = {"warmup_days": 0, **(spec.get("set") or {})}   # tiny runs: no warm-up
    spec = {k: v for k, v in spec.items() if v is not None}
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def stored(directory: Path) -> dict[str, tuple]:
    """run id → (status, seed, outcomes JSON, overrides, daily blob) of a store."""
    db = sqlite3.connect(directory / "store.sqlite")
    rows = db.execute("SELECT run_id, status, seed, outcomes, overrides, daily FROM runs").fetchall()
    db.close()
    return {r[0]: r[1:] for r in rows}


def gridsim(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, **kw)


def read_csv(path: Path) -> pd.DataFrame:
    """An exported CSV as pandas reads it back (empty error text stays text)."""
    back = pd.read_csv(path, dtype={"error": str}, keep_default_na=False, na_values=[""])
    back["error"] = back["error"].fillna("")
    return back


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory) -> Path:
    """A 2 × 2 factorial with 2 replicates, swept with 2 local worker processes."""
    tmp = tmp_path_factory.mktemp("sweep")
    exp = load_experiment(write_exp(tmp))
    out = tmp / "out"
    rep = run_sweep(exp, out, workers=2, progress=False)
    assert (rep.done, rep.failed, rep.skipped) == (8, 0, 0)
    return out


# --------------------------------------------------------------------------- designs
def test_factorial_counts_and_seeds(tmp_path):
    exp = load_experiment(write_exp(tmp_path, replicates=3, axes={"residents_per_grid": [300, 600, 1200],
                                                                   "fulltime_ratio": [0.0, 1.0]}))
    assert len(exp.points) == 6 and exp.n_runs == 18
    assert exp.points[1] == {"residents_per_grid": 300, "fulltime_ratio": 1.0}
    runs = list(exp.runs())
    assert len(runs) == 18 and len({r.run_id for r in runs}) == 18
    # common random numbers: replicate r has one seed at every point, replicates differ
    by_rep = {r.replicate: {x.seed for x in runs if x.replicate == r.replicate} for r in runs}
    assert all(len(s) == 1 for s in by_rep.values()) and len(set.union(*by_rep.values())) == 3
    # stable across calls, within SQLite's INTEGER
    again = list(load_experiment(write_exp(tmp_path, replicates=3, axes={"residents_per_grid": [300, 600, 1200],
                                                                           "fulltime_ratio": [0.0, 1.0]})).runs())
    assert [(r.run_id, r.seed, r.overrides) for r in runs] == [(r.run_id, r.seed, r.overrides) for r in again]
    assert all(0 <= r.seed < 2**63 for r in runs)
    # overrides: the file's days/scale and the point's axis values
    assert runs[4].overrides == {"warmup_days": 0, "days": 15, "scale": 0.02, **runs[4].axes}
    # without common random numbers every run has its own seed
    indep = load_experiment(write_exp(tmp_path, replicates=3, common_random_numbers=False))
    assert len({r.seed for r in indep.runs()}) == indep.n_runs
    assert run_seed(7, 2, 1, common=False) != run_seed(7, 1, 2, common=False)


def test_lhs_and_sobol(tmp_path):
    axes = {"residents_per_grid": [300, 6000], "camera_coverage": [0.0, 1.0], "perception.survey_n": [100, 2000]}
    lhs = load_experiment(write_exp(tmp_path, design="lhs", samples=20, axes=axes))
    assert len(lhs.points) == 20 and lhs.n_runs == 40
    for key, (lo, hi) in axes.items():
        v = np.array([p[key] for p in lhs.points], float)
        assert v.min() >= lo and v.max() <= hi
        # Latin hypercube: one point in each of the 20 equal slices of every axis
        if key != "perception.survey_n":
            assert sorted(np.floor((v - lo) / (hi - lo) * 20).astype(int)) == list(range(20))
    assert all(isinstance(p["perception.survey_n"], int) for p in lhs.points)
    assert lhs.points == load_experiment(write_exp(tmp_path, design="lhs", samples=20, axes=axes)).points
    assert lhs.points != load_experiment(write_exp(tmp_path, design="lhs", samples=20, axes=axes, seed=8)).points

    notes = []
    sob = load_experiment(write_exp(tmp_path, design="sobol", samples=10, axes=axes), note=notes.append)
    assert len(sob.points) == 16 and "rounded up to 16" in notes[0]
    notes.clear()
    assert len(load_experiment(write_exp(tmp_path, design="sobol", samples=8, axes=axes), note=notes.append).points) == 8
    assert notes == []


BAD = [
    ({"replicate": 3}, "unknown key 'replicate' (did you mean 'replicates'?)"),
    ({"axes": {"residents_per_gird": [300, 600]}}, "'axes.residents_per_gird': unknown scenario key (did you mean 'residents_per_grid'?)"),
    ({"axes": {"fulltime_ratio": [0.5, 1.5]}}, "axes.fulltime_ratio[1]: key 'fulltime_ratio'"),
    ({"replicates": "five"}, "key 'replicates'"),
    ({"replicates": 0}, "key 'replicates': Input should be greater than or equal to 1"),
    ({"design": "grid"}, "key 'design'"),
    ({"design": "lhs", "samples": 8, "axes": {"fulltime_ratio": [0.1, 0.5, 0.9]}}, "is [low, high]"),
    ({"design": "lhs", "axes": {"fulltime_ratio": [0.1, 0.5]}}, "'samples': a lhs design needs"),
    ({"design": "lhs", "samples": 8, "axes": {"fulltime_ratio": [0.5, 0.1]}}, "low must be below high"),
    ({"design": "lhs", "samples": 8, "axes": {"staffing.police_posting": ["village", "station"]}}, "must be a numeric"),
    ({"scenario": "nowhere.yaml"}, "key 'scenario': no such file"),
    ({"set": {"staffing.workers_per_gird": 2}}, "'set.staffing.workers_per_gird': unknown scenario key (did you mean"),
    ({"axes": {"seed": [1, 2]}}, "'seed' cannot be an axis"),
    ({"axes": {"days": [10, 20]}}, "'axes.days': also fixed by 'days'"),
    ({"set": {"days": 20}}, "'set.days': also fixed by 'days'"),
    ({"set": {"seed": 3}}, "'set.seed': run seeds are spawned"),
    ({"axes": {"residents_per_grid": [300, 300]}}, "a value is repeated"),
    ({"axes": {}}, "key 'axes'"),
]


@pytest.mark.parametrize("fields, message", BAD, ids=[m[:30] for _, m in BAD])
def test_bad_experiment_one_line_exit_2(tmp_path, capsys, fields, message):
    path = write_exp(tmp_path, **fields)
    assert main(["sweep", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"gridsim: {path}") and message in err, err
    assert not (tmp_path / "o").exists()


def test_bad_input_exit_2_from_the_shell(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenario: [unclosed\n")
    r = gridsim("sweep", bad, "--out", tmp_path / "o")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not valid YAML" in r.stderr
    r = gridsim("export", tmp_path / "missing", "--format", "csv")
    assert r.returncode == 2 and "no such sweep directory" in r.stderr and r.stderr.count("\n") == 1
    r = gridsim("sweep", write_exp(tmp_path), "--out", tmp_path / "o", "--days", "0")
    assert r.returncode == 2 and "--days 0" in r.stderr


# --------------------------------------------------------------------------- the sweep and its store
def test_store_holds_every_run_and_any_run_redoes_alone(small_sweep, tmp_path, capsys):
    runs = stored(small_sweep)
    assert len(runs) == 8 and {r[0] for r in runs.values()} == {"done"}
    meta = Store.open(small_sweep).meta()
    assert meta["axes"] == ["residents_per_grid", "camera_coverage"] and len(meta["digest"]) == 64
    # redo p00003-r0001 with `gridsim run`: same outcomes
    status, seed, outcomes, overrides, _ = runs["p00003-r0001"]
    out = tmp_path / "rerun"
    assert main(["run", str(DEFAULT), "--seed", str(seed), *set_args(json.loads(overrides)), "--out", str(out),
                 "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert {k: v for k, v in summary.items() if k not in NOT_OUTCOMES} == json.loads(outcomes)
    assert summary["residents_per_grid_actual"] != json.loads(runs["p00001-r0001"][2])["residents_per_grid_actual"]


def test_resume_skips_finished_and_refuses_a_changed_experiment(small_sweep, tmp_path, capsys):
    before = stored(small_sweep)
    exp_file = tmp_path / "again.yaml"
    exp_file.write_text(Path(Store.open(small_sweep).meta()["experiment_file"]).read_text())
    rep = run_sweep(load_experiment(exp_file), small_sweep, workers=1, progress=False)
    assert (rep.skipped, rep.done, rep.failed) == (8, 0, 0) and stored(small_sweep) == before
    changed = write_exp(tmp_path, "changed", replicates=3)
    assert main(["sweep", str(changed), "--out", str(small_sweep), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "different experiment definition (changed: replicates)" in err and err.count("\n") == 1
    assert main(["sweep", str(exp_file), "--out", str(small_sweep), "--scale", "0.01", "--quiet"]) == 2
    assert "changed: scale" in capsys.readouterr().err
    assert stored(small_sweep) == before
    # --replace moves the old sweep aside and starts afresh
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(small_sweep, copy)
    assert main(["sweep", str(changed), "--out", str(copy), "--replace", "--quiet"]) == 0
    assert stored(copy / ".." / "copy.prev") == before and len(stored(copy)) == 12
    # changed model code: refused too (the stored runs would not be one experiment)
    other = tmp_path / "other"
    with Store(other) as st:
        st.bind(load_experiment(exp_file), {"sim/model.py": "old"})
    with Store(other) as st, pytest.raises(ExperimentError, match=r"different model code \(sim/model.py changed since\)"):
        st.bind(load_experiment(exp_file), {"sim/model.py": "new"})


def test_failing_run_is_recorded_and_the_rest_finish(tmp_path, capsys):
    # each axis value is valid alone, but at one point all five dispute type shares are zero:
    # a combination the schema refuses only when that run is set up, in its worker
    others_zero = {k: v for k, v in ZERO_SHARES.items() if not k.endswith(".family")}
    path = write_exp(tmp_path, set=others_zero, replicates=2,
                     axes={"disputes.type_shares.neighbour": [0.0, 0.33], "disputes.type_shares.family": [0.0]})
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "2", "--quiet"]) == 0
    io = capsys.readouterr()
    assert "2 failed" in io.out and "warning: 2 runs failed" in io.err and "must not all be zero" in io.err
    df = Store.open(out).frame()
    assert (df.groupby("axis.disputes.type_shares.neighbour")["status"].agg(set) == pd.Series(
        {0.0: {"failed"}, 0.33: {"done"}})).all()
    failed = df[df["status"] == "failed"]
    assert failed["error"].str.contains("ScenarioError: sweep run: key 'disputes.type_shares'").all()
    assert failed["residents"].isna().all() and (df.loc[df["status"] == "done", "residents"] == 2000).all()
    # export round trip, failed rows included
    for fmt in ("csv", "parquet"):
        target = tmp_path / f"runs.{fmt}"
        assert main(["export", str(out), "--format", fmt, "--output", str(target)]) == 0
        back = read_csv(target) if fmt == "csv" else pd.read_parquet(target)
        pd.testing.assert_frame_equal(back, df, check_dtype=False)
    # --retry-failed runs the failed ones again (they fail again), nothing else
    rep = run_sweep(load_experiment(path), out, workers=1, progress=False, retry_failed=True)
    assert (rep.skipped, rep.failed, rep.done) == (2, 2, 0)


def test_export_round_trip(small_sweep, tmp_path):
    df = Store.open(small_sweep).frame()
    assert len(df) == 8 and {"axis.residents_per_grid", "seed", "status", "backlog_grid",
                             "cost_yuan_per_resident_year"} <= set(df)
    assert main(["export", str(small_sweep), "--format", "parquet", "--output", str(tmp_path / "r.parquet")]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "r.parquet"), df)
    assert main(["export", str(small_sweep), "--format", "csv", "--output", str(tmp_path / "r.csv")]) == 0
    back = read_csv(tmp_path / "r.csv")
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert (back["seed"] == df["seed"]).all() and back["seed"].dtype == np.int64


def test_resume_after_sigkill_matches_an_uninterrupted_sweep(tmp_path):
    path = write_exp(tmp_path, replicates=12, scale=0.02, days=30,
                     axes={"residents_per_grid": [300, 500, 800, 1200, 2000], "fulltime_ratio": [0.0, 1.0]})
    total = 5 * 2 * 12
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    proc = subprocess.Popen([sys.executable, "-m", "sim", "sweep", str(path), "--out", str(killed), "--workers", "2",
                             "--quiet"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.time() + 60
        n = 0
        while time.time() < deadline and proc.poll() is None:
            if (killed / "store.sqlite").exists():
                try:
                    n = sqlite3.connect(f"file:{killed / 'store.sqlite'}?mode=ro", uri=True).execute(
                        "SELECT COUNT(*) FROM runs").fetchone()[0]
                except sqlite3.OperationalError:   # schema not there yet
                    n = 0
                if n >= 6:
                    break
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)       # the sweep and its worker processes, mid-run
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    part = stored(killed)
    assert 6 <= len(part) < total, f"{len(part)} of {total} runs stored when killed"

    r = gridsim("sweep", path, "--out", killed, "--workers", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    assert f"{len(part)} already stored" in r.stdout
    resumed = stored(killed)
    assert {k: resumed[k] for k in part} == part            # nothing finished was lost or redone

    rep = run_sweep(load_experiment(path), clean, workers=2, progress=False)
    assert rep.done == total
    assert resumed == stored(clean)                        # same runs, seeds, outcomes, daily series


def test_dask_local_cluster_matches_the_process_pool(small_sweep, tmp_path):
    pytest.importorskip("distributed", reason="needs the dask extra (pip install -e '.[dask]')")
    exp_file = Store.open(small_sweep).meta()["experiment_file"]
    r = gridsim("sweep", exp_file, "--out", tmp_path / "dask", "--dask", "local", "--workers", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    assert stored(tmp_path / "dask") == stored(small_sweep)


# --------------------------------------------------------------------------- curves
def test_t_interval_and_curves():
    m, lo, hi, n = t_interval(np.array([1.0, 2.0, 3.0, np.nan]), 0.95)
    assert (m, n) == (2.0, 3) and hi - m == pytest.approx(4.302653 * 1.0 / np.sqrt(3), rel=1e-5) and lo == 2 * m - hi
    # two axes: the curve along one averages the other within each replicate, then over replicates
    df = pd.DataFrame({"status": "done", "point": range(8), "replicate": [0, 0, 1, 1] * 2,
                       "axis.a": [1, 1, 1, 1, 2, 2, 2, 2], "axis.b": [0, 1, 0, 1] * 2,
                       "y": [1.0, 3.0, 3.0, 5.0, 10.0, 10.0, 12.0, 12.0]})
    c = axis_curve(df, "a", "y")
    assert list(c["x"]) == [1, 2] and list(c["mean"]) == [3.0, 11.0] and list(c["n"]) == [2, 2]


def test_runaway_threshold_criterion():
    x = [300, 600, 1200, 2400, 4800]
    flat = pd.DataFrame({"x": x, "mean": [10, 11, 12, 13, 14.0], "lo": np.nan, "hi": np.nan})
    assert runaway_threshold(flat) is None
    jump = flat.assign(mean=[10, 11, 12, 40, 45.0], lo=[9, 10, 11, 35, 40.0], hi=[11, 12, 13, 45, 50.0])
    thr = runaway_threshold(jump)
    assert (thr["x_before"], thr["x"]) == (1200, 2400) and thr["slope"] == pytest.approx(np.log(40 / 12) / np.log(2))
    assert runaway_threshold(jump, elasticity=2.0) is None                 # the criterion is an argument
    noisy = jump.assign(lo=[9, 10, 11, 10, 40.0])                          # rise within the noise: not a runaway
    assert runaway_threshold(noisy) is None
    from_zero = jump.assign(mean=[0, 0, 0, 5, 6.0], lo=[-1, -1, -1, 4, 5.0], hi=[1, 1, 1, 6, 7.0])
    assert runaway_threshold(from_zero)["x"] == 2400
    # one replicate (no intervals): no verdict at all, not "separated" by default
    assert runaway_threshold(from_zero.assign(lo=np.nan, hi=np.nan)) is None
    assert runaway_threshold(jump.assign(lo=np.nan, hi=np.nan)) is None
    cap = routine_capacity({"staffing.workers_per_grid": 3.0, "fulltime_ratio": 0.15, "staffing.fulltime_hours": 8.0,
                            "staffing.parttime_hours": 2.0, "staffing.routine_hours_per_1000": 4.0})
    assert cap == (1500.0, 3000.0)
    assert routine_capacity({"staffing.workers_per_grid": 3.0, "fulltime_ratio": 0.15, "staffing.fulltime_hours": 8.0,
                             "staffing.parttime_hours": 2.0, "staffing.routine_hours_per_1000": 4.0,
                             "staffing.fulltime_first": "dense_grids"}) == (1500.0, 6000.0)


def test_plot_writes_curves_heatmaps_and_threshold(small_sweep):
    # a criterion other than the defaults, so that what criterion.json records can only be what was used
    assert main(["plot", str(small_sweep), "--elasticity", "0.5", "--confidence", "0.9"]) == 0
    plots = small_sweep / "plots"
    names = {p.name for p in plots.glob("*.png")}
    assert {"curves_residents_per_grid.png", "curves_camera_coverage.png", "threshold_residents_per_grid.png",
            "heatmap_residents_per_grid__camera_coverage.png"} <= names
    curves = pd.read_csv(plots / "curves.csv")
    assert set(curves["axis"]) == {"residents_per_grid", "camera_coverage"} and curves["n"].le(2).all()
    cost = curves[curves["outcome"] == "cost_yuan_per_resident_year"]
    assert len(cost) == 4 and (cost["n"] == 2).all() and cost["lo"].le(cost["mean"]).all()
    # criterion.json records the criterion that was applied, and thresholds.csv is what that
    # criterion finds on the curves written beside it
    crit = json.loads((plots / "criterion.json").read_text())
    assert (crit["elasticity"], crit["confidence"], crit["threshold_axis"]) == (0.5, 0.9, "residents_per_grid")
    found = pd.read_csv(plots / "thresholds.csv")
    axis = curves[curves["axis"] == crit["threshold_axis"]]
    assert set(found["outcome"]) <= set(RUNAWAY_OUTCOMES)
    for outcome in RUNAWAY_OUTCOMES:
        thr = runaway_threshold(axis[axis["outcome"] == outcome], crit["elasticity"])
        rows = found[found["outcome"] == outcome]
        assert len(rows) == (thr is not None), outcome
        if thr is not None:
            assert rows.iloc[0][["x_before", "x"]].tolist() == [thr["x_before"], thr["x"]]
            assert rows.iloc[0]["elasticity"] == crit["elasticity"]
    assert main(["plot", str(small_sweep), "--runaway", "no_such_outcome"]) == 2


def test_in_flight_runs_are_bounded(tmp_path, monkeypatch):
    """The runner never holds more than WINDOW_PER_WORKER × workers runs (memory flat in sweep size)."""
    from concurrent.futures import Future

    from sim.experiments import runner

    seen = []

    class InProcess:
        def __init__(self, workers):
            self.slots = workers

        def submit(self, fn, *args):
            f = Future()
            f.set_result(fn(*args))
            return f

        def wait_first(self, pending):
            seen.append(len(pending))
            return {next(iter(pending))}

        def close(self, cancel=False):
            pass

    monkeypatch.setattr(runner, "make_backend", lambda workers, dask: InProcess(workers or 1))
    path = write_exp(tmp_path, replicates=6, days=5, scale=0.01)
    rep = run_sweep(load_experiment(path), tmp_path / "out", workers=2, progress=False)
    assert rep.done == 24 and len(stored(tmp_path / "out")) == 24
    assert max(seen) == runner.WINDOW_PER_WORKER * 2
