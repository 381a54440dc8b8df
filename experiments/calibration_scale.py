"""Scale invariance of the calibration targets: the fit scale against 10× larger, paired seeds.

    .venv/bin/python experiments/calibration_scale.py [--seeds 6] [--small 0.005] [--large 0.05]

Runs the fit period of targets/guigang_2015.yaml (2015, a year of warm-up before it) at both
scales with the same replicate seeds and the defaults of every parameter, and writes, per
target outcome, the mean at each scale, the paired difference and its standard error to
out/calibration/scale_invariance.json.  A difference within ~2 se is noise; a larger one is a
scale effect the fit inherits (docs/CALIBRATION.md, "Scale").
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np


def main() -> None:
    from sim.analysis.abc import fit_scenario, write_json
    from sim.analysis.targets import load_targets
    from sim.execute import replicate_seeds
    from sim.experiments.pool import Runner, RunSpec
    from sim.validation.figures import load_figures

    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", default="targets/guigang_2015.yaml")
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--small", type=float, default=0.005)
    ap.add_argument("--large", type=float, default=0.05)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="out/calibration/scale_invariance.json")
    a = ap.parse_args()
    t, _ = load_targets(a.targets, load_figures().masked())
    keys = tuple(dict.fromkeys(x.outcome for x in t.fitted))
    seeds = replicate_seeds(t.seed + 1, a.seeds)
    res = {}
    with Runner(a.workers) as r:
        for scale in (a.small, a.large):
            sc = fit_scenario(t.model_copy(update={"scale": scale}))
            res[scale] = r.map([RunSpec(sc, s, (), keys + ("residents",)) for s in seeds])
    out = {"targets": a.targets, "period": t.fit_period, "seeds": seeds, "scales": [a.small, a.large],
           "residents": [res[a.small][0]["residents"], res[a.large][0]["residents"]], "outcomes": {}}
    for k in keys:
        ys = np.array([x[k] for x in res[a.small]], float)
        yl = np.array([x[k] for x in res[a.large]], float)
        d = yl - ys
        se = float(d.std(ddof=1) / math.sqrt(len(d)))
        out["outcomes"][k] = {"small_mean": float(ys.mean()), "small_sd": float(ys.std(ddof=1)),
                              "large_mean": float(yl.mean()), "large_sd": float(yl.std(ddof=1)),
                              "difference": float(d.mean()), "se": se, "z": float(d.mean() / se) if se > 0 else math.nan}
        print(f"{k:<36} {ys.mean():10.4g} ± {ys.std(ddof=1):.3g}   {yl.mean():10.4g} ± {yl.std(ddof=1):.3g}   "
              f"Δ {d.mean():+.4g} (se {se:.3g}, z {out['outcomes'][k]['z']:+.2f})")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(Path(a.out), out)


if __name__ == "__main__":
    main()
