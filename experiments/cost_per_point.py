"""What each point of perceived safety costs, lever by lever, from the one-lever sweeps.

Reads the stores `make figures` leaves in out/sweeps/ (nothing is re-run) and prints, for
each lever, moving from the swept value nearest the default district's setting to each more generous setting:
the gain in population share safe (percentage points), the extra cost of grid workers and
cameras (yuan per resident per year), and their ratio, yuan per resident per year per point.

    .venv/bin/python experiments/cost_per_point.py [out/sweeps]
"""

from __future__ import annotations

import sys
from pathlib import Path

from sim.experiments.store import Store

LEVERS = (("grid_size", "residents_per_grid", 800, "smaller grids"),
          ("fulltime_ratio", "fulltime_ratio", 0.15, "more full-time"),
          ("cameras", "camera_coverage", 0.5, "more cameras"))


def table(root: Path) -> str:
    rows = ["| lever | from → to | Δ safe (points) | Δ report→resolved (h) | Δ cost (yuan/resident/yr) | yuan per point |",
            "|---|---|---|---|---|---|"]
    for name, axis, default, label in LEVERS:
        with Store.open(root / name) as store:
            df = store.frame()
        col = next(c for c in df.columns if c.endswith(axis))
        g = df[df["status"] == "done"].groupby(col)[["population_share_safe", "report_to_resolution_hours_mean",
                                                     "cost_yuan_per_resident_year"]].mean()
        start = min(g.index, key=lambda v: abs(v - default))  # the swept value nearest the default
        base = g.loc[start]
        better = g.index[g.index < start] if axis == "residents_per_grid" else g.index[g.index > start]
        for v in sorted(better, reverse=axis == "residents_per_grid"):
            d = g.loc[v] - base
            pts = 100 * d["population_share_safe"]
            per = d["cost_yuan_per_resident_year"] / pts if pts > 0 else float("nan")
            rows.append(f"| {label} | {start:g} → {v:g} | {pts:+.1f} | {d['report_to_resolution_hours_mean']:+.0f} | "
                        f"{d['cost_yuan_per_resident_year']:+.1f} | {per:.1f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table(Path(sys.argv[1] if len(sys.argv) > 1 else "out/sweeps")))
