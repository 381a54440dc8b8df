"""The safety survey (the observation of ODD submodel 7).

An answer is the resident's felt safety plus normal answer noise, cut into five
categories at `cutpoints`; the reported share is the share answering at least "basically
safe", with standard error sqrt(p(1 − p)/n).  `expected_share_safe` is what the survey
estimates: the mean over all residents of P(safety + noise ≥ cut).

Statistical method.  A survey of n residents drawn without replacement from N, resident i
answering "safe" with probability q_i (independently of the others, given who is asked),
has share p̂ with mean Q = mean(q) and variance

    V = [Q(1 − Q) − σ_q² (n − 1)/(N − 1)] / n        (σ_q²: population variance of q),

the binomial variance less a finite-population correction (Cochran, Sampling Techniques,
ch. 2–3; derived by conditioning on who is asked).  Means are z-tested against Q with this
variance, spreads chi-square-tested against it; every check is two-sided at α = 0.01, so
a correct model fails each with probability 1 %.  Expected values are computed here from
the normal distribution (math.erfc), not by calling the module's formula.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import sim
from sim.perception import ANSWERS, BASICALLY_SAFE, Perception
from sim.population import Population
from sim.town import Town

ALPHA = 0.01
Z = stats.norm.ppf(1 - ALPHA / 2)


def surveyor(population: int = 20_000, **perception):
    """A Perception over a town of `population` residents, whose safety is left at the
    baselines (Beta-distributed around the default mean)."""
    sc = sim.Scenario().with_overrides({"population": population, "scale": 1.0,
                                        **{f"perception.{k}": v for k, v in perception.items()}}, "test")
    rng = np.random.default_rng(11)
    town = Town(sc, rng)
    pop = Population(town, sc, rng)
    perc = Perception(sc.perception, town, pop, rng=np.random.default_rng(12),
                      households=np.maximum(town.grid_pop / sc.town.household_size, 1.0), warmup_days=0, days=1)
    return sc.perception, pop, perc


def q_safe(safety: np.ndarray, cut: float, sd: float) -> np.ndarray:
    """P(s + N(0, sd²) ≥ cut) per resident, from the error function."""
    s = np.asarray(safety, float)
    if sd == 0:
        return (s >= cut).astype(float)
    return np.array([0.5 * math.erfc((cut - x) / (sd * math.sqrt(2.0))) for x in s])


def survey_variance(q: np.ndarray, n: int) -> float:
    """Exact variance of a survey share: n of N without replacement, Bernoulli(q_i) answers."""
    N, Q = len(q), float(q.mean())
    return (Q * (1 - Q) - q.var() * (n - 1) / max(N - 1, 1)) / n


def chi2_bounds(df: int) -> tuple[float, float]:
    return stats.chi2.ppf(ALPHA / 2, df), stats.chi2.ppf(1 - ALPHA / 2, df)


# --------------------------------------------------------------------------- answers
def test_without_noise_answers_are_the_cutpoint_categories():
    """With answer_noise_sd = 0 a resident answers category k exactly when
    cutpoints[k−1] ≤ safety < cutpoints[k]; values on a cut-point go up (at or above
    "basically safe" counts as safe).  The cut-points are binary fractions, so that
    safety (float32) can sit exactly on one."""
    p, pop, perc = surveyor(2000, answer_noise_sd=0.0, cutpoints=(0.25, 0.375, 0.625, 0.875))
    cuts = np.asarray(p.cutpoints, float)
    on_cut = cuts.astype(np.float32)
    assert np.array_equal(on_cut.astype(float), cuts)
    below = np.nextafter(on_cut, np.float32(0))
    grid = np.linspace(0, 1, 101, dtype=np.float32)
    s = np.concatenate([on_cut, below, grid, [0, 1]]).astype(np.float32)
    pop.safety[: len(s)] = s
    ids = np.arange(len(s))
    want = np.array([sum(float(c) <= float(x) for c in cuts) for x in s])
    got = perc.answers(ids)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, np.searchsorted(cuts, s, side="right"))
    assert set(got.tolist()) == set(range(len(ANSWERS)))   # every category was exercised


def test_a_noiseless_census_reports_the_population_exactly():
    """survey_n ≥ N and no noise: the survey is a census, its counts are the population's
    categories and its share is the population's share at or above the cut."""
    p, pop, perc = surveyor(3000, answer_noise_sd=0.0, survey_n=100_000)
    s = perc.take_survey(1)
    cuts = np.asarray(p.cutpoints, float)
    cat = (pop.safety.astype(float)[:, None] >= cuts[None, :]).sum(axis=1)
    assert s["n"] == pop.n
    assert [s[f"answer_{k.replace(' ', '_')}"] for k in ANSWERS] == np.bincount(cat, minlength=5).tolist()
    assert s["share_safe"] == pytest.approx(np.mean(cat >= BASICALLY_SAFE), abs=1e-12)
    assert s["share_safe"] == pytest.approx(perc.share_safe(), abs=1e-12) == s["population_share_safe"]
    assert 0.05 < s["share_safe"] < 0.95          # not a degenerate population


