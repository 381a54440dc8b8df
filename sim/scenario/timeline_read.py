"""Reading a scenario's `timeline:` (sim.scenario.timeline): each change checked on its own, against
the schema alone, and written canonically (dates as YYYY-MM-DD text, keys dotted), every failure a
one-line ScenarioError naming the key; and which keys a timeline may change (FIXED, STRUCTURAL).
The checks that need the whole scenario, and what is in force on each day, are in `timeline`.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from fnmatch import fnmatchcase
from functools import cache
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import ConfigDict, TypeAdapter, ValidationError

from .loader import _type_problem
from .params import all_keys, bounds, leaves, suggest
from .schema import ScenarioError
from .yamlsafe import name_of, shown

__all__ = ["DRAWN_ONCE", "ENTRY_KEYS", "FIXED", "LAID_OUT", "MAX_CHANGES", "STRUCTURAL", "expand", "is_fixed", "is_structural",
           "kind_of", "normalise_timeline", "parse_date", "set_entry_key", "timeline_key", "where_of", "why_fixed"]

#: at most this many changes in one timeline (each is validated at load: 100 take under half a second)
MAX_CHANGES = 100
ENTRY_KEYS = ("on", "from", "to", "set", "multiply", "source", "label")
FIRST_YEAR, LAST_YEAR = 1900, 2199

#: keys a timeline cannot change: the run's frame and the town's geometry (cells and people are laid out once)
FIXED = ("name", "description", "sources", "timeline", "start_date", "seed", "days", "warmup_days", "scale",
         "population", "area_km2", "track_residents",
         "town.residents_per_cell", "town.centre_decay_share", "town.rural_floor", "town.cell_pop_cv",
         "town.public_space_share")
#: keys no model run can change either, each group with the reason (a change is refused at load, in one line)
LAID_OUT = ("town.residents_per_community", "town.residents_per_township")
DRAWN_ONCE = ("disputes.propensity_shape", "perception.safety_mean", "perception.safety_sd", "perception.trust_mean",
              "perception.trust_sd")
WHY_FIXED = ((FIXED, "the run's frame and the town's geometry"),
             (LAID_OUT, "communities and townships are laid out once: mediators, police posts and cameras hang on them"),
             (DRAWN_ONCE, "each resident draws it once, at the start"))
#: keys whose change the model carries out on its structures (regrid, hire or release staff, hang or take
#: down cameras, rebuild servers' shifts); every other key is a rate, probability, weight or cost a
#: submodel re-reads (sim/timeline_run.py does both)
STRUCTURAL = ("residents_per_grid", "fulltime_ratio", "camera_coverage",
              "staffing.workers_per_grid", "staffing.fulltime_first", "staffing.*_per_10k", "staffing.court_servers_per_100k",
              "staffing.police_on_duty_share", "staffing.police_posting",
              "staffing.fulltime_hours", "staffing.parttime_hours", "staffing.shift_start", "staffing.parttime_shift_start",
              "staffing.mediator_hours", "staffing.township_hours", "staffing.court_hours",
              "town.grid_size_cv", "town.household_size",
              "crime.camera_stock*", "crime.cameras_per_covered_cell", "crime.camera_village_share",
              "perception.camera_near_cells")


def why_fixed(key: str) -> str | None:
    """Why `key` cannot change in a run, or None if it can."""
    return next((why for keys, why in WHY_FIXED if any(fnmatchcase(key, p) for p in keys)), None)


def kind_of(key: str) -> Literal["fixed", "structural", "rate"]:
    """'fixed' (never changes in a run), 'structural' (the model must rebuild something) or 'rate'."""
    if why_fixed(key) is not None:
        return "fixed"
    return "structural" if any(fnmatchcase(key, p) for p in STRUCTURAL) else "rate"


def is_fixed(key: str) -> bool:
    return kind_of(key) == "fixed"


def is_structural(key: str) -> bool:
    return kind_of(key) == "structural"


# --------------------------------------------------------------------------- reading one change
def _bad(msg: str) -> ScenarioError:
    """A one-line refusal (a ValueError: inside the schema's validators pydantic reports it, and the
    loader prefixes the file)."""
    return ScenarioError(msg, detail=msg)


def parse_date(value: Any, where: str) -> date:
    """A calendar date: YAML's unquoted 2016-03-01 or the text '2016-03-01' (not a time)."""
    if isinstance(value, datetime):
        raise _bad(f"key {name_of(where)}: expects a date (YYYY-MM-DD) without a time, got {shown(value)}")
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) != 10 or text[4] != "-" or text[7] != "-":
                raise ValueError
            value = date.fromisoformat(text)
        except ValueError as exc:
            why = f" ({exc})" if str(exc) else ""
            raise _bad(f"key {name_of(where)}: expects a date YYYY-MM-DD, got {shown(text)}{why}") from None
    if not isinstance(value, date):
        raise _bad(f"key {name_of(where)}: expects a date YYYY-MM-DD, got {shown(value)}")
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise _bad(f"key {name_of(where)}: {value} is outside the years {FIRST_YEAR}–{LAST_YEAR}")
    return value


