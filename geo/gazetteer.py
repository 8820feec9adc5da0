"""Finding a place from a caller's words, offline: facilities, landmarks and regions, typo-tolerant."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz, process, utils
from shapely.geometry import shape

from geo.models import Facility, Region
from geo.points import LatLon

# Spellings callers and call-takers use for the same words.
_ABBREVIATIONS = {
    r"\bjl\b\.?": "jalan",
    r"\bjln\b\.?": "jalan",
    r"\brs\b\.?": "rumah sakit",
    r"\brsud\b": "rumah sakit umum daerah",
    r"\bkel\b\.?": "kelurahan",
    r"\bkec\b\.?": "kecamatan",
    r"\bpkm\b": "puskesmas",
}


def normalise(text: str) -> str:
    text = text.lower().replace(".", ". ")
    for pattern, replacement in _ABBREVIATIONS.items():
        text = re.sub(pattern, replacement, text)
    return utils.default_process(text)


@dataclass(frozen=True)
class Place:
    name: str
    kind: str
    location: LatLon
    score: float


def _places() -> list[tuple[str, str, LatLon]]:
    places = [(f.name, f.kind, LatLon(f.lat, f.lon)) for f in Facility.objects.all()]
    for region in Region.objects.exclude(kind=Region.Kind.SERVICE_AREA):
        point = shape(region.geometry).representative_point()
        places.append((f"{region.get_kind_display()} {region.name}", region.kind, LatLon(point.y, point.x)))
    return places


def search(query: str, *, limit: int = 10) -> list[Place]:
    """Ranked places for `query`, best first, scores 0-100."""
    wanted = normalise(query)
    if not wanted:
        return []
    places = _places()
    choices = [normalise(name) for name, _, _ in places]
    found = process.extract(wanted, choices, scorer=fuzz.WRatio, limit=limit, score_cutoff=60)
    return [Place(places[i][0], places[i][1], places[i][2], round(score, 1)) for _, score, i in found]


def geocode(address: str) -> LatLon | None:
    """The best place for an address, or None when nothing matches well."""
    best = search(address, limit=1)
    return best[0].location if best and best[0].score >= 80 else None
