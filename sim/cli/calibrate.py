"""`gridsim calibrate`: ABC-SMC on a targets file (sim.analysis.abc), or the old point fit.

`gridsim calibrate TARGETS.yaml [--quick] [--out DIR] [--workers N | --dask ADDR] [--seed S] [--loo] [--quiet]`
fits a posterior (docs/CALIBRATION.md).  `gridsim calibrate SCENARIO.yaml --target KEY=VALUE …`
is the earlier point fit with scipy (a scenario overlay): the file is told apart by `--target`.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from ..analysis.calibration import calibrate, parse_bounds, parse_kv_floats, write_overlay
from ..execute import BYTES_PER_PROCESS, check_memory, check_seed, memory_estimate
from ..experiments.pool import Runner
from ..run import check_out_path
from ..scenario import Scenario, ScenarioError, load_scenario, parse_set


def default_scale(scenario: Scenario) -> float:
    """About 100,000 residents: share outcomes do not depend on the town's size beyond noise."""
    return float(min(scenario.scale, max(1e-4, 1e5 / scenario.population)))


def cmd_calibrate(args) -> int:
    if not args.target:
        if args.set or args.fit or args.target_se or args.bounds or args.days is not None or args.scale is not None \
                or args.replicates is not None or args.force or args.no_uncertainty:
            raise ScenarioError("--set, --fit, --target-se, --bounds, --days, --scale, --replicates, --force and "
                                "--no-uncertainty belong to the point fit (SCENARIO.yaml --target KEY=VALUE); "
                                "a targets file says them itself")
        from .calibrate_abc import cmd_calibrate_targets

        return cmd_calibrate_targets(args)
    if args.quick or args.loo or args.dask:
        raise ScenarioError("--quick, --loo and --dask belong to the ABC fit of a targets file, not to --target")
    args.replicates = 4 if args.replicates is None else args.replicates
    overrides = parse_set(args.set)
    scenario = load_scenario(args.scenario, overrides)
    targets = parse_kv_floats(args.target, "--target")
    se = parse_kv_floats(args.target_se, "--target-se")
    bounds = parse_bounds(args.bounds)
    scale = args.scale if args.scale is not None else default_scale(scenario)
    if not 0 < scale <= 1:
        raise ScenarioError(f"--scale {scale}: must be in (0, 1]")
    if args.days is not None and args.days < 1:
        raise ScenarioError(f"--days {args.days}: must be at least 1")
    args.seed = 1000 if args.seed is None else args.seed
    check_seed(args.seed)
    if args.replicates < 1:
        raise ScenarioError(f"--replicates {args.replicates}: must be at least 1")
    if args.workers is not None and args.workers < 1:
        raise ScenarioError(f"--workers {args.workers}: must be at least 1")
    out = Path(args.out) if args.out is not None else Path("out") / "calibration" / f"{Path(args.scenario).stem}.calibrated.yaml"
    check_out_path(args.out if args.out is not None else out, kind="file")
    if out.exists() and out.is_dir():
        raise ScenarioError(f"--out {out}: is a directory; give the overlay's file name")
    say = None if args.quiet else (lambda s: print(s, flush=True))
    runner = Runner(args.workers)
    # each evaluation runs its replicates side by side, one per worker process
    run = scenario.with_overrides({"scale": scale, **({"days": args.days} if args.days is not None else {})}, "command line")
    side_by_side = min(runner.workers, args.replicates)
    check_memory(side_by_side * (memory_estimate(run) + (BYTES_PER_PROCESS if side_by_side > 1 else 0)),
                 f"{args.scenario}: calibration ({side_by_side} runs at a time of {run.residents:,} residents × "
                 f"{run.total_days:,} days)", "lower --scale, --days or --workers")
    with runner:
        cal = calibrate(scenario, targets, args.fit, replicates=args.replicates, seed=args.seed, days=args.days,
                        scale=scale, target_se=se, bounds=bounds, force=args.force, runner=runner,
                        uncertainty=not args.no_uncertainty, progress=say)
    cal.scenario_path = str(args.scenario)
    cal.base_overrides = overrides
    write_overlay(cal, out, args.scenario, name=f"{scenario.name}-calibrated")
    print(f"{scenario.name}: {cal.method}, {cal.evaluations} evaluations × {len(cal.seeds)} replicates, "
          f"{cal.seconds:.1f} s → {out}")
    for k, v in cal.fitted.items():
        se_txt = f" ± {cal.param_se[k]:.3g}" if k in cal.param_se else ""
        print(f"  {k:<40} {cal.start[k]:.5g} → {v:.5g}{se_txt}   (bounds {cal.bounds[k][0]:.4g}–{cal.bounds[k][1]:.4g})")
    for t in cal.targets:
        sd = f"{t['model_sd']:.2g}" if math.isfinite(t["model_sd"]) else "n/a"
        print(f"  {t['key']:<40} model {t['model_mean']:.5g} (replicate sd {sd}) vs target {t['value']:.5g} "
              f"± {t['se']:.2g}: {t['z']:+.2f} se")
    if not cal.success:
        print(f"gridsim: warning: the optimiser did not report success: {cal.message}", file=sys.stderr)
    return 0


