"""Travel times through geo.routing: the road network picks the right unit, and every failure answers geodesic."""

import shutil

import pytest
from django.core.management import call_command

from calls.models import Priority
from dispatch.ranking import units_best_first, units_ranked_for
from dispatch.services import incident_dispatch_auto
from fleet.models import Unit
from geo.osrm_engine import LocalOsrmEngine
from geo.roadnet import DATASET, network_switch
from geo.routing import GEODESIC, ROAD, fastest_to, geodesic_leg, road_engine, route_between, travel_times_to
from tests.factories import IncidentFactory, UnitFactory
from tests.geo.conftest import TOWN, at, free_port

pytestmark = pytest.mark.django_db


def town_units():
    """One unit at each of the small town's telling places."""
    return {
        name: UnitFactory(call_sign=call_sign, lat=point.lat, lon=point.lon, station=None)
        for name, call_sign, point in [
            ("across_river", "A-1", TOWN.across_river),
            ("along_bank", "B-1", TOWN.along_bank),
            ("up_one_way", "C-1", TOWN.up_one_way),
        ]
    }


def town_incident(**fields):
    return IncidentFactory(lat=TOWN.incident.lat, lon=TOWN.incident.lon, **fields)


# --- The right unit ------------------------------------------------------------------------------------


def test_the_road_nearest_unit_ranks_first_not_the_one_across_the_river(road_network, town_data):
    road_network(town_data)
    units = town_units()
    incident = town_incident()

    ranked = units_ranked_for(incident, list(units.values()))

    assert [c.unit.call_sign for c in ranked] == ["B-1", "C-1", "A-1"]
    assert all(c.leg.source == ROAD for c in ranked)
    # 450 m of residential street at 25 km/h; the unit across the river drives 4.2 km over the only bridge.
    assert ranked[0].leg.duration_s == pytest.approx(450 / (25 / 3.6), abs=0.5)
    assert ranked[2].leg.distance_m == pytest.approx(4200, abs=5)


def test_the_one_way_street_is_not_driven_against_its_direction(road_network, town_data):
    road_network(town_data)
    units = town_units()
    up_the_hill = units_ranked_for(town_incident(), [units["up_one_way"]])[0]
    assert up_the_hill.leg.distance_m == pytest.approx(3300, abs=5)  # round by the two-way street at x = 1500


def test_the_straight_line_would_have_sent_the_unit_across_the_river(no_road_network):
    units = town_units()
    ranked = units_ranked_for(town_incident(), list(units.values()))
    assert ranked[0].unit.call_sign == "A-1"
    assert {c.leg.source for c in ranked} == {GEODESIC}


def test_auto_dispatch_sends_the_road_nearest_unit_with_its_route(road_network, town_data, sent_events):
    road_network(town_data)
    town_units()
    incident = town_incident()

    assignment = incident_dispatch_auto(incident_id=incident.id)

    assert assignment is not None
    assert assignment.unit.call_sign == "B-1"
    assert assignment.source == ROAD
    assert assignment.eta_seconds == pytest.approx(64.9, abs=0.5)
    assert assignment.route["type"] == "LineString"
    start, end = assignment.route["coordinates"][0], assignment.route["coordinates"][-1]
    assert start == pytest.approx([TOWN.along_bank.lon, TOWN.along_bank.lat], abs=1e-5)
    assert end == pytest.approx([TOWN.incident.lon, TOWN.incident.lat], abs=1e-5)


def test_a_limited_ranking_is_the_head_of_the_full_one_with_the_als_preference(road_network, town_data):
    road_network(town_data)
    town_units()
    UnitFactory(call_sign="D-1", lat=at(-1000, 100).lat, lon=at(-1000, 100).lon, station=None)  # 1 km, ALS
    Unit.objects.filter(call_sign="B-1").update(kind=Unit.Kind.BLS)  # counted 180 s slower for priority 1
    fleet = list(Unit.objects.all())
    red, yellow = town_incident(priority=Priority.RED), town_incident(priority=Priority.YELLOW)

    full = units_ranked_for(red, fleet)

    assert [c.unit.call_sign for c in full] == ["D-1", "B-1", "C-1", "A-1"]
    assert units_ranked_for(yellow, fleet, limit=1)[0].unit.call_sign == "B-1"
    for limit in (1, 2, 3):
        head = units_ranked_for(red, fleet, limit=limit)
        assert [(c.unit.pk, c.score, c.leg) for c in head] == [
            (c.unit.pk, c.score, c.leg) for c in full[:limit]
        ]
    assert [c.unit.call_sign for c in units_best_first(red, fleet, first=1)] == [
        c.unit.call_sign for c in full
    ]


# --- Fallbacks: geodesic with `source` set, never an exception ---------------------------------------


def test_without_a_road_network_every_answer_is_geodesic(no_road_network):
    origins = [TOWN.across_river, TOWN.along_bank]
    legs = travel_times_to(destination=TOWN.incident, origins=origins)
    assert legs == [geodesic_leg(o, TOWN.incident) for o in origins]
    assert [leg.source for leg in legs] == [GEODESIC, GEODESIC]
    best = fastest_to(destination=TOWN.incident, origins=origins, limit=1)
    assert best == [geodesic_leg(TOWN.across_river, TOWN.incident), None]
    route = route_between(origin=TOWN.along_bank, destination=TOWN.incident)
    assert route.geometry is None
    assert route.leg.source == GEODESIC


