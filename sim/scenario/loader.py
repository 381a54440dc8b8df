"""Reading scenario files into validated `Scenario` objects, every failure one line.

A leaf may be written plainly (`residents_per_grid: 730`) or with its provenance
(`residents_per_grid: {value: 730, source: "6,042,852 / 8,271 grids …"}`); a top-level
`sources:` mapping of dotted keys to text does the same.  `extends: other.yaml` merges a
parent file under this one.  Unknown keys, wrong types and out-of-range values are refused
with one line naming the file that set the key and the key itself: the model and the
command line take only validated Scenarios, so all of this happens before anything runs.

Hostile input is refused as quickly (well under a second) and as plainly: YAML is read by
`yamlsafe` within limits (size, nesting, aliases, duplicate keys); here a bool where the
schema wants a number, a number where it wants a bool, NaN, a key that is not a string and
a per-severity triple of the wrong length are refused by key.  No message builds the text
of a whole value (`shown` cuts it first).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from types import UnionType
from typing import Any, get_args, get_origin

import numpy as np
from pydantic import ValidationError

from .params import all_keys, bounds, leaves, suggest
from .schema import DEFAULT_SCENARIO, SEVERITIES, Scenario, ScenarioError
from .yamlsafe import MAX_DEPTH, load_yaml_text, name_of as _name, read_yaml_mapping, shown

__all__ = ["DEFAULT_WARMUP_DAYS", "DEFAULT_WARMUP_SOURCE", "MAX_EXTENDS", "check_keys", "load_scenario", "load_yaml_text", "parse_set", "read_raw",
           "read_yaml_mapping", "shown", "validate"]

#: longest chain of `extends:` files
MAX_EXTENDS = 16
#: the warm-up of a scenario file that sets no `warmup_days` (a cold start drifts for months)
DEFAULT_WARMUP_DAYS = 365
#: its source in the scenario's `sources`, which is how a run knows the warm-up was defaulted
DEFAULT_WARMUP_SOURCE = ("gridsim default warm-up: the file sets no warmup_days, so a year is simulated before the "
                         "observed period (felt safety relaxes over about 170 days)")


def _error(origin: str, msg: str, key: str | None = None) -> ScenarioError:
    return ScenarioError(f"{origin}: {msg}", key=key, detail=msg)


# --------------------------------------------------------------------------- mappings → Scenario
def check_keys(raw: dict, origin: str, prefix: str = "", depth: int = 0) -> None:
    """Every key of nested mappings is a string (YAML reads `3:` as a number and `on:`,
    `yes:` as true); mappings nested deeper than MAX_DEPTH (Python data) are refused."""
    if depth > MAX_DEPTH:
        raise _error(origin, f"nested deeper than {MAX_DEPTH} levels")
    for k, v in raw.items():
        if not isinstance(k, str):
            where = f" under {_name(prefix[:-1])}" if prefix else ""
            hint = " (unquoted yes/no/on/off/true/false read as true/false: quote it)" if isinstance(k, bool) else ""
            raise _error(origin, f"key {shown(k)}{where}: keys must be strings, not {type(k).__name__}{hint}",
                         prefix[:-1] or None)
        if isinstance(v, dict):
            check_keys(v, origin, f"{prefix}{k}.", depth + 1)


def _strip_sources(raw: Any, prefix: str, sources: dict[str, str]) -> Any:
    """Turn `{value: x, source: s}` leaves into plain values, collecting the sources."""
    if isinstance(raw, dict):
        if "value" in raw and set(raw) <= {"value", "source", "unit", "note"}:
            if "source" in raw:
                sources[prefix.rstrip(".")] = raw["source"] if isinstance(raw["source"], str) else shown(raw["source"], 200)
            return raw["value"]
        return {k: _strip_sources(v, f"{prefix}{k}.", sources) if k != "sources" else v for k, v in raw.items()}
    return raw


def _is_nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _type_problem(annotation: Any, value: Any) -> str | None:
    """What is wrong with the *type* of a leaf's value, beyond what pydantic's lax mode sees:
    YAML's true/false is not a number, 0/1 is not true/false, NaN is not a number, and a
    per-severity triple has exactly three values.  An optional leaf (`float | None`) takes null
    or what its type takes."""
    if isinstance(annotation, UnionType) and type(None) in get_args(annotation):
        if value is None:
            return None
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if annotation in (int, float):
        if isinstance(value, bool | np.bool_):
            return f"expects a number, got {str(value).lower()} (a YAML true/false)"
        if _is_nan(value):
            return "expects a number, got NaN (not a number)"
    elif annotation is bool:
        if not isinstance(value, bool | np.bool_):
            return f"expects true or false, got {shown(value)}"
    elif get_origin(annotation) is tuple:
        n = len(get_args(annotation))
        names = f" ({', '.join(SEVERITIES)})" if n == len(SEVERITIES) else ""
        if not isinstance(value, list | tuple):
            return f"expects a list of {n} values{names}, got {shown(value)}"
        if len(value) != n:
            return f"expects {n} values{names}, got {len(value)}"
        for i, x in enumerate(value):
            if isinstance(x, bool | np.bool_) or _is_nan(x):
                return f"expects {n} numbers{names}, got {shown(x).lower()} as value {i + 1}"
    return None


def _check_types(data: dict, origin: str, prefix: str = "") -> None:
    """Walk the mapping against the schema's leaves; a wrong type is one line naming the key."""
    for k, v in data.items():
        key = prefix + k
        leaf = leaves().get(key)
        if leaf is None:
            if isinstance(v, dict) and key in all_keys():
                _check_types(v, origin, key + ".")
            continue
        problem = _type_problem(leaf.annotation, v)
        if problem:
            raise _error(origin, f"key {_name(key)}: {problem}", key)


