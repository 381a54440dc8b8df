"""Which proposal kernel keeps the ABC weights healthy?  Measured on the analytic 10-parameter
stand-in of the Guigang fit (tests/test_calibration_abc.py `_EdgeStandIn`: the real priors and
targets, a posterior against one prior edge), so only pyabc's cost counts.

    .venv/bin/python experiments/calibration_kernel.py [--seeds 1 2 3] [--scalings 1 2 3 5]

A variant is a kernel scaling (the factor on the Silverman covariance, `KERNEL_SCALING`).
The defensive-prior and logit-coordinate kernels of docs/CALIBRATION.md were measured with
earlier versions of this script and then dropped from the code.
Prints, per variant and seed, each generation's temperature, evaluations and ESS, and writes
out/calibration/kernel.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    import sim.analysis.abc as abcmod
    from sim.analysis.abc import run_abc, write_json
    from sim.analysis.targets import load_targets, quick_settings
    from sim.experiments.pool import Runner
    from sim.scenario import ROOT
    from sim.validation.figures import load_figures
    from tests.test_calibration_abc import _EdgeStandIn

    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--scalings", type=float, nargs="+", default=[1.0, 2.0, 3.0, 5.0])
    ap.add_argument("--particles", type=int, default=48)
    ap.add_argument("--out", default="out/calibration/kernel.json")
    a = ap.parse_args()
    abcmod.ParticleModel = _EdgeStandIn
    base, quick = load_targets(ROOT / "targets" / "guigang_2015.yaml", load_figures().masked())
    rows = []
    make = abcmod.make_transition
    for v in a.scalings:
        abcmod.make_transition = lambda _s=v: make(_s)
        for seed in a.seeds:
            t = base.model_copy(update={"seed": seed})
            s = quick_settings(t, quick).model_copy(update={"particles": a.particles, "generations": 4})
            with tempfile.TemporaryDirectory() as d, Runner(1) as r:
                res = run_abc(t, Path(d), s, r)
                gens = abcmod.generations_table(res["history"])
            rows.append({"variant": v, "seed": seed, "generations": gens,
                         "evaluations": sum(g["evaluations"] for g in gens), "final_ess": gens[-1]["ess"]})
            print(v, seed, "evaluations", rows[-1]["evaluations"], "ESS",
                  [round(g["ess"], 1) for g in gens], "T", [round(g["temperature"], 2) for g in gens], flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(Path(a.out), rows)


if __name__ == "__main__":
    main()
