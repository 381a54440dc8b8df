"""Figures of one run, drawn only from the files `sim.run` wrote (plots never re-run the model).

Shares are drawn in %; every interval says what it spans; nothing shares a twin axis (a second
scale autoscaled to its own noise draws a flat series as a trend).  The map has a km scale bar
and a colour bar, and at city scale (more than `MAP_DETAIL_GRIDS` grids or `MAP_DETAIL_CELLS`
cells) it is drawn per grid instead of as a cell mesh.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib
import matplotlib.dates
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap  # noqa: E402
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar  # noqa: E402

from .scenario import RUNGS  # noqa: E402

MAX_MAP_POINTS = 20_000
MAP_DETAIL_GRIDS = 300        # above this many grids (or cells) the map is drawn per grid
MAP_DETAIL_CELLS = 40_000
#: one colour and one line style per rung, told apart in print and in grey
RUNG_STYLE = dict(zip(RUNGS, (("tab:blue", "-"), ("tab:orange", "--"), ("tab:green", "-."), ("tab:red", ":"),
                              ("tab:purple", (0, (5, 1, 1, 1, 1, 1))))))


def _save(fig, path: Path) -> None:
    """Write the figure atomically (a unique temporary name, then one rename): a kill never
    leaves a truncated PNG over a good one."""
    from .run import atomic_file

    fig.tight_layout()
    try:
        with atomic_file(path) as tmp:
            fig.savefig(tmp, dpi=110, format=Path(path).suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)


def _x(daily: pd.DataFrame):
    """The time axis: calendar dates when the run has a calendar (a `date` column), else observed days."""
    return pd.to_datetime(daily["date"]) if "date" in daily else daily["day"]


def _xlabel(daily: pd.DataFrame) -> str:
    return "date" if "date" in daily else "observed day (after the warm-up)"


def mark_events(ax, events: list[dict], dated: bool, label_top: bool = True) -> None:
    """Vertical lines at a timeline's dated changes, each labelled (what changed, and how: step, ramp, campaign)."""
    if not events:
        return
    lo, hi = ax.get_xlim()
    for e in events:
        x = pd.Timestamp(e["date"]) if dated else e["day"]
        xn = matplotlib.dates.date2num(x) if dated else x
        if not lo <= xn <= hi:
            continue
        style = {"step": "-", "ramp begins": "--", "ramp ends": "--", "campaign begins": ":", "campaign ends": ":"}.get(e["kind"], "-")
        ax.axvline(x, color="tab:purple", lw=0.9, ls=style, alpha=0.8)
        if label_top:
            text = e["label"] if len(e["label"]) <= 40 else e["label"][:38] + "…"
            ax.text(x, 0.98, f"{text} ({e['kind']})", transform=ax.get_xaxis_transform(), rotation=90, va="top", ha="right",
                    fontsize=6.5, color="tab:purple", bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.75, "pad": 1})
    ax.set_xlim(lo, hi)


