"""Incidents: list, detail, recommendations, assignments (with replace), cancel."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch import services, tasks
from dispatch.models import Assignment
from fleet.models import Unit
from tests.api.contract import (
    ASSIGNMENT_FIELDS,
    INCIDENT_FIELDS,
    UNIT_FIELDS,
    assert_error,
    has_fields,
    is_location,
    is_time,
)
from tests.factories import CENTRE, CallFactory, IncidentFactory, UnitFactory

pytestmark = pytest.mark.django_db

KM = 1 / 111.32


def unit_at(km_north: float, **fields) -> Unit:
    return UnitFactory(lat=CENTRE[0] + km_north * KM, lon=CENTRE[1], **fields)


# --- List ---------------------------------------------------------------------------------------


def test_open_incidents_are_listed_newest_first(viewer):
    now = timezone.now()
    older = IncidentFactory(received_at=now - timedelta(minutes=20), status="dispatched")
    newest = IncidentFactory(received_at=now - timedelta(minutes=1))
    middle = IncidentFactory(received_at=now - timedelta(minutes=10), status="transporting")
    IncidentFactory(received_at=now, status="closed")
    IncidentFactory(received_at=now, status="cancelled")

    response = viewer.get("/api/v1/incidents/?status=open")

    assert response.status_code == 200
    assert [i["id"] for i in response.json()] == [newest.pk, middle.pk, older.pk]
    for item in response.json():
        has_fields(item, INCIDENT_FIELDS)


def test_without_a_filter_every_incident_is_listed_and_a_status_filters_exactly(viewer):
    IncidentFactory(status="pending")
    closed = IncidentFactory(status="closed")
    assert len(viewer.get("/api/v1/incidents/").json()) == 2
    assert [i["id"] for i in viewer.get("/api/v1/incidents/?status=closed").json()] == [closed.pk]


def test_an_unknown_status_filter_is_refused(viewer):
    assert_error(viewer.get("/api/v1/incidents/?status=terbuka"), 400, field="status")


# --- Detail -------------------------------------------------------------------------------------


def test_the_detail_has_every_field_of_the_contract(dispatcher):
    unit = unit_at(1)
    call = CallFactory(incident=IncidentFactory(kecamatan="Klojen", kelurahan="Kauman", patient_count=2))
    incident = call.incident
    services.assignment_create(incident_id=incident.pk, unit_id=unit.pk, by=dispatcher.user)

    response = dispatcher.get(f"/api/v1/incidents/{incident.pk}/")

    assert response.status_code == 200
    body = response.json()
    has_fields(body, INCIDENT_FIELDS)
    assert body["id"] == incident.pk
    assert body["number"] == incident.number
    assert (body["status"], body["priority"], body["complaint"]) == ("dispatched", 2, "sesak napas")
    assert is_location(body["location"])
    assert (body["kecamatan"], body["kelurahan"], body["patient_count"]) == ("Klojen", "Kauman", 2)
    assert body["outside_service_area"] is False
    assert is_time(body["created_at"])
    assert [c["id"] for c in body["calls"]] == [call.pk]
    assert body["calls"][0]["caller_phone"] == "+6281234567890"
    (assignment,) = body["assignments"]
    has_fields(assignment, ASSIGNMENT_FIELDS)
    assert (assignment["status"], assignment["unit"]["id"]) == ("assigned", unit.pk)
    assert assignment["incident"]["id"] == incident.pk
    assert is_time(assignment["assigned_at"])
    assert assignment["acknowledged_at"] is None
    assert assignment["source"] in ("road", "geodesic")


def test_an_unknown_incident_is_not_found(dispatcher):
    assert_error(dispatcher.get("/api/v1/incidents/987654/"), 404, "not_found")


# --- Recommendations ----------------------------------------------------------------------------


def test_recommendations_list_the_free_units_best_first(dispatcher):
    far, near = unit_at(3), unit_at(0.5)
    unit_at(0.1, status="out_of_service")
    busy = unit_at(0.2)
    services.assignment_create(incident_id=IncidentFactory().pk, unit_id=busy.pk, by=dispatcher.user)
    incident = IncidentFactory()

    response = dispatcher.get(f"/api/v1/incidents/{incident.pk}/recommendations/")

    assert response.status_code == 200
    units = response.json()["units"]
    assert [u["unit"]["id"] for u in units] == [near.pk, far.pk]
    for item in units:
        assert set(item) >= {"unit", "eta_seconds", "distance_m", "source"}
        has_fields(item["unit"], UNIT_FIELDS)
        assert item["source"] in ("road", "geodesic")
        assert item["eta_seconds"] > 0
        assert item["distance_m"] > 0
    assert units[0]["eta_seconds"] < units[1]["eta_seconds"]


def test_recommendations_for_priority_1_put_als_first_and_leave_transport_out(dispatcher):
    unit_at(0.1, kind="transport")
    bls = unit_at(0.5, kind="bls")
    als = unit_at(1.5, kind="als")
    incident = IncidentFactory(priority=1)

    units = dispatcher.get(f"/api/v1/incidents/{incident.pk}/recommendations/").json()["units"]

    assert [u["unit"]["id"] for u in units] == [als.pk, bls.pk]


def test_recommendations_for_an_unknown_incident_are_not_found(dispatcher):
    assert_error(dispatcher.get("/api/v1/incidents/987654/recommendations/"), 404)


# --- Assignments --------------------------------------------------------------------------------


def test_a_dispatcher_assigns_a_free_unit(dispatcher):
    unit = unit_at(1)
    incident = IncidentFactory()

    response = dispatcher.post(
        f"/api/v1/incidents/{incident.pk}/assignments/", {"unit": unit.pk}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    has_fields(body, ASSIGNMENT_FIELDS)
    assert (body["status"], body["unit"]["id"], body["incident"]["id"]) == ("assigned", unit.pk, incident.pk)
    assert body["eta_seconds"] > 0
    unit.refresh_from_db()
    incident.refresh_from_db()
    assert (unit.status, incident.status) == ("assigned", "dispatched")


@pytest.mark.parametrize("status", ["assigned", "en_route", "out_of_service", "at_hospital"])
def test_assigning_a_unit_that_is_not_free_is_a_409_and_changes_nothing(dispatcher, db_state, status):
    unit = unit_at(1, status=status)
    incident = IncidentFactory()
    seen = db_state()

    response = dispatcher.post(
        f"/api/v1/incidents/{incident.pk}/assignments/", {"unit": unit.pk}, format="json"
    )

    assert_error(response, 409, "unit_not_free")
    assert db_state() == seen


def test_a_unit_already_on_another_incident_cannot_be_assigned(dispatcher, db_state):
    unit = unit_at(1)
    tasks.dispatch_incident(IncidentFactory().pk)
    other = IncidentFactory()
    seen = db_state()

    response = dispatcher.post(f"/api/v1/incidents/{other.pk}/assignments/", {"unit": unit.pk}, format="json")

    assert_error(response, 409, "unit_not_free")
    assert db_state() == seen


def test_replace_moves_the_incident_to_another_unit(dispatcher):
    first, second = unit_at(0.5), unit_at(2)
    incident = IncidentFactory()
    old = tasks.dispatch_incident(incident.pk)

    response = dispatcher.post(
        f"/api/v1/incidents/{incident.pk}/assignments/", {"unit": second.pk, "replace": old}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["unit"]["id"] == second.pk
    replaced = Assignment.objects.get(pk=old)
    assert replaced.status == "cancelled"
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("available", "assigned")
    detail = dispatcher.get(f"/api/v1/incidents/{incident.pk}/").json()
    assert {(a["unit"]["id"], a["status"]) for a in detail["assignments"]} == {
        (first.pk, "cancelled"),
        (second.pk, "assigned"),
    }


def test_replace_of_an_ended_assignment_is_a_conflict(dispatcher, db_state):
    unit_at(0.5)
    second = unit_at(2)
    incident = IncidentFactory()
    old = tasks.dispatch_incident(incident.pk)
    services.assignment_transition(assignment_id=old, status="declined", by=dispatcher.user)
    seen = db_state()

    response = dispatcher.post(
        f"/api/v1/incidents/{incident.pk}/assignments/", {"unit": second.pk, "replace": old}, format="json"
    )

    assert_error(response, 409, "assignment_ended")
    assert db_state() == seen


@pytest.mark.parametrize("status", ["closed", "cancelled"])
def test_assigning_to_a_finished_incident_is_a_conflict(dispatcher, status):
    unit = unit_at(1)
    incident = IncidentFactory(status=status)
    response = dispatcher.post(
        f"/api/v1/incidents/{incident.pk}/assignments/", {"unit": unit.pk}, format="json"
    )
    assert_error(response, 409, "incident_closed")
    assert Assignment.objects.count() == 0


# --- Cancel -------------------------------------------------------------------------------------


def test_cancel_answers_the_incident_and_frees_its_units(dispatcher):
    unit = unit_at(1)
    incident = IncidentFactory()
    assignment = tasks.dispatch_incident(incident.pk)

    response = dispatcher.post(f"/api/v1/incidents/{incident.pk}/cancel/", {"reason": "iseng"}, format="json")

    assert response.status_code == 200
    body = response.json()
    has_fields(body, INCIDENT_FIELDS)
    assert body["status"] == "cancelled"
    assert [a["status"] for a in body["assignments"]] == ["cancelled"]
    unit.refresh_from_db()
    assert unit.status == "available"
    assert Assignment.objects.get(pk=assignment).ended_reason == "incident cancelled"
    assert dispatcher.get("/api/v1/incidents/?status=open").json() == []


def test_cancel_of_a_closed_incident_is_a_conflict(dispatcher, db_state):
    incident = IncidentFactory(status="closed")
    seen = db_state()
    response = dispatcher.post(f"/api/v1/incidents/{incident.pk}/cancel/", {"reason": "x"}, format="json")
    assert_error(response, 409, "incident_closed")
    assert db_state() == seen


def test_the_read_only_viewer_never_gets_a_callers_number_or_name(viewer, dispatcher):
    call = CallFactory(caller_phone="+6281255556666", caller_name="Pak Budi")
    path = f"/api/v1/incidents/{call.incident_id}/"

    for answer in (viewer.get(path).json(), viewer.get("/api/v1/incidents/").json()[0]):
        assert (answer["calls"][0]["caller_phone"], answer["calls"][0]["caller_name"]) == ("", "")
        assert "+6281255556666" not in str(answer)
    assert dispatcher.get(path).json()["calls"][0]["caller_phone"] == "+6281255556666"
