"""The scenario schema: every behavioural number of the model, with its default, unit,
source (or the word *assumption*) and allowed range, in one place.

Kept apart from loading and introspection so that the model's parameters can be read (and
reviewed against their sources) without the machinery around them.  A scenario YAML gives
any subset of these fields, nested as below; `sim.scenario.loader` reads and validates it,
`sim.scenario.params` answers questions about the fields, `sim.odd` renders them
into docs/ODD.md §9.  The `perception` section lives in `schema_perception`; both build on
`fields` (`P`, `Section`, `Prob`, `ASSUME`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from .fields import ASSUME, P, Prob, Section
from .schema_perception import Perception

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


def _cv_or_zero(value: float, what: str = "the coefficient of variation") -> float:
    """0 (no variation) or at least MIN_CV: a gamma shape of 1/cv² overflows for tiny cv."""
    if 0 < value < MIN_CV:
        raise ValueError(f"{what} must be 0 (no variation) or at least {MIN_CV:g} (1/cv² overflows below)")
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
    grid_size_cv: float = P(0.17, "ratio", "one community: its grid heads cover 300–550 persons each (160–255 households), roughly uniform: "
                            "CV = (550 − 300) / √12 / 425 = 0.17 (literature_facts §2); 200–300 households a grid worker (HK01) and the "
                            "300–500-household norm (Haikou) give 0.12–0.14",
                            "coefficient of variation of grids' target residents: each grid's target is drawn uniformly around "
                            "residents_per_grid with this CV (0: every grid the same)", ge=0, le=0.5, plausible=(0.1, 0.3))
    # ≤ 0.5: a uniform draw with a larger CV reaches grids of (almost) no residents (its lower end is 1 − √3·CV of the mean)

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
                                      "routine duties of a grid team, ∝ the grid's residents (see triage)", ge=0)
    triage: Literal["cases_first", "routine_first"] = P(
        "cases_first", "choice", "a community visit rule: disputes and emergencies at once on site (literature_facts §2); Fengxian 2018: "
        "solve on the spot and close the same day if possible (literature_facts §2); routine_first: the earlier model, for comparison",
        "what grid workers do first: waiting cases (casework takes the whole shift it needs, routine duties what casework "
        "leaves, visits what routine leaves) or routine duties (casework and visits share what routine leaves)")
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
    police_posting: Literal["village", "station"] = P(
        "station", "choice", "Guigang's 一村一警务助理 is one police *assistant* (an auxiliary) per village and Fangchenggang's "
        "每个网格都有一名联系服务的警官 a *liaison* officer per grid, not officers on duty in the village (city_figures): "
        "officers on duty respond from the township station",
        "officers on duty posted at the township station (their travel grows with the distance to outlying villages), or "
        "spread over the villages/communities")
    police_speed_kmh: float = P(30.0, "km/h", ASSUME, "travel speed of a responding officer", ge=1)
    # ≥ 1 km/h (walking is 5): slower, travel times overflow to infinity
    police_dispatch_hours: float = P(0.1, "h", ASSUME, "from a call reaching the police to an officer setting out", ge=0)
    detour_factor: float = P(1.3, "ratio", ASSUME + " (road distance / straight line)", "road distance over straight-line distance", ge=1, le=3)
    court_servers_per_100k: float = P(3.0, "judges' case slots/100,000 residents", ASSUME, "court capacity given to these disputes (at least one slot)", gt=0, le=10 * MAX_STAFF_PER_10K)
    court_hours: float = P(8.0, "h/day", ASSUME, "hours a court slot works each day", ge=MIN_SHIFT_HOURS, le=24)


# --------------------------------------------------------------------------- ladder
class Rung(Section):
    success: Per3 = P((0.5, 0.5, 0.5), "probability by severity", ASSUME, "chance one attempt at this rung settles a case (minor, moderate, serious); see ladder.repeat_until_deadline")
    service_mean_hours: Per3Hours = P((2.0, 2.0, 2.0), "working hours by severity", ASSUME, "mean effort a case takes at this rung")
    service_cv: float = P(1.0, "ratio", ASSUME + " (1 = exponential)", "coefficient of variation of service effort (gamma)", ge=MIN_CV, le=5)
    deadline_hours: float = P(72.0, "h", "-", "the rung must settle a case within this many hours of its arrival at the rung "
                              "(hand-off, wait and service together), else it reports it up one severity level at the deadline, "
                              "the server stopping work on it then; not used at the court, which hears a case until it ends", gt=0)
    handoff_hours: float = P(0.0, "h", ASSUME, "mean calendar delay (exponential) from arriving at the rung to being ready for service: notices, scheduling parties", ge=0)


def _rung(success, service, deadline, handoff, src, cv=1.0, deadline_plausible=None):
    """A rung's section; `deadline_plausible` is its own deadline's plausible range (the field's
    class carries none, the rungs' deadlines differing by an order of magnitude)."""
    extra: dict = {"unit": "section", "source": src}
    if deadline_plausible is not None:
        lo, hi = deadline_plausible
        if not lo <= deadline <= hi:
            raise ValueError(f"plausible range {deadline_plausible} must contain the deadline {deadline}")
        extra["plausible"] = {"deadline_hours": (float(lo), float(hi))}
    return Field(default_factory=lambda: Rung(success=success, service_mean_hours=service, deadline_hours=deadline,
                                              handoff_hours=handoff, service_cv=cv),
                 json_schema_extra=extra)


class Ladder(Section):
    grid: Rung = _rung((0.8, 0.4, 0.05), (1.0, 2.0, 2.0), 72.0, 0.0,
                       "deadline: Fengxian 2018 grid rule, solve on the spot and close the same day if possible, otherwise solve in "
                       "2–3 days (literature_facts §2): 3 days; plausible from Xinyu 2025's feedback within 24 h to 3 days; rest assumption",
                       deadline_plausible=(24.0, 72.0))
    community: Rung = _rung((0.9, 0.75, 0.5), (3.0, 6.0, 10.0), 168.0, 72.0,
                            "deadline: difficult issues within 7 days (Fengxian 2018); plausible from Xinyu 2025's complex disputes settled "
                            "within 5 days; success: mediation > 96 % overall (MOJ 2018); rest assumption",
                            deadline_plausible=(120.0, 168.0))
    township: Rung = _rung((0.95, 0.85, 0.7), (4.0, 8.0, 16.0), 360.0, 120.0,
                           "deadline: at most 15 days with approval (Fengxian 2018); plausible up to mediation's normal month (MOJ 2002 "
                           "Art. 33); rest assumption", deadline_plausible=(360.0, 720.0))
    police: Rung = _rung((0.8, 0.7, 0.6), (1.5, 2.0, 3.0), 48.0, 0.0,
                         ASSUME + " (deadline too); police handle serious escalated disputes (disputes are >1/3 of 110 calls, Nantong; "
                         "literature_facts §3)", deadline_plausible=(24.0, 168.0))
    court: Rung = _rung((1.0, 1.0, 1.0), (16.0, 24.0, 40.0), 1.0e9, 720.0, ASSUME + " (a judgment ends the dispute; no deadline)")
    police_from_severity: int = P(3, "severity level (1–3)", ASSUME,
                                  "escalated disputes at least this severe go to the police instead of the township centre", ge=1, le=4)
    repeat_until_deadline: bool = P(True, "flag", "Fengxian 2018 grid rule: close the same day if possible, otherwise solve in 2–3 days "
                                    "(literature_facts §2) — the rung keeps working a case until it is settled or its deadline passes",
                                    "a failed attempt at settling returns the case to its rung's queue after retry_gap_hours, while the "
                                    "rung's deadline has not passed; False: one attempt, then up the ladder")
    retry_gap_hours: float = P(24.0, "h", ASSUME + " (the next working day: parties are convened again)",
                               "calendar hours from a failed attempt to the case being ready for the next one", gt=0,
                               plausible=(8.0, 72.0))


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
    camera_clearance_boost: Prob = P(0.25, "probability added", ASSUME + " (Guigang 2016: cases solved +27.7 % in a year of campaigns; its 1,334 new cameras are undated)",
                                     "footage raises the chance of clearing an incident in view")
    visit_guardian_weight: float = P(1.0, "patrol-hour equivalents per visiting hour", ASSUME,
                                     "how much an hour of grid workers' visiting guards like an hour of police patrol", ge=0)
    patrol_visible_share: Prob = P(0.25, "share", ASSUME + " (foot or street patrol lowers fear, car patrol ≈ 0: perception_evidence §4, "
                                   "Allen BCS 2004/05, Croatia 2019 in LF §4)",
                                   "share of on-duty police hours free of calls spent on visible foot or street patrol in waking hours: "
                                   "the one visibility rule of guardianship (deterrence) and perceived safety", plausible=(0.1, 0.5))
    guardianship_deterrence: float = P(0.005, "per patrol-or-visit hour/1,000 residents/day", ASSUME + " (Braga et al. 2019: hot-spot patrols cut crime a little)",
                                       "crime rate in a grid is multiplied by exp(−this × guardian hours)", ge=0)
    report_delay_hours: float = P(0.5, "h", ASSUME, "mean delay from an incident to a victim's call", ge=0)
    cameras_per_covered_cell: float = P(1.0, "cameras/cell", ASSUME + " (one camera on a public cell's key spot, a crossing or a market "
                                        "gate; docs/CITIES.md)", "cameras per covered public cell: with camera_coverage, the camera "
                                        "count (costs); with a stock, how many cells the stock covers", ge=0, le=1000, plausible=(0.5, 10.0))
    # ≤ 1,000 a cell (a cell is about 100 m across): the camera count must stay an integer
    camera_stock_per_1000: float | None = P(None, "cameras/1,000 residents", "null: camera_coverage is used; city files set a documented "
                                            "count / residents (docs/CITIES.md)", "cameras as a stock: round(stock × residents / 1,000) "
                                            "cameras hang in the densest communities, busiest public cells first; the coverage of public "
                                            "space is derived (outcome camera_coverage_derived)", ge=0, le=1000)
    camera_village_share: Prob = P(1.0, "share of communities", ASSUME + " (all; Guigang 934 of 1,156 villages, docs/CITIES.md)",
                                   "with a stock: share of communities (villages) that have cameras, densest first", plausible=(0.5, 1.0))
    camera_capital_yuan: float = P(28448.0, "yuan/camera", "Dunhuang 雪亮工程 2020–21: 799 HD cameras for 22.73 M yuan, installed and "
                                   "networked (literature_facts §4)", "capital cost per camera", ge=0, plausible=(5000.0, 40000.0))
    camera_life_years: float = P(6.0, "years", ASSUME, "years over which a camera's capital cost is spread", ge=0.1)
    # ≥ 0.1 years: the yearly cost of a camera that lasts days is meaningless (and tiny values overflow it)

    @model_validator(mode="after")
    def _stock_covers_cells(self):
        if self.camera_stock_per_1000 is not None and self.cameras_per_covered_cell <= 0:
            raise ValueError("cameras_per_covered_cell must be > 0 with a camera_stock_per_1000 (it turns the stock into covered cells)")
        return self


# --------------------------------------------------------------------------- perception
# `Perception` (the channels of perceived safety, trust, the survey): sim/scenario/schema_perception.py


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
    warmup_days: int = P(0, "days", ASSUME + " (0 = none; a scenario file that sets none gets 365, as the shipped files)",
                         "days simulated before the observed period, so queues, hidden disputes and memories start near "
                         "their usual level; nothing that begins in them is counted", ge=0, le=3650)
    track_residents: int = P(0, "residents", "-", "a random sample of residents whose safety and trust are recorded daily "
                             "(residents_sample.parquet); 0 records none, so memory does not grow with the town", ge=0, le=100_000)
    scale: float = P(1.0, "fraction", "-", "run a representative fraction of the town with the same densities", gt=0, le=1)
    residents_per_grid: float = P(800.0, "residents/grid", "Putian: 500 households or 800 persons per grid (literature_facts §2); lever",
                                  "LEVER grid size: target residents of a governance grid", ge=20, le=100_000)
    fulltime_ratio: Prob = P(0.15, "share", "Laibin: 745 of 5,022 grid workers full-time, 14.8 % (city_figures); lever",
                             "LEVER share of grid workers who are full-time")
    camera_coverage: float | None = P(0.5, "share of public cells", ASSUME + "; lever", "LEVER share of public-space cells in a camera's "
                                      "view; null (derived) when crime.camera_stock_per_1000 is set", ge=0, le=1)
    town: Town = Field(default_factory=Town, json_schema_extra={"unit": "section", "source": "see fields"})
    staffing: Staffing = Field(default_factory=Staffing, json_schema_extra={"unit": "section", "source": "see fields"})
    ladder: Ladder = Field(default_factory=Ladder, json_schema_extra={"unit": "section", "source": "see fields"})
    disputes: Disputes = Field(default_factory=Disputes, json_schema_extra={"unit": "section", "source": "see fields"})
    crime: Crime = Field(default_factory=Crime, json_schema_extra={"unit": "section", "source": "see fields"})
    perception: Perception = Field(default_factory=Perception, json_schema_extra={"unit": "section", "source": "see fields"})
    sources: dict[str, str] = P({}, "text", "-", "provenance of this file's values, by dotted key")
    start_date: str | None = P(None, "date (YYYY-MM-DD)", "-", "first day of the observed period, the warm-up before it; null: "
                               "no calendar (days count from 0); a timeline needs it; with it surveys fall at calendar "
                               "month ends, outcomes are given per quarter and year, and the daily series is dated")
    timeline: list[dict[str, Any]] = P([], "dated changes", "-", "steps, ramps and campaigns that change keys on dates, "
                                        "carried out by the running model at the start of each day they fall on "
                                        "(docs/TIMELINE.md)")

    @model_validator(mode="before")
    @classmethod
    def _calendar_read(cls, data: Any) -> Any:
        """start_date as YYYY-MM-DD; each change of the timeline checked alone and written canonically (sim.scenario.timeline)."""
        if not isinstance(data, dict) or ("timeline" not in data and data.get("start_date") is None):
            return data
        from .timeline import normalise_timeline, parse_date

        start = data.get("start_date")
        return {**data, "start_date": None if start is None else parse_date(start, "start_date").isoformat(),
                "timeline": normalise_timeline(data.get("timeline"))}

    @model_validator(mode="after")
    def _calendar_check(self) -> "Scenario":
        """The timeline against the whole scenario: dates in the run, one change per key at a time, every day valid."""
        if self.timeline:
            from .timeline import check_timeline

            check_timeline(self)
        return self

    @model_validator(mode="before")
    @classmethod
    def _cameras_one_way(cls, data: Any) -> Any:
        """Cameras are a coverage (the lever) or a stock, never both: with a stock the coverage is derived (null)."""
        if not isinstance(data, dict):
            return data
        crime = data.get("crime")
        stock = crime.get("camera_stock_per_1000") if isinstance(crime, dict) else getattr(crime, "camera_stock_per_1000", None)
        if stock is None:
            if "camera_coverage" in data and data["camera_coverage"] is None:
                raise ValueError("camera_coverage is null but crime.camera_stock_per_1000 is not set: give one of them")
            return data
        if data.get("camera_coverage") is not None:
            raise ValueError("camera_coverage and crime.camera_stock_per_1000 are both set: a stock of cameras derives the coverage; set "
                             "camera_coverage=null to use the stock, or crime.camera_stock_per_1000=null to set (or sweep) camera_coverage")
        return {**data, "camera_coverage": None}

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
