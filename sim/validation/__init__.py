"""`gridsim validate`: does the model give back what the cities reported, and predict what
it was not fitted to?

Layout (one idea per module):

- `data/figures.yaml` — the cities' reported figures as data: value, unit, outcome key,
  error model, `held_out`, the Chinese quote and its translation;
- `figures`     — loads and checks that file; `Figures.masked()` hides held-out values;
- `settings`    — `Settings` and the `PRESETS` (full, quick, tiny);
- `stats`       — means with t intervals, paired changes over common seeds;
- `extras`      — outcome extras computed on a finished model (robbery times, same-day
  resolution, full-time placement, queue waits) and their catalogue entries;
- `guigang`     — the held-out check: fit 2015, predict 2016 from the scenario files'
  difference, then compare (the only module that imports `sim.analysis.calibration`);
- `cities`      — Jincheng, Fangchenggang, Huizhou, Laibin against their documents;
- `queues`      — the grid rung against M/M/1 and Erlang C;
- `levers`      — each lever alone, paired steps, monotonicity;
- `sensitivity` — one-at-a-time screening of assumed parameters, then Sobol indices;
- `suite`       — runs the sections and writes one results directory (`validation.json`);
- `plots`, `report`, `report_checks`, `report_format` — figures and REPORT.md from the
  results alone (no number typed in);
- `cli`         — `gridsim validate [--quick] [--out DIR] [--docs] [--replot DIR]`; it is
  the command-line layer, so `sim.cli` imports `add_commands` from `sim.validation.cli`
  (this package may not import upwards, tests/test_house.py).

Runs go through `sim.experiments.pool.Runner`; replicate seeds are `sim.execute.replicate_seeds`.
"""

from __future__ import annotations

from .figures import Figure, FigureError, Figures, load_figures, parse_figures
from .guigang import compare, fit_and_predict, guigang_check, timeline_change
from .report import report_markdown, write_report
from .settings import PRESETS, Settings
from .stats import mean_ci, paired
from .suite import SECTIONS, run_checks, run_validation

__all__ = ["PRESETS", "SECTIONS", "Figure", "FigureError", "Figures", "Settings", "compare", "fit_and_predict",
           "guigang_check", "load_figures", "mean_ci", "paired", "parse_figures", "report_markdown", "run_checks",
           "run_validation", "timeline_change", "write_report"]
