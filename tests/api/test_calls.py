"""POST /api/v1/calls/: a 119 call becomes an incident, or attaches to one."""

import uuid

import pytest

from calls.models import Call, Incident
from dispatch import tasks
from dispatch.models import Assignment
from tests.api.contract import (
    ASSIGNMENT_FIELDS,
    INCIDENT_FIELDS,
    assert_error,
    call_body,
    has_fields,
    is_time,
)
from tests.factories import IncidentFactory, UnitFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/calls/"


def test_a_call_with_a_place_creates_a_pending_incident(call_taker):
    response = call_taker.post(URL, call_body(notes="lantai 2"), format="json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) >= {"call", "incident", "possible_duplicates"}
    call, incident = body["call"], body["incident"]
    assert call["caller_phone"] == "+6281234567890"
    assert (call["caller_name"], call["complaint"], call["notes"]) == ("Bu Sri", "sesak napas", "lantai 2")
    assert call["location"] == {"lat": -7.9826, "lon": 112.6308}
    has_fields(incident, INCIDENT_FIELDS)
    assert (incident["status"], incident["priority"], incident["patient_count"]) == ("pending", 2, 1)
    assert incident["location"] == {"lat": -7.9826, "lon": 112.6308}
    assert [c["id"] for c in incident["calls"]] == [call["id"]]
    assert incident["assignments"] == []
    assert is_time(incident["created_at"])
    assert body["possible_duplicates"] == []
    stored = Incident.objects.get()
    assert (stored.pk, stored.number) == (incident["id"], incident["number"])
    assert Call.objects.get().incident_id == stored.pk


def test_a_call_with_only_an_address_is_accepted_without_a_place(dispatcher):
    response = dispatcher.post(URL, call_body(location=None, address="Jl. Ijen 10"), format="json")

    assert response.status_code == 201
    incident = response.json()["incident"]
    assert (incident["location"], incident["address"]) == (None, "Jl. Ijen 10")


@pytest.mark.parametrize("missing", [{"location": None, "address": ""}, {"location": None, "address": "   "}])
def test_a_call_needs_a_location_or_an_address(call_taker, missing):
    body = call_body(**missing)
    assert_error(call_taker.post(URL, body, format="json"), 400, "invalid", field="location")
    assert Incident.objects.count() == 0


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("081234567890", "+6281234567890"),
        ("62 812 3456 7890", "+6281234567890"),
        ("+62 812-3456-7890", "+6281234567890"),
        ("0812\u200b3456\u200b7890", "+6281234567890"),
    ],
)
def test_the_caller_number_is_stored_in_e164_however_it_was_typed(call_taker, typed, stored):
    response = call_taker.post(URL, call_body(caller_phone=typed), format="json")
    assert response.status_code == 201
    assert response.json()["call"]["caller_phone"] == stored
    assert Call.objects.get().caller_phone == stored


def test_the_same_client_id_twice_creates_one_call_and_answers_with_it(call_taker):
    client_id = str(uuid.uuid4())
    first = call_taker.post(URL, call_body(client_id=client_id), format="json")
    again = call_taker.post(URL, call_body(client_id=client_id, complaint="beda"), format="json")

    assert first.status_code == 201
    assert again.status_code == 200  # the replay is answered, not recorded again
    assert again.json()["call"]["id"] == first.json()["call"]["id"]
    assert again.json()["call"]["complaint"] == "sesak napas"
    assert again.json()["call"]["client_id"] == client_id
    assert (Call.objects.count(), Incident.objects.count()) == (1, 1)


def test_a_call_attached_to_an_incident_joins_it_and_never_sends_a_second_unit(call_taker):
    UnitFactory()
    UnitFactory()
    first = call_taker.post(URL, call_body(priority=3), format="json").json()
    incident_id = first["incident"]["id"]
    tasks.dispatch_incident(incident_id)

    response = call_taker.post(
        URL,
        call_body(incident=incident_id, caller_phone="0811-222-333", priority=1, patient_count=2),
        format="json",
    )
    tasks.dispatch_incident(incident_id)

    assert response.status_code == 201
    incident = response.json()["incident"]
    assert incident["id"] == incident_id
    assert len(incident["calls"]) == 2
    assert (incident["priority"], incident["patient_count"]) == (1, 2)
    assert Incident.objects.count() == 1
    assert Assignment.objects.filter(incident_id=incident_id).count() == 1


def test_a_call_attached_to_an_incident_needs_no_place_of_its_own(call_taker):
    existing = IncidentFactory()
    response = call_taker.post(URL, call_body(incident=existing.pk, location=None, address=""), format="json")
    assert response.status_code == 201
    assert response.json()["incident"]["id"] == existing.pk


def test_a_call_attached_to_an_unknown_incident_is_refused(call_taker):
    assert_error(call_taker.post(URL, call_body(incident=987654), format="json"), 400, field="incident")
    assert Call.objects.count() == 0


@pytest.mark.parametrize("status", ["closed", "cancelled"])
def test_a_call_attached_to_a_finished_incident_is_a_conflict(call_taker, status):
    finished = IncidentFactory(status=status)
    assert_error(call_taker.post(URL, call_body(incident=finished.pk), format="json"), 409, "incident_closed")
    assert Call.objects.count() == 0


def test_a_call_from_the_same_number_lists_the_open_incident_as_a_possible_duplicate(call_taker):
    first = call_taker.post(URL, call_body(), format="json").json()["incident"]
    far = {"lat": -7.93, "lon": 112.60}
    response = call_taker.post(URL, call_body(location=far, caller_phone="+6281234567890"), format="json")

    duplicates = response.json()["possible_duplicates"]
    assert [d["id"] for d in duplicates] == [first["id"]]
    has_fields(duplicates[0], INCIDENT_FIELDS)
    assert Incident.objects.count() == 2  # suggested, not merged


def test_a_call_near_an_open_incident_lists_it_as_a_possible_duplicate(call_taker):
    first = call_taker.post(URL, call_body(), format="json").json()["incident"]
    near = {"lat": -7.9830, "lon": 112.6310}
    response = call_taker.post(URL, call_body(location=near, caller_phone="0813 9999 0000"), format="json")
    assert [d["id"] for d in response.json()["possible_duplicates"]] == [first["id"]]


def test_free_text_is_kept_as_typed_and_answered_as_json_never_as_html(call_taker):
    typed = '<script>alert("x")</script> & <b>ayah</b> jatuh, "tidak sadar"'
    response = call_taker.post(URL, call_body(complaint=typed, caller_name="O'Neil <i>"), format="json")

    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"
    assert response.json()["call"]["complaint"] == typed
    assert Incident.objects.get().complaint == typed


def test_a_recorded_call_is_dispatched_by_the_task_it_leaves(call_taker, django_capture_on_commit_callbacks):
    unit = UnitFactory()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        body = call_taker.post(URL, call_body(priority=1), format="json").json()
    assert callbacks  # the broadcasts and the dispatch task leave only after commit
    assert Assignment.objects.count() == 0

    tasks.dispatch_incident(body["incident"]["id"])

    detail = call_taker.get(f"/api/v1/incidents/{body['incident']['id']}/").json()
    assert detail["status"] == "dispatched"
    assert [a["unit"]["id"] for a in detail["assignments"]] == [unit.pk]
    has_fields(detail["assignments"][0], ASSIGNMENT_FIELDS)
