"""Which free unit should go: ranked by road travel time, with the priority's preferences."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from calls.models import Incident, Priority
from dispatch.models import ACTIVE_STATUSES, Assignment
from fleet.models import FREE_STATUSES, Unit
from geo.points import LatLon
from geo.routing import Leg, travel_times_to


@dataclass(frozen=True, slots=True)
class Candidate:
    unit: Unit
    leg: Leg
    score: float  # seconds, after the priority's preferences; lower is better
    from_station: bool  # ranked from its post because its own position is missing or stale
    reason: str


def unit_origin(unit: Unit, *, stale_after: timedelta) -> tuple[LatLon | None, bool]:
    """Where a unit starts from: its last position while fresh, else its post."""
    fresh = unit.location_at is not None and timezone.now() - unit.location_at <= stale_after
    if unit.lat is not None and unit.lon is not None and (fresh or unit.station is None):
        return LatLon(unit.lat, unit.lon), False
    if unit.station is not None:
        return LatLon(unit.station.lat, unit.station.lon), True
    return None, False


def units_free_for(incident: Incident, *, exclude_unit_ids: Iterable[int] = ()) -> QuerySet[Unit]:
    """Units that could take `incident` now: free, with no active assignment, fit for its priority."""
    busy = Assignment.objects.filter(unit=OuterRef("pk"), status__in=ACTIVE_STATUSES)
    units = (
        Unit.objects.select_related("station")
        .filter(status__in=FREE_STATUSES)
        .exclude(Exists(busy))
        .exclude(id__in=list(exclude_unit_ids))
    )
    if incident.priority == Priority.RED:
        units = units.exclude(kind=Unit.Kind.TRANSPORT)
    return units


def units_ranked_for(incident: Incident, units: Sequence[Unit]) -> list[Candidate]:
    """Best first. Travel time comes from `geo` (road where possible); priority 1 prefers ALS units."""
    if not incident.has_place:
        return []
    assert incident.lat is not None
    assert incident.lon is not None
    cfg = settings.DISPATCH
    stale = timedelta(seconds=cfg["POSITION_STALE_SECONDS"])
    placed: list[tuple[Unit, LatLon, bool]] = []
    for unit in units:
        origin, from_station = unit_origin(unit, stale_after=stale)
        if origin is not None:
            placed.append((unit, origin, from_station))
    legs = travel_times_to(destination=LatLon(incident.lat, incident.lon), origins=[o for _, o, _ in placed])
    candidates = []
    for (unit, _, from_station), leg in zip(placed, legs, strict=True):
        score, reason = leg.duration_s, "nearest by travel time"
        if incident.priority == Priority.RED and unit.kind != Unit.Kind.ALS:
            score += cfg["ALS_PREFERENCE_SECONDS"]
            reason = "not ALS: counted slower for priority 1"
        candidates.append(Candidate(unit, leg, score, from_station, reason))
    candidates.sort(key=lambda c: (c.score, c.leg.duration_s, c.unit.call_sign))
    return candidates
