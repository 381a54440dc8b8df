"""A scenario's timeline carried out in the running model (docs/TIMELINE.md, ODD §3 scheduling).

`GovernanceModel` builds the town from the scenario in force on day 0 and, at the start of each
later day that `Timeline.change_days()` lists, before anything else happens that day, calls
`apply_changes(model, day)`.  What changed decides what is redone, without a restart — the event
heap, the queues and residents' memories carry over:

- rates, probabilities, weights (crime, disputes, ladder, perception): the submodel re-reads its
  section (`retune`); when a dispute hazard changes (latent report, festering, conversion), the
  pending clocks of disputes under way are redrawn (`DisputeProcess.redraw_clocks`), so the new
  hazard holds exactly from that day;
- grid size (`residents_per_grid`, `town.grid_size_cv`): the town is cut into new grids inside its
  communities (`Town.regrid`); residents, open disputes, incidents under investigation and the
  grids' remembered visit rates move to the new grids;
- grid staff (workers per grid, full-time ratio and posts, shifts, routine duties, triage, skill,
  household size) and after a regrid: the grid workers' pool is laid out again and, if its servers
  changed, rebuilt from that hour (`GridWork.rebuild`, `ServerPool.successor`): each grid keeps its
  first workers with their bookings, hires or releases the rest; cases already booked finish as
  booked.  Police, mediators and the court likewise (`CrimeProcess.restaff`, `DisputeProcess.restaff`);
- cameras (coverage, stock, cameras per cell, villages reached, the radius of "near"): hung or taken
  down at the end of the order drawn when they were first hung (`Town.recover`), so cameras are
  added, not reshuffled;
- the Mesa staff agents follow their pools (`agents.rehire`).

Nothing here draws a random number on a day without a change, so two runs that differ only in a
change dated D are the same run before D (common random numbers).  Keys a run cannot change are
refused when the scenario is loaded (`sim.scenario.timeline_read.WHY_FIXED`).

`levels_of(model)` is the staff, cameras and their cost in force, logged at the start and after
every change day (`model.levels`), from which per-period costs are time-averaged.
"""

from __future__ import annotations

from .agents import CourtSlot, GridWorker, Mediator, PoliceOfficer, rehire
from .disputes import COMMUNITY, COURT, GRID, POLICE, TOWNSHIP
from .queueing import DAY

#: dispute hazards whose pending clocks are redrawn when they change
HAZARDS = ("disputes.latent_report_daily", "disputes.fester_daily", "disputes.conversion_daily")
REGRID = ("residents_per_grid", "town.grid_size_cv")
GRID_STAFF = ("fulltime_ratio", "town.household_size")
CAMERAS = ("camera_coverage", "crime.camera_stock_per_1000", "crime.cameras_per_covered_cell", "crime.camera_village_share",
           "perception.camera_near_cells")


def levels_of(model) -> dict:
    """Staff, cameras and their yearly cost as they stand (with the costs in force)."""
    gw, s, c = model.grid_work, model.params.staffing, model.params.crime
    n_full = int(gw.fulltime.sum())
    workers = 12 * (n_full * s.fulltime_cost_yuan_month + (gw.n_workers - n_full) * s.parttime_cost_yuan_month)
    pools = model.disputes.pools
    return {"grids": model.town.n_grids, "grid_workers": gw.n_workers, "grid_workers_fulltime": n_full,
            "police_on_duty": model.crime.police.n, "community_mediators": pools[COMMUNITY].n,
            "township_mediators": pools[TOWNSHIP].n, "court_slots": pools[COURT].n, "cameras": model.cameras,
            "cost_grid_workers_yuan_per_year": workers,
            "cost_cameras_yuan_per_year": model.cameras * c.camera_capital_yuan / c.camera_life_years}


def level_mean(model, key: str, first_day: int, stop_day: int) -> float:
    """Time-average of a logged level over the days [first_day, stop_day)."""
    marks = model.levels
    ends = [d for d, _ in marks[1:]] + [max(stop_day, marks[-1][0] + 1)]
    total = sum(lv[key] * max(min(b, stop_day) - max(a, first_day), 0) for (a, lv), b in zip(marks, ends))
    return total / max(stop_day - first_day, 1)


