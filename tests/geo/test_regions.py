"""Where a point lies: every kelurahan of Kota Malang, every hospital and puskesmas, and the service area's edge."""

import csv
import json
import math

import pytest
from shapely.geometry import Point, shape

from geo.imports import BUNDLED
from geo.points import LatLon
from geo.regions import Projection, locate
from tests.conftest import SHARED_MALANG

SURABAYA = LatLon(-7.2575, 112.7521)
ALUN_ALUN = LatLon(-7.98263, 112.63091)


def _rows(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


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


# --- Kota Malang --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.malang
def test_every_kelurahan_holds_its_own_representative_point(malang_places):
    features = json.loads((SHARED_MALANG / "malang_kelurahan_big2021.geojson").read_text())["features"]
    assert len(features) == 57
    wrong = []
    for feature in features:
        inner = shape(feature["geometry"]).representative_point()
        placement = locate(LatLon(inner.y, inner.x))
        expected = (feature["properties"]["NAMOBJ"], feature["properties"]["kecamatan"])
        if (
            placement.kelurahan,
            placement.kecamatan,
        ) != expected or placement.inside_service_area is not True:
            wrong.append((expected, placement))
    assert wrong == []


@pytest.mark.django_db
@pytest.mark.malang
@pytest.mark.parametrize("filename", ["malang_hospitals.csv", "malang_puskesmas.csv"])
def test_every_facility_inside_the_city_lies_in_the_kelurahan_its_file_gives(malang_places, filename):
    rows = [r for r in _rows(SHARED_MALANG / filename) if r["inside_kota_malang"] == "True"]
    assert len(rows) >= 15
    wrong = [
        (r["name"], r["kelurahan"], r["kecamatan"], placement)
        for r in rows
        if (placement := locate(LatLon(float(r["lat"]), float(r["lon"])))).kelurahan != r["kelurahan"]
        or placement.kecamatan != r["kecamatan"]
    ]
    assert wrong == []


@pytest.mark.django_db
@pytest.mark.malang
def test_the_hospital_just_over_the_city_boundary_is_outside_every_kelurahan_but_inside_the_buffer(
    malang_places, settings
):
    (umm,) = [r for r in _rows(SHARED_MALANG / "malang_hospitals.csv") if r["inside_kota_malang"] == "False"]
    point = LatLon(float(umm["lat"]), float(umm["lon"]))
    assert locate(point) == locate(point).__class__(kecamatan="", kelurahan="", inside_service_area=True)
    settings.GEO = {**settings.GEO, "SERVICE_AREA_BUFFER_M": 0.0}
    assert locate(point).inside_service_area is False


@pytest.mark.django_db
@pytest.mark.malang
def test_every_bundled_landmark_lies_in_the_kelurahan_its_row_gives(malang_places):
    rows = _rows(BUNDLED / "malang_landmarks.csv")
    assert len(rows) >= 40
    wrong = [
        (r["name"], r["kelurahan"], placement)
        for r in rows
        if (placement := locate(LatLon(float(r["lat"]), float(r["lon"])))).kelurahan != r["kelurahan"]
        or placement.kecamatan != r["kecamatan"]
    ]
    assert wrong == []


@pytest.fixture
def malang_edge(malang_places):
    """The easternmost vertex of the city boundary: every point of the city lies at or west of it."""
    boundary = shape(
        json.loads((SHARED_MALANG / "malang_kota_boundary_big.geojson").read_text())["features"][0][
            "geometry"
        ]
    )
    lon, lat = max(
        ((x, y) for polygon in getattr(boundary, "geoms", [boundary]) for x, y in polygon.exterior.coords),
        key=lambda xy: xy[0],
    )
    return LatLon(lat, lon)


@pytest.mark.django_db
@pytest.mark.malang
def test_a_point_300_m_beyond_the_boundary_is_inside_the_500_m_buffer(malang_edge, settings):
    settings.GEO = {**settings.GEO, "SERVICE_AREA_BUFFER_M": 500.0}
    assert locate(malang_edge).inside_service_area is True
    near = locate(_east_of(malang_edge, 300))
    assert (near.kelurahan, near.inside_service_area) == ("", True)


@pytest.mark.django_db
@pytest.mark.malang
def test_a_point_700_m_beyond_the_boundary_is_outside_the_500_m_buffer(malang_edge, settings):
    settings.GEO = {**settings.GEO, "SERVICE_AREA_BUFFER_M": 500.0}
    assert locate(_east_of(malang_edge, 700)).inside_service_area is False
    assert locate(SURABAYA).inside_service_area is False


@pytest.mark.django_db
@pytest.mark.malang
def test_the_buffer_follows_the_setting(malang_edge, settings):
    settings.GEO = {**settings.GEO, "SERVICE_AREA_BUFFER_M": 0.0}
    assert locate(_east_of(malang_edge, 300)).inside_service_area is False
    settings.GEO = {**settings.GEO, "SERVICE_AREA_BUFFER_M": 1000.0}
    assert locate(_east_of(malang_edge, 700)).inside_service_area is True


@pytest.mark.django_db
@pytest.mark.malang
def test_a_call_beyond_the_buffer_is_recorded_flagged_and_not_dispatched(
    malang_edge, call_taker, unit, sent_events, django_capture_on_commit_callbacks
):
    outside = _east_of(malang_edge, 2000)
    with django_capture_on_commit_callbacks(execute=True):
        answer = call_taker.post(
            "/api/v1/calls/",
            {"caller_phone": "081234567890", "complaint": "sesak napas", "priority": 1,
             "location": {"lat": round(outside.lat, 6), "lon": round(outside.lon, 6)}},
            format="json",
        )  # fmt: skip
    assert answer.status_code == 201, answer.json()
    incident = answer.json()["incident"]
    assert incident["outside_service_area"] is True
    assert incident["status"] == "pending"
    assert incident["assignments"] == []
    alerts = [e["data"].get("code") for e in sent_events if e["type"] == "alert"]
    assert "outside_service_area" in alerts


@pytest.mark.django_db
@pytest.mark.malang
def test_a_call_in_the_city_is_placed_in_its_kelurahan(malang_places, call_taker, unit):
    answer = call_taker.post(
        "/api/v1/calls/",
        {
            "caller_phone": "081234567891",
            "complaint": "jatuh",
            "priority": 2,
            "location": ALUN_ALUN.as_dict(),
        },
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    incident = answer.json()["incident"]
    assert (incident["kelurahan"], incident["kecamatan"], incident["outside_service_area"]) == (
        "Kiduldalem", "Klojen", False,
    )  # fmt: skip


def test_the_local_projection_keeps_distances_within_half_a_percent():
    projection = Projection(lat0=-7.98, lon0=112.63)
    a = Point(projection.xy(112.6000, -7.9500))
    b = Point(projection.xy(112.6600, -8.0100))
    from geopy.distance import geodesic

    exact = geodesic((-7.95, 112.60), (-8.01, 112.66)).meters
    assert a.distance(b) == pytest.approx(exact, rel=0.005)
    assert projection.lonlat(*projection.xy(112.61, -7.96)) == pytest.approx((112.61, -7.96))
