"""Move-up: which free unit should stand by at which post so that every kecamatan stays covered.

A kecamatan counts as covered when at least `KECAMATAN_COVERED_SHARE` of its demand is reachable by some free
unit within the response target (`dispatch.coverage.reach_seconds`). The plan is greedy (dynamic MEXCLP
relocation, Jagtenberg et al. 2015): repeatedly take the single move of a free unit to a post that covers the most
kecamatan, then adds the most expected coverage, until no move helps or `DISPATCH["MOVEUP_MAX_MOVES"]` moves are
planned. A unit on its way back (counted at the post it heads for) is redirected for any gain: it drives anyway, and
this is what sends a freed unit where it adds the most coverage rather than home. A unit waiting at its post moves
only for at least `MIN_GAIN` of expected coverage and within `DISPATCH["MOVEUP_MAX_TRAVEL_SECONDS"]`, unless the
move covers a kecamatan nobody covers. `GET /api/v1/moveup/` shows the plan on the console; `POST /api/v1/moveup/`
`{"unit", "station"}` applies one move (the unit's post changes until a dispatcher moves it back).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.errors import Conflict
from accounts.models import Role
from accounts.permissions import role_permission
from dispatch import events, services
from dispatch.coverage import (
    DemandPoint,
    covering_counts,
    demand_points,
    expected_coverage,
    reach_seconds,
    travel_seconds,
)
from dispatch.coverage import unit_origins as _unit_origins
from dispatch.models import ACTIVE_STATUSES, Assignment, StatusChange
from dispatch.ranking import unit_origin
from dispatch.selectors import units_with_assignment
from dispatch.serializers import UnitSerializer
from fleet.models import FREE_STATUSES, Station, Unit, UnitStatus
from geo.points import LatLon
from geo.routing import travel_times_to

KECAMATAN_COVERED_SHARE = 0.5
# A move that covers no new kecamatan must add at least this much expected coverage (no shuffling for crumbs).
MIN_GAIN = 0.005


@dataclass(frozen=True, slots=True)
class Move:
    unit: Unit
    to: Station
    travel_s: float
    newly_covered: tuple[str, ...]  # kecamatan
    coverage_before: float
    coverage_after: float


@dataclass(frozen=True, slots=True)
class MoveUpPlan:
    coverage: float  # expected coverage now (0..1)
    coverage_after: float
    uncovered: tuple[str, ...]  # kecamatan not covered now
    uncovered_after: tuple[str, ...]
    moves: tuple[Move, ...]


def kecamatan_uncovered(counts: Sequence[int], points: Sequence[DemandPoint]) -> set[str]:
    """The kecamatan whose demand within the target is less than the covered share."""
    total: dict[str, float] = defaultdict(float)
    reached: dict[str, float] = defaultdict(float)
    for k, point in zip(counts, points, strict=True):
        total[point.kecamatan] += point.weight
        if k:
            reached[point.kecamatan] += point.weight
    return {name for name, w in total.items() if reached[name] < KECAMATAN_COVERED_SHARE * w - 1e-12}


def _units_free() -> list[Unit]:
    busy = Assignment.objects.filter(unit=OuterRef("pk"), status__in=ACTIVE_STATUSES)
    return list(Unit.objects.select_related("station").filter(status__in=FREE_STATUSES).exclude(Exists(busy)))


def moveup_plan(*, max_moves: int | None = None) -> MoveUpPlan:
    """The greedy move-up plan for the free units now. Reads only (routing through `geo`, cached).

    A unit on its way back may be sent to any post within reach (it drives anyway: dynamic MEXCLP's "send the
    freed unit where it adds the most coverage"); one waiting at its post moves only for a gain of at least
    `MIN_GAIN` and to a post within `DISPATCH["MOVEUP_MAX_TRAVEL_SECONDS"]`."""
    cfg = settings.DISPATCH
    limit = cfg["MOVEUP_MAX_MOVES"] if max_moves is None else max_moves
    max_travel = float(cfg.get("MOVEUP_MAX_TRAVEL_SECONDS", 600))
    points = demand_points()
    free = _units_free()
    # For coverage a unit stands by where it is heading (a unit on its way back: its post).
    placed = [(u, o) for u, o in zip(free, _unit_origins(free), strict=True) if o is not None]
    units, standby = [u for u, _ in placed], [o for _, o in placed]
    stations = list(Station.objects.order_by("name"))
    if not points or not units or not stations:
        return MoveUpPlan(0.0, 0.0, (), (), ())
    stale = timedelta(seconds=cfg["POSITION_STALE_SECONDS"])
    here = [unit_origin(u, stale_after=stale)[0] or standby[i] for i, u in enumerate(units)]
    station_at = [LatLon(s.lat, s.lon) for s in stations]
    rows = list(travel_seconds(standby, points))
    station_rows = travel_seconds(station_at, points)
    # drive[s][i]: from where unit i is now to station s.
    drive = [[leg.duration_s for leg in travel_times_to(destination=at, origins=here)] for at in station_at]
    reach = reach_seconds()
    q = float(cfg["COVERAGE_BUSY_FRACTION"])
    counts = covering_counts(rows, len(points))
    before_cov, before_unc = expected_coverage(counts, points), kecamatan_uncovered(counts, points)
    cov, unc = before_cov, before_unc
    # Each trial move changes only the points one of its two places covers: evaluate just those.
    unit_cover = [frozenset(p for p, t in enumerate(row) if t <= reach) for row in rows]
    station_cover = [frozenset(p for p, t in enumerate(row) if t <= reach) for row in station_rows]
    kecamatan_total: dict[str, float] = defaultdict(float)
    for point in points:
        kecamatan_total[point.kecamatan] += point.weight
    movable = {i for i, u in enumerate(units) if u.status in (UnitStatus.AVAILABLE, UnitStatus.RETURNING)}
    moves: list[Move] = []
    while len(moves) < limit and movable:
        reached: dict[str, float] = defaultdict(float)
        for k, point in zip(counts, points, strict=True):
            reached[point.kecamatan] += point.weight if k else 0.0
        best: tuple[tuple[int, float, float], int, int] | None = None
        for i in movable:
            returning = units[i].status == UnitStatus.RETURNING
            for s, station in enumerate(stations):
                if units[i].station_id == station.pk:
                    continue
                gain, changed = 0.0, dict(reached)
                for p in station_cover[s] - unit_cover[i]:
                    gain += points[p].weight * (q ** counts[p] - q ** (counts[p] + 1))
                    if counts[p] == 0:
                        changed[points[p].kecamatan] += points[p].weight
                for p in unit_cover[i] - station_cover[s]:
                    gain -= points[p].weight * (q ** (counts[p] - 1) - q ** counts[p])
                    if counts[p] == 1:
                        changed[points[p].kecamatan] -= points[p].weight
                n_unc = sum(
                    changed[name] < KECAMATAN_COVERED_SHARE * total - 1e-12
                    for name, total in kecamatan_total.items()
                )
                # Covering a kecamatan that nobody covers is worth a long drive; coverage alone is not.
                if drive[s][i] > max_travel and not returning and n_unc >= len(unc):
                    continue
                # A unit on its way back changes course for any gain; one standing by needs MIN_GAIN.
                if (-n_unc, gain) <= (-len(unc), 1e-9 if returning else MIN_GAIN):
                    continue
                key = (-n_unc, gain, -drive[s][i])
                if best is None or key > best[0]:
                    best = (key, i, s)
        if best is None:
            break
        _, i, s = best
        trial = list(counts)
        for p in station_cover[s]:
            trial[p] += 1
        for p in unit_cover[i]:
            trial[p] -= 1
        new_cov, new_unc = expected_coverage(trial, points), kecamatan_uncovered(trial, points)
        moves.append(Move(units[i], stations[s], drive[s][i], tuple(sorted(unc - new_unc)), cov, new_cov))
        rows[i], unit_cover[i] = station_rows[s], station_cover[s]
        counts, cov, unc = trial, new_cov, new_unc
        movable.discard(i)
    return MoveUpPlan(before_cov, cov, tuple(sorted(before_unc)), tuple(sorted(unc)), tuple(moves))


def _target() -> float:
    return float(settings.DISPATCH["COVERAGE_TARGET_SECONDS"])


def unit_station_move(*, unit_id: int, station_id: int, by: Any) -> Unit:
    """Make `station_id` the free unit's post (a move-up); locks the unit; 409 while it is on a job.

    Records the change (status history, reason "move-up") and `unit.updated`.
    """
    with events.atomic():
        unit = (
            Unit.objects.select_for_update(of=("self",)).select_related("station").filter(pk=unit_id).first()
        )
        station = Station.objects.filter(pk=station_id).first()
        if unit is None or station is None:
            raise services.NotFound("unit" if unit is None else "station")
        if not unit.is_free or unit.assignments.filter(status__in=ACTIVE_STATUSES).exists():
            raise Conflict(f"Unit {unit.call_sign} is not free ({unit.status}).", code="unit_not_free")
        if unit.station_id == station.pk:
            return units_with_assignment().get(pk=unit.pk)
        events.status_changed(
            subject=StatusChange.Subject.UNIT, unit=unit, from_status=unit.status, to_status=unit.status,
            at=timezone.now(), by=by if getattr(by, "is_authenticated", False) else None,
            reason=f"move-up: {unit.station.name if unit.station else '-'} → {station.name}"[:200],
        )  # fmt: skip
        unit.station = station
        unit.save(update_fields=["station"])
        fresh = units_with_assignment().get(pk=unit.pk)
        events.unit_updated(fresh, actor=by)
        return fresh


# --- The console's interface -------------------------------------------------------------------


def _reason(move: Move) -> str:
    gain = (
        f"covers {', '.join(move.newly_covered)} within the target"
        if move.newly_covered
        else f"expected coverage {move.coverage_before:.0%} → {move.coverage_after:.0%}"
    )
    if move.unit.status == UnitStatus.RETURNING:
        return f"on its way back: {gain}"
    return gain


def _plan_data(plan: MoveUpPlan) -> dict[str, Any]:
    return {
        "target_seconds": _target(),
        "coverage": round(plan.coverage, 4),
        "coverage_after": round(plan.coverage_after, 4),
        "uncovered": list(plan.uncovered),
        "uncovered_after": list(plan.uncovered_after),
        "moves": [
            {
                "unit": {"id": m.unit.pk, "call_sign": m.unit.call_sign, "kind": m.unit.kind},
                "from_station": (
                    {"id": m.unit.station.pk, "name": m.unit.station.name} if m.unit.station else None
                ),
                "to_station": {
                    "id": m.to.pk,
                    "name": m.to.name,
                    "location": {"lat": m.to.lat, "lon": m.to.lon},
                },
                "travel_seconds": round(m.travel_s, 1),
                "newly_covered": list(m.newly_covered),
                "coverage_before": round(m.coverage_before, 4),
                "coverage_after": round(m.coverage_after, 4),
                "reason": _reason(m),
            }
            for m in plan.moves
        ],
    }


class MoveUpInput(serializers.Serializer):
    unit = serializers.IntegerField(min_value=1, max_value=2**62)
    station = serializers.IntegerField(min_value=1, max_value=2**62)


class MoveUpView(APIView):
    def get_permissions(self) -> list[Any]:
        roles = (Role.DISPATCHER,) if self.request.method == "POST" else (Role.DISPATCHER, Role.SUPERVISOR)
        return [role_permission(*roles)()]

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response(_plan_data(moveup_plan()))

    @extend_schema(request=MoveUpInput, responses=UnitSerializer)
    def post(self, request: Request) -> Response:
        body = MoveUpInput(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            unit = unit_station_move(
                unit_id=body.validated_data["unit"],
                station_id=body.validated_data["station"],
                by=request.user,
            )
        except services.NotFound as exc:
            raise NotFound(f"No such {exc.what}.") from None
        return Response(UnitSerializer(unit).data)


urlpatterns = [path("moveup/", MoveUpView.as_view(), name="moveup")]
