"""Scenarios: the parameter schema, questions about it, loading files, and the ODD table.

- `schema`: every behavioural number of the model as a pydantic field (default, unit,
  source, limits) and the validated `Scenario` the model reads once;
- `params`: introspection — `leaves()`, `bounds()`, sources, "did you mean", dotted keys;
- `loader`: YAML files (with `extends:`) and mappings → `Scenario`, every error one line;
- docs/ODD.md's parameter table is rendered by `sim.odd` (`python -m sim.odd --write-odd`).

Import the names below from `sim.scenario`; the submodules are an internal layout.
"""

from __future__ import annotations

from .loader import load_scenario, parse_set, read_raw, read_yaml_mapping, validate
from .params import (Bounds, Leaf, all_keys, bounds, bounds_text, flatten, get_dotted, is_assumption, leaves,
                     param_source, plausible, schema_extra, set_dotted, suggest)
from .schema import (CRIME_TYPES, DEFAULT_SCENARIO, DISPUTE_TYPES, ROOT, RUNGS, SEVERITIES, Scenario, ScenarioError)

__all__ = [
    "CRIME_TYPES", "DEFAULT_SCENARIO", "DISPUTE_TYPES", "ROOT", "RUNGS", "SEVERITIES", "Scenario", "ScenarioError",
    "Bounds", "Leaf", "all_keys", "bounds", "bounds_text", "flatten", "get_dotted", "is_assumption", "leaves",
    "param_source", "plausible", "schema_extra", "set_dotted", "suggest",
    "load_scenario", "parse_set", "read_raw", "read_yaml_mapping", "validate",
]
