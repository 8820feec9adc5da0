"""Road networks on disk: building an OSRM dataset from a road map, and finding the one in service.

Layout of a data directory (settings.GEO["OSRM_DATA"], default var/osrm/):

    builds/<build id>/network.osrm.*   the OSRM dataset (contraction hierarchies)
    builds/<build id>/meta.json        what it was built from, its classes and its top speed
    builds/<build id>/ambulance.lua    the profile it was built with
    current -> builds/<build id>       switched atomically when a build has passed its check

A running engine compares `current` with what it has loaded and reloads when it moves, so a new network goes
into service without a restart. OSRM_DATA may also name one `*.osrm` dataset built elsewhere (no switching).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO
from xml.sax.saxutils import quoteattr

PROFILE = Path(__file__).resolve().parent / "profiles" / "ambulance.lua"
DATASET = "network.osrm"
CURRENT = "current"
BUILDS = "builds"
META = "meta.json"

# BIG Rupabumi (RBI 1:25,000) road classes, field REMARK, as the OSM highway values our profile knows.
RBI_HIGHWAY = {
    "Jalan Tol Dua Jalur Dengan Pemisah Fisik": "trunk",  # divided dual carriageway, not a toll road
    "Jalan Arteri": "primary",
    "Jalan Kolektor": "secondary",
    "Jalan Lokal": "tertiary",
    "Jalan Lain": "residential",
    "Jalan Setapak": None,  # footpath: not for vehicles
    "Jalan Tol": "motorway",
}
NOT_FOR_VEHICLES = {"footway", "path", "pedestrian", "steps", "cycleway", "bridleway", "track", "corridor"}
# Where nothing says what a road is, an ambulance is assumed to manage it like a minor street.
UNKNOWN_CLASS_HIGHWAY = "unclassified"
NAME_FIELDS = ("name", "nama", "NAMRJL", "NAMOBJ")
OSM_SUFFIXES = (".osm", ".osm.pbf", ".pbf", ".osm.bz2")
GEOJSON_SUFFIXES = (".geojson", ".json")
COORDINATE_SCALE = 10_000_000  # OSM's 7 decimals: line ends that coincide at this precision share a node

Progress = Callable[[str, float | None, str], None]


class RoadNetworkError(Exception):
    """A road network could not be built or read; the message says what to do."""


@dataclass(frozen=True, slots=True)
class NetworkBuild:
    id: str
    base: Path  # the dataset's base path, `.../network.osrm`
    meta: dict[str, Any]

    @property
    def top_speed_kmh(self) -> float:
        return float(self.meta.get("top_speed_kmh") or max(profile_speeds().values()))


@dataclass(slots=True)
class Conversion:
    roads: int = 0
    nodes: int = 0
    classes: Counter[str] = field(default_factory=Counter)
    source_classes: Counter[str] = field(default_factory=Counter)
    footpaths: int = 0
    unknown_classes: Counter[str] = field(default_factory=Counter)
    fragments: int = 0
    fragment_m: float = 0.0
    bbox: tuple[float, float, float, float] | None = None


# --- Reading what is in service -----------------------------------------------------------------


def profile_speeds(profile: Path = PROFILE) -> dict[str, float]:
    """The km/h of each highway class, read from the profile's SPEED_KMH table."""
    text = profile.read_text()
    block = re.search(r"^local SPEED_KMH = \{\n(.*?)^\}", text, re.MULTILINE | re.DOTALL)
    if block is None:
        raise RoadNetworkError(f"{profile} has no `local SPEED_KMH = {{ ... }}` table")
    speeds = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"^\s*(\w+)\s*=\s*(\d+(?:\.\d+)?)\s*,", block.group(1), re.MULTILINE)
    }
    if not speeds:
        raise RoadNetworkError(f"{profile}: SPEED_KMH is empty")
    return speeds


def network_current(data: Path) -> NetworkBuild | None:
    """The network in service under `data` (a data directory or one `*.osrm` dataset); None if none is built."""
    if data.suffix == ".osrm":
        hsgr = data.with_name(data.name + ".hsgr")
        if not hsgr.exists():
            return None
        return NetworkBuild(f"{data.name}@{hsgr.stat().st_mtime_ns}", data, _meta_near(data.parent))
    try:
        target = os.readlink(data / CURRENT)
    except OSError:
        return None
    build_dir = (data / target).resolve()
    return NetworkBuild(build_dir.name, build_dir / DATASET, _meta_near(build_dir))


def network_pointer(data: Path) -> str:
    """A cheap fingerprint of what `data` points at: changes exactly when another network goes into service."""
    if data.suffix == ".osrm":
        try:
            return str(data.with_name(data.name + ".hsgr").stat().st_mtime_ns)
        except OSError:
            return ""
    try:
        return os.readlink(data / CURRENT)
    except OSError:
        return ""


