"""Hostile input to the command line and the schema: every case is refused before any work
starts (well under a second), with exit code 2, one line on stderr naming the file, key or
flag at fault, and nothing written; outputs are written atomically and temporaries of
killed processes are cleaned up.

Runs are tiny (a 400-resident town, a few days), so the whole file takes seconds.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import types
from pathlib import Path

import psutil
import pytest
import yaml

import sim
import sim.run
from sim.cli import main
from sim.execute import memory_estimate
from sim.experiments import load_experiment, run_sweep
from sim.scenario import DISPUTE_TYPES, ScenarioError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "scenarios" / "default.yaml"
SMALL = ["--days", "3", "--scale", "0.004", "--quiet"]
LIMIT = 2.0    # seconds: the checks take milliseconds; the bound is loose for a busy machine


def refused(capsys, argv: list[str], *names: str) -> str:
    """Run `gridsim argv`; assert exit 2, one stderr line containing every name, in < LIMIT s."""
    t0 = time.perf_counter()
    rc = main([str(a) for a in argv])
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("gridsim: ") and "Traceback" not in err, err
    for name in names:
        assert str(name) in lines[0], f"{name!r} not in {lines[0]!r}"
    assert elapsed < LIMIT, f"took {elapsed:.2f} s"
    return lines[0]


def nothing_in(directory: Path, before: set[str]) -> None:
    """The directory holds exactly what it held before: no output, no temporary."""
    assert {p.name for p in directory.iterdir()} == before


def dead_pid() -> int:
    """The PID of a process that has exited (so no live process has it, barring reuse)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.fixture
def tight_memory(monkeypatch):
    """The machine has only 10 MB available."""
    monkeypatch.setattr(psutil, "virtual_memory", lambda: types.SimpleNamespace(available=10e6))


@pytest.fixture
def read_only(monkeypatch):
    """Creating a file anywhere fails as on a read-only filesystem (EROFS)."""
    def mkstemp(*a, **kw):
        raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(sim.run.tempfile, "mkstemp", mkstemp)