def _base_type(a: Any) -> Any:
    return get_args(a)[0] if get_origin(a) is Annotated else a


def _shape(key: str) -> int | None:
    """0 for a number, n for a tuple of n numbers, None for anything else (integers, choices, flags)."""
    ann = leaves()[key].annotation
    if isinstance(ann, UnionType) or get_origin(ann) is Union:
        ann = next(a for a in get_args(ann) if a is not type(None))
    if ann is float:
        return 0
    if get_origin(ann) is tuple and all(_base_type(a) is float for a in get_args(ann)):
        return len(get_args(ann))
    return None


def _what(key: str) -> str:
    ann = leaves()[key].annotation
    return {int: "an integer", bool: "a true/false", str: "text"}.get(ann, "a choice" if get_origin(ann) is Literal else "not a number")


@cache
def _adapter(key: str) -> TypeAdapter:
    f = leaves()[key].field
    tp = Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation
    return TypeAdapter(tp, config=ConfigDict(allow_inf_nan=False))


def _check_value(key: str, value: Any, where: str) -> None:
    """The value alone against its key's type and limits (the schema's own words)."""
    problem = _type_problem(leaves()[key].annotation, value)
    if problem is None:
        try:
            _adapter(key).validate_python(value)
        except ValidationError as exc:
            problem = " ".join(str(exc.errors()[0]["msg"]).split())[:120] + f" (got {shown(value)})"
    if problem:
        allowed = str(bounds(key))
        raise _bad(f"{where}: key {name_of(key)}: {problem}" + (f"; allowed: {allowed}" if allowed else ""))


def _flat_keys(raw: Any, where: str, prefix: str = "") -> dict[str, Any]:
    """A `set:`/`multiply:` mapping → dotted key → value (sections may be nested or dotted)."""
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if not isinstance(k, str):
            raise _bad(f"key {name_of(where)}: keys must be strings, not {shown(k)}")
        key = prefix + k
        if isinstance(v, dict) and key in all_keys() and key not in leaves():
            out.update(_flat_keys(v, where, key + "."))
        elif key in out:
            raise _bad(f"key {name_of(where)}: {name_of(key)} is given twice")
        else:
            out[key] = v
    return out


def expand(key: str) -> list[str]:
    """A leaf, or `section.*`: the leaves directly under the section (e.g. crime.clearance_prob.*)."""
    if key.endswith(".*") and key[:-2] in all_keys() and key[:-2] not in leaves():
        return [k for k in leaves() if k.rsplit(".", 1)[0] == key[:-2]]
    return [key] if key in leaves() else []


