"""Analysis: what the results mean, read from a sweep's store or computed by calibration.

Nothing here defines the model or runs an experiment's design by itself: `curves` reads a
sweep store (`sim.experiments.store`) and draws it; `calibration` fits assumed parameters
through the experiments' `Runner`.  Layers import only downward: model ← experiments ←
analysis and validation ← cli.
"""