@pytest.mark.parametrize("safety", [0.1, 0.39, 0.47, 0.65, 0.95])
def test_noisy_answers_follow_the_normal_categories(safety):
    """One resident asked 20,000 times: the answers' distribution over the five categories
    is Φ((c_k − s)/sd) − Φ((c_{k−1} − s)/sd) (chi-square goodness of fit, α = 0.01)."""
    p, pop, perc = surveyor(2000, answer_noise_sd=0.1)
    pop.safety[0] = safety
    k = 20_000
    got = np.bincount(perc.answers(np.zeros(k, np.int64)), minlength=5)
    s = float(np.float32(safety))
    cdf = [0.0] + [0.5 * math.erfc(-(c - s) / (0.1 * math.sqrt(2))) for c in p.cutpoints] + [1.0]
    prob = np.diff(cdf)
    expected = k * prob
    use = expected >= 5                     # pool negligible cells (the chi-square needs ≥ 5 expected)
    obs = np.append(got[use], got[~use].sum())
    exp = np.append(expected[use], expected[~use].sum())
    if exp[-1] < 5:
        obs, exp = obs[:-1], exp[:-1]
        assert got[~use].sum() <= 20, f"answers in categories expected to be (almost) empty: {got}"
    stat = float(((obs - exp) ** 2 / exp).sum())
    assert stat < stats.chi2.ppf(1 - ALPHA, len(obs) - 1), f"answers {got} vs expected {np.round(expected, 1)}"


# --------------------------------------------------------------------------- the share and its error
def test_reported_standard_error_is_binomial():
    p, pop, perc = surveyor(5000, survey_n=300)
    for day in range(1, 21):
        s = perc.take_survey(day)
        share = (s["answer_basically_safe"] + s["answer_safe"] + s["answer_very_safe"]) / s["n"]
        assert s["share_safe"] == pytest.approx(share, abs=1e-12)
        assert sum(s[f"answer_{k.replace(' ', '_')}"] for k in ANSWERS) == s["n"] == 300
        assert s["se"] == pytest.approx(math.sqrt(share * (1 - share) / 300), rel=1e-12)


def test_expected_share_is_the_mean_survival_probability():
    p, pop, perc = surveyor(5000)
    cut = p.cutpoints[BASICALLY_SAFE - 1]
    q = q_safe(pop.safety, cut, p.answer_noise_sd)
    assert perc.expected_share_safe() == pytest.approx(q.mean(), abs=1e-12)
    # without noise it is the plain share at or above the cut
    p0, pop0, perc0 = surveyor(5000, answer_noise_sd=0.0)
    assert perc0.expected_share_safe() == pytest.approx(np.mean(pop0.safety.astype(float) >= cut), abs=1e-12)
    # and noise blurs: the two differ for this population (the check above is not vacuous)
    assert abs(perc.expected_share_safe() - perc0.expected_share_safe()) > 1e-4


