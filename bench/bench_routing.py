"""Ranking every candidate unit for one incident on Kota Malang's real road map: OSRM (pruned), networkx, geodesic.

For fleets of 25, 250 and 2,500 units on the roads and N random incidents inside the city boundary:
  (a) our path: geo's in-process OSRM engine, `fastest_to(limit=1)`: snapped units, exact pruned ranking;
  (b) networkx single-source Dijkstra from the incident over the same graph (same roads, same class speeds);
  (c) geodesic: geo's fallback estimate for every unit (geopy), as with no road network;
plus the naive single table call over every unit, against which every pruned answer is checked (same best unit,
same ETA). Units are snapped once beforehand in (a) and (b) alike, as when their positions arrive; the incident's
own snapping is timed. Also reported: how often the road-nearest unit is not the straight-line-nearest, and the
ETA that choosing by road saves then.

    python -m bench routing [--incidents 1000] [--sizes 25,250,2500] [--network DIR] [--data DIR]
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import random
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED_MALANG = HERE.parent.parent / "shared" / "data" / "malang"
ROADS = "malang_roads_big_rbi25k.geojson"
BOUNDARY = "malang_kota_boundary_big.geojson"
GEODESIC_INCIDENTS = 100  # geopy takes ~0.1 ms a unit: (c) is timed on the first incidents only


class Clock:
    """Wall time and this thread's CPU time of each timed block, in ms. On a shared machine the wall time's
    tail is mostly other people's work; the CPU time is what the block itself cost."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    @contextmanager
    def timing(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.thread_time()
        yield
        self.cpu.append((time.thread_time() - cpu) * 1000)
        self.wall.append((time.perf_counter() - wall) * 1000)

    def percentiles(self) -> dict[str, float]:
        return {
            "p50_ms": round(float(np.percentile(self.wall, 50)), 3),
            "p99_ms": round(float(np.percentile(self.wall, 99)), 3),
            "cpu_p50_ms": round(float(np.percentile(self.cpu, 50)), 3),
            "cpu_p99_ms": round(float(np.percentile(self.cpu, 99)), 3),
            "n": len(self.wall),
        }


def road_graph(source: Path, work: Path) -> tuple[Any, np.ndarray, np.ndarray, list[int]]:
    """The network OSRM gets, as a networkx graph weighted in seconds at the profile's class speeds."""
    import networkx as nx

    from geo.roadnet import geojson_to_osm, profile_speeds

    speeds = profile_speeds()
    osm = work / "bench.osm"
    geojson_to_osm(source=source, out=osm, class_field="REMARK", known=set(speeds))
    root = ET.parse(osm).getroot()
    where = {int(n.get("id", 0)): (float(n.get("lat", 0)), float(n.get("lon", 0))) for n in root.iter("node")}
    graph = nx.Graph()
    for way in root.iter("way"):
        refs = [int(nd.get("ref", 0)) for nd in way.iter("nd")]
        highway = next(t.get("v") for t in way.iter("tag") if t.get("k") == "highway")
        mps = speeds[str(highway)] / 3.6
        for a, b in itertools.pairwise(refs):
            metres = haversine_m(*where[a], *where[b])
            graph.add_edge(a, b, seconds=metres / mps)
    ids = list(graph.nodes)
    lat = np.array([where[i][0] for i in ids])
    lon = np.array([where[i][1] for i in ids])
    return graph, lat, lon, ids


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def haversine_to(lat: np.ndarray, lon: np.ndarray, to_lat: float, to_lon: float) -> np.ndarray:
    p1, p2 = np.radians(lat), math.radians(to_lat)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * math.cos(p2) * np.sin(np.radians(to_lon - lon) / 2) ** 2
    return np.asarray(2 * 6_371_008.8 * np.arcsin(np.sqrt(a)))


def units_on_roads(
    rng: random.Random, graph: Any, lat: np.ndarray, lon: np.ndarray, ids: list[int], n: int
) -> list:
    """Ambulances somewhere on a road, a few metres of GPS noise off it."""
    from geo.points import LatLon

    index = {node: i for i, node in enumerate(ids)}
    edges = list(graph.edges)
    units = []
    for _ in range(n):
        a, b = edges[rng.randrange(len(edges))]
        t = rng.random()
        ia, ib = index[a], index[b]
        noise_lat, noise_lon = rng.gauss(0, 5) / 110_574, rng.gauss(0, 5) / 110_400
        units.append(LatLon(float(lat[ia] + t * (lat[ib] - lat[ia]) + noise_lat),
                            float(lon[ia] + t * (lon[ib] - lon[ia]) + noise_lon)))  # fmt: skip
    return units


def incidents_in_city(rng: random.Random, data: Path, n: int) -> list:
    """Calls from anywhere inside the city boundary: homes, markets, fields, not only the roads."""
    import json

    from shapely.geometry import Point, shape
    from shapely.prepared import prep

    from geo.points import LatLon

    city = shape(json.loads((data / BOUNDARY).read_text())["features"][0]["geometry"])
    inside = prep(city)
    west, south, east, north = city.bounds
    found = []
    while len(found) < n:
        lon, lat = rng.uniform(west, east), rng.uniform(south, north)
        if inside.contains(Point(lon, lat)):
            found.append(LatLon(lat, lon))
    return found


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench routing", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--sizes", default="25,250,2500")
    parser.add_argument("--limit", type=int, default=1, help="best units wanted (auto-dispatch: 1)")
    parser.add_argument("--data", type=Path, default=SHARED_MALANG, help="the Malang reference data folder")
    parser.add_argument(
        "--network", type=Path, default=None, help="a built data directory (default: build one)"
    )
    parser.add_argument("--seed", type=int, default=119)
    args = parser.parse_args(argv)
    if not (args.data / ROADS).exists():
        print(f"skipped: Malang reference data not found at {args.data}")
        return {"skipped": f"no {ROADS} under {args.data}"}
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    import networkx as nx

    from geo.osrm_engine import LocalOsrmEngine
    from geo.roadnet import network_build
    from geo.routing import geodesic_leg

    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-routing-") as scratch:
        work = Path(scratch)
        built = None
        if args.network is None:
            started = time.perf_counter()
            built = network_build(source=args.data / ROADS, data=work / "osrm")
            print(f"network {built.id} built in {time.perf_counter() - started:.1f} s "
                  f"(convert {built.meta['seconds'].get('convert', 0):.1f}, extract {built.meta['seconds']['extract']:.1f}, "
                  f"contract {built.meta['seconds']['contract']:.1f})")  # fmt: skip
        engine = LocalOsrmEngine(data=args.network or work / "osrm", check_every_s=3600)
        if not engine.ready():
            raise SystemExit(f"no road network in service under {args.network}")
        network = engine.network()
        assert network is not None
        graph, node_lat, node_lon, node_ids = road_graph(args.data / ROADS, work)
        incidents = incidents_in_city(rng, args.data, args.incidents)
        print(f"{len(incidents)} incidents inside the city; graph {graph.number_of_nodes():,} nodes, "
              f"{graph.number_of_edges():,} edges; top speed {network.top_speed_kmh:g} km/h; limit {args.limit}")  # fmt: skip

        # Count what the pruned path routes (a measurement aid only: the table call itself is unchanged).
        routed: list[int] = []
        table = network.table

        def counting_table(destination: Any, origins: Any) -> Any:
            routed.append(len(origins))
            return table(destination, origins)

        rows = []
        for size in sizes:
            units = units_on_roads(rng, graph, node_lat, node_lon, node_ids, size)
            unit_lat = np.array([u.lat for u in units])
            unit_lon = np.array([u.lon for u in units])
            zeros = [0.0] * size
            engine.table_to(incidents[0], units)  # snap every unit once, as when positions arrive
            # networkx's units snap to their nearest graph node, once, like OSRM's.
            unit_node, unit_off = [], []
            for u in units:
                metres = haversine_to(node_lat, node_lon, u.lat, u.lon)
                nearest = int(np.argmin(metres))
                unit_node.append(node_ids[nearest])
                unit_off.append(float(metres[nearest]))
            clocks = {name: Clock() for name in ("osrm_pruned", "networkx", "geodesic", "osrm_full")}
            per_incident_routed, mismatches, saved, differs = [], 0, [], 0
            for k, incident in enumerate(incidents):
                # (a) our path
                routed.clear()
                network.table = counting_table  # type: ignore[method-assign]
                with clocks["osrm_pruned"].timing():
                    pruned = engine.fastest_to(incident, units, args.limit, zeros)
                network.table = table  # type: ignore[method-assign]
                per_incident_routed.append(sum(routed))
                # The naive single table over every unit: the reference answer.
                with clocks["osrm_full"].timing():
                    table_legs = engine.table_to(incident, units)
                    full = [
                        leg or geodesic_leg(u, incident) for leg, u in zip(table_legs, units, strict=True)
                    ]
                best_full = sorted((leg.duration_s, i) for i, leg in enumerate(full))[: args.limit]
                best_pruned = sorted((leg.duration_s, i) for i, leg in enumerate(pruned) if leg is not None)
                if best_pruned[: args.limit] != best_full:
                    mismatches += 1
                # (b) networkx: snap the incident to the nearest node, Dijkstra over the whole graph, then rank.
                with clocks["networkx"].timing():
                    nearest = int(np.argmin(haversine_to(node_lat, node_lon, incident.lat, incident.lon)))
                    source = node_ids[nearest]
                    seconds = nx.single_source_dijkstra_path_length(graph, source, weight="seconds")
                    etas = [
                        seconds.get(n, math.inf) + off / (20 / 3.6)
                        for n, off in zip(unit_node, unit_off, strict=True)
                    ]
                    min(range(size), key=etas.__getitem__)
                # (c) geodesic
                if k < GEODESIC_INCIDENTS:
                    with clocks["geodesic"].timing():
                        legs = [geodesic_leg(u, incident) for u in units]
                        min(range(size), key=lambda i: legs[i].duration_s)
                # Road-nearest against straight-line-nearest.
                straight_nearest = int(
                    np.argmin(haversine_to(unit_lat, unit_lon, incident.lat, incident.lon))
                )
                road_nearest = best_full[0][1]
                if full[straight_nearest].duration_s > full[road_nearest].duration_s:
                    differs += 1
                    saved.append(full[straight_nearest].duration_s - full[road_nearest].duration_s)
            row = {
                "units": size,
                **{name: clock.percentiles() for name, clock in clocks.items()},
                "ratio_osrm_to_networkx_p50": round(
                    np.percentile(clocks["osrm_pruned"].wall, 50)
                    / np.percentile(clocks["networkx"].wall, 50),
                    4,
                ),
                "ratio_osrm_to_networkx_p99": round(
                    np.percentile(clocks["osrm_pruned"].wall, 99)
                    / np.percentile(clocks["networkx"].wall, 99),
                    4,
                ),
                "routed_per_incident": {
                    "mean": round(float(np.mean(per_incident_routed)), 1),
                    "p99": float(np.percentile(per_incident_routed, 99)),
                },
                "pruned_equals_full": mismatches == 0,
                "mismatches": mismatches,
                "road_nearest_differs_share": round(differs / len(incidents), 4),
                "eta_saved_s": {
                    "median": round(float(np.median(saved)), 1) if saved else 0.0,
                    "p90": round(float(np.percentile(saved, 90)), 1) if saved else 0.0,
                },
            }
            rows.append(row)
            print_row(row)
    targets = {250: 10.0, 2500: 25.0}
    met = {
        str(r["units"]): {
            "wall": r["osrm_pruned"]["p99_ms"] <= targets[r["units"]],
            "cpu": r["osrm_pruned"]["cpu_p99_ms"] <= targets[r["units"]],
        }
        for r in rows
        if r["units"] in targets
    }
    print_table(rows)
    print(f"targets (p99 <= 10 ms at 250, <= 25 ms at 2,500), by wall and by CPU time: {met}")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return {
        "incidents": len(incidents),
        "limit": args.limit,
        "network": built.meta if built else str(args.network),
        "rows": rows,
        "targets_met": met,
        "load_average": os.getloadavg(),
    }


