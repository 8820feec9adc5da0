"""The response-time report: figures, filters by priority and kecamatan, the CSV export and the page."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from dispatch.models import Assignment
from geo.models import Region
from tests.factories import IncidentFactory, UnitFactory

URL = "/api/v1/reports/response-times/"
CSV_URL = "/api/v1/reports/response-times.csv"


def _served(*, priority, kecamatan, response_s, received_at=None, travel_s=None, transport=False):
    """A closed incident whose first unit reached the scene `response_s` after the call."""
    received = received_at or timezone.now() - timedelta(hours=3)
    incident = IncidentFactory(priority=priority, kecamatan=kecamatan, received_at=received, status="closed")
    assigned = received + timedelta(seconds=20)
    on_scene = received + timedelta(seconds=response_s)
    en_route = on_scene - timedelta(seconds=travel_s if travel_s is not None else response_s - 80)
    leaves = on_scene + timedelta(minutes=12)
    at_hospital = leaves + timedelta(minutes=9) if transport else None
    cleared = (at_hospital or leaves) + timedelta(minutes=10)
    Assignment.objects.create(
        incident=incident, unit=UnitFactory(), status="cleared", assigned_at=assigned,
        acknowledged_at=assigned + timedelta(seconds=10), en_route_at=en_route, on_scene_at=on_scene,
        transporting_at=leaves if transport else None, at_hospital_at=at_hospital, cleared_at=cleared,
        ended_at=cleared,
    )  # fmt: skip
    incident.closed_at = cleared
    incident.save(update_fields=["closed_at"])
    return incident


@pytest.fixture
def supervisor(db, make_client):
    return make_client(Role.SUPERVISOR)


@pytest.fixture
def served(db):
    return [
        _served(priority=1, kecamatan="Klojen", response_s=300, transport=True),
        _served(priority=1, kecamatan="Klojen", response_s=600),
        _served(priority=1, kecamatan="Sukun", response_s=1200, transport=True),
        _served(priority=2, kecamatan="Sukun", response_s=540),
        _served(priority=3, kecamatan="", response_s=900),
    ]


def test_the_report_keeps_its_fields_and_counts_every_served_incident(supervisor, served):
    answer = supervisor.get(URL)

    assert answer.status_code == 200
    body = answer.json()
    for key in ("since", "until", "incidents", "unit", "overall", "by_priority", "by_kecamatan"):
        assert key in body
    assert body["incidents"] == 5
    response = body["overall"]["response"]
    assert response["count"] == 5
    assert response["median"] == 600.0
    assert response["mean"] == pytest.approx((300 + 600 + 1200 + 540 + 900) / 5, abs=0.1)
    assert set(body["by_priority"]) == {"1", "2", "3"}
    assert set(body["by_kecamatan"]) == {"Klojen", "Sukun", "-"}
    assert body["overall"]["transport"]["count"] == 2
    assert body["overall"]["turnout"]["count"] == 5


def test_priority_1_within_targets_counts_arrivals_within_8_and_15_minutes(supervisor, served):
    within = supervisor.get(URL).json()["priority_1_within"]

    assert within["8"] == {"reached": 1, "of": 3, "share": pytest.approx(1 / 3, abs=1e-4)}
    assert within["15"] == {"reached": 2, "of": 3, "share": pytest.approx(2 / 3, abs=1e-4)}


def test_filter_by_priority_and_kecamatan(supervisor, served):
    p1 = supervisor.get(URL, {"priority": 1}).json()
    assert p1["incidents"] == 3
    assert set(p1["by_priority"]) == {"1"}
    assert p1["filters"] == {"priority": 1, "kecamatan": None}

    sukun = supervisor.get(URL, {"kecamatan": "Sukun"}).json()
    assert sukun["incidents"] == 2
    assert set(sukun["by_kecamatan"]) == {"Sukun"}

    both = supervisor.get(URL, {"kecamatan": "Sukun", "priority": 1}).json()
    assert both["incidents"] == 1
    assert both["overall"]["response"]["median"] == 1200.0

    outside = supervisor.get(URL, {"kecamatan": "-"}).json()
    assert outside["incidents"] == 1
    assert set(outside["by_priority"]) == {"3"}


def test_filter_by_dates_and_the_daily_series(supervisor, db):
    now = timezone.now()
    _served(priority=1, kecamatan="Klojen", response_s=400, received_at=now - timedelta(days=3))
    _served(priority=1, kecamatan="Klojen", response_s=800, received_at=now - timedelta(days=1))

    recent = supervisor.get(URL, {"since": (now - timedelta(days=2)).isoformat()}).json()
    everything = supervisor.get(URL).json()

    assert recent["incidents"] == 1
    assert recent["overall"]["response"]["median"] == 800.0
    assert [d["count"] for d in everything["daily"]] == [1, 1]
    assert [d["p90"] for d in everything["daily"]] == [400.0, 800.0]


def test_the_histogram_puts_each_response_in_its_two_minute_bin(supervisor, served):
    bins = {b["from_min"]: b["count"] for b in supervisor.get(URL).json()["histogram"]}

    assert bins[4] == 1  # 5:00
    assert bins[8] == 1  # 9:00
    assert bins[10] == 1  # 10:00
    assert bins[14] == 1  # 15:00
    assert bins[20] == 1  # 20:00
    assert sum(bins.values()) == 5


@pytest.mark.parametrize("query", [{"priority": 4}, {"priority": "merah"}, {"since": "kemarin"}])
def test_bad_filters_are_a_400_with_the_field_named(supervisor, query):
    answer = supervisor.get(URL, query)

    assert answer.status_code == 400
    assert set(answer.json()["error"]["fields"]) == set(query)


def test_csv_has_one_line_per_incident_with_its_intervals_and_no_personal_data(supervisor, served):
    answer = supervisor.get(CSV_URL, {"priority": 1})

    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/csv")
    assert "attachment" in answer["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.content.decode())))
    assert len(rows) == 3
    assert {r["priority"] for r in rows} == {"1"}
    assert sorted(float(r["response_s"]) for r in rows) == [300.0, 600.0, 1200.0]
    assert sorted(r["transport_s"] for r in rows) == ["", "540.0", "540.0"]
    header = set(rows[0])
    assert not header & {"caller_phone", "caller_name", "complaint", "address", "notes"}
    assert served[0].complaint not in answer.content.decode()


def test_csv_and_report_are_for_supervisors_and_dispatchers_only(make_client, client, served):
    assert make_client(Role.DISPATCHER).get(CSV_URL).status_code == 200
    assert make_client(Role.CALL_TAKER).get(CSV_URL).status_code == 403
    assert make_client(Role.VIEWER).get(URL).status_code == 403
    assert client.get(CSV_URL).status_code == 401


def test_the_report_page_renders_for_a_supervisor_with_the_map_outlines(client, django_user_model, db):
    from tests.factories import UserFactory

    Region.objects.create(
        kind=Region.Kind.KECAMATAN, name="Klojen",
        geometry={"type": "Polygon", "coordinates": [[[112.62, -7.99], [112.64, -7.99], [112.64, -7.97],
                                                      [112.62, -7.97], [112.62, -7.99]]]},
    )  # fmt: skip
    UserFactory(username="sup", role=Role.SUPERVISOR)
    client.login(username="sup", password="pass-1234")

    page = client.get("/reports/")

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="kecamatan-outlines"' in html and "Klojen" in html
    assert "reports/reports.js" in html and "leaflet/leaflet.js" in html
    assert "script-src 'self'" in page["Content-Security-Policy"]


def test_the_report_page_is_refused_to_a_call_taker(client, db):
    from tests.factories import UserFactory

    UserFactory(username="ct", role=Role.CALL_TAKER)
    client.login(username="ct", password="pass-1234")

    assert client.get("/reports/").status_code == 403
