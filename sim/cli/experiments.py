"""`gridsim sweep | export | plot`: the experiment commands, added to `gridsim` by `add_commands`.

Errors are `ExperimentError` (a `ScenarioError`), which `gridsim` prints as one line on
stderr with exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..experiments.design import ExperimentError

EXPORT_FORMATS = ("csv", "parquet")


def cmd_sweep(args) -> int:
    from ..experiments.design import load_experiment
    from ..experiments.runner import run_sweep

    exp = load_experiment(args.experiment, days=args.days, scale=args.scale)
    out = Path(args.out) if args.out else Path("out") / "sweeps" / exp.name
    rep = run_sweep(exp, out, workers=args.workers, dask=args.dask, progress=not args.quiet,
                    retry_failed=args.retry_failed, replace=args.replace)
    ran = rep.done + rep.failed
    print(f"{exp.name}: {rep.total} runs ({len(exp.points)} points × {exp.spec.replicates} replicates); "
          f"{ran} run now in {rep.seconds:.1f} s, {rep.skipped} already stored, {rep.failed} failed → {out}/")
    if rep.failed:
        print(f"gridsim: warning: {rep.failed} runs failed (stored with their error); first: {rep.first_error}",
              file=sys.stderr)
    return 0


def cmd_export(args) -> int:
    from ..experiments.store import Store

    with Store.open(args.dir) as store:
        df = store.frame()
    output = Path(args.output) if args.output else Path(args.dir) / f"runs.{args.format}"
    if output.is_dir():
        raise ExperimentError(f"--output {output}: is a directory")
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    if args.format == "csv":
        df.to_csv(tmp, index=False)
    else:
        df.to_parquet(tmp, index=False)
    tmp.replace(output)
    print(f"{len(df)} runs ({(df['status'] == 'done').sum() if len(df) else 0} done) → {output}")
    return 0


def cmd_plot(args) -> int:
    from ..analysis.curves import RUNAWAY_OUTCOMES, plot_store

    if not 0 < args.confidence < 1:
        raise ExperimentError(f"--confidence {args.confidence}: must be between 0 and 1")
    if args.bins < 1:
        raise ExperimentError(f"--bins {args.bins}: must be at least 1")
    written = plot_store(args.dir, threshold_axis=args.threshold_axis, elasticity=args.elasticity,
                         confidence=args.confidence, bins=args.bins,
                         runaway_outcomes=tuple(args.runaway) if args.runaway else RUNAWAY_OUTCOMES)
    print(f"{len(written)} figures → {Path(args.dir) / 'plots'}/")
    return 0


def add_commands(sub) -> None:
    """Add `sweep`, `export` and `plot` to gridsim's subcommands."""
    from ..analysis.curves import DEFAULT_BINS, DEFAULT_CONFIDENCE, DEFAULT_ELASTICITY, THRESHOLD_AXIS

    s = sub.add_parser("sweep", help="run an experiment (factorial, lhs or sobol design) into a resumable store")
    s.add_argument("experiment", help="experiment YAML, e.g. experiments/grid_size.yaml")
    s.add_argument("--out", help="sweep directory (default out/sweeps/<experiment name>)")
    s.add_argument("--workers", type=int, help="worker processes (default: the number of CPUs)")
    s.add_argument("--days", type=int, help="days per run (replaces the experiment's)")
    s.add_argument("--scale", type=float, help="fraction of the town to simulate (replaces the experiment's)")
    s.add_argument("--dask", metavar="ADDRESS|local", help="run on Dask: 'local' starts a LocalCluster, "
                                                            "tcp://host:8786 connects to a running scheduler")
    s.add_argument("--retry-failed", action="store_true", help="run failed runs again when resuming")
    s.add_argument("--replace", action="store_true",
                   help="if DIR holds another experiment or runs of other model code, move it to DIR.prev and start afresh")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_sweep)

    e = sub.add_parser("export", help="one row per run of a sweep as CSV or Parquet")
    e.add_argument("dir", help="sweep directory")
    e.add_argument("--format", choices=EXPORT_FORMATS, default="csv")
    e.add_argument("--output", help="file to write (default DIR/runs.<format>)")
    e.set_defaults(func=cmd_export)

    p = sub.add_parser("plot", help="outcome curves, heatmaps and the grid-size threshold of a sweep → DIR/plots/")
    p.add_argument("dir", help="sweep directory")
    p.add_argument("--threshold-axis", default=THRESHOLD_AXIS, help=f"axis whose runaway point is sought (default {THRESHOLD_AXIS})")
    p.add_argument("--elasticity", type=float, default=DEFAULT_ELASTICITY,
                   help="runaway when an outcome's log-log slope against the axis reaches this "
                        f"(and intervals separate; default {DEFAULT_ELASTICITY:g})")
    p.add_argument("--runaway", action="append", metavar="OUTCOME",
                   help="outcome to test for runaway (repeatable; default the resolution times and backlogs)")
    p.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE, help="interval level (default 0.95)")
    p.add_argument("--bins", type=int, default=DEFAULT_BINS, help=f"bins along an lhs/sobol axis (default {DEFAULT_BINS})")
    p.set_defaults(func=cmd_plot)