def print_row(row: dict[str, Any]) -> None:
    print(f"  {row['units']:>5} units: pruned p50 {row['osrm_pruned']['p50_ms']:.2f} ms p99 "
          f"{row['osrm_pruned']['p99_ms']:.2f} ms, routed {row['routed_per_incident']['mean']:.0f} units on average; "
          f"networkx p50 {row['networkx']['p50_ms']:.1f} ms; exact: {row['pruned_equals_full']}", flush=True)  # fmt: skip


def print_table(rows: list[dict[str, Any]]) -> None:
    print()
    print(
        "| units | (a) OSRM pruned p50 / p99 | (a) CPU p50 / p99 | (b) networkx p50 / p99 | (c) geodesic p50 / p99 "
        "| full table p50 / p99 | a/b (p50) | units routed (mean) | pruned = full | road ≠ straight-line nearest "
        "| ETA saved median / p90 |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|---:|")
    for r in rows:

        def pair(name: str, r: dict[str, Any] = r, cpu: str = "") -> str:
            return f"{r[name][cpu + 'p50_ms']:.2f} / {r[name][cpu + 'p99_ms']:.2f} ms"

        print(f"| {r['units']:,} | {pair('osrm_pruned')} | {pair('osrm_pruned', cpu='cpu_')} | {pair('networkx')} | "
              f"{pair('geodesic')} | {pair('osrm_full')} | {r['ratio_osrm_to_networkx_p50']:.3f} | "
              f"{r['routed_per_incident']['mean']:.0f} | {'yes' if r['pruned_equals_full'] else 'NO'} | "
              f"{r['road_nearest_differs_share']:.0%} | "
              f"{r['eta_saved_s']['median']:.0f} / {r['eta_saved_s']['p90']:.0f} s |")  # fmt: skip
