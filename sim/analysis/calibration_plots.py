"""Diagnostics figures of an ABC-SMC calibration (matplotlib, Agg), from its written outputs alone.

`marginals.png` (prior against posterior per parameter), `pairs.png` (corner plot of the
posterior), `generations.png` (ESS and acceptance per generation), `predictive.png` (every
target's 95 % predictive interval against the reported value or band).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def _save(fig, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.{time.monotonic_ns()}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    tmp.replace(path)


def _short(key: str) -> str:
    return key.split(".", 1)[-1] if len(key) > 26 else key


def _unit(key: str) -> str:
    from ..scenario.params import schema_extra

    return schema_extra(key, "unit")


def _target_axis(r: dict) -> tuple[float, str]:
    """(factor, x-axis label) of a predictive panel: shares and relative changes in %, a share's
    difference in points, everything else in its catalogue unit."""
    from ..catalogue import OUTCOMES

    o = OUTCOMES.get(r["outcome"])
    unit = o.unit if o is not None else ""
    if r.get("change") == "relative":
        return 100.0, f"% change on {r.get('change_from')}"
    if r.get("change") == "difference":
        return (100.0, f"points of % on {r.get('change_from')}") if unit == "share" else (1.0, f"{unit}, change")
    return (100.0, "%") if unit == "share" else (1.0, unit)


def plot_all(out: Path, post, record: dict, pred: dict | None) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params = list(record["parameters"])
    w = post["weight"].to_numpy(float)
    written = []
    # ---- marginals
    n = len(params)
    cols = min(4, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax, k in zip(axes.flat, params):
        lo, hi = record["parameters"][k]["prior"]
        ax.hist(post[k], bins=20, range=(lo, hi), weights=w, density=True, color="C0", alpha=0.7, label="posterior")
        ax.axhline(1.0 / (hi - lo), color="k", ls="--", lw=1, label="prior")
        ax.axvline(record["parameters"][k]["default"], color="C3", lw=1, label="default")
        ax.set_title(_short(k), fontsize=8)
        ax.set_xlabel(_unit(k), fontsize=7)
        ax.set_ylabel("density (per unit)", fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    fig.suptitle(f"{record['name']}: prior (dashed) vs posterior, {len(post)} particles", fontsize=9)
    fig.tight_layout()
    _save(fig, out / "marginals.png")
    plt.close(fig)
    written.append("marginals.png")
    # ---- pair plot (corner)
    fig, axes = plt.subplots(n, n, figsize=(1.5 * n + 1, 1.5 * n + 1), squeeze=False)
    for i, ki in enumerate(params):
        for j, kj in enumerate(params):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j > i:
                ax.axis("off")
            elif i == j:
                ax.hist(post[ki], bins=15, range=tuple(record["parameters"][ki]["prior"]), weights=w, color="C0")
            else:
                ax.scatter(post[kj], post[ki], s=4 + 300 * w, alpha=0.5, color="C0")
                ax.set_xlim(*record["parameters"][kj]["prior"])
                ax.set_ylim(*record["parameters"][ki]["prior"])
            if i == n - 1:
                lo, hi = record["parameters"][kj]["prior"]
                ax.set_xlabel(f"{_short(kj)}\n{lo:g} – {hi:g}", fontsize=6, rotation=30)
            if j == 0:
                lo, hi = record["parameters"][ki]["prior"]
                ax.set_ylabel(f"{_short(ki)}\n{lo:g} – {hi:g}", fontsize=6, rotation=0, ha="right")
    fig.suptitle("posterior pairs: each axis spans its parameter's prior (range under the name); "
                 "marker area ∝ particle weight", fontsize=9, y=0.99)
    fig.subplots_adjust(top=0.96)
    _save(fig, out / "pairs.png")
    plt.close(fig)
    written.append("pairs.png")
    # ---- generations
    g = record["generations"]
    fig, ax = plt.subplots(1, 3, figsize=(10, 2.8))
    ts = [r["t"] for r in g]
    ax[0].plot(ts, [r["ess"] for r in g], "o-")
    ax[0].set_title("effective sample size", fontsize=9)
    ax[0].set_ylabel(f"particles (of {g[0]['accepted'] if g else '?'})")
    ax[0].set_ylim(0, None)
    ax[1].plot(ts, [100 * r["acceptance_rate"] for r in g], "o-")
    ax[1].set_title("acceptance rate", fontsize=9)
    ax[1].set_ylabel("% of evaluations accepted")
    ax[1].set_ylim(0, None)
    ax[2].semilogy(ts, [r["temperature"] for r in g], "o-")
    ax[2].set_title("temperature (1 = posterior)", fontsize=9)
    ax[2].set_ylabel("T (log scale)")
    for a in ax:
        a.set_xlabel("generation t")
    fig.tight_layout()
    _save(fig, out / "generations.png")
    plt.close(fig)
    written.append("generations.png")
    # ---- predictive
    if pred is not None:
        items = list(pred["targets"].items())
        fig, axes = plt.subplots(len(items), 1, figsize=(7, 0.95 * len(items) + 0.8), squeeze=False)
        for ax, (tid, r) in zip(axes[:, 0], items):
            f, label = _target_axis(r)
            lo, hi = (f * v for v in r["interval"])
            mlo, mhi = (f * v for v in r["model_interval"])
            ax.plot([lo, hi], [0, 0], color="C0" if r["fitted"] else "C1", lw=6, alpha=0.4, solid_capstyle="butt")
            ax.plot([mlo, mhi], [0, 0], color="C0" if r["fitted"] else "C1", lw=2)
            ax.plot([f * r["predicted"]], [0], "o", color="k", ms=4)
            rep = r["reported"]
            if isinstance(rep, list):
                ax.axvspan(f * rep[0], f * rep[1], color="0.85", zorder=0)
            else:
                ax.plot([f * rep], [0], "D", color="C3", ms=6)
            ax.set_xlabel(label, fontsize=7, labelpad=1)
            ax.set_yticks([])
            ax.set_ylabel(("" if r["fitted"] else "HELD OUT\n") + tid, rotation=0, ha="right", fontsize=7)
            ax.tick_params(labelsize=7)
        axes[0, 0].set_title("posterior predictive: median ●, 95 % with observation error (thick), model only (thin); "
                             "reported ◆ or band (grey)", fontsize=8)
        fig.tight_layout()
        _save(fig, out / "predictive.png")
        plt.close(fig)
        written.append("predictive.png")
    return written


def weighted_quantiles(x, w, qs) -> list[float]:
    x, w = np.asarray(x, float), np.asarray(w, float)
    o = np.argsort(x)
    c = np.cumsum(w[o]) / w.sum()
    return [float(np.interp(q, c, x[o])) for q in qs]
