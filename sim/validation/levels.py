"""Levels at documented staffing: what the scenario files give, beside documented bands.

The default district and every city file run as they are (no fit: the files' staffing,
grids and cameras as documented, every assumed behavioural number at its default), and
each level the documents speak of — perceived safety, report → resolved time, the share
settled low on the ladder, mediation volume — is set beside the band read from national
and local sources (data/benchmarks.yaml).  The result states inside or outside; it does
not adjust anything.  Calibration (a later step) is where the assumed numbers meet these
figures; held-out city figures are not among them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from ..catalogue import OUTCOMES
from ..execute import replicate_seeds
from ..experiments.pool import Runner, RunSpec
from ..scenario import ROOT, ScenarioError, load_scenario
from .settings import Settings
from .stats import column, mean_ci

BENCHMARKS_FILE = Path(__file__).resolve().parent / "data" / "benchmarks.yaml"
LEVEL_SEED = 5000
FILES = ("default", "guigang_2015", "laibin", "huizhou", "jincheng", "fangchenggang")
#: levels reported even where no band is documented (the rural tail of police response)
EXTRA_KEYS = ("share_settled_in_community", "escalation_rate", "timeout_rate", "police_response_hours_median",
              "police_response_hours_p90", "population_share_safe", "worker_utilisation", "routine_shortfall_share")


class Benchmark(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    outcome: str
    low: float | None
    high: float | None
    kind: str
    what: str
    sources: list[str]

    @model_validator(mode="after")
    def _check(self):
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome {self.outcome!r} is not in the outcome catalogue")
        if self.low is None and self.high is None:
            raise ValueError("give low, high or both")
        if self.low is not None and self.high is not None and not self.low <= self.high:
            raise ValueError("low must not exceed high")
        if self.kind not in ("measured", "norm", "pattern"):
            raise ValueError("kind is one of measured, norm, pattern")
        return self

    def where(self, value: float) -> str:
        """'inside', 'below' or 'above' the band."""
        if self.low is not None and value < self.low:
            return "below"
        if self.high is not None and value > self.high:
            return "above"
        return "inside"


def load_benchmarks(path: Path = BENCHMARKS_FILE) -> list[Benchmark]:
    """The documented bands, checked; a malformed entry is one line."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))["benchmarks"]
        out = [Benchmark(**b) for b in raw]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as e:
        raise ScenarioError(f"{path}: not a benchmarks file ({e})") from None
    except ValidationError as e:
        err = e.errors()[0]
        raise ScenarioError(f"{path}: {'.'.join(str(x) for x in err['loc'])}: {err['msg']}") from None
    ids = [b.id for b in out]
    if len(set(ids)) != len(ids):
        raise ScenarioError(f"{path}: duplicate benchmark ids")
    return out


def levels(settings: Settings, runner: Runner, say: Callable[[str], None] = lambda s: None) -> dict:
    """Every file's levels (mean and interval over replicates) beside each documented band."""
    marks = load_benchmarks()
    keys = tuple(dict.fromkeys([b.outcome for b in marks] + [k for k in EXTRA_KEYS if k in OUTCOMES]))
    seeds = replicate_seeds(LEVEL_SEED, settings.city_replicates)
    specs, owners = [], []
    for name in FILES:
        sc = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
        scale = settings.district_scale if name == "default" else settings.scale
        days = settings.district_days if name == "default" else settings.days
        for s in seeds:
            specs.append(RunSpec(sc, s, (("scale", scale), ("days", days)), keys))
            owners.append(name)
    say(f"levels: {len(specs)} runs")
    res = runner.map(specs)
    files = {}
    for name in FILES:
        runs = [r for r, o in zip(res, owners) if o == name]
        files[name] = {k: mean_ci(column(runs, k)) for k in keys}
        if "police_response_hours_p90" in keys:
            # the rural tail: how far the slowest tenth of responses lies beyond the typical one
            files[name]["police_p90_over_median"] = mean_ci(
                [r["police_response_hours_p90"] / r["police_response_hours_median"] for r in runs
                 if r.get("police_response_hours_median")])
    rows = []
    for b in marks:
        verdict = {name: (b.where(files[name][b.outcome]["mean"]) if files[name][b.outcome]["n"] else "no value")
                   for name in FILES}
        rows.append({**b.model_dump(), "verdict": verdict,
                     "inside_files": sorted(n for n, v in verdict.items() if v == "inside")})
    return {"seeds": seeds, "replicates": len(seeds), "files": files, "benchmarks": rows, "keys": list(keys)}
