"""Throughput of a sweep on Dask workers against the local process pool.

Runs the same sweep from scratch four ways — the local pool with 1 and 2 processes, and a
Dask cluster on this machine (`dask scheduler` and 1 or 2 `dask worker` processes on
127.0.0.1, each `--nthreads 1`, started before the clock and stopped after) — each into a
temporary directory through `run_sweep` in this process, and reports runs per second of the
sweep (connecting to the scheduler, starting the pool's processes and importing the model
in the workers included; starting the cluster not).  `--repeat` measurements of each,
alternating, the fastest kept.  Checks that all stores hold identical outcomes.  Not a
test: the numbers depend on the machine and on what else it is doing.

    .venv/bin/python experiments/bench_dask.py [EXP.yaml] [--scale 0.05] [--days 180] [--repeat 1]
                                               [--json out/bench/bench_dask.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.experiments import load_experiment, run_sweep  # noqa: E402

from bench_parallel import outcomes  # noqa: E402  (the same folder: a store's outcomes by run id)


class Cluster:
    """`dask scheduler` and `workers` × `dask worker` on 127.0.0.1, each in its own process group."""

    def __init__(self, tmp: Path, workers: int):
        self.procs: list[subprocess.Popen] = []
        tmp.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        info = tmp / "scheduler.json"
        try:
            self._start(tmp, env, ["scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file", info,
                                   "--no-dashboard", "--idle-timeout", "600"])
            for i in range(workers):
                self._start(tmp, env, ["worker", "--scheduler-file", info, "--host", "127.0.0.1", "--nworkers", "1",
                                       "--nthreads", "1", "--memory-limit", "0", "--no-dashboard", "--death-timeout",
                                       "120", "--local-directory", tmp / f"w{i}"])
            deadline = time.monotonic() + 120
            while not info.exists() or not info.read_text().strip():
                if time.monotonic() > deadline or self.procs[0].poll() is not None:
                    raise RuntimeError("the Dask scheduler did not start")
                time.sleep(0.05)
            self.address = json.loads(info.read_text())["address"]
            from distributed import Client

            with Client(self.address, timeout=60, set_as_default=False) as client:
                client.wait_for_workers(workers, timeout=120)
        except BaseException:
            self.close()
            raise

    def _start(self, tmp: Path, env: dict, args: list) -> None:
        self.procs.append(subprocess.Popen([sys.executable, "-m", "dask", *map(str, args)], cwd=tmp, env=env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                           start_new_session=True))

    def close(self) -> None:
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def measure(exp, tmp: Path, name: str, workers: int, dask: bool) -> float:
    """Seconds of one sweep from scratch into tmp/name."""
    out = tmp / name
    cluster = Cluster(tmp / f"{name}-cluster", workers) if dask else None
    try:
        t0 = time.perf_counter()
        rep = run_sweep(exp, out, workers=workers, dask=cluster.address if dask else None, progress=False)
        seconds = time.perf_counter() - t0
    finally:
        if cluster is not None:
            cluster.close()
    if rep.done + rep.failed != exp.n_runs:
        raise RuntimeError(f"{name}: {rep.done + rep.failed} of {exp.n_runs} runs")
    return seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("experiment", nargs="?", default=str(ROOT / "experiments" / "grid_size.yaml"))
    ap.add_argument("--scale", type=float, default=0.05, help="fraction of the town per run (default 0.05)")
    ap.add_argument("--days", type=int, default=180, help="days per run (default 180)")
    ap.add_argument("--repeat", type=int, default=1, help="measurements of each, the fastest kept (default 1)")
    ap.add_argument("--json", default=str(ROOT / "out" / "bench" / "bench_dask.json"), help="write the result here")
    args = ap.parse_args(argv)
    exp = load_experiment(args.experiment, days=args.days, scale=args.scale)
    configs = [("local pool", 1, False), ("local pool", 2, False), ("dask", 1, True), ("dask", 2, True)]
    seconds: dict[str, list[float]] = {f"{kind} × {n}": [] for kind, n, _ in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for kind, n, dask in configs:
                label = f"{kind} × {n}"
                seconds[label].append(measure(exp, Path(tmp), f"{kind.split()[0]}{n}-{i}", n, dask))
                print(f"{label}: {seconds[label][-1]:.1f} s", file=sys.stderr)
        stores = [d for d in Path(tmp).iterdir() if (d / "store.sqlite").exists()]
        first = outcomes(stores[0])
        same = all(outcomes(d) == first for d in stores[1:])
    base = min(seconds["local pool × 1"])
    rows = [{"backend": kind, "workers": n, "seconds": round(min(seconds[f"{kind} × {n}"]), 2),
             "runs_per_second": round(exp.n_runs / min(seconds[f"{kind} × {n}"]), 2),
             "vs_local_1": round(base / min(seconds[f"{kind} × {n}"]), 2),
             "all_seconds": [round(x, 2) for x in seconds[f"{kind} × {n}"]]} for kind, n, _ in configs]
    result = {"experiment": exp.name, "runs": exp.n_runs, "scale": args.scale, "days": args.days,
              "cpus": os.cpu_count(), "repeat": args.repeat,
              "identical_outcomes": same, "rows": rows}
    print(f"{exp.name}: {exp.n_runs} runs, scale {args.scale}, {args.days} days, {os.cpu_count()} CPUs; "
          f"identical outcomes: {same}")
    print(f"{'backend':<12}{'workers':>8}{'seconds':>10}{'runs/s':>9}{'× local 1':>11}")
    for r in rows:
        print(f"{r['backend']:<12}{r['workers']:>8}{r['seconds']:>10.1f}{r['runs_per_second']:>9.2f}{r['vs_local_1']:>11.2f}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print(f"→ {args.json}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
