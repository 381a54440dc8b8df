"""Hostile input, one reproduction per kind: every one is refused with exit code 2, one
line on stderr naming the file and the key, nothing written, in well under a second.

The kinds (a hostile user's report): YAML alias bombs (in a scenario, in its description,
in an experiment's axis values, through `--set`), nesting too deep for PyYAML's recursion
(100,000 `[`, 3,000 mappings), a device that reads forever (`/dev/zero`) or a pipe,
duplicate keys, a bool where a number belongs (and the reverse), a directory as
`extends:`, keys that are not strings, a per-severity triple of the wrong length, and an
error in an `extends:` parent (named as the parent).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from sim.cli import main

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "scenarios" / "default.yaml"
SMALL = ["--days", "2", "--scale", "0.01", "--quiet"]
#: generous against a loaded CI machine; typical times are a few milliseconds
BOUND_SECONDS = 2.0


def _bomb(indent: str = "") -> str:
    """Nine levels of nine aliases: 9⁹ ≈ 387 million values once expanded."""
    lines = [f"{indent}a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"{indent}a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


def _inline_bomb() -> str:
    """The same bomb as one flow list (its anchors defined inside the value)."""
    return "[&a0 [x, x, x, x, x, x, x, x, x], " + ", ".join(
        f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)) + "]"


def _mapping_bomb() -> str:
    """Mappings of aliased mappings: the loader's walk of `{value:, source:}` leaves expands them."""
    lines = ["  x0: &m0 {a: 1, b: 1, c: 1, d: 1, e: 1, f: 1, g: 1, h: 1, i: 1}"]
    lines += [f"  x{i}: &m{i} {{" + ", ".join(f"k{j}: *m{i - 1}" for j in range(9)) + "}" for i in range(1, 9)]
    return "staffing:\n" + "\n".join(lines) + "\n"


def _experiment(axes: str, extra: str = "") -> str:
    return f"scenario: {DEFAULT}\nseed: 1\ndays: 2\nscale: 0.01\n{extra}axes:\n  {axes}\n"


