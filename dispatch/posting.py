"""Posting plan: for a given number of units, which posts cover the city best, compared with today's posting.

Candidate sites are the posts (`fleet.Station`) and the puskesmas and hospitals of `geo` (a facility that is already
a post counts once, as the post). The plan maximises expected coverage (MEXCLP, Daskin 1983) over the demand of
`dispatch.coverage`: kelurahan population or area, a unit covering what it reaches within the response target
(`coverage.reach_seconds`), busy with probability `DISPATCH["COVERAGE_BUSY_FRACTION"]`. It places the units one at a
time where each adds the most (several may share a site), then moves single units between sites while that gains
(an interchange pass), which is the usual heuristic for MEXCLP. Both the plan and today's posting (the units' posts)
are reported with their expected coverage, the share of demand some post reaches within the target, and the
nearest-post road time to demand-weighted random points (median and 90th percentile).
`GET /api/v1/posting-plan/?units=N` answers for the console; `python manage.py posting_plan` prints it.
"""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from shapely.geometry import shape

from accounts.errors import Conflict
from accounts.models import Role
from accounts.permissions import role_permission
from dispatch.coverage import DemandPoint, demand_points, points_inside, reach_seconds, travel_seconds
from fleet.models import Station, Unit, UnitStatus
from geo.models import Facility, Region
from geo.points import LatLon

# Random demand points for the nearest-post road times (the same every time: the figures compare postings).
SAMPLE_POINTS = 600
SAMPLE_SEED = "posting-sample"
# A facility this close to a post is that post.
SAME_SITE_M = 50.0
MAX_UNITS = 500


@dataclass(frozen=True, slots=True)
class Site:
    kind: str  # "station" | "puskesmas" | "hospital"
    id: int
    name: str
    at: LatLon


@dataclass(frozen=True)
class PostingFigures:
    posts: tuple[tuple[Site, int], ...]  # site, units there
    expected_coverage: float  # 0..1
    covered_share: float  # demand reached by at least one post within the target, 0..1
    median_s: float | None  # nearest-post road time to a demand-weighted random point
    p90_s: float | None
    kecamatan_covered: dict[str, float]  # kecamatan → its demand reached within the target, 0..1


@dataclass(frozen=True)
class PostingComparison:
    units: int
    target_seconds: float
    plan: PostingFigures
    current: PostingFigures


def _metres_apart(a: LatLon, b: LatLon) -> float:
    return abs(a.lat - b.lat) * 110_574 + abs(a.lon - b.lon) * 111_320 * 0.99  # near the equator: cos ≈ 0.99


def sites_candidate() -> list[Site]:
    """The posts, then every puskesmas and hospital that is not already one. Reads only."""
    sites = [Site("station", s.pk, s.name, LatLon(s.lat, s.lon)) for s in Station.objects.order_by("name")]
    posted = set(Station.objects.exclude(facility=None).values_list("facility_id", flat=True))
    facilities = Facility.objects.filter(kind__in=[Facility.Kind.PUSKESMAS, Facility.Kind.HOSPITAL])
    for facility in facilities.order_by("kind", "name"):
        at = LatLon(facility.lat, facility.lon)
        if facility.pk in posted or any(_metres_apart(at, s.at) < SAME_SITE_M for s in sites):
            continue
        sites.append(Site(str(facility.kind), facility.pk, facility.name, at))
    return sites


def posting_current() -> list[tuple[Site, int]]:
    """Today's posting: the units in service by their post. Reads only."""
    counts: dict[int, int] = defaultdict(int)
    in_service = Unit.objects.exclude(status=UnitStatus.OUT_OF_SERVICE).exclude(station=None)
    for station_id in in_service.values_list("station_id", flat=True):
        counts[station_id] += 1
    stations = Station.objects.filter(pk__in=counts).order_by("name")
    return [(Site("station", s.pk, s.name, LatLon(s.lat, s.lon)), counts[s.pk]) for s in stations]


def _covers(rows: Sequence[Sequence[float]], reach: float) -> list[list[int]]:
    return [[p for p, s in enumerate(row) if s <= reach] for row in rows]


def _gain(cover: Sequence[int], k: Sequence[int], weights: Sequence[float], q: float) -> float:
    """What one more unit at a site adds to Σ w (1 - q^k): Σ over the points it covers of w (1 - q) q^k."""
    return sum(weights[p] * (1 - q) * q ** k[p] for p in cover)


def placement_mexclp(
    rows: Sequence[Sequence[float]], weights: Sequence[float], *, units: int, q: float, reach: float
) -> list[int]:
    """Units per site (rows[site][point] road seconds) maximising Σ w (1 - q^k): greedy, then single-unit
    moves between sites while one gains. Ties go to the earlier site."""
    cover = _covers(rows, reach)
    k = [0] * len(weights)
    placed = [0] * len(rows)
    for _ in range(units):
        best = max(range(len(rows)), key=lambda s: (_gain(cover[s], k, weights, q), -s))
        placed[best] += 1
        for p in cover[best]:
            k[p] += 1
    for _ in range(10 * max(units, 1)):
        improved = False
        for a in [s for s in range(len(rows)) if placed[s]]:
            for p in cover[a]:
                k[p] -= 1  # take one unit away from a ...
            loss = _gain(cover[a], k, weights, q)
            b = max(range(len(rows)), key=lambda s: (_gain(cover[s], k, weights, q), -s))
            if b != a and _gain(cover[b], k, weights, q) > loss + 1e-12:  # ... and put it where it adds most
                placed[a] -= 1
                placed[b] += 1
                improved = True
                for p in cover[b]:
                    k[p] += 1
            else:
                for p in cover[a]:
                    k[p] += 1
        if not improved:
            break
    return placed


