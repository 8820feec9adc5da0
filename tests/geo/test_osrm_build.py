"""Building road networks (build_road_network) and switching them into service without a restart."""

import io
import itertools
import json
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from geo.roadnet import CURRENT, PROFILE, geojson_to_osm, network_build, network_builds, profile_speeds
from geo.routing import GEODESIC, ROAD, road_engine, travel_times_to
from tests.geo.conftest import SECOND_BRIDGE, TOWN, WAYS, at, town_osm


def line(*points: tuple[float, float], every: float = 25.0) -> list[list[float]]:
    """A road line through grid points, with a vertex every `every` metres as digitised maps have."""
    coords = []
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        steps = max(1, round(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5 / every))
        coords += [at(x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps) for k in range(steps)]
    coords.append(at(*points[-1]))
    return [[p.lon, p.lat] for p in coords]


def feature(remark: str, *lines: list[list[float]]) -> dict:
    return {"type": "Feature", "properties": {"REMARK": remark},
            "geometry": {"type": "MultiLineString", "coordinates": list(lines)}}  # fmt: skip


@pytest.fixture
def rbi_roads(tmp_path: Path) -> Path:
    """Road lines as the BIG map has them: a collector road, a local road that starts at one of the collector's
    vertices (not at its end), a footpath that would be a shortcut, and a second piece in one feature."""
    roads = {"type": "FeatureCollection", "features": [
        feature("Jalan Kolektor", line((0, 0), (450, 0), (900, 0))),
        feature("Jalan Lokal", line((450, 0), (450, 600))),
        feature("Jalan Setapak", line((0, 0), (450, 600))),
        feature("Jalan Lain", line((900, 0), (900, 300)), line((900, 300), (1200, 300))),
    ]}  # fmt: skip
    path = tmp_path / "roads.geojson"
    path.write_text(json.dumps(roads))
    return path


def test_road_lines_become_a_network_joined_where_their_vertices_meet(rbi_roads, tmp_path, road_network):
    out = io.StringIO()
    call_command("build_road_network", str(rbi_roads), "--out", str(tmp_path / "osrm"), stdout=out)

    assert "in service" in out.getvalue()
    road_network(tmp_path / "osrm")
    start, corner, end, far = at(0, 0), at(900, 0), at(450, 600), at(1200, 300)
    to_end, to_corner, to_far = travel_times_to(destination=start, origins=[end, corner, far])
    # The local road is reached at the collector's middle vertex; the 750 m footpath is not for ambulances.
    assert to_end.source == ROAD
    assert to_end.distance_m == pytest.approx(1050, abs=5)
    # 900 m of Jalan Kolektor (secondary, 45 km/h) takes 72 s; durations only ever round up.
    assert 72.0 <= to_corner.duration_s <= 72.0 + 36 * 0.1
    assert to_far.distance_m == pytest.approx(900 + 300 + 300, abs=5)


def test_the_build_records_what_it_left_out_and_its_top_speed(rbi_roads, tmp_path):
    build = network_build(source=rbi_roads, data=tmp_path / "osrm")
    assert build.meta["dropped"]["footpaths"] == 1
    assert build.meta["classes"] == {"secondary": 1, "tertiary": 1, "residential": 2}
    assert build.meta["top_speed_kmh"] == profile_speeds()["secondary"] == 45
    assert (tmp_path / "osrm" / CURRENT).resolve() == build.base.parent


def test_pieces_not_joined_to_the_network_are_left_out(tmp_path):
    roads = {"type": "FeatureCollection", "features": [
        feature("Jalan Lokal", line((0, 0), (2000, 0), every=5)),
        feature("Jalan Lokal", line((0, 500), (20, 500))),
    ]}  # fmt: skip
    source = tmp_path / "roads.geojson"
    source.write_text(json.dumps(roads))
    report = geojson_to_osm(source=source, out=tmp_path / "out.osm", class_field="REMARK",
                            known=set(profile_speeds()), min_component_share=0.01)  # fmt: skip
    assert (report.roads, report.fragments) == (1, 1)
    assert report.fragment_m == pytest.approx(20, abs=1)


