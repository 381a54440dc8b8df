"""Building blocks of the scenario schema: `P` (a parameter with default, unit, source,
limits and plausible range), `Section` (a strict pydantic section), `Prob` and `ASSUME`.

In a module of their own so that the schema's sections can live in more than one module
(`schema`, `schema_perception`) without importing each other.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

ASSUME = "assumption"

Prob = Annotated[float, Field(ge=0.0, le=1.0)]


def P(default: Any, unit: str, source: str, desc: str, *, plausible: tuple[float, float] | None = None, **limits: Any) -> Any:
    """A scenario parameter: default, unit, source and allowed range in one place.

    `plausible=(low, high)` is the range the evidence (or, for an assumption, judgement)
    allows: narrower than the physical limits, it is what calibration takes as its prior
    and what `docs/ODD.md` prints beside the source."""
    extra: dict[str, Any] = {"unit": unit, "source": source}
    if plausible is not None:
        lo, hi = plausible
        values = default if isinstance(default, tuple) else (default,)
        if not lo < hi or not all(lo <= v <= hi for v in values):
            raise ValueError(f"plausible range {plausible} must be increasing and contain the default {default}")
        extra["plausible"] = (float(lo), float(hi))
    return Field(default, description=desc, json_schema_extra=extra, **limits)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)
