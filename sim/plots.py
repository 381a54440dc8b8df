"""Figures of one run, drawn only from the files `sim.run` wrote (plots never re-run the model)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import matplotlib.dates

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .scenario import RUNGS  # noqa: E402

MAX_MAP_POINTS = 20_000


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


def mark_events(ax, events: list[dict], dated: bool, label_top: bool = True) -> None:
    """Vertical lines at a timeline's dated changes, each labelled (what changed, and how: step, ramp, campaign)."""
    if not events:
        return
    lo, hi = ax.get_xlim()
    shown = 0
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
        shown += 1
    ax.set_xlim(lo, hi)


def plot_safety(daily: pd.DataFrame, surveys: list[dict], path: Path, title: str, events: list[dict] | None = None) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.2))
    dated = "date" in daily
    x = _x(daily)
    ax.plot(x, 100 * daily["safety_share_safe"], label="population: share at or above 'basically safe'")
    if surveys:
        s = pd.DataFrame(surveys)
        sx = pd.to_datetime(s["date"]) if dated and "date" in s else s["day"]
        ax.errorbar(sx, 100 * s["share_safe"], yerr=196 * s["se"], fmt="o", capsize=3,
                    label="sample survey (95 % interval)")
    ax2 = ax.twinx()
    ax2.plot(x, daily["trust_mean"], color="tab:green", alpha=0.6, label="mean trust (right)")
    ax2.set_ylabel("trust (0–1)")
    ax.set_xlabel("date" if dated else "day")
    ax.set_ylabel("perceived safety, % safe")
    ax.set_title(f"{title}: perceived safety over time")
    mark_events(ax, events or [], dated)
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="lower left", fontsize=8)
    _save(fig, path)


def plot_resolution(disputes: pd.DataFrame, path: Path, title: str) -> None:
    res = disputes[disputes["status"] == "resolved"]
    fig, ax = plt.subplots(figsize=(8, 4.2))
    data, labels = [], []
    for rung in RUNGS:
        h = res.loc[res["rung"] == rung, "resolution_hours"].to_numpy()
        h = h[h > 0]
        if len(h):
            data.append(h)
            labels.append(f"{rung}\n(n={len(h)})")
    if data:
        ax.violinplot(data, showmedians=True)
        ax.set_xticks(range(1, len(labels) + 1), labels)
        ax.set_yscale("log")
    ax.set_ylabel("onset → resolution, hours (log)")
    ax.set_title(f"{title}: resolution time by the rung that settled the dispute")
    for y, lab in ((24, "1 day"), (24 * 7, "1 week"), (24 * 30, "1 month")):
        ax.axhline(y, color="grey", lw=0.6, ls=":")
        ax.text(0.52, y, lab, fontsize=7, color="grey", va="bottom")
    _save(fig, path)


def plot_backlog(daily: pd.DataFrame, path: Path, title: str, events: list[dict] | None = None) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.2))
    x = _x(daily)
    for rung in RUNGS:
        ax.plot(x, daily[f"backlog_{rung}"], label=rung)
    ax.plot(x, daily["disputes_open"], color="black", ls="--", lw=0.8, label="all open disputes (incl. hidden)")
    ax.set_xlabel("date" if "date" in daily else "day")
    ax.set_ylabel("cases waiting or in service")
    ax.set_title(f"{title}: backlog per rung")
    mark_events(ax, events or [], "date" in daily)
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_map(town: pd.DataFrame, disputes: pd.DataFrame, path: Path, title: str) -> None:
    w = int(town["x"].max()) + 1
    h = int(town["y"].max()) + 1
    res = np.zeros((w, h))
    grid = np.zeros((w, h), int)
    res[town["x"], town["y"]] = town["residents"]
    grid[town["x"], town["y"]] = town["grid"]
    fig, ax = plt.subplots(figsize=(7.5, 7))
    ax.imshow(res.T, origin="lower", cmap="Greys", interpolation="nearest", extent=(-0.5, w - 0.5, -0.5, h - 0.5))
    # grid borders a quarter of a cell wide: upsample the grid ids and mark where they change
    k = 4 if max(w, h) <= 600 else 2
    up = np.kron(grid, np.ones((k, k), int))
    border = np.zeros(up.shape, bool)
    border[1:, :] |= up[1:, :] != up[:-1, :]
    border[:, 1:] |= up[:, 1:] != up[:, :-1]
    ax.imshow(np.ma.masked_where(~border.T, border.T), origin="lower", cmap="autumn", alpha=0.9,
              interpolation="nearest", extent=(-0.5, w - 0.5, -0.5, h - 0.5))
    cam = town[town["camera"]]
    ax.scatter(cam["x"], cam["y"], s=6, marker="s", c="tab:blue", label=f"camera ({len(cam)} cells)")
    d = disputes
    if len(d) > MAX_MAP_POINTS:
        d = d.sample(MAX_MAP_POINTS, random_state=0)
    xy = town.iloc[d["cell"].to_numpy()][["x", "y"]].to_numpy(float)
    jitter = np.random.default_rng(0).uniform(-0.35, 0.35, xy.shape)  # display only
    ax.scatter(xy[:, 0] + jitter[:, 0], xy[:, 1] + jitter[:, 1], s=3, c="tab:red", alpha=0.5,
               label=f"dispute ({len(disputes)}{', sample shown' if len(disputes) > len(d) else ''})")
    ax.set_title(f"{title}: town (darker = more residents), grid borders, cameras, disputes")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="upper right", fontsize=8, markerscale=2)
    _save(fig, path)