def test_noisy_census_averages_to_the_expected_share():
    """Everyone answers, 40 times over: the mean share estimates expected_share_safe with
    variance Σ q(1 − q) / (N² · 40) (answers independent given safety)."""
    p, pop, perc = surveyor(20_000, answer_noise_sd=0.08)
    cut = p.cutpoints[BASICALLY_SAFE - 1]
    q = q_safe(pop.safety, cut, p.answer_noise_sd)
    everyone = np.arange(pop.n)
    reps = 40
    shares = np.array([np.mean(perc.answers(everyone) >= BASICALLY_SAFE) for _ in range(reps)])
    se = math.sqrt(float((q * (1 - q)).sum())) / pop.n / math.sqrt(reps)
    z = (shares.mean() - perc.expected_share_safe()) / se
    assert abs(z) < Z, f"census mean {shares.mean():.5f} vs expected {perc.expected_share_safe():.5f}, z = {z:.2f}"


def test_survey_share_is_unbiased_and_its_spread_is_its_standard_error():
    """1,000 surveys of n = 200 from a fixed town of 20,000: the shares' mean matches
    expected_share_safe (z-test), their variance matches the exact survey variance V
    (chi-square, K − 1 df), and matches the surveys' own reported se² too (the binomial
    se ignores the finite-population correction and the n/(n − 1) bias of p̂(1 − p̂), here
    together under 2 %, against a chi-square resolution of about ±8 %)."""
    n, k = 200, 1000
    p, pop, perc = surveyor(20_000, survey_n=n)
    cut = p.cutpoints[BASICALLY_SAFE - 1]
    q = q_safe(pop.safety, cut, p.answer_noise_sd)
    V = survey_variance(q, n)
    Q = perc.expected_share_safe()
    surveys = [perc.take_survey(d) for d in range(k)]
    shares = np.array([s["share_safe"] for s in surveys])
    se2 = np.array([s["se"] ** 2 for s in surveys])
    assert 0.2 < Q < 0.8
    z = (shares.mean() - Q) / math.sqrt(V / k)
    assert abs(z) < Z, f"mean share {shares.mean():.4f} vs expected {Q:.4f}: z = {z:.2f}"
    lo, hi = chi2_bounds(k - 1)
    stat = (k - 1) * shares.var(ddof=1) / V
    assert lo < stat < hi, f"variance of the share {shares.var(ddof=1):.3g} vs exact {V:.3g} (chi2 {stat:.0f} ∉ [{lo:.0f}, {hi:.0f}])"
    stat = (k - 1) * shares.var(ddof=1) / se2.mean()
    assert lo < stat < hi, f"variance of the share {shares.var(ddof=1):.3g} vs mean reported se² {se2.mean():.3g}"


def test_model_surveys_across_seeds_match_their_expected_share():
    """Whole model, 24 seeds of a 5,000-resident town: the last survey (taken on the last
    day, when expected_share_safe is read) against expected_share_safe.  Pooled z of the
    differences and the chi-square of their standardised squares, each at α = 0.01; the
    variance is the exact one for 1,000 of 5,000 residents (the correction matters here)."""
    sc = sim.Scenario().with_overrides({"population": 5000, "scale": 1.0, "days": 20,
                                        "perception.survey_every_days": 10}, "test")
    diffs, variances = [], []
    cut = sc.perception.cutpoints[BASICALLY_SAFE - 1]
    for seed in range(24):
        m = sim.GovernanceModel(sc, rng=seed).run()
        last = m.perception.survey[-1]
        assert last["day"] == sc.days and last["n"] == sc.perception.survey_n
        q = q_safe(m.population.safety, cut, sc.perception.answer_noise_sd)
        Q = m.perception.expected_share_safe()
        assert Q == pytest.approx(q.mean(), abs=1e-9)
        diffs.append(last["share_safe"] - Q)
        variances.append(survey_variance(q, last["n"]))
    d, v = np.array(diffs), np.array(variances)
    z = d.sum() / math.sqrt(v.sum())
    assert abs(z) < Z, f"surveys biased against expected_share_safe: pooled z = {z:.2f}"
    lo, hi = chi2_bounds(len(d))
    stat = float((d * d / v).sum())
    assert lo < stat < hi, f"survey spread does not match its variance: chi2 = {stat:.1f} ∉ [{lo:.1f}, {hi:.1f}] ({len(d)} df)"
