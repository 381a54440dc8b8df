"""Speed-up of `gridsim sweep` with more worker processes.

Runs the same sweep from scratch with `--workers 1` and with `--workers N` (each a fresh
`gridsim sweep` process into a temporary directory, wall-clock time of the whole command,
start-up included), `--repeat` times each, alternating, and keeps the fastest of each (the
one least disturbed by other work on the machine); checks that the stores hold identical
outcomes and prints the speed-up.  Not a test: the number depends on the machine and on
what else it is doing.

    .venv/bin/python experiments/bench_parallel.py [EXP.yaml] [--workers 2] [--scale 0.5] [--days 365]
                                                   [--repeat 1] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sweep_seconds(exp: Path, out: Path, workers: int, scale: float, days: int) -> float:
    cmd = [sys.executable, "-m", "sim", "sweep", str(exp), "--out", str(out), "--workers", str(workers),
           "--scale", str(scale), "--days", str(days), "--quiet"]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def outcomes(out: Path) -> dict:
    db = sqlite3.connect(out / "store.sqlite")
    try:
        return dict(db.execute("SELECT run_id, outcomes FROM runs"))
    finally:
        db.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("experiment", nargs="?", default=str(ROOT / "experiments" / "grid_size.yaml"))
    ap.add_argument("--workers", type=int, default=2, help="workers to compare with one (default 2)")
    ap.add_argument("--scale", type=float, default=0.5, help="fraction of the town per run (default 0.5)")
    ap.add_argument("--days", type=int, default=365, help="days per run (default 365)")
    ap.add_argument("--repeat", type=int, default=1, help="measurements of each, the fastest kept (default 1)")
    ap.add_argument("--json", help="also write the result here")
    args = ap.parse_args(argv)
    exp = Path(args.experiment)
    ones, manys = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            ones.append(sweep_seconds(exp, Path(tmp) / f"w1-{i}", 1, args.scale, args.days))
            manys.append(sweep_seconds(exp, Path(tmp) / f"w{args.workers}-{i}", args.workers, args.scale, args.days))
        first = outcomes(Path(tmp) / "w1-0")
        same = all(outcomes(d) == first for d in Path(tmp).iterdir())
        runs = len(first)
    one, many = min(ones), min(manys)
    result = {"experiment": exp.name, "runs": runs, "scale": args.scale, "days": args.days, "cpus": os.cpu_count(),
              "seconds_1_worker": round(one, 2), f"seconds_{args.workers}_workers": round(many, 2),
              "speedup": round(one / many, 2), "identical_outcomes": same,
              "all_seconds_1_worker": [round(x, 2) for x in ones],
              f"all_seconds_{args.workers}_workers": [round(x, 2) for x in manys]}
    print(json.dumps(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
