"""Coverage: how much of the city's demand the free units can still reach within the target time.

Expected coverage in the MEXCLP family (Daskin 1983): a demand point i of weight w_i reached within the target by
k_i free units is covered with probability 1 - q^k_i, q being the chance that a unit is busy when called
(`DISPATCH["COVERAGE_BUSY_FRACTION"]`). Demand is the kelurahan (population where imported, else its area), spread
over `POINTS_PER_KELURAHAN` fixed points inside it. "Within the target" is judged on the response, not the drive:
a unit covers a point when its road time there is at most `DISPATCH["COVERAGE_TARGET_SECONDS"]` less the expected
call-to-departure time `DISPATCH["COVERAGE_TURNOUT_SECONDS"]` (`reach_seconds`). A free unit on its way back counts
at the post it is heading to (its standby place, as in dynamic MEXCLP, Jagtenberg et al. 2015).

The "coverage" policy sends, among the candidates whose plan scores are within
`DISPATCH["COVERAGE_TOLERANCE_SECONDS"]` of the best, the one whose departure leaves the most expected coverage.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Max
from shapely.geometry import shape

from calls.models import Incident
from dispatch.plans import candidates_planned, units_ranked_by_plan
from dispatch.policies import policy_register
from dispatch.ranking import Candidate, unit_origin, units_ranked_for
from fleet.models import Unit, UnitStatus
from geo.models import Region
from geo.points import LatLon
from geo.routing import engine_name, travel_times_to


@dataclass(frozen=True, slots=True)
class DemandPoint:
    name: str  # the kelurahan
    kecamatan: str
    at: LatLon
    weight: float  # a share of the city's demand; all points sum to 1


# Each kelurahan's demand sits at its representative point and this many more, fixed, inside it: one point would
# call a kelurahan 2-3 km across covered or not as a whole.
POINTS_PER_KELURAHAN = 5
_demand_cache: tuple[object, list[DemandPoint]] | None = None
# Travel seconds from a (rounded) origin to a demand point: posts do not move, so this fills once per worker.
_legs_cache: dict[tuple[str, float, float, float, float], float] = {}
_LEGS_CACHE_MAX = 500_000


def points_inside(geometry: object, count: int, rng: random.Random) -> list[LatLon]:
    """`count` points uniformly inside a lon/lat polygon (rejection sampling in its bounding box)."""
    from shapely.geometry import Point
    from shapely.prepared import prep

    west, south, east, north = geometry.bounds  # type: ignore[attr-defined]
    inside = prep(geometry)
    found: list[LatLon] = []
    for _ in range(10_000 * max(count, 1)):
        if len(found) >= count:
            break
        lon, lat = rng.uniform(west, east), rng.uniform(south, north)
        if inside.contains(Point(lon, lat)):
            found.append(LatLon(lat, lon))
    return found


def demand_points() -> list[DemandPoint]:
    """The kelurahan as demand points (population, else area, as weight; spread over `POINTS_PER_KELURAHAN`
    fixed points inside each), cached until the regions change."""
    global _demand_cache
    kelurahan = Region.objects.filter(kind=Region.Kind.KELURAHAN)
    version = tuple(kelurahan.aggregate(n=Count("id"), at=Max("updated_at")).values())
    if _demand_cache is not None and _demand_cache[0] == version:
        return _demand_cache[1]
    raw = []
    for region in kelurahan.select_related("parent").order_by("name"):
        geometry = shape(region.geometry)
        centre = geometry.representative_point()
        spots = [LatLon(centre.y, centre.x)]
        spots += points_inside(geometry, POINTS_PER_KELURAHAN - 1, random.Random(f"demand:{region.name}"))
        # Area in degrees² is enough for relative weights inside one city.
        weight = float(region.population) if region.population else geometry.area
        raw += [(region, at, weight / len(spots)) for at in spots]
    total = sum(w for _, _, w in raw) or 1.0
    points = [DemandPoint(r.name, r.parent.name if r.parent else "", at, w / total) for r, at, w in raw]
    _demand_cache = (version, points)
    return points


def travel_seconds(origins: Sequence[LatLon], points: Sequence[LatLon | DemandPoint]) -> list[list[float]]:
    """seconds[o][p] from each origin to each point, through `geo` (cached per rounded origin and engine)."""
    table = [[0.0] * len(points) for _ in origins]
    engine = engine_name()
    keys = [(engine, round(o.lat, 4), round(o.lon, 4)) for o in origins]
    for p, point in enumerate(points):
        at = point.at if isinstance(point, DemandPoint) else point
        missing = [i for i, k in enumerate(keys) if (*k, at.lat, at.lon) not in _legs_cache]
        if missing:
            legs = travel_times_to(destination=at, origins=[origins[i] for i in missing])
            if len(_legs_cache) > _LEGS_CACHE_MAX:
                _legs_cache.clear()
            for i, leg in zip(missing, legs, strict=True):
                _legs_cache[(*keys[i], at.lat, at.lon)] = leg.duration_s
        for i, k in enumerate(keys):
            table[i][p] = _legs_cache[(*k, at.lat, at.lon)]
    return table


def reach_seconds() -> float:
    """The road time within which a unit waiting at its post reaches a call inside the response target."""
    cfg = settings.DISPATCH
    return float(cfg["COVERAGE_TARGET_SECONDS"]) - float(cfg.get("COVERAGE_TURNOUT_SECONDS", 0))


def expected_coverage(
    counts: Iterable[int], points: Sequence[DemandPoint], *, q: float | None = None
) -> float:
    """Σ w_i (1 - q^k_i): the share of demand expected to be reached within the target (0..1)."""
    busy = float(settings.DISPATCH["COVERAGE_BUSY_FRACTION"]) if q is None else q
    return sum(p.weight * (1 - busy**k) for k, p in zip(counts, points, strict=True))


def covering_counts(
    seconds: Sequence[Sequence[float]], n_points: int, *, skip: int | None = None
) -> list[int]:
    """k_i: how many origins (all but `skip`) reach each demand point within the target."""
    reach = reach_seconds()
    counts = [0] * n_points
    for o, row in enumerate(seconds):
        if o == skip:
            continue
        for p, s in enumerate(row):
            if s <= reach:
                counts[p] += 1
    return counts


def unit_origins(units: Sequence[Unit]) -> list[LatLon | None]:
    """Where each unit stands by for coverage: its post when on its way back there, else where it starts from."""
    stale = timedelta(seconds=settings.DISPATCH["POSITION_STALE_SECONDS"])
    return [
        LatLon(u.station.lat, u.station.lon)
        if u.status == UnitStatus.RETURNING and u.station is not None
        else unit_origin(u, stale_after=stale)[0]
        for u in units
    ]


def candidates_by_coverage(
    incident: Incident, planned: Sequence[Candidate], units: Sequence[Unit]
) -> list[Candidate]:
    """`planned` (best first) with, among those within the tolerance of the best, the one whose departure
    keeps the most expected coverage of the other free `units` moved to the front. Reads only."""
    if len(planned) < 2:
        return list(planned)
    tolerance = float(settings.DISPATCH["COVERAGE_TOLERANCE_SECONDS"])
    near = [c for c in planned if c.score <= planned[0].score + tolerance]
    points = demand_points()
    if len(near) < 2 or not points:
        return list(planned)
    placed = [(u, o) for u, o in zip(units, unit_origins(units), strict=True) if o is not None]
    seconds = travel_seconds([o for _, o in placed], points)
    index = {u.pk: i for i, (u, _) in enumerate(placed)}
    kept = {
        c.unit.pk: expected_coverage(covering_counts(seconds, len(points), skip=index.get(c.unit.pk)), points)
        for c in near
    }
    chosen = max(near, key=lambda c: (kept[c.unit.pk], -near.index(c)))
    if chosen is planned[0]:
        reason = f"{chosen.reason}; leaves {kept[chosen.unit.pk]:.0%} of demand covered"
    else:
        reason = (
            f"{chosen.score - planned[0].score:.0f} s behind {planned[0].unit.call_sign} but leaves "
            f"{kept[chosen.unit.pk]:.0%} of demand covered within the target, against "
            f"{kept[planned[0].unit.pk]:.0%}"
        )
    first = Candidate(chosen.unit, chosen.leg, chosen.score, chosen.from_station, reason)
    return [first, *(c for c in planned if c is not chosen)]


@policy_register(
    "coverage",
    description="the response plans, then among candidates within DISPATCH_COVERAGE_TOLERANCE_SECONDS of the "
    "best, the one whose departure leaves the most expected coverage (MEXCLP, kelurahan demand)",
)
def units_ranked_by_coverage(incident: Incident, units: Sequence[Unit]) -> list[Candidate]:
    """Best first by the response plan, then coverage among near-equal candidates. Reads only."""
    planned = candidates_planned(incident, units_ranked_for(incident, units))
    if math.isclose(float(settings.DISPATCH["COVERAGE_TOLERANCE_SECONDS"]), 0.0):
        return planned
    return candidates_by_coverage(incident, planned, units)


# Policies under which the console's move-up plan is applied as soon as it changes (the simulator plays the
# dispatcher's click); ranking is the same as without it.
MOVEUP_POLICIES = frozenset({"moveup", "coverage+moveup"})
policy_register(
    "moveup",
    description="the response plans, with the move-up plan (GET /api/v1/moveup/) applied as it changes",
)(units_ranked_by_plan)
policy_register(
    "coverage+moveup",
    description="coverage-aware dispatch, with the move-up plan (GET /api/v1/moveup/) applied as it changes",
)(units_ranked_by_coverage)
