"""Outcome curves, heatmaps and the grid-size threshold, drawn only from a sweep's store.

Nothing here runs a model: every number comes from `DIR/store.sqlite`.

Curves.  For an axis A and an outcome Y, runs are grouped by A's value (factorial) or by
quantile bins of A (lhs, sobol; `bins`).  Within a group, the runs of each replicate are
averaged over the other axes (marginalising them); the curve is the mean of those
per-replicate values with a Student-t interval (`confidence`, default 95 %) over the
replicates.  A one-axis factorial gives the plain mean over replicates at each value.  A
sweep made with `--posterior` (replicate r = posterior draw θ_r and seed r at every point)
gets a band of the spread instead: the central 95 % of the per-replicate values, "95 % of
runs over posterior draws and replicates" (`sim.analysis.posterior`).  Every legend and
caption says which.  Lever comparisons are drawn as paired differences (`paired_<axis>.png`:
each point minus the baseline point, replicate by replicate, so by seed and draw).

Threshold ("runaway").  Along the curve of an outcome Y against grid size x (sorted,
means ȳ with intervals [lo, hi]), the threshold is the first segment (x₀, x₁] where

    log(ȳ₁ / ȳ₀) / log(x₁ / x₀)  ≥  `elasticity`     (default 1: Y grows at least in
                                                       proportion to the grid itself)
    and  lo₁ > hi₀                                    (the rise is larger than the noise)

i.e. the outcome grows at least as fast as the grid and the jump is real.  A rise from
ȳ₀ ≤ 0 counts as an infinite slope (labelled "rise from ≤ 0", never "slope inf").  Without
intervals (fewer than 2 replicates) there is no verdict: the plot says "no interval: 1 replicate".  The threshold grid size is x₁ (the smallest grid size
at which the curve has run away); the segment is shaded on the plots.  When none of the
staffing parameters is an axis, the plots also mark where routine duties alone fill the
grid team's day, 1000 × team hours / `staffing.routine_hours_per_1000` (from the stored
scenario parameters), for comparison.
"""

from __future__ import annotations

import json
import math
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from ..catalogue import KEY_OUTCOMES, OUTCOMES, SERIES
from ..catalogue import label as outcome_label
from ..experiments.design import ExperimentError
from ..experiments.store import Store
from .posterior import band, band_words, is_posterior, t_interval  # noqa: F401  (t_interval: re-exported)

#: the levers' axis labels (outcomes take theirs from the catalogue)
AXIS_LABELS = {
    "residents_per_grid": "residents per grid",
    "fulltime_ratio": "full-time share of grid workers (%)",
    "camera_coverage": "camera coverage of public space (%)",
}
#: levers that are shares of 0–1: always a linear axis, however wide their sampled range
SHARE_AXES = frozenset({"fulltime_ratio", "camera_coverage"})
THRESHOLD_AXIS = "residents_per_grid"
RUNAWAY_OUTCOMES = ("report_to_resolution_hours_mean", "resolution_hours_mean", "cases_mean_grid", "cases_mean_community")
DEFAULT_ELASTICITY = 1.0
DEFAULT_CONFIDENCE = 0.95
DEFAULT_BINS = 8
TEAM_KEYS = ("staffing.workers_per_grid", "fulltime_ratio", "staffing.fulltime_hours", "staffing.parttime_hours",
             "staffing.routine_hours_per_1000", "staffing.fulltime_first")


def label(key: str) -> str:
    """Axis label: a lever's, else the outcome catalogue's (with unit), else the key itself."""
    return AXIS_LABELS.get(key) or outcome_label(key)


# --------------------------------------------------------------------------- numbers
def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def group_axis(df: pd.DataFrame, axis: str, continuous: bool, bins: int) -> pd.Series:
    """The group (x position) of each run along `axis`: its value, or its bin's median value."""
    x = df[f"axis.{axis}"]
    if not continuous or not _is_numeric(x) or x.nunique() <= bins:
        return x
    codes = pd.qcut(x.rank(method="first"), q=bins, labels=False)
    return x.groupby(codes).transform("median")


