"""The report's five figures, drawn from the results dict alone (never from a run).

Labels come from the outcome catalogue and every number in a title or legend from the
results or the figures stored in them, so `--replot` redraws them faithfully.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .extras import outcome_info
from .queues import erlang_c_wait
from .stats import scaled


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 8, "axes.titlesize": 9, "figure.dpi": 100})
    return plt


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _f(x) -> float:
    """A value from validation.json as a float (null, for NaN, back to NaN)."""
    return np.nan if x is None else float(x)


def _err(vals: list[dict], f: float = 1.0) -> list[list[float]]:
    """Error bars (below, above) of mean_ci dicts, NaN-safe."""
    return [[f * (_f(v["mean"]) - _f(v["low"])) for v in vals], [f * (_f(v["high"]) - _f(v["mean"])) for v in vals]]


def figure_of(res: dict, fid: str) -> dict:
    """A figure entry stored in the results."""
    return next(f for f in res["figures"] if f["id"] == fid)


def axis_label(key: str) -> str:
    o = outcome_info(key)
    return o.axis_label() if o else key


def as_points(key: str, d: dict) -> tuple[str, dict]:
    """A change of an outcome for a bar: shares in points, others in their unit."""
    o = outcome_info(key)
    if o and o.is_share:
        return f"{o.label} (pp)", scaled(d, 100)
    return (f"{o.label} ({o.unit})" if o else key), d


def plot_guigang(res: dict, path: Path) -> None:
    plt = _plt()
    g = res["guigang"]
    fit, pred, comp, cases = g["fit"], g["prediction"], g["comparison"], g["cases"]
    y15, y16 = figure_of(res, fit["figure"])["year"], figure_of(res, comp["level"]["figure"])["year"]
    z = pred["z_quantile"]
    fig, ax = plt.subplots(1, 3, figsize=(11, 3.3))
    h = sorted(fit["history"], key=lambda r: r["theta"])
    ax[0].plot([r["theta"] for r in h], [100 * r["model"] for r in h], "o-", ms=3,
               label=f"model (mean of {len(fit.get('seeds', [])) or 'the'} CRN replicates)")
    ax[0].axhline(100 * fit["target"], color="C1", label=f"reported {y15}")
    ax[0].axhspan(100 * (fit["target"] - z * fit["target_se"]), 100 * (fit["target"] + z * fit["target_se"]),
                  color="C1", alpha=0.15, label=f"reported ± {100 * res['confidence']:g} % survey sampling interval")
    ax[0].axvline(fit["value"], color="k", ls=":", lw=1)
    ax[0].set(xlabel=fit["parameter"], ylabel=axis_label(fit["outcome"]), title=f"fit on {y15}: every evaluation")
    ax[0].legend(fontsize=7)
    lo, hi = pred["interval"]
    p = pred["predicted"]
    ax[1].errorbar([y15], [100 * fit["model"]], fmt="s", color="C0", label=f"model, fitted ({y15})")
    ax[1].errorbar([y16], [100 * p], yerr=[[100 * (p - lo)], [100 * (hi - p)]], fmt="o", color="C2", capsize=4,
                   label=f"model, predicted ({y16}),\n{100 * res['confidence']:g} % interval: replicates,\nfit and survey sampling")
    ax[1].plot([y15, y16], [100 * fit["target"], 100 * comp["level"]["reported"]], "x--", color="C1", ms=8, label="reported")
    ax[1].set(xticks=[y15, y16], xlim=(y15 - 0.5, y16 + 0.5), ylabel=axis_label(pred["outcome"]), title=f"{y16} held out")
    lo1, hi1 = ax[1].get_ylim()
    ax[1].set_ylim(lo1 - 0.55 * (hi1 - lo1), hi1)        # room for the legend below the points
    ax[1].legend(fontsize=7, loc="lower left")
    items = [(comp[k], cases[k]) for k in ("filed", "solved")]
    labels = [axis_label(figure_of(res, c["figure"])["outcome"]).split(" (")[0] for c, _ in items]
    x = np.arange(len(items))
    m = [d for _, d in items]
    nrep = max((int(d.get("n") or 0) for d in m), default=0)
    ax[2].bar(x - 0.2, [100 * _f(d["mean"]) for d in m], 0.4, yerr=np.nan_to_num(_err(m, 100)), capsize=3,
              label=f"model {y15}→{y16} ({100 * res['confidence']:g} % CI over {nrep} paired replicates)")
    ax[2].bar(x + 0.2, [100 * c["reported"] for c, _ in items], 0.4, label="reported")
    ax[2].axhline(0, color="k", lw=0.5)
    lo2, hi2 = ax[2].get_ylim()
    ax[2].set_ylim(lo2, hi2 + 0.45 * (hi2 - lo2))       # room for the legend above the bars
    ax[2].set(xticks=x, xticklabels=labels, ylabel=f"relative change {y15} → {y16} (%)", title=f"criminal cases, {y15} → {y16}")
    ax[2].legend(fontsize=7)
    _save(fig, path)


def _bars(a, items, title, confidence: float = 0.95) -> None:
    names = [n for n, _ in items]
    vals = [d for _, d in items]
    y = np.arange(len(names))
    a.barh(y, [_f(v["mean"]) for v in vals], xerr=np.nan_to_num(_err(vals)), capsize=3, color="C0")
    a.axvline(0, color="k", lw=0.5)
    a.set_yticks(y, names)
    a.set_title(title)
    n = sorted({int(v.get("n") or 0) for v in vals})
    a.set_xlabel(f"change, in each row's unit (pp: percentage points)\nwhiskers: {100 * confidence:g} % CI over "
                 f"{'/'.join(map(str, n))} paired replicates", fontsize=7)


def plot_cities(res: dict, path: Path) -> None:
    plt = _plt()
    c = res["cities"]
    fig, ax = plt.subplots(2, 2, figsize=(11, 6.2))
    ax = ax.ravel()
    j = c["jincheng"]
    hours = np.asarray(j["hours"], float)
    if len(hours):
        ax[0].hist(hours, bins=np.linspace(0, max(2 * j["reported_hours"], float(np.quantile(hours, 0.95))), 30), color="C0")
    ax[0].axvline(j["reported_hours"], color="C1", lw=2, label=f"reported: {j['reported_hours']:.2f} h")
    ax[0].set(xlabel="call → cleared (h), cleared robberies", ylabel="robberies", title="Jincheng: robbery cleared")
    ax[0].legend(fontsize=7)
    f = c["fangchenggang"]
    _bars(ax[1], [as_points(k, f["change"][k]) for k in ("survey_expected_share_safe", "incidents_per_10k_year",
                                                          "clearance_rate", "detection_rate")],
          f"Fangchenggang: coverage {100 * f['low_coverage']:g} % → {100 * f['file_coverage']:g} %", res.get("confidence", 0.95))
    h = c["huizhou"]
    items = []
    for lab, d in (("file", h["change"]), ("same workforce", h["change_same_workforce"])):
        for k in ("report_to_resolution_hours_mean", "survey_expected_share_safe", "share_settled_in_grid"):
            name, v = as_points(k, d[k])
            items.append((f"{name}, {lab}", v))
    _bars(ax[2], items, f"Huizhou: {h['residents_per_grid_before']:.1f} → {h['residents_per_grid_after']:.1f} residents/grid",
          res.get("confidence", 0.95))
    lb = c["laibin"]["change_dense_minus_lead"]
    _bars(ax[3], [as_points(k, lb[k]) for k in ("report_to_resolution_hours_mean", "survey_expected_share_safe",
                                                "share_known_resolved_within_24h", "share_settled_in_grid")],
          "Laibin: dense_grids − lead_workers", res.get("confidence", 0.95))
    _save(fig, path)


def plot_sobol(res: dict, path: Path) -> None:
    """First- and total-order indices in % of the outcome's variance, with their bootstrap intervals drawn as
    computed: a true index lies in 0–100 %, so what runs outside (shaded) is estimation error, not effect."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    plt = _plt()
    s = res["sensitivity"]["sobol"]
    shown = s["outcomes"][:2]
    conf = f"{100 * res['confidence']:g} %"
    fig, ax = plt.subplots(1, len(shown), figsize=(11, 4.2), sharey=True, squeeze=False)
    for a, k in zip(ax[0], shown):
        rows = s["indices"][k]
        y = np.arange(len(rows))
        lo_all, hi_all = [0.0], [100.0]
        for off, which, col in ((-0.2, "first", "C0"), (0.2, "total", "C3")):
            v = 100 * np.array([np.nan if r[which] is None else r[which] for r in rows], float)
            err = None
            if f"{which}_ci" in rows[0]:
                ci = 100 * np.array([[np.nan if x is None else x for x in r[f"{which}_ci"]] for r in rows], float)
                err = [np.nan_to_num(np.clip(v - ci[:, 0], 0, None)), np.nan_to_num(np.clip(ci[:, 1] - v, 0, None))]
                lo_all.append(np.nanmin(ci[:, 0]))
                hi_all.append(np.nanmax(ci[:, 1]))
            lo_all.append(np.nanmin(v))
            hi_all.append(np.nanmax(v))
            a.barh(y + off, v, 0.4, xerr=err, capsize=2, color=col, label=f"{which}-order index (estimate)")
        lo, hi = min(lo_all), max(hi_all)
        pad = 0.04 * (hi - lo)
        a.set_xlim(lo - pad, hi + pad)
        for x0, x1 in ((lo - pad, 0.0), (100.0, hi + pad)):
            if x1 > x0:
                a.axvspan(x0, x1, color="0.85", zorder=0)
        a.set_yticks(y, [("◆ " if r["group"] == "lever" else "") + r["key"] for r in rows])
        a.axvline(0, color="k", lw=0.5)
        a.set(title=f"Sobol indices: {outcome_info(k).label if outcome_info(k) else k}",
              xlabel="% of the outcome's variance")
    handles, _ = ax[0, 0].get_legend_handles_labels()
    handles += [Line2D([], [], color="k", marker="|", ls="-", lw=1, label=f"whisker: {conf} bootstrap interval"),
                Patch(color="0.85", label="outside 0–100 %: estimation error"),
                Line2D([], [], ls="none", marker="D", color="k", ms=4, label="◆ one of the three levers")]
    fig.legend(handles=handles, fontsize=7, loc="lower center", ncol=5, frameon=False)
    ax[0, 0].invert_yaxis()            # once: the panels share the y axis
    fig.suptitle(f"Saltelli design, n = {s.get('n')} base samples ({s.get('runs')} runs), {s.get('bootstrap')} bootstrap "
                 f"resamples; intervals drawn as computed (estimates below 0 or above 100 % are sampling error)", fontsize=8)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_queue(res: dict, path: Path) -> None:
    plt = _plt()
    q = res["queueing"]
    mu = 1.0 / q["service_mean_hours"]
    fig, ax = plt.subplots(1, len(q["servers"]), figsize=(8, 3.2))
    for a, c in zip(np.atleast_1d(ax), q["servers"]):
        rows = [r for r in q["rows"] if r["servers"] == c]
        rho = np.array([r["utilisation"] for r in rows])
        grid = np.linspace(0.05, max(rho.max(), 0.5) + 0.02, 200)
        a.plot(100 * grid, [erlang_c_wait(c, g * c * mu, mu)[0] for g in grid], "k-", lw=1,
               label="M/M/1" if c == 1 else f"Erlang C (c = {c})")
        m = np.array([_f(r["model_wait"]["mean"]) for r in rows])
        lo = np.array([_f(r["model_wait"]["low"]) for r in rows])
        hi = np.array([_f(r["model_wait"]["high"]) for r in rows])
        a.errorbar(100 * rho, m, yerr=[np.nan_to_num(m - lo), np.nan_to_num(hi - m)], fmt="o", color="C3", capsize=3,
                   label=f"model ({100 * res['confidence']:g} % CI over {q.get('replicates', '')} replicates)")
        a.set(yscale="log", xlabel="utilisation ρ (%)", ylabel=f"mean wait (h), service {q['service_mean_hours']:g} h",
              title=f"grid rung as a pure queue, {c} worker{'s' if c > 1 else ''}")
        a.legend(fontsize=7)
    _save(fig, path)


