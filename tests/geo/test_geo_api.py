"""GET /api/v1/geo/search/ and /api/v1/geo/reverse/ as consoles and crew phones call them (docs/api.md)."""

import pytest
from rest_framework.test import APIClient

from accounts.models import Role

SEARCH = "/api/v1/geo/search/"
REVERSE = "/api/v1/geo/reverse/"
CONTRACT_PLACE = {"name", "kind", "location", "kelurahan", "kecamatan", "score"}
CONTRACT_REVERSE = {"kelurahan", "kecamatan", "nearest", "inside_service_area"}

pytestmark = pytest.mark.django_db


def _error(answer, status: int) -> dict:
    assert answer.status_code == status, answer.content
    body = answer.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


# --- Search -------------------------------------------------------------------------------------------------------


@pytest.mark.malang
def test_search_answers_ranked_places_in_the_contract_shape(malang_places, call_taker):
    answer = call_taker.get(SEARCH, {"q": "depan Matos"})
    assert answer.status_code == 200
    places = answer.json()
    assert places
    assert all(set(p) >= CONTRACT_PLACE for p in places)
    best = places[0]
    assert (best["name"], best["kind"], best["kelurahan"], best["kecamatan"]) == (
        "Malang Town Square", "landmark", "Penanggungan", "Klojen",
    )  # fmt: skip
    assert set(best["location"]) == {"lat", "lon"}
    assert best["location"]["lat"] == pytest.approx(-7.9568)
    assert [p["score"] for p in places] == sorted((p["score"] for p in places), reverse=True)


@pytest.mark.malang
def test_search_limit_caps_the_answer(malang_places, dispatcher):
    answer = dispatcher.get(SEARCH, {"q": "jalan", "limit": 3})
    assert answer.status_code == 200
    assert len(answer.json()) == 3


def test_search_with_nothing_findable_is_an_empty_list(dispatcher):
    answer = dispatcher.get(SEARCH, {"q": "depan"})
    assert (answer.status_code, answer.json()) == (200, [])


@pytest.mark.parametrize(
    "params",
    [{}, {"q": ""}, {"q": "   "}, {"q": "x" * 201}, {"q": "matos " * 2000}, {"q": "matos", "limit": 0},
     {"q": "matos", "limit": 51}, {"q": "matos", "limit": "abc"}],
    ids=["missing", "empty", "blank", "201-chars", "huge", "limit-0", "limit-51", "limit-abc"],
)  # fmt: skip
def test_search_refuses_bad_input_with_400_in_the_error_shape(dispatcher, params):
    error = _error(dispatcher.get(SEARCH, params), 400)
    assert error["code"] == "invalid"
    assert set(error["fields"]) <= {"q", "limit"}
    assert error["fields"]


def test_search_missing_q_names_the_field(dispatcher):
    assert "q" in _error(dispatcher.get(SEARCH), 400)["fields"]


@pytest.mark.parametrize("role", [Role.CALL_TAKER, Role.DISPATCHER, Role.SUPERVISOR, Role.VIEWER])
def test_search_is_open_to_every_console_role(make_client, role):
    assert make_client(role).get(SEARCH, {"q": "matos"}).status_code == 200


def test_search_is_closed_to_crew(crew):
    _error(crew.get(SEARCH, {"q": "matos"}), 403)


def test_search_without_credentials_is_401():
    _error(APIClient().get(SEARCH, {"q": "matos"}), 401)


# --- Reverse ------------------------------------------------------------------------------------------------------


@pytest.mark.malang
def test_reverse_answers_the_place_in_the_contract_shape(malang_places, call_taker):
    answer = call_taker.get(REVERSE, {"lat": "-7.95690", "lon": "112.61855"})
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) >= CONTRACT_REVERSE
    assert (body["kelurahan"], body["kecamatan"], body["inside_service_area"]) == (
        "Penanggungan",
        "Klojen",
        True,
    )
    assert body["nearest"]["name"] == "Malang Town Square"
    assert body["nearest"]["kind"] == "landmark"
    assert 0 <= body["nearest"]["distance_m"] < 15
    assert body["nearest_street"]["kind"] == "street"


@pytest.mark.malang
def test_reverse_outside_the_service_area_says_so(malang_places, dispatcher):
    body = dispatcher.get(REVERSE, {"lat": -7.2575, "lon": 112.7521}).json()
    assert (body["kelurahan"], body["kecamatan"], body["nearest"], body["inside_service_area"]) == (
        "",
        "",
        None,
        False,
    )


def test_reverse_is_open_to_crew(crew):
    answer = crew.get(REVERSE, {"lat": -7.98, "lon": 112.63})
    assert answer.status_code == 200
    assert set(answer.json()) >= CONTRACT_REVERSE


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lat": 91, "lon": 112.63}, "lat"),
        ({"lat": -91, "lon": 112.63}, "lat"),
        ({"lat": "NaN", "lon": 112.63}, "lat"),
        ({"lat": "inf", "lon": 112.63}, "lat"),
        ({"lat": -7.98, "lon": "abc"}, "lon"),
        ({"lat": -7.98, "lon": 181}, "lon"),
        ({"lat": -7.98}, "lon"),
        ({"lon": 112.63}, "lat"),
        ({"lat": "", "lon": 112.63}, "lat"),
    ],
    ids=[
        "lat-91",
        "lat-minus-91",
        "lat-nan",
        "lat-inf",
        "lon-abc",
        "lon-181",
        "lon-missing",
        "lat-missing",
        "lat-empty",
    ],
)
def test_reverse_refuses_bad_coordinates_with_400_in_the_error_shape(crew, params, field):
    error = _error(crew.get(REVERSE, params), 400)
    assert error["code"] == "invalid"
    assert field in error["fields"]


def test_reverse_without_credentials_is_401():
    _error(APIClient().get(REVERSE, {"lat": -7.98, "lon": 112.63}), 401)


# --- The OpenAPI schema -------------------------------------------------------------------------------------------


@pytest.fixture
def schema(dispatcher) -> dict:
    answer = dispatcher.get("/api/schema/", {"format": "json"})
    assert answer.status_code == 200
    return answer.json()


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_schema_documents_search_parameters_and_answer(schema):
    operation = schema["paths"][SEARCH]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["q"]["required"] is True
    assert parameters["q"]["in"] == "query"
    assert parameters["limit"].get("required", False) is False
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["type"] == "array"
    place = _resolve(schema, ok["items"])
    assert set(place["properties"]) >= CONTRACT_PLACE
    assert {"400", "401", "403"} <= set(operation["responses"])
    error = operation["responses"]["400"]["content"]["application/json"]["schema"]
    assert set(_resolve(schema, error)["properties"]["error"]["properties"]) == {"code", "message", "fields"}


def test_schema_documents_reverse_parameters_and_answer(schema):
    operation = schema["paths"][REVERSE]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["lat"]["required"] is True
    assert parameters["lon"]["required"] is True
    assert parameters["lat"]["schema"]["type"] == "number"
    answer = _resolve(schema, operation["responses"]["200"]["content"]["application/json"]["schema"])
    assert set(answer["properties"]) >= CONTRACT_REVERSE
    nearest = answer["properties"]["nearest"]
    nearest = _resolve(schema, nearest.get("allOf", [nearest])[0] if "allOf" in nearest else nearest)
    assert {"name", "kind", "distance_m"} <= set(_resolve(schema, nearest).get("properties", {}))