def plot_trajectory(periods: dict[str, dict], events: list[dict], path: Path, title: str) -> None:
    """A calendar run's quarters (summary.json `periods`): safety, crime, disputes, staff and cameras, with
    the timeline's changes marked."""
    q = {k: v for k, v in periods.items() if "Q" in k}
    mid = [pd.Timestamp(v["first_date"]) + (pd.Timestamp(v["last_date"]) - pd.Timestamp(v["first_date"])) / 2 for v in q.values()]
    col = {key: np.array([np.nan if v[key] is None else v[key] for v in q.values()], float) for key in next(iter(q.values()))
           if key not in ("first_date", "last_date", "partial")}
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    a = axes[0, 0]
    a.plot(mid, 100 * col["population_share_safe"], "-", label="population, quarter's last day")
    a.errorbar(mid, 100 * col["survey_share_safe"], yerr=196 * col["survey_se"], fmt="o", capsize=3, label="survey (95 % interval)")
    a.set_ylabel("perceived safety, % safe")
    a.legend(fontsize=7, loc="lower right")
    a = axes[0, 1]
    a.plot(mid, col["incidents_per_10k_year"], "o-", color="tab:red", label="incidents")
    a.set_ylabel("incidents per 10,000 residents a year", color="tab:red")
    b = a.twinx()
    b.plot(mid, 100 * col["clearance_rate"], "s--", color="tab:blue", label="clearance")
    b.set_ylabel("clearance, % of closed incidents", color="tab:blue")
    a = axes[1, 0]
    a.plot(mid, col["report_to_resolution_hours_mean"], "o-", color="tab:brown")
    a.set_ylabel("report → resolved, mean hours", color="tab:brown")
    b = a.twinx()
    b.plot(mid, 100 * col["share_settled_in_grid"], "s--", color="tab:olive")
    b.set_ylabel("settled inside the grid, % of resolved", color="tab:olive")
    a = axes[1, 1]
    a.plot(mid, col["cameras"], "o-", color="tab:gray", label="cameras (left)")
    a.plot(mid, col["grid_workers"], "s-", color="tab:orange", label="grid workers (left)")
    a.set_ylabel("cameras, grid workers (quarter's last day)")
    b = a.twinx()
    b.plot(mid, col["cost_yuan_per_resident_year"], "^:", color="tab:green", label="cost per resident (right)")
    b.set_ylabel("cost, yuan per resident a year", color="tab:green")
    handles = [h for ax_ in (a, b) for h in ax_.get_legend_handles_labels()[0]]
    b.legend(handles, [h.get_label() for h in handles], fontsize=7, loc="best", framealpha=0.9)
    span = (pd.Timestamp(next(iter(q.values()))["first_date"]), pd.Timestamp(list(q.values())[-1]["last_date"]) + pd.Timedelta(days=1))
    for i, a in enumerate(axes.flat):
        a.set_xlim(*span)                 # the whole observed period, so changes at its ends show
        mark_events(a, events, True, label_top=(i == 0))
    step = max(1, len(mid) // 12)
    for a in axes[1]:
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
    plot_map(town, disputes, paths[3], title)
    if any("Q" in k for k in summary.get("periods", {})):
        paths.append(run_dir / "trajectory.png")
        plot_trajectory(summary["periods"], events, paths[-1], title)
    return paths
