"""`gridsim bench`: how fast the model runs, against Mesa's own Schelling example, in one process.

Speed is a *ratio* (resident-days per second of gridsim over agent-steps per second of
Mesa's Schelling model, both timed in this process), so machine noise largely cancels.
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
        "targets": {"ratio_min": 50, "exponent_max": 1.1, "seconds_1m_365_max": 120},
    }
    echo(f"ratio gridsim / Mesa = {result['ratio']:.0f}× (target ≥ 50×); scaling exponent {exponent:.2f} (target ≤ 1.1)")
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(result, indent=1) + "\n")
    if plot_path:
        plot_scaling(result, plot_path)
    return result


def plot_scaling(result: dict, path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = np.array([r["residents"] for r in result["scaling"]], float)
    s = np.array([r["seconds"] for r in result["scaling"]], float)
    b, a = np.polyfit(np.log(n), np.log(s), 1)
    xs = np.geomspace(n.min(), n.max(), 50)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.loglog(n, s, "o", label=f"gridsim, {result['days']} days")
    ax.loglog(xs, np.exp(a) * xs**b, "-", label=f"fit: seconds ∝ residents^{b:.2f}")
    mesa_s = n * result["days"] / result["mesa_agent_steps_per_s"]
    ax.loglog(n, mesa_s, "--", color="grey", label="plain Mesa at Schelling's agent-steps/s")
    ax.set_xlabel("residents")
    ax.set_ylabel("seconds (build + run)")
    ax.set_title(f"gridsim scaling; {result['ratio']:.0f}× Mesa's agent-steps/s")
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
