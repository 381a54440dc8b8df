"""What `gridsim calibrate TARGETS.yaml` writes, and the posterior-predictive check.

The contract (docs/CALIBRATION.md, "Outputs"): `posterior.parquet` (final generation, one
column per parameter by dotted key, `weight` normalised), `generations.parquet` (every
generation's particles, `t` and `weight`), `calibration.json` (targets without held-out
values, priors, settings, per-generation temperature/acceptance/ESS, evaluations, seconds,
model code, versions), `predictive.json` / `predictive.csv` (every target, fitted and held
out, with its 95 % predictive interval including observation error) and the figures.

The predictive check draws parameter sets from the posterior (its own seed stream) and runs each
with a new seed twice: the fit period exactly as the fit runs it (the fitted targets' outcomes,
by the fit's definitions), and the whole trajectory once, from which every other period and
every change between periods is read (`sim.outcomes.periods`: calendar-year outcomes of one
run, so a 2015 → 2016 change is paired inside the run, as the validation's Guigang section does).
Only then are the held-out reported values read (`reported_value`).
"""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..execute import replicate_seed
from ..experiments.pool import Runner, RunSpec, run_spec
from .abc import fit_scenario, generations_table, write_json
from .targets import Target, Targets, reported_value

PREDICT_STREAM = 7_003          # replicate_seed(seed, draw, point=PREDICT_STREAM): new seeds, never the fit's
Z_LEVEL = (2.5, 97.5)
NOISE_DRAWS = 200


