"""The report's sections on the other cities, the sensitivity analysis and the mechanism
checks, written from the results dict alone (see report.py)."""

from __future__ import annotations

from .extras import outcome_info
from .levers import lever_verdict
from .plots import figure_of
from .report_format import ci, ci_of, cite, figure_table, label_of, num, ok, pct, value_text

SAFETY = "survey_expected_share_safe"
POP_SAFE = "population_share_safe"
RESOLUTION = "report_to_resolution_hours_mean"


def _table(w, heads: list[str], rows: list[list[str]]) -> None:
    w("| " + " | ".join(heads) + " |\n|" + "---|" * len(heads))
    for r in rows:
        w("| " + " | ".join(r) + " |")
    w("")


def _where(share, band) -> str:
    if not ok(share):
        return "not placed (no cleared robbery in these runs: the town is too small)"
    return "typical" if band[0] <= share <= band[1] else "in the tail"


def cities_section(res: dict, w, img: str) -> None:
    c = res["cities"]
    w("## The other cities: each scenario against its document\n")
    w(f"![cities]({img}cities.png)\n")
    w(f"Every city runs {c['replicates']} replicates with the same seeds in each variant, so changes are paired.\n")

    j = c["jincheng"]
    w(f"### Jincheng: a robbery cleared in {value_text(figure_of(res, j['figure']))}\n")
    for line in figure_table(res, [j["figure"]]):
        w(line)
    q = j["call_to_clear"]
    w(f"The Jincheng scenario gives {j['cleared_robberies']} cleared robberies (of {j['robberies']}); their call → "
      f"clearance time: median {num(q['p50'])} h, mean {num(q['mean'])} h, p10–p90 {num(q['p10'])}–{num(q['p90'])} h "
      f"(officer on scene: median {num(j['call_to_scene']['p50'])} h). **{pct(j['share_within_reported'])} of the model's "
      f"cleared robberies are cleared within {num(j['reported_hours'])} h**, so the reported case is "
      f"{_where(j['share_within_reported'], j['typical_band'])} of the model's distribution. One case cannot validate a "
      "distribution: it is only checked that the model makes such a case ordinary or possible. The scenario's robbery "
      f"effort (`crime.investigation_hours.robbery`, {j['investigation_hours_robbery']:g} h) was set with this case in "
      "mind, so this is a consistency check, not an independent test.\n")

    fc = c["fangchenggang"]
    d = fc["change"]
    w("### Fangchenggang: the camera build-out\n")
    for line in figure_table(res, [*fc["figures"], fc["assumption"]]):
        w(line)
    w(f"The file's coverage (derived from its camera stock) is {fc['file_coverage']:g}; the coverage before the build-out is not reported, so it is "
      f"**assumed to be {fc['low_coverage']:g}**. Same seeds, the file's camera stock replaced by that `camera_coverage`:\n")
    keys = (SAFETY, "incidents_per_10k_year", "incidents_known_per_10k_year", "detection_rate", "clearance_rate",
            "cost_yuan_per_resident_year")
    _table(w, ["outcome", f"coverage {fc['low_coverage']:g}", f"coverage {fc['file_coverage']:g}", "change"],
           [[label_of(k), ci_of(k, fc["low"][k]), ci_of(k, fc["file"][k]), ci_of(k, d[k], 2, True)] for k in keys])
    up = ok(d[SAFETY]["mean"]) and d[SAFETY]["mean"] > 0
    r15, r16 = figure_of(res, "guigang_2015_safety_rank"), figure_of(res, "guigang_2016_safety_rank")
    s15, s16 = figure_of(res, "guigang_2015_safety"), figure_of(res, "guigang_2016_safety")
    w(f"The model's perceived safety {'rises' if up else 'falls'} by {ci(d[SAFETY], 100, 2, True)} points with the "
      f"build-out ({'the direction reported' if up else 'against the direction reported'}). The document reports only "
      "ranks, and how many points separate last from near the top is not reported (for scale: Guigang's "
      f"{value_text(s15)} was {value_text(r15)} in {r15['year']}, its {value_text(s16)} {value_text(r16)} in {r16['year']}); "
      "the other cities of the region are not modelled with their own changes, and the rise took years of many measures. "
      "**Ranks cannot be compared quantitatively**: the model gives the direction and the size of the camera build-out's "
      "own share.\n")

    h = c["huizhou"]
    gb, ga = figure_of(res, "huizhou_grids_before"), figure_of(res, "huizhou_grids_after")
    w(f"### Huizhou: {value_text(gb)} merged into {value_text(ga)}\n")
    for line in figure_table(res, h["figures"]):
        w(line)
    w(f"Run at {num(h['residents_per_grid_before'], 1)} (before: population / grids before) and "
      f"{num(h['residents_per_grid_after'], 1)} residents per grid (after: the file; population / grids after = "
      f"{num(h['residents_per_grid_after_from_figures'], 1)}). Whether the workforce shrank with the number of grids is not "
      f"said, so the model is run both ways: {h['workers_per_grid']:g} workers per grid after the merge (the file: "
      f"{pct(h['workforce_change_file'], 0, True)} workers) and {num(h['workers_per_grid_same_workforce'])} per grid (the "
      "same workforce in fewer, bigger grids).\n")
    keys = (RESOLUTION, "share_settled_in_grid", "share_known_resolved_within_24h", "share_known",
            "visits_per_household_month", SAFETY, "incidents_per_10k_year", "conversions_per_10k_year",
            "cost_yuan_per_resident_year")
    _table(w, ["outcome", "before", "after (file)", "change", "after, same workforce", "change"],
           [[label_of(k), ci_of(k, h["before"][k]), ci_of(k, h["after"][k]), ci_of(k, h["change"][k], 2, True),
             ci_of(k, h["after_same_workforce"][k]), ci_of(k, h["change_same_workforce"][k], 2, True)] for k in keys])
    trend = figure_of(res, "huizhou_incidents_falling")
    w(f"The document reports only a trend ({cite(trend)}). The model has no trend in crime (its crime rates are constant "
      "inputs); the merge changes incidents only through guardianship (visiting hours), by "
      f"{ci(h['incidents_change_relative'], 100, 1, True)} %. **Not comparable quantitatively**: a yearly fall of "
      "incidents over several years, caused by much else, cannot be set against a one-off structural change.\n")

    lb = c["laibin"]
    fs, us = figure_of(res, "laibin_fulltime_share"), figure_of(res, "laibin_urban_fulltime_share")
    w(f"### Laibin: {value_text(fs)} full-time, {value_text(us)} in urban grids\n")
    for line in figure_table(res, lb["figures"]):
        w(line)
    w(f"The file uses the documented share as an input (`fulltime_ratio` {lb['file_fulltime_ratio']:g}); the model "
      f"realises {ci(lb['dense_grids']['fulltime_share'], 100, 1)} % of grid workers full-time. With "
      f"`staffing.fulltime_first: {lb['file_fulltime_first']}` (the file: every worker of the densest grids first) "
      f"{ci(lb['dense_grids']['fulltime_in_densest_quarter'], 100, 0)} % of full-time posts sit in the densest quarter of "
      f"grids, against {ci(lb['lead_workers']['fulltime_in_densest_quarter'], 100, 0)} % with `lead_workers`.\n")
    keys = (RESOLUTION, "share_known_resolved_within_24h", "share_grid_settled_within_24h", "share_settled_in_grid",
            SAFETY, "incidents_per_10k_year")
    _table(w, ["outcome", f"{lb['file_fulltime_first']} (file)", "lead_workers", "difference"],
           [[label_of(k), ci_of(k, lb["dense_grids"][k]), ci_of(k, lb["lead_workers"][k]),
             ci_of(k, lb["change_dense_minus_lead"][k], 2, True)] for k in keys])
    w("The share itself is an input, so reproducing it validates nothing; the document's other figures (an environment "
      "bureau reaching a reported pollution site the same day, an agency's arrival and not a dispute's resolution; a rank) "
      "are an anecdote and a rank. **Neither can be compared quantitatively**; the table shows what the model says the "
      "urban placement does.\n")

    sb = c["safety_by_city"]
    w("### Perceived safety across the city files (as they stand)\n")
    def ranks(ids: list[str]) -> str:
        figs = [figure_of(res, r) for r in ids]
        texts = [f"{value_text(f)} ({f['year']})" if f.get("value") is not None else f["translation"].strip() for f in figs]
        return "; ".join(dict.fromkeys(texts)) or "no rank"

    _table(w, ["file", f"model: {label_of(SAFETY)}", "document"],
           [[name, ci(row["model"], 100), ranks(row["rank_figures"])] for name, row in sb["files"].items()])
    for region, order in sb["model_order_by_region"].items():
        w(f"Among the files ranked in {region} the model orders {' > '.join(order)}.")
        ranked = [figure_of(res, r) for r in sb["files"][order[-1]]["rank_figures"]]
        best = min((f for f in ranked if f.get("value") is not None), key=lambda f: f["value"], default=None)
        if order[-1] == "laibin" and best is not None:
            w(f"**The model places Laibin last, against its document** ({value_text(best)}, {best['year']}): most likely "
              f"because of its {'assumed ' if lb['workers_per_grid_assumed'] else ''}{lb['workers_per_grid']:g} worker(s) "
              f"per grid, with which the model's disputes wait long (report → resolved "
              f"{ci(lb['dense_grids'][RESOLUTION], 1, 0)} h, against {ci(c['huizhou']['after'][RESOLUTION], 1, 0)} h in "
              "Huizhou) and visits are rare.")
        w("")
    if sb["all_files_at_schema_safety"]:
        w(f"Every file uses the schema's baseline safety (`perception.safety_mean` {sb['schema_safety_mean']:g}, not the "
          "Guigang fit), so the differences are the mechanisms' alone (crime, disorder, visits, patrols, cameras); ranks "
          "from different years and regions cannot be compared quantitatively.\n")