def per_replicate(df: pd.DataFrame, axis: str, outcome: str, *, continuous: bool = False,
                  bins: int = DEFAULT_BINS) -> pd.Series:
    """`outcome` per (x, replicate): each replicate's runs at x averaged over the other axes."""
    done = df[df["status"] == "done"]
    if outcome not in done or done.empty:
        return pd.Series(dtype=float, index=pd.MultiIndex.from_arrays([[], []], names=["x", "replicate"]))
    g = group_axis(done, axis, continuous, bins)
    return done[outcome].groupby([g.rename("x"), done["replicate"]], sort=True).mean()


def axis_curve(df: pd.DataFrame, axis: str, outcome: str, *, continuous: bool = False, bins: int = DEFAULT_BINS,
               confidence: float = DEFAULT_CONFIDENCE, posterior: bool = False) -> pd.DataFrame:
    """Mean of `outcome` at each value (or bin) of `axis` with a t-interval over replicates, or
    (`posterior`) the central `confidence` share of the runs over posterior draws and replicates."""
    done = df[df["status"] == "done"]
    if outcome not in done or done.empty:
        return pd.DataFrame(columns=["x", "mean", "lo", "hi", "n"])
    per_rep = per_replicate(df, axis, outcome, continuous=continuous, bins=bins)
    rows = []
    for x, vals in per_rep.groupby(level="x", sort=True):
        m, lo, hi, n = band(vals.to_numpy(dtype=float), confidence, posterior)
        rows.append({"x": x, "mean": m, "lo": lo, "hi": hi, "n": n})
    out = pd.DataFrame(rows, columns=["x", "mean", "lo", "hi", "n"])
    if not _is_numeric(done[f"axis.{axis}"]):
        order = list(dict.fromkeys(done.sort_values("point")[f"axis.{axis}"]))
        out = out.set_index("x").loc[[o for o in order if o in set(out["x"])]].reset_index()
    return out


def replicates_of(df: pd.DataFrame) -> int:
    """How many replicates the finished runs of a sweep have (the fewest at any design point)."""
    done = df[df["status"] == "done"]
    return int(done.groupby("point")["replicate"].nunique().min()) if len(done) else 0


def interval_words(df: pd.DataFrame, confidence: float, posterior: bool = False) -> str:
    """What the bands span, or that there are none."""
    return band_words(replicates_of(df), confidence, posterior)


def runaway_threshold(curve: pd.DataFrame, elasticity: float = DEFAULT_ELASTICITY) -> dict | None:
    """The first segment where the curve runs away (module doc); None if it never does."""
    c = curve.dropna(subset=["mean"])
    c = c[pd.to_numeric(c["x"], errors="coerce") > 0].sort_values("x")
    xs, ys = c["x"].to_numpy(float), c["mean"].to_numpy(float)
    lo, hi = c["lo"].to_numpy(float), c["hi"].to_numpy(float)
    for i in range(1, len(xs)):
        if ys[i] <= ys[i - 1] or ys[i] <= 0:
            continue
        slope = math.inf if ys[i - 1] <= 0 else math.log(ys[i] / ys[i - 1]) / math.log(xs[i] / xs[i - 1])
        if not (np.isfinite(lo[i]) and np.isfinite(hi[i - 1])):
            continue                     # no interval (one replicate): no verdict, never a runaway
        if slope >= elasticity and lo[i] > hi[i - 1]:
            return {"x_before": float(xs[i - 1]), "x": float(xs[i]), "slope": slope,
                    "before": float(ys[i - 1]), "after": float(ys[i])}
    return None


