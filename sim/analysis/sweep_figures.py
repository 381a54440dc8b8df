"""A sweep's other figures: paired differences, heatmaps, daily series (drawn by `curves.plot_store`).

- `paired_<axis>.png`: each point minus the baseline point (the base scenario's value of the
  axis when the design has it, else the first), replicate by replicate — the same seed, and
  with `--posterior` the same parameter draw, at both points — with the paired band
  (`sim.analysis.posterior.diff_words` says what it spans); `paired.csv` holds the numbers;
- `heatmap_<a>__<b>.png` (factorial): mean over replicates in each cell, the value and the
  number of runs written in the cell;
- `daily_<axis>.png` (one-axis designs): a few distinguishable lines (all values when there
  are at most `DAILY_LINES`, else that many spread over the axis, always the ends and the
  baseline), with a legend naming them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..catalogue import SERIES
from ..experiments.store import Store
from .curves import (_draw_curve, _xscale, _is_numeric, _logx, _pyplot, _save, _scale, _set_logx, _slug, _titles, label,
                     per_replicate, replicates_of)
from .posterior import band, diff_words, is_posterior, paired

#: most lines in one daily panel before a subset is shown
DAILY_LINES = 6


def baseline_of(xs, axis: str, meta: dict):
    """The point differences are taken from: the base scenario's value of `axis` if a design value, else the first."""
    base = meta.get("definition", {}).get("base_parameters", {}).get(axis)
    values = list(xs)
    for v in values:
        if base is not None and (v == base or (isinstance(v, int | float) and isinstance(base, int | float)
                                               and math.isclose(float(v), float(base)))):
            return v
    return values[0]


def paired_curve(df: pd.DataFrame, axis: str, outcome: str, baseline, *, continuous: bool, bins: int,
                 confidence: float, posterior: bool) -> pd.DataFrame:
    """Per x: the paired difference outcome(x) − outcome(baseline), centre and band, n pairs."""
    d = paired(per_replicate(df, axis, outcome, continuous=continuous, bins=bins), baseline)
    rows = []
    for x, g in d.groupby("x", sort=True):
        m, lo, hi, n = band(g["diff"].to_numpy(float), confidence, posterior)
        rows.append({"x": x, "mean": m, "lo": lo, "hi": hi, "n": n})
    return pd.DataFrame(rows, columns=["x", "mean", "lo", "hi", "n"])


def plot_paired(df, axis, outcomes, meta, *, continuous, bins, confidence, outdir: Path, title: str):
    """`paired_<axis>.png` and its rows for `paired.csv`."""
    plt = _pyplot()
    post = is_posterior(meta)
    numeric = _is_numeric(df[f"axis.{axis}"])
    xs = per_replicate(df, axis, outcomes[0], continuous=continuous, bins=bins).index.get_level_values("x").unique()
    baseline = baseline_of(sorted(xs) if numeric else xs, axis, meta)
    n_pairs = replicates_of(df)
    words = diff_words(n_pairs, confidence, post)
    cols = 3
    fig, grid = plt.subplots(math.ceil(len(outcomes) / cols), cols, figsize=(4.2 * cols, 3.1 * math.ceil(len(outcomes) / cols)),
                             squeeze=False)
    rows = []
    for ax, outcome in zip(grid.ravel(), outcomes):
        curve = paired_curve(df, axis, outcome, baseline, continuous=continuous, bins=bins, confidence=confidence,
                             posterior=post)
        rows += [{"axis": axis, "outcome": outcome, "baseline": baseline, **r, "band": words}
                 for r in curve.to_dict("records")]
        _draw_curve(ax, curve, numeric, colour="tab:purple", outcome=outcome, name="mean paired difference", axis=axis)
        ax.axhline(0, color="0.3", lw=0.8)
        if numeric:
            ax.axvline(baseline * _xscale(axis), color="0.5", lw=0.8, ls=":")
            if _logx(curve["x"], axis):
                _set_logx(ax)
        _titles(ax, outcome, axis)
        unit = ax.get_ylabel()
        ax.set_ylabel("Δ " + (unit.replace("(%)", "(points)") if "(%)" in unit else unit), fontsize=7.5)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], color="tab:purple", marker="o", ms=3.5, label="mean paired difference"),
               Line2D([], [], color="0.5", ls=":", label=f"baseline: {label(axis)} = {_tick(baseline, axis)}")]
    if n_pairs >= 2:
        handles.append(Patch(color="tab:purple", alpha=0.2, lw=0, label=words))
    for ax in grid.ravel()[len(outcomes):]:
        ax.set_visible(False)
    fig.suptitle(f"{title}: each point minus the baseline, paired by replicate (same seed"
                 f"{' and posterior draw' if post else ''}){'; ' + words if n_pairs < 2 else ''}", fontsize=9.5)
    return _save(fig, outdir / f"paired_{_slug(axis)}.png", legend=(handles, [h.get_label() for h in handles])), rows


