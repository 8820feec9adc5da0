"""GET /api/v1/reports/response-times/: counts, mean, median and p90 of every interval."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.api.contract import assert_error
from tests.factories import AssignmentFactory, IncidentFactory

pytestmark = pytest.mark.django_db

INTERVALS = ("call_to_dispatch", "turnout", "travel", "response", "on_scene", "transport", "total")


def closed_incident(received, response_s, priority=1):
    incident = IncidentFactory(
        received_at=received,
        priority=priority,
        kecamatan="Lowokwaru",
        status="closed",
        closed_at=received + timedelta(seconds=response_s + 900),
    )
    AssignmentFactory(
        incident=incident,
        status="cleared",
        assigned_at=received + timedelta(seconds=30),
        en_route_at=received + timedelta(seconds=90),
        on_scene_at=received + timedelta(seconds=response_s),
        cleared_at=received + timedelta(seconds=response_s + 600),
    )


def test_the_report_gives_the_figures_of_every_interval_by_priority_and_kecamatan(supervisor):
    start = timezone.now() - timedelta(hours=1)
    for response_s in (400, 500, 900):
        closed_incident(start, response_s)

    response = supervisor.get(
        "/api/v1/reports/response-times/", {"since": (start - timedelta(minutes=1)).isoformat()}
    )

    assert response.status_code == 200
    body = response.json()
    for table in (body["overall"], body["by_priority"]["1"], body["by_kecamatan"]["Lowokwaru"]):
        assert set(table) >= set(INTERVALS)
        for figures in table.values():
            assert set(figures) >= {"count", "mean", "median", "p90"}
    response_figures = body["overall"]["response"]
    assert (response_figures["count"], response_figures["mean"], response_figures["median"]) == (
        3,
        600.0,
        500.0,
    )
    assert response_figures["p90"] == 820.0
    assert body["overall"]["call_to_dispatch"]["mean"] == 30.0


def test_the_report_window_excludes_what_came_before(dispatcher):
    start = timezone.now() - timedelta(hours=1)
    closed_incident(start - timedelta(days=2), 300)
    body = dispatcher.get("/api/v1/reports/response-times/", {"since": start.isoformat()}).json()
    assert body["overall"]["response"]["count"] == 0


@pytest.mark.parametrize("query", [{"since": "kemarin"}, {"until": "2026-13-45"}, {"since": "0"}])
def test_a_report_window_that_is_not_a_time_is_refused(supervisor, query):
    assert_error(supervisor.get("/api/v1/reports/response-times/", query), 400)
