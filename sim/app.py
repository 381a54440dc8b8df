"""The interactive view: Mesa's SolaraViz over a small town of a scenario.

    gridsim app [SCENARIO]            # or: solara run sim/app.py

Controls (sidebar): the scenario file, the three levers (residents per grid, full-time share,
camera coverage) and the number of residents simulated; Mesa's Reset rebuilds the town with
them (the levers apply on top of the chosen file; a city that counts its cameras as a stock
is driven by coverage here), ▶ plays and Step advances one day.  The page shows the town map
(`GovernanceModel.space`, Mesa's discrete space: residents, grid borders, cameras, open
disputes, the day's incidents) and live charts of felt safety, the backlog at each rung and
resolution time.  A town is built already warmed up (its warm-up days simulated at Reset), so
day 1 of the charts is the first observed day, as in `gridsim run`.

Offline: the page's scripts, styles and fonts come from `solara-assets` (installed into the
environment, served by the server's asset proxy: `SOLARA_ASSETS_PROXY`), telemetry is off, and
the charts are matplotlib images drawn on the server — nothing is fetched from the internet
(`sim.cli.app.OFFLINE_ENV`; `tests/test_app_browser.py` blocks every other host and checks).

Needs the `app` extra: `pip install -e '.[app]'`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sim.cli.app import OFFLINE_ENV, RESIDENTS_ENV, SCENARIO_ENV
from sim.disputes import RESOLVED
from sim.model import GovernanceModel
from sim.scenario import ROOT, RUNGS, ScenarioError, load_scenario

for _k, _v in OFFLINE_ENV.items():
    os.environ.setdefault(_k, _v)

import solara  # noqa: E402  (after the environment above: solara reads it on import)
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from mesa.visualization import SolaraViz  # noqa: E402
from mesa.visualization.utils import update_counter  # noqa: E402

# under a bare `solara run sim/app.py`, solara read its settings before this file: set them here too
try:
    import solara.server.settings as _server_settings  # noqa: E402

    _server_settings.telemetry.mixpanel_enable = False
    solara.settings.assets.cdn = OFFLINE_ENV["SOLARA_ASSETS_CDN"]
except ImportError:          # solara without its server (a notebook): nothing to set
    pass

#: residents simulated by default: a step takes about a millisecond, a Reset (with the warm-up) well under a second
APP_RESIDENTS = 20_000
#: observed days a town runs before it stops (Reset starts again): at least this, or the scenario's;
#: a scenario with a timeline keeps its own (its dates are in it)
APP_DAYS = 730
RUNG_COLOURS = {"grid": "#1b9e77", "community": "#d95f02", "township": "#7570b3", "police": "#e7298a", "court": "#66a61e"}


def shown(path: str | Path) -> str:
    """A scenario path as the select shows it: relative to the repository when inside it."""
    p = Path(path).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)


def resolve(path: str | Path) -> Path:
    """A scenario path as given, or relative to the repository (what the select shows)."""
    p = Path(path)
    return p if p.is_absolute() or p.exists() or not (ROOT / p).exists() else ROOT / p


def scenario_files(extra: str | None = None) -> list[str]:
    """The scenario files the select offers: the repository's, and `extra` (the one asked for)."""
    files = [shown(p) for p in sorted((ROOT / "scenarios").glob("*.yaml"))]
    if extra and extra not in files:
        files.insert(0, extra)
    return files


class AppModel(GovernanceModel):
    """A `GovernanceModel` built from what the controls give: a scenario file, the levers and
    how many residents to simulate (the scale follows, densities kept).  Built warmed up; it
    also keeps, for the chart, the mean onset → resolved hours of the disputes resolved each
    day (`resolution_hours`, NaN on a day with none)."""

    def __init__(self, scenario_file: str = "scenarios/default.yaml", residents_per_grid: float = 800,
                 fulltime_ratio: float = 0.15, camera_coverage: float = 0.5, residents: int = APP_RESIDENTS,
                 days: int = APP_DAYS, seed: int | None = None):
        base = load_scenario(resolve(scenario_file))
        overrides = {"scale": min(1.0, max(1.0, float(residents)) / base.population),
                     "crime.camera_stock_per_1000": None, "camera_coverage": float(camera_coverage),   # cameras by coverage
                     "residents_per_grid": float(residents_per_grid), "fulltime_ratio": float(fulltime_ratio)}
        if not getattr(base, "timeline", None):     # a timeline's dates fix its run's length; the levers start it
            overrides["days"] = max(int(days), base.days)
        self.camera_lever = True
        try:
            params = base.with_overrides(overrides, "app")
        except ScenarioError:
            if base.crime.camera_stock_per_1000 is None:
                raise
            # a timeline that ramps the file's camera stock needs the stock: keep it, and say the lever is off
            self.camera_lever = False
            params = base.with_overrides({k: v for k, v in overrides.items()
                                          if k not in ("crime.camera_stock_per_1000", "camera_coverage")}, "app")
        super().__init__(params, rng=seed)
        self.scenario_file = scenario_file
        self.resolution_hours: list[float] = []
        for _ in range(params.warmup_days):
            self.step()

    def step(self) -> None:
        super().step()
        if self.observing:
            tab, day = self.disputes.table, self.day
            close = tab.t_close[: tab.n]
            today = (tab.status[: tab.n] == RESOLVED) & (close >= day * 24.0) & (close < (day + 1) * 24.0)
            hours = close[today] - tab.onset[: tab.n][today]
            self.resolution_hours.append(float(hours.mean()) if len(hours) else float("nan"))