def _tick(v, axis: str | None = None) -> str:
    """An axis value as shown: shares in %, numbers plainly, anything else as text."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    return f"{v * _xscale(axis):,.4g}"


def _cell_text(v: float) -> str:
    if not math.isfinite(v):
        return "–"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"


def plot_heatmaps(df, a, b, outcomes, outdir, title, posterior: bool = False) -> Path:
    """Every outcome over two axes: the mean in each cell, with the value and the number of runs written in it."""
    plt = _pyplot()
    done = df[df["status"] == "done"]
    n = len(outcomes)
    cols = 3
    rows = math.ceil(n / cols)
    fig, grid = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.8 * rows), squeeze=False)
    counts = done.groupby([f"axis.{b}", f"axis.{a}"]).size().unstack(f"axis.{a}")
    for ax, outcome in zip(grid.ravel(), outcomes):
        table = done.groupby([f"axis.{b}", f"axis.{a}"])[outcome].mean().unstack(f"axis.{a}") * _scale(outcome)
        values = table.to_numpy(float)
        im = ax.imshow(values, origin="lower", aspect="auto", cmap="viridis")
        finite = values[np.isfinite(values)]
        mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        small = 6.5 if values.size <= 30 else 5
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                k = counts.iloc[i, j] if i < counts.shape[0] and j < counts.shape[1] else 0
                ax.text(j, i, f"{_cell_text(values[i, j])}\nn={0 if pd.isna(k) else int(k)}", ha="center", va="center",
                        fontsize=small, color="black" if values[i, j] > mid else "white")
        ax.set_xticks(range(table.shape[1]), [_tick(v, a) for v in table.columns], fontsize=7, rotation=30)
        ax.set_yticks(range(table.shape[0]), [_tick(v, b) for v in table.index], fontsize=7)
        ax.set_xlabel(label(a), fontsize=8)
        ax.set_ylabel(label(b), fontsize=8)
        entry = SERIES.get(outcome)
        ax.set_title(label(outcome) if entry is None else entry.axis_label(), fontsize=9)
        cb = fig.colorbar(im, ax=ax, shrink=0.85)
        cb.ax.tick_params(labelsize=7)
        cb.set_label(label(outcome), fontsize=6.5)
    for ax in grid.ravel()[n:]:
        ax.set_visible(False)
    over = "posterior draws and replicates" if posterior else "replicates"
    fig.suptitle(f"{title}: mean over {over} (and other axes) in each cell; n = runs in the cell", fontsize=10)
    return _save(fig, outdir / f"heatmap_{_slug(a)}__{_slug(b)}.png")


def daily_by_point(store: Store) -> dict:
    """Per design point: its axis value and the mean daily series over replicates (streamed)."""
    acc: dict[int, dict] = {}
    for row in store.rows(with_daily=True):
        if row["status"] != "done" or not row["daily"]:
            continue
        a = acc.setdefault(row["point"], {"axes": row["axes"], "n": 0, "sum": {}})
        a["n"] += 1
        for k, v in row["daily"].items():
            a["sum"][k] = a["sum"].get(k, 0) + v.astype(float)
    return {p: {"axes": a["axes"], "n": a["n"], "mean": {k: v / a["n"] for k, v in a["sum"].items()}}
            for p, a in acc.items()}


def pick_lines(values: list, most: int = DAILY_LINES, keep=None) -> list[int]:
    """Indices of at most `most` of the (sorted) values: all if few, else evenly spread with both ends and `keep`."""
    if len(values) <= most:
        return list(range(len(values)))
    idx = {int(round(i)) for i in np.linspace(0, len(values) - 1, most - (keep is not None))}
    if keep is not None and keep in values:
        idx.add(values.index(keep))
    while len(idx) > most:                  # `keep` made one too many: drop an inner one nearest it
        inner = sorted(i for i in idx if 0 < i < len(values) - 1 and values[i] != keep)
        idx.discard(min(inner, key=lambda i: abs(i - values.index(keep))))
    return sorted(idx)


def plot_daily(daily: dict, axis: str, outdir: Path, title: str, posterior: bool = False, meta: dict | None = None) -> list[Path]:
    plt = _pyplot()
    keys = ["backlog_grid", "backlog_community", "disputes_open", "safety_share_safe"]
    points = sorted(daily, key=lambda p: (str(type(daily[p]["axes"][axis])), daily[p]["axes"][axis]))
    if not points:
        return []
    values = [daily[p]["axes"][axis] for p in points]
    shown = pick_lines(values, keep=baseline_of(values, axis, meta or {}) if meta else None)
    colours = plt.get_cmap("tab10").colors
    styles = ["-", "--", "-.", ":"]
    fig, grid = plt.subplots(2, 2, figsize=(11, 6.5), squeeze=False)
    for ax, key in zip(grid.ravel(), keys):
        for c, i in enumerate(shown):
            p = points[i]
            series = daily[p]["mean"].get(key)
            if series is None:
                continue
            v = values[i]
            ax.plot(np.arange(1, len(series) + 1), series * _scale(key), color=colours[c % 10], ls=styles[c % 4], lw=1.2,
                    label=_tick(v, axis))
        ax.set_title(SERIES[key].label if key in SERIES else key, fontsize=9)
        ax.set_ylabel(SERIES[key].axis_label() if key in SERIES else key, fontsize=8)
        ax.set_xlabel("day of the observed period", fontsize=8)
        ax.tick_params(labelsize=7)
    grid[0, 0].legend(title=label(axis), fontsize=7, title_fontsize=7, ncol=2)
    runs = min(daily[p]["n"] for p in points)
    over = "posterior draws and replicates" if posterior else "replicates"
    which = (f"{len(shown)} of {len(values)} values of {label(axis)} shown" if len(shown) < len(values)
             else f"one line per {label(axis)}")
    fig.suptitle(f"{title}: daily series, mean over {runs} runs ({over}); {which}", fontsize=10)
    return [_save(fig, outdir / f"daily_{_slug(axis)}.png")]
