"""Which free unit should go: ranked by road travel time, with the priority's preferences."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from calls.models import Incident, Priority
from dispatch.models import ACTIVE_STATUSES, Assignment
from fleet.models import FREE_STATUSES, Unit
from geo.points import LatLon
from geo.routing import Leg, fastest_to, travel_times_to


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


def units_ranked_for(
    incident: Incident, units: Sequence[Unit], *, limit: int | None = None
) -> list[Candidate]:
    """Best first. Travel time comes from `geo` (road where possible); priority 1 prefers ALS units.

    With `limit`, only the first `limit` of exactly that ranking: geo routes as few units as it can prove
    enough, so auto-dispatch over a large fleet stays fast.
    """
    if not incident.has_place:
        return []
    assert incident.lat is not None
    assert incident.lon is not None
    cfg = settings.DISPATCH
    stale = timedelta(seconds=cfg["POSITION_STALE_SECONDS"])
    placed: list[tuple[Unit, LatLon, bool, float]] = []
    for unit in units:
        origin, from_station = unit_origin(unit, stale_after=stale)
        if origin is not None:
            # The ALS preference is a handicap in seconds, so the pruned ranking accounts for it exactly.
            slower = incident.priority == Priority.RED and unit.kind != Unit.Kind.ALS
            placed.append((unit, origin, from_station, cfg["ALS_PREFERENCE_SECONDS"] if slower else 0.0))
    destination = LatLon(incident.lat, incident.lon)
    origins = [o for _, o, _, _ in placed]
    legs: Sequence[Leg | None]
    if limit is None or limit >= len(placed):
        legs = travel_times_to(destination=destination, origins=origins)
    else:
        legs = fastest_to(destination=destination, origins=origins, limit=limit,
                          handicaps_s=[h for _, _, _, h in placed])  # fmt: skip
    candidates = []
    for (unit, _, from_station, handicap), leg in zip(placed, legs, strict=True):
        if leg is None:
            continue  # proven slower than the first `limit`
        reason = "not ALS: counted slower for priority 1" if handicap else "nearest by travel time"
        candidates.append(Candidate(unit, leg, leg.duration_s + handicap, from_station, reason))
    candidates.sort(key=lambda c: (c.score, c.leg.duration_s, c.unit.call_sign))
    return candidates if limit is None else candidates[:limit]


def units_best_first(incident: Incident, units: Sequence[Unit], *, first: int = 3) -> Iterator[Candidate]:
    """Candidates best first, lazily: the best `first` from a pruned ranking; the others only if asked for
    (when those were all taken by concurrent dispatches)."""
    ranked = units_ranked_for(incident, units, limit=first)
    yield from ranked
    if len(ranked) < first:
        return
    given = {c.unit.pk for c in ranked}
    yield from (c for c in units_ranked_for(incident, units) if c.unit.pk not in given)
