"""What each point of perceived safety costs, lever by lever, from the one-lever sweeps.

Reads the stores in ROOT (default out/sweeps: grid_size, fulltime_ratio, cameras; nothing is
re-run) and writes a Markdown table: for each lever, moving from the baseline (the swept
value nearest the scenario's own setting) to each more generous setting, the gain in
population share safe (percentage points), the change in report → resolved time (hours),
the extra cost of grid workers and cameras (yuan per resident per year) and their ratio,
yuan per resident per year per point.

Every difference is paired: replicate r at the lever's level minus replicate r at the
baseline, which share the seed (and, in a sweep made with `--posterior DIR`, the parameter
draw θ_r).  Two kinds of store, said in the table's caption:

- **with a posterior**: medians with the central 90 % over posterior draws (each draw run
  with its own seed, so the spread is parameter uncertainty plus the model's dice); yuan per
  point is each draw's Δcost / Δsafety (+∞ for a draw that buys no safety); a second table
  gives P(row buys a point more cheaply than column), the share of draws, for each lever's
  cheapest move — paired by draw where the sweeps drew the same posterior rows;
- **replicates only** (parameters at their defaults): means with a 90 % t-interval of the
  paired differences, and yuan per point as the ratio of the mean differences with Fieller's
  90 % interval; no probability table (the seeds' spread is not a probability about the world).

Where Δsafety's interval includes 0 the cost per point is "cannot be told from no effect".

    .venv/bin/python experiments/cost_per_point.py [ROOT] [--level 0.9] [--out FILE.md] [--csv FILE.csv]

Bad input (a missing store, a level outside (0, 1)) is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from sim.analysis.posterior import NO_EFFECT, cost_per_point, prob_cheaper
from sim.experiments.design import ExperimentError
from sim.experiments.store import Store

#: (store name in ROOT, axis, the scenario's value if the store does not say, label, more generous = larger?)
LEVERS = (("grid_size", "residents_per_grid", 800, "smaller grids", False),
          ("fulltime_ratio", "fulltime_ratio", 0.15, "more full-time", True),
          ("cameras", "camera_coverage", 0.5, "more cameras", True))
SAFE, COST, TIME = "population_share_safe", "cost_yuan_per_resident_year", "report_to_resolution_hours_mean"
DEFAULT_LEVEL = 0.9


def baseline(values, default: float) -> float:
    """The swept value nearest the scenario's setting (the value itself when swept)."""
    return min(values, key=lambda v: (abs(v - default), v))


def pairs(df: pd.DataFrame, axis: str, base, level) -> pd.DataFrame:
    """Paired differences, one row per replicate present at both: Δ safe (points), Δ cost, Δ time, and the draw."""
    done = df[df["status"] == "done"]
    col = f"axis.{axis}"
    cols = [SAFE, COST, TIME] + (["draw"] if "draw" in done else [])
    a = done[np.isclose(done[col].astype(float), float(level))].set_index("replicate")[cols]
    b = done[np.isclose(done[col].astype(float), float(base))].set_index("replicate")[cols]
    common = a.index.intersection(b.index).sort_values()
    a, b = a.loc[common], b.loc[common]
    if "draw" in cols and not (a["draw"].to_numpy() == b["draw"].to_numpy()).all():
        raise ExperimentError(f"{axis}: replicates at {level:g} and {base:g} drew different posterior rows: "
                              "not a paired sweep (made by another gridsim?)")
    out = pd.DataFrame({"replicate": common, "d_safe": 100 * (a[SAFE] - b[SAFE]).to_numpy(),
                        "d_cost": (a[COST] - b[COST]).to_numpy(), "d_time": (a[TIME] - b[TIME]).to_numpy()})
    if "draw" in cols:
        out["draw"] = a["draw"].to_numpy()
    return out


