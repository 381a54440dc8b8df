"""gridsim: an agent-based model of grid-based social governance (网格化管理) on Mesa.

The names below are imported on first use (PEP 562), so `import sim` — and with it the
`gridsim` command's `--help` and `--version` — does not load Mesa, numpy or pydantic."""

from __future__ import annotations

import importlib
import importlib.util

__version__ = "0.1.0"
__all__ = ["GovernanceModel", "GovernanceScenario", "LEVERS", "Scenario", "ScenarioError", "load_scenario", "__version__"]

_LAZY = {"GovernanceModel": "model", "GovernanceScenario": "model", "LEVERS": "model",
         "Scenario": "scenario", "ScenarioError": "scenario", "load_scenario": "scenario"}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:   # sim.model, sim.plots …
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