def validate(raw: Any, origin: str = "scenario") -> Scenario:
    """Validate a raw mapping; any problem becomes one ScenarioError line."""
    if not isinstance(raw, dict):
        raise _error(origin, f"a scenario must be a YAML mapping of keys to values, not {type(raw).__name__}")
    check_keys(raw, origin)
    sources: dict[str, str] = {}
    data = _strip_sources(raw, "", sources)
    if sources:
        given = data.get("sources")
        if given is not None and not isinstance(given, dict):
            raise _error(origin, f"key 'sources': expects a mapping of dotted keys to text, got {shown(given)}", "sources")
        data["sources"] = {**(given or {}), **sources}
    _check_types(data, origin)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        errs = exc.errors()
        # a `{value:, source:}` leaf under an unknown key also lands in `sources`: name the key
        err = next((e for e in errs if tuple(e["loc"][:1]) != ("sources",)), errs[0])
        loc = [str(p) for p in err["loc"]]
        # tuple elements show up as integer positions: keep the parameter's key
        key = ".".join(p for p in loc if not p.isdigit())
        if not err["loc"]:        # a check across sections (the schema's Scenario validators): its message names the keys
            raise _error(origin, str(err["msg"]).removeprefix("Value error, "), None) from None
        if err["type"] == "extra_forbidden":
            hint = suggest(key, all_keys()) if len(key) <= 100 else ""
            raise _error(origin, f"unknown key {_name(key)}{hint}", key) from None
        allowed = str(bounds(key))
        what = " ".join(str(err["msg"]).split()).rstrip(".")
        what = what if len(what) <= 160 else what[:157] + "..."
        value = err.get("input")
        got = "" if err["type"] == "value_error" and isinstance(value, dict) else f" (got {shown(value)})"   # a check across keys
        msg = f"key {_name(key)}: {what}{got}" + (f"; allowed: {allowed}" if allowed else "")
        raise _error(origin, msg, key) from None


def _merge(base: dict, top: dict) -> dict:
    """Deep merge: `top` wins; `{value:, source:}` leaves and lists replace whole."""
    out = dict(base)
    for k, v in top.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and not ("value" in v or "value" in out[k]):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _read_chain(path: Path, seen: tuple = ()) -> list[tuple[Path, dict]]:
    """The file and its `extends:` ancestors as (path, raw mapping), root ancestor first."""
    if path.resolve() in seen:
        raise ScenarioError(f"{path}: key 'extends': the chain of extends loops back to this file")
    if len(seen) >= MAX_EXTENDS:
        raise ScenarioError(f"{path}: key 'extends': a chain of more than {MAX_EXTENDS} files")
    raw = read_yaml_mapping(path)
    check_keys(raw, str(path))
    parent = raw.pop("extends", None)
    if parent is None:
        return [(path, raw)]
    if not isinstance(parent, str):
        raise ScenarioError(f"{path}: key 'extends': expected a file name, got {shown(parent)}")
    base = path.parent / parent
    try:
        is_dir, exists = base.is_dir(), base.exists()
    except (OSError, ValueError):      # a NUL byte, a name too long for the system
        raise ScenarioError(f"{path}: key 'extends': not a usable file name {shown(parent, 100)}") from None
    if is_dir:
        raise ScenarioError(f"{path}: key 'extends': {shown(str(base), 200)} is a directory, not a scenario file")
    if not exists:
        raise ScenarioError(f"{path}: key 'extends': {shown(str(base), 200)}: no such file")
    return _read_chain(base, seen + (path.resolve(),)) + [(path, raw)]


def read_raw(path: str | Path) -> dict:
    """A scenario file's mapping with its `extends:` chain merged in (child keys win).

    `extends: other.yaml` (relative to this file) lets an overlay — a calibration's
    fitted values, a policy variant, the next year of a city — name only what it changes.
    """
    return _merge_chain(_read_chain(Path(path)))


