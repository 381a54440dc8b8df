"""`gridsim sweep --replicates`, its progress in a log, `export --daily` and the documented
default directory (issue 14 item 6): one small sweep, every check on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.cli import build_parser, main
from sim.experiments.store import DAILY_COLUMNS, Store

ROOT = Path(__file__).resolve().parents[1]
DAYS = 6


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """tiny.yaml (2 points, 1 replicate in the file) swept with --replicates 2 from its own
    directory, so the sweep lands in the documented default place; stderr is not a terminal."""
    import contextlib
    import io
    import os

    tmp = tmp_path_factory.mktemp("sweep")
    exp = tmp / "tiny.yaml"
    exp.write_text(f"scenario: {ROOT / 'scenarios' / 'default.yaml'}\nseed: 3\nreplicates: 1\ndays: {DAYS}\n"
                   "scale: 0.01\nset: {warmup_days: 2, start_date: 2016-02-27}\n"
                   "axes:\n  fulltime_ratio: [0.2, 0.8]\n")
    err, out, cwd = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(tmp)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(["sweep", "tiny.yaml", "--replicates", "2", "--workers", "1"])
    finally:
        os.chdir(cwd)
    assert code == 0, err.getvalue()
    return tmp, exp, out.getvalue(), err.getvalue()


def test_replicates_override_the_file_and_the_store_knows(swept):
    tmp, _, out, _ = swept
    store = tmp / "out" / "sweeps" / "tiny"          # the default directory: out/sweeps/<experiment file stem>
    with Store.open(store) as s:
        meta = s.meta()
        assert meta["replicates"] == 2 and meta["definition"]["spec"]["replicates"] == 2 and s.count("done") == 4
    assert "4 runs (2 points × 2 replicates)" in out


def test_another_replicate_count_is_another_experiment(swept, capsys):
    tmp, exp, _, _ = swept
    store = tmp / "out" / "sweeps" / "tiny"
    assert main(["sweep", str(exp), "--out", str(store), "--replicates", "3", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "changed: replicates" in err[0]
    assert main(["sweep", str(exp), "--out", str(tmp / "never"), "--replicates", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["gridsim: --replicates 0: must be between 1 and 10000"] and not (tmp / "never").exists()


def test_sweep_progress_is_a_line_per_run_in_a_log(swept):
    lines = swept[3].strip().splitlines()
    assert [ln.split(" (")[0] for ln in lines] == [f"tiny: run {i}/4" for i in range(1, 5)]
    assert "\r" not in swept[3] and "left" in lines[0] and "(100 %)" in lines[-1]


def test_quiet_sweep_prints_no_progress(swept, capsys):
    tmp, exp, _, _ = swept
    assert main(["sweep", str(exp), "--out", str(tmp / "q"), "--days", "2", "--workers", "1", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_export_daily_long_parquet_and_csv(swept, capsys):
    tmp, _, _, _ = swept
    store = tmp / "out" / "sweeps" / "tiny"
    assert main(["export", str(store), "--daily", "--format", "parquet"]) == 0
    df = pd.read_parquet(store / "daily.parquet")
    assert list(df.columns) == ["run_id", "point", "replicate", "seed", "axis.fulltime_ratio", "day", "date", "series",
                                "value"]
    assert len(df) == 4 * DAYS * len(DAILY_COLUMNS) and set(df["series"]) == set(DAILY_COLUMNS)
    assert sorted(df["day"].unique()) == list(range(1, DAYS + 1))
    first = df[df["day"] == 1]["date"].unique().tolist()
    assert first == ["2016-02-27"] and "2016-02-29" in set(df["date"])           # a calendar: dated, leap day too
    with Store.open(store) as s:                                                  # the values as stored
        row = next(r for r in s.rows(with_daily=True) if r["run_id"] == "p00001-r0001")
    mine = df[(df["run_id"] == "p00001-r0001") & (df["series"] == "safety_share_safe")].sort_values("day")
    assert np.array_equal(mine["value"].to_numpy(), row["daily"]["safety_share_safe"])
    assert mine["axis.fulltime_ratio"].iloc[0] == 0.8 and mine["seed"].iloc[0] == row["seed"]
    assert main(["export", str(store), "--daily", "--output", str(tmp / "d" / "daily.csv")]) == 0
    csv = pd.read_csv(tmp / "d" / "daily.csv")
    assert len(csv) == len(df) and list(csv.columns) == list(df.columns)
    assert "rows (daily series of 4 runs, long form)" in capsys.readouterr().out
    assert main(["export", str(tmp / "nowhere"), "--daily", "--output", str(tmp / "never.parquet")]) == 2
    err = capsys.readouterr().err.strip().splitlines()                           # bad input: one line, nothing written
    assert len(err) == 1 and "no such sweep directory" in err[0] and not (tmp / "never.parquet").exists()


def test_help_names_the_default_directories_the_commands_use():
    sweep = build_parser("sweep").parse_args(["sweep", "x.yaml"])
    assert sweep.out is None and sweep.replicates is None
    text = build_parser("sweep", full=True)._subparsers._group_actions[0].choices["sweep"].format_help()
    assert "out/sweeps/<experiment file stem>" in " ".join(text.split()) and "--replicates N" in text
    run = build_parser("run", full=True)._subparsers._group_actions[0].choices["run"].format_help()
    assert "out/<file stem>" in " ".join(run.split())
    export = build_parser("export", full=True)._subparsers._group_actions[0].choices["export"].format_help()
    assert "--daily" in export and "DIR/daily.<format>" in " ".join(export.split())
