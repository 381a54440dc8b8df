"""The figures of docs/TIMELINE.md ("A city trajectory, from file to plot") and docs/figures/timeline/:
Guigang 2015–2016 (the camera build-out of 2016) and Huizhou 2016–2020 read both ways (13,614 grids
merged into 8,271 on an assumed 2020-01-01, or kept), all runs with the same seed, so the two Huizhou
readings are the same run until the merge (common random numbers).

    .venv/bin/python experiments/timeline_figures.py            # scale 0.05 (Guigang), 0.02 (Huizhou)
    .venv/bin/python experiments/timeline_figures.py --out /tmp/figs --guigang-scale 0.01 --huizhou-scale 0.005

Each run is also written as `gridsim run` writes it (summary.json, daily.csv, plots) under
`--runs` (default out/timeline/), so every figure can be traced to its files.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "figures" / "timeline"), help="where the PNGs go")
    ap.add_argument("--runs", default=str(ROOT / "out" / "timeline"), help="where the runs' files go")
    ap.add_argument("--guigang-scale", type=float, default=0.05)
    ap.add_argument("--huizhou-scale", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=20261125)
    args = ap.parse_args(argv)

    import sim
    from sim.plots import plot_compare
    from sim.run import run_scenario

    out, runs = Path(args.out), Path(args.runs)
    out.mkdir(parents=True, exist_ok=True)
    scen = ROOT / "scenarios"
    g = run_scenario(sim.load_scenario(scen / "guigang_2015_2016.yaml").with_overrides({"scale": args.guigang_scale}, "figures"),
                     runs / "guigang_2015_2016", seed=args.seed)
    for name in ("trajectory", "safety"):
        shutil.copyfile(runs / "guigang_2015_2016" / f"{name}.png", out / f"guigang_2015_2016_{name}.png")
    h = {}
    for name, label in (("huizhou_2016_2020", "(a) 13,614 grids merged into 8,271 on 2020-01-01"),
                        ("huizhou_13614_2016_2020", "(b) the 13,614 grids kept")):
        s = sim.load_scenario(scen / f"{name}.yaml").with_overrides({"scale": args.huizhou_scale}, "figures")
        h[label] = run_scenario(s, runs / name, seed=args.seed)
    first = next(iter(h.values()))
    plot_compare({k: v["periods"] for k, v in h.items()}, first["events"], out / "huizhou_2016_2020_readings.png",
                 f"Huizhou 2016–2020, the two readings of its grid restructuring (scale {args.huizhou_scale:g}, "
                 f"{first['residents']:,} residents, one seed)")
    print(f"Guigang 2016 vs 2015 survey: {g['periods']['2015']['survey_share_safe']:.3f} → "
          f"{g['periods']['2016']['survey_share_safe']:.3f}; figures in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