def _fmtv(v) -> str:
    return "(" + ", ".join(f"{x:.3g}" for x in v) + ")" if isinstance(v, list) else f"{v:.3g}"


def _ci2(c) -> str:
    return f" [{c[0]:.2f}, {c[1]:.2f}]" if c and all(ok(x) for x in c) else ""


def sensitivity_section(res: dict, w, img: str) -> None:
    sens = res["sensitivity"]
    s = sens["sobol"]
    w("## Sensitivity: Sobol indices\n")
    if "screening" in sens:
        sc = sens["screening"]
        ks = sc["outcomes"]
        w(f"**Which assumed parameters.** Every assumed, behavioural, numeric parameter ({len(sc['rows'])} of them; levers, "
          "run shape, survey definition, clock positions and cost-only ones excluded) was screened one at a time in the "
          f"default district: its value divided and multiplied by {sc['factor']} (probabilities and shares: their odds), "
          f"same seeds. Chosen for Sobol: the top {sc['top_per_outcome']} by |effect| for each outcome, together — "
          + ", ".join(f"`{k}`" for k in sc["chosen"]) + ".\n")
        rows = sorted(sc["rows"], key=lambda r: min(r[f"rank_{k}"] for k in ks))
        _table(w, ["parameter", "low → high"] + [x for k in ks for x in (f"Δ {label_of(k)}", "rank")],
               [[f"`{r['key']}`", f"{_fmtv(r['low'])} → {_fmtv(r['high'])}"]
                + [x for k in ks for x in (num(r[f"effect_{k}"] * (100 if outcome_info(k).is_share else 1), 2, True),
                                           str(r[f"rank_{k}"]))] for r in rows])
    lev = ", ".join(f"`{d['key']}` {d['low']:g}–{d['high']:g}" + (" (log-uniform)" if d["kind"] == "log" else "")
                    for d in s["inputs"] if d["group"] == "lever")
    w(f"**Sobol design.** `scipy.stats.sobol_indices` (Saltelli's estimator), n = {s['n']} → {s['runs']} runs, inputs "
      f"uniform on their ranges ({lev}; assumed parameters over their screening range), one seed for every run (common "
      "random numbers: each point is the same town and the same random streams)"
      + (f", {pct(res['confidence'], 0)} bootstrap intervals ({s['bootstrap']} resamples)" if s["bootstrap"] else "")
      + ".\n")
    w(f"![Sobol]({img}sobol.png)\n")
    for k in s["outcomes"][:2]:
        w(f"**{label_of(k)}** (`{k}`; sd over the design {s['output_sd'][k]:.4g}; sd over seeds at the centre "
          f"{s['noise_sd_at_centre'][k]:.3g}):\n")
        _table(w, ["input", "first order", "total order"],
               [[f"{'**lever** ' if r['group'] == 'lever' else ''}`{r['key']}`", f"{r['first']:.3f}{_ci2(r.get('first_ci'))}",
                 f"{r['total']:.3f}{_ci2(r.get('total_ci'))}"] for r in s["indices"][k]])
    w(f"The indices of `{SAFETY}` (the survey-comparable share, in `validation.json`) differ from those of `{POP_SAFE}` by "
      f"at most {num(s['survey_vs_population_total_max_diff'], 3)} (total order).\n")
    w("Reading: the first-order index is the share of the outcome's variance over the box that one input explains alone; "
      "the total index adds its interactions. Every point runs with the same seed, so the indices describe the model as a "
      "function of its inputs for one draw of the dice; what the dice would add is the variance over seeds at the centre "
      f"of the box, at most {pct(s['noise_variance_share_max'])} of the variance over the box here. Indices a little below "
      f"zero, or first order above total, are estimation noise of the estimator with n = {s['n']}; the bootstrap intervals "
      "say how much. The ranking of the large indices is what is robust.\n")