def routine_capacity(params: dict) -> tuple[float, float] | None:
    """Residents per grid at which routine duties alone fill a grid team's working hours:
    (smallest team's, largest team's), by the model's own rule (`sim.gridwork.routine_capacity`)
    applied to the stored scenario parameters; None if they are not stored."""
    from ..gridwork import routine_capacity as capacity
    from ..scenario.schema import Staffing

    try:
        staffing = Staffing(**{k.split(".", 1)[1]: v for k, v in params.items() if k.startswith("staffing.")})
        return capacity(staffing, float(params["fulltime_ratio"]))
    except (KeyError, TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- drawing
def _pyplot():
    """matplotlib, headless (imported only when drawing, so `gridsim` starts fast)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, legend=None) -> Path:
    """Write the figure atomically (unique temporary name, then one rename).  `legend`:
    (handles, labels) drawn as one line under the panels."""
    from ..run import atomic_file

    plt = _pyplot()
    if legend and legend[0]:
        inch = 0.32 / fig.get_figheight()
        fig.tight_layout(rect=(0, inch, 1, 1))
        fig.legend(*legend, loc="lower center", ncol=len(legend[0]), fontsize=7.5, frameon=False,
                   bbox_to_anchor=(0.5, 0.0))
    else:
        fig.tight_layout()
    try:
        with atomic_file(path) as tmp:
            fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)
    return path


def _write_text(path: Path, text: str) -> None:
    from ..run import atomic_file

    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _write_csv(path: Path, df: pd.DataFrame) -> None:
    from ..run import atomic_file

    with atomic_file(path) as tmp:
        df.to_csv(tmp, index=False)


def _logx(values, axis: str | None = None) -> bool:
    """A log x axis only for a positive range spanning more than 10× that is not a 0–1 share."""
    if axis in SHARE_AXES:
        return False
    v = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
    return len(v) > 2 and v.min() > 0 and v.max() > 1 and v.max() / v.min() > 10


def _set_logx(ax) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _scale(outcome: str) -> float:
    """Shares are stored as fractions and drawn in %, as their labels say."""
    entry = OUTCOMES.get(outcome) or SERIES.get(outcome)
    return 100.0 if entry is not None and entry.is_share else 1.0


def _xscale(axis: str | None) -> float:
    """Share levers are stored 0–1 and drawn in %, as their labels say."""
    return 100.0 if axis in SHARE_AXES else 1.0


def _draw_curve(ax, curve: pd.DataFrame, numeric: bool, colour="tab:blue", name=None, outcome: str = "",
                axis: str | None = None) -> None:
    f = _scale(outcome)
    curve = curve.assign(mean=curve["mean"] * f, lo=curve["lo"] * f, hi=curve["hi"] * f)
    x = curve["x"].to_numpy() * _xscale(axis) if numeric else np.arange(len(curve))
    ax.plot(x, curve["mean"], "o-", color=colour, ms=3.5, lw=1.5, label=name)
    ok = curve["lo"].notna().to_numpy()
    if ok.any():
        ax.fill_between(np.asarray(x)[ok], curve["lo"][ok], curve["hi"][ok], color=colour, alpha=0.2, lw=0)
    if not numeric:
        ax.set_xticks(x, [str(v) for v in curve["x"]], rotation=30, fontsize=7)


def _mark_threshold(ax, thr: dict | None, capacity: float | None) -> None:
    if thr is not None:
        ax.axvspan(thr["x_before"], thr["x"], color="tab:red", alpha=0.12, lw=0)
        how = f"slope {thr['slope']:.1f}" if math.isfinite(thr["slope"]) else "rise from ≤ 0"
        ax.axvline(thr["x"], color="tab:red", lw=1.2, ls="--", label=f"runaway by {thr['x']:,.0f} ({how})")
    if capacity is not None:
        lo, hi = capacity
        for x in sorted({lo, hi}):
            ax.axvline(x, color="0.35", lw=1, ls=":")
        ax.plot([], [], color="0.35", lw=1, ls=":",
                label=f"routine fills a team's day: {lo:,.0f}" + (f"–{hi:,.0f}" if hi != lo else ""))


def _titles(ax, outcome: str, axis: str) -> None:
    """Panel title (the outcome), y label with its unit (shares in %), x label with the axis's."""
    entry = OUTCOMES.get(outcome) or SERIES.get(outcome)
    ax.set_title(entry.label if entry is not None else outcome, fontsize=9)
    ax.set_ylabel(entry.axis_label() if entry is not None else outcome, fontsize=7.5)
    ax.set_xlabel(label(axis), fontsize=8)
    ax.tick_params(labelsize=7)


def plot_store(directory: str | Path, *, outcomes=KEY_OUTCOMES, threshold_axis: str = THRESHOLD_AXIS,
               runaway_outcomes=RUNAWAY_OUTCOMES, elasticity: float = DEFAULT_ELASTICITY,
               confidence: float = DEFAULT_CONFIDENCE, bins: int = DEFAULT_BINS) -> list[Path]:
    """Draw every figure of a sweep into DIR/plots/; return the files written."""
    from . import sweep_figures as sf

    plt = _pyplot()
    directory = Path(directory)
    with Store.open(directory) as store:
        meta = store.meta()
        df = store.frame()
        daily = sf.daily_by_point(store) if len(meta.get("axes", [])) == 1 else None
    if df.empty or not (df["status"] == "done").any():
        raise ExperimentError(f"{directory}: no finished runs to plot")
    if outcomes is KEY_OUTCOMES:     # the defaults: draw those the store has (older stores lack some)
        outcomes = tuple(o for o in outcomes if o in df)
    if runaway_outcomes is RUNAWAY_OUTCOMES:
        runaway_outcomes = tuple(o for o in runaway_outcomes if o in df)
    unknown = [o for o in (*outcomes, *runaway_outcomes) if o not in df]
    if unknown:
        raise ExperimentError(f"{directory}: no outcome {unknown[0]!r} in the stored runs")
    outdir = directory / "plots"
    outdir.mkdir(exist_ok=True)
    from ..run import remove_stale_temps

    remove_stale_temps(outdir)      # left by a plot that was killed
    axes = meta["axes"]
    continuous = meta.get("design") in ("lhs", "sobol")
    post = is_posterior(meta)
    params = meta.get("definition", {}).get("base_parameters", {})
    capacity = routine_capacity(params) if not set(TEAM_KEYS) & set(axes) else None
    title = meta.get("name", directory.name)
    words = interval_words(df, confidence, post)
    written: list[Path] = []
    table, thresholds, diffs = [], [], []

    for axis in axes:
        numeric = _is_numeric(df[f"axis.{axis}"])
        n = len(outcomes)
        cols = 3
        rows = math.ceil(n / cols)
        fig, grid = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.1 * rows), squeeze=False)
        for ax, outcome in zip(grid.ravel(), outcomes):
            curve = axis_curve(df, axis, outcome, continuous=continuous, bins=bins, confidence=confidence, posterior=post)
            table += [{"axis": axis, "outcome": outcome, **r, "band": words} for r in curve.to_dict("records")]
            if continuous and numeric:
                pts = df[df["status"] == "done"].groupby("point").agg(x=(f"axis.{axis}", "first"), y=(outcome, "mean"))
                ax.scatter(pts["x"] * _xscale(axis), pts["y"] * _scale(outcome), s=6, color="0.6", alpha=0.6, lw=0,
                           label="design point (mean of its runs)")
            _draw_curve(ax, curve, numeric, outcome=outcome, name="mean", axis=axis)
            if axis == threshold_axis and outcome in runaway_outcomes and numeric:
                # the runaway verdict is about the mean curve: t-intervals over replicates in either mode
                thr = runaway_threshold(axis_curve(df, axis, outcome, continuous=continuous, bins=bins,
                                                   confidence=confidence), elasticity)
                _mark_threshold(ax, thr, capacity)
            if numeric and _logx(curve["x"], axis):
                _set_logx(ax)
            _titles(ax, outcome, axis)
        for ax in grid.ravel()[:n]:
            extra = [(h, t) for h, t in zip(*ax.get_legend_handles_labels()) if not t.startswith(("mean", "design point"))]
            if extra:
                ax.legend(*zip(*extra), fontsize=6, loc="upper left")
        for ax in grid.ravel()[n:]:
            ax.set_visible(False)
        how = "binned means" if continuous else "means"
        what = words if words.startswith("no interval") else f"band: {words}"
        fig.suptitle(f"{title}: outcomes against {label(axis)} ({how}; {what})", fontsize=10)
        written.append(_save(fig, outdir / f"curves_{_slug(axis)}.png", legend=_band_legend(grid.ravel()[0], words)))
        if numeric or not continuous:
            path, rows_ = sf.plot_paired(df, axis, outcomes, meta, continuous=continuous, bins=bins,
                                         confidence=confidence, outdir=outdir, title=title)
            written.append(path)
            diffs += rows_

    if threshold_axis in axes and _is_numeric(df[f"axis.{threshold_axis}"]):
        path, thresholds = _plot_threshold(df, threshold_axis, runaway_outcomes, elasticity, confidence, continuous,
                                           bins, capacity, outdir, title, post)
        written.append(path)

    if meta.get("design") == "factorial":
        for a, b in combinations(axes, 2):
            written.append(sf.plot_heatmaps(df, a, b, outcomes, outdir, title, post))

    if daily is not None:
        written += sf.plot_daily(daily, axes[0], outdir, title, post, meta)

    _write_csv(outdir / "curves.csv", pd.DataFrame(table))
    _write_csv(outdir / "paired.csv", pd.DataFrame(diffs))
    _write_csv(outdir / "thresholds.csv",
               pd.DataFrame(thresholds, columns=["axis", "outcome", "elasticity", "x_before", "x", "slope", "before", "after"]))
    _write_text(outdir / "criterion.json", json.dumps({
        "threshold_axis": threshold_axis, "elasticity": elasticity, "confidence": confidence, "bins": bins,
        "bands": words, "posterior": meta.get("posterior"),
        "routine_capacity_residents_per_grid": list(capacity) if capacity else None,
        "rule": "first segment (x0, x1] with log(y1/y0)/log(x1/x0) >= elasticity and lower bound at x1 above upper "
                "bound at x0 (t-intervals of the mean over replicates)"},
        indent=1) + "\n")
    return written


