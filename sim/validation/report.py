"""REPORT.md, written from the results dict alone.

Every number in the text is formatted from `validation.json` (the checks' results and the
figures from data/figures.yaml stored with them): none is typed in here, so the report
cannot go stale when a figure, a scenario file or the model changes.  The words around
the numbers may branch on them (inside or outside an interval, which city comes last).
tests/test_validation.py holds the report to this.
"""

from __future__ import annotations

from pathlib import Path

from .extras import outcome_info
from .plots import draw_all, figure_of
from .posterior import calibration_markdown
from .report_checks import cities_section, levels_section, mechanism_section, sensitivity_section
from .report_format import ci, figure_table, label_of, num, ok, pct, pts, value_text

SAFETY = "survey_expected_share_safe"
POP_SAFE = "population_share_safe"
RESOLUTION = "report_to_resolution_hours_mean"


# --------------------------------------------------------------------------- sections
def header(res: dict, w) -> None:
    st, v = res["settings"], res.get("versions", {})
    versions = ", ".join(f"{k} {v[k]}" for k in ("gridsim", "mesa", "scipy", "python") if k in v)
    warm = sorted({s["warmup_days"] for s in res.get("scenario_files", {}).values()})
    w(f"# Validation report ({st['name']})\n")
    w(f"Generated {res.get('generated', '')} by `gridsim validate` ({versions}); {res.get('runs', 0):,} model runs on "
      f"{res.get('workers', '?')} worker processes, {num(res.get('wall_minutes'), 1)} min wall clock. City runs use a "
      f"representative {st['scale']:g} of each city (same densities) over {st['days']} observed days; the default "
      f"district runs at scale {st['district_scale']:g} over {st['district_days']} observed days; "
      + (f"the scenario files' warm-up (`warmup_days`: {', '.join(str(d) for d in warm)}) comes first and nothing "
         "begun in it is counted. " if warm else "")
      + f"Intervals are {pct(res['confidence'], 0)}. Every number here is in `validation.json`; the reported figures "
      f"come from `{Path(res.get('figures_file', 'figures.yaml')).name}` with their quotes.\n")
    so, po = outcome_info(SAFETY), outcome_info(POP_SAFE)
    gap = res.get("guigang", {}).get("prediction", {}).get("population_minus_survey")
    w(f"Perceived safety is compared as `{SAFETY}` ({so.label}): {so.meaning}. `{POP_SAFE}` ({po.label}: {po.meaning})"
      + (f" differs from it by {pts(gap)} in the Guigang runs;" if ok(gap) else ";")
      + " it is the safety outcome of the sensitivity analysis, which needs no survey.\n")


def headline(res: dict, w) -> None:
    lines = []
    if "guigang" in res:
        g = res["guigang"]
        fit, p, c = g["fit"], g["prediction"], g["comparison"]
        y16 = figure_of(res, c["level"]["figure"])["year"]
        lines.append(f"- **Guigang {y16}, held out**: fitted on {figure_of(res, fit['figure'])['year']} only "
                     f"({pct(fit['target'], 2)}, `{fit['parameter']}` = {num(fit['value'], 4)}), then the "
                     f"{figure_of(res, fit['figure'])['year']}–{y16} trajectory with only "
                     + ", ".join(f"`{k}`" for k in p["changed_parameters"]) + f" changing: predicted **{pct(p['predicted'], 2)}** "
                     f"[{pct(p['interval'][0], 2)}, {pct(p['interval'][1], 2)}] against the reported "
                     f"**{pct(c['level']['reported'], 2)}** ({'inside' if c['level']['inside_interval'] else 'outside'} "
                     "the interval).")
        lines.append(f"- Guigang criminal cases: model {ci(c['filed']['model'], 100, 1, True)} % filed and "
                     f"{ci(c['solved']['model'], 100, 1, True)} % solved, against reported {pct(c['filed']['reported'], 1, True)} "
                     f"and {pct(c['solved']['reported'], 1, True)}.")
    if "cities" in res:
        c = res["cities"]
        j = c["jincheng"]
        lines.append(f"- Jincheng: {pct(j['share_within_reported'])} of the model's cleared robberies are cleared within the "
                     f"reported {value_text(figure_of(res, j['figure']))} (median {num(j['call_to_clear']['p50'])} h).")
        f = c["fangchenggang"]
        lines.append(f"- Fangchenggang: coverage {f['low_coverage']:g} (assumed) → {f['file_coverage']:g} changes safety by "
                     f"{ci(f['change'][SAFETY], 100, 2, True)} points; ranks cannot be compared quantitatively.")
        h = c["huizhou"]
        lines.append(f"- Huizhou's merge ({num(h['residents_per_grid_before'], 1)} → {num(h['residents_per_grid_after'], 1)} "
                     f"residents per grid, same workers per grid): report → resolved {ci(h['change'][RESOLUTION], 1, 1, True)} h, "
                     f"safety {ci(h['change'][SAFETY], 100, 2, True)} points.")
        for region, order in c["safety_by_city"]["model_order_by_region"].items():
            lines.append(f"- {region} files, perceived safety by the model: {' > '.join(order)}.")
    if "levels" in res:
        for b in res["levels"]["benchmarks"]:
            n_files = len(b["verdict"])
            lines.append(f"- {label_of(b['outcome'])} at documented staffing: {len(b['inside_files'])} of {n_files} scenario "
                         f"files inside the documented band ({b['kind']}).")
    if "queueing" in res:
        q = res["queueing"]
        lines.append(f"- Pure-queue check: model mean waits within {q['z_agrees']:g} standard errors of M/M/1 / Erlang C in "
                     f"{q['agreeing']} of {len(q['rows'])} settings.")
    if lines:
        w("## Headline\n")
        w("\n".join(lines) + "\n")


