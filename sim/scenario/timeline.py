"""Dated changes to a scenario (`start_date:` and `timeline:`), read and checked at load, and
the pure calendar a model asks what is in force on a given day.  Not yet wired into the model.

A change is a *step* (`on: D`, `set: {key: value}`), a linear *ramp* (`from: A`, `to: B`,
`set: {key: final value}`) or a *campaign* (`from: A`, optional `to: B`, `multiply: {key:
factor}`), each with a `source:` (a quote, or the word assumption) and an optional `label:`.
Rules (docs/TIMELINE.md):

- a timeline needs `start_date`, the first observed day; day 0 is the first warm-up day, so
  day `warmup_days` is `start_date`.  Dates lie within the run: not before the first warm-up
  day, not after its last day (a change there would never happen);
- changes may be written in any order; they apply in date order.  One step or ramp at a time
  per key (a ramp may begin on the day a step or ramp of its key ends); campaigns compose:
  their factors multiply the value the steps and ramps put in force, from `from` to `to`
  inclusive (else to the end).  Where the file writes a key both through `section.*` and by
  name in one change, the name wins;
- a ramp moves numbers (and each number of a tuple) linearly from the value in force on day
  `from` to the final value on day `to`; integers, choices and flags cannot ramp or be
  multiplied, and nothing ramps from null;
- keys are leaves of the schema; FIXED keys cannot change in a run; every value is checked
  against its key's type and limits, a campaign's product against the key's limits (never
  clipped), and the whole scenario is validated on every day where a change begins or ends
  (and the days next to a ramp's ends), which covers every day between them: between those
  days each value moves linearly.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal, NamedTuple

from .params import bounds
from .schema import Scenario, ScenarioError
from .timeline_read import (ENTRY_KEYS, FIXED, MAX_CHANGES, STRUCTURAL, _bad, _shape, expand, is_fixed,
                            is_structural, kind_of, normalise_timeline, parse_date, where_of)
from .yamlsafe import name_of, shown

__all__ = ["ENTRY_KEYS", "FIXED", "MAX_CHANGES", "STRUCTURAL", "Change", "Event", "Period", "Timeline", "check_timeline",
           "expand", "is_fixed", "is_structural", "kind_of", "normalise_timeline", "parse_date"]


def check_timeline(scenario: Scenario) -> None:
    """The checks that need the whole scenario (ValueError, one line); nothing when there is no timeline."""
    if scenario.timeline:
        Timeline.from_scenario(scenario).check()


# --------------------------------------------------------------------------- the compiled timeline
@dataclass(frozen=True)
class Change:
    """One change: days are simulation days (0 = first warm-up day); `last` is inclusive."""

    index: int
    kind: Literal["step", "ramp", "campaign"]
    first: int
    last: int
    values: dict[str, Any]      # expanded dotted key → value (step), final value (ramp) or factor (campaign)
    source: str
    label: str
    where: str                  # 'timeline[2] (on 2016-03-01)', for messages


@dataclass
class _Op:
    first: int
    last: int
    index: int
    value: Any
    start: Any = None           # a ramp's value in force on its first day


class Event(NamedTuple):
    day: int
    date: date | None
    label: str
    source: str
    kind: str                   # 'step', 'ramp begins', 'ramp ends', 'campaign begins', 'campaign ends'


class Period(NamedTuple):
    label: str                  # '2016Q1', '2016', '2016-03'; without a calendar 'Q1', 'Y1', 'M1' from the start
    first_day: int
    stop_day: int               # exclusive
    partial: bool               # the observed period covers only part of it


def _auto_label(kind: str, values: dict) -> str:
    op = {"step": "=", "ramp": "→", "campaign": "×"}[kind]
    text = ", ".join(f"{k} {op} {shown(v, 20)}" for k, v in values.items())
    return text if len(text) <= 80 else text[:77] + "..."


def _as_number(v: Any) -> Any:
    return tuple(float(x) for x in v) if isinstance(v, list | tuple) else float(v)


def _interp(a: Any, b: Any, t: float) -> Any:
    if isinstance(a, tuple):
        return tuple(_interp(x, y, t) for x, y in zip(a, b))
    v = a + (b - a) * t
    return min(max(v, min(a, b)), max(a, b))          # never past either end by rounding


def _times(v: Any, factor: float) -> Any:
    return tuple(x * factor for x in v) if isinstance(v, tuple) else v * factor


@dataclass
class Timeline:
    """A scenario's calendar and changes, compiled: what is in force on each simulation day."""

    base: Scenario                      # the scenario without its timeline (the values before any change)
    start: date | None
    warmup_days: int
    days: int
    changes: list[Change] = field(default_factory=list)
    _ops: dict[str, list[_Op]] = field(default_factory=dict, repr=False)
    _campaigns: dict[str, list[_Op]] = field(default_factory=dict, repr=False)
    _keys_on: dict[int, set[str]] = field(default_factory=dict, repr=False)
    _cache: dict[int, Scenario] = field(default_factory=dict, repr=False)

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "Timeline":
        """Compile the scenario's timeline (already checked on its own by the schema); refuses, with one
        line, dates outside the run and two changes of one key at once."""
        start = None if scenario.start_date is None else parse_date(scenario.start_date, "start_date")
        tl = cls(scenario.model_copy(update={"timeline": []}) if scenario.timeline else scenario, start,
                 scenario.warmup_days, scenario.days)
        if scenario.timeline and start is None:
            raise _bad("key 'timeline': needs start_date, the first observed day, from which its dates count")
        for i, e in enumerate(scenario.timeline):
            tl.changes.append(tl._change(i, e))
        tl._compile()
        return tl

    # ---- calendar
    @property
    def total_days(self) -> int:
        return self.warmup_days + self.days

    @property
    def first_date(self) -> date | None:
        """The date of day 0, the first warm-up day."""
        return None if self.start is None else self.start - timedelta(days=self.warmup_days)

    def _need_calendar(self) -> date:
        if self.start is None:
            raise ScenarioError("this scenario has no start_date: its days have no dates", key="start_date")
        return self.first_date

    def day_of(self, when: date | str) -> int:
        """Simulation day of a date (0 = first warm-up day; `warmup_days` = start_date)."""
        return (parse_date(when, "date") - self._need_calendar()).days

    def date_of(self, day: int) -> date:
        return self._need_calendar() + timedelta(days=int(day))

    def _change(self, i: int, e: dict) -> Change:
        kind = "step" if "on" in e else ("campaign" if "multiply" in e else "ramp")
        where = where_of(kind, e, i)
        first = self.day_of(e["on"] if kind == "step" else e["from"])
        last = first if kind == "step" else (self.day_of(e["to"]) if "to" in e else self.total_days - 1)
        for k, d in (("on" if kind == "step" else "from", first), ("to", last)):
            if d < 0:
                raise _bad(f"key {name_of(f'timeline[{i}].{k}')}: {e[k]} is before the first day of the warm-up, {self.first_date} "
                           f"(start_date {self.start} less warmup_days {self.warmup_days})")
            if d >= self.total_days:
                raise _bad(f"key {name_of(f'timeline[{i}].{k}')}: {e[k]} is after the last day of the run, "
                           f"{self.date_of(self.total_days - 1)} (start_date + days − 1): it would never happen")
        raw = e["multiply"] if kind == "campaign" else e["set"]
        values: dict[str, Any] = {}
        for key in sorted(raw, key=lambda k: not k.endswith(".*")):     # wildcards first: a named key wins
            for k in expand(key):
                values[k] = raw[key]
        return Change(i, kind, first, last, values, e["source"], e.get("label") or _auto_label(kind, raw), where)

    def _compile(self) -> None:
        by_index = {c.index: c for c in self.changes}
        for c in self.changes:
            for k, v in c.values.items():
                target = self._campaigns if c.kind == "campaign" else self._ops
                target.setdefault(k, []).append(_Op(c.first, c.last, c.index, float(v) if c.kind == "campaign" else v))
                days = ([c.first, c.last + 1] if c.kind == "campaign" else
                        range(c.first + 1, c.last + 1) if c.kind == "ramp" else [c.first])
                for d in days:
                    if d < self.total_days:
                        self._keys_on.setdefault(d, set()).add(k)
        for k, ops in self._ops.items():
            ops.sort(key=lambda o: (o.first, o.last, o.index))
            v = self.base_value(k)
            for prev, op in zip([None, *ops], ops):
                c = by_index[op.index]
                if prev is not None and not (op.first > prev.last or (op.first == prev.last and c.kind == "ramp")):
                    raise _bad(f"{c.where}: key {name_of(k)} is also changed by {by_index[prev.index].where}; one step or ramp "
                               "at a time per key (a ramp may begin the day the last change ends; campaigns may overlap)")
                if c.kind == "ramp":
                    if v is None:
                        raise _bad(f"{c.where}: key {name_of(k)} is null on {self.date_of(op.first)}: nothing to ramp from")
                    op.start, op.value = _as_number(v), _as_number(op.value)
                v = op.value
        for ops in self._campaigns.values():
            ops.sort(key=lambda o: (o.first, o.index))

    # ---- values
    def _set_value(self, key: str, day: int) -> Any:
        v = self.base_value(key)
        for op in self._ops.get(key, ()):
            if op.first > day:
                break
            if op.start is None or day >= op.last:          # a step, or a ramp at its end
                v = op.value
            else:
                v = _interp(op.start, op.value, (day - op.first) / (op.last - op.first))
        return v

    def base_value(self, key: str) -> Any:
        return get_leaf(self.base, key)

    def factor(self, key: str, day: int) -> float:
        """The product of the campaigns on `key` in force on `day` (1 when none)."""
        f = 1.0
        for op in self._campaigns.get(key, ()):
            if op.first <= day <= op.last:
                f *= op.value
        return f

    def value_on(self, key: str, day: int) -> Any:
        """The value of a leaf in force on `day`: steps and ramps, times the campaigns in force."""
        v = self._set_value(key, day)
        if v is None or _shape(key) is None:
            return v
        f = self.factor(key, day) if key in self._campaigns else 1.0
        return _as_number(v) if f == 1.0 else _times(_as_number(v), f)

    def keys(self) -> list[str]:
        """Every key the timeline changes."""
        return sorted(set(self._ops) | set(self._campaigns))

    def change_days(self) -> list[int]:
        """Sorted days on which some value changes (every day of a ramp after its first)."""
        return sorted(self._keys_on)

    def changes_on(self, day: int) -> dict[str, Any]:
        """What to set at the start of `day`: dotted key → the value in force from that day."""
        return {k: self.value_on(k, day) for k in sorted(self._keys_on.get(day, ()))}

    def state_on(self, day: int) -> dict[str, Any]:
        """Every changed key → its value in force on `day`."""
        return {k: self.value_on(k, day) for k in self.keys()}

    def scenario_on(self, day: int) -> Scenario:
        """The scenario in force on `day` (without its timeline), validated and cached per change day."""
        days = self.change_days()
        i = bisect.bisect_right(days, day)
        if i == 0:
            return self.base
        d = days[i - 1]
        if d not in self._cache:
            self._cache[d] = self.base.with_overrides(self.state_on(d), "timeline")
        return self._cache[d]

    def advance(self, scenario: Scenario, day: int) -> Scenario:
        """`scenario` (the one in force the day before) with the changes of `day` set: what `scenario_on(day)`
        gives, without validating again — `check()` validated the scenario on every day a change begins or
        ends, and between those days each value moves linearly — so a model can step through a daily ramp
        cheaply."""
        changes = self.changes_on(day)
        return _with_leaves(scenario, changes) if changes else scenario

    def check(self) -> None:
        """Validate the scenario in force on every day where a change begins or ends, and on the days next
        to a ramp's ends (between them every value moves linearly); campaign products within limits."""
        days = set()
        for c in self.changes:
            days.update((c.first, c.last) if c.kind == "step" else
                        (c.first, c.first + 1, c.last - 1, c.last) if c.kind == "ramp" else (c.first, c.last + 1))
        for d in sorted(x for x in days if 0 <= x < self.total_days):
            self._check_campaigns(d)
            try:
                self.scenario_on(d)
            except ScenarioError as exc:
                c = self._culprit(d, exc.key)
                when = "" if d == c.first else f" in force on {self.date_of(d)}"
                names = [name_of(k) for k in c.values]
                keys = "" if exc.key else f"key{'s' * (len(names) > 1)} {', '.join(names[:3])}{', ...' * (len(names) > 3)}{when}: "
                raise _bad(f"{c.where}: {keys or (when[1:] + ': ' if when else '')}{exc.detail or exc}") from None

    def _check_campaigns(self, day: int) -> None:
        for k, ops in self._campaigns.items():
            f = self.factor(k, day)
            if f == 1.0:
                continue
            v = self._set_value(k, day)
            c = next(self._by_index(o.index) for o in ops if o.first <= day <= o.last)
            if v is None:
                raise _bad(f"{c.where}: key {name_of(k)} is null on {self.date_of(day)}: nothing to multiply")
            b, v = bounds(k), _as_number(v)
            for x in (v if isinstance(v, tuple) else (v,)):
                p = x * f
                if (b.lo is not None and (p < b.lo or (b.lo_strict and p == b.lo))) or \
                   (b.hi is not None and (p > b.hi or (b.hi_strict and p == b.hi))):
                    raise _bad(f"{c.where}: key {name_of(k)}: {x:g} × {f:g} = {p:g} on {self.date_of(day)} is outside "
                               f"the allowed {b}; a campaign is not clipped: lower the factor or the value")

    def _by_index(self, index: int) -> Change:
        return next(c for c in self.changes if c.index == index)

    def _culprit(self, day: int, key: str | None) -> Change:
        """The change to blame for a scenario invalid on `day`: one touching `key` that begins, ends or
        moves that day, else any that does."""
        def active(c: Change) -> bool:
            return c.first <= day <= c.last + (c.kind == "campaign")

        touching = [c for c in self.changes if active(c) and key is not None and key in c.values]
        return (touching or [c for c in self.changes if active(c)] or self.changes)[-1]

    # ---- for plots and per-period outcomes
    def events(self) -> list[Event]:
        """Each change's dated marks: (day, date, label, source, kind), sorted by day."""
        out = []
        for c in self.changes:
            if c.kind == "step":
                marks = [(c.first, "step")]
            elif c.kind == "ramp":
                marks = [(c.first, "ramp begins"), (c.last, "ramp ends")]
            else:
                marks = [(c.first, "campaign begins")] + ([(c.last + 1, "campaign ends")] if c.last + 1 < self.total_days else [])
            out += [Event(d, self.date_of(d) if self.start else None, c.label, c.source, k) for d, k in marks]
        return sorted(out, key=lambda e: (e.day, e.kind))

    def period_bounds(self, kind: Literal["quarter", "year", "month"] = "quarter") -> list[Period]:
        """The observed period cut into calendar quarters (years, months): (label, first day, stop day,
        partial).  Without a start_date: blocks of 91 (365, 30) days from the first observed day."""
        if kind not in ("quarter", "year", "month"):
            raise ValueError(f"period kind {kind!r}: expects 'quarter', 'year' or 'month'")
        lo, hi = self.warmup_days, self.total_days
        out = []
        if self.start is None:
            n = {"quarter": 91, "year": 365, "month": 30}[kind]
            for j, a in enumerate(range(lo, hi, n)):
                out.append(Period(f"{kind[0].upper()}{j + 1}", a, min(a + n, hi), a + n > hi))
            return out
        months = {"quarter": 3, "year": 12, "month": 1}[kind]
        y, m = self.start.year, (self.start.month - 1) // months * months + 1
        while True:
            begin = self.day_of(date(y, m, 1))
            if begin >= hi:
                return out
            y2, m2 = (y + (m - 1 + months) // 12, (m - 1 + months) % 12 + 1)
            end = self.day_of(date(y2, m2, 1))
            label = {"quarter": f"{y}Q{(m - 1) // 3 + 1}", "year": f"{y}", "month": f"{y}-{m:02d}"}[kind]
            out.append(Period(label, max(begin, lo), min(end, hi), begin < lo or end > hi))
            y, m = y2, m2

    def period_of(self, day: int, kind: Literal["quarter", "year", "month"] = "quarter") -> str | None:
        """The label of the observed period holding `day` (None in the warm-up or after the run)."""
        return next((p.label for p in self.period_bounds(kind) if p.first_day <= day < p.stop_day), None)


def _with_leaves(section: Any, values: dict[str, Any]) -> Any:
    """A copy of a (nested) section with dotted leaves replaced, unvalidated."""
    top: dict[str, dict[str, Any]] = {}
    update = {}
    for key, v in values.items():
        head, _, rest = key.partition(".")
        if rest:
            top.setdefault(head, {})[rest] = v
        else:
            update[key] = v
    for head, sub in top.items():
        update[head] = _with_leaves(getattr(section, head), sub)
    return section.model_copy(update=update)


def get_leaf(scenario: Scenario, key: str) -> Any:
    """A leaf's value in a scenario (tuples as tuples)."""
    v: Any = scenario
    for part in key.split("."):
        v = getattr(v, part)
    return v
