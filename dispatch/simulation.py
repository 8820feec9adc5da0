"""A discrete-event simulation of 119 calls, run through the project's own dispatch code.

What is real: every call goes through `services.call_record`; the Celery tasks that services send after commit
(`dispatch_incident`, `serve_queue`, `expire_assignment`, ...) run as the task functions themselves, at the time
the worker would run them; each crew acts on the `assignment.created` events of its unit and taps through
`services.assignment_transition`, reports positions through `services.unit_positions_record` and comes back
into service through `services.unit_set_status`; travel times are whatever `geo.routing` answers (the road
engine when one is configured, the geodesic estimate otherwise); hospitals are chosen by `dispatch.hospitals`.

What is simulated: the clock (time-machine moves `timezone.now()` to the simulated instant while the dispatch
code runs), the calls (a seeded stream: place, time of day, priority and the crews' times, stated in
`Assumptions`) and the movements of the ambulances between reported points (straight-line interpolation).

Under a move-up policy the simulator plays the dispatcher who applies the console's move-up plan
(`dispatch.moveup.moveup_plan`, then `unit_station_move`) whenever the free units change; each moved unit drives to
its new post, free for work on the way. `--standby-puskesmas` makes every puskesmas a post without units (a place
where move-up may station one); `--posting plan` homes the units where `dispatch.posting` plans them.

Each run happens inside one database transaction that is rolled back at the end; what services leave for after
commit runs as soon as the step that registered it returns (tasks go into the simulator's queue, broadcasts go
nowhere because no channel layer is configured during a run). Runs are therefore repeatable on one database.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import shapely
import time_machine
from django.conf import settings
from django.db import transaction
from django.test.utils import override_settings
from shapely.geometry import Point, shape
from shapely.prepared import prep

from calls.models import Incident
from dispatch import reports, services
from dispatch.demo import POSTS, UNITS, demo_import_data, demo_posts_load
from dispatch.hospitals import Case, hospitals_ranked_for
from dispatch.models import ACTIVE_STATUSES, Assignment, AssignmentStatus, Event
from dispatch.policies import policy_using
from fleet.models import Station, Unit, UnitStatus
from geo.models import Facility, Region
from geo.points import LatLon
from geo.routing import GEODESIC, road_engine, travel_times_to

log = logging.getLogger(__name__)
S = AssignmentStatus

# Relative call volume by hour of day (00-01 ... 23-24). Not a Malang measurement: the usual shape of urban
# ambulance demand (a trough at 03-05, rising from 06, a plateau from late morning to the evening).
DIURNAL = (
    0.60, 0.50, 0.45, 0.40, 0.40, 0.50, 0.70, 0.90, 1.10, 1.25, 1.30, 1.30,
    1.25, 1.20, 1.20, 1.20, 1.25, 1.25, 1.25, 1.20, 1.10, 1.00, 0.85, 0.70,
)  # fmt: skip
SIM_START = datetime(2025, 1, 6)  # a Monday, midnight local time
MINIMUM_COMPARISON_DAYS = 30
MINIMUM_COMPARISON_SEEDS = 4


@dataclass(frozen=True)
class Assumptions:
    """Everything the simulation draws that the dispatch code does not decide. Times in seconds."""

    priority_shares: tuple[float, float, float] = (0.20, 0.50, 0.30)  # 1 merah, 2 kuning, 3 hijau
    diurnal: tuple[float, ...] = DIURNAL
    ack_s: tuple[float, float] = (5.0, 30.0)  # uniform: the crew taps "diterima"
    turnout_median_s: float = 90.0  # lognormal: assignment to departure from the post
    turnout_sigma: float = 0.5
    turnout_max_s: float = 360.0
    # On a unit already on the road (returning) the crew departs as soon as it acknowledges.
    on_scene_median_s: tuple[float, float, float] = (900.0, 720.0, 600.0)  # lognormal, by priority
    on_scene_sigma: float = 0.4
    transport_share: tuple[float, float, float] = (0.85, 0.60, 0.30)  # by priority
    handover_median_s: float = 900.0  # lognormal: arrival at the hospital to cleared
    handover_sigma: float = 0.4
    task_latency_s: float = 0.1  # a task sent after commit starts on the worker (measured: ~0.1 s)
    turnout: bool = True  # False: acknowledge and depart the moment the unit is assigned (validation gate)

    def describe(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SimCall:
    """One simulated 119 call, and what its crew will take (drawn up front so every policy gets the same)."""

    at_s: float  # seconds after the start
    location: LatLon
    kelurahan: str
    priority: int
    phone: str
    ack_s: float
    turnout_s: float
    on_scene_s: float
    transport: bool
    handover_s: float


@dataclass(frozen=True)
class DemandArea:
    name: str
    weight: float
    geometry: Any  # shapely polygon, lon/lat

    def point(self, rng: random.Random) -> LatLon:
        """A point uniformly inside the area (rejection sampling in its bounding box)."""
        west, south, east, north = self.geometry.bounds
        inside = prep(self.geometry)
        for _ in range(10_000):
            lon, lat = rng.uniform(west, east), rng.uniform(south, north)
            if inside.contains(Point(lon, lat)):
                return LatLon(lat, lon)
        centre = self.geometry.representative_point()
        return LatLon(centre.y, centre.x)


def _area_m2(geometry: Any) -> float:
    """Area of a lon/lat polygon in m², on a local equirectangular projection (exact enough for weights)."""
    kx, ky = 111_320.0 * math.cos(math.radians(geometry.centroid.y)), 110_574.0
    return float(shapely.transform(geometry, lambda xy: xy * (kx, ky)).area)


def demand_areas(*, data_dir: Path | None = None) -> list[DemandArea]:
    """The kelurahan as call sources, weighted by population when imported, else by area: `LUASWH` (ha) from
    the city's kelurahan file when `data_dir` has one, else the polygon's own area."""
    luas: dict[str, float] = {}
    source = data_dir / "malang_kelurahan_big2021.geojson" if data_dir else None
    if source is not None and source.exists():
        for feature in json.loads(source.read_text()).get("features", []):
            props = feature.get("properties") or {}
            if props.get("NAMOBJ") and props.get("LUASWH"):
                luas[str(props["NAMOBJ"]).strip()] = float(props["LUASWH"]) * 10_000
    areas = []
    for region in Region.objects.filter(kind=Region.Kind.KELURAHAN).order_by("name"):
        geometry = shape(region.geometry)
        weight = float(region.population or luas.get(region.name) or _area_m2(geometry))
        areas.append(DemandArea(region.name, weight, geometry))
    if not areas:
        raise ValueError("no kelurahan regions: import them first (load_demo --data DIR, import_regions)")
    return areas


def demand_basis(areas: Sequence[DemandArea]) -> str:
    populated = Region.objects.filter(kind=Region.Kind.KELURAHAN, population__isnull=False).count()
    return "population" if populated == len(areas) else "area (no population imported)"


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(median), sigma)


def calls_draw(
    *,
    areas: Sequence[DemandArea],
    assumptions: Assumptions,
    calls_per_day: float,
    hours: float,
    seed: int,
) -> list[SimCall]:
    """The calls of one seed: a Poisson stream thinned by the diurnal profile; place by area weight."""
    rng = random.Random(f"psc119-calls:{seed}")
    a = assumptions
    profile = a.diurnal
    mean_weight = sum(profile) / len(profile)
    peak_per_s = calls_per_day / 86_400 * max(profile) / mean_weight
    weights = [area.weight for area in areas]
    calls: list[SimCall] = []
    t = 0.0
    horizon = hours * 3600
    while peak_per_s > 0:
        t += rng.expovariate(peak_per_s)
        if t >= horizon:
            break
        hour = int((t % 86_400) // 3600)
        if rng.random() > profile[hour] / max(profile):
            continue
        area = rng.choices(areas, weights=weights)[0]
        priority = rng.choices((1, 2, 3), weights=a.priority_shares)[0]
        ack = rng.uniform(*a.ack_s)
        turnout = min(max(_lognormal(rng, a.turnout_median_s, a.turnout_sigma), ack), a.turnout_max_s)
        calls.append(
            SimCall(
                at_s=t,
                location=area.point(rng),
                kelurahan=area.name,
                priority=priority,
                phone=f"+62812{rng.randrange(10**7, 10**8)}",
                ack_s=ack if a.turnout else 0.0,
                turnout_s=turnout if a.turnout else 0.0,
                on_scene_s=_lognormal(rng, a.on_scene_median_s[priority - 1], a.on_scene_sigma),
                transport=rng.random() < a.transport_share[priority - 1],
                handover_s=_lognormal(rng, a.handover_median_s, a.handover_sigma),
            )
        )
    return calls


# --- The world: posts, units, hospitals and regions in the current database --------------------------


@dataclass(frozen=True)
class World:
    posts: dict[str, LatLon]  # post name → place
    unit_posts: dict[int, str]  # unit id → post name
    engine: str  # what geo answers with: "geodesic" or the road engine's description


def world_build(
    *, units: int, data_dir: Path | None = None, standby_puskesmas: bool = False, planned: bool = False
) -> World:
    """The Malang demo posts and hospitals, `units` ambulances spread over the posts (the demo fleet first),
    and the regions (imported from `data_dir` when they are missing). Needs a database without units.

    `standby_puskesmas`: every imported puskesmas is also a post, without units of its own (a place where
    move-up may station a unit); the units' home posts stay the demo posts. `planned`: the units wait where
    the posting plan (`dispatch.posting`) puts them instead, each planned site a post."""
    if Unit.objects.exists():
        raise ValueError("the simulator builds its own fleet: run it on a throwaway database without units")
    if data_dir is not None:
        demo_import_data(data_dir)
    stations = demo_posts_load()
    if standby_puskesmas:
        for facility in Facility.objects.filter(kind=Facility.Kind.PUSKESMAS).order_by("name"):
            Station.objects.get_or_create(
                name=facility.name, defaults={"lat": facility.lat, "lon": facility.lon, "facility": facility}
            )
    fleet = list(UNITS[:units])
    kinds = ("als", "bls")
    for i in range(len(fleet), units):
        fleet.append((f"SIM-{i + 1:03d}", kinds[i % 2], "psc", POSTS[i % len(POSTS)][0]))
    posts = {name: LatLon(lat, lon) for name, _, lat, lon in POSTS}
    if planned:
        from dispatch.posting import posting_plan

        homes = []
        for site, n in posting_plan(units=units).plan.posts:
            at_facility = Facility.objects.filter(pk=site.id).first() if site.kind != "station" else None
            station = Station.objects.get(pk=site.id) if site.kind == "station" else Station.objects.get_or_create(
                name=site.name, defaults={"lat": site.at.lat, "lon": site.at.lon, "facility": at_facility}
            )[0]  # fmt: skip
            stations[station.name], posts[station.name] = station, LatLon(station.lat, station.lon)
            homes += [station.name] * n
        fleet = [
            (call_sign, kind, owner, home)
            for (call_sign, kind, owner, _), home in zip(fleet, homes, strict=True)
        ]
    unit_posts = {}
    for call_sign, kind, owner, post in fleet:
        unit = Unit.objects.create(call_sign=call_sign, kind=kind, owner=owner, station=stations[post])
        unit_posts[unit.pk] = post
    return World(posts=posts, unit_posts=unit_posts, engine=engine_in_use())


def engine_in_use() -> str:
    """What answers travel times: "geodesic", or the road engine's own description of its network."""
    engine = road_engine()
    if engine is None or not engine.ready():
        return GEODESIC
    return engine.describe()