def _meta_near(folder: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((folder / META).read_text()))
    except (OSError, ValueError):
        return {}


# --- GeoJSON road lines to OSM XML ------------------------------------------------------------------


def highway_for(value: str | None) -> str | None:
    """The OSM highway value for a road class (RBI REMARK or already OSM); None for footpaths."""
    if value is None:
        return UNKNOWN_CLASS_HIGHWAY
    if value in RBI_HIGHWAY:
        return RBI_HIGHWAY[value]
    if value in NOT_FOR_VEHICLES:
        return None
    return value


def _lines(geometry: dict[str, Any] | None) -> Iterator[list[list[float]]]:
    if not geometry:
        return
    if geometry.get("type") == "LineString":
        yield geometry["coordinates"]
    elif geometry.get("type") == "MultiLineString":
        yield from geometry["coordinates"]


def _metres(a: tuple[int, int], b: tuple[int, int]) -> float:
    lat = math.radians((a[1] + b[1]) / 2 / COORDINATE_SCALE)
    dx = (a[0] - b[0]) / COORDINATE_SCALE * 111_320 * math.cos(lat)
    dy = (a[1] - b[1]) / COORDINATE_SCALE * 110_574
    return math.hypot(dx, dy)


def geojson_to_osm(
    *,
    source: Path,
    out: Path,
    class_field: str | None,
    known: set[str],
    name_field: str | None = None,
    min_component_share: float = 0.01,
) -> Conversion:
    """Write road lines as OSM XML; lines meet where their vertices coincide, fragments are left out.

    Connectivity follows malang_road_nodes/edges.csv: a node wherever a line ends, shared by every line that
    passes through the same coordinate. Pieces not joined to the network (under `min_component_share` of the
    largest piece's nodes) are dropped: no route can use them, and snapping to them would strand a unit.
    """
    data = json.loads(source.read_text())
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        raise RoadNetworkError(f"{source} is not a GeoJSON FeatureCollection")
    if class_field is None:
        class_field = next(
            (f for f in ("REMARK", "highway", "class", "road_class") if any(f in (ft.get("properties") or {})
             for ft in features[:50])), None,
        )  # fmt: skip
    report = Conversion()
    ways: list[tuple[list[tuple[int, int]], dict[str, str]]] = []
    for feature in features:
        props = feature.get("properties") or {}
        raw_class = props.get(class_field) if class_field else None
        label = str(raw_class) if raw_class is not None else None
        highway = highway_for(label)
        if highway is None:
            report.footpaths += 1
            continue
        if highway not in known:
            report.unknown_classes[label or "(none)"] += 1
            highway = UNKNOWN_CLASS_HIGHWAY
        tags = {"highway": highway}
        if label is not None and label != highway:
            tags["psc119:class"] = label
        name = next(
            (props.get(f) for f in ([name_field] if name_field else NAME_FIELDS) if props.get(f)), None
        )
        if name:
            tags["name"] = str(name)
        oneway = props.get("oneway")
        if oneway in ("yes", "-1", "no"):
            tags["oneway"] = str(oneway)
        for line in _lines(feature.get("geometry")):
            points = [(round(c[0] * COORDINATE_SCALE), round(c[1] * COORDINATE_SCALE)) for c in line]
            points = [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]
            if len(points) >= 2:
                ways.append((points, tags))
                report.source_classes[label or "(none)"] += 1

    # Pieces of the network: union-find over coinciding vertices.
    parent: dict[tuple[int, int], tuple[int, int]] = {}

    def root(p: tuple[int, int]) -> tuple[int, int]:
        parent.setdefault(p, p)
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    for points, _ in ways:
        first = root(points[0])
        for p in points[1:]:
            other = root(p)
            if other != first:
                parent[other] = first
    sizes = Counter(root(p) for p in parent)
    keep_from = max(sizes.values(), default=0) * min_component_share
    kept = []
    for points, tags in ways:
        if sizes[root(points[0])] >= keep_from:
            kept.append((points, tags))
        else:
            report.fragments += 1
            report.fragment_m += sum(_metres(a, b) for a, b in itertools.pairwise(points))
    if not kept:
        raise RoadNetworkError(f"{source}: no road for vehicles found (class field {class_field!r})")

    node_ids: dict[tuple[int, int], int] = {}
    for points, _ in kept:
        for p in points:
            node_ids.setdefault(p, len(node_ids) + 1)
    lons = [p[0] for p in node_ids]
    lats = [p[1] for p in node_ids]
    report.bbox = (min(lons) / COORDINATE_SCALE, min(lats) / COORDINATE_SCALE,
                   max(lons) / COORDINATE_SCALE, max(lats) / COORDINATE_SCALE)  # fmt: skip
    report.nodes, report.roads = len(node_ids), len(kept)
    with out.open("w", encoding="utf-8") as f:
        _write_osm(f, node_ids, kept, source.name)
    report.classes.update(tags["highway"] for _, tags in kept)
    return report


