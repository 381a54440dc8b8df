"""Figures of one run, of validation's Sobol indices and of the benchmark (issue 14): a map with a km scale
bar and colour bars (per grid at city scale), no twin axes, hidden disputes kept apart from the rungs'
backlog, intervals that say what they span, measured apart from extrapolated, and the like-for-like
comparison with plain Mesa agents."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mesa  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar  # noqa: E402

from sim import bench, bench_mesa, plots  # noqa: E402
from sim.scenario import RUNGS  # noqa: E402
from sim.validation import plots as vplots  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def figs(monkeypatch):
    """The figures the plot functions would save, kept open for inspection."""
    got = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: got.append(fig))
    monkeypatch.setattr(vplots, "_save", lambda fig, path: got.append(fig))
    yield got
    for f in got:
        plt.close(f)


def town_of(side: int, block: int, seed: int = 0) -> pd.DataFrame:
    """A square town of side × side cells cut into block × block grids, townships by quadrant."""
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    x, y = x.ravel(), y.ravel()
    per_row = -(-side // block)
    grid = (x // block) * per_row + y // block
    return pd.DataFrame({"x": x, "y": y, "residents": rng.integers(5, 60, len(x)), "public": rng.random(len(x)) < 0.3,
                         "camera": rng.random(len(x)) < 0.1, "grid": grid, "community": grid // 4,
                         "township": (x >= side // 2) * 2 + (y >= side // 2)})


def disputes_of(town: pd.DataFrame, n: int, seed: int = 1) -> pd.DataFrame:
    cell = np.random.default_rng(seed).integers(0, len(town), n)
    return pd.DataFrame({"cell": cell, "grid": town["grid"].to_numpy()[cell], "status": "open"})


def test_map_has_scale_bar_colour_bar_and_distinct_colours(figs, tmp_path):
    town = town_of(30, 6)
    plots.plot_map(town, disputes_of(town, 300), tmp_path / "map.png", "t", cell_km=0.25, days=365)
    fig = figs[-1]
    ax = fig.axes[0]
    bars = [a for a in ax.artists if isinstance(a, AnchoredSizeBar)]
    assert len(bars) == 1
    label = bars[0].txt_label.get_text()
    assert label.endswith(" km")
    km = float(label.split()[0])
    bar_cells = bars[0].size_bar.get_children()[0].get_width()
    assert bar_cells * 0.25 == pytest.approx(km)                       # the bar is as long as it says
    assert ax.images[0].colorbar is not None and "per km²" in ax.images[0].colorbar.ax.get_ylabel()
    border = next(c for c in ax.collections if isinstance(c, LineCollection))
    dots = [c for c in ax.collections if isinstance(c, PathCollection)]
    colours = [tuple(np.round(border.get_colors()[0], 3))] + [tuple(np.round(c.get_facecolors()[0][:3].tolist() + [1], 3)) for c in dots]
    assert len(set(colours)) == len(colours) == 3                       # borders, cameras, disputes told apart
    assert not np.allclose(border.get_colors()[0], to_rgba("tab:red"))


def test_map_aggregates_to_grids_at_city_scale(figs, tmp_path):
    town = town_of(80, 4)                                               # 400 grids > MAP_DETAIL_GRIDS
    assert town["grid"].nunique() > plots.MAP_DETAIL_GRIDS
    d = disputes_of(town, 4000)
    plots.plot_map(town, d, tmp_path / "map.png", "city", cell_km=0.3, days=73)
    fig = figs[-1]
    maps = [a for a in fig.axes if a.images]
    assert len(maps) == 3
    for a in maps:
        assert a.images[0].colorbar is not None
        assert any(isinstance(x, AnchoredSizeBar) for x in a.artists)
        assert not any(isinstance(c, PathCollection) for c in a.collections)      # no dots: one colour per grid
    rates = next(a for a in maps if "disputes per 1,000" in a.get_title())
    img = np.asarray(rates.images[0].get_array()).T                   # back to x × y
    g = 37
    res = town.loc[town["grid"] == g, "residents"].sum()
    expect = (d["grid"] == g).sum() / res * 1000 * 365 / 73
    cells = town[town["grid"] == g]
    assert np.allclose(img[cells["x"], cells["y"]], expect)            # every cell of the grid carries the grid's rate


def _daily(days: int = 120, dated: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"day": np.arange(1, days + 1), "safety_share_safe": 0.77 + 0.001 * rng.standard_normal(days),
                      "trust_mean": 0.6102 + 0.0001 * np.arange(days) / days, "disputes_open": 190 + rng.integers(-5, 5, days)})
    for i, r in enumerate(RUNGS):
        d[f"backlog_{r}"] = rng.integers(0, 20, days) // (i + 1)
    if dated:
        d["date"] = pd.date_range("2015-01-01", periods=days).strftime("%Y-%m-%d")
    return d


def _overlapping(fig) -> bool:
    """Whether two axes sit on the same place (a twin axis)."""
    boxes = [tuple(np.round(a.get_position().bounds, 4)) for a in fig.axes]
    return len(boxes) != len(set(boxes))


def test_safety_has_no_twin_axis_and_trust_on_its_whole_range(figs, tmp_path):
    surveys = [{"day": 91, "n": 1000, "share_safe": 0.78, "se": 0.013}, {"day": 120, "n": 1000, "share_safe": 0.76, "se": 0.013}]
    plots.plot_safety(_daily(), surveys, tmp_path / "safety.png", "t")
    fig = figs[-1]
    assert not _overlapping(fig) and len(fig.axes) == 2
    top, trust = fig.axes
    assert trust.get_ylim() == (0.0, 1.0)                              # not autoscaled to 0.0001 of noise
    assert top.lines[0].get_ydata().max() > 1                          # shares in %
    assert any("95 %" in t and "SE" in t for t in top.get_legend_handles_labels()[1])
    plots.plot_safety(_daily(), [], tmp_path / "safety.png", "t")         # no survey: the axis is not autoscaled to noise
    lo, hi = figs[-1].axes[0].get_ylim()
    assert hi - lo >= 5


def test_backlog_keeps_hidden_disputes_apart(figs, tmp_path):
    daily = _daily()
    plots.plot_backlog(daily, tmp_path / "backlog.png", "t")
    fig = figs[-1]
    top, rungs = fig.axes
    hidden = next(line for line in top.lines if line.get_label().startswith("not known to any rung"))
    expect = daily["disputes_open"] - sum(daily[f"backlog_{r}"] for r in RUNGS)
    assert np.array_equal(hidden.get_ydata(), expect)
    assert [line.get_label() for line in rungs.lines] == list(RUNGS)   # the rung panel holds the rungs only
    assert len({line.get_color() for line in rungs.lines}) == len(RUNGS)           # told apart by colour
    assert len({line.get_linestyle() for line in rungs.lines}) >= 4                 # and in grey, by dashes


def _periods(quarters: int = 4) -> dict:
    out = {}
    for i in range(quarters):
        first = pd.Timestamp("2015-01-01") + pd.DateOffset(months=3 * i)
        last = first + pd.DateOffset(months=3) - pd.Timedelta(days=1)
        out[f"{first.year}Q{i % 4 + 1}"] = {
            "first_date": first.strftime("%Y-%m-%d"), "last_date": last.strftime("%Y-%m-%d"), "partial": False,
            "population_share_safe": 0.76, "survey_share_safe": 0.75 + 0.01 * i, "survey_se": 0.013,
            "incidents": 60 + i, "incidents_per_10k_year": 55.0 + i, "clearance_rate": 0.4,
            "report_to_resolution_hours_mean": 120.0, "share_settled_in_grid": 0.62, "disputes_resolved_in_period": 300,
            "cost_yuan_per_resident_year": 55.0, "cameras": 70, "grid_workers": 160}
    out["2015"] = {"first_date": "2015-01-01", "last_date": "2015-12-31"}
    return out


def test_trajectory_has_no_twin_axes_and_intervals(figs, tmp_path):
    events = [{"day": 100, "date": "2015-04-11", "label": "cameras 60 → 80", "kind": "step"}]
    plots.plot_trajectory(_periods(), events, tmp_path / "trajectory.png", "t")
    fig = figs[-1]
    assert not _overlapping(fig)
    inc = next(a for a in fig.axes if "incidents per 10,000" in a.get_ylabel())
    (lo, hi), = [np.asarray(seg)[:, :, 1].T for seg in [inc.collections[0].get_segments()]]
    assert np.all(lo < 55.0 + np.arange(4)) and np.all(hi > 55.0 + np.arange(4))   # the Poisson interval brackets the rate
    assert all(any(line.get_color() == "tab:purple" for line in a.lines) for a in fig.axes)   # changes marked everywhere


def test_sobol_plot_inverted_once_legend_explains_marker_and_range(figs, tmp_path, monkeypatch):
    res = json.loads((ROOT / "docs/validation/validation.json").read_text(encoding="utf-8"))
    closed = []
    monkeypatch.setattr(plt, "close", lambda fig=None: closed.append(fig))
    fig_before = set(plt.get_fignums())
    vplots.plot_sobol(res, tmp_path / "sobol.png")
    fig = plt.figure([n for n in plt.get_fignums() if n not in fig_before][0])
    ax = fig.axes[0]
    rows = res["sensitivity"]["sobol"]["indices"][res["sensitivity"]["sobol"]["outcomes"][0]]
    lo, hi = ax.get_ylim()
    assert lo > hi                                                     # first row on top: inverted exactly once
    assert ax.get_yticklabels()[0].get_text().endswith(rows[0]["key"])
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("◆" in t and "lever" in t for t in labels) and any("bootstrap interval" in t for t in labels)
    assert any("outside 0–100 %" in t for t in labels)
    assert ax.get_xlabel() == "% of the outcome's variance"
    assert (tmp_path / "sobol.png").exists()
    monkeypatch.undo()
    plt.close(fig)


def test_mesa_version_is_one_agent_per_resident_and_agrees():
    model, start, days = bench_mesa.record_days(4_000, 60, seed=3)
    vec_s, perc = bench_mesa.replay_vectorised(model, start, days, repeats=1)
    _, mesa_s, m = bench_mesa.replay_mesa(model, start, days)
    assert len(m.agents) == model.population.n and all(isinstance(a, mesa.Agent) for a in m.residents)
    safety = np.array([a.safety for a in m.residents])
    trust = np.array([a.trust for a in m.residents])
    assert np.abs(safety - perc.population.safety).max() < 1e-5        # the same update, resident by resident
    assert np.abs(trust - perc.population.trust).max() < 1e-5
    for col in ("victim_memory", "dispute_memory"):                   # the memories too, and some were struck
        mine = np.array([getattr(a, col) for a in m.residents])
        theirs = getattr(perc.population, col)
        assert theirs.max() > 0 and np.abs(mine - theirs).max() < 1e-5 * max(1.0, theirs.max())
    assert np.abs(safety - start["safety"]).max() > 1e-3               # and it did move them
    assert len(m.survey) == len(perc.survey)


def test_bench_reports_like_for_like_ratio_and_draws_extrapolation_dashed(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "QUICK_MESA", ((1_500, 15),))
    monkeypatch.setattr(bench, "time_schelling", lambda steps: {"agents": 100, "steps": steps, "seconds": 1.0,
                                                                  "agent_steps_per_s": 1e5})
    monkeypatch.setattr(bench, "time_gridsim", lambda n, days: {"residents": n, "days": days, "seconds": 1e-5 * n,
                                                                "resident_days_per_s": 1e7, "peak_rss_mb": 1.0})
    lines = []
    res = bench.run_bench(quick=True, json_path=tmp_path / "b.json", echo=lines.append)
    stored = json.loads((tmp_path / "b.json").read_text())
    like = stored["mesa_like_for_like"][-1]
    assert stored["ratio_like_for_like"] == pytest.approx(like["ratio"]) == pytest.approx(
        like["vectorised_resident_days_per_s"] / like["mesa_resident_days_per_s"])
    assert like["residents"] > 1_000 and like["ratio"] > 1 and like["max_abs_diff_safety"] < 1e-5
    assert any("like for like" in line for line in lines)
    fig = bench.scaling_figure(res)
    left, right = fig.axes
    measured = [line for line in left.lines if line.get_linestyle() == "None"]
    assert len(measured) == 1 and "measured" in measured[0].get_label()
    extrapolated = [line for line in left.lines if "extrapolated" in line.get_label()]
    assert len(extrapolated) == 2 and all(line.get_linestyle() == "--" for line in extrapolated)
    assert all(line.get_linestyle() != "--" for line in left.lines if "extrapolated" not in line.get_label())
    assert "like for like" in right.get_title() and f"{like['ratio']:.0f}×" in right.get_title()
    plt.close(fig)
