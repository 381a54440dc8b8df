"""Crime incidents, cameras and police response (ODD submodels 2 and 6).

Street crime (theft, robbery, assault) happens in public cells, burglary where people
live.  A camera in view deters a share of street crime (no displacement), may reveal an
incident at once, and raises the chance of clearing it.  Guardianship — grid workers'
visiting hours and police patrol hours per 1,000 residents — lowers every grid's rate a
little.  A dispute that turns violent becomes an assault here.

Police are one `ServerPool` per township, always on duty (`police_on_duty_share` of the
force); the officer who can reach the scene first is sent, so response time = wait for a
free officer + dispatch + travel from the post.
"""

from __future__ import annotations

import numpy as np

from .agents import PoliceOfficer
from .events import Table
from .queueing import ServerPool, servers_per_unit
from .scenario import CRIME_TYPES

THEFT, BURGLARY, ROBBERY, ASSAULT = range(4)
STREET = np.array([True, False, True, True])
PENDING, CLEARED, UNCLEARED, UNREPORTED = range(4)
BY_NONE, BY_CAMERA, BY_VICTIM = range(3)
STATUS_NAMES = {PENDING: "open", CLEARED: "cleared", UNCLEARED: "uncleared", UNREPORTED: "unreported"}

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


class CrimeProcess:
    ARRIVE, CLOSE = 20, 21

    def __init__(self, model):
        self.model = model
        p, town = model.params, model.town
        c = p.crime
        self.rate = _per_type(c.rate_per_10k_year) / 1e4 / 365.0 * model.population.n  # incidents/day
        self.report_p = _per_type(c.victim_report_prob)
        self.clear_p = _per_type(c.clearance_prob)
        self.inv_hours = _per_type(c.investigation_hours)
        self.table = Table(INCIDENT_SCHEMA, capacity=int(self.rate.sum() * p.total_days * 1.3) + 64)
        pop = town.pop.astype(float)
        public_pop = np.where(town.public, pop, 0.0)
        # where incidents happen: street crime ∝ residents of public cells, burglary ∝ residents
        self.street_w = public_pop / public_pop.sum() if public_pop.sum() > 0 else public_pop
        self.home_w = pop / pop.sum()

        # police: on-duty officers per township, posted at community centres or the station
        s = p.staffing
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
        self.police = ServerPool(unit, town.n_townships, 0.0, 24.0, p.total_days, x=cx[post], y=cy[post])
        self.km_to_hours = town.cell_km * s.detour_factor / s.police_speed_kmh
        for i in range(self.police.n):
            PoliceOfficer(model, self.police, i, int(unit[i]))

        self.area_memory = np.zeros(town.n_grids)      # decaying count of known incidents per grid
        self.victims_today: list[np.ndarray] = []
        self.closed_today: list[tuple[int, int]] = []
        self.today = dict.fromkeys(("incidents", "known", "cleared", "uncleared", "by_camera"), 0)

    # ------------------------------------------------------------------ helpers
    def travel_lead(self, cell: int):
        """Per-server hours from post to `cell`, plus dispatch: for `ServerPool.earliest`."""
        town, pool = self.model.town, self.police
        x, y = town.x[cell], town.y[cell]
        dispatch = self.model.params.staffing.police_dispatch_hours
        return lambda sl: dispatch + np.hypot(pool.x[sl] - x, pool.y[sl] - y) * self.km_to_hours

    # ------------------------------------------------------------------ 2. occurrence
    def occur(self, t0: float, guardian_hours_per_1000: np.ndarray) -> None:
        """Today's incidents: Poisson per cell, thinned by cameras and guardianship."""
        m, rng, town, c = self.model, self.model.streams["crime"], self.model.town, self.model.params.crime
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

    def from_dispute(self, t: float, dispute: int) -> None:
        """A dispute turned violent: an assault at its cell, the other party the victim."""
        d = self.model.disputes.table
        ids = self._create(np.array([t]), np.array([ASSAULT], np.int8), np.array([d.cell[dispute]]),
                           victims=np.array([d.party_b[dispute]]))
        self.table.from_dispute[ids] = dispute

    def _create(self, t_occur, kinds, cells, victims=None) -> np.ndarray:
        m, rng, town, c = self.model, self.model.streams["crime"], self.model.town, self.model.params.crime
        n = len(cells)
        if n == 0:
            return np.zeros(0, np.int64)
        grid = town.grid[cells]
        if victims is None:
            # burglary: someone living in the cell; street crime: someone of that grid
            res_a, res_b = town.res_start[cells], town.res_start[cells + 1]
            home = res_a + np.floor(rng.random(n) * (res_b - res_a)).astype(np.int64)
            street = m.population.sample_in_grids(rng, grid)
            victims = np.where((kinds == BURGLARY) & (res_b > res_a), home, street)
        in_view = STREET[kinds] & town.covered[cells]
        by_camera = in_view & (rng.random(n) < c.camera_detect_prob)
        by_victim = ~by_camera & (rng.random(n) < self.report_p[kinds])
        delay = rng.exponential(1.0, n) * c.report_delay_hours
        t_detect = np.where(by_camera, t_occur, np.where(by_victim, t_occur + delay, np.nan))
        detected_by = np.where(by_camera, BY_CAMERA, np.where(by_victim, BY_VICTIM, BY_NONE)).astype(np.int8)
        ids = self.table.append(n, t_occur=t_occur, kind=kinds, cell=cells, grid=grid, victim=victims, in_view=in_view,
                                detected_by=detected_by, t_detect=t_detect)
        self.table.status[ids[detected_by == BY_NONE]] = UNREPORTED
        self.table.t_close[ids[detected_by == BY_NONE]] = t_occur[detected_by == BY_NONE]
        self.victims_today.append(victims)
        self.today["incidents"] += n
        self.today["by_camera"] += int(by_camera.sum())
        for i in np.flatnonzero(detected_by != BY_NONE):
            m.events.push(float(t_detect[i]), self.ARRIVE, int(ids[i]), 0)
        return ids

    # ------------------------------------------------------------------ 6. policing
    def on_arrive(self, t: float, i: int, _arg: int) -> None:
        """A call reaches the police: send the officer who reaches the scene first."""
        m, tab = self.model, self.table
        self.area_memory[tab.grid[i]] += 1.0
        self.today["known"] += 1
        cell = int(tab.cell[i])
        unit = int(m.town.cell_township[cell])
        lead = self.travel_lead(cell)
        got = self.police.earliest(unit, t, lead)
        if got is None:
            m.events.push(t, self.CLOSE, i, UNCLEARED)
            return
        s, ts = got
        travel = float(lead(slice(s, s + 1))[0])
        tab.t_response[i] = ts + travel
        k = int(tab.kind[i])
        rng = m.streams["police"]
        te = ts + travel + rng.exponential(self.inv_hours[k]) if self.inv_hours[k] > 0 else ts + travel
        self.police.occupy(s, ts, te)
        p = min(1.0, self.clear_p[k] + m.params.crime.camera_clearance_boost * bool(tab.in_view[i]))
        m.events.push(te, self.CLOSE, i, CLEARED if rng.random() < p else UNCLEARED)

    def on_close(self, t: float, i: int, status: int) -> None:
        self.table.status[i] = status
        self.table.t_close[i] = t
        self.today["cleared" if status == CLEARED else "uncleared"] += 1
        self.closed_today.append((i, status))

    def pop_day(self):
        """Victims of today's incidents and incidents closed today (for perception)."""
        victims = np.concatenate(self.victims_today) if self.victims_today else np.zeros(0, np.int64)
        closed, self.victims_today, self.closed_today = self.closed_today, [], []
        return victims, closed

    def patrol_hours(self, day: int) -> np.ndarray:
        """Police hours free of calls today, per township: visible patrols."""
        free = np.maximum(self.police.hours - self.police.busy_on(day), 0.0)
        return np.bincount(self.police.unit, weights=free, minlength=self.model.town.n_townships)