def _write_osm(
    f: TextIO, node_ids: dict[tuple[int, int], int], ways: list[tuple[list[tuple[int, int]], dict[str, str]]],
    generator: str,
) -> None:  # fmt: skip
    f.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    f.write(f'<osm version="0.6" generator={quoteattr("psc119 build_road_network " + generator)}>\n')
    for (lon, lat), nid in node_ids.items():
        f.write(
            f'<node id="{nid}" version="1" lat="{lat / COORDINATE_SCALE:.7f}" lon="{lon / COORDINATE_SCALE:.7f}"/>\n'
        )
    for wid, (points, tags) in enumerate(ways, start=1):
        f.write(f'<way id="{wid}" version="1">')
        f.write("".join(f'<nd ref="{node_ids[p]}"/>' for p in points))
        f.write("".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items()))
        f.write("</way>\n")
    f.write("</osm>\n")


# --- Building ----------------------------------------------------------------------------------------


def osrm_tool(name: str) -> Path:
    """An OSRM command-line tool shipped with the osrm-bindings package."""
    import osrm  # the package ships the binaries next to the engine

    path = Path(osrm.__file__).resolve().parent / "bin" / name
    if not path.exists():
        found = shutil.which(name)
        if found is None:
            raise RoadNetworkError(f"{name} not found (is osrm-bindings installed?)")
        path = Path(found)
    return path


