"""POST /api/v1/assignments/{id}/status/: one tap per status, from the crew's phone or the dispatcher."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch import services
from dispatch.models import Assignment, StatusChange
from tests.api.contract import ASSIGNMENT_FIELDS, assert_error, has_fields, is_time
from tests.factories import HospitalFactory, IncidentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def assignment(unit):
    return services.assignment_create(incident_id=IncidentFactory().pk, unit_id=unit.pk, by=None)


def tap(client, assignment, status, **fields):
    return client.post(
        f"/api/v1/assignments/{assignment.pk}/status/", {"status": status, **fields}, format="json"
    )


def test_a_crew_taps_through_every_status_to_cleared(crew, assignment, unit):
    hospital = HospitalFactory()
    seen_units = []
    for status in ["acknowledged", "en_route", "on_scene", "transporting", "at_hospital", "cleared"]:
        fields = {"hospital": hospital.pk} if status == "transporting" else {}
        response = tap(crew, assignment, status, **fields)
        assert response.status_code == 200, response.content
        body = response.json()
        has_fields(body, ASSIGNMENT_FIELDS)
        assert body["status"] == status
        stamp = "cleared_at" if status == "cleared" else f"{status}_at"
        assert is_time(body[stamp])
        unit.refresh_from_db()
        seen_units.append(unit.status)

    assert body["hospital"] == {"id": hospital.pk, "name": hospital.name}
    assert seen_units == ["assigned", "en_route", "on_scene", "transporting", "at_hospital", "returning"]
    incident = crew.get(f"/api/v1/incidents/{assignment.incident_id}/").json()
    assert incident["status"] == "closed"
    changes = StatusChange.objects.filter(assignment=assignment).order_by("id")
    assert all(c.by == crew.user for c in changes[1:])


def test_an_illegal_transition_is_a_409_and_changes_nothing(crew, assignment, db_state):
    seen = db_state()
    assert_error(tap(crew, assignment, "on_scene"), 409, "transition_not_allowed")
    assert_error(tap(crew, assignment, "cleared"), 409, "transition_not_allowed")
    assert db_state() == seen


def test_a_repeated_tap_answers_200_and_changes_nothing(crew, assignment, db_state):
    tap(crew, assignment, "acknowledged")
    seen = db_state()
    response = tap(crew, assignment, "acknowledged")
    assert response.status_code == 200
    assert response.json()["status"] == "acknowledged"
    assert db_state() == seen


def test_a_replayed_client_id_is_a_no_op(crew, assignment, db_state):
    client_id = str(uuid.uuid4())
    tap(crew, assignment, "acknowledged", client_id=client_id)
    tap(crew, assignment, "en_route")
    seen = db_state()

    response = tap(crew, assignment, "acknowledged", client_id=client_id)

    assert response.status_code == 200
    assert response.json()["status"] == "en_route"
    assert db_state() == seen


def test_an_offline_tap_keeps_its_time(crew, assignment):
    Assignment.objects.filter(pk=assignment.pk).update(assigned_at=timezone.now() - timedelta(minutes=10))
    tapped = (timezone.now() - timedelta(minutes=4)).replace(microsecond=0)

    response = tap(crew, assignment, "en_route", at=tapped.isoformat())

    assert response.status_code == 200
    assignment.refresh_from_db()
    assert assignment.en_route_at == tapped
    assert assignment.acknowledged_at == tapped


def test_a_crew_cannot_cancel_but_a_dispatcher_can(crew, dispatcher, assignment, unit, db_state):
    seen = db_state()
    assert_error(tap(crew, assignment, "cancelled"), 403, "permission_denied")
    assert db_state() == seen

    response = tap(dispatcher, assignment, "cancelled", reason="unit mogok")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["ended_reason"]) == ("cancelled", "unit mogok")
    unit.refresh_from_db()
    assert unit.status == "available"


@pytest.mark.parametrize("who", ["crew", "dispatcher"])
def test_nobody_can_expire_an_assignment_by_hand(request, who, assignment, db_state):
    seen = db_state()
    assert_error(tap(request.getfixturevalue(who), assignment, "expired"), 400, field="status")
    assert db_state() == seen


def test_a_crew_may_decline(crew, assignment, unit):
    response = tap(crew, assignment, "declined")
    assert response.status_code == 200
    unit.refresh_from_db()
    assert unit.status == "available"


def test_transporting_to_an_unknown_hospital_is_refused(crew, assignment, db_state):
    for status in ["en_route", "on_scene"]:
        tap(crew, assignment, status)
    seen = db_state()
    assert_error(tap(crew, assignment, "transporting", hospital=987654), 400, field="hospital")
    assert db_state() == seen


def test_an_unknown_assignment_is_not_found(crew):
    response = crew.post("/api/v1/assignments/987654/status/", {"status": "acknowledged"}, format="json")
    assert_error(response, 404, "not_found")


def test_the_assignment_detail_carries_the_route_for_the_crew(crew, assignment):
    response = crew.get(f"/api/v1/assignments/{assignment.pk}/")
    assert response.status_code == 200
    has_fields(response.json(), ASSIGNMENT_FIELDS | {"route"})