def guigang_section(res: dict, w, img: str) -> None:
    g = res["guigang"]
    fit, p, c, cs = g["fit"], g["prediction"], g["comparison"], g["cases"]
    st = res["settings"]
    y15, y16 = figure_of(res, fit["figure"])["year"], figure_of(res, c["level"]["figure"])["year"]
    w(f"## Guigang: fitted on {y15}, {y16} held out\n")
    w(f"![Guigang]({img}guigang.png)\n")
    w("The figures (every held-out one is only compared, never fitted: `fit_and_predict` receives them with their "
      "values hidden):\n")
    for line in figure_table(res, [fit["figure"], c["level"]["figure"], c["change"]["figure"], c["filed"]["figure"],
                                   c["solved"]["figure"], *c["solved_per_filed"]["figures"]]):
        w(line)
    w(f"**Fit ({y15} only).** `{fit['parameter']}` (an assumption) was fitted to {pct(fit['target'], 2)} "
      f"(`{fit['outcome']}`; error {fit['target_error']}, se {pct(fit['target_se'], 2)}) by {fit['method']} within "
      f"{fit['bounds'][0]:g}–{fit['bounds'][1]:g}, {len(fit['seeds'])} replicates per evaluation with the same seeds at every "
      f"evaluation (common random numbers), {fit['evaluations']} evaluations: **{num(fit['value'], 4)} ± {num(fit['se'], 4)}** "
      f"(start {fit['start']:g}). The model then gives {pct(fit['model'], 2)} ({num(fit['z'], 2, True)} standard errors "
      f"from the target). The ± is the survey's sampling error carried through the fit (se / slope, slope "
      f"{num(fit['slope_2015_per_unit'], 3)} per unit).\n")
    ch = ", ".join(f"`{k}` {p['before_values'][k]:g} → {v:g} (source: {p['change_sources'][k].strip()})"
                   for k, v in p["changed_parameters"].items())
    w(f"**Prediction ({y16}).** Whole runs of the trajectory `{p.get('scenario', 'guigang_2015_2016.yaml')}` "
      f"({y15} and {y16} in one run, each a calendar-year period) with the fitted value; its only dated change: "
      f"{ch}. Fresh seeds, {p['replicates']} replicates; the {y15} → {y16} changes are paired within each run.\n")
    lv = c["level"]
    w("| | value |\n|---|---|")
    w(f"| predicted {y16} | **{pct(p['predicted'], 2)}** |")
    w(f"| {pct(res['confidence'], 0)} interval | **[{pct(p['interval'][0], 2)}, {pct(p['interval'][1], 2)}]** |")
    w(f"| reported {y16} | {pct(lv['reported'], 2)} ({'inside' if lv['inside_interval'] else 'outside'} the interval, "
      f"z = {num(lv['z'], 2, True)}) |")
    w(f"| fitted | {str(lv['fitted']).lower()} |")
    w(f"| predicted change {y15} → {y16} (paired seeds) | {ci(p['change'], 100, 2, True)} points |")
    w(f"| reported change | {pts(c['change']['reported'])} |")
    parts = " + ".join(f"{pct(v, 2)}² {k}" for k, v in p["sd_parts"].items())
    w(f"| interval's sd | {pct(p['sd'], 2)} = √({parts}) |\n")
    w(f"The interval is the prediction ± {p['z_quantile']:g} sd, adding as independent variances the spread of the model "
      f"over replicates (each replicate is one possible city; at scale {st['scale']:g} this overstates a whole city's own "
      f"randomness), the {y15} survey's error carried through the fit (the fitted parameter's se × the {y16} outcome's slope "
      f"in it, {num(p['slope_2016_per_unit'], 3)}), and the {y16} survey's own sampling error ({p['survey_error']}).\n")
    chg, rep_chg = p["change"], c["change"]["reported"]
    small = ok(chg["mean"]) and abs(chg["mean"]) < abs(rep_chg) / 2
    if lv["inside_interval"]:
        w(f"**The reported {y16} figure lies inside the prediction interval** (z = {num(lv['z'], 2, True)}). The interval is "
          "wide mostly because of survey sampling in both years, so this is a weak test"
          + (f"; the model's own change is {ci(chg, 100, 2, True)} points against the reported {pts(rep_chg)}, so the "
             "agreement owes more to the width of the interval than to the mechanism changed." if small else "."))
    else:
        w(f"**The model does not reproduce the {y16} figure**: the reported value lies outside the prediction interval "
          f"(z = {num(lv['z'], 2, True)}). The change of the scenario moves the model's perceived safety by "
          f"{ci(chg, 100, 2, True)} points against the reported {pts(rep_chg)}.")
    if small and {"camera_coverage", "crime.camera_stock_per_1000"} & set(p["changed_parameters"]):
        w("In the model, cameras reach perceived safety only through a small direct term (`perception.w_camera`: there is "
          "little evidence that cameras reduce fear) and through somewhat fewer and better-cleared crimes. The document "
          "credits the gain to many measures at once (crackdowns on gambling and drugs, the anti-gang campaign, dispute "
          "work), which the trajectory does not represent: by the model, the camera build-out alone does not "
          "account for the reported rise.\n")
    else:
        w("")
    f, s = c["filed"], c["solved"]
    w(f"**Criminal cases, {y15} → {y16}** (the same paired runs; no crime figure was fitted):\n")
    w("| | model | reported |\n|---|---|---|")
    w(f"| cases filed (model: {label_of(figure_of(res, f['figure'])['outcome'])}) | {ci(f['model'], 100, 1, True)} % | "
      f"{pct(f['reported'], 1, True)} |")
    w(f"| cases solved (model: {label_of(figure_of(res, s['figure'])['outcome'])}) | {ci(s['model'], 100, 1, True)} % | "
      f"{pct(s['reported'], 1, True)} |")
    w(f"| all incidents (known or not) | {ci(cs['all_incidents'], 100, 1, True)} % | — |")
    w(f"| {label_of('clearance_rate')} | {ci(cs['clearance_rate_2015'], 100, 1)} → {ci(cs['clearance_rate_2016'], 100, 1)} | "
      f"solved / filed {pct(c['solved_per_filed']['reported'])} ({y16}) |\n")

    def judge(d: dict) -> str:
        if not ok(d["model"]["mean"]):
            return "no model value"
        return (f"{pct(d['model']['mean'], 1, True)}, {'the same sign as' if d['same_sign'] else 'the opposite sign to'} the "
                f"reported {pct(d['reported'], 1, True)}, which lies {'inside' if d['inside_interval'] else 'outside'} the "
                "model's interval")

    w(f"Cases filed: the model gives {judge(f)}. Cases solved: {judge(s)}. In the model more cameras deter some street "
      "crime in view (`crime.camera_deterrence`) but also reveal incidents no victim would have reported "
      "(`crime.camera_detect_prob`), which push cases filed in opposite directions, and footage raises clearance "
      "(`crime.camera_clearance_boost`). Both reported changes also reflect the year's campaigns, which the model does "
      f"not have. The intervals are over replicates of a {st['scale']:g} town, so they are wider than a whole city's.\n")
    ov = g.get("overlays")
    if ov:
        w(f"The fitted trajectory is [`{ov['calibrated']}`]({img}{ov['calibrated']}) (with its record "
          f"`{Path(ov['calibrated']).with_suffix('.json').name}`) — `gridsim run` it.\n")


