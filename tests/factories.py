"""factory_boy factories for the domain; build what a test needs and nothing more."""

import factory
from django.utils import timezone

from accounts.models import Role, User
from calls.models import Call, Incident
from fleet.models import Station, Unit
from geo.models import Facility, Region

# Kota Malang, around the Alun-alun: realistic points for every test.
CENTRE = (-7.9826, 112.6308)
KM = 1 / 111.32  # degrees of latitude per kilometre


def square(km_north: float, half_km: float = 0.3) -> dict:
    """A GeoJSON square `km_north` of the centre, `half_km` from its middle to each side."""
    lat, lon, d = CENTRE[0] + km_north * KM, CENTRE[1], half_km * KM
    ring = [
        [lon - d, lat - d],
        [lon + d, lat - d],
        [lon + d, lat + d],
        [lon - d, lat + d],
        [lon - d, lat - d],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def kelurahan(name: str, km_north: float, *, kecamatan: str, population: int = 10_000) -> Region:
    """A kelurahan square `km_north` of the centre inside its kecamatan (made if new)."""
    parent, _ = Region.objects.get_or_create(
        kind=Region.Kind.KECAMATAN, name=kecamatan, defaults={"geometry": square(km_north, 1.0)}
    )
    return Region.objects.create(
        kind=Region.Kind.KELURAHAN, name=name, parent=parent, geometry=square(km_north), population=population
    )


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    role = Role.VIEWER
    password = factory.django.Password("pass-1234")


class StationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Station

    name = factory.Sequence(lambda n: f"Pos {n}")
    lat = CENTRE[0]
    lon = CENTRE[1]


class UnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Unit

    call_sign = factory.Sequence(lambda n: f"U-{n:02d}")
    kind = Unit.Kind.ALS
    owner = Unit.Owner.PSC
    station = factory.SubFactory(StationFactory)
    lat = factory.LazyAttribute(lambda u: u.station.lat if u.station else CENTRE[0])
    lon = factory.LazyAttribute(lambda u: u.station.lon if u.station else CENTRE[1])
    location_at = factory.LazyFunction(timezone.now)


class HospitalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Facility

    kind = Facility.Kind.HOSPITAL
    category = "RSU"
    name = factory.Sequence(lambda n: f"RS Contoh {n}")
    lat = -7.972567
    lon = 112.631546
    has_emergency_department = True


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Incident

    priority = 2
    complaint = "sesak napas"
    lat = CENTRE[0]
    lon = CENTRE[1]
    address = "Alun-alun Malang"
    received_at = factory.LazyFunction(timezone.now)
    number = factory.Sequence(lambda n: f"T-{n:05d}")


class CallFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Call

    incident = factory.SubFactory(IncidentFactory)
    caller_phone = "+6281234567890"
    complaint = factory.SelfAttribute("incident.complaint")
    priority = factory.SelfAttribute("incident.priority")
    lat = factory.SelfAttribute("incident.lat")
    lon = factory.SelfAttribute("incident.lon")
    received_at = factory.LazyFunction(timezone.now)


class AssignmentFactory(factory.django.DjangoModelFactory):
    """A bare assignment row with the timestamps a test gives it (services build real ones)."""

    class Meta:
        model = "dispatch.Assignment"

    incident = factory.SubFactory(IncidentFactory)
    unit = factory.SubFactory(UnitFactory)
    status = "assigned"
    assigned_at = factory.LazyFunction(timezone.now)
