"""`gridsim calibrate TARGETS.yaml`: every check first, then the ABC-SMC fit and its outputs."""

from __future__ import annotations

import math
from pathlib import Path

from ..analysis.targets import load_targets, quick_settings
from ..execute import BYTES_PER_PROCESS, check_memory, check_seed, memory_estimate
from ..experiments.pool import Runner, dask_address
from ..run import check_out_path
from ..scenario import ScenarioError


def cmd_calibrate_targets(args) -> int:
    from ..validation.figures import load_figures

    check_seed(args.seed)
    if args.workers is not None and args.workers < 1:
        raise ScenarioError(f"--workers {args.workers}: must be at least 1")
    dask = dask_address(args.dask) if args.dask is not None else None
    figures = load_figures()
    targets, quick_raw = load_targets(args.scenario, figures.masked())
    if args.seed is not None:
        targets = targets.model_copy(update={"seed": int(args.seed)})
    settings = quick_settings(targets, quick_raw) if args.quick else targets.settings
    out = Path(args.out) if args.out is not None else Path("out") / "calibration" / Path(args.scenario).stem
    check_out_path(out, kind="directory")
    from ..analysis.abc import check_state, digests, fit_scenario

    cfg = {"particles": settings.particles, "generations": settings.generations, "replicates": settings.replicates,
           "acceptance": settings.acceptance, "scale": targets.scale, "seed": targets.seed}
    check_state(out, digests(targets, cfg))          # a directory of another fit: refused before any run
    run = fit_scenario(targets)
    runner = Runner(args.workers, dask)
    side = runner.workers
    check_memory(side * (memory_estimate(run) + (BYTES_PER_PROCESS if side > 1 else 0)),
                 f"{args.scenario}: calibration ({side} runs at a time of {run.residents:,} residents × "
                 f"{run.total_days:,} days)", "lower scale: in the targets file, or --workers")
    if settings.predictive_scale:
        from ..analysis.calibration_out import trajectory_scenario

        traj = trajectory_scenario(targets, settings.predictive_scale)
        check_memory(side * (memory_estimate(traj) + (BYTES_PER_PROCESS if side > 1 else 0)),
                     f"{args.scenario}: predictive check ({side} runs at a time of {traj.residents:,} residents × "
                     f"{traj.total_days:,} days)", "lower settings.predictive_scale, or --workers")
    say = (lambda s: None) if args.quiet else (lambda s: print(s, flush=True))
    if args.quiet:
        import logging

        logging.getLogger("ABC").setLevel(logging.WARNING)
    from ..analysis.calibration_out import calibrate_targets, leave_one_out

    with runner:
        rec = calibrate_targets(targets, out, settings, runner, figures, quick=args.quick, say=say)
        if args.loo:
            loo = leave_one_out(targets, out, targets.loo or quick_settings(targets, quick_raw), runner, say=say)
    print(f"{targets.name}: {len(rec['generations'])} generations, {rec['evaluations']:,} evaluations × "
          f"{rec['replicates']} replicate(s), {rec['seconds']:.0f} s of fitting → {out}")
    for r in rec["posterior_summary"]:
        print(f"  {r['parameter']:<34} prior {r['prior'][0]:.4g}–{r['prior'][1]:.4g}  posterior median {r['median']:.4g}"
              f"  90 % {r['ci90'][0]:.4g}–{r['ci90'][1]:.4g}")
    import json

    p = json.loads((out / "predictive.json").read_text(encoding="utf-8"))
    for tid, r in p["targets"].items():
        rep = r["reported"]
        rep_t = f"{rep[0]:.4g}–{rep[1]:.4g}" if isinstance(rep, list) else f"{rep:.4g}"
        flag = "fitted" if r["fitted"] else "HELD OUT"
        ok = "inside" if r["inside"] else "OUTSIDE"
        pr = r["predicted"]
        print(f"  {flag:<8} {tid:<34} predicted {pr:.4g} (95 % {r['interval'][0]:.4g}–{r['interval'][1]:.4g}) "
              f"vs reported {rep_t}: {ok}" if math.isfinite(pr) else f"  {flag:<8} {tid}: no finite prediction")
    if args.loo:
        for tid, r in loo.items():
            print(f"  left out {tid:<30} predicted {r['predicted']:.4g} (95 % {r['interval'][0]:.4g}–"
                  f"{r['interval'][1]:.4g}): {'inside' if r['inside'] else 'OUTSIDE'}")
    return 0
