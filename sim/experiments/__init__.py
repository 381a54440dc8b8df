"""Experiments: designs (factorial, Latin hypercube, Sobol), the runner (process pool or
Dask), the SQLite store of results, and the curves drawn from it.

Kept apart as in EMA Workbench: `design` knows the scenario schema but not the model,
`runner` runs the model and writes the `store`, `curves` reads only the store.
"""

from .design import Experiment, ExperimentError, load_experiment, run_seed
from .runner import run_sweep
from .store import Store

__all__ = ["Experiment", "ExperimentError", "Store", "load_experiment", "run_seed", "run_sweep"]
