"""Formatting for the report: numbers with their intervals, figures with their quotes.

Only formatting: each function turns a value from the results into text and adds no
number of its own (shares are shown ×100, in % or points).
"""

from __future__ import annotations

import math

from .extras import outcome_info
from .plots import figure_of


def ok(x) -> bool:
    return x is not None and isinstance(x, int | float) and math.isfinite(x)


def pct(x, nd: int = 1, sign: bool = False) -> str:
    return f"{100 * x:{'+' if sign else ''}.{nd}f} %" if ok(x) else "n/a"


def pts(x, nd: int = 2) -> str:
    """A change of a share, in percentage points."""
    return f"{100 * x:+.{nd}f} points" if ok(x) else "n/a"


def num(x, nd: int = 2, sign: bool = False) -> str:
    return f"{x:{'+' if sign else ''}.{nd}f}" if ok(x) else "n/a"


def ci(d: dict | None, f: float = 1.0, nd: int = 2, sign: bool = False) -> str:
    """'mean [low, high]' of a mean_ci/paired dict, times f."""
    if not d or not ok(d.get("mean")):
        return "n/a"
    s = "+" if sign else ""
    if not ok(d.get("low")):
        return f"{f * d['mean']:{s}.{nd}f}"
    return f"{f * d['mean']:{s}.{nd}f} [{f * d['low']:{s}.{nd}f}, {f * d['high']:{s}.{nd}f}]"


def ci_of(key: str, d: dict | None, nd: int = 2, sign: bool = False) -> str:
    """An outcome's interval in its display unit (shares in %)."""
    o = outcome_info(key)
    return ci(d, 100.0 if o and o.is_share else 1.0, nd, sign)


def label_of(key: str) -> str:
    """'label (unit)' of an outcome, '(%)' for shares; changes of shares are then in points."""
    o = outcome_info(key)
    return o.axis_label() if o else f"`{key}`"


def value_text(fig: dict) -> str:
    """A figure's value as the document gives it."""
    v, unit = fig.get("value"), fig["unit"]
    if v is None:
        return "—"
    if unit.startswith("share"):
        return f"{100 * v:+.2f} points" if fig.get("change") else f"{100 * v:.2f} %"
    if unit == "relative change":
        return f"{100 * v:+.1f} %"
    if unit == "rank":
        return f"rank {v:g}" + (f" in {fig['region']}" if fig.get("region") else "")
    return f"{v:,.0f} {unit}" if float(v).is_integer() else f"{v:g} {unit}"


def cite(fig: dict) -> str:
    """'translation (quote)', or the note of an assumption."""
    if fig.get("quote"):
        return f"{fig['translation'].strip()} ({fig['quote']})"
    return f"Assumption: {fig.get('note', '').strip()}"


def figure_table(res: dict, ids: list[str]) -> list[str]:
    rows = ["| figure | year | value | use | source |", "|---|---|---|---|---|"]
    for fid in ids:
        f = figure_of(res, fid)
        use = f["role"] + (", **held out**" if f["held_out"] else "") + (f", vs `{f['outcome']}`" if f.get("outcome") else "")
        doc = f" — {f['source']}" if f.get("quote") else ""
        rows.append(f"| `{fid}` | {f['year']} | {value_text(f)} | {use} | {cite(f)}{doc} |")
    return rows + [""]
