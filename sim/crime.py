"""Crime incidents, cameras and police response (ODD submodels 2 and 6).

Street crime (theft, robbery, assault) happens in public cells, burglary where people
live.  A camera in view deters a share of street crime (no displacement), may reveal an
incident at once, and raises the chance of clearing it.  Guardianship — grid workers'
visiting hours and police patrol hours per 1,000 residents — lowers every grid's rate a
little.  A dispute that turns violent becomes an assault here.

Police are one `ServerPool` per township, always on duty (`police_on_duty_share` of the
force); the officer who can reach the scene first is sent, so response time = wait for a
free officer + dispatch + travel from the post.

Couplings (wired by `GovernanceModel`; nothing here reads another submodel):

- receives at construction: the `crime` and `staffing` sections, the town, the population,
  the event queue, its streams (`rng` for occurrence and detection, `police_rng` for
  investigations) and the horizon in days;
- receives each day: yesterday's guardianship (`occur`), and violent disputes through
  `from_dispute(t, cell, victim, dispute_id)`, the disputes' `on_violent` callback;
- serves: the police pool and `travel_lead(cell)`, on which the disputes' police rung runs;
- emits: `patrol_hours(day)` and, at `end_day()`, the incidents that occurred today,
  known to the police or not (`IncidentsToday`: victim, violent or not, grid), and the
  incidents the police closed today (`ClosedIncidents`: victim, cleared or not, grid, hour
  of occurrence, hours from the report to an officer on scene).  What residents make of
  them (memories, hearsay, trust) is perception's business.

`visible_patrol_per_1000` and `guardianship_per_1000` are the one definition of what
patrols and visits residents (and offenders) see; guardianship and perception both use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .events import Table
from .queueing import ServerPool, keep_by_rank, servers_per_unit
from .scenario import CRIME_TYPES

THEFT, BURGLARY, ROBBERY, ASSAULT = range(4)
STREET = np.array([True, False, True, True])
PENDING, CLEARED, UNCLEARED, UNREPORTED = range(4)
BY_NONE, BY_CAMERA, BY_VICTIM = range(3)
STATUS_NAMES = {PENDING: "open", CLEARED: "cleared", UNCLEARED: "uncleared", UNREPORTED: "unreported"}
DETECTED_BY_NAMES = {BY_NONE: "none", BY_CAMERA: "camera", BY_VICTIM: "victim"}

INCIDENT_SCHEMA = {
    "t_occur": (np.float64, np.nan),
    "kind": (np.int8, -1),
    "cell": (np.int32, -1),
    "grid": (np.int32, -1),
    "victim": (np.int64, -1),
    "in_view": (np.bool_, False),
    "detected_by": (np.int8, BY_NONE),
    "t_detect": (np.float64, np.nan),
    "t_response": (np.float64, np.nan),
    "t_close": (np.float64, np.nan),
    "status": (np.int8, PENDING),
    "from_dispute": (np.int64, -1),
}


def _per_type(section) -> np.ndarray:
    return np.array([getattr(section, k) for k in CRIME_TYPES], float)


def visible_patrol_per_1000(patrol_hours_by_township, township_pop, grid_township, visible_share: float) -> np.ndarray:
    """Patrol hours seen on the street per 1,000 residents, per grid (its township's value):
    the share `visible_share` (`crime.patrol_visible_share`: free on-duty hours spent on
    foot or street patrol in waking hours) of the township's free on-duty hours.

    One definition for deterrence and for perceived safety, so the two cannot drift apart."""
    return (visible_share * patrol_hours_by_township / np.maximum(township_pop, 1.0) * 1000.0)[grid_township]


def guardianship_per_1000(visit_hours_by_grid, grid_pop, visible_patrol, visit_weight: float) -> np.ndarray:
    """Guardians per grid: weighted visit hours per 1,000 residents plus visible patrol."""
    visits = visit_weight * visit_hours_by_grid / np.maximum(grid_pop, 1.0) * 1000.0
    return visits + visible_patrol


VIOLENT = np.array([False, False, True, True])   # robbery and assault: violence against the person


@dataclass(frozen=True)
class IncidentsToday:
    """Incidents that occurred today, known to the police or not (dispute-born assaults
    included), in creation order: the victim, whether it was violent (robbery, assault)
    and the grid where it happened."""

    victim: np.ndarray
    violent: np.ndarray
    grid: np.ndarray

    def __len__(self) -> int:
        return len(self.victim)


@dataclass(frozen=True)
class ClosedIncidents:
    """Incidents the police closed today, in closing order: the victim, whether it was
    cleared, the grid where it happened, the hour it occurred and the hours from the report
    reaching the police to an officer on scene (NaN: no officer came)."""

    victim: np.ndarray
    cleared: np.ndarray
    grid: np.ndarray
    t_occur: np.ndarray
    response_hours: np.ndarray

    def __len__(self) -> int:
        return len(self.victim)


def _closed(rows: list[tuple]) -> ClosedIncidents:
    cols = list(zip(*rows)) if rows else [()] * 5
    return ClosedIncidents(np.array(cols[0], np.int64), np.array(cols[1], bool), np.array(cols[2], np.int32),
                           np.array(cols[3], float), np.array(cols[4], float))


class CrimeProcess:
    ARRIVE, CLOSE = 20, 21

    def __init__(self, crime, staffing, town, population, events, *, rng, police_rng, horizon_days: int):
        self.town, self.population, self.events = town, population, events
        self.rng, self.police_rng = rng, police_rng
        self.retune(crime, staffing)
        self.table = Table(INCIDENT_SCHEMA, capacity=int(self.rate.sum() * horizon_days * 1.3) + 64)
        pop = town.pop.astype(float)
        public_pop = np.where(town.public, pop, 0.0)
        # where incidents happen: street crime ∝ residents of public cells, burglary ∝ residents
        self.street_w = public_pop / public_pop.sum() if public_pop.sum() > 0 else public_pop
        self.home_w = pop / pop.sum()

        unit, x, y = self._posts(staffing)
        self.police = ServerPool(unit, town.n_townships, 0.0, 24.0, horizon_days, x=x, y=y)

        self.occurred_today: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []   # (victim, violent, grid) batches
        self.closed_today: list[tuple] = []     # (victim, cleared, grid, t_occur, response hours) per closed incident
        self.today = dict.fromkeys(("incidents", "known", "cleared", "uncleared", "by_camera"), 0)

    def retune(self, crime, staffing) -> None:
        """Read the rates, probabilities and travel figures from the sections (at the start, and when a
        timeline changes them: incidents to come use the new values, those under way keep their draws)."""
        c, s = crime, staffing
        self.c = c
        self.rate = _per_type(c.rate_per_10k_year) / 1e4 / 365.0 * self.population.n  # incidents/day
        self.report_p = _per_type(c.victim_report_prob)
        self.clear_p = _per_type(c.clearance_prob)
        self.inv_hours = _per_type(c.investigation_hours)
        self.km_to_hours = self.town.cell_km * s.detour_factor / s.police_speed_kmh
        self.dispatch_hours = s.police_dispatch_hours

    def _posts(self, staffing):
        """On-duty officers per township, posted at community centres or the station: (township, x, y)."""
        s, town = staffing, self.town
        n = servers_per_unit(s.police_per_10k * s.police_on_duty_share, town.township_pop)
        unit = np.repeat(np.arange(town.n_townships), n)
        if s.police_posting == "village":
            cx, cy = town.centroids(town.cell_community, town.n_communities)
            comms = [np.flatnonzero(town.community_township == k) for k in range(town.n_townships)]
            # officers spread evenly over the township's communities (all of them, if there are enough)
            post = np.concatenate([comms[k][(np.arange(n[k]) * len(comms[k])) // max(n[k], 1) % len(comms[k])]
                                   for k in range(town.n_townships)]) if len(unit) else np.zeros(0, int)
        else:
            cx, cy = town.centroids(town.cell_township, town.n_townships)
            post = unit
        return unit, cx[post], cy[post]

    def restaff(self, staffing, now: float) -> np.ndarray | None:
        """Police numbers or posting changed during a run: the officers from hour `now` on (each township
        keeps its first officers, in order; `ServerPool.successor`).  Returns which old officer each officer
        is (−1: new), or None when nothing changed."""
        unit, x, y = self._posts(staffing)
        old = self.police
        if len(unit) == old.n and np.array_equal(unit, old.unit) and np.array_equal(x, old.x) and np.array_equal(y, old.y):
            return None
        keep = keep_by_rank(old.unit, unit)
        self.police = old.successor(unit, self.town.n_townships, 0.0, 24.0, keep, now, x=x, y=y)
        return keep

    def regridded(self) -> None:
        """After a regrid: incidents still under investigation belong to the new grid of their cell."""
        tab = self.table
        live = np.flatnonzero(tab.status[: tab.n] == PENDING)
        tab.grid[live] = self.town.grid[tab.cell[live]]

    # ------------------------------------------------------------------ helpers
    def travel_lead(self, cell: int):
        """Per-server hours from post to `cell`, plus dispatch: for `ServerPool.earliest`."""
        pool = self.police
        x, y = self.town.x[cell], self.town.y[cell]
        dispatch = self.dispatch_hours
        return lambda sl: dispatch + np.hypot(pool.x[sl] - x, pool.y[sl] - y) * self.km_to_hours

    # ------------------------------------------------------------------ 2. occurrence
    def occur(self, t0: float, guardian_hours_per_1000: np.ndarray) -> None:
        """Today's incidents: Poisson per cell, thinned by cameras and guardianship."""
        rng, town, c = self.rng, self.town, self.c
        self.today = dict.fromkeys(self.today, 0)
        guard = np.exp(-c.guardianship_deterrence * guardian_hours_per_1000)[town.grid]
        deter = 1.0 - c.camera_deterrence * town.covered
        kinds, cells = [], []
        for k in range(len(CRIME_TYPES)):
            lam = self.rate[k] * guard * (self.street_w * deter if STREET[k] else self.home_w)
            counts = rng.poisson(lam)
            idx = np.repeat(np.arange(town.n_cells), counts)
            cells.append(idx)
            kinds.append(np.full(len(idx), k, np.int8))
        cells = np.concatenate(cells)
        kinds = np.concatenate(kinds)
        self._create(t0 + 24.0 * rng.random(len(cells)), kinds, cells)

    def from_dispute(self, t: float, cell: int, victim: int, dispute_id: int) -> None:
        """A dispute turned violent: an assault at `cell`, the other party the victim.

        Called the moment it happens (not batched), so the crime stream's draws keep the
        order of the events."""
        ids = self._create(np.array([t]), np.array([ASSAULT], np.int8), np.array([cell], np.int32),
                           victims=np.array([victim], np.int64))
        self.table.from_dispute[ids] = dispute_id

    def _create(self, t_occur, kinds, cells, victims=None) -> np.ndarray:
        rng, town, c = self.rng, self.town, self.c
        n = len(cells)
        if n == 0:
            return np.zeros(0, np.int64)
        grid = town.grid[cells]
        if victims is None:
            # burglary: someone living in the cell; street crime: someone of that grid
            res_a, res_b = town.res_start[cells], town.res_start[cells + 1]
            home = res_a + np.floor(rng.random(n) * (res_b - res_a)).astype(np.int64)
            street = self.population.sample_in_grids(rng, grid)
            victims = np.where((kinds == BURGLARY) & (res_b > res_a), home, street)
        in_view = STREET[kinds] & town.covered[cells]
        by_camera = in_view & (rng.random(n) < c.camera_detect_prob)
        by_victim = ~by_camera & (rng.random(n) < self.report_p[kinds])
        delay = rng.exponential(1.0, n) * c.report_delay_hours
        t_detect = np.where(by_camera, t_occur, np.where(by_victim, t_occur + delay, np.nan))
        detected_by = np.where(by_camera, BY_CAMERA, np.where(by_victim, BY_VICTIM, BY_NONE)).astype(np.int8)
        ids = self.table.append(n, t_occur=t_occur, kind=kinds, cell=cells, grid=grid, victim=victims, in_view=in_view,
                                detected_by=detected_by, t_detect=t_detect)
        unseen = detected_by == BY_NONE
        self.table.status[ids[unseen]] = UNREPORTED
        self.table.t_close[ids[unseen]] = t_occur[unseen]
        self.occurred_today.append((np.asarray(victims, np.int64), VIOLENT[kinds], grid))
        self.today["incidents"] += n
        self.today["by_camera"] += int(by_camera.sum())
        for i in np.flatnonzero(~unseen):
            self.events.push(float(t_detect[i]), self.ARRIVE, int(ids[i]))
        return ids

    # ------------------------------------------------------------------ 6. policing
    def on_arrive(self, t: float, i: int, _arg: int) -> None:
        """A call reaches the police: send the officer who reaches the scene first."""
        tab = self.table
        self.today["known"] += 1
        cell = int(tab.cell[i])
        unit = int(self.town.cell_township[cell])
        lead = self.travel_lead(cell)
        got = self.police.earliest(unit, t, lead)
        if got is None:
            self.events.push(t, self.CLOSE, i, UNCLEARED)
            return
        s, ts = got
        travel = float(lead(slice(s, s + 1))[0])
        tab.t_response[i] = ts + travel
        k = int(tab.kind[i])
        rng = self.police_rng
        te = ts + travel + rng.exponential(self.inv_hours[k]) if self.inv_hours[k] > 0 else ts + travel
        self.police.occupy(s, ts, te)
        p = min(1.0, self.clear_p[k] + self.c.camera_clearance_boost * bool(tab.in_view[i]))
        self.events.push(te, self.CLOSE, i, CLEARED if rng.random() < p else UNCLEARED)

    def on_close(self, t: float, i: int, status: int) -> None:
        tab = self.table
        tab.status[i] = status
        tab.t_close[i] = t
        self.today["cleared" if status == CLEARED else "uncleared"] += 1
        self.closed_today.append((int(tab.victim[i]), status == CLEARED, int(tab.grid[i]), float(tab.t_occur[i]),
                                  float(tab.t_response[i] - tab.t_detect[i])))

    # ------------------------------------------------------------------ end of day
    def patrol_hours(self, day: int) -> np.ndarray:
        """On-duty police hours free of calls today, per township.  Only the share
        `patrol_visible_share` of them is visible patrol (`visible_patrol_per_1000`)."""
        free = np.maximum(self.police.hours - self.police.busy_on(day), 0.0)
        return np.bincount(self.police.unit, weights=free, minlength=self.town.n_townships)

    def end_day(self) -> tuple[IncidentsToday, ClosedIncidents]:
        """Close the day: hand over the incidents that occurred today and those the police
        closed today (the model passes them to perception)."""
        batches = self.occurred_today
        occurred = IncidentsToday(*(np.concatenate(col) for col in zip(*batches))) if batches else \
            IncidentsToday(np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0, np.int32))
        closed = _closed(self.closed_today)
        self.occurred_today, self.closed_today = [], []
        return occurred, closed
