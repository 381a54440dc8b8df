"""How big and how many: the presets trade time for precision.

Kept apart from the checks so that a test can shrink every section with one `replace`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """Run sizes of every section (city runs, the default district, the queue check)."""

    name: str
    scale: float            # city runs: representative fraction
    days: int
    fit_replicates: int
    predict_replicates: int
    city_replicates: int
    screen: bool            # screen every assumed parameter (else sensitivity.FALLBACK_ASSUMED)
    screen_replicates: int
    district_scale: float   # default district (100,000 residents) for screening, Sobol, levers
    district_days: int
    sobol_n: int            # power of 2; runs = n × (d + 2)
    bootstrap: int
    noise_replicates: int
    queue_days: int
    queue_replicates: int
    utilisations: tuple[float, ...]
    lever_replicates: int


PRESETS = {
    "full": Settings("full", scale=0.1, days=365, fit_replicates=4, predict_replicates=12, city_replicates=8, screen=True,
                     screen_replicates=2, district_scale=0.3, district_days=365, sobol_n=128, bootstrap=999,
                     noise_replicates=8, queue_days=365, queue_replicates=10, utilisations=(0.3, 0.5, 0.7, 0.8, 0.9),
                     lever_replicates=8),
    "quick": Settings("quick", scale=0.02, days=180, fit_replicates=3, predict_replicates=6, city_replicates=3, screen=True,
                      screen_replicates=1, district_scale=0.1, district_days=180, sobol_n=16, bootstrap=199,
                      noise_replicates=4, queue_days=150, queue_replicates=3, utilisations=(0.3, 0.6, 0.8),
                      lever_replicates=3),
    # for the test suite: every section, seconds in all
    "tiny": Settings("tiny", scale=0.004, days=40, fit_replicates=2, predict_replicates=3, city_replicates=2, screen=False,
                     screen_replicates=1, district_scale=0.03, district_days=40, sobol_n=4, bootstrap=49,
                     noise_replicates=2, queue_days=30, queue_replicates=2, utilisations=(0.5,),
                     lever_replicates=2),
}