def level_on(model, key: str, day: int):
    """A logged level in force on `day`."""
    return next(lv[key] for d, lv in reversed(model.levels) if d <= day)


def camera_state(params) -> tuple:
    """What decides where the cameras hang: two runs with the same state hang the same cameras."""
    c = params.crime
    n = None if c.camera_stock_per_1000 is None else int(round(c.camera_stock_per_1000 * params.residents / 1000.0))
    return (params.camera_coverage, n, c.cameras_per_covered_cell, c.camera_village_share, params.perception.camera_near_cells)


def hang_cameras(model, params) -> None:
    """Cameras as the scenario in force says (a timeline changed them)."""
    c, town = params.crime, model.town
    coverage, n, per_cell, share, near = camera_state(params)
    cells = town.recover(coverage=coverage, cameras=n or 0, village_share=share, per_cell=per_cell,
                         rng=model.streams["cameras"], near_cells=near)
    model.cameras = int(round(cells * c.cameras_per_covered_cell)) if n is None else n


def apply_changes(model, day: int) -> list[str]:
    """Carry out the timeline's changes of `day` at its first hour (see the module doc); returns the keys."""
    tl = model.timeline
    keys = set(tl.changes_on(day))
    old = model.params
    new = tl.advance(old, day)
    now = day * DAY
    sections = {k.split(".")[0] for k in keys}
    model.params = new
    grid_map = None
    if keys & set(REGRID):
        town = model.town
        old_grid, grid_map = town.regrid(new.residents_per_grid, new.town.grid_size_cv, model.streams["town"])
        model.population.regridded(town)
        model.disputes.regridded()
        model.crime.regridded()
        model.guardian_per_1000 = town.carry(model.guardian_per_1000, old_grid)
    if grid_map is not None or keys & set(GRID_STAFF) or "staffing" in sections:
        _restaff_grid(model, new, day, now, grid_map)
        if grid_map is not None:
            model.perception.regridded(old_grid, model.grid_work.households)
    if "staffing" in sections:
        keep = model.crime.restaff(new.staffing, now)
        if keep is not None:
            model.disputes.pools[POLICE] = model.crime.police
            model.staff["police"] = rehire(model, model.staff["police"], model.crime.police, keep,
                                           lambda m, pool, s: PoliceOfficer(m, pool, s, int(pool.unit[s])))
        for r, keep in model.disputes.restaff(new.staffing, now).items():
            name = {COMMUNITY: "community", TOWNSHIP: "township", COURT: "court"}[r]
            if r == COURT:
                def make(m, pool, s):
                    return CourtSlot(m, pool, s, int(pool.unit[s]))
            else:
                def make(m, pool, s, level=name):
                    return Mediator(m, pool, s, int(pool.unit[s]), level)
            model.staff[name] = rehire(model, model.staff[name], model.disputes.pools[r], keep, make)
    if sections & {"crime", "staffing"}:
        model.crime.retune(new.crime, new.staffing)
    if sections & {"disputes", "ladder"}:
        model.disputes.retune(new.disputes, new.ladder)
        if keys & set(HAZARDS):
            model.disputes.redraw_clocks(now)
    if "perception" in sections:
        model.perception.retune(new.perception)
    if camera_state(new) != camera_state(old):
        hang_cameras(model, new)
    levels = levels_of(model)
    if levels != model.levels[-1][1]:
        model.levels.append((day, levels))
    return sorted(keys)


def _restaff_grid(model, new, day: int, now: float, grid_map) -> None:
    gw = model.grid_work
    keep = gw.rebuild(new.staffing, new.fulltime_ratio, new.town.household_size, day, now, grid_map)
    d = model.disputes
    d.pools[GRID], d.grid_skill = gw.pool, gw.skill
    model.perception.households = gw.households
    if keep is not None:
        model.staff["grid"] = rehire(model, model.staff["grid"], gw.pool, keep,
                                     lambda m, pool, s: GridWorker(m, pool, s, int(pool.unit[s]), False, 0.0))
    for s, a in enumerate(model.staff["grid"]):
        a.fulltime, a.skill = bool(gw.fulltime[s]), float(gw.skill[s])
