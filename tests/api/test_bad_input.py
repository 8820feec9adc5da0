"""A battery of bad input against every writing endpoint: each is a 4xx in the contract's error shape, never a
500, and changes nothing (rows of incidents, calls, assignments, events, status changes, positions; statuses)."""

import dataclasses
import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import Role
from dispatch import services
from tests.api.contract import assert_error, call_body
from tests.factories import CallFactory, IncidentFactory, UnitFactory

pytestmark = pytest.mark.django_db


@dataclass
class Bad:
    who: str
    method: str
    path: str  # may name {incident}, {closed}, {busy}, {free}, {assignment}
    body: Any = None  # JSON-encoded unless `raw` is given; a callable gets the world
    raw: bytes | str | None = None
    content_type: str = "application/json"
    status: int = 400
    field: str | None = None
    code: str | None = None
    headers: dict = dataclasses.field(default_factory=dict)


@pytest.fixture
def world(make_client):
    busy, free = UnitFactory(), UnitFactory()
    incident = CallFactory().incident
    assignment = services.assignment_create(incident_id=incident.pk, unit_id=busy.pk, by=None)
    return SimpleNamespace(
        busy=busy,
        free=free,
        incident=incident,
        assignment=assignment,
        closed=IncidentFactory(status="closed"),
        clients={
            "call_taker": make_client(Role.CALL_TAKER),
            "dispatcher": make_client(Role.DISPATCHER),
            "supervisor": make_client(Role.SUPERVISOR),
            "crew": make_client(Role.CREW, unit=busy),
            "anonymous": APIClient(),
        },
    )


def send(world, case: Bad):
    ids = {
        "incident": world.incident.pk,
        "closed": world.closed.pk,
        "busy": world.busy.pk,
        "free": world.free.pk,
        "assignment": world.assignment.pk,
    }
    client = world.clients[case.who]
    path = case.path.format(**ids)
    if case.method == "get":
        return client.get(path, **case.headers)
    if case.raw is not None:
        data = case.raw
    else:
        body = case.body(ids) if callable(case.body) else case.body
        data = json.dumps(body)
    return getattr(client, case.method)(path, data, content_type=case.content_type, **case.headers)


def without(key: str) -> dict:
    body = call_body()
    del body[key]
    return body


def located(lat, lon=112.63) -> dict:
    return call_body(location={"lat": lat, "lon": lon})


def position(**fields) -> dict:
    return {"positions": [{"lat": -7.97, "lon": 112.63, "at": "2026-01-01T08:00:00+07:00"} | fields]}


CALLS = "/api/v1/calls/"
VALID_CALL = json.dumps(call_body())
RTL, ZWSP, NUL = "\u202e", "\u200b", "\u0000"