def mechanism_section(res: dict, w, img: str) -> None:
    w("## Mechanism checks\n")
    if "queueing" in res:
        q = res["queueing"]
        wu = q["warm_up"]
        w("### The grid rung as a pure queue\n")
        w(f"One grid, every dispute reported at once, round-the-clock shifts, no routine duties, success certain, no waiting "
          f"threshold, exponential service of mean {q['service_mean_hours']:g} h, no crime; {q['replicates']} replicates of "
          f"{q['days']} days, arrivals in the first {pct(wu['share_of_horizon'], 0)} of the horizon (at least "
          f"{wu['at_least_days']:g} days) dropped.\n")
        w(f"![queueing]({img}queueing.png)\n")
        _table(w, ["workers", "ρ", "theory Wq (h)", "model Wq (h) [CI]", "rel. error", "z", "theory P(wait)", "model P(wait)"],
               [[str(r["servers"]), f"{r['utilisation']:g}", f"{r['theory_wait']:.3f}", ci(r["model_wait"], 1, 3),
                 pct(r["relative_error"], 1, True), num(r["z"]), f"{r['theory_p_wait']:.3f}", ci(r["model_p_wait"], 1, 3)]
                for r in q["rows"]])
        w(f"{q['agreeing']} of {len(q['rows'])} settings within {q['z_agrees']:g} standard errors of theory (M/M/1 for one "
          "worker, Erlang C for more). Near full utilisation the queue relaxes slowly and replicate means scatter widely; "
          "the test suite (`tests/test_queueing.py`) holds the same check to a rule of its own.\n")
    if "levers" in res:
        lv = res["levers"]
        w("### The levers, one at a time\n")
        w(f"Default district, {lv['replicates']} replicates per point with the same seeds at every point; shaded: the "
          "interval of the mean. A lever is *monotone* if no step towards more of it (smaller grids, more full-time "
          "workers, more cameras) makes the outcome significantly worse (paired interval of the step entirely on the worse "
          "side, worse by the outcome catalogue's direction). The shape (as the figure's titles) is read from the paired "
          "intervals of the ends and of every step, along increasing values of the lever.\n")
        w(f"![levers]({img}levers.png)\n")
        rows = []
        for lever, d in lv["levers"].items():
            for k, o in d["outcomes"].items():
                rows.append([lever, label_of(k), f"{d['values'][0]:g} → {d['values'][-1]:g}", ci_of(k, o["ends"], 2, True),
                             num(o["p_more_is_worse"], 3), "yes" if o["monotone"] else "**no**",
                             lever_verdict(d["values"], o, lv["replicates"])])
        _table(w, ["lever", "outcome", "least → most", "change (paired)", "one-sided p, H₁: more is worse", "monotone",
                   "shape"], rows)