def _check_keys(values: dict[str, Any], where: str, verb: str) -> None:
    for key in values:
        found = expand(key)
        if not found:
            if key in all_keys():
                raise _bad(f"key {name_of(where)}: {name_of(key)} is a section: name its parameters, or {key}.* for those "
                           "directly under it")
            hint = suggest(key.removesuffix(".*"), leaves()) if len(key) <= 100 else ""
            raise _bad(f"key {name_of(where)}: unknown key {name_of(key)}{hint}")
        for k in found:
            if is_fixed(k):
                raise _bad(f"key {name_of(where)}: {name_of(k)} cannot change during a run (fixed: {why_fixed(k)}); set it "
                           "in the scenario itself")
            if verb and _shape(k) is None:
                raise _bad(f"key {name_of(where)}: {name_of(k)} is {_what(k)}: it cannot {verb}; change it by a step "
                           "(on: DATE, set: ...)")


def _entry(raw: Any, i: int) -> dict[str, Any]:
    """One change, checked on its own and written canonically (dates as text, keys dotted)."""
    tag = f"timeline[{i}]"
    if not isinstance(raw, dict):
        raise _bad(f"key {name_of(tag)}: expects a mapping (on: DATE, set: {{KEY: VALUE}}, source: ...), got {shown(raw)}")
    e: dict[str, Any] = {}
    for k, v in raw.items():
        k = "on" if k is True else k          # YAML 1.1 reads an unquoted `on:` as true
        if not isinstance(k, str):
            raise _bad(f"key {name_of(tag)}: keys must be strings, not {shown(k)}")
        if k not in ENTRY_KEYS:
            raise _bad(f"key {name_of(f'{tag}.{k}')}: unknown{suggest(k, ENTRY_KEYS)}; a change takes {', '.join(ENTRY_KEYS)}")
        if k in e:
            raise _bad(f"key {name_of(f'{tag}.{k}')}: given twice")
        e[k] = v
    if "set" in e and "multiply" in e:
        raise _bad(f"key {name_of(tag)}: give set: (a step or ramp) or multiply: (a campaign), not both")
    if "on" in e:
        if "from" in e or "to" in e or "multiply" in e:
            raise _bad(f"key {name_of(tag)}: on: is a step (on:, set:); a ramp is from:, to:, set:; a campaign from:, multiply:")
        kind = "step"
    elif "from" in e:
        kind = "campaign" if "multiply" in e else "ramp"
        if kind == "ramp" and "to" not in e:
            raise _bad(f"key {name_of(tag)}: a ramp (from:, set:) needs to: (a step is written on: DATE, set: ...)")
    else:
        raise _bad(f"key {name_of(tag)}: needs on: DATE (a step) or from: DATE (a ramp or a campaign)")
    what = "multiply" if kind == "campaign" else "set"
    if what not in e:
        raise _bad(f"key {name_of(tag)}: a {kind} needs {what}: {{KEY: {'FACTOR' if kind == 'campaign' else 'VALUE'}}}")
    src = e.get("source")
    if not isinstance(src, str) or not src.strip():
        raise _bad(f"key {name_of(tag + '.source')}: each change needs a source: a quote from the document, or the word "
                   f"assumption (got {shown(src)})")
    out: dict[str, Any] = {}
    for k in ("on", "from", "to"):
        if k in e:
            out[k] = parse_date(e[k], f"{tag}.{k}").isoformat()
    if "to" in out and (out["to"] < out["from"] or (kind == "ramp" and out["to"] == out["from"])):
        raise _bad(f"key {name_of(tag + '.to')}: {out['to']} is not after from: {out['from']}"
                   + ("" if kind == "ramp" else " (a campaign's to: is its last day)"))
    where = f"{tag}.{what}"
    if not isinstance(e[what], dict) or not e[what]:
        raise _bad(f"key {name_of(where)}: expects a mapping of dotted keys to {'factors' if kind == 'campaign' else 'values'}, "
                   f"got {shown(e[what])}")
    values = _flat_keys(e[what], where)
    _check_keys(values, where, {"ramp": "ramp", "campaign": "be multiplied", "step": ""}[kind])
    tag = where_of(kind, out, i)
    for key, v in values.items():
        for k in expand(key):
            if kind == "campaign":
                if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < float("inf"):
                    raise _bad(f"{tag}: key {name_of(key)}: a factor is a number ≥ 0, got {shown(v)}")
            else:
                _check_value(k, v, tag)
    out[what] = values
    out["source"] = src.strip()
    if "label" in e:
        if not isinstance(e["label"], str):
            raise _bad(f"key {name_of(f'timeline[{i}].label')}: expects text, got {shown(e['label'])}")
        out["label"] = " ".join(e["label"].split())[:80]
    return out


