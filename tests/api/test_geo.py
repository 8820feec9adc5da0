"""Geo endpoints, basic shape only (their search and reverse logic is tested in tests/geo)."""

import pytest

from tests.api.contract import (
    HOSPITAL_FIELDS,
    REVERSE_FIELDS,
    SEARCH_FIELDS,
    assert_error,
    has_fields,
    is_location,
)
from tests.factories import HospitalFactory

pytestmark = pytest.mark.django_db


def test_hospitals_are_listed_with_the_contract_fields(crew):
    hospital = HospitalFactory(name="RSUD Dr. Saiful Anwar")
    response = crew.get("/api/v1/hospitals/")
    assert response.status_code == 200
    (item,) = response.json()
    has_fields(item, HOSPITAL_FIELDS)
    assert (item["id"], item["name"], item["kind"]) == (hospital.pk, "RSUD Dr. Saiful Anwar", "hospital")
    assert item["ed_status"] in ("open", "diversion", "closed")
    assert is_location(item["location"])


def test_reverse_answers_the_contract_shape(crew):
    HospitalFactory()
    response = crew.get("/api/v1/geo/reverse/?lat=-7.9726&lon=112.6315")
    assert response.status_code == 200
    body = response.json()
    has_fields(body, REVERSE_FIELDS)
    assert isinstance(body["inside_service_area"], bool)
    assert set(body["nearest"]) >= {"name", "kind", "distance_m"}


def test_search_answers_a_list_of_places(dispatcher):
    HospitalFactory(name="RSUD Dr. Saiful Anwar")
    response = dispatcher.get("/api/v1/geo/search/?q=Saiful Anwar")
    assert response.status_code == 200
    places = response.json()
    assert isinstance(places, list)
    for place in places:
        has_fields(place, SEARCH_FIELDS)


@pytest.mark.parametrize(
    "query",
    [
        "lat=91&lon=112.6",
        "lat=-7.9&lon=181",
        "lat=NaN&lon=112.6",
        "lat=-7.9&lon=Infinity",
        "lat=abc&lon=1",
        "lon=112.6",
        "",
    ],
)
def test_reverse_refuses_what_is_not_a_coordinate(crew, query):
    assert_error(crew.get(f"/api/v1/geo/reverse/?{query}"), 400)


def test_search_without_words_is_refused(dispatcher):
    assert_error(dispatcher.get("/api/v1/geo/search/"), 400, field="q")
