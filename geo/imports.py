"""Importing a city's regions and facilities from GeoJSON/CSV (the layout of shared/data/malang, or OSM-like)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from django.db import transaction
from shapely.geometry import mapping, shape

from geo.models import Facility, Region

NAME_FIELDS = ("NAMOBJ", "name", "nama", "NAME", "Name")


def _name(properties: dict[str, Any], name_field: str | None) -> str:
    for key in (name_field, *NAME_FIELDS):
        if key and properties.get(key):
            return str(properties[key]).strip()
    raise ValueError(f"no name field in {sorted(properties)}")


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
        Region.objects.update_or_create(
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
    return len(features)


def _float(row: dict[str, str], *keys: str) -> float:
    for key in keys:
        if row.get(key):
            return float(row[key])
    raise ValueError(f"missing {keys[0]}")


@transaction.atomic
def facilities_import(*, path: Path, kind: str) -> int:
    """Create or update facilities of `kind` from a CSV (name, lat, lon, …) or a GeoJSON of points."""
    path = Path(path)
    rows: list[dict[str, Any]] = []
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    else:
        for feature in json.loads(path.read_text()).get("features", []):
            lon, lat = feature["geometry"]["coordinates"][:2]
            rows.append({**(feature.get("properties") or {}), "lat": lat, "lon": lon})
    for row in rows:
        category = str(row.get("category") or "")
        ed = str(row.get("ed_igd") or "").lower()
        has_ed = kind == Facility.Kind.HOSPITAL and (ed in ("yes", "true", "likely") or category == "RSU")
        Facility.objects.update_or_create(
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
    return len(rows)
