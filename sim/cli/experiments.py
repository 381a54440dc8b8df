"""`gridsim sweep | export | plot`: the experiment commands, added to `gridsim` by `add_commands`.

Errors are `ExperimentError` (a `ScenarioError`), which `gridsim` prints as one line on
stderr with exit code 2.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from ..experiments.design import ExperimentError

EXPORT_FORMATS = ("csv", "parquet")


def cmd_sweep(args) -> int:
    from ..experiments.design import load_experiment
    from ..experiments.runner import run_sweep

    if args.dask is not None:
        import importlib.util

        if importlib.util.find_spec("distributed") is None:
            raise ExperimentError("--dask: needs the dask extra (pip install -e '.[dask]'): dask.distributed is not installed")
    exp = load_experiment(args.experiment, days=args.days, scale=args.scale, replicates=args.replicates)
    if args.posterior is not None:       # replicate r of every point: posterior draw θ_r and seed r
        from ..experiments.posterior import attach, load_posterior

        attach(exp, load_posterior(args.posterior))
    out = args.out if args.out is not None else Path("out") / "sweeps" / exp.name   # as given: run_sweep checks it
    rep = run_sweep(exp, out, workers=args.workers, dask=args.dask, progress=not args.quiet,
                    retry_failed=args.retry_failed, replace=args.replace)
    ran = rep.done + rep.failed
    drawn = f", parameters drawn from {args.posterior}" if args.posterior is not None else ""
    print(f"{exp.name}: {rep.total} runs ({len(exp.points)} points × {exp.spec.replicates} replicates{drawn}); "
          f"{ran} run now in {rep.seconds:.1f} s, {rep.skipped} already stored, {rep.failed} failed → {out}/")
    if rep.failed:
        print(f"gridsim: warning: {rep.failed} runs failed (stored with their error); first: {rep.first_error}",
              file=sys.stderr)
    return 0


def _read_store(directory, read):
    """`read(store)` on the sweep store in `directory`; a store damaged inside is one line too."""
    import sqlite3

    from ..experiments.store import Store

    try:
        with Store.open(directory) as store:
            return read(store)
    except sqlite3.Error as exc:
        raise ExperimentError(f"{Path(directory) / 'store.sqlite'}: cannot be read as a sweep store ({exc})") from None


def cmd_export(args) -> int:
    from ..run import atomic_file, check_out_path

    if args.daily:
        return _export_daily(args)
    output = Path(args.output) if args.output is not None else Path(args.dir) / f"runs.{args.format}"

    def read(store):      # the store is opened (and a bad one refused) before --output is checked
        check_out_path(args.output if args.output is not None else output, "--output", kind="file")
        return store.frame()

    df = _read_store(args.dir, read)
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(output) as tmp:      # unique temporary name: concurrent exports never share one
        if args.format == "csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)
    print(f"{len(df)} runs ({(df['status'] == 'done').sum() if len(df) else 0} done) → {output}")
    return 0


def _export_daily(args) -> int:
    """`export --daily`: the stored daily series in long form (`store.daily_long`), written a
    batch of runs at a time into one temporary file, renamed into place when complete."""
    from ..experiments.store import daily_long
    from ..run import atomic_file, check_out_path

    output = Path(args.output) if args.output is not None else Path(args.dir) / f"daily.{args.format}"

    def write(store):
        check_out_path(output, "--output", kind="file")
        output.parent.mkdir(parents=True, exist_ok=True)
        rows = runs = 0
        with atomic_file(output) as tmp:
            parquet = None           # pyarrow's ParquetWriter, opened with the first batch's schema
            try:
                for frame in daily_long(store):
                    if args.format == "csv":
                        frame.to_csv(tmp, mode="a", header=rows == 0, index=False)
                    else:
                        import pyarrow as pa
                        import pyarrow.parquet as pq

                        table = pa.Table.from_pandas(frame, preserve_index=False)
                        parquet = parquet or pq.ParquetWriter(tmp, table.schema)
                        parquet.write_table(table.cast(parquet.schema))
                    rows, runs = rows + len(frame), runs + frame["run_id"].nunique()
                if rows == 0:                # no run with series: an empty table with the columns
                    empty = _empty_daily(store)
                    empty.to_csv(tmp, index=False) if args.format == "csv" else empty.to_parquet(tmp, index=False)
            finally:
                if parquet is not None:
                    parquet.close()
        return rows, runs

    rows, runs = _read_store(args.dir, write)
    print(f"{rows:,} rows (daily series of {runs} runs, long form) → {output}")
    return 0


def _empty_daily(store):
    import pandas as pd

    axes = [f"axis.{k}" for k in store.meta().get("axes", [])]
    return pd.DataFrame(columns=["run_id", "point", "replicate", "seed", *axes, "day", "series", "value"])


def cmd_plot(args) -> int:
    from ..analysis.curves import RUNAWAY_OUTCOMES, THRESHOLD_AXIS, plot_store
    from ..run import check_out_path

    if not 0 < args.confidence < 1:
        raise ExperimentError(f"--confidence {args.confidence}: must be between 0 and 1")
    if args.bins < 1:
        raise ExperimentError(f"--bins {args.bins}: must be at least 1")
    if not (math.isfinite(args.elasticity) and args.elasticity > 0):
        raise ExperimentError(f"--elasticity {args.elasticity}: must be a finite number above 0 (a log-log slope)")
    axes = _read_store(args.dir, lambda store: store.meta().get("axes", []))
    if args.threshold_axis is not None and args.threshold_axis not in axes:
        raise ExperimentError(f"--threshold-axis {args.threshold_axis!r}: not an axis of the sweep in {args.dir} "
                              f"(its axes: {', '.join(axes) or 'none'})")
    check_out_path(Path(args.dir) / "plots", "plots directory")
    written = plot_store(args.dir, threshold_axis=args.threshold_axis or THRESHOLD_AXIS, elasticity=args.elasticity,
                         confidence=args.confidence, bins=args.bins,
                         runaway_outcomes=tuple(args.runaway) if args.runaway else RUNAWAY_OUTCOMES)
    print(f"{len(written)} figures → {Path(args.dir) / 'plots'}/")
    return 0


def add_commands(sub) -> None:
    """Add `sweep`, `export` and `plot` to gridsim's subcommands."""
    from ..analysis.curves import DEFAULT_BINS, DEFAULT_CONFIDENCE, DEFAULT_ELASTICITY, THRESHOLD_AXIS

    s = sub.add_parser("sweep", help="run an experiment (factorial, lhs or sobol design) into a resumable store")
    s.add_argument("experiment", help="experiment YAML, e.g. experiments/grid_size.yaml")
    s.add_argument("--out", help="sweep directory (default out/sweeps/<experiment file stem>, e.g. out/sweeps/grid_size "
                                 "for experiments/grid_size.yaml)")
    s.add_argument("--workers", type=int, help="worker processes (default: the number of CPUs)")
    s.add_argument("--days", type=int, help="days per run (replaces the experiment's)")
    s.add_argument("--scale", type=float, help="fraction of the town to simulate (replaces the experiment's)")
    s.add_argument("--replicates", type=int, metavar="N",
                   help="runs per design point (replaces the experiment's; a store of another count is another experiment)")
    s.add_argument("--dask", metavar="ADDRESS|local", help="run on Dask: 'local' starts a LocalCluster, "
                                                            "tcp://host:8786 connects to a running scheduler")
    s.add_argument("--posterior", metavar="DIR",
                   help="a calibration's posterior (DIR/posterior.parquet, DIR/calibration.json): replicate r of every "
                        "design point runs with posterior draw r and seed r")
    s.add_argument("--retry-failed", action="store_true", help="run failed runs again when resuming")
    s.add_argument("--replace", action="store_true",
                   help="if DIR holds another experiment or runs of other model code, move it to DIR.prev and start afresh")
    s.add_argument("--quiet", action="store_true",
                   help="no progress (otherwise a bar on a terminal, a line per run or per few runs in a log)")
    s.set_defaults(func=cmd_sweep)

    e = sub.add_parser("export", help="one row per run of a sweep as CSV or Parquet")
    e.add_argument("dir", help="sweep directory")
    e.add_argument("--format", choices=EXPORT_FORMATS, default="csv")
    e.add_argument("--daily", action="store_true",
                   help="the runs' daily series in long form instead: run_id, point, replicate, seed, axis.<key>, day "
                        "(date with a calendar), series, value")
    e.add_argument("--output", help="file to write (default DIR/runs.<format>, with --daily DIR/daily.<format>)")
    e.set_defaults(func=cmd_export)

    p = sub.add_parser("plot", help="outcome curves, heatmaps and the grid-size threshold of a sweep → DIR/plots/")
    p.add_argument("dir", help="sweep directory")
    p.add_argument("--threshold-axis", help=f"axis whose runaway point is sought, one of the sweep's axes (default {THRESHOLD_AXIS})")
    p.add_argument("--elasticity", type=float, default=DEFAULT_ELASTICITY,
                   help="runaway when an outcome's log-log slope against the axis reaches this "
                        f"(and intervals separate; default {DEFAULT_ELASTICITY:g})")
    p.add_argument("--runaway", action="append", metavar="OUTCOME",
                   help="outcome to test for runaway (repeatable; default the resolution times and backlogs)")
    p.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE, help="interval level (default 0.95)")
    p.add_argument("--bins", type=int, default=DEFAULT_BINS, help=f"bins along an lhs/sobol axis (default {DEFAULT_BINS})")
    p.set_defaults(func=cmd_plot)