# --------------------------------------------------------------------------- drawing
def _figure(width: float = 5.6, height: float = 3.4, **adjust) -> tuple[Figure, object]:
    """A plain (pyplot-free) figure with fixed margins: a constrained layout would double the drawing time."""
    fig = Figure(figsize=(width, height), dpi=90)
    fig.subplots_adjust(**{"left": 0.13, "right": 0.97, "bottom": 0.15, "top": 0.91, **adjust})
    return fig, fig.add_subplot()


def grid_borders(grid_id: np.ndarray) -> LineCollection:
    """Line segments between cells of different grids (a width × height layer, cell centres at integers)."""
    segments = []
    for x, y in zip(*np.nonzero(grid_id[1:, :] != grid_id[:-1, :])):        # between (x, y) and (x+1, y)
        segments.append([(x + 0.5, y - 0.5), (x + 0.5, y + 0.5)])
    for x, y in zip(*np.nonzero(grid_id[:, 1:] != grid_id[:, :-1])):        # between (x, y) and (x, y+1)
        segments.append([(x - 0.5, y + 0.5), (x + 0.5, y + 0.5)])
    return LineCollection(segments, colors="#222222", linewidths=0.9)


def draw_map(model: GovernanceModel) -> Figure:
    """The town from its Mesa space: residents per cell (grey), grid borders, cameras, open disputes,
    today's incidents; the town's levers and the day's counts beside it (as wide as a chart)."""
    space, p, town = model.space, model.params, model.town
    fig = Figure(figsize=(5.6, 3.4), dpi=90)
    ax = fig.add_axes((0.01, 0.02, 0.55, 0.96))
    w, h = space.dimensions
    residents = space.residents.data.astype(float)
    im = ax.imshow(residents.T, origin="lower", cmap="Greys", vmin=0, vmax=max(1.0, np.quantile(residents, 0.98)),
                   extent=(-0.5, w - 0.5, -0.5, h - 0.5), alpha=0.55)
    ax.add_collection(grid_borders(space.grid_id.data))
    cx, cy = np.nonzero(space.cameras.data > 0)
    ax.scatter(cx, cy, marker="s", s=12, facecolors="none", edgecolors="#1f5fbf", linewidths=0.9, label="camera")
    open_ = space.open_disputes.data
    dx, dy = np.nonzero(open_)
    ax.scatter(dx, dy, s=14 + 12 * open_[dx, dy], color="#f28e2b", alpha=0.85, label="open disputes\n(size: count)")
    inc = space.incidents.data
    ix, iy = np.nonzero(inc)
    ax.scatter(ix, iy, marker="x", s=36, color="#c00000", linewidths=1.6, label="incident today")
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(-0.5, h - 0.5)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    day = model.steps - p.warmup_days
    coverage = town.covered.sum() / max(int(town.public.sum()), 1)
    n_inc = int(inc.sum())
    fig.text(0.59, 0.97, f"{Path(getattr(model, 'scenario_file', p.name)).stem}, day {day}\n"
                         f"{model.population.n:,} residents, {town.n_grids} grids\n"
                         f"({model.population.n / town.n_grids:,.0f} per grid, black borders)\n"
                         f"{p.fulltime_ratio:.0%} of grid workers full-time\ncameras on {coverage:.0%} of public cells"
                         f"{'' if getattr(model, 'camera_lever', True) else '\n(the file’s ramped stock; lever off)'}\n"
                         f"{int(open_.sum())} open disputes, {n_inc} incident{'' if n_inc == 1 else 's'} today\n"
                         f"cell: {town.cell_km:.2f} km a side",
             va="top", ha="left", fontsize=8, linespacing=1.35)
    fig.legend(loc="lower left", bbox_to_anchor=(0.585, 0.22), fontsize=7.5, frameon=False)
    cax = fig.add_axes((0.60, 0.12, 0.33, 0.035))
    fig.colorbar(im, cax=cax, orientation="horizontal", label="residents per cell").ax.tick_params(labelsize=7)
    cax.xaxis.label.set_size(7.5)
    return fig


def _daily(model: GovernanceModel):
    return model.datacollector.get_model_vars_dataframe()


def draw_safety(model: GovernanceModel) -> Figure:
    df = _daily(model)
    fig, ax = _figure()
    if len(df):
        ax.plot(df["day"], 100 * df["safety_share_safe"], color="#2c7fb8", label="residents at least 'basically safe'")
        s = df.dropna(subset=["survey_share_safe"])
        ax.plot(s["day"], 100 * s["survey_share_safe"], "o", color="#d95f02", ms=5, label="sample survey")
        ax.legend(fontsize=8, loc="lower left")
        values = 100 * np.concatenate([df["safety_share_safe"].to_numpy(float), s["survey_share_safe"].to_numpy(float)])
        mid, half = (values.max() + values.min()) / 2, max(5.0, (values.max() - values.min()) / 2 + 1.0)
        ax.set_ylim(max(0.0, mid - half), min(100.0, mid + half))   # at least 10 points: noise stays flat
    ax.set_xlabel("observed day")
    ax.set_ylabel("felt safe (%)")
    ax.set_title("Perceived safety", fontsize=10)
    ax.grid(alpha=0.3)
    return fig