def _merge_chain(chain: list[tuple[Path, dict]]) -> dict:
    """Child keys win, except `timeline:`, whose changes add up: a parent's dated changes stay in
    force in every file that extends it (a variant adds a campaign; it does not have to repeat the
    camera build-out), parent's first."""
    merged: dict = {}
    timeline: list = []
    for _, raw in chain:
        merged = _merge(merged, raw)
        if isinstance(raw.get("timeline"), list):
            timeline = timeline + raw["timeline"]
        elif "timeline" in raw:            # not a list: validation refuses it, naming this value
            timeline = raw["timeline"]
    if "timeline" in merged:
        merged["timeline"] = timeline
    return merged


def _timeline_owners(chain: list[tuple[Path, dict]]) -> list[tuple[Path, int]]:
    """For each change of the merged timeline, the file that wrote it and its index there."""
    out: list[tuple[Path, int]] = []
    for path, raw in chain:
        if isinstance(raw.get("timeline"), list):
            out += [(path, j) for j in range(len(raw["timeline"]))]
    return out


_CHANGE = re.compile(r"timeline\[(\d+)\]")


def _inherited_change_error(chain: list[tuple[Path, dict]], path: Path, exc: ScenarioError) -> ScenarioError | None:
    """An error in one change of a merged timeline: name the file that wrote it and the change's index
    in that file (the merged list numbers a parent's changes first)."""
    text = exc.detail or ""
    m = _CHANGE.search(text)
    owners = _timeline_owners(chain)
    if m is None or int(m.group(1)) >= len(owners):
        return None
    owner, j = owners[int(m.group(1))]
    if owner == path and j == int(m.group(1)):
        return None
    body = _CHANGE.sub(lambda mm: f"timeline[{owners[int(mm.group(1))][1]}]" if int(mm.group(1)) < len(owners) else mm.group(0), text)
    where = str(path) if owner == path else f"{owner} (extended by {path})"
    return ScenarioError(f"{where}: {body}", key=exc.key, detail=body)


def _writes(raw: dict, key: str) -> bool:
    """Whether a raw mapping sets the dotted key, itself or by a value above it (a plain
    value or a `{value:}` leaf replaces whatever lies below it in the merge)."""
    node: Any = raw
    for part in key.split("."):
        if not isinstance(node, dict) or "value" in node:
            return True
        if part not in node:
            return False
        node = node[part]
    return True


def _owner(chain: list[tuple[Path, dict]], key: str | None) -> Path | None:
    """The file of an extends chain whose value of `key` the merge kept: the one nearest to
    the child that sets it (None when none does, e.g. a check across keys)."""
    if not key:
        return None
    return next((path for path, raw in reversed(chain) if _writes(raw, key)), None)


def load_scenario(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Scenario:
    """Read and validate a scenario YAML (default: scenarios/default.yaml).

    An error in a value inherited through `extends:` names the parent file that set it.  A
    file (with its parents) that sets no `warmup_days` gets `DEFAULT_WARMUP_DAYS`, its source
    `DEFAULT_WARMUP_SOURCE`: a run that starts cold drifts for months (issue 14)."""
    path = Path(path) if path is not None else DEFAULT_SCENARIO
    chain = _read_chain(path)
    merged = _merge_chain(chain)
    if not any(_writes(raw, "warmup_days") for _, raw in chain):     # warm by default
        merged["warmup_days"] = {"value": DEFAULT_WARMUP_DAYS, "source": DEFAULT_WARMUP_SOURCE}
    try:
        scenario = validate(merged, str(path))
    except ScenarioError as exc:
        inherited = _inherited_change_error(chain, path, exc) if len(chain) > 1 else None
        if inherited is not None:
            raise inherited from None
        owner = _owner(chain, exc.key)
        if owner is None or owner == path or exc.detail is None:
            raise
        raise ScenarioError(f"{owner} (extended by {path}): {exc.detail}", key=exc.key, detail=exc.detail) from None
    if overrides:
        scenario = scenario.with_overrides(overrides, f"{path} (--set)")
    return scenario


def parse_set(items: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` strings (VALUE in YAML syntax, read within the same limits as files) →
    overrides mapping; a key given twice is refused (no silent last-one-wins)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ScenarioError(f"--set {shown(item)}: expected KEY=VALUE, e.g. --set fulltime_ratio=0.5")
        key, _, value = item.partition("=")
        key = key.strip()
        if key in out:
            raise ScenarioError(f"--set {_name(key)}: given twice; give each key once", key=key)
        data = load_yaml_text(value, f"--set {_name(key)}", key)
        if isinstance(data, dict):
            check_keys(data, f"--set {_name(key)}")
        out[key] = data
    return out
