"""Road networks for the routing tests: a small town written here, and Kota Malang from the shared data.

Each is built once per test session into a temporary data directory, with the same command the service uses.
"""

import math
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from geo.points import LatLon
from geo.roadnet import NetworkBuild, network_build, osrm_tool
from geo.routing import road_engine
from tests.conftest import SHARED_MALANG

# The small town sits in Kota Malang (so its coordinates look real) on a local grid in metres.
ORIGIN = LatLon(-7.9800, 112.6200)


def at(x: float, y: float) -> LatLon:
    """The point x metres east and y metres north of ORIGIN."""
    return LatLon(
        round(ORIGIN.lat + y / 110_574, 7),
        round(ORIGIN.lon + x / (111_320 * math.cos(math.radians(ORIGIN.lat))), 7),
    )


class Town:
    """The small town. A river runs east-west along y = 0, crossed by one road bridge at x = 2000.

    - North Road (y = +100) and South Road (y = -100) follow the banks, residential, both ways.
    - A footbridge at x = 0 crosses the river: not for ambulances.
    - Hill Street (y = +400) joins North Road by a one-way street at x = 0 that runs north only, and by a
      two-way street at x = 1500.
    - An island in the river carries a short road with no bridge at all.
    """

    incident = at(0, 100)  # on North Road
    across_river = at(0, -100)  # South Road: 200 m away, 4.2 km by road over the bridge
    along_bank = at(-450, 100)  # North Road: 450 m away, 450 m by road
    up_one_way = at(0, 400)  # Hill Street: 300 m away, 3.3 km by road (the one-way runs up, not down)
    on_island = at(600, 0)  # on a road that joins nothing
    far_away = at(9000, 9000)  # kilometres from any road


TOWN = Town()

WAYS: list[tuple[list[tuple[float, float]], dict[str, str]]] = [
    ([(-1000, 100), (-450, 100), (0, 100), (1500, 100), (2000, 100), (2500, 100)],
     {"highway": "residential", "name": "Jalan Utara"}),
    ([(-1000, -100), (0, -100), (2000, -100), (2500, -100)], {"highway": "residential", "name": "Jalan Selatan"}),
    ([(2000, 100), (2000, -100)], {"highway": "residential", "bridge": "yes", "name": "Jembatan"}),
    ([(0, 100), (0, -100)], {"highway": "footway", "bridge": "yes"}),
    ([(0, 100), (0, 400)], {"highway": "residential", "oneway": "yes", "name": "Gang Satu Arah"}),
    ([(-300, 400), (0, 400), (1500, 400)], {"highway": "residential", "name": "Jalan Bukit"}),
    ([(1500, 400), (1500, 100)], {"highway": "residential"}),
    ([(500, 0), (600, 0), (700, 0)], {"highway": "residential", "name": "Jalan Pulau"}),
    ([(-1000, 0), (3000, 0)], {"waterway": "river", "name": "Kali Brantas"}),
]  # fmt: skip
# The same town after the city built a road bridge beside the footbridge.
SECOND_BRIDGE = ([(0, 100), (0, -100)], {"highway": "residential", "bridge": "yes", "name": "Jembatan Baru"})


def town_osm(path: Path, ways: list[tuple[list[tuple[float, float]], dict[str, str]]]) -> Path:
    """Write `ways` as OSM XML; ways share a node wherever they share a grid point."""
    nodes: dict[tuple[float, float], int] = {}
    for points, _ in ways:
        for p in points:
            nodes.setdefault(p, len(nodes) + 1)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="psc119 tests">']
    for (x, y), nid in nodes.items():
        p = at(x, y)
        lines.append(f'<node id="{nid}" version="1" lat="{p.lat:.7f}" lon="{p.lon:.7f}"/>')
    for wid, (points, tags) in enumerate(ways, start=1):
        refs = "".join(f'<nd ref="{nodes[p]}"/>' for p in points)
        tag_xml = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        lines.append(f'<way id="{wid}" version="1">{refs}{tag_xml}</way>')
    lines.append("</osm>")
    path.write_text("\n".join(lines))
    return path


@pytest.fixture(scope="session")
def town_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the small town's network in service."""
    folder = tmp_path_factory.mktemp("town")
    network_build(source=town_osm(folder / "town.osm", WAYS), data=folder / "osrm")
    return folder / "osrm"


@pytest.fixture(scope="session")
def malang_network(tmp_path_factory: pytest.TempPathFactory) -> NetworkBuild:
    """Kota Malang's BIG road map built into a temporary data directory (skips without the shared data)."""
    source = SHARED_MALANG / "malang_roads_big_rbi25k.geojson"
    if not source.exists():
        pytest.skip(f"Malang reference data not found at {SHARED_MALANG}")
    return network_build(source=source, data=tmp_path_factory.mktemp("malang") / "osrm")


@pytest.fixture
def road_network(settings):
    """Route with the in-process engine on the data directory given; the engine is loaded afresh."""

    def use(data: Path, **extra: object) -> None:
        settings.GEO = {**settings.GEO, "ROAD_ENGINE": "osrm", "OSRM_DATA": str(data),
                        "OSRM_RELOAD_CHECK_SECONDS": 0.0, **extra}  # fmt: skip
        road_engine.cache_clear()

    road_engine.cache_clear()
    yield use
    road_engine.cache_clear()


@pytest.fixture
def no_road_network(settings):
    settings.GEO = {**settings.GEO, "ROAD_ENGINE": ""}
    road_engine.cache_clear()
    yield
    road_engine.cache_clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def osrm_routed():
    """Start a real osrm-routed on a loopback port for a dataset; its base URL. Killed at the session's end."""
    servers: dict[Path, tuple[subprocess.Popen, str]] = {}

    def serve(dataset: Path) -> str:
        if dataset in servers:
            return servers[dataset][1]
        port = free_port()
        proc = subprocess.Popen(
            [str(osrm_tool("osrm-routed")), "--ip", "127.0.0.1", "--port", str(port), "--threads", "1",
             "--max-table-size", "1000", str(dataset)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "LC_ALL": "C"},
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        servers[dataset] = (proc, url)
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{url}/nearest/v1/driving/112.63,-7.98", timeout=1) as answer:
                    if answer.status == 200:
                        return url
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"osrm-routed did not start (exit {proc.poll()})")
                time.sleep(0.1)

    yield serve
    for proc, _ in servers.values():
        proc.kill()  # nothing to save: it only serves
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def malang_places(django_db_blocker):
    """Kota Malang's places (regions, facilities, streets, our landmarks and aliases), imported once per module
    as `load_demo --data` does, and removed afterwards so that other tests start from an empty database."""
    from dispatch.demo import demo_import_data
    from geo.models import Facility, PlaceAlias, Region, Street
    from tests.conftest import SHARED_MALANG

    if not (SHARED_MALANG / "malang_kelurahan_big2021.geojson").exists():
        pytest.skip(f"Malang reference data not found at {SHARED_MALANG}")
    with django_db_blocker.unblock():
        counts = demo_import_data(SHARED_MALANG)
    yield counts
    with django_db_blocker.unblock():
        for model in (PlaceAlias, Street, Facility, Region):
            model.objects.all().delete()
