"""The Malang demo: real posts and hospitals (facts from public sources), a fleet of PSC and partner units."""

from __future__ import annotations

from pathlib import Path

from django.db import transaction

from accounts.models import Role, User
from accounts.services import user_create
from fleet.models import Station, Unit
from geo.imports import facilities_import, regions_import
from geo.models import Facility, Region

# name, category, lat, lon, address
HOSPITALS = [
    ("RSUD Dr. Saiful Anwar (RSSA)", "RSU", -7.972567, 112.631546, "Jl. Jaksa Agung Suprapto No.2, Klojen"),
    ("RSUD Kota Malang", "RSU", -8.026348, 112.639397, "Jl. Rajasa No.27, Bumiayu, Kedungkandang"),
    ("RS Lavalette", "RSU", -7.965755, 112.637924, "Jl. W.R. Supratman No.10, Rampal Celaket"),
    ("RST Tk.II Dr. Soepraoen", "RSU", -7.989864, 112.620483, "Jl. S. Supriadi No.22, Sukun"),
    ("RS Panti Nirmala", "RSU", -7.994312, 112.634056, "Jl. Kebalen Wetan No.2-8, Kedungkandang"),
    ("RS Islam Unisma", "RSU", -7.940263, 112.608833, "Jl. M.T. Haryono No.139, Lowokwaru"),
    ("RS Universitas Brawijaya", "RSU", -7.941227, 112.621536, "Jl. Soekarno-Hatta, Lowokwaru"),
    ("Persada Hospital", "RSU", -7.934986, 112.650208, "Jl. Panji Suroso, Blimbing"),
    ("RSIA Husada Bunda", "RSIA", -7.968285, 112.622818, "Jl. Pahlawan Trip No.2, Klojen"),
]
# post name, facility kind, lat, lon
POSTS = [
    ("RSUD Kota Malang", "hospital", -8.026348, 112.639397),
    ("RSUD Dr. Saiful Anwar (RSSA)", "hospital", -7.972567, 112.631546),
    ("Puskesmas Kendalkerep", "puskesmas", -7.961204, 112.650879),
    ("Puskesmas Dinoyo", "puskesmas", -7.943266, 112.611298),
    ("Puskesmas Janti", "puskesmas", -8.000975, 112.620583),
    ("Puskesmas Arjowinangun", "puskesmas", -8.038589, 112.641838),
    ("Puskesmas Polowijen", "puskesmas", -7.932147, 112.650291),
    ("Puskesmas Mulyorejo", "puskesmas", -7.987866, 112.597694),
]
# call sign, kind, owner, post
UNITS = [
    ("PSC-01", "als", "psc", "RSUD Kota Malang"),
    ("PSC-02", "als", "psc", "RSUD Kota Malang"),
    ("PSC-03", "bls", "psc", "Puskesmas Kendalkerep"),
    ("PSC-04", "als", "psc", "Puskesmas Dinoyo"),
    ("PSC-05", "bls", "psc", "Puskesmas Janti"),
    ("RSSA-01", "als", "hospital", "RSUD Dr. Saiful Anwar (RSSA)"),
    ("RSSA-02", "bls", "hospital", "RSUD Dr. Saiful Anwar (RSSA)"),
    ("PKM-ARJ", "bls", "puskesmas", "Puskesmas Arjowinangun"),
    ("PKM-PLW", "bls", "puskesmas", "Puskesmas Polowijen"),
    ("PKM-MLY", "bls", "puskesmas", "Puskesmas Mulyorejo"),
    ("REL-01", "transport", "volunteer", "Puskesmas Kendalkerep"),
    ("REL-02", "bls", "volunteer", "Puskesmas Dinoyo"),
]
STAFF = [("dispatcher1", Role.DISPATCHER), ("calltaker1", Role.CALL_TAKER), ("supervisor1", Role.SUPERVISOR)]


def demo_import_data(data_dir: Path) -> dict[str, int]:
    """Import what a city folder holds, in the layout of shared/data/malang, then the Malang landmarks and
    aliases this repository ships (geo/data/); every step updates by name, so running it twice changes nothing."""
    from geo.imports import bundled_places_import, streets_import

    counts: dict[str, int] = {}
    plan = [
        ("kecamatan", "malang_kecamatan_big.geojson", lambda p: regions_import(path=p, kind=Region.Kind.KECAMATAN)),
        ("kelurahan", "malang_kelurahan_big2021.geojson", lambda p: regions_import(path=p, kind=Region.Kind.KELURAHAN)),
        ("service_area", "malang_kota_boundary_big.geojson",
         lambda p: regions_import(path=p, kind=Region.Kind.SERVICE_AREA, name="Kota Malang")),
        ("hospitals", "malang_hospitals.csv", lambda p: facilities_import(path=p, kind=Facility.Kind.HOSPITAL)),
        ("puskesmas", "malang_puskesmas.csv", lambda p: facilities_import(path=p, kind=Facility.Kind.PUSKESMAS)),
        ("streets", "klojen_named_roads_ciipii.geojson", lambda p: streets_import(path=p)["streets"]),
    ]  # fmt: skip
    for name, filename, load in plan:
        path = data_dir / filename
        if path.exists():
            counts[name] = load(path)
    if counts:
        counts.update(bundled_places_import(city="malang"))
    return counts


def demo_posts_load() -> dict[str, Station]:
    """The demo hospitals and posts, created where missing; the posts by name."""
    for name, category, lat, lon, address in HOSPITALS:
        Facility.objects.get_or_create(
            kind=Facility.Kind.HOSPITAL, name=name,
            defaults={"category": category, "lat": lat, "lon": lon, "address": address,
                      "has_emergency_department": True},
        )  # fmt: skip
    stations = {}
    for name, kind, lat, lon in POSTS:
        facility, _ = Facility.objects.get_or_create(kind=kind, name=name, defaults={"lat": lat, "lon": lon})
        stations[name], _ = Station.objects.get_or_create(
            name=name, defaults={"lat": lat, "lon": lon, "facility": facility}
        )
    return stations


@transaction.atomic
def demo_load(*, with_users: bool, password: str | None) -> dict[str, int]:
    """Create what is missing; what exists is left as it is, so running it twice changes nothing."""
    stations = demo_posts_load()
    for call_sign, kind, owner, post in UNITS:
        Unit.objects.get_or_create(
            call_sign=call_sign,
            defaults={"kind": kind, "owner": owner, "station": stations[post], "capacity": 1},
        )
    users = 0
    if with_users:
        if not password:
            raise ValueError("--users needs --password")
        wanted = [*STAFF, *[(f"crew-{cs.lower()}", Role.CREW) for cs, *_ in UNITS]]
        for username, role in wanted:
            if User.objects.filter(username=username).exists():
                continue
            unit_id = None
            if role == Role.CREW:
                unit_id = Unit.objects.get(call_sign__iexact=username.removeprefix("crew-")).pk
            user_create(username=username, role=role, password=password, unit_id=unit_id)
            users += 1
    return {"stations": Station.objects.count(), "units": Unit.objects.count(), "new_users": users}
