"""The timeline (sim/scenario/timeline.py): dated steps, ramps and campaigns read, checked and
compiled into what is in force on each day.  Pure: no model runs."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.scenario import ScenarioError, leaves, load_scenario
from sim.scenario.timeline import (FIXED, STRUCTURAL, Timeline, is_fixed, is_structural, kind_of)
from sim.scenario.timeline_read import DRAWN_ONCE, LAID_OUT

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "scenarios" / "default.yaml"

#: a year observed from 2016-01-01 (a leap year: 366 days) after 100 days of warm-up
FRAME = {"start_date": "2016-01-01", "days": 366, "warmup_days": 100}


@pytest.fixture(scope="module")
def base():
    return load_scenario(DEFAULT).with_overrides({**FRAME, "scale": 0.1}, "test")


def with_timeline(base, *changes, **extra):
    return base.with_overrides({"timeline": list(changes), **extra}, "t.yaml")


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(f"extends: {DEFAULT}\nstart_date: 2016-01-01\ndays: 366\nwarmup_days: 100\n{body}", encoding="utf-8")
    return path


def step(on, source="assumption", **values):
    return {"on": on, "set": values, "source": source}


# --------------------------------------------------------------------------- reading each kind
def test_a_file_with_each_kind_loads_and_dates_may_be_unquoted(tmp_path):
    path = write(tmp_path, """timeline:
  - from: 2016-06-01          # a campaign, written before the step it follows: any order
    to: "2016-08-31"
    multiply: {crime.rate_per_10k_year.theft: 0.85, crime.clearance_prob.*: 1.3}
    source: "严厉打击 ... 破案率"
  - on: 2016-03-01
    set: {residents_per_grid: 1200, staffing: {fulltime_first: dense_grids}}
    source: assumption
    label: grids merged
  - from: 2016-01-01
    to: 2016-12-31
    set: {fulltime_ratio: 0.5}
    source: assumption
