"""Figures (issue 14): verdicts from the data, true spacing on numeric axes, no interval claims without replicates."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.analysis import curves
from sim.analysis.curves import _logx, _mark_threshold, interval_words, replicates_of, runaway_threshold
from sim.validation import plots as vplots
from sim.validation.levers import lever_verdict

ROOT = Path(__file__).resolve().parents[1]


def _ci(m, lo, hi, n=8):
    return {"mean": m, "low": lo, "high": hi, "sd": 1.0, "n": n}


def _outcome(steps, ends):
    vals = [0.0, 0.5, 1.0]
    return {"steps": [{"from": a, "to": b, "change": c} for a, b, c in zip(vals, vals[1:], steps)], "ends": ends}


def test_lever_verdict_from_paired_intervals():
    v = [0.0, 0.5, 1.0]
    up, down, flat = _ci(1, 0.5, 1.5), _ci(-1, -1.5, -0.5), _ci(0, -1, 1)
    assert lever_verdict(v, _outcome([up, flat], up)) == "rises"
    assert lever_verdict(v, _outcome([down, flat], down)) == "falls"
    assert lever_verdict(v, _outcome([up, down], flat)) == "not monotone"
    assert lever_verdict(v, _outcome([flat, down], up)) == "not monotone"         # a step against the ends
    assert lever_verdict(v, _outcome([flat, flat], flat)) == "no clear trend within the intervals"
    # values stored from "less" to "more" of the lever, decreasing (smaller grids): direction is along x
    rv = [2000, 1200, 300]
    o = {"steps": [{"from": 2000, "to": 1200, "change": down}, {"from": 1200, "to": 300, "change": flat}], "ends": down}
    assert lever_verdict(rv, o) == "rises"
    one = _outcome([_ci(1, math.nan, math.nan, 1)] * 2, _ci(1, math.nan, math.nan, 1))
    assert lever_verdict(v, one, 1) == "no interval: 1 replicate"


def test_levers_png_titles_are_verdicts_and_axes_true_spacing(tmp_path, monkeypatch):
    res = json.loads((ROOT / "docs/validation/validation.json").read_text(encoding="utf-8"))
    figs = []
    monkeypatch.setattr(vplots, "_save", lambda fig, path: figs.append(fig))
    vplots.plot_levers(res, tmp_path / "levers.png")
    fig = figs[0]
    lv = res["levers"]
    axes = np.array(fig.axes).reshape(len(lv["outcomes"]), len(lv["levers"]))
    titles = [a.get_title() for a in axes.ravel()]
    assert not any(t in ("monotone", "NOT monotone") for t in titles)
    for (j, (lever, d)) in enumerate(lv["levers"].items()):
        for i, k in enumerate(lv["outcomes"]):
            assert axes[i, j].get_title().startswith(lever_verdict(d["values"], d["outcomes"][k], lv["replicates"]))
    col = list(lv["levers"]).index("residents_per_grid")
    a = axes[0, col]
    assert a.get_xscale() == "log"
    x = a.lines[0].get_xdata()
    assert list(x) == sorted(lv["levers"]["residents_per_grid"]["values"])    # real values, increasing
    for lever in ("fulltime_ratio", "camera_coverage"):
        b = axes[0, list(lv["levers"]).index(lever)]
        assert b.get_xscale() == "linear" and b.lines[0].get_xdata().max() == pytest.approx(100)   # a share, in %
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_share_levers_never_on_a_log_axis():
    share = np.linspace(0.02, 0.98, 8)
    assert not _logx(share, "camera_coverage") and not _logx(share, "fulltime_ratio")
    assert not _logx(share)                                   # any 0–1 range, whatever its name
    assert _logx([100, 300, 1000, 3000], "residents_per_grid")
    assert not _logx([650, 1400, 2800, 5650], "residents_per_grid")      # < 10×: linear, true spacing


def _df(replicates: int) -> pd.DataFrame:
    rows = [{"status": "done", "point": p, "replicate": r, "axis.residents_per_grid": x, "y": y}
            for p, (x, y) in enumerate([(300, 0.0), (600, 0.0), (1200, 5.0)]) for r in range(replicates)]
    return pd.DataFrame(rows)


def test_one_replicate_makes_no_interval_claims():
    one, two = _df(1), _df(2)
    assert replicates_of(one) == 1 and replicates_of(two) == 2
    assert interval_words(one, 0.95) == "no interval: 1 replicate"
    assert "95% t-interval over 2 replicates" == interval_words(two, 0.95)
    curve = curves.axis_curve(one, "residents_per_grid", "y")
    assert curve["lo"].isna().all() and runaway_threshold(curve) is None      # a jump from 0, but no verdict


def test_threshold_legend_never_says_slope_inf():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    _mark_threshold(ax, {"x_before": 600, "x": 1200, "slope": math.inf, "before": 0.0, "after": 5.0}, None)
    labels = ax.get_legend_handles_labels()[1]
    plt.close(fig)
    assert labels and "inf" not in labels[0] and "rise from ≤ 0" in labels[0]


def test_threshold_plot_of_one_replicate_says_so(tmp_path, monkeypatch):
    titles = []

    def grab(fig, path):
        titles.append(fig._suptitle.get_text())
        import matplotlib.pyplot as plt

        plt.close(fig)
        return path

    monkeypatch.setattr(curves, "_save", grab)
    _, found = curves._plot_threshold(_df(1), "residents_per_grid", ["y"], 1.0, 0.95, False, 8, None, tmp_path, "t")
    assert found == [] and "no interval: 1 replicate" in titles[0] and "non-overlapping 95" not in titles[0]
    _, found = curves._plot_threshold(_df(3), "residents_per_grid", ["y"], 1.0, 0.95, False, 8, None, tmp_path, "t")
    assert "non-overlapping 95% intervals (3 replicates)" in titles[0 + 1]