def draw_backlog(model: GovernanceModel) -> Figure:
    df = _daily(model)
    fig, ax = _figure()
    if len(df):
        for rung in RUNGS:
            ax.plot(df["day"], df[f"backlog_{rung}"], color=RUNG_COLOURS.get(rung), label=rung, lw=1.4)
        ax.legend(fontsize=8, ncol=5, loc="upper left")
    ax.set_xlabel("observed day")
    ax.set_ylabel("disputes at the rung at midnight")
    ax.set_title("Backlog per rung", fontsize=10)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    return fig


def draw_resolution(model: GovernanceModel) -> Figure:
    hours = np.asarray(getattr(model, "resolution_hours", []), float)
    fig, ax = _figure()
    if len(hours):
        days = np.arange(1, len(hours) + 1)
        ax.plot(days, hours, ".", color="#999999", ms=3, label="disputes resolved that day, mean")
        k = min(30, len(hours))
        kernel = np.ones(k)
        ok = np.isfinite(hours)
        num = np.convolve(np.where(ok, hours, 0.0), kernel)[: len(hours)]
        den = np.convolve(ok.astype(float), kernel)[: len(hours)]
        ax.plot(days, np.where(den > 0, num / np.maximum(den, 1), np.nan), color="#000000", lw=1.6,
                label=f"mean of the last {k} days")
        ax.legend(fontsize=8, loc="upper left")
    ax.set_xlabel("observed day")
    ax.set_ylabel("onset → resolved (hours)")
    ax.set_title("Dispute resolution time", fontsize=10)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    return fig


def _chart(draw, name: str):
    @solara.component
    def Chart(model):
        update_counter.get()          # Mesa's signal after each step: draw again
        fig = solara.use_memo(lambda: draw(model), dependencies=[model, model.steps])
        return solara.FigureMatplotlib(fig, format="png", dependencies=[model, model.steps])

    Chart.__name__ = name
    return Chart


TownMap = _chart(draw_map, "TownMap")
SafetyChart = _chart(draw_safety, "SafetyChart")
BacklogChart = _chart(draw_backlog, "BacklogChart")
ResolutionChart = _chart(draw_resolution, "ResolutionChart")


# --------------------------------------------------------------------------- the page
def model_params(scenario_file: str, residents: int = APP_RESIDENTS) -> dict:
    """SolaraViz controls: the scenario select and sliders starting at the file's levers
    (a camera stock's coverage as derived by a small build of the town)."""
    scenario_file = shown(resolve(scenario_file))
    base = load_scenario(resolve(scenario_file))
    coverage = base.camera_coverage
    if coverage is None:
        probe = GovernanceModel(base.with_overrides({"scale": min(1.0, residents / base.population)}, "app"))
        coverage = float(probe.town.covered.sum() / max(int(probe.town.public.sum()), 1))
    return {
        "scenario_file": {"type": "Select", "value": scenario_file, "values": scenario_files(scenario_file),
                          "label": "Scenario file"},
        "residents_per_grid": {"type": "SliderInt", "value": int(round(base.residents_per_grid)), "min": 200,
                               "max": 3000, "step": 50, "label": "Residents per grid"},
        "fulltime_ratio": {"type": "SliderFloat", "value": round(float(base.fulltime_ratio), 2), "min": 0.0, "max": 1.0,
                           "step": 0.05, "label": "Full-time share of grid workers"},
        "camera_coverage": {"type": "SliderFloat", "value": round(coverage, 2), "min": 0.0, "max": 1.0, "step": 0.05,
                            "label": "Camera coverage of public space"},
        "residents": {"type": "SliderInt", "value": residents, "min": 2_000, "max": 100_000, "step": 1_000,
                      "label": "Residents simulated"},
    }


def make_page(scenario_file: str | None = None, residents: int | None = None):
    """The SolaraViz page for `scenario_file` (default: $GRIDSIM_APP_SCENARIO, else the default scenario)
    and `residents` (default: $GRIDSIM_APP_RESIDENTS, else `APP_RESIDENTS`)."""
    scenario_file = scenario_file or os.environ.get(SCENARIO_ENV) or "scenarios/default.yaml"
    residents = residents or int(os.environ.get(RESIDENTS_ENV) or APP_RESIDENTS)
    params = model_params(scenario_file, residents)
    model = AppModel(**{k: v["value"] for k, v in params.items()})   # the town the page opens on
    return SolaraViz(model, components=[(TownMap, 0), (SafetyChart, 0), (BacklogChart, 0), (ResolutionChart, 0)],
                     model_params=params, name="gridsim: grid-based governance", play_interval=50)


page = make_page()
