"""Where a point lies, on small regions made here: no regions at all, the buffer in metres, fresh data."""

import math

import pytest

from geo.models import Region
from geo.points import LatLon
from geo.regions import locate

ALUN_ALUN = LatLon(-7.98263, 112.63091)


def _east_of(point: LatLon, metres: float) -> LatLon:
    return LatLon(point.lat, point.lon + metres / (111_320 * math.cos(math.radians(point.lat))))


def square(lat: float, lon: float, half_m: float) -> dict:
    dlat = half_m / 110_574
    dlon = half_m / (111_320 * math.cos(math.radians(lat)))
    ring = [
        [lon - dlon, lat - dlat],
        [lon + dlon, lat - dlat],
        [lon + dlon, lat + dlat],
        [lon - dlon, lat + dlat],
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


@pytest.mark.django_db
def test_locate_without_regions_knows_nothing_and_flags_nothing():
    assert Region.objects.count() == 0
    placement = locate(ALUN_ALUN)
    assert (placement.kelurahan, placement.kecamatan, placement.inside_service_area) == ("", "", None)


@pytest.mark.django_db
def test_the_buffer_is_measured_in_metres_east_west_as_well_as_north_south(settings):
    settings.GEO = {**settings.GEO, "SERVICE_AREA_BUFFER_M": 500.0}
    Region.objects.create(kind="service_area", name="Kotak", geometry=square(-7.98, 112.63, 1000))
    edge_east = LatLon(-7.98, 112.63 + 1000 / (111_320 * math.cos(math.radians(-7.98))))
    edge_north = LatLon(-7.98 + 1000 / 110_574, 112.63)
    assert locate(_east_of(edge_east, 450)).inside_service_area is True
    assert locate(_east_of(edge_east, 550)).inside_service_area is False
    assert locate(LatLon(edge_north.lat + 450 / 110_574, 112.63)).inside_service_area is True
    assert locate(LatLon(edge_north.lat + 550 / 110_574, 112.63)).inside_service_area is False


@pytest.mark.django_db
def test_locate_sees_a_region_as_soon_as_it_is_imported_or_redrawn():
    assert locate(ALUN_ALUN).kelurahan == ""
    region = Region.objects.create(kind="kelurahan", name="Kiduldalem", geometry=square(-7.98, 112.63, 800))
    assert locate(ALUN_ALUN).kelurahan == "Kiduldalem"
    region.geometry = square(-7.90, 112.63, 800)
    region.save()
    assert locate(ALUN_ALUN).kelurahan == ""