def lever_moves(df: pd.DataFrame, axis: str, default: float, larger_is_more: bool, posterior: bool,
                level: float = DEFAULT_LEVEL) -> list[dict]:
    """Every move from the baseline to a more generous level: paired differences summarised (`cost_per_point`)."""
    values = sorted(set(df.loc[df["status"] == "done", f"axis.{axis}"].astype(float)))
    base = baseline(values, default)
    better = [v for v in values if (v > base if larger_is_more else v < base)]
    rows = []
    for v in sorted(better, reverse=not larger_is_more):
        p = pairs(df, axis, base, v)
        res = cost_per_point(p["d_cost"], p["d_safe"], level, posterior)
        t = (float(np.median(p["d_time"])) if posterior else float(p["d_time"].mean())) if len(p) else math.nan
        rows.append({"axis": axis, "from": base, "to": v, "default": default, **res, "d_time": t,
                     "draws": p["draw"].to_numpy() if "draw" in p else None})
    return rows


def _num(v: float, fmt: str) -> str:
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if not math.isfinite(v):
        return "n/a"
    text = format(v, fmt)
    if float(text) == 0:                   # no "−0": a value that rounds to zero is shown as zero
        text = format(0.0, fmt)
    return text.replace("-", "−")


def _iv(t: tuple, fmt: str) -> str:
    c, lo, hi = t
    return f"{_num(c, fmt)} [{_num(lo, fmt)}, {_num(hi, fmt)}]" if not math.isnan(lo) else _num(c, fmt)


def per_point_text(r: dict) -> str:
    if r["verdict"]:
        return r["verdict"]
    return _iv(r["per_point"], ".1f")


def markdown(moves: dict[str, list[dict]], posterior: bool, level: float) -> str:
    head = "| lever | from → to | Δ safe (points) | Δ report→resolved (h) | Δ cost (yuan/resident/yr) | yuan per point |"
    if posterior:
        cap = (f"Medians with the central {100 * level:g} % over posterior draws [in brackets]; each draw is run with its own "
               "seed at every level (paired differences per draw and seed), so the spread is parameter uncertainty "
               "plus the model's dice.")
    else:
        cap = (f"Replicates only (every parameter at its default): mean paired differences over replicates (same seed at "
               f"both levels) with {100 * level:g} % t-intervals [in brackets]; yuan per point is the ratio of the mean "
               f"differences with Fieller's {100 * level:g} % interval.")
    rows = [cap, "", head, "|---|---|---|---|---|---|"]
    notes = []
    for label, rs in moves.items():
        for r in rs:
            rows.append(f"| {label} | {r['from']:g} → {r['to']:g} | {_iv(r['d_safe'], '+.1f')} | {_num(r['d_time'], '+.0f')} "
                        f"| {_iv(r['d_cost'], '+.1f')} | {per_point_text(r)} |")
        if rs and not math.isclose(rs[0]["from"], rs[0]["default"]):
            notes.append(f"{label}: from {rs[0]['from']:g}, the swept value nearest the scenario's {rs[0]['default']:g}.")
    n = {r["n"] for rs in moves.values() for r in rs}
    rows += ["", f"n = {', '.join(map(str, sorted(n)))} {'draws' if posterior else 'replicates'} per move. "
             f"\"{NO_EFFECT}\": Δ safe's interval includes 0. " + " ".join(notes)]
    if posterior:
        rows += ["", probability_table(moves)]
    return "\n".join(rows) + "\n"


def cheapest(rs: list[dict]) -> dict | None:
    ok = [r for r in rs if not r["verdict"] and math.isfinite(r["per_point"][0])]
    return min(ok, key=lambda r: r["per_point"][0]) if ok else None


def probability(a: dict, b: dict) -> tuple[float, bool]:
    """P(move a buys a point more cheaply than move b) and whether it was paired by draw."""
    da, db = a.get("draws"), b.get("draws")
    if da is not None and db is not None and len(da) == len(db) and (da == db).all():
        return prob_cheaper(a["ratios"], b["ratios"], True), True
    return prob_cheaper(a["ratios"], b["ratios"], False), False


