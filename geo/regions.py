"""Where a point lies: kecamatan, kelurahan and the service area, from imported polygons."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Max
from shapely.geometry import Point, shape
from shapely.prepared import prep

from geo.models import Region
from geo.points import LatLon

_METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True, slots=True)
class Placement:
    kecamatan: str
    kelurahan: str
    inside_service_area: bool | None  # None when no service area is configured


class _Index:
    def __init__(self) -> None:
        self.version: tuple[Any, ...] | None = None
        self.kecamatan: list[tuple[str, Any]] = []
        self.kelurahan: list[tuple[str, Any]] = []
        self.service_area: Any = None


_index = _Index()
_lock = threading.Lock()


def _current() -> _Index:
    version = tuple(Region.objects.aggregate(n=Count("id"), t=Max("updated_at")).values())
    with _lock:
        if _index.version != version:
            kec, kel, areas = [], [], []
            for region in Region.objects.all():
                geom = shape(region.geometry)
                if region.kind == Region.Kind.KECAMATAN:
                    kec.append((region.name, prep(geom)))
                elif region.kind == Region.Kind.KELURAHAN:
                    kel.append((region.name, prep(geom)))
                else:
                    areas.append(geom)
            buffer_deg = settings.GEO["SERVICE_AREA_BUFFER_M"] / _METRES_PER_DEGREE
            _index.kecamatan, _index.kelurahan = kec, kel
            _index.service_area = prep(_union(areas).buffer(buffer_deg)) if areas else None
            _index.version = version
        return _index


def _union(geoms: list[Any]) -> Any:
    from shapely import union_all

    return union_all(geoms)


def locate(point: LatLon) -> Placement:
    """Kecamatan and kelurahan names containing the point ("" if none) and whether it is in the service area."""
    index = _current()
    p = Point(point.lon, point.lat)
    kecamatan = next((name for name, geom in index.kecamatan if geom.covers(p)), "")
    kelurahan = next((name for name, geom in index.kelurahan if geom.covers(p)), "")
    inside = None if index.service_area is None else bool(index.service_area.covers(p))
    return Placement(kecamatan=kecamatan, kelurahan=kelurahan, inside_service_area=inside)
