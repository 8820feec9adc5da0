"""Travel times between points: the one interface the rest of the system routes through.

A road engine answers when one is configured and can route the leg; otherwise the geodesic estimate
(straight line x circuity factor at an assumed urban speed) answers, and the leg says so in `source`.
`fastest_to` answers "which of these origins are fastest" exactly, routing only the origins it must.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings
from geopy.distance import great_circle

from geo.points import LatLon

log = logging.getLogger(__name__)

ROAD = "road"
GEODESIC = "geodesic"


@dataclass(frozen=True, slots=True)
class Leg:
    duration_s: float
    distance_m: float
    source: str  # "road" | "geodesic"
    snapped_m: float = 0.0  # how far the ends lay from the road network, for the record


@dataclass(frozen=True, slots=True)
class Route:
    leg: Leg
    geometry: dict[str, Any] | None = field(default=None)  # GeoJSON LineString


class RoadEngine(Protocol):
    name: str

    def table_to(self, destination: LatLon, origins: Sequence[LatLon]) -> list[Leg | None]:
        """Legs from each origin to the destination; None where the engine cannot route it."""

    def fastest_to(
        self, destination: LatLon, origins: Sequence[LatLon], limit: int, handicaps_s: Sequence[float]
    ) -> list[Leg | None]:
        """Legs (geodesic where the road cannot answer) for the origins among the `limit` fastest by
        duration + handicap, ties included; None for the others, each proven slower."""

    def route(self, origin: LatLon, destination: LatLon) -> Route | None: ...

    def ready(self) -> bool: ...

    def describe(self) -> str:
        """One line for people: which engine, which network."""


def geodesic_leg(origin: LatLon, destination: LatLon) -> Leg:
    """The estimate without roads: the great-circle distance times the circuity factor at the urban speed.
    (The sphere is within 0.5 % of the ellipsoid, far inside the estimate's own error, and 100 times faster:
    ranking a fleet by estimate was mostly spent in Karney's ellipsoidal geodesic.)"""
    cfg = settings.GEO
    metres = great_circle((origin.lat, origin.lon), (destination.lat, destination.lon)).meters
    road_metres = metres * cfg["CIRCUITY_FACTOR"]
    return Leg(
        duration_s=road_metres / (cfg["URBAN_SPEED_KMH"] / 3.6), distance_m=road_metres, source=GEODESIC
    )


@functools.cache
def road_engine() -> RoadEngine | None:
    """The configured road engine, loaded once per process; None means geodesic only."""
    kind = settings.GEO["ROAD_ENGINE"]
    if not kind:
        return None
    try:
        from geo import osrm_engine  # loads the native engine only when configured

        return osrm_engine.engine_from_settings(kind)
    except Exception:
        log.exception("road engine %r could not be loaded; answering geodesic", kind)
        return None


def _serving_engine() -> RoadEngine | None:
    """The road engine if it has a network to answer from; an in-process engine before its first build has none,
    and then the estimate answers at once, without an error per query."""
    engine = road_engine()
    network = getattr(engine, "network", None)
    if engine is not None and network is not None:
        try:
            if network() is None:
                return None
        except Exception:
            return engine  # let the query itself fail, log and fall back
    return engine


def engine_name() -> str:
    engine = _serving_engine()
    return engine.name if engine else GEODESIC


def travel_times_to(*, destination: LatLon, origins: Sequence[LatLon]) -> list[Leg]:
    """One leg per origin towards `destination`: road where routable, geodesic otherwise; never raises."""
    if not origins:
        return []
    engine = _serving_engine()
    legs: list[Leg | None] = [None] * len(origins)
    if engine is not None:
        try:
            legs = engine.table_to(destination, origins)
        except Exception:
            log.exception("road engine failed on a table; answering geodesic")
            legs = [None] * len(origins)
    return [leg or geodesic_leg(o, destination) for leg, o in zip(legs, origins, strict=True)]


def fastest_to(
    *, destination: LatLon, origins: Sequence[LatLon], limit: int, handicaps_s: Sequence[float] | None = None
) -> list[Leg | None]:
    """The `limit` fastest origins by duration + handicap, exactly as a full table would rank them.

    Legs for those (ties at the limit included), None for every other origin: it is proven slower, without
    having been routed. Road where routable, geodesic otherwise, as in travel_times_to; an engine failure
    answers geodesic, never raises.
    """
    handicaps = list(handicaps_s) if handicaps_s is not None else [0.0] * len(origins)
    if limit < 1:
        raise ValueError("limit must be at least 1")
    engine = _serving_engine()
    if engine is not None and limit < len(origins):
        try:
            return engine.fastest_to(destination, origins, limit, handicaps)
        except Exception:
            log.exception("road engine failed on a ranking; answering geodesic")
            legs = [geodesic_leg(o, destination) for o in origins]
    else:
        legs = travel_times_to(destination=destination, origins=origins)
    if limit >= len(legs):
        return list(legs)
    scores = sorted(leg.duration_s + h for leg, h in zip(legs, handicaps, strict=True))
    threshold = scores[limit - 1]
    return [leg if leg.duration_s + h <= threshold else None for leg, h in zip(legs, handicaps, strict=True)]


def route_between(*, origin: LatLon, destination: LatLon) -> Route:
    """The route for a crew: road geometry where the engine gives one, a geodesic estimate otherwise."""
    engine = _serving_engine()
    if engine is not None:
        try:
            found = engine.route(origin, destination)
            if found is not None:
                return found
        except Exception:
            log.exception("road engine failed on a route; answering geodesic")
    return Route(leg=geodesic_leg(origin, destination), geometry=None)
