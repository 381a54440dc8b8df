"""`gridsim app [SCENARIO]`: the interactive view (`sim/app.py`, Mesa's SolaraViz) in the browser.

Runs `solara run sim/app.py` in this Python, offline (`OFFLINE_ENV` below, which sim/app.py also
sets before importing solara), on 127.0.0.1:8765 unless told otherwise.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app.py"
#: environment for a server that fetches nothing: the page's assets from the local proxy cache
#: (filled by solara-assets), no telemetry, and an asset missing from that cache fails on the
#: loopback instead of being fetched from a CDN.  sim/app.py sets it too, before importing solara.
OFFLINE_ENV = {"SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False", "SOLARA_ASSETS_PROXY": "True",
               "SOLARA_ASSETS_CDN": "http://127.0.0.1:9/", "SOLARA_THEME_SHOW_BANNER": "False", "MPLBACKEND": "Agg"}
SCENARIO_ENV, RESIDENTS_ENV = "GRIDSIM_APP_SCENARIO", "GRIDSIM_APP_RESIDENTS"


def app_command(port: int, host: str, open_browser: bool) -> list[str]:
    return [sys.executable, "-m", "solara", "run", str(APP), "--host", host, "--port", str(port), "--production",
            "--open" if open_browser else "--no-open"]


def app_env(scenario: str | None, residents: int | None) -> dict[str, str]:
    env = {**os.environ, **OFFLINE_ENV}
    if scenario is not None:
        env[SCENARIO_ENV] = str(Path(scenario).resolve())
    if residents is not None:
        env[RESIDENTS_ENV] = str(residents)
    return env


def cmd_app(args) -> int:
    import importlib.util

    from ..scenario import ScenarioError, load_scenario

    if importlib.util.find_spec("solara") is None:
        raise ScenarioError("gridsim app needs the app extra: pip install -e '.[app]' (solara, Mesa's SolaraViz)")
    if args.scenario is not None:
        load_scenario(args.scenario)              # a bad file is one line here, not a traceback in the server
    if args.residents is not None and not 1_000 <= args.residents <= 1_000_000:
        raise ScenarioError(f"--residents {args.residents}: give 1,000 to 1,000,000 (the view is for small towns)")
    if not 0 <= args.port <= 65535:
        raise ScenarioError(f"--port {args.port}: must be 0 to 65535")
    print(f"gridsim app: http://{args.host}:{args.port}/ (Ctrl-C stops it)", flush=True)
    try:
        return subprocess.call(app_command(args.port, args.host, args.open), env=app_env(args.scenario, args.residents))
    except KeyboardInterrupt:
        return 0


def add_commands(sub) -> None:
    a = sub.add_parser("app", help="the interactive view in the browser (Mesa's SolaraViz): map, levers, live charts",
                       description="Serve sim/app.py with solara: a small town of the scenario (20,000 residents by "
                                   "default), the scenario file and the three levers as controls (Reset rebuilds "
                                   "the town), play and step, the town map and live charts. Works offline. Needs "
                                   "the app extra (pip install -e '.[app]').")
    a.add_argument("scenario", nargs="?", help="scenario YAML to open (default scenarios/default.yaml)")
    a.add_argument("--residents", type=int, help="residents simulated (default 20,000; the scale follows)")
    a.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 for a free one)")
    a.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    a.add_argument("--open", action="store_true", help="open a browser on the page")
    a.set_defaults(func=cmd_app)
