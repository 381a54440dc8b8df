"""Validation (sim/validation/): figures as data, the held-out check, the report, the command.

- the figures file is checked on load, and each quote is verbatim in its seed document;
- the held-out Guigang figures never reach a fit: with them changed, every computed number
  but the comparison stays the same;
- `gridsim validate --quick --out DIR` (shrunk to the tiny preset) writes validation.json
  with its fields into DIR and nothing into docs/;
- every number in REPORT.md is a number of validation.json, and the text follows them;
- `--replot` redraws the same report from validation.json; `--docs` publishes it.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sim.analysis.calibration import calibrate
from sim.catalogue import OUTCOMES
from sim.cli import main
from sim.experiments.pool import Runner
from sim.run import _jsonable
from sim.scenario import ROOT, ScenarioError, load_scenario
from sim.validation import (PRESETS, FigureError, fit_and_predict, guigang_check, load_figures, parse_figures,
                            report_markdown)
from sim.validation.extras import EXTRA_OUTCOMES
from sim.validation.figures import FIGURES_FILE

SAFETY = "survey_expected_share_safe"
DOCS = ROOT / "docs"
SEEDS = Path(os.environ.get("GRIDSIM_SEEDS", ROOT.parent / "shared" / "seeds"))


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


# --------------------------------------------------------------------------- the figures
def test_figures_file_loads_and_marks_what_is_held_out():
    figs = load_figures()
    ids = {f.id for f in figs}
    assert {"guigang_2015_safety", "guigang_2016_safety", "guigang_2016_cases_filed_change",
            "guigang_2016_cases_solved_change", "jincheng_robbery_call_to_arrest", "huizhou_population",
            "laibin_fulltime_share", "fangchenggang_coverage_before"} <= ids
    assert figs.value("guigang_2015_safety") == pytest.approx(0.8562) and not figs["guigang_2015_safety"].held_out
    for fid, value in (("guigang_2016_safety", 0.8962), ("guigang_2016_cases_filed_change", -0.111),
                       ("guigang_2016_cases_solved_change", 0.277)):
        assert figs[fid].held_out and figs.value(fid) == pytest.approx(value)
    assert figs.value("laibin_fulltime_share") == pytest.approx(745 / 5022, abs=1e-6)
    assert all(f.outcome in OUTCOMES for f in figs if f.outcome)
    masked = figs.masked()
    with pytest.raises(FigureError, match="held out"):
        masked.value("guigang_2016_safety")
    with pytest.raises(FigureError, match="may not be fitted"):
        figs.fit_target("guigang_2016_safety", load_scenario(ROOT / "scenarios" / "guigang_2016.yaml"))


@pytest.mark.parametrize("change,msg", [
    ({"held_out": None}, "held_out"),
    ({"outcome": "survey_safe"}, "not in sim.catalogue.OUTCOMES"),
    ({"role": "fit", "held_out": True}, "held-out figure cannot have role fit"),
    ({"quote": None}, "quote and translation are required"),
    ({"error": {"survey_n": 0}}, "error"),
    ({"colour": "red"}, "colour"),
])
def test_malformed_figures_are_refused_in_one_line(change, msg):
    entry = dict(load_figures()["guigang_2016_safety"].to_entry(), **change)
    entry = {k: v for k, v in entry.items() if v is not None}
    with pytest.raises(FigureError, match=msg) as err:
        parse_figures({"figures": [entry]}, "test.yaml")
    assert "\n" not in str(err.value) and str(err.value).startswith("test.yaml: figure 1")
    with pytest.raises(FigureError, match="appears twice"):
        parse_figures({"figures": [load_figures()["guigang_2016_safety"].to_entry()] * 2})


@pytest.mark.skipif(not SEEDS.is_dir(), reason="seed documents not available")
def test_every_quote_is_verbatim_in_its_seed_document():
    for f in load_figures():
        path = SEEDS / f.source
        if not path.is_file():               # the census figures come from the fact sheet, not a seed
            continue
        text = path.read_text(encoding="utf-8")
        for part in f.quote.split("…"):
            assert part in text, f"{f.id}: {part!r} not in {f.source}"


# --------------------------------------------------------------------------- held out
def test_held_out_figures_never_reach_a_fit():
    settings = replace(PRESETS["tiny"], days=20, fit_replicates=1, predict_replicates=2)
    real = load_figures()
    other = real
    for f in real:                                       # every held-out number changed
        if f.held_out and f.value is not None:
            other = other.replace(f.id, value=f.value * 0.5 - 0.01)
    seen = []

    seen_days, seen_timelines = [], []

    def spy(scenario, targets, fit, **kw):
        seen.append((scenario.name, dict(targets), list(fit), kw["target_se"]))
        seen_days.append(scenario.days)
        seen_timelines.append(list(scenario.timeline))
        return calibrate(scenario, targets, fit, **kw)

    with Runner(1) as runner:
        with pytest.raises(FigureError, match="masked"):
            fit_and_predict(settings, runner, real, fit=spy)          # refused before any run
        assert runner.runs == 0
        a = guigang_check(settings, runner, real, fit=spy)
        b = guigang_check(settings, runner, other, fit=spy)
    # the fit saw only 2015 and its figure
    assert len(seen) == 2 and seen[0] == seen[1]
    assert seen[0][:3] == ("guigang_2015", {SAFETY: pytest.approx(0.8562)}, ["perception.safety_mean"])
    assert seen_days == [365, 365] and seen_timelines == [[], []]     # the trajectory cut at the end of 2015

    def same(x, y):
        return json.dumps(_jsonable(x), sort_keys=True) == json.dumps(_jsonable(y), sort_keys=True)

    # every computed number is the same; only the comparison moved with the held-out figures
    assert same(a["fit"], b["fit"]) and same(a["prediction"], b["prediction"]) and same(a["cases"], b["cases"])
    for k in ("level", "change", "filed", "solved"):
        assert a["comparison"][k]["reported"] != b["comparison"][k]["reported"]
    assert a["comparison"]["level"]["fitted"] is False
    assert a["prediction"]["changed_parameters"] == {"crime.camera_stock_per_1000": pytest.approx(8174 / 4316.262, rel=1e-4)}


# --------------------------------------------------------------------------- the command
@pytest.fixture(scope="module")
def tiny_validation(tmp_path_factory):
    """`gridsim validate --quick --out DIR` with the quick preset shrunk to the tiny one."""
    out = tmp_path_factory.mktemp("val") / "v"
    before = snapshot(DOCS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(PRESETS, "quick", PRESETS["tiny"])
        rc = main(["validate", "--quick", "--out", str(out), "--quiet", "--calibration", str(out.parent / "no-calibration")])
    assert rc == 0
    return out, json.loads((out / "validation.json").read_text(encoding="utf-8")), before


def test_validate_writes_only_to_out(tiny_validation):
    out, _, before = tiny_validation
    assert snapshot(DOCS) == before, "gridsim validate without --docs wrote into docs/"
    assert {p.name for p in out.iterdir()} >= {"REPORT.md", "validation.json", "guigang.png"}


def test_validation_json_has_its_fields(tiny_validation):
    out, res, _ = tiny_validation
    g = res["guigang"]
    p, c = g["prediction"], g["comparison"]
    low, high = p["interval"]
    assert 0 < low < p["predicted"] < high < 1
    assert c["level"]["fitted"] is False and c["level"]["reported"] == pytest.approx(0.8962)
    assert g["fit"]["target"] == pytest.approx(0.8562) and g["fit"]["figure"] == "guigang_2015_safety"
    assert set(c) >= {"filed", "solved", "change"}
    assert {"jincheng", "fangchenggang", "huizhou", "laibin", "safety_by_city"} <= set(res["cities"])
    assert res["cities"]["huizhou"]["residents_per_grid_before"] == pytest.approx(6042852 / 13614)
    s = res["sensitivity"]["sobol"]
    assert {r["key"] for r in s["indices"]["population_share_safe"]} >= {"residents_per_grid", "fulltime_ratio", "camera_coverage"}
    assert all("first" in r and "total" in r for k in s["outcomes"] for r in s["indices"][k])
    assert res["queueing"]["rows"] and set(res["levers"]["levers"]) == {"residents_per_grid", "fulltime_ratio", "camera_coverage"}
    assert {f["id"] for f in res["figures"]} == {f.id for f in load_figures()}
    lv = res["levels"]
    for b in lv["benchmarks"]:     # each verdict is the band's, applied to the file's mean
        for name, verdict in b["verdict"].items():
            m = lv["files"][name][b["outcome"]]["mean"]
            assert verdict == ("below" if b["low"] is not None and m < b["low"] else
                               "above" if b["high"] is not None and m > b["high"] else "inside"), (b["id"], name)
    for name in ("REPORT.md", "guigang.png", "cities.png", "sobol.png", "queueing.png", "levers.png"):
        assert (out / name).exists(), name
    for png in out.glob("*.png"):
        assert png.stat().st_size < 200_000, png
    # the fitted trajectory it leaves behind is a runnable scenario: the trajectory with the fitted value
    fitted = load_scenario(out / "guigang_2015_2016.calibrated.yaml")
    assert fitted.perception.safety_mean == pytest.approx(g["fit"]["value"], abs=1e-6)
    assert fitted.days == 731 and len(fitted.timeline) == 1 and str(fitted.start_date) == "2015-01-01"
    assert g["prediction"]["years"] == ["2015", "2016"] and g["prediction"]["scenario"] == "guigang_2015_2016.yaml"
    assert fitted.crime.camera_stock_per_1000 == pytest.approx(6840 / 4316.262, rel=1e-4)
    assert fitted.camera_coverage is None


# --------------------------------------------------------------------------- the report
NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")


def numbers_in(x, out: list[float]) -> list[float]:
    """Every number in a results tree: values, list lengths, and numbers inside strings and keys."""
    if isinstance(x, dict):
        for k, v in x.items():
            numbers_in(k, out)
            numbers_in(v, out)
    elif isinstance(x, list | tuple):
        out.append(len(x))
        for v in x:
            numbers_in(v, out)
    elif isinstance(x, bool) or x is None:
        pass
    elif isinstance(x, int | float):
        if math.isfinite(x):
            out.append(abs(float(x)))
    elif isinstance(x, str):
        out += [float(t.replace(",", "")) for t in NUMBER.findall(x)]
    return out


def untraced_numbers(text: str, res: dict) -> list[str]:
    """Numbers in the report that are not a number of `res` (at the shown precision, ×1 or ×100)."""
    catalogue = [s for o in (*OUTCOMES.values(), *EXTRA_OUTCOMES.values()) for s in (o.name, o.label, o.unit, o.meaning)]
    allowed = np.array(sorted(set(numbers_in(res, []) + numbers_in(catalogue, []))))
    allowed = np.concatenate([allowed, 100 * allowed])
    text = re.sub(r"`[^`]*`", " ", text)                       # code: keys, file names, options
    text = re.sub(r"\]\([^)]*\)", "]", text)                   # link targets
    text = text.replace("M/M/1", " ").replace("M/M/c", " ")
    bad = []
    for token in NUMBER.findall(text):
        x = float(token.replace(",", ""))
        nd = len(token.split(".")[1]) if "." in token else 0
        if not np.any(np.abs(allowed - x) <= 0.5 * 10.0 ** -nd + 1e-9):
            bad.append(token)
    return bad


def test_every_number_in_the_report_is_in_the_results(tiny_validation):
    out, res, _ = tiny_validation
    text = (out / "REPORT.md").read_text(encoding="utf-8")
    assert untraced_numbers(text, res) == []
    # the check can fail: a number typed into the text is caught
    typed = "\nGuigang had 12,345.67 cameras, 443.9 residents per grid (0.98765 of them safe)."
    assert untraced_numbers(text + typed, res) == ["12,345.67", "0.98765"]


def test_the_report_follows_the_results_and_figures(tiny_validation):
    _, res, _ = tiny_validation
    alt = copy.deepcopy(res)
    next(f for f in alt["figures"] if f["id"] == "huizhou_grids_before")["value"] = 12345
    alt["guigang"]["prediction"]["predicted"] = 0.7777
    alt["guigang"]["comparison"]["level"]["reported"] = 0.6543
    alt["cities"]["jincheng"]["reported_hours"] = 3.21
    a, b = report_markdown(res), report_markdown(alt)
    assert "13,614 grids" in a and "12,345 grids" in b and "13,614 grids" not in b
    assert "**77.77 %**" in b and "65.43 %" in b and "3.21 h" in b


def test_replot_redraws_the_same_report_from_the_json(tiny_validation, tmp_path):
    out, _, _ = tiny_validation
    again = tmp_path / "again"
    shutil.copytree(out, again)
    for f in [again / "REPORT.md", *again.glob("*.png")]:
        f.unlink()
    assert main(["validate", "--replot", str(again)]) == 0
    assert (again / "REPORT.md").read_text(encoding="utf-8") == (out / "REPORT.md").read_text(encoding="utf-8")
    assert (again / "guigang.png").exists()


def test_docs_publishing_goes_where_it_is_told(tiny_validation, tmp_path):
    from sim.validation.cli import publish

    out, res, _ = tiny_validation
    page, folder = tmp_path / "VALIDATION.md", tmp_path / "validation"
    publish(out, res, page=page, folder=folder)
    text = page.read_text(encoding="utf-8")
    assert "](validation/guigang.png)" in text and "](validation/guigang_2015_2016.calibrated.yaml)" in text
    assert {p.name for p in folder.iterdir()} >= {"guigang.png", "validation.json", "guigang_2015_2016.calibrated.yaml"}
    assert not (folder / "REPORT.md").exists()


def test_sections_rerun_keeps_the_others_with_their_stamps(tiny_validation, tmp_path):
    """`--sections queueing` re-runs one section; the others come from the validation in --out,
    each keeping when and with which model code it was computed."""
    import shutil

    out, res, _ = tiny_validation
    again = tmp_path / "v"
    shutil.copytree(out, again)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(PRESETS, "quick", PRESETS["tiny"])
        assert main(["validate", "--quick", "--out", str(again), "--sections", "queueing", "--quiet"]) == 0
    new = json.loads((again / "validation.json").read_text(encoding="utf-8"))
    assert list(new["timings"]) == list(res["timings"])
    for name in res["timings"]:
        if name != "queueing":
            assert new[name] == res[name] and new["section_stamps"][name] == res["section_stamps"][name]
    assert new["section_stamps"]["queueing"]["generated"] >= res["section_stamps"]["queueing"]["generated"]
    assert (again / "guigang.png").exists() and "| queueing |" in (again / "REPORT.md").read_text(encoding="utf-8")


def _fake_calibration(d: Path, model_code: str) -> Path:
    """The two files `gridsim calibrate` leaves that the report reads (a made-up posterior)."""
    d.mkdir(parents=True)
    held = {"guigang_2016_safety": {"outcome": "survey_expected_share_safe", "change": None, "predicted": 0.84,
                                    "interval": [0.81, 0.87], "reported": 0.8962, "fitted": False, "inside": False}}
    target = {"period": "2016", "change_from": None, **held["guigang_2016_safety"]}
    (d / "calibration.json").write_text(json.dumps({
        "targets_file": "targets/x.yaml", "scenario": "s.yaml", "scale": 0.005, "replicates": 2, "particles": 100,
        "quick": False, "evaluations": 2345, "seconds": 1200.0, "model_code": model_code,
        "generations": [{"t": 0, "temperature": 9.0, "evaluations": 400, "acceptance_rate": 0.25, "ess": 100.0},
                        {"t": 1, "temperature": 1.0, "evaluations": 500, "acceptance_rate": 0.2, "ess": 61.0}],
        "posterior_summary": [{"parameter": "perception.safety_mean", "prior": [0.3, 0.8], "default": 0.55,
                               "median": 0.61, "ci90": [0.58, 0.65], "ci90_share_of_prior": 0.14}],
        "held_out": held}), encoding="utf-8")
    (d / "predictive.json").write_text(json.dumps({"draws": 60, "interval": "95 %", "targets": {
        "guigang_2016_safety": target}}), encoding="utf-8")
    return d


def test_the_report_shows_a_calibrations_posterior_and_its_held_out_check(tiny_validation, tmp_path):
    """`--sections calibration --calibration DIR` reads the posterior (runs nothing) into the report."""
    import shutil

    from sim.experiments.runner import code_digest

    out, _, _ = tiny_validation
    again = tmp_path / "v"
    shutil.copytree(out, again)
    fake = _fake_calibration(tmp_path / "cal", code_digest())
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(PRESETS, "quick", PRESETS["tiny"])
        assert main(["validate", "--quick", "--out", str(again), "--sections", "calibration", "--calibration", str(fake),
                     "--quiet"]) == 0
    res = json.loads((again / "validation.json").read_text(encoding="utf-8"))
    assert res["timings"]["calibration"]["runs"] == 0 and res["calibration"]["same_model_code"] is True
    assert res["calibration"]["held_out"]["guigang_2016_safety"]["fitted"] is False
    text = (again / "REPORT.md").read_text(encoding="utf-8")
    assert "## Calibration: the posterior" in text and "**61.0 of 100** (61%)" in text
    assert "| guigang_2016_safety | 2016 | **held out** | 84.00 % | 81.00 % – 87.00 % | 89.62 % | **no** |" in text
    # validation.json's guigang_2016 is the posterior's prediction; the point fit's is kept beside it
    g16, point = res["guigang_2016"], res["guigang_2016_point_fit"]
    assert g16["method"].startswith("ABC-SMC posterior") and g16["predicted"] == pytest.approx(0.84)
    assert g16["fitted"] is False and g16["reported"] == pytest.approx(0.8962) and g16["inside"] is False
    assert point["fitted"] is False and point["reported"] == pytest.approx(0.8962) and len(point["interval"]) == 2


def test_a_posterior_from_other_model_code_is_flagged(tmp_path):
    from sim.validation.posterior import calibration_check, calibration_markdown

    c = calibration_check(_fake_calibration(tmp_path / "cal", "0" * 64))
    lines: list[str] = []
    calibration_markdown({"calibration": c}, lines.append, "")
    assert c["same_model_code"] is False and any("**not** the same as this report" in x for x in lines)
    assert calibration_check(tmp_path / "nothing") == {"missing": str(tmp_path / "nothing")}


@pytest.mark.parametrize("arg", ["nope", "", "guigang,nope"])
def test_unknown_sections_are_refused_in_one_line(arg, tmp_path, capsys):
    assert main(["validate", "--quick", "--out", str(tmp_path / "v"), "--sections", arg]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--sections" in err and "choose from" in err and not (tmp_path / "v").exists()


def test_out_that_is_not_a_validation_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    assert main(["validate", "--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not an earlier validation" in err and err.count("\n") == 1
    assert main(["validate", "--out", str(DOCS / "validation")]) == 2
    assert (tmp_path / "notes.txt").exists()
    assert FIGURES_FILE.is_file()


def test_benchmarks_load_and_a_malformed_one_is_refused_in_one_line(tmp_path):
    from sim.validation.levels import BENCHMARKS_FILE, load_benchmarks

    marks = load_benchmarks()
    assert {b.id for b in marks} >= {"safety_share_china", "grid_deadline", "mediation_volume", "settled_in_grid"}
    assert all(b.sources for b in marks)
    bad = tmp_path / "b.yaml"
    bad.write_text(BENCHMARKS_FILE.read_text(encoding="utf-8").replace("outcome: mediation_per_10k_year",
                                                                      "outcome: mediation_per_10k"), encoding="utf-8")
    with pytest.raises(ScenarioError) as e:
        load_benchmarks(bad)
    assert "\n" not in str(e.value) and "not in the outcome catalogue" in str(e.value)
