"""Finding a place from a caller's words, offline: regions, facilities, landmarks and streets, typo-tolerant.

Callers say "depan Matos", "Jl. Ijen dekat gereja", "RSSA", "Kel. Oro-oro Dowo". Both the names and the query
go through `normalise` (Indonesian abbreviations, old spellings, noise words); a query is then matched word by
word against every name and alias with rapidfuzz, rare words weighing more than generic ones ("jl", "rs").
Places named together that agree on the map ("Jl. Kawi, Gading Kasri"; "Jl. Veteran depan Matos") support
each other, and the most specific one wins. The index is built once per process and rebuilt when the data
changes (one small version query per call), like `geo.regions`.
"""

from __future__ import annotations

import bisect
import math
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA
from shapely import STRtree
from shapely.geometry import LineString, MultiLineString, MultiPoint, Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import linemerge, nearest_points

from geo import geocoders
from geo.models import Facility, PlaceAlias, Region, Street
from geo.points import LatLon
from geo.regions import (
    Placement,
    Projection,
    RegionIndex,
    VersionedCache,
    data_version,
    regions_index,
)

# --- Words ---------------------------------------------------------------------------------------------------

# Multi-word spellings, applied in order to the lower-cased, punctuation-free text.
_PHRASES = [
    (re.compile(rf"\b(?:{pattern})\b"), replacement)
    for pattern, replacement in [
        (r"rumah sakit umum daerah", "rsud"),
        (r"rumah sakit umum", "rsu"),
        (r"rumah sakit ibu (?:dan )?anak|rs ibu (?:dan )?anak", "rsia"),
        (r"rumah sakit bersalin", "rsb"),
        (r"rumah sakit islam|rs islam", "rsi"),
        (r"rumah sakit tentara|rs tentara", "rst"),
        (r"rumah sakit|rumkit|r s", "rs"),
        (r"pusat kesehatan masyarakat", "pkm"),
        (r"aloon aloon|alunalun|alon alon", "alun alun"),
        (r"kyai haji|kiai haji|k h|kh", "kh"),
        (r"mayor jenderal|mayor jendral|mayjend", "mayjen"),
        (r"brigadir jenderal|brigadir jendral|brigjend", "brigjen"),
        (r"letnan jenderal|letnan jendral|letjend", "letjen"),
        (r"sekolah menengah atas negeri|sma negeri|sma n", "sman"),
        (r"sekolah menengah pertama negeri|smp negeri|smp n", "smpn"),
        (r"sekolah dasar negeri|sd negeri|sd n", "sdn"),
        (r"stasiun kereta api|stasiun kereta|stasiun ka", "stasiun"),
        (r"terminal bus", "terminal"),
        (r"jawa timur|jatim|indonesia|provinsi|kabupaten malang|kab malang", ""),
    ]
]
# One-word spellings and abbreviations, to one canonical form.
_SYNONYMS = {
    **dict.fromkeys(["jalan", "jln", "jl", "jaln", "jalam", "jalann", "jlan"], "jl"),
    **dict.fromkeys(["gang", "gg", "gng"], "gg"),
    **dict.fromkeys(
        ["kelurahan", "kel", "kelurhan", "klurahan", "kalurahan", "kelrahan", "desa", "ds"], "kel"
    ),
    **dict.fromkeys(["kecamatan", "kec", "kecamtan", "kcmtn", "kecamatn"], "kec"),
    **dict.fromkeys(["puskesmas", "pkm", "pusk", "puskes", "puskesmaas", "puskemas"], "pkm"),
    **dict.fromkeys(["universitas", "univ", "unv", "universitasnya"], "univ"),
    **dict.fromkeys(["stasiun", "stasion", "setasiun", "stasiunnya", "stsiun"], "stasiun"),
    **dict.fromkeys(["terminal", "term", "terminl"], "terminal"),
    **dict.fromkeys(["masjid", "mesjid", "masjit", "msjd", "masjidnya"], "masjid"),
    **dict.fromkeys(["gereja", "greja", "grj", "gerejanya"], "gereja"),
    **dict.fromkeys(["klenteng", "kelenteng", "klentheng"], "klenteng"),
    **dict.fromkeys(["perumahan", "perum"], "perum"),
    **dict.fromkeys(["dokter", "dr"], "dr"),
    **dict.fromkeys(["jenderal", "jendral", "jend", "jen"], "jend"),
    **dict.fromkeys(["kolonel", "kol"], "kol"),
    **dict.fromkeys(["pasar", "psr", "pasare"], "pasar"),
    **dict.fromkeys(["plaza", "plasa"], "plaza"),
    **dict.fromkeys(["mall", "mal", "mol"], "mall"),
    **dict.fromkeys(["lapangan", "lap", "lapang"], "lapangan"),
}