def plot_safety(daily: pd.DataFrame, surveys: list[dict], path: Path, title: str, events: list[dict] | None = None) -> None:
    """Perceived safety (%) with the surveys' sampling intervals; mean trust below on its own panel, on the
    index's whole 0–1 range (a twin axis autoscaled to a range of 0.0003 drew flat noise as a trend)."""
    fig, (ax, at) = plt.subplots(2, 1, figsize=(8, 5.4), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    dated = "date" in daily
    x = _x(daily)
    ax.plot(x, 100 * daily["safety_share_safe"], color="tab:blue", label="population: % at or above 'basically safe' (daily)")
    if surveys:
        s = pd.DataFrame(surveys)
        sx = pd.to_datetime(s["date"]) if dated and "date" in s else s["day"]
        n = f"n = {int(s['n'].iloc[0]):,} residents" if "n" in s and s["n"].nunique() == 1 else "n per survey"
        ax.errorbar(sx, 100 * s["share_safe"], yerr=196 * s["se"], fmt="o", color="tab:orange", capsize=3,
                    label=f"sample survey ({n}): 95 % sampling interval, ±1.96 SE")
    ax.set_ylabel("perceived safety, % safe")
    lo, hi = ax.get_ylim()
    if hi - lo < 5:                           # at least 5 points tall: a drift of tenths is not drawn as a fall
        mid = (hi + lo) / 2
        ax.set_ylim(mid - 2.5, mid + 2.5)
    ax.set_title(f"{title}: perceived safety over time")
    ax.legend(loc="lower left", fontsize=8)
    at.plot(x, daily["trust_mean"], color="tab:green", label="mean trust")
    at.set_ylim(0, 1)
    at.set_ylabel("mean trust\n(index 0–1)")
    at.set_xlabel(_xlabel(daily))
    at.text(0.01, 0.08, "whole 0–1 range of the index", transform=at.transAxes, fontsize=7, color="0.4")
    for a, top in ((ax, True), (at, False)):
        mark_events(a, events or [], dated, label_top=top)
    _save(fig, path)


def plot_resolution(disputes: pd.DataFrame, path: Path, title: str) -> None:
    """Resolution time per settling rung: violins of log10(hours), so the density is drawn on the scale shown."""
    res = disputes[disputes["status"] == "resolved"]
    fig, ax = plt.subplots(figsize=(8, 4.4))
    data, labels = [], []
    for rung in RUNGS:
        h = res.loc[res["rung"] == rung, "resolution_hours"].to_numpy()
        h = h[h > 0]
        if len(h):
            data.append(np.log10(h))
            labels.append(f"{rung}\n(n = {len(h):,})")
    if data:
        ax.violinplot(data, showmedians=True)
        ax.set_xticks(range(1, len(labels) + 1), labels)
        lo, hi = math.floor(min(d.min() for d in data)), math.ceil(max(d.max() for d in data))
        ticks = np.arange(lo, hi + 1)
        ax.set_yticks(ticks, [f"{10.0 ** t:,.{max(0, -int(t))}f}" for t in ticks])
    ax.set_ylabel("onset → resolution, hours (log scale)")
    ax.set_xlabel("rung that settled the dispute (violin: distribution; bars: min, median, max)")
    ax.set_title(f"{title}: resolution time by the rung that settled the dispute")
    for y, lab in ((24, "1 day"), (24 * 7, "1 week"), (24 * 30, "1 month")):
        ax.axhline(np.log10(y), color="grey", lw=0.6, ls=":")
        ax.text(0.52, np.log10(y), lab, fontsize=7, color="grey", va="bottom")
    _save(fig, path)


def plot_backlog(daily: pd.DataFrame, path: Path, title: str, events: list[dict] | None = None) -> None:
    """Open disputes split into those at a rung and those no rung knows of (hidden, or a report on its way),
    and the cases at each rung; all end-of-day counts."""
    fig, (ax, ar) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    x = _x(daily)
    at_rungs = sum(daily[f"backlog_{r}"] for r in RUNGS)
    ax.plot(x, daily["disputes_open"], color="black", lw=1.2, label="all open disputes")
    ax.plot(x, daily["disputes_open"] - at_rungs, color="tab:gray", ls="--",
            label="not known to any rung: hidden (not yet reported or found) or report on its way")
    ax.plot(x, at_rungs, color="tab:blue", ls="-.", label="known: waiting or in service at a rung (sum below)")
    ax.set_ylim(0, 1.5 * max(float(daily["disputes_open"].max()), 1.0))     # room for the legend above the lines
    ax.set_ylabel("open disputes at midnight")
    ax.set_title(f"{title}: open disputes and backlog per rung (end-of-day counts)")
    ax.legend(fontsize=7.5, loc="upper left")
    for rung in RUNGS:
        c, ls = RUNG_STYLE[rung]
        ar.plot(x, daily[f"backlog_{rung}"], color=c, ls=ls, lw=1.1, label=rung)
    ar.set_ylim(0, 1.3 * max(float(daily[[f"backlog_{r}" for r in RUNGS]].max().max()), 1.0))
    ar.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ar.set_ylabel("cases at the rung at midnight\n(waiting or in service)")
    ar.set_xlabel(_xlabel(daily))
    ar.legend(fontsize=7.5, ncol=len(RUNGS), loc="upper left")
    for a, top in ((ax, True), (ar, False)):
        mark_events(a, events or [], "date" in daily, label_top=top)
    _save(fig, path)


# ---------------------------------------------------------------------------------------------- map
def nice_km(span_km: float) -> float:
    """A round length (1, 2 or 5 × 10^k km) near a fifth of `span_km`, for a scale bar."""
    target = max(span_km / 5.0, 1e-6)
    k = 10.0 ** math.floor(math.log10(target))
    return max((m * k for m in (1, 2, 5, 10) if m * k <= target * 1.6), default=k)


def add_scale_bar(ax, cell_km: float, width_cells: int) -> AnchoredSizeBar:
    km = nice_km(width_cells * cell_km)
    bar = AnchoredSizeBar(ax.transData, km / cell_km, f"{km:g} km", "lower left", pad=0.4, borderpad=0.6, sep=3,
                          frameon=True, size_vertical=max(width_cells / 150, 0.15), color="black", fontproperties={"size": 8})
    bar.patch.set_alpha(0.8)
    ax.add_artist(bar)
    return bar


def borders(cells: np.ndarray) -> np.ndarray:
    """Segments (n, 2, 2) along the cell edges where `cells` (an x × y array of ids) changes."""
    xs, ys = np.nonzero(cells[1:, :] != cells[:-1, :])          # edge between (x, y) and (x + 1, y)
    v = np.stack([np.stack([xs + 0.5, ys - 0.5], 1), np.stack([xs + 0.5, ys + 0.5], 1)], 1)
    xs, ys = np.nonzero(cells[:, 1:] != cells[:, :-1])          # edge between (x, y) and (x, y + 1)
    h = np.stack([np.stack([xs - 0.5, ys + 0.5], 1), np.stack([xs + 0.5, ys + 0.5], 1)], 1)
    return np.concatenate([v, h]).astype(float)


def _raster(town: pd.DataFrame, values, fill=np.nan) -> np.ndarray:
    w, h = int(town["x"].max()) + 1, int(town["y"].max()) + 1
    out = np.full((w, h), fill, dtype=np.asarray(values).dtype if not isinstance(fill, float) else float)
    out[town["x"].to_numpy(), town["y"].to_numpy()] = values
    return out


def _imshow(ax, fig, img: np.ndarray, cmap, label: str, vmax=None):
    w, h = img.shape
    im = ax.imshow(img.T, origin="lower", cmap=cmap, interpolation="nearest", extent=(-0.5, w - 0.5, -0.5, h - 0.5),
                   vmin=0, vmax=vmax)
    fig.colorbar(im, ax=ax, shrink=0.75, pad=0.02, label=label)
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def plot_map(town: pd.DataFrame, disputes: pd.DataFrame, path: Path, title: str, cell_km: float = 1.0,
             days: int | None = None, aggregate: bool | None = None) -> None:
    """The town: cell by cell (residents per km², grid borders, cameras, dispute onsets) when small; per
    grid at city scale (residents per km², disputes per 1,000 residents a year, cameras), `aggregate` None
    choosing by size.  Both carry a km scale bar and colour bars."""
    n_grids = int(town["grid"].max()) + 1
    if aggregate is None:
        aggregate = n_grids > MAP_DETAIL_GRIDS or len(town) > MAP_DETAIL_CELLS
    km2 = cell_km**2
    grid_img = _raster(town, town["grid"].to_numpy(), fill=-1)
    w = grid_img.shape[0]
    if aggregate:
        _plot_map_grids(town, disputes, path, title, cell_km, days, grid_img)
        return
    fig, ax = plt.subplots(figsize=(8, 7))
    dens = _raster(town, town["residents"].to_numpy() / km2)
    greys = LinearSegmentedColormap.from_list("greys_light", plt.get_cmap("Greys")(np.linspace(0.0, 0.6, 256)))
    _imshow(ax, fig, dens, greys, "residents per km² (cell)", vmax=np.nanquantile(dens, 0.99))
    ax.add_collection(LineCollection(borders(grid_img), colors="black", linewidths=1.0 if w <= 80 else 0.5,
                                     label=f"grid border ({n_grids} grids)"))
    cam = town[town["camera"]]
    ax.scatter(cam["x"], cam["y"], s=10, marker="s", c="tab:cyan", edgecolors="tab:blue", linewidths=0.5,
               label=f"camera ({len(cam):,} cells)")
    d = disputes.sample(MAX_MAP_POINTS, random_state=0) if len(disputes) > MAX_MAP_POINTS else disputes
    xy = town.iloc[d["cell"].to_numpy()][["x", "y"]].to_numpy(float)
    jitter = np.random.default_rng(0).uniform(-0.35, 0.35, xy.shape)  # display only
    period = f", {days} observed days" if days else ""
    ax.scatter(xy[:, 0] + jitter[:, 0], xy[:, 1] + jitter[:, 1], s=3, c="tab:red", alpha=0.6,
               label=f"dispute onset ({len(disputes):,}{period}{'; sample shown' if len(disputes) > len(d) else ''})")
    add_scale_bar(ax, cell_km, w)
    ax.set_title(f"{title}: residents, grid borders, cameras and disputes\n(cell {cell_km:.2f} km a side)", fontsize=10)
    ax.legend(loc="upper right", fontsize=7.5, markerscale=2, framealpha=0.85)
    _save(fig, path)


def _plot_map_grids(town, disputes, path, title, cell_km, days, grid_img) -> None:
    g = town["grid"].to_numpy()
    n = int(g.max()) + 1
    residents = np.bincount(g, weights=town["residents"].to_numpy(), minlength=n)
    cells = np.bincount(g, minlength=n)
    per_year = 365.0 / days if days else 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        density = residents / (cells * cell_km**2)
        rate = np.where(residents > 0, np.bincount(disputes["grid"].to_numpy(), minlength=n)[:n] / residents * 1000 * per_year, np.nan)
        cams = 100 * np.bincount(g, weights=town["camera"].to_numpy(float), minlength=n) / cells
    w = grid_img.shape[0]
    seg_grid = borders(grid_img)
    seg_town = borders(_raster(town, town["township"].to_numpy(), fill=-1))
    fig, axes = plt.subplots(1, 3, figsize=(16, 5.6))
    unit = "a year" if days else "over the run"
    panels = ((density, "Greys", "residents per km² (grid mean)"),
              (rate, "OrRd", f"disputes per 1,000 residents {unit}" + (f" ({days} observed days)" if days else "")),
              (cams, "Blues", "cells with a camera, % of the grid's cells"))
    for ax, (val, cmap, label) in zip(axes, panels):
        img = np.where(grid_img >= 0, val[np.maximum(grid_img, 0)], np.nan)
        _imshow(ax, fig, img, cmap, label, vmax=np.nanquantile(img, 0.99) or None)
        ax.add_collection(LineCollection(seg_grid, colors="0.55", linewidths=0.3))
        ax.add_collection(LineCollection(seg_town, colors="black", linewidths=1.0))
        add_scale_bar(ax, cell_km, w)
        ax.set_title(label, fontsize=9)
    fig.suptitle(f"{title}: by governance grid ({n:,} grids, thin grey borders; townships: black borders; "
                 f"cell {cell_km:.2f} km a side)", fontsize=10)
    _save(fig, path)


# ---------------------------------------------------------------------------------------------- calendar runs
def poisson_interval(count, z_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) interval of a Poisson count."""
    from scipy.stats import chi2

    k = np.asarray(count, float)
    a = 1 - z_level
    lo = np.where(k > 0, chi2.ppf(a / 2, 2 * k) / 2, 0.0)
    return lo, chi2.ppf(1 - a / 2, 2 * k + 2) / 2


def wilson_interval(p, n, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    p, n = np.asarray(p, float), np.asarray(n, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _quarter_cols(periods: dict[str, dict]):
    q = {k: v for k, v in periods.items() if "Q" in k}
    mid = [pd.Timestamp(v["first_date"]) + (pd.Timestamp(v["last_date"]) - pd.Timestamp(v["first_date"])) / 2 for v in q.values()]
    col = {key: np.array([np.nan if v.get(key) is None else v[key] for v in q.values()], float)
           for key in next(iter(q.values())) if key not in ("first_date", "last_date", "partial")}
    return q, mid, col


def _bars(a, mid, y, lo, hi, **kw):
    a.errorbar(mid, y, yerr=[np.nan_to_num(y - lo), np.nan_to_num(hi - y)], capsize=3, **kw)


def plot_trajectory(periods: dict[str, dict], events: list[dict], path: Path, title: str) -> None:
    """A calendar run's quarters (summary.json `periods`), one quantity per panel (no twin axes), each
    point with its 95 % interval where the stored counts give one, and the timeline's changes marked."""
    q, mid, col = _quarter_cols(periods)
    fig, axes = plt.subplots(4, 2, figsize=(11, 11), sharex=True)
    a = axes[0, 0]
    a.plot(mid, 100 * col["population_share_safe"], "-", color="tab:blue", label="population, quarter's last day")
    _bars(a, mid, 100 * col["survey_share_safe"], 100 * (col["survey_share_safe"] - 1.96 * col["survey_se"]),
          100 * (col["survey_share_safe"] + 1.96 * col["survey_se"]), fmt="o", color="tab:orange",
          label="survey (95 % sampling interval, ±1.96 SE)")
    a.set_ylabel("perceived safety, % safe")
    a.set_title("perceived safety", fontsize=8)
    lo_, hi_ = a.get_ylim()
    a.set_ylim(lo_ - 0.6 * (hi_ - lo_), hi_)            # room for the legend below the points
    a.legend(fontsize=6.5, loc="lower left")
    a = axes[0, 1]
    lo, hi = poisson_interval(col["incidents"])
    k = col["incidents_per_10k_year"] / np.where(col["incidents"] > 0, col["incidents"], np.nan)
    _bars(a, mid, col["incidents_per_10k_year"], lo * k, hi * k, fmt="o-", color="tab:red")
    a.set_ylabel("incidents per 10,000\nresidents a year")
    a.set_title("crime incidents (95 % Poisson interval of the quarter's count)", fontsize=8)
    a = axes[1, 0]
    a.plot(mid, 100 * col["clearance_rate"], "s-", color="tab:blue")
    a.set_ylabel("clearance,\n% of closed incidents")
    a.set_title("clearance (no interval: the quarter's closed count is not stored)", fontsize=8)
    a = axes[1, 1]
    a.plot(mid, col["report_to_resolution_hours_mean"], "o-", color="tab:brown")
    a.set_ylabel("report → resolved,\nmean hours")
    a.set_title("resolution time (no interval: the spread is not stored)", fontsize=8)
    a = axes[2, 0]
    p, nres = col["share_settled_in_grid"], col.get("disputes_resolved_in_period", np.full(len(mid), np.nan))
    lo, hi = wilson_interval(p, nres)
    _bars(a, mid, 100 * p, 100 * lo, 100 * hi, fmt="s-", color="tab:olive")
    a.set_ylabel("settled inside the grid,\n% of resolved")
    a.set_title("settled in the grid (95 % Wilson interval over the quarter's resolved disputes)", fontsize=8)
    a = axes[2, 1]
    a.plot(mid, col["cost_yuan_per_resident_year"], "^-", color="tab:green")
    a.set_ylabel("cost, yuan per\nresident a year")
    a.set_title("cost of grid workers and cameras (a level: no sampling error)", fontsize=8)
    a = axes[3, 0]
    a.plot(mid, col["cameras"], "o-", color="tab:gray")
    a.set_ylim(bottom=0)
    a.set_ylabel("cameras\n(quarter's last day)")
    a.set_title("cameras in place", fontsize=8)
    a = axes[3, 1]
    a.plot(mid, col["grid_workers"], "s-", color="tab:orange")
    a.set_ylim(bottom=0)
    a.set_ylabel("grid workers\n(quarter's last day)")
    a.set_title("grid workers employed", fontsize=8)
    span = (pd.Timestamp(next(iter(q.values()))["first_date"]), pd.Timestamp(list(q.values())[-1]["last_date"]) + pd.Timedelta(days=1))
    for i, a in enumerate(axes.flat):
        a.set_xlim(*span)                 # the whole observed period, so changes at its ends show
        mark_events(a, events, True, label_top=(i == 0))
    step = max(1, len(mid) // 12)
    for a in axes[-1]:
        a.set_xticks(mid[::step], list(q)[::step])
        a.set_xlabel("calendar quarter (points at mid-quarter)")
        a.tick_params(axis="x", labelrotation=45)
    fig.suptitle(f"{title}: by quarter (purple lines: dated changes of the timeline)", fontsize=11)
    _save(fig, path)


def plot_compare(runs: dict[str, dict[str, dict]], events: list[dict], path: Path, title: str) -> None:
    """Several runs' quarters side by side (label → summary.json `periods`), e.g. two readings of a
    document or a change at two dates; `events` (one run's) are marked."""
    keys = (("survey_share_safe", "survey: safe, % (quarter's survey)", 100.0),
            ("incidents_per_10k_year", "incidents per 10,000 residents a year", 1.0),
            ("report_to_resolution_hours_mean", "report → resolved, mean hours", 1.0),
            ("grid_workers", "grid workers (quarter's last day)", 1.0))
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for (key, label, k), a in zip(keys, axes.flat):
        for i, (name, per) in enumerate(runs.items()):
            q = [v for lab, v in per.items() if "Q" in lab]
            mid = [pd.Timestamp(v["first_date"]) + (pd.Timestamp(v["last_date"]) - pd.Timestamp(v["first_date"])) / 2 for v in q]
            y = [np.nan if v[key] is None else k * v[key] for v in q]
            a.plot(mid, y, ["o-", "s--", "^:", "d-."][i % 4], label=name, alpha=0.85)
        a.set_ylabel(label)
    for i, a in enumerate(axes.flat):
        mark_events(a, events, True, label_top=(i == 0))
    axes[1, 1].legend(fontsize=8, loc="best", framealpha=0.9)
    for a in axes[1]:
        a.set_xlabel("date (points at mid-quarter)")
        a.tick_params(axis="x", labelrotation=30)
    fig.suptitle(title, fontsize=11)
    _save(fig, path)


def plot_run(run_dir: str | Path) -> list[Path]:
    """Draw the figures of a run directory (four; five with a calendar: `trajectory.png`); return their paths."""
    run_dir = Path(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    daily = pd.read_csv(run_dir / "daily.csv")
    disputes = pd.read_parquet(run_dir / "disputes.parquet")
    town = pd.read_parquet(run_dir / "town.parquet")
    title = summary["scenario"]["name"]
    events = summary.get("events", [])
    paths = [run_dir / n for n in ("safety.png", "resolution_by_rung.png", "backlog.png", "map.png")]
    plot_safety(daily, summary.get("surveys", []), paths[0], title, events)
    plot_resolution(disputes, paths[1], title)
    plot_backlog(daily, paths[2], title, events)
    plot_map(town, disputes, paths[3], title, cell_km=float(summary.get("cell_km") or 1.0), days=summary.get("days"))
    if any("Q" in k for k in summary.get("periods", {})):
        paths.append(run_dir / "trajectory.png")
        plot_trajectory(summary["periods"], events, paths[-1], title)
    return paths
