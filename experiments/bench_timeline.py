"""How long a multi-year city trajectory takes, and how much memory: Huizhou 2016–2020 (reading (a):
13,614 grids merged into 8,271 on 2020-01-01), a year of warm-up and five observed years, at full
scale by default.  Not a timed test: run it by hand (issue 12 asks for < 10 minutes and < 12 GB on
two cores at full scale).

    .venv/bin/python experiments/bench_timeline.py                       # full scale: 6.04 M residents
    .venv/bin/python experiments/bench_timeline.py --scale 0.1 --baseline  # a tenth, and the same run without the change

It reports the wall time of building, running and summarising the model (with the per-quarter and
per-year outcomes), the peak resident set size of this process (`sim.bench.PeakRSS`, sampled every
20 ms), the model's own memory estimate (`sim.execute.memory_estimate`) and, below full scale, a
linear extrapolation to full scale (the model's time and memory grow about linearly with residents
at this size: `gridsim bench`).  `--baseline` also runs huizhou_13614_2016_2020.yaml, the same city
without any change, so the timeline's own cost shows.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_SECONDS, GOAL_GB = 600.0, 12.0


def one(path: Path, scale: float, seed: int) -> dict:
    import gc

    import psutil

    import sim
    from sim.bench import PeakRSS
    from sim.execute import memory_estimate
    from sim.outcomes import periods, summarise

    scenario = sim.load_scenario(path).with_overrides({"scale": scale}, "bench")
    gc.collect()
    base_rss = psutil.Process().memory_info().rss
    with PeakRSS() as peak:
        t0, c0 = time.perf_counter(), time.process_time()
        model = sim.GovernanceModel(scenario, rng=seed)
        t1 = time.perf_counter()
        model.run()
        t2 = time.perf_counter()
        whole = summarise(model)
        per = periods(model)
        t3, c3 = time.perf_counter(), time.process_time()
    out = {"scenario": scenario.name, "scale": scale, "residents": scenario.residents, "days": scenario.total_days,
           "change_days": len(model.timeline.change_days()) if model.timeline else 0,
           "build_s": t1 - t0, "run_s": t2 - t1, "summarise_s": t3 - t2, "wall_s": t3 - t0, "cpu_s": c3 - c0,
           "peak_rss_gb": peak.peak / 1e9, "peak_above_start_gb": (peak.peak - base_rss) / 1e9,
           "estimate_gb": memory_estimate(scenario) / 1e9, "grids_start": model.levels[0][1]["grids"],
           "grids_end": model.town.n_grids, "grid_workers_end": model.grid_work.n_workers,
           "incidents_per_10k_year": {k: round(v["incidents_per_10k_year"], 2) for k, v in per.items() if "Q" not in k},
           "survey_share_safe": {k: v["survey_share_safe"] for k, v in per.items() if "Q" not in k},
           "disputes": whole["disputes"]}
    del model
    gc.collect()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the city (default 1: 6.04 M residents)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--file", default=str(ROOT / "scenarios" / "huizhou_2016_2020.yaml"))
    ap.add_argument("--baseline", action="store_true", help="also run huizhou_13614_2016_2020.yaml (no change)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)

    import psutil

    runs = [one(Path(args.file), args.scale, args.seed)]
    if args.baseline:
        runs.append(one(ROOT / "scenarios" / "huizhou_13614_2016_2020.yaml", args.scale, args.seed))
    for r in runs:
        print(f"{r['scenario']}: {r['residents']:,} residents × {r['days']:,} days ({r['change_days']} change days), "
              f"grids {r['grids_start']:,} → {r['grids_end']:,}")
        print(f"  wall {r['wall_s']:.1f} s (build {r['build_s']:.1f}, run {r['run_s']:.1f}, summarise {r['summarise_s']:.1f}; "
              f"CPU {r['cpu_s']:.1f} s); "
              f"peak RSS {r['peak_rss_gb']:.2f} GB ({r['peak_above_start_gb']:.2f} above the process at start; "
              f"estimate {r['estimate_gb']:.2f} GB)")
        print(f"  incidents per 10k a year by year: {r['incidents_per_10k_year']}")
        if args.scale < 1:
            k = 1.0 / args.scale
            r["extrapolated_wall_s"], r["extrapolated_rss_gb"] = r["wall_s"] * k, r["peak_above_start_gb"] * k + (
                r["peak_rss_gb"] - r["peak_above_start_gb"])
            print(f"  linear extrapolation to full scale: ≈ {r['extrapolated_wall_s'] / 60:.1f} min, "
                  f"≈ {r['extrapolated_rss_gb']:.1f} GB (goal < {GOAL_SECONDS / 60:.0f} min, < {GOAL_GB:.0f} GB)")
        else:
            ok = r["wall_s"] < GOAL_SECONDS and r["peak_rss_gb"] < GOAL_GB
            print(f"  goal < {GOAL_SECONDS / 60:.0f} min and < {GOAL_GB:.0f} GB: {'met' if ok else 'NOT met'}")
    machine = {"cpus": psutil.cpu_count(), "load_1min": psutil.getloadavg()[0], "python": platform.python_version()}
    print(f"machine: {machine['cpus']} CPUs, load average {machine['load_1min']:.2f} (other work slows the figures above)")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "machine": machine}, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
