"""The cities' reported figures (data/figures.yaml), loaded into a checked schema.

The numbers the validation fits to or compares with live in the YAML, each with its
quote, so a figure is changed in one place and the report follows.  A malformed entry is
refused with one line.  `Figures.masked()` hides every held-out value, which is all the
fitting and predicting code is ever given.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..catalogue import OUTCOMES
from ..scenario import Scenario, ScenarioError, suggest

FIGURES_FILE = Path(__file__).resolve().parent / "data" / "figures.yaml"
ROLES = ("fit", "compare", "input", "context", "assumption")


class FigureError(ScenarioError):
    """A malformed figures file or a figure used for what it may not be used for."""


class ErrorModel(BaseModel):
    """How far the reported value may be from the truth: a survey's binomial sampling error
    (`survey_n`, or "scenario" for the scenario's assumed perception.survey_n) or a stated
    half-width `tolerance` (rounding: uniform, sd = tolerance / √3)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    survey_n: Annotated[int, Field(ge=1)] | Literal["scenario"] | None = None
    tolerance: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one(self):
        if (self.survey_n is None) == (self.tolerance is None):
            raise ValueError("give exactly one of survey_n, tolerance")
        return self

    def sd(self, p: float, scenario: Scenario | None = None) -> float:
        """Standard error at the value `p` (a share, for a survey)."""
        if self.tolerance is not None:
            return self.tolerance / math.sqrt(3.0)
        n = self.survey_n
        if n == "scenario":
            if scenario is None:
                raise FigureError("error model survey_n: scenario needs the scenario")
            n = scenario.perception.survey_n
        p = min(max(p, 1e-3), 1 - 1e-3)
        return math.sqrt(p * (1 - p) / n)

    def describe(self, scenario: Scenario | None = None) -> str:
        if self.tolerance is not None:
            return f"stated tolerance ±{self.tolerance:g}"
        if self.survey_n == "scenario":
            n = scenario.perception.survey_n if scenario is not None else "?"
            return f"binomial, n = perception.survey_n = {n} (the survey's size is not reported)"
        return f"binomial, n = {self.survey_n}"


class Figure(BaseModel):
    """One reported figure (fields explained at the top of data/figures.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    city: str
    year: int = Field(ge=1949, le=2100)
    value: float | None
    unit: str
    role: Literal["fit", "compare", "input", "context", "assumption"]
    held_out: bool
    source: str
    outcome: str | None = None
    change: bool = False
    error: ErrorModel | None = None
    region: str | None = None
    quote: str | None = None
    translation: str | None = None
    note: str | None = None
    masked: bool = False              # set by Figures.masked(): the value is hidden

    @model_validator(mode="after")
    def _consistent(self):
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise ValueError(f"outcome {self.outcome!r} is not in sim.catalogue.OUTCOMES{suggest(self.outcome, OUTCOMES)}")
        if self.held_out and self.role == "fit":
            raise ValueError("a held-out figure cannot have role fit")
        if self.role != "assumption" and not (self.quote and self.translation):
            raise ValueError("quote and translation are required (only an assumption has none)")
        if self.role in ("fit", "compare", "input", "assumption") and self.value is None and not self.masked:
            raise ValueError(f"a figure with role {self.role} needs a value")
        if self.role == "fit" and (self.outcome is None or self.error is None):
            raise ValueError("a figure with role fit needs the outcome it is fitted to and an error model")
        return self

    def to_entry(self) -> dict:
        """The entry as in the file (what validation.json keeps): unset fields left out, `value` kept."""
        return {k: v for k, v in self.model_dump(exclude={"masked"}).items() if v is not None or k == "value"}


class Figures:
    """The figures by id, in file order."""

    def __init__(self, items: list[Figure], origin: str = "figures"):
        self._by_id: dict[str, Figure] = {}
        for f in items:
            if f.id in self._by_id:
                raise FigureError(f"{origin}: figure id {f.id!r} appears twice")
            self._by_id[f.id] = f
        self.origin = origin

    def __getitem__(self, fid: str) -> Figure:
        try:
            return self._by_id[fid]
        except KeyError:
            raise FigureError(f"{self.origin}: no figure {fid!r}{suggest(fid, self._by_id)}") from None

    def __iter__(self) -> Iterator[Figure]:
        return iter(self._by_id.values())

    def __contains__(self, fid: str) -> bool:
        return fid in self._by_id

    def value(self, fid: str) -> float:
        """The value of a figure; refused for one hidden by `masked()`."""
        f = self[fid]
        if f.masked:
            raise FigureError(f"figure {fid!r} is held out: its value is not available here")
        if f.value is None:
            raise FigureError(f"figure {fid!r} gives no number ({f.unit})")
        return f.value

    def fit_target(self, fid: str, scenario: Scenario) -> tuple[str, float, float]:
        """(outcome, value, standard error) of a figure a fit may use; a held-out one is refused."""
        f = self[fid]
        if f.held_out or f.role != "fit":
            raise FigureError(f"figure {fid!r} may not be fitted to (role {f.role}, held_out {f.held_out})")
        value = self.value(fid)
        return f.outcome, value, f.error.sd(value, scenario)

    def masked(self) -> "Figures":
        """A copy in which every held-out figure keeps its metadata but not its value."""
        return Figures([f.model_copy(update={"value": None, "masked": True}) if f.held_out else f for f in self],
                       self.origin + " (held-out values hidden)")

    def replace(self, fid: str, **changes: Any) -> "Figures":
        """A copy with one figure changed (tests, what-ifs); the result is checked again."""
        self[fid]                                   # unknown id: one line with a suggestion
        data = [dict(f.to_entry(), **changes) if f.id == fid else f.to_entry() for f in self]
        return parse_figures({"figures": data}, self.origin)

    def by_city(self, city: str) -> list[Figure]:
        return [f for f in self if f.city == city]

    def to_list(self) -> list[dict]:
        return [f.to_entry() for f in self]


def _one_line(exc: ValidationError) -> str:
    e = exc.errors()[0]
    where = ".".join(str(p) for p in e["loc"]) or "entry"
    return f"{where}: {e['msg']}".replace("Value error, ", "")


def parse_figures(raw: Any, origin: str = "figures") -> Figures:
    """{'figures': [entry, …]} → Figures; the first malformed entry raises FigureError (one line)."""
    if not isinstance(raw, dict) or set(raw) != {"figures"} or not isinstance(raw["figures"], list):
        raise FigureError(f"{origin}: expected a mapping with the single key 'figures' holding a list")
    items = []
    for i, entry in enumerate(raw["figures"], 1):
        label = f"figure {i}" + (f" ({entry.get('id')})" if isinstance(entry, dict) and entry.get("id") else "")
        if not isinstance(entry, dict):
            raise FigureError(f"{origin}: {label}: expected a mapping")
        if entry.get("masked"):
            raise FigureError(f"{origin}: {label}: 'masked' is set by the code, not the file")
        try:
            items.append(Figure.model_validate(entry))
        except ValidationError as exc:
            raise FigureError(f"{origin}: {label}: {_one_line(exc)}") from None
    return Figures(items, origin)


def load_figures(path: str | Path | None = None) -> Figures:
    """Read and check a figures file (default: the package's data/figures.yaml)."""
    import yaml

    path = Path(path) if path else FIGURES_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FigureError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise FigureError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return parse_figures(raw, str(path))
