"""Benchmark of `gridsim calibrate targets/guigang_2015.yaml`: wall time, evaluations, model runs.

    .venv/bin/python experiments/bench_calibration.py [--quick] [--workers 2] [--out DIR]

Runs the command from scratch into DIR (default out/bench/calibration[_quick]) and writes
DIR/bench.json: wall seconds of the whole command (fit, predictive check, figures), of the fit
alone, evaluations (particles simulated, pilot included), model runs (× replicates), parameters,
generations, and the load average while it ran (the machine is shared; a loaded machine is slower).
Targets: ≥ 8 parameters from ≥ 2,000 evaluations in under 45 minutes on 2 cores; --quick under 5.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--targets", default="targets/guigang_2015.yaml")
    ap.add_argument("--out")
    a = ap.parse_args()
    out = Path(a.out or f"out/bench/calibration{'_quick' if a.quick else ''}")
    if out.exists():
        shutil.rmtree(out)
    gridsim = str(Path(sys.executable).with_name("gridsim"))
    cmd = [gridsim, "calibrate", a.targets, "--out", str(out), "--workers", str(a.workers), "--quiet"]
    if a.quick:
        cmd.append("--quick")
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0
    cal = json.loads((out / "calibration.json").read_text(encoding="utf-8"))
    res = {"command": " ".join(cmd), "wall_seconds": wall, "fit_seconds": cal["seconds"],
           "predictive_seconds": cal.get("predictive_seconds"), "evaluations": cal["evaluations"],
           "model_runs": cal["model_runs"], "parameters": len(cal["parameters"]), "generations": len(cal["generations"]),
           "particles": cal["particles"], "replicates": cal["replicates"], "scale": cal["scale"],
           "load_average_before": load0, "load_average_after": os.getloadavg(), "cpus": os.cpu_count()}
    (out / "bench.json").write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
