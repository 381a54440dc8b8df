"""Reading scenario files into validated `Scenario` objects, every failure one line.

A leaf may be written plainly (`residents_per_grid: 730`) or with its provenance
(`residents_per_grid: {value: 730, source: "6,042,852 / 8,271 grids …"}`); a top-level
`sources:` mapping of dotted keys to text does the same.  `extends: other.yaml` merges a
parent file under this one.  Unknown keys, wrong types and out-of-range values are refused
with one line naming the file that set the key and the key itself: the model and the
command line take only validated Scenarios, so all of this happens before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .params import all_keys, bounds, suggest
from .schema import DEFAULT_SCENARIO, Scenario, ScenarioError


def _strip_sources(raw: Any, prefix: str, sources: dict[str, str]) -> Any:
    """Turn `{value: x, source: s}` leaves into plain values, collecting the sources."""
    if isinstance(raw, dict):
        if "value" in raw and set(raw) <= {"value", "source", "unit", "note"}:
            if "source" in raw:
                sources[prefix.rstrip(".")] = str(raw["source"])
            return raw["value"]
        return {k: _strip_sources(v, f"{prefix}{k}.", sources) if k != "sources" else v for k, v in raw.items()}
    return raw


def _error(origin: str, msg: str, key: str | None = None) -> ScenarioError:
    return ScenarioError(f"{origin}: {msg}", key=key, detail=msg)


def validate(raw: Any, origin: str = "scenario") -> Scenario:
    """Validate a raw mapping; any problem becomes one ScenarioError line."""
    if not isinstance(raw, dict):
        raise _error(origin, f"a scenario must be a YAML mapping of keys to values, not {type(raw).__name__}")
    sources: dict[str, str] = {}
    data = _strip_sources(raw, "", sources)
    if sources:
        data["sources"] = {**(data.get("sources") or {}), **sources}
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        errs = exc.errors()
        # a `{value:, source:}` leaf under an unknown key also lands in `sources`: name the key
        err = next((e for e in errs if tuple(e["loc"][:1]) != ("sources",)), errs[0])
        loc = [str(p) for p in err["loc"]]
        # tuple elements show up as integer positions: keep the parameter's key
        key = ".".join(p for p in loc if not p.isdigit())
        if err["type"] == "extra_forbidden":
            raise _error(origin, f"unknown key {key!r}{suggest(key, all_keys())}", key) from None
        value = err.get("input")
        shown = repr(value) if not isinstance(value, dict) else "a mapping"
        if len(shown) > 60:
            shown = shown[:57] + "..."
        allowed = str(bounds(key))
        msg = f"key {key!r}: {err['msg'].rstrip('.')} (got {shown})" + (f"; allowed: {allowed}" if allowed else "")
        raise _error(origin, msg, key) from None


# --------------------------------------------------------------------------- files
def _a(what: str) -> str:
    return f"{'an' if what[0] in 'aeiou' else 'a'} {what}"


def read_yaml_mapping(path: Path, what: str = "scenario") -> dict:
    """One YAML file → its raw mapping, every failure a one-line ScenarioError
    (also for experiment files: `what` names the kind of file in the messages)."""
    path = Path(path)
    if not path.exists():
        raise ScenarioError(f"{path}: no such file")
    if path.is_dir():
        raise ScenarioError(f"{path}: is a directory, not {_a(what)} file")
    blob = path.read_bytes()
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a text file (binary data is not YAML)") from None
    if "\x00" in text:
        raise ScenarioError(f"{path}: not a text file (binary data is not YAML)")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ScenarioError(f"{path}: not valid YAML{where}: {problem}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: {_a(what)} must be a YAML mapping of keys to values, not {type(raw).__name__}")
    return raw


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
    raw = read_yaml_mapping(path)
    parent = raw.pop("extends", None)
    if parent is None:
        return [(path, raw)]
    if not isinstance(parent, str):
        raise ScenarioError(f"{path}: key 'extends': expected a file name, got {parent!r}")
    base = path.parent / parent
    if not base.is_file():
        raise ScenarioError(f"{path}: key 'extends': {base}: no such file")
    return _read_chain(base, seen + (path.resolve(),)) + [(path, raw)]


def read_raw(path: str | Path) -> dict:
    """A scenario file's mapping with its `extends:` chain merged in (child keys win).

    `extends: other.yaml` (relative to this file) lets an overlay — a calibration's
    fitted values, a policy variant, the next year of a city — name only what it changes.
    """
    return _merge_chain(_read_chain(Path(path)))


def _merge_chain(chain: list[tuple[Path, dict]]) -> dict:
    merged: dict = {}
    for _, raw in chain:
        merged = _merge(merged, raw)
    return merged


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

    An error in a value inherited through `extends:` names the parent file that set it."""
    path = Path(path) if path is not None else DEFAULT_SCENARIO
    chain = _read_chain(path)
    try:
        scenario = validate(_merge_chain(chain), str(path))
    except ScenarioError as exc:
        owner = _owner(chain, exc.key)
        if owner is None or owner == path or exc.detail is None:
            raise
        raise ScenarioError(f"{owner} (extended by {path}): {exc.detail}", key=exc.key, detail=exc.detail) from None
    if overrides:
        scenario = scenario.with_overrides(overrides, f"{path} (--set)")
    return scenario


def parse_set(items: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` strings (VALUE in YAML syntax) → overrides mapping."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ScenarioError(f"--set {item!r}: expected KEY=VALUE, e.g. --set fulltime_ratio=0.5")
        key, _, value = item.partition("=")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ScenarioError(f"--set {item!r}: value is not valid YAML") from None
    return out