CASES = {
    # --- POST /calls/: missing fields and wrong types
    "call without caller_phone": Bad(
        "call_taker", "post", CALLS, without("caller_phone"), field="caller_phone"
    ),
    "call without complaint": Bad("call_taker", "post", CALLS, without("complaint"), field="complaint"),
    "call without priority": Bad("call_taker", "post", CALLS, without("priority"), field="priority"),
    "call without place": Bad(
        "call_taker", "post", CALLS, call_body(location=None, address=""), field="location"
    ),
    "priority 7": Bad("call_taker", "post", CALLS, call_body(priority=7), field="priority"),
    "priority 0": Bad("call_taker", "post", CALLS, call_body(priority=0), field="priority"),
    "priority -1": Bad("call_taker", "post", CALLS, call_body(priority=-1), field="priority"),
    'priority "1.5"': Bad("call_taker", "post", CALLS, call_body(priority="1.5"), field="priority"),
    "priority 1.5": Bad("call_taker", "post", CALLS, call_body(priority=1.5), field="priority"),
    "priority true": Bad("call_taker", "post", CALLS, call_body(priority=True), field="priority"),
    "priority word": Bad("call_taker", "post", CALLS, call_body(priority="satu"), field="priority"),
    "priority null": Bad("call_taker", "post", CALLS, call_body(priority=None), field="priority"),
    "priority list": Bad("call_taker", "post", CALLS, call_body(priority=[1]), field="priority"),
    "priority object": Bad("call_taker", "post", CALLS, call_body(priority={"v": 1}), field="priority"),
    "priority zero-width": Bad("call_taker", "post", CALLS, call_body(priority="1" + ZWSP), field="priority"),
    "priority 1e100": Bad("call_taker", "post", CALLS, call_body(priority=1e100), field="priority"),
    "priority 10**30": Bad("call_taker", "post", CALLS, call_body(priority=10**30), field="priority"),
    "priority of 5000 digits": Bad(
        "call_taker",
        "post",
        CALLS,
        raw=VALID_CALL.replace('"priority": 2', '"priority": ' + "9" * 5000),
        code="parse_error",
    ),
    "patient_count -1": Bad("call_taker", "post", CALLS, call_body(patient_count=-1), field="patient_count"),
    "patient_count 100000": Bad(
        "call_taker", "post", CALLS, call_body(patient_count=100_000), field="patient_count"
    ),
    "patient_count word": Bad(
        "call_taker", "post", CALLS, call_body(patient_count="dua"), field="patient_count"
    ),
    "patient_count 1.5": Bad(
        "call_taker", "post", CALLS, call_body(patient_count=1.5), field="patient_count"
    ),
    # --- places
    "lat 91": Bad("call_taker", "post", CALLS, located(91), field="location"),
    "lat -91": Bad("call_taker", "post", CALLS, located(-91), field="location"),
    "lon 181": Bad("call_taker", "post", CALLS, located(-7.9, 181), field="location"),
    "lon -180.5": Bad("call_taker", "post", CALLS, located(-7.9, -180.5), field="location"),
    'lat "NaN"': Bad("call_taker", "post", CALLS, located("NaN"), field="location"),
    'lat "nan"': Bad("call_taker", "post", CALLS, located("nan"), field="location"),
    'lat "Infinity"': Bad("call_taker", "post", CALLS, located("Infinity"), field="location"),
    'lon "-Infinity"': Bad("call_taker", "post", CALLS, located(-7.9, "-Infinity"), field="location"),
    "lat NaN literal": Bad("call_taker", "post", CALLS, raw=VALID_CALL.replace("-7.9826", "NaN")),
    "lat Infinity literal": Bad("call_taker", "post", CALLS, raw=VALID_CALL.replace("-7.9826", "Infinity")),
    "lat 1e400": Bad(
        "call_taker", "post", CALLS, raw=VALID_CALL.replace("-7.9826", "1e400"), field="location"
    ),
    "lat true": Bad("call_taker", "post", CALLS, located(True), field="location"),
    "lat null": Bad("call_taker", "post", CALLS, located(None), field="location"),
    'lat ""': Bad("call_taker", "post", CALLS, located(""), field="location"),
    "lat list": Bad("call_taker", "post", CALLS, located([-7.9]), field="location"),
    "location as list": Bad("call_taker", "post", CALLS, call_body(location=[-7.9, 112.6]), field="location"),
    "location as text": Bad("call_taker", "post", CALLS, call_body(location="-7.9,112.6"), field="location"),
    "location without lon": Bad(
        "call_taker", "post", CALLS, call_body(location={"lat": -7.9}), field="location"
    ),
    "location extra key": Bad(
        "call_taker",
        "post",
        CALLS,
        call_body(location={"lat": -7.9, "lon": 112.6, "alt": 5}),
        field="location",
    ),
    # --- text
    "complaint empty": Bad("call_taker", "post", CALLS, call_body(complaint=""), field="complaint"),
    "complaint null": Bad("call_taker", "post", CALLS, call_body(complaint=None), field="complaint"),
    "complaint object": Bad("call_taker", "post", CALLS, call_body(complaint={"a": 1}), field="complaint"),
    "complaint 501 chars": Bad(
        "call_taker", "post", CALLS, call_body(complaint="x" * 501), field="complaint"
    ),
    "notes 4001 chars": Bad("call_taker", "post", CALLS, call_body(notes="x" * 4001), field="notes"),
    "notes 1 MB": Bad(
        "call_taker", "post", CALLS, call_body(notes="x" * 1_000_000), status=413, code="too_large"
    ),
    "phone letters": Bad("call_taker", "post", CALLS, call_body(caller_phone="abc"), field="caller_phone"),
    "phone script": Bad(
        "call_taker", "post", CALLS, call_body(caller_phone="<script>alert(1)</script>"), field="caller_phone"
    ),
    "phone too long": Bad(
        "call_taker", "post", CALLS, call_body(caller_phone="+62" + "9" * 30), field="caller_phone"
    ),
    "phone empty": Bad("call_taker", "post", CALLS, call_body(caller_phone=""), field="caller_phone"),
    "phone NUL": Bad(
        "call_taker", "post", CALLS, call_body(caller_phone="0812" + NUL + "34567890"), field="caller_phone"
    ),
    "name NUL": Bad("call_taker", "post", CALLS, call_body(caller_name="Sri" + NUL), field="caller_name"),
    "complaint NUL": Bad("call_taker", "post", CALLS, call_body(complaint=NUL), field="complaint"),
    "address NUL": Bad("call_taker", "post", CALLS, call_body(address="Jl." + NUL + "Ijen"), field="address"),
    "notes NUL": Bad("call_taker", "post", CALLS, call_body(notes="a" + NUL), field="notes"),
    "complaint RTL override": Bad(
        "call_taker", "post", CALLS, call_body(complaint=RTL + "napas sesak"), field="complaint"
    ),
    "name RTL override": Bad(
        "call_taker", "post", CALLS, call_body(caller_name="Anwar" + RTL + "gnaruk"), field="caller_name"
    ),
    "address isolate": Bad(
        "call_taker", "post", CALLS, call_body(address="Jl. Ijen \u2066 10"), field="address"
    ),
    "notes bell": Bad("call_taker", "post", CALLS, call_body(notes="ding\x07"), field="notes"),
    "complaint escape sequence": Bad(
        "call_taker", "post", CALLS, call_body(complaint="\x1b[31mmerah"), field="complaint"
    ),
    "complaint lone surrogate": Bad(
        "call_taker",
        "post",
        CALLS,
        raw=VALID_CALL.replace("sesak napas", "sesak \\ud800 napas"),
        code="parse_error",
    ),
    "status lone surrogate": Bad(
        "crew",
        "post",
        "/api/v1/assignments/{assignment}/status/",
        raw='{"status": "\\udfff"}',
        code="parse_error",
    ),
    "client_id not a uuid": Bad("call_taker", "post", CALLS, call_body(client_id="abc"), field="client_id"),
    "client_id zero-width": Bad(
        "call_taker",
        "post",
        CALLS,
        call_body(client_id="6f1c1f8e-1a57-4c39-9a49-6a0f6b2f0a11" + ZWSP),
        field="client_id",
    ),
    # --- ids in the body
    "incident word": Bad("call_taker", "post", CALLS, call_body(incident="abc"), field="incident"),
    "incident unknown": Bad("call_taker", "post", CALLS, call_body(incident=987654), field="incident"),
    "incident negative": Bad("call_taker", "post", CALLS, call_body(incident=-1), field="incident"),
    "incident 2**63": Bad("call_taker", "post", CALLS, call_body(incident=2**63), field="incident"),
    "incident true": Bad("call_taker", "post", CALLS, call_body(incident=True), field="incident"),
    "incident closed": Bad(
        "call_taker",
        "post",
        CALLS,
        lambda ids: call_body(incident=ids["closed"]),
        status=409,
        code="incident_closed",
    ),
    # --- bodies that are not a call
    "body is a list": Bad("call_taker", "post", CALLS, [call_body()]),
    "body is a string": Bad("call_taker", "post", CALLS, "sesak napas"),
    "body is null": Bad("call_taker", "post", CALLS, None),
    "body is a number": Bad("call_taker", "post", CALLS, 42),
    "body has only unknown keys": Bad("call_taker", "post", CALLS, {"foo": "bar"}),
    "body is not json": Bad("call_taker", "post", CALLS, raw="{bad json", code="parse_error"),
    "body is empty": Bad("call_taker", "post", CALLS, raw=""),
    "body is not utf-8": Bad(
        "call_taker", "post", CALLS, raw=b'{"complaint": "\xff\xfe"}', code="parse_error"
    ),
    "body deeply nested list": Bad("call_taker", "post", CALLS, raw="[" * 100_000, code="parse_error"),
    "body deeply nested object": Bad(
        "call_taker", "post", CALLS, raw='{"a":' * 50_000 + "1" + "}" * 50_000, code="parse_error"
    ),
    "body huge": Bad(
        "call_taker", "post", CALLS, call_body(padding=["x" * 1000] * 700), status=413, code="too_large"
    ),
    "form-encoded body": Bad(
        "call_taker",
        "post",
        CALLS,
        raw="priority=1&complaint=x",
        content_type="application/x-www-form-urlencoded",
        status=415,
    ),
    "text/plain body": Bad(
        "call_taker", "post", CALLS, raw=VALID_CALL, content_type="text/plain", status=415
    ),
    "multipart body": Bad(
        "call_taker",
        "post",
        CALLS,
        raw="--b\r\n\r\nx\r\n--b--",
        content_type="multipart/form-data; boundary=b",
        status=415,
    ),
    "GET on calls": Bad("call_taker", "get", CALLS, status=405, code="method_not_allowed"),
    "DELETE an incident": Bad("dispatcher", "delete", "/api/v1/incidents/{incident}/", status=405),
    "PUT a unit": Bad("dispatcher", "put", "/api/v1/units/{free}/", {"status": "available"}, status=405),
    "unknown path": Bad("dispatcher", "get", "/api/v1/ambulances/", status=404, code="not_found"),
    # --- incidents list
    "incidents unknown status": Bad("supervisor", "get", "/api/v1/incidents/?status=terbuka", field="status"),
    "incidents NUL status": Bad("supervisor", "get", "/api/v1/incidents/?status=%00", field="status"),
    "incidents limit word": Bad("supervisor", "get", "/api/v1/incidents/?limit=abc", field="limit"),
    # --- unknown ids in the path
    "unknown incident": Bad("dispatcher", "get", "/api/v1/incidents/987654/", status=404),
    "huge incident id": Bad("dispatcher", "get", "/api/v1/incidents/99999999999999999999999/", status=404),
    "incident id not a number": Bad("dispatcher", "get", "/api/v1/incidents/abc/", status=404),
    "unknown incident recommendations": Bad(
        "dispatcher", "get", "/api/v1/incidents/987654/recommendations/", status=404
    ),
    "unknown incident assignment": Bad(
        "dispatcher",
        "post",
        "/api/v1/incidents/987654/assignments/",
        lambda ids: {"unit": ids["free"]},
        status=404,
    ),
    "unknown incident cancel": Bad(
        "dispatcher", "post", "/api/v1/incidents/987654/cancel/", {"reason": "x"}, status=404
    ),
    "unknown unit": Bad("dispatcher", "get", "/api/v1/units/987654/", status=404),
    "unknown unit status": Bad(
        "dispatcher", "post", "/api/v1/units/987654/status/", {"status": "available"}, status=404
    ),
    "unknown unit positions": Bad("crew", "post", "/api/v1/units/987654/positions/", position(), status=404),
    "unknown assignment status": Bad(
        "crew", "post", "/api/v1/assignments/987654/status/", {"status": "acknowledged"}, status=404
    ),
    "huge assignment id": Bad(
        "crew",
        "post",
        "/api/v1/assignments/99999999999999999999999/status/",
        {"status": "acknowledged"},
        status=404,
    ),
    # --- assignments
    "assign without unit": Bad(
        "dispatcher", "post", "/api/v1/incidents/{incident}/assignments/", {}, field="unit"
    ),
    "assign unit word": Bad(
        "dispatcher", "post", "/api/v1/incidents/{incident}/assignments/", {"unit": "abc"}, field="unit"
    ),
    "assign unknown unit": Bad(
        "dispatcher", "post", "/api/v1/incidents/{incident}/assignments/", {"unit": 987654}, field="unit"
    ),
    "assign unit true": Bad(
        "dispatcher", "post", "/api/v1/incidents/{incident}/assignments/", {"unit": True}, field="unit"
    ),
    "assign unit 1.5": Bad(
        "dispatcher", "post", "/api/v1/incidents/{incident}/assignments/", {"unit": 1.5}, field="unit"
    ),
    "assign unit null": Bad(
        "dispatcher", "post", "/api/v1/incidents/{incident}/assignments/", {"unit": None}, field="unit"
    ),
    "assign busy unit": Bad(
        "dispatcher",
        "post",
        "/api/v1/incidents/{incident}/assignments/",
        lambda ids: {"unit": ids["busy"]},
        status=409,
        code="unit_not_free",
    ),
    "assign replace unknown": Bad(
        "dispatcher",
        "post",
        "/api/v1/incidents/{incident}/assignments/",
        lambda ids: {"unit": ids["free"], "replace": 987654},
        field="replace",
    ),
    "assign replace word": Bad(
        "dispatcher",
        "post",
        "/api/v1/incidents/{incident}/assignments/",
        lambda ids: {"unit": ids["free"], "replace": "x"},
        field="replace",
    ),
    "assign replace with the same unit": Bad(
        "dispatcher",
        "post",
        "/api/v1/incidents/{incident}/assignments/",
        lambda ids: {"unit": ids["busy"], "replace": ids["assignment"]},
        status=409,
        code="same_unit",
    ),
    "assign to closed incident": Bad(
        "dispatcher",
        "post",
        "/api/v1/incidents/{closed}/assignments/",
        lambda ids: {"unit": ids["free"]},
        status=409,
        code="incident_closed",
    ),
    # --- cancel
    "cancel without reason": Bad(
        "dispatcher", "post", "/api/v1/incidents/{incident}/cancel/", {}, field="reason"
    ),
    "cancel empty reason": Bad(
        "dispatcher", "post", "/api/v1/incidents/{incident}/cancel/", {"reason": ""}, field="reason"
    ),
    "cancel long reason": Bad(
        "dispatcher", "post", "/api/v1/incidents/{incident}/cancel/", {"reason": "x" * 501}, field="reason"
    ),
    "cancel NUL reason": Bad(
        "dispatcher", "post", "/api/v1/incidents/{incident}/cancel/", {"reason": NUL}, field="reason"
    ),
    "cancel RTL reason": Bad(
        "dispatcher",
        "post",
        "/api/v1/incidents/{incident}/cancel/",
        {"reason": RTL + "batal"},
        field="reason",
    ),
    "cancel list reason": Bad(
        "dispatcher", "post", "/api/v1/incidents/{incident}/cancel/", {"reason": ["x"]}, field="reason"
    ),
    "cancel closed incident": Bad(
        "dispatcher",
        "post",
        "/api/v1/incidents/{closed}/cancel/",
        {"reason": "x"},
        status=409,
        code="incident_closed",
    ),
    # --- positions
    "positions missing": Bad("crew", "post", "/api/v1/units/{busy}/positions/", {}, field="positions"),
    "positions empty": Bad(
        "crew", "post", "/api/v1/units/{busy}/positions/", {"positions": []}, field="positions"
    ),
    "positions object": Bad(
        "crew", "post", "/api/v1/units/{busy}/positions/", {"positions": {}}, field="positions"
    ),
    "position lat 91": Bad(
        "crew", "post", "/api/v1/units/{busy}/positions/", position(lat=91), field="positions"
    ),
    'position lat "NaN"': Bad(
        "crew", "post", "/api/v1/units/{busy}/positions/", position(lat="NaN"), field="positions"
    ),
    'position lon "Infinity"': Bad(
        "crew", "post", "/api/v1/units/{busy}/positions/", position(lon="Infinity"), field="positions"
    ),
    "position lat true": Bad(
        "crew", "post", "/api/v1/units/{busy}/positions/", position(lat=True), field="positions"
    ),
    "position without at": Bad(
        "crew", "post", "/api/v1/units/{busy}/positions/", position(at=None), field="positions"
    ),
    "position at word": Bad(
        "crew", "post", "/api/v1/units/{busy}/positions/", position(at="kemarin"), field="positions"
    ),
    "position at year 1": Bad(
        "crew",
        "post",
        "/api/v1/units/{busy}/positions/",
        position(at="0001-01-01T00:00:00+14:00"),
        field="positions",
    ),
    "position at number": Bad(
        "crew", "post", "/api/v1/units/{busy}/positions/", position(at=12345), field="positions"
    ),
    'position heading "NaN"': Bad(
        "crew", "post", "/api/v1/units/{busy}/positions/", position(heading="NaN"), field="positions"
    ),
    "position heading 361": Bad(
        "crew", "post", "/api/v1/units/{busy}/positions/", position(heading=361), field="positions"
    ),
    "position speed -1": Bad(
        "crew", "post", "/api/v1/units/{busy}/positions/", position(speed=-1), field="positions"
    ),
    'position accuracy "Infinity"': Bad(
        "crew", "post", "/api/v1/units/{busy}/positions/", position(accuracy="Infinity"), field="positions"
    ),
    "one bad position among good ones": Bad(
        "crew",
        "post",
        "/api/v1/units/{busy}/positions/",
        {"positions": [position()["positions"][0], position(lat=95)["positions"][0]]},
        field="positions",
    ),
    "2001 positions": Bad(
        "crew",
        "post",
        "/api/v1/units/{busy}/positions/",
        {"positions": position()["positions"] * 2001},
        field="positions",
    ),
    # --- unit status
    "unit status missing": Bad("dispatcher", "post", "/api/v1/units/{free}/status/", {}, field="status"),
    "unit status en_route": Bad(
        "dispatcher", "post", "/api/v1/units/{free}/status/", {"status": "en_route"}, field="status"
    ),
    "unit status number": Bad(
        "dispatcher", "post", "/api/v1/units/{free}/status/", {"status": 1}, field="status"
    ),
    "unit status NUL": Bad(
        "dispatcher", "post", "/api/v1/units/{free}/status/", {"status": "available" + NUL}, field="status"
    ),
    "unit status list": Bad(
        "dispatcher", "post", "/api/v1/units/{free}/status/", {"status": ["available"]}, field="status"
    ),
    "unit status while busy": Bad(
        "dispatcher",
        "post",
        "/api/v1/units/{busy}/status/",
        {"status": "available"},
        status=409,
        code="unit_busy",
    ),
    # --- assignment status
    "tap missing status": Bad("crew", "post", "/api/v1/assignments/{assignment}/status/", {}, field="status"),
    "tap expired": Bad(
        "crew", "post", "/api/v1/assignments/{assignment}/status/", {"status": "expired"}, field="status"
    ),
    "tap unknown status": Bad(
        "crew", "post", "/api/v1/assignments/{assignment}/status/", {"status": "tiba"}, field="status"
    ),
    "tap zero-width status": Bad(
        "crew",
        "post",
        "/api/v1/assignments/{assignment}/status/",
        {"status": "en" + ZWSP + "_route"},
        field="status",
    ),
    "tap on_scene before departing": Bad(
        "crew",
        "post",
        "/api/v1/assignments/{assignment}/status/",
        {"status": "on_scene"},
        status=409,
        code="transition_not_allowed",
    ),
    "tap cleared from assigned": Bad(
        "crew",
        "post",
        "/api/v1/assignments/{assignment}/status/",
        {"status": "cleared"},
        status=409,
        code="transition_not_allowed",
    ),
    "tap at_hospital from assigned": Bad(
        "dispatcher",
        "post",
        "/api/v1/assignments/{assignment}/status/",
        {"status": "at_hospital"},
        status=409,
        code="transition_not_allowed",
    ),
    "tap at word": Bad(
        "crew",
        "post",
        "/api/v1/assignments/{assignment}/status/",
        {"status": "acknowledged", "at": "tadi"},
        field="at",
    ),
    "tap at year 9999": Bad(
        "crew",
        "post",
        "/api/v1/assignments/{assignment}/status/",
        {"status": "acknowledged", "at": "9999-12-31T23:59:59-12:00"},
        field="at",
    ),
    "tap client_id word": Bad(
        "crew",
        "post",
        "/api/v1/assignments/{assignment}/status/",
        {"status": "acknowledged", "client_id": "x"},
        field="client_id",
    ),
    "tap hospital word": Bad(
        "crew",
        "post",
        "/api/v1/assignments/{assignment}/status/",
        {"status": "acknowledged", "hospital": "RSSA"},
        field="hospital",
    ),
    "tap RTL reason": Bad(
        "crew",
        "post",
        "/api/v1/assignments/{assignment}/status/",
        {"status": "declined", "reason": RTL + "x"},
        field="reason",
    ),
    "crew cancels": Bad(
        "crew", "post", "/api/v1/assignments/{assignment}/status/", {"status": "cancelled"}, status=403
    ),
    # --- reads with bad parameters
    "report since word": Bad(
        "supervisor", "get", "/api/v1/reports/response-times/?since=kemarin", field="since"
    ),
    "report until NUL": Bad("supervisor", "get", "/api/v1/reports/response-times/?until=%00", field="until"),
    "reverse lat 91": Bad("crew", "get", "/api/v1/geo/reverse/?lat=91&lon=112.6"),
    "search NUL": Bad("dispatcher", "get", "/api/v1/geo/search/?q=%00", field="q"),
    "search too long": Bad("dispatcher", "get", "/api/v1/geo/search/?q=" + "x" * 201, field="q"),
    # --- authentication
    "token NUL username": Bad(
        "anonymous", "post", "/api/v1/auth/token/", {"username": NUL, "password": "x"}, field="username"
    ),
    "token missing password": Bad(
        "anonymous", "post", "/api/v1/auth/token/", {"username": "a"}, field="password"
    ),
    "token list username": Bad(
        "anonymous", "post", "/api/v1/auth/token/", {"username": ["a"], "password": "x"}, field="username"
    ),
    "token wrong password": Bad(
        "anonymous", "post", "/api/v1/auth/token/", {"username": "a", "password": "b"}, status=401
    ),
    "token header NUL": Bad(
        "anonymous",
        "get",
        "/api/v1/incidents/",
        status=401,
        headers={"HTTP_AUTHORIZATION": "Token abc" + NUL},
    ),
    # Quoted cookies are unquoted with octal escapes: this session key holds a NUL byte.
    "session cookie NUL": Bad(
        "anonymous",
        "get",
        "/api/v1/incidents/",
        status=401,
        headers={"HTTP_COOKIE": 'sessionid="abcdefgh\\000ijklmnop"'},
    ),
    # Servers hand headers over decoded as latin-1: "✓" in UTF-8 arrives as three latin-1 characters.
    "token header not ascii": Bad(
        "anonymous",
        "get",
        "/api/v1/incidents/",
        status=401,
        headers={"HTTP_AUTHORIZATION": "Token ✓".encode().decode("latin-1")},
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_a_4xx_in_the_contract_shape_and_changes_nothing(name, world, db_state):
    case = CASES[name]
    seen = db_state()

    response = send(world, case)

    assert_error(response, case.status, code=case.code, field=case.field)
    assert db_state() == seen


def test_a_coordinate_too_large_for_a_float_is_refused(world, db_state):
    seen = db_state()
    response = send(world, Bad("call_taker", "post", CALLS, raw=VALID_CALL.replace("-7.9826", "9" * 400)))
    assert_error(response, 400, field="location")
    assert db_state() == seen


def test_the_battery_body_really_is_a_valid_call(world):
    """The cases above differ from a call that is accepted in one thing each."""
    response = send(world, Bad("call_taker", "post", CALLS, raw=VALID_CALL))
    assert response.status_code == 201
