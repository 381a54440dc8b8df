"""Timelines carried out in the running model (sim/timeline_run.py): no cost without one, structural
changes take effect on their day, memories and queues carry over, common random numbers before a
change, per-period outcomes that add up, sweeps over a change, and one-line refusals."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from conftest import run, small_default, stressed
from sim.agents import GridWorker, Mediator, PoliceOfficer
from sim.catalogue import PERIODIC
from sim.outcomes import periods, summarise, window_outcomes
from sim.scenario import ScenarioError, leaves
from sim.scenario.timeline_read import is_fixed
from sim.timeline_run import apply_changes

ROOT = Path(__file__).resolve().parent.parent
FRAME = {"start_date": "2016-01-01", "warmup_days": 30, "days": 200}


def fingerprint(m) -> str:
    """One hash of everything a run produced: summary, daily series, event tables, residents, surveys."""
    h = hashlib.sha256()
    s = summarise(m)
    h.update(json.dumps({k: (repr(float(v)) if isinstance(v, float) else v) for k, v in s.items()}, sort_keys=True).encode())
    df = m.datacollector.get_model_vars_dataframe()
    h.update(",".join(df.columns).encode())
    h.update(np.ascontiguousarray(df.to_numpy(dtype=float)).tobytes())
    for t in (m.disputes.table, m.crime.table):
        for k in t.schema:
            h.update(np.ascontiguousarray(getattr(t, k)[: t.n]).tobytes())
    for a in (m.population.safety, m.population.trust, m.population.victim_memory, m.population.dispute_memory):
        h.update(a.tobytes())
    # each survey as recorded at the pin (`expected_share_safe`, a quantity derived without a draw, came later)
    h.update(json.dumps([{k: v for k, v in x.items() if k != "expected_share_safe"} for x in m.perception.survey],
                        sort_keys=True).encode())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------- no cost without a timeline
#: recorded from the model at commit 2edc02e, before timelines were wired in: a scenario without a
#: timeline must give these bit for bit (the same draws in the same order)
PINNED = {
    "default": (lambda: small_default(scale=0.05, days=100), 4242, "9ac0e67309031571", 47, 6, 0.788),
    "stressed": (lambda: stressed(scale=0.05, days=60), 11, "a55c9ea8ac970ec7", 223, 173, 0.671),
    "laibin": (lambda: sim.load_scenario(ROOT / "scenarios" / "laibin.yaml").with_overrides(
        {"scale": 0.002, "days": 60, "warmup_days": 30}), 5, "f726c0a178a24bb8", 27, 2, 0.805),
    "guigang": (lambda: sim.load_scenario(ROOT / "scenarios" / "guigang_2015.yaml").with_overrides(
        {"scale": 0.001, "days": 40, "warmup_days": 20}), 6, "ce791060e1c97f1a", 17, 0, math.nan),
    "bigger": (lambda: small_default(scale=0.2, days=200, warmup_days=60, camera_coverage=0.3), 99, "e2cde928112913eb", 327, 47,
               0.784),
}


@pytest.mark.parametrize("name", list(PINNED))
def test_without_a_timeline_runs_are_bit_identical_to_before_timelines(name):
    make, seed, fp, disputes, incidents, survey = PINNED[name]
    m = run(make(), seed)
    s = summarise(m)
    assert (s["disputes"], s["incidents"]) == (disputes, incidents)
    assert s["survey_share_safe"] == survey or (math.isnan(survey) and math.isnan(s["survey_share_safe"]))
    assert fingerprint(m) == fp
    assert m.timeline is None and m.levels[1:] == []


# --------------------------------------------------------------------------- helpers
def scenario(*changes, **extra):
    return small_default(scale=0.05, **{**FRAME, **extra}).with_overrides({"timeline": list(changes)}, "t")


def step(on, label=None, **values):
    return {"on": on, "set": values, "source": "assumption", **({"label": label} if label else {})}


def run_until(m, day):
    """Step until `day` is the next day to run (days 0 … day−1 done)."""
    while m.steps < day:
        m.step()
    return m


def check_consistent(m):
    """The structures agree with each other after any change."""
    t, pop, gw, d = m.town, m.population, m.grid_work, m.disputes
    assert np.array_equal(pop.grid, t.grid[pop.home])
    assert np.array_equal(pop.grid_first, np.searchsorted(pop.grid, np.arange(t.n_grids + 1)))
    assert all(len(set(t.cell_community[t.grid == g])) == 1 for g in range(t.n_grids))     # grids nest in communities
    tab = d.table
    live = np.flatnonzero((tab.status[: tab.n] == 0) | (tab.status[: tab.n] == 1))
    assert np.array_equal(tab.grid[live], t.grid[tab.cell[live]])
    assert np.array_equal(d.open_by_grid, np.bincount(tab.grid[live], minlength=t.n_grids))
    assert d.pools[0] is gw.pool and d.grid_skill is gw.skill and d.pools[3] is m.crime.police
    assert gw.pool.unit.max() < t.n_grids and len(gw.households) == t.n_grids == len(m.perception.visit_rate)
    workers = sorted(m.agents_by_type[GridWorker], key=lambda a: a.server)
    assert len(workers) == gw.n_workers and all(a.pool is gw.pool and a.unit == gw.pool.unit[a.server] for a in workers)
    assert [a.fulltime for a in workers] == list(gw.fulltime)
    assert len(m.agents_by_type[PoliceOfficer]) == m.crime.police.n
    assert len(m.agents_by_type[Mediator]) == d.pools[1].n + d.pools[2].n


# --------------------------------------------------------------------------- structural changes take effect on their day
def test_grid_size_and_staff_change_on_the_day_and_memories_carry_over():
    s = scenario(step("2016-03-01", "merge", residents_per_grid=1600, **{"staffing.workers_per_grid": 2}),
                 step("2016-05-01", "split", residents_per_grid=400, **{"town.grid_size_cv": 0.2}))
    m = sim.GovernanceModel(s, rng=3)
    d1 = m.timeline.day_of("2016-03-01")
    run_until(m, d1)
    before = {"grids": m.town.n_grids, "workers": m.grid_work.n_workers}
    mem = {k: getattr(m.population, k).copy() for k in ("safety", "trust", "victim_memory", "dispute_memory")}
    heap, backlog, hearsay = list(m.events.heap), m.disputes.backlog.copy(), m.perception.hearsay.copy()
    m.step()                                            # day d1: the change applies at its first hour
    assert (before["grids"], before["workers"]) == (7, 21)
    assert m.town.n_grids == 4 and m.grid_work.n_workers == 8 and m.params.residents_per_grid == 1600
    check_consistent(m)
    # the events pending at the change are still there, or were handled during the day
    gone = set(map(tuple, heap)) - set(map(tuple, m.events.heap))
    assert all(e[0] < (d1 + 1) * 24 for e in gone)
    del mem, backlog, hearsay         # (their carrying over is checked without the day's own events below)
    d2 = m.timeline.day_of("2016-05-01")
    run_until(m, d2)
    m.step()
    assert m.town.n_grids > 7 and m.params.town.grid_size_cv == 0.2
    check_consistent(m)
    m.run()
    assert summarise(m)["grids"] == m.town.n_grids


def test_applying_changes_leaves_memories_and_queues_as_they_were():
    s = scenario(step("2016-03-01", residents_per_grid=1600, fulltime_ratio=0.6, camera_coverage=0.9,
                      **{"staffing.police_per_10k": 25, "staffing.mediators_per_10k": 8}))
    m = sim.GovernanceModel(s, rng=4)
    day = m.timeline.day_of("2016-03-01")
    run_until(m, day)
    snap = {k: getattr(m.population, k).copy() for k in ("safety", "trust", "victim_memory", "dispute_memory", "base_safety")}
    heap = sorted(m.events.heap)
    tables = (m.disputes.table.frame().drop(columns="grid"), m.crime.table.frame().drop(columns="grid"))
    backlog, publicity = m.disputes.backlog.copy(), m.perception.publicity
    m._change_days.remove(day)
    apply_changes(m, day)
    for k, v in snap.items():
        np.testing.assert_array_equal(getattr(m.population, k), v)
    assert sorted(m.events.heap) == heap and m.perception.publicity == publicity
    np.testing.assert_array_equal(m.disputes.backlog, backlog)
    pd.testing.assert_frame_equal(m.disputes.table.frame().drop(columns="grid"), tables[0])
    pd.testing.assert_frame_equal(m.crime.table.frame().drop(columns="grid"), tables[1])
    check_consistent(m)
    m.run()


def test_kept_staff_keep_their_bookings_and_new_ones_start_free():
    s = scenario(step("2016-03-01", **{"staffing.workers_per_grid": 4}))
    m = sim.GovernanceModel(s, rng=5)
    day = m.timeline.day_of("2016-03-01")
    run_until(m, day)
    old = m.grid_work.pool
    m.step()
    new = m.grid_work.pool
    assert new.n == 4 * m.town.n_grids and old.n == 3 * m.town.n_grids
    first = [int(new.first[g]) for g in range(m.town.n_grids)]
    kept = [f + r for f in first for r in range(3)]
    np.testing.assert_array_equal(new.busy[kept, : day], old.busy[:, : day])   # the same people, their past books
    hired = [f + 3 for f in first]
    assert not new.busy[hired, : day].any()


def test_cameras_are_added_not_reshuffled():
    ramp = {"from": "2016-02-01", "to": "2016-04-30", "set": {"camera_coverage": 0.9}, "source": "assumption"}
    s = scenario(ramp, camera_coverage=0.2)
    m = sim.GovernanceModel(s, rng=6)
    seen = []
    while m.running:
        m.step()
        seen.append((m.cameras, m.town.covered.copy()))
    counts = [c for c, _ in seen]
    assert counts[0] < counts[-1] and all(b >= a for a, b in zip(counts, counts[1:]))
    for (_, a), (_, b) in zip(seen, seen[1:]):
        assert not (a & ~b).any()                      # a covered cell stays covered while cameras are added
    day = m.timeline.day_of("2016-04-30")
    assert counts[day] == m.cameras and counts[day - 1] <= counts[day]


def test_a_camera_stock_grows_on_its_days_in_the_densest_communities():
    base = sim.load_scenario(ROOT / "scenarios" / "guigang_2015_2016.yaml").with_overrides({"scale": 0.003, "warmup_days": 20}, "t")
    m = sim.GovernanceModel(base, rng=7)
    d0 = m.timeline.day_of("2016-01-01")
    run_until(m, d0)
    before, covered = m.cameras, m.town.covered.copy()
    m.run()
    assert before == round(1.5847 * base.residents / 1000) and m.cameras == round(1.89377 * base.residents / 1000)
    assert not (covered & ~m.town.covered).any()
    lv = [lv["cameras"] for _, lv in m.levels]
    assert lv == sorted(lv) and lv[0] == before and lv[-1] == m.cameras


def test_every_key_a_timeline_may_change_reaches_the_submodels():
    """No silent ignore: for each leaf that is not fixed, a step changing it runs, and after its day every
    submodel holds the section in force."""
    base = small_default(scale=0.02, **{**FRAME, "days": 12, "warmup_days": 2})
    flat = base.flat()
    changed = []
    for key in leaves():
        if is_fixed(key):
            continue
        new = _another(flat[key])
        if new is None:
            continue
        try:
            s = base.with_overrides({"timeline": [step("2016-01-05", **{key: new})]}, "t")
        except ScenarioError:
            continue          # that other value breaks a rule across keys: not this test's business
        m = sim.GovernanceModel(s, rng=1)
        m.run()
        p = m.params
        assert p.flat()[key] != flat[key], key
        assert m.crime.c == p.crime and m.disputes.d == p.disputes and m.perception.p == p.perception, key
        assert m.grid_work.staffing == p.staffing and m.disputes.rungs == [getattr(p.ladder, r) for r in sim.scenario.RUNGS], key
        check_consistent(m)
        changed.append(key)
    assert len(changed) > 100 and {"residents_per_grid", "camera_coverage", "staffing.police_posting"} <= set(changed)


def _another(value):
    """A different value of a leaf, likely valid, or None."""
    swap = {"lead_workers": "dense_grids", "dense_grids": "lead_workers", "cases_first": "routine_first",
            "routine_first": "cases_first", "village": "station", "station": "village"}
    if isinstance(value, bool):
        return not value
    if isinstance(value, list | tuple):
        return [x * 0.9 + 0.01 if x < 0.9 else x * 0.95 for x in value]
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 0.85 + (0.0071 if value < 0.5 else 0.0)
    return swap.get(value) if isinstance(value, str) else None


# --------------------------------------------------------------------------- common random numbers
def test_runs_differing_only_in_a_change_dated_D_agree_before_D():
    late = step("2016-05-10", residents_per_grid=1600, camera_coverage=0.9, **{"staffing.police_per_10k": 30})
    later = step("2016-06-20", residents_per_grid=1600, camera_coverage=0.9, **{"staffing.police_per_10k": 30})
    a = run(scenario(late), 17)
    b = run(scenario(later), 17)
    c = run(small_default(scale=0.05, **FRAME), 17)                # the same calendar, no change at all
    d = a.timeline.day_of("2016-05-10") - a.params.warmup_days    # rows of the daily series before D
    da, db, dc = (m.datacollector.get_model_vars_dataframe() for m in (a, b, c))
    pd.testing.assert_frame_equal(da.iloc[:d], db.iloc[:d], check_exact=True)
    pd.testing.assert_frame_equal(da.iloc[:d], dc.iloc[:d], check_exact=True)
    assert not da.iloc[d:].equals(db.iloc[d:])
    pa, pb, pc = periods(a), periods(b), periods(c)
    ended_before = [k for k in pa if pd.Timestamp(pa[k]["last_date"]) < pd.Timestamp("2016-05-10")]
    assert ended_before == ["2016Q1"]
    for k in ended_before:
        assert json.dumps(pa[k]) == json.dumps(pb[k]) == json.dumps(pc[k])
    assert json.dumps(pa["2016Q3"]) != json.dumps(pb["2016Q3"])
    assert [x for x in a.perception.survey if x["day"] < d] == [x for x in b.perception.survey if x["day"] < d]


# --------------------------------------------------------------------------- per period
def test_periods_add_up_to_the_whole_run():
    s = scenario({"from": "2016-02-01", "to": "2016-11-30", "set": {"fulltime_ratio": 0.7}, "source": "assumption"},
                 step("2016-07-01", residents_per_grid=1200), days=366)
    m = run(s, 8)
    whole, per = summarise(m), periods(m)
    quarters = [v for k, v in per.items() if "Q" in k]
    assert [k for k in per] == ["2016Q1", "2016Q2", "2016Q3", "2016Q4", "2016"]
    assert set(per["2016"]) == set(PERIODIC) | {"first_date", "last_date", "partial"}
    for key in ("disputes", "incidents", "disputes_resolved_in_period", "days"):
        assert sum(q[key] for q in quarters) == per["2016"][key]
    assert per["2016"]["disputes"] == whole["disputes"] and per["2016"]["incidents"] == whole["incidents"]
    # yearly rates and time-averaged costs are the day-weighted means of the quarters'
    for key in ("disputes_per_10k_year", "incidents_per_10k_year", "cost_yuan_per_year"):
        assert sum(q[key] * q["days"] for q in quarters) / 366 == pytest.approx(per["2016"][key], rel=1e-12)
    assert per["2016"]["cost_yuan_per_year"] == pytest.approx(whole["cost_yuan_per_year"], rel=1e-12)
    assert per["2016"]["incidents_per_10k_year"] == pytest.approx(whole["incidents_per_10k_year"], rel=1e-12)
    assert per["2016Q4"]["grids"] == whole["grids"] and per["2016Q1"]["grids"] > whole["grids"]
    # the survey of each quarter is dated its last day
    assert [x["date"] for x in m.perception.survey] == ["2016-03-31", "2016-06-30", "2016-09-30", "2016-12-31"]
    assert per["2016Q2"]["survey_share_safe"] == m.perception.survey[1]["share_safe"]
    # a window's outcomes are its own: the first day alone
    one = window_outcomes(m, m.params.warmup_days, m.params.warmup_days + 1)
    assert one["days"] == 1 and one["disputes"] == int(m.datacollector.get_model_vars_dataframe()["disputes_new"].iloc[0])


def test_summary_daily_series_and_plots_are_dated(tmp_path):
    from sim.run import run_scenario

    s = scenario(step("2016-03-01", "grids merged", residents_per_grid=1600),
                 {"from": "2016-04-01", "to": "2016-05-31", "multiply": {"crime.rate_per_10k_year.*": 0.5},
                  "source": "assumption", "label": "crackdown"})
    summary = run_scenario(s, tmp_path / "out", seed=2)
    assert summary["start_date"] == "2016-01-01" and list(summary["periods"])[:2] == ["2016Q1", "2016Q2"]
    assert [(e["date"], e["kind"]) for e in summary["events"]] == [("2016-03-01", "step"), ("2016-04-01", "campaign begins"),
                                                                    ("2016-06-01", "campaign ends")]
    assert summary["scenario"]["parameters"]["timeline"][0]["label"] == "grids merged"
    daily = pd.read_csv(tmp_path / "out" / "daily.csv")
    assert daily.columns[0] == "date" and daily["date"].iloc[0] == "2016-01-01" and daily["date"].iloc[-1] == "2016-07-18"
    assert (tmp_path / "out" / "trajectory.png").stat().st_size > 10_000
    on_disk = json.loads((tmp_path / "out" / "summary.json").read_text())
    q1 = on_disk["periods"]["2016Q1"]
    assert q1["grids"] == 4 and q1["first_date"] == "2016-01-01" and q1["last_date"] == "2016-03-31"   # levels on its last day
    costs = [lv["cost_grid_workers_yuan_per_year"] + lv["cost_cameras_yuan_per_year"] for _, lv in summary_levels(s)]
    assert min(costs) < q1["cost_yuan_per_year"] < max(costs)      # time-averaged over the quarter
    assert on_disk["periods"]["2016Q3"]["partial"] and not q1["partial"]


def summary_levels(s):
    m = run(s, 2)
    return m.levels


# --------------------------------------------------------------------------- sweeps over a change
def test_an_experiment_varies_a_changes_date_and_size(tmp_path):
    from sim.experiments.design import ExperimentError, load_experiment
    from sim.experiments.runner import run_sweep
    from sim.experiments.store import Store

    scen = tmp_path / "s.yaml"
    scen.write_text(f"extends: {ROOT / 'scenarios' / 'default.yaml'}\nscale: 0.02\nwarmup_days: 10\nstart_date: 2016-01-01\n"
                    "days: 120\ntimeline:\n  - on: 2016-03-01\n    set: {camera_coverage: 0.9}\n    source: assumption\n")
    exp = tmp_path / "e.yaml"
    exp.write_text(f"scenario: {scen}\nseed: 1\naxes:\n  timeline[0].on: ['2016-02-01', '2016-04-01']\n"
                   "  timeline[0].set.camera_coverage: [0.6, 0.9]\n")
    e = load_experiment(exp)
    assert e.n_runs == 4 and e.points[0] == {"timeline[0].on": "2016-02-01", "timeline[0].set.camera_coverage": 0.6}
    report = run_sweep(e, tmp_path / "sweep", workers=1, progress=False)
    assert report.done == 4 and report.failed == 0
    with Store.open(tmp_path / "sweep") as st:
        df = st.frame()
    assert {"cameras@2016Q1", "cameras@2016Q2", "survey_share_safe@2016Q1"} <= set(df.columns)
    early = df[df["axis.timeline[0].on"] == "2016-02-01"]
    assert (early["cameras@2016Q1"] > early["cameras@2016Q1"].min() - 1).all()
    assert df.groupby("axis.timeline[0].on")["cameras@2016Q1"].mean().diff().iloc[-1] < 0   # later build-out: fewer in Q1
    bad = tmp_path / "bad.yaml"
    for axes, pattern in (("  timeline[0].on: ['2016-09-01']\n", r"after the last day of the run"),
                          ("  timeline[2].on: ['2016-02-01']\n", r"has 1 change"),
                          ("  timeline[0].from: ['2016-02-01']\n", r"timeline\[0\] is a step"),
                          ("  timeline[0].set.camera_coverage: [1.5]\n", r"less than or equal to 1")):
        bad.write_text(f"scenario: {scen}\nseed: 1\naxes:\n{axes}")
        with pytest.raises(ExperimentError) as err:
            load_experiment(bad)
        assert "\n" not in str(err.value) and __import__("re").search(pattern, str(err.value)), str(err.value)
    bad.write_text(f"scenario: {scen}\nseed: 1\ndesign: lhs\nsamples: 4\naxes:\n  timeline[0].on: [1, 2]\n")
    with pytest.raises(ExperimentError, match="a change's date: give the dates as values of a factorial axis"):
        load_experiment(bad)


# --------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("key,value,why", [
    ("town.residents_per_community", 3000, "communities and townships are laid out once"),
    ("town.residents_per_township", 50000, "communities and townships are laid out once"),
    ("perception.safety_mean", 0.5, "each resident draws it once"),
    ("perception.trust_sd", 0.1, "each resident draws it once"),
    ("disputes.propensity_shape", 3.0, "each resident draws it once"),
    ("population", 5, "the run's frame and the town's geometry"),
])
def test_changes_a_run_cannot_carry_out_are_refused_in_one_line(key, value, why):
    with pytest.raises(ScenarioError) as err:
        scenario(step("2016-03-01", **{key: value}))
    msg = str(err.value)
    assert "\n" not in msg and f"'{key}' cannot change during a run" in msg and why in msg, msg


def test_trajectory_files_load_quote_their_seed_and_mark_assumptions():
    for name in ("guigang_2015_2016", "guigang_2015_2016_campaign", "fangchenggang_2016_2020", "huizhou_2016_2020",
                 "huizhou_13614_2016_2020", "laibin_2014_2019"):
        path = ROOT / "scenarios" / f"{name}.yaml"
        text = path.read_text(encoding="utf-8")
        s = sim.load_scenario(path)
        assert s.start_date and "seed 00" in text and "docs/CITIES.md" in text, name
        for e in s.timeline:
            assert "assumption" in e["source"] or "ASSUMPTION" in e["source"], (name, e["source"])
    g = sim.load_scenario(ROOT / "scenarios" / "guigang_2015_2016.yaml")
    assert "89.62" not in json.dumps(g.timeline) and g.perception.survey_every_days == 91
    a = sim.load_scenario(ROOT / "scenarios" / "huizhou_2016_2020.yaml").flat()
    b = sim.load_scenario(ROOT / "scenarios" / "huizhou_13614_2016_2020.yaml").flat()
    assert {k for k in a if a[k] != b[k]} == {"name", "description", "timeline", "sources"} or \
        {k for k in a if a[k] != b[k]} == {"name", "description", "timeline"}


def test_the_mesa_space_follows_a_regrid_and_new_cameras():
    """`model.space`'s layers are the town as it is now, after a timeline regrids it and hangs cameras."""
    s = scenario(step("2016-03-01", "merge", residents_per_grid=1600, camera_coverage=0.9), camera_coverage=0.2)
    m = sim.GovernanceModel(s, rng=5)
    d1 = m.timeline.day_of("2016-03-01")
    run_until(m, d1)
    space = m.space                                     # built before the change
    grids_before, cameras_before = space.grid_id.data.max() + 1, space.cameras.data.sum()
    m.step()
    space = m.space
    x, y = m.town.x, m.town.y
    np.testing.assert_array_equal(space.grid_id.data[x, y], m.town.grid)
    np.testing.assert_allclose(space.cameras.data[x, y], m.town.covered * s.crime.cameras_per_covered_cell)
    assert space.grid_id.data.max() + 1 == m.town.n_grids < grids_before
    assert space.cameras.data.sum() > cameras_before