# Words that place something relative to a place, and fillers: they never name a place.
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_NOISE = _words(
    """depan dpn depane dekat dkt deket dket dekete samping smpg sampinge sebelah sblh sebelahe belakang blkg
    belakange seberang sebrang sbrg seberange di ke dari arah sekitar skitar area kawasan daerah wilayah lokasi
    tkp pinggir pojok ujung perempatan prapatan pertigaan tikungan masuk rumah pak bu bapak ibu mas mbak warga
    tolong yang yg dan dengan dgn itu ini nya sana situ malang kab kabupaten no nomor nmr rt rw kav"""
)
# Words that say what kind of place it is: a hint, weighing little against the words that say which one.
GENERIC = _words(
    """jl gg rs rsu rsud rsia rsi rsb rsk rst pkm kel kec pasar masjid gereja klenteng univ stasiun terminal perum
    raya kampus klinik sma smp sd sman smpn sdn hotel mall plaza taman stadion kantor museum kampung blok dr jend
    h kh kol mayjen brigjen letjen ir prof lapangan bundaran tk gor balai pos polsek koramil pura vihara gedung
    alun kota"""
)
_ROMAN = _words("i ii iii iv v vi vii viii ix x xi xii")
_OLD_SPELLING = (("oe", "u"), ("dj", "j"), ("tj", "c"))  # pre-1972 spellings live on in names: Soepraoen

_HOUSE_NUMBER = re.compile(
    r"\b(?:no|nomor|nmr|nomer)\s*\d+\s*[a-z]?\b|\brt\s*\d+|\brw\s*\d+|\bkav(?:ling)?\s*\d+\w*|\b6\d{4}\b"
)


def _token(word: str) -> str:
    if word not in _SYNONYMS:
        for old, new in _OLD_SPELLING:
            word = word.replace(old, new)
    word = _SYNONYMS.get(word, word)
    if word in GENERIC or not word.isalpha() or len(word) < 5:
        return word  # short words are often acronyms, where a double letter counts ("UMM" is not "UM")
    return re.sub(r"(.)\1+", r"\1", word)  # doubled letters are the commonest typo ("lavalette", "hatta")


# Longer words of the phrases, abbreviations and noise above: a query's misspelling of one is corrected
# ("kceamatan", "rumah skait", "mlang") unless the word names a place.
_KEYWORDS = sorted(
    {w for w in [*_SYNONYMS, *_NOISE] if len(w) >= 5}
    | {w for pattern, _ in _PHRASES for w in re.findall(r"[a-z]{5,}", pattern.pattern)}
)


def _corrected(words: list[str], i: int, known: frozenset[str]) -> str:
    word = words[i]
    if len(word) < 5 or not word.isalpha() or word in known or _token(word) in known:
        return word
    joined = [words[j] + words[j + 1] for j in (i - 1, i) if 0 <= j < len(words) - 1]
    if any(_token(w) in known for w in joined):
        return word  # half of a name written apart: "tunjung sekar"
    best = process.extractOne(word, _KEYWORDS, scorer=OSA.distance, score_cutoff=1 if len(word) < 8 else 2)
    return best[0] if best else word