def _band_legend(ax, words: str):
    """The first panel's legend: its lines, and the band saying what it spans."""
    from matplotlib.patches import Patch

    pairs = [(h, t) for h, t in zip(*ax.get_legend_handles_labels()) if t.startswith(("mean", "design point"))]
    handles, labels = [h for h, _ in pairs], [t for _, t in pairs]
    if not words.startswith("no interval"):
        handles.append(Patch(color="tab:blue", alpha=0.2, lw=0))
        labels.append(words)
    return handles, labels


def _slug(key: str) -> str:
    return key.replace(".", "_")


def _plot_threshold(df, axis, outcomes, elasticity, confidence, continuous, bins, capacity, outdir, title,
                    posterior: bool = False):
    plt = _pyplot()
    n = len(outcomes)
    cols = 2
    rows = math.ceil(n / cols)
    fig, grid = plt.subplots(rows, cols, figsize=(5.6 * cols, 3.6 * rows), squeeze=False)
    found = []
    for ax, outcome in zip(grid.ravel(), outcomes):
        curve = axis_curve(df, axis, outcome, continuous=continuous, bins=bins, confidence=confidence)
        thr = runaway_threshold(curve, elasticity)
        _draw_curve(ax, curve, True, outcome=outcome, axis=axis)
        _mark_threshold(ax, thr, capacity)
        if thr is not None:
            found.append({"axis": axis, "outcome": outcome, "elasticity": elasticity, **thr})
        if _logx(curve["x"], axis):
            _set_logx(ax)
        _titles(ax, outcome, axis)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper left")
    for ax in grid.ravel()[n:]:
        ax.set_visible(False)
    if replicates_of(df) < 2:
        fig.suptitle(f"{title}: no runaway verdict — no interval: {replicates_of(df)} replicate "
                     "(non-overlapping intervals need at least 2)", fontsize=9.5)
    else:
        fig.suptitle(f"{title}: where the curve runs away — first step with log-log slope ≥ {elasticity:g} "
                     f"and non-overlapping {confidence:.0%} intervals ({replicates_of(df)} replicates)\n"
                     f"band: {confidence:.0%} t-interval of the mean over {replicates_of(df)} "
                     f"{'posterior draws (one seed each)' if posterior else 'replicates'}", fontsize=9.5)
    return _save(fig, outdir / f"threshold_{_slug(axis)}.png"), found
