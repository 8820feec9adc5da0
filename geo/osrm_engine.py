"""OSRM behind geo.routing: the engine in this process (osrm-bindings) or a separate osrm-routed over HTTP.

Both answer the same questions the same way. Each point is snapped once to its nearest road (kept per
network, so a unit parked at its post costs nothing the next time); many origins go to one destination in one
table call; the metres between a point and the road it snapped to are counted, at OFFROAD_SPEED_KMH. A point
farther than MAX_SNAP_M from any road, or a pair with no road between them, gets None, which geo.routing
answers with a geodesic estimate.

`fastest_to` ranks exactly without routing every origin. A route from origin o to destination d starts and
ends on the road within s_o and s_d metres of them, so it is at least |od| - s_o - s_d long; no road in the
network is faster than its top speed v (the profile clamps every speed to its class speed, rounds segment
durations up and never makes a turn cost less than nothing: geo/profiles/ambulance.lua), so it takes at least
(|od| - s_o - s_d) / v, plus the off-road metres that are added exactly. Origins are routed in order of that
bound (with slack for distance formulas and rounding), and once `limit` exact scores are in hand every origin
whose bound is above the `limit`-th best is proven slower and never routed. Snapping depends on the point
alone (the build passes --small-component-size 1, so OSRM never moves a point to another "big" piece of the
network because of the other points in a request): an origin routed in a small call gets exactly the answer
it gets in a full table.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from django.conf import settings

from geo.points import LatLon
from geo.roadnet import NetworkBuild, network_current, network_pointer, profile_speeds
from geo.routing import ROAD, Leg, Route, geodesic_leg

log = logging.getLogger(__name__)
T = TypeVar("T")

SCALE = 1_000_000  # OSRM's fixed-point degrees: passing key / SCALE makes OSRM see exactly the cached point
EARTH_RADIUS_M = 6_371_008.8
# Lower bounds stay below the truth: OSRM's and geopy's distances differ from a sphere's by < 0.6 % here,
# snap distances are rounded to 0.1 m and phantom durations to 0.1 s at each end.
DISTANCE_SLACK = 0.985
SNAP_SLACK_M = 1.0
DURATION_SLACK_S = 0.2
FIRST_BATCH_EXTRA = 4  # routed beyond `limit` in the first call: a few more make a good first threshold
SNAP_CACHE_MAX = 200_000
HTTP_CHUNK = 500  # coordinates per HTTP request: keeps URLs short; osrm-routed allows max-table-size²


Coordinate = tuple[float, float]  # (lon, lat) on OSRM's grid of 1e-6 degrees


class Points:
    """Points as OSRM will see them (rounded to its 1e-6 degree grid), with one int key each for the snap cache."""

    __slots__ = ("keys", "lat", "lon")

    def __init__(self, points: Sequence[LatLon]) -> None:
        n = len(points)
        lat = np.rint(np.fromiter((p.lat for p in points), dtype=float, count=n) * SCALE)
        lon = np.rint(np.fromiter((p.lon for p in points), dtype=float, count=n) * SCALE)
        self.keys: list[int] = (lon.astype(np.int64) * (1 << 32) + lat.astype(np.int64)).tolist()
        self.lat, self.lon = lat / SCALE, lon / SCALE

    def __len__(self) -> int:
        return len(self.keys)

    def coordinate(self, i: int) -> Coordinate:
        return (float(self.lon[i]), float(self.lat[i]))

    def coordinates(self, indices: Sequence[int]) -> list[Coordinate]:
        return list(zip(self.lon[indices].tolist(), self.lat[indices].tolist(), strict=True))


@dataclass(frozen=True, slots=True)
class Tuning:
    max_snap_m: float
    offroad_mps: float
    top_speed_mps: float

    @classmethod
    def from_settings(cls, top_speed_kmh: float) -> Tuning:
        cfg = settings.GEO
        return cls(
            max_snap_m=float(cfg.get("MAX_SNAP_M", 1000.0)),
            offroad_mps=float(cfg.get("OFFROAD_SPEED_KMH", 20.0)) / 3.6,
            top_speed_mps=top_speed_kmh / 3.6,
        )


class Network:
    """One OSRM dataset in service, with the snaps made on it; replaced whole when the dataset changes."""

    version: str
    top_speed_kmh: float

    def __init__(self) -> None:
        # Metres from each point seen to its nearest road, NaN beyond MAX_SNAP_M: snapped once per network.
        self.snapped_m: dict[int, float] = {}

    def nearest(self, points: Sequence[Coordinate]) -> list[tuple[float, float, float]]:
        """Where each point meets the road network: (lon, lat, metres away)."""
        raise NotImplementedError

    def table(
        self, destination: Coordinate, origins: Sequence[Coordinate]
    ) -> tuple[list[float | None], list[float | None]]:
        """Seconds and metres by road from each origin to the destination; None where no road leads there."""
        raise NotImplementedError

    def route(
        self, origin: Coordinate, destination: Coordinate
    ) -> tuple[float, float, list[list[float]]] | None:
        """Seconds, metres and [lon, lat] points of the fastest road route; None when there is none."""
        raise NotImplementedError


class LocalNetwork(Network):
    def __init__(self, build: NetworkBuild) -> None:
        super().__init__()
        import osrm

        self.osrm = osrm
        self.engine = osrm.OSRM(storage_config=str(build.base), algorithm="CH", use_shared_memory=False)
        self.version = build.id
        self.top_speed_kmh = build.top_speed_kmh

    def nearest(self, points: Sequence[Coordinate]) -> list[tuple[float, float, float]]:
        found = []
        for point in points:
            params = self.osrm.NearestParameters(coordinates=[point])
            params.generate_hints = False
            waypoint = self.engine.Nearest(params)["waypoints"][0]
            location = waypoint["location"]
            found.append((float(location[0]), float(location[1]), float(waypoint["distance"])))
        return found

    def table(
        self, destination: Coordinate, origins: Sequence[Coordinate]
    ) -> tuple[list[float | None], list[float | None]]:
        params = self.osrm.TableParameters(
            coordinates=[destination, *origins],
            sources=list(range(1, len(origins) + 1)),
            destinations=[0],
            annotations=["duration", "distance"],
            generate_hints=False,
        )
        params.skip_waypoints = True
        answer = self.engine.Table(params)
        return [row[0] for row in answer["durations"]], [row[0] for row in answer["distances"]]

    def route(
        self, origin: Coordinate, destination: Coordinate
    ) -> tuple[float, float, list[list[float]]] | None:
        params = self.osrm.RouteParameters(
            coordinates=[origin, destination], geometries="geojson", overview="full", generate_hints=False
        )
        try:
            answer = self.engine.Route(params)
        except RuntimeError as exc:
            if str(exc).startswith("NoRoute"):
                return None
            raise
        best = answer["routes"][0]
        points = [[float(c[0]), float(c[1])] for c in best["geometry"]["coordinates"]]
        return float(best["duration"]), float(best["distance"]), points


class NetworkChanged(Exception):
    """osrm-routed answered from another dataset than the snaps were made on."""


class HttpNetwork(Network):
    def __init__(self, *, url: str, timeout_s: float, top_speed_kmh: float) -> None:
        super().__init__()
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.top_speed_kmh = top_speed_kmh
        self.version = ""

    def get(self, service: str, points: Sequence[Coordinate], query: dict[str, str]) -> dict[str, Any]:
        """One osrm-routed request; its JSON answer, errors included (osrm-routed sends them as 400 + JSON)."""
        coordinates = ";".join(f"{lon:.6f},{lat:.6f}" for lon, lat in points)
        url = f"{self.url}/{service}/v1/driving/{coordinates}?{urllib.parse.urlencode(query, safe=',;')}"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                answer: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            answer = json.loads(exc.read() or b"{}")
        version = str(answer.get("data_version") or "")
        if self.version and version and version != self.version:
            raise NetworkChanged(f"{self.version} -> {version}")
        self.version = self.version or version
        return answer

    @staticmethod
    def _ok(answer: dict[str, Any]) -> dict[str, Any]:
        if answer.get("code") != "Ok":
            raise RuntimeError(f"osrm-routed: {answer.get('code')}: {answer.get('message')}")
        return answer

    def nearest(self, points: Sequence[Coordinate]) -> list[tuple[float, float, float]]:
        found: list[tuple[float, float, float]] = []
        for start in range(0, len(points), HTTP_CHUNK):
            chunk = points[start : start + HTTP_CHUNK]
            # A table from the first point to all of them snaps every point exactly as a table does.
            answer = self._ok(self.get("table", chunk, {"sources": "0", "generate_hints": "false"}))
            found += [(float(w["location"][0]), float(w["location"][1]), float(w["distance"]))
                      for w in answer["destinations"]]  # fmt: skip
        return found

    def table(
        self, destination: Coordinate, origins: Sequence[Coordinate]
    ) -> tuple[list[float | None], list[float | None]]:
        seconds: list[float | None] = []
        metres: list[float | None] = []
        for start in range(0, len(origins), HTTP_CHUNK):
            chunk = origins[start : start + HTTP_CHUNK]
            query = {
                "sources": ";".join(str(i) for i in range(1, len(chunk) + 1)),
                "destinations": "0",
                "annotations": "duration,distance",
                "skip_waypoints": "true",
                "generate_hints": "false",
            }
            answer = self._ok(self.get("table", [destination, *chunk], query))
            seconds += [row[0] for row in answer["durations"]]
            metres += [row[0] for row in answer["distances"]]
        return seconds, metres

    def route(
        self, origin: Coordinate, destination: Coordinate
    ) -> tuple[float, float, list[list[float]]] | None:
        query = {"overview": "full", "geometries": "geojson", "generate_hints": "false"}
        answer = self.get("route", [origin, destination], query)
        if answer.get("code") == "NoRoute":
            return None
        best = self._ok(answer)["routes"][0]
        return float(best["duration"]), float(best["distance"]), best["geometry"]["coordinates"]


def _haversine_m(lat: np.ndarray, lon: np.ndarray, to_lat: float, to_lon: float) -> np.ndarray:
    lat1, lon1 = np.radians(lat), np.radians(lon)
    lat2, lon2 = math.radians(to_lat), math.radians(to_lon)
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * math.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0))))


class OsrmEngine:
    """geo.routing.RoadEngine over OSRM; subclasses say where the network comes from."""

    name = "osrm"

    def __init__(self) -> None:
        self._network: Network | None = None
        self._lock = threading.Lock()

    # --- where the network comes from ---------------------------------------------------------

    def network(self) -> Network | None:
        return self._network

    def ready(self) -> bool:
        try:
            return self.network() is not None
        except Exception:
            log.exception("road engine not ready")
            return False

    def describe(self) -> str:
        network = self.network()
        if network is None:
            return f"{self.name}: no road network yet"
        return f"{self.name}: network {network.version or '(unversioned)'}, top speed {network.top_speed_kmh:g} km/h"

    def _on_network(self, work: Callable[[Network], T]) -> T:
        network = self.network()
        if network is None:
            raise RuntimeError("no road network in service")
        return work(network)

    def _retrying(self, work: Callable[[Network], T]) -> T:
        return self._on_network(work)

    # --- snapping and legs ------------------------------------------------------------------------

    @staticmethod
    def _snapped_m(network: Network, points: Points, tuning: Tuning) -> np.ndarray:
        """Metres from each point to the road network (NaN: too far to be routed), snapping new points only."""
        known = network.snapped_m
        missing = [i for i, k in enumerate(points.keys) if k not in known]
        if missing:
            if len(known) + len(missing) > SNAP_CACHE_MAX:
                known.clear()  # positions churn; a full cache is simply started again
            found = network.nearest(points.coordinates(missing))
            for i, (_, _, metres) in zip(missing, found, strict=True):
                known[points.keys[i]] = round(metres, 1) if metres <= tuning.max_snap_m else math.nan
        return np.fromiter(map(known.__getitem__, points.keys), dtype=float, count=len(points))

    @staticmethod
    def _leg(seconds: float | None, metres: float | None, ends: float, tuning: Tuning) -> Leg | None:
        if seconds is None or metres is None:
            return None
        return Leg(
            duration_s=round(seconds + ends / tuning.offroad_mps, 1),
            distance_m=round(metres + ends, 1),
            source=ROAD,
            snapped_m=round(ends, 1),
        )

    def _routed(
        self, network: Network, tuning: Tuning, points: Points, snapped: np.ndarray, indices: Sequence[int]
    ) -> list[Leg | None]:
        """Road legs from points[indices] (all near a road) to points[0], in one table call."""
        if not indices:
            return []
        seconds, metres = network.table(points.coordinate(0), points.coordinates(indices))
        ends = (snapped[indices] + snapped[0]).tolist()
        return [self._leg(s, m, e, tuning) for s, m, e in zip(seconds, metres, ends, strict=True)]

    # --- the RoadEngine interface ---------------------------------------------------------------------

    def table_to(self, destination: LatLon, origins: Sequence[LatLon]) -> list[Leg | None]:
        """Legs from each origin to the destination in one table call; None where the road cannot answer."""
        return self._retrying(lambda network: self._table_to(network, destination, origins))

    def _table_to(self, network: Network, destination: LatLon, origins: Sequence[LatLon]) -> list[Leg | None]:
        tuning = Tuning.from_settings(network.top_speed_kmh)
        points = Points([destination, *origins])
        snapped = self._snapped_m(network, points, tuning)
        legs: list[Leg | None] = [None] * len(origins)
        if math.isnan(snapped[0]):
            return legs
        routable = (np.flatnonzero(~np.isnan(snapped[1:])) + 1).tolist()
        for i, leg in zip(routable, self._routed(network, tuning, points, snapped, routable), strict=True):
            legs[i - 1] = leg
        return legs

    def fastest_to(
        self, destination: LatLon, origins: Sequence[LatLon], limit: int, handicaps_s: Sequence[float]
    ) -> list[Leg | None]:
        """Legs for the origins among the `limit` fastest by duration + handicap (ties at the limit included),
        geodesic where the road cannot answer; None for every other origin, each proven slower."""
        return self._retrying(lambda n: self._fastest_to(n, destination, origins, limit, handicaps_s))

    def _fastest_to(
        self,
        network: Network,
        destination: LatLon,
        origins: Sequence[LatLon],
        limit: int,
        handicaps_s: Sequence[float],
    ) -> list[Leg | None]:
        tuning = Tuning.from_settings(network.top_speed_kmh)
        geo = settings.GEO
        points = Points([destination, *origins])  # index 0 is the destination, never ranked
        snapped = self._snapped_m(network, points, tuning)
        handicap = np.concatenate(([0.0], np.asarray(handicaps_s, dtype=float)))
        on_road = ~np.isnan(snapped) & (not math.isnan(snapped[0]))

        # A lower bound of every origin's score. Should the road find no way, the answer is the geodesic
        # estimate, so a road origin's bound is the smaller of the two.
        straight = _haversine_m(points.lat, points.lon, float(points.lat[0]), float(points.lon[0]))
        straight *= DISTANCE_SLACK
        bound = straight * geo["CIRCUITY_FACTOR"] / (geo["URBAN_SPEED_KMH"] / 3.6)
        ends = np.where(on_road, snapped + snapped[0], 0.0)
        road = (np.maximum(straight - ends - 2 * SNAP_SLACK_M, 0.0) / tuning.top_speed_mps - DURATION_SLACK_S
                + ends / tuning.offroad_mps)  # fmt: skip
        bound = np.where(on_road, np.minimum(road, bound), bound) + handicap
        bound[0] = np.inf
        order = np.argsort(bound, kind="stable")[:-1]  # the destination sorts last
        sorted_bound = bound[order]
        count = len(order)

        legs: dict[int, Leg] = {}
        score = np.full(len(points), np.inf)

        def settle(indices: list[int]) -> None:
            road_indices = [i for i in indices if on_road[i]]
            found = dict(
                zip(road_indices, self._routed(network, tuning, points, snapped, road_indices), strict=True)
            )
            for i in indices:
                leg = found.get(i) or geodesic_leg(origins[i - 1], destination)
                legs[i] = leg
                score[i] = leg.duration_s + handicap[i]

        # Settle origins in order of their bound, in batches that double, each cut to the origins whose bound
        # can still beat or tie the limit-th best score found so far: that best falls fast.
        batch = limit + FIRST_BATCH_EXTRA
        done = min(count, batch)
        settle(order[:done].tolist())
        while done < count:
            threshold = np.partition(score, limit - 1)[limit - 1]
            upto = min(int(np.searchsorted(sorted_bound, threshold, side="right")), done + batch)
            if upto <= done:
                break
            settle(order[done:upto].tolist())
            done, batch = upto, batch * 2
        threshold = np.partition(score, limit - 1)[limit - 1] if count > limit else np.inf
        ranked: list[Leg | None] = [None] * count
        for i, leg in legs.items():
            if score[i] <= threshold:
                ranked[i - 1] = leg
        return ranked

    def route(self, origin: LatLon, destination: LatLon) -> Route | None:
        """The fastest road route as a GeoJSON LineString from the origin itself to the destination itself."""
        return self._retrying(lambda network: self._route(network, origin, destination))

    def _route(self, network: Network, origin: LatLon, destination: LatLon) -> Route | None:
        tuning = Tuning.from_settings(network.top_speed_kmh)
        points = Points([origin, destination])
        off_here, off_there = self._snapped_m(network, points, tuning).tolist()
        if math.isnan(off_here) or math.isnan(off_there):
            return None
        found = network.route(points.coordinate(0), points.coordinate(1))
        if found is None:
            return None
        seconds, metres, line = found
        leg = self._leg(seconds, metres, off_here + off_there, tuning)
        assert leg is not None
        # The crew's line starts where the unit is and ends at the patient, off-road pieces included.
        if off_here > 0.5:
            line = [[origin.lon, origin.lat], *line]
        if off_there > 0.5:
            line = [*line, [destination.lon, destination.lat]]
        return Route(leg=leg, geometry={"type": "LineString", "coordinates": line})


class LocalOsrmEngine(OsrmEngine):
    """The OSRM engine inside this process, on the network `data` points at; reloads when that changes."""

    def __init__(self, *, data: Path, check_every_s: float = 2.0) -> None:
        super().__init__()
        self.data = data
        self.check_every_s = check_every_s
        self._pointer: str | None = None
        self._failed: str | None = None
        self._checked_at = -math.inf

    def network(self) -> Network | None:
        if time.monotonic() - self._checked_at < self.check_every_s:
            return self._network
        with self._lock:
            if time.monotonic() - self._checked_at >= self.check_every_s:
                # One readlink: cheap enough to ask every few seconds whether another network is in service.
                pointer = network_pointer(self.data)
                if pointer not in (self._pointer, self._failed):
                    self._load(pointer)
                self._checked_at = time.monotonic()
        return self._network

    def _load(self, pointer: str) -> None:
        build = network_current(self.data)
        if build is None:
            self._network, self._pointer = None, pointer
            return
        started = time.monotonic()
        try:
            network = LocalNetwork(build)
        except Exception:
            # Keep answering from the network already loaded; try again when the pointer moves.
            log.exception("road network %s could not be loaded; keeping %s", build.id,
                          self._network.version if self._network else "none")  # fmt: skip
            self._failed = pointer
            return
        self._network, self._pointer, self._failed = network, pointer, None
        log.info("road network %s in service (loaded in %.2f s)", build.id, time.monotonic() - started)


class HttpOsrmEngine(OsrmEngine):
    """A separate osrm-routed at `url`, for networks too big for every worker to hold."""

    name = "osrm-http"

    def __init__(self, *, url: str, timeout_s: float = 2.0, top_speed_kmh: float) -> None:
        super().__init__()
        self.url = url
        self.timeout_s = timeout_s
        self.top_speed_kmh = top_speed_kmh

    def network(self) -> HttpNetwork:
        network = self._network
        if network is None:
            with self._lock:
                network = self._network = self._network or HttpNetwork(
                    url=self.url, timeout_s=self.timeout_s, top_speed_kmh=self.top_speed_kmh
                )
        assert isinstance(network, HttpNetwork)
        return network

    def ready(self) -> bool:
        try:
            answer = self.network().get("nearest", [(0.0, 0.0)], {"number": "1", "generate_hints": "false"})
        except NetworkChanged:
            self._reset()
            return True
        except Exception as exc:
            log.warning("osrm-routed at %s does not answer: %s", self.url, exc)
            return False
        return answer.get("code") == "Ok"

    def describe(self) -> str:
        return f"{self.name}: {self.url}, top speed {self.top_speed_kmh:g} km/h"

    def _reset(self) -> None:
        with self._lock:
            self._network = None

    def _retrying(self, work: Callable[[Network], T]) -> T:
        try:
            return self._on_network(work)
        except NetworkChanged:
            # osrm-routed was given a new network: the snaps belong to the old one.
            self._reset()
            return self._on_network(work)


def engine_from_settings(kind: str) -> OsrmEngine:
    """The engine settings.GEO asks for: "osrm" (in this process) or "osrm-http" (osrm-routed at OSRM_URL)."""
    cfg = settings.GEO
    data = Path(cfg.get("OSRM_DATA") or Path(settings.VAR_DIR) / "osrm")
    if kind == "osrm":
        return LocalOsrmEngine(data=data, check_every_s=float(cfg.get("OSRM_RELOAD_CHECK_SECONDS", 2.0)))
    if kind == "osrm-http":
        if not cfg.get("OSRM_URL"):
            raise ValueError("ROAD_ENGINE=osrm-http needs OSRM_URL (e.g. http://127.0.0.1:5000)")
        top = float(cfg.get("OSRM_TOP_SPEED_KMH") or 0.0)
        if not top:
            # The server's network, when this machine can see its data directory; else any network our
            # profile can build.
            build = network_current(data)
            top = build.top_speed_kmh if build else max(profile_speeds().values())
        return HttpOsrmEngine(url=str(cfg["OSRM_URL"]), timeout_s=float(cfg.get("OSRM_TIMEOUT_SECONDS", 2.0)),
                              top_speed_kmh=top)  # fmt: skip
    raise ValueError(f"unknown ROAD_ENGINE {kind!r}: use osrm or osrm-http")
