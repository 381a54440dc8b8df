"""Recovery study of the ABC-SMC calibration: does the 90 % credible interval cover the truth?

    .venv/bin/python experiments/calibration_recovery.py [--problems 20] [--workers 2] [--out out/calibration/recovery.json]

Each problem draws true values of perception.safety_mean and perception.trust_mean from their
priors (its own seed), makes the targets (survey_expected_share_safe, trust_mean) by running the
model there with seeds the fit never uses (2 replicates), and fits them at --quick size (24
particles, at most 4 generations, 1 replicate) on the tiny district of tests/test_calibration_abc.py
(2,000 residents, 30 + 60 days), with observation sd 0.01 for both and a discrepancy sd equal to
the replicate noise the fit cannot see: the targets come from 2 other seeds, the fit's one seed is
fixed (common random numbers), so y_fit − y_target has sd σ_rep·√(1 + 1/2), σ_rep measured once
over 8 seeds at the prior's centre.  Writes the coverage rate
(true value inside the weighted 5–95 % interval, over problems × parameters) and every problem.
With an exact posterior the expected coverage is 90 %; the binomial se of a rate over 40
intervals is about 5 points.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    from sim.analysis.abc import run_abc, write_json
    from sim.analysis.calibration_out import posterior_frame
    from sim.analysis.calibration_plots import weighted_quantiles
    from sim.analysis.targets import parse_targets
    from sim.execute import replicate_seeds
    from sim.experiments.pool import Runner, RunSpec
    from sim.scenario import ROOT, load_scenario

    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=4242)
    ap.add_argument("--out", default="out/calibration/recovery.json")
    a = ap.parse_args()
    scen = str(ROOT / "scenarios" / "default.yaml")
    ov = {"scale": 0.02, "days": 60, "warmup_days": 30}
    prior = {"perception.safety_mean": (0.4, 0.8), "perception.trust_mean": (0.4, 0.8)}
    keys = ("survey_expected_share_safe", "trust_mean")
    rng = np.random.default_rng(a.seed)
    sc = load_scenario(scen, ov)
    problems, t0 = [], time.perf_counter()
    with Runner(a.workers) as runner:
        centre = tuple((k, (lo + hi) / 2) for k, (lo, hi) in prior.items())
        rep = runner.map([RunSpec(sc, s, centre, keys) for s in replicate_seeds(a.seed + 999, 8)])
        rep_sd = {k: float(np.std([r[k] for r in rep], ddof=1)) for k in keys}
        disc = {k: rep_sd[k] * math.sqrt(1 + 1 / 2) for k in keys}
        print("replicate sd at the prior centre:", rep_sd, flush=True)
        for i in range(a.problems):
            truth = {k: float(rng.uniform(*v)) for k, v in prior.items()}
            res = runner.map([RunSpec(sc, s, tuple(truth.items()), keys) for s in replicate_seeds(a.seed + 1000 + i, 2)])
            y = {k: float(np.mean([r[k] for r in res])) for k in keys}
            raw = {"name": f"recovery_{i}", "scenario": scen, "overrides": ov, "seed": a.seed + i,
                   "settings": {"particles": 24, "generations": 4, "replicates": 1, "predictive_draws": 10},
                   "targets": [{"id": k, "outcome": k, "value": y[k], "error": {"sd": 0.01}, "source": "synthetic",
                                "discrepancy_sd": disc[k]} for k in keys],
                   "parameters": {k: {"prior": list(v), "source": "recovery study"} for k, v in prior.items()}}
            t = parse_targets(raw, f"recovery_{i}.yaml", None, text=json.dumps(raw))
            with tempfile.TemporaryDirectory() as d:
                r = run_abc(t, Path(d), t.settings, runner)
                post = posterior_frame(r["history"], list(prior))
                gens = len(r["history"].get_all_populations().query("t >= 0"))
            rec = {"truth": truth, "targets": y, "generations": gens, "intervals": {}, "covered": {}}
            for k in prior:
                lo, med, hi = weighted_quantiles(post[k], post["weight"], (0.05, 0.5, 0.95))
                rec["intervals"][k] = [lo, med, hi]
                rec["covered"][k] = bool(lo <= truth[k] <= hi)
            problems.append(rec)
            print(f"problem {i}: " + ", ".join(f"{k.split('.')[-1]} {truth[k]:.3f} in [{rec['intervals'][k][0]:.3f}, "
                                              f"{rec['intervals'][k][2]:.3f}] {'✓' if rec['covered'][k] else '✗'}"
                                              for k in prior), flush=True)
    cov = [c for p in problems for c in p["covered"].values()]
    rate = float(np.mean(cov))
    out = {"problems": len(problems), "intervals": len(cov), "coverage_90": rate,
           "coverage_se": math.sqrt(0.9 * 0.1 / len(cov)), "all_covered_problems": int(sum(all(p["covered"].values()) for p in problems)),
           "seconds": time.perf_counter() - t0, "setup": {"scenario": scen, "overrides": ov, "prior": prior,
                                                          "particles": 24, "max_generations": 4, "replicates": 1,
                                                          "observation_sd": 0.01, "replicate_sd": rep_sd,
                                                          "discrepancy_sd": disc}, "details": problems}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(Path(a.out), out)
    print(f"coverage of the 90 % intervals: {rate:.0%} of {len(cov)} ({out['all_covered_problems']} of {len(problems)} "
          f"problems with both covered), {out['seconds']:.0f} s → {a.out}")


if __name__ == "__main__":
    main()
