"""What docs/api.md fixes: field names, the error shape, time format. Shared by the API tests."""

import re
from datetime import datetime

# api.md lists these; answers may add fields, never drop one.
INCIDENT_FIELDS = {
    "id",
    "number",
    "status",
    "priority",
    "complaint",
    "location",
    "address",
    "kecamatan",
    "kelurahan",
    "patient_count",
    "outside_service_area",
    "calls",
    "assignments",
    "created_at",
}
ASSIGNMENT_FIELDS = {
    "id",
    "incident",
    "unit",
    "status",
    "eta_seconds",
    "distance_m",
    "source",
    "hospital",
    "assigned_at",
    "acknowledged_at",
    "en_route_at",
    "on_scene_at",
    "transporting_at",
    "at_hospital_at",
    "cleared_at",
    "ended_reason",
}
UNIT_FIELDS = {
    "id",
    "call_sign",
    "kind",
    "owner",
    "status",
    "location",
    "location_at",
    "station",
    "active_assignment",
}
HOSPITAL_FIELDS = {"id", "name", "kind", "location", "ed_status"}
REVERSE_FIELDS = {"kelurahan", "kecamatan", "nearest", "inside_service_area"}
SEARCH_FIELDS = {"name", "kind", "location", "kelurahan", "kecamatan", "score"}

ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$")


def has_fields(data: dict, fields: set[str]) -> bool:
    missing = fields - set(data)
    assert not missing, f"missing {sorted(missing)}"
    return True


def is_time(value: str) -> bool:
    assert ISO_WITH_OFFSET.match(value), value
    assert datetime.fromisoformat(value).tzinfo is not None
    return True


def is_location(value: dict) -> bool:
    assert set(value) == {"lat", "lon"}
    assert -90 <= value["lat"] <= 90
    assert -180 <= value["lon"] <= 180
    return True


def assert_error(response, status: int, code: str | None = None, field: str | None = None) -> dict:
    """A 4xx in the contract's shape: {"error": {"code", "message", "fields"}}."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].split(";")[0].endswith("json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}
    assert isinstance(error["code"], str)
    assert error["code"]
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["fields"], dict)
    if code is not None:
        assert error["code"] == code
    if field is not None:
        assert field in error["fields"], error
    return error


def call_body(**fields) -> dict:
    return {
        "caller_phone": "0812-3456-7890",
        "caller_name": "Bu Sri",
        "location": {"lat": -7.9826, "lon": 112.6308},
        "address": "Alun-alun Malang",
        "complaint": "sesak napas",
        "priority": 2,
        "patient_count": 1,
    } | fields
