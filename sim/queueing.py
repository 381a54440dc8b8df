"""The event core: a time-ordered event heap and multi-server FIFO pools that work shifts.

Kept small and separate (as in SimPy), so the domain code reads like the domain: "a
dispute waits for a mediator".  Times are hours since the run began (hour 0 = midnight
of day 0).

A server works a daily shift `[start, start + hours)` (it may cross midnight).  Work is
measured in *working hours*: a case needing 3 h that starts 1 h before the shift ends is
finished 2 h into the next shift.  `to_work` / `from_work` map calendar time to the
server's working-time coordinate and back, in closed form, so a FIFO queue with reneging
is computed case by case in arrival order (the Kiefer–Wolfowitz recursion): each case
takes the server that can start it first; whether it waits past its threshold depends
only on earlier cases, so it can be settled the moment it arrives.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np

DAY = 24.0


def to_work(t, start, hours):
    """Calendar hour → working hours done by a server on this shift since its first shift."""
    k = np.floor((t - start) / DAY)
    return k * hours + np.minimum(t - start - k * DAY, hours)


#: working time within this many hours of a shift boundary is on the boundary: w is built by
#: sums (k·h + h) and compared with products ((k+1)·h), which differ in the last bits
BOUNDARY_EPS = 1e-9


def from_work_start(w, start, hours):
    """Working-time → calendar hour at which that much work is done; on a shift boundary,
    the *start* of the next shift (where new work would begin).

    A plain `floor(w / hours)` rounds across the boundary (0.5 + 0.1 over 0.1 gives
    5.999…), which would start a case at the end of the previous shift, before it arrived."""
    k = np.floor((w + BOUNDARY_EPS) / hours)
    return start + k * DAY + np.maximum(w - k * hours, 0.0)


def from_work_end(w, start, hours):
    """As `from_work_start`, but on a boundary the *end* of the shift (where work stops)."""
    k = np.ceil((w - BOUNDARY_EPS) / hours) - 1.0
    return start + k * DAY + np.minimum(w - k * hours, hours)


@dataclass
class EventQueue:
    """A heap of `(time, seq, kind, ident, arg)`; `seq` makes ties deterministic."""

    heap: list = field(default_factory=list)
    seq: int = 0
    now: float = -math.inf     # time of the event being handled: nothing may be scheduled before it

    def push(self, time: float, kind: int, ident: int, arg: int = 0) -> None:
        if time < self.now:
            raise RuntimeError(f"event of kind {kind} for {ident} scheduled at hour {time:.6f}, before the clock "
                               f"({self.now:.6f}): the event core went back in time")
        self.seq += 1
        heapq.heappush(self.heap, (time, self.seq, kind, ident, arg))

    def pop_before(self, t_end: float):
        """Yield events in time order while the next one is before `t_end`."""
        heap = self.heap
        while heap and heap[0][0] < t_end:
            event = heapq.heappop(heap)
            self.now = event[0]
            yield event

    def __len__(self) -> int:
        return len(self.heap)


def servers_per_unit(per_10k: float, unit_pop) -> np.ndarray:
    """Staff of each unit from a density per 10,000 residents: at least one where the
    density is positive (every community has a mediator, every township an officer), else none."""
    pop = np.asarray(unit_pop, float)
    return np.where(per_10k > 0, np.maximum(1, np.round(per_10k * pop / 1e4)), 0).astype(int)


class ServerPool:
    """Servers grouped in units (a grid's workers, a township's police …), one FIFO queue per unit.

    Arrays are indexed by server; the servers of unit `u` are `first[u]:first[u+1]`.
    `busy[s, d]` accumulates the working hours server `s` spent on cases in its shift of
    day `d` (the last column collects anything past the horizon).
    """

    def __init__(self, unit_of_server, n_units, shift_start, shift_hours, horizon_days, x=None, y=None):
        unit_of_server = np.asarray(unit_of_server, dtype=np.int64)
        if len(unit_of_server) and np.any(np.diff(unit_of_server) < 0):
            raise ValueError("servers must be sorted by unit")
        self.n = len(unit_of_server)
        self.unit = unit_of_server
        self.first = np.searchsorted(unit_of_server, np.arange(n_units + 1)).astype(np.int64)
        self.start = np.broadcast_to(np.asarray(shift_start, float), (self.n,)).copy()
        self.hours = np.broadcast_to(np.asarray(shift_hours, float), (self.n,)).copy()
        # free from hour 0 (a night shift begun the evening before is already on duty)
        self.free_w = to_work(np.zeros(self.n), self.start, self.hours)
        self.horizon_days = horizon_days
        self.busy = np.zeros((self.n, horizon_days + 1), dtype=np.float32)
        self.x = None if x is None else np.asarray(x, float)
        self.y = None if y is None else np.asarray(y, float)

    def earliest(self, unit: int, t: float, lead=None):
        """Server of `unit` that can begin a case arriving at `t` first.

        `lead(server_slice)` optionally adds per-server calendar hours (travel) to the
        comparison, so police send the officer who *reaches the scene* first.
        Returns `(server, start_time)` or `None` if the unit has no servers.
        """
        a, b = self.first[unit], self.first[unit + 1]
        if a == b:
            return None
        st, hr = self.start[a:b], self.hours[a:b]
        w = np.maximum(to_work(t, st, hr), self.free_w[a:b])
        # never before the arrival: the working-time round trip may land a rounding error early
        t_start = np.maximum(from_work_start(w, st, hr), t)
        key = t_start if lead is None else t_start + lead(slice(a, b))
        k = int(np.argmin(key))
        return a + k, float(t_start[k])

    def finish_time(self, s: int, t_start: float, work_hours: float) -> float:
        """Calendar time at which `work_hours` of work begun at `t_start` by `s` is done."""
        st, hr = self.start[s], self.hours[s]
        w0 = float(to_work(t_start, st, hr))
        if work_hours <= 0:
            return t_start
        # never before the start: work smaller than BOUNDARY_EPS begun at a shift's start would
        # otherwise map to the end of the shift before
        return max(float(from_work_end(w0 + work_hours, st, hr)), t_start)

    def occupy(self, s: int, t_start: float, t_end: float) -> None:
        """Server `s` works from `t_start` to `t_end` (calendar); book its hours per day."""
        st, hr = self.start[s], self.hours[s]
        w0 = float(to_work(t_start, st, hr))
        w1 = float(to_work(t_end, st, hr))
        self.free_w[s] = max(self.free_w[s], w1)
        d = int(math.floor(w0 / hr))
        while w0 < w1:
            seg_end = min(w1, (d + 1) * hr)
            self.busy[s, min(max(d, 0), self.horizon_days)] += seg_end - w0
            w0 = seg_end
            d += 1

    def busy_on(self, day: int) -> np.ndarray:
        return self.busy[:, min(day, self.horizon_days)]

    # ------------------------------------------------------------------ hiring and releasing (timelines)
    def successor(self, unit_of_server, n_units, shift_start, shift_hours, keep, now: float, x=None, y=None) -> "ServerPool":
        """The pool after hiring, releasing or reshifting staff at calendar hour `now`: new server `s` is old
        server `keep[s]` (−1: newly hired).  A kept server carries its bookings (busy rows) and stays busy
        until the calendar hour its old shifts would have freed it; a new one is free from `now`.  Work
        already booked finishes as booked (its events are on the heap): a released server's simply leaves
        this pool's books."""
        new = ServerPool(unit_of_server, n_units, shift_start, shift_hours, self.horizon_days, x=x, y=y)
        keep = np.asarray(keep, dtype=np.int64)
        kept = np.flatnonzero(keep >= 0)
        old = keep[kept]
        new.free_w = to_work(np.full(new.n, float(now)), new.start, new.hours)
        if len(kept):
            t_free = np.maximum(from_work_start(self.free_w[old], self.start[old], self.hours[old]), now)
            new.free_w[kept] = to_work(t_free, new.start[kept], new.hours[kept])
            new.busy[kept] = self.busy[old]
        return new


def keep_by_rank(old_unit: np.ndarray, new_unit: np.ndarray, unit_map: np.ndarray | None = None) -> np.ndarray:
    """Which old server each new server is (−1: hired): in each unit the first servers stay, in their order;
    a unit that shrinks releases its last ones, one that grows hires.  `unit_map` maps old units to new ones
    (a regrid); each new unit then keeps the old servers of the units mapped to it, in order."""
    old_unit = np.asarray(old_unit, np.int64)
    new_unit = np.asarray(new_unit, np.int64)
    to = old_unit if unit_map is None else np.asarray(unit_map, np.int64)[old_unit]
    order = np.argsort(to, kind="stable")
    grouped = to[order]
    n_units = int(max(new_unit.max(initial=-1), grouped.max(initial=-1))) + 1
    first_old = np.searchsorted(grouped, np.arange(n_units))
    rank = np.arange(len(grouped)) - first_old[grouped]
    new_first = np.searchsorted(new_unit, np.arange(n_units + 1))
    size = np.diff(new_first)
    stay = rank < size[grouped]
    keep = np.full(len(new_unit), -1, np.int64)
    keep[new_first[grouped[stay]] + rank[stay]] = order[stay]
    return keep
