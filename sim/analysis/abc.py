"""ABC-SMC calibration with pyabc: a posterior over assumed parameters, resumable, reproducible.

Why this design (docs/CALIBRATION.md has the long form):

- **Deterministic simulator by common random numbers.**  Every particle runs the same R
  replicate seeds (`sim.execute.replicate_seeds(seed, R)`) and is summarised by the replicate
  means, so θ ↦ y(θ) is a function and all randomness of the fit is pyabc's.
- **Exact ABC under a stated error model** (Wilkinson 2013): pyabc's `StochasticAcceptor`
  with a kernel that *is* the likelihood of the reported figures given y(θ) — a normal with
  variance observation + model discrepancy, or for a band (the truth anywhere in [lo, hi]) a
  uniform convolved with the discrepancy normal.  Temperatures fall from T₀ (a pilot of prior
  draws accepts at the `acceptance` rate) by adaptive tempering: each next T is the lowest
  keeping half the effective sample size when the last population is reweighted (conditional
  ESS; Jasra et al. 2011, Zhou et al. 2016), but never below T_prev / `MAX_COOLING`; the fit ends with a generation at T = 1 (forced at the last allowed generation),
  which samples the posterior under that error model.  Acceptance is normalised by the
  highest log density found so far, with pyabc's importance weights correcting any clipping.
- **Reproducible and resumable.**  `OrderedSampler` draws one seed per particle slot from
  (seed, generation, slot) — not from a global state — and maps the slots, in order, over the
  project's one executor (`Runner.map_function`: local processes or Dask), so the posterior
  is the same for any number of workers.  pyabc writes each finished generation to SQLite in
  `DIR/abc.db`; the pilot is in `DIR/state.json`; every generation's temperature and
  normaliser are computed from those stored data alone (one `ABCSMC.run` per generation; the
  transition is fitted to the stored population), so a run killed at any point resumes, from its last
  finished generation, to the same posterior as an uninterrupted one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..execute import replicate_seeds
from ..experiments.pool import Runner, RunSpec, run_spec
from ..scenario import ScenarioError
from .targets import Target, Targets, period_overrides

#: SeedSequence spawn keys of the fit's streams (never shared with the replicate seeds' keys)
PILOT_STREAM, SLOT_STREAM = 7_001, 7_002
LOG_FLOOR = -1e12                         # log density of a run that gave no number


class CalibrationMismatch(ScenarioError):
    """The results directory holds a calibration of other targets, settings or model code."""


# --------------------------------------------------------------------------- the error model
def _log_norm_cdf_diff(a: float, b: float) -> float:
    from scipy.special import log_ndtr

    # log(Φ(b) − Φ(a)) for a < b, stable in either tail
    if a > 0:
        a, b = -b, -a
    lb, la = float(log_ndtr(b)), float(log_ndtr(a))
    return lb + math.log1p(-math.exp(la - lb)) if la < lb else -math.inf


def target_logpdf(t: Target, y: float, observed: float | None) -> float:
    """log p(reported | model value y): normal (obs² + discrepancy²) or band ⊛ normal(discrepancy)."""
    if y is None or not math.isfinite(y):
        return LOG_FLOOR
    if t.kind == "band":
        lo, hi = t.band
        s = t.discrepancy_sd
        if s <= 0:
            return -math.log(hi - lo) if lo <= y <= hi else LOG_FLOOR
        return max(_log_norm_cdf_diff((lo - y) / s, (hi - y) / s) - math.log(hi - lo), LOG_FLOOR)
    var = t.sd ** 2 + t.discrepancy_sd ** 2
    return -0.5 * math.log(2 * math.pi * var) - 0.5 * (observed - y) ** 2 / var


def target_logpdf_max(t: Target) -> float:
    if t.kind == "band":
        lo, hi = t.band
        s = t.discrepancy_sd
        return -math.log(hi - lo) + (0.0 if s <= 0 else _log_norm_cdf_diff(-(hi - lo) / (2 * s), (hi - lo) / (2 * s)))
    return -0.5 * math.log(2 * math.pi * (t.sd ** 2 + t.discrepancy_sd ** 2))


def make_kernel(fitted: list[Target]):
    """A pyabc `StochasticKernel` (log scale) whose value is the log likelihood of the fitted targets."""
    import pyabc
    from pyabc.distance import SCALE_LOG

    class TargetKernel(pyabc.StochasticKernel):
        def __init__(self, targets):
            self.targets = list(targets)
            super().__init__(ret_scale=SCALE_LOG, keys=[t.id for t in self.targets],
                             pdf_max=float(sum(target_logpdf_max(t) for t in self.targets)))

        def __call__(self, x, x_0, t=None, par=None):
            return float(sum(target_logpdf(tg, x[tg.id], x_0[tg.id]) for tg in self.targets))

    return TargetKernel(fitted)


def observed_of(fitted: list[Target]) -> dict[str, float]:
    """What pyabc is given as the observation: the fitted targets' values only (a band: its middle)."""
    return {t.id: float(t.value) for t in fitted}


