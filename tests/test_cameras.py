"""Cameras as a stock (`crime.camera_stock_per_1000`) beside cameras as the coverage lever.

- the stock is placed exactly: round(stock × residents / 1,000) cameras, whatever the town;
- round(camera_village_share × communities) communities get a camera, the densest first, each
  on its busiest public cell first; cameras_per_covered_cell cameras per covered cell;
- the derived coverage (outcome camera_coverage_derived) is covered public cells / public cells;
- a scenario that sets both a stock and camera_coverage is refused in one line, from a file,
  from --set and from the CLI; the lever still works on the default, sweeps and all;
- placing cameras draws only on the `cameras` stream (common random numbers).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.cli import main
from sim.outcomes import summarise
from sim.town import Town

ROOT = Path(__file__).resolve().parent.parent
LAIBIN = ROOT / "scenarios" / "laibin.yaml"


def stock_scenario(stock: float, share: float = 1.0, per_cell: float = 1.0, **extra) -> sim.Scenario:
    return sim.Scenario().with_overrides({
        "population": 30_000, "scale": 1.0, "days": 3, "warmup_days": 0, "residents_per_grid": 500,
        "town.residents_per_community": 1500, "camera_coverage": None, "crime.camera_stock_per_1000": stock,
        "crime.camera_village_share": share, "crime.cameras_per_covered_cell": per_cell, **extra}, "test")


def model(sc: sim.Scenario, seed: int = 4) -> sim.GovernanceModel:
    return sim.GovernanceModel(sc, rng=seed)


# --------------------------------------------------------------------------- placement
@pytest.mark.parametrize("stock,share,per_cell", [(0.0, 1.0, 1.0), (0.7, 0.5, 1.0), (1.894, 0.808, 1.0), (2.0, 1.0, 2.5),
                                                  (16.9, 1.0, 1.0), (50.0, 0.3, 1.0), (3.3, 0.0, 1.0)])
def test_the_stock_is_placed_exactly_in_the_share_of_communities(stock, share, per_cell):
    m = model(stock_scenario(stock, share, per_cell))
    t, n = m.town, m.params.residents
    assert m.cameras == round(stock * n / 1000)                              # the count, exactly
    assert not (t.covered & ~t.public).any()                                 # cameras hang in public space
    with_cam = np.bincount(t.cell_community[t.covered], minlength=t.n_communities) > 0
    k = round(share * t.n_communities)
    chosen_cells = t.public & np.isin(t.cell_community, np.flatnonzero(with_cam))
    capacity = int((t.public & np.isin(t.cell_community, np.argsort(-density(t), kind="stable")[:k])).sum())
    want_cells = min(math.floor(m.cameras / per_cell + 1e-9), capacity)
    assert t.covered.sum() == want_cells
    if want_cells >= k:                                                      # enough cameras for every chosen village
        assert with_cam.sum() == k
        # the densest communities are the ones with cameras
        assert set(np.flatnonzero(with_cam)) == set(np.argsort(-density(t), kind="stable")[:k])
        # each has its busiest public cell covered
        for c in np.flatnonzero(with_cam):
            cells = np.flatnonzero(t.public & (t.cell_community == c))
            assert t.covered[cells[np.argmax(t.pop[cells])]] or t.pop[cells].max() == t.pop[cells[t.covered[cells]]].max()
    else:
        assert with_cam.sum() == want_cells
    assert chosen_cells.sum() >= t.covered.sum()
    s = summarise(m.run())
    assert s["cameras"] == m.cameras and s["cameras_per_1000"] == pytest.approx(1000 * m.cameras / n)
    assert s["camera_coverage_derived"] == pytest.approx(t.covered.sum() / t.public.sum())
    assert s["communities_with_camera_share"] == pytest.approx(with_cam.mean())


def density(t: Town) -> np.ndarray:
    return t.community_pop / np.bincount(t.cell_community, minlength=t.n_communities)


def test_busiest_public_cells_first_beyond_one_per_community():
    m = model(stock_scenario(2.0, 0.6))
    t = m.town
    chosen = np.flatnonzero(np.bincount(t.cell_community[t.covered], minlength=t.n_communities) > 0)
    in_chosen = t.public & np.isin(t.cell_community, chosen)
    # no uncovered public cell of a chosen community is busier than the quietest covered cell beyond the first ones
    firsts = set()
    for c in chosen:
        cells = np.flatnonzero(in_chosen & (t.cell_community == c) & t.covered)
        firsts.add(int(cells[np.argmax(t.pop[cells])]))
    rest = [c for c in np.flatnonzero(t.covered) if c not in firsts]
    if rest:
        assert t.pop[np.flatnonzero(in_chosen & ~t.covered)].max(initial=0) <= t.pop[rest].min()


def test_more_cameras_per_cell_cover_less_and_coverage_saturates():
    cov = [summarise(model(stock_scenario(16.9, 1.0, pc)).run())["camera_coverage_derived"] for pc in (1.0, 5.0, 20.0)]
    assert cov[0] == 1.0 and cov[0] > cov[1] > cov[2] > 0


def test_the_lever_still_places_a_coverage():
    sc = sim.Scenario().with_overrides({"population": 20_000, "days": 2, "warmup_days": 0}, "test")
    for coverage in (0.0, 0.3, 1.0):
        m = sim.GovernanceModel(sc, rng=3, camera_coverage=coverage)
        t = m.town
        assert t.covered.sum() == round(coverage * t.public.sum())
        assert m.cameras == round(t.covered.sum() * sc.crime.cameras_per_covered_cell)
        assert summarise(m.run())["camera_coverage_derived"] == pytest.approx(t.covered.sum() / t.public.sum())


# --------------------------------------------------------------------------- common random numbers
def test_placing_cameras_draws_only_on_the_cameras_stream():
    a, b = model(stock_scenario(0.5, 0.5)), model(stock_scenario(8.0, 1.0))
    c = sim.GovernanceModel(stock_scenario(1.0).with_overrides({"crime.camera_stock_per_1000": None, "camera_coverage": 0.7}), rng=4)
    for other in (b, c):
        for name in a.streams:
            if name != "cameras":
                assert a.streams[name].bit_generator.state == other.streams[name].bit_generator.state, name
        for arr in ("pop", "public", "grid", "cell_community"):
            assert np.array_equal(getattr(a.town, arr), getattr(other.town, arr))
        assert np.array_equal(a.population.safety, other.population.safety)
    assert not np.array_equal(a.town.covered, b.town.covered)
    # the same scenario and seed place the same cameras
    assert np.array_equal(a.town.covered, model(stock_scenario(0.5, 0.5)).town.covered)


# --------------------------------------------------------------------------- one way or the other
def test_both_a_stock_and_a_coverage_are_refused_in_one_line(tmp_path):
    laibin = sim.load_scenario(LAIBIN)
    assert laibin.camera_coverage is None and laibin.crime.camera_stock_per_1000 > 0
    with pytest.raises(sim.ScenarioError, match=r"camera_coverage and crime.camera_stock_per_1000 are both set") as err:
        sim.load_scenario(LAIBIN, {"camera_coverage": 0.3})
    assert "\n" not in str(err.value) and "crime.camera_stock_per_1000=null" in str(err.value)
    with pytest.raises(sim.ScenarioError, match="both set"):
        sim.GovernanceModel(laibin, camera_coverage=0.3)
    # the documented way out: drop the stock, then the lever is the lever again
    swept = sim.load_scenario(LAIBIN, {"crime.camera_stock_per_1000": None, "camera_coverage": 0.3})
    assert swept.camera_coverage == 0.3 and swept.crime.camera_stock_per_1000 is None
    # a file writing both, and a file writing neither
    both = tmp_path / "both.yaml"
    both.write_text("camera_coverage: 0.4\ncrime:\n  camera_stock_per_1000: 2\n")
    with pytest.raises(sim.ScenarioError, match=r"both\.yaml: camera_coverage and crime\.camera_stock_per_1000 are both set") as err:
        sim.load_scenario(both)
    assert "\n" not in str(err.value)
    neither = tmp_path / "neither.yaml"
    neither.write_text("camera_coverage: null\n")
    with pytest.raises(sim.ScenarioError, match="camera_coverage is null but crime.camera_stock_per_1000 is not set"):
        sim.load_scenario(neither)
    # a stock alone leaves the coverage derived; a stock needs cameras per covered cell
    alone = tmp_path / "alone.yaml"
    alone.write_text("crime:\n  camera_stock_per_1000: 2\n")
    assert sim.load_scenario(alone).camera_coverage is None
    with pytest.raises(sim.ScenarioError, match="cameras_per_covered_cell must be > 0"):
        sim.load_scenario(alone, {"crime.cameras_per_covered_cell": 0})
    with pytest.raises(sim.ScenarioError, match="expects a number, got true"):
        sim.load_scenario(alone, {"crime.camera_stock_per_1000": True})


def test_the_cli_refuses_a_coverage_on_a_stock_city_in_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["run", str(LAIBIN), "--set", "camera_coverage=0.3", "--days", "2", "--scale", "0.01", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "both set" in err and "crime.camera_stock_per_1000=null" in err
    assert not out.exists()
    exp = tmp_path / "sweep.yaml"
    exp.write_text(f"scenario: {LAIBIN}\nseed: 1\ndays: 2\nscale: 0.01\naxes:\n  camera_coverage: [0.2, 0.8]\n")
    rc = main(["sweep", str(exp), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "both set" in err, err


def test_a_sweep_of_the_coverage_on_the_default_still_runs():
    sc = sim.load_scenario(ROOT / "scenarios" / "default.yaml")
    assert sc.camera_coverage == 0.5 and sc.crime.camera_stock_per_1000 is None
    cov = [summarise(sim.GovernanceModel(sc, rng=2, camera_coverage=c, days=2, scale=0.02, warmup_days=0).run())
           ["camera_coverage_derived"] for c in (0.0, 0.5, 1.0)]
    assert cov[0] == 0.0 and cov[2] == 1.0 and 0.0 < cov[1] < 1.0
