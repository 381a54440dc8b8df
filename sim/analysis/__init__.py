"""Analysis: what the results mean, read from a sweep's store or computed by calibration.

Nothing here defines the model or runs an experiment's design by itself: `curves` reads a
sweep store (`sim.experiments.store`) and draws it (`sweep_figures`: paired differences,
heatmaps, daily series); `posterior` turns a `--posterior` sweep's draws into bands, paired
intervals and costs per point; `calibration` fits assumed parameters
through the experiments' `Runner` (a point fit); `targets`, `abc`, `calibration_out` and
`calibration_plots` give a posterior by ABC-SMC (pyabc) from a targets file (docs/CALIBRATION.md).  Layers import only downward: model ← experiments ←
analysis and validation ← cli.
"""
