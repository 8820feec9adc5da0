"""The crew's own endpoints and pages: hospital ranking, the current job, the app shell, offline replays."""

import json
import re
import uuid
from datetime import timedelta

import pytest
from django.contrib.staticfiles import finders
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Role
from dispatch.hospitals import Case, case_for
from dispatch.models import Assignment, StatusChange
from geo.models import Facility
from tests.factories import CENTRE, CallFactory, HospitalFactory, IncidentFactory, UnitFactory, UserFactory

pytestmark = pytest.mark.django_db

LAT, LON = CENTRE
# ~111 m per 0.001 degree of latitude: hospitals placed due north of the scene at known distances.
KM = 0.009


def _assignment(unit, *, complaint="nyeri dada, sesak napas", minutes_ago=5, **incident):
    incident = IncidentFactory(complaint=complaint, lat=LAT, lon=LON, status="dispatched", **incident)
    return Assignment.objects.create(
        incident=incident,
        unit=unit,
        status="on_scene",
        assigned_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def _hospital(name, km_north, *, category="RSU", ed_status="open", ed=True):
    return HospitalFactory(
        name=name, category=category, ed_status=ed_status, has_emergency_department=ed,
        lat=LAT + km_north * KM, lon=LON,
    )  # fmt: skip


def _names(answer):
    return [h["name"] for h in answer.json()["hospitals"]]


# --- Hospital ranking --------------------------------------------------------------------------


def test_a_general_case_gets_open_general_eds_by_travel_time_then_diversion_never_closed_or_rsia(crew, unit):
    assignment = _assignment(unit)
    _hospital("RSU far", 4.0)
    _hospital("RSU near", 1.0)
    _hospital("RSU on diversion, nearest", 0.3, ed_status="diversion")
    _hospital("RSU closed", 0.2, ed_status="closed")
    _hospital("RSIA next door", 0.1, category="RSIA")
    _hospital("RSU without ED", 0.1, ed=False)
    _hospital("RSK oncology", 0.1, category="RSK")

    answer = crew.get("/api/v1/crew/hospitals/", {"assignment": assignment.pk})

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["case"] == "general"
    assert _names(answer) == ["RSU near", "RSU far", "RSU on diversion, nearest"]
    etas = [h["eta_seconds"] for h in body["hospitals"][:2]]
    assert etas == sorted(etas)
    assert etas[0] > 0
    assert [h["preferred"] for h in body["hospitals"]] == [True, True, False]
    assert body["hospitals"][2]["ed_status"] == "diversion"
    assert body["origin"] == {"lat": LAT, "lon": LON}


def test_a_maternity_case_gets_rsia_first_even_when_a_general_hospital_is_nearer(crew, unit):
    assignment = _assignment(unit, complaint="ibu hamil 9 bulan, ketuban pecah")
    _hospital("RSU nearest", 0.5)
    _hospital("RSIA far", 3.0, category="RSIA")
    _hospital("RSIA near", 2.0, category="RSIA")
    _hospital("RSIA on diversion", 0.2, category="RSIA", ed_status="diversion")

    answer = crew.get("/api/v1/crew/hospitals/", {"assignment": assignment.pk})

    assert answer.json()["case"] == "maternity"
    assert _names(answer) == ["RSIA near", "RSIA far", "RSU nearest", "RSIA on diversion"]
    assert [h["preferred"] for h in answer.json()["hospitals"]] == [True, True, False, False]


def test_the_crew_can_ask_for_the_other_case(crew, unit):
    assignment = _assignment(unit, complaint="nyeri dada")
    _hospital("RSU", 0.5)
    _hospital("RSIA", 2.0, category="RSIA")

    general = crew.get("/api/v1/crew/hospitals/", {"assignment": assignment.pk})
    maternity = crew.get("/api/v1/crew/hospitals/", {"assignment": assignment.pk, "case": "maternity"})

    assert _names(general) == ["RSU"]
    assert _names(maternity) == ["RSIA", "RSU"]
    assert crew.get("/api/v1/crew/hospitals/", {"assignment": assignment.pk, "case": "x"}).status_code == 400


def test_the_ranking_starts_from_the_scene_when_the_units_position_is_stale(crew, unit):
    unit.lat, unit.lon, unit.location_at = LAT + 0.2, LON, timezone.now() - timedelta(hours=2)
    unit.save()
    assignment = _assignment(unit)
    _hospital("RSU by the scene", 0.5)

    answer = crew.get("/api/v1/crew/hospitals/", {"assignment": assignment.pk})

    assert answer.json()["origin"] == {"lat": LAT, "lon": LON}
    assert answer.json()["hospitals"][0]["distance_m"] < 1000


@pytest.mark.parametrize(
    ("complaint", "case"),
    [
        ("ibu hamil pendarahan", Case.MATERNITY),
        ("mau melahirkan, kontraksi", Case.MATERNITY),
        ("bayi kejang", Case.MATERNITY),
        ("Pregnant woman in labour", Case.MATERNITY),
        ("kecelakaan motor, luka kepala", Case.GENERAL),
        ("nyeri dada, sesak", Case.GENERAL),
    ],
)
def test_the_case_is_read_from_the_complaint(complaint, case):
    assert case_for(complaint=complaint) == case


def test_hospitals_are_only_for_the_crew_of_the_unit(make_client, crew):
    other = _assignment(UnitFactory())
    assert crew.get("/api/v1/crew/hospitals/", {"assignment": other.pk}).status_code == 403
    assert crew.get("/api/v1/crew/hospitals/", {"assignment": 999_999}).status_code == 404
    assert crew.get("/api/v1/crew/hospitals/").status_code == 400
    assert (
        make_client(Role.CALL_TAKER).get("/api/v1/crew/hospitals/", {"assignment": other.pk}).status_code
        == 403
    )
    assert (
        make_client(Role.DISPATCHER).get("/api/v1/crew/hospitals/", {"assignment": other.pk}).status_code
        == 200
    )
    assert APIClient().get("/api/v1/crew/hospitals/", {"assignment": other.pk}).status_code == 401


# --- The current job ---------------------------------------------------------------------------


def test_the_crew_gets_the_callers_phone_and_a_landmark_near_the_scene(crew, unit):
    assignment = _assignment(unit)
    assignment.status = "assigned"
    assignment.save()
    CallFactory(incident=assignment.incident, caller_phone="+6281234567890", caller_name="Bu Sri")
    CallFactory(incident=assignment.incident, caller_phone="+6281234567890")
    Facility.objects.create(kind="landmark", name="Alun-alun Merdeka", lat=LAT + 0.001, lon=LON)
    Facility.objects.create(kind="landmark", name="Far away", lat=LAT + 0.05, lon=LON)

    body = crew.get("/api/v1/crew/current/").json()

    assert body["unit"]["id"] == unit.pk
    assert body["assignment"]["id"] == assignment.pk
    # The contract's assignment, untouched: every api.md field plus the route.
    for field in (
        "incident",
        "unit",
        "status",
        "eta_seconds",
        "hospital",
        "assigned_at",
        "acknowledged_at",
        "route",
    ):
        assert field in body["assignment"]
    assert body["details"]["callers"] == [{"caller_phone": "+6281234567890", "caller_name": "Bu Sri"}]
    assert body["details"]["landmark"]["name"] == "Alun-alun Merdeka"
    assert 90 < body["details"]["landmark"]["distance_m"] < 130
    assert body["ack_timeout_seconds"] > 0
    assert body["server_time"]


def test_the_crew_with_nothing_to_do_gets_no_assignment(crew, unit):
    body = crew.get("/api/v1/crew/current/").json()
    assert body["assignment"] is None
    assert body["details"] is None
    assert body["unit"]["call_sign"] == unit.call_sign


def test_only_crews_with_a_unit_get_a_current_job(make_client):
    assert make_client(Role.DISPATCHER).get("/api/v1/crew/current/").status_code == 403
    assert make_client(Role.CREW).get("/api/v1/crew/current/").status_code == 403  # no unit linked
    assert APIClient().get("/api/v1/crew/current/").status_code == 401


# --- Offline taps, replayed --------------------------------------------------------------------


def test_a_replayed_offline_tap_is_applied_once_and_keeps_the_time_it_was_made(crew, unit):
    assignment = _assignment(unit, minutes_ago=10)
    assignment.status = "assigned"
    assignment.save()
    tapped = timezone.now() - timedelta(minutes=8)
    ack = {"status": "acknowledged", "at": tapped.isoformat(), "client_id": str(uuid.uuid4())}
    depart = {
        "status": "en_route",
        "at": (tapped + timedelta(minutes=1)).isoformat(),
        "client_id": str(uuid.uuid4()),
    }
    url = f"/api/v1/assignments/{assignment.pk}/status/"

    answers = [crew.post(url, body, format="json") for body in (ack, ack, depart, ack, depart)]

    assert [a.status_code for a in answers] == [200] * 5
    assignment.refresh_from_db()
    assert assignment.status == "en_route"
    assert assignment.acknowledged_at == tapped
    assert assignment.en_route_at == tapped + timedelta(minutes=1)
    changes = StatusChange.objects.filter(assignment=assignment).exclude(to_status="assigned")
    assert [c.to_status for c in changes] == ["acknowledged", "en_route"]


# --- The app ------------------------------------------------------------------------------------


def _logged_in(role, unit=None):
    client = APIClient()
    client.force_login(UserFactory(role=role, unit=unit))
    return client


def test_the_crew_app_asks_for_a_login_and_is_only_for_crews(unit):
    anonymous = APIClient().get("/crew/")
    assert anonymous.status_code == 302
    assert anonymous["Location"] == "/login/?next=/crew/"
    assert _logged_in(Role.DISPATCHER).get("/crew/").status_code == 403


def test_the_crew_app_speaks_indonesian_and_loads_only_its_own_static_scripts(unit):
    page = _logged_in(Role.CREW, unit).get("/crew/")
    html = page.content.decode()

    assert page.status_code == 200
    assert '<html lang="id">' in html
    assert f'data-unit="{unit.pk}"' in html
    assert 'data-position-interval="5.0"' in html
    assert "/static/leaflet/leaflet.js" in html
    assert "csrftoken" in page.cookies
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts
    assert all("src=" in tag for tag in scripts), "no inline scripts"
    assert "cdn" not in html.lower()
    assert "Keluar" in html  # "Log out", in Indonesian


def test_the_service_worker_is_served_under_crew_and_knows_the_shell(unit):
    answer = APIClient().get("/crew/sw.js")
    text = answer.content.decode()
    shell = json.loads(re.match(r"self\.CREW_SHELL = (.*);\n", text).group(1))

    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/javascript")
    assert "/static/crew/app.js" in shell["static"]
    assert "/static/leaflet/leaflet.js" in shell["static"]
    assert re.fullmatch(r"[0-9a-f]{12}", shell["version"])
    assert 'addEventListener("fetch"' in text


def test_the_manifest_makes_the_app_installable():
    answer = APIClient().get("/crew/manifest.webmanifest")
    manifest = json.loads(answer.content)

    assert answer["Content-Type"] == "application/manifest+json"
    assert manifest["start_url"] == "/crew/"
    assert manifest["scope"] == "/crew/"
    assert manifest["display"] == "standalone"
    assert manifest["name"] == "Kru Ambulans PSC 119"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        assert finders.find(icon["src"].removeprefix("/static/")), icon["src"]


def test_the_apps_words_are_indonesian_by_default_and_english_on_request():
    indonesian = APIClient().get("/crew/jsi18n/").content.decode()
    client = APIClient()
    client.cookies["django_language"] = "en"
    english = client.get("/crew/jsi18n/").content.decode()

    # In the context "crew", so that the control room's words for the same English never replace them.
    assert '"crew\\u0004Acknowledge": "Terima"' in indonesian
    assert '"crew\\u0004Arrived on scene": "Tiba di lokasi"' in indonesian
    assert "Terima" not in english


def test_the_crew_can_switch_the_app_to_english(unit):
    client = _logged_in(Role.CREW, unit)
    switched = client.post("/i18n/setlang/", {"language": "en", "next": "/crew/"})
    page = client.get("/crew/").content.decode()

    assert switched["Location"] == "/crew/"
    assert '<html lang="en">' in page
    assert "Log out" in page
    assert 'value="id"' in page  # and back to Bahasa Indonesia


def test_a_crew_account_without_a_unit_is_told_so_and_runs_no_app():
    page = _logged_in(Role.CREW).get("/crew/").content.decode()

    assert "belum terhubung ke ambulans" in page
    assert "<script" not in page