def test_a_point_far_from_every_road_is_estimated_and_the_others_routed(road_network, town_data):
    road_network(town_data)
    legs = travel_times_to(destination=TOWN.incident, origins=[TOWN.far_away, TOWN.along_bank])
    assert legs[0] == geodesic_leg(TOWN.far_away, TOWN.incident)
    assert legs[1].source == ROAD


def test_a_point_no_road_leads_from_is_estimated(road_network, town_data):
    road_network(town_data)
    leg = travel_times_to(destination=TOWN.incident, origins=[TOWN.on_island])[0]
    assert leg == geodesic_leg(TOWN.on_island, TOWN.incident)
    route = route_between(origin=TOWN.on_island, destination=TOWN.incident)
    assert route.geometry is None
    assert route.leg.source == GEODESIC


def test_an_incident_far_from_every_road_ranks_every_unit_geodesic(road_network, town_data):
    road_network(town_data)
    origins = [TOWN.across_river, TOWN.along_bank, TOWN.up_one_way]
    legs = fastest_to(destination=TOWN.far_away, origins=origins, limit=1)
    expected = [geodesic_leg(o, TOWN.far_away) for o in origins]
    best = min(range(3), key=lambda i: expected[i].duration_s)
    assert legs == [expected[i] if i == best else None for i in range(3)]


def test_an_engine_that_does_not_answer_gives_geodesic_answers(settings):
    settings.GEO = {**settings.GEO, "ROAD_ENGINE": "osrm-http", "OSRM_URL": f"http://127.0.0.1:{free_port()}",
                    "OSRM_TIMEOUT_SECONDS": 0.5}  # fmt: skip
    road_engine.cache_clear()
    try:
        origins = [TOWN.across_river, TOWN.along_bank]
        assert travel_times_to(destination=TOWN.incident, origins=origins) == [
            geodesic_leg(o, TOWN.incident) for o in origins
        ]
        assert fastest_to(destination=TOWN.incident, origins=origins, limit=1)[0].source == GEODESIC
        assert route_between(origin=TOWN.along_bank, destination=TOWN.incident).geometry is None
        assert road_engine().ready() is False
    finally:
        road_engine.cache_clear()


def test_a_configured_but_unbuilt_network_answers_geodesic_and_says_so(road_network, tmp_path, capsys):
    road_network(tmp_path / "nothing-built-yet")
    assert road_engine() is not None
    assert road_engine().ready() is False
    assert travel_times_to(destination=TOWN.incident, origins=[TOWN.along_bank])[0].source == GEODESIC
    call_command("check_routing")
    assert "geodesic estimate for now: no road network built yet" in capsys.readouterr().out


def test_a_broken_build_is_never_taken_into_service(road_network, town_data, tmp_path):
    data = tmp_path / "osrm"
    shutil.copytree(town_data, data, symlinks=True)
    road_network(data)
    before = travel_times_to(destination=TOWN.incident, origins=[TOWN.along_bank])[0]
    assert before.source == ROAD
    # Someone copies in a network whose contraction hierarchy is garbage, and points `current` at it.
    good = (data / "current").resolve()
    shutil.copytree(good, data / "builds" / "broken")
    (data / "builds" / "broken" / (DATASET + ".hsgr")).write_bytes(b"not a graph")
    network_switch(data=data, build_id="broken")

    after = travel_times_to(destination=TOWN.incident, origins=[TOWN.along_bank])[0]

    assert after == before  # still answered from the network already loaded
    fresh = LocalOsrmEngine(data=data, check_every_s=0)
    assert fresh.ready() is False  # and a new process would answer geodesic, not crash
    assert travel_times_to(destination=TOWN.incident, origins=[TOWN.along_bank])[0].source == ROAD


def test_a_separate_osrm_routed_picks_the_same_unit_with_the_same_answers(
    settings, town_data, osrm_routed, sent_events
):
    dataset = (town_data / "current").resolve() / DATASET
    settings.GEO = {**settings.GEO, "ROAD_ENGINE": "osrm-http", "OSRM_URL": osrm_routed(dataset),
                    "OSRM_DATA": str(town_data)}  # fmt: skip
    road_engine.cache_clear()
    try:
        units = town_units()
        ranked = units_ranked_for(town_incident(), list(units.values()))
        in_process = LocalOsrmEngine(data=town_data, check_every_s=0)
        origins = [TOWN.across_river, TOWN.along_bank, TOWN.up_one_way, TOWN.on_island, TOWN.far_away]

        assert road_engine().name == "osrm-http"
        assert [c.unit.call_sign for c in ranked] == ["B-1", "C-1", "A-1"]
        assert road_engine().table_to(TOWN.incident, origins) == in_process.table_to(TOWN.incident, origins)
        assert road_engine().route(TOWN.across_river, TOWN.incident) == in_process.route(
            TOWN.across_river, TOWN.incident
        )
        assert road_engine().route(TOWN.on_island, TOWN.incident) is None
    finally:
        road_engine.cache_clear()
