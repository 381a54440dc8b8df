"""Questions about the schema's parameters, answered in one place.

Calibration, validation, experiment files, error messages and the ODD table all need a
parameter's default, unit, source, limits or a "did you mean" for a typo.  Each answer is
computed here from the pydantic fields of `sim.scenario.schema`, once, so that they cannot
disagree (calibration's limits and the error messages' "allowed:" text used to be two
implementations).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from .schema import ASSUME, Scenario, ScenarioError

#: section-level placeholders that say "look at the fields", not a unit or a source
_PLACEHOLDERS = ("see fields", "-", "section")


@dataclass(frozen=True)
class Leaf:
    """One leaf parameter: its dotted key, pydantic field and what the schema says of it.

    `default` is the scenario default (a section's own default wins over the field class's,
    e.g. each rung's numbers); `unit`, `source` and `description` are the field's own, else
    those of the nearest section above it that has them (per-crime values carry theirs on
    the section)."""

    key: str
    field: FieldInfo
    default: Any
    unit: str
    source: str
    description: str

    @property
    def annotation(self) -> Any:
        return self.field.annotation


@dataclass(frozen=True)
class Bounds:
    """A parameter's limits from its Field metadata (`ge`/`gt`/`le`/`lt`); None = open.

    Tuple parameters (per-severity triples, cut-points) carry the limits of their elements."""

    lo: float | None = None
    hi: float | None = None
    lo_strict: bool = False
    hi_strict: bool = False

    def lo_text(self) -> str | None:
        return None if self.lo is None else f"{'>' if self.lo_strict else '≥'} {self.lo:g}"

    def hi_text(self) -> str | None:
        return None if self.hi is None else f"{'<' if self.hi_strict else '≤'} {self.hi:g}"

    def __str__(self) -> str:
        """'≥ 0 and ≤ 1', '> 0', or '' when unbounded."""
        return " and ".join(x for x in (self.lo_text(), self.hi_text()) if x)


# --------------------------------------------------------------------------- dotted keys
def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """Nested mapping → dotted key → value (nested mappings are walked, nothing else)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def get_dotted(d: dict, key: str) -> Any:
    """`d["a"]["b"]` for key "a.b" (KeyError if absent)."""
    for part in key.split("."):
        d = d[part]
    return d


def set_dotted(d: dict, key: str, value: Any, origin: str) -> None:
    """Set a leaf of a nested scenario mapping, or one field of one change of its timeline
    (`timeline[0].on`, `timeline[1].set.KEY`); an unknown key is a one-line ScenarioError."""
    if isinstance(key, str) and key.startswith("timeline[") and key not in leaves():
        from .timeline_read import set_entry_key

        set_entry_key(d, key, value, origin)
        return
    if key not in leaves():
        shown = repr(key if len(key) <= 80 else key[:77] + "...")       # a hostile key stays one short line
        msg = f"unknown key {shown}{suggest(key, leaves()) if len(key) <= 100 else ''}"
        raise ScenarioError(f"{origin}: {msg}", key=key, detail=msg)
    parts = key.split(".")
    for p in parts[:-1]:
        d = d.setdefault(p, {})
    d[parts[-1]] = value


def suggest(key: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the nearest of `choices` (whole key, else its last part), or ''."""
    choices = list(choices)
    near = difflib.get_close_matches(key, choices, n=1, cutoff=0.5)
    if not near:
        near = difflib.get_close_matches(key.split(".")[-1], [c.split(".")[-1] for c in choices], n=1, cutoff=0.6)
        near = [c for c in choices if c.split(".")[-1] == near[0]][:1] if near else []
    return f" (did you mean {near[0]!r}?)" if near else ""


# --------------------------------------------------------------------------- the leaves
def _leaf_fields(model: type[BaseModel], prefix: str = "") -> dict[str, tuple[FieldInfo, Any]]:
    out = {}
    for name, f in model.model_fields.items():
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            sub_default = f.get_default(call_default_factory=True).model_dump()
            for k, (fi, _) in _leaf_fields(ann, f"{prefix}{name}.").items():
                # section defaults (e.g. a rung's own numbers) override the class defaults
                out[k] = (fi, get_dotted(sub_default, k[len(prefix) + len(name) + 1:]))
        else:
            out[f"{prefix}{name}"] = (f, f.get_default(call_default_factory=True))
    return out


@cache
def leaves() -> dict[str, Leaf]:
    """Dotted key → Leaf for every leaf parameter of the schema, in schema order (cached:
    treat as read-only)."""
    return {key: Leaf(key, fi, default, schema_extra(key, "unit"), schema_extra(key, "source"), _description(key))
            for key, (fi, default) in _leaf_fields(Scenario).items()}


@cache
def all_keys() -> frozenset[str]:
    """Every valid dotted key: the leaves and the sections above them."""
    keys = set(leaves())
    for k in list(keys):
        parts = k.split(".")
        keys.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return frozenset(keys)


def _fields_along(key: str) -> list[FieldInfo]:
    """The pydantic fields on the path of a dotted key, outermost first (stops where the path
    leaves the schema)."""
    cls: Any = Scenario
    out = []
    for part in key.split("."):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or part not in cls.model_fields:
            break
        f = cls.model_fields[part]
        out.append(f)
        cls = f.annotation
    return out


def schema_extra(key: str, attr: str = "source") -> str:
    """The schema's `attr` ("source", "unit") of a key, or of the nearest section above it
    that has one (the fields of `crime.rate_per_10k_year` carry theirs on the section)."""
    found = ""
    for f in _fields_along(key):
        val = (f.json_schema_extra or {}).get(attr) if isinstance(f.json_schema_extra, dict) else None
        if val and val not in _PLACEHOLDERS:
            found = str(val)
    return found


def _description(key: str) -> str:
    found = ""
    for f in _fields_along(key):
        if f.description:
            found = f.description
    return found


def param_source(key: str, scenario: Scenario) -> str:
    """Provenance of a parameter in this scenario: the file's `source:`, else the schema's."""
    return scenario.sources.get(key) or schema_extra(key, "source")


def is_assumption(key: str, scenario: Scenario) -> bool:
    """Whether the parameter's provenance in this scenario starts with the word *assumption*."""
    return param_source(key, scenario).strip().lower().startswith(ASSUME)


# --------------------------------------------------------------------------- limits
@cache
def bounds(key: str) -> Bounds:
    """Limits of a leaf parameter from its Field metadata; an unknown or unbounded key gives
    `Bounds()` (both ends open)."""
    leaf = leaves().get(key)
    if leaf is None:
        return Bounds()
    metas = list(leaf.field.metadata)
    # tuple parameters carry their bounds on the element type (Annotated[float, Field(...)])
    for arg in getattr(leaf.annotation, "__args__", ()):
        for m in getattr(arg, "__metadata__", ()):
            metas.append(m)
            metas += list(getattr(m, "metadata", ()))
    lo = hi = None
    lo_strict = hi_strict = False
    for m in metas:
        if getattr(m, "ge", None) is not None:
            lo, lo_strict = float(m.ge), False
        if getattr(m, "gt", None) is not None:
            lo, lo_strict = float(m.gt), True
        if getattr(m, "le", None) is not None:
            hi, hi_strict = float(m.le), False
        if getattr(m, "lt", None) is not None:
            hi, hi_strict = float(m.lt), True
    return Bounds(lo, hi, lo_strict, hi_strict)


def plausible(key: str) -> tuple[float, float] | None:
    """The parameter's plausible range `(low, high)` from the schema (the prior calibration
    uses), or None when the schema gives none.  For a tuple parameter it holds for each
    element."""
    leaf = leaves().get(key)
    extra = leaf.field.json_schema_extra if leaf is not None else None
    rng = extra.get("plausible") if isinstance(extra, dict) else None
    if rng is None and leaf is not None:
        # a section may give the range of one of its fields (each rung its own deadline)
        for f in _fields_along(key)[:-1]:
            sec = f.json_schema_extra.get("plausible") if isinstance(f.json_schema_extra, dict) else None
            if isinstance(sec, dict) and key.rsplit(".", 1)[-1] in sec:
                rng = sec[key.rsplit(".", 1)[-1]]
    return None if rng is None else (float(rng[0]), float(rng[1]))


def bounds_text(key: str) -> tuple[str | None, str | None]:
    """Lower and upper limit as text, e.g. ('> 0', '≤ 1'); None for an open end."""
    b = bounds(key)
    return b.lo_text(), b.hi_text()
