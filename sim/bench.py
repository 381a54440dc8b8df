"""`gridsim bench`: how fast the model runs, against Mesa, in one process.

Speed is given as *ratios* timed in this process, so machine noise largely cancels:
resident-days per second of the whole gridsim model over agent-steps per second of Mesa's
own Schelling example (different models: a yardstick), and, like for like, gridsim's
vectorised daily resident update over the same update written the plain Mesa way (one
`mesa.Agent` per resident, a `step()` a day: `sim.bench_mesa`), both replaying the same
recorded days at the same size.
Scaling runs the default scenario at several sizes with the same densities and fits the
exponent of seconds ∝ residents^b.  Peak memory is the process's resident set size,
sampled every 20 ms while each run is going.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import psutil

from .execute import execute
from .scenario import load_scenario

FULL_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000, 300_000)
#: (residents, days) of the like-for-like comparison with plain Mesa agents
FULL_MESA = ((10_000, 120), (50_000, 120))
QUICK_MESA = ((5_000, 60),)


class PeakRSS:
    """Context manager sampling this process's RSS in a thread; `.peak_mb` afterwards."""

    def __init__(self, every: float = 0.02):
        self.every, self.peak = every, 0
        self._proc = psutil.Process()
        self._stop = threading.Event()

    def _loop(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(self.every)

    def __enter__(self):
        self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20


def time_gridsim(residents: int, days: int, seed: int = 1) -> dict:
    """Seconds to build and run the default scenario at `residents` (density kept), by the one executor."""
    import gc

    # no warm-up: `days` is exactly what is simulated and timed
    scenario = load_scenario().with_overrides({"population": residents, "area_km2": residents / 500.0, "days": days,
                                               "warmup_days": 0, "scale": 1.0}, "bench")
    gc.collect()
    with PeakRSS() as mem:
        res = execute(scenario, seed)
    n, steps = res.outcomes["residents"], scenario.total_days
    run_seconds = res.wall_seconds - res.init_seconds
    return {"residents": n, "days": days, "simulated_days": steps, "seconds": res.wall_seconds,
            "init_seconds": res.init_seconds, "run_seconds": run_seconds, "resident_days_per_s": n * steps / run_seconds,
            "peak_rss_mb": mem.peak_mb}


def time_schelling(side: int = 100, steps: int = 20) -> dict:
    """Agent-steps per second of Mesa's own Schelling example (mesa.examples)."""
    from mesa.examples.basic.schelling.model import Schelling, SchellingScenario

    model = Schelling(scenario=SchellingScenario(rng=42, width=side, height=side))
    agents = len(model.agents)
    t0 = time.perf_counter()
    for _ in range(steps):
        model.step()
    dt = time.perf_counter() - t0
    return {"agents": agents, "steps": steps, "seconds": dt, "agent_steps_per_s": agents * steps / dt}


def like_for_like(sizes, echo=print) -> list[dict]:
    """gridsim's daily resident update against the same update with one Mesa agent per resident (`sim.bench_mesa`)."""
    from .bench_mesa import compare

    out = []
    for n, days in sizes:
        r = compare(n, days)
        out.append(r)
        echo(f"daily resident update, {r['residents']:,} residents × {r['days']} days: vectorised "
             f"{r['vectorised_resident_days_per_s']:,.0f} resident-days/s, plain Mesa (one Agent each) "
             f"{r['mesa_resident_days_per_s']:,.0f}: {r['ratio']:.0f}× (same result to {r['max_abs_diff_safety']:.0e})")
    return out


def fit_exponent(sizes, seconds) -> float:
    """Slope of log(seconds) on log(residents)."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def run_bench(quick: bool = False, json_path: str | Path | None = None, plot_path: str | Path | None = None,
              echo=print) -> dict:
    days = 60 if quick else 365
    sizes = QUICK_SIZES if quick else FULL_SIZES
    schelling = time_schelling(steps=10 if quick else 30)
    echo(f"Mesa Schelling: {schelling['agents']} agents × {schelling['steps']} steps: "
         f"{schelling['agent_steps_per_s']:,.0f} agent-steps/s")
    time_gridsim(5_000, 5)  # warm caches and imports before timing
    like = like_for_like(QUICK_MESA if quick else FULL_MESA, echo)
    scaling = []
    for n in sizes:
        r = time_gridsim(n, days)
        scaling.append(r)
        echo(f"gridsim {r['residents']:>10,} residents × {days} days: {r['seconds']:7.2f} s "
             f"({r['resident_days_per_s']:,.0f} resident-days/s, peak RSS {r['peak_rss_mb']:,.0f} MB)")
    big = scaling[-1]
    exponent = fit_exponent([r["residents"] for r in scaling], [r["seconds"] for r in scaling])
    one_million_year = None
    if not quick:
        one_million_year = next(r["seconds"] for r in scaling if r["residents"] >= 1_000_000)
    result = {
        "quick": quick,
        "days": days,
        "resident_days_per_s": big["resident_days_per_s"],
        "mesa_agent_steps_per_s": schelling["agent_steps_per_s"],
        "ratio": big["resident_days_per_s"] / schelling["agent_steps_per_s"],
        "scaling": scaling,
        "exponent": exponent,
        "seconds_1m_residents_365_days": one_million_year,
        "schelling": schelling,
        "ratio_like_for_like": like[-1]["ratio"],
        "mesa_like_for_like": like,
        "targets": {"ratio_min": 50, "exponent_max": 1.1, "seconds_1m_365_max": 120},
    }
    echo(f"ratio gridsim / Mesa Schelling = {result['ratio']:.0f}× (target ≥ 50×); scaling exponent {exponent:.2f} (target ≤ 1.1)")
    echo(f"like for like: the daily resident update vectorised / plain Mesa agents = {like[-1]['ratio']:.0f}× "
         f"at {like[-1]['residents']:,} residents")
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(result, indent=1) + "\n")
    if plot_path:
        plot_scaling(result, plot_path)
    return result


def plot_scaling(result: dict, path: str | Path) -> None:
    import matplotlib.pyplot as plt

    fig = scaling_figure(result)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def scaling_figure(result: dict):
    """Left: seconds against residents, measured points apart from the fit's extrapolation (dashed) and from
    the plain-Mesa line at Schelling's rate (dashed, never run).  Right: the measured rates behind both ratios."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = np.array([r["residents"] for r in result["scaling"]], float)
    s = np.array([r["seconds"] for r in result["scaling"]], float)
    b, a = np.polyfit(np.log(n), np.log(s), 1)
    fig, (ax, ar) = plt.subplots(1, 2, figsize=(12.5, 5), gridspec_kw={"width_ratios": [1, 1.2]})
    inside = np.geomspace(n.min(), n.max(), 50)
    beyond = np.geomspace(n.max(), max(n.max() * 6, 6.1e6), 30)
    ax.loglog(n, s, "o", color="tab:blue", ms=7, zorder=3, label=f"gridsim, measured ({result['days']} days, build + run)")
    ax.loglog(inside, np.exp(a) * inside**b, "-", color="tab:blue", lw=1, label=f"fit: seconds ∝ residents^{b:.2f}")
    ax.loglog(beyond, np.exp(a) * beyond**b, "--", color="tab:blue", lw=1, label="fit, extrapolated (not run)")
    xs = np.geomspace(n.min(), beyond.max(), 50)
    ax.loglog(xs, xs * result["days"] / result["mesa_agent_steps_per_s"], "--", color="grey",
              label="extrapolated: one agent-step per resident-day\nat Mesa Schelling's measured rate (not run)")
    ax.set_xlabel("residents (log scale)")
    ax.set_ylabel("seconds (log scale)")
    ax.set_title(f"scaling, {result['days']} simulated days")
    ax.legend(fontsize=7.5, loc="upper left")
    big = result["scaling"][-1]
    rows = [(f"gridsim whole model (run)\n{big['residents']:,} residents", big["resident_days_per_s"], "tab:blue", "resident-days/s"),
            ("Mesa Schelling example\n(mesa.examples)", result["mesa_agent_steps_per_s"], "tab:gray", "agent-steps/s")]
    like = result.get("mesa_like_for_like") or []
    for r in like:
        size = f"{r['residents']:,} residents × {r['days']} days"
        rows += [(f"daily resident update, vectorised\n{size}", r["vectorised_resident_days_per_s"], "tab:green",
                  "resident-days/s"),
                 (f"same update, plain Mesa (one Agent\neach, a step() a day), {size}", r["mesa_resident_days_per_s"],
                  "tab:orange", f"resident-days/s ({r['ratio']:.0f}× slower)")]
    y = np.arange(len(rows))[::-1]
    for yi, (_, v, c, _) in zip(y, rows):        # dots, not bars: a bar's length on a log axis means nothing
        ar.plot([v], [yi], "o", color=c, ms=9)
    ar.set_xscale("log")
    ar.set_ylim(-0.6, len(rows) - 0.4)
    ar.grid(axis="x", color="0.9", lw=0.5)
    ar.set_yticks(y, [t for t, _, _, _ in rows], fontsize=8)
    for yi, (_, v, _, unit) in zip(y, rows):
        ar.annotate(f"{v:,.0f} {unit}", (v, yi), xytext=(9, 0), textcoords="offset points", va="center", fontsize=7.5)
    ar.set_xlim(min(v for _, v, _, _ in rows) / 3, max(v for _, v, _, _ in rows) * 60)
    ar.set_xlabel("measured rate, per second (log scale)")
    title = f"whole model / Schelling: {result['ratio']:.0f}× (different models)"
    if like:
        title += f"\nlike for like (resident update): vectorised / plain Mesa {like[-1]['ratio']:.0f}× at {like[-1]['residents']:,}"
    ar.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
