"""The house: one outcome catalogue, layers that import only downward, no cycles, small files."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sim
from sim.catalogue import HEADLINE, KEY_OUTCOMES, OUTCOMES, SERIES, outcome
from sim.execute import execute

PKG = Path(sim.__file__).resolve().parent

#: lower number = lower layer; a module may import only from its own layer or below
LAYERS = {"model": 0, "experiments": 1, "analysis": 2, "validation": 2, "cli": 3}


def layer_of(module: str) -> str:
    parts = module.split(".")[1:]          # drop "sim"
    if not parts:
        return "model"
    if parts[0] in ("cli", "__main__", "app") or parts[-1] == "cli":    # the command line and the interactive view
        return "cli"
    if parts[0] in ("experiments", "analysis", "validation"):
        return parts[0]
    return "model"


def modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out[".".join(parts)] = path
    return out


def imports_of(module: str, path: Path, top_level: bool = False) -> set[str]:
    """Every `sim` module this module imports: inside functions too, or only at module level."""
    is_pkg = path.name == "__init__.py"
    here = module.split(".") if is_pkg else module.split(".")[:-1]
    found = set()
    known = modules()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in (tree.body if top_level else ast.walk(tree)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = ".".join(base + (node.module.split(".") if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("sim"):
                continue
            for a in node.names:          # `from . import x` may name a submodule
                if f"{target}.{a.name}" in known:
                    found.add(f"{target}.{a.name}")
            found.add(target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("sim"))
    return {m for m in found if m in known and m != module}


def test_every_outcome_summarised_is_in_the_catalogue_and_back():
    res = execute(sim.load_scenario().with_overrides({"scale": 0.02, "days": 20, "warmup_days": 5}, "test"), 3, daily=True)
    assert set(res.outcomes) == set(OUTCOMES)
    assert set(res.daily.columns) == set(SERIES)


def test_catalogue_entries_are_complete():
    for o in (*OUTCOMES.values(), *SERIES.values()):
        assert o.label and o.unit and o.meaning and o.better in (-1, 0, 1), o
    for name in (*HEADLINE, *KEY_OUTCOMES):
        assert name in OUTCOMES
    with pytest.raises(KeyError, match="did you mean 'share_known'"):
        outcome("share_knwn")


def test_gridsim_outcomes_prints_the_catalogue(capsys):
    from sim.cli import main

    assert main(["outcomes"]) == 0
    text = capsys.readouterr().out
    assert all(f"`{name}`" in text for name in OUTCOMES)


def test_layers_import_only_downward():
    bad = []
    for module, path in modules().items():
        mine = LAYERS[layer_of(module)]
        for target in imports_of(module, path):
            theirs = LAYERS[layer_of(target)]
            same_level_sideways = {layer_of(module), layer_of(target)} == {"analysis", "validation"}
            if theirs > mine or (same_level_sideways and layer_of(module) == "analysis"):
                bad.append(f"{module} ({layer_of(module)}) imports {target} ({layer_of(target)})")
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    """Module-level imports form no cycle (a deferred import inside a function is allowed to
    point back, e.g. `Scenario.with_overrides` calling the loader's `validate`)."""
    graph = {m: imports_of(m, p, top_level=True) for m, p in modules().items()}
    # a package's __init__ re-exporting its own modules is not a cycle of ideas
    for m in graph:
        graph[m] = {t for t in graph[m] if not (m.startswith(t + ".") and t != "sim")}
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for t in graph[m]:
            if t == "sim" or m == "sim":
                continue
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " → ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                visit(t, stack + [t])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])


def test_no_file_in_sim_is_over_500_lines():
    long = {str(p.relative_to(PKG)): n for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > 520}
    assert not long, long


def test_names_read_elsewhere_come_from_the_catalogue():
    """The sweep store's daily columns, the plots' default outcomes and the calibration's survey
    shares all name catalogue entries."""
    from sim.analysis.calibration import DEFAULT_FIT, SURVEY_SHARES
    from sim.analysis.curves import RUNAWAY_OUTCOMES
    from sim.experiments.store import DAILY_COLUMNS

    assert set(DAILY_COLUMNS) <= set(SERIES)
    assert set(RUNAWAY_OUTCOMES) <= set(OUTCOMES)
    assert set(DEFAULT_FIT) | set(SURVEY_SHARES) <= set(OUTCOMES)
    assert all(OUTCOMES[k].is_share for k in SURVEY_SHARES)