def normalise(text: str, *, known: frozenset[str] | None = None) -> str:
    """Lower-case ASCII words in canonical spelling, without house numbers and noise words. With `known`
    (the gazetteer's words), a query's misspelt keyword that is not a known word is corrected first."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub("['`\u2018\u2019]", "", text)  # Jami' -> jami, Asy'ari -> asyari
    text = re.sub(r"\b([a-z]{3,})2\b", r"\1 \1", text)  # alun2 -> alun alun
    text = re.sub(r"[^a-z0-9]+", " ", text)
    text = _HOUSE_NUMBER.sub(" ", text)
    text = re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])", " ", text)
    if known is not None:
        words = text.split()
        text = " ".join(_corrected(words, i, known) for i in range(len(words)))
    for pattern, replacement in _PHRASES:
        text = pattern.sub(replacement, text)
    tokens = (_token(w) for w in text.split())
    return " ".join(w for w in tokens if w and w not in _NOISE)


def _weight_of_form(word: str) -> float | None:
    """A fixed weight for generic words and numbers; None for words weighed by rarity."""
    if word in GENERIC:
        return 0.5
    if word.isdigit() or word in _ROMAN or len(word) == 1:
        return 0.3
    return None


def _cutoff(a: str, b: str) -> float:
    shorter = min(len(a), len(b))
    return 1.0 if shorter <= 2 else 0.84 if shorter == 3 else 0.75


# --- The index -----------------------------------------------------------------------------------------------

POINT_KINDS = frozenset({Facility.Kind.HOSPITAL, Facility.Kind.PUSKESMAS, Facility.Kind.LANDMARK})
STREET = "street"
_RANK = {STREET: 2, Region.Kind.KELURAHAN: 1, Region.Kind.KECAMATAN: 0}  # points rank 3
_MENTIONED = 0.8  # a name this completely present in the query is "mentioned" and can support others
_NEAR_POINT_M = 600.0
_NEAR_STREET_M = 300.0
_JUNCTION_M = 40.0
_STREET_PART_GAP_M = 250.0
_ADDRESS_GROUP_M = 1_000.0
_SCORED = 60  # best matches scored with their context
_MENTIONS = 20
_MIN_SCORE = 40.0
_UPWARD_SUPPORT = 0.5
_MAX_WORDS = 40  # an address longer than this is cut: its first words name the place
ADDRESS = "alamat"  # category of a street known only from the addresses of the facilities on it
NEAREST_MAX_M = 5_000.0


@dataclass
class Target:
    """One findable place: a facility/landmark, a street (or a far-apart part of one) or a region."""

    name: str
    kind: str
    category: str
    location: LatLon
    kelurahan: str
    kecamatan: str
    rank: int
    metres: BaseGeometry | None = None  # points and streets, in the region index's projection
    kel_set: frozenset[str] = frozenset()
    kec_set: frozenset[str] = frozenset()
    # A street's point inside each kelurahan it crosses.
    parts: dict[str, LatLon] = field(default_factory=dict)


@dataclass
class _Unit:
    vocab_id: int
    positions: frozenset[int]


@dataclass
class _Name:
    target: int
    text: str
    units: list[_Unit]
    weights: list[float]

    @property
    def total(self) -> float:
        return sum(self.weights)


@dataclass
class GazetteerIndex:
    regions: RegionIndex
    targets: list[Target] = field(default_factory=list)
    names: list[_Name] = field(default_factory=list)
    vocab: list[str] = field(default_factory=list)
    vocab_weight: list[float] = field(default_factory=list)
    vocab_generic: list[bool] = field(default_factory=list)
    known: frozenset[str] = frozenset()
    sorted_vocab: list[tuple[str, int]] = field(default_factory=list)
    postings: dict[int, list[int]] = field(default_factory=dict)
    point_tree: STRtree | None = None
    point_ids: list[int] = field(default_factory=list)
    street_tree: STRtree | None = None
    street_ids: list[int] = field(default_factory=list)

    @property
    def projection(self) -> Projection:
        return self.regions.projection


def _name_variants(name: str) -> list[str]:
    """The name, and for "RSUD Dr. Saiful Anwar (RSSA)" also "RSUD Dr. Saiful Anwar" and "RSSA"."""
    variants = [name]
    inner = re.findall(r"\(([^)]*)\)", name)
    if inner:
        variants.append(re.sub(r"\([^)]*\)", " ", name))
        variants += inner
    return variants


def name_is_distinctive(normalised: str) -> bool:
    """False for names like "Gg. II" or "Jalan" that say nothing on their own."""
    return any(_weight_of_form(w) is None for w in normalised.split())


def _latlon(projection: Projection, p: Point) -> LatLon:
    lon, lat = projection.lonlat(p.x, p.y)
    return LatLon(round(lat, 6), round(lon, 6))


class _Builder:
    def __init__(self, regions: RegionIndex) -> None:
        self.index = GazetteerIndex(regions=regions)
        self.texts: list[tuple[int, str]] = []  # (target, normalised name)

    def add(self, target: Target, names: list[str]) -> None:
        tid = len(self.index.targets)
        self.index.targets.append(target)
        seen: set[str] = set()
        for raw in names:
            for variant in _name_variants(raw):
                text = normalise(variant)
                if text and text not in seen:
                    seen.add(text)
                    self.texts.append((tid, text))

    def place_point(self, lat: float, lon: float) -> tuple[str, str]:
        placement = self.index.regions.locate(LatLon(lat, lon))
        return placement.kelurahan, placement.kecamatan

    def finish(self) -> GazetteerIndex:
        index = self.index
        document_frequency: Counter[str] = Counter()
        for _, text in self.texts:
            document_frequency.update(set(text.split()))
        n = max(len(self.texts), 1)
        vocab_id: dict[str, int] = {}

        def vid(word: str, weight: float) -> int:
            if word not in vocab_id:
                vocab_id[word] = len(index.vocab)
                index.vocab.append(word)
                index.vocab_weight.append(weight)
                index.vocab_generic.append(word in GENERIC)
            return vocab_id[word]

        def weight(word: str) -> float:
            fixed = _weight_of_form(word)
            return fixed if fixed is not None else math.log(1 + n / document_frequency[word])

        postings: dict[int, set[int]] = defaultdict(set)
        for tid, text in self.texts:
            words = text.split()
            weights = [weight(w) for w in words]
            units = [_Unit(vid(w, weights[i]), frozenset({i})) for i, w in enumerate(words)]
            for i in range(len(words) - 1):
                if words[i].isalpha() and words[i + 1].isalpha():
                    joined = words[i] + words[i + 1]
                    units.append(_Unit(vid(joined, weights[i] + weights[i + 1]), frozenset({i, i + 1})))
            name_id = len(index.names)
            index.names.append(_Name(tid, text, units, weights))
            for unit in units:
                postings[unit.vocab_id].add(name_id)
        index.postings = {k: sorted(v) for k, v in postings.items()}
        index.sorted_vocab = sorted((w, i) for i, w in enumerate(index.vocab))
        index.known = frozenset(index.vocab)
        self._trees()
        return index

    def _trees(self) -> None:
        index = self.index
        points = [
            (i, t) for i, t in enumerate(index.targets) if t.kind in POINT_KINDS and t.metres is not None
        ]
        streets = [
            (i, t)
            for i, t in enumerate(index.targets)
            if t.kind == STREET and t.category != ADDRESS and t.metres is not None
        ]
        index.point_ids = [i for i, _ in points]
        index.point_tree = STRtree([t.metres for _, t in points]) if points else None
        index.street_ids = [i for i, _ in streets]
        index.street_tree = STRtree([t.metres for _, t in streets]) if streets else None


def _add_facilities(builder: _Builder, aliases: dict[tuple[str, int], list[str]]) -> None:
    projection = builder.index.projection
    for f in Facility.objects.order_by("kind", "name"):
        kel, kec = builder.place_point(f.lat, f.lon)
        target = Target(
            name=f.name,
            kind=f.kind,
            category=f.category,
            location=LatLon(f.lat, f.lon),
            kelurahan=kel,
            kecamatan=kec,
            rank=3,
            metres=Point(projection.xy(f.lon, f.lat)),
            kel_set=frozenset({kel} - {""}),
            kec_set=frozenset({kec} - {""}),
        )
        builder.add(target, [f.name, *aliases.get(("facility", f.pk), [])])


def _add_regions(builder: _Builder, aliases: dict[tuple[str, int], list[str]]) -> None:
    regions = builder.index.regions
    by_kecamatan: dict[str, set[str]] = defaultdict(set)
    for kel in regions.kelurahan:
        by_kecamatan[kel.parent].add(kel.name)
    for region in Region.objects.exclude(kind=Region.Kind.SERVICE_AREA).select_related("parent"):
        geom = shape(region.geometry)
        centre = geom.centroid if geom.contains(geom.centroid) else geom.representative_point()
        extra = aliases.get(("region", region.pk), [])
        if region.kind == Region.Kind.KELURAHAN:
            kec = next((k.parent for k in regions.kelurahan if k.name == region.name), "")
            target = Target(
                name=region.name,
                kind=region.kind,
                category="",
                location=LatLon(round(centre.y, 6), round(centre.x, 6)),
                kelurahan=region.name,
                kecamatan=kec,
                rank=_RANK[region.kind],
                kel_set=frozenset({region.name}),
                kec_set=frozenset({kec} - {""}),
            )
            names = [region.name, f"Kelurahan {region.name}", *extra, *(f"Kelurahan {a}" for a in extra)]
        else:
            target = Target(
                name=region.name,
                kind=region.kind,
                category="",
                location=LatLon(round(centre.y, 6), round(centre.x, 6)),
                kelurahan="",
                kecamatan=region.name,
                rank=_RANK[region.kind],
                kel_set=frozenset(by_kecamatan.get(region.name, set())),
                kec_set=frozenset({region.name}),
            )
            names = [region.name, f"Kecamatan {region.name}", *extra, *(f"Kecamatan {a}" for a in extra)]
        builder.add(target, names)


def _lines(geom: BaseGeometry) -> list[LineString]:
    if isinstance(geom, LineString):
        return [geom]
    if isinstance(geom, MultiLineString):
        return list(geom.geoms)
    return [g for part in getattr(geom, "geoms", []) for g in _lines(part)]


def _clusters(lines: list[Any], gap: float) -> list[list[Any]]:
    """Group geometries (metres) lying within `gap` of each other: one street name can name far-apart roads."""
    parent = list(range(len(lines)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(lines)):
        for j in range(i + 1, len(lines)):
            if lines[i].distance(lines[j]) <= gap:
                parent[root(i)] = root(j)
    groups: dict[int, list[LineString]] = defaultdict(list)
    for i, line in enumerate(lines):
        groups[root(i)].append(line)
    return list(groups.values())


def _add_streets(builder: _Builder, aliases: dict[tuple[str, int], list[str]]) -> set[str]:
    """Streets from line data; returns their normalised names and aliases."""
    projection = builder.index.projection
    regions = builder.index.regions
    grouped: dict[str, list[Street]] = defaultdict(list)
    street_rows = list(Street.objects.order_by("name"))
    for street in street_rows:
        key = normalise(street.name)
        if key and name_is_distinctive(key):
            grouped[key].append(street)
    for streets in grouped.values():
        # The spelling most of the lines carry is the one shown.
        display = Counter(s.name for s in streets).most_common(1)[0][0]
        names = sorted(
            {s.name for s in streets} | {a for s in streets for a in aliases.get(("street", s.pk), [])}
        )
        lines = [projection.to_metres(line) for s in streets for line in _lines(shape(s.geometry))]
        for cluster in _clusters([ln for ln in lines if not ln.is_empty], _STREET_PART_GAP_M):
            merged = linemerge(MultiLineString(cluster)) if len(cluster) > 1 else cluster[0]
            middle = nearest_points(merged, merged.centroid)[0]
            location = _latlon(projection, middle)
            kel, kec = builder.place_point(location.lat, location.lon)
            degrees = projection.to_degrees(merged)
            parts: dict[str, LatLon] = {}
            kec_set = set()
            for region in regions.kelurahan_crossed_by(degrees):
                inside = _lines(projection.to_metres(region.geometry).intersection(merged))
                if inside:
                    longest = max(inside, key=lambda ln: ln.length)
                    parts[region.name] = _latlon(projection, longest.interpolate(0.5, normalized=True))
                    kec_set.add(region.parent)
            target = Target(
                name=display,
                kind=STREET,
                category="jalan",
                location=location,
                kelurahan=kel,
                kecamatan=kec,
                rank=_RANK[STREET],
                metres=merged,
                kel_set=frozenset(parts) or frozenset({kel} - {""}),
                kec_set=frozenset(kec_set - {""}) or frozenset({kec} - {""}),
                parts=parts,
            )
            builder.add(target, names)
    return set(grouped) | {normalise(a) for s in street_rows for a in aliases.get(("street", s.pk), [])}


_STREET_IN_ADDRESS = re.compile(r"^\s*((?:jl|jln|jalan)\b.*)$", re.IGNORECASE)
_HOUSE_NUMBER_ON = re.compile(r"\b(?:no|nomor|rt|rw|kav)\b.*$", re.IGNORECASE)


def address_street(address: str) -> str:
    """The street an address names ("Jl. Soekarno - Hatta No.75, Mojolangu" -> "Jl. Soekarno - Hatta"), or ""."""
    for part in address.split(","):
        found = _STREET_IN_ADDRESS.match(part)
        if found:
            return re.sub(r"\s+", " ", _HOUSE_NUMBER_ON.sub("", found.group(1))).strip(" .-(")
    return ""


def _add_address_streets(builder: _Builder, known: set[str]) -> None:
    """Streets without line data, placed at the facilities whose addresses name them (one per 1 km group):
    where a city has no street file, "Jl. Soekarno Hatta" still finds the right neighbourhood."""
    projection = builder.index.projection
    on_street: dict[str, list[tuple[str, Facility]]] = defaultdict(list)
    for f in Facility.objects.exclude(address="").order_by("name"):
        street = address_street(f.address)
        key = normalise(street)
        if street and key not in known and name_is_distinctive(key):
            on_street[key].append((street, f))
    for found in on_street.values():
        points = [Point(projection.xy(f.lon, f.lat)) for _, f in found]
        groups = _clusters(points, _ADDRESS_GROUP_M)
        for group in groups:
            members = [found[points.index(p)] for p in group]
            middle = MultiPoint(group).centroid
            street, facility = min(
                members, key=lambda sf: Point(projection.xy(sf[1].lon, sf[1].lat)).distance(middle)
            )
            kel, kec = builder.place_point(facility.lat, facility.lon)
            target = Target(
                name=f"{street} (dekat {facility.name})",
                kind=STREET,
                category=ADDRESS,
                location=LatLon(facility.lat, facility.lon),
                kelurahan=kel,
                kecamatan=kec,
                rank=_RANK[STREET],
                metres=Point(projection.xy(facility.lon, facility.lat)),
                kel_set=frozenset({kel} - {""}),
                kec_set=frozenset({kec} - {""}),
            )
            builder.add(target, [street])


def gazetteer_index_build() -> GazetteerIndex:
    """Every findable name, its words and their weights, and the spatial trees for reverse lookups."""
    builder = _Builder(regions_index())
    aliases: dict[tuple[str, int], list[str]] = defaultdict(list)
    for alias in PlaceAlias.objects.all():
        if alias.facility_id:
            aliases[("facility", alias.facility_id)].append(alias.name)
        elif alias.region_id:
            aliases[("region", alias.region_id)].append(alias.name)
        elif alias.street_id:
            aliases[("street", alias.street_id)].append(alias.name)
    _add_facilities(builder, aliases)
    known = _add_streets(builder, aliases)
    _add_address_streets(builder, known)
    _add_regions(builder, aliases)
    return builder.finish()


_cache: VersionedCache[GazetteerIndex] = VersionedCache()


def gazetteer_index() -> GazetteerIndex:
    """The per-process index, rebuilt when regions, facilities, streets or aliases change."""
    version = (*data_version(Region, Facility, Street, PlaceAlias), settings.GEO["SERVICE_AREA_BUFFER_M"])
    return _cache.get(version, gazetteer_index_build)


# --- Search --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    name: str
    kind: str
    location: LatLon
    score: float
    kelurahan: str = ""
    kecamatan: str = ""
    category: str = ""
    matched: str = ""  # the name or alias that matched, normalised


@dataclass
class _Match:
    target: int
    name: int
    cover_name: float
    q_sims: dict[int, float]
    base: float = 0.0
    score: float = 0.0
    context: list[int] = field(default_factory=list)


class _Query:
    def __init__(self, index: GazetteerIndex, text: str) -> None:
        self.index = index
        self.words = text.split()[:_MAX_WORDS]
        self.units: list[tuple[str, frozenset[int]]] = [(w, frozenset({i})) for i, w in enumerate(self.words)]
        for i in range(len(self.words) - 1):
            if self.words[i].isalpha() and self.words[i + 1].isalpha():
                self.units.append((self.words[i] + self.words[i + 1], frozenset({i, i + 1})))
        self.hits: dict[int, list[tuple[int, float]]] = defaultdict(list)
        self._match_vocab()
        self.weights = [self._weight(i, w) for i, w in enumerate(self.words)]
        self.total = sum(self.weights) or 1.0

    def _match_vocab(self) -> None:
        index = self.index
        texts = [u for u, _ in self.units]
        if not index.vocab:
            return
        # Indel similarity, or edit similarity that counts a swap of neighbours as one slip ("gadnig").
        scores = np.maximum(
            process.cdist(texts, index.vocab, scorer=fuzz.ratio, score_cutoff=75, dtype=np.uint8, workers=1),
            process.cdist(texts, index.vocab, scorer=OSA.normalized_similarity, score_cutoff=0.75, workers=1)
            .__mul__(100)
            .astype(np.uint8),
        )
        best: dict[tuple[int, int], float] = {}
        for u, v in zip(*np.nonzero(scores), strict=True):
            sim = scores[u, v] / 100.0
            if sim >= _cutoff(texts[u], index.vocab[v]):
                best[(int(u), int(v))] = sim
        for u, text in enumerate(texts):  # as the call-taker types: "sawoj" -> Sawojajar
            if len(text) >= 4 and text.isalpha():
                start = bisect.bisect_left(index.sorted_vocab, (text, -1))
                for word, v in index.sorted_vocab[start : start + 50]:
                    if not word.startswith(text):
                        break
                    best[(u, v)] = max(best.get((u, v), 0.0), 0.9)
        for (u, v), sim in best.items():
            self.hits[v].append((u, sim))

    def _weight(self, position: int, word: str) -> float:
        fixed = _weight_of_form(word)
        if fixed is not None:
            return fixed
        weights = [
            self.index.vocab_weight[v]
            for v, hits in self.hits.items()
            if any(self.units[u][1] == {position} and sim >= 0.84 for u, sim in hits)
        ]
        return max(weights) if weights else 3.0

    def candidates(self) -> set[int]:
        specific = [v for v in self.hits if not self.index.vocab_generic[v]]
        found: set[int] = set()
        for v in specific or list(self.hits):
            found.update(self.index.postings.get(v, ()))
        return found

    def match(self, name_id: int) -> _Match:
        name = self.index.names[name_id]
        pairs = []
        for c, unit in enumerate(name.units):
            for u, sim in self.hits.get(unit.vocab_id, ()):
                pairs.append((sim, len(unit.positions) + len(self.units[u][1]), u, c))
        pairs.sort(reverse=True)
        used_q: set[int] = set()
        used_c: set[int] = set()
        covered = 0.0
        q_sims: dict[int, float] = {}
        for sim, _, u, c in pairs:
            q_positions = self.units[u][1]
            c_positions = name.units[c].positions
            if used_q & q_positions or used_c & c_positions:
                continue
            used_q |= q_positions
            used_c |= c_positions
            covered += sim * sum(name.weights[p] for p in c_positions)
            for p in q_positions:
                q_sims[p] = sim
        return _Match(name.target, name_id, covered / (name.total or 1.0), q_sims)

    def cover(self, q_sims: dict[int, float]) -> float:
        return sum(sim * self.weights[p] for p, sim in q_sims.items()) / self.total


def _consistent(index: GazetteerIndex, a: Target, b: Target) -> bool:
    """Whether two places named together can both be right: one inside the other, or next to each other."""
    for x, y in ((a, b), (b, a)):
        if y.kind == Region.Kind.KELURAHAN and y.name in x.kel_set and x is not y:
            return x.kind != Region.Kind.KELURAHAN
        if y.kind == Region.Kind.KECAMATAN and y.name in x.kec_set:
            return x.kind != Region.Kind.KECAMATAN
    if a.metres is None or b.metres is None:
        return False
    limit = _NEAR_POINT_M if a.kind in POINT_KINDS and b.kind in POINT_KINDS else _NEAR_STREET_M
    if a.kind == STREET and b.kind == STREET:
        limit = _JUNCTION_M
    return bool(a.metres.distance(b.metres) <= limit)


def _refine(index: GazetteerIndex, target: Target, context: list[Target]) -> tuple[LatLon, str, str]:
    """Where a street result points, given the other places named with it."""
    location, kel, kec = target.location, target.kelurahan, target.kecamatan
    if target.kind != STREET or target.metres is None:
        return location, kel, kec
    projection = index.projection
    for other in context:
        if other.kind == Region.Kind.KELURAHAN and other.name in target.parts:
            return target.parts[other.name], other.name, other.kecamatan
        if other.metres is not None:
            point = nearest_points(target.metres, other.metres)[0]
            location = _latlon(projection, point)
            placement = index.regions.locate(location)
            return location, placement.kelurahan, placement.kecamatan
        if other.kind == Region.Kind.KECAMATAN and kec != other.name:
            part = next((p for k, p in sorted(target.parts.items()) if k in other.kel_set), None)
            if part is not None:
                placement = index.regions.locate(part)
                return part, placement.kelurahan, placement.kecamatan
    return location, kel, kec


def _first_word(m: _Match) -> int:
    return min(m.q_sims, default=1_000)


def search(query: str, *, limit: int = 10) -> list[Place]:
    """Ranked places for a caller's words, best first, scores 0-100; offline and typo-tolerant."""
    index = gazetteer_index()
    text = normalise(query, known=index.known)
    if not text:
        return []
    q = _Query(index, text)
    matches = [q.match(name_id) for name_id in q.candidates()]
    for m in matches:
        m.base = 0.6 * m.cover_name + 0.4 * q.cover(m.q_sims)
    matches.sort(key=lambda m: m.base, reverse=True)
    matches = matches[:_SCORED]
    # Names found whole in the query; each can support the places it agrees with (inside, next to, crossing).
    mentions = [m for m in matches if m.cover_name >= _MENTIONED][:_MENTIONS]
    agree: dict[tuple[int, int], bool] = {}
    best: dict[int, _Match] = {}
    for m in matches:
        target = index.targets[m.target]
        q_sims = dict(m.q_sims)
        for other in mentions:
            if other.target == m.target or not q_sims.keys().isdisjoint(other.q_sims):
                continue
            pair = (min(m.target, other.target), max(m.target, other.target))
            if pair not in agree:
                agree[pair] = _consistent(index, target, index.targets[other.target])
            if agree[pair]:
                # A broader place named with a narrower one narrows it down; a narrower one named with a
                # broader one ("MOG" with "Kec. Klojen") supports the broader one only half.
                weight = 1.0 if index.targets[other.target].rank <= target.rank else _UPWARD_SUPPORT
                q_sims.update({p: sim * weight for p, sim in other.q_sims.items()})
                m.context.append(other.target)
        m.score = 100 * (0.6 * m.cover_name + 0.4 * q.cover(q_sims))
        if m.target not in best or (m.score, m.base) > (best[m.target].score, best[m.target].base):
            best[m.target] = m
    # Equal scores: the more specific kind, then what the caller said first, then the closer spelling.
    ranked = sorted(
        best.values(),
        key=lambda m: (round(m.score, 1), index.targets[m.target].rank, -_first_word(m), m.base),
        reverse=True,
    )
    places: list[Place] = []
    shown: set[tuple[str, str, str]] = set()
    for m in ranked:
        if m.score < _MIN_SCORE or len(places) >= limit:
            break
        target = index.targets[m.target]
        location, kel, kec = _refine(index, target, [index.targets[t] for t in m.context])
        key = (target.name, target.kind, kel)
        if key in shown:
            continue
        shown.add(key)
        places.append(
            Place(
                name=target.name,
                kind=target.kind,
                location=location,
                score=round(min(float(m.score), 100.0), 1),
                kelurahan=kel,
                kecamatan=kec,
                category=target.category,
                matched=index.names[m.name].text,
            )
        )
    return places


