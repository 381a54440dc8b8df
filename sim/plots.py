"""Figures of one run, drawn only from the files `sim.run` wrote (plots never re-run the model)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

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


def plot_safety(daily: pd.DataFrame, surveys: list[dict], path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax.plot(daily["day"], 100 * daily["safety_share_safe"], label="population: share at or above 'basically safe'")
    if surveys:
        s = pd.DataFrame(surveys)
        ax.errorbar(s["day"], 100 * s["share_safe"], yerr=196 * s["se"], fmt="o", capsize=3,
                    label="sample survey (95 % interval)")
    ax2 = ax.twinx()
    ax2.plot(daily["day"], daily["trust_mean"], color="tab:green", alpha=0.6, label="mean trust (right)")
    ax2.set_ylabel("trust (0–1)")
    ax.set_xlabel("day")
    ax.set_ylabel("perceived safety, % safe")
    ax.set_title(f"{title}: perceived safety over time")
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


def plot_backlog(daily: pd.DataFrame, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for rung in RUNGS:
        ax.plot(daily["day"], daily[f"backlog_{rung}"], label=rung)
    ax.plot(daily["day"], daily["disputes_open"], color="black", ls="--", lw=0.8, label="all open disputes (incl. hidden)")
    ax.set_xlabel("day")
    ax.set_ylabel("cases waiting or in service")
    ax.set_title(f"{title}: backlog per rung")
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


def plot_run(run_dir: str | Path) -> list[Path]:
    """Draw the four figures of a run directory; return their paths."""
    run_dir = Path(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    daily = pd.read_csv(run_dir / "daily.csv")
    disputes = pd.read_parquet(run_dir / "disputes.parquet")
    town = pd.read_parquet(run_dir / "town.parquet")
    title = summary["scenario"]["name"]
    paths = [run_dir / n for n in ("safety.png", "resolution_by_rung.png", "backlog.png", "map.png")]
    plot_safety(daily, summary.get("surveys", []), paths[0], title)
    plot_resolution(disputes, paths[1], title)
    plot_backlog(daily, paths[2], title)
    plot_map(town, disputes, paths[3], title)
    return paths
