"""Run every check and write one results directory: validation.json, REPORT.md, figures.

The checks return plain data; `validation.json` holds all of it, with the figures from
data/figures.yaml that were used, so the report and the plots can be redrawn from that
file alone (`gridsim validate --replot DIR`).  The directory is built beside `out` and
renamed into place at the end, so an interrupted run leaves the previous one whole.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..experiments.pool import Runner
from ..experiments.runner import code_digest
from ..scenario import ROOT, load_scenario
from .cities import city_checks
from .figures import Figures, load_figures
from .guigang import guigang_check
from .levels import levels
from .levers import lever_checks
from .posterior import calibration_check, held_out_record, posterior_held_out
from .queues import queue_checks
from .sensitivity import sensitivity
from .settings import Settings
from .stats import CONFIDENCE

SECTIONS = ("guigang", "calibration", "cities", "levels", "sensitivity", "queueing", "levers")
SCENARIOS = ROOT / "scenarios"
SCENARIO_FILES = ("default", "guigang_2015", "guigang_2016", "jincheng", "fangchenggang", "huizhou", "laibin")


def run_checks(settings: Settings, runner: Runner, figures: Figures, *, out: Path | None = None,
               sections: tuple[str, ...] = SECTIONS, say: Callable[[str], None] = lambda s: None,
               calibration: Path | None = None) -> dict:
    """The results dict of the chosen sections (timings included)."""
    base = load_scenario(SCENARIOS / "default.yaml")
    results: dict[str, Any] = {"timings": {}, "scenario_files": {
        name: {"warmup_days": load_scenario(SCENARIOS / f"{name}.yaml").warmup_days} for name in SCENARIO_FILES}}
    jobs = {"guigang": lambda: guigang_check(settings, runner, figures, out=out, say=say),
            "calibration": lambda: calibration_check(calibration, out=out),
            "cities": lambda: city_checks(settings, runner, figures, say=say),
            "levels": lambda: levels(settings, runner, say=say),
            "sensitivity": lambda: sensitivity(settings, runner, base, say=say),
            "queueing": lambda: queue_checks(settings, runner, say=say),
            "levers": lambda: lever_checks(settings, runner, base, say=say)}
    for name in SECTIONS:
        if name not in sections:
            continue
        t, r0, s0 = time.perf_counter(), runner.runs, runner.run_seconds
        results[name] = jobs[name]()
        results["timings"][name] = {"seconds": time.perf_counter() - t, "runs": runner.runs - r0,
                                    "run_seconds": runner.run_seconds - s0}
        say(f"  {name}: {time.perf_counter() - t:.0f} s, {runner.runs - r0} runs")
    return results


def check_out_dir(out: Path) -> None:
    """`out` is replaced whole at the end: refuse a file, or a directory that holds
    something other than an earlier validation."""
    from ..scenario import ScenarioError

    if out.exists() and not out.is_dir():
        raise ScenarioError(f"--out {out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / "validation.json").exists():
        raise ScenarioError(f"--out {out}: not empty and not an earlier validation (no validation.json); "
                            "it would be replaced, choose another directory")


def run_validation(out: str | Path, settings: Settings, workers: int | None = None, *,
                   say: Callable[[str], None] = lambda s: None, sections: tuple[str, ...] = SECTIONS,
                   figures: Figures | None = None, calibration: Path | None = None) -> dict:
    """Run the sections and write validation.json, REPORT.md and the figures into `out` (only)."""
    from ..run import _jsonable, atomic_directory, versions
    from .report import write_report

    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    figures = figures or load_figures()
    t0 = time.perf_counter()
    out = Path(out)
    check_out_dir(out)
    kept = kept_sections(out, settings, sections)
    with atomic_directory(out, keep_previous=False) as tmp:
        if kept:
            for f in out.iterdir():           # the kept sections' files (overlays) come along
                if f.is_file() and f.name not in ("validation.json", "REPORT.md") and (
                        not f.name.endswith(".png") or f.name.startswith("calibration_")):
                    shutil.copy2(f, tmp / f.name)
        with Runner(workers) as runner:
            stamp = {"generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "model_code": code_digest()}
            results = {"settings": asdict(settings), "versions": versions(), "confidence": CONFIDENCE,
                       "generated": stamp["generated"], "workers": runner.workers,
                       "figures": figures.to_list(), "figures_file": figures.origin}
            results.update(run_checks(settings, runner, figures, out=tmp, sections=sections, say=say,
                                      calibration=calibration))
            results["runs"], results["run_seconds"] = runner.runs, runner.run_seconds
        results["section_stamps"] = {name: stamp for name in sections}
        if kept:
            merge_kept(results, kept)
        if "guigang" in results:          # the point fit's, and the posterior's when there is one
            results["guigang_2016_point_fit"] = held_out_record(results["guigang"])
        g16 = posterior_held_out(results.get("calibration")) or results.get("guigang_2016_point_fit")
        if g16 is not None:
            results["guigang_2016"] = g16
        results["wall_seconds"] = time.perf_counter() - t0
        results["wall_minutes"] = results["wall_seconds"] / 60.0
        results = _jsonable(results)
        (tmp / "validation.json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        write_report(results, tmp)
    return results


def kept_sections(out: Path, settings: Settings, sections: tuple[str, ...]) -> dict:
    """With only some sections chosen, the other sections of the validation already in `out`
    (same settings) are kept, each with the date and model code it was computed with: a
    section that takes minutes is re-run without re-running the half hour of Sobol runs."""
    if set(sections) == set(SECTIONS) or not (out / "validation.json").is_file():
        return {}
    prev = json.loads((out / "validation.json").read_text(encoding="utf-8"))
    if prev.get("settings", {}).get("name") != settings.name:
        from ..scenario import ScenarioError

        raise ScenarioError(f"--sections: {out}/validation.json was made with the {prev.get('settings', {}).get('name')!r} "
                            f"settings, not {settings.name!r}; run every section or use another --out")
    return prev


def merge_kept(results: dict, prev: dict) -> None:
    """Sections not re-run, copied from `prev` with their own stamps (an older file: its date, code unknown)."""
    old_stamp = {"generated": prev.get("generated"), "model_code": None}
    for name in SECTIONS:
        if name in results or name not in prev:
            continue
        results[name] = prev[name]
        results["timings"][name] = prev.get("timings", {}).get(name, {"seconds": 0.0, "runs": 0, "run_seconds": 0.0})
        results["section_stamps"][name] = prev.get("section_stamps", {}).get(name, old_stamp)
    results["timings"] = {n: results["timings"][n] for n in SECTIONS if n in results["timings"]}
    results["runs"] = sum(t.get("runs", 0) for t in results["timings"].values())
    results["run_seconds"] = sum(t.get("run_seconds", 0.0) for t in results["timings"].values())
    results["section_stamps"] = {n: results["section_stamps"][n] for n in SECTIONS if n in results["section_stamps"]}