# --------------------------------------------------------------------------- the model
class ParticleModel:
    """θ → replicate means of the fitted outcomes, on the fit period (picklable: it travels to workers)."""

    def __init__(self, targets: Targets, replicates: int):
        fit = targets.fitted
        self.scenario = fit_scenario(targets)
        self.seeds = replicate_seeds(targets.seed, replicates)
        self.keys = tuple(dict.fromkeys(t.outcome for t in fit))
        self.ids = [(t.id, t.outcome) for t in fit]
        self.params = [p.key for p in targets.params]

    def means(self, theta: dict[str, float]) -> dict[str, float]:
        ov = tuple((k, float(theta[k])) for k in self.params)
        res = [run_spec(RunSpec(self.scenario, s, ov, self.keys)) for s in self.seeds]
        out = {}
        for tid, key in self.ids:
            vals = np.array([r[key] for r in res], float)
            out[tid] = float(np.mean(vals)) if np.all(np.isfinite(vals)) else math.nan
        return out

    def __call__(self, par) -> dict[str, float]:
        return self.means({k: par[k] for k in self.params})


def fit_scenario(targets: Targets, period: str | None = None):
    """The scenario as a fit runs it: the file's overrides, the fit scale, one period as the observed run."""
    sc = targets.scenario
    ov = {"scale": targets.scale, **period_overrides(sc, period or targets.fit_period)}
    return sc.with_overrides(ov, f"{targets.path} (period {period or targets.fit_period})")


# --------------------------------------------------------------------------- the sampler
def slot_seed(seed: int, t: int, i: int) -> int:
    """np.random seed of particle slot i of generation t (t = -1: pyabc's calibration sample)."""
    return int(np.random.SeedSequence(int(seed), spawn_key=(SLOT_STREAM, t + 1, i)).generate_state(1)[0])


def _slot(payload: bytes, seed: int):
    """One particle slot, in a worker: seed numpy and random, simulate until one is accepted."""
    import cloudpickle

    simulate_one, factory = cloudpickle.loads(payload)
    np.random.seed(seed)
    random.seed(seed)
    sample, n = factory(is_look_ahead=False), 0
    while True:
        new = simulate_one()
        n += 1
        sample.append(new)
        if new.accepted:
            return sample, n


#: how often a generation reports its progress (`say`), in seconds at least
PROGRESS_SECONDS = 60.0


def make_sampler(runner: Runner, seed: int, say: Callable[[str], None] = lambda s: None):
    from pyabc.sampler import Sampler

    class OrderedSampler(Sampler):
        """n slots, seeded by (seed, t, slot), mapped in order over the project's executor."""

        def sample_until_n_accepted(self, n, simulate_one, t, *, max_eval=np.inf, all_accepted=False, ana_vars=None):
            import cloudpickle

            payload = cloudpickle.dumps((simulate_one, self.sample_factory))
            t0, last, evals = time.perf_counter(), [time.perf_counter()], [0]

            def progress(i: int, res) -> None:
                evals[0] += res[1]
                now = time.perf_counter()
                if now - last[0] >= PROGRESS_SECONDS and i + 1 < n:
                    last[0] = now
                    say(f"  generation {t + 1}: {i + 1} of {n} particles accepted, {evals[0]} evaluations, "
                        f"{(now - t0) / 60:.1f} min")

            out = runner.map_function(functools.partial(_slot, payload), [slot_seed(seed, t, i) for i in range(n)],
                                      on_result=progress)
            sample = self._create_empty_sample()
            for s, _ in out:
                sample += s
            self.nr_evaluations_ = int(sum(k for _, k in out))
            return sample

    return OrderedSampler()


