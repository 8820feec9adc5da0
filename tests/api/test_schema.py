"""GET /api/schema/: an OpenAPI 3 description of every path of the contract."""

import pytest
import yaml
from rest_framework.test import APIClient

from tests.api.contract import assert_error

pytestmark = pytest.mark.django_db

CONTRACT = {
    "/api/v1/auth/token/": {"post"},
    "/api/v1/me/": {"get"},
    "/api/v1/calls/": {"post"},
    "/api/v1/incidents/": {"get"},
    "/api/v1/incidents/{id}/": {"get"},
    "/api/v1/incidents/{id}/recommendations/": {"get"},
    "/api/v1/incidents/{id}/assignments/": {"post"},
    "/api/v1/incidents/{id}/cancel/": {"post"},
    "/api/v1/units/": {"get"},
    "/api/v1/units/{id}/": {"get"},
    "/api/v1/units/{id}/positions/": {"post"},
    "/api/v1/units/{id}/status/": {"post"},
    "/api/v1/assignments/{id}/status/": {"post"},
    "/api/v1/geo/search/": {"get"},
    "/api/v1/geo/reverse/": {"get"},
    "/api/v1/hospitals/": {"get"},
    "/api/v1/reports/response-times/": {"get"},
}


def test_the_schema_is_openapi_3_json_and_lists_every_path_of_the_contract(viewer):
    response = viewer.get("/api/schema/")

    assert response.status_code == 200
    assert "json" in response["Content-Type"]
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path, methods in CONTRACT.items():
        assert path in schema["paths"], path
        assert methods <= set(schema["paths"][path]), path


def test_the_schema_describes_the_call_body(viewer):
    schema = viewer.get("/api/schema/").json()
    ref = schema["paths"]["/api/v1/calls/"]["post"]["requestBody"]["content"]["application/json"]["schema"][
        "$ref"
    ]
    call = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert {"caller_phone", "complaint", "priority"} <= set(call["required"])
    assert {"location", "address", "incident", "client_id", "notes"} <= set(call["properties"])


def test_the_schema_is_also_served_as_yaml_on_request(viewer):
    response = viewer.get("/api/schema/?format=yaml")
    assert response.status_code == 200
    assert yaml.safe_load(response.content)["openapi"].startswith("3.")


def test_the_schema_needs_a_login(db):
    assert_error(APIClient().get("/api/schema/"), 401)
