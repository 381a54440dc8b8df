"""`gridsim` command line.  Bad input → one line on stderr, exit code 2, nothing written.

Start-up is cheap: `gridsim --help` and `gridsim --version` import neither Mesa nor numpy.
Each command's arguments are declared in the module that runs it (`COMMANDS`), and only the
named command's module is imported; the others appear in the top-level help by name and
one line (`tests/test_cli_startup.py` holds these lines to the modules' own).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__

#: command → (module declaring it with `add_commands(sub)`, its one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("sim.cli.run", "run one scenario; write summary, series, event logs and plots"),
    "app": ("sim.cli.app", "the interactive view in the browser (Mesa's SolaraViz): map, levers, live charts"),
    "sweep": ("sim.cli.experiments", "run an experiment (factorial, lhs or sobol design) into a resumable store"),
    "export": ("sim.cli.experiments", "one row per run of a sweep as CSV or Parquet"),
    "plot": ("sim.cli.experiments", "outcome curves, heatmaps and the grid-size threshold of a sweep → DIR/plots/"),
    "calibrate": ("sim.cli.calibrate",
                  "fit assumed parameters to reported figures: ABC-SMC posterior (targets file) or point fit (overlay)"),
    "validate": ("sim.validation.cli",
                 "validation report: Guigang held out, the cities, Sobol sensitivity, mechanism checks"),
    "bench": ("sim.cli.run", "speed against Mesa (Schelling; the daily resident update as plain Mesa agents) "
                             "and scaling with residents"),
    "outcomes": ("sim.cli.run",
                 "the outcome catalogue: every outcome's name, label, unit, better direction, meaning"),
}


def build_parser(command: str | None = None, *, full: bool = False) -> argparse.ArgumentParser:
    """The parser: `command`'s module (every module with `full`) declares its commands in full,
    every other command is its name and help line."""
    ap = argparse.ArgumentParser(prog="gridsim", description="Grid-based social governance simulation (网格化管理) on Mesa.")
    ap.add_argument("--version", action="version", version=f"gridsim {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = sorted({m for m, _ in COMMANDS.values()}) if full else [COMMANDS[command][0]] if command in COMMANDS else []
    for module in modules:
        importlib.import_module(module).add_commands(sub)
    for name, (_, text) in COMMANDS.items():
        if name not in sub.choices:
            sub.add_parser(name, help=text)
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)       # --help, --version and usage errors end here
    from ..scenario import ScenarioError

    try:
        return args.func(args)
    except ScenarioError as exc:
        print(f"gridsim: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gridsim: interrupted; nothing written for the unfinished run", file=sys.stderr)
        return 130