# --------------------------------------------------------------------------- the proposal
#: factor on the covariance of pyabc's kernel-density proposal (Silverman's bandwidth² × weighted
#: covariance of the last population).  Measured (docs/CALIBRATION.md, "Why the weights collapsed"):
#: with ten mostly weakly identified parameters the Silverman kernel (sd ≈ 0.7 × the population's)
#: makes a lumpy mixture of a few dozen narrow bumps in 10 dimensions, while the tempered target is
#: broad in most of them; particles accepted between the bumps get weights prior/q up to e^(r²/2)
#: and carry the population.  A wider kernel is smooth across the target.
KERNEL_SCALING = 5.0


def make_transition(scaling: float | None = None):
    """The proposal: pyabc's MultivariateNormalTransition with its Silverman covariance widened by
    `KERNEL_SCALING`.  A defensive prior share and a kernel on logit coordinates of the prior box
    were measured against it and dropped (docs/CALIBRATION.md, "Why the weights collapsed")."""
    import pyabc

    return pyabc.MultivariateNormalTransition(scaling=KERNEL_SCALING if scaling is None else scaling)


# --------------------------------------------------------------------------- pilot and temperatures
def _theta_loglik(model: ParticleModel, fitted: list[Target], theta: dict[str, float]) -> float:
    y = model.means(theta)
    obs = observed_of(fitted)
    return float(sum(target_logpdf(t, y[t.id], obs[t.id]) for t in fitted))


def pilot(targets: Targets, model: ParticleModel, n: int, runner: Runner) -> list[float]:
    """Log likelihoods of n prior draws (their own stream): what sets the first temperature."""
    rng = np.random.default_rng(np.random.SeedSequence(targets.seed, spawn_key=(PILOT_STREAM,)))
    thetas = [{p.key: float(rng.uniform(*p.prior)) for p in targets.params} for _ in range(n)]
    return runner.map_function(functools.partial(_theta_loglik, model, targets.fitted), thetas)


def first_temperature(loglik: list[float], acceptance: float) -> float:
    """T₀ at which the pilot's draws would be accepted at rate `acceptance` (mean of exp((ℓ − max ℓ)/T))."""
    d = np.asarray(loglik, float)
    d = d - d.max()

    def rate(log_t: float) -> float:
        return float(np.mean(np.exp(d / math.exp(log_t))))

    if rate(0.0) >= acceptance:
        return 1.0
    lo, hi = 0.0, 60.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if rate(mid) >= acceptance else (mid, hi)
    return float(math.exp(hi))


def next_temperature(loglik: np.ndarray, weights: np.ndarray, t_prev: float, ess: float) -> float:
    """The lowest T ≥ 1 at which reweighting the last population from T_prev keeps at least the share
    `ess` of its effective sample size (the conditional ESS of Zhou, Johansen & Aston 2016; adaptive
    tempering, Jasra et al. 2011): computed from the stored population alone."""
    ll, w = np.asarray(loglik, float), np.asarray(weights, float)
    keep = w > 0
    ll, logw = ll[keep], np.log(w[keep])

    def ess_at(temp: float) -> float:
        a = logw + ll * (1.0 / temp - 1.0 / t_prev)
        v = np.exp(a - a.max())
        return float(v.sum() ** 2 / (v ** 2).sum())

    goal = ess * ess_at(t_prev)
    if ess_at(1.0) >= goal:
        return 1.0
    lo, hi = 0.0, math.log(t_prev)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ess_at(math.exp(mid)) < goal else (lo, mid)
    return float(max(1.0, math.exp(hi)))


