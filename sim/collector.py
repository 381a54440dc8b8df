"""The model's DataCollector: Mesa's, plus the run's outcomes once the run has ended.

`mesa.batch_run` turns a finished model into a row from `datacollector.model_vars` at the last
collected step.  `RunCollector` keeps the daily series exactly as Mesa's DataCollector does
(`get_model_vars_dataframe()` is the daily series, nothing else), and once the model has
stopped at its horizon (`model.running` is False) its `model_vars` also carries every outcome
of the catalogue (`sim.catalogue.OUTCOMES`, computed by `sim.outcomes.summarise` on first
request, then kept): a column that is empty (NaN) on every collected day but the last, where
it holds the run's value.  So a `batch_run` row is the run: every outcome of `summary.json`
under its catalogue name, and the last day's value of each other daily series.  Where an
outcome and a daily series share a name (`disputes_resolved`: the run's total against the
day's count; `worker_utilisation`: the observed period's mean against the day's), the row
gives the outcome; the day's value stays in the daily frame.

Two more things `batch_run` cannot see for itself:

- a model stopped inside its warm-up has collected nothing, so `batch_run` returns no row for
  it: reading the collected steps of such a model warns (`UserWarning`) and
  says which `max_steps` would reach the observed period (each text once in a process);
- a run cut short by `max_steps` after the warm-up but before its horizon is still running,
  so its row carries the last day's daily series only.
"""

from __future__ import annotations

import math
import warnings

import pandas as pd
from mesa.datacollection import DataCollector

#: warm-up warnings given in this process (each text once)
_WARNED: set[str] = set()


class RunCollector(DataCollector):
    """Mesa's DataCollector for a `GovernanceModel`; see the module's doc."""

    def __init__(self, model, **kwargs):
        self._model = model
        self._outcomes: dict | None = None
        self._outcomes_at: int | None = None
        self._warned = False
        self._collecting = False
        super().__init__(**kwargs)

    def collect(self, model) -> None:
        self._collecting = True          # Mesa appends to model_vars: the daily series
        try:
            super().collect(model)
        finally:
            self._collecting = False

    # Mesa's DataCollector assigns `model_vars` and `_collection_steps` in __init__ and
    # appends to them in collect(): both stay plain lists underneath.
    @property
    def model_vars(self) -> dict:
        if self._model.running or not self._steps or self._collecting:
            return self._series
        outcomes, n = self.outcomes(), len(self._steps)
        return {**self._series, **{k: [math.nan] * (n - 1) + [v] for k, v in outcomes.items()}}

    @model_vars.setter
    def model_vars(self, value: dict) -> None:
        self._series = value

    @property
    def _collection_steps(self) -> list:
        m = self._model
        if not self._steps and m.steps > 0 and not m.observing and not self._warned:
            self._warned = True
            p = m.params
            text = (f"GovernanceModel stopped after {m.steps} steps, inside its warm-up of {p.warmup_days} days: "
                    f"nothing was collected, so mesa.batch_run returns no row for it; give max_steps ≥ "
                    f"{p.total_days} (warm-up + days) or a shorter warmup_days")
            if text not in _WARNED:          # once, not once per run of a batch
                _WARNED.add(text)
                warnings.warn(text, UserWarning, stacklevel=2)
        return self._steps

    @_collection_steps.setter
    def _collection_steps(self, value: list) -> None:
        self._steps = value

    def outcomes(self) -> dict:
        """The run's outcomes as they stand (computed once per step count, then kept)."""
        from .outcomes import summarise

        if self._outcomes is None or self._outcomes_at != self._model.steps:
            self._outcomes, self._outcomes_at = summarise(self._model), self._model.steps
        return self._outcomes

    def get_model_vars_dataframe(self) -> pd.DataFrame:
        """The daily series (the outcomes are in `outcomes()`)."""
        if not self.model_reporters:
            raise UserWarning("No model reporters have been defined in the DataCollector, returning empty DataFrame.")
        return pd.DataFrame(self._series)
