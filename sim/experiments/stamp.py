"""Which model code made the figures in docs/figures: a stamp `make figures` writes, a test reads.

Figures in the repository go stale silently when the model changes after they were drawn.
`make figures` therefore ends by writing `docs/figures/MODEL_CODE.json` from the sweep stores
the figures were plotted from: the model-code digest every store already keeps (the sha256 of
each `sim` module a run imports, `runner.model_code`), the experiments and the command that
made them, and the sha256 of each figure file.  `tests/test_figures_stamp.py` fails when that
digest is not the current code's (naming the modules changed since) or a figure is not the
file stamped: re-run `make figures`.

    python -m sim.experiments.stamp docs/figures/MODEL_CODE.json out/sweeps/grid_size … \
        --files docs/figures/grid_size_curves.png … --command "make figures FIG_SCALE=0.5 FIG_DAYS=365"
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from .design import ExperimentError
from .runner import code_digest, model_code
from .store import Store, now


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def make_stamp(sweeps: list[Path], files: list[Path], command: str, root: Path) -> dict[str, Any]:
    """The stamp of figures plotted from `sweeps` (their stores must agree on the model code)."""
    code: dict[str, str] | None = None
    made: dict[str, Any] = {}
    for d in sweeps:
        with Store.open(d) as store:
            meta = store.meta()
            done, failed = store.count("done"), store.count("failed")
        theirs = meta.get("code") or {}
        if code is None:
            code = theirs
        elif theirs != code:
            changed = sorted(k for k in set(code) | set(theirs) if code.get(k) != theirs.get(k))
            raise ExperimentError(f"{d}: its runs were made by other model code than {sweeps[0]}'s "
                                  f"({', '.join(changed[:4])}); re-run the sweeps")
        spec = (meta.get("definition") or {}).get("spec", {})
        made[meta.get("name", d.name)] = {
            "store": _rel(d, root), "experiment_file": _rel(Path(meta.get("experiment_file", "")), root),
            "design": meta.get("design"), "points": meta.get("points"), "replicates": spec.get("replicates"),
            "days": spec.get("days"), "scale": spec.get("scale"), "runs_done": done, "runs_failed": failed,
            "created": meta.get("created"), "experiment_digest": meta.get("digest")}
    if not code:
        raise ExperimentError("no sweep store with its model code given: nothing to stamp")
    return {"code_digest": code_digest(code), "code": code, "command": command, "stamped": now(), "sweeps": made,
            "files": {_rel(f, root): sha256_file(f) for f in files}}


def check_stamp(path: Path, root: Path) -> list[str]:
    """What is wrong with the figures a stamp describes, against the current model code: [] if nothing."""
    if not path.is_file():
        return [f"{path}: no stamp, so nothing says which model code made the figures; run `make figures`"]
    stamp = json.loads(path.read_text(encoding="utf-8"))
    problems = []
    current = model_code()
    if stamp.get("code_digest") != code_digest(current):
        old = stamp.get("code") or {}
        changed = sorted(k for k in set(old) | set(current) if old.get(k) != current.get(k))
        problems.append(f"{path.parent} was made by other model code ({', '.join(changed[:6])}"
                        f"{' …' if len(changed) > 6 else ''} changed since); run `make figures`")
    for rel, digest in (stamp.get("files") or {}).items():
        f = root / rel
        if not f.is_file():
            problems.append(f"{rel}: stamped but missing; run `make figures`")
        elif sha256_file(f) != digest:
            problems.append(f"{rel}: not the file `make figures` stamped (replaced since); run `make figures`")
    return problems


def _rel(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    from ..run import atomic_file

    ap = argparse.ArgumentParser(prog="python -m sim.experiments.stamp", description=__doc__.splitlines()[0])
    ap.add_argument("stamp", help="the stamp to write, e.g. docs/figures/MODEL_CODE.json")
    ap.add_argument("sweeps", nargs="+", help="the sweep directories the figures were plotted from")
    ap.add_argument("--files", nargs="*", default=[], help="the figure files made from them")
    ap.add_argument("--command", default="make figures", help="the command that made them")
    args = ap.parse_args(argv)
    root = Path.cwd()
    try:
        stamp = make_stamp([Path(d) for d in args.sweeps], [Path(f) for f in args.files], args.command, root)
    except (ExperimentError, OSError) as exc:
        print(f"stamp: {exc}", file=sys.stderr)
        return 2
    out = Path(args.stamp)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(out) as tmp:
        tmp.write_text(json.dumps(stamp, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{out}: figures of {', '.join(stamp['sweeps'])} made by model code {stamp['code_digest'][:12]}…")
    return 0


if __name__ == "__main__":
    sys.exit(main())