def _source_kind(source: Path) -> str:
    name = source.name.lower()
    if name.endswith(GEOJSON_SUFFIXES):
        return "geojson"
    if name.endswith(OSM_SUFFIXES):
        return "osm"
    raise RoadNetworkError(
        f"{source.name}: expected an OpenStreetMap extract ({', '.join(OSM_SUFFIXES)}) "
        f"or road lines as GeoJSON ({', '.join(GEOJSON_SUFFIXES)})"
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _run_tool(args: list[str], *, stage: str, progress: Progress, log: Path) -> None:
    """Run an OSRM tool, turning its `10% . 20%` chatter into progress and keeping the full log."""
    with (
        log.open("a") as keep,
        subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        ) as proc,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            keep.write(line)
            percent = re.search(r"(\d{1,3})%", line)
            if percent and "[info]" not in line:
                # A tool runs several phases, each counting to 100 %: the stage ends only when the tool does.
                progress(stage, min(int(percent.group(1)) / 100, 0.99), "")
            elif "[error]" in line or "[warn]" in line:
                progress(stage, None, line.strip())
        code = proc.wait()
    if code != 0:
        tail = log.read_text().splitlines()[-8:]
        raise RoadNetworkError(f"{Path(args[0]).name} failed (exit {code}):\n" + "\n".join(tail))


def network_build(
    *,
    source: Path,
    data: Path,
    class_field: str | None = None,
    profile: Path = PROFILE,
    threads: int = 2,
    keep: int = 3,
    progress: Progress | None = None,
) -> NetworkBuild:
    """Build an OSRM dataset from `source` under `data`, check it, then put it in service (`current`).

    The network in service is untouched until the new one has loaded and answered; older builds beyond `keep`
    are removed. Running engines pick the new one up on their next query.
    """
    report = progress or (lambda stage, fraction, note: None)
    if not source.exists():
        raise RoadNetworkError(f"{source} does not exist")
    kind = _source_kind(source)
    speeds = profile_speeds(profile)
    started = time.monotonic()
    stamp = datetime.now(UTC)
    build_id = f"{stamp:%Y%m%dT%H%M%SZ}-{re.sub(r'[^A-Za-z0-9]+', '-', source.name.split('.')[0])[:40]}"
    builds = data / BUILDS
    builds.mkdir(parents=True, exist_ok=True)
    build_dir = builds / build_id
    suffix = 1
    while build_dir.exists():
        suffix += 1
        build_dir = builds / f"{build_id}-{suffix}"
    build_id = build_dir.name
    work = build_dir.with_name(build_dir.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    seconds: dict[str, float] = {}
    try:
        shutil.copy(profile, work / profile.name)
        log = work / "build.log"
        meta: dict[str, Any] = {
            "build": build_id,
            "created": stamp.isoformat(),
            "source": {"path": str(source.resolve()), "kind": kind, "sha256": _sha256(source)},
            "profile": profile.name,
            "profile_sha256": _sha256(profile),
            "speeds_kmh": speeds,
            "osrm_bindings": _osrm_version(),
        }
        if kind == "geojson":
            report("convert", None, f"GeoJSON road lines from {source.name}")
            tick = time.monotonic()
            osm = work / "network.osm"
            conversion = geojson_to_osm(source=source, out=osm, class_field=class_field, known=set(speeds))
            seconds["convert"] = time.monotonic() - tick
            present = [speeds[c] for c in conversion.classes if c in speeds]
            meta.update(
                top_speed_kmh=max(present),
                roads=conversion.roads,
                nodes=conversion.nodes,
                classes=dict(conversion.classes),
                source_classes=dict(conversion.source_classes),
                dropped={"footpaths": conversion.footpaths, "fragments": conversion.fragments,
                         "fragment_km": round(conversion.fragment_m / 1000, 2)},
                unknown_classes=dict(conversion.unknown_classes),
                bbox=conversion.bbox,
            )  # fmt: skip
            meta["source"]["class_field"] = class_field or "auto"
            report(
                "convert", 1.0,
                f"{conversion.roads:,} roads, {conversion.nodes:,} nodes; left out {conversion.footpaths} "
                f"footpaths and {conversion.fragments} unconnected pieces ({conversion.fragment_m / 1000:.1f} km)",
            )  # fmt: skip
            extract_input = osm
        else:
            # Every class the profile knows may be present in an OSM extract.
            meta["top_speed_kmh"] = max(speeds.values())
            extract_input = source
        base = work / DATASET
        tick = time.monotonic()
        report("extract", 0.0, "")
        # --small-component-size 1: snap every point to its nearest road, never to a farther "big" one
        # depending on the other points in the request; exact pruned ranking needs snapping to be per point.
        _run_tool(
            [str(osrm_tool("osrm-extract")), "-p", str(work / profile.name), "-t", str(threads),
             "--small-component-size", "1", "-d", build_id, "-o", str(base), str(extract_input)],
            stage="extract", progress=report, log=log,
        )  # fmt: skip
        seconds["extract"] = time.monotonic() - tick
        report("extract", 1.0, "")
        tick = time.monotonic()
        report("contract", 0.0, "")
        _run_tool([str(osrm_tool("osrm-contract")), "-t", str(threads), str(base)],
                  stage="contract", progress=report, log=log)  # fmt: skip
        seconds["contract"] = time.monotonic() - tick
        report("contract", 1.0, "")
        if kind == "geojson":
            (work / "network.osm").unlink()
        tick = time.monotonic()
        _check(base)
        seconds["check"] = time.monotonic() - tick
        meta["seconds"] = {k: round(v, 2) for k, v in seconds.items()}
        meta["seconds"]["total"] = round(time.monotonic() - started, 2)
        (work / META).write_text(json.dumps(meta, indent=2, ensure_ascii=False))
        work.rename(build_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    network_switch(data=data, build_id=build_id)
    report("switch", 1.0, f"{CURRENT} -> {BUILDS}/{build_id}")
    _prune(builds, keep=keep, current=build_id)
    return NetworkBuild(build_id, build_dir / DATASET, meta)


def _osrm_version() -> str:
    try:
        return metadata.version("osrm-bindings")
    except metadata.PackageNotFoundError:
        return "unknown"


def _check(base: Path) -> None:
    """Load the new dataset in a throwaway engine and ask it one question before it goes into service."""
    import osrm

    engine = osrm.OSRM(storage_config=str(base), algorithm="CH", use_shared_memory=False)
    answer = engine.Nearest(osrm.NearestParameters(coordinates=[(0.0, 0.0)]))
    if answer["code"] != "Ok":
        raise RoadNetworkError(f"the new network does not answer: {answer}")


def network_switch(*, data: Path, build_id: str) -> None:
    """Point `current` at builds/<build_id> atomically (a rename), so no reader ever sees it missing."""
    if not (data / BUILDS / build_id / (DATASET + ".hsgr")).exists():
        raise RoadNetworkError(f"no built network {build_id} under {data / BUILDS}")
    temporary = data / f".{CURRENT}.{os.getpid()}"
    temporary.unlink(missing_ok=True)
    os.symlink(Path(BUILDS) / build_id, temporary)
    os.replace(temporary, data / CURRENT)


def network_builds(data: Path) -> list[str]:
    """Build ids under `data`, oldest first."""
    folder = data / BUILDS
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.endswith(".partial"))


def _prune(builds: Path, *, keep: int, current: str) -> None:
    old = [b for b in network_builds(builds.parent) if b != current]
    for build_id in old[: max(0, len(old) - max(keep - 1, 0))]:
        # Engines hold their dataset in memory, so removing its files does not disturb them.
        shutil.rmtree(builds / build_id, ignore_errors=True)


def describe_classes(meta: dict[str, Any]) -> Iterable[str]:
    """Human lines about a build: its classes with their speeds."""
    speeds = meta.get("speeds_kmh", {})
    for highway, count in sorted(meta.get("classes", {}).items(), key=lambda kv: -kv[1]):
        yield f"{highway:<14} {count:>6,} roads at {speeds.get(highway, '?')} km/h"