""")
    s = load_scenario(path)
    assert s.start_date == "2016-01-01"
    assert [sorted(e) for e in s.timeline] == [["from", "multiply", "source", "to"], ["label", "on", "set", "source"],
                                               ["from", "set", "source", "to"]]
    assert s.timeline[1]["on"] == "2016-03-01" and s.timeline[1]["set"]["staffing.fulltime_first"] == "dense_grids"
    tl = Timeline.from_scenario(s)
    assert [c.kind for c in tl.changes] == ["campaign", "step", "ramp"]
    assert tl.day_of("2016-01-01") == 100 and tl.day_of(date(2015, 9, 23)) == 0 and tl.date_of(0) == date(2015, 9, 23)
    assert [(e.day, e.kind) for e in tl.events()] == [(100, "ramp begins"), (160, "step"), (252, "campaign begins"),
                                                      (344, "campaign ends"), (465, "ramp ends")]
    assert tl.events()[1].label == "grids merged" and tl.events()[2].source.startswith("严厉打击")
    # a scenario's dump reads back into the same scenario (summaries, sweeps, with_overrides)
    assert s.with_overrides({}, "again") == s


def test_step_sets_from_its_day_on(base):
    tl = Timeline.from_scenario(with_timeline(base, step("2016-03-01", residents_per_grid=1200)))
    d = tl.day_of("2016-03-01")
    assert tl.change_days() == [d] and tl.changes_on(d) == {"residents_per_grid": 1200.0}
    assert tl.scenario_on(d - 1).residents_per_grid == base.residents_per_grid
    assert tl.scenario_on(d).residents_per_grid == tl.scenario_on(tl.total_days - 1).residents_per_grid == 1200
    assert tl.scenario_on(d).timeline == [] and tl.scenario_on(d).start_date == "2016-01-01"


def test_ramp_values_exact_at_from_mid_to(base):
    ramp = {"from": "2016-01-01", "to": "2016-01-21", "set": {"fulltime_ratio": 0.55}, "source": "assumption"}
    tl = Timeline.from_scenario(with_timeline(base, step("2015-12-01", fulltime_ratio=0.15), ramp))
    a, b = tl.day_of("2016-01-01"), tl.day_of("2016-01-21")
    assert tl.value_on("fulltime_ratio", a) == 0.15                    # the value in force on `from`
    assert tl.value_on("fulltime_ratio", a + 10) == pytest.approx(0.35, abs=1e-15)
    assert tl.value_on("fulltime_ratio", b) == 0.55 and tl.value_on("fulltime_ratio", b + 100) == 0.55
    assert tl.change_days() == [tl.day_of("2015-12-01"), *range(a + 1, b + 1)]     # daily while it moves
    assert tl.changes_on(a + 1) == {"fulltime_ratio": pytest.approx(0.17)}
    assert tl.scenario_on(a + 5).fulltime_ratio == pytest.approx(0.25)


def test_ramp_of_a_tuple_moves_each_number(base):
    ramp = {"from": "2016-01-01", "to": "2016-01-03", "set": {"disputes.report_prob": [0.5, 0.7, 0.9]}, "source": "assumption"}
    tl = Timeline.from_scenario(with_timeline(base, ramp))
    assert tl.value_on("disputes.report_prob", tl.day_of("2016-01-02")) == pytest.approx((0.4, 0.6, 0.8))


def test_campaign_multiplies_until_its_last_day(base):
    camp = {"from": "2016-03-01", "to": "2016-03-31", "multiply": {"crime.clearance_prob.*": 1.3, "crime.clearance_prob.theft": 2},
            "source": "assumption"}
    tl = Timeline.from_scenario(with_timeline(base, camp, step("2016-03-10", **{"crime.clearance_prob.robbery": 0.6})))
    a, z = tl.day_of("2016-03-01"), tl.day_of("2016-03-31")
    c0 = base.crime.clearance_prob
    assert tl.changes_on(a) == pytest.approx({"crime.clearance_prob.theft": c0.theft * 2, "crime.clearance_prob.burglary": c0.burglary * 1.3,
                                              "crime.clearance_prob.robbery": c0.robbery * 1.3, "crime.clearance_prob.assault": c0.assault * 1.3})
    # a step during a campaign: the factor applies to the new value
    assert tl.value_on("crime.clearance_prob.robbery", a + 9) == pytest.approx(0.78)
    assert tl.scenario_on(z).crime.clearance_prob.theft == pytest.approx(c0.theft * 2)
    after = tl.scenario_on(z + 1).crime.clearance_prob
    assert (after.theft, after.robbery) == (c0.theft, 0.6) and tl.changes_on(z + 1)["crime.clearance_prob.theft"] == c0.theft


def test_campaigns_compose_and_one_without_to_lasts_to_the_end(base):
    key = "crime.rate_per_10k_year.theft"
    tl = Timeline.from_scenario(with_timeline(base, {"from": "2016-02-01", "multiply": {key: 0.5}, "source": "assumption"},
                                              {"from": "2016-03-01", "to": "2016-03-02", "multiply": {key: 0.5}, "source": "assumption"}))
    v0 = base.crime.rate_per_10k_year.theft
    assert [tl.value_on(key, tl.day_of(d)) for d in ("2016-01-31", "2016-02-01", "2016-03-02", "2016-03-03", "2016-12-31")] == \
        [v0, v0 / 2, v0 / 4, v0 / 2, v0 / 2]
    assert tl.events()[-1].kind == "campaign ends" and tl.events()[-1].day == tl.day_of("2016-03-03")


def test_a_ramp_may_start_the_day_a_step_of_its_key_ends(base):
    ramp = {"from": "2016-03-01", "to": "2016-03-11", "set": {"residents_per_grid": 2000}, "source": "assumption"}
    tl = Timeline.from_scenario(with_timeline(base, ramp, step("2016-03-01", residents_per_grid=1000)))
    a = tl.day_of("2016-03-01")
    assert [tl.value_on("residents_per_grid", a + i) for i in (0, 5, 10)] == [1000, 1500, 2000]


def test_no_timeline_costs_nothing_and_needs_no_calendar():
    s = load_scenario(DEFAULT)
    tl = Timeline.from_scenario(s)
    assert tl.base is s and tl.change_days() == [] and tl.scenario_on(5) is s and tl.events() == []
    assert [p.label for p in tl.period_bounds("quarter")][:2] == ["Q1", "Q2"] and tl.period_bounds("year")[0].partial is False
    with pytest.raises(ScenarioError, match="no start_date"):
        tl.date_of(3)


def test_calendar_periods_are_aligned_and_partial_ones_flagged(base):
    s = base.with_overrides({"start_date": "2016-02-15", "days": 450}, "t")
    tl = Timeline.from_scenario(s)
    q = tl.period_bounds("quarter")
    assert [p.label for p in q] == ["2016Q1", "2016Q2", "2016Q3", "2016Q4", "2017Q1", "2017Q2"]
    assert q[0] == ("2016Q1", 100, tl.day_of("2016-04-01"), True) and q[-1].stop_day == tl.total_days and q[-1].partial
    assert not any(p.partial for p in q[1:-1])
    assert all(a.stop_day == b.first_day for a, b in zip(q, q[1:]))
    assert [p.label for p in tl.period_bounds("year")] == ["2016", "2017"]
    assert tl.period_of(tl.day_of("2016-07-04")) == "2016Q3" and tl.period_of(5) is None


def test_structural_and_fixed_keys():
    assert all(any(re.fullmatch(p.replace(".", r"\.").replace("*", ".*"), k) for k in leaves())
               for p in FIXED + LAID_OUT + DRAWN_ONCE + STRUCTURAL)
    assert is_structural("residents_per_grid") and is_structural("staffing.police_per_10k") and is_structural("camera_coverage")
    assert is_structural("crime.camera_stock_per_1000") and is_structural("town.grid_size_cv")
    # communities, townships and what residents draw at the start cannot change in a run
    assert is_fixed("town.residents_per_community") and is_fixed("perception.safety_mean") and is_fixed("disputes.propensity_shape")
    assert not is_structural("crime.clearance_prob.theft") and kind_of("perception.w_victim") == "rate"
    assert is_fixed("town.residents_per_cell") and is_fixed("seed") and not is_structural("seed")


# --------------------------------------------------------------------------- every bad input: one line, the key named
BAD = [
    ([step("2016-02-30", fulltime_ratio=0.2)], r"timeline\[0\]\.on.*2016-02-30.*day is out of range"),
    ([step("1 March", fulltime_ratio=0.2)], r"timeline\[0\]\.on.*expects a date YYYY-MM-DD"),
    ([{"from": "2016-03-01", "to": "2016-03-01", "set": {"fulltime_ratio": 0.3}, "source": "a"}], r"timeline\[0\]\.to.*not after from"),
    ([{"from": "2016-03-01", "to": "2016-02-01", "multiply": {"fulltime_ratio": 2}, "source": "a"}], r"timeline\[0\]\.to.*not after"),
    ([step("2016-03-01", fulltime_ration=0.2)], r"unknown key 'fulltime_ration' \(did you mean 'fulltime_ratio'\?\)"),
    ([step("2016-03-01", fulltime_ratio=1.5)], r"timeline\[0\] \(on 2016-03-01\): key 'fulltime_ratio': .*less than or equal to 1 "
                                               r"\(got 1.5\); allowed: ≥ 0 and ≤ 1"),
    ([step("2016-03-01", **{"staffing.triage": "fastest"})], r"key 'staffing.triage': Input should be 'cases_first' or"),
    ([{"from": "2016-03-01", "multiply": {"crime.clearance_prob.*": 3}, "source": "a"}],
     r"campaign from 2016-03-01\): key 'crime.clearance_prob.robbery': 0.5 × 3 = 1.5 on 2016-03-01 is outside the allowed ≥ 0 and ≤ 1"),
    ([{"from": "2016-03-01", "multiply": {"fulltime_ratio": -1}, "source": "a"}], r"key 'fulltime_ratio': a factor is a number ≥ 0"),
    ([step("2016-03-01", population=5)], r"'population' cannot change during a run"),
    ([step("2016-03-01", **{"town.residents_per_cell": 60})], r"'town.residents_per_cell' cannot change during a run"),
    ([step("2016-03-01", start_date="2017-01-01")], r"'start_date' cannot change"),
    ([{"from": "2016-03-01", "to": "2016-04-01", "set": {"perception.survey_n": 2000}, "source": "a"}],
     r"'perception.survey_n' is an integer: it cannot ramp"),
    ([{"from": "2016-03-01", "to": "2016-04-01", "set": {"staffing.triage": "routine_first"}, "source": "a"}],
     r"'staffing.triage' is a choice: it cannot ramp"),
    ([{"from": "2016-03-01", "multiply": {"perception.survey_n": 2}, "source": "a"}], r"'perception.survey_n' is an integer: it cannot be multiplied"),
    ([{"on": "2016-03-01", "set": {"fulltime_ratio": 0.2}}], r"key 'timeline\[0\].source': each change needs a source"),
    ([{"on": "2016-03-01", "set": {"fulltime_ratio": 0.2}, "source": "  "}], r"needs a source"),
    ([step("2015-01-01", fulltime_ratio=0.2)], r"timeline\[0\]\.on.*before the first day of the warm-up, 2015-09-23"),
    ([step("2017-01-01", fulltime_ratio=0.2)], r"timeline\[0\]\.on.*after the last day of the run, 2016-12-31.*never happen"),
    ([{"from": "2016-03-01", "to": "2017-03-01", "set": {"fulltime_ratio": 0.3}, "source": "a"}], r"timeline\[0\]\.to.*after the last day"),
    ([step("2016-03-01", fulltime_ratio=0.2), step("2016-03-01", fulltime_ratio=0.3)], r"key 'fulltime_ratio' is also changed by timeline\[0\]"),
    ([{"from": "2016-03-01", "to": "2016-05-01", "set": {"fulltime_ratio": 0.3}, "source": "a"}, step("2016-04-01", fulltime_ratio=0.2)],
     r"timeline\[1\] \(on 2016-04-01\): key 'fulltime_ratio' is also changed by timeline\[0\] \(ramp"),
    ([{"from": "2016-03-01", "to": "2016-05-01", "set": {"fulltime_ratio": 0.3}, "source": "a"}, step("2016-05-01", fulltime_ratio=0.2)],
     r"also changed by"),
    ([{"from": "2016-03-01", "to": "2016-05-01", "set": {"camera_coverage": 0.9}, "source": "a"}, step("2016-01-01", **{
        "crime.camera_stock_per_1000": 1.0, "camera_coverage": None})], r"key 'camera_coverage' is null on 2016-03-01: nothing to ramp"),
    ([step("2016-03-01", **{"crime.camera_stock_per_1000": 1.0})], r"timeline\[0\] \(on 2016-03-01\): key 'crime.camera_stock_per_1000': "
                                                                   r"camera_coverage and crime.camera_stock_per_1000 are both set"),
    ([step("2016-03-01", **{"perception.cutpoints": [0.5, 0.4, 0.6, 0.8]})], r"\(on 2016-03-01\): key 'perception': .*cutpoints must increase"),
    ([{"on": "2016-03-01", "from": "2016-03-01", "set": {"fulltime_ratio": 0.2}, "source": "a"}], r"key 'timeline\[0\]': on: is a step"),
    ([{"from": "2016-03-01", "set": {"fulltime_ratio": 0.2}, "source": "a"}], r"a ramp \(from:, set:\) needs to:"),
    ([{"on": "2016-03-01", "sets": {"fulltime_ratio": 0.2}, "source": "a"}], r"key 'timeline\[0\].sets': unknown \(did you mean 'set'\?\)"),
    ([{"on": "2016-03-01", "set": {}, "source": "a"}], r"key 'timeline\[0\].set': expects a mapping"),
    ([step("2016-03-01", crime=0.3)], r"'crime' is a section: name its parameters, or crime.\* "),
    (["2016-03-01"], r"key 'timeline\[0\]': expects a mapping"),
    ("every spring", r"key 'timeline': expects a list of changes"),
]


@pytest.mark.parametrize("timeline,pattern", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_timelines_are_refused_in_one_line_naming_the_key(base, timeline, pattern):
    with pytest.raises(ScenarioError) as err:
        base.with_overrides({"timeline": timeline}, "t.yaml")
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 300 and msg.startswith("t.yaml: ") and re.search(r"\bkey\b", msg), msg
    assert re.search(pattern, msg), msg


def test_bad_start_dates_and_a_timeline_without_one(base):
    for value, pattern in (("2016-13-01", "month must be in 1..12"), (20160101, "expects a date"), ("1066-10-14", "outside the years"),
                           ("2016-01-01T10:00", "expects a date YYYY-MM-DD")):
        with pytest.raises(ScenarioError, match=rf"^t: key 'start_date': .*{pattern}"):
            base.with_overrides({"start_date": value}, "t")
    with pytest.raises(ScenarioError, match=r"key 'timeline': needs start_date"):
        base.with_overrides({"start_date": None, "timeline": [step("2016-03-01", fulltime_ratio=0.2)]}, "t")


def test_errors_in_files_name_the_file_and_unquoted_on_is_read(tmp_path):
    path = write(tmp_path, "timeline:\n  - on: 2016-03-01\n    set: {fulltime_ratio: 2}\n    source: assumption\n")
    with pytest.raises(ScenarioError, match=rf"^{re.escape(str(path))}: timeline\[0\] \(on 2016-03-01\): key 'fulltime_ratio'"):
        load_scenario(path)
    path = write(tmp_path, "timeline:\n  - on: 2016-03-01 10:00:00\n    set: {fulltime_ratio: 0.2}\n    source: assumption\n")
    with pytest.raises(ScenarioError, match=r"timeline\[0\].on'?: expects a date \(YYYY-MM-DD\) without a time"):
        load_scenario(path)


def test_shortening_the_run_under_a_timeline_is_refused(base):
    s = with_timeline(base, step("2016-06-01", fulltime_ratio=0.2))
    with pytest.raises(ScenarioError, match=r"after the last day of the run"):
        s.with_overrides({"days": 30}, "t")


# --------------------------------------------------------------------------- property: steps in date order
KEYS = {"fulltime_ratio": st.floats(0, 1), "residents_per_grid": st.floats(20, 5000), "crime.clearance_prob.theft": st.floats(0, 1),
        "perception.w_visit": st.floats(0, 0.1), "staffing.triage": st.sampled_from(["cases_first", "routine_first"]),
        "perception.survey_n": st.integers(1, 5000)}


@st.composite
def step_timelines(draw):
    n = draw(st.integers(0, 6))
    used, out = set(), []
    for _ in range(n):
        day = draw(st.integers(0, 465))
        keys = draw(st.lists(st.sampled_from(sorted(KEYS)), min_size=1, max_size=3, unique=True))
        keys = [k for k in keys if (day, k) not in used]
        if not keys:
            continue
        used.update((day, k) for k in keys)
        out.append((day, {k: draw(KEYS[k]) for k in keys}))
    return out


@settings(max_examples=40, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=step_timelines(), days=st.lists(st.integers(0, 465), min_size=1, max_size=4))
def test_scenario_on_is_every_step_up_to_the_day_applied_in_date_order(base, steps, days):
    first = date(2015, 9, 23)
    tl_raw = [step(date.fromordinal(first.toordinal() + d), **values) for d, values in steps]
    tl = Timeline.from_scenario(with_timeline(base, *tl_raw))
    bare = base.with_overrides({}, "bare")
    for d in days:
        expected = bare
        for _, values in sorted((s for s in steps if s[0] <= d), key=lambda s: s[0]):     # stable: file order on a day
            expected = expected.with_overrides(values, "ref")
        assert tl.scenario_on(d) == expected
    # and the changes of each change day, applied in turn, give the same
    s = fast = bare
    for d in tl.change_days():
        s = s.with_overrides(tl.changes_on(d), "replay")
        fast = tl.advance(fast, d)          # what the model does: the same, without validating again
        assert s == tl.scenario_on(d) == fast


def test_the_worked_example_in_docs_timeline_loads(tmp_path):
    text = (ROOT / "docs" / "TIMELINE.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(extends: guigang_2015\.yaml\nname: guigang_2016_timeline_example.*?)```", text, re.S).group(1)
    path = tmp_path / "example.yaml"
    path.write_text(block.replace("extends: guigang_2015.yaml", f"extends: {ROOT / 'scenarios' / 'guigang_2015.yaml'}"), encoding="utf-8")
    tl = Timeline.from_scenario(load_scenario(path))
    assert tl.day_of("2016-04-01") == 456 and tl.period_bounds("quarter")[0] == ("2016Q1", 365, 456, False)
    assert "456: day 0 is 2015-01-01, the first of 365 warm-up days" in text
    assert [e.kind for e in tl.events()] == ["ramp begins", "campaign begins", "campaign ends", "step", "ramp ends"]


def test_advance_through_ramps_and_campaigns_is_scenario_on(base):
    ramp = {"from": "2016-01-01", "to": "2016-01-09", "set": {"disputes.report_prob": [0.5, 0.7, 0.9], "fulltime_ratio": 0.5},
            "source": "assumption"}
    camp = {"from": "2016-01-05", "to": "2016-01-07", "multiply": {"crime.clearance_prob.*": 1.2}, "source": "assumption"}
    tl = Timeline.from_scenario(with_timeline(base, ramp, camp, step("2016-01-06", **{"staffing.triage": "routine_first"})))
    s = tl.scenario_on(0)
    for d in tl.change_days():
        s = tl.advance(s, d)
        assert s == tl.scenario_on(d) and s.timeline == []


# --------------------------------------------------------------------------- extends: changes add up
def _chain(tmp_path: Path, parent_changes: str, child_changes: str) -> Path:
    (tmp_path / "parent.yaml").write_text(f"extends: {DEFAULT}\nname: parent\nstart_date: 2016-01-01\ndays: 366\n"
                                          f"warmup_days: 100\ntimeline:\n{parent_changes}", encoding="utf-8")
    child = tmp_path / "child.yaml"
    child.write_text(f"extends: parent.yaml\nname: child\ntimeline:\n{child_changes}", encoding="utf-8")
    return child


CAMERAS = "  - on: 2016-03-01\n    set: {camera_coverage: 0.6}\n    source: assumption\n"
GRIDS = "  - on: 2016-04-01\n    set: {residents_per_grid: 1200}\n    source: assumption\n"


def test_a_child_timeline_adds_to_its_parents(tmp_path):
    s = load_scenario(_chain(tmp_path, CAMERAS, GRIDS))
    assert [next(iter(e["set"])) for e in s.timeline] == ["camera_coverage", "residents_per_grid"]


def test_an_error_in_an_inherited_change_names_the_parent_and_its_own_index(tmp_path):
    bad = CAMERAS + "  - on: 2016-05-01\n    set: {camera_coverag: 0.7}\n    source: assumption\n"
    with pytest.raises(ScenarioError) as exc:
        load_scenario(_chain(tmp_path, bad, GRIDS))
    msg = str(exc.value)
    assert msg.startswith(f"{tmp_path / 'parent.yaml'} (extended by {tmp_path / 'child.yaml'}): ")
    assert "timeline[1]" in msg and "camera_coverag" in msg


def test_an_error_in_the_childs_change_counts_from_its_own_first(tmp_path):
    with pytest.raises(ScenarioError) as exc:
        load_scenario(_chain(tmp_path, CAMERAS, GRIDS.replace("residents_per_grid", "residents_per_grd")))
    msg = str(exc.value)
    assert msg.startswith(f"{tmp_path / 'child.yaml'}: ") and "timeline[0]" in msg and "timeline[1]" not in msg
