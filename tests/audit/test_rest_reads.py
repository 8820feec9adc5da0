"""Every REST answer that sends personal data records who read it, once, and nothing of the data itself."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from audit.models import Channel, What
from calls.models import Call
from tests.audit.conftest import (
    NAME,
    PHONE,
    PHONE_FORMS,
    assert_holds_no_personal_data,
    incident_with_caller,
    only_read,
    reads,
)
from tests.factories import CENTRE, AssignmentFactory, IncidentFactory

pytestmark = pytest.mark.django_db


def _call_body(**changes):
    return {"caller_phone": "0812-3456-7890", "caller_name": NAME, "complaint": "sesak napas", "priority": 2,
            "location": {"lat": CENTRE[0], "lon": CENTRE[1]}, "client_id": str(uuid.uuid4()), **changes}  # fmt: skip


def _audit_inserts(queries) -> int:
    return sum(
        1 for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "audit_personaldataread"')
    )


def test_a_dispatcher_reading_an_incident_is_recorded_once_with_who_how_what_and_which(dispatcher):
    incident = incident_with_caller()

    answer = dispatcher.get(f"/api/v1/incidents/{incident.pk}/", REMOTE_ADDR="10.1.2.3")

    assert answer.status_code == 200
    assert answer.json()["calls"][0]["caller_phone"] == PHONE
    read = only_read()
    assert read.user == dispatcher.user
    assert read.username == dispatcher.user.username
    assert (read.role, read.channel, read.what) == (Role.DISPATCHER, Channel.REST, What.INCIDENT)
    assert read.incident_ids == [incident.pk]
    assert read.path == f"/api/v1/incidents/{incident.pk}/"
    assert read.remote_addr == "10.1.2.3"
    assert read.closed_at is None
    assert_holds_no_personal_data(read)


def test_the_incident_list_is_one_row_and_one_insert_naming_every_incident_sent(call_taker):
    incidents = [incident_with_caller() for _ in range(3)]

    with CaptureQueriesContext(connection) as queries:
        answer = call_taker.get("/api/v1/incidents/", {"status": "open"})

    assert answer.status_code == 200
    read = only_read()
    assert _audit_inserts(queries) == 1
    assert (read.role, read.what) == (Role.CALL_TAKER, What.INCIDENT_LIST)
    assert read.incident_ids == [i["id"] for i in answer.json()]
    assert sorted(read.incident_ids) == sorted(i.pk for i in incidents)
    assert read.path == "/api/v1/incidents/"
    assert_holds_no_personal_data(read)


def test_a_supervisor_reading_the_list_is_recorded_too(supervisor):
    incident = incident_with_caller()

    assert supervisor.get("/api/v1/incidents/").status_code == 200

    read = only_read()
    assert (read.role, read.incident_ids) == (Role.SUPERVISOR, [incident.pk])


def test_an_empty_list_sends_nobodys_data_and_records_nothing(dispatcher):
    assert dispatcher.get("/api/v1/incidents/").json() == []
    assert reads() == []


def test_a_viewers_redacted_reads_are_not_recorded(viewer):
    incident = incident_with_caller()

    listed = viewer.get("/api/v1/incidents/")
    detail = viewer.get(f"/api/v1/incidents/{incident.pk}/")

    assert listed.status_code == detail.status_code == 200
    assert PHONE not in listed.content.decode() and PHONE not in detail.content.decode()
    assert reads() == []


def test_a_crew_reading_the_incident_its_unit_was_sent_to_is_recorded(crew, unit):
    incident = incident_with_caller()
    AssignmentFactory(incident=incident, unit=unit)

    assert crew.get(f"/api/v1/incidents/{incident.pk}/").status_code == 200

    read = only_read()
    assert (read.user, read.role, read.what, read.incident_ids) == (crew.user, Role.CREW, What.INCIDENT,
                                                                     [incident.pk])  # fmt: skip


def test_a_refused_read_is_not_recorded(crew):
    incident = incident_with_caller()

    assert crew.get(f"/api/v1/incidents/{incident.pk}/").status_code == 403
    assert reads() == []


def test_an_assignment_read_is_recorded_with_its_incident(dispatcher, unit):
    incident = incident_with_caller()
    assignment = AssignmentFactory(incident=incident, unit=unit)

    assert dispatcher.get(f"/api/v1/assignments/{assignment.pk}/").status_code == 200

    read = only_read()
    assert (read.what, read.incident_ids, read.path) == (What.ASSIGNMENT, [incident.pk],
                                                         f"/api/v1/assignments/{assignment.pk}/")  # fmt: skip


def test_the_crews_current_job_is_recorded_and_an_idle_crews_is_not(crew, unit):
    assert crew.get("/api/v1/crew/current/").json()["assignment"] is None
    assert reads() == []

    incident = incident_with_caller(status="dispatched")
    AssignmentFactory(incident=incident, unit=unit)
    answer = crew.get("/api/v1/crew/current/")

    assert answer.json()["details"]["callers"][0]["caller_phone"] == PHONE
    read = only_read()
    assert (read.user, read.role, read.what, read.incident_ids) == (crew.user, Role.CREW, What.CREW_CURRENT,
                                                                     [incident.pk])  # fmt: skip
    assert_holds_no_personal_data(read)


def test_the_crews_hospital_choice_is_recorded(crew, unit):
    incident = incident_with_caller(status="dispatched", complaint="hamil, pendarahan")
    assignment = AssignmentFactory(incident=incident, unit=unit)

    answer = crew.get("/api/v1/crew/hospitals/", {"assignment": assignment.pk})

    assert answer.status_code == 200
    read = only_read()
    assert (read.what, read.incident_ids) == (What.CREW_HOSPITALS, [incident.pk])


def test_posting_a_call_records_the_possible_duplicates_it_answers_with_and_nothing_else(call_taker):
    first = call_taker.post("/api/v1/calls/", _call_body(), format="json")
    assert first.status_code == 201
    assert first.json()["possible_duplicates"] == []
    assert reads() == [], "a new call with no duplicates sends nobody else's data"

    with CaptureQueriesContext(connection) as queries:
        second = call_taker.post("/api/v1/calls/", _call_body(), format="json")

    assert second.status_code == 201
    duplicates = [i["id"] for i in second.json()["possible_duplicates"]]
    assert duplicates == [first.json()["incident"]["id"]]
    read = only_read()
    assert _audit_inserts(queries) == 1
    assert (read.user, read.role, read.what, read.incident_ids) == (call_taker.user, Role.CALL_TAKER,
                                                                     What.CALL_ANSWER, duplicates)  # fmt: skip
    assert read.path == "/api/v1/calls/"
    assert_holds_no_personal_data(read)


def test_a_call_joining_an_incident_records_that_incidents_read(dispatcher):
    incident = incident_with_caller(lat=CENTRE[0] + 0.5, lon=CENTRE[1])  # far away: no duplicate by place

    answer = dispatcher.post(
        "/api/v1/calls/", _call_body(caller_phone="0811-1111-222", incident=incident.pk), format="json"
    )

    assert answer.status_code == 201
    assert PHONE in {c["caller_phone"] for c in answer.json()["incident"]["calls"]}
    read = only_read()
    assert (read.what, read.incident_ids) == (What.CALL_ANSWER, [incident.pk])


def test_the_callers_history_search_records_that_it_happened_and_what_it_found_never_the_number(call_taker):
    incident = incident_with_caller()
    IncidentFactory(lat=CENTRE[0] + 0.5, lon=CENTRE[1])  # elsewhere, from nobody: not found

    answer = call_taker.get("/api/v1/calls/history/", {"phone": "0812-3456-7890"})

    assert answer.status_code == 200
    assert answer.json()["by_phone"][0]["call"]["caller_phone"] == PHONE
    read = only_read()
    assert (read.what, read.incident_ids) == (What.CALL_SEARCH, [incident.pk])
    assert read.path == "/api/v1/calls/history/"
    assert_holds_no_personal_data(read)


def test_a_search_that_finds_nothing_records_nothing(call_taker):
    incident_with_caller()

    answer = call_taker.get("/api/v1/calls/history/", {"phone": "0813-9999-0000"})

    assert answer.status_code == 200 and answer.json()["by_phone"] == []
    assert reads() == []


# --- When the read cannot be recorded -----------------------------------------------------------


def _assert_refused_without_data(answer) -> dict:
    assert answer.status_code == 503
    body = answer.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "audit_unavailable"
    assert isinstance(body["error"]["message"], str) and body["error"]["fields"] == {}
    for secret in (*PHONE_FORMS, NAME):
        assert secret not in answer.content.decode()
    return body


@pytest.mark.parametrize("what", ["detail", "list", "assignment", "history"])
def test_a_read_that_cannot_be_recorded_is_a_503_without_the_data(what, dispatcher, unit, audit_down, caplog):
    incident = incident_with_caller()
    assignment = AssignmentFactory(incident=incident, unit=unit)
    url = {
        "detail": f"/api/v1/incidents/{incident.pk}/",
        "list": "/api/v1/incidents/",
        "assignment": f"/api/v1/assignments/{assignment.pk}/",
        "history": "/api/v1/calls/history/?phone=081234567890",
    }[what]

    _assert_refused_without_data(dispatcher.get(url))

    assert reads() == []
    assert "personal-data read not recorded" in caplog.text
    for secret in (*PHONE_FORMS, NAME):
        assert secret not in caplog.text


def test_the_crews_current_job_is_not_given_when_its_read_cannot_be_recorded(crew, unit, audit_down):
    AssignmentFactory(incident=incident_with_caller(status="dispatched"), unit=unit)

    _assert_refused_without_data(crew.get("/api/v1/crew/current/"))


def test_a_call_whose_answer_cannot_be_recorded_is_saved_but_answered_503_then_replayed(
    call_taker, monkeypatch
):
    first = call_taker.post("/api/v1/calls/", _call_body(), format="json").json()["incident"]["id"]
    from audit import services

    real_insert = services._insert

    def refuse(read):
        from django.db import DatabaseError

        raise DatabaseError("disk full")

    monkeypatch.setattr(services, "_insert", refuse)
    body = _call_body()

    refused = call_taker.post("/api/v1/calls/", body, format="json")

    error = _assert_refused_without_data(refused)
    assert "client_id" in error["error"]["message"]
    assert Call.objects.filter(client_id=body["client_id"]).exists(), "the call itself stands"
    monkeypatch.setattr(services, "_insert", real_insert)
    replayed = call_taker.post("/api/v1/calls/", body, format="json")
    assert replayed.status_code == 200
    read = only_read()
    assert read.what == What.CALL_ANSWER
    assert read.incident_ids == [replayed.json()["incident"]["id"]]
    assert first != read.incident_ids[0]
