"""`gridsim run | bench | outcomes`: one scenario's run, the benchmark, the outcome catalogue."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..scenario import load_scenario, parse_set


def outcome_table(summary: dict) -> str:
    """The headline outcomes of a run, labelled from the outcome catalogue."""
    from ..catalogue import HEADLINE, OUTCOMES

    rows = []
    for key in HEADLINE:
        o = OUTCOMES[key]
        unit = "" if o.is_share or o.unit in ("residents", "grids") else f" ({o.unit})"
        rows.append(f"  {o.label + unit:<58} {o.format(summary.get(key))}")
    return "\n".join(rows)


def cmd_outcomes(args) -> int:
    from ..catalogue import table

    print(table("series" if args.series else "outcomes"))
    return 0


def default_out(path: str) -> Path:
    """out/<file stem>: by file, not by the scenario's `name`, which files that leave it out (or
    inherit it through `extends:`) share, and which would then overwrite each other's results."""
    return Path("out") / Path(path).stem


def cmd_run(args) -> int:
    from ..execute import check_memory, check_seed, memory_estimate
    from ..run import check_out_path, run_scenario
    from ..warmup import describe, is_default

    t0 = time.perf_counter()
    overrides = parse_set(args.set)
    scenario = load_scenario(args.scenario, overrides)          # all validation before anything runs
    if args.days is not None or args.scale is not None:
        scenario = scenario.with_overrides({k: v for k, v in (("days", args.days), ("scale", args.scale)) if v is not None},
                                           "command line")
    check_seed(args.seed)
    out = check_out_path(args.out if args.out is not None else default_out(args.scenario))
    check_memory(memory_estimate(scenario, outputs=True),
                 f"{args.scenario}: the run ({scenario.residents:,} residents × {scenario.total_days:,} days)",
                 "lower --scale or --days")
    default = is_default(scenario)
    if default:      # warm by default, and said so (to stderr: the table on stdout stays the results)
        print(f"gridsim: note: {args.scenario} sets no warmup_days: simulating the default {scenario.warmup_days}-day "
              "warm-up before the observed period", file=sys.stderr)
    summary = run_scenario(scenario, out, seed=args.seed, progress=not args.quiet)
    print(outcome_table(summary))
    if (drifting := describe(summary["warmup"])) is not None:
        print(f"gridsim: warning: {drifting}", file=sys.stderr)
    wall = time.perf_counter() - t0
    print(f"{scenario.name}: {summary['days']} days observed after a {scenario.warmup_days}-day"
          f"{' (default)' if default else ''} warm-up{' (drift flagged)' if summary['warmup']['flag'] else ''}, seed "
          f"{summary['seed']}: {wall:.1f} s wall ({summary['wall_seconds']:.1f} s building and running the model, "
          f"the rest writing outputs and plots) → {out}/")
    return 0


def cmd_bench(args) -> int:
    from ..bench import run_bench

    json_path = Path(args.json) if args.json else None
    plot_path = Path(args.plot) if args.plot else (json_path.with_suffix(".png") if json_path else None)
    run_bench(quick=args.quick, json_path=json_path, plot_path=plot_path)
    return 0


def add_commands(sub) -> None:
    """Add `run`, `bench` and `outcomes` to gridsim's subcommands."""
    r = sub.add_parser("run", help="run one scenario; write summary, series, event logs and plots")
    r.add_argument("scenario", help="scenario YAML, e.g. scenarios/default.yaml")
    r.add_argument("--out", help="output directory (default out/<file stem>, e.g. out/laibin for scenarios/laibin.yaml)")
    r.add_argument("--seed", type=int, help="seed (default: the scenario's)")
    r.add_argument("--days", type=int, help="days to simulate (default: the scenario's)")
    r.add_argument("--scale", type=float, help="fraction of the town to simulate, same densities (0 < F ≤ 1)")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a parameter by dotted key")
    r.add_argument("--quiet", action="store_true",
                   help="no progress (otherwise a bar on a terminal, a line per tenth of the days in a log)")
    r.set_defaults(func=cmd_run)

    b = sub.add_parser("bench", help="speed against Mesa (Schelling; the daily resident update as plain Mesa agents) "
                                     "and scaling with residents")
    b.add_argument("--quick", action="store_true", help="small sizes and 60 days (under a minute)")
    b.add_argument("--json", help="write the results as JSON here")
    b.add_argument("--plot", help="plot: seconds against residents (log-log) and the measured rates (default: next to --json)")
    b.set_defaults(func=cmd_bench)

    o = sub.add_parser("outcomes", help="the outcome catalogue: every outcome's name, label, unit, better direction, meaning")
    o.add_argument("--series", action="store_true", help="the daily series (daily.csv) instead of the run's outcomes")
    o.set_defaults(func=cmd_outcomes)
