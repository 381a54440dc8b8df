"""The results of a sweep: one SQLite file, `DIR/store.sqlite`, in WAL mode.

Only the sweep's parent process writes, one committed transaction per finished run, so a
sweep killed at any moment (even by SIGKILL) keeps every run it had finished and never
a half-written one; resuming runs exactly the runs that are missing.

Tables
- `meta`  key → JSON: the experiment `definition` (spec, design points, every base
  parameter), its `digest` (sha256), `name`, `experiment_file`, `scenario_file`,
  `created`.  A sweep resumed with a different definition is refused.
- `runs`  one row per *finished* run (status `done` or `failed`): run id, design point,
  replicate, axis values (JSON), seed, overrides (JSON: the `--set` of `gridsim run`
  that redoes it), outcomes (JSON: the run's summary without the scenario, seed, versions
  and wall time), error (traceback of a failed run), wall seconds, versions (JSON),
  started/finished (UTC, ISO 8601) and `daily`: a few daily series (`DAILY_COLUMNS`) as
  float32 arrays, compressed (`pack_daily` / `unpack_daily`); `draw` (sweeps with
  `--posterior`): `{"index": posterior row, "values": {key: value}}`, the parameter set the
  run drew (the same at every point of a replicate); `meta.posterior` says from where.

A run with a calendar (`start_date`) also stores its per-period outcomes (summary `periods`);
`Store.frame()` gives them as columns `NAME@PERIOD` (`survey_share_safe@2016Q4`,
`incidents_per_10k_year@2016`), beside the whole run's.

Readers (`gridsim export`, `gridsim plot`) open the file read-only and never run a model.
"""

from __future__ import annotations

import io
import json
import sqlite3
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .design import ExperimentError

STORE_NAME = "store.sqlite"
#: daily series kept per run (from the model's DataCollector), float32, compressed
DAILY_COLUMNS = ("disputes_open", "backlog_grid", "backlog_community", "safety_share_safe", "trust_mean",
                 "worker_utilisation")
