"""Kota Malang's real road map (BIG RBI 1:25,000): reachability, plausible durations, exact pruned ranking.

Skipped, with the reason, where ../shared/data/malang is absent.
"""

import csv
import statistics
from pathlib import Path

import pytest
from geopy.distance import geodesic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.osrm_engine import HttpOsrmEngine, LocalOsrmEngine
from geo.points import LatLon
from geo.roadnet import NetworkBuild
from geo.routing import ROAD, fastest_to, geodesic_leg, road_engine, route_between, travel_times_to

pytestmark = pytest.mark.malang
RSUD_KOTA = "rsud_kota"  # RSUD Kota Malang, Jl. Rajasa: 733 m from the nearest mapped road


def facilities(folder: Path) -> dict[str, LatLon]:
    places = {r["key"]: LatLon(float(r["lat"]), float(r["lon"]))
              for r in csv.DictReader((folder / "malang_hospitals.csv").open())}  # fmt: skip
    places |= {r["name"]: LatLon(float(r["lat"]), float(r["lon"]))
               for r in csv.DictReader((folder / "malang_puskesmas.csv").open())}  # fmt: skip
    return places


def data_dir(build: NetworkBuild) -> Path:
    return build.base.parents[2]  # <data>/builds/<id>/network.osrm


@pytest.fixture
def malang_routing(malang_data, malang_network, road_network):
    road_network(data_dir(malang_network))
    return facilities(malang_data)


def test_the_build_keeps_vehicles_roads_and_leaves_footpaths_out(malang_network):
    meta = malang_network.meta
    assert meta["dropped"]["footpaths"] == 12  # Jalan Setapak
    assert meta["classes"] == {"tertiary": 2180, "residential": 823, "secondary": 24, "trunk": 9}
    assert meta["top_speed_kmh"] == 60  # the divided dual carriageways
    assert meta["nodes"] > 21_000


def test_every_hospital_and_puskesmas_reaches_every_other_by_road(malang_routing):
    places = malang_routing
    assert len(places) == 27 + 16
    ratios = []
    for name, destination in places.items():
        others = [(n, p) for n, p in places.items() if n != name]
        legs = travel_times_to(destination=destination, origins=[p for _, p in others])
        for (other, origin), leg in zip(others, legs, strict=True):
            assert leg.source == ROAD, f"{other} -> {name} not routed"
            straight = geodesic((origin.lat, origin.lon), (destination.lat, destination.lon)).meters
            on_road = leg.distance_m - leg.snapped_m
            assert leg.distance_m >= straight * 0.99
            assert leg.duration_s < 40 * 60, f"{other} -> {name}: {leg.duration_s:.0f} s across one city"
            if straight > 1000:
                ratios.append(leg.distance_m / straight)
                # Between the residential streets' 25 and the dual carriageways' 60 km/h, turns included.
                road_seconds = leg.duration_s - leg.snapped_m / (20 / 3.6)
                assert 15 <= on_road / road_seconds * 3.6 <= 60
    assert 1.1 <= statistics.median(ratios) <= 1.9  # as measured for Malang: 1.1-1.9 x the straight line
    assert max(ratios) < 4


def test_rsud_kota_malang_far_from_any_mapped_road_is_routed_and_says_how_far(malang_routing):
    rsud, rssa = malang_routing[RSUD_KOTA], malang_routing["rssa"]

    route = route_between(origin=rsud, destination=rssa)
    leg = travel_times_to(destination=rssa, origins=[rsud])[0]

    assert leg.source == route.leg.source == ROAD
    line = route.geometry["coordinates"]
    # The crew's line starts at the hospital's door, crosses to the nearest mapped road and ends at RSSA's.
    assert line[0] == [rsud.lon, rsud.lat]
    assert line[-1] == [rssa.lon, rssa.lat]
    off_road_here = geodesic((rsud.lat, rsud.lon), (line[1][1], line[1][0])).meters
    off_road_there = geodesic((rssa.lat, rssa.lon), (line[-2][1], line[-2][0])).meters
    assert 300 < off_road_here < 734  # the nearest road segment, nearer than the nearest junction (733 m)
    assert leg.snapped_m == pytest.approx(off_road_here + off_road_there, abs=2)
    assert leg.duration_s == route.leg.duration_s
    # The off-road stretch is counted at a crawl, not skipped.
    assert leg.duration_s > leg.snapped_m / (20 / 3.6) + (leg.distance_m - leg.snapped_m) / (60 / 3.6)