# --- One run -------------------------------------------------------------------------------------


@dataclass
class _Crew:
    """What the simulator knows of one ambulance: where it is heading, and which of its timers still count."""

    unit_id: int
    home: LatLon
    origin: LatLon
    target: LatLon
    depart_s: float = 0.0
    arrive_s: float = 0.0
    returning: bool = False
    generation: int = 0
    reported: LatLon | None = None

    def position(self, now_s: float) -> LatLon:
        if now_s >= self.arrive_s or self.arrive_s <= self.depart_s:
            return self.target
        if now_s <= self.depart_s:
            return self.origin
        f = (now_s - self.depart_s) / (self.arrive_s - self.depart_s)
        return LatLon(
            self.origin.lat + (self.target.lat - self.origin.lat) * f,
            self.origin.lon + (self.target.lon - self.origin.lon) * f,
        )

    def move(self, *, to: LatLon, now_s: float, seconds: float, returning: bool = False) -> None:
        self.origin, self.target = self.position(now_s), to
        self.depart_s, self.arrive_s = now_s, now_s + seconds
        self.returning = returning


@dataclass
class RunResult:
    policy: str
    seed: int
    engine: str
    calls: int
    rows: list[reports.IncidentFigures]
    invariants: dict[str, Any]
    travel_checks: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0
    utilisation: float | None = None  # the share of unit time spent on a job (assigned to cleared)

    def summary(self) -> dict[str, Any]:
        return reports.figures_summary(self.rows)