# --------------------------------------------------------------------------- digests, state
#: blocks of a targets file that are not inputs of the fit: run sizes are digested apart (the
#: `settings` digest of the sizes actually used), and the predictive check, --quick and
#: --loo sizes do not change what a full fit computes
NOT_FIT_INPUTS = ("settings", "quick", "loo")


def fit_inputs(text: str) -> Any:
    """The targets file as the fit sees it: parsed, without comments and run sizes, so a fit is
    not refused as another after a comment, a --quick size or a predictive setting changed."""
    import yaml

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if not isinstance(raw, dict):
        return text
    return {k: v for k, v in raw.items() if k not in NOT_FIT_INPUTS}


def digests(targets: Targets, settings: dict[str, Any]) -> dict[str, str]:
    from ..experiments.runner import code_digest

    def h(obj) -> str:
        return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]

    fit = {"file": fit_inputs(targets.text), "fitted": [t.id for t in targets.fitted]}   # a leave-one-out refit is another fit
    return {"targets file": h(fit), "scenario": h(targets.scenario.flat()), "settings": h(settings),
            "model code": code_digest()[:16], "engine": h(ENGINE)}       # the code this process loaded (computed once)


def write_json(path: Path, data: Any) -> None:
    """Atomically: a unique temporary beside it, then rename."""
    tmp = path.with_name(f".{path.name}.{time.monotonic_ns()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False, default=_json_default) + "\n", encoding="utf-8")
    tmp.replace(path)


def _json_default(o):
    if isinstance(o, np.integer | np.floating):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def read_state(out: Path) -> dict | None:
    p = out / "state.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else None


def check_state(out: Path, dig: dict[str, str]) -> dict | None:
    """The stored state if it belongs to this calibration; refuse one of other targets/settings/code."""
    state = read_state(out)
    if state is None:
        if (out / "abc.db").exists():
            raise CalibrationMismatch(f"{out}: holds abc.db but no state.json; use another --out or delete the directory")
        return None
    changed = [k for k in dig if state.get("digests", {}).get(k) != dig[k]]
    if changed:
        raise CalibrationMismatch(f"{out}: holds another calibration (changed: {', '.join(changed)}); "
                                  "use another --out, or delete the directory to start again")
    return state


# --------------------------------------------------------------------------- the fit
#: share of the effective sample size kept when the last population is reweighted to the next temperature
ESS_STEP = 0.5
#: the most a generation may divide the temperature by.  Measured on the Guigang fit: the ESS rule,
#: computed on a population of ESS 10.9 of 48 at T 5.88, allowed the whole step to T = 1, and that
#: generation had not found its 48 particles after 25 min on 2 idle cores (≥ 1,800 evaluations,
#: acceptance ≲ 2.5 %): a population fitted at T 5.88 — spread by the 5× kernel — proposes mostly
#: where the T = 1 posterior is thin.  Steps of at most 2.5× keep each proposal near its target.
MAX_COOLING = 2.5
#: part of the resume digest: a directory fitted by another engine (proposal, tempering) is refused
ENGINE = f"mvn-kde scaling {KERNEL_SCALING:g}; tempering ess step {ESS_STEP:g}, cooling ≤ {MAX_COOLING:g}× per generation"


def _schedule(history, state: dict, t: int, max_generations: int) -> tuple[float, float]:
    """(temperature, log-density normaliser) of generation t from stored data only (resume-safe)."""
    if t == 0:
        return state["t0"], max(state["pilot_loglik"])
    df = history.get_weighted_distances(t=t - 1)
    ll, w = df["distance"].to_numpy(float), df["w"].to_numpy(float)
    prev = history.get_all_populations()
    t_prev = float(prev.loc[prev["t"] == t - 1, "epsilon"].iloc[0])
    norms = [max(state["pilot_loglik"])] + [float(history.get_weighted_distances(t=k)["distance"].max()) for k in range(t)]
    temp = 1.0 if t == max_generations - 1 else max(next_temperature(ll, w, t_prev, ESS_STEP), t_prev / MAX_COOLING, 1.0)
    return temp, float(max(norms))


def run_abc(targets: Targets, out: Path, settings, runner: Runner, say: Callable[[str], None] = lambda s: None,
            quick: bool = False) -> dict:
    """Fit (or resume) into `out`, one generation per `ABCSMC.run`, until a generation at T = 1 is done."""
    import pyabc
    from pyabc.acceptor import pdf_norm_from_kernel

    t_start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    cfg = {"particles": settings.particles, "generations": settings.generations, "replicates": settings.replicates,
           "acceptance": settings.acceptance, "scale": targets.scale, "seed": targets.seed}
    dig = digests(targets, cfg)
    state = check_state(out, dig)
    fitted = targets.fitted
    model = ParticleModel(targets, settings.replicates)
    if state is None:
        say(f"pilot: {settings.particles} prior draws × {settings.replicates} replicate(s) set the first temperature")
        t_pilot = time.perf_counter()
        ll = pilot(targets, model, settings.particles, runner)
        state = {"digests": dig, "settings": cfg, "quick": quick, "t0": first_temperature(ll, settings.acceptance),
                 "pilot_evaluations": len(ll), "pilot_loglik": ll, "abc_id": None,
                 "seconds": time.perf_counter() - t_pilot, "schedule": []}
        write_json(out / "state.json", state)
    prior = pyabc.Distribution(**{p.key: pyabc.RV("uniform", p.prior[0], p.prior[1] - p.prior[0]) for p in targets.params})
    db = "sqlite:///" + str((out / "abc.db").resolve())
    history = None
    if state["abc_id"] is not None:
        history = pyabc.History(db, _id=state["abc_id"])
        if history.max_t >= 0:
            say(f"resuming {out}: {history.max_t + 1} generation(s) already finished")
    while True:
        t = 0 if history is None else history.max_t + 1
        if t > 0:
            pops = history.get_all_populations()
            if float(pops.loc[pops["t"] == t - 1, "epsilon"].iloc[0]) <= 1.0 or t >= settings.generations:
                break
        temp, norm = _schedule(history, state, t, settings.generations)
        temps = [float(x) for x in (history.get_all_populations().query("t >= 0")["epsilon"] if t else [])] + [temp]
        kernel = make_kernel(fitted)
        kernel.pdf_max = norm
        t_gen = time.perf_counter()
        abc = pyabc.ABCSMC(model, prior, kernel, population_size=settings.particles,
                           transitions=make_transition(),
                           sampler=make_sampler(runner, targets.seed, say),
                           acceptor=pyabc.StochasticAcceptor(pdf_norm_method=pdf_norm_from_kernel),
                           eps=pyabc.ListTemperature(values=temps))
        if history is None:
            history = abc.new(db, observed_of(fitted))
            state["abc_id"] = history.id
            write_json(out / "state.json", state)
        else:
            abc.load(db, state["abc_id"])
        history = abc.run(max_nr_populations=1)
        state["seconds"] = float(state.get("seconds", 0.0)) + (time.perf_counter() - t_gen)
        state["schedule"] = state["schedule"][:t] + [{"t": t, "temperature": temp, "log_density_norm": norm}]
        write_json(out / "state.json", state)
        pops = history.get_all_populations()
        say(f"generation {t + 1}: temperature {temp:.4g}, {int(pops.loc[pops['t'] == t, 'samples'].iloc[0])} evaluations")
    return {"history": history, "state": state, "seconds_this_call": time.perf_counter() - t_start}


def generations_table(history) -> list[dict]:
    """Per generation: t, temperature, accepted, evaluations, acceptance rate, ESS."""
    from pyabc.weighted_statistics import effective_sample_size

    pops = history.get_all_populations()
    rows = []
    for _, r in pops[pops["t"] >= 0].iterrows():
        t = int(r["t"])
        _, w = history.get_distribution(m=0, t=t)
        rows.append({"t": t, "temperature": float(r["epsilon"]), "accepted": int(r["particles"]),
                     "evaluations": int(r["samples"]), "acceptance_rate": float(r["particles"]) / max(int(r["samples"]), 1),
                     "ess": float(effective_sample_size(np.asarray(w, float)))})
    return rows