def geocode(address: str) -> LatLon | None:
    """The place for an address: a confident gazetteer match, else the remote geocoder (when configured),
    else a fair gazetteer match; None when nothing fits. Network calls happen only with a remote configured."""
    cfg = settings.GEO
    best = search(address, limit=1)
    score = best[0].score if best else 0.0
    if best and score >= cfg["GEOCODE_CONFIDENT_SCORE"]:
        return best[0].location
    if geocoders.remote_configured():
        found = geocoders.remote_geocode(address, bounds=regions_index().service_area_bounds)
        if found is not None:
            return found
    return best[0].location if best and score >= cfg["GEOCODE_MIN_SCORE"] else None


# --- Reverse -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Nearby:
    name: str
    kind: str
    distance_m: float
    location: LatLon


@dataclass(frozen=True)
class Reverse:
    placement: Placement
    nearest: Nearby | None  # the nearest named place of any kind
    nearest_landmark: Nearby | None  # facility or landmark
    nearest_street: Nearby | None


def _nearest(index: GazetteerIndex, tree: STRtree | None, ids: list[int], p: Point) -> Nearby | None:
    if tree is None:
        return None
    hits, distances = tree.query_nearest(p, max_distance=NEAREST_MAX_M, return_distance=True)
    if len(hits) == 0:
        return None
    i = min(range(len(hits)), key=lambda k: (distances[k], ids[hits[k]]))
    target = index.targets[ids[hits[i]]]
    assert target.metres is not None
    at = nearest_points(target.metres, p)[0]
    return Nearby(target.name, target.kind, round(float(distances[i]), 1), _latlon(index.projection, at))


def reverse(point: LatLon) -> Reverse:
    """Kelurahan, kecamatan, service area and the nearest landmark and street (within 5 km) of a point."""
    index = gazetteer_index()
    p = index.projection.point(point)
    landmark = _nearest(index, index.point_tree, index.point_ids, p)
    street = _nearest(index, index.street_tree, index.street_ids, p)
    nearest = min((n for n in (landmark, street) if n), key=lambda n: n.distance_m, default=None)
    return Reverse(index.regions.locate(point), nearest, landmark, street)
