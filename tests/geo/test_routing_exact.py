"""Pruned ranking is exact where its lower bound is tightest: straight roads at the network's top speed.

On the Malang map most roads are much slower than the top speed, so a bound that overestimated a little would
rarely be caught there. Here units stand along two straight dual carriageways, joined only at their ends: the
straight line at top speed is almost exactly the drive along the incident's own road, and far from it for the
units on the other one.
"""

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.roadnet import network_build
from geo.routing import ROAD, fastest_to, road_engine, travel_times_to
from tests.geo.conftest import at

TRUNK = "Jalan Tol Dua Jalur Dengan Pemisah Fisik"  # BIG's divided dual carriageway: trunk, the top speed


def straight(x0: float, x1: float, y: float) -> list[list[float]]:
    """An east-west road at y, with a vertex every 25 m."""
    steps = round(abs(x1 - x0) / 25)
    coords = [at(x0 + (x1 - x0) * k / steps, y) for k in range(steps + 1)]
    return [[p.lon, p.lat] for p in coords]


@pytest.fixture(scope="session")
def highway_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("highway")
    connector = [[at(0, y).lon, at(0, y).lat] for y in (0, 300)]
    roads = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"REMARK": TRUNK}, "geometry": {"type": "LineString", "coordinates": line}}
        for line in (straight(0, 6000, 0), straight(0, 6000, 300), connector)
    ]}  # fmt: skip
    source = folder / "highway.geojson"
    source.write_text(json.dumps(roads))
    build = network_build(source=source, data=folder / "osrm")
    assert build.meta["top_speed_kmh"] == 60
    return folder / "osrm"


unit_x = st.integers(0, 6000)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    along=st.lists(
        st.tuples(unit_x, st.sampled_from([0, 300]), st.integers(-20, 20)), min_size=3, max_size=30
    ),
    incident_x=unit_x,
    handicaps=st.lists(st.sampled_from([0.0, 0.0, 15.0, 60.0]), min_size=30, max_size=30),
    limit=st.integers(1, 3),
)
def test_pruned_equals_full_along_top_speed_roads(
    highway_data, road_network, along, incident_x, handicaps, limit
):
    road_network(highway_data)
    units = [at(x, y + off) for x, y, off in along]
    handicaps = handicaps[: len(units)]
    incident = at(incident_x, 0)

    full = travel_times_to(destination=incident, origins=units)
    pruned = fastest_to(destination=incident, origins=units, limit=limit, handicaps_s=handicaps)

    def ranking(legs):
        return sorted((leg.duration_s + h, leg.duration_s, i) for i, (leg, h) in
                      enumerate(zip(legs, handicaps, strict=True)) if leg is not None)  # fmt: skip

    assert ranking(pruned)[:limit] == ranking(full)[:limit]
    assert all(leg.source == ROAD for leg in full)


def test_the_bound_is_tight_on_the_incidents_own_road(highway_data, road_network):
    """5 km along a 60 km/h road take 300 s; with a bound that tight, few of 40 units need routing."""
    road_network(highway_data)
    leg = travel_times_to(destination=at(500, 0), origins=[at(5500, 0)])[0]
    assert 300.0 <= leg.duration_s <= 300.0 + 200 * 0.1  # rounded up per 25 m segment, never down
    rng = random.Random(7)
    units = [at(rng.randrange(0, 6000), 0) for _ in range(40)]
    travel_times_to(destination=at(3000, 0), origins=units)  # snap them once
    network = road_engine().network()
    table, routed = network.table, []

    def counting(destination, origins):
        routed.append(len(origins))
        return table(destination, origins)

    network.table = counting
    try:
        legs = fastest_to(destination=at(3000, 0), origins=units, limit=1)
    finally:
        del network.table
    assert sum(routed) <= 10
    assert sum(leg is not None for leg in legs) == 1
