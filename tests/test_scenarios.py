"""Every scenario file loads at full scale, cites its values, and runs a short horizon small."""

from __future__ import annotations

from pathlib import Path

import pytest

import sim
from sim.outcomes import summarise
from sim.scenario import flatten, leaves, read_raw

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted((ROOT / "scenarios").glob("*.yaml"))
CITIES = [f for f in FILES if f.stem != "default"]


def test_the_cities_are_all_there():
    assert {f.stem for f in CITIES} >= {"laibin", "huizhou", "jincheng", "fangchenggang", "guigang_2015", "guigang_2016"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_loads_and_runs_small(path):
    full = sim.load_scenario(path)
    assert full.scale == 1.0 and full.residents == full.population
    scale = min(1.0, 4000 / full.population)
    m = sim.GovernanceModel(full, rng=5, days=15, scale=scale)
    m.run()
    s = summarise(m)
    assert abs(s["residents"] - full.population * scale) <= 1
    # the partition follows the grid-size lever
    assert s["grids"] == pytest.approx(s["residents"] / full.residents_per_grid, rel=0.25, abs=1.5)
    assert s["disputes"] > 0 and 0 <= s["population_share_safe"] <= 1


@pytest.mark.parametrize("path", CITIES, ids=lambda p: p.stem)
def test_city_values_carry_sources(path):
    """Every value a city file sets names its source (a figure, or the word assumption)."""
    raw = read_raw(path)
    set_keys = {k.removesuffix(".value") for k in flatten(raw) if k.endswith(".value")}
    plain = {k for k in flatten(raw) if not k.endswith((".value", ".source")) and k not in ("name", "description")
             and not k.startswith("sources.")}
    assert not plain, f"values without a source in {path.name}: {sorted(plain)}"
    s = sim.load_scenario(path)
    assert set_keys <= set(s.sources)
    assert all(len(s.sources[k]) > 10 for k in set_keys)
    assert set_keys <= set(leaves())


def test_guigang_years_differ_only_in_what_changed():
    a = sim.load_scenario(ROOT / "scenarios" / "guigang_2015.yaml").flat()
    b = sim.load_scenario(ROOT / "scenarios" / "guigang_2016.yaml").flat()
    differ = {k for k in a if a[k] != b[k]}
    assert differ == {"name", "description", "camera_coverage"}
    assert b["camera_coverage"] > a["camera_coverage"]


def test_extends_errors_name_the_file_that_set_the_key(tmp_path):
    """A bad value inherited through `extends:` is blamed on the parent that wrote it."""
    (tmp_path / "parent.yaml").write_text("fulltime_ratio: 2\n")
    (tmp_path / "child.yaml").write_text("extends: parent.yaml\nname: child\n")
    (tmp_path / "fixed.yaml").write_text("extends: parent.yaml\nfulltime_ratio: 0.5\ndays: 0\n")
    with pytest.raises(sim.ScenarioError, match=r"parent\.yaml \(extended by .*child\.yaml\): key 'fulltime_ratio'"):
        sim.load_scenario(tmp_path / "child.yaml")
    with pytest.raises(sim.ScenarioError, match=r"^\S*fixed\.yaml: key 'days'"):
        sim.load_scenario(tmp_path / "fixed.yaml")
