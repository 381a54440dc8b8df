"""The `perception` section of the scenario schema (ODD §7.9): perceived safety's channels,
trust and the survey, each parameter with its default, unit, source (or the word
*assumption*), limits and plausible range.

Kept in its own module because the channels of the fear-of-crime literature need room;
`sim.scenario.schema` imports it into the `Scenario` (import names from `sim.scenario`).
Both build on `sim.scenario.fields` (`P`, `Section`, `Prob`, `ASSUME`).
"""

from __future__ import annotations

from pydantic import field_validator, model_validator

from .fields import ASSUME, P, Prob, Section


def _inside_01(value: float) -> float:
    """A Beta mean: strictly between 0 and 1 (a Beta with mean 0 or 1 has no spread to draw)."""
    if not 0.001 <= value <= 0.999:
        raise ValueError("must be between 0.001 and 0.999: residents' baselines are Beta draws around it "
                         "(nearer 0 or 1 the Beta's parameters underflow)")
    return value


class Perception(Section):
    """Perceived safety: each resident's target is its baseline plus one term per channel
    (docs/ODD.md §7.9).  Sources cite `shared/data/perception_evidence.md` (PE, by section
    and its table of suggested priors, "prior row n") and `literature_facts.md` (LF)."""

    safety_mean: Prob = P(0.55, "score 0–1", ASSUME + " (calibrated by `gridsim calibrate`)", "mean of residents' baseline perceived safety",
                          plausible=(0.3, 0.8))
    safety_sd: float = P(0.18, "score 0–1", ASSUME + " (PE §1: individual variables explain > 80 % of the variation in fear, Brunton-Smith & Sturgis 2011)",
                         "spread of baseline perceived safety between residents", ge=0.01, le=0.45, plausible=(0.08, 0.25))
    adapt_daily: Prob = P(0.006, "share/day", "PE §9 and prior row 9: relaxation 90–365 days, since survey shares move 0.5–3 pp a year "
                          "(Tianjin 2012–13, NBS 2001–04, Guangzhou 2005–07); 0.006 = about 170 days",
                          "how fast perceived safety moves toward its target", plausible=(0.003, 0.011))
    # 1. direct victimisation
    w_victim: float = P(0.10, "score per victimisation", "PE §1 and prior row 1: one-off −0.05 to −0.15 (victims twice as likely to fear, "
                        "Oregon survey, an upper bound; 'weak and mixed', Winkel 1998)",
                        "drop in own safety target per remembered victimisation (a violent one counts victim_injury_factor)", ge=0,
                        plausible=(0.05, 0.15))
    victim_injury_factor: float = P(1.5, "victimisations", "PE §1 and prior row 1: ×1.5 for injury (Skogan & Maxfield 1981: largest for violent "
                                    "crime 'that required medical attention')",
                                    "a robbery or an assault counts this many victimisations in the victim's memory", ge=0, plausible=(1.0, 2.0))
    victim_memory_days: float = P(180.0, "days", "PE prior row 1: half-life 30–180 days (e-folding 43–260)",
                                  "e-folding time of the memory of victimisation", gt=0, plausible=(45.0, 260.0))
    # 2. indirect victimisation (hearsay)
    hear_share: Prob = P(0.3, "share of the community", ASSUME + " (word of mouth is the commonest source on local crime, 54 %: ONS CSEW "
                         "2013/14, PE §2; grid chat groups)",
                         "share of a community's residents who hear of an incident in it, known to the police or not, and of its "
                         "clearance", plausible=(0.1, 0.6))
    w_hearsay: float = P(0.015, "score per incident heard of", "PE §2 and prior row 2: −0.005 to −0.03 per exposure (vicarious victimisation "
                         "predicts fear, NCJ 127807; word of mouth shapes local impressions, ONS 2013/14)",
                         "drop in safety per remembered incident heard of in one's community", ge=0, plausible=(0.005, 0.03))
    hearsay_memory_days: float = P(20.0, "days", "PE prior row 2: half-life 7–30 days (e-folding 10–43)",
                                   "e-folding time of the memory of incidents heard of", gt=0, plausible=(10.0, 45.0))
    cleared_relief: Prob = P(0.5, "share", ASSUME + " (the offender caught: less risk; effect of clearance on fear not found, PE §5)",
                             "share of a heard incident's weight lifted when residents hear it was cleared", plausible=(0.0, 0.8))
    # 3. disorder
    w_disorder: float = P(0.02, "score per open dispute/1,000 residents",
                          ASSUME + " of the index's scale (1 = 10 open disputes per 1,000 residents of one's grid); weight 0.10–0.30 on a "
                          "0–1 disorder index, PE §3 and prior row 3 (Hinkle & Weisburd 2008)",
                          "drop in safety per unresolved dispute per 1,000 residents of one's grid, known or not (neighbours see quarrels)",
                          ge=0, plausible=(0.01, 0.03))
    # 4. visible guardianship
    w_visit: float = P(0.02, "score", ASSUME + " for grid workers (their effect on 安全感 not found, PE §4); guardianship prior row 4: "
                       "+0.00 to +0.05, saturating (Newark 1981 and Flint positive; Philadelphia 2015 and Gill et al. 2014 ≈ 0)",
                       "rise in safety from grid workers' visits, reached at saturation: w_visit · (1 − e^(−visit rate / visit_saturation))",
                       ge=0, plausible=(0.0, 0.05))
    visit_saturation: float = P(0.5, "visits/household/month", ASSUME + " (a visit rule: ordinary households twice a year, needy ones monthly, "
                                "LF §2)", "visit rate at which the visit term reaches 1 − 1/e of w_visit", gt=0, plausible=(0.17, 2.0))
    visit_memory_days: float = P(30.0, "days", ASSUME, "e-folding time over which residents remember grid workers' visits", ge=1,
                                 plausible=(7.0, 90.0))
    w_patrol: float = P(0.02, "score", "PE §4 and prior row 4: +0.00 to +0.05 where exposed, saturating; foot patrol lowers fear (Newark 1981, "
                        "Flint), ≈ 0 in Philadelphia 2015 and the Gill et al. 2014 meta-analysis",
                        "rise in safety from visible police patrol, reached at saturation: w_patrol · (1 − e^(−patrol / patrol_saturation))",
                        ge=0, plausible=(0.0, 0.05))
    patrol_saturation: float = P(2.0, "visible patrol h/1,000 residents/day", ASSUME + " (Gangbei 2020: 90+ police deployments on the street "
                                 "a day, LF §5)", "visible patrol at which the patrol term reaches 1 − 1/e of w_patrol", gt=0,
                                 plausible=(0.5, 8.0))
    # 5. confidence in police and government
    w_trust: float = P(0.10, "score per unit trust", "PE §5 and prior row 5: 0.05–0.25; bivariate r(safety, police trust) = 0.239 is the "
                       "ceiling (Wang et al. 2022, CSS 2017), the controlled effect may be ≈ 0 (Bennett 1994)",
                       "rise in the safety target per unit of trust above trust_mean", ge=0, plausible=(0.0, 0.25))
    trust_response: float = P(0.04, "trust", ASSUME + " (Percy 1980: those perceiving a rapid police response rate their risk lower, PE §5)",
                              "a victim's trust moves by trust_response · (2e^(−h/response_time_hours) − 1) when the police close its "
                              "case, h the hours from its report to an officer on scene (−trust_response if none came)",
                              ge=0, le=1, plausible=(0.0, 0.1))
    response_time_hours: float = P(0.5, "h", ASSUME + " (no documented Chinese response standard in the shared data)",
                                   "time scale of the response term: it is zero at h = response_time_hours · ln 2", gt=0,
                                   plausible=(0.25, 2.0))
    publicity_share: Prob = P(0.5, "share", ASSUME + " (solved cases are publicised by police accounts and 警情通报)",
                              "share of cleared incidents publicised city-wide", plausible=(0.1, 1.0))
    w_publicity: float = P(0.01, "trust per publicised solved case/10,000 residents",
                           ASSUME + ", bounded by PE §7 and prior row 7: campaigns move the aggregate +0.5 to +2 pp a year at most "
                           "(Jiangxi 2019 +0.91 pp, Tianjin +0.5 pp a year)",
                           "rise of everyone's trust anchor per remembered publicised solved case per 10,000 residents", ge=0,
                           plausible=(0.0, 0.03))
    publicity_memory_days: float = P(90.0, "days", ASSUME + " (a quarter: surveys and reports come quarterly, city_figures)",
                                     "e-folding time of the memory of publicised solved cases", gt=0, plausible=(30.0, 365.0))
    # 6. cameras (directly)
    camera_near_cells: int = P(1, "cells", ASSUME + " (home cell and its 8 neighbours)",
                               "a camera within this many cells of home counts as near home", ge=0, le=20, plausible=(0, 3))
    w_camera: float = P(0.01, "score", "PE §6 and prior row 6: +0.00 to +0.03 for a large build-out (PNAS Nexus 2025, locals only); little "
                        "evidence CCTV reduces fear (Lorenc et al. 2013)",
                        "rise in safety when a camera covers one's home cell or its neighbours", ge=0, plausible=(0.0, 0.03))
    # own disputes
    w_dispute: float = P(0.15, "score per bad experience", ASSUME, "drop in safety per remembered badly handled dispute of one's own", ge=0,
                         plausible=(0.05, 0.25))
    dispute_memory_days: float = P(180.0, "days", ASSUME + " (as victimisation, PE prior row 1)", "e-folding time of the memory of one's own dispute",
                                   gt=0, plausible=(45.0, 260.0))
    trust_mean: Prob = P(0.6, "score 0–1", ASSUME, "mean baseline trust in the governance system", plausible=(0.4, 0.8))
    trust_sd: float = P(0.15, "score 0–1", ASSUME, "spread of baseline trust", ge=0.01, le=0.45, plausible=(0.08, 0.25))
    trust_relax_daily: Prob = P(0.005, "share/day", ASSUME, "daily pull of trust back toward its anchor (baseline plus publicity)",
                                plausible=(0.002, 0.02))
    trust_gain: float = P(0.08, "trust", ASSUME, "trust gained when one's dispute is settled fast", ge=0, le=1, plausible=(0.02, 0.15))
    trust_loss: float = P(0.08, "trust", ASSUME, "trust lost when it is settled slowly", ge=0, le=1, plausible=(0.02, 0.15))
    trust_time_hours: float = P(72.0, "h", "grid-event deadline of 2–3 days (Fengxian 2018)", "time scale τ of the trust response: a settlement after h hours moves trust by gain·e^(−h/τ) − loss·(1 − e^(−h/τ))", gt=0)
    bad_converted: float = P(1.0, "bad experiences", ASSUME, "a dispute that turned violent counts as this many bad experiences "
                             "(a settlement after h hours counts 1 − e^(−h/trust_time_hours))", ge=0, plausible=(0.5, 2.0))
    trust_gain_cleared: float = P(0.08, "trust", ASSUME, "trust a victim gains when the police clear its case", ge=0, le=1,
                                  plausible=(0.02, 0.15))
    trust_loss_uncleared: float = P(0.15, "trust", ASSUME, "trust a victim loses when its case goes uncleared", ge=0, le=1,
                                    plausible=(0.05, 0.25))
    trust_loss_unhandled: float = P(0.15, "trust", ASSUME, "trust lost when one's dispute turns violent", ge=0, le=1, plausible=(0.05, 0.25))
    cutpoints: tuple[Prob, Prob, Prob, Prob] = P((0.2, 0.4, 0.6, 0.8), "score 0–1", ASSUME,
                                                 "boundaries of the five answers: unsafe | not very safe | basically safe | safe | very safe")
    answer_noise_sd: float = P(0.05, "score 0–1", ASSUME, "noise in how a resident maps its feeling to an answer", ge=0, plausible=(0.0, 0.15))
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