def write_exp(tmp: Path, **fields) -> Path:
    spec = {"scenario": str(DEFAULT), "design": "factorial", "replicates": 1, "seed": 7, "days": 3, "scale": 0.004,
            "set": {"warmup_days": 0}, "axes": {"residents_per_grid": [100, 400]}}
    spec.update(fields)
    path = tmp / "exp.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    """A finished two-run sweep to export and plot."""
    tmp = tmp_path_factory.mktemp("hostile_sweep")
    out = tmp / "sweep"
    rep = run_sweep(load_experiment(write_exp(tmp)), out, workers=1, progress=False)
    assert rep.done == 2
    return out


# --------------------------------------------------------------------------- 1. schema bounds
# (key, a value at the bound, accepted; a value just past it, refused)
EPS = 1e-9
BOUNDS = [
    ("area_km2", 1e6, 1e6 * (1 + EPS)),
    ("seed", 2**63 - 1, 2**63),
    ("crime.rate_per_10k_year.theft", 1e5, 1e5 * (1 + EPS)),
    ("crime.rate_per_10k_year.assault", 1e5, 1e308),
    ("disputes.rate_per_10k_year", 1e5, 1e5 * (1 + EPS)),
    ("staffing.mediators_per_10k", 1e4, 1e4 * (1 + EPS)),
    ("staffing.township_mediators_per_10k", 1e4, 1e9),
    ("staffing.police_per_10k", 1e4, 1e4 * (1 + EPS)),
    ("staffing.court_servers_per_100k", 1e5, 1e5 * (1 + EPS)),
    ("crime.victim_report_prob.theft", 1.0, 1 + EPS),
    ("crime.clearance_prob.robbery", 1.0, 1 + EPS),
    ("crime.investigation_hours.burglary", 1000.0, 1000 * (1 + EPS)),
    ("ladder.court.service_mean_hours", [1000.0, 1000.0, 1000.0], [1.0, 1.0, 1000 * (1 + EPS)]),
    ("ladder.grid.service_cv", 1e-3, 1e-3 * (1 - EPS)),
    ("town.cell_pop_cv", 1e-3, 1e-3 * (1 - EPS)),
    ("town.cell_pop_cv", 0.0, 1e-300),
    ("town.centre_decay_share", 0.01, 0.01 * (1 - EPS)),
    ("staffing.mediator_hours", 0.1, 0.1 * (1 - EPS)),
    ("staffing.township_hours", 0.1, 0.1 * (1 - EPS)),
    ("staffing.court_hours", 0.1, 0.1 * (1 - EPS)),
    ("staffing.police_speed_kmh", 1.0, 1 - EPS),
    ("disputes.propensity_shape", 0.01, 0.01 * (1 - EPS)),
    ("crime.cameras_per_covered_cell", 1000.0, 1000 * (1 + EPS)),
    ("crime.camera_life_years", 0.1, 0.1 * (1 - EPS)),
    ("perception.survey_n", 1_000_000, 1_000_001),
    ("perception.survey_every_days", 36500, 36501),
    ("perception.safety_mean", 0.001, 0.001 - EPS),
    ("perception.safety_mean", 0.999, 0.999 + EPS),
    ("perception.trust_mean", 0.999, 0.999 + EPS),
    ("area_km2", 0.01, 0.01 - EPS),
    ("disputes.severity.neighbour", [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]),
    ("perception.w_victim", 1e6, float("nan")),
    ("staffing.routine_hours_per_1000", 1e6, float("inf")),
]


@pytest.mark.parametrize("key,ok,bad", BOUNDS, ids=[f"{k}={b!r}" for k, _, b in BOUNDS])
def test_schema_bound(key, ok, bad):
    """Refused just past the bound with one line naming the key; accepted at it, and a tiny
    town runs there (the bounds keep the model from crashing, not only the schema)."""
    base = sim.Scenario().with_overrides({"population": 400, "area_km2": 1, "days": 2, "warmup_days": 0})
    with pytest.raises(ScenarioError) as exc:
        base.with_overrides({key: bad}, "test.yaml")
    msg = str(exc.value)
    assert msg.startswith("test.yaml: key ") and key.rsplit(".", 1)[0] in msg and "\n" not in msg, msg
    sim.GovernanceModel(base.with_overrides({key: ok}), rng=1).run()


def test_all_zero_type_shares_refused_by_the_schema():
    zero = {f"disputes.type_shares.{k}": 0.0 for k in DISPUTE_TYPES}
    with pytest.raises(ScenarioError, match=r"key 'disputes.type_shares'.*must not all be zero"):
        sim.Scenario().with_overrides(zero)
    sim.Scenario().with_overrides({**zero, "disputes.type_shares.family": 1e-6})


@pytest.mark.parametrize("text,key", [("area_km2: .inf\n", "area_km2"),
                                      ("crime:\n  rate_per_10k_year:\n    theft: 1e308\n", "crime.rate_per_10k_year.theft"),
                                      ("staffing:\n  mediators_per_10k: 1e9\n", "staffing.mediators_per_10k"),
                                      ("disputes:\n  severity:\n    neighbour: [0, 0, 0]\n", "disputes.severity.neighbour"),
                                      ("town:\n  cell_pop_cv: 1e-12\n", "town.cell_pop_cv")])
def test_scenario_file_past_a_bound(text, key, tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    line = refused(capsys, ["run", path, "--out", tmp_path / "out", *SMALL], path, f"key '{key}'")
    assert "allowed" in line or "must" in line
    nothing_in(tmp_path, {"bad.yaml"})


# --------------------------------------------------------------------------- 2. memory and design size
def test_memory_estimate_grows_with_the_busy_arrays():
    base = sim.Scenario().with_overrides({"population": 100_000, "warmup_days": 0, "days": 100})
    small, big = memory_estimate(base), memory_estimate(base.with_overrides({"staffing.mediators_per_10k": 1e4}))
    # 100,000 mediators with a float32 busy row over 101 days each: ≈ 40 MB more, plus their agents
    assert 100_000 * 4 * 101 < big - small < 100_000 * (4 * 101 + 5_000)


def test_run_that_would_not_fit_is_refused(tmp_path, capsys, tight_memory):
    refused(capsys, ["run", DEFAULT, "--out", tmp_path / "out", "--quiet"], DEFAULT, "would need about", "GB available",
            "--scale")
    nothing_in(tmp_path, set())


def test_sweep_that_would_not_fit_is_refused(tmp_path, capsys, tight_memory):
    exp = write_exp(tmp_path, scale=1.0)
    refused(capsys, ["sweep", exp, "--out", tmp_path / "out", "--workers", "2", "--quiet"], exp,
            "2 runs at a time", "would need about")
    nothing_in(tmp_path, {"exp.yaml"})


def test_calibrate_that_would_not_fit_is_refused(tmp_path, capsys, tight_memory):
    refused(capsys, ["calibrate", DEFAULT, "--target", "population_share_safe=0.8", "--scale", "1",
                     "--out", tmp_path / "c.yaml", "--quiet"], DEFAULT, "calibration", "would need about")
    nothing_in(tmp_path, set())


def test_validate_that_would_not_fit_is_refused(tmp_path, capsys, tight_memory):
    refused(capsys, ["validate", "--quick", "--out", tmp_path / "v", "--quiet"], "validate (quick,", "would need about")
    nothing_in(tmp_path, set())


def test_huge_factorial_refused_before_drawing_a_point(tmp_path, capsys):
    axes = {k: [v * (i + 1) for i in range(30)] for k, v in (
        ("residents_per_grid", 100), ("staffing.workers_per_grid", 1), ("staffing.fulltime_hours", 0.5),
        ("staffing.parttime_hours", 0.5), ("disputes.rate_per_10k_year", 10), ("town.household_size", 0.1),
        ("staffing.visits_per_hour", 0.5), ("town.residents_per_cell", 100))}
    exp = write_exp(tmp_path, axes=axes)
    refused(capsys, ["sweep", exp, "--out", tmp_path / "out", "--quiet"], exp, "656,100,000,000 runs", "1,000,000")
    samples = write_exp(tmp_path, design="lhs", samples=1_000_000, replicates=2, axes={"fulltime_ratio": [0, 1]})
    refused(capsys, ["sweep", samples, "--out", tmp_path / "out", "--quiet"], samples, "2,000,000 runs")
    nothing_in(tmp_path, {"exp.yaml"})


# --------------------------------------------------------------------------- 3. command-line checks
@pytest.mark.parametrize("seed", ["-1", str(2**63)])
def test_run_seed_out_of_range(seed, tmp_path, capsys):
    refused(capsys, ["run", DEFAULT, "--out", tmp_path / "out", "--seed", seed, *SMALL], "--seed", "2**63")
    refused(capsys, ["calibrate", DEFAULT, "--target", "population_share_safe=0.8", "--seed", seed,
                     "--out", tmp_path / "c.yaml"], "--seed")
    nothing_in(tmp_path, set())


def _bad_outs(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """Output paths no command can write, and what the message must say."""
    (tmp_path / "file").write_text("x")
    return {"empty": ("", "empty"), "under_a_file": (str(tmp_path / "file" / "sub"), "is a file, not a directory"),
            "proc": ("/proc/gridsim-out", "/proc is a kernel pseudo-filesystem")}


COMMANDS = {
    "run": lambda out: ["run", DEFAULT, "--out", out, *SMALL],
    "calibrate": lambda out: ["calibrate", DEFAULT, "--target", "population_share_safe=0.8", "--out", out, "--quiet"],
    "validate": lambda out: ["validate", "--quick", "--out", out, "--quiet"],
}


@pytest.mark.parametrize("command", [*COMMANDS, "sweep"])
@pytest.mark.parametrize("case", ["empty", "under_a_file", "proc"])
def test_out_that_cannot_be_written(command, case, tmp_path, capsys):
    out, text = _bad_outs(tmp_path)[case]
    argv = (["sweep", write_exp(tmp_path), "--out", out, "--quiet"] if command == "sweep" else COMMANDS[command](out))
    before = {p.name for p in tmp_path.iterdir()}
    refused(capsys, argv, "--out", text)
    nothing_in(tmp_path, before)
    assert (tmp_path / "file").read_text() == "x"


@pytest.mark.parametrize("command", [*COMMANDS, "sweep"])
def test_out_on_a_read_only_filesystem(command, tmp_path, capsys, read_only):
    out = tmp_path / "ro" / "out"
    argv = (["sweep", write_exp(tmp_path), "--out", out, "--quiet"] if command == "sweep" else COMMANDS[command](out))
    refused(capsys, argv, "--out", "cannot write in", "read-only filesystem")
    assert not (tmp_path / "ro").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory anyway")
def test_run_out_in_a_directory_without_write_permission(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    refused(capsys, ["run", DEFAULT, "--out", locked / "out", *SMALL], "--out", "cannot write in")


def _bad_stores(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    made = {}
    for name, text in (("junk", "not a sweep store (not an SQLite database"), ("empty", "empty file"),
                       ("foreign", "without gridsim's tables"), ("directory", "is a directory")):
        d = tmp_path / name
        d.mkdir()
        store = d / "store.sqlite"
        if name == "junk":
            store.write_bytes(os.urandom(4096))
        elif name == "empty":
            store.write_bytes(b"")
        elif name == "foreign":
            db = sqlite3.connect(store)
            db.execute("CREATE TABLE t (x)")
            db.commit()
            db.close()
        else:
            store.mkdir()
        made[name] = (d, text)
    return made


@pytest.mark.parametrize("case", ["junk", "empty", "foreign", "directory"])
def test_export_and_plot_of_a_bad_store(case, tmp_path, capsys):
    d, text = _bad_stores(tmp_path)[case]
    before = {p.name for p in d.iterdir()}
    refused(capsys, ["export", d], d / "store.sqlite", text)
    refused(capsys, ["plot", d], d / "store.sqlite", text)
    nothing_in(d, before)


def test_export_output_that_cannot_be_written(sweep_dir, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    refused(capsys, ["export", sweep_dir, "--output", tmp_path / "file" / "runs.csv"], "--output", "is a file")
    refused(capsys, ["export", sweep_dir, "--output", "/proc/runs.csv"], "--output", "/proc")
    refused(capsys, ["export", sweep_dir, "--output", tmp_path], "--output", "is a directory")
    refused(capsys, ["export", sweep_dir, "--output", ""], "--output", "empty")
    nothing_in(tmp_path, {"file"})


def test_plot_arguments(sweep_dir, tmp_path, capsys):
    sweep_dir = shutil.copytree(sweep_dir, tmp_path / "sweep")
    for value in ("nan", "inf", "0", "-1"):
        refused(capsys, ["plot", sweep_dir, "--elasticity", value], "--elasticity", "finite number above 0")
    refused(capsys, ["plot", sweep_dir, "--threshold-axis", "camera_coverage"], "--threshold-axis 'camera_coverage'",
            "its axes: residents_per_grid")
    assert not (sweep_dir / "plots").exists()
    (sweep_dir / "plots").write_text("not a directory")
    try:
        refused(capsys, ["plot", sweep_dir], "plots", "exists and is not a directory")
    finally:
        (sweep_dir / "plots").unlink()


# --------------------------------------------------------------------------- 4. atomic writes, stale temporaries
def test_temporaries_are_unique_and_stale_ones_are_removed(tmp_path):
    target = tmp_path / "runs.csv"
    assert sim.run.temp_path(target) != sim.run.temp_path(target)          # two writers never share one
    dead = dead_pid()
    stale_file = tmp_path / f".runs.csv.tmp-{dead}-0123abcd"
    stale_dir = tmp_path / f".run.tmp-{dead}"                              # an older gridsim's directory
    live = tmp_path / f".runs.csv.tmp-{os.getpid()}-feedbeef"              # a live writer's: kept
    other = tmp_path / ".notes.tmp"                                        # not ours: kept
    stale_file.write_text("half")
    stale_dir.mkdir()
    (stale_dir / "summary.json").write_text("{")
    live.write_text("busy")
    other.write_text("x")
    removed = sim.run.remove_stale_temps(tmp_path)
    assert set(removed) == {stale_file, stale_dir}
    assert live.exists() and other.exists() and not stale_file.exists() and not stale_dir.exists()


def test_export_and_plot_are_atomic_and_clean_up(sweep_dir, tmp_path, capsys, monkeypatch):
    sweep_dir = shutil.copytree(sweep_dir, tmp_path / "sweep")
    tmp_path = tmp_path / "export"
    tmp_path.mkdir()
    dead = dead_pid()
    out = tmp_path / "runs.csv"
    (tmp_path / f".runs.csv.tmp-{dead}-00000000").write_text("killed export")
    assert main(["export", str(sweep_dir), "--output", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]
    good = out.read_bytes()
    # a failure mid-write leaves the earlier file whole and no temporary behind
    import pandas as pd

    def torn(self, path, *a, **kw):
        Path(path).write_text("run_id,po")
        raise KeyboardInterrupt
    monkeypatch.setattr(pd.DataFrame, "to_csv", torn)
    assert main(["export", str(sweep_dir), "--output", str(out)]) == 130
    assert out.read_bytes() == good and sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]
    monkeypatch.undo()

    plots = sweep_dir / "plots"
    assert main(["plot", str(sweep_dir)]) == 0
    png = next(plots.glob("curves_*.png"))
    first = png.read_bytes()
    (plots / f".{png.name}.tmp-{dead}-00000000").write_bytes(b"")          # left by a killed plot
    import matplotlib.figure

    def torn_png(self, path, *a, **kw):
        Path(path).write_bytes(first[:100])
        raise KeyboardInterrupt
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", torn_png)
    assert main(["plot", str(sweep_dir)]) == 130
    monkeypatch.undo()
    assert png.read_bytes() == first and not [p for p in plots.iterdir() if ".tmp-" in p.name]
    capsys.readouterr()


def test_run_removes_a_killed_runs_temporary_directory(tmp_path, capsys):
    stale = tmp_path / f".out.tmp-{dead_pid()}"
    stale.mkdir()
    (stale / "daily.csv").write_text("day\n1\n")
    assert main(["run", str(DEFAULT), "--out", str(tmp_path / "out"), *SMALL]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    capsys.readouterr()