#: keys of a run's summary that are not outcomes (stored elsewhere, or not deterministic)
NOT_OUTCOMES = ("scenario", "seed", "versions", "wall_seconds")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id       TEXT PRIMARY KEY,
    point        INTEGER NOT NULL,
    replicate    INTEGER NOT NULL,
    axes         TEXT NOT NULL,
    seed         INTEGER NOT NULL,
    overrides    TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    outcomes     TEXT,
    error        TEXT,
    wall_seconds REAL,
    versions     TEXT,
    started      TEXT,
    finished     TEXT,
    daily        BLOB,
    draw         TEXT
);
CREATE INDEX IF NOT EXISTS runs_point ON runs (point, replicate);
"""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def pack_daily(columns: dict[str, np.ndarray]) -> bytes:
    """Daily series → compressed npz bytes of float32 arrays."""
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v, dtype=np.float32) for k, v in columns.items()})
    return zlib.compress(buf.getvalue(), 6)


def unpack_daily(blob: bytes | None) -> dict[str, np.ndarray]:
    if not blob:
        return {}
    with np.load(io.BytesIO(zlib.decompress(blob))) as z:
        return {k: z[k] for k in z.files}


class StoreMismatch(ExperimentError):
    """The directory holds a sweep of another experiment definition or other model code."""


class Store:
    """A sweep directory's SQLite store.  `Store(dir)` creates it; `Store.open(dir)` reads one."""

    def __init__(self, directory: str | Path, *, readonly: bool = False):
        self.dir = Path(directory)
        self.path = self.dir / STORE_NAME
        if readonly:
            self.db = _open_readonly(self.dir, self.path)
        else:
            self.dir.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None)   # autocommit; explicit transactions
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")                  # durable against a killed process
            self.db.executescript(SCHEMA)
            if "draw" not in self._columns():        # a store made before --posterior existed
                self.db.execute("ALTER TABLE runs ADD COLUMN draw TEXT")
        self.db.execute("PRAGMA busy_timeout=10000")

    def _columns(self) -> set[str]:
        return {row[1] for row in self.db.execute("PRAGMA table_info(runs)")}

    @classmethod
    def open(cls, directory: str | Path) -> "Store":
        d = Path(directory)
        if not d.is_dir():
            if d.exists():
                raise ExperimentError(f"{d}: not a directory; give the sweep directory (the one holding {STORE_NAME})")
            raise ExperimentError(f"{d}: no such sweep directory")
        return cls(d, readonly=True)

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ meta
    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM meta")}

    def bind(self, experiment, code: dict[str, str] | None = None) -> None:
        """Tie the store to an experiment (and the model code's hashes), or refuse if it holds another."""
        meta = self.meta()
        digest = experiment.digest()
        if "digest" in meta:
            if meta["digest"] != digest:
                raise StoreMismatch(f"{self.dir}: holds a sweep of a different experiment definition "
                                      f"({_changes(meta.get('definition', {}), experiment.definition())}); "
                                      "use another --out, --replace, or remove the directory")
            old = meta.get("code") or {}
            if code is not None and old != code:
                changed = sorted(k for k in set(old) | set(code) if old.get(k) != code.get(k))
                raise StoreMismatch(f"{self.dir}: holds runs of different model code ({', '.join(changed[:4])}"
                                      f"{' …' if len(changed) > 4 else ''} changed since); use another --out or "
                                      "--replace, or remove the directory")
            return
        rows = {"definition": experiment.definition(), "digest": digest, "code": code, "name": experiment.name,
                "experiment_file": str(experiment.path), "scenario_file": str(experiment.scenario_path),
                "axes": experiment.axes, "design": experiment.spec.design, "replicates": experiment.spec.replicates,
                "points": len(experiment.points), "created": now()}
        if getattr(experiment, "draws", None) is not None:     # --posterior: where the draws came from
            rows["posterior"] = experiment.draws.meta()
        with self.transaction():
            self.db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                                [(k, json.dumps(v, ensure_ascii=False)) for k, v in rows.items()])

    # ------------------------------------------------------------------ runs
    def transaction(self):
        return _Transaction(self.db)

    def has(self, run_id: str, status: tuple[str, ...] = ("done", "failed")) -> bool:
        marks = ",".join("?" * len(status))
        return self.db.execute(f"SELECT 1 FROM runs WHERE run_id = ? AND status IN ({marks})",
                               (run_id, *status)).fetchone() is not None

    def count_in(self, status: tuple[str, ...]) -> int:
        marks = ",".join("?" * len(status))
        return self.db.execute(f"SELECT COUNT(*) FROM runs WHERE status IN ({marks})", status).fetchone()[0]

    def record(self, run, result: dict[str, Any]) -> None:
        """Store one finished run (replacing an earlier failed attempt), committed at once."""
        with self.transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO runs (run_id, point, replicate, axes, seed, overrides, status, outcomes, error, "
                "wall_seconds, versions, started, finished, daily, draw) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run.run_id, run.point, run.replicate, json.dumps(run.axes, default=str), run.seed,
                 json.dumps(run.overrides, default=str),   # default=str: a YAML date (start_date) as its text
                 result["status"], result.get("outcomes"), result.get("error"), result.get("wall_seconds"),
                 json.dumps(result.get("versions")), result.get("started"), result.get("finished"), result.get("daily"),
                 json.dumps(getattr(run, "draw", None)) if getattr(run, "draw", None) is not None else None))

    def count(self, status: str | None = None) -> int:
        if status is None:
            return self.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM runs WHERE status = ?", (status,)).fetchone()[0]

    def rows(self, with_daily: bool = False) -> Iterator[dict[str, Any]]:
        """Every stored run in design order, decoded, one at a time."""
        cols = ["run_id", "point", "replicate", "axes", "seed", "overrides", "status", "outcomes", "error",
                "wall_seconds", "versions", "started", "finished"] + (["daily"] if with_daily else [])
        cols += ["draw"] if "draw" in self._columns() else []       # older stores have no draws
        cur = self.db.execute(f"SELECT {', '.join(cols)} FROM runs ORDER BY point, replicate")
        for values in cur:
            row = {"draw": None, **dict(zip(cols, values))}
            for k in ("axes", "overrides", "versions", "draw"):
                row[k] = json.loads(row[k]) if row[k] else None
            row["outcomes"] = json.loads(row["outcomes"]) if row["outcomes"] else {}
            if with_daily:
                row["daily"] = unpack_daily(row["daily"])
            yield row


    def frame(self):
        """One row per stored run: design point, replicate, seed, status, axis values
        (`axis.<key>`), every numeric outcome, then error, wall seconds, overrides (JSON),
        started and finished.  Outcomes a run lacks (a failed run) are NaN.  A sweep with
        `--posterior` adds, after the axes, `draw` (the posterior row the run's parameters came
        from) and `draw.<key>` (the drawn value of each posterior parameter)."""
        import pandas as pd

        meta = self.meta()
        axes = meta.get("axes", [])
        drawn = (meta.get("posterior") or {}).get("parameters", [])
        records, outcome_keys = [], {}
        for row in self.rows():
            rec = {"run_id": row["run_id"], "point": row["point"], "replicate": row["replicate"], "seed": row["seed"],
                   "status": row["status"]}
            for k in axes:
                v = (row["axes"] or {}).get(k)
                rec[f"axis.{k}"] = v if isinstance(v, int | float | str | bool) or v is None else json.dumps(v)
            if drawn:
                draw = row["draw"] or {}
                rec["draw"] = draw.get("index")
                rec.update({f"draw.{k}": (draw.get("values") or {}).get(k) for k in drawn})
            for k, v in _outcome_items(row["outcomes"]):
                if v is None or (isinstance(v, int | float) and not isinstance(v, bool)):
                    outcome_keys.setdefault(k, None)
                    rec[k] = np.nan if v is None else v
            rec.update({"error": row["error"] or "", "wall_seconds": row["wall_seconds"],
                        "overrides": json.dumps(row["overrides"], sort_keys=True), "started": row["started"],
                        "finished": row["finished"]})
            records.append(rec)
        head = ["run_id", "point", "replicate", "seed", "status"] + [f"axis.{k}" for k in axes]
        head += ["draw", *(f"draw.{k}" for k in drawn)] if drawn else []
        tail = ["error", "wall_seconds", "overrides", "started", "finished"]
        df = pd.DataFrame.from_records(records, columns=head + list(outcome_keys) + tail)
        for k in outcome_keys:
            df[k] = pd.to_numeric(df[k]).astype(float) if df[k].isna().any() else pd.to_numeric(df[k])
        return df


