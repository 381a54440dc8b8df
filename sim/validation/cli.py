"""`gridsim validate`: run the checks into `--out DIR`; touch docs/ only with `--docs`.

`--docs` publishes a finished results directory: REPORT.md becomes docs/VALIDATION.md
(its links pointed into docs/validation/) and the figures, validation.json and the
overlays are copied into docs/validation/.  Without it nothing outside `--out` is written.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from ..scenario import ROOT, ScenarioError
from .report import report_markdown, write_report
from .report_format import pct
from .settings import PRESETS
from .suite import SECTIONS, check_out_dir, run_validation

DOCS = ROOT / "docs"
DOCS_PAGE, DOCS_DIR = DOCS / "VALIDATION.md", DOCS / "validation"
#: what --docs copies besides the report
PUBLISHED = ("*.png", "validation.json", "*.calibrated.yaml", "*.calibrated.json")


def default_out(quick: bool) -> Path:
    return Path("out") / ("validation-quick" if quick else "validation")


def publish(src: Path, res: dict, page: Path = DOCS_PAGE, folder: Path = DOCS_DIR) -> None:
    """REPORT.md → `page` with links into `folder`; the figures and data files → `folder`."""
    if src.resolve() != folder.resolve():
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for pattern in PUBLISHED:
            for f in sorted(src.glob(pattern)):
                shutil.copy2(f, folder / f.name)
    rel = Path(os.path.relpath(folder.resolve(), page.parent.resolve())).as_posix() + "/"
    page.write_text(report_markdown(res, figure_dir=rel), encoding="utf-8")


def check_memory(settings, workers: int | None) -> None:
    """Refuse before anything runs if the largest run of the preset (a city at the preset's
    scale, or the default district), times the runs side by side, would not fit in memory."""
    from ..execute import BYTES_PER_PROCESS, check_memory as check, memory_estimate
    from ..experiments.pool import Runner
    from ..scenario import load_scenario
    from .suite import SCENARIO_FILES, SCENARIOS

    largest, name = 0, ""
    for stem in SCENARIO_FILES:
        district = stem == "default"
        shape = ({"days": settings.district_days, "scale": settings.district_scale} if district
                 else {"days": settings.days, "scale": settings.scale})
        need = memory_estimate(load_scenario(SCENARIOS / f"{stem}.yaml"), shape)
        if need > largest:
            largest, name = need, stem
    side = Runner(workers).workers
    check(side * (largest + (BYTES_PER_PROCESS if side > 1 else 0)),
          f"validate ({settings.name}, {side} runs at a time; the largest: scenarios/{name}.yaml at scale "
          f"{settings.district_scale if name == 'default' else settings.scale:g})", "use --quick or fewer --workers")


def parse_sections(text: str | None) -> tuple[str, ...]:
    """`--sections guigang,levels` → the sections in report order (one-line refusal of an unknown name)."""
    if text is None:
        return SECTIONS
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in SECTIONS]
    if not names or bad:
        raise ScenarioError(f"--sections {text!r}: {'unknown ' + ', '.join(map(repr, bad)) if bad else 'empty'}; "
                            f"choose from {', '.join(SECTIONS)}")
    return tuple(n for n in SECTIONS if n in names)


def cmd_validate(args) -> int:
    if args.replot:
        src = Path(args.replot)
        if not (src / "validation.json").exists():
            raise ScenarioError(f"--replot {src}: no validation.json there")
        res = json.loads((src / "validation.json").read_text(encoding="utf-8"))
        if "figures" not in res:
            raise ScenarioError(f"--replot {src}: validation.json was written by an older gridsim; run the validation again")
        write_report(res, src)
        print(f"redrew {src}/REPORT.md and its figures from validation.json")
        if args.docs:
            publish(src, res)
            print(f"published to {DOCS_PAGE.relative_to(ROOT)} and {DOCS_DIR.relative_to(ROOT)}/")
        return 0
    from ..run import check_out_path

    settings = PRESETS["quick" if args.quick else "full"]
    out = check_out_path(args.out if args.out is not None else default_out(args.quick))
    if args.workers is not None and args.workers < 1:
        raise ScenarioError(f"--workers {args.workers}: must be at least 1")
    if out.resolve() == DOCS_DIR.resolve() or DOCS_DIR.resolve() in out.resolve().parents:
        raise ScenarioError(f"--out {out}: inside docs/validation; write elsewhere and publish with --docs")
    check_out_dir(out)
    check_memory(settings, args.workers)
    say = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    res = run_validation(out, settings, workers=args.workers, say=say, sections=parse_sections(args.sections),
                         calibration=Path(args.calibration) if args.calibration else None)
    print(f"validation ({settings.name}): {res['runs']:,} runs, {res['wall_minutes']:.1f} min → {out}/REPORT.md")
    for key, how in (("guigang_2016_point_fit", "point fit"), ("guigang_2016", "posterior")):
        g = res.get(key)
        if g and (key == "guigang_2016_point_fit" or g.get("method", "").startswith("ABC")):
            print(f"  Guigang 2016, held out ({how}): predicted {pct(g['predicted'], 2)} [{pct(g['interval'][0], 2)}, "
                  f"{pct(g['interval'][1], 2)}], reported {pct(g['reported'], 2)}")
    if args.docs:
        publish(out, res)
        print(f"published to {DOCS_PAGE.relative_to(ROOT)} and {DOCS_DIR.relative_to(ROOT)}/")
    return 0


def add_commands(sub) -> None:
    """Add `gridsim validate` to the `gridsim` subparsers."""
    v = sub.add_parser("validate", help="validation report: Guigang held out, the cities, Sobol sensitivity, mechanism checks",
                       description="Write REPORT.md, validation.json and figures into --out: Guigang's held-out year "
                                   "predicted from a fit to the year before, each city against its document, Sobol "
                                   "indices, queueing and lever checks. docs/ is written only with --docs.")
    v.add_argument("--quick", action="store_true", help="small towns, short runs, few replicates (a few minutes)")
    v.add_argument("--out", help="output directory (default out/validation, or out/validation-quick with --quick)")
    v.add_argument("--docs", action="store_true",
                   help="also publish: REPORT.md → docs/VALIDATION.md, figures and data → docs/validation/")
    v.add_argument("--workers", type=int, default=None, help="processes (default 2, or 1 on a single core)")
    v.add_argument("--replot", metavar="DIR", help="only redraw REPORT.md and the figures from DIR/validation.json")
    v.add_argument("--sections", metavar="S,S", default=None,
                   help=f"run only these sections ({', '.join(SECTIONS)}); the others are kept from the validation "
                        "already in --out, each marked with when and with which model code it was computed")
    v.add_argument("--calibration", metavar="DIR", default=None,
                   help="the posterior the report shows (a `gridsim calibrate TARGETS.yaml` directory; "
                        "default docs/calibration/guigang_2015, the published fit)")
    v.add_argument("--quiet", action="store_true", help="no progress lines")
    v.set_defaults(func=cmd_validate)
