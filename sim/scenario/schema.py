"""The scenario schema: every behavioural number of the model, with its default, unit,
source (or the word *assumption*) and allowed range, in one place.

Kept apart from loading and introspection so that the model's parameters can be read (and
reviewed against their sources) without the machinery around them.  A scenario YAML gives
any subset of these fields, nested as below; `sim.scenario.loader` reads and validates it,
`sim.scenario.params` answers questions about the fields, `sim.odd` renders them
into docs/ODD.md §9.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_SCENARIO = ROOT / "scenarios" / "default.yaml"

SEVERITIES = ("minor", "moderate", "serious")
DISPUTE_TYPES = ("neighbour", "family", "land_property", "property_management", "consumer_labour")
CRIME_TYPES = ("theft", "burglary", "robbery", "assault")
RUNGS = ("grid", "community", "township", "police", "court")

# Limits.  Every float of every section is finite (`allow_inf_nan=False` below: no .inf, no
# .nan).  Beyond that a limit is set where a larger or smaller value would crash the model,
# make it allocate without bound or loop without end, or has no meaning:
#   - probabilities and shares of a whole ≤ 1 (shares renormalised over types, such as
#     `disputes.type_shares` and each `disputes.severity` row, must not all be zero);
#   - Beta means (`perception.safety_mean`, `trust_mean`) strictly inside (0, 1);
#   - densities of staff ≤ 10,000 per 10,000 residents (one per resident): each one is a
#     server with a busy array over the horizon and a Mesa agent;
#   - event rates ≤ 1e5 per 10,000 residents a year (ten per resident a year): every event
#     is a row of a table and a case on the event heap;
#   - working hours a case takes ≤ 1,000 and hours a server works a day ≥ 0.1: a case is
#     booked day by day over its server's shifts, so effort / hours bounds that loop;
#   - coefficients of variation of gamma draws 0 (where allowed) or ≥ 0.001: the shape
#     1/cv² overflows for tiny cv.
# Weights of the perception target and costs have no upper limit: the target is clipped
# to [0, 1] and costs only add up (and a limit on an assumed parameter would become
# `gridsim calibrate`'s default search range).
MAX_RATE_PER_10K_YEAR = 100_000.0   # ten events per resident a year
MAX_STAFF_PER_10K = 10_000.0        # one per resident
MAX_CASE_HOURS = 1_000.0            # half a working year on one case
MIN_SHIFT_HOURS = 0.1               # six minutes a day
MIN_CV = 1e-3                       # gamma shape 1/cv² ≤ 1e6

Prob = Annotated[float, Field(ge=0.0, le=1.0)]
NonNeg = Annotated[float, Field(ge=0.0)]
CaseHours = Annotated[float, Field(ge=0.0, le=MAX_CASE_HOURS)]
Rate = Annotated[float, Field(ge=0.0, le=MAX_RATE_PER_10K_YEAR)]
Per3 = tuple[Prob, Prob, Prob]
Per3Hours = tuple[CaseHours, CaseHours, CaseHours]


class ScenarioError(ValueError):
    """A bad scenario: the message is the whole one-line explanation.

    `key` is the dotted key at fault and `detail` the message without its origin, when
    known, so a loader can re-attribute the error to the file that set the key."""

    def __init__(self, message: str, *, key: str | None = None, detail: str | None = None):
        super().__init__(message)
        self.key = key
        self.detail = detail


def P(default: Any, unit: str, source: str, desc: str, *, plausible: tuple[float, float] | None = None, **limits: Any) -> Any:
    """A scenario parameter: default, unit, source and allowed range in one place.

    `plausible=(low, high)` is the range the evidence (or, for an assumption, judgement)
    allows: narrower than the physical limits, it is what calibration takes as its prior
    and what `docs/ODD.md` prints beside the source."""
    extra: dict[str, Any] = {"unit": unit, "source": source}
    if plausible is not None:
        lo, hi = plausible
        values = default if isinstance(default, tuple) else (default,)
        if not lo < hi or not all(lo <= v <= hi for v in values):
            raise ValueError(f"plausible range {plausible} must be increasing and contain the default {default}")
        extra["plausible"] = (float(lo), float(hi))
    return Field(default, description=desc, json_schema_extra=extra, **limits)


ASSUME = "assumption"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


def _cv_or_zero(value: float, what: str = "the coefficient of variation") -> float:
    """0 (no variation) or at least MIN_CV: a gamma shape of 1/cv² overflows for tiny cv."""
    if 0 < value < MIN_CV:
        raise ValueError(f"{what} must be 0 (no variation) or at least {MIN_CV:g} (1/cv² overflows below)")
    return value


def _inside_01(value: float) -> float:
    """A Beta mean: strictly between 0 and 1 (a Beta with mean 0 or 1 has no spread to draw)."""
    if not 0.001 <= value <= 0.999:
        raise ValueError("must be between 0.001 and 0.999: residents' baselines are Beta draws around it "
                         "(nearer 0 or 1 the Beta's parameters underflow)")
    return value


# --------------------------------------------------------------------------- town
class Town(Section):
    residents_per_cell: float = P(50.0, "residents/cell", ASSUME + " (about one residential building or 18 households)",
                                  "mean residents of an inhabited cell; sets the town's resolution", ge=5, le=5000)
    household_size: float = P(2.74, "persons/household", "Huizhou 2020 census, 2.74 persons per family household (literature_facts §1)",
                              "converts residents to households for visits", ge=1.0, le=6.0)
    centre_decay_share: float = P(0.28, "share of the town's side", ASSUME + " (4 km in the 14 km-wide default district)",
                                  "scale of the fall of density away from the centre, relative to the town's width, so a "
                                  "representative fraction (--scale) keeps the town's shape", ge=0.01, le=10)
    # ≥ 0.01: below, the weight of far cells underflows to 0 (with rural_floor 0: no residents at all)
    rural_floor: float = P(0.15, "share", ASSUME, "density far from the centre, relative to the centre", ge=0, le=1)
    cell_pop_cv: float = P(0.5, "ratio", ASSUME, "coefficient of variation of residents between cells of like density "
                           "(0, or at least 0.001)", ge=0, le=3)
    public_space_share: float = P(0.2, "share of cells", ASSUME + " (streets, markets, squares)",
                                  "share of cells that are public space, where street crime happens and cameras hang", gt=0, le=1)
    residents_per_community: float = P(4681.0, "residents", "Huizhou: 6,042,852 residents / 1,291 villages and communities (city_figures)",
                                       "community (社区/村) size: grids are grouped into communities", ge=100)
    residents_per_township: float = P(78478.0, "residents", "Huizhou: 6,042,852 residents / 77 town-level governance centres (city_figures)",
                                      "township (街道/乡镇) size: communities are grouped into townships", ge=1000)

    @field_validator("cell_pop_cv")
    @classmethod
    def _cv(cls, v: float) -> float:
        return _cv_or_zero(v)


# --------------------------------------------------------------------------- staff
class Staffing(Section):
    workers_per_grid: float = P(3.0, "grid workers/grid", ASSUME + " between Laibin ≈1 and Fangchenggang/Putian ≈4.9 per grid",
                                "grid workers (full- and part-time together) serving each grid; every grid has at least one", ge=1, le=50)
    fulltime_first: Literal["lead_workers", "dense_grids"] = P(
        "lead_workers", "choice", ASSUME + "; Laibin: urban grids 100 % full-time (城区和城中村实现网格员100%专职化)",
        "where full-time posts go: each grid's lead worker first (spread evenly), or every worker of the densest grids first")
    fulltime_hours: float = P(8.0, "h/day", ASSUME + " (a working day)", "hours a full-time grid worker works its grid each day", gt=0, le=24)
    parttime_hours: float = P(2.0, "h/day", ASSUME + " (party members, property staff, guards doing it beside a job; Fangchenggang)",
                              "hours a part-time grid worker gives its grid each day", gt=0, le=24)
    shift_start: float = P(8.5, "hour of day", ASSUME, "when the grid workers' day begins", ge=0, lt=24)
    parttime_shift_start: float = P(18.0, "hour of day", ASSUME + " (after their main job)", "when part-time grid workers begin", ge=0, lt=24)
    routine_hours_per_1000: float = P(4.0, "h/1,000 residents/day",
                                      ASSUME + " (information collection, inspections and services assigned from above come first)",
                                      "routine duties that take a grid team's hours before casework and visits, ∝ the grid's residents", ge=0)
    visits_per_hour: float = P(1.0, "households/h", ASSUME + " (Economist 2018: a Beijing grid manager aims at 1–5 visits a day)",
                               "household visits a grid worker makes in an hour free of casework", ge=0, le=20)
    visit_detect_prob: Prob = P(0.6, "probability", ASSUME, "chance a visit to a household with a hidden dispute reveals it")
    fulltime_skill: float = P(1.0, "multiplier", ASSUME, "multiplier on the chance of settling a dispute on the spot, full-time", ge=0, le=2)
    parttime_skill: float = P(0.7, "multiplier", ASSUME + " (less training and time)", "the same for part-time grid workers", ge=0, le=2)
    fulltime_cost_yuan_month: float = P(2500.0, "yuan/month", "Putian 2024 ≈2,200; Hohhot 2024 2,270; Xinfu 3,300–4,300 (literature_facts §2)",
                                        "employer cost of one full-time grid worker", ge=0)
    parttime_cost_yuan_month: float = P(800.0, "yuan/month", ASSUME + " (subsidy; weak web figures 1,500–2,000 base for part-time)",
                                        "cost of one part-time grid worker", ge=0)
    mediators_per_10k: float = P(20.2, "mediators/10,000 residents",
                                 "2022: 3.176 M people's mediators of whom 412,000 full-time, 1.41 bn residents → 22.5/10k, less the full-time 2.9 (literature_facts §3)",
                                 "community (village) people's mediators", ge=0, le=MAX_STAFF_PER_10K)
    mediator_hours: float = P(2.0, "h/day", ASSUME + " (mostly part-time volunteers)", "hours a community mediator gives each day", ge=MIN_SHIFT_HOURS, le=24)
    township_mediators_per_10k: float = P(2.9, "mediators/10,000 residents", "412,000 full-time mediators / 1.41 bn (literature_facts §3)",
                                          "full-time mediators at the township governance centre", ge=0, le=MAX_STAFF_PER_10K)
    township_hours: float = P(8.0, "h/day", ASSUME, "hours a township mediator works each day", ge=MIN_SHIFT_HOURS, le=24)
    police_per_10k: float = P(12.0, "officers/10,000 residents", "Fan Peng (CASS) 2014: ≈120 per 100,000 (literature_facts §4)",
                              "police officers", ge=0, le=MAX_STAFF_PER_10K)
    police_on_duty_share: Prob = P(0.33, "share", ASSUME + " (three shifts)", "share of officers on duty at any hour (modelled as always-on servers)")
    police_posting: Literal["village", "station"] = P("village", "choice", "Huizhou 一村(居)一警; Guigang 一村一警务助理 (city_figures)",
                                                      "officers posted in villages/communities, or all at the township station")
    police_speed_kmh: float = P(30.0, "km/h", ASSUME, "travel speed of a responding officer", ge=1)
    # ≥ 1 km/h (walking is 5): slower, travel times overflow to infinity
    police_dispatch_hours: float = P(0.1, "h", ASSUME, "from a call reaching the police to an officer setting out", ge=0)
    detour_factor: float = P(1.3, "ratio", ASSUME + " (road distance / straight line)", "road distance over straight-line distance", ge=1, le=3)
    court_servers_per_100k: float = P(3.0, "judges' case slots/100,000 residents", ASSUME, "court capacity given to these disputes (at least one slot)", gt=0, le=10 * MAX_STAFF_PER_10K)
    court_hours: float = P(8.0, "h/day", ASSUME, "hours a court slot works each day", ge=MIN_SHIFT_HOURS, le=24)


# --------------------------------------------------------------------------- ladder
class Rung(Section):
    success: Per3 = P((0.5, 0.5, 0.5), "probability by severity", ASSUME, "chance this rung settles a case (minor, moderate, serious)")
    service_mean_hours: Per3Hours = P((2.0, 2.0, 2.0), "working hours by severity", ASSUME, "mean effort a case takes at this rung")
    service_cv: float = P(1.0, "ratio", ASSUME + " (1 = exponential)", "coefficient of variation of service effort (gamma)", ge=MIN_CV, le=5)
    wait_threshold_hours: float = P(72.0, "h", ASSUME, "a case waiting longer than this escalates (severity +1) to the next rung", gt=0)
    handoff_hours: float = P(0.0, "h", ASSUME, "mean calendar delay (exponential) from arriving at the rung to being ready for service: notices, scheduling parties", ge=0)


def _rung(success, service, threshold, handoff, src, cv=1.0):
    return Field(default_factory=lambda: Rung(success=success, service_mean_hours=service, wait_threshold_hours=threshold,
                                              handoff_hours=handoff, service_cv=cv),
                 json_schema_extra={"unit": "section", "source": src})


class Ladder(Section):
    grid: Rung = _rung((0.8, 0.4, 0.05), (1.0, 2.0, 2.0), 72.0, 0.0,
                       "threshold: Fengxian rule 2018, solve same day else within 2–3 days (literature_facts §2); rest assumption")
    community: Rung = _rung((0.9, 0.75, 0.5), (3.0, 6.0, 10.0), 168.0, 72.0,
                            "threshold: hard cases within 7 days (Fengxian 2018); success: mediation > 96 % overall (MOJ 2018); rest assumption")
    township: Rung = _rung((0.95, 0.85, 0.7), (4.0, 8.0, 16.0), 360.0, 120.0,
                           "threshold: at most 15 days (Fengxian 2018); mediation normally within one month (MOJ 2002 Art. 33); rest assumption")
    police: Rung = _rung((0.8, 0.7, 0.6), (1.5, 2.0, 3.0), 48.0, 0.0,
                         ASSUME + "; police handle serious escalated disputes (disputes are >1/3 of 110 calls, Nantong; literature_facts §3)")
    court: Rung = _rung((1.0, 1.0, 1.0), (16.0, 24.0, 40.0), 1.0e9, 720.0, ASSUME + " (a judgment ends the dispute)")
    police_from_severity: int = P(3, "severity level (1–3)", ASSUME,
                                  "escalated disputes at least this severe go to the police instead of the township centre", ge=1, le=4)


# --------------------------------------------------------------------------- disputes
class TypeShares(Section):
    neighbour: NonNeg = P(0.33, "share", "county report 2022: neighbour 28.1 % (literature_facts §3), renormalised over five types", "")
    family: NonNeg = P(0.13, "share", "marriage/family/inheritance 10.9 % (same report), renormalised", "")
    land_property: NonNeg = P(0.39, "share", "forest/land 23.7 + acquisition 5.3 + housing 3.8 % (same report), renormalised", "")
    property_management: NonNeg = P(0.05, "share", ASSUME + " (urban; 2 cases in the rural county report)", "")
    consumer_labour: NonNeg = P(0.10, "share", "damages 7.5 + contract 2.1 + labour 0.8 % (same report), renormalised", "")

    @model_validator(mode="after")
    def _some(self):
        # renormalised over the five types, so they must add up to something (finite)
        total = sum(getattr(self, k) for k in DISPUTE_TYPES)
        if not 0 < total < float("inf"):
            raise ValueError("the five shares must not all be zero, and must add up to a finite number "
                             "(they are renormalised to sum to 1)")
        return self


class SeverityByType(Section):
    neighbour: Per3 = P((0.7, 0.25, 0.05), "probabilities", ASSUME, "")
    family: Per3 = P((0.5, 0.35, 0.15), "probabilities", ASSUME + " (marriage/family disputes settle less often, Linhai 2024)", "")
    land_property: Per3 = P((0.4, 0.4, 0.2), "probabilities", ASSUME + " (30 of 41 unresolved county cases were land)", "")
    property_management: Per3 = P((0.6, 0.3, 0.1), "probabilities", ASSUME, "")
    consumer_labour: Per3 = P((0.5, 0.4, 0.1), "probabilities", ASSUME, "")

    @field_validator(*DISPUTE_TYPES)
    @classmethod
    def _some(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if sum(v) <= 0:   # renormalised: all zero would leave no severity to draw
            raise ValueError("the three probabilities (minor, moderate, serious) must not all be zero")
        return v


class Disputes(Section):
    rate_per_10k_year: float = P(300.0, "disputes/10,000 residents/year",
                                 "≈106 per 10,000 reach people's mediation (2022, literature_facts §3); most never do: latent rate assumed ≈3×",
                                 "rate at which disputes arise", ge=0, le=MAX_RATE_PER_10K_YEAR)
    propensity_shape: float = P(2.0, "gamma shape", ASSUME, "heterogeneity of residents' propensity to disputes (mean 1)", ge=0.01)
    # ≥ 0.01: below, nearly every gamma draw underflows to 0 and all disputes fall on one resident
    type_shares: TypeShares = Field(default_factory=TypeShares, json_schema_extra={"unit": "section", "source": "see fields"})
    severity: SeverityByType = Field(default_factory=SeverityByType, json_schema_extra={"unit": "section", "source": "see fields"})
    report_prob: Per3 = P((0.3, 0.5, 0.7), "probability by severity", ASSUME, "chance a party reports a dispute when it starts, at trust 0.5")
    report_trust_reference: Prob = P(0.5, "trust", ASSUME, "trust at which the chance to report equals report_prob")
    report_trust_slope: float = P(0.6, "probability per unit trust", ASSUME, "how much trust raises the chance to report", ge=0, le=2)
    report_delay_hours: float = P(6.0, "h", ASSUME, "mean delay (exponential) from onset to a report", ge=0)
    latent_report_daily: Per3 = P((0.01, 0.03, 0.08), "hazard/day by severity", ASSUME, "daily hazard that a hidden dispute is reported after all")
    fester_daily: Prob = P(0.01, "hazard/day", ASSUME, "daily hazard that a hidden dispute grows one severity level")
    conversion_daily: Per3 = P((0.0, 0.0002, 0.002), "hazard/day by severity",
                               ASSUME + " (民转刑 is rare: 137 cases in one district 2017–19, literature_facts §3)",
                               "daily hazard that an open dispute turns into an assault (民转刑)")
    instant_discovery: bool = P(False, "flag", "test switch", "every dispute is reported the moment it starts (queueing checks)")


# --------------------------------------------------------------------------- crime
class PerCrime(Section):
    theft: NonNeg = 0.0
    burglary: NonNeg = 0.0
    robbery: NonNeg = 0.0
    assault: NonNeg = 0.0


class RatePerCrime(PerCrime):
    """Incidence by type: ≤ MAX_RATE_PER_10K_YEAR (each incident is a table row and a case)."""

    theft: Rate = 0.0
    burglary: Rate = 0.0
    robbery: Rate = 0.0
    assault: Rate = 0.0


class ProbPerCrime(PerCrime):
    """A probability by type: ≤ 1."""

    theft: Prob = 0.0
    burglary: Prob = 0.0
    robbery: Prob = 0.0
    assault: Prob = 0.0


class HoursPerCrime(PerCrime):
    """Working hours by type: ≤ MAX_CASE_HOURS (police effort is booked hour by hour)."""

    theft: CaseHours = 0.0
    burglary: CaseHours = 0.0
    robbery: CaseHours = 0.0
    assault: CaseHours = 0.0


def _per_crime(values, unit, src, desc, cls=PerCrime):
    return Field(default_factory=lambda: cls(**dict(zip(CRIME_TYPES, values))),
                 description=desc, json_schema_extra={"unit": unit, "source": src})


class Crime(Section):
    rate_per_10k_year: RatePerCrime = _per_crime((40.0, 8.0, 1.5, 6.0), "incidents/10,000 residents/year",
                                             ASSUME + " anchored on Guigang 2016: 9,060 criminal cases filed / 4.32 M = 21 per 10,000 (city_figures), with under-reporting",
                                             "incidence by type before guardianship (patrols and visits lower it, see guardianship_deterrence)",
                                             RatePerCrime)
    victim_report_prob: ProbPerCrime = _per_crime((0.4, 0.7, 0.8, 0.6), "probability", ASSUME, "chance a victim reports, by type",
                                                  ProbPerCrime)
    clearance_prob: ProbPerCrime = _per_crime((0.15, 0.25, 0.5, 0.6), "probability", ASSUME,
                                              "chance a reported incident is cleared without footage", ProbPerCrime)
    investigation_hours: HoursPerCrime = _per_crime((4.0, 6.0, 2.0, 3.0), "working hours",
                                                    ASSUME + " (Jincheng robbery: call to arrest 1 h 52 min)",
                                                    "mean police effort on an incident (exponential)", HoursPerCrime)
    camera_deterrence: Prob = P(0.16, "share of street crime prevented in view",
                                "Welsh & Farrington 2009: −16 % on average (car parks −51 %, centres −7 %) (literature_facts §4)",
                                "street crime avoided in cells a camera covers")
    camera_detect_prob: Prob = P(0.3, "probability", ASSUME + " (actively monitored feeds, Piza et al. 2019)",
                                 "chance a camera in view reveals an incident")
    camera_clearance_boost: Prob = P(0.25, "probability added", ASSUME + " (Guigang 2016: +27.7 % cases solved with 1,334 new cameras)",
                                     "footage raises the chance of clearing an incident in view")
    visit_guardian_weight: float = P(1.0, "patrol-hour equivalents per visiting hour", ASSUME,
                                     "how much an hour of grid workers' visiting guards like an hour of police patrol", ge=0)
    patrol_visible_share: Prob = P(1.0, "share", ASSUME + " (all idle on-duty hours, night included)",
                                   "share of on-duty police hours free of calls that count as visible patrol")
    guardianship_deterrence: float = P(0.005, "per patrol-or-visit hour/1,000 residents/day", ASSUME + " (Braga et al. 2019: hot-spot patrols cut crime a little)",
                                       "crime rate in a grid is multiplied by exp(−this × guardian hours)", ge=0)
    report_delay_hours: float = P(0.5, "h", ASSUME, "mean delay from an incident to a victim's call", ge=0)
    cameras_per_covered_cell: float = P(1.0, "cameras/cell", ASSUME, "cameras needed to cover one public cell (for costs)", ge=0, le=1000)
    # ≤ 1,000 a cell (a cell is about 100 m across): the camera count must stay an integer
    camera_capital_yuan: float = P(6296.0, "yuan/camera", "Laibin: 221 M yuan for 35,100 cameras (city_figures)", "capital cost per camera", ge=0)
    camera_life_years: float = P(6.0, "years", ASSUME, "years over which a camera's capital cost is spread", ge=0.1)
    # ≥ 0.1 years: the yearly cost of a camera that lasts days is meaningless (and tiny values overflow it)


# --------------------------------------------------------------------------- perception
class Perception(Section):
    safety_mean: Prob = P(0.55, "score 0–1", ASSUME + " (calibrated by `gridsim calibrate`)", "mean of residents' baseline perceived safety")
    safety_sd: float = P(0.18, "score 0–1", ASSUME, "spread of baseline perceived safety between residents", ge=0.01, le=0.45)
    adapt_daily: Prob = P(0.03, "share/day", ASSUME + " (a memory of about a month)", "how fast perceived safety moves toward its target")
    w_victim: float = P(0.25, "score per victimisation", "victims of the last 12 months twice as likely to fear crime (Oregon survey, literature_facts §4); size assumption",
                        "drop in own safety target per remembered victimisation", ge=0)
    victim_memory_days: float = P(365.0, "days", "'past 12 months' (Oregon survey)", "e-folding time of the memory of victimisation", gt=0)
    w_area_crime: float = P(0.01, "score per incident/1,000 residents", ASSUME + " (indirect victimisation, Tseloni & Zarafonitou 2008)",
                            "drop in safety per recent known incident in one's grid", ge=0)
    area_memory_days: float = P(90.0, "days", ASSUME, "e-folding time of the memory of crime in one's grid", gt=0)
    w_disorder: float = P(0.02, "score per open dispute/1,000 residents", ASSUME, "drop in safety per unresolved dispute in one's grid, known or not (neighbours see quarrels)", ge=0)
    w_visit: float = P(0.04, "score per visit/household/month", ASSUME, "rise in safety from grid workers being seen", ge=0)
    visit_memory_days: float = P(30.0, "days", ASSUME, "e-folding time over which residents remember grid workers' visits", ge=1)
    w_patrol: float = P(0.005, "score per patrol hour/1,000 residents/day", ASSUME + " (foot patrol lowers fear, Newark 1981)",
                        "rise in safety from visible police patrols", ge=0)
    camera_near_cells: int = P(1, "cells", ASSUME + " (home cell and its 8 neighbours)",
                               "a camera within this many cells of home counts as near home", ge=0, le=20)
    w_camera: float = P(0.01, "score", "small: little evidence cameras reduce fear (Lorenc et al. 2013; Gill et al. 2007)",
                        "rise in safety when a camera covers one's home cell or its neighbours", ge=0)
    w_dispute: float = P(0.15, "score per bad experience", ASSUME, "drop in safety per remembered badly handled dispute of one's own", ge=0)
    dispute_memory_days: float = P(180.0, "days", ASSUME, "e-folding time of the memory of one's own dispute", gt=0)
    trust_mean: Prob = P(0.6, "score 0–1", ASSUME, "mean baseline trust in the governance system")
    trust_sd: float = P(0.15, "score 0–1", ASSUME, "spread of baseline trust", ge=0.01, le=0.45)
    trust_relax_daily: Prob = P(0.005, "share/day", ASSUME, "daily pull of trust back toward its baseline")
    trust_gain: float = P(0.08, "trust", ASSUME, "trust gained when one's dispute is settled fast", ge=0, le=1)
    trust_loss: float = P(0.08, "trust", ASSUME, "trust lost when it is settled slowly", ge=0, le=1)
    trust_time_hours: float = P(72.0, "h", "grid-event deadline of 2–3 days (Fengxian 2018)", "time scale τ of the trust response: a settlement after h hours moves trust by gain·e^(−h/τ) − loss·(1 − e^(−h/τ))", gt=0)
    bad_converted: float = P(1.0, "bad experiences", ASSUME, "a dispute that turned violent counts as this many bad experiences "
                             "(a settlement after h hours counts 1 − e^(−h/trust_time_hours))", ge=0)
    trust_gain_cleared: float = P(0.08, "trust", ASSUME, "trust a victim gains when the police clear its case", ge=0, le=1)
    trust_loss_uncleared: float = P(0.15, "trust", ASSUME, "trust a victim loses when its case goes uncleared", ge=0, le=1)
    trust_loss_unhandled: float = P(0.15, "trust", ASSUME, "trust lost when one's dispute turns violent", ge=0, le=1)
    cutpoints: tuple[Prob, Prob, Prob, Prob] = P((0.2, 0.4, 0.6, 0.8), "score 0–1", ASSUME,
                                                 "boundaries of the five answers: unsafe | not very safe | basically safe | safe | very safe")
    answer_noise_sd: float = P(0.05, "score 0–1", ASSUME, "noise in how a resident maps its feeling to an answer", ge=0)
    survey_n: int = P(1000, "respondents", ASSUME + " (provincial surveys sample thousands; Tibet 2016 n=3,240)", "sample size of each survey",
                      ge=1, le=1_000_000)   # ≤ 1 M: far above any survey; the sample is drawn in memory
    survey_every_days: int = P(91, "days", "Guigang: surveyed every quarter (city_figures)", "days between surveys", ge=1, le=36500)

    @field_validator("safety_mean", "trust_mean")
    @classmethod
    def _beta_mean(cls, v: float) -> float:
        return _inside_01(v)

    @model_validator(mode="after")
    def _ordered(self):
        c = self.cutpoints
        if not all(a < b for a, b in zip(c, c[1:])):
            raise ValueError("cutpoints must increase")
        return self


# --------------------------------------------------------------------------- scenario
class Scenario(Section):
    """A whole scenario: town, levers, staff, ladder, disputes, crime, perception."""

    name: str = P("default", "text", "-", "scenario name")
    description: str = P("", "text", "-", "what this scenario represents")
    seed: int = P(20261125, "integer", "-", "seed of the run (overridden by --seed / rng=)", ge=0, le=2**63 - 1)
    # < 2**63: stored as SQLite INTEGER with a sweep's runs, and what `gridsim run --seed` takes
    days: int = P(365, "days", "a year, as the cities report", "length of the run", ge=1, le=36500)
    population: int = P(100_000, "residents", ASSUME + " (a representative district)", "residents of the town (at scale 1)", ge=1, le=50_000_000)
    area_km2: float = P(200.0, "km²", ASSUME + " (500 residents/km², between Huizhou 533 and Guigang 407)", "land area of the town (at scale 1)", ge=0.01, le=1_000_000)
    # ≤ 1,000,000 km²: twice China's largest prefecture (Bayingolin, ≈470,000 km²); area only sets distances
    warmup_days: int = P(0, "days", ASSUME + " (0 = none; the scenario files use 180)",
                         "days simulated before the observed period, so queues, hidden disputes and memories start near "
                         "their usual level; nothing that begins in them is counted", ge=0, le=3650)
    track_residents: int = P(0, "residents", "-", "a random sample of residents whose safety and trust are recorded daily "
                             "(residents_sample.parquet); 0 records none, so memory does not grow with the town", ge=0, le=100_000)
    scale: float = P(1.0, "fraction", "-", "run a representative fraction of the town with the same densities", gt=0, le=1)
    residents_per_grid: float = P(800.0, "residents/grid", "Putian: 500 households or 800 persons per grid (literature_facts §2); lever",
                                  "LEVER grid size: target residents of a governance grid", ge=20, le=100_000)
    fulltime_ratio: Prob = P(0.15, "share", "Laibin: 745 of 5,022 grid workers full-time, 14.8 % (city_figures); lever",
                             "LEVER share of grid workers who are full-time")
    camera_coverage: Prob = P(0.5, "share of public cells", ASSUME + "; lever", "LEVER share of public-space cells in a camera's view")
    town: Town = Field(default_factory=Town, json_schema_extra={"unit": "section", "source": "see fields"})
    staffing: Staffing = Field(default_factory=Staffing, json_schema_extra={"unit": "section", "source": "see fields"})
    ladder: Ladder = Field(default_factory=Ladder, json_schema_extra={"unit": "section", "source": "see fields"})
    disputes: Disputes = Field(default_factory=Disputes, json_schema_extra={"unit": "section", "source": "see fields"})
    crime: Crime = Field(default_factory=Crime, json_schema_extra={"unit": "section", "source": "see fields"})
    perception: Perception = Field(default_factory=Perception, json_schema_extra={"unit": "section", "source": "see fields"})
    sources: dict[str, str] = P({}, "text", "-", "provenance of this file's values, by dotted key")

    @field_validator("sources")
    @classmethod
    def _check_sources(cls, sources: dict[str, str]) -> dict[str, str]:
        from .params import leaves

        for key in sources:
            if key not in leaves():
                raise ValueError(f"sources names unknown key {key!r}")
        return sources

    # ---- derived
    @property
    def residents(self) -> int:
        """Residents actually simulated (population × scale)."""
        return max(1, int(round(self.population * self.scale)))

    @property
    def total_days(self) -> int:
        """Days simulated: the warm-up and the observed period."""
        return self.warmup_days + self.days

    @property
    def area(self) -> float:
        return self.area_km2 * self.scale

    def flat(self) -> dict[str, Any]:
        """Dotted key → value for every leaf (for summaries and Mesa's Scenario)."""
        from .params import flatten

        return flatten(self.model_dump(exclude={"sources"}))

    def with_overrides(self, overrides: dict[str, Any], origin: str = "override") -> "Scenario":
        """A new validated Scenario with dotted-key overrides applied (one-line errors)."""
        from .loader import validate
        from .params import set_dotted

        data = self.model_dump()
        for key, value in overrides.items():
            set_dotted(data, key, value, origin)
        return validate(data, origin)