def _atomic_parquet(df, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{time.monotonic_ns()}.tmp")
    df.to_parquet(tmp, index=False)
    tmp.replace(path)


def posterior_frame(history, params: list[str], t: int | None = None):
    """One generation's particles: a column per parameter (dotted key) and `weight` (sums to 1)."""
    df, w = history.get_distribution(m=0, t=history.max_t if t is None else t)
    out = df.reset_index(drop=True)[params].copy()
    out.columns.name = None
    w = np.asarray(w, float)
    out["weight"] = w / w.sum()
    return out


def write_posterior(history, targets: Targets, out: Path) -> tuple[Any, Any]:
    import pandas as pd

    params = [p.key for p in targets.params]
    post = posterior_frame(history, params)
    _atomic_parquet(post, out / "posterior.parquet")
    gens = []
    for t in range(history.max_t + 1):
        g = posterior_frame(history, params, t)
        g.insert(0, "t", t)
        gens.append(g)
    allg = pd.concat(gens, ignore_index=True)
    _atomic_parquet(allg, out / "generations.parquet")
    return post, allg


def calibration_record(targets: Targets, settings, result: dict, out: Path, evaluations_extra: int = 0) -> dict:
    from ..experiments.runner import code_digest
    from ..run import versions

    history, state = result["history"], result["state"]
    gens = generations_table(history)
    evals = int(sum(g["evaluations"] for g in gens)) + int(state["pilot_evaluations"])
    return {
        "targets_file": targets.path, "scenario": targets.scenario_path, "name": targets.name,
        "fit_period": targets.fit_period,
        "parameters": {p.key: {"prior": list(p.prior), "source": p.source, "default": p.default} for p in targets.params},
        "targets": [t.public() for t in targets.targets],
        "seed": targets.seed, "scale": targets.scale, "replicates": settings.replicates,
        "replicate_seeds": fit_scenario_seeds(targets, settings.replicates),
        "particles": settings.particles, "max_generations": settings.generations, "quick": state.get("quick", False),
        "engine": "pyabc ABCSMC, StochasticAcceptor (exact under the error model), adaptive tempering, CRN replicates",
        "first_temperature": state["t0"], "pilot_evaluations": state["pilot_evaluations"],
        "generations": gens, "evaluations": evals, "model_runs": evals * settings.replicates,
        "seconds": float(state.get("seconds", 0.0)), "model_code": code_digest(),
        "versions": {**versions(), "pyabc": _pyabc_version()},
    }


def fit_scenario_seeds(targets: Targets, replicates: int) -> list[int]:
    from ..execute import replicate_seeds

    return replicate_seeds(targets.seed, replicates)


def _pyabc_version() -> str:
    import pyabc

    return str(pyabc.__version__)


# --------------------------------------------------------------------------- predictive check
def _uses_trajectory(targets: Targets, t: Target) -> bool:
    """A target read from the whole-trajectory run: another period than the fit's, or a change."""
    return t.change is not None or t.period != targets.fit_period


def trajectory_scenario(targets: Targets, scale: float | None = None):
    """The targets' scenario whole (every dated change), at `scale` (default: the fit's)."""
    return targets.scenario.with_overrides({"scale": scale or targets.scale}, f"{targets.path} (whole trajectory)")


def _year_periods(model) -> dict[str, dict]:
    """Calendar-year outcomes of a finished run (a `RunSpec` extra)."""
    from ..outcomes import periods

    return periods(model, ("year",))


def _draw_runs(targets: Targets, keys: tuple[str, ...], trajectory: float | None, arg: tuple[int, dict]) -> dict:
    """One posterior draw, one new seed: {"fit": outcomes of the fit period as fitted,
    "periods": calendar-year outcomes of the whole trajectory (when a target needs them)}."""
    i, theta = arg
    seed = replicate_seed(targets.seed, i, point=PREDICT_STREAM)
    ov = tuple(theta.items())
    out = {"fit": run_spec(RunSpec(fit_scenario(targets), seed, ov, keys))}
    if trajectory:
        traj = trajectory_scenario(targets, trajectory)
        out["periods"] = run_spec(RunSpec(traj, seed, ov, ("residents",), (_year_periods,)))["_year_periods"]
    return out


def _model_value(targets: Targets, t: Target, runs: dict) -> float:
    if not _uses_trajectory(targets, t):
        return float(runs["fit"][t.outcome])
    per = runs["periods"]
    y = per.get(t.period, {}).get(t.outcome, math.nan)
    if t.change is None:
        return float(y)
    base = per.get(t.change_from, {}).get(t.outcome, math.nan)
    return float(y / base - 1.0) if t.change == "relative" else float(y - base)


def _obs_sd(t: Target, y: float) -> float:
    """Observation sd at the model's value (binomial at y for a survey), plus discrepancy, in quadrature."""
    sd = t.sd
    if t.survey_n is not None and t.change is None and math.isfinite(y):
        p = min(max(y, 1e-3), 1 - 1e-3)
        sd = math.sqrt(p * (1 - p) / t.survey_n)
    return math.sqrt(sd ** 2 + t.discrepancy_sd ** 2)


def predictive(targets: Targets, post, draws: int, runner: Runner, figures, scale: float | None = None) -> dict:
    """Posterior-predictive check of every target; held-out values are read only at the end."""
    params = [p.key for p in targets.params]
    rng = np.random.default_rng(np.random.SeedSequence(targets.seed, spawn_key=(PREDICT_STREAM,)))
    idx = rng.choice(len(post), size=draws, replace=True, p=post["weight"].to_numpy(float))
    thetas = [(i, {k: float(post[k].iloc[j]) for k in params}) for i, j in enumerate(idx)]
    keys = tuple(dict.fromkeys(t.outcome for t in targets.targets if not _uses_trajectory(targets, t)))
    traj_scale = (scale or targets.scale) if any(_uses_trajectory(targets, t) for t in targets.targets) else None
    runs = runner.map_function(functools.partial(_draw_runs, targets, keys, traj_scale), thetas)
    # ---- predictions first, from the model alone
    records: dict[str, dict] = {}
    for t in targets.targets:
        y = np.array([_model_value(targets, t, r) for r in runs], float)
        ok = y[np.isfinite(y)]
        # NOISE_DRAWS observation errors per model draw: the interval's Monte Carlo error is the model draws'
        noisy = np.concatenate([v + rng.normal(0.0, _obs_sd(t, v), NOISE_DRAWS) for v in ok]) if len(ok) else ok
        records[t.id] = {
            "outcome": t.outcome, "period": t.period, "change": t.change, "change_from": t.change_from,
            "fitted": not t.held_out, "predicted": float(np.median(ok)) if len(ok) else math.nan,
            "model_interval": [float(x) for x in np.percentile(ok, Z_LEVEL)] if len(ok) else [math.nan] * 2,
            "interval": [float(x) for x in np.percentile(noisy, Z_LEVEL)] if len(ok) else [math.nan] * 2,
            "error": t.error_text, "discrepancy_sd": t.discrepancy_sd, "draws": int(len(ok)),
        }
    # ---- only now the reported values (held-out ones from the unmasked catalogue)
    for t in targets.targets:
        r = records[t.id]
        if t.kind == "band":
            r["reported"] = list(t.band)
            lo, hi = r["interval"]
            r["inside"] = bool(lo <= t.band[1] and hi >= t.band[0])
        else:
            rep = reported_value(t, figures) if t.held_out else float(t.value)
            r["reported"] = rep
            r["inside"] = bool(r["interval"][0] <= rep <= r["interval"][1])
    return {"draws": draws, "seed_stream": f"replicate_seed({targets.seed}, i, point={PREDICT_STREAM})",
            "runs_per_draw": [f"fit period {targets.fit_period} at scale {targets.scale:g}"]
            + ([f"whole trajectory (calendar years) at scale {traj_scale:g}"] if traj_scale else []),
            "interval": "95 % (2.5–97.5 percentiles), model draws + observation error + discrepancy",
            "targets": records, "runs": len(runs) * (1 + bool(traj_scale))}


def write_predictive(pred: dict, out: Path) -> None:
    import pandas as pd

    write_json(out / "predictive.json", pred)
    rows = []
    for tid, r in pred["targets"].items():
        rep = r["reported"]
        rows.append({"id": tid, "outcome": r["outcome"], "period": r["period"], "change": r["change"] or "",
                     "fitted": r["fitted"], "predicted": r["predicted"], "lo95": r["interval"][0], "hi95": r["interval"][1],
                     "model_lo95": r["model_interval"][0], "model_hi95": r["model_interval"][1],
                     "reported": rep if not isinstance(rep, list) else math.nan,
                     "reported_band": "" if not isinstance(rep, list) else f"{rep[0]:g}–{rep[1]:g}", "inside": r["inside"]})
    df = pd.DataFrame(rows)
    tmp = out / f".predictive.csv.{time.monotonic_ns()}.tmp"
    df.to_csv(tmp, index=False)
    tmp.replace(out / "predictive.csv")


def held_out_records(pred: dict) -> dict:
    """`{"guigang_2016_safety": {"predicted", "interval", "reported", "fitted": false}}` for each held-out target."""
    return {tid: {k: r[k] for k in ("predicted", "interval", "reported", "fitted", "inside", "outcome", "change")}
            for tid, r in pred["targets"].items() if not r["fitted"]}


# --------------------------------------------------------------------------- the whole command
def summary_rows(post, record: dict) -> list[dict]:
    from .calibration_plots import weighted_quantiles

    w = post["weight"].to_numpy(float)
    rows = []
    for k, p in record["parameters"].items():
        q5, q50, q95 = weighted_quantiles(post[k], w, (0.05, 0.5, 0.95))
        lo, hi = p["prior"]
        rows.append({"parameter": k, "prior": [lo, hi], "default": p["default"], "median": q50, "ci90": [q5, q95],
                     "ci90_share_of_prior": (q95 - q5) / (hi - lo)})
    return rows


def calibrate_targets(targets: Targets, out: Path, settings, runner: Runner, figures, *, quick: bool = False,
                      say=lambda s: None, predict: bool = True, plots: bool = True) -> dict:
    """Fit (resuming if `out` holds this fit), then write every output of the contract; return calibration.json's dict."""
    from .abc import run_abc

    result = run_abc(targets, out, settings, runner, say=say, quick=quick)
    history = result["history"]
    post, _ = write_posterior(history, targets, out)
    record = calibration_record(targets, settings, result, out)
    record["posterior_summary"] = summary_rows(post, record)
    pred = None
    if predict:
        say(f"posterior predictive: {settings.predictive_draws} draws, new seeds")
        t0 = time.perf_counter()
        pred = predictive(targets, post, settings.predictive_draws, runner, figures, settings.predictive_scale)
        pred["seconds"] = time.perf_counter() - t0
        write_predictive(pred, out)
        record["held_out"] = held_out_records(pred)
        record["predictive_seconds"] = pred["seconds"]
    write_json(out / "calibration.json", record)
    if plots:
        record["figures"] = plot_figures(out, post, record, pred)
        write_json(out / "calibration.json", record)
    return record


def plot_figures(out, post, record, pred) -> list[str]:
    from .calibration_plots import plot_all

    return plot_all(out, post, record, pred)


def leave_one_out(targets: Targets, out: Path, settings, runner: Runner, say=lambda s: None) -> dict:
    """Refit without each fitted target in turn (at the given, usually --quick, size) and predict it."""
    res = {}
    for left in targets.fitted:
        rest = tuple(t for t in targets.targets if t.id != left.id and not t.held_out)
        sub = targets.model_copy(update={"targets": rest})      # its digest names the targets it fits
        d = out / "loo" / left.id
        d.mkdir(parents=True, exist_ok=True)
        say(f"leave-one-out: without {left.id}")
        from .abc import run_abc

        r = run_abc(sub, d, settings, runner, say=say, quick=True)
        post, _ = write_posterior(r["history"], sub, d)
        one = targets.model_copy(update={"targets": (left,)})
        pred = predictive(one, post, settings.predictive_draws, runner, None)
        res[left.id] = pred["targets"][left.id]
    write_json(out / "loo.json", res)
    return res
