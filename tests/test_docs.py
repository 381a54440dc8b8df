"""docs/ODD.md stays true to the code: its parameter table is the schema's own, and every
module it points to exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sim.odd import BEGIN_MARK as BEGIN
from sim.odd import END_MARK as END
from sim.odd import blocks, parameter_table

ROOT = Path(__file__).resolve().parent.parent
ODD = ROOT / "docs" / "ODD.md"


def _between_markers(text: str, begin: str = BEGIN, end: str = END) -> str:
    assert text.count(begin) == 1, f"docs/ODD.md must contain the line {begin!r} exactly once"
    assert text.count(end) == 1, f"docs/ODD.md must contain the line {end!r} exactly once"
    start, stop = text.index(begin) + len(begin), text.index(end)
    assert start < stop, "docs/ODD.md: the END PARAMETERS marker comes before the BEGIN marker"
    return text[start:stop]


def _lines(block: str) -> list[str]:
    return [line.rstrip() for line in block.strip().splitlines()]


def test_parameter_table_matches_the_schema():
    documented = _lines(_between_markers(ODD.read_text(encoding="utf-8")))
    generated = _lines(parameter_table())
    if documented != generated:
        doc_rows, gen_rows = set(documented), set(generated)
        stale = [r.split("|")[1].strip() for r in documented if r not in gen_rows and r.startswith("| `")]
        missing = [r.split("|")[1].strip() for r in generated if r not in doc_rows and r.startswith("| `")]
        raise AssertionError(
            "docs/ODD.md §9 parameter table is out of date with the schema (sim/scenario/schema.py) "
            f"(rows only in the doc: {stale[:5] or 'none'}; rows only in the schema: {missing[:5] or 'none'}). "
            "Run `python -m sim.odd --write-odd` (or paste the output of `--markdown`) between the "
            "BEGIN PARAMETERS and END PARAMETERS marker lines of docs/ODD.md.")


@pytest.mark.parametrize("marks", [m for m in blocks() if m[0] != BEGIN], ids=lambda m: m[0].split()[2])
def test_outcome_tables_match_the_catalogue(marks):
    documented = _lines(_between_markers(ODD.read_text(encoding="utf-8"), *marks))
    assert documented == _lines(blocks()[marks]), (
        "docs/ODD.md §8's outcome tables are out of date with sim/catalogue.py: run `python -m sim.odd --write-odd`")


def test_every_module_named_in_the_odd_exists():
    text = ODD.read_text(encoding="utf-8")
    named = sorted(set(re.findall(r"\bsim/[A-Za-z0-9_/]+\.py\b", text)))
    assert named, "docs/ODD.md names no sim/<module>.py at all"
    missing = [path for path in named if not (ROOT / path).is_file()]
    assert not missing, f"docs/ODD.md points to modules that do not exist: {missing}"