def where_of(kind: str, e: dict, i: int) -> str:
    """'timeline[2] (on 2016-03-01)', '(ramp 2016-01-01 to 2018-12-31)', '(campaign from 2016-03-01)'."""
    when = {"step": f"on {e.get('on')}", "ramp": f"ramp {e.get('from')} to {e.get('to')}",
            "campaign": f"campaign from {e.get('from')}" + (f" to {e['to']}" if "to" in e else "")}[kind]
    return f"timeline[{i}] ({when})"


def normalise_timeline(raw: Any) -> list[dict[str, Any]]:
    """The `timeline:` value, each change checked on its own and written canonically (ScenarioError: one line)."""
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        raise _bad(f"key 'timeline': expects a list of changes (- on: DATE, set: {{...}}, source: ...), got {shown(raw)}")
    if len(raw) > MAX_CHANGES:
        raise _bad(f"key 'timeline': {len(raw)} changes, at most {MAX_CHANGES}")
    return [_entry(e, i) for i, e in enumerate(raw)]


# --------------------------------------------------------------------------- one field of one change, by key
_ENTRY_KEY = re.compile(r"^timeline\[(\d{1,3})\]\.(on|from|to|label|source|set|multiply)(?:\.(.+))?$")


def timeline_key(key: str) -> tuple[int, str, str | None] | None:
    """`timeline[i].on` → (i, 'on', None); `timeline[i].set.KEY` → (i, 'set', 'KEY'); None for any other key.
    These keys name one field of one change, so `--set` and an experiment's axes can vary a change's date,
    pace (its `to:`) or size."""
    m = _ENTRY_KEY.match(key) if isinstance(key, str) and key.startswith("timeline[") else None
    if m is None or (m.group(2) in ("set", "multiply")) != (m.group(3) is not None):
        return None
    return int(m.group(1)), m.group(2), m.group(3)


def set_entry_key(data: dict, key: str, value: Any, origin: str) -> None:
    """Set one field of one change in a scenario mapping (`data["timeline"]`), or refuse in one line.  The
    whole timeline is checked again when the mapping is validated."""
    parsed = timeline_key(key)
    entries = data.get("timeline") or []

    def bad(msg: str) -> ScenarioError:
        return ScenarioError(f"{origin}: key {name_of(key)}: {msg}", key=key, detail=f"key {name_of(key)}: {msg}")

    if parsed is None:
        raise bad("a change's field is timeline[N].on, .from, .to, .label, .source, .set.KEY or .multiply.KEY")
    i, field, inner = parsed
    if i >= len(entries):
        raise bad(f"the scenario has {len(entries)} change{'s' * (len(entries) != 1)} (timeline[0] … "
                  f"timeline[{max(len(entries) - 1, 0)}])" if entries else "the scenario has no timeline")
    entry = dict(entries[i])
    kind = "step" if "on" in entry else ("campaign" if "multiply" in entry else "ramp")
    allowed = {"step": ("on", "set"), "ramp": ("from", "to", "set"), "campaign": ("from", "to", "multiply")}[kind]
    if field not in (*allowed, "label", "source"):
        raise bad(f"timeline[{i}] is a {kind}: it has {', '.join(allowed)}, not {field}")
    if inner is None:
        entry[field] = value
    else:
        entry[field] = {**entry[field], inner: value}
    data["timeline"] = [*entries[:i], entry, *entries[i + 1:]]