points_in_malang = st.builds(
    LatLon, st.floats(-8.045, -7.915, allow_nan=False), st.floats(112.575, 112.69, allow_nan=False)
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    incident=points_in_malang,
    units=st.lists(points_in_malang, min_size=2, max_size=60),
    handicaps=st.lists(st.sampled_from([0.0, 0.0, 180.0]), min_size=60, max_size=60),
    limit=st.integers(1, 4),
)
def test_the_pruned_ranking_equals_the_full_table_ranking(malang_routing, incident, units, handicaps, limit):
    handicaps = handicaps[: len(units)]
    full = travel_times_to(destination=incident, origins=units)
    ranked = sorted(
        (leg.duration_s + h, leg.duration_s, i)
        for i, (leg, h) in enumerate(zip(full, handicaps, strict=True))
    )

    pruned = fastest_to(destination=incident, origins=units, limit=limit, handicaps_s=handicaps)

    kept = sorted((leg.duration_s + h, leg.duration_s, i) for i, (leg, h) in enumerate(zip(pruned, handicaps, strict=True))
                  if leg is not None)  # fmt: skip
    assert kept[:limit] == ranked[:limit]  # same best units, same ETAs, same order
    assert all(pruned[i] == full[i] for _, _, i in kept)


def test_units_far_from_the_incident_are_not_routed_at_all(malang_routing, malang_network):
    """The point of pruning: a fleet spread over the city, one call near the Alun-alun."""
    engine = road_engine()
    alun_alun = LatLon(-7.9826, 112.6308)
    fleet = [LatLon(-8.04 + 0.0025 * i, 112.58 + 0.0025 * j) for i in range(48) for j in range(44)]
    routed = []
    network = engine.network()
    table = network.table

    def counting(destination, origins):
        routed.append(len(origins))
        return table(destination, origins)

    network.table = counting
    try:
        legs = fastest_to(destination=alun_alun, origins=fleet, limit=1)
    finally:
        del network.table
    assert sum(routed) < len(fleet) / 10
    best = next(leg for leg in legs if leg is not None)
    assert best == min((leg or geodesic_leg(o, alun_alun) for leg, o in
                        zip(travel_times_to(destination=alun_alun, origins=fleet), fleet, strict=True)),
                       key=lambda leg: leg.duration_s)  # fmt: skip


def test_osrm_routed_over_http_gives_the_same_answers_as_the_engine_in_process(
    malang_data, malang_network, osrm_routed
):
    named = facilities(malang_data)
    places = list(named.values())
    local = LocalOsrmEngine(data=data_dir(malang_network), check_every_s=0)
    remote = HttpOsrmEngine(
        url=osrm_routed(malang_network.base), timeout_s=5, top_speed_kmh=malang_network.top_speed_kmh
    )
    assert remote.ready()
    for destination in places[:8]:
        assert remote.table_to(destination, places) == local.table_to(destination, places)
        handicaps = [180.0 if i % 3 else 0.0 for i in range(len(places))]
        assert remote.fastest_to(destination, places, 2, handicaps) == local.fastest_to(
            destination, places, 2, handicaps
        )
    here, there = named["rssa"], named[RSUD_KOTA]
    by_http, in_process = remote.route(here, there), local.route(here, there)
    assert by_http is not None
    assert by_http == in_process
    assert by_http.geometry["type"] == "LineString"
    assert by_http.geometry["coordinates"][-1] == [there.lon, there.lat]  # off-road to RSUD's door
