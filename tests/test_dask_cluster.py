"""Sweeps on a real Dask cluster, and what `--dask` accepts.

The cluster is what a user starts by hand: `dask scheduler` and two `dask worker`
processes (each a nanny and its worker, in a process group of its own) on 127.0.0.1.
A sweep runs on it through `gridsim sweep --dask tcp://…`; one worker is killed with
SIGKILL mid-sweep; the sweep must end with every run stored exactly once and the same
values as on the local process pool.  Run both with Dask's default `allowed-failures`
(the scheduler moves the dead worker's runs to the survivor) and with 0 (the scheduler
gives up at once, `KilledWorker`, and the runner submits the runs again).  Part of the
default suite; ~30 s on two busy cores.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import Future
from pathlib import Path

import pytest
import yaml

from sim.cli import main
from sim.experiments import load_experiment, run_sweep
from sim.experiments import pool as pool_module
from sim.experiments import runner
from sim.experiments.design import ExperimentError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "scenarios" / "default.yaml"
#: with these dispute types' shares zero, axes `family: [1, 0]` and `neighbour: [1, 0]` are each valid, but
#: the run with both zero fails (in the worker: a run's own error, stored as failed, never run again)
SHARES = {"set": {"warmup_days": 0, **{f"disputes.type_shares.{k}": 0.0
                                       for k in ("land_property", "property_management", "consumer_labour")}},
          "axes": {"disputes.type_shares.family": [1.0, 0.0], "disputes.type_shares.neighbour": [1.0, 0.0]}}

pytest.importorskip("distributed", reason="needs the dask extra (pip install -e '.[dask]')")
pytestmark = pytest.mark.timeout(240)


def write_exp(tmp: Path, **fields) -> Path:
    spec = {"scenario": str(DEFAULT), "design": "factorial", "replicates": 2, "seed": 11, "days": 10, "scale": 0.02,
            "set": {"warmup_days": 0}, "axes": {"residents_per_grid": [300, 1200]}}
    spec.update(fields)
    path = tmp / "exp.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def stored(directory: Path) -> dict[str, tuple]:
    """run id → (status, seed, outcomes JSON, overrides, daily blob) of a store."""
    db = sqlite3.connect(f"file:{directory / 'store.sqlite'}?mode=ro", uri=True)
    try:
        return {r[0]: r[1:] for r in db.execute("SELECT run_id, status, seed, outcomes, overrides, daily FROM runs")}
    finally:
        db.close()


def count_done(directory: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{directory / 'store.sqlite'}?mode=ro", uri=True)
        try:
            return db.execute("SELECT COUNT(*) FROM runs WHERE status = 'done'").fetchone()[0]
        finally:
            db.close()
    except sqlite3.OperationalError:      # no store, or no schema yet
        return 0


# --------------------------------------------------------------------------- --dask addresses
@pytest.mark.parametrize("address", ["foo://bar:1", "nonsense", "", "tcp://", "tcp://host", ":8786",
                                     "tcp://127.0.0.1:0", "127.0.0.1:99999", "tcp://a b:1"])
def test_bad_dask_address_one_line_exit_2_nothing_written(tmp_path, capsys, address):
    out = tmp_path / "o"
    assert main(["sweep", str(write_exp(tmp_path)), "--out", str(out), "--dask", address, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gridsim: --dask ") and "allowed: local, tcp://HOST:PORT" in err, err
    assert not out.exists()


def test_dask_address_forms():
    assert pool_module.dask_address("local") == "local"
    assert pool_module.dask_address("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    assert pool_module.dask_address(" head-node.example.org:8786 ") == "tcp://head-node.example.org:8786"
    assert pool_module.dask_address("[::1]:8786") == "tcp://[::1]:8786"
    assert pool_module.dask_address("tls://head:8786") == "tls://head:8786"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_writes_nothing_and_the_corrected_sweep_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(pool_module, "CONNECT_TIMEOUT", 1.0)
    exp = write_exp(tmp_path)
    fresh, existing = tmp_path / "fresh", tmp_path / "existing"
    existing.mkdir()
    closed = f"tcp://127.0.0.1:{_free_port()}"                     # nobody listens: connection refused
    silent = socket.socket()                                        # accepts, never answers (like a dashboard port)
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        for address, out in ((closed, fresh), (closed, existing), (f"127.0.0.1:{silent.getsockname()[1]}", existing)):
            t0 = time.perf_counter()
            assert main(["sweep", str(exp), "--out", str(out), "--dask", address, "--quiet"]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "cannot reach the scheduler" in err and "--dask tcp://127.0.0.1:" in err
            assert time.perf_counter() - t0 < 15                    # the timeout holds even for a silent port
        assert not fresh.exists() and list(existing.iterdir()) == []   # no lock, no store bound to the experiment
    finally:
        silent.close()
    # the corrected command runs in the same directory
    assert main(["sweep", str(exp), "--out", str(existing), "--workers", "1", "--quiet"]) == 0
    assert len(stored(existing)) == 4


# --------------------------------------------------------------------------- lost workers, in process
class LostWorker(Exception):
    pass


class FlakyBackend:
    """Runs in process; the first `deaths` submissions of the run `doomed` end as if its worker died."""

    slots = 2

    def __init__(self, doomed=None, deaths: int = 0):
        self.doomed = doomed and (json.dumps(doomed.overrides, sort_keys=True), doomed.seed)
        self.deaths = deaths
        self.submitted: dict[tuple, int] = {}

    def submit(self, fn, scenario_data, overrides, seed):
        key = (json.dumps(overrides, sort_keys=True), seed)
        self.submitted[key] = self.submitted.get(key, 0) + 1
        f = Future()
        if key == self.doomed and self.deaths > 0:
            self.deaths -= 1
            f.set_exception(LostWorker("worker tcp://10.0.0.7:40000 died"))
        else:
            f.set_result(fn(scenario_data, overrides, seed))
        return f

    def wait_first(self, pending):
        return {next(iter(pending))}

    def lost_worker(self, exc):
        return isinstance(exc, LostWorker)

    def close(self, cancel=False):
        pass


def test_a_run_whose_worker_died_is_submitted_again_a_failed_run_is_stored(tmp_path, monkeypatch, capsys):
    exp = load_experiment(write_exp(tmp_path, replicates=2, **SHARES))
    real = [r for r in exp.runs() if set(r.axes.values()) != {0.0}]
    flaky = FlakyBackend(real[0], runner.RESUBMITS)       # dies as often as the runner resubmits: then succeeds
    monkeypatch.setattr(runner, "make_backend", lambda workers, dask: flaky)
    rep = run_sweep(exp, tmp_path / "out", workers=2, progress=False)
    assert (rep.done, rep.failed, rep.resubmitted) == (6, 2, runner.RESUBMITS)
    runs = stored(tmp_path / "out")
    assert len(runs) == 8 and {r[0] for r in runs.values()} == {"done", "failed"}
    # the model's failures ran once each and were stored as failed; only the lost run ran again
    assert sorted(flaky.submitted.values()) == [1] * 7 + [1 + runner.RESUBMITS]
    assert capsys.readouterr().err.count("its worker died (LostWorker: worker tcp://10.0.0.7:40000 died); "
                                         "submitted again") == runner.RESUBMITS

    # a run that keeps losing its worker ends the sweep (not stored as a result); the rest resume later
    again = FlakyBackend(real[-1], runner.RESUBMITS + 1)
    monkeypatch.setattr(runner, "make_backend", lambda workers, dask: again)
    with pytest.raises(ExperimentError, match=rf"^{real[-1].run_id}: the workers running it died "
                                             rf"{runner.RESUBMITS + 1} times \(LostWorker: .*\); \d+ runs are stored, "
                                             "run the command again to resume$"):
        run_sweep(exp, tmp_path / "out2", workers=2, progress=False)
    part = stored(tmp_path / "out2")
    assert real[-1].run_id not in part and {k: runs[k] for k in part} == part
    monkeypatch.setattr(runner, "make_backend", lambda workers, dask: FlakyBackend())
    rep = run_sweep(exp, tmp_path / "out2", workers=2, progress=False)
    assert rep.skipped == len(part) and stored(tmp_path / "out2") == runs


def test_a_worker_with_other_model_code_stops_the_sweep(tmp_path, monkeypatch):
    class StaleWorker(FlakyBackend):
        remote = True      # as DaskPool: each run checks its worker's model code

        def submit(self, fn, *args):
            saved, runner._CODE_DIGEST = runner.code_digest(), "f" * 64     # the worker's own checkout
            f = Future()
            try:
                f.set_result(fn(*args))
            except Exception as exc:
                f.set_exception(exc)
            finally:
                runner._CODE_DIGEST = saved
            return f

    monkeypatch.setattr(runner, "make_backend", lambda workers, dask: StaleWorker())
    with pytest.raises(ExperimentError, match=r"^p00000-r0000: the worker on .* runs other model code \(.*\) than the "
                                             r"sweep; install this gridsim on every worker .* 0 runs are stored"):
        run_sweep(load_experiment(write_exp(tmp_path)), tmp_path / "out", workers=2, progress=False)
    assert stored(tmp_path / "out") == {}


# --------------------------------------------------------------------------- a real cluster
CLUSTER_EXP = {"replicates": 4, "days": 365, "scale": 0.05, "seed": 20261123, "set": SHARES["set"],
               # 8 points × 4 replicates: 24 runs of ~0.3 s, and 8 that fail at once (the last in design order)
               "axes": {**SHARES["axes"], "residents_per_grid": [300, 2000]}}
CLUSTER_RUNS, CLUSTER_FAILING = 32, 8


@pytest.fixture(scope="module")
def cluster_experiment(tmp_path_factory):
    """The experiment, a snapshot of `sim/` and the scenario for every process of these tests
    (`PYTHONPATH`: the client, the workers and the reference all run one model code, even
    if the checkout is edited meanwhile), and the sweep on the local process pool (2
    processes): the reference."""
    import shutil

    tmp = tmp_path_factory.mktemp("cluster-exp")
    shutil.copytree(ROOT / "sim", tmp / "code" / "sim", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(DEFAULT, tmp / "default.yaml")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp / "code"), os.environ.get("PYTHONPATH", "")])}
    path = write_exp(tmp, scenario=str(tmp / "default.yaml"), **CLUSTER_EXP)
    r = subprocess.run([sys.executable, "-m", "sim", "sweep", path, "--out", tmp / "local", "--workers", "2",
                        "--quiet"], cwd=tmp, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0 and f"{CLUSTER_FAILING} failed" in r.stdout, r.stderr
    return path, stored(tmp / "local"), env


class Cluster:
    """`dask scheduler` and `dask worker`s on 127.0.0.1, each in its own process group."""

    def __init__(self, tmp: Path, env: dict[str, str]):
        self.tmp, self.procs, self.workers, self.client, self.env = tmp, [], {}, None, env

    def up(self, workers: int) -> "Cluster":
        tmp, info = self.tmp, self.tmp / "scheduler.json"
        self.start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file", info,
                                 "--no-dashboard", "--idle-timeout", "300"])
        for i in range(workers):     # they wait for the scheduler file themselves
            self.workers[f"w{i}"] = self.start(f"w{i}", [
                "worker", "--scheduler-file", info, "--host", "127.0.0.1", "--name", f"w{i}", "--nworkers", "1",
                "--nthreads", "1", "--memory-limit", "0", "--no-dashboard", "--death-timeout", "120",
                "--local-directory", tmp / f"w{i}"])
        deadline = time.monotonic() + 60
        while not info.exists() or not info.read_text().strip():
            assert time.monotonic() < deadline and self.procs[0].poll() is None, self.log("scheduler")
            time.sleep(0.05)
        self.address = json.loads(info.read_text())["address"]
        from distributed import Client

        self.client = Client(self.address, timeout=30, set_as_default=False)
        self.client.wait_for_workers(workers, timeout=60)
        return self

    def start(self, name: str, args: list) -> subprocess.Popen:
        with open(self.tmp / f"{name}.log", "w") as log:
            p = subprocess.Popen([sys.executable, "-m", "dask", *map(str, args)], cwd=self.tmp, env=self.env,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        return p

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text()[-3000:]

    def names(self) -> dict[str, str]:
        """worker address → name"""
        return {a: w["name"] for a, w in self.client.scheduler_info()["workers"].items()}

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.close(timeout=10)
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)     # the process and its children (the nanny's worker)
            except ProcessLookupError:
                pass
            p.wait(timeout=30)


@pytest.mark.parametrize("allowed_failures", [None, 0], ids=["dask-reschedules", "runner-resubmits"])
def test_worker_killed_mid_sweep_every_run_stored_once_same_values(tmp_path, cluster_experiment, allowed_failures):
    exp_path, reference, env = cluster_experiment
    if allowed_failures is not None:
        env = {**env, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(allowed_failures)}
    out = tmp_path / "out"
    cluster, sweep = Cluster(tmp_path, env), None
    try:
        cluster.up(2)
        sweep = subprocess.Popen([sys.executable, "-m", "sim", "sweep", exp_path, "--out", out, "--dask",
                                  cluster.address, "--quiet"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, start_new_session=True)
        deadline = time.monotonic() + 90
        while (n := count_done(out)) < 5:
            assert sweep.poll() is None, sweep.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the sweep stored no 5 runs in 90 s"
            time.sleep(0.02)
        # freeze a worker that holds runs (no run can finish on it now), read what the scheduler
        # has given it, then kill it and its nanny: those runs are lost with it
        names = cluster.names()
        busy = sorted(names.get(a, "?") for a, keys in cluster.client.processing().items() if keys)
        victim = busy[0] if busy else "w0"
        os.killpg(cluster.workers[victim].pid, signal.SIGSTOP)
        time.sleep(0.3)
        addr = next(a for a, name in names.items() if name == victim)
        lost = len(cluster.client.processing().get(addr, ()))
        os.killpg(cluster.workers[victim].pid, signal.SIGKILL)
        assert lost >= 1 and n < CLUSTER_RUNS - CLUSTER_FAILING, (lost, n)
        stdout, stderr = sweep.communicate(timeout=120)
        assert sweep.returncode == 0, stderr
        assert (f"{CLUSTER_RUNS} run now" in stdout and "0 already stored" in stdout
                and f"{CLUSTER_FAILING} failed" in stdout), stdout
        resubmitted = stderr.count("submitted again")
        if allowed_failures == 0:
            assert 1 <= resubmitted <= lost and "KilledWorker" in stderr, stderr
        else:
            assert resubmitted == 0, stderr
        assert list(cluster.names().values()) == [("w1" if victim == "w0" else "w0")]     # the survivor did the rest
    finally:
        if sweep is not None and sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
            sweep.wait(timeout=30)
        cluster.close()

    db = sqlite3.connect(f"file:{out / 'store.sqlite'}?mode=ro", uri=True)
    rows, ids = db.execute("SELECT COUNT(*), COUNT(DISTINCT run_id) FROM runs").fetchone()
    db.close()
    assert rows == ids == CLUSTER_RUNS                                   # every run once: none missing, none twice
    got = stored(out)
    assert set(got) == set(reference) and len(reference) == CLUSTER_RUNS
    assert {k: v[:4] for k, v in got.items()} == {k: v[:4] for k, v in reference.items()}   # status, seed, outcomes
    assert got == reference                                              # and the daily series, bit for bit