class _Deferred:
    """Stands in for a Celery task while a run lasts: sending it puts it in the simulator's queue."""

    def __init__(self, name: str, run: _Run) -> None:
        self.name, self.run = name, run

    def apply_async(
        self, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None, countdown: float | None = None,
        **_: Any,
    ) -> None:  # fmt: skip
        delay = (countdown or 0.0) + self.run.assumptions.task_latency_s
        self.run.push(self.run.now_s + delay, "task", self.name, tuple(args), kwargs or {})

    def delay(self, *args: Any, **kwargs: Any) -> None:
        self.apply_async(args, kwargs)


@contextmanager
def _tasks_into(run: _Run) -> Iterator[dict[str, Any]]:
    """Swap every Celery task of `dispatch.tasks` for a `_Deferred`; yields the real ones to run."""
    from dispatch import tasks

    real = {
        name: obj for name, obj in vars(tasks).items() if hasattr(obj, "apply_async") and hasattr(obj, "run")
    }
    for name in real:
        setattr(tasks, name, _Deferred(name, run))
    try:
        yield real
    finally:
        for name, obj in real.items():
            setattr(tasks, name, obj)


class _Run:
    def __init__(
        self,
        *,
        world: World,
        calls: Sequence[SimCall],
        assumptions: Assumptions,
        start: datetime,
        progress: Callable[[float], None] | None,
    ) -> None:
        self.world, self.calls, self.assumptions, self.start = world, calls, assumptions, start
        self.progress = progress
        self.heap: list[tuple[float, int, str, tuple[Any, ...]]] = []
        self.seq = 0
        self.now_s = 0.0
        self.crews = {
            unit_id: _Crew(unit_id, world.posts[post], world.posts[post], world.posts[post])
            for unit_id, post in world.unit_posts.items()
        }
        self.call_of_incident: dict[int, SimCall] = {}
        self.last_created_event = 0
        self.steps = 0
        self.travel_checks: list[dict[str, Any]] = []
        self.real_tasks: dict[str, Any] = {}
        self.moves_up = False  # set by `execute`, inside the run's policy
        self.freed = 0  # units that came free (cleared or taken off a job), for the move-up hook

    def push(self, at_s: float, kind: str, *payload: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at_s, self.seq, kind, payload))

    def at_now(self) -> Any:
        return time_machine.travel(self.start + timedelta(seconds=self.now_s), tick=False)

    def step(self, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
        """Call dispatch code at the simulated instant, then run what it left for after commit."""
        connection = transaction.get_connection()
        with self.at_now():
            mark = len(connection.run_on_commit)
            result = fn(**kwargs)
            # What a commit would run now: task sends (into our queue); broadcasts find no channel layer.
            while len(connection.run_on_commit) > mark:
                pending = connection.run_on_commit[mark:]
                del connection.run_on_commit[mark:]
                for entry in pending:
                    entry[1]()
        self.steps += 1
        return result

    # -- the loop --

    def execute(self) -> None:
        from dispatch.coverage import MOVEUP_POLICIES
        from dispatch.policies import policy_active

        self.moves_up = policy_active().name in MOVEUP_POLICIES
        for call in self.calls:
            self.push(call.at_s, "call", call)
        reported_s = 0.0
        while self.heap:
            at_s, _, kind, payload = heapq.heappop(self.heap)
            self.now_s = at_s
            seen, freed = self.last_created_event, self.freed
            getattr(self, f"on_{kind}")(*payload)
            self.crews_notice_assignments()
            # The dispatcher looks at the move-up plan whenever the free units change: one is sent, cleared
            # (on its way back) or back at its post.
            if self.moves_up and (kind == "home" or self.last_created_event != seen or self.freed != freed):
                self.move_up()
            if self.progress is not None and at_s - reported_s >= 600:
                self.progress(at_s)
                reported_s = at_s
        if self.progress is not None:
            self.progress(math.inf)

    def on_call(self, call: SimCall) -> None:
        recorded = self.step(
            services.call_record, user=None, caller_phone=call.phone, complaint=f"simulasi prioritas {call.priority}",
            priority=call.priority, location=call.location, address=f"Kel. {call.kelurahan}",
        )  # fmt: skip
        self.call_of_incident[recorded.incident.id] = call

    def on_task(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if name in ("dispatch_incident", "serve_queue", "sweep"):
            self.report_moving_positions()
        task = self.real_tasks[name]
        self.step(lambda: task(*args, **kwargs))

    def report_moving_positions(self) -> None:
        """Units on their way back are free: their phones have reported where they are now."""
        for crew in self.crews.values():
            if not crew.returning:
                continue
            here = crew.position(self.now_s)
            if here != crew.reported:
                self.report_position(crew, here)

    def report_position(self, crew: _Crew, where: LatLon) -> None:
        position = services.Position(
            lat=where.lat, lon=where.lon, at=self.start + timedelta(seconds=self.now_s)
        )
        self.step(services.unit_positions_record, unit_id=crew.unit_id, positions=[position], by=None)
        crew.reported = where

    def crews_notice_assignments(self) -> None:
        """Each crew phone reads `assignment.created` for its unit from the event stream."""
        created = list(
            Event.objects.filter(id__gt=self.last_created_event, type="assignment.created")
            .order_by("id")
            .values_list("id", "unit_id", "data")
        )
        for event_id, unit_id, data in created:
            self.last_created_event = event_id
            if unit_id is not None:  # assignment.created always names its unit's stream
                self.crew_assigned(unit_id, data["id"])

    def crew_assigned(self, unit_id: int, assignment_id: int) -> None:
        crew = self.crews[unit_id]
        crew.generation += 1
        assignment = Assignment.objects.select_related("incident").get(pk=assignment_id)
        call = self.call_of_incident[assignment.incident_id]
        was_returning = crew.returning
        crew.returning = False
        crew.move(to=crew.position(self.now_s), now_s=self.now_s, seconds=0)  # it stops where it is
        departure = call.ack_s if was_returning else call.turnout_s
        token = (assignment_id, crew.generation)
        if call.ack_s < departure:
            self.push(self.now_s + call.ack_s, "crew", token, "acknowledged")
        self.push(self.now_s + departure, "crew", token, "en_route")

    def transition(self, assignment_id: int, status: str, **kwargs: Any) -> Assignment:
        return self.step(
            services.assignment_transition, assignment_id=assignment_id, status=status, by=None, **kwargs
        )

    def on_crew(self, token: tuple[int, int], status: str) -> None:
        assignment_id, generation = token
        assignment = Assignment.objects.select_related("incident", "unit").get(pk=assignment_id)
        crew = self.crews[assignment.unit_id]
        if generation != crew.generation:
            return  # the unit was given other work meanwhile
        if not assignment.is_active:
            self.go_home(crew)  # taken off the job (cancelled, pre-empted): back to its post
            return
        incident = assignment.incident
        call = self.call_of_incident[incident.id]
        assert incident.lat is not None and incident.lon is not None
        scene = LatLon(incident.lat, incident.lon)
        if status == "acknowledged":
            self.transition(assignment_id, S.ACKNOWLEDGED)
        elif status == "en_route":
            origin = crew.position(self.now_s)
            leg = travel_times_to(destination=scene, origins=[origin])[0]
            self.transition(assignment_id, S.EN_ROUTE)
            crew.move(to=scene, now_s=self.now_s, seconds=leg.duration_s)
            self.travel_checks.append(
                {"incident": incident.id, "unit": assignment.unit_id, "from": origin, "seconds": leg.duration_s,
                 "source": leg.source}
            )  # fmt: skip
            self.push(self.now_s + leg.duration_s, "crew", token, "on_scene")
        elif status == "on_scene":
            self.transition(assignment_id, S.ON_SCENE)
            self.report_position(crew, scene)
            self.push(self.now_s + call.on_scene_s, "crew", token, "leave_scene")
        elif status == "leave_scene":
            ranked = hospitals_ranked_for(origin=scene, case=Case.GENERAL, limit=1) if call.transport else []
            if not ranked:
                self.clear(assignment_id, crew)
                return
            choice = ranked[0]
            self.transition(assignment_id, S.TRANSPORTING, hospital_id=choice.hospital.pk)
            hospital = LatLon(choice.hospital.lat, choice.hospital.lon)
            crew.move(to=hospital, now_s=self.now_s, seconds=choice.leg.duration_s)
            self.push(self.now_s + choice.leg.duration_s, "crew", token, "at_hospital")
        elif status == "at_hospital":
            self.transition(assignment_id, S.AT_HOSPITAL)
            self.report_position(crew, crew.target)
            self.push(self.now_s + call.handover_s, "crew", token, "cleared")
        elif status == "cleared":
            self.clear(assignment_id, crew)

    def clear(self, assignment_id: int, crew: _Crew) -> None:
        self.transition(assignment_id, S.CLEARED)  # the unit is `returning`: free for new work
        self.go_home(crew)

    def go_home(self, crew: _Crew) -> None:
        self.freed += 1
        here = crew.position(self.now_s)
        leg = travel_times_to(destination=crew.home, origins=[here])[0]
        crew.move(to=crew.home, now_s=self.now_s, seconds=leg.duration_s, returning=True)
        self.push(self.now_s + leg.duration_s, "home", crew.unit_id, crew.generation)

    def move_up(self) -> None:
        """A move-up policy: the dispatcher applies the console's move-up plan at once (issue 7); each moved
        unit drives to its new post as `returning` (free for work on the way)."""
        from dispatch.moveup import moveup_plan, unit_station_move

        for move in self.step(moveup_plan).moves:
            crew = self.crews[move.unit.pk]
            self.step(unit_station_move, unit_id=move.unit.pk, station_id=move.to.pk, by=None)
            if move.unit.status != UnitStatus.RETURNING:
                self.step(
                    services.unit_set_status, unit_id=move.unit.pk, status=UnitStatus.RETURNING, by=None
                )
            crew.home = LatLon(move.to.lat, move.to.lon)
            crew.generation += 1
            here = crew.position(self.now_s)
            leg = travel_times_to(destination=crew.home, origins=[here])[0]
            crew.move(to=crew.home, now_s=self.now_s, seconds=leg.duration_s, returning=True)
            self.push(self.now_s + leg.duration_s, "home", crew.unit_id, crew.generation)

    def on_home(self, unit_id: int, generation: int) -> None:
        crew = self.crews[unit_id]
        if generation != crew.generation or not crew.returning:
            return
        crew.returning = False
        self.report_position(crew, crew.home)
        if Unit.objects.filter(pk=unit_id, status=UnitStatus.RETURNING).exists():
            self.step(services.unit_set_status, unit_id=unit_id, status=UnitStatus.AVAILABLE, by=None)


def simulation_run(
    *,
    world: World,
    calls: Sequence[SimCall],
    policy: str,
    seed: int,
    assumptions: Assumptions,
    start: datetime | None = None,
    progress: Callable[[float], None] | None = None,
    inspect: Callable[[], None] | None = None,
) -> RunResult:
    """Run `calls` with `policy` to the last job's end; everything it wrote is rolled back afterwards.

    `inspect` is called inside the run's transaction before the rollback (tests look at the database there)."""
    began = time.perf_counter()
    start = start or SIM_START.replace(tzinfo=ZoneInfo(settings.TIME_ZONE))
    run = _Run(world=world, calls=calls, assumptions=assumptions, start=start, progress=progress)
    with (
        override_settings(CHANNEL_LAYERS={}),
        policy_using(policy),
        transaction.atomic(),
        _tasks_into(run) as real_tasks,
    ):
        run.real_tasks = real_tasks
        run.execute()
        rows = list(reports.incident_figures(reports.incidents_for_report()))
        invariants = _invariants(run)
        utilisation = _utilisation(run)
        if inspect is not None:
            inspect()
        transaction.set_rollback(True)
    return RunResult(
        policy=policy, seed=seed, engine=world.engine, calls=len(calls), rows=rows, invariants=invariants,
        travel_checks=run.travel_checks, wall_s=time.perf_counter() - began, utilisation=utilisation,
    )  # fmt: skip


def _utilisation(run: _Run) -> float | None:
    """Unit time on jobs (assigned to cleared, or to the end of a job cut short) over the fleet's time."""
    busy = 0.0
    for assigned, cleared, ended in Assignment.objects.values_list("assigned_at", "cleared_at", "ended_at"):
        end = cleared or ended
        if end is not None:
            busy += (end - assigned).total_seconds()
    span = len(run.crews) * run.now_s
    return busy / span if span > 0 else None


def _invariants(run: _Run) -> dict[str, Any]:
    """What must hold after every run; the command reports it and the tests assert it."""
    open_incidents = Incident.objects.exclude(status__in=["closed", "cancelled"]).count()
    active = Assignment.objects.filter(status__in=ACTIVE_STATUSES)
    return {
        "incidents": Incident.objects.count(),
        "open_incidents_at_end": open_incidents,
        "active_assignments_at_end": active.count(),
        "assignments": Assignment.objects.count(),
        "expired_assignments": Assignment.objects.filter(status=S.EXPIRED).count(),
        "units_not_available_at_end": Unit.objects.exclude(status=UnitStatus.AVAILABLE).count(),
        "events": Event.objects.count(),
        "steps": run.steps,
    }


# --- The validation gate -------------------------------------------------------------------------


@dataclass
class GateResult:
    passed: bool
    samples: int
    max_difference_s: float
    nearest_post_taken: int
    engine: str
    rows: list[dict[str, Any]]


def validation_gate(
    *, world: World, areas: Sequence[DemandArea], samples: int = 20, seed: int = 0, tolerance_s: float = 0.001
) -> GateResult:
    """With every unit idle at its post and no turnout delay, each simulated travel time must equal the direct
    `geo.routing` query from the nearest post (of those with a unit), and the unit sent must come from there.

    The calls are priority 2 (no ALS preference), a day apart (every unit is home again) and answered at once."""
    assumptions = Assumptions(turnout=False, task_latency_s=0.0, priority_shares=(0.0, 1.0, 0.0))
    rng = random.Random(f"psc119-gate:{seed}")
    weights = [a.weight for a in areas]
    calls = []
    for i in range(samples):
        area = rng.choices(areas, weights=weights)[0]
        calls.append(
            SimCall(at_s=i * 86_400.0, location=area.point(rng), kelurahan=area.name, priority=2,
                    phone=f"+62813{10**7 + i}", ack_s=0.0, turnout_s=0.0, on_scene_s=600.0, transport=False,
                    handover_s=0.0)
        )  # fmt: skip
    result = simulation_run(world=world, calls=calls, policy="road", seed=seed, assumptions=assumptions)
    post_names = [p for p in world.posts if p in set(world.unit_posts.values())]  # posts with a unit
    rows, worst, nearest_taken = [], 0.0, 0
    by_number = sorted(result.rows, key=lambda r: r.received_at)
    for call, row in zip(calls, by_number, strict=True):
        direct = travel_times_to(destination=call.location, origins=[world.posts[p] for p in post_names])
        best = min(range(len(direct)), key=lambda i: direct[i].duration_s)
        check = next(c for c in result.travel_checks if c["incident"] == row.id)
        simulated = row.intervals["travel"]
        assert simulated is not None
        difference = abs(simulated - direct[best].duration_s)
        from_post = next((p for p in post_names if world.posts[p] == check["from"]), None)
        same_post = from_post is not None and math.isclose(
            direct[post_names.index(from_post)].duration_s, direct[best].duration_s
        )
        worst = max(worst, difference)
        nearest_taken += same_post
        rows.append(
            {"lat": call.location.lat, "lon": call.location.lon, "simulated_travel_s": simulated,
             "direct_nearest_s": round(direct[best].duration_s, 3), "nearest_post": post_names[best],
             "post_sent_from": from_post, "turnout_s": row.intervals["turnout"], "source": direct[best].source}
        )  # fmt: skip
    passed = worst <= tolerance_s and nearest_taken == samples and all(r["turnout_s"] == 0 for r in rows)
    return GateResult(passed, samples, round(worst, 6), nearest_taken, world.engine, rows)


# --- Comparing policies over seeds ------------------------------------------------------------------

# Two-sided 95 % Student t quantiles by degrees of freedom.
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}  # fmt: skip


def _t95(df: int) -> float:
    if df <= 0:
        return math.nan
    return next((_T95[k] for k in sorted(_T95) if k >= df), 1.96)


def mean_ci(values: Sequence[float]) -> dict[str, Any]:
    """Mean over seeds with a 95 % t interval (half-width); None without two values."""
    clean = [v for v in values if v is not None and not math.isnan(v)]
    if not clean:
        return {"mean": None, "ci95": None, "n": 0}
    mean = statistics.fmean(clean)
    half = _t95(len(clean) - 1) * statistics.stdev(clean) / math.sqrt(len(clean)) if len(clean) > 1 else None
    return {"mean": mean, "ci95": half, "n": len(clean)}


METRICS: tuple[tuple[str, str], ...] = (
    ("p1_response_mean_min", "P1 response, mean (min)"),
    ("p1_response_median_min", "P1 response, median (min)"),
    ("p1_response_p90_min", "P1 response, p90 (min)"),
    ("p1_within_8_pct", "P1 reached within 8 min (%)"),
    ("p1_within_15_pct", "P1 reached within 15 min (%)"),
    ("p1_travel_median_min", "P1 travel, median (min)"),
    ("p2_response_median_min", "P2 response, median (min)"),
    ("p3_response_median_min", "P3 response, median (min)"),
    ("all_response_p90_min", "All response, p90 (min)"),
    ("all_response_mean_min", "All response, mean (min)"),
    ("all_late_8_pct", "All reached after 8 min (%)"),
    ("call_to_dispatch_mean_s", "Call to dispatch, mean (s)"),
    ("utilisation_pct", "Unit utilisation (%)"),
)


def run_metrics(result: RunResult) -> dict[str, float | None]:
    summary = result.summary()

    def get(group: dict[str, Any], interval: str, figure: str, scale: float = 60.0) -> float | None:
        value = group.get(interval, {}).get(figure)
        return None if value is None else value / scale

    p = summary["by_priority"]
    responses = [r for row in result.rows if (r := row.intervals.get("response")) is not None]
    within = summary["priority_1_within"]
    share = {k: (None if v["share"] is None else v["share"] * 100) for k, v in within.items()}
    return {
        "p1_response_mean_min": get(p.get("1", {}), "response", "mean"),
        "p1_response_median_min": get(p.get("1", {}), "response", "median"),
        "p1_response_p90_min": get(p.get("1", {}), "response", "p90"),
        "p1_within_8_pct": share.get("8"),
        "p1_within_15_pct": share.get("15"),
        "p1_travel_median_min": get(p.get("1", {}), "travel", "median"),
        "p2_response_median_min": get(p.get("2", {}), "response", "median"),
        "p3_response_median_min": get(p.get("3", {}), "response", "median"),
        "all_response_p90_min": get(summary["overall"], "response", "p90"),
        "all_response_mean_min": get(summary["overall"], "response", "mean"),
        # Late arrivals (issue 7's target): reached later than 8 minutes after the call, all priorities.
        "all_late_8_pct": (100.0 * sum(r > 480 for r in responses) / len(responses)) if responses else None,
        "call_to_dispatch_mean_s": get(summary["overall"], "call_to_dispatch", "mean", 1.0),
        "utilisation_pct": None if result.utilisation is None else 100.0 * result.utilisation,
    }


def comparison(results: Sequence[RunResult], policies: Sequence[str]) -> dict[str, Any]:
    """Per metric and policy: the mean over seeds with its 95 % CI, and the paired difference from the first
    policy (same calls, same seed), which is what tells a real difference from noise."""
    return comparison_of_metrics({(r.policy, r.seed): run_metrics(r) for r in results}, policies)


def comparison_of_metrics(
    per_run: dict[tuple[str, int], dict[str, float | None]], policies: Sequence[str]
) -> dict[str, Any]:
    """`comparison` from each run's metrics, (policy, seed) → `run_metrics` (e.g. read back from --json files
    of runs made in parallel, one seed each)."""
    seeds = sorted({seed for _, seed in per_run})
    base = policies[0]
    out: dict[str, Any] = {}
    for key, _label in METRICS:
        row: dict[str, Any] = {}
        for policy in policies:
            values = [per_run[(policy, s)][key] for s in seeds if (policy, s) in per_run]
            row[policy] = mean_ci([v for v in values if v is not None]) | {"per_seed": values}
            if policy != base:
                diffs = [
                    per_run[(policy, s)][key] - per_run[(base, s)][key]  # type: ignore[operator]
                    for s in seeds
                    if per_run.get((policy, s), {}).get(key) is not None
                    and per_run.get((base, s), {}).get(key) is not None
                ]
                row[policy]["difference_from_" + base] = mean_ci(diffs)
                relative = [
                    100.0 * (per_run[(policy, s)][key] / per_run[(base, s)][key] - 1)  # type: ignore[operator]
                    for s in seeds
                    if per_run.get((policy, s), {}).get(key) is not None and per_run[(base, s)].get(key)
                ]
                row[policy]["relative_to_" + base] = mean_ci(relative)
        out[key] = row
    return out
