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


# --------------------------------------------------------------------------- sweep figures (issue 14)
def _grab(figs):
    def save(fig, path, legend=None):
        figs.append((fig, legend))
        return path
    return save


def _two_axis_df() -> pd.DataFrame:
    rows = []
    for r in range(3):
        for p, (a, b) in enumerate([(0.0, 0.2), (0.0, 0.8), (1.0, 0.2), (1.0, 0.8)]):
            rows.append({"status": "done", "point": p, "replicate": r, "axis.fulltime_ratio": a, "axis.camera_coverage": b,
                         "population_share_safe": 0.7 + 0.1 * a + 0.01 * r, "cost_yuan_per_resident_year": 50 + 40 * a})
    return pd.DataFrame(rows)


def test_heatmap_cells_show_value_and_n(tmp_path, monkeypatch):
    from sim.analysis import sweep_figures as sf

    figs = []
    monkeypatch.setattr(sf, "_save", _grab(figs))
    sf.plot_heatmaps(_two_axis_df(), "fulltime_ratio", "camera_coverage", ["population_share_safe"], tmp_path, "t")
    fig, _ = figs[0]
    ax = fig.axes[0]
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == ["71.0\nn=3", "71.0\nn=3", "81.0\nn=3", "81.0\nn=3"]        # a share in %, and the runs per cell
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "100"]           # a share lever in %
    assert ax.get_xlabel() == "full-time share of grid workers (%)" and ax.get_title().endswith("(%)")
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_daily_plot_draws_few_distinguishable_lines_with_a_legend(tmp_path, monkeypatch):
    from sim.analysis import sweep_figures as sf

    values = [300, 500, 800, 1200, 1600, 2000, 2400, 2800, 3200, 4000, 5000, 6000]
    daily = {p: {"axes": {"residents_per_grid": v}, "n": 4,
                 "mean": {"backlog_grid": np.full(10, float(p)), "safety_share_safe": np.full(10, 0.7)}}
             for p, v in enumerate(values)}
    meta = {"definition": {"base_parameters": {"residents_per_grid": 800}}}
    figs = []
    monkeypatch.setattr(sf, "_save", _grab(figs))
    sf.plot_daily(daily, "residents_per_grid", tmp_path, "t", False, meta)
    fig, _ = figs[0]
    ax = fig.axes[0]
    labels = ax.get_legend().get_texts()
    assert len(ax.lines) == len(labels) <= sf.DAILY_LINES
    shown = [t.get_text() for t in labels]
    assert {"300", "800", "6,000"} <= set(shown)                                   # both ends and the baseline
    styles = {(l.get_color(), l.get_linestyle()) for l in ax.lines}
    assert len(styles) == len(ax.lines)                                           # every line told apart
    assert f"{len(shown)} of 12 values" in fig._suptitle.get_text()
    assert fig.axes[3].get_ylabel().endswith("(%)") and fig.axes[3].lines[0].get_ydata().max() == pytest.approx(70)
    assert sf.pick_lines(list(range(5))) == [0, 1, 2, 3, 4]
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_sweep_curves_have_unit_labels_shares_in_percent_and_true_spacing(tmp_path, monkeypatch):
    from sim.analysis import sweep_figures as sf

    df = _two_axis_df()
    df.loc[df["axis.fulltime_ratio"] == 1.0, "axis.fulltime_ratio"] = 0.3            # uneven spacing: 0, 30 %
    figs = []
    monkeypatch.setattr(sf, "_save", _grab(figs))
    _, rows = sf.plot_paired(df, "fulltime_ratio", ["population_share_safe", "cost_yuan_per_resident_year"], {},
                             continuous=False, bins=8, confidence=0.95, outdir=tmp_path, title="t")
    fig, legend = figs[0]
    a, b = fig.axes[:2]
    assert a.get_ylabel() == "Δ population: safe (points)" and b.get_ylabel() == "Δ cost per resident (yuan/resident/yr)"
    assert a.get_xscale() == "linear" and list(a.lines[0].get_xdata()) == pytest.approx([0, 30])
    assert a.lines[0].get_ydata()[1] == pytest.approx(10.0)                       # +0.1 share = 10 points, paired
    assert any("t-interval of the mean paired difference over 3 replicates" in t for t in legend[1])
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_paired_plot_of_one_replicate_claims_no_interval(tmp_path, monkeypatch):
    from sim.analysis import sweep_figures as sf

    figs = []
    monkeypatch.setattr(sf, "_save", _grab(figs))
    one = _two_axis_df()
    one = one[one["replicate"] == 0]
    _, rows = sf.plot_paired(one, "fulltime_ratio", ["population_share_safe"], {}, continuous=False, bins=8,
                             confidence=0.95, outdir=tmp_path, title="t")
    fig, legend = figs[0]
    assert "no interval: 1 replicate" in fig._suptitle.get_text()
    assert not any("interval" in t for t in legend[1]) and all(math.isnan(r["lo"]) for r in rows)
    import matplotlib.pyplot as plt

    plt.close(fig)