def levels_section(res: dict, w) -> None:
    """Each documented band beside every file's level, with the verdict in words."""
    lv = res["levels"]
    files = list(lv["files"])
    w("## Levels at documented staffing\n")
    w(f"Every scenario file as it is (documented staffing, grids and cameras; every assumed behavioural number at its "
      f"default, nothing fitted), {lv['replicates']} replicates each, beside the levels national and local sources "
      "document (`sim/validation/data/benchmarks.yaml`). A level outside its band is a finding about the model, "
      "not something to be tuned away here: calibration against these bands is a separate, later step.\n")
    heads = ["level", "documented", *files]
    rows = []
    for b in lv["benchmarks"]:
        k = b["outcome"]
        unit_f = 100.0 if (outcome_info(k) and outcome_info(k).is_share) else 1.0
        band = "–".join("…" if v is None else f"{unit_f * v:g}" for v in (b["low"], b["high"]))
        rows.append([label_of(k), band + f" ({b['kind']})",
                     *[f"{ci_of(k, lv['files'][f][k], 1)} {'✓' if b['verdict'][f] == 'inside' else '✗ ' + b['verdict'][f]}"
                       for f in files]])
    _table(w, heads, rows)
    for b in lv["benchmarks"]:
        inside = b["inside_files"]
        outside = [f for f in files if f not in inside]
        w(f"- **{label_of(b['outcome'])}** ({b['kind']}): {b['what'].strip()} Sources: {'; '.join(b['sources'])}. "
          + (f"All {len(files)} files fall inside." if not outside else
             f"Inside: {', '.join(inside) or 'none'}; outside: " + ", ".join(f"{f} ({b['verdict'][f]})" for f in outside) + "."))
    w("")
    extra = [k for k in lv["keys"] if k not in {b["outcome"] for b in lv["benchmarks"]}]
    if extra:
        w("Other levels of the same runs (no documented band):\n")
        rows = [[label_of(k), *[ci_of(k, lv["files"][f][k], 2) for f in files]] for k in extra]
        if "police_p90_over_median" in lv["files"][files[0]]:
            rows.append(["police response p90 / median (the rural tail)",
                         *[ci(lv["files"][f]["police_p90_over_median"], 1.0, 2) for f in files]])
        _table(w, ["level", *files], rows)