def add_commands(sub) -> None:
    """Add `gridsim calibrate` to the `gridsim` subparsers."""
    c = sub.add_parser("calibrate",
                       help="fit assumed parameters to reported figures: ABC-SMC posterior (targets file) or point fit (overlay)",
                       description="TARGETS.yaml: a posterior over the assumed parameters the file names, by ABC-SMC "
                                   "(pyabc) with common random numbers, resumable, with diagnostics and a "
                                   "posterior-predictive check of every target, held-out ones included "
                                   "(docs/CALIBRATION.md). SCENARIO.yaml --target KEY=VALUE: the older point fit with "
                                   "scipy.optimize, writing a scenario overlay (extends: SCENARIO) with provenance.")
    c.add_argument("scenario", metavar="TARGETS|SCENARIO", help="targets YAML (ABC), or scenario YAML with --target (point fit)")
    c.add_argument("--target", nargs="+", action="extend", metavar="KEY=VALUE",
                   help="point fit: outcome key = reported value (a trailing %% divides by 100), e.g. survey_expected_share_safe=85.62%%")
    c.add_argument("--quick", action="store_true", help="ABC: the file's quick: sizes (fewer particles, generations, replicates)")
    c.add_argument("--loo", action="store_true", help="ABC: also refit without each fitted target in turn (quick size) and predict it")
    c.add_argument("--dask", metavar="ADDR", help="ABC: run particles on Dask (local, tcp://HOST:PORT)")
    c.add_argument("--fit", nargs="+", action="extend", metavar="PARAM",
                   help="assumed parameters to fit (default: perception.safety_mean for safety shares, "
                        "staffing.routine_hours_per_1000 for resolution times)")
    c.add_argument("--target-se", nargs="+", action="extend", default=[], metavar="KEY=SE",
                   help="standard error of a target (default: binomial with perception.survey_n for survey shares, else 10%%)")
    c.add_argument("--bounds", nargs="+", action="extend", default=[], metavar="KEY=LO,HI", help="search range of a parameter")
    c.add_argument("--replicates", type=int, default=None, help="point fit: runs per evaluation, same seeds at every evaluation (default 4)")
    c.add_argument("--seed", type=int, default=None, help="experiment seed; replicate r runs with sim.execute.replicate_seed(SEED, r) (default: the targets file's; 1000 for the point fit)")
    c.add_argument("--days", type=int, help="days per run (default: the scenario's)")
    c.add_argument("--scale", type=float, help="fraction of the town per run (default: about 100,000 residents)")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a parameter of the scenario")
    c.add_argument("--workers", type=int, default=None, help="processes (default: 2, or 1 on a single core)")
    c.add_argument("--force", action="store_true", help="allow fitting documented parameters, or more parameters than targets")
    c.add_argument("--no-uncertainty", action="store_true", help="skip the Jacobian (2 evaluations per parameter)")
    c.add_argument("--out", help="ABC: results directory (default out/calibration/<targets stem>/); point fit: overlay file "
                                 "(default out/calibration/<scenario>.calibrated.yaml)")
    c.add_argument("--quiet", action="store_true", help="no progress lines")
    c.set_defaults(func=cmd_calibrate)
