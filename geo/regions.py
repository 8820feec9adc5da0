"""Where a point lies: kecamatan, kelurahan and the service area, from imported polygons.

The polygons are held per process in a shapely index that is rebuilt when the regions (or the service-area
buffer) change, so a lookup costs one small version query and a few point-in-polygon tests.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from django.conf import settings
from django.db import connection
from shapely import STRtree, union_all
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.prepared import PreparedGeometry, prep

from geo.models import Region
from geo.points import LatLon

_METRES_PER_DEGREE_LAT = 110_574.0
_METRES_PER_DEGREE_LON = 111_320.0


@dataclass(frozen=True, slots=True)
class Placement:
    kecamatan: str
    kelurahan: str
    inside_service_area: bool | None  # None when no service area is configured


@dataclass(frozen=True, slots=True)
class Projection:
    """Local equirectangular metres around a reference point: exact enough (<0.5 %) across a city."""

    lat0: float
    lon0: float

    @property
    def _kx(self) -> float:
        return math.cos(math.radians(self.lat0)) * _METRES_PER_DEGREE_LON

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.lon0) * self._kx, (lat - self.lat0) * _METRES_PER_DEGREE_LAT

    def lonlat(self, x: float, y: float) -> tuple[float, float]:
        return x / self._kx + self.lon0, y / _METRES_PER_DEGREE_LAT + self.lat0

    def to_metres(self, geom: BaseGeometry) -> BaseGeometry:
        origin, scale = np.array([self.lon0, self.lat0]), np.array([self._kx, _METRES_PER_DEGREE_LAT])
        return shapely.transform(geom, lambda coords: (coords - origin) * scale)

    def to_degrees(self, geom: BaseGeometry) -> BaseGeometry:
        origin, scale = np.array([self.lon0, self.lat0]), np.array([self._kx, _METRES_PER_DEGREE_LAT])
        return shapely.transform(geom, lambda coords: coords / scale + origin)

    def point(self, where: LatLon) -> Point:
        return Point(self.xy(where.lon, where.lat))


def _stamp(value: Any) -> str:
    return "" if value is None else str(value)


def data_version(*models: type[Any]) -> tuple[str, ...]:
    """Row count and newest `updated_at` of each model's table, in one round trip: the caches' key."""
    quote = connection.ops.quote_name
    tables = [quote(model._meta.db_table) for model in models]  # names from model metadata, never input
    column = quote("updated_at")
    selects = [f"(SELECT COUNT(*) FROM {t}), (SELECT MAX({column}) FROM {t})" for t in tables]  # noqa: S608
    sql = "SELECT " + ", ".join(selects)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    return tuple(_stamp(v) for v in row)


@dataclass(frozen=True, slots=True)
class RegionShape:
    name: str
    kind: str
    parent: str  # the kecamatan of a kelurahan, "" otherwise
    geometry: BaseGeometry  # degrees
    metres: BaseGeometry  # local metres
    prepared: PreparedGeometry


@dataclass
class RegionIndex:
    """Immutable once built; replaced as a whole when the data changes."""

    projection: Projection
    kecamatan: list[RegionShape] = field(default_factory=list)
    kelurahan: list[RegionShape] = field(default_factory=list)
    service_area: PreparedGeometry | None = None  # buffered, in metres
    service_area_bounds: tuple[float, float, float, float] | None = None  # lon/lat of the buffered area
    _kec_tree: STRtree | None = None
    _kel_tree: STRtree | None = None

    def build_trees(self) -> None:
        self._kec_tree = STRtree([r.geometry for r in self.kecamatan]) if self.kecamatan else None
        self._kel_tree = STRtree([r.geometry for r in self.kelurahan]) if self.kelurahan else None

    @staticmethod
    def _first(tree: STRtree | None, shapes: list[RegionShape], p: Point) -> RegionShape | None:
        if tree is None:
            return None
        for i in sorted(tree.query(p)):
            if shapes[i].prepared.covers(p):
                return shapes[i]
        return None

    def kelurahan_at(self, lon: float, lat: float) -> RegionShape | None:
        return self._first(self._kel_tree, self.kelurahan, Point(lon, lat))

    def kecamatan_at(self, lon: float, lat: float) -> RegionShape | None:
        return self._first(self._kec_tree, self.kecamatan, Point(lon, lat))

    def kelurahan_crossed_by(self, geom: BaseGeometry) -> list[RegionShape]:
        """Kelurahan a line (degrees) passes through."""
        if self._kel_tree is None:
            return []
        return [self.kelurahan[i] for i in sorted(self._kel_tree.query(geom, predicate="intersects"))]

    def inside_service_area(self, lon: float, lat: float) -> bool | None:
        if self.service_area is None:
            return None
        return bool(self.service_area.covers(Point(self.projection.xy(lon, lat))))

    def locate(self, point: LatLon) -> Placement:
        kel = self.kelurahan_at(point.lon, point.lat)
        if kel is not None and kel.parent:
            kecamatan = kel.parent
        else:
            kec = self.kecamatan_at(point.lon, point.lat)
            kecamatan = kec.name if kec else ""
        return Placement(
            kecamatan=kecamatan,
            kelurahan=kel.name if kel else "",
            inside_service_area=self.inside_service_area(point.lon, point.lat),
        )


def _projection_for(geoms: Iterable[BaseGeometry]) -> Projection:
    geoms = list(geoms)
    if not geoms:
        return Projection(0.0, 0.0)
    minx, miny, maxx, maxy = union_all([g.envelope for g in geoms]).bounds
    return Projection(lat0=(miny + maxy) / 2, lon0=(minx + maxx) / 2)


def regions_index_build(buffer_m: float) -> RegionIndex:
    """Shapes of every region; the service area is the union of its polygons grown by `buffer_m` metres."""
    rows = list(Region.objects.select_related("parent").order_by("kind", "name"))
    geoms = {r.pk: shape(r.geometry) for r in rows}
    projection = _projection_for(geoms.values())
    index = RegionIndex(projection=projection)
    areas = []
    for region in rows:
        geom = geoms[region.pk]
        if region.kind == Region.Kind.SERVICE_AREA:
            areas.append(geom)
            continue
        parent = region.parent.name if region.parent and region.kind == Region.Kind.KELURAHAN else ""
        entry = RegionShape(region.name, region.kind, parent, geom, projection.to_metres(geom), prep(geom))
        (index.kecamatan if region.kind == Region.Kind.KECAMATAN else index.kelurahan).append(entry)
    if areas:
        grown = projection.to_metres(union_all(areas)).buffer(buffer_m)
        index.service_area = prep(grown)
        index.service_area_bounds = projection.to_degrees(grown).bounds
    _fill_missing_parents(index)
    index.build_trees()
    return index


def _fill_missing_parents(index: RegionIndex) -> None:
    """A kelurahan imported without its kecamatan link gets the kecamatan holding most of it."""
    if not index.kecamatan:
        return
    for i, kel in enumerate(index.kelurahan):
        if kel.parent:
            continue
        inner = kel.geometry.representative_point()
        holder = next((k.name for k in index.kecamatan if k.prepared.covers(inner)), "")
        index.kelurahan[i] = RegionShape(kel.name, kel.kind, holder, kel.geometry, kel.metres, kel.prepared)


class VersionedCache[T]:
    """One value per process, rebuilt when its version key changes; readers never see a torn pair."""

    def __init__(self) -> None:
        self._entry: tuple[Any, T] | None = None
        self._lock = threading.Lock()

    def get(self, version: Any, build: Callable[[], T]) -> T:
        entry = self._entry
        if entry is not None and entry[0] == version:
            return entry[1]
        with self._lock:
            entry = self._entry
            if entry is None or entry[0] != version:
                entry = (version, build())
                self._entry = entry
            return entry[1]


_cache: VersionedCache[RegionIndex] = VersionedCache()


def regions_index() -> RegionIndex:
    """The current per-process index of region shapes, rebuilt when the regions or the buffer change."""
    buffer_m = float(settings.GEO["SERVICE_AREA_BUFFER_M"])
    return _cache.get((*data_version(Region), buffer_m), lambda: regions_index_build(buffer_m))


def locate(point: LatLon) -> Placement:
    """Kecamatan and kelurahan names containing the point ("" if none) and whether it is in the service area."""
    return regions_index().locate(point)
