"""Importing a city's places: regions (GeoJSON), facilities and landmarks (CSV or GeoJSON points), named streets
(GeoJSON lines) and aliases (CSV). The layout of shared/data/malang, an OpenStreetMap export, or any city's own
files. Every import updates what exists by name, so running one twice changes nothing.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from django.db import transaction
from shapely.geometry import LineString, MultiLineString, mapping, shape

from geo.gazetteer import name_is_distinctive, normalise
from geo.models import Facility, PlaceAlias, Region, Street

NAME_FIELDS = ("NAMOBJ", "name", "nama", "NAME", "Name")
# Columns or properties that hold other names: ours ("aliases", "|"-separated) and OpenStreetMap's.
ALIAS_FIELDS = ("aliases", "alias", "alt_name", "short_name", "official_name", "old_name", "loc_name")
BUNDLED = Path(__file__).resolve().parent / "data"


def _name(properties: dict[str, Any], name_field: str | None) -> str:
    for key in (name_field, *NAME_FIELDS):
        if key and properties.get(key):
            return str(properties[key]).strip()
    raise ValueError(f"no name field in {sorted(properties)}")


def _alias_values(properties: dict[str, Any]) -> list[str]:
    values = []
    for key in ALIAS_FIELDS:
        raw = properties.get(key)
        if raw:
            values += [v.strip() for v in re.split(r"[|;]", str(raw)) if v.strip()]
    return values


def _aliases_add(values: list[str], **target: Any) -> int:
    added = 0
    for value in values:
        _, created = PlaceAlias.objects.get_or_create(name=value[:200], **target)
        added += created
    return added


@transaction.atomic
def regions_import(*, path: Path, kind: str, name_field: str | None = None, name: str | None = None) -> int:
    """Create or update regions of `kind` from a GeoJSON FeatureCollection; a service area is one union."""
    collection = json.loads(Path(path).read_text())
    features = collection.get("features", [])
    if kind == Region.Kind.SERVICE_AREA:
        from shapely import union_all

        geometry = union_all([shape(f["geometry"]) for f in features])
        Region.objects.update_or_create(
            kind=kind, name=name or "Wilayah layanan", defaults={"geometry": mapping(geometry), "code": ""}
        )
        return 1
    parents = {r.name.lower(): r for r in Region.objects.filter(kind=Region.Kind.KECAMATAN)}
    for feature in features:
        properties = feature.get("properties") or {}
        parent = (
            parents.get(str(properties.get("kecamatan", "")).lower())
            if kind == Region.Kind.KELURAHAN
            else None
        )
        region, _ = Region.objects.update_or_create(
            kind=kind,
            name=_name(properties, name_field),
            defaults={
                "geometry": feature["geometry"],
                "code": str(
                    properties.get("KDEPUM") or properties.get("KDCPUM") or properties.get("code") or ""
                ),
                "parent": parent,
            },
        )
        _aliases_add(_alias_values(properties), region=region)
    return len(features)


def _float(row: dict[str, Any], *keys: str) -> float:
    for key in keys:
        if row.get(key) not in (None, ""):
            return float(row[key])
    raise ValueError(f"missing {keys[0]}")


def _rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            return [row for row in csv.DictReader(handle) if any((v or "").strip() for v in row.values())]
    rows = []
    for feature in json.loads(path.read_text()).get("features", []):
        geometry = feature.get("geometry") or {}
        if geometry.get("type") != "Point":
            continue
        lon, lat = geometry["coordinates"][:2]
        rows.append({**(feature.get("properties") or {}), "lat": lat, "lon": lon})
    return rows


@transaction.atomic
def facilities_import(*, path: Path, kind: str) -> int:
    """Create or update facilities of `kind` from a CSV (name, lat, lon, category?, address?, aliases?) or a
    GeoJSON of points; aliases (ours, "|"-separated, or OSM's alt_name/short_name) become PlaceAliases."""
    path = Path(path)
    rows = _rows(path)
    for row in rows:
        category = str(row.get("category") or "")
        ed = str(row.get("ed_igd") or "").lower()
        has_ed = kind == Facility.Kind.HOSPITAL and (ed in ("yes", "true", "likely") or category == "RSU")
        facility, _ = Facility.objects.update_or_create(
            kind=kind,
            name=_name(row, None),
            defaults={
                "category": category or ("PKM" if kind == Facility.Kind.PUSKESMAS else ""),
                "address": str(row.get("address") or "")[:300],
                "lat": _float(row, "lat", "latitude"),
                "lon": _float(row, "lon", "longitude"),
                "has_emergency_department": has_ed,
            },
        )
        _aliases_add(_alias_values(row), facility=facility)
    return len(rows)


def _line_parts(geometry: dict[str, Any]) -> list[LineString]:
    geom = shape(geometry)
    if isinstance(geom, LineString):
        return [geom]
    if isinstance(geom, MultiLineString):
        return list(geom.geoms)
    return []


@transaction.atomic
def streets_import(*, path: Path, name_field: str | None = None) -> dict[str, int]:
    """Create or update named streets from a GeoJSON of (Multi)LineStrings: the lines of one name are merged.
    Names that say nothing on their own ("Gg. II", "Jalan") and unnamed lines are skipped."""
    path = Path(path)
    lines: dict[str, list[LineString]] = defaultdict(list)
    aliases: dict[str, list[str]] = defaultdict(list)
    skipped = 0
    for feature in json.loads(path.read_text()).get("features", []):
        properties = feature.get("properties") or {}
        try:
            name = _name(properties, name_field)
        except ValueError:
            skipped += 1
            continue
        parts = _line_parts(feature.get("geometry") or {})
        if not parts or not name_is_distinctive(normalise(name)):
            skipped += 1
            continue
        lines[name] += parts
        aliases[name] += _alias_values(properties)
    for name, parts in lines.items():
        street, _ = Street.objects.update_or_create(
            name=name[:200],
            defaults={"geometry": mapping(MultiLineString(parts)), "source": path.name[:120]},
        )
        _aliases_add(sorted(set(aliases[name])), street=street)
    return {"streets": len(lines), "skipped": skipped}


_ALIAS_TARGETS = {
    **{k: ("facility", Facility) for k in Facility.Kind.values},
    Region.Kind.KELURAHAN: ("region", Region),
    Region.Kind.KECAMATAN: ("region", Region),
    "street": ("street", Street),
}


@transaction.atomic
def aliases_import(*, path: Path) -> dict[str, int]:
    """Add aliases from a CSV `kind,name,alias` (kind: hospital, puskesmas, landmark, kelurahan, kecamatan or
    street; name: the place's name as imported). Rows naming a place that is not there are counted, not kept."""
    added = missing = 0
    with Path(path).open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            kind, name, alias = (str(row.get(k) or "").strip() for k in ("kind", "name", "alias"))
            if not kind or not alias:
                continue
            if kind not in _ALIAS_TARGETS:
                raise ValueError(f"unknown kind {kind!r} in {path}; expected one of {sorted(_ALIAS_TARGETS)}")
            field, model = _ALIAS_TARGETS[kind]
            lookup: dict[str, Any] = {"name": name}
            if model is not Street:
                lookup["kind"] = kind
            target = model._default_manager.filter(**lookup).first()
            if target is None:
                missing += 1
                continue
            added += _aliases_add([alias], **{field: target})
    return {"added": added, "missing_targets": missing}


def bundled_places_import(*, city: str) -> dict[str, int]:
    """Import the landmarks and aliases this repository ships for `city` (geo/data/<city>_*.csv), if any."""
    counts: dict[str, int] = {}
    landmarks = BUNDLED / f"{city}_landmarks.csv"
    if landmarks.exists():
        counts["landmarks"] = facilities_import(path=landmarks, kind=Facility.Kind.LANDMARK)
    aliases = BUNDLED / f"{city}_aliases.csv"
    if aliases.exists():
        counts["aliases"] = aliases_import(path=aliases)["added"]
    return counts
