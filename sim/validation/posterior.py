"""The calibration's posterior in the report: read, never computed here.

`gridsim calibrate targets/guigang_2015.yaml` (ABC-SMC, `sim.analysis.abc`) writes a directory
with the posterior, its diagnostics and a posterior-predictive check of every target, the
held-out Guigang 2016 figures included (their values read only after the predictive runs).  A
fit of ≥ 2,000 evaluations takes longer than the rest of the validation, so the report takes
it from that directory (`gridsim validate --calibration DIR`) instead of running it: this
module copies its figures and numbers into the results, with the directory's model code, so a
posterior made by other model code is flagged, not silently shown.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..scenario import ROOT

#: the published fit (`make calibration`: `gridsim calibrate targets/guigang_2015.yaml`, then copied here)
DEFAULT_DIR = ROOT / "docs" / "calibration" / "guigang_2015"
FIGURES = ("marginals.png", "pairs.png", "generations.png", "predictive.png")


def calibration_check(directory: Path | None, out: Path | None = None) -> dict:
    """The posterior summary, diagnostics and predictive check of `directory` (and its figures
    copied into `out` as calibration_*.png); {"missing": path} when there is none."""
    from ..experiments.runner import code_digest

    d = Path(directory) if directory is not None else DEFAULT_DIR
    if not (d / "calibration.json").is_file() or not (d / "predictive.json").is_file():
        return {"missing": str(d)}
    cal = json.loads((d / "calibration.json").read_text(encoding="utf-8"))
    pred = json.loads((d / "predictive.json").read_text(encoding="utf-8"))
    figures = []
    if out is not None:
        for name in FIGURES:
            if (d / name).is_file():
                shutil.copy2(d / name, Path(out) / f"calibration_{name}")
                figures.append(f"calibration_{name}")
    gens = cal.get("generations", [])
    return {
        "directory": str(d), "targets_file": cal.get("targets_file"), "scenario": cal.get("scenario"),
        "scale": cal.get("scale"), "replicates": cal.get("replicates"), "particles": cal.get("particles"),
        "quick": cal.get("quick"), "evaluations": cal.get("evaluations"), "seconds": cal.get("seconds"),
        "generations": gens, "final_ess": gens[-1]["ess"] if gens else None,
        "posterior_summary": cal.get("posterior_summary", []), "held_out": cal.get("held_out", {}),
        "predictive": pred.get("targets", {}), "predictive_interval": pred.get("interval"),
        "predictive_draws": pred.get("draws"), "predictive_runs": pred.get("runs_per_draw"), "model_code": cal.get("model_code"),
        "same_model_code": cal.get("model_code") == code_digest(), "figures": figures,
    }


def posterior_held_out(calibration: dict | None, key: str = "guigang_2016_safety") -> dict | None:
    """The posterior's prediction of the held-out Guigang 2016 level, in `held_out_record`'s shape;
    None without a calibration, without that target, or from other model code (flagged, not used)."""
    c = calibration or {}
    h = c.get("held_out", {}).get(key)
    if h is None or not c.get("same_model_code"):
        return None
    return {"predicted": h["predicted"], "interval": h["interval"], "reported": h["reported"], "fitted": False,
            "inside": bool(h["inside"]), "method": f"ABC-SMC posterior ({c['directory']}), "
            f"{c.get('predictive_draws')} draws, whole trajectory, 95 % predictive interval"}


def held_out_record(guigang: dict) -> dict:
    """`guigang_2016: {predicted, interval, reported, fitted: false}` from the Guigang section."""
    p, lv = guigang["prediction"], guigang["comparison"]["level"]
    return {"predicted": p["predicted"], "interval": p["interval"], "reported": lv["reported"],
            "fitted": bool(lv["fitted"]), "inside": bool(lv["inside_interval"]), "method": "point fit on 2015, trajectory"}


def _value(x, outcome: str, change: str | None) -> str:
    """A predicted/reported value as the report prints it: shares and relative changes in %."""
    from .report_format import num, pct

    if x is None:
        return "—"
    if isinstance(x, list | tuple):
        return "band " + "–".join(_value(v, outcome, change) for v in x)
    if change == "relative":
        return pct(x, 1, True)
    if change == "difference":
        return f"{x * 100:+.2f} points"
    share = outcome.startswith(("survey_", "share_", "population_share")) or outcome == "clearance_rate"
    return pct(x, 2) if share else num(x, 1)


def calibration_markdown(res: dict, w, img: str) -> None:
    """The report's section on the posterior (see the module doc)."""
    from .report_format import num

    c = res["calibration"]
    w("## Calibration: the posterior over the assumed parameters\n")
    if "missing" in c:
        w(f"No calibration was found at `{c['missing']}`: run `gridsim calibrate targets/guigang_2015.yaml` and "
          "`gridsim validate --sections calibration` (docs/CALIBRATION.md).\n")
        return
    gens = c["generations"]
    w(f"From `{c['directory']}` (`gridsim calibrate {c['targets_file']}{' --quick' if c.get('quick') else ''}`): "
      f"ABC-SMC over {len(c['posterior_summary'])} assumed parameters, {c['particles']} particles, {len(gens)} generations, "
      f"{c['evaluations']:,} evaluations at scale {c['scale']:g} with {c['replicates']} replicate(s) per particle (common "
      f"random numbers), {num(c['seconds'] / 60 if c.get('seconds') else None, 1)} min. Model code "
      f"{'the same as this report' if c['same_model_code'] else '**not** the same as this report: re-run the calibration'}.\n")
    ess = c.get("final_ess")
    if ess is not None and c.get("particles"):
        share = ess / c["particles"]
        w(f"Effective sample size of the final population: **{num(ess, 1)} of {c['particles']}** "
          f"({share:.0%})" + (": the weights have collapsed onto a few particles, so the intervals below describe those "
                              "few parameter sets, not a posterior; read them as a demonstration of the pipeline only."
                              if share < 0.25 else ".") + "\n")
    w("| parameter | prior (uniform) | default | posterior median | 90 % credible interval | share of the prior's width |")
    w("|---|---|---|---|---|---|")
    for r in c["posterior_summary"]:
        lo, hi = r["ci90"]
        w(f"| `{r['parameter']}` | {r['prior'][0]:g}–{r['prior'][1]:g} | {r['default']:g} | {r['median']:.3g} | "
          f"{lo:.3g}–{hi:.3g} | {r['ci90_share_of_prior']:.0%} |")
    w("")
    w("| generation | temperature | evaluations | acceptance | ESS |\n|---|---|---|---|---|")
    for g in gens:
        w(f"| {g['t']} | {num(g['temperature'], 2)} | {g['evaluations']} | {g['acceptance_rate']:.0%} | {num(g['ess'], 1)} |")
    w("")
    for f in c["figures"]:
        w(f"![{f}]({img}{f})\n")
    runs = f"; each draw runs the {' and the '.join(c['predictive_runs'])}" if c.get("predictive_runs") else ""
    w(f"**Posterior-predictive check** ({c['predictive_draws']} posterior draws, fresh seeds{runs}; interval: "
      f"{c['predictive_interval']}). Held-out figures were hidden from the fit and read only here:\n")
    w("| target | period | fitted | predicted | 95 % interval | reported | inside |\n|---|---|---|---|---|---|---|")
    for tid, t in c["predictive"].items():
        lo, hi = t["interval"]
        ch = t.get("change")
        w(f"| {tid} | {t['period']}{' vs ' + t['change_from'] if t.get('change_from') else ''} | "
          f"{'yes' if t['fitted'] else '**held out**'} | {_value(t['predicted'], t['outcome'], ch)} | "
          f"{_value(lo, t['outcome'], ch)} – {_value(hi, t['outcome'], ch)} | {_value(t['reported'], t['outcome'], ch)} | "
          f"{'yes' if t['inside'] else '**no**'} |")
    w("")
    missed = [k for k, t in c["held_out"].items() if not t.get("inside")]
    if missed:
        w("**Held out, not reproduced:** " + ", ".join(f"`{k}`" for k in missed) + ".")
        chg = c["predictive"].get("guigang_2016_safety_change")
        if chg and "guigang_2016_safety_change" in missed:
            w(f"Over the posterior the model moves perceived safety by {_value(chg['predicted'], chg['outcome'], 'difference')} "
              f"from 2015 to 2016 (95 %: {_value(chg['interval'][0], chg['outcome'], 'difference')} to "
              f"{_value(chg['interval'][1], chg['outcome'], 'difference')}) against the reported "
              f"{_value(chg['reported'], chg['outcome'], 'difference')}: the camera build-out, the trajectory's only dated "
              "change, reaches safety through small channels, and the campaigns the document credits are not in it.")
        counts = [(k, c["predictive"][k]) for k in missed if c["predictive"].get(k, {}).get("change") == "relative"]
        if counts:
            w("Case counts 2015 → 2016, paired inside one run of the whole trajectory per draw: " + "; ".join(
                f"`{k}` {_value(t['predicted'], t['outcome'], 'relative')} (95 %: {_value(t['interval'][0], t['outcome'], 'relative')}"
                f" to {_value(t['interval'][1], t['outcome'], 'relative')}) against {_value(t['reported'], t['outcome'], 'relative')}"
                for k, t in counts) + ". The camera build-out alone does not move crime or clearance that far; the "
              "campaigns the document names (without size or date) are not in the trajectory.")
        w("")
    wide = [k for k, t in c["held_out"].items() if t.get("inside") and t.get("change") == "relative"
            and t["interval"][1] - t["interval"][0] > 0.3]
    if wide:
        w("Inside, but no test: " + ", ".join(f"`{k}`" for k in wide) + " — intervals wider than 30 points of change at "
          "the fit's scale.\n")
