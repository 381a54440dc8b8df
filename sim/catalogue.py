"""The outcome catalogue: every outcome and daily series a run reports, declared once.

Each entry has its name (the key in `summary.json`, the sweep store and calibration
targets), a short label, a unit, which direction is better, and what it means.  The CLI
table, sweep curves, calibration targets and validation all take names and labels from
here, and a test holds `sim.outcomes.summarise` and the DataCollector's reporters to this
list, so a new outcome is declared here or the suite fails.  `gridsim outcomes` prints it.

Shares are stored as fractions 0–1 and shown in %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .scenario import RUNGS

HIGHER, LOWER, NEITHER = +1, -1, 0
_BETTER_TEXT = {HIGHER: "higher", LOWER: "lower", NEITHER: "-"}


@dataclass(frozen=True)
class Outcome:
    name: str
    label: str
    unit: str
    better: int          # HIGHER or LOWER is better; NEITHER for sizes, counts and mixes
    meaning: str
    group: str

    @property
    def is_share(self) -> bool:
        return self.unit == "share"

    def axis_label(self) -> str:
        """Label with unit, for axes: shares are drawn in %."""
        return f"{self.label} (%)" if self.is_share else f"{self.label} ({self.unit})"

    def format(self, value) -> str:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return "n/a"
        if self.is_share:
            return f"{100 * value:.1f} %"
        if self.unit in ("residents", "count", "cases at the horizon", "grids", "staff", "cameras", "days"):
            return f"{value:,.0f}"
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.1f}"

    @property
    def better_text(self) -> str:
        return _BETTER_TEXT[self.better]


OUTCOMES: dict[str, Outcome] = {}
SERIES: dict[str, Outcome] = {}


def _add(table, name, label, unit, better, meaning, group):
    assert name not in table, name
    table[name] = Outcome(name, label, unit, better, meaning, group)


def _stats3(prefix, label, better, meaning, group):
    for stat, text in (("mean", "mean"), ("median", "median"), ("p90", "90th percentile")):
        _add(OUTCOMES, f"{prefix}_{stat}", f"{label}, {text}", "h", better, f"{meaning} ({text})", group)


# --------------------------------------------------------------------------- disputes and the ladder
_stats3("resolution_hours", "onset → resolved", LOWER,
        "hours from a dispute's onset to its resolution, over disputes begun in the observed period and resolved", "disputes")
_stats3("report_to_resolution_hours", "report → resolved", LOWER,
        "hours from a dispute becoming known (report or visit) to its resolution", "disputes")
for _r in RUNGS:
    _add(OUTCOMES, f"resolution_hours_mean_{_r}", f"onset → resolved at the {_r}, mean", "h", LOWER,
         f"mean onset → resolution hours of disputes the {_r} rung settled", "ladder")
_add(OUTCOMES, "disputes", "disputes", "count", NEITHER, "disputes begun in the observed period", "disputes")
_add(OUTCOMES, "disputes_per_10k_year", "disputes arising", "per 10k residents/yr", NEITHER,
     "rate at which disputes began", "disputes")
_add(OUTCOMES, "disputes_resolved", "disputes resolved", "count", NEITHER, "of those, resolved by the horizon", "disputes")
_add(OUTCOMES, "disputes_converted", "disputes converted", "count", LOWER, "of those, turned into an assault (民转刑)", "disputes")
_add(OUTCOMES, "disputes_open", "disputes open", "count", LOWER, "of those, neither resolved nor converted at the horizon", "disputes")
_add(OUTCOMES, "share_open", "share still open", "share", LOWER, "disputes_open / disputes", "disputes")
_add(OUTCOMES, "share_known", "share known", "share", HIGHER,
     "share of disputes that became known to the system (report, late report or visit)", "disputes")
_add(OUTCOMES, "share_settled_in_grid", "settled inside the grid", "share", HIGHER,
     "share of resolved disputes settled at the grid rung (小事不出格)", "ladder")
_add(OUTCOMES, "share_settled_in_community", "settled by the community", "share", NEITHER,
     "share of resolved disputes settled at the community rung (大事不出村: with the grid, the village level)", "ladder")
_add(OUTCOMES, "share_settled_low", "settled in the grid or village", "share", HIGHER,
     "share of resolved disputes settled at the grid or the community rung (小事不出村)", "ladder")
_add(OUTCOMES, "mediation_per_10k_year", "reaching community mediation", "per 10k residents/yr", NEITHER,
     "disputes begun in the observed period that reached the community rung (people's mediation), per 10,000 "
     "residents a year (national figures: about 63 in 2017, 106 in 2022)", "ladder")
_add(OUTCOMES, "escalation_rate", "escalated", "share", LOWER,
     "share of known disputes that went up at least one rung", "ladder")
_add(OUTCOMES, "timeout_rate", "escalated by waiting", "share", LOWER,
     "share of known disputes that escalated at least once because they waited past a rung's deadline", "ladder")
_add(OUTCOMES, "conversions_per_10k_year", "disputes turned violent", "per 10k residents/yr", LOWER,
     "disputes turned into assaults", "disputes")
for _r in RUNGS:
    _add(OUTCOMES, f"backlog_{_r}", f"cases at the {_r} at the end", "cases at the horizon", LOWER,
         f"disputes waiting at or being served by the {_r} rung at the run's last moment", "ladder")
for _r in RUNGS:
    _add(OUTCOMES, f"cases_mean_{_r}", f"cases at the {_r}, time-average", "cases", LOWER,
         f"time-averaged number of disputes at the {_r} rung (waiting, in hand-off or in service) over the observed "
         "period, integrated exactly from each dispute's entry and exit times (disputes begun in the warm-up count "
         "while they are there)", "ladder")

# --------------------------------------------------------------------------- crime and police
_add(OUTCOMES, "incidents", "crime incidents", "count", LOWER, "incidents in the observed period (violent disputes included)", "crime")
_add(OUTCOMES, "incidents_per_10k_year", "crime incidents", "per 10k residents/yr", LOWER,
     "incidence of crime, known or not", "crime")
_add(OUTCOMES, "incidents_known_per_10k_year", "incidents known to the police", "per 10k residents/yr", NEITHER,
     "incidents the police learnt of (by camera or a victim's call): rises with detection, falls with crime", "crime")
_add(OUTCOMES, "incidents_cleared", "incidents cleared", "count", HIGHER, "known incidents the police cleared", "crime")
_add(OUTCOMES, "incidents_uncleared", "incidents uncleared", "count", LOWER, "known incidents closed without clearing", "crime")
_add(OUTCOMES, "incidents_unreported", "incidents unreported", "count", LOWER, "incidents nobody reported or saw on camera", "crime")
_add(OUTCOMES, "incidents_open", "incidents open", "count", NEITHER, "known incidents still under investigation at the horizon", "crime")
_add(OUTCOMES, "detection_rate", "known to the police", "share", HIGHER, "share of incidents the police learnt of", "crime")
_add(OUTCOMES, "camera_detection_share", "known by camera", "share", NEITHER,
     "share of known incidents that a camera revealed", "crime")
_add(OUTCOMES, "clearance_rate", "clearance", "share", HIGHER, "cleared / (cleared + uncleared) known incidents", "crime")
_stats3("police_response_hours", "police response", LOWER,
        "hours from a call reaching the police to an officer at the scene (wait + dispatch + travel)", "crime")

# --------------------------------------------------------------------------- perception
_add(OUTCOMES, "survey_share_safe", "survey: safe (last)", "share", HIGHER,
     "the last sample survey's share answering at least 'basically safe' (top 3 of 5 answers), as cities report", "perception")
_add(OUTCOMES, "survey_se", "survey standard error", "share", NEITHER, "binomial standard error of that survey's share", "perception")
_add(OUTCOMES, "survey_share_safe_mean", "survey: safe (mean of surveys)", "share", HIGHER,
     "mean of the observed period's surveys' shares", "perception")
_add(OUTCOMES, "population_share_safe", "population: safe", "share", HIGHER,
     "share of all residents whose felt safety is at least the 'basically safe' cut-point at the horizon (no answer noise)",
     "perception")
_add(OUTCOMES, "survey_expected_share_safe", "survey of everyone: safe", "share", HIGHER,
     "the share a survey of every resident would report: felt safety plus answer noise against the cut-point, averaged "
     "(a sample survey estimates it, without sampling error)", "perception")
_add(OUTCOMES, "safety_mean", "mean felt safety", "score 0–1", HIGHER, "mean of residents' felt safety at the horizon", "perception")
_add(OUTCOMES, "safety_spread_across_grids", "spread of safety across grids", "score 0–1", LOWER,
     "standard deviation across grids of grid-mean felt safety", "perception")
_add(OUTCOMES, "trust_mean", "mean trust", "score 0–1", HIGHER, "mean of residents' trust in the governance system at the horizon",
     "perception")

# --------------------------------------------------------------------------- grid work and cost
_add(OUTCOMES, "worker_utilisation", "grid-worker utilisation", "share", NEITHER,
     "(routine duties + casework) / working hours of grid workers, mean over observed days", "staff")
_add(OUTCOMES, "visits_per_household_month", "household visits", "per household per month", HIGHER,
     "household visits grid workers made in time free of casework", "staff")
_add(OUTCOMES, "grids_overloaded_by_routine", "grids overloaded by routine", "grids", LOWER,
     "grids whose routine duties alone exceed their team's working hours", "staff")
_add(OUTCOMES, "routine_shortfall_share", "routine duties left undone", "share", LOWER,
     "share of the routine duties owed over the observed period that grid workers left undone (with staffing.triage "
     "cases_first they get what casework leaves; with routine_first, what team hours allow)", "staff")
_add(OUTCOMES, "cost_yuan_per_year", "cost", "yuan/yr", LOWER, "grid workers' pay + cameras' capital spread over their life", "cost")
_add(OUTCOMES, "cost_grid_workers_yuan_per_year", "cost of grid workers", "yuan/yr", LOWER, "full- and part-time grid workers' pay", "cost")
_add(OUTCOMES, "cost_cameras_yuan_per_year", "cost of cameras", "yuan/yr", LOWER, "cameras' capital over their life", "cost")
_add(OUTCOMES, "cost_yuan_per_resident_year", "cost per resident", "yuan/resident/yr", LOWER, "cost_yuan_per_year / residents", "cost")

# --------------------------------------------------------------------------- the town simulated
for _name, _label, _unit, _meaning in (
        ("residents", "residents", "residents", "residents simulated (population × scale)"),
        ("days", "days observed", "days", "days of the observed period (after the warm-up)"),
        ("grids", "governance grids", "grids", "grids of the partition"),
        ("communities", "communities", "count", "communities (社区/村)"),
        ("townships", "townships", "count", "townships (街道/乡镇)"),
        ("cells", "cells", "count", "cells of the town's raster"),
        ("cell_km", "cell side", "km", "side of one cell"),
        ("grid_workers", "grid workers", "staff", "grid workers, full- and part-time"),
        ("grid_workers_fulltime", "full-time grid workers", "staff", "full-time grid workers"),
        ("police_on_duty", "police on duty", "staff", "officers on duty at any hour"),
        ("community_mediators", "community mediators", "staff", "people's mediators of the communities"),
        ("township_mediators", "township mediators", "staff", "full-time mediators of the township centres"),
        ("court_slots", "court slots", "staff", "judges' case slots for these disputes"),
        ("cameras", "cameras", "cameras", "cameras hung (covered public cells × cameras per cell, or the stock)"),
        ("cameras_per_1000", "cameras per 1,000", "per 1,000 residents", "cameras hung per 1,000 residents simulated"),
        ("camera_coverage_derived", "public space in view", "share", "covered public cells / public cells (with a stock, "
         "the coverage its cameras reach; with camera_coverage, that share rounded to whole cells)"),
        ("communities_with_camera_share", "communities with a camera", "share",
         "share of communities (villages) with at least one covered cell (Guigang's 80.38 % is this share)"),
        ("residents_per_grid_actual", "residents per grid", "residents", "residents / grids as partitioned")):
    _add(OUTCOMES, _name, _label, _unit, NEITHER, _meaning, "town")

# --------------------------------------------------------------------------- daily series (daily.csv, the store)
for _name, _label, _unit, _meaning in (
        ("day", "day", "day", "observed day number, 1 = first day after the warm-up"),
        ("disputes_new", "new disputes", "count/day", "disputes that began today"),
        ("disputes_known", "disputes becoming known", "count/day", "disputes that became known today"),
        ("disputes_found_by_visit", "disputes found on visits", "count/day", "hidden disputes grid workers found today"),
        ("disputes_resolved", "disputes resolved", "count/day", "disputes resolved today"),
        ("disputes_converted", "disputes turned violent", "count/day", "disputes that turned into assaults today"),
        ("disputes_open", "open disputes", "count", "disputes begun and not ended at the end of the day, hidden ones included"),
        ("incidents", "incidents", "count/day", "crime incidents today"),
        ("incidents_known", "incidents known", "count/day", "incidents reaching the police today"),
        ("incidents_cleared", "incidents cleared", "count/day", "incidents cleared today"),
        ("safety_mean", "mean felt safety", "score 0–1", "mean felt safety at the end of the day"),
        ("safety_share_safe", "population: safe", "share", "share of residents at least 'basically safe' at the end of the day"),
        ("survey_share_safe", "survey: safe", "share", "the survey's share on a survey day, else empty"),
        ("trust_mean", "mean trust", "score 0–1", "mean trust at the end of the day"),
        ("worker_utilisation", "grid-worker utilisation", "share", "(routine + casework) / working hours today"),
        ("visits", "household visits", "visits/day", "household visits made today"),
        ("patrol_hours", "police patrol hours", "h/day", "on-duty police hours free of calls today "
         "(the share crime.patrol_visible_share of them is visible patrol)")):
    _add(SERIES, _name, _label, _unit, NEITHER, _meaning, "daily")
for _r in RUNGS:
    _add(SERIES, f"backlog_{_r}", f"cases at the {_r} at midnight", "count",
         NEITHER, f"disputes at the {_r} rung at the END of the day (an end-of-day count, not a time-average)", "daily")

# --------------------------------------------------------------------------- per period (summary.json `periods`, store `NAME@PERIOD`)
#: outcomes computed over each calendar quarter and year of a run with a start_date (`sim.outcomes.window_outcomes`):
#: a subset that means something over a window, each counting only what happened in it, so a period's values are
#: fixed once it is over.  Shares and rates are not averages of the whole run's: they are the period's own.
PERIODIC: dict[str, Outcome] = {}
for _name, _label, _unit, _better, _meaning in (
        ("days", "days in the period", "days", NEITHER, "observed days of the period the run covers"),
        ("disputes", "disputes", "count", NEITHER, "disputes begun in the period (additive over periods)"),
        ("disputes_per_10k_year", "disputes arising", "per 10k residents/yr", NEITHER, "disputes begun in the period, as a yearly rate"),
        ("disputes_resolved_in_period", "disputes resolved", "count", NEITHER,
         "disputes resolved in the period, whenever they began (additive over periods)"),
        ("report_to_resolution_hours_mean", "report → resolved, mean", "h", LOWER,
         "mean hours from becoming known to resolution, over disputes resolved in the period"),
        ("share_settled_in_grid", "settled inside the grid", "share", HIGHER,
         "of the disputes resolved in the period, the share the grid rung settled (小事不出格)"),
        ("share_settled_low", "settled in the grid or village", "share", HIGHER,
         "of the disputes resolved in the period, the share the grid or the community rung settled"),
        ("conversions_per_10k_year", "disputes turned violent", "per 10k residents/yr", LOWER,
         "disputes that turned into assaults in the period, as a yearly rate"),
        ("incidents", "crime incidents", "count", LOWER, "incidents that occurred in the period (additive over periods)"),
        ("incidents_per_10k_year", "crime incidents", "per 10k residents/yr", LOWER, "incidents in the period, as a yearly rate"),
        ("clearance_rate", "clearance", "share", HIGHER,
         "cleared / (cleared + uncleared) of the known incidents the police closed in the period"),
        ("survey_share_safe", "survey: safe", "share", HIGHER,
         "the period's (last) sample survey: share answering at least 'basically safe' (NaN: no survey in it)"),
        ("survey_se", "survey standard error", "share", NEITHER, "binomial standard error of that survey"),
        ("survey_expected_share_safe", "survey of everyone: safe", "share", HIGHER,
         "what the period's (last) survey would report asked of every resident (answer noise, no sampling "
         "error): the period's counterpart of the run's outcome of that name"),
        ("incidents_known_per_10k_year", "incidents known to the police", "per 10k residents/yr", NEITHER,
         "incidents that became known to the police in the period (立案 in it), as a yearly rate"),
        ("incidents_cleared", "incidents cleared", "count", HIGHER,
         "incidents the police cleared in the period (破案 in it), whenever they occurred"),
        ("mediation_per_10k_year", "reaching community mediation", "per 10k residents/yr", NEITHER,
         "disputes that reached community mediation in the period, as a yearly rate"),
        ("population_share_safe", "population: safe", "share", HIGHER,
         "share of all residents at least 'basically safe' on the period's last day"),
        ("trust_mean", "mean trust", "score 0–1", HIGHER, "mean trust on the period's last day"),
        ("grids", "governance grids", "grids", NEITHER, "grids on the period's last day"),
        ("grid_workers", "grid workers", "staff", NEITHER, "grid workers on the period's last day"),
        ("cameras", "cameras", "cameras", NEITHER, "cameras hung on the period's last day"),
        ("cost_yuan_per_year", "cost", "yuan/yr", LOWER, "grid workers' pay + cameras' capital over their life, time-averaged over the period"),
        ("cost_yuan_per_resident_year", "cost per resident", "yuan/resident/yr", LOWER, "cost_yuan_per_year / residents")):
    _add(PERIODIC, _name, _label, _unit, _better, _meaning, "period")

#: what `gridsim run` prints, in this order
HEADLINE = ("residents", "grids", "resolution_hours_mean", "resolution_hours_median", "report_to_resolution_hours_mean",
            "share_settled_in_grid", "share_open", "conversions_per_10k_year", "incidents_per_10k_year", "clearance_rate",
            "police_response_hours_mean", "survey_share_safe", "population_share_safe", "trust_mean", "worker_utilisation",
            "visits_per_household_month", "cost_yuan_per_resident_year")
#: what sweep plots draw by default
KEY_OUTCOMES = ("report_to_resolution_hours_mean", "resolution_hours_mean", "population_share_safe", "survey_share_safe",
                "cases_mean_grid", "cases_mean_community", "share_settled_in_grid", "incidents_per_10k_year",
                "cost_yuan_per_resident_year")


def outcome(name: str) -> Outcome:
    """The catalogue entry of `name` (outcome or daily series); KeyError with a suggestion if unknown."""
    if name in OUTCOMES:
        return OUTCOMES[name]
    if name in SERIES:
        return SERIES[name]
    import difflib

    near = difflib.get_close_matches(name, list(OUTCOMES), n=1, cutoff=0.5)
    raise KeyError(f"unknown outcome {name!r}" + (f" (did you mean {near[0]!r}?)" if near else "; `gridsim outcomes` lists them"))


def label(name: str) -> str:
    """Axis label (with unit) of an outcome or series; the name itself if it is neither."""
    try:
        return outcome(name).axis_label()
    except KeyError:
        return name


def table(kind: str = "outcomes") -> str:
    """The catalogue as a Markdown table (`gridsim outcomes`)."""
    entries = OUTCOMES if kind == "outcomes" else PERIODIC if kind == "periods" else SERIES
    rows = ["| name | label | unit | better | meaning |", "|---|---|---|---|---|"]
    rows += [f"| `{o.name}` | {o.label} | {o.unit} | {o.better_text} | {o.meaning} |" for o in entries.values()]
    return "\n".join(rows)