def report_markdown(res: dict, figure_dir: str = "") -> str:
    """The whole report; `figure_dir` is prefixed to image and overlay links (for docs/)."""
    lines: list[str] = []
    w = lines.append
    header(res, w)
    headline(res, w)
    if "guigang" in res:
        guigang_section(res, w, figure_dir)
    if "calibration" in res:
        calibration_markdown(res, w, figure_dir)
    if "cities" in res:
        cities_section(res, w, figure_dir)
    if "levels" in res:
        levels_section(res, w)
    if "sensitivity" in res:
        sensitivity_section(res, w, figure_dir)
    if "queueing" in res or "levers" in res:
        mechanism_section(res, w, figure_dir)
    w("## Runtime\n")
    stamps = res.get("section_stamps", {})
    codes = {st.get("model_code") for st in stamps.values()}
    if len(codes) > 1:
        w("The sections were computed at different times (`gridsim validate --sections`); each row says when and "
          "with which model code (the first 12 hex digits of the sha256 `gridsim sweep` stores).\n")
    w("| section | wall (s) | runs | run-seconds | computed | model code |\n|---|---|---|---|---|---|")
    for k, v in res.get("timings", {}).items():
        st = stamps.get(k, {})
        code = f"`{st['model_code'][:12]}`" if st.get("model_code") else "unknown"
        w(f"| {k} | {v['seconds']:.0f} | {v['runs']} | {v['run_seconds']:.0f} | {st.get('generated') or res.get('generated', '')} | {code} |")
    w("")
    return "\n".join(lines) + "\n"


def write_report(res: dict, out: Path) -> None:
    """The figures and REPORT.md into `out`, from the results alone."""
    draw_all(res, Path(out))
    (Path(out) / "REPORT.md").write_text(report_markdown(res), encoding="utf-8")