#: lever axes: label, factor (shares drawn in %), log scale
LEVER_AXES = {"residents_per_grid": ("residents per grid (log scale)", 1.0, True),
              "fulltime_ratio": ("full-time share of grid workers (%)", 100.0, False),
              "camera_coverage": ("camera coverage of public space (%)", 100.0, False)}


def lever_title(lever: str, d: dict, k: str, replicates: int | None) -> str:
    """A panel's title: the verdict computed from the stored paired intervals, and whether more of the lever is better."""
    from ..catalogue import OUTCOMES
    from .levers import lever_verdict

    v = lever_verdict(d["values"], d["outcomes"][k], replicates)
    if v in ("rises", "falls") and k in OUTCOMES:
        good = (1 if v == "rises" else -1) * d.get("more", 1) * OUTCOMES[k].better > 0
        v += f" — more of the lever: {'better' if good else 'worse'}"
    return v


def plot_levers(res: dict, path: Path) -> None:
    from matplotlib.ticker import NullLocator

    plt = _plt()
    lv = res["levers"]
    keys = lv["outcomes"]
    n = lv.get("replicates")
    fig, ax = plt.subplots(len(keys), len(lv["levers"]), figsize=(10, 2.4 * len(keys) + 0.5), squeeze=False)
    for j, (lever, d) in enumerate(lv["levers"].items()):
        name, fx, log = LEVER_AXES.get(lever, (lever, 1.0, False))
        order = np.argsort(np.array(d["values"], float))             # increasing lever values, left to right
        x = fx * np.array(d["values"], float)[order]
        for i, k in enumerate(keys):
            s = [d["outcomes"][k]["series"][o] for o in order]
            info = outcome_info(k)
            f = 100.0 if info is not None and info.is_share else 1.0
            m = np.array([_f(p["mean"]) for p in s])
            lo, hi = np.array([_f(p["low"]) for p in s]), np.array([_f(p["high"]) for p in s])
            a = ax[i, j]
            a.plot(x, f * m, "o-", color="C0")
            a.fill_between(x, f * lo, f * hi, alpha=0.25, color="C0")
            if log:
                a.set_xscale("log")
                a.set_xticks(x, [f"{v:,.0f}" for v in x])
                a.xaxis.set_minor_locator(NullLocator())
            a.grid(axis="x", color="0.9", lw=0.5)
            if i == len(keys) - 1:
                a.set_xlabel(name)
            if j == 0:
                a.set_ylabel(axis_label(k))
            a.set_title(lever_title(lever, d, k, n), fontsize=7)
    conf = f"{100 * res['confidence']:g} %" if "confidence" in res else "95 %"
    fig.suptitle(f"Default district, each lever alone, {n} replicates per point (same seeds at every point). "
                 f"Band: {conf} t-interval of the mean per point; titles: verdict from paired {conf} intervals "
                 "(ends and every step)", fontsize=7.5)
    _save(fig, path)


PLOTS = {"guigang": ("guigang.png", plot_guigang), "cities": ("cities.png", plot_cities),
         "sensitivity": ("sobol.png", plot_sobol), "queueing": ("queueing.png", plot_queue),
         "levers": ("levers.png", plot_levers)}


def draw_all(res: dict, out: Path) -> dict[str, str]:
    """Draw the figure of every section present; section → file name."""
    drawn = {}
    for section, (name, fn) in PLOTS.items():
        if section in res:
            fn(res, Path(out) / name)
            drawn[section] = name
    return drawn