# id → (command, file text (None: the path is given as is), extra args, texts the line must hold)
# "{file}" in a text stands for the path of the file under test.
CASES: dict[str, tuple] = {
    # ---- hangs
    "alias_bomb_scenario": ("run", _bomb(), [], ["{file}", "key 'a4[1]'", "YAML aliases expand to more than 20,000 values"]),
    "alias_bomb_description": ("run", "description: " + _inline_bomb() + "\n", [],
                               ["{file}", "key 'description[4][1]'", "YAML aliases expand to more than"]),
    "alias_bomb_mappings": ("run", _mapping_bomb(), [], ["{file}", "key 'staffing.x4.k0'", "YAML aliases expand"]),
    "alias_bomb_experiment_axis": ("sweep", _experiment("fulltime_ratio: " + _inline_bomb()), [],
                                   ["{file}", "key 'axes.fulltime_ratio[4][1]'", "YAML aliases expand to more than"]),
    "alias_bomb_set": ("run", "name: ok\n", ["--set", "description=" + _inline_bomb()],
                       ["--set 'description': key 'description[4][1]'", "YAML aliases expand to more than"]),
    "alias_cycle": ("run", "description: &a [*a]\n", [], ["{file}", "key 'description[0]'", "a cycle"]),
    # ---- tracebacks
    "deep_flow_lists": ("run", "population: " + "[" * 100_000 + "\n", [], ["{file}", "key 'population", "nested deeper than 32 levels"]),
    "deep_flow_mappings": ("run", "population: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", [],
                           ["{file}", "key 'population.a.a", "nested deeper than 32 levels"]),
    "deep_block_mappings": ("run", "".join(" " * i + "a:\n" for i in range(1000)), [],
                            ["{file}", "key 'a.a.a", "nested deeper than 32 levels"]),
    "dev_zero": ("run", None, [], ["/dev/zero", "not a regular file"]),
    "fifo": ("run", "fifo", [], ["{file}", "not a regular file"]),
    "over_1_mb": ("run", "# " + "x" * 1_100_000 + "\n", [], ["{file}", "larger than 1 MB"]),
    "too_many_values": ("run", "description: [" + ", ".join(["1"] * 30_000) + "]\n", [],
                        ["{file}", "key 'description[", "more than 20,000 values"]),
    "scenario_name_too_long": ("sweep", _experiment("fulltime_ratio: [0.1]").replace(str(DEFAULT), "a" * 5000), [],
                               ["{file}", "key 'scenario'", "not a usable file name"]),
    "integer_too_long": ("run", "population: " + "7" * 5000 + "\n", [], ["{file}", "key 'population'", "5000 digits"]),
    "impossible_date": ("run", "description: 2020-02-30\n", [], ["{file}", "key 'description'", "day is out of range"]),
    # ---- accepted silently
    "duplicate_key": ("run", "population: 100\nname: x\npopulation: 200\n", [],
                      ["{file}", "duplicate key 'population' at lines 1 and 3"]),
    "duplicate_nested_key": ("run", "staffing:\n  workers_per_grid: 2\n  mediator_hours: 3\n  workers_per_grid: 4\n", [],
                             ["{file}", "duplicate key 'staffing.workers_per_grid' at lines 2 and 4"]),
    "set_given_twice": ("run", "name: ok\n", ["--set", "fulltime_ratio=0.4", "--set", "fulltime_ratio=0.5"],
                        ["--set 'fulltime_ratio'", "given twice"]),
    "duplicate_experiment_key": ("sweep", _experiment("fulltime_ratio: [0.1, 0.2]", "seed: 2\n"), [],
                                 ["{file}", "duplicate key 'seed' at lines 2 and 5"]),
    "bool_for_number": ("run", "population: true\n", [], ["{file}", "key 'population'", "expects a number, got true"]),
    "bool_for_number_set": ("run", "name: ok\n", ["--set", "staffing.workers_per_grid=yes"],
                            ["{file}", "key 'staffing.workers_per_grid'", "expects a number, got true"]),
    "bool_for_number_axis": ("sweep", _experiment("residents_per_grid: [300, true]"), [],
                             ["{file}", "axes.residents_per_grid[1]", "key 'residents_per_grid'", "expects a number, got true"]),
    "bool_in_triple": ("run", "ladder:\n  grid:\n    success: [0.5, true, 0.5]\n", [],
                       ["{file}", "key 'ladder.grid.success'", "got true as value 2"]),
    "number_for_bool": ("run", "disputes:\n  instant_discovery: 1\n", [],
                        ["{file}", "key 'disputes.instant_discovery'", "expects true or false, got 1"]),
    "bool_for_experiment_number": ("sweep", _experiment("fulltime_ratio: [0.1, 0.2]").replace("days: 2", "days: true"), [],
                                   ["{file}", "key 'days'", "expects a number, got true"]),
    # ---- misleading lines
    "directory_extends": ("run", "extends: sub\n", [], ["{file}", "key 'extends'", "is a directory"]),
    "integer_key": ("run", "3: 4\n", [], ["{file}", "key 3:", "keys must be strings"]),
    "bool_key": ("run", "staffing:\n  on: 3\n", [], ["{file}", "key True under 'staffing'", "keys must be strings"]),
    "triple_too_short": ("run", "ladder:\n  grid:\n    success: [0.5, 0.5]\n", [],
                         ["{file}", "key 'ladder.grid.success'", "expects 3 values (minor, moderate, serious), got 2"]),
    "triple_too_long": ("run", "disputes:\n  report_prob: [0.1, 0.2, 0.3, 0.4]\n", [],
                        ["{file}", "key 'disputes.report_prob'", "expects 3 values (minor, moderate, serious), got 4"]),
    "error_in_parent": ("run", "extends: parent.yaml\nname: child\n", [],
                        ["parent.yaml (extended by {file})", "key 'population'", "expects a number, got true"]),
}


def _prepare(case: str, tmp_path: Path) -> Path:
    command, text, extra, _ = CASES[case]
    if text is None:
        return Path("/dev/zero")
    path = tmp_path / f"{case}.yaml"
    if text == "fifo":
        os.mkfifo(path)
        return path
    path.write_text(text)
    if case == "directory_extends":
        (tmp_path / "sub").mkdir()
    if case == "error_in_parent":
        (tmp_path / "parent.yaml").write_text("population: true\n")
    return path


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input_is_one_line_exit_2_nothing_written_fast(case, tmp_path, capsys):
    command, _, extra, expected = CASES[case]
    path = _prepare(case, tmp_path)
    out = tmp_path / "out"
    before = sorted(p.name for p in tmp_path.iterdir())
    args = [command, str(path), "--out", str(out), *(SMALL if command == "run" else ["--quiet"]), *extra]
    t0 = time.perf_counter()
    rc = main(args)
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err and err.endswith("\n") and err.count("\n") == 1, err
    line = err.strip()
    assert line.startswith("gridsim: ") and len(line) < 300, line
    for text in expected:
        text = text.replace("{file}", str(path))
        assert text in line, f"{text!r} not in {line!r}"
    assert sorted(p.name for p in tmp_path.iterdir()) == before          # nothing written
    assert not out.exists()
    assert elapsed < BOUND_SECONDS, f"{case}: {elapsed:.2f} s"
