"""`gridsim run`: bad input gives one line and exit 2 with nothing written; good input writes
complete, mutually consistent outputs; a failed run leaves nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import pandas as pd
import pytest

from sim.cli import main

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--days", "20", "--scale", "0.03", "--quiet"]

# (file content, extra CLI args, substrings the one-line error must contain)
BROKEN = {
    "missing": (None, [], ["no such file"]),
    "not_yaml": (b"a: [1,\nb: 2\n", [], ["not valid YAML", "line"]),
    "binary": (bytes(range(256)) * 4, [], ["not a text file"]),
    "nul_bytes": (b"name: x\x00\x01\x02", [], ["not a text file"]),
    "list": (b"- 1\n- 2\n", [], ["must be a YAML mapping", "list"]),
    "unknown_top": (b"residents_per_grdi: 500\n", [], ["unknown key 'residents_per_grdi'", "did you mean 'residents_per_grid'"]),
    "unknown_nested": (b"staffing:\n  workers: 2\n", [], ["unknown key 'staffing.workers'", "staffing.workers_per_grid"]),
    "unknown_section": (b"stafing:\n  workers_per_grid: 2\n", [], ["unknown key 'stafing'", "did you mean 'staffing'"]),
    "wrong_type": (b"days: many\n", [], ["key 'days'", "valid integer", "'many'"]),
    "wrong_type_section": (b"staffing: 3\n", [], ["key 'staffing'"]),
    "out_of_range": (b"fulltime_ratio: 1.5\n", [], ["key 'fulltime_ratio'", "allowed: ≥ 0 and ≤ 1"]),
    "out_of_range_tuple": (b"ladder:\n  grid:\n    success: [0.5, 1.2, 0.1]\n", [], ["key 'ladder.grid.success'", "≤ 1"]),
    "negative": (b"population: -5\n", [], ["key 'population'", "allowed: ≥ 1"]),
    "bad_choice": (b"staffing:\n  police_posting: bus\n", [], ["key 'staffing.police_posting'", "'village' or 'station'"]),
    "cutpoints": (b"perception:\n  cutpoints: [0.5, 0.4, 0.6, 0.8]\n", [], ["perception", "cutpoints must increase"]),
    "bad_source_key": (b"sources:\n  nope.key: x\n", [], ["sources names unknown key 'nope.key'"]),
    "extends_missing": (b"extends: nowhere.yaml\n", [], ["nowhere.yaml", "no such file"]),
    "bad_set": (b"name: ok\n", ["--set", "fulltime_ratio"], ["--set", "KEY=VALUE"]),
    "unknown_set": (b"name: ok\n", ["--set", "fulltime_ration=0.5"], ["unknown key 'fulltime_ration'", "did you mean 'fulltime_ratio'"]),
    "bad_scale": (b"name: ok\n", ["--scale", "3"], ["key 'scale'", "≤ 1"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_input_gives_one_line(case, tmp_path, capsys):
    content, extra, expected = BROKEN[case]
    path = tmp_path / f"{case}.yaml"
    if content is not None:
        path.write_bytes(content)
    out = tmp_path / "out"
    rc = main(["run", str(path), "--out", str(out), *SMALL, *extra])
    err = capsys.readouterr().err
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert "Traceback" not in err
    if not case.endswith("set") and case != "bad_scale":
        assert str(path) in line, line  # names the file
    for text in expected:
        assert text in line, f"{text!r} not in {line!r}"
    assert not out.exists() and not list(tmp_path.glob(".out.tmp-*"))  # nothing written


def test_broken_input_in_a_real_process(tmp_path):
    """The console entry point itself: exit code 2, one line on stderr, no traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("town:\n  residents_per_cel: 40\n")
    r = subprocess.run([sys.executable, "-m", "sim", "run", str(bad), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "did you mean 'town.residents_per_cell'" in r.stderr
    assert not (tmp_path / "o").exists()


def test_run_writes_consistent_outputs(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["run", str(ROOT / "scenarios" / "default.yaml"), "--out", str(out), "--seed", "3", *SMALL,
               "--set", "track_residents=25"])
    assert rc == 0
    table = capsys.readouterr().out
    from sim.catalogue import HEADLINE, OUTCOMES

    assert all(OUTCOMES[k].label in table for k in HEADLINE)
    s = json.loads((out / "summary.json").read_text())
    assert s["residents"] == 3000 and s["seed"] == 3 and s["days"] == 20
    assert s["scenario"]["parameters"]["days"] == 20 and s["versions"]["mesa"].startswith("3.5")
    daily = pd.read_csv(out / "daily.csv")
    assert len(daily) == 20 and daily["day"].tolist() == list(range(1, 21))
    disputes = pd.read_parquet(out / "disputes.parquet")
    incidents = pd.read_parquet(out / "incidents.parquet")
    assert len(disputes) == s["disputes"] == daily["disputes_new"].sum()
    assert len(incidents) == s["incidents"] == daily["incidents"].sum()
    assert (disputes["status"] == "resolved").sum() == s["disputes_resolved"]
    assert set(disputes["status"]) <= {"resolved", "converted", "open"}
    town = pd.read_parquet(out / "town.parquet")
    assert town["residents"].sum() == s["residents"] and town["grid"].nunique() == s["grids"]
    sample = pd.read_parquet(out / "residents_sample.parquet")
    assert len(sample) == 25 * 20 and sample["safety"].between(0, 1).all()
    for png in ("safety.png", "resolution_by_rung.png", "backlog.png", "map.png"):
        img = mpimg.imread(out / png)
        assert img.shape[0] > 200 and img.shape[1] > 200 and img.std() > 0.01  # a real, non-blank picture


def test_failed_run_leaves_nothing_and_keeps_the_previous_result(tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert main(["run", str(ROOT / "scenarios" / "default.yaml"), "--out", str(out), *SMALL]) == 0
    first = (out / "summary.json").read_text()

    import sim.plots

    def boom(_):
        raise RuntimeError("disk full")

    monkeypatch.setattr(sim.plots, "plot_run", boom)
    with pytest.raises(RuntimeError):
        main(["run", str(ROOT / "scenarios" / "default.yaml"), "--out", str(out), "--seed", "9", *SMALL])
    assert (out / "summary.json").read_text() == first          # the finished result is intact
    assert not list(tmp_path.glob(".run.tmp-*"))                # no half-written directory

    monkeypatch.undo()
    assert main(["run", str(ROOT / "scenarios" / "default.yaml"), "--out", str(out), "--seed", "9", *SMALL]) == 0
    assert (tmp_path / "run.prev" / "summary.json").read_text() == first  # the earlier result kept aside
