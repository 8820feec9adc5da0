"""Who may do what: every endpoint of api.md against every role, exactly as its "who" column says.

`crew_own` is a crew user of the unit the request is about; `crew_other` a crew user of another unit.
Without credentials the answer is 401; with the wrong role 403.
"""

from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import Role
from dispatch import services
from tests.api.contract import assert_error, call_body
from tests.factories import HospitalFactory, IncidentFactory, UnitFactory

pytestmark = pytest.mark.django_db

ACTORS = ["call_taker", "dispatcher", "supervisor", "viewer", "crew_own", "crew_other", "anonymous"]
CONSOLE = {"call_taker", "dispatcher", "supervisor", "viewer"}
EVERYONE = CONSOLE | {"crew_own", "crew_other"}


@dataclass
class Request:
    method: str
    path: str
    body: dict | None = None
    unit: Any = None  # the unit `crew_own` belongs to


def assigned():
    """An incident with one unit assigned to it."""
    unit = UnitFactory()
    incident = IncidentFactory()
    assignment = services.assignment_create(incident_id=incident.pk, unit_id=unit.pk, by=None)
    return incident, unit, assignment


def r_call():
    return Request("post", "/api/v1/calls/", call_body())


def r_incidents():
    IncidentFactory()
    return Request("get", "/api/v1/incidents/?status=open")


def r_incident():
    incident, unit, _ = assigned()
    return Request("get", f"/api/v1/incidents/{incident.pk}/", unit=unit)


def r_recommendations():
    UnitFactory()
    return Request("get", f"/api/v1/incidents/{IncidentFactory().pk}/recommendations/")


def r_assign():
    unit = UnitFactory()
    return Request(
        "post", f"/api/v1/incidents/{IncidentFactory().pk}/assignments/", {"unit": unit.pk}, unit=unit
    )


def r_cancel():
    incident, unit, _ = assigned()
    return Request("post", f"/api/v1/incidents/{incident.pk}/cancel/", {"reason": "batal"}, unit=unit)


def r_units():
    unit = UnitFactory()
    return Request("get", "/api/v1/units/", unit=unit)


def r_unit():
    unit = UnitFactory()
    return Request("get", f"/api/v1/units/{unit.pk}/", unit=unit)


def r_positions():
    unit = UnitFactory()
    position = {"lat": -7.97, "lon": 112.63, "at": "2026-01-01T08:00:00+07:00"}
    return Request("post", f"/api/v1/units/{unit.pk}/positions/", {"positions": [position]}, unit=unit)


def r_unit_status():
    unit = UnitFactory()
    return Request("post", f"/api/v1/units/{unit.pk}/status/", {"status": "out_of_service"}, unit=unit)


def r_assignment_status():
    _, unit, assignment = assigned()
    return Request(
        "post", f"/api/v1/assignments/{assignment.pk}/status/", {"status": "acknowledged"}, unit=unit
    )


def r_assignment():
    _, unit, assignment = assigned()
    return Request("get", f"/api/v1/assignments/{assignment.pk}/", unit=unit)


def r_search():
    return Request("get", "/api/v1/geo/search/?q=alun-alun")


def r_reverse():
    return Request("get", "/api/v1/geo/reverse/?lat=-7.9826&lon=112.6308")


def r_hospitals():
    HospitalFactory()
    return Request("get", "/api/v1/hospitals/")


def r_report():
    return Request("get", "/api/v1/reports/response-times/")


def r_schema():
    return Request("get", "/api/schema/")


def r_me():
    return Request("get", "/api/v1/me/")


# endpoint → (request, the actors allowed, the success status)
MATRIX = {
    "POST calls": (r_call, {"call_taker", "dispatcher"}, 201),
    "GET incidents": (r_incidents, CONSOLE, 200),
    "GET incident": (r_incident, CONSOLE | {"crew_own"}, 200),
    "GET recommendations": (r_recommendations, {"dispatcher", "supervisor"}, 200),
    "POST assignments": (r_assign, {"dispatcher"}, 201),
    "POST cancel": (r_cancel, {"dispatcher"}, 200),
    "GET units": (r_units, EVERYONE, 200),
    "GET unit": (r_unit, EVERYONE - {"crew_other"}, 200),
    "POST positions": (r_positions, {"crew_own"}, 202),
    "POST unit status": (r_unit_status, {"crew_own", "dispatcher"}, 200),
    "POST assignment status": (r_assignment_status, {"crew_own", "dispatcher"}, 200),
    "GET assignment": (r_assignment, EVERYONE - {"crew_other"}, 200),
    "GET geo search": (r_search, CONSOLE, 200),
    "GET geo reverse": (r_reverse, EVERYONE, 200),
    "GET hospitals": (r_hospitals, EVERYONE, 200),
    "GET report": (r_report, {"supervisor", "dispatcher"}, 200),
    "GET schema": (r_schema, EVERYONE, 200),
    "GET me": (r_me, EVERYONE, 200),
}


def client_for(actor: str, request: Request, make_client) -> APIClient:
    if actor == "anonymous":
        return APIClient()
    if actor == "crew_own":
        return make_client(Role.CREW, unit=request.unit or UnitFactory())
    if actor == "crew_other":
        return make_client(Role.CREW, unit=UnitFactory())
    return make_client(actor)


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("endpoint", list(MATRIX))
def test_each_role_gets_exactly_what_the_contract_allows(endpoint, actor, make_client, db_state):
    build, allowed, success = MATRIX[endpoint]
    request = build()
    client = client_for(actor, request, make_client)
    seen = db_state()

    response = getattr(client, request.method)(request.path, request.body, format="json")

    if actor in allowed:
        assert response.status_code == success, response.content[:300]
    else:
        assert_error(response, 401 if actor == "anonymous" else 403)
        assert db_state() == seen


def test_a_deactivated_user_is_refused_with_the_token_it_still_holds(make_client):
    client = make_client(Role.DISPATCHER)
    client.user.is_active = False
    client.user.save()
    assert_error(client.get("/api/v1/incidents/"), 401)


def test_a_crew_cannot_see_an_incident_its_unit_was_never_sent_to(make_client):
    incident, _, _ = assigned()
    crew = make_client(Role.CREW, unit=UnitFactory())
    assert_error(crew.get(f"/api/v1/incidents/{incident.pk}/"), 403)


def test_a_crew_whose_unit_was_taken_off_still_sees_the_incident_it_served(make_client):
    incident, unit, assignment = assigned()
    services.assignment_transition(assignment_id=assignment.pk, status="declined", by=None)
    crew = make_client(Role.CREW, unit=unit)
    assert crew.get(f"/api/v1/incidents/{incident.pk}/").status_code == 200