def _sample_points(points: Sequence[DemandPoint]) -> list[LatLon]:
    """`SAMPLE_POINTS` points drawn by demand weight (kelurahan), uniformly inside the kelurahan."""
    rng = random.Random(SAMPLE_SEED)
    weights: dict[str, float] = defaultdict(float)
    for point in points:
        weights[point.name] += point.weight
    names = sorted(weights)
    geometry = {
        r.name: shape(r.geometry) for r in Region.objects.filter(kind=Region.Kind.KELURAHAN, name__in=names)
    }
    drawn = rng.choices(names, weights=[weights[n] for n in names], k=SAMPLE_POINTS)
    out = []
    for name in drawn:
        inside = points_inside(geometry[name], 1, rng)
        out += inside or [next(p.at for p in points if p.name == name)]
    return out


def _percentile(values: Sequence[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def posting_figures(
    posts: Sequence[tuple[Site, int]],
    *,
    points: Sequence[DemandPoint] | None = None,
    sample: Sequence[LatLon] | None = None,
) -> PostingFigures:
    """Expected coverage, covered share and nearest-post road times of a posting. Reads only."""
    points = demand_points() if points is None else points
    sample = _sample_points(points) if sample is None else sample
    posts = [(site, n) for site, n in posts if n > 0]
    q = float(settings.DISPATCH["COVERAGE_BUSY_FRACTION"])
    reach = reach_seconds()
    rows = travel_seconds([site.at for site, _ in posts], points)
    k = [0] * len(points)
    for (_, n), row in zip(posts, rows, strict=True):
        for p, seconds in enumerate(row):
            if seconds <= reach:
                k[p] += n
    total: dict[str, float] = defaultdict(float)
    reached: dict[str, float] = defaultdict(float)
    for point, count in zip(points, k, strict=True):
        total[point.kecamatan] += point.weight
        reached[point.kecamatan] += point.weight if count else 0.0
    nearest: list[float] = []
    if posts and sample:
        sample_rows = travel_seconds([site.at for site, _ in posts], sample)
        nearest = [min(column) for column in zip(*sample_rows, strict=True)]
    return PostingFigures(
        posts=tuple(posts),
        expected_coverage=sum(p.weight * (1 - q**c) for p, c in zip(points, k, strict=True)),
        covered_share=sum(p.weight for p, c in zip(points, k, strict=True) if c),
        median_s=statistics.median(nearest) if nearest else None,
        p90_s=_percentile(nearest, 0.9),
        kecamatan_covered={name: reached[name] / w if w else 0.0 for name, w in sorted(total.items())},
    )


def posting_plan(*, units: int) -> PostingComparison:
    """The MEXCLP posting of `units` units over the candidate sites, against today's posting. Reads only
    (road times through `geo`, cached); raises Conflict when no kelurahan (demand) is imported."""
    points = demand_points()
    if not points:
        raise Conflict("No kelurahan imported: the plan has no demand to cover.", code="no_demand")
    sites = sites_candidate()
    if not sites:
        raise Conflict("No posts, puskesmas or hospitals to place units at.", code="no_sites")
    q = float(settings.DISPATCH["COVERAGE_BUSY_FRACTION"])
    rows = travel_seconds([s.at for s in sites], points)
    placed = placement_mexclp(rows, [p.weight for p in points], units=units, q=q, reach=reach_seconds())
    sample = _sample_points(points)
    plan = posting_figures(
        [(s, n) for s, n in zip(sites, placed, strict=True) if n], points=points, sample=sample
    )
    current = posting_figures(posting_current(), points=points, sample=sample)
    return PostingComparison(units, float(settings.DISPATCH["COVERAGE_TARGET_SECONDS"]), plan, current)


# --- The console's interface -------------------------------------------------------------------


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _figures_data(figures: PostingFigures) -> dict[str, Any]:
    return {
        "posts": [
            {
                "site": {
                    "kind": site.kind,
                    "id": site.id,
                    "name": site.name,
                    "location": {"lat": site.at.lat, "lon": site.at.lon},
                },
                "units": n,
            }
            for site, n in figures.posts
        ],
        "expected_coverage": round(figures.expected_coverage, 4),
        "covered_share": round(figures.covered_share, 4),
        "median_s": _round(figures.median_s, 1),
        "p90_s": _round(figures.p90_s, 1),
    }


def posting_data(comparison: PostingComparison) -> dict[str, Any]:
    """The response body of GET /api/v1/posting-plan/ (and the command's --json)."""
    names = sorted(set(comparison.plan.kecamatan_covered) | set(comparison.current.kecamatan_covered))
    return {
        "units": comparison.units,
        "target_seconds": comparison.target_seconds,
        "plan": _figures_data(comparison.plan),
        "current": _figures_data(comparison.current),
        "kecamatan": [
            {
                "name": name,
                "plan_covered_share": round(comparison.plan.kecamatan_covered.get(name, 0.0), 4),
                "current_covered_share": round(comparison.current.kecamatan_covered.get(name, 0.0), 4),
            }
            for name in names
        ],
    }


class PostingPlanQuery(serializers.Serializer):
    units = serializers.IntegerField(min_value=1, max_value=MAX_UNITS, required=False)


class PostingPlanView(APIView):
    permission_classes = [role_permission(Role.DISPATCHER, Role.SUPERVISOR)]

    @extend_schema(
        parameters=[
            OpenApiParameter("units", int, description="units to post (default: today's in service)")
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> Response:
        query = PostingPlanQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        units = query.validated_data.get("units") or sum(n for _, n in posting_current())
        if units < 1:
            raise Conflict("No units in service: give ?units=N.", code="no_units")
        return Response(posting_data(posting_plan(units=units)))


urlpatterns = [path("posting-plan/", PostingPlanView.as_view(), name="posting-plan")]
