"""Units: list, detail, positions from the crew's phone, manual status."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from dispatch import services
from fleet.models import UnitPosition
from tests.api.contract import UNIT_FIELDS, assert_error, has_fields, is_location, is_time
from tests.factories import IncidentFactory, UnitFactory

pytestmark = pytest.mark.django_db


def iso(moment) -> str:
    return moment.isoformat()


def test_units_are_listed_with_the_contract_fields(viewer):
    free = UnitFactory()
    busy = UnitFactory()
    incident = IncidentFactory(priority=1)
    services.assignment_create(incident_id=incident.pk, unit_id=busy.pk, by=None)

    response = viewer.get("/api/v1/units/")

    assert response.status_code == 200
    units = {u["id"]: u for u in response.json()}
    assert set(units) == {free.pk, busy.pk}
    for unit in units.values():
        has_fields(unit, UNIT_FIELDS)
        assert is_location(unit["location"])
        assert is_time(unit["location_at"])
        assert set(unit["station"]) >= {"id", "name", "location"}
    assert units[free.pk]["active_assignment"] is None
    assert units[busy.pk]["status"] == "assigned"
    active = units[busy.pk]["active_assignment"]
    assert (active["status"], active["incident"]["id"], active["incident"]["priority"]) == (
        "assigned",
        incident.pk,
        1,
    )


def test_a_crew_lists_only_its_own_unit(make_client):
    own = UnitFactory()
    UnitFactory()
    crew = make_client(Role.CREW, unit=own)
    assert [u["id"] for u in crew.get("/api/v1/units/").json()] == [own.pk]


def test_the_unit_detail_has_the_contract_fields(viewer, unit):
    response = viewer.get(f"/api/v1/units/{unit.pk}/")
    assert response.status_code == 200
    body = response.json()
    has_fields(body, UNIT_FIELDS)
    assert (body["id"], body["call_sign"], body["kind"], body["owner"], body["status"]) == (
        unit.pk,
        unit.call_sign,
        "als",
        "psc",
        "available",
    )


def test_an_unknown_unit_is_not_found(viewer):
    assert_error(viewer.get("/api/v1/units/987654/"), 404, "not_found")


# --- Positions ----------------------------------------------------------------------------------


def test_a_batch_of_positions_is_accepted_and_moves_the_unit_to_the_latest(crew, unit):
    unit.location_at = timezone.now() - timedelta(hours=1)
    unit.save()
    t = timezone.now() - timedelta(minutes=1)
    batch = [
        {"lat": -7.97, "lon": 112.63, "at": iso(t), "heading": 10, "speed": 8.5, "accuracy": 12},
        {"lat": -7.96, "lon": 112.64, "at": iso(t + timedelta(seconds=10)), "heading": 20},
    ]

    response = crew.post(f"/api/v1/units/{unit.pk}/positions/", {"positions": batch}, format="json")

    assert response.status_code == 202
    unit.refresh_from_db()
    assert (unit.lat, unit.lon, unit.heading) == (-7.96, 112.64, 20)
    assert unit.location_at == t + timedelta(seconds=10)
    assert UnitPosition.objects.filter(unit=unit).count() == 2
    assert crew.get(f"/api/v1/units/{unit.pk}/").json()["location"] == {"lat": -7.96, "lon": 112.64}


def test_an_older_batch_is_kept_but_does_not_move_the_unit_back(crew, unit):
    now = timezone.now()
    crew.post(
        f"/api/v1/units/{unit.pk}/positions/",
        {"positions": [{"lat": -7.96, "lon": 112.64, "at": iso(now)}]},
        format="json",
    )
    late = [{"lat": -7.5, "lon": 112.5, "at": iso(now - timedelta(minutes=5))}]

    response = crew.post(f"/api/v1/units/{unit.pk}/positions/", {"positions": late}, format="json")

    assert response.status_code == 202
    unit.refresh_from_db()
    assert (unit.lat, unit.lon) == (-7.96, 112.64)
    assert UnitPosition.objects.filter(unit=unit).count() == 2


def test_a_position_from_the_future_does_not_pin_the_unit(crew, unit):
    future = timezone.now() + timedelta(days=1)
    crew.post(
        f"/api/v1/units/{unit.pk}/positions/",
        {"positions": [{"lat": -7.96, "lon": 112.64, "at": iso(future)}]},
        format="json",
    )
    unit.refresh_from_db()
    assert unit.location_at <= timezone.now() + timedelta(seconds=5)

    crew.post(
        f"/api/v1/units/{unit.pk}/positions/",
        {"positions": [{"lat": -7.95, "lon": 112.65, "at": iso(timezone.now() + timedelta(seconds=6))}]},
        format="json",
    )
    unit.refresh_from_db()
    assert (unit.lat, unit.lon) == (-7.95, 112.65)


# --- Unit status --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("available", "out_of_service"),
        ("out_of_service", "available"),
        ("returning", "available"),
        ("available", "returning"),
    ],
)
def test_a_crew_sets_its_unit_status_and_gets_the_unit_back(make_client, before, after):
    unit = UnitFactory(status=before)
    crew = make_client(Role.CREW, unit=unit)

    response = crew.post(f"/api/v1/units/{unit.pk}/status/", {"status": after}, format="json")

    assert response.status_code == 200
    body = response.json()
    has_fields(body, UNIT_FIELDS)
    assert body["status"] == after
    unit.refresh_from_db()
    assert unit.status == after


def test_a_dispatcher_sets_a_units_status(dispatcher, unit):
    response = dispatcher.post(
        f"/api/v1/units/{unit.pk}/status/", {"status": "out_of_service"}, format="json"
    )
    assert response.status_code == 200
    unit.refresh_from_db()
    assert unit.status == "out_of_service"


def test_a_unit_on_an_assignment_cannot_be_set_by_hand(crew, unit, db_state):
    services.assignment_create(incident_id=IncidentFactory().pk, unit_id=unit.pk, by=None)
    seen = db_state()

    response = crew.post(f"/api/v1/units/{unit.pk}/status/", {"status": "available"}, format="json")

    assert_error(response, 409, "unit_busy")
    assert db_state() == seen


@pytest.mark.parametrize(
    "status", ["assigned", "en_route", "on_scene", "transporting", "at_hospital", "x", ""]
)
def test_only_the_manual_statuses_can_be_set(crew, unit, db_state, status):
    seen = db_state()
    assert_error(
        crew.post(f"/api/v1/units/{unit.pk}/status/", {"status": status}, format="json"), 400, field="status"
    )
    assert db_state() == seen