def test_the_profile_speed_table_is_read_as_osrm_applies_it(town_data, road_network):
    road_network(town_data)
    leg = travel_times_to(destination=TOWN.incident, origins=[TOWN.along_bank])[0]
    assert profile_speeds()["residential"] == 25
    assert 450 / (25 / 3.6) <= leg.duration_s <= 450 / (25 / 3.6) + 0.3


def test_a_new_network_goes_into_service_without_a_restart(town_data, tmp_path, road_network):
    data = tmp_path / "osrm"
    shutil.copytree(town_data, data, symlinks=True)
    road_network(data)
    engine = road_engine()
    before = travel_times_to(destination=TOWN.incident, origins=[TOWN.across_river])[0]
    assert before.distance_m == pytest.approx(4200, abs=5)

    # The city opens a road bridge beside the footbridge; a new network is built into the same place.
    network_build(source=town_osm(tmp_path / "town2.osm", [*WAYS, SECOND_BRIDGE]), data=data)
    after = travel_times_to(destination=TOWN.incident, origins=[TOWN.across_river])[0]

    assert road_engine() is engine
    assert after.source == ROAD
    assert after.distance_m == pytest.approx(200, abs=5)


def test_old_builds_are_removed_beyond_keep(tmp_path):
    source = town_osm(tmp_path / "town.osm", WAYS)
    ids = [network_build(source=source, data=tmp_path / "osrm", keep=2).id for _ in range(3)]
    assert network_builds(tmp_path / "osrm") == ids[1:]
    assert (tmp_path / "osrm" / CURRENT).resolve().name == ids[2]


def test_a_source_of_an_unknown_kind_is_refused_with_a_reason(tmp_path):
    source = tmp_path / "roads.csv"
    source.write_text("u,v\n")
    with pytest.raises(CommandError, match="expected an OpenStreetMap extract"):
        call_command("build_road_network", str(source), "--out", str(tmp_path / "osrm"))


def test_check_routing_says_which_engine_answers(town_data, road_network, no_road_network, capsys):
    call_command("check_routing")
    assert "Routing: geodesic estimate (no road network configured" in capsys.readouterr().out
    road_network(town_data)
    call_command("check_routing")
    said = capsys.readouterr().out
    assert said.startswith("Routing: road network (osrm: network ")
    assert road_engine().describe() in said
    assert travel_times_to(destination=TOWN.incident, origins=[TOWN.along_bank])[0].source != GEODESIC


def test_the_profile_ships_with_the_package():
    assert PROFILE.exists()
    assert PROFILE.parent.name == "profiles"


def test_a_no_turn_restriction_is_obeyed(tmp_path, road_network):
    """Main road west-east through junction J at x = 0; a side street runs south from J; the main road ends
    100 m east of J. Turning right from the west into the side street is forbidden (a relation)."""
    nodes = {1: (-500, 0), 2: (0, 0), 3: (100, 0), 4: (0, -400)}
    xml = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="psc119 tests">']
    xml += [
        f'<node id="{i}" version="1" lat="{at(*p).lat:.7f}" lon="{at(*p).lon:.7f}"/>'
        for i, p in nodes.items()
    ]
    xml += [
        '<way id="1" version="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="tertiary"/></way>',
        '<way id="2" version="1"><nd ref="2"/><nd ref="3"/><tag k="highway" v="tertiary"/></way>',
        '<way id="3" version="1"><nd ref="2"/><nd ref="4"/><tag k="highway" v="residential"/></way>',
        '<relation id="1" version="1"><member type="way" ref="1" role="from"/><member type="node" ref="2" '
        'role="via"/><member type="way" ref="3" role="to"/><tag k="type" v="restriction"/>'
        '<tag k="restriction" v="no_right_turn"/></relation>',
        "</osm>",
    ]
    source = tmp_path / "junction.osm"
    source.write_text("\n".join(xml))
    network_build(source=source, data=tmp_path / "osrm")
    road_network(tmp_path / "osrm")
    leg = travel_times_to(destination=at(0, -400), origins=[at(-500, 0)])[0]
    assert leg.source == ROAD
    # Not the 900 m through the forbidden turn: on to the dead end, round, and back to J first.
    assert leg.distance_m == pytest.approx(500 + 100 + 100 + 400, abs=5)