def _outcome_items(outcomes: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """A run's outcomes, then (runs with a calendar) each period's as `NAME@PERIOD` (e.g. `clearance_rate@2016Q3`)."""
    for k, v in outcomes.items():
        if k != "periods":
            yield k, v
    for label, values in (outcomes.get("periods") or {}).items():
        for k, v in values.items():
            yield f"{k}@{label}", v


def _open_readonly(directory: Path, path: Path) -> sqlite3.Connection:
    """Open a sweep's store to read, or refuse in one line: missing, not a regular file,
    empty, not an SQLite database, or an SQLite file without gridsim's tables."""
    import stat

    try:
        st = path.stat()
    except FileNotFoundError:
        raise ExperimentError(f"{directory}: no sweep store here (expected {path})") from None
    except OSError as exc:
        raise ExperimentError(f"{path}: cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ExperimentError(f"{path}: is a directory, not a sweep store (an SQLite file)")
    if not stat.S_ISREG(st.st_mode):
        raise ExperimentError(f"{path}: not a regular file, so not a sweep store")
    if st.st_size == 0:
        raise ExperimentError(f"{path}: empty file, not a sweep store")
    db = None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        if db is not None:
            db.close()
        raise ExperimentError(f"{path}: not a sweep store (not an SQLite database: {exc})") from None
    missing = sorted({"meta", "runs"} - tables)
    if not missing:
        columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
        missing = [f"runs.{c}" for c in ("run_id", "point", "replicate", "status", "outcomes") if c not in columns]
    if missing:
        db.close()
        raise ExperimentError(f"{path}: an SQLite file without gridsim's tables ({', '.join(missing)} missing), "
                              "not a sweep store")
    return db


class _Transaction:
    def __init__(self, db):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *_):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def _changes(old: dict, new: dict) -> str:
    """Which parts of two experiment definitions differ, briefly."""
    diff = []
    for k in sorted(set(old.get("spec", {})) | set(new.get("spec", {}))):
        if old.get("spec", {}).get(k) != new.get("spec", {}).get(k):
            diff.append(k)
    if not diff and old.get("points") != new.get("points"):
        diff.append("design points")
    if old.get("posterior") != new.get("posterior"):
        was, now_ = old.get("posterior"), new.get("posterior")
        diff.append("the posterior (" + ("none before" if was is None else "none now" if now_ is None
                                          else f"posterior.parquet sha256 {str(was.get('sha256'))[:12]}… → "
                                               f"{str(now_.get('sha256'))[:12]}…" if was.get("sha256") != now_.get("sha256")
                                          else "its parameters or draw seed") + ")")
    if old.get("base_parameters") != new.get("base_parameters"):
        changed = [k for k in new.get("base_parameters", {})
                   if old.get("base_parameters", {}).get(k) != new["base_parameters"].get(k)]
        diff.append("scenario parameters " + ", ".join(changed[:3]) + (" …" if len(changed) > 3 else ""))
    return "changed: " + ", ".join(diff) if diff else "changed"


def outcomes_json(summary: dict[str, Any]) -> str:
    """A run's summary without what is not an outcome, as compact deterministic JSON."""
    return json.dumps({k: v for k, v in summary.items() if k not in NOT_OUTCOMES}, ensure_ascii=False,
                      separators=(",", ":"))


def daily_long(store: Store, runs_per_batch: int = 100) -> Iterator[Any]:
    """A sweep's stored daily series in long form, `runs_per_batch` runs per DataFrame (so an
    export's memory does not grow with the sweep): one row per run, day and series, with
    columns `run_id`, `point`, `replicate`, `seed`, `axis.<key>` (numbers as float, anything
    else as text), `day` (1 = first observed day), `date` (YYYY-MM-DD; runs with a calendar
    only), `series` and `value` (float32, as stored).  Runs without series (failed) are left out."""
    import pandas as pd

    meta = store.meta()
    axes = meta.get("axes", [])
    base = (meta.get("definition") or {}).get("base_parameters", {})
    numeric = {k: _numeric_axis((meta.get("definition") or {}).get("points", []), k) for k in axes}
    batch: list[pd.DataFrame] = []
    for row in store.rows(with_daily=True):
        daily = row["daily"]
        if not daily:
            continue
        names = list(daily)
        n = len(daily[names[0]])
        part = {"run_id": row["run_id"], "point": row["point"], "replicate": row["replicate"], "seed": row["seed"]}
        for k in axes:
            v = (row["axes"] or {}).get(k)
            part[f"axis.{k}"] = (float(v) if v is not None else np.nan) if numeric[k] else (
                v if isinstance(v, str) else json.dumps(v))
        frame = pd.DataFrame({**{k: [v] * (n * len(names)) for k, v in part.items()},
                              "day": np.tile(np.arange(1, n + 1, dtype=np.int32), len(names))})
        start = (row["overrides"] or {}).get("start_date", base.get("start_date"))
        if start:
            frame["date"] = (pd.Timestamp(str(start)) + pd.to_timedelta(frame["day"] - 1, unit="D")).dt.strftime("%Y-%m-%d")
        frame["series"] = np.repeat(np.array(names, dtype=object), n)
        frame["value"] = np.concatenate([np.asarray(daily[c], dtype=np.float32) for c in names])
        batch.append(frame)
        if len(batch) >= runs_per_batch:
            yield pd.concat(batch, ignore_index=True)
            batch = []
    if batch:
        yield pd.concat(batch, ignore_index=True)


def _numeric_axis(points: list[dict[str, Any]], key: str) -> bool:
    """Whether every design point's value of an axis is a number (then exported as float)."""
    values = [p.get(key) for p in points]
    return bool(values) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
