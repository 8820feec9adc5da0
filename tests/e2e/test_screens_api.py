"""What the screens read and write beyond the v1 contract (dispatch/screen_api.py), over HTTP on the real stack."""

from __future__ import annotations

import re

import httpx
import pytest

from accounts.models import Role, User
from dispatch.models import Camera
from geo.models import Region
from tests.factories import StationFactory, UnitFactory, UserFactory

pytestmark = [pytest.mark.e2e]

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[112.62, -7.99], [112.64, -7.99], [112.64, -7.97], [112.62, -7.97], [112.62, -7.99]]],
}


def session_for(stack, username: str) -> httpx.Client:
    """A browser-like session: the login form with its CSRF token, then cookies."""
    client = httpx.Client(base_url=stack.base_url, timeout=10.0)
    form = client.get("/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    answer = client.post(
        "/login/",
        data={"username": username, "password": "pass-1234", "csrfmiddlewaretoken": token, "next": "/"},
        headers={"Referer": f"{stack.base_url}/login/"},
    )
    assert answer.status_code == 302, answer.text
    return client


def call(client, **overrides):
    body = {
        "caller_phone": "0812-1111-2222",
        "complaint": "sesak napas",
        "priority": 2,
        "location": {"lat": -7.9800, "lon": 112.6300},
        **overrides,
    }
    answer = client.post("/api/v1/calls/", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_each_role_lands_on_its_own_screen_and_is_kept_out_of_the_others(stack, transactional_db):
    homes = {
        Role.CALL_TAKER: "/calltaker/",
        Role.DISPATCHER: "/console/",
        Role.SUPERVISOR: "/wall/",
        Role.VIEWER: "/wall/",
        Role.CREW: "/crew/",
    }
    for role, home in homes.items():
        unit = UnitFactory() if role == Role.CREW else None
        UserFactory(username=f"home-{role}", role=role, unit=unit)
        session = session_for(stack, f"home-{role}")
        assert session.get("/").headers["location"] == home, role
    viewer = session_for(stack, f"home-{Role.VIEWER}")
    assert viewer.get("/console/").status_code == 403
    assert viewer.get("/calltaker/").status_code == 403
    wall = viewer.get("/wall/")
    assert wall.status_code == 200
    assert "script-src 'self'" in wall.headers["content-security-policy"]
    inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", wall.text)
    assert inline == [], "no inline script: the configuration is JSON, the code is in static files"
    assert session_for(stack, f"home-{Role.CALL_TAKER}").get("/wall/").status_code == 403
    anonymous = httpx.get(f"{stack.base_url}/console/")
    assert anonymous.status_code == 302
    assert anonymous.headers["location"].startswith("/login/")


def test_the_history_shows_earlier_calls_from_the_number_incidents_at_the_place_and_open_duplicates(
    stack, token_for, transactional_db
):
    calltaker = stack.client(token_for(Role.CALL_TAKER))
    earlier = call(calltaker, caller_phone="0812-1111-2222", complaint="pingsan")
    call(
        calltaker,
        caller_phone="0899-0000-1111",
        complaint="elsewhere",
        location={"lat": -7.93, "lon": 112.65},
    )

    found = calltaker.get(
        "/api/v1/calls/history/", params={"phone": "+62 812 1111 2222", "lat": -7.98005, "lon": 112.63005}
    ).json()
    assert found["phone"] == "+6281211112222"
    assert [c["call"]["complaint"] for c in found["by_phone"]] == ["pingsan"]
    assert found["by_phone"][0]["incident"]["id"] == earlier["incident"]["id"]
    assert [i["id"] for i in found["near_place"]] == [earlier["incident"]["id"]]
    assert [i["id"] for i in found["possible_duplicates"]] == [earlier["incident"]["id"]]

    nothing = calltaker.get("/api/v1/calls/history/", params={"phone": "12"}).json()
    assert nothing == {"phone": None, "by_phone": [], "near_place": [], "possible_duplicates": []}
    assert calltaker.get("/api/v1/calls/history/", params={"lat": "nan", "lon": 1}).status_code == 400
    # Callers' numbers are personal data: the read-only roles do not get them.
    assert stack.client(token_for(Role.VIEWER)).get("/api/v1/calls/history/?phone=0812").status_code == 403


def test_the_map_layers_and_the_cameras_nearest_an_incident(stack, token_for, transactional_db):
    kecamatan = Region.objects.create(kind=Region.Kind.KECAMATAN, name="Klojen", geometry=SQUARE)
    Region.objects.create(kind=Region.Kind.KELURAHAN, name="Kauman", geometry=SQUARE, parent=kecamatan)
    Camera.objects.create(name="Alun-alun", lat=-7.9826, lon=112.6309, stream_url="https://cctv.example/1")
    Camera.objects.create(
        name="Jl. Ijen", lat=-7.9700, lon=112.6200, snapshot_url="https://cctv.example/2.jpg"
    )
    Camera.objects.create(name="Dinoyo", lat=-7.9430, lon=112.6110, stream_url="https://cctv.example/3")
    Camera.objects.create(
        name="Off", lat=-7.9827, lon=112.6309, stream_url="https://cctv.example/4", active=False
    )
    viewer = stack.client(token_for(Role.VIEWER))

    regions = viewer.get("/api/v1/geo/regions.geojson").json()
    assert regions["type"] == "FeatureCollection"
    assert {(f["properties"]["kind"], f["properties"]["name"]) for f in regions["features"]} == {
        ("kecamatan", "Klojen"),
        ("kelurahan", "Kauman"),
    }
    kelurahan = next(f for f in regions["features"] if f["properties"]["kind"] == "kelurahan")
    assert kelurahan["properties"]["kecamatan"] == "Klojen"
    assert kelurahan["geometry"]["type"] == "Polygon"
    assert viewer.get("/api/v1/geo/roads.geojson").json()["type"] == "FeatureCollection"

    nearest = viewer.get("/api/v1/cameras/", params={"lat": -7.9820, "lon": 112.6300, "limit": 2}).json()
    assert [c["name"] for c in nearest] == ["Alun-alun", "Jl. Ijen"]
    assert nearest[0]["distance_m"] < nearest[1]["distance_m"]
    assert nearest[0]["stream_url"] == "https://cctv.example/1"
    assert {c["name"] for c in viewer.get("/api/v1/cameras/").json()} == {"Alun-alun", "Jl. Ijen", "Dinoyo"}
    assert stack.client(token_for(Role.CREW, unit=UnitFactory())).get("/api/v1/cameras/").status_code == 403


def test_an_alert_stays_open_until_a_dispatcher_acknowledges_it_once(stack, token_for, transactional_db):
    dispatcher = stack.client(token_for(Role.DISPATCHER))
    with stack.websocket("/ws/console/", token_for(Role.DISPATCHER)) as console:
        incident = call(stack.client(token_for(Role.CALL_TAKER)))["incident"]  # no unit exists: an alert
        alert = console.wait_for(lambda m: m["type"] == "alert" and m["data"]["incident"] == incident["id"])
    open_alerts = dispatcher.get("/api/v1/alerts/").json()
    assert [(a["seq"], a["data"]["code"]) for a in open_alerts] == [(alert["seq"], "no_unit_available")]

    assert (
        stack.client(token_for(Role.SUPERVISOR))
        .post(f"/api/v1/alerts/{alert['seq']}/acknowledge/")
        .status_code
        == 403
    )
    first = dispatcher.post(f"/api/v1/alerts/{alert['seq']}/acknowledge/")
    assert first.status_code == 200, first.text
    again = dispatcher.post(f"/api/v1/alerts/{alert['seq']}/acknowledge/")
    assert again.json()["acknowledged_at"] == first.json()["acknowledged_at"]
    assert dispatcher.get("/api/v1/alerts/").json() == []
    assert (
        dispatcher.post(f"/api/v1/alerts/{alert['seq'] - 1}/acknowledge/").status_code == 404
    )  # not an alert
    assert dispatcher.post("/api/v1/alerts/999999999/acknowledge/").status_code == 404


def test_the_language_choice_is_kept_on_the_user_and_todays_figures_reach_the_wall(
    stack, token_for, transactional_db
):
    UnitFactory(station=StationFactory(lat=-7.98, lon=112.63))
    viewer_token = token_for(Role.VIEWER)
    viewer = stack.client(viewer_token)
    answer = viewer.post("/api/v1/me/language/", json={"language": "en"})
    assert answer.status_code == 200
    assert answer.cookies.get("django_language") == "en"
    user = User.objects.get(auth_token__key=viewer_token)
    assert user.language == "en"
    assert viewer.post("/api/v1/me/language/", json={"language": "fr"}).status_code == 400

    call(stack.client(token_for(Role.CALL_TAKER)))
    figures = viewer.get("/api/v1/reports/today/").json()
    assert figures["incidents"] == 1
    assert set(figures["overall"]) >= {"call_to_dispatch", "response"}
    assert stack.client(token_for(Role.CALL_TAKER)).get("/api/v1/reports/today/").status_code == 403
