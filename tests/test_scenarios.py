"""Every scenario file loads at full scale, cites its values, and runs a short horizon small."""

from __future__ import annotations

import os
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
    # a trajectory runs its whole calendar (a timeline's dates must fall in the run), with a short warm-up
    shape = {"warmup_days": 10} if full.timeline else {"days": 15}
    m = sim.GovernanceModel(full, rng=5, scale=scale, **shape)
    m.run()
    s = summarise(m)
    assert abs(s["residents"] - full.population * scale) <= 1
    # the partition follows the grid-size lever (the one in force at the end)
    assert s["grids"] == pytest.approx(s["residents"] / m.params.residents_per_grid, rel=0.25, abs=1.5)
    assert s["disputes"] > 0 and 0 <= s["population_share_safe"] <= 1


@pytest.mark.parametrize("path", CITIES, ids=lambda p: p.stem)
def test_city_values_carry_sources(path):
    """Every value a city file sets names its source (a figure, or the word assumption)."""
    raw = read_raw(path)
    set_keys = {k.removesuffix(".value") for k in flatten(raw) if k.endswith(".value")}
    plain = {k for k in flatten(raw) if not k.endswith((".value", ".source")) and k not in ("name", "description", "timeline")
             and not k.startswith("sources.")}
    assert not plain, f"values without a source in {path.name}: {sorted(plain)}"
    s = sim.load_scenario(path)
    assert all(len(e["source"]) > 10 for e in s.timeline)      # each dated change carries its own source
    assert set_keys <= set(s.sources)
    assert all(len(s.sources[k]) > 10 for k in set_keys)
    assert set_keys <= set(leaves())


def test_guigang_years_differ_only_in_what_changed():
    a = sim.load_scenario(ROOT / "scenarios" / "guigang_2015.yaml").flat()
    b = sim.load_scenario(ROOT / "scenarios" / "guigang_2016.yaml").flat()
    differ = {k for k in a if a[k] != b[k]}
    assert differ == {"name", "description", "crime.camera_stock_per_1000"}
    # 8,174 cameras in 2016, 1,334 fewer in 2015, in 934 of the 1,156 villages both years; coverage derived
    assert round(b["crime.camera_stock_per_1000"] * b["population"] / 1000) == 8174
    assert round(a["crime.camera_stock_per_1000"] * a["population"] / 1000) == 8174 - 1334
    assert a["crime.camera_village_share"] == pytest.approx(934 / 1156, abs=5e-4)
    assert a["camera_coverage"] is None and b["camera_coverage"] is None


def test_both_huizhou_readings_load_and_differ_only_in_the_grids():
    """进一步优化全市13614个综合(基础)网格,整合重构基层综合网格8271个 reads two ways: 13,614 merged into
    8,271 (huizhou.yaml) or 8,271 rebuilt among 13,614 (huizhou_13614.yaml)."""
    a = sim.load_scenario(ROOT / "scenarios" / "huizhou.yaml")
    b = sim.load_scenario(ROOT / "scenarios" / "huizhou_13614.yaml")
    fa, fb = a.flat(), b.flat()
    assert {k for k in fa if fa[k] != fb[k]} == {"name", "description", "residents_per_grid"}
    assert a.population / a.residents_per_grid == pytest.approx(8271, abs=1)
    assert b.population / b.residents_per_grid == pytest.approx(13614, abs=1)


def test_every_city_file_points_inside_the_repository():
    """Comments and sources cite docs/CITIES.md, never the shared folder a clone does not have."""
    cities = (ROOT / "docs" / "CITIES.md").read_text(encoding="utf-8")
    for path in CITIES:
        text = path.read_text(encoding="utf-8")
        assert "/work/" not in text and "../shared" not in text and "shared/" not in text, path.name
        assert "docs/CITIES.md" in text, path.name
    for name in ("Guigang", "Laibin", "Huizhou", "Jincheng", "Fangchenggang"):
        assert f"## {name}" in cities


@pytest.mark.parametrize("path", CITIES, ids=lambda p: p.stem)
def test_city_quotes_are_in_docs_cities(path):
    """Every Chinese quote a city file's values cite appears verbatim in docs/CITIES.md."""
    import re

    cities = (ROOT / "docs" / "CITIES.md").read_text(encoding="utf-8")
    s = sim.load_scenario(path)
    for key, source in [*s.sources.items(), *((f"timeline[{i}]", e["source"]) for i, e in enumerate(s.timeline))]:
        for quote in re.findall(r"[\u4e00-\u9fff][^\sA-Za-z;,]*[\u4e00-\u9fff)）%]", source):
            while quote.endswith(")") and quote.count(")") > quote.count("("):    # the citation's own bracket
                quote = quote[:-1]
            for part in quote.split("…"):
                assert part in cities, f"{path.name} {key}: {part!r} not in docs/CITIES.md"


def test_extends_errors_name_the_file_that_set_the_key(tmp_path):
    """A bad value inherited through `extends:` is blamed on the parent that wrote it."""
    (tmp_path / "parent.yaml").write_text("fulltime_ratio: 2\n")
    (tmp_path / "child.yaml").write_text("extends: parent.yaml\nname: child\n")
    (tmp_path / "fixed.yaml").write_text("extends: parent.yaml\nfulltime_ratio: 0.5\ndays: 0\n")
    with pytest.raises(sim.ScenarioError, match=r"parent\.yaml \(extended by .*child\.yaml\): key 'fulltime_ratio'"):
        sim.load_scenario(tmp_path / "child.yaml")
    with pytest.raises(sim.ScenarioError, match=r"^\S*fixed\.yaml: key 'days'"):
        sim.load_scenario(tmp_path / "fixed.yaml")


SEEDS = Path(os.environ.get("GRIDSIM_SEEDS", ROOT.parent / "shared" / "seeds"))


@pytest.mark.skipif(not SEEDS.is_dir(), reason="seed documents not available")
def test_every_quote_in_docs_cities_is_verbatim_in_its_document():
    """The quote column of each city's table in docs/CITIES.md, against that city's seed."""
    import re

    text = (ROOT / "docs" / "CITIES.md").read_text(encoding="utf-8")
    checked = 0
    for section in text.split("\n## ")[1:]:
        seed = re.search(r"seed\s+`(\d{3}_[0-9a-f]+\.txt)`", section)
        if not seed:
            continue
        doc = (SEEDS / seed.group(1)).read_text(encoding="utf-8")
        for row in section.splitlines():
            cells = [c.strip() for c in row.strip().strip("|").split("|")]
            if len(cells) == 4 and re.search(r"[\u4e00-\u9fff]", cells[2]):
                for part in cells[2].split("…"):
                    assert part in doc, f"{section.splitlines()[0]}: {part!r} not in {seed.group(1)}"
                checked += 1
    assert checked >= 40