def probability_table(moves: dict[str, list[dict]]) -> str:
    best = {label: m for label, rs in moves.items() if (m := cheapest(rs)) is not None}
    if len(best) < 2:
        return "P(cheaper): fewer than two levers have a move whose gain can be told from no effect."
    names = [f"{label} {m['from']:g} → {m['to']:g}" for label, m in best.items()]
    rows = ["P(row buys a point more cheaply than column), the share of posterior draws, for each lever's cheapest "
            "move (lowest median yuan per point):", "", "| | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names)]
    unpaired = False
    for name, a in zip(names, best.values()):
        cells = []
        for b in best.values():
            if a is b:
                cells.append("—")
                continue
            p, was_paired = probability(a, b)
            unpaired |= not was_paired
            cells.append(f"{100 * p:.0f} %")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    rows += ["", "Paired by draw (the same posterior rows in both sweeps)." if not unpaired else
             "Some sweeps drew different posterior rows: those pairs compare every draw of one with every draw of the "
             "other (unpaired)."]
    return "\n".join(rows)


def table(root: Path, level: float = DEFAULT_LEVEL) -> tuple[str, pd.DataFrame]:
    """The Markdown table (and its rows as a frame) from the stores in `root`."""
    moves: dict[str, list[dict]] = {}
    kinds = set()
    for name, axis, default, label, larger in LEVERS:
        with Store.open(root / name) as store:
            meta, df = store.meta(), store.frame()
        if f"axis.{axis}" not in df:
            raise ExperimentError(f"{root / name}: not a sweep of {axis} (its axes: {', '.join(meta.get('axes', []))})")
        post = bool(meta.get("posterior"))
        kinds.add(post)
        base = (meta.get("definition", {}).get("base_parameters", {}) or {}).get(axis)
        moves[label] = lever_moves(df, axis, default if base is None else float(base), larger, post, level)
    if len(kinds) > 1:
        raise ExperimentError(f"{root}: some sweeps drew parameters from a posterior and some did not; "
                              "sweep all three levers the same way")
    posterior = kinds.pop()
    flat = pd.DataFrame([{"lever": label, "from": r["from"], "to": r["to"], "n": r["n"],
                          "d_safe": r["d_safe"][0], "d_safe_lo": r["d_safe"][1], "d_safe_hi": r["d_safe"][2],
                          "d_cost": r["d_cost"][0], "d_time": r["d_time"], "per_point": r["per_point"][0],
                          "per_point_lo": r["per_point"][1], "per_point_hi": r["per_point"][2],
                          "verdict": r["verdict"] or "", "posterior": posterior, "level": level}
                         for label, rs in moves.items() for r in rs])
    return markdown(moves, posterior, level), flat


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", nargs="?", default="out/sweeps", help="directory holding the three sweeps")
    ap.add_argument("--level", type=float, default=DEFAULT_LEVEL, help="interval level (default 0.9)")
    ap.add_argument("--out", help="write the Markdown here (atomically) instead of printing it")
    ap.add_argument("--csv", help="also write the rows as CSV (atomically)")
    args = ap.parse_args(argv)
    from sim.run import atomic_file, check_out_path
    from sim.scenario import ScenarioError

    try:
        if not 0 < args.level < 1:
            raise ExperimentError(f"--level {args.level}: must be between 0 and 1")
        for flag, target in (("--out", args.out), ("--csv", args.csv)):
            if target:
                check_out_path(target, flag, kind="file")
        text, flat = table(Path(args.root), args.level)
    except ScenarioError as exc:
        print(f"cost_per_point: {exc}", file=sys.stderr)
        return 2
    for target, write in ((args.out, lambda p: p.write_text(text, encoding="utf-8")),
                          (args.csv, lambda p: flat.to_csv(p, index=False))):
        if target:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(Path(target)) as tmp:
                write(tmp)
    if not args.out:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
